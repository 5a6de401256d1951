//! Migrations from older schema versions, query plans, and database settings.

use super::*;
use crate::rows::to_doc;
use coffer_core::meta::{KeyListing, MetaStore};
use coffer_core::model::*;
use coffer_core::quota::Quotas;
use rusqlite::params;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Builds a database exactly as release 1 left it: the v1 DDL, version row 1, and rows
/// whose documents are written out by hand in the v1 encoding (no `v` field, optional
/// fields absent, inline bytes in `inline_data`).
fn v1_database(path: &Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    c.execute_batch(schema::V1).unwrap();
    c.execute_batch(
        r#"
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (1);
        INSERT INTO orgs VALUES ('abc123',
          '{"org_id":"abc123","name":"Old Org","created":"2025-01-02T03:04:05Z"}');
        INSERT INTO buckets (name, org_id, usage_bytes, usage_objects, doc) VALUES
          ('old-bucket', 'abc123', 3, 1,
           '{"name":"old-bucket","org_id":"abc123","zone":"US-EAST-04A",
             "created":"2025-01-02T03:04:05Z","settings":{"audit_logging":null,
             "capacity_cap_bytes":null},"policy":null}');
        INSERT INTO objects VALUES ('old-bucket', 'hello.txt', 3,
          '"5d41402abc4b2a76b9719d911017c592"', 1735787045000000000, NULL,
          '{"bucket":"old-bucket","key":"hello.txt","size":3,
            "etag":"\"5d41402abc4b2a76b9719d911017c592\"",
            "last_modified":"2025-01-02T03:04:05Z","headers":{},"user_metadata":{},
            "checksums":{},"parts":[],"tags":{},"data":{"Inline":""}}',
          x'686579');
        "#,
    )
    .unwrap();
}

fn version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn opens_and_reads_a_v1_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    v1_database(&path);
    for _ in 0..2 {
        let s = SqliteMetaStore::open(&path).unwrap();
        let org = s.get_org("abc123").await.unwrap().unwrap();
        assert_eq!(org.name, "Old Org");
        assert!(org.entitlements.is_empty());
        let o = s
            .get_object("old-bucket", "hello.txt")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.v, RECORD_VERSION);
        assert_eq!(o.data, ObjectData::Inline(b"hey".to_vec()));
        assert_eq!(o.headers, ObjectHeaders::default());
        let page = s.list_objects("old-bucket", "", "", 10).await.unwrap();
        assert_eq!(page.objects[0].last_modified, o.last_modified);
        assert_eq!(s.bucket_usage("old-bucket").await.unwrap().bytes, 3);
        // And it is writable, including the tables later versions added.
        s.delete_object("old-bucket", "hello.txt").await.unwrap();
        s.put_object(&o, &WriteCondition::None, None).await.unwrap();
        let kind = FederationKind::Oidc;
        assert!(
            s.list_federation_configs("abc123", kind)
                .await
                .unwrap()
                .len()
                <= 1
        );
        let fc = FederationConfig {
            v: RECORD_VERSION,
            config_id: "migrated-config".into(),
            org_id: "abc123".into(),
            name: "ci".into(),
            active: true,
            settings: FederationSettings::Oidc {
                issuer_url: "https://issuer.example".into(),
                audience: "coffer".into(),
                jwks: JwksSource::File("/etc/jwks.json".into()),
            },
            created: org.created,
            updated: org.created,
        };
        match s.create_federation_config(&fc).await {
            Ok(()) | Err(Error::AlreadyExists(_)) => {}
            Err(e) => panic!("{e:?}"),
        }
        assert_eq!(
            s.get_federation_config("abc123", kind, "migrated-config")
                .await
                .unwrap(),
            Some(fc)
        );
        drop(s);
        assert_eq!(version(&path), i64::from(schema::current_version()));
    }
}

