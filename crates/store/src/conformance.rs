//! The `MetaStore` conformance suite: one set of checks every backend must pass (memory,
//! SQLite, later PostgreSQL). Call `run_all` from a backend's tests.
//!
//! Backend-agnostic by construction: it uses only the trait, names every org, bucket, key
//! and id it creates with a fresh random suffix (so it can run against a shared,
//! non-empty database, also several times concurrently), and asserts only documented
//! behaviour — for whole-store listings (`list_orgs`, `list_all_policies`,
//! `referenced_blobs`) it checks containment, never equality.

use coffer_core::Error;
use coffer_core::ids::new_hex_id;
use coffer_core::meta::{BucketEdit, KeyListing, MetaStore};
use coffer_core::model::*;
use coffer_core::quota::Quotas;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// Runs every check against `store`. Panics on the first failure.
pub async fn run_all(store: Arc<dyn MetaStore>) {
    let s = store.as_ref();
    orgs(s).await;
    users_and_tokens(s).await;
    access_keys(s).await;
    key_listing_pages(s).await;
    key_quotas(s).await;
    policies_and_settings(s).await;
    policy_quota(s).await;
    buckets(s).await;
    subresources_and_object_tags(s).await;
    objects_and_conditions(s).await;
    capacity_caps(s).await;
    listings(s).await;
    multipart(s).await;
    upload_listings(s).await;
    referenced_blobs(s).await;
    versioning(s).await;
    version_listings(s).await;
    rename(s).await;
    federation_configs(s).await;
    assertion_ids(store.clone()).await;
    concurrency(store.clone()).await;
    quota_concurrency(store.clone()).await;
}

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

// ---------------------------------------------------------------------------------------
// builders

fn uniq() -> String {
    new_hex_id()[..12].to_string()
}

