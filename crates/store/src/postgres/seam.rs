//! PostgreSQL's SQL for the rules' seams (`ObjectTx`, `UploadTx`, `BucketTx`,
//! `IdentityTx`, `ListTx`, `DocTx`), run inside the caller's retried transaction (`tx!`), which
//! may run a rule again from the start. Writers of a bucket's objects serialize on its
//! row (`lock_bucket`: `FOR UPDATE`), uploads and parts on theirs (`FOR SHARE` / `FOR
//! UPDATE`), quota checks on the org's, so the rules' checks hold at commit across
//! nodes. Keys are bound as bytes (the column is `bytea`, ordered byte-wise).

use super::{CHANNEL, LIST_VERSIONS_SQL, TxResult, key_string};
use crate::engine::{DocTx, Stmt, Val};
use crate::identities::{IdentityTx, KeySelect};
use crate::listings::{ListTx, UploadFilter};
use crate::objects::ObjectTx;
use crate::rows::{
    CurrentRow, ObjectRow, RawObject, VersionRow, from_nanos, key_state, version_summary,
};
use coffer_core::Error;
use coffer_core::change::Change;
use coffer_core::model::*;
use futures::TryStreamExt;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgConnection, Row};

/// A transaction's connection as the store's rules see it.
pub(crate) struct Tx<'a> {
    pub c: &'a mut PgConnection,
    /// Whether the engine delivers `NOTIFY` (PostgreSQL; not CockroachDB or YugabyteDB,
    /// whose nodes poll the change counter).
    pub notify: bool,
}

impl ObjectTx for Tx<'_> {
    async fn current(&mut self, bucket: &str, key: &str) -> TxResult<Option<CurrentRow>> {
        sqlx::query(
            "SELECT size, etag, last_modified, version_id, doc, inline_data FROM objects
             WHERE bucket = $1 AND key = $2",
        )
        .bind(bucket)
        .bind(key.as_bytes())
        .fetch_optional(&mut *self.c)
        .await?
        .map(|r| -> TxResult<_> {
            Ok(CurrentRow {
                size: r.try_get::<i64, _>(0)? as u64,
                etag: r.try_get(1)?,
                last_modified: r.try_get(2)?,
                version_id: r.try_get(3)?,
                raw: RawObject {
                    doc: r.try_get(4)?,
                    inline: r.try_get(5)?,
                },
            })
        })
        .transpose()
    }

    async fn upsert_current(&mut self, row: &ObjectRow) -> TxResult<()> {
        sqlx::query(
            "INSERT INTO objects (bucket, key, size, etag, last_modified, blob_ids, doc,
                                  inline_data, version_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (bucket, key) DO UPDATE SET
               size = excluded.size, etag = excluded.etag,
               last_modified = excluded.last_modified, blob_ids = excluded.blob_ids,
               doc = excluded.doc, inline_data = excluded.inline_data,
               version_id = excluded.version_id",
        )
        .bind(&row.bucket)
        .bind(row.key.as_bytes())
        .bind(row.size)
        .bind(&row.etag)
        .bind(row.last_modified)
        .bind(&row.blob_ids)
        .bind(&row.doc)
        .bind(&row.inline)
        .bind(&row.version_id)
        .execute(&mut *self.c)
        .await?;
        Ok(())
    }

    async fn find_version(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> TxResult<Option<VersionRow>> {
        sqlx::query(
            "SELECT seq, delete_marker, size, doc, inline_data FROM object_versions
             WHERE bucket = $1 AND key = $2 AND version_id = $3",
        )
        .bind(bucket)
        .bind(key.as_bytes())
        .bind(version_id)
        .fetch_optional(&mut *self.c)
        .await?
        .map(|r| -> TxResult<_> {
            Ok(VersionRow {
                seq: r.try_get(0)?,
                delete_marker: r.try_get(1)?,
                size: r.try_get::<i64, _>(2)? as u64,
                raw: RawObject {
                    doc: r.try_get(3)?,
                    inline: r.try_get(4)?,
                },
            })
        })
        .transpose()
    }
}

