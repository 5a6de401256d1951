//! Runs the `MetaStore` conformance suite against every backend in this crate.

use coffer_core::meta::MetaStore;
use coffer_store::{MemMetaStore, PgMetaStore, SqliteMetaStore, conformance, postgres};
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

/// PostgreSQL: the same suite, on a fresh database, then on the same non-empty database
/// twice concurrently through two stores (two "nodes" with their own pools), then after
/// reconnecting (migrations are idempotent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let Some(admin) = postgres::testing::test_server_url() else {
        return;
    };
    let url = postgres::testing::fresh_database(&admin).await.unwrap();
    let (a, b) = futures::join!(PgMetaStore::connect(&url), PgMetaStore::connect(&url));
    let (a, b): (Arc<dyn MetaStore>, Arc<dyn MetaStore>) =
        (Arc::new(a.unwrap()), Arc::new(b.unwrap()));
    conformance::run_all(a.clone()).await;
    futures::join!(
        conformance::run_all(a.clone()),
        conformance::run_all(b.clone())
    );
    drop((a, b));
    conformance::run_all(Arc::new(PgMetaStore::connect(&url).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_a_database_from_the_future() {
    let Some(admin) = postgres::testing::test_server_url() else {
        return;
    };
    let url = postgres::testing::fresh_database(&admin).await.unwrap();
    let s = PgMetaStore::connect(&url).await.unwrap();
    s.set_schema_version_for_tests(99).await.unwrap();
    drop(s);
    match PgMetaStore::connect(&url).await {
        Err(coffer_core::Error::FailedPrecondition(msg)) => {
            assert!(msg.contains("99") && msg.contains("newer coffer"), "{msg}")
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a database from a newer version was opened"),
    }
}
