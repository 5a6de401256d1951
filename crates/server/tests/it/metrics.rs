//! `GET /metrics` on the management listener: what operators of other object stores
//! rely on (requests by operation and status, error codes, latency, bytes, listener
//! load, store and fsync latency, worker progress, build and process), each server its
//! own series, valid exposition text, and no bucket, key or principal in any label.

use coffer_server::testing::TestServer;
use std::collections::{HashMap, HashSet};

/// One `/metrics` answer: its text and its samples by full name with labels
/// (`name{a="b"}`), checked as exposition text (also used by the audit suite).
pub(crate) struct Scrape {
    pub(crate) text: String,
    pub(crate) samples: HashMap<String, f64>,
}

impl Scrape {
    pub(crate) async fn of(ts: &TestServer) -> Scrape {
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

/// A client that goes away in the middle of its upload: the server notices the body
/// ended early and answers `IncompleteBody`; the request is counted once, with that
/// status and the bytes it actually sent, not the length it announced.
#[tokio::test]
async fn an_abandoned_upload_is_counted_once_with_the_bytes_it_sent() {
    let ts = TestServer::start().await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    s3.create_bucket().bucket("abandoned").send().await.unwrap();
    let conn = crate::probes::held_upload(&ts, &s3, "abandoned", "half").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(conn);
    let put = |status: u16| {
        format!("coffer_requests_total{{api=\"s3\",operation=\"PutObject\",status=\"{status}\"}}")
    };
    let mut m = Scrape::of(&ts).await;
    for _ in 0..100 {
        if m.get_or_zero(&put(400)) > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        m = Scrape::of(&ts).await;
    }
    assert_eq!(m.get(&put(400)), 1.0);
    assert_eq!(m.get_or_zero(&put(200)) + m.get_or_zero(&put(499)), 0.0);
    assert_eq!(
        m.get("coffer_request_errors_total{api=\"s3\",operation=\"PutObject\",code=\"IncompleteBody\"}"),
        1.0
    );
    assert_eq!(
        m.get("coffer_request_received_bytes_total{api=\"s3\",operation=\"PutObject\"}"),
        100.0
    );
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

/// The metric names a PromQL expression reads: identifiers outside label matchers,
/// ranges and grouping clauses that are not function calls, keywords or numbers.
fn promql_metric_names(expr: &str) -> Vec<String> {
    let mut s = String::new();
    // Drop label matchers `{…}` (with their quoted values) and ranges `[…]`.
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ if depth == 0 => s.push(c),
            _ => {}
        }
    }
    // Drop grouping clauses: `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`.
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(pos) = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ]
    .iter()
    .filter_map(|kw| {
        let mut from = 0;
        while let Some(i) = rest[from..].find(kw) {
            let at = from + i;
            let before_ok = at == 0
                || !rest.as_bytes()[at - 1].is_ascii_alphanumeric()
                    && rest.as_bytes()[at - 1] != b'_';
            let after = rest[at + kw.len()..].trim_start();
            if before_ok && after.starts_with('(') {
                return Some((at, kw.len()));
            }
            from = at + kw.len();
        }
        None
    })
    .min()
    {
        let (at, len) = pos;
        out.push_str(&rest[..at]);
        let after = &rest[at + len..];
        let close = after.find(')').expect("grouping clause closes");
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    let mut names = Vec::new();
    let bytes = out.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < bytes.len()
                && ((bytes[i] as char).is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b':')
            {
                i += 1;
            }
            let word = &out[start..i];
            let is_call = out[i..].trim_start().starts_with('(');
            let keyword = ["and", "or", "unless", "bool", "offset"].contains(&word);
            if !is_call && !keyword {
                names.push(word.to_string());
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number (possibly 1e9): skip it whole.
            while i < bytes.len()
                && ((bytes[i] as char).is_ascii_alphanumeric() || bytes[i] == b'.')
            {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn promql_names_are_found() {
    assert_eq!(
        promql_metric_names(
            r#"histogram_quantile(0.99, sum by (le, operation) (rate(coffer_request_duration_seconds_bucket{api="s3",instance=~"$instance"}[$__rate_interval])))"#
        ),
        ["coffer_request_duration_seconds_bucket"]
    );
    assert_eq!(
        promql_metric_names(
            r#"time() - max(coffer_lifecycle_last_success_timestamp_seconds{x="by (y)"} > 0) / on (instance) process_max_fds"#
        ),
        [
            "coffer_lifecycle_last_success_timestamp_seconds",
            "process_max_fds"
        ]
    );
}

/// docs/grafana/coffer-dashboard.json: every query reads only series a real server
/// exports (on PostgreSQL metadata also the pool's, which the embedded store lacks; the
/// PostgreSQL run of this suite checks those).
#[tokio::test]
async fn every_dashboard_query_names_an_exported_metric() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/coffer-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if k == "expr" || (k == "query" && v.is_string()) {
                        out.push(v.as_str().unwrap().to_string());
                    } else {
                        walk(v, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard, &mut exprs);
    assert!(exprs.len() >= 20, "{} queries", exprs.len());

    let ts = TestServer::start().await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    s3.create_bucket().bucket("dash").send().await.unwrap();
    let _ = s3.get_object().bucket("dash").key("missing").send().await;
    let m = Scrape::of(&ts).await;
    let exported: HashSet<&str> = m
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let known = |name: &str| {
        exported.contains(name)
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s).is_some_and(|f| exported.contains(f)))
    };
    for expr in &exprs {
        // `label_values(metric, label)`: the metric is its first argument.
        let names: Vec<String> = promql_metric_names(&expr.replace("label_values(", "("))
            .into_iter()
            .filter(|n| n != "instance")
            .collect();
        assert!(!names.is_empty(), "{expr} reads no metric");
        for name in names {
            if name.starts_with("coffer_postgres_pool_") && !coffer_server::testing::on_postgres() {
                continue;
            }
            assert!(known(&name), "{name} (in {expr}) is not exported");
        }
    }
}
