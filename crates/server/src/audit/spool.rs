//! The durable local audit spool: `<data-dir>/audit-spool/seg-<seq>.jsonl`, append-only
//! segment files of JSON lines (one [`AuditRecord`] per line).
//!
//! Invariants:
//! * `record` returns `Ok` only after the line is written and `fdatasync`ed (and, for
//!   the first line of a segment, after the directory entry is synced). One writer
//!   thread batches concurrent appends into one write + one sync (group commit, like
//!   the SQLite writer).
//! * Only the writer thread writes segment files. `seal` closes the open segment: every
//!   segment with a sequence number below the returned boundary is complete and never
//!   written again; the flusher reads and deletes only those. At start-up every
//!   existing segment is below the boundary (the writer starts a fresh one), so
//!   unflushed events of a previous run are replayed by the next flush.
//! * Sequence numbers are never reused, also across restarts after the spool emptied:
//!   the flusher raises the `next-seq` watermark file past every segment before it
//!   deletes them (object keys are derived from segment numbers).
//! * A failed write abandons the open segment (the next append starts a new one), so a
//!   torn line can only be the last line of a segment; readers skip unparsable lines.
//! * Memory and disk are bounded: the command queue is bounded, and when the spool's
//!   files exceed `max_bytes`, `record` either waits (policy `block`, the default: the
//!   request is held until a flush frees space) or fails at once with
//!   `Error::Unavailable` (policy `reject`: S3 answers 503 SlowDown, the management API
//!   `unavailable`). Either way no request is answered without its event.
//! * Group commit: concurrent appends share one `write` + one `fdatasync`; an append
//!   never pays a sync of its own while another is in flight (the writer collects
//!   everything queued while the previous sync ran).

use crate::private_fs;
use coffer_core::audit::{AuditRecord, AuditSink};
use coffer_core::{Error, Result};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;
use tokio::sync::{Notify, mpsc, oneshot};

/// Appends batched into one sync at most.
const MAX_BATCH: usize = 1024;
/// Queued appends before `record` waits for the writer.
const QUEUE: usize = 4096;

pub const SEGMENT_PREFIX: &str = "seg-";
pub const SEGMENT_SUFFIX: &str = ".jsonl";

const WATERMARK_FILE: &str = "next-seq";

/// The lowest sequence number a new segment may take, as recorded by the flusher.
fn read_watermark(dir: &Path) -> std::io::Result<u64> {
    match std::fs::read_to_string(dir.join(WATERMARK_FILE)) {
        Ok(t) => t.trim().parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is corrupt", dir.join(WATERMARK_FILE).display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(1),
        Err(e) => Err(e),
    }
}

/// Durably records that no segment below `next` may ever be created again.
pub fn write_watermark(dir: &Path, next: u64) -> std::io::Result<()> {
    if read_watermark(dir)? >= next {
        return Ok(());
    }
    let tmp = dir.join(format!("{WATERMARK_FILE}.tmp"));
    let mut f = private_fs::create_file(&tmp)?;
    f.write_all(next.to_string().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(WATERMARK_FILE))?;
    File::open(dir)?.sync_all()
}

pub fn segment_name(seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{seq:012}{SEGMENT_SUFFIX}")
}

/// The sequence number of a segment file name.
pub fn segment_seq(name: &str) -> Option<u64> {
    name.strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?
        .parse()
        .ok()
}

/// Segment files in `dir`, sorted by sequence number, with their sizes.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf, u64)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(segment_seq) {
            out.push((seq, entry.path(), entry.metadata()?.len()));
        }
    }
    out.sort_by_key(|(seq, _, _)| *seq);
    Ok(out)
}

enum Cmd {
    Append {
        line: Vec<u8>,
        reply: oneshot::Sender<std::io::Result<()>>,
    },
    Seal {
        reply: oneshot::Sender<u64>,
    },
    /// Reserves a fresh segment number for the flusher (a carry-over segment).
    Allocate {
        reply: oneshot::Sender<u64>,
    },
}

