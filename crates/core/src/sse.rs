//! Server-side encryption of object data: SSE-S3 (keys derived from the master key) and
//! SSE-C (keys the client sends with every request and Coffer never stores).
//!
//! **Format.** Encrypted bytes are a sequence of AES-256-GCM blocks: every
//! [`PLAIN_BLOCK`] bytes of plaintext (the last block may be short) become that many
//! bytes of ciphertext followed by a 16-byte tag, so one sealed block is exactly one
//! integrity block of the blob store ([`crate::integrity::BLOCK_SIZE`]) and a ranged read
//! opens only the blocks it covers. The blob store's CRC trailer covers the ciphertext,
//! so `coffer scrub` verifies encrypted blobs without any key.
//!
//! **Keys and nonces.** Each object version has a random 16-byte salt (in its record):
//! * SSE-S3 data key = HMAC-SHA256(HMAC-SHA256(master, `coffer/sse-s3/v1`), salt);
//! * SSE-C data key = HMAC-SHA256(customer key, `coffer/sse-c/v1` ‖ salt); the record
//!   keeps only a verifier, HMAC-SHA256(HMAC-SHA256(master, `coffer/sse-c-verify/v1`),
//!   salt ‖ customer key), so a wrong key is told apart from damage and never decrypts.
//!
//! Each segment (blob) has its own random salt and its own key, HMAC-SHA256(data key,
//! `coffer/sse/segment` ‖ segment salt); inline data uses an empty segment salt (one per
//! version). The nonce of block `i` is `i` (big-endian, 12 bytes). Nonces never repeat
//! under a key: a key seals exactly one segment, whose blocks have distinct indexes, and a
//! rewrite (a re-uploaded part, a copy) draws new salts. A block moved to another index,
//! segment or object fails its tag.

use crate::blob::{BlobWriter, ByteStream};
use crate::error::{Error, Result};
use async_trait::async_trait;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use md5::Digest;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const TAG_LEN: u64 = 16;
/// Plaintext bytes per sealed block: a sealed block fills one integrity block.
pub const PLAIN_BLOCK: u64 = crate::integrity::BLOCK_SIZE - TAG_LEN;
/// Batches larger than this are sealed or opened on a blocking thread (≈ 40 µs of AES-GCM
/// at the ~6 GiB/s ring reaches here).
const INLINE_WORK: usize = 256 * 1024;
const SALT_LEN: usize = 16;

/// The only algorithm SSE-S3 and SSE-C have (`x-amz-server-side-encryption: AES256`).
pub const AES256: &str = "AES256";

/// Stored bytes for `plain` bytes of plaintext.
pub fn sealed_len(plain: u64) -> u64 {
    plain + TAG_LEN * plain.div_ceil(PLAIN_BLOCK)
}

/// How a version's data is encrypted (kept in its record; no key material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode")]
pub enum Encryption {
    /// SSE-S3: `salt` (hex) derives the data key from the master key.
    #[serde(rename = "SSE-S3")]
    Managed { salt: String },
    /// SSE-C: `verifier` (base64) checks a presented key; the data key is derived from it.
    #[serde(rename = "SSE-C")]
    Customer { salt: String, verifier: String },
}

impl Encryption {
    pub fn is_customer(&self) -> bool {
        matches!(self, Encryption::Customer { .. })
    }
}

/// A customer key sent with a request (SSE-C headers, validated). Never stored, logged
/// or echoed; `key_md5` (the client's base64 MD5 of it) is what responses carry.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    pub key_md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("key_md5", &self.key_md5)
            .finish_non_exhaustive()
    }
}

impl Drop for CustomerKey {
    fn drop(&mut self) {
        // Best effort: the key does not outlive the request in this value.
        self.key = [0; 32];
        std::hint::black_box(&self.key);
    }
}

