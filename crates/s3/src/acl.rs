//! S3 ACL operations (SPEC §9), on the model of `coffer_core::acl`.
//!
//! GetBucketAcl and GetObjectAcl: while a bucket's Object Ownership is
//! `BucketOwnerEnforced` (the default) ACLs are disabled, and both answer what S3 answers
//! then: the bucket owner, with FULL_CONTROL, whatever ACL was stored before. Otherwise
//! the stored ACL (absent: `private` for the resource's owner).
//!
//! PutBucketAcl and PutObjectAcl take a canned ACL, `x-amz-grant-*` headers or an
//! `AccessControlPolicy` body (exactly one). Checks, in order: the request's form and
//! every grantee (400), then, with ACLs disabled, S3's rule: an ACL that gives the bucket
//! owner full control and nobody anything (`private`, `bucket-owner-full-control`) is
//! accepted and changes nothing; any other is 400 `AccessControlListNotSupported`.
//! Storing ACLs comes with the ownership controls that enable them; until then a bucket
//! with ACLs enabled cannot exist, and the path answers `NotImplemented`.
//!
//! The owner and a canonical-user grantee are orgs: `ID` and `DisplayName` are the org
//! id (a grant to one principal names it by its ARN). Grants come in the normalised order
//! of `coffer_core::acl::Acl`.

use crate::access::{Caller, caller_of};
use crate::errors::{s3, to_s3};
use crate::gateway::{
    Gateway, acl_request, acls_enabled_not_yet, block_public_acls, enforced_rule, ok, owner,
};
use coffer_core::acl::{Acl, ObjectOwnership as Ownership};
use coffer_core::model::Bucket;
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The ACL that decides, with its owner: the stored one while ACLs are enabled, the
/// owner's FULL_CONTROL otherwise or when none was stored.
fn effective(bucket: &Bucket, owner: &str, stored: Option<&Acl>) -> Acl {
    match stored {
        Some(acl) if Ownership::acls_enabled(bucket.subresources.ownership) => acl.clone(),
        _ => Acl::private(owner),
    }
}

fn grants_out(acl: &Acl) -> Grants {
    acl.grants()
        .iter()
        .map(|g| Grant {
            grantee: Some(match g.grantee.uri() {
                Some(uri) => Grantee {
                    display_name: None,
                    email_address: None,
                    id: None,
                    type_: Type::from_static(Type::GROUP),
                    uri: Some(uri.to_string()),
                },
                None => {
                    let id = g.grantee.id();
                    Grantee {
                        display_name: id.clone(),
                        email_address: None,
                        id,
                        type_: Type::from_static(Type::CANONICAL_USER),
                        uri: None,
                    }
                }
            }),
            permission: Some(Permission::from(g.permission.as_str().to_string())),
        })
        .collect()
}

/// The owner of an object: its recorded owner while ACLs are enabled, else (and by
/// default) the bucket's.
pub(crate) fn object_owner<'a>(bucket: &'a Bucket, recorded: Option<&'a str>) -> &'a str {
    match recorded {
        Some(o) if Ownership::acls_enabled(bucket.subresources.ownership) => o,
        _ => &bucket.org_id,
    }
}

/// What PutBucketAcl and PutObjectAcl check once the ACL asked for is valid:
/// `BlockPublicAcls` (403), then the ownership. With ACLs disabled, "setting" the ACL the
/// resource already has (the bucket owner's full control) is a no-op S3 clients send,
/// accepted from the bucket owner's org only: from anyone else it is 400
/// `AccessControlListNotSupported`, as S3 answers every ACL change then.
fn put_acl_rules(caller: &Caller, b: &Bucket, asked: &Acl, rid: &str) -> S3Result<()> {
    block_public_acls(b, asked, rid)?;
    if Ownership::acls_enabled(b.subresources.ownership) {
        return Err(acls_enabled_not_yet(rid));
    }
    if caller.org_id() != b.org_id {
        return Err(s3(
            S3ErrorCode::AccessControlListNotSupported,
            "The bucket does not allow ACLs",
            rid,
        ));
    }
    enforced_rule(asked, &b.org_id, rid)
}

fn missing_acl(rid: &str) -> S3Error {
    s3(
        S3ErrorCode::MissingSecurityHeader,
        "Your request was missing a required header: a canned ACL (x-amz-acl), \
         x-amz-grant-* headers or an AccessControlPolicy body",
        rid,
    )
}

