//! Policy-decision throughput (SPEC §3 "decisions are cheap"), one thread:
//! 1,000 org policies × 10 statements, 10,000 buckets (1,000 with bucket policies
//! compiled into the engine's cache); the mix is described in `common/mod.rs`.
//!
//! * `org_only` — [`authorize`] without a target bucket: the org layer alone.
//! * `combined` — [`authorize_bucket_record`] with the target bucket's record, as
//!   AuthCanI calls it: bucket-policy cache lookup (source text compared byte for byte),
//!   owner-org checks for foreign callers, then the bucket layer.
//! * `combined_resolved` — [`authorize`] with the bucket's compiled policy looked up
//!   beforehand: `combined` minus the policy-cache lookup.
//!
//! Each iteration answers a batch of 4,096 different queries, so criterion's `thrpt`
//! line is decisions per second. Time is the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so the figures mean "on one core" even on a shared
//! machine where the thread is preempted; `BENCH_WALL=1` measures wall time instead.
//! Per-decision latency percentiles: `benches/decisions_latency.rs`.
//!
//! Run: `cargo bench -p coffer-core --bench decisions`.

mod common;

use coffer_core::policy::{BucketTarget, authorize, authorize_bucket_record};
use common::{PolicySet, Workload};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const BATCH: usize = 4096;

/// CPU time of the measuring thread, formatted like wall time.
struct ThreadCpu {
    wall: WallTime,
}

impl Measurement for ThreadCpu {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }
    fn end(&self, i: Self::Intermediate) -> Self::Value {
        i.elapsed()
    }
    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

fn decisions<M: Measurement>(c: &mut Criterion<M>) {
    let set = PolicySet::generate(1_000);
    let engine = set.engine();
    let w = Workload::generate(&set, BATCH);
    let allowed = |combined: bool| {
        w.queries
            .iter()
            .filter(|q| {
                let ctx = &w.contexts[q.ctx];
                if combined {
                    let b = q.bucket.map(|i| &set.buckets[i]);
                    authorize_bucket_record(&engine, ctx, q.action, &q.resource, b).allowed
                } else {
                    authorize(&engine, ctx, q.action, &q.resource, None).allowed
                }
            })
            .count()
    };
    eprintln!(
        "policy set: {} policies, {} buckets ({} with a bucket policy), {} queries from {} \
         principals; allowed: org-only {}, combined {}",
        set.policies.len(),
        set.buckets.len(),
        set.buckets.iter().filter(|b| b.policy.is_some()).count(),
        w.queries.len(),
        w.contexts.len(),
        allowed(false),
        allowed(true),
    );

    let mut g = c.benchmark_group("decisions");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("org_only", |b| {
        b.iter(|| {
            for q in &w.queries {
                let ctx = &w.contexts[q.ctx];
                black_box(authorize(
                    &engine,
                    black_box(ctx),
                    black_box(q.action),
                    black_box(&q.resource),
                    None,
                ));
            }
        })
    });
    g.bench_function("combined", |b| {
        b.iter(|| {
            for q in &w.queries {
                let ctx = &w.contexts[q.ctx];
                let bucket = q.bucket.map(|i| &set.buckets[i]);
                black_box(authorize_bucket_record(
                    &engine,
                    black_box(ctx),
                    black_box(q.action),
                    black_box(&q.resource),
                    black_box(bucket),
                ));
            }
        })
    });
    // The same, with each bucket's compiled policy resolved beforehand (what the S3
    // gateway holds after reading the bucket once per request): the difference to
    // `combined` is the policy-cache lookup and its text comparison.
    let resolved: Vec<_> = set
        .buckets
        .iter()
        .map(|b| {
            engine
                .bucket_policy(&b.name, b.policy.as_deref())
                .expect("compiles")
        })
        .collect();
    g.bench_function("combined_resolved", |b| {
        b.iter(|| {
            for q in &w.queries {
                let ctx = &w.contexts[q.ctx];
                let bucket = q
                    .bucket
                    .map(|i| BucketTarget::of(&set.buckets[i], resolved[i].as_deref().into()));
                black_box(authorize(
                    &engine,
                    black_box(ctx),
                    black_box(q.action),
                    black_box(&q.resource),
                    bucket,
                ));
            }
        })
    });
    g.finish();
}

fn main() {
    if std::env::var_os("BENCH_WALL").is_some() {
        let mut c = Criterion::default().configure_from_args();
        decisions(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpu { wall: WallTime })
            .configure_from_args();
        decisions(&mut c);
        c.final_summary();
    }
}
