//! The lifecycle worker: applies every bucket's lifecycle rules at the injected clock's
//! "now". The server runs it every `lifecycle_interval_secs`; tests call `run_once`.
//!
//! Invariants:
//! * Every removal goes through `ObjectService` (`delete_version`, `abort_multipart`),
//!   the paths S3 requests take, so usage counters, blob retirement and version
//!   promotion stay exactly as for a client's DELETE.
//! * The worker acts for the service, not for a principal: policies (including Deny
//!   statements) do not apply to it, as S3 documents for lifecycle actions.
//! * Idempotent: a run that fails half-way (or overlaps a client's delete) leaves a state
//!   the next run completes; "absent" outcomes are not errors.
//! * Each action on a bucket with audit logging on is recorded as a data-plane event
//!   by `system:lifecycle` (the operation's action, HTTP status 204, no source IP).
//! * Current-version expiration on a versioned bucket adds a delete marker (the object
//!   becomes noncurrent "now"); it is removed by NoncurrentVersionExpiration in a later
//!   run, as on S3.

use super::{LifecycleConfiguration, LifecycleRule};
use crate::audit::{
    AuditRecord, AuditResult, AuditService, DataPlaneEvent, new_event_id, timestamp,
};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::meta::MetaStore;
use crate::model::{Bucket, NULL_VERSION, ObjectVersion, VersionSummary};
use crate::objects::ObjectService;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleStats {
    /// Current versions expired (deleted, or hidden behind a new delete marker).
    pub expired_current: u64,
    /// Noncurrent versions removed for good.
    pub expired_noncurrent: u64,
    /// Expired object delete markers removed.
    pub removed_markers: u64,
    /// Incomplete multipart uploads aborted.
    pub aborted_uploads: u64,
}

/// Rows asked per listing page.
const PAGE: usize = 1000;

/// The principal lifecycle actions are audited under (SPEC §6 data-plane events).
pub const LIFECYCLE_PRINCIPAL: &str = "system:lifecycle";

pub struct LifecycleWorker {
    meta: Arc<dyn MetaStore>,
    objects: Arc<ObjectService>,
    clock: Arc<dyn Clock>,
    audit: Option<Arc<AuditService>>,
}

fn wire_version(v: &VersionSummary) -> String {
    v.version_id
        .clone()
        .unwrap_or_else(|| NULL_VERSION.to_string())
}

