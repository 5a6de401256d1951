//! How SQL reaches SQLite: one writer thread owning the only read-write connection
//! (group commit), and a small pool of read-only connections used from
//! `spawn_blocking`.
//!
//! Group commit: async callers send a boxed closure over a channel and await a oneshot.
//! The writer takes every queued request (up to `MAX_BATCH`), opens ONE `BEGIN
//! IMMEDIATE` transaction, runs each request inside its own `SAVEPOINT`, and ends with one
//! `COMMIT` — one WAL fsync for the whole batch. A request that fails (e.g. a precondition)
//! is rolled back to its savepoint alone; the others still commit.
//!
//! Invariants:
//! * A reply is sent only after the batch's `COMMIT` has returned, so an `Ok` reply means
//!   the change is durable (`synchronous=FULL`), and a reader started afterwards sees it.
//! * If the batch cannot commit (or a savepoint cannot be released/rolled back), the whole
//!   transaction is rolled back and every request of the batch gets the error; a request
//!   that had already failed on its own keeps its own error.
//! * If SQLite rolls the transaction back by itself while a request runs (SQLITE_FULL
//!   does), that request and those before it get its error (`InsufficientStorage` for a
//!   full disk, never a bare `Internal`) and the rest run in a new transaction, so a full
//!   disk never wedges the writer nor fails requests that needed no space.
//! * A panicking request is caught, rolled back to its savepoint and answered with
//!   `Internal`; the writer thread keeps serving.

use super::sql_err;
use coffer_core::metrics::MetaMetrics;
use coffer_core::{Error, Result, crash};
use parking_lot::Mutex;
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::{Semaphore, oneshot};

/// Upper bound on requests per transaction: bounds the latency a request can add to the
/// others of its batch.
const MAX_BATCH: usize = 1024;

/// One queued write request, type-erased.
trait WriteJob: Send {
    /// Runs the request inside the current savepoint; returns its error, if any.
    fn run(&mut self, conn: &mut Connection) -> Result<()>;
    /// Delivers the reply once the batch's fate (`commit`) is known.
    fn finish(self: Box<Self>, commit: &Result<()>);
}

struct TypedJob<T, F> {
    f: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteJob for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&mut Connection) -> Result<T> + Send,
{
    fn run(&mut self, conn: &mut Connection) -> Result<()> {
        let Some(f) = self.f.take() else {
            return Err(Error::internal("sqlite write request run twice"));
        };
        let r = catch_unwind(AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(Error::internal("sqlite write request panicked")));
        let outcome = r.as_ref().map(|_| ()).map_err(Clone::clone);
        self.result = Some(r);
        outcome
    }

    fn finish(self: Box<Self>, commit: &Result<()>) {
        let reply = match (self.result, commit) {
            // The request's own failure stands whatever happened to the batch.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(e)) => Err(e.clone()),
            (None, Ok(())) => Err(Error::internal("sqlite write request was not run")),
        };
        // The caller may have gone away (cancelled future): nothing to do then.
        let _ = self.reply.send(reply);
    }
}

/// Handle to the writer thread. Dropping it ends the thread once the queue is drained.
pub(crate) struct Writer {
    tx: mpsc::Sender<Box<dyn WriteJob>>,
}

impl Writer {
    pub(crate) fn start(conn: Connection, metrics: MetaMetrics) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Box<dyn WriteJob>>();
        std::thread::Builder::new()
            .name("coffer-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &metrics))
            .map_err(|e| Error::internal(format!("spawning the sqlite writer thread: {e}")))?;
        Ok(Self { tx })
    }

    /// Runs `f` on the writer connection inside a transaction shared with other queued
    /// requests; resolves after the transaction has committed.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            f: Some(f),
            result: None,
            reply,
        });
        self.tx
            .send(job)
            .map_err(|_| Error::internal("the sqlite writer thread has stopped"))?;
        rx.await
            .map_err(|_| Error::internal("the sqlite writer thread dropped a request"))?
    }
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Box<dyn WriteJob>>, metrics: &MetaMetrics) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, batch, metrics);
    }
}

