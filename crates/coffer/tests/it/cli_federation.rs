//! `coffer federation saml|oidc create|list|get|update|delete` against a live server:
//! table and `--json` output, certificates and JWKS read from files or stdin, partial
//! updates, errors from the server surfaced as `error: …` lines, and a created SAML
//! config actually verifying a signed Response from the committed fixtures.

use crate::cli_common::{Cli, server};
use coffer_server::testing::TestServer;
use serde_json::{Value, json};
use std::path::Path;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/fixtures/saml")
}

fn s(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string in {v}"))
        .to_string()
}

#[tokio::test]
async fn saml_configs_lifecycle() {
    let (srv, cli) = server().await;
    let dir = fixtures();
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let rsa = dir.join("keys/rsa.cert.pem");
    let ec = dir.join("keys/ec256.cert.pem");

    let created = cli
        .run(&[
            "federation",
            "saml",
            "create",
            "--name",
            "corp-idp",
            "--idp-entity-id",
            m["idpEntityId"].as_str().unwrap(),
            "--cert",
            rsa.to_str().unwrap(),
            "--audience",
            m["audience"].as_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    let id = s(&created, &["config", "configId"]);
    assert_eq!(
        created["config"]["signingCertificates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(created["config"]["active"], json!(true));
    assert!(created["config"].get("acsUrl").is_none());

    // The config verifies a Response signed with that certificate (the exchange is
    // anonymous; the policy lets role/readers mint keys).
    let (st, v) = srv
        .api(
            reqwest::Method::POST,
            "/v1/cwobject/access-policy",
            Some(&srv.admin_token),
            Some(
                json!({"policy": {"version": "v1alpha1", "name": "saml", "statements": [
                {"name": "s", "effect": "Allow", "actions": ["cwobject:CreateAccessKeySAML"],
                 "resources": ["*"], "principals": ["role/readers"]}]}}),
            ),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let xml = std::fs::read(dir.join("xmlsec-rsa-response-prefixed.xml")).unwrap();
    use base64::Engine;
    let (st, v) = srv
        .api(
            reqwest::Method::POST,
            "/v1/cwobject/temporary-credentials/saml",
            None,
            Some(json!({"orgId": srv.org_id, "configId": id,
                "samlResponse": base64::engine::general_purpose::STANDARD.encode(xml)})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["principalName"], json!("role/readers"));

    // Table output: list and get.
    let l = cli.run(&["federation", "saml", "list"]).await.ok();
    assert!(l.lines()[0].starts_with("CONFIG ID"), "{l:#?}");
    let row = l.line_with(&[&id, "corp-idp"]);
    assert!(row.contains(m["audience"].as_str().unwrap()), "{row}");
    let g = cli.run(&["federation", "saml", "get", &id]).await.ok();
    assert!(g.line_with(&["Certificates:"]).ends_with('1'), "{g:#?}");
    assert!(g.line_with(&["ACS URL:"]).ends_with('-'), "{g:#?}");

    // Partial update: certificates from stdin (a rotation pair in one file), ACS URL,
    // deactivate; the name stays.
    let pair = format!(
        "{}{}",
        std::fs::read_to_string(&rsa).unwrap(),
        std::fs::read_to_string(&ec).unwrap()
    );
    let u = cli
        .run_stdin(
            &[
                "federation",
                "saml",
                "update",
                &id,
                "--cert",
                "-",
                "--acs-url",
                "https://coffer.test/saml/acs",
                "--active",
                "false",
                "--json",
            ],
            &pair,
        )
        .await
        .ok()
        .json();
    assert_eq!(
        u["config"]["signingCertificates"].as_array().unwrap().len(),
        2
    );
    assert_eq!(u["config"]["acsUrl"], json!("https://coffer.test/saml/acs"));
    assert_eq!(u["config"]["active"], json!(false));
    assert_eq!(u["config"]["name"], json!("corp-idp"));
    let g = cli.run(&["federation", "saml", "get", &id]).await.ok();
    assert!(g.line_with(&["Active:"]).ends_with("no"), "{g:#?}");

    // Errors: a file that is not a certificate (client side), a certificate the server
    // refuses, a missing config, a missing required flag (usage error, exit 2).
    let junk = cli.write_home_file("junk.pem", "hello", 0o600);
    cli.run(&[
        "federation",
        "saml",
        "create",
        "--name",
        "x",
        "--idp-entity-id",
        "urn:x",
        "--cert",
        junk.to_str().unwrap(),
        "--audience",
        "urn:y",
    ])
    .await
    .fails(1, "no PEM certificate");
    let fake = cli.write_home_file(
        "fake.pem",
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
        0o600,
    );
    cli.run(&[
        "federation",
        "saml",
        "create",
        "--name",
        "x",
        "--idp-entity-id",
        "urn:x",
        "--cert",
        fake.to_str().unwrap(),
        "--audience",
        "urn:y",
    ])
    .await
    .fails(1, "signingCertificates[0]");
    cli.run(&[
        "federation",
        "saml",
        "get",
        "0123456789abcdef0123456789abcdef",
    ])
    .await
    .fails(1, "not found");
    let usage = cli
        .run(&["federation", "saml", "create", "--name", "x"])
        .await;
    assert_eq!(usage.code, 2, "{usage:#?}");

    // Delete.
    let d = cli.run(&["federation", "saml", "delete", &id]).await.ok();
    assert!(
        d.stdout.contains(&format!("Deleted SAML config {id}.")),
        "{d:#?}"
    );
    let l = cli
        .run(&["federation", "saml", "list", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(l["configs"], json!([]));
    cli.run(&["federation", "saml", "delete", &id])
        .await
        .fails(1, "not found");
}

const OPERATOR: &str = "CW-SECRET-operator-token-for-cli-federation";

#[tokio::test]
async fn oidc_configs_lifecycle() {
    let srv = TestServer::start_with_operator(OPERATOR).await;
    let cli = Cli::new(&srv);
    let op = Cli::with(&srv.api_endpoint, OPERATOR);
    let jwks = json!({"keys": [{"kty": "EC", "kid": "k1", "crv": "P-256", "alg": "ES256",
        "x": "k7Jam8qrIVBL77-tJXPalXI6Dvw2U5amvZ1uryNE1Ew",
        "y": "K4jkFPKkjo0DUFfbdsgJZzOLJEkn-WomJDILDwA4kmE"}]});
    let file = cli.write_home_file("jwks.json", &jwks.to_string(), 0o600);
    let c = cli
        .run(&[
            "federation",
            "oidc",
            "create",
            "--name",
            "gha",
            "--issuer-url",
            "https://token.actions.githubusercontent.com",
            "--audience",
            "coffer",
            "--jwks",
            file.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    let id = s(&c, &["config", "configId"]);
    assert_eq!(c["config"]["jwks"], jwks);

    let l = cli.run(&["federation", "oidc", "list"]).await.ok();
    assert!(l.lines()[0].starts_with("CONFIG ID"), "{l:#?}");
    assert!(
        l.line_with(&[&id, "gha"]).contains("1 inline key"),
        "{l:#?}"
    );

    // Switch the key source to a server-side file, rename: the operator's call (an org
    // admin gives keys inline).
    let switch = [
        "federation",
        "oidc",
        "update",
        &id,
        "--jwks-file",
        "/etc/coffer/jwks.json",
        "--name",
        "gha-2",
    ];
    cli.run(&switch).await.fails(1, "operator token");
    let u = op
        .run(&[&switch[..], &["--org-id", &srv.org_id]].concat())
        .await
        .ok();
    assert!(
        u.line_with(&["Keys:"])
            .ends_with("file /etc/coffer/jwks.json"),
        "{u:#?}"
    );
    assert!(u.line_with(&["Name:"]).ends_with("gha-2"), "{u:#?}");
    let g = cli
        .run(&["federation", "oidc", "get", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(g["config"]["jwksFile"], json!("/etc/coffer/jwks.json"));
    assert!(g["config"].get("jwks").is_none(), "{g}");

    // Errors: bad issuer URL from the server, JWKS that is not JSON, both sources.
    op.run(&[
        "federation",
        "oidc",
        "create",
        "--name",
        "x",
        "--issuer-url",
        "not-a-url",
        "--audience",
        "a",
        "--jwks-file",
        "/x.json",
        "--org-id",
        &srv.org_id,
    ])
    .await
    .fails(1, "issuerUrl");
    let bad = cli.write_home_file("bad.json", "{", 0o600);
    cli.run(&[
        "federation",
        "oidc",
        "create",
        "--name",
        "x",
        "--issuer-url",
        "https://i.test",
        "--audience",
        "a",
        "--jwks",
        bad.to_str().unwrap(),
    ])
    .await
    .fails(1, "not JSON");
    let both = cli
        .run(&[
            "federation",
            "oidc",
            "create",
            "--name",
            "x",
            "--issuer-url",
            "https://i.test",
            "--audience",
            "a",
            "--jwks",
            file.to_str().unwrap(),
            "--jwks-file",
            "/x.json",
        ])
        .await;
    assert_eq!(both.code, 2, "{both:#?}");

    cli.run(&["federation", "oidc", "delete", &id]).await.ok();
    cli.run(&["federation", "oidc", "get", &id])
        .await
        .fails(1, "not found");
}
