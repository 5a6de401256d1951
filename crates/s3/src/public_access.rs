//! Public Access Block (bucket level) and GetBucketPolicyStatus.
//!
//! The configuration is stored in the bucket's subresources; absent flags are `false`.
//! Where each flag takes effect:
//! * `BlockPublicAcls`: requests that set a public ACL are refused with 403
//!   (`gateway::block_public_acls`: object writes, PutBucketAcl, PutObjectAcl).
//! * `IgnorePublicAcls`: public grants are ignored where ACLs are evaluated; while ACLs
//!   are disabled (`BucketOwnerEnforced`) no grant is evaluated at all.
//! * `BlockPublicPolicy`: PutBucketPolicy refuses a public policy with 403
//!   (`BucketPolicyService::put`, in the write's transaction).
//! * `RestrictPublicBuckets`: a public policy's `Allow`s count only for the owner org
//!   (`coffer_core::policy::authorize`).
//!
//! Changing the configuration never rewrites existing policies or ACLs (as S3).
//! Put and Delete are org-only actions; Get is judged like any bucket action.

use crate::access::caller_of;
use crate::errors::{no_such_bucket_policy, s3_custom};
use crate::gateway::{Gateway, ok};
use coffer_core::acl::PublicAccessBlock;
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

impl Gateway {
    pub(crate) async fn do_put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let caller = caller_of(&req.extensions)?;
        let c = req.input.public_access_block_configuration;
        let pab = PublicAccessBlock {
            block_public_acls: c.block_public_acls.unwrap_or(false),
            ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
            block_public_policy: c.block_public_policy.unwrap_or(false),
            restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
        };
        self.edit_owned_bucket(caller, &req.input.bucket, move |b| {
            b.subresources.public_access_block = Some(pab);
            Ok(())
        })
        .await?;
        Ok(ok(PutPublicAccessBlockOutput::default(), caller))
    }

    pub(crate) async fn do_get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self.bucket_of(caller, &req.input.bucket).await?;
        let Some(p) = b.subresources.public_access_block else {
            return Err(s3_custom(
                "NoSuchPublicAccessBlockConfiguration",
                StatusCode::NOT_FOUND,
                "The public access block configuration was not found",
                caller.request_id(),
            ));
        };
        Ok(ok(
            GetPublicAccessBlockOutput {
                public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                    block_public_acls: Some(p.block_public_acls),
                    ignore_public_acls: Some(p.ignore_public_acls),
                    block_public_policy: Some(p.block_public_policy),
                    restrict_public_buckets: Some(p.restrict_public_buckets),
                }),
            },
            caller,
        ))
    }

    pub(crate) async fn do_delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        let caller = caller_of(&req.extensions)?;
        self.edit_owned_bucket(caller, &req.input.bucket, |b| {
            b.subresources.public_access_block = None;
            Ok(())
        })
        .await?;
        let mut r = ok(DeletePublicAccessBlockOutput::default(), caller);
        r.status = Some(StatusCode::NO_CONTENT);
        Ok(r)
    }

    /// `IsPublic` of the bucket policy, as S3: 404 `NoSuchBucketPolicy` without one
    /// (RGW answers `false`, and also counts public ACLs; S3 looks at the policy only). A
    /// stored policy that no longer compiles denies everything, so it is not public.
    pub(crate) async fn do_get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self.bucket_of(caller, &req.input.bucket).await?;
        let is_public = match self.authz.bucket_policies().compiled(&b) {
            Ok(Some(p)) => p.is_public(),
            Ok(None) => return Err(no_such_bucket_policy(caller.request_id())),
            Err(_) => false,
        };
        Ok(ok(
            GetBucketPolicyStatusOutput {
                policy_status: Some(PolicyStatus {
                    is_public: Some(is_public),
                }),
            },
            caller,
        ))
    }
}
