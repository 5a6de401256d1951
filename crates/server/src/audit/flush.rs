//! The audit flusher: turns sealed spool segments, and the metadata store's audit
//! outbox (events committed with the writes they describe), into hash-chained gzip
//! JSON Lines objects ([`super::chain`]) in each org's audit bucket, then deletes the
//! segments and trims the outbox.
//!
//! Object keys: `control-plane/YYYY/MM/DD/HH/<node>-<seq>.jsonl.gz` and
//! `data-plane/YYYY/MM/DD/HH/<bucket>/<node>-<seq>.jsonl.gz`: the hour is the events'
//! (UTC), `<seq>` the object's number in its chain (one chain per org, stream and node).
//!
//! # Exactly once without a transaction across the spool and the object store
//!
//! The flusher keeps a small durable journal, `<spool>/flush-state.json` (replaced
//! atomically: temp file, fsync, rename, fsync directory), holding
//! * `heads`: per org and stream, the chain's last delivered object (seq, SHA-256);
//! * `deliveredBelow`: every segment numbered below it is delivered;
//! * `outboxDelivered`: every outbox entry numbered ≤ it is delivered;
//! * `pending`: the flush in progress, if any — its segment numbers, the last outbox
//!   entry it takes and the number of its carry-over segment.
//!
//! A flush:
//! 1. *Plan*: seal the open segment, take the lowest sealed segments (a prefix in
//!    number order, ≤ 64 MiB), reserve a carry-over segment number (made durable in the
//!    spool's `next-seq` watermark so no writer reuses it), take the outbox entries
//!    above `outboxDelivered` (within the same byte bound; entry numbers follow commit
//!    order and are never reused, so "above A up to B" names a fixed set) and journal
//!    the plan.
//! 2. *Deliver*: read the planned segments and outbox entries, drop repeated
//!    `eventId`s, group the events by org → stream → hour, order each group by event
//!    time (stably), cut ≤ 10,000 events per object, and write each chain's
//!    objects in order, numbered from the journaled head. The objects are a pure
//!    function of (planned segments, journaled heads): a repeated plan produces the
//!    same keys and the same bytes, so re-writing an object that already exists is
//!    harmless — this is what makes a crash between writing objects and trimming the
//!    spool produce no duplicate.
//! 3. *Isolate failures*: when an org's bucket cannot be created or one of a chain's
//!    objects cannot be written, that chain stops at the failed object; its remaining
//!    events (with their original `eventId`s) go to the carry-over segment, written
//!    and fsynced before the commit. Other orgs and chains are unaffected, and the
//!    carried events are retried by every later flush (the carry segment is just
//!    another segment). A failed write whose object nevertheless exists with the
//!    planned bytes (an earlier attempt wrote it) counts as written. If even that
//!    cannot be determined, the plan stays pending and is retried as a whole (the
//!    store is then down for everyone).
//! 4. *Commit*: journal the new heads, `deliveredBelow` and `outboxDelivered` past the
//!    plan and no pending plan; then delete the planned segments and trim the outbox.
//!
//! Recovery: a pending plan found at start-up is re-run after deleting its (not yet
//! committed) carry-over segment; segments below `deliveredBelow` that are still on
//! disk (crash after the commit, before the deletion) are deleted unread, and so are
//! outbox entries ≤ `outboxDelivered` ([`Flusher::recover_outbox`]).
//!
//! Flushes are serialized (the journal lock), one node writes its own chains only.

use super::chain::{self, ChainHeader, GENESIS, MAX_EVENTS_PER_OBJECT};
use super::spool::{Spool, count_lines, list_segments, segment_name, write_watermark};
use coffer_core::audit::{AuditRecord, AuditService};
use coffer_core::blob::ByteStream;
use coffer_core::ids::audit_bucket_name;
use coffer_core::meta::MetaStore;
use coffer_core::model::{ObjectHeaders, WriteCondition};
use coffer_core::objects::{ChecksumInput, GetObjectInput, ObjectService, PutObjectInput};
use coffer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// Most segment bytes one flush reads (bounds its memory); the rest waits for the next.
const MAX_FLUSH_BYTES: u64 = 64 << 20;
const STATE_FILE: &str = "flush-state.json";
/// User metadata of an audit object: its own SHA-256 (lets a retried write recognise
/// an object an earlier attempt already wrote).
const META_SHA256: &str = "coffer-audit-sha256";

/// Where the flusher writes; the server's implementation is [`ObjectStoreTarget`].
/// A trait so tests can inject failures per org.
#[async_trait::async_trait]
pub trait AuditTarget: Send + Sync + 'static {
    /// Creates the org's audit bucket unless it exists.
    async fn ensure_bucket(&self, org_id: &str) -> Result<()>;
    /// Durably writes (or replaces) one object.
    async fn put(&self, org_id: &str, key: &str, body: Vec<u8>, sha256: &str) -> Result<()>;
    /// The recorded SHA-256 of an existing object; `None` when it does not exist.
    async fn stored_sha256(&self, org_id: &str, key: &str) -> Result<Option<String>>;
}

