//! The SQLite schema and its migrations. `MIGRATIONS[i]` takes a database from version
//! `i` to `i + 1`; `schema_version` holds the single current version. Migrations run in
//! one `IMMEDIATE` transaction at open, so a database is never left half-migrated.
//!
//! Invariants:
//! * A migration, once released, is never edited: old databases were built by it.
//! * A database whose version is newer than `MIGRATIONS.len()` is refused, never touched.
//! * Keys and names are TEXT with the default BINARY collation, so comparisons and
//!   `ORDER BY` are byte-wise, i.e. UTF-8 order, as S3 listings require.

use super::sql_err;
use coffer_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Version 1. Records are JSON documents (`doc`) next to the columns that queries
/// filter, order or sum on. Object bytes stored inline live in `inline_data`, never inside
/// the JSON document.
pub(crate) const V1: &str = r#"
CREATE TABLE orgs (
    org_id TEXT PRIMARY KEY NOT NULL,
    doc    TEXT NOT NULL
);

CREATE TABLE users (
    uid    TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL,
    doc    TEXT NOT NULL
);
CREATE INDEX users_by_org ON users (org_id, uid);

CREATE TABLE api_tokens (
    token_id   TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL,
    uid        TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    doc        TEXT NOT NULL
);
CREATE UNIQUE INDEX api_tokens_by_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_by_org ON api_tokens (org_id, token_id);
CREATE INDEX api_tokens_by_uid ON api_tokens (uid);

-- seq preserves creation order (AUTOINCREMENT: never reused). `state` mirrors doc.state.
CREATE TABLE access_keys (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
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
    org_id TEXT NOT NULL,
    name   TEXT NOT NULL,
    doc    TEXT NOT NULL,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE org_settings (
    org_id TEXT PRIMARY KEY NOT NULL,
    doc    TEXT NOT NULL
);

-- usage_* = sums over the bucket's objects, maintained in the transaction of each write.
CREATE TABLE buckets (
    name          TEXT PRIMARY KEY NOT NULL,
    org_id        TEXT NOT NULL,
    usage_bytes   INTEGER NOT NULL DEFAULT 0,
    usage_objects INTEGER NOT NULL DEFAULT 0,
    doc           TEXT NOT NULL
);
CREATE INDEX buckets_by_org ON buckets (org_id, name);

-- last_modified: unix nanoseconds. blob_ids: space-separated segment blob ids, NULL for
-- inline objects. inline_data: the bytes of an inline object (doc.data is then empty).
CREATE TABLE objects (
    bucket        TEXT NOT NULL REFERENCES buckets (name),
    key           TEXT NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    blob_ids      TEXT,
    doc           TEXT NOT NULL,
    inline_data   BLOB,
    PRIMARY KEY (bucket, key)
);

-- initiated: unix nanoseconds.
CREATE TABLE uploads (
    upload_id TEXT PRIMARY KEY NOT NULL,
    bucket    TEXT NOT NULL REFERENCES buckets (name),
    key       TEXT NOT NULL,
    initiated INTEGER NOT NULL,
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
"#;

/// Version 2: workload identity federation (SPEC §5). `federation_configs.kind` mirrors
/// the document's settings variant (`saml` | `oidc`); `seq` preserves creation order.
/// `saml_assertion_ids` remembers used assertion ids until they expire (unix nanoseconds),
/// one row per (org, id), so the primary key makes insert-if-absent atomic.
pub(crate) const V2: &str = r#"
CREATE TABLE federation_configs (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    config_id TEXT NOT NULL UNIQUE,
    org_id    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    doc       TEXT NOT NULL
);
CREATE INDEX federation_configs_by_org ON federation_configs (org_id, kind, seq);

CREATE TABLE saml_assertion_ids (
    org_id       TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires      INTEGER NOT NULL,
    PRIMARY KEY (org_id, assertion_id)
);
CREATE INDEX saml_assertion_ids_by_expiry ON saml_assertion_ids (expires);
"#;

/// Version 3: S3 versioning (SPEC §4). `buckets.versioning` mirrors the document's
/// state (0 unversioned, 1 enabled, 2 suspended) so a write reads it with the usage
/// counters, in the same query. `objects` keeps holding the current object of each key;
/// `objects.version_id` mirrors its document (NULL = the `null` version). Every other
/// version — noncurrent objects and delete markers — lives in `object_versions`, ordered
/// by `seq` (newer = larger; AUTOINCREMENT never reuses a number), with
/// `version_id = 'null'` for the null version, so (bucket, key, version_id) is unique.
pub(crate) const V3: &str = r#"
ALTER TABLE buckets ADD COLUMN versioning INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN version_id TEXT;

CREATE TABLE object_versions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket        TEXT NOT NULL REFERENCES buckets (name),
    key           TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    delete_marker INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    blob_ids      TEXT,
    doc           TEXT NOT NULL,
    inline_data   BLOB
);
CREATE UNIQUE INDEX object_versions_by_key ON object_versions (bucket, key, seq DESC);
CREATE UNIQUE INDEX object_versions_by_id ON object_versions (bucket, key, version_id);
"#;

/// Version 4: the audit outbox (`MetaStore::put_object_audited`): audit events
/// committed in the transaction of the write they describe, drained by the audit
/// flusher. AUTOINCREMENT: a number is never reused, also once every row was trimmed,
/// because the flusher's journal remembers the last number it delivered.
pub(crate) const V4: &str = r#"
CREATE TABLE audit_outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    event BLOB NOT NULL
);
"#;

