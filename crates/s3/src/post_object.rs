//! Browser form uploads (POST Object: `POST /bucket` with `multipart/form-data`,
//! e.g. boto3 `generate_presigned_post`), served here end to end. s3s 0.14 would read
//! the whole form — file included — into memory before verifying anything, so every
//! form POST is taken out of its hands ([`crate::request_line::is_form_post`] routes them here, whatever
//! the path or query) and read as it arrives (SPEC §9):
//!
//! 1. **The fields before the file** (AWS requires the `file` field last): at most
//!    [`MAX_FORM_PREFIX`] bytes, within the server's header timeout (like the request
//!    head: it is what identifies the caller), reserved from the shared byte budget. This is the only part of the request held in memory before
//!    the caller is known.
//! 2. **The signature**: SigV4 POST — `x-amz-signature` is the HMAC of the base64
//!    `policy` with the signing key of `x-amz-credential` — or none (anonymous, allowed
//!    only by a bucket policy). SigV2 (`signature`, `AWSAccessKeyId`) is refused. The
//!    credential's region obeys the listener's signing scope
//!    ([`crate::gates::CONSOLE_REGION`]).
//! 3. **What the signature covers**: the policy's expiration and every condition
//!    (`eq`, `starts-with`, `content-length-range`; the `bucket` condition is checked
//!    against the request's bucket), and — AWS's rule — every form field except
//!    `x-amz-signature`, `file`, `policy` and `x-ignore-*` must be named by a
//!    condition. No HTTP header is covered by a form signature, so a form POST carrying
//!    any `x-amz-*` header is refused like any request with unsigned `x-amz-*` headers.
//! 4. **Authorization** through [`AccessControl::admit`] (`s3:PutObject` on
//!    `bucket/key`; the write path adds `s3:PutObjectTagging` when tags are set).
//! 5. **The file** streams from the connection into the gateway's PutObject path
//!    (checksums, usage, capacity caps, audit) with `content-length-range` enforced as
//!    it flows: a file outside the range fails the write before anything commits.
//!    Fields after the file are ignored, as by AWS.
//!
//! `${filename}` in the `key` field is replaced by the base name of the file part's
//! file name after the policy check (as on AWS, conditions see the field as sent, so
//! `["starts-with", "$key", "uploads/"]` with `uploads/${filename}` holds whatever the
//! file is called) and before authorization, which sees the stored key. Answers: `success_action_redirect` (303 with `bucket`, `key`, `etag` added to
//! the URL), `success_action_status` 200, 201 (`PostResponse` XML) or 204 (default).

