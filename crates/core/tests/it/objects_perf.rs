//! Throughput of the write pipeline against its ceilings, measured in one run:
//! MD5 alone, durable file writes alone, and a PUT through `ObjectService` (which
//! should approach the slower of the two, not their sum).
//!
//! Run in release: `cargo test --release -p coffer-core --test it objects_perf:: -- --ignored --nocapture`

use async_trait::async_trait;
use bytes::Bytes;
use coffer_core::blob::{BlobStore, BlobWriter, ByteStream};
use coffer_core::checksum::{ChecksumAlgorithm, ContentHasher};
use coffer_core::clock::SystemClock;
use coffer_core::error::{Error, Result};
use coffer_core::model::*;
use coffer_core::objects::*;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const SIZE: usize = 64 << 20;
const RUNS: usize = 5;

/// Durable file blobs the way a filesystem store writes them: each chunk written on the
/// blocking pool; commit = fsync → rename → directory fsync.
struct FileBlobs {
    dir: PathBuf,
    next: AtomicU64,
    /// `Some(n)`: `fdatasync` after every n bytes, so the commit's fsync has little left.
    flush_every: Option<u64>,
}

struct FileWriter {
    file: Option<std::fs::File>,
    flush_every: Option<u64>,
    unflushed: u64,
    tmp: PathBuf,
    dest: PathBuf,
    dir: PathBuf,
    id: String,
}

fn io(e: std::io::Error) -> Error {
    Error::from(e)
}

fn join(e: tokio::task::JoinError) -> Error {
    Error::internal(e)
}

#[async_trait]
impl BlobWriter for FileWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let mut f = self.file.take().ok_or_else(|| Error::internal("closed"))?;
        self.unflushed += chunk.len() as u64;
        let flush = self.flush_every.is_some_and(|n| self.unflushed >= n);
        if flush {
            self.unflushed = 0;
        }
        let (f, r) = tokio::task::spawn_blocking(move || {
            let mut r = f.write_all(&chunk);
            if flush && r.is_ok() {
                r = f.sync_data();
            }
            (f, r)
        })
        .await
        .map_err(join)?;
        self.file = Some(f);
        r.map_err(io)
    }
    async fn commit(mut self: Box<Self>) -> Result<String> {
        let f = self.file.take().ok_or_else(|| Error::internal("closed"))?;
        let (tmp, dest, dir, id) = (
            self.tmp.clone(),
            self.dest.clone(),
            self.dir.clone(),
            self.id.clone(),
        );
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            f.sync_all()?;
            std::fs::rename(&tmp, &dest)?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(join)?
        .map_err(io)?;
        Ok(id)
    }
    async fn abort(mut self: Box<Self>) {
        self.file = None;
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[async_trait]
impl BlobStore for FileBlobs {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        let id = format!("{:032x}", self.next.fetch_add(1, Ordering::SeqCst));
        let tmp = self.dir.join(format!("{id}.tmp"));
        let file = std::fs::File::create(&tmp).map_err(io)?;
        Ok(Box::new(FileWriter {
            file: Some(file),
            flush_every: self.flush_every,
            unflushed: 0,
            dest: self.dir.join(&id),
            tmp,
            dir: self.dir.clone(),
            id,
        }))
    }
    async fn read(&self, blob_id: &str, offset: u64, len: u64) -> Result<ByteStream> {
        let all = std::fs::read(self.dir.join(blob_id)).map_err(io)?;
        let b = Bytes::from(all).slice(offset as usize..(offset + len) as usize);
        Ok(Box::pin(futures::stream::once(async move { Ok(b) })))
    }
    async fn delete(&self, blob_id: &str) -> Result<()> {
        let _ = std::fs::remove_file(self.dir.join(blob_id));
        Ok(())
    }
    async fn recover(&self, _: &HashSet<String>, _: std::time::Duration) -> Result<(u64, u64)> {
        Ok((0, 0))
    }
}

