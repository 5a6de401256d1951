//! The web console on the management listener: the embedded assets (content types,
//! Content-Security-Policy, nosniff, 404s), `/console/config.json`, and the
//! same-origin S3 mount (`/console/s3/...`), which must verify SigV4 for the management
//! host and the stripped path — with aws-sdk-s3 pointed at `http://<mgmt>/console/s3` —
//! and refuse unsigned or wrongly signed requests.

use crate::s3_common::*;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'";

async fn get(ts: &TestServer, path: &str) -> reqwest::Response {
    ts.http
        .get(format!("{}{path}", ts.api_endpoint))
        .send()
        .await
        .expect("GET")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn assets_are_served_with_csp_and_content_types() {
    let ts = TestServer::start().await;
    for (path, ct) in [
        ("/console/", "text/html"),
        ("/console/index.html", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/sigv4.js", "text/javascript"),
        ("/console/page-audit.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/config.json", "application/json"),
    ] {
        let r = get(&ts, path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(&r, "content-type").starts_with(ct), "{path}");
        let csp = header(&r, "content-security-policy");
        assert!(csp.starts_with(CSP), "{path}: {csp}");
        for part in [
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&r, "x-frame-options"), "DENY", "{path}");
        assert!(!r.bytes().await.unwrap().is_empty(), "{path}");
    }

    let index = get(&ts, "/console/").await.text().await.unwrap();
    assert!(index.contains(r#"<script type="module" src="/console/app.js"></script>"#));

    // `/console` redirects to the directory so that relative module imports resolve.
    let r = ts
        .http
        .get(format!("{}/console", ts.api_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "redirect followed");
    assert!(r.url().path().ends_with("/console/"));

    // Unknown files: 404 with the same headers, never a directory listing or traversal.
    for path in [
        "/console/nope.js",
        "/console/..%2FCargo.toml",
        "/console/nested/app.js",
        "/console/%2e%2e/Cargo.toml",
    ] {
        let r = get(&ts, path).await;
        assert_eq!(r.status(), 404, "{path}");
        // (The client normalizes `%2e%2e` away: that request reaches the API's 404.)
        if !path.contains("%2e") {
            assert!(
                header(&r, "content-security-policy").starts_with(CSP),
                "{path}"
            );
        }
        assert!(!r.text().await.unwrap().contains("[workspace]"), "{path}");
    }
    let r = ts
        .http
        .post(format!("{}/console/app.js", ts.api_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405, "assets are read-only");
    assert!(header(&r, "content-security-policy").starts_with(CSP));

    // Static assets need no credentials, and the API next to them still does.
    let r = get(&ts, "/v1/cwobject/access-key").await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn config_names_the_s3_listener_and_the_mount() {
    let ts = TestServer::start().await;
    let v: Value = get(&ts, "/console/config.json").await.json().await.unwrap();
    assert_eq!(v["s3Endpoint"], ts.s3_endpoint.as_str());
    assert_eq!(v["s3Mount"], "/console/s3");
    assert_eq!(v["region"], "US-EAST-04A");
    assert_eq!(v["mountRegion"], MOUNT_REGION);
}

/// The mount's own signing scope (`coffer_s3::gates::CONSOLE_REGION`).
const MOUNT_REGION: &str = "coffer-console";

fn mount_client(ts: &TestServer, creds: Credentials) -> aws_sdk_s3::Client {
    mount_client_in(ts, creds, MOUNT_REGION)
}

fn mount_client_in(ts: &TestServer, creds: Credentials, region: &str) -> aws_sdk_s3::Client {
    // The SDK appends `bucket/key` to the endpoint's path as is: hence the slash.
    client_at(&format!("{}/console/s3/", ts.api_endpoint), creds, region)
}

fn client_at(endpoint: &str, creds: Credentials, region: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[tokio::test]
async fn s3_mount_verifies_sigv4_for_the_management_host() {
    let ts = TestServer::start().await;
    let (direct, key) = ts.s3_client_with_allow_all().await;
    let c = mount_client(
        &ts,
        Credentials::new(&key.access_key_id, &key.secret_key, None, None, "t"),
    );

    c.create_bucket().bucket("mounted").send().await.unwrap();
    let body = vec![7u8; 3 * MIB];
    c.put_object()
        .bucket("mounted")
        .key("dir/a b+c.bin")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    // The same object through the S3 listener: one service behind both.
    let got = direct
        .get_object()
        .bucket("mounted")
        .key("dir/a b+c.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        body
    );
    let listed = c
        .list_objects_v2()
        .bucket("mounted")
        .prefix("dir/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));
    let got = c
        .get_object()
        .bucket("mounted")
        .key("dir/a b+c.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().len(),
        body.len()
    );

    // The mount's region in upper case is the same scope.
    let upper = mount_client_in(
        &ts,
        Credentials::new(&key.access_key_id, &key.secret_key, None, None, "t"),
        &MOUNT_REGION.to_ascii_uppercase(),
    );
    upper
        .put_object()
        .bucket("mounted")
        .key("upper")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    upper
        .delete_object()
        .bucket("mounted")
        .key("upper")
        .send()
        .await
        .unwrap();
    // Any other region is the S3 listener's scope, refused here; the mount's scope is
    // refused on the S3 listener.
    for region in ["us-east-1", "US-EAST-04A"] {
        let other = mount_client_in(
            &ts,
            Credentials::new(&key.access_key_id, &key.secret_key, None, None, "t"),
            region,
        );
        let e = other
            .head_object()
            .bucket("mounted")
            .key("dir/a b+c.bin")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            e.raw_response().map(|r| r.status().as_u16()),
            Some(400),
            "{region}"
        );
    }
    let direct_in_mount_scope = client_at(
        &ts.s3_endpoint,
        Credentials::new(&key.access_key_id, &key.secret_key, None, None, "t"),
        MOUNT_REGION,
    );
    let e = direct_in_mount_scope
        .list_objects_v2()
        .bucket("mounted")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("AuthorizationHeaderMalformed")
    );

    // Temporary credentials minted from the API token (what the browser uses).
    let (status, tc) = ts
        .api(
            reqwest::Method::GET,
            "/v1/cwobject/temporary-credentials/api-token",
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{tc}");
    let tmp = mount_client(
        &ts,
        Credentials::new(
            tc["AccessKeyId"].as_str().unwrap(),
            tc["SecretAccessKey"].as_str().unwrap(),
            Some(tc["Token"].as_str().unwrap().to_string()),
            None,
            "t",
        ),
    );
    tmp.head_object()
        .bucket("mounted")
        .key("dir/a b+c.bin")
        .send()
        .await
        .unwrap();

    // Mounted responses cannot act as active content in the console's origin.
    let presigned = c
        .get_object()
        .bucket("mounted")
        .key("dir/a b+c.bin")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(
                60,
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    let r = ts.http.get(presigned.uri()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/octet-stream");
    assert!(header(&r, "content-security-policy").starts_with("sandbox"));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(r.bytes().await.unwrap().len(), body.len());
}

#[tokio::test]
async fn s3_mount_refuses_unsigned_and_wrongly_signed_requests() {
    let ts = TestServer::start().await;
    let (direct, key) = ts.s3_client_with_allow_all().await;
    make_bucket(&direct, "guarded").await;
    put(&direct, "guarded", "k", b"secret bytes").await;

    for (method, path) in [
        (reqwest::Method::GET, "/console/s3/guarded/k"),
        (reqwest::Method::GET, "/console/s3/guarded"),
        (reqwest::Method::GET, "/console/s3"),
        (reqwest::Method::PUT, "/console/s3/guarded/new"),
        (reqwest::Method::DELETE, "/console/s3/guarded/k"),
    ] {
        let r = ts
            .http
            .request(method.clone(), format!("{}{path}", ts.api_endpoint))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{method} {path}");
        let text = r.text().await.unwrap();
        assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
        assert!(!text.contains("secret bytes"));
    }

    // Signed for the S3 listener: its region is not the mount's signing scope.
    let presigned = direct
        .get_object()
        .bucket("guarded")
        .key("k")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(
                60,
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    let moved = presigned
        .uri()
        .replace(&ts.s3_endpoint, &format!("{}/console/s3", ts.api_endpoint));
    let r = ts.http.get(&moved).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("AuthorizationHeaderMalformed")
    );

    // Signed in the mount's scope, but over another path (a request for the stripped
    // path `/guarded/k`): the mount verifies over the path the client sent, never the
    // one it acts on.
    let stripped = client_at(
        &ts.api_endpoint,
        Credentials::new(&key.access_key_id, &key.secret_key, None, None, "t"),
        MOUNT_REGION,
    )
    .get_object()
    .bucket("guarded")
    .key("k")
    .presigned(
        aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60))
            .unwrap(),
    )
    .await
    .unwrap();
    let replayed = stripped
        .uri()
        .replacen("/guarded/k", "/console/s3/guarded/k", 1);
    let r = ts.http.get(&replayed).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));

    // A wrong secret through the mount.
    let bad = mount_client(
        &ts,
        Credentials::new(
            &key.access_key_id,
            "wrong-secret-wrong-secret",
            None,
            None,
            "t",
        ),
    );
    let e = bad
        .get_object()
        .bucket("guarded")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("SignatureDoesNotMatch")
    );
    // Nothing changed.
    let got = direct
        .get_object()
        .bucket("guarded")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"secret bytes"
    );
}
