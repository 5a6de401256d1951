//! `BlobStore`: immutable byte files addressed by id. A blob becomes durable in
//! `BlobWriter::commit` (data fsync → rename into place → directory fsync); only then
//! may metadata reference it.

use crate::error::{Error, Result};
use async_trait::async_trait;
use bytes::Bytes;
use std::pin::Pin;

pub type ByteStream =
    Pin<Box<dyn futures_core::Stream<Item = std::io::Result<Bytes>> + Send + 'static>>;

#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    /// Makes the blob durable and returns its id.
    async fn commit(self: Box<Self>) -> Result<String>;
    /// Discards the temp file.
    async fn abort(self: Box<Self>);
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn create(&self) -> Result<Box<dyn BlobWriter>>;
    /// Streams `len` bytes from `offset`. A store that keeps integrity records verifies
    /// every block before yielding its bytes: a failed check is `Error::Corrupted` (from
    /// the call, or as the stream's error wrapping it), never wrong bytes.
    async fn read(&self, blob_id: &str, offset: u64, len: u64) -> Result<ByteStream>;
    /// Reads the whole blob, which should hold `size` data bytes, and checks it against
    /// its integrity record (`coffer scrub`). Stores without records report `Unverified`
    /// once the bytes were readable.
    async fn verify(&self, blob_id: &str, size: u64) -> Result<crate::integrity::Check> {
        use futures::TryStreamExt;
        let mut s = match self.read(blob_id, 0, size).await {
            Ok(s) => s,
            Err(Error::NotFound(_)) => return Ok(crate::integrity::Check::Missing),
            Err(e) => return Err(e),
        };
        while s.try_next().await?.is_some() {}
        Ok(crate::integrity::Check::Unverified)
    }
    /// Deleting an absent blob is not an error.
    async fn delete(&self, blob_id: &str) -> Result<()>;
    /// Admission check before a write of about `incoming` bytes (0 if unknown): fails
    /// with `InsufficientStorage` when the write would eat into the space the store keeps
    /// free for deletes and metadata, so a full disk never blocks freeing space.
    /// Best-effort (concurrent writes may still meet ENOSPC, which maps to the same
    /// error); stores without a notion of free space accept everything.
    async fn check_space(&self, _incoming: u64) -> Result<()> {
        Ok(())
    }
    /// Start-up recovery: removes leftover temp files and committed blobs that are not in
    /// `referenced` and are older than `min_age` (in-flight writes are younger).
    /// Returns (temp files removed, orphan blobs removed).
    async fn recover(
        &self,
        referenced: &std::collections::HashSet<String>,
        min_age: std::time::Duration,
    ) -> Result<(u64, u64)>;
}
