//! S3 access control lists and Object Ownership (SPEC §9): the stored model, canned ACLs,
//! the `x-amz-grant-*` header syntax, and which actions an ACL permission grants. Pure:
//! no I/O, no HTTP. Whether a grantee org exists is the caller's question.
//!
//! Invariants:
//! * The canonical user id of S3 is the org id here: `Owner.ID` and a `CanonicalUser`
//!   grantee's `ID` name an org. A grant may also name one principal of an org, with
//!   the bucket-policy principal ARN `arn:aws:iam::<orgId>:coreweave/<uid>` (or
//!   `…:role/<name>`).
//! * An [`Acl`] holds at most [`MAX_GRANTS`] grants, no duplicates, in one normalised
//!   order ([`Acl::new`]): group grantees first (AllUsers, AuthenticatedUsers), then
//!   orgs, then principals; within each, READ, WRITE, READ_ACP, WRITE_ACP,
//!   FULL_CONTROL. Order carries no meaning.
//! * Stricter than S3: AllUsers and AuthenticatedUsers may hold READ and WRITE only,
//!   never an ACP permission or FULL_CONTROL (nobody outside the owner may rewrite who
//!   has access by being "everyone"). Email grantees and the LogDelivery group are
//!   refused.

use serde::{Deserialize, Serialize};

/// Why an ACL was refused, with the S3 error it is answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// 400 `InvalidArgument`: an unknown grantee form, canned ACL or permission.
    #[error("{0}")]
    Invalid(String),
    /// 400 `MalformedACLError`: too many grants, a grantee missing its field.
    #[error("{0}")]
    Malformed(String),
    /// 400 `UnresolvableGrantByEmailAddress`: this service has no e-mail identities.
    #[error("the e-mail address you provided does not match any account on record")]
    UnresolvableEmail,
    /// 501 `NotImplemented`: a grantee this service does not have.
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T, E = AclError> = std::result::Result<T, E>;

impl From<AclError> for crate::Error {
    fn from(e: AclError) -> Self {
        match e {
            AclError::Unsupported(m) => crate::Error::Unimplemented(m),
            e => crate::Error::invalid(e.to_string()),
        }
    }
}

/// Most grants one ACL holds (S3's limit).
pub const MAX_GRANTS: usize = 100;
/// The canned ACL an object writer sends to give the bucket owner full control.
pub const BUCKET_OWNER_FULL_CONTROL: &str = "bucket-owner-full-control";
/// `URI` of the AllUsers group (anyone, anonymous included).
pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// `URI` of the AuthenticatedUsers group (any signed request, from any org).
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// `URI` of the LogDelivery group, which this service does not have.
const LOG_DELIVERY_URI: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// S3 Object Ownership of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs disabled; the bucket owner owns every object (the default).
    BucketOwnerEnforced,
    /// ACLs enabled; an object written with `bucket-owner-full-control` becomes the
    /// bucket owner's, any other the writer's.
    BucketOwnerPreferred,
    /// ACLs enabled; the writer owns the object.
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    /// The wire name, exactly (S3's values are case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// Whether ACLs take part in access decisions. A bucket without ownership controls
    /// (`None`) behaves as `ObjectWriter`, as on S3.
    pub fn acls_enabled(o: Option<Self>) -> bool {
        o != Some(ObjectOwnership::BucketOwnerEnforced)
    }
}

/// An ACL permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "READ")]
    Read,
    #[serde(rename = "WRITE")]
    Write,
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Read,
        Permission::Write,
        Permission::ReadAcp,
        Permission::WriteAcp,
        Permission::FullControl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether holding `self` gives `wanted` (FULL_CONTROL gives all four).
    pub fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

/// Who a grant is to. The derived order is the normalised order of [`Acl`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Grantee {
    /// Everyone, anonymous requests included.
    AllUsers,
    /// Every authenticated principal of every org.
    AuthenticatedUsers,
    /// Every principal of one org (S3's canonical user).
    Org { org: String },
    /// One principal of one org (`coreweave/<uid>` or `role/<name>`).
    Principal { org: String, principal: String },
}

