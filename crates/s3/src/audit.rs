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
//! Requests that never reach the access check (SigV2 / presign gates, malformed or
//! wrongly signed requests that s3s rejects) are attributed from the request line
//! ([`Target::of_request`]: bucket and key from the host and path, the operation
//! guessed from method and query) and logged as `denied` (401/403) or `error` when
//! that bucket is logged; the claimed access key id is not trusted and not recorded.
//!
//! A multi-object delete (`DeleteObjects`) yields one `s3:DeleteObject` event per key
//! (the gateway reports each key's outcome into the slot) instead of one event for the
//! whole request, so every deleted (or refused) key is accounted for.

use crate::request_line::percent_decode;
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
    /// Per-key outcomes of a multi-object delete.
    pub items: Vec<ItemOutcome>,
    /// Set by `http_service` before the request runs, for a handler that commits the
    /// event with its write ([`outbox_event`]).
    pub arrival: Option<Arrival>,
    /// The handler committed the request's event in the metadata store's audit outbox
    /// together with its write: `http_service` records nothing more.
    pub outboxed: bool,
    /// The compute-node cache the request came through (its name).
    pub cache_node: Option<String>,
}

/// What the HTTP layer knows of a request before it runs.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub started: OffsetDateTime,
    pub request_id: String,
    pub source_ip: String,
    pub host: String,
    pub bytes_received: u64,
}

