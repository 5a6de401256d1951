//! `impl s3s::S3 for Gateway`: the dispatch, and the plumbing the handlers share.
//!
//! Every operation delegates to its handler, an `impl Gateway` method `do_<operation>`
//! in the family module beside this file: `buckets` (buckets and bucket policies),
//! `listing`, `objects`, `multipart`, `versioning`, `lifecycle`, `tagging`, `cors`,
//! `attributes`, `acl`, `public_access`, `object_lock`; PutObject routes RenameObject
//! to `rename`. What stays here: the [`Gateway`] state, the outbox-audit, tag-, ACL- and
//! lock-checking plumbing of writes, and the DTO helpers several families use
//! (responses, limits, conditions, ranges, checksums, ACL requests, unsupported
//! options). Handler families use this module and the layers below it, never each
//! other (crate docs).
//!
//! Handlers translate only: validation of wire forms (tags, ranges, tokens, part
//! numbers, unsupported options) happens in the handlers and the helpers here, semantics
//! (conditions, ranges, multipart rules, integrity) live in the object service. Every
//! handler starts from the [`Caller`] the access check attached; every response carries
//! `x-amz-request-id`.
//!
//! Unsupported request options (ACLs that would need ACLs enabled, SSE, object lock,
//! storage classes other than STANDARD) are refused, never silently ignored:
//! a success must not claim something that did not happen. Operations not overridden
//! here keep s3s's default `NotImplemented` (and the access check answers
//! `NotImplemented` for them before any handler runs).

use crate::access::{Authorizer, Caller, caller_of};
use crate::actions::{
    S3_BYPASS_GOVERNANCE, S3_GET_OBJECT, S3_GET_OBJECT_LEGAL_HOLD, S3_GET_OBJECT_RETENTION,
    S3_PUT_OBJECT_LEGAL_HOLD, S3_PUT_OBJECT_RETENTION, S3_PUT_OBJECT_TAGGING,
};
use crate::audit::S3AuditSlot;
use crate::body::FaultCell;
use crate::errors::{REQUEST_ID_HEADER, s3, to_s3};
use crate::wire::{etag_condition, parse_tagging, url_encode};
use coffer_core::Error;
use coffer_core::acl::{self as core_acl, Acl, AclError, ObjectAccess, ObjectOwnership};
use coffer_core::audit::AuditService;
use coffer_core::checksum::ChecksumAlgorithm as Alg;
use coffer_core::model::Bucket;
use coffer_core::model::{ObjectHeaders, WriteCondition};
use coffer_core::object_lock::{LockMode, Retention, WriteLock};
use coffer_core::objects::{self as core, ChecksumInput, ObjectService, TrailerFn};
use http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, TrailingHeaders};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use time::OffsetDateTime;

/// Most keys/uploads/parts one listing returns.
pub(crate) const MAX_LIST: i32 = 1000;
pub(crate) const MAX_PART_NUMBER: i32 = 10_000;

#[derive(Clone)]
pub struct Gateway {
    pub(crate) objects: Arc<ObjectService>,
    pub(crate) authz: Arc<Authorizer>,
    /// For writes that commit their audit event with themselves
    /// ([`crate::audit::outbox_event`]); every other event is recorded by
    /// [`crate::http_service`].
    pub(crate) audit: Option<Arc<AuditService>>,
}

impl Gateway {
    pub fn new(
        objects: Arc<ObjectService>,
        authz: Arc<Authorizer>,
        audit: Option<Arc<AuditService>>,
    ) -> Self {
        Self {
            objects,
            authz,
            audit,
        }
    }

    /// The audit event a successful write of this request will commit with itself, and
    /// the request's audit slot (see [`crate::audit::outbox_event`]); `None` when the
    /// request is not audited or the event goes through the spool.
    pub(crate) async fn outbox_event(
        &self,
        ext: &http::Extensions,
        ok_status: u16,
        bytes_sent: u64,
        rid: &str,
    ) -> S3Result<Option<(Vec<u8>, S3AuditSlot)>> {
        let (Some(audit), Some(slot)) = (&self.audit, ext.get::<S3AuditSlot>()) else {
            return Ok(None);
        };
        match crate::audit::outbox_event(audit, slot, ok_status, bytes_sent).await {
            Ok(event) => Ok(event.map(|e| (e, slot.clone()))),
            Err(e) => Err(to_s3(e, rid)),
        }
    }

    /// The write carrying an outbox event of `len` bytes committed.
    pub(crate) fn outboxed(&self, outbox: Option<(u64, S3AuditSlot)>) {
        if let (Some(audit), Some((len, slot))) = (&self.audit, outbox) {
            slot.outboxed();
            audit.outboxed(len);
        }
    }

    /// Setting tags on a write (`x-amz-tagging` on PutObject, CopyObject with the
    /// REPLACE directive, CreateMultipartUpload) needs `s3:PutObjectTagging` as well, as
    /// in S3.
    pub(crate) fn check_write_tags(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        tags: &BTreeMap<String, String>,
    ) -> S3Result<()> {
        if tags.is_empty()
            || self
                .authz
                .allowed(caller, S3_PUT_OBJECT_TAGGING, &format!("{bucket}/{key}"))
        {
            return Ok(());
        }
        Err(s3(
            S3ErrorCode::AccessDenied,
            "Access Denied",
            caller.request_id(),
        ))
    }