/// What `record` does when the spool is over its bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FullPolicy {
    /// Hold the request until a flush frees space.
    #[default]
    Block,
    /// Answer 503 at once. S3 requests on a logged bucket are refused before they run
    /// ([`AuditSink::saturated`]); a request that raced past that check and a management
    /// call (whose org is known only after it ran) are answered 503 with their effect
    /// standing, exactly like any other failure to record an event.
    Reject,
}

/// Counters the flusher and `/metrics` read.
#[derive(Debug, Default)]
pub struct SpoolStats {
    /// Events in segment files and the metadata store's outbox (recorded, not yet
    /// delivered).
    pub events: AtomicU64,
    /// Bytes in segment files and the outbox.
    pub bytes: AtomicU64,
    /// Appends refused under the `reject` policy.
    pub rejected: AtomicU64,
    /// Appends that waited under the `block` policy.
    pub blocked: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Soft bound on the bytes of all segment files; `record` waits above it.
    pub max_bytes: u64,
    /// Events after which the flusher is woken early.
    pub flush_events: u64,
    pub full_policy: FullPolicy,
    /// The flusher also delivers the metadata store's audit outbox, so audited writes
    /// may commit their events there ([`AuditSink::drains_outbox`]).
    pub drains_outbox: bool,
}

pub fn default_max_spool_bytes() -> u64 {
    256 << 20
}

pub fn default_flush_events() -> u64 {
    10_000
}

pub struct Spool {
    dir: PathBuf,
    tx: mpsc::Sender<Cmd>,
    /// `stats.bytes`: bytes in segment files (written or queued, not yet deleted by a
    /// flush); `stats.events` likewise in events.
    stats: Arc<SpoolStats>,
    /// When each existing segment received its first event (for the age of the oldest
    /// unflushed event); recovered segments use their file's modification time.
    births: Arc<parking_lot::Mutex<BTreeMap<u64, SystemTime>>>,
    max_bytes: u64,
    full_policy: FullPolicy,
    /// Events recorded since the last seal.
    since_seal: AtomicU64,
    flush_events: u64,
    /// Signalled when a flush deleted segments.
    freed: Notify,
    /// Signalled when the flusher should run before its interval ends.
    wake: Arc<Notify>,
    drains_outbox: bool,
    /// When the oldest undelivered outbox event was committed (approximately: the
    /// first one counted since the outbox was last emptied).
    outbox_born: parking_lot::Mutex<Option<SystemTime>>,
}

impl Spool {
    /// Opens (creating) the spool directory and starts the writer thread.
    pub fn open(cfg: SpoolConfig) -> std::io::Result<Arc<Spool>> {
        private_fs::private_dir(&cfg.dir)?;
        let existing = list_segments(&cfg.dir)?;
        let next_seq = existing
            .last()
            .map_or(1, |(seq, _, _)| seq + 1)
            .max(read_watermark(&cfg.dir)?);
        let bytes: u64 = existing.iter().map(|(_, _, len)| len).sum();
        let mut events = 0u64;
        let mut births = BTreeMap::new();
        for (seq, path, _) in &existing {
            events += count_lines(path)?;
            let born = std::fs::metadata(path)?
                .modified()
                .unwrap_or_else(|_| SystemTime::now());
            births.insert(*seq, born);
        }
        let stats = Arc::new(SpoolStats::default());
        stats.bytes.store(bytes, Ordering::SeqCst);
        stats.events.store(events, Ordering::SeqCst);
        let births = Arc::new(parking_lot::Mutex::new(births));
        let (tx, rx) = mpsc::channel(QUEUE);
        let dir = cfg.dir.clone();
        let writer_births = births.clone();
        std::thread::Builder::new()
            .name("coffer-audit-spool".into())
            .spawn(move || writer_loop(dir, next_seq, rx, writer_births))?;
        Ok(Arc::new(Spool {
            dir: cfg.dir,
            tx,
            stats,
            births,
            max_bytes: cfg.max_bytes,
            full_policy: cfg.full_policy,
            since_seal: AtomicU64::new(0),
            flush_events: cfg.flush_events.max(1),
            freed: Notify::new(),
            wake: Arc::new(Notify::new()),
            drains_outbox: cfg.drains_outbox,
            outbox_born: parking_lot::Mutex::new(None),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Signalled when the flusher should run now (event count or size bound reached).
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Closes the open segment; returns the boundary: every segment numbered below it
    /// is complete.
    pub async fn seal(&self) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Seal { reply })
            .await
            .map_err(|_| Error::internal("audit spool writer stopped"))?;
        let boundary = rx
            .await
            .map_err(|_| Error::internal("audit spool writer stopped"))?;
        self.since_seal.store(0, Ordering::SeqCst);
        Ok(boundary)
    }

    /// Reserves a segment number no writer will use (for the flusher's carry-over
    /// segment). The caller must make it durable (`write_watermark`) before relying on it
    /// across a restart.
    pub async fn allocate(&self) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Allocate { reply })
            .await
            .map_err(|_| Error::internal("audit spool writer stopped"))?;
        rx.await
            .map_err(|_| Error::internal("audit spool writer stopped"))
    }

