//! `SqliteMetaStore`: the embedded metadata database (SQLite, WAL, `synchronous=FULL`).
//! Runs the store's rules (`crate::objects`, `multipart`, `buckets`, `identities`,
//! `listings`) on its connections through the seam in `seam.rs`, and owns the SQL of the
//! single-statement methods. Writes go through the group-committing writer thread
//! (`exec::Writer`), reads through a pool of read-only connections (`exec::Readers`).
//!
//! Invariants:
//! * Every write method is one closure run by the writer inside its own savepoint, so it
//!   is atomic; the rules are checked inside it, before any change.
//! * `buckets.usage_*` equal the sums over the bucket's `objects` rows.
//! * Records are encoded before and decoded after the writer's closure where the rule
//!   allows it (a rule that must read a document, e.g. an edit, decodes it inside),
//!   keeping the single writer thread busy mostly with SQL.
//! * SQLite errors become `Error::Internal` with context (logged, never shown to clients),
//!   except SQLITE_FULL, which becomes `Error::InsufficientStorage`.

mod exec;
pub(crate) mod schema;
mod seam;

use crate::rows::{
    ObjectRow, RawObject, decode_all, decode_replaced, decode_version, from_doc, nanos, to_doc,
};
use crate::semantics;
use crate::{buckets, identities, listings, multipart, objects};
use async_trait::async_trait;
use coffer_core::meta::{
    BucketEdit, Deleted, KeyListing, MetaStore, ObjectPage, Replaced, VersionPage,
};
use coffer_core::model::*;
use coffer_core::quota::Quotas;
use coffer_core::{Error, Result};
use exec::{Readers, Writer};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

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

/// Like `sql_err`, but a constraint violation (duplicate key) becomes `conflict`.
fn insert_err(ctx: &str, conflict: Error) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            conflict
        }
        _ => sql_err(ctx)(e),
    }
}

