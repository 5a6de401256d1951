//! `FsBlobStore`: blobs as files under a data directory — committed blobs at
//! `root/ab/cd/<id>` (id = 32 lowercase hex chars, `ab`/`cd` its first four), writes in
//! progress at `root/tmp/<id>.tmp` — or, on a directory shared by several nodes
//! (`open_shared`), at `root/tmp/<node>/<id>.tmp`, so no node mistakes another's write
//! in progress for its own leftover. Owns the durable commit sequence (data fsync → rename
//! → directory fsync), ranged streaming reads, and the start-up orphan sweep.
//!
//! Invariants:
//! * A file at `root/ab/cd/<id>` is complete and durable: it appears there only by rename
//!   after its data was fsynced, and `commit` returns only after the rename is durable
//!   (destination directory fsynced, and every fan-out directory's entry in its parent
//!   fsynced before first use in this process).
//! * A writer that is aborted or dropped without `commit` leaves no file under `ab/cd`;
//!   its temp file is removed (best-effort on drop; `recover` removes any leftover).
//! * A write is admitted (`check_space`) only while the filesystem keeps at least
//!   `reserve_for(size)` bytes free after it: a disk filled by PUTs still has room for
//!   the metadata commits of DELETEs, which free space (see docs/reliability.md).
//! * All blocking file I/O runs on the blocking pool, one task per ≥ 1 MiB batch, so a
//!   slow client never pins a thread between chunks. The writer never hashes: hashing is
//!   the caller's, pipelined on its own task.

use async_trait::async_trait;
use bytes::Bytes;
use coffer_core::blob::{BlobStore, BlobWriter, ByteStream};
use coffer_core::{Error, Result, crash};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinHandle;

/// Bytes gathered before one `writev` on the blocking pool.
const WRITE_BATCH: usize = 1 << 20;
/// Flush written data to disk every this many bytes while a blob is being written.
const SYNC_EVERY: usize = 8 << 20;
/// Size of each chunk a read stream yields; reads up to this size are done in one go.
const READ_CHUNK: u64 = 1 << 20;
const TMP_DIR: &str = "tmp";
/// How long a free-space reading is trusted; writes admitted meanwhile are subtracted.
const SPACE_TTL: Duration = Duration::from_millis(100);

/// Free space refused to new data, kept for deletes, metadata and the audit spool: 1/64
/// of the filesystem, at least 1 MiB and at most 64 MiB.
fn reserve_for(fs_size: u64) -> u64 {
    (fs_size / 64).clamp(1 << 20, 64 << 20)
}

/// The last free-space reading of the blob filesystem.
#[derive(Default)]
struct Space {
    read_at: Option<Instant>,
    /// Bytes available to us, minus the writes admitted since `read_at`.
    free: u64,
    reserve: u64,
}

