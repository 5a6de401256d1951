//! `coffer attack`: hostile clients against a running server while a well-behaved 4 KiB
//! GET loop runs, one attack at a time. For each phase it reports the GET loop's
//! p50/p99/max latency and errors, what the attack saw (connections opened, closed by
//! the server, answers by status) and the server's peak RSS (VmRSS sampled every
//! 100 ms, VmHWM) and open file descriptors, read from /proc/<pid>. The `baseline` phase
//! runs the same GET loop without an attack.
//!
//! Every attack goes to the given endpoints only (meant for 127.0.0.1) and stops by
//! itself after `--duration`.

use crate::client::{Endpoint, S3Client};
use crate::sigv4::{self, Signer, UNSIGNED_PAYLOAD};
use crate::units;
use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Flags of `coffer attack`.
#[derive(Debug, Clone, clap::Args)]
pub struct AttackArgs {
    /// S3 endpoint (http only).
    #[arg(
        long,
        env = "COFFER_BENCH_ENDPOINT",
        default_value = "http://127.0.0.1:9000"
    )]
    pub endpoint: String,
    /// Management API endpoint (http only), target of the oversized-body attack's JSON
    /// bodies.
    #[arg(long, env = "COFFER_ENDPOINT", default_value = "http://127.0.0.1:9001")]
    pub api_endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Bucket of the GET loop's object; created if missing.
    #[arg(long, default_value = "coffer-attack")]
    pub bucket: String,
    /// Phases, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "baseline,slowloris-headers,slowloris-body,oversized-headers,oversized-body,idle-connections,malformed"
    )]
    pub attacks: Vec<Attack>,
    /// Length of each phase.
    #[arg(long, default_value = "10s", value_parser = units::parse_duration)]
    pub duration: Duration,
    /// Attacking connections of the slowloris attacks.
    #[arg(long, default_value_t = 200)]
    pub connections: usize,
    /// Connections held open by the idle-connections attack.
    #[arg(long, default_value_t = 10_000)]
    pub idle_connections: usize,
    /// Concurrent flooders of the oversized and malformed attacks.
    #[arg(long, default_value_t = 16)]
    pub flooders: usize,
    /// Concurrent workers of the well-behaved GET loop.
    #[arg(long, default_value_t = 4)]
    pub get_workers: usize,
    /// File holding a management API token: the oversized-body attack's JSON bodies are
    /// then authenticated and reach the body limit (without it they are refused 401
    /// before the body is read).
    #[arg(long, env = "COFFER_TOKEN_FILE")]
    pub api_token_file: Option<std::path::PathBuf>,
    /// Server process to sample; found from the endpoint's port if omitted.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// One attack phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attack {
    Baseline,
    SlowlorisHeaders,
    SlowlorisBody,
    OversizedHeaders,
    OversizedBody,
    IdleConnections,
    Malformed,
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Attack::Baseline => "baseline",
            Attack::SlowlorisHeaders => "slowloris-headers",
            Attack::SlowlorisBody => "slowloris-body",
            Attack::OversizedHeaders => "oversized-headers",
            Attack::OversizedBody => "oversized-body",
            Attack::IdleConnections => "idle-connections",
            Attack::Malformed => "malformed",
        }
    }
}

/// What one attack saw.
#[derive(Default)]
struct Seen {
    opened: AtomicU64,
    closed_by_server: AtomicU64,
    answers: counter::Counter,
}

/// A tiny status counter (std Mutex; contention is negligible at these rates).
mod counter {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    #[derive(Default)]
    pub struct Counter(Mutex<BTreeMap<String, u64>>);
    impl Counter {
        pub fn add(&self, k: &str) {
            *self
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(k.to_string())
                .or_default() += 1;
        }
        pub fn snapshot(&self) -> BTreeMap<String, u64> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }
}

