//! SQLite's SQL for the rules' seams (`ObjectTx`, `UploadTx`, `BucketTx`, `IdentityTx`,
//! `ListTx`, `DocTx`). Writes run on the writer thread inside the writer's savepoint; the single
//! writer serializes all writes, so the seams' locks and holds need no SQL of their own.
//! Every operation is synchronous: the rules' futures are complete after one poll
//! (`run`).

use super::{LIST_SQL, LIST_VERSIONS_SQL, TextBytes, execute, query_docs, sql_err};
use crate::engine::{DocTx, Stmt, Val};
use crate::identities::{IdentityTx, KeySelect};
use crate::listings::{ListTx, UploadFilter};
use crate::objects::ObjectTx;
use crate::rows::{
    CurrentRow, ObjectRow, RawObject, VersionRow, from_nanos, key_state, version_summary,
};
use coffer_core::change::Change;
use coffer_core::model::*;
use coffer_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// The writer's connection as the object rules see it.
pub(crate) struct Tx<'a>(pub &'a mut Connection);

/// Completes a rule on the writer thread. The seam's SQLite operations never wait, so
/// one poll finishes the rule.
pub(super) fn run<T>(rule: impl Future<Output = Result<T>>) -> Result<T> {
    match pin!(rule).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(Error::internal("a SQLite store rule waited")),
    }
}

impl ObjectTx for Tx<'_> {
    async fn current(&mut self, bucket: &str, key: &str) -> Result<Option<CurrentRow>> {
        const SQL: &str = "SELECT size, etag, last_modified, version_id, doc, inline_data
                           FROM objects WHERE bucket = ?1 AND key = ?2";
        self.0
            .prepare_cached(SQL)
            .and_then(|mut st| {
                st.query_row(params![bucket, key], |r| {
                    Ok(CurrentRow {
                        size: r.get::<_, i64>(0)? as u64,
                        etag: r.get(1)?,
                        last_modified: r.get(2)?,
                        version_id: r.get(3)?,
                        raw: RawObject {
                            doc: r.get(4)?,
                            inline: r.get(5)?,
                        },
                    })
                })
                .optional()
            })
            .map_err(sql_err(SQL))
    }

    async fn upsert_current(&mut self, row: &ObjectRow) -> Result<()> {
        execute(
            self.0,
            "INSERT INTO objects (bucket, key, size, etag, last_modified, blob_ids, doc,
                                  inline_data, version_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (bucket, key) DO UPDATE SET
               size = excluded.size, etag = excluded.etag,
               last_modified = excluded.last_modified, blob_ids = excluded.blob_ids,
               doc = excluded.doc, inline_data = excluded.inline_data,
               version_id = excluded.version_id",
            params![
                row.bucket,
                row.key,
                row.size,
                row.etag,
                row.last_modified,
                row.blob_ids,
                row.doc,
                row.inline,
                row.version_id
            ],
        )?;
        Ok(())
    }

    async fn find_version(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<VersionRow>> {
        const SQL: &str = "SELECT seq, delete_marker, size, doc, inline_data FROM object_versions
                           WHERE bucket = ?1 AND key = ?2 AND version_id = ?3";
        self.0
            .prepare_cached(SQL)
            .and_then(|mut st| {
                st.query_row(params![bucket, key, version_id], |r| {
                    Ok(VersionRow {
                        seq: r.get(0)?,
                        delete_marker: r.get(1)?,
                        size: r.get::<_, i64>(2)? as u64,
                        raw: RawObject {
                            doc: r.get(3)?,
                            inline: r.get(4)?,
                        },
                    })
                })
                .optional()
            })
            .map_err(sql_err(SQL))
    }
}

