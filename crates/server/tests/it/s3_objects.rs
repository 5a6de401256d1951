//! S3 object operations end to end with aws-sdk-s3 (and hand-signed requests where the
//! SDK hides the wire): put/get/head/delete with metadata, standard headers and tags;
//! ranges, conditions and response overrides; conditional writes; Content-MD5 and
//! checksums (failed checks store nothing); copy; listings v1/v2; batch delete; a
//! 100 MiB round trip.

use crate::s3_common::*;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumMode, Delete, MetadataDirective, ObjectIdentifier, TaggingDirective,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::Md5;
use reqwest::Method;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn put_get_head_delete_with_metadata() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "objs").await;
    let expires = DateTime::from_secs(1_900_000_000);
    let put = c
        .put_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .body(ByteStream::from_static(b"hello world"))
        .content_type("text/plain")
        .content_disposition("attachment; filename=\"h.txt\"")
        .content_language("en")
        .content_encoding("identity")
        .cache_control("max-age=60")
        .expires(expires)
        .metadata("color", "blue")
        .metadata("Shape", "round")
        .tagging("project=coffer&team=s3")
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_string();
    assert_eq!(
        etag,
        format!("\"{}\"", hex::encode(Md5::digest(b"hello world")))
    );

    let g = c
        .get_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(g.e_tag(), Some(etag.as_str()));
    assert_eq!(g.content_length(), Some(11));
    assert_eq!(g.content_type(), Some("text/plain"));
    assert_eq!(
        g.content_disposition(),
        Some("attachment; filename=\"h.txt\"")
    );
    assert_eq!(g.content_language(), Some("en"));
    assert_eq!(g.content_encoding(), Some("identity"));
    assert_eq!(g.cache_control(), Some("max-age=60"));
    assert_eq!(g.tag_count(), Some(2));
    assert!(g.last_modified().is_some());
    let meta = g.metadata().unwrap();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(meta.get("shape").map(String::as_str), Some("round"));
    assert_eq!(
        g.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hello world"
    );

    let h = c
        .head_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_length(), Some(11));
    assert_eq!(h.e_tag(), Some(etag.as_str()));
    assert_eq!(h.content_type(), Some("text/plain"));
    assert_eq!(
        h.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    #[allow(deprecated)]
    let exp = h.expires();
    assert_eq!(exp.map(|e| e.secs()), Some(1_900_000_000));

    assert_s3_err(
        c.get_object().bucket("objs").key("nope").send().await,
        "NoSuchKey",
        404,
    );
    assert_s3_err(
        c.head_object().bucket("objs").key("nope").send().await,
        "NotFound",
        404,
    );
    assert_s3_err(
        c.get_object()
            .bucket("no-such-bucket")
            .key("k")
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    c.delete_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .send()
        .await
        .unwrap();
    assert!(!exists(&c, "objs", "dir/hello.txt").await);
    // Deleting an absent key succeeds.
    c.delete_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .send()
        .await
        .unwrap();
    // Invalid tags are refused and store nothing.
    assert_s3_err(
        c.put_object()
            .bucket("objs")
            .key("tagged")
            .body(ByteStream::from_static(b"x"))
            .tagging("a=1&a=2")
            .send()
            .await,
        "InvalidTag",
        400,
    );
    assert!(!exists(&c, "objs", "tagged").await);
    // Unsupported options are refused, not ignored.
    assert_s3_err(
        c.put_object()
            .bucket("objs")
            .key("acl")
            .body(ByteStream::from_static(b"x"))
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    assert!(!exists(&c, "objs", "acl").await);
}

#[tokio::test]
async fn ranges_conditions_and_overrides() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "ranges").await;
    let data = bytes_of(1000, 7);
    let etag = put(&c, "ranges", "obj", &data).await;
    let range = |r: &'static str| c.get_object().bucket("ranges").key("obj").range(r).send();

    let g = range("bytes=0-9").await.unwrap();
    assert_eq!(g.content_range(), Some("bytes 0-9/1000"));
    assert_eq!(g.content_length(), Some(10));
    assert_eq!(
        g.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[..10]
    );
    let g = range("bytes=990-").await.unwrap();
    assert_eq!(
        g.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[990..]
    );
    let g = range("bytes=-5").await.unwrap();
    assert_eq!(g.content_range(), Some("bytes 995-999/1000"));
    assert_eq!(
        g.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[995..]
    );
    assert_s3_err(range("bytes=2000-").await, "InvalidRange", 416);

    let get = || c.get_object().bucket("ranges").key("obj");
    get().if_match(&etag).send().await.unwrap();
    assert_s3_err(
        get().if_match("\"0000\"").send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(get().if_none_match(&etag).send().await, "NotModified", 304);
    get().if_none_match("\"0000\"").send().await.unwrap();
    let future = DateTime::from_secs(4_000_000_000);
    let past = DateTime::from_secs(1_000_000_000);
    assert_s3_err(
        get().if_modified_since(future).send().await,
        "NotModified",
        304,
    );
    get().if_modified_since(past).send().await.unwrap();
    // A 304 names the object's ETag (RFC 9110 §15.4.5), on GET and HEAD alike.
    let e = get().if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(header_of(&e, "etag"), Some(etag.clone()));
    let head = c.head_object().bucket("ranges").key("obj");
    let e = head.if_modified_since(future).send().await.unwrap_err();
    assert_eq!(status_of(&e), Some(304));
    assert_eq!(header_of(&e, "etag"), Some(etag.clone()));
    assert_s3_err(
        get().if_unmodified_since(past).send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        c.head_object()
            .bucket("ranges")
            .key("obj")
            .if_match("\"0000\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );

    let g = get()
        .response_content_type("application/x-test")
        .response_content_disposition("inline")
        .response_cache_control("no-store")
        .response_content_language("de")
        .response_expires(DateTime::from_secs(1_900_000_000))
        .send()
        .await
        .unwrap();
    assert_eq!(g.content_type(), Some("application/x-test"));
    assert_eq!(g.content_disposition(), Some("inline"));
    assert_eq!(g.cache_control(), Some("no-store"));
    assert_eq!(g.content_language(), Some("de"));
    #[allow(deprecated)]
    let exp = g.expires();
    assert_eq!(exp.map(|e| e.secs()), Some(1_900_000_000));
}

#[tokio::test]
async fn conditional_writes() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "cond").await;
    let p = |body: &'static [u8]| {
        c.put_object()
            .bucket("cond")
            .key("k")
            .body(ByteStream::from_static(body))
    };
    p(b"one").if_none_match("*").send().await.unwrap();
    assert_s3_err(
        p(b"two").if_none_match("*").send().await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(get(&c, "cond", "k").await, b"one");
    let etag = c
        .head_object()
        .bucket("cond")
        .key("k")
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();
    assert_s3_err(
        p(b"three").if_match("\"0000\"").send().await,
        "PreconditionFailed",
        412,
    );
    p(b"four").if_match(&etag).send().await.unwrap();
    assert_eq!(get(&c, "cond", "k").await, b"four");
}

#[tokio::test]
async fn content_md5_and_checksums() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "sums").await;
    let data = b"checksummed payload".to_vec();
    let md5 = B64.encode(Md5::digest(&data));
    let sha = B64.encode(Sha256::digest(&data));
    let wrong_md5 = B64.encode(Md5::digest(b"something else"));
    let wrong_sha = B64.encode(Sha256::digest(b"something else"));

    let p = |key: &'static str| {
        c.put_object()
            .bucket("sums")
            .key(key)
            .body(ByteStream::from(data.clone()))
    };
    assert_s3_err(
        p("bad-md5").content_md5(&wrong_md5).send().await,
        "BadDigest",
        400,
    );
    assert!(!exists(&c, "sums", "bad-md5").await);
    assert_s3_err(
        p("bad-sha").checksum_sha256(&wrong_sha).send().await,
        "BadDigest",
        400,
    );
    assert!(!exists(&c, "sums", "bad-sha").await);
    assert_s3_err(
        p("bad-crc").checksum_crc32("AAAAAA==").send().await,
        "BadDigest",
        400,
    );
    assert!(!exists(&c, "sums", "bad-crc").await);

    p("good-md5").content_md5(&md5).send().await.unwrap();
    let out = p("good-sha").checksum_sha256(&sha).send().await.unwrap();
    assert_eq!(out.checksum_sha256(), Some(sha.as_str()));
    let g = c
        .get_object()
        .bucket("sums")
        .key("good-sha")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(g.checksum_sha256(), Some(sha.as_str()));
    // Without checksum mode no checksum is returned.
    let h = c
        .head_object()
        .bucket("sums")
        .key("good-sha")
        .send()
        .await
        .unwrap();
    assert_eq!(h.checksum_sha256(), None);
    let h = c
        .head_object()
        .bucket("sums")
        .key("good-sha")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(h.checksum_sha256(), Some(sha.as_str()));
}