    /// Whether a request bypasses Object Lock GOVERNANCE retention on `bucket/key`:
    /// `x-amz-bypass-governance-retention: true` and `s3:BypassGovernanceRetention`
    /// allowed. Without the permission the header is ignored, so a locked version stays
    /// locked (S3).
    pub(crate) fn bypass_governance(
        &self,
        caller: &Caller,
        asked: Option<bool>,
        bucket: &str,
        key: &str,
    ) -> bool {
        asked == Some(true)
            && self
                .authz
                .allowed(caller, S3_BYPASS_GOVERNANCE, &format!("{bucket}/{key}"))
    }

    /// The Object Lock headers of a write (PutObject, CreateMultipartUpload), checked
    /// against the bucket ([`write_lock`]); the bucket is read only when there are any.
    pub(crate) async fn check_write_lock(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        mode: Option<&ObjectLockMode>,
        until: Option<&Timestamp>,
        hold: Option<&ObjectLockLegalHoldStatus>,
    ) -> S3Result<WriteLock> {
        if mode.is_none() && until.is_none() && hold.is_none() {
            return Ok(WriteLock::default());
        }
        // As S3: setting a lock on a write needs the right to set it afterwards, so
        // s3:PutObject alone cannot lock a version out of its owner's reach (or opt out
        // of the bucket's default retention).
        let resource = format!("{bucket}/{key}");
        for (asked, action) in [
            (mode.is_some() || until.is_some(), S3_PUT_OBJECT_RETENTION),
            (hold.is_some(), S3_PUT_OBJECT_LEGAL_HOLD),
        ] {
            if asked && !self.authz.allowed(caller, action, &resource) {
                return Err(s3(
                    S3ErrorCode::AccessDenied,
                    "Access Denied",
                    caller.request_id(),
                ));
            }
        }
        let b = self.bucket_of(caller, bucket).await?;
        write_lock(
            &b,
            mode,
            until,
            hold,
            self.objects.now(),
            caller.request_id(),
        )
    }

    /// Edits the configuration of the caller's target bucket in one store transaction
    /// (`MetaStore::edit_bucket`), only if it still belongs to the org the request was
    /// authorized against (`policy::owned_by`: not a same-named bucket created since).
    pub(crate) async fn edit_owned_bucket(
        &self,
        caller: &Caller,
        bucket: &str,
        edit: impl FnOnce(&mut Bucket) -> coffer_core::Result<()> + Send + 'static,
    ) -> S3Result<()> {
        let owner = caller.bucket_owner().to_owned();
        self.objects
            .edit_bucket(
                bucket,
                Box::new(move |b| {
                    coffer_core::policy::owned_by(b, &owner)?;
                    edit(b)
                }),
            )
            .await
            .map(drop)
            .map_err(|e| to_s3(e, caller.request_id()))
    }

    /// The Object Lock response headers of a version (GET, HEAD): its retention, and its
    /// legal hold when on, each only for a caller who may read it
    /// (`s3:GetObjectRetention`, `s3:GetObjectLegalHold`), as S3.
    pub(crate) fn lock_headers(
        &self,
        caller: &Caller,
        rec: &coffer_core::model::ObjectRecord,
    ) -> (
        Option<ObjectLockMode>,
        Option<Timestamp>,
        Option<ObjectLockLegalHoldStatus>,
    ) {
        let may = |action: &str| {
            self.authz
                .allowed(caller, action, &format!("{}/{}", rec.bucket, rec.key))
        };
        let retention = rec.retention.filter(|_| may(S3_GET_OBJECT_RETENTION));
        let hold = rec.legal_hold && may(S3_GET_OBJECT_LEGAL_HOLD);
        (
            retention.map(|r| ObjectLockMode::from(r.mode.as_str().to_string())),
            retention.map(|r| Timestamp::from(r.retain_until)),
            hold.then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON)),
        )
    }

    /// The record of `name`: the one the access check read, else read now.
    pub(crate) async fn bucket_of(&self, caller: &Caller, name: &str) -> S3Result<Arc<Bucket>> {
        match caller.bucket_record(name) {
            Some(b) => Ok(b),
            None => self
                .objects
                .get_bucket(name)
                .await
                .map(Arc::new)
                .map_err(|e| to_s3(e, caller.request_id())),
        }
    }

    /// The owner and ACL of the version an object write makes (PutObject, CopyObject,
    /// CreateMultipartUpload and form uploads), from the ACL it asks for (`x-amz-acl`,
    /// `x-amz-grant-*`) and the bucket's Object Ownership, checked in S3's order: the
    /// ACL's form and grantees (400), `BlockPublicAcls` (403), then the ownership.
    /// * ACLs disabled (`BucketOwnerEnforced`): the bucket owner owns every object, so
    ///   only `bucket-owner-full-control` or an ACL giving the bucket owner full control
    ///   and nobody anything (`private` from the bucket owner's org, or an anonymous
    ///   writer, whose objects the bucket owner owns) is accepted, and it stores
    ///   nothing; any other is 400 `AccessControlListNotSupported`.
    /// * `BucketOwnerPreferred`: written with `bucket-owner-full-control`, the object is
    ///   the bucket owner's; otherwise the writer's org owns it.
    /// * `ObjectWriter` (or no controls): the writer's org owns it.
    ///
    /// An anonymous writer never owns an object: the bucket owner does.
    pub(crate) async fn check_write_acl(
        &self,
        caller: &Caller,
        bucket: &str,
        asked: AclRequest<'_>,
    ) -> S3Result<ObjectAccess> {
        let rid = caller.request_id();
        let b = self.bucket_of(caller, bucket).await?;
        let ownership = b.subresources.ownership;
        let enabled = ObjectOwnership::acls_enabled(ownership);
        if asked.is_empty() && !enabled {
            return Ok(ObjectAccess::default());
        }
        let writer = if caller.is_anonymous() {
            b.org_id.as_str()
        } else {
            caller.org_id()
        };
        let bfc = asked.canned == Some(core_acl::BUCKET_OWNER_FULL_CONTROL);
        let owner = match ownership {
            Some(ObjectOwnership::BucketOwnerPreferred) if bfc => b.org_id.as_str(),
            _ => writer,
        };
        let asked_acl = self
            .requested_acl(&asked, owner, &b.org_id, true, rid)
            .await?;
        if let Some(acl) = &asked_acl {
            block_public_acls(&b, acl, rid)?;
        }
        if !enabled {
            match asked_acl {
                Some(acl) if !bfc => enforced_rule(&acl, &b.org_id, rid)?,
                _ => {}
            }
            return Ok(ObjectAccess::default());
        }
        Ok(ObjectAccess::new(
            owner,
            &b.org_id,
            asked_acl.unwrap_or_else(|| Acl::private(owner)),
        ))
    }

    /// The ACL a request asks for ([`AclRequest::acl`]), with every grantee org known
    /// to exist.
    pub(crate) async fn requested_acl(
        &self,
        asked: &AclRequest<'_>,
        owner: &str,
        bucket_owner: &str,
        for_object: bool,
        rid: &str,
    ) -> S3Result<Option<Acl>> {
        let acl = asked.acl(owner, bucket_owner, for_object, rid)?;
        if let Some(a) = &acl {
            self.objects
                .check_grantees(a)
                .await
                .map_err(|e| to_s3(e, rid))?;
        }
        Ok(acl)
    }

    /// A write conditional on the current object's ETag (`If-Match: <etag>`,
    /// `If-None-Match: <etag>`) tells the writer whether its guess of that ETag (for a
    /// single-part object, the MD5 of its bytes) is right, whether or not anything is
    /// written. So it also needs `s3:GetObject` on the object (stricter than S3). `*`
    /// reveals only existence, which `If-None-Match: *` has always told a writer.
    pub(crate) fn check_conditional_write(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        cond: &WriteCondition,
    ) -> S3Result<()> {
        let reads_etag = match cond {
            WriteCondition::IfMatch(t) => t.trim() != "*",
            WriteCondition::IfNoneMatchEtag(_) => true,
            WriteCondition::None | WriteCondition::IfNoneMatch => false,
        };
        if !reads_etag
            || self
                .authz
                .allowed(caller, S3_GET_OBJECT, &format!("{bucket}/{key}"))
        {
            return Ok(());
        }
        Err(s3(
            S3ErrorCode::AccessDenied,
            "Access Denied",
            caller.request_id(),
        ))
    }
}

