//! The workloads and the driver that runs them against each target (server, ceiling) in turn.
//!
//! Runs of one case alternate between targets (server run 1, ceiling run 1, server run 2, ...) so
//! drift on a shared machine affects both sides alike.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use tokio::task::JoinSet;

use crate::client::{Endpoint, S3Client};
use crate::cpu::{self, CpuSource};
use crate::report::{Case, CpuBasis, Report, Sample, Summary};
use crate::sigv4::Signer;
use crate::sink::Sink;
use crate::units::{GIB, MIB, fmt_num, fmt_size};
use crate::{BenchArgs, Workload};

/// ListObjectsV2 page size used by the list workload.
const LIST_PAGE: u32 = 1000;
/// Upper bound on objects in the get-small key pool.
const SMALL_POOL: u64 = 1000;
/// Key prefixes this tool writes under (all removed by `--cleanup`).
const PREFIXES: [&str; 5] = ["large/", "small/", "small-get/", "list-", "multipart/"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Ceiling,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Ceiling => "ceiling",
        }
    }
}

struct Target {
    side: Side,
    client: S3Client,
    bucket: String,
    cpu: CpuSource,
    /// `large/obj-{i}` exists at the current large size for every `i` below this.
    large_ready: usize,
    small_pool_ready: bool,
}

struct Ctx<'a> {
    args: &'a BenchArgs,
    /// Random bytes, generated once; every body is a slice of it.
    payload: Bytes,
    /// Distinguishes this invocation's put-small keys from earlier ones.
    session: String,
    /// The sink's threads live in this process; their CPU is not the client's.
    sink_cpu: Option<CpuSource>,
}

/// What one timed run did.
#[derive(Default)]
struct Outcome {
    bytes: u64,
    ops: u64,
    latencies: Vec<Duration>,
}

pub async fn execute(args: &BenchArgs) -> Result<Report> {
    validate(args)?;
    let mut workloads: Vec<Workload> = Vec::new();
    for w in &args.workloads {
        if !workloads.contains(w) {
            workloads.push(*w);
        }
    }

    let mut targets = Vec::new();
    let mut server_pid = None;
    let mut pid_source = "n/a";
    if !args.ceiling_only {
        // Several comma-separated endpoints: nodes of one cluster, used round-robin.
        let endpoints = args
            .endpoint
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(Endpoint::parse)
            .collect::<Result<Vec<_>>>()?;
        let Some(endpoint) = endpoints.first().cloned() else {
            bail!("--endpoint is empty");
        };
        let (Some(ak), Some(sk)) = (&args.access_key, &args.secret_key) else {
            bail!(
                "credentials required: --access-key/--secret-key or AWS_ACCESS_KEY_ID/\
                 AWS_SECRET_ACCESS_KEY (or use --ceiling-only)"
            );
        };
        (server_pid, pid_source) = match args.server_pid {
            Some(pid) => (Some(pid), "flag"),
            None => match cpu::find_listener(endpoint.port) {
                // A server inside this process cannot be told apart from the client.
                Some(pid) if pid == std::process::id() => (None, "n/a"),
                Some(pid) => (Some(pid), "auto-detected"),
                None => (None, "n/a"),
            },
        };
        targets.push(Target {
            side: Side::Server,
            client: S3Client::with_endpoints(endpoints, Signer::new(ak, sk, &args.region)),
            bucket: args.bucket.clone(),
            cpu: server_pid.map_or(CpuSource::None, CpuSource::Pid),
            large_ready: 0,
            small_pool_ready: false,
        });
    }
    let sink = if args.ceiling || args.ceiling_only {
        let sink = Sink::start()?;
        targets.push(Target {
            side: Side::Ceiling,
            client: S3Client::new(
                Endpoint::parse(&sink.endpoint())?,
                Signer::new("ceiling", "ceiling", &args.region),
            ),
            bucket: args.bucket.clone(),
            cpu: sink.cpu_source(),
            large_ready: 0,
            small_pool_ready: false,
        });
        Some(sink)
    } else {
        None
    };

    let ctx = Ctx {
        args,
        payload: random_payload(payload_len(args, &workloads)),
        session: format!("{:08x}", rand::random::<u32>()),
        sink_cpu: sink.as_ref().map(Sink::cpu_source),
    };

    let result = run_all(&ctx, &mut targets, &workloads).await;
    if let Some(sink) = sink {
        sink.stop().await;
    }
    let cases = result?;
    Ok(Report {
        endpoint: (!args.ceiling_only).then(|| args.endpoint.clone()),
        bucket: args.bucket.clone(),
        runs: args.runs,
        clock_ticks: cpu::clock_ticks(),
        server_pid,
        server_pid_source: pid_source,
        cases,
    })
}

