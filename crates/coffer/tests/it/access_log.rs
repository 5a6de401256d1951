//! `coffer server --access-log`: one structured line per request, on both listeners,
//! with the fields an operator needs, and never a secret, token, signature or key name.

use crate::proc_common::{allow_all_key, bootstrap_token, no_retry_client, spawn_server_env};

#[tokio::test]
async fn one_line_per_request_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Switched on by the environment, as `1` (boolean settings take 1/0, true/false,
    // yes/no, on/off from the environment, like the flags' presence).
    let p = spawn_server_env(
        &data,
        [] as [&str; 0],
        &[("COFFER_ACCESS_LOG", "1"), ("COFFER_LOG_JSON", "yes")],
    );
    let token = bootstrap_token(&data);
    let key = allow_all_key(&p.api, &token).await;
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

    // The lines are written when the responses are: wait for the third S3 line.
    let mut lines = Vec::new();
    let mut fields: Vec<serde_json::Value> = Vec::new();
    for _ in 0..100 {
        lines = p
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("coffer::access"))
            .cloned()
            .collect();
        fields = lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["fields"].clone())
            .collect();
        if fields.iter().filter(|f| f["listener"] == "s3").count() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (s3, management): (Vec<_>, Vec<_>) =
        fields.iter().cloned().partition(|f| f["listener"] == "s3");
    assert_eq!(s3.len(), 3, "{lines:#?}");
    // The management calls that made the key: named by their RPC, never by their path.
    let created = management
        .iter()
        .find(|f| f["operation"] == "CreateAccessKeyFromJWT")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(created["status"], 200);
    assert!(created["bytes_out"].as_u64().is_some_and(|n| n > 0));
    assert!(created["principal"].as_str().is_some_and(|p| !p.is_empty()));
    assert!(
        management
            .iter()
            .any(|f| f["operation"] == "EnsureAccessPolicy" && f["status"] == 200),
        "{lines:#?}"
    );
    let fields = s3;
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
            token.as_str(),
            "Signature",
            "secret-name",
        ] {
            assert!(!l.contains(secret), "{secret:?} in {l}");
        }
    }
}

/// s3s prints whole requests (headers included: SSE-C keys, signed header values) at
/// debug. Asked for by every directive form that would win over an `s3s=off` directive —
/// a longer target, a span name — it still logs nothing, and the key never appears.
#[tokio::test]
async fn s3s_never_logs_whatever_the_filter_asks() {
    use base64::Engine;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let p = spawn_server_env(
        &data,
        [] as [&str; 0],
        &[(
            "COFFER_LOG",
            "info,s3s=trace,s3s::service=trace,s3s::ops=trace,[call]=trace",
        )],
    );
    let token = bootstrap_token(&data);
    let key = allow_all_key(&p.api, &token).await;
    let c = no_retry_client(&p.s3, &key);
    c.create_bucket().bucket("quiet").send().await.unwrap();
    let raw = [0x5au8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    // (The MD5 need not match: the request is refused after s3s has parsed it.)
    let (k, md5) = (b64.encode(raw), b64.encode([0u8; 16]));
    let r = c
        .put_object()
        .bucket("quiet")
        .key("k")
        .body(b"x".to_vec().into())
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k)
        .sse_customer_key_md5(&md5)
        .send()
        .await;
    assert!(r.is_err());
    c.put_object()
        .bucket("quiet")
        .key("plain")
        .body(b"y".to_vec().into())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = p.log.lock().unwrap().clone();
    assert!(!log.is_empty(), "the server logs something");
    for line in &log {
        assert!(!line.contains(&k), "the SSE-C key was logged: {line}");
        assert!(!line.contains("s3s::"), "an s3s line: {line}");
    }
}
