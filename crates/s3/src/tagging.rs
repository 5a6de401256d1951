//! Object and bucket tagging: Put/Get/DeleteObjectTagging, Put/Get/DeleteBucketTagging,
//! and the tag-set rules shared with the `x-amz-tagging` header of PutObject/CopyObject.
//!
//! Rules (as S3): ≤ 10 object tags / ≤ 50 bucket tags (more → 400 `BadRequest`), keys
//! 1..=128 and values ≤ 256 Unicode characters of letters, digits, white space and
//! `+ - = . _ : / @`, unique keys, no `aws:` prefix (→ 400 `InvalidTag`). An empty
//! bucket tag set is the same as none (`NoSuchTagSet`). Object tags live in the object
//! record (`ObjectRecord::tags`), bucket tags in the bucket record's subresources; both
//! are replaced atomically by the metadata store without touching anything else.

use crate::access::{Caller, caller_of};
use crate::actions::S3_PUT_OBJECT_TAGGING;
use crate::errors::{s3, to_s3};
use crate::gateway::{Gateway, ok};
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use std::collections::BTreeMap;

pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// Why a tag set was refused: the S3 code (`InvalidTag` or `BadRequest`) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagError {
    pub bad_request: bool,
    pub message: String,
}

impl TagError {
    fn invalid(m: impl Into<String>) -> Self {
        Self {
            bad_request: false,
            message: m.into(),
        }
    }

    pub fn into_s3(self, rid: &str) -> S3Error {
        if self.bad_request {
            let mut e = s3(S3ErrorCode::Custom("BadRequest".into()), self.message, rid);
            e.set_status_code(StatusCode::BAD_REQUEST);
            e
        } else {
            s3(S3ErrorCode::InvalidTag, self.message, rid)
        }
    }
}

fn allowed_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "+-=._:/@".contains(c)
}

