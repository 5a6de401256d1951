//! The object and version rules of `MetaStore` (put, delete, delete a version, rename),
//! written once against [`ObjectTx`] (the multi-column row reads and writes) and the
//! object statements of `engine::Stmt`. SQLite runs them on its writer thread inside the
//! group commit, PostgreSQL inside its retried transaction; each engine supplies only
//! the SQL.
//!
//! Storage invariants the rules keep (see `MetaStore`'s versioning docs):
//! * a key's current object is its `objects` row; older versions and delete markers are
//!   `object_versions` rows ordered by `seq` (larger is newer), the `null` version
//!   included;
//! * when a key has no current object and its newest version is an object, that version
//!   is current (`promote_newest` restores this after every removal);
//! * a bucket's usage counters equal the sums over its current objects.

use crate::engine::{DocTx, Stmt, Val, found, int_row};
use crate::rows::{
    CurrentRow, ObjectRow, RawDeleted, RawObject, VersionRow, from_doc, from_nanos, nanos, to_doc,
    to_i64,
};
use crate::semantics;
use coffer_core::Error;
use coffer_core::model::*;
use coffer_core::object_lock::DeleteCheck;
use std::future::Future;
use time::OffsetDateTime;

/// The row operations of one transaction that the object rules need beyond single
/// statements (`DocTx`). Every call runs in the caller's transaction; none commits.
pub(crate) trait ObjectTx: DocTx {
    fn current(
        &mut self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<CurrentRow>, Self::Err>> + Send;
    /// Inserts or replaces the key's current object.
    fn upsert_current(
        &mut self,
        row: &ObjectRow,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
    fn find_version(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> impl Future<Output = Result<Option<VersionRow>, Self::Err>> + Send;
}

type R<T, X> = Result<T, <X as DocTx>::Err>;

fn usage(bytes: i64, objects: i64) -> Usage {
    Usage {
        bytes: bytes as u64,
        objects: objects as u64,
    }
}

/// The bucket's usage and versioning state, `None` if it does not exist. Writers call it
/// first: it holds the bucket against concurrent writers until the transaction ends, so
/// what the rules check after it holds at commit.
pub(crate) async fn lock_bucket<X: DocTx>(
    tx: &mut X,
    bucket: &str,
) -> R<Option<(Usage, VersioningState)>, X> {
    let row = int_row(tx, Stmt::LockBucket, &[bucket.into()]).await?;
    Ok(row.map(|[b, o, v]| (usage(b, o), VersioningState::from_code(v))))
}

/// The bucket's usage counters, `None` if it does not exist (no lock: reads).
pub(crate) async fn bucket_usage<X: DocTx>(tx: &mut X, bucket: &str) -> R<Option<Usage>, X> {
    let row = int_row(tx, Stmt::Usage, &[bucket.into()]).await?;
    Ok(row.map(|[b, o]| usage(b, o)))
}

async fn set_usage<X: ObjectTx>(tx: &mut X, bucket: &str, u: Usage) -> R<(), X> {
    let args = [
        bucket.into(),
        to_i64(u.bytes)?.into(),
        to_i64(u.objects)?.into(),
    ];
    tx.exec(Stmt::SetUsage, &args).await?;
    Ok(())
}

async fn drop_current<X: ObjectTx>(tx: &mut X, bucket: &str, key: &str) -> R<(), X> {
    tx.exec(Stmt::DeleteCurrent, &[bucket.into(), Val::key(key)])
        .await?;
    Ok(())
}

/// Moves the current object into `object_versions` as the key's newest version.
async fn retire_current<X: ObjectTx>(tx: &mut X, bucket: &str, key: &str) -> R<(), X> {
    tx.exec(Stmt::RetireCurrent, &[bucket.into(), Val::key(key)])
        .await?;
    drop_current(tx, bucket, key).await
}

async fn drop_version<X: ObjectTx>(tx: &mut X, seq: i64) -> R<(), X> {
    tx.exec(Stmt::DeleteVersion, &[seq.into()]).await?;
    Ok(())
}

async fn locked<X: ObjectTx>(tx: &mut X, bucket: &str) -> R<(Usage, VersioningState), X> {
    Ok(lock_bucket(tx, bucket).await?.ok_or(Error::NoSuchBucket)?)
}

/// `put_object` (and the commit of `complete_upload`): checks the bucket, the condition
/// and the cap, then writes the row and the usage counters. Returns the record removed
/// for good (its blobs are the caller's to delete) and the version id the row was stored
/// under.
pub(crate) async fn put<X: ObjectTx>(
    tx: &mut X,
    row: &mut ObjectRow,
    cond: &WriteCondition,
    cap: Option<u64>,
) -> R<(Option<RawObject>, Option<String>), X> {
    let (usage, state) = locked(tx, &row.bucket).await?;
    let vid = match state {
        VersioningState::Enabled => Some(
            row.version_id
                .clone()
                .unwrap_or_else(coffer_core::ids::new_version_id),
        ),
        _ => None,
    };
    row.set_version(vid.clone())?;
    let current = tx.current(&row.bucket, &row.key).await?;
    cond.check(current.as_ref().map(|r| r.etag.as_str()))?;
    let mut removed: Option<(u64, RawObject)> = None;
    if let Some(cur) = current {
        if overwritten_in_place(state, &cur) {
            // Replaced by the upsert below.
            removed = Some((cur.size, cur.raw));
        } else {
            retire_current(tx, &row.bucket, &row.key).await?;
        }
    }
    if state == VersioningState::Suspended
        && let Some(r) = remove_null_version(tx, &row.bucket, &row.key).await?
    {
        removed = Some(r);
    }
    let after = semantics::usage_after_put(
        &row.bucket,
        usage,
        removed.as_ref().map(|(s, _)| *s),
        row.size as u64,
        cap,
    )?;
    tx.upsert_current(row).await?;
    set_usage(tx, &row.bucket, after).await?;
    Ok((removed.map(|(_, raw)| raw), vid))
}

/// Whether a new write (or a delete marker) replaces the current object for good rather
/// than keeping it as a version: always when unversioned; when suspended, if it is the
/// `null` version.
fn overwritten_in_place(state: VersioningState, cur: &CurrentRow) -> bool {
    match state {
        VersioningState::Unversioned => true,
        VersioningState::Suspended => cur.version_id.is_none(),
        VersioningState::Enabled => false,
    }
}

/// `delete_object_current`: DELETE without a version id.
pub(crate) async fn delete_current<X: ObjectTx>(
    tx: &mut X,
    bucket: &str,
    key: &str,
    marker_id: &str,
    now: OffsetDateTime,
) -> R<RawDeleted, X> {
    let (usage, state) = locked(tx, bucket).await?;
    let current = tx.current(bucket, key).await?;
    if state == VersioningState::Unversioned {
        let Some(cur) = current else {
            return Ok(RawDeleted {
                removed: None,
                version_id: None,
                delete_marker: false,
            });
        };
        drop_current(tx, bucket, key).await?;
        set_usage(tx, bucket, semantics::usage_after_delete(usage, cur.size)).await?;
        return Ok(RawDeleted {
            removed: Some(cur.raw),
            version_id: None,
            delete_marker: false,
        });
    }
    let mut removed: Option<(u64, RawObject)> = None;
    if let Some(cur) = current {
        if overwritten_in_place(state, &cur) {
            drop_current(tx, bucket, key).await?;
            removed = Some((cur.size, cur.raw));
        } else {
            retire_current(tx, bucket, key).await?;
        }
    }
    if state == VersioningState::Suspended
        && let Some(r) = remove_null_version(tx, bucket, key).await?
    {
        removed = Some(r);
    }
    let vid = (state == VersioningState::Enabled).then(|| marker_id.to_string());
    let marker = DeleteMarker {
        v: RECORD_VERSION,
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: vid.clone(),
        last_modified: now,
    };
    let args = [
        bucket.into(),
        Val::key(key),
        vid.as_deref().unwrap_or(NULL_VERSION).into(),
        nanos(now)?.into(),
        to_doc(&marker)?.into(),
    ];
    tx.exec(Stmt::InsertMarker, &args).await?;
    if let Some((size, _)) = &removed {
        set_usage(tx, bucket, semantics::usage_after_delete(usage, *size)).await?;
    }
    Ok(RawDeleted {
        removed: removed.map(|(_, raw)| raw),
        version_id: Some(vid.unwrap_or_else(|| NULL_VERSION.to_string())),
        delete_marker: true,
    })
}

/// `delete_object_version`: removes one version for good.
pub(crate) async fn delete_version<X: ObjectTx>(
    tx: &mut X,
    bucket: &str,
    key: &str,
    vid: &str,
    lock: DeleteCheck,
) -> R<RawDeleted, X> {
    let (usage, _) = locked(tx, bucket).await?;
    let echo = Some(vid.to_string());
    // Judged on the document alone (inline bytes are not needed).
    let check = |raw: &RawObject| -> Result<(), Error> {
        lock.allows(from_doc::<ObjectRecord>(&raw.doc, "object")?.lock_state())
    };
    if let Some(cur) = tx.current(bucket, key).await?
        && cur.version_id.as_deref().unwrap_or(NULL_VERSION) == vid
    {
        check(&cur.raw)?;
        drop_current(tx, bucket, key).await?;
        set_usage(tx, bucket, semantics::usage_after_delete(usage, cur.size)).await?;
        promote_newest(tx, bucket, key).await?;
        return Ok(RawDeleted {
            removed: Some(cur.raw),
            version_id: echo,
            delete_marker: false,
        });
    }
    let Some(v) = tx.find_version(bucket, key, vid).await? else {
        return Ok(RawDeleted {
            removed: None,
            version_id: echo,
            delete_marker: false,
        });
    };
    if !v.delete_marker {
        check(&v.raw)?;
    }
    drop_version(tx, v.seq).await?;
    if !v.delete_marker {
        set_usage(tx, bucket, semantics::usage_after_delete(usage, v.size)).await?;
    }
    promote_newest(tx, bucket, key).await?;
    Ok(RawDeleted {
        removed: (!v.delete_marker).then_some(v.raw),
        version_id: echo,
        delete_marker: v.delete_marker,
    })
}

/// `delete_object`: removes the current object for good, whatever the versioning state
/// (the service's internal deletes). A missing bucket finds nothing: the service checks
/// the bucket first, and the store reports only what it removed.
pub(crate) async fn delete_object<X: ObjectTx>(
    tx: &mut X,
    bucket: &str,
    key: &str,
) -> R<Option<RawObject>, X> {
    let Some((usage, _)) = lock_bucket(tx, bucket).await? else {
        return Ok(None);
    };
    let Some(cur) = tx.current(bucket, key).await? else {
        return Ok(None);
    };
    drop_current(tx, bucket, key).await?;
    set_usage(tx, bucket, semantics::usage_after_delete(usage, cur.size)).await?;
    promote_newest(tx, bucket, key).await?;
    Ok(Some(cur.raw))
}

/// `rename_object` on a never-versioned bucket: the source's conditions, then the
/// destination's, then the destination (if any) is replaced for good.
pub(crate) async fn rename<X: ObjectTx>(
    tx: &mut X,
    bucket: &str,
    src: &str,
    dst: &str,
    cond: &RenameConditions,
) -> R<Option<RawObject>, X> {
    let (usage, state) = locked(tx, bucket).await?;
    if state != VersioningState::Unversioned {
        return Err(semantics::rename_on_versioned_bucket().into());
    }
    let source = tx.current(bucket, src).await?.ok_or(Error::NoSuchKey)?;
    cond.check_source(&source.etag, from_nanos(source.last_modified)?)?;
    let dest = tx.current(bucket, dst).await?;
    // RenameObject answers every failed condition with 412, a missing destination too.
    cond.dest
        .check(dest.as_ref().map(|d| d.etag.as_str()))
        .map_err(|e| match e {
            Error::NoSuchKey => Error::PreconditionFailed,
            e => e,
        })?;
    if src == dst {
        return Ok(None);
    }
    if let Some(d) = &dest {
        drop_current(tx, bucket, dst).await?;
        set_usage(tx, bucket, semantics::usage_after_delete(usage, d.size)).await?;
    }
    let doc = semantics::rekey_doc(&source.raw.doc, dst)?;
    let args = [bucket.into(), Val::key(src), Val::key(dst), doc.into()];
    tx.exec(Stmt::RenameCurrent, &args).await?;
    Ok(dest.map(|d| d.raw))
}

/// Restores the invariant after a removal: a key without a current object whose newest
/// version is an object gets that version back as current.
async fn promote_newest<X: ObjectTx>(tx: &mut X, bucket: &str, key: &str) -> R<(), X> {
    if found(tx, Stmt::HasCurrent, &[bucket.into(), Val::key(key)]).await? {
        return Ok(());
    }
    let newest = int_row(tx, Stmt::NewestVersion, &[bucket.into(), Val::key(key)]).await?;
    if let Some([seq, 0]) = newest {
        tx.exec(Stmt::PromoteVersion, &[seq.into()]).await?;
        drop_version(tx, seq).await?;
    }
    Ok(())
}

/// Removes the key's `null` version from `object_versions`, if any; returns it when it
/// was an object (size, record), for usage and blob deletion.
async fn remove_null_version<X: ObjectTx>(
    tx: &mut X,
    bucket: &str,
    key: &str,
) -> R<Option<(u64, RawObject)>, X> {
    let Some(v) = tx.find_version(bucket, key, NULL_VERSION).await? else {
        return Ok(None);
    };
    drop_version(tx, v.seq).await?;
    Ok((!v.delete_marker).then_some((v.size, v.raw)))
}
