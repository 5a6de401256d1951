use super::*;

/// Bootstrap on an EMPTY database, through one or more handles on it (for PostgreSQL,
/// stores with their own pools, as nodes starting together): of 32 concurrent
/// attempts exactly one stores its org, admin and token, all three; the others store
/// nothing; and once an org exists, bootstrap stores nothing.
pub async fn bootstrap_once(stores: &[Arc<dyn MetaStore>]) {
    assert!(
        stores[0].list_orgs().await.unwrap().is_empty(),
        "bootstrap_once needs an empty database"
    );
    // Pools warmed up first, so that the attempts overlap instead of queueing behind
    // connection set-up.
    join_all(
        stores
            .iter()
            .flat_map(|s| (0..16).map(move |_| s.list_orgs())),
    )
    .await;
    let attempts: Vec<(Org, User, ApiToken)> = (0..32)
        .map(|_| {
            let (o, u) = (uniq(), uniq());
            (org(&o), user(&o, &u), token(&o, &u))
        })
        .collect();
    let won = join_all(attempts.iter().enumerate().map(|(i, (o, u, t))| {
        let s = stores[i % stores.len()].clone();
        async move { s.bootstrap(o, u, t).await.unwrap() }
    }))
    .await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let s = stores[0].as_ref();
    for ((o, u, t), won) in attempts.iter().zip(&won) {
        assert_eq!(s.get_org(&o.org_id).await.unwrap().is_some(), *won);
        assert_eq!(s.get_user(&u.uid).await.unwrap().is_some(), *won);
        assert_eq!(
            s.get_token_by_hash(&t.token_hash).await.unwrap().as_ref(),
            won.then_some(t)
        );
    }
    assert_eq!(s.list_orgs().await.unwrap().len(), 1);
    let (o, u) = (uniq(), uniq());
    assert!(
        !s.bootstrap(&org(&o), &user(&o, &u), &token(&o, &u))
            .await
            .unwrap()
    );
    assert_eq!(s.list_orgs().await.unwrap().len(), 1);
}

pub async fn orgs(s: &dyn MetaStore) {
    let id = uniq();
    let mut o = org(&id);
    assert_eq!(s.get_org(&id).await.unwrap(), None);
    s.create_org(&o).await.unwrap();
    assert_err!(s.create_org(&o).await, Error::AlreadyExists(_));
    assert_eq!(s.get_org(&id).await.unwrap(), Some(o.clone()));
    assert!(s.list_orgs().await.unwrap().contains(&o));

    o.name = "renamed".into();
    o.entitlements = vec!["BucketArchive".into()];
    s.update_org(&o).await.unwrap();
    assert_eq!(s.get_org(&id).await.unwrap(), Some(o));
    assert_err!(s.update_org(&org(&uniq())).await, Error::NotFound(_));
}

