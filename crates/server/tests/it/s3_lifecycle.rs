//! Bucket lifecycle end to end (SPEC §4): Put/Get/DeleteBucketLifecycleConfiguration
//! through aws-sdk-s3 (round trip, every validation error, permissions) and the
//! lifecycle worker driven by the server's injected clock: exactly what each rule
//! removes and keeps (current expiration with prefix/tag/size filters, noncurrent
//! expiration with NewerNoncurrentVersions, expired delete markers, incomplete multipart
//! uploads), with usage counters staying exact.

use crate::s3_common::{
    Signer, TestServer, assert_s3_err, dbg_err, make_bucket, send, setup, sha256_hex,
};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator,
    LifecycleRuleFilter, NoncurrentVersionExpiration, Tag, Transition, TransitionStorageClass,
    VersioningConfiguration,
};
use coffer_core::clock::OffsetClock;
use coffer_core::lifecycle::worker::LifecycleStats;
use coffer_server::config::Config;
use reqwest::Method;
use serde_json::json;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

fn rule(id: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
}

fn prefix(p: &str) -> LifecycleRuleFilter {
    LifecycleRuleFilter::builder().prefix(p).build()
}

fn expire_days(d: i32) -> LifecycleExpiration {
    LifecycleExpiration::builder().days(d).build()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

async fn put_lifecycle(c: &Client, bucket: &str, rules: Vec<LifecycleRule>) -> Result<(), String> {
    c.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            format!(
                "{}:{}",
                crate::s3_common::status_of(&e).unwrap_or(0),
                e.code().unwrap_or_default()
            )
        })
}

async fn put_obj(c: &Client, bucket: &str, key: &str, body: &[u8], tagging: Option<&str>) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .set_tagging(tagging.map(str::to_string))
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {}", dbg_err(&e)));
}

async fn keys(c: &Client, bucket: &str) -> Vec<String> {
    c.list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect()
}

/// (key, version id, is delete marker, is latest) of every version, sorted.
async fn versions(c: &Client, bucket: &str) -> Vec<(String, String, bool, bool)> {
    let out = c
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let mut v: Vec<_> = out
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap().to_string(),
                v.version_id().unwrap().to_string(),
                false,
                v.is_latest().unwrap(),
            )
        })
        .chain(out.delete_markers().iter().map(|m| {
            (
                m.key().unwrap().to_string(),
                m.version_id().unwrap().to_string(),
                true,
                m.is_latest().unwrap(),
            )
        }))
        .collect();
    v.sort();
    v
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

async fn clocked() -> (TestServer, OffsetClock, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = OffsetClock::default();
    let mut cfg = Config::with_data_dir(tmp.path().to_path_buf());
    cfg.clock = Some(clock.clone());
    (TestServer::start_with(cfg).await, clock, tmp)
}

