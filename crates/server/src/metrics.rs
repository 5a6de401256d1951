//! The server's `/metrics` (management listener; SPEC §1): one registry per server,
//! rendered in the Prometheus text format 0.0.4 by `prometheus-client`.
//!
//! What updates a metric owns it and registers it here: requests (both APIs), listeners,
//! the metadata and blob stores, the lifecycle worker. State that lives elsewhere (the
//! audit spool and flusher, the integrity counter, the process) is read at each scrape
//! by a collector. Nothing exported is secret (counts, sizes, ages, durations, names
//! of operations and error codes), so the endpoint needs no credentials, like `/healthz`.

use crate::audit::flush::Flusher;
use coffer_core::lifecycle::worker::LifecycleStats;
use coffer_core::metrics::{
    ListenerMetrics, Registry, RequestMetrics, const_counter as counter, const_gauge as gauge,
};
use coffer_core::objects::ObjectService;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The server's metrics, built while the server is assembled, read-only once it runs.
pub struct ServerMetrics {
    registry: Registry,
    pub requests: RequestMetrics,
    pub listeners: ListenerMetrics,
    pub lifecycle: LifecycleMetrics,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = RequestMetrics::default();
        requests.register(&mut registry);
        let listeners = ListenerMetrics::default();
        listeners.register(&mut registry);
        let lifecycle = LifecycleMetrics::default();
        lifecycle.register(&mut registry);
        registry.register(
            "coffer_build",
            "The running build: version, and whether it is an optimized build",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                (
                    "profile",
                    if cfg!(debug_assertions) {
                        "debug"
                    } else {
                        "release"
                    },
                ),
            ]),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Self {
            registry,
            requests,
            listeners,
            lifecycle,
        }
    }
}

impl ServerMetrics {
    /// Where components register their own metrics and collectors (startup only).
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Adds the audit pipeline's and the integrity counter's collectors.
    pub fn observe_state(&mut self, flusher: Arc<Flusher>, objects: Arc<ObjectService>) {
        self.registry
            .register_collector(Box::new(AuditCollector(flusher)));
        self.registry
            .register_collector(Box::new(IntegrityCollector(objects)));
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; the collectors' own reads never error.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The lifecycle worker's progress.
#[derive(Clone, Debug)]
pub struct LifecycleMetrics {
    runs: Family<OutcomeLabels, Counter>,
    actions: Family<ActionLabels, Counter>,
    duration: Histogram,
    last_success: Gauge<f64, std::sync::atomic::AtomicU64>,
}

/// The lifecycle actions, as labelled.
const LIFECYCLE_ACTIONS: [&str; 4] = [
    "expire_current",
    "expire_noncurrent",
    "remove_delete_marker",
    "abort_multipart_upload",
];

impl Default for LifecycleMetrics {
    fn default() -> Self {
        let m = Self {
            runs: Family::default(),
            actions: Family::default(),
            duration: Histogram::new([0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0]),
            last_success: Gauge::default(),
        };
        // Every series exported from the start at 0: a first error is an increase.
        for outcome in ["ok", "error"] {
            m.runs.get_or_create_owned(&OutcomeLabels { outcome });
        }
        for action in LIFECYCLE_ACTIONS {
            m.actions.get_or_create_owned(&ActionLabels { action });
        }
        m
    }
}

impl LifecycleMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "coffer_lifecycle_runs",
            "Lifecycle passes over every bucket, by outcome (ok, error)",
            self.runs.clone(),
        );
        r.register(
            "coffer_lifecycle_actions",
            "Lifecycle actions applied, by action",
            self.actions.clone(),
        );
        r.register(
            "coffer_lifecycle_run_duration_seconds",
            "Duration of lifecycle passes",
            self.duration.clone(),
        );
        r.register(
            "coffer_lifecycle_last_success_timestamp_seconds",
            "Unix time at which the last successful lifecycle pass ended (0: none yet)",
            self.last_success.clone(),
        );
    }

    /// Records one pass.
    pub fn pass(&self, took: Duration, outcome: Result<&LifecycleStats, ()>) {
        self.duration.observe(took.as_secs_f64());
        let outcome = match outcome {
            Ok(s) => {
                let counts = [
                    s.expired_current,
                    s.expired_noncurrent,
                    s.removed_markers,
                    s.aborted_uploads,
                ];
                for (action, n) in LIFECYCLE_ACTIONS.into_iter().zip(counts) {
                    self.actions
                        .get_or_create(&ActionLabels { action })
                        .inc_by(n);
                }
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
                self.last_success.set(now);
                "ok"
            }
            Err(()) => "error",
        };
        self.runs.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

/// The audit spool and flusher, read at each scrape (the names predate this module and
/// are kept: dashboards and alerts use them).
struct AuditCollector(Arc<Flusher>);

impl std::fmt::Debug for AuditCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditCollector")
    }
}

