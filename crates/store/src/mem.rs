//! `MemMetaStore`: the in-memory `MetaStore` for tests. All state sits in ordered maps
//! behind one mutex; every method holds the lock for its whole duration, checks every
//! rule before changing anything, and so is atomic and isolated like a transaction.

use crate::semantics::{self, UploadMarker};
use async_trait::async_trait;
use coffer_core::meta::{
    BucketEdit, Deleted, KeyListing, MetaStore, ObjectPage, Replaced, VersionPage,
    apply_bucket_edit,
};
use coffer_core::model::*;
use coffer_core::quota::{self, Quotas};
use coffer_core::{Error, Result};
use parking_lot::Mutex;
use std::cmp::Reverse;
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
    /// bucket → (key, newest-first sequence) → version: every version that is not the
    /// current object (noncurrent objects, delete markers). Invariant (as SQLite): a key
    /// with no current object never has an object as its newest version here.
    versions: BTreeMap<String, BTreeMap<(String, Reverse<u64>), ObjectVersion>>,
    next_version_seq: u64,
    /// Audit outbox: seq → event; `outbox_seq` is the last number handed out (never
    /// reused, also after trimming).
    outbox: BTreeMap<u64, Vec<u8>>,
    outbox_seq: u64,
}

fn version_id_of(v: &ObjectVersion) -> Option<&str> {
    match v {
        ObjectVersion::Object(r) => r.version_id.as_deref(),
        ObjectVersion::DeleteMarker(m) => m.version_id.as_deref(),
    }
}

fn key_range(key: &str) -> std::ops::RangeInclusive<(String, Reverse<u64>)> {
    (key.to_string(), Reverse(u64::MAX))..=(key.to_string(), Reverse(0))
}

impl State {
    /// Checks every `put_object` rule, then applies the write. Nothing changes on error.
    fn put_object(
        &mut self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        let (b, usage) = self
            .buckets
            .get(&record.bucket)
            .ok_or(Error::NoSuchBucket)?;
        if b.versioning != VersioningState::Unversioned {
            let state = b.versioning;
            return self.put_versioned(record, cond, cap, state);
        }
        let mut record = record.clone();
        record.version_id = None;
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
            .insert(record.key.clone(), record);
        Ok(Replaced {
            previous,
            version_id: None,
        })
    }

    fn state_of(&self, bucket: &str) -> Result<VersioningState> {
        self.buckets
            .get(bucket)
            .map(|(b, _)| b.versioning)
            .ok_or(Error::NoSuchBucket)
    }

    fn current(&self, bucket: &str, key: &str) -> Option<&ObjectRecord> {
        self.objects.get(bucket).and_then(|m| m.get(key))
    }

    /// The key's `null` version among the non-current versions, with its map key.
    fn null_version(
        &self,
        bucket: &str,
        key: &str,
    ) -> Option<((String, Reverse<u64>), &ObjectVersion)> {
        self.versions.get(bucket).and_then(|m| {
            m.range(key_range(key))
                .find(|(_, v)| version_id_of(v).is_none())
                .map(|(k, v)| (k.clone(), v))
        })
    }

    fn push_version(&mut self, bucket: &str, key: &str, v: ObjectVersion) {
        self.next_version_seq += 1;
        let seq = self.next_version_seq;
        self.versions
            .entry(bucket.to_string())
            .or_default()
            .insert((key.to_string(), Reverse(seq)), v);
    }

    /// Moves the current object of a key into the version map as its newest version.
    fn retire_current(&mut self, bucket: &str, key: &str) {
        if let Some(r) = self.objects.get_mut(bucket).and_then(|m| m.remove(key)) {
            self.push_version(bucket, key, ObjectVersion::Object(r));
        }
    }

    /// After a removal: the newest remaining version becomes current if it is an object.
    fn promote_newest(&mut self, bucket: &str, key: &str) {
        if self.current(bucket, key).is_some() {
            return;
        }
        let Some(m) = self.versions.get_mut(bucket) else {
            return;
        };
        let newest = m.range(key_range(key)).next().map(|(k, v)| (k.clone(), v));
        if let Some((k, ObjectVersion::Object(_))) = newest
            && let Some(ObjectVersion::Object(r)) = m.remove(&k)
        {
            self.objects
                .entry(bucket.to_string())
                .or_default()
                .insert(key.to_string(), r);
        }
    }