/// Just enough of the management API for `--audit-compare`: SetBucketSettings.
struct ManagementApi {
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        crate::body::BenchBody,
    >,
    base: String,
    authority: String,
    token: String,
}

impl ManagementApi {
    fn from_args(args: &BenchArgs) -> Result<Self> {
        let token = match &args.api_token_file {
            Some(f) => std::fs::read_to_string(f)
                .with_context(|| format!("reading {}", f.display()))?
                .trim()
                .to_owned(),
            None => std::env::var("COFFER_TOKEN").unwrap_or_default(),
        };
        ensure!(
            !token.is_empty(),
            "--audit-compare needs an API token: --api-token-file, COFFER_TOKEN_FILE or COFFER_TOKEN"
        );
        let e = Endpoint::parse(&args.api_endpoint)?;
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        Ok(Self {
            http,
            base: e.base,
            authority: e.authority,
            token,
        })
    }

    async fn set_bucket_audit(&self, bucket: &str, on: bool) -> Result<()> {
        let body = serde_json::to_vec(&serde_json::json!({
            "bucketName": bucket,
            "settings": {"auditLoggingEnabled": on}
        }))?;
        let req = hyper::Request::builder()
            .method(hyper::Method::PUT)
            .uri(format!("{}/v1/cwobject/bucket/settings", self.base))
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::CONTENT_LENGTH, body.len())
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .body(crate::body::BenchBody::full(body))?;
        let resp = self.http.request(req).await.context("SetBucketSettings")?;
        let status = resp.status();
        let text = crate::body::collect(resp.into_body(), 64 << 10).await?;
        ensure!(
            status.is_success(),
            "SetBucketSettings: HTTP {status}: {}",
            String::from_utf8_lossy(&text)
        );
        Ok(())
    }
}

fn validate(args: &BenchArgs) -> Result<()> {
    ensure!(!args.workloads.is_empty(), "--workloads is empty");
    ensure!(
        !args.streams.is_empty() && args.streams.iter().all(|&s| s > 0),
        "--streams must list positive numbers"
    );
    ensure!(args.workers > 0, "--workers must be positive");
    ensure!(
        args.part_concurrency > 0,
        "--part-concurrency must be positive"
    );
    ensure!(args.list_keys > 0, "--list-keys must be positive");
    ensure!(args.ops != Some(0), "--ops must be positive");
    for (flag, v) in [
        ("--large-size", args.large_size),
        ("--small-size", args.small_size),
        ("--part-size", args.part_size),
    ] {
        // Payloads are held in memory.
        ensure!(
            v <= 8 * GIB && usize::try_from(v).is_ok(),
            "{flag} is too large"
        );
    }
    Ok(())
}

fn payload_len(args: &BenchArgs, workloads: &[Workload]) -> usize {
    let mut len = 0u64;
    for w in workloads {
        len = len.max(match w {
            Workload::PutLarge | Workload::GetLarge => args.large_size,
            Workload::PutSmall | Workload::GetSmall => args.small_size,
            Workload::List => 0,
            Workload::Multipart => args.part_size.min(args.multipart_size),
        });
    }
    usize::try_from(len).unwrap_or(usize::MAX)
}

fn random_payload(len: usize) -> Bytes {
    let mut buf = vec![0u8; len];
    rand::rngs::SmallRng::seed_from_u64(rand::random()).fill_bytes(&mut buf);
    Bytes::from(buf)
}