impl IdentityTx for Tx<'_> {
    /// One process owns a SQLite database: its caches learn of changes in-process.
    async fn announce(&mut self, _changes: &[Change]) -> Result<()> {
        Ok(())
    }

    async fn key_rows(&mut self, select: KeySelect<'_>) -> Result<Vec<(i64, String)>> {
        let rows = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<Vec<(i64, String)>> {
            let mut st = self.0.prepare_cached(sql).map_err(sql_err(sql))?;
            st.query_map(p, |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(sql_err(sql))
        };
        match select {
            KeySelect::Id(id) => rows(
                "SELECT seq, doc FROM access_keys WHERE access_key_id = ?1",
                &[&id],
            ),
            KeySelect::Principal {
                org_id,
                principal,
                except,
            } => rows(
                "SELECT seq, doc FROM access_keys
                 WHERE org_id = ?1 AND principal = ?2 AND state <> 'Deleted' AND state <> ?3
                 ORDER BY seq",
                &[&org_id, &principal, &key_state(except)],
            ),
            KeySelect::User {
                uid,
                org_id,
                principal,
            } => rows(
                "SELECT seq, doc FROM access_keys
                 WHERE (uid = ?1 OR (org_id = ?2 AND principal = ?3)) AND state <> 'Deleted'
                 ORDER BY seq",
                &[&uid, &org_id, &principal],
            ),
        }
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
    ) -> Result<Vec<ObjectSummary>> {
        let sql = LIST_SQL[usize::from(after) * 2 + usize::from(upper.is_some())];
        let mut st = self.0.prepare_cached(sql).map_err(sql_err(sql))?;
        st.raw_bind_parameter(1, bucket).map_err(sql_err(sql))?;
        st.raw_bind_parameter(2, lower).map_err(sql_err(sql))?;
        if let Some(u) = upper {
            st.raw_bind_parameter(3, TextBytes(u.to_vec()))
                .map_err(sql_err(sql))?;
        }
        st.raw_bind_parameter(4, limit).map_err(sql_err(sql))?;
        let mut out = Vec::new();
        let mut rows = st.raw_query();
        while let Some(r) = rows.next().map_err(sql_err(sql))? {
            out.push(ObjectSummary {
                key: r.get(0).map_err(sql_err(sql))?,
                size: r.get::<_, i64>(1).map_err(sql_err(sql))? as u64,
                etag: r.get(2).map_err(sql_err(sql))?,
                last_modified: from_nanos(r.get(3).map_err(sql_err(sql))?)?,
            });
        }
        Ok(out)
    }

    async fn current_of_version(
        &mut self,
        bucket: &str,
        key: &str,
        vid: &str,
    ) -> Result<Option<RawObject>> {
        const SQL: &str = "SELECT doc, inline_data FROM objects
            WHERE bucket = ?1 AND key = ?2 AND coalesce(version_id, 'null') = ?3";
        self.0
            .prepare_cached(SQL)
            .and_then(|mut st| {
                st.query_row(params![bucket, key, vid], |r| {
                    Ok(RawObject {
                        doc: r.get(0)?,
                        inline: r.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(sql_err(SQL))
    }

    async fn scan_versions(
        &mut self,
        bucket: &str,
        prefix: &str,
        upper: Option<&[u8]>,
        key_marker: &str,
        position: i64,
        limit: i64,
    ) -> Result<Vec<VersionSummary>> {
        const SQL: &str = LIST_VERSIONS_SQL;
        let upper = upper.map(|u| TextBytes(u.to_vec()));
        let mut st = self
            .0
            .prepare_cached(SQL)
            .map_err(sql_err("list versions"))?;
        let rows = st
            .query_map(
                params![bucket, prefix, upper, key_marker, position, limit],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, bool>(6)?,
                    ))
                },
            )
            .map_err(sql_err("list versions"))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, vid, dm, size, etag, lm, latest) = row.map_err(sql_err("list versions"))?;
            out.push(version_summary(key, vid, dm, size, etag, lm, latest)?);
        }
        Ok(out)
    }

    async fn scan_uploads(
        &mut self,
        bucket: &str,
        start: &str,
        upper: Option<&[u8]>,
        limit: usize,
        keep: UploadFilter<'_>,
    ) -> Result<Vec<String>> {
        let sql = if upper.is_some() {
            "SELECT key, initiated, upload_id, doc FROM uploads
             WHERE bucket = ?1 AND key >= ?2 AND key < ?3
             ORDER BY key, initiated, upload_id"
        } else {
            "SELECT key, initiated, upload_id, doc FROM uploads
             WHERE bucket = ?1 AND key >= ?2
             ORDER BY key, initiated, upload_id"
        };
        let mut st = self.0.prepare_cached(sql).map_err(sql_err(sql))?;
        st.raw_bind_parameter(1, bucket).map_err(sql_err(sql))?;
        st.raw_bind_parameter(2, start).map_err(sql_err(sql))?;
        if let Some(u) = upper {
            st.raw_bind_parameter(3, TextBytes(u.to_vec()))
                .map_err(sql_err(sql))?;
        }
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while out.len() < limit
            && let Some(r) = rows.next().map_err(sql_err(sql))?
        {
            let key: String = r.get(0).map_err(sql_err(sql))?;
            let initiated: i64 = r.get(1).map_err(sql_err(sql))?;
            let id: String = r.get(2).map_err(sql_err(sql))?;
            if keep(&key, i128::from(initiated), &id) {
                out.push(r.get::<_, String>(3).map_err(sql_err(sql))?);
            }
        }
        Ok(out)
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Val::Str(s) | Val::Key(s) => s.to_sql(),
            Val::Int(n) => n.to_sql(),
            Val::OptStr(v) => v.to_sql(),
            Val::OptInt(n) => n.to_sql(),
            Val::Bool(b) => b.to_sql(),
        }
    }
}

