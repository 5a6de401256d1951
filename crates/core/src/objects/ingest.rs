//! The write pipeline shared by PUT, UploadPart and the copies.
//!
//! Body pieces are coalesced into chunks of at least `CHUNK` bytes. Each chunk is handed
//! (a refcounted `Bytes`, no copy) to one or two hash lanes that hash on blocking threads,
//! and written to the blob while the next chunk is read from the body, so the elapsed
//! time of a large write is that of its slowest stage (typically MD5), not their sum.
//! Bounded lane channels keep memory per write at a few chunks.
//!
//! Nothing here makes data visible: `ingest` returns the staged bytes, which the caller
//! verifies and then commits or discards.

use super::ObjectService;
use crate::blob::{BlobWriter, ByteStream};
use crate::checksum::{
    ChecksumAlgorithm, ContentDigest, ContentHasher, decode_checksum, encode_b64, set_checksum,
};
use crate::error::{Error, Result};
use crate::model::{Checksums, ObjectData, Segment};
use crate::objects::{ChecksumInput, TrailerFn};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Smallest chunk handed to the hashers and the blob writer (except a body's last).
pub(super) const CHUNK: usize = 1 << 20;
/// Larger incoming pieces are split (zero-copy) so the stages stay pipelined.
const MAX_CHUNK: usize = 4 << 20;
/// Chunks a hash lane may lag behind the writer.
const LANE_DEPTH: usize = 4;
/// Bodies up to this size are hashed on the calling task; larger ones on a blocking thread.
const SYNC_HASH_MAX: usize = 64 * 1024;

pub(super) struct IngestPlan {
    /// Larger bodies fail with `EntityTooLarge` as soon as the excess arrives.
    pub max_size: u64,
    /// Declared length: more bytes fail at once, fewer at the end (`IncompleteBody`).
    pub declared: Option<u64>,
    /// `Some(t)`: a body of at most `t` bytes is kept in memory (`Staged::Inline`).
    pub inline_max: Option<usize>,
    pub md5: bool,
    pub algorithms: Vec<ChecksumAlgorithm>,
    /// Seal the bytes under this data key (`crate::sse`); hashes are of the plaintext.
    pub seal: Option<crate::sse::DataKey>,
}

pub(super) enum Staged {
    Inline(Vec<u8>),
    Blob(PendingBlob),
}

pub(super) struct Ingested {
    /// Plaintext bytes.
    pub size: u64,
    pub digest: ContentDigest,
    /// Sealed bytes (inline or in the blob) when the plan had a data key.
    pub staged: Staged,
    /// The blob's segment salt when it is sealed.
    pub key_salt: Option<String>,
}

impl Ingested {
    /// Makes the bytes durable and returns them as record data.
    pub async fn commit(self) -> Result<ObjectData> {
        match self.staged {
            Staged::Inline(v) => Ok(ObjectData::Inline(v)),
            Staged::Blob(b) => Ok(ObjectData::Segments(vec![Segment {
                blob_id: b.commit().await?,
                size: self.size,
                key_salt: self.key_salt,
            }])),
        }
    }

    /// Commits a blob-staged body (parts are never inline) and returns its id and
    /// segment salt.
    pub async fn commit_blob(self) -> Result<(String, Option<String>)> {
        match self.staged {
            Staged::Blob(b) => Ok((b.commit().await?, self.key_salt)),
            Staged::Inline(_) => Err(Error::internal("part body was staged inline")),
        }
    }

    pub async fn discard(self) {
        if let Staged::Blob(b) = self.staged {
            b.abort().await;
        }
    }
}

/// An uncommitted blob. Dropped without `commit`/`abort` (the request future was
/// cancelled), it aborts the writer on a spawned task so no temp file outlives the write.
pub(super) struct PendingBlob(Option<Box<dyn BlobWriter>>);

impl PendingBlob {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        match &mut self.0 {
            Some(w) => w.write(chunk).await,
            None => Err(Error::internal("blob writer already finished")),
        }
    }

    pub async fn commit(mut self) -> Result<String> {
        match self.0.take() {
            Some(w) => w.commit().await,
            None => Err(Error::internal("blob writer already finished")),
        }
    }

    pub async fn abort(mut self) {
        if let Some(w) = self.0.take() {
            w.abort().await;
        }
    }
}

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if let Some(w) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(w.abort());
        }
    }
}

