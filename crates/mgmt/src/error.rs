//! `ApiError`: how handlers and extractors fail, and the one exhaustive mapping of
//! `coffer_core::Error` to gRPC codes and HTTP statuses (SPEC §2 "Errors").
//!
//! An `ApiError` does not render its own body: `into_response` yields the status plus a
//! [`PendingError`] extension, and the choke point ([`crate::choke`]) renders the JSON
//! body (it alone knows the request id that `Internal` messages carry) and logs once.

use axum::response::{IntoResponse, Response};
use coffer_api::code;
use coffer_core::Error;
use http::StatusCode;

#[derive(Debug, Clone)]
pub enum ApiError {
    /// A domain error; see [`classify`].
    Domain(Error),
    /// The path exists but not with this method (405, code Unimplemented).
    MethodNotAllowed,
    /// A dependency (the metadata store) does not answer (503, code Unavailable).
    Unavailable(String),
    /// A Connect request with a codec other than JSON (415, code InvalidArgument).
    UnsupportedMediaType(String),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Domain(e)
    }
}

impl From<coffer_core::policy::PolicyError> for ApiError {
    fn from(e: coffer_core::policy::PolicyError) -> Self {
        ApiError::Domain(e.into())
    }
}

impl ApiError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        ApiError::Domain(Error::InvalidArgument(msg.into()))
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        ApiError::Domain(Error::NotFound(msg.into()))
    }
    pub fn denied(msg: impl Into<String>) -> Self {
        ApiError::Domain(Error::PermissionDenied(msg.into()))
    }
    pub fn unauthenticated(msg: impl Into<String>) -> Self {
        ApiError::Domain(Error::Unauthenticated(msg.into()))
    }
}

/// Carried in response extensions from `into_response` to the choke point.
#[derive(Debug, Clone)]
pub struct PendingError(pub ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (_, status) = self.code_and_status();
        let mut r = status.into_response();
        r.extensions_mut().insert(PendingError(self));
        r
    }
}

/// How an error is shown to the client.
pub struct Rendered {
    pub code: i32,
    pub status: StatusCode,
    /// Safe to show: never internals.
    pub message: String,
    /// For the server log only (set for `Internal`).
    pub log_detail: Option<String>,
}