/// The SQL of each document statement (`Stmt` documents the arguments).
fn sql(s: Stmt) -> &'static str {
    match s {
        // The single writer serializes bootstraps: no lock to take.
        Stmt::LockBootstrap => "SELECT '' WHERE 0",
        Stmt::AnyOrg => "SELECT org_id FROM orgs LIMIT 1",
        Stmt::InsertOrg => "INSERT INTO orgs (org_id, doc) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        Stmt::GetOrg => "SELECT doc FROM orgs WHERE org_id = ?1",
        Stmt::ListOrgs => "SELECT doc FROM orgs ORDER BY org_id",
        Stmt::UpdateOrg => "UPDATE orgs SET doc = ?2 WHERE org_id = ?1",
        Stmt::InsertUser => {
            "INSERT INTO users (uid, org_id, doc) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
        }
        Stmt::GetUser => "SELECT doc FROM users WHERE uid = ?1",
        Stmt::ListUsers => "SELECT doc FROM users WHERE org_id = ?1 ORDER BY uid",
        Stmt::InsertToken => {
            "INSERT INTO api_tokens (token_id, token_hash, uid, org_id, doc)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"
        }
        Stmt::GetTokenByHash => "SELECT doc FROM api_tokens WHERE token_hash = ?1",
        Stmt::ListTokens => "SELECT doc FROM api_tokens WHERE org_id = ?1 ORDER BY token_id",
        Stmt::DeleteToken => "DELETE FROM api_tokens WHERE token_id = ?1",
        Stmt::GetKey => "SELECT doc FROM access_keys WHERE access_key_id = ?1",
        // A statement that does not use ?2 still takes it (SQLite counts parameters by
        // the highest index). Range scans of `access_keys_by_org` in creation order.
        Stmt::KeysAll => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::KeysActive => {
            "SELECT doc FROM access_keys
             WHERE org_id = ?1 AND state = 'Active' AND (expiry IS NULL OR expiry > ?2)
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::KeysExpired => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 AND state = 'Active' AND expiry <= ?2
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::KeysSuspended => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 AND state = 'Suspended'
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::KeysDeleted => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 AND state = 'Deleted'
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::ListPolicies => "SELECT doc FROM policies WHERE org_id = ?1 ORDER BY name",
        Stmt::ListAllPolicies => "SELECT doc FROM policies ORDER BY org_id, name",
        Stmt::GetOrgSettings => "SELECT doc FROM org_settings WHERE org_id = ?1",
        Stmt::PutOrgSettings => {
            "INSERT INTO org_settings (org_id, doc) VALUES (?1, ?2)
             ON CONFLICT (org_id) DO UPDATE SET doc = excluded.doc"
        }
        Stmt::InsertBucket => {
            "INSERT INTO buckets (name, org_id, doc, versioning) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING"
        }
        Stmt::GetBucket => "SELECT doc FROM buckets WHERE name = ?1",
        Stmt::ListBuckets => "SELECT doc FROM buckets WHERE org_id = ?1 ORDER BY name",
        Stmt::GetUpload => "SELECT doc FROM uploads WHERE upload_id = ?1",
        Stmt::InsertFederation => {
            "INSERT INTO federation_configs (config_id, org_id, kind, doc)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
        }
        Stmt::UpdateFederation => {
            "UPDATE federation_configs SET doc = ?4
             WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3"
        }
        Stmt::GetFederation => {
            "SELECT doc FROM federation_configs WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3"
        }
        Stmt::ListFederation => {
            "SELECT doc FROM federation_configs WHERE org_id = ?1 AND kind = ?2 ORDER BY seq"
        }
        Stmt::DeleteFederation => {
            "DELETE FROM federation_configs WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3"
        }
        Stmt::PurgeAssertions => "DELETE FROM saml_assertion_ids WHERE expires <= ?1",
        Stmt::RecordAssertion => {
            "INSERT INTO saml_assertion_ids (org_id, assertion_id, expires)
             VALUES (?1, ?2, ?3) ON CONFLICT (org_id, assertion_id) DO UPDATE
             SET expires = excluded.expires WHERE saml_assertion_ids.expires <= ?4"
        }
        Stmt::ObjectBlobs => "SELECT blob_ids FROM objects WHERE blob_ids IS NOT NULL",
        Stmt::VersionBlobs => "SELECT blob_ids FROM object_versions WHERE blob_ids IS NOT NULL",
        Stmt::PartBlobs => "SELECT blob_id FROM parts",
        Stmt::LockBucket => {
            "SELECT usage_bytes, usage_objects, versioning FROM buckets WHERE name = ?1"
        }
        Stmt::Usage => "SELECT usage_bytes, usage_objects FROM buckets WHERE name = ?1",
        Stmt::NewestVersion => {
            "SELECT seq, delete_marker FROM object_versions
             WHERE bucket = ?1 AND key = ?2 ORDER BY seq DESC LIMIT 1"
        }
        Stmt::UploadInitiated => {
            "SELECT initiated FROM uploads WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3"
        }
        Stmt::CountKeys => {
            "SELECT count(*), coalesce(sum(principal = ?2), 0) FROM access_keys
             WHERE org_id = ?1 AND state <> 'Deleted' AND (expiry IS NULL OR expiry > ?3)"
        }
        Stmt::CountPolicies => {
            "SELECT count(*), coalesce(sum(name = ?2), 0) FROM policies WHERE org_id = ?1"
        }
        Stmt::SetUsage => "UPDATE buckets SET usage_bytes = ?2, usage_objects = ?3 WHERE name = ?1",
        Stmt::HasCurrent => "SELECT '' FROM objects WHERE bucket = ?1 AND key = ?2",
        Stmt::DeleteCurrent => "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
        Stmt::RetireCurrent => {
            "INSERT INTO object_versions (bucket, key, version_id, delete_marker, size, etag,
                                          last_modified, blob_ids, doc, inline_data)
             SELECT bucket, key, coalesce(version_id, 'null'), 0, size, etag, last_modified,
                    blob_ids, doc, inline_data
             FROM objects WHERE bucket = ?1 AND key = ?2"
        }
        Stmt::RenameCurrent => {
            "UPDATE objects SET key = ?3, doc = ?4 WHERE bucket = ?1 AND key = ?2"
        }
        Stmt::DeleteVersion => "DELETE FROM object_versions WHERE seq = ?1",
        Stmt::PromoteVersion => {
            "INSERT INTO objects (bucket, key, size, etag, last_modified, blob_ids, doc,
                                  inline_data, version_id)
             SELECT bucket, key, size, etag, last_modified, blob_ids, doc, inline_data,
                    nullif(version_id, 'null')
             FROM object_versions WHERE seq = ?1"
        }
        Stmt::InsertMarker => {
            "INSERT INTO object_versions (bucket, key, version_id, delete_marker, size, etag,
                                          last_modified, blob_ids, doc, inline_data)
             VALUES (?1, ?2, ?3, 1, 0, '', ?4, NULL, ?5, NULL)"
        }
        Stmt::HoldBucket => "SELECT '' FROM buckets WHERE name = ?1",
        Stmt::BucketExists => "SELECT '' FROM buckets WHERE name = ?1",
        Stmt::InsertUpload => {
            "INSERT INTO uploads (upload_id, bucket, key, initiated, doc)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"
        }
        Stmt::HoldUpload => "SELECT '' FROM uploads WHERE upload_id = ?1",
        Stmt::LockUpload => "SELECT '' FROM uploads WHERE upload_id = ?1",
        Stmt::PartDoc => "SELECT doc FROM parts WHERE upload_id = ?1 AND part_number = ?2",
        Stmt::UpsertPart => {
            "INSERT INTO parts (upload_id, part_number, blob_id, doc) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET
               blob_id = excluded.blob_id, doc = excluded.doc"
        }
        Stmt::PartDocs => "SELECT doc FROM parts WHERE upload_id = ?1 ORDER BY part_number",
        Stmt::ScanParts => {
            "SELECT doc FROM parts WHERE upload_id = ?1 AND part_number > ?2
             ORDER BY part_number LIMIT ?3"
        }
        Stmt::DeleteParts => "DELETE FROM parts WHERE upload_id = ?1",
        Stmt::DeleteUpload => "DELETE FROM uploads WHERE upload_id = ?1",
        Stmt::LockBucketDoc => "SELECT doc FROM buckets WHERE name = ?1",
        Stmt::UpdateBucket => "UPDATE buckets SET doc = ?2, versioning = ?3 WHERE name = ?1",
        Stmt::BucketInUse => {
            "SELECT '' WHERE EXISTS (SELECT 1 FROM objects WHERE bucket = ?1)
                OR EXISTS (SELECT 1 FROM object_versions WHERE bucket = ?1)
                OR EXISTS (SELECT 1 FROM uploads WHERE bucket = ?1)"
        }
        Stmt::DeleteBucket => "DELETE FROM buckets WHERE name = ?1",
        Stmt::LockObjectDoc => "SELECT doc FROM objects WHERE bucket = ?1 AND key = ?2",
        Stmt::SetObjectDoc => "UPDATE objects SET doc = ?3 WHERE bucket = ?1 AND key = ?2",
        Stmt::LockOrg => "SELECT org_id FROM orgs WHERE org_id = ?1",
        Stmt::PurgeExchangeKeys => {
            "DELETE FROM access_keys WHERE org_id = ?1 AND exchange = 1 AND expiry <= ?2"
        }
        Stmt::InsertKey => {
            "INSERT INTO access_keys
                 (access_key_id, org_id, principal, uid, state, doc, expiry, exchange)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING"
        }
        Stmt::SetKeyRow => "UPDATE access_keys SET state = ?2, doc = ?3 WHERE seq = ?1",
        Stmt::LockUser => "SELECT doc FROM users WHERE uid = ?1",
        Stmt::DeleteUser => "DELETE FROM users WHERE uid = ?1",
        Stmt::DeleteUserTokens => "DELETE FROM api_tokens WHERE uid = ?1",
        Stmt::UpsertPolicy => {
            "INSERT INTO policies (org_id, name, doc) VALUES (?1, ?2, ?3)
             ON CONFLICT (org_id, name) DO UPDATE SET doc = excluded.doc"
        }
        Stmt::DeletePolicy => "DELETE FROM policies WHERE org_id = ?1 AND name = ?2",
    }
}

