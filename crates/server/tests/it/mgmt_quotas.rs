//! Per-org quotas (`max_keys_per_principal`, `max_keys_per_org`,
//! `max_policies_per_org`) through the real management API: reaching one is
//! `resource_exhausted` (8, HTTP 429) naming the setting, and stores nothing; revoked
//! and expired keys do not count, temporary-credential keys do while they live and are
//! removed once expired. Also ListAccessKeyInfo pages (offset, limit, status) on the
//! embedded store.

use crate::mgmt_common::*;
use coffer_core::clock::OffsetClock;
use coffer_core::quota::Quotas;
use coffer_server::Config;
use reqwest::Method;
use serde_json::{Value, json};

async fn server(quotas: Quotas) -> (TestServer, OffsetClock, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = OffsetClock::default();
    let mut cfg = Config::with_data_dir(tmp.path().join("data"));
    cfg.quotas = quotas;
    cfg.clock = Some(clock.clone());
    (TestServer::start_with(cfg).await, clock, tmp)
}

async fn create_key(ts: &TestServer, token: &str) -> Resp {
    curl(
        ts,
        Method::POST,
        "/v1/cwobject/access-key",
        Some(token),
        Some(r#"{"durationSeconds": 0}"#),
    )
    .await
}

/// The API-token exchange (container-credentials shape, a 15-minute key).
async fn exchange(ts: &TestServer, token: &str) -> Resp {
    curl(
        ts,
        Method::GET,
        "/v1/cwobject/temporary-credentials/api-token",
        Some(token),
        None,
    )
    .await
}

/// Every key of the org as (id, status), in creation order.
async fn listed(ts: &TestServer) -> Vec<(String, String)> {
    let v = curl(
        ts,
        Method::GET,
        "/v1/cwobject/access-key?limit=1000",
        Some(&ts.admin_token),
        None,
    )
    .await
    .ok();
    v["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["accessKeyId"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[track_caller]
fn exhausted(r: Resp, setting: &str) {
    let m = r.err(8, 429);
    assert!(m.contains(setting), "{m}");
}

#[tokio::test]
async fn key_quotas_per_principal_and_per_org() {
    let (ts, clock, _tmp) = server(Quotas {
        keys_per_principal: 3,
        keys_per_org: 5,
        ..Quotas::default()
    })
    .await;
    ts.allow_all().await;
    let admin = ts.admin_token.clone();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create_key(&ts, &admin).await.ok()["accessKeyId"].clone());
    }
    exhausted(create_key(&ts, &admin).await, "max_keys_per_principal");
    assert_eq!(listed(&ts).await.len(), 3, "the refused key was not stored");

    // A revoked key frees its place; a temporary-credential key takes one.
    curl(
        &ts,
        Method::POST,
        "/v1/cwobject/revoke-access-key/access-key",
        Some(&admin),
        Some(&json!({"accessKey": ids[2]}).to_string()),
    )
    .await
    .ok();
    let temp = exchange(&ts, &admin).await.ok()["AccessKeyId"].clone();
    exhausted(create_key(&ts, &admin).await, "max_keys_per_principal");
    exhausted(exchange(&ts, &admin).await, "max_keys_per_principal");

    // The org holds 3 countable keys: a member gets two more, then the org is full.
    let (_, member_token) = member(&ts).await;
    create_key(&ts, &member_token).await.ok();
    create_key(&ts, &member_token).await.ok();
    exhausted(create_key(&ts, &member_token).await, "max_keys_per_org");
    exhausted(exchange(&ts, &member_token).await, "max_keys_per_org");
    assert_eq!(
        listed(&ts).await.len(),
        6,
        "5 countable keys and the revoked one"
    );

    // Once the exchange key has expired it no longer counts, and the next creation
    // removes it; the revoked key stays listed as DELETED.
    clock.advance(901);
    create_key(&ts, &member_token).await.ok();
    curl(
        &ts,
        Method::GET,
        &format!("/v1/cwobject/access-key/{}", temp.as_str().unwrap()),
        Some(&admin),
        None,
    )
    .await
    .err(5, 404);
    let statuses: Vec<String> = listed(&ts).await.into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        statuses,
        ["ACTIVE", "ACTIVE", "DELETED", "ACTIVE", "ACTIVE", "ACTIVE"]
    );
}

