//! `FsBlobStore`: commit/read/delete/recover, and that unfinished writers leave nothing.

use bytes::Bytes;
use coffer_core::blob::{BlobStore, ByteStream};
use coffer_core::integrity::{self, Check};
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
        let file = std::fs::read(&path).unwrap();
        assert_eq!(&file[..size], &data[..], "size {size}");
        assert_eq!(
            file.len() as u64,
            size as u64 + integrity::trailer_len(size as u64),
            "data + integrity trailer"
        );

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
/// `cargo test -p coffer-store --release --test it fs_blob:: -- --ignored --nocapture`.
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

/// Reads the stream to its end: the bytes before the first error, and the error.
async fn drain(s: ByteStream) -> (Vec<u8>, Option<std::io::Error>) {
    let mut s = s;
    let mut got = Vec::new();
    while let Some(c) = s.next().await {
        match c {
            Ok(b) => got.extend_from_slice(&b),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x80;
    std::fs::write(path, b).unwrap();
}

fn is_corrupted(e: &coffer_core::Error) -> bool {
    matches!(e, coffer_core::Error::Corrupted(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_blocks_are_never_yielded() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    let block = integrity::BLOCK_SIZE;
    let size = 3 * (1 << 20) + 500;
    let data = pattern(size);
    let id = put(&store, &data, 100_000).await;
    assert_eq!(
        store.verify(&id, size as u64).await.unwrap(),
        Check::Verified
    );
    let path = blob_path(dir.path(), &id);
    let bad = 20 * block + 7; // second 1 MiB chunk
    flip(&path, bad);

    // Chunks (1 MiB) before the damaged block are served; the chunk holding it is not
    // yielded at all: the stream ends with `Corrupted`, naming the block.
    let (got, err) = drain(store.read(&id, 0, size as u64).await.unwrap()).await;
    assert_eq!(got.len(), 1 << 20);
    assert_eq!(&got[..], &data[..got.len()]);
    let err = coffer_core::Error::from(err.expect("stream error"));
    assert!(is_corrupted(&err), "{err}");
    assert!(
        err.to_string().contains(&format!("offset {}", 20 * block)),
        "{err}"
    );

    // A range touching the damaged block fails before any byte is returned.
    for (off, len) in [(bad, 1), (20 * block, block), (19 * block + 1, block)] {
        let e = store.read(&id, off, len).await.err().expect("refused");
        assert!(is_corrupted(&e), "{off}+{len}: {e}");
    }
    // Ranges outside it (unaligned, in the neighbouring blocks) read fine.
    for (off, len) in [
        (0u64, 10u64),
        (19 * block + 5, block - 5),
        (21 * block, 1000),
        (21 * block, (size as u64) - 21 * block),
    ] {
        let got = collect(store.read(&id, off, len).await.unwrap()).await;
        assert_eq!(
            &got[..],
            &data[off as usize..(off + len) as usize],
            "{off}+{len}"
        );
    }
    match store.verify(&id, size as u64).await.unwrap() {
        Check::Damaged { offset, .. } => assert_eq!(offset, 20 * block),
        other => panic!("{other:?}"),
    }

    // Damage in the trailer: a table entry fails its block, a footer fails every read.
    let id2 = put(&store, &data[..200_000], 4096).await;
    let p2 = blob_path(dir.path(), &id2);
    flip(&p2, 200_000 + 4); // second table entry
    assert!(is_corrupted(
        &store.read(&id2, block, 10).await.err().unwrap()
    ));
    assert_eq!(
        collect(store.read(&id2, 0, 10).await.unwrap()).await,
        &data[..10]
    );
    let id3 = put(&store, &data[..5000], 4096).await;
    let p3 = blob_path(dir.path(), &id3);
    let len3 = std::fs::metadata(&p3).unwrap().len();
    flip(&p3, len3 - 10);
    assert!(is_corrupted(&store.read(&id3, 0, 1).await.err().unwrap()));
    assert!(matches!(
        store.verify(&id3, 5000).await.unwrap(),
        Check::Damaged { .. }
    ));
    // Missing.
    store.delete(&id3).await.unwrap();
    assert_eq!(store.verify(&id3, 5000).await.unwrap(), Check::Missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_without_trailer_read_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    for size in [0usize, 10, 100_000, (2 << 20) + 9] {
        let data = pattern(size);
        let id = put(&store, &data, 65_536).await;
        // What the pre-trailer writer left: the data alone.
        let path = blob_path(dir.path(), &id);
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            collect(store.read(&id, 0, size as u64).await.unwrap()).await,
            data
        );
        if size > 10 {
            let got = collect(store.read(&id, 3, size as u64 - 4).await.unwrap()).await;
            assert_eq!(&got[..], &data[3..size - 1]);
        }
        assert_eq!(
            store.verify(&id, size as u64).await.unwrap(),
            Check::Unverified
        );
        // The record's size disagreeing with the file is damage.
        assert!(matches!(
            store.verify(&id, size as u64 + 1).await.unwrap(),
            Check::Damaged { .. }
        ));
    }
}
