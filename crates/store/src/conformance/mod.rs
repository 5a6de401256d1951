//! The `MetaStore` conformance suite: one set of checks every backend must pass (SQLite
//! and PostgreSQL), split by aggregate. Built only with the `testing` feature.
//!
//! Each check is a public `async fn` taking the store under test; a backend's tests run
//! each one as its own test (`tests/it/conformance.rs`), and [`run_all`] runs them all in
//! sequence, for the properties that need one store shared by every check (the suite on
//! a non-empty database, concurrently with itself, after reopening).
//!
//! Backend-agnostic by construction: it uses only the trait, names every org, bucket, key
//! and id it creates with a fresh random suffix (so it can run against a shared,
//! non-empty database, also several times concurrently), and asserts only documented
//! behaviour — for whole-store listings (`list_orgs`, `list_all_policies`,
//! `referenced_blobs`) it checks containment, never equality. Exceptions, which need a
//! store of their own: [`identities::bootstrap_once`] (an empty database) and
//! [`audit`] (an outbox nobody else uses).

use coffer_core::Error;
use coffer_core::ids::new_hex_id;
use coffer_core::meta::{BucketEdit, KeyListing, MetaStore, ObjectEdit};
use coffer_core::model::*;
use coffer_core::object_lock::DeleteCheck;
use coffer_core::quota::Quotas;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

macro_rules! assert_err {
    ($e:expr, $pat:pat) => {
        match $e {
            Err($pat) => {}
            other => panic!(
                "{}: expected {}, got {:?}",
                stringify!($e),
                stringify!($pat),
                other
            ),
        }
    };
}

pub mod audit;
pub mod buckets;
pub mod concurrency;
pub mod identities;
pub mod multipart;
pub mod objects;
pub mod policies;
pub mod versions;

/// Runs every check that tolerates a shared store against `store`, in sequence.
/// Panics on the first failure.
pub async fn run_all(store: Arc<dyn MetaStore>) {
    let s = store.as_ref();
    identities::orgs(s).await;
    identities::users_and_tokens(s).await;
    identities::cache_nodes(s).await;
    identities::access_keys(s).await;
    identities::key_listing_pages(s).await;
    identities::key_quotas(s).await;
    policies::policies_and_settings(s).await;
    policies::policy_quota(s).await;
    buckets::buckets(s).await;
    buckets::subresources_and_object_tags(s).await;
    buckets::object_edits_of_versions(s).await;
    objects::objects_and_conditions(s).await;
    objects::capacity_caps(s).await;
    objects::listings(s).await;
    multipart::multipart(s).await;
    multipart::upload_listings(s).await;
    objects::referenced_blobs(s).await;
    versions::versioning(s).await;
    versions::version_listings(s).await;
    versions::created_versioned(s).await;
    objects::rename(s).await;
    identities::federation_configs(s).await;
    identities::assertion_ids(store.clone()).await;
    concurrency::concurrency(store.clone()).await;
    concurrency::quota_concurrency(store.clone()).await;
}

// ---------------------------------------------------------------------------------------
// builders

fn uniq() -> String {
    new_hex_id()[..12].to_string()
}

