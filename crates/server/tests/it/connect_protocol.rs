//! The Connect protocol binding of `/v1/cwobject` over a real server:
//! `POST /cwobject.v1.CWObject/<Rpc>` with a JSON body answers like the REST route of the
//! same RPC (path and query parameters become body fields), errors are Connect's
//! `{"code":"not_found","message"}` with Connect's HTTP statuses, and the protocol's
//! own rules (POST only, `application/json`, `Connect-Protocol-Version: 1`, identity
//! encoding) are enforced.

use crate::mgmt_common::*;
use reqwest::Method;
use serde_json::{Value, json};

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: String,
}

impl Answer {
    #[track_caller]
    fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{}", self.raw);
        assert_eq!(
            self.headers["content-type"].to_str().unwrap(),
            "application/json"
        );
        self.body
    }

    /// Asserts a Connect error body with `code` and HTTP `status`; returns the message.
    #[track_caller]
    fn err(self, code: &str, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.raw);
        assert_eq!(self.body["code"], json!(code), "{}", self.raw);
        let o = self.body.as_object().unwrap();
        assert_eq!(o.len(), 2, "only code and message: {}", self.raw);
        assert!(
            self.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        assert!(self.headers.contains_key("x-request-id"));
        self.body["message"].as_str().unwrap().to_string()
    }
}

async fn call_with(
    ts: &TestServer,
    rpc: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut req = ts
        .http
        .post(format!("{}/cwobject.v1.CWObject/{rpc}", ts.api_endpoint));
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let raw = resp.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
    }
}

async fn call(ts: &TestServer, rpc: &str, token: &str, msg: Value) -> Answer {
    call_with(
        ts,
        rpc,
        Some(token),
        Some("application/json"),
        &[("Connect-Protocol-Version", "1")],
        &msg.to_string(),
    )
    .await
}

async fn rest(ts: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, v) = ts.api(method, path, Some(&ts.admin_token), body).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

