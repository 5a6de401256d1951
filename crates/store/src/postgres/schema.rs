//! The PostgreSQL schema and its migrations, mirroring the SQLite schema without the
//! audit outbox (same tables, columns and meaning). `MIGRATIONS[i]` takes a database from version `i` to `i + 1`.
//!
//! Invariants:
//! * Portable SQL only: CockroachDB and YugabyteDB accept every statement here (no
//!   advisory locks, no PL/pgSQL, no extensions).
//! * Migrations are serialized by our own lock row (`coffer_migration_lock`), taken with
//!   `INSERT … ON CONFLICT DO UPDATE … WHERE expired`, so several nodes starting at once
//!   migrate exactly once; a holder that died releases it by expiry.
//! * Each migration and its version bump commit in one transaction.
//! * A database whose version is newer than `MIGRATIONS.len()` is refused, never touched.
//! * Object and upload keys are BYTEA: byte-wise order (S3 listing order) on every engine
//!   whatever the database collation, and prefix upper bounds that are not valid UTF-8
//!   bind as they are. Ordered text columns use `COLLATE "C"` for the same reason.

use super::{PgErr, db_err};
use coffer_core::{Error, Result};
use sqlx::{PgPool, Row};
use std::time::Duration;

/// Version 1 = SQLite versions 1 and 2 together. `coffer_changes` is the change counter
/// the change feed polls (one row, bumped by every transaction that changes a cached
/// record).
const V1: &str = r#"
CREATE TABLE orgs (
    org_id TEXT COLLATE "C" PRIMARY KEY,
    doc    TEXT NOT NULL
);

CREATE TABLE users (
    uid    TEXT COLLATE "C" PRIMARY KEY,
    org_id TEXT NOT NULL,
    doc    TEXT NOT NULL
);
CREATE INDEX users_by_org ON users (org_id, uid);

