//! `SqliteMetaStore`: the embedded metadata database (SQLite, WAL, `synchronous=FULL`),
//! the `Meta` store on the `Sqlite` engine. This module opens the database and runs the
//! store's rules on its connections: writes through the group-committing writer thread
//! (`exec::Writer`), reads through a pool of read-only connections (`exec::Readers`);
//! `seam.rs` holds the SQL of the rules' row operations.
//!
//! Invariants:
//! * Every write is one closure run by the writer inside its own savepoint, so it is
//!   atomic; the rules are checked inside it, before any change. One writer serializes
//!   every write, so the rules' locks need no SQL.
//! * A snapshot read runs in one read transaction on its reader connection.
//! * `buckets.usage_*` equal the sums over the bucket's `objects` rows.
//! * SQLite errors become `Error::Internal` with context (logged, never shown to clients),
//!   except SQLITE_FULL, which becomes `Error::InsufficientStorage`.

mod exec;
pub(crate) mod schema;
mod seam;

use crate::engine::{Engine, Read, Rule};
use crate::meta::Meta;
use coffer_core::metrics::{MetaMetrics, Registry};
use coffer_core::{Error, Result};
use exec::{Readers, Writer};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use seam::Tx;
use std::future::Future;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_READERS: usize = 4;

/// Maps a SQLite error to the domain error, with `ctx` for the log.
pub(crate) fn sql_err(ctx: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull => {
            Error::InsufficientStorage("the metadata database's disk is full".into())
        }
        _ => Error::Internal(format!("sqlite {ctx}: {e}")),
    }
}

/// Raw bytes bound as TEXT: prefix upper bounds need not be valid UTF-8, and SQLite
/// orders TEXT before BLOB, so the bound must be TEXT to compare byte-wise with keys.
struct TextBytes(Vec<u8>);

impl rusqlite::ToSql for TextBytes {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(&self.0)))
    }
}

/// Runs one query and collects its first column as strings.
fn query_docs(c: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(sql).map_err(sql_err(sql))?;
    let rows = st
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(sql_err(sql))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_err(sql))
}

fn execute(c: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
    c.prepare_cached(sql)
        .and_then(|mut st| st.execute(params))
        .map_err(sql_err(sql))
}

/// Listing queries, indexed by `after_wins * 2 + has_upper_bound`: ?2 is the single lower
/// bound (`> start_after` or `>= prefix`), ?3 the prefix's exclusive upper bound, ?4 the
/// limit. Each is an index range scan on the primary key (tested via the query plan).
const LIST_SQL: [&str; 4] = [
    "SELECT key, size, etag, last_modified FROM objects
     WHERE bucket = ?1 AND key >= ?2 ORDER BY key LIMIT ?4",
    "SELECT key, size, etag, last_modified FROM objects
     WHERE bucket = ?1 AND key >= ?2 AND key < ?3 ORDER BY key LIMIT ?4",
    "SELECT key, size, etag, last_modified FROM objects
     WHERE bucket = ?1 AND key > ?2 ORDER BY key LIMIT ?4",
    "SELECT key, size, etag, last_modified FROM objects
     WHERE bucket = ?1 AND key > ?2 AND key < ?3 ORDER BY key LIMIT ?4",
];

/// Version listing: the current objects (position `i64::MAX`, newest of their key) and
/// `object_versions` rows (position `seq`) merged by key ascending, position descending.
/// ?1 bucket, ?2 lower bound (`>=`, the prefix), ?3 the prefix's upper bound or NULL,
/// ?4 key marker, ?5 version position marker (rows of the marker key with a smaller
/// position follow it), ?6 limit. Each arm is an index range scan cut at the limit, so
/// the final sort sees at most twice the limit, whatever the bucket's size.
const LIST_VERSIONS_SQL: &str = "
SELECT key, version_id, dm, size, etag, last_modified, latest, pos FROM (
  SELECT key, coalesce(version_id, 'null') AS version_id, 0 AS dm, size, etag,
         last_modified, 9223372036854775807 AS pos, 1 AS latest
  FROM objects
  WHERE bucket = ?1 AND key >= ?2 AND (?3 IS NULL OR key < ?3) AND key > ?4
  ORDER BY key LIMIT ?6
)
UNION ALL
SELECT key, version_id, dm, size, etag, last_modified, latest, pos FROM (
  SELECT v.key AS key, v.version_id AS version_id, v.delete_marker AS dm, v.size AS size,
         v.etag AS etag, v.last_modified AS last_modified, v.seq AS pos,
         (NOT EXISTS (SELECT 1 FROM objects o WHERE o.bucket = v.bucket AND o.key = v.key)
          AND v.seq = (SELECT max(w.seq) FROM object_versions w
                       WHERE w.bucket = v.bucket AND w.key = v.key)) AS latest
  FROM object_versions v
  WHERE v.bucket = ?1 AND v.key >= ?2 AND (?3 IS NULL OR v.key < ?3)
    AND (v.key > ?4 OR (v.key = ?4 AND v.seq < ?5))
  ORDER BY v.key, v.seq DESC LIMIT ?6
)
ORDER BY 1, 8 DESC LIMIT ?6";

