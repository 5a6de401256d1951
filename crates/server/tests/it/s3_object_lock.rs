//! S3 Object Lock end to end with aws-sdk-s3 against a real server: a bucket created
//! with Object Lock is versioned for good; default retention reaches puts, copies and
//! completed uploads; retention and legal hold block version deletes (single and bulk)
//! until bypassed (GOVERNANCE, with the permission) or released; bad requests change
//! nothing; the lock state survives a restart.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, DefaultRetention, Delete,
    ObjectIdentifier, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
    ObjectLockRule, VersioningConfiguration,
};
use coffer_server::testing::s3_client_for;
use serde_json::json;

fn date(unix: i64) -> DateTime {
    DateTime::from_secs(unix)
}

/// 2100-01-01: far enough that no run sees it pass.
const FAR: i64 = 4_102_444_800;

fn config(
    mode: ObjectLockRetentionMode,
    days: Option<i32>,
    years: Option<i32>,
) -> ObjectLockConfiguration {
    let mut d = DefaultRetention::builder().mode(mode);
    if let Some(n) = days {
        d = d.days(n);
    }
    if let Some(n) = years {
        d = d.years(n);
    }
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(d.build())
                .build(),
        )
        .build()
}

async fn retention(c: &Client, b: &str, k: &str, v: &str) -> Option<(String, i64)> {
    let r = c
        .get_object_retention()
        .bucket(b)
        .key(k)
        .version_id(v)
        .send()
        .await
        .ok()?;
    let r = r.retention()?;
    Some((
        r.mode()?.as_str().to_string(),
        r.retain_until_date()?.secs(),
    ))
}

