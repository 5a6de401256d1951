//! `MetaStore`: the metadata database behind every service. Implementations (in
//! coffer-store): SQLite (embedded default) and PostgreSQL (scale-out). Every method is one
//! atomic transaction; conditions that must hold at commit time (bucket empty,
//! write preconditions, capacity caps, usage counters) are checked inside it.

use crate::error::Result;
use crate::model::*;
use crate::quota::Quotas;
use async_trait::async_trait;
use std::collections::HashSet;
use time::OffsetDateTime;

/// Result of replacing or removing an object: the previous record, whose blobs the
/// caller deletes once this call has returned (the commit is durable by then).
#[derive(Debug, Clone, Default)]
pub struct Replaced {
    pub previous: Option<ObjectRecord>,
    /// The version id the written record was stored under: the record's own id when
    /// the bucket's versioning is `Enabled`, else `None` (the `null` version).
    pub version_id: Option<String>,
}

/// Result of a delete that may involve versions (`delete_object_current`,
/// `delete_object_version`).
#[derive(Debug, Clone, Default)]
pub struct Deleted {
    /// A record removed for good, whose blobs the caller deletes.
    pub removed: Option<ObjectRecord>,
    /// The `x-amz-version-id` S3 answers: the delete marker created, or the version
    /// removed (`"null"` for the null version); `None` on unversioned buckets.
    pub version_id: Option<String>,
    /// The marker created, or the version removed, is a delete marker.
    pub delete_marker: bool,
}

/// Page of a version listing.
#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    pub versions: Vec<VersionSummary>,
    /// True when more versions with the prefix exist after the last one returned.
    pub truncated: bool,
}

/// An edit of a bucket's configuration (settings, policy, lifecycle, CORS, tags), applied
/// by [`MetaStore::edit_bucket`] inside its transaction, so concurrent edits of different
/// parts never lose each other. An error aborts the edit and is returned as is.
pub type BucketEdit = Box<dyn FnOnce(&mut Bucket) -> Result<()> + Send>;

/// An edit of an object version's record ([`MetaStore::edit_object`]). It may run more
/// than once (a store retries a transaction that lost a race), so it must depend only
/// on the record it is given.
pub type ObjectEdit = std::sync::Arc<dyn Fn(&mut ObjectRecord) -> Result<()> + Send + Sync>;

/// A document field to write back: its name, and its value (`None`: remove it).
pub type DocField = (&'static str, Option<serde_json::Value>);

/// Runs `edit` on a copy of `stored` and returns what to write back: the fields an
/// in-place edit may change (tags, owner, ACL, Object Lock retention and legal hold)
/// that it changed, by their document name,
/// with `None` for a field now absent. Everything else an edit does to the copy is
/// dropped: data, size, ETag, version and dates belong to the write that made the
/// version. Every store applies object edits through this.
pub fn apply_object_edit(
    stored: &ObjectRecord,
    edit: &ObjectEdit,
) -> Result<(ObjectRecord, Vec<DocField>)> {
    let mut copy = stored.clone();
    edit(&mut copy)?;
    fn doc<T: serde::Serialize>(v: Option<&T>) -> Result<Option<serde_json::Value>> {
        v.map(|v| serde_json::to_value(v).map_err(crate::Error::internal))
            .transpose()
    }
    let mut changed = Vec::new();
    if copy.tags != stored.tags {
        changed.push(("tags", doc(Some(&copy.tags))?));
    }
    if copy.owner_org != stored.owner_org {
        changed.push(("owner_org", doc(copy.owner_org.as_ref())?));
    }
    if copy.acl != stored.acl {
        changed.push(("acl", doc(copy.acl.as_ref())?));
    }
    if copy.retention != stored.retention {
        changed.push(("retention", doc(copy.retention.as_ref())?));
    }
    if copy.legal_hold != stored.legal_hold {
        changed.push(("legal_hold", doc(Some(&copy.legal_hold).filter(|h| **h))?));
    }
    let mut kept = stored.clone();
    kept.tags = copy.tags;
    kept.owner_org = copy.owner_org;
    kept.acl = copy.acl;
    kept.retention = copy.retention;
    kept.legal_hold = copy.legal_hold;
    Ok((kept, changed))
}

/// Runs `edit` on a copy of `stored` and takes back only the configuration: an edit
/// never changes a bucket's identity (name, org, zone, creation time) or its versioning
/// state (`set_bucket_versioning` owns that). Returns whether anything changed: an
/// edit that changes nothing is not written (it must not fail on a full disk, nor
/// take the bucket's row lock). Every store applies edits through this.
pub fn apply_bucket_edit(stored: &mut Bucket, edit: BucketEdit) -> Result<bool> {
    let mut copy = stored.clone();
    edit(&mut copy)?;
    // Object Lock, once enabled, stays (S3): no edit may switch it off.
    if stored.subresources.object_lock.is_some() && copy.subresources.object_lock.is_none() {
        return Err(crate::Error::InvalidBucketState(
            "Object Lock cannot be disabled on a bucket".into(),
        ));
    }
    let changed = copy.settings != stored.settings
        || copy.policy != stored.policy
        || copy.lifecycle != stored.lifecycle
        || copy.subresources != stored.subresources;
    stored.settings = copy.settings;
    stored.policy = copy.policy;
    stored.lifecycle = copy.lifecycle;
    stored.subresources = copy.subresources;
    Ok(changed)
}

/// A page of an org's access keys ([`MetaStore::list_access_keys`]): the keys whose
/// status at `now` is `status` (every key when `None`), in creation order, after
/// skipping `offset` of them, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    pub status: Option<KeyStatus>,
    pub now: OffsetDateTime,
    pub offset: u64,
    pub limit: u64,
}

