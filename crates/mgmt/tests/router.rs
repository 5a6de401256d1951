//! The management router over real stores (SQLite and blob files in temporary
//! directories), driven with `tower::ServiceExt::oneshot`:
//! the choke point (request id, authentication, authorization, body/query parsing, error
//! rendering) and every RPC's wire shape. End-to-end tests over a real listener live in
//! `crates/server/tests/mgmt_*.rs`.

use axum::Router;
use axum::body::Body;
use coffer_core::clock::{Clock, OffsetClock};
use coffer_core::identity::{IdentityService, SecretCipher, hash_token};
use coffer_core::meta::MetaStore;
use coffer_core::model::*;
use coffer_core::objects::{ObjectConfig, ObjectService};
use coffer_core::policy::PolicyEngine;
use coffer_core::policy_service::PolicyService;
use coffer_mgmt::{AppState, MgmtDeps, router_with_state};
use coffer_store::FsBlobStore;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

const OPERATOR: &str = "operator-secret-for-tests";

struct H {
    app: Router,
    state: AppState,
    meta: Arc<dyn MetaStore>,
    identity: Arc<IdentityService>,
    clock: OffsetClock,
    org: String,
    admin_uid: String,
    admin: String,
    _dir: tempfile::TempDir,
}

struct Resp {
    status: StatusCode,
    request_id: String,
    body: Value,
    raw: String,
}

impl Resp {
    #[track_caller]
    fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.raw);
        self.body
    }

    #[track_caller]
    fn err(self, code: i64, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.raw);
        assert_eq!(self.body["code"], json!(code), "{}", self.raw);
        assert_eq!(self.body["details"], json!([]), "{}", self.raw);
        assert_eq!(self.body.as_object().unwrap().len(), 3, "{}", self.raw);
        self.body["message"].as_str().unwrap().to_string()
    }
}

async fn harness() -> H {
    let meta: Arc<dyn MetaStore> = Arc::new(coffer_store::testing::temp_sqlite());
    let clock = OffsetClock::default();
    let clock_dyn: Arc<dyn Clock> = Arc::new(clock.clone());
    let identity = Arc::new(IdentityService::new(
        meta.clone(),
        SecretCipher::new(&[7u8; 32]),
        clock_dyn.clone(),
    ));
    let engine = Arc::new(PolicyEngine::new());
    let policies = Arc::new(PolicyService::with_clock(
        meta.clone(),
        engine.clone(),
        clock_dyn.clone(),
    ));
    policies.load_all().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(dir.path()).unwrap());
    let objects = Arc::new(ObjectService::new(
        meta.clone(),
        blobs,
        clock_dyn,
        ObjectConfig::default(),
    ));
    let boot = identity.bootstrap_if_empty("acme").await.unwrap().unwrap();
    let audit = Arc::new(coffer_core::audit::AuditService::new(
        meta.clone(),
        objects.clone(),
        Arc::new(coffer_core::audit::MemorySink::default()),
    ));
    let state: AppState = Arc::new(MgmtDeps {
        identity: identity.clone(),
        policies,
        engine,
        objects,
        meta: meta.clone(),
        audit,
        operator_token_hash: Some(hash_token(OPERATOR)),
        budget: coffer_core::budget::ByteBudget::new(64 << 20),
        metrics: Default::default(),
        access_log: false,
    });
    let app = router_with_state(state.clone());
    H {
        app,
        state,
        meta,
        identity,
        clock,
        org: boot.org.org_id,
        admin_uid: boot.user.uid,
        admin: boot.token,
        _dir: dir,
    }
}

impl H {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .expect("every response carries x-request-id")
            .to_str()
            .unwrap()
            .to_string();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let raw = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            request_id,
            body,
            raw,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }
    async fn post(&self, path: &str, token: &str, body: &str) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    async fn put(&self, path: &str, token: &str, body: &str) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }
    async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// A member of the admin's org and its API token.
    async fn member(&self) -> (String, String) {
        let u = self
            .identity
            .create_user(&self.org, "member", Role::Member)
            .await
            .unwrap();
        let (t, _) = self
            .identity
            .create_token(&self.org, &u.uid, 0, "m")
            .await
            .unwrap();
        (u.uid, t)
    }

    /// A second org with an admin token.
    async fn other_org(&self) -> (String, String) {
        let o = self.identity.create_org("other", vec![]).await.unwrap();
        let u = self
            .identity
            .create_user(&o.org_id, "admin", Role::Admin)
            .await
            .unwrap();
        let (t, _) = self
            .identity
            .create_token(&o.org_id, &u.uid, 0, "o")
            .await
            .unwrap();
        (o.org_id, t)
    }

    async fn bucket(&self, org: &str, name: &str) {
        self.meta
            .create_bucket(&Bucket {
                name: name.into(),
                org_id: org.into(),
                zone: "US-EAST-04A".into(),
                created: self.clock.now(),
                settings: BucketSettings::default(),
                policy: None,
                versioning: Default::default(),
                lifecycle: None,
                subresources: Default::default(),
            })
            .await
            .unwrap();
    }

    async fn object(&self, bucket: &str, key: &str, size: usize) {
        self.meta
            .put_object(
                &ObjectRecord {
                    inline_crc32c: None,
                    upload_id: None,
                    owner_org: None,
                    acl: None,
                    retention: None,
                    legal_hold: false,
                    v: RECORD_VERSION,
                    bucket: bucket.into(),
                    key: key.into(),
                    size: size as u64,
                    etag: "\"x\"".into(),
                    last_modified: self.clock.now(),
                    headers: ObjectHeaders::default(),
                    user_metadata: BTreeMap::new(),
                    checksums: Checksums::default(),
                    parts: vec![],
                    tags: BTreeMap::new(),
                    data: ObjectData::Inline(vec![0; size]),
                    version_id: None,
                    encryption: None,
                },
                &WriteCondition::None,
                None,
            )
            .await
            .unwrap();
    }
}

