//! The reference's (`seed/cwobject-api-reference.txt`) curl examples, sent verbatim to a
//! real server (bodies as `curl -d @data.json` sends them), with every response field
//! checked. Placeholders (`{accessKeyId}`, `{policy-name}`, `{bucketName}`) are replaced
//! by real values; the SetBucketSettings example's bucket `"string"` is created first so
//! the body stays verbatim.

use crate::mgmt_common::*;
use reqwest::Method;
use serde_json::json;

const PERMANENT_KEY: &str = "{\n\"durationSeconds\": 0\n}";
const TEMPORARY_KEY: &str = "{\n\"durationSeconds\": 300\n}";
const ALLOW_EVERYTHING: &str = r#"{
"policy": {
"version": "v1alpha1",
"name": "test-policy",
"statements": [
{
"name": "allow-everything",
"effect": "Allow",
"actions": ["*"],
"resources": ["*"],
"principals": ["*"]
}
]
}
}"#;
const BUCKET_SETTINGS: &str = r#"{
"bucketName": "string",
"settings": {
"auditLoggingEnabled": true
}
}"#;
const ORG_SETTINGS: &str = r#"{
"settings": {
"controlPlaneAuditLoggingEnabled": true,
"bucketAuditLoggingEnabled": true
}
}"#;
const REVOKE_KEY: &str = r#"{
"accessKey": "example-access-key"
}"#;
const REVOKE_PRINCIPAL: &str = r#"{
"principalName": "coreweave/ueqXfgRCYGqptEXAMPLE1"
}"#;

#[tokio::test]
async fn access_key_examples() {
    let ts = TestServer::start().await;
    let tok = Some(ts.admin_token.as_str());
    let principal = format!("coreweave/{}", ts.admin_uid);

    // CreateAccessKeyFromJWT, permanent.
    let r = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/access-key",
        tok,
        Some(PERMANENT_KEY),
    )
    .await;
    assert_eq!(r.request_id.as_deref().map(str::len), Some(32));
    let v = r.ok();
    let id = v["accessKeyID"].as_str().unwrap().to_string();
    assert_eq!(v["accessKeyId"], json!(id));
    assert!(coffer_core::ids::is_access_key_id(&id), "{id}");
    let secret = v["secretKey"].as_str().unwrap();
    assert_eq!(secret.len(), 43);
    assert!(secret.starts_with("cwo"));
    assert!(
        secret[3..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(v["principalName"], json!(principal));
    assert_eq!(v["expiry"], json!("1970-01-01T00:00:00Z"));
    assert_eq!(v["attributes"], json!({}));
    assert_eq!(v.as_object().unwrap().len(), 6, "{v}");

    // CreateAccessKeyFromJWT, temporary.
    let before = time::OffsetDateTime::now_utc();
    let v = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/access-key",
        tok,
        Some(TEMPORARY_KEY),
    )
    .await
    .ok();
    let tmp_id = v["accessKeyId"].as_str().unwrap().to_string();
    let exp = v["expiry"].as_str().unwrap();
    assert!(is_rfc3339_z(exp), "{exp}");
    let delta = (coffer_core::clock::parse_rfc3339(exp).unwrap() - before).whole_seconds();
    assert!((298..=302).contains(&delta), "{delta}");

    // ListAccessKeyInfo (GET with a Content-Type header and no body).
    let v = curl(&ts, Method::GET, "/v1/cwobject/access-key", tok, None)
        .await
        .ok();
    let info = v["info"].as_array().unwrap();
    assert_eq!(info.len(), 2);
    assert_eq!(
        info[0],
        json!({"accessKeyId": id, "status": "ACTIVE", "principalName": principal,
               "attributes": {}, "expiry": "1970-01-01T00:00:00Z", "orgId": ts.org_id})
    );
    assert_eq!(info[1]["accessKeyId"], json!(tmp_id));
    assert_eq!(info[1]["expiry"], json!(exp));

    // GetAccessKeyInfo.
    let v = curl(
        &ts,
        Method::GET,
        &format!("/v1/cwobject/access-key/{id}"),
        tok,
        None,
    )
    .await
    .ok();
    assert_eq!(v, json!({"info": info[0]}));

    // RevokeAccessKeyByAccessKey: the example's id does not exist; a real one does.
    let m = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/access-key",
        tok,
        Some(REVOKE_KEY),
    )
    .await
    .err(5, 404);
    assert!(m.contains("example-access-key"), "{m}");
    let body = REVOKE_KEY.replace("example-access-key", &id);
    let v = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/access-key",
        tok,
        Some(&body),
    )
    .await
    .ok();
    assert_eq!(v, json!({}));
    let v = curl(
        &ts,
        Method::GET,
        &format!("/v1/cwobject/access-key/{id}"),
        tok,
        None,
    )
    .await
    .ok();
    assert_eq!(v["info"]["status"], json!("DELETED"));

    // RevokeAccessKeysByPrincipal: verbatim (a principal without keys) and for real.
    let v = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/principal",
        tok,
        Some(REVOKE_PRINCIPAL),
    )
    .await
    .ok();
    assert_eq!(v, json!({}));
    let body = REVOKE_PRINCIPAL.replace("coreweave/ueqXfgRCYGqptEXAMPLE1", &principal);
    curl(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/principal",
        tok,
        Some(&body),
    )
    .await
    .ok();
    let v = curl(&ts, Method::GET, "/v1/cwobject/access-key", tok, None)
        .await
        .ok();
    for k in v["info"].as_array().unwrap() {
        assert_eq!(k["status"], json!("DELETED"), "{k}");
    }
}

