use super::*;
use coffer_core::blob::BlobStore;
use time::OffsetDateTime;

/// Stores an object made of blob segments of the given sizes directly in the stores;
/// with `multipart` its parts mirror the segments.
pub async fn seed_segments(env: &Env, key: &str, sizes: &[usize], multipart: bool) -> Vec<u8> {
    let mut all = Vec::new();
    let mut segments = Vec::new();
    let mut parts = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let bytes = data(n, 100 + i as u64);
        let mut w = env.blobs.create().await.unwrap();
        w.write(Bytes::from(bytes.clone())).await.unwrap();
        let id = w.commit().await.unwrap();
        segments.push(Segment {
            blob_id: id,
            size: n as u64,
            key_salt: None,
        });
        parts.push(ObjectPart {
            part_number: i as u32 + 1,
            size: n as u64,
            etag: md5_etag(&bytes),
            checksums: Checksums::default(),
        });
        all.extend_from_slice(&bytes);
    }
    let record = ObjectRecord {
        inline_crc32c: None,
        upload_id: None,
        owner_org: None,
        acl: None,
        retention: None,
        legal_hold: false,
        v: 1,
        bucket: BUCKET.into(),
        key: key.into(),
        size: all.len() as u64,
        etag: if multipart {
            format!("\"00-{}\"", sizes.len())
        } else {
            md5_etag(&all)
        },
        last_modified: OffsetDateTime::now_utc(),
        headers: ObjectHeaders::default(),
        user_metadata: BTreeMap::new(),
        checksums: Checksums::default(),
        parts: if multipart { parts } else { Vec::new() },
        tags: BTreeMap::new(),
        data: ObjectData::Segments(segments),
        version_id: None,
        encryption: None,
    };
    store_record(env, &record).await;
    all
}

/// The blob ids of `key`'s segments, in order.
async fn segment_ids(env: &Env, key: &str) -> Vec<String> {
    let record = env.meta.get_object(BUCKET, key).await.unwrap().unwrap();
    record.data.blob_ids().map(str::to_string).collect()
}

async fn get_range(
    env: &Env,
    key: &str,
    r: ByteRange,
) -> Result<(Option<(u64, u64)>, Vec<u8>), Error> {
    let mut input = get_input(key);
    input.range = Some(r);
    let out = env.svc.get_object(input, true).await?;
    let body = collect(out.body.unwrap()).await;
    assert_eq!(out.content_length, body.len() as u64);
    Ok((out.range, body))
}

#[tokio::test]
async fn ranges_over_inline_and_segmented_objects() {
    let env = env().await;
    let inline = data(1000, 1);
    put(&env, "inline", &inline).await;
    let seg = seed_segments(&env, "seg", &[300, 1, 0, 500, 199], false).await;
    put(&env, "empty", b"").await;
    use ByteRange::*;
    for (key, all) in [("inline", &inline), ("seg", &seg)] {
        let n = all.len() as u64;
        let cases = [
            (Bounded(0, 0), Some((0, 0))),
            (Bounded(0, n - 1), Some((0, n - 1))),
            (Bounded(250, 310), Some((250, 310))),
            (Bounded(299, 301), Some((299, 301))),
            (Bounded(301, 801), Some((301, 801))),
            (Bounded(5, n + 100), Some((5, n - 1))),
            (From(0), Some((0, n - 1))),
            (From(n - 1), Some((n - 1, n - 1))),
            (Suffix(1), Some((n - 1, n - 1))),
            (Suffix(200), Some((n - 200, n - 1))),
            (Suffix(n + 5), Some((0, n - 1))),
            (Bounded(9, 3), None),
        ];
        for (r, want) in cases {
            let (got, bytes) = get_range(&env, key, r).await.unwrap();
            assert_eq!(got, want, "{key} {r:?}");
            let (a, b) = want.unwrap_or((0, n - 1));
            assert_eq!(bytes, all[a as usize..=b as usize], "{key} {r:?}");
        }
        for r in [Bounded(n, n + 5), From(n), From(n + 1), Suffix(0)] {
            assert_eq!(
                get_range(&env, key, r).await.unwrap_err(),
                Error::InvalidRange,
                "{key} {r:?}"
            );
        }
    }
    for r in [Bounded(0, 0), From(0), Suffix(1)] {
        assert_eq!(
            get_range(&env, "empty", r).await.unwrap_err(),
            Error::InvalidRange
        );
    }
    assert_eq!(read_all(&env, "empty").await.unwrap(), b"");
}