impl ObjectService {
    /// Reads `body` to its end into inline memory or a new blob, hashing as planned.
    /// On error nothing is left behind.
    pub(super) async fn ingest(&self, body: ByteStream, plan: &IngestPlan) -> Result<Ingested> {
        // Inline bodies land in the metadata database, usually on the same filesystem.
        self.blobs.check_space(plan.declared.unwrap_or(0)).await?;
        let mut reader = Chunker::new(body, plan.max_size, plan.declared);
        let mut head = Vec::new();
        let inline_max = plan
            .inline_max
            .filter(|&t| plan.declared.is_none_or(|d| d <= t as u64));
        if let Some(limit) = inline_max {
            loop {
                match reader.next().await? {
                    Some(c) => {
                        head.push(c);
                        if reader.total > limit as u64 {
                            break;
                        }
                    }
                    None => {
                        reader.check_declared()?;
                        let data = concat(head);
                        let (digest, data) =
                            hash_buffer(plan.md5, plan.algorithms.clone(), data).await?;
                        let data = match &plan.seal {
                            Some(k) => k.segment(None)?.seal(0, &data)?,
                            None => data,
                        };
                        return Ok(Ingested {
                            size: reader.total,
                            digest,
                            staged: Staged::Inline(data),
                            key_salt: None,
                        });
                    }
                }
            }
        }
        let (key_salt, writer) = match &plan.seal {
            Some(k) => {
                let (salt, cipher) = k.new_segment()?;
                let w = self.blobs.create().await?;
                let w: Box<dyn BlobWriter> = Box::new(crate::sse::SealingWriter::new(w, cipher));
                (Some(salt), w)
            }
            None => (None, self.blobs.create().await?),
        };
        let mut blob = PendingBlob(Some(writer));
        match pipeline(&mut reader, head, &mut blob, plan).await {
            Ok(digest) => Ok(Ingested {
                size: reader.total,
                digest,
                staged: Staged::Blob(blob),
                key_salt,
            }),
            Err(e) => {
                blob.abort().await;
                Err(e)
            }
        }
    }
}

async fn pipeline(
    reader: &mut Chunker,
    head: Vec<Bytes>,
    blob: &mut PendingBlob,
    plan: &IngestPlan,
) -> Result<ContentDigest> {
    let lanes = HashLanes::spawn(plan.md5, &plan.algorithms);
    let mut head = head.into_iter();
    let mut current = match head.next() {
        Some(c) => Some(c),
        None => reader.next().await?,
    };
    while let Some(chunk) = current {
        lanes.feed(&chunk).await?;
        let next = async {
            match head.next() {
                Some(c) => Ok(Some(c)),
                None => reader.next().await,
            }
        };
        let (written, next) = futures::join!(blob.write(chunk), next);
        written?;
        current = next?;
    }
    reader.check_declared()?;
    lanes.finish().await
}

/// Hashes an in-memory body; returns the buffer with the digest.
pub(super) async fn hash_buffer(
    md5: bool,
    algorithms: Vec<ChecksumAlgorithm>,
    data: Vec<u8>,
) -> Result<(ContentDigest, Vec<u8>)> {
    let mut h = ContentHasher::new(md5, &algorithms);
    if h.is_empty() || data.len() <= SYNC_HASH_MAX {
        h.update(&data);
        return Ok((h.finish(), data));
    }
    tokio::task::spawn_blocking(move || {
        h.update(&data);
        (h.finish(), data)
    })
    .await
    .map_err(|e| Error::internal(format!("hash task failed: {e}")))
}

fn concat(chunks: Vec<Bytes>) -> Vec<u8> {
    if chunks.len() == 1 {
        return chunks.into_iter().next().map(Vec::from).unwrap_or_default();
    }
    let mut v = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
    for c in chunks {
        v.extend_from_slice(&c);
    }
    v
}

/// Hash workers. MD5 and the CRCs share one lane; SHA1/SHA256 (a cost comparable to
/// MD5) get a second lane so they run on another core. A lane is an async task that
/// borrows a blocking thread only while it hashes one chunk: waiting for a slow client
/// must not pin a blocking-pool thread, or enough concurrent uploads would exhaust the
/// pool that the blob store's own file writes need.
struct HashLanes {
    lanes: Vec<(mpsc::Sender<Bytes>, JoinHandle<Result<ContentDigest>>)>,
}