use crate::access::{AccessControl, AccessRequest};
use crate::audit::{S3AuditSlot, Target};
use crate::errors::s3;
use crate::gates::UNSIGNED_HEADERS_MESSAGE;
use crate::gateway::Gateway;
use crate::reqid::RequestId;
use crate::resign::{SignedPath, SyncStream, post_signature};
use bytes::{Bytes, BytesMut};
use coffer_core::budget::ByteBudget;
use coffer_core::conn::ConnInfo;
use coffer_core::identity::{IdentityService, ct_eq};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::dto::{PutObjectInput, StreamingBlob, Timestamp, TimestampFormat};
use s3s::post_policy::{PostPolicy, PostPolicyCondition};
use s3s::{Body, HttpRequest, HttpResponse, S3Error, S3ErrorCode, S3Request, StdError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most bytes of a form read before its file part (fields, part headers,
/// boundaries): all of it is held in memory before the caller is authenticated.
pub const MAX_FORM_PREFIX: usize = 64 * 1024;
/// The largest file a form upload may carry (as a single PutObject).
pub const MAX_POST_FILE: u64 = 5 * 1024 * 1024 * 1024;
/// Longest multipart boundary (RFC 2046).
const MAX_BOUNDARY: usize = 70;

/// A refused form upload: the S3 error, and the unsigned headers when that is why.
#[derive(Debug)]
pub struct Refusal {
    pub error: S3Error,
    pub headers_not_signed: Option<String>,
}

impl From<S3Error> for Refusal {
    fn from(error: S3Error) -> Self {
        Refusal {
            error,
            headers_not_signed: None,
        }
    }
}

type Refused<T> = Result<T, Refusal>;

/// What serving form uploads needs.
pub struct FormUploads {
    gateway: Gateway,
    access: Arc<AccessControl>,
    identity: Arc<IdentityService>,
    budget: ByteBudget,
    /// How long the fields before the file may take to arrive.
    prefix_deadline: Duration,
}

impl FormUploads {
    pub fn new(
        gateway: Gateway,
        access: Arc<AccessControl>,
        identity: Arc<IdentityService>,
        budget: ByteBudget,
        prefix_deadline: Duration,
    ) -> Self {
        Self {
            gateway,
            access,
            identity,
            budget,
            prefix_deadline,
        }
    }

    /// Serves one form POST; `target` is the bucket and key of its request line.
    pub async fn serve(&self, req: HttpRequest, target: &Target) -> Refused<HttpResponse> {
        let rid = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_default();
        let slot = req.extensions().get::<S3AuditSlot>().cloned();
        if let Some(slot) = &slot {
            slot.with(|f| {
                f.op = Some("PostObject".into());
                f.bucket.clone_from(&target.bucket);
            });
        }
        let r = rid.as_str();
        let bucket = match (&target.bucket, &target.key) {
            (Some(b), None) => b.clone(),
            (Some(_), Some(_)) => {
                return Err(s3(
                    S3ErrorCode::MethodNotAllowed,
                    "The specified method is not allowed against this resource.",
                    r,
                )
                .into());
            }
            (None, _) => {
                return Err(s3(
                    S3ErrorCode::NotImplemented,
                    "A form upload names a bucket",
                    r,
                )
                .into());
            }
        };
        if req.uri().query().is_some_and(|q| !q.is_empty()) {
            return Err(s3(
                S3ErrorCode::InvalidRequest,
                "A form upload (multipart/form-data POST) takes no query parameters",
                r,
            )
            .into());
        }
        // Nothing signs the HTTP headers of a form upload.
        let unsigned: Vec<&str> = req
            .headers()
            .keys()
            .map(http::HeaderName::as_str)
            .filter(|n| n.starts_with("x-amz-"))
            .collect();
        if !unsigned.is_empty() {
            return Err(Refusal {
                error: s3(S3ErrorCode::AccessDenied, UNSIGNED_HEADERS_MESSAGE, r),
                headers_not_signed: Some(unsigned.join(",")),
            });
        }
        let boundary = boundary(req.headers()).ok_or_else(|| malformed(r))?;
        // Released once the caller is admitted: from then on the fields are the upload's
        // working set, like any admitted request's.
        let reserved = self
            .budget
            .reserve(coffer_core::budget::UNAUTHENTICATED, MAX_FORM_PREFIX as u64)
            .map_err(|e| crate::errors::to_s3(e, r))?;
        let mounted = req.extensions().get::<SignedPath>().is_some();
        let prechecked = req.extensions().get::<crate::gates::Prechecked>().is_some();
        let conn = req.extensions().get::<ConnInfo>().copied();
        let (parts, body) = req.into_parts();
        let mut form = FormReader::new(body, &boundary);
        let prefix = match tokio::time::timeout(self.prefix_deadline, form.prefix()).await {
            Ok(p) => p.map_err(|e| e.into_s3(r))?,
            Err(_) => {
                return Err(s3(
                    S3ErrorCode::RequestTimeout,
                    "Your socket connection to the server was not read from or written to \
                     within the timeout period.",
                    r,
                )
                .into());
            }
        };
        let mut fields = prefix.fields;

        let key_field = field(&fields, "key")
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                s3(
                    S3ErrorCode::InvalidArgument,
                    "Bucket POST must contain a field named 'key'.  If it is specified, please \
                     check the order of the fields.",
                    r,
                )
            })?
            .to_string();
        // A malformed policy document is refused as such, whatever signs it.
        let policy = match field(&fields, "policy") {
            Some(p) => Some(parse_policy(p).map_err(|e| {
                s3(
                    S3ErrorCode::InvalidPolicyDocument,
                    format!("Invalid Policy: {e}"),
                    r,
                )
            })?),
            None => None,
        };
        let signed = field(&fields, "x-amz-signature").is_some();
        // A SigV2 form is refused as such only when it carries its signature; a form
        // without any signature is malformed (400), whatever else it names.
        let sigv2 = field(&fields, "signature").is_some();
        let (access_key, range) = match (policy, signed) {
            (Some(policy), true) => {
                let access_key = self.verify_signature(&fields, mounted, r).await?;
                // Conditions see the fields as sent (`${filename}` included), as on AWS.
                let range = check_policy(&policy, &fields, &bucket, r)?;
                (Some(access_key), range)
            }
            (None, true) => {
                return Err(s3(
                    S3ErrorCode::InvalidArgument,
                    "Bucket POST must contain a field named 'policy'",
                    r,
                )
                .into());
            }
            _ if sigv2 => {
                return Err(s3(
                    S3ErrorCode::AccessDenied,
                    "AWS Signature Version 2 is not supported; sign the POST policy with \
                     AWS4-HMAC-SHA256",
                    r,
                )
                .into());
            }
            (Some(_), false) => {
                return Err(s3(
                    S3ErrorCode::InvalidArgument,
                    "Bucket POST with a policy must contain a field named 'x-amz-signature'",
                    r,
                )
                .into());
            }
            (None, false) if field(&fields, "awsaccesskeyid").is_some() => {
                return Err(s3(
                    S3ErrorCode::InvalidArgument,
                    "Bucket POST naming an access key must contain a field named 'policy'",
                    r,
                )
                .into());
            }
            (None, false) => (None, None),
        };
        let key = key_field.replace("${filename}", base_name(prefix.file_name.as_deref()));
        set_field(&mut fields, "key", &key);
        let caller = self
            .access
            .admit(AccessRequest {
                op: "PostObject",
                bucket: Some(&bucket),
                key: Some(&key),
                uri: &parts.uri,
                headers: &parts.headers,
                access_key: access_key.as_deref(),
                form_fields: Some(&fields),
                conn,
                request_id: rid.clone(),
                audit: slot.clone(),
                mounted,
                prechecked,
            })
            .await?;
        drop(reserved);

        let (min, max) = range.unwrap_or((0, MAX_POST_FILE));
        let fault = FileFault::default();
        let file = file_stream(form, min, max.min(MAX_POST_FILE), fault.clone());
        let answer = Answer::of(&fields, &bucket, &key, r)?;
        let mut input = put_input(&fields, bucket.clone(), key.clone(), r)?;
        input.body = Some(StreamingBlob::new(file));
        let mut headers = HeaderMap::new();
        for name in ["expires", "x-amz-sdk-checksum-algorithm"] {
            if let Some(v) = field(&fields, name).and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        }
        let mut extensions = http::Extensions::new();
        extensions.insert(rid.clone());
        extensions.insert(caller);
        if let Some(slot) = slot {
            extensions.insert(slot);
        }
        if let Some(c) = conn {
            extensions.insert(c);
        }
        let put = S3Request {
            input,
            method: http::Method::POST,
            uri: parts.uri,
            headers,
            extensions,
            credentials: None,
            region: None,
            service: None,
            trailing_headers: None,
        };
        let (status, sent) = answer.status_and_length();
        let out = match self.gateway.put_object_as(put, status.as_u16(), sent).await {
            Ok(out) => out,
            Err(e) => return Err(fault.take(r).unwrap_or(e).into()),
        };
        let etag = out
            .output
            .e_tag
            .as_ref()
            .map(|e| format!("\"{}\"", e.value()));
        answer.response(etag.as_deref(), out.output.version_id.as_deref(), r)
    }

    /// Verifies the SigV4 POST signature over the `policy` field; returns the access
    /// key id it was made with.
    async fn verify_signature(
        &self,
        fields: &[(String, String)],
        mounted: bool,
        r: &str,
    ) -> Refused<String> {
        let need = |name: &'static str| {
            field(fields, name).ok_or_else(|| {
                s3(
                    S3ErrorCode::InvalidArgument,
                    format!("Bucket POST must contain a field named '{name}'"),
                    r,
                )
            })
        };
        let signature = need("x-amz-signature")?;
        let policy = need("policy")?;
        let algorithm = need("x-amz-algorithm")?;
        let credential = need("x-amz-credential")?;
        let amz_date = need("x-amz-date")?;
        if algorithm != "AWS4-HMAC-SHA256" {
            return Err(s3(
                S3ErrorCode::InvalidArgument,
                "x-amz-algorithm must be AWS4-HMAC-SHA256",
                r,
            )
            .into());
        }
        let bad_credential = || {
            s3(
                S3ErrorCode::InvalidArgument,
                "x-amz-credential must be <key>/<date>/<region>/s3/aws4_request",
                r,
            )
        };
        let c = crate::resign::parse_credential(credential).ok_or_else(bad_credential)?;
        if c.service != "s3" {
            return Err(bad_credential().into());
        }
        let date_ok = amz_date.len() == 16
            && amz_date.as_bytes()[8] == b'T'
            && amz_date.ends_with('Z')
            && amz_date.get(..8) == Some(c.date);
        if !date_ok {
            return Err(s3(
                S3ErrorCode::SignatureDoesNotMatch,
                "x-amz-date must be YYYYMMDDTHHMMSSZ on the credential's date",
                r,
            )
            .into());
        }
        crate::gates::signing_scope(c.region, mounted).map_err(|e| s3(e.code, e.message, r))?;
        let key = crate::access::active_key(&self.identity, c.access_key, r).await?;
        let expected = post_signature(&key.secret, c.date, c.region, policy);
        if !ct_eq(&expected, &signature.to_ascii_lowercase()) {
            return Err(s3(
                S3ErrorCode::SignatureDoesNotMatch,
                crate::errors::SIGNATURE_MISMATCH_MESSAGE,
                r,
            )
            .into());
        }
        Ok(c.access_key.to_string())
    }
}