async fn run_all(
    ctx: &Ctx<'_>,
    targets: &mut [Target],
    workloads: &[Workload],
) -> Result<Vec<Case>> {
    let args = ctx.args;
    for t in targets.iter() {
        t.client
            .create_bucket(&t.bucket)
            .await
            .with_context(|| format!("{}: create bucket {}", t.side.label(), t.bucket))?;
    }
    let mut cases = Vec::new();
    for &w in workloads {
        match w {
            Workload::PutLarge | Workload::GetLarge => {
                for &streams in &args.streams {
                    cases.push(run_case(ctx, targets, w, streams).await?);
                }
            }
            Workload::PutSmall | Workload::GetSmall => {
                cases.push(run_case(ctx, targets, w, args.workers).await?);
            }
            Workload::List => cases.push(run_case(ctx, targets, w, 1).await?),
            Workload::Multipart => {
                cases.push(run_case(ctx, targets, w, args.part_concurrency).await?);
            }
        }
    }
    if args.audit_compare {
        let api = ManagementApi::from_args(args)?;
        let n = targets
            .iter()
            .take_while(|t| t.side == Side::Server)
            .count();
        let server = &mut targets[..n];
        ensure!(
            !server.is_empty(),
            "--audit-compare needs the server endpoint"
        );
        let mut pair = Vec::new();
        for on in [false, true] {
            api.set_bucket_audit(&server[0].bucket, on)
                .await
                .context("--audit-compare: setting the bucket's audit logging")?;
            let mut case = run_case(ctx, server, Workload::PutSmall, args.workers).await;
            if on {
                // Leave the bucket as it was found (logging off).
                let reset = api.set_bucket_audit(&server[0].bucket, false).await;
                case = case.and_then(|c| reset.map(|()| c));
            }
            let mut case = case?;
            case.name = format!("put-small audit={}", if on { "on" } else { "off" });
            pair.push(case.server.as_ref().map_or(0.0, |s| s.median));
            cases.push(case);
        }
        if pair[0] > 0.0 {
            eprintln!(
                "audit logging on / off (put-small median): {:.1}%",
                100.0 * pair[1] / pair[0]
            );
        }
    }
    if args.sse_compare {
        sse_compare(ctx, targets, &mut cases).await?;
    }
    if args.cleanup {
        for t in targets.iter().filter(|t| t.side == Side::Server) {
            cleanup(ctx, t).await?;
        }
    }
    Ok(cases)
}

/// `--sse-compare`: put-large and get-large in the bench bucket and in a copy of it with
/// SSE-S3 as its default encryption, alternately.
async fn sse_compare(ctx: &Ctx<'_>, targets: &mut [Target], cases: &mut Vec<Case>) -> Result<()> {
    let args = ctx.args;
    let Some(plain) = targets.iter().position(|t| t.side == Side::Server) else {
        anyhow::bail!("--sse-compare needs the server endpoint");
    };
    let mut sealed = Target {
        side: Side::Server,
        client: targets[plain].client.clone(),
        bucket: format!("{}-sse", targets[plain].bucket),
        cpu: targets[plain].cpu.clone(),
        large_ready: 0,
        small_pool_ready: false,
    };
    sealed.client.create_bucket(&sealed.bucket).await?;
    sealed
        .client
        .put_bucket_encryption_aes256(&sealed.bucket)
        .await
        .context("--sse-compare: PutBucketEncryption")?;
    for w in [Workload::PutLarge, Workload::GetLarge] {
        for &streams in &args.streams {
            let mut pair = [0.0; 2];
            for (i, on) in [false, true].into_iter().enumerate() {
                let t = if on {
                    std::slice::from_mut(&mut sealed)
                } else {
                    std::slice::from_mut(&mut targets[plain])
                };
                let mut case = run_case(ctx, t, w, streams).await?;
                case.name = format!("{} sse={}", case.name, if on { "on" } else { "off" });
                pair[i] = case.server.as_ref().map_or(0.0, |s| s.median);
                cases.push(case);
            }
            if pair[0] > 0.0 {
                eprintln!(
                    "SSE-S3 on / off ({} x{streams} median): {:.1}%",
                    w.name(),
                    100.0 * pair[1] / pair[0]
                );
            }
        }
    }
    if args.cleanup {
        cleanup(ctx, &sealed).await?;
    }
    Ok(())
}

