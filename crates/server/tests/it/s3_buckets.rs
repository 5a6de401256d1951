//! S3 bucket operations end to end with aws-sdk-s3: create (location constraint,
//! idempotency, names), head (`x-amz-bucket-region`), location, list (pagination),
//! delete (empty only), virtual-hosted-style addressing.

use crate::s3_common::*;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use coffer_server::Config;
use reqwest::Method;

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

    // The liveness probe answers path-style only; on a virtual-hosted bucket the same
    // path goes to S3 (an unsigned request for that bucket's key: refused).
    let probe = send(http.get(format!("{}/-/healthz", ts.s3_endpoint))).await;
    assert_eq!((probe.status, probe.body.as_str()), (200, "ok"));
    let head = send(http.head(format!("{}/-/healthz", ts.s3_endpoint))).await;
    assert_eq!(head.status, 200);
    let in_bucket = send(
        http.get(format!("{}/-/healthz", ts.s3_endpoint))
            .header("host", signer.host.clone()),
    )
    .await;
    assert!(in_bucket.status >= 400, "{}", in_bucket.body);
    // `-` can never be a bucket, so no object request means the probe.
    c.create_bucket().bucket("-").send().await.unwrap_err();
    let put = send(http.put(format!("{}/-/healthz", ts.s3_endpoint)).body("x")).await;
    put.assert_err("InvalidBucketName", 400);
}

/// The bucket's policy (S3), settings (management API), lifecycle and tags (S3) are
/// parts of one record: edits of different parts sent at the same moment must all land,
/// round after round (a whole-record read-modify-write would lose some of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_of_one_buckets_configuration_all_land() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter, Tag, Tagging,
    };
    use serde_json::{Value, json};
    let (ts, c, _) = setup().await;
    make_bucket(&c, "busy").await;
    let settings = |patch: Value| {
        ts.api(
            Method::PUT,
            "/v1/cwobject/bucket/settings",
            Some(&ts.admin_token),
            Some(json!({"bucketName": "busy", "settings": patch})),
        )
    };
    for round in 0..25u32 {
        let sid = format!("round{round}");
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": sid, "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                "Resource": format!("arn:aws:s3:::busy/never-{round}")
            }, {
                // A bucket policy denies what it does not allow (SPEC §3).
                "Effect": "Allow", "Principal": "*", "Action": "s3:*Bucket*",
                "Resource": "arn:aws:s3:::busy"
            }, {
                "Effect": "Allow", "Principal": "*", "Action": "s3:*LifecycleConfiguration",
                "Resource": "arn:aws:s3:::busy"
            }]
        })
        .to_string();
        let lifecycle = BucketLifecycleConfiguration::builder()
            .rules(
                LifecycleRule::builder()
                    .id(&sid)
                    .status(ExpirationStatus::Enabled)
                    .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
                    .expiration(
                        LifecycleExpiration::builder()
                            .days(round as i32 + 1)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let tagging = Tagging::builder()
            .tag_set(Tag::builder().key("round").value(&sid).build().unwrap())
            .build()
            .unwrap();
        let cap = 1_000_000 + u64::from(round);
        let (p, s, l, t) = tokio::join!(
            c.put_bucket_policy().bucket("busy").policy(&policy).send(),
            settings(json!({"capacityCapBytes": cap, "auditLoggingEnabled": round % 2 == 0})),
            c.put_bucket_lifecycle_configuration()
                .bucket("busy")
                .lifecycle_configuration(lifecycle)
                .send(),
            c.put_bucket_tagging()
                .bucket("busy")
                .tagging(tagging)
                .send(),
        );
        p.unwrap();
        assert_eq!(s.0, 200, "{}", s.1);
        l.unwrap();
        t.unwrap();

        let stored = c
            .get_bucket_policy()
            .bucket("busy")
            .send()
            .await
            .unwrap()
            .policy
            .unwrap();
        assert!(stored.contains(&sid), "round {round}: policy {stored}");
        let (status, read) = settings(json!({})).await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(
            read["settings"]["capacityCapBytes"],
            json!(cap.to_string()),
            "round {round}: {read}"
        );
        assert_eq!(
            read["settings"]["auditLoggingEnabled"],
            json!(round % 2 == 0),
            "round {round}: {read}"
        );
        let rules = c
            .get_bucket_lifecycle_configuration()
            .bucket("busy")
            .send()
            .await
            .unwrap();
        assert_eq!(rules.rules()[0].id(), Some(sid.as_str()), "round {round}");
        let tags = c.get_bucket_tagging().bucket("busy").send().await.unwrap();
        assert_eq!(tags.tag_set()[0].value(), sid, "round {round}");
    }
}
