//! What a browser does, driven by `scripts/boto3-browser.py` (boto3 + urllib): CORS
//! preflights as a browser sends them, and presigned POST form uploads
//! (`generate_presigned_post` + a multipart/form-data POST) with their failure cases.
//! Follows the boto3 pattern of `temp_credentials.rs`: without boto3 the test prints
//! SKIPPED (`.ci/run` installs it).

mod s3_common;

use reqwest::Method;
use s3_common::*;
use serde_json::json;
use std::path::Path;

fn boto3_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn boto3_cors_preflight_and_presigned_post() {
    if !boto3_available() {
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

    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/boto3-browser.py")
        .canonicalize()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(&script)
        .args([
            ts.s3_endpoint.as_str(),
            admin_key.access_key_id.as_str(),
            admin_key.secret_key.as_str(),
            reader.access_key_id.as_str(),
            reader.secret_key.as_str(),
            "browser",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some(pp) = std::env::var_os("PYTHONPATH") {
        cmd.env("PYTHONPATH", pp);
    }
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "boto3 script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
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
