//! `FsBlobStore` on a directory shared by several nodes: per-node temp directories,
//! one process per node id, and recovery that never touches another node's young
//! temp files or unreferenced blobs younger than the safe age.

use bytes::Bytes;
use coffer_core::blob::BlobStore;
use coffer_store::FsBlobStore;
use std::collections::HashSet;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_a_blob_directory_safely() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let a = FsBlobStore::open_shared(root, "node-a").unwrap();
    let b = FsBlobStore::open_shared(root, "node-b").unwrap();
    assert!(
        FsBlobStore::open_shared(root, "node-a").is_err(),
        "a second process with the same node id is refused"
    );
    assert!(FsBlobStore::open_shared(root, "../x").is_err());

    // A write in progress on A, and a committed blob on B that nothing references yet
    // (as between blob commit and metadata commit).
    let mut w = a.create().await.unwrap();
    w.write(Bytes::from_static(b"in flight")).await.unwrap();
    let mut wb = b.create().await.unwrap();
    wb.write(Bytes::from_static(b"young")).await.unwrap();
    let young = wb.commit().await.unwrap();
    assert_eq!(
        std::fs::read_dir(root.join("tmp/node-a")).unwrap().count(),
        1
    );

    // B restarts: its recovery leaves A's temp file and the young blob alone.
    drop(b);
    let b = FsBlobStore::open_shared(root, "node-b").unwrap();
    let (temps, orphans) = b.recover(&HashSet::new(), HOUR).await.unwrap();
    assert_eq!((temps, orphans), (0, 0));
    assert_eq!(
        std::fs::read_dir(root.join("tmp/node-a")).unwrap().count(),
        1
    );
    let id = w.commit().await.unwrap();
    let mut got = Vec::new();
    let mut s = b.read(&id, 0, 9).await.unwrap();
    while let Some(c) = futures::StreamExt::next(&mut s).await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(got, b"in flight", "a blob written on A reads on B");

    // A leftover of a crashed A (a temp file in A's own directory) goes when A restarts,
    // whatever its age; a referenced blob never goes.
    std::fs::write(
        root.join("tmp/node-a/0123456789abcdef0123456789abcdef.tmp"),
        b"x",
    )
    .unwrap();
    drop(a);
    let a = FsBlobStore::open_shared(root, "node-a").unwrap();
    let referenced: HashSet<String> = [id.clone()].into();
    let (temps, orphans) = a.recover(&referenced, HOUR).await.unwrap();
    assert_eq!((temps, orphans), (1, 0));

    // Once old enough, an unreferenced blob is collected by any node.
    let (_, orphans) = a.recover(&referenced, Duration::ZERO).await.unwrap();
    assert_eq!(orphans, 1);
    assert!(b.read(&young, 0, 5).await.is_err());
    assert!(b.read(&id, 0, 9).await.is_ok());
}