impl DocTx for Tx<'_> {
    type Err = Error;

    async fn docs(&mut self, s: Stmt, args: &[Val]) -> Result<Vec<String>> {
        query_docs(self.0, sql(s), rusqlite::params_from_iter(args))
    }

    async fn ints<const N: usize>(&mut self, s: Stmt, args: &[Val]) -> Result<Vec<[i64; N]>> {
        let sql = sql(s);
        let mut st = self.0.prepare_cached(sql).map_err(sql_err(sql))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                let mut row = [0; N];
                for (i, v) in row.iter_mut().enumerate() {
                    *v = r.get(i)?;
                }
                Ok(row)
            })
            .map_err(sql_err(sql))?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_err(sql))
    }

    async fn exec(&mut self, s: Stmt, args: &[Val]) -> Result<u64> {
        Ok(execute(self.0, sql(s), rusqlite::params_from_iter(args))? as u64)
    }

    async fn append_event(&mut self, event: &[u8]) -> Result<()> {
        execute(
            self.0,
            "INSERT INTO audit_outbox (event) VALUES (?1)",
            [event],
        )?;
        Ok(())
    }

    async fn events(
        &mut self,
        after: i64,
        through: i64,
        max_bytes: Option<u64>,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        const SQL: &str = "SELECT seq, event FROM audit_outbox
                           WHERE seq > ?1 AND seq <= ?2 ORDER BY seq";
        let mut st = self.0.prepare_cached(SQL).map_err(sql_err(SQL))?;
        let mut rows = st.query(params![after, through]).map_err(sql_err(SQL))?;
        let (mut out, mut bytes) = (Vec::new(), 0u64);
        while let Some(r) = rows.next().map_err(sql_err(SQL))? {
            let seq: i64 = r.get(0).map_err(sql_err(SQL))?;
            let event: Vec<u8> = r.get(1).map_err(sql_err(SQL))?;
            bytes += event.len() as u64;
            if max_bytes.is_some_and(|max| !out.is_empty() && bytes > max) {
                break;
            }
            out.push((seq as u64, event));
        }
        Ok(out)
    }

    async fn trim_events(&mut self, through: i64) -> Result<()> {
        execute(
            self.0,
            "DELETE FROM audit_outbox WHERE seq <= ?1",
            [through],
        )?;
        Ok(())
    }

    async fn events_depth(&mut self) -> Result<(u64, u64)> {
        const SQL: &str = "SELECT count(*), coalesce(sum(length(event)), 0) FROM audit_outbox";
        self.0
            .prepare_cached(SQL)
            .and_then(|mut st| {
                st.query_row([], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                })
            })
            .map_err(sql_err(SQL))
    }
}
