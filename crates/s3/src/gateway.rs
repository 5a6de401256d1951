//! `impl s3s::S3 for Gateway`: S3 DTOs ↔ `ObjectService` calls.
//!
//! Handlers translate only: validation of wire forms (tags, ranges, tokens, part
//! numbers, unsupported options) happens here, semantics (conditions, ranges,
//! multipart rules, integrity) live in the object service. Every handler starts from the
//! [`Caller`] the access check attached; every response carries `x-amz-request-id`.
//!
//! Unsupported request options (ACL grants, SSE, object lock, storage classes other
//! than STANDARD) are refused, never silently ignored:
//! a success must not claim something that did not happen. Operations not overridden
//! here keep s3s's default `NotImplemented` (and the access check answers
//! `NotImplemented` for them before any handler runs).

use crate::access::{Authorizer, Caller, caller_of};
use crate::actions::S3_DELETE_OBJECT;
use crate::audit::S3AuditSlot;
use crate::body::{self, FaultCell};
use crate::errors::{REQUEST_ID_HEADER, map_error, s3, to_s3};
use crate::wire::{
    checksum_fields, decode_token, encode_token, etag_condition, etag_in, etag_out, parse_tagging,
    url_encode,
};
use bytes::Bytes;
use coffer_core::Error;
use coffer_core::audit::{AuditResult, AuditService};
use coffer_core::blob::ByteStream;
use coffer_core::checksum::{ChecksumAlgorithm as Alg, ChecksumType as CoreChecksumType};
use coffer_core::model::{Checksums, ObjectHeaders, ObjectRecord, WriteCondition};
use coffer_core::objects::{self as core, ChecksumInput, ObjectService, TrailerFn};
use coffer_core::policy::PutBucketPolicyError;
use futures::Stream;
use http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, TrailingHeaders};
use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use time::OffsetDateTime;

