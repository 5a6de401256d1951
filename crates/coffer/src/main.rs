//! The `coffer` binary: `coffer server` runs everything; other subcommands are tools
//! and clients.

use clap::{CommandFactory, Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "Coffer: self-hosted AI object storage (S3 + cwobject API)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the server's flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server (S3 endpoint and management API).
    Server(coffer_server::ServerArgs),
    /// Run a compute-node cache: an S3 endpoint on a GPU node that serves repeated
    /// reads of large objects from local disk, every request authorized at the origin.
    /// `coffer cache warm` prefetches a dataset, `coffer cache stats` shows counters.
    Cache(CacheCli),
    /// Check every stored object version and upload part against its integrity record
    /// (bitrot); read-only, safe while the server runs. Takes the server's flags or
    /// `--config`. Exit code: 0 clean, 1 damage found, 2 could not run.
    Scrub(ScrubArgs),
    /// Load-test an S3 endpoint (PUT/GET large and small objects, list, multipart).
    Bench(coffer_bench::BenchArgs),
    /// Read a dataset of large objects epoch after epoch with many streams (a training
    /// job's pattern), e.g. through a compute-node cache; `--upload` writes it first.
    BenchDataset(coffer_bench::dataset::DatasetArgs),
    /// Soak test: mixed load on a supervised server with periodic restarts, checked
    /// against a client-side ledger (exit code 1 if it fails).
    Soak(coffer_bench::soak::SoakArgs),
    /// Hostile clients (slowloris, oversized, idle floods, malformed HTTP) against a
    /// server while a 4 KiB GET loop measures its latency.
    Attack(coffer_bench::attack::AttackArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions { shell: clap_complete::Shell },
    /// Write man pages for `coffer` and every subcommand (`coffer.1`,
    /// `coffer-server.1`, …) into a directory.
    Man {
        /// Directory to write the pages into (created if missing).
        #[arg(long, default_value = ".")]
        out_dir: std::path::PathBuf,
    },
    /// Management API clients: `key`, `policy`, `bucket`, `org`, `can-i`, `token`,
    /// `user`, `whoami` (see `cli`).
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct CacheCli {
    #[command(subcommand)]
    cmd: Option<CacheCmd>,
    #[command(flatten)]
    run: Option<coffer_server::cache::CacheArgs>,
}

#[derive(Subcommand)]
enum CacheCmd {
    /// Prefetch `s3://bucket/prefix` into a node with your own credentials.
    Warm(coffer_bench::warm::WarmArgs),
    /// A node's counters: entries, bytes, hits, misses, bytes from cache and origin.
    Stats {
        /// The node's endpoint.
        #[arg(
            long,
            env = "COFFER_CACHE_ENDPOINT",
            default_value = "http://127.0.0.1:9100"
        )]
        endpoint: String,
        /// Print the JSON as the node sent it.
        #[arg(long)]
        json: bool,
    },
}

/// `coffer cache stats`: one `name value` line per counter (or the JSON).
async fn cache_stats(endpoint: &str, json: bool) -> anyhow::Result<()> {
    let url = format!(
        "{}{}",
        endpoint.trim_end_matches('/'),
        coffer_server::cache::proxy::STATS_PATH
    );
    let v: serde_json::Value = reqwest::get(&url).await?.error_for_status()?.json().await?;
    if json {
        println!("{v}");
        return Ok(());
    }
    if let Some(o) = v.as_object() {
        let width = o.keys().map(String::len).max().unwrap_or(0);
        for (k, val) in o {
            println!("{k:width$}  {val}");
        }
    }
    Ok(())
}

#[derive(clap::Args)]
struct ScrubArgs {
    #[command(flatten)]
    server: coffer_server::ServerArgs,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `coffer scrub`: the report on stdout (damage lines as they are found), the exit code.
async fn scrub(args: ScrubArgs) -> i32 {
    let run = async {
        let cfg = coffer_server::Config::resolve(&args.server)?;
        let (meta, blobs) = coffer_server::scrub::open_stores(&cfg).await?;
        let json = args.json;
        coffer_server::scrub::scrub(&*meta, &*blobs, |d| {
            if !json {
                eprintln!(
                    "found damage: bucket={} key={:?} version={} offset={}",
                    d.bucket, d.key, d.version, d.offset
                );
            }
        })
        .await
    };
    match run.await {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", report.render());
            }
            if report.is_clean() { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("coffer scrub: {e:#}");
            2
        }
    }
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_env("COFFER_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // s3s never reaches the log, whatever COFFER_LOG / RUST_LOG ask (`s3s::service=debug`
    // and span directives such as `[call]=debug` would win over an `s3s=off` directive):
    // at DEBUG it prints whole requests with their headers — SSE-C keys, signed header
    // values — and it logs every failed request at ERROR (the gateway logs what matters
    // itself). A global filter on the target, checked before the env filter.
    let no_s3s = tracing_subscriber::filter::filter_fn(|m| {
        let t = m.target();
        !(t == "s3s" || t.starts_with("s3s::"))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().finish().with(no_s3s).init();
    } else {
        builder.finish().with(no_s3s).init();
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Every subcommand may hold many sockets (the server, bench and attack clients).
    coffer_server::limits::raise_nofile_limit();
    match cli.command {
        Command::Server(args) => {
            // Before anything is created: the server's data is its user's alone.
            coffer_server::private_fs::restrict_umask();
            let cfg = coffer_server::Config::resolve(&args)?;
            init_logging(cfg.log_json);
            let running = coffer_server::start(cfg).await?;
            if running.bootstrap.is_some() {
                eprintln!(
                    "Bootstrapped a new organization. The admin API token is in {}",
                    running.bootstrap_token_path.display()
                );
            } else if running.bootstrap_token_path.exists() {
                eprintln!(
                    "The bootstrap admin API token is in {}",
                    running.bootstrap_token_path.display()
                );
            }
            running.run_until(shutdown_signal()).await;
            Ok(())
        }
        Command::Cache(CacheCli {
            cmd: Some(CacheCmd::Warm(args)),
            ..
        }) => coffer_bench::warm::run(args).await,
        Command::Cache(CacheCli {
            cmd: Some(CacheCmd::Stats { endpoint, json }),
            ..
        }) => cache_stats(&endpoint, json).await,
        Command::Cache(CacheCli {
            cmd: None,
            run: Some(args),
        }) => {
            coffer_server::private_fs::restrict_umask();
            init_logging(false);
            let running = coffer_server::cache::start(args).await?;
            shutdown_signal().await;
            running.stop().await;
            Ok(())
        }
        Command::Cache(CacheCli {
            cmd: None,
            run: None,
        }) => {
            anyhow::bail!(
                "coffer cache needs --origin, --dir and --node-credential-file (see --help)"
            )
        }
        Command::Scrub(args) => std::process::exit(scrub(args).await),
        Command::Completions { shell } => {
            // Rendered whole first: clap_complete panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "coffer", &mut script);
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            match out.write_all(&script).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Command::Man { out_dir } => {
            std::fs::create_dir_all(&out_dir)?;
            clap_mangen::generate_to(Cli::command(), &out_dir)?;
            Ok(())
        }
        Command::Bench(args) => coffer_bench::run(args).await,
        Command::BenchDataset(args) => coffer_bench::dataset::run(args).await,
        Command::Soak(args) => {
            if !coffer_bench::soak::run(args).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Attack(args) => coffer_bench::attack::run(args).await,
        // The client reports its own errors; its exit code distinguishes failed
        // requests (1) from usage errors (2).
        Command::Client(cmd) => std::process::exit(cli::run(cmd).await),
    }
}
