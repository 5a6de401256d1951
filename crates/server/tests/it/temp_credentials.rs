//! Temporary credentials end to end: the API-token exchange
//! (`GET /v1/cwobject/temporary-credentials/api-token`) through boto3's
//! container-credentials provider and through aws-sdk-s3 with and without the session
//! token; wrong tokens, expired keys, missing credentials and missing permission.

use crate::s3_common::*;
use aws_sdk_s3::config::{Credentials, Region};
use coffer_core::clock::{OffsetClock, parse_rfc3339};
use coffer_server::Config;
use coffer_server::testing::{assert_script_ok, python_has, run_python_script};
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;

const EXCHANGE: &str = "/v1/cwobject/temporary-credentials/api-token";

/// Calls the API-token exchange with `authorization` as the raw header value.
async fn exchange(ts: &TestServer, authorization: Option<&str>) -> (u16, Value) {
    let mut req = ts.http.get(format!("{}{EXCHANGE}", ts.api_endpoint));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The container-credentials answer as (key, session token).
fn creds_of(v: &Value) -> (TestKey, String) {
    (
        TestKey {
            access_key_id: v["AccessKeyId"].as_str().unwrap().into(),
            secret_key: v["SecretAccessKey"].as_str().unwrap().into(),
            principal: String::new(),
        },
        v["Token"].as_str().unwrap().into(),
    )
}

fn client_with_token(ts: &TestServer, key: &TestKey, token: Option<&str>) -> aws_sdk_s3::Client {
    let creds = Credentials::new(
        key.access_key_id.clone(),
        key.secret_key.clone(),
        token.map(str::to_string),
        None,
        "temp-creds-test",
    );
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(&ts.s3_endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[tokio::test]
async fn api_token_exchange_shape_and_session_token() {
    let (ts, admin, _) = setup().await;
    make_bucket(&admin, "exchange").await;
    put(&admin, "exchange", "k", b"hello").await;

    let before = OffsetDateTime::now_utc();
    let (status, v) = exchange(&ts, Some(&format!("Bearer {}", ts.admin_token))).await;
    assert_eq!(status, 200, "{v}");
    // Exactly the AWS container-credentials fields, PascalCase.
    let mut fields: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["AccessKeyId", "Expiration", "SecretAccessKey", "Token"]
    );
    let (key, token) = creds_of(&v);
    assert!(key.access_key_id.starts_with("CW") && key.access_key_id.len() == 16);
    assert!(key.secret_key.starts_with("cwo"));
    assert!(token.len() >= 32);
    // 15 minutes, RFC 3339.
    let exp = parse_rfc3339(v["Expiration"].as_str().unwrap()).unwrap();
    let life = (exp - before).whole_seconds();
    assert!((895..=905).contains(&life), "lifetime {life}s");

    // The key is the token's user's, listed like any other, with an expiry.
    let (status, info) = ts
        .api(
            Method::GET,
            &format!("/v1/cwobject/access-key/{}", key.access_key_id),
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(
        info["info"]["principalName"],
        json!(format!("coreweave/{}", ts.admin_uid))
    );
    assert_eq!(info["info"]["status"], json!("ACTIVE"));
    assert_eq!(info["info"]["expiry"], v["Expiration"]);

    // Only the token's hash is stored: the plaintext is nowhere in the database (the
    // embedded store's files; the stores share the record codec).
    if !coffer_server::testing::on_postgres() {
        let db = std::fs::read(ts.data_dir.join("meta.db")).unwrap();
        let wal = std::fs::read(ts.data_dir.join("meta.db-wal")).unwrap_or_default();
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "session token stored in plaintext"
            );
        }
    }

    // The right token and no token both work; a wrong token fails.
    let got = client_with_token(&ts, &key, Some(&token))
        .get_object()
        .bucket("exchange")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), "hello");
    client_with_token(&ts, &key, None)
        .list_objects_v2()
        .bucket("exchange")
        .send()
        .await
        .unwrap();
    for wrong in [format!("{token}x"), token[1..].to_string(), "x".into()] {
        assert_s3_err(
            client_with_token(&ts, &key, Some(&wrong))
                .list_objects_v2()
                .bucket("exchange")
                .send()
                .await,
            "InvalidToken",
            400,
        );
    }
    // Each exchange mints a fresh key and token; one key's token does not fit another.
    let (_, v2) = exchange(&ts, Some(&format!("Bearer {}", ts.admin_token))).await;
    let (key2, token2) = creds_of(&v2);
    assert_ne!(key2.access_key_id, key.access_key_id);
    assert_ne!(token2, token);
    assert_s3_err(
        client_with_token(&ts, &key2, Some(&token))
            .list_objects_v2()
            .bucket("exchange")
            .send()
            .await,
        "InvalidToken",
        400,
    );
}