impl HashLanes {
    fn spawn(md5: bool, algorithms: &[ChecksumAlgorithm]) -> Self {
        let (crcs, shas): (Vec<_>, Vec<_>) = algorithms.iter().partition(|a| a.is_crc());
        let lanes = [
            ContentHasher::new(md5, &crcs),
            ContentHasher::new(false, &shas),
        ]
        .into_iter()
        .filter(|h| !h.is_empty())
        .map(|mut h| {
            let (tx, mut rx) = mpsc::channel::<Bytes>(LANE_DEPTH);
            let done = tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    h = tokio::task::spawn_blocking(move || {
                        h.update(&chunk);
                        h
                    })
                    .await
                    .map_err(|e| Error::internal(format!("hash worker failed: {e}")))?;
                }
                Ok(h.finish())
            });
            (tx, done)
        })
        .collect();
        Self { lanes }
    }

    async fn feed(&self, chunk: &Bytes) -> Result<()> {
        for (tx, _) in &self.lanes {
            tx.send(chunk.clone())
                .await
                .map_err(|_| Error::internal("hash worker stopped"))?;
        }
        Ok(())
    }

    async fn finish(self) -> Result<ContentDigest> {
        let mut out = ContentDigest::default();
        for (tx, done) in self.lanes {
            drop(tx);
            let d = done
                .await
                .map_err(|e| Error::internal(format!("hash worker failed: {e}")))??;
            out.merge(d);
        }
        Ok(out)
    }
}

/// Turns a body stream into chunks of `CHUNK..=MAX_CHUNK` bytes (the last may be
/// shorter), enforcing the size limit and the declared length as bytes arrive.
/// A body that arrives as one small piece is passed through without a copy.
struct Chunker {
    body: ByteStream,
    buf: BytesMut,
    /// First piece of a chunk, not yet copied: it may turn out to be the whole body.
    held: Option<Bytes>,
    pending: Option<Bytes>,
    total: u64,
    /// Bytes returned in chunks so far.
    emitted: u64,
    max: u64,
    declared: Option<u64>,
    ended: bool,
}

impl Chunker {
    fn new(body: ByteStream, max: u64, declared: Option<u64>) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
            held: None,
            pending: None,
            total: 0,
            emitted: 0,
            max,
            declared,
            ended: false,
        }
    }

    fn emit(&mut self, chunk: Bytes) -> Option<Bytes> {
        self.emitted += chunk.len() as u64;
        Some(chunk)
    }

    /// Copies as much of `p` as fits into the current chunk; returns the rest.
    fn append(&mut self, p: Bytes) -> Option<Bytes> {
        let room = CHUNK - self.buf.len();
        let take = p.len().min(room);
        if self.buf.capacity() - self.buf.len() < take {
            // With a declared length, allocate the chunk's final size once; otherwise
            // let the buffer grow geometrically (small undeclared bodies stay small).
            let want = match self.declared {
                Some(d) => (d.saturating_sub(self.emitted) as usize)
                    .min(CHUNK)
                    .saturating_sub(self.buf.len()),
                None => take,
            };
            self.buf.reserve(want.max(take));
        }
        self.buf.extend_from_slice(&p[..take]);
        (take < p.len()).then(|| p.slice(take..))
    }

    async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(mut p) = self.pending.take() {
                if self.buf.is_empty() && self.held.is_none() {
                    if p.len() >= CHUNK {
                        if p.len() > MAX_CHUNK {
                            self.pending = Some(p.split_off(MAX_CHUNK));
                        }
                        return Ok(self.emit(p));
                    }
                    self.held = Some(p);
                } else {
                    if let Some(h) = self.held.take() {
                        // `h` is shorter than CHUNK and the buffer is empty: it fits.
                        self.append(h);
                    }
                    self.pending = self.append(p);
                    if self.buf.len() == CHUNK {
                        let chunk = self.buf.split().freeze();
                        return Ok(self.emit(chunk));
                    }
                }
            }
            if self.ended {
                if let Some(h) = self.held.take() {
                    return Ok(self.emit(h));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let chunk = self.buf.split().freeze();
                return Ok(self.emit(chunk));
            }
            match self.body.next().await {
                None => self.ended = true,
                Some(Err(e)) => return Err(body_error(e)),
                Some(Ok(b)) => {
                    self.total += b.len() as u64;
                    if self.total > self.max {
                        return Err(Error::EntityTooLarge);
                    }
                    if self.declared.is_some_and(|d| self.total > d) {
                        return Err(Error::IncompleteBody);
                    }
                    if !b.is_empty() {
                        self.pending = Some(b);
                    }
                }
            }
        }
    }

    fn check_declared(&self) -> Result<()> {
        match self.declared {
            Some(d) if d != self.total => Err(Error::IncompleteBody),
            _ => Ok(()),
        }
    }
}