impl Grantee {
    /// A grantee from a canonical user `ID`: an org id, or a principal ARN
    /// `arn:aws:iam::<orgId>:coreweave/<uid>` / `…:role/<name>`.
    pub fn from_id(id: &str) -> Result<Grantee> {
        let id = id.trim();
        if crate::ids::is_org_id(id) {
            return Ok(Grantee::Org { org: id.into() });
        }
        if let Some((org, principal)) = id
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(':'))
            && crate::ids::is_org_id(org)
            && crate::policy::is_principal_name(principal)
        {
            return Ok(Grantee::Principal {
                org: org.into(),
                principal: principal.into(),
            });
        }
        Err(AclError::Invalid(format!(
            "Invalid id {id:?}: a grantee ID is an org id (6 lowercase letters or digits) or \
             arn:aws:iam::<orgId>:coreweave/<uid>"
        )))
    }

    /// A grantee from a group `URI`.
    pub fn from_uri(uri: &str) -> Result<Grantee> {
        match uri.trim() {
            ALL_USERS_URI => Ok(Grantee::AllUsers),
            AUTHENTICATED_USERS_URI => Ok(Grantee::AuthenticatedUsers),
            LOG_DELIVERY_URI => Err(AclError::Unsupported(
                "The LogDelivery group is not supported by this service".into(),
            )),
            other => Err(AclError::Invalid(format!("Invalid group uri {other:?}"))),
        }
    }

    /// The `ID` of a canonical-user grantee (`None` for groups).
    pub fn id(&self) -> Option<String> {
        match self {
            Grantee::Org { org } => Some(org.clone()),
            Grantee::Principal { org, principal } => {
                Some(format!("arn:aws:iam::{org}:{principal}"))
            }
            Grantee::AllUsers | Grantee::AuthenticatedUsers => None,
        }
    }

    /// The `URI` of a group grantee (`None` for canonical users).
    pub fn uri(&self) -> Option<&'static str> {
        match self {
            Grantee::AllUsers => Some(ALL_USERS_URI),
            Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS_URI),
            Grantee::Org { .. } | Grantee::Principal { .. } => None,
        }
    }

    /// AllUsers or AuthenticatedUsers: a grant to them makes a resource public.
    pub fn is_group(&self) -> bool {
        matches!(self, Grantee::AllUsers | Grantee::AuthenticatedUsers)
    }

    /// The org a canonical-user grantee belongs to.
    pub fn org(&self) -> Option<&str> {
        match self {
            Grantee::Org { org } | Grantee::Principal { org, .. } => Some(org),
            Grantee::AllUsers | Grantee::AuthenticatedUsers => None,
        }
    }

    /// Whether a caller is this grantee: `caller` is `(org, principal)` of an
    /// authenticated request, `None` for an anonymous one.
    pub fn includes(&self, caller: Option<(&str, &str)>) -> bool {
        match (self, caller) {
            (Grantee::AllUsers, _) => true,
            (Grantee::AuthenticatedUsers, Some(_)) => true,
            (Grantee::Org { org }, Some((o, _))) => org == o,
            (Grantee::Principal { org, principal }, Some((o, p))) => org == o && principal == p,
            _ => false,
        }
    }
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// A validated ACL (see the module invariants). The owner is not part of it: a bucket's
/// owner is the bucket's org, an object's owner is recorded beside its ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    grants: Vec<Grant>,
}

impl Acl {
    /// Validates and normalises: at most [`MAX_GRANTS`] distinct grants, groups limited
    /// to READ and WRITE.
    pub fn new(mut grants: Vec<Grant>) -> Result<Acl> {
        grants.sort();
        grants.dedup();
        if grants.len() > MAX_GRANTS {
            return Err(AclError::Malformed(format!(
                "an ACL holds at most {MAX_GRANTS} grants"
            )));
        }
        if let Some(g) = grants
            .iter()
            .find(|g| g.grantee.is_group() && g.permission > Permission::Write)
        {
            return Err(AclError::Invalid(format!(
                "{} may not be granted to a group (only READ and WRITE): this service never \
                 lets everyone change who has access",
                g.permission.as_str()
            )));
        }
        Ok(Acl { grants })
    }

