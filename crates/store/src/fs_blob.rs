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
//!   slow client never pins a thread between chunks. Content hashes (MD5, S3 checksums)
//!   are the caller's, pipelined on its own task; the writer only computes the blob's
//!   integrity record (CRC32C per 64 KiB block, `coffer_core::integrity`), inside the
//!   batch task that writes the same bytes, and appends it as a trailer before the one
//!   data fsync of `commit`: no extra file, no extra fsync.
//! * `read` verifies every block it yields against the trailer before yielding it; the
//!   first block is verified before `read` returns, so damage there fails the request
//!   rather than the response. Blobs without a trailer (written before trailers existed)
//!   are read unverified.
//! * Everything it creates is owner-only whatever the umask: directories 0700, files
//!   0600 (the root of a shared directory, if it already exists, is the operator's).

use async_trait::async_trait;
use bytes::Bytes;
use coffer_core::blob::{BlobStore, BlobWriter, ByteStream};
use coffer_core::integrity::{self, BlockCrcs, Check, FOOTER_LEN, Layout};
use coffer_core::metrics::{BlobMetrics, Registry};
use coffer_core::{Error, Result, crash};
use futures::StreamExt;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinHandle;

/// Bytes gathered before one `writev` on the blocking pool.
const WRITE_BATCH: usize = 1 << 20;
/// Flush written data to disk every this many bytes while a blob is being written.
const SYNC_EVERY: usize = 8 << 20;
/// Size of each chunk a read stream reads (a whole number of integrity blocks); reads up
/// to this size are done in one go.
const READ_CHUNK: u64 = 1 << 20;
const TMP_DIR: &str = "tmp";
/// Mode of every file the store creates.
const FILE_MODE: u32 = 0o600;

