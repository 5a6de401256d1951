//! `coffer bench`: a built-in S3 load generator (in the spirit of MinIO's warp).
//!
//! This crate owns the benchmark end to end: its own minimal SigV4 S3 client over hyper (so no SDK
//! cost sits in the measurement), the workloads (`put-large`, `get-large`, `put-small`,
//! `get-small`, `list`, `multipart`), server and client CPU accounting from /proc, the in-process
//! null "ceiling" endpoint that gives a same-machine baseline, and the report (table or JSON).
//! `--audit-compare` adds put-small with the bench bucket's audit logging off and on.
//! [`soak`] is `coffer soak`: long mixed load against a supervised server with restarts,
//! checked against a client-side ledger.
//!
//! The `coffer` binary exposes it as `coffer bench ...` through [`BenchArgs`] and [`run`];
//! [`execute`] returns the [`Report`] instead of printing it.

pub mod attack;
mod body;
mod client;
mod cpu;
pub mod dataset;
mod report;
pub mod sigv4;
mod sink;
pub mod soak;
mod units;
pub mod warm;
mod workloads;
pub mod xml;

use std::time::Duration;

pub use report::{Case, Report, Sample, Summary};

/// Flags of `coffer bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint (http only), addressed path-style. Several comma-separated endpoints
    /// (nodes of one scale-out cluster) share the requests round-robin; server CPU is
    /// then measured for the first one only.
    #[arg(
        long,
        env = "COFFER_BENCH_ENDPOINT",
        default_value = "http://127.0.0.1:9000"
    )]
    pub endpoint: String,

    /// Access key id (not needed with --ceiling-only).
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: Option<String>,

    /// Secret access key (not needed with --ceiling-only).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// SigV4 signing region.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// Bucket to use; created if missing.
    #[arg(long, default_value = "coffer-bench")]
    pub bucket: String,

    /// Workloads to run, comma separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "put-large,get-large,put-small,get-small,list,multipart"
    )]
    pub workloads: Vec<Workload>,

    /// Runs per workload; the report gives their median, min and max.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// Object size for put-large / get-large.
    #[arg(long, default_value = "64MiB", value_parser = units::parse_size)]
    pub large_size: u64,

    /// Concurrent streams for put-large / get-large, comma separated (one case each).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub streams: Vec<usize>,

    /// Object size for put-small / get-small.
    #[arg(long, default_value = "4KiB", value_parser = units::parse_size)]
    pub small_size: u64,

    /// Concurrent workers for put-small / get-small and for setup uploads.
    #[arg(long, default_value_t = 16)]
    pub workers: usize,

    /// Length of each timed run: streams / workers repeat whole requests (large objects, small
    /// objects, full listings) until it has passed. Multipart runs upload one object instead.
    /// Small-object runs use --ops instead when given.
    #[arg(long, default_value = "5s", value_parser = units::parse_duration)]
    pub duration: Duration,

    /// Requests per put-small / get-small run instead of --duration.
    #[arg(long)]
    pub ops: Option<u64>,

    /// Keys created (once) for the list workload.
    #[arg(long, default_value_t = 10_000)]
    pub list_keys: u64,

    /// Object size for the multipart workload.
    #[arg(long, default_value = "1GiB", value_parser = units::parse_size)]
    pub multipart_size: u64,

    /// Part size for the multipart workload.
    #[arg(long, default_value = "16MiB", value_parser = units::parse_size)]
    pub part_size: u64,

    /// Parts uploaded concurrently in the multipart workload.
    #[arg(long, default_value_t = 4)]
    pub part_concurrency: usize,

    /// Server process whose CPU time is reported; auto-detected from the endpoint's port if
    /// omitted (the process must be readable in /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Also run every workload against an in-process null endpoint and report the ratio.
    #[arg(long)]
    pub ceiling: bool,

    /// Only run against the in-process null endpoint (no server needed).
    #[arg(long, conflicts_with = "ceiling")]
    pub ceiling_only: bool,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    /// After the workloads, run put-small twice more on the server: with the bench
    /// bucket's audit logging off, then on (set through the management API; needs
    /// --api-endpoint and an API token of the bucket's org admin). The report gets the
    /// cases `put-small audit=off` and `put-small audit=on`.
    #[arg(long, conflicts_with = "ceiling_only")]
    pub audit_compare: bool,

    /// After the workloads, run put-large and get-large once more (each --streams
    /// value) in a second bucket, `<bucket>-sse`, whose default encryption is SSE-S3:
    /// the report gets the cases `… sse=off` (the bench bucket) and `… sse=on`, measured
    /// one after the other in this run.
    #[arg(long, conflicts_with = "ceiling_only")]
    pub sse_compare: bool,

    /// Management API endpoint for --audit-compare (http only).
    #[arg(long, env = "COFFER_ENDPOINT", default_value = "http://127.0.0.1:9001")]
    pub api_endpoint: String,

    /// File holding the API token for --audit-compare [env: COFFER_TOKEN_FILE; or the
    /// token itself in COFFER_TOKEN].
    #[arg(long, env = "COFFER_TOKEN_FILE")]
    pub api_token_file: Option<std::path::PathBuf>,

    /// Delete the objects the benchmark created on the server afterwards.
    #[arg(long)]
    pub cleanup: bool,
}

/// One benchmark workload.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    PutLarge,
    GetLarge,
    PutSmall,
    GetSmall,
    List,
    Multipart,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Self::PutLarge => "put-large",
            Self::GetLarge => "get-large",
            Self::PutSmall => "put-small",
            Self::GetSmall => "get-small",
            Self::List => "list",
            Self::Multipart => "multipart",
        }
    }
}

/// Runs the benchmark described by `args` and prints the report (a table, or JSON with `--json`)
/// to stdout. Progress goes to stderr.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = execute(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

/// Runs the benchmark and returns the report without printing it.
pub async fn execute(args: &BenchArgs) -> anyhow::Result<Report> {
    workloads::execute(args).await
}