#[tokio::test]
async fn every_rpc_over_connect() {
    let ts = TestServer::start().await;
    let admin = ts.admin_token.clone();
    let t = admin.as_str();

    // Policies.
    let policy = json!({"version":"v1alpha1","name":"all","statements":[{"name":"s",
        "effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]});
    assert_eq!(
        call(&ts, "EnsureAccessPolicy", t, json!({"policy": policy}))
            .await
            .ok(),
        json!({})
    );
    let listed = call(&ts, "ListAccessPolicies", t, json!({})).await.ok();
    assert_eq!(listed["policies"], json!([policy]));
    assert_eq!(
        listed,
        rest(&ts, Method::GET, "/v1/cwobject/access-policy", None).await
    );
    let can = call(
        &ts,
        "AuthCanI",
        t,
        json!({"actions":["s3:GetObject"],"resources":["b/k"]}),
    )
    .await
    .ok();
    assert_eq!(can["verdict"], json!(true));

    // Keys: create, list with paging and filter as body fields, get by id.
    let k1 = call(
        &ts,
        "CreateAccessKeyFromJWT",
        t,
        json!({"durationSeconds": 0}),
    )
    .await
    .ok();
    let id1 = k1["accessKeyId"].as_str().unwrap().to_string();
    assert_eq!(k1["accessKeyID"], k1["accessKeyId"]);
    assert!(k1["secretKey"].as_str().unwrap().starts_with("cwo"));
    let principal = k1["principalName"].as_str().unwrap().to_string();
    let k2 = call(
        &ts,
        "CreateAccessKeyFromJWT",
        t,
        json!({"durationSeconds": "600", "attributes": {"name": "ci"}}),
    )
    .await
    .ok();
    let id2 = k2["accessKeyId"].as_str().unwrap().to_string();
    let page = call(
        &ts,
        "ListAccessKeyInfo",
        t,
        json!({"offset": 1, "limit": "1", "status": "ACCESS_KEY_STATUS_ACTIVE"}),
    )
    .await
    .ok();
    assert_eq!(page["info"].as_array().unwrap().len(), 1);
    assert_eq!(page["info"][0]["accessKeyId"], json!(id2));
    assert_eq!(
        page,
        rest(
            &ts,
            Method::GET,
            "/v1/cwobject/access-key?offset=1&limit=1&status=ACCESS_KEY_STATUS_ACTIVE",
            None
        )
        .await
    );
    let info = call(&ts, "GetAccessKeyInfo", t, json!({"accessKeyId": id1}))
        .await
        .ok();
    assert_eq!(info["info"]["status"], json!("ACTIVE"));
    assert_eq!(
        info,
        rest(
            &ts,
            Method::GET,
            &format!("/v1/cwobject/access-key/{id1}"),
            None
        )
        .await
    );

    // Suspend and re-activate the principal.
    for (status, shown) in [
        ("ACCESS_KEY_STATUS_SUSPENDED", "FULL_SUSPENDED"),
        ("ACCESS_KEY_STATUS_ACTIVE", "ACTIVE"),
    ] {
        call(
            &ts,
            "UpdateAccessKeyStatus",
            t,
            json!({"principalName": principal, "status": status}),
        )
        .await
        .ok();
        let info = call(&ts, "GetAccessKeyInfo", t, json!({"accessKeyId": id2}))
            .await
            .ok();
        assert_eq!(info["info"]["status"], json!(shown));
    }

    // Buckets: one created over S3, then settings and info over Connect.
    let s3 = s3_admin_client(&ts).await;
    s3.create_bucket().bucket("conn-b").send().await.unwrap();
    s3.put_object()
        .bucket("conn-b")
        .key("k")
        .body(vec![7u8; 10].into())
        .send()
        .await
        .unwrap();
    let set = call(
        &ts,
        "SetBucketSettings",
        t,
        json!({"bucketName":"conn-b","settings":{"capacityCapBytes":"4096"}}),
    )
    .await
    .ok();
    assert_eq!(set["settings"]["capacityCapBytes"], json!("4096"));
    let got = call(&ts, "GetBucketInfo", t, json!({"bucketName": "conn-b"}))
        .await
        .ok();
    assert_eq!(got["info"]["name"], json!("conn-b"));
    assert_eq!(got["info"]["usage"][0]["value"], json!("10"));
    assert_eq!(
        got,
        rest(&ts, Method::GET, "/v1/cwobject/bucket-info/conn-b", None).await
    );
    let all = call(&ts, "ListBucketInfo", t, json!({"limit": 10}))
        .await
        .ok();
    assert_eq!(all["info"], json!([got["info"]]));

    // Organization settings.
    let org = call(
        &ts,
        "SetOrganizationSettings",
        t,
        json!({"settings":{"bucketAuditLoggingEnabled": false}}),
    )
    .await
    .ok();
    assert_eq!(org["settings"]["bucketAuditLoggingEnabled"], json!(false));
    assert_eq!(
        call(&ts, "GetOrganizationSettings", t, json!({}))
            .await
            .ok(),
        org
    );

    // Revocations.
    call(
        &ts,
        "RevokeAccessKeyByAccessKey",
        t,
        json!({"accessKey": id1}),
    )
    .await
    .ok();
    let info = call(&ts, "GetAccessKeyInfo", t, json!({"accessKeyId": id1}))
        .await
        .ok();
    assert_eq!(info["info"]["status"], json!("DELETED"));
    call(
        &ts,
        "RevokeAccessKeysByPrincipal",
        t,
        json!({"principalName": principal}),
    )
    .await
    .ok();
    let info = call(&ts, "GetAccessKeyInfo", t, json!({"accessKeyId": id2}))
        .await
        .ok();
    assert_eq!(info["info"]["status"], json!("DELETED"));

    // Policy deletion by name (a body field, the REST path parameter).
    call(&ts, "DeleteAccessPolicy", t, json!({"name": "all"}))
        .await
        .ok();
    call(&ts, "DeleteAccessPolicy", t, json!({"name": "all"}))
        .await
        .err("not_found", 404);

    // The API-token exchange answers in the container-credentials shape.
    let v = call(&ts, "CreateAccessKeyFromApiToken", t, json!({}))
        .await
        .ok();
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("CW"), "{v}");
    assert!(v["Token"].is_string() && v["Expiration"].is_string(), "{v}");

    // The federated exchanges verify their credential (an API token is not one).
    for (rpc, msg) in [
        (
            "CreateAccessKeyFromOIDC",
            json!({"orgId": ts.org_id, "oidcToken": "x.y.z"}),
        ),
        (
            "CreateAccessKeyFromContainerCreds",
            json!({"orgId": ts.org_id}),
        ),
    ] {
        call(&ts, rpc, t, msg).await.err("unauthenticated", 401);
    }
    call(
        &ts,
        "CreateAccessKeyFromSAML",
        t,
        json!({"orgId": ts.org_id, "configId": "c", "samlResponse": "eA=="}),
    )
    .await
    .err("permission_denied", 403);
}

#[tokio::test]
async fn connect_errors_use_connect_codes_and_statuses() {
    let ts = TestServer::start().await;
    let t = ts.admin_token.clone();
    let t = t.as_str();

    // unauthenticated 401
    call_with(
        &ts,
        "ListAccessKeyInfo",
        None,
        Some("application/json"),
        &[],
        "{}",
    )
    .await
    .err("unauthenticated", 401);
    call_with(
        &ts,
        "ListAccessKeyInfo",
        Some("CW-SECRET-nope"),
        Some("application/json"),
        &[],
        "{}",
    )
    .await
    .err("unauthenticated", 401);

    // invalid_argument 400: the handler's own validation, bad JSON, bad types, paging.
    let m = call(&ts, "CreateAccessKeyFromJWT", t, json!({}))
        .await
        .err("invalid_argument", 400);
    assert!(m.contains("durationSeconds"), "{m}");
    for body in ["{", "[1]", "null", r#"{"durationSeconds":"soon"}"#] {
        call_with(
            &ts,
            "CreateAccessKeyFromJWT",
            Some(t),
            Some("application/json"),
            &[],
            body,
        )
        .await
        .err("invalid_argument", 400);
    }
    call(&ts, "ListAccessKeyInfo", t, json!({"limit": 0}))
        .await
        .err("invalid_argument", 400);
    call(&ts, "ListAccessKeyInfo", t, json!({"limit": {"n": 1}}))
        .await
        .err("invalid_argument", 400);
    let m = call(&ts, "GetAccessKeyInfo", t, json!({}))
        .await
        .err("invalid_argument", 400);
    assert!(m.contains("accessKeyId"), "{m}");
    call(&ts, "SetBucketSettings", t, json!({"bucketName": "x"}))
        .await
        .err("invalid_argument", 400);

    // not_found 404; a path parameter cannot reach another route.
    call(
        &ts,
        "GetAccessKeyInfo",
        t,
        json!({"accessKeyId": "CWNOSUCHKEY00000"}),
    )
    .await
    .err("not_found", 404);
    call(
        &ts,
        "GetAccessKeyInfo",
        t,
        json!({"accessKeyId": "../../iam/whoami"}),
    )
    .await
    .err("not_found", 404);
    call(&ts, "GetBucketInfo", t, json!({"bucketName": "nope"}))
        .await
        .err("not_found", 404);

    // permission_denied 403: a member without any policy.
    let (_uid, member_token) = member(&ts).await;
    call(
        &ts,
        "CreateAccessKeyFromJWT",
        &member_token,
        json!({"durationSeconds": 0}),
    )
    .await
    .err("permission_denied", 403);

    // Unknown procedures (and the /v1/iam RPCs, which are not Connect services).
    for rpc in ["NoSuchRpc", "WhoAmI", "createAccessKeyFromJWT"] {
        call(&ts, rpc, t, json!({})).await.err("not_found", 404);
    }
    let r = ts
        .http
        .post(format!("{}/cwobject.v1.CWObject/A/B", ts.api_endpoint))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], json!("not_found"));
}

#[tokio::test]
async fn connect_protocol_rules() {
    let ts = TestServer::start().await;
    let t = ts.admin_token.clone();
    let t = t.as_str();
    let url = format!(
        "{}/cwobject.v1.CWObject/ListAccessPolicies",
        ts.api_endpoint
    );

    // Unary Connect is POST; GET-encoded requests are not supported.
    let r = ts.http.get(&url).bearer_auth(t).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"].to_str().unwrap(), "POST");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], json!("unimplemented"));

    // JSON only: other or missing content types → 415 with Accept-Post.
    for ct in [Some("application/proto"), Some("text/plain"), None] {
        let a = call_with(&ts, "ListAccessPolicies", Some(t), ct, &[], "{}").await;
        assert_eq!(
            a.headers["accept-post"].to_str().unwrap(),
            "application/json"
        );
        a.err("invalid_argument", 415);
    }
    // Media-type parameters and case are fine; an empty body is the empty message.
    for ct in ["application/json; charset=utf-8", "Application/JSON"] {
        call_with(&ts, "ListAccessPolicies", Some(t), Some(ct), &[], "")
            .await
            .ok();
    }

    // Protocol version 1 only.
    call_with(
        &ts,
        "ListAccessPolicies",
        Some(t),
        Some("application/json"),
        &[("Connect-Protocol-Version", "2")],
        "{}",
    )
    .await
    .err("invalid_argument", 400);

    // No request compression.
    let a = call_with(
        &ts,
        "ListAccessPolicies",
        Some(t),
        Some("application/json"),
        &[("Content-Encoding", "gzip")],
        "{}",
    )
    .await;
    assert_eq!(a.headers["accept-encoding"].to_str().unwrap(), "identity");
    a.err("unimplemented", 501);

    // Oversize bodies are rejected, not buffered without bound.
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1024 * 1024 + 10));
    call_with(
        &ts,
        "ListAccessPolicies",
        Some(t),
        Some("application/json"),
        &[],
        &big,
    )
    .await
    .err("invalid_argument", 400);

    // The REST routes keep their integer error codes.
    let (status, v) = ts
        .api(
            Method::GET,
            "/v1/cwobject/access-key/CWNOSUCHKEY00000",
            Some(t),
            None,
        )
        .await;
    assert_eq!((status, v["code"].clone()), (404, json!(5)));
}
