//! The blob store of the `ObjectService` tests: the real `FsBlobStore` in a temporary
//! directory, behind a forwarding wrapper that records what the tests observe (writers
//! neither committed nor aborted, reads, the size of every write) and injects the two
//! faults `FsBlobStore` cannot be made to produce on demand: a failing write (a full
//! disk) and a slow commit (a slow fsync). Committed blobs are counted on disk.

use async_trait::async_trait;
use bytes::Bytes;
use coffer_core::blob::{BlobStore, BlobWriter, ByteStream};
use coffer_core::error::{Error, Result};
use coffer_core::integrity::Check;
use coffer_store::FsBlobStore;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Inner {
    fs: FsBlobStore,
    root: PathBuf,
    /// Writers created and neither committed nor aborted (a dropped writer stays open).
    pub open: AtomicUsize,
    /// Calls of `read`.
    pub reads: AtomicUsize,
    /// While set, every `write` fails with `InsufficientStorage`.
    pub fail_writes: AtomicBool,
    /// Sizes of every `write` call, to observe chunking.
    pub write_sizes: Mutex<Vec<usize>>,
    /// Milliseconds each `commit` waits before committing.
    pub commit_delay_ms: AtomicUsize,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
pub struct Blobs(pub Arc<Inner>);

impl Blobs {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        Self(Arc::new(Inner {
            fs: FsBlobStore::open(&root).unwrap(),
            root,
            open: AtomicUsize::new(0),
            reads: AtomicUsize::new(0),
            fail_writes: AtomicBool::new(false),
            write_sizes: Mutex::new(Vec::new()),
            commit_delay_ms: AtomicUsize::new(0),
            _dir: dir,
        }))
    }
    /// Committed blobs on disk.
    pub fn count(&self) -> usize {
        self.ids().len()
    }
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }
    pub fn reads(&self) -> usize {
        self.0.reads.load(Ordering::SeqCst)
    }
    /// Ids of the committed blobs on disk (`root/ab/cd/<id>`; `tmp/` holds writes in
    /// progress).
    pub fn ids(&self) -> HashSet<String> {
        fn names(dir: &Path) -> Vec<(String, PathBuf)> {
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.file_name().into_string().unwrap(), e.path())
                })
                .collect()
        }
        let mut out = HashSet::new();
        for (name, ab) in names(&self.0.root) {
            if name == "tmp" {
                continue;
            }
            for (_, cd) in names(&ab) {
                out.extend(names(&cd).into_iter().map(|(id, _)| id));
            }
        }
        out
    }
    /// Removes a committed blob behind the store's back (lost or damaged storage).
    pub fn lose(&self, id: &str) {
        let path = self.0.root.join(&id[..2]).join(&id[2..4]).join(id);
        std::fs::remove_file(path).unwrap();
    }
}

struct Writer {
    inner: Arc<Inner>,
    w: Box<dyn BlobWriter>,
}

#[async_trait]
impl BlobWriter for Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if self.inner.fail_writes.load(Ordering::SeqCst) {
            return Err(Error::InsufficientStorage("injected".into()));
        }
        self.inner.write_sizes.lock().push(chunk.len());
        self.w.write(chunk).await
    }
    async fn commit(self: Box<Self>) -> Result<String> {
        let delay = self.inner.commit_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay as u64)).await;
        }
        let r = self.w.commit().await;
        self.inner.open.fetch_sub(1, Ordering::SeqCst);
        r
    }
    async fn abort(self: Box<Self>) {
        self.inner.open.fetch_sub(1, Ordering::SeqCst);
        self.w.abort().await;
    }
}

#[async_trait]
impl BlobStore for Blobs {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        let w = self.0.fs.create().await?;
        self.0.open.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(Writer {
            inner: self.0.clone(),
            w,
        }))
    }
    async fn read(&self, blob_id: &str, offset: u64, len: u64) -> Result<ByteStream> {
        self.0.reads.fetch_add(1, Ordering::SeqCst);
        self.0.fs.read(blob_id, offset, len).await
    }
    async fn verify(&self, blob_id: &str, size: u64) -> Result<Check> {
        self.0.fs.verify(blob_id, size).await
    }
    async fn delete(&self, blob_id: &str) -> Result<()> {
        self.0.fs.delete(blob_id).await
    }
    async fn check_space(&self, incoming: u64) -> Result<()> {
        self.0.fs.check_space(incoming).await
    }
    async fn recover(
        &self,
        referenced: &HashSet<String>,
        grace: std::time::Duration,
    ) -> Result<(u64, u64)> {
        self.0.fs.recover(referenced, grace).await
    }
}