fn is_blob_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_fanout_name(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn join_err(e: tokio::task::JoinError) -> Error {
    Error::internal(format!("blob i/o task failed: {e}"))
}

struct Inner {
    root: PathBuf,
    /// This node's temp directory: `root/tmp`, or `root/tmp/<node>` on a shared directory.
    tmp: PathBuf,
    /// Shared directory: held lock on `root/tmp/<node>.lock`, so one process per node id
    /// writes into `tmp`.
    node_lock: Option<File>,
    /// Fan-out directories (`ab` and `ab/cd`, relative) known to exist durably.
    durable_dirs: Mutex<HashSet<String>>,
    space: Mutex<Space>,
}

impl Inner {
    fn blob_path(&self, id: &str) -> PathBuf {
        self.root.join(&id[0..2]).join(&id[2..4]).join(id)
    }

    /// Creates `rel` under root if needed and makes its entry in the parent durable.
    fn ensure_dir(&self, rel: &str) -> io::Result<()> {
        if self.durable_dirs.lock().contains(rel) {
            return Ok(());
        }
        let dir = self.root.join(rel);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        // Even when it already existed, another writer may have created it a moment ago
        // and not yet fsynced the parent: fsync once per directory per process.
        fsync_dir(dir.parent().unwrap_or(&self.root))?;
        self.durable_dirs.lock().insert(rel.to_string());
        Ok(())
    }

    /// Blocking commit tail: data fsync → fan-out dirs → rename → directory fsync.
    fn finish(&self, mut file: File, bufs: Vec<Bytes>, tmp: &Path, id: &str) -> io::Result<()> {
        write_all_bufs(&mut file, &bufs)?;
        crash::point("blob.before_fsync");
        file.sync_all()?;
        drop(file);
        crash::point("blob.after_fsync");
        let (l1, l2) = (&id[0..2], format!("{}/{}", &id[0..2], &id[2..4]));
        self.ensure_dir(l1)?;
        self.ensure_dir(&l2)?;
        let dest = self.blob_path(id);
        fs::rename(tmp, &dest)?;
        fsync_dir(&self.root.join(&l2))?;
        crash::point("blob.after_rename");
        Ok(())
    }
}

/// Filesystem `BlobStore`. Works on any POSIX filesystem with atomic rename and honest
/// fsync, including a directory shared by several nodes.
#[derive(Clone)]
pub struct FsBlobStore {
    inner: Arc<Inner>,
}

impl FsBlobStore {
    /// Opens (creating if needed) the blob directory `root` and its `tmp/`, for one node.
    pub fn open(root: &Path) -> Result<Self> {
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp)?;
        Ok(Self {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                tmp,
                node_lock: None,
                durable_dirs: Mutex::new(HashSet::new()),
                space: Mutex::new(Space::default()),
            }),
        })
    }

    /// Opens a blob directory shared by several nodes as node `node_id` (letters, digits,
    /// `-`, `_`). This node writes its temp files under `tmp/<node_id>/` only, and holds an
    /// exclusive lock on `tmp/<node_id>.lock` while open: a second process with the same
    /// node id is refused, so `recover` may treat every file under its own temp
    /// directory as a leftover.
    pub fn open_shared(root: &Path, node_id: &str) -> Result<Self> {
        if node_id.is_empty()
            || !node_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::invalid(format!("node id {node_id:?} is not valid")));
        }
        let tmp_root = root.join(TMP_DIR);
        let tmp = tmp_root.join(node_id);
        fs::create_dir_all(&tmp)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(tmp_root.join(format!("{node_id}.lock")))?;
        if lock.try_lock().is_err() {
            return Err(Error::FailedPrecondition(format!(
                "node id {node_id} is in use by another process on the blob directory {}",
                root.display()
            )));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                tmp,
                node_lock: Some(lock),
                durable_dirs: Mutex::new(HashSet::new()),
                space: Mutex::new(Space::default()),
            }),
        })
    }

    fn check_id(id: &str) -> Result<()> {
        if is_blob_id(id) {
            Ok(())
        } else {
            Err(Error::internal(format!("malformed blob id {id:?}")))
        }
    }
}

/// `write_all` over several buffers with `writev`.
fn write_all_bufs(f: &mut File, bufs: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = bufs
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| IoSlice::new(b))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match f.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads exactly `n` bytes at the file's cursor, without zero-filling the buffer first.
fn read_exact_bytes(file: &File, n: u64) -> io::Result<Bytes> {
    let mut v = Vec::with_capacity(n as usize);
    let got = file.take(n).read_to_end(&mut v)?;
    if (got as u64) < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob is shorter than its recorded size",
        ));
    }
    Ok(Bytes::from(v))
}

struct FsBlobWriter {
    inner: Arc<Inner>,
    id: String,
    tmp_path: PathBuf,
    /// The temp file while no batch is in flight.
    file: Option<File>,
    /// The batch being written; gives the file back when done.
    inflight: Option<JoinHandle<io::Result<File>>>,
    pending: Vec<Bytes>,
    pending_len: usize,
    /// Bytes written since the last `fdatasync`.
    unsynced: usize,
    /// Committed or aborted: nothing left for `Drop` to clean.
    done: bool,
}

impl FsBlobWriter {
    /// Waits for the batch in flight and takes the file back.
    async fn take_file(&mut self) -> Result<File> {
        if let Some(h) = self.inflight.take() {
            return Ok(h.await.map_err(join_err)??);
        }
        self.file
            .take()
            .ok_or_else(|| Error::internal("blob writer used after a failed write"))
    }
}

#[async_trait]
impl BlobWriter for FsBlobWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= WRITE_BATCH {
            // At most one batch in flight: the next one accumulates while this one is written.
            let mut file = self.take_file().await?;
            let bufs = std::mem::take(&mut self.pending);
            self.unsynced += self.pending_len;
            self.pending_len = 0;
            // Flushing progressively keeps the final fsync in `commit` short: it then
            // waits for at most SYNC_EVERY bytes instead of the whole object, and the
            // earlier flushes overlap with hashing and receiving the rest of the body.
            let sync = self.unsynced >= SYNC_EVERY;
            if sync {
                self.unsynced = 0;
            }
            self.inflight = Some(tokio::task::spawn_blocking(move || {
                write_all_bufs(&mut file, &bufs)?;
                if sync {
                    file.sync_data()?;
                }
                Ok(file)
            }));
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<String> {
        let file = self.take_file().await?;
        let bufs = std::mem::take(&mut self.pending);
        let (inner, tmp, id) = (self.inner.clone(), self.tmp_path.clone(), self.id.clone());
        let res = tokio::task::spawn_blocking(move || {
            let r = inner.finish(file, bufs, &tmp, &id);
            if r.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            r
        })
        .await
        .map_err(join_err)?;
        self.done = true;
        res?;
        Ok(std::mem::take(&mut self.id))
    }

