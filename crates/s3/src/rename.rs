//! RenameObject (`PUT /bucket/key?renameObject`, header `x-amz-rename-source`), which
//! s3s 0.14 does not know: it routes the request as a PutObject, the access hook
//! authorizes it as `RenameObject` (actions table: `s3:PutObject` on the destination,
//! `s3:GetObject` and `s3:DeleteObject` on the source) and `put_object` hands it here.
//!
//! Invariants:
//! * Only within one bucket, and only on buckets that were never versioned (the store
//!   answers `NotImplemented` otherwise, atomically with the rename).
//! * Every condition (destination `If-Match` / `If-None-Match: *`, source
//!   `x-amz-rename-source-if-*`) is evaluated by the store in the rename's transaction;
//!   a failed one is 412 and changes nothing.
//! * No body is accepted: a rename carrying content is refused, never stored.

use crate::access::Caller;
use crate::errors::{s3, to_s3};
use crate::gateway::{Gateway, ok};
use crate::request_line::same_bucket_source;
use coffer_core::model::RenameConditions;
use http::HeaderMap;
use s3s::S3ErrorCode;
use s3s::S3Result;
use s3s::dto::{PutObjectInput, PutObjectOutput, Timestamp, TimestampFormat};
use s3s::{S3Request, S3Response};
use time::OffsetDateTime;

fn http_date(headers: &HeaderMap, name: &str, rid: &str) -> S3Result<Option<OffsetDateTime>> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| Timestamp::parse(TimestampFormat::HttpDate, s.trim()).ok())
        .map(|t| Some(OffsetDateTime::from(t)))
        .ok_or_else(|| {
            s3(
                S3ErrorCode::InvalidArgument,
                format!("Invalid {name} header: expected an HTTP date"),
                rid,
            )
        })
}

fn etag_header(headers: &HeaderMap, name: &str, rid: &str) -> S3Result<Option<String>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            _ => Err(s3(
                S3ErrorCode::InvalidArgument,
                format!("Invalid {name} header"),
                rid,
            )),
        },
    }
}

/// The source conditions of a rename; the destination's are added by the caller.
pub fn source_conditions(headers: &HeaderMap, rid: &str) -> S3Result<RenameConditions> {
    Ok(RenameConditions {
        dest: Default::default(),
        source_if_match: etag_header(headers, "x-amz-rename-source-if-match", rid)?,
        source_if_none_match: etag_header(headers, "x-amz-rename-source-if-none-match", rid)?,
        source_if_modified_since: http_date(headers, "x-amz-rename-source-if-modified-since", rid)?,
        source_if_unmodified_since: http_date(
            headers,
            "x-amz-rename-source-if-unmodified-since",
            rid,
        )?,
    })
}

impl Gateway {
    /// RenameObject, authorized by the access hook. Answers 200 with an empty body.
    pub(crate) async fn rename_object(
        &self,
        caller: &Caller,
        req: &S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let rid = caller.request_id();
        let input = &req.input;
        if input.content_length.is_some_and(|n| n > 0) {
            return Err(s3(
                S3ErrorCode::InvalidRequest,
                "RenameObject does not take a request body",
                rid,
            ));
        }
        if req.headers.contains_key(http::header::IF_MODIFIED_SINCE)
            || req.headers.contains_key(http::header::IF_UNMODIFIED_SINCE)
        {
            return Err(s3(
                S3ErrorCode::NotImplemented,
                "RenameObject supports If-Match and If-None-Match: * on the destination; \
                 date conditions apply to the source only (x-amz-rename-source-if-*)",
                rid,
            ));
        }
        let src = same_bucket_source(&req.headers, &input.bucket, rid)?;
        let mut cond = source_conditions(&req.headers, rid)?;
        cond.dest = crate::gateway::raw_write_condition(&req.headers, rid)?;
        self.check_conditional_write(caller, &input.bucket, &input.key, &cond.dest)?;
        self.objects
            .rename_object(&input.bucket, &src, &input.key, cond)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(PutObjectOutput::default(), caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn conditions() {
        let c = source_conditions(
            &h(&[
                ("x-amz-rename-source-if-match", "\"abc\""),
                (
                    "x-amz-rename-source-if-unmodified-since",
                    "Wed, 21 Oct 2015 07:28:00 GMT",
                ),
            ]),
            "r",
        )
        .unwrap();
        assert_eq!(c.source_if_match.as_deref(), Some("\"abc\""));
        assert_eq!(
            c.source_if_unmodified_since.unwrap().unix_timestamp(),
            1_445_412_480
        );
        assert!(
            source_conditions(
                &h(&[("x-amz-rename-source-if-modified-since", "yesterday")]),
                "r"
            )
            .is_err()
        );
    }
}