// ---------------------------------------------------------------------------------
// Small helpers

pub(crate) fn ok<T>(output: T, caller: &Caller) -> S3Response<T> {
    let mut r = S3Response::new(output);
    if let Ok(v) = HeaderValue::from_str(caller.request_id()) {
        r.headers.insert(REQUEST_ID_HEADER, v);
    }
    r
}

pub(crate) use crate::errors::invalid;

pub(crate) fn not_implemented(what: &str, rid: &str) -> S3Error {
    s3(
        S3ErrorCode::NotImplemented,
        format!("{what} is not supported by this service"),
        rid,
    )
}

/// A failed body read explains the failure better than what the object service made of
/// the resulting I/O error.
pub(crate) fn body_or(e: Error, fault: &FaultCell, rid: &str) -> S3Error {
    if let Some(f) = fault.get() {
        let (code, status, msg) = f.s3_code();
        let mut err = s3(code, msg, rid);
        err.set_status_code(status);
        return err;
    }
    to_s3(e, rid)
}

pub(crate) fn raw_header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `Content-MD5` as sent. A header that is present but empty (or not text) is kept, so the
/// object service refuses it with `InvalidDigest`; s3s reads an empty header as absent.
pub(crate) fn content_md5(h: &HeaderMap, parsed: Option<String>) -> Option<String> {
    parsed.or_else(|| {
        h.get("content-md5")
            .map(|v| v.to_str().unwrap_or_default().to_string())
    })
}

pub(crate) fn ts(t: OffsetDateTime) -> Timestamp {
    Timestamp::from(t)
}

pub(crate) fn part_number(n: i32, rid: &str) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n as u32)
    } else {
        Err(invalid(
            "Part number must be an integer between 1 and 10000, inclusive",
            rid,
        ))
    }
}

/// `max-keys`-style limits: absent → `max`, negative → error, larger → `max`.
pub(crate) fn limit(v: Option<i32>, max: i32, name: &str, rid: &str) -> S3Result<usize> {
    match v {
        None => Ok(max as usize),
        Some(n) if n < 0 => Err(invalid(format!("{name} must not be negative"), rid)),
        Some(n) => Ok(n.min(max) as usize),
    }
}

pub(crate) fn url_encoding(e: Option<&EncodingType>, rid: &str) -> S3Result<bool> {
    match e.map(EncodingType::as_str) {
        None => Ok(false),
        Some(s) if s.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(invalid("Invalid Encoding Method specified in Request", rid)),
    }
}

pub(crate) fn enc(s: String, url: bool) -> String {
    if url { url_encode(&s) } else { s }
}

pub(crate) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

pub(crate) fn tags(header: Option<&str>, rid: &str) -> S3Result<BTreeMap<String, String>> {
    match header {
        None => Ok(BTreeMap::new()),
        Some(h) => parse_tagging(h).map_err(|e| e.into_s3(rid)),
    }
}

