use super::*;
use coffer_core::checksum::{ChecksumAlgorithm, digest, md5_of};
use std::sync::atomic::Ordering;

async fn assert_nothing_stored(env: &Env, key: &str) {
    let listed = env.meta.list_objects(BUCKET, "", "", 10).await.unwrap();
    assert!(listed.objects.is_empty(), "{key}: an object was stored");
    assert_eq!(env.blobs.count(), 0, "{key}: a committed blob was left");
    assert_eq!(env.blobs.open(), 0, "{key}: a temp blob was left");
}

#[tokio::test]
async fn small_objects_are_inline_large_ones_in_one_blob() {
    let env = env().await;
    for (key, n) in [("empty", 0), ("small", 1000), ("edge", THRESHOLD)] {
        let bytes = data(n, 1);
        let rec = put(&env, key, &bytes).await;
        assert!(
            matches!(rec.data, ObjectData::Inline(ref v) if v == &bytes),
            "{key}"
        );
        assert_eq!(rec.etag, md5_etag(&bytes));
        assert_eq!(rec.size, n as u64);
        assert_eq!(read_all(&env, key).await.unwrap(), bytes);
    }
    assert_eq!(env.blobs.count(), 0);

    for (key, n, declared) in [
        ("over", THRESHOLD + 1, true),
        ("big", 3 << 20, true),
        ("undeclared-small", 5000, false),
        ("undeclared-big", (1 << 20) + 77, false),
    ] {
        let bytes = data(n, 2);
        let mut input = put_input(key, &bytes);
        if !declared {
            input.content_length = None;
        }
        let rec = env.svc.put_object(input).await.unwrap();
        match &rec.data {
            ObjectData::Segments(s) => {
                assert!(n > THRESHOLD, "{key}");
                assert_eq!(s.len(), 1);
                assert_eq!(s[0].size, n as u64);
            }
            ObjectData::Inline(_) => assert!(n <= THRESHOLD, "{key}"),
        }
        assert_eq!(rec.etag, md5_etag(&bytes), "{key}");
        assert_eq!(read_all(&env, key).await.unwrap(), bytes, "{key}");
    }
    assert_eq!(env.blobs.count(), 3);
    assert_eq!(env.blobs.open(), 0);
}

#[tokio::test]
async fn small_pieces_are_coalesced_into_mebibyte_chunks() {
    let env = env().await;
    let bytes = data((5 << 20) + 123, 3);
    let mut input = put_input("k", &bytes);
    input.body = body(&bytes, 16 * 1024);
    env.svc.put_object(input).await.unwrap();
    let sizes = env.blobs.0.write_sizes.lock().clone();
    assert_eq!(sizes.iter().sum::<usize>(), bytes.len());
    let (last, rest) = sizes.split_last().unwrap();
    assert!(rest.iter().all(|&s| s >= 1 << 20), "{sizes:?}");
    assert!(*last > 0);
    // Big incoming pieces are split so hashing and writing stay pipelined.
    env.blobs.0.write_sizes.lock().clear();
    let mut input = put_input("k2", &bytes);
    input.body = body(&bytes, bytes.len());
    env.svc.put_object(input).await.unwrap();
    let sizes = env.blobs.0.write_sizes.lock().clone();
    assert!(
        sizes.len() >= 2 && sizes.iter().all(|&s| s <= 4 << 20),
        "{sizes:?}"
    );
    assert_eq!(read_all(&env, "k2").await.unwrap(), bytes);
}

#[tokio::test]
async fn content_md5_is_verified() {
    let env = env().await;
    for n in [100, THRESHOLD * 3] {
        let bytes = data(n, 4);
        let mut input = put_input("k", &bytes);
        input.content_md5 = Some(b64(&md5_of(b"something else")));
        assert_eq!(
            env.svc.put_object(input).await.unwrap_err(),
            Error::BadDigest
        );
        assert_nothing_stored(&env, "k").await;

        let mut input = put_input("k", &bytes);
        input.content_md5 = Some(b64(&md5_of(&bytes)));
        env.svc.put_object(input).await.unwrap();
        env.svc.delete_object(BUCKET, "k").await.unwrap();
        assert_nothing_stored(&env, "k").await;
    }
    let mut input = put_input("k", b"abc");
    input.body = untouchable_body();
    input.content_md5 = Some("%%%not-base64".into());
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::InvalidDigest
    );
    let mut input = put_input("k", b"abc");
    input.body = untouchable_body();
    input.content_md5 = Some(String::new());
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::InvalidDigest
    );
    assert_nothing_stored(&env, "k").await;
}

