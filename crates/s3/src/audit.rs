//! Data-plane audit events (SPEC §6): one per S3 request on a logged bucket, denied
//! requests included.
//!
//! How the facts of one request meet:
//! * [`crate::http_service`] puts an empty [`S3AuditSlot`] into the request extensions
//!   (s3s hands the same extensions to the access check);
//! * the access check ([`crate::access`]) records the operation, bucket and key, the
//!   resolved key and principal, the bucket record's owner and audit switch, and the
//!   decision (with the deciding statement) of every authorization question;
//! * after s3s answered, `http_service` builds the event from the facts and the
//!   response and, when the bucket is logged ([`AuditService::bucket_enabled`]),
//!   records it before the response is returned. If it cannot be recorded, the client
//!   gets `InternalError` instead of the response.
//!
//! Requests that never reach the access check (SigV2 / presign gates, signature
//! failures inside s3s) name no bucket and produce no event.

use coffer_core::audit::{
    AuditRecord, AuditResult, AuditService, DataPlaneEvent, new_event_id, timestamp,
};
use coffer_core::policy::{DecidedBy, Decision};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

#[derive(Debug, Default, Clone)]
pub struct S3AuditFacts {
    /// s3s operation name (`GetObject`).
    pub op: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// Set when the access check read the bucket record: (owner org, audit switch).
    pub bucket_record: Option<(String, Option<bool>)>,
    /// `coreweave/<uid>` etc. with its org; `None` for anonymous requests.
    pub principal: Option<(String, String)>,
    pub access_key_id: Option<String>,
    /// The last decision made (the denying one if the request was denied).
    pub decision: Option<(bool, DecidedBy)>,
}

/// Shared, per-request collector of [`S3AuditFacts`].
#[derive(Debug, Default, Clone)]
pub struct S3AuditSlot(Arc<Mutex<S3AuditFacts>>);

impl S3AuditSlot {
    pub fn with(&self, f: impl FnOnce(&mut S3AuditFacts)) {
        // A poisoned lock only means a panicking writer; the facts stay usable.
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
    }
    pub fn decided(&self, d: &Decision) {
        self.with(|f| f.decision = Some((d.allowed, d.decided_by.clone())));
    }
    pub fn facts(&self) -> S3AuditFacts {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the HTTP layer knows about the request and its response.
pub struct Exchange<'a> {
    pub started: OffsetDateTime,
    pub request_id: &'a str,
    pub source_ip: String,
    pub host: String,
    pub http_status: u16,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

fn result_of(facts: &S3AuditFacts, status: u16) -> AuditResult {
    match &facts.decision {
        Some((false, _)) => AuditResult::Denied,
        _ if status == 401 || status == 403 => AuditResult::Denied,
        _ if status < 400 => AuditResult::Allowed,
        _ => AuditResult::Error,
    }
}

/// Records the event of one request when its bucket is logged. `Ok` when nothing is
/// wanted or the event is durable.
pub async fn emit(
    audit: &AuditService,
    facts: S3AuditFacts,
    x: Exchange<'_>,
) -> coffer_core::Result<()> {
    let (Some(op), Some(bucket)) = (facts.op.as_deref(), facts.bucket.as_deref()) else {
        return Ok(());
    };
    let owner = match &facts.bucket_record {
        Some((owner, setting)) => audit
            .bucket_enabled(bucket, owner, *setting)
            .await?
            .then(|| owner.clone()),
        // Denied before the bucket was read, or an operation that does not read it
        // (CreateBucket): ask the store.
        None => audit.logged_bucket_owner(bucket).await?,
    };
    let Some(org_id) = owner else {
        return Ok(());
    };
    let key = facts.key.clone().unwrap_or_default();
    let arn = if key.is_empty() {
        format!("arn:aws:s3:::{bucket}")
    } else {
        format!("arn:aws:s3:::{bucket}/{key}")
    };
    let principal = match &facts.principal {
        Some((org, p)) => format!("arn:aws:iam::{org}:{p}"),
        None => crate::access::ANONYMOUS_PRINCIPAL.to_string(),
    };
    let event = DataPlaneEvent {
        event_id: new_event_id(),
        action: format!("s3:{op}"),
        arn,
        principal,
        timestamp: timestamp(x.started),
        source_ip: x.source_ip,
        host: x.host,
        bucket_name: bucket.to_string(),
        key,
        access_key_id: facts.access_key_id.clone().unwrap_or_default(),
        request_id: x.request_id.to_string(),
        http_status: x.http_status,
        bytes_sent: x.bytes_sent,
        bytes_received: x.bytes_received,
        result: result_of(&facts, x.http_status),
        decided_by: facts.decision.map(|(_, d)| d),
    };
    audit.record(AuditRecord::DataPlane { org_id, event }).await
}
