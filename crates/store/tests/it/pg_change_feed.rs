//! `PgChangeFeed`: a key-state or policy change committed through one store (node)
//! reaches a subscriber on another within a second — by notification, and by the
//! change-counter poll alone. Needs `COFFER_TEST_POSTGRES_URL` (fails in CI if unset).

use async_trait::async_trait;
use coffer_core::change::{Change, ChangeFeed, ChangeSink};
use coffer_core::meta::MetaStore;
use coffer_core::model::*;
use coffer_core::quota::Quotas;
use coffer_store::{PgMetaStore, postgres};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Recorder(Mutex<Vec<Change>>);

#[async_trait]
impl ChangeSink for Recorder {
    async fn apply(&self, change: Change) {
        self.0.lock().push(change);
    }
}

impl Recorder {
    /// Waits until a change satisfying `f` arrives; returns how long it took.
    async fn wait_for(&self, f: impl Fn(&Change) -> bool) -> Duration {
        let t0 = Instant::now();
        loop {
            if self.0.lock().iter().any(&f) {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "no change within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

fn key(id: &str) -> AccessKey {
    let t = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
    AccessKey {
        access_key_id: id.to_string(),
        org_id: "feedorg".into(),
        principal: "coreweave/u1".into(),
        uid: Some("u1".into()),
        secret_enc: vec![1, 2, 3],
        attributes: Default::default(),
        expiry: None,
        state: KeyState::Active,
        source: KeySource::ApiToken,
        session_token_hash: None,
        created: t,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_other_nodes() {
    let Some(admin) = postgres::testing::test_server_url() else {
        return;
    };
    let url = postgres::testing::fresh_database(&admin).await.unwrap();
    let a = PgMetaStore::connect(&url).await.unwrap();
    let b = PgMetaStore::connect(&url).await.unwrap();
    let notified = Arc::new(Recorder::default());
    let polled = Arc::new(Recorder::default());
    let _s1 = b.change_feed().subscribe(notified.clone());
    let _s2 = b.change_feed().polling_only().subscribe(polled.clone());
    // Both start with a full invalidation (whatever changed before they subscribed).
    notified.wait_for(|c| *c == Change::Everything).await;
    polled.wait_for(|c| *c == Change::Everything).await;
    polled.0.lock().clear();

    a.create_access_key(&key("CWFEEDKEY0000001"), &Quotas::default())
        .await
        .unwrap();
    a.set_access_key_state("CWFEEDKEY0000001", KeyState::Suspended)
        .await
        .unwrap();
    let t = notified
        .wait_for(|c| *c == Change::AccessKey("CWFEEDKEY0000001".into()))
        .await;
    eprintln!("notification after {t:?}");
    let t = polled.wait_for(|c| *c == Change::Everything).await;
    eprintln!("poll after {t:?}");

    a.put_policy(
        &StoredPolicy {
            org_id: "feedorg".into(),
            name: "p".into(),
            document: "{}".into(),
            updated: time::OffsetDateTime::now_utc(),
        },
        &Quotas::default(),
    )
    .await
    .unwrap();
    notified
        .wait_for(|c| *c == Change::OrgPolicies("feedorg".into()))
        .await;
    // A failed change (absent key) announces nothing: it rolled back.
    notified.0.lock().clear();
    assert!(
        a.set_access_key_state("CWNOSUCHKEY00000", KeyState::Deleted)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(notified.0.lock().is_empty(), "{:?}", notified.0.lock());
}