impl CustomerKey {
    /// The three SSE-C headers (algorithm, base64 key, base64 key MD5) of one request
    /// (or the three copy-source ones): `None` when all are absent; any other incomplete
    /// or inconsistent set is `InvalidArgument`, with S3's messages.
    pub fn from_headers(
        algorithm: Option<&str>,
        key: Option<&str>,
        key_md5: Option<&str>,
    ) -> Result<Option<CustomerKey>> {
        if algorithm.is_none() && key.is_none() && key_md5.is_none() {
            return Ok(None);
        }
        let Some(alg) = algorithm else {
            return Err(Error::invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            ));
        };
        if alg != AES256 {
            return Err(Error::invalid(
                "The encryption algorithm specified is not valid. Supported value: AES256.",
            ));
        }
        let Some(key) = key else {
            return Err(Error::invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            ));
        };
        let Some(md5_b64) = key_md5 else {
            return Err(Error::invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
            ));
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw = b64.decode(key.trim()).ok().filter(|k| k.len() == 32);
        let Some(raw) = raw else {
            return Err(Error::invalid(
                "The secret key was invalid for the specified algorithm.",
            ));
        };
        let mut k = [0u8; 32];
        k.copy_from_slice(&raw);
        let want = b64.decode(md5_b64.trim()).unwrap_or_default();
        let got = md5::Md5::digest(k);
        if want.len() != 16 || !bool::from(got.as_slice().ct_eq(&want)) {
            return Err(Error::invalid(
                "The calculated MD5 hash of the key did not match the hash that was provided.",
            ));
        }
        Ok(Some(CustomerKey {
            key: k,
            key_md5: b64.encode(got),
        }))
    }

    #[cfg(test)]
    pub(crate) fn for_test(key: [u8; 32]) -> CustomerKey {
        let b64 = base64::engine::general_purpose::STANDARD;
        CustomerKey {
            key,
            key_md5: b64.encode(md5::Md5::digest(key)),
        }
    }
}

/// The encryption a write asks for.
#[derive(Debug, Clone, Default)]
pub enum SseWrite {
    /// No SSE header: the bucket's default encryption decides.
    #[default]
    Default,
    /// `x-amz-server-side-encryption: AES256`.
    Managed,
    Customer(CustomerKey),
}

/// Keys derived from the master key. One per service.
pub struct Keyring {
    managed: [u8; 32],
    verify: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn new_salt() -> String {
    hex::encode(rand::random::<[u8; SALT_LEN]>())
}

fn salt_bytes(salt: &str) -> Result<Vec<u8>> {
    hex::decode(salt)
        .ok()
        .filter(|s| s.len() == SALT_LEN)
        .ok_or_else(|| Error::internal("malformed encryption salt in a record"))
}

impl Keyring {
    pub fn derive(master_key: &[u8; 32]) -> Self {
        Keyring {
            managed: hmac(master_key, &[b"coffer/sse-s3/v1"]),
            verify: hmac(master_key, &[b"coffer/sse-c-verify/v1"]),
        }
    }

    /// A new version's encryption for what the write asked for (`Default` already
    /// resolved by the caller to `Managed` or nothing), and its data key.
    pub fn seal_new(&self, want: &SseWrite) -> Result<Option<(Encryption, DataKey)>> {
        let salt = new_salt();
        let enc = match want {
            SseWrite::Default => return Ok(None),
            SseWrite::Managed => Encryption::Managed { salt },
            SseWrite::Customer(k) => {
                let s = salt_bytes(&salt)?;
                let verifier = base64::engine::general_purpose::STANDARD
                    .encode(hmac(&self.verify, &[&s, &k.key]));
                Encryption::Customer { salt, verifier }
            }
        };
        let key = self.data_key(&enc, want_key(want))?;
        Ok(Some((enc, key)))
    }

    /// The data key of a stored version. SSE-C needs the customer key: none is
    /// `InvalidRequest` (400, as S3), a key that fails the verifier is `AccessDenied`
    /// (403). A customer key for a version without SSE-C is `InvalidArgument`.
    pub fn data_key(&self, enc: &Encryption, key: Option<&CustomerKey>) -> Result<DataKey> {
        match (enc, key) {
            (Encryption::Managed { .. }, Some(_)) => Err(not_applicable()),
            (Encryption::Managed { salt }, None) => {
                Ok(DataKey(hmac(&self.managed, &[&salt_bytes(salt)?])))
            }
            (Encryption::Customer { .. }, None) => Err(Error::FailedPrecondition(
                "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.".into(),
            )),
            (Encryption::Customer { salt, verifier }, Some(k)) => {
                let s = salt_bytes(salt)?;
                let want = base64::engine::general_purpose::STANDARD
                    .decode(verifier)
                    .map_err(|_| Error::internal("malformed SSE-C verifier in a record"))?;
                let got = hmac(&self.verify, &[&s, &k.key]);
                if !bool::from(got.as_slice().ct_eq(&want)) {
                    return Err(Error::PermissionDenied(
                        "The SSE-C key provided does not match the key the object was encrypted with.".into(),
                    ));
                }
                Ok(DataKey(hmac(&k.key, &[b"coffer/sse-c/v1", &s])))
            }
        }
    }
}

fn want_key(w: &SseWrite) -> Option<&CustomerKey> {
    match w {
        SseWrite::Customer(k) => Some(k),
        _ => None,
    }
}

/// SSE-C headers on a request for data that is not SSE-C encrypted.
pub fn not_applicable() -> Error {
    Error::invalid("The encryption parameters are not applicable to this object.")
}

/// A version's data key (never stored).
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey")
    }
}

