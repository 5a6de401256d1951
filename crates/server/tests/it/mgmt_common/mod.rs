//! Shared helpers of the `mgmt_*` end-to-end tests: raw HTTP calls shaped like the
//! reference's curl examples (`-H "Content-Type: application/json" -H "Authorization:
//! Bearer …" -d @data.json`), and assertions on the error body.

#![allow(dead_code)]

use reqwest::Method;
use serde_json::{Value, json};

pub use coffer_server::testing::TestServer;

pub struct Resp {
    pub status: u16,
    pub request_id: Option<String>,
    pub body: Value,
    pub raw: String,
}

impl Resp {
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{}", self.raw);
        self.body
    }

    /// Asserts a `{"code","message","details":[]}` error; returns the message.
    #[track_caller]
    pub fn err(self, code: i64, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.raw);
        assert_eq!(self.body["code"], json!(code), "{}", self.raw);
        assert_eq!(self.body["details"], json!([]), "{}", self.raw);
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(3),
            "{}",
            self.raw
        );
        self.body["message"].as_str().unwrap().to_string()
    }
}

/// What `curl -d @data.json` sends: the file with CR and LF removed.
pub fn curl_d(file: &str) -> String {
    file.chars().filter(|c| *c != '\n' && *c != '\r').collect()
}

/// One request the way the reference's curl examples make it.
pub async fn curl(
    ts: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    data: Option<&str>,
) -> Resp {
    let mut req = ts
        .http
        .request(method, format!("{}{}", ts.api_endpoint, path))
        .header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(d) = data {
        req = req.body(curl_d(d));
    }
    let resp = req.send().await.expect("management API request");
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let raw = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Resp {
        status,
        request_id,
        body,
        raw,
    }
}

/// RFC 3339 UTC with second precision, as every timestamp on the wire.
pub fn is_rfc3339_z(s: &str) -> bool {
    s.len() == 20 && s.ends_with('Z') && coffer_core::clock::parse_rfc3339(s).is_some()
}

/// A member user of the bootstrap org and its API token (through /v1/iam).
pub async fn member(ts: &TestServer) -> (String, String) {
    let v = curl(
        ts,
        Method::POST,
        "/v1/iam/users",
        Some(&ts.admin_token),
        Some(r#"{"name":"member","role":"member"}"#),
    )
    .await
    .ok();
    let uid = v["user"]["uid"].as_str().unwrap().to_string();
    let v = curl(
        ts,
        Method::POST,
        "/v1/iam/tokens",
        Some(&ts.admin_token),
        Some(&json!({"uid": uid, "durationSeconds": 0, "description": "member"}).to_string()),
    )
    .await
    .ok();
    (uid, v["token"].as_str().unwrap().to_string())
}

/// An allow-all policy, an admin key and an S3 client for it. The client signs with
/// region `us-east-1`: s3s currently rejects the harness's `US-EAST-04A` credential
/// scope (reported; SPEC §4 says any non-empty region is accepted), and these tests are
/// about the management API, not that.
pub async fn s3_admin_client(ts: &TestServer) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{Credentials, Region};
    ts.allow_all().await;
    let key = ts.create_key(&ts.admin_token).await;
    let creds = Credentials::new(key.access_key_id, key.secret_key, None, None, "mgmt-test");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(&ts.s3_endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
