//! `GET /metrics` on the management listener: what operators of other object stores
//! rely on (requests by operation and status, error codes, latency, bytes, listener
//! load, store and fsync latency, worker progress, build and process), each server its
//! own series, valid exposition text, and no bucket, key or principal in any label.

use coffer_server::testing::TestServer;
use std::collections::{HashMap, HashSet};

/// Samples by their full name with labels (`name{a="b"}`), and the declared families.
struct Scrape {
    text: String,
    samples: HashMap<String, f64>,
}

impl Scrape {
    async fn of(ts: &TestServer) -> Scrape {
        let r = ts
            .http
            .get(format!("{}/metrics", ts.api_endpoint))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = r.text().await.unwrap();
        let samples = check_exposition(&text);
        Scrape { text, samples }
    }

    fn get(&self, sample: &str) -> f64 {
        *self
            .samples
            .get(sample)
            .unwrap_or_else(|| panic!("{sample} not exported:\n{}", self.text))
    }

    fn get_or_zero(&self, sample: &str) -> f64 {
        self.samples.get(sample).copied().unwrap_or(0.0)
    }
}

/// Checks the text format (0.0.4) strictly enough to catch what Prometheus would refuse:
/// every sample belongs to a family declared by one `# TYPE` line before it, names and
/// label names are valid, values parse, no sample repeats. Returns the samples.
fn check_exposition(text: &str) -> HashMap<String, f64> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut families: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            assert!(valid_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                families.insert(name.into(), kind.into()).is_none(),
                "family declared twice: {line}"
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
        };
        let name = series.split('{').next().unwrap();
        assert!(valid_name(name), "{line}");
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or_else(|| panic!("labels of {line}"));
            for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
                assert!(valid_name(k) && v.starts_with('"'), "{line}");
            }
        }
        let family_declared = families.keys().any(|f| {
            name == f
                || ["_total", "_bucket", "_sum", "_count", "_info", "_created"]
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix) == Some(f.as_str()))
        });
        assert!(family_declared, "sample before its TYPE: {line}");
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "sample repeated: {line}"
        );
    }
    samples
}