#[tokio::test]
async fn configuration_round_trip_and_errors() {
    let (ts, c, key) = setup().await;
    make_bucket(&c, "lcfg").await;
    assert_s3_err(
        c.get_bucket_lifecycle_configuration()
            .bucket("lcfg")
            .send()
            .await,
        "NoSuchLifecycleConfiguration",
        404,
    );
    let date = DateTime::from_secs(1_893_456_000); // 2030-01-01T00:00:00Z
    let rules = vec![
        rule("logs")
            .filter(prefix("logs/"))
            .expiration(expire_days(1))
            .build()
            .unwrap(),
        rule("tagged")
            .filter(
                LifecycleRuleFilter::builder()
                    .and(
                        LifecycleRuleAndOperator::builder()
                            .prefix("t/")
                            .tags(tag("k", "v"))
                            .tags(tag("x", "y"))
                            .object_size_greater_than(10)
                            .build(),
                    )
                    .build(),
            )
            .expiration(expire_days(2))
            .build()
            .unwrap(),
        LifecycleRule::builder()
            .id("off")
            .status(ExpirationStatus::Disabled)
            .filter(
                LifecycleRuleFilter::builder()
                    .object_size_less_than(100)
                    .build(),
            )
            .expiration(expire_days(5))
            .build()
            .unwrap(),
        rule("nc")
            .filter(prefix(""))
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(3)
                    .newer_noncurrent_versions(2)
                    .build(),
            )
            .build()
            .unwrap(),
        rule("markers")
            .filter(LifecycleRuleFilter::builder().tag(tag("a", "b")).build())
            .expiration(LifecycleExpiration::builder().date(date).build())
            .build()
            .unwrap(),
        rule("mpu")
            .filter(prefix("up/"))
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(4)
                    .build(),
            )
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            )
            .build()
            .unwrap(),
        // The legacy rule-level Prefix comes back in that form, not as a Filter.
        #[allow(deprecated)]
        rule("legacy")
            .prefix("old/")
            .expiration(expire_days(9))
            .build()
            .unwrap(),
    ];
    put_lifecycle(&c, "lcfg", rules.clone()).await.unwrap();
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("lcfg")
        .send()
        .await
        .unwrap();
    assert_eq!(got.rules(), rules.as_slice());

    // Every invalid configuration is refused and changes nothing.
    let bad: Vec<(Vec<LifecycleRule>, &str)> = vec![
        (
            vec![
                rule("tr")
                    .filter(prefix(""))
                    .transitions(
                        Transition::builder()
                            .days(30)
                            .storage_class(TransitionStorageClass::Glacier)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            ],
            "400:InvalidStorageClass",
        ),
        (
            (0..1001)
                .map(|i| {
                    rule(&format!("r{i}"))
                        .filter(prefix(""))
                        .expiration(expire_days(1))
                        .build()
                        .unwrap()
                })
                .collect(),
            "400:MalformedXML",
        ),
        (
            vec![
                rule("zero")
                    .filter(prefix(""))
                    .expiration(expire_days(0))
                    .build()
                    .unwrap(),
            ],
            "400:InvalidArgument",
        ),
        (
            vec![
                rule("dup")
                    .filter(prefix("a"))
                    .expiration(expire_days(1))
                    .build()
                    .unwrap(),
                rule("dup")
                    .filter(prefix("b"))
                    .expiration(expire_days(1))
                    .build()
                    .unwrap(),
            ],
            "400:InvalidArgument",
        ),
        (
            vec![rule("none").filter(prefix("")).build().unwrap()],
            "400:InvalidArgument",
        ),
        (
            vec![
                rule("two")
                    .filter(
                        LifecycleRuleFilter::builder()
                            .prefix("a")
                            .tag(tag("k", "v"))
                            .build(),
                    )
                    .expiration(expire_days(1))
                    .build()
                    .unwrap(),
            ],
            "400:MalformedXML",
        ),
        (
            vec![
                rule("both")
                    .filter(prefix(""))
                    .expiration(
                        LifecycleExpiration::builder()
                            .days(1)
                            .expired_object_delete_marker(true)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            ],
            "400:InvalidArgument",
        ),
        (
            vec![
                rule("size")
                    .filter(
                        LifecycleRuleFilter::builder()
                            .and(
                                LifecycleRuleAndOperator::builder()
                                    .object_size_greater_than(100)
                                    .object_size_less_than(50)
                                    .build(),
                            )
                            .build(),
                    )
                    .expiration(expire_days(1))
                    .build()
                    .unwrap(),
            ],
            "400:InvalidArgument",
        ),
        (
            vec![
                LifecycleRule::builder()
                    .id("status")
                    .status(ExpirationStatus::from("Maybe"))
                    .filter(prefix(""))
                    .expiration(expire_days(1))
                    .build()
                    .unwrap(),
            ],
            "400:MalformedXML",
        ),
        (
            vec![
                rule("newer")
                    .filter(prefix(""))
                    .noncurrent_version_expiration(
                        NoncurrentVersionExpiration::builder()
                            .noncurrent_days(1)
                            .newer_noncurrent_versions(0)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            ],
            "400:InvalidArgument",
        ),
    ];
    for (rules, want) in bad {
        assert_eq!(put_lifecycle(&c, "lcfg", rules).await.unwrap_err(), want);
    }
    // Not XML at all.
    let signer = Signer::new(&ts, &key);
    let body = b"<LifecycleConfiguration><Rule>".to_vec();
    let q = vec![("lifecycle".to_string(), String::new())];
    let (hs, _) = signer.sign(
        "PUT",
        "/lcfg",
        &q,
        &[],
        &sha256_hex(&body),
        time::OffsetDateTime::now_utc(),
    );
    let mut rb = reqwest::Client::new()
        .put(format!("{}/lcfg?lifecycle", ts.s3_endpoint))
        .body(body);
    for (k, v) in hs {
        rb = rb.header(k, v);
    }
    send(rb).await.assert_err("MalformedXML", 400);
    let again = c
        .get_bucket_lifecycle_configuration()
        .bucket("lcfg")
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.rules(),
        rules.as_slice(),
        "failed puts changed nothing"
    );

    assert_s3_err(
        c.get_bucket_lifecycle_configuration()
            .bucket("no-such-lcfg")
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    assert_eq!(
        put_lifecycle(&c, "no-such-lcfg", rules.clone())
            .await
            .unwrap_err(),
        "404:NoSuchBucket"
    );
    c.delete_bucket_lifecycle()
        .bucket("lcfg")
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.get_bucket_lifecycle_configuration()
            .bucket("lcfg")
            .send()
            .await,
        "NoSuchLifecycleConfiguration",
        404,
    );
}

#[tokio::test]
async fn lifecycle_operations_need_permission() {
    let ts = TestServer::start().await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "admin-s3",
        "statements": [{"name": "all", "effect": "Allow", "actions": ["s3:*"],
                        "resources": ["*"], "principals": [format!("coreweave/{}", ts.admin_uid)]}]
    }))
    .await;
    let admin = ts.s3_client(&ts.create_key(&ts.admin_token).await);
    make_bucket(&admin, "lperm").await;
    let rules = vec![
        rule("a")
            .filter(prefix(""))
            .expiration(expire_days(1))
            .build()
            .unwrap(),
    ];
    put_lifecycle(&admin, "lperm", rules.clone()).await.unwrap();
    // A member that may only read objects.
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/users",
            Some(&ts.admin_token),
            Some(json!({"name": "m", "role": "member"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let uid = v["user"]["uid"].as_str().unwrap().to_string();
    let (_, v) = ts
        .api(
            Method::POST,
            "/v1/iam/tokens",
            Some(&ts.admin_token),
            Some(json!({"uid": uid, "durationSeconds": 0, "description": "m"})),
        )
        .await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "member",
        "statements": [{"name": "s", "effect": "Allow",
                        "actions": ["s3:GetObject", "cwobject:CreateAccessKey"],
                        "resources": ["*"], "principals": [format!("coreweave/{uid}")]}]
    }))
    .await;
    let member = ts.s3_client(&ts.create_key(v["token"].as_str().unwrap()).await);
    assert_eq!(
        put_lifecycle(&member, "lperm", vec![]).await.unwrap_err(),
        "403:AccessDenied"
    );
    assert_s3_err(
        member
            .get_bucket_lifecycle_configuration()
            .bucket("lperm")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        member
            .delete_bucket_lifecycle()
            .bucket("lperm")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    let kept = admin
        .get_bucket_lifecycle_configuration()
        .bucket("lperm")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.rules(), rules.as_slice());
}