impl IdentityTx for Tx<'_> {
    async fn announce(&mut self, changes: &[Change]) -> TxResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let version: i64 = sqlx::query_scalar(
            "UPDATE coffer_changes SET version = version + 1 WHERE id = 1 RETURNING version",
        )
        .fetch_one(&mut *self.c)
        .await?;
        if self.notify {
            for ch in changes {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(format!("{version} {}", ch.encode()))
                    .execute(&mut *self.c)
                    .await?;
            }
        }
        Ok(())
    }

    async fn key_rows(&mut self, select: KeySelect<'_>) -> TxResult<Vec<(i64, String)>> {
        let q = match select {
            KeySelect::Id(id) => {
                sqlx::query("SELECT seq, doc FROM access_keys WHERE access_key_id = $1 FOR UPDATE")
                    .bind(id)
            }
            KeySelect::Principal {
                org_id,
                principal,
                except,
            } => sqlx::query(
                "SELECT seq, doc FROM access_keys
                 WHERE org_id = $1 AND principal = $2 AND state <> 'Deleted' AND state <> $3
                 ORDER BY seq FOR UPDATE",
            )
            .bind(org_id)
            .bind(principal)
            .bind(key_state(except)),
            KeySelect::User {
                uid,
                org_id,
                principal,
            } => sqlx::query(
                "SELECT seq, doc FROM access_keys
                 WHERE (uid = $1 OR (org_id = $2 AND principal = $3)) AND state <> 'Deleted'
                 ORDER BY seq FOR UPDATE",
            )
            .bind(uid)
            .bind(org_id)
            .bind(principal),
        };
        q.fetch_all(&mut *self.c)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

impl ListTx for Tx<'_> {
    async fn scan_objects(
        &mut self,
        bucket: &str,
        lower: &str,
        after: bool,
        upper: Option<&[u8]>,
        limit: i64,
    ) -> TxResult<Vec<ObjectSummary>> {
        let sql = match (after, upper.is_some()) {
            (false, false) => {
                "SELECT key, size, etag, last_modified FROM objects
                 WHERE bucket = $1 AND key >= $2 ORDER BY key LIMIT $3"
            }
            (false, true) => {
                "SELECT key, size, etag, last_modified FROM objects
                 WHERE bucket = $1 AND key >= $2 AND key < $4 ORDER BY key LIMIT $3"
            }
            (true, false) => {
                "SELECT key, size, etag, last_modified FROM objects
                 WHERE bucket = $1 AND key > $2 ORDER BY key LIMIT $3"
            }
            (true, true) => {
                "SELECT key, size, etag, last_modified FROM objects
                 WHERE bucket = $1 AND key > $2 AND key < $4 ORDER BY key LIMIT $3"
            }
        };
        let mut q = sqlx::query(sql)
            .bind(bucket)
            .bind(lower.as_bytes())
            .bind(limit);
        if let Some(u) = upper {
            q = q.bind(u);
        }
        q.fetch_all(&mut *self.c)
            .await?
            .into_iter()
            .map(|r| {
                Ok(ObjectSummary {
                    key: key_string(r.try_get(0)?)?,
                    size: r.try_get::<i64, _>(1)? as u64,
                    etag: r.try_get(2)?,
                    last_modified: from_nanos(r.try_get(3)?)?,
                })
            })
            .collect()
    }

    async fn current_of_version(
        &mut self,
        bucket: &str,
        key: &str,
        vid: &str,
    ) -> TxResult<Option<RawObject>> {
        sqlx::query(
            "SELECT doc, inline_data FROM objects
             WHERE bucket = $1 AND key = $2 AND coalesce(version_id, 'null') = $3",
        )
        .bind(bucket)
        .bind(key.as_bytes())
        .bind(vid)
        .fetch_optional(&mut *self.c)
        .await?
        .map(|r| {
            Ok(RawObject {
                doc: r.try_get(0)?,
                inline: r.try_get(1)?,
            })
        })
        .transpose()
    }

    async fn scan_versions(
        &mut self,
        bucket: &str,
        prefix: &str,
        upper: Option<&[u8]>,
        key_marker: &str,
        position: i64,
        limit: i64,
    ) -> TxResult<Vec<VersionSummary>> {
        sqlx::query(LIST_VERSIONS_SQL)
            .bind(bucket)
            .bind(prefix.as_bytes())
            .bind(upper)
            .bind(key_marker.as_bytes())
            .bind(position)
            .bind(limit)
            .fetch_all(&mut *self.c)
            .await?
            .into_iter()
            .map(|r| {
                Ok(version_summary(
                    key_string(r.try_get(0)?)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                    r.try_get(6)?,
                )?)
            })
            .collect()
    }

    async fn scan_uploads(
        &mut self,
        bucket: &str,
        start: &str,
        upper: Option<&[u8]>,
        limit: usize,
        keep: UploadFilter<'_>,
    ) -> TxResult<Vec<String>> {
        let sql = if upper.is_some() {
            "SELECT key, initiated, upload_id, doc FROM uploads
             WHERE bucket = $1 AND key >= $2 AND key < $3
             ORDER BY key, initiated, upload_id"
        } else {
            "SELECT key, initiated, upload_id, doc FROM uploads
             WHERE bucket = $1 AND key >= $2
             ORDER BY key, initiated, upload_id"
        };
        let mut q = sqlx::query(sql).bind(bucket).bind(start.as_bytes());
        if let Some(u) = upper {
            q = q.bind(u);
        }
        let mut rows = q.fetch(&mut *self.c);
        let mut out = Vec::new();
        while out.len() < limit
            && let Some(r) = rows.try_next().await?
        {
            let key = key_string(r.try_get(0)?)?;
            let initiated: i64 = r.try_get(1)?;
            let id: String = r.try_get(2)?;
            if keep(&key, i128::from(initiated), &id) {
                out.push(r.try_get::<String, _>(3)?);
            }
        }
        Ok(out)
    }
}

