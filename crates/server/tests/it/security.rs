//! Issue 15's findings, each through real clients against a real server: what a
//! signature covers (boto3 presigned URLs and POST policies replayed with `requests`,
//! `scripts/security-boto3.py`), the console mount's signing scope, bodies read before
//! the caller is known (anonymous bulk deletes, management bodies), and the shared
//! budget of buffered request bytes. The memory and slow-client halves against a server
//! process are in `crates/coffer/tests/it/hostile.rs`.

use crate::s3_common::*;
use coffer_server::testing::{assert_script_ok, python_has, run_python_script};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn boto3_signatures_cover_every_header_scope_and_form_field() {
    if !python_has("boto3, requests") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have boto3 and requests (scripts/test-env.sh)"
        );
        eprintln!("SKIPPED: python3 with boto3 and requests is not installed");
        return;
    }
    let ts = TestServer::start().await;
    let (_, key) = ts.s3_client_with_allow_all().await;
    let out = run_python_script(
        "security-boto3.py",
        &[
            &ts.s3_endpoint,
            &ts.api_endpoint,
            &key.access_key_id,
            &key.secret_key,
        ],
        &[("NO_PROXY", "*")],
    )
    .await;
    assert_script_ok(&out);
}

fn delete_body(keys: &[&str]) -> Vec<u8> {
    let mut x = String::from("<Delete>");
    for k in keys {
        x.push_str(&format!("<Object><Key>{k}</Key></Object>"));
    }
    x.push_str("</Delete>");
    x.into_bytes()
}

async fn anonymous_delete(ts: &TestServer, bucket: &str, keys: &[&str]) -> Raw {
    let body = delete_body(keys);
    let md5 = md5_b64(&body);
    send(
        ts.http
            .post(format!("{}/{bucket}?delete", ts.s3_endpoint))
            .header("content-md5", md5)
            .body(body),
    )
    .await
}