fn payload() -> Bytes {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    Bytes::from(
        (0..SIZE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect::<Vec<u8>>(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn mbps(secs: f64) -> f64 {
    SIZE as f64 / secs / 1e6
}

async fn put_once(
    svc: &ObjectService,
    data: &Bytes,
    key: &str,
    alg: Option<ChecksumAlgorithm>,
) -> f64 {
    let pieces: Vec<std::io::Result<Bytes>> = (0..SIZE)
        .step_by(64 * 1024)
        .map(|i| Ok(data.slice(i..i + 64 * 1024)))
        .collect();
    let input = PutObjectInput {
        bucket: "bkt".into(),
        key: key.into(),
        body: Box::pin(futures::stream::iter(pieces)),
        content_length: Some(SIZE as u64),
        content_md5: None,
        checksum: ChecksumInput {
            algorithm: alg,
            ..ChecksumInput::default()
        },
        headers: ObjectHeaders::default(),
        user_metadata: BTreeMap::new(),
        tags: BTreeMap::new(),
        cond: WriteCondition::None,
        audit_event: None,
        bucket_record: None,
        lock: Default::default(),
        access: Default::default(),
        sse: Default::default(),
    };
    let t = Instant::now();
    svc.put_object(input).await.unwrap();
    t.elapsed().as_secs_f64()
}

/// CPU seconds (user + system) used by this process so far.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

#[derive(Default)]
struct Sample {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Sample {
    fn line(&self, label: &str) -> String {
        let wall = median(self.wall.clone());
        let cpu = median(self.cpu.clone());
        format!(
            "{label:16} {:6.0} MB/s  {:5.2} CPU-s/GiB",
            mbps(wall),
            cpu / (SIZE as f64 / (1u64 << 30) as f64)
        )
    }
}

async fn measure<F, Fut>(s: &mut Sample, f: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (t, c) = (Instant::now(), cpu_secs());
    f().await;
    s.wall.push(t.elapsed().as_secs_f64());
    s.cpu.push(cpu_secs() - c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement; run in release"]
async fn single_stream_put_is_bounded_by_the_slowest_stage() {
    let data = payload();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let blobs = Arc::new(FileBlobs {
        dir: dir.path().to_path_buf(),
        next: AtomicU64::new(1),
        flush_every: None,
    });
    let meta = Arc::new(coffer_store::testing::temp_sqlite());
    let svc = ObjectService::new(
        meta,
        blobs.clone(),
        Arc::new(SystemClock),
        ObjectConfig::default(),
    );
    svc.create_bucket("org001", "bkt", None).await.unwrap();
    let flushing = Arc::new(FileBlobs {
        dir: dir.path().to_path_buf(),
        next: AtomicU64::new(1 << 40),
        flush_every: Some(8 << 20),
    });
    let meta = Arc::new(coffer_store::testing::temp_sqlite());
    let svc_flushing = ObjectService::new(
        meta,
        flushing,
        Arc::new(SystemClock),
        ObjectConfig::default(),
    );
    svc_flushing
        .create_bucket("org001", "bkt", None)
        .await
        .unwrap();
    let mut put_flushing = Sample::default();

    let configs = [
        ("PUT (md5)", None),
        ("PUT +crc32c", Some(ChecksumAlgorithm::Crc32c)),
        ("PUT +crc64nvme", Some(ChecksumAlgorithm::Crc64Nvme)),
        ("PUT +sha256", Some(ChecksumAlgorithm::Sha256)),
    ];
    let (mut md5, mut disk, mut cached) = (Sample::default(), Sample::default(), Sample::default());
    let mut puts: Vec<Sample> = configs.iter().map(|_| Sample::default()).collect();
    for _ in 0..RUNS {
        measure(&mut md5, || async {
            let mut h = ContentHasher::new(true, &[]);
            for c in data.chunks(1 << 20) {
                h.update(c);
            }
            std::hint::black_box(h.finish());
        })
        .await;
        measure(&mut cached, || async {
            let mut w = blobs.create().await.unwrap();
            for i in (0..SIZE).step_by(1 << 20) {
                w.write(data.slice(i..i + (1 << 20))).await.unwrap();
            }
            w.abort().await;
        })
        .await;
        measure(&mut disk, || async {
            let mut w = blobs.create().await.unwrap();
            for i in (0..SIZE).step_by(1 << 20) {
                w.write(data.slice(i..i + (1 << 20))).await.unwrap();
            }
            let id = w.commit().await.unwrap();
            blobs.delete(&id).await.unwrap();
        })
        .await;
        for (i, (_, alg)) in configs.iter().enumerate() {
            let (t, c) = (Instant::now(), cpu_secs());
            let wall = put_once(&svc, &data, "k", *alg).await;
            let _ = t;
            puts[i].wall.push(wall);
            puts[i].cpu.push(cpu_secs() - c);
        }
        let c = cpu_secs();
        put_flushing
            .wall
            .push(put_once(&svc_flushing, &data, "k", None).await);
        put_flushing.cpu.push(cpu_secs() - c);
    }
    let (m, d) = (median(md5.wall.clone()), median(disk.wall.clone()));
    let fsync_tail = d - median(cached.wall.clone());
    let mut algs = Vec::new();
    for alg in ChecksumAlgorithm::ALL {
        let mut s = Sample::default();
        for _ in 0..RUNS {
            measure(&mut s, || async {
                let mut h = ContentHasher::new(false, &[alg]);
                for c in data.chunks(1 << 20) {
                    h.update(c);
                }
                std::hint::black_box(h.finish());
            })
            .await;
        }
        algs.push(s.line(&format!("{} alone", alg.as_str().to_ascii_lowercase())));
    }
    let mut report = vec![
        md5.line("md5 alone"),
        cached.line("page-cache write"),
        disk.line("durable write"),
        format!("{:16} {:6.0} MB/s", "md5 + write", mbps(m + d)),
        format!("{:16} {:6.0} MB/s", "md5 + fsync", mbps(m + fsync_tail)),
    ];
    report.extend(algs);
    for (s, (label, _)) in puts.iter().zip(configs) {
        report.push(s.line(label));
    }
    report.push(put_flushing.line("PUT, fdatasync/8M"));
    println!(
        "64 MiB single-stream PUT, medians of {RUNS}:\n  {}",
        report.join("\n  ")
    );
    let plain = median(puts[0].wall.clone());
    let flushed = median(put_flushing.wall.clone());
    // Hashing overlaps the writes; what remains serial is commit's fsync of whatever the
    // store has not flushed yet. So: PUT ≈ md5 + fsync tail, well under md5 + write, and
    // with a store that flushes as it goes, close to md5 alone.
    assert!(
        plain < (m + d) * 1.05,
        "put {plain:.3}s vs md5 {m:.3}s + write {d:.3}s"
    );
    assert!(
        flushed < (m + d) * 0.95,
        "put {flushed:.3}s vs md5 {m:.3}s + write {d:.3}s"
    );
}