async fn run_case(
    ctx: &Ctx<'_>,
    targets: &mut [Target],
    w: Workload,
    concurrency: usize,
) -> Result<Case> {
    let args = ctx.args;
    let name = match w {
        Workload::PutLarge | Workload::GetLarge => format!("{} x{concurrency}", w.name()),
        _ => w.name().to_owned(),
    };
    let (unit, basis, object_size) = match w {
        Workload::PutLarge | Workload::GetLarge => ("MiB/s", CpuBasis::Gib, args.large_size),
        Workload::PutSmall | Workload::GetSmall => {
            ("ops/s", CpuBasis::ThousandOps, args.small_size)
        }
        Workload::List => ("keys/s", CpuBasis::ThousandKeys, 0),
        Workload::Multipart => ("MiB/s", CpuBasis::Gib, args.multipart_size),
    };

    for t in targets.iter_mut() {
        setup(ctx, t, w, concurrency)
            .await
            .with_context(|| format!("{}: {name} setup", t.side.label()))?;
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); targets.len()];
    for run in 0..args.runs {
        for (i, t) in targets.iter().enumerate() {
            let started = Instant::now();
            let cpu0 = snapshot(ctx, t);
            let outcome = run_once(ctx, t, w, concurrency, run)
                .await
                .with_context(|| format!("{}: {name} run {}", t.side.label(), run + 1))?;
            let elapsed = started.elapsed().as_secs_f64().max(1e-9);
            let cpu1 = snapshot(ctx, t);
            let value = match basis {
                CpuBasis::Gib => outcome.bytes as f64 / MIB as f64 / elapsed,
                _ => outcome.ops as f64 / elapsed,
            };
            let (p50_ms, p99_ms) = percentiles(outcome.latencies);
            let sample = Sample {
                elapsed_s: elapsed,
                bytes: outcome.bytes,
                ops: outcome.ops,
                value,
                p50_ms,
                p99_ms,
                server_cpu_s: delta(cpu0.server, cpu1.server),
                client_cpu_s: delta(cpu0.client, cpu1.client),
            };
            eprintln!(
                "[{}] {name} run {}/{}: {} {unit}",
                t.side.label(),
                run + 1,
                args.runs,
                fmt_num(value)
            );
            samples[i].push(sample);
        }
        if matches!(w, Workload::PutLarge) {
            for t in targets.iter_mut() {
                t.large_ready = t.large_ready.max(concurrency);
            }
        }
    }

    let mut server = None;
    let mut ceiling = None;
    for (t, s) in targets.iter().zip(samples) {
        let summary = Some(Summary::new(s, basis));
        match t.side {
            Side::Server => server = summary,
            Side::Ceiling => ceiling = summary,
        }
    }
    let ratio = match (&server, &ceiling) {
        (Some(s), Some(c)) if c.median > 0.0 => Some(s.median / c.median),
        _ => None,
    };
    let size_label = match w {
        Workload::List => format!("{} keys", args.list_keys),
        Workload::Multipart => format!(
            "{} in {} parts",
            fmt_size(args.multipart_size),
            fmt_size(args.part_size)
        ),
        _ => fmt_size(object_size),
    };
    Ok(Case {
        workload: w,
        name,
        object_size,
        size_label,
        concurrency,
        unit,
        cpu_basis: basis,
        cpu_unit: basis.unit(),
        server,
        ceiling,
        ratio,
    })
}

struct CpuSnapshot {
    server: Option<f64>,
    client: Option<f64>,
}

fn snapshot(ctx: &Ctx<'_>, t: &Target) -> CpuSnapshot {
    let own = cpu::self_seconds();
    let sink = ctx.sink_cpu.as_ref().map(CpuSource::seconds);
    let client = match sink {
        Some(sink) => own.zip(sink).map(|(o, s)| o - s),
        None => own,
    };
    CpuSnapshot {
        server: t.cpu.seconds(),
        client,
    }
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).map(|(a, b)| (b - a).max(0.0))
}

/// Nearest-rank p50 and p99 in milliseconds.
fn percentiles(mut lat: Vec<Duration>) -> (Option<f64>, Option<f64>) {
    if lat.is_empty() {
        return (None, None);
    }
    lat.sort_unstable();
    let at = |p: f64| {
        let rank = ((p / 100.0) * lat.len() as f64).ceil() as usize;
        lat[rank.clamp(1, lat.len()) - 1].as_secs_f64() * 1000.0
    };
    (Some(at(50.0)), Some(at(99.0)))
}