/// An anonymous multi-object delete is decided per key after its body is parsed: it is
/// now refused before the body is read unless some bucket-policy statement could allow
/// an anonymous delete at all.
#[tokio::test]
async fn anonymous_bulk_deletes_are_refused_before_their_body_is_read() {
    let (ts, s3, _) = setup().await;
    make_bucket(&s3, "anon").await;
    put(&s3, "anon", "public/a", b"a").await;
    put(&s3, "anon", "private/b", b"b").await;

    // No bucket policy: refused outright (it used to parse the body and answer 200 with
    // an AccessDenied per key).
    anonymous_delete(&ts, "anon", &["public/a", "private/b"])
        .await
        .assert_err("AccessDenied", 403);
    // A policy that lets anonymous callers read but not delete: still refused.
    let read_only = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::anon/*"}]});
    s3.put_bucket_policy()
        .bucket("anon")
        .policy(read_only.to_string())
        .send()
        .await
        .unwrap();
    anonymous_delete(&ts, "anon", &["public/a"])
        .await
        .assert_err("AccessDenied", 403);
    assert!(exists(&s3, "anon", "public/a").await);

    // Anonymous deletes allowed under a prefix: the body is read and decided per key.
    let owner = format!("arn:aws:iam::{}:root", ts.org_id);
    let public_delete = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": "arn:aws:s3:::anon/public/*"},
        {"Effect": "Allow", "Principal": {"AWS": owner}, "Action": "s3:*",
         "Resource": ["arn:aws:s3:::anon", "arn:aws:s3:::anon/*"]}]});
    s3.put_bucket_policy()
        .bucket("anon")
        .policy(public_delete.to_string())
        .send()
        .await
        .unwrap();
    let r = anonymous_delete(&ts, "anon", &["public/a", "private/b"]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("<Deleted><Key>public/a</Key>"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("<Code>AccessDenied</Code><Key>private/b</Key>"),
        "{}",
        r.body
    );
    assert!(!exists(&s3, "anon", "public/a").await);
    assert!(exists(&s3, "anon", "private/b").await);
}

/// Management bodies read before the caller is known are bounded by the anonymous
/// limit (128 KiB); authenticated callers keep 1 MiB.
#[tokio::test]
async fn management_bodies_before_authentication_are_small() {
    let ts = TestServer::start().await;
    let pad = "x".repeat(200 * 1024);
    // The anonymous token exchanges read their body (the credential) unauthenticated.
    let r = ts
        .http
        .post(format!(
            "{}/v1/cwobject/temporary-credentials/saml",
            ts.api_endpoint
        ))
        .json(&json!({"orgId": ts.org_id, "configId": "c", "samlResponse": pad}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("128 KiB before the caller is authenticated"),
        "{v}"
    );
    // REST routes authenticate before reading: no token, no body read.
    let r = ts
        .http
        .post(format!("{}/v1/cwobject/access-policy", ts.api_endpoint))
        .body(pad.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Connect reads the body to route it: the token is checked first.
    let connect = |token: &str| {
        ts.http
            .post(format!(
                "{}/cwobject.v1.CWObject/ListAccessPolicies",
                ts.api_endpoint
            ))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .json(&json!({"pad": pad}))
    };
    let r = connect("CW-SECRET-not-a-token").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("before the caller is authenticated")
    );
    let r = connect(&ts.admin_token).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Bodies parsed whole on both listeners draw from one budget, in the name of the
/// caller's org: an org that holds its share with bodies that never finish is refused
/// further large bodies (503) while other orgs, small bodies (an admin revoking a key)
/// and streamed object data go on; the share refills when the bodies are gone.
// Run alone by scripts/test (`--ignored --exact`): beside the whole parallel suite on two
// cores it failed twice in ~5 runs (the share never looked spent within the held bodies'
// 30 s stall timeout; cause not found yet), alone it passes in 0.5 s on both engines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run alone by scripts/test: flaky under the parallel suite's load"]
async fn buffered_request_bytes_share_one_budget_per_org() {
    const OPERATOR: &str = "CW-SECRET-operator-token-for-the-budget-test";
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("operator-token");
    std::fs::write(&token_file, OPERATOR).unwrap();
    let mut cfg = coffer_server::config::Config::with_data_dir(tmp.path().join("data"));
    cfg.operator_token_file = Some(token_file);
    // 32 MiB in all, 8 MiB per org.
    cfg.limits.max_buffered_bytes = 32 << 20;
    let ts = TestServer::start_with(cfg).await;
    let (s3, key_a) = ts.s3_client_with_allow_all().await;
    make_bucket(&s3, "budget-a").await;
    put(&s3, "budget-a", "k", b"streamed").await;
    let (_, _, token_b) = ts.org_with_allow_all_admin(OPERATOR, "other").await;
    let key_b = ts.create_key(&token_b).await;
    make_bucket(&ts.s3_client(&key_b), "budget-b").await;

    // A DeleteObjects document of about 40 KiB: counted (small ones are not).
    let names: Vec<String> = (0..400).map(|i| format!("{i:0>80}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let doc = delete_body(&refs);
    assert!(doc.len() > 32 * 1024);
    // Refused requests go on connections of their own: a refusal before the body is
    // read closes its connection, which must not be one a later request reuses.
    let big_delete = |key: &TestKey, bucket: &str| {
        let md5 = md5_b64(&doc);
        Signer::new(&ts, key).request(
            &reqwest::Client::new(),
            Method::POST,
            &format!("/{bucket}"),
            &[("delete".to_string(), String::new())],
            &[("content-md5", md5)],
            doc.clone(),
        )
    };
    let r = send(big_delete(&key_a, "budget-a")).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Org A's admin holds its whole share with eight 1 MiB bodies that never finish.
    let api = ts.api_endpoint.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = TcpStream::connect(&api).await.unwrap();
        let head = format!(
            "POST /v1/cwobject/access-policy HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"policy\":",
            ts.admin_token,
            1 << 20
        );
        c.write_all(head.as_bytes()).await.unwrap();
        held.push(c);
    }
    // The held bodies reserve once the server has read their heads: polled, with a bound
    // generous enough for a loaded machine (the test's subject is the refusal, not speed).
    let mut refused = None;
    for _ in 0..600 {
        let r = send(big_delete(&key_a, "budget-a")).await;
        if r.status != 200 {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    refused
        .expect("org A's large body beyond its spent share is refused")
        .assert_err("SlowDown", 503);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/cwobject/access-policy", ts.api_endpoint))
        .bearer_auth(&ts.admin_token)
        .json(&json!({"pad": "x".repeat(100 * 1024)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"].as_i64(), Some(14), "{v}");

    // Small bodies are not counted: the admin can still revoke and tag.
    let (status, v) = ts
        .api(
            Method::POST,
            "/v1/cwobject/revoke-access-key/access-key",
            Some(&ts.admin_token),
            Some(json!({"accessKey": ts.create_key(&ts.admin_token).await.access_key_id})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    s3.put_bucket_tagging()
        .bucket("budget-a")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("a")
                        .value("b")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("a small XML body needs no budget");
    // Another org is not starved, and object data streams without the budget.
    let r = send(big_delete(&key_b, "budget-b")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get(&s3, "budget-a", "k").await, b"streamed");

    drop(held);
    let mut ok = false;
    for _ in 0..600 {
        if send(big_delete(&key_a, "budget-a")).await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "org A's share refills once its bodies are gone");
}

/// What AWS refuses about time and payload, Coffer refuses too: header-signed requests
/// more than 15 minutes off the server's clock either way, presigned URLs dated in the
/// future or expired, and a body whose SHA-256 is not the signed one (nothing stored).
#[tokio::test]
async fn skewed_expired_and_mismatched_requests_are_refused() {
    let (ts, s3, key) = setup().await;
    make_bucket(&s3, "clock").await;
    let signer = Signer::new(&ts, &key);
    let now = time::OffsetDateTime::now_utc();
    let put_at = |when: time::OffsetDateTime, body: &[u8], hash: String| {
        let (hs, _) = signer.sign("PUT", "/clock/k", &[], &[], &hash, when);
        let mut rb = ts
            .http
            .put(format!("{}/clock/k", ts.s3_endpoint))
            .body(body.to_vec());
        for (k, v) in hs {
            rb = rb.header(k, v);
        }
        rb
    };
    for minutes in [-20, 20] {
        let when = now + time::Duration::minutes(minutes);
        send(put_at(when, b"x", sha256_hex(b"x")))
            .await
            .assert_err("RequestTimeTooSkewed", 403);
    }
    send(put_at(now, b"actual", sha256_hex(b"claimed")))
        .await
        .assert_err("XAmzContentSHA256Mismatch", 400);
    assert!(!exists(&s3, "clock", "k").await);
    let r = send(put_at(now, b"actual", sha256_hex(b"actual"))).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let future = signer.presign(
        "GET",
        "/clock/k",
        3600,
        now + time::Duration::minutes(20),
        &[],
    );
    send(ts.http.get(&future))
        .await
        .assert_err("RequestTimeTooSkewed", 403);
    let expired = signer.presign("GET", "/clock/k", 60, now - time::Duration::minutes(5), &[]);
    send(ts.http.get(&expired))
        .await
        .assert_err("AccessDenied", 403);
}

/// Reads one response head (through the blank line) from `c`.
async fn response_head(c: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut byte))
            .await
            .expect("a response head within 10 s")
            .unwrap();
        assert_eq!(
            n,
            1,
            "connection closed mid-head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

/// A request refused before its body is read leaves a connection hyper cannot reuse: the
/// response says `Connection: close`, so no client pools it and loses its next request
/// to a reset. Requests whose bodies were read keep their connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_the_body_is_read_close_the_connection_and_say_so() {
    let (ts, s3, _) = setup().await;
    make_bucket(&s3, "closing").await;
    for endpoint in [&ts.s3_endpoint, &ts.api_endpoint] {
        let addr = endpoint.trim_start_matches("http://").to_string();
        // Anonymous, refused before its 1 MiB body: the server answers and closes.
        let mut c = TcpStream::connect(&addr).await.unwrap();
        let path = if endpoint == &ts.s3_endpoint {
            "/closing/k"
        } else {
            "/v1/cwobject/access-policy"
        };
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
            1 << 20
        );
        c.write_all(head.as_bytes()).await.unwrap();
        c.write_all(&[b'x'; 1024]).await.unwrap();
        let resp = response_head(&mut c).await;
        assert!(
            resp.starts_with("http/1.1 4"),
            "{endpoint}: an anonymous PUT is refused: {resp}"
        );
        assert!(
            resp.contains("\r\nconnection: close\r\n"),
            "{endpoint}: the refusal says the connection closes: {resp}"
        );

        // A bodiless request: the connection stays open for the next one.
        let mut c = TcpStream::connect(&addr).await.unwrap();
        for _ in 0..2 {
            let get = format!("GET /closing HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            c.write_all(get.as_bytes()).await.unwrap();
            let resp = response_head(&mut c).await;
            assert!(
                !resp.contains("connection: close"),
                "{endpoint}: a bodiless refusal keeps the connection: {resp}"
            );
            let len: usize = resp
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            tokio::io::AsyncReadExt::read_exact(&mut c, &mut body)
                .await
                .unwrap();
        }
    }

    // A body the server reads to its end (an authenticated management call refused after
    // parsing it) keeps the connection too: only unread bodies close it.
    let addr = ts.api_endpoint.trim_start_matches("http://").to_string();
    let mut c = TcpStream::connect(&addr).await.unwrap();
    let body = br#"{"policy": 1}"#;
    for _ in 0..2 {
        let head = format!(
            "POST /v1/cwobject/access-policy HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            ts.admin_token,
            body.len()
        );
        c.write_all(head.as_bytes()).await.unwrap();
        c.write_all(body).await.unwrap();
        let resp = response_head(&mut c).await;
        assert!(resp.starts_with("http/1.1 4"), "a malformed policy: {resp}");
        assert!(
            !resp.contains("connection: close"),
            "a body read to its end keeps the connection: {resp}"
        );
        let len: usize = resp
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        let mut rest = vec![0u8; len];
        tokio::io::AsyncReadExt::read_exact(&mut c, &mut rest)
            .await
            .unwrap();
    }
}