fn is_rfc3339_z(s: &str) -> bool {
    s.len() == 20 && s.ends_with('Z') && coffer_core::clock::parse_rfc3339(s).is_some()
}

const ALLOW_ALL: &str = r#"{
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

#[tokio::test]
async fn probes_and_unknown_routes() {
    let h = harness().await;
    let r = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((r.status, r.raw.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(r.request_id.len(), 32);
    let r = h.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);

    let msg = h.get("/v1/cwobject/nope", &h.admin).await.err(5, 404);
    assert!(msg.contains("/v1/cwobject/nope"), "{msg}");
    h.delete("/v1/cwobject/access-key", &h.admin)
        .await
        .err(12, 405);
    h.call(Method::PATCH, "/v1/iam/whoami", None, None)
        .await
        .err(12, 405);
    // The SAML exchange is routed (anonymous): an empty request is InvalidArgument.
    let msg = h
        .post("/v1/cwobject/temporary-credentials/saml", &h.admin, "{}")
        .await
        .err(3, 400);
    assert!(msg.contains("orgId is required"), "{msg}");
}

#[tokio::test]
async fn authentication_failures_are_16() {
    let h = harness().await;
    let path = "/v1/cwobject/access-key";
    let r = h.call(Method::GET, path, None, None).await;
    let id = r.request_id.clone();
    r.err(16, 401);
    let r2 = h.call(Method::GET, path, None, None).await;
    assert_ne!(r2.request_id, id, "request ids are unique");
    h.get(path, "CW-SECRET-NOTATOKEN").await.err(16, 401);
    h.get(path, "garbage").await.err(16, 401);
    // Wrong scheme.
    let req = Request::get(path)
        .header("authorization", format!("Basic {}", h.admin))
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.app.clone().oneshot(req).await.unwrap().status(), 401);
    // Expired token.
    let (t, _) = h
        .identity
        .create_token(&h.org, &h.admin_uid, 60, "short")
        .await
        .unwrap();
    h.get(path, &t).await.ok();
    h.clock.advance(61);
    h.get(path, &t).await.err(16, 401);
    // Authentication precedes body parsing: a malformed body without a token is a 16.
    h.call(Method::POST, path, None, Some("{not json"))
        .await
        .err(16, 401);
    // The operator token has no org identity.
    h.get(path, OPERATOR).await.err(7, 403);
}

#[tokio::test]
async fn create_access_key_reference_examples() {
    let h = harness().await;
    let path = "/v1/cwobject/access-key";
    let v = h
        .post(path, &h.admin, "{\n\"durationSeconds\": 0\n}")
        .await
        .ok();
    let id = v["accessKeyID"].as_str().unwrap();
    assert_eq!(v["accessKeyId"], v["accessKeyID"]);
    assert!(id.len() == 16 && id.starts_with("CW"), "{id}");
    let secret = v["secretKey"].as_str().unwrap();
    assert!(secret.len() == 43 && secret.starts_with("cwo"));
    assert_eq!(
        v["principalName"],
        json!(format!("coreweave/{}", h.admin_uid))
    );
    assert_eq!(v["expiry"], json!("1970-01-01T00:00:00Z"));
    assert_eq!(v["attributes"], json!({}));
    assert_eq!(v.as_object().unwrap().len(), 6);
    // The key works for S3 right away.
    let resolved = h.identity.resolve_access_key(id).await.unwrap();
    assert_eq!(resolved.secret, secret);

    let before = h.clock.now();
    let v = h
        .post(path, &h.admin, "{\n\"durationSeconds\": 300\n}")
        .await
        .ok();
    let exp = coffer_core::clock::parse_rfc3339(v["expiry"].as_str().unwrap()).unwrap();
    let delta = (exp - before).whole_seconds();
    assert!((299..=301).contains(&delta), "{delta}");

    // Extension fields and string int64.
    let v = h
        .post(
            path,
            &h.admin,
            r#"{"durationSeconds":"43200","attributes":{"name":"ci"},"x":1}"#,
        )
        .await
        .ok();
    assert_eq!(v["attributes"], json!({"name":"ci"}));
}

