//! Stand-alone runner for the benchmark until `coffer bench` is wired up:
//! `cargo run --release -p coffer-bench --example bench -- --ceiling-only`.

use clap::Parser;

#[derive(Parser)]
#[command(name = "coffer-bench", about = "S3 load generator for Coffer")]
struct Cli {
    #[command(flatten)]
    args: coffer_bench::BenchArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    coffer_bench::run(Cli::parse().args).await
}