impl KeyListing {
    /// Whether `key` passes the status filter (the rule every backend's query encodes).
    pub fn matches(&self, key: &AccessKey) -> bool {
        self.status.is_none_or(|s| key.status(self.now) == s)
    }
}

/// Page of a key-ordered listing.
#[derive(Debug, Clone, Default)]
pub struct ObjectPage {
    pub objects: Vec<ObjectSummary>,
    /// True when more keys with the prefix exist after the last one returned.
    pub truncated: bool,
}

#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    // ---- orgs, users, tokens ----
    async fn create_org(&self, org: &Org) -> Result<()>;
    /// Stores the first org, its admin and the admin's API token in one transaction,
    /// only if no org exists yet; `Ok(false)` (nothing stored) otherwise. Concurrent
    /// calls on one database (nodes starting together on an empty shared store) store
    /// exactly one, and a crash leaves all three or none.
    async fn bootstrap(&self, org: &Org, admin: &User, token: &ApiToken) -> Result<bool>;
    async fn get_org(&self, org_id: &str) -> Result<Option<Org>>;
    async fn list_orgs(&self) -> Result<Vec<Org>>;
    async fn update_org(&self, org: &Org) -> Result<()>;

    async fn create_user(&self, user: &User) -> Result<()>;
    async fn get_user(&self, uid: &str) -> Result<Option<User>>;
    async fn list_users(&self, org_id: &str) -> Result<Vec<User>>;
    /// Deletes the user, its API tokens, and marks its access keys `Deleted`, atomically.
    /// NotFound when the user does not exist.
    async fn delete_user(&self, uid: &str) -> Result<()>;

    async fn create_token(&self, token: &ApiToken) -> Result<()>;
    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    async fn list_tokens(&self, org_id: &str) -> Result<Vec<ApiToken>>;
    /// NotFound when absent.
    async fn delete_token(&self, token_id: &str) -> Result<()>;

    // ---- compute-node caches ----
    /// AlreadyExists when the id or the name is taken.
    async fn create_cache_node(&self, node: &CacheNode) -> Result<()>;
    async fn get_cache_node_by_hash(&self, credential_hash: &str) -> Result<Option<CacheNode>>;
    /// Every node, by name.
    async fn list_cache_nodes(&self) -> Result<Vec<CacheNode>>;
    /// NotFound when absent.
    async fn delete_cache_node(&self, node_id: &str) -> Result<()>;

    // ---- access keys ----
    /// Stores a new key, in one transaction with: removing the org's exchange keys that
    /// have expired at `key.created` ([`crate::quota::is_purgeable`]), then checking that
    /// fewer than `quotas.keys_per_principal` keys of its (org, principal) and fewer than
    /// `quotas.keys_per_org` keys of its org count against the quota at `key.created`
    /// ([`crate::quota::counts_against_quota`]); else the `ResourceExhausted` error of
    /// `crate::quota` and nothing changes. Concurrent creations never overshoot.
    /// `AlreadyExists` when the id is taken.
    async fn create_access_key(&self, key: &AccessKey, quotas: &Quotas) -> Result<()>;
    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>>;
    /// One page of the org's keys ([`KeyListing`]); only that page is read.
    async fn list_access_keys(&self, org_id: &str, page: &KeyListing) -> Result<Vec<AccessKey>>;
    /// Sets the state of one key. NotFound when absent.
    async fn set_access_key_state(&self, access_key_id: &str, state: KeyState) -> Result<()>;
    /// Sets the state of every non-deleted key of `principal` in `org_id`; returns how many changed.
    async fn set_principal_key_state(
        &self,
        org_id: &str,
        principal: &str,
        state: KeyState,
    ) -> Result<u64>;

    // ---- org access policies and settings ----
    /// Inserts or replaces the policy with the same (org, name). Inserting a new name
    /// when the org already has `quotas.policies_per_org` policies fails with the
    /// `ResourceExhausted` error of `crate::quota` (checked inside the transaction).
    async fn put_policy(&self, policy: &StoredPolicy, quotas: &Quotas) -> Result<()>;
    /// NotFound when absent.
    async fn delete_policy(&self, org_id: &str, name: &str) -> Result<()>;
    async fn list_policies(&self, org_id: &str) -> Result<Vec<StoredPolicy>>;
    /// Every org's policies, to build the in-memory policy index at start-up.
    async fn list_all_policies(&self) -> Result<Vec<StoredPolicy>>;

    async fn get_org_settings(&self, org_id: &str) -> Result<OrgSettings>;
    async fn put_org_settings(&self, org_id: &str, settings: &OrgSettings) -> Result<()>;

    // ---- buckets ----
    /// `BucketAlreadyExists` when the name is taken (the caller decides whether the
    /// existing bucket is the caller's own).
    async fn create_bucket(&self, bucket: &Bucket) -> Result<()>;
    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>>;
    /// Buckets of one org ordered by name.
    async fn list_buckets(&self, org_id: &str) -> Result<Vec<Bucket>>;
    /// Fails with `BucketNotEmpty` if objects, noncurrent versions, delete markers or
    /// in-progress multipart uploads exist;
    /// `NoSuchBucket` if absent.
    async fn delete_bucket(&self, name: &str) -> Result<()>;
    async fn bucket_usage(&self, name: &str) -> Result<Usage>;
    /// Applies `edit` to the bucket's configuration atomically (read, edit, write in one
    /// transaction, through [`apply_bucket_edit`]) and returns the updated bucket.
    /// `NoSuchBucket` if absent. This is the only way to change a bucket's settings,
    /// policy, lifecycle, CORS or tags: a whole-record replace would let two concurrent
    /// edits of different parts lose one of them.
    async fn edit_bucket(&self, name: &str, edit: BucketEdit) -> Result<Bucket>;

    // ---- objects ----
    /// Inserts or replaces `record` atomically with: the bucket existing (`NoSuchBucket`),
    /// `cond` holding (`PreconditionFailed`), and, when `cap` is set, the bucket's usage
    /// after the write staying ≤ cap (`QuotaExceeded`). Usage counters change in the same
    /// transaction.
    async fn put_object(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced>;
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>>;
    /// Edits one object version's record in place, in one transaction that holds the
    /// bucket against writers: the current object of `key` (`version_id` `None`), or the
    /// version named (`"null"` = the null version), current or not. Only the fields
    /// [`apply_object_edit`] takes back change; data, ETag, last-modified, usage and
    /// fields this code does not know stay as stored. Returns the edited record.
    /// `NoSuchBucket`, `NoSuchKey` (no current object), `NoSuchVersion`, or
    /// `DeleteMarker { by_id: true }` for a marker; an error of `edit` is returned as is.
    async fn edit_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        edit: ObjectEdit,
    ) -> Result<ObjectRecord>;
    /// Removes the object if present (absent is not an error: `previous` is `None`).
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Replaced>;
    /// RenameObject: atomically moves the current object `src` of a bucket that was never
    /// versioned to `dst` (`Unimplemented` on an `Enabled`/`Suspended` bucket), keeping
    /// its data, ETag, last-modified time and metadata. Order of checks: `NoSuchBucket`,
    /// versioning, source present (`NoSuchKey`), `cond`'s source conditions, then its
    /// destination condition (`PreconditionFailed`). A destination object is replaced
    /// and returned in `previous` (blobs for the caller to delete); usage drops by it.
    /// `src == dst` changes nothing once the conditions hold.
    async fn rename_object(
        &self,
        bucket: &str,
        src: &str,
        dst: &str,
        cond: &RenameConditions,
    ) -> Result<Replaced>;
    /// Keys `> start_after` that start with `prefix`, ascending by UTF-8 bytes, at most `limit`.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<ObjectPage>;

    // ---- versioning ----
    // Storage model every backend keeps: the newest version of a key, when it is an
    // object, is "the current object" that `get_object`/`list_objects` see; every
    // other version (noncurrent objects, delete markers) is kept apart in version
    // order. Each key has at most one `null` version. Usage counts every stored object
    // version (current and noncurrent, as S3 storage metrics do); markers count nothing.
    // On `Unversioned` buckets `put_object` replaces the current object as before; on
    // versioned buckets it keeps the current object as a noncurrent version, except
    // that a write in a `Suspended` bucket replaces the key's `null` version.

    /// Sets the versioning state (`NoSuchBucket` if absent). `Unversioned` is refused
    /// with `InvalidArgument`: a bucket that was versioned stays versioned.
    async fn set_bucket_versioning(&self, name: &str, state: VersioningState) -> Result<()>;
    /// DELETE without a version id. Unversioned bucket: like `delete_object`. Enabled:
    /// adds a delete marker with id `marker_id` as the newest version. Suspended: adds
    /// a `null` delete marker, removing the key's previous `null` version.
    /// `NoSuchBucket` if the bucket is absent.
    async fn delete_object_current(
        &self,
        bucket: &str,
        key: &str,
        marker_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deleted>;
    /// Removes one version for good (`"null"` = the null version); if it was the newest,
    /// the next newest becomes current. A version that does not exist is not an error
    /// (`removed` is `None`, `version_id` echoes the id). `NoSuchBucket` if absent.
    /// An object version (not a delete marker) under Object Lock is judged by `lock`
    /// in the same transaction, before it is removed: a refusal (`PermissionDenied`)
    /// removes nothing.
    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        lock: crate::object_lock::DeleteCheck,
    ) -> Result<Deleted>;
    /// One version by id (`"null"` = the null version), current or not.
    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>>;
    /// Versions (objects and delete markers) of keys starting with `prefix`, by key
    /// ascending then newest first, after the position (`key_marker`,
    /// `version_id_marker`): with an empty version marker, keys `> key_marker`; with
    /// one, the versions of `key_marker` older than that version, then later keys. A
    /// version marker that does not exist is `InvalidArgument`. At most `limit`.
    /// `NoSuchBucket` if absent.
    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        version_id_marker: &str,
        limit: usize,
    ) -> Result<VersionPage>;

    // ---- multipart ----
    async fn create_upload(&self, upload: &MultipartUpload) -> Result<()>;
    async fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>>;
    /// Inserts or replaces one part (`NoSuchUpload` if the upload is gone); returns the
    /// replaced part, whose blob the caller deletes.
    async fn put_part(&self, part: &PartRecord) -> Result<Option<PartRecord>>;
    /// Parts ordered by number, `> part_number_marker`, at most `limit`.
    async fn list_parts(
        &self,
        upload_id: &str,
        part_number_marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>>;
    /// In-progress uploads of a bucket ordered by (key, initiated, upload_id) after the markers.
    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>>;
    /// Atomically: removes the upload and all its part rows, and puts `record` under the same
    /// rules as `put_object`. Returns the replaced object and the parts that were not used
    /// by `record` (both for blob deletion). `NoSuchUpload` if the upload is gone.
    async fn complete_upload(
        &self,
        upload_id: &str,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<(Replaced, Vec<PartRecord>)>;
    /// Removes the upload and returns its parts (`NoSuchUpload` if absent).
    async fn abort_upload(&self, upload_id: &str) -> Result<Vec<PartRecord>>;

    // ---- workload identity federation ----
    /// `AlreadyExists` when the config id is taken.
    async fn create_federation_config(&self, config: &FederationConfig) -> Result<()>;
    /// Replaces the stored config with the same (org, kind, id); `NotFound` when absent.
    async fn update_federation_config(&self, config: &FederationConfig) -> Result<()>;
    /// The config with this id if it belongs to `org_id` and is of `kind`.
    async fn get_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<Option<FederationConfig>>;
    /// Configs of one org and kind in creation order.
    async fn list_federation_configs(
        &self,
        org_id: &str,
        kind: FederationKind,
    ) -> Result<Vec<FederationConfig>>;
    /// `NotFound` unless a config with this id, org and kind exists.
    async fn delete_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<()>;
    /// One-time use of SAML assertion ids: records `(org_id, assertion_id)` as used until
    /// `expires` and returns true, or returns false (and changes nothing) when that id is
    /// already recorded with an expiry after `now` — a replay. Entries expired at `now`
    /// count as absent and may be purged by this call. Atomic: of two concurrent calls
    /// with the same id, exactly one returns true.
    async fn record_assertion_id(
        &self,
        org_id: &str,
        assertion_id: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool>;

    // ---- audit outbox ----
    /// Whether this store keeps an audit outbox: audit events committed in the same
    /// transaction as the write they describe (`put_object_audited`), read and trimmed by
    /// the audit flusher. Callers of a store without one record events in the audit
    /// spool instead; the outbox is an optimisation, never the only way to audit.
    fn has_audit_outbox(&self) -> bool {
        false
    }

    /// [`Self::put_object`] that also appends `event` (one serialized audit record) to
    /// the audit outbox in the same transaction: the event is durable exactly when the
    /// write is, and absent when the write fails. Fails loudly on a store without an
    /// outbox.
    async fn put_object_audited(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
        event: Vec<u8>,
    ) -> Result<Replaced> {
        let _ = (record, cond, cap, event);
        Err(crate::error::Error::internal(
            "this metadata store has no audit outbox",
        ))
    }

    /// Outbox entries numbered above `after` (and at most `through`, when set), in
    /// number order, as `(seq, event)`. Without `through`, reading stops once
    /// `max_bytes` of events were returned (at least one is). Numbers are assigned in
    /// commit order and never reused, so the entries visible at any moment are a
    /// prefix of all entries ever committed above the trimmed ones.
    async fn read_audit_outbox(
        &self,
        after: u64,
        through: Option<u64>,
        max_bytes: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let _ = (after, through, max_bytes);
        Ok(Vec::new())
    }

    /// Deletes the outbox entries numbered ≤ `through` (delivered by the flusher).
    async fn trim_audit_outbox(&self, through: u64) -> Result<()> {
        let _ = through;
        Ok(())
    }

    /// `(entries, bytes)` in the outbox.
    async fn audit_outbox_depth(&self) -> Result<(u64, u64)> {
        Ok((0, 0))
    }

    // ---- maintenance ----
    /// Every blob id referenced by an object or a part, for the start-up orphan sweep.
    async fn referenced_blobs(&self) -> Result<HashSet<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> Bucket {
        Bucket {
            name: "b".into(),
            org_id: "orgaaa".into(),
            zone: "Z".into(),
            created: OffsetDateTime::UNIX_EPOCH,
            settings: BucketSettings::default(),
            policy: None,
            versioning: VersioningState::Enabled,
            lifecycle: None,
            subresources: BucketSubresources::default(),
        }
    }

    #[test]
    fn object_lock_once_enabled_stays() {
        let mut b = bucket();
        let enable: BucketEdit = Box::new(|b| {
            b.subresources.object_lock = Some(Default::default());
            Ok(())
        });
        assert!(apply_bucket_edit(&mut b, enable).unwrap());
        let disable: BucketEdit = Box::new(|b| {
            b.subresources = BucketSubresources::default();
            Ok(())
        });
        assert!(matches!(
            apply_bucket_edit(&mut b, disable),
            Err(crate::Error::InvalidBucketState(_))
        ));
        assert!(b.subresources.object_lock.is_some());
    }

    #[test]
    fn object_edits_take_back_only_editable_fields() {
        let stored = ObjectRecord {
            v: RECORD_VERSION,
            bucket: "b".into(),
            key: "k".into(),
            size: 3,
            etag: "\"e\"".into(),
            last_modified: OffsetDateTime::UNIX_EPOCH,
            headers: ObjectHeaders::default(),
            user_metadata: Default::default(),
            checksums: Checksums::default(),
            parts: Vec::new(),
            tags: Default::default(),
            data: ObjectData::Inline(b"abc".to_vec()),
            version_id: None,
            inline_crc32c: None,
            upload_id: None,
            owner_org: None,
            acl: None,
            retention: None,
            legal_hold: false,
            encryption: None,
        };
        let edit: ObjectEdit = std::sync::Arc::new(|r| {
            r.legal_hold = true;
            r.size = 99;
            r.etag = "\"forged\"".into();
            Ok(())
        });
        let (kept, changed) = apply_object_edit(&stored, &edit).unwrap();
        assert_eq!(changed, vec![("legal_hold", Some(serde_json::json!(true)))]);
        assert_eq!((kept.size, kept.etag.as_str()), (3, "\"e\""));
        assert!(kept.legal_hold);
        let nothing: ObjectEdit = std::sync::Arc::new(|_| Ok(()));
        assert!(apply_object_edit(&stored, &nothing).unwrap().1.is_empty());
    }
}
