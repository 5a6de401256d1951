use super::*;

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
    let d = s
        .delete_object_version(&b, "k", &m1, unlocked())
        .await
        .unwrap();
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
    let d = s
        .delete_object_version(&b, "k", &vid(), unlocked())
        .await
        .unwrap();
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
    let d = s
        .delete_object_version(&b, "k", &v4, unlocked())
        .await
        .unwrap();
    assert_eq!(d.removed.map(|r| r.size), Some(4));
    let cur = s.get_object(&b, "k").await.unwrap().unwrap();
    assert_eq!(cur.version_id.as_deref(), Some(v3.as_str()));
    assert_eq!(cur.data, big.data);
    // Deleting a noncurrent object version returns it for blob deletion.
    let d = s
        .delete_object_version(&b, "k", &v1, unlocked())
        .await
        .unwrap();
    assert_eq!(d.removed.map(|r| r.size), Some(4));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(14, 2));
    // The bucket cannot be deleted while any version or marker remains.
    assert_err!(s.delete_bucket(&b).await, Error::BucketNotEmpty);
    for v in [v3.as_str(), v2.as_str()] {
        s.delete_object_version(&b, "k", v, unlocked())
            .await
            .unwrap();
    }
    assert!(s.get_object(&b, "k").await.unwrap().is_none());
    assert_eq!(
        all_versions(s, &b, "").await,
        vec![row("k", NULL_VERSION, true, true, 0)]
    );
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(0, 0));
    assert_err!(s.delete_bucket(&b).await, Error::BucketNotEmpty);
    s.delete_object_version(&b, "k", NULL_VERSION, unlocked())
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

/// A bucket created in a versioning state writes in it from its first object: the state
/// object writes read is the one the bucket record was created with.
pub async fn created_versioned(s: &dyn MetaStore) {
    let o = uniq();
    let b = format!("b-{}", uniq());
    s.create_org(&org(&o)).await.unwrap();
    let mut rec = bucket(&o, &b);
    rec.versioning = VersioningState::Enabled;
    s.create_bucket(&rec).await.unwrap();
    let first = s
        .put_object(&inline_obj(&b, "k", b"one"), &WriteCondition::None, None)
        .await
        .unwrap();
    let second = s
        .put_object(&inline_obj(&b, "k", b"two"), &WriteCondition::None, None)
        .await
        .unwrap();
    assert!(first.version_id.is_some(), "{first:?}");
    assert!(second.version_id.is_some(), "{second:?}");
    assert_ne!(first.version_id, second.version_id);
    assert!(
        second.previous.is_none(),
        "the first version is kept, not replaced"
    );
    let page = s.list_object_versions(&b, "", "", "", 10).await.unwrap();
    assert_eq!(page.versions.len(), 2, "{page:?}");
}
