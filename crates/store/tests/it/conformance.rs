//! The `MetaStore` conformance suite against every engine. Each check of
//! `coffer_store::conformance` is its own test per engine (`sqlite::<check>`,
//! `postgres::<check>`), on a store of its own: a SQLite file in a temporary directory,
//! a fresh PostgreSQL database (so the tests run in parallel). Then the whole suite on
//! one store shared by every check: non-empty, concurrently with itself, after reopening,
//! through two PostgreSQL pools. Then PostgreSQL schema migrations.
//!
//! The PostgreSQL tests need `COFFER_TEST_POSTGRES_URL` (`scripts/pg-test-cluster.sh`);
//! without it they pass after printing that they skipped, except in CI, where they fail
//! (`coffer_store::pg_testing::test_server_url`).

use coffer_core::meta::MetaStore;
use coffer_store::postgres::testing as pg_testing;
use coffer_store::{PgMetaStore, SqliteMetaStore, conformance};
use std::sync::Arc;

/// A SQLite store on a new file; the directory lives as long as the returned guard.
fn sqlite_store() -> (Arc<dyn MetaStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open(&dir.path().join("meta.db")).unwrap();
    (Arc::new(store), dir)
}

/// A PostgreSQL store on a new database; `None` when no test server is configured.
async fn postgres_store() -> Option<Arc<dyn MetaStore>> {
    let admin = pg_testing::test_server_url()?;
    let url = pg_testing::fresh_database(&admin).await.unwrap();
    Some(Arc::new(PgMetaStore::connect(&url).await.unwrap()))
}

/// For each engine, a module with one test per check. Checks `by_ref` take
/// `&dyn MetaStore`, checks `by_arc` take `Arc<dyn MetaStore>` (they spawn requests).
macro_rules! per_engine {
    (
        by_ref: [$($rm:ident :: $rc:ident),* $(,)?],
        by_arc: [$($am:ident :: $ac:ident),* $(,)?] $(,)?
    ) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rc() {
                    let (store, _dir) = sqlite_store();
                    conformance::$rm::$rc(store.as_ref()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $ac() {
                    let (store, _dir) = sqlite_store();
                    conformance::$am::$ac(store).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rc() {
                    let Some(store) = postgres_store().await else { return };
                    conformance::$rm::$rc(store.as_ref()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $ac() {
                    let Some(store) = postgres_store().await else { return };
                    conformance::$am::$ac(store).await;
                }
            )*
        }
    };
}

per_engine! {
    by_ref: [
        identities::orgs,
        identities::users_and_tokens,
        identities::cache_nodes,
        identities::access_keys,
        identities::key_listing_pages,
        identities::key_quotas,
        identities::federation_configs,
        policies::policies_and_settings,
        policies::policy_quota,
        buckets::buckets,
        buckets::subresources_and_object_tags,
        objects::objects_and_conditions,
        objects::capacity_caps,
        objects::listings,
        objects::referenced_blobs,
        objects::rename,
        versions::versioning,
        versions::version_listings,
        versions::created_versioned,
        multipart::multipart,
        multipart::upload_listings,
        audit::audit_outbox_concurrent_writes,
    ],
    by_arc: [
        identities::assertion_ids,
        concurrency::concurrency,
        concurrency::quota_concurrency,
    ],
}

// Checks that need a store of their own and return or take something else.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bootstrap_once() {
    let (store, _dir) = sqlite_store();
    conformance::identities::bootstrap_once(&[store]).await;
}

/// Two stores with their own pools on one database: nodes starting together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bootstrap_once() {
    let Some(admin) = pg_testing::test_server_url() else {
        return;
    };
    let url = pg_testing::fresh_database(&admin).await.unwrap();
    let (a, b) = futures::join!(PgMetaStore::connect(&url), PgMetaStore::connect(&url));
    conformance::identities::bootstrap_once(&[Arc::new(a.unwrap()), Arc::new(b.unwrap())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_audit_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let (first, last) =
        conformance::audit::audit_outbox(&SqliteMetaStore::open(&path).unwrap()).await;
    assert!(first > 0, "{first}");
    // After reopening: the check again, with numbers above every earlier one.
    let (first, _) = conformance::audit::audit_outbox(&SqliteMetaStore::open(&path).unwrap()).await;
    assert!(first > last, "{first} after {last}");
}

/// PostgreSQL keeps no outbox (events go through each node's spool): refused loudly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_audit_outbox() {
    let Some(store) = postgres_store().await else {
        return;
    };
    assert_eq!(
        conformance::audit::audit_outbox(store.as_ref()).await,
        (0, 0)
    );
}

// The whole suite on one store.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_whole_suite_shared_concurrent_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let store: Arc<dyn MetaStore> = Arc::new(SqliteMetaStore::open(&path).unwrap());
    conformance::run_all(store.clone()).await;
    // On a non-empty database, and concurrently with itself.
    futures::join!(
        conformance::run_all(store.clone()),
        conformance::run_all(store.clone())
    );
    drop(store);
    conformance::run_all(Arc::new(SqliteMetaStore::open(&path).unwrap())).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_whole_suite_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open_with_readers(&dir.path().join("m.db"), 1).unwrap();
    conformance::run_all(Arc::new(store)).await;
}