/// A timestamp with millisecond precision (what every backend can store exactly).
fn ts(offset_ms: i64) -> OffsetDateTime {
    let ms = 1_750_000_000_000i64 + offset_ms;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn org(id: &str) -> Org {
    Org {
        org_id: id.to_string(),
        name: format!("org {id}"),
        created: ts(0),
        entitlements: vec![],
    }
}

fn user(org_id: &str, uid: &str) -> User {
    User {
        uid: uid.to_string(),
        org_id: org_id.to_string(),
        name: format!("user {uid}"),
        role: Role::Member,
        created: ts(1),
    }
}

fn token(org_id: &str, uid: &str) -> ApiToken {
    ApiToken {
        token_id: new_hex_id(),
        token_hash: format!("{}{}", new_hex_id(), new_hex_id()),
        uid: uid.to_string(),
        org_id: org_id.to_string(),
        description: "conformance".into(),
        expiry: Some(ts(86_400_000)),
        created: ts(2),
    }
}

fn access_key(org_id: &str, principal: &str, uid: Option<&str>, id: &str) -> AccessKey {
    AccessKey {
        access_key_id: id.to_string(),
        org_id: org_id.to_string(),
        principal: principal.to_string(),
        uid: uid.map(str::to_string),
        secret_enc: vec![1, 2, 3, 0, 255],
        attributes: BTreeMap::from([("team".to_string(), "x".to_string())]),
        expiry: None,
        state: KeyState::Active,
        source: KeySource::ApiToken,
        session_token_hash: None,
        created: ts(3),
    }
}

fn saml_config(org_id: &str, id: &str) -> FederationConfig {
    FederationConfig {
        v: RECORD_VERSION,
        config_id: id.to_string(),
        org_id: org_id.to_string(),
        name: "okta".into(),
        active: true,
        settings: FederationSettings::Saml {
            idp_entity_id: "https://idp.example/entity".into(),
            signing_certificates: vec![
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
            ],
            audience: "https://coffer.example/sp".into(),
            acs_url: None,
        },
        created: ts(6),
        updated: ts(6),
    }
}

fn oidc_config(org_id: &str, id: &str, jwks: JwksSource) -> FederationConfig {
    FederationConfig {
        v: RECORD_VERSION,
        config_id: id.to_string(),
        org_id: org_id.to_string(),
        name: "github".into(),
        active: false,
        settings: FederationSettings::Oidc {
            issuer_url: "https://token.actions.githubusercontent.com".into(),
            audience: "coffer".into(),
            jwks,
        },
        created: ts(7),
        updated: ts(8),
    }
}

fn bucket(org_id: &str, name: &str) -> Bucket {
    Bucket {
        name: name.to_string(),
        org_id: org_id.to_string(),
        zone: "US-EAST-04A".into(),
        created: ts(4),
        settings: BucketSettings::default(),
        policy: None,
        versioning: VersioningState::Unversioned,
        lifecycle: None,
        subresources: Default::default(),
    }
}

/// A fresh org with one empty bucket; returns (org_id, bucket name).
/// A new org with a new bucket: `(org id, bucket name)`.
pub async fn fresh_bucket(s: &dyn MetaStore) -> (String, String) {
    let o = uniq();
    let b = format!("b-{}", uniq());
    s.create_org(&org(&o)).await.unwrap();
    s.create_bucket(&bucket(&o, &b)).await.unwrap();
    (o, b)
}

fn etag_of(data: &[u8]) -> String {
    // Any quoted string works as an ETag for the store; make it depend on the bytes.
    let sum: u64 = data
        .iter()
        .enumerate()
        .map(|(i, b)| (i as u64 + 1) * u64::from(*b))
        .sum();
    format!("\"{:032x}\"", u128::from(sum) * 7919 + data.len() as u128)
}

/// An unversioned object record with inline `data`.
pub fn inline_obj(b: &str, key: &str, data: &[u8]) -> ObjectRecord {
    ObjectRecord {
        inline_crc32c: None,
        v: RECORD_VERSION,
        bucket: b.to_string(),
        key: key.to_string(),
        size: data.len() as u64,
        etag: etag_of(data),
        last_modified: ts(5),
        headers: ObjectHeaders {
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
        user_metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
        checksums: Checksums {
            crc32: Some("AAAAAA==".into()),
            ..Default::default()
        },
        parts: vec![],
        tags: BTreeMap::from([("t".to_string(), "1".to_string())]),
        data: ObjectData::Inline(data.to_vec()),
        version_id: None,
    }
}

fn segment_obj(b: &str, key: &str, sizes: &[u64]) -> ObjectRecord {
    let segs: Vec<Segment> = sizes
        .iter()
        .map(|s| Segment {
            blob_id: new_hex_id(),
            size: *s,
        })
        .collect();
    let size = sizes.iter().sum();
    ObjectRecord {
        inline_crc32c: None,
        size,
        etag: format!("\"{}-{}\"", new_hex_id(), sizes.len()),
        data: ObjectData::Segments(segs),
        ..inline_obj(b, key, b"")
    }
}

fn upload(b: &str, key: &str, initiated: OffsetDateTime) -> MultipartUpload {
    MultipartUpload {
        v: RECORD_VERSION,
        upload_id: new_hex_id(),
        bucket: b.to_string(),
        key: key.to_string(),
        initiated,
        initiator: "coreweave/someone".into(),
        headers: ObjectHeaders::default(),
        user_metadata: BTreeMap::new(),
        tags: BTreeMap::new(),
        checksum_algorithm: Some("CRC32".into()),
        checksum_type: None,
    }
}

fn part(upload_id: &str, n: u32, size: u64) -> PartRecord {
    PartRecord {
        upload_id: upload_id.to_string(),
        part_number: n,
        size,
        etag: format!("\"{}\"", new_hex_id()),
        last_modified: ts(6),
        checksums: Checksums::default(),
        blob_id: new_hex_id(),
    }
}

fn usage(bytes: u64, objects: u64) -> Usage {
    Usage { bytes, objects }
}

macro_rules! assert_err {
    ($e:expr, $pat:pat) => {
        match $e {
            Err($pat) => {}
            other => panic!(
                "{}: expected {}, got {:?}",
                stringify!($e),
                stringify!($pat),
                other
            ),
        }
    };
}

// ---------------------------------------------------------------------------------------
// checks

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

fn key_id() -> String {
    format!("CW{}", &new_hex_id()[..14]).to_uppercase()
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

/// Every key of an org, for checks that are not about paging.
fn every_key() -> KeyListing {
    KeyListing {
        status: None,
        now: ts(0),
        offset: 0,
        limit: u64::MAX,
    }
}

/// A key of `principal` created at `created`, expiring at `expiry`, from `source`.
fn timed_key(
    org_id: &str,
    principal: &str,
    created: OffsetDateTime,
    expiry: Option<OffsetDateTime>,
    source: KeySource,
) -> AccessKey {
    AccessKey {
        created,
        expiry,
        source,
        ..access_key(org_id, principal, None, &key_id())
    }
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

/// The policy quota of `put_policy`: a new name at the quota is refused and stores
/// nothing; replacing an existing policy is always allowed.
pub async fn policy_quota(s: &dyn MetaStore) {
    let o = uniq();
    s.create_org(&org(&o)).await.unwrap();
    let q = Quotas {
        policies_per_org: 2,
        ..Quotas::default()
    };
    let pol = |name: &str, doc: &str| StoredPolicy {
        org_id: o.clone(),
        name: name.to_string(),
        document: doc.to_string(),
        updated: ts(7),
    };
    s.put_policy(&pol("a", "{}"), &q).await.unwrap();
    s.put_policy(&pol("b", "{}"), &q).await.unwrap();
    match s.put_policy(&pol("c", "{}"), &q).await {
        Err(Error::ResourceExhausted(m)) => assert!(m.contains("max_policies_per_org"), "{m}"),
        other => panic!("{other:?}"),
    }
    s.put_policy(&pol("b", "{\"v\":2}"), &q).await.unwrap();
    let names: Vec<String> = s
        .list_policies(&o)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"a".to_string()) && names.contains(&"b".to_string()));
    s.delete_policy(&o, "a").await.unwrap();
    s.put_policy(&pol("c", "{}"), &q).await.unwrap();
}

pub async fn policies_and_settings(s: &dyn MetaStore) {
    let o = uniq();
    let pol = |name: &str, doc: &str| StoredPolicy {
        org_id: o.clone(),
        name: name.to_string(),
        document: doc.to_string(),
        updated: ts(7),
    };
    let (a, b) = (pol("alpha", "{\"v\":1}"), pol("beta", "{\"v\":2}"));
    let q = Quotas::default();
    s.put_policy(&b, &q).await.unwrap();
    s.put_policy(&a, &q).await.unwrap();
    let a2 = pol("alpha", "{\"v\":3}");
    s.put_policy(&a2, &q).await.unwrap();
    let mut got = s.list_policies(&o).await.unwrap();
    got.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(got, vec![a2.clone(), b.clone()]);
    let all = s.list_all_policies().await.unwrap();
    assert!(all.contains(&a2) && all.contains(&b) && !all.contains(&a));
    s.delete_policy(&o, "alpha").await.unwrap();
    assert_err!(s.delete_policy(&o, "alpha").await, Error::NotFound(_));
    assert_eq!(s.list_policies(&o).await.unwrap(), vec![b]);
    assert!(s.list_policies(&uniq()).await.unwrap().is_empty());

    assert_eq!(
        s.get_org_settings(&o).await.unwrap(),
        OrgSettings::default()
    );
    let st = OrgSettings {
        control_plane_audit_logging: true,
        bucket_audit_logging_default: true,
    };
    s.put_org_settings(&o, &st).await.unwrap();
    assert_eq!(s.get_org_settings(&o).await.unwrap(), st);
    let st2 = OrgSettings {
        control_plane_audit_logging: false,
        ..st
    };
    s.put_org_settings(&o, &st2).await.unwrap();
    assert_eq!(s.get_org_settings(&o).await.unwrap(), st2);
}

pub async fn buckets(s: &dyn MetaStore) {
    let (o, other) = (uniq(), uniq());
    s.create_org(&org(&o)).await.unwrap();
    let tag = uniq();
    let names = [format!("c-{tag}"), format!("a-{tag}"), format!("b-{tag}")];
    for n in &names {
        s.create_bucket(&bucket(&o, n)).await.unwrap();
    }
    assert_err!(
        s.create_bucket(&bucket(&o, &names[0])).await,
        Error::BucketAlreadyExists
    );
    assert_err!(
        s.create_bucket(&bucket(&other, &names[0])).await,
        Error::BucketAlreadyExists
    );
    let listed: Vec<String> = s
        .list_buckets(&o)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    let mut sorted = names.to_vec();
    sorted.sort();
    assert_eq!(listed, sorted, "ordered by name");
    assert!(s.list_buckets(&other).await.unwrap().is_empty());
    assert_eq!(s.get_bucket(&uniq()).await.unwrap(), None);

    // edit_bucket changes the configuration only: an edit of the identity (here the
    // org, zone and creation time) is not taken.
    let settings = BucketSettings {
        audit_logging: Some(true),
        capacity_cap_bytes: Some(1234),
    };
    let (set, other_org) = (settings.clone(), other.clone());
    let got = s
        .edit_bucket(
            &names[0],
            Box::new(move |b| {
                b.org_id = other_org;
                b.zone = "ELSEWHERE".into();
                b.created = ts(99);
                b.versioning = VersioningState::Enabled;
                b.settings = set;
                b.policy = Some("{\"Version\":\"2012-10-17\"}".into());
                Ok(())
            }),
        )
        .await
        .unwrap();
    let mut want = bucket(&o, &names[0]);
    want.settings = settings;
    want.policy = Some("{\"Version\":\"2012-10-17\"}".into());
    assert_eq!(got, want);
    assert_eq!(s.get_bucket(&names[0]).await.unwrap().unwrap(), want);
    assert_err!(
        s.edit_bucket(&format!("x-{}", uniq()), Box::new(|_| Ok(())))
            .await,
        Error::NoSuchBucket
    );

    assert_eq!(s.bucket_usage(&names[1]).await.unwrap(), usage(0, 0));
    assert_err!(s.bucket_usage(&uniq()).await, Error::NoSuchBucket);

    s.delete_bucket(&names[1]).await.unwrap();
    assert_eq!(s.get_bucket(&names[1]).await.unwrap(), None);
    assert_err!(s.delete_bucket(&names[1]).await, Error::NoSuchBucket);
    // The name is free again.
    s.create_bucket(&bucket(&other, &names[1])).await.unwrap();

    // Not empty: an object, then (after it is gone) an in-progress upload.
    s.put_object(
        &inline_obj(&names[2], "k", b"x"),
        &WriteCondition::None,
        None,
    )
    .await
    .unwrap();
    assert_err!(s.delete_bucket(&names[2]).await, Error::BucketNotEmpty);
    s.delete_object(&names[2], "k").await.unwrap();
    let u = upload(&names[2], "k", ts(0));
    s.create_upload(&u).await.unwrap();
    assert_err!(s.delete_bucket(&names[2]).await, Error::BucketNotEmpty);
    s.abort_upload(&u.upload_id).await.unwrap();
    s.delete_bucket(&names[2]).await.unwrap();
}

/// `edit_bucket` as its callers use it: a store may refuse an edit that raced another
/// with `Unavailable` (S3 503 SlowDown), and the client retries.
async fn edit_retrying(
    s: &dyn MetaStore,
    bucket: &str,
    make: fn() -> BucketEdit,
) -> coffer_core::Result<Bucket> {
    for _ in 0..1000 {
        match s.edit_bucket(bucket, make()).await {
            Err(Error::Unavailable(_)) => tokio::task::yield_now().await,
            r => return r,
        }
    }
    panic!("edit_bucket of {bucket} refused 1000 times in a row")
}

/// Bucket subresources are edited atomically, and edits of other parts keep them;
/// concurrent edits of different parts never lose each other; object tags change
/// without touching anything else of the record.
pub async fn subresources_and_object_tags(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    assert_err!(
        s.edit_bucket(&uniq(), Box::new(|_| Ok(()))).await,
        Error::NoSuchBucket
    );
    let tags: BTreeMap<String, String> = [("team".to_string(), "blue".to_string())].into();
    let t = tags.clone();
    let updated = s
        .edit_bucket(
            &b,
            Box::new(move |b| {
                b.subresources.tags = Some(t);
                Ok(())
            }),
        )
        .await
        .unwrap();
    assert_eq!(updated.subresources.tags.as_ref(), Some(&tags));
    // A failing edit changes nothing.
    assert_err!(
        s.edit_bucket(
            &b,
            Box::new(|b| {
                b.subresources.tags = None;
                b.policy = Some("{}".into());
                Err(Error::invalid("refused"))
            }),
        )
        .await,
        Error::InvalidArgument(_)
    );
    assert_eq!(s.get_bucket(&b).await.unwrap().unwrap(), updated);
    let rule = CorsRule {
        allowed_origins: vec!["https://a.example".into()],
        allowed_methods: vec!["GET".into()],
        ..Default::default()
    };
    let r = rule.clone();
    s.edit_bucket(
        &b,
        Box::new(move |b| {
            b.subresources.cors = Some(vec![r]);
            Ok(())
        }),
    )
    .await
    .unwrap();
    // An edit of the policy keeps the subresources.
    s.edit_bucket(
        &b,
        Box::new(|b| {
            b.policy = Some("{}".into());
            Ok(())
        }),
    )
    .await
    .unwrap();
    let stored = s.get_bucket(&b).await.unwrap().unwrap();
    assert_eq!(stored.subresources.tags, Some(tags.clone()));
    assert_eq!(stored.subresources.cors, Some(vec![rule]));
    assert_eq!(stored.policy.as_deref(), Some("{}"));

    // Concurrent edits, each of its own part, all land (a whole-record write would keep
    // only the last one's view).
    let edits: [fn() -> BucketEdit; 5] = [
        || -> BucketEdit {
            Box::new(|b| {
                b.policy = Some("{\"Version\":\"2012-10-17\"}".into());
                Ok(())
            })
        },
        || -> BucketEdit {
            Box::new(|b| {
                b.settings.audit_logging = Some(true);
                Ok(())
            })
        },
        || -> BucketEdit {
            Box::new(|b| {
                b.settings.capacity_cap_bytes = Some(77);
                Ok(())
            })
        },
        || -> BucketEdit {
            Box::new(|b| {
                b.subresources.tags = None;
                Ok(())
            })
        },
        || -> BucketEdit {
            Box::new(|b| {
                b.subresources.cors = None;
                Ok(())
            })
        },
    ];
    for r in join_all(edits.into_iter().map(|e| edit_retrying(s, &b, e))).await {
        r.unwrap();
    }
    let stored = s.get_bucket(&b).await.unwrap().unwrap();
    assert_eq!(
        stored.policy.as_deref(),
        Some("{\"Version\":\"2012-10-17\"}")
    );
    assert_eq!(
        stored.settings,
        BucketSettings {
            audit_logging: Some(true),
            capacity_cap_bytes: Some(77),
        }
    );
    assert_eq!(stored.subresources, BucketSubresources::default());

    assert_err!(
        s.set_object_tags(&uniq(), "k", &tags).await,
        Error::NoSuchBucket
    );
    assert_err!(s.set_object_tags(&b, "k", &tags).await, Error::NoSuchKey);
    let o = inline_obj(&b, "k", b"tagged bytes");
    s.put_object(&o, &WriteCondition::None, None).await.unwrap();
    let usage = s.bucket_usage(&b).await.unwrap();
    s.set_object_tags(&b, "k", &tags).await.unwrap();
    let got = s.get_object(&b, "k").await.unwrap().unwrap();
    assert_eq!(got.tags, tags);
    assert_eq!(
        ObjectRecord {
            inline_crc32c: None,
            tags: o.tags.clone(),
            ..got
        },
        o
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage);
    s.set_object_tags(&b, "k", &BTreeMap::new()).await.unwrap();
    assert!(
        s.get_object(&b, "k")
            .await
            .unwrap()
            .unwrap()
            .tags
            .is_empty()
    );
}

pub async fn objects_and_conditions(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    let none = WriteCondition::None;

    assert_err!(
        s.put_object(&inline_obj(&uniq(), "k", b"x"), &none, None)
            .await,
        Error::NoSuchBucket
    );
    assert_eq!(s.get_object(&b, "k").await.unwrap(), None);
    assert_eq!(s.get_object(&uniq(), "k").await.unwrap(), None);

    // Inline bytes round-trip exactly, including NULs, high bytes and the empty object.
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 256) as u8).collect();
    let o1 = inline_obj(&b, "dir/obj", &data);
    let r = s.put_object(&o1, &none, None).await.unwrap();
    assert!(r.previous.is_none());
    assert_eq!(s.get_object(&b, "dir/obj").await.unwrap(), Some(o1.clone()));
    let empty = inline_obj(&b, "empty", b"");
    s.put_object(&empty, &none, None).await.unwrap();
    assert_eq!(
        s.get_object(&b, "empty").await.unwrap(),
        Some(empty.clone())
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(5000, 2));

    // Segmented objects round-trip too.
    let seg = segment_obj(&b, "big", &[5 << 20, 5 << 20, 123]);
    s.put_object(&seg, &none, None).await.unwrap();
    assert_eq!(s.get_object(&b, "big").await.unwrap(), Some(seg.clone()));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(5000 + seg.size, 3));

    // Overwrite returns the previous record (with its data) and adjusts usage.
    let o2 = inline_obj(&b, "dir/obj", b"short");
    let r = s.put_object(&o2, &none, None).await.unwrap();
    assert_eq!(r.previous, Some(o1.clone()));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(5 + seg.size, 3));
    let r = s
        .put_object(&inline_obj(&b, "big", b"abc"), &none, None)
        .await
        .unwrap();
    assert_eq!(r.previous, Some(seg.clone()));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(8, 3));

    // If-None-Match: * — refused when the key exists; nothing changes.
    let o3 = inline_obj(&b, "dir/obj", b"third");
    assert_err!(
        s.put_object(&o3, &WriteCondition::IfNoneMatch, None).await,
        Error::PreconditionFailed
    );
    assert_eq!(s.get_object(&b, "dir/obj").await.unwrap(), Some(o2.clone()));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(8, 3));
    let fresh = inline_obj(&b, "fresh", b"new");
    assert!(
        s.put_object(&fresh, &WriteCondition::IfNoneMatch, None)
            .await
            .unwrap()
            .previous
            .is_none()
    );

    // If-Match: the current quoted ETag, given quoted or bare.
    assert_err!(
        s.put_object(
            &o3,
            &WriteCondition::IfMatch("\"0123456789abcdef0123456789abcdef\"".into()),
            None
        )
        .await,
        Error::PreconditionFailed
    );
    assert_err!(
        s.put_object(
            &inline_obj(&b, "absent", b"x"),
            &WriteCondition::IfMatch(o2.etag.clone()),
            None
        )
        .await,
        Error::PreconditionFailed
    );
    assert_eq!(s.get_object(&b, "absent").await.unwrap(), None);
    let r = s
        .put_object(&o3, &WriteCondition::IfMatch(o2.etag.clone()), None)
        .await
        .unwrap();
    assert_eq!(r.previous, Some(o2));
    let bare = o3.etag.trim_matches('"').to_string();
    let o4 = inline_obj(&b, "dir/obj", b"fourth");
    s.put_object(&o4, &WriteCondition::IfMatch(bare), None)
        .await
        .unwrap();
    assert_eq!(s.get_object(&b, "dir/obj").await.unwrap(), Some(o4.clone()));

    // Deletion returns the previous record; absent keys are not an error.
    let r = s.delete_object(&b, "dir/obj").await.unwrap();
    assert_eq!(r.previous, Some(o4));
    assert!(
        s.delete_object(&b, "dir/obj")
            .await
            .unwrap()
            .previous
            .is_none()
    );
    assert!(
        s.delete_object(&uniq(), "x")
            .await
            .unwrap()
            .previous
            .is_none()
    );
    assert_eq!(s.get_object(&b, "dir/obj").await.unwrap(), None);
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(6, 3));
}