fn malformed(r: &str) -> S3Error {
    s3(
        S3ErrorCode::MalformedPOSTRequest,
        "The body of your POST request is not well-formed multipart/form-data.",
        r,
    )
}

/// The form's boundary (`multipart/form-data; boundary=…`, quoted or not).
fn boundary(h: &HeaderMap) -> Option<String> {
    let ct = h.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let b = ct.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })?;
    (!b.is_empty()
        && b.len() <= MAX_BOUNDARY
        && b.bytes().all(|c| c.is_ascii_graphic() || c == b' '))
    .then_some(b)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn set_field(fields: &mut [(String, String)], name: &str, value: &str) {
    if let Some(f) = fields.iter_mut().find(|(n, _)| n == name) {
        value.clone_into(&mut f.1);
    }
}

/// The last path component of a browser's file name.
fn base_name(name: Option<&str>) -> &str {
    name.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("")
}

/// The policy document. Its `expiration` must be ISO 8601 in UTC with the `T` separator
/// (`2026-01-01T00:00:00.000Z`), the form AWS documents; s3s's RFC 3339 parser alone
/// would also take a space separator or an offset.
fn parse_policy(encoded: &str) -> Result<PostPolicy, String> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| "the policy is not base64".to_string())?;
    let json = std::str::from_utf8(&decoded).map_err(|_| "the policy is not UTF-8".to_string())?;
    #[derive(serde::Deserialize)]
    struct Expiration {
        expiration: String,
    }
    let e: Expiration = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let b = e.expiration.as_bytes();
    if b.len() < 20 || b[10] != b'T' || !e.expiration.ends_with('Z') {
        return Err(format!(
            "invalid expiration format: {} (expected e.g. 2026-01-01T00:00:00Z)",
            e.expiration
        ));
    }
    PostPolicy::from_json(json).map_err(|e| e.to_string())
}