fn policy(name: &str, statements: usize) -> String {
    let stmts: Vec<Value> = (0..statements)
        .map(|i| {
            json!({"name": format!("s{i}"), "effect": "Allow", "actions": ["s3:GetObject"],
                   "resources": ["b/*"], "principals": ["*"]})
        })
        .collect();
    json!({"policy": {"version": "v1alpha1", "name": name, "statements": stmts}}).to_string()
}

async fn ensure(ts: &TestServer, name: &str, statements: usize) -> Resp {
    curl(
        ts,
        Method::POST,
        "/v1/cwobject/access-policy",
        Some(&ts.admin_token),
        Some(&policy(name, statements)),
    )
    .await
}

async fn policy_names(ts: &TestServer) -> Vec<String> {
    let v = curl(
        ts,
        Method::GET,
        "/v1/cwobject/access-policy",
        Some(&ts.admin_token),
        None,
    )
    .await
    .ok();
    v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn policy_quota_per_org() {
    let (ts, _, _tmp) = server(Quotas {
        policies_per_org: 2,
        ..Quotas::default()
    })
    .await;
    ensure(&ts, "a", 1).await.ok();
    ensure(&ts, "b", 1).await.ok();
    exhausted(ensure(&ts, "c", 1).await, "max_policies_per_org");
    assert_eq!(policy_names(&ts).await, ["a", "b"], "nothing stored");
    // Replacing an existing policy is not a new one.
    ensure(&ts, "b", 3).await.ok();
    curl(
        &ts,
        Method::DELETE,
        "/v1/cwobject/access-policy/a",
        Some(&ts.admin_token),
        None,
    )
    .await
    .ok();
    ensure(&ts, "c", 1).await.ok();
    assert_eq!(policy_names(&ts).await, ["b", "c"]);
    // Statements per policy were already bounded (100): InvalidArgument.
    let m = ensure(&ts, "b", 101).await.err(3, 400);
    assert!(m.contains("100"), "{m}");
}

/// ListAccessKeyInfo reads one page from the store: offset and limit apply after the
/// status filter, in creation order.
#[tokio::test]
async fn access_key_listing_pages() {
    let (ts, _, _tmp) = server(Quotas::default()).await;
    ts.allow_all().await;
    let (uid, member_token) = member(&ts).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let token = if i % 2 == 0 {
            &ts.admin_token
        } else {
            &member_token
        };
        ids.push(create_key(&ts, token).await.ok()["accessKeyId"].clone());
    }
    curl(
        &ts,
        Method::PUT,
        "/v1/cwobject/access-key-status",
        Some(&ts.admin_token),
        Some(
            &json!({"principalName": format!("coreweave/{uid}"),
                    "status": "ACCESS_KEY_STATUS_SUSPENDED"})
            .to_string(),
        ),
    )
    .await
    .ok();
    let page = |query: &'static str| {
        let ts = &ts;
        async move {
            let v = curl(
                ts,
                Method::GET,
                &format!("/v1/cwobject/access-key?{query}"),
                Some(&ts.admin_token),
                None,
            )
            .await
            .ok();
            v["info"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["accessKeyId"].clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("offset=2&limit=3").await, ids[2..5]);
    assert_eq!(
        page("status=ACCESS_KEY_STATUS_ACTIVE&offset=1&limit=5").await,
        [ids[2].clone(), ids[4].clone()]
    );
    assert_eq!(
        page("status=SUSPENDED&limit=2").await,
        [ids[1].clone(), ids[3].clone()]
    );
    assert!(page("status=SUSPENDED&offset=3").await.is_empty());
    assert!(page("offset=18446744073709551615").await.is_empty());
}