pub async fn capacity_caps(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    let none = WriteCondition::None;
    let cap = Some(100);
    s.put_object(&inline_obj(&b, "a", &[1; 60]), &none, cap)
        .await
        .unwrap();
    assert_err!(
        s.put_object(&inline_obj(&b, "b", &[2; 41]), &none, cap)
            .await,
        Error::QuotaExceeded(_)
    );
    assert_eq!(s.get_object(&b, "b").await.unwrap(), None);
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(60, 1));
    // Exactly at the cap is allowed.
    s.put_object(&inline_obj(&b, "b", &[2; 40]), &none, cap)
        .await
        .unwrap();
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(100, 2));
    // Replacing counts the replaced object's size as freed: 100 - 60 + 70 > 100, 100 - 60 + 60 ok.
    assert_err!(
        s.put_object(&inline_obj(&b, "a", &[3; 70]), &none, cap)
            .await,
        Error::QuotaExceeded(_)
    );
    s.put_object(&inline_obj(&b, "a", &[3; 60]), &none, cap)
        .await
        .unwrap();
    // Without a cap anything goes; a later capped write must then shrink usage to ≤ cap.
    s.put_object(&inline_obj(&b, "c", &[4; 50]), &none, None)
        .await
        .unwrap();
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(150, 3));
    assert_err!(
        s.put_object(&inline_obj(&b, "d", b""), &none, cap).await,
        Error::QuotaExceeded(_)
    );
    s.put_object(&inline_obj(&b, "c", b""), &none, cap)
        .await
        .unwrap();
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(100, 3));
    // The condition is checked as well as the cap.
    assert_err!(
        s.put_object(&inline_obj(&b, "c", b""), &WriteCondition::IfNoneMatch, cap)
            .await,
        Error::PreconditionFailed
    );
}

