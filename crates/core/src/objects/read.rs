//! GET/HEAD: read preconditions, ranges, `partNumber`, and body streams over inline data
//! or blob segments.

use super::{ByteRange, GetObjectInput, GetObjectOutput, MAX_PARTS, ObjectService, ReadConditions};
use crate::blob::ByteStream;
use crate::checksum::etag_list_matches;
use crate::error::{Error, Result};
use crate::integrity;
use crate::model::{NULL_VERSION, ObjectData, ObjectRecord, Segment};
use crate::sse::DataKey;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use std::sync::atomic::Ordering;

/// Evaluates read preconditions (RFC 7232 as S3 applies them). `If-Unmodified-Since`
/// counts only without `If-Match`, `If-Modified-Since` only without `If-None-Match`.
/// Copy sources (`for_copy`) answer `PreconditionFailed` where a GET answers
/// `NotModified`. Times compare at whole seconds, the precision of HTTP dates.
pub(super) fn check_conditions(
    record: &ObjectRecord,
    c: &ReadConditions,
    for_copy: bool,
) -> Result<()> {
    if let Some(tag) = &c.cache_tag
        && crate::cache_node::object_tag(record).as_deref() != Some(tag.as_str())
    {
        return Err(Error::PreconditionFailed);
    }
    evaluate_conditions(&record.etag, record.last_modified, c, for_copy)
}

/// [`check_conditions`] on an object's ETag and modification time. Public only for the
/// fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn evaluate_conditions(
    etag: &str,
    last_modified: time::OffsetDateTime,
    c: &ReadConditions,
    for_copy: bool,
) -> Result<()> {
    let modified = last_modified.unix_timestamp();
    if let Some(m) = &c.if_match {
        if !etag_list_matches(m, etag, true) {
            return Err(Error::PreconditionFailed);
        }
    } else if let Some(t) = c.if_unmodified_since
        && modified > t.unix_timestamp()
    {
        return Err(Error::PreconditionFailed);
    }
    let not_modified = if let Some(n) = &c.if_none_match {
        etag_list_matches(n, etag, true)
    } else if let Some(t) = c.if_modified_since {
        modified <= t.unix_timestamp()
    } else {
        false
    };
    if not_modified {
        return Err(if for_copy {
            Error::PreconditionFailed
        } else {
            Error::NotModified {
                etag: etag.to_string(),
            }
        });
    }
    Ok(())
}

/// Inclusive byte span of `range` within an object of `size` bytes. `Ok(None)` means the
/// range is syntactically invalid (`a-b` with b < a) and is ignored, as RFC 7233 asks.
/// Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn resolve_range(range: ByteRange, size: u64) -> Result<Option<(u64, u64)>> {
    match range {
        ByteRange::Bounded(a, b) if b < a => Ok(None),
        ByteRange::Bounded(a, _) | ByteRange::From(a) if a >= size => Err(Error::InvalidRange),
        ByteRange::Bounded(a, b) => Ok(Some((a, b.min(size - 1)))),
        ByteRange::From(a) => Ok(Some((a, size - 1))),
        ByteRange::Suffix(n) if n == 0 || size == 0 => Err(Error::InvalidRange),
        ByteRange::Suffix(n) => Ok(Some((size - n.min(size), size - 1))),
    }
}

impl ObjectService {
    /// The record, or `NoSuchKey` / `NoSuchBucket` (the bucket is looked up only on a miss).
    /// In a versioned bucket whose key's newest version is a delete marker the miss is
    /// `DeleteMarker { by_id: false }` (404 NoSuchKey naming the marker, as S3 does).
    pub(super) async fn load_object(&self, bucket: &str, key: &str) -> Result<ObjectRecord> {
        match self.meta.get_object(bucket, key).await? {
            Some(r) => Ok(r),
            None => match self.meta.get_bucket(bucket).await? {
                Some(b) if b.versioning.is_unversioned() => Err(Error::NoSuchKey),
                Some(_) => {
                    let page = self
                        .meta
                        .list_object_versions(bucket, key, "", "", 1)
                        .await?;
                    match page.versions.first() {
                        Some(v) if v.key == key && v.delete_marker && v.is_latest => {
                            Err(Error::DeleteMarker {
                                version_id: v
                                    .version_id
                                    .clone()
                                    .unwrap_or_else(|| NULL_VERSION.to_string()),
                                by_id: false,
                            })
                        }
                        _ => Err(Error::NoSuchKey),
                    }
                }
                None => Err(Error::NoSuchBucket),
            },
        }
    }

