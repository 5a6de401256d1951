//! The audit flusher: turns sealed spool segments into gzip JSON Lines objects in each
//! org's audit bucket, then deletes the segments.
//!
//! Object keys: `control-plane/YYYY/MM/DD/HH/<node>-<seq>.jsonl.gz` and
//! `data-plane/YYYY/MM/DD/HH/<bucket>/<node>-<seq>.jsonl.gz`, where the hour is the
//! event's (UTC) and `<seq>` is the number of the first segment of the flush.
//!
//! Invariants (exactly-once delivery without a transaction across the object store
//! and the spool):
//! * Segments are deleted only after every object of the flush was written (the
//!   object write path is durable before it returns).
//! * A flush always starts at the lowest remaining segment and takes a prefix of the
//!   sealed segments in order, so a flush that is retried after a crash or an error has
//!   the same first segment and therefore the same keys: its objects replace the earlier
//!   attempt's objects with a superset of their events, never adding a second copy.
//! * Within a flush, events are deduplicated by `eventId`.
//! * Flushes are serialized (one at a time per process).

use super::spool::{Spool, list_segments, write_watermark};
use coffer_core::audit::{AuditRecord, AuditService};
use coffer_core::blob::ByteStream;
use coffer_core::ids::audit_bucket_name;
use coffer_core::model::{ObjectHeaders, WriteCondition};
use coffer_core::objects::{ChecksumInput, ObjectService, PutObjectInput};
use coffer_core::{Error, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Most segment bytes one flush reads (bounds its memory); the rest waits for the next.
const MAX_FLUSH_BYTES: u64 = 64 << 20;

pub struct Flusher {
    spool: Arc<Spool>,
    objects: Arc<ObjectService>,
    audit: Arc<AuditService>,
    /// `<node>` of the object keys.
    node: String,
    running: tokio::sync::Mutex<()>,
}

/// What one flush delivered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushStats {
    pub segments: usize,
    pub events: usize,
    pub objects: usize,
}

