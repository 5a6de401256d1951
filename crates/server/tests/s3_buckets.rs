//! S3 bucket operations end to end with aws-sdk-s3: create (location constraint,
//! idempotency, names), head (`x-amz-bucket-region`), location, list (pagination),
//! delete (empty only), virtual-hosted-style addressing.

mod s3_common;

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use coffer_server::Config;
use reqwest::Method;
use s3_common::*;

#[tokio::test]
async fn create_head_locate_list_delete() {
    let (ts, c, key) = setup().await;
    c.create_bucket().bucket("alpha").send().await.unwrap();
    // Re-creating a bucket you own in the same zone succeeds.
    c.create_bucket().bucket("alpha").send().await.unwrap();
    c.create_bucket()
        .bucket("beta")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from("US-EAST-04A"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.create_bucket()
            .bucket("gamma")
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from("MARS-01A"))
                    .build(),
            )
            .send()
            .await,
        "InvalidLocationConstraint",
        400,
    );

    let h = c.head_bucket().bucket("alpha").send().await.unwrap();
    assert_eq!(h.bucket_region(), Some("US-EAST-04A"));
    let loc = c.get_bucket_location().bucket("beta").send().await.unwrap();
    assert_eq!(
        loc.location_constraint().map(|l| l.as_str()),
        Some("US-EAST-04A")
    );
    assert_s3_err(
        c.head_bucket().bucket("nope-nope").send().await,
        "NotFound",
        404,
    );
    assert_s3_err(
        c.get_bucket_location().bucket("nope-nope").send().await,
        "NoSuchBucket",
        404,
    );

    let out = c.list_buckets().send().await.unwrap();
    let names: Vec<_> = out.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(out.buckets().iter().all(|b| b.creation_date().is_some()));
    assert!(out.owner().and_then(|o| o.id()).is_some());

    // Not empty → BucketNotEmpty; empty → deleted.
    put(&c, "alpha", "k", b"v").await;
    assert_s3_err(
        c.delete_bucket().bucket("alpha").send().await,
        "BucketNotEmpty",
        409,
    );
    c.delete_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .unwrap();
    c.delete_bucket().bucket("alpha").send().await.unwrap();
    assert_s3_err(
        c.head_bucket().bucket("alpha").send().await,
        "NotFound",
        404,
    );
    assert_s3_err(
        c.delete_bucket().bucket("alpha").send().await,
        "NoSuchBucket",
        404,
    );
    let _ = (ts, key);
}

#[tokio::test]
async fn bucket_names() {
    let (_ts, c, _) = setup().await;
    for bad in [
        "cw-reserved",
        "vip-bucket",
        "log-stitcher-ch-1",
        "int",
        "xn--punycode",
        "has.dot",
        "ab",
        "-leading",
        "trailing-",
    ] {
        assert_s3_err(
            c.create_bucket().bucket(bad).send().await,
            "InvalidBucketName",
            400,
        );
    }
    let long = "a".repeat(64);
    assert!(c.create_bucket().bucket(&long).send().await.is_err());
    c.create_bucket().bucket("a-b-1").send().await.unwrap();
    c.create_bucket()
        .bucket("a".repeat(63))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn list_buckets_pages() {
    let (ts, c, key) = setup().await;
    for i in 0..5 {
        make_bucket(&c, &format!("page-{i}")).await;
    }
    make_bucket(&c, "other").await;
    // The SDK version in use may not expose max-buckets; page by hand.
    let signer = Signer::new(&ts, &key);
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut q = vec![
            ("max-buckets".to_string(), "2".to_string()),
            ("prefix".to_string(), "page-".to_string()),
        ];
        if let Some(t) = &token {
            q.push(("continuation-token".to_string(), t.clone()));
        }
        let r = send(signer.request(&http, Method::GET, "/", &q, &[], vec![])).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut rest = r.body.as_str();
        let mut n = 0;
        while let Some(i) = rest.find("<Name>") {
            let s = &rest[i + 6..];
            let e = s.find("</Name>").unwrap();
            seen.push(s[..e].to_string());
            rest = &s[e..];
            n += 1;
        }
        assert!(n <= 2);
        token = xml_field(&r.body, "ContinuationToken");
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["page-0", "page-1", "page-2", "page-3", "page-4"]);
    let r = send(signer.request(
        &http,
        Method::GET,
        "/",
        &[("continuation-token".into(), "!!".into())],
        &[],
        vec![],
    ))
    .await;
    r.assert_err("InvalidArgument", 400);
    let r = send(signer.request(
        &http,
        Method::GET,
        "/",
        &[("max-buckets".into(), "0".into())],
        &[],
        vec![],
    ))
    .await;
    r.assert_err("InvalidArgument", 400);
}

#[tokio::test]
async fn virtual_hosted_style() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_data_dir(tmp.path().to_path_buf());
    cfg.domain = Some("s3.coffer.test".into());
    let ts = TestServer::start_with(cfg).await;
    let (c, key) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "vhost").await;
    put(&c, "vhost", "dir/file.txt", b"virtual").await;

    // Same request, addressed as bucket.<domain>: sign with that Host header.
    let port = ts.s3_endpoint.rsplit(':').next().unwrap().to_string();
    let signer = Signer {
        host: format!("vhost.s3.coffer.test:{port}"),
        ..Signer::new(&ts, &key)
    };
    let http = reqwest::Client::new();
    let (hs, _) = signer.sign(
        "GET",
        "/dir/file.txt",
        &[],
        &[],
        &sha256_hex(b""),
        time::OffsetDateTime::now_utc(),
    );
    let mut rb = http
        .get(format!("{}/dir/file.txt", ts.s3_endpoint))
        .header("host", signer.host.clone());
    for (k, v) in hs {
        rb = rb.header(k, v);
    }
    let r = send(rb).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "virtual");
    // Path style keeps working on the same server.
    assert_eq!(get(&c, "vhost", "dir/file.txt").await, b"virtual");
}