/// Checks the verified policy against the form (module docs, step 3); returns its
/// `content-length-range`.
fn check_policy(
    policy: &PostPolicy,
    fields: &[(String, String)],
    bucket: &str,
    r: &str,
) -> Refused<Option<(u64, u64)>> {
    let denied = |msg: String| -> Refusal { s3(S3ErrorCode::AccessDenied, msg, r).into() };
    let expires: time::OffsetDateTime = policy.expiration.clone().into();
    if time::OffsetDateTime::now_utc() >= expires {
        return Err(denied(
            "Invalid according to Policy: Policy expired.".into(),
        ));
    }
    if field(fields, "bucket").is_some_and(|b| b != bucket) {
        return Err(denied(
            "Invalid according to Policy: the bucket field names another bucket".into(),
        ));
    }
    let value = |name: &str| -> &str {
        if name == "bucket" {
            bucket
        } else {
            field(fields, name).unwrap_or("")
        }
    };
    let mut range = None;
    for c in &policy.conditions {
        let failed = match c {
            PostPolicyCondition::Eq { field: f, value: v } => {
                (value(f) != v).then(|| format!("[\"eq\", \"${f}\", \"{v}\"]"))
            }
            PostPolicyCondition::StartsWith { field: f, prefix } => (!value(f)
                .starts_with(prefix.as_str()))
            .then(|| format!("[\"starts-with\", \"${f}\", \"{prefix}\"]")),
            PostPolicyCondition::ContentLengthRange { min, max } => {
                range = Some((*min, *max));
                None
            }
        };
        if let Some(cond) = failed {
            return Err(denied(format!(
                "Invalid according to Policy: Policy Condition failed: {cond}"
            )));
        }
    }
    for (name, _) in fields {
        let exempt = matches!(name.as_str(), "x-amz-signature" | "policy" | "file")
            || name.starts_with("x-ignore-");
        let named = policy.conditions.iter().any(|c| match c {
            PostPolicyCondition::Eq { field: f, .. }
            | PostPolicyCondition::StartsWith { field: f, .. } => f == name,
            PostPolicyCondition::ContentLengthRange { .. } => false,
        });
        if !(exempt || named) {
            return Err(denied(format!(
                "Invalid according to Policy: Extra input fields: {name}"
            )));
        }
    }
    Ok(range)
}

/// The PutObject input a form describes (the fields s3s 0.14 maps, so that unsupported
/// ones — ACL grants, SSE, storage class, object lock — are refused by the write path
/// rather than ignored).
fn put_input(
    fields: &[(String, String)],
    bucket: String,
    key: String,
    r: &str,
) -> Refused<PutObjectInput> {
    let s = |name: &str| field(fields, name).map(str::to_string);
    let mut metadata = std::collections::HashMap::new();
    for (name, value) in fields {
        if let Some(k) = name.strip_prefix("x-amz-meta-")
            && !k.is_empty()
        {
            metadata.insert(k.to_string(), value.clone());
        }
    }
    let tagging = match (s("tagging"), s("x-amz-tagging")) {
        (Some(_), Some(_)) => {
            return Err(s3(
                S3ErrorCode::InvalidArgument,
                "Give tags in either 'tagging' (XML) or 'x-amz-tagging', not both",
                r,
            )
            .into());
        }
        (Some(xml), None) => Some(tagging_query(&xml, r)?),
        (None, t) => t,
    };
    // S3's form field is `acl`; `x-amz-acl` is read too (as the header's name).
    let acl = match (s("acl"), s("x-amz-acl")) {
        (Some(_), Some(_)) => {
            return Err(s3(
                S3ErrorCode::InvalidArgument,
                "Give the canned ACL in either 'acl' or 'x-amz-acl', not both",
                r,
            )
            .into());
        }
        (a, b) => a.or(b),
    };
    Ok(PutObjectInput {
        bucket,
        key,
        acl: acl.map(Into::into),
        cache_control: s("cache-control"),
        content_disposition: s("content-disposition"),
        content_encoding: s("content-encoding"),
        content_language: s("content-language"),
        content_md5: s("content-md5"),
        content_type: s("content-type"),
        checksum_algorithm: s("x-amz-sdk-checksum-algorithm").map(Into::into),
        checksum_crc32: s("x-amz-checksum-crc32"),
        checksum_crc32c: s("x-amz-checksum-crc32c"),
        checksum_crc64nvme: s("x-amz-checksum-crc64nvme"),
        checksum_sha1: s("x-amz-checksum-sha1"),
        checksum_sha256: s("x-amz-checksum-sha256"),
        grant_full_control: s("x-amz-grant-full-control"),
        grant_read: s("x-amz-grant-read"),
        grant_read_acp: s("x-amz-grant-read-acp"),
        grant_write_acp: s("x-amz-grant-write-acp"),
        metadata: (!metadata.is_empty()).then_some(metadata),
        server_side_encryption: s("x-amz-server-side-encryption").map(Into::into),
        sse_customer_algorithm: s("x-amz-server-side-encryption-customer-algorithm"),
        sse_customer_key: s("x-amz-server-side-encryption-customer-key"),
        sse_customer_key_md5: s("x-amz-server-side-encryption-customer-key-md5"),
        ssekms_key_id: s("x-amz-server-side-encryption-aws-kms-key-id"),
        storage_class: s("x-amz-storage-class").map(Into::into),
        object_lock_mode: s("x-amz-object-lock-mode").map(Into::into),
        object_lock_retain_until_date: match s("x-amz-object-lock-retain-until-date") {
            None => None,
            Some(d) => Some(
                Timestamp::parse(TimestampFormat::DateTime, d.trim()).map_err(|_| {
                    s3(
                        S3ErrorCode::InvalidArgument,
                        "Invalid x-amz-object-lock-retain-until-date (ISO 8601 expected)",
                        r,
                    )
                })?,
            ),
        },
        object_lock_legal_hold_status: s("x-amz-object-lock-legal-hold").map(Into::into),
        website_redirect_location: s("x-amz-website-redirect-location"),
        tagging,
        ..Default::default()
    })
}