/// On a fresh database, then twice concurrently through two stores (two "nodes" with
/// their own pools), then after reconnecting (migrations are idempotent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_whole_suite_shared_by_two_nodes_and_reconnected() {
    let Some(admin) = pg_testing::test_server_url() else {
        return;
    };
    let url = pg_testing::fresh_database(&admin).await.unwrap();
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

// PostgreSQL schema migrations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_a_database_from_the_future() {
    let Some(admin) = pg_testing::test_server_url() else {
        return;
    };
    let url = pg_testing::fresh_database(&admin).await.unwrap();
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

/// A database left at schema 1 (before versioning) with a bucket and an object is
/// migrated at connect; the old object becomes the `null` version once versioning is on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrates_a_v1_database_to_versioning() {
    use coffer_core::model::*;
    use sqlx::Connection;
    let Some(admin) = pg_testing::test_server_url() else {
        return;
    };
    let url = pg_testing::fresh_database(&admin).await.unwrap();
    pg_testing::migrate_database_to(&url, 1).await.unwrap();
    let t = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
    let bucket = Bucket {
        name: "old-bucket".into(),
        org_id: "o1".into(),
        zone: "US-EAST-04A".into(),
        created: t,
        settings: BucketSettings::default(),
        policy: None,
        versioning: VersioningState::Unversioned,
        lifecycle: None,
        subresources: Default::default(),
    };
    let old = ObjectRecord {
        inline_crc32c: None,
        upload_id: None,
        owner_org: None,
        acl: None,
        retention: None,
        legal_hold: false,
        v: RECORD_VERSION,
        bucket: "old-bucket".into(),
        key: "hello.txt".into(),
        size: 3,
        etag: "\"abc\"".into(),
        last_modified: t,
        headers: ObjectHeaders::default(),
        user_metadata: Default::default(),
        checksums: Checksums::default(),
        parts: vec![],
        tags: Default::default(),
        data: ObjectData::Inline(Vec::new()),
        version_id: None,
        encryption: None,
    };
    {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("INSERT INTO buckets (name, org_id, usage_bytes, usage_objects, doc) VALUES ($1, $2, 3, 1, $3)")
            .bind("old-bucket")
            .bind("o1")
            .bind(serde_json::to_string(&bucket).unwrap())
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO objects (bucket, key, size, etag, last_modified, blob_ids, doc, inline_data)
             VALUES ($1, $2, 3, $3, $4, NULL, $5, $6)",
        )
        .bind("old-bucket")
        .bind(b"hello.txt".as_slice())
        .bind("\"abc\"")
        .bind(i64::try_from(t.unix_timestamp_nanos()).unwrap())
        .bind(serde_json::to_string(&old).unwrap())
        .bind(b"hey".as_slice())
        .execute(&mut c)
        .await
        .unwrap();
    }
    let s = PgMetaStore::connect(&url).await.unwrap();
    let b = s.get_bucket("old-bucket").await.unwrap().unwrap();
    assert_eq!(b.versioning, VersioningState::Unversioned);
    let o = s
        .get_object("old-bucket", "hello.txt")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.version_id, None);
    assert_eq!(o.data, ObjectData::Inline(b"hey".to_vec()));
    s.set_bucket_versioning("old-bucket", VersioningState::Enabled)
        .await
        .unwrap();
    let mut next = o.clone();
    next.version_id = Some(coffer_core::ids::new_version_id());
    next.data = ObjectData::Inline(b"hey!".to_vec());
    next.size = 4;
    let r = s
        .put_object(&next, &WriteCondition::None, None)
        .await
        .unwrap();
    assert!(r.previous.is_none());
    assert_eq!(r.version_id, next.version_id);
    match s
        .get_object_version("old-bucket", "hello.txt", NULL_VERSION)
        .await
        .unwrap()
    {
        Some(ObjectVersion::Object(got)) => assert_eq!(got, o),
        other => panic!("{other:?}"),
    }
    let ids: Vec<_> = s
        .list_object_versions("old-bucket", "", "", "", 10)
        .await
        .unwrap()
        .versions
        .iter()
        .map(|v| (v.version_id.clone(), v.is_latest))
        .collect();
    assert_eq!(ids, vec![(next.version_id.clone(), true), (None, false)]);
    assert_eq!(
        s.bucket_usage("old-bucket").await.unwrap(),
        Usage {
            bytes: 7,
            objects: 2
        }
    );
    drop(s);
    // Connecting again does not migrate again and keeps everything.
    let s = PgMetaStore::connect(&url).await.unwrap();
    assert_eq!(
        s.list_object_versions("old-bucket", "", "", "", 10)
            .await
            .unwrap()
            .versions
            .len(),
        2
    );
}