#[tokio::test]
async fn copy_object_directives_and_conditions() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "copy-src").await;
    make_bucket(&c, "copy-dst").await;
    c.put_object()
        .bucket("copy-src")
        .key("orig")
        .body(ByteStream::from_static(b"original"))
        .content_type("text/x-orig")
        .metadata("m", "1")
        .tagging("t=1")
        .send()
        .await
        .unwrap();
    let src_etag = c
        .head_object()
        .bucket("copy-src")
        .key("orig")
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();

    // COPY (default): data, metadata and tags come along.
    let out = c
        .copy_object()
        .bucket("copy-dst")
        .key("copied")
        .copy_source("copy-src/orig")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.copy_object_result().and_then(|r| r.e_tag()),
        Some(src_etag.as_str())
    );
    let g = c
        .get_object()
        .bucket("copy-dst")
        .key("copied")
        .send()
        .await
        .unwrap();
    assert_eq!(g.content_type(), Some("text/x-orig"));
    assert_eq!(
        g.metadata().unwrap().get("m").map(String::as_str),
        Some("1")
    );
    assert_eq!(g.tag_count(), Some(1));

    // REPLACE: new metadata and tags.
    c.copy_object()
        .bucket("copy-dst")
        .key("replaced")
        .copy_source("copy-src/orig")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("n", "2")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("a=1&b=2")
        .send()
        .await
        .unwrap();
    let h = c
        .get_object()
        .bucket("copy-dst")
        .key("replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_type(), Some("text/x-new"));
    let meta = h.metadata().unwrap();
    assert_eq!(meta.get("n").map(String::as_str), Some("2"));
    assert!(!meta.contains_key("m"));
    assert_eq!(h.tag_count(), Some(2));

    // A key with characters that need encoding in x-amz-copy-source.
    put(&c, "copy-src", "dir/a b+c", b"spaced").await;
    c.copy_object()
        .bucket("copy-dst")
        .key("spaced")
        .copy_source("copy-src/dir/a%20b%2Bc")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "copy-dst", "spaced").await, b"spaced");

    // Conditions on the source.
    assert_s3_err(
        c.copy_object()
            .bucket("copy-dst")
            .key("cond")
            .copy_source("copy-src/orig")
            .copy_source_if_match("\"0000\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    c.copy_object()
        .bucket("copy-dst")
        .key("cond")
        .copy_source("copy-src/orig")
        .copy_source_if_match(&src_etag)
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.copy_object()
            .bucket("copy-dst")
            .key("cond2")
            .copy_source("copy-src/orig")
            .copy_source_if_none_match(&src_etag)
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    assert!(!exists(&c, "copy-dst", "cond2").await);

    // Onto itself only with REPLACE.
    assert_s3_err(
        c.copy_object()
            .bucket("copy-src")
            .key("orig")
            .copy_source("copy-src/orig")
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    c.copy_object()
        .bucket("copy-src")
        .key("orig")
        .copy_source("copy-src/orig")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("fresh", "yes")
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.copy_object()
            .bucket("copy-dst")
            .key("x")
            .copy_source("copy-src/missing")
            .send()
            .await,
        "NoSuchKey",
        404,
    );
}

#[tokio::test]
async fn listings_v1_and_v2() {
    let (ts, c, key) = setup().await;
    make_bucket(&c, "lists").await;
    let keys = ["a/1", "a/2", "b/1", "c", "d e", "x+y"];
    for k in keys {
        put(&c, "lists", k, k.as_bytes()).await;
    }

    // Delimiter: folders and top-level keys.
    let out = c
        .list_objects_v2()
        .bucket("lists")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["a/", "b/"]);
    let top: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(top, ["c", "d e", "x+y"]);
    assert_eq!(out.key_count(), Some(5));

    // Pagination with opaque continuation tokens.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = c
            .list_objects_v2()
            .bucket("lists")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(out.contents().len() <= 2);
        seen.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(str::to_string);
        assert!(token.is_some());
    }
    assert_eq!(seen, keys);

    let out = c
        .list_objects_v2()
        .bucket("lists")
        .start_after("b/1")
        .send()
        .await
        .unwrap();
    let after: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(after, ["c", "d e", "x+y"]);
    let out = c
        .list_objects_v2()
        .bucket("lists")
        .prefix("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.contents().len(), 2);
    assert!(out.contents()[0].owner().is_none());
    let out = c
        .list_objects_v2()
        .bucket("lists")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    assert!(
        out.contents()
            .iter()
            .all(|o| o.owner().and_then(|o| o.id()).is_some())
    );
    assert!(
        out.contents()
            .iter()
            .all(|o| o.size().is_some() && o.e_tag().is_some())
    );
    assert_s3_err(
        c.list_objects_v2()
            .bucket("lists")
            .continuation_token("garbage!")
            .send()
            .await,
        "InvalidArgument",
        400,
    );

    // v1: NextMarker only with a delimiter.
    let out = c
        .list_objects()
        .bucket("lists")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), None);
    let out = c
        .list_objects()
        .bucket("lists")
        .max_keys(1)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), Some("a/"));
    let out = c
        .list_objects()
        .bucket("lists")
        .marker("c")
        .send()
        .await
        .unwrap();
    let rest: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(rest, ["d e", "x+y"]);
    assert_s3_err(
        c.list_objects().bucket("lists").max_keys(-1).send().await,
        "InvalidArgument",
        400,
    );

    // encoding-type=url on the wire.
    let signer = Signer::new(&ts, &key);
    let http = reqwest::Client::new();
    let r = send(signer.request(
        &http,
        Method::GET,
        "/lists",
        &[
            ("list-type".into(), "2".into()),
            ("encoding-type".into(), "url".into()),
            ("start-after".into(), "c".into()),
        ],
        &[],
        vec![],
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<Key>d%20e</Key>"), "{}", r.body);
    assert!(r.body.contains("<Key>x%2By</Key>"), "{}", r.body);
    assert!(
        r.body.contains("<EncodingType>url</EncodingType>"),
        "{}",
        r.body
    );
    // V1 encodes keys but echoes the prefix as sent (S3; botocore decodes no V1 prefix).
    let r = send(signer.request(
        &http,
        Method::GET,
        "/lists",
        &[
            ("encoding-type".into(), "url".into()),
            ("prefix".into(), "d e".into()),
        ],
        &[],
        vec![],
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<Prefix>d e</Prefix>"), "{}", r.body);
    assert!(r.body.contains("<Key>d%20e</Key>"), "{}", r.body);
    // An empty continuation token lists from the start and is echoed.
    let r = send(signer.request(
        &http,
        Method::GET,
        "/lists",
        &[
            ("list-type".into(), "2".into()),
            ("continuation-token".into(), "".into()),
        ],
        &[],
        vec![],
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("<ContinuationToken></ContinuationToken>")
            || r.body.contains("<ContinuationToken/>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<Key>a/1</Key>"), "{}", r.body);
    let r = send(signer.request(
        &http,
        Method::GET,
        "/lists",
        &[
            ("list-type".into(), "2".into()),
            ("encoding-type".into(), "base64".into()),
        ],
        &[],
        vec![],
    ))
    .await;
    r.assert_err("InvalidArgument", 400);
}

#[tokio::test]
async fn delete_objects_quiet_and_verbose() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "batch").await;
    for i in 0..6 {
        put(&c, "batch", &format!("k{i}"), b"x").await;
    }
    let ids = |ks: &[&str]| {
        Delete::builder().set_objects(Some(
            ks.iter()
                .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                .collect(),
        ))
    };
    let out = c
        .delete_objects()
        .bucket("batch")
        .delete(ids(&["k0", "k1", "missing"]).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, ["k0", "k1", "missing"]);
    assert!(out.errors().is_empty());

    let out = c
        .delete_objects()
        .bucket("batch")
        .delete(ids(&["k2", "k3"]).quiet(true).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(out.deleted().is_empty());
    assert!(out.errors().is_empty());
    for k in ["k0", "k1", "k2", "k3"] {
        assert!(!exists(&c, "batch", k).await, "{k}");
    }
    assert!(exists(&c, "batch", "k4").await);
    assert_s3_err(
        c.delete_objects()
            .bucket("no-such-batch")
            .delete(ids(&["k"]).build().unwrap())
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
}

#[tokio::test]
async fn hundred_mib_round_trip() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "big").await;
    let data = bytes_of(100 * MIB, 42);
    let digest = Sha256::digest(&data);
    let etag = put(&c, "big", "blob.bin", &data).await;
    assert_eq!(etag, format!("\"{}\"", hex::encode(Md5::digest(&data))));
    drop(data);
    let h = c
        .head_object()
        .bucket("big")
        .key("blob.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_length(), Some((100 * MIB) as i64));
    let back = get(&c, "big", "blob.bin").await;
    assert_eq!(back.len(), 100 * MIB);
    assert_eq!(Sha256::digest(&back), digest);
}