#[tokio::test]
async fn header_checksums_for_every_algorithm() {
    let env = env().await;
    for (i, alg) in ChecksumAlgorithm::ALL.into_iter().enumerate() {
        for n in [10, THRESHOLD * 2] {
            let bytes = data(n, i as u64);
            let value = b64(&digest(alg, &bytes));
            let mut input = put_input("k", &bytes);
            input.checksum.expected = Some((alg, value.clone()));
            let rec = env.svc.put_object(input).await.unwrap();
            assert_eq!(
                coffer_core::checksum::get_checksum(&rec.checksums, alg),
                Some(value.as_str())
            );
            assert_eq!(rec.checksums.checksum_type.as_deref(), Some("FULL_OBJECT"));

            let mut input = put_input("bad", &bytes);
            input.checksum.expected = Some((alg, b64(&digest(alg, b"other"))));
            assert_eq!(
                env.svc.put_object(input).await.unwrap_err(),
                Error::ChecksumMismatch(alg.header_name().to_string())
            );
            assert!(env.svc.get_object(get_input("bad"), false).await.is_err());
        }
        // Requested (no value): computed and stored.
        let bytes = data(777, 9);
        let mut input = put_input("req", &bytes);
        input.checksum.algorithm = Some(alg);
        let rec = env.svc.put_object(input).await.unwrap();
        assert_eq!(
            coffer_core::checksum::get_checksum(&rec.checksums, alg),
            Some(b64(&digest(alg, &bytes)).as_str())
        );
    }
    assert_eq!(env.blobs.open(), 0);
    let mut input = put_input("badlen", b"x");
    // A value that is no CRC32 (3 bytes) can match nothing: a mismatch, nothing stored.
    input.checksum.expected = Some((ChecksumAlgorithm::Crc32, "AAAA".into()));
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::ChecksumMismatch("x-amz-checksum-crc32".into())
    );
    assert!(
        env.svc
            .get_object(get_input("badlen"), false)
            .await
            .is_err()
    );
    let mut input = put_input("k", b"x");
    input.checksum.algorithm = Some(ChecksumAlgorithm::Sha256);
    input.checksum.expected = Some((
        ChecksumAlgorithm::Crc32,
        b64(&digest(ChecksumAlgorithm::Crc32, b"x")),
    ));
    assert!(matches!(
        env.svc.put_object(input).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn trailer_checksums() {
    let env = env().await;
    let bytes = data(THRESHOLD * 2, 5);
    let good = b64(&digest(ChecksumAlgorithm::Sha256, &bytes));

    let mut input = put_input("k", &bytes);
    input.checksum.algorithm = Some(ChecksumAlgorithm::Sha256);
    let g = good.clone();
    input.checksum.trailer = Some(Box::new(move || Some((ChecksumAlgorithm::Sha256, g))));
    let rec = env.svc.put_object(input).await.unwrap();
    assert_eq!(rec.checksums.sha256.as_deref(), Some(good.as_str()));

    let mut input = put_input("bad", &bytes);
    input.checksum.algorithm = Some(ChecksumAlgorithm::Sha256);
    let wrong = b64(&digest(ChecksumAlgorithm::Sha256, b"nope"));
    input.checksum.trailer = Some(Box::new(move || Some((ChecksumAlgorithm::Sha256, wrong))));
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::ChecksumMismatch("x-amz-checksum-sha256".into())
    );

    // Unannounced: CRCs are computed speculatively.
    let crc = b64(&digest(ChecksumAlgorithm::Crc32c, &bytes));
    let mut input = put_input("spec", &bytes);
    let c = crc.clone();
    input.checksum.trailer = Some(Box::new(move || Some((ChecksumAlgorithm::Crc32c, c))));
    let rec = env.svc.put_object(input).await.unwrap();
    assert_eq!(rec.checksums.crc32c.as_deref(), Some(crc.as_str()));
    assert_eq!(rec.checksums.crc32, None);

    let mut input = put_input("spec-sha", &bytes);
    let g = good.clone();
    input.checksum.trailer = Some(Box::new(move || Some((ChecksumAlgorithm::Sha256, g))));
    assert!(matches!(
        env.svc.put_object(input).await,
        Err(Error::InvalidArgument(_))
    ));

    // Announced one algorithm, trailer carries another.
    let mut input = put_input("mismatch", &bytes);
    input.checksum.algorithm = Some(ChecksumAlgorithm::Sha256);
    input.checksum.trailer = Some(Box::new(move || Some((ChecksumAlgorithm::Crc32c, crc))));
    assert!(matches!(
        env.svc.put_object(input).await,
        Err(Error::InvalidArgument(_))
    ));

    // No trailer after all: nothing to verify, the announced algorithm is stored.
    let mut input = put_input("none", &bytes);
    input.checksum.algorithm = Some(ChecksumAlgorithm::Sha256);
    input.checksum.trailer = Some(Box::new(|| None));
    let rec = env.svc.put_object(input).await.unwrap();
    assert_eq!(rec.checksums.sha256.as_deref(), Some(good.as_str()));

    let listed = env.meta.list_objects(BUCKET, "", "", 100).await.unwrap();
    let keys: Vec<String> = listed.objects.into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["k", "none", "spec"]);
    assert_eq!(env.blobs.count(), 3);
    assert_eq!(env.blobs.open(), 0);
}

