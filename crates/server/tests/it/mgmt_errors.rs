//! Management API failures over a real server: every one is a
//! `{"code","message","details":[]}` body with the SPEC §2 status, never a 500 or a
//! plain-text rejection, and none changes stored state.

use crate::mgmt_common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn authentication_failures() {
    let ts = TestServer::start().await;
    let path = "/v1/cwobject/access-key";
    let r = curl(&ts, Method::GET, path, None, None).await;
    assert!(r.request_id.is_some());
    r.err(16, 401);
    curl(&ts, Method::GET, path, Some("CW-SECRET-WRONG"), None)
        .await
        .err(16, 401);
    curl(&ts, Method::GET, path, Some(""), None)
        .await
        .err(16, 401);
    // Authentication is checked before the body is parsed.
    curl(&ts, Method::POST, path, None, Some("{oops"))
        .await
        .err(16, 401);

    // An expired token.
    let v = curl(
        &ts,
        Method::POST,
        "/v1/iam/tokens",
        Some(&ts.admin_token),
        Some(r#"{"durationSeconds": 1, "description": "short"}"#),
    )
    .await
    .ok();
    let short = v["token"].as_str().unwrap().to_string();
    curl(&ts, Method::GET, path, Some(&short), None).await.ok();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    curl(&ts, Method::GET, path, Some(&short), None)
        .await
        .err(16, 401);
}

#[tokio::test]
async fn bad_bodies_are_invalid_argument() {
    let ts = TestServer::start().await;
    let tok = Some(ts.admin_token.as_str());
    let path = "/v1/cwobject/access-key";
    for (body, needle) in [
        ("{}", "durationSeconds"),
        ("", "durationSeconds"),
        (r#"{"durationSeconds": 43201}"#, "43200"),
        (r#"{"durationSeconds": -5}"#, "durationSeconds"),
        (r#"{"durationSeconds": "soon"}"#, ""),
        (r#"{"durationSeconds": true}"#, ""),
        (r#"{"durationSeconds": 0, "attributes": "x"}"#, ""),
        (r#"{"durationSeconds": 0"#, ""),
        ("[]", "object"),
        ("<xml/>", ""),
    ] {
        let m = curl(&ts, Method::POST, path, tok, Some(body))
            .await
            .err(3, 400);
        assert!(m.contains(needle), "{body}: {m}");
    }
    let attrs: serde_json::Map<String, serde_json::Value> =
        (1..=16).map(|i| (format!("attr{i}"), json!("v"))).collect();
    let m = curl(
        &ts,
        Method::POST,
        path,
        tok,
        Some(&json!({"durationSeconds": 0, "attributes": attrs}).to_string()),
    )
    .await
    .err(3, 400);
    assert!(m.contains("15"), "{m}");
    // 15 attributes are fine.
    let attrs: serde_json::Map<String, serde_json::Value> =
        (1..=15).map(|i| (format!("attr{i}"), json!("v"))).collect();
    let v = curl(
        &ts,
        Method::POST,
        path,
        tok,
        Some(&json!({"durationSeconds": 43200, "attributes": attrs}).to_string()),
    )
    .await
    .ok();
    assert_eq!(v["attributes"].as_object().unwrap().len(), 15);

    // More than 1 MiB.
    let big = format!(
        r#"{{"durationSeconds": 0, "pad": "{}"}}"#,
        "x".repeat(1024 * 1024 + 1)
    );
    curl(&ts, Method::POST, path, tok, Some(&big))
        .await
        .err(3, 400);

    // Only the one valid key exists.
    let v = curl(&ts, Method::GET, path, tok, None).await.ok();
    assert_eq!(v["info"].as_array().unwrap().len(), 1);

    // Wrong types elsewhere.
    curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/organization/settings",
        tok,
        Some(r#"{"settings": {"bucketAuditLoggingEnabled": "yes"}}"#),
    )
    .await
    .err(3, 400);
    curl(
        &ts,
        Method::POST,
        "/v1/cwobject/access-policy",
        tok,
        Some(r#"{"policy": {"version": "v1alpha1", "name": "p", "statements": {}}}"#),
    )
    .await
    .err(3, 400);
    let m = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/access-policy",
        tok,
        Some(
            r#"{"policy": {"version": "v1alpha1", "name": "p", "statements": [
            {"name": "bad-effect", "effect": "allow", "actions": ["*"], "resources": ["*"], "principals": ["*"]}]}}"#,
        ),
    )
    .await
    .err(3, 400);
    assert!(m.contains("bad-effect"), "{m}");
}

#[tokio::test]
async fn query_and_path_failures() {
    let ts = TestServer::start().await;
    let tok = Some(ts.admin_token.as_str());
    for q in [
        "limit=1001",
        "limit=0",
        "limit=ten",
        "offset=-1",
        "status=DELETED",
        "limit=5&limit=6",
    ] {
        curl(
            &ts,
            Method::GET,
            &format!("/v1/cwobject/access-key?{q}"),
            tok,
            None,
        )
        .await
        .err(3, 400);
    }
    curl(
        &ts,
        Method::GET,
        "/v1/cwobject/access-key?limit=1000",
        tok,
        None,
    )
    .await
    .ok();
    curl(
        &ts,
        Method::GET,
        "/v1/cwobject/bucket-info?limit=1001",
        tok,
        None,
    )
    .await
    .err(3, 400);

    curl(
        &ts,
        Method::GET,
        "/v1/cwobject/access-key/CWDOESNOTEXIST00",
        tok,
        None,
    )
    .await
    .err(5, 404);
    curl(
        &ts,
        Method::GET,
        "/v1/cwobject/bucket-info/no-such-bucket",
        tok,
        None,
    )
    .await
    .err(5, 404);
    curl(
        &ts,
        Method::DELETE,
        "/v1/cwobject/access-policy/nope",
        tok,
        None,
    )
    .await
    .err(5, 404);
    curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/bucket/settings",
        tok,
        Some(r#"{"bucketName": "no-such-bucket", "settings": {"auditLoggingEnabled": true}}"#),
    )
    .await
    .err(5, 404);
    curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/bucket/settings",
        tok,
        Some(r#"{"bucketName": "no-such-bucket"}"#),
    )
    .await
    .err(3, 400);

    // Unknown paths and methods answer JSON too.
    curl(&ts, Method::GET, "/v1/cwobject/unknown", tok, None)
        .await
        .err(5, 404);
    curl(&ts, Method::GET, "/", None, None).await.err(5, 404);
    curl(&ts, Method::PATCH, "/v1/cwobject/access-key", tok, None)
        .await
        .err(12, 405);
}

#[tokio::test]
async fn member_needs_policies() {
    let ts = TestServer::start().await;
    let (uid, tok) = member(&ts).await;
    let tok = Some(tok.as_str());
    for (method, path, body, action) in [
        (
            Method::POST,
            "/v1/cwobject/access-key",
            Some(r#"{"durationSeconds": 0}"#),
            "cwobject:CreateAccessKey",
        ),
        (
            Method::GET,
            "/v1/cwobject/access-key",
            None,
            "cwobject:ListAccessKeyInfo",
        ),
        (
            Method::GET,
            "/v1/cwobject/access-policy",
            None,
            "cwobject:ListAccessPolicy",
        ),
        (
            Method::GET,
            "/v1/cwobject/bucket-info",
            None,
            "cwobject:ListBucketInfo",
        ),
        (
            Method::PUT,
            "/v1/cwobject/organization/settings",
            Some(r#"{"settings": {"controlPlaneAuditLoggingEnabled": true}}"#),
            "cwobject:EnableControlPlaneAuditLogging",
        ),
        (
            Method::POST,
            "/v1/cwobject/revoke-access-key/principal",
            Some(r#"{"principalName": "coreweave/x"}"#),
            "cwobject:RevokeAccessKeysByPrincipal",
        ),
    ] {
        let m = curl(&ts, method, path, tok, body).await.err(7, 403);
        assert!(m.contains(action), "{path}: {m}");
    }
    // Identity management is for admins.
    curl(&ts, Method::GET, "/v1/iam/users", tok, None)
        .await
        .err(7, 403);
    // whoami works for anyone.
    let v = curl(&ts, Method::GET, "/v1/iam/whoami", tok, None)
        .await
        .ok();
    assert_eq!(
        v,
        json!({"principal": format!("coreweave/{uid}"), "uid": uid, "orgId": ts.org_id, "role": "member"})
    );
    // AuthCanI answers without an action check.
    let v = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/auth/can-i",
        tok,
        Some(r#"{"actions": ["s3:GetObject"], "resources": ["bucket/key"]}"#),
    )
    .await
    .ok();
    assert_eq!(v["verdict"], json!(false));
    assert_eq!(v["decisions"][0]["decidedBy"], json!({"layer": "default"}));

    // With a policy the member may create keys, carrying its own principal.
    ts.allow_all().await;
    let v = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/access-key",
        tok,
        Some(r#"{"durationSeconds": 0}"#),
    )
    .await
    .ok();
    assert_eq!(v["principalName"], json!(format!("coreweave/{uid}")));
    let v = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/auth/can-i",
        tok,
        Some(r#"{"actions": ["s3:GetObject"], "resources": ["bucket/key"]}"#),
    )
    .await
    .ok();
    assert_eq!(
        v,
        json!({"verdict": true, "decisions": [{"action": "s3:GetObject", "resource": "bucket/key",
            "allowed": true, "decidedBy": {"layer": "org", "policy": "test-policy",
            "statement": "allow-everything"}}]})
    );
}

#[tokio::test]
async fn archive_settings_need_entitlement() {
    let ts = TestServer::start().await;
    let s3 = s3_admin_client(&ts).await;
    s3.create_bucket()
        .bucket("arch")
        .send()
        .await
        .expect("create bucket");
    let m = curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/bucket/settings",
        Some(&ts.admin_token),
        Some(r#"{"bucketName": "arch", "settings": {"archiveEnabled": true}}"#),
    )
    .await
    .err(7, 403);
    assert_eq!(
        m,
        "organization is not entitled to feature(s): BucketArchive"
    );
    // Capacity cap: u64 string in and out, cleared with `clearCapacityCap: {}`.
    let v = curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/bucket/settings",
        Some(&ts.admin_token),
        Some(r#"{"bucketName": "arch", "settings": {"capacityCapBytes": "1048576"}}"#),
    )
    .await
    .ok();
    assert_eq!(
        v,
        json!({"settings": {"auditLoggingEnabled": false, "capacityCapBytes": "1048576"}})
    );
    let v = curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/bucket/settings",
        Some(&ts.admin_token),
        Some(r#"{"bucketName": "arch", "settings": {"clearCapacityCap": {}}}"#),
    )
    .await
    .ok();
    assert_eq!(v, json!({"settings": {"auditLoggingEnabled": false}}));
}