#[tokio::test]
async fn requests_storage_workers_and_process_are_measured() {
    let ts = TestServer::start().await;
    let (s3, key) = ts.s3_client_with_allow_all().await;
    let bucket = "metrics-bucket-name";
    let object_key = "private/key-name.bin";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let body = vec![5u8; 300_000];
    s3.put_object()
        .bucket(bucket)
        .key(object_key)
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(object_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().len(),
        body.len()
    );
    let missing = s3
        .get_object()
        .bucket(bucket)
        .key("no-such-key")
        .send()
        .await;
    assert!(missing.is_err());
    // A management call refused for want of credentials, and one path no route serves.
    let (status, _) = ts
        .api(reqwest::Method::GET, "/v1/cwobject/access-key", None, None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = ts
        .api(reqwest::Method::GET, "/v1/no-such-route/x", None, None)
        .await;
    assert_eq!(status, 404);
    ts.run_lifecycle().await;
    // Announced lengths count for nothing: an unauthenticated PUT claiming 2^64-1 decoded
    // bytes (and sending none) adds nothing to the bytes received.
    let bogus = ts
        .http
        .put(format!("{}/{bucket}/claimed", ts.s3_endpoint))
        .header("x-amz-decoded-content-length", u64::MAX.to_string())
        .header("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        .body("")
        .send()
        .await
        .unwrap();
    assert!(bogus.status().is_client_error(), "{}", bogus.status());
    // Probes are not requests.
    for probe in ["/healthz", "/readyz"] {
        let (status, _) = ts.api(reqwest::Method::GET, probe, None, None).await;
        assert_eq!(status, 200);
    }

    let m = Scrape::of(&ts).await;
    let s3_op = |op: &str, status: u16| {
        format!("coffer_requests_total{{api=\"s3\",operation=\"{op}\",status=\"{status}\"}}")
    };
    assert_eq!(m.get(&s3_op("PutObject", 200)), 1.0);
    assert_eq!(m.get(&s3_op("GetObject", 200)), 1.0);
    assert_eq!(m.get(&s3_op("GetObject", 404)), 1.0);
    assert_eq!(
        m.get("coffer_request_errors_total{api=\"s3\",operation=\"GetObject\",code=\"NoSuchKey\"}"),
        1.0
    );
    assert_eq!(
        m.get("coffer_request_received_bytes_total{api=\"s3\",operation=\"PutObject\"}"),
        body.len() as f64
    );
    assert!(!m.text.contains("operation=\"Healthz\"") && !m.text.contains("operation=\"Readyz\""));
    assert!(
        m.get("coffer_response_sent_bytes_total{api=\"s3\",operation=\"GetObject\"}")
            >= body.len() as f64
    );
    // The upload and the refused claim.
    assert_eq!(
        m.get("coffer_request_duration_seconds_count{api=\"s3\",operation=\"PutObject\"}"),
        2.0
    );
    assert_eq!(
        m.get(
            "coffer_request_duration_seconds_bucket{api=\"s3\",operation=\"PutObject\",le=\"+Inf\"}"
        ),
        2.0
    );
    // Management: by RPC name, errors by their code name, unrouted paths as `Unknown`.
    assert!(
        m.get(
            "coffer_requests_total{api=\"management\",operation=\"CreateAccessKeyFromJWT\",status=\"200\"}"
        ) >= 1.0
    );
    assert_eq!(
        m.get(
            "coffer_request_errors_total{api=\"management\",operation=\"ListAccessKeyInfo\",code=\"unauthenticated\"}"
        ),
        1.0
    );
    assert_eq!(
        m.get("coffer_requests_total{api=\"management\",operation=\"Unknown\",status=\"404\"}"),
        1.0
    );
    // The scrape itself is in flight on the management listener; nothing on S3.
    assert_eq!(
        m.get("coffer_requests_in_flight{listener=\"management\"}"),
        1.0
    );
    assert_eq!(m.get("coffer_requests_in_flight{listener=\"s3\"}"), 0.0);
    assert_eq!(m.get("coffer_requests_queued{listener=\"s3\"}"), 0.0);
    // Storage: the writes above committed transactions and fsynced a blob.
    let backend = if coffer_server::testing::on_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert!(
        m.get(&format!(
            "coffer_store_transaction_duration_seconds_count{{backend=\"{backend}\"}}"
        )) >= 2.0
    );
    assert!(m.get("coffer_blob_fsync_duration_seconds_count") >= 1.0);
    if backend == "postgres" {
        assert!(m.get("coffer_postgres_pool_max_connections") >= 2.0);
    }
    // Workers.
    assert_eq!(m.get("coffer_lifecycle_runs_total{outcome=\"ok\"}"), 1.0);
    assert!(m.get("coffer_lifecycle_last_success_timestamp_seconds") > 1.7e9);
    assert_eq!(m.get_or_zero("coffer_audit_flush_failures_total"), 0.0);
    // Build and process.
    assert!(m.text.contains("coffer_build_info{version=\""));
    assert!(m.get("process_cpu_seconds_total") > 0.0);
    assert!(m.get("process_resident_memory_bytes") > 1e6);
    assert!(m.get("process_open_fds") > 0.0);

    // Bounded labels: no bucket, key, principal or key id anywhere in the scrape.
    for secretish in [
        bucket,
        object_key,
        "key-name",
        key.access_key_id.as_str(),
        key.principal.as_str(),
    ] {
        assert!(!m.text.contains(secretish), "{secretish:?} in /metrics");
    }
    // Every label value is one of a small, server-chosen set.
    let operations: HashSet<&str> = m
        .samples
        .keys()
        .filter_map(|s| s.split("operation=\"").nth(1))
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(operations.len() < 20, "{operations:?}");
}

#[tokio::test]
async fn each_server_exports_its_own_series() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let (s3, _) = a.s3_client_with_allow_all().await;
    s3.create_bucket().bucket("only-on-a").send().await.unwrap();
    let op = "coffer_requests_total{api=\"s3\",operation=\"CreateBucket\",status=\"200\"}";
    assert_eq!(Scrape::of(&a).await.get(op), 1.0);
    assert_eq!(Scrape::of(&b).await.get_or_zero(op), 0.0);
}