CREATE TABLE api_tokens (
    token_id   TEXT COLLATE "C" PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    uid        TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX api_tokens_by_org ON api_tokens (org_id, token_id);
CREATE INDEX api_tokens_by_uid ON api_tokens (uid);

CREATE TABLE access_keys (
    seq           BIGSERIAL PRIMARY KEY,
    access_key_id TEXT NOT NULL UNIQUE,
    org_id        TEXT NOT NULL,
    principal     TEXT NOT NULL,
    uid           TEXT,
    state         TEXT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX access_keys_by_org ON access_keys (org_id, seq);
CREATE INDEX access_keys_by_principal ON access_keys (org_id, principal);
CREATE INDEX access_keys_by_uid ON access_keys (uid);

CREATE TABLE policies (
    org_id TEXT COLLATE "C" NOT NULL,
    name   TEXT COLLATE "C" NOT NULL,
    doc    TEXT NOT NULL,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE org_settings (
    org_id TEXT PRIMARY KEY,
    doc    TEXT NOT NULL
);

CREATE TABLE buckets (
    name          TEXT COLLATE "C" PRIMARY KEY,
    org_id        TEXT NOT NULL,
    usage_bytes   BIGINT NOT NULL DEFAULT 0,
    usage_objects BIGINT NOT NULL DEFAULT 0,
    doc           TEXT NOT NULL
);
CREATE INDEX buckets_by_org ON buckets (org_id, name);

CREATE TABLE objects (
    bucket        TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
    key           BYTEA NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    last_modified BIGINT NOT NULL,
    blob_ids      TEXT,
    doc           TEXT NOT NULL,
    inline_data   BYTEA,
    PRIMARY KEY (bucket, key)
);

CREATE TABLE uploads (
    upload_id TEXT COLLATE "C" PRIMARY KEY,
    bucket    TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
    key       BYTEA NOT NULL,
    initiated BIGINT NOT NULL,
    doc       TEXT NOT NULL
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id);

CREATE TABLE parts (
    upload_id   TEXT NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob_id     TEXT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

CREATE TABLE federation_configs (
    seq       BIGSERIAL PRIMARY KEY,
    config_id TEXT NOT NULL UNIQUE,
    org_id    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    doc       TEXT NOT NULL
);
CREATE INDEX federation_configs_by_org ON federation_configs (org_id, kind, seq);

CREATE TABLE saml_assertion_ids (
    org_id       TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires      BIGINT NOT NULL,
    PRIMARY KEY (org_id, assertion_id)
);
CREATE INDEX saml_assertion_ids_by_expiry ON saml_assertion_ids (expires);

CREATE TABLE coffer_changes (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO coffer_changes (id, version) VALUES (1, 0);
"#;

/// Version 2 = SQLite version 3: S3 versioning. `buckets.versioning` mirrors the
/// document's state (0 unversioned, 1 enabled, 2 suspended) and is read with the usage
/// counters under the bucket row lock. `objects` keeps the current object of each key
/// (`version_id` NULL = the `null` version); every other version lives in
/// `object_versions`, ordered by `seq` (newer = larger: inserts of one bucket are
/// serialized by its row lock), with `version_id = 'null'` for the null version.
const V2: &str = r#"
ALTER TABLE buckets ADD COLUMN versioning INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN version_id TEXT;

CREATE TABLE object_versions (
    seq           BIGSERIAL PRIMARY KEY,
    bucket        TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
    key           BYTEA NOT NULL,
    version_id    TEXT COLLATE "C" NOT NULL,
    delete_marker BOOLEAN NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    last_modified BIGINT NOT NULL,
    blob_ids      TEXT,
    doc           TEXT NOT NULL,
    inline_data   BYTEA
);
CREATE UNIQUE INDEX object_versions_by_key ON object_versions (bucket, key, seq DESC);
CREATE UNIQUE INDEX object_versions_by_id ON object_versions (bucket, key, version_id);
"#;

/// Version 3 = SQLite version 5, first half: `access_keys.expiry` (unix nanoseconds,
/// NULL = permanent) and `exchange` (minted by a temporary-credential exchange) mirror
/// the document, for per-org key quotas and paginated key listings. Columns only: the
/// fill is its own migration because CockroachDB does not let a transaction write a
/// column it added.
const V3: &str = r#"
ALTER TABLE access_keys ADD COLUMN expiry BIGINT;
ALTER TABLE access_keys ADD COLUMN exchange BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX access_keys_exchange_by_expiry ON access_keys (org_id, expiry) WHERE exchange;
"#;

/// Version 4: fills the version 3 columns of existing keys from their documents (the
/// expiry to the microsecond, PostgreSQL's timestamp precision).
const V4: &str = r#"
UPDATE access_keys SET
    expiry = CAST(EXTRACT(EPOCH FROM CAST(CAST(doc AS JSONB) ->> 'expiry' AS TIMESTAMPTZ))
                  * 1000000 AS BIGINT) * 1000,
    exchange = (CAST(doc AS JSONB) ->> 'source') <> 'ApiToken';
"#;

/// Version 5 = SQLite version 6: compute-node caches registered by the operator.
const V5: &str = r#"
CREATE TABLE cache_nodes (
    node_id         TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL UNIQUE,
    credential_hash TEXT NOT NULL UNIQUE,
    doc             TEXT NOT NULL
);
"#;

/// Version 6 = SQLite version 7: documents may hold sealed data; a binary that
/// predates encryption must refuse the database (a node of the old version in a mixed
/// cluster would serve sealed bytes and SSE-C metadata).
const V6: &str = r#"
CREATE TABLE format_features (name TEXT PRIMARY KEY NOT NULL);
INSERT INTO format_features (name) VALUES ('sse-v1');
"#;

const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

pub(crate) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// How long a migration lock is held before another node may take it over.
const LOCK_LEASE: Duration = Duration::from_secs(300);
/// How long a node waits for another node's migration before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(600);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Creates the bookkeeping tables if needed. Two nodes racing on `CREATE TABLE IF NOT
/// EXISTS` can make one fail with a duplicate-object error; that one retries.
async fn bookkeeping(pool: &PgPool) -> Result<()> {
    const SQL: &str = "CREATE TABLE IF NOT EXISTS coffer_schema_version (
                           id INTEGER PRIMARY KEY, version BIGINT NOT NULL);
                       CREATE TABLE IF NOT EXISTS coffer_migration_lock (
                           id INTEGER PRIMARY KEY, holder TEXT NOT NULL, expires BIGINT NOT NULL);";
    let mut last = None;
    for _ in 0..10 {
        match sqlx::raw_sql(SQL).execute(pool).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    Err(db_err(
        "create bookkeeping tables",
        last.expect("loop ran at least once"),
    ))
}

/// Brings the database to `current_version()`; returns the version found before.
pub(crate) async fn migrate(pool: &PgPool) -> Result<i64> {
    migrate_to(pool, current_version()).await
}

/// Brings the database to `target` (≤ `current_version()`; tests build old databases).
pub(crate) async fn migrate_to(pool: &PgPool, target: i64) -> Result<i64> {
    bookkeeping(pool).await?;
    let holder = coffer_core::ids::new_hex_id();
    let started = std::time::Instant::now();
    loop {
        let now = now_ms();
        let taken = sqlx::query(
            "INSERT INTO coffer_migration_lock (id, holder, expires) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
             WHERE coffer_migration_lock.expires < $3",
        )
        .bind(&holder)
        .bind(now + LOCK_LEASE.as_millis() as i64)
        .bind(now)
        .execute(pool)
        .await
        .map_err(|e| db_err("take the migration lock", e))?
        .rows_affected()
            == 1;
        if taken {
            break;
        }
        if started.elapsed() > LOCK_WAIT {
            return Err(Error::internal(
                "another node has held the schema migration lock for too long",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = migrate_locked(pool, target).await;
    let released = sqlx::query("DELETE FROM coffer_migration_lock WHERE id = 1 AND holder = $1")
        .bind(&holder)
        .execute(pool)
        .await;
    let found = r?;
    released.map_err(|e| db_err("release the migration lock", e))?;
    Ok(found)
}

async fn migrate_locked(pool: &PgPool, target: i64) -> Result<i64> {
    let found: i64 = sqlx::query("SELECT version FROM coffer_schema_version WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(|e| db_err("read the schema version", e))?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()
        .map_err(|e| db_err("read the schema version", e))?
        .unwrap_or(0);
    let supported = current_version();
    if found > supported || found < 0 {
        return Err(Error::FailedPrecondition(format!(
            "the metadata database has schema version {found}, but this build of coffer \
             supports versions up to {supported}; run a newer coffer"
        )));
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(found as usize)
        .take(target.saturating_sub(found).max(0) as usize)
    {
        let to = i as i64 + 1;
        let step = async {
            let mut tx = pool.begin().await?;
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO coffer_schema_version (id, version) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            )
            .bind(to)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, PgErr>(())
        };
        step.await.map_err(|e| match e {
            PgErr::Db(e) => db_err(&format!("migration to version {to}"), e),
            PgErr::App(e) => e,
        })?;
    }
    Ok(found)
}

/// Test hook: sets the stored version (to test refusal of newer databases).
#[doc(hidden)]
pub(crate) async fn set_version(pool: &PgPool, v: i64) -> Result<()> {
    sqlx::query("UPDATE coffer_schema_version SET version = $1 WHERE id = 1")
        .bind(v)
        .execute(pool)
        .await
        .map_err(|e| db_err("set version", e))?;
    Ok(())
}
