//! Per-decision latency percentiles (criterion reports means, not percentiles):
//! times every one of 1,000,000 decisions individually with `Instant` on one thread and
//! prints p50/p90/p99/p99.9/max for the org layer alone and for the combined
//! org + bucket decision, plus the timer's own overhead (included in every sample) and
//! the cost of compiling the policy set. Same policy set as `benches/decisions.rs`.
//!
//! Run: `cargo bench -p coffer-core --bench decisions_latency` (optionally pinned:
//! `taskset -c 1 cargo bench …`). `DECISIONS=<n>` changes the sample count,
//! `QUERIES=<n>` the number of distinct queries cycled through (default 65,536).

mod common;

use coffer_core::policy::{CompiledPolicies, authorize, authorize_bucket_record};
use common::{PolicySet, Workload};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Distinct queries cycled through by default (`QUERIES=<n>` changes it): more than fit
/// in L1/L2 with their contexts, so index and records are touched as in a busy server.
const DEFAULT_QUERIES: usize = 65_536;

fn percentiles(name: &str, mut ns: Vec<u32>) {
    ns.sort_unstable();
    let at = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)];
    let mean = ns.iter().map(|&x| u64::from(x)).sum::<u64>() as f64 / ns.len() as f64;
    println!(
        "{name:<22} n={:<8} mean={:>7.0}ns p50={:>6}ns p90={:>6}ns p99={:>6}ns \
         p99.9={:>6}ns max={:>8}ns",
        ns.len(),
        mean,
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        ns[ns.len() - 1],
    );
}

fn sample(n: usize, warm: usize, mut f: impl FnMut(usize)) -> Vec<u32> {
    // Warm-up: one pass over the queries.
    for i in 0..warm.min(n) {
        f(i);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i);
        let d = t.elapsed();
        out.push(u32::try_from(d.as_nanos()).unwrap_or(u32::MAX));
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means "skip".
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"decisions_latency".contains(a.as_str()))
    {
        return;
    }
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or(default)
    };
    let n = env("DECISIONS", 1_000_000);
    let queries = env("QUERIES", DEFAULT_QUERIES);

    let t = Instant::now();
    let set = PolicySet::generate(1_000);
    let generated = t.elapsed();
    let t = Instant::now();
    let engine = set.engine();
    let compile_all = t.elapsed();
    let w = Workload::generate(&set, queries);
    println!(
        "policy set: {} policies x {} statements, {} buckets ({} with a bucket policy); \
         {} distinct queries from {} principals; generated in {:?}",
        set.policies.len(),
        common::STATEMENTS_PER_POLICY,
        set.buckets.len(),
        set.buckets.iter().filter(|b| b.policy.is_some()).count(),
        w.queries.len(),
        w.contexts.len(),
        generated,
    );
    // (Timed after the decisions, so that its freed memory does not interleave with
    // the engine's allocations.)
    let compile_org = || {
        let t = Instant::now();
        black_box(CompiledPolicies::new(&set.policies));
        t.elapsed()
    };

    let q = |i: usize| &w.queries[i % queries];
    let timer = sample(n, queries, |i| {
        black_box(i);
    });
    percentiles("timer overhead", timer);
    let org = sample(n, queries, |i| {
        let q = q(i);
        black_box(authorize(
            &engine,
            &w.contexts[q.ctx],
            q.action,
            &q.resource,
            None,
        ));
    });
    percentiles("org-only decision", org);
    let combined = sample(n, queries, |i| {
        let q = q(i);
        let b = q.bucket.map(|b| &set.buckets[b]);
        black_box(authorize_bucket_record(
            &engine,
            &w.contexts[q.ctx],
            q.action,
            &q.resource,
            b,
        ));
    });
    percentiles("combined decision", combined);

    println!(
        "compile: both orgs + every bucket policy {compile_all:?}; the org index of {} \
         policies alone {:?}",
        set.policies.len(),
        compile_org(),
    );

    // Untimed-per-call throughput over the same queries, as a cross-check of criterion:
    // per wall-clock second and per second of this thread's CPU time.
    for (name, combined) in [("org-only", false), ("combined", true)] {
        let t = Instant::now();
        let cpu = cpu_time::ThreadTime::now();
        for i in 0..n {
            let q = q(i);
            let d = if combined {
                let b = q.bucket.map(|b| &set.buckets[b]);
                authorize_bucket_record(&engine, &w.contexts[q.ctx], q.action, &q.resource, b)
            } else {
                authorize(&engine, &w.contexts[q.ctx], q.action, &q.resource, None)
            };
            black_box(d);
        }
        let cpu = cpu.elapsed().max(Duration::from_nanos(1));
        let wall = t.elapsed().max(Duration::from_nanos(1));
        println!(
            "{name:<22} {:.2} M decisions/s of CPU time, {:.2} M/s of wall time \
             ({n} decisions, one thread)",
            n as f64 / cpu.as_secs_f64() / 1e6,
            n as f64 / wall.as_secs_f64() / 1e6,
        );
    }
}