/// A database exactly as release 2 left it: v1 + v2 DDL, version row 2, rows in the
/// v2 encoding (no `version_id`/`versioning` fields, no version columns).
fn v2_database(path: &Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    c.execute_batch(schema::V1).unwrap();
    c.execute_batch(schema::V2).unwrap();
    c.execute_batch(
        r#"
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (2);
        INSERT INTO orgs VALUES ('abc123',
          '{"org_id":"abc123","name":"Old Org","created":"2025-01-02T03:04:05Z",
            "entitlements":[]}');
        INSERT INTO buckets (name, org_id, usage_bytes, usage_objects, doc) VALUES
          ('old-bucket', 'abc123', 3, 1,
           '{"name":"old-bucket","org_id":"abc123","zone":"US-EAST-04A",
             "created":"2025-01-02T03:04:05Z","settings":{"audit_logging":null,
             "capacity_cap_bytes":null},"policy":null}');
        INSERT INTO objects VALUES ('old-bucket', 'hello.txt', 3,
          '"5d41402abc4b2a76b9719d911017c592"', 1735787045000000000, NULL,
          '{"v":1,"bucket":"old-bucket","key":"hello.txt","size":3,
            "etag":"\"5d41402abc4b2a76b9719d911017c592\"",
            "last_modified":"2025-01-02T03:04:05Z","headers":{},"user_metadata":{},
            "checksums":{},"parts":[],"tags":{},"data":{"Inline":""}}',
          x'686579');
        "#,
    )
    .unwrap();
}

#[tokio::test]
async fn migrates_a_v2_database_to_versioning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    v2_database(&path);
    let s = SqliteMetaStore::open(&path).unwrap();
    assert_eq!(version(&path), i64::from(schema::current_version()));
    let b = s.get_bucket("old-bucket").await.unwrap().unwrap();
    assert_eq!(b.versioning, VersioningState::Unversioned);
    assert_eq!(b.lifecycle, None);
    let o = s
        .get_object("old-bucket", "hello.txt")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.version_id, None);
    assert_eq!(o.data, ObjectData::Inline(b"hey".to_vec()));
    // The old object is the null version once versioning is enabled.
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
    match s
        .get_object_version("old-bucket", "hello.txt", NULL_VERSION)
        .await
        .unwrap()
    {
        Some(ObjectVersion::Object(old)) => assert_eq!(old, o),
        other => panic!("{other:?}"),
    }
    let page = s
        .list_object_versions("old-bucket", "", "", "", 10)
        .await
        .unwrap();
    let ids: Vec<_> = page
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
    // Reopening does not migrate again and keeps everything.
    let s = SqliteMetaStore::open(&path).unwrap();
    assert_eq!(
        s.get_bucket("old-bucket")
            .await
            .unwrap()
            .unwrap()
            .versioning,
        VersioningState::Enabled
    );
    assert_eq!(
        s.list_object_versions("old-bucket", "", "", "", 10)
            .await
            .unwrap()
            .versions
            .len(),
        2
    );
}

/// Keys stored by release 4 (no `expiry`/`exchange` columns) get both from their
/// documents: listings filter and quotas count them like new keys, and an expired
/// exchange key among them is removed by the org's next key creation.
#[tokio::test]
async fn migrates_v4_access_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    let t = |secs: i64| OffsetDateTime::from_unix_timestamp(1_750_000_000 + secs).unwrap();
    let key = |id: &str, expiry: Option<OffsetDateTime>, source| AccessKey {
        access_key_id: id.into(),
        org_id: "abc123".into(),
        principal: "role/old".into(),
        uid: None,
        secret_enc: vec![1, 2, 3],
        attributes: BTreeMap::new(),
        expiry,
        state: KeyState::Active,
        source,
        session_token_hash: None,
        created: t(0),
    };
    let keys = [
        key("CWOLDPERMANENT01", None, KeySource::ApiToken),
        // Expiry with a sub-millisecond part: read to the millisecond.
        key(
            "CWOLDSHORTJWT002",
            Some(t(60) + time::Duration::nanoseconds(123_456_789)),
            KeySource::ApiToken,
        ),
        key("CWOLDOIDC0000003", Some(t(30)), KeySource::Oidc),
    ];
    {
        let c = Connection::open(&path).unwrap();
        for sql in &schema::MIGRATIONS[..4] {
            c.execute_batch(sql).unwrap();
        }
        c.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (4);",
        )
        .unwrap();
        for k in &keys {
            c.execute(
                "INSERT INTO access_keys (access_key_id, org_id, principal, uid, state, doc)
                 VALUES (?1, ?2, ?3, NULL, 'Active', ?4)",
                params![k.access_key_id, k.org_id, k.principal, to_doc(k).unwrap()],
            )
            .unwrap();
        }
    }
    let s = SqliteMetaStore::open(&path).unwrap();
    assert_eq!(version(&path), i64::from(schema::current_version()));
    async fn s_list(s: &SqliteMetaStore, page: KeyListing) -> Vec<String> {
        s.list_access_keys("abc123", &page)
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.access_key_id)
            .collect()
    }
    let at = |now| KeyListing {
        status: Some(KeyStatus::Active),
        now,
        offset: 0,
        limit: 10,
    };
    assert_eq!(s_list(&s, at(t(45))).await.len(), 2);
    assert_eq!(
        s_list(&s, at(t(60) + time::Duration::milliseconds(124))).await,
        vec!["CWOLDPERMANENT01"]
    );
    assert_eq!(
        s_list(&s, at(t(60) + time::Duration::milliseconds(122))).await,
        vec!["CWOLDPERMANENT01", "CWOLDSHORTJWT002"]
    );
    // At t(45) the OIDC key has expired: it neither counts nor survives a creation.
    let quotas = Quotas {
        keys_per_principal: 3,
        ..Quotas::default()
    };
    let mut new = key("CWNEWKEY00000004", None, KeySource::ApiToken);
    new.created = t(45);
    s.create_access_key(&new, &quotas).await.unwrap();
    assert_eq!(s.get_access_key("CWOLDOIDC0000003").await.unwrap(), None);
    assert!(
        s.get_access_key("CWOLDSHORTJWT002")
            .await
            .unwrap()
            .is_some()
    );
    let mut more = key("CWNEWKEY00000005", None, KeySource::ApiToken);
    more.created = t(45);
    assert!(matches!(
        s.create_access_key(&more, &quotas).await,
        Err(Error::ResourceExhausted(_))
    ));
}

