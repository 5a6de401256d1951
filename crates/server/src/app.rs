//! Composition root: the only place that names concrete stores. Opens the data
//! directory (exclusively: one process per data directory; with PostgreSQL metadata
//! several nodes, each with its own data directory, share the database and the blob
//! directory), connects the change feed to the caches, loads or creates the master key, recovers storage, builds
//! the services, opens the audit spool, bootstraps the first org on an empty store, binds
//! both listeners and spawns them and the audit flusher (whose first flush replays what
//! a previous run left in the spool).

use crate::audit::flush::{FlushStats, Flusher};
use crate::audit::spool::{Spool, SpoolConfig, default_flush_events};
use crate::config::{Config, Metadata};
use crate::private_fs::{self, write_private_file};
use crate::serve;
use anyhow::{Context, bail};
use coffer_core::audit::AuditService;
use coffer_core::blob::BlobStore;
use coffer_core::change::{CacheCoherence, ChangeFeed, Subscription};
use coffer_core::clock::{Clock, SystemClock};
use coffer_core::identity::{Bootstrap, IdentityService, SecretCipher, hash_token};
use coffer_core::lifecycle::worker::{LifecycleStats, LifecycleWorker};
use coffer_core::meta::MetaStore;
use coffer_core::objects::{ObjectConfig, ObjectService};
use coffer_core::policy::PolicyEngine;
use coffer_core::policy_service::PolicyService;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A started server.
pub struct Running {
    pub s3_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// Set when this start bootstrapped an empty store.
    pub bootstrap: Option<Bootstrap>,
    pub bootstrap_token_path: PathBuf,
    pub secure: bool,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    audit: Arc<Flusher>,
    lifecycle: Arc<LifecycleWorker>,
    lifecycle_metrics: crate::metrics::LifecycleMetrics,
    /// Set when the blob directory is this node's alone (SQLite metadata): then, once
    /// every connection has finished, no reader is left for the blobs of overwritten
    /// objects, and a graceful stop deletes them instead of leaving them to recovery
    /// (not when the grace cut connections off: those may still be reading).
    sole_reader: Option<Arc<ObjectService>>,
    /// Set when a listener's graceful shutdown ran out of time with connections open.
    undrained: Arc<AtomicBool>,
    /// This node's id (audit object names, shared blob directory).
    pub node_id: String,
    /// Delivery of other nodes' changes to this node's caches (PostgreSQL metadata).
    _changes: Option<Subscription>,
    /// Held for the process lifetime: one server per data directory.
    _lock: std::fs::File,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // A connection the grace cut off may still be streaming an old blob.
        if let Some(objects) = self
            .sole_reader
            .filter(|_| !self.undrained.load(Ordering::SeqCst))
        {
            let n = objects.delete_retired_now().await;
            if n > 0 {
                tracing::info!(blobs = n, "deleted the blobs of overwritten objects");
            }
        }
    }

    /// Delivers every audit event acknowledged so far to the audit buckets now (the
    /// flusher otherwise runs every `audit_flush_secs` or 10,000 events).
    pub async fn flush_audit(&self) -> anyhow::Result<FlushStats> {
        Ok(self.audit.flush().await?)
    }

    /// Applies every bucket's lifecycle rules now (the worker otherwise runs every
    /// `lifecycle_interval_secs`).
    pub async fn run_lifecycle(&self) -> anyhow::Result<LifecycleStats> {
        Ok(lifecycle_pass(&self.lifecycle, &self.lifecycle_metrics).await?)
    }

    /// Runs until `signal` resolves, then shuts down gracefully.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

