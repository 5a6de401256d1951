//! The compute-node cache's disk: one file per object version, named by its tag
//! (`coffer_core::cache_node::object_tag`), in the blob format (data, then a CRC32C per
//! 64 KiB block and a footer: `coffer_core::integrity`), so every byte read from it is
//! verified (`coffer_store::read_blob_file`).
//!
//! Invariants:
//! * A file under `entries/` is complete: it is written under `tmp/`, fsynced, renamed,
//!   and the directory fsynced; `tmp/` is emptied at start. A `kill -9` mid-fill leaves
//!   only a temp file, never a partial entry.
//! * The bytes of entries and fills in progress never exceed `max_bytes`: a fill
//!   reserves its size first, evicting the least recently used entries — only when the
//!   fill will then fit. A version over half of `max_bytes` (one read must not flush the
//!   cache), or a miss while [`MAX_FILLS`] fills run, is not cached (served from the
//!   origin).
//! * At most one fill per tag (checked and registered in one critical section):
//!   concurrent misses of one version join it and read what it has written so far from
//!   its file (`Fill::read_at`), waiting for the rest.
//! * One process per directory (an exclusive lock on `lock`).
//! * A failed write (disk full, I/O error) fails the fill only: its readers continue
//!   from the origin, nothing is kept.

use crate::private_fs::{FILE_MODE, private_dir};
use bytes::Bytes;
use coffer_core::integrity::{self, BlockCrcs, FOOTER_LEN, Layout};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

const ENTRIES: &str = "entries";
const TMP: &str = "tmp";
/// Fill writes are gathered to this size before they go to disk.
const WRITE_BATCH: usize = 1 << 20;
/// Fills under way at once (each holds an origin connection and a file).
pub const MAX_FILLS: usize = 64;

/// How a fill is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// This many bytes are written (readable with [`Fill::read_at`]).
    Writing(u64),
    /// Complete: the entry is committed.
    Done,
    /// Given up; nothing is kept. Readers continue elsewhere.
    Failed,
}

/// A fill in progress, shared by its readers.
pub struct Fill {
    file: Arc<File>,
    pub size: u64,
    progress: watch::Receiver<Progress>,
}

impl Fill {
    /// Waits until byte `pos` is readable (`Ok(n)`: `n` bytes from `pos` are) or the
    /// fill ended (`Ok(0)` after `Done` with nothing left, `Err` after `Failed`).
    pub async fn wait_for(&self, pos: u64) -> Result<u64, ()> {
        let mut rx = self.progress.clone();
        loop {
            match *rx.borrow_and_update() {
                Progress::Writing(n) if n > pos => return Ok(n - pos),
                Progress::Done => return Ok(self.size.saturating_sub(pos)),
                Progress::Failed => return Err(()),
                Progress::Writing(_) => {}
            }
            if rx.changed().await.is_err() {
                // The writer is gone without saying Done: treat as failed.
                return match *rx.borrow() {
                    Progress::Done => Ok(self.size.saturating_sub(pos)),
                    _ => Err(()),
                };
            }
        }
    }

    /// Reads `len` written bytes at `pos` (blocking pool).
    pub async fn read_at(&self, pos: u64, len: usize) -> io::Result<Bytes> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, pos)?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// What the cache has of a version.
pub enum Lookup {
    /// A committed entry: read it with `coffer_store::read_blob_file`.
    Hit(PathBuf),
    /// Being filled.
    Filling(Arc<Fill>),
    Miss,
}

struct Entry {
    size: u64,
    last_used: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    fills: HashMap<String, Arc<Fill>>,
    /// Bytes of the entries.
    entry_bytes: u64,
    /// Bytes reserved by the fills under way. `entry_bytes + reserved ≤ max_bytes`.
    reserved: u64,
    tick: u64,
}

/// Counters for `coffer cache stats` and the metrics.
#[derive(Default, Clone)]
pub struct StoreCounters {
    pub evictions: Counter,
    pub fills_failed: Counter,
    pub fills_done: Counter,
    pub dropped_damaged: Counter,
}

