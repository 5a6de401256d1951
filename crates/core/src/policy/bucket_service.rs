//! `BucketPolicyService`: the only writer of bucket policies. It keeps the bucket record
//! in the `MetaStore` (source of truth: `Bucket::policy`, the text as the client sent it)
//! and the engine's compiled-policy cache in step.
//!
//! Invariants:
//! * A policy text reaches the store only after [`BucketPolicy::parse`] accepted it for
//!   that bucket; a rejected policy changes nothing (no store write, no cache change).
//! * The cache is updated only after the store commit succeeded. Readers validate cache
//!   entries against the record's text (see `engine`), so a failed or concurrent write
//!   can leave at most an unused entry, never a wrong decision.
//! * A public policy (`BucketPolicy::is_public`) is refused while the bucket's Public
//!   Access Block sets `BlockPublicPolicy`, checked in the same transaction as the write.
//! * The policy is written with `MetaStore::edit_bucket`, which edits only that field
//!   inside the store's transaction: a concurrent settings, lifecycle, CORS or tagging
//!   change of the same bucket is never lost, nor does it undo the policy.

use std::sync::Arc;

use super::bucket::{BucketPolicy, BucketPolicyError};
use super::engine::PolicyEngine;
use crate::error::{Error, Result};
use crate::meta::MetaStore;
use crate::model::Bucket;

/// Why `PutBucketPolicy` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutBucketPolicyError {
    /// The document was rejected (S3 `MalformedPolicy`, 400).
    #[error("{0}")]
    Malformed(BucketPolicyError),
    /// The bucket is missing or the store failed.
    #[error(transparent)]
    Store(Error),
}

pub struct BucketPolicyService {
    meta: Arc<dyn MetaStore>,
    engine: Arc<PolicyEngine>,
}

impl BucketPolicyService {
    pub fn new(meta: Arc<dyn MetaStore>, engine: Arc<PolicyEngine>) -> Self {
        Self { meta, engine }
    }

    pub fn engine(&self) -> &Arc<PolicyEngine> {
        &self.engine
    }

    async fn bucket(&self, name: &str) -> Result<Bucket> {
        self.meta.get_bucket(name).await?.ok_or(Error::NoSuchBucket)
    }

    /// Validates `json` for `bucket`, stores it verbatim and caches its compiled form.
    /// `owner` is the org the caller was authorized against: if the name now belongs to
    /// another org (deleted and re-created since), the edit fails with `NoSuchBucket`.
    pub async fn put(
        &self,
        bucket: &str,
        owner: &str,
        json: &str,
    ) -> Result<(), PutBucketPolicyError> {
        let compiled =
            BucketPolicy::parse(bucket, json).map_err(PutBucketPolicyError::Malformed)?;
        let (text, owner, public) = (json.to_owned(), owner.to_owned(), compiled.is_public());
        self.meta
            .edit_bucket(
                bucket,
                Box::new(move |b| {
                    owned_by(b, &owner)?;
                    // Inside the edit: a concurrent PutPublicAccessBlock is seen.
                    if public
                        && b.subresources
                            .public_access_block
                            .is_some_and(|p| p.block_public_policy)
                    {
                        return Err(Error::PermissionDenied(
                            "The bucket's Public Access Block (BlockPublicPolicy) refuses a public bucket policy"
                                .into(),
                        ));
                    }
                    b.policy = Some(text);
                    Ok(())
                }),
            )
            .await
            .map_err(PutBucketPolicyError::Store)?;
        self.engine
            .store_bucket_policy(bucket, json, Arc::new(compiled));
        Ok(())
    }

    /// The stored policy text; `Ok(None)` when the bucket has none.
    pub async fn get(&self, bucket: &str) -> Result<Option<String>> {
        Ok(self.bucket(bucket).await?.policy)
    }

    /// Removes the policy (succeeds when there is none, like S3); `owner` as for `put`.
    pub async fn delete(&self, bucket: &str, owner: &str) -> Result<()> {
        let owner = owner.to_owned();
        self.meta
            .edit_bucket(
                bucket,
                Box::new(move |b| {
                    owned_by(b, &owner)?;
                    b.policy = None;
                    Ok(())
                }),
            )
            .await?;
        self.engine.forget_bucket_policy(bucket);
        Ok(())
    }

    /// The compiled policy of a bucket record just read from the store (cached).
    pub fn compiled(
        &self,
        bucket: &Bucket,
    ) -> Result<Option<Arc<BucketPolicy>>, BucketPolicyError> {
        self.engine
            .bucket_policy(&bucket.name, bucket.policy.as_deref())
    }
}

/// `NoSuchBucket` unless `bucket` belongs to `owner`: an edit checked against one org's
/// bucket must not land on another org's bucket of the same name.
pub fn owned_by(bucket: &Bucket, owner: &str) -> Result<()> {
    if bucket.org_id == owner {
        Ok(())
    } else {
        Err(Error::NoSuchBucket)
    }
}
