//! `PgMetaStore`: metadata in PostgreSQL (or a wire-compatible distributed SQL engine:
//! CockroachDB, YugabyteDB), shared by several Coffer nodes: the `Meta` store on the `Pg`
//! engine. This module connects, runs the store's rules in retried transactions, and
//! owns the change feed (`feed`) that keeps other nodes' caches coherent; `seam.rs`
//! holds the SQL of the rules' row operations.
//!
//! Invariants:
//! * Every write is one transaction, every read one statement or one REPEATABLE READ
//!   transaction, retried from the start with
//!   backoff when the engine reports a serialization failure or deadlock (SQLSTATE 40001,
//!   40P01) — CockroachDB and YugabyteDB report those under contention at any isolation.
//! * Writers of a bucket's objects (put, delete, complete) and `delete_bucket` first lock
//!   the bucket row (`SELECT … FOR UPDATE`). That row carries the usage counters, so the
//!   conditions checked after taking it (write preconditions, caps, emptiness) hold at
//!   commit, across nodes, at READ COMMITTED and above; uploads are locked the same way
//!   by `complete_upload`/`abort_upload` (exclusive) and `put_part`/`create_upload`
//!   (shared).
//! * `buckets.usage_*` equal the sums over the bucket's `objects` rows.
//! * Quota checks (`create_access_key`, `put_policy`) first lock the org's row, so
//!   creations in one org are serialized and their counts hold at commit.
//! * Every transaction that changes a cached record (access-key state, org policies)
//!   bumps `coffer_changes.version` and, on PostgreSQL, sends a `NOTIFY` in the same
//!   transaction, so the notification is delivered if and only if the change commits.
//! * Database errors become `Error::Internal` with context (logged, never shown to
//!   clients), except disk-full (53100), which becomes `Error::InsufficientStorage`.

mod feed;
mod schema;
mod seam;
pub mod testing;

pub use feed::PgChangeFeed;

use crate::engine::{Engine, Read, Rule};
use crate::meta::Meta;
use coffer_core::{Error, Result};
use seam::Tx;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;

use coffer_core::metrics::{MetaMetrics, Registry, const_gauge};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

/// Attempts of one transaction before a serialization failure is reported.
const MAX_ATTEMPTS: u32 = 40;
/// Channel of change notifications.
pub(crate) const CHANNEL: &str = "coffer_changes";

/// A transaction body's error: the database's (possibly retryable) or the domain's.
pub(crate) enum PgErr {
    Db(sqlx::Error),
    App(Error),
}

impl From<sqlx::Error> for PgErr {
    fn from(e: sqlx::Error) -> Self {
        PgErr::Db(e)
    }
}

impl From<Error> for PgErr {
    fn from(e: Error) -> Self {
        PgErr::App(e)
    }
}

type TxResult<T> = std::result::Result<T, PgErr>;

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Serialization failure or deadlock: the whole transaction may simply be run again.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(sqlstate(e).as_deref(), Some("40001" | "40P01"))
}

/// Maps a database error to the domain error, with `ctx` for the log.
pub(crate) fn db_err(ctx: &str, e: sqlx::Error) -> Error {
    if sqlstate(&e).as_deref() == Some("53100") {
        return Error::InsufficientStorage("the metadata database's disk is full".into());
    }
    Error::Internal(format!("postgres {ctx}: {e}"))
}