    async fn abort(mut self: Box<Self>) {
        let _ = self.take_file().await;
        let tmp = self.tmp_path.clone();
        let _ = tokio::task::spawn_blocking(move || fs::remove_file(tmp)).await;
        self.done = true;
    }
}

impl Drop for FsBlobWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped without commit or abort: remove the temp file. A batch still in flight
        // writes to the unlinked file and then closes it; nothing becomes visible.
        let tmp = std::mem::take(&mut self.tmp_path);
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn_blocking(move || fs::remove_file(tmp));
            }
            Err(_) => {
                let _ = fs::remove_file(tmp);
            }
        }
    }
}

/// A large read: one chunk read ahead on the blocking pool while the previous is consumed.
struct ReadAhead {
    remaining: u64,
    next: Option<JoinHandle<io::Result<(File, Bytes)>>>,
}

fn spawn_read(file: File, n: u64) -> JoinHandle<io::Result<(File, Bytes)>> {
    tokio::task::spawn_blocking(move || {
        let b = read_exact_bytes(&file, n)?;
        Ok((file, b))
    })
}

impl ReadAhead {
    fn start(file: File, len: u64) -> Self {
        let first = len.min(READ_CHUNK);
        Self {
            remaining: len - first,
            next: Some(spawn_read(file, first)),
        }
    }

    async fn step(mut self) -> Option<(io::Result<Bytes>, Self)> {
        let h = self.next.take()?;
        let (file, bytes) = match h.await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Some((Err(e), self)),
            Err(e) => return Some((Err(io::Error::other(e)), self)),
        };
        if self.remaining > 0 {
            let n = self.remaining.min(READ_CHUNK);
            self.remaining -= n;
            self.next = Some(spawn_read(file, n));
        }
        Some((Ok(bytes), self))
    }
}

enum Opened {
    Small(Bytes),
    Large(File),
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        let id = coffer_core::ids::new_hex_id();
        let tmp_path = self.inner.tmp.join(format!("{id}.tmp"));
        let p = tmp_path.clone();
        let file = tokio::task::spawn_blocking(move || {
            OpenOptions::new().write(true).create_new(true).open(p)
        })
        .await
        .map_err(join_err)??;
        Ok(Box::new(FsBlobWriter {
            inner: self.inner.clone(),
            id,
            tmp_path,
            file: Some(file),
            inflight: None,
            pending: Vec::new(),
            pending_len: 0,
            unsynced: 0,
            done: false,
        }))
    }

    async fn read(&self, blob_id: &str, offset: u64, len: u64) -> Result<ByteStream> {
        Self::check_id(blob_id)?;
        let path = self.inner.blob_path(blob_id);
        let id = blob_id.to_string();
        let opened = tokio::task::spawn_blocking(move || -> Result<Opened> {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::NotFound(format!("blob {id}")));
                }
                Err(e) => return Err(e.into()),
            };
            let size = file.metadata()?.len();
            if offset.checked_add(len).is_none_or(|end| end > size) {
                return Err(Error::internal(format!(
                    "blob {id} has {size} bytes; asked for {len} at {offset}"
                )));
            }
            if offset > 0 {
                file.seek(SeekFrom::Start(offset))?;
            }
            if len <= READ_CHUNK {
                Ok(Opened::Small(read_exact_bytes(&file, len)?))
            } else {
                Ok(Opened::Large(file))
            }
        })
        .await
        .map_err(join_err)??;
        Ok(match opened {
            Opened::Small(b) if b.is_empty() => Box::pin(futures::stream::empty()),
            Opened::Small(b) => Box::pin(futures::stream::once(async move { Ok(b) })),
            Opened::Large(file) => Box::pin(futures::stream::unfold(
                ReadAhead::start(file, len),
                ReadAhead::step,
            )),
        })
    }

    async fn delete(&self, blob_id: &str) -> Result<()> {
        Self::check_id(blob_id)?;
        let path = self.inner.blob_path(blob_id);
        tokio::task::spawn_blocking(move || match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::from(e)),
            _ => Ok(()),
        })
        .await
        .map_err(join_err)?
    }

    async fn check_space(&self, incoming: u64) -> Result<()> {
        let fresh = self
            .inner
            .space
            .lock()
            .read_at
            .is_some_and(|t| t.elapsed() < SPACE_TTL);
        if !fresh {
            let root = self.inner.root.clone();
            match tokio::task::spawn_blocking(move || rustix::fs::statvfs(&root))
                .await
                .map_err(join_err)?
            {
                Ok(st) => {
                    let mut s = self.inner.space.lock();
                    s.read_at = Some(Instant::now());
                    s.free = st.f_bavail.saturating_mul(st.f_frsize);
                    s.reserve = reserve_for(st.f_blocks.saturating_mul(st.f_frsize));
                }
                Err(e) => {
                    // Unknown free space must not stop writes: ENOSPC still maps to
                    // InsufficientStorage.
                    tracing::warn!(error = %e, "statvfs of the blob directory failed");
                    return Ok(());
                }
            }
        }
        let mut s = self.inner.space.lock();
        if s.free.saturating_sub(incoming) < s.reserve {
            return Err(Error::InsufficientStorage(
                "not enough free space in the data directory".into(),
            ));
        }
        s.free -= incoming;
        Ok(())
    }

    async fn recover(&self, referenced: &HashSet<String>, min_age: Duration) -> Result<(u64, u64)> {
        let inner = self.inner.clone();
        let referenced = referenced.clone();
        tokio::task::spawn_blocking(move || recover_blocking(&inner, &referenced, min_age))
            .await
            .map_err(join_err)?
    }
}

