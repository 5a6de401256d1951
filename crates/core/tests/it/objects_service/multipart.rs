use super::*;
use coffer_core::checksum::{
    ChecksumAlgorithm, ChecksumType, composite_checksum, digest, md5_of, multipart_etag,
};
use std::collections::HashSet;

const MIB: usize = 1 << 20;

pub async fn create(
    env: &Env,
    key: &str,
    alg: Option<ChecksumAlgorithm>,
    t: Option<ChecksumType>,
) -> Result<MultipartUpload, Error> {
    env.svc
        .create_multipart(CreateMultipartInput {
            bucket: BUCKET.into(),
            key: key.into(),
            headers: ObjectHeaders {
                content_type: Some("application/x-test".into()),
                ..ObjectHeaders::default()
            },
            user_metadata: [("m".to_string(), "v".to_string())].into(),
            tags: [("t".to_string(), "1".to_string())].into(),
            checksum_algorithm: alg,
            checksum_type: t,
            initiator: "coreweave/user".into(),
            lock: Default::default(),
            access: Default::default(),
            sse: Default::default(),
        })
        .await
}

pub fn part_input(key: &str, upload_id: &str, n: u32, bytes: &[u8]) -> UploadPartInput {
    UploadPartInput {
        bucket: BUCKET.into(),
        key: key.into(),
        upload_id: upload_id.into(),
        part_number: n,
        body: body(bytes, 64 * 1024),
        content_length: Some(bytes.len() as u64),
        content_md5: None,
        checksum: ChecksumInput::default(),
        sse_key: None,
    }
}

pub async fn upload(env: &Env, key: &str, upload_id: &str, n: u32, bytes: &[u8]) -> PartRecord {
    env.svc
        .upload_part(part_input(key, upload_id, n, bytes))
        .await
        .unwrap()
}

fn completed(parts: &[&PartRecord]) -> Vec<CompletedPart> {
    parts
        .iter()
        .map(|p| CompletedPart {
            part_number: p.part_number,
            etag: p.etag.clone(),
            checksums: Checksums::default(),
        })
        .collect()
}

pub fn complete_input(
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
) -> CompleteMultipartInput {
    CompleteMultipartInput {
        bucket: BUCKET.into(),
        key: key.into(),
        upload_id: upload_id.into(),
        parts,
        checksum: None,
        cond: WriteCondition::None,
        sse_key: None,
    }
}