    pub fn stats(&self) -> Arc<SpoolStats> {
        self.stats.clone()
    }

    /// Seconds since the oldest event still in the spool was recorded (0 when empty).
    pub fn oldest_age_secs(&self) -> f64 {
        let segments = self.births.lock().values().min().copied();
        let outbox = *self.outbox_born.lock();
        let oldest = match (segments, outbox) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        oldest
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// The flusher wrote carry-over segment `seq` holding `bytes`/`events` that are
    /// still undelivered and as old as `born`.
    pub fn carried(&self, seq: u64, bytes: u64, events: u64, born: SystemTime) {
        self.stats.bytes.fetch_add(bytes, Ordering::SeqCst);
        self.stats.events.fetch_add(events, Ordering::SeqCst);
        self.births.lock().insert(seq, born);
    }

    /// When segment `seq` received its first event, if it exists.
    pub fn born(&self, seq: u64) -> Option<SystemTime> {
        self.births.lock().get(&seq).copied()
    }

    /// A flush deleted segments `seqs` holding `bytes` and `events`.
    pub fn released_segments(&self, seqs: &[u64], bytes: u64, events: u64) {
        {
            let mut b = self.births.lock();
            for s in seqs {
                b.remove(s);
            }
        }
        let sub = |a: &AtomicU64, n: u64| {
            let _ = a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_sub(n))
            });
        };
        sub(&self.stats.events, events);
        self.released(bytes);
    }

    /// A flush deleted `bytes` of segments.
    pub fn released(&self, bytes: u64) {
        // Saturating: sizes read by the flusher may include a torn tail never counted.
        let _ = self
            .stats
            .bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                Some(b.saturating_sub(bytes))
            });
        self.freed.notify_waiters();
    }

    /// Waits while the spool is over its bound (policy `block`) or fails at once
    /// (policy `reject`) — before anything of a `len`-byte event is written.
    async fn admit_len(&self, len: u64) -> Result<()> {
        loop {
            let freed = self.freed.notified();
            let used = self.stats.bytes.load(Ordering::SeqCst);
            // An empty spool always accepts (a single huge line must not deadlock).
            if used == 0 || used + len <= self.max_bytes {
                return Ok(());
            }
            self.wake.notify_one();
            if self.full_policy == FullPolicy::Reject {
                self.stats.rejected.fetch_add(1, Ordering::SeqCst);
                return Err(Error::Unavailable(
                    "the audit log spool is full; retry later".into(),
                ));
            }
            self.stats.blocked.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(
                used,
                max = self.max_bytes,
                "audit spool full; waiting for a flush"
            );
            self.wake.notify_one();
            freed.await;
        }
    }

    /// Counts one recorded event (in a segment or the outbox) toward the flush trigger.
    fn counted(&self) {
        self.stats.events.fetch_add(1, Ordering::SeqCst);
        if self.since_seal.fetch_add(1, Ordering::SeqCst) + 1 >= self.flush_events {
            self.wake.notify_one();
        }
    }

    /// Undelivered events found in the metadata store's outbox at start-up.
    pub fn outbox_recovered(&self, events: u64, bytes: u64) {
        if events == 0 {
            return;
        }
        self.stats.events.fetch_add(events, Ordering::SeqCst);
        self.stats.bytes.fetch_add(bytes, Ordering::SeqCst);
        self.outbox_born.lock().get_or_insert_with(SystemTime::now);
    }

    /// A flush delivered (or carried into a segment) `events`/`bytes` of the outbox;
    /// `more` tells whether the outbox still holds events recorded since its plan.
    pub fn outbox_released(&self, events: u64, bytes: u64, more: bool) {
        {
            // The events left were committed after the flush planned: "now" slightly
            // under-states their age, never over-states it.
            *self.outbox_born.lock() = more.then(SystemTime::now);
        }
        let _ = self
            .stats
            .events
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_sub(events))
            });
        self.released(bytes);
    }

    async fn append(&self, line: Vec<u8>) -> Result<()> {
        let len = line.len() as u64;
        self.admit_len(len).await?;
        self.stats.bytes.fetch_add(len, Ordering::SeqCst);
        let (reply, rx) = oneshot::channel();
        let stopped = || Error::internal("audit spool writer stopped");
        let written = match self.tx.send(Cmd::Append { line, reply }).await {
            Ok(()) => rx.await.map_err(|_| stopped()).and_then(|r| {
                r.map_err(|e| Error::internal(format!("audit spool append failed: {e}")))
            }),
            Err(_) => Err(stopped()),
        };
        if let Err(e) = written {
            // Not (completely) written: give the reservation back.
            self.released(len);
            return Err(e);
        }
        self.counted();
        Ok(())
    }
}

