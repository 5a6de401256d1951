//! Bucket handlers: ListBuckets, CreateBucket, HeadBucket, GetBucketLocation,
//! DeleteBucket, and the bucket policy (Put/Get/Delete/GetBucketPolicyStatus; SPEC §3,
//! authorized by org policies only).

use crate::access::caller_of;
use crate::errors::{no_such_bucket_policy, s3, to_s3};
use crate::gateway::{Gateway, acl_request, invalid, non_empty, ok, owner, ts};
use crate::wire::{decode_token, encode_token};
use coffer_core::acl::ObjectOwnership as Ownership;
use coffer_core::policy::PutBucketPolicyError;
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

/// Base64 of the MD5 of `body` (the `Content-MD5` form).
fn base64_md5(body: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(coffer_core::checksum::md5_of(body))
}

/// Most buckets one ListBuckets page returns.
const MAX_BUCKETS_PAGE: i32 = 10_000;

impl Gateway {
    pub(crate) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let max = match input.max_buckets {
            None => MAX_BUCKETS_PAGE as usize,
            Some(n) if (1..=MAX_BUCKETS_PAGE).contains(&n) => n as usize,
            Some(_) => {
                return Err(invalid(
                    "max-buckets must be an integer between 1 and 10000",
                    rid,
                ));
            }
        };
        let after = match non_empty(input.continuation_token) {
            Some(t) => Some(
                decode_token(&t)
                    .ok_or_else(|| invalid("The continuation token provided is incorrect", rid))?,
            ),
            None => None,
        };
        let prefix = input.prefix.unwrap_or_default();
        let mut all = self
            .objects
            .list_buckets(caller.org_id())
            .await
            .map_err(|e| to_s3(e, rid))?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let mut page: Vec<_> = all
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
            .take(max + 1)
            .collect();
        let more = page.len() > max;
        page.truncate(max);
        let next = more.then(|| encode_token(&page[page.len() - 1].name));
        let buckets = page
            .into_iter()
            .map(|b| Bucket {
                bucket_region: Some(b.zone),
                creation_date: Some(ts(b.created)),
                name: Some(b.name),
            })
            .collect();
        Ok(ok(
            ListBucketsOutput {
                buckets: Some(buckets),
                continuation_token: next,
                owner: Some(owner(caller.org_id())),
                prefix: (!prefix.is_empty()).then_some(prefix),
            },
            caller,
        ))
    }

    pub(crate) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let ownership = match &input.object_ownership {
            Some(o) => Some(Ownership::parse(o.as_str()).ok_or_else(|| {
                invalid(
                    format!("Invalid x-amz-object-ownership {:?}", o.as_str()),
                    rid,
                )
            })?),
            None => None,
        };
        let acl = self
            .requested_acl(
                &acl_request!(input, None),
                caller.org_id(),
                caller.org_id(),
                false,
                rid,
            )
            .await?;
        let mut new = coffer_core::objects::NewBucket {
            object_lock: input.object_lock_enabled_for_bucket == Some(true),
            ownership,
            acl: None,
        };
        // With ACLs disabled an ACL is accepted only if it gives the creating org full
        // control and nobody anything, and nothing is stored (S3).
        if let Some(acl) = acl {
            if Ownership::acls_enabled(self.objects.ownership_of_new(&new)) {
                new.acl = Some(acl);
            } else if !acl.is_owner_only(caller.org_id()) {
                return Err(s3(
                    S3ErrorCode::InvalidBucketAclWithObjectOwnership,
                    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced \
                     setting",
                    rid,
                ));
            }
        }
        coffer_core::ids::validate_bucket_name(&input.bucket, false).map_err(|e| to_s3(e, rid))?;
        let location = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_string())
            .filter(|l| !l.is_empty());
        self.objects
            .create_bucket_with(caller.org_id(), &input.bucket, location.as_deref(), new)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(
            CreateBucketOutput {
                location: Some(format!("/{}", input.bucket)),
            },
            caller,
        ))
    }

    pub(crate) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self
            .objects
            .get_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, caller.request_id()))?;
        Ok(ok(
            HeadBucketOutput {
                bucket_region: Some(b.zone),
                ..Default::default()
            },
            caller,
        ))
    }

    pub(crate) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self
            .objects
            .get_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, caller.request_id()))?;
        Ok(ok(
            GetBucketLocationOutput {
                location_constraint: Some(BucketLocationConstraint::from(b.zone)),
            },
            caller,
        ))
    }

    pub(crate) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let caller = caller_of(&req.extensions)?;
        self.objects
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, caller.request_id()))?;
        self.authz.bucket_deleted(&req.input.bucket);
        Ok(ok(DeleteBucketOutput::default(), caller))
    }

    pub(crate) async fn do_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        // Content-MD5 of the body, when sent, must match (nothing is stored otherwise).
        if let Some(md5) = &input.content_md5 {
            let want = base64_md5(input.policy.as_bytes());
            if md5.trim() != want {
                return Err(s3(
                    S3ErrorCode::BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                    rid,
                ));
            }
        }
        match self
            .authz
            .bucket_policies()
            .put(&input.bucket, caller.bucket_owner(), &input.policy)
            .await
        {
            Ok(()) => Ok(ok(PutBucketPolicyOutput::default(), caller)),
            Err(PutBucketPolicyError::Malformed(e)) => {
                Err(s3(S3ErrorCode::MalformedPolicy, e.to_string(), rid))
            }
            Err(PutBucketPolicyError::Store(e)) => Err(to_s3(e, rid)),
        }
    }

    pub(crate) async fn do_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        match self
            .authz
            .bucket_policies()
            .get(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?
        {
            Some(policy) => Ok(ok(
                GetBucketPolicyOutput {
                    policy: Some(policy),
                },
                caller,
            )),
            None => Err(no_such_bucket_policy(rid)),
        }
    }

    pub(crate) async fn do_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let caller = caller_of(&req.extensions)?;
        self.authz
            .bucket_policies()
            .delete(&req.input.bucket, caller.bucket_owner())
            .await
            .map_err(|e| to_s3(e, caller.request_id()))?;
        Ok(ok(DeleteBucketPolicyOutput::default(), caller))
    }
}