fn exec_cached(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]).map(|_| ()))
        .map_err(sql_err(sql))
}

fn run_batch(conn: &mut Connection, mut batch: Vec<Box<dyn WriteJob>>, metrics: &MetaMetrics) {
    while !batch.is_empty() {
        let started = std::time::Instant::now();
        let (outcome, rest) = run_transaction(conn, &mut batch);
        metrics.transaction(started.elapsed());
        if outcome.is_ok() {
            crash::point("sqlite.after_commit");
        }
        if let Err(e) = &outcome {
            metrics.failure();
            tracing::error!(error = %e, requests = batch.len(), "sqlite batch failed");
        }
        for job in batch {
            job.finish(&outcome);
        }
        batch = rest;
    }
}

/// Runs `batch` in one transaction. If SQLite itself rolls the whole transaction back
/// while a request runs (it may on SQLITE_FULL, IOERR or NOMEM), the requests run so
/// far share that request's fate and the ones not yet run are returned, untouched, to
/// go into a fresh transaction: a full disk fails the writes that needed the space,
/// not every request that happened to be batched with them.
fn run_transaction(
    conn: &mut Connection,
    batch: &mut Vec<Box<dyn WriteJob>>,
) -> (Result<()>, Vec<Box<dyn WriteJob>>) {
    if let Err(e) = exec_cached(conn, "BEGIN IMMEDIATE") {
        return (Err(e), Vec::new());
    }
    for i in 0..batch.len() {
        let step = (|| {
            exec_cached(conn, "SAVEPOINT req")?;
            if let Err(cause) = batch[i].run(conn) {
                if conn.is_autocommit() {
                    return Err(match cause {
                        Error::InsufficientStorage(_) => cause,
                        e => Error::internal(format!("sqlite rolled the batch back: {e}")),
                    });
                }
                exec_cached(conn, "ROLLBACK TO req")?;
            }
            exec_cached(conn, "RELEASE req")
        })();
        if let Err(e) = step {
            if conn.is_autocommit() {
                let rest = batch.split_off(i + 1);
                return (Err(e), rest);
            }
            let _ = conn.execute_batch("ROLLBACK");
            return (Err(e), Vec::new());
        }
    }
    crash::point("sqlite.before_commit");
    let commit = exec_cached(conn, "COMMIT").inspect_err(|_| {
        // A failed COMMIT may leave the transaction open; end it. (It may also have
        // been rolled back automatically already, so the error is ignored.)
        let _ = conn.execute_batch("ROLLBACK");
    });
    (commit, Vec::new())
}

/// A fixed pool of read-only connections. A semaphore with one permit per connection
/// guarantees a connection is free when a permit is held.
pub(crate) struct Readers {
    conns: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

/// Returns the connection to the pool on drop, also when the read closure panics.
struct Lease {
    conn: Option<Connection>,
    pool: Arc<Mutex<Vec<Connection>>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.lock().push(c);
        }
    }
}