#[tokio::test]
async fn segments_are_opened_lazily_and_only_when_overlapping() {
    let env = env().await;
    let all = seed_segments(&env, "seg", &[1000; 5], false).await;
    let out = env.svc.get_object(get_input("seg"), true).await.unwrap();
    assert_eq!(
        env.blobs.reads(),
        1,
        "only the first segment is opened up front"
    );
    let mut body = out.body.unwrap();
    let first = body.next().await.unwrap().unwrap();
    assert_eq!(first, all[..1000]);
    assert_eq!(env.blobs.reads(), 1);
    let mut rest = first.to_vec();
    rest.extend(collect(body).await);
    assert_eq!(rest, all);
    assert_eq!(env.blobs.reads(), 5);

    let before = env.blobs.reads();
    let (_, bytes) = get_range(&env, "seg", ByteRange::Bounded(2100, 2200))
        .await
        .unwrap();
    assert_eq!(bytes, all[2100..=2200]);
    assert_eq!(env.blobs.reads() - before, 1);

    // HEAD opens nothing.
    let before = env.blobs.reads();
    let out = env.svc.get_object(get_input("seg"), false).await.unwrap();
    assert!(out.body.is_none());
    assert_eq!(out.content_length, 5000);
    assert_eq!(out.record.data, ObjectData::Inline(Vec::new()));
    assert_eq!(env.blobs.reads(), before);
}

#[tokio::test]
async fn a_missing_blob_fails_before_the_response() {
    let env = env().await;
    seed_segments(&env, "seg", &[10, 10], false).await;
    env.blobs.lose(&segment_ids(&env, "seg").await[0]);
    assert!(matches!(
        env.svc.get_object(get_input("seg"), true).await,
        Err(Error::NotFound(_))
    ));
    // A later segment fails mid-stream as an io error.
    seed_segments(&env, "seg2", &[10, 10], false).await;
    env.blobs.lose(&segment_ids(&env, "seg2").await[1]);
    let out = env.svc.get_object(get_input("seg2"), true).await.unwrap();
    let items: Vec<_> = out.body.unwrap().collect().await;
    assert!(items.last().unwrap().is_err());
}

#[tokio::test]
async fn part_numbers() {
    let env = env().await;
    let all = seed_segments(&env, "mp", &[100, 200, 50], true).await;
    for (p, (a, b)) in [(1u32, (0u64, 99u64)), (2, (100, 299)), (3, (300, 349))] {
        let mut input = get_input("mp");
        input.part_number = Some(p);
        let out = env.svc.get_object(input, true).await.unwrap();
        assert_eq!(out.range, Some((a, b)));
        assert_eq!(out.parts_count, Some(3));
        assert_eq!(out.content_length, b - a + 1);
        assert_eq!(
            collect(out.body.unwrap()).await,
            all[a as usize..=b as usize]
        );
    }
    let mut input = get_input("mp");
    input.part_number = Some(4);
    assert_eq!(
        env.svc.get_object(input, true).await.unwrap_err(),
        Error::InvalidPartNumber
    );
    for bad in [0, 10_001] {
        let mut input = get_input("mp");
        input.part_number = Some(bad);
        assert!(matches!(
            env.svc.get_object(input, true).await,
            Err(Error::InvalidArgument(_))
        ));
    }
    let mut input = get_input("mp");
    input.part_number = Some(1);
    input.range = Some(ByteRange::From(0));
    assert!(matches!(
        env.svc.get_object(input, true).await,
        Err(Error::InvalidArgument(_))
    ));

    let single = data(500, 1);
    put(&env, "single", &single).await;
    let mut input = get_input("single");
    input.part_number = Some(1);
    let out = env.svc.get_object(input, true).await.unwrap();
    assert_eq!(out.range, Some((0, 499)));
    assert_eq!(out.parts_count, None);
    assert_eq!(collect(out.body.unwrap()).await, single);
    let mut input = get_input("single");
    input.part_number = Some(2);
    assert_eq!(
        env.svc.get_object(input, true).await.unwrap_err(),
        Error::InvalidPartNumber
    );
}