/// Writes into the org audit buckets through the object service (not S3: no policy
/// applies to the server's own writes, and nothing is data-plane logged).
pub struct ObjectStoreTarget {
    pub objects: Arc<ObjectService>,
    pub audit: Arc<AuditService>,
}

#[async_trait::async_trait]
impl AuditTarget for ObjectStoreTarget {
    async fn ensure_bucket(&self, org_id: &str) -> Result<()> {
        self.audit.ensure_bucket(org_id).await
    }

    async fn put(&self, org_id: &str, key: &str, body: Vec<u8>, sha256: &str) -> Result<()> {
        let len = body.len() as u64;
        let stream: ByteStream = Box::pin(futures::stream::once(async move {
            Ok::<_, std::io::Error>(bytes::Bytes::from(body))
        }));
        self.objects
            .put_object(PutObjectInput {
                bucket: audit_bucket_name(org_id),
                key: key.to_string(),
                body: stream,
                content_length: Some(len),
                content_md5: None,
                checksum: ChecksumInput::default(),
                headers: ObjectHeaders {
                    content_type: Some("application/gzip".to_string()),
                    ..ObjectHeaders::default()
                },
                user_metadata: BTreeMap::from([(META_SHA256.to_string(), sha256.to_string())]),
                tags: BTreeMap::new(),
                cond: WriteCondition::None,
                audit_event: None,
                bucket_record: None,
                lock: Default::default(),
                access: Default::default(),
                sse: Default::default(),
            })
            .await
            .map(|_| ())
    }