impl Readers {
    pub(crate) fn new(conns: Vec<Connection>) -> Self {
        let n = conns.len();
        Self {
            conns: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(n)),
        }
    }

    /// Runs `f` on a read-only connection on the blocking thread pool. A closure that issues
    /// several statements and needs one snapshot opens its own read transaction.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("sqlite reader pool closed"))?;
        let pool = self.conns.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.lock().pop();
            let mut lease = Lease { conn, pool };
            match &mut lease.conn {
                Some(c) => f(c),
                None => Err(Error::internal("sqlite reader pool is empty")),
            }
        })
        .await
        .map_err(|e| Error::internal(format!("sqlite read task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn insert(c: &Connection, x: i64) -> Result<()> {
        c.execute("INSERT INTO t (x) VALUES (?1)", [x])
            .map(|_| ())
            .map_err(sql_err("insert"))
    }

    /// Requests queued while the writer is busy share one transaction; a request that
    /// fails or panics after writing is rolled back alone, the others commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_requests_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER PRIMARY KEY);")
            .unwrap();
        let w = Arc::new(Writer::start(c, MetaMetrics::new("sqlite")).unwrap());

        // Occupy the writer so the next requests queue up and form one batch.
        let blocker = {
            let w = w.clone();
            tokio::spawn(async move {
                w.run(|_| {
                    std::thread::sleep(Duration::from_millis(200));
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ok1 = w.run(|c| insert(c, 1));
        let fails = w.run(|c| {
            insert(c, 2)?;
            Err::<(), _>(Error::PreconditionFailed)
        });
        let panics = w.run(|c| -> Result<()> {
            insert(c, 4)?;
            panic!("boom")
        });
        let dup = w.run(|c| insert(c, 1)); // constraint error inside the batch
        let ok3 = w.run(|c| insert(c, 3));
        // Sees the uncommitted row of `ok1`: the same transaction.
        let sees = w.run(|c| {
            c.query_row("SELECT count(*) FROM t WHERE x = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(sql_err("count"))
        });
        let (r1, r2, r4, rd, r3, seen) = tokio::join!(ok1, fails, panics, dup, ok3, sees);
        blocker.await.unwrap().unwrap();
        r1.unwrap();
        r3.unwrap();
        assert_eq!(r2, Err(Error::PreconditionFailed));
        assert!(matches!(r4, Err(Error::Internal(_))));
        assert!(matches!(rd, Err(Error::Internal(_))));
        assert_eq!(seen.unwrap(), 1);

        let rows: Vec<i64> = w
            .run(|c| {
                let mut st = c.prepare("SELECT x FROM t ORDER BY x").unwrap();
                let v = st.query_map([], |r| r.get(0)).unwrap();
                Ok(v.map(|x| x.unwrap()).collect())
            })
            .await
            .unwrap();
        assert_eq!(rows, vec![1, 3]);
        // The writer survived the panic and keeps serving.
        w.run(|c| insert(c, 5)).await.unwrap();
    }

    /// SQLITE_FULL (here from `max_page_count`, as from a full disk) fails the request
    /// with `InsufficientStorage`, requests batched with it that fit still commit, and
    /// once space returns the writer serves again: it is never wedged.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writer_survives_a_full_database() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join("w.db")).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER PRIMARY KEY, b BLOB);",
        )
        .unwrap();
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        c.pragma_update(None, "max_page_count", pages + 8).unwrap();
        let w = Arc::new(Writer::start(c, MetaMetrics::new("sqlite")).unwrap());
        let big = |c: &Connection, x: i64| {
            c.execute("INSERT INTO t (x, b) VALUES (?1, zeroblob(200000))", [x])
                .map(|_| ())
                .map_err(sql_err("insert big"))
        };
        // Occupy the writer so the next three form one batch.
        let blocker = {
            let w = w.clone();
            tokio::spawn(async move {
                w.run(|_| {
                    std::thread::sleep(Duration::from_millis(200));
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (small, full, small2) = tokio::join!(
            w.run(|c| insert(c, 1)),
            w.run(move |c| big(c, 2)),
            w.run(|c| insert(c, 3))
        );
        blocker.await.unwrap().unwrap();
        assert!(
            matches!(full, Err(Error::InsufficientStorage(_))),
            "{full:?}"
        );
        // SQLite rolled the whole transaction back: the request that ran before the full
        // one in it shares its error (it was not committed); the one after it was not
        // run yet and commits in a fresh transaction.
        assert!(
            matches!(small, Err(Error::InsufficientStorage(_))),
            "{small:?}"
        );
        small2.unwrap();
        // Alone, too: the error again, then the writer still works.
        let again = w.run(move |c| big(c, 4)).await;
        assert!(
            matches!(again, Err(Error::InsufficientStorage(_))),
            "{again:?}"
        );
        w.run(|c| insert(c, 5)).await.unwrap();
        // Space returns: the large write fits now.
        w.run(|c| {
            c.pragma_update(None, "max_page_count", 100_000)
                .map_err(sql_err("max_page_count"))
        })
        .await
        .unwrap();
        w.run(move |c| big(c, 6)).await.unwrap();
        let n: i64 = w
            .run(|c| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .map_err(sql_err("count"))
            })
            .await
            .unwrap();
        assert_eq!(n, 3);
    }
}
