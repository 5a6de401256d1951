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

use crate::access::caller_of;
use crate::errors::{s3, to_s3};
use crate::gateway::{Gateway, ok, owner};
use coffer_core::acl::{self as core_acl, Acl, AclError, ObjectOwnership};
use coffer_core::model::Bucket;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use std::sync::Arc;

/// The S3 error of a refused ACL.
fn acl_error(e: AclError, rid: &str) -> S3Error {
    let code = match &e {
        AclError::Invalid(_) => S3ErrorCode::InvalidArgument,
        AclError::Malformed(_) => S3ErrorCode::MalformedACLError,
        AclError::UnresolvableEmail => S3ErrorCode::UnresolvableGrantByEmailAddress,
        AclError::Unsupported(_) => S3ErrorCode::NotImplemented,
    };
    s3(code, e.to_string(), rid)
}

/// The [`AclRequest`] of an s3s input with S3's ACL fields (`acl`, `grant_*`), with
/// `body` its `AccessControlPolicy` if it has one: the one place those fields are read.
macro_rules! acl_request {
    ($input:expr, $body:expr) => {
        AclRequest {
            canned: $input.acl.as_ref().map(|a| a.as_str()),
            grants: [
                $input.grant_read.as_deref(),
                $input.grant_write.as_deref(),
                $input.grant_read_acp.as_deref(),
                $input.grant_write_acp.as_deref(),
                $input.grant_full_control.as_deref(),
            ],
            body: $body,
        }
    };
}

/// What a request asks an ACL to be, in its three S3 forms (at most one may be used).
pub(crate) struct AclRequest<'a> {
    pub(crate) canned: Option<&'a str>,
    /// `x-amz-grant-read`, `-write`, `-read-acp`, `-write-acp`, `-full-control`.
    pub(crate) grants: [Option<&'a str>; 5],
    pub(crate) body: Option<&'a AccessControlPolicy>,
}

impl AclRequest<'_> {
    /// The ACL asked for, validated, with `owner` the resource's owner and
    /// `bucket_owner` the bucket's org; `None` when the request names none.
    pub(crate) fn acl(
        &self,
        owner: &str,
        bucket_owner: &str,
        for_object: bool,
        rid: &str,
    ) -> S3Result<Option<Acl>> {
        let headers = self.grants.iter().any(Option::is_some);
        let forms = usize::from(self.canned.is_some())
            + usize::from(headers)
            + usize::from(self.body.is_some());
        if forms > 1 {
            return Err(s3(
                S3ErrorCode::InvalidRequest,
                "Specify a canned ACL, x-amz-grant-* headers or an AccessControlPolicy body, \
                 not more than one of them",
                rid,
            ));
        }
        let acl = if let Some(name) = self.canned {
            core_acl::canned(name, owner, bucket_owner, for_object)
        } else if headers {
            let mut grants = Vec::new();
            for (p, v) in core_acl::Permission::ALL.into_iter().zip(self.grants) {
                if let Some(v) = v {
                    grants
                        .extend(core_acl::parse_grant_header(p, v).map_err(|e| acl_error(e, rid))?);
                }
            }
            Acl::new(grants)
        } else if let Some(body) = self.body {
            from_policy(body, owner)
        } else {
            return Ok(None);
        };
        acl.map(Some).map_err(|e| acl_error(e, rid))
    }
}

/// An `AccessControlPolicy` body. Its `Owner`, when given, must be the resource's owner.
fn from_policy(p: &AccessControlPolicy, owner: &str) -> Result<Acl, AclError> {
    if let Some(id) = p.owner.as_ref().and_then(|o| o.id.as_deref())
        && id != owner
    {
        return Err(AclError::Invalid(format!(
            "The Owner {id:?} is not the owner of the resource"
        )));
    }
    let mut grants = Vec::new();
    for g in p.grants.iter().flatten() {
        let (Some(who), Some(perm)) = (&g.grantee, &g.permission) else {
            return Err(AclError::Malformed(
                "a Grant needs a Grantee and a Permission".into(),
            ));
        };
        let permission = core_acl::Permission::parse(perm.as_str())
            .ok_or_else(|| AclError::Invalid(format!("Invalid permission {:?}", perm.as_str())))?;
        let grantee = match who.type_.as_str() {
            Type::CANONICAL_USER => {
                core_acl::Grantee::from_id(who.id.as_deref().ok_or_else(|| {
                    AclError::Malformed("a CanonicalUser grantee needs an ID".into())
                })?)?
            }
            Type::GROUP => core_acl::Grantee::from_uri(
                who.uri
                    .as_deref()
                    .ok_or_else(|| AclError::Malformed("a Group grantee needs a URI".into()))?,
            )?,
            Type::AMAZON_CUSTOMER_BY_EMAIL => return Err(AclError::UnresolvableEmail),
            other => return Err(AclError::Invalid(format!("Invalid grantee type {other:?}"))),
        };
        grants.push(core_acl::Grant {
            grantee,
            permission,
        });
    }
    Acl::new(grants)
}

/// S3's rule for a bucket with ACLs disabled: only an ACL equivalent to "the bucket
/// owner has full control" is accepted, and it changes nothing.
fn enforced_rule(acl: &Acl, bucket_owner: &str, rid: &str) -> S3Result<()> {
    if acl.is_owner_only(bucket_owner) {
        Ok(())
    } else {
        Err(s3(
            S3ErrorCode::AccessControlListNotSupported,
            "The bucket does not allow ACLs",
            rid,
        ))
    }
}

fn storing_not_yet(rid: &str) -> S3Error {
    s3(
        S3ErrorCode::NotImplemented,
        "Storing ACLs on a bucket with ACLs enabled is not supported yet",
        rid,
    )
}

/// The ACL that decides, with its owner: the stored one while ACLs are enabled, the
/// owner's FULL_CONTROL otherwise or when none was stored.
fn effective(bucket: &Bucket, owner: &str, stored: Option<&Acl>) -> Acl {
    match stored {
        Some(acl) if ObjectOwnership::acls_enabled(bucket.subresources.ownership) => acl.clone(),
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
        Some(o) if ObjectOwnership::acls_enabled(bucket.subresources.ownership) => o,
        _ => &bucket.org_id,
    }
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
    async fn bucket_of(&self, caller: &crate::access::Caller, name: &str) -> S3Result<Arc<Bucket>> {
        match caller.bucket_record(name) {
            Some(b) => Ok(b),
            None => self
                .objects
                .get_bucket(name)
                .await
                .map(Arc::new)
                .map_err(|e| to_s3(e, caller.request_id())),
        }
    }

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
        if ObjectOwnership::acls_enabled(b.subresources.ownership) {
            return Err(storing_not_yet(rid));
        }
        enforced_rule(&asked, &b.org_id, rid)?;
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
        if ObjectOwnership::acls_enabled(b.subresources.ownership) {
            return Err(storing_not_yet(rid));
        }
        enforced_rule(&asked, &b.org_id, rid)?;
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
