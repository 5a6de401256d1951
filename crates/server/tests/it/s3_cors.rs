//! Bucket CORS end to end (SPEC §4): Put/Get/DeleteBucketCors with aws-sdk-s3 and the
//! validation failures (which store nothing), then the browser side with reqwest:
//! unauthenticated preflights (allowed, refused with 403 `CORSResponse`, malformed),
//! and `Access-Control-*` + `Vary: Origin` on actual responses, errors included.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use reqwest::Method;

fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
    let mut b = CorsRule::builder();
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    for h in headers {
        b = b.allowed_headers(*h);
    }
    b.build().unwrap()
}

fn config(rules: Vec<CorsRule>) -> CorsConfiguration {
    CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .unwrap()
}

async fn set_cors(c: &Client, bucket: &str) {
    let main = CorsRule::builder()
        .id("app")
        .allowed_origins("https://app.example.com")
        .allowed_origins("https://*.preview.example.com")
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_headers("content-type")
        .allowed_headers("x-amz-*")
        .expose_headers("ETag")
        .expose_headers("x-amz-request-id")
        .max_age_seconds(600)
        .build()
        .unwrap();
    let public = rule(&["*"], &["HEAD"], &[]);
    c.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(config(vec![main, public]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put cors: {}", dbg_err(&e)));
}

#[tokio::test]
async fn cors_configuration_round_trip_and_validation() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "corscfg").await;
    assert_s3_err(
        c.get_bucket_cors().bucket("corscfg").send().await,
        "NoSuchCORSConfiguration",
        404,
    );
    set_cors(&c, "corscfg").await;
    let got = c.get_bucket_cors().bucket("corscfg").send().await.unwrap();
    let rules = got.cors_rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].id(), Some("app"));
    assert_eq!(rules[0].allowed_methods(), ["GET", "PUT"]);
    assert_eq!(rules[0].allowed_headers(), ["content-type", "x-amz-*"]);
    assert_eq!(rules[0].expose_headers(), ["ETag", "x-amz-request-id"]);
    assert_eq!(rules[0].max_age_seconds(), Some(600));
    assert_eq!(rules[1].allowed_origins(), ["*"]);

    // Bad configurations are refused and the stored one stays.
    let too_many: Vec<CorsRule> = (0..101).map(|_| rule(&["*"], &["GET"], &[])).collect();
    for (cfg, code) in [
        (
            config(vec![rule(&["*"], &["PATCH"], &[])]),
            "InvalidRequest",
        ),
        (
            config(vec![rule(&["https://*.*.example.com"], &["GET"], &[])]),
            "InvalidRequest",
        ),
        (
            config(vec![rule(&["*"], &["GET"], &["x-*-*"])]),
            "InvalidRequest",
        ),
        (config(too_many), "MalformedXML"),
    ] {
        assert_s3_err(
            c.put_bucket_cors()
                .bucket("corscfg")
                .cors_configuration(cfg)
                .send()
                .await,
            code,
            400,
        );
    }
    let hundred: Vec<CorsRule> = (0..100).map(|_| rule(&["*"], &["GET"], &[])).collect();
    assert_eq!(
        c.get_bucket_cors()
            .bucket("corscfg")
            .send()
            .await
            .unwrap()
            .cors_rules()
            .len(),
        2
    );
    make_bucket(&c, "corscfg100").await;
    c.put_bucket_cors()
        .bucket("corscfg100")
        .cors_configuration(config(hundred))
        .send()
        .await
        .unwrap();

    c.delete_bucket_cors()
        .bucket("corscfg")
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.get_bucket_cors().bucket("corscfg").send().await,
        "NoSuchCORSConfiguration",
        404,
    );
    assert_s3_err(
        c.put_bucket_cors()
            .bucket("no-such-cors-bucket")
            .cors_configuration(config(vec![rule(&["*"], &["GET"], &[])]))
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
}

