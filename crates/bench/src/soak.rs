//! `coffer soak`: long mixed load against a supervised `coffer server`, with periodic restarts,
//! resource sampling and a client-side ledger that the final content must match.
//!
//! The driver starts the server itself (same data directory and ports across restarts), gives it
//! an allow-all key, and runs `--clients` sequential clients. Each client owns the prefix
//! `cNNN/` and a fixed set of keys there, so the only writer of a key is one sequential client and
//! the ledger needs no cross-client ordering. Ledger rules:
//!
//! * an acknowledged PUT / CompleteMultipartUpload sets the key's content (size + SHA-256);
//! * an acknowledged DELETE makes it absent;
//! * a mutating request that fails adds its outcome to the key's candidates ("old or new")
//!   until a successful GET resolves it (a LIST narrows it by size);
//! * every GET and LIST must observe one of the candidates; anything else is a ledger failure,
//!   counted whether or not a restart was in progress.
//!
//! Every `--restart-every` the supervisor restarts the server, alternating SIGTERM and SIGKILL
//! (`--restart-signals`). A restart window runs from the signal until the new process answers
//! `/healthz` and accepts S3 connections, plus `--grace`; a failed request whose lifetime overlaps
//! a window is counted "inside", any other failure "outside" (the run passes only with zero).
//! A sampler records the server's VmRSS and open descriptors. After `--duration` the whole store
//! is checked against the ledger (GET + hash of every key, a full LIST, open multipart uploads).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::body::{self, BenchBody};
use crate::client::{Endpoint, S3Client, S3Error};
use crate::sigv4::Signer;
use crate::units::{self, MIB};

/// Smallest non-last part S3 (and Coffer) accepts.
const MIN_PART: u64 = 5 * MIB;
/// Open uploads a client leaves behind on purpose, at most.
const MAX_ABANDONED_PER_CLIENT: usize = 2;
/// Failure messages kept per client (counts are always complete).
const MAX_MESSAGES: usize = 50;

/// Flags of `coffer soak`.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// The `coffer` binary started as the server [default: this executable].
    #[arg(long)]
    pub server_bin: Option<PathBuf>,

    /// Directory for the server's data and log [default: a new temporary directory, removed
    /// after a passing run unless --keep].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,

    /// Keep the work directory after a passing run.
    #[arg(long)]
    pub keep: bool,

    /// Length of the load phase.
    #[arg(long, default_value = "30m", value_parser = units::parse_duration)]
    pub duration: Duration,

    /// Concurrent clients (each sequential, each on its own key prefix).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=999))]
    pub clients: u64,

    /// Keys per client (overwrites and deletes land on these).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub keys_per_client: u64,

    /// Largest PutObject body (sizes are skewed small: most are 0 B .. 64 KiB).
    #[arg(long, default_value = "4MiB", value_parser = units::parse_size)]
    pub max_size: u64,

    /// Interval between server restarts.
    #[arg(long, default_value = "5m", value_parser = units::parse_duration)]
    pub restart_every: Duration,

    /// How successive restarts stop the server, cycled.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "term,kill")]
    pub restart_signals: Vec<RestartKind>,

    /// Interval of the RSS / descriptor sampler.
    #[arg(long, default_value = "5s", value_parser = units::parse_duration)]
    pub sample_every: Duration,

    /// Row length of the per-interval table.
    #[arg(long, default_value = "1m", value_parser = units::parse_duration)]
    pub report_every: Duration,

    /// Time after a restarted server is ready during which failures still count as inside
    /// the restart window (clients back off up to 0.5 s and pooled connections go stale).
    #[arg(long, default_value = "3s", value_parser = units::parse_duration)]
    pub grace: Duration,

    /// A request without an answer after this long fails (class `timeout`).
    #[arg(long, default_value = "60s", value_parser = units::parse_duration)]
    pub request_timeout: Duration,

    /// RSS flatness: the maximum over the last third of the run (after warm-up) may exceed
    /// the maximum over the first third by at most this many percent.
    #[arg(long, default_value_t = 25.0)]
    pub rss_growth_limit: f64,

    /// Descriptor flatness: with no client connected, the server may hold at most this many
    /// more descriptors at the end than at the start.
    #[arg(long, default_value_t = 16)]
    pub fd_slack: u64,

    /// Seed of the clients' random choices [default: random].
    #[arg(long)]
    pub seed: Option<u64>,

    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Extra flag for the server, repeatable (e.g. `--server-arg=--log-json`).
    #[arg(long, allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
}

/// How the supervisor stops the server for a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartKind {
    /// SIGTERM, then wait for the graceful exit.
    Term,
    /// SIGKILL.
    Kill,
}

/// Runs the soak, prints the report (and writes JSON with `--json`); returns whether it passed.
pub async fn run(args: SoakArgs) -> Result<bool> {
    let report = execute(&args).await?;
    print!("{}", report.render());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report.pass)
}

// ---------------------------------------------------------------------------------------------
// Ledger

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    Absent,
    Present { size: u64, sha: [u8; 32] },
}

impl Content {
    fn of(data: &[u8]) -> Self {
        Self::Present {
            size: data.len() as u64,
            sha: Sha256::digest(data).into(),
        }
    }

    fn size(self) -> Option<u64> {
        match self {
            Self::Absent => None,
            Self::Present { size, .. } => Some(size),
        }
    }
}

/// A key's possible contents: one when certain, more after failed mutations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyState {
    cands: Vec<Content>,
}

impl KeyState {
    pub(crate) fn absent() -> Self {
        Self {
            cands: vec![Content::Absent],
        }
    }

    /// An acknowledged mutation.
    pub(crate) fn set(&mut self, c: Content) {
        self.cands = vec![c];
    }

    /// A mutation that failed: it may or may not have taken effect.
    pub(crate) fn maybe(&mut self, c: Content) {
        if !self.cands.contains(&c) {
            self.cands.push(c);
        }
    }

    /// A full observation (GET): true if it is one of the candidates. Either way the key is
    /// then known to hold `c`.
    pub(crate) fn observe(&mut self, c: Content) -> bool {
        let ok = self.cands.contains(&c);
        self.cands = vec![c];
        ok
    }