pub async fn listings(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    let keys = [
        "a",
        "a/b",
        "a/c",
        "a/c/d",
        "a0",
        "a\u{7f}",
        "a\u{e9}",
        "a\u{FFFF}",
        "a\u{FFFF}z",
        "a\u{10FFFF}",
        "a\u{10FFFF}\u{10FFFF}",
        "A",
        "b",
        "z",
        "\u{e9}t\u{e9}",
        "\u{4e2d}\u{6587}",
        "\u{1F600}",
        "\u{10FFFF}",
        "\u{10FFFF}x",
        " space",
        "!bang",
    ];
    for (i, k) in keys.iter().enumerate() {
        let mut o = inline_obj(&b, k, k.as_bytes());
        o.last_modified = ts(i as i64 * 1000 + 7);
        s.put_object(&o, &WriteCondition::None, None).await.unwrap();
    }
    // Byte order of UTF-8 == Rust's `str` order.
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort();

    let list = |prefix: &'static str, after: &'static str, limit: usize| {
        let b = b.clone();
        async move { s.list_objects(&b, prefix, after, limit).await.unwrap() }
    };
    let page = list("", "", 1000).await;
    let got: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(got, sorted);
    assert!(!page.truncated);
    // Summaries carry the record's fields.
    let a_c = page.objects.iter().find(|o| o.key == "a/c").unwrap();
    let rec = s.get_object(&b, "a/c").await.unwrap().unwrap();
    assert_eq!(
        (a_c.size, &a_c.etag, a_c.last_modified),
        (rec.size, &rec.etag, rec.last_modified)
    );

    for prefix in [
        "a",
        "a/",
        "a/c",
        "a\u{FFFF}",
        "a\u{10FFFF}",
        "\u{10FFFF}",
        "\u{e9}",
        "zz",
        "",
    ] {
        for after in ["", "a/b", "a\u{FFFF}", "b", "\u{10FFFF}"] {
            let want: Vec<&str> = sorted
                .iter()
                .copied()
                .filter(|k| k.starts_with(prefix) && *k > after)
                .collect();
            let page = s.list_objects(&b, prefix, after, 1000).await.unwrap();
            let got: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
            assert_eq!(got, want, "prefix {prefix:?} after {after:?}");
            assert!(!page.truncated);

            // Paging by 3 yields the same keys; only the last page is not truncated.
            let mut paged = Vec::new();
            let mut marker = after.to_string();
            loop {
                let p = s.list_objects(&b, prefix, &marker, 3).await.unwrap();
                assert!(p.objects.len() <= 3);
                paged.extend(p.objects.iter().map(|o| o.key.clone()));
                if !p.truncated {
                    break;
                }
                assert_eq!(p.objects.len(), 3);
                marker = p.objects.last().unwrap().key.clone();
            }
            assert_eq!(paged, want, "paged: prefix {prefix:?} after {after:?}");
        }
    }

    // A limit equal to what remains is not truncated; limit 0 returns nothing.
    let n = sorted.len();
    assert!(!list("", "", n).await.truncated);
    assert!(list("", "", n - 1).await.truncated);
    let zero = list("", "", 0).await;
    assert!(zero.objects.is_empty() && zero.truncated);
    assert!(!list("nothing", "", 0).await.truncated);

    assert_err!(
        s.list_objects(&uniq(), "", "", 10).await,
        Error::NoSuchBucket
    );
    let (_, empty) = fresh_bucket(s).await;
    let p = s.list_objects(&empty, "", "", 10).await.unwrap();
    assert!(p.objects.is_empty() && !p.truncated);
}

pub async fn multipart(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    let none = WriteCondition::None;

    assert_err!(
        s.create_upload(&upload(&uniq(), "k", ts(0))).await,
        Error::NoSuchBucket
    );
    let u = upload(&b, "big", ts(0));
    s.create_upload(&u).await.unwrap();
    assert_err!(s.create_upload(&u).await, Error::AlreadyExists(_));
    assert_eq!(s.get_upload(&u.upload_id).await.unwrap(), Some(u.clone()));
    assert_eq!(s.get_upload(&new_hex_id()).await.unwrap(), None);

    assert_err!(
        s.put_part(&part(&new_hex_id(), 1, 10)).await,
        Error::NoSuchUpload
    );
    let p1 = part(&u.upload_id, 1, 5 << 20);
    let p2 = part(&u.upload_id, 2, 5 << 20);
    let p3 = part(&u.upload_id, 3, 77);
    let p10 = part(&u.upload_id, 10, 5);
    for p in [&p3, &p1, &p10, &p2] {
        assert_eq!(s.put_part(p).await.unwrap(), None);
    }
    let p2b = part(&u.upload_id, 2, 5 << 20);
    assert_eq!(s.put_part(&p2b).await.unwrap(), Some(p2.clone()));

    assert_eq!(
        s.list_parts(&u.upload_id, 0, 100).await.unwrap(),
        vec![p1.clone(), p2b.clone(), p3.clone(), p10.clone()]
    );
    assert_eq!(
        s.list_parts(&u.upload_id, 1, 2).await.unwrap(),
        vec![p2b.clone(), p3.clone()]
    );
    assert_eq!(
        s.list_parts(&u.upload_id, 3, 100).await.unwrap(),
        vec![p10.clone()]
    );
    assert!(
        s.list_parts(&u.upload_id, 10, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_err!(
        s.list_parts(&new_hex_id(), 0, 10).await,
        Error::NoSuchUpload
    );

    // The completed object uses parts 1..3; part 10 is unused.
    let existing = segment_obj(&b, "big", &[9]);
    s.put_object(&existing, &none, None).await.unwrap();
    let mut rec = segment_obj(&b, "big", &[]);
    rec.size = p1.size + p2b.size + p3.size;
    rec.data = ObjectData::Segments(
        [&p1, &p2b, &p3]
            .iter()
            .map(|p| Segment {
                blob_id: p.blob_id.clone(),
                size: p.size,
            })
            .collect(),
    );
    rec.parts = [&p1, &p2b, &p3]
        .iter()
        .map(|p| ObjectPart {
            part_number: p.part_number,
            size: p.size,
            etag: p.etag.clone(),
            checksums: p.checksums.clone(),
        })
        .collect();

    // A failing rule leaves the upload, its parts and the old object untouched.
    assert_err!(
        s.complete_upload(&u.upload_id, &rec, &WriteCondition::IfNoneMatch, None)
            .await,
        Error::PreconditionFailed
    );
    assert_err!(
        s.complete_upload(&u.upload_id, &rec, &none, Some(rec.size - 1))
            .await,
        Error::QuotaExceeded(_)
    );
    assert_eq!(s.list_parts(&u.upload_id, 0, 100).await.unwrap().len(), 4);
    assert_eq!(
        s.get_object(&b, "big").await.unwrap(),
        Some(existing.clone())
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(9, 1));

    let (replaced, unused) = s
        .complete_upload(
            &u.upload_id,
            &rec,
            &WriteCondition::IfMatch(existing.etag.clone()),
            Some(rec.size),
        )
        .await
        .unwrap();
    assert_eq!(replaced.previous, Some(existing));
    assert_eq!(unused, vec![p10]);
    assert_eq!(s.get_object(&b, "big").await.unwrap(), Some(rec.clone()));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(rec.size, 1));
    assert_eq!(s.get_upload(&u.upload_id).await.unwrap(), None);
    assert_err!(s.list_parts(&u.upload_id, 0, 10).await, Error::NoSuchUpload);
    assert_err!(
        s.complete_upload(&u.upload_id, &rec, &none, None).await,
        Error::NoSuchUpload
    );

    // Completing into a new key; abort returns every part.
    let u2 = upload(&b, "other", ts(1));
    s.create_upload(&u2).await.unwrap();
    let q1 = part(&u2.upload_id, 1, 3);
    s.put_part(&q1).await.unwrap();
    // A record referencing a blob that is not a current part (the part was replaced
    // while Complete ran) is refused and changes nothing.
    assert_err!(
        s.complete_upload(&u2.upload_id, &segment_obj(&b, "other", &[3]), &none, None)
            .await,
        Error::InvalidPart(_)
    );
    assert_eq!(s.get_object(&b, "other").await.unwrap(), None);
    assert_eq!(
        s.list_parts(&u2.upload_id, 0, 10).await.unwrap(),
        vec![q1.clone()]
    );
    let mut other = segment_obj(&b, "other", &[3]);
    other.data = ObjectData::Segments(vec![Segment {
        blob_id: q1.blob_id.clone(),
        size: 3,
    }]);
    let (replaced, unused) = s
        .complete_upload(&u2.upload_id, &other, &none, None)
        .await
        .unwrap();
    assert!(replaced.previous.is_none());
    assert!(unused.is_empty(), "the record references its only part");
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(rec.size + 3, 2));

    let u3 = upload(&b, "aborted", ts(2));
    s.create_upload(&u3).await.unwrap();
    let (r1, r2) = (part(&u3.upload_id, 1, 1), part(&u3.upload_id, 2, 2));
    s.put_part(&r2).await.unwrap();
    s.put_part(&r1).await.unwrap();
    assert_eq!(s.abort_upload(&u3.upload_id).await.unwrap(), vec![r1, r2]);
    assert_err!(s.abort_upload(&u3.upload_id).await, Error::NoSuchUpload);
    assert_eq!(s.get_upload(&u3.upload_id).await.unwrap(), None);
    let u4 = upload(&b, "no-parts", ts(2));
    s.create_upload(&u4).await.unwrap();
    assert!(s.abort_upload(&u4.upload_id).await.unwrap().is_empty());
}