fn header<'a>(r: &'a Raw, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn preflight_and_actual_responses() {
    let (ts, c, _) = setup().await;
    make_bucket(&c, "corsweb").await;
    make_bucket(&c, "corsnone").await;
    put(&c, "corsweb", "page.txt", b"hello").await;
    set_cors(&c, "corsweb").await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}/{p}", ts.s3_endpoint);
    let preflight =
        |path: &str, origin: Option<&str>, method: Option<&str>, headers: Option<&str>| {
            let mut rb = http.request(Method::OPTIONS, url(path));
            if let Some(o) = origin {
                rb = rb.header("origin", o);
            }
            if let Some(m) = method {
                rb = rb.header("access-control-request-method", m);
            }
            if let Some(h) = headers {
                rb = rb.header("access-control-request-headers", h);
            }
            send(rb)
        };

    // Allowed, without any credentials.
    let r = preflight(
        "corsweb/page.txt",
        Some("https://app.example.com"),
        Some("PUT"),
        Some("Content-Type, X-Amz-Date"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(header(&r, "access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        Some("content-type, x-amz-date")
    );
    assert_eq!(
        header(&r, "access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(header(&r, "access-control-max-age"), Some("600"));
    assert!(header(&r, "vary").unwrap().contains("Origin"));
    assert!(header(&r, "x-amz-request-id").is_some());
    // Wildcard origin pattern.
    let r = preflight(
        "corsweb/x",
        Some("https://pr-7.preview.example.com"),
        Some("GET"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The `*` rule answers `*`.
    let r = preflight(
        "corsweb/x",
        Some("https://elsewhere.org"),
        Some("HEAD"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));

    // Refused: origin, method, header not allowed; bucket without configuration.
    for (path, origin, method, headers) in [
        ("corsweb/page.txt", "https://evil.example.org", "GET", None),
        (
            "corsweb/page.txt",
            "https://app.example.com",
            "DELETE",
            None,
        ),
        (
            "corsweb/page.txt",
            "https://app.example.com",
            "PUT",
            Some("authorization"),
        ),
        ("corsweb/page.txt", "https://elsewhere.org", "GET", None),
        ("corsnone/k", "https://app.example.com", "GET", None),
        (
            "no-such-bucket-cors/k",
            "https://app.example.com",
            "GET",
            None,
        ),
    ] {
        let r = preflight(path, Some(origin), Some(method), headers).await;
        r.assert_err("CORSResponse", 403);
        assert!(
            r.body.contains("This CORS request is not allowed"),
            "{}",
            r.body
        );
        assert!(header(&r, "access-control-allow-origin").is_none());
    }
    // Malformed preflights.
    preflight("corsweb/k", None, Some("GET"), None)
        .await
        .assert_err("BadRequest", 400);
    preflight("corsweb/k", Some("https://app.example.com"), None, None)
        .await
        .assert_err("BadRequest", 400);

    // Actual requests: a matching origin gets the headers, on success and on errors.
    let r = send(
        http.get(url("corsweb/page.txt"))
            .header("origin", "https://app.example.com"),
    )
    .await;
    // Anonymous GET is denied (no bucket policy), but still carries CORS headers.
    r.assert_err("AccessDenied", 403);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&r, "access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert!(header(&r, "vary").unwrap().contains("Origin"));
    let r = send(
        http.get(url("corsweb/page.txt"))
            .header("origin", "https://evil.example.org"),
    )
    .await;
    assert!(header(&r, "access-control-allow-origin").is_none());
    // With a public-read bucket policy the anonymous GET succeeds, with the headers.
    c.put_bucket_policy()
        .bucket("corsweb")
        .policy(
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": "arn:aws:s3:::corsweb/*"}]
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let r = send(
        http.get(url("corsweb/page.txt"))
            .header("origin", "https://app.example.com"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "hello");
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(header(&r, "access-control-allow-methods"), Some("GET, PUT"));
    let r = send(
        http.get(url("corsweb/missing"))
            .header("origin", "https://app.example.com"),
    )
    .await;
    r.assert_err("NoSuchKey", 404);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let r = send(
        http.head(url("corsweb/page.txt"))
            .header("origin", "https://anything.example"),
    )
    .await;
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    // Without an Origin header: no CORS headers.
    let r = send(http.get(url("corsweb/page.txt"))).await;
    assert!(header(&r, "access-control-allow-origin").is_none());
}