    /// Size of what a write or marker in a `Suspended` bucket removes for good: the
    /// key's `null` version when it is an object.
    fn null_object_size(&self, bucket: &str, key: &str) -> Option<u64> {
        match self.current(bucket, key) {
            Some(r) if r.version_id.is_none() => return Some(r.size),
            _ => {}
        }
        match self.null_version(bucket, key) {
            Some((_, ObjectVersion::Object(r))) => Some(r.size),
            _ => None,
        }
    }

    /// Removes the key's `null` version (current or not); returns it when an object.
    fn take_null_version(&mut self, bucket: &str, key: &str) -> Option<ObjectRecord> {
        if self
            .current(bucket, key)
            .is_some_and(|r| r.version_id.is_none())
        {
            return self.objects.get_mut(bucket).and_then(|m| m.remove(key));
        }
        let (k, _) = self.null_version(bucket, key)?;
        match self.versions.get_mut(bucket).and_then(|m| m.remove(&k)) {
            Some(ObjectVersion::Object(r)) => Some(r),
            _ => None,
        }
    }

    fn set_usage(&mut self, bucket: &str, u: Usage) {
        if let Some((_, x)) = self.buckets.get_mut(bucket) {
            *x = u;
        }
    }

    fn usage(&self, bucket: &str) -> Usage {
        self.buckets
            .get(bucket)
            .map(|(_, u)| *u)
            .unwrap_or_default()
    }

