//! Audit logging (SPEC §6): the event types, the [`AuditSink`] the APIs hand events to,
//! and [`AuditService`], which decides whether an event is wanted (the org and bucket
//! switches) and creates the org's reserved audit bucket.
//!
//! Invariants:
//! * An API records an event *before* it returns the response of the request the event
//!   describes, and a request whose event could not be recorded is answered with an
//!   error: `AuditSink::record` returning `Ok` means the event is durable (the server's
//!   spool fsynced it), so nothing acknowledged is lost.
//! * A write may instead commit its event in the same metadata transaction as the write
//!   itself (the audit outbox, [`AuditService::outbox`]): the event is then durable
//!   exactly when the write is, and costs no second durable commit. Only the outcome
//!   "the write committed" is recorded that way; every other outcome goes through the
//!   sink.
//! * Every event carries a fresh `eventId`; consumers (the flusher) dedupe by it.
//! * The org's own audit bucket is never data-plane logged: reading the logs must not
//!   produce more logs (and the flusher writes it through `ObjectService`, not S3).
//!
//! The spool and the flusher that turn recorded events into objects live in
//! `coffer-server` (they own files and threads); the APIs depend only on this module.

use crate::error::{Error, Result};
use crate::ids::{audit_bucket_name, new_hex_id};
use crate::meta::MetaStore;
use crate::model::{Bucket, OrgSettings};
use crate::objects::ObjectService;
use crate::policy::DecidedBy;
use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Outcome of the audited request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditResult {
    /// Authorized and completed successfully.
    Allowed,
    /// Refused by authentication or authorization.
    Denied,
    /// Authorized (or not yet decided) but failed.
    Error,
}

/// A management-API call (SPEC §6 "Control-plane event").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneEvent {
    pub event_id: String,
    /// `cwobject:CreateAccessKey`, `cwobject:SetOrganizationSettings`, …
    pub action: String,
    /// `coreweave/<uid>`, `role/…`; empty when the caller could not be identified.
    pub principal: String,
    /// `admin`, `member`, `federated`; empty when unknown.
    pub principal_role: String,
    /// RFC 3339 UTC with milliseconds, when the request arrived.
    pub timestamp: String,
    /// The access key id, bucket name, policy name, principal or org the call acted on.
    pub identifier: String,
    /// How long the call took.
    #[serde(rename = "duration_seconds")]
    pub duration_seconds: f64,
    pub org_id: String,
    pub source_ip: String,
    pub request_id: String,
    pub result: AuditResult,
}

/// An S3 request on a logged bucket (SPEC §6 "Data-plane event").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataPlaneEvent {
    pub event_id: String,
    /// `s3:<Operation>`, e.g. `s3:GetObject`, `s3:ListObjectsV2`.
    pub action: String,
    /// `arn:aws:s3:::bucket[/key]`.
    #[serde(rename = "aws:arn")]
    pub arn: String,
    /// `arn:aws:iam::<orgId>:<principal>`, or `anonymous`.
    pub principal: String,
    pub timestamp: String,
    pub source_ip: String,
    pub host: String,
    pub bucket_name: String,
    /// Empty for bucket-level operations.
    pub key: String,
    /// Empty for anonymous requests.
    pub access_key_id: String,
    pub request_id: String,
    pub http_status: u16,
    /// Response body bytes (the response's `Content-Length`).
    pub bytes_sent: u64,
    /// Request body bytes (decoded length of aws-chunked bodies).
    pub bytes_received: u64,
    pub result: AuditResult,
    /// The statement that decided the request; absent when no decision was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<DecidedBy>,
    /// The compute-node cache (`coffer cache`) the request came through, by name;
    /// absent for requests made directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_node: Option<String>,
}

/// One event as the spool stores it: the event plus where it is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stream", rename_all = "kebab-case")]
pub enum AuditRecord {
    /// Delivered to `control-plane/…` of `org_id`'s audit bucket.
    ControlPlane {
        org_id: String,
        event: ControlPlaneEvent,
    },
    /// Delivered to `data-plane/…/<bucketName>/…` of `org_id`'s (the bucket owner's)
    /// audit bucket.
    DataPlane {
        org_id: String,
        event: DataPlaneEvent,
    },
}