/// The embedded engine. Cheap to share behind an `Arc`; dropping the last handle stops
/// the writer thread after it has answered every queued request.
pub struct Sqlite {
    writer: Writer,
    readers: Readers,
    metrics: MetaMetrics,
}

/// The embedded metadata store.
pub type SqliteMetaStore = Meta<Sqlite>;

impl Meta<Sqlite> {
    /// Opens (creating if needed) the database at `path`, applies pending migrations, and
    /// starts the writer thread. Refuses a database from a newer schema version
    /// (`FailedPrecondition`). Blocking: call at start-up, not on an async worker under load.
    /// Methods need a Tokio runtime (reads run on its blocking pool).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_readers(path, DEFAULT_READERS)
    }

    /// `open` with an explicit number of read-only connections (at least 1).
    pub fn open_with_readers(path: &Path, readers: usize) -> Result<Self> {
        // SQLite gives the -wal and -shm files the database file's mode: creating it 0600
        // keeps all three owner-only whatever the umask. An existing file is not opened
        // here (closing a second descriptor would drop this process's POSIX locks on it).
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        let mut w = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err("open"))?;
        w.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql_err("busy_timeout"))?;
        let mode: String = w
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql_err("journal_mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::internal(format!(
                "sqlite refused WAL mode (journal_mode = {mode})"
            )));
        }
        w.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -16384;
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(sql_err("pragmas"))?;
        w.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut w)?;

        let mut pool = Vec::new();
        for _ in 0..readers.max(1) {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sql_err("open reader"))?;
            r.busy_timeout(BUSY_TIMEOUT)
                .map_err(sql_err("busy_timeout"))?;
            // Readers map the database file: pages come straight from the OS page cache, so
            // a cold pooled connection does not pay one pread per page (listings of rows
            // with inline data touch one table page per key). Pages still in the WAL are
            // read normally.
            r.execute_batch("PRAGMA cache_size = -8192; PRAGMA mmap_size = 268435456;")
                .map_err(sql_err("reader pragmas"))?;
            r.set_prepared_statement_cache_capacity(64);
            pool.push(r);
        }
        let metrics = MetaMetrics::new("sqlite");
        Ok(Meta(Sqlite {
            writer: Writer::start(w, metrics.clone())?,
            readers: Readers::new(pool),
            metrics,
        }))
    }

    /// Registers the transaction metrics (group commits of the writer thread).
    pub fn register_metrics(&self, r: &mut Registry) {
        self.0.metrics.register(r);
    }
}

/// A read transaction on a reader connection: one snapshot until dropped, then rolled
/// back (it wrote nothing), also when the read fails or panics.
struct Snapshot<'a>(&'a mut Connection);

impl<'a> Snapshot<'a> {
    fn begin(c: &'a mut Connection) -> Result<Self> {
        c.execute_batch("BEGIN").map_err(sql_err("begin read"))?;
        Ok(Snapshot(c))
    }
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

impl Engine for Sqlite {
    type Err = Error;
    type Tx<'c> = Tx<'c>;
    const AUDIT_OUTBOX: bool = true;

    fn write<A, T>(
        &self,
        _what: &'static str,
        mut args: A,
        rule: Rule<Self, A, T>,
    ) -> impl Future<Output = Result<T>> + Send
    where
        A: Send + 'static,
        T: Send + 'static,
    {
        self.writer
            .run(move |c| seam::run(rule(&mut Tx(c), &mut args)))
    }

    fn read<A, T>(
        &self,
        how: Read,
        _what: &'static str,
        mut args: A,
        rule: Rule<Self, A, T>,
    ) -> impl Future<Output = Result<T>> + Send
    where
        A: Send + 'static,
        T: Send + 'static,
    {
        self.readers.run(move |c| match how {
            Read::One => seam::run(rule(&mut Tx(c), &mut args)),
            Read::Snapshot => {
                let snapshot = Snapshot::begin(c)?;
                seam::run(rule(&mut Tx(&mut *snapshot.0), &mut args))
            }
        })
    }
}

#[cfg(test)]
mod tests;