#[tokio::test]
async fn wrong_lengths_and_broken_streams_store_nothing() {
    let env = env().await;
    for n in [1000, THRESHOLD * 3] {
        let bytes = data(n, 6);
        let mut short = put_input("k", &bytes);
        short.content_length = Some(n as u64 + 1);
        assert_eq!(
            env.svc.put_object(short).await.unwrap_err(),
            Error::IncompleteBody
        );
        assert_nothing_stored(&env, "k").await;

        let mut long = put_input("k", &bytes);
        long.content_length = Some(n as u64 - 1);
        assert_eq!(
            env.svc.put_object(long).await.unwrap_err(),
            Error::IncompleteBody
        );
        assert_nothing_stored(&env, "k").await;

        let mut cut = put_input("k", &bytes);
        cut.body = failing_body(&bytes[..n / 2], std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(
            env.svc.put_object(cut).await.unwrap_err(),
            Error::IncompleteBody
        );
        assert_nothing_stored(&env, "k").await;

        let mut sig = put_input("k", &bytes);
        sig.body = failing_body(
            &bytes[..n / 2],
            std::io::Error::new(std::io::ErrorKind::InvalidData, "chunk signature mismatch"),
        );
        let err = env.svc.put_object(sig).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(ref m) if m.contains("signature")),
            "{err:?}"
        );
        assert_nothing_stored(&env, "k").await;

        let mut wrapped = put_input("k", &bytes);
        wrapped.body = failing_body(
            &bytes[..n / 2],
            std::io::Error::other(Error::PermissionDenied("bad chunk".into())),
        );
        assert_eq!(
            env.svc.put_object(wrapped).await.unwrap_err(),
            Error::PermissionDenied("bad chunk".into())
        );
        assert_nothing_stored(&env, "k").await;
    }
}

