//! The one mapping from the domain error (`coffer_core::Error`) to S3 wire errors, and
//! the helpers that stamp every S3 error this crate produces with the request id.
//!
//! Invariants:
//! * `map_error` is an exhaustive `match` without a wildcard arm: a new domain variant
//!   does not compile until it has an S3 code.
//! * `Internal` never reaches the client with its detail: it is logged once, at error
//!   level, with the request id, and rendered as a generic `InternalError`.
//! * Error responses carry `x-amz-request-id` as a header and `RequestId` in the XML
//!   body (`Resource` is added by [`crate::http_service`], which sees the request path).

use coffer_core::Error;
use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::{S3Error, S3ErrorCode};

/// `x-amz-request-id`.
pub const REQUEST_ID_HEADER: &str = "x-amz-request-id";

/// An S3 error code that s3s 0.14 does not know, with its status.
fn custom(code: &'static str, status: StatusCode) -> (S3ErrorCode, Option<StatusCode>) {
    (S3ErrorCode::Custom(code.into()), Some(status))
}

/// The S3 code, an explicit status when s3s has none for the code, and the message.
/// `Internal` yields a generic message; the caller logs the detail (see [`to_s3`]).
pub fn map_error(err: &Error) -> (S3ErrorCode, Option<StatusCode>, String) {
    use S3ErrorCode as C;
    let msg = err.to_string();
    let (code, status) = match err {
        Error::InvalidArgument(_) => (C::InvalidArgument, None),
        Error::NotFound(_) => (C::NoSuchResource, Some(StatusCode::NOT_FOUND)),
        // Only reachable for S3 if a service reports a generic conflict.
        Error::AlreadyExists(_) => custom("Conflict", StatusCode::CONFLICT),
        Error::PermissionDenied(_) => (C::AccessDenied, None),
        Error::Unauthenticated(_) => (C::InvalidAccessKeyId, None),
        Error::FailedPrecondition(_) => (C::InvalidRequest, None),
        // Buckets per org is the only count limit the object service enforces.
        Error::ResourceExhausted(_) => (C::TooManyBuckets, None),
        Error::Unimplemented(_) => (C::NotImplemented, None),
        Error::Internal(_) => {
            return (
                C::InternalError,
                None,
                "We encountered an internal error. Please try again.".to_string(),
            );
        }
        // Bitrot (docs/reliability.md "Bitrot"). AWS has no code for it; 500 says "server
        // fault" (SDKs retry a few times, which is harmless: the answer stays the same,
        // and no byte of the damaged data is ever sent), and the dedicated code tells
        // clients and operators apart from a transient InternalError. The detail (blob
        // id, offset) is logged by the object service, not sent.
        Error::Corrupted(_) => {
            return (
                S3ErrorCode::Custom("CorruptedObject".into()),
                Some(StatusCode::INTERNAL_SERVER_ERROR),
                "The object's stored data failed its integrity check and cannot be served."
                    .to_string(),
            );
        }
        // Retryable throttle (503), which every SDK backs off and retries.
        Error::Unavailable(_) => (C::SlowDown, Some(StatusCode::SERVICE_UNAVAILABLE)),
        Error::NoSuchBucket => (C::NoSuchBucket, None),
        Error::NoSuchKey => (C::NoSuchKey, None),
        Error::NoSuchUpload => (C::NoSuchUpload, None),
        Error::BucketNotEmpty => (C::BucketNotEmpty, None),
        Error::InvalidBucketState(_) => (C::InvalidBucketState, None),
        Error::AclNotSupported {
            disabling: false, ..
        } => (C::AccessControlListNotSupported, None),
        Error::AclNotSupported {
            disabling: true, ..
        } => (C::InvalidBucketAclWithObjectOwnership, None),
        Error::BucketAlreadyExists => (C::BucketAlreadyExists, None),
        Error::BucketAlreadyOwnedByYou => (C::BucketAlreadyOwnedByYou, None),
        Error::InvalidBucketName(_) => (C::InvalidBucketName, None),
        Error::InvalidPart(_) => (C::InvalidPart, None),
        Error::InvalidPartOrder => (C::InvalidPartOrder, None),
        Error::EntityTooSmall => (C::EntityTooSmall, None),
        Error::EntityTooLarge => (C::EntityTooLarge, None),
        Error::BadDigest => (C::BadDigest, None),
        // AWS answers a failed `x-amz-checksum-*` check with `BadDigest` ("The CRC32 you
        // specified did not match the calculated checksum."); the SDKs classify it as a
        // non-retryable client error either way, so we follow AWS.
        Error::ChecksumMismatch(_) => (C::BadDigest, None),
        Error::InvalidDigest => (C::InvalidDigest, None),
        Error::PreconditionFailed => (C::PreconditionFailed, None),
        Error::NotModified { .. } => (C::NotModified, None),
        Error::ConditionalRequestConflict => (C::ConditionalRequestConflict, None),
        Error::InvalidRange => (C::InvalidRange, None),
        Error::InvalidPartNumber => custom("InvalidPartNumber", StatusCode::RANGE_NOT_SATISFIABLE),
        // Bucket capacity cap (SPEC §2): 403 like AWS's account-level quota errors, so
        // clients do not retry it as a throttle.
        Error::QuotaExceeded(_) => custom("QuotaExceeded", StatusCode::FORBIDDEN),
        Error::InvalidLocationConstraint(_) => (C::InvalidLocationConstraint, None),
        Error::KeyTooLong => (C::KeyTooLongError, None),
        Error::MetadataTooLarge => (C::MetadataTooLarge, None),
        Error::InsufficientStorage(_) => {
            custom("InsufficientStorage", StatusCode::INSUFFICIENT_STORAGE)
        }
        Error::IncompleteBody => (C::IncompleteBody, None),
        Error::NoSuchVersion => (C::NoSuchVersion, None),
        Error::NoSuchLifecycleConfiguration => (C::NoSuchLifecycleConfiguration, None),
        Error::DeleteMarker { by_id: true, .. } => {
            (C::MethodNotAllowed, Some(StatusCode::METHOD_NOT_ALLOWED))
        }
        Error::DeleteMarker { by_id: false, .. } => (C::NoSuchKey, None),
    };
    (code, status, capitalize(&msg))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Converts a domain error into a rendered S3 error for request `request_id`, logging
/// internal details once.
pub fn to_s3(err: Error, request_id: &str) -> S3Error {
    if let Error::Internal(detail) = &err {
        tracing::error!(request_id, detail = %detail, "internal error");
    }
    let (code, status, msg) = map_error(&err);
    let mut e = S3Error::with_message(code, msg);
    if let Some(s) = status {
        e.set_status_code(s);
    }
    let mut e = stamp(e, request_id);
    // S3 names the delete marker it ran into, and what a marker allows.
    if let Error::DeleteMarker { version_id, by_id } = &err
        && let Some(mut h) = e.headers().cloned()
    {
        h.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
        if let Ok(v) = HeaderValue::from_str(version_id) {
            h.insert("x-amz-version-id", v);
        }
        if *by_id {
            h.insert(http::header::ALLOW, HeaderValue::from_static("DELETE"));
        }
        e.set_headers(h);
    }
    // A 304 carries the ETag a 200 would have (RFC 9110 §15.4.5): caches revalidate on it.
    // Stored ETags are quoted; one that is not is taken as the bare value.
    if let Error::NotModified { etag } = &err
        && let Some(mut h) = e.headers().cloned()
        && let Ok(v) = s3s::dto::ETag::parse_http_header(etag.as_bytes())
            .unwrap_or_else(|_| s3s::dto::ETag::Strong(etag.clone()))
            .to_http_header()
    {
        h.insert(http::header::ETAG, v);
        e.set_headers(h);
    }
    e
}

/// AWS's message for `SignatureDoesNotMatch`.
pub const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not \
    match the signature you provided. Check your key and signing method.";

/// An S3 error with a code s3s knows.
pub fn s3(code: S3ErrorCode, msg: impl Into<String>, request_id: &str) -> S3Error {
    stamp(S3Error::with_message(code, msg.into()), request_id)
}

/// 400 `InvalidArgument`.
pub fn invalid(msg: impl Into<String>, request_id: &str) -> S3Error {
    s3(S3ErrorCode::InvalidArgument, msg, request_id)
}

/// 404 `NoSuchBucketPolicy`.
pub fn no_such_bucket_policy(request_id: &str) -> S3Error {
    s3(
        S3ErrorCode::NoSuchBucketPolicy,
        "The bucket policy does not exist",
        request_id,
    )
}

/// [`s3`] for a code s3s 0.14 does not know, which needs its status.
pub fn s3_custom(
    code: &'static str,
    status: StatusCode,
    msg: impl Into<String>,
    request_id: &str,
) -> S3Error {
    let mut e = s3(S3ErrorCode::Custom(code.into()), msg, request_id);
    e.set_status_code(status);
    e
}

/// Adds the request id to the XML body and the headers of an error.
///
/// s3s replaces the response headers wholesale with the error's headers, so the XML
/// content type must be set here as well.
pub fn stamp(mut e: S3Error, request_id: &str) -> S3Error {
    e.set_request_id(request_id);
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    e.set_headers(h);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every domain variant with the S3 code and HTTP status it must render as. The
    /// `match` in `map_error` has no wildcard, so adding a variant there fails to compile
    /// until it is mapped; this table pins the chosen codes.
    #[test]
    fn every_domain_error_has_its_s3_code_and_status() {
        let s = || "x".to_string();
        let cases: Vec<(Error, &str, u16)> = vec![
            (Error::InvalidArgument(s()), "InvalidArgument", 400),
            (Error::NotFound(s()), "NoSuchResource", 404),
            (Error::AlreadyExists(s()), "Conflict", 409),
            (Error::PermissionDenied(s()), "AccessDenied", 403),
            (Error::Unauthenticated(s()), "InvalidAccessKeyId", 403),
            (Error::FailedPrecondition(s()), "InvalidRequest", 400),
            (Error::ResourceExhausted(s()), "TooManyBuckets", 400),
            (Error::Unimplemented(s()), "NotImplemented", 501),
            (Error::Internal(s()), "InternalError", 500),
            (Error::NoSuchBucket, "NoSuchBucket", 404),
            (Error::NoSuchKey, "NoSuchKey", 404),
            (Error::NoSuchUpload, "NoSuchUpload", 404),
            (Error::NoSuchVersion, "NoSuchVersion", 404),
            (
                Error::NoSuchLifecycleConfiguration,
                "NoSuchLifecycleConfiguration",
                404,
            ),
            (
                Error::DeleteMarker {
                    version_id: "null".into(),
                    by_id: true,
                },
                "MethodNotAllowed",
                405,
            ),
            (
                Error::DeleteMarker {
                    version_id: "null".into(),
                    by_id: false,
                },
                "NoSuchKey",
                404,
            ),
            (Error::BucketNotEmpty, "BucketNotEmpty", 409),
            (Error::InvalidBucketState(s()), "InvalidBucketState", 409),
            (Error::BucketAlreadyExists, "BucketAlreadyExists", 409),
            (
                Error::BucketAlreadyOwnedByYou,
                "BucketAlreadyOwnedByYou",
                409,
            ),
            (Error::InvalidBucketName(s()), "InvalidBucketName", 400),
            (Error::InvalidPart(s()), "InvalidPart", 400),
            (Error::InvalidPartOrder, "InvalidPartOrder", 400),
            (Error::EntityTooSmall, "EntityTooSmall", 400),
            (Error::EntityTooLarge, "EntityTooLarge", 400),
            (Error::BadDigest, "BadDigest", 400),
            (Error::InvalidDigest, "InvalidDigest", 400),
            (Error::ChecksumMismatch("CRC32".into()), "BadDigest", 400),
            (Error::PreconditionFailed, "PreconditionFailed", 412),
            (
                Error::NotModified {
                    etag: "\"e\"".into(),
                },
                "NotModified",
                304,
            ),
            (
                Error::ConditionalRequestConflict,
                "ConditionalRequestConflict",
                409,
            ),
            (Error::InvalidRange, "InvalidRange", 416),
            (Error::InvalidPartNumber, "InvalidPartNumber", 416),
            (Error::QuotaExceeded(s()), "QuotaExceeded", 403),
            (
                Error::InvalidLocationConstraint(s()),
                "InvalidLocationConstraint",
                400,
            ),
            (Error::KeyTooLong, "KeyTooLongError", 400),
            (Error::MetadataTooLarge, "MetadataTooLarge", 400),
            (Error::InsufficientStorage(s()), "InsufficientStorage", 507),
            (Error::IncompleteBody, "IncompleteBody", 400),
        ];
        for (err, code, status) in cases {
            let e = to_s3(err.clone(), "RID");
            assert_eq!(e.code().as_str(), code, "{err:?}");
            assert_eq!(e.status_code().map(|s| s.as_u16()), Some(status), "{err:?}");
            assert_eq!(e.request_id(), Some("RID"));
            assert_eq!(
                e.headers().and_then(|h| h.get(REQUEST_ID_HEADER)).unwrap(),
                "RID"
            );
        }
    }

    #[test]
    fn internal_detail_is_not_shown() {
        let e = to_s3(
            Error::Internal("sqlite: disk I/O error at /secret".into()),
            "R",
        );
        assert!(!e.message().unwrap().contains("secret"));
        assert_eq!(e.code(), &S3ErrorCode::InternalError);
    }

    #[test]
    fn checksum_message_names_the_algorithm() {
        let e = to_s3(Error::ChecksumMismatch("CRC32".into()), "R");
        assert!(e.message().unwrap().contains("CRC32"), "{:?}", e.message());
    }
}