/// Validates a tag set given as (key, value) pairs in request order; `max` is 10 for
/// objects and 50 for buckets.
pub fn validate_tag_set(
    pairs: impl IntoIterator<Item = (String, String)>,
    max: usize,
    what: &str,
) -> Result<BTreeMap<String, String>, TagError> {
    let mut tags = BTreeMap::new();
    for (k, v) in pairs {
        if k.is_empty() || k.chars().count() > MAX_KEY_CHARS || !k.chars().all(allowed_char) {
            return Err(TagError::invalid("The TagKey you have provided is invalid"));
        }
        // `get`, not `[..4]`: byte 4 may fall inside a multi-byte character (a fuzz
        // finding: `x-amz-tagging: k1Ï0=v` panicked the request).
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(TagError::invalid(
                "Your TagKey cannot be prefixed with aws:",
            ));
        }
        if v.chars().count() > MAX_VALUE_CHARS || !v.chars().all(allowed_char) {
            return Err(TagError::invalid(
                "The TagValue you have provided is invalid",
            ));
        }
        if tags.insert(k, v).is_some() {
            return Err(TagError::invalid(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    if tags.len() > max {
        return Err(TagError {
            bad_request: true,
            message: format!("{what} tags cannot be greater than {max}"),
        });
    }
    Ok(tags)
}

/// Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn from_dto(
    t: Tagging,
    max: usize,
    what: &str,
    rid: &str,
) -> S3Result<BTreeMap<String, String>> {
    let mut pairs = Vec::with_capacity(t.tag_set.len());
    for tag in t.tag_set {
        match (tag.key, tag.value) {
            (Some(k), Some(v)) => pairs.push((k, v)),
            _ => {
                return Err(s3(
                    S3ErrorCode::MalformedXML,
                    "The XML you provided was not well-formed or did not validate against \
                     our published schema: each Tag needs a Key and a Value",
                    rid,
                ));
            }
        }
    }
    validate_tag_set(pairs, max, what).map_err(|e| e.into_s3(rid))
}

/// Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn to_dto(tags: &BTreeMap<String, String>) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn null_version(v: Option<&str>, rid: &str) -> S3Result<()> {
    match v {
        None | Some("null") => Ok(()),
        Some(_) => Err(s3(
            S3ErrorCode::InvalidArgument,
            "Invalid version id specified",
            rid,
        )),
    }
}

fn no_such_tag_set(rid: &str) -> S3Error {
    s3(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist", rid)
}

impl Gateway {
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

    pub(crate) async fn do_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        null_version(input.version_id.as_deref(), rid)?;
        let tags = from_dto(input.tagging, MAX_OBJECT_TAGS, "Object", rid)?;
        self.objects
            .set_object_tags(&input.bucket, &input.key, &tags)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(PutObjectTaggingOutput::default(), caller))
    }

    pub(crate) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        null_version(input.version_id.as_deref(), rid)?;
        let rec = self
            .objects
            .object_record(&input.bucket, &input.key)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(
            GetObjectTaggingOutput {
                tag_set: to_dto(&rec.tags),
                version_id: None,
            },
            caller,
        ))
    }

    pub(crate) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        null_version(input.version_id.as_deref(), rid)?;
        self.objects
            .set_object_tags(&input.bucket, &input.key, &BTreeMap::new())
            .await
            .map_err(|e| to_s3(e, rid))?;
        let mut r = ok(DeleteObjectTaggingOutput::default(), caller);
        r.status = Some(StatusCode::NO_CONTENT);
        Ok(r)
    }

    pub(crate) async fn do_put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let tags = from_dto(input.tagging, MAX_BUCKET_TAGS, "Bucket", rid)?;
        let tags = (!tags.is_empty()).then_some(tags);
        let owner = caller.bucket_owner().to_owned();
        self.objects
            .edit_bucket(
                &input.bucket,
                Box::new(move |b| {
                    coffer_core::policy::owned_by(b, &owner)?;
                    b.subresources.tags = tags;
                    Ok(())
                }),
            )
            .await
            .map_err(|e| to_s3(e, rid))?;
        let mut r = ok(PutBucketTaggingOutput::default(), caller);
        r.status = Some(StatusCode::NO_CONTENT);
        Ok(r)
    }

    pub(crate) async fn do_get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let b = self
            .objects
            .get_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?;
        match b.subresources.tags {
            Some(t) if !t.is_empty() => Ok(ok(
                GetBucketTaggingOutput {
                    tag_set: to_dto(&t),
                },
                caller,
            )),
            _ => Err(no_such_tag_set(rid)),
        }
    }

    pub(crate) async fn do_delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let owner = caller.bucket_owner().to_owned();
        self.objects
            .edit_bucket(
                &req.input.bucket,
                Box::new(move |b| {
                    coffer_core::policy::owned_by(b, &owner)?;
                    b.subresources.tags = None;
                    Ok(())
                }),
            )
            .await
            .map_err(|e| to_s3(e, rid))?;
        let mut r = ok(DeleteBucketTaggingOutput::default(), caller);
        r.status = Some(StatusCode::NO_CONTENT);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_rules() {
        let ok = validate_tag_set(p(&[("team", "blue"), ("a b", "x+y=z.@:/_-")]), 10, "Object");
        assert_eq!(ok.unwrap().len(), 2);
        // Unicode counts characters, not bytes.
        let k = "ü".repeat(128);
        let v = "é".repeat(256);
        assert!(validate_tag_set(vec![(k.clone(), v.clone())], 10, "Object").is_ok());
        for bad in [
            p(&[("", "v")]),
            p(&[("aws:x", "v")]),
            p(&[("AWS:x", "v")]),
            p(&[("k", "v"), ("k", "w")]),
            p(&[("k*", "v")]),
            p(&[("k", "v<")]),
            vec![(format!("{k}x"), "v".into())],
            vec![("k".into(), format!("{v}x"))],
        ] {
            let e = validate_tag_set(bad.clone(), 10, "Object").unwrap_err();
            assert!(!e.bad_request, "{bad:?}");
        }
        let eleven: Vec<_> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(
            validate_tag_set(eleven.clone(), 10, "Object")
                .unwrap_err()
                .bad_request
        );
        assert!(validate_tag_set(eleven, 50, "Bucket").is_ok());
        let many: Vec<_> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(
            validate_tag_set(many, 50, "Bucket")
                .unwrap_err()
                .bad_request
        );
    }
}