/// Version 5: per-org key quotas and paginated key listings (`MetaStore::
/// create_access_key`, `list_access_keys`) filter on the key's expiry and source in SQL.
/// `access_keys.expiry` mirrors the document's expiry (unix nanoseconds, NULL =
/// permanent); `exchange` is 1 for keys minted by a temporary-credential exchange (the
/// document's source is not `ApiToken`), which are removed once expired. Existing rows
/// are filled from their documents to the millisecond (`unixepoch(…, 'subsec')`), so
/// the SQL expiry of a key stored before may differ from its document's by under 1 ms.
pub(crate) const V5: &str = r#"
ALTER TABLE access_keys ADD COLUMN expiry INTEGER;
ALTER TABLE access_keys ADD COLUMN exchange INTEGER NOT NULL DEFAULT 0;
UPDATE access_keys SET
    expiry = CAST(unixepoch(json_extract(doc, '$.expiry'), 'subsec') * 1000 AS INTEGER)
             * 1000000,
    exchange = (json_extract(doc, '$.source') <> 'ApiToken');
CREATE INDEX access_keys_exchange_by_expiry ON access_keys (org_id, expiry) WHERE exchange = 1;
"#;

/// Version 6: compute-node caches registered by the operator (`MetaStore::
/// create_cache_node`); only the SHA-256 of a node's credential is stored.
pub(crate) const V6: &str = r#"
CREATE TABLE cache_nodes (
    node_id         TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL UNIQUE,
    credential_hash TEXT NOT NULL UNIQUE,
    doc             TEXT NOT NULL
);
"#;

/// Version 7: object and upload documents may hold sealed data (`coffer_core::sse`:
/// `encryption`, `key_salt`). No table changes shape; the version exists so that a
/// binary that predates encryption refuses the database instead of ignoring those
/// fields and serving sealed bytes or SSE-C metadata. `format_features` names it.
pub(crate) const V7: &str = r#"
CREATE TABLE format_features (name TEXT PRIMARY KEY NOT NULL);
INSERT INTO format_features (name) VALUES ('sse-v1');
"#;

/// Every migration in order; the schema version is the number applied.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

pub(crate) fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Brings the database to `current_version()`; returns the version found before.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err("begin migration"))?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(sql_err("create schema_version"))?;
    let found: i64 = tx
        .query_row("SELECT max(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()
        .map_err(sql_err("read schema_version"))?
        .flatten()
        .unwrap_or(0);
    let supported = i64::from(current_version());
    if found > supported || found < 0 {
        return Err(Error::FailedPrecondition(format!(
            "the metadata database has schema version {found}, but this build of coffer \
             supports versions up to {supported}; run a newer coffer"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)
            .map_err(|e| Error::internal(format!("sqlite migration to version {}: {e}", i + 1)))?;
    }
    if found != supported {
        tx.execute("DELETE FROM schema_version", [])
            .map_err(sql_err("clear schema_version"))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [supported],
        )
        .map_err(sql_err("write schema_version"))?;
    }
    tx.commit().map_err(sql_err("commit migration"))?;
    Ok(found as u32)
}