fn large_key(i: usize) -> String {
    format!("large/obj-{i}")
}

fn small_pool_key(i: u64) -> String {
    format!("small-get/{i:05}")
}

fn small_pool_len(args: &BenchArgs) -> u64 {
    args.ops.unwrap_or(SMALL_POOL).min(SMALL_POOL)
}

fn list_prefix(args: &BenchArgs) -> String {
    format!("list-{}/", args.list_keys)
}

/// Untimed preparation so a case's runs find what they read.
async fn setup(ctx: &Ctx<'_>, t: &mut Target, w: Workload, concurrency: usize) -> Result<()> {
    let args = ctx.args;
    match w {
        Workload::GetLarge if t.large_ready < concurrency => {
            let data = ctx.payload.slice(..args.large_size as usize);
            let (client, bucket) = (t.client.clone(), t.bucket.clone());
            let first = t.large_ready as u64;
            let n = (concurrency - t.large_ready) as u64;
            closed_loop(concurrency, Limit::Ops(n), move |_, i| {
                let (client, bucket, data) = (client.clone(), bucket.clone(), data.clone());
                async move {
                    client
                        .put_object(&bucket, &large_key((first + i) as usize), data)
                        .await
                        .map(drop)
                }
            })
            .await?;
            t.large_ready = concurrency;
        }
        Workload::GetSmall if !t.small_pool_ready => {
            let data = ctx.payload.slice(..args.small_size as usize);
            let (client, bucket) = (t.client.clone(), t.bucket.clone());
            closed_loop(
                args.workers,
                Limit::Ops(small_pool_len(args)),
                move |_, i| {
                    let (client, bucket, data) = (client.clone(), bucket.clone(), data.clone());
                    async move {
                        client
                            .put_object(&bucket, &small_pool_key(i), data)
                            .await
                            .map(drop)
                    }
                },
            )
            .await?;
            t.small_pool_ready = true;
        }
        Workload::List => {
            let prefix = list_prefix(args);
            let have = t.client.count_keys(&t.bucket, &prefix, LIST_PAGE).await?;
            if have != args.list_keys {
                eprintln!(
                    "[{}] creating {} keys under {prefix}",
                    t.side.label(),
                    args.list_keys
                );
                let (client, bucket) = (t.client.clone(), t.bucket.clone());
                let p = prefix.clone();
                closed_loop(args.workers, Limit::Ops(args.list_keys), move |_, i| {
                    let (client, bucket) = (client.clone(), bucket.clone());
                    let key = format!("{p}{i:07}");
                    async move {
                        client
                            .put_object(&bucket, &key, Bytes::new())
                            .await
                            .map(drop)
                    }
                })
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn run_once(
    ctx: &Ctx<'_>,
    t: &Target,
    w: Workload,
    concurrency: usize,
    run: u32,
) -> Result<Outcome> {
    let args = ctx.args;
    let (client, bucket) = (t.client.clone(), t.bucket.clone());
    match w {
        // Each stream rewrites its own key so server disk use stays bounded by `streams` objects.
        Workload::PutLarge => {
            let data = ctx.payload.slice(..args.large_size as usize);
            let latencies = closed_loop(concurrency, timed(args), move |stream, _| {
                let (client, bucket, data) = (client.clone(), bucket.clone(), data.clone());
                async move {
                    client
                        .put_object(&bucket, &large_key(stream), data)
                        .await
                        .map(drop)
                }
            })
            .await?;
            Ok(Outcome {
                bytes: latencies.len() as u64 * args.large_size,
                ops: latencies.len() as u64,
                latencies,
            })
        }
        Workload::GetLarge => {
            let size = args.large_size;
            let latencies = closed_loop(concurrency, timed(args), move |stream, _| {
                let (client, bucket) = (client.clone(), bucket.clone());
                async move {
                    let n = client.get_object(&bucket, &large_key(stream)).await?;
                    ensure!(n == size, "GetObject returned {n} bytes, expected {size}");
                    Ok(())
                }
            })
            .await?;
            Ok(Outcome {
                bytes: latencies.len() as u64 * size,
                ops: latencies.len() as u64,
                latencies,
            })
        }
        Workload::PutSmall => {
            let data = ctx.payload.slice(..args.small_size as usize);
            let prefix = format!("small/{}-{run}/", ctx.session);
            let latencies = closed_loop(concurrency, small_limit(args), move |_, i| {
                let (client, bucket, data) = (client.clone(), bucket.clone(), data.clone());
                let key = format!("{prefix}{i:08}");
                async move { client.put_object(&bucket, &key, data).await.map(drop) }
            })
            .await?;
            Ok(Outcome {
                bytes: latencies.len() as u64 * args.small_size,
                ops: latencies.len() as u64,
                latencies,
            })
        }
        Workload::GetSmall => {
            let pool = small_pool_len(args);
            let size = args.small_size;
            let latencies = closed_loop(concurrency, small_limit(args), move |_, i| {
                let (client, bucket) = (client.clone(), bucket.clone());
                async move {
                    let n = client
                        .get_object(&bucket, &small_pool_key(i % pool))
                        .await?;
                    ensure!(n == size, "GetObject returned {n} bytes, expected {size}");
                    Ok(())
                }
            })
            .await?;
            Ok(Outcome {
                bytes: latencies.len() as u64 * size,
                ops: latencies.len() as u64,
                latencies,
            })
        }
        Workload::List => {
            let (prefix, expected) = (list_prefix(args), args.list_keys);
            let latencies = closed_loop(1, timed(args), move |_, _| {
                let (client, bucket, prefix) = (client.clone(), bucket.clone(), prefix.clone());
                async move {
                    let n = client.count_keys(&bucket, &prefix, LIST_PAGE).await?;
                    ensure!(n == expected, "listing found {n} keys, expected {expected}");
                    Ok(())
                }
            })
            .await?;
            Ok(Outcome {
                bytes: 0,
                ops: latencies.len() as u64 * expected,
                latencies,
            })
        }
        Workload::Multipart => multipart(ctx, &client, &bucket, concurrency).await,
    }
}

fn small_limit(args: &BenchArgs) -> Limit {
    match args.ops {
        Some(n) => Limit::Ops(n),
        None => timed(args),
    }
}

/// Runs shorter than this machine's CPU accounting granularity (10 ms ticks) or a scheduler
/// hiccup say little, so every workload but multipart repeats whole requests for `--duration`.
fn timed(args: &BenchArgs) -> Limit {
    Limit::Until(Instant::now() + args.duration)
}

async fn multipart(
    ctx: &Ctx<'_>,
    client: &S3Client,
    bucket: &str,
    concurrency: usize,
) -> Result<Outcome> {
    let (size, part) = (ctx.args.multipart_size, ctx.args.part_size);
    let key = "multipart/obj";
    let parts = size.div_ceil(part);
    ensure!(
        parts <= 10_000,
        "multipart upload would need {parts} parts (max 10,000)"
    );
    let upload_id = client.create_multipart(bucket, key).await?;

    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..concurrency.min(parts as usize) {
        let (client, bucket, id) = (client.clone(), bucket.to_owned(), upload_id.clone());
        let (next, payload) = (next.clone(), ctx.payload.clone());
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= parts {
                    return Ok(done);
                }
                let len = part.min(size - i * part) as usize;
                let number = u32::try_from(i + 1).expect("≤ 10,000 parts");
                let etag = client
                    .upload_part(&bucket, key, &id, number, payload.slice(..len))
                    .await?;
                done.push((number, etag));
            }
        });
    }
    let uploaded = join_all(set).await;
    let completed = match uploaded {
        Ok(lists) => {
            let mut etags: Vec<(u32, String)> = lists.into_iter().flatten().collect();
            etags.sort_by_key(|(n, _)| *n);
            client
                .complete_multipart(bucket, key, &upload_id, &etags)
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = completed {
        let _ = client.abort_multipart(bucket, key, &upload_id).await;
        return Err(e);
    }
    Ok(Outcome {
        bytes: size,
        ops: parts + 2,
        latencies: Vec::new(),
    })
}

#[derive(Clone, Copy)]
enum Limit {
    /// Stop after this many operations in total.
    Ops(u64),
    /// Stop starting operations at this instant (operations in flight complete and count).
    Until(Instant),
}

/// Runs `op(worker, i)` for i = 0, 1, 2, ... on `workers` concurrent tasks until `limit`; each
/// index is claimed exactly once. Returns every operation's latency.
async fn closed_loop<F, Fut>(workers: usize, limit: Limit, op: F) -> Result<Vec<Duration>>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let workers = match limit {
        Limit::Ops(n) => workers.min(usize::try_from(n).unwrap_or(usize::MAX)),
        Limit::Until(_) => workers,
    };
    let mut set = JoinSet::new();
    for worker in 0..workers {
        let (next, op) = (next.clone(), op.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = match limit {
                    Limit::Ops(n) => {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        i
                    }
                    Limit::Until(deadline) => {
                        if Instant::now() >= deadline {
                            break;
                        }
                        next.fetch_add(1, Ordering::Relaxed)
                    }
                };
                let started = Instant::now();
                op(worker, i).await?;
                lat.push(started.elapsed());
            }
            Ok(lat)
        });
    }
    Ok(join_all(set).await?.into_iter().flatten().collect())
}