    /// A listing's observation (present with a size, or absent): true if some candidate
    /// agrees; the candidates that do not are dropped.
    pub(crate) fn observe_listing(&mut self, size: Option<u64>) -> bool {
        let keep: Vec<Content> = self
            .cands
            .iter()
            .copied()
            .filter(|c| c.size() == size)
            .collect();
        if keep.is_empty() {
            return false;
        }
        self.cands = keep;
        true
    }

    pub(crate) fn uncertain(&self) -> bool {
        self.cands.len() > 1
    }

    fn certain(&self) -> Option<Content> {
        (self.cands.len() == 1).then(|| self.cands[0])
    }

    fn describe(&self) -> String {
        let d: Vec<String> = self
            .cands
            .iter()
            .map(|c| match c {
                Content::Absent => "absent".to_owned(),
                Content::Present { size, sha } => {
                    format!(
                        "{size} B sha256 {:02x}{:02x}{:02x}{:02x}..",
                        sha[0], sha[1], sha[2], sha[3]
                    )
                }
            })
            .collect();
        d.join(" | ")
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift64* seeded through splitmix64, which is a
/// bijection, so distinct seeds give distinct streams).
fn content_bytes(seed: u64, len: u64) -> Bytes {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let mut x = (z ^ (z >> 31)).max(1);
    let mut out = Vec::with_capacity(len as usize + 8);
    while (out.len() as u64) < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len as usize);
    Bytes::from(out)
}

/// Object sizes skewed small: 8% empty, 50% up to 4 KiB, 25% up to 64 KiB, 14% up to 1 MiB,
/// 3% up to `max`.
fn pick_size(rng: &mut SmallRng, max: u64) -> u64 {
    let p = rng.random_range(0..100u32);
    let (lo, hi) = match p {
        0..8 => (0, 0),
        8..58 => (1, 4 << 10),
        58..83 => ((4 << 10) + 1, 64 << 10),
        83..97 => ((64 << 10) + 1, MIB),
        _ => (MIB + 1, max.max(MIB + 1)),
    };
    rng.random_range(lo.min(max)..=hi.min(max))
}

// ---------------------------------------------------------------------------------------------
// Server supervision

struct Server {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    s3_port: u16,
    api_port: u16,
    extra: Vec<String>,
    child: Option<tokio::process::Child>,
    pid: Arc<AtomicU32>,
}

impl Server {
    fn s3_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    fn api_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// Starts the server and waits until it serves both listeners.
    async fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = tokio::process::Command::new(&self.bin)
            .arg("server")
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--s3-listen")
            .arg(format!("127.0.0.1:{}", self.s3_port))
            .arg("--api-listen")
            .arg(format!("127.0.0.1:{}", self.api_port))
            .args(&self.extra)
            .env_remove("COFFER_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "the server exited while starting ({status}); see {}",
                    self.log.display()
                );
            }
            let healthy = api_request(&self.api_endpoint(), "GET", "/healthz", None, None)
                .await
                .is_ok_and(|(status, _)| status.is_success());
            if healthy
                && tokio::net::TcpStream::connect(("127.0.0.1", self.s3_port))
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the server did not become ready within 120 s; see {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the server. Returns a note if something was off (a graceful stop that had to be
    /// forced, or a non-zero exit after SIGTERM).
    async fn stop(&mut self, kind: RestartKind) -> Result<Option<String>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        self.pid.store(0, Ordering::SeqCst);
        match kind {
            RestartKind::Kill => {
                child.kill().await?;
                Ok(None)
            }
            RestartKind::Term => {
                let pid = child.id().context("server already reaped")?;
                let status = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .context("running kill -TERM")?;
                ensure!(status.success(), "kill -TERM {pid} failed");
                match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
                    Ok(status) => {
                        let status = status?;
                        Ok((!status.success())
                            .then(|| format!("graceful stop exited with {status}")))
                    }
                    Err(_) => {
                        child.kill().await?;
                        Ok(Some("graceful stop took over 60 s; killed".to_owned()))
                    }
                }
            }
        }
    }
}

/// One management API request on a fresh connection: (status, body).
async fn api_request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<(hyper::StatusCode, Vec<u8>)> {
    let e = Endpoint::parse(base)?;
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let data = match &body {
        Some(v) => serde_json::to_vec(v)?,
        None => Vec::new(),
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", e.base))
        .header(hyper::header::HOST, &e.authority)
        .header(hyper::header::CONTENT_LENGTH, data.len());
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        http.request(req.body(BenchBody::full(data))?),
    )
    .await
    .context("management API request timed out")??;
    let status = resp.status();
    let text = body::collect(resp.into_body(), 1 << 20).await?;
    Ok((status, text))
}