/// A timestamp with millisecond precision (what every backend can store exactly).
fn ts(offset_ms: i64) -> OffsetDateTime {
    let ms = 1_750_000_000_000i64 + offset_ms;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn org(id: &str) -> Org {
    Org {
        org_id: id.to_string(),
        name: format!("org {id}"),
        created: ts(0),
        entitlements: vec![],
    }
}

fn user(org_id: &str, uid: &str) -> User {
    User {
        uid: uid.to_string(),
        org_id: org_id.to_string(),
        name: format!("user {uid}"),
        role: Role::Member,
        created: ts(1),
    }
}

fn token(org_id: &str, uid: &str) -> ApiToken {
    ApiToken {
        token_id: new_hex_id(),
        token_hash: format!("{}{}", new_hex_id(), new_hex_id()),
        uid: uid.to_string(),
        org_id: org_id.to_string(),
        description: "conformance".into(),
        expiry: Some(ts(86_400_000)),
        created: ts(2),
    }
}

fn access_key(org_id: &str, principal: &str, uid: Option<&str>, id: &str) -> AccessKey {
    AccessKey {
        access_key_id: id.to_string(),
        org_id: org_id.to_string(),
        principal: principal.to_string(),
        uid: uid.map(str::to_string),
        secret_enc: vec![1, 2, 3, 0, 255],
        attributes: BTreeMap::from([("team".to_string(), "x".to_string())]),
        expiry: None,
        state: KeyState::Active,
        source: KeySource::ApiToken,
        session_token_hash: None,
        created: ts(3),
    }
}

fn saml_config(org_id: &str, id: &str) -> FederationConfig {
    FederationConfig {
        v: RECORD_VERSION,
        config_id: id.to_string(),
        org_id: org_id.to_string(),
        name: "okta".into(),
        active: true,
        settings: FederationSettings::Saml {
            idp_entity_id: "https://idp.example/entity".into(),
            signing_certificates: vec![
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
            ],
            audience: "https://coffer.example/sp".into(),
            acs_url: None,
        },
        created: ts(6),
        updated: ts(6),
    }
}

fn oidc_config(org_id: &str, id: &str, jwks: JwksSource) -> FederationConfig {
    FederationConfig {
        v: RECORD_VERSION,
        config_id: id.to_string(),
        org_id: org_id.to_string(),
        name: "github".into(),
        active: false,
        settings: FederationSettings::Oidc {
            issuer_url: "https://token.actions.githubusercontent.com".into(),
            audience: "coffer".into(),
            jwks,
        },
        created: ts(7),
        updated: ts(8),
    }
}

fn bucket(org_id: &str, name: &str) -> Bucket {
    Bucket {
        name: name.to_string(),
        org_id: org_id.to_string(),
        zone: "US-EAST-04A".into(),
        created: ts(4),
        settings: BucketSettings::default(),
        policy: None,
        versioning: VersioningState::Unversioned,
        lifecycle: None,
        subresources: Default::default(),
    }
}

/// A new org with a new bucket: `(org id, bucket name)`.
pub async fn fresh_bucket(s: &dyn MetaStore) -> (String, String) {
    let o = uniq();
    let b = format!("b-{}", uniq());
    s.create_org(&org(&o)).await.unwrap();
    s.create_bucket(&bucket(&o, &b)).await.unwrap();
    (o, b)
}

fn etag_of(data: &[u8]) -> String {
    // Any quoted string works as an ETag for the store; make it depend on the bytes.
    let sum: u64 = data
        .iter()
        .enumerate()
        .map(|(i, b)| (i as u64 + 1) * u64::from(*b))
        .sum();
    format!("\"{:032x}\"", u128::from(sum) * 7919 + data.len() as u128)
}

/// An unversioned object record with inline `data`.
pub fn inline_obj(b: &str, key: &str, data: &[u8]) -> ObjectRecord {
    ObjectRecord {
        inline_crc32c: None,
        upload_id: None,
        owner_org: None,
        acl: None,
        retention: None,
        legal_hold: false,
        v: RECORD_VERSION,
        bucket: b.to_string(),
        key: key.to_string(),
        size: data.len() as u64,
        etag: etag_of(data),
        last_modified: ts(5),
        headers: ObjectHeaders {
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
        user_metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
        checksums: Checksums {
            crc32: Some("AAAAAA==".into()),
            ..Default::default()
        },
        parts: vec![],
        tags: BTreeMap::from([("t".to_string(), "1".to_string())]),
        data: ObjectData::Inline(data.to_vec()),
        version_id: None,
        encryption: None,
    }
}

fn segment_obj(b: &str, key: &str, sizes: &[u64]) -> ObjectRecord {
    let segs: Vec<Segment> = sizes
        .iter()
        .map(|s| Segment {
            blob_id: new_hex_id(),
            size: *s,
            // Sealed segments round-trip their salt (crate::sse).
            key_salt: Some(new_hex_id()),
        })
        .collect();
    let size = sizes.iter().sum();
    ObjectRecord {
        inline_crc32c: None,
        size,
        etag: format!("\"{}-{}\"", new_hex_id(), sizes.len()),
        data: ObjectData::Segments(segs),
        encryption: Some(coffer_core::sse::Encryption::Managed { salt: new_hex_id() }),
        ..inline_obj(b, key, b"")
    }
}

fn upload(b: &str, key: &str, initiated: OffsetDateTime) -> MultipartUpload {
    MultipartUpload {
        v: RECORD_VERSION,
        upload_id: new_hex_id(),
        bucket: b.to_string(),
        key: key.to_string(),
        initiated,
        initiator: "coreweave/someone".into(),
        headers: ObjectHeaders::default(),
        user_metadata: BTreeMap::new(),
        tags: BTreeMap::new(),
        checksum_algorithm: Some("CRC32".into()),
        checksum_type: None,
        retention: None,
        legal_hold: false,
        owner_org: None,
        acl: None,
        encryption: Some(coffer_core::sse::Encryption::Customer {
            salt: new_hex_id(),
            verifier: "dmVyaWZpZXI=".into(),
        }),
    }
}

fn part(upload_id: &str, n: u32, size: u64) -> PartRecord {
    PartRecord {
        upload_id: upload_id.to_string(),
        part_number: n,
        size,
        etag: format!("\"{}\"", new_hex_id()),
        last_modified: ts(6),
        checksums: Checksums::default(),
        blob_id: new_hex_id(),
        key_salt: Some(new_hex_id()),
    }
}

fn usage(bytes: u64, objects: u64) -> Usage {
    Usage { bytes, objects }
}

fn key_id() -> String {
    format!("CW{}", &new_hex_id()[..14]).to_uppercase()
}

/// Every key of an org, for checks that are not about paging.
fn every_key() -> KeyListing {
    KeyListing {
        status: None,
        now: ts(0),
        offset: 0,
        limit: u64::MAX,
    }
}

/// A key of `principal` created at `created`, expiring at `expiry`, from `source`.
fn timed_key(
    org_id: &str,
    principal: &str,
    created: OffsetDateTime,
    expiry: Option<OffsetDateTime>,
    source: KeySource,
) -> AccessKey {
    AccessKey {
        created,
        expiry,
        source,
        ..access_key(org_id, principal, None, &key_id())
    }
}

/// `edit_bucket` as its callers use it: a store may refuse an edit that raced another
/// with `Unavailable` (S3 503 SlowDown), and the client retries.
async fn edit_retrying(
    s: &dyn MetaStore,
    bucket: &str,
    make: fn() -> BucketEdit,
) -> coffer_core::Result<Bucket> {
    for _ in 0..1000 {
        match s.edit_bucket(bucket, make()).await {
            Err(Error::Unavailable(_)) => tokio::task::yield_now().await,
            r => return r,
        }
    }
    panic!("edit_bucket of {bucket} refused 1000 times in a row")
}

/// A fresh well-formed version id (32 alphanumerics).
/// A version delete at the conformance clock's start, without bypass.
fn unlocked() -> DeleteCheck {
    DeleteCheck {
        now: ts(0),
        bypass_governance: false,
    }
}

fn vid() -> String {
    coffer_core::ids::new_version_id()
}

fn versioned(mut r: ObjectRecord, id: &str) -> ObjectRecord {
    r.version_id = Some(id.to_string());
    r
}

/// (key, version id or "null", is_latest, delete_marker, size) of a whole listing.
async fn all_versions(
    s: &dyn MetaStore,
    b: &str,
    prefix: &str,
) -> Vec<(String, String, bool, bool, u64)> {
    let page = s
        .list_object_versions(b, prefix, "", "", 10_000)
        .await
        .unwrap();
    assert!(!page.truncated);
    page.versions
        .into_iter()
        .map(|v| {
            (
                v.key,
                v.version_id.unwrap_or_else(|| NULL_VERSION.to_string()),
                v.is_latest,
                v.delete_marker,
                v.size,
            )
        })
        .collect()
}

fn row(k: &str, v: &str, latest: bool, dm: bool, size: u64) -> (String, String, bool, bool, u64) {
    (k.to_string(), v.to_string(), latest, dm, size)
}

/// The record `r` as it reads after a rename to `key`: everything but the key kept.
fn renamed(r: &ObjectRecord, key: &str) -> ObjectRecord {
    ObjectRecord {
        inline_crc32c: None,
        key: key.to_string(),
        ..r.clone()
    }
}