    async fn stored_sha256(&self, org_id: &str, key: &str) -> Result<Option<String>> {
        let got = self
            .objects
            .get_object(
                GetObjectInput {
                    bucket: audit_bucket_name(org_id),
                    key: key.to_string(),
                    range: None,
                    part_number: None,
                    conditions: Default::default(),
                    sse_key: None,
                },
                false,
            )
            .await;
        match got {
            Ok(o) => Ok(Some(
                o.record
                    .user_metadata
                    .get(META_SHA256)
                    .cloned()
                    .unwrap_or_default(),
            )),
            Err(Error::NoSuchKey | Error::NoSuchBucket | Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    seq: u64,
    sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    segments: Vec<u64>,
    carry_seq: u64,
    /// The last outbox entry of the plan (entries above `outboxDelivered` up to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox_through: Option<u64>,
}

/// The durable journal (see the module header).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlushState {
    /// org → stream → head.
    heads: BTreeMap<String, BTreeMap<String, Head>>,
    delivered_below: u64,
    /// Every outbox entry numbered ≤ it is delivered (and may still await trimming).
    #[serde(default)]
    outbox_delivered: u64,
    pending: Option<Plan>,
}

fn load_state(dir: &Path) -> std::io::Result<FlushState> {
    match std::fs::read(dir.join(STATE_FILE)) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is corrupt: {e}", dir.join(STATE_FILE).display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FlushState::default()),
        Err(e) => Err(e),
    }
}

fn store_state(dir: &Path, state: &FlushState) -> std::io::Result<()> {
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let mut f = crate::private_fs::create_file(&tmp)?;
    f.write_all(&serde_json::to_vec(state)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(STATE_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Counters for `/metrics`.
#[derive(Debug)]
pub struct FlushMetrics {
    pub events_written: AtomicU64,
    pub objects_written: AtomicU64,
    pub flush_failures: AtomicU64,
    /// Chains that failed and were carried over (summed over flushes).
    pub chains_carried: AtomicU64,
    /// Every flush's duration (its count is the number of flushes).
    pub duration: prometheus_client::metrics::histogram::Histogram,
    pub last_flush_micros: AtomicU64,
}

impl Default for FlushMetrics {
    fn default() -> Self {
        Self {
            events_written: AtomicU64::default(),
            objects_written: AtomicU64::default(),
            flush_failures: AtomicU64::default(),
            chains_carried: AtomicU64::default(),
            duration: prometheus_client::metrics::histogram::Histogram::new([
                0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0,
            ]),
            last_flush_micros: AtomicU64::default(),
        }
    }
}

pub struct Flusher {
    spool: Arc<Spool>,
    /// The metadata store whose audit outbox this flusher delivers, if any.
    outbox: Option<Arc<dyn MetaStore>>,
    target: Arc<dyn AuditTarget>,
    /// `<node>` of the object keys.
    node: String,
    /// The journal; its lock serializes flushes.
    state: tokio::sync::Mutex<FlushState>,
    metrics: Arc<FlushMetrics>,
}

/// What one flush delivered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushStats {
    pub segments: usize,
    pub events: usize,
    pub objects: usize,
    /// Events kept in the spool because their chain failed.
    pub carried: usize,
}

/// One spooled event, parsed.
struct Item {
    /// The event's timestamp (fixed-width RFC 3339 UTC: orders like the time).
    ts: String,
    /// The event JSON as delivered.
    event: Vec<u8>,
    /// The spool line (for a carry-over).
    record: Vec<u8>,
}

/// org → stream → hour → events in spool order.
type Groups = BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<Item>>>>;

impl Flusher {
    /// Reads the journal in the spool directory.
    pub fn open(spool: Arc<Spool>, target: Arc<dyn AuditTarget>, node: String) -> Result<Self> {
        let state = load_state(spool.dir())
            .map_err(|e| Error::internal(format!("reading the audit flush journal: {e}")))?;
        Ok(Self {
            spool,
            outbox: None,
            target,
            node,
            state: tokio::sync::Mutex::new(state),
            metrics: Arc::default(),
        })
    }

    pub fn new(
        spool: Arc<Spool>,
        objects: Arc<ObjectService>,
        audit: Arc<AuditService>,
        node: String,
    ) -> Result<Self> {
        Self::open(spool, Arc::new(ObjectStoreTarget { objects, audit }), node)
    }

    /// Also delivers `meta`'s audit outbox: plans take its entries after the spool's
    /// segments, and trim them once the plan is committed. Call [`Self::recover_outbox`]
    /// before serving.
    pub fn with_outbox(mut self, meta: Arc<dyn MetaStore>) -> Self {
        self.outbox = Some(meta);
        self
    }

    /// Start-up: removes outbox entries a crash left behind after their delivery was
    /// committed, and counts the undelivered rest in the spool's depth.
    pub async fn recover_outbox(&self) -> Result<()> {
        let Some(meta) = &self.outbox else {
            return Ok(());
        };
        let delivered = self.state.lock().await.outbox_delivered;
        if delivered > 0 {
            meta.trim_audit_outbox(delivered).await?;
        }
        let (events, bytes) = meta.audit_outbox_depth().await?;
        self.spool.outbox_recovered(events, bytes);
        Ok(())
    }

    pub fn metrics(&self) -> Arc<FlushMetrics> {
        self.metrics.clone()
    }

    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// Seals the open segment and delivers every sealed segment (up to the per-flush
    /// bound), first finishing a flush a crash interrupted. Events acknowledged before
    /// the call are delivered by it unless the bound cut it short or their chain failed.
    pub async fn flush(&self) -> Result<FlushStats> {
        let mut state = self.state.lock().await;
        let started = Instant::now();
        let res = self.flush_locked(&mut state).await;
        let took = started.elapsed();
        let m = &self.metrics;
        m.duration.observe(took.as_secs_f64());
        m.last_flush_micros.store(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        match &res {
            Ok(s) => {
                m.events_written
                    .fetch_add(s.events as u64, Ordering::Relaxed);
                m.objects_written
                    .fetch_add(s.objects as u64, Ordering::Relaxed);
            }
            Err(_) => {
                m.flush_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        res
    }

    async fn flush_locked(&self, state: &mut FlushState) -> Result<FlushStats> {
        let dir = self.spool.dir().to_path_buf();
        // The planned outbox entries, when the plan was made by this call.
        let mut outbox_entries: Option<Vec<(u64, Vec<u8>)>> = None;
        let plan = match state.pending.clone() {
            Some(plan) => {
                // The crashed attempt's carry-over was never committed (its events are
                // still in the planned segments): remove it, and its count if the spool
                // counted it at start-up.
                let carry = dir.join(segment_name(plan.carry_seq));
                let gone = blocking(move || match std::fs::metadata(&carry) {
                    Ok(m) => {
                        let events = count_lines(&carry)?;
                        std::fs::remove_file(&carry)?;
                        Ok(Some((m.len(), events)))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                })
                .await?;
                // Counted only if it existed when the spool opened (it has a birth).
                if let Some((bytes, events)) =
                    gone.filter(|_| self.spool.born(plan.carry_seq).is_some())
                {
                    self.spool
                        .released_segments(&[plan.carry_seq], bytes, events);
                }
                plan
            }
            None => {
                let boundary = self.spool.seal().await?;
                let d = dir.clone();
                let segments = blocking(move || list_segments(&d)).await?;
                let delivered_below = state.delivered_below;
                let (stale, live): (Vec<_>, Vec<_>) = segments
                    .into_iter()
                    .partition(|(s, _, _)| *s < delivered_below);
                if !stale.is_empty() {
                    // Delivered before a crash; counted when the spool was opened.
                    let paths: Vec<PathBuf> = stale.iter().map(|(_, p, _)| p.clone()).collect();
                    let counted = paths.clone();
                    let events = blocking(move || {
                        counted
                            .iter()
                            .map(|p| count_lines(p))
                            .sum::<std::io::Result<u64>>()
                    })
                    .await?;
                    self.delete_segments(paths).await?;
                    let seqs: Vec<u64> = stale.iter().map(|(s, _, _)| *s).collect();
                    let bytes = stale.iter().map(|(_, _, l)| l).sum();
                    self.spool.released_segments(&seqs, bytes, events);
                }
                let mut segments = Vec::new();
                let mut total = 0u64;
                for (seq, _, len) in live.into_iter().filter(|(s, _, _)| *s < boundary) {
                    if !segments.is_empty() && total + len > MAX_FLUSH_BYTES {
                        break;
                    }
                    total += len;
                    segments.push(seq);
                }
                let outbox_through = match &self.outbox {
                    Some(meta) if total < MAX_FLUSH_BYTES => {
                        let entries = meta
                            .read_audit_outbox(
                                state.outbox_delivered,
                                None,
                                MAX_FLUSH_BYTES - total,
                            )
                            .await?;
                        let through = entries.last().map(|(seq, _)| *seq);
                        outbox_entries = Some(entries);
                        through
                    }
                    _ => None,
                };
                if segments.is_empty() && outbox_through.is_none() {
                    return Ok(FlushStats::default());
                }
                let carry_seq = self.spool.allocate().await?;
                let plan = Plan {
                    segments,
                    carry_seq,
                    outbox_through,
                };
                let mut next = state.clone();
                next.pending = Some(plan.clone());
                let d = dir.clone();
                blocking(move || {
                    write_watermark(&d, carry_seq + 1)?;
                    store_state(&d, &next)
                })
                .await?;
                state.pending = Some(plan.clone());
                plan
            }
        };

        let paths: Vec<PathBuf> = plan
            .segments
            .iter()
            .map(|s| dir.join(segment_name(*s)))
            .collect();
        let entries = match (plan.outbox_through, outbox_entries, &self.outbox) {
            (None, _, _) => Vec::new(),
            (Some(_), Some(entries), _) => entries,
            (Some(through), None, Some(meta)) => {
                meta.read_audit_outbox(state.outbox_delivered, Some(through), u64::MAX)
                    .await?
            }
            (Some(_), None, None) => {
                return Err(Error::internal(
                    "a pending audit flush includes outbox entries, but this server has no outbox",
                ));
            }
        };
        let outbox_events = entries.len() as u64;
        let outbox_bytes: u64 = entries.iter().map(|(_, e)| e.len() as u64).sum();
        let outbox_lines: Vec<Vec<u8>> = entries.into_iter().map(|(_, e)| e).collect();
        let (groups, read_events, read_bytes) =
            blocking(move || read_groups(&paths, outbox_lines)).await?;

        let mut heads = state.heads.clone();
        let mut stats = FlushStats {
            segments: plan.segments.len(),
            ..FlushStats::default()
        };
        let mut carry: Vec<u8> = Vec::new();
        for (org, streams) in groups {
            if let Err(e) = self.target.ensure_bucket(&org).await {
                tracing::error!(org_id = %org, error = %e, "creating the audit bucket failed; the org's events stay in the spool");
                for (_, hours) in streams {
                    self.metrics.chains_carried.fetch_add(1, Ordering::Relaxed);
                    for item in hours.into_values().flatten() {
                        stats.carried += 1;
                        carry.extend_from_slice(&item.record);
                        carry.push(b'\n');
                    }
                }
                continue;
            }
            for (stream, hours) in streams {
                let head = heads
                    .entry(org.clone())
                    .or_default()
                    .entry(stream.clone())
                    .or_insert_with(|| Head {
                        seq: 0,
                        sha256: GENESIS.to_string(),
                    });
                let mut failed = false;
                for (hour, items) in hours {
                    for chunk in items.chunks(MAX_EVENTS_PER_OBJECT) {
                        if failed {
                            for item in chunk {
                                stats.carried += 1;
                                carry.extend_from_slice(&item.record);
                                carry.push(b'\n');
                            }
                            continue;
                        }
                        let seq = head.seq + 1;
                        let header = ChainHeader {
                            coffer_audit_chain: chain::VERSION,
                            org_id: org.clone(),
                            stream: stream.clone(),
                            node: self.node.clone(),
                            seq,
                            prev: head.sha256.clone(),
                            events: chunk.len() as u64,
                        };
                        let lines: Vec<Vec<u8>> = chunk.iter().map(|i| i.event.clone()).collect();
                        let body = blocking(move || chain::encode(&header, &lines)).await?;
                        let sha = chain::sha256_hex(&body);
                        let key = chain::object_key(&stream, &hour, &self.node, seq);
                        if self.write(&org, &key, body, &sha).await? {
                            *head = Head { seq, sha256: sha };
                            stats.objects += 1;
                            stats.events += chunk.len();
                        } else {
                            failed = true;
                            self.metrics.chains_carried.fetch_add(1, Ordering::Relaxed);
                            for item in chunk {
                                stats.carried += 1;
                                carry.extend_from_slice(&item.record);
                                carry.push(b'\n');
                            }
                        }
                    }
                }
            }
        }

        // Carry-over first, then the commit, then the deletion (see the module header).
        coffer_core::crash::point("audit.flush.before_commit");
        let born = plan
            .segments
            .iter()
            .filter_map(|s| self.spool.born(*s))
            .min()
            .unwrap_or_else(SystemTime::now);
        let carry_len = carry.len() as u64;
        if !carry.is_empty() {
            let path = dir.join(segment_name(plan.carry_seq));
            let d = dir.clone();
            blocking(move || {
                let mut f = crate::private_fs::create_file(&path)?;
                f.write_all(&carry)?;
                f.sync_all()?;
                std::fs::File::open(&d)?.sync_all()
            })
            .await?;
        }
        let last = plan.segments.iter().copied().max().unwrap_or(0);
        let mut next = state.clone();
        next.heads = heads;
        next.delivered_below = next.delivered_below.max(last + 1);
        if let Some(through) = plan.outbox_through {
            next.outbox_delivered = next.outbox_delivered.max(through);
        }
        next.pending = None;
        let d = dir.clone();
        let committed = next.clone();
        blocking(move || store_state(&d, &committed)).await?;
        coffer_core::crash::point("audit.flush.after_commit");
        *state = next;
        if carry_len > 0 {
            self.spool
                .carried(plan.carry_seq, carry_len, stats.carried as u64, born);
        }
        let doomed: Vec<PathBuf> = plan
            .segments
            .iter()
            .map(|s| dir.join(segment_name(*s)))
            .collect();
        self.delete_segments(doomed).await?;
        self.spool
            .released_segments(&plan.segments, read_bytes, read_events);
        if let (Some(through), Some(meta)) = (plan.outbox_through, &self.outbox) {
            // Delivered per the journal; a failed trim is repeated by the next one (or
            // at start-up) and never re-delivers (plans start above `outboxDelivered`).
            if let Err(e) = meta.trim_audit_outbox(through).await {
                tracing::warn!(error = %e, "trimming the audit outbox failed; retried later");
            }
            let more = match meta.audit_outbox_depth().await {
                Ok((n, _)) => n > 0,
                Err(_) => true,
            };
            self.spool
                .outbox_released(outbox_events, outbox_bytes, more);
        }
        Ok(stats)
    }

    /// Writes one object. `Ok(true)`: it is stored with the planned bytes; `Ok(false)`:
    /// it is not (the chain stops); `Err`: unknown (the plan stays pending).
    async fn write(&self, org: &str, key: &str, body: Vec<u8>, sha: &str) -> Result<bool> {
        match self.target.put(org, key, body, sha).await {
            Ok(()) => Ok(true),
            Err(e) => match self.target.stored_sha256(org, key).await {
                Ok(Some(stored)) if stored == sha => Ok(true),
                Ok(_) => {
                    tracing::error!(org_id = %org, key, error = %e, "writing an audit object failed; its events stay in the spool");
                    Ok(false)
                }
                Err(e2) => Err(Error::internal(format!(
                    "writing audit object {key} failed ({e}) and its state is unknown ({e2})"
                ))),
            },
        }
    }

    /// Deletes delivered segment files and syncs the directory.
    async fn delete_segments(&self, paths: Vec<PathBuf>) -> Result<()> {
        let dir = self.spool.dir().to_path_buf();
        blocking(move || {
            for p in &paths {
                match std::fs::remove_file(p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("audit flusher task: {e}")))?
        .map_err(|e| Error::internal(format!("audit flusher: {e}")))
}

/// Reads the planned segments, then the planned outbox entries: the grouped,
/// deduplicated events, the number of segment lines and the segment bytes
/// read.
fn read_groups(paths: &[PathBuf], outbox: Vec<Vec<u8>>) -> std::io::Result<(Groups, u64, u64)> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut groups = Groups::new();
    let (mut lines, mut bytes) = (0u64, 0u64);
    for path in paths {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %path.display(), "a planned audit segment is missing");
                continue;
            }
            Err(e) => return Err(e),
        };
        bytes += text.len() as u64;
        for raw in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            let rec: AuditRecord = match serde_json::from_slice(raw) {
                Ok(r) => r,
                Err(e) => {
                    // Only a torn last line of an abandoned segment (never acknowledged).
                    tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable audit spool line");
                    continue;
                }
            };
            group(&mut groups, &mut seen, rec, raw)?;
        }
    }
    for raw in &outbox {
        match serde_json::from_slice::<AuditRecord>(raw) {
            Ok(rec) => group(&mut groups, &mut seen, rec, raw)?,
            Err(e) => {
                // Written by this server from a serialized record; never expected.
                tracing::error!(error = %e, "skipping an unreadable audit outbox entry");
            }
        }
    }
    // Events in time order within an object: a write's outbox event was committed
    // before the response, a spooled event after it. Stable, so the order stays a pure
    // function of the plan.
    for items in groups
        .values_mut()
        .flat_map(|s| s.values_mut())
        .flat_map(|h| h.values_mut())
    {
        items.sort_by(|a, b| a.ts.cmp(&b.ts));
    }
    Ok((groups, lines, bytes))
}

/// Adds `rec` (spool line `raw`) to its group unless its `eventId` was seen.
fn group(
    groups: &mut Groups,
    seen: &mut HashSet<String>,
    rec: AuditRecord,
    raw: &[u8],
) -> std::io::Result<()> {
    if !seen.insert(rec.event_id().to_string()) {
        return Ok(());
    }
    let hour = hour_path(rec.timestamp());
    let (org, stream, event) = match &rec {
        AuditRecord::ControlPlane { org_id, event } => (
            org_id,
            "control-plane".to_string(),
            serde_json::to_vec(event)?,
        ),
        AuditRecord::DataPlane { org_id, event } => (
            org_id,
            format!("data-plane/{}", event.bucket_name),
            serde_json::to_vec(event)?,
        ),
    };
    groups
        .entry(org.clone())
        .or_default()
        .entry(stream)
        .or_default()
        .entry(hour)
        .or_default()
        .push(Item {
            ts: rec.timestamp().to_string(),
            event,
            record: raw.to_vec(),
        });
    Ok(())
}

/// `YYYY/MM/DD/HH` of an event timestamp (`YYYY-MM-DDTHH…`).
fn hour_path(ts: &str) -> String {
    let b = ts.as_bytes();
    let ok = b.len() >= 13
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && [0..4, 5..7, 8..10, 11..13]
            .iter()
            .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit));
    if ok {
        format!("{}/{}/{}/{}", &ts[0..4], &ts[5..7], &ts[8..10], &ts[11..13])
    } else {
        "0000/00/00/00".to_string()
    }
}

/// Flushes at start-up (replaying what a previous run left), then every `interval` or
/// when the spool asks (event count, size bound), until `shutdown`. Segments left at
/// shutdown are delivered by the next start.
pub async fn run(flusher: Arc<Flusher>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let wake = flusher.spool.wake();
    loop {
        match flusher.flush().await {
            Ok(s) if s.events > 0 || s.carried > 0 => {
                tracing::debug!(
                    events = s.events,
                    objects = s.objects,
                    carried = s.carried,
                    "audit events delivered"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "audit flush failed; the events stay in the spool");
                // Do not spin on a persistent failure.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::spool::{FullPolicy, SpoolConfig, default_flush_events};
    use super::*;
    use coffer_core::audit::{AuditResult, AuditSink, ControlPlaneEvent};
    use coffer_core::meta::MetaStore;
    use parking_lot::Mutex;

    #[test]
    fn hour_partitions() {
        assert_eq!(hour_path("2026-01-02T03:04:05.678Z"), "2026/01/02/03");
        assert_eq!(hour_path("bogus"), "0000/00/00/00");
    }

    /// An in-memory target; `fail_org` refuses that org's writes, `crash_after` fails
    /// every write (and existence check) after that many successful puts.
    #[derive(Default)]
    struct MemTarget {
        objects: Mutex<BTreeMap<(String, String), Vec<u8>>>,
        fail_org: Mutex<Option<String>>,
        crash_after: Mutex<Option<usize>>,
    }

    #[async_trait::async_trait]
    impl AuditTarget for MemTarget {
        async fn ensure_bucket(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn put(&self, org: &str, key: &str, body: Vec<u8>, _: &str) -> Result<()> {
            if self.fail_org.lock().as_deref() == Some(org) {
                return Err(Error::internal("injected"));
            }
            if let Some(n) = self.crash_after.lock().as_mut() {
                if *n == 0 {
                    return Err(Error::internal("crashed"));
                }
                *n -= 1;
            }
            self.objects
                .lock()
                .insert((org.to_string(), key.to_string()), body);
            Ok(())
        }
        async fn stored_sha256(&self, org: &str, key: &str) -> Result<Option<String>> {
            if self.crash_after.lock().is_some_and(|n| n == 0) {
                return Err(Error::internal("crashed"));
            }
            Ok(self
                .objects
                .lock()
                .get(&(org.to_string(), key.to_string()))
                .map(|b| chain::sha256_hex(b)))
        }
    }

    impl MemTarget {
        /// Every delivered event id, with repetitions.
        fn event_ids(&self) -> Vec<String> {
            let mut out = Vec::new();
            for b in self.objects.lock().values() {
                for line in chain::decode(b).unwrap().events {
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                    out.push(v["eventId"].as_str().unwrap().to_string());
                }
            }
            out
        }
        fn verify(&self) -> chain::Report {
            chain::verify(
                self.objects
                    .lock()
                    .iter()
                    .map(|((o, k), b)| (format!("{o}:{k}"), b.clone()))
                    .map(|(k, b)| (k.split_once(':').unwrap().1.to_string(), b))
                    .collect(),
            )
        }
    }

    fn rec(org: &str, i: usize) -> AuditRecord {
        AuditRecord::ControlPlane {
            org_id: org.into(),
            event: ControlPlaneEvent {
                event_id: format!("{org}-e{i}"),
                action: "cwobject:CreateAccessKey".into(),
                principal: "coreweave/u".into(),
                principal_role: "admin".into(),
                timestamp: "2026-01-02T03:04:05.000Z".into(),
                identifier: String::new(),
                duration_seconds: 0.0,
                org_id: org.into(),
                source_ip: String::new(),
                request_id: String::new(),
                result: AuditResult::Allowed,
            },
        }
    }

    fn open(dir: &Path, target: Arc<MemTarget>) -> Flusher {
        let spool = Spool::open(SpoolConfig {
            dir: dir.to_path_buf(),
            max_bytes: 1 << 30,
            flush_events: default_flush_events(),
            full_policy: FullPolicy::Block,
            drains_outbox: false,
        })
        .unwrap();
        Flusher::open(spool, target, "0a1b2c3d4e5f".into()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_interrupted_flush_is_repeated_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let target = Arc::new(MemTarget::default());
        let f = open(dir.path(), target.clone());
        // 25,000 events of one stream: three objects of ≤ 10,000.
        for batch in (0..25_000).collect::<Vec<_>>().chunks(2_500) {
            let appends = batch.iter().map(|i| f.spool.record(rec("orgaaa", *i)));
            for r in futures::future::join_all(appends).await {
                r.unwrap();
            }
        }
        // The "crash": one object is written, then the store is unreachable.
        *target.crash_after.lock() = Some(1);
        assert!(f.flush().await.is_err(), "the plan stays pending");
        drop(f);
        *target.crash_after.lock() = None;
        let f = open(dir.path(), target.clone());
        f.spool.record(rec("orgaaa", 25_000)).await.unwrap();
        let s = f.flush().await.unwrap();
        assert_eq!(s.objects, 3, "the pending plan is finished first");
        f.flush().await.unwrap();
        let ids = target.event_ids();
        let unique: HashSet<_> = ids.iter().collect();
        assert_eq!(ids.len(), 25_001, "every event once");
        assert_eq!(unique.len(), 25_001);
        assert_eq!(target.objects.lock().len(), 4);
        let r = target.verify();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(f.spool.stats().events.load(Ordering::SeqCst), 0);
    }

    fn rec_at(org: &str, i: usize) -> AuditRecord {
        let mut r = rec(org, i);
        if let AuditRecord::ControlPlane { event, .. } = &mut r {
            event.timestamp = format!("2026-01-02T03:04:{i:02}.000Z");
        }
        r
    }

    async fn open_with_outbox(
        dir: &Path,
        target: Arc<MemTarget>,
        meta: &Arc<dyn MetaStore>,
    ) -> Flusher {
        let f = open(dir, target).with_outbox(meta.clone());
        f.recover_outbox().await.unwrap();
        f
    }

    /// Commits `r` in the outbox with a write, as an audited PUT does.
    async fn outbox_put(f: &Flusher, meta: &Arc<dyn MetaStore>, bucket: &str, r: &AuditRecord) {
        let event = serde_json::to_vec(r).unwrap();
        let len = event.len() as u64;
        let o = coffer_store::conformance::inline_obj(bucket, r.event_id(), b"v");
        meta.put_object_audited(&o, &coffer_core::model::WriteCondition::None, None, event)
            .await
            .unwrap();
        f.spool.outboxed(len);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn outbox_entries_are_delivered_once_in_time_order_with_spooled_events() {
        let dir = tempfile::tempdir().unwrap();
        let target = Arc::new(MemTarget::default());
        let meta: Arc<dyn MetaStore> = Arc::new(coffer_store::testing::temp_sqlite());
        let (_, bucket) = coffer_store::conformance::fresh_bucket(&*meta).await;
        let f = open_with_outbox(dir.path(), target.clone(), &meta).await;
        // Even events through the spool, odd ones committed with writes.
        for i in 0..6 {
            let r = rec_at("orgaaa", i);
            if i % 2 == 0 {
                f.spool.record(r).await.unwrap();
            } else {
                outbox_put(&f, &meta, &bucket, &r).await;
            }
        }
        assert_eq!(f.spool.stats().events.load(Ordering::SeqCst), 6);
        // The "crash": the store fails before anything is written; the plan is pending.
        *target.crash_after.lock() = Some(0);
        assert!(f.flush().await.is_err());
        drop(f);
        *target.crash_after.lock() = None;
        let f = open_with_outbox(dir.path(), target.clone(), &meta).await;
        assert_eq!(f.spool.stats().events.load(Ordering::SeqCst), 6);
        outbox_put(&f, &meta, &bucket, &rec_at("orgaaa", 6)).await;
        let s = f.flush().await.unwrap();
        assert_eq!((s.objects, s.events), (1, 6), "the pending plan, exactly");
        let s = f.flush().await.unwrap();
        assert_eq!((s.objects, s.events), (1, 1));
        assert_eq!(f.flush().await.unwrap(), FlushStats::default());
        let ids = target.event_ids();
        let want: Vec<String> = (0..7).map(|i| format!("orgaaa-e{i}")).collect();
        assert_eq!(ids, want, "every event once, in time order");
        assert!(target.verify().problems.is_empty());
        assert_eq!(meta.audit_outbox_depth().await.unwrap(), (0, 0));
        assert_eq!(f.spool.stats().events.load(Ordering::SeqCst), 0);
        assert_eq!(f.spool.stats().bytes.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn outbox_entries_delivered_before_a_crash_are_trimmed_not_redelivered() {
        let dir = tempfile::tempdir().unwrap();
        let target = Arc::new(MemTarget::default());
        let meta: Arc<dyn MetaStore> = Arc::new(coffer_store::testing::temp_sqlite());
        let (_, bucket) = coffer_store::conformance::fresh_bucket(&*meta).await;
        let f = open_with_outbox(dir.path(), target.clone(), &meta).await;
        for i in 0..4 {
            outbox_put(&f, &meta, &bucket, &rec_at("orgaaa", i)).await;
        }
        drop(f);
        // A crash between the journal commit and the trim: the journal says the first
        // three are delivered, the outbox still holds them.
        let entries = meta.read_audit_outbox(0, None, u64::MAX).await.unwrap();
        let state = FlushState {
            outbox_delivered: entries[2].0,
            ..FlushState::default()
        };
        store_state(dir.path(), &state).unwrap();
        let f = open_with_outbox(dir.path(), target.clone(), &meta).await;
        assert_eq!(meta.audit_outbox_depth().await.unwrap().0, 1);
        assert_eq!(f.spool.stats().events.load(Ordering::SeqCst), 1);
        let s = f.flush().await.unwrap();
        assert_eq!(s.events, 1);
        assert_eq!(target.event_ids(), ["orgaaa-e3"]);
        assert_eq!(f.spool.stats().events.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_org_is_carried_over_and_does_not_block_others() {
        let dir = tempfile::tempdir().unwrap();
        let target = Arc::new(MemTarget::default());
        *target.fail_org.lock() = Some("orgbad".into());
        let f = open(dir.path(), target.clone());
        for i in 0..10 {
            f.spool.record(rec("orgbad", i)).await.unwrap();
            f.spool.record(rec("orgok1", i)).await.unwrap();
        }
        let s = f.flush().await.unwrap();
        assert_eq!((s.events, s.carried), (10, 10));
        assert_eq!(target.event_ids().len(), 10);
        assert_eq!(f.spool.stats().events.load(Ordering::SeqCst), 10);
        // Still failing: carried again, nothing lost, other orgs keep flowing.
        f.spool.record(rec("orgok1", 10)).await.unwrap();
        let s = f.flush().await.unwrap();
        assert_eq!((s.events, s.carried), (1, 10));
        drop(f);
        // After a restart the carried events are still there and are delivered once.
        *target.fail_org.lock() = None;
        let f = open(dir.path(), target.clone());
        let s = f.flush().await.unwrap();
        assert_eq!((s.events, s.carried), (10, 0));
        let ids = target.event_ids();
        assert_eq!(ids.len(), 21);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 21);
        assert!(target.verify().problems.is_empty());
    }
}
