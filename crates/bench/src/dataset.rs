//! `coffer bench-dataset`: a training job's read pattern — a dataset of large objects
//! read whole, epoch after epoch, by many streams at once — for measuring a
//! compute-node cache (`coffer cache`) against its origin.
//!
//! Each epoch reads every object once (`--streams` at a time, in a different order
//! each epoch, as a shuffling data loader does), checks each object's length, and
//! reports wall time, MiB/s and the client's CPU. `--upload` first writes the dataset
//! (deterministic bytes).

use crate::client::{Endpoint, S3Client};
use crate::sigv4::Signer;
use anyhow::{Result, ensure};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Flags of `coffer bench-dataset`.
#[derive(Debug, Clone, clap::Args)]
pub struct DatasetArgs {
    /// S3 endpoint (http only), path-style: the origin, or a compute-node cache.
    #[arg(
        long,
        env = "COFFER_BENCH_ENDPOINT",
        default_value = "http://127.0.0.1:9000"
    )]
    pub endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    #[arg(long, default_value = "coffer-dataset")]
    pub bucket: String,
    /// Objects in the dataset (`shard-00000`, …).
    #[arg(long, default_value_t = 32)]
    pub objects: usize,
    /// Size of each object.
    #[arg(long, default_value = "64MiB", value_parser = crate::units::parse_size)]
    pub size: u64,
    /// Concurrent reads.
    #[arg(long, default_value_t = 16)]
    pub streams: usize,
    /// Epochs to read (0: only upload).
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Write the dataset first (creating the bucket).
    #[arg(long)]
    pub upload: bool,
    /// One JSON line per epoch instead of a text line.
    #[arg(long)]
    pub json: bool,
}

fn key(i: usize) -> String {
    format!("shard-{i:05}")
}

/// A permutation of `0..n` for epoch `e` (deterministic; different per epoch).
fn order(n: usize, e: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = (e as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

pub async fn run(args: DatasetArgs) -> Result<()> {
    ensure!(
        args.objects > 0 && args.streams > 0,
        "--objects and --streams must be ≥ 1"
    );
    let signer = Signer::new(&args.access_key, &args.secret_key, &args.region);
    let client = Arc::new(S3Client::new(Endpoint::parse(&args.endpoint)?, signer));
    if args.upload {
        client.create_bucket(&args.bucket).await?;
        let size = usize::try_from(args.size)?;
        let data = Bytes::from(
            (0..size)
                .map(|i| (i as u8).wrapping_mul(31))
                .collect::<Vec<u8>>(),
        );
        let t0 = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..args.streams.min(args.objects) {
            let (client, next, data, bucket) = (
                client.clone(),
                next.clone(),
                data.clone(),
                args.bucket.clone(),
            );
            let n = args.objects;
            set.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, anyhow::Error>(());
                    }
                    client.put_object(&bucket, &key(i), data.clone()).await?;
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        eprintln!(
            "uploaded {} x {} MiB in {:.1} s",
            args.objects,
            args.size >> 20,
            t0.elapsed().as_secs_f64()
        );
    }
    for e in 0..args.epochs {
        let keys = Arc::new(order(args.objects, e));
        let next = Arc::new(AtomicUsize::new(0));
        let cpu0 = crate::cpu::self_seconds();
        let t0 = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..args.streams.min(args.objects) {
            let (client, next, keys, bucket) = (
                client.clone(),
                next.clone(),
                keys.clone(),
                args.bucket.clone(),
            );
            let size = args.size;
            set.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&k) = keys.get(i) else {
                        return Ok::<_, anyhow::Error>(());
                    };
                    let n = client.get_object(&bucket, &key(k)).await?;
                    ensure!(n == size, "{} returned {n} bytes, expected {size}", key(k));
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        let secs = t0.elapsed().as_secs_f64();
        let mib = (args.objects as u64 * args.size) as f64 / (1u64 << 20) as f64;
        let cpu = match (cpu0, crate::cpu::self_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        if args.json {
            println!(
                "{}",
                serde_json::json!({"epoch": e + 1, "seconds": secs, "mibPerSecond": mib / secs,
                    "objects": args.objects, "size": args.size, "streams": args.streams,
                    "clientCpuSeconds": cpu})
            );
        } else {
            println!(
                "epoch {}: {} x {} MiB with {} streams in {secs:.2} s = {:.0} MiB/s (client CPU {cpu:.2} s)",
                e + 1,
                args.objects,
                args.size >> 20,
                args.streams,
                mib / secs
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn epochs_are_permutations_in_different_orders() {
        let (a, b) = (super::order(100, 0), super::order(100, 1));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_ne!(a, b);
    }
}