/// Creates directories owner-only (0700).
fn private_dir_builder() -> fs::DirBuilder {
    let mut b = fs::DirBuilder::new();
    b.mode(0o700);
    b
}
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
    metrics: BlobMetrics,
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
        match private_dir_builder().create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        // Even when it already existed, another writer may have created it a moment ago
        // and not yet fsynced the parent: fsync once per directory per process.
        self.metrics
            .fsync(|| fsync_dir(dir.parent().unwrap_or(&self.root)))?;
        self.durable_dirs.lock().insert(rel.to_string());
        Ok(())
    }

    /// Blocking commit tail: data fsync → fan-out dirs → rename → directory fsync.
    fn finish(
        &self,
        mut file: File,
        mut bufs: Vec<Bytes>,
        mut crcs: BlockCrcs,
        tmp: &Path,
        id: &str,
    ) -> io::Result<()> {
        for b in &bufs {
            crcs.update(b);
        }
        bufs.push(Bytes::from(crcs.into_trailer()));
        write_all_bufs(&mut file, &bufs)?;
        crash::point("blob.before_fsync");
        self.metrics.fsync(|| file.sync_all())?;
        drop(file);
        crash::point("blob.after_fsync");
        let (l1, l2) = (&id[0..2], format!("{}/{}", &id[0..2], &id[2..4]));
        self.ensure_dir(l1)?;
        self.ensure_dir(&l2)?;
        let dest = self.blob_path(id);
        fs::rename(tmp, &dest)?;
        self.metrics.fsync(|| fsync_dir(&self.root.join(&l2)))?;
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
    /// Registers the fsync latency histogram.
    pub fn register_metrics(&self, r: &mut Registry) {
        self.inner.metrics.register(r);
    }

    /// Opens (creating if needed) the blob directory `root` and its `tmp/`, for one node.
    pub fn open(root: &Path) -> Result<Self> {
        let tmp = root.join(TMP_DIR);
        private_dir_builder().recursive(true).create(&tmp)?;
        Ok(Self {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                tmp,
                node_lock: None,
                durable_dirs: Mutex::new(HashSet::new()),
                metrics: BlobMetrics::default(),
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
        private_dir_builder().recursive(true).create(&tmp)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
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
                metrics: BlobMetrics::default(),
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
    /// The temp file and the block CRCs of the bytes written, while no batch is in flight.
    file: Option<(File, BlockCrcs)>,
    /// The batch being written; gives the file and CRCs back when done.
    inflight: Option<JoinHandle<io::Result<(File, BlockCrcs)>>>,
    pending: Vec<Bytes>,
    pending_len: usize,
    /// Bytes written since the last `fdatasync`.
    unsynced: usize,
    /// Committed or aborted: nothing left for `Drop` to clean.
    done: bool,
}

impl FsBlobWriter {
    /// Waits for the batch in flight and takes the file back.
    async fn take_file(&mut self) -> Result<(File, BlockCrcs)> {
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
            let (mut file, mut crcs) = self.take_file().await?;
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
            let metrics = self.inner.metrics.clone();
            self.inflight = Some(tokio::task::spawn_blocking(move || {
                for b in &bufs {
                    crcs.update(b);
                }
                write_all_bufs(&mut file, &bufs)?;
                if sync {
                    metrics.fsync(|| file.sync_data())?;
                }
                Ok((file, crcs))
            }));
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<String> {
        let (file, crcs) = self.take_file().await?;
        let bufs = std::mem::take(&mut self.pending);
        let (inner, tmp, id) = (self.inner.clone(), self.tmp_path.clone(), self.id.clone());
        let res = tokio::task::spawn_blocking(move || {
            let r = inner.finish(file, bufs, crcs, &tmp, &id);
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

/// Why a chunk could not be yielded.
enum ChunkError {
    Io(io::Error),
    /// The block starting at this blob offset failed its CRC32C check.
    Damaged(u64),
}

impl ChunkError {
    fn into_error(self, id: &str) -> Error {
        match self {
            ChunkError::Io(e) => e.into(),
            ChunkError::Damaged(off) => integrity::block_damaged(id, off),
        }
    }
}

/// An open blob positioned for a (verified) range read. For a blob with a trailer the
/// file range `[pos, end)` is the caller's range widened to whole blocks, and `crcs`
/// holds the table entries of exactly those blocks; a legacy blob reads the caller's
/// range as is.
struct Reader {
    file: File,
    id: Arc<str>,
    /// `Some((block_size, table from the block at `first`))` when verifying.
    crcs: Option<(u64, Vec<u32>)>,
    /// The blob has a valid trailer (so even an empty range is "verified").
    layout: Layout,
    /// File offset of the first block of `crcs`.
    first: u64,
    /// Next file offset to read; the file cursor is there.
    pos: u64,
    end: u64,
    /// The caller's range.
    want: (u64, u64),
}

impl Reader {
    fn done(&self) -> bool {
        self.pos >= self.end
    }

    /// Blocking: reads the next chunk, checks each of its blocks, and returns the part of
    /// it inside the caller's range. Nothing of a chunk is returned unless all of it
    /// verified.
    fn next_chunk(&mut self) -> Result<Bytes, ChunkError> {
        let step = match &self.crcs {
            Some((block, _)) => READ_CHUNK.max(*block),
            None => READ_CHUNK,
        };
        let n = step.min(self.end - self.pos);
        let buf = read_exact_bytes(&self.file, n).map_err(ChunkError::Io)?;
        if let Some((block, table)) = &self.crcs {
            for (i, b) in buf.chunks(*block as usize).enumerate() {
                let off = self.pos + i as u64 * block;
                let idx = ((off - self.first) / block) as usize;
                if table.get(idx) != Some(&integrity::crc32c(b)) {
                    return Err(ChunkError::Damaged(off));
                }
            }
        }
        let (lo, hi) = (self.pos.max(self.want.0), (self.pos + n).min(self.want.1));
        let out = buf.slice((lo - self.pos) as usize..(hi - self.pos) as usize);
        self.pos += n;
        Ok(out)
    }
}

/// Blocking: opens blob `id` for reading `len` bytes at `offset`, reading its trailer's
/// footer and the table entries of the blocks the range touches.
fn open_reader(path: &Path, id: &str, offset: u64, len: u64) -> Result<Reader> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotFound(format!("blob {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    let file_len = file.metadata()?.len();
    let layout = if file_len >= FOOTER_LEN {
        let mut tail = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(&mut tail, file_len - FOOTER_LEN)?;
        integrity::parse_footer(&tail, file_len)
            .map_err(|d| Error::Corrupted(format!("blob {id}: {d}")))?
    } else {
        Layout::Legacy
    };
    let data_len = match layout {
        Layout::Legacy => file_len,
        Layout::Verified { data_len, .. } => data_len,
    };
    if offset.checked_add(len).is_none_or(|end| end > data_len) {
        return Err(Error::internal(format!(
            "blob {id} has {data_len} bytes; asked for {len} at {offset}"
        )));
    }
    let want = (offset, offset + len);
    let (pos, end, crcs) = match layout.clone() {
        Layout::Verified { block_size, .. } if len > 0 => {
            let pos = offset / block_size * block_size;
            let end = want
                .1
                .div_ceil(block_size)
                .saturating_mul(block_size)
                .min(data_len);
            let first_idx = pos / block_size;
            let n = integrity::blocks(end - pos, block_size);
            let mut raw = vec![0u8; (n * 4) as usize];
            file.read_exact_at(&mut raw, data_len + first_idx * 4)?;
            let table = raw
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            (pos, end, Some((block_size, table)))
        }
        _ => (offset, want.1, None),
    };
    if pos > 0 {
        file.seek(SeekFrom::Start(pos))?;
    }
    Ok(Reader {
        file,
        id: Arc::from(id),
        crcs,
        layout,
        first: pos,
        pos,
        end,
        want,
    })
}

fn spawn_chunk(mut r: Reader) -> JoinHandle<io::Result<(Reader, Bytes)>> {
    tokio::task::spawn_blocking(move || match r.next_chunk() {
        Ok(b) => Ok((r, b)),
        Err(e) => Err(io::Error::other(e.into_error(&r.id))),
    })
}

/// A large read: one chunk read (and verified) ahead on the blocking pool while the
/// previous one is consumed.
struct ReadAhead {
    next: Option<JoinHandle<io::Result<(Reader, Bytes)>>>,
}

impl ReadAhead {
    async fn step(mut self) -> Option<(io::Result<Bytes>, Self)> {
        let h = self.next.take()?;
        let (reader, bytes) = match h.await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Some((Err(e), self)),
            Err(e) => return Some((Err(io::Error::other(e)), self)),
        };
        if !reader.done() {
            self.next = Some(spawn_chunk(reader));
        }
        Some((Ok(bytes), self))
    }
}

enum Opened {
    Small(Bytes),
    Large(Reader, Bytes),
}

/// Blocking: the whole-blob check of `coffer scrub`.
fn verify_blocking(path: &Path, id: &str, size: u64) -> Result<Check> {
    let file_len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Check::Missing),
        Err(e) => return Err(e.into()),
    };
    let mut r = match open_reader(path, id, 0, size) {
        Ok(r) => r,
        Err(Error::NotFound(_)) => return Ok(Check::Missing),
        Err(Error::Corrupted(detail)) => {
            return Ok(Check::Damaged {
                offset: size.min(file_len),
                detail,
            });
        }
        // Shorter than the record, or unreadable: damage either way.
        Err(e @ Error::Internal(_)) => {
            return Ok(Check::Damaged {
                offset: size.min(file_len),
                detail: e.to_string(),
            });
        }
        Err(e) => return Err(e),
    };
    let (verified, data_len) = match r.layout {
        Layout::Verified { data_len, .. } => (true, data_len),
        Layout::Legacy => (false, file_len),
    };
    if data_len != size {
        return Ok(Check::Damaged {
            offset: size.min(data_len),
            detail: format!("blob {id} holds {data_len} data bytes, the record says {size}"),
        });
    }
    while !r.done() {
        let at = r.pos;
        match r.next_chunk() {
            Ok(_) => {}
            Err(ChunkError::Damaged(off)) => {
                return Ok(Check::Damaged {
                    offset: off,
                    detail: integrity::block_damaged(id, off).to_string(),
                });
            }
            Err(ChunkError::Io(e)) => {
                return Ok(Check::Damaged {
                    offset: at,
                    detail: format!("blob {id}: read failed at offset {at}: {e}"),
                });
            }
        }
    }
    Ok(if verified {
        Check::Verified
    } else {
        Check::Unverified
    })
}

/// Streams `len` bytes from `offset` of the blob file at `path` (named `id` in errors),
/// verifying every block against the file's integrity trailer before yielding it
/// (`BlobStore::read`). Also reads files in the blob format kept elsewhere (the
/// compute-node cache's entries).
pub async fn read_file(path: PathBuf, id: &str, offset: u64, len: u64) -> Result<ByteStream> {
    let id = id.to_string();
    // The first chunk is read and verified before returning, so damage in it fails
    // the request (an S3 error) instead of cutting a response short.
    let opened = tokio::task::spawn_blocking(move || -> Result<Opened> {
        let mut r = open_reader(&path, &id, offset, len)?;
        if r.done() {
            return Ok(Opened::Small(Bytes::new()));
        }
        let first = r.next_chunk().map_err(|e| e.into_error(&id))?;
        Ok(if r.done() {
            Opened::Small(first)
        } else {
            Opened::Large(r, first)
        })
    })
    .await
    .map_err(join_err)??;
    Ok(match opened {
        Opened::Small(b) if b.is_empty() => Box::pin(futures::stream::empty()),
        Opened::Small(b) => Box::pin(futures::stream::once(async move { Ok(b) })),
        Opened::Large(r, first) => {
            let rest = futures::stream::unfold(
                ReadAhead {
                    next: Some(spawn_chunk(r)),
                },
                ReadAhead::step,
            );
            Box::pin(futures::stream::once(async move { Ok(first) }).chain(rest))
        }
    })
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        let id = coffer_core::ids::new_hex_id();
        let tmp_path = self.inner.tmp.join(format!("{id}.tmp"));
        let p = tmp_path.clone();
        let file = tokio::task::spawn_blocking(move || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(p)
        })
        .await
        .map_err(join_err)??;
        Ok(Box::new(FsBlobWriter {
            inner: self.inner.clone(),
            id,
            tmp_path,
            file: Some((file, BlockCrcs::default())),
            inflight: None,
            pending: Vec::new(),
            pending_len: 0,
            unsynced: 0,
            done: false,
        }))
    }

    async fn read(&self, blob_id: &str, offset: u64, len: u64) -> Result<ByteStream> {
        Self::check_id(blob_id)?;
        read_file(self.inner.blob_path(blob_id), blob_id, offset, len).await
    }

    async fn verify(&self, blob_id: &str, size: u64) -> Result<Check> {
        Self::check_id(blob_id)?;
        let path = self.inner.blob_path(blob_id);
        let id = blob_id.to_string();
        tokio::task::spawn_blocking(move || verify_blocking(&path, &id, size))
            .await
            .map_err(join_err)?
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
        // The cached figure counts the writes admitted since it was read (not all
        // written yet) but misses what the metadata database and the spool wrote
        // meanwhile. Far from the reserve it is trusted for `SPACE_TTL`; near it, every
        // admission also reads the filesystem and keeps the lower of the two, so
        // neither kind of write can carry a burst past the reserve (it must hold for
        // DELETEs).
        let (stale, near) = {
            let s = self.inner.space.lock();
            (
                s.read_at.is_none_or(|t| t.elapsed() >= SPACE_TTL),
                s.free.saturating_sub(incoming) < s.reserve.saturating_mul(2),
            )
        };
        if stale || near {
            let root = self.inner.root.clone();
            match tokio::task::spawn_blocking(move || rustix::fs::statvfs(&root))
                .await
                .map_err(join_err)?
            {
                Ok(st) => {
                    let now_free = st.f_bavail.saturating_mul(st.f_frsize);
                    let mut s = self.inner.space.lock();
                    s.reserve = reserve_for(st.f_blocks.saturating_mul(st.f_frsize));
                    if s.read_at.is_none_or(|t| t.elapsed() >= SPACE_TTL) {
                        s.read_at = Some(Instant::now());
                        s.free = now_free;
                    } else {
                        s.free = s.free.min(now_free);
                    }
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