    /// `[owner FULL_CONTROL]`: the ACL of a resource nobody set one on.
    pub fn private(owner: &str) -> Acl {
        Acl {
            grants: vec![Grant {
                grantee: Grantee::Org {
                    org: owner.to_string(),
                },
                permission: Permission::FullControl,
            }],
        }
    }

    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// A grant to AllUsers or AuthenticatedUsers (what Public Access Block calls public).
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| g.grantee.is_group())
    }

    /// Whether the ACL gives `owner` full control and nobody anything: equivalent to
    /// `private` for that owner (what a bucket with ACLs disabled accepts).
    /// Grants to the owner besides FULL_CONTROL add nothing (`bucket-owner-read` from
    /// the bucket owner: FULL_CONTROL and READ).
    pub fn is_owner_only(&self, owner: &str) -> bool {
        let owner_grant = |g: &Grant| matches!(&g.grantee, Grantee::Org { org } if org == owner);
        self.grants.iter().all(owner_grant)
            && self
                .grants
                .iter()
                .any(|g| owner_grant(g) && g.permission == Permission::FullControl)
    }

    /// Whether any grant gives `caller` (see [`Grantee::includes`]) permission `p`.
    pub fn grants_to(&self, caller: Option<(&str, &str)>, p: Permission) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|g| g.permission.covers(p) && g.grantee.includes(caller))
    }

    /// The grants left when public grants are ignored (Public Access Block's
    /// IgnorePublicAcls).
    pub fn without_public(&self) -> Acl {
        Acl {
            grants: self
                .grants
                .iter()
                .filter(|g| !g.grantee.is_group())
                .cloned()
                .collect(),
        }
    }
}

/// Expands a canned ACL. `owner`: the resource's owner org (for an object, its
/// effective owner); `bucket_owner`: the bucket's org; `for_object`: the two
/// `bucket-owner-*` ACLs exist only for objects. Unknown names are `InvalidArgument`;
/// `aws-exec-read` and `log-delivery-write` name grantees this service does not have
/// (`Unsupported`).
pub fn canned(name: &str, owner: &str, bucket_owner: &str, for_object: bool) -> Result<Acl> {
    let g = |grantee: Grantee, permission| Grant {
        grantee,
        permission,
    };
    let org = |o: &str| Grantee::Org { org: o.to_string() };
    let mut grants = vec![g(org(owner), Permission::FullControl)];
    match name {
        "private" => {}
        "public-read" => grants.push(g(Grantee::AllUsers, Permission::Read)),
        "public-read-write" => {
            grants.push(g(Grantee::AllUsers, Permission::Read));
            grants.push(g(Grantee::AllUsers, Permission::Write));
        }
        "authenticated-read" => grants.push(g(Grantee::AuthenticatedUsers, Permission::Read)),
        "bucket-owner-read" if for_object => {
            grants.push(g(org(bucket_owner), Permission::Read));
        }
        BUCKET_OWNER_FULL_CONTROL if for_object => {
            grants.push(g(org(bucket_owner), Permission::FullControl));
        }
        "aws-exec-read" | "log-delivery-write" => {
            return Err(AclError::Unsupported(format!(
                "The canned ACL {name} is not supported by this service"
            )));
        }
        other => {
            return Err(AclError::Invalid(format!("Invalid canned ACL {other:?}")));
        }
    }
    // bucket-owner-full-control for an object the bucket owner owns collapses to one
    // grant (bucket-owner-read keeps both; `is_owner_only` still holds for it).
    Acl::new(grants)
}

