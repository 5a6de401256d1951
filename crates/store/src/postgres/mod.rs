//! `PgMetaStore`: metadata in PostgreSQL (or a wire-compatible distributed SQL engine:
//! CockroachDB, YugabyteDB), shared by several Coffer nodes. Owns the SQL of every
//! `MetaStore` method, the retry loop around transactions, and the change feed
//! (`feed`) that keeps other nodes' caches coherent.
//!
//! Invariants:
//! * Every method is one transaction (or one statement), retried from the start with
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

use crate::objects;
use crate::rows::{
    ObjectRow, RawObject, decode_all, decode_replaced, decode_version, from_doc, nanos, to_doc,
};
use crate::semantics;
use crate::{buckets, identities, listings, multipart};
use async_trait::async_trait;
use coffer_core::meta::{
    BucketEdit, Deleted, KeyListing, MetaStore, ObjectPage, Replaced, VersionPage,
};
use coffer_core::model::*;
use coffer_core::quota::Quotas;
use coffer_core::{Error, Result};
use seam::Tx;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Row};
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

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
async fn settle<T>(r: TxResult<T>, ctx: &str, attempt: &mut u32) -> Option<Result<T>> {
    match r {
        Ok(v) => Some(Ok(v)),
        Err(PgErr::App(e)) => Some(Err(e)),
        Err(PgErr::Db(e)) if retryable(&e) && *attempt + 1 < MAX_ATTEMPTS => {
            *attempt += 1;
            backoff(*attempt).await;
            None
        }
        Err(PgErr::Db(e)) => Some(Err(db_err(ctx, e))),
    }
}