/// Most keys/uploads/parts one listing returns.
const MAX_LIST: i32 = 1000;
/// Most buckets one ListBuckets page returns.
const MAX_BUCKETS_PAGE: i32 = 10_000;
const MAX_PART_NUMBER: i32 = 10_000;

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
    async fn outbox_event(
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
    fn outboxed(&self, outbox: Option<(u64, S3AuditSlot)>) {
        if let (Some(audit), Some((len, slot))) = (&self.audit, outbox) {
            slot.outboxed();
            audit.outboxed(len);
        }
    }

    /// PutObject, for requests whose success is answered with `ok_status` and a body of
    /// `bytes_sent` bytes (the outbox audit event records them): 200 and none for
    /// PutObject, the form's answer for a form upload ([`crate::post_object`]).
    pub(crate) async fn put_object_as(
        &self,
        req: S3Request<PutObjectInput>,
        ok_status: u16,
        bytes_sent: u64,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        Unsupported {
            acl: input.acl.as_ref(),
            grants: input.grant_full_control.is_some()
                || input.grant_read.is_some()
                || input.grant_read_acp.is_some()
                || input.grant_write_acp.is_some(),
            sse: input.server_side_encryption.is_some()
                || input.sse_customer_algorithm.is_some()
                || input.ssekms_key_id.is_some(),
            storage_class: input.storage_class.as_ref(),
            object_lock: input.object_lock_mode.is_some()
                || input.object_lock_legal_hold_status.is_some()
                || input.object_lock_retain_until_date.is_some(),
            website_redirect: input.website_redirect_location.is_some(),
        }
        .check(rid)?;
        if input.write_offset_bytes.is_some() {
            return Err(not_implemented(
                "Appending writes (x-amz-write-offset-bytes)",
                rid,
            ));
        }
        let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref(), rid)?;
        let tags = tags(input.tagging.as_deref(), rid)?;
        self.check_write_tags(caller, &input.bucket, &input.key, &tags)?;
        let checksum = checksum_input(
            &req.headers,
            input.checksum_algorithm.as_ref(),
            checksum_values(
                input.checksum_crc32,
                input.checksum_crc32c,
                input.checksum_crc64nvme,
                input.checksum_sha1,
                input.checksum_sha256,
            ),
            req.trailing_headers,
            rid,
        )?;
        let headers = object_headers(
            &req.headers,
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
        );
        let content_length = content_length(input.content_length, rid)?;
        let (audit_event, outbox) = match self
            .outbox_event(&req.extensions, ok_status, bytes_sent, rid)
            .await?
        {
            Some((event, slot)) => {
                let len = event.len() as u64;
                (Some(event), Some((len, slot)))
            }
            None => (None, None),
        };
        let bucket_record = caller.bucket_record(&input.bucket);
        let (body, fault) = body::adapt(input.body);
        let rec = self
            .objects
            .put_object(core::PutObjectInput {
                bucket: input.bucket,
                key: input.key,
                body,
                content_length,
                content_md5: input.content_md5,
                checksum,
                headers,
                user_metadata: metadata(input.metadata),
                tags,
                cond,
                audit_event,
                bucket_record,
            })
            .await
            .map_err(|e| body_or(e, &fault, rid))?;
        self.outboxed(outbox);
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&rec.checksums);
        Ok(ok(
            PutObjectOutput {
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_type,
                e_tag: Some(etag_out(&rec.etag)),
                version_id: rec.version_id.clone(),
                ..Default::default()
            },
            caller,
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

pub(crate) fn invalid(msg: impl Into<String>, rid: &str) -> S3Error {
    s3(S3ErrorCode::InvalidArgument, msg, rid)
}

fn not_implemented(what: &str, rid: &str) -> S3Error {
    s3(
        S3ErrorCode::NotImplemented,
        format!("{what} is not supported by this service"),
        rid,
    )
}

/// A failed body read explains the failure better than what the object service made of
/// the resulting I/O error.
fn body_or(e: Error, fault: &FaultCell, rid: &str) -> S3Error {
    if let Some(f) = fault.get() {
        let (code, status, msg) = f.s3_code();
        let mut err = s3(code, msg, rid);
        err.set_status_code(status);
        return err;
    }
    to_s3(e, rid)
}

fn raw_header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn ts(t: OffsetDateTime) -> Timestamp {
    Timestamp::from(t)
}

fn part_number(n: i32, rid: &str) -> S3Result<u32> {
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

fn tags(header: Option<&str>, rid: &str) -> S3Result<BTreeMap<String, String>> {
    match header {
        None => Ok(BTreeMap::new()),
        Some(h) => parse_tagging(h).map_err(|e| e.into_s3(rid)),
    }
}

fn metadata(m: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    rid: &str,
) -> S3Result<WriteCondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteCondition::None),
        (None, Some(ETagCondition::Any)) => Ok(WriteCondition::IfNoneMatch),
        (Some(c @ ETagCondition::ETag(_)), None) => Ok(WriteCondition::IfMatch(etag_condition(c))),
        (Some(_), Some(_)) => Err(s3(
            S3ErrorCode::NotImplemented,
            "If-Match and If-None-Match cannot be combined on a write",
            rid,
        )),
        // Writes know only "must not exist"; an ETag list here is a malformed request.
        (None, Some(ETagCondition::ETag(_))) => Err(invalid(
            "If-None-Match on a write accepts only the value *",
            rid,
        )),
        _ => Err(s3(
            S3ErrorCode::NotImplemented,
            "A header you provided implies functionality that is not implemented: \
             writes support If-None-Match: * and If-Match: <etag>",
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
    }
}

/// Refuses request options this service does not implement.
struct Unsupported<'a> {
    acl: Option<&'a ObjectCannedACL>,
    grants: bool,
    sse: bool,
    storage_class: Option<&'a StorageClass>,
    object_lock: bool,
    website_redirect: bool,
}

impl Unsupported<'_> {
    fn check(&self, rid: &str) -> S3Result<()> {
        if let Some(acl) = self.acl
            && !matches!(acl.as_str(), "private" | "bucket-owner-full-control")
        {
            return Err(s3(
                S3ErrorCode::AccessControlListNotSupported,
                "The bucket does not allow ACLs",
                rid,
            ));
        }
        if self.grants {
            return Err(s3(
                S3ErrorCode::AccessControlListNotSupported,
                "The bucket does not allow ACLs",
                rid,
            ));
        }
        if self.sse {
            return Err(not_implemented("Server-side encryption", rid));
        }
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
fn object_headers(
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

fn core_alg(a: &ChecksumAlgorithm, rid: &str) -> S3Result<Alg> {
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
fn checksum_input(
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

fn checksum_values(
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

fn content_length(v: Option<i64>, rid: &str) -> S3Result<Option<u64>> {
    v.map(|n| u64::try_from(n).map_err(|_| invalid("Content-Length must not be negative", rid)))
        .transpose()
}

/// A parsed `Range` header as the object service's range. Public only for the fuzz
/// checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn byte_range(r: Range) -> core::ByteRange {
    match r {
        Range::Int {
            first,
            last: Some(last),
        } => core::ByteRange::Bounded(first, last),
        Range::Int { first, last: None } => core::ByteRange::From(first),
        Range::Suffix { length } => core::ByteRange::Suffix(length),
    }
}

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

/// Response bodies: the object service's stream, made `Sync` for s3s.
struct SyncBody {
    inner: std::sync::Mutex<ByteStream>,
    remaining: u64,
}

impl Stream for SyncBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // `get_mut` never blocks: we hold the only reference.
        let s = this.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        let r = s.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(b))) = &r {
            this.remaining = this.remaining.saturating_sub(b.len() as u64);
        }
        r
    }
}

impl s3s::stream::ByteStream for SyncBody {
    fn remaining_length(&self) -> s3s::stream::RemainingLength {
        s3s::stream::RemainingLength::new_exact(
            usize::try_from(self.remaining).unwrap_or(usize::MAX),
        )
    }
}

fn streaming_blob(s: ByteStream, len: u64) -> StreamingBlob {
    StreamingBlob::wrap(SyncBody {
        inner: std::sync::Mutex::new(s),
        remaining: len,
    })
}

fn no_such_bucket_policy(rid: &str) -> S3Error {
    s3(
        S3ErrorCode::NoSuchBucketPolicy,
        "The bucket policy does not exist",
        rid,
    )
}

/// Base64 of the MD5 of `body` (the `Content-MD5` form).
fn base64_md5(body: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(coffer_core::checksum::md5_of(body))
}

pub(crate) fn owner(id: &str) -> Owner {
    Owner {
        display_name: Some(id.to_string()),
        id: Some(id.to_string()),
    }
}

/// What GET and HEAD return about an object.
struct ObjectView {
    rec: ObjectRecord,
    content_length: u64,
    content_range: Option<String>,
    checksums: Option<Checksums>,
    parts_count: Option<u32>,
    body: Option<ByteStream>,
}

impl Gateway {
    async fn read_object(
        &self,
        caller: &Caller,
        get: GetArgs,
        want_body: bool,
    ) -> S3Result<ObjectView> {
        let rid = caller.request_id();
        if get.sse {
            return Err(not_implemented(
                "Server-side encryption with customer keys",
                rid,
            ));
        }
        let part = match get.part_number {
            Some(n) => Some(part_number(n, rid)?),
            None => None,
        };
        if part.is_some() && get.range.is_some() {
            return Err(s3(
                S3ErrorCode::InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter",
                rid,
            ));
        }
        let range = get.range.map(byte_range);
        let input = core::GetObjectInput {
            bucket: get.bucket,
            key: get.key,
            range,
            part_number: part,
            conditions: get.conditions,
        };
        let out = match get.version_id.as_deref() {
            None => self.objects.get_object(input, want_body).await,
            Some(v) => self.objects.get_object_version(input, v, want_body).await,
        }
        .map_err(|e| to_s3(e, rid))?;
        let size = out.record.size;
        let content_range = out.range.map(|(s, e)| format!("bytes {s}-{e}/{size}"));
        // Stored checksums describe the whole object (or one part); a plain range gets
        // none, like S3.
        let checksums = if !get.checksum_mode {
            None
        } else if let Some(n) = part {
            match out.record.parts.iter().find(|p| p.part_number == n) {
                Some(p) => Some(p.checksums.clone()),
                None if out.record.parts.is_empty() => Some(out.record.checksums.clone()),
                None => None,
            }
        } else if out.range.is_some() && out.content_length != size {
            None
        } else {
            Some(out.record.checksums.clone())
        };
        Ok(ObjectView {
            content_length: out.content_length,
            content_range,
            checksums,
            parts_count: out.parts_count,
            body: out.body,
            rec: out.record,
        })
    }
}

struct GetArgs {
    bucket: String,
    key: String,
    version_id: Option<String>,
    range: Option<Range>,
    part_number: Option<i32>,
    conditions: core::ReadConditions,
    checksum_mode: bool,
    sse: bool,
}

fn checksum_mode_enabled(m: Option<&ChecksumMode>) -> bool {
    m.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

/// `Expires` is stored verbatim; s3s would re-format it from a parsed timestamp, so it
/// goes out as a raw header unless `response-expires` overrides it.
fn expires_header(r: &mut S3Response<impl Sized>, rec: &ObjectRecord, overridden: bool) {
    if overridden {
        return;
    }
    if let Some(v) = rec
        .headers
        .expires
        .as_deref()
        .and_then(|e| HeaderValue::from_str(e).ok())
    {
        r.headers.insert(http::header::EXPIRES, v);
    }
}

pub(crate) fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------
// The operations

#[async_trait::async_trait]
impl S3 for Gateway {
    // ----- service ---------------------------------------------------------------

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let max = match input.max_buckets {
            None => MAX_BUCKETS_PAGE as usize,
            Some(n) if (1..=MAX_BUCKETS_PAGE).contains(&n) => n as usize,
            Some(_) => {
                return Err(invalid(
                    "max-buckets must be an integer between 1 and 10000",
                    rid,
                ));
            }
        };
        let after = match non_empty(input.continuation_token) {
            Some(t) => Some(
                decode_token(&t)
                    .ok_or_else(|| invalid("The continuation token provided is incorrect", rid))?,
            ),
            None => None,
        };
        let prefix = input.prefix.unwrap_or_default();
        let mut all = self
            .objects
            .list_buckets(caller.org_id())
            .await
            .map_err(|e| to_s3(e, rid))?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let mut page: Vec<_> = all
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
            .take(max + 1)
            .collect();
        let more = page.len() > max;
        page.truncate(max);
        let next = more.then(|| encode_token(&page[page.len() - 1].name));
        let buckets = page
            .into_iter()
            .map(|b| Bucket {
                bucket_region: Some(b.zone),
                creation_date: Some(ts(b.created)),
                name: Some(b.name),
            })
            .collect();
        Ok(ok(
            ListBucketsOutput {
                buckets: Some(buckets),
                continuation_token: next,
                owner: Some(owner(caller.org_id())),
                prefix: (!prefix.is_empty()).then_some(prefix),
            },
            caller,
        ))
    }

    // ----- buckets ---------------------------------------------------------------

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        if let Some(acl) = &input.acl
            && !matches!(acl.as_str(), "private")
        {
            return Err(s3(
                S3ErrorCode::AccessControlListNotSupported,
                "The bucket does not allow ACLs",
                rid,
            ));
        }
        if input.grant_full_control.is_some()
            || input.grant_read.is_some()
            || input.grant_read_acp.is_some()
            || input.grant_write.is_some()
            || input.grant_write_acp.is_some()
        {
            return Err(s3(
                S3ErrorCode::AccessControlListNotSupported,
                "The bucket does not allow ACLs",
                rid,
            ));
        }
        if input.object_lock_enabled_for_bucket == Some(true) {
            return Err(not_implemented("Object Lock", rid));
        }
        if let Some(o) = &input.object_ownership
            && o.as_str() != "BucketOwnerEnforced"
        {
            return Err(not_implemented(
                "Object ownership other than BucketOwnerEnforced",
                rid,
            ));
        }
        coffer_core::ids::validate_bucket_name(&input.bucket, false).map_err(|e| to_s3(e, rid))?;
        let location = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_string())
            .filter(|l| !l.is_empty());
        self.objects
            .create_bucket(caller.org_id(), &input.bucket, location.as_deref())
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(
            CreateBucketOutput {
                location: Some(format!("/{}", input.bucket)),
            },
            caller,
        ))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self
            .objects
            .get_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, caller.request_id()))?;
        Ok(ok(
            HeadBucketOutput {
                bucket_region: Some(b.zone),
                ..Default::default()
            },
            caller,
        ))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self
            .objects
            .get_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, caller.request_id()))?;
        Ok(ok(
            GetBucketLocationOutput {
                location_constraint: Some(BucketLocationConstraint::from(b.zone)),
            },
            caller,
        ))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let caller = caller_of(&req.extensions)?;
        self.objects
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, caller.request_id()))?;
        self.authz.bucket_deleted(&req.input.bucket);
        Ok(ok(DeleteBucketOutput::default(), caller))
    }

    // ----- bucket policy (SPEC §3; authorized by org policies only) -----------------

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        // Content-MD5 of the body, when sent, must match (nothing is stored otherwise).
        if let Some(md5) = &input.content_md5 {
            let want = base64_md5(input.policy.as_bytes());
            if md5.trim() != want {
                return Err(s3(
                    S3ErrorCode::BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                    rid,
                ));
            }
        }
        match self
            .authz
            .bucket_policies()
            .put(&input.bucket, caller.bucket_owner(), &input.policy)
            .await
        {
            Ok(()) => Ok(ok(PutBucketPolicyOutput::default(), caller)),
            Err(PutBucketPolicyError::Malformed(e)) => {
                Err(s3(S3ErrorCode::MalformedPolicy, e.to_string(), rid))
            }
            Err(PutBucketPolicyError::Store(e)) => Err(to_s3(e, rid)),
        }
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        match self
            .authz
            .bucket_policies()
            .get(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?
        {
            Some(policy) => Ok(ok(
                GetBucketPolicyOutput {
                    policy: Some(policy),
                },
                caller,
            )),
            None => Err(no_such_bucket_policy(rid)),
        }
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let caller = caller_of(&req.extensions)?;
        self.authz
            .bucket_policies()
            .delete(&req.input.bucket, caller.bucket_owner())
            .await
            .map_err(|e| to_s3(e, caller.request_id()))?;
        Ok(ok(DeleteBucketPolicyOutput::default(), caller))
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        match self
            .authz
            .bucket_policies()
            .is_public(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?
        {
            Some(public) => Ok(ok(
                GetBucketPolicyStatusOutput {
                    policy_status: Some(PolicyStatus {
                        is_public: Some(public),
                    }),
                },
                caller,
            )),
            None => Err(no_such_bucket_policy(rid)),
        }
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let url = url_encoding(input.encoding_type.as_ref(), rid)?;
        let max_keys = limit(input.max_keys, MAX_LIST, "max-keys", rid)?;
        let prefix = input.prefix.unwrap_or_default();
        let delimiter = non_empty(input.delimiter);
        let marker = input.marker.unwrap_or_default();
        let out = self
            .objects
            .list_objects(core::ListObjectsInput {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                start_after: marker.clone(),
                max_keys,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        // S3 returns NextMarker only when a delimiter was given (without one, clients
        // continue from the last key).
        let next_marker = if out.is_truncated && delimiter.is_some() {
            out.next_marker.clone().map(|m| enc(m, url))
        } else {
            None
        };
        let contents = out
            .objects
            .into_iter()
            .map(|o| Object {
                e_tag: Some(etag_out(&o.etag)),
                key: Some(enc(o.key, url)),
                last_modified: Some(ts(o.last_modified)),
                owner: Some(owner(caller.bucket_owner())),
                size: Some(i64_of(o.size)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let common_prefixes = out
            .common_prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p, url)),
            })
            .collect();
        Ok(ok(
            ListObjectsOutput {
                name: Some(input.bucket),
                prefix: Some(enc(prefix, url)),
                marker: Some(enc(marker, url)),
                max_keys: Some(max_keys as i32),
                is_truncated: Some(out.is_truncated),
                contents: Some(contents),
                common_prefixes: Some(common_prefixes),
                delimiter: delimiter.map(|d| enc(d, url)),
                next_marker,
                encoding_type: url.then(|| EncodingType::from_static(EncodingType::URL)),
                request_charged: None,
            },
            caller,
        ))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let url = url_encoding(input.encoding_type.as_ref(), rid)?;
        let max_keys = limit(input.max_keys, MAX_LIST, "max-keys", rid)?;
        let prefix = input.prefix.unwrap_or_default();
        let delimiter = non_empty(input.delimiter);
        let start_after = input.start_after.unwrap_or_default();
        let token = non_empty(input.continuation_token);
        let resume = match &token {
            Some(t) => decode_token(t)
                .ok_or_else(|| invalid("The continuation token provided is incorrect", rid))?,
            None => String::new(),
        };
        // The token resumes after a key that was itself after start-after.
        let start = std::cmp::max(resume, start_after.clone());
        let out = self
            .objects
            .list_objects(core::ListObjectsInput {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                start_after: start,
                max_keys,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let fetch_owner = input.fetch_owner == Some(true);
        let key_count = out.objects.len() + out.common_prefixes.len();
        let next = if out.is_truncated {
            out.next_marker.as_deref().map(encode_token)
        } else {
            None
        };
        let contents = out
            .objects
            .into_iter()
            .map(|o| Object {
                e_tag: Some(etag_out(&o.etag)),
                key: Some(enc(o.key, url)),
                last_modified: Some(ts(o.last_modified)),
                owner: fetch_owner.then(|| owner(caller.bucket_owner())),
                size: Some(i64_of(o.size)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let common_prefixes = out
            .common_prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p, url)),
            })
            .collect();
        Ok(ok(
            ListObjectsV2Output {
                name: Some(input.bucket),
                prefix: Some(enc(prefix, url)),
                max_keys: Some(max_keys as i32),
                key_count: Some(key_count as i32),
                continuation_token: token,
                is_truncated: Some(out.is_truncated),
                next_continuation_token: next,
                contents: Some(contents),
                common_prefixes: Some(common_prefixes),
                delimiter: delimiter.map(|d| enc(d, url)),
                encoding_type: url.then(|| EncodingType::from_static(EncodingType::URL)),
                start_after: non_empty(Some(start_after)).map(|s| enc(s, url)),
                request_charged: None,
            },
            caller,
        ))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let url = url_encoding(input.encoding_type.as_ref(), rid)?;
        let max_uploads = limit(input.max_uploads, MAX_LIST, "max-uploads", rid)?;
        let prefix = input.prefix.unwrap_or_default();
        let delimiter = non_empty(input.delimiter);
        let key_marker = input.key_marker.unwrap_or_default();
        let upload_id_marker = input.upload_id_marker.unwrap_or_default();
        let out = self
            .objects
            .list_uploads(core::ListUploadsInput {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                key_marker: key_marker.clone(),
                upload_id_marker: upload_id_marker.clone(),
                max_uploads,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let uploads = out
            .uploads
            .into_iter()
            .map(|u| MultipartUpload {
                checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                checksum_type: u.checksum_type.map(ChecksumType::from),
                initiated: Some(ts(u.initiated)),
                initiator: Some(Initiator {
                    display_name: Some(u.initiator.clone()),
                    id: Some(u.initiator),
                }),
                key: Some(enc(u.key, url)),
                owner: Some(owner(caller.bucket_owner())),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(u.upload_id),
            })
            .collect();
        let common_prefixes = out
            .common_prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p, url)),
            })
            .collect();
        Ok(ok(
            ListMultipartUploadsOutput {
                bucket: Some(input.bucket),
                common_prefixes: Some(common_prefixes),
                delimiter: delimiter.map(|d| enc(d, url)),
                encoding_type: url.then(|| EncodingType::from_static(EncodingType::URL)),
                is_truncated: Some(out.is_truncated),
                key_marker: Some(enc(key_marker, url)),
                max_uploads: Some(max_uploads as i32),
                next_key_marker: out.next_key_marker.map(|k| enc(k, url)),
                next_upload_id_marker: out.next_upload_id_marker,
                prefix: Some(enc(prefix, url)),
                request_charged: None,
                upload_id_marker: Some(upload_id_marker),
                uploads: Some(uploads),
            },
            caller,
        ))
    }

    // ----- objects ---------------------------------------------------------------

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
        let caller = caller_of(&req.extensions)?;
        let input = req.input;
        let expires_overridden = input.response_expires.is_some();
        let v = self
            .read_object(
                caller,
                GetArgs {
                    conditions: read_conditions(
                        input.if_match.as_ref(),
                        input.if_none_match.as_ref(),
                        input.if_modified_since,
                        input.if_unmodified_since,
                    ),
                    bucket: input.bucket,
                    key: input.key,
                    version_id: input.version_id,
                    range: input.range,
                    part_number: input.part_number,
                    checksum_mode: checksum_mode_enabled(input.checksum_mode.as_ref()),
                    sse: input.sse_customer_algorithm.is_some(),
                },
                true,
            )
            .await?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&v.checksums.unwrap_or_default());
        let rec = v.rec;
        let body = v.body.map(|b| streaming_blob(b, v.content_length));
        let mut resp = ok(
            GetObjectOutput {
                accept_ranges: Some("bytes".to_string()),
                body,
                cache_control: rec.headers.cache_control.clone(),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_type,
                content_disposition: rec.headers.content_disposition.clone(),
                content_encoding: rec.headers.content_encoding.clone(),
                content_language: rec.headers.content_language.clone(),
                content_length: Some(i64_of(v.content_length)),
                content_range: v.content_range,
                content_type: rec.headers.content_type.clone(),
                e_tag: Some(etag_out(&rec.etag)),
                last_modified: Some(ts(rec.last_modified)),
                metadata: (!rec.user_metadata.is_empty())
                    .then(|| rec.user_metadata.clone().into_iter().collect()),
                parts_count: v.parts_count.map(|n| n as i32),
                tag_count: (!rec.tags.is_empty()).then_some(rec.tags.len() as i32),
                version_id: rec.version_id.clone(),
                ..Default::default()
            },
            caller,
        );
        expires_header(&mut resp, &rec, expires_overridden);
        Ok(resp)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let caller = caller_of(&req.extensions)?;
        let input = req.input;
        let expires_overridden = input.response_expires.is_some();
        let v = self
            .read_object(
                caller,
                GetArgs {
                    conditions: read_conditions(
                        input.if_match.as_ref(),
                        input.if_none_match.as_ref(),
                        input.if_modified_since,
                        input.if_unmodified_since,
                    ),
                    bucket: input.bucket,
                    key: input.key,
                    version_id: input.version_id,
                    range: input.range,
                    part_number: input.part_number,
                    checksum_mode: checksum_mode_enabled(input.checksum_mode.as_ref()),
                    sse: input.sse_customer_algorithm.is_some(),
                },
                false,
            )
            .await?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&v.checksums.unwrap_or_default());
        let rec = v.rec;
        // HeadObject has no response-* overrides in s3s 0.14's serializer; apply them.
        let mut out = HeadObjectOutput {
            accept_ranges: Some("bytes".to_string()),
            cache_control: input
                .response_cache_control
                .or_else(|| rec.headers.cache_control.clone()),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64nvme,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_type,
            content_disposition: input
                .response_content_disposition
                .or_else(|| rec.headers.content_disposition.clone()),
            content_encoding: input
                .response_content_encoding
                .or_else(|| rec.headers.content_encoding.clone()),
            content_language: input
                .response_content_language
                .or_else(|| rec.headers.content_language.clone()),
            content_length: Some(i64_of(v.content_length)),
            content_range: v.content_range,
            content_type: input
                .response_content_type
                .or_else(|| rec.headers.content_type.clone()),
            e_tag: Some(etag_out(&rec.etag)),
            last_modified: Some(ts(rec.last_modified)),
            metadata: (!rec.user_metadata.is_empty())
                .then(|| rec.user_metadata.clone().into_iter().collect()),
            parts_count: v.parts_count.map(|n| n as i32),
            version_id: rec.version_id.clone(),
            ..Default::default()
        };
        if let Some(e) = input.response_expires {
            out.expires = Some(e);
        }
        let mut resp = ok(out, caller);
        if !rec.tags.is_empty()
            && let Ok(v) = HeaderValue::from_str(&rec.tags.len().to_string())
        {
            resp.headers.insert("x-amz-tagging-count", v);
        }
        expires_header(&mut resp, &rec, expires_overridden);
        Ok(resp)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        if input.if_match.is_some()
            || input.if_match_last_modified_time.is_some()
            || input.if_match_size.is_some()
        {
            return Err(not_implemented("Conditional deletes", rid));
        }
        let d = self
            .objects
            .delete_version(&input.bucket, &input.key, input.version_id.as_deref())
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(
            DeleteObjectOutput {
                delete_marker: d.delete_marker.then_some(true),
                version_id: d.version_id,
                ..Default::default()
            },
            caller,
        ))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        // Per-key audit events (crate::audit): each key's outcome goes into the slot.
        let audit = req.extensions.get::<crate::audit::S3AuditSlot>().cloned();
        let item = |key: &str, result: AuditResult, status: u16| {
            if let Some(a) = &audit {
                a.item(key, result, status);
            }
        };
        let input = req.input;
        let objects = input.delete.objects;
        if objects.len() > 1000 {
            return Err(s3(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our \
                 published schema (at most 1000 keys per request)",
                rid,
            ));
        }
        // A missing bucket fails the whole request, not each key.
        self.objects
            .get_bucket(&input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?;
        let quiet = input.delete.quiet == Some(true);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in objects {
            let fail = |code: &str, msg: String| s3s::dto::Error {
                code: Some(code.to_string()),
                key: Some(obj.key.clone()),
                message: Some(msg),
                version_id: obj.version_id.clone(),
            };
            let resource = format!("{}/{}", input.bucket, obj.key);
            let action = match obj.version_id {
                Some(_) => crate::actions::S3_DELETE_OBJECT_VERSION,
                None => S3_DELETE_OBJECT,
            };
            if !self.authz.allowed(caller, action, &resource) {
                item(&obj.key, AuditResult::Denied, 403);
                errors.push(fail("AccessDenied", "Access Denied".into()));
                continue;
            }
            match self
                .objects
                .delete_version(&input.bucket, &obj.key, obj.version_id.as_deref())
                .await
            {
                Ok(d) => {
                    item(&obj.key, AuditResult::Allowed, 204);
                    if !quiet {
                        let marker_created = obj.version_id.is_none() && d.delete_marker;
                        deleted.push(DeletedObject {
                            key: Some(obj.key.clone()),
                            version_id: obj.version_id.clone(),
                            delete_marker: d.delete_marker.then_some(true),
                            delete_marker_version_id: if marker_created {
                                d.version_id
                            } else {
                                None
                            },
                        });
                    }
                }
                Err(e) => {
                    if let Error::Internal(d) = &e {
                        tracing::error!(request_id = rid, key = %obj.key, detail = %d, "internal error");
                    }
                    let (code, status, msg) = map_error(&e);
                    item(
                        &obj.key,
                        AuditResult::Error,
                        status.map_or_else(
                            || code.status_code().map_or(500, |s| s.as_u16()),
                            |s| s.as_u16(),
                        ),
                    );
                    errors.push(fail(code.as_str(), msg));
                }
            }
        }
        Ok(ok(
            DeleteObjectsOutput {
                deleted: Some(deleted),
                errors: Some(errors),
                request_charged: None,
            },
            caller,
        ))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        Unsupported {
            acl: input.acl.as_ref(),
            grants: input.grant_full_control.is_some()
                || input.grant_read.is_some()
                || input.grant_read_acp.is_some()
                || input.grant_write_acp.is_some(),
            sse: input.server_side_encryption.is_some()
                || input.sse_customer_algorithm.is_some()
                || input.ssekms_key_id.is_some()
                || input.copy_source_sse_customer_algorithm.is_some(),
            storage_class: input.storage_class.as_ref(),
            object_lock: input.object_lock_mode.is_some()
                || input.object_lock_legal_hold_status.is_some()
                || input.object_lock_retain_until_date.is_some(),
            website_redirect: input.website_redirect_location.is_some(),
        }
        .check(rid)?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = input.copy_source
        else {
            return Err(not_implemented(
                "Access point and outpost copy sources",
                rid,
            ));
        };
        let src_version_id = version_id.map(|v| v.to_string());
        let replace_meta = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(invalid("Unknown metadata directive.", rid)),
        };
        let replace_tags = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(invalid("Unknown tagging directive.", rid)),
        };
        let same = *src_bucket == *input.bucket && *src_key == *input.key;
        if same && !replace_meta && !replace_tags {
            return Err(s3(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes.",
                rid,
            ));
        }
        let metadata_directive = if replace_meta {
            core::MetadataDirective::Replace {
                headers: object_headers(
                    &req.headers,
                    input.content_type,
                    input.content_encoding,
                    input.content_disposition,
                    input.content_language,
                    input.cache_control,
                ),
                user_metadata: metadata(input.metadata),
            }
        } else {
            core::MetadataDirective::Copy
        };
        let tags = if replace_tags {
            let t = tags(input.tagging.as_deref(), rid)?;
            self.check_write_tags(caller, &input.bucket, &input.key, &t)?;
            Some(t)
        } else {
            None
        };
        let checksum_algorithm = match &input.checksum_algorithm {
            Some(a) => Some(core_alg(a, rid)?),
            None => None,
        };
        let cond = raw_write_condition(&req.headers, rid)?;
        let rec = self
            .objects
            .copy_object(core::CopyObjectInput {
                src_bucket: src_bucket.into(),
                src_key: src_key.into(),
                src_conditions: read_conditions(
                    input.copy_source_if_match.as_ref(),
                    input.copy_source_if_none_match.as_ref(),
                    input.copy_source_if_modified_since,
                    input.copy_source_if_unmodified_since,
                ),
                dst_bucket: input.bucket,
                dst_key: input.key,
                metadata: metadata_directive,
                tags,
                checksum_algorithm,
                cond,
                src_version_id: src_version_id.clone(),
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&rec.checksums);
        Ok(ok(
            CopyObjectOutput {
                copy_object_result: Some(CopyObjectResult {
                    checksum_crc32: crc32,
                    checksum_crc32c: crc32c,
                    checksum_crc64nvme: crc64nvme,
                    checksum_sha1: sha1,
                    checksum_sha256: sha256,
                    checksum_type,
                    e_tag: Some(etag_out(&rec.etag)),
                    last_modified: Some(ts(rec.last_modified)),
                }),
                copy_source_version_id: src_version_id,
                version_id: rec.version_id.clone(),
                ..Default::default()
            },
            caller,
        ))
    }

    // ----- versioning (crate::versioning) -------------------------------------------

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

    // ----- lifecycle (crate::lifecycle) ---------------------------------------------

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

    // ----- multipart ---------------------------------------------------------------

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        Unsupported {
            acl: input.acl.as_ref(),
            grants: input.grant_full_control.is_some()
                || input.grant_read.is_some()
                || input.grant_read_acp.is_some()
                || input.grant_write_acp.is_some(),
            sse: input.server_side_encryption.is_some()
                || input.sse_customer_algorithm.is_some()
                || input.ssekms_key_id.is_some(),
            storage_class: input.storage_class.as_ref(),
            object_lock: input.object_lock_mode.is_some()
                || input.object_lock_legal_hold_status.is_some()
                || input.object_lock_retain_until_date.is_some(),
            website_redirect: input.website_redirect_location.is_some(),
        }
        .check(rid)?;
        let tags = tags(input.tagging.as_deref(), rid)?;
        self.check_write_tags(caller, &input.bucket, &input.key, &tags)?;
        let checksum_algorithm = match &input.checksum_algorithm {
            Some(a) => Some(core_alg(a, rid)?),
            None => None,
        };
        let checksum_type =
            match &input.checksum_type {
                Some(t) => Some(CoreChecksumType::parse(t.as_str()).ok_or_else(|| {
                    invalid("Value for x-amz-checksum-type header is invalid.", rid)
                })?),
                None => None,
            };
        let headers = object_headers(
            &req.headers,
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
        );
        let up = self
            .objects
            .create_multipart(core::CreateMultipartInput {
                bucket: input.bucket,
                key: input.key,
                headers,
                user_metadata: metadata(input.metadata),
                tags,
                checksum_algorithm,
                checksum_type,
                initiator: caller.principal().to_string(),
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(
            CreateMultipartUploadOutput {
                bucket: Some(up.bucket),
                key: Some(up.key),
                upload_id: Some(up.upload_id),
                checksum_algorithm: up.checksum_algorithm.map(ChecksumAlgorithm::from),
                checksum_type: up.checksum_type.map(ChecksumType::from),
                ..Default::default()
            },
            caller,
        ))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        if input.sse_customer_algorithm.is_some() {
            return Err(not_implemented(
                "Server-side encryption with customer keys",
                rid,
            ));
        }
        let part_number = part_number(input.part_number, rid)?;
        let checksum = checksum_input(
            &req.headers,
            input.checksum_algorithm.as_ref(),
            checksum_values(
                input.checksum_crc32,
                input.checksum_crc32c,
                input.checksum_crc64nvme,
                input.checksum_sha1,
                input.checksum_sha256,
            ),
            req.trailing_headers,
            rid,
        )?;
        let content_length = content_length(input.content_length, rid)?;
        let (body, fault) = body::adapt(input.body);
        let part = self
            .objects
            .upload_part(core::UploadPartInput {
                bucket: input.bucket,
                key: input.key,
                upload_id: input.upload_id,
                part_number,
                body,
                content_length,
                content_md5: input.content_md5,
                checksum,
            })
            .await
            .map_err(|e| body_or(e, &fault, rid))?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, _) = checksum_fields(&part.checksums);
        Ok(ok(
            UploadPartOutput {
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                e_tag: Some(etag_out(&part.etag)),
                ..Default::default()
            },
            caller,
        ))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        if input.sse_customer_algorithm.is_some()
            || input.copy_source_sse_customer_algorithm.is_some()
        {
            return Err(not_implemented(
                "Server-side encryption with customer keys",
                rid,
            ));
        }
        let part_number = part_number(input.part_number, rid)?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = input.copy_source
        else {
            return Err(not_implemented(
                "Access point and outpost copy sources",
                rid,
            ));
        };
        let src_version_id = version_id.map(|v| v.to_string());
        let src_range = match input.copy_source_range.as_deref() {
            Some(r) => Some(copy_range(r, rid)?),
            None => None,
        };
        let part = self
            .objects
            .upload_part_copy(core::UploadPartCopyInput {
                bucket: input.bucket,
                key: input.key,
                upload_id: input.upload_id,
                part_number,
                src_bucket: src_bucket.into(),
                src_key: src_key.into(),
                src_range,
                src_version_id: src_version_id.clone(),
                src_conditions: read_conditions(
                    input.copy_source_if_match.as_ref(),
                    input.copy_source_if_none_match.as_ref(),
                    input.copy_source_if_modified_since,
                    input.copy_source_if_unmodified_since,
                ),
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, _) = checksum_fields(&part.checksums);
        Ok(ok(
            UploadPartCopyOutput {
                copy_part_result: Some(CopyPartResult {
                    checksum_crc32: crc32,
                    checksum_crc32c: crc32c,
                    checksum_crc64nvme: crc64nvme,
                    checksum_sha1: sha1,
                    checksum_sha256: sha256,
                    e_tag: Some(etag_out(&part.etag)),
                    last_modified: Some(ts(part.last_modified)),
                }),
                ..Default::default()
            },
            caller,
        ))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let malformed = || {
            s3(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our \
                 published schema",
                rid,
            )
        };
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .filter(|p| !p.is_empty())
            .ok_or_else(malformed)?;
        if parts.len() > MAX_PART_NUMBER as usize {
            return Err(malformed());
        }
        let mut completed = Vec::with_capacity(parts.len());
        for p in parts {
            let n = p.part_number.ok_or_else(malformed)?;
            let etag = p.e_tag.as_ref().ok_or_else(malformed)?;
            completed.push(core::CompletedPart {
                part_number: part_number(n, rid)?,
                etag: etag_in(etag),
                checksums: Checksums {
                    crc32: p.checksum_crc32,
                    crc32c: p.checksum_crc32c,
                    crc64nvme: p.checksum_crc64nvme,
                    sha1: p.checksum_sha1,
                    sha256: p.checksum_sha256,
                    checksum_type: None,
                },
            });
        }
        let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref(), rid)?;
        let rec = self
            .objects
            .complete_multipart(core::CompleteMultipartInput {
                bucket: input.bucket.clone(),
                key: input.key.clone(),
                upload_id: input.upload_id,
                parts: completed,
                cond,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let location = match raw_header(&req.headers, "host") {
            Some(host) => {
                let scheme = if caller.conn().is_some_and(|c| c.secure) {
                    "https"
                } else {
                    "http"
                };
                format!(
                    "{scheme}://{host}/{}/{}",
                    input.bucket,
                    url_encode(&input.key)
                )
            }
            None => format!("/{}/{}", input.bucket, url_encode(&input.key)),
        };
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&rec.checksums);
        Ok(ok(
            CompleteMultipartUploadOutput {
                bucket: Some(input.bucket),
                key: Some(input.key),
                location: Some(location),
                e_tag: Some(etag_out(&rec.etag)),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_type,
                version_id: rec.version_id.clone(),
                ..Default::default()
            },
            caller,
        ))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        if input.if_match_initiated_time.is_some() {
            return Err(not_implemented("x-amz-if-match-initiated-time", rid));
        }
        self.objects
            .abort_multipart(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(AbortMultipartUploadOutput::default(), caller))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let max_parts = limit(input.max_parts, MAX_LIST, "max-parts", rid)?;
        let marker = match input.part_number_marker {
            None => 0,
            Some(n) if n >= 0 => n as u32,
            Some(_) => return Err(invalid("part-number-marker must not be negative", rid)),
        };
        let out = self
            .objects
            .list_parts(
                &input.bucket,
                &input.key,
                &input.upload_id,
                marker,
                max_parts,
            )
            .await
            .map_err(|e| to_s3(e, rid))?;
        let parts = out
            .parts
            .into_iter()
            .map(|p| {
                let (crc32, crc32c, crc64nvme, sha1, sha256, _) = checksum_fields(&p.checksums);
                Part {
                    checksum_crc32: crc32,
                    checksum_crc32c: crc32c,
                    checksum_crc64nvme: crc64nvme,
                    checksum_sha1: sha1,
                    checksum_sha256: sha256,
                    e_tag: Some(etag_out(&p.etag)),
                    last_modified: Some(ts(p.last_modified)),
                    part_number: Some(p.part_number as i32),
                    size: Some(i64_of(p.size)),
                }
            })
            .collect();
        let up = out.upload;
        Ok(ok(
            ListPartsOutput {
                bucket: Some(input.bucket),
                key: Some(input.key),
                upload_id: Some(input.upload_id),
                checksum_algorithm: up.checksum_algorithm.map(ChecksumAlgorithm::from),
                checksum_type: up.checksum_type.map(ChecksumType::from),
                initiator: Some(Initiator {
                    display_name: Some(up.initiator.clone()),
                    id: Some(up.initiator),
                }),
                owner: Some(owner(caller.bucket_owner())),
                is_truncated: Some(out.is_truncated),
                max_parts: Some(max_parts as i32),
                part_number_marker: Some(marker as i32),
                next_part_number_marker: out.next_part_number_marker.map(|n| n as i32),
                parts: Some(parts),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                ..Default::default()
            },
            caller,
        ))
    }

    // ----- subresources and extensions: handlers live in their own modules ---------

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.do_put_object_tagging(req).await
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
        assert!(write_condition(None, Some(&tag), "r").is_err());
        assert!(write_condition(Some(&any), None, "r").is_err());
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
            acl: None,
            grants: false,
            sse: false,
            storage_class: None,
            object_lock: false,
            website_redirect: false,
        };
        assert!(base.check("r").is_ok());
        let acl = ObjectCannedACL::from_static(ObjectCannedACL::PUBLIC_READ);
        assert!(
            Unsupported {
                acl: Some(&acl),
                ..base
            }
            .check("r")
            .is_err()
        );
        let private = ObjectCannedACL::from_static(ObjectCannedACL::PRIVATE);
        assert!(
            Unsupported {
                acl: Some(&private),
                ..base
            }
            .check("r")
            .is_ok()
        );
        let glacier = StorageClass::from_static(StorageClass::GLACIER);
        assert!(
            Unsupported {
                storage_class: Some(&glacier),
                ..base
            }
            .check("r")
            .is_err()
        );
        assert!(Unsupported { sse: true, ..base }.check("r").is_err());
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
