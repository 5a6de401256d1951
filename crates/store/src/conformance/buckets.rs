use super::*;

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

    let set_tags = |t: BTreeMap<String, String>| -> ObjectEdit {
        Arc::new(move |r| {
            r.tags = t.clone();
            Ok(())
        })
    };
    assert_err!(
        s.edit_object(&uniq(), "k", None, set_tags(tags.clone()))
            .await,
        Error::NoSuchBucket
    );
    assert_err!(
        s.edit_object(&b, "k", None, set_tags(tags.clone())).await,
        Error::NoSuchKey
    );
    let o = inline_obj(&b, "k", b"tagged bytes");
    s.put_object(&o, &WriteCondition::None, None).await.unwrap();
    let usage = s.bucket_usage(&b).await.unwrap();
    let edited = s
        .edit_object(&b, "k", None, set_tags(tags.clone()))
        .await
        .unwrap();
    assert_eq!(edited.tags, tags);
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
    s.edit_object(&b, "k", None, set_tags(BTreeMap::new()))
        .await
        .unwrap();
    assert!(
        s.get_object(&b, "k")
            .await
            .unwrap()
            .unwrap()
            .tags
            .is_empty()
    );
}

/// `edit_object` on versions: the current one by id, a noncurrent one, the null
/// version, a delete marker (refused), a missing id; only the editable fields change
/// (an edit's change of data or ETag is dropped), and an edit that fails stores nothing.
pub async fn object_edits_of_versions(s: &dyn MetaStore) {
    let (_, b) = fresh_bucket(s).await;
    s.put_object(
        &inline_obj(&b, "k", b"null one"),
        &WriteCondition::None,
        None,
    )
    .await
    .unwrap();
    s.set_bucket_versioning(&b, VersioningState::Enabled)
        .await
        .unwrap();
    let (v1, v2, m) = (vid(), vid(), vid());
    for (v, data) in [(&v1, &b"first"[..]), (&v2, &b"second"[..])] {
        let o = ObjectRecord {
            version_id: Some(v.clone()),
            ..inline_obj(&b, "k", data)
        };
        s.put_object(&o, &WriteCondition::None, None).await.unwrap();
    }
    let owner = |who: &'static str| -> ObjectEdit {
        Arc::new(move |r| {
            r.owner_org = Some(who.to_string());
            // Not editable in place: dropped.
            r.etag = "\"forged\"".into();
            r.data = ObjectData::Inline(b"forged".to_vec());
            Ok(())
        })
    };
    async fn read(s: &dyn MetaStore, b: &str, v: &str) -> ObjectRecord {
        match s.get_object_version(b, "k", v).await.unwrap() {
            Some(ObjectVersion::Object(o)) => o,
            other => panic!("{other:?}"),
        }
    }
    for (v, who, data) in [
        (v2.clone(), "orgaaa", &b"second"[..]),
        (v1.clone(), "orgbbb", &b"first"[..]),
        (NULL_VERSION.to_string(), "orgccc", &b"null one"[..]),
    ] {
        let before = read(s, &b, &v).await;
        let edited = s.edit_object(&b, "k", Some(&v), owner(who)).await.unwrap();
        assert_eq!(edited.owner_org.as_deref(), Some(who));
        let after = read(s, &b, &v).await;
        assert_eq!(after.owner_org.as_deref(), Some(who), "{v}");
        assert_eq!(after.data, ObjectData::Inline(data.to_vec()));
        assert_eq!(
            ObjectRecord {
                owner_org: None,
                ..after
            },
            before
        );
    }
    // The current object is the version v2.
    assert_eq!(
        s.get_object(&b, "k")
            .await
            .unwrap()
            .unwrap()
            .owner_org
            .as_deref(),
        Some("orgaaa")
    );
    s.delete_object_current(&b, "k", &m, ts(60)).await.unwrap();
    assert_err!(
        s.edit_object(&b, "k", Some(&m), owner("orgddd")).await,
        Error::DeleteMarker { by_id: true, .. }
    );
    assert_err!(
        s.edit_object(&b, "k", None, owner("orgddd")).await,
        Error::NoSuchKey
    );
    assert_err!(
        s.edit_object(&b, "k", Some(&vid()), owner("orgddd")).await,
        Error::NoSuchVersion
    );
    let refuse: ObjectEdit = Arc::new(|r| {
        r.owner_org = None;
        Err(Error::invalid("no"))
    });
    assert_err!(
        s.edit_object(&b, "k", Some(&v1), refuse).await,
        Error::InvalidArgument(_)
    );
    assert_eq!(read(s, &b, &v1).await.owner_org.as_deref(), Some("orgbbb"));

    // Object Lock state is edited in place too, and every version delete judges it in
    // its own transaction: a refusal removes nothing; markers carry no lock.
    let lock: ObjectEdit = Arc::new(|r| {
        r.legal_hold = true;
        r.retention = Some(coffer_core::object_lock::Retention {
            mode: coffer_core::object_lock::LockMode::Governance,
            retain_until: ts(1_000_000),
        });
        Ok(())
    });
    s.edit_object(&b, "k", Some(&v1), lock).await.unwrap();
    let got = read(s, &b, &v1).await;
    assert!(got.legal_hold);
    assert_eq!(got.retention.map(|r| r.retain_until), Some(ts(1_000_000)));
    let bypass = DeleteCheck {
        now: ts(0),
        bypass_governance: true,
    };
    // The legal hold holds even with the bypass.
    assert_err!(
        s.delete_object_version(&b, "k", &v1, bypass).await,
        Error::PermissionDenied(_)
    );
    assert!(read(s, &b, &v1).await.legal_hold);
    s.delete_object_version(&b, "k", &m, unlocked())
        .await
        .unwrap();
    // v2 is current again (the marker is gone); unlocked, it goes.
    s.delete_object_version(&b, "k", &v2, unlocked())
        .await
        .unwrap();
    let release: ObjectEdit = Arc::new(|r| {
        r.legal_hold = false;
        Ok(())
    });
    s.edit_object(&b, "k", Some(&v1), release).await.unwrap();
    // GOVERNANCE retention still holds without the bypass, until its date.
    assert_err!(
        s.delete_object_version(&b, "k", &v1, unlocked()).await,
        Error::PermissionDenied(_)
    );
    let later = DeleteCheck {
        now: ts(2_000_000),
        bypass_governance: false,
    };
    let d = s.delete_object_version(&b, "k", &v1, later).await.unwrap();
    assert!(d.removed.is_some());
}