/// Runs `$body` (an expression using `$c: &mut PgConnection`, `?` and `.await`) in a
/// transaction, retried per `settle`.
macro_rules! tx {
    ($s:expr, $ctx:expr, |$c:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
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
            if let Some(out) = settle(r, $ctx, &mut attempt).await {
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
            if let Some(out) = settle(r, $ctx, &mut attempt).await {
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

/// `list_access_keys` by status filter (the rule of `KeyListing::matches`): $1 org,
/// $2 now (unix ns), $3 limit, $4 offset. Statements that do not use $2 still take it
/// (sqlx declares every bound parameter's type). In creation order over
/// `access_keys_by_org`.
fn key_page_sql(status: Option<KeyStatus>) -> &'static str {
    match status {
        None => {
            "SELECT doc FROM access_keys WHERE org_id = $1
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Some(KeyStatus::Active) => {
            "SELECT doc FROM access_keys
             WHERE org_id = $1 AND state = 'Active' AND (expiry IS NULL OR expiry > $2)
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Some(KeyStatus::Expired) => {
            "SELECT doc FROM access_keys
             WHERE org_id = $1 AND state = 'Active' AND expiry <= $2
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Some(KeyStatus::FullSuspended) => {
            "SELECT doc FROM access_keys
             WHERE org_id = $1 AND state = 'Suspended'
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Some(KeyStatus::Deleted) => {
            "SELECT doc FROM access_keys
             WHERE org_id = $1 AND state = 'Deleted'
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
    }
}

/// Makes the current transaction one snapshot (it must not have read yet).
async fn repeatable_read(c: &mut PgConnection) -> TxResult<()> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The metadata store on a PostgreSQL-compatible database. Cheap to share behind an `Arc`.
pub struct PgMetaStore {
    pool: PgPool,
    /// The engine supports `LISTEN/NOTIFY` (PostgreSQL; not CockroachDB or YugabyteDB).
    notify: bool,
}

impl PgMetaStore {
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
        Ok(Self { pool, notify })
    }

    /// The feed of changes committed by every node using this database.
    pub fn change_feed(&self) -> PgChangeFeed {
        PgChangeFeed::new(self.pool.clone(), self.notify)
    }

    /// Checks that the database answers (readiness probe).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("ping", e))?;
        Ok(())
    }

    #[doc(hidden)]
    pub async fn set_schema_version_for_tests(&self, v: i64) -> Result<()> {
        schema::set_version(&self.pool, v).await
    }

    /// The rules' view of a transaction on `c`.
    fn tx<'a>(&self, c: &'a mut PgConnection) -> Tx<'a> {
        Tx {
            c,
            notify: self.notify,
        }
    }
}

#[async_trait]
impl MetaStore for PgMetaStore {
    // ---- orgs, users, tokens ----

    async fn create_org(&self, org: &Org) -> Result<()> {
        let doc = to_doc(org)?;
        let n = stmt!(self, "create_org", |c| sqlx::query(
            "INSERT INTO orgs (org_id, doc) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        )
        .bind(&org.org_id)
        .bind(&doc)
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::AlreadyExists(format!("org {}", org.org_id)));
        }
        Ok(())
    }

    async fn bootstrap(&self, org: &Org, admin: &User, token: &ApiToken) -> Result<bool> {
        let (org_doc, admin_doc, token_doc) = (to_doc(org)?, to_doc(admin)?, to_doc(token)?);
        tx!(self, "bootstrap", |c| {
            // Bootstraps of one database queue on one row lock (the schema version
            // row, which every migrated database has), so the later one sees the
            // earlier one's org. A row lock, not LOCK TABLE: CockroachDB and
            // YugabyteDB (SERIALIZABLE there: the loser retries on 40001) lack it.
            sqlx::query("SELECT version FROM coffer_schema_version WHERE id = 1 FOR UPDATE")
                .execute(&mut *c)
                .await?;
            let any: Option<i32> = sqlx::query_scalar("SELECT 1 FROM orgs LIMIT 1")
                .fetch_optional(&mut *c)
                .await?;
            if any.is_some() {
                false
            } else {
                sqlx::query("INSERT INTO orgs (org_id, doc) VALUES ($1, $2)")
                    .bind(&org.org_id)
                    .bind(&org_doc)
                    .execute(&mut *c)
                    .await?;
                sqlx::query("INSERT INTO users (uid, org_id, doc) VALUES ($1, $2, $3)")
                    .bind(&admin.uid)
                    .bind(&admin.org_id)
                    .bind(&admin_doc)
                    .execute(&mut *c)
                    .await?;
                sqlx::query(
                    "INSERT INTO api_tokens (token_id, token_hash, uid, org_id, doc)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&token.token_id)
                .bind(&token.token_hash)
                .bind(&token.uid)
                .bind(&token.org_id)
                .bind(&token_doc)
                .execute(&mut *c)
                .await?;
                true
            }
        })
    }

    async fn get_org(&self, org_id: &str) -> Result<Option<Org>> {
        let doc: Option<String> = stmt!(self, "get_org", |c| sqlx::query_scalar(
            "SELECT doc FROM orgs WHERE org_id = $1"
        )
        .bind(org_id)
        .fetch_optional(c)
        .await?)?;
        doc.map(|d| from_doc(&d, "org")).transpose()
    }

    async fn list_orgs(&self) -> Result<Vec<Org>> {
        let docs: Vec<String> = stmt!(self, "list_orgs", |c| sqlx::query_scalar(
            "SELECT doc FROM orgs ORDER BY org_id"
        )
        .fetch_all(c)
        .await?)?;
        decode_all(docs, "org")
    }

    async fn update_org(&self, org: &Org) -> Result<()> {
        let doc = to_doc(org)?;
        let n = stmt!(self, "update_org", |c| sqlx::query(
            "UPDATE orgs SET doc = $2 WHERE org_id = $1"
        )
        .bind(&org.org_id)
        .bind(&doc)
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::NotFound(format!("org {}", org.org_id)));
        }
        Ok(())
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let doc = to_doc(user)?;
        let n = stmt!(self, "create_user", |c| sqlx::query(
            "INSERT INTO users (uid, org_id, doc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        )
        .bind(&user.uid)
        .bind(&user.org_id)
        .bind(&doc)
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::AlreadyExists(format!("user {}", user.uid)));
        }
        Ok(())
    }

    async fn get_user(&self, uid: &str) -> Result<Option<User>> {
        let doc: Option<String> = stmt!(self, "get_user", |c| sqlx::query_scalar(
            "SELECT doc FROM users WHERE uid = $1"
        )
        .bind(uid)
        .fetch_optional(c)
        .await?)?;
        doc.map(|d| from_doc(&d, "user")).transpose()
    }

    async fn list_users(&self, org_id: &str) -> Result<Vec<User>> {
        let docs: Vec<String> = stmt!(self, "list_users", |c| sqlx::query_scalar(
            "SELECT doc FROM users WHERE org_id = $1 ORDER BY uid"
        )
        .bind(org_id)
        .fetch_all(c)
        .await?)?;
        decode_all(docs, "user")
    }

    async fn delete_user(&self, uid: &str) -> Result<()> {
        tx!(self, "delete_user", |c| identities::delete_user(
            &mut self.tx(c),
            uid
        )
        .await?)
    }

    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        let doc = to_doc(token)?;
        let n = stmt!(self, "create_token", |c| sqlx::query(
            "INSERT INTO api_tokens (token_id, token_hash, uid, org_id, doc)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        )
        .bind(&token.token_id)
        .bind(&token.token_hash)
        .bind(&token.uid)
        .bind(&token.org_id)
        .bind(&doc)
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::AlreadyExists(format!("token {}", token.token_id)));
        }
        Ok(())
    }

    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let doc: Option<String> = stmt!(self, "get_token_by_hash", |c| sqlx::query_scalar(
            "SELECT doc FROM api_tokens WHERE token_hash = $1"
        )
        .bind(token_hash)
        .fetch_optional(c)
        .await?)?;
        doc.map(|d| from_doc(&d, "api token")).transpose()
    }

    async fn list_tokens(&self, org_id: &str) -> Result<Vec<ApiToken>> {
        let docs: Vec<String> = stmt!(self, "list_tokens", |c| sqlx::query_scalar(
            "SELECT doc FROM api_tokens WHERE org_id = $1 ORDER BY token_id"
        )
        .bind(org_id)
        .fetch_all(c)
        .await?)?;
        decode_all(docs, "api token")
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        let n = stmt!(self, "delete_token", |c| sqlx::query(
            "DELETE FROM api_tokens WHERE token_id = $1"
        )
        .bind(token_id)
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::NotFound(format!("token {token_id}")));
        }
        Ok(())
    }

    // ---- access keys ----

    async fn create_access_key(&self, key: &AccessKey, quotas: &Quotas) -> Result<()> {
        tx!(self, "create_access_key", |c| {
            identities::create_access_key(&mut self.tx(c), key, quotas).await?
        })
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        let doc: Option<String> = stmt!(self, "get_access_key", |c| sqlx::query_scalar(
            "SELECT doc FROM access_keys WHERE access_key_id = $1"
        )
        .bind(access_key_id)
        .fetch_optional(c)
        .await?)?;
        doc.map(|d| from_doc(&d, "access key")).transpose()
    }

    async fn list_access_keys(&self, org_id: &str, page: &KeyListing) -> Result<Vec<AccessKey>> {
        let now = nanos(page.now)?;
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let docs: Vec<String> = stmt!(self, "list_access_keys", |c| sqlx::query_scalar(
            key_page_sql(page.status)
        )
        .bind(org_id)
        .bind(now)
        .bind(clamp(page.limit))
        .bind(clamp(page.offset))
        .fetch_all(c)
        .await?)?;
        decode_all(docs, "access key")
    }

    async fn set_access_key_state(&self, access_key_id: &str, state: KeyState) -> Result<()> {
        tx!(self, "set_access_key_state", |c| {
            identities::set_access_key_state(&mut self.tx(c), access_key_id, state).await?
        })
    }

    async fn set_principal_key_state(
        &self,
        org_id: &str,
        principal: &str,
        state: KeyState,
    ) -> Result<u64> {
        tx!(self, "set_principal_key_state", |c| {
            identities::set_principal_key_state(&mut self.tx(c), org_id, principal, state).await?
        })
    }

    // ---- org access policies and settings ----

    async fn put_policy(&self, policy: &StoredPolicy, quotas: &Quotas) -> Result<()> {
        tx!(self, "put_policy", |c| identities::put_policy(
            &mut self.tx(c),
            policy,
            quotas
        )
        .await?)
    }

    async fn delete_policy(&self, org_id: &str, name: &str) -> Result<()> {
        tx!(self, "delete_policy", |c| identities::delete_policy(
            &mut self.tx(c),
            org_id,
            name
        )
        .await?)
    }

    async fn list_policies(&self, org_id: &str) -> Result<Vec<StoredPolicy>> {
        let docs: Vec<String> = stmt!(self, "list_policies", |c| sqlx::query_scalar(
            "SELECT doc FROM policies WHERE org_id = $1 ORDER BY name"
        )
        .bind(org_id)
        .fetch_all(c)
        .await?)?;
        decode_all(docs, "policy")
    }

    async fn list_all_policies(&self) -> Result<Vec<StoredPolicy>> {
        let docs: Vec<String> = stmt!(self, "list_all_policies", |c| sqlx::query_scalar(
            "SELECT doc FROM policies ORDER BY org_id, name"
        )
        .fetch_all(c)
        .await?)?;
        decode_all(docs, "policy")
    }

    async fn get_org_settings(&self, org_id: &str) -> Result<OrgSettings> {
        let doc: Option<String> = stmt!(self, "get_org_settings", |c| sqlx::query_scalar(
            "SELECT doc FROM org_settings WHERE org_id = $1"
        )
        .bind(org_id)
        .fetch_optional(c)
        .await?)?;
        Ok(doc
            .map(|d| from_doc(&d, "org settings"))
            .transpose()?
            .unwrap_or_default())
    }

    async fn put_org_settings(&self, org_id: &str, settings: &OrgSettings) -> Result<()> {
        let doc = to_doc(settings)?;
        stmt!(self, "put_org_settings", |c| {
            sqlx::query(
                "INSERT INTO org_settings (org_id, doc) VALUES ($1, $2)
                 ON CONFLICT (org_id) DO UPDATE SET doc = excluded.doc",
            )
            .bind(org_id)
            .bind(&doc)
            .execute(c)
            .await?;
        })
    }

    // ---- buckets ----

    async fn create_bucket(&self, bucket: &Bucket) -> Result<()> {
        let doc = to_doc(bucket)?;
        let n = stmt!(self, "create_bucket", |c| sqlx::query(
            "INSERT INTO buckets (name, org_id, doc, versioning) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING"
        )
        .bind(&bucket.name)
        .bind(&bucket.org_id)
        .bind(&doc)
        // The versioning column is what object writes read: it starts as the document says.
        .bind(bucket.versioning.code() as i32)
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::BucketAlreadyExists);
        }
        Ok(())
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        let doc: Option<String> = stmt!(self, "get_bucket", |c| sqlx::query_scalar(
            "SELECT doc FROM buckets WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(c)
        .await?)?;
        doc.map(|d| from_doc(&d, "bucket")).transpose()
    }

    async fn list_buckets(&self, org_id: &str) -> Result<Vec<Bucket>> {
        let docs: Vec<String> = stmt!(self, "list_buckets", |c| sqlx::query_scalar(
            "SELECT doc FROM buckets WHERE org_id = $1 ORDER BY name"
        )
        .bind(org_id)
        .fetch_all(c)
        .await?)?;
        decode_all(docs, "bucket")
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        tx!(self, "delete_bucket", |c| buckets::delete_bucket(
            &mut self.tx(c),
            name
        )
        .await?)
    }

    async fn edit_bucket(&self, name: &str, edit: BucketEdit) -> Result<Bucket> {
        let mut once = buckets::EditOnce::new(edit);
        tx!(self, "edit_bucket", |c| buckets::edit_bucket(
            &mut self.tx(c),
            name,
            &mut once
        )
        .await?)
    }

    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        tx!(self, "set_object_tags", |c| buckets::set_object_tags(
            &mut self.tx(c),
            bucket,
            key,
            tags
        )
        .await?)
    }

    async fn bucket_usage(&self, name: &str) -> Result<Usage> {
        let row = stmt!(self, "bucket_usage", |c| sqlx::query(
            "SELECT usage_bytes, usage_objects FROM buckets WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(c)
        .await?)?
        .ok_or(Error::NoSuchBucket)?;
        let get = |i: usize| {
            row.try_get::<i64, _>(i)
                .map(|v| v as u64)
                .map_err(|e| db_err("bucket_usage", e))
        };
        Ok(Usage {
            bytes: get(0)?,
            objects: get(1)?,
        })
    }

    // ---- objects ----

    async fn put_object(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        let mut row = ObjectRow::new(record)?;
        let (prev, vid) = tx!(self, "put_object", |c| objects::put(
            &mut self.tx(c),
            &mut row,
            cond,
            cap
        )
        .await?)?;
        decode_replaced(prev, vid)
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let row = stmt!(self, "get_object", |c| sqlx::query(
            "SELECT doc, inline_data FROM objects WHERE bucket = $1 AND key = $2"
        )
        .bind(bucket)
        .bind(key.as_bytes())
        .fetch_optional(c)
        .await?)?;
        match row {
            None => Ok(None),
            Some(r) => RawObject {
                doc: r.try_get(0).map_err(|e| db_err("get_object", e))?,
                inline: r.try_get(1).map_err(|e| db_err("get_object", e))?,
            }
            .decode()
            .map(Some),
        }
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Replaced> {
        let prev = tx!(self, "delete_object", |c| objects::delete_object(
            &mut self.tx(c),
            bucket,
            key
        )
        .await?)?;
        decode_replaced(prev, None)
    }

    async fn rename_object(
        &self,
        bucket: &str,
        src: &str,
        dst: &str,
        cond: &RenameConditions,
    ) -> Result<Replaced> {
        let prev = tx!(self, "rename_object", |c| objects::rename(
            &mut self.tx(c),
            bucket,
            src,
            dst,
            cond
        )
        .await?)?;
        decode_replaced(prev, None)
    }

    async fn set_bucket_versioning(&self, name: &str, state: VersioningState) -> Result<()> {
        tx!(self, "set_bucket_versioning", |c| buckets::set_versioning(
            &mut self.tx(c),
            name,
            state
        )
        .await?)
    }

    async fn delete_object_current(
        &self,
        bucket: &str,
        key: &str,
        marker_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deleted> {
        tx!(self, "delete_object_current", |c| objects::delete_current(
            &mut self.tx(c),
            bucket,
            key,
            marker_id,
            now
        )
        .await?)?
        .decode()
    }

    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Deleted> {
        tx!(self, "delete_object_version", |c| objects::delete_version(
            &mut self.tx(c),
            bucket,
            key,
            version_id
        )
        .await?)?
        .decode()
    }

    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>> {
        let found = tx!(self, "get_object_version", |c| {
            // One snapshot for both tables: a version moving between them is seen once.
            repeatable_read(c).await?;
            listings::get_object_version(&mut self.tx(c), bucket, key, version_id).await?
        })?;
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
        tx!(self, "list_object_versions", |c| {
            repeatable_read(c).await?;
            let tx = &mut self.tx(c);
            listings::list_object_versions(tx, bucket, prefix, key_marker, version_id_marker, limit)
                .await?
        })
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<ObjectPage> {
        tx!(self, "list_objects", |c| {
            let tx = &mut self.tx(c);
            listings::list_objects(tx, bucket, prefix, start_after, limit).await?
        })
    }

    // ---- multipart ----

    async fn create_upload(&self, upload: &MultipartUpload) -> Result<()> {
        tx!(self, "create_upload", |c| multipart::create_upload(
            &mut self.tx(c),
            upload
        )
        .await?)
    }

    async fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>> {
        let doc: Option<String> = stmt!(self, "get_upload", |c| sqlx::query_scalar(
            "SELECT doc FROM uploads WHERE upload_id = $1"
        )
        .bind(upload_id)
        .fetch_optional(c)
        .await?)?;
        doc.map(|d| from_doc(&d, "upload")).transpose()
    }

    async fn put_part(&self, part: &PartRecord) -> Result<Option<PartRecord>> {
        let doc = to_doc(part)?;
        let prev = tx!(self, "put_part", |c| multipart::put_part(
            &mut self.tx(c),
            part,
            &doc
        )
        .await?)?;
        prev.map(|d| from_doc(&d, "part")).transpose()
    }

    async fn list_parts(
        &self,
        upload_id: &str,
        part_number_marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        let docs = tx!(self, "list_parts", |c| {
            let tx = &mut self.tx(c);
            listings::list_parts(tx, upload_id, part_number_marker, limit).await?
        })?;
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
        let docs = tx!(self, "list_uploads", |c| {
            let tx = &mut self.tx(c);
            listings::list_uploads(tx, bucket, prefix, key_marker, upload_id_marker, limit).await?
        })?;
        decode_all(docs, "upload")
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<(Replaced, Vec<PartRecord>)> {
        let mut row = ObjectRow::new(record)?;
        let used: Vec<String> = record.data.blob_ids().map(str::to_string).collect();
        let (prev, vid, parts) = tx!(self, "complete_upload", |c| multipart::complete(
            &mut self.tx(c),
            upload_id,
            &mut row,
            &used,
            cond,
            cap
        )
        .await?)?;
        Ok((
            decode_replaced(prev, vid)?,
            semantics::unused_parts(record, parts),
        ))
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<Vec<PartRecord>> {
        let docs = tx!(self, "abort_upload", |c| multipart::abort(
            &mut self.tx(c),
            upload_id
        )
        .await?)?;
        decode_all(docs, "part")
    }

    // ---- workload identity federation ----

    async fn create_federation_config(&self, config: &FederationConfig) -> Result<()> {
        let doc = to_doc(config)?;
        let n = stmt!(self, "create_federation_config", |c| sqlx::query(
            "INSERT INTO federation_configs (config_id, org_id, kind, doc)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        )
        .bind(&config.config_id)
        .bind(&config.org_id)
        .bind(config.kind().as_str())
        .bind(&doc)
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::AlreadyExists(format!(
                "federation config {}",
                config.config_id
            )));
        }
        Ok(())
    }

    async fn update_federation_config(&self, config: &FederationConfig) -> Result<()> {
        let doc = to_doc(config)?;
        let n = stmt!(self, "update_federation_config", |c| sqlx::query(
            "UPDATE federation_configs SET doc = $4
             WHERE config_id = $1 AND org_id = $2 AND kind = $3"
        )
        .bind(&config.config_id)
        .bind(&config.org_id)
        .bind(config.kind().as_str())
        .bind(&doc)
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::NotFound(format!(
                "federation config {}",
                config.config_id
            )));
        }
        Ok(())
    }

    async fn get_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<Option<FederationConfig>> {
        let doc: Option<String> = stmt!(self, "get_federation_config", |c| sqlx::query_scalar(
            "SELECT doc FROM federation_configs
             WHERE config_id = $1 AND org_id = $2 AND kind = $3"
        )
        .bind(config_id)
        .bind(org_id)
        .bind(kind.as_str())
        .fetch_optional(c)
        .await?)?;
        doc.map(|d| from_doc(&d, "federation config")).transpose()
    }

    async fn list_federation_configs(
        &self,
        org_id: &str,
        kind: FederationKind,
    ) -> Result<Vec<FederationConfig>> {
        let docs: Vec<String> = stmt!(self, "list_federation_configs", |c| {
            sqlx::query_scalar(
                "SELECT doc FROM federation_configs WHERE org_id = $1 AND kind = $2 ORDER BY seq",
            )
            .bind(org_id)
            .bind(kind.as_str())
            .fetch_all(c)
            .await?
        })?;
        decode_all(docs, "federation config")
    }

    async fn delete_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<()> {
        let n = stmt!(self, "delete_federation_config", |c| sqlx::query(
            "DELETE FROM federation_configs WHERE config_id = $1 AND org_id = $2 AND kind = $3"
        )
        .bind(config_id)
        .bind(org_id)
        .bind(kind.as_str())
        .execute(c)
        .await?
        .rows_affected())?;
        if n == 0 {
            return Err(Error::NotFound(format!("federation config {config_id}")));
        }
        Ok(())
    }

    async fn record_assertion_id(
        &self,
        org_id: &str,
        assertion_id: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let horizon = nanos(now - semantics::ASSERTION_ID_PURGE_AFTER)?;
        let (expires, now) = (nanos(expires)?, nanos(now)?);
        tx!(self, "record_assertion_id", |c| {
            sqlx::query("DELETE FROM saml_assertion_ids WHERE expires <= $1")
                .bind(horizon)
                .execute(&mut *c)
                .await?;
            // Inserts, or takes over an entry that has expired; a live entry stays and
            // nothing changes (a replay).
            let n = sqlx::query(
                "INSERT INTO saml_assertion_ids (org_id, assertion_id, expires)
                 VALUES ($1, $2, $3) ON CONFLICT (org_id, assertion_id) DO UPDATE
                 SET expires = excluded.expires WHERE saml_assertion_ids.expires <= $4",
            )
            .bind(org_id)
            .bind(assertion_id)
            .bind(expires)
            .bind(now)
            .execute(&mut *c)
            .await?
            .rows_affected();
            n == 1
        })
    }

    // ---- maintenance ----

    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        tx!(self, "referenced_blobs", |c| {
            // One snapshot for both tables: a part completed into an object between the
            // two reads is seen in one of them.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *c)
                .await?;
            let mut set = HashSet::new();
            let objs: Vec<String> =
                sqlx::query_scalar("SELECT blob_ids FROM objects WHERE blob_ids IS NOT NULL")
                    .fetch_all(&mut *c)
                    .await?;
            let old: Vec<String> = sqlx::query_scalar(
                "SELECT blob_ids FROM object_versions WHERE blob_ids IS NOT NULL",
            )
            .fetch_all(&mut *c)
            .await?;
            for ids in objs.into_iter().chain(old) {
                set.extend(ids.split(' ').filter(|s| !s.is_empty()).map(str::to_string));
            }
            let parts: Vec<String> = sqlx::query_scalar("SELECT blob_id FROM parts")
                .fetch_all(&mut *c)
                .await?;
            set.extend(parts);
            set
        })
    }
}