/// Sets an allow-all org policy with the bootstrap token and creates a permanent key.
async fn allow_all_key(api: &str, data: &Path) -> Result<Signer> {
    let token = std::fs::read_to_string(data.join("bootstrap-token"))
        .context("reading the bootstrap token")?;
    let token = token.trim();
    let policy = serde_json::json!({"policy": {"version": "v1alpha1", "name": "soak",
        "statements": [{"name": "all", "effect": "Allow", "actions": ["*"],
                        "resources": ["*"], "principals": ["*"]}]}});
    let (status, body) = api_request(
        api,
        "POST",
        "/v1/cwobject/access-policy",
        Some(token),
        Some(policy),
    )
    .await?;
    ensure!(
        status.is_success(),
        "setting the policy: HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let (status, body) = api_request(
        api,
        "POST",
        "/v1/cwobject/access-key",
        Some(token),
        Some(serde_json::json!({"durationSeconds": 0})),
    )
    .await?;
    ensure!(
        status.is_success(),
        "creating a key: HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let key: serde_json::Value = serde_json::from_slice(&body)?;
    let (Some(ak), Some(sk)) = (key["accessKeyId"].as_str(), key["secretKey"].as_str()) else {
        bail!("access key response without accessKeyId/secretKey");
    };
    Ok(Signer::new(ak, sk, "us-east-1"))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// (VmRSS in KiB, open descriptors) of `pid`, if it is still there.
fn proc_sample(pid: u32) -> Option<(u64, u64)> {
    Some((
        crate::cpu::status_kib(pid, "VmRSS:")?,
        crate::cpu::open_fds(pid)?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Restart windows

/// Restart windows: (signal sent, server ready again); `None` while the restart is running.
#[derive(Default)]
struct Windows(Mutex<Vec<(Instant, Option<Instant>)>>);

impl Windows {
    fn begin(&self, at: Instant) {
        self.0.lock().unwrap().push((at, None));
    }

    fn end(&self, at: Instant) {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.1 = Some(at);
        }
    }

    /// Whether a request that ran from `start` to `end` overlaps a window (extended by `grace`).
    fn overlaps(&self, start: Instant, end: Instant, grace: Duration) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|&(ws, we)| end >= ws && we.is_none_or(|we| start <= we + grace))
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Op {
    Put,
    Overwrite,
    Get,
    List,
    Delete,
    Multipart,
    MultipartAbort,
    MultipartAbandon,
    AbortRetry,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Overwrite => "overwrite",
            Self::Get => "get",
            Self::List => "list",
            Self::Delete => "delete",
            Self::Multipart => "multipart",
            Self::MultipartAbort => "multipart-abort",
            Self::MultipartAbandon => "multipart-abandon",
            Self::AbortRetry => "abort-retry",
        }
    }
}

struct Rec {
    t_ms: u32,
    op: Op,
    lat_us: u32,
}

struct ErrRec {
    t_ms: u32,
    op: Op,
    class: &'static str,
    inside: bool,
}

struct Ctx {
    client: S3Client,
    bucket: String,
    windows: Arc<Windows>,
    start: Instant,
    deadline: Instant,
    grace: Duration,
    timeout: Duration,
    max_size: u64,
    get_limit: usize,
}

impl Ctx {
    async fn req<T>(&self, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => bail!("timeout after {:?}", self.timeout),
        }
    }

    fn ms(&self, t: Instant) -> u32 {
        u32::try_from(t.saturating_duration_since(self.start).as_millis()).unwrap_or(u32::MAX)
    }
}

fn classify(e: &anyhow::Error) -> &'static str {
    if let Some(s3) = e.downcast_ref::<S3Error>() {
        return if s3.status.is_server_error() {
            "http-5xx"
        } else {
            "http-4xx"
        };
    }
    let s = format!("{e:#}");
    if s.contains("timeout after") {
        "timeout"
    } else if s.contains("Connection refused") {
        "connect-refused"
    } else if s.contains("reset") || s.contains("closed") || s.contains("broken pipe") {
        "connection-lost"
    } else {
        "transport"
    }
}

fn s3_code(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<S3Error>().map(|s| s.code.as_str())
}

struct Worker {
    id: u64,
    prefix: String,
    keys: Vec<String>,
    ledger: Vec<KeyState>,
    rng: SmallRng,
    /// Uploads to abort once the server answers: their sequence failed midway.
    pending_aborts: Vec<(String, String)>,
    /// Uploads left open on purpose: (key, upload id).
    abandoned: Vec<(String, String)>,
    /// Keys whose CreateMultipartUpload failed: an upload of unknown id may exist.
    interrupted_creates: HashMap<String, u32>,
    recs: Vec<Rec>,
    errors: Vec<ErrRec>,
    /// Messages of errors outside restart windows (the first few).
    outside_msgs: Vec<String>,
    /// Ledger violations seen during the load.
    failures: Vec<String>,
    failure_count: u64,
}