pub async fn users_and_tokens(s: &dyn MetaStore) {
    let o = uniq();
    s.create_org(&org(&o)).await.unwrap();
    let (u1, u2) = (user(&o, &uniq()), user(&o, &uniq()));
    s.create_user(&u1).await.unwrap();
    s.create_user(&u2).await.unwrap();
    assert_err!(s.create_user(&u1).await, Error::AlreadyExists(_));
    assert_eq!(s.get_user(&u1.uid).await.unwrap(), Some(u1.clone()));
    assert_eq!(s.get_user(&uniq()).await.unwrap(), None);
    let mut users = s.list_users(&o).await.unwrap();
    users.sort_by(|a, b| a.uid.cmp(&b.uid));
    let mut want = vec![u1.clone(), u2.clone()];
    want.sort_by(|a, b| a.uid.cmp(&b.uid));
    assert_eq!(users, want);
    assert!(s.list_users(&uniq()).await.unwrap().is_empty());

    let (t1, t2, t3) = (token(&o, &u1.uid), token(&o, &u1.uid), token(&o, &u2.uid));
    for t in [&t1, &t2, &t3] {
        s.create_token(t).await.unwrap();
    }
    assert_err!(s.create_token(&t1).await, Error::AlreadyExists(_));
    let same_hash = ApiToken {
        token_id: new_hex_id(),
        ..t2.clone()
    };
    assert_err!(s.create_token(&same_hash).await, Error::AlreadyExists(_));
    assert_eq!(
        s.get_token_by_hash(&t1.token_hash).await.unwrap(),
        Some(t1.clone())
    );
    assert_eq!(s.get_token_by_hash("nope").await.unwrap(), None);
    assert_eq!(s.list_tokens(&o).await.unwrap().len(), 3);

    s.delete_token(&t2.token_id).await.unwrap();
    assert_err!(s.delete_token(&t2.token_id).await, Error::NotFound(_));
    assert_eq!(s.get_token_by_hash(&t2.token_hash).await.unwrap(), None);

    // Keys of u1 (by uid and by principal), of u2, and a role key.
    let k1 = access_key(&o, &u1.principal(), Some(&u1.uid), &key_id());
    let k2 = access_key(&o, &u1.principal(), None, &key_id());
    let k3 = access_key(&o, &u2.principal(), Some(&u2.uid), &key_id());
    let k4 = access_key(&o, "role/ci", None, &key_id());
    for k in [&k1, &k2, &k3, &k4] {
        s.create_access_key(k, &Quotas::default()).await.unwrap();
    }

    s.delete_user(&u1.uid).await.unwrap();
    assert_eq!(s.get_user(&u1.uid).await.unwrap(), None);
    assert_err!(s.delete_user(&u1.uid).await, Error::NotFound(_));
    assert_eq!(s.get_token_by_hash(&t1.token_hash).await.unwrap(), None);
    assert_eq!(
        s.get_token_by_hash(&t3.token_hash).await.unwrap(),
        Some(t3.clone())
    );
    assert_eq!(s.list_tokens(&o).await.unwrap(), vec![t3]);
    let state = |id: String| async move { s.get_access_key(&id).await.unwrap().unwrap().state };
    assert_eq!(state(k1.access_key_id.clone()).await, KeyState::Deleted);
    assert_eq!(state(k2.access_key_id.clone()).await, KeyState::Deleted);
    assert_eq!(state(k3.access_key_id.clone()).await, KeyState::Active);
    assert_eq!(state(k4.access_key_id.clone()).await, KeyState::Active);
    assert_eq!(s.list_users(&o).await.unwrap(), vec![u2]);
}

pub async fn access_keys(s: &dyn MetaStore) {
    let o = uniq();
    s.create_org(&org(&o)).await.unwrap();
    // Ids in descending order, so creation order differs from id order. One random
    // 12-char prefix per run: the suite runs several times on one database.
    let run = uniq().to_uppercase();
    let ids: Vec<String> = (0..5).map(|i| format!("CWZ{run}{}", 9 - i)).collect();
    let keys: Vec<AccessKey> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let p = if i < 3 { "role/a" } else { "role/b" };
            access_key(&o, p, None, id)
        })
        .collect();
    for k in &keys {
        s.create_access_key(k, &Quotas::default()).await.unwrap();
    }
    assert_err!(
        s.create_access_key(&keys[0], &Quotas::default()).await,
        Error::AlreadyExists(_)
    );
    assert_eq!(
        s.list_access_keys(&o, &every_key()).await.unwrap(),
        keys,
        "creation order"
    );
    assert_eq!(
        s.get_access_key(&ids[2]).await.unwrap(),
        Some(keys[2].clone())
    );
    assert_eq!(s.get_access_key("CWNOTAKEY0000000").await.unwrap(), None);

    s.set_access_key_state(&ids[0], KeyState::Suspended)
        .await
        .unwrap();
    assert_eq!(
        s.get_access_key(&ids[0]).await.unwrap().unwrap().state,
        KeyState::Suspended
    );
    assert_err!(
        s.set_access_key_state("CWNOTAKEY0000000", KeyState::Active)
            .await,
        Error::NotFound(_)
    );
    s.set_access_key_state(&ids[1], KeyState::Deleted)
        .await
        .unwrap();

    // role/a: [Suspended, Deleted, Active]. Suspending changes only the active one.
    assert_eq!(
        s.set_principal_key_state(&o, "role/a", KeyState::Suspended)
            .await
            .unwrap(),
        1
    );
    // Re-activating changes both non-deleted keys; the deleted key stays deleted.
    assert_eq!(
        s.set_principal_key_state(&o, "role/a", KeyState::Active)
            .await
            .unwrap(),
        2
    );
    let states: Vec<KeyState> = s
        .list_access_keys(&o, &every_key())
        .await
        .unwrap()
        .iter()
        .map(|k| k.state)
        .collect();
    assert_eq!(
        states,
        [
            KeyState::Active,
            KeyState::Deleted,
            KeyState::Active,
            KeyState::Active,
            KeyState::Active
        ]
    );
    assert_eq!(
        s.set_principal_key_state(&uniq(), "role/a", KeyState::Deleted)
            .await
            .unwrap(),
        0,
        "other org untouched"
    );
    assert_eq!(
        s.set_principal_key_state(&o, "role/b", KeyState::Deleted)
            .await
            .unwrap(),
        2
    );
    // Everything else in the record survives a state change.
    let mut want = keys[3].clone();
    want.state = KeyState::Deleted;
    assert_eq!(s.get_access_key(&ids[3]).await.unwrap(), Some(want));
}