pub(crate) fn metadata(m: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

pub(crate) fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    rid: &str,
) -> S3Result<WriteCondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteCondition::None),
        (None, Some(ETagCondition::Any)) => Ok(WriteCondition::IfNoneMatch),
        (None, Some(c @ ETagCondition::ETag(_))) => {
            Ok(WriteCondition::IfNoneMatchEtag(etag_condition(c)))
        }
        (Some(c), None) => Ok(WriteCondition::IfMatch(etag_condition(c))),
        (Some(_), Some(_)) => Err(s3(
            S3ErrorCode::NotImplemented,
            "If-Match and If-None-Match cannot be combined on a write",
            rid,
        )),
    }
}

/// Destination conditions of CopyObject and RenameObject, which s3s 0.14 does not parse.
#[doc(hidden)]
pub fn raw_write_condition(h: &HeaderMap, rid: &str) -> S3Result<WriteCondition> {
    let parse = |name: &str| -> S3Result<Option<ETagCondition>> {
        match h.get(name) {
            None => Ok(None),
            Some(v) => ETagCondition::parse_http_header(v.as_bytes())
                .map(Some)
                .map_err(|_| invalid(format!("Invalid {name} header"), rid)),
        }
    };
    write_condition(
        parse("if-match")?.as_ref(),
        parse("if-none-match")?.as_ref(),
        rid,
    )
}

/// Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn read_conditions(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> core::ReadConditions {
    core::ReadConditions {
        if_match: if_match.map(etag_condition),
        if_none_match: if_none_match.map(etag_condition),
        if_modified_since: if_modified_since.map(OffsetDateTime::from),
        if_unmodified_since: if_unmodified_since.map(OffsetDateTime::from),
        cache_tag: None,
    }
}

/// Refuses to act on `rec` when an object ACL admitted the caller for another version of
/// its key ([`crate::access::Admitted`]): that version's ACL was never consulted.
pub(crate) fn check_admitted(
    caller: &Caller,
    rec: &coffer_core::model::ObjectRecord,
) -> S3Result<()> {
    match caller.admitted(&rec.bucket, &rec.key) {
        Some(a) if !a.is(rec) => Err(s3(
            S3ErrorCode::AccessDenied,
            "Access Denied: the object changed while the request was checked",
            caller.request_id(),
        )),
        _ => Ok(()),
    }
}

/// Binds a copy source to the version whose ACL admitted the caller
/// ([`crate::access::Admitted`]), if one did: the copy then reads that version or
/// fails. The client's own conditions are first judged on that version (their failure
/// is theirs to see); then `If-Match` becomes its ETag. Returns whether it pinned, so a
/// `PreconditionFailed` from the copy means "the source changed since the check".
pub(crate) fn pin_admitted_source(
    caller: &Caller,
    bucket: &str,
    key: &str,
    conds: &mut core::ReadConditions,
) -> S3Result<bool> {
    let Some(a) = caller.admitted(bucket, key) else {
        return Ok(false);
    };
    core::evaluate_conditions(&a.etag, a.last_modified, conds, true)
        .map_err(|e| to_s3(e, caller.request_id()))?;
    conds.if_match = Some(a.etag.clone());
    Ok(true)
}

/// The source conditions of a CopyObject or UploadPartCopy input (its
/// `copy_source_if_*` fields), pinned to the admitted version
/// ([`pin_admitted_source`]): `(conditions, pinned)`.
macro_rules! copy_source_conditions {
    ($caller:expr, $bucket:expr, $key:expr, $input:expr) => {{
        let mut c = $crate::gateway::read_conditions(
            $input.copy_source_if_match.as_ref(),
            $input.copy_source_if_none_match.as_ref(),
            $input.copy_source_if_modified_since,
            $input.copy_source_if_unmodified_since,
        );
        $crate::gateway::pin_admitted_source($caller, $bucket, $key, &mut c)
            .map(|pinned| (c, pinned))
    }};
}
pub(crate) use copy_source_conditions;

/// The error of a copy whose source was pinned ([`pin_admitted_source`]): a failed
/// precondition there means another version replaced the admitted one, whose ACL was not
/// consulted, so the caller is refused.
pub(crate) fn pinned_copy_error(e: coffer_core::Error, pinned: bool, rid: &str) -> S3Error {
    match e {
        coffer_core::Error::PreconditionFailed if pinned => s3(
            S3ErrorCode::AccessDenied,
            "Access Denied: the source object changed while the request was checked",
            rid,
        ),
        e => to_s3(e, rid),
    }
}

/// The S3 error of a refused ACL.
pub(crate) fn acl_error(e: AclError, rid: &str) -> S3Error {
    let code = match &e {
        AclError::Invalid(_) => S3ErrorCode::InvalidArgument,
        AclError::Malformed(_) => S3ErrorCode::MalformedACLError,
        AclError::UnresolvableEmail => S3ErrorCode::UnresolvableGrantByEmailAddress,
        AclError::Unsupported(_) => S3ErrorCode::NotImplemented,
    };
    s3(code, e.to_string(), rid)
}

/// The [`AclRequest`] of an s3s input with S3's ACL fields (`acl`, `grant_*`), with
/// `body` its `AccessControlPolicy` if it has one: the one place those fields are read.
macro_rules! acl_request {
    // An object write (PutObject, CopyObject, CreateMultipartUpload): no
    // `x-amz-grant-write` (WRITE means nothing on an object) and no body.
    (write $input:expr) => {
        $crate::gateway::AclRequest {
            canned: $input.acl.as_ref().map(|a| a.as_str()),
            grants: [
                $input.grant_read.as_deref(),
                None,
                $input.grant_read_acp.as_deref(),
                $input.grant_write_acp.as_deref(),
                $input.grant_full_control.as_deref(),
            ],
            body: None,
        }
    };
    ($input:expr, $body:expr) => {
        $crate::gateway::AclRequest {
            canned: $input.acl.as_ref().map(|a| a.as_str()),
            grants: [
                $input.grant_read.as_deref(),
                $input.grant_write.as_deref(),
                $input.grant_read_acp.as_deref(),
                $input.grant_write_acp.as_deref(),
                $input.grant_full_control.as_deref(),
            ],
            body: $body,
        }
    };
}
pub(crate) use acl_request;

