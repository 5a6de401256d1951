//! The `/v1/iam` identity extension over a real server with an operator token:
//! orgs (operator only), users, tokens, whoami, and the scoping of org admins.

use crate::mgmt_common::*;
use coffer_server::Config;
use reqwest::Method;
use serde_json::json;

const OPERATOR: &str = "operator-token-for-the-iam-tests";

async fn server_with_operator() -> (TestServer, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("operator-token");
    std::fs::write(&token_file, format!("{OPERATOR}\n")).unwrap();
    let mut cfg = Config::with_data_dir(tmp.path().join("data"));
    cfg.operator_token_file = Some(token_file);
    (TestServer::start_with(cfg).await, tmp)
}

#[tokio::test]
async fn operator_and_org_admins() {
    let (ts, _tmp) = server_with_operator().await;
    let admin = Some(ts.admin_token.as_str());
    let op = Some(OPERATOR);

    assert_eq!(
        curl(&ts, Method::GET, "/v1/iam/whoami", op, None)
            .await
            .ok(),
        json!({"principal": "operator", "role": "operator"})
    );
    let v = curl(&ts, Method::GET, "/v1/iam/whoami", admin, None)
        .await
        .ok();
    assert_eq!(
        v,
        json!({"principal": format!("coreweave/{}", ts.admin_uid), "uid": ts.admin_uid,
               "orgId": ts.org_id, "role": "admin"})
    );
    // The operator token is not an org identity on /v1/cwobject.
    curl(&ts, Method::GET, "/v1/cwobject/access-key", op, None)
        .await
        .err(7, 403);

    // Orgs.
    let v = curl(
        &ts,
        Method::POST,
        "/v1/iam/orgs",
        op,
        Some(r#"{"name": "beta"}"#),
    )
    .await
    .ok();
    let org = &v["org"];
    let beta = org["orgId"].as_str().unwrap().to_string();
    assert!(coffer_core::ids::is_org_id(&beta));
    assert_eq!(org["name"], json!("beta"));
    assert!(is_rfc3339_z(org["createdTime"].as_str().unwrap()));
    assert_eq!(org.as_object().unwrap().len(), 3, "{org}");
    curl(
        &ts,
        Method::POST,
        "/v1/iam/orgs",
        admin,
        Some(r#"{"name": "x"}"#),
    )
    .await
    .err(7, 403);
    let v = curl(&ts, Method::GET, "/v1/iam/orgs", op, None).await.ok();
    assert_eq!(v["orgs"].as_array().unwrap().len(), 2);
    let v = curl(&ts, Method::GET, "/v1/iam/orgs", admin, None)
        .await
        .ok();
    assert_eq!(v["orgs"].as_array().unwrap().len(), 1);

    // Users: the operator names the org, an admin may not reach another org.
    let v = curl(
        &ts,
        Method::POST,
        "/v1/iam/users",
        op,
        Some(&json!({"name": "boss", "role": "admin", "orgId": beta}).to_string()),
    )
    .await
    .ok();
    let user = &v["user"];
    let boss = user["uid"].as_str().unwrap().to_string();
    assert!(coffer_core::ids::is_uid(&boss));
    assert_eq!(
        (&user["name"], &user["role"], &user["orgId"]),
        (&json!("boss"), &json!("admin"), &json!(beta))
    );
    assert!(is_rfc3339_z(user["createdTime"].as_str().unwrap()));
    curl(
        &ts,
        Method::POST,
        "/v1/iam/users",
        admin,
        Some(&json!({"name": "x", "orgId": beta}).to_string()),
    )
    .await
    .err(7, 403);
    curl(
        &ts,
        Method::POST,
        "/v1/iam/users",
        op,
        Some(r#"{"name": "x"}"#),
    )
    .await
    .err(3, 400);

    // Tokens: shown once, then only info.
    let v = curl(
        &ts,
        Method::POST,
        "/v1/iam/tokens",
        op,
        Some(&json!({"uid": boss, "durationSeconds": 0, "description": "boss"}).to_string()),
    )
    .await
    .ok();
    let boss_token = v["token"].as_str().unwrap().to_string();
    assert!(boss_token.starts_with("CW-SECRET-"));
    let info = &v["info"];
    assert_eq!(info["uid"], json!(boss));
    assert_eq!(info["description"], json!("boss"));
    assert!(info.get("expiry").is_none(), "no expiry → omitted");
    assert!(is_rfc3339_z(info["createdTime"].as_str().unwrap()));
    let token_id = info["tokenId"].as_str().unwrap().to_string();

    // The new org's admin works in its own org only.
    let v = curl(&ts, Method::GET, "/v1/iam/whoami", Some(&boss_token), None)
        .await
        .ok();
    assert_eq!(v["orgId"], json!(beta));
    curl(
        &ts,
        Method::DELETE,
        &format!("/v1/iam/users/{}", ts.admin_uid),
        Some(&boss_token),
        None,
    )
    .await
    .err(5, 404);
    let v = curl(
        &ts,
        Method::GET,
        &format!("/v1/iam/tokens?orgId={beta}"),
        op,
        None,
    )
    .await
    .ok();
    assert_eq!(v["tokens"][0]["tokenId"], json!(token_id));
    assert!(v["tokens"][0].get("token").is_none());

    // Revoking the token locks its holder out immediately.
    let v = curl(
        &ts,
        Method::DELETE,
        &format!("/v1/iam/tokens/{token_id}?orgId={beta}"),
        op,
        None,
    )
    .await
    .ok();
    assert_eq!(v, json!({}));
    curl(&ts, Method::GET, "/v1/iam/whoami", Some(&boss_token), None)
        .await
        .err(16, 401);

    // Deleting a user revokes its keys and tokens.
    let (muid, mtok) = member(&ts).await;
    ts.allow_all().await;
    let key = ts.create_key(&mtok).await;
    let v = curl(
        &ts,
        Method::GET,
        &format!("/v1/cwobject/access-key/{}", key.access_key_id),
        admin,
        None,
    )
    .await
    .ok();
    assert_eq!(v["info"]["status"], json!("ACTIVE"));
    curl(
        &ts,
        Method::DELETE,
        &format!("/v1/iam/users/{muid}"),
        admin,
        None,
    )
    .await
    .ok();
    curl(&ts, Method::GET, "/v1/iam/whoami", Some(&mtok), None)
        .await
        .err(16, 401);
    let v = curl(
        &ts,
        Method::GET,
        &format!("/v1/cwobject/access-key/{}", key.access_key_id),
        admin,
        None,
    )
    .await
    .ok();
    assert_eq!(v["info"]["status"], json!("DELETED"));
    curl(
        &ts,
        Method::DELETE,
        &format!("/v1/iam/users/{muid}"),
        admin,
        None,
    )
    .await
    .err(5, 404);
}

#[tokio::test]
async fn probes() {
    let ts = TestServer::start().await;
    for (path, text) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let r = ts
            .http
            .get(format!("{}{path}", ts.api_endpoint))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("x-request-id"));
        assert_eq!(r.text().await.unwrap(), text);
    }
}
