//! `MemMetaStore`: the in-memory `MetaStore` for tests. All state sits in ordered maps
//! behind one mutex; every method holds the lock for its whole duration, checks every
//! rule before changing anything, and so is atomic and isolated like a transaction.

use crate::semantics::{self, UploadMarker};
use async_trait::async_trait;
use coffer_core::meta::{MetaStore, ObjectPage, Replaced, SubresourceEdit};
use coffer_core::model::*;
use coffer_core::{Error, Result};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashSet};
use time::OffsetDateTime;

#[derive(Default)]
struct State {
    orgs: BTreeMap<String, Org>,
    users: BTreeMap<String, User>,
    tokens: BTreeMap<String, ApiToken>,
    /// token_hash → token_id (unique).
    token_hashes: BTreeMap<String, String>,
    /// Creation sequence → key; `key_seq` finds a key's sequence number.
    keys: BTreeMap<u64, AccessKey>,
    key_seq: BTreeMap<String, u64>,
    next_key_seq: u64,
    policies: BTreeMap<(String, String), StoredPolicy>,
    settings: BTreeMap<String, OrgSettings>,
    /// Invariant: `usage` equals the sum over `objects[name]`.
    buckets: BTreeMap<String, (Bucket, Usage)>,
    /// bucket → key → record. `String` orders by UTF-8 bytes, as listings require.
    objects: BTreeMap<String, BTreeMap<String, ObjectRecord>>,
    uploads: BTreeMap<String, MultipartUpload>,
    /// Invariant: a key here is also a key of `uploads`.
    parts: BTreeMap<String, BTreeMap<u32, PartRecord>>,
    /// Creation sequence → federation config; `fed_seq` finds a config's sequence number.
    fed_configs: BTreeMap<u64, FederationConfig>,
    fed_seq: BTreeMap<String, u64>,
    next_fed_seq: u64,
    /// (org, assertion id) → expiry.
    assertion_ids: BTreeMap<(String, String), OffsetDateTime>,
}

impl State {
    /// Checks every `put_object` rule, then applies the write. Nothing changes on error.
    fn put_object(
        &mut self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        let (_, usage) = self
            .buckets
            .get(&record.bucket)
            .ok_or(Error::NoSuchBucket)?;
        let existing = self
            .objects
            .get(&record.bucket)
            .and_then(|m| m.get(&record.key));
        semantics::check_condition(cond, existing.map(|r| r.etag.as_str()))?;
        let after = semantics::usage_after_put(
            &record.bucket,
            *usage,
            existing.map(|r| r.size),
            record.size,
            cap,
        )?;
        if let Some((_, u)) = self.buckets.get_mut(&record.bucket) {
            *u = after;
        }
        let previous = self
            .objects
            .entry(record.bucket.clone())
            .or_default()
            .insert(record.key.clone(), record.clone());
        Ok(Replaced { previous })
    }
}

/// In-memory `MetaStore` with the same semantics as the durable backends.
#[derive(Default)]
pub struct MemMetaStore {
    state: Mutex<State>,
}

impl MemMetaStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn nanos(t: time::OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos()
}

#[async_trait]
impl MetaStore for MemMetaStore {
    async fn create_org(&self, org: &Org) -> Result<()> {
        let mut s = self.state.lock();
        if s.orgs.contains_key(&org.org_id) {
            return Err(Error::AlreadyExists(format!("org {}", org.org_id)));
        }
        s.orgs.insert(org.org_id.clone(), org.clone());
        Ok(())
    }

    async fn get_org(&self, org_id: &str) -> Result<Option<Org>> {
        Ok(self.state.lock().orgs.get(org_id).cloned())
    }

    async fn list_orgs(&self) -> Result<Vec<Org>> {
        Ok(self.state.lock().orgs.values().cloned().collect())
    }

