//! The rules' seams (`DocTx`, `ObjectTx`, `IdentityTx`, `ListTx`) on SQLite: statements
//! run as `sql::sql` writes them, listings with SQLite's own scans. Writes run on the
//! writer thread inside the writer's savepoint; the single writer serializes all writes,
//! so the statements' locks and holds need no SQL of their own.
//! Every operation is synchronous: the rules' futures are complete after one poll
//! (`run`).

use super::{LIST_SQL, LIST_VERSIONS_SQL, TextBytes, execute, query_docs, sql_err};
use crate::engine::{DocTx, Stmt, Val};
use crate::identities::IdentityTx;
use crate::listings::{ListTx, UploadFilter};
use crate::objects::ObjectTx;
use crate::rows::{CurrentRow, ObjectRow, RawObject, VersionRow, from_nanos, version_summary};
use crate::sql::sql;
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
        let q = sql(Stmt::Current);
        self.0
            .prepare_cached(q)
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
            .map_err(sql_err(q))
    }

    async fn upsert_current(&mut self, row: &ObjectRow) -> Result<()> {
        execute(
            self.0,
            sql(Stmt::UpsertCurrent),
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
        let q = sql(Stmt::FindVersion);
        self.0
            .prepare_cached(q)
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
            .map_err(sql_err(q))
    }
}

impl IdentityTx for Tx<'_> {
    /// One process owns a SQLite database: its caches learn of changes in-process.
    async fn announce(&mut self, _changes: &[Change]) -> Result<()> {
        Ok(())
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
        let q = sql(Stmt::CurrentOfVersion);
        self.0
            .prepare_cached(q)
            .and_then(|mut st| {
                st.query_row(params![bucket, key, vid], |r| {
                    Ok(RawObject {
                        doc: r.get(0)?,
                        inline: r.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(sql_err(q))
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

    async fn seq_docs(&mut self, s: Stmt, args: &[Val]) -> Result<Vec<(i64, String)>> {
        let q = sql(s);
        let mut st = self.0.prepare_cached(q).map_err(sql_err(q))?;
        st.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(sql_err(q))
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