pub async fn upload_listings(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    assert_err!(
        s.list_uploads(&uniq(), "", "", "", 10).await,
        Error::NoSuchBucket
    );
    assert!(s.list_uploads(&b, "", "", "", 10).await.unwrap().is_empty());
    // Same key started at different times (the later one created first), plus a tie on
    // `initiated` broken by upload id.
    let mut all = vec![
        upload(&b, "k/1", ts(500)),
        upload(&b, "k/1", ts(100)),
        upload(&b, "k/1", ts(300)),
        upload(&b, "k/1", ts(300)),
        upload(&b, "k/0", ts(900)),
        upload(&b, "k/2", ts(0)),
        upload(&b, "x", ts(0)),
        upload(&b, "\u{10FFFF}", ts(0)),
    ];
    for u in &all {
        s.create_upload(u).await.unwrap();
    }
    let order = |u: &MultipartUpload| (u.key.clone(), u.initiated, u.upload_id.clone());
    all.sort_by_key(order);
    let ids = |v: &[MultipartUpload]| v.iter().map(|u| u.upload_id.clone()).collect::<Vec<_>>();

    assert_eq!(s.list_uploads(&b, "", "", "", 100).await.unwrap(), all);
    assert_eq!(
        ids(&s.list_uploads(&b, "k/", "", "", 100).await.unwrap()),
        ids(&all[..6])
    );
    assert_eq!(
        ids(&s.list_uploads(&b, "\u{10FFFF}", "", "", 100).await.unwrap()),
        ids(&all[7..])
    );
    assert_eq!(
        ids(&s.list_uploads(&b, "", "", "", 3).await.unwrap()),
        ids(&all[..3])
    );
    // Key marker alone: strictly after that key.
    assert_eq!(
        ids(&s.list_uploads(&b, "", "k/1", "", 100).await.unwrap()),
        ids(&all[5..])
    );
    // Upload-id marker without a key marker is ignored.
    assert_eq!(
        ids(&s
            .list_uploads(&b, "", "", &all[2].upload_id, 100)
            .await
            .unwrap()),
        ids(&all)
    );
    // Both markers: after that upload within its key, then later keys. Page through.
    let mut paged = Vec::new();
    let (mut km, mut um) = (String::new(), String::new());
    loop {
        let page = s.list_uploads(&b, "", &km, &um, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        (km, um) = (last.key.clone(), last.upload_id.clone());
        paged.extend(page);
    }
    assert_eq!(ids(&paged), ids(&all));
    let after2 = s
        .list_uploads(&b, "k/", &all[2].key, &all[2].upload_id, 100)
        .await
        .unwrap();
    assert_eq!(ids(&after2), ids(&all[3..6]));
}

pub async fn referenced_blobs(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    let seg = segment_obj(&b, "s", &[1, 2]);
    s.put_object(&seg, &WriteCondition::None, None)
        .await
        .unwrap();
    s.put_object(&inline_obj(&b, "i", b"x"), &WriteCondition::None, None)
        .await
        .unwrap();
    let u = upload(&b, "m", ts(0));
    s.create_upload(&u).await.unwrap();
    let p = part(&u.upload_id, 1, 5);
    s.put_part(&p).await.unwrap();
    let refs = s.referenced_blobs().await.unwrap();
    for id in seg.data.blob_ids() {
        assert!(refs.contains(id));
    }
    assert!(refs.contains(&p.blob_id));

    s.delete_object(&b, "s").await.unwrap();
    s.abort_upload(&u.upload_id).await.unwrap();
    let refs = s.referenced_blobs().await.unwrap();
    for id in seg.data.blob_ids() {
        assert!(!refs.contains(id));
    }
    assert!(!refs.contains(&p.blob_id));
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

/// Rules hold under concurrent requests (which a group-committing backend batches into
/// one transaction): conditional creates race to exactly one winner, a cap admits exactly
/// as many writes as fit, and usage counters stay exact.
pub async fn concurrency(store: Arc<dyn MetaStore>) {
    let (_, b) = fresh_bucket(store.as_ref()).await;

    let racers = (0..24).map(|i| {
        let (s, b) = (store.clone(), b.clone());
        async move {
            let o = inline_obj(&b, "race", format!("writer {i}").as_bytes());
            s.put_object(&o, &WriteCondition::IfNoneMatch, None).await
        }
    });
    let results = join_all(racers).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(Error::PreconditionFailed)))
    );

    let (_, b2) = fresh_bucket(store.as_ref()).await;
    let capped = (0..30).map(|i| {
        let (s, b) = (store.clone(), b2.clone());
        async move {
            let o = inline_obj(&b, &format!("k{i:02}"), &[7; 10]);
            s.put_object(&o, &WriteCondition::None, Some(100)).await
        }
    });
    let results = join_all(capped).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(Error::QuotaExceeded(_))))
    );
    assert_eq!(store.bucket_usage(&b2).await.unwrap(), usage(100, 10));

    let many = (0..64u64).map(|i| {
        let (s, b) = (store.clone(), b.clone());
        async move {
            let o = inline_obj(&b, &format!("m/{i:03}"), &vec![1; i as usize]);
            s.put_object(&o, &WriteCondition::None, None).await.unwrap();
            if i % 4 == 0 {
                s.delete_object(&b, &format!("m/{i:03}")).await.unwrap();
            }
        }
    });
    join_all(many).await;
    let race_size = store.get_object(&b, "race").await.unwrap().unwrap().size;
    let want_bytes: u64 = (0..64u64).filter(|i| i % 4 != 0).sum();
    assert_eq!(
        store.bucket_usage(&b).await.unwrap(),
        usage(want_bytes + race_size, 48 + 1)
    );
    let listed = store.list_objects(&b, "m/", "", 1000).await.unwrap();
    assert_eq!(listed.objects.len(), 48);
}