    /// GET/HEAD of the current object, or of version `version_id` when given.
    pub(super) async fn do_get_object(
        &self,
        input: GetObjectInput,
        version_id: Option<&str>,
        want_body: impl FnOnce(&ObjectRecord, u64) -> bool,
    ) -> Result<GetObjectOutput> {
        if input.range.is_some() && input.part_number.is_some() {
            return Err(Error::invalid(
                "Cannot specify both Range header and partNumber query parameter",
            ));
        }
        if let Some(p) = input.part_number
            && !(1..=MAX_PARTS).contains(&p)
        {
            return Err(Error::invalid(
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        let mut record = match version_id {
            None => self.load_object(&input.bucket, &input.key).await?,
            Some(v) => self.load_version(&input.bucket, &input.key, v).await?,
        };
        check_conditions(&record, &input.conditions, false)?;
        // HEAD too: SSE-C data answers nobody without its key.
        let data_key = self.read_key(record.encryption.as_ref(), input.sse_key.as_ref())?;
        let size = record.size;
        // `range` is what the response reports (206 + Content-Range); an ignored Range
        // header and a whole-object GET report none.
        let ((start, len), range) = match (input.range, input.part_number) {
            (Some(r), _) => match resolve_range(r, size)? {
                Some((a, b)) => ((a, b - a + 1), Some((a, b))),
                None => ((0, size), None),
            },
            (None, Some(p)) => {
                let (s, l) = part_span(&record, p)?;
                ((s, l), (l > 0).then(|| (s, s + l - 1)))
            }
            (None, None) => ((0, size), None),
        };
        let want_body = want_body(&record, len);
        let data = std::mem::replace(&mut record.data, ObjectData::Inline(Vec::new()));
        // HEAD reads no data, so it neither verifies nor can leak damaged bytes.
        let body = if want_body {
            Some(
                self.open_body(&record, data, start, len, data_key.as_ref())
                    .await?,
            )
        } else {
            None
        };
        let parts_count = (!record.parts.is_empty()).then_some(record.parts.len() as u32);
        Ok(GetObjectOutput {
            record,
            range,
            content_length: len,
            body,
            parts_count,
        })
    }

    /// A stream of `len` bytes from `start` of the object's data (`data`, taken out of
    /// `src`). The first segment is opened before returning (a missing blob or a damaged
    /// first block fails the request, not the response); later segments are opened one at
    /// a time as the previous one is exhausted. Every byte is verified against its
    /// integrity record before it is yielded; damage is `Error::Corrupted` (as the
    /// stream's error once streaming started), counted and logged with the object's name.
    ///
    /// `key` is the version's data key when its data is sealed (`crate::sse`).
    pub(super) async fn open_body(
        &self,
        src: &ObjectRecord,
        data: ObjectData,
        start: u64,
        len: u64,
        key: Option<&DataKey>,
    ) -> Result<ByteStream> {
        match data {
            ObjectData::Inline(v) => {
                self.check_inline(src, &v)?;
                let v = match (&src.encryption, key) {
                    (None, _) => v,
                    (Some(_), Some(k)) => match k.segment(None)?.open(0, &v) {
                        Ok(p) => p,
                        Err(e) => {
                            if let Error::Corrupted(d) = &e {
                                self.report_corruption(src, d);
                            }
                            return Err(e);
                        }
                    },
                    (Some(_), None) => return Err(Error::internal("sealed data without a key")),
                };
                let b = Bytes::from(v);
                let (s, e) = (start as usize, (start + len) as usize);
                if e > b.len() {
                    return Err(Error::internal("inline data shorter than the record size"));
                }
                if len == 0 {
                    return Ok(Box::pin(stream::empty()));
                }
                let slice = b.slice(s..e);
                Ok(Box::pin(stream::once(async move { Ok(slice) })))
            }
            ObjectData::Segments(segs) => {
                match self.segments_stream(&segs, start, len, key).await {
                    Ok(body) => Ok(self.watch_integrity(src, body)),
                    Err(e) => {
                        if let Error::Corrupted(d) = &e {
                            self.report_corruption(src, d);
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    /// Fails with `Corrupted` when inline bytes disagree with the record's CRC32C.
    pub(super) fn check_inline(&self, src: &ObjectRecord, data: &[u8]) -> Result<()> {
        match integrity::check_inline(data, src.inline_crc32c) {
            integrity::Check::Damaged { detail, .. } => {
                self.report_corruption(src, &detail);
                Err(Error::Corrupted(detail))
            }
            _ => Ok(()),
        }
    }

    /// Counts and logs damage met while `body` streams (the stream itself already stops
    /// before the damaged block's bytes).
    fn watch_integrity(&self, src: &ObjectRecord, body: ByteStream) -> ByteStream {
        let counter = self.integrity_errors.clone();
        let (bucket, key, version) = (src.bucket.clone(), src.key.clone(), src.version_id.clone());
        Box::pin(body.inspect_err(move |e| {
            if let Some(Error::Corrupted(d)) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                counter.fetch_add(1, Ordering::Relaxed);
                log_corruption(&bucket, &key, version.as_deref(), d, true);
            }
        }))
    }

    fn report_corruption(&self, src: &ObjectRecord, detail: &str) {
        self.integrity_errors.fetch_add(1, Ordering::Relaxed);
        log_corruption(
            &src.bucket,
            &src.key,
            src.version_id.as_deref(),
            detail,
            false,
        );
    }

    async fn segments_stream(
        &self,
        segs: &[Segment],
        start: u64,
        len: u64,
        key: Option<&DataKey>,
    ) -> Result<ByteStream> {
        let end = start + len;
        let mut pieces = Vec::new();
        let mut off = 0u64;
        for s in segs {
            let (a, b) = (off, off + s.size);
            if b > start && a < end {
                let from = start.max(a) - a;
                let to = end.min(b) - a;
                if to > from {
                    let cipher = match (&s.key_salt, key) {
                        (None, _) => None,
                        (Some(salt), Some(k)) => Some(k.segment(Some(salt))?),
                        (Some(_), None) => {
                            return Err(Error::internal("sealed segment without a key"));
                        }
                    };
                    pieces.push(Piece {
                        blob_id: s.blob_id.clone(),
                        size: s.size,
                        from,
                        len: to - from,
                        cipher,
                    });
                }
            }
            off = b;
            if off >= end {
                break;
            }
        }
        if pieces.iter().map(|p| p.len).sum::<u64>() != len {
            return Err(Error::internal("segments shorter than the record size"));
        }
        let mut pieces = pieces.into_iter();
        let Some(p) = pieces.next() else {
            return Ok(Box::pin(stream::empty()));
        };
        let first = p.open(&*self.blobs).await?;
        let rest: Vec<_> = pieces.collect();
        if rest.is_empty() {
            return Ok(first);
        }
        let blobs = self.blobs.clone();
        let tail = stream::iter(rest)
            .then(move |p| {
                let blobs = blobs.clone();
                async move { p.open(&*blobs).await.map_err(std::io::Error::other) }
            })
            .try_flatten();
        Ok(Box::pin(first.chain(tail)))
    }
}

/// `len` plaintext bytes from `from` of one segment.
struct Piece {
    blob_id: String,
    size: u64,
    from: u64,
    len: u64,
    /// Present: the segment is sealed.
    cipher: Option<std::sync::Arc<crate::sse::BlockCipher>>,
}

impl Piece {
    async fn open(self, blobs: &dyn crate::blob::BlobStore) -> Result<ByteStream> {
        match self.cipher {
            None => blobs.read(&self.blob_id, self.from, self.len).await,
            Some(c) => {
                let (at, n, first, skip) = crate::sse::sealed_span(self.from, self.len, self.size);
                let sealed = blobs.read(&self.blob_id, at, n).await?;
                // The first block is opened (its tag checked) before the stream is handed
                // out, so a piece that fails at once fails the request, not the response.
                let mut s = crate::sse::open_stream(sealed, c, first, skip, self.len);
                match s.next().await {
                    None => Ok(Box::pin(stream::empty())),
                    Some(Err(e)) => Err(Error::from(e)),
                    Some(Ok(b)) => Ok(Box::pin(stream::once(async move { Ok(b) }).chain(s))),
                }
            }
        }
    }
}

/// One error line per refused read: the object's name, the blob and offset (in `detail`),
/// never data or credentials.
fn log_corruption(bucket: &str, key: &str, version: Option<&str>, detail: &str, mid_stream: bool) {
    tracing::error!(
        bucket,
        key,
        version_id = version.unwrap_or(NULL_VERSION),
        detail,
        mid_stream,
        "stored object data failed its integrity check; the bytes were not served"
    );
}

/// (start, len) of part `p` (1-based). A single-part object has exactly one part: itself.
/// A part beyond the last is `InvalidPartNumber` (416, as S3).
fn part_span(record: &ObjectRecord, p: u32) -> Result<(u64, u64)> {
    if record.parts.is_empty() {
        return if p == 1 {
            Ok((0, record.size))
        } else {
            Err(Error::InvalidPartNumber)
        };
    }
    let idx = (p - 1) as usize;
    if idx >= record.parts.len() {
        return Err(Error::InvalidPartNumber);
    }
    let start = record.parts[..idx].iter().map(|x| x.size).sum();
    Ok((start, record.parts[idx].size))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz finding (range_conditional): the list was split at every comma and each
    /// piece unquoted, so `If-None-Match: "abc-3,x"` answered 304 for `"abc-3"`.
    #[test]
    fn ranges() {
        use ByteRange::*;
        assert_eq!(resolve_range(Bounded(0, 0), 10).unwrap(), Some((0, 0)));
        assert_eq!(resolve_range(Bounded(2, 100), 10).unwrap(), Some((2, 9)));
        assert_eq!(resolve_range(Bounded(5, 3), 10).unwrap(), None);
        assert_eq!(resolve_range(Bounded(10, 12), 10), Err(Error::InvalidRange));
        assert_eq!(resolve_range(From(9), 10).unwrap(), Some((9, 9)));
        assert_eq!(resolve_range(From(10), 10), Err(Error::InvalidRange));
        assert_eq!(resolve_range(Suffix(3), 10).unwrap(), Some((7, 9)));
        assert_eq!(resolve_range(Suffix(30), 10).unwrap(), Some((0, 9)));
        assert_eq!(resolve_range(Suffix(0), 10), Err(Error::InvalidRange));
        assert_eq!(resolve_range(Suffix(1), 0), Err(Error::InvalidRange));
        assert_eq!(resolve_range(From(0), 0), Err(Error::InvalidRange));
        assert_eq!(resolve_range(Bounded(0, 5), 0), Err(Error::InvalidRange));
    }
}