impl StoreCounters {
    pub fn register(&self, r: &mut prometheus_client::registry::Registry) {
        r.register(
            "coffer_cache_evictions",
            "Entries removed to make room",
            self.evictions.clone(),
        );
        r.register(
            "coffer_cache_fills_done",
            "Fills completed and committed",
            self.fills_done.clone(),
        );
        r.register(
            "coffer_cache_fills_failed",
            "Fills given up (origin error, disk full or failing); their readers continued from the origin",
            self.fills_failed.clone(),
        );
        r.register(
            "coffer_cache_entries_dropped",
            "Entries dropped because their file failed to open or verify",
            self.dropped_damaged.clone(),
        );
    }
}

pub struct CacheStore {
    entries: PathBuf,
    tmp: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    pub counters: StoreCounters,
    /// Held while open: one process per directory.
    _lock: File,
}

/// The data length of a committed entry file, if its footer is valid.
fn entry_len(path: &Path) -> io::Result<Option<u64>> {
    let f = File::open(path)?;
    let file_len = f.metadata()?.len();
    if file_len < FOOTER_LEN {
        return Ok(None);
    }
    let mut tail = [0u8; FOOTER_LEN as usize];
    f.read_exact_at(&mut tail, file_len - FOOTER_LEN)?;
    Ok(match integrity::parse_footer(&tail, file_len) {
        Ok(Layout::Verified { data_len, .. }) => Some(data_len),
        _ => None,
    })
}