/// Keys stored at schema 2 (no `expiry`/`exchange` columns) get both from their
/// documents: listings filter them like new keys, and an expired exchange key among
/// them is removed by the org's next key creation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrates_v2_access_keys() {
    use coffer_core::meta::KeyListing;
    use coffer_core::model::*;
    use coffer_core::quota::Quotas;
    use sqlx::Connection;
    let Some(admin) = pg_testing::test_server_url() else {
        return;
    };
    let url = pg_testing::fresh_database(&admin).await.unwrap();
    pg_testing::migrate_database_to(&url, 2).await.unwrap();
    let t = |secs: i64| time::OffsetDateTime::from_unix_timestamp(1_750_000_000 + secs).unwrap();
    let key = |id: &str, expiry: Option<time::OffsetDateTime>, source| AccessKey {
        access_key_id: id.into(),
        org_id: "o2".into(),
        principal: "role/old".into(),
        uid: None,
        secret_enc: vec![1, 2, 3],
        attributes: Default::default(),
        expiry,
        state: KeyState::Active,
        source,
        session_token_hash: None,
        created: t(0),
    };
    let keys = [
        key("CWOLDPERMANENT01", None, KeySource::ApiToken),
        key("CWOLDSHORTJWT002", Some(t(60)), KeySource::ApiToken),
        key("CWOLDSAML0000003", Some(t(30)), KeySource::Saml),
    ];
    {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        for k in &keys {
            sqlx::query(
                "INSERT INTO access_keys (access_key_id, org_id, principal, uid, state, doc)
                 VALUES ($1, $2, $3, NULL, 'Active', $4)",
            )
            .bind(&k.access_key_id)
            .bind(&k.org_id)
            .bind(&k.principal)
            .bind(serde_json::to_string(k).unwrap())
            .execute(&mut c)
            .await
            .unwrap();
        }
    }
    let s = PgMetaStore::connect(&url).await.unwrap();
    let active = |now| KeyListing {
        status: Some(KeyStatus::Active),
        now,
        offset: 0,
        limit: 10,
    };
    let ids = |page| {
        let s = &s;
        async move {
            s.list_access_keys("o2", &page)
                .await
                .unwrap()
                .into_iter()
                .map(|k| k.access_key_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(active(t(10))).await.len(), 3);
    assert_eq!(
        ids(active(t(45))).await,
        vec!["CWOLDPERMANENT01", "CWOLDSHORTJWT002"]
    );
    assert_eq!(ids(active(t(60))).await, vec!["CWOLDPERMANENT01"]);
    let mut new = key("CWNEWKEY00000004", None, KeySource::ApiToken);
    new.created = t(45);
    s.create_access_key(&new, &Quotas::default()).await.unwrap();
    assert_eq!(s.get_access_key("CWOLDSAML0000003").await.unwrap(), None);
    assert!(
        s.get_access_key("CWOLDSHORTJWT002")
            .await
            .unwrap()
            .is_some()
    );
}