#[tokio::test]
async fn api_token_exchange_requires_token_and_permission() {
    let ts = TestServer::start().await;
    for auth in [
        None,
        Some("Bearer CW-SECRET-NOTATOKEN".to_string()),
        Some(ts.admin_token.clone()),
        Some(format!("Basic {}", ts.admin_token)),
    ] {
        let (status, v) = exchange(&ts, auth.as_deref()).await;
        assert_eq!((status, &v["code"]), (401, &json!(16)), "{auth:?}: {v}");
    }
    // A member needs cwobject:CreateAccessKey from an org policy.
    let (status, v) = ts
        .api(
            Method::POST,
            "/v1/iam/users",
            Some(&ts.admin_token),
            Some(json!({"name": "m", "role": "member"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let uid = v["user"]["uid"].as_str().unwrap().to_string();
    let (_, v) = ts
        .api(
            Method::POST,
            "/v1/iam/tokens",
            Some(&ts.admin_token),
            Some(json!({"uid": uid, "durationSeconds": 0})),
        )
        .await;
    let member = v["token"].as_str().unwrap().to_string();
    let (status, v) = exchange(&ts, Some(&format!("Bearer {member}"))).await;
    assert_eq!((status, &v["code"]), (403, &json!(7)), "{v}");
    let (_, keys) = ts
        .api(
            Method::GET,
            "/v1/cwobject/access-key",
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(keys["info"], json!([]), "a denied exchange mints no key");

    ts.allow_all().await;
    let (status, v) = exchange(&ts, Some(&format!("Bearer {member}"))).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn expired_exchange_key_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = OffsetClock::default();
    let mut cfg = Config::with_data_dir(tmp.path().to_path_buf());
    cfg.clock = Some(clock.clone());
    let ts = TestServer::start_with(cfg).await;
    let (admin, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&admin, "expiry").await;

    let (status, v) = exchange(&ts, Some(&format!("Bearer {}", ts.admin_token))).await;
    assert_eq!(status, 200, "{v}");
    let (key, token) = creds_of(&v);
    let c = client_with_token(&ts, &key, Some(&token));
    c.list_objects_v2().bucket("expiry").send().await.unwrap();

    // The server's clock moves past the 15 minutes (requests are still signed with the
    // real time, so this is key expiry, not request skew).
    clock.advance(901);
    assert_s3_err(
        c.list_objects_v2().bucket("expiry").send().await,
        "InvalidAccessKeyId",
        403,
    );
    assert_s3_err(
        client_with_token(&ts, &key, None)
            .list_objects_v2()
            .bucket("expiry")
            .send()
            .await,
        "InvalidAccessKeyId",
        403,
    );
    let (_, info) = ts
        .api(
            Method::GET,
            &format!("/v1/cwobject/access-key/{}", key.access_key_id),
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(info["info"]["status"], json!("EXPIRED"), "{info}");
    // Permanent keys are unaffected.
    admin
        .list_objects_v2()
        .bucket("expiry")
        .send()
        .await
        .unwrap();
}

/// boto3 with nothing but `AWS_CONTAINER_CREDENTIALS_FULL_URI` pointing at the
/// exchange and `AWS_CONTAINER_AUTHORIZATION_TOKEN=Bearer <API token>` lists and reads
/// objects (botocore sends the session token with every request).
#[tokio::test]
async fn boto3_container_provider_with_api_token() {
    if !python_has("boto3") {
        eprintln!(
            "SKIPPED boto3_container_provider_with_api_token: python3 with boto3 is not installed (pip install boto3)"
        );
        return;
    }
    let (ts, admin, _) = setup().await;
    make_bucket(&admin, "boto3-exchange").await;
    put(&admin, "boto3-exchange", "dir/obj.txt", b"from coffer").await;

    // Nothing but the container provider may supply credentials.
    let uri = format!("{}{EXCHANGE}", ts.api_endpoint);
    let bearer = format!("Bearer {}", ts.admin_token);
    let out = run_python_script(
        "boto3-container-credentials.py",
        &[
            &ts.s3_endpoint,
            "boto3-exchange",
            "dir/obj.txt",
            "from coffer",
        ],
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", &bearer),
        ],
    )
    .await;
    assert_script_ok(&out);
    // The keys it used came from the exchange: temporary keys of the admin.
    let (_, keys) = ts
        .api(
            Method::GET,
            "/v1/cwobject/access-key",
            Some(&ts.admin_token),
            None,
        )
        .await;
    let temp = keys["info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["expiry"] != json!("1970-01-01T00:00:00Z"))
        .count();
    assert!(temp >= 1, "{keys}");

    // A wrong API token: botocore cannot get credentials, nothing is listed.
    let out = run_python_script(
        "boto3-container-credentials.py",
        &[&ts.s3_endpoint, "boto3-exchange", "x", "x"],
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                "Bearer CW-SECRET-WRONGWRONGWRONG",
            ),
        ],
    )
    .await;
    assert!(!out.status.success());
}