impl CacheStore {
    /// Opens (creating) the cache directory: empties `tmp/`, indexes `entries/` (files
    /// that are not complete entries are removed), then evicts down to `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        let (entries, tmp) = (dir.join(ENTRIES), dir.join(TMP));
        private_dir(&entries)?;
        private_dir(&tmp)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(dir.join("lock"))?;
        if lock.try_lock().is_err() {
            return Err(io::Error::other(format!(
                "another coffer cache uses {}",
                dir.display()
            )));
        }
        for e in fs::read_dir(&tmp)? {
            let _ = fs::remove_file(e?.path());
        }
        let mut found = Vec::new();
        for e in fs::read_dir(&entries)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            // A file that cannot be read is not an entry: it is removed, not fatal.
            let len = if coffer_core::cache_node::object_tag_shaped(&name) {
                entry_len(&path).unwrap_or(None)
            } else {
                None
            };
            match len {
                Some(n) => {
                    let when = e.metadata().ok().and_then(|m| m.modified().ok());
                    found.push((when, name, n));
                }
                None => {
                    tracing::warn!(file = %path.display(), "removing a file that is not a complete cache entry");
                    let _ = fs::remove_file(&path);
                }
            }
        }
        // Oldest first: the least recently written is the first evicted.
        found.sort();
        let mut state = State::default();
        for (_, tag, size) in found {
            state.tick += 1;
            state.entry_bytes += size;
            state.entries.insert(
                tag,
                Entry {
                    size,
                    last_used: state.tick,
                },
            );
        }
        let store = CacheStore {
            entries,
            tmp,
            max_bytes,
            state: Mutex::new(state),
            counters: StoreCounters::default(),
            _lock: lock,
        };
        let over = {
            let mut st = store.state.lock();
            store.evict_for(&mut st, 0)
        };
        store.remove_files(over);
        Ok(store)
    }

    fn entry_path(&self, tag: &str) -> PathBuf {
        self.entries.join(tag)
    }

    pub fn lookup(&self, tag: &str) -> Lookup {
        let mut st = self.state.lock();
        st.tick += 1;
        let tick = st.tick;
        if let Some(e) = st.entries.get_mut(tag) {
            e.last_used = tick;
            return Lookup::Hit(self.entry_path(tag));
        }
        match st.fills.get(tag) {
            Some(f) => Lookup::Filling(f.clone()),
            None => Lookup::Miss,
        }
    }

    /// (entries, bytes used, fills in progress).
    pub fn usage(&self) -> (usize, u64, usize) {
        let st = self.state.lock();
        (
            st.entries.len(),
            st.entry_bytes + st.reserved,
            st.fills.len(),
        )
    }

    /// Forgets an entry whose file failed its check (or vanished), and removes it.
    pub fn drop_entry(&self, tag: &str) {
        let gone = {
            let mut st = self.state.lock();
            st.entries.remove(tag).inspect(|e| st.entry_bytes -= e.size)
        };
        if gone.is_some() {
            self.counters.dropped_damaged.inc();
            let _ = fs::remove_file(self.entry_path(tag));
        }
    }

    /// Evicts least recently used entries until `need` more bytes fit beside the
    /// entries and reservations; returns the evicted tags (their files are removed
    /// outside the lock). Callers check first that `need` fits beside the reservations
    /// alone, so nothing is evicted in vain.
    fn evict_for(&self, st: &mut State, need: u64) -> Vec<String> {
        let mut out = Vec::new();
        while st.entry_bytes + st.reserved + need > self.max_bytes {
            let Some(victim) = st
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(t, _)| t.clone())
            else {
                break;
            };
            if let Some(e) = st.entries.remove(&victim) {
                st.entry_bytes -= e.size;
            }
            out.push(victim);
        }
        out
    }

    /// Unlinks evicted entries off the async workers (a large file's unlink can take a
    /// while).
    fn remove_files(&self, tags: Vec<String>) {
        if tags.is_empty() {
            return;
        }
        self.counters.evictions.inc_by(tags.len() as u64);
        let paths: Vec<PathBuf> = tags.iter().map(|t| self.entry_path(t)).collect();
        let unlink = move || {
            for p in paths {
                let _ = fs::remove_file(p);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn_blocking(unlink);
            }
            Err(_) => unlink(),
        }
    }

    /// Starts filling `tag` (`size` bytes): creates the temp file, then in one critical
    /// section checks that no fill of it runs, reserves the space (evicting) and
    /// registers the fill. `Err(Some(fill))`: another fill of it runs, join that;
    /// `Err(None)`: it is not cached now (committed meanwhile, too large, too many
    /// fills, or the temp file could not be created).
    pub fn begin_fill(
        self: &Arc<Self>,
        tag: &str,
        size: u64,
    ) -> Result<(FillWriter, Arc<Fill>), Option<Arc<Fill>>> {
        if size > self.max_bytes / 2 {
            return Err(None);
        }
        let tmp_path = self
            .tmp
            .join(format!("{tag}.{}", coffer_core::ids::new_hex_id()));
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp_path)
        {
            Ok(f) => Arc::new(f),
            Err(e) => {
                tracing::warn!(error = %e, "cannot create a cache fill file; serving from the origin");
                return Err(None);
            }
        };
        let (tx, rx) = watch::channel(Progress::Writing(0));
        let fill = Arc::new(Fill {
            file: file.clone(),
            size,
            progress: rx,
        });
        let evicted = {
            let mut st = self.state.lock();
            let refused = if let Some(f) = st.fills.get(tag) {
                Some(Some(f.clone()))
            } else if st.entries.contains_key(tag)
                || st.fills.len() >= MAX_FILLS
                || st.reserved.saturating_add(size) > self.max_bytes
            {
                Some(None)
            } else {
                None
            };
            if let Some(r) = refused {
                drop(st);
                let _ = fs::remove_file(&tmp_path);
                return Err(r);
            }
            let evicted = self.evict_for(&mut st, size);
            st.reserved += size;
            st.fills.insert(tag.to_string(), fill.clone());
            evicted
        };
        self.remove_files(evicted);
        Ok((
            FillWriter {
                store: self.clone(),
                tag: tag.to_string(),
                size,
                file,
                tmp_path,
                crcs: BlockCrcs::default(),
                pending: Vec::new(),
                pending_len: 0,
                written: 0,
                tx,
                finished: false,
            },
            fill,
        ))
    }

    /// Ends a fill: its reservation becomes the entry's bytes on success, or is
    /// returned.
    fn end_fill(&self, tag: &str, size: u64, committed: bool) {
        let mut st = self.state.lock();
        st.fills.remove(tag);
        st.reserved -= size;
        if committed {
            st.tick += 1;
            let tick = st.tick;
            let old = st.entries.insert(
                tag.to_string(),
                Entry {
                    size,
                    last_used: tick,
                },
            );
            st.entry_bytes = st.entry_bytes - old.map_or(0, |e| e.size) + size;
        }
    }
}

