//! In-memory `MetaStore` and `BlobStore` fakes with the documented semantics of the
//! object/bucket/multipart methods, plus counters and fault injection for the tests.

use async_trait::async_trait;
use bytes::Bytes;
use coffer_core::blob::{BlobStore, BlobWriter, ByteStream};
use coffer_core::error::{Error, Result};
use coffer_core::meta::{
    BucketEdit, KeyListing, MetaStore, ObjectPage, Replaced, apply_bucket_edit,
};
use coffer_core::model::*;
use coffer_core::quota::Quotas;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Default)]
pub struct State {
    pub buckets: BTreeMap<String, Bucket>,
    pub objects: BTreeMap<(String, String), ObjectRecord>,
    pub uploads: BTreeMap<String, MultipartUpload>,
    pub parts: BTreeMap<(String, u32), PartRecord>,
}

#[derive(Default)]
pub struct MemMeta {
    pub state: Mutex<State>,
    pub list_calls: AtomicUsize,
    pub get_bucket_calls: AtomicUsize,
    /// Rows returned by `list_objects` in total.
    pub list_rows: AtomicUsize,
    pub fail_put: AtomicBool,
}

fn unquote(s: &str) -> &str {
    s.trim_matches('"')
}

impl State {
    fn usage(&self, bucket: &str) -> Usage {
        let mut u = Usage::default();
        for ((b, _), r) in &self.objects {
            if b == bucket {
                u.bytes += r.size;
                u.objects += 1;
            }
        }
        u
    }

    fn put(
        &mut self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        if !self.buckets.contains_key(&record.bucket) {
            return Err(Error::NoSuchBucket);
        }
        let k = (record.bucket.clone(), record.key.clone());
        let existing = self.objects.get(&k);
        match (cond, existing) {
            (WriteCondition::IfNoneMatch, Some(_)) => return Err(Error::PreconditionFailed),
            (WriteCondition::IfMatch(_), None) => return Err(Error::PreconditionFailed),
            (WriteCondition::IfMatch(e), Some(r)) if unquote(e) != unquote(&r.etag) => {
                return Err(Error::PreconditionFailed);
            }
            _ => {}
        }
        if let Some(cap) = cap {
            let after =
                self.usage(&record.bucket).bytes - existing.map_or(0, |r| r.size) + record.size;
            if after > cap {
                return Err(Error::QuotaExceeded("cap".into()));
            }
        }
        let previous = self.objects.insert(k, record.clone());
        Ok(Replaced {
            previous,
            version_id: None,
        })
    }
}

fn unimpl<T>() -> Result<T> {
    Err(Error::Unimplemented("not in the fake".into()))
}

#[async_trait]
impl MetaStore for MemMeta {
    async fn create_org(&self, _: &Org) -> Result<()> {
        unimpl()
    }
    async fn bootstrap(&self, _: &Org, _: &User, _: &ApiToken) -> Result<bool> {
        unimpl()
    }
    async fn get_org(&self, _: &str) -> Result<Option<Org>> {
        unimpl()
    }
    async fn list_orgs(&self) -> Result<Vec<Org>> {
        unimpl()
    }
    async fn update_org(&self, _: &Org) -> Result<()> {
        unimpl()
    }
    async fn create_user(&self, _: &User) -> Result<()> {
        unimpl()
    }
    async fn get_user(&self, _: &str) -> Result<Option<User>> {
        unimpl()
    }
    async fn list_users(&self, _: &str) -> Result<Vec<User>> {
        unimpl()
    }
    async fn delete_user(&self, _: &str) -> Result<()> {
        unimpl()
    }
    async fn create_token(&self, _: &ApiToken) -> Result<()> {
        unimpl()
    }
    async fn get_token_by_hash(&self, _: &str) -> Result<Option<ApiToken>> {
        unimpl()
    }
    async fn list_tokens(&self, _: &str) -> Result<Vec<ApiToken>> {
        unimpl()
    }
    async fn delete_token(&self, _: &str) -> Result<()> {
        unimpl()
    }
    async fn create_access_key(&self, _: &AccessKey, _: &Quotas) -> Result<()> {
        unimpl()
    }
    async fn get_access_key(&self, _: &str) -> Result<Option<AccessKey>> {
        unimpl()
    }
    async fn list_access_keys(&self, _: &str, _: &KeyListing) -> Result<Vec<AccessKey>> {
        unimpl()
    }
    async fn set_access_key_state(&self, _: &str, _: KeyState) -> Result<()> {
        unimpl()
    }
    async fn set_principal_key_state(&self, _: &str, _: &str, _: KeyState) -> Result<u64> {
        unimpl()
    }
    async fn put_policy(&self, _: &StoredPolicy, _: &Quotas) -> Result<()> {
        unimpl()
    }
    async fn delete_policy(&self, _: &str, _: &str) -> Result<()> {
        unimpl()
    }
    async fn list_policies(&self, _: &str) -> Result<Vec<StoredPolicy>> {
        unimpl()
    }
    async fn list_all_policies(&self) -> Result<Vec<StoredPolicy>> {
        unimpl()
    }
    async fn get_org_settings(&self, _: &str) -> Result<OrgSettings> {
        unimpl()
    }
    async fn put_org_settings(&self, _: &str, _: &OrgSettings) -> Result<()> {
        unimpl()
    }