impl DataKey {
    /// The cipher of one segment (`salt`: the segment's, hex; `None`: inline data).
    pub fn segment(&self, salt: Option<&str>) -> Result<Arc<BlockCipher>> {
        let s = match salt {
            Some(s) => salt_bytes(s)?,
            None => Vec::new(),
        };
        let k = hmac(&self.0, &[b"coffer/sse/segment", &s]);
        let key = UnboundKey::new(&AES_256_GCM, &k)
            .map_err(|_| Error::internal("AES-256-GCM key setup failed"))?;
        Ok(Arc::new(BlockCipher(LessSafeKey::new(key))))
    }

    /// A fresh segment salt and its cipher, for a new blob.
    pub fn new_segment(&self) -> Result<(String, Arc<BlockCipher>)> {
        let salt = new_salt();
        let c = self.segment(Some(&salt))?;
        Ok((salt, c))
    }

    /// An SSE-C version's ETag: an HMAC of the plaintext MD5 under the data key, so the
    /// ETag (visible to listers without the key) does not reveal the content's MD5, as
    /// on S3, while staying stable for the version.
    pub fn masked_md5(&self, md5: &[u8; 16]) -> [u8; 16] {
        let h = hmac(&self.0, &[b"coffer/sse-c/etag", md5]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h[..16]);
        out
    }
}

/// AES-256-GCM over fixed blocks of one segment (ring: the nonce uniqueness `LessSafeKey`
/// leaves to the caller is the module's invariant, one key per segment, nonce = index).
pub struct BlockCipher(LessSafeKey);

fn nonce(index: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

impl BlockCipher {
    /// Seals `plain` (whole blocks, the last one possibly short) starting at block
    /// `first`; returns ciphertext with a tag after each block.
    pub fn seal(&self, first: u64, plain: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(sealed_len(plain.len() as u64) as usize);
        for (i, block) in plain.chunks(PLAIN_BLOCK as usize).enumerate() {
            let start = out.len();
            out.extend_from_slice(block);
            let tag = self
                .0
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce(first + i as u64)),
                    Aad::empty(),
                    &mut out[start..],
                )
                .map_err(|_| Error::internal("block encryption failed"))?;
            out.extend_from_slice(tag.as_ref());
        }
        Ok(out)
    }

    /// Opens sealed blocks starting at block `first`. A failed tag is damage
    /// (`Corrupted`): the right key was checked before any block is opened.
    pub fn open(&self, first: u64, sealed: &[u8]) -> Result<Vec<u8>> {
        let cb = (PLAIN_BLOCK + TAG_LEN) as usize;
        let mut out = Vec::with_capacity(sealed.len());
        for (i, block) in sealed.chunks(cb).enumerate() {
            if block.len() <= TAG_LEN as usize {
                return Err(Error::Corrupted("sealed block shorter than its tag".into()));
            }
            let start = out.len();
            out.extend_from_slice(block);
            let index = first + i as u64;
            let plain = self
                .0
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce(index)),
                    Aad::empty(),
                    &mut out[start..],
                )
                .map_err(|_| Error::Corrupted(format!("encrypted block {index} failed its tag")))?
                .len();
            out.truncate(start + plain);
        }
        Ok(out)
    }
}

async fn off_thread<T: Send + 'static>(
    len: usize,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    if len <= INLINE_WORK {
        return f();
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("cipher task: {e}")))?
}

/// Cuts bytes fed in arbitrary pieces into runs of whole `block`-byte blocks: runs are
/// slices of the pieces (no copy); only bytes that straddle a block boundary are copied.
/// Sealing (plaintext blocks) and opening (sealed blocks) both cut their input with it.
struct Reblock {
    block: usize,
    partial: BytesMut,
}