/// Maps a body stream error. A `coffer_core::Error` wrapped by the protocol layer is
/// returned as is; transport failures mean the body was cut short; errors that read like
/// a framing or signature problem (aws-chunked decoding) keep their message for the
/// protocol layer to refine.
pub(super) fn body_error(e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
        return inner.clone();
    }
    match e.kind() {
        K::UnexpectedEof
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::TimedOut
        | K::Interrupted => Error::IncompleteBody,
        _ => {
            let msg = e.to_string();
            let lower = msg.to_ascii_lowercase();
            const FRAMING: &[&str] = &[
                "signature",
                "chunk",
                "framing",
                "malformed",
                "decode",
                "trailer",
                "invalid",
            ];
            if FRAMING.iter().any(|w| lower.contains(w)) {
                Error::InvalidArgument(msg)
            } else {
                Error::IncompleteBody
            }
        }
    }
}

/// What to compute and verify for a body's `ChecksumInput`.
pub(super) struct ChecksumPlan {
    compute: Vec<ChecksumAlgorithm>,
    /// Algorithms whose value is stored with the record.
    store: Vec<ChecksumAlgorithm>,
    expected: Option<(ChecksumAlgorithm, Vec<u8>)>,
    trailer: Option<TrailerFn>,
}

fn type_mismatch(expected: ChecksumAlgorithm, actual: ChecksumAlgorithm) -> Error {
    Error::invalid(format!(
        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
        expected.as_str().to_ascii_lowercase(),
        actual.as_str().to_ascii_lowercase()
    ))
}

impl ChecksumPlan {
    /// `required`: the algorithm a multipart upload was created with; every part computes
    /// and stores it, and a part naming another algorithm is rejected.
    pub fn new(input: ChecksumInput, required: Option<ChecksumAlgorithm>) -> Result<Self> {
        let expected = match input.expected {
            Some((a, v)) => Some((a, decode_checksum(a, &v)?)),
            None => None,
        };
        let named = match (input.algorithm, &expected) {
            (Some(a), Some((e, _))) if a != *e => return Err(type_mismatch(a, *e)),
            (a, e) => a.or(e.as_ref().map(|e| e.0)),
        };
        if let (Some(r), Some(n)) = (required, named)
            && r != n
        {
            return Err(type_mismatch(r, n));
        }
        let mut store: Vec<ChecksumAlgorithm> = required.into_iter().chain(named).collect();
        store.dedup();
        let compute = if store.is_empty() && input.trailer.is_some() {
            vec![
                ChecksumAlgorithm::Crc32,
                ChecksumAlgorithm::Crc32c,
                ChecksumAlgorithm::Crc64Nvme,
            ]
        } else {
            store.clone()
        };
        Ok(Self {
            compute,
            store,
            expected,
            trailer: input.trailer,
        })
    }

    pub fn algorithms(&self) -> &[ChecksumAlgorithm] {
        &self.compute
    }