#[tokio::test]
async fn worker_expires_current_objects_and_uploads_by_filter() {
    let (ts, clock, _tmp) = clocked().await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "lcw").await;
    put_lifecycle(
        &c,
        "lcw",
        vec![
            rule("logs")
                .filter(prefix("logs/"))
                .expiration(expire_days(1))
                .build()
                .unwrap(),
            rule("tags")
                .filter(
                    LifecycleRuleFilter::builder()
                        .and(
                            LifecycleRuleAndOperator::builder()
                                .prefix("t/")
                                .tags(tag("keep", "no"))
                                .build(),
                        )
                        .build(),
                )
                .expiration(expire_days(1))
                .build()
                .unwrap(),
            rule("size")
                .filter(
                    LifecycleRuleFilter::builder()
                        .and(
                            LifecycleRuleAndOperator::builder()
                                .prefix("s/")
                                .object_size_greater_than(10)
                                .build(),
                        )
                        .build(),
                )
                .expiration(expire_days(1))
                .build()
                .unwrap(),
            LifecycleRule::builder()
                .id("disabled")
                .status(ExpirationStatus::Disabled)
                .filter(prefix("other/"))
                .expiration(expire_days(1))
                .build()
                .unwrap(),
            rule("mpu")
                .filter(prefix("up/"))
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await
    .unwrap();
    put_obj(&c, "lcw", "logs/a", b"aaaa", None).await;
    put_obj(&c, "lcw", "other/a", b"bb", None).await;
    put_obj(&c, "lcw", "t/x", b"x", Some("keep=no")).await;
    put_obj(&c, "lcw", "t/y", b"y", Some("keep=yes")).await;
    put_obj(&c, "lcw", "t/z", b"z", None).await;
    put_obj(&c, "lcw", "s/big", &[1; 20], None).await;
    put_obj(&c, "lcw", "s/exact", &[1; 10], None).await;
    put_obj(&c, "lcw", "s/small", &[1; 5], None).await;
    for k in ["up/1", "down/1"] {
        c.create_multipart_upload()
            .bucket("lcw")
            .key(k)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(usage(&ts, "lcw").await, (4 + 2 + 3 + 20 + 10 + 5, 8));

    assert_eq!(
        ts.run_lifecycle().await,
        LifecycleStats::default(),
        "nothing is due yet"
    );
    clock.advance(DAY - HOUR);
    assert_eq!(
        ts.run_lifecycle().await,
        LifecycleStats::default(),
        "23 h: still nothing"
    );
    clock.advance(2 * HOUR);
    assert_eq!(
        ts.run_lifecycle().await,
        LifecycleStats {
            expired_current: 3,
            aborted_uploads: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        keys(&c, "lcw").await,
        ["other/a", "s/exact", "s/small", "t/y", "t/z"]
    );
    let uploads = c
        .list_multipart_uploads()
        .bucket("lcw")
        .send()
        .await
        .unwrap();
    assert_eq!(
        uploads
            .uploads()
            .iter()
            .map(|u| u.key().unwrap())
            .collect::<Vec<_>>(),
        ["down/1"]
    );
    assert_eq!(usage(&ts, "lcw").await, (2 + 2 + 10 + 5, 5));
    // Idempotent: a second run finds nothing more.
    assert_eq!(ts.run_lifecycle().await, LifecycleStats::default());
    // Without a configuration, nothing happens however late it is.
    c.delete_bucket_lifecycle()
        .bucket("lcw")
        .send()
        .await
        .unwrap();
    clock.advance(30 * DAY);
    assert_eq!(ts.run_lifecycle().await, LifecycleStats::default());
    assert_eq!(keys(&c, "lcw").await.len(), 5);
}

#[tokio::test]
async fn worker_on_a_versioned_bucket() {
    let (ts, clock, _tmp) = clocked().await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "lcv").await;
    c.put_bucket_versioning()
        .bucket("lcv")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    put_lifecycle(
        &c,
        "lcv",
        vec![
            rule("nc")
                .filter(prefix(""))
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .newer_noncurrent_versions(1)
                        .build(),
                )
                .build()
                .unwrap(),
            rule("markers")
                .filter(prefix(""))
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
            rule("cur")
                .filter(prefix("cur/"))
                .expiration(expire_days(3))
                .build()
                .unwrap(),
        ],
    )
    .await
    .unwrap();
    let mut k = Vec::new();
    for body in [&b"one"[..], b"two", b"three"] {
        let o = c
            .put_object()
            .bucket("lcv")
            .key("k")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
        k.push(o.version_id.unwrap());
    }
    let gone = c
        .put_object()
        .bucket("lcv")
        .key("gone")
        .body(ByteStream::from_static(b"g"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let gone_marker = c
        .delete_object()
        .bucket("lcv")
        .key("gone")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let solo = c
        .delete_object()
        .bucket("lcv")
        .key("solo")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let cur = c
        .put_object()
        .bucket("lcv")
        .key("cur/a")
        .body(ByteStream::from_static(b"cc"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    assert_eq!(usage(&ts, "lcv").await, (3 + 3 + 5 + 1 + 2, 5));

    // A day later: of k's noncurrent versions the newest is kept (NewerNoncurrentVersions
    // = 1), the older one goes; "gone" keeps its only noncurrent version; the lone
    // marker "solo" is an expired object delete marker; cur/a is not 3 days old.
    clock.advance(DAY + HOUR);
    assert_eq!(
        ts.run_lifecycle().await,
        LifecycleStats {
            expired_noncurrent: 1,
            removed_markers: 1,
            ..Default::default()
        }
    );
    let s = |x: &str| x.to_string();
    assert_eq!(
        versions(&c, "lcv").await,
        vec![
            (s("cur/a"), cur.clone(), false, true),
            (s("gone"), gone.clone(), false, false),
            (s("gone"), gone_marker.clone(), true, true),
            (s("k"), k[1].clone(), false, false),
            (s("k"), k[2].clone(), false, true),
        ]
        .tap_sort()
    );
    assert!(!versions(&c, "lcv").await.iter().any(|v| v.1 == solo));
    assert_eq!(usage(&ts, "lcv").await, (3 + 5 + 1 + 2, 4));

    // Three days in: cur/a expires behind a new delete marker (its data stays as a
    // noncurrent version); nothing else changes.
    clock.advance(2 * DAY);
    assert_eq!(
        ts.run_lifecycle().await,
        LifecycleStats {
            expired_current: 1,
            ..Default::default()
        }
    );
    let v = versions(&c, "lcv").await;
    let cur_versions: Vec<_> = v.iter().filter(|x| x.0 == "cur/a").collect();
    assert_eq!(cur_versions.len(), 2);
    assert!(
        cur_versions.iter().any(|x| x.2 && x.3),
        "a marker is latest"
    );
    assert!(cur_versions.iter().any(|x| !x.2 && !x.3 && x.1 == cur));
    assert_eq!(usage(&ts, "lcv").await, (3 + 5 + 1 + 2, 4));
    assert_eq!(ts.run_lifecycle().await, LifecycleStats::default());
}

trait TapSort {
    fn tap_sort(self) -> Self;
}

impl<T: Ord> TapSort for Vec<T> {
    fn tap_sort(mut self) -> Self {
        self.sort();
        self
    }
}

#[tokio::test]
async fn lifecycle_actions_are_audited_as_the_system() {
    use std::io::Read;
    let (ts, clock, _tmp) = clocked().await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "lcaudit").await;
    let (s, v) = ts
        .api(
            Method::PUT,
            "/v1/cwobject/bucket/settings",
            Some(&ts.admin_token),
            Some(json!({"bucketName": "lcaudit", "settings": {"auditLoggingEnabled": true}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    put_obj(&c, "lcaudit", "old", b"x", None).await;
    put_lifecycle(
        &c,
        "lcaudit",
        vec![
            rule("all")
                .filter(prefix(""))
                .expiration(expire_days(1))
                .build()
                .unwrap(),
        ],
    )
    .await
    .unwrap();
    clock.advance(DAY + HOUR);
    assert_eq!(ts.run_lifecycle().await.expired_current, 1);
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
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            if e["principal"] == json!("system:lifecycle") {
                found.push(e);
            }
        }
    }
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["action"], json!("s3:DeleteObject"));
    assert_eq!(found[0]["bucketName"], json!("lcaudit"));
    assert_eq!(found[0]["key"], json!("old"));
    assert_eq!(found[0]["result"], json!("allowed"));
}
