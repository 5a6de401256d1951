//! `/v1/iam/federation/{saml,oidc}-configs` over a real server: create / list / get /
//! partial update / delete, validation errors, who may manage them (org admins of their
//! own org, the operator with `orgId`; not members, not other orgs), the kind scoping,
//! and persistence across a restart.

use crate::mgmt_common::*;
use coffer_server::Config;
use reqwest::Method;
use serde_json::{Value, json};

const OPERATOR: &str = "operator-token-for-the-federation-tests";

/// A real self-signed P-256 certificate (`openssl req -x509 -newkey ec …`).
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUPiVH6ycwSYgXX8IJGCtOUcJU4WEwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIdGVzdC1pZHAwIBcNMjYxMTI2MDY0NTE4WhgPMjEyNjExMDIw
NjQ1MThaMBMxETAPBgNVBAMMCHRlc3QtaWRwMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEk7Jam8qrIVBL77+tJXPalXI6Dvw2U5amvZ1uryNE1EwriOQU8qSOjQNQ
V9t2yAlnM4skSSf5aiYkMgsPADiSYaNTMFEwHQYDVR0OBBYEFMFGcgPE1OD446rQ
aCya4us5tVpHMB8GA1UdIwQYMBaAFMFGcgPE1OD446rQaCya4us5tVpHMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAIMvbuv/nyZewXow+e/zMvVD
MCfmOgyspSkYCAMbkDX/AiEAwyjADFKdV7NDRotVwp2EmK9PoRP7yvoS64ryJx57
lUs=
-----END CERTIFICATE-----
";

const SAML: &str = "/v1/iam/federation/saml-configs";
const OIDC: &str = "/v1/iam/federation/oidc-configs";

async fn server_with_operator() -> (TestServer, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("operator-token");
    std::fs::write(&token_file, format!("{OPERATOR}\n")).unwrap();
    let mut cfg = Config::with_data_dir(tmp.path().join("data"));
    cfg.operator_token_file = Some(token_file);
    (TestServer::start_with(cfg).await, tmp)
}

async fn call(ts: &TestServer, m: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
    let body = body.map(|b| b.to_string());
    curl(ts, m, path, Some(token), body.as_deref()).await
}

fn saml_body() -> Value {
    json!({
        "name": "okta",
        "idpEntityId": "http://www.okta.com/exk1",
        "signingCertificates": [CERT],
        "audience": "urn:coffer:sp",
    })
}

fn jwks() -> Value {
    json!({"keys": [{"kty": "EC", "kid": "k1", "crv": "P-256", "alg": "ES256",
        "x": "k7Jam8qrIVBL77-tJXPalXI6Dvw2U5amvZ1uryNE1Ew",
        "y": "K4jkFPKkjo0DUFfbdsgJZzOLJEkn-WomJDILDwA4kmE"}]})
}

fn oidc_body() -> Value {
    json!({
        "name": "github",
        "issuerUrl": "https://token.actions.githubusercontent.com",
        "audience": "coffer",
        "jwks": jwks(),
    })
}