#[async_trait::async_trait]
impl AuditSink for Spool {
    fn saturated(&self) -> bool {
        self.full_policy == FullPolicy::Reject
            && self.stats.bytes.load(Ordering::SeqCst) >= self.max_bytes
    }

    fn refused(&self) {
        self.stats.rejected.fetch_add(1, Ordering::SeqCst);
    }

    fn drains_outbox(&self) -> bool {
        self.drains_outbox
    }

    async fn admit(&self) -> Result<()> {
        // An outbox event is a few hundred bytes; the bound is soft by that much.
        self.admit_len(1).await
    }

    fn outboxed(&self, len: u64) {
        self.outbox_born.lock().get_or_insert_with(SystemTime::now);
        self.stats.bytes.fetch_add(len, Ordering::SeqCst);
        self.counted();
    }

    async fn record(&self, record: AuditRecord) -> Result<()> {
        let mut line = serde_json::to_vec(&record)
            .map_err(|e| Error::internal(format!("serializing an audit event: {e}")))?;
        line.push(b'\n');
        self.append(line).await
    }
}

/// The open segment of the writer thread.
struct Open {
    file: File,
}

/// Lines in a segment file (a torn last line counts: it is skipped on delivery).
pub fn count_lines(path: &Path) -> std::io::Result<u64> {
    let data = std::fs::read(path)?;
    let full = data.iter().filter(|b| **b == b'\n').count() as u64;
    Ok(full + u64::from(data.last().is_some_and(|b| *b != b'\n')))
}

type Births = Arc<parking_lot::Mutex<BTreeMap<u64, SystemTime>>>;

fn writer_loop(dir: PathBuf, mut next_seq: u64, mut rx: mpsc::Receiver<Cmd>, births: Births) {
    let mut open: Option<Open> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut appends: Vec<(Vec<u8>, oneshot::Sender<std::io::Result<()>>)> = Vec::new();
        let mut seal: Option<oneshot::Sender<u64>> = None;
        let mut next = Some(first);
        // Collect a batch; a seal ends it, so appends queued after the seal go to the
        // next segment.
        while let Some(cmd) = next.take() {
            match cmd {
                Cmd::Append { line, reply } => appends.push((line, reply)),
                Cmd::Seal { reply } => {
                    seal = Some(reply);
                    break;
                }
                Cmd::Allocate { reply } => {
                    // Numbers are handed out in order; the open segment keeps its own.
                    let _ = reply.send(next_seq);
                    next_seq += 1;
                }
            }
            if appends.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !appends.is_empty() {
            let res = write_batch(&dir, &mut open, &mut next_seq, &appends, &births);
            if res.is_err() {
                // Abandon the segment: a torn line stays its last line.
                open = None;
            }
            for (_, reply) in appends {
                let _ = reply.send(match &res {
                    Ok(()) => Ok(()),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                });
            }
        }
        if let Some(reply) = seal {
            open = None;
            let _ = reply.send(next_seq);
        }
    }
}