#[tokio::test]
async fn create_access_key_rejects_bad_input_with_3() {
    let h = harness().await;
    let path = "/v1/cwobject/access-key";
    let m = h.post(path, &h.admin, "{}").await.err(3, 400);
    assert!(m.contains("durationSeconds"), "{m}");
    h.post(path, &h.admin, "").await.err(3, 400);
    let m = h
        .post(path, &h.admin, r#"{"durationSeconds":43201}"#)
        .await
        .err(3, 400);
    assert!(m.contains("43200"), "{m}");
    h.post(path, &h.admin, r#"{"durationSeconds":-1}"#)
        .await
        .err(3, 400);
    h.post(path, &h.admin, r#"{"durationSeconds":"abc"}"#)
        .await
        .err(3, 400);
    h.post(path, &h.admin, r#"{"durationSeconds":1.5}"#)
        .await
        .err(3, 400);
    h.post(path, &h.admin, r#"{"durationSeconds":0,"attributes":[]}"#)
        .await
        .err(3, 400);
    h.post(path, &h.admin, r#"{"durationSeconds":0"#)
        .await
        .err(3, 400);
    h.post(path, &h.admin, r#"[0]"#).await.err(3, 400);
    h.post(path, &h.admin, "not json at all").await.err(3, 400);
    let attrs: serde_json::Map<String, Value> =
        (0..16).map(|i| (format!("k{i}"), json!("v"))).collect();
    let body = json!({"durationSeconds": 0, "attributes": attrs}).to_string();
    let m = h.post(path, &h.admin, &body).await.err(3, 400);
    assert!(m.contains("15"), "{m}");
    let m = h
        .post(
            path,
            &h.admin,
            r#"{"durationSeconds":0,"attributes":{"cw-x":"v"}}"#,
        )
        .await
        .err(3, 400);
    assert!(m.contains("cw-"), "{m}");
    // Oversize body (> 1 MiB), with and without a declared length.
    let big = format!(
        r#"{{"durationSeconds":0,"pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    h.post(path, &h.admin, &big).await.err(3, 400);
    let stream = chunked_body(big.clone());
    let req = Request::post(path)
        .header("authorization", format!("Bearer {}", h.admin))
        .body(stream)
        .unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 400);
    // Nothing was created by any of the failures.
    let v = h.get(path, &h.admin).await.ok();
    assert_eq!(v["info"], json!([]));
}

/// A body without a Content-Length (streamed in 64 KiB chunks).
fn chunked_body(s: String) -> Body {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = s
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn list_and_get_access_keys() {
    let h = harness().await;
    let path = "/v1/cwobject/access-key";
    let mut ids = vec![];
    for d in [0, 300, 0] {
        let v = h
            .post(path, &h.admin, &json!({"durationSeconds": d}).to_string())
            .await
            .ok();
        ids.push(v["accessKeyId"].as_str().unwrap().to_string());
    }
    let v = h.call(Method::GET, path, Some(&h.admin), None).await.ok();
    let info = v["info"].as_array().unwrap();
    assert_eq!(info.len(), 3);
    let listed: Vec<_> = info
        .iter()
        .map(|i| i["accessKeyId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids, "creation order");
    let first = &info[0];
    assert_eq!(first["status"], json!("ACTIVE"));
    assert_eq!(
        first["principalName"],
        json!(format!("coreweave/{}", h.admin_uid))
    );
    assert_eq!(first["attributes"], json!({}));
    assert_eq!(first["expiry"], json!("1970-01-01T00:00:00Z"));
    assert_eq!(first["orgId"], json!(h.org));
    assert!(is_rfc3339_z(info[1]["expiry"].as_str().unwrap()));

    let v = h
        .get(&format!("{path}?offset=1&limit=1"), &h.admin)
        .await
        .ok();
    assert_eq!(v["info"][0]["accessKeyId"], json!(ids[1]));
    assert_eq!(v["info"].as_array().unwrap().len(), 1);
    let v = h.get(&format!("{path}?offset=99"), &h.admin).await.ok();
    assert_eq!(v["info"], json!([]));
    for bad in [
        "limit=1001",
        "limit=0",
        "limit=abc",
        "offset=-1",
        "limit=1&limit=2",
        "status=BOGUS",
    ] {
        h.get(&format!("{path}?{bad}"), &h.admin).await.err(3, 400);
    }
    h.get(&format!("{path}?limit=1000"), &h.admin).await.ok();

    // Expired keys are listed as EXPIRED and excluded by the ACTIVE filter.
    h.clock.advance(301);
    let v = h
        .get(&format!("{path}?status=ACCESS_KEY_STATUS_ACTIVE"), &h.admin)
        .await
        .ok();
    assert_eq!(v["info"].as_array().unwrap().len(), 2);
    let v = h.get(&format!("{path}/{}", ids[1]), &h.admin).await.ok();
    assert_eq!(v["info"]["status"], json!("EXPIRED"));
    assert_eq!(v["info"]["accessKeyId"], json!(ids[1]));

    let m = h
        .get(&format!("{path}/CWNOSUCHKEY00000"), &h.admin)
        .await
        .err(5, 404);
    assert!(m.contains("CWNOSUCHKEY00000"));
    // Another org cannot see these keys, not even by id.
    let (_, other) = h.other_org().await;
    h.get(&format!("{path}/{}", ids[0]), &other)
        .await
        .err(5, 404);
    let v = h.get(path, &other).await.ok();
    assert_eq!(v["info"], json!([]));
}

#[tokio::test]
async fn suspend_reactivate_and_revoke() {
    let h = harness().await;
    let (muid, mtok) = h.member().await;
    let principal = format!("coreweave/{muid}");
    // The member needs a policy to create keys.
    h.post("/v1/cwobject/access-key", &mtok, r#"{"durationSeconds":0}"#)
        .await
        .err(7, 403);
    h.post("/v1/cwobject/access-policy", &h.admin, ALLOW_ALL)
        .await
        .ok();
    let mut keys = vec![];
    for _ in 0..2 {
        let v = h
            .post("/v1/cwobject/access-key", &mtok, r#"{"durationSeconds":0}"#)
            .await
            .ok();
        assert_eq!(v["principalName"], json!(principal));
        keys.push(v["accessKeyId"].as_str().unwrap().to_string());
    }
    h.identity.resolve_access_key(&keys[0]).await.unwrap();

    let body =
        json!({"principalName": principal, "status": "ACCESS_KEY_STATUS_SUSPENDED"}).to_string();
    assert_eq!(
        h.put("/v1/cwobject/access-key-status", &h.admin, &body)
            .await
            .ok(),
        json!({})
    );
    for k in &keys {
        assert!(
            h.identity.resolve_access_key(k).await.is_err(),
            "cache dropped"
        );
    }
    let v = h
        .get("/v1/cwobject/access-key?status=SUSPENDED", &h.admin)
        .await
        .ok();
    assert_eq!(v["info"].as_array().unwrap().len(), 2);
    assert_eq!(v["info"][0]["status"], json!("FULL_SUSPENDED"));
    let body = json!({"principalName": principal, "status": "ACTIVE"}).to_string();
    h.put("/v1/cwobject/access-key-status", &h.admin, &body)
        .await
        .ok();
    h.identity.resolve_access_key(&keys[0]).await.unwrap();
    for bad in [
        json!({"principalName": principal, "status": "DELETED"}),
        json!({"principalName": principal}),
        json!({"status": "ACTIVE"}),
    ] {
        h.put("/v1/cwobject/access-key-status", &h.admin, &bad.to_string())
            .await
            .err(3, 400);
    }

    // Revoke one key by id (reference spelling), then the alias.
    let r = h
        .post(
            "/v1/cwobject/revoke-access-key/access-key",
            &h.admin,
            &json!({"accessKey": keys[0]}).to_string(),
        )
        .await
        .ok();
    assert_eq!(r, json!({}));
    assert!(h.identity.resolve_access_key(&keys[0]).await.is_err());
    let v = h
        .get(&format!("/v1/cwobject/access-key/{}", keys[0]), &h.admin)
        .await
        .ok();
    assert_eq!(v["info"]["status"], json!("DELETED"));
    // Re-activating the principal does not resurrect a revoked key.
    h.put("/v1/cwobject/access-key-status", &h.admin, &body)
        .await
        .ok();
    assert!(h.identity.resolve_access_key(&keys[0]).await.is_err());

    h.post(
        "/v1/cwobject/revoke-access-key/access-key",
        &h.admin,
        &json!({"accessKeyId": keys[1]}).to_string(),
    )
    .await
    .ok();
    assert!(h.identity.resolve_access_key(&keys[1]).await.is_err());
    h.post(
        "/v1/cwobject/revoke-access-key/access-key",
        &h.admin,
        r#"{"accessKey": "example-access-key"}"#,
    )
    .await
    .err(5, 404);
    h.post("/v1/cwobject/revoke-access-key/access-key", &h.admin, "{}")
        .await
        .err(3, 400);

    // Revoke by principal (the reference's body shape).
    let v = h
        .post("/v1/cwobject/access-key", &mtok, r#"{"durationSeconds":0}"#)
        .await
        .ok();
    let k3 = v["accessKeyId"].as_str().unwrap().to_string();
    let body = format!("{{\n\"principalName\": \"{principal}\"\n}}");
    assert_eq!(
        h.post("/v1/cwobject/revoke-access-key/principal", &h.admin, &body)
            .await
            .ok(),
        json!({})
    );
    assert!(h.identity.resolve_access_key(&k3).await.is_err());
    h.post("/v1/cwobject/revoke-access-key/principal", &h.admin, "{}")
        .await
        .err(3, 400);
}

#[tokio::test]
async fn policies_and_member_authorization() {
    let h = harness().await;
    let (muid, mtok) = h.member().await;
    let v = h.get("/v1/cwobject/access-policy", &h.admin).await.ok();
    assert_eq!(v, json!({"policies": []}));

    // Member without policy: denied, message names the action.
    let m = h.get("/v1/cwobject/access-policy", &mtok).await.err(7, 403);
    assert!(m.contains("cwobject:ListAccessPolicy"), "{m}");
    let m = h.get("/v1/cwobject/bucket-info", &mtok).await.err(7, 403);
    assert!(m.contains("cwobject:ListBucketInfo"), "{m}");

    assert_eq!(
        h.post("/v1/cwobject/access-policy", &h.admin, ALLOW_ALL)
            .await
            .ok(),
        json!({})
    );
    let v = h.get("/v1/cwobject/access-policy", &h.admin).await.ok();
    assert_eq!(
        v,
        json!({"policies":[{"version":"v1alpha1","name":"test-policy","statements":[{
            "name":"allow-everything","effect":"Allow","actions":["*"],"resources":["*"],
            "principals":["*"]}]}]})
    );
    // Now the member may.
    h.get("/v1/cwobject/access-policy", &mtok).await.ok();

    // An explicit deny for the member names the statement.
    let deny = json!({"policy": {"version":"v1alpha1","name":"z-deny","statements":[{
        "name":"no-keys","effect":"Deny","actions":["cwobject:CreateAccessKey"],
        "resources":["*"],"principals":[format!("coreweave/{muid}")]}]}});
    h.post("/v1/cwobject/access-policy", &h.admin, &deny.to_string())
        .await
        .ok();
    let m = h
        .post("/v1/cwobject/access-key", &mtok, r#"{"durationSeconds":0}"#)
        .await
        .err(7, 403);
    assert!(
        m.contains("cwobject:CreateAccessKey") && m.contains("no-keys"),
        "{m}"
    );

    // Validation errors name the statement; nothing is stored.
    let bad = json!({"policy": {"version":"v1alpha1","name":"bad","statements":[
        {"name":"ok","effect":"Allow","actions":["s3:GetObject"],"resources":["b"],"principals":["*"]},
        {"name":"broken","effect":"allow","actions":["s3:GetObject"],"resources":["b"],"principals":["*"]}]}});
    let m = h
        .post("/v1/cwobject/access-policy", &h.admin, &bad.to_string())
        .await
        .err(3, 400);
    assert!(m.contains("broken"), "{m}");
    for bad in [
        json!({}),
        json!({"policy": {"version":"v2","name":"x","statements":[{"name":"s","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}}),
        json!({"policy": {"version":"v1alpha1","name":"x","statements":[]}}),
        json!({"policy": {"version":"v1alpha1","name":"x","statements":[{"name":"s","effect":"Allow","actions":["cwobject:CreateAccessKey"],"resources":["bucket"],"principals":["*"]}]}}),
        json!({"policy": {"version":"v1alpha1","name":"x","statements":"nope"}}),
    ] {
        h.post("/v1/cwobject/access-policy", &h.admin, &bad.to_string())
            .await
            .err(3, 400);
    }
    let v = h.get("/v1/cwobject/access-policy", &h.admin).await.ok();
    assert_eq!(v["policies"].as_array().unwrap().len(), 2);

    assert_eq!(
        h.delete("/v1/cwobject/access-policy/z-deny", &h.admin)
            .await
            .ok(),
        json!({})
    );
    h.post("/v1/cwobject/access-key", &mtok, r#"{"durationSeconds":0}"#)
        .await
        .ok();
    let m = h
        .delete("/v1/cwobject/access-policy/z-deny", &h.admin)
        .await
        .err(5, 404);
    assert!(m.contains("z-deny"), "{m}");
    h.delete("/v1/cwobject/access-policy/test-policy", &h.admin)
        .await
        .ok();
    h.get("/v1/cwobject/access-policy", &mtok).await.err(7, 403);
}

#[tokio::test]
async fn auth_can_i_explains() {
    let h = harness().await;
    let (muid, mtok) = h.member().await;
    let body = r#"{"actions":["s3:GetObject"],"resources":["bucket/key"]}"#;
    let v = h.post("/v1/cwobject/auth/can-i", &mtok, body).await.ok();
    assert_eq!(
        v,
        json!({"verdict": false, "decisions": [{"action":"s3:GetObject","resource":"bucket/key",
            "allowed": false, "decidedBy": {"layer":"default"}}]})
    );
    let p = json!({"policy": {"version":"v1alpha1","name":"readers","statements":[{
        "name":"read-bucket","effect":"Allow","actions":["s3:Get*"],
        "resources":["bucket/*"],"principals":[format!("coreweave/{muid}")]}]}});
    h.post("/v1/cwobject/access-policy", &h.admin, &p.to_string())
        .await
        .ok();
    let v = h.post("/v1/cwobject/auth/can-i", &mtok, body).await.ok();
    assert_eq!(v["verdict"], json!(true));
    assert_eq!(
        v["decisions"][0]["decidedBy"],
        json!({"layer":"org","policy":"readers","statement":"read-bucket"})
    );
    let v = h
        .post(
            "/v1/cwobject/auth/can-i",
            &mtok,
            r#"{"actions":["s3:GetObject","s3:PutObject"],"resources":["bucket/a","other/b"]}"#,
        )
        .await
        .ok();
    assert_eq!(v["verdict"], json!(false));
    let allowed: Vec<bool> = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(allowed, [true, false, false, false]);
    // Admin: cwobject actions through the role, S3 not.
    let v = h
        .post(
            "/v1/cwobject/auth/can-i",
            &h.admin,
            r#"{"actions":["cwobject:CreateAccessKey"]}"#,
        )
        .await
        .ok();
    assert_eq!(v["verdict"], json!(true));
    assert_eq!(v["decisions"][0]["resource"], json!("*"));
    assert_eq!(
        v["decisions"][0]["decidedBy"]["policy"],
        json!("<org-admin>")
    );
    h.post("/v1/cwobject/auth/can-i", &mtok, "{}")
        .await
        .err(3, 400);
    h.post(
        "/v1/cwobject/auth/can-i",
        &mtok,
        r#"{"actions":"s3:GetObject"}"#,
    )
    .await
    .err(3, 400);
}

#[tokio::test]
async fn bucket_settings_and_info() {
    let h = harness().await;
    h.bucket(&h.org, "my-bucket").await;
    h.object("my-bucket", "a", 1024 * 1024 - 10).await;
    h.object("my-bucket", "b", 7).await;
    h.object("my-bucket", "c", 3).await;

    let path = "/v1/cwobject/bucket/settings";
    let body =
        "{\n\"bucketName\": \"my-bucket\",\n\"settings\": {\n\"auditLoggingEnabled\": true\n}\n}";
    let v = h.put(path, &h.admin, body).await.ok();
    assert_eq!(v, json!({"settings": {"auditLoggingEnabled": true}}));
    let v = h
        .put(
            path,
            &h.admin,
            r#"{"bucketName":"my-bucket","settings":{"capacityCapBytes":"1073741824"}}"#,
        )
        .await
        .ok();
    assert_eq!(
        v,
        json!({"settings": {"auditLoggingEnabled": true, "capacityCapBytes": "1073741824"}})
    );
    let b = h.meta.get_bucket("my-bucket").await.unwrap().unwrap();
    assert_eq!(b.settings.capacity_cap_bytes, Some(1 << 30));
    assert_eq!(b.settings.audit_logging, Some(true));

    let v = h
        .get("/v1/cwobject/bucket-info/my-bucket", &h.admin)
        .await
        .ok();
    let info = &v["info"];
    assert_eq!(info["orgId"], json!(h.org));
    assert_eq!(info["name"], json!("my-bucket"));
    assert!(is_rfc3339_z(info["creationTime"].as_str().unwrap()));
    assert_eq!(info["location"], json!("US-EAST-04A"));
    assert_eq!(
        info["settings"],
        json!({"auditLoggingEnabled": true, "capacityCapBytes": "1073741824"})
    );
    assert_eq!(
        info["usage"],
        json!([
            {"measurementType":"STORAGE_BYTES","value":"1048576","valueHumanReadable":"1.0 MiB"},
            {"measurementType":"OBJECT_COUNT","value":"3","valueHumanReadable":"3"}
        ])
    );
    assert_eq!(info.as_object().unwrap().len(), 6);

    let v = h
        .put(
            path,
            &h.admin,
            r#"{"bucketName":"my-bucket","settings":{"clearCapacityCap":{}}}"#,
        )
        .await
        .ok();
    assert_eq!(v, json!({"settings": {"auditLoggingEnabled": true}}));

    // Failures.
    h.put(
        path,
        &h.admin,
        r#"{"bucketName":"nope","settings":{"auditLoggingEnabled":true}}"#,
    )
    .await
    .err(5, 404);
    h.put(path, &h.admin, r#"{"bucketName":"my-bucket"}"#)
        .await
        .err(3, 400);
    h.put(path, &h.admin, r#"{"settings":{}}"#)
        .await
        .err(3, 400);
    h.put(
        path,
        &h.admin,
        r#"{"bucketName":"my-bucket","settings":{"auditLoggingEnabled":"yes"}}"#,
    )
    .await
    .err(3, 400);
    h.put(
        path,
        &h.admin,
        r#"{"bucketName":"my-bucket","settings":{"capacityCapBytes":"-5"}}"#,
    )
    .await
    .err(3, 400);
    h.put(
        path,
        &h.admin,
        r#"{"bucketName":"my-bucket","settings":{"capacityCapBytes":"5","clearCapacityCap":{}}}"#,
    )
    .await
    .err(3, 400);
    let m = h
        .put(
            path,
            &h.admin,
            r#"{"bucketName":"my-bucket","settings":{"archiveEnabled":true}}"#,
        )
        .await
        .err(7, 403);
    assert_eq!(
        m,
        "organization is not entitled to feature(s): BucketArchive"
    );

    // Another org's bucket does not exist for this caller.
    let (other_org, other) = h.other_org().await;
    h.bucket(&other_org, "their-bucket").await;
    h.put(
        path,
        &h.admin,
        r#"{"bucketName":"their-bucket","settings":{"auditLoggingEnabled":true}}"#,
    )
    .await
    .err(5, 404);
    h.get("/v1/cwobject/bucket-info/their-bucket", &h.admin)
        .await
        .err(5, 404);
    h.get("/v1/cwobject/bucket-info/nope", &h.admin)
        .await
        .err(5, 404);
    let v = h.get("/v1/cwobject/bucket-info", &h.admin).await.ok();
    let names: Vec<_> = v["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].clone())
        .collect();
    // Enabling audit logging created the org's audit bucket (SPEC §6), listed like any.
    assert_eq!(
        names,
        [
            json!(format!("cw-{}-audit-logs", h.org)),
            json!("my-bucket")
        ]
    );
    let v = h.get("/v1/cwobject/bucket-info", &other).await.ok();
    assert_eq!(v["info"][0]["name"], json!("their-bucket"));
    assert_eq!(
        v["info"][0]["settings"],
        json!({"auditLoggingEnabled": false})
    );
    h.get("/v1/cwobject/bucket-info?limit=1001", &h.admin)
        .await
        .err(3, 400);

    // A member needs the per-flag action.
    let (muid, mtok) = h.member().await;
    let m = h
        .put(
            path,
            &mtok,
            r#"{"bucketName":"my-bucket","settings":{"auditLoggingEnabled":false}}"#,
        )
        .await
        .err(7, 403);
    assert!(m.contains("cwobject:DisableBucketAuditLogging"), "{m}");
    let p = json!({"policy": {"version":"v1alpha1","name":"audit","statements":[{
        "name":"disable","effect":"Allow","actions":["cwobject:DisableBucketAuditLogging"],
        "resources":["*"],"principals":[format!("coreweave/{muid}")]}]}});
    h.post("/v1/cwobject/access-policy", &h.admin, &p.to_string())
        .await
        .ok();
    h.put(
        path,
        &mtok,
        r#"{"bucketName":"my-bucket","settings":{"auditLoggingEnabled":false}}"#,
    )
    .await
    .ok();
    let m = h
        .put(
            path,
            &mtok,
            r#"{"bucketName":"my-bucket","settings":{"auditLoggingEnabled":true}}"#,
        )
        .await
        .err(7, 403);
    assert!(m.contains("cwobject:EnableBucketAuditLogging"), "{m}");
}

#[tokio::test]
async fn organization_settings() {
    let h = harness().await;
    let path = "/v1/cwobject/organization/settings";
    let v = h.get(path, &h.admin).await.ok();
    assert_eq!(
        v,
        json!({"settings":{"controlPlaneAuditLoggingEnabled":false,"bucketAuditLoggingEnabled":false}})
    );
    let body = "{\n\"settings\": {\n\"controlPlaneAuditLoggingEnabled\": true,\n\"bucketAuditLoggingEnabled\": true\n}\n}";
    let v = h.put(path, &h.admin, body).await.ok();
    assert_eq!(
        v,
        json!({"settings":{"controlPlaneAuditLoggingEnabled":true,"bucketAuditLoggingEnabled":true}})
    );
    // Partial update.
    let v = h
        .put(
            path,
            &h.admin,
            r#"{"settings":{"bucketAuditLoggingEnabled":false}}"#,
        )
        .await
        .ok();
    assert_eq!(
        v,
        json!({"settings":{"controlPlaneAuditLoggingEnabled":true,"bucketAuditLoggingEnabled":false}})
    );
    assert_eq!(h.get(path, &h.admin).await.ok(), v);
    h.put(path, &h.admin, "{}").await.err(3, 400);
    // The org default flows into buckets that never set their own flag.
    h.bucket(&h.org, "b1").await;
    h.put(
        path,
        &h.admin,
        r#"{"settings":{"bucketAuditLoggingEnabled":true}}"#,
    )
    .await
    .ok();
    let v = h.get("/v1/cwobject/bucket-info/b1", &h.admin).await.ok();
    assert_eq!(v["info"]["settings"]["auditLoggingEnabled"], json!(true));

    let (_, mtok) = h.member().await;
    let m = h
        .put(
            path,
            &mtok,
            r#"{"settings":{"controlPlaneAuditLoggingEnabled":false}}"#,
        )
        .await
        .err(7, 403);
    assert!(
        m.contains("cwobject:DisableControlPlaneAuditLogging"),
        "{m}"
    );
}

#[tokio::test]
async fn iam_extension() {
    let h = harness().await;
    // whoami
    let v = h.get("/v1/iam/whoami", &h.admin).await.ok();
    assert_eq!(
        v,
        json!({"principal": format!("coreweave/{}", h.admin_uid), "uid": h.admin_uid,
               "orgId": h.org, "role": "admin"})
    );
    assert_eq!(
        h.get("/v1/iam/whoami", OPERATOR).await.ok(),
        json!({"principal":"operator","role":"operator"})
    );

    // Orgs: operator only to create.
    let v = h
        .post(
            "/v1/iam/orgs",
            OPERATOR,
            r#"{"name":"beta","entitlements":["BucketArchive"]}"#,
        )
        .await
        .ok();
    let org2 = v["org"]["orgId"].as_str().unwrap().to_string();
    assert!(coffer_core::ids::is_org_id(&org2));
    assert_eq!(v["org"]["name"], json!("beta"));
    assert_eq!(v["org"]["entitlements"], json!(["BucketArchive"]));
    assert!(is_rfc3339_z(v["org"]["createdTime"].as_str().unwrap()));
    h.post("/v1/iam/orgs", &h.admin, r#"{"name":"x"}"#)
        .await
        .err(7, 403);
    h.post("/v1/iam/orgs", OPERATOR, r#"{}"#).await.err(3, 400);
    let v = h.get("/v1/iam/orgs", OPERATOR).await.ok();
    assert_eq!(v["orgs"].as_array().unwrap().len(), 2);
    let v = h.get("/v1/iam/orgs", &h.admin).await.ok();
    assert_eq!(v["orgs"].as_array().unwrap().len(), 1);
    assert_eq!(v["orgs"][0]["orgId"], json!(h.org));

    // Users.
    h.post("/v1/iam/users", OPERATOR, r#"{"name":"a"}"#)
        .await
        .err(3, 400);
    let v = h
        .post(
            "/v1/iam/users",
            OPERATOR,
            &json!({"name":"boss","role":"admin","orgId":org2}).to_string(),
        )
        .await
        .ok();
    let boss = v["user"]["uid"].as_str().unwrap().to_string();
    assert!(coffer_core::ids::is_uid(&boss));
    assert_eq!(v["user"]["role"], json!("admin"));
    assert_eq!(v["user"]["orgId"], json!(org2));
    assert_eq!(v["user"]["name"], json!("boss"));
    assert!(is_rfc3339_z(v["user"]["createdTime"].as_str().unwrap()));
    h.post(
        "/v1/iam/users",
        &h.admin,
        &json!({"name":"x","orgId":org2}).to_string(),
    )
    .await
    .err(7, 403);
    h.post("/v1/iam/users", &h.admin, r#"{"name":"x","role":"root"}"#)
        .await
        .err(3, 400);
    h.post(
        "/v1/iam/users",
        OPERATOR,
        r#"{"name":"x","orgId":"zzzzzz"}"#,
    )
    .await
    .err(5, 404);
    let v = h
        .post("/v1/iam/users", &h.admin, r#"{"name":"dev"}"#)
        .await
        .ok();
    let dev = v["user"]["uid"].as_str().unwrap().to_string();
    assert_eq!(v["user"]["role"], json!("member"));
    let v = h.get("/v1/iam/users", &h.admin).await.ok();
    assert_eq!(v["users"].as_array().unwrap().len(), 2);
    h.get("/v1/iam/users", OPERATOR).await.err(3, 400);
    let v = h
        .get(&format!("/v1/iam/users?orgId={org2}"), OPERATOR)
        .await
        .ok();
    assert_eq!(v["users"][0]["uid"], json!(boss));

    // Tokens.
    let v = h
        .post(
            "/v1/iam/tokens",
            &h.admin,
            &json!({"uid": dev, "durationSeconds": 3600, "description": "ci"}).to_string(),
        )
        .await
        .ok();
    let dev_token = v["token"].as_str().unwrap().to_string();
    assert!(dev_token.starts_with("CW-SECRET-"));
    let info = &v["info"];
    assert_eq!(info["uid"], json!(dev));
    assert_eq!(info["description"], json!("ci"));
    assert!(is_rfc3339_z(info["expiry"].as_str().unwrap()));
    assert!(is_rfc3339_z(info["createdTime"].as_str().unwrap()));
    let token_id = info["tokenId"].as_str().unwrap().to_string();
    let v = h.get("/v1/iam/whoami", &dev_token).await.ok();
    assert_eq!(v["role"], json!("member"));
    // Members cannot manage identities.
    h.get("/v1/iam/users", &dev_token).await.err(7, 403);
    // No expiry → no expiry field.
    let v = h
        .post(
            "/v1/iam/tokens",
            OPERATOR,
            &json!({"uid": boss, "durationSeconds": 0}).to_string(),
        )
        .await
        .ok();
    assert!(v["info"].get("expiry").is_none());
    h.post("/v1/iam/tokens", OPERATOR, "{}").await.err(3, 400);
    h.post(
        "/v1/iam/tokens",
        &h.admin,
        &json!({"uid": boss}).to_string(),
    )
    .await
    .err(5, 404);
    h.post("/v1/iam/tokens", &h.admin, r#"{"durationSeconds":-1}"#)
        .await
        .err(3, 400);
    let v = h.get("/v1/iam/tokens", &h.admin).await.ok();
    let ids: Vec<_> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tokenId"].clone())
        .collect();
    assert!(ids.contains(&json!(token_id)));
    assert!(
        v["tokens"][0].get("token").is_none(),
        "tokens are never shown again"
    );
    assert_eq!(
        h.delete(&format!("/v1/iam/tokens/{token_id}"), &h.admin)
            .await
            .ok(),
        json!({})
    );
    h.get("/v1/iam/whoami", &dev_token).await.err(16, 401);
    h.delete(&format!("/v1/iam/tokens/{token_id}"), &h.admin)
        .await
        .err(5, 404);

    // Deleting a user revokes its keys and tokens.
    let (t2, _) = h
        .identity
        .create_token(&h.org, &dev, 0, "again")
        .await
        .unwrap();
    h.post("/v1/cwobject/access-policy", &h.admin, ALLOW_ALL)
        .await
        .ok();
    let v = h
        .post("/v1/cwobject/access-key", &t2, r#"{"durationSeconds":0}"#)
        .await
        .ok();
    let key = v["accessKeyId"].as_str().unwrap().to_string();
    h.identity.resolve_access_key(&key).await.unwrap();
    h.delete(&format!("/v1/iam/users/{boss}"), &h.admin)
        .await
        .err(5, 404);
    h.delete(&format!("/v1/iam/users/{}", h.admin_uid), &h.admin)
        .await
        .err(9, 400);
    assert_eq!(
        h.delete(&format!("/v1/iam/users/{dev}"), &h.admin)
            .await
            .ok(),
        json!({})
    );
    h.get("/v1/iam/whoami", &t2).await.err(16, 401);
    assert!(h.identity.resolve_access_key(&key).await.is_err());
    h.delete(&format!("/v1/iam/users/{dev}"), &h.admin)
        .await
        .err(5, 404);
}

#[tokio::test]
async fn policy_service_reload_survives_restart() {
    let h = harness().await;
    h.post("/v1/cwobject/access-policy", &h.admin, ALLOW_ALL)
        .await
        .ok();
    // A fresh engine loaded from the same store decides the same way.
    let engine = Arc::new(PolicyEngine::new());
    let svc = PolicyService::new(h.meta.clone(), engine.clone());
    svc.load_all().await.unwrap();
    assert!(engine.has_policies(&h.org));
    let d = engine.decide(
        &h.org,
        &coffer_core::policy::Subject::principal("coreweave/x"),
        "s3:GetObject",
        "b/k",
    );
    assert!(d.allowed);
    svc.delete(&h.org, "test-policy").await.unwrap();
    assert!(!engine.has_policies(&h.org));
    assert!(matches!(
        svc.delete(&h.org, "test-policy").await,
        Err(coffer_core::Error::NotFound(_))
    ));
}

#[tokio::test]
async fn choke_point_renders_internal_errors_and_panics() {
    use axum::routing::get;
    use coffer_mgmt::{ApiError, choke};
    let h = harness().await;
    let app = choke::layer(
        Router::new()
            .route(
                "/internal",
                get(|| async {
                    Err::<String, _>(ApiError::from(coffer_core::Error::internal(
                        "sqlite: database is locked at /var/secret",
                    )))
                }),
            )
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("boom in handler");
                    }
                    "unreachable"
                }),
            ),
        h.state.clone(),
    );
    for path in ["/internal", "/panic"] {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["code"], json!(13));
        assert_eq!(v["details"], json!([]));
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(&id), "{msg}");
        assert!(!msg.contains("sqlite") && !msg.contains("boom"), "{msg}");
    }
}