/// One phase's figures.
pub struct PhaseReport {
    pub attack: &'static str,
    pub gets_ok: u64,
    pub get_errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub opened: u64,
    pub closed_by_server: u64,
    pub answers: BTreeMap<String, u64>,
    pub peak_rss_mib: f64,
    pub hwm_mib: f64,
    pub peak_fds: u64,
}

struct Ctx {
    s3: Endpoint,
    api: Endpoint,
    signer: Signer,
    bucket: String,
    args: AttackArgs,
    /// `Authorization: Bearer …\r\n`, or empty.
    api_auth: String,
}

impl Ctx {
    /// The head of a signed PUT of `len` unsigned-payload bytes.
    fn signed_put_head(&self, key: &str, len: u64) -> String {
        let path = format!("/{}/{key}", sigv4::uri_encode(&self.bucket, false));
        let date = sigv4::amz_date_now();
        let host = &self.s3.authority;
        let auth = self.signer.authorization(
            "PUT",
            &path,
            "",
            &[
                ("host", host),
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
                ("x-amz-date", &date),
            ],
            UNSIGNED_PAYLOAD,
            &date,
        );
        format!(
            "PUT {path} HTTP/1.1\r\nHost: {host}\r\nx-amz-content-sha256: {UNSIGNED_PAYLOAD}\r\n\
             x-amz-date: {date}\r\nAuthorization: {auth}\r\nContent-Length: {len}\r\n\r\n"
        )
    }
}

/// Runs every phase and prints the table.
pub async fn run(args: AttackArgs) -> Result<()> {
    let reports = execute(args).await?;
    print!("{}", render(&reports));
    Ok(())
}

pub fn render(reports: &[PhaseReport]) -> String {
    let mut out = String::from(
        "| phase | GETs ok | GET errors | p50 ms | p99 ms | max ms | attack conns | closed by server | attack answers | server peak RSS MiB | VmHWM MiB | peak fds |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let answers = r
            .answers
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.0} | {:.0} | {} |\n",
            r.attack,
            r.gets_ok,
            r.get_errors,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.opened,
            r.closed_by_server,
            if answers.is_empty() {
                "-".into()
            } else {
                answers
            },
            r.peak_rss_mib,
            r.hwm_mib,
            r.peak_fds,
        ));
    }
    out
}

pub async fn execute(args: AttackArgs) -> Result<Vec<PhaseReport>> {
    let s3 = Endpoint::parse(&args.endpoint)?;
    let api = Endpoint::parse(&args.api_endpoint)?;
    let pid = match args.server_pid {
        Some(p) => p,
        None => crate::cpu::find_listener(s3.port)
            .context("server process not found; pass --server-pid")?,
    };
    if pid == std::process::id() {
        bail!("the server must be another process");
    }
    let signer = Signer::new(&args.access_key, &args.secret_key, &args.region);
    let client = S3Client::new(s3.clone(), signer.clone());
    client.create_bucket(&args.bucket).await?;
    client
        .put_object(&args.bucket, "get-4k", Bytes::from(vec![0x5a; 4096]))
        .await?;
    let api_auth = match &args.api_token_file {
        Some(p) => format!(
            "Authorization: Bearer {}\r\n",
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))?
                .trim()
        ),
        None => String::new(),
    };
    let ctx = Arc::new(Ctx {
        api_auth,
        s3,
        api,
        signer,
        bucket: args.bucket.clone(),
        args: args.clone(),
    });
    let mut reports = Vec::new();
    for &attack in &args.attacks {
        eprintln!("phase {} ({:?})", attack.name(), args.duration);
        reports.push(phase(&ctx, &client, attack, pid).await);
        // Let the server shed the attack's connections before the next phase.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(reports)
}