impl Reblock {
    fn new(block: u64) -> Self {
        Reblock {
            block: block as usize,
            partial: BytesMut::new(),
        }
    }

    /// The runs of whole blocks `piece` completes, in order (at most two: the block the
    /// piece finished, then the piece's own whole blocks).
    fn feed(&mut self, mut piece: Bytes) -> impl Iterator<Item = Bytes> + use<> {
        let mut finished = None;
        if !self.partial.is_empty() {
            let take = (self.block - self.partial.len()).min(piece.len());
            self.partial.extend_from_slice(&piece.split_to(take));
            if self.partial.len() == self.block {
                finished = Some(std::mem::take(&mut self.partial).freeze());
            }
        }
        // A partial block left unfinished consumed the whole piece.
        let whole = piece.len() / self.block * self.block;
        let run = (whole > 0).then(|| piece.split_to(whole));
        self.partial.extend_from_slice(&piece);
        finished.into_iter().chain(run)
    }

    /// The short last block, if the input did not end on a boundary.
    fn finish(&mut self) -> Option<Bytes> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial).freeze())
    }
}

/// A blob writer that seals what it is given into whole blocks before the inner
/// writer sees it.
pub struct SealingWriter {
    inner: Box<dyn BlobWriter>,
    cipher: Arc<BlockCipher>,
    pending: Reblock,
    next_block: u64,
}

impl SealingWriter {
    pub fn new(inner: Box<dyn BlobWriter>, cipher: Arc<BlockCipher>) -> Self {
        SealingWriter {
            inner,
            cipher,
            pending: Reblock::new(PLAIN_BLOCK),
            next_block: 0,
        }
    }

    async fn seal_out(&mut self, plain: Bytes) -> Result<()> {
        let blocks = (plain.len() as u64).div_ceil(PLAIN_BLOCK);
        let (cipher, first) = (self.cipher.clone(), self.next_block);
        let sealed = off_thread(plain.len(), move || cipher.seal(first, &plain)).await?;
        self.next_block += blocks;
        self.inner.write(Bytes::from(sealed)).await
    }
}

#[async_trait]
impl BlobWriter for SealingWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        for run in self.pending.feed(chunk) {
            self.seal_out(run).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<String> {
        if let Some(rest) = self.pending.finish() {
            self.seal_out(rest).await?;
        }
        self.inner.commit().await
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await
    }
}

/// Where `len` plaintext bytes from `offset` of a sealed segment live: (offset, length)
/// in the stored bytes, the first block's index and the plaintext bytes to skip in it.
pub fn sealed_span(offset: u64, len: u64, plain_size: u64) -> (u64, u64, u64, u64) {
    let cb = PLAIN_BLOCK + TAG_LEN;
    let first = offset / PLAIN_BLOCK;
    let last = (offset + len).div_ceil(PLAIN_BLOCK);
    let from = first * cb;
    let to = (last * cb).min(sealed_len(plain_size));
    (from, to - from, first, offset - first * PLAIN_BLOCK)
}