/// Exponential backoff with jitter: 2 ms doubling to 256 ms.
async fn backoff(attempt: u32) {
    let cap = 2u64 << attempt.min(7);
    let ms = rand::random_range(cap / 2..=cap);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Decides what one attempt's outcome means: `None` = run the transaction again.
async fn settle<T>(
    r: TxResult<T>,
    ctx: &str,
    attempt: &mut u32,
    metrics: &MetaMetrics,
) -> Option<Result<T>> {
    match r {
        Ok(v) => Some(Ok(v)),
        Err(PgErr::App(e)) => Some(Err(e)),
        Err(PgErr::Db(e)) if retryable(&e) && *attempt + 1 < MAX_ATTEMPTS => {
            *attempt += 1;
            metrics.retry();
            backoff(*attempt).await;
            None
        }
        Err(PgErr::Db(e)) => {
            metrics.failure();
            Some(Err(db_err(ctx, e)))
        }
    }
}

/// Runs `$body` (an expression using `$c: &mut PgConnection`, `?` and `.await`) in a
/// transaction, retried per `settle`.
macro_rules! tx {
    ($s:expr, $ctx:expr, |$c:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        let started = std::time::Instant::now();
        loop {
            let r: TxResult<_> = async {
                let mut tx = $s.pool.begin().await?;
                let v = {
                    let $c: &mut PgConnection = &mut *tx;
                    $body
                };
                coffer_core::crash::point("postgres.before_commit");
                tx.commit().await?;
                coffer_core::crash::point("postgres.after_commit");
                Ok(v)
            }
            .await;
            if let Some(out) = settle(r, $ctx, &mut attempt, &$s.metrics).await {
                $s.metrics.transaction(started.elapsed());
                break out;
            }
        }
    }};
}

/// Like `tx!` for a single statement, read or write (no BEGIN/COMMIT round trips: it
/// commits on its own). Same retry of transient errors.
macro_rules! stmt {
    ($s:expr, $ctx:expr, |$c:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            let r: TxResult<_> = async {
                let mut conn = $s.pool.acquire().await?;
                let $c: &mut PgConnection = &mut *conn;
                Ok($body)
            }
            .await;
            if let Some(out) = settle(r, $ctx, &mut attempt, &$s.metrics).await {
                break out;
            }
        }
    }};
}

fn key_string(b: Vec<u8>) -> Result<String> {
    String::from_utf8(b).map_err(|_| Error::internal("corrupt object key (not UTF-8)"))
}

/// Version listing: the current objects (position `i64::MAX`, newest of their key) and
/// `object_versions` rows (position `seq`) merged by key ascending, position descending.
/// $1 bucket, $2 lower bound (`>=`, the prefix), $3 the prefix's upper bound or NULL,
/// $4 key marker, $5 version position marker (rows of the marker key with a smaller
/// position follow it), $6 limit. Each arm is an index range scan cut at the limit, so
/// the final sort sees at most twice the limit, whatever the bucket's size.
const LIST_VERSIONS_SQL: &str = "
SELECT key, version_id, dm, size, etag, last_modified, latest, pos FROM (
  SELECT key, coalesce(version_id, 'null') AS version_id, FALSE AS dm, size, etag,
         last_modified, 9223372036854775807::BIGINT AS pos, TRUE AS latest
  FROM objects
  WHERE bucket = $1 AND key >= $2 AND ($3::BYTEA IS NULL OR key < $3) AND key > $4
  ORDER BY key LIMIT $6
) cur
UNION ALL
SELECT key, version_id, dm, size, etag, last_modified, latest, pos FROM (
  SELECT v.key AS key, v.version_id AS version_id, v.delete_marker AS dm, v.size AS size,
         v.etag AS etag, v.last_modified AS last_modified, v.seq AS pos,
         (NOT EXISTS (SELECT 1 FROM objects o WHERE o.bucket = v.bucket AND o.key = v.key)
          AND v.seq = (SELECT max(w.seq) FROM object_versions w
                       WHERE w.bucket = v.bucket AND w.key = v.key)) AS latest
  FROM object_versions v
  WHERE v.bucket = $1 AND v.key >= $2 AND ($3::BYTEA IS NULL OR v.key < $3)
    AND (v.key > $4 OR (v.key = $4 AND v.seq < $5))
  ORDER BY v.key, v.seq DESC LIMIT $6
) old
ORDER BY 1, 8 DESC LIMIT $6";