/// Quotas hold under concurrency: of many simultaneous creations in one org, exactly
/// as many succeed as the quota allows, the others fail with `ResourceExhausted`.
pub async fn quota_concurrency(store: Arc<dyn MetaStore>) {
    let o = uniq();
    store.create_org(&org(&o)).await.unwrap();
    let q = Quotas {
        keys_per_principal: 5,
        keys_per_org: 8,
        policies_per_org: 3,
    };
    let keys = (0..24).map(|i| {
        let (s, o) = (store.clone(), o.clone());
        // Half the racers share one principal: that one's quota binds first.
        let p = if i % 2 == 0 {
            "role/same".to_string()
        } else {
            format!("role/r{i}")
        };
        async move {
            s.create_access_key(&timed_key(&o, &p, ts(i), None, KeySource::ApiToken), &q)
                .await
        }
    });
    let results = join_all(keys).await;
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(Error::ResourceExhausted(_)))),
        "{results:?}"
    );
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 8);
    let stored = store.list_access_keys(&o, &every_key()).await.unwrap();
    assert_eq!(stored.len(), 8);
    assert!(stored.iter().filter(|k| k.principal == "role/same").count() <= 5);

    let policies = (0..12).map(|i| {
        let (s, o) = (store.clone(), o.clone());
        async move {
            let p = StoredPolicy {
                org_id: o,
                name: format!("p{i}"),
                document: "{}".into(),
                updated: ts(7),
            };
            s.put_policy(&p, &q).await
        }
    });
    let results = join_all(policies).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        3,
        "{results:?}"
    );
    assert_eq!(store.list_policies(&o).await.unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------
// versioning

/// A fresh well-formed version id (32 alphanumerics).
fn vid() -> String {
    coffer_core::ids::new_version_id()
}

fn versioned(mut r: ObjectRecord, id: &str) -> ObjectRecord {
    r.version_id = Some(id.to_string());
    r
}

/// (key, version id or "null", is_latest, delete_marker, size) of a whole listing.
async fn all_versions(
    s: &dyn MetaStore,
    b: &str,
    prefix: &str,
) -> Vec<(String, String, bool, bool, u64)> {
    let page = s
        .list_object_versions(b, prefix, "", "", 10_000)
        .await
        .unwrap();
    assert!(!page.truncated);
    page.versions
        .into_iter()
        .map(|v| {
            (
                v.key,
                v.version_id.unwrap_or_else(|| NULL_VERSION.to_string()),
                v.is_latest,
                v.delete_marker,
                v.size,
            )
        })
        .collect()
}

fn row(k: &str, v: &str, latest: bool, dm: bool, size: u64) -> (String, String, bool, bool, u64) {
    (k.to_string(), v.to_string(), latest, dm, size)
}

pub async fn versioning(s: &dyn MetaStore) {
    use coffer_core::lifecycle::{Expiration, LifecycleConfiguration, LifecycleRule};
    let (_, b) = fresh_bucket(s).await;
    // The lifecycle configuration lives in the bucket record; `edit_bucket` stores it
    // but never changes the versioning state.
    let mut rec = s.get_bucket(&b).await.unwrap().unwrap();
    rec.lifecycle = Some(LifecycleConfiguration {
        rules: vec![LifecycleRule {
            id: "r1".into(),
            enabled: true,
            expiration: Some(Expiration {
                days: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        }],
    });
    let lifecycle = rec.lifecycle.clone();
    s.edit_bucket(
        &b,
        Box::new(move |b| {
            b.lifecycle = lifecycle;
            b.versioning = VersioningState::Enabled;
            Ok(())
        }),
    )
    .await
    .unwrap();
    let got = s.get_bucket(&b).await.unwrap().unwrap();
    assert_eq!(got.lifecycle, rec.lifecycle);
    assert_eq!(got.versioning, VersioningState::Unversioned);
    assert_err!(
        s.set_bucket_versioning(&b, VersioningState::Unversioned)
            .await,
        Error::InvalidArgument(_)
    );
    assert_err!(
        s.set_bucket_versioning("no-such-bucket-x", VersioningState::Enabled)
            .await,
        Error::NoSuchBucket
    );
    // Unversioned: a proposed version id is dropped; the write is the null version.
    let r = s
        .put_object(
            &versioned(inline_obj(&b, "k", b"old"), &vid()),
            &WriteCondition::None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.version_id, None);
    assert_eq!(
        s.get_object(&b, "k").await.unwrap().unwrap().version_id,
        None
    );

    s.set_bucket_versioning(&b, VersioningState::Enabled)
        .await
        .unwrap();
    assert_eq!(
        s.get_bucket(&b).await.unwrap().unwrap().versioning,
        VersioningState::Enabled
    );
    // Enabled: the old null object becomes noncurrent, nothing is removed.
    let v1 = vid();
    let r = s
        .put_object(
            &versioned(inline_obj(&b, "k", b"one!"), &v1),
            &WriteCondition::None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.version_id.as_deref(), Some(v1.as_str()));
    assert!(r.previous.is_none());
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(7, 2));
    let cur = s.get_object(&b, "k").await.unwrap().unwrap();
    assert_eq!(cur.version_id.as_deref(), Some(v1.as_str()));
    assert_eq!(cur.data, ObjectData::Inline(b"one!".to_vec()));
    match s.get_object_version(&b, "k", NULL_VERSION).await.unwrap() {
        Some(ObjectVersion::Object(o)) => assert_eq!(o.data, ObjectData::Inline(b"old".to_vec())),
        other => panic!("{other:?}"),
    }
    // Conditions see the current object only.
    assert_err!(
        s.put_object(
            &versioned(inline_obj(&b, "k", b"x"), &vid()),
            &WriteCondition::IfNoneMatch,
            None
        )
        .await,
        Error::PreconditionFailed
    );
    // A cap counts noncurrent versions too.
    assert_err!(
        s.put_object(
            &versioned(inline_obj(&b, "k", b"12345"), &vid()),
            &WriteCondition::None,
            Some(11)
        )
        .await,
        Error::QuotaExceeded(_)
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(7, 2));

    // Delete without a version id: a marker; the current object becomes noncurrent.
    let m1 = vid();
    let d = s.delete_object_current(&b, "k", &m1, ts(50)).await.unwrap();
    assert!(d.delete_marker && d.removed.is_none());
    assert_eq!(d.version_id.as_deref(), Some(m1.as_str()));
    assert!(s.get_object(&b, "k").await.unwrap().is_none());
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(7, 2));
    match s.get_object_version(&b, "k", &m1).await.unwrap() {
        Some(ObjectVersion::DeleteMarker(m)) => {
            assert_eq!(m.version_id.as_deref(), Some(m1.as_str()));
            assert_eq!(m.last_modified, ts(50));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        s.list_objects(&b, "", "", 10)
            .await
            .unwrap()
            .objects
            .is_empty()
    );
    assert_eq!(
        all_versions(s, &b, "").await,
        vec![
            row("k", &m1, true, true, 0),
            row("k", &v1, false, false, 4),
            row("k", NULL_VERSION, false, false, 3),
        ]
    );
    // Removing the marker brings the newest object back as current.
    let d = s.delete_object_version(&b, "k", &m1).await.unwrap();
    assert!(d.delete_marker && d.removed.is_none());
    assert_eq!(
        s.get_object(&b, "k")
            .await
            .unwrap()
            .unwrap()
            .version_id
            .as_deref(),
        Some(v1.as_str())
    );
    assert_eq!(
        s.list_objects(&b, "", "", 10).await.unwrap().objects.len(),
        1
    );
    // An absent version: nothing happens.
    let d = s.delete_object_version(&b, "k", &vid()).await.unwrap();
    assert!(d.removed.is_none() && !d.delete_marker);
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(7, 2));

    // Suspended: a write replaces the null version (here noncurrent) for good.
    s.set_bucket_versioning(&b, VersioningState::Suspended)
        .await
        .unwrap();
    let r = s
        .put_object(
            &versioned(inline_obj(&b, "k", b"sus"), &vid()),
            &WriteCondition::None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.version_id, None);
    assert_eq!(
        r.previous.map(|p| p.data),
        Some(ObjectData::Inline(b"old".to_vec()))
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(7, 2));
    // And again: now the null version is current and is overwritten.
    let seg = segment_obj(&b, "k", &[10]);
    let r = s
        .put_object(&seg, &WriteCondition::None, None)
        .await
        .unwrap();
    assert_eq!(
        r.previous.map(|p| p.data),
        Some(ObjectData::Inline(b"sus".to_vec()))
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(14, 2));
    assert!(
        s.referenced_blobs()
            .await
            .unwrap()
            .contains(seg.data.blob_ids().next().unwrap())
    );
    assert_eq!(
        all_versions(s, &b, "").await,
        vec![
            row("k", NULL_VERSION, true, false, 10),
            row("k", &v1, false, false, 4)
        ]
    );
    // A delete in a suspended bucket: a null marker replacing the null object.
    let d = s
        .delete_object_current(&b, "k", &vid(), ts(60))
        .await
        .unwrap();
    assert!(d.delete_marker);
    assert_eq!(d.version_id.as_deref(), Some(NULL_VERSION));
    assert_eq!(d.removed.map(|r| r.size), Some(10));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(4, 1));
    assert_eq!(
        all_versions(s, &b, "").await,
        vec![
            row("k", NULL_VERSION, true, true, 0),
            row("k", &v1, false, false, 4)
        ]
    );
    // Re-enabled: new versions stack on top of the null marker.
    s.set_bucket_versioning(&b, VersioningState::Enabled)
        .await
        .unwrap();
    let v2 = vid();
    s.put_object(
        &versioned(inline_obj(&b, "k", b"two"), &v2),
        &WriteCondition::None,
        None,
    )
    .await
    .unwrap();
    // Noncurrent versions keep their blobs referenced.
    let v3 = vid();
    let big = versioned(segment_obj(&b, "k", &[5, 6]), &v3);
    s.put_object(&big, &WriteCondition::None, None)
        .await
        .unwrap();
    let v4 = vid();
    s.put_object(
        &versioned(inline_obj(&b, "k", b"four"), &v4),
        &WriteCondition::None,
        None,
    )
    .await
    .unwrap();
    let refs = s.referenced_blobs().await.unwrap();
    assert!(big.data.blob_ids().all(|id| refs.contains(id)));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(4 + 3 + 11 + 4, 4));
    assert_eq!(
        all_versions(s, &b, "").await,
        vec![
            row("k", &v4, true, false, 4),
            row("k", &v3, false, false, 11),
            row("k", &v2, false, false, 3),
            row("k", NULL_VERSION, false, true, 0),
            row("k", &v1, false, false, 4),
        ]
    );
    // Deleting the current version promotes the next newest; its blobs come back.
    let d = s.delete_object_version(&b, "k", &v4).await.unwrap();
    assert_eq!(d.removed.map(|r| r.size), Some(4));
    let cur = s.get_object(&b, "k").await.unwrap().unwrap();
    assert_eq!(cur.version_id.as_deref(), Some(v3.as_str()));
    assert_eq!(cur.data, big.data);
    // Deleting a noncurrent object version returns it for blob deletion.
    let d = s.delete_object_version(&b, "k", &v1).await.unwrap();
    assert_eq!(d.removed.map(|r| r.size), Some(4));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(14, 2));
    // The bucket cannot be deleted while any version or marker remains.
    assert_err!(s.delete_bucket(&b).await, Error::BucketNotEmpty);
    for v in [v3.as_str(), v2.as_str()] {
        s.delete_object_version(&b, "k", v).await.unwrap();
    }
    assert!(s.get_object(&b, "k").await.unwrap().is_none());
    assert_eq!(
        all_versions(s, &b, "").await,
        vec![row("k", NULL_VERSION, true, true, 0)]
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(0, 0));
    assert_err!(s.delete_bucket(&b).await, Error::BucketNotEmpty);
    s.delete_object_version(&b, "k", NULL_VERSION)
        .await
        .unwrap();
    s.delete_bucket(&b).await.unwrap();
    assert_err!(
        s.list_object_versions(&b, "", "", "", 10).await,
        Error::NoSuchBucket
    );
}