#[tokio::test]
async fn upload_and_complete_without_copying_bytes() {
    let env = env().await;
    let old = put(&env, "obj", &data(THRESHOLD * 2, 9)).await;
    let u = create(&env, "obj", None, None).await.unwrap();
    let p1 = data(5 * MIB, 1);
    let p2 = data(5 * MIB + 3, 2);
    let p3 = data(10, 3);
    let r1 = upload(&env, "obj", &u.upload_id, 1, &p1).await;
    let r3 = upload(&env, "obj", &u.upload_id, 3, &p3).await;
    let r2 = upload(&env, "obj", &u.upload_id, 2, &p2).await;
    // An unused part: its blob goes away at completion.
    let r7 = upload(&env, "obj", &u.upload_id, 7, b"unused").await;
    assert_eq!(r1.etag, md5_etag(&p1));
    assert_eq!(r3.size, 10);
    assert_eq!(env.blobs.count(), 5);
    let writes_before = env.blobs.0.write_sizes.lock().len();

    let rec = env
        .svc
        .complete_multipart(complete_input(
            "obj",
            &u.upload_id,
            completed(&[&r1, &r2, &r3]),
        ))
        .await
        .unwrap();
    assert_eq!(
        env.blobs.0.write_sizes.lock().len(),
        writes_before,
        "complete wrote bytes"
    );
    assert_eq!(
        rec.etag,
        multipart_etag(&[md5_of(&p1), md5_of(&p2), md5_of(&p3)])
    );
    assert!(rec.etag.ends_with("-3\""));
    assert_eq!(rec.size, (p1.len() + p2.len() + p3.len()) as u64);
    assert_eq!(
        rec.headers.content_type.as_deref(),
        Some("application/x-test")
    );
    assert_eq!(rec.user_metadata["m"], "v");
    assert_eq!(rec.tags["t"], "1");
    assert_eq!(
        rec.parts.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    match &rec.data {
        ObjectData::Segments(s) => {
            let ids: Vec<&str> = s.iter().map(|s| s.blob_id.as_str()).collect();
            assert_eq!(
                ids,
                [
                    r1.blob_id.as_str(),
                    r2.blob_id.as_str(),
                    r3.blob_id.as_str()
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    // Old object's blob and the unused part's blob are gone.
    let ids = env.blobs.ids();
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&r7.blob_id));
    assert!(old.data.blob_ids().all(|b| !ids.contains(b)));
    let mut all = p1.clone();
    all.extend_from_slice(&p2);
    all.extend_from_slice(&p3);
    assert_eq!(read_all(&env, "obj").await.unwrap(), all);
    // The upload and its parts are gone: none listed, and no part keeps a blob
    // referenced beyond the object's own (part rows are only reachable through their
    // upload, which the store no longer has).
    assert_eq!(env.meta.get_upload(&u.upload_id).await.unwrap(), None);
    let uploads = env
        .meta
        .list_uploads(BUCKET, "", "", "", 100)
        .await
        .unwrap();
    assert_eq!(uploads, []);
    assert_eq!(
        env.meta.list_parts(&u.upload_id, 0, 100).await.unwrap_err(),
        Error::NoSuchUpload
    );
    let object = env.meta.get_object(BUCKET, "obj").await.unwrap().unwrap();
    let object_blobs: HashSet<String> = object.data.blob_ids().map(str::to_string).collect();
    assert_eq!(env.meta.referenced_blobs().await.unwrap(), object_blobs);

    // A repeated complete (a client retrying after a lost answer) answers the same
    // object and writes nothing; another part list, or an upload the current object did
    // not come from, is NoSuchUpload.
    let again = env
        .svc
        .complete_multipart(complete_input(
            "obj",
            &u.upload_id,
            completed(&[&r1, &r2, &r3]),
        ))
        .await
        .unwrap();
    assert_eq!(again, object);
    assert_eq!(again.upload_id.as_deref(), Some(u.upload_id.as_str()));
    for parts in [completed(&[&r1, &r2]), completed(&[&r1, &r3, &r2])] {
        assert_eq!(
            env.svc
                .complete_multipart(complete_input("obj", &u.upload_id, parts))
                .await
                .unwrap_err(),
            Error::NoSuchUpload
        );
    }
    let mut wrong_sum = complete_input("obj", &u.upload_id, completed(&[&r1, &r2, &r3]));
    wrong_sum.checksum = Some((
        ChecksumAlgorithm::Crc32,
        b64(&digest(ChecksumAlgorithm::Crc32, b"x")),
    ));
    assert!(env.svc.complete_multipart(wrong_sum).await.is_err());
    put(&env, "obj", b"overwritten").await;
    assert_eq!(
        env.svc
            .complete_multipart(complete_input(
                "obj",
                &u.upload_id,
                completed(&[&r1, &r2, &r3])
            ))
            .await
            .unwrap_err(),
        Error::NoSuchUpload
    );
    assert_eq!(read_all(&env, "obj").await.unwrap(), b"overwritten");
}

#[tokio::test]
async fn part_validation() {
    let env = env().await;
    let u = create(&env, "k", None, None).await.unwrap();
    for n in [0, 10_001] {
        assert!(matches!(
            env.svc
                .upload_part(part_input("k", &u.upload_id, n, b"x"))
                .await,
            Err(Error::InvalidArgument(_))
        ));
    }
    assert_eq!(
        env.svc
            .upload_part(part_input("k", "nope", 1, b"x"))
            .await
            .unwrap_err(),
        Error::NoSuchUpload
    );
    assert_eq!(
        env.svc
            .upload_part(part_input("other", &u.upload_id, 1, b"x"))
            .await
            .unwrap_err(),
        Error::NoSuchUpload
    );
    let mut bad = part_input("k", &u.upload_id, 1, b"abc");
    bad.content_md5 = Some(b64(&md5_of(b"abd")));
    assert_eq!(
        env.svc.upload_part(bad).await.unwrap_err(),
        Error::BadDigest
    );
    let mut short = part_input("k", &u.upload_id, 1, b"abc");
    short.content_length = Some(4);
    assert_eq!(
        env.svc.upload_part(short).await.unwrap_err(),
        Error::IncompleteBody
    );
    assert_eq!(env.blobs.count(), 0);
    assert_eq!(env.blobs.open(), 0);

    // Even a one-byte part is a blob; replacing a part deletes the old blob.
    let a = upload(&env, "k", &u.upload_id, 1, b"a").await;
    let b = upload(&env, "k", &u.upload_id, 1, b"b").await;
    assert_ne!(a.blob_id, b.blob_id);
    assert_eq!(env.blobs.ids(), [b.blob_id.clone()].into());
    assert_eq!(b.etag, md5_etag(b"b"));

    // Abort removes the upload and its parts' blobs.
    env.svc
        .abort_multipart(BUCKET, "k", &u.upload_id)
        .await
        .unwrap();
    assert_eq!(env.blobs.count(), 0);
    assert_eq!(
        env.svc
            .abort_multipart(BUCKET, "k", &u.upload_id)
            .await
            .unwrap_err(),
        Error::NoSuchUpload
    );
    assert_eq!(
        env.svc
            .abort_multipart("nobucket", "k", &u.upload_id)
            .await
            .unwrap_err(),
        Error::NoSuchBucket
    );
}

#[tokio::test]
async fn complete_validation() {
    let env = env().await;
    let u = create(&env, "k", None, None).await.unwrap();
    let big = data(5 * MIB, 1);
    let r1 = upload(&env, "k", &u.upload_id, 1, &big).await;
    let r2 = upload(&env, "k", &u.upload_id, 2, b"small").await;
    let r3 = upload(&env, "k", &u.upload_id, 3, b"tail").await;
    let id = u.upload_id.clone();
    let try_complete =
        |parts: Vec<CompletedPart>| env.svc.complete_multipart(complete_input("k", &id, parts));

    assert!(matches!(
        try_complete(vec![]).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        try_complete(completed(&[&r2, &r1])).await.unwrap_err(),
        Error::InvalidPartOrder
    );
    assert_eq!(
        try_complete(completed(&[&r1, &r1])).await.unwrap_err(),
        Error::InvalidPartOrder
    );
    let mut wrong = completed(&[&r1, &r2]);
    wrong[1].etag = md5_etag(b"other");
    assert!(matches!(
        try_complete(wrong).await,
        Err(Error::InvalidPart(_))
    ));
    let mut missing = completed(&[&r1, &r2]);
    missing[1].part_number = 9;
    assert!(matches!(
        try_complete(missing).await,
        Err(Error::InvalidPart(_))
    ));
    let mut bad_sum = completed(&[&r1]);
    bad_sum[0].checksums.crc32 = Some(b64(&digest(ChecksumAlgorithm::Crc32, b"x")));
    assert!(matches!(
        try_complete(bad_sum).await,
        Err(Error::InvalidPart(_))
    ));
    assert_eq!(
        try_complete(completed(&[&r1, &r2, &r3])).await.unwrap_err(),
        Error::EntityTooSmall
    );
    assert_eq!(
        env.svc
            .complete_multipart(complete_input("other", &u.upload_id, completed(&[&r1])))
            .await
            .unwrap_err(),
        Error::NoSuchUpload
    );
    let listed = env.meta.list_objects(BUCKET, "", "", 10).await.unwrap();
    assert_eq!(listed.objects, []);

    // Unquoted ETags are fine; a small last part is fine.
    let mut ok = completed(&[&r1, &r3]);
    ok[1].etag = ok[1].etag.trim_matches('"').to_string();
    let rec = try_complete(ok).await.unwrap();
    assert_eq!(rec.parts.len(), 2);
    assert_eq!(env.blobs.count(), 2, "part 2's blob was not deleted");
    assert_eq!(
        try_complete(completed(&[&r1])).await.unwrap_err(),
        Error::NoSuchUpload
    );

    // Multipart GET by part number uses the parts of the completed object.
    let mut input = get_input("k");
    input.part_number = Some(2);
    let out = env.svc.get_object(input, true).await.unwrap();
    assert_eq!(out.parts_count, Some(2));
    assert_eq!(collect(out.body.unwrap()).await, b"tail");
}

#[tokio::test]
async fn multipart_checksums() {
    let env = env().await;
    let p1 = data(5 * MIB, 1);
    let p2 = data(1000, 2);
    let mut whole = p1.clone();
    whole.extend_from_slice(&p2);
    for (alg, t, expect_type) in [
        (ChecksumAlgorithm::Crc32, None, ChecksumType::Composite),
        (ChecksumAlgorithm::Sha256, None, ChecksumType::Composite),
        (
            ChecksumAlgorithm::Crc32,
            Some(ChecksumType::FullObject),
            ChecksumType::FullObject,
        ),
        (
            ChecksumAlgorithm::Crc32c,
            Some(ChecksumType::FullObject),
            ChecksumType::FullObject,
        ),
        (ChecksumAlgorithm::Crc64Nvme, None, ChecksumType::FullObject),
    ] {
        let u = create(&env, "k", Some(alg), t).await.unwrap();
        assert_eq!(u.checksum_type.as_deref(), Some(expect_type.as_str()));
        let r1 = upload(&env, "k", &u.upload_id, 1, &p1).await;
        // The part announces the checksum value in a header, as SDKs do.
        let mut i2 = part_input("k", &u.upload_id, 2, &p2);
        i2.checksum.expected = Some((alg, b64(&digest(alg, &p2))));
        let r2 = env.svc.upload_part(i2).await.unwrap();
        assert_eq!(
            coffer_core::checksum::get_checksum(&r1.checksums, alg),
            Some(b64(&digest(alg, &p1)).as_str())
        );
        let mut parts = completed(&[&r1, &r2]);
        coffer_core::checksum::set_checksum(&mut parts[1].checksums, alg, b64(&digest(alg, &p2)));
        let want = match expect_type {
            ChecksumType::Composite => {
                composite_checksum(alg, &[&digest(alg, &p1), &digest(alg, &p2)])
            }
            ChecksumType::FullObject => b64(&digest(alg, &whole)),
        };
        // A whole-object checksum the parts do not give, or one that is not even a
        // digest, is refused and completes nothing; the right one completes.
        for wrong in [b64(&digest(alg, b"other")), "bad".to_string()] {
            let mut i = complete_input("k", &u.upload_id, parts.clone());
            i.checksum = Some((alg, wrong));
            assert_eq!(
                env.svc.complete_multipart(i).await.unwrap_err(),
                Error::ChecksumMismatch(alg.header_name().into()),
                "{alg:?}"
            );
        }
        if expect_type == ChecksumType::Composite {
            let mut i = complete_input("k", &u.upload_id, parts.clone());
            i.checksum = Some((alg, want.replace("-2", "-3")));
            assert!(env.svc.complete_multipart(i).await.is_err(), "{alg:?}");
        }
        let other = if alg == ChecksumAlgorithm::Sha1 {
            ChecksumAlgorithm::Sha256
        } else {
            ChecksumAlgorithm::Sha1
        };
        let mut i = complete_input("k", &u.upload_id, parts.clone());
        i.checksum = Some((other, b64(&digest(other, &whole))));
        assert!(matches!(
            env.svc.complete_multipart(i).await,
            Err(Error::InvalidArgument(_))
        ));
        let mut i = complete_input("k", &u.upload_id, parts);
        i.checksum = Some((alg, want.clone()));
        let rec = env.svc.complete_multipart(i).await.unwrap();
        assert_eq!(
            coffer_core::checksum::get_checksum(&rec.checksums, alg),
            Some(want.as_str()),
            "{alg:?}"
        );
        assert_eq!(
            rec.checksums.checksum_type.as_deref(),
            Some(expect_type.as_str())
        );
    }
    assert!(matches!(
        create(
            &env,
            "k",
            Some(ChecksumAlgorithm::Sha256),
            Some(ChecksumType::FullObject)
        )
        .await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        create(
            &env,
            "k",
            Some(ChecksumAlgorithm::Crc64Nvme),
            Some(ChecksumType::Composite)
        )
        .await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        create(&env, "k", None, Some(ChecksumType::Composite)).await,
        Err(Error::InvalidArgument(_))
    ));
    // A part naming another algorithm than the upload's.
    let u = create(&env, "k", Some(ChecksumAlgorithm::Crc32), None)
        .await
        .unwrap();
    let mut i = part_input("k", &u.upload_id, 1, b"x");
    i.checksum.algorithm = Some(ChecksumAlgorithm::Sha1);
    assert!(matches!(
        env.svc.upload_part(i).await,
        Err(Error::InvalidArgument(_))
    ));
    let mut i = part_input("k", &u.upload_id, 1, b"x");
    i.checksum.expected = Some((
        ChecksumAlgorithm::Crc32,
        b64(&digest(ChecksumAlgorithm::Crc32, b"y")),
    ));
    assert_eq!(
        env.svc.upload_part(i).await.unwrap_err(),
        Error::ChecksumMismatch("x-amz-checksum-crc32".into())
    );
}

#[tokio::test]
async fn upload_part_copy_copies_ranges_into_new_blobs() {
    let env = env().await;
    let src = data(THRESHOLD * 4, 5);
    let src_rec = put(&env, "src", &src).await;
    let small = put(&env, "small", b"inline source").await;
    let u = create(&env, "dst", Some(ChecksumAlgorithm::Crc32c), None)
        .await
        .unwrap();
    let copy =
        |n: u32, key: &str, range: Option<(u64, u64)>, cond: ReadConditions| UploadPartCopyInput {
            bucket: BUCKET.into(),
            key: "dst".into(),
            upload_id: u.upload_id.clone(),
            part_number: n,
            src_bucket: BUCKET.into(),
            src_key: key.into(),
            src_range: range,
            src_conditions: cond,
            src_version_id: None,
            src_sse_key: None,
            sse_key: None,
        };
    let p1 = env
        .svc
        .upload_part_copy(copy(
            1,
            "src",
            Some((10, 5 * MIB as u64 + 9)),
            ReadConditions::default(),
        ))
        .await;
    // The source is smaller than that range.
    assert_eq!(p1.unwrap_err(), Error::InvalidRange);
    let p1 = env
        .svc
        .upload_part_copy(copy(1, "src", Some((10, 1009)), ReadConditions::default()))
        .await
        .unwrap();
    assert_eq!(p1.size, 1000);
    assert_eq!(p1.etag, md5_etag(&src[10..1010]));
    assert_eq!(
        p1.checksums.crc32c,
        Some(b64(&digest(ChecksumAlgorithm::Crc32c, &src[10..1010])))
    );
    assert!(!src_rec.data.blob_ids().any(|b| b == p1.blob_id));
    let p2 = env
        .svc
        .upload_part_copy(copy(2, "small", None, ReadConditions::default()))
        .await
        .unwrap();
    assert_eq!(p2.etag, small.etag);
    assert!(matches!(
        env.svc
            .upload_part_copy(copy(3, "src", Some((5, 4)), ReadConditions::default()))
            .await,
        Err(Error::InvalidArgument(_))
    ));
    let cond = ReadConditions {
        if_none_match: Some(src_rec.etag.clone()),
        ..ReadConditions::default()
    };
    assert_eq!(
        env.svc
            .upload_part_copy(copy(3, "src", None, cond))
            .await
            .unwrap_err(),
        Error::PreconditionFailed
    );
    assert_eq!(
        env.svc
            .upload_part_copy(copy(3, "absent", None, ReadConditions::default()))
            .await
            .unwrap_err(),
        Error::NoSuchKey
    );
    let parts = env
        .svc
        .list_parts(BUCKET, "dst", &u.upload_id, 0, 1000)
        .await
        .unwrap();
    assert_eq!(parts.parts.len(), 2);
}

#[tokio::test]
async fn list_parts_paginates() {
    let env = env().await;
    let u = create(&env, "k", None, None).await.unwrap();
    for n in [1, 2, 5, 9] {
        upload(&env, "k", &u.upload_id, n, b"p").await;
    }
    let mut marker = 0;
    let mut seen = Vec::new();
    loop {
        let out = env
            .svc
            .list_parts(BUCKET, "k", &u.upload_id, marker, 3)
            .await
            .unwrap();
        seen.extend(out.parts.iter().map(|p| p.part_number));
        if !out.is_truncated {
            break;
        }
        marker = out.next_part_number_marker.unwrap();
    }
    assert_eq!(seen, [1, 2, 5, 9]);
    let out = env
        .svc
        .list_parts(BUCKET, "k", &u.upload_id, 2, 2)
        .await
        .unwrap();
    assert_eq!(
        out.parts.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        [5, 9]
    );
    assert!(!out.is_truncated);
    assert_eq!(out.upload.upload_id, u.upload_id);
    assert_eq!(
        env.svc
            .list_parts(BUCKET, "other", &u.upload_id, 0, 10)
            .await
            .unwrap_err(),
        Error::NoSuchUpload
    );
}
