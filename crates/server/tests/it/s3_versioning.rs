//! S3 versioning end to end through aws-sdk-s3 (SPEC §4): bucket versioning state,
//! version ids on every write, delete markers, reads and permanent deletes by version id,
//! the `null` version under Suspended, CopyObject from a version, ListObjectVersions with
//! every parameter, exact usage (every stored object version counts), bucket deletion only
//! when no version remains, and the errors and authorization of each operation.

use crate::s3_common::{
    Signer, TestServer, assert_s3_err, dbg_err, exists, get, make_bucket, put, send, setup,
    sha256_hex, status_of,
};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, MfaDeleteStatus,
    ObjectIdentifier, VersioningConfiguration,
};
use reqwest::Method;
use serde_json::json;

async fn set_versioning(c: &Client, bucket: &str, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put versioning: {}", dbg_err(&e)));
}

async fn versioning_status(c: &Client, bucket: &str) -> Option<BucketVersioningStatus> {
    c.get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .status
}

/// Puts and returns the version id S3 answered (None when it sent none).
async fn put_v(c: &Client, bucket: &str, key: &str, body: &[u8]) -> Option<String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {}", dbg_err(&e)))
        .version_id
}

async fn get_version(c: &Client, bucket: &str, key: &str, v: &str) -> Vec<u8> {
    let o = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(v)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}@{v}: {}", dbg_err(&e)));
    assert_eq!(
        o.version_id.as_deref(),
        Some(v).filter(|v| *v != "null").or(o.version_id.as_deref())
    );
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

/// One listed entry: (key, version id, is_latest, size or -1 for a delete marker, etag).
type Entry = (String, String, bool, i64, String);

/// The whole version listing as (versions, delete markers), each in the server's order.
async fn list_all(c: &Client, bucket: &str) -> (Vec<Entry>, Vec<Entry>) {
    let out = c
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("list versions: {}", dbg_err(&e)));
    assert_eq!(out.is_truncated, Some(false));
    entries(&out)
}

fn entries(
    out: &aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput,
) -> (Vec<Entry>, Vec<Entry>) {
    let versions = out
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap().to_string(),
                v.version_id().unwrap().to_string(),
                v.is_latest().unwrap(),
                v.size().unwrap(),
                v.e_tag().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let markers = out
        .delete_markers()
        .iter()
        .map(|m| {
            assert!(m.last_modified().is_some());
            (
                m.key().unwrap().to_string(),
                m.version_id().unwrap().to_string(),
                m.is_latest().unwrap(),
                -1,
                String::new(),
            )
        })
        .collect();
    (versions, markers)
}

fn e(key: &str, v: &str, latest: bool, size: i64, etag: &str) -> Entry {
    (key.into(), v.into(), latest, size, etag.into())
}

