//! The audit pipeline's Prometheus metrics, rendered in the text exposition format
//! (0.0.4) for `GET /metrics` on the management listener (SPEC §1). Hand-written: a
//! handful of gauges and counters read from atomics need no registry.
//!
//! Nothing here is secret (counts and ages only), so the endpoint needs no credentials,
//! like `/healthz`.

use super::flush::Flusher;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The exposition text of the audit metrics.
pub fn render(flusher: &Flusher) -> String {
    let spool = flusher.spool().stats();
    let m = flusher.metrics();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).to_string();
    metric(
        "coffer_audit_spool_events",
        "gauge",
        "Audit events in the local spool, not yet delivered to an audit bucket.",
        ld(&spool.events),
    );
    metric(
        "coffer_audit_spool_bytes",
        "gauge",
        "Bytes of audit spool segment files.",
        ld(&spool.bytes),
    );
    metric(
        "coffer_audit_oldest_unflushed_event_age_seconds",
        "gauge",
        "Age of the oldest audit event still in the spool (0 when empty).",
        format!("{:.3}", flusher.spool().oldest_age_secs()),
    );
    metric(
        "coffer_audit_events_written_total",
        "counter",
        "Audit events written to audit buckets.",
        ld(&m.events_written),
    );
    metric(
        "coffer_audit_objects_written_total",
        "counter",
        "Audit objects written to audit buckets.",
        ld(&m.objects_written),
    );
    metric(
        "coffer_audit_flush_failures_total",
        "counter",
        "Audit flushes that failed as a whole (retried).",
        ld(&m.flush_failures),
    );
    metric(
        "coffer_audit_chains_carried_total",
        "counter",
        "Audit chains whose objects could not be written in a flush (events kept).",
        ld(&m.chains_carried),
    );
    metric(
        "coffer_audit_spool_rejected_total",
        "counter",
        "Requests refused because the audit spool was full (policy reject).",
        ld(&spool.rejected),
    );
    metric(
        "coffer_audit_spool_blocked_total",
        "counter",
        "Audit appends that waited because the spool was full (policy block).",
        ld(&spool.blocked),
    );
    metric(
        "coffer_audit_last_flush_duration_seconds",
        "gauge",
        "Duration of the most recent audit flush.",
        format!(
            "{:.6}",
            m.last_flush_micros.load(Ordering::Relaxed) as f64 / 1e6
        ),
    );
    let _ = writeln!(
        out,
        "# HELP coffer_audit_flush_duration_seconds Duration of audit flushes.\n\
         # TYPE coffer_audit_flush_duration_seconds summary\n\
         coffer_audit_flush_duration_seconds_sum {:.6}\n\
         coffer_audit_flush_duration_seconds_count {}",
        m.flush_micros_sum.load(Ordering::Relaxed) as f64 / 1e6,
        m.flushes.load(Ordering::Relaxed)
    );
    out
}