/// Opens a stream of sealed blocks (starting at block `first`) and yields the `len`
/// plaintext bytes after the first `skip`.
pub fn open_stream(
    sealed: ByteStream,
    cipher: Arc<BlockCipher>,
    first: u64,
    skip: u64,
    len: u64,
) -> ByteStream {
    struct St {
        input: ByteStream,
        cipher: Arc<BlockCipher>,
        blocks: Reblock,
        /// Runs of whole sealed blocks (the last may be short) not opened yet.
        ready: std::collections::VecDeque<Bytes>,
        next: u64,
        skip: u64,
        left: u64,
        ended: bool,
    }
    let cb = PLAIN_BLOCK + TAG_LEN;
    let st = St {
        input: sealed,
        cipher,
        blocks: Reblock::new(cb),
        ready: Default::default(),
        next: first,
        skip,
        left: len,
        ended: false,
    };
    Box::pin(futures::stream::unfold(st, move |mut st| async move {
        loop {
            if st.left == 0 {
                return None;
            }
            if let Some(sealed) = st.ready.pop_front() {
                let ready = sealed.len();
                let (cipher, first) = (st.cipher.clone(), st.next);
                st.next += (ready as u64).div_ceil(cb);
                let plain = off_thread(ready, move || cipher.open(first, &sealed)).await;
                let mut plain = match plain {
                    Ok(p) => Bytes::from(p),
                    Err(e) => {
                        st.left = 0;
                        return Some((Err(std::io::Error::other(e)), st));
                    }
                };
                let skip = (st.skip as usize).min(plain.len());
                st.skip -= skip as u64;
                let _ = plain.split_to(skip);
                let n = (st.left as usize).min(plain.len());
                st.left -= n as u64;
                plain.truncate(n);
                if plain.is_empty() {
                    continue;
                }
                return Some((Ok(plain), st));
            }
            if st.ended {
                if let Some(tail) = st.blocks.finish() {
                    st.ready.push_back(tail);
                    continue;
                }
                st.left = 0;
                let e = Error::Corrupted("sealed data shorter than its record".into());
                return Some((Err(std::io::Error::other(e)), st));
            }
            match st.input.next().await {
                Some(Ok(b)) => st.ready.extend(st.blocks.feed(b)),
                Some(Err(e)) => {
                    st.left = 0;
                    return Some((Err(e), st));
                }
                None => st.ended = true,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn ring() -> Keyring {
        Keyring::derive(&[7; 32])
    }

    #[test]
    fn reblock_cuts_whole_blocks_and_keeps_the_tail() {
        let data: Vec<u8> = (0..100u8).collect();
        for piece in [1, 3, 7, 10, 33, 100] {
            let mut r = Reblock::new(10);
            let mut runs = Vec::new();
            for p in data.chunks(piece) {
                runs.extend(r.feed(Bytes::copy_from_slice(p)));
            }
            assert!(
                runs.iter()
                    .all(|run| run.len() % 10 == 0 && !run.is_empty())
            );
            assert_eq!(runs.concat(), data, "pieces of {piece}");
            assert!(r.finish().is_none());
        }
        let mut r = Reblock::new(10);
        let runs: Vec<Bytes> = r.feed(Bytes::from_static(&[1; 25])).collect();
        assert_eq!(runs.iter().map(Bytes::len).collect::<Vec<_>>(), [20]);
        let runs: Vec<Bytes> = r.feed(Bytes::from_static(&[2; 7])).collect();
        assert_eq!(runs.iter().map(Bytes::len).collect::<Vec<_>>(), [10]);
        assert_eq!(r.finish().map(|b| b.len()), Some(2));
        assert!(r.finish().is_none());
    }

    #[test]
    fn sizes_and_spans() {
        assert_eq!(sealed_len(0), 0);
        assert_eq!(sealed_len(1), 17);
        assert_eq!(sealed_len(PLAIN_BLOCK), crate::integrity::BLOCK_SIZE);
        assert_eq!(
            sealed_len(PLAIN_BLOCK + 1),
            crate::integrity::BLOCK_SIZE + 17
        );
        let size = 3 * PLAIN_BLOCK + 10;
        // A range inside the second block.
        assert_eq!(
            sealed_span(PLAIN_BLOCK + 5, 10, size),
            (
                crate::integrity::BLOCK_SIZE,
                crate::integrity::BLOCK_SIZE,
                1,
                5
            )
        );
        // The tail of the last (short) block.
        let (from, n, first, skip) = sealed_span(size - 3, 3, size);
        assert_eq!(
            (from, first, skip),
            (3 * crate::integrity::BLOCK_SIZE, 3, 7)
        );
        assert_eq!(from + n, sealed_len(size));
    }

    #[test]
    fn header_validation() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = [3u8; 32];
        let k = b64.encode(key);
        let m = b64.encode(md5::Md5::digest(key));
        assert!(
            CustomerKey::from_headers(None, None, None)
                .unwrap()
                .is_none()
        );
        let ok = CustomerKey::from_headers(Some("AES256"), Some(&k), Some(&m)).unwrap();
        assert_eq!(ok.unwrap().key_md5, m);
        for (a, kk, mm) in [
            (None, Some(k.as_str()), Some(m.as_str())),
            (Some("AES128"), Some(&k), Some(&m)),
            (Some("AES256"), None, Some(&m)),
            (Some("AES256"), Some(&k), None),
            (Some("AES256"), Some("c2hvcnQ="), Some(&m)),
            (Some("AES256"), Some("%%%"), Some(&m)),
            (Some("AES256"), Some(&k), Some("AAAAAAAAAAAAAAAAAAAAAA==")),
            (Some("AES256"), Some(&k), Some("")),
        ] {
            let e = CustomerKey::from_headers(a, kk, mm).unwrap_err();
            assert!(
                matches!(e, Error::InvalidArgument(_)),
                "{a:?} {kk:?} {mm:?}"
            );
        }
    }

    #[test]
    fn keys_verify_and_differ() {
        let r = ring();
        let a = CustomerKey::for_test([1; 32]);
        let b = CustomerKey::for_test([2; 32]);
        let (enc, key) = r.seal_new(&SseWrite::Customer(a.clone())).unwrap().unwrap();
        assert!(enc.is_customer());
        let again = r.data_key(&enc, Some(&a)).unwrap();
        assert_eq!(again.0, key.0);
        assert!(matches!(
            r.data_key(&enc, Some(&b)),
            Err(Error::PermissionDenied(_))
        ));
        assert!(matches!(
            r.data_key(&enc, None),
            Err(Error::FailedPrecondition(_))
        ));
        let (m, mk) = r.seal_new(&SseWrite::Managed).unwrap().unwrap();
        assert!(matches!(
            r.data_key(&m, Some(&a)),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(r.data_key(&m, None).unwrap().0, mk.0);
        // Another master key derives another SSE-S3 key and refuses the SSE-C verifier.
        let other = Keyring::derive(&[8; 32]);
        assert_ne!(other.data_key(&m, None).unwrap().0, mk.0);
        assert!(other.data_key(&enc, Some(&a)).is_err());
        assert!(r.seal_new(&SseWrite::Default).unwrap().is_none());
    }

    #[test]
    fn blocks_round_trip_and_bind_their_index() {
        let (_, key) = ring().seal_new(&SseWrite::Managed).unwrap().unwrap();
        let (_, c) = key.new_segment().unwrap();
        let plain: Vec<u8> = (0..(2 * PLAIN_BLOCK + 100)).map(|i| i as u8).collect();
        let sealed = c.seal(0, &plain).unwrap();
        assert_eq!(sealed.len() as u64, sealed_len(plain.len() as u64));
        assert_ne!(&sealed[..100], &plain[..100]);
        assert_eq!(c.open(0, &sealed).unwrap(), plain);
        // Block 1 opened as block 0, a flipped bit, another segment's key: damage.
        let cb = (PLAIN_BLOCK + TAG_LEN) as usize;
        assert!(matches!(
            c.open(0, &sealed[cb..2 * cb]),
            Err(Error::Corrupted(_))
        ));
        let mut bad = sealed.clone();
        bad[5] ^= 1;
        assert!(matches!(c.open(0, &bad), Err(Error::Corrupted(_))));
        let (_, c2) = key.new_segment().unwrap();
        assert!(c2.open(0, &sealed).is_err());
    }

    #[tokio::test]
    async fn stream_opens_any_range() {
        let (_, key) = ring().seal_new(&SseWrite::Managed).unwrap().unwrap();
        let (_, c) = key.new_segment().unwrap();
        let size = 3 * PLAIN_BLOCK + 777;
        let plain: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let sealed = Bytes::from(c.seal(0, &plain).unwrap());
        for (off, len) in [
            (0, size),
            (0, 1),
            (PLAIN_BLOCK - 1, 2),
            (PLAIN_BLOCK, PLAIN_BLOCK),
            (size - 1, 1),
            (5, size - 5),
        ] {
            let (from, n, first, skip) = sealed_span(off, len, size);
            // Fed in odd pieces, as a blob store streams.
            let part = sealed.slice(from as usize..(from + n) as usize);
            let pieces: Vec<std::io::Result<Bytes>> = part
                .chunks(10_007)
                .map(|p| Ok(Bytes::copy_from_slice(p)))
                .collect();
            let s: ByteStream = Box::pin(futures::stream::iter(pieces));
            let got: Vec<Bytes> = open_stream(s, c.clone(), first, skip, len)
                .try_collect()
                .await
                .unwrap();
            assert_eq!(got.concat(), &plain[off as usize..(off + len) as usize]);
        }
        // A stream that ends early is damage, not a short answer.
        let short: ByteStream = Box::pin(futures::stream::iter(vec![Ok(sealed.slice(0..100))]));
        let r: std::result::Result<Vec<Bytes>, _> = open_stream(short, c.clone(), 0, 0, size)
            .try_collect()
            .await;
        assert!(r.is_err());
    }
}
