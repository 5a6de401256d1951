//! The OpenAPI document (DESIGN habit 6): the one served at `GET /v1/openapi.json` must
//! equal the committed `docs/openapi.json`, and every operation it documents must be
//! routed with the documented authentication.
//!
//! To regenerate the committed file after changing the API:
//! `COFFER_UPDATE_OPENAPI=1 cargo test -p coffer-server --test it openapi_drift::`.

use crate::mgmt_common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

async fn served(ts: &TestServer) -> (Vec<u8>, Value) {
    let resp = ts
        .http
        .get(format!("{}/v1/openapi.json", ts.api_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let bytes = resp.bytes().await.unwrap().to_vec();
    let doc = serde_json::from_slice(&bytes).expect("served document is JSON");
    (bytes, doc)
}

#[tokio::test]
async fn served_document_matches_committed_file() {
    let ts = TestServer::start().await;
    let (bytes, doc) = served(&ts).await;
    assert_eq!(doc["openapi"], json!("3.0.3"));
    let path = committed_path();
    if std::env::var_os("COFFER_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &bytes).expect("write docs/openapi.json");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    let committed: Value = serde_json::from_slice(&committed).unwrap_or(Value::Null);
    assert!(
        committed == doc,
        "docs/openapi.json differs from the served document; regenerate it with \
         `COFFER_UPDATE_OPENAPI=1 cargo test -p coffer-server --test it openapi_drift::` \
         and commit the result"
    );
}

/// A value for every required field of a Connect message (path parameters).
fn probe_message(doc: &Value, op: &Value) -> Value {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    let name = schema
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_default();
    let mut msg = serde_json::Map::new();
    if let Some(req) = doc["components"]["schemas"][name]["required"].as_array() {
        for f in req {
            msg.insert(f.as_str().unwrap().to_string(), json!("probe"));
        }
    }
    Value::Object(msg)
}

/// Every documented operation is routed (never the 404 fallback or a 405), and asks
/// for exactly the documented credentials: bearer operations answer 401 without a
/// token, the raw-JWT exchange 401 without its JWT; the anonymous ones answer without
/// credentials (200, 400 for an invalid probe body, 401 naming the refused token carried
/// in the body, or 403 naming the refused SAML response).
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let ts = TestServer::start().await;
    let (_, doc) = served(&ts).await;
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (verb, op) in item.as_object().unwrap() {
            count += 1;
            let method = Method::from_bytes(verb.to_uppercase().as_bytes()).unwrap();
            let concrete = path.replace(['{', '}'], "");
            let body = if path.starts_with("/cwobject.v1.CWObject/") {
                Some(probe_message(&doc, op).to_string())
            } else if op.get("requestBody").is_some() {
                Some("{}".to_string())
            } else {
                None
            };
            let r = curl(&ts, method.clone(), &concrete, None, body.as_deref()).await;
            let bearer = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.get("bearerAuth").is_some());
            let what = format!("{verb} {path}: {} {}", r.status, r.raw);
            if bearer {
                assert_eq!(r.status, 401, "{what}");
            } else if op["security"] == json!([{"oidcJwt": []}]) {
                // The raw-JWT exchange: no token, no credentials.
                assert_eq!(r.status, 401, "{what}");
            } else {
                // Anonymous: served (the probe body may be invalid, or carry a
                // credential that is refused as such).
                let refused_credential = (r.status == 401 && r.raw.contains("OIDC token rejected"))
                    || (r.status == 403 && r.raw.contains("SAML"));
                assert!(
                    matches!(r.status, 200 | 400) || refused_credential,
                    "{what}"
                );
            }
        }
    }
    // 18 cwobject RPCs + the organization-settings GET, each twice (REST and Connect),
    // 9 /v1/iam operations, 3 cache-node operations, 2 × 5 federation-config
    // operations, the document and two probes.
    assert_eq!(count, 19 * 2 + 9 + 3 + 10 + 3);
}