impl AuditRecord {
    pub fn org_id(&self) -> &str {
        match self {
            AuditRecord::ControlPlane { org_id, .. } | AuditRecord::DataPlane { org_id, .. } => {
                org_id
            }
        }
    }
    pub fn event_id(&self) -> &str {
        match self {
            AuditRecord::ControlPlane { event, .. } => &event.event_id,
            AuditRecord::DataPlane { event, .. } => &event.event_id,
        }
    }
    pub fn timestamp(&self) -> &str {
        match self {
            AuditRecord::ControlPlane { event, .. } => &event.timestamp,
            AuditRecord::DataPlane { event, .. } => &event.timestamp,
        }
    }
}

/// Where recorded events go. `Ok` means durable (see the module invariants).
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    async fn record(&self, record: AuditRecord) -> Result<()>;
    /// `true` when `record` would currently fail with `Error::Unavailable` (a full
    /// spool under the `reject` policy): callers refuse logged requests up front.
    fn saturated(&self) -> bool {
        false
    }
    /// A request was refused up front because of [`Self::saturated`] (for metrics).
    fn refused(&self) {}
    /// Whether this sink also delivers the metadata store's audit outbox (events
    /// committed with the writes they describe, `MetaStore::put_object_audited`).
    fn drains_outbox(&self) -> bool {
        false
    }
    /// Waits, or fails with `Error::Unavailable`, exactly as `record` would before
    /// writing when the sink is over its bound; called before an event is committed to
    /// the outbox instead, so the outbox shares the sink's bound and policy.
    async fn admit(&self) -> Result<()> {
        Ok(())
    }
    /// An event of `len` bytes was committed to the outbox (for depth metrics and the
    /// flush trigger).
    fn outboxed(&self, len: u64) {
        let _ = len;
    }
}

/// Keeps events in memory: for tests of the APIs without a spool. Not durable; never
/// wired into a server.
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemorySink {
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().clone()
    }
}

#[async_trait]
impl AuditSink for MemorySink {
    async fn record(&self, record: AuditRecord) -> Result<()> {
        self.records.lock().push(record);
        Ok(())
    }
}

/// A fresh event id (32 hex chars).
pub fn new_event_id() -> String {
    new_hex_id()
}

/// RFC 3339 UTC with millisecond precision (`2026-01-02T03:04:05.678Z`); the first 13
/// characters are the hour partition (`YYYY-MM-DDTHH`).
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// How long org settings are cached for the per-request "is logging on" question. A
/// change made through this node's API is seen at once (`settings_changed`); one made
/// on another node within this bound (SPEC §7 cache bound).
const ORG_SETTINGS_TTL: Duration = Duration::from_secs(1);

/// Decides which events are wanted and records them.
pub struct AuditService {
    meta: Arc<dyn MetaStore>,
    objects: Arc<ObjectService>,
    sink: Arc<dyn AuditSink>,
    org_settings: Mutex<HashMap<String, (Instant, OrgSettings)>>,
}

impl AuditService {
    pub fn new(
        meta: Arc<dyn MetaStore>,
        objects: Arc<ObjectService>,
        sink: Arc<dyn AuditSink>,
    ) -> Self {
        Self {
            meta,
            objects,
            sink,
            org_settings: Mutex::new(HashMap::new()),
        }
    }

    /// Org settings, cached for [`ORG_SETTINGS_TTL`]. An unknown org has every switch off.
    async fn org_settings(&self, org_id: &str) -> Result<OrgSettings> {
        let cached = self
            .org_settings
            .lock()
            .get(org_id)
            .filter(|(at, _)| at.elapsed() < ORG_SETTINGS_TTL)
            .map(|(_, s)| s.clone());
        if let Some(s) = cached {
            return Ok(s);
        }
        let s = match self.meta.get_org_settings(org_id).await {
            Ok(s) => s,
            Err(Error::NotFound(_)) => OrgSettings::default(),
            Err(e) => return Err(e),
        };
        let mut cache = self.org_settings.lock();
        // Bounded: a flood of distinct org ids (anonymous exchanges) cannot grow it.
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(org_id.to_string(), (Instant::now(), s.clone()));
        Ok(s)
    }

    /// Forget cached settings of `org_id` (call after writing them).
    pub fn settings_changed(&self, org_id: &str) {
        self.org_settings.lock().remove(org_id);
    }

    /// Whether `org_id`'s management calls are logged.
    pub async fn control_plane_enabled(&self, org_id: &str) -> Result<bool> {
        Ok(self.org_settings(org_id).await?.control_plane_audit_logging)
    }

