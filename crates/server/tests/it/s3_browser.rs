//! What a browser does, driven by `scripts/boto3-browser.py` (boto3 + urllib): CORS
//! preflights as a browser sends them, and presigned POST form uploads
//! (`generate_presigned_post` + a multipart/form-data POST) with their failure cases.
//! Follows the boto3 pattern of `temp_credentials.rs`: without boto3 the test prints
//! SKIPPED (`.ci/run` installs it).

use crate::s3_common::*;
use coffer_server::testing::{assert_script_ok, python_has, run_python_script};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn boto3_cors_preflight_and_presigned_post() {
    if !python_has("boto3") {
        eprintln!(
            "SKIPPED boto3_cors_preflight_and_presigned_post: python3 with boto3 is not installed (pip install boto3)"
        );
        return;
    }
    let ts = TestServer::start().await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "admin-s3",
        "statements": [{"name": "all", "effect": "Allow", "actions": ["s3:*"],
                        "resources": ["*"], "principals": [format!("coreweave/{}", ts.admin_uid)]}]
    }))
    .await;
    let admin_key = ts.create_key(&ts.admin_token).await;
    let admin = ts.s3_client(&admin_key);
    make_bucket(&admin, "browser").await;

    // A member who may read but not write the bucket.
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/users",
            Some(&ts.admin_token),
            Some(json!({"name": "reader", "role": "member"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let uid = v["user"]["uid"].as_str().unwrap().to_string();
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/tokens",
            Some(&ts.admin_token),
            Some(json!({"uid": uid, "durationSeconds": 0})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "reader",
        "statements": [
            {"name": "keys", "effect": "Allow", "actions": ["cwobject:CreateAccessKey"],
             "resources": ["*"], "principals": [format!("coreweave/{uid}")]},
            {"name": "read", "effect": "Allow", "actions": ["s3:GetObject"],
             "resources": ["browser/*"], "principals": [format!("coreweave/{uid}")]}
        ]
    }))
    .await;
    let reader = ts.create_key(&token).await;

    let out = run_python_script(
        "boto3-browser.py",
        &[
            &ts.s3_endpoint,
            &admin_key.access_key_id,
            &admin_key.secret_key,
            &reader.access_key_id,
            &reader.secret_key,
            "browser",
        ],
        &[],
    )
    .await;
    assert_script_ok(&out);
    // The uploads went through the object service: visible and counted.
    assert_eq!(
        get(&admin, "browser", "uploads/notes.txt").await,
        b"hello from a form"
    );
    let listed = admin
        .list_objects_v2()
        .bucket("browser")
        .send()
        .await
        .unwrap();
    let mut keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ok200.txt",
            "plain.txt",
            "redirected.txt",
            "uploads/notes.txt"
        ]
    );
}