/// (STORAGE_BYTES, OBJECT_COUNT) from GetBucketInfo.
async fn usage(ts: &TestServer, bucket: &str) -> (u64, u64) {
    let (status, v) = ts
        .api(
            Method::GET,
            &format!("/v1/cwobject/bucket-info/{bucket}"),
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let get = |kind: &str| -> u64 {
        v["info"]["usage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["measurementType"] == json!(kind))
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    (get("STORAGE_BYTES"), get("OBJECT_COUNT"))
}

fn is_version_id(v: &str) -> bool {
    v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[tokio::test]
async fn puts_deletes_and_suspends_interleaved() {
    let (ts, c, _) = setup().await;
    make_bucket(&c, "vbkt").await;
    assert_eq!(
        versioning_status(&c, "vbkt").await,
        None,
        "never versioned: no status"
    );
    let e0 = put(&c, "vbkt", "k", b"v0").await;
    assert_eq!(
        put_v(&c, "vbkt", "other", b"o").await,
        None,
        "unversioned: no version id"
    );
    let eo = c
        .head_object()
        .bucket("vbkt")
        .key("other")
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();

    set_versioning(&c, "vbkt", BucketVersioningStatus::Enabled).await;
    assert_eq!(
        versioning_status(&c, "vbkt").await,
        Some(BucketVersioningStatus::Enabled)
    );
    let v1 = put_v(&c, "vbkt", "k", b"v1").await.unwrap();
    let v2 = put_v(&c, "vbkt", "k", b"v2").await.unwrap();
    assert!(is_version_id(&v1) && is_version_id(&v2) && v1 != v2);
    let head = c
        .head_object()
        .bucket("vbkt")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(head.version_id.as_deref(), Some(v2.as_str()));
    let e2 = head.e_tag.unwrap();
    assert_eq!(get(&c, "vbkt", "k").await, b"v2");
    assert_eq!(get_version(&c, "vbkt", "k", &v1).await, b"v1");
    assert_eq!(get_version(&c, "vbkt", "k", "null").await, b"v0");
    let h1 = c
        .head_object()
        .bucket("vbkt")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(h1.version_id.as_deref(), Some(v1.as_str()));
    assert_eq!(h1.content_length, Some(2));
    let e1 = h1.e_tag.unwrap();
    // Noncurrent versions count: 4 object versions, 7 bytes.
    assert_eq!(usage(&ts, "vbkt").await, (7, 4));

    // DELETE without a version id: a delete marker.
    let d = c
        .delete_object()
        .bucket("vbkt")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker, Some(true));
    let m1 = d.version_id.unwrap();
    assert!(is_version_id(&m1));
    let err = c
        .get_object()
        .bucket("vbkt")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404));
    let raw = err.raw_response().unwrap();
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.headers().get("x-amz-version-id"), Some(m1.as_str()));
    assert!(!exists(&c, "vbkt", "k").await);
    // GET of the marker by id: 405 with the marker's headers.
    let err = c
        .get_object()
        .bucket("vbkt")
        .key("k")
        .version_id(&m1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(405));
    let raw = err.raw_response().unwrap();
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.headers().get("x-amz-version-id"), Some(m1.as_str()));
    assert_eq!(raw.headers().get("allow"), Some("DELETE"));
    assert_s3_err(
        c.get_object()
            .bucket("vbkt")
            .key("k")
            .version_id(&m1)
            .send()
            .await,
        "MethodNotAllowed",
        405,
    );
    // ListObjects no longer sees k; ListObjectVersions sees everything.
    let l = c.list_objects_v2().bucket("vbkt").send().await.unwrap();
    assert_eq!(
        l.contents()
            .iter()
            .map(|o| o.key().unwrap())
            .collect::<Vec<_>>(),
        ["other"]
    );
    assert_eq!(
        list_all(&c, "vbkt").await,
        (
            vec![
                e("k", &v2, false, 2, &e2),
                e("k", &v1, false, 2, &e1),
                e("k", "null", false, 2, &e0),
                e("other", "null", true, 1, &eo),
            ],
            vec![e("k", &m1, true, -1, "")]
        )
    );
    assert_eq!(usage(&ts, "vbkt").await, (7, 4), "a marker stores nothing");

    // Suspended: writes replace the null version.
    set_versioning(&c, "vbkt", BucketVersioningStatus::Suspended).await;
    assert_eq!(
        versioning_status(&c, "vbkt").await,
        Some(BucketVersioningStatus::Suspended)
    );
    assert_eq!(put_v(&c, "vbkt", "k", b"s1!").await, None);
    assert_eq!(get_version(&c, "vbkt", "k", "null").await, b"s1!");
    assert_eq!(
        usage(&ts, "vbkt").await,
        (8, 4),
        "v0 (2 bytes) replaced by s1 (3 bytes)"
    );
    let es2 = put(&c, "vbkt", "k", b"s2").await;
    assert_eq!(usage(&ts, "vbkt").await, (7, 4));
    let d = c
        .delete_object()
        .bucket("vbkt")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker, Some(true));
    assert_eq!(d.version_id.as_deref(), Some("null"));
    assert_eq!(
        usage(&ts, "vbkt").await,
        (5, 3),
        "the null object went with the marker"
    );
    let _ = es2;

    set_versioning(&c, "vbkt", BucketVersioningStatus::Enabled).await;
    let v3 = put_v(&c, "vbkt", "k", b"v3").await.unwrap();
    let e3 = c
        .head_object()
        .bucket("vbkt")
        .key("k")
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();
    assert_eq!(
        list_all(&c, "vbkt").await,
        (
            vec![
                e("k", &v3, true, 2, &e3),
                e("k", &v2, false, 2, &e2),
                e("k", &v1, false, 2, &e1),
                e("other", "null", true, 1, &eo),
            ],
            vec![e("k", "null", false, -1, ""), e("k", &m1, false, -1, "")]
        )
    );
    assert_eq!(usage(&ts, "vbkt").await, (7, 4));

    // Permanent deletes by id; the newest remaining version becomes current.
    let d = c
        .delete_object()
        .bucket("vbkt")
        .key("k")
        .version_id(&v3)
        .send()
        .await
        .unwrap();
    assert_eq!(d.version_id.as_deref(), Some(v3.as_str()));
    assert_eq!(d.delete_marker, None);
    assert!(
        !exists(&c, "vbkt", "k").await,
        "the null marker is newest again"
    );
    let d = c
        .delete_object()
        .bucket("vbkt")
        .key("k")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker, Some(true));
    assert_eq!(d.version_id.as_deref(), Some("null"));
    c.delete_object()
        .bucket("vbkt")
        .key("k")
        .version_id(&m1)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "vbkt", "k").await, b"v2");
    assert_eq!(
        c.head_object()
            .bucket("vbkt")
            .key("k")
            .send()
            .await
            .unwrap()
            .version_id
            .as_deref(),
        Some(v2.as_str())
    );
    assert_eq!(usage(&ts, "vbkt").await, (5, 3));
    // Deleting a version that does not exist succeeds and changes nothing.
    c.delete_object()
        .bucket("vbkt")
        .key("k")
        .version_id("A".repeat(32))
        .send()
        .await
        .unwrap();
    assert_eq!(usage(&ts, "vbkt").await, (5, 3));

    // CopyObject from a noncurrent version.
    let cp = c
        .copy_object()
        .bucket("vbkt")
        .key("copy")
        .copy_source(format!("vbkt/k?versionId={v1}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", dbg_err(&e)));
    assert_eq!(cp.copy_source_version_id.as_deref(), Some(v1.as_str()));
    let vc = cp.version_id.unwrap();
    assert!(is_version_id(&vc));
    assert_eq!(get(&c, "vbkt", "copy").await, b"v1");
    // Copy from a delete marker version: 400-class error, nothing written.
    let m2 = c
        .delete_object()
        .bucket("vbkt")
        .key("gone")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let r = c
        .copy_object()
        .bucket("vbkt")
        .key("copy2")
        .copy_source(format!("vbkt/gone?versionId={m2}"))
        .send()
        .await;
    assert!(r.is_err());
    assert!(!exists(&c, "vbkt", "copy2").await);

    // Multipart complete creates a version too.
    let up = c
        .create_multipart_upload()
        .bucket("vbkt")
        .key("mp")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id.unwrap();
    let p = c
        .upload_part()
        .bucket("vbkt")
        .key("mp")
        .upload_id(&uid)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket("vbkt")
        .key("mp")
        .upload_id(&uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p.e_tag.unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vmp = done.version_id.unwrap();
    assert!(is_version_id(&vmp));
    assert_eq!(get_version(&c, "vbkt", "mp", &vmp).await, b"part");

    // DeleteObjects: per-key versions and markers.
    let del = c
        .delete_objects()
        .bucket("vbkt")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("k")
                        .version_id(&v1)
                        .build()
                        .unwrap(),
                )
                .objects(ObjectIdentifier::builder().key("mp").build().unwrap())
                .objects(
                    ObjectIdentifier::builder()
                        .key("gone")
                        .version_id(&m2)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(del.errors().is_empty(), "{:?}", del.errors());
    let by_key = |k: &str| {
        del.deleted()
            .iter()
            .find(|d| d.key() == Some(k))
            .unwrap()
            .clone()
    };
    assert_eq!(by_key("k").version_id(), Some(v1.as_str()));
    assert_eq!(by_key("k").delete_marker(), None);
    assert_eq!(by_key("mp").delete_marker(), Some(true));
    assert!(is_version_id(
        by_key("mp").delete_marker_version_id().unwrap()
    ));
    assert_eq!(by_key("gone").delete_marker(), Some(true));
    assert_eq!(by_key("gone").version_id(), Some(m2.as_str()));
    assert!(!exists(&c, "vbkt", "mp").await);
    assert_eq!(get_version(&c, "vbkt", "mp", &vmp).await, b"part");

    // A bucket is deletable only once no version and no marker remains.
    assert_s3_err(
        c.delete_bucket().bucket("vbkt").send().await,
        "BucketNotEmpty",
        409,
    );
    let (versions, markers) = list_all(&c, "vbkt").await;
    for (k, v, ..) in versions.iter().chain(markers.iter()) {
        c.delete_object()
            .bucket("vbkt")
            .key(k)
            .version_id(v)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(list_all(&c, "vbkt").await, (vec![], vec![]));
    assert_eq!(usage(&ts, "vbkt").await, (0, 0));
    c.delete_bucket().bucket("vbkt").send().await.unwrap();
}

#[tokio::test]
async fn list_object_versions_parameters() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "lvbkt").await;
    set_versioning(&c, "lvbkt", BucketVersioningStatus::Enabled).await;
    let mut expected: Vec<(String, String)> = Vec::new();
    for (k, n) in [("a/1", 3), ("a/2", 1), ("b", 2), ("c d", 1)] {
        let mut ids = Vec::new();
        for i in 0..n {
            ids.push(put_v(&c, "lvbkt", k, &vec![b'x'; i + 1]).await.unwrap());
        }
        for id in ids.into_iter().rev() {
            expected.push((k.to_string(), id));
        }
    }
    let m = c
        .delete_object()
        .bucket("lvbkt")
        .key("a/2")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let pos = expected.iter().position(|(k, _)| k == "a/2").unwrap();
    expected.insert(pos, ("a/2".into(), m.clone()));

    // max-keys pagination with key-marker + version-id-marker visits every version once,
    // in (key, newest first) order.
    for page_size in [1, 2, 3] {
        let mut got: Vec<(String, String)> = Vec::new();
        let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
        loop {
            let out = c
                .list_object_versions()
                .bucket("lvbkt")
                .max_keys(page_size)
                .set_key_marker(km.clone())
                .set_version_id_marker(vm.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{}", dbg_err(&e)));
            assert_eq!(out.max_keys, Some(page_size));
            let (vs, ms) = entries(&out);
            let mut page: Vec<(String, String)> = vs
                .iter()
                .chain(ms.iter())
                .map(|(k, v, ..)| (k.clone(), v.clone()))
                .collect();
            // Markers and versions come as separate lists: order the page by the
            // expected global order.
            page.sort_by_key(|x| expected.iter().position(|y| y == x).unwrap());
            assert!(page.len() <= page_size as usize);
            got.extend(page);
            if out.is_truncated != Some(true) {
                assert_eq!(out.next_key_marker, None);
                break;
            }
            km = out.next_key_marker.clone();
            vm = out.next_version_id_marker.clone();
            assert_eq!(
                got.last().map(|(k, v)| (k.clone(), v.clone())),
                km.clone().zip(vm.clone())
            );
        }
        assert_eq!(got, expected, "page size {page_size}");
    }

    // prefix + delimiter: a/ is one common prefix, counted once against max-keys.
    let out = c
        .list_object_versions()
        .bucket("lvbkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.common_prefixes()
            .iter()
            .map(|p| p.prefix().unwrap())
            .collect::<Vec<_>>(),
        ["a/"]
    );
    assert_eq!(out.delimiter(), Some("/"));
    let (vs, ms) = entries(&out);
    assert_eq!(
        vs.iter().map(|v| v.0.as_str()).collect::<Vec<_>>(),
        ["b", "b", "c d"]
    );
    assert!(ms.is_empty());
    let out = c
        .list_object_versions()
        .bucket("lvbkt")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.prefix(), Some("a/"));
    let (vs, ms) = entries(&out);
    assert_eq!(vs.len(), 4);
    assert_eq!(ms, vec![e("a/2", &m, true, -1, "")]);
    assert!(
        vs.iter()
            .filter(|v| v.0 == "a/1")
            .map(|v| v.2)
            .eq([true, false, false])
    );
    assert!(!vs.iter().find(|v| v.0 == "a/2").unwrap().2);
    // delimiter with max-keys 1: the prefix is one entry, then the next key.
    let out = c
        .list_object_versions()
        .bucket("lvbkt")
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated, Some(true));
    assert_eq!(out.next_key_marker.as_deref(), Some("a/"));
    assert_eq!(out.next_version_id_marker, None);
    let out = c
        .list_object_versions()
        .bucket("lvbkt")
        .delimiter("/")
        .key_marker("a/")
        .send()
        .await
        .unwrap();
    assert!(out.common_prefixes().is_empty());
    assert_eq!(out.versions().len(), 3);
    // key-marker alone: keys strictly after it.
    let out = c
        .list_object_versions()
        .bucket("lvbkt")
        .key_marker("b")
        .send()
        .await
        .unwrap();
    assert_eq!(out.key_marker(), Some("b"));
    assert_eq!(
        entries(&out)
            .0
            .iter()
            .map(|v| v.0.as_str())
            .collect::<Vec<_>>(),
        ["c d"]
    );
    // encoding-type=url encodes keys.
    let out = c
        .list_object_versions()
        .bucket("lvbkt")
        .prefix("c")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(out.versions()[0].key(), Some("c%20d"));
    // max-keys 0: nothing, not truncated.
    let out = c
        .list_object_versions()
        .bucket("lvbkt")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(out.versions().is_empty() && out.is_truncated == Some(false));

    // Bad parameters.
    assert_s3_err(
        c.list_object_versions()
            .bucket("lvbkt")
            .version_id_marker(&m)
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.list_object_versions()
            .bucket("lvbkt")
            .key_marker("a/2")
            .version_id_marker("not-a-version")
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.list_object_versions()
            .bucket("lvbkt")
            .key_marker("a/2")
            .version_id_marker("B".repeat(32))
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.list_object_versions()
            .bucket("lvbkt")
            .max_keys(-1)
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.list_object_versions()
            .bucket("lvbkt")
            .encoding_type(aws_sdk_s3::types::EncodingType::from("base64"))
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.list_object_versions().bucket("no-such-lv").send().await,
        "NoSuchBucket",
        404,
    );
}