    async fn create_bucket(&self, bucket: &Bucket) -> Result<()> {
        let mut s = self.state.lock();
        if s.buckets.contains_key(&bucket.name) {
            return Err(Error::BucketAlreadyExists);
        }
        s.buckets.insert(bucket.name.clone(), bucket.clone());
        Ok(())
    }
    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        self.get_bucket_calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.state.lock().buckets.get(name).cloned())
    }
    async fn list_buckets(&self, org_id: &str) -> Result<Vec<Bucket>> {
        Ok(self
            .state
            .lock()
            .buckets
            .values()
            .filter(|b| b.org_id == org_id)
            .cloned()
            .collect())
    }
    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let mut s = self.state.lock();
        if !s.buckets.contains_key(name) {
            return Err(Error::NoSuchBucket);
        }
        if s.objects.keys().any(|(b, _)| b == name) || s.uploads.values().any(|u| u.bucket == name)
        {
            return Err(Error::BucketNotEmpty);
        }
        s.buckets.remove(name);
        Ok(())
    }
    async fn bucket_usage(&self, name: &str) -> Result<Usage> {
        Ok(self.state.lock().usage(name))
    }
    async fn edit_bucket(&self, name: &str, edit: BucketEdit) -> Result<Bucket> {
        let mut s = self.state.lock();
        let b = s.buckets.get_mut(name).ok_or(Error::NoSuchBucket)?;
        // In memory an unchanged record costs nothing to keep as it is.
        apply_bucket_edit(b, edit)?;
        Ok(b.clone())
    }
    async fn rename_object(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &RenameConditions,
    ) -> Result<Replaced> {
        unimpl()
    }
    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let mut s = self.state.lock();
        if !s.buckets.contains_key(bucket) {
            return Err(Error::NoSuchBucket);
        }
        let rec = s
            .objects
            .get_mut(&(bucket.to_string(), key.to_string()))
            .ok_or(Error::NoSuchKey)?;
        rec.tags = tags.clone();
        Ok(())
    }

    async fn put_object(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        if self.fail_put.load(Ordering::SeqCst) {
            return Err(Error::internal("injected metadata failure"));
        }
        self.state.lock().put(record, cond, cap)
    }
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        Ok(self
            .state
            .lock()
            .objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned())
    }
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Replaced> {
        let previous = self
            .state
            .lock()
            .objects
            .remove(&(bucket.to_string(), key.to_string()));
        Ok(Replaced {
            previous,
            version_id: None,
        })
    }
    // Versioning is covered by the store conformance suite; these fakes model
    // unversioned buckets only.
    async fn set_bucket_versioning(&self, _: &str, _: VersioningState) -> Result<()> {
        unimpl()
    }
    async fn delete_object_current(
        &self,
        bucket: &str,
        key: &str,
        _marker_id: &str,
        _now: time::OffsetDateTime,
    ) -> Result<coffer_core::meta::Deleted> {
        if !self.state.lock().buckets.contains_key(bucket) {
            return Err(Error::NoSuchBucket);
        }
        let r = self.delete_object(bucket, key).await?;
        Ok(coffer_core::meta::Deleted {
            removed: r.previous,
            ..Default::default()
        })
    }
    async fn delete_object_version(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<coffer_core::meta::Deleted> {
        unimpl()
    }
    async fn get_object_version(&self, _: &str, _: &str, _: &str) -> Result<Option<ObjectVersion>> {
        unimpl()
    }
    async fn list_object_versions(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &str,
        _: usize,
    ) -> Result<coffer_core::meta::VersionPage> {
        unimpl()
    }
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<ObjectPage> {
        self.list_calls.fetch_add(1, Ordering::SeqCst);
        let s = self.state.lock();
        let from = (bucket.to_string(), start_after.max(prefix).to_string());
        let lower = if start_after >= prefix {
            Bound::Excluded(from)
        } else {
            Bound::Included(from)
        };
        let mut it = s
            .objects
            .range((lower, Bound::Unbounded))
            .take_while(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|(_, r)| ObjectSummary {
                key: r.key.clone(),
                size: r.size,
                etag: r.etag.clone(),
                last_modified: r.last_modified,
            });
        let objects: Vec<_> = it.by_ref().take(limit).collect();
        let truncated = it.next().is_some();
        self.list_rows.fetch_add(objects.len(), Ordering::SeqCst);
        Ok(ObjectPage { objects, truncated })
    }

    async fn create_upload(&self, upload: &MultipartUpload) -> Result<()> {
        let mut s = self.state.lock();
        if !s.buckets.contains_key(&upload.bucket) {
            return Err(Error::NoSuchBucket);
        }
        s.uploads.insert(upload.upload_id.clone(), upload.clone());
        Ok(())
    }
    async fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>> {
        Ok(self.state.lock().uploads.get(upload_id).cloned())
    }
    async fn put_part(&self, part: &PartRecord) -> Result<Option<PartRecord>> {
        let mut s = self.state.lock();
        if !s.uploads.contains_key(&part.upload_id) {
            return Err(Error::NoSuchUpload);
        }
        Ok(s.parts
            .insert((part.upload_id.clone(), part.part_number), part.clone()))
    }
    async fn list_parts(
        &self,
        upload_id: &str,
        marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        let s = self.state.lock();
        Ok(s.parts
            .range((upload_id.to_string(), marker.saturating_add(1))..)
            .take_while(|((u, _), _)| u == upload_id)
            .take(limit)
            .map(|(_, p)| p.clone())
            .collect())
    }
    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>> {
        let s = self.state.lock();
        // Ordered by (key, upload_id) in this fake.
        let mut all: Vec<&MultipartUpload> = s
            .uploads
            .values()
            .filter(|u| u.bucket == bucket && u.key.starts_with(prefix))
            .collect();
        all.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        Ok(all
            .into_iter()
            .filter(|u| {
                u.key.as_str() > key_marker
                    || (!upload_id_marker.is_empty()
                        && u.key == key_marker
                        && u.upload_id.as_str() > upload_id_marker)
            })
            .take(limit)
            .cloned()
            .collect())
    }
    async fn complete_upload(
        &self,
        upload_id: &str,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<(Replaced, Vec<PartRecord>)> {
        let mut s = self.state.lock();
        if !s.uploads.contains_key(upload_id) {
            return Err(Error::NoSuchUpload);
        }
        let replaced = s.put(record, cond, cap)?;
        s.uploads.remove(upload_id);
        let used: HashSet<&str> = record.data.blob_ids().collect();
        let keys: Vec<_> = s
            .parts
            .keys()
            .filter(|(u, _)| u == upload_id)
            .cloned()
            .collect();
        let mut unused = Vec::new();
        for k in keys {
            if let Some(p) = s.parts.remove(&k)
                && !used.contains(p.blob_id.as_str())
            {
                unused.push(p);
            }
        }
        Ok((replaced, unused))
    }
    async fn abort_upload(&self, upload_id: &str) -> Result<Vec<PartRecord>> {
        let mut s = self.state.lock();
        if s.uploads.remove(upload_id).is_none() {
            return Err(Error::NoSuchUpload);
        }
        let keys: Vec<_> = s
            .parts
            .keys()
            .filter(|(u, _)| u == upload_id)
            .cloned()
            .collect();
        Ok(keys
            .into_iter()
            .filter_map(|k| s.parts.remove(&k))
            .collect())
    }
    async fn create_federation_config(&self, _: &FederationConfig) -> Result<()> {
        unimpl()
    }
    async fn update_federation_config(&self, _: &FederationConfig) -> Result<()> {
        unimpl()
    }
    async fn get_federation_config(
        &self,
        _: &str,
        _: FederationKind,
        _: &str,
    ) -> Result<Option<FederationConfig>> {
        unimpl()
    }
    async fn list_federation_configs(
        &self,
        _: &str,
        _: FederationKind,
    ) -> Result<Vec<FederationConfig>> {
        unimpl()
    }
    async fn delete_federation_config(&self, _: &str, _: FederationKind, _: &str) -> Result<()> {
        unimpl()
    }
    async fn record_assertion_id(
        &self,
        _: &str,
        _: &str,
        _: time::OffsetDateTime,
        _: time::OffsetDateTime,
    ) -> Result<bool> {
        unimpl()
    }
    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        let s = self.state.lock();
        let mut out: HashSet<String> = s
            .objects
            .values()
            .flat_map(|r| r.data.blob_ids().map(str::to_string).collect::<Vec<_>>())
            .collect();
        out.extend(s.parts.values().map(|p| p.blob_id.clone()));
        Ok(out)
    }
}