/// The `tagging` field's XML (`<Tagging><TagSet><Tag>…`) as the `x-amz-tagging` query
/// form the write path parses.
fn tagging_query(xml: &str, r: &str) -> Refused<String> {
    use s3s::xml::Deserialize;
    let bad = || -> Refusal {
        s3(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our \
             published schema.",
            r,
        )
        .into()
    };
    let mut d = s3s::xml::Deserializer::new(xml.as_bytes());
    let t = s3s::dto::Tagging::deserialize(&mut d).map_err(|_| bad())?;
    let enc = |s: &str| {
        let mut o = String::new();
        crate::resign::uri_encode(&mut o, s, true);
        o
    };
    Ok(t.tag_set
        .iter()
        .map(|tag| {
            format!(
                "{}={}",
                enc(tag.key.as_deref().unwrap_or("")),
                enc(tag.value.as_deref().unwrap_or(""))
            )
        })
        .collect::<Vec<_>>()
        .join("&"))
}

/// How a successful upload is answered (module docs).
enum Answer {
    Redirect(url::Url),
    Status(StatusCode, Option<String>),
}

/// An ETag's length in the `PostResponse` before it is known (quoted MD5 hex; a form
/// upload is never multipart).
const ETAG_PLACEHOLDER: &str = "\"00000000000000000000000000000000\"";

impl Answer {
    fn of(fields: &[(String, String)], bucket: &str, key: &str, r: &str) -> Refused<Answer> {
        let redirect =
            field(fields, "success_action_redirect").or_else(|| field(fields, "redirect"));
        if let Some(u) = redirect {
            let mut url = url::Url::parse(u)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    s3(
                        S3ErrorCode::InvalidArgument,
                        "success_action_redirect must be an http(s) URL",
                        r,
                    )
                })?;
            url.query_pairs_mut()
                .append_pair("bucket", bucket)
                .append_pair("key", key);
            return Ok(Answer::Redirect(url));
        }
        Ok(match field(fields, "success_action_status") {
            Some("200") => Answer::Status(StatusCode::OK, None),
            Some("201") => Answer::Status(
                StatusCode::CREATED,
                Some(post_response(bucket, key, ETAG_PLACEHOLDER)),
            ),
            _ => Answer::Status(StatusCode::NO_CONTENT, None),
        })
    }

    /// The status and body length the answer will have (for the audit event, which
    /// is committed with the write).
    fn status_and_length(&self) -> (StatusCode, u64) {
        match self {
            Answer::Redirect(_) => (StatusCode::SEE_OTHER, 0),
            Answer::Status(s, body) => (*s, body.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }

    fn response(self, etag: Option<&str>, version: Option<&str>, r: &str) -> Refused<HttpResponse> {
        let etag = etag.unwrap_or("");
        let mut resp = match self {
            Answer::Redirect(mut url) => {
                url.query_pairs_mut().append_pair("etag", etag);
                let mut resp = HttpResponse::new(Body::empty());
                *resp.status_mut() = StatusCode::SEE_OTHER;
                let loc = HeaderValue::from_str(url.as_str())
                    .map_err(|_| s3(S3ErrorCode::InvalidArgument, "bad redirect URL", r))?;
                resp.headers_mut().insert(http::header::LOCATION, loc);
                resp
            }
            Answer::Status(status, body) => {
                let mut resp = match body {
                    Some(b) => {
                        let mut resp = HttpResponse::new(Body::from(
                            b.replace(&xml_escape(ETAG_PLACEHOLDER), &xml_escape(etag)),
                        ));
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            HeaderValue::from_static("application/xml"),
                        );
                        resp
                    }
                    None => HttpResponse::new(Body::empty()),
                };
                *resp.status_mut() = status;
                resp
            }
        };
        if let Ok(v) = HeaderValue::from_str(etag) {
            resp.headers_mut().insert(http::header::ETAG, v);
        }
        if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
            resp.headers_mut().insert("x-amz-version-id", v);
        }
        Ok(resp)
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn post_response(bucket: &str, key: &str, etag: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PostResponse><Location>/{b}/{k}</Location>\
         <Bucket>{b}</Bucket><Key>{k}</Key><ETag>{e}</ETag></PostResponse>",
        b = xml_escape(bucket),
        k = xml_escape(key),
        e = xml_escape(etag)
    )
}

// ---------------------------------------------------------------------------------
// The streaming multipart reader

/// Why the form could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormError {
    /// More than [`MAX_FORM_PREFIX`] bytes before the file.
    PrefixTooLarge,
    /// The form ended without a `file` part.
    NoFile,
    Malformed,
}