/// Writes one fill: [`Self::write`] the version's bytes in order, then [`Self::commit`].
/// Dropped unfinished, it fails the fill (its readers move on to the origin).
pub struct FillWriter {
    store: Arc<CacheStore>,
    tag: String,
    size: u64,
    file: Arc<File>,
    tmp_path: PathBuf,
    crcs: BlockCrcs,
    pending: Vec<Bytes>,
    pending_len: usize,
    written: u64,
    tx: watch::Sender<Progress>,
    finished: bool,
}

impl FillWriter {
    pub async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        if self.written + (self.pending_len + chunk.len()) as u64 > self.size {
            return Err(io::Error::other(
                "the origin sent more bytes than the version has",
            ));
        }
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= WRITE_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bufs = std::mem::take(&mut self.pending);
        let n = self.pending_len as u64;
        self.pending_len = 0;
        for b in &bufs {
            self.crcs.update(b);
        }
        let (file, at) = (self.file.clone(), self.written);
        tokio::task::spawn_blocking(move || {
            let mut at = at;
            for b in &bufs {
                file.write_all_at(b, at)?;
                at += b.len() as u64;
            }
            Ok::<_, io::Error>(())
        })
        .await
        .map_err(io::Error::other)??;
        self.written += n;
        coffer_core::crash::point("cache.fill.mid");
        self.tx.send_replace(Progress::Writing(self.written));
        Ok(())
    }

    /// Makes the entry durable and visible: trailer, fsync, rename, directory fsync.
    pub async fn commit(mut self) -> io::Result<()> {
        self.flush().await?;
        if self.written != self.size {
            return Err(io::Error::other(format!(
                "the origin sent {} of {} bytes",
                self.written, self.size
            )));
        }
        let trailer = std::mem::take(&mut self.crcs).into_trailer();
        let (file, at) = (self.file.clone(), self.written);
        let (tmp, dest) = (self.tmp_path.clone(), self.store.entry_path(&self.tag));
        let entries = self.store.entries.clone();
        tokio::task::spawn_blocking(move || {
            file.write_all_at(&trailer, at)?;
            file.sync_all()?;
            fs::rename(&tmp, &dest)?;
            // Renamed but not known durable: the entry is given up (its file too, so
            // nothing outside the index takes space until a restart).
            File::open(&entries)
                .and_then(|d| d.sync_all())
                .inspect_err(|_| {
                    let _ = fs::remove_file(&dest);
                })
        })
        .await
        .map_err(io::Error::other)??;
        self.finished = true;
        self.store.end_fill(&self.tag, self.size, true);
        self.store.counters.fills_done.inc();
        self.tx.send_replace(Progress::Done);
        Ok(())
    }
}