/// The arguments of a document statement.
fn pg_args(args: &[Val]) -> TxResult<PgArguments> {
    let mut a = PgArguments::default();
    for v in args {
        match v {
            Val::Str(s) => a.add(s.as_str()),
            Val::Key(k) => a.add(k.as_bytes()),
            Val::Int(n) => a.add(*n),
            Val::OptStr(v) => a.add(v.as_deref()),
            Val::OptInt(n) => a.add(*n),
            Val::Bool(b) => a.add(*b),
        }
        .map_err(|e| Error::internal(format!("binding a statement argument: {e}")))?;
    }
    Ok(a)
}

/// The SQL of each document statement (`Stmt` documents the arguments).
fn sql(s: Stmt) -> &'static str {
    match s {
        // Bootstraps of one database queue on one row lock (the schema version row,
        // which every migrated database has). A row lock, not LOCK TABLE: CockroachDB
        // and YugabyteDB (SERIALIZABLE there: the loser retries on 40001) lack it.
        Stmt::LockBootstrap => "SELECT '' FROM coffer_schema_version WHERE id = 1 FOR UPDATE",
        Stmt::AnyOrg => "SELECT org_id FROM orgs LIMIT 1",
        Stmt::InsertOrg => "INSERT INTO orgs (org_id, doc) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        Stmt::GetOrg => "SELECT doc FROM orgs WHERE org_id = $1",
        Stmt::ListOrgs => "SELECT doc FROM orgs ORDER BY org_id",
        Stmt::UpdateOrg => "UPDATE orgs SET doc = $2 WHERE org_id = $1",
        Stmt::InsertUser => {
            "INSERT INTO users (uid, org_id, doc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        }
        Stmt::GetUser => "SELECT doc FROM users WHERE uid = $1",
        Stmt::ListUsers => "SELECT doc FROM users WHERE org_id = $1 ORDER BY uid",
        Stmt::InsertToken => {
            "INSERT INTO api_tokens (token_id, token_hash, uid, org_id, doc)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        }
        Stmt::GetTokenByHash => "SELECT doc FROM api_tokens WHERE token_hash = $1",
        Stmt::ListTokens => "SELECT doc FROM api_tokens WHERE org_id = $1 ORDER BY token_id",
        Stmt::DeleteToken => "DELETE FROM api_tokens WHERE token_id = $1",
        Stmt::GetKey => "SELECT doc FROM access_keys WHERE access_key_id = $1",
        // Statements that do not use $2 still take it (sqlx declares every bound
        // parameter's type). In creation order over `access_keys_by_org`.
        Stmt::KeysAll => {
            "SELECT doc FROM access_keys WHERE org_id = $1 ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Stmt::KeysActive => {
            "SELECT doc FROM access_keys
             WHERE org_id = $1 AND state = 'Active' AND (expiry IS NULL OR expiry > $2)
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Stmt::KeysExpired => {
            "SELECT doc FROM access_keys WHERE org_id = $1 AND state = 'Active' AND expiry <= $2
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Stmt::KeysSuspended => {
            "SELECT doc FROM access_keys
             WHERE org_id = $1 AND state = 'Suspended'
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Stmt::KeysDeleted => {
            "SELECT doc FROM access_keys
             WHERE org_id = $1 AND state = 'Deleted'
             ORDER BY seq LIMIT $3 OFFSET $4"
        }
        Stmt::ListPolicies => "SELECT doc FROM policies WHERE org_id = $1 ORDER BY name",
        Stmt::ListAllPolicies => "SELECT doc FROM policies ORDER BY org_id, name",
        Stmt::GetOrgSettings => "SELECT doc FROM org_settings WHERE org_id = $1",
        Stmt::PutOrgSettings => {
            "INSERT INTO org_settings (org_id, doc) VALUES ($1, $2)
             ON CONFLICT (org_id) DO UPDATE SET doc = excluded.doc"
        }
        Stmt::InsertBucket => {
            "INSERT INTO buckets (name, org_id, doc, versioning) VALUES ($1, $2, $3, $4::INT)
             ON CONFLICT DO NOTHING"
        }
        Stmt::GetBucket => "SELECT doc FROM buckets WHERE name = $1",
        Stmt::ListBuckets => "SELECT doc FROM buckets WHERE org_id = $1 ORDER BY name",
        Stmt::GetUpload => "SELECT doc FROM uploads WHERE upload_id = $1",
        Stmt::InsertFederation => {
            "INSERT INTO federation_configs (config_id, org_id, kind, doc)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        }
        Stmt::UpdateFederation => {
            "UPDATE federation_configs SET doc = $4
             WHERE config_id = $1 AND org_id = $2 AND kind = $3"
        }
        Stmt::GetFederation => {
            "SELECT doc FROM federation_configs WHERE config_id = $1 AND org_id = $2 AND kind = $3"
        }
        Stmt::ListFederation => {
            "SELECT doc FROM federation_configs WHERE org_id = $1 AND kind = $2 ORDER BY seq"
        }
        Stmt::DeleteFederation => {
            "DELETE FROM federation_configs WHERE config_id = $1 AND org_id = $2 AND kind = $3"
        }
        Stmt::PurgeAssertions => "DELETE FROM saml_assertion_ids WHERE expires <= $1",
        Stmt::RecordAssertion => {
            "INSERT INTO saml_assertion_ids (org_id, assertion_id, expires)
             VALUES ($1, $2, $3) ON CONFLICT (org_id, assertion_id) DO UPDATE
             SET expires = excluded.expires WHERE saml_assertion_ids.expires <= $4"
        }
        Stmt::ObjectBlobs => "SELECT blob_ids FROM objects WHERE blob_ids IS NOT NULL",
        Stmt::VersionBlobs => "SELECT blob_ids FROM object_versions WHERE blob_ids IS NOT NULL",
        Stmt::PartBlobs => "SELECT blob_id FROM parts",
        Stmt::LockBucket => {
            "SELECT usage_bytes, usage_objects, versioning::BIGINT FROM buckets WHERE name = $1 FOR UPDATE"
        }
        Stmt::Usage => "SELECT usage_bytes, usage_objects FROM buckets WHERE name = $1",
        Stmt::NewestVersion => {
            "SELECT seq, delete_marker::INT::BIGINT FROM object_versions
             WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1"
        }
        Stmt::UploadInitiated => {
            "SELECT initiated FROM uploads WHERE upload_id = $1 AND bucket = $2 AND key = $3"
        }
        Stmt::CountKeys => {
            "SELECT count(*), count(*) FILTER (WHERE principal = $2) FROM access_keys
             WHERE org_id = $1 AND state <> 'Deleted' AND (expiry IS NULL OR expiry > $3)"
        }
        Stmt::CountPolicies => {
            "SELECT count(*), count(*) FILTER (WHERE name = $2) FROM policies WHERE org_id = $1"
        }
        Stmt::SetUsage => "UPDATE buckets SET usage_bytes = $2, usage_objects = $3 WHERE name = $1",
        Stmt::HasCurrent => "SELECT '' FROM objects WHERE bucket = $1 AND key = $2",
        Stmt::DeleteCurrent => "DELETE FROM objects WHERE bucket = $1 AND key = $2",
        Stmt::RetireCurrent => {
            "INSERT INTO object_versions (bucket, key, version_id, delete_marker, size, etag,
                                          last_modified, blob_ids, doc, inline_data)
             SELECT bucket, key, coalesce(version_id, 'null'), FALSE, size, etag, last_modified,
                    blob_ids, doc, inline_data
             FROM objects WHERE bucket = $1 AND key = $2"
        }
        Stmt::RenameCurrent => {
            "UPDATE objects SET key = $3, doc = $4 WHERE bucket = $1 AND key = $2"
        }
        Stmt::DeleteVersion => "DELETE FROM object_versions WHERE seq = $1",
        Stmt::PromoteVersion => {
            "INSERT INTO objects (bucket, key, size, etag, last_modified, blob_ids, doc,
                                  inline_data, version_id)
             SELECT bucket, key, size, etag, last_modified, blob_ids, doc, inline_data,
                    nullif(version_id, 'null')
             FROM object_versions WHERE seq = $1"
        }
        Stmt::InsertMarker => {
            "INSERT INTO object_versions (bucket, key, version_id, delete_marker, size, etag,
                                          last_modified, blob_ids, doc, inline_data)
             VALUES ($1, $2, $3, TRUE, 0, '', $4, NULL, $5, NULL)"
        }
        Stmt::HoldBucket => "SELECT '' FROM buckets WHERE name = $1 FOR SHARE",
        Stmt::BucketExists => "SELECT '' FROM buckets WHERE name = $1",
        Stmt::InsertUpload => {
            "INSERT INTO uploads (upload_id, bucket, key, initiated, doc)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        }
        Stmt::HoldUpload => "SELECT '' FROM uploads WHERE upload_id = $1 FOR SHARE",
        Stmt::LockUpload => "SELECT '' FROM uploads WHERE upload_id = $1 FOR UPDATE",
        Stmt::PartDoc => {
            "SELECT doc FROM parts WHERE upload_id = $1 AND part_number = $2::INT FOR UPDATE"
        }
        Stmt::UpsertPart => {
            "INSERT INTO parts (upload_id, part_number, blob_id, doc) VALUES ($1, $2::INT, $3, $4)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET
               blob_id = excluded.blob_id, doc = excluded.doc"
        }
        Stmt::PartDocs => "SELECT doc FROM parts WHERE upload_id = $1 ORDER BY part_number",
        Stmt::ScanParts => {
            "SELECT doc FROM parts WHERE upload_id = $1 AND part_number > $2
             ORDER BY part_number LIMIT $3"
        }
        Stmt::DeleteParts => "DELETE FROM parts WHERE upload_id = $1",
        Stmt::DeleteUpload => "DELETE FROM uploads WHERE upload_id = $1",
        Stmt::LockBucketDoc => "SELECT doc FROM buckets WHERE name = $1 FOR UPDATE",
        Stmt::UpdateBucket => "UPDATE buckets SET doc = $2, versioning = $3::INT WHERE name = $1",
        Stmt::BucketInUse => {
            "SELECT '' WHERE EXISTS (SELECT 1 FROM objects WHERE bucket = $1)
                OR EXISTS (SELECT 1 FROM object_versions WHERE bucket = $1)
                OR EXISTS (SELECT 1 FROM uploads WHERE bucket = $1)"
        }
        Stmt::DeleteBucket => "DELETE FROM buckets WHERE name = $1",
        Stmt::LockObjectDoc => "SELECT doc FROM objects WHERE bucket = $1 AND key = $2 FOR UPDATE",
        Stmt::SetObjectDoc => "UPDATE objects SET doc = $3 WHERE bucket = $1 AND key = $2",
        Stmt::LockOrg => "SELECT org_id FROM orgs WHERE org_id = $1 FOR UPDATE",
        Stmt::PurgeExchangeKeys => {
            "DELETE FROM access_keys WHERE org_id = $1 AND exchange AND expiry <= $2"
        }
        Stmt::InsertKey => {
            "INSERT INTO access_keys
                 (access_key_id, org_id, principal, uid, state, doc, expiry, exchange)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
        }
        Stmt::SetKeyRow => "UPDATE access_keys SET state = $2, doc = $3 WHERE seq = $1",
        Stmt::LockUser => "SELECT doc FROM users WHERE uid = $1 FOR UPDATE",
        Stmt::DeleteUser => "DELETE FROM users WHERE uid = $1",
        Stmt::DeleteUserTokens => "DELETE FROM api_tokens WHERE uid = $1",
        Stmt::UpsertPolicy => {
            "INSERT INTO policies (org_id, name, doc) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, name) DO UPDATE SET doc = excluded.doc"
        }
        Stmt::DeletePolicy => "DELETE FROM policies WHERE org_id = $1 AND name = $2",
    }
}

impl DocTx for Tx<'_> {
    type Err = super::PgErr;

    async fn docs(&mut self, s: Stmt, args: &[Val]) -> TxResult<Vec<String>> {
        Ok(sqlx::query_scalar_with(sql(s), pg_args(args)?)
            .fetch_all(&mut *self.c)
            .await?)
    }

    async fn ints<const N: usize>(&mut self, s: Stmt, args: &[Val]) -> TxResult<Vec<[i64; N]>> {
        let rows = sqlx::query_with(sql(s), pg_args(args)?)
            .fetch_all(&mut *self.c)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut row = [0; N];
            for (i, v) in row.iter_mut().enumerate() {
                *v = r.try_get(i)?;
            }
            out.push(row);
        }
        Ok(out)
    }

    async fn exec(&mut self, s: Stmt, args: &[Val]) -> TxResult<u64> {
        let done = sqlx::query_with(sql(s), pg_args(args)?)
            .execute(&mut *self.c)
            .await?;
        Ok(done.rows_affected())
    }

    // No audit outbox here (`Engine::AUDIT_OUTBOX`): it stays empty, and nothing can be
    // appended to it.

    async fn append_event(&mut self, _event: &[u8]) -> TxResult<()> {
        Err(Error::internal("this metadata store has no audit outbox").into())
    }

    async fn events(&mut self, _: i64, _: i64, _: Option<u64>) -> TxResult<Vec<(u64, Vec<u8>)>> {
        Ok(Vec::new())
    }

    async fn trim_events(&mut self, _through: i64) -> TxResult<()> {
        Ok(())
    }

    async fn events_depth(&mut self) -> TxResult<(u64, u64)> {
        Ok((0, 0))
    }
}