impl FormError {
    fn into_s3(self, r: &str) -> S3Error {
        match self {
            FormError::PrefixTooLarge => s3(
                S3ErrorCode::MaxPostPreDataLengthExceededError,
                "Your POST request fields preceding the upload file were too large.",
                r,
            ),
            FormError::NoFile => s3(
                S3ErrorCode::IncorrectNumberOfFilesInPostRequest,
                "POST requires exactly one file upload per request.",
                r,
            ),
            FormError::Malformed => malformed(r),
        }
    }
}

/// The fields before the file part.
#[derive(Debug)]
struct Prefix {
    /// Lower-cased names, in form order; each name at most once.
    fields: Vec<(String, String)>,
    /// The file part's `filename`.
    file_name: Option<String>,
}

/// Reads a `multipart/form-data` body as it arrives.
struct FormReader {
    body: Body,
    buf: BytesMut,
    eof: bool,
    /// `\r\n--<boundary>`: every delimiter, the first one included (the buffer starts
    /// with a virtual CRLF).
    delim: Vec<u8>,
    /// Bytes taken off the front of `buf` so far (the virtual CRLF included).
    consumed: usize,
}

impl FormReader {
    fn new(body: Body, boundary: &str) -> Self {
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(boundary.as_bytes());
        let mut buf = BytesMut::with_capacity(8 * 1024);
        buf.extend_from_slice(b"\r\n");
        FormReader {
            body,
            buf,
            eof: false,
            delim,
            consumed: 0,
        }
    }

    /// Reads one more piece of the body; `false` at its end.
    async fn fill(&mut self) -> Result<bool, StdError> {
        if self.eof {
            return Ok(false);
        }
        match self.body.next().await {
            Some(Ok(b)) => {
                self.buf.extend_from_slice(&b);
                Ok(true)
            }
            Some(Err(e)) => Err(e),
            None => {
                self.eof = true;
                Ok(false)
            }
        }
    }

    fn take(&mut self, n: usize) -> Bytes {
        self.consumed += n;
        self.buf.split_to(n).freeze()
    }

    /// The position of `needle` in the buffer, reading until it is there; the prefix
    /// bound applies to everything up to the needle's end.
    async fn find(&mut self, needle: &[u8]) -> Result<usize, FormError> {
        let mut from = 0;
        loop {
            if let Some(i) = memchr::memmem::find(&self.buf[from..], needle) {
                let at = from + i;
                if self.consumed + at + needle.len() > MAX_FORM_PREFIX {
                    return Err(FormError::PrefixTooLarge);
                }
                return Ok(at);
            }
            if self.consumed + self.buf.len() > MAX_FORM_PREFIX {
                return Err(FormError::PrefixTooLarge);
            }
            from = self.buf.len().saturating_sub(needle.len() - 1);
            if !self.fill().await.map_err(|_| FormError::Malformed)? {
                return Err(FormError::Malformed);
            }
        }
    }

    /// At least `n` bytes in the buffer, or an error.
    async fn need(&mut self, n: usize) -> Result<(), FormError> {
        while self.buf.len() < n {
            if self.consumed + self.buf.len() > MAX_FORM_PREFIX {
                return Err(FormError::PrefixTooLarge);
            }
            if !self.fill().await.map_err(|_| FormError::Malformed)? {
                return Err(FormError::Malformed);
            }
        }
        Ok(())
    }

    /// Reads the fields up to the file part's content (module docs, step 1).
    async fn prefix(&mut self) -> Result<Prefix, FormError> {
        let delim = self.delim.clone();
        // The preamble, if any, ends at the first delimiter.
        let at = self.find(&delim).await?;
        self.take(at + delim.len());
        let mut fields: Vec<(String, String)> = Vec::new();
        loop {
            // After a delimiter: `--` closes the form; else the line ends (padding
            // allowed) and the part's headers follow.
            self.need(2).await?;
            if &self.buf[..2] == b"--" {
                return Err(FormError::NoFile);
            }
            let eol = self.find(b"\r\n").await?;
            if self.buf[..eol].iter().any(|b| !matches!(b, b' ' | b'\t')) {
                return Err(FormError::Malformed);
            }
            self.take(eol + 2);
            // A part without headers starts with the blank line right away.
            self.need(2).await?;
            let head = if self.buf.starts_with(b"\r\n") {
                self.take(2);
                Bytes::new()
            } else {
                let end = self.find(b"\r\n\r\n").await?;
                let h = self.take(end);
                self.take(4);
                h
            };
            let (name, file_name) = disposition(&head).ok_or(FormError::Malformed)?;
            let name = name.to_ascii_lowercase();
            if name == "file" {
                return Ok(Prefix { fields, file_name });
            }
            let end = self.find(&delim).await?;
            let value = self.take(end);
            self.take(delim.len());
            let value = String::from_utf8(value.to_vec()).map_err(|_| FormError::Malformed)?;
            if fields.iter().any(|(n, _)| *n == name) {
                return Err(FormError::Malformed);
            }
            fields.push((name, value));
        }
    }
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(head: &[u8]) -> Option<(String, Option<String>)> {
    let head = std::str::from_utf8(head).ok()?;
    let line = head.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v.trim())
    })?;
    let mut params = line.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let (mut name, mut file_name) = (None, None);
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => file_name = Some(v),
            _ => {}
        }
    }
    Some((name?, file_name))
}