impl LifecycleWorker {
    pub fn new(
        meta: Arc<dyn MetaStore>,
        objects: Arc<ObjectService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            meta,
            objects,
            clock,
            audit: None,
        }
    }

    /// Records every lifecycle action on a logged bucket as a data-plane event by
    /// [`LIFECYCLE_PRINCIPAL`].
    pub fn with_audit(mut self, audit: Arc<AuditService>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Best effort, like the gateway's own events: a failure to record is logged, the
    /// action it describes has already happened.
    async fn audit(&self, bucket: &Bucket, action: &str, key: &str, now: OffsetDateTime) {
        let Some(a) = &self.audit else { return };
        match a.bucket_record_enabled(bucket).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle audit: settings unreadable");
                return;
            }
        }
        let event = DataPlaneEvent {
            event_id: new_event_id(),
            action: action.to_string(),
            arn: format!("arn:aws:s3:::{}/{key}", bucket.name),
            principal: LIFECYCLE_PRINCIPAL.to_string(),
            timestamp: timestamp(now),
            source_ip: String::new(),
            host: String::new(),
            bucket_name: bucket.name.clone(),
            key: key.to_string(),
            access_key_id: String::new(),
            request_id: new_event_id(),
            http_status: 204,
            bytes_sent: 0,
            bytes_received: 0,
            result: AuditResult::Allowed,
            decided_by: None,
            cache_node: None,
        };
        let record = AuditRecord::DataPlane {
            org_id: bucket.org_id.clone(),
            event,
        };
        if let Err(e) = a.record(record).await {
            tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle audit event not recorded");
        }
    }

    /// Applies every bucket's rules once. A bucket that fails is logged and skipped; the
    /// others still run.
    pub async fn run_once(&self) -> Result<LifecycleStats> {
        let now = self.clock.now();
        let mut stats = LifecycleStats::default();
        for org in self.meta.list_orgs().await? {
            for bucket in self.meta.list_buckets(&org.org_id).await? {
                let Some(cfg) = bucket.lifecycle.clone() else {
                    continue;
                };
                if let Err(e) = self.apply(&bucket, &cfg, now, &mut stats).await {
                    tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle run failed for a bucket");
                }
            }
        }
        Ok(stats)
    }

    async fn apply(
        &self,
        bucket: &Bucket,
        cfg: &LifecycleConfiguration,
        now: OffsetDateTime,
        stats: &mut LifecycleStats,
    ) -> Result<()> {
        let rules: Vec<&LifecycleRule> = cfg.rules.iter().filter(|r| r.enabled).collect();
        if rules
            .iter()
            .any(|r| r.expiration.is_some() || r.noncurrent_expiration.is_some())
        {
            self.apply_versions(bucket, &rules, now, stats).await?;
        }
        if rules.iter().any(|r| r.abort_incomplete_days.is_some()) {
            self.apply_uploads(bucket, &rules, now, stats).await?;
        }
        Ok(())
    }

    /// Walks every version of the bucket, one key (newest first) at a time.
    async fn apply_versions(
        &self,
        bucket: &Bucket,
        rules: &[&LifecycleRule],
        now: OffsetDateTime,
        stats: &mut LifecycleStats,
    ) -> Result<()> {
        let (mut km, mut vm) = (String::new(), String::new());
        let mut group: Vec<VersionSummary> = Vec::new();
        loop {
            let page = self
                .meta
                .list_object_versions(&bucket.name, "", &km, &vm, PAGE)
                .await?;
            if let Some(last) = page.versions.last() {
                km = last.key.clone();
                vm = wire_version(last);
            }
            for v in page.versions.iter().cloned() {
                if group.first().is_some_and(|g| g.key != v.key) {
                    self.apply_key(bucket, rules, std::mem::take(&mut group), now, stats)
                        .await?;
                }
                group.push(v);
            }
            if !page.truncated || page.versions.is_empty() {
                break;
            }
        }
        if !group.is_empty() {
            self.apply_key(bucket, rules, group, now, stats).await?;
        }
        Ok(())
    }

    /// Tags of a version, read only when some rule filters on tags.
    async fn tags_of(&self, bucket: &str, v: &VersionSummary) -> Result<BTreeMap<String, String>> {
        match self
            .meta
            .get_object_version(bucket, &v.key, &wire_version(v))
            .await?
        {
            Some(ObjectVersion::Object(r)) => Ok(r.tags),
            _ => Ok(BTreeMap::new()),
        }
    }

    async fn selects(
        &self,
        bucket: &str,
        rule: &LifecycleRule,
        v: &VersionSummary,
        tags: &mut Option<BTreeMap<String, String>>,
    ) -> Result<bool> {
        if !rule.filter.matches_key(&v.key) {
            return Ok(false);
        }
        if rule.filter.needs_tags() && tags.is_none() {
            *tags = Some(self.tags_of(bucket, v).await?);
        }
        let empty = BTreeMap::new();
        Ok(rule
            .filter
            .matches(&v.key, v.size, tags.as_ref().unwrap_or(&empty)))
    }

    /// `versions`: every version of one key, newest first.
    async fn apply_key(
        &self,
        bucket: &Bucket,
        rules: &[&LifecycleRule],
        versions: Vec<VersionSummary>,
        now: OffsetDateTime,
        stats: &mut LifecycleStats,
    ) -> Result<()> {
        let b = bucket.name.as_str();
        let key = versions[0].key.clone();
        // 1. Current version expiration (Days / Date).
        let latest = &versions[0];
        let mut expired_current = false;
        if latest.is_latest && !latest.delete_marker {
            let mut tags = None;
            for r in rules {
                let Some(e) = &r.expiration else { continue };
                if e.current_expired(latest.last_modified, now)
                    && self.selects(b, r, latest, &mut tags).await?
                {
                    self.objects.delete_version(b, &key, None, false).await?;
                    self.audit(bucket, "s3:DeleteObject", &key, now).await;
                    stats.expired_current += 1;
                    expired_current = true;
                    break;
                }
            }
        }
        // 2. Noncurrent versions: noncurrent since their successor was written.
        let mut kept: Vec<&VersionSummary> = vec![&versions[0]];
        let mut newer_noncurrent = 0u32;
        for i in 1..versions.len() {
            let v = &versions[i];
            if v.delete_marker {
                kept.push(v);
                continue;
            }
            let since = versions[i - 1].last_modified;
            let mut tags = None;
            let mut expire = false;
            for r in rules {
                let Some(n) = &r.noncurrent_expiration else {
                    continue;
                };
                if n.expired(since, newer_noncurrent, now)
                    && self.selects(b, r, v, &mut tags).await?
                {
                    expire = true;
                    break;
                }
            }
            newer_noncurrent += 1;
            if expire {
                match self
                    .objects
                    .delete_version(b, &key, Some(&wire_version(v)), false)
                    .await
                {
                    Ok(_) => {
                        self.audit(bucket, "s3:DeleteObjectVersion", &key, now)
                            .await;
                        stats.expired_noncurrent += 1;
                    }
                    // Object Lock keeps it: lifecycle never bypasses a lock (S3); a later
                    // run expires it once the lock is gone.
                    Err(Error::PermissionDenied(_)) => kept.push(v),
                    Err(e) => return Err(e),
                }
            } else {
                kept.push(v);
            }
        }
        // 3. A delete marker that is the only version left is an expired object delete
        // marker.
        if !expired_current
            && kept.len() == 1
            && kept[0].delete_marker
            && kept[0].is_latest
            && rules.iter().any(|r| {
                r.expiration
                    .as_ref()
                    .is_some_and(|e| e.expired_object_delete_marker)
                    && r.filter.matches_key(&key)
            })
        {
            match self
                .objects
                .delete_version(b, &key, Some(&wire_version(kept[0])), false)
                .await
            {
                Ok(_) => {
                    self.audit(bucket, "s3:DeleteObjectVersion", &key, now)
                        .await;
                    stats.removed_markers += 1;
                }
                Err(Error::NoSuchBucket) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn apply_uploads(
        &self,
        bucket: &Bucket,
        rules: &[&LifecycleRule],
        now: OffsetDateTime,
        stats: &mut LifecycleStats,
    ) -> Result<()> {
        let (mut km, mut um) = (String::new(), String::new());
        loop {
            let page = self
                .meta
                .list_uploads(&bucket.name, "", &km, &um, PAGE)
                .await?;
            let full = page.len() >= PAGE;
            if let Some(last) = page.last() {
                km = last.key.clone();
                um = last.upload_id.clone();
            }
            for u in page {
                let due = rules.iter().any(|r| {
                    r.abort_incomplete_days
                        .is_some_and(|d| now >= u.initiated + time::Duration::days(i64::from(d)))
                        && r.filter.matches_key(&u.key)
                });
                if !due {
                    continue;
                }
                match self
                    .objects
                    .abort_multipart(&bucket.name, &u.key, &u.upload_id)
                    .await
                {
                    Ok(()) => {
                        self.audit(bucket, "s3:AbortMultipartUpload", &u.key, now)
                            .await;
                        stats.aborted_uploads += 1;
                    }
                    // Completed or aborted by a client meanwhile.
                    Err(Error::NoSuchUpload) => {}
                    Err(e) => return Err(e),
                }
            }
            if !full {
                break;
            }
        }
        Ok(())
    }
}