impl Gateway {
    pub(crate) async fn do_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self.bucket_of(caller, &req.input.bucket).await?;
        let acl = effective(&b, &b.org_id, b.subresources.acl.as_ref());
        Ok(ok(
            GetBucketAclOutput {
                grants: Some(grants_out(&acl)),
                owner: Some(owner(&b.org_id)),
            },
            caller,
        ))
    }

    pub(crate) async fn do_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let b = self.bucket_of(caller, &input.bucket).await?;
        let asked = acl_request!(input, input.access_control_policy.as_ref())
            .acl(&b.org_id, &b.org_id, false, rid)?
            .ok_or_else(|| missing_acl(rid))?;
        put_acl_rules(caller, &b, &asked, rid)?;
        Ok(ok(PutBucketAclOutput::default(), caller))
    }

    pub(crate) async fn do_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let b = self.bucket_of(caller, &input.bucket).await?;
        let rec = self
            .objects
            .object_record(&input.bucket, &input.key, input.version_id.as_deref())
            .await
            .map_err(|e| to_s3(e, rid))?;
        let owner_org = object_owner(&b, rec.owner_org.as_deref());
        let asked = acl_request!(input, input.access_control_policy.as_ref())
            .acl(owner_org, &b.org_id, true, rid)?
            .ok_or_else(|| missing_acl(rid))?;
        put_acl_rules(caller, &b, &asked, rid)?;
        Ok(ok(
            PutObjectAclOutput {
                request_charged: None,
            },
            caller,
        ))
    }

    pub(crate) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let b = self.bucket_of(caller, &input.bucket).await?;
        let rec = self
            .objects
            .object_record(&input.bucket, &input.key, input.version_id.as_deref())
            .await
            .map_err(|e| to_s3(e, rid))?;
        let owner_org = object_owner(&b, rec.owner_org.as_deref());
        let acl = effective(&b, owner_org, rec.acl.as_ref());
        Ok(ok(
            GetObjectAclOutput {
                grants: Some(grants_out(&acl)),
                owner: Some(owner(owner_org)),
                request_charged: None,
            },
            caller,
        ))
    }

    pub(crate) async fn do_get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self.bucket_of(caller, &req.input.bucket).await?;
        let Some(o) = b.subresources.ownership else {
            return Err(s3(
                S3ErrorCode::OwnershipControlsNotFoundError,
                "The bucket ownership controls were not found",
                caller.request_id(),
            ));
        };
        Ok(ok(
            GetBucketOwnershipControlsOutput {
                ownership_controls: Some(OwnershipControls {
                    rules: vec![OwnershipControlsRule {
                        object_ownership: ObjectOwnership::from(o.as_str().to_string()),
                    }],
                }),
            },
            caller,
        ))
    }

    /// Exactly one rule. `BucketOwnerEnforced` is refused with
    /// `InvalidBucketAclWithObjectOwnership` while the bucket's ACL gives anyone but the
    /// owner anything (checked in the edit's transaction). The settings that enable ACLs
    /// answer `NotImplemented` until ACLs can be stored and evaluated.
    pub(crate) async fn do_put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let [rule] = input.ownership_controls.rules.as_slice() else {
            return Err(s3(
                S3ErrorCode::MalformedXML,
                "OwnershipControls must hold exactly one Rule",
                rid,
            ));
        };
        let wanted = Ownership::parse(rule.object_ownership.as_str()).ok_or_else(|| {
            s3(
                S3ErrorCode::MalformedXML,
                format!(
                    "Invalid ObjectOwnership {:?}",
                    rule.object_ownership.as_str()
                ),
                rid,
            )
        })?;
        if Ownership::acls_enabled(Some(wanted)) {
            return Err(acls_enabled_not_yet(rid));
        }
        let conflict = Arc::new(AtomicBool::new(false));
        let seen = conflict.clone();
        let edited = self
            .edit_owned_bucket(caller, &input.bucket, move |b| {
                if b.subresources
                    .acl
                    .as_ref()
                    .is_some_and(|a| !a.is_owner_only(&b.org_id))
                {
                    seen.store(true, Ordering::Relaxed);
                    return Err(coffer_core::Error::FailedPrecondition(String::new()));
                }
                b.subresources.ownership = Some(wanted);
                Ok(())
            })
            .await;
        if conflict.load(Ordering::Relaxed) {
            return Err(s3(
                S3ErrorCode::InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
                rid,
            ));
        }
        edited?;
        Ok(ok(PutBucketOwnershipControlsOutput::default(), caller))
    }

    /// Deleting the controls leaves a bucket that behaves as `ObjectWriter` (ACLs
    /// enabled, as on S3): refused like the settings that enable ACLs, for now.
    pub(crate) async fn do_delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let b = self.bucket_of(caller, &req.input.bucket).await?;
        if b.subresources.ownership.is_none() {
            let mut r = ok(DeleteBucketOwnershipControlsOutput::default(), caller);
            r.status = Some(StatusCode::NO_CONTENT);
            return Ok(r);
        }
        Err(acls_enabled_not_yet(rid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::acl::{Grantee as CoreGrantee, canned};

    #[test]
    fn grants_render_as_s3_grantees() {
        let acl = canned("public-read", "abc123", "abc123", false).unwrap();
        let g = grants_out(&acl);
        assert_eq!(g.len(), 2);
        let group = g[0].grantee.as_ref().unwrap();
        assert_eq!(group.type_.as_str(), Type::GROUP);
        assert_eq!(group.uri.as_deref(), Some(coffer_core::acl::ALL_USERS_URI));
        assert!(group.id.is_none() && group.display_name.is_none());
        assert_eq!(g[0].permission.as_ref().unwrap().as_str(), "READ");
        let user = g[1].grantee.as_ref().unwrap();
        assert_eq!(user.type_.as_str(), Type::CANONICAL_USER);
        assert_eq!(user.id.as_deref(), Some("abc123"));
        assert_eq!(g[1].permission.as_ref().unwrap().as_str(), "FULL_CONTROL");
        let p = CoreGrantee::Principal {
            org: "abc123".into(),
            principal: "coreweave/u1".into(),
        };
        assert_eq!(p.id().as_deref(), Some("arn:aws:iam::abc123:coreweave/u1"));
    }
}