#[derive(Default)]
pub struct BlobInner {
    pub committed: Mutex<HashMap<String, Bytes>>,
    /// Writers created and neither committed nor aborted.
    pub open: AtomicUsize,
    pub reads: AtomicUsize,
    pub fail_writes: AtomicBool,
    /// Sizes of every `write` call, to observe chunking.
    pub write_sizes: Mutex<Vec<usize>>,
    /// Milliseconds each `commit` takes.
    pub commit_delay_ms: AtomicUsize,
    next_id: AtomicUsize,
}

#[derive(Default, Clone)]
pub struct MemBlobs(pub Arc<BlobInner>);

impl MemBlobs {
    pub fn count(&self) -> usize {
        self.0.committed.lock().len()
    }
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }
    pub fn reads(&self) -> usize {
        self.0.reads.load(Ordering::SeqCst)
    }
    pub fn ids(&self) -> HashSet<String> {
        self.0.committed.lock().keys().cloned().collect()
    }
}

struct MemWriter {
    inner: Arc<BlobInner>,
    buf: Vec<u8>,
}

#[async_trait]
impl BlobWriter for MemWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if self.inner.fail_writes.load(Ordering::SeqCst) {
            return Err(Error::InsufficientStorage("injected".into()));
        }
        self.inner.write_sizes.lock().push(chunk.len());
        self.buf.extend_from_slice(&chunk);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> Result<String> {
        let delay = self.inner.commit_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay as u64)).await;
        }
        let id = format!(
            "blob{:06}",
            self.inner.next_id.fetch_add(1, Ordering::SeqCst)
        );
        self.inner.open.fetch_sub(1, Ordering::SeqCst);
        self.inner
            .committed
            .lock()
            .insert(id.clone(), Bytes::from(self.buf));
        Ok(id)
    }
    async fn abort(self: Box<Self>) {
        self.inner.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl BlobStore for MemBlobs {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        self.0.open.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(MemWriter {
            inner: self.0.clone(),
            buf: Vec::new(),
        }))
    }
    async fn read(&self, blob_id: &str, offset: u64, len: u64) -> Result<ByteStream> {
        self.0.reads.fetch_add(1, Ordering::SeqCst);
        let data = self
            .0
            .committed
            .lock()
            .get(blob_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("blob {blob_id}")))?;
        let (s, e) = (offset as usize, (offset + len) as usize);
        if e > data.len() {
            return Err(Error::internal("read past the end of a blob"));
        }
        let slice = data.slice(s..e);
        let pieces: Vec<std::io::Result<Bytes>> = (0..slice.len())
            .step_by(64 * 1024)
            .map(|i| Ok(slice.slice(i..(i + 64 * 1024).min(slice.len()))))
            .collect();
        Ok(Box::pin(futures::stream::iter(pieces)))
    }
    async fn delete(&self, blob_id: &str) -> Result<()> {
        self.0.committed.lock().remove(blob_id);
        Ok(())
    }
    async fn recover(&self, _: &HashSet<String>, _: std::time::Duration) -> Result<(u64, u64)> {
        Ok((0, 0))
    }
}