/// `list_access_keys` pages: the status filter at `now` (expiry decided to the
/// millisecond), then offset and limit, in creation order.
pub async fn key_listing_pages(s: &dyn MetaStore) {
    let o = uniq();
    s.create_org(&org(&o)).await.unwrap();
    let q = Quotas::default();
    let mut keys = Vec::new();
    for i in 0..12i64 {
        // Every third key expires at ts(1000 + i); the others are permanent.
        let expiry = (i % 3 == 0).then(|| ts(1000 + i));
        let k = timed_key(&o, "role/p", ts(i), expiry, KeySource::ApiToken);
        s.create_access_key(&k, &q).await.unwrap();
        keys.push(k);
    }
    s.set_access_key_state(&keys[1].access_key_id, KeyState::Suspended)
        .await
        .unwrap();
    s.set_access_key_state(&keys[2].access_key_id, KeyState::Deleted)
        .await
        .unwrap();
    // At ts(1006): keys 0, 3, 6 have expired (expiry <= now), 9 has not.
    let now = ts(1006);
    let org_id: &str = &o;
    let ids = move |status, offset, limit| async move {
        let page = KeyListing {
            status,
            now,
            offset,
            limit,
        };
        s.list_access_keys(org_id, &page)
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.access_key_id)
            .collect::<Vec<_>>()
    };
    let id = |i: usize| keys[i].access_key_id.clone();
    assert_eq!(ids(None, 0, 100).await, (0..12).map(id).collect::<Vec<_>>());
    assert_eq!(ids(None, 4, 3).await, (4..7).map(id).collect::<Vec<_>>());
    assert_eq!(ids(None, 11, 5).await, vec![id(11)]);
    assert!(ids(None, 12, 5).await.is_empty());
    assert!(ids(None, u64::MAX, u64::MAX).await.is_empty());
    let active: Vec<String> = [4, 5, 7, 8, 9, 10, 11].into_iter().map(id).collect();
    assert_eq!(ids(Some(KeyStatus::Active), 0, 100).await, active);
    assert_eq!(ids(Some(KeyStatus::Active), 2, 3).await, active[2..5]);
    assert_eq!(
        ids(Some(KeyStatus::Expired), 0, 100).await,
        vec![id(0), id(3), id(6)]
    );
    assert_eq!(
        ids(Some(KeyStatus::FullSuspended), 0, 100).await,
        vec![id(1)]
    );
    assert_eq!(ids(Some(KeyStatus::Deleted), 0, 100).await, vec![id(2)]);
    assert!(ids(Some(KeyStatus::Deleted), 1, 100).await.is_empty());
    // The filter agrees with `AccessKey::status` for every key.
    for status in [
        KeyStatus::Active,
        KeyStatus::Expired,
        KeyStatus::FullSuspended,
        KeyStatus::Deleted,
    ] {
        let page = KeyListing {
            status: Some(status),
            now,
            offset: 0,
            limit: 100,
        };
        for k in s.list_access_keys(&o, &page).await.unwrap() {
            assert_eq!(k.status(now), status, "{}", k.access_key_id);
        }
    }
    assert!(
        s.list_access_keys(&uniq(), &every_key())
            .await
            .unwrap()
            .is_empty(),
        "another org's page"
    );
}