/// Makes the current transaction one snapshot (it must not have read yet).
async fn repeatable_read(c: &mut PgConnection) -> TxResult<()> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The PostgreSQL-compatible engine. Cheap to share behind an `Arc`.
pub struct Pg {
    pool: PgPool,
    /// The engine supports `LISTEN/NOTIFY` (PostgreSQL; not CockroachDB or YugabyteDB).
    notify: bool,
    metrics: MetaMetrics,
}

/// The metadata store on a PostgreSQL-compatible database.
pub type PgMetaStore = Meta<Pg>;

impl Meta<Pg> {
    /// Connects to `url` (`postgres://user:password@host:port/db?sslmode=…`), applies
    /// pending migrations (serialized across nodes by the migration lock row), and refuses
    /// a database from a newer schema version (`FailedPrecondition`).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, 16).await
    }

    /// `connect` with an explicit connection-pool size.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| Error::invalid(format!("metadata database URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| db_err("connect", e))?;
        schema::migrate(&pool).await?;
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&pool)
            .await
            .map_err(|e| db_err("read the server version", e))?;
        let notify = !(version.contains("CockroachDB") || version.contains("-YB-"));
        Ok(Meta(Pg {
            pool,
            notify,
            metrics: MetaMetrics::new("postgres"),
        }))
    }

    /// Registers the transaction metrics and the connection pool's state.
    pub fn register_metrics(&self, r: &mut Registry) {
        self.0.metrics.register(r);
        r.register_collector(Box::new(PoolCollector(self.0.pool.clone())));
    }

    /// The feed of changes committed by every node using this database.
    pub fn change_feed(&self) -> PgChangeFeed {
        PgChangeFeed::new(self.0.pool.clone(), self.0.notify)
    }

    /// Checks that the database answers (readiness probe).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.0.pool)
            .await
            .map_err(|e| db_err("ping", e))?;
        Ok(())
    }

    #[doc(hidden)]
    pub async fn set_schema_version_for_tests(&self, v: i64) -> Result<()> {
        schema::set_version(&self.0.pool, v).await
    }
}

/// The connection pool's state, read at each scrape.
#[derive(Debug)]
struct PoolCollector(PgPool);

impl Collector for PoolCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let size = i64::from(self.0.size());
        let idle = i64::try_from(self.0.num_idle()).unwrap_or(i64::MAX);
        let max = i64::from(self.0.options().get_max_connections());
        for (name, help, v) in [
            (
                "coffer_postgres_pool_connections",
                "Connections the PostgreSQL pool holds open",
                size,
            ),
            (
                "coffer_postgres_pool_idle_connections",
                "Open PostgreSQL connections not in use",
                idle,
            ),
            (
                "coffer_postgres_pool_max_connections",
                "The PostgreSQL pool's connection limit",
                max,
            ),
        ] {
            const_gauge(&mut e, name, help, v)?;
        }
        Ok(())
    }
}

impl Pg {
    /// The rules' view of a transaction on `c`.
    fn tx<'a>(&self, c: &'a mut PgConnection) -> Tx<'a> {
        Tx {
            c,
            notify: self.notify,
        }
    }
}

impl Engine for Pg {
    type Err = PgErr;
    type Tx<'c> = Tx<'c>;
    /// Several nodes share the database: the audit spool of each node records events.
    const AUDIT_OUTBOX: bool = false;

    async fn write<A, T>(
        &self,
        what: &'static str,
        mut args: A,
        rule: Rule<Self, A, T>,
    ) -> Result<T>
    where
        A: Send + 'static,
        T: Send + 'static,
    {
        tx!(self, what, |c| rule(&mut self.tx(c), &mut args).await?)
    }

    async fn read<A, T>(
        &self,
        how: Read,
        what: &'static str,
        mut args: A,
        rule: Rule<Self, A, T>,
    ) -> Result<T>
    where
        A: Send + 'static,
        T: Send + 'static,
    {
        match how {
            Read::One => stmt!(self, what, |c| rule(&mut self.tx(c), &mut args).await?),
            Read::Snapshot => tx!(self, what, |c| {
                repeatable_read(c).await?;
                rule(&mut self.tx(c), &mut args).await?
            }),
        }
    }
}