#[tokio::test]
async fn saml_config_lifecycle() {
    let (ts, _tmp) = server_with_operator().await;
    let admin = ts.admin_token.clone();

    let c = call(&ts, Method::POST, SAML, &admin, Some(saml_body()))
        .await
        .ok()["config"]
        .clone();
    let id = c["configId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(c["orgId"], json!(ts.org_id));
    assert_eq!(c["name"], json!("okta"));
    assert_eq!(c["idpEntityId"], json!("http://www.okta.com/exk1"));
    assert_eq!(c["signingCertificates"], json!([CERT]));
    assert_eq!(c["audience"], json!("urn:coffer:sp"));
    assert_eq!(c["active"], json!(true), "active defaults to true");
    assert!(
        c.get("acsUrl").is_none(),
        "absent optional fields are omitted"
    );
    assert!(is_rfc3339_z(c["createdTime"].as_str().unwrap()));
    assert!(is_rfc3339_z(c["updatedTime"].as_str().unwrap()));

    let one = format!("{SAML}/{id}");
    assert_eq!(
        call(&ts, Method::GET, &one, &admin, None).await.ok(),
        json!({ "config": c })
    );
    assert_eq!(
        call(&ts, Method::GET, SAML, &admin, None).await.ok(),
        json!({ "configs": [c] })
    );

    // Partial update: only the fields sent change.
    let u = call(
        &ts,
        Method::PUT,
        &one,
        &admin,
        Some(json!({"active": false, "acsUrl": "https://coffer.example/saml/acs"})),
    )
    .await
    .ok()["config"]
        .clone();
    assert_eq!(u["active"], json!(false));
    assert_eq!(u["acsUrl"], json!("https://coffer.example/saml/acs"));
    assert_eq!(u["name"], json!("okta"));
    assert_eq!(u["signingCertificates"], json!([CERT]));
    assert_eq!(u["createdTime"], c["createdTime"]);
    let u = call(&ts, Method::PUT, &one, &admin, Some(json!({"acsUrl": ""})))
        .await
        .ok()["config"]
        .clone();
    assert!(u.get("acsUrl").is_none(), "{u}");
    // An invalid update changes nothing.
    call(
        &ts,
        Method::PUT,
        &one,
        &admin,
        Some(json!({"name": "renamed", "signingCertificates": []})),
    )
    .await
    .err(3, 400);
    assert_eq!(
        call(&ts, Method::GET, &one, &admin, None).await.ok()["config"]["name"],
        json!("okta")
    );

    // Persisted across a restart.
    let ts = ts.restart().await;
    assert_eq!(
        call(&ts, Method::GET, &one, &admin, None).await.ok()["config"],
        u
    );

    assert_eq!(
        call(&ts, Method::DELETE, &one, &admin, None).await.ok(),
        json!({})
    );
    call(&ts, Method::GET, &one, &admin, None).await.err(5, 404);
    call(&ts, Method::DELETE, &one, &admin, None)
        .await
        .err(5, 404);
    call(
        &ts,
        Method::PUT,
        &one,
        &admin,
        Some(json!({"active": true})),
    )
    .await
    .err(5, 404);
    assert_eq!(
        call(&ts, Method::GET, SAML, &admin, None).await.ok(),
        json!({"configs": []})
    );
}

#[tokio::test]
async fn oidc_config_lifecycle_and_key_sources() {
    let (ts, _tmp) = server_with_operator().await;
    let admin = ts.admin_token.clone();

    let c = call(&ts, Method::POST, OIDC, &admin, Some(oidc_body()))
        .await
        .ok()["config"]
        .clone();
    let id = c["configId"].as_str().unwrap().to_string();
    assert_eq!(
        c["issuerUrl"],
        json!("https://token.actions.githubusercontent.com")
    );
    assert_eq!(c["audience"], json!("coffer"));
    assert_eq!(c["jwks"], jwks());
    assert!(c.get("jwksFile").is_none());
    assert_eq!(c["active"], json!(true));

    let mut file_body = oidc_body();
    file_body.as_object_mut().unwrap().remove("jwks");
    file_body["jwksFile"] = json!("/etc/coffer/jwks.json");
    file_body["active"] = json!(false);
    // Only the operator may point at a file on the server: an org admin is refused with
    // a pointer to inline keys, and nothing is stored.
    let msg = call(&ts, Method::POST, OIDC, &admin, Some(file_body.clone()))
        .await
        .err(7, 403);
    assert!(
        msg.contains("operator token") && msg.contains("inline as jwks"),
        "{msg}"
    );
    assert_eq!(
        call(&ts, Method::GET, OIDC, &admin, None).await.ok(),
        json!({"configs": [c]})
    );
    file_body["orgId"] = json!(ts.org_id);
    let f = call(&ts, Method::POST, OIDC, OPERATOR, Some(file_body))
        .await
        .ok()["config"]
        .clone();
    assert_eq!(f["jwksFile"], json!("/etc/coffer/jwks.json"));
    assert!(f.get("jwks").is_none());
    assert_eq!(f["active"], json!(false));
    // Listed in creation order.
    assert_eq!(
        call(&ts, Method::GET, OIDC, &admin, None).await.ok(),
        json!({"configs": [c, f]})
    );

    // Switching the key source replaces the other one; to a file, for the operator only
    // (the admin's attempt changes nothing).
    let one = format!("{OIDC}/{id}");
    call(
        &ts,
        Method::PUT,
        &one,
        &admin,
        Some(json!({"jwksFile": "/srv/jwks.json", "name": "renamed"})),
    )
    .await
    .err(7, 403);
    assert_eq!(
        call(&ts, Method::GET, &one, &admin, None).await.ok(),
        json!({"config": c})
    );
    let u = call(
        &ts,
        Method::PUT,
        &one,
        OPERATOR,
        Some(json!({"jwksFile": "/srv/jwks.json", "orgId": ts.org_id})),
    )
    .await
    .ok()["config"]
        .clone();
    assert_eq!(u["jwksFile"], json!("/srv/jwks.json"));
    assert!(u.get("jwks").is_none());
    assert_eq!(u["issuerUrl"], c["issuerUrl"]);

    // The kinds are separate: an OIDC id is not a SAML config.
    call(&ts, Method::GET, &format!("{SAML}/{id}"), &admin, None)
        .await
        .err(5, 404);
    call(&ts, Method::DELETE, &format!("{SAML}/{id}"), &admin, None)
        .await
        .err(5, 404);
    assert_eq!(
        call(&ts, Method::GET, SAML, &admin, None).await.ok(),
        json!({"configs": []})
    );
    call(&ts, Method::DELETE, &one, &admin, None).await.ok();
}

#[tokio::test]
async fn invalid_configs_are_rejected() {
    let (ts, _tmp) = server_with_operator().await;
    let admin = ts.admin_token.clone();
    let without = |body: Value, field: &str| {
        let mut b = body;
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let with = |body: Value, field: &str, v: Value| {
        let mut b = body;
        b[field] = v;
        b
    };
    for (what, body) in [
        ("no name", without(saml_body(), "name")),
        ("no entity id", without(saml_body(), "idpEntityId")),
        (
            "no certificates",
            without(saml_body(), "signingCertificates"),
        ),
        ("no audience", without(saml_body(), "audience")),
        (
            "empty certificates",
            with(saml_body(), "signingCertificates", json!([])),
        ),
        (
            "not PEM",
            with(saml_body(), "signingCertificates", json!(["MIIB"])),
        ),
        ("bad acs", with(saml_body(), "acsUrl", json!("not a url"))),
        ("empty name", with(saml_body(), "name", json!(""))),
        ("wrong type", with(saml_body(), "active", json!("yes"))),
    ] {
        let msg = call(&ts, Method::POST, SAML, &admin, Some(body))
            .await
            .err(3, 400);
        assert!(!msg.is_empty(), "{what}");
    }
    for (what, body) in [
        ("no issuer", without(oidc_body(), "issuerUrl")),
        ("no audience", without(oidc_body(), "audience")),
        ("no key source", without(oidc_body(), "jwks")),
        (
            "both key sources",
            with(oidc_body(), "jwksFile", json!("/etc/jwks.json")),
        ),
        (
            "issuer not a URL",
            with(oidc_body(), "issuerUrl", json!("github")),
        ),
        (
            "jwks not a set",
            with(oidc_body(), "jwks", json!({"kty": "RSA"})),
        ),
        ("empty jwks", with(oidc_body(), "jwks", json!({"keys": []}))),
        (
            "key without kid",
            with(
                oidc_body(),
                "jwks",
                json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}),
            ),
        ),
    ] {
        let msg = call(&ts, Method::POST, OIDC, &admin, Some(body))
            .await
            .err(3, 400);
        assert!(!msg.is_empty(), "{what}");
    }
    // A file path must be absolute, even the operator's.
    let relative = with(without(oidc_body(), "jwks"), "jwksFile", json!("jwks.json"));
    let msg = call(
        &ts,
        Method::POST,
        OIDC,
        OPERATOR,
        Some(with(relative, "orgId", json!(ts.org_id))),
    )
    .await
    .err(3, 400);
    assert!(msg.contains("absolute path"), "{msg}");
    // Nothing was stored.
    for path in [SAML, OIDC] {
        assert_eq!(
            call(&ts, Method::GET, path, &admin, None).await.ok(),
            json!({"configs": []})
        );
    }
}