    fn put_versioned(
        &mut self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
        state: VersioningState,
    ) -> Result<Replaced> {
        let (b, k) = (record.bucket.as_str(), record.key.as_str());
        let vid = match state {
            VersioningState::Enabled => Some(
                record
                    .version_id
                    .clone()
                    .unwrap_or_else(coffer_core::ids::new_version_id),
            ),
            _ => None,
        };
        semantics::check_condition(cond, self.current(b, k).map(|r| r.etag.as_str()))?;
        let removed_size = match state {
            VersioningState::Suspended => self.null_object_size(b, k),
            _ => None,
        };
        let after = semantics::usage_after_put(b, self.usage(b), removed_size, record.size, cap)?;
        let mut removed = None;
        if state == VersioningState::Suspended {
            removed = self.take_null_version(b, k);
        }
        self.retire_current(b, k);
        let mut rec = record.clone();
        rec.version_id = vid.clone();
        self.objects
            .entry(b.to_string())
            .or_default()
            .insert(k.to_string(), rec);
        self.set_usage(b, after);
        Ok(Replaced {
            previous: removed,
            version_id: vid,
        })
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

    async fn bootstrap(&self, org: &Org, admin: &User, token: &ApiToken) -> Result<bool> {
        let mut s = self.state.lock();
        if !s.orgs.is_empty() {
            return Ok(false);
        }
        s.orgs.insert(org.org_id.clone(), org.clone());
        s.users.insert(admin.uid.clone(), admin.clone());
        s.token_hashes
            .insert(token.token_hash.clone(), token.token_id.clone());
        s.tokens.insert(token.token_id.clone(), token.clone());
        Ok(true)
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

    async fn create_access_key(&self, key: &AccessKey, quotas: &Quotas) -> Result<()> {
        let mut s = self.state.lock();
        if s.key_seq.contains_key(&key.access_key_id) {
            return Err(Error::AlreadyExists(format!(
                "access key {}",
                key.access_key_id
            )));
        }
        let at = key.created;
        let (mut of_principal, mut of_org) = (0, 0);
        for k in s.keys.values() {
            if k.org_id == key.org_id && quota::counts_against_quota(k, at) {
                of_org += 1;
                of_principal += u64::from(k.principal == key.principal);
            }
        }
        quotas.admit_key(&key.org_id, &key.principal, of_org, of_principal)?;
        let purged: Vec<(u64, String)> = s
            .keys
            .iter()
            .filter(|(_, k)| k.org_id == key.org_id && quota::is_purgeable(k, at))
            .map(|(q, k)| (*q, k.access_key_id.clone()))
            .collect();
        for (q, id) in purged {
            s.keys.remove(&q);
            s.key_seq.remove(&id);
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

    async fn list_access_keys(&self, org_id: &str, page: &KeyListing) -> Result<Vec<AccessKey>> {
        let s = self.state.lock();
        Ok(s.keys
            .values()
            .filter(|k| k.org_id == org_id && page.matches(k))
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
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

    async fn put_policy(&self, policy: &StoredPolicy, quotas: &Quotas) -> Result<()> {
        let mut s = self.state.lock();
        let id = (policy.org_id.clone(), policy.name.clone());
        let held = s
            .policies
            .keys()
            .filter(|(o, _)| *o == policy.org_id)
            .count() as u64;
        quotas.admit_policy(&policy.org_id, held, s.policies.contains_key(&id))?;
        s.policies.insert(id, policy.clone());
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
        let has_objects = s.objects.get(name).is_some_and(|m| !m.is_empty())
            || s.versions.get(name).is_some_and(|m| !m.is_empty());
        let has_uploads = s.uploads.values().any(|u| u.bucket == name);
        if has_objects || has_uploads {
            return Err(Error::BucketNotEmpty);
        }
        s.buckets.remove(name);
        s.objects.remove(name);
        s.versions.remove(name);
        Ok(())
    }

    async fn edit_bucket(&self, name: &str, edit: BucketEdit) -> Result<Bucket> {
        let mut s = self.state.lock();
        let (b, _) = s.buckets.get_mut(name).ok_or(Error::NoSuchBucket)?;
        // In memory an unchanged record costs nothing to keep as it is.
        apply_bucket_edit(b, edit)?;
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

    fn has_audit_outbox(&self) -> bool {
        true
    }

    async fn put_object_audited(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
        event: Vec<u8>,
    ) -> Result<Replaced> {
        let mut s = self.state.lock();
        let replaced = s.put_object(record, cond, cap)?;
        s.outbox_seq += 1;
        let seq = s.outbox_seq;
        s.outbox.insert(seq, event);
        Ok(replaced)
    }

    async fn read_audit_outbox(
        &self,
        after: u64,
        through: Option<u64>,
        max_bytes: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let s = self.state.lock();
        let mut out = Vec::new();
        let mut bytes = 0u64;
        for (seq, event) in s.outbox.range(after.saturating_add(1)..) {
            match through {
                Some(t) if *seq > t => break,
                None if !out.is_empty() && bytes + event.len() as u64 > max_bytes => break,
                _ => {}
            }
            bytes += event.len() as u64;
            out.push((*seq, event.clone()));
        }
        Ok(out)
    }

    async fn trim_audit_outbox(&self, through: u64) -> Result<()> {
        let mut s = self.state.lock();
        s.outbox = s.outbox.split_off(&through.saturating_add(1));
        Ok(())
    }

    async fn audit_outbox_depth(&self) -> Result<(u64, u64)> {
        let s = self.state.lock();
        Ok((
            s.outbox.len() as u64,
            s.outbox.values().map(|e| e.len() as u64).sum(),
        ))
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let s = self.state.lock();
        Ok(s.objects.get(bucket).and_then(|m| m.get(key)).cloned())
    }

    async fn rename_object(
        &self,
        bucket: &str,
        src: &str,
        dst: &str,
        cond: &RenameConditions,
    ) -> Result<Replaced> {
        let mut s = self.state.lock();
        let s = &mut *s;
        let (b, usage) = s.buckets.get_mut(bucket).ok_or(Error::NoSuchBucket)?;
        if b.versioning != VersioningState::Unversioned {
            return Err(semantics::rename_on_versioned_bucket());
        }
        let objects = s.objects.entry(bucket.to_string()).or_default();
        let source = objects.get(src).ok_or(Error::NoSuchKey)?;
        cond.check_source(&source.etag, source.last_modified)?;
        semantics::check_condition(&cond.dest, objects.get(dst).map(|r| r.etag.as_str()))?;
        if src == dst {
            return Ok(Replaced::default());
        }
        let mut rec = objects.remove(src).ok_or(Error::NoSuchKey)?;
        rec.key = dst.to_string();
        let previous = objects.insert(dst.to_string(), rec);
        if let Some(p) = &previous {
            *usage = semantics::usage_after_delete(*usage, p.size);
        }
        Ok(Replaced {
            previous,
            version_id: None,
        })
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Replaced> {
        let mut s = self.state.lock();
        let previous = s.objects.get_mut(bucket).and_then(|m| m.remove(key));
        if let Some(prev) = &previous
            && let Some((_, u)) = s.buckets.get_mut(bucket)
        {
            *u = semantics::usage_after_delete(*u, prev.size);
        }
        s.promote_newest(bucket, key);
        Ok(Replaced {
            previous,
            version_id: None,
        })
    }

    async fn set_bucket_versioning(&self, name: &str, state: VersioningState) -> Result<()> {
        if state == VersioningState::Unversioned {
            return Err(Error::invalid(
                "a versioned bucket cannot return to the unversioned state",
            ));
        }
        let mut s = self.state.lock();
        let (b, _) = s.buckets.get_mut(name).ok_or(Error::NoSuchBucket)?;
        b.versioning = state;
        Ok(())
    }

    async fn delete_object_current(
        &self,
        bucket: &str,
        key: &str,
        marker_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deleted> {
        let mut s = self.state.lock();
        let state = s.state_of(bucket)?;
        if state == VersioningState::Unversioned {
            let removed = s.objects.get_mut(bucket).and_then(|m| m.remove(key));
            if let Some(r) = &removed {
                let u = semantics::usage_after_delete(s.usage(bucket), r.size);
                s.set_usage(bucket, u);
            }
            return Ok(Deleted {
                removed,
                version_id: None,
                delete_marker: false,
            });
        }
        let mut removed = None;
        if state == VersioningState::Suspended {
            removed = s.take_null_version(bucket, key);
        }
        s.retire_current(bucket, key);
        let vid = (state == VersioningState::Enabled).then(|| marker_id.to_string());
        s.push_version(
            bucket,
            key,
            ObjectVersion::DeleteMarker(DeleteMarker {
                v: RECORD_VERSION,
                bucket: bucket.to_string(),
                key: key.to_string(),
                version_id: vid.clone(),
                last_modified: now,
            }),
        );
        if let Some(r) = &removed {
            let u = semantics::usage_after_delete(s.usage(bucket), r.size);
            s.set_usage(bucket, u);
        }
        Ok(Deleted {
            removed,
            version_id: Some(vid.unwrap_or_else(|| NULL_VERSION.to_string())),
            delete_marker: true,
        })
    }

    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Deleted> {
        let mut s = self.state.lock();
        s.state_of(bucket)?;
        let echo = Some(version_id.to_string());
        let wanted = (version_id != NULL_VERSION).then_some(version_id);
        if s.current(bucket, key)
            .is_some_and(|r| r.version_id.as_deref() == wanted)
        {
            let removed = s.objects.get_mut(bucket).and_then(|m| m.remove(key));
            if let Some(r) = &removed {
                let u = semantics::usage_after_delete(s.usage(bucket), r.size);
                s.set_usage(bucket, u);
            }
            s.promote_newest(bucket, key);
            return Ok(Deleted {
                removed,
                version_id: echo,
                delete_marker: false,
            });
        }
        let found = s.versions.get(bucket).and_then(|m| {
            m.range(key_range(key))
                .find(|(_, v)| version_id_of(v) == wanted)
                .map(|(k, _)| k.clone())
        });
        let Some(k) = found else {
            return Ok(Deleted {
                removed: None,
                version_id: echo,
                delete_marker: false,
            });
        };
        let v = s.versions.get_mut(bucket).and_then(|m| m.remove(&k));
        s.promote_newest(bucket, key);
        match v {
            Some(ObjectVersion::Object(r)) => {
                let u = semantics::usage_after_delete(s.usage(bucket), r.size);
                s.set_usage(bucket, u);
                Ok(Deleted {
                    removed: Some(r),
                    version_id: echo,
                    delete_marker: false,
                })
            }
            _ => Ok(Deleted {
                removed: None,
                version_id: echo,
                delete_marker: true,
            }),
        }
    }

    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>> {
        let s = self.state.lock();
        let wanted = (version_id != NULL_VERSION).then_some(version_id);
        if let Some(r) = s.current(bucket, key)
            && r.version_id.as_deref() == wanted
        {
            return Ok(Some(ObjectVersion::Object(r.clone())));
        }
        Ok(s.versions.get(bucket).and_then(|m| {
            m.range(key_range(key))
                .find(|(_, v)| version_id_of(v) == wanted)
                .map(|(_, v)| v.clone())
        }))
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        version_id_marker: &str,
        limit: usize,
    ) -> Result<VersionPage> {
        let s = self.state.lock();
        s.state_of(bucket)?;
        let empty = BTreeMap::new();
        let objects = s.objects.get(bucket).unwrap_or(&empty);
        let empty_v = BTreeMap::new();
        let versions = s.versions.get(bucket).unwrap_or(&empty_v);
        // Position of the marker version: the current object is newest (u64::MAX).
        let pos: Option<u64> = if version_id_marker.is_empty() {
            None
        } else {
            let wanted = (version_id_marker != NULL_VERSION).then_some(version_id_marker);
            if objects
                .get(key_marker)
                .is_some_and(|r| r.version_id.as_deref() == wanted)
            {
                Some(u64::MAX)
            } else {
                Some(
                    versions
                        .range(key_range(key_marker))
                        .find(|(_, v)| version_id_of(v) == wanted)
                        .map(|((_, Reverse(seq)), _)| *seq)
                        .ok_or_else(|| Error::invalid("Invalid version id marker specified"))?,
                )
            }
        };
        let after = |key: &str, p: u64| {
            key > key_marker || (key == key_marker && pos.is_some_and(|m| p < m))
        };
        let mut rows: Vec<(String, Reverse<u64>, VersionSummary)> = Vec::new();
        for (k, r) in objects.range::<str, _>((
            std::ops::Bound::Included(prefix),
            std::ops::Bound::Unbounded,
        )) {
            if !k.starts_with(prefix) {
                break;
            }
            if after(k, u64::MAX) {
                rows.push((
                    k.clone(),
                    Reverse(u64::MAX),
                    VersionSummary {
                        key: k.clone(),
                        version_id: r.version_id.clone(),
                        is_latest: true,
                        delete_marker: false,
                        size: r.size,
                        etag: r.etag.clone(),
                        last_modified: r.last_modified,
                    },
                ));
            }
        }
        let mut newest_seen: Option<&str> = None;
        for ((k, Reverse(seq)), v) in versions.range((prefix.to_string(), Reverse(u64::MAX))..) {
            if !k.starts_with(prefix) {
                break;
            }
            let first_of_key = newest_seen != Some(k.as_str());
            newest_seen = Some(k.as_str());
            if !after(k, *seq) {
                continue;
            }
            let is_latest = first_of_key && !objects.contains_key(k);
            let summary = match v {
                ObjectVersion::Object(r) => VersionSummary {
                    key: k.clone(),
                    version_id: r.version_id.clone(),
                    is_latest,
                    delete_marker: false,
                    size: r.size,
                    etag: r.etag.clone(),
                    last_modified: r.last_modified,
                },
                ObjectVersion::DeleteMarker(m) => VersionSummary {
                    key: k.clone(),
                    version_id: m.version_id.clone(),
                    is_latest,
                    delete_marker: true,
                    size: 0,
                    etag: String::new(),
                    last_modified: m.last_modified,
                },
            };
            rows.push((k.clone(), Reverse(*seq), summary));
        }
        rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let truncated = rows.len() > limit;
        Ok(VersionPage {
            versions: rows.into_iter().take(limit).map(|(_, _, v)| v).collect(),
            truncated,
        })
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
        for m in s.versions.values() {
            for v in m.values() {
                if let ObjectVersion::Object(r) = v {
                    set.extend(r.data.blob_ids().map(str::to_string));
                }
            }
        }
        for m in s.parts.values() {
            set.extend(m.values().map(|p| p.blob_id.clone()));
        }
        Ok(set)
    }
}
