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
//! With ACLs enabled the ACL is stored (the bucket's by `edit_bucket`, an object
//! version's by `edit_object`), after [`check_acl_change`] in the edit's transaction.
//!
//! The owner and a canonical-user grantee are orgs: `ID` and `DisplayName` are the org
//! id (a grant to one principal names it by its ARN). Grants come in the normalised order
//! of `coffer_core::acl::Acl`.

use crate::access::{Caller, caller_of};
use crate::errors::{s3, to_s3};
use crate::gateway::{
    Gateway, acl_request, block_public_acls, check_admitted, enforced_rule, ok, owner,
};
use coffer_core::acl::{Acl, ObjectOwnership as Ownership, check_acl_change, stored};
use coffer_core::meta::ObjectEdit;
use coffer_core::model::Bucket;
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use std::sync::Arc;

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
/// `BlockPublicAcls` (403), then the ownership. Returns whether the ACL is to be stored
/// (ACLs enabled; the edit re-checks [`check_acl_change`] in its transaction). With ACLs
/// disabled, "setting" the ACL the resource already has (the bucket owner's full
/// control) is a no-op S3 clients send, accepted from the bucket owner's org only: from
/// anyone else it is 400 `AccessControlListNotSupported`, as S3 answers every ACL change
/// then.
fn put_acl_rules(caller: &Caller, b: &Bucket, asked: &Acl, rid: &str) -> S3Result<bool> {
    block_public_acls(b, asked, rid)?;
    if Ownership::acls_enabled(b.subresources.ownership) {
        return Ok(true);
    }
    if caller.org_id() != b.org_id {
        return Err(s3(
            S3ErrorCode::AccessControlListNotSupported,
            "The bucket does not allow ACLs",
            rid,
        ));
    }
    enforced_rule(asked, &b.org_id, rid).map(|()| false)
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
        let asked = self
            .requested_acl(
                &acl_request!(input, input.access_control_policy.as_ref()),
                &b.org_id,
                &b.org_id,
                false,
                rid,
            )
            .await?
            .ok_or_else(|| missing_acl(rid))?;
        if put_acl_rules(caller, &b, &asked, rid)? {
            self.edit_owned_bucket(caller, &input.bucket, move |b| {
                check_acl_change(b, &asked)?;
                b.subresources.acl = stored(asked, &b.org_id);
                Ok(())
            })
            .await?;
        }
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
        let asked = self
            .requested_acl(
                &acl_request!(input, input.access_control_policy.as_ref()),
                owner_org,
                &b.org_id,
                true,
                rid,
            )
            .await?
            .ok_or_else(|| missing_acl(rid))?;
        if put_acl_rules(caller, &b, &asked, rid)? {
            // The bucket as it is now (the check above used the record the access check
            // read): ACLs still enabled, BlockPublicAcls not set meanwhile.
            let fresh = self
                .objects
                .get_bucket(&input.bucket)
                .await
                .map_err(|e| to_s3(e, rid))?;
            check_acl_change(&fresh, &asked).map_err(|e| to_s3(e, rid))?;
            let owner = rec.owner_org.clone();
            let version = rec.version_id.clone();
            let bucket_owner = b.org_id.clone();
            // The version edited must be the one the handler read (the ACL was expanded
            // for its owner) and, when the object's own ACL admitted the caller, the
            // one that ACL belongs to.
            let admitted = caller.admitted(&input.bucket, &input.key).cloned();
            let read = (rec.etag.clone(), rec.last_modified);
            let edit: ObjectEdit = Arc::new(move |r| {
                let same = r.owner_org == owner
                    && r.version_id == version
                    && (r.etag.clone(), r.last_modified) == read
                    && admitted.as_ref().is_none_or(|a| a.is(r));
                if !same {
                    return Err(coffer_core::Error::PermissionDenied(
                        "the object changed while the request was checked".into(),
                    ));
                }
                let o = r.owner_org.as_deref().unwrap_or(&bucket_owner);
                r.acl = stored(asked.clone(), o);
                Ok(())
            });
            self.objects
                .edit_object(
                    &input.bucket,
                    &input.key,
                    rec.version_id.as_deref().or(input.version_id.as_deref()),
                    edit,
                )
                .await
                .map_err(|e| to_s3(e, rid))?;
        }
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
        check_admitted(caller, &rec)?;
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
    /// owner anything (checked in the edit's transaction); object ACLs stay stored and
    /// count again if ACLs are enabled later, as on S3.
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
        self.edit_owned_bucket(caller, &input.bucket, move |b| {
            set_ownership(b, Some(wanted))
        })
        .await?;
        Ok(ok(PutBucketOwnershipControlsOutput::default(), caller))
    }

    /// Deleting the controls leaves a bucket that behaves as `ObjectWriter` (ACLs
    /// enabled), as on S3. 204 also when there were none.
    pub(crate) async fn do_delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let caller = caller_of(&req.extensions)?;
        self.edit_owned_bucket(caller, &req.input.bucket, |b| set_ownership(b, None))
            .await?;
        let mut r = ok(DeleteBucketOwnershipControlsOutput::default(), caller);
        r.status = Some(StatusCode::NO_CONTENT);
        Ok(r)
    }
}

/// Sets a bucket's Object Ownership: disabling ACLs is refused while the bucket's ACL
/// grants anyone but its owner anything (S3).
pub(crate) fn set_ownership(b: &mut Bucket, o: Option<Ownership>) -> coffer_core::Result<()> {
    if !Ownership::acls_enabled(o)
        && b.subresources
            .acl
            .as_ref()
            .is_some_and(|a| !a.is_owner_only(&b.org_id))
    {
        return Err(coffer_core::Error::AclNotSupported {
            message: "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced \
                      setting"
                .into(),
            disabling: true,
        });
    }
    b.subresources.ownership = o;
    Ok(())
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