/// Parses one `x-amz-grant-<permission>` header value: comma-separated `id="…"`,
/// `uri="…"` or `emailAddress="…"` items (keys case-insensitive, quotes optional).
pub fn parse_grant_header(permission: Permission, value: &str) -> Result<Vec<Grant>> {
    let mut out = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (k, v) = item.split_once('=').ok_or_else(|| {
            AclError::Invalid(format!("Invalid grant {item:?}: expected key=\"value\""))
        })?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        let grantee = match k.trim().to_ascii_lowercase().as_str() {
            "id" => Grantee::from_id(v)?,
            "uri" => Grantee::from_uri(v)?,
            "emailaddress" => return Err(AclError::UnresolvableEmail),
            other => {
                return Err(AclError::Invalid(format!(
                    "Invalid grant key {other:?}: expected id, uri or emailAddress"
                )));
            }
        };
        out.push(Grant {
            grantee,
            permission,
        });
    }
    Ok(out)
}

/// The owner and ACL of a new object version, as stored: `None` for the bucket owner
/// and for `private` (the owner's FULL_CONTROL), so a bucket with ACLs disabled stores
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectAccess {
    pub owner_org: Option<String>,
    pub acl: Option<Acl>,
}

impl ObjectAccess {
    /// Normalises `owner`'s `acl` in a bucket of `bucket_owner`.
    pub fn new(owner: &str, bucket_owner: &str, acl: Acl) -> Self {
        ObjectAccess {
            acl: stored(acl, owner),
            owner_org: (owner != bucket_owner).then(|| owner.to_string()),
        }
    }
}

/// Whether a bucket in its current state takes `acl` as a new stored ACL (of the bucket
/// or one of its objects): ACLs enabled (else `AclNotSupported`), and not a public ACL
/// under `BlockPublicAcls` (else `PermissionDenied`). Stores check it inside the edit's
/// transaction, against the bucket as committed.
pub fn check_acl_change(bucket: &crate::model::Bucket, acl: &Acl) -> crate::Result<()> {
    if acl.is_public()
        && bucket
            .subresources
            .public_access_block
            .is_some_and(|p| p.block_public_acls)
    {
        return Err(crate::Error::PermissionDenied(
            "the bucket's Public Access Block (BlockPublicAcls) refuses public ACLs".into(),
        ));
    }
    if !ObjectOwnership::acls_enabled(bucket.subresources.ownership) {
        return Err(crate::Error::AclNotSupported {
            message: "The bucket does not allow ACLs".into(),
            disabling: false,
        });
    }
    Ok(())
}

/// Refuses a new object version's public ACL while the bucket's `BlockPublicAcls` is set,
/// where the version is committed (PutObject, CopyObject, and CompleteMultipartUpload,
/// which applies the ACL its upload was created with, perhaps long before).
pub fn check_new_version(bucket: &crate::model::Bucket, acl: Option<&Acl>) -> crate::Result<()> {
    match acl {
        Some(a) if a.is_public() => check_acl_change(bucket, a),
        _ => Ok(()),
    }
}

/// The stored form of `acl` for a resource owned by `owner`: `None` for `private`.
pub fn stored(acl: Acl, owner: &str) -> Option<Acl> {
    (acl != Acl::private(owner)).then_some(acl)
}

/// A bucket's Public Access Block configuration (absent flags are `false`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL (bucket or object).
    pub block_public_acls: bool,
    /// Ignore public grants of the bucket's and its objects' ACLs.
    pub ignore_public_acls: bool,
    /// Refuse a bucket policy that grants public access.
    pub block_public_policy: bool,
    /// A public bucket policy reaches only principals of the bucket owner's org.
    pub restrict_public_buckets: bool,
}

/// Where a check applies: the bucket, or an object in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Bucket,
    Object,
}