/// Signed raw request with a body (what the SDK will not send: malformed XML).
async fn raw(
    ts: &TestServer,
    key: &crate::s3_common::TestKey,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &[u8],
) -> crate::s3_common::Raw {
    let signer = Signer::new(ts, key);
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (hs, _) = signer.sign(
        method,
        path,
        &q,
        &[],
        &sha256_hex(body),
        time::OffsetDateTime::now_utc(),
    );
    let qs = q
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut rb = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            format!("{}{path}?{qs}", ts.s3_endpoint),
        )
        .body(body.to_vec());
    for (k, v) in hs {
        rb = rb.header(k, v);
    }
    send(rb).await
}

#[tokio::test]
async fn versioning_errors() {
    let (ts, c, key) = setup().await;
    make_bucket(&c, "vebkt").await;
    put(&c, "vebkt", "k", b"data").await;
    set_versioning(&c, "vebkt", BucketVersioningStatus::Enabled).await;
    let v = put_v(&c, "vebkt", "k", b"data2").await.unwrap();

    // Malformed version ids: InvalidArgument, for every operation taking one.
    assert_s3_err(
        c.get_object()
            .bucket("vebkt")
            .key("k")
            .version_id("nope")
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.head_object()
            .bucket("vebkt")
            .key("k")
            .version_id("nope")
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.delete_object()
            .bucket("vebkt")
            .key("k")
            .version_id("nope")
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.copy_object()
            .bucket("vebkt")
            .key("c")
            .copy_source("vebkt/k?versionId=nope")
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    // Well-formed but absent: NoSuchVersion.
    let absent = "Z".repeat(32);
    assert_s3_err(
        c.get_object()
            .bucket("vebkt")
            .key("k")
            .version_id(&absent)
            .send()
            .await,
        "NoSuchVersion",
        404,
    );
    let err = c
        .head_object()
        .bucket("vebkt")
        .key("k")
        .version_id(&absent)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404), "HEAD has no body: status only");
    assert_s3_err(
        c.copy_object()
            .bucket("vebkt")
            .key("c")
            .copy_source(format!("vebkt/k?versionId={absent}"))
            .send()
            .await,
        "NoSuchVersion",
        404,
    );
    assert_s3_err(
        c.get_object()
            .bucket("vebkt")
            .key("other")
            .version_id(&v)
            .send()
            .await,
        "NoSuchVersion",
        404,
    );
    assert_s3_err(
        c.get_object()
            .bucket("nobkt")
            .key("k")
            .version_id(&v)
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    assert!(!exists(&c, "vebkt", "c").await);

    // Bucket versioning: bad configurations change nothing.
    for status in ["Foo", ""] {
        let r = c
            .put_bucket_versioning()
            .bucket("vebkt")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::from(status))
                    .build(),
            )
            .send()
            .await;
        assert_s3_err(r, "MalformedXML", 400);
    }
    assert_s3_err(
        c.put_bucket_versioning()
            .bucket("vebkt")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .mfa_delete(MfaDeleteStatus::Enabled.as_str().into())
                    .build(),
            )
            .send()
            .await,
        "NotImplemented",
        501,
    );
    let bad = raw(
        &ts,
        &key,
        "PUT",
        "/vebkt",
        &[("versioning", "")],
        b"<VersioningConfiguration><Status>Enabled",
    )
    .await;
    bad.assert_err("MalformedXML", 400);
    let bad = raw(
        &ts,
        &key,
        "PUT",
        "/vebkt",
        &[("versioning", "")],
        b"<VersioningConfiguration></VersioningConfiguration>",
    )
    .await;
    bad.assert_err("MalformedXML", 400);
    assert_eq!(
        versioning_status(&c, "vebkt").await,
        Some(BucketVersioningStatus::Enabled)
    );
    assert_s3_err(
        c.get_bucket_versioning().bucket("nobkt").send().await,
        "NoSuchBucket",
        404,
    );
    assert_s3_err(
        c.put_bucket_versioning()
            .bucket("nobkt")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    assert_eq!(get(&c, "vebkt", "k").await, b"data2");
}

