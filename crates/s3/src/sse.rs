//! The S3 headers of server-side encryption (`coffer_core::sse`): what a request asks
//! for, the SSE-C keys it carries, and what responses report.
//!
//! Invariants:
//! * SSE-C keys are accepted only on connections that arrived over TLS, unless the
//!   operator allowed plain HTTP (`--allow-insecure-ssec`, e.g. behind a TLS-terminating
//!   proxy): a key sent in the clear is refused before it is used, as S3 does.
//! * SSE-KMS is refused with `NotImplemented` (Coffer has no KMS); an inconsistent set of
//!   SSE headers is `InvalidArgument`, never silently ignored.

use crate::access::Caller;
use crate::errors::{invalid, s3};
use coffer_core::objects::ObjectService;
use coffer_core::sse::{AES256, CustomerKey, Encryption, SseWrite};
use s3s::dto::ServerSideEncryption;
use s3s::{S3ErrorCode, S3Result};

/// The three SSE-C headers of a request (or its three copy-source ones).
pub(crate) struct CustomerHeaders<'a> {
    pub algorithm: Option<&'a str>,
    pub key: Option<&'a str>,
    pub key_md5: Option<&'a str>,
}

/// The [`CustomerHeaders`] of an s3s input (`copy_source`: its copy-source ones): the one
/// place those fields are read.
macro_rules! customer_headers {
    ($input:expr) => {
        $crate::sse::CustomerHeaders {
            algorithm: $input.sse_customer_algorithm.as_deref(),
            key: $input.sse_customer_key.as_deref(),
            key_md5: $input.sse_customer_key_md5.as_deref(),
        }
    };
    (copy_source $input:expr) => {
        $crate::sse::CustomerHeaders {
            algorithm: $input.copy_source_sse_customer_algorithm.as_deref(),
            key: $input.copy_source_sse_customer_key.as_deref(),
            key_md5: $input.copy_source_sse_customer_key_md5.as_deref(),
        }
    };
}
pub(crate) use customer_headers;

/// The encryption an s3s write input (PutObject, CopyObject, CreateMultipartUpload) asks
/// for ([`sse_write`] on its SSE, SSE-KMS and SSE-C fields): the one place they are read.
macro_rules! write_encryption {
    ($objects:expr, $caller:expr, $input:expr, $rid:expr) => {
        $crate::sse::sse_write(
            $objects,
            $caller,
            $crate::sse::WriteHeaders {
                sse: $input.server_side_encryption.as_ref(),
                kms: $input.ssekms_key_id.is_some() || $input.ssekms_encryption_context.is_some(),
            },
            $crate::sse::customer_headers!($input),
            $rid,
        )
    };
}
pub(crate) use write_encryption;

/// What a write's `x-amz-server-side-encryption*` headers say besides SSE-C.
pub(crate) struct WriteHeaders<'a> {
    pub sse: Option<&'a ServerSideEncryption>,
    /// Any SSE-KMS header (key id, encryption context).
    pub kms: bool,
}

/// The SSE-C key of a request, if it sent one.
pub(crate) fn customer_key(
    objects: &ObjectService,
    caller: &Caller,
    h: CustomerHeaders<'_>,
    rid: &str,
) -> S3Result<Option<CustomerKey>> {
    let key = CustomerKey::from_headers(h.algorithm, h.key, h.key_md5)
        .map_err(|e| crate::errors::to_s3(e, rid))?;
    if key.is_some()
        && !caller.conn().is_some_and(|c| c.secure)
        && !objects.config().allow_insecure_ssec
    {
        return Err(s3(
            S3ErrorCode::InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
            rid,
        ));
    }
    Ok(key)
}

/// The encryption a write asks for.
pub(crate) fn sse_write(
    objects: &ObjectService,
    caller: &Caller,
    w: WriteHeaders<'_>,
    c: CustomerHeaders<'_>,
    rid: &str,
) -> S3Result<SseWrite> {
    let customer = customer_key(objects, caller, c, rid)?;
    let sse = w.sse.map(|s| s.as_str());
    if matches!(sse, Some("aws:kms" | "aws:kms:dsse")) {
        return Err(s3(
            S3ErrorCode::NotImplemented,
            "Server-side encryption with KMS keys (SSE-KMS) is not supported by this service",
            rid,
        ));
    }
    if w.kms {
        return Err(invalid(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
            rid,
        ));
    }
    match (sse, customer) {
        (Some(s), _) if s != AES256 => Err(invalid(
            "The encryption method specified is not supported",
            rid,
        )),
        (Some(_), Some(_)) => Err(invalid(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
            rid,
        )),
        (Some(_), None) => Ok(SseWrite::Managed),
        (None, Some(k)) => Ok(SseWrite::Customer(k)),
        (None, None) => Ok(SseWrite::Default),
    }
}

/// Whether a response may carry the checksums of data encrypted as `enc` (ListParts,
/// CompleteMultipartUpload): they are digests of the plaintext, so not for SSE-C data
/// without its key; a key that does not fit is refused.
pub(crate) fn checksums_visible(
    objects: &ObjectService,
    enc: Option<&Encryption>,
    key: Option<&CustomerKey>,
    rid: &str,
) -> S3Result<bool> {
    if key.is_some() {
        objects
            .check_sse_key(enc, key)
            .map_err(|e| crate::errors::to_s3(e, rid))?;
        return Ok(true);
    }
    Ok(!enc.is_some_and(Encryption::is_customer))
}

/// A read must not carry `x-amz-server-side-encryption` (S3: 400): the stored version
/// decides how it is decrypted.
pub(crate) fn refuse_on_read(headers: &http::HeaderMap, rid: &str) -> S3Result<()> {
    if headers.contains_key("x-amz-server-side-encryption") {
        return Err(invalid(
            "The x-amz-server-side-encryption header is not supported for this operation.",
            rid,
        ));
    }
    Ok(())
}

/// What a response reports about a version's encryption.
#[derive(Default)]
pub(crate) struct SseOut {
    pub sse: Option<ServerSideEncryption>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
}

impl SseOut {
    /// `key_md5`: the MD5 of the SSE-C key the request sent (echoed; Coffer keeps none).
    pub(crate) fn of(enc: Option<&Encryption>, key_md5: Option<&str>) -> SseOut {
        match enc {
            None => SseOut::default(),
            Some(Encryption::Managed { .. }) => SseOut::managed(),
            Some(Encryption::Customer { .. }) => SseOut::customer(key_md5.map(str::to_string)),
        }
    }

    fn managed() -> SseOut {
        SseOut {
            sse: Some(ServerSideEncryption::from(AES256.to_string())),
            ..Default::default()
        }
    }

    fn customer(key_md5: Option<String>) -> SseOut {
        SseOut {
            sse: None,
            customer_algorithm: Some(AES256.to_string()),
            customer_key_md5: key_md5,
        }
    }

    /// A part's: sealed under the upload's key, which is SSE-C when the request sent a
    /// key (the object service checked it against the upload's).
    pub(crate) fn of_part(sealed: bool, key_md5: Option<String>) -> SseOut {
        match key_md5 {
            Some(m) => SseOut::customer(Some(m)),
            None if sealed => SseOut::managed(),
            None => SseOut::default(),
        }
    }
}

/// The key MD5 a write's response echoes.
pub(crate) fn customer_md5(w: &SseWrite) -> Option<String> {
    match w {
        SseWrite::Customer(k) => Some(k.key_md5.clone()),
        _ => None,
    }
}