impl Drop for FillWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.store.end_fill(&self.tag, self.size, false);
        self.store.counters.fills_failed.inc();
        self.tx.send_replace(Progress::Failed);
        let _ = fs::remove_file(&self.tmp_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(i: u8) -> String {
        format!("{:032x}", i)
    }

    async fn fill(store: &Arc<CacheStore>, t: &str, bytes: &[u8]) {
        let (mut w, _) = store.begin_fill(t, bytes.len() as u64).ok().unwrap();
        w.write(Bytes::copy_from_slice(bytes)).await.unwrap();
        w.commit().await.unwrap();
    }

    #[tokio::test]
    async fn entries_survive_a_restart_and_eviction_keeps_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CacheStore::open(dir.path(), 3000).unwrap());
        fill(&store, &tag(1), &[1; 1000]).await;
        fill(&store, &tag(2), &[2; 1000]).await;
        assert!(matches!(store.lookup(&tag(1)), Lookup::Hit(_)));
        // 1 was used after 2: 2 is evicted for 3 + 4.
        fill(&store, &tag(3), &[3; 1000]).await;
        fill(&store, &tag(4), &[4; 500]).await;
        assert!(matches!(store.lookup(&tag(2)), Lookup::Miss));
        assert_eq!(store.usage().1, 2500);
        // Over half the cache: not cached, nothing evicted.
        assert!(matches!(store.begin_fill(&tag(9), 1501), Err(None)));
        assert_eq!(store.usage(), (3, 2500, 0));
        // The evicted entry's file is unlinked off the async workers.
        let entries = dir.path().join("entries");
        while std::fs::read_dir(&entries).unwrap().count() > 3 {
            tokio::task::yield_now().await;
        }
        // A temp file left by a crash, a torn entry and a stranger are removed at open.
        std::fs::write(dir.path().join("tmp/leftover"), b"x").unwrap();
        std::fs::write(dir.path().join("entries").join(tag(7)), b"torn").unwrap();
        std::fs::write(dir.path().join("entries/README"), b"?").unwrap();
        drop(store);
        let store = CacheStore::open(dir.path(), 3000).unwrap();
        assert_eq!(store.usage(), (3, 2500, 0));
        assert!(matches!(store.lookup(&tag(7)), Lookup::Miss));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        let Lookup::Hit(p) = store.lookup(&tag(4)) else {
            panic!("entry 4 lost")
        };
        let body = coffer_store::read_blob_file(p, "t", 0, 500).await.unwrap();
        let got: Vec<Bytes> = futures::TryStreamExt::try_collect(body).await.unwrap();
        assert_eq!(got.concat(), vec![4; 500]);
        // A smaller budget evicts at open.
        drop(store);
        let store = CacheStore::open(dir.path(), 1000).unwrap();
        assert_eq!(store.usage().0, 1);
    }

    #[tokio::test]
    async fn readers_of_a_fill_see_its_bytes_and_a_dropped_writer_fails_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CacheStore::open(dir.path(), 1 << 30).unwrap());
        let (mut w, f) = store.begin_fill(&tag(1), 3 << 20).ok().unwrap();
        assert!(matches!(store.begin_fill(&tag(1), 3 << 20), Err(Some(_))));
        w.write(Bytes::from(vec![7u8; 2 << 20])).await.unwrap();
        assert_eq!(f.wait_for(0).await, Ok(2 << 20));
        assert_eq!(f.read_at(100, 10).await.unwrap().as_ref(), &[7u8; 10]);
        drop(w);
        assert_eq!(f.wait_for(2 << 20).await, Err(()));
        assert!(matches!(store.lookup(&tag(1)), Lookup::Miss));
        assert_eq!(store.usage(), (0, 0, 0));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        // Short or long fills are not committed.
        let (mut w, _) = store.begin_fill(&tag(2), 10).ok().unwrap();
        assert!(w.write(Bytes::from(vec![0u8; 11])).await.is_err());
        drop(w);
        let (mut w, _) = store.begin_fill(&tag(3), 10).ok().unwrap();
        w.write(Bytes::from(vec![0u8; 9])).await.unwrap();
        assert!(w.commit().await.is_err());
        assert_eq!(store.usage(), (0, 0, 0));
    }

    #[tokio::test]
    async fn reservations_are_exact_and_nothing_is_evicted_in_vain() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CacheStore::open(dir.path(), 10_000).unwrap());
        fill(&store, &tag(1), &[1; 3000]).await;
        fill(&store, &tag(2), &[2; 1000]).await;
        // Two fills under way reserve 5,000 + 4,000: entry 1 (least recently used) goes.
        let (w5, _) = store.begin_fill(&tag(5), 5000).ok().unwrap();
        let (w6, _) = store.begin_fill(&tag(6), 4000).ok().unwrap();
        assert_eq!(store.usage(), (1, 10_000, 2));
        // A third cannot fit beside the reservations: refused without evicting entry 2.
        assert!(matches!(store.begin_fill(&tag(7), 2000), Err(None)));
        assert!(matches!(store.lookup(&tag(2)), Lookup::Hit(_)));
        // A second miss of a filling tag joins it.
        assert!(matches!(store.begin_fill(&tag(5), 5000), Err(Some(_))));
        drop(w5);
        drop(w6);
        assert_eq!(store.usage(), (1, 1000, 0));
        // Many concurrent misses of one tag: one fill, one reservation.
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (s, b) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    s.begin_fill(&tag(8), 100).ok()
                })
            })
            .collect();
        let won: Vec<_> = threads
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        let winners = won.len();
        assert_eq!(winners, 1);
        assert_eq!(store.usage(), (1, 1100, 1));
        // A second process on the same directory is refused.
        assert!(CacheStore::open(dir.path(), 10_000).is_err());
    }
}