async fn put_v(c: &Client, b: &str, k: &str) -> String {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(b"data".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap()
}

#[tokio::test]
async fn lock_configuration_versioning_and_default_retention() {
    let ts = TestServer::start().await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    c.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let v = c
        .get_bucket_versioning()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    // Versioning stays enabled for good.
    assert_s3_err(
        c.put_bucket_versioning()
            .bucket("locked")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await,
        "InvalidBucketState",
        409,
    );
    let got = c
        .get_object_lock_configuration()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    let got = got.object_lock_configuration().unwrap();
    assert_eq!(got.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(got.rule().is_none());

    // Bad configurations: nothing stored.
    for (conf, code) in [
        (
            config(ObjectLockRetentionMode::Governance, Some(1), Some(1)),
            "MalformedXML",
        ),
        (
            config(ObjectLockRetentionMode::Governance, Some(0), None),
            "InvalidRetentionPeriod",
        ),
        (
            config(ObjectLockRetentionMode::Governance, None, Some(-1)),
            "InvalidRetentionPeriod",
        ),
        (
            config(ObjectLockRetentionMode::from("governance"), Some(1), None),
            "MalformedXML",
        ),
    ] {
        assert_s3_err(
            c.put_object_lock_configuration()
                .bucket("locked")
                .object_lock_configuration(conf)
                .send()
                .await,
            code,
            400,
        );
    }
    let got = c
        .get_object_lock_configuration()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    assert!(got.object_lock_configuration().unwrap().rule().is_none());

    c.put_object_lock_configuration()
        .bucket("locked")
        .object_lock_configuration(config(ObjectLockRetentionMode::Governance, Some(2), None))
        .send()
        .await
        .unwrap();
    // The default reaches a put, a copy and a completed upload.
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let v1 = put_v(&c, "locked", "put").await;
    c.copy_object()
        .bucket("locked")
        .key("copy")
        .copy_source("locked/put")
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("locked")
        .key("mpu")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket("locked")
        .key("mpu")
        .upload_id(id)
        .part_number(1)
        .body(b"part".to_vec().into())
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("locked")
        .key("mpu")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    for key in ["put", "copy", "mpu"] {
        let head = c
            .head_object()
            .bucket("locked")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.object_lock_mode(),
            Some(&ObjectLockMode::Governance),
            "{key}"
        );
        let until = head.object_lock_retain_until_date().unwrap().secs();
        assert!(
            (before + 2 * 86_400 - 5..=before + 2 * 86_400 + 120).contains(&until),
            "{key}: {until}"
        );
    }
    assert_s3_err(
        c.delete_object()
            .bucket("locked")
            .key("put")
            .version_id(&v1)
            .send()
            .await,
        "AccessDenied",
        403,
    );

    // A bucket without versioning cannot take a lock configuration; one with it can.
    make_bucket(&c, "plain").await;
    assert_s3_err(
        c.put_object_lock_configuration()
            .bucket("plain")
            .object_lock_configuration(config(ObjectLockRetentionMode::Governance, Some(1), None))
            .send()
            .await,
        "InvalidBucketState",
        409,
    );
    assert_s3_err(
        c.get_object_lock_configuration()
            .bucket("plain")
            .send()
            .await,
        "ObjectLockConfigurationNotFoundError",
        404,
    );
    put(&c, "plain", "k", b"x").await;
    assert_s3_err(
        c.put_object_retention()
            .bucket("plain")
            .key("k")
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Governance)
                    .retain_until_date(date(FAR))
                    .build(),
            )
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert_s3_err(
        c.put_object()
            .bucket("plain")
            .key("k2")
            .body(b"x".to_vec().into())
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert!(!exists(&c, "plain", "k2").await);
    enable_versioning(&c, "plain").await;
    c.put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(config(ObjectLockRetentionMode::Compliance, None, Some(1)))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn retention_and_legal_hold_guard_version_deletes_and_survive_a_restart() {
    let ts = TestServer::start().await;
    let (c, key) = ts.s3_client_with_allow_all().await;
    c.create_bucket()
        .bucket("lkb")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let gov = c
        .put_object()
        .bucket("lkb")
        .key("gov")
        .body(b"g".to_vec().into())
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(date(FAR))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let held = put_v(&c, "lkb", "held").await;
    c.put_object_legal_hold()
        .bucket("lkb")
        .key("held")
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let comp = put_v(&c, "lkb", "comp").await;
    c.put_object_retention()
        .bucket("lkb")
        .key("comp")
        .version_id(&comp)
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Compliance)
                .retain_until_date(date(FAR))
                .build(),
        )
        .send()
        .await
        .unwrap();

    // Bad inputs change nothing.
    let bad_retention = |mode: &str, until: i64| {
        c.put_object_retention()
            .bucket("lkb")
            .key("gov")
            .version_id(&gov)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::from(mode))
                    .retain_until_date(date(until))
                    .build(),
            )
            .send()
    };
    assert_s3_err(bad_retention("governance", FAR).await, "MalformedXML", 400);
    assert_s3_err(
        bad_retention("GOVERNANCE", 1_000_000).await,
        "InvalidArgument",
        400,
    );
    // Shortening GOVERNANCE, or switching it to COMPLIANCE, needs the bypass.
    assert_s3_err(
        bad_retention("GOVERNANCE", FAR - 86_400).await,
        "AccessDenied",
        403,
    );
    assert_s3_err(bad_retention("COMPLIANCE", FAR).await, "AccessDenied", 403);
    assert_eq!(
        retention(&c, "lkb", "gov", &gov).await,
        Some(("GOVERNANCE".into(), FAR))
    );
    assert_s3_err(
        c.put_object_legal_hold()
            .bucket("lkb")
            .key("held")
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(ObjectLockLegalHoldStatus::from("abc"))
                    .build(),
            )
            .send()
            .await,
        "MalformedXML",
        400,
    );

    // The lock state is metadata like any other: it survives a restart.
    let ts = ts.restart().await;
    let c = s3_client_for(&ts.s3_endpoint, &key);
    assert_eq!(
        retention(&c, "lkb", "comp", &comp).await,
        Some(("COMPLIANCE".into(), FAR))
    );
    let hold = c
        .get_object_legal_hold()
        .bucket("lkb")
        .key("held")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hold.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );

    let del = |k: &'static str, v: &str, bypass: bool| {
        c.delete_object()
            .bucket("lkb")
            .key(k)
            .version_id(v)
            .bypass_governance_retention(bypass)
            .send()
    };
    assert_s3_err(del("gov", &gov, false).await, "AccessDenied", 403);
    assert_s3_err(del("held", &held, true).await, "AccessDenied", 403);
    assert_s3_err(del("comp", &comp, true).await, "AccessDenied", 403);
    // A delete without a version id only adds a marker.
    let m = c
        .delete_object()
        .bucket("lkb")
        .key("gov")
        .send()
        .await
        .unwrap();
    assert_eq!(m.delete_marker(), Some(true));
    // Bulk deletes report the locked ones per key and remove the rest.
    let free = put_v(&c, "lkb", "free").await;
    let ids = [("gov", &gov), ("free", &free), ("comp", &comp)];
    let d = c
        .delete_objects()
        .bucket("lkb")
        .delete(
            Delete::builder()
                .set_objects(Some(
                    ids.iter()
                        .map(|(k, v)| {
                            ObjectIdentifier::builder()
                                .key(*k)
                                .version_id(v.as_str())
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(d.deleted().len(), 1);
    assert_eq!(d.deleted()[0].key(), Some("free"));
    let mut refused: Vec<_> = d
        .errors()
        .iter()
        .map(|e| (e.key().unwrap().to_string(), e.code().unwrap().to_string()))
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            ("comp".to_string(), "AccessDenied".to_string()),
            ("gov".to_string(), "AccessDenied".to_string())
        ]
    );

    // The bypass header does nothing without s3:BypassGovernanceRetention.
    let deny_bypass = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::lkb", "arn:aws:s3:::lkb/*"]},
        {"Effect": "Deny", "Principal": "*",
         "Action": ["s3:BypassGovernanceRetention", "s3:PutObjectRetention",
                    "s3:GetObjectRetention", "s3:PutObjectLegalHold"],
         "Resource": "arn:aws:s3:::lkb/*"}]})
    .to_string();
    c.put_bucket_policy()
        .bucket("lkb")
        .policy(deny_bypass)
        .send()
        .await
        .unwrap();
    assert_s3_err(del("gov", &gov, true).await, "AccessDenied", 403);
    // Setting a lock on a write needs the rights to set it afterwards (s3:PutObject
    // alone cannot lock a version away from its owner), and reading it on GET/HEAD the
    // rights to read it.
    assert_s3_err(
        c.put_object()
            .bucket("lkb")
            .key("sneaky")
            .body(b"s".to_vec().into())
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(date(FAR))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        c.put_object()
            .bucket("lkb")
            .key("sneaky")
            .body(b"s".to_vec().into())
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert!(!exists(&c, "lkb", "sneaky").await);
    let head = c
        .head_object()
        .bucket("lkb")
        .key("comp")
        .version_id(&comp)
        .send()
        .await
        .unwrap();
    assert!(head.object_lock_mode().is_none());
    assert!(head.object_lock_retain_until_date().is_none());
    c.delete_bucket_policy().bucket("lkb").send().await.unwrap();
    del("gov", &gov, true).await.unwrap();
    // Released, the held version goes.
    c.put_object_legal_hold()
        .bucket("lkb")
        .key("held")
        .version_id(&held)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    del("held", &held, false).await.unwrap();
    // COMPLIANCE can only be extended.
    c.put_object_retention()
        .bucket("lkb")
        .key("comp")
        .version_id(&comp)
        .bypass_governance_retention(true)
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .retain_until_date(date(FAR + 86_400))
                .build(),
        )
        .send()
        .await
        .expect_err("COMPLIANCE cannot become GOVERNANCE");
    assert_eq!(
        retention(&c, "lkb", "comp", &comp).await,
        Some(("COMPLIANCE".into(), FAR))
    );
}
