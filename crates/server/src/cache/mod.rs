//! `coffer cache`: the node-local read cache of a compute node (issue 19; protocol in
//! `coffer_core::cache_node`, design in docs/architecture.md "Compute-node cache").
//!
//! * [`store`] — the disk: complete, verified entries by version tag; fills; eviction.
//! * [`proxy`] — the request path: every request authorized at the origin, bodies of
//!   cacheable GETs served locally.
//!
//! The node holds its own credential only, never a tenant's secret; it listens with
//! the same connection limits and timeouts as the server's listeners (`crate::serve`).

pub mod proxy;
pub mod store;

use crate::limits::LimitSettings;
use crate::serve::{self, Guard};
use anyhow::Context;
use clap::Args;
use http::HeaderValue;
use proxy::{CacheMetrics, CacheService, Shared};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::CacheStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

fn size_arg(s: &str) -> Result<u64, String> {
    coffer_units::parse_size(s)
}

/// `coffer cache` flags.
#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
    /// The origin's S3 endpoint, e.g. `http://coffer:9000`.
    #[arg(long, env = "COFFER_CACHE_ORIGIN")]
    pub origin: String,
    /// Address the node's clients connect to (their S3 endpoint).
    #[arg(long, env = "COFFER_CACHE_LISTEN", default_value = "127.0.0.1:9100")]
    pub listen: SocketAddr,
    /// Cache directory on local NVMe (created 0700).
    #[arg(long, env = "COFFER_CACHE_DIR")]
    pub dir: PathBuf,
    /// Bytes the cache may keep (least recently used entries are evicted beyond it).
    #[arg(long, env = "COFFER_CACHE_MAX_BYTES", default_value = "1TiB", value_parser = size_arg)]
    pub max_bytes: u64,
    /// Objects smaller than this are passed through, never cached.
    #[arg(long, env = "COFFER_CACHE_MIN_OBJECT_SIZE", default_value = "4MiB", value_parser = size_arg)]
    pub min_object_size: u64,
    /// File holding this node's credential (`coffer cache-node create --credential-file`).
    #[arg(long, env = "COFFER_CACHE_NODE_CREDENTIAL_FILE")]
    pub node_credential_file: PathBuf,
}

/// A running cache node.
pub struct RunningCache {
    pub addr: SocketAddr,
    pub store: Arc<CacheStore>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<bool>,
}

impl RunningCache {
    /// Stops accepting, lets requests finish (bounded), returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Opens the cache directory and starts serving on `args.listen` (port 0: any).
pub async fn start(args: CacheArgs) -> anyhow::Result<RunningCache> {
    if let Some(p) = coffer_core::crash::check_env().map_err(anyhow::Error::msg)? {
        tracing::warn!(point = %p, "crash point armed (fault-injection test)");
    }
    let text = coffer_core::local_file::read_regular_file(
        &args.node_credential_file,
        4096,
        coffer_core::local_file::Links::Follow,
    )
    .with_context(|| format!("reading {}", args.node_credential_file.display()))?;
    let credential = String::from_utf8(text)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| coffer_core::cache_node::is_credential_shaped(s))
        .context("the node credential file does not hold a node credential (COFFER-NODE-…)")?;
    let credential = HeaderValue::from_str(&credential)?;
    let origin_url = reqwest::Url::parse(&args.origin).context("--origin is not a URL")?;
    anyhow::ensure!(
        matches!(origin_url.scheme(), "http" | "https")
            && origin_url.host_str().is_some()
            && origin_url.username().is_empty()
            && origin_url.password().is_none()
            && origin_url.path() == "/"
            && origin_url.query().is_none(),
        "--origin must be an http:// or https:// URL with a host and nothing after it"
    );

    let dir = args.dir.clone();
    let max = args.max_bytes;
    let store = Arc::new(
        tokio::task::spawn_blocking(move || CacheStore::open(&dir, max))
            .await?
            .with_context(|| format!("opening the cache directory {}", args.dir.display()))?,
    );
    // A proxy: never follow redirects, never use an environment proxy, never
    // decompress (reqwest is built without it), stream both ways.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        // A stalled origin fails the request (and a fill, whose readers then move on)
        // instead of holding it forever.
        .read_timeout(Duration::from_secs(120))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .build()?;
    let metrics = CacheMetrics::default();
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    store.counters.register(&mut registry);
    let listener_metrics = coffer_core::metrics::ListenerMetrics::default();
    listener_metrics.register(&mut registry);
    let shared = Arc::new(Shared {
        origin: origin_url,
        client,
        credential,
        min_size: args.min_object_size,
        store: store.clone(),
        metrics,
        registry,
    });
    let limits = LimitSettings::default().resolve()?;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight));
    let guard =
        Guard::s3(limits, in_flight, listener_metrics).with_liveness(Arc::new(|m, u, _| {
            matches!(*m, http::Method::GET | http::Method::HEAD) && u.path() == proxy::HEALTH_PATH
        }));
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve::serve(
        listener,
        None,
        CacheService(shared),
        rx,
        Duration::from_secs(10),
        Arc::from(Vec::new()),
        guard,
    ));
    tracing::info!(origin = %args.origin, dir = %args.dir.display(), max_bytes = args.max_bytes, "compute-node cache listening on {addr}");
    Ok(RunningCache {
        addr,
        store,
        stop: tx,
        task,
    })
}
