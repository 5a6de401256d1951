//! Runs the `MetaStore` conformance suite against every backend in this crate.

use coffer_core::meta::MetaStore;
use coffer_store::{MemMetaStore, SqliteMetaStore, conformance};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    conformance::run_all(Arc::new(MemMetaStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let store: Arc<dyn MetaStore> = Arc::new(SqliteMetaStore::open(&path).unwrap());
    conformance::run_all(store.clone()).await;
    // The suite must also pass on a non-empty database, and concurrently with itself.
    futures::join!(
        conformance::run_all(store.clone()),
        conformance::run_all(store.clone())
    );
    drop(store);
    // ... and after reopening the same file.
    conformance::run_all(Arc::new(SqliteMetaStore::open(&path).unwrap())).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_store_conforms_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open_with_readers(&dir.path().join("m.db"), 1).unwrap();
    conformance::run_all(Arc::new(store)).await;
}
