//! `FsBlobStore`: commit/read/delete/recover, and that unfinished writers leave nothing.

use bytes::Bytes;
use coffer_core::blob::{BlobStore, ByteStream};
use coffer_store::FsBlobStore;
use futures::StreamExt;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

async fn collect(s: ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = s.map(|c| c.unwrap()).collect().await;
    assert!(chunks.iter().all(|c| c.len() <= 1 << 20), "chunks ≤ 1 MiB");
    chunks.concat()
}

fn blob_path(root: &Path, id: &str) -> std::path::PathBuf {
    root.join(&id[0..2]).join(&id[2..4]).join(id)
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Writes `data` in chunks of `chunk` bytes and commits.
async fn put(store: &FsBlobStore, data: &[u8], chunk: usize) -> String {
    let mut w = store.create().await.unwrap();
    for c in data.chunks(chunk.max(1)) {
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    w.commit().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_commit_read_ranges_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();

    for (size, chunk) in [
        (0usize, 1usize),
        (1, 1),
        (1000, 7),
        (3 << 20, 65536),
        ((5 << 20) + 3, 1 << 20),
    ] {
        let data = pattern(size);
        let id = put(&store, &data, chunk).await;
        assert_eq!(id.len(), 32);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let path = blob_path(dir.path(), &id);
        assert_eq!(std::fs::read(&path).unwrap(), data, "size {size}");

        assert_eq!(
            collect(store.read(&id, 0, size as u64).await.unwrap()).await,
            data
        );
        for (off, len) in [
            (0, 0),
            (0, 1),
            (1, 10),
            (size / 3, size / 2),
            (size.saturating_sub(5), 5),
        ] {
            if off + len <= size {
                let got = collect(store.read(&id, off as u64, len as u64).await.unwrap()).await;
                assert_eq!(got, &data[off..off + len], "size {size} range {off}+{len}");
            }
        }
        // Reading past the end is an error, not a short read.
        assert!(store.read(&id, size as u64, 1).await.is_err());

        store.delete(&id).await.unwrap();
        assert!(!path.exists());
        store.delete(&id).await.unwrap(); // absent: not an error
        assert!(matches!(
            store.read(&id, 0, 0).await,
            Err(coffer_core::Error::NotFound(_))
        ));
    }
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
    // Malformed ids never reach the filesystem.
    assert!(store.read("../../etc/passwd", 0, 1).await.is_err());
    assert!(store.delete("../x").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_writers_leave_no_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    let tmp = dir.path().join("tmp");

    let mut w = store.create().await.unwrap();
    w.write(Bytes::from(pattern(3 << 20))).await.unwrap();
    assert_eq!(count_files(&tmp), 1);
    w.abort().await;
    assert_eq!(count_files(&tmp), 0);

    let mut w = store.create().await.unwrap();
    w.write(Bytes::from(pattern(3 << 20))).await.unwrap();
    drop(w);
    // Removal on drop runs on the blocking pool.
    let deadline = Instant::now() + Duration::from_secs(5);
    while count_files(&tmp) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(count_files(&tmp), 0);

    // Nothing but tmp/ exists: no blob was ever made visible.
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("tmp")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_removes_temps_and_unreferenced_old_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    let keep = put(&store, b"keep", 4).await;
    let orphan = put(&store, b"orphan", 4).await;
    // A crashed write's temp file, and files that are not ours.
    std::fs::write(dir.path().join("tmp").join("deadbeef.tmp"), b"partial").unwrap();
    let stranger = blob_path(dir.path(), &orphan).with_file_name("README");
    std::fs::write(&stranger, b"not a blob").unwrap();

    let referenced: HashSet<String> = [keep.clone()].into();
    // Young files survive a sweep with a long min_age (they may be in-flight writes).
    assert_eq!(
        store
            .recover(&referenced, Duration::from_secs(3600))
            .await
            .unwrap(),
        (0, 0)
    );
    assert!(blob_path(dir.path(), &orphan).exists());

    assert_eq!(
        store.recover(&referenced, Duration::ZERO).await.unwrap(),
        (1, 1)
    );
    assert!(blob_path(dir.path(), &keep).exists());
    assert!(!blob_path(dir.path(), &orphan).exists());
    assert!(stranger.exists(), "unknown files are left alone");
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
    assert_eq!(
        store.recover(&referenced, Duration::ZERO).await.unwrap(),
        (0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let data = pattern(1000 + i * 4099);
                let id = put(&store, &data, 4096).await;
                (id, data)
            })
        })
        .collect();
    for t in tasks {
        let (id, data) = t.await.unwrap();
        let got = collect(store.read(&id, 0, data.len() as u64).await.unwrap()).await;
        assert_eq!(got, data);
    }
}

/// 64 MiB write (page cache speed before the fsync) and read. Run with
/// `cargo test -p coffer-store --release --test fs_blob -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_64mib_blob() {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    let chunk = Bytes::from(pattern(1 << 20));
    const MIB: usize = 64;
    for chunk_size in [64 << 10, 1 << 20] {
        for _ in 0..3 {
            let t0 = Instant::now();
            let mut w = store.create().await.unwrap();
            for _ in 0..MIB {
                let mut off = 0;
                while off < chunk.len() {
                    w.write(chunk.slice(off..off + chunk_size)).await.unwrap();
                    off += chunk_size;
                }
            }
            let t1 = Instant::now();
            let id = w.commit().await.unwrap();
            let t2 = Instant::now();
            let mut s = store.read(&id, 0, (MIB << 20) as u64).await.unwrap();
            let mut n = 0;
            while let Some(c) = s.next().await {
                n += c.unwrap().len();
            }
            let t3 = Instant::now();
            assert_eq!(n, MIB << 20);
            let rate = |d: Duration| MIB as f64 / d.as_secs_f64();
            println!(
                "64 MiB, {} KiB chunks: write {:.0} MiB/s (before commit), commit(fsync+rename) {:.1} ms, \
                 write+commit {:.0} MiB/s, read {:.0} MiB/s",
                chunk_size >> 10,
                rate(t1 - t0),
                (t2 - t1).as_secs_f64() * 1e3,
                rate(t2 - t0),
                rate(t3 - t2)
            );
            store.delete(&id).await.unwrap();
        }
    }
}