    /// Checks Content-MD5, the header checksum and then the trailer checksum (read only
    /// now: the body has ended). Returns the checksums to store.
    pub fn verify(
        self,
        digest: &ContentDigest,
        content_md5: Option<[u8; 16]>,
    ) -> Result<Checksums> {
        if let Some(m) = content_md5
            && digest.md5 != Some(m)
        {
            return Err(Error::BadDigest);
        }
        if let Some((a, raw)) = &self.expected
            && digest.get(*a) != Some(raw.as_slice())
        {
            return Err(Error::ChecksumMismatch(a.header_name().to_string()));
        }
        let mut store = self.store;
        if let Some(trailer) = self.trailer
            && let Some((a, value)) = trailer()
        {
            if let Some(&s) = store.first()
                && s != a
            {
                return Err(type_mismatch(s, a));
            }
            let raw = decode_checksum(a, &value)?;
            let got = digest.get(a).ok_or_else(|| {
                Error::invalid(format!(
                    "the {} trailer was not announced before the body",
                    a.header_name()
                ))
            })?;
            if got != raw.as_slice() {
                return Err(Error::ChecksumMismatch(a.header_name().to_string()));
            }
            if store.is_empty() {
                store.push(a);
            }
        }
        let mut out = Checksums::default();
        for a in &store {
            let raw = digest
                .get(*a)
                .ok_or_else(|| Error::internal("checksum was not computed"))?;
            set_checksum(&mut out, *a, encode_b64(raw));
        }
        if !store.is_empty() {
            out.checksum_type = Some("FULL_OBJECT".into());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(pieces: Vec<Bytes>) -> ByteStream {
        Box::pin(futures::stream::iter(pieces.into_iter().map(Ok)))
    }

    async fn chunks(pieces: Vec<Bytes>, declared: Option<u64>) -> Vec<Bytes> {
        let mut c = Chunker::new(stream_of(pieces), u64::MAX, declared);
        let mut out = Vec::new();
        while let Some(b) = c.next().await.unwrap() {
            out.push(b);
        }
        c.check_declared().unwrap();
        out
    }

    #[tokio::test]
    async fn chunker_shapes() {
        let data: Bytes = (0..(11 << 20) + 5)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        let n = data.len();
        for piece in [
            1usize << 10,
            64 << 10,
            (1 << 20) - 1,
            1 << 20,
            3 << 20,
            9 << 20,
            n,
        ] {
            let pieces: Vec<Bytes> = (0..n)
                .step_by(piece)
                .map(|i| data.slice(i..(i + piece).min(n)))
                .collect();
            for declared in [None, Some(n as u64)] {
                let out = chunks(pieces.clone(), declared).await;
                let joined: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
                assert_eq!(joined, data, "piece {piece}");
                let (last, rest) = out.split_last().unwrap();
                assert!(!last.is_empty());
                assert!(
                    rest.iter().all(|c| (CHUNK..=MAX_CHUNK).contains(&c.len())),
                    "piece {piece}"
                );
            }
        }
        // A body in one small piece is handed through as is.
        let small = data.slice(0..1000);
        let out = chunks(vec![small.clone()], Some(1000)).await;
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ptr(), small.as_ptr());
        assert!(chunks(vec![], Some(0)).await.is_empty());
        assert!(
            chunks(vec![Bytes::new(), Bytes::new()], None)
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn chunker_limits() {
        let piece = Bytes::from(vec![7u8; 100]);
        let mut c = Chunker::new(stream_of(vec![piece.clone(); 3]), 250, None);
        let mut err = None;
        while err.is_none() {
            match c.next().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => err = Some(e),
            }
        }
        assert_eq!(err, Some(Error::EntityTooLarge));
        let mut c = Chunker::new(stream_of(vec![piece.clone(); 3]), u64::MAX, Some(250));
        assert_eq!(c.next().await.unwrap_err(), Error::IncompleteBody);
        let mut c = Chunker::new(stream_of(vec![piece; 2]), u64::MAX, Some(250));
        while c.next().await.unwrap().is_some() {}
        assert_eq!(c.check_declared(), Err(Error::IncompleteBody));
    }

    #[test]
    fn body_errors() {
        use std::io::{Error as IoError, ErrorKind};
        assert_eq!(
            body_error(ErrorKind::UnexpectedEof.into()),
            Error::IncompleteBody
        );
        assert_eq!(
            body_error(IoError::other("connection closed")),
            Error::IncompleteBody
        );
        assert!(matches!(
            body_error(IoError::other("invalid chunk size line")),
            Error::InvalidArgument(_)
        ));
        assert_eq!(
            body_error(IoError::other(Error::BadDigest)),
            Error::BadDigest
        );
    }
}