const MASTER_KEY_FILE: &str = "master.key";
pub(crate) const META_DB: &str = "meta.db";
pub(crate) const BLOB_DIR: &str = "blobs";
const LOCK_FILE: &str = "coffer.lock";
pub const BOOTSTRAP_TOKEN_FILE: &str = "bootstrap-token";
/// On a shared blob directory, an unreferenced blob or another node's temp file is
/// collected only once this old: no write in progress (blob commit → metadata commit)
/// takes that long.
pub const SHARED_ORPHAN_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    // Fault-injection tests arm a crash point through the environment (see
    // `coffer_core::crash`); a bad value must stop the server, not arm nothing.
    if let Some(p) = coffer_core::crash::check_env().map_err(anyhow::Error::msg)? {
        tracing::warn!(point = %p, "crash point armed: this process will abort there");
    }
    private_fs::private_dir(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    private_fs::tighten_files(&cfg.data_dir)
        .with_context(|| format!("restricting the files in {}", cfg.data_dir.display()))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(private_fs::FILE_MODE)
        .open(cfg.data_dir.join(LOCK_FILE))
        .context("opening the data directory lock file")?;
    let master_key_fresh;
    if lock.try_lock().is_err() {
        bail!(
            "data directory {} is in use by another coffer server",
            cfg.data_dir.display()
        );
    }

    let spool_dir = cfg.data_dir.join(crate::audit::SPOOL_DIR);
    private_fs::private_dir(&spool_dir)
        .and_then(|()| private_fs::tighten_files(&spool_dir))
        .with_context(|| format!("restricting {}", spool_dir.display()))?;
    let node = match &cfg.node_id {
        Some(n) => n.clone(),
        None => crate::audit::node_id(&spool_dir)?,
    };
    // A configured blob directory may be shared with other nodes and is the operator's
    // to set up; the default one is ours (what the store creates in either is 0700/0600).
    let blob_dir = match &cfg.blob_dir {
        Some(dir) => dir.clone(),
        None => {
            let dir = cfg.data_dir.join(BLOB_DIR);
            private_fs::private_dir(&dir)
                .with_context(|| format!("restricting {}", dir.display()))?;
            dir
        }
    };

    let mut metrics = crate::metrics::ServerMetrics::default();
    let (meta, pg, blobs, orphan_min_age): (Arc<dyn MetaStore>, _, Arc<dyn BlobStore>, _) =
        match &cfg.metadata {
            Metadata::Sqlite => {
                master_key_fresh = !cfg.data_dir.join(META_DB).exists();
                let meta = coffer_store::SqliteMetaStore::open(&cfg.data_dir.join(META_DB))
                    .context("opening the metadata database")?;
                let blobs = coffer_store::FsBlobStore::open(&blob_dir)
                    .context("opening the blob directory")?;
                meta.register_metrics(metrics.registry());
                blobs.register_metrics(metrics.registry());
                // We hold the directory lock, so no write is in flight: every temp file
                // and every unreferenced blob is a leftover of a crash.
                (
                    Arc::new(meta) as _,
                    None,
                    Arc::new(blobs) as _,
                    Duration::ZERO,
                )
            }
            Metadata::Postgres(url) => {
                // Several nodes share the database: a key created here would not be the
                // one the others use, so the master key must be provided.
                master_key_fresh = false;
                let pg = Arc::new(
                    coffer_store::PgMetaStore::connect(url)
                        .await
                        .context("connecting to the PostgreSQL metadata database")?,
                );
                let blobs = coffer_store::FsBlobStore::open_shared(&blob_dir, &node)
                    .context("opening the shared blob directory")?;
                pg.register_metrics(metrics.registry());
                blobs.register_metrics(metrics.registry());
                // Other nodes may be writing: only blobs older than any write in
                // progress may be unreferenced leftovers.
                (
                    pg.clone() as _,
                    Some(pg),
                    Arc::new(blobs) as _,
                    SHARED_ORPHAN_MIN_AGE,
                )
            }
        };
    let master_key = load_master_key(&cfg, master_key_fresh)?;
    let referenced = meta.referenced_blobs().await?;
    let (temps, orphans) = blobs.recover(&referenced, orphan_min_age).await?;
    if temps + orphans > 0 {
        tracing::info!(temps, orphans, "recovery removed leftover files");
    }

    let clock: Arc<dyn Clock> = match &cfg.clock {
        Some(c) => Arc::new(c.clone()),
        None => Arc::new(SystemClock),
    };
    let identity = Arc::new(
        IdentityService::new(meta.clone(), SecretCipher::new(&master_key), clock.clone())
            .with_quotas(cfg.quotas),
    );
    let engine = Arc::new(PolicyEngine::default());
    let policies =
        Arc::new(PolicyService::new(meta.clone(), engine.clone()).with_quotas(cfg.quotas));
    policies.load_all().await?;
    let objects = Arc::new(
        ObjectService::new(
            meta.clone(),
            blobs.clone(),
            clock.clone(),
            ObjectConfig {
                zones: cfg.zones.clone(),
                default_object_ownership: cfg.default_object_ownership,
                allow_insecure_ssec: cfg.allow_insecure_ssec,
                ..ObjectConfig::default()
            },
        )
        .with_keyring(Arc::new(coffer_core::sse::Keyring::derive(&master_key))),
    );

    let spool = Spool::open(SpoolConfig {
        dir: spool_dir,
        max_bytes: cfg.audit_spool_max_bytes,
        flush_events: default_flush_events(),
        full_policy: cfg.audit_spool_full,
        drains_outbox: meta.has_audit_outbox(),
    })
    .context("opening the audit spool")?;
    let audit = Arc::new(AuditService::new(
        meta.clone(),
        objects.clone(),
        spool.clone(),
    ));
    let mut flusher = Flusher::new(spool, objects.clone(), audit.clone(), node.clone())
        .context("opening the audit flusher")?;
    if meta.has_audit_outbox() {
        flusher = flusher.with_outbox(meta.clone());
    }
    flusher
        .recover_outbox()
        .await
        .context("recovering the audit outbox")?;
    let flusher = Arc::new(flusher);
    // Other nodes' key and policy changes reach this node's caches through the feed.
    let changes = pg.as_ref().map(|pg| {
        pg.change_feed().subscribe(Arc::new(CacheCoherence::new(
            identity.clone(),
            policies.clone(),
        )))
    });
    let lifecycle = Arc::new(
        LifecycleWorker::new(meta.clone(), objects.clone(), clock.clone())
            .with_audit(audit.clone()),
    );

    let bootstrap_token_path = cfg.data_dir.join(BOOTSTRAP_TOKEN_FILE);
    let bootstrap = if identity.needs_bootstrap().await? {
        let b = identity.prepare_bootstrap("default")?;
        // The token file is durable before the records are stored: a crash in between
        // leaves a file that the next start's bootstrap replaces, never an org whose
        // only admin token was lost.
        write_private_file(&bootstrap_token_path, b.token.as_bytes())
            .with_context(|| format!("writing {}", bootstrap_token_path.display()))?;
        let committed = identity.commit_bootstrap(&b).await;
        if !matches!(committed, Ok(true)) {
            // Not stored (failed, or another node bootstrapped the shared database
            // first): the file's token would never work.
            std::fs::remove_file(&bootstrap_token_path)
                .with_context(|| format!("removing {}", bootstrap_token_path.display()))?;
        }
        if committed? {
            Some(b)
        } else {
            tracing::info!("another node bootstrapped the shared metadata store");
            None
        }
    } else {
        None
    };
    if let Some(b) = &bootstrap {
        tracing::info!(
            org_id = %b.org.org_id,
            uid = %b.user.uid,
            path = %bootstrap_token_path.display(),
            "bootstrapped a new org and admin user; the admin API token is in the file"
        );
    }

    let operator_token_hash = match &cfg.operator_token_file {
        Some(path) => {
            let t = std::fs::read_to_string(path)
                .with_context(|| format!("reading operator token file {}", path.display()))?;
            let t = t.trim();
            if t.len() < 20 {
                bail!("the operator token must be at least 20 characters");
            }
            Some(hash_token(t))
        }
        None => None,
    };

    let tls = match &cfg.tls {
        Some((cert, key)) => Some(serve::tls_acceptor(cert, key)?),
        None => None,
    };

    // Request bytes parsed whole, over both listeners (SPEC §9).
    let budget = coffer_core::budget::ByteBudget::new(cfg.limits.max_buffered_bytes);
    let s3_service = coffer_s3::build_service(coffer_s3::S3Deps {
        objects: objects.clone(),
        identity: identity.clone(),
        policies: engine.clone(),
        domain: cfg.domain.clone(),
        zones: cfg.zones.clone(),
        audit: audit.clone(),
        budget: budget.clone(),
        unauthenticated_deadline: cfg.limits.header_timeout,
        access_log: cfg.access_log,
        metrics: metrics.requests.clone(),
        cache_grants: Some(coffer_core::cache_node::GrantKey::derive(&master_key)),
    });
    let router = coffer_mgmt::router(coffer_mgmt::MgmtDeps {
        identity: identity.clone(),
        policies: policies.clone(),
        engine: engine.clone(),
        objects: objects.clone(),
        meta: meta.clone(),
        audit,
        operator_token_hash,
        budget,
        metrics: metrics.requests.clone(),
        access_log: cfg.access_log,
    });
    metrics.observe_state(flusher.clone(), objects.clone());
    let (listener_metrics, lifecycle_metrics) =
        (metrics.listeners.clone(), metrics.lifecycle.clone());
    let metrics = Arc::new(metrics);
    let objects_for_stop = objects.clone();
    let router = router.route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
                    m.render(),
                )
            }
        }),
    );

    let s3_listener = TcpListener::bind(cfg.s3_listen)
        .await
        .with_context(|| format!("binding the S3 listener on {}", cfg.s3_listen))?;
    let api_listener = TcpListener::bind(cfg.api_listen)
        .await
        .with_context(|| format!("binding the management listener on {}", cfg.api_listen))?;
    let s3_addr = s3_listener.local_addr()?;
    let api_addr = api_listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The web console (and its same-origin S3 mount) on the management listener.
    let console = coffer_mgmt::console::router(coffer_mgmt::console::ConsoleConfig {
        // A wildcard bind address says nothing about how clients reach the listener.
        s3_endpoint: (!s3_addr.ip().is_unspecified()).then(|| format!("{scheme}://{s3_addr}")),
        region: cfg
            .zones
            .first()
            .cloned()
            .unwrap_or_else(|| "us-east-1".into()),
        s3_mount: coffer_mgmt::console::S3_MOUNT,
        mount_region: coffer_s3::gates::CONSOLE_REGION,
    });
    let api_service = crate::console::ApiService::new(router, console, s3_service.clone());
    tracing::info!("S3 endpoint listening on {scheme}://{s3_addr}");
    tracing::info!("management API listening on {scheme}://{api_addr}");

    let trusted_proxies: Arc<[coffer_core::policy::Cidr]> = cfg.trusted_proxies.clone().into();
    let nofile = crate::limits::raise_nofile_limit();
    tracing::info!(
        max_connections = cfg.limits.max_connections,
        max_in_flight = cfg.limits.max_in_flight,
        max_memory = cfg.limits.max_memory,
        open_file_limit = nofile,
        "connection limits"
    );
    let in_flight = Arc::new(tokio::sync::Semaphore::new(cfg.limits.max_in_flight));
    let probe_service = s3_service.clone();
    let s3_guard = serve::Guard::s3(
        cfg.limits.clone(),
        in_flight.clone(),
        listener_metrics.clone(),
    )
    .with_liveness(Arc::new(move |m, u, h| {
        probe_service.is_health_probe(m, u, h)
    }));
    let api_guard = serve::Guard::api(cfg.limits.clone(), in_flight, listener_metrics)
        .with_liveness(Arc::new(|m, u, _| {
            coffer_mgmt::health::is_liveness_probe(m, u)
        }));
    let (tx, rx) = watch::channel(false);
    let grace = Duration::from_secs(10);
    let undrained = Arc::new(AtomicBool::new(false));
    let (s3_undrained, api_undrained) = (undrained.clone(), undrained.clone());
    let s3_serve = serve::serve(
        s3_listener,
        tls.clone(),
        s3_service,
        rx.clone(),
        grace,
        trusted_proxies.clone(),
        s3_guard,
    );
    let api_serve = serve::serve(
        api_listener,
        tls.clone(),
        api_service,
        rx.clone(),
        grace,
        trusted_proxies.clone(),
        api_guard,
    );
    let tasks = vec![
        tokio::spawn(async move {
            if !s3_serve.await {
                s3_undrained.store(true, Ordering::SeqCst);
            }
        }),
        tokio::spawn(async move {
            if !api_serve.await {
                api_undrained.store(true, Ordering::SeqCst);
            }
        }),
        tokio::spawn(crate::audit::flush::run(
            flusher.clone(),
            Duration::from_secs(cfg.audit_flush_secs.max(1)),
            rx.clone(),
        )),
        tokio::spawn(run_lifecycle(
            lifecycle.clone(),
            lifecycle_metrics.clone(),
            Duration::from_secs(cfg.lifecycle_interval_secs.max(1)),
            rx,
        )),
    ];
    Ok(Running {
        s3_addr,
        api_addr,
        bootstrap,
        bootstrap_token_path,
        secure: tls.is_some(),
        shutdown: tx,
        tasks,
        audit: flusher,
        lifecycle,
        lifecycle_metrics,
        sole_reader: pg.is_none().then_some(objects_for_stop),
        undrained,
        node_id: node,
        _changes: changes,
        _lock: lock,
    })
}

