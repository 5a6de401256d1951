//! Test support (feature `testing`): a real SQLite store in a temporary directory, and
//! [`TestMetaStore`], a `MetaStore` that forwards every call to a real store and adds
//! the observations and faults tests need (call counters, an injected `put_object`
//! failure, a pause after one access-key read).

use crate::SqliteMetaStore;
use async_trait::async_trait;
use coffer_core::meta::{
    BucketEdit, Deleted, KeyListing, MetaStore, ObjectEdit, ObjectPage, Replaced, VersionPage,
};
use coffer_core::model::*;
use coffer_core::quota::Quotas;
use coffer_core::{Error, Result};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// A `SqliteMetaStore` on a new file in a new temporary directory, which lives as long
/// as the returned store (the directory is removed when the last handle is dropped).
pub fn temp_sqlite() -> TestMetaStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteMetaStore::open(&dir.path().join("meta.db")).expect("open SQLite");
    let mut t = TestMetaStore::new(Arc::new(store));
    t._dir = Some(dir);
    t
}

/// Held by [`TestMetaStore::pause_after_key_read`].
struct Gate {
    id: String,
    read: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// Forwards every `MetaStore` call to `inner` (the rules are the real store's), counting
/// some and failing `put_object` on request.
pub struct TestMetaStore {
    inner: Arc<dyn MetaStore>,
    /// Calls of `get_bucket`.
    pub get_bucket_calls: AtomicU64,
    /// Calls of `list_objects`.
    pub list_objects_calls: AtomicU64,
    /// Rows returned by `list_objects`, all calls together.
    pub list_objects_rows: AtomicU64,
    /// While set, `put_object` (only it) fails with `Internal` without reaching `inner`.
    pub fail_put_object: AtomicBool,
    gate: Mutex<Option<Gate>>,
    // Declared last: dropped after `inner`, whose files are inside.
    _dir: Option<tempfile::TempDir>,
}

impl TestMetaStore {
    pub fn new(inner: Arc<dyn MetaStore>) -> Self {
        Self {
            inner,
            get_bucket_calls: AtomicU64::new(0),
            list_objects_calls: AtomicU64::new(0),
            list_objects_rows: AtomicU64::new(0),
            fail_put_object: AtomicBool::new(false),
            gate: Mutex::new(None),
            _dir: None,
        }
    }

    /// The wrapped store: calls through it are neither counted nor faulted (another node
    /// writing to the same database, say).
    pub fn inner(&self) -> &Arc<dyn MetaStore> {
        &self.inner
    }

    /// The next `get_access_key` of `id`, once the store has answered it, waits until the
    /// returned sender is used (or dropped) before returning. Returns (read done, release).
    pub fn pause_after_key_read(&self, id: &str) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (read_tx, read_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.gate.lock() = Some(Gate {
            id: id.to_string(),
            read: read_tx,
            release: release_rx,
        });
        (read_rx, release_tx)
    }

