//! The multipart rules of `MetaStore` (create an upload, record a part, complete,
//! abort), written once against [`UploadTx`]. Completing commits the object through the
//! object rules (`objects::put`) in the same transaction.
//!
//! Concurrency: part writers hold their upload shared, completion and abort hold it
//! exclusively, and an upload is created under a shared hold of its bucket (so a
//! concurrent `delete_bucket` either sees it or runs first).

use crate::objects::{self, ObjectTx};
use crate::rows::{ObjectRow, RawObject, decode_all, nanos, to_doc};
use crate::semantics;
use coffer_core::Error;
use coffer_core::model::{MultipartUpload, PartRecord, WriteCondition};
use std::future::Future;

/// The row operations of one transaction the multipart rules need, beyond the object
/// rules'. Every call runs in the caller's transaction; none commits.
pub(crate) trait UploadTx: ObjectTx {
    /// Whether the bucket exists; holds it shared until the transaction ends.
    fn hold_bucket(&mut self, bucket: &str)
    -> impl Future<Output = Result<bool, Self::Err>> + Send;
    /// Inserts the upload row; false if one with this id exists.
    fn insert_upload(
        &mut self,
        upload: &MultipartUpload,
        initiated: i64,
        doc: &str,
    ) -> impl Future<Output = Result<bool, Self::Err>> + Send;
    /// Whether the upload exists; holds it (`exclusive` or shared) until the end.
    fn hold_upload(
        &mut self,
        upload_id: &str,
        exclusive: bool,
    ) -> impl Future<Output = Result<bool, Self::Err>> + Send;
    /// The document of one part, held against concurrent writers of that part.
    fn part_doc(
        &mut self,
        upload_id: &str,
        part_number: u32,
    ) -> impl Future<Output = Result<Option<String>, Self::Err>> + Send;
    fn upsert_part(
        &mut self,
        part: &PartRecord,
        doc: &str,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
    /// The documents of an upload's parts in part-number order.
    fn part_docs(
        &mut self,
        upload_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, Self::Err>> + Send;
    /// Removes the upload and its parts.
    fn delete_upload(
        &mut self,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
}

type R<T, X> = Result<T, <X as ObjectTx>::Err>;

pub(crate) async fn create_upload<X: UploadTx>(tx: &mut X, upload: &MultipartUpload) -> R<(), X> {
    let (doc, initiated) = (to_doc(upload)?, nanos(upload.initiated)?);
    if !tx.hold_bucket(&upload.bucket).await? {
        return Err(Error::NoSuchBucket.into());
    }
    if !tx.insert_upload(upload, initiated, &doc).await? {
        return Err(Error::AlreadyExists(format!("upload {}", upload.upload_id)).into());
    }
    Ok(())
}

/// Records a part (replacing one with the same number); returns the replaced part's
/// document (its blob is the caller's to delete; decoded off the engine's thread).
pub(crate) async fn put_part<X: UploadTx>(
    tx: &mut X,
    part: &PartRecord,
    doc: &str,
) -> R<Option<String>, X> {
    if !tx.hold_upload(&part.upload_id, false).await? {
        return Err(Error::NoSuchUpload.into());
    }
    let prev = tx.part_doc(&part.upload_id, part.part_number).await?;
    tx.upsert_part(part, doc).await?;
    Ok(prev)
}

/// Commits the completed object (`used` are the blob ids it references, each of which
/// must still be a current part's) and removes the upload. Returns what the put
/// replaced, the version id, and the upload's parts.
pub(crate) async fn complete<X: UploadTx>(
    tx: &mut X,
    upload_id: &str,
    row: &mut ObjectRow,
    used: &[String],
    cond: &WriteCondition,
    cap: Option<u64>,
) -> R<(Option<RawObject>, Option<String>, Vec<PartRecord>), X> {
    if !tx.hold_upload(upload_id, true).await? {
        return Err(Error::NoSuchUpload.into());
    }
    let parts: Vec<PartRecord> = decode_all(tx.part_docs(upload_id).await?, "part")?;
    semantics::check_parts_current(used.iter().map(String::as_str), &parts)?;
    let (prev, vid) = objects::put(tx, row, cond, cap).await?;
    tx.delete_upload(upload_id).await?;
    Ok((prev, vid, parts))
}

/// Removes the upload; returns its parts' documents (their blobs are the caller's to
/// delete).
pub(crate) async fn abort<X: UploadTx>(tx: &mut X, upload_id: &str) -> R<Vec<String>, X> {
    if !tx.hold_upload(upload_id, true).await? {
        return Err(Error::NoSuchUpload.into());
    }
    let parts = tx.part_docs(upload_id).await?;
    tx.delete_upload(upload_id).await?;
    Ok(parts)
}