/// What a request asks an ACL to be, in its three S3 forms (at most one may be used).
pub(crate) struct AclRequest<'a> {
    pub(crate) canned: Option<&'a str>,
    /// `x-amz-grant-read`, `-write`, `-read-acp`, `-write-acp`, `-full-control`.
    pub(crate) grants: [Option<&'a str>; 5],
    pub(crate) body: Option<&'a AccessControlPolicy>,
}

impl AclRequest<'_> {
    /// The request names no ACL in any form.
    pub(crate) fn is_empty(&self) -> bool {
        self.canned.is_none() && self.grants.iter().all(Option::is_none) && self.body.is_none()
    }

    /// The ACL asked for, validated, with `owner` the resource's owner and
    /// `bucket_owner` the bucket's org; `None` when the request names none.
    pub(crate) fn acl(
        &self,
        owner: &str,
        bucket_owner: &str,
        for_object: bool,
        rid: &str,
    ) -> S3Result<Option<Acl>> {
        let headers = self.grants.iter().any(Option::is_some);
        let forms = usize::from(self.canned.is_some())
            + usize::from(headers)
            + usize::from(self.body.is_some());
        if forms > 1 {
            return Err(s3(
                S3ErrorCode::InvalidRequest,
                "Specify a canned ACL, x-amz-grant-* headers or an AccessControlPolicy body, \
                 not more than one of them",
                rid,
            ));
        }
        let acl = if let Some(name) = self.canned {
            core_acl::canned(name, owner, bucket_owner, for_object)
        } else if headers {
            let mut grants = Vec::new();
            for (p, v) in core_acl::Permission::ALL.into_iter().zip(self.grants) {
                if let Some(v) = v {
                    grants
                        .extend(core_acl::parse_grant_header(p, v).map_err(|e| acl_error(e, rid))?);
                }
            }
            Acl::new(grants)
        } else if let Some(body) = self.body {
            from_policy(body, owner)
        } else {
            return Ok(None);
        };
        acl.map(Some).map_err(|e| acl_error(e, rid))
    }
}

/// An `AccessControlPolicy` body. Its `Owner`, when given, must be the resource's owner.
fn from_policy(p: &AccessControlPolicy, owner: &str) -> Result<Acl, AclError> {
    if let Some(id) = p.owner.as_ref().and_then(|o| o.id.as_deref())
        && id != owner
    {
        return Err(AclError::Invalid(format!(
            "The Owner {id:?} is not the owner of the resource"
        )));
    }
    let mut grants = Vec::new();
    for g in p.grants.iter().flatten() {
        let (Some(who), Some(perm)) = (&g.grantee, &g.permission) else {
            return Err(AclError::Malformed(
                "a Grant needs a Grantee and a Permission".into(),
            ));
        };
        let permission = core_acl::Permission::parse(perm.as_str())
            .ok_or_else(|| AclError::Invalid(format!("Invalid permission {:?}", perm.as_str())))?;
        let grantee = match who.type_.as_str() {
            Type::CANONICAL_USER => {
                core_acl::Grantee::from_id(who.id.as_deref().ok_or_else(|| {
                    AclError::Malformed("a CanonicalUser grantee needs an ID".into())
                })?)?
            }
            Type::GROUP => core_acl::Grantee::from_uri(
                who.uri
                    .as_deref()
                    .ok_or_else(|| AclError::Malformed("a Group grantee needs a URI".into()))?,
            )?,
            Type::AMAZON_CUSTOMER_BY_EMAIL => return Err(AclError::UnresolvableEmail),
            other => return Err(AclError::Invalid(format!("Invalid grantee type {other:?}"))),
        };
        grants.push(core_acl::Grant {
            grantee,
            permission,
        });
    }
    Acl::new(grants)
}

/// S3's rule for a bucket with ACLs disabled: only an ACL equivalent to "the bucket
/// owner has full control" is accepted, and it changes nothing.
pub(crate) fn enforced_rule(acl: &Acl, bucket_owner: &str, rid: &str) -> S3Result<()> {
    if acl.is_owner_only(bucket_owner) {
        Ok(())
    } else {
        Err(s3(
            S3ErrorCode::AccessControlListNotSupported,
            "The bucket does not allow ACLs",
            rid,
        ))
    }
}

/// Public Access Block `BlockPublicAcls`: a request that sets a public ACL (a grant to
/// AllUsers or AuthenticatedUsers) on the bucket or an object in it is refused with
/// 403, before the ownership rules are looked at (as S3).
pub(crate) fn block_public_acls(bucket: &Bucket, acl: &Acl, rid: &str) -> S3Result<()> {
    if acl.is_public()
        && bucket
            .subresources
            .public_access_block
            .is_some_and(|p| p.block_public_acls)
    {
        return Err(s3(
            S3ErrorCode::AccessDenied,
            "Access Denied: the bucket's Public Access Block (BlockPublicAcls) refuses public ACLs",
            rid,
        ));
    }
    Ok(())
}

// ----- Object Lock on writes (and the checks object_lock.rs shares) ----------------

pub(crate) fn malformed(msg: impl Into<String>, rid: &str) -> S3Error {
    s3(S3ErrorCode::MalformedXML, msg, rid)
}