    fn count(c: &AtomicU64) {
        c.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl MetaStore for TestMetaStore {
    async fn create_org(&self, org: &Org) -> Result<()> {
        self.inner.create_org(org).await
    }
    async fn bootstrap(&self, org: &Org, admin: &User, token: &ApiToken) -> Result<bool> {
        self.inner.bootstrap(org, admin, token).await
    }
    async fn get_org(&self, org_id: &str) -> Result<Option<Org>> {
        self.inner.get_org(org_id).await
    }
    async fn list_orgs(&self) -> Result<Vec<Org>> {
        self.inner.list_orgs().await
    }
    async fn update_org(&self, org: &Org) -> Result<()> {
        self.inner.update_org(org).await
    }
    async fn create_user(&self, user: &User) -> Result<()> {
        self.inner.create_user(user).await
    }
    async fn get_user(&self, uid: &str) -> Result<Option<User>> {
        self.inner.get_user(uid).await
    }
    async fn list_users(&self, org_id: &str) -> Result<Vec<User>> {
        self.inner.list_users(org_id).await
    }
    async fn delete_user(&self, uid: &str) -> Result<()> {
        self.inner.delete_user(uid).await
    }
    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        self.inner.create_token(token).await
    }
    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        self.inner.get_token_by_hash(token_hash).await
    }
    async fn list_tokens(&self, org_id: &str) -> Result<Vec<ApiToken>> {
        self.inner.list_tokens(org_id).await
    }
    async fn delete_token(&self, token_id: &str) -> Result<()> {
        self.inner.delete_token(token_id).await
    }
    async fn create_cache_node(&self, node: &CacheNode) -> Result<()> {
        self.inner.create_cache_node(node).await
    }
    async fn get_cache_node_by_hash(&self, credential_hash: &str) -> Result<Option<CacheNode>> {
        self.inner.get_cache_node_by_hash(credential_hash).await
    }
    async fn list_cache_nodes(&self) -> Result<Vec<CacheNode>> {
        self.inner.list_cache_nodes().await
    }
    async fn delete_cache_node(&self, node_id: &str) -> Result<()> {
        self.inner.delete_cache_node(node_id).await
    }
    async fn create_access_key(&self, key: &AccessKey, quotas: &Quotas) -> Result<()> {
        self.inner.create_access_key(key, quotas).await
    }
    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        let r = self.inner.get_access_key(access_key_id).await;
        let gate = {
            let mut g = self.gate.lock();
            match g.as_ref() {
                Some(gate) if gate.id == access_key_id => g.take(),
                _ => None,
            }
        };
        if let Some(gate) = gate {
            let _ = gate.read.send(());
            let _ = gate.release.await;
        }
        r
    }
    async fn list_access_keys(&self, org_id: &str, page: &KeyListing) -> Result<Vec<AccessKey>> {
        self.inner.list_access_keys(org_id, page).await
    }
    async fn set_access_key_state(&self, access_key_id: &str, state: KeyState) -> Result<()> {
        self.inner.set_access_key_state(access_key_id, state).await
    }
    async fn set_principal_key_state(
        &self,
        org_id: &str,
        principal: &str,
        state: KeyState,
    ) -> Result<u64> {
        self.inner
            .set_principal_key_state(org_id, principal, state)
            .await
    }
    async fn put_policy(&self, policy: &StoredPolicy, quotas: &Quotas) -> Result<()> {
        self.inner.put_policy(policy, quotas).await
    }
    async fn delete_policy(&self, org_id: &str, name: &str) -> Result<()> {
        self.inner.delete_policy(org_id, name).await
    }
    async fn list_policies(&self, org_id: &str) -> Result<Vec<StoredPolicy>> {
        self.inner.list_policies(org_id).await
    }
    async fn list_all_policies(&self) -> Result<Vec<StoredPolicy>> {
        self.inner.list_all_policies().await
    }
    async fn get_org_settings(&self, org_id: &str) -> Result<OrgSettings> {
        self.inner.get_org_settings(org_id).await
    }
    async fn put_org_settings(&self, org_id: &str, settings: &OrgSettings) -> Result<()> {
        self.inner.put_org_settings(org_id, settings).await
    }
    async fn create_bucket(&self, bucket: &Bucket) -> Result<()> {
        self.inner.create_bucket(bucket).await
    }
    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        Self::count(&self.get_bucket_calls);
        self.inner.get_bucket(name).await
    }
    async fn list_buckets(&self, org_id: &str) -> Result<Vec<Bucket>> {
        self.inner.list_buckets(org_id).await
    }
    async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.inner.delete_bucket(name).await
    }
    async fn bucket_usage(&self, name: &str) -> Result<Usage> {
        self.inner.bucket_usage(name).await
    }
    async fn edit_bucket(&self, name: &str, edit: BucketEdit) -> Result<Bucket> {
        self.inner.edit_bucket(name, edit).await
    }
    async fn put_object(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        if self.fail_put_object.load(Ordering::SeqCst) {
            return Err(Error::internal("injected metadata failure"));
        }
        self.inner.put_object(record, cond, cap).await
    }
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        self.inner.get_object(bucket, key).await
    }
    async fn edit_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        edit: ObjectEdit,
    ) -> Result<ObjectRecord> {
        self.inner.edit_object(bucket, key, version_id, edit).await
    }
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Replaced> {
        self.inner.delete_object(bucket, key).await
    }
    async fn rename_object(
        &self,
        bucket: &str,
        src: &str,
        dst: &str,
        cond: &RenameConditions,
    ) -> Result<Replaced> {
        self.inner.rename_object(bucket, src, dst, cond).await
    }
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<ObjectPage> {
        Self::count(&self.list_objects_calls);
        let page = self
            .inner
            .list_objects(bucket, prefix, start_after, limit)
            .await?;
        self.list_objects_rows
            .fetch_add(page.objects.len() as u64, Ordering::SeqCst);
        Ok(page)
    }
    async fn set_bucket_versioning(&self, name: &str, state: VersioningState) -> Result<()> {
        self.inner.set_bucket_versioning(name, state).await
    }
    async fn delete_object_current(
        &self,
        bucket: &str,
        key: &str,
        marker_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deleted> {
        self.inner
            .delete_object_current(bucket, key, marker_id, now)
            .await
    }
    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        lock: coffer_core::object_lock::DeleteCheck,
    ) -> Result<Deleted> {
        self.inner
            .delete_object_version(bucket, key, version_id, lock)
            .await
    }
    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>> {
        self.inner.get_object_version(bucket, key, version_id).await
    }
    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        version_id_marker: &str,
        limit: usize,
    ) -> Result<VersionPage> {
        self.inner
            .list_object_versions(bucket, prefix, key_marker, version_id_marker, limit)
            .await
    }
    async fn create_upload(&self, upload: &MultipartUpload) -> Result<()> {
        self.inner.create_upload(upload).await
    }
    async fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>> {
        self.inner.get_upload(upload_id).await
    }
    async fn put_part(&self, part: &PartRecord) -> Result<Option<PartRecord>> {
        self.inner.put_part(part).await
    }
    async fn list_parts(
        &self,
        upload_id: &str,
        part_number_marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        self.inner
            .list_parts(upload_id, part_number_marker, limit)
            .await
    }
    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>> {
        self.inner
            .list_uploads(bucket, prefix, key_marker, upload_id_marker, limit)
            .await
    }
    async fn complete_upload(
        &self,
        upload_id: &str,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<(Replaced, Vec<PartRecord>)> {
        self.inner
            .complete_upload(upload_id, record, cond, cap)
            .await
    }
    async fn abort_upload(&self, upload_id: &str) -> Result<Vec<PartRecord>> {
        self.inner.abort_upload(upload_id).await
    }
    async fn create_federation_config(&self, config: &FederationConfig) -> Result<()> {
        self.inner.create_federation_config(config).await
    }
    async fn update_federation_config(&self, config: &FederationConfig) -> Result<()> {
        self.inner.update_federation_config(config).await
    }
    async fn get_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<Option<FederationConfig>> {
        self.inner
            .get_federation_config(org_id, kind, config_id)
            .await
    }
    async fn list_federation_configs(
        &self,
        org_id: &str,
        kind: FederationKind,
    ) -> Result<Vec<FederationConfig>> {
        self.inner.list_federation_configs(org_id, kind).await
    }
    async fn delete_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<()> {
        self.inner
            .delete_federation_config(org_id, kind, config_id)
            .await
    }
    async fn record_assertion_id(
        &self,
        org_id: &str,
        assertion_id: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.inner
            .record_assertion_id(org_id, assertion_id, expires, now)
            .await
    }
    fn has_audit_outbox(&self) -> bool {
        self.inner.has_audit_outbox()
    }
    async fn put_object_audited(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
        event: Vec<u8>,
    ) -> Result<Replaced> {
        self.inner
            .put_object_audited(record, cond, cap, event)
            .await
    }
    async fn read_audit_outbox(
        &self,
        after: u64,
        through: Option<u64>,
        max_bytes: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        self.inner
            .read_audit_outbox(after, through, max_bytes)
            .await
    }
    async fn trim_audit_outbox(&self, through: u64) -> Result<()> {
        self.inner.trim_audit_outbox(through).await
    }
    async fn audit_outbox_depth(&self) -> Result<(u64, u64)> {
        self.inner.audit_outbox_depth().await
    }
    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        self.inner.referenced_blobs().await
    }
}