impl Worker {
    fn new(id: u64, keys: u64, seed: u64) -> Self {
        let prefix = format!("c{id:03}/");
        Self {
            id,
            keys: (0..keys).map(|k| format!("{prefix}k{k:04}")).collect(),
            prefix,
            ledger: vec![KeyState::absent(); keys as usize],
            rng: SmallRng::seed_from_u64(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            pending_aborts: Vec::new(),
            abandoned: Vec::new(),
            interrupted_creates: HashMap::new(),
            recs: Vec::new(),
            errors: Vec::new(),
            outside_msgs: Vec::new(),
            failures: Vec::new(),
            failure_count: 0,
        }
    }

    fn ok(&mut self, ctx: &Ctx, op: Op, started: Instant) {
        let now = Instant::now();
        self.recs.push(Rec {
            t_ms: ctx.ms(now),
            op,
            lat_us: u32::try_from(now.duration_since(started).as_micros()).unwrap_or(u32::MAX),
        });
    }

    fn err(&mut self, ctx: &Ctx, op: Op, started: Instant, e: &anyhow::Error) {
        let now = Instant::now();
        let inside = ctx.windows.overlaps(started, now, ctx.grace);
        let class = classify(e);
        if !inside && self.outside_msgs.len() < MAX_MESSAGES {
            self.outside_msgs.push(format!(
                "t={:.1}s client {} {}: {e:#}",
                ctx.ms(now) as f64 / 1000.0,
                self.id,
                op.name()
            ));
        }
        self.errors.push(ErrRec {
            t_ms: ctx.ms(now),
            op,
            class,
            inside,
        });
    }

    fn fail(&mut self, msg: String) {
        self.failure_count += 1;
        if self.failures.len() < MAX_MESSAGES {
            self.failures.push(msg);
        }
    }

    async fn run(mut self, ctx: Arc<Ctx>) -> Self {
        let mut consecutive = 0u32;
        while Instant::now() < ctx.deadline {
            let mut ok = self.retry_aborts(&ctx).await;
            if ok {
                ok = match self.rng.random_range(0..90u32) {
                    0..30 => self.put(&ctx).await,
                    30..60 => self.get(&ctx).await,
                    60..70 => self.list(&ctx).await,
                    70..82 => self.delete(&ctx).await,
                    _ => self.multipart(&ctx).await,
                };
            }
            if ok {
                consecutive = 0;
            } else {
                // Back off while the server is away instead of spinning on refused connects.
                consecutive = (consecutive + 1).min(10);
                tokio::time::sleep(Duration::from_millis(50 * u64::from(consecutive))).await;
            }
        }
        self
    }

    fn pick_key(&mut self) -> usize {
        self.rng.random_range(0..self.keys.len())
    }

    async fn put(&mut self, ctx: &Ctx) -> bool {
        let k = self.pick_key();
        let size = pick_size(&mut self.rng, ctx.max_size);
        let data = content_bytes(self.rng.random(), size);
        let new = Content::of(&data);
        let op = if self.ledger[k].cands.iter().all(|c| *c == Content::Absent) {
            Op::Put
        } else {
            Op::Overwrite
        };
        let started = Instant::now();
        match ctx
            .req(ctx.client.put_object(&ctx.bucket, &self.keys[k], data))
            .await
        {
            Ok(_) => {
                self.ledger[k].set(new);
                self.ok(ctx, op, started);
                true
            }
            Err(e) => {
                self.ledger[k].maybe(new);
                self.err(ctx, op, started, &e);
                false
            }
        }
    }

    async fn get(&mut self, ctx: &Ctx) -> bool {
        let k = self.pick_key();
        let started = Instant::now();
        let observed = match ctx
            .req(
                ctx.client
                    .get_object_bytes(&ctx.bucket, &self.keys[k], ctx.get_limit),
            )
            .await
        {
            Ok(data) => Content::of(&data),
            Err(e) if s3_code(&e) == Some("NoSuchKey") => Content::Absent,
            Err(e) => {
                self.err(ctx, Op::Get, started, &e);
                return false;
            }
        };
        self.ok(ctx, Op::Get, started);
        let before = self.ledger[k].describe();
        if !self.ledger[k].observe(observed) {
            let msg = format!(
                "GET {}: ledger expects {before}, server has {}",
                self.keys[k],
                KeyState {
                    cands: vec![observed]
                }
                .describe()
            );
            self.fail(msg);
        }
        true
    }

    async fn list(&mut self, ctx: &Ctx) -> bool {
        let started = Instant::now();
        let listed = match ctx
            .req(ctx.client.list_sizes(&ctx.bucket, &self.prefix))
            .await
        {
            Ok(l) => l,
            Err(e) => {
                self.err(ctx, Op::List, started, &e);
                return false;
            }
        };
        self.ok(ctx, Op::List, started);
        let mut sizes: HashMap<String, u64> = listed.into_iter().collect();
        for k in 0..self.keys.len() {
            let size = sizes.remove(&self.keys[k]);
            let before = self.ledger[k].describe();
            if !self.ledger[k].observe_listing(size) {
                let msg = format!(
                    "LIST {}: ledger expects {before}, listing has {size:?}",
                    self.keys[k]
                );
                self.fail(msg);
            }
        }
        for key in sizes.keys() {
            self.fail(format!("LIST {}: key listed that was never written", key));
        }
        true
    }

    async fn delete(&mut self, ctx: &Ctx) -> bool {
        let k = self.pick_key();
        let started = Instant::now();
        match ctx
            .req(ctx.client.delete_object(&ctx.bucket, &self.keys[k]))
            .await
        {
            Ok(()) => {
                self.ledger[k].set(Content::Absent);
                self.ok(ctx, Op::Delete, started);
                true
            }
            Err(e) => {
                self.ledger[k].maybe(Content::Absent);
                self.err(ctx, Op::Delete, started, &e);
                false
            }
        }
    }

    /// CreateMultipartUpload, one or two parts (5 MiB + a tail), then mostly Complete,
    /// sometimes Abort, rarely leave the upload open.
    async fn multipart(&mut self, ctx: &Ctx) -> bool {
        let k = self.pick_key();
        let key = self.keys[k].clone();
        let started = Instant::now();
        let id = match ctx
            .req(ctx.client.create_multipart(&ctx.bucket, &key))
            .await
        {
            Ok(id) => id,
            Err(e) => {
                *self.interrupted_creates.entry(key).or_default() += 1;
                self.err(ctx, Op::Multipart, started, &e);
                return false;
            }
        };
        let parts = if self.rng.random_bool(0.5) { 2 } else { 1 };
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut etags = Vec::new();
        for n in 1..=parts {
            let size = if n < parts {
                MIN_PART
            } else {
                pick_size(&mut self.rng, ctx.max_size.min(MIB))
            };
            let data = content_bytes(self.rng.random(), size);
            hasher.update(&data);
            total += size;
            match ctx
                .req(ctx.client.upload_part(&ctx.bucket, &key, &id, n, data))
                .await
            {
                Ok(etag) => etags.push((n, etag)),
                Err(e) => {
                    self.pending_aborts.push((key, id));
                    self.err(ctx, Op::Multipart, started, &e);
                    return false;
                }
            }
        }
        let new = Content::Present {
            size: total,
            sha: hasher.finalize().into(),
        };
        let roll = self.rng.random_range(0..100u32);
        if roll < 10 {
            match ctx
                .req(ctx.client.abort_multipart(&ctx.bucket, &key, &id))
                .await
            {
                Ok(()) => {
                    self.ok(ctx, Op::MultipartAbort, started);
                    true
                }
                Err(e) => {
                    self.pending_aborts.push((key, id));
                    self.err(ctx, Op::MultipartAbort, started, &e);
                    false
                }
            }
        } else if roll < 13 && self.abandoned.len() < MAX_ABANDONED_PER_CLIENT {
            self.abandoned.push((key, id));
            self.ok(ctx, Op::MultipartAbandon, started);
            true
        } else {
            match ctx
                .req(
                    ctx.client
                        .complete_multipart(&ctx.bucket, &key, &id, &etags),
                )
                .await
            {
                Ok(()) => {
                    self.ledger[k].set(new);
                    self.ok(ctx, Op::Multipart, started);
                    true
                }
                Err(e) => {
                    // Completed or not: the upload is aborted later (NoSuchUpload if it
                    // completed), the key holds the old or the new content.
                    self.ledger[k].maybe(new);
                    self.pending_aborts.push((key, id));
                    self.err(ctx, Op::Multipart, started, &e);
                    false
                }
            }
        }
    }

    /// Aborts uploads whose sequence failed; false if the server still fails.
    async fn retry_aborts(&mut self, ctx: &Ctx) -> bool {
        while let Some((key, id)) = self.pending_aborts.last().cloned() {
            let started = Instant::now();
            match ctx
                .req(ctx.client.abort_multipart(&ctx.bucket, &key, &id))
                .await
            {
                Ok(()) => self.ok(ctx, Op::AbortRetry, started),
                Err(e) if s3_code(&e) == Some("NoSuchUpload") => {
                    self.ok(ctx, Op::AbortRetry, started)
                }
                Err(e) => {
                    self.err(ctx, Op::AbortRetry, started, &e);
                    return false;
                }
            }
            self.pending_aborts.pop();
        }
        true
    }

    /// Final check of this client's keys: GET + hash of each. Returns (checked, resolved
    /// uncertain keys).
    async fn verify_all(&mut self, ctx: &Ctx) -> (u64, u64) {
        let mut resolved = 0;
        for k in 0..self.keys.len() {
            let was_uncertain = self.ledger[k].uncertain();
            let observed = match ctx
                .req(
                    ctx.client
                        .get_object_bytes(&ctx.bucket, &self.keys[k], ctx.get_limit),
                )
                .await
            {
                Ok(data) => Content::of(&data),
                Err(e) if s3_code(&e) == Some("NoSuchKey") => Content::Absent,
                Err(e) => {
                    self.fail(format!("final GET {}: {e:#}", self.keys[k]));
                    continue;
                }
            };
            let before = self.ledger[k].describe();
            if self.ledger[k].observe(observed) {
                resolved += u64::from(was_uncertain);
            } else {
                let msg = format!(
                    "final GET {}: ledger expects {before}, server has {}",
                    self.keys[k],
                    KeyState {
                        cands: vec![observed]
                    }
                    .describe()
                );
                self.fail(msg);
            }
        }
        (self.keys.len() as u64, resolved)
    }
}

// ---------------------------------------------------------------------------------------------
// Report

#[derive(Debug, Clone, Serialize)]
pub struct OpStats {
    pub ok: u64,
    pub ops_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors_inside: u64,
    pub errors_outside: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestartRecord {
    pub at_s: f64,
    pub kind: RestartKind,
    /// Signal to exit of the old process.
    pub stop_ms: f64,
    /// Signal to the new process serving both listeners.
    pub window_ms: f64,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcSample {
    pub t_s: f64,
    pub pid: u32,
    pub rss_kib: u64,
    pub fds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    pub start_s: f64,
    pub ops: u64,
    pub errors_inside: u64,
    pub errors_outside: u64,
    pub restarts: u64,
    pub rss_max_kib: u64,
    pub fds_max: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lifetime {
    pub pid: u32,
    pub first_s: f64,
    pub last_s: f64,
    pub rss_first_kib: u64,
    pub rss_max_kib: u64,
    pub rss_last_kib: u64,
    pub fds_first: u64,
    pub fds_max: u64,
    pub fds_last: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub warmup_s: f64,
    pub rss_first_third_max_kib: u64,
    pub rss_last_third_max_kib: u64,
    pub rss_growth_pct: f64,
    pub rss_flat: bool,
    pub fds_idle_start: u64,
    pub fds_idle_end: u64,
    pub fds_max: u64,
    pub fds_flat: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FinalCheck {
    pub keys_checked: u64,
    pub keys_present: u64,
    pub uncertain_resolved: u64,
    pub listed: u64,
    pub list_matches: bool,
    pub abandoned_expected: u64,
    pub abandoned_found: u64,
    pub unknown_uploads_allowed: u64,
    pub unexpected_uploads: u64,
    pub graceful_shutdown_ok: bool,
    pub failures: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub duration_s: f64,
    pub clients: u64,
    pub keys_per_client: u64,
    pub max_size: u64,
    pub seed: u64,
    pub work_dir: String,
    pub ops: BTreeMap<String, OpStats>,
    pub ops_total: u64,
    pub errors_inside: u64,
    pub errors_outside: u64,
    pub errors_by_class: BTreeMap<String, [u64; 2]>,
    pub outside_error_samples: Vec<String>,
    pub ledger_failures_during_load: u64,
    pub restarts: Vec<RestartRecord>,
    pub samples: Vec<ProcSample>,
    pub intervals: Vec<Interval>,
    pub lifetimes: Vec<Lifetime>,
    pub resources: Resources,
    pub final_check: FinalCheck,
    pub failure_samples: Vec<String>,
    pub pass: bool,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn kib(v: u64) -> String {
    format!("{:.1} MiB", v as f64 / 1024.0)
}

impl SoakReport {
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "coffer soak: {:.0} s, {} clients x {} keys, objects up to {}, seed {}",
            self.duration_s,
            self.clients,
            self.keys_per_client,
            units::fmt_size(self.max_size),
            self.seed
        );
        let _ = writeln!(
            s,
            "\n{:<18} {:>9} {:>8} {:>9} {:>9} {:>8} {:>8}",
            "op", "ok", "ops/s", "p50 ms", "p99 ms", "err in", "err out"
        );
        for (name, o) in &self.ops {
            let _ = writeln!(
                s,
                "{:<18} {:>9} {:>8.1} {:>9.2} {:>9.2} {:>8} {:>8}",
                name, o.ok, o.ops_per_s, o.p50_ms, o.p99_ms, o.errors_inside, o.errors_outside
            );
        }
        let _ = writeln!(
            s,
            "total ok {}; errors inside restart windows {}, outside {}",
            self.ops_total, self.errors_inside, self.errors_outside
        );
        for (class, [i, o]) in &self.errors_by_class {
            let _ = writeln!(s, "  {class}: inside {i}, outside {o}");
        }
        for m in &self.outside_error_samples {
            let _ = writeln!(s, "  outside: {m}");
        }
        let _ = writeln!(s, "\nrestarts:");
        for r in &self.restarts {
            let _ = writeln!(
                s,
                "  t={:>7.1}s {:<4} stop {:>7.0} ms, window (signal -> ready) {:>7.0} ms{}",
                r.at_s,
                match r.kind {
                    RestartKind::Term => "TERM",
                    RestartKind::Kill => "KILL",
                },
                r.stop_ms,
                r.window_ms,
                r.note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(
            s,
            "\n{:>8} {:>8} {:>7} {:>7} {:>8} {:>11} {:>7}",
            "t (s)", "ops", "err in", "err out", "restarts", "RSS max", "fds max"
        );
        for i in &self.intervals {
            // An interval without a sample (the tail of the run) shows no resource figures.
            let (rss, fds) = if i.fds_max == 0 {
                ("-".to_owned(), "-".to_owned())
            } else {
                (kib(i.rss_max_kib), i.fds_max.to_string())
            };
            let _ = writeln!(
                s,
                "{:>8.0} {:>8} {:>7} {:>7} {:>8} {:>11} {:>7}",
                i.start_s, i.ops, i.errors_inside, i.errors_outside, i.restarts, rss, fds
            );
        }
        let _ = writeln!(s, "\nserver processes:");
        for l in &self.lifetimes {
            let _ = writeln!(
                s,
                "  pid {:>7} t={:.0}..{:.0}s  RSS first {} max {} last {}  fds first {} max {} last {}",
                l.pid,
                l.first_s,
                l.last_s,
                kib(l.rss_first_kib),
                kib(l.rss_max_kib),
                kib(l.rss_last_kib),
                l.fds_first,
                l.fds_max,
                l.fds_last
            );
        }
        let r = &self.resources;
        let _ = writeln!(
            s,
            "RSS max first third {} / last third {} (after {:.0} s warm-up): {:+.1}% -> {}",
            kib(r.rss_first_third_max_kib),
            kib(r.rss_last_third_max_kib),
            r.warmup_s,
            r.rss_growth_pct,
            if r.rss_flat { "flat" } else { "GROWING" }
        );
        let _ = writeln!(
            s,
            "fds idle at start {}, idle at end {}, max under load {} -> {}",
            r.fds_idle_start,
            r.fds_idle_end,
            r.fds_max,
            if r.fds_flat { "flat" } else { "LEAKING" }
        );
        let f = &self.final_check;
        let _ = writeln!(
            s,
            "\nfinal check: {} keys read back ({} present, {} uncertain resolved), LIST {} keys {}, \
             open uploads: {}/{} abandoned found, {} unknown allowed, {} unexpected; graceful stop {}; \
             ledger failures during load {}, at the end {}",
            f.keys_checked,
            f.keys_present,
            f.uncertain_resolved,
            f.listed,
            if f.list_matches { "matches" } else { "DIFFERS" },
            f.abandoned_found,
            f.abandoned_expected,
            f.unknown_uploads_allowed,
            f.unexpected_uploads,
            if f.graceful_shutdown_ok {
                "ok"
            } else {
                "FAILED"
            },
            self.ledger_failures_during_load,
            f.failures
        );
        for m in &self.failure_samples {
            let _ = writeln!(s, "  failure: {m}");
        }
        let _ = writeln!(s, "work dir: {}", self.work_dir);
        let _ = writeln!(s, "result: {}", if self.pass { "PASS" } else { "FAIL" });
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Driver

pub async fn execute(args: &SoakArgs) -> Result<SoakReport> {
    ensure!(
        !args.restart_signals.is_empty(),
        "--restart-signals is empty"
    );
    let seed = args.seed.unwrap_or_else(rand::random);
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("locating this executable")?,
    };
    let (work, temp) = match &args.work_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!(
                "coffer-soak-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )),
            true,
        ),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let pid = Arc::new(AtomicU32::new(0));
    let mut server = Server {
        bin,
        data: work.join("data"),
        log: work.join("server.log"),
        s3_port: free_port()?,
        api_port: free_port()?,
        extra: args.server_arg.clone(),
        child: None,
        pid: pid.clone(),
    };
    server.start().await?;
    let signer = allow_all_key(&server.api_endpoint(), &server.data).await?;
    let endpoint = Endpoint::parse(&server.s3_endpoint())?;
    let bucket = "soak".to_owned();
    {
        let setup = S3Client::new(endpoint.clone(), signer.clone());
        setup.create_bucket(&bucket).await?;
    }
    // With no client connection open, the descriptors the server needs at rest.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_idle_start = proc_sample(pid.load(Ordering::SeqCst)).map_or(0, |s| s.1);

    let start = Instant::now();
    let deadline = start + args.duration;
    let windows = Arc::new(Windows::default());
    let ctx = Arc::new(Ctx {
        client: S3Client::new(endpoint.clone(), signer.clone()),
        bucket: bucket.clone(),
        windows: windows.clone(),
        start,
        deadline,
        grace: args.grace,
        timeout: args.request_timeout,
        max_size: args.max_size,
        get_limit: usize::try_from(args.max_size.max(MIN_PART + MIB) + MIB).unwrap_or(usize::MAX),
    });

    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (pid, stop, every) = (pid.clone(), stop_sampling.clone(), args.sample_every);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let p = pid.load(Ordering::SeqCst);
                if p != 0
                    && let Some((rss_kib, fds)) = proc_sample(p)
                {
                    samples.push(ProcSample {
                        t_s: start.elapsed().as_secs_f64(),
                        pid: p,
                        rss_kib,
                        fds,
                    });
                }
                tokio::time::sleep(every).await;
            }
            samples
        })
    };

    let workers: Vec<_> = (0..args.clients)
        .map(|id| {
            let w = Worker::new(id, args.keys_per_client, seed);
            tokio::spawn(w.run(ctx.clone()))
        })
        .collect();

    // Supervisor: restart every `restart_every` until the deadline, leaving the last
    // `restart_every / 4` of the run undisturbed so the end is not one long window.
    let mut restarts = Vec::new();
    let mut next = start + args.restart_every;
    let mut n = 0usize;
    while next + args.restart_every / 4 < deadline {
        tokio::time::sleep_until(next.into()).await;
        let kind = args.restart_signals[n % args.restart_signals.len()];
        n += 1;
        let at = Instant::now();
        windows.begin(at);
        let note = server.stop(kind).await?;
        let stopped = Instant::now();
        server.start().await?;
        let ready = Instant::now();
        windows.end(ready);
        restarts.push(RestartRecord {
            at_s: at.duration_since(start).as_secs_f64(),
            kind,
            stop_ms: stopped.duration_since(at).as_secs_f64() * 1000.0,
            window_ms: ready.duration_since(at).as_secs_f64() * 1000.0,
            note,
        });
        eprintln!(
            "soak: restart {n} ({kind:?}) at {:.0} s, window {:.0} ms",
            at.duration_since(start).as_secs_f64(),
            ready.duration_since(at).as_secs_f64() * 1000.0
        );
        next += args.restart_every;
    }
    let mut done = Vec::new();
    for w in workers {
        done.push(w.await.context("client task")?);
    }
    let load_secs = start.elapsed().as_secs_f64();
    drop(ctx);
    stop_sampling.store(true, Ordering::SeqCst);
    let samples = sampler.await.context("sampler task")?;

    // Final verification against a steady server with a fresh client.
    let vctx = Arc::new(Ctx {
        client: S3Client::new(endpoint.clone(), signer.clone()),
        bucket: bucket.clone(),
        windows: Arc::new(Windows::default()),
        start,
        deadline: Instant::now(),
        grace: args.grace,
        timeout: args.request_timeout,
        max_size: args.max_size,
        get_limit: usize::try_from(args.max_size.max(MIN_PART + MIB) + MIB).unwrap_or(usize::MAX),
    });
    let load_failures: u64 = done.iter().map(|w| w.failure_count).sum();
    let verifiers: Vec<_> = done
        .into_iter()
        .map(|mut w| {
            let ctx = vctx.clone();
            tokio::spawn(async move {
                // Load-phase messages stay; only the counts are split.
                let before = w.failure_count;
                if !w.retry_aborts(&ctx).await {
                    w.fail("final abort of an interrupted upload failed".to_owned());
                }
                let (checked, resolved) = w.verify_all(&ctx).await;
                let final_failures = w.failure_count - before;
                (w, checked, resolved, final_failures)
            })
        })
        .collect();
    let mut workers = Vec::new();
    let (mut keys_checked, mut uncertain_resolved, mut final_failures) = (0, 0, 0);
    for v in verifiers {
        let (w, c, r, f) = v.await.context("verifier task")?;
        keys_checked += c;
        uncertain_resolved += r;
        final_failures += f;
        workers.push(w);
    }
    let mut failure_samples: Vec<String> = workers
        .iter()
        .flat_map(|w| w.failures.iter().cloned())
        .take(MAX_MESSAGES)
        .collect();

    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for w in &workers {
        for (key, state) in w.keys.iter().zip(&w.ledger) {
            if let Some(Content::Present { size, .. }) = state.certain() {
                expected.insert(key.clone(), size);
            }
        }
    }
    let listed: BTreeMap<String, u64> = vctx
        .req(vctx.client.list_sizes(&bucket, ""))
        .await
        .context("final LIST")?
        .into_iter()
        .collect();
    let list_matches = listed == expected;
    if !list_matches {
        final_failures += 1;
        for (k, v) in &listed {
            if expected.get(k) != Some(v) && failure_samples.len() < MAX_MESSAGES {
                failure_samples.push(format!(
                    "final LIST: {k} listed with {v} B, ledger {:?}",
                    expected.get(k)
                ));
            }
        }
        for (k, v) in &expected {
            if !listed.contains_key(k) && failure_samples.len() < MAX_MESSAGES {
                failure_samples.push(format!("final LIST: {k} ({v} B) missing"));
            }
        }
    }

    let uploads = vctx
        .req(vctx.client.list_uploads(&bucket))
        .await
        .context("final ListMultipartUploads")?;
    let mut abandoned: HashMap<String, String> = workers
        .iter()
        .flat_map(|w| w.abandoned.iter().map(|(k, id)| (id.clone(), k.clone())))
        .collect();
    let abandoned_expected = abandoned.len() as u64;
    let mut interrupted: HashMap<String, u32> = HashMap::new();
    for w in &workers {
        for (k, n) in &w.interrupted_creates {
            *interrupted.entry(k.clone()).or_default() += n;
        }
    }
    let (mut abandoned_found, mut unknown_allowed, mut unexpected) = (0u64, 0u64, 0u64);
    for (key, id) in &uploads {
        if abandoned.remove(id).is_some() {
            abandoned_found += 1;
        } else if let Some(n) = interrupted.get_mut(key).filter(|n| **n > 0) {
            *n -= 1;
            unknown_allowed += 1;
        } else {
            unexpected += 1;
            if failure_samples.len() < MAX_MESSAGES {
                failure_samples.push(format!("unexpected open upload {id} of {key}"));
            }
        }
        // Leave the store clean; the check above already counted it.
        let _ = vctx
            .req(vctx.client.abort_multipart(&bucket, key, id))
            .await;
    }
    for (id, key) in &abandoned {
        if failure_samples.len() < MAX_MESSAGES {
            failure_samples.push(format!("abandoned upload {id} of {key} is gone"));
        }
    }
    let lost_uploads = abandoned.len() as u64;
    drop(vctx);

    // Descriptors with every client connection closed again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fds_idle_end = proc_sample(pid.load(Ordering::SeqCst)).map_or(u64::MAX, |s| s.1);
    let graceful_shutdown_ok = server.stop(RestartKind::Term).await?.is_none();

    // Statistics.
    let mut lat: BTreeMap<Op, Vec<u32>> = BTreeMap::new();
    let mut errs: BTreeMap<Op, [u64; 2]> = BTreeMap::new();
    let mut by_class: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    let bucket_ms = (args.report_every.as_millis().max(1)) as u32;
    let n_intervals = (load_secs * 1000.0 / f64::from(bucket_ms)).ceil() as usize;
    let mut intervals: Vec<Interval> = (0..n_intervals.max(1))
        .map(|i| Interval {
            start_s: i as f64 * f64::from(bucket_ms) / 1000.0,
            ops: 0,
            errors_inside: 0,
            errors_outside: 0,
            restarts: 0,
            rss_max_kib: 0,
            fds_max: 0,
        })
        .collect();
    let slot = |t_ms: u32, len: usize| ((t_ms / bucket_ms) as usize).min(len - 1);
    for w in &workers {
        for r in &w.recs {
            lat.entry(r.op).or_default().push(r.lat_us);
            let i = slot(r.t_ms, intervals.len());
            intervals[i].ops += 1;
        }
        for e in &w.errors {
            let side = usize::from(!e.inside);
            errs.entry(e.op).or_default()[side] += 1;
            by_class.entry(e.class.to_owned()).or_default()[side] += 1;
            let i = slot(e.t_ms, intervals.len());
            if e.inside {
                intervals[i].errors_inside += 1;
            } else {
                intervals[i].errors_outside += 1;
            }
        }
    }
    for r in &restarts {
        let i = slot((r.at_s * 1000.0) as u32, intervals.len());
        intervals[i].restarts += 1;
    }
    for s in &samples {
        let i = slot((s.t_s * 1000.0) as u32, intervals.len());
        intervals[i].rss_max_kib = intervals[i].rss_max_kib.max(s.rss_kib);
        intervals[i].fds_max = intervals[i].fds_max.max(s.fds);
    }
    let mut ops = BTreeMap::new();
    let mut ops_total = 0;
    let all_ops: std::collections::BTreeSet<Op> = lat.keys().chain(errs.keys()).copied().collect();
    for op in all_ops {
        let mut l = lat.remove(&op).unwrap_or_default();
        l.sort_unstable();
        let [ei, eo] = errs.get(&op).copied().unwrap_or_default();
        ops_total += l.len() as u64;
        ops.insert(
            op.name().to_owned(),
            OpStats {
                ok: l.len() as u64,
                ops_per_s: l.len() as f64 / load_secs,
                p50_ms: percentile(&l, 0.50),
                p99_ms: percentile(&l, 0.99),
                errors_inside: ei,
                errors_outside: eo,
            },
        );
    }
    let errors_inside = by_class.values().map(|v| v[0]).sum();
    let errors_outside = by_class.values().map(|v| v[1]).sum();
    let outside_error_samples: Vec<String> = workers
        .iter()
        .flat_map(|w| w.outside_msgs.iter().cloned())
        .take(MAX_MESSAGES)
        .collect();

    let mut lifetimes: Vec<Lifetime> = Vec::new();
    for s in &samples {
        match lifetimes.last_mut() {
            Some(l) if l.pid == s.pid => {
                l.last_s = s.t_s;
                l.rss_max_kib = l.rss_max_kib.max(s.rss_kib);
                l.rss_last_kib = s.rss_kib;
                l.fds_max = l.fds_max.max(s.fds);
                l.fds_last = s.fds;
            }
            _ => lifetimes.push(Lifetime {
                pid: s.pid,
                first_s: s.t_s,
                last_s: s.t_s,
                rss_first_kib: s.rss_kib,
                rss_max_kib: s.rss_kib,
                rss_last_kib: s.rss_kib,
                fds_first: s.fds,
                fds_max: s.fds,
                fds_last: s.fds,
            }),
        }
    }

    let warmup_s = (load_secs / 5.0).min(60.0);
    let span = load_secs - warmup_s;
    let third_max = |lo: f64, hi: f64| {
        samples
            .iter()
            .filter(|s| s.t_s >= lo && s.t_s < hi)
            .map(|s| s.rss_kib)
            .max()
            .unwrap_or(0)
    };
    let rss_first = third_max(warmup_s, warmup_s + span / 3.0);
    let rss_last = third_max(load_secs - span / 3.0, f64::INFINITY);
    let rss_growth_pct = if rss_first == 0 {
        0.0
    } else {
        (rss_last as f64 / rss_first as f64 - 1.0) * 100.0
    };
    let fds_max = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let resources = Resources {
        warmup_s,
        rss_first_third_max_kib: rss_first,
        rss_last_third_max_kib: rss_last,
        rss_growth_pct,
        rss_flat: rss_growth_pct <= args.rss_growth_limit,
        fds_idle_start,
        fds_idle_end,
        fds_max,
        fds_flat: fds_idle_end <= fds_idle_start + args.fd_slack,
    };

    let final_check = FinalCheck {
        keys_checked,
        keys_present: expected.len() as u64,
        uncertain_resolved,
        listed: listed.len() as u64,
        list_matches,
        abandoned_expected,
        abandoned_found,
        unknown_uploads_allowed: unknown_allowed,
        unexpected_uploads: unexpected,
        graceful_shutdown_ok,
        failures: final_failures + lost_uploads + unexpected,
    };
    let pass = errors_outside == 0
        && load_failures == 0
        && final_check.failures == 0
        && graceful_shutdown_ok
        && resources.rss_flat
        && resources.fds_flat;
    if pass && temp && !args.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(SoakReport {
        duration_s: load_secs,
        clients: args.clients,
        keys_per_client: args.keys_per_client,
        max_size: args.max_size,
        seed,
        work_dir: work.display().to_string(),
        ops,
        ops_total,
        errors_inside,
        errors_outside,
        errors_by_class: by_class,
        outside_error_samples,
        ledger_failures_during_load: load_failures,
        restarts,
        samples,
        intervals,
        lifetimes,
        resources,
        final_check,
        failure_samples,
        pass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(seed: u64, len: u64) -> Content {
        Content::of(&content_bytes(seed, len))
    }

    #[test]
    fn acknowledged_mutations_are_certain() {
        let mut k = KeyState::absent();
        k.set(present(1, 10));
        assert!(!k.uncertain());
        assert!(!k.observe(present(2, 10)), "other content of the same size");
        assert!(!k.observe(Content::Absent));
        k.set(Content::Absent);
        assert!(k.observe(Content::Absent));
    }

    #[test]
    fn failed_mutation_leaves_old_or_new_until_read() {
        let mut k = KeyState::absent();
        k.set(present(1, 10));
        k.maybe(present(2, 20));
        k.maybe(Content::Absent);
        assert!(k.uncertain());
        // A listing narrows by size only.
        assert!(k.observe_listing(Some(20)));
        assert_eq!(k.certain(), Some(present(2, 20)));
        let mut k = KeyState::absent();
        k.maybe(present(3, 0));
        assert!(!k.observe_listing(Some(5)), "no candidate has 5 bytes");
        assert!(k.observe_listing(None));
        // A read resolves, and must be one of the candidates.
        let mut k = KeyState::absent();
        k.maybe(present(4, 7));
        assert!(k.observe(present(4, 7)));
        assert!(!k.uncertain());
        let mut k = KeyState::absent();
        k.maybe(present(4, 7));
        assert!(!k.observe(present(5, 7)));
    }

    #[test]
    fn content_is_deterministic_and_sized() {
        assert_eq!(content_bytes(9, 1000), content_bytes(9, 1000));
        assert_ne!(content_bytes(9, 1000), content_bytes(10, 1000));
        assert_eq!(content_bytes(9, 13).len(), 13);
        assert!(content_bytes(9, 0).is_empty());
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert!(pick_size(&mut rng, 100) <= 100);
            assert!(pick_size(&mut rng, 4 * MIB) <= 4 * MIB);
        }
    }

    #[test]
    fn windows_classify_by_overlap() {
        let w = Windows::default();
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let grace = Duration::from_millis(100);
        assert!(!w.overlaps(s(0), s(10), grace));
        w.begin(s(1000));
        assert!(w.overlaps(s(5000), s(6000), grace), "open window");
        w.end(s(2000));
        assert!(w.overlaps(s(900), s(1001), grace), "straddles the start");
        assert!(w.overlaps(s(2050), s(2060), grace), "inside the grace");
        assert!(!w.overlaps(s(2200), s(2300), grace));
        assert!(!w.overlaps(s(0), s(999), grace));
    }
}