impl Collector for AuditCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let spool = self.0.spool().stats();
        let m = self.0.metrics();
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            &mut e,
            "coffer_audit_spool_events",
            "Audit events in the local spool, not yet delivered to an audit bucket",
            ld(&spool.events) as f64,
        )?;
        gauge(
            &mut e,
            "coffer_audit_spool_bytes",
            "Bytes of audit spool segment files",
            ld(&spool.bytes) as f64,
        )?;
        gauge(
            &mut e,
            "coffer_audit_oldest_unflushed_event_age_seconds",
            "Age of the oldest audit event still in the spool (0 when empty)",
            self.0.spool().oldest_age_secs(),
        )?;
        for (name, help, v) in [
            (
                "coffer_audit_events_written",
                "Audit events written to audit buckets",
                ld(&m.events_written),
            ),
            (
                "coffer_audit_objects_written",
                "Audit objects written to audit buckets",
                ld(&m.objects_written),
            ),
            (
                "coffer_audit_flush_failures",
                "Audit flushes that failed as a whole (retried)",
                ld(&m.flush_failures),
            ),
            (
                "coffer_audit_chains_carried",
                "Audit chains whose objects could not be written in a flush (events kept)",
                ld(&m.chains_carried),
            ),
            (
                "coffer_audit_spool_rejected",
                "Requests refused because the audit spool was full (policy reject)",
                ld(&spool.rejected),
            ),
            (
                "coffer_audit_spool_blocked",
                "Audit appends that waited because the spool was full (policy block)",
                ld(&spool.blocked),
            ),
        ] {
            counter(&mut e, name, help, v)?;
        }
        gauge(
            &mut e,
            "coffer_audit_last_flush_duration_seconds",
            "Duration of the most recent audit flush",
            ld(&m.last_flush_micros) as f64 / 1e6,
        )?;
        m.duration.encode(e.encode_descriptor(
            "coffer_audit_flush_duration_seconds",
            "Duration of audit flushes",
            None,
            m.duration.metric_type(),
        )?)
    }
}

/// Object reads refused for bitrot, read at each scrape.
struct IntegrityCollector(Arc<ObjectService>);

impl std::fmt::Debug for IntegrityCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntegrityCollector")
    }
}

impl Collector for IntegrityCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        counter(
            &mut e,
            "coffer_integrity_errors",
            "Object reads refused because stored bytes failed their integrity check (bitrot)",
            self.0.integrity_errors(),
        )
    }
}

/// The standard `process_*` metrics of Prometheus client libraries, from `/proc/self`
/// (absent where it cannot be read).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second().max(1) as f64;
            counter(
                &mut e,
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                (stat.utime + stat.stime) as f64 / ticks,
            )?;
            gauge(
                &mut e,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                (stat.rss * procfs::page_size()) as f64,
            )?;
            gauge(
                &mut e,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stat.vsize as f64,
            )?;
            gauge(
                &mut e,
                "process_threads",
                "Number of OS threads in the process",
                stat.num_threads as f64,
            )?;
            if let Ok(boot) = procfs::boot_time_secs() {
                gauge(
                    &mut e,
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds",
                    boot as f64 + stat.starttime as f64 / ticks,
                )?;
            }
        }
        if let Ok(n) = me.fd_count() {
            gauge(
                &mut e,
                "process_open_fds",
                "Number of open file descriptors",
                n as f64,
            )?;
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(v) = limits.max_open_files.soft_limit
        {
            gauge(
                &mut e,
                "process_max_fds",
                "Maximum number of open file descriptors",
                v as f64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_renders_build_info_and_process_metrics() {
        let m = ServerMetrics::default();
        let text = m.render();
        assert!(
            text.contains(&format!(
                "coffer_build_info{{version=\"{}\"",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}
