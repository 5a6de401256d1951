//! Request-level gates that close s3s 0.14's authentication gaps (DESIGN.md):
//! SigV2 is rejected and presigned URLs may live at most 7 days.
//!
//! [`precheck`] looks only at the request line and headers, so it can run before s3s
//! does any work ([`crate::http_service`]) and again in the access hook (for callers that
//! serve the bare `S3Service`).

use crate::wire::{percent_decode, query_pairs};
use http::HeaderMap;
use s3s::S3ErrorCode;

/// Longest presigned URL lifetime S3 accepts (7 days).
pub const MAX_PRESIGN_EXPIRES_SECS: u64 = 604_800;

/// Why a request was turned away before authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: S3ErrorCode,
    pub message: &'static str,
}

/// AWS's answer in SigV4-only regions.
pub const SIGV2_MESSAGE: &str =
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";

/// Rejects SigV2 (header or query) and presigned URLs whose `X-Amz-Expires` is not a
/// number of seconds in `0..=604800`.
pub fn precheck(query: Option<&str>, headers: &HeaderMap) -> Result<(), Rejection> {
    let sigv2 = || Rejection {
        code: S3ErrorCode::InvalidRequest,
        message: SIGV2_MESSAGE,
    };
    // Header auth: SigV4 is `AWS4-HMAC-SHA256 Credential=…`; SigV2 is `AWS <id>:<sig>`.
    for v in headers.get_all(http::header::AUTHORIZATION) {
        let v = v.as_bytes();
        if v.len() >= 4 && v[..4].eq_ignore_ascii_case(b"AWS ") {
            return Err(sigv2());
        }
    }
    let Some(q) = query else { return Ok(()) };
    let mut has_v4_signature = false;
    let mut has_v2_signature = false;
    let mut expires: Vec<String> = Vec::new();
    for (name, value) in query_pairs(q) {
        match name.as_str() {
            "AWSAccessKeyId" => return Err(sigv2()),
            "Signature" => has_v2_signature = true,
            "X-Amz-Signature" => has_v4_signature = true,
            "X-Amz-Expires" => expires.push(percent_decode(&value)),
            _ => {}
        }
    }
    // s3s checks a `Signature` query parameter as SigV2 before it looks for SigV4.
    if has_v2_signature {
        return Err(sigv2());
    }
    if has_v4_signature || !expires.is_empty() {
        let bad = |message| Rejection {
            code: S3ErrorCode::AuthorizationQueryParametersError,
            message,
        };
        match expires.as_slice() {
            [] => {}
            [one] => match one.parse::<u64>() {
                Ok(n) if n <= MAX_PRESIGN_EXPIRES_SECS => {}
                Ok(_) => {
                    return Err(bad(
                        "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                    ));
                }
                Err(_) => return Err(bad("X-Amz-Expires should be a number")),
            },
            _ => return Err(bad("X-Amz-Expires must appear only once")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hdr(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(auth).unwrap(),
        );
        h
    }

    #[test]
    fn sigv2_header_is_rejected() {
        let e = precheck(None, &hdr("AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidRequest);
        assert!(precheck(None, &hdr("aws x:y")).is_err());
    }

    #[test]
    fn sigv4_header_passes() {
        precheck(
            None,
            &hdr("AWS4-HMAC-SHA256 Credential=CW/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"),
        )
        .unwrap();
        precheck(None, &HeaderMap::new()).unwrap();
    }

    #[test]
    fn sigv2_query_is_rejected() {
        let h = HeaderMap::new();
        for q in [
            "AWSAccessKeyId=AK&Expires=1&Signature=abc",
            "Signature=abc",
            "x=1&AWSAccessKeyId=AK",
        ] {
            assert_eq!(
                precheck(Some(q), &h).unwrap_err().code,
                S3ErrorCode::InvalidRequest,
                "{q}"
            );
        }
    }

    #[test]
    fn presign_expiry_is_capped_at_seven_days() {
        let h = HeaderMap::new();
        let q = |e: &str| {
            format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={e}&X-Amz-Signature=00")
        };
        precheck(Some(&q("604800")), &h).unwrap();
        precheck(Some(&q("1")), &h).unwrap();
        for bad in ["604801", "99999999999", "-1", "abc", ""] {
            let e = precheck(Some(&q(bad)), &h).unwrap_err();
            assert_eq!(
                e.code,
                S3ErrorCode::AuthorizationQueryParametersError,
                "{bad}"
            );
        }
        let twice = "X-Amz-Expires=1&X-Amz-Expires=2&X-Amz-Signature=00";
        assert!(precheck(Some(twice), &h).is_err());
    }

    #[test]
    fn ordinary_queries_pass() {
        let h = HeaderMap::new();
        for q in [
            "list-type=2&prefix=a",
            "uploads",
            "partNumber=1&uploadId=x",
            "",
        ] {
            precheck(Some(q), &h).unwrap();
        }
    }
}