/// Retention and legal hold exist only in buckets with Object Lock (S3: 400).
pub(crate) fn require_lock(b: &Bucket, rid: &str) -> S3Result<()> {
    if b.subresources.object_lock.is_some() {
        Ok(())
    } else {
        Err(s3(
            S3ErrorCode::InvalidRequest,
            "Bucket is missing Object Lock Configuration",
            rid,
        ))
    }
}

/// The lock headers of a write, validated (`x-amz-object-lock-mode`, `-retain-until-date`,
/// `-legal-hold`): mode and date come together, the date in the future; only in a bucket
/// with Object Lock. `None` fields: the request sets nothing.
fn write_lock(
    b: &Bucket,
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    hold: Option<&ObjectLockLegalHoldStatus>,
    now: OffsetDateTime,
    rid: &str,
) -> S3Result<WriteLock> {
    if mode.is_none() && until.is_none() && hold.is_none() {
        return Ok(WriteLock::default());
    }
    require_lock(b, rid)?;
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(m), Some(u)) => {
            let mode = LockMode::parse(m.as_str()).ok_or_else(|| {
                s3(
                    S3ErrorCode::InvalidArgument,
                    format!("Invalid x-amz-object-lock-mode {:?}", m.as_str()),
                    rid,
                )
            })?;
            Some(future_retention(mode, u.clone(), now, rid)?)
        }
        _ => {
            return Err(s3(
                S3ErrorCode::InvalidArgument,
                "x-amz-object-lock-mode and x-amz-object-lock-retain-until-date must both be \
                 given",
                rid,
            ));
        }
    };
    let legal_hold = hold.map(|h| hold_of(h.as_str(), rid)).transpose()?;
    Ok(WriteLock {
        retention,
        legal_hold: legal_hold.unwrap_or(false),
    })
}

pub(crate) fn future_retention(
    mode: LockMode,
    until: Timestamp,
    now: OffsetDateTime,
    rid: &str,
) -> S3Result<Retention> {
    let retain_until = OffsetDateTime::from(until);
    if retain_until <= now {
        return Err(s3(
            S3ErrorCode::InvalidArgument,
            "The retain until date must be in the future",
            rid,
        ));
    }
    Ok(Retention { mode, retain_until })
}

pub(crate) fn hold_of(s: &str, rid: &str) -> S3Result<bool> {
    match s {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        other => Err(malformed(
            format!("Invalid legal hold status {other:?}"),
            rid,
        )),
    }
}

/// Refuses request options this service does not implement.
pub(crate) struct Unsupported<'a> {
    pub(crate) storage_class: Option<&'a StorageClass>,
    pub(crate) object_lock: bool,
    pub(crate) website_redirect: bool,
}

impl Unsupported<'_> {
    pub(crate) fn check(&self, rid: &str) -> S3Result<()> {
        if let Some(sc) = self.storage_class
            && sc.as_str() != "STANDARD"
        {
            return Err(s3(
                S3ErrorCode::InvalidStorageClass,
                "The storage class you specified is not valid",
                rid,
            ));
        }
        if self.object_lock {
            return Err(not_implemented("Object Lock", rid));
        }
        if self.website_redirect {
            return Err(not_implemented("Website redirect location", rid));
        }
        Ok(())
    }
}

/// The standard headers stored with an object. `Expires` is kept verbatim.
pub(crate) fn object_headers(
    h: &HeaderMap,
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
) -> ObjectHeaders {
    ObjectHeaders {
        content_type,
        // `aws-chunked` is transfer framing, not a property of the object.
        content_encoding: content_encoding.and_then(|e| {
            let kept: Vec<&str> = e
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            (!kept.is_empty()).then(|| kept.join(", "))
        }),
        content_disposition,
        content_language,
        cache_control,
        expires: raw_header(h, "expires"),
    }
}

pub(crate) fn core_alg(a: &ChecksumAlgorithm, rid: &str) -> S3Result<Alg> {
    Alg::parse(a.as_str()).ok_or_else(|| {
        s3(
            S3ErrorCode::InvalidRequest,
            "Checksum algorithm provided is unsupported. Please try again with any of the \
             valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
            rid,
        )
    })
}

/// The checksum a write asks for or supplies (headers, `x-amz-sdk-checksum-algorithm`,
/// aws-chunked trailer).
pub(crate) fn checksum_input(
    h: &HeaderMap,
    algorithm: Option<&ChecksumAlgorithm>,
    values: [(Alg, Option<String>); 5],
    trailing: Option<TrailingHeaders>,
    rid: &str,
) -> S3Result<ChecksumInput> {
    let sdk = match raw_header(h, "x-amz-sdk-checksum-algorithm") {
        Some(s) => Some(core_alg(&ChecksumAlgorithm::from(s), rid)?),
        None => None,
    };
    let declared = match algorithm {
        Some(a) => Some(core_alg(a, rid)?),
        None => None,
    };
    let mut expected: Vec<(Alg, String)> = values
        .into_iter()
        .filter_map(|(a, v)| v.map(|v| (a, v)))
        .collect();
    if expected.len() > 1 {
        return Err(s3(
            S3ErrorCode::InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            rid,
        ));
    }
    let expected = expected.pop();
    // `x-amz-trailer: x-amz-checksum-<alg>` announces the value after the body.
    let trailer_alg = raw_header(h, "x-amz-trailer").and_then(|t| {
        let t = t.trim().to_ascii_lowercase();
        t.strip_prefix("x-amz-checksum-")
            .and_then(Alg::parse)
            .map(|a| (a, t))
    });
    let trailer: Option<TrailerFn> = match (trailer_alg.clone(), trailing) {
        (Some((alg, name)), Some(th)) => Some(Box::new(move || {
            th.read(|hm| {
                hm.get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (alg, v.trim().to_string()))
            })
            .flatten()
        })),
        _ => None,
    };
    let named = [
        sdk,
        declared,
        expected.as_ref().map(|e| e.0),
        trailer_alg.map(|t| t.0),
    ];
    let mut algs = named.iter().flatten();
    let first = algs.next().copied();
    if let Some(f) = first
        && algs.any(|a| *a != f)
    {
        return Err(s3(
            S3ErrorCode::InvalidRequest,
            "Value for x-amz-sdk-checksum-algorithm header is invalid.",
            rid,
        ));
    }
    Ok(ChecksumInput {
        algorithm: first,
        expected,
        trailer,
    })
}