#[tokio::test]
async fn limits_and_bad_names() {
    let env = env().await;
    let mut input = put_input("k", b"");
    input.body = untouchable_body();
    input.content_length = Some((5 << 30) + 1);
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::EntityTooLarge
    );

    let mut input = put_input("", b"x");
    input.body = untouchable_body();
    assert!(matches!(
        env.svc.put_object(input).await,
        Err(Error::InvalidArgument(_))
    ));
    let mut input = put_input(&"k".repeat(1025), b"x");
    input.body = untouchable_body();
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::KeyTooLong
    );
    put(&env, &"k".repeat(1024), b"x").await;

    let mut input = put_input("k", b"x");
    input.body = untouchable_body();
    input.user_metadata.insert("a".into(), "v".repeat(2048));
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::MetadataTooLarge
    );
    let mut input = put_input("meta", b"x");
    input.user_metadata.insert("a".into(), "v".repeat(2047));
    env.svc.put_object(input).await.unwrap();

    let mut input = put_input("k", b"x");
    input.body = untouchable_body();
    input.tags = (0..11).map(|i| (format!("t{i}"), "v".into())).collect();
    assert!(matches!(
        env.svc.put_object(input).await,
        Err(Error::InvalidArgument(_))
    ));

    let mut input = put_input("k", b"x");
    input.body = untouchable_body();
    input.bucket = "nobucket".into();
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::NoSuchBucket
    );
}

#[tokio::test]
async fn overwrite_and_delete_remove_old_blobs() {
    let env = env().await;
    put(&env, "k", &data(THRESHOLD * 2, 1)).await;
    let first = env.blobs.ids();
    put(&env, "k", &data(THRESHOLD * 2, 2)).await;
    assert_eq!(env.blobs.count(), 1);
    assert!(env.blobs.ids().is_disjoint(&first));
    put(&env, "k", b"tiny").await;
    assert_eq!(env.blobs.count(), 0);
    put(&env, "k", &data(THRESHOLD * 2, 3)).await;
    assert_eq!(env.blobs.count(), 1);
    env.svc.delete_object(BUCKET, "k").await.unwrap();
    assert_eq!(env.blobs.count(), 0);
    env.svc.delete_object(BUCKET, "k").await.unwrap();
    assert_eq!(
        env.svc.delete_object("nobucket", "k").await.unwrap_err(),
        Error::NoSuchBucket
    );
}

#[tokio::test]
async fn conditional_writes() {
    let env = env().await;
    let rec = put(&env, "k", b"one").await;

    let mut input = put_input("k", b"two");
    input.body = untouchable_body();
    input.cond = WriteCondition::IfNoneMatch;
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::PreconditionFailed
    );

    let mut input = put_input("new", b"two");
    input.cond = WriteCondition::IfNoneMatch;
    env.svc.put_object(input).await.unwrap();

    let mut input = put_input("k", b"two");
    input.body = untouchable_body();
    input.cond = WriteCondition::IfMatch("\"0000\"".into());
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::PreconditionFailed
    );

    let mut input = put_input("absent", b"two");
    input.body = untouchable_body();
    input.cond = WriteCondition::IfMatch(rec.etag.clone());
    assert_eq!(
        env.svc.put_object(input).await.unwrap_err(),
        Error::NoSuchKey
    );

    let mut input = put_input("k", b"two");
    input.cond = WriteCondition::IfMatch(rec.etag.trim_matches('"').to_string());
    let rec2 = env.svc.put_object(input).await.unwrap();
    assert_eq!(rec2.etag, md5_etag(b"two"));
}

#[tokio::test]
async fn capacity_cap() {
    let env = env().await;
    env.meta
        .edit_bucket(
            BUCKET,
            Box::new(|b| {
                b.settings.capacity_cap_bytes = Some(THRESHOLD as u64 * 4);
                Ok(())
            }),
        )
        .await
        .unwrap();
    put(&env, "a", &data(THRESHOLD * 3, 1)).await;

    let mut input = put_input("b", &data(THRESHOLD * 2, 2));
    input.body = untouchable_body();
    assert!(matches!(
        env.svc.put_object(input).await,
        Err(Error::QuotaExceeded(_))
    ));
    let mut input = put_input("b", &data(THRESHOLD * 5, 2));
    input.body = untouchable_body();
    assert!(matches!(
        env.svc.put_object(input).await,
        Err(Error::QuotaExceeded(_))
    ));

    // Replacing frees the old object's bytes.
    put(&env, "a", &data(THRESHOLD * 4, 3)).await;
    // Undeclared length: enforced at commit; the blob is removed again.
    let mut input = put_input("c", &data(THRESHOLD * 2, 4));
    input.content_length = None;
    assert!(matches!(
        env.svc.put_object(input).await,
        Err(Error::QuotaExceeded(_))
    ));
    assert_eq!(env.blobs.count(), 1);
    assert_eq!(env.blobs.open(), 0);
    assert_eq!(
        env.svc.bucket_usage(BUCKET).await.unwrap().bytes,
        THRESHOLD as u64 * 4
    );
}

