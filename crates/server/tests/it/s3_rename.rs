//! RenameObject (`PUT /bucket/key?renameObject`, `x-amz-rename-source`) on buckets that
//! were never versioned: through aws-sdk-s3's `rename_object` and through hand-signed
//! SigV4 requests (source forms, date conditions, bodies). Every refused request is
//! checked to leave the stored objects and the usage exactly as they were.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::DateTime;
use serde_json::json;
use std::io::Read;

/// Everything a refused rename must not change: every key with its bytes and ETag.
async fn snapshot(c: &Client, bucket: &str) -> Vec<(String, String, Vec<u8>)> {
    let list = c.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut out = Vec::new();
    for o in list.contents() {
        let k = o.key().unwrap().to_string();
        out.push((
            k.clone(),
            o.e_tag().unwrap().to_string(),
            get(c, bucket, &k).await,
        ));
    }
    out
}

/// Keys and ETags only (for buckets whose policy denies reading some keys).
async fn listing(c: &Client, bucket: &str) -> Vec<(String, String)> {
    let list = c.list_objects_v2().bucket(bucket).send().await.unwrap();
    list.contents()
        .iter()
        .map(|o| (o.key().unwrap().to_string(), o.e_tag().unwrap().to_string()))
        .collect()
}

async fn usage(ts: &TestServer, bucket: &str) -> serde_json::Value {
    let (s, v) = ts
        .api(
            reqwest::Method::GET,
            &format!("/v1/cwobject/bucket-info/{bucket}"),
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test]
async fn rename_moves_the_object_without_copying() {
    let (ts, c, _) = setup().await;
    make_bucket(&c, "ren").await;
    let data = bytes_of(3 * MIB, 7);
    let etag = put(&c, "ren", "dir/src", &data).await;
    put(&c, "ren", "other", b"other").await;
    let before = usage(&ts, "ren").await;

    c.rename_object()
        .bucket("ren")
        .key("moved/dst")
        .rename_source("ren/dir/src")
        .destination_if_none_match("*")
        .source_if_match(&etag)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", dbg_err(&e)));
    assert!(!exists(&c, "ren", "dir/src").await);
    assert_eq!(get(&c, "ren", "moved/dst").await, data);
    let head = c
        .head_object()
        .bucket("ren")
        .key("moved/dst")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(usage(&ts, "ren").await, before);

    // Onto an existing key (If-Match on it): the destination is replaced; the usage
    // loses the replaced object.
    let other_etag = c
        .head_object()
        .bucket("ren")
        .key("other")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    c.rename_object()
        .bucket("ren")
        .key("other")
        .rename_source("/ren/moved/dst")
        .destination_if_match(&other_etag)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", dbg_err(&e)));
    assert_eq!(get(&c, "ren", "other").await, data);
    let keys: Vec<String> = snapshot(&c, "ren").await.into_iter().map(|t| t.0).collect();
    assert_eq!(keys, ["other"]);
}

#[tokio::test]
async fn raw_signed_rename_with_encoded_source_and_date_conditions() {
    let (ts, c, key) = setup().await;
    make_bucket(&c, "raw").await;
    put(&c, "raw", "a b/ü", b"unicode").await;
    let signer = Signer::new(&ts, &key);
    let http = reqwest::Client::new();
    let rename = |dst: &str, headers: Vec<(&'static str, String)>| {
        signer.request(
            &http,
            reqwest::Method::PUT,
            &format!("/raw/{dst}"),
            &[("renameObject".to_string(), String::new())],
            &headers,
            Vec::new(),
        )
    };
    let src = ("x-amz-rename-source", "%2Fraw%2Fa%20b%2F%C3%BC".to_string());
    let past = "Wed, 21 Oct 2015 07:28:00 GMT".to_string();
    let future = "Fri, 01 Jan 2100 00:00:00 GMT".to_string();
    let before = snapshot(&c, "raw").await;

    // Source date conditions that fail: 412, nothing changes.
    for h in [
        ("x-amz-rename-source-if-unmodified-since", past.clone()),
        ("x-amz-rename-source-if-modified-since", future.clone()),
    ] {
        send(rename("dst", vec![src.clone(), h]))
            .await
            .assert_err("PreconditionFailed", 412);
        assert_eq!(snapshot(&c, "raw").await, before);
    }
    // Malformed input: 400, nothing changes.
    for (hs, code) in [
        (
            vec![
                src.clone(),
                ("x-amz-rename-source-if-modified-since", "soon".into()),
            ],
            "InvalidArgument",
        ),
        (
            vec![("x-amz-rename-source", "raw".to_string())],
            "InvalidArgument",
        ),
        (vec![], "InvalidArgument"),
    ] {
        send(rename("dst", hs)).await.assert_err(code, 400);
        assert_eq!(snapshot(&c, "raw").await, before);
    }
    // Destination date conditions are not supported: 501.
    send(rename(
        "dst",
        vec![src.clone(), ("if-unmodified-since", future.clone())],
    ))
    .await
    .assert_err("NotImplemented", 501);
    // A body is refused, never stored.
    let r = send(signer.request(
        &http,
        reqwest::Method::PUT,
        "/raw/dst",
        &[("renameObject".to_string(), String::new())],
        std::slice::from_ref(&src),
        b"payload".to_vec(),
    ))
    .await;
    r.assert_err("InvalidRequest", 400);
    assert_eq!(snapshot(&c, "raw").await, before);

    // Conditions that hold: 200 with an empty body.
    let r = send(rename(
        "dst",
        vec![
            src.clone(),
            ("x-amz-rename-source-if-unmodified-since", future),
            ("x-amz-rename-source-if-modified-since", past),
            ("x-amz-rename-source-if-none-match", "\"not-it\"".into()),
        ],
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.is_empty(), "{}", r.body);
    assert_eq!(get(&c, "raw", "dst").await, b"unicode");
    assert!(!exists(&c, "raw", "a b/ü").await);
}

#[tokio::test]
async fn refused_renames_change_nothing() {
    let (ts, c, _) = setup().await;
    make_bucket(&c, "keep").await;
    make_bucket(&c, "elsewhere").await;
    let etag = put(&c, "keep", "src", b"source bytes").await;
    put(&c, "keep", "existing", b"keep me").await;
    put(&c, "elsewhere", "far", b"far away").await;
    let before = snapshot(&c, "keep").await;
    let before_usage = usage(&ts, "keep").await;
    let check = |what: &'static str| {
        let c = c.clone();
        let before = before.clone();
        async move {
            assert_eq!(snapshot(&c, "keep").await, before, "{what}");
            assert!(exists(&c, "elsewhere", "far").await, "{what}");
        }
    };
    let rn = |dst: &str, src: &str| c.rename_object().bucket("keep").key(dst).rename_source(src);

    assert_s3_err(rn("dst", "keep/missing").send().await, "NoSuchKey", 404);
    check("missing source").await;
    assert_s3_err(
        c.rename_object()
            .bucket("no-such-bucket-here")
            .key("dst")
            .rename_source("no-such-bucket-here/src")
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    // Destination conditions.
    assert_s3_err(
        rn("existing", "keep/src")
            .destination_if_none_match("*")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    check("If-None-Match on an existing destination").await;
    assert_s3_err(
        rn("existing", "keep/src")
            .destination_if_match("\"0123\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        rn("dst", "keep/src")
            .destination_if_match(&etag)
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    check("If-Match on the destination").await;
    // Source conditions.
    assert_s3_err(
        rn("dst", "keep/src")
            .source_if_match("\"0123\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        rn("dst", "keep/src")
            .source_if_none_match(&etag)
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        rn("dst", "keep/src")
            .source_if_unmodified_since(DateTime::from_secs(1_000_000_000))
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        rn("dst", "keep/src")
            .source_if_modified_since(DateTime::from_secs(4_000_000_000))
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    check("source conditions").await;
    // Across buckets, either way.
    assert_s3_err(
        rn("dst", "elsewhere/far").send().await,
        "InvalidRequest",
        400,
    );
    assert_s3_err(
        c.rename_object()
            .bucket("elsewhere")
            .key("dst")
            .rename_source("keep/src")
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    check("cross-bucket").await;
    assert_eq!(usage(&ts, "keep").await, before_usage);

    // Versioned, then suspended: refused.
    for status in [
        aws_sdk_s3::types::BucketVersioningStatus::Enabled,
        aws_sdk_s3::types::BucketVersioningStatus::Suspended,
    ] {
        c.put_bucket_versioning()
            .bucket("keep")
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(status)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_s3_err(rn("dst", "keep/src").send().await, "NotImplemented", 501);
        check("versioned bucket").await;
    }
}

#[tokio::test]
async fn rename_needs_put_on_the_destination_and_get_delete_on_the_source() {
    let (ts, c, _) = setup().await;
    make_bucket(&c, "perm").await;
    put(&c, "perm", "noread/src", b"1").await;
    put(&c, "perm", "nodelete/src", b"2").await;
    put(&c, "perm", "ok/src", b"3").await;
    // Explicit denies in the bucket policy apply to the admin key too.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"CW": "coreweave/*"}, "Action": "s3:*",
             "Resource": ["arn:aws:s3:::perm", "arn:aws:s3:::perm/*"]},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::perm/noread/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
             "Resource": "arn:aws:s3:::perm/nodelete/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::perm/readonly/*"}
        ]
    });
    c.put_bucket_policy()
        .bucket("perm")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let before = listing(&c, "perm").await;
    let rn = |dst: &str, src: &str| {
        c.rename_object()
            .bucket("perm")
            .key(dst)
            .rename_source(src)
            .send()
    };
    assert_s3_err(rn("ok/a", "perm/noread/src").await, "AccessDenied", 403);
    assert_s3_err(rn("ok/b", "perm/nodelete/src").await, "AccessDenied", 403);
    assert_s3_err(rn("readonly/c", "perm/ok/src").await, "AccessDenied", 403);
    assert_eq!(listing(&c, "perm").await, before);

    // Anonymous: denied before anything is read.
    let anon = send(
        reqwest::Client::new()
            .put(format!("{}/perm/ok/anon?renameObject", ts.s3_endpoint))
            .header("x-amz-rename-source", "perm/ok/src"),
    )
    .await;
    anon.assert_err("AccessDenied", 403);
    assert_eq!(listing(&c, "perm").await, before);

    rn("ok/dst", "perm/ok/src").await.unwrap();
    assert_eq!(get(&c, "perm", "ok/dst").await, b"3");
}

#[tokio::test]
async fn rename_is_audited() {
    let (ts, c, _) = setup().await;
    make_bucket(&c, "audited").await;
    let (s, v) = ts
        .api(
            reqwest::Method::PUT,
            "/v1/cwobject/bucket/settings",
            Some(&ts.admin_token),
            Some(json!({"bucketName": "audited", "settings": {"auditLoggingEnabled": true}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    put(&c, "audited", "src", b"x").await;
    c.rename_object()
        .bucket("audited")
        .key("dst")
        .rename_source("audited/src")
        .send()
        .await
        .unwrap();
    ts.flush_audit().await;
    let audit_bucket = format!("cw-{}-audit-logs", ts.org_id);
    let list = c
        .list_objects_v2()
        .bucket(&audit_bucket)
        .send()
        .await
        .unwrap();
    let mut found = Vec::new();
    for o in list.contents() {
        let gz = c
            .get_object()
            .bucket(&audit_bucket)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        for line in text.lines() {
            let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if e["action"] == json!("s3:RenameObject") {
                found.push(e);
            }
        }
    }
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["bucketName"], json!("audited"));
    assert_eq!(found[0]["key"], json!("dst"));
    assert_eq!(found[0]["result"], json!("allowed"));
}