pub(crate) fn checksum_values(
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64nvme: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
) -> [(Alg, Option<String>); 5] {
    [
        (Alg::Crc32, crc32),
        (Alg::Crc32c, crc32c),
        (Alg::Crc64Nvme, crc64nvme),
        (Alg::Sha1, sha1),
        (Alg::Sha256, sha256),
    ]
}

pub(crate) fn content_length(v: Option<i64>, rid: &str) -> S3Result<Option<u64>> {
    v.map(|n| u64::try_from(n).map_err(|_| invalid("Content-Length must not be negative", rid)))
        .transpose()
}

pub use crate::wire::byte_range;

/// `bytes=first-last` of `x-amz-copy-source-range`. Public only for the fuzz checks.
#[doc(hidden)]
pub fn copy_range(s: &str, rid: &str) -> S3Result<(u64, u64)> {
    let bad = || {
        invalid(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where \
             first and last are the zero-based offsets of the first and last bytes to copy",
            rid,
        )
    };
    let r = s.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = r.split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        a.parse::<u64>().map_err(|_| bad())?,
        b.parse::<u64>().map_err(|_| bad())?,
    );
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

pub(crate) fn owner(id: &str) -> Owner {
    Owner {
        display_name: Some(id.to_string()),
        id: Some(id.to_string()),
    }
}

pub(crate) fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------
// The dispatch: each operation delegates to its handler, `do_<operation>` in the family
// module the section names.