#[tokio::test]
async fn storage_failures_leave_nothing() {
    let env = env().await;
    env.meta.fail_put_object.store(true, Ordering::SeqCst);
    assert!(matches!(
        env.svc
            .put_object(put_input("k", &data(THRESHOLD * 2, 1)))
            .await,
        Err(Error::Internal(_))
    ));
    assert_nothing_stored(&env, "k").await;
    env.meta.fail_put_object.store(false, Ordering::SeqCst);

    env.blobs.0.fail_writes.store(true, Ordering::SeqCst);
    assert!(matches!(
        env.svc
            .put_object(put_input("k", &data(THRESHOLD * 2, 1)))
            .await,
        Err(Error::InsufficientStorage(_))
    ));
    assert_nothing_stored(&env, "k").await;
    // Inline objects never touch the blob store.
    put(&env, "small", b"fine").await;
}

#[tokio::test]
async fn a_cancelled_put_aborts_its_blob() {
    let env = env().await;
    // More than one chunk, so the blob writer is open when the body stalls.
    let head = data(3 << 20, 1);
    let mut input = put_input("k", &head);
    input.content_length = None;
    input.body = Box::pin(body(&head, 64 * 1024).chain(futures::stream::pending()));
    let r = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        env.svc.put_object(input),
    )
    .await;
    assert!(r.is_err(), "the put cannot finish");
    for _ in 0..100 {
        if env.blobs.open() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(env.blobs.open(), 0);
    assert_nothing_stored(&env, "k").await;
}

#[tokio::test]
async fn a_put_cancelled_after_verification_still_completes() {
    let env = env().await;
    env.blobs.0.commit_delay_ms.store(300, Ordering::SeqCst);
    let bytes = data(THRESHOLD * 2, 1);
    let r = tokio::time::timeout(
        std::time::Duration::from_millis(100),
        env.svc.put_object(put_input("k", &bytes)),
    )
    .await;
    assert!(r.is_err(), "the put was cancelled during the blob commit");
    for _ in 0..100 {
        if env.meta.get_object(BUCKET, "k").await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(read_all(&env, "k").await.unwrap(), bytes);
    assert_eq!(env.blobs.count(), 1);
    assert_eq!(env.blobs.open(), 0);
}

/// A write given the bucket's record (as the S3 access check read it) does not read the
/// bucket again; a record of another bucket is ignored.
#[tokio::test]
async fn a_bucket_record_passed_in_is_not_read_again() {
    let env = env().await;
    let record = Arc::new(env.svc.get_bucket(BUCKET).await.unwrap());
    let reads = || env.meta.get_bucket_calls.load(Ordering::SeqCst);
    let before = reads();
    let mut input = put_input("given", b"x");
    input.bucket_record = Some(record.clone());
    env.svc.put_object(input).await.unwrap();
    assert_eq!(reads(), before, "the record was read again");

    let mut other = (*record).clone();
    other.name = "another".into();
    let mut input = put_input("other", b"y");
    input.bucket_record = Some(Arc::new(other));
    env.svc.put_object(input).await.unwrap();
    assert_eq!(reads(), before + 1, "a foreign record must not be used");
    assert_eq!(read_all(&env, "given").await.unwrap(), b"x");
    assert_eq!(read_all(&env, "other").await.unwrap(), b"y");
}