fn write_batch(
    dir: &Path,
    open: &mut Option<Open>,
    next_seq: &mut u64,
    appends: &[(Vec<u8>, oneshot::Sender<std::io::Result<()>>)],
    births: &Births,
) -> std::io::Result<()> {
    if open.is_none() {
        let seq = *next_seq;
        let path = dir.join(segment_name(seq));
        *next_seq += 1;
        births.lock().insert(seq, SystemTime::now());
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(private_fs::FILE_MODE)
            .open(&path)?;
        // The new directory entry must be durable before any line in it is acknowledged.
        File::open(dir)?.sync_all()?;
        *open = Some(Open { file });
    }
    let Some(o) = open.as_mut() else {
        return Err(std::io::Error::other("no open segment"));
    };
    let total: usize = appends.iter().map(|(l, _)| l.len()).sum();
    let mut buf = Vec::with_capacity(total);
    for (line, _) in appends {
        buf.extend_from_slice(line);
    }
    o.file.write_all(&buf)?;
    o.file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::audit::{AuditResult, ControlPlaneEvent};

    fn rec(i: usize) -> AuditRecord {
        AuditRecord::ControlPlane {
            org_id: "abc123".into(),
            event: ControlPlaneEvent {
                event_id: format!("e{i}"),
                action: "cwobject:CreateAccessKey".into(),
                principal: "coreweave/u".into(),
                principal_role: "admin".into(),
                timestamp: "2026-01-02T03:04:05.000Z".into(),
                identifier: String::new(),
                duration_seconds: 0.0,
                org_id: "abc123".into(),
                source_ip: String::new(),
                request_id: String::new(),
                result: AuditResult::Allowed,
            },
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn appends_are_durable_and_sealed_segments_are_stable() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            dir: dir.path().join("spool"),
            max_bytes: default_max_spool_bytes(),
            flush_events: 3,
            full_policy: FullPolicy::Block,
            drains_outbox: false,
        };
        let spool = Spool::open(cfg.clone()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = spool.clone();
            tasks.push(tokio::spawn(async move { s.record(rec(i)).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let boundary = spool.seal().await.unwrap();
        spool.record(rec(50)).await.unwrap();
        let segs = list_segments(spool.dir()).unwrap();
        let sealed: Vec<_> = segs.iter().filter(|(s, _, _)| *s < boundary).collect();
        let lines: usize = sealed
            .iter()
            .map(|(_, p, _)| std::fs::read_to_string(p).unwrap().lines().count())
            .sum();
        assert_eq!(lines, 50, "every acknowledged append before the seal");
        assert_eq!(
            segs.len(),
            sealed.len() + 1,
            "the later append opened a new segment"
        );
        drop(spool);

        // A restart starts after the last existing segment: nothing existing is reopened.
        let again = Spool::open(cfg).unwrap();
        let b2 = again.seal().await.unwrap();
        assert!(segs.iter().all(|(s, _, _)| *s < b2));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_spool_blocks_appends_until_a_flush_frees_space() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(SpoolConfig {
            dir: dir.path().join("spool"),
            max_bytes: 1,
            flush_events: default_flush_events(),
            full_policy: FullPolicy::Block,
            drains_outbox: false,
        })
        .unwrap();
        // An empty spool always accepts one event.
        spool.record(rec(0)).await.unwrap();
        let s = spool.clone();
        let mut blocked = tokio::spawn(async move { s.record(rec(1)).await });
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), &mut blocked)
                .await
                .is_err(),
            "the append waits while the spool is over its bound"
        );
        spool.released(u64::MAX);
        blocked.await.unwrap().unwrap();
    }
}
