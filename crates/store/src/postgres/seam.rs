//! PostgreSQL's SQL for the rules' seams (`ObjectTx`, `UploadTx`, `BucketTx`,
//! `IdentityTx`, `ListTx`, `DocTx`), run inside the caller's retried transaction (`tx!`), which
//! may run a rule again from the start. Writers of a bucket's objects serialize on its
//! row (`lock_bucket`: `FOR UPDATE`), uploads and parts on theirs (`FOR SHARE` / `FOR
//! UPDATE`), quota checks on the org's, so the rules' checks hold at commit across
//! nodes. Keys are bound as bytes (the column is `bytea`, ordered byte-wise).

use super::{CHANNEL, LIST_VERSIONS_SQL, TxResult, key_string};
use crate::engine::{DocTx, Stmt, Val};
use crate::identities::IdentityTx;
use crate::listings::{ListTx, UploadFilter};
use crate::objects::ObjectTx;
use crate::rows::{CurrentRow, ObjectRow, RawObject, VersionRow, from_nanos, version_summary};
use crate::sql::Lock;
use coffer_core::Error;
use coffer_core::change::Change;
use coffer_core::model::*;
use futures::TryStreamExt;
use parking_lot::RwLock;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Column, PgConnection, Row, TypeInfo};
use std::collections::HashMap;
use std::sync::LazyLock;

/// A transaction's connection as the store's rules see it.
pub(crate) struct Tx<'a> {
    pub c: &'a mut PgConnection,
    /// Whether the engine delivers `NOTIFY` (PostgreSQL; not CockroachDB or YugabyteDB,
    /// whose nodes poll the change counter).
    pub notify: bool,
}

impl ObjectTx for Tx<'_> {
    async fn current(&mut self, bucket: &str, key: &str) -> TxResult<Option<CurrentRow>> {
        sqlx::query(sql(Stmt::Current))
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
        sqlx::query(sql(Stmt::UpsertCurrent))
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
        sqlx::query(sql(Stmt::FindVersion))
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
        sqlx::query(sql(Stmt::CurrentOfVersion))
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

/// Statement `s` in PostgreSQL's dialect: `sql::sql` with `$N` placeholders and the row
/// lock it names (`sql::lock`). Translated once per statement and kept for the process
/// (at most one string per `Stmt` variant).
fn sql(s: Stmt) -> &'static str {
    // Bootstraps of one database queue on one row lock (the schema version row, which
    // every migrated database has). A row lock, not LOCK TABLE: CockroachDB and
    // YugabyteDB (SERIALIZABLE there: the loser retries on 40001) lack it.
    match s {
        Stmt::LockBootstrap => {
            return "SELECT '' FROM coffer_schema_version WHERE id = 1 FOR UPDATE";
        }
        Stmt::PurgeExchangeKeys => {
            return "DELETE FROM access_keys WHERE org_id = $1 AND exchange AND expiry <= $2";
        }
        _ => {}
    }
    static CACHE: LazyLock<RwLock<HashMap<Stmt, &'static str>>> = LazyLock::new(Default::default);
    if let Some(q) = CACHE.read().get(&s) {
        return q;
    }
    let mut q = crate::sql::sql(s).replace('?', "$");
    q.push_str(match crate::sql::lock(s) {
        Some(Lock::Share) => " FOR SHARE",
        Some(Lock::Update) => " FOR UPDATE",
        None => "",
    });
    CACHE
        .write()
        .entry(s)
        .or_insert_with(|| Box::leak(q.into_boxed_str()))
}

fn no_outbox<T>() -> TxResult<T> {
    Err(Error::internal("this metadata store has no audit outbox").into())
}

/// An integer column as `i64`, whatever its width; a boolean is 0 or 1.
fn int_column(r: &PgRow, i: usize) -> TxResult<i64> {
    Ok(match r.column(i).type_info().name() {
        "INT2" => i64::from(r.try_get::<i16, _>(i)?),
        "INT4" => i64::from(r.try_get::<i32, _>(i)?),
        "BOOL" => i64::from(r.try_get::<bool, _>(i)?),
        _ => r.try_get::<i64, _>(i)?,
    })
}

impl DocTx for Tx<'_> {
    type Err = super::PgErr;

    async fn docs(&mut self, s: Stmt, args: &[Val]) -> TxResult<Vec<String>> {
        Ok(sqlx::query_scalar_with(sql(s), pg_args(args)?)
            .fetch_all(&mut *self.c)
            .await?)
    }

    async fn seq_docs(&mut self, s: Stmt, args: &[Val]) -> TxResult<Vec<(i64, String)>> {
        let rows = sqlx::query_with(sql(s), pg_args(args)?)
            .fetch_all(&mut *self.c)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn ints<const N: usize>(&mut self, s: Stmt, args: &[Val]) -> TxResult<Vec<[i64; N]>> {
        let rows = sqlx::query_with(sql(s), pg_args(args)?)
            .fetch_all(&mut *self.c)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut row = [0; N];
            for (i, v) in row.iter_mut().enumerate() {
                *v = int_column(&r, i)?;
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

    // No audit outbox here (`Engine::AUDIT_OUTBOX`): `meta` answers for it (an empty
    // outbox; appending fails loudly) and never calls these.

    async fn append_event(&mut self, _event: &[u8]) -> TxResult<()> {
        no_outbox()
    }

    async fn events(&mut self, _: i64, _: i64, _: Option<u64>) -> TxResult<Vec<(u64, Vec<u8>)>> {
        no_outbox()
    }

    async fn trim_events(&mut self, _through: i64) -> TxResult<()> {
        no_outbox()
    }

    async fn events_depth(&mut self) -> TxResult<(u64, u64)> {
        no_outbox()
    }
}
