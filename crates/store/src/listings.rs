//! The read rules of `MetaStore` that are more than one lookup (object, version, upload
//! and part listings; reading one version), written once against [`ListTx`]. Each runs
//! as one snapshot read (`engine::Read::Snapshot`: a read transaction on a SQLite reader
//! connection; a REPEATABLE READ transaction on PostgreSQL), so a version moving between
//! two tables, or an upload completing, is seen once.
//!
//! Object and version listings fetch one row more than asked: its presence says the page
//! is truncated. Scans are index range scans bounded by the prefix's upper bound
//! (`semantics::prefix_upper_bound`) and cut at the limit; upload scans stream and stop
//! once the page is full.

use crate::engine::{DocTx, Stmt, Val, found, int_row};
use crate::objects::ObjectTx;
use crate::rows::RawObject;
use crate::semantics::{self, UploadMarker};
use coffer_core::Error;
use coffer_core::meta::{ObjectPage, VersionPage};
use coffer_core::model::{ObjectSummary, VersionSummary};
use std::future::Future;

/// Whether a candidate upload row (key, initiated, upload id) follows the marker.
pub(crate) type UploadFilter<'a> = &'a (dyn Fn(&str, i128, &str) -> bool + Sync);

/// The row reads the listing rules need, beyond the object rules'.
pub(crate) trait ListTx: ObjectTx {
    /// Current objects of `bucket` in key order from `lower` (exclusive if `after`,
    /// else inclusive) up to `upper` (exclusive, raw bytes), at most `limit`.
    fn scan_objects(
        &mut self,
        bucket: &str,
        lower: &str,
        after: bool,
        upper: Option<&[u8]>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ObjectSummary>, Self::Err>> + Send;
    /// The current object of the key if its version id (`null` when none) is `vid`.
    fn current_of_version(
        &mut self,
        bucket: &str,
        key: &str,
        vid: &str,
    ) -> impl Future<Output = Result<Option<RawObject>, Self::Err>> + Send;
    /// Versions and delete markers merged with current objects: key ascending, then
    /// newest first (a current object is newest); from `prefix` up to `upper`; after
    /// (`key_marker`, `position`); at most `limit`. Rows of the marker key follow it
    /// when their position is smaller.
    fn scan_versions(
        &mut self,
        bucket: &str,
        prefix: &str,
        upper: Option<&[u8]>,
        key_marker: &str,
        position: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<VersionSummary>, Self::Err>> + Send;
    /// Documents of the bucket's uploads that `keep` accepts, in (key, initiated, upload
    /// id) order from key `start` up to `upper`, at most `limit`; rows are read as a
    /// stream, so skipped rows cost no memory.
    fn scan_uploads(
        &mut self,
        bucket: &str,
        start: &str,
        upper: Option<&[u8]>,
        limit: usize,
        keep: UploadFilter<'_>,
    ) -> impl Future<Output = Result<Vec<String>, Self::Err>> + Send;
}

type R<T, X> = Result<T, <X as DocTx>::Err>;

fn fetch_for(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

/// `list_objects`: keys after `start_after` that start with `prefix`.
pub(crate) async fn list_objects<X: ListTx>(
    tx: &mut X,
    bucket: &str,
    prefix: &str,
    start_after: &str,
    limit: usize,
) -> R<ObjectPage, X> {
    // One lower bound, the tighter of `> start_after` and `>= prefix`, so the scan never
    // starts at the looser one.
    let upper = semantics::prefix_upper_bound(prefix);
    let after = start_after >= prefix;
    let lower = if after { start_after } else { prefix };
    let mut objects = tx
        .scan_objects(bucket, lower, after, upper.as_deref(), fetch_for(limit))
        .await?;
    if objects.is_empty() && !found(tx, Stmt::BucketExists, &[bucket.into()]).await? {
        return Err(Error::NoSuchBucket.into());
    }
    let truncated = objects.len() > limit;
    objects.truncate(limit);
    Ok(ObjectPage { objects, truncated })
}

/// `get_object_version`: the version's record and whether it is a delete marker.
pub(crate) async fn get_object_version<X: ListTx>(
    tx: &mut X,
    bucket: &str,
    key: &str,
    vid: &str,
) -> R<Option<(bool, RawObject)>, X> {
    if let Some(raw) = tx.current_of_version(bucket, key, vid).await? {
        return Ok(Some((false, raw)));
    }
    Ok(tx
        .find_version(bucket, key, vid)
        .await?
        .map(|v| (v.delete_marker, v.raw)))
}

/// `list_object_versions`: from the (key, version id) marker on.
pub(crate) async fn list_object_versions<X: ListTx>(
    tx: &mut X,
    bucket: &str,
    prefix: &str,
    key_marker: &str,
    version_id_marker: &str,
    limit: usize,
) -> R<VersionPage, X> {
    if !found(tx, Stmt::BucketExists, &[bucket.into()]).await? {
        return Err(Error::NoSuchBucket.into());
    }
    // Position of the version marker: the current object is newest (MAX); no marker
    // starts after every row of the marker key.
    let position = if version_id_marker.is_empty() {
        i64::MIN
    } else if tx
        .current_of_version(bucket, key_marker, version_id_marker)
        .await?
        .is_some()
    {
        i64::MAX
    } else {
        tx.find_version(bucket, key_marker, version_id_marker)
            .await?
            .map(|v| v.seq)
            .ok_or_else(|| Error::invalid("Invalid version id marker specified"))?
    };
    let upper = semantics::prefix_upper_bound(prefix);
    let mut versions = tx
        .scan_versions(
            bucket,
            prefix,
            upper.as_deref(),
            key_marker,
            position,
            fetch_for(limit),
        )
        .await?;
    let truncated = versions.len() > limit;
    versions.truncate(limit);
    Ok(VersionPage {
        versions,
        truncated,
    })
}

/// `list_parts`: part documents after `marker`.
pub(crate) async fn list_parts<X: ListTx>(
    tx: &mut X,
    upload_id: &str,
    marker: u32,
    limit: usize,
) -> R<Vec<String>, X> {
    if !found(tx, Stmt::GetUpload, &[upload_id.into()]).await? {
        return Err(Error::NoSuchUpload.into());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    tx.docs(
        Stmt::ScanParts,
        &[upload_id.into(), marker.into(), limit.into()],
    )
    .await
}

/// `list_uploads`: upload documents after the (key, upload id) marker
/// (`UploadMarker::is_after`).
pub(crate) async fn list_uploads<X: ListTx>(
    tx: &mut X,
    bucket: &str,
    prefix: &str,
    key_marker: &str,
    upload_id_marker: &str,
    limit: usize,
) -> R<Vec<String>, X> {
    if !found(tx, Stmt::BucketExists, &[bucket.into()]).await? {
        return Err(Error::NoSuchBucket.into());
    }
    let args = [upload_id_marker.into(), bucket.into(), Val::key(key_marker)];
    let position = int_row(tx, Stmt::UploadInitiated, &args)
        .await?
        .map(|[t]| t);
    let marker = UploadMarker {
        key: key_marker.to_string(),
        position: position.map(|t| (i128::from(t), upload_id_marker.to_string())),
        upload_id: upload_id_marker.to_string(),
    };
    // Candidates start at max(prefix, key_marker) in index order; the marker rule
    // filters the rows of the marker key.
    let start = prefix.max(key_marker);
    let upper = semantics::prefix_upper_bound(prefix);
    let keep = |key: &str, initiated: i128, id: &str| marker.is_after(key, initiated, id);
    tx.scan_uploads(bucket, start, upper.as_deref(), limit, &keep)
        .await
}
