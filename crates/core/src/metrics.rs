//! Prometheus metrics (SPEC §1 `/metrics`), through `prometheus-client`.
//!
//! Every server owns one [`Registry`]; each component owns the metrics it updates and
//! registers them there (`register`). No process-global state: tests run several
//! servers in one process, and each must export its own series.
//!
//! Label values come from fixed sets only (API, operation name, HTTP status, error
//! code, backend): never a bucket, key, principal or anything else a client chooses,
//! so the number of series stays bounded whatever the traffic.

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::registry::Registry;
use std::time::Duration;

/// Upper bounds (seconds) of request latency buckets: 1 ms to 60 s.
const REQUEST_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];
/// Upper bounds (seconds) of storage latency buckets (transactions, fsync): 100 µs to 10 s.
const STORAGE_BUCKETS: [f64; 13] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0, 10.0,
];

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

fn storage_histogram() -> Histogram {
    Histogram::new(STORAGE_BUCKETS)
}

/// Writes one unlabelled gauge with the value `v` (collectors reading state at scrape time).
pub fn const_gauge<N: EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: N,
) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// Writes one unlabelled counter with the value `v` (`name` without `_total`).
pub fn const_counter<N: EncodeCounterValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: N,
) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

/// The API a request was served by.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Api {
    S3,
    Management,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::S3 => "s3",
            Api::Management => "management",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: &'static str,
    operation: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    api: &'static str,
    operation: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    api: &'static str,
    operation: String,
}

/// One answered request, as the API's choke point saw it.
#[derive(Debug)]
pub struct Served<'a> {
    pub api: Api,
    /// The operation's name from the API's fixed set (`GetObject`, `CreateAccessKey`);
    /// `Unknown` when the request never reached one.
    pub operation: &'a str,
    pub status: u16,
    /// The API's error code (`NoSuchKey`, `permission_denied`), when it answered one.
    pub error_code: Option<&'a str>,
    pub bytes_in: u64,
    /// Bytes of the response body as announced (`Content-Length`).
    pub bytes_out: u64,
    /// Until the response head was ready (a streamed body may take longer).
    pub elapsed: Duration,
}

/// Requests of both APIs: counts by operation and status, error codes, latency, bytes.
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    bytes_in: Family<OperationLabels, Counter>,
    bytes_out: Family<OperationLabels, Counter>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(request_histogram),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
        }
    }
}

/// Longest operation or error-code label value kept; longer ones are cut (they are
/// server-chosen names, so this only guards against a bug turning into huge series).
const MAX_LABEL: usize = 64;

fn label(v: &str) -> String {
    let mut end = v.len().min(MAX_LABEL);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_string()
}

impl RequestMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "coffer_requests",
            "Requests answered, by API, operation and HTTP status",
            self.requests.clone(),
        );
        r.register(
            "coffer_request_errors",
            "Error responses, by API, operation and error code",
            self.errors.clone(),
        );
        r.register(
            "coffer_request_duration_seconds",
            "Time from a request's arrival until its response head, by API and operation",
            self.duration.clone(),
        );
        r.register(
            "coffer_request_received_bytes",
            "Request body bytes received (as announced), by API and operation",
            self.bytes_in.clone(),
        );
        r.register(
            "coffer_response_sent_bytes",
            "Response body bytes sent (as announced), by API and operation",
            self.bytes_out.clone(),
        );
    }

    pub fn observe(&self, s: &Served<'_>) {
        let api = s.api.as_str();
        let operation = label(s.operation);
        let op = OperationLabels {
            api,
            operation: operation.clone(),
        };
        self.duration
            .get_or_create(&op)
            .observe(s.elapsed.as_secs_f64());
        if s.bytes_in > 0 {
            self.bytes_in.get_or_create(&op).inc_by(s.bytes_in);
        }
        if s.bytes_out > 0 {
            self.bytes_out.get_or_create(&op).inc_by(s.bytes_out);
        }
        if let Some(code) = s.error_code {
            self.errors
                .get_or_create(&ErrorLabels {
                    api,
                    operation: operation.clone(),
                    code: label(code),
                })
                .inc();
        }
        self.requests
            .get_or_create(&RequestLabels {
                api,
                operation,
                status: s.status,
            })
            .inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

/// Connections and requests of the listeners: what is open, running, waiting and shed.
#[derive(Clone, Debug, Default)]
pub struct ListenerMetrics {
    connections: Family<ListenerLabels, Gauge>,
    refused: Family<ListenerLabels, Counter>,
    in_flight: Family<ListenerLabels, Gauge>,
    queued: Family<ListenerLabels, Gauge>,
}

/// Holds one unit of a listener gauge until dropped.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn hold(g: Gauge) -> Self {
        g.inc();
        Self(g)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ListenerMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "coffer_connections_open",
            "Open client connections, by listener",
            self.connections.clone(),
        );
        r.register(
            "coffer_connections_refused",
            "Connections answered 503 or closed at once because the listener was at its \
             connection limit (shed load)",
            self.refused.clone(),
        );
        r.register(
            "coffer_requests_in_flight",
            "Requests being served, by listener",
            self.in_flight.clone(),
        );
        r.register(
            "coffer_requests_queued",
            "Requests waiting for the shared in-flight bound, by listener",
            self.queued.clone(),
        );
    }

    /// The series of one listener, resolved once (the accept loop holds them).
    pub fn listener(&self, listener: &'static str) -> Listener {
        let l = ListenerLabels { listener };
        Listener {
            connections: self.connections.get_or_create_owned(&l),
            refused: self.refused.get_or_create_owned(&l),
            in_flight: self.in_flight.get_or_create_owned(&l),
            queued: self.queued.get_or_create_owned(&l),
        }
    }
}

