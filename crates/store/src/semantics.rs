//! The `MetaStore` rules that do not depend on a backend: key-range bounds for prefix
//! listings, write conditions, capacity caps and usage arithmetic, and which parts a
//! completed multipart object leaves unused. Every backend calls these, so the rules are
//! written once.

use coffer_core::model::{ObjectRecord, PartRecord, Usage};
use coffer_core::{Error, Result};
use std::collections::HashSet;

/// Used SAML assertion ids are purged this long after they expire. Until purged, an
/// expired entry is simply overwritten by a new use; the delay keeps housekeeping from
/// racing callers whose clocks differ slightly (several nodes, or the conformance suite
/// running against itself).
pub(crate) const ASSERTION_ID_PURGE_AFTER: time::Duration = time::Duration::hours(1);

/// Exclusive upper bound of the byte range of strings that start with `prefix`, compared
/// as bytes (UTF-8 order). `None` when there is no bound (empty prefix, or a prefix of
/// only 0xFF bytes, which valid UTF-8 never contains).
///
/// Invariant: for every `s`, `s.starts_with(prefix)` ⇔ `s >= prefix && bound.map_or(true,
/// |b| s < b)` (byte-wise). The bound may not be valid UTF-8 (e.g. `…\xBF` → `…\xC0`);
/// backends bind it as raw bytes.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<Vec<u8>> {
    let mut b = prefix.as_bytes().to_vec();
    while let Some(last) = b.pop() {
        if last < 0xFF {
            b.push(last + 1);
            return Some(b);
        }
    }
    None
}

/// RenameObject on a bucket that is or was versioned (S3 supports it on directory
/// buckets only; this service on never-versioned general purpose buckets).
pub(crate) fn rename_on_versioned_bucket() -> Error {
    Error::Unimplemented(
        "RenameObject is not supported on a bucket that has versioning enabled or suspended".into(),
    )
}

/// An object document (JSON) with its `key` replaced, every other field kept as stored
/// (including fields this code does not know).
pub(crate) fn rekey_doc(doc: &str, key: &str) -> Result<String> {
    let mut v: serde_json::Value = serde_json::from_str(doc)
        .map_err(|e| Error::internal(format!("corrupt object record: {e}")))?;
    v.as_object_mut()
        .ok_or_else(|| Error::internal("corrupt object record: not an object"))?
        .insert(
            "key".to_string(),
            serde_json::Value::String(key.to_string()),
        );
    serde_json::to_string(&v).map_err(|e| Error::internal(format!("encoding a record: {e}")))
}

/// Usage of `bucket` after writing an object of `new_size` bytes that replaces an object
/// of `prev_size` bytes (`None` = new key). When `cap` is set the resulting byte usage must
/// be ≤ cap, else `QuotaExceeded`.
pub(crate) fn usage_after_put(
    bucket: &str,
    usage: Usage,
    prev_size: Option<u64>,
    new_size: u64,
    cap: Option<u64>,
) -> Result<Usage> {
    let after = Usage {
        bytes: usage
            .bytes
            .saturating_sub(prev_size.unwrap_or(0))
            .saturating_add(new_size),
        objects: usage.objects + u64::from(prev_size.is_none()),
    };
    if let Some(cap) = cap
        && after.bytes > cap
    {
        return Err(Error::QuotaExceeded(format!(
            "bucket {bucket}: the write would bring usage to {} bytes, over the cap of {cap} bytes",
            after.bytes
        )));
    }
    Ok(after)
}

/// Usage after removing an object of `size` bytes.
pub(crate) fn usage_after_delete(usage: Usage, size: u64) -> Usage {
    Usage {
        bytes: usage.bytes.saturating_sub(size),
        objects: usage.objects.saturating_sub(1),
    }
}

/// The parts of a completed upload whose blobs `record` does not reference.
/// Every blob the completed object references must still be the current blob of one of
/// the upload's parts: an UploadPart that replaced a part while Complete was running
/// would otherwise leave the new object pointing at a blob that is about to be deleted.
pub(crate) fn check_parts_current<'a>(
    mut used_blobs: impl Iterator<Item = &'a str>,
    parts: &[PartRecord],
) -> Result<()> {
    let current: HashSet<&str> = parts.iter().map(|p| p.blob_id.as_str()).collect();
    match used_blobs.find(|b| !current.contains(b)) {
        Some(_) => Err(Error::InvalidPart(
            "a part was replaced while the upload was being completed; retry".into(),
        )),
        None => Ok(()),
    }
}

pub(crate) fn unused_parts(record: &ObjectRecord, parts: Vec<PartRecord>) -> Vec<PartRecord> {
    let used: HashSet<&str> = record.data.blob_ids().collect();
    parts
        .into_iter()
        .filter(|p| !used.contains(p.blob_id.as_str()))
        .collect()
}

/// True when an upload at (`key`, `initiated_ns`, `upload_id`) sorts after the listing
/// markers (S3 semantics: without a key marker the upload-id marker is ignored; with both,
/// uploads of the marker key come after the marker upload in (initiated, upload_id) order;
/// if the marker upload is gone, after it by upload id).
pub(crate) struct UploadMarker {
    pub key: String,
    /// (initiated unix nanos, upload id) of the marker upload when it still exists.
    pub position: Option<(i128, String)>,
    pub upload_id: String,
}

impl UploadMarker {
    pub(crate) fn is_after(&self, key: &str, initiated_ns: i128, upload_id: &str) -> bool {
        if key != self.key {
            return key > self.key.as_str();
        }
        if self.upload_id.is_empty() {
            return false;
        }
        match &self.position {
            Some((t, id)) => (initiated_ns, upload_id) > (*t, id.as_str()),
            None => upload_id > self.upload_id.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a").unwrap(), b"b");
        assert_eq!(prefix_upper_bound("a/").unwrap(), b"a0");
        // U+FFFF = EF BF BF; U+10FFFF = F4 8F BF BF.
        assert_eq!(prefix_upper_bound("x\u{FFFF}").unwrap(), b"x\xEF\xBF\xC0");
        assert_eq!(
            prefix_upper_bound("\u{10FFFF}").unwrap(),
            b"\xF4\x8F\xBF\xC0"
        );
        let keys = [
            "a",
            "a\u{10FFFF}",
            "a\u{10FFFF}z",
            "b",
            "a\u{FFFF}",
            "\u{10FFFF}",
        ];
        for p in ["a", "a\u{10FFFF}", "\u{10FFFF}", "a\u{FFFF}", ""] {
            let ub = prefix_upper_bound(p);
            for k in keys {
                let inside =
                    k.as_bytes() >= p.as_bytes() && ub.as_deref().is_none_or(|b| k.as_bytes() < b);
                assert_eq!(inside, k.starts_with(p), "{p:?} {k:?}");
            }
        }
    }

    #[test]
    fn caps() {
        let u = Usage {
            bytes: 90,
            objects: 3,
        };
        assert_eq!(
            usage_after_put("b", u, Some(10), 20, Some(100)).unwrap(),
            Usage {
                bytes: 100,
                objects: 3
            }
        );
        assert!(matches!(
            usage_after_put("b", u, None, 11, Some(100)),
            Err(Error::QuotaExceeded(_))
        ));
        assert_eq!(usage_after_put("b", u, None, 11, None).unwrap().objects, 4);
    }
}