    async fn update_org(&self, org: &Org) -> Result<()> {
        let mut s = self.state.lock();
        match s.orgs.get_mut(&org.org_id) {
            Some(o) => {
                *o = org.clone();
                Ok(())
            }
            None => Err(Error::NotFound(format!("org {}", org.org_id))),
        }
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let mut s = self.state.lock();
        if s.users.contains_key(&user.uid) {
            return Err(Error::AlreadyExists(format!("user {}", user.uid)));
        }
        s.users.insert(user.uid.clone(), user.clone());
        Ok(())
    }

    async fn get_user(&self, uid: &str) -> Result<Option<User>> {
        Ok(self.state.lock().users.get(uid).cloned())
    }

    async fn list_users(&self, org_id: &str) -> Result<Vec<User>> {
        let s = self.state.lock();
        Ok(s.users
            .values()
            .filter(|u| u.org_id == org_id)
            .cloned()
            .collect())
    }

    async fn delete_user(&self, uid: &str) -> Result<()> {
        let mut s = self.state.lock();
        let user = s
            .users
            .remove(uid)
            .ok_or_else(|| Error::NotFound(format!("user {uid}")))?;
        let principal = user.principal();
        let doomed: Vec<String> = s
            .tokens
            .values()
            .filter(|t| t.uid == uid)
            .map(|t| t.token_id.clone())
            .collect();
        for id in doomed {
            if let Some(t) = s.tokens.remove(&id) {
                s.token_hashes.remove(&t.token_hash);
            }
        }
        for k in s.keys.values_mut() {
            let owned = k.uid.as_deref() == Some(uid)
                || (k.org_id == user.org_id && k.principal == principal);
            if owned {
                k.state = KeyState::Deleted;
            }
        }
        Ok(())
    }

    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        let mut s = self.state.lock();
        if s.tokens.contains_key(&token.token_id) || s.token_hashes.contains_key(&token.token_hash)
        {
            return Err(Error::AlreadyExists(format!("token {}", token.token_id)));
        }
        s.token_hashes
            .insert(token.token_hash.clone(), token.token_id.clone());
        s.tokens.insert(token.token_id.clone(), token.clone());
        Ok(())
    }

    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let s = self.state.lock();
        Ok(s.token_hashes
            .get(token_hash)
            .and_then(|id| s.tokens.get(id))
            .cloned())
    }

    async fn list_tokens(&self, org_id: &str) -> Result<Vec<ApiToken>> {
        let s = self.state.lock();
        Ok(s.tokens
            .values()
            .filter(|t| t.org_id == org_id)
            .cloned()
            .collect())
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        let mut s = self.state.lock();
        let t = s
            .tokens
            .remove(token_id)
            .ok_or_else(|| Error::NotFound(format!("token {token_id}")))?;
        s.token_hashes.remove(&t.token_hash);
        Ok(())
    }

    async fn create_access_key(&self, key: &AccessKey) -> Result<()> {
        let mut s = self.state.lock();
        if s.key_seq.contains_key(&key.access_key_id) {
            return Err(Error::AlreadyExists(format!(
                "access key {}",
                key.access_key_id
            )));
        }
        let seq = s.next_key_seq;
        s.next_key_seq += 1;
        s.key_seq.insert(key.access_key_id.clone(), seq);
        s.keys.insert(seq, key.clone());
        Ok(())
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        let s = self.state.lock();
        Ok(s.key_seq
            .get(access_key_id)
            .and_then(|q| s.keys.get(q))
            .cloned())
    }

    async fn list_access_keys(&self, org_id: &str) -> Result<Vec<AccessKey>> {
        let s = self.state.lock();
        Ok(s.keys
            .values()
            .filter(|k| k.org_id == org_id)
            .cloned()
            .collect())
    }

    async fn set_access_key_state(&self, access_key_id: &str, state: KeyState) -> Result<()> {
        let mut s = self.state.lock();
        let seq = *s
            .key_seq
            .get(access_key_id)
            .ok_or_else(|| Error::NotFound(format!("access key {access_key_id}")))?;
        if let Some(k) = s.keys.get_mut(&seq) {
            k.state = state;
        }
        Ok(())
    }

    async fn set_principal_key_state(
        &self,
        org_id: &str,
        principal: &str,
        state: KeyState,
    ) -> Result<u64> {
        let mut s = self.state.lock();
        let mut n = 0;
        for k in s.keys.values_mut() {
            if k.org_id == org_id
                && k.principal == principal
                && k.state != KeyState::Deleted
                && k.state != state
            {
                k.state = state;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn put_policy(&self, policy: &StoredPolicy) -> Result<()> {
        self.state
            .lock()
            .policies
            .insert((policy.org_id.clone(), policy.name.clone()), policy.clone());
        Ok(())
    }

    async fn delete_policy(&self, org_id: &str, name: &str) -> Result<()> {
        self.state
            .lock()
            .policies
            .remove(&(org_id.to_string(), name.to_string()))
            .map(|_| ())
            .ok_or_else(|| Error::NotFound(format!("policy {name}")))
    }

    async fn list_policies(&self, org_id: &str) -> Result<Vec<StoredPolicy>> {
        let s = self.state.lock();
        Ok(s.policies
            .values()
            .filter(|p| p.org_id == org_id)
            .cloned()
            .collect())
    }

    async fn list_all_policies(&self) -> Result<Vec<StoredPolicy>> {
        Ok(self.state.lock().policies.values().cloned().collect())
    }

    async fn get_org_settings(&self, org_id: &str) -> Result<OrgSettings> {
        Ok(self
            .state
            .lock()
            .settings
            .get(org_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn put_org_settings(&self, org_id: &str, settings: &OrgSettings) -> Result<()> {
        self.state
            .lock()
            .settings
            .insert(org_id.to_string(), settings.clone());
        Ok(())
    }

    async fn create_bucket(&self, bucket: &Bucket) -> Result<()> {
        let mut s = self.state.lock();
        if s.buckets.contains_key(&bucket.name) {
            return Err(Error::BucketAlreadyExists);
        }
        s.buckets
            .insert(bucket.name.clone(), (bucket.clone(), Usage::default()));
        Ok(())
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        Ok(self.state.lock().buckets.get(name).map(|(b, _)| b.clone()))
    }

    async fn list_buckets(&self, org_id: &str) -> Result<Vec<Bucket>> {
        let s = self.state.lock();
        Ok(s.buckets
            .values()
            .filter(|(b, _)| b.org_id == org_id)
            .map(|(b, _)| b.clone())
            .collect())
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let mut s = self.state.lock();
        if !s.buckets.contains_key(name) {
            return Err(Error::NoSuchBucket);
        }
        let has_objects = s.objects.get(name).is_some_and(|m| !m.is_empty());
        let has_uploads = s.uploads.values().any(|u| u.bucket == name);
        if has_objects || has_uploads {
            return Err(Error::BucketNotEmpty);
        }
        s.buckets.remove(name);
        s.objects.remove(name);
        Ok(())
    }

    async fn update_bucket(&self, bucket: &Bucket) -> Result<()> {
        let mut s = self.state.lock();
        let (b, _) = s.buckets.get_mut(&bucket.name).ok_or(Error::NoSuchBucket)?;
        b.settings = bucket.settings.clone();
        b.policy = bucket.policy.clone();
        Ok(())
    }

    async fn update_bucket_subresources(
        &self,
        name: &str,
        edit: SubresourceEdit,
    ) -> Result<Bucket> {
        let mut s = self.state.lock();
        let (b, _) = s.buckets.get_mut(name).ok_or(Error::NoSuchBucket)?;
        let mut sub = b.subresources.clone();
        edit(&mut sub)?;
        b.subresources = sub;
        Ok(b.clone())
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
            .get_mut(bucket)
            .and_then(|m| m.get_mut(key))
            .ok_or(Error::NoSuchKey)?;
        rec.tags = tags.clone();
        Ok(())
    }

    async fn bucket_usage(&self, name: &str) -> Result<Usage> {
        let s = self.state.lock();
        s.buckets
            .get(name)
            .map(|(_, u)| *u)
            .ok_or(Error::NoSuchBucket)
    }

    async fn put_object(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        self.state.lock().put_object(record, cond, cap)
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let s = self.state.lock();
        Ok(s.objects.get(bucket).and_then(|m| m.get(key)).cloned())
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Replaced> {
        let mut s = self.state.lock();
        let previous = s.objects.get_mut(bucket).and_then(|m| m.remove(key));
        if let Some(prev) = &previous
            && let Some((_, u)) = s.buckets.get_mut(bucket)
        {
            *u = semantics::usage_after_delete(*u, prev.size);
        }
        Ok(Replaced { previous })
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<ObjectPage> {
        let s = self.state.lock();
        if !s.buckets.contains_key(bucket) {
            return Err(Error::NoSuchBucket);
        }
        let Some(m) = s.objects.get(bucket) else {
            return Ok(ObjectPage::default());
        };
        use std::ops::Bound;
        // Start at whichever comes later: the prefix (inclusive) or start_after (exclusive).
        let start = if prefix > start_after {
            Bound::Included(prefix)
        } else {
            Bound::Excluded(start_after)
        };
        let mut it = m
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix));
        let objects: Vec<ObjectSummary> = it
            .by_ref()
            .take(limit)
            .map(|(_, r)| ObjectSummary {
                key: r.key.clone(),
                size: r.size,
                etag: r.etag.clone(),
                last_modified: r.last_modified,
            })
            .collect();
        let truncated = it.next().is_some();
        Ok(ObjectPage { objects, truncated })
    }

    async fn create_upload(&self, upload: &MultipartUpload) -> Result<()> {
        let mut s = self.state.lock();
        if !s.buckets.contains_key(&upload.bucket) {
            return Err(Error::NoSuchBucket);
        }
        if s.uploads.contains_key(&upload.upload_id) {
            return Err(Error::AlreadyExists(format!("upload {}", upload.upload_id)));
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
            .entry(part.upload_id.clone())
            .or_default()
            .insert(part.part_number, part.clone()))
    }

    async fn list_parts(
        &self,
        upload_id: &str,
        part_number_marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        let s = self.state.lock();
        if !s.uploads.contains_key(upload_id) {
            return Err(Error::NoSuchUpload);
        }
        Ok(s.parts
            .get(upload_id)
            .map(|m| {
                m.range(part_number_marker.saturating_add(1)..)
                    .filter(|(n, _)| **n > part_number_marker)
                    .take(limit)
                    .map(|(_, p)| p.clone())
                    .collect()
            })
            .unwrap_or_default())
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
        if !s.buckets.contains_key(bucket) {
            return Err(Error::NoSuchBucket);
        }
        let marker = UploadMarker {
            key: key_marker.to_string(),
            position: s
                .uploads
                .get(upload_id_marker)
                .filter(|u| u.bucket == bucket && u.key == key_marker)
                .map(|u| (nanos(u.initiated), u.upload_id.clone())),
            upload_id: upload_id_marker.to_string(),
        };
        let mut v: Vec<&MultipartUpload> = s
            .uploads
            .values()
            .filter(|u| {
                u.bucket == bucket
                    && u.key.starts_with(prefix)
                    && marker.is_after(&u.key, nanos(u.initiated), &u.upload_id)
            })
            .collect();
        v.sort_by(|a, b| {
            (a.key.as_str(), nanos(a.initiated), a.upload_id.as_str()).cmp(&(
                b.key.as_str(),
                nanos(b.initiated),
                b.upload_id.as_str(),
            ))
        });
        Ok(v.into_iter().take(limit).cloned().collect())
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
        let current: Vec<PartRecord> = s
            .parts
            .get(upload_id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        semantics::check_parts_current(record.data.blob_ids(), &current)?;
        // put_object changes nothing when it fails, so the upload survives a failed rule.
        let replaced = s.put_object(record, cond, cap)?;
        s.uploads.remove(upload_id);
        let parts: Vec<PartRecord> = s
            .parts
            .remove(upload_id)
            .map(|m| m.into_values().collect())
            .unwrap_or_default();
        Ok((replaced, semantics::unused_parts(record, parts)))
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<Vec<PartRecord>> {
        let mut s = self.state.lock();
        s.uploads.remove(upload_id).ok_or(Error::NoSuchUpload)?;
        Ok(s.parts
            .remove(upload_id)
            .map(|m| m.into_values().collect())
            .unwrap_or_default())
    }

    // ---- workload identity federation ----

    async fn create_federation_config(&self, config: &FederationConfig) -> Result<()> {
        let mut st = self.state.lock();
        if st.fed_seq.contains_key(&config.config_id) {
            return Err(Error::AlreadyExists(format!(
                "federation config {}",
                config.config_id
            )));
        }
        let seq = st.next_fed_seq;
        st.next_fed_seq += 1;
        st.fed_seq.insert(config.config_id.clone(), seq);
        st.fed_configs.insert(seq, config.clone());
        Ok(())
    }

    async fn update_federation_config(&self, config: &FederationConfig) -> Result<()> {
        let mut st = self.state.lock();
        let seq = st.fed_seq.get(&config.config_id).copied();
        match seq.and_then(|s| st.fed_configs.get_mut(&s)) {
            Some(c) if c.org_id == config.org_id && c.kind() == config.kind() => {
                *c = config.clone();
                Ok(())
            }
            _ => Err(Error::NotFound(format!(
                "federation config {}",
                config.config_id
            ))),
        }
    }

    async fn get_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<Option<FederationConfig>> {
        let st = self.state.lock();
        Ok(st
            .fed_seq
            .get(config_id)
            .and_then(|s| st.fed_configs.get(s))
            .filter(|c| c.org_id == org_id && c.kind() == kind)
            .cloned())
    }

    async fn list_federation_configs(
        &self,
        org_id: &str,
        kind: FederationKind,
    ) -> Result<Vec<FederationConfig>> {
        let st = self.state.lock();
        Ok(st
            .fed_configs
            .values()
            .filter(|c| c.org_id == org_id && c.kind() == kind)
            .cloned()
            .collect())
    }

    async fn delete_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<()> {
        let mut st = self.state.lock();
        let seq = st
            .fed_seq
            .get(config_id)
            .copied()
            .filter(|s| {
                st.fed_configs
                    .get(s)
                    .is_some_and(|c| c.org_id == org_id && c.kind() == kind)
            })
            .ok_or_else(|| Error::NotFound(format!("federation config {config_id}")))?;
        st.fed_seq.remove(config_id);
        st.fed_configs.remove(&seq);
        Ok(())
    }

    async fn record_assertion_id(
        &self,
        org_id: &str,
        assertion_id: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut st = self.state.lock();
        let horizon = now - semantics::ASSERTION_ID_PURGE_AFTER;
        st.assertion_ids.retain(|_, e| *e > horizon);
        let k = (org_id.to_string(), assertion_id.to_string());
        if st.assertion_ids.get(&k).is_some_and(|e| *e > now) {
            return Ok(false);
        }
        st.assertion_ids.insert(k, expires);
        Ok(true)
    }

    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        let s = self.state.lock();
        let mut set = HashSet::new();
        for m in s.objects.values() {
            for r in m.values() {
                set.extend(r.data.blob_ids().map(str::to_string));
            }
        }
        for m in s.parts.values() {
            set.extend(m.values().map(|p| p.blob_id.clone()));
        }
        Ok(set)
    }
}