impl Flusher {
    pub fn new(
        spool: Arc<Spool>,
        objects: Arc<ObjectService>,
        audit: Arc<AuditService>,
        node: String,
    ) -> Self {
        Self {
            spool,
            objects,
            audit,
            node,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Seals the open segment and delivers every sealed segment (up to the per-flush
    /// bound). Events acknowledged before the call are delivered by it unless the bound
    /// cut it short.
    pub async fn flush(&self) -> Result<FlushStats> {
        let _one_at_a_time = self.running.lock().await;
        let boundary = self.spool.seal().await?;
        let dir = self.spool.dir().to_path_buf();
        let segments = tokio::task::spawn_blocking(move || list_segments(&dir))
            .await
            .map_err(|e| Error::internal(format!("listing the audit spool: {e}")))?
            .map_err(|e| Error::internal(format!("listing the audit spool: {e}")))?;
        let mut batch = Vec::new();
        let mut total = 0u64;
        for (seq, path, len) in segments.into_iter().filter(|(s, _, _)| *s < boundary) {
            if !batch.is_empty() && total + len > MAX_FLUSH_BYTES {
                break;
            }
            total += len;
            batch.push((seq, path, len));
        }
        let Some(&(first_seq, _, _)) = batch.first() else {
            return Ok(FlushStats::default());
        };
        let paths: Vec<_> = batch.iter().map(|(_, p, _)| p.clone()).collect();
        let groups = tokio::task::spawn_blocking(move || read_groups(&paths))
            .await
            .map_err(|e| Error::internal(format!("reading the audit spool: {e}")))??;

        let mut stats = FlushStats {
            segments: batch.len(),
            ..FlushStats::default()
        };
        let mut ensured: HashSet<String> = HashSet::new();
        for ((org_id, prefix), lines) in groups {
            if ensured.insert(org_id.clone()) {
                self.audit.ensure_bucket(&org_id).await?;
            }
            let key = format!("{prefix}/{}-{first_seq:012}.jsonl.gz", self.node);
            stats.events += lines.len();
            let body = tokio::task::spawn_blocking(move || gzip_lines(&lines))
                .await
                .map_err(|e| Error::internal(format!("compressing audit events: {e}")))??;
            self.put(&audit_bucket_name(&org_id), &key, body).await?;
            stats.objects += 1;
        }

        // Every object is durable: the segments may go.
        let dir = self.spool.dir().to_path_buf();
        let freed: u64 = batch.iter().map(|(_, _, len)| len).sum();
        let last_seq = batch.last().map_or(first_seq, |(seq, _, _)| *seq);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            // Before any deletion: the numbers (and so the keys) are never reused.
            write_watermark(&dir, last_seq + 1)?;
            for (_, path, _) in &batch {
                std::fs::remove_file(path)?;
            }
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(|e| Error::internal(format!("removing flushed audit segments: {e}")))?
        .map_err(|e| Error::internal(format!("removing flushed audit segments: {e}")))?;
        self.spool.released(freed);
        Ok(stats)
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<()> {
        let len = body.len() as u64;
        let stream: ByteStream = Box::pin(futures::stream::once(async move {
            Ok::<_, std::io::Error>(bytes::Bytes::from(body))
        }));
        self.objects
            .put_object(PutObjectInput {
                bucket: bucket.to_string(),
                key: key.to_string(),
                body: stream,
                content_length: Some(len),
                content_md5: None,
                checksum: ChecksumInput::default(),
                headers: ObjectHeaders {
                    content_type: Some("application/gzip".to_string()),
                    ..ObjectHeaders::default()
                },
                user_metadata: BTreeMap::new(),
                tags: BTreeMap::new(),
                cond: WriteCondition::None,
            })
            .await
            .map(|_| ())
    }
}

/// (org, key prefix) → event lines (JSON, no newline), in spool order, deduplicated.
type Groups = BTreeMap<(String, String), Vec<Vec<u8>>>;

fn read_groups(paths: &[std::path::PathBuf]) -> Result<Groups> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut groups = Groups::new();
    for path in paths {
        let text = std::fs::read(path)
            .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
        for raw in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let rec: AuditRecord = match serde_json::from_slice(raw) {
                Ok(r) => r,
                Err(e) => {
                    // Only a torn last line of an abandoned segment (never acknowledged).
                    tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable audit spool line");
                    continue;
                }
            };
            if !seen.insert(rec.event_id().to_string()) {
                continue;
            }
            let hour = hour_path(rec.timestamp());
            let (org, prefix, line) = match &rec {
                AuditRecord::ControlPlane { org_id, event } => (
                    org_id,
                    format!("control-plane/{hour}"),
                    serde_json::to_vec(event),
                ),
                AuditRecord::DataPlane { org_id, event } => (
                    org_id,
                    format!("data-plane/{hour}/{}", event.bucket_name),
                    serde_json::to_vec(event),
                ),
            };
            let line =
                line.map_err(|e| Error::internal(format!("serializing an audit event: {e}")))?;
            groups.entry((org.clone(), prefix)).or_default().push(line);
        }
    }
    Ok(groups)
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

fn gzip_lines(lines: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    let io = |e: std::io::Error| Error::internal(format!("compressing audit events: {e}"));
    for line in lines {
        enc.write_all(line).map_err(io)?;
        enc.write_all(b"\n").map_err(io)?;
    }
    enc.finish().map_err(io)
}

/// Flushes at start-up (replaying what a previous run left), then every `interval` or
/// when the spool asks (event count, size bound), until `shutdown`. Segments left at
/// shutdown are delivered by the next start.
pub async fn run(flusher: Arc<Flusher>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let wake = flusher.spool.wake();
    loop {
        match flusher.flush().await {
            Ok(s) if s.events > 0 => {
                tracing::debug!(
                    events = s.events,
                    objects = s.objects,
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
    use super::*;

    #[test]
    fn hour_partitions() {
        assert_eq!(hour_path("2026-01-02T03:04:05.678Z"), "2026/01/02/03");
        assert_eq!(hour_path("bogus"), "0000/00/00/00");
    }

    #[test]
    fn gzip_round_trip() {
        let gz = gzip_lines(&[b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
            .unwrap();
        assert_eq!(out, "{\"a\":1}\n{\"b\":2}\n");
    }
}