/// One key of a `DeleteObjects` request.
#[derive(Debug, Clone)]
pub struct ItemOutcome {
    pub key: String,
    pub result: AuditResult,
    /// 204 deleted, 403 denied, otherwise the status the key's error would have alone.
    pub http_status: u16,
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
    pub fn read<T>(&self, f: impl FnOnce(&S3AuditFacts) -> T) -> T {
        f(&self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
    pub fn decided(&self, d: &Decision) {
        self.with(|f| f.decision = Some((d.allowed, d.decided_by.clone())));
    }
    /// Records the outcome of one key of a multi-object delete.
    pub fn item(&self, key: &str, result: AuditResult, http_status: u16) {
        self.with(|f| {
            f.items.push(ItemOutcome {
                key: key.to_string(),
                result,
                http_status,
            })
        });
    }
    /// The handler's write committed the event [`outbox_event`] made.
    pub fn outboxed(&self) {
        self.with(|f| f.outboxed = true);
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

/// The bucket, key and operation a request addresses, read from the request line (for
/// requests s3s refuses before the access check sees them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub op: String,
}

impl Target {
    /// `host_bucket`: the bucket of a virtual-hosted-style host name, if any.
    pub fn of_request(
        method: &http::Method,
        path: &str,
        query: Option<&str>,
        host_bucket: Option<&str>,
        copy_source: bool,
    ) -> Target {
        let path = percent_decode(path.strip_prefix('/').unwrap_or(path));
        let (bucket, key) = match host_bucket {
            Some(b) => (Some(b.to_string()), Some(path).filter(|k| !k.is_empty())),
            None => match path.split_once('/') {
                Some((b, k)) => (
                    Some(b.to_string()),
                    Some(k.to_string()).filter(|k| !k.is_empty()),
                ),
                None => (Some(path).filter(|b| !b.is_empty()), None),
            },
        };
        let q = query.unwrap_or("");
        let has = |name: &str| {
            q.split('&')
                .any(|p| p == name || p.starts_with(&format!("{name}=")))
        };
        use http::Method as M;
        let op = match (key.is_some(), method) {
            (true, &M::GET) => "GetObject",
            (true, &M::HEAD) => "HeadObject",
            (true, &M::PUT) if has("partNumber") && has("uploadId") => "UploadPart",
            (true, &M::PUT) if copy_source => "CopyObject",
            (true, &M::PUT) => "PutObject",
            (true, &M::DELETE) if has("uploadId") => "AbortMultipartUpload",
            (true, &M::DELETE) => "DeleteObject",
            (true, &M::POST) if has("uploads") => "CreateMultipartUpload",
            (true, &M::POST) if has("uploadId") => "CompleteMultipartUpload",
            (_, &M::OPTIONS) => "PreflightRequest",
            (false, &M::GET) if bucket.is_none() => "ListBuckets",
            (false, &M::GET) if has("list-type") => "ListObjectsV2",
            (false, &M::GET) => "ListObjects",
            (false, &M::HEAD) => "HeadBucket",
            (false, &M::PUT) => "CreateBucket",
            (false, &M::DELETE) => "DeleteBucket",
            (false, &M::POST) if has("delete") => "DeleteObjects",
            _ => "Unknown",
        };
        Target {
            bucket,
            key,
            op: op.to_string(),
        }
    }
}

/// Fills the operation, bucket and key from `target` when the access check never ran.
pub fn attribute(facts: &mut S3AuditFacts, target: &Target) {
    if facts.bucket.is_none() {
        facts.bucket = target.bucket.clone();
        facts.key = target.key.clone();
        facts.op = Some(target.op.clone());
        // Whatever key id the request claimed was not verified.
        facts.access_key_id = None;
        facts.principal = None;
    }
}

/// Records the event(s) of one request when its bucket is logged. `Ok` when nothing is
/// wanted or the events are durable.
pub async fn emit(
    audit: &AuditService,
    facts: S3AuditFacts,
    x: Exchange<'_>,
) -> coffer_core::Result<()> {
    if facts.outboxed {
        // Committed with the write it describes (`outbox_event`): the outcome it states
        // is the write's, which stands whatever happened to the response afterwards.
        if x.http_status >= 300 {
            tracing::warn!(
                request_id = x.request_id,
                status = x.http_status,
                "a write committed with its audit event was answered with an error status"
            );
        }
        return Ok(());
    }
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
    if !facts.items.is_empty() {
        let principal = principal_of(&facts);
        let records = facts.items.iter().map(|item| {
            let event = DataPlaneEvent {
                event_id: new_event_id(),
                action: "s3:DeleteObject".to_string(),
                arn: format!("arn:aws:s3:::{bucket}/{}", item.key),
                principal: principal.clone(),
                timestamp: timestamp(x.started),
                source_ip: x.source_ip.clone(),
                host: x.host.clone(),
                bucket_name: bucket.to_string(),
                key: item.key.clone(),
                access_key_id: facts.access_key_id.clone().unwrap_or_default(),
                request_id: x.request_id.to_string(),
                http_status: item.http_status,
                bytes_sent: 0,
                bytes_received: 0,
                result: item.result,
                decided_by: None,
                cache_node: facts.cache_node.clone(),
            };
            audit.record(AuditRecord::DataPlane {
                org_id: org_id.clone(),
                event,
            })
        });
        // Concurrent: the spool commits them together.
        for r in futures::future::join_all(records).await {
            r?;
        }
        return Ok(());
    }
    let event = event_of(&facts, op, bucket, x);
    audit.record(AuditRecord::DataPlane { org_id, event }).await
}

/// The principal of unsigned requests, as [`crate::access::Caller::principal`] reports
/// it and audit events record it.
pub const ANONYMOUS_PRINCIPAL: &str = "anonymous";

fn principal_of(facts: &S3AuditFacts) -> String {
    match &facts.principal {
        Some((org, p)) => format!("arn:aws:iam::{org}:{p}"),
        None => ANONYMOUS_PRINCIPAL.to_string(),
    }
}

/// The one event of a request (every operation but `DeleteObjects`).
fn event_of(facts: &S3AuditFacts, op: &str, bucket: &str, x: Exchange<'_>) -> DataPlaneEvent {
    let key = facts.key.clone().unwrap_or_default();
    let arn = if key.is_empty() {
        format!("arn:aws:s3:::{bucket}")
    } else {
        format!("arn:aws:s3:::{bucket}/{key}")
    };
    DataPlaneEvent {
        event_id: new_event_id(),
        action: format!("s3:{op}"),
        arn,
        principal: principal_of(facts),
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
        result: result_of(facts, x.http_status),
        decided_by: facts.decision.clone().map(|(_, d)| d),
        cache_node: facts.cache_node.clone(),
    }
}

/// The event a successful write will have, serialized for the metadata store's audit
/// outbox (`PutObjectInput::audit_event`), when the request is audited and the store
/// and the sink support the outbox; `None` otherwise (the event then goes through
/// [`emit`] as usual). `ok_status`/`bytes_sent` are those of the success response.
///
/// Waits (or fails) like the spool would when the audit sink is over its bound, before
/// anything is written. Call [`S3AuditSlot::outboxed`] once the write committed.
pub async fn outbox_event(
    audit: &AuditService,
    slot: &S3AuditSlot,
    ok_status: u16,
    bytes_sent: u64,
) -> coffer_core::Result<Option<Vec<u8>>> {
    if !audit.outbox() {
        return Ok(None);
    }
    let facts = slot.facts();
    let (Some(op), Some(bucket), Some((owner, setting)), Some(a)) = (
        facts.op.as_deref(),
        facts.bucket.as_deref(),
        &facts.bucket_record,
        &facts.arrival,
    ) else {
        return Ok(None);
    };
    if !facts.items.is_empty() || !audit.bucket_enabled(bucket, owner, *setting).await? {
        return Ok(None);
    }
    audit.admit().await?;
    let x = Exchange {
        started: a.started,
        request_id: &a.request_id,
        source_ip: a.source_ip.clone(),
        host: a.host.clone(),
        http_status: ok_status,
        bytes_sent,
        bytes_received: a.bytes_received,
    };
    let event = event_of(&facts, op, bucket, x);
    let record = AuditRecord::DataPlane {
        org_id: owner.clone(),
        event,
    };
    serde_json::to_vec(&record)
        .map(Some)
        .map_err(|e| coffer_core::Error::internal(format!("serializing an audit event: {e}")))
}