    /// Whether requests on `bucket` are logged: its own switch, else its org's default.
    /// Never for the org's audit bucket itself.
    pub async fn bucket_enabled(
        &self,
        bucket: &str,
        owner_org: &str,
        setting: Option<bool>,
    ) -> Result<bool> {
        if bucket == audit_bucket_name(owner_org) {
            return Ok(false);
        }
        match setting {
            Some(v) => Ok(v),
            None => Ok(self
                .org_settings(owner_org)
                .await?
                .bucket_audit_logging_default),
        }
    }

    /// [`Self::bucket_enabled`] for a bucket record.
    pub async fn bucket_record_enabled(&self, bucket: &Bucket) -> Result<bool> {
        self.bucket_enabled(&bucket.name, &bucket.org_id, bucket.settings.audit_logging)
            .await
    }

    /// The owner org of `bucket` if requests on it are logged; `None` otherwise, also
    /// for a bucket that does not exist.
    pub async fn logged_bucket_owner(&self, bucket: &str) -> Result<Option<String>> {
        match self.objects.get_bucket(bucket).await {
            Ok(b) => Ok(self.bucket_record_enabled(&b).await?.then_some(b.org_id)),
            // A name that cannot be a bucket (a request refused before its bucket was
            // validated) names no logged bucket.
            Err(Error::NoSuchBucket | Error::NotFound(_) | Error::InvalidBucketName(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the org's audit bucket unless it exists (idempotent; an existing one in
    /// another zone is kept).
    pub async fn ensure_bucket(&self, org_id: &str) -> Result<()> {
        match self
            .objects
            .create_reserved_bucket(org_id, &audit_bucket_name(org_id))
            .await
        {
            Ok(_) | Err(Error::BucketAlreadyOwnedByYou) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// See [`AuditSink::saturated`].
    pub fn saturated(&self) -> bool {
        self.sink.saturated()
    }

    /// See [`AuditSink::refused`].
    pub fn refused(&self) {
        self.sink.refused();
    }

    /// Whether audited writes may commit their events in the metadata store's outbox
    /// (the store keeps one and the sink delivers it).
    pub fn outbox(&self) -> bool {
        self.sink.drains_outbox() && self.meta.has_audit_outbox()
    }

    /// See [`AuditSink::admit`].
    pub async fn admit(&self) -> Result<()> {
        self.sink.admit().await
    }

    /// See [`AuditSink::outboxed`].
    pub fn outboxed(&self, len: u64) {
        self.sink.outboxed(len);
    }

    /// Hands `record` to the sink; `Ok` = durable.
    pub async fn record(&self, record: AuditRecord) -> Result<()> {
        self.sink.record(record).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_the_documented_names() {
        let e = ControlPlaneEvent {
            event_id: "e1".into(),
            action: "cwobject:CreateAccessKey".into(),
            principal: "coreweave/u".into(),
            principal_role: "admin".into(),
            timestamp: timestamp(OffsetDateTime::UNIX_EPOCH),
            identifier: "CWAAAAAAAAAAAAAA".into(),
            duration_seconds: 0.5,
            org_id: "abc123".into(),
            source_ip: "127.0.0.1".into(),
            request_id: "r".into(),
            result: AuditResult::Allowed,
        };
        let v = serde_json::to_value(&e).unwrap();
        for k in [
            "eventId",
            "action",
            "principal",
            "principalRole",
            "timestamp",
            "identifier",
            "duration_seconds",
            "orgId",
            "sourceIp",
            "requestId",
            "result",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["result"], "allowed");
        let d = DataPlaneEvent {
            event_id: "e2".into(),
            action: "s3:GetObject".into(),
            arn: "arn:aws:s3:::b/k".into(),
            principal: "anonymous".into(),
            timestamp: "t".into(),
            source_ip: String::new(),
            host: String::new(),
            bucket_name: "b".into(),
            key: "k".into(),
            access_key_id: String::new(),
            request_id: "r".into(),
            http_status: 403,
            bytes_sent: 0,
            bytes_received: 0,
            result: AuditResult::Denied,
            decided_by: None,
            cache_node: None,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["aws:arn"], "arn:aws:s3:::b/k");
        assert_eq!(v["httpStatus"], 403);
        assert!(v.get("decidedBy").is_none());
        let r = AuditRecord::DataPlane {
            org_id: "abc123".into(),
            event: d,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""stream":"data-plane""#), "{line}");
        assert_eq!(serde_json::from_str::<AuditRecord>(&line).unwrap(), r);
    }
}