/// Removes temp files and unreferenced blobs whose mtime is at least `min_age` old. The
/// age test applies to temp files too: in a blob directory shared by several nodes, a
/// young temp file may be another node's write in progress.
fn recover_blocking(
    inner: &Inner,
    referenced: &HashSet<String>,
    min_age: Duration,
) -> Result<(u64, u64)> {
    let now = SystemTime::now();
    let old_enough = |meta: &fs::Metadata| {
        meta.modified()
            .map(|m| now.duration_since(m).unwrap_or(Duration::ZERO) >= min_age)
            .unwrap_or(false)
    };
    let remove = |path: &Path| match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::from(e)),
    };

    let mut temps = 0;
    if inner.node_lock.is_some() {
        // Shared directory: this node's own temp files are all leftovers (its lock is
        // held and it writes nothing yet); other nodes' are collected only once older
        // than `min_age`, and their directories and lock files stay.
        for e in fs::read_dir(&inner.tmp)? {
            let e = e?;
            if e.metadata()?.is_file() && remove(&e.path())? {
                temps += 1;
            }
        }
        let tmp_root = inner.root.join(TMP_DIR);
        for e in fs::read_dir(&tmp_root)? {
            let e = e?;
            let meta = e.metadata()?;
            let dir = e.path();
            if meta.is_file() && e.file_name().to_str().is_some_and(|n| n.ends_with(".tmp")) {
                if old_enough(&meta) && remove(&dir)? {
                    temps += 1;
                }
                continue;
            }
            if !meta.is_dir() || dir == inner.tmp {
                continue;
            }
            for f in fs::read_dir(&dir)? {
                let f = f?;
                let meta = f.metadata()?;
                if meta.is_file() && old_enough(&meta) && remove(&f.path())? {
                    temps += 1;
                }
            }
        }
    } else {
        for e in fs::read_dir(&inner.tmp)? {
            let e = e?;
            let meta = e.metadata()?;
            if meta.is_file() && old_enough(&meta) && remove(&e.path())? {
                temps += 1;
            }
        }
    }

    let mut orphans = 0;
    let subdirs = |dir: &Path| -> Result<Vec<PathBuf>> {
        let mut v = Vec::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            if e.file_type()?.is_dir() && e.file_name().to_str().is_some_and(is_fanout_name) {
                v.push(e.path());
            }
        }
        Ok(v)
    };
    for l1 in subdirs(&inner.root)? {
        for l2 in subdirs(&l1)? {
            for e in fs::read_dir(&l2)? {
                let e = e?;
                let name = e.file_name();
                let Some(id) = name.to_str().filter(|n| is_blob_id(n)) else {
                    continue; // not ours: leave it alone
                };
                if referenced.contains(id) {
                    continue;
                }
                let meta = e.metadata()?;
                if meta.is_file() && old_enough(&meta) && remove(&e.path())? {
                    orphans += 1;
                }
            }
        }
    }
    Ok((temps, orphans))
}