/// One listener's series (see [`ListenerMetrics`]).
#[derive(Clone, Debug)]
pub struct Listener {
    connections: Gauge,
    refused: Counter,
    in_flight: Gauge,
    queued: Gauge,
}

impl Listener {
    pub fn connection(&self) -> GaugeGuard {
        GaugeGuard::hold(self.connections.clone())
    }

    pub fn in_flight(&self) -> GaugeGuard {
        GaugeGuard::hold(self.in_flight.clone())
    }

    pub fn queued(&self) -> GaugeGuard {
        GaugeGuard::hold(self.queued.clone())
    }

    pub fn refused(&self) {
        self.refused.inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

/// The metadata store's transactions: latency (retries included) and retries.
#[derive(Clone, Debug)]
pub struct MetaMetrics {
    backend: &'static str,
    duration: Family<BackendLabels, Histogram, fn() -> Histogram>,
    retries: Family<BackendLabels, Counter>,
    failures: Family<BackendLabels, Counter>,
}

impl MetaMetrics {
    /// `backend`: `sqlite` or `postgres`.
    pub fn new(backend: &'static str) -> Self {
        let m = Self {
            backend,
            duration: Family::new_with_constructor(storage_histogram),
            retries: Family::default(),
            failures: Family::default(),
        };
        // Exported from the start at 0, so the first retry or failure is an increase.
        let l = m.labels();
        m.retries.get_or_create_owned(&l);
        m.failures.get_or_create_owned(&l);
        m
    }

    pub fn register(&self, r: &mut Registry) {
        r.register(
            "coffer_store_transaction_duration_seconds",
            "Metadata store transactions from begin to commit, retries included \
             (PostgreSQL: each write and snapshot read; SQLite: each group commit)",
            self.duration.clone(),
        );
        r.register(
            "coffer_store_transaction_retries",
            "Metadata transactions run again after a serialization failure or deadlock",
            self.retries.clone(),
        );
        r.register(
            "coffer_store_transaction_failures",
            "Metadata transactions that failed on a database error (not a refusal)",
            self.failures.clone(),
        );
    }

    fn labels(&self) -> BackendLabels {
        BackendLabels {
            backend: self.backend,
        }
    }

    pub fn transaction(&self, elapsed: Duration) {
        self.duration
            .get_or_create(&self.labels())
            .observe(elapsed.as_secs_f64());
    }

    pub fn retry(&self) {
        self.retries.get_or_create(&self.labels()).inc();
    }

    pub fn failure(&self) {
        self.failures.get_or_create(&self.labels()).inc();
    }
}

/// The blob store's durability cost: `fsync`/`fdatasync` latency.
#[derive(Clone, Debug)]
pub struct BlobMetrics {
    fsync: Histogram,
}

impl Default for BlobMetrics {
    fn default() -> Self {
        Self {
            fsync: storage_histogram(),
        }
    }
}

impl BlobMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "coffer_blob_fsync_duration_seconds",
            "Blob file and directory fsync/fdatasync calls",
            self.fsync.clone(),
        );
    }

    /// Runs `f` (one sync call) and records how long it took.
    pub fn fsync<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = f();
        self.fsync.observe(started.elapsed().as_secs_f64());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Registry) -> String {
        let mut s = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut s, r).unwrap();
        s
    }

    #[test]
    fn requests_are_counted_by_operation_status_and_code() {
        let m = RequestMetrics::default();
        let mut r = Registry::default();
        m.register(&mut r);
        for status in [200, 200, 404] {
            m.observe(&Served {
                api: Api::S3,
                operation: "GetObject",
                status,
                error_code: (status == 404).then_some("NoSuchKey"),
                bytes_in: 0,
                bytes_out: 10,
                elapsed: Duration::from_millis(3),
            });
        }
        let t = text(&r);
        assert!(
            t.contains(r#"coffer_requests_total{api="s3",operation="GetObject",status="200"} 2"#)
        );
        assert!(t.contains(
            r#"coffer_request_errors_total{api="s3",operation="GetObject",code="NoSuchKey"} 1"#
        ));
        assert!(
            t.contains(r#"coffer_response_sent_bytes_total{api="s3",operation="GetObject"} 30"#)
        );
        assert!(t.contains(
            r#"coffer_request_duration_seconds_bucket{api="s3",operation="GetObject",le="0.005"} 3"#
        ));
    }

    #[test]
    fn label_values_are_cut_at_a_char_boundary() {
        let long = "é".repeat(40);
        let l = label(&long);
        assert!(l.len() <= MAX_LABEL && long.starts_with(&l));
    }

    #[test]
    fn gauge_guards_give_back_what_they_hold() {
        let m = ListenerMetrics::default().listener("s3");
        let g = m.in_flight();
        let h = m.in_flight();
        assert_eq!(m.in_flight.get(), 2);
        drop((g, h));
        assert_eq!(m.in_flight.get(), 0);
    }
}