#[tokio::test]
async fn only_org_admins_and_the_operator_manage_configs() {
    let (ts, _tmp) = server_with_operator().await;
    let admin = ts.admin_token.clone();
    let id = call(&ts, Method::POST, SAML, &admin, Some(saml_body()))
        .await
        .ok()["config"]["configId"]
        .as_str()
        .unwrap()
        .to_string();
    let one = format!("{SAML}/{id}");

    // No token, a member's token.
    curl(&ts, Method::GET, SAML, None, None).await.err(16, 401);
    let (_, member) = member(&ts).await;
    call(&ts, Method::GET, SAML, &member, None)
        .await
        .err(7, 403);
    call(&ts, Method::POST, OIDC, &member, Some(oidc_body()))
        .await
        .err(7, 403);
    call(&ts, Method::DELETE, &one, &member, None)
        .await
        .err(7, 403);

    // The admin of another org sees nothing of this org.
    let beta = call(
        &ts,
        Method::POST,
        "/v1/iam/orgs",
        OPERATOR,
        Some(json!({"name": "beta"})),
    )
    .await
    .ok()["org"]["orgId"]
        .as_str()
        .unwrap()
        .to_string();
    let v = call(
        &ts,
        Method::POST,
        "/v1/iam/users",
        OPERATOR,
        Some(json!({"name": "beta-admin", "role": "admin", "orgId": beta})),
    )
    .await
    .ok();
    let beta_uid = v["user"]["uid"].as_str().unwrap().to_string();
    let beta_admin = call(
        &ts,
        Method::POST,
        "/v1/iam/tokens",
        OPERATOR,
        Some(json!({"uid": beta_uid})),
    )
    .await
    .ok()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        call(&ts, Method::GET, SAML, &beta_admin, None).await.ok(),
        json!({"configs": []})
    );
    call(&ts, Method::GET, &one, &beta_admin, None)
        .await
        .err(5, 404);
    call(&ts, Method::DELETE, &one, &beta_admin, None)
        .await
        .err(5, 404);
    call(
        &ts,
        Method::PUT,
        &one,
        &beta_admin,
        Some(json!({"active": false})),
    )
    .await
    .err(5, 404);
    // Naming the other org explicitly is refused.
    call(
        &ts,
        Method::GET,
        &format!("{SAML}?orgId={}", ts.org_id),
        &beta_admin,
        None,
    )
    .await
    .err(7, 403);
    let mut body = saml_body();
    body["orgId"] = json!(ts.org_id);
    call(&ts, Method::POST, SAML, &beta_admin, Some(body))
        .await
        .err(7, 403);

    // The operator must name the org, and may act on any.
    call(&ts, Method::GET, SAML, OPERATOR, None)
        .await
        .err(3, 400);
    let listed = call(
        &ts,
        Method::GET,
        &format!("{SAML}?orgId={}", ts.org_id),
        OPERATOR,
        None,
    )
    .await
    .ok();
    assert_eq!(listed["configs"][0]["configId"], json!(id));
    let mut body = oidc_body();
    body["orgId"] = json!(beta);
    let c = call(&ts, Method::POST, OIDC, OPERATOR, Some(body))
        .await
        .ok()["config"]
        .clone();
    assert_eq!(c["orgId"], json!(beta));
    assert_eq!(
        call(&ts, Method::GET, OIDC, &beta_admin, None).await.ok()["configs"][0],
        c
    );
    let mut body = oidc_body();
    body["orgId"] = json!("zzzzzz");
    call(&ts, Method::POST, OIDC, OPERATOR, Some(body))
        .await
        .err(5, 404);
    call(
        &ts,
        Method::DELETE,
        &format!("{OIDC}/{}?orgId={beta}", c["configId"].as_str().unwrap()),
        OPERATOR,
        None,
    )
    .await
    .ok();
}