/// One lifecycle pass, recorded in the metrics.
async fn lifecycle_pass(
    worker: &LifecycleWorker,
    metrics: &crate::metrics::LifecycleMetrics,
) -> coffer_core::Result<LifecycleStats> {
    let started = std::time::Instant::now();
    let out = worker.run_once().await;
    metrics.pass(started.elapsed(), out.as_ref().map_err(|_| ()));
    out
}

/// The lifecycle worker's loop: one run per `interval` (the first after one interval, so
/// start-up is not slowed), until shutdown.
async fn run_lifecycle(
    worker: Arc<LifecycleWorker>,
    metrics: crate::metrics::LifecycleMetrics,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match lifecycle_pass(&worker, &metrics).await {
            Ok(s) if s != LifecycleStats::default() => tracing::info!(
                expired_current = s.expired_current,
                expired_noncurrent = s.expired_noncurrent,
                removed_markers = s.removed_markers,
                aborted_uploads = s.aborted_uploads,
                "lifecycle run"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "lifecycle run failed"),
        }
    }
}

/// The master key seals access-key secrets. Order: `master_key_file` if configured (the
/// operator's file, which may be a link, e.g. a mounted secret); else `<data>/master.key`,
/// created (0600) only for a fresh data directory — a missing key next to an existing
/// database would make every stored secret unreadable — and never followed if it is a
/// symbolic link.
fn load_master_key(cfg: &Config, fresh: bool) -> anyhow::Result<[u8; 32]> {
    if let Some(path) = &cfg.master_key_file {
        if !path.exists() {
            bail!(
                "master key file {} is missing; access-key secrets cannot be decrypted without it",
                path.display()
            );
        }
        let text = std::fs::read(path)
            .with_context(|| format!("reading master key file {}", path.display()))?;
        return parse_master_key(path, &text);
    }
    let path = cfg.data_dir.join(MASTER_KEY_FILE);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !fresh {
                bail!(
                    "master key file {} is missing; access-key secrets cannot be decrypted without it",
                    path.display()
                );
            }
            let key: [u8; 32] = rand::random();
            write_private_file(&path, hex::encode(key).as_bytes())
                .with_context(|| format!("creating master key file {}", path.display()))?;
            Ok(key)
        }
        _ => {
            let text = private_fs::read_private_file(&path)
                .with_context(|| format!("reading master key file {}", path.display()))?;
            parse_master_key(&path, &text)
        }
    }
}

fn parse_master_key(path: &Path, text: &[u8]) -> anyhow::Result<[u8; 32]> {
    let text = std::str::from_utf8(text).unwrap_or_default();
    let bytes = hex::decode(text.trim())
        .ok()
        .filter(|b| b.len() == 32)
        .with_context(|| format!("{} must hold 64 hex characters", path.display()))?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}
