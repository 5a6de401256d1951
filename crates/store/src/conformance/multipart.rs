use super::*;

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
                key_salt: p.key_salt.clone(),
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
        key_salt: None,
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
