use super::multipart::{complete_input, create, upload};
use super::*;
use coffer_core::checksum::{ChecksumAlgorithm, digest, get_checksum};

fn copy_input(src: &str, dst: &str) -> CopyObjectInput {
    CopyObjectInput {
        src_bucket: BUCKET.into(),
        src_key: src.into(),
        src_conditions: ReadConditions::default(),
        dst_bucket: BUCKET.into(),
        dst_key: dst.into(),
        metadata: MetadataDirective::Copy,
        tags: None,
        checksum_algorithm: None,
        cond: WriteCondition::None,
        src_version_id: None,
        access: Default::default(),
        src_sse_key: None,
        sse: Default::default(),
    }
}

async fn put_with_meta(env: &Env, key: &str, bytes: &[u8]) -> ObjectRecord {
    let mut input = put_input(key, bytes);
    input.headers.content_type = Some("text/plain".into());
    input.user_metadata.insert("color".into(), "blue".into());
    input.tags.insert("team".into(), "a".into());
    input.checksum.algorithm = Some(ChecksumAlgorithm::Crc32);
    env.svc.put_object(input).await.unwrap()
}

#[tokio::test]
async fn copy_keeps_or_replaces_metadata() {
    let env = env().await;
    let src = put_with_meta(&env, "src", b"inline bytes").await;
    let c = env.svc.copy_object(copy_input("src", "dst")).await.unwrap();
    assert!(matches!(c.data, ObjectData::Inline(ref v) if v == b"inline bytes"));
    assert_eq!(c.etag, src.etag);
    assert_eq!(c.headers, src.headers);
    assert_eq!(c.user_metadata, src.user_metadata);
    assert_eq!(c.tags, src.tags);
    assert_eq!(c.checksums.crc32, src.checksums.crc32);

    let mut input = copy_input("src", "dst2");
    input.metadata = MetadataDirective::Replace {
        headers: ObjectHeaders {
            content_type: Some("application/json".into()),
            ..ObjectHeaders::default()
        },
        user_metadata: [("shape".to_string(), "round".to_string())].into(),
    };
    input.tags = Some(BTreeMap::new());
    let c = env.svc.copy_object(input).await.unwrap();
    assert_eq!(c.headers.content_type.as_deref(), Some("application/json"));
    assert_eq!(c.user_metadata.len(), 1);
    assert!(c.tags.is_empty());
    assert_eq!(read_all(&env, "dst2").await.unwrap(), b"inline bytes");

    let mut input = copy_input("src", "dst3");
    input.metadata = MetadataDirective::Replace {
        headers: ObjectHeaders::default(),
        user_metadata: [("big".to_string(), "x".repeat(3000))].into(),
    };
    assert_eq!(
        env.svc.copy_object(input).await.unwrap_err(),
        Error::MetadataTooLarge
    );
}

#[tokio::test]
async fn copy_to_itself_needs_a_change() {
    let env = env().await;
    let big = data(THRESHOLD * 3, 1);
    put_with_meta(&env, "k", &big).await;
    let before = env.blobs.ids();
    let err = env.svc.copy_object(copy_input("k", "k")).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(ref m) if m.contains("copy an object to itself")),
        "{err:?}"
    );

    let mut input = copy_input("k", "k");
    input.metadata = MetadataDirective::Replace {
        headers: ObjectHeaders::default(),
        user_metadata: BTreeMap::new(),
    };
    let c = env.svc.copy_object(input).await.unwrap();
    assert!(c.user_metadata.is_empty());
    // New blob, old one deleted after the commit.
    assert_eq!(env.blobs.count(), 1);
    assert!(env.blobs.ids().is_disjoint(&before));
    assert_eq!(read_all(&env, "k").await.unwrap(), big);

    // Changing the checksum algorithm is a change too.
    let mut input = copy_input("k", "k");
    input.checksum_algorithm = Some(ChecksumAlgorithm::Sha256);
    let c = env.svc.copy_object(input).await.unwrap();
    assert_eq!(
        c.checksums.sha256,
        Some(b64(&digest(ChecksumAlgorithm::Sha256, &big)))
    );
    assert_eq!(c.checksums.crc32, None);
}

#[tokio::test]
async fn segment_copies_get_their_own_blob() {
    let env = env().await;
    let big = data(THRESHOLD * 3, 2);
    let src = put_with_meta(&env, "src", &big).await;
    let c = env.svc.copy_object(copy_input("src", "dst")).await.unwrap();
    let src_ids: Vec<&str> = src.data.blob_ids().collect();
    let dst_ids: Vec<&str> = c.data.blob_ids().collect();
    assert_eq!(dst_ids.len(), 1);
    assert_ne!(src_ids, dst_ids);
    assert_eq!(c.etag, src.etag);
    assert_eq!(c.checksums.crc32, src.checksums.crc32);
    env.svc.delete_object(BUCKET, "src").await.unwrap();
    assert_eq!(read_all(&env, "dst").await.unwrap(), big);
    assert_eq!(env.blobs.open(), 0);
}