/// The ACL permission that grants `action` at `level` (AWS's ACL-to-action table; the
/// rows marked "Coffer" are additions). `None`: no ACL grants the action, only policies.
/// Action names are matched case-insensitively, as policies match them.
pub fn permission_for(action: &str, level: Level) -> Option<Permission> {
    use Permission::*;
    let action = action.to_ascii_lowercase();
    match (level, action.as_str()) {
        (
            Level::Bucket,
            "s3:listbucket"
            | "s3:listbucketversions"
            | "s3:listbucketmultipartuploads"
            // Coffer: listing an upload's parts is a read of the bucket's uploads.
            | "s3:listmultipartuploadparts",
        ) => Some(Read),
        (
            Level::Bucket,
            "s3:putobject"
            | "s3:deleteobject"
            // Coffer: aborting an upload is deleting what a writer started.
            | "s3:abortmultipartupload",
        ) => Some(Write),
        (Level::Bucket, "s3:getbucketacl") => Some(ReadAcp),
        (Level::Bucket, "s3:putbucketacl") => Some(WriteAcp),
        (Level::Object, "s3:getobject" | "s3:getobjectversion") => Some(Read),
        (Level::Object, "s3:getobjectacl" | "s3:getobjectversionacl") => Some(ReadAcp),
        (Level::Object, "s3:putobjectacl" | "s3:putobjectversionacl") => Some(WriteAcp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(grantee: Grantee, permission: Permission) -> Grant {
        Grant {
            grantee,
            permission,
        }
    }
    fn org(o: &str) -> Grantee {
        Grantee::Org { org: o.into() }
    }

    #[test]
    fn canned_acls() {
        let p = canned("private", "aaaaaa", "bbbbbb", true).unwrap();
        assert_eq!(p, Acl::private("aaaaaa"));
        assert!(p.is_owner_only("aaaaaa") && !p.is_public());
        let pr = canned("public-read", "aaaaaa", "aaaaaa", false).unwrap();
        // Groups first, then orgs.
        assert_eq!(
            pr.grants(),
            [
                grant(Grantee::AllUsers, Permission::Read),
                grant(org("aaaaaa"), Permission::FullControl)
            ]
        );
        assert!(pr.is_public());
        let prw = canned("public-read-write", "aaaaaa", "aaaaaa", false).unwrap();
        assert_eq!(prw.grants().len(), 3);
        assert_eq!(prw.grants()[1], grant(Grantee::AllUsers, Permission::Write));
        let ar = canned("authenticated-read", "aaaaaa", "aaaaaa", true).unwrap();
        assert_eq!(ar.grants()[0].grantee, Grantee::AuthenticatedUsers);
        let bor = canned("bucket-owner-read", "aaaaaa", "bbbbbb", true).unwrap();
        assert_eq!(
            bor.grants(),
            [
                grant(org("aaaaaa"), Permission::FullControl),
                grant(org("bbbbbb"), Permission::Read)
            ]
        );
        // The bucket owner writing its own object: one grant.
        let bfc = canned("bucket-owner-full-control", "bbbbbb", "bbbbbb", true).unwrap();
        assert!(bfc.is_owner_only("bbbbbb"));
        let bor = canned("bucket-owner-read", "bbbbbb", "bbbbbb", true).unwrap();
        assert!(bor.is_owner_only("bbbbbb") && !bor.is_owner_only("aaaaaa"));
        let other = canned("bucket-owner-read", "aaaaaa", "bbbbbb", true).unwrap();
        assert!(!other.is_owner_only("bbbbbb") && !other.is_owner_only("aaaaaa"));
        assert!(canned("bucket-owner-read", "aaaaaa", "aaaaaa", false).is_err());
        assert!(matches!(
            canned("log-delivery-write", "aaaaaa", "aaaaaa", false),
            Err(AclError::Unsupported(_))
        ));
        assert!(matches!(
            canned("public", "aaaaaa", "aaaaaa", false),
            Err(AclError::Invalid(_))
        ));
    }

    #[test]
    fn grant_headers() {
        let g = parse_grant_header(
            Permission::Read,
            &format!("id=\"abc123\", uri=\"{ALL_USERS_URI}\",ID=arn:aws:iam::abc123:coreweave/u1"),
        )
        .unwrap();
        assert_eq!(
            g,
            [
                grant(org("abc123"), Permission::Read),
                grant(Grantee::AllUsers, Permission::Read),
                grant(
                    Grantee::Principal {
                        org: "abc123".into(),
                        principal: "coreweave/u1".into()
                    },
                    Permission::Read
                ),
            ]
        );
        for bad in [
            "id=\"_foo\"",
            "id=",
            "uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\"",
            "uri=\"http://example.com/x\"",
            "name=\"x\"",
            "abc123",
            "id=\"arn:aws:iam::abc123:root\"",
        ] {
            assert!(parse_grant_header(Permission::Read, bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_grant_header(Permission::Read, "emailAddress=\"a@b.c\"").unwrap_err(),
            AclError::UnresolvableEmail
        );
    }

    #[test]
    fn acl_validation_and_order() {
        let many: Vec<Grant> = (0..101)
            .map(|i| grant(org(&format!("{i:06}")), Permission::Read))
            .collect();
        assert!(Acl::new(many).is_err());
        for p in [
            Permission::ReadAcp,
            Permission::WriteAcp,
            Permission::FullControl,
        ] {
            assert!(Acl::new(vec![grant(Grantee::AllUsers, p)]).is_err());
            assert!(Acl::new(vec![grant(Grantee::AuthenticatedUsers, p)]).is_err());
        }
        let a = Acl::new(vec![
            grant(org("zzzzzz"), Permission::Read),
            grant(Grantee::AuthenticatedUsers, Permission::Read),
            grant(org("zzzzzz"), Permission::Read),
            grant(Grantee::AllUsers, Permission::Write),
            grant(Grantee::AllUsers, Permission::Read),
        ])
        .unwrap();
        assert_eq!(
            a.grants(),
            [
                grant(Grantee::AllUsers, Permission::Read),
                grant(Grantee::AllUsers, Permission::Write),
                grant(Grantee::AuthenticatedUsers, Permission::Read),
                grant(org("zzzzzz"), Permission::Read),
            ]
        );
        assert!(
            a.without_public()
                .grants()
                .iter()
                .all(|g| !g.grantee.is_group())
        );
        // Stored form round-trips.
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Acl>(&j).unwrap(), a);
    }

    #[test]
    fn who_a_grant_reaches() {
        let a = Acl::new(vec![
            grant(Grantee::AuthenticatedUsers, Permission::Read),
            grant(org("aaaaaa"), Permission::FullControl),
            grant(
                Grantee::Principal {
                    org: "bbbbbb".into(),
                    principal: "coreweave/u1".into(),
                },
                Permission::Write,
            ),
        ])
        .unwrap();
        assert!(a.grants_to(None, Permission::Read).is_none());
        assert!(
            a.grants_to(Some(("cccccc", "coreweave/x")), Permission::Read)
                .is_some()
        );
        assert!(
            a.grants_to(Some(("cccccc", "coreweave/x")), Permission::Write)
                .is_none()
        );
        assert!(
            a.grants_to(Some(("aaaaaa", "role/r")), Permission::WriteAcp)
                .is_some()
        );
        assert!(
            a.grants_to(Some(("bbbbbb", "coreweave/u1")), Permission::Write)
                .is_some()
        );
        assert!(
            a.grants_to(Some(("bbbbbb", "coreweave/u2")), Permission::Write)
                .is_none()
        );
        let public = canned("public-read", "aaaaaa", "aaaaaa", false).unwrap();
        assert!(public.grants_to(None, Permission::Read).is_some());
    }

    #[test]
    fn action_table() {
        assert_eq!(
            permission_for("s3:GetObject", Level::Object),
            Some(Permission::Read)
        );
        assert_eq!(permission_for("s3:GetObject", Level::Bucket), None);
        assert_eq!(
            permission_for("s3:PutObject", Level::Bucket),
            Some(Permission::Write)
        );
        assert_eq!(permission_for("s3:PutObjectTagging", Level::Object), None);
        assert_eq!(permission_for("s3:PutBucketPolicy", Level::Bucket), None);
        assert_eq!(
            permission_for("s3:PutBucketAcl", Level::Bucket),
            Some(Permission::WriteAcp)
        );
    }

    #[test]
    fn ownership_names() {
        for o in [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ] {
            assert_eq!(ObjectOwnership::parse(o.as_str()), Some(o));
        }
        assert_eq!(ObjectOwnership::parse("objectwriter"), None);
        assert!(!ObjectOwnership::acls_enabled(Some(
            ObjectOwnership::BucketOwnerEnforced
        )));
        assert!(ObjectOwnership::acls_enabled(None));
    }
}
