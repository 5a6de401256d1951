//! Access-key lifecycles end to end: management calls over reqwest, their effect on the
//! S3 plane through aws-sdk-s3. Suspend / re-activate / revoke one key, short-lived
//! keys expiring, and revoking every key of one principal (and nobody else's).

use crate::mgmt_common::{curl, member};
use crate::s3_common::{TestKey, TestServer, assert_s3_err, dbg_err, make_bucket, put};
use aws_sdk_s3::Client;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn call(ts: &TestServer, method: Method, path: &str, body: Value) -> Value {
    let (status, v) = ts
        .api(method, path, Some(&ts.admin_token), Some(body))
        .await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

async fn key_status(ts: &TestServer, id: &str) -> String {
    let (status, v) = ts
        .api(
            Method::GET,
            &format!("/v1/cwobject/access-key/{id}"),
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["info"]["status"].as_str().unwrap().to_string()
}

/// Status of `id` as ListAccessKeyInfo shows it.
async fn listed_status(ts: &TestServer, id: &str) -> String {
    let (_, v) = ts
        .api(
            Method::GET,
            "/v1/cwobject/access-key?limit=1000",
            Some(&ts.admin_token),
            None,
        )
        .await;
    v["info"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["accessKeyId"] == json!(id))
        .unwrap_or_else(|| panic!("{id} not listed: {v}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn set_status(ts: &TestServer, principal: &str, status: &str) {
    let v = call(
        ts,
        Method::PUT,
        "/v1/cwobject/access-key-status",
        json!({"principalName": principal, "status": status}),
    )
    .await;
    assert_eq!(v, json!({}));
}

/// The key works: an authenticated read of `bucket`.
async fn works(c: &Client, bucket: &str) {
    c.list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("expected the key to work: {}", dbg_err(&e)));
}

/// The key is refused at authentication, for reads and writes alike.
#[track_caller]
fn refused<T: std::fmt::Debug, E>(
    r: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    assert_s3_err(r, "InvalidAccessKeyId", 403);
}

async fn assert_refused(c: &Client, bucket: &str) {
    refused(c.list_objects_v2().bucket(bucket).send().await);
    refused(
        c.put_object()
            .bucket(bucket)
            .key("denied")
            .body(b"x".to_vec().into())
            .send()
            .await,
    );
}

async fn create_key(ts: &TestServer, token: &str, duration: i64) -> TestKey {
    let (status, v) = ts
        .api(
            Method::POST,
            "/v1/cwobject/access-key",
            Some(token),
            Some(json!({"durationSeconds": duration})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    TestKey {
        access_key_id: v["accessKeyId"].as_str().unwrap().into(),
        secret_key: v["secretKey"].as_str().unwrap().into(),
        principal: v["principalName"].as_str().unwrap().into(),
    }
}

#[tokio::test]
async fn suspend_reactivate_and_revoke() {
    let ts = TestServer::start().await;
    ts.allow_all().await;
    let k1 = ts.create_key(&ts.admin_token).await;
    let k2 = ts.create_key(&ts.admin_token).await;
    assert_eq!(k1.principal, k2.principal);
    let (c1, c2) = (ts.s3_client(&k1), ts.s3_client(&k2));
    make_bucket(&c1, "life").await;
    put(&c1, "life", "a", b"hello").await;
    works(&c1, "life").await;

    // Suspending the principal suspends every one of its keys, at once.
    set_status(&ts, &k1.principal, "ACCESS_KEY_STATUS_SUSPENDED").await;
    assert_refused(&c1, "life").await;
    assert_refused(&c2, "life").await;
    assert_eq!(key_status(&ts, &k1.access_key_id).await, "FULL_SUSPENDED");
    assert_eq!(
        listed_status(&ts, &k2.access_key_id).await,
        "FULL_SUSPENDED"
    );
    let (_, v) = ts
        .api(
            Method::GET,
            "/v1/cwobject/access-key?status=SUSPENDED",
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(v["info"].as_array().unwrap().len(), 2, "{v}");
    // The management API still accepts the user's API token: suspension is about keys.
    ts.api(Method::GET, "/v1/iam/whoami", Some(&ts.admin_token), None)
        .await;

    // Re-activation restores both; the data is untouched.
    set_status(&ts, &k1.principal, "ACCESS_KEY_STATUS_ACTIVE").await;
    works(&c1, "life").await;
    works(&c2, "life").await;
    assert_eq!(crate::s3_common::get(&c2, "life", "a").await, b"hello");
    assert_eq!(key_status(&ts, &k1.access_key_id).await, "ACTIVE");

    // Revoking k1 leaves k2 alone; k1 stays listed as DELETED.
    let v = call(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/access-key",
        json!({"accessKey": k1.access_key_id}),
    )
    .await;
    assert_eq!(v, json!({}));
    assert_refused(&c1, "life").await;
    works(&c2, "life").await;
    assert_eq!(key_status(&ts, &k1.access_key_id).await, "DELETED");
    assert_eq!(listed_status(&ts, &k1.access_key_id).await, "DELETED");
    assert_eq!(listed_status(&ts, &k2.access_key_id).await, "ACTIVE");
    // Revoking again is a no-op success (the alias field works too).
    call(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/access-key",
        json!({"accessKeyId": k1.access_key_id}),
    )
    .await;

    // A principal-wide re-activation does not resurrect a revoked key.
    set_status(&ts, &k1.principal, "ACCESS_KEY_STATUS_SUSPENDED").await;
    assert_refused(&c2, "life").await;
    set_status(&ts, &k1.principal, "ACCESS_KEY_STATUS_ACTIVE").await;
    assert_refused(&c1, "life").await;
    works(&c2, "life").await;
    assert_eq!(key_status(&ts, &k1.access_key_id).await, "DELETED");
}

#[tokio::test]
async fn short_lived_key_expires() {
    let ts = TestServer::start().await;
    ts.allow_all().await;
    let admin = ts.create_key(&ts.admin_token).await;
    make_bucket(&ts.s3_client(&admin), "short").await;

    let key = create_key(&ts, &ts.admin_token, 2).await;
    let c = ts.s3_client(&key);
    let (_, info) = ts
        .api(
            Method::GET,
            &format!("/v1/cwobject/access-key/{}", key.access_key_id),
            Some(&ts.admin_token),
            None,
        )
        .await;
    let expiry = coffer_core::clock::parse_rfc3339(info["info"]["expiry"].as_str().unwrap())
        .expect("RFC 3339 expiry");
    let left = expiry - time::OffsetDateTime::now_utc();
    assert!(
        left <= time::Duration::seconds(3) && left >= time::Duration::seconds(-1),
        "{left}"
    );
    works(&c, "short").await;
    put(&c, "short", "k", b"v").await;
    assert_eq!(key_status(&ts, &key.access_key_id).await, "ACTIVE");

    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_refused(&c, "short").await;
    assert_eq!(key_status(&ts, &key.access_key_id).await, "EXPIRED");
    assert_eq!(listed_status(&ts, &key.access_key_id).await, "EXPIRED");
    // The permanent key is unaffected and sees the object the expired key wrote.
    assert_eq!(
        crate::s3_common::get(&ts.s3_client(&admin), "short", "k").await,
        b"v"
    );
    assert_eq!(listed_status(&ts, &admin.access_key_id).await, "ACTIVE");
    // Re-activating the principal does not revive an expired key.
    set_status(&ts, &key.principal, "ACCESS_KEY_STATUS_ACTIVE").await;
    assert_refused(&c, "short").await;
    assert_eq!(key_status(&ts, &key.access_key_id).await, "EXPIRED");
}

#[tokio::test]
async fn revoke_by_principal_kills_only_that_principals_keys() {
    let ts = TestServer::start().await;
    ts.allow_all().await;
    let (uid, member_token) = member(&ts).await;
    let m1 = create_key(&ts, &member_token, 0).await;
    let m2 = create_key(&ts, &member_token, 3600).await;
    assert_eq!(m1.principal, format!("coreweave/{uid}"));
    assert_eq!(m2.principal, m1.principal);
    let admin = ts.create_key(&ts.admin_token).await;
    assert_ne!(admin.principal, m1.principal);
    let (cm1, cm2, ca) = (ts.s3_client(&m1), ts.s3_client(&m2), ts.s3_client(&admin));
    make_bucket(&ca, "shared").await;
    for c in [&cm1, &cm2, &ca] {
        works(c, "shared").await;
    }

    let v = call(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/principal",
        json!({"principalName": m1.principal}),
    )
    .await;
    assert_eq!(v, json!({}));
    assert_refused(&cm1, "shared").await;
    assert_refused(&cm2, "shared").await;
    works(&ca, "shared").await;
    assert_eq!(listed_status(&ts, &m1.access_key_id).await, "DELETED");
    assert_eq!(listed_status(&ts, &m2.access_key_id).await, "DELETED");
    assert_eq!(listed_status(&ts, &admin.access_key_id).await, "ACTIVE");

    // The member's API token still works, so new keys can be issued after a revoke.
    let m3 = create_key(&ts, &member_token, 0).await;
    works(&ts.s3_client(&m3), "shared").await;
    assert_refused(&cm1, "shared").await;

    // A principal without keys, and a key-less revoke, are fine / rejected respectively.
    call(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/principal",
        json!({"principalName": "coreweave/nobodyEXAMPLE0000000"}),
    )
    .await;
    curl(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/principal",
        Some(&ts.admin_token),
        Some("{}"),
    )
    .await
    .err(3, 400);
    works(&ca, "shared").await;
}