#[async_trait::async_trait]
impl S3 for Gateway {
    // ----- buckets and bucket policies (buckets.rs) ----------------------------------

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.do_list_buckets(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.do_create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.do_head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.do_get_bucket_location(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.do_delete_bucket(req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.do_put_bucket_policy(req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.do_get_bucket_policy(req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.do_delete_bucket_policy(req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.do_get_bucket_policy_status(req).await
    }

    // ----- listings (listing.rs) -----------------------------------------------------

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.do_list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.do_list_objects_v2(req).await
    }

    // ----- objects (objects.rs; RenameObject: rename.rs) -----------------------------

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        if crate::request_line::is_rename(req.uri.query()) {
            let caller = caller_of(&req.extensions)?;
            return self.rename_object(caller, &req).await;
        }
        // The success response has no body (`bytes_sent` 0).
        self.put_object_as(req, 200, 0).await
    }

    /// Form uploads are served, streaming, by [`crate::S3HttpService`]
    /// ([`crate::post_object`]) and never reach s3s there; s3s would have read the whole
    /// form before verifying it. (s3s's default would hand them to `put_object`.)
    async fn post_object(
        &self,
        req: S3Request<s3s::dto::PostObjectInput>,
    ) -> S3Result<S3Response<s3s::dto::PostObjectOutput>> {
        let rid = caller_of(&req.extensions)
            .map(|c| c.request_id().to_string())
            .unwrap_or_default();
        Err(s3(
            S3ErrorCode::NotImplemented,
            "Form uploads are served by the S3 HTTP service",
            &rid,
        ))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.do_get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.do_head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.do_delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.do_delete_objects(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.do_copy_object(req).await
    }

    // ----- versioning (versioning.rs) ------------------------------------------------

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.do_get_bucket_versioning(req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.do_put_bucket_versioning(req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.do_list_object_versions(req).await
    }

    // ----- lifecycle (lifecycle.rs) --------------------------------------------------

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        self.do_put_bucket_lifecycle_configuration(req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.do_get_bucket_lifecycle_configuration(req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.do_delete_bucket_lifecycle(req).await
    }

    // ----- multipart (multipart.rs) --------------------------------------------------

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.do_create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.do_upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.do_upload_part_copy(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.do_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.do_abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.do_list_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.do_list_multipart_uploads(req).await
    }

    // ----- tagging (tagging.rs) ------------------------------------------------------

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.do_put_object_tagging(req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.do_get_bucket_acl(req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.do_put_bucket_acl(req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        self.do_put_object_acl(req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.do_get_object_acl(req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.do_get_bucket_ownership_controls(req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        self.do_put_bucket_ownership_controls(req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.do_delete_bucket_ownership_controls(req).await
    }

    // ----- Object Lock (object_lock.rs) ------------------------------------------------

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        self.do_put_object_lock_configuration(req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.do_get_object_lock_configuration(req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        self.do_put_object_retention(req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.do_get_object_retention(req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        self.do_put_object_legal_hold(req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.do_get_object_legal_hold(req).await
    }

    // ----- Public Access Block (public_access.rs) ---------------------------------------

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        self.do_put_bucket_encryption(req).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.do_get_bucket_encryption(req).await
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.do_delete_bucket_encryption(req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.do_get_public_access_block(req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        self.do_put_public_access_block(req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.do_delete_public_access_block(req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        self.do_get_object_tagging(req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.do_delete_object_tagging(req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.do_put_bucket_tagging(req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.do_get_bucket_tagging(req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.do_delete_bucket_tagging(req).await
    }

    // ----- CORS (cors.rs) ------------------------------------------------------------

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        self.do_put_bucket_cors(req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.do_get_bucket_cors(req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.do_delete_bucket_cors(req).await
    }

    // ----- attributes (attributes.rs) ------------------------------------------------

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.do_get_object_attributes(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn none5() -> [(Alg, Option<String>); 5] {
        checksum_values(None, None, None, None, None)
    }

    #[test]
    fn checksum_inputs() {
        let c = checksum_input(&HeaderMap::new(), None, none5(), None, "r").unwrap();
        assert!(c.algorithm.is_none() && c.expected.is_none() && c.trailer.is_none());

        let c = checksum_input(
            &hm(&[("x-amz-sdk-checksum-algorithm", "CRC32")]),
            None,
            checksum_values(Some("AAAAAA==".into()), None, None, None, None),
            None,
            "r",
        )
        .unwrap();
        assert_eq!(c.algorithm, Some(Alg::Crc32));
        assert_eq!(c.expected, Some((Alg::Crc32, "AAAAAA==".into())));

        // Two values, or an algorithm that disagrees with the value, are refused.
        assert!(
            checksum_input(
                &HeaderMap::new(),
                None,
                checksum_values(Some("a".into()), None, None, Some("b".into()), None),
                None,
                "r"
            )
            .is_err()
        );
        assert!(
            checksum_input(
                &hm(&[("x-amz-sdk-checksum-algorithm", "SHA256")]),
                None,
                checksum_values(Some("a".into()), None, None, None, None),
                None,
                "r"
            )
            .is_err()
        );
        assert!(
            checksum_input(
                &hm(&[("x-amz-sdk-checksum-algorithm", "MD4")]),
                None,
                none5(),
                None,
                "r"
            )
            .is_err()
        );
        // A trailer announced without an aws-chunked body still fixes the algorithm.
        let c = checksum_input(
            &hm(&[("x-amz-trailer", "x-amz-checksum-crc32c")]),
            Some(&ChecksumAlgorithm::from_static(ChecksumAlgorithm::CRC32C)),
            none5(),
            None,
            "r",
        )
        .unwrap();
        assert_eq!(c.algorithm, Some(Alg::Crc32c));
        assert!(c.trailer.is_none());
    }

    #[test]
    fn write_conditions() {
        let any = ETagCondition::Any;
        let tag = ETagCondition::ETag(ETag::Strong("abc".into()));
        assert_eq!(
            write_condition(None, None, "r").unwrap(),
            WriteCondition::None
        );
        assert_eq!(
            write_condition(None, Some(&any), "r").unwrap(),
            WriteCondition::IfNoneMatch
        );
        assert_eq!(
            write_condition(Some(&tag), None, "r").unwrap(),
            WriteCondition::IfMatch("\"abc\"".into())
        );
        assert_eq!(
            write_condition(None, Some(&tag), "r").unwrap(),
            WriteCondition::IfNoneMatchEtag("\"abc\"".into())
        );
        assert_eq!(
            write_condition(Some(&any), None, "r").unwrap(),
            WriteCondition::IfMatch("*".into())
        );
        assert!(write_condition(Some(&tag), Some(&any), "r").is_err());
        assert_eq!(
            raw_write_condition(&hm(&[("if-none-match", "*")]), "r").unwrap(),
            WriteCondition::IfNoneMatch
        );
    }

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range("bytes=0-9", "r").unwrap(), (0, 9));
        for bad in ["bytes=9-0", "bytes=-5", "bytes=1-", "0-9", "bytes=a-b"] {
            assert!(copy_range(bad, "r").is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_and_numbers() {
        assert_eq!(limit(None, 1000, "m", "r").unwrap(), 1000);
        assert_eq!(limit(Some(5000), 1000, "m", "r").unwrap(), 1000);
        assert_eq!(limit(Some(0), 1000, "m", "r").unwrap(), 0);
        assert!(limit(Some(-1), 1000, "m", "r").is_err());
        assert!(part_number(0, "r").is_err());
        assert!(part_number(10_001, "r").is_err());
        assert_eq!(part_number(10_000, "r").unwrap(), 10_000);
    }

    #[test]
    fn stored_headers_drop_aws_chunked() {
        let h = object_headers(
            &hm(&[("expires", "Thu, 01 Dec 1994 16:00:00 GMT")]),
            Some("text/plain".into()),
            Some("aws-chunked".into()),
            None,
            None,
            None,
        );
        assert_eq!(h.content_encoding, None);
        assert_eq!(h.expires.as_deref(), Some("Thu, 01 Dec 1994 16:00:00 GMT"));
        let h = object_headers(
            &HeaderMap::new(),
            None,
            Some("gzip, aws-chunked".into()),
            None,
            None,
            None,
        );
        assert_eq!(h.content_encoding.as_deref(), Some("gzip"));
    }

    #[test]
    fn unsupported_options_are_refused() {
        let base = Unsupported {
            storage_class: None,
            object_lock: false,
            website_redirect: false,
        };
        assert!(base.check("r").is_ok());
        let glacier = StorageClass::from_static(StorageClass::GLACIER);
        assert!(
            Unsupported {
                storage_class: Some(&glacier),
                ..base
            }
            .check("r")
            .is_err()
        );
        assert!(
            Unsupported {
                object_lock: true,
                ..base
            }
            .check("r")
            .is_err()
        );
    }
}
