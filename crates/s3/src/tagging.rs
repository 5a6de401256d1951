//! Object and bucket tagging: Put/Get/DeleteObjectTagging, Put/Get/DeleteBucketTagging,
//! and the tag-set rules shared with the `x-amz-tagging` header of PutObject/CopyObject.
//!
//! Rules (as S3): ≤ 10 object tags / ≤ 50 bucket tags (more → 400 `BadRequest`), keys
//! 1..=128 and values ≤ 256 Unicode characters of letters, digits, white space and
//! `+ - = . _ : / @`, unique keys, no `aws:` prefix (→ 400 `InvalidTag`). An empty
//! bucket tag set is the same as none (`NoSuchTagSet`). Object tags live in the object
//! record (`ObjectRecord::tags`), bucket tags in the bucket record's subresources; both
//! are replaced atomically by the metadata store without touching anything else.

use crate::access::caller_of;
use crate::errors::{s3, to_s3};
use crate::gateway::{Gateway, ok};
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use std::collections::BTreeMap;

// The tag-set rules moved to `tag_set` (the `x-amz-tagging` header parser in `wire`
// needs them too); re-exported under their old paths.
pub use crate::tag_set::{MAX_BUCKET_TAGS, MAX_OBJECT_TAGS, TagError, validate_tag_set};

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
            .object_record(&input.bucket, &input.key, None)
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
        self.edit_owned_bucket(caller, &input.bucket, move |b| {
            b.subresources.tags = tags;
            Ok(())
        })
        .await?;
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
        self.edit_owned_bucket(caller, &req.input.bucket, |b| {
            b.subresources.tags = None;
            Ok(())
        })
        .await?;
        let mut r = ok(DeleteBucketTaggingOutput::default(), caller);
        r.status = Some(StatusCode::NO_CONTENT);
        Ok(r)
    }
}