async fn phase(ctx: &Arc<Ctx>, client: &S3Client, attack: Attack, pid: u32) -> PhaseReport {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut rss, mut fds) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                rss = rss.max(proc_status_kib(pid, "VmRSS:"));
                fds = fds.max(open_fds(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (rss, fds)
        })
    };
    let attacker = tokio::spawn(run_attack(ctx.clone(), attack, stop.clone(), seen.clone()));
    // Give the attack a head start so the GET loop runs under it.
    if attack != Attack::Baseline {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let deadline = Instant::now() + ctx.args.duration;
    let mut workers = Vec::new();
    for _ in 0..ctx.args.get_workers.max(1) {
        let client = client.clone();
        let bucket = ctx.bucket.clone();
        workers.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                match tokio::time::timeout(
                    Duration::from_secs(30),
                    client.get_object(&bucket, "get-4k"),
                )
                .await
                {
                    Ok(Ok(4096)) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for w in workers {
        if let Ok((l, e)) = w.await {
            lat.extend(l);
            errors += e;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(15), attacker).await;
    let (rss, fds) = sampler.await.unwrap_or((0, 0));
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if lat.is_empty() {
            f64::NAN
        } else {
            lat[((lat.len() - 1) as f64 * p).round() as usize]
        }
    };
    PhaseReport {
        attack: attack.name(),
        gets_ok: lat.len() as u64,
        get_errors: errors,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        opened: seen.opened.load(Ordering::Relaxed),
        closed_by_server: seen.closed_by_server.load(Ordering::Relaxed),
        answers: seen.answers.snapshot(),
        peak_rss_mib: rss as f64 / 1024.0,
        hwm_mib: proc_status_kib(pid, "VmHWM:") as f64 / 1024.0,
        peak_fds: fds,
    }
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    crate::cpu::status_kib(pid, field).unwrap_or(0)
}

fn open_fds(pid: u32) -> u64 {
    crate::cpu::open_fds(pid).unwrap_or(0)
}

/// The status code of an HTTP/1.1 answer, or what happened instead.
fn classify(resp: &[u8]) -> String {
    if resp.is_empty() {
        return "close".into();
    }
    std::str::from_utf8(resp.get(..12).unwrap_or(resp))
        .ok()
        .and_then(|t| t.strip_prefix("HTTP/1.1 "))
        .and_then(|t| t.get(..3))
        .map_or_else(|| "garbage".into(), str::to_string)
}

/// Reads until the server closes, `limit` passes or `stop` is set; returns what was
/// read and whether the server closed.
async fn read_until_close(
    s: &mut TcpStream,
    limit: Duration,
    stop: &AtomicBool,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + limit;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(250), s.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => {
                if out.len() < 64 * 1024 {
                    out.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
    (out, false)
}

/// Sends `head` then `tick` every `every` until the server closes or `stop`.
async fn trickle(
    ctx: &Ctx,
    head: String,
    tick: &'static [u8],
    every: Duration,
    stop: &AtomicBool,
    seen: &Seen,
) {
    let Ok(mut s) = TcpStream::connect(&ctx.s3.authority).await else {
        seen.answers.add("connect-error");
        tokio::time::sleep(Duration::from_millis(100)).await;
        return;
    };
    seen.opened.fetch_add(1, Ordering::Relaxed);
    if s.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    seen.answers.add(&classify(&got));
                    return;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(every) => {
                if s.write_all(tick).await.is_err() {
                    seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    seen.answers.add(&classify(&got));
                    return;
                }
            }
        }
    }
}

const MALFORMED: &[&[u8]] = &[
    b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /b/k HTTP/1.1\r\nHost: x\r\nX-Bad: \xff\xfe\xc3\x28\r\n\r\n",
    b"GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x01\x02\x03 / HTTP/1.1\r\nHost: x\r\n\r\n",
];

async fn run_attack(ctx: Arc<Ctx>, attack: Attack, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let mut tasks = Vec::new();
    let n = match attack {
        Attack::Baseline => 0,
        Attack::SlowlorisHeaders | Attack::SlowlorisBody => ctx.args.connections,
        Attack::IdleConnections => ctx.args.idle_connections,
        Attack::OversizedHeaders | Attack::OversizedBody | Attack::Malformed => ctx.args.flooders,
    };
    for i in 0..n {
        let (ctx, stop, seen) = (ctx.clone(), stop.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                match attack {
                    Attack::Baseline => return,
                    Attack::SlowlorisHeaders => {
                        let head = format!("GET /{}/get-4k HTTP/1.1\r\nHost: {}\r\n", ctx.bucket, ctx.s3.authority);
                        trickle(&ctx, head, b"X-Slow: y\r\n", Duration::from_secs(1), &stop, &seen).await;
                    }
                    Attack::SlowlorisBody => {
                        let head = ctx.signed_put_head(&format!("slow-{i}-{round}"), 1 << 20);
                        trickle(&ctx, head, b"x", Duration::from_secs(1), &stop, &seen).await;
                    }
                    Attack::IdleConnections => {
                        let Ok(mut s) = TcpStream::connect(&ctx.s3.authority).await else {
                            seen.answers.add("connect-error");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        };
                        seen.opened.fetch_add(1, Ordering::Relaxed);
                        let (got, closed) = read_until_close(&mut s, Duration::from_secs(3600), &stop).await;
                        if closed {
                            seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                            seen.answers.add(&classify(&got));
                        }
                    }
                    Attack::OversizedHeaders => {
                        let head = if round.is_multiple_of(2) {
                            format!("GET /{}/get-4k HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", ctx.bucket, "a".repeat(256 << 10))
                        } else {
                            let mut h = format!("GET /{}/get-4k HTTP/1.1\r\nHost: x\r\n", ctx.bucket);
                            for k in 0..500 {
                                h.push_str(&format!("X-{k}: y\r\n"));
                            }
                            h + "\r\n"
                        };
                        one_shot(&ctx.s3.authority, head.as_bytes(), &[], &stop, &seen).await;
                    }
                    Attack::OversizedBody => {
                        let chunk = vec![b' '; 1 << 20];
                        if round.is_multiple_of(2) {
                            let head = ctx.signed_put_head(&format!("huge-{i}-{round}"), (5 << 30) + 1);
                            one_shot(&ctx.s3.authority, head.as_bytes(), &chunk, &stop, &seen).await;
                        } else {
                            let head = format!(
                                "POST /v1/cwobject/access-key HTTP/1.1\r\nHost: {}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                ctx.api.authority,
                                ctx.api_auth,
                                64 << 20
                            );
                            one_shot(&ctx.api.authority, head.as_bytes(), &chunk, &stop, &seen).await;
                        }
                    }
                    Attack::Malformed => {
                        let bytes = MALFORMED[(i + round as usize) % MALFORMED.len()];
                        one_shot(&ctx.s3.authority, bytes, &[], &stop, &seen).await;
                    }
                }
            }
        }));
        // Open the idle flood at a pace the accept loop keeps up with.
        if attack == Attack::IdleConnections && (i + 1).is_multiple_of(500) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Sends `head`, then up to 64 × `body_chunk` while the server has not answered, and
/// records the answer.
async fn one_shot(addr: &str, head: &[u8], body_chunk: &[u8], stop: &AtomicBool, seen: &Seen) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        seen.answers.add("connect-error");
        tokio::time::sleep(Duration::from_millis(100)).await;
        return;
    };
    seen.opened.fetch_add(1, Ordering::Relaxed);
    let (mut r, mut w) = s.split();
    let send = async {
        if w.write_all(head).await.is_err() {
            return;
        }
        if !body_chunk.is_empty() {
            for _ in 0..64 {
                if w.write_all(body_chunk).await.is_err() {
                    return;
                }
            }
        }
        std::future::pending::<()>().await;
    };
    let mut got = Vec::new();
    let recv = async {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => {
                    if got.len() < 4096 {
                        got.extend_from_slice(&buf[..n]);
                    }
                }
            }
        }
    };
    let closed = tokio::select! {
        c = recv => c,
        _ = send => false,
        _ = tokio::time::sleep(Duration::from_secs(30)) => false,
    };
    let _ = stop;
    if closed {
        seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
    }
    seen.answers.add(&classify(&got));
}