pub async fn version_listings(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    s.put_object(&inline_obj(&b, "a/1", b"x"), &WriteCondition::None, None)
        .await
        .unwrap();
    s.set_bucket_versioning(&b, VersioningState::Enabled)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (k, n) in [("a/1", 2), ("a/2", 3), ("b", 1), ("c\u{e9}", 2)] {
        for i in 0..n {
            let id = vid();
            s.put_object(
                &versioned(inline_obj(&b, k, &vec![b'z'; i + 1]), &id),
                &WriteCondition::None,
                None,
            )
            .await
            .unwrap();
            ids.push((k, id));
        }
    }
    s.delete_object_current(&b, "b", &vid(), ts(9))
        .await
        .unwrap();
    let full = s
        .list_object_versions(&b, "", "", "", 1000)
        .await
        .unwrap()
        .versions;
    assert_eq!(full.len(), 3 + 3 + 2 + 2);
    // Ordered by key, then newest first; exactly one latest per key.
    for w in full.windows(2) {
        assert!(w[0].key <= w[1].key);
    }
    for k in ["a/1", "a/2", "b", "c\u{e9}"] {
        let of_key: Vec<_> = full.iter().filter(|v| v.key == k).collect();
        assert!(of_key[0].is_latest, "{k}");
        assert!(of_key[1..].iter().all(|v| !v.is_latest), "{k}");
    }
    let a2: Vec<_> = ids
        .iter()
        .filter(|(k, _)| *k == "a/2")
        .map(|(_, i)| i.clone())
        .collect();
    let listed: Vec<_> = full
        .iter()
        .filter(|v| v.key == "a/2")
        .map(|v| v.version_id.clone().unwrap())
        .collect();
    assert_eq!(listed, a2.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(
        full[2].version_id, None,
        "the pre-versioning object is the oldest a/1"
    );
    // Paging by (key, version) markers visits exactly the full listing, for every size.
    for limit in 1..=4 {
        let mut got = Vec::new();
        let (mut km, mut vm) = (String::new(), String::new());
        loop {
            let p = s
                .list_object_versions(&b, "", &km, &vm, limit)
                .await
                .unwrap();
            let last = p.versions.last().cloned();
            got.extend(p.versions);
            if !p.truncated {
                break;
            }
            let last = last.unwrap();
            km = last.key;
            vm = last.version_id.unwrap_or_else(|| NULL_VERSION.to_string());
        }
        assert_eq!(got, full, "limit {limit}");
    }
    // Key marker alone: keys strictly after it. Prefix: only those keys.
    let p = s
        .list_object_versions(&b, "", "a/2", "", 100)
        .await
        .unwrap();
    assert!(p.versions.iter().all(|v| v.key.as_str() > "a/2"));
    assert_eq!(p.versions.len(), 4);
    let p = s.list_object_versions(&b, "a/", "", "", 100).await.unwrap();
    assert_eq!(p.versions.len(), 6);
    let p = s
        .list_object_versions(&b, "a/", "a/1", NULL_VERSION, 100)
        .await
        .unwrap();
    assert_eq!(
        p.versions.len(),
        3,
        "after the oldest a/1 version come the a/2 ones"
    );
    assert_err!(
        s.list_object_versions(&b, "", "a/1", &vid(), 10).await,
        Error::InvalidArgument(_)
    );
}

// ---------------------------------------------------------------------------------------
// rename

/// The record `r` as it reads after a rename to `key`: everything but the key kept.
fn renamed(r: &ObjectRecord, key: &str) -> ObjectRecord {
    ObjectRecord {
        inline_crc32c: None,
        key: key.to_string(),
        ..r.clone()
    }
}

pub async fn rename(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    let none = WriteCondition::None;
    let any = RenameConditions::default();
    let src = inline_obj(&b, "src", b"source bytes");
    s.put_object(&src, &none, None).await.unwrap();
    let seg = segment_obj(&b, "seg", &[5 << 20, 7]);
    s.put_object(&seg, &none, None).await.unwrap();
    let before = s.bucket_usage(&b).await.unwrap();
    assert_eq!(before, usage(12 + seg.size, 2));

    // Failures change nothing.
    assert_err!(
        s.rename_object(&uniq(), "src", "dst", &any).await,
        Error::NoSuchBucket
    );
    assert_err!(
        s.rename_object(&b, "missing", "dst", &any).await,
        Error::NoSuchKey
    );
    let failing = [
        RenameConditions {
            source_if_match: Some("\"nope\"".into()),
            ..Default::default()
        },
        RenameConditions {
            source_if_none_match: Some(src.etag.clone()),
            ..Default::default()
        },
        RenameConditions {
            source_if_none_match: Some("*".into()),
            ..Default::default()
        },
        RenameConditions {
            source_if_modified_since: Some(src.last_modified),
            ..Default::default()
        },
        RenameConditions {
            source_if_unmodified_since: Some(src.last_modified - time::Duration::seconds(1)),
            ..Default::default()
        },
        RenameConditions {
            dest: WriteCondition::IfNoneMatch,
            ..Default::default()
        },
        RenameConditions {
            dest: WriteCondition::IfMatch("\"nope\"".into()),
            ..Default::default()
        },
    ];
    for (i, cond) in failing.iter().enumerate() {
        let dst = if i == 5 || i == 6 { "seg" } else { "dst" };
        assert_err!(
            s.rename_object(&b, "src", dst, cond).await,
            Error::PreconditionFailed
        );
    }
    // If-Match on an absent destination fails too.
    assert_err!(
        s.rename_object(
            &b,
            "src",
            "dst",
            &RenameConditions {
                dest: WriteCondition::IfMatch(src.etag.clone()),
                ..Default::default()
            }
        )
        .await,
        Error::PreconditionFailed
    );
    assert_eq!(s.get_object(&b, "src").await.unwrap(), Some(src.clone()));
    assert_eq!(s.get_object(&b, "seg").await.unwrap(), Some(seg.clone()));
    assert_eq!(s.get_object(&b, "dst").await.unwrap(), None);
    assert_eq!(s.bucket_usage(&b).await.unwrap(), before);

    // Renaming onto itself changes nothing.
    let r = s.rename_object(&b, "src", "src", &any).await.unwrap();
    assert!(r.previous.is_none());
    assert_eq!(s.get_object(&b, "src").await.unwrap(), Some(src.clone()));

    // Success with every source condition holding and If-None-Match: * on a new key:
    // the record moves unchanged (inline bytes included), usage stays.
    let ok = RenameConditions {
        dest: WriteCondition::IfNoneMatch,
        source_if_match: Some(src.etag.clone()),
        source_if_none_match: Some("\"other\"".into()),
        source_if_modified_since: Some(src.last_modified - time::Duration::seconds(1)),
        source_if_unmodified_since: Some(src.last_modified),
    };
    let r = s.rename_object(&b, "src", "dir/dst", &ok).await.unwrap();
    assert!(r.previous.is_none() && r.version_id.is_none());
    assert_eq!(s.get_object(&b, "src").await.unwrap(), None);
    assert_eq!(
        s.get_object(&b, "dir/dst").await.unwrap(),
        Some(renamed(&src, "dir/dst"))
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), before);
    let keys: Vec<String> = s
        .list_objects(&b, "", "", 10)
        .await
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["dir/dst", "seg"]);

    // Onto an existing key (If-Match on it): the destination is replaced and returned
    // for blob deletion; usage drops by it.
    let cond = RenameConditions {
        dest: WriteCondition::IfMatch(seg.etag.clone()),
        ..Default::default()
    };
    let r = s.rename_object(&b, "seg", "dir/dst", &cond).await;
    assert_err!(r, Error::PreconditionFailed);
    let r = s
        .rename_object(
            &b,
            "dir/dst",
            "seg",
            &RenameConditions {
                dest: WriteCondition::IfMatch(seg.etag.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.previous, Some(seg.clone()));
    assert_eq!(
        s.get_object(&b, "seg").await.unwrap(),
        Some(renamed(&src, "seg"))
    );
    assert_eq!(s.get_object(&b, "dir/dst").await.unwrap(), None);
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(12, 1));
    assert!(
        !s.referenced_blobs()
            .await
            .unwrap()
            .contains(seg.data.blob_ids().next().unwrap())
    );

    // Versioned (and suspended) buckets refuse it, changing nothing.
    s.set_bucket_versioning(&b, VersioningState::Enabled)
        .await
        .unwrap();
    assert_err!(
        s.rename_object(&b, "seg", "other", &any).await,
        Error::Unimplemented(_)
    );
    s.set_bucket_versioning(&b, VersioningState::Suspended)
        .await
        .unwrap();
    assert_err!(
        s.rename_object(&b, "seg", "other", &any).await,
        Error::Unimplemented(_)
    );
    assert_eq!(
        s.get_object(&b, "seg").await.unwrap(),
        Some(renamed(&src, "seg"))
    );
    assert_eq!(s.get_object(&b, "other").await.unwrap(), None);
}