/// Waits for every task; the first failure aborts the rest (dropping the set aborts them).
async fn join_all<T: Send + 'static>(mut set: JoinSet<Result<T>>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        out.push(joined.context("benchmark task failed to complete")??);
    }
    Ok(out)
}

async fn cleanup(ctx: &Ctx<'_>, t: &Target) -> Result<()> {
    for prefix in PREFIXES {
        let keys = Arc::new(t.client.list_keys(&t.bucket, prefix).await?);
        if keys.is_empty() {
            continue;
        }
        eprintln!(
            "[{}] deleting {} objects under {prefix}",
            t.side.label(),
            keys.len()
        );
        let (client, bucket) = (t.client.clone(), t.bucket.clone());
        let n = keys.len() as u64;
        closed_loop(ctx.args.workers, Limit::Ops(n), move |_, i| {
            let (client, bucket, keys) = (client.clone(), bucket.clone(), keys.clone());
            async move { client.delete_object(&bucket, &keys[i as usize]).await }
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::median;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    /// Server mode plus ceiling, with a second sink standing in for the server.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_and_ceiling_side_by_side() {
        let server = Sink::start().unwrap();
        let endpoint = server.endpoint();
        let args = Cli::try_parse_from([
            "bench",
            "--endpoint",
            &endpoint,
            "--access-key",
            "ak",
            "--secret-key",
            "sk",
            "--ceiling",
            "--cleanup",
            "--runs",
            "1",
            "--workloads",
            "put-large,list,multipart",
            "--streams",
            "2",
            "--large-size",
            "256KiB",
            "--duration",
            "20ms",
            "--list-keys",
            "1500",
            "--multipart-size",
            "3MiB",
            "--part-size",
            "1MiB",
        ])
        .unwrap()
        .args;
        let report = execute(&args).await.unwrap();
        // The stand-in server lives in this process, so its CPU is not attributable.
        assert_eq!((report.server_pid, report.server_pid_source), (None, "n/a"));
        assert_eq!(report.cases.len(), 3);
        for c in &report.cases {
            let (s, ce) = (c.server.as_ref().unwrap(), c.ceiling.as_ref().unwrap());
            assert!(s.median > 0.0 && ce.median > 0.0, "{}", c.name);
            assert!(s.server_cpu.is_none() && ce.server_cpu.is_some());
            assert!(c.ratio.unwrap() > 0.0);
        }
        let table = report.render();
        assert!(
            table.contains("ratio") && table.contains("server CPU: n/a"),
            "{table}"
        );

        // --cleanup removed every object the run created on the server.
        let client = S3Client::new(
            Endpoint::parse(&endpoint).unwrap(),
            Signer::new("ak", "sk", "us-east-1"),
        );
        for prefix in PREFIXES {
            assert_eq!(
                client
                    .count_keys("coffer-bench", prefix, 1000)
                    .await
                    .unwrap(),
                0
            );
        }
        server.stop().await;
    }

    #[test]
    fn nearest_rank_percentiles() {
        let lat: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentiles(lat), (Some(50.0), Some(99.0)));
        assert_eq!(
            percentiles(vec![Duration::from_millis(7)]),
            (Some(7.0), Some(7.0))
        );
        assert_eq!(percentiles(Vec::new()), (None, None));
        assert_eq!(median(&[1.0]), Some(1.0));
    }
}