/// Key quotas of `create_access_key`: revoked and expired keys do not count, a refused
/// creation stores nothing, and expired exchange keys are removed by the org's next
/// creation (expired API-token keys stay).
pub async fn key_quotas(s: &dyn MetaStore) {
    let o = uniq();
    s.create_org(&org(&o)).await.unwrap();
    let q = Quotas {
        keys_per_principal: 2,
        keys_per_org: 4,
        policies_per_org: 1,
    };
    let org_id: &str = &o;
    let count = move || async move {
        s.list_access_keys(org_id, &every_key())
            .await
            .unwrap()
            .len()
    };
    let new = |p: &str, created: i64, expiry: Option<i64>, source| {
        timed_key(&o, p, ts(created), expiry.map(ts), source)
    };
    let a1 = new("role/a", 0, None, KeySource::ApiToken);
    let a2 = new("role/a", 1, Some(100), KeySource::ApiToken);
    s.create_access_key(&a1, &q).await.unwrap();
    s.create_access_key(&a2, &q).await.unwrap();
    let a3 = new("role/a", 2, None, KeySource::ApiToken);
    match s.create_access_key(&a3, &q).await {
        Err(Error::ResourceExhausted(m)) => assert!(m.contains("max_keys_per_principal"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.get_access_key(&a3.access_key_id).await.unwrap(), None);
    assert_eq!(count().await, 2);
    // An expired key no longer counts (expiry <= creation time)...
    let a4 = new("role/a", 100, None, KeySource::ApiToken);
    s.create_access_key(&a4, &q).await.unwrap();
    // ... and a revoked or suspended one: revoked frees a place, suspended does not.
    s.set_access_key_state(&a1.access_key_id, KeyState::Suspended)
        .await
        .unwrap();
    let a5 = new("role/a", 101, None, KeySource::ApiToken);
    assert_err!(
        s.create_access_key(&a5, &q).await,
        Error::ResourceExhausted(_)
    );
    s.set_access_key_state(&a4.access_key_id, KeyState::Deleted)
        .await
        .unwrap();
    s.create_access_key(&a5, &q).await.unwrap();
    // role/a holds a1 (suspended) and a5; the org may hold two more keys.
    let b1 = new("role/b", 102, Some(200), KeySource::Oidc);
    let c1 = new("role/c", 103, Some(300), KeySource::Saml);
    s.create_access_key(&b1, &q).await.unwrap();
    s.create_access_key(&c1, &q).await.unwrap();
    let d1 = new("role/d", 104, None, KeySource::ApiToken);
    match s.create_access_key(&d1, &q).await {
        Err(Error::ResourceExhausted(m)) => assert!(m.contains("max_keys_per_org"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(count().await, 6, "a1..a5 but a3, b1, c1");
    // At ts(200) the OIDC key b1 has expired: the next creation removes it, while the
    // expired API-token key a2 stays listed.
    let d1 = new("role/d", 200, None, KeySource::ApiToken);
    s.create_access_key(&d1, &q).await.unwrap();
    assert_eq!(s.get_access_key(&b1.access_key_id).await.unwrap(), None);
    assert!(s.get_access_key(&a2.access_key_id).await.unwrap().is_some());
    assert!(s.get_access_key(&c1.access_key_id).await.unwrap().is_some());
    // A refused creation removes nothing, not even the exchange key c1 expired by then.
    let a6 = new("role/a", 300, None, KeySource::ApiToken);
    assert_err!(
        s.create_access_key(&a6, &q).await,
        Error::ResourceExhausted(_)
    );
    assert!(s.get_access_key(&c1.access_key_id).await.unwrap().is_some());
    // Other orgs are not affected.
    let other = uniq();
    s.create_org(&org(&other)).await.unwrap();
    let x = timed_key(&other, "role/a", ts(0), None, KeySource::ApiToken);
    s.create_access_key(&x, &q).await.unwrap();
}

/// Federation configs: create (unique ids), get/list/update/delete scoped by org and
/// kind (a config of another org or kind is absent), creation order, round-trip of
/// every field including an inline JWKS document.
pub async fn federation_configs(s: &dyn MetaStore) {
    let (o1, o2) = (uniq(), uniq());
    let saml = saml_config(&o1, &format!("s-{}", uniq()));
    let jwks = serde_json::json!({"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]});
    let oidc_a = oidc_config(&o1, &format!("a-{}", uniq()), JwksSource::Inline(jwks));
    let oidc_b = oidc_config(&o1, &format!("b-{}", uniq()), JwksSource::File("/x".into()));
    let other = oidc_config(&o2, &format!("c-{}", uniq()), JwksSource::File("/y".into()));
    // Ids sort opposite to creation order: listings must follow creation.
    for c in [&saml, &oidc_b, &oidc_a, &other] {
        s.create_federation_config(c).await.unwrap();
    }
    assert!(matches!(
        s.create_federation_config(&oidc_config(
            &o2,
            &saml.config_id,
            JwksSource::File("/z".into())
        ))
        .await,
        Err(Error::AlreadyExists(_))
    ));

    use FederationKind::{Oidc, Saml};
    assert_eq!(
        s.list_federation_configs(&o1, Saml).await.unwrap(),
        vec![saml.clone()]
    );
    assert_eq!(
        s.list_federation_configs(&o1, Oidc).await.unwrap(),
        vec![oidc_b.clone(), oidc_a.clone()]
    );
    assert_eq!(
        s.list_federation_configs(&o2, Oidc).await.unwrap(),
        vec![other.clone()]
    );
    assert!(
        s.list_federation_configs(&o2, Saml)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.get_federation_config(&o1, Oidc, &oidc_a.config_id)
            .await
            .unwrap(),
        Some(oidc_a.clone())
    );
    // Wrong org or wrong kind: absent.
    assert_eq!(
        s.get_federation_config(&o2, Oidc, &oidc_a.config_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.get_federation_config(&o1, Saml, &oidc_a.config_id)
            .await
            .unwrap(),
        None
    );

    let mut changed = oidc_a.clone();
    changed.active = true;
    changed.name = "renamed".into();
    changed.updated = ts(9);
    s.update_federation_config(&changed).await.unwrap();
    assert_eq!(
        s.get_federation_config(&o1, Oidc, &oidc_a.config_id)
            .await
            .unwrap(),
        Some(changed.clone())
    );
    // Creation order is kept across updates.
    assert_eq!(
        s.list_federation_configs(&o1, Oidc).await.unwrap(),
        vec![oidc_b.clone(), changed.clone()]
    );
    let mut foreign = changed.clone();
    foreign.org_id = o2.clone();
    assert!(matches!(
        s.update_federation_config(&foreign).await,
        Err(Error::NotFound(_))
    ));
    let missing = oidc_config(&o1, &format!("m-{}", uniq()), JwksSource::File("/m".into()));
    assert!(matches!(
        s.update_federation_config(&missing).await,
        Err(Error::NotFound(_))
    ));

    for (org, kind) in [(&o2, Oidc), (&o1, Saml)] {
        assert!(matches!(
            s.delete_federation_config(org, kind, &oidc_a.config_id)
                .await,
            Err(Error::NotFound(_))
        ));
    }
    s.delete_federation_config(&o1, Oidc, &oidc_a.config_id)
        .await
        .unwrap();
    assert!(matches!(
        s.delete_federation_config(&o1, Oidc, &oidc_a.config_id)
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        s.list_federation_configs(&o1, Oidc).await.unwrap(),
        vec![oidc_b.clone()]
    );
    // A deleted id can be used again.
    s.create_federation_config(&oidc_a).await.unwrap();
    assert_eq!(
        s.list_federation_configs(&o1, Oidc).await.unwrap(),
        vec![oidc_b, oidc_a]
    );
}

/// Assertion ids: insert-if-absent per org, replays refused until expiry, expired
/// entries forgotten, and exactly one winner among concurrent first uses.
pub async fn assertion_ids(store: Arc<dyn MetaStore>) {
    let s = store.as_ref();
    let (o1, o2) = (uniq(), uniq());
    let id = format!("_{}", uniq());
    let (t0, exp) = (ts(1_000), ts(301_000));
    assert!(s.record_assertion_id(&o1, &id, exp, t0).await.unwrap());
    assert!(!s.record_assertion_id(&o1, &id, exp, t0).await.unwrap());
    assert!(
        !s.record_assertion_id(&o1, &id, exp, ts(300_999))
            .await
            .unwrap()
    );
    // Per org.
    assert!(s.record_assertion_id(&o2, &id, exp, t0).await.unwrap());
    // Once expired, the id is forgotten.
    assert!(
        s.record_assertion_id(&o1, &id, ts(601_000), exp)
            .await
            .unwrap()
    );
    assert!(
        !s.record_assertion_id(&o1, &id, ts(601_000), exp)
            .await
            .unwrap()
    );

    let race = format!("_{}", uniq());
    let racers = (0..16).map(|_| {
        let (st, o, r) = (store.clone(), o1.clone(), race.clone());
        async move { st.record_assertion_id(&o, &r, exp, t0).await.unwrap() }
    });
    let wins = join_all(racers).await.into_iter().filter(|w| *w).count();
    assert_eq!(wins, 1);
}

/// Compute-node caches: unique id, name and credential hash; found by hash; listed by
/// name; deleted once.
pub async fn cache_nodes(s: &dyn MetaStore) {
    let node = |name: &str| CacheNode {
        v: 1,
        node_id: new_hex_id(),
        name: name.to_string(),
        credential_hash: new_hex_id(),
        created: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000),
    };
    let (na, nb) = (format!("b-{}", uniq()), format!("a-{}", uniq()));
    let (a, b) = (node(&na), node(&nb));
    s.create_cache_node(&a).await.unwrap();
    s.create_cache_node(&b).await.unwrap();
    assert_err!(s.create_cache_node(&a).await, Error::AlreadyExists(_));
    let same_name = CacheNode {
        name: na.clone(),
        ..node("x")
    };
    assert_err!(
        s.create_cache_node(&same_name).await,
        Error::AlreadyExists(_)
    );
    let same_hash = CacheNode {
        credential_hash: a.credential_hash.clone(),
        ..node(&format!("c-{}", uniq()))
    };
    assert_err!(
        s.create_cache_node(&same_hash).await,
        Error::AlreadyExists(_)
    );
    assert_eq!(
        s.get_cache_node_by_hash(&a.credential_hash).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(s.get_cache_node_by_hash("nope").await.unwrap(), None);
    let ours: Vec<CacheNode> = s
        .list_cache_nodes()
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.name == na || n.name == nb)
        .collect();
    assert_eq!(ours, vec![b.clone(), a.clone()]);
    s.delete_cache_node(&a.node_id).await.unwrap();
    assert_err!(s.delete_cache_node(&a.node_id).await, Error::NotFound(_));
    assert_eq!(
        s.get_cache_node_by_hash(&a.credential_hash).await.unwrap(),
        None
    );
    assert_eq!(
        s.get_cache_node_by_hash(&b.credential_hash).await.unwrap(),
        Some(b)
    );
}