impl ApiError {
    pub fn code_and_status(&self) -> (i32, StatusCode) {
        match self {
            ApiError::Domain(e) => classify(e),
            ApiError::MethodNotAllowed => (code::UNIMPLEMENTED, StatusCode::METHOD_NOT_ALLOWED),
            ApiError::Unavailable(_) => (code::UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE),
            ApiError::UnsupportedMediaType(_) => {
                (code::INVALID_ARGUMENT, StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
        }
    }

    /// The client-facing message and the log detail. `request_id` goes into messages
    /// that hide internals, so a user can quote it and an operator can find the log line.
    /// The Connect form: code name and HTTP status from Connect's table, except for the
    /// protocol-level answers (405, 415) that keep their HTTP status.
    pub fn render_connect(&self, request_id: &str) -> (Rendered, &'static str) {
        let mut r = self.render(request_id);
        let name = coffer_api::connect::code_name(r.code);
        if !matches!(
            self,
            ApiError::MethodNotAllowed | ApiError::UnsupportedMediaType(_)
        ) {
            r.status = StatusCode::from_u16(coffer_api::connect::http_status(name))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        }
        (r, name)
    }

    pub fn render(&self, request_id: &str) -> Rendered {
        let (code, status) = self.code_and_status();
        let (message, log_detail) = match self {
            ApiError::Domain(Error::Internal(detail) | Error::Corrupted(detail)) => (
                format!("internal error (request id {request_id})"),
                Some(detail.clone()),
            ),
            ApiError::Domain(e) => (message_of(e), None),
            ApiError::MethodNotAllowed => ("method not allowed for this path".to_string(), None),
            ApiError::Unavailable(detail) => (
                format!("service unavailable (request id {request_id})"),
                Some(detail.clone()),
            ),
            ApiError::UnsupportedMediaType(m) => (m.clone(), None),
        };
        Rendered {
            code,
            status,
            message,
            log_detail,
        }
    }
}

/// gRPC code and HTTP status of a domain error. Exhaustive on purpose: a new variant in
/// `coffer_core::Error` must be mapped here before the crate compiles. S3-specific
/// conditions map to the generic code a gRPC service would use.
pub fn classify(e: &Error) -> (i32, StatusCode) {
    const INVALID: (i32, StatusCode) = (code::INVALID_ARGUMENT, StatusCode::BAD_REQUEST);
    const NOT_FOUND: (i32, StatusCode) = (code::NOT_FOUND, StatusCode::NOT_FOUND);
    const EXISTS: (i32, StatusCode) = (code::ALREADY_EXISTS, StatusCode::CONFLICT);
    const PRECONDITION: (i32, StatusCode) = (code::FAILED_PRECONDITION, StatusCode::BAD_REQUEST);
    const EXHAUSTED: (i32, StatusCode) = (code::RESOURCE_EXHAUSTED, StatusCode::TOO_MANY_REQUESTS);
    match e {
        Error::InvalidArgument(_) => INVALID,
        Error::NotFound(_) => NOT_FOUND,
        Error::AlreadyExists(_) => EXISTS,
        Error::PermissionDenied(_) => (code::PERMISSION_DENIED, StatusCode::FORBIDDEN),
        Error::Unauthenticated(_) => (code::UNAUTHENTICATED, StatusCode::UNAUTHORIZED),
        Error::FailedPrecondition(_) => PRECONDITION,
        Error::ResourceExhausted(_) => EXHAUSTED,
        Error::Unimplemented(_) => (code::UNIMPLEMENTED, StatusCode::NOT_IMPLEMENTED),
        // Stored bytes failed their integrity check (only object reads meet it).
        Error::Internal(_) | Error::Corrupted(_) => {
            (code::INTERNAL, StatusCode::INTERNAL_SERVER_ERROR)
        }
        Error::Unavailable(_) => (code::UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE),

        Error::NoSuchBucket
        | Error::NoSuchKey
        | Error::NoSuchUpload
        | Error::NoSuchVersion
        | Error::NoSuchLifecycleConfiguration
        | Error::DeleteMarker { .. } => NOT_FOUND,
        Error::BucketAlreadyExists | Error::BucketAlreadyOwnedByYou => EXISTS,
        Error::BucketNotEmpty
        | Error::InvalidBucketState(_)
        | Error::AclNotSupported { .. }
        | Error::PreconditionFailed
        | Error::NotModified { .. } => PRECONDITION,
        Error::ConditionalRequestConflict => (code::ABORTED, StatusCode::CONFLICT),
        Error::QuotaExceeded(_) | Error::InsufficientStorage(_) => EXHAUSTED,
        Error::InvalidBucketName(_)
        | Error::InvalidPart(_)
        | Error::InvalidPartOrder
        | Error::EntityTooSmall
        | Error::EntityTooLarge
        | Error::BadDigest
        | Error::InvalidDigest
        | Error::ChecksumMismatch(_)
        | Error::InvalidRange
        | Error::InvalidPartNumber
        | Error::InvalidLocationConstraint(_)
        | Error::KeyTooLong
        | Error::MetadataTooLarge
        | Error::IncompleteBody => INVALID,
    }
}

/// Client message: the bare text for the generic variants (their `Display` prefixes the
/// code name, which the body already carries as `code`), `Display` for the rest.
fn message_of(e: &Error) -> String {
    match e {
        Error::InvalidArgument(m)
        | Error::NotFound(m)
        | Error::AlreadyExists(m)
        | Error::PermissionDenied(m)
        | Error::Unauthenticated(m)
        | Error::FailedPrecondition(m)
        | Error::ResourceExhausted(m)
        | Error::Unimplemented(m)
        | Error::Unavailable(m) => m.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_hides_detail_and_carries_request_id() {
        let r = ApiError::Domain(Error::internal("sqlite: disk I/O error at /secret/path"))
            .render("req-123");
        assert_eq!(r.code, 13);
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.message.contains("req-123"));
        assert!(!r.message.contains("sqlite"));
        assert_eq!(
            r.log_detail.as_deref(),
            Some("sqlite: disk I/O error at /secret/path")
        );
    }

    /// For the codes SPEC §2 lists, the REST status equals Connect's.
    #[test]
    fn connect_rendering() {
        for e in [
            Error::InvalidArgument("m".into()),
            Error::FailedPrecondition("m".into()),
            Error::Unauthenticated("m".into()),
            Error::PermissionDenied("m".into()),
            Error::NotFound("m".into()),
            Error::AlreadyExists("m".into()),
            Error::ResourceExhausted("m".into()),
            Error::internal("m"),
            Error::Unimplemented("m".into()),
            Error::ConditionalRequestConflict,
        ] {
            let api = ApiError::Domain(e);
            let rest = api.render("r");
            let (connect, _) = api.render_connect("r");
            assert_eq!(rest.status, connect.status, "{api:?}");
            assert_eq!(rest.message, connect.message);
        }
        let (r, name) = ApiError::not_found("x").render_connect("r");
        assert_eq!((name, r.status.as_u16()), ("not_found", 404));
        let (r, name) = ApiError::MethodNotAllowed.render_connect("r");
        assert_eq!((name, r.status.as_u16()), ("unimplemented", 405));
        let (r, name) = ApiError::UnsupportedMediaType("x".into()).render_connect("r");
        assert_eq!((name, r.status.as_u16()), ("invalid_argument", 415));
    }

    #[test]
    fn s3_variants_map_to_generic_codes() {
        assert_eq!(classify(&Error::NoSuchBucket).0, 5);
        assert_eq!(classify(&Error::BucketAlreadyExists).0, 6);
        assert_eq!(classify(&Error::BucketNotEmpty).0, 9);
        assert_eq!(classify(&Error::QuotaExceeded("x".into())).0, 8);
        assert_eq!(classify(&Error::InvalidBucketName("x".into())).0, 3);
        assert_eq!(
            ApiError::invalid("durationSeconds is required")
                .render("r")
                .message,
            "durationSeconds is required"
        );
    }
}
