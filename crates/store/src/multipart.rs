//! The multipart rules of `MetaStore` (create an upload, record a part, complete,
//! abort), written once against [`ObjectTx`] and the upload statements of
//! `engine::Stmt`. Completing commits the object through the
//! object rules (`objects::put`) in the same transaction.
//!
//! Concurrency: part writers hold their upload shared, completion and abort hold it
//! exclusively, and an upload is created under a shared hold of its bucket (so a
//! concurrent `delete_bucket` either sees it or runs first).

use crate::engine::{DocTx, Stmt, Val, first, found};
use crate::objects::{self, ObjectTx};
use crate::rows::{ObjectRow, RawObject, decode_all, nanos, to_doc};
use crate::semantics;
use coffer_core::Error;
use coffer_core::model::{MultipartUpload, PartRecord, WriteCondition};

type R<T, X> = Result<T, <X as DocTx>::Err>;

/// Whether the upload exists; holds it (`exclusive` or shared) until the end.
async fn hold_upload<X: ObjectTx>(tx: &mut X, upload_id: &str, exclusive: bool) -> R<bool, X> {
    let s = if exclusive {
        Stmt::LockUpload
    } else {
        Stmt::HoldUpload
    };
    found(tx, s, &[upload_id.into()]).await
}

/// Removes the upload and its parts.
async fn delete_upload<X: ObjectTx>(tx: &mut X, upload_id: &str) -> R<(), X> {
    tx.exec(Stmt::DeleteParts, &[upload_id.into()]).await?;
    tx.exec(Stmt::DeleteUpload, &[upload_id.into()]).await?;
    Ok(())
}

pub(crate) async fn create_upload<X: ObjectTx>(tx: &mut X, upload: &MultipartUpload) -> R<(), X> {
    let (doc, initiated) = (to_doc(upload)?, nanos(upload.initiated)?);
    if !found(tx, Stmt::HoldBucket, &[upload.bucket.as_str().into()]).await? {
        return Err(Error::NoSuchBucket.into());
    }
    let args = [
        upload.upload_id.as_str().into(),
        upload.bucket.as_str().into(),
        Val::key(&upload.key),
        initiated.into(),
        doc.into(),
    ];
    if tx.exec(Stmt::InsertUpload, &args).await? == 0 {
        return Err(Error::AlreadyExists(format!("upload {}", upload.upload_id)).into());
    }
    Ok(())
}

/// Records a part (replacing one with the same number); returns the replaced part's
/// document (its blob is the caller's to delete; decoded off the engine's thread).
pub(crate) async fn put_part<X: ObjectTx>(
    tx: &mut X,
    part: &PartRecord,
    doc: &str,
) -> R<Option<String>, X> {
    if !hold_upload(tx, &part.upload_id, false).await? {
        return Err(Error::NoSuchUpload.into());
    }
    let id: Val = part.upload_id.as_str().into();
    let prev = first(tx, Stmt::PartDoc, &[id.clone(), part.part_number.into()]).await?;
    let args = [
        id,
        part.part_number.into(),
        part.blob_id.as_str().into(),
        doc.into(),
    ];
    tx.exec(Stmt::UpsertPart, &args).await?;
    Ok(prev)
}

/// Commits the completed object (`used` are the blob ids it references, each of which
/// must still be a current part's) and removes the upload. Returns what the put
/// replaced, the version id, and the upload's parts.
pub(crate) async fn complete<X: ObjectTx>(
    tx: &mut X,
    upload_id: &str,
    row: &mut ObjectRow,
    used: &[String],
    cond: &WriteCondition,
    cap: Option<u64>,
) -> R<(Option<RawObject>, Option<String>, Vec<PartRecord>), X> {
    if !hold_upload(tx, upload_id, true).await? {
        return Err(Error::NoSuchUpload.into());
    }
    let parts: Vec<PartRecord> =
        decode_all(tx.docs(Stmt::PartDocs, &[upload_id.into()]).await?, "part")?;
    semantics::check_parts_current(used.iter().map(String::as_str), &parts)?;
    let (prev, vid) = objects::put(tx, row, cond, cap).await?;
    delete_upload(tx, upload_id).await?;
    Ok((prev, vid, parts))
}

/// Removes the upload; returns its parts' documents (their blobs are the caller's to
/// delete).
pub(crate) async fn abort<X: ObjectTx>(tx: &mut X, upload_id: &str) -> R<Vec<String>, X> {
    if !hold_upload(tx, upload_id, true).await? {
        return Err(Error::NoSuchUpload.into());
    }
    let parts = tx.docs(Stmt::PartDocs, &[upload_id.into()]).await?;
    delete_upload(tx, upload_id).await?;
    Ok(parts)
}
