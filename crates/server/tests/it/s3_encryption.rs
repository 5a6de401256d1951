//! Server-side encryption end to end: boto3 round trips (scripts/sse-boto3.py), the
//! bytes on disk, SSE-C refused over plain HTTP, and bucket policies on the SSE headers.

use crate::s3_common::{assert_s3_err, make_bucket};
use aws_sdk_s3::types::ServerSideEncryption;
use base64::Engine;
use coffer_server::testing::{TestServer, on_postgres};
use md5::Digest;
use serde_json::json;

/// A server that accepts SSE-C keys over plain HTTP (the tests' transport).
async fn insecure_ok() -> TestServer {
    TestServer::start_adjusted(|c| c.allow_insecure_ssec = true).await
}

fn customer_key(raw: &[u8; 32]) -> (String, String) {
    let b64 = base64::engine::general_purpose::STANDARD;
    (b64.encode(raw), b64.encode(md5::Md5::digest(raw)))
}

#[tokio::test]
async fn boto3_round_trips() {
    let ts = insecure_ok().await;
    let (_, key) = ts.s3_client_with_allow_all().await;
    if !coffer_server::testing::python_has("boto3") {
        panic!("boto3 is required (scripts/test-env.sh installs it)");
    }
    let out = coffer_server::testing::run_python_script(
        "sse-boto3.py",
        &[&ts.s3_endpoint, &key.access_key_id, &key.secret_key],
        &[],
    )
    .await;
    coffer_server::testing::assert_script_ok(&out);
}

/// Every file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                out.push(p);
            }
        }
    }
    out
}

fn marked(marker: &str, n: usize) -> Vec<u8> {
    marker.as_bytes().iter().copied().cycle().take(n).collect()
}

#[tokio::test]
async fn stored_bytes_differ_from_the_plaintext() {
    let ts = insecure_ok().await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&s3, "plain").await;
    make_bucket(&s3, "sealed").await;
    coffer_server::testing::set_default_encryption(&s3, "sealed").await;
    // Markers: one per object, repeated through its bytes. Inline-sized (1000 B, in the
    // metadata database) and blob-sized (2 MiB) for each of: in the clear (the control:
    // the scan must find these), bucket default (SSE-S3), and SSE-C.
    let (k, k_md5) = customer_key(&[9; 32]);
    let put = |bucket: &'static str, key: String, body: Vec<u8>, ssec: bool| {
        let mut r = s3.put_object().bucket(bucket).key(key).body(body.into());
        if ssec {
            r = r
                .sse_customer_algorithm("AES256")
                .sse_customer_key(&k)
                .sse_customer_key_md5(&k_md5);
        }
        r.send()
    };
    for (bucket, tag, ssec) in [
        ("plain", "CLEAR", false),
        ("sealed", "SSES3", false),
        ("plain", "SSECC", true),
    ] {
        for (size, n) in [("S", 1000), ("B", 2 << 20)] {
            let marker = format!("<{tag}-{size}-coffer-marker-7f3a9>");
            put(bucket, format!("{tag}-{size}"), marked(&marker, n), ssec)
                .await
                .unwrap();
        }
    }
    let mut dirs = vec![ts.blob_dir()];
    if !on_postgres() {
        // Inline objects are rows of the embedded database (and its WAL).
        dirs.push(ts.data_dir.clone());
    }
    let found = |tag: &str, size: &str| {
        let marker = format!("<{tag}-{size}-coffer-marker-7f3a9>");
        dirs.iter()
            .flat_map(|d| files_containing(d, marker.as_bytes()))
            .collect::<Vec<_>>()
    };
    assert!(
        !found("CLEAR", "B").is_empty(),
        "the scan finds clear blobs"
    );
    if !on_postgres() {
        assert!(!found("CLEAR", "S").is_empty(), "the scan finds clear rows");
    }
    for tag in ["SSES3", "SSECC"] {
        for size in ["S", "B"] {
            assert!(
                found(tag, size).is_empty(),
                "{tag}-{size} stored in the clear"
            );
        }
    }
    // And they read back.
    let got = s3
        .get_object()
        .bucket("sealed")
        .key("SSES3-B")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        body.as_ref(),
        marked("<SSES3-B-coffer-marker-7f3a9>", 2 << 20)
    );
}

#[tokio::test]
async fn customer_keys_are_refused_over_plain_http_by_default() {
    let ts = TestServer::start().await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&s3, "bkt").await;
    let (k, k_md5) = customer_key(&[1; 32]);
    assert_s3_err(
        s3.put_object()
            .bucket("bkt")
            .key("k")
            .body(b"secret".to_vec().into())
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&k)
            .sse_customer_key_md5(&k_md5)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert_s3_err(
        s3.head_object().bucket("bkt").key("k").send().await,
        "NotFound",
        404,
    );
    // Reads with a key are refused the same way (the key was sent in the clear).
    s3.put_object()
        .bucket("bkt")
        .key("clear")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.get_object()
            .bucket("bkt")
            .key("clear")
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&k)
            .sse_customer_key_md5(&k_md5)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    // SSE-S3 needs no key on the wire: fine over HTTP.
    let r = s3
        .put_object()
        .bucket("bkt")
        .key("s3")
        .body(b"y".to_vec().into())
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
}

/// The classic "deny unencrypted uploads" bucket policy, on the SSE condition keys.
#[tokio::test]
async fn bucket_policy_can_require_encryption() {
    let ts = insecure_ok().await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&s3, "strict").await;
    let owner = json!({"Sid": "Owner", "Effect": "Allow", "Principal": {"CW": "coreweave/*"},
         "Action": "s3:*", "Resource": ["arn:aws:s3:::strict", "arn:aws:s3:::strict/*"]});
    let set_policy = |deny: serde_json::Value| {
        let doc = json!({"Version": "2012-10-17", "Statement": [owner.clone(), deny]});
        s3.put_bucket_policy()
            .bucket("strict")
            .policy(doc.to_string())
            .send()
    };
    set_policy(
        json!({"Sid": "DenyUnencrypted", "Effect": "Deny", "Principal": "*",
         "Action": "s3:PutObject", "Resource": "arn:aws:s3:::strict/*",
         "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true",
                                "s3:x-amz-server-side-encryption-customer-algorithm": "true"}}}),
    )
    .await
    .unwrap();
    let put = || s3.put_object().bucket("strict").body(b"z".to_vec().into());
    assert_s3_err(put().key("none").send().await, "AccessDenied", 403);
    put()
        .key("s3")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    let (k, k_md5) = customer_key(&[2; 32]);
    put()
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k)
        .sse_customer_key_md5(&k_md5)
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.head_object().bucket("strict").key("none").send().await,
        "NotFound",
        404,
    );
    // AWS's "SSE-S3 only" policy: StringNotEquals also matches a request without the
    // header, so SSE-C and unencrypted uploads are denied.
    set_policy(json!({"Sid": "OnlyAes", "Effect": "Deny", "Principal": "*",
         "Action": "s3:PutObject", "Resource": "arn:aws:s3:::strict/*",
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}}))
    .await
    .unwrap();
    assert_s3_err(
        put()
            .key("c2")
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&k)
            .sse_customer_key_md5(&k_md5)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(put().key("none").send().await, "AccessDenied", 403);
    put()
        .key("s3b")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
}