#[tokio::test]
async fn read_conditions_matrix() {
    let env = env().await;
    let rec = put(&env, "k", b"hello").await;
    let etag = rec.etag.clone();
    let lm = rec.last_modified;
    let before = lm - time::Duration::seconds(10);
    let after = lm + time::Duration::seconds(10);
    let some = |s: &str| Some(s.to_string());
    // A 304 names the object's ETag.
    let not_modified = Error::NotModified { etag: etag.clone() };
    type Row = (
        Option<String>,
        Option<String>,
        Option<OffsetDateTime>,
        Option<OffsetDateTime>,
        Option<Error>,
    );
    let rows: Vec<Row> = vec![
        (None, None, None, None, None),
        (Some(etag.clone()), None, None, None, None),
        (some(etag.trim_matches('"')), None, None, None, None),
        (some("*"), None, None, None, None),
        (some("\"x\", ").map(|s| s + &etag), None, None, None, None),
        (
            some("\"other\""),
            None,
            None,
            None,
            Some(Error::PreconditionFailed),
        ),
        (
            None,
            Some(etag.clone()),
            None,
            None,
            Some(not_modified.clone()),
        ),
        (None, some("*"), None, None, Some(not_modified.clone())),
        (
            None,
            some("W/").map(|s| s + &etag),
            None,
            None,
            Some(not_modified.clone()),
        ),
        (None, some("\"other\""), None, None, None),
        (None, None, Some(before), None, None),
        (None, None, Some(lm), None, Some(not_modified.clone())),
        (None, None, Some(after), None, Some(not_modified.clone())),
        (None, None, None, Some(after), None),
        (None, None, None, Some(lm), None),
        (
            None,
            None,
            None,
            Some(before),
            Some(Error::PreconditionFailed),
        ),
        // If-Match wins over a failing If-Unmodified-Since.
        (Some(etag.clone()), None, None, Some(before), None),
        // If-None-Match (not matching) overrides If-Modified-Since.
        (None, some("\"other\""), Some(after), None, None),
        // Both fail: 412 before 304.
        (
            some("\"other\""),
            Some(etag.clone()),
            None,
            None,
            Some(Error::PreconditionFailed),
        ),
        (
            None,
            Some(etag.clone()),
            Some(before),
            None,
            Some(not_modified.clone()),
        ),
        (
            None,
            None,
            Some(after),
            Some(before),
            Some(Error::PreconditionFailed),
        ),
    ];
    for (i, (im, inm, ims, ius, want)) in rows.into_iter().enumerate() {
        let mut input = get_input("k");
        input.conditions = ReadConditions {
            if_match: im,
            if_none_match: inm,
            if_modified_since: ims,
            if_unmodified_since: ius,
            cache_tag: None,
        };
        for want_body in [true, false] {
            let got = env.svc.get_object(input.clone(), want_body).await.err();
            assert_eq!(got, want, "row {i}");
        }
    }
}

#[tokio::test]
async fn missing_objects_and_buckets() {
    let env = env().await;
    assert_eq!(
        env.svc.get_object(get_input("nope"), true).await.err(),
        Some(Error::NoSuchKey)
    );
    let mut input = get_input("nope");
    input.bucket = "nobucket".into();
    assert_eq!(
        env.svc.get_object(input, false).await.err(),
        Some(Error::NoSuchBucket)
    );
}
