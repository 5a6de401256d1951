//! `coffer cache warm s3://bucket/prefix`: prefetches a dataset into a compute-node cache
//! with the caller's own credentials — it lists the prefix through the node and reads
//! every object large enough to be cached, discarding the bytes (the node keeps them).
//! The origin authorizes each read as the caller's, so a warm can fetch nothing the
//! caller may not read.

use crate::client::{Endpoint, S3Client};
use crate::sigv4::Signer;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Flags of `coffer cache warm`.
#[derive(Debug, Clone, clap::Args)]
pub struct WarmArgs {
    /// What to prefetch: `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// The node's endpoint (its `--listen` address).
    #[arg(
        long,
        env = "COFFER_CACHE_ENDPOINT",
        default_value = "http://127.0.0.1:9100"
    )]
    pub endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: String,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Objects smaller than this are skipped (the node does not cache them); use the
    /// node's `--min-object-size`.
    #[arg(long, default_value = "4MiB", value_parser = crate::units::parse_size)]
    pub min_object_size: u64,
    /// Concurrent reads.
    #[arg(long, default_value_t = 8)]
    pub streams: usize,
}

/// `(bucket, prefix)` of an `s3://` URL.
fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .context("the dataset must be given as s3://bucket[/prefix]")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("no bucket in {url:?}");
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

pub async fn run(args: WarmArgs) -> Result<()> {
    let (bucket, prefix) = parse_url(&args.url)?;
    let signer = Signer::new(&args.access_key, &args.secret_key, &args.region);
    let client = Arc::new(S3Client::new(Endpoint::parse(&args.endpoint)?, signer));
    let all = client.list_sizes(&bucket, &prefix).await?;
    let objects: Vec<(String, u64)> = all
        .into_iter()
        .filter(|(_, s)| *s >= args.min_object_size)
        .collect();
    let total: u64 = objects.iter().map(|(_, s)| s).sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let objects = Arc::new(objects);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..args.streams.max(1) {
        let (client, objects, next, bucket, bar) = (
            client.clone(),
            objects.clone(),
            next.clone(),
            bucket.clone(),
            bar.clone(),
        );
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((key, size)) = objects.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                let n = client
                    .get_object(&bucket, key)
                    .await
                    .with_context(|| format!("reading {key}"))?;
                if n != *size {
                    bail!("{key}: read {n} bytes, listed {size}");
                }
                bar.inc(n);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    bar.finish_and_clear();
    eprintln!(
        "warmed {} objects ({} bytes) of s3://{bucket}/{prefix}",
        objects.len(),
        total
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls() {
        assert_eq!(
            super::parse_url("s3://b/p/q").unwrap(),
            ("b".into(), "p/q".into())
        );
        assert_eq!(super::parse_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(super::parse_url("b/p").is_err());
        assert!(super::parse_url("s3:///p").is_err());
    }
}
