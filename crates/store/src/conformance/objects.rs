use super::*;

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
        Error::NoSuchKey
    );
    assert_err!(
        s.put_object(
            &inline_obj(&b, "absent", b"x"),
            &WriteCondition::IfMatch("*".into()),
            None
        )
        .await,
        Error::NoSuchKey
    );
    assert_eq!(s.get_object(&b, "absent").await.unwrap(), None);
    // If-None-Match with an ETag: refused when the current object has it.
    assert_err!(
        s.put_object(&o3, &WriteCondition::IfNoneMatchEtag(o2.etag.clone()), None)
            .await,
        Error::PreconditionFailed
    );
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