/// A page bound as SQLite's signed LIMIT/OFFSET (larger values saturate).
fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `list_access_keys` by status filter (the rule of `KeyListing::matches`): ?1 org,
/// ?2 now (unix ns), ?3 limit, ?4 offset. A statement that does not use ?2 still takes
/// it (SQLite counts parameters by the highest index). A range scan of
/// `access_keys_by_org` in creation order.
fn key_page_sql(status: Option<KeyStatus>) -> &'static str {
    match status {
        None => {
            "SELECT doc FROM access_keys WHERE org_id = ?1
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Some(KeyStatus::Active) => {
            "SELECT doc FROM access_keys
             WHERE org_id = ?1 AND state = 'Active' AND (expiry IS NULL OR expiry > ?2)
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Some(KeyStatus::Expired) => {
            "SELECT doc FROM access_keys
             WHERE org_id = ?1 AND state = 'Active' AND expiry <= ?2
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Some(KeyStatus::FullSuspended) => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 AND state = 'Suspended'
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Some(KeyStatus::Deleted) => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 AND state = 'Deleted'
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
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

fn query_opt_doc(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<String>> {
    c.prepare_cached(sql)
        .and_then(|mut st| st.query_row(params, |r| r.get::<_, String>(0)).optional())
        .map_err(sql_err(sql))
}

fn exists(c: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<bool> {
    c.prepare_cached(sql)
        .and_then(|mut st| st.exists(params))
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

/// Reads the object row (doc + inline bytes), if any.
fn read_object(c: &Connection, bucket: &str, key: &str) -> Result<Option<RawObject>> {
    const SQL: &str = "SELECT doc, inline_data FROM objects WHERE bucket = ?1 AND key = ?2";
    c.prepare_cached(SQL)
        .and_then(|mut st| {
            st.query_row(params![bucket, key], |r| {
                Ok(RawObject {
                    doc: r.get(0)?,
                    inline: r.get(1)?,
                })
            })
            .optional()
        })
        .map_err(sql_err(SQL))
}

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

/// The embedded metadata store. Cheap to share behind an `Arc`; dropping the last handle
/// stops the writer thread after it has answered every queued request.
pub struct SqliteMetaStore {
    writer: Writer,
    readers: Readers,
}

impl SqliteMetaStore {
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
        Ok(Self {
            writer: Writer::start(w)?,
            readers: Readers::new(pool),
        })
    }
}

fn insert_org(c: &Connection, org: &Org) -> Result<()> {
    let doc = to_doc(org)?;
    c.prepare_cached("INSERT INTO orgs (org_id, doc) VALUES (?1, ?2)")
        .and_then(|mut st| st.execute(params![org.org_id, doc]))
        .map_err(insert_err(
            "create_org",
            Error::AlreadyExists(format!("org {}", org.org_id)),
        ))?;
    Ok(())
}

fn insert_user(c: &Connection, user: &User) -> Result<()> {
    let doc = to_doc(user)?;
    c.prepare_cached("INSERT INTO users (uid, org_id, doc) VALUES (?1, ?2, ?3)")
        .and_then(|mut st| st.execute(params![user.uid, user.org_id, doc]))
        .map_err(insert_err(
            "create_user",
            Error::AlreadyExists(format!("user {}", user.uid)),
        ))?;
    Ok(())
}

fn insert_token(c: &Connection, t: &ApiToken) -> Result<()> {
    let doc = to_doc(t)?;
    c.prepare_cached(
        "INSERT INTO api_tokens (token_id, token_hash, uid, org_id, doc)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut st| st.execute(params![t.token_id, t.token_hash, t.uid, t.org_id, doc]))
    .map_err(insert_err(
        "create_token",
        Error::AlreadyExists(format!("token {}", t.token_id)),
    ))?;
    Ok(())
}

impl SqliteMetaStore {
    /// The record `sql` selects (one `doc` column; string parameters), read on a reader
    /// connection and decoded on the caller's task.
    async fn record<T: DeserializeOwned>(
        &self,
        sql: &'static str,
        params: &[&str],
        what: &str,
    ) -> Result<Option<T>> {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        let doc = self
            .readers
            .run(move |c| query_opt_doc(c, sql, rusqlite::params_from_iter(params)))
            .await?;
        doc.map(|d| from_doc(&d, what)).transpose()
    }

    /// Every record `sql` selects, as `record`.
    async fn records<T: DeserializeOwned>(
        &self,
        sql: &'static str,
        params: &[&str],
        what: &str,
    ) -> Result<Vec<T>> {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        let docs = self
            .readers
            .run(move |c| query_docs(c, sql, rusqlite::params_from_iter(params)))
            .await?;
        decode_all(docs, what)
    }
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    // ---- orgs, users, tokens ----

    async fn create_org(&self, org: &Org) -> Result<()> {
        let org = org.clone();
        self.writer.run(move |c| insert_org(c, &org)).await
    }

    async fn bootstrap(&self, org: &Org, admin: &User, token: &ApiToken) -> Result<bool> {
        let (org, admin, token) = (org.clone(), admin.clone(), token.clone());
        // One writer: the check and the inserts cannot interleave with another write.
        self.writer
            .run(move |c| {
                if query_opt_doc(c, "SELECT doc FROM orgs LIMIT 1", [])?.is_some() {
                    return Ok(false);
                }
                insert_org(c, &org)?;
                insert_user(c, &admin)?;
                insert_token(c, &token)?;
                Ok(true)
            })
            .await
    }

    async fn get_org(&self, org_id: &str) -> Result<Option<Org>> {
        self.record("SELECT doc FROM orgs WHERE org_id = ?1", &[org_id], "org")
            .await
    }

    async fn list_orgs(&self) -> Result<Vec<Org>> {
        self.records("SELECT doc FROM orgs ORDER BY org_id", &[], "org")
            .await
    }

    async fn update_org(&self, org: &Org) -> Result<()> {
        let (id, doc) = (org.org_id.clone(), to_doc(org)?);
        self.writer
            .run(move |c| {
                match execute(
                    c,
                    "UPDATE orgs SET doc = ?2 WHERE org_id = ?1",
                    params![id, doc],
                )? {
                    0 => Err(Error::NotFound(format!("org {id}"))),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let user = user.clone();
        self.writer.run(move |c| insert_user(c, &user)).await
    }

    async fn get_user(&self, uid: &str) -> Result<Option<User>> {
        self.record("SELECT doc FROM users WHERE uid = ?1", &[uid], "user")
            .await
    }

    async fn list_users(&self, org_id: &str) -> Result<Vec<User>> {
        self.records(
            "SELECT doc FROM users WHERE org_id = ?1 ORDER BY uid",
            &[org_id],
            "user",
        )
        .await
    }

    async fn delete_user(&self, uid: &str) -> Result<()> {
        let uid = uid.to_string();
        self.writer
            .run(move |c| seam::run(identities::delete_user(&mut seam::Tx(c), &uid)))
            .await
    }

    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        let token = token.clone();
        self.writer.run(move |c| insert_token(c, &token)).await
    }

    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        self.record(
            "SELECT doc FROM api_tokens WHERE token_hash = ?1",
            &[token_hash],
            "api token",
        )
        .await
    }

    async fn list_tokens(&self, org_id: &str) -> Result<Vec<ApiToken>> {
        self.records(
            "SELECT doc FROM api_tokens WHERE org_id = ?1 ORDER BY token_id",
            &[org_id],
            "api token",
        )
        .await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        let id = token_id.to_string();
        self.writer
            .run(
                move |c| match execute(c, "DELETE FROM api_tokens WHERE token_id = ?1", [&id])? {
                    0 => Err(Error::NotFound(format!("token {id}"))),
                    _ => Ok(()),
                },
            )
            .await
    }

    // ---- access keys ----

    async fn create_access_key(&self, key: &AccessKey, quotas: &Quotas) -> Result<()> {
        let (k, q) = (key.clone(), *quotas);
        self.writer
            .run(move |c| seam::run(identities::create_access_key(&mut seam::Tx(c), &k, &q)))
            .await
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        self.record(
            "SELECT doc FROM access_keys WHERE access_key_id = ?1",
            &[access_key_id],
            "access key",
        )
        .await
    }

    async fn list_access_keys(&self, org_id: &str, page: &KeyListing) -> Result<Vec<AccessKey>> {
        let org = org_id.to_string();
        let sql = key_page_sql(page.status);
        let now = nanos(page.now)?;
        let (limit, offset) = (clamp_i64(page.limit), clamp_i64(page.offset));
        let docs = self
            .readers
            .run(move |c| query_docs(c, sql, params![org, now, limit, offset]))
            .await?;
        decode_all(docs, "access key")
    }

    async fn set_access_key_state(&self, access_key_id: &str, state: KeyState) -> Result<()> {
        let id = access_key_id.to_string();
        self.writer
            .run(move |c| {
                seam::run(identities::set_access_key_state(
                    &mut seam::Tx(c),
                    &id,
                    state,
                ))
            })
            .await
    }

    async fn set_principal_key_state(
        &self,
        org_id: &str,
        principal: &str,
        state: KeyState,
    ) -> Result<u64> {
        let (org, principal) = (org_id.to_string(), principal.to_string());
        self.writer
            .run(move |c| {
                let tx = &mut seam::Tx(c);
                seam::run(identities::set_principal_key_state(
                    tx, &org, &principal, state,
                ))
            })
            .await
    }

    // ---- org access policies and settings ----

    async fn put_policy(&self, policy: &StoredPolicy, quotas: &Quotas) -> Result<()> {
        let (p, q) = (policy.clone(), *quotas);
        self.writer
            .run(move |c| seam::run(identities::put_policy(&mut seam::Tx(c), &p, &q)))
            .await
    }

    async fn delete_policy(&self, org_id: &str, name: &str) -> Result<()> {
        let (org, name) = (org_id.to_string(), name.to_string());
        self.writer
            .run(move |c| seam::run(identities::delete_policy(&mut seam::Tx(c), &org, &name)))
            .await
    }

    async fn list_policies(&self, org_id: &str) -> Result<Vec<StoredPolicy>> {
        self.records(
            "SELECT doc FROM policies WHERE org_id = ?1 ORDER BY name",
            &[org_id],
            "policy",
        )
        .await
    }

    async fn list_all_policies(&self) -> Result<Vec<StoredPolicy>> {
        self.records(
            "SELECT doc FROM policies ORDER BY org_id, name",
            &[],
            "policy",
        )
        .await
    }

    async fn get_org_settings(&self, org_id: &str) -> Result<OrgSettings> {
        let org = org_id.to_string();
        let doc = self
            .readers
            .run(move |c| query_opt_doc(c, "SELECT doc FROM org_settings WHERE org_id = ?1", [org]))
            .await?;
        Ok(doc
            .map(|d| from_doc(&d, "org settings"))
            .transpose()?
            .unwrap_or_default())
    }

    async fn put_org_settings(&self, org_id: &str, settings: &OrgSettings) -> Result<()> {
        let (org, doc) = (org_id.to_string(), to_doc(settings)?);
        self.writer
            .run(move |c| {
                execute(
                    c,
                    "INSERT INTO org_settings (org_id, doc) VALUES (?1, ?2)
                     ON CONFLICT (org_id) DO UPDATE SET doc = excluded.doc",
                    params![org, doc],
                )?;
                Ok(())
            })
            .await
    }

    // ---- buckets ----

    async fn create_bucket(&self, bucket: &Bucket) -> Result<()> {
        let (name, org, doc) = (bucket.name.clone(), bucket.org_id.clone(), to_doc(bucket)?);
        // The versioning column is what object writes read: it starts as the document says.
        let versioning = bucket.versioning.code();
        self.writer
            .run(move |c| {
                c.prepare_cached(
                    "INSERT INTO buckets (name, org_id, doc, versioning) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut st| st.execute(params![name, org, doc, versioning]))
                .map_err(insert_err("create_bucket", Error::BucketAlreadyExists))?;
                Ok(())
            })
            .await
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        self.record("SELECT doc FROM buckets WHERE name = ?1", &[name], "bucket")
            .await
    }

    async fn list_buckets(&self, org_id: &str) -> Result<Vec<Bucket>> {
        self.records(
            "SELECT doc FROM buckets WHERE org_id = ?1 ORDER BY name",
            &[org_id],
            "bucket",
        )
        .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer
            .run(move |c| seam::run(buckets::delete_bucket(&mut seam::Tx(c), &name)))
            .await
    }

    async fn edit_bucket(&self, name: &str, edit: BucketEdit) -> Result<Bucket> {
        let name = name.to_string();
        let mut once = buckets::EditOnce::new(edit);
        self.writer
            .run(move |c| seam::run(buckets::edit_bucket(&mut seam::Tx(c), &name, &mut once)))
            .await
    }

    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let (bucket, key, tags) = (bucket.to_string(), key.to_string(), tags.clone());
        self.writer
            .run(move |c| {
                let tx = &mut seam::Tx(c);
                seam::run(buckets::set_object_tags(tx, &bucket, &key, &tags))
            })
            .await
    }

    async fn bucket_usage(&self, name: &str) -> Result<Usage> {
        let name = name.to_string();
        self.readers
            .run(move |c| {
                const SQL: &str = "SELECT usage_bytes, usage_objects FROM buckets WHERE name = ?1";
                c.prepare_cached(SQL)
                    .and_then(|mut st| {
                        st.query_row([name], |r| {
                            Ok(Usage {
                                bytes: r.get::<_, i64>(0)? as u64,
                                objects: r.get::<_, i64>(1)? as u64,
                            })
                        })
                        .optional()
                    })
                    .map_err(sql_err(SQL))?
                    .ok_or(Error::NoSuchBucket)
            })
            .await
    }

    // ---- objects ----

    async fn put_object(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        let mut row = ObjectRow::new(record)?;
        let cond = cond.clone();
        let (prev, vid) = self
            .writer
            .run(move |c| seam::run(objects::put(&mut seam::Tx(c), &mut row, &cond, cap)))
            .await?;
        decode_replaced(prev, vid)
    }

    fn has_audit_outbox(&self) -> bool {
        true
    }

    async fn put_object_audited(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
        event: Vec<u8>,
    ) -> Result<Replaced> {
        let mut row = ObjectRow::new(record)?;
        let cond = cond.clone();
        let (prev, vid) = self
            .writer
            .run(move |c| {
                let out = seam::run(objects::put(&mut seam::Tx(c), &mut row, &cond, cap))?;
                const SQL: &str = "INSERT INTO audit_outbox (event) VALUES (?1)";
                c.prepare_cached(SQL)
                    .and_then(|mut st| st.execute([&event]))
                    .map_err(sql_err(SQL))?;
                Ok(out)
            })
            .await?;
        decode_replaced(prev, vid)
    }

    async fn read_audit_outbox(
        &self,
        after: u64,
        through: Option<u64>,
        max_bytes: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        const SQL: &str = "SELECT seq, event FROM audit_outbox
                           WHERE seq > ?1 AND seq <= ?2 ORDER BY seq";
        let upper = through.map_or(i64::MAX, |t| t.min(i64::MAX as u64) as i64);
        let after = after.min(i64::MAX as u64) as i64;
        self.readers
            .run(move |c| {
                let mut st = c.prepare_cached(SQL).map_err(sql_err(SQL))?;
                let mut rows = st.query(params![after, upper]).map_err(sql_err(SQL))?;
                let mut out = Vec::new();
                let mut bytes = 0u64;
                while let Some(r) = rows.next().map_err(sql_err(SQL))? {
                    let seq: i64 = r.get(0).map_err(sql_err(SQL))?;
                    let event: Vec<u8> = r.get(1).map_err(sql_err(SQL))?;
                    if through.is_none()
                        && !out.is_empty()
                        && bytes + event.len() as u64 > max_bytes
                    {
                        break;
                    }
                    bytes += event.len() as u64;
                    out.push((seq as u64, event));
                }
                Ok(out)
            })
            .await
    }

    async fn trim_audit_outbox(&self, through: u64) -> Result<()> {
        const SQL: &str = "DELETE FROM audit_outbox WHERE seq <= ?1";
        let through = through.min(i64::MAX as u64) as i64;
        self.writer
            .run(move |c| {
                c.prepare_cached(SQL)
                    .and_then(|mut st| st.execute([through]))
                    .map_err(sql_err(SQL))?;
                Ok(())
            })
            .await
    }

    async fn audit_outbox_depth(&self) -> Result<(u64, u64)> {
        const SQL: &str = "SELECT count(*), coalesce(sum(length(event)), 0) FROM audit_outbox";
        self.readers
            .run(|c| {
                c.prepare_cached(SQL)
                    .and_then(|mut st| {
                        st.query_row([], |r| {
                            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                        })
                    })
                    .map_err(sql_err(SQL))
            })
            .await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.readers
            .run(move |c| read_object(c, &bucket, &key))
            .await?
            .map(RawObject::decode)
            .transpose()
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Replaced> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let prev = self
            .writer
            .run(move |c| seam::run(objects::delete_object(&mut seam::Tx(c), &bucket, &key)))
            .await?;
        decode_replaced(prev, None)
    }

    async fn rename_object(
        &self,
        bucket: &str,
        src: &str,
        dst: &str,
        cond: &RenameConditions,
    ) -> Result<Replaced> {
        let (bucket, src, dst, cond) = (
            bucket.to_string(),
            src.to_string(),
            dst.to_string(),
            cond.clone(),
        );
        let prev = self
            .writer
            .run(move |c| {
                seam::run(objects::rename(
                    &mut seam::Tx(c),
                    &bucket,
                    &src,
                    &dst,
                    &cond,
                ))
            })
            .await?;
        decode_replaced(prev, None)
    }

    async fn set_bucket_versioning(&self, name: &str, state: VersioningState) -> Result<()> {
        let name = name.to_string();
        self.writer
            .run(move |c| seam::run(buckets::set_versioning(&mut seam::Tx(c), &name, state)))
            .await
    }

    async fn delete_object_current(
        &self,
        bucket: &str,
        key: &str,
        marker_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deleted> {
        let (bucket, key, marker_id) = (bucket.to_string(), key.to_string(), marker_id.to_string());
        self.writer
            .run(move |c| {
                seam::run(objects::delete_current(
                    &mut seam::Tx(c),
                    &bucket,
                    &key,
                    &marker_id,
                    now,
                ))
            })
            .await?
            .decode()
    }

    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Deleted> {
        let (bucket, key, vid) = (bucket.to_string(), key.to_string(), version_id.to_string());
        self.writer
            .run(move |c| {
                seam::run(objects::delete_version(
                    &mut seam::Tx(c),
                    &bucket,
                    &key,
                    &vid,
                ))
            })
            .await?
            .decode()
    }

    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>> {
        let (bucket, key, vid) = (bucket.to_string(), key.to_string(), version_id.to_string());
        let found = self
            .readers
            .run(move |c| {
                let snapshot = c.unchecked_transaction().map_err(sql_err("begin read"))?;
                let tx = &mut seam::Tx(&snapshot);
                seam::run(listings::get_object_version(tx, &bucket, &key, &vid))
            })
            .await?;
        decode_version(found)
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        version_id_marker: &str,
        limit: usize,
    ) -> Result<VersionPage> {
        let (bucket, prefix, km, vm) = (
            bucket.to_string(),
            prefix.to_string(),
            key_marker.to_string(),
            version_id_marker.to_string(),
        );
        self.readers
            .run(move |c| {
                let snapshot = c.unchecked_transaction().map_err(sql_err("begin read"))?;
                let tx = &mut seam::Tx(&snapshot);
                seam::run(listings::list_object_versions(
                    tx, &bucket, &prefix, &km, &vm, limit,
                ))
            })
            .await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<ObjectPage> {
        let (bucket, prefix, start_after) = (
            bucket.to_string(),
            prefix.to_string(),
            start_after.to_string(),
        );
        self.readers
            .run(move |c| {
                let snapshot = c.unchecked_transaction().map_err(sql_err("begin read"))?;
                let tx = &mut seam::Tx(&snapshot);
                seam::run(listings::list_objects(
                    tx,
                    &bucket,
                    &prefix,
                    &start_after,
                    limit,
                ))
            })
            .await
    }

    // ---- multipart ----

    async fn create_upload(&self, upload: &MultipartUpload) -> Result<()> {
        let u = upload.clone();
        self.writer
            .run(move |c| seam::run(multipart::create_upload(&mut seam::Tx(c), &u)))
            .await
    }

    async fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>> {
        self.record(
            "SELECT doc FROM uploads WHERE upload_id = ?1",
            &[upload_id],
            "upload",
        )
        .await
    }

    async fn put_part(&self, part: &PartRecord) -> Result<Option<PartRecord>> {
        let p = part.clone();
        let doc = to_doc(part)?;
        let prev = self
            .writer
            .run(move |c| seam::run(multipart::put_part(&mut seam::Tx(c), &p, &doc)))
            .await?;
        prev.map(|d| from_doc(&d, "part")).transpose()
    }

    async fn list_parts(
        &self,
        upload_id: &str,
        part_number_marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        let id = upload_id.to_string();
        let docs = self
            .readers
            .run(move |c| {
                let snapshot = c.unchecked_transaction().map_err(sql_err("begin read"))?;
                let tx = &mut seam::Tx(&snapshot);
                seam::run(listings::list_parts(tx, &id, part_number_marker, limit))
            })
            .await?;
        decode_all(docs, "part")
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>> {
        let (bucket, prefix, km, um) = (
            bucket.to_string(),
            prefix.to_string(),
            key_marker.to_string(),
            upload_id_marker.to_string(),
        );
        let docs = self
            .readers
            .run(move |c| {
                let snapshot = c.unchecked_transaction().map_err(sql_err("begin read"))?;
                let tx = &mut seam::Tx(&snapshot);
                seam::run(listings::list_uploads(
                    tx, &bucket, &prefix, &km, &um, limit,
                ))
            })
            .await?;
        decode_all(docs, "upload")
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<(Replaced, Vec<PartRecord>)> {
        let id = upload_id.to_string();
        let mut row = ObjectRow::new(record)?;
        let cond = cond.clone();
        let used: Vec<String> = record.data.blob_ids().map(str::to_string).collect();
        let (prev, vid, parts) = self
            .writer
            .run(move |c| {
                let tx = &mut seam::Tx(c);
                seam::run(multipart::complete(tx, &id, &mut row, &used, &cond, cap))
            })
            .await?;
        Ok((
            decode_replaced(prev, vid)?,
            semantics::unused_parts(record, parts),
        ))
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<Vec<PartRecord>> {
        let id = upload_id.to_string();
        let docs = self
            .writer
            .run(move |c| seam::run(multipart::abort(&mut seam::Tx(c), &id)))
            .await?;
        decode_all(docs, "part")
    }

    // ---- maintenance ----

    // ---- workload identity federation ----

    async fn create_federation_config(&self, config: &FederationConfig) -> Result<()> {
        let (id, org, kind) = (
            config.config_id.clone(),
            config.org_id.clone(),
            config.kind().as_str(),
        );
        let doc = to_doc(config)?;
        self.writer
            .run(move |c| {
                c.prepare_cached(
                    "INSERT INTO federation_configs (config_id, org_id, kind, doc)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut st| st.execute(params![id, org, kind, doc]))
                .map_err(insert_err(
                    "create_federation_config",
                    Error::AlreadyExists(format!("federation config {id}")),
                ))?;
                Ok(())
            })
            .await
    }

    async fn update_federation_config(&self, config: &FederationConfig) -> Result<()> {
        let (id, org, kind) = (
            config.config_id.clone(),
            config.org_id.clone(),
            config.kind().as_str(),
        );
        let doc = to_doc(config)?;
        self.writer
            .run(move |c| {
                match execute(
                    c,
                    "UPDATE federation_configs SET doc = ?4
                     WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3",
                    params![id, org, kind, doc],
                )? {
                    0 => Err(Error::NotFound(format!("federation config {id}"))),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn get_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<Option<FederationConfig>> {
        let (id, org) = (config_id.to_string(), org_id.to_string());
        let doc = self
            .readers
            .run(move |c| {
                query_opt_doc(
                    c,
                    "SELECT doc FROM federation_configs
                     WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3",
                    params![id, org, kind.as_str()],
                )
            })
            .await?;
        doc.map(|d| from_doc(&d, "federation config")).transpose()
    }

    async fn list_federation_configs(
        &self,
        org_id: &str,
        kind: FederationKind,
    ) -> Result<Vec<FederationConfig>> {
        let org = org_id.to_string();
        let docs = self
            .readers
            .run(move |c| {
                query_docs(
                    c,
                    "SELECT doc FROM federation_configs
                     WHERE org_id = ?1 AND kind = ?2 ORDER BY seq",
                    params![org, kind.as_str()],
                )
            })
            .await?;
        decode_all(docs, "federation config")
    }

    async fn delete_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<()> {
        let (id, org) = (config_id.to_string(), org_id.to_string());
        self.writer
            .run(move |c| {
                match execute(
                    c,
                    "DELETE FROM federation_configs
                     WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3",
                    params![id, org, kind.as_str()],
                )? {
                    0 => Err(Error::NotFound(format!("federation config {id}"))),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn record_assertion_id(
        &self,
        org_id: &str,
        assertion_id: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let (org, id) = (org_id.to_string(), assertion_id.to_string());
        let horizon = nanos(now - semantics::ASSERTION_ID_PURGE_AFTER)?;
        let (expires, now) = (nanos(expires)?, nanos(now)?);
        self.writer
            .run(move |c| {
                execute(
                    c,
                    "DELETE FROM saml_assertion_ids WHERE expires <= ?1",
                    [horizon],
                )?;
                // Inserts, or takes over an entry that has expired; a live entry stays
                // and nothing changes (a replay).
                let n = execute(
                    c,
                    "INSERT INTO saml_assertion_ids (org_id, assertion_id, expires)
                     VALUES (?1, ?2, ?3) ON CONFLICT (org_id, assertion_id) DO UPDATE
                     SET expires = excluded.expires WHERE saml_assertion_ids.expires <= ?4",
                    params![org, id, expires, now],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        self.readers
            .run(|c| {
                let tx = c.unchecked_transaction().map_err(sql_err("begin read"))?;
                let mut set = HashSet::new();
                for ids in query_docs(
                    &tx,
                    "SELECT blob_ids FROM objects WHERE blob_ids IS NOT NULL",
                    [],
                )? {
                    set.extend(ids.split(' ').filter(|s| !s.is_empty()).map(str::to_string));
                }
                for ids in query_docs(
                    &tx,
                    "SELECT blob_ids FROM object_versions WHERE blob_ids IS NOT NULL",
                    [],
                )? {
                    set.extend(ids.split(' ').filter(|s| !s.is_empty()).map(str::to_string));
                }
                set.extend(query_docs(&tx, "SELECT blob_id FROM parts", [])?);
                Ok(set)
            })
            .await
    }
}

#[cfg(test)]
mod tests;