#[tokio::test]
async fn multipart_sources_become_single_part_objects() {
    let env = env().await;
    let u = create(&env, "mp", Some(ChecksumAlgorithm::Crc32), None)
        .await
        .unwrap();
    let p1 = data(5 << 20, 1);
    let p2 = data(1234, 2);
    let r1 = upload(&env, "mp", &u.upload_id, 1, &p1).await;
    let r2 = upload(&env, "mp", &u.upload_id, 2, &p2).await;
    let parts = [&r1, &r2]
        .iter()
        .map(|p| CompletedPart {
            part_number: p.part_number,
            etag: p.etag.clone(),
            checksums: Checksums::default(),
        })
        .collect();
    let mp = env
        .svc
        .complete_multipart(complete_input("mp", &u.upload_id, parts))
        .await
        .unwrap();
    assert!(mp.checksums.crc32.as_deref().unwrap().ends_with("-2"));
    let mut whole = p1.clone();
    whole.extend_from_slice(&p2);

    let c = env.svc.copy_object(copy_input("mp", "flat")).await.unwrap();
    assert_eq!(c.etag, md5_etag(&whole));
    assert!(c.parts.is_empty());
    assert_eq!(
        c.checksums.crc32,
        Some(b64(&digest(ChecksumAlgorithm::Crc32, &whole)))
    );
    assert_eq!(c.checksums.checksum_type.as_deref(), Some("FULL_OBJECT"));
    assert_eq!(c.headers, mp.headers);
    assert_eq!(read_all(&env, "flat").await.unwrap(), whole);

    let mut input = copy_input("mp", "flat2");
    input.checksum_algorithm = Some(ChecksumAlgorithm::Crc64Nvme);
    let c = env.svc.copy_object(input).await.unwrap();
    assert_eq!(
        get_checksum(&c.checksums, ChecksumAlgorithm::Crc64Nvme),
        Some(b64(&digest(ChecksumAlgorithm::Crc64Nvme, &whole)).as_str())
    );
    assert_eq!(c.checksums.crc32, None);
}

#[tokio::test]
async fn copy_source_conditions_and_errors() {
    let env = env().await;
    let src = put(&env, "src", b"abc").await;
    let lm = src.last_modified;
    let cases = [
        (
            ReadConditions {
                if_match: Some("\"zzz\"".into()),
                ..Default::default()
            },
            Some(Error::PreconditionFailed),
        ),
        (
            ReadConditions {
                if_none_match: Some(src.etag.clone()),
                ..Default::default()
            },
            Some(Error::PreconditionFailed),
        ),
        (
            ReadConditions {
                if_modified_since: Some(lm + time::Duration::seconds(5)),
                ..Default::default()
            },
            Some(Error::PreconditionFailed),
        ),
        (
            ReadConditions {
                if_unmodified_since: Some(lm - time::Duration::seconds(5)),
                ..Default::default()
            },
            Some(Error::PreconditionFailed),
        ),
        (
            ReadConditions {
                if_match: Some(src.etag.clone()),
                if_unmodified_since: Some(lm - time::Duration::seconds(5)),
                ..Default::default()
            },
            None,
        ),
        (
            ReadConditions {
                if_none_match: Some("\"zzz\"".into()),
                if_modified_since: Some(lm + time::Duration::seconds(5)),
                ..Default::default()
            },
            None,
        ),
    ];
    for (i, (cond, want)) in cases.into_iter().enumerate() {
        let mut input = copy_input("src", "dst");
        input.src_conditions = cond;
        assert_eq!(env.svc.copy_object(input).await.err(), want, "case {i}");
    }
    assert_eq!(
        env.svc
            .copy_object(copy_input("absent", "dst"))
            .await
            .unwrap_err(),
        Error::NoSuchKey
    );
    let mut input = copy_input("src", "dst");
    input.src_bucket = "nobucket".into();
    assert_eq!(
        env.svc.copy_object(input).await.unwrap_err(),
        Error::NoSuchBucket
    );
    let mut input = copy_input("src", "dst");
    input.dst_bucket = "nobucket".into();
    assert_eq!(
        env.svc.copy_object(input).await.unwrap_err(),
        Error::NoSuchBucket
    );
    let mut input = copy_input("src", "dst");
    input.cond = WriteCondition::IfNoneMatch;
    assert_eq!(
        env.svc.copy_object(input).await.unwrap_err(),
        Error::PreconditionFailed
    );
    assert_eq!(env.blobs.open(), 0);
}
