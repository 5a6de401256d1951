//! The bucket rules of `MetaStore` that read and rewrite stored documents (delete a
//! bucket, edit its configuration, set its versioning, set an object's tags), written
//! once against [`BucketTx`]. Each holds the bucket (`ObjectTx::lock_bucket`, or the
//! document read for update) so object writers see the change before or after, whole.

use crate::objects::ObjectTx;
use crate::rows::{from_doc, to_doc};
use coffer_core::Error;
use coffer_core::meta::{BucketEdit, apply_bucket_edit};
use coffer_core::model::{Bucket, VersioningState};
use std::collections::BTreeMap;
use std::future::Future;

/// The row operations of one transaction the bucket rules need, beyond the object
/// rules'. Every call runs in the caller's transaction; none commits.
pub(crate) trait BucketTx: ObjectTx {
    /// The bucket's document, held against concurrent writers until the end.
    fn bucket_doc(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Err>> + Send;
    /// Rewrites the bucket's document and its versioning column.
    fn update_bucket(
        &mut self,
        name: &str,
        doc: &str,
        versioning: VersioningState,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
    /// Whether the bucket holds any object, version, delete marker or upload.
    fn bucket_in_use(&mut self, name: &str)
    -> impl Future<Output = Result<bool, Self::Err>> + Send;
    fn delete_bucket_row(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
    /// The current object's document, held against concurrent writers until the end.
    fn object_doc(
        &mut self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Err>> + Send;
    fn set_object_doc(
        &mut self,
        bucket: &str,
        key: &str,
        doc: &str,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
}

type R<T, X> = Result<T, <X as ObjectTx>::Err>;

/// `delete_bucket`: only an empty bucket (no objects, versions, markers or uploads).
pub(crate) async fn delete_bucket<X: BucketTx>(tx: &mut X, name: &str) -> R<(), X> {
    tx.lock_bucket(name).await?.ok_or(Error::NoSuchBucket)?;
    if tx.bucket_in_use(name).await? {
        return Err(Error::BucketNotEmpty.into());
    }
    tx.delete_bucket_row(name).await
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
pub(crate) async fn edit_bucket<X: BucketTx>(
    tx: &mut X,
    name: &str,
    once: &mut EditOnce,
) -> R<Bucket, X> {
    let doc = tx.bucket_doc(name).await?.ok_or(Error::NoSuchBucket)?;
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
        tx.update_bucket(name, &to_doc(&stored)?, stored.versioning)
            .await?;
    }
    Ok(stored)
}

/// `set_bucket_versioning`: a bucket once versioned never returns to unversioned.
pub(crate) async fn set_versioning<X: BucketTx>(
    tx: &mut X,
    name: &str,
    state: VersioningState,
) -> R<(), X> {
    if state == VersioningState::Unversioned {
        return Err(
            Error::invalid("a versioned bucket cannot return to the unversioned state").into(),
        );
    }
    let doc = tx.bucket_doc(name).await?.ok_or(Error::NoSuchBucket)?;
    let mut stored: Bucket = from_doc(&doc, "bucket")?;
    stored.versioning = state;
    tx.update_bucket(name, &to_doc(&stored)?, state).await
}

/// `set_object_tags` on the current object. The document is edited as JSON, so every
/// other field survives as stored, including fields this code does not know.
pub(crate) async fn set_object_tags<X: BucketTx>(
    tx: &mut X,
    bucket: &str,
    key: &str,
    tags: &BTreeMap<String, String>,
) -> R<(), X> {
    tx.lock_bucket(bucket).await?.ok_or(Error::NoSuchBucket)?;
    let doc = tx.object_doc(bucket, key).await?.ok_or(Error::NoSuchKey)?;
    let mut v: serde_json::Value = from_doc(&doc, "object")?;
    let tags = serde_json::to_value(tags).map_err(Error::internal)?;
    v.as_object_mut()
        .ok_or_else(|| Error::internal("corrupt object record: not an object"))?
        .insert("tags".to_string(), tags);
    tx.set_object_doc(bucket, key, &to_doc(&v)?).await
}