/// Why the file stream failed, for the answer (the write path sees only an I/O error).
#[derive(Debug, Clone, Default)]
struct FileFault(Arc<Mutex<Option<(S3ErrorCode, &'static str)>>>);

impl FileFault {
    fn set(&self, code: S3ErrorCode, msg: &'static str) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert((code, msg));
    }

    fn take(&self, r: &str) -> Option<S3Error> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.clone().map(|(code, msg)| s3(code, msg, r))
    }
}

#[derive(Debug)]
struct FileError(&'static str);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FileError {}

/// The file part's content, up to the next delimiter, as it arrives; fails (and records
/// why in `fault`) when it leaves `min..=max` bytes or the form is cut short.
fn file_stream(
    form: FormReader,
    min: u64,
    max: u64,
    fault: FileFault,
) -> SyncStream<impl futures::Stream<Item = Result<Bytes, StdError>> + Send> {
    struct St {
        form: FormReader,
        total: u64,
        done: bool,
        min: u64,
        max: u64,
        fault: FileFault,
    }
    let fail = |fault: &FileFault, code, msg| -> StdError {
        fault.set(code, msg);
        Box::new(FileError(msg))
    };
    let st = St {
        form,
        total: 0,
        done: false,
        min,
        max,
        fault,
    };
    SyncStream::new(futures::stream::unfold(Some(st), move |st| async move {
        let mut st = st?;
        loop {
            if st.done {
                return None;
            }
            let dl = st.form.delim.len();
            let (piece, last) = match memchr::memmem::find(&st.form.buf, &st.form.delim) {
                Some(at) => (st.form.take(at), true),
                None if st.form.buf.len() >= dl => {
                    let n = st.form.buf.len() - (dl - 1);
                    (st.form.take(n), false)
                }
                None => match st.form.fill().await {
                    Ok(true) => continue,
                    Ok(false) => {
                        let e = fail(
                            &st.fault,
                            S3ErrorCode::MalformedPOSTRequest,
                            "The body of your POST request is not well-formed \
                                 multipart/form-data.",
                        );
                        return Some((Err(e), None));
                    }
                    Err(e) => return Some((Err(e), None)),
                },
            };
            st.total += piece.len() as u64;
            if st.total > st.max {
                let e = fail(
                    &st.fault,
                    S3ErrorCode::EntityTooLarge,
                    "Your proposed upload exceeds the maximum allowed size",
                );
                return Some((Err(e), None));
            }
            if last {
                st.done = true;
                if st.total < st.min {
                    let e = fail(
                        &st.fault,
                        S3ErrorCode::EntityTooSmall,
                        "Your proposed upload is smaller than the minimum allowed size",
                    );
                    return Some((Err(e), None));
                }
            }
            if !piece.is_empty() {
                return Some((Ok(piece), Some(st)));
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(pieces: Vec<&'static [u8]>) -> Body {
        let s = futures::stream::iter(
            pieces
                .into_iter()
                .map(|p| Ok::<_, StdError>(Bytes::from_static(p))),
        );
        let dyn_stream: s3s::stream::DynByteStream = Box::pin(SyncStream::new(s));
        Body::from(dyn_stream)
    }

    async fn read_file(
        mut f: impl futures::Stream<Item = Result<Bytes, StdError>> + Unpin,
    ) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        while let Some(x) = f.next().await {
            out.extend_from_slice(&x.map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    const FORM: &[u8] =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"Key\"\r\n\r\nu/${filename}\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"x-amz-meta-a\"\r\n\r\nb\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\tmp\\\\photo 1.jpg\"\r\n\
Content-Type: image/jpeg\r\n\r\nDATA\r\n--XyZ\r\nsome\r\n--XyZ--\r\n";

    #[tokio::test]
    async fn forms_are_read_in_any_pieces() {
        for size in [1, 2, 3, 7, 64, FORM.len()] {
            let pieces: Vec<&'static [u8]> = FORM.chunks(size).collect();
            let mut r = FormReader::new(body(pieces), "XyZ");
            let p = r.prefix().await.unwrap();
            assert_eq!(
                p.fields,
                vec![
                    ("key".to_string(), "u/${filename}".to_string()),
                    ("x-amz-meta-a".to_string(), "b".to_string())
                ]
            );
            assert_eq!(base_name(p.file_name.as_deref()), "photo 1.jpg");
            let f = file_stream(r, 0, 10, FileFault::default());
            assert_eq!(
                read_file(Box::pin(f)).await.unwrap(),
                b"DATA",
                "piece size {size}"
            );
        }
    }

    #[tokio::test]
    async fn the_file_range_is_enforced_as_it_streams() {
        for (min, max, code) in [
            (0, 3, Some(S3ErrorCode::EntityTooLarge)),
            (5, 10, Some(S3ErrorCode::EntityTooSmall)),
            (4, 4, None),
        ] {
            let mut r = FormReader::new(body(vec![FORM]), "XyZ");
            r.prefix().await.unwrap();
            let fault = FileFault::default();
            let out = read_file(Box::pin(file_stream(r, min, max, fault.clone()))).await;
            assert_eq!(out.is_ok(), code.is_none());
            assert_eq!(fault.take("r").map(|e| e.code().clone()), code);
        }
        // Cut short before the closing delimiter.
        let mut r = FormReader::new(body(vec![&FORM[..FORM.len() - 24]]), "XyZ");
        r.prefix().await.unwrap();
        let fault = FileFault::default();
        assert!(
            read_file(Box::pin(file_stream(r, 0, 100, fault.clone())))
                .await
                .is_err()
        );
        assert_eq!(
            fault.take("r").map(|e| e.code().clone()),
            Some(S3ErrorCode::MalformedPOSTRequest)
        );
    }

    #[tokio::test]
    async fn bad_forms_are_refused_before_the_file() {
        let cases: Vec<(&'static [u8], FormError)> = vec![
            (b"--XyZ--\r\n", FormError::NoFile),
            (b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--\r\n", FormError::NoFile),
            (b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ\r\nContent-Disposition: form-data; name=\"A\"\r\n\r\nw\r\n--XyZ--", FormError::Malformed),
            (b"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", FormError::Malformed),
            (b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", FormError::Malformed),
            (b"no boundary at all", FormError::Malformed),
        ];
        for (form, want) in cases {
            let mut r = FormReader::new(body(vec![form]), "XyZ");
            assert_eq!(
                r.prefix().await.unwrap_err(),
                want,
                "{}",
                String::from_utf8_lossy(form)
            );
        }
        // A prefix over the bound fails once the bound is passed, whatever follows.
        let big: &'static [u8] = Box::leak(
            [
                &b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"[..],
                &vec![b'x'; MAX_FORM_PREFIX][..],
            ]
            .concat()
            .into_boxed_slice(),
        );
        let mut r = FormReader::new(body(vec![big, big]), "XyZ");
        assert_eq!(r.prefix().await.unwrap_err(), FormError::PrefixTooLarge);
    }

    #[test]
    fn boundaries() {
        let h = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_str(ct).unwrap(),
            );
            h
        };
        assert_eq!(
            boundary(&h("multipart/form-data; boundary=abc")).as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary(&h("multipart/form-data; BOUNDARY=\"a b\"")).as_deref(),
            Some("a b")
        );
        assert_eq!(boundary(&h("multipart/form-data")), None);
        assert_eq!(boundary(&h("multipart/form-data; boundary=")), None);
        assert_eq!(
            boundary(&h(&format!(
                "multipart/form-data; boundary={}",
                "x".repeat(71)
            ))),
            None
        );
    }

    fn policy(conditions: &str, expires: &str) -> PostPolicy {
        let json = format!("{{\"expiration\":\"{expires}\",\"conditions\":[{conditions}]}}");
        PostPolicy::from_json(&json).unwrap()
    }

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn every_field_must_be_covered_and_every_condition_hold() {
        let p = policy(
            r#"{"bucket":"b"},["starts-with","$key","u/"],["eq","$x-amz-meta-a","1"],["content-length-range",1,10]"#,
            "2099-01-01T00:00:00Z",
        );
        let ok = f(&[
            ("key", "u/k"),
            ("x-amz-meta-a", "1"),
            ("policy", "p"),
            ("x-amz-signature", "s"),
            ("x-ignore-me", "z"),
        ]);
        assert_eq!(check_policy(&p, &ok, "b", "r").unwrap(), Some((1, 10)));
        let code = |fields: &[(String, String)], bucket: &str| {
            check_policy(&p, fields, bucket, "r")
                .unwrap_err()
                .error
                .code()
                .clone()
        };
        assert_eq!(code(&ok, "other"), S3ErrorCode::AccessDenied);
        let mut extra = ok.clone();
        extra.push(("content-type".into(), "text/html".into()));
        assert_eq!(code(&extra, "b"), S3ErrorCode::AccessDenied);
        let bad_key = f(&[("key", "v/k"), ("x-amz-meta-a", "1")]);
        assert_eq!(code(&bad_key, "b"), S3ErrorCode::AccessDenied);
        let missing_meta = f(&[("key", "u/k")]);
        assert_eq!(code(&missing_meta, "b"), S3ErrorCode::AccessDenied);
        let expired = policy(r#"{"bucket":"b"}"#, "2001-01-01T00:00:00Z");
        assert_eq!(
            check_policy(&expired, &f(&[]), "b", "r")
                .unwrap_err()
                .error
                .code(),
            &S3ErrorCode::AccessDenied
        );
    }

    #[test]
    fn answers() {
        let a = Answer::of(&f(&[("success_action_status", "201")]), "b", "k&<", "r").unwrap();
        let (status, len) = a.status_and_length();
        let resp = a
            .response(Some("\"0123456789abcdef0123456789abcdef\""), None, "r")
            .unwrap();
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body = resp.body().bytes().unwrap();
        assert_eq!(body.len() as u64, len);
        assert!(String::from_utf8_lossy(&body).contains("<Key>k&amp;&lt;</Key>"));
        let a = Answer::of(&f(&[("success_action_status", "999")]), "b", "k", "r").unwrap();
        assert_eq!(a.status_and_length(), (StatusCode::NO_CONTENT, 0));
        let a = Answer::of(
            &f(&[("success_action_redirect", "https://x.example/done?a=1")]),
            "b",
            "k",
            "r",
        )
        .unwrap();
        let resp = a.response(Some("\"e\""), None, "r").unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let loc = resp.headers()[http::header::LOCATION].to_str().unwrap();
        assert!(loc.starts_with("https://x.example/done?a=1&"), "{loc}");
        assert!(Answer::of(&f(&[("redirect", "javascript:alert(1)")]), "b", "k", "r").is_err());
    }
}
