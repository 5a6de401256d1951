//! The row codec both SQL engines share: how records become columns and documents and
//! back. Both schemas store a record as a JSON document plus the columns the queries
//! filter, sort or sum on; an object's inline bytes live in their own column, never in
//! the document.

use coffer_core::meta::{Deleted, Replaced};
use coffer_core::model::*;
use coffer_core::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

pub(crate) fn to_doc<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::internal(format!("encoding a record: {e}")))
}

pub(crate) fn from_doc<T: DeserializeOwned>(doc: &str, what: &str) -> Result<T> {
    serde_json::from_str(doc).map_err(|e| Error::internal(format!("corrupt {what} record: {e}")))
}

pub(crate) fn decode_all<T: DeserializeOwned>(docs: Vec<String>, what: &str) -> Result<Vec<T>> {
    docs.iter().map(|d| from_doc(d, what)).collect()
}

/// A timestamp as stored: unix nanoseconds.
pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| Error::invalid("timestamp out of the supported range"))
}

pub(crate) fn from_nanos(n: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
        .map_err(|e| Error::internal(format!("corrupt timestamp {n}: {e}")))
}

pub(crate) fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::invalid("size out of range"))
}

pub(crate) fn key_state(s: KeyState) -> &'static str {
    match s {
        KeyState::Active => "Active",
        KeyState::Suspended => "Suspended",
        KeyState::Deleted => "Deleted",
    }
}

/// An `ObjectRecord` as a row; built on the caller's task, so the engines' transactions
/// only bind it.
pub(crate) struct ObjectRow {
    pub bucket: String,
    pub key: String,
    pub size: i64,
    pub etag: String,
    pub last_modified: i64,
    /// The record's blob ids, space-separated (`referenced_blobs` reads only this).
    pub blob_ids: Option<String>,
    pub doc: String,
    pub inline: Option<Vec<u8>>,
    pub version_id: Option<String>,
}

impl ObjectRow {
    pub fn new(r: &ObjectRecord) -> Result<Self> {
        // The document carries everything but inline bytes (listed field by field, so a
        // new field in ObjectRecord fails to compile here until it is considered).
        let shell = |data: ObjectData| ObjectRecord {
            inline_crc32c: r.inline_crc32c,
            upload_id: r.upload_id.clone(),
            owner_org: r.owner_org.clone(),
            acl: r.acl.clone(),
            retention: r.retention,
            legal_hold: r.legal_hold,
            v: r.v,
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            size: r.size,
            etag: r.etag.clone(),
            last_modified: r.last_modified,
            headers: r.headers.clone(),
            user_metadata: r.user_metadata.clone(),
            checksums: r.checksums.clone(),
            parts: r.parts.clone(),
            tags: r.tags.clone(),
            data,
            version_id: r.version_id.clone(),
            encryption: r.encryption.clone(),
        };
        let (doc, inline, blob_ids) = match &r.data {
            ObjectData::Inline(bytes) => (
                to_doc(&shell(ObjectData::Inline(Vec::new())))?,
                Some(bytes.clone()),
                None,
            ),
            ObjectData::Segments(segs) => {
                let ids: Vec<&str> = segs.iter().map(|s| s.blob_id.as_str()).collect();
                (to_doc(r)?, None, Some(ids.join(" ")))
            }
        };
        Ok(Self {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            size: to_i64(r.size)?,
            etag: r.etag.clone(),
            last_modified: nanos(r.last_modified)?,
            blob_ids,
            doc,
            inline,
            version_id: r.version_id.clone(),
        })
    }

    /// The row stored under another version id than the caller assumed (the bucket's
    /// versioning state changed between the caller's read and this commit).
    pub fn set_version(&mut self, vid: Option<String>) -> Result<()> {
        if self.version_id == vid {
            return Ok(());
        }
        let mut r: ObjectRecord = from_doc(&self.doc, "object")?;
        r.version_id = vid.clone();
        self.doc = to_doc(&r)?;
        self.version_id = vid;
        Ok(())
    }
}

/// An object row as read back; decoded after the transaction, off the engine's thread.
pub(crate) struct RawObject {
    pub doc: String,
    pub inline: Option<Vec<u8>>,
}

impl RawObject {
    pub fn decode(self) -> Result<ObjectRecord> {
        let mut r: ObjectRecord = from_doc(&self.doc, "object")?;
        if let Some(bytes) = self.inline {
            r.data = ObjectData::Inline(bytes);
        }
        Ok(r)
    }
}

pub(crate) fn decode_replaced(
    prev: Option<RawObject>,
    version_id: Option<String>,
) -> Result<Replaced> {
    Ok(Replaced {
        previous: prev.map(RawObject::decode).transpose()?,
        version_id,
    })
}

/// A `Deleted` as the transaction leaves it: the removed record still encoded.
pub(crate) struct RawDeleted {
    pub removed: Option<RawObject>,
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

impl RawDeleted {
    pub fn decode(self) -> Result<Deleted> {
        Ok(Deleted {
            removed: self.removed.map(RawObject::decode).transpose()?,
            version_id: self.version_id,
            delete_marker: self.delete_marker,
        })
    }
}

/// The current object of a key (the `objects` row).
pub(crate) struct CurrentRow {
    pub size: u64,
    pub etag: String,
    pub last_modified: i64,
    pub version_id: Option<String>,
    pub raw: RawObject,
}

/// A version's record as `get_object_version` finds it: (is a delete marker, record).
pub(crate) fn decode_version(found: Option<(bool, RawObject)>) -> Result<Option<ObjectVersion>> {
    Ok(match found {
        None => None,
        Some((true, raw)) => Some(ObjectVersion::DeleteMarker(from_doc(
            &raw.doc,
            "delete marker",
        )?)),
        Some((false, raw)) => Some(ObjectVersion::Object(raw.decode()?)),
    })
}

/// A noncurrent version (an `object_versions` row), addressed by its position `seq`
/// (larger is newer).
pub(crate) struct VersionRow {
    pub seq: i64,
    pub delete_marker: bool,
    pub size: u64,
    pub raw: RawObject,
}

/// A version listing row as both engines' version queries return it.
pub(crate) fn version_summary(
    key: String,
    vid: String,
    delete_marker: bool,
    size: i64,
    etag: String,
    last_modified: i64,
    is_latest: bool,
) -> Result<VersionSummary> {
    Ok(VersionSummary {
        key,
        version_id: (vid != NULL_VERSION).then_some(vid),
        is_latest,
        delete_marker,
        size: size as u64,
        etag,
        last_modified: from_nanos(last_modified)?,
    })
}
