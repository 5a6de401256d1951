//! `aws:SourceIp` behind a reverse proxy: `X-Forwarded-For` is believed only when the
//! TCP peer is a configured trusted proxy (`--trusted-proxies`), and then names the
//! client a bucket policy's IP conditions see.

use aws_sdk_s3::primitives::ByteStream;
use coffer_server::config::Config;
use coffer_server::testing::TestServer;
use serde_json::json;

#[tokio::test]
async fn forwarded_client_address_from_trusted_proxy_only() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_data_dir(tmp.path().to_path_buf());
    cfg.trusted_proxies = vec![coffer_core::policy::Cidr::parse("127.0.0.1").unwrap()];
    let ts = TestServer::start_with(cfg).await;
    let (admin, _) = ts.s3_client_with_allow_all().await;
    admin
        .create_bucket()
        .bucket("behind-proxy")
        .send()
        .await
        .unwrap();
    admin
        .put_object()
        .bucket("behind-proxy")
        .key("doc")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Org", "Effect": "Allow", "Principal": {"CW": "coreweave/*"},
             "Action": "s3:*", "Resource": ["arn:aws:s3:::behind-proxy", "arn:aws:s3:::behind-proxy/*"]},
            {"Sid": "OfficeRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::behind-proxy/*",
             "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}
        ]
    });
    admin
        .put_bucket_policy()
        .bucket("behind-proxy")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let url = format!("{}/behind-proxy/doc", ts.s3_endpoint);
    let get = |xff: Option<&'static str>| {
        let mut r = http.get(&url);
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    // The proxy (127.0.0.1, trusted) forwards a client in the office range.
    assert_eq!(get(Some("203.0.113.7")).await, 200);
    // A client address outside the range, or a spoofed leftmost entry, is refused.
    assert_eq!(get(Some("198.51.100.1")).await, 403);
    assert_eq!(get(Some("203.0.113.7, 198.51.100.1")).await, 403);
    // No header: the client is the proxy itself.
    assert_eq!(get(None).await, 403);
}