/// The audit outbox (`put_object_audited` and friends). Needs a store whose outbox is
/// empty and used by nobody else meanwhile (the outbox is one queue per store, so this
/// check is not part of [`run_all`], which runs concurrently with itself). Returns the
/// first and the last entry number it saw (0, 0 for a store without an outbox).
pub async fn audit_outbox(s: &dyn MetaStore) -> (u64, u64) {
    let none = WriteCondition::None;
    let (_, b) = fresh_bucket(s).await;
    if !s.has_audit_outbox() {
        // Refused loudly, and the write does not happen without its event.
        assert!(
            s.put_object_audited(&inline_obj(&b, "k", b"x"), &none, None, b"e".to_vec())
                .await
                .is_err()
        );
        assert_eq!(s.get_object(&b, "k").await.unwrap(), None);
        assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));
        return (0, 0);
    }
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));

    // A write that fails commits no event.
    assert_err!(
        s.put_object_audited(&inline_obj(&uniq(), "k", b"x"), &none, None, b"x".to_vec())
            .await,
        Error::NoSuchBucket
    );
    s.put_object(&inline_obj(&b, "k", b"x"), &none, None)
        .await
        .unwrap();
    assert_err!(
        s.put_object_audited(
            &inline_obj(&b, "k", b"y"),
            &WriteCondition::IfNoneMatch,
            None,
            b"x".to_vec()
        )
        .await,
        Error::PreconditionFailed
    );
    assert_err!(
        s.put_object_audited(
            &inline_obj(&b, "big", b"12345"),
            &none,
            Some(3),
            b"x".to_vec()
        )
        .await,
        Error::QuotaExceeded(_)
    );
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));
    assert_eq!(s.get_object(&b, "k").await.unwrap().unwrap().size, 1);

    // A write that succeeds commits its event, numbered in commit order.
    for i in 0..5 {
        let o = inline_obj(&b, &format!("k{i}"), b"v");
        s.put_object_audited(&o, &none, None, format!("event-{i}").into_bytes())
            .await
            .unwrap();
        assert_eq!(s.get_object(&b, &o.key).await.unwrap(), Some(o));
    }
    let all = s.read_audit_outbox(0, None, u64::MAX).await.unwrap();
    let events: Vec<&[u8]> = all.iter().map(|(_, e)| e.as_slice()).collect();
    assert_eq!(
        events,
        [
            &b"event-0"[..],
            b"event-1",
            b"event-2",
            b"event-3",
            b"event-4"
        ]
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "{all:?}");
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (5, 35));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(6, 6));

    // The byte budget stops before it is exceeded but always yields one entry; an upper
    // number bounds the read whatever the budget.
    assert_eq!(s.read_audit_outbox(0, None, 14).await.unwrap(), all[..2]);
    assert_eq!(s.read_audit_outbox(0, None, 1).await.unwrap(), all[..1]);
    assert_eq!(
        s.read_audit_outbox(all[0].0, Some(all[2].0), 1)
            .await
            .unwrap(),
        all[1..3]
    );
    assert_eq!(
        s.read_audit_outbox(all[4].0, None, u64::MAX).await.unwrap(),
        []
    );

    // Trimming removes a prefix.
    s.trim_audit_outbox(all[1].0).await.unwrap();
    assert_eq!(
        s.read_audit_outbox(0, None, u64::MAX).await.unwrap(),
        all[2..]
    );
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (3, 21));
    s.trim_audit_outbox(all[4].0).await.unwrap();
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));

    // Numbers are never reused, also once every entry was trimmed.
    s.put_object_audited(&inline_obj(&b, "again", b"v"), &none, None, b"e".to_vec())
        .await
        .unwrap();
    let again = s.read_audit_outbox(0, None, u64::MAX).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].0 > all[4].0, "{again:?} after {all:?}");
    s.trim_audit_outbox(again[0].0).await.unwrap();
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));
    (all[0].0, again[0].0)
}
