//! Liveness probes answer while the server is saturated: a node whose every in-flight
//! permit is taken is busy, not dead, and must not be taken out of a load balancer for
//! it. Requests that only look like the probe (a virtual-hosted bucket's key `-/healthz`)
//! still wait their turn.

use coffer_server::config::Config;
use coffer_server::testing::TestServer;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a presigned PUT into `bucket` whose body never finishes (100 of the 1,000,000
/// bytes it announces): it holds an in-flight permit until the returned stream is dropped.
pub(crate) async fn held_upload(
    ts: &TestServer,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> TcpStream {
    let url = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap(),
        )
        .await
        .unwrap();
    let uri: http::Uri = url.uri().parse().unwrap();
    let addr = ts.s3_endpoint.trim_start_matches("http://").to_string();
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000000\r\n\r\n",
        uri.path_and_query().unwrap(),
        uri.authority().unwrap()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&[7u8; 100]).await.unwrap();
    conn
}

/// Sends one request on a fresh connection; the response's status code.
async fn status_of(ts: &TestServer, request: String) -> u16 {
    let addr = ts.s3_endpoint.trim_start_matches("http://").to_string();
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = conn.read(&mut buf).await.unwrap();
    let line = String::from_utf8_lossy(&buf[..n]);
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn probes_answer_while_every_permit_is_held() {
    let mut cfg = Config::with_data_dir(tempfile::tempdir().unwrap().keep());
    cfg.limits.max_in_flight = 1;
    // The bodies below stall on purpose: give them time.
    cfg.limits.body_timeout = Duration::from_secs(60);
    cfg.limits.body_min_rate = 0;
    cfg.domain = Some("s3.test".into());
    let ts = TestServer::start_with(cfg).await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    s3.create_bucket().bucket("probes").send().await.unwrap();

    let held = held_upload(&ts, &s3, "probes", "held").await;
    // An ordinary request now waits for the permit.
    let http = ts.http.clone();
    let list = format!("{}/probes", ts.s3_endpoint);
    let waiting = tokio::spawn(async move { http.get(list).send().await.unwrap().status() });

    // The probes do not: S3's, path-style, GET and HEAD, and the management API's.
    let probe = |method: &str| {
        format!("{method} /-/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    };
    assert_eq!(status_of(&ts, probe("GET")).await, 200);
    assert_eq!(status_of(&ts, probe("HEAD")).await, 200);
    let r = ts
        .http
        .get(format!("{}/healthz", ts.api_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A virtual-hosted bucket's key `-/healthz` is an object request: it waits too.
    let addr = ts.s3_endpoint.trim_start_matches("http://").to_string();
    let mut lookalike = TcpStream::connect(&addr).await.unwrap();
    lookalike
        .write_all(b"GET /-/healthz HTTP/1.1\r\nHost: probes.s3.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), lookalike.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the look-alike was answered while the permit was held"
    );
    assert!(!waiting.is_finished(), "the ordinary request did not wait");

    // Releasing the permit lets the waiting requests through.
    drop(held);
    let status = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiting request ran once the permit was free")
        .unwrap();
    assert_eq!(status, 403, "anonymous listing of a private bucket");
    let n = tokio::time::timeout(Duration::from_secs(30), lookalike.read(&mut buf))
        .await
        .expect("the look-alike was answered once the permit was free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 403"));
}
