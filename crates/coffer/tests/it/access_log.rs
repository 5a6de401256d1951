//! `coffer server --access-log`: one structured line per S3 request with the fields an
//! operator needs, and never a secret, signature or key name.

use crate::proc_common::{allow_all_key, bootstrap_token, no_retry_client, spawn_server};

#[tokio::test]
async fn one_line_per_request_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let p = spawn_server(&data, ["--access-log", "--log-json"]);
    let key = allow_all_key(&p.api, &bootstrap_token(&data)).await;
    let c = no_retry_client(&p.s3, &key);
    c.create_bucket().bucket("logged").send().await.unwrap();
    c.put_object()
        .bucket("logged")
        .key("secret-name.bin")
        .body(vec![7u8; 1234].into())
        .send()
        .await
        .unwrap();
    let denied = reqwest::get(format!("{}/logged/secret-name.bin", p.s3))
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);

    // The lines are written when the responses are: wait for the third.
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = p
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("coffer::access"))
            .cloned()
            .collect();
        if lines.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let fields: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["fields"].clone())
        .collect();
    let put = fields
        .iter()
        .find(|f| f["operation"] == "PutObject")
        .unwrap_or_else(|| panic!("{fields:#?}"));
    assert_eq!(put["bucket"], "logged");
    assert_eq!(put["status"], 200);
    assert_eq!(put["bytes_in"], 1234);
    assert_eq!(put["principal"], key.principal.as_str());
    assert!(put["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(put["duration_ms"].is_u64());
    let anon = fields
        .iter()
        .find(|f| f["status"] == 403)
        .unwrap_or_else(|| panic!("{fields:#?}"));
    assert_eq!(anon["principal"], "anonymous");
    for l in &lines {
        for secret in [
            key.secret_key.as_str(),
            key.access_key_id.as_str(),
            "Signature",
            "secret-name",
        ] {
            assert!(!l.contains(secret), "{secret:?} in {l}");
        }
    }
}