#[test]
fn version_listing_uses_the_key_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vplan.db");
    drop(SqliteMetaStore::open(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    let mut st = c
        .prepare(&format!("EXPLAIN QUERY PLAN {LIST_VERSIONS_SQL}"))
        .unwrap();
    let mut rows = st.raw_query();
    let mut plan = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        plan.push(r.get::<_, String>(3).unwrap());
    }
    let plan = plan.join("; ");
    assert!(
        plan.contains("SEARCH objects USING INDEX sqlite_autoindex_objects_1 (bucket=? AND key>")
            && plan.contains("SEARCH v USING INDEX object_versions_by_key (bucket=? AND key>")
            && plan.starts_with("MERGE (UNION ALL)"),
        "{plan}"
    );
}

#[test]
fn fresh_database_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let mut c = Connection::open(&path).unwrap();
    assert_eq!(schema::migrate(&mut c).unwrap(), 0);
    assert_eq!(schema::migrate(&mut c).unwrap(), schema::current_version());
    drop(c);
    assert_eq!(version(&path), i64::from(schema::current_version()));
    let rows: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn refuses_a_database_from_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(SqliteMetaStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    let err = SqliteMetaStore::open(&path).err().unwrap();
    match err {
        Error::FailedPrecondition(msg) => {
            assert!(msg.contains("99") && msg.contains("newer coffer"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(version(&path), 99, "left untouched");
}

/// The purge of expired exchange keys (every key creation runs it) reads only the
/// org's exchange keys through their partial index.
#[test]
fn exchange_key_purge_uses_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.db");
    drop(SqliteMetaStore::open(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    let sql = crate::sql::sql(crate::engine::Stmt::PurgeExchangeKeys);
    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let mut rows = st.raw_query();
    let plan: String = rows.next().unwrap().unwrap().get(3).unwrap();
    assert!(plan.contains("access_keys_exchange_by_expiry"), "{plan}");
}

#[test]
fn listings_are_index_range_scans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.db");
    drop(SqliteMetaStore::open(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    for sql in LIST_SQL {
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut rows = st.raw_query();
        let mut plan = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            plan.push(r.get::<_, String>(3).unwrap());
        }
        let plan = plan.join("; ");
        assert!(
            plan.starts_with(
                "SEARCH objects USING INDEX sqlite_autoindex_objects_1 (bucket=? AND key>"
            ) && !plan.contains("TEMP B-TREE"),
            "{sql}: {plan}"
        );
    }
}

#[test]
fn database_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    drop(SqliteMetaStore::open(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn disk_full_maps_to_insufficient_storage() {
    let full =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
    assert!(matches!(sql_err("x")(full), Error::InsufficientStorage(_)));
    let other = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
        Some("database disk image is malformed".into()),
    );
    assert!(matches!(sql_err("x")(other), Error::Internal(_)));
}
