//! The bucket rules of `MetaStore` that read and rewrite stored documents (delete a
//! bucket, edit its configuration, set its versioning, edit an object version's record), written
//! once against [`ObjectTx`] and the bucket statements of `engine::Stmt`. Each holds
//! the bucket (`objects::lock_bucket`, or the document read for update) so object
//! writers see the change before or after, whole.

use crate::engine::{DocTx, Stmt, Val, first, found};
use crate::objects::{self, ObjectTx};
use crate::rows::{from_doc, to_doc};
use coffer_core::Error;
use coffer_core::meta::{BucketEdit, ObjectEdit, apply_bucket_edit, apply_object_edit};
use coffer_core::model::NULL_VERSION;
use coffer_core::model::{Bucket, ObjectRecord, VersioningState};

type R<T, X> = Result<T, <X as DocTx>::Err>;

/// `delete_bucket`: only an empty bucket (no objects, versions, markers or uploads).
pub(crate) async fn delete_bucket<X: ObjectTx>(tx: &mut X, name: &str) -> R<(), X> {
    objects::lock_bucket(tx, name)
        .await?
        .ok_or(Error::NoSuchBucket)?;
    if found(tx, Stmt::BucketInUse, &[name.into()]).await? {
        return Err(Error::BucketNotEmpty.into());
    }
    tx.exec(Stmt::DeleteBucket, &[name.into()]).await?;
    Ok(())
}

/// What an `edit_bucket` transaction carries across attempts: the edit runs once (it is
/// a `FnOnce`), and an attempt retried after it ran writes the same outcome only if the
/// stored bucket is still the one the edit saw. Otherwise a concurrent edit won, and the
/// caller is told to retry (503 SlowDown).
pub(crate) struct EditOnce {
    edit: Option<BucketEdit>,
    applied: Option<(Bucket, Bucket)>,
}

impl EditOnce {
    pub fn new(edit: BucketEdit) -> Self {
        EditOnce {
            edit: Some(edit),
            applied: None,
        }
    }
}

/// `edit_bucket`: applies the edit to the stored configuration; writes only a change.
pub(crate) async fn edit_bucket<X: ObjectTx>(
    tx: &mut X,
    name: &str,
    once: &mut EditOnce,
) -> R<Bucket, X> {
    let doc = first(tx, Stmt::LockBucketDoc, &[name.into()])
        .await?
        .ok_or(Error::NoSuchBucket)?;
    let mut stored: Bucket = from_doc(&doc, "bucket")?;
    let changed = match (once.edit.take(), &once.applied) {
        (Some(f), _) => {
            let seen = stored.clone();
            let changed = apply_bucket_edit(&mut stored, f)?;
            once.applied = Some((seen, stored.clone()));
            changed
        }
        (None, Some((seen, after))) if *seen == stored => {
            stored = after.clone();
            seen != after
        }
        (None, _) => {
            return Err(Error::Unavailable(
                "the bucket's configuration changed concurrently; retry".into(),
            )
            .into());
        }
    };
    if changed {
        update_bucket(tx, name, &stored).await?;
    }
    Ok(stored)
}

/// `set_bucket_versioning`: a bucket once versioned never returns to unversioned, and a
/// bucket with Object Lock stays enabled.
pub(crate) async fn set_versioning<X: ObjectTx>(
    tx: &mut X,
    name: &str,
    state: VersioningState,
) -> R<(), X> {
    if state == VersioningState::Unversioned {
        return Err(
            Error::invalid("a versioned bucket cannot return to the unversioned state").into(),
        );
    }
    let doc = first(tx, Stmt::LockBucketDoc, &[name.into()])
        .await?
        .ok_or(Error::NoSuchBucket)?;
    let mut stored: Bucket = from_doc(&doc, "bucket")?;
    if state == VersioningState::Suspended && stored.subresources.object_lock.is_some() {
        return Err(Error::InvalidBucketState(
            "Versioning cannot be suspended on a bucket with Object Lock enabled".into(),
        )
        .into());
    }
    stored.versioning = state;
    update_bucket(tx, name, &stored).await
}

/// `edit_object`: edits the record of the current object or of one version in place.
/// The bucket is held first, so no write replaces or removes the version meanwhile. The
/// document is edited as JSON, so every field the edit does not change survives as
/// stored, including fields this code does not know.
pub(crate) async fn edit_object<X: ObjectTx>(
    tx: &mut X,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    edit: &ObjectEdit,
) -> R<ObjectRecord, X> {
    objects::lock_bucket(tx, bucket)
        .await?
        .ok_or(Error::NoSuchBucket)?;
    let current = tx.current(bucket, key).await?;
    let (raw, seq) = match (version_id, current) {
        (None, Some(cur)) => (cur.raw, None),
        (None, None) => return Err(Error::NoSuchKey.into()),
        (Some(vid), Some(cur)) if cur.version_id.as_deref().unwrap_or(NULL_VERSION) == vid => {
            (cur.raw, None)
        }
        (Some(vid), _) => match tx.find_version(bucket, key, vid).await? {
            None => return Err(Error::NoSuchVersion.into()),
            Some(v) if v.delete_marker => {
                return Err(Error::DeleteMarker {
                    version_id: vid.to_string(),
                    by_id: true,
                }
                .into());
            }
            Some(v) => (v.raw, Some(v.seq)),
        },
    };
    let mut doc: serde_json::Value = from_doc(&raw.doc, "object")?;
    let (edited, changed) = apply_object_edit(&raw.decode()?, edit)?;
    if changed.is_empty() {
        return Ok(edited);
    }
    let fields = doc
        .as_object_mut()
        .ok_or_else(|| Error::internal("corrupt object record: not an object"))?;
    for (name, value) in changed {
        match value {
            Some(v) => fields.insert(name.to_string(), v),
            None => fields.remove(name),
        };
    }
    let doc = to_doc(&doc)?;
    match seq {
        None => {
            let args = [bucket.into(), Val::key(key), doc.into()];
            tx.exec(Stmt::SetObjectDoc, &args).await?
        }
        Some(seq) => {
            tx.exec(Stmt::SetVersionDoc, &[seq.into(), doc.into()])
                .await?
        }
    };
    Ok(edited)
}

/// Rewrites the bucket's document and its versioning column (what object writes read).
async fn update_bucket<X: ObjectTx>(tx: &mut X, name: &str, b: &Bucket) -> R<(), X> {
    let args = [name.into(), to_doc(b)?.into(), b.versioning.code().into()];
    tx.exec(Stmt::UpdateBucket, &args).await?;
    Ok(())
}
