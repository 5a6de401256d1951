use super::*;

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