/// Creates a member user with `actions` on everything; returns its client.
async fn member_with(ts: &TestServer, name: &str, actions: &[&str]) -> Client {
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/users",
            Some(&ts.admin_token),
            Some(json!({"name": name, "role": "member"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let uid = v["user"]["uid"].as_str().unwrap().to_string();
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/tokens",
            Some(&ts.admin_token),
            Some(json!({"uid": uid, "durationSeconds": 0, "description": name})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let mut actions = actions.to_vec();
    actions.push("cwobject:CreateAccessKey");
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": format!("p-{name}"),
        "statements": [{"name": "s", "effect": "Allow", "actions": actions,
                        "resources": ["*"], "principals": [format!("coreweave/{uid}")]}]
    }))
    .await;
    let key = ts.create_key(&token).await;
    ts.s3_client(&key)
}

#[tokio::test]
async fn version_operations_need_their_own_actions() {
    // No allow-all: only the admin and the members below get S3 permissions.
    let ts = TestServer::start().await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "admin-s3",
        "statements": [{"name": "all", "effect": "Allow", "actions": ["s3:*"],
                        "resources": ["*"], "principals": [format!("coreweave/{}", ts.admin_uid)]}]
    }))
    .await;
    let admin = ts.s3_client(&ts.create_key(&ts.admin_token).await);
    make_bucket(&admin, "vpbkt").await;
    set_versioning(&admin, "vpbkt", BucketVersioningStatus::Enabled).await;
    let v1 = put_v(&admin, "vpbkt", "k", b"one").await.unwrap();
    put_v(&admin, "vpbkt", "k", b"two").await.unwrap();
    let plain = member_with(
        &ts,
        "plain",
        &[
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:ListBucket",
        ],
    )
    .await;
    // The plain object actions work...
    assert_eq!(get(&plain, "vpbkt", "k").await, b"two");
    // ...but never reach other versions or bucket versioning.
    assert_s3_err(
        plain
            .get_object()
            .bucket("vpbkt")
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        plain
            .head_object()
            .bucket("vpbkt")
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        plain
            .delete_object()
            .bucket("vpbkt")
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        plain
            .copy_object()
            .bucket("vpbkt")
            .key("c")
            .copy_source(format!("vpbkt/k?versionId={v1}"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        plain.list_object_versions().bucket("vpbkt").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        plain.get_bucket_versioning().bucket("vpbkt").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        plain
            .put_bucket_versioning()
            .bucket("vpbkt")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await,
        "AccessDenied",
        403,
    );
    let del = plain
        .delete_objects()
        .bucket("vpbkt")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("k")
                        .version_id(&v1)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(del.errors()[0].code(), Some("AccessDenied"));
    // Nothing changed.
    assert_eq!(get_version(&admin, "vpbkt", "k", &v1).await, b"one");
    assert_eq!(
        versioning_status(&admin, "vpbkt").await,
        Some(BucketVersioningStatus::Enabled)
    );
    assert!(!exists(&admin, "vpbkt", "c").await);

    // With the version actions, the same requests succeed.
    let full = member_with(
        &ts,
        "full",
        &[
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:DeleteObjectVersion",
            "s3:ListBucketVersions",
            "s3:GetBucketVersioning",
            "s3:PutBucketVersioning",
        ],
    )
    .await;
    assert_eq!(get_version(&full, "vpbkt", "k", &v1).await, b"one");
    assert_eq!(
        full.list_object_versions()
            .bucket("vpbkt")
            .send()
            .await
            .unwrap()
            .versions()
            .len(),
        2
    );
    assert_eq!(
        versioning_status(&full, "vpbkt").await,
        Some(BucketVersioningStatus::Enabled)
    );
    set_versioning(&full, "vpbkt", BucketVersioningStatus::Suspended).await;
    full.delete_object()
        .bucket("vpbkt")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_s3_err(
        admin
            .get_object()
            .bucket("vpbkt")
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "NoSuchVersion",
        404,
    );
    // DeleteObject without a version id still needs s3:DeleteObject.
    assert_s3_err(
        full.delete_object().bucket("vpbkt").key("k").send().await,
        "AccessDenied",
        403,
    );
}

#[tokio::test]
async fn upload_part_copy_from_a_version() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "upcv").await;
    set_versioning(&c, "upcv", BucketVersioningStatus::Enabled).await;
    let v1 = put_v(&c, "upcv", "src", b"first").await.unwrap();
    put_v(&c, "upcv", "src", b"second").await.unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("upcv")
        .key("dst")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id.unwrap();
    let part = c
        .upload_part_copy()
        .bucket("upcv")
        .key("dst")
        .upload_id(&uid)
        .part_number(1)
        .copy_source(format!("upcv/src?versionId={v1}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part copy: {}", dbg_err(&e)));
    assert_s3_err(
        c.upload_part_copy()
            .bucket("upcv")
            .key("dst")
            .upload_id(&uid)
            .part_number(2)
            .copy_source(format!("upcv/src?versionId={}", "Q".repeat(32)))
            .send()
            .await,
        "NoSuchVersion",
        404,
    );
    let etag = part.copy_part_result.unwrap().e_tag.unwrap();
    c.complete_multipart_upload()
        .bucket("upcv")
        .key("dst")
        .upload_id(&uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "upcv", "dst").await, b"first");
}