#[tokio::test]
async fn access_policy_examples() {
    let ts = TestServer::start().await;
    let tok = Some(ts.admin_token.as_str());
    let v = curl(&ts, Method::GET, "/v1/cwobject/access-policy", tok, None)
        .await
        .ok();
    assert_eq!(v, json!({"policies": []}));

    let v = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/access-policy",
        tok,
        Some(ALLOW_EVERYTHING),
    )
    .await
    .ok();
    assert_eq!(v, json!({}));
    let v = curl(&ts, Method::GET, "/v1/cwobject/access-policy", tok, None)
        .await
        .ok();
    let expected: serde_json::Value = serde_json::from_str(ALLOW_EVERYTHING).unwrap();
    assert_eq!(v, json!({"policies": [expected["policy"]]}));

    // Ensure again replaces (idempotent upsert by name).
    curl(
        &ts,
        Method::POST,
        "/v1/cwobject/access-policy",
        tok,
        Some(ALLOW_EVERYTHING),
    )
    .await
    .ok();
    let v = curl(&ts, Method::GET, "/v1/cwobject/access-policy", tok, None)
        .await
        .ok();
    assert_eq!(v["policies"].as_array().unwrap().len(), 1);

    let v = curl(
        &ts,
        Method::DELETE,
        "/v1/cwobject/access-policy/test-policy",
        tok,
        None,
    )
    .await
    .ok();
    assert_eq!(v, json!({}));
    let v = curl(&ts, Method::GET, "/v1/cwobject/access-policy", tok, None)
        .await
        .ok();
    assert_eq!(v, json!({"policies": []}));
    curl(
        &ts,
        Method::DELETE,
        "/v1/cwobject/access-policy/test-policy",
        tok,
        None,
    )
    .await
    .err(5, 404);
}

#[tokio::test]
async fn organization_settings_example() {
    let ts = TestServer::start().await;
    let tok = Some(ts.admin_token.as_str());
    let v = curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/organization/settings",
        tok,
        Some(ORG_SETTINGS),
    )
    .await
    .ok();
    assert_eq!(
        v,
        json!({"settings": {"controlPlaneAuditLoggingEnabled": true, "bucketAuditLoggingEnabled": true}})
    );
    let v2 = curl(
        &ts,
        Method::GET,
        "/v1/cwobject/organization/settings",
        tok,
        None,
    )
    .await
    .ok();
    assert_eq!(v2, v);
}

#[tokio::test]
async fn bucket_examples() {
    let ts = TestServer::start().await;
    let tok = Some(ts.admin_token.as_str());
    let s3 = s3_admin_client(&ts).await;
    s3.create_bucket()
        .bucket("string")
        .send()
        .await
        .expect("create bucket");
    let body = vec![7u8; 1024 * 1024 - 2];
    s3.put_object()
        .bucket("string")
        .key("a")
        .body(body.into())
        .send()
        .await
        .expect("put a");
    for k in ["b", "c"] {
        s3.put_object()
            .bucket("string")
            .key(k)
            .body(vec![1u8].into())
            .send()
            .await
            .expect("put");
    }

    // SetBucketSettings, verbatim.
    let v = curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/bucket/settings",
        tok,
        Some(BUCKET_SETTINGS),
    )
    .await
    .ok();
    assert_eq!(v, json!({"settings": {"auditLoggingEnabled": true}}));

    // ListBucketInfo and GetBucketInfo.
    let v = curl(&ts, Method::GET, "/v1/cwobject/bucket-info", tok, None)
        .await
        .ok();
    let info = v["info"].as_array().unwrap();
    let b = info
        .iter()
        .find(|b| b["name"] == json!("string"))
        .expect("bucket listed");
    assert_eq!(b["orgId"], json!(ts.org_id));
    assert!(is_rfc3339_z(b["creationTime"].as_str().unwrap()));
    assert_eq!(b["settings"], json!({"auditLoggingEnabled": true}));
    assert_eq!(b["location"], json!("US-EAST-04A"));
    assert_eq!(
        b["usage"],
        json!([
            {"measurementType": "STORAGE_BYTES", "value": "1048576", "valueHumanReadable": "1.0 MiB"},
            {"measurementType": "OBJECT_COUNT", "value": "3", "valueHumanReadable": "3"}
        ])
    );
    assert_eq!(b.as_object().unwrap().len(), 6);
    let v = curl(
        &ts,
        Method::GET,
        "/v1/cwobject/bucket-info/string",
        tok,
        None,
    )
    .await
    .ok();
    assert_eq!(&v["info"], b);
}

#[tokio::test]
async fn saml_exchange_accepts_the_reference_request_shape() {
    let ts = TestServer::start().await;
    let data = r#"{
"durationSeconds": 300,
"orgId": "abc123",
"configId": "<WORKLOAD_FEDERATION_CONFIG_ID>",
"samlResponse": "<BASE64_ENCODED_SAML_RESPONSE>"
}"#;
    let r = curl(
        &ts,
        Method::POST,
        "/v1/cwobject/temporary-credentials/saml",
        Some(&ts.admin_token),
        Some(data),
    )
    .await;
    // The reference's placeholder is not base64: the documented InvalidArgument, never
    // a key (valid exchanges are in saml_federation.rs).
    r.err(3, 400);
}
