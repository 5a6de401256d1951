//! The combined authorization decision (SPEC §3): org layer, then bucket layer. The S3
//! gateway and `AuthCanI` both call [`authorize`]; nothing else combines the layers.
//!
//! Order, for a request `ctx` doing `action` on `resource`:
//! 1. No target bucket (global actions, `CreateBucket`, a bucket that does not exist):
//!    the org decision of the caller's org alone; anonymous requests are denied.
//! 2. Org layer of the caller's own org. An explicit org `Deny` → deny. For an anonymous
//!    request the bucket owner's org is consulted: org policies never *grant* anonymous
//!    access, but a `Deny` statement whose principal is `*` does deny it (decided here:
//!    an org can fence off anonymous access to its buckets whatever a bucket policy says).
//! 3. A principal of another org is also subject to the bucket owner's org `Deny`
//!    statements (only denies; the owner's `Allow`s never grant it anything).
//! 4. No org `Allow` → deny (authenticated callers; `layer: default` or the org deny).
//! 5. The org-only actions (`ORG_ONLY_ACTIONS`: bucket-policy management,
//!    `s3:PutBucketPublicAccessBlock`, `s3:PutBucketOwnershipControls`) are judged by
//!    the org layer alone, and only for principals of the owner's org (a foreign or
//!    anonymous caller can never manage the settings that decide who gets in).
//! 6. Bucket layer: a matching bucket-policy `Deny` → deny; a matching `Allow` → allow;
//!    a policy with nothing matching → deny (`layer: bucket`, no statement); no bucket
//!    policy → allow for the owner's org (the org decision stands), deny for foreign and
//!    anonymous callers (`layer: default`); a stored policy that does not compile → deny
//!    (`layer: bucket`, no statement). With Public Access Block `RestrictPublicBuckets`
//!    set and a public policy, an `Allow` counts only for the owner's org; anyone else
//!    is denied (`statement: "<RestrictPublicBuckets>"`), as S3 does.
//! 7. ACL layer, only while the bucket's ACLs are enabled (Object Ownership other than
//!    `BucketOwnerEnforced`) and only where step 6 denied without a matching `Deny`
//!    statement (no policy, nothing matched, or `RestrictPublicBuckets`): a grant of the
//!    bucket's or the object's ACL whose permission maps to the action
//!    (`acl::permission_for`) allows (`layer: acl`). An ACL is one more way in, never a
//!    way around a `Deny` of any layer nor around the caller's own org policy (steps
//!    2–4). A caller of the owner org counts only grants to AllUsers and
//!    AuthenticatedUsers on a resource the owner org owns: a bucket policy that matches
//!    nothing keeps denying it whatever the ACL grants the org itself. `IgnorePublicAcls`
//!    drops grants to AllUsers and AuthenticatedUsers. Object facts are read by the
//!    caller only on a deny that they could turn ([`wants_object_facts`]).
//!
//! Whose layer decided: the caller's own org (its policies, the bucket policy of one of
//! its buckets) or another org (the bucket owner's org `Deny` of step 3, the bucket
//! policy of a bucket owned by another org; for anonymous requests every layer).
//! [`explain_bucket_record`] tells a caller *why* without naming another org's policies.
//!
//! Monotonicity (tested by proptest): with a bucket policy present, adding an `Allow`
//! statement or an ACL grant to any layer never turns an allow into a deny, and adding a `Deny` never
//! turns a deny into an allow. Going from *no* bucket policy to one is not monotone by
//! design (step 6: a policy's presence makes non-matching same-org requests deny), nor
//! is adding an `Allow` under `RestrictPublicBuckets` (it can make the policy public,
//! which shuts other orgs out, as on S3); setting `RestrictPublicBuckets` itself only
//! ever narrows, and never for the owner's org.

use std::sync::Arc;

use super::bucket::{BucketPolicy, BucketVerdict, is_org_only_action};
use super::context::RequestContext;
use super::engine::PolicyEngine;
use super::eval::{DecidedBy, Decision, Layer};
use crate::acl::{Acl, Grantee, Level, ObjectOwnership, Permission, permission_for};
use crate::model::Bucket;

/// The bucket a request targets, as the bucket layer needs it.
#[derive(Debug, Clone, Copy)]
pub struct BucketTarget<'a> {
    /// Bucket name (reported as `decidedBy.policy` for bucket-layer decisions).
    pub name: &'a str,
    /// The org that owns the bucket.
    pub owner_org: &'a str,
    /// Its policy.
    pub policy: BucketPolicyState<'a>,
    /// Public Access Block `RestrictPublicBuckets`: while the policy is public, its
    /// `Allow`s count only for principals of the owner org.
    pub restrict_public_buckets: bool,
    /// The ACL layer's facts; `None`: ACLs are disabled (`BucketOwnerEnforced`).
    pub acls: Option<AclFacts<'a>>,
}

/// What the ACL layer (step 7) judges by: the bucket's ACL and, for object actions, the
/// object's owner and ACL.
#[derive(Debug, Clone, Copy)]
pub struct AclFacts<'a> {
    /// The bucket ACL; `None`: `private` (the bucket owner's FULL_CONTROL).
    pub bucket_acl: Option<&'a Acl>,
    /// Public Access Block `IgnorePublicAcls`: grants to AllUsers and
    /// AuthenticatedUsers count for nothing.
    pub ignore_public_acls: bool,
    /// The object an object-level action targets.
    pub object: ObjectFacts<'a>,
}

/// The target object as the ACL layer knows it.
#[derive(Debug, Clone, Copy)]
pub enum ObjectFacts<'a> {
    /// Not read: an object-level ACL check denies, and [`wants_object_facts`] tells the
    /// caller that reading the object could change that.
    Unknown,
    /// The key (or version) does not exist: no object ACL grants anything.
    Missing,
    /// The object's owner (`None`: the bucket owner) and ACL (`None`: `private`).
    Present {
        owner_org: Option<&'a str>,
        acl: Option<&'a Acl>,
    },
}

impl<'a> ObjectFacts<'a> {
    /// The facts of an object version as read from the store (`None`: it does not exist).
    pub fn of(record: Option<&'a crate::model::ObjectRecord>) -> Self {
        match record {
            Some(r) => ObjectFacts::Present {
                owner_org: r.owner_org.as_deref(),
                acl: r.acl.as_ref(),
            },
            None => ObjectFacts::Missing,
        }
    }
}

impl<'a> BucketTarget<'a> {
    /// The target of a bucket record as read from the store, with its policy.
    /// The object facts start `Unknown`.
    pub fn of(bucket: &'a Bucket, policy: BucketPolicyState<'a>) -> Self {
        let pab = bucket.subresources.public_access_block.unwrap_or_default();
        BucketTarget {
            name: &bucket.name,
            owner_org: &bucket.org_id,
            policy,
            restrict_public_buckets: pab.restrict_public_buckets,
            acls: ObjectOwnership::acls_enabled(bucket.subresources.ownership).then_some(
                AclFacts {
                    bucket_acl: bucket.subresources.acl.as_ref(),
                    ignore_public_acls: pab.ignore_public_acls,
                    object: ObjectFacts::Unknown,
                },
            ),
        }
    }

    /// The same target with the object of an object-level action known.
    pub fn with_object(mut self, object: ObjectFacts<'a>) -> Self {
        if let Some(a) = &mut self.acls {
            a.object = object;
        }
        self
    }
}

/// Whether a denial of `action` on `resource` could turn into an allow once the object's
/// facts are known: ACLs are enabled, the object was not read, and an object ACL
/// permission grants the action. The caller reads the object only then (deny paths of
/// ACL-enabled buckets), so the common path stays free of I/O.
pub fn wants_object_facts(action: &str, resource: &str, bucket: &BucketTarget<'_>) -> bool {
    bucket
        .acls
        .is_some_and(|a| matches!(a.object, ObjectFacts::Unknown))
        && resource.contains('/')
        && permission_for(action, Level::Object).is_some()
}

/// Whether a denial came from a matching `Deny` statement (of an org policy, the owner
/// org's, or the bucket policy), which no ACL can turn: the caller need not read object
/// facts for it ([`wants_object_facts`]).
pub fn is_statement_deny(d: &Decision) -> bool {
    !d.allowed
        && d.decided_by
            .statement
            .as_deref()
            .is_some_and(|s| s != RESTRICT_PUBLIC_BUCKETS)
}

/// The `statement` a denial names when `RestrictPublicBuckets` set aside a public
/// policy's `Allow` (angle brackets: a setting, not a statement id).
pub const RESTRICT_PUBLIC_BUCKETS: &str = "<RestrictPublicBuckets>";

/// A target bucket's policy as read for one request.
#[derive(Debug, Clone, Copy)]
pub enum BucketPolicyState<'a> {
    /// The bucket has no policy.
    Absent,
    /// The compiled policy.
    Present(&'a BucketPolicy),
    /// The stored text does not compile (e.g. written by an older, laxer version): every
    /// action the bucket layer judges is denied (`layer: bucket`, no statement); the
    /// org-only actions still work, so the policy can be replaced or deleted.
    Invalid,
}

impl<'a> From<Option<&'a BucketPolicy>> for BucketPolicyState<'a> {
    fn from(p: Option<&'a BucketPolicy>) -> Self {
        match p {
            Some(p) => BucketPolicyState::Present(p),
            None => BucketPolicyState::Absent,
        }
    }
}

/// The decision for `ctx` doing `action` (canonical case) on `resource` (`*`, `bucket`
/// or `bucket/key`), with `bucket` the existing target bucket, if any. Pure and
/// in-memory: no I/O, no JSON (see module docs for the order).
pub fn authorize(
    engine: &PolicyEngine,
    ctx: &RequestContext,
    action: &str,
    resource: &str,
    bucket: Option<BucketTarget<'_>>,
) -> Decision {
    decide(engine, ctx, action, resource, bucket).0
}

/// Which org's layer produced a decision, relative to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecidingOrg {
    /// The caller's own org (or no layer at all: `layer: default` names nothing).
    Caller,
    /// An org other than the caller's.
    Foreign,
}

/// [`authorize`], also saying whose layer decided.
fn decide(
    engine: &PolicyEngine,
    ctx: &RequestContext,
    action: &str,
    resource: &str,
    bucket: Option<BucketTarget<'_>>,
) -> (Decision, DecidingOrg) {
    use DecidingOrg::{Caller, Foreign};
    let subject = ctx.subject();
    let Some(b) = bucket else {
        return match ctx.principal() {
            Some(p) => (engine.decide(&p.org_id, &subject, action, resource), Caller),
            None => (Decision::default_deny(), Caller),
        };
    };
    // An anonymous caller has no org: the owner's org layer is foreign to it.
    let (org, org_layer, same_org) = match ctx.principal() {
        Some(p) => (
            engine.decide(&p.org_id, &subject, action, resource),
            Caller,
            p.org_id == b.owner_org,
        ),
        None => (
            engine.decide(b.owner_org, &subject, action, resource),
            Foreign,
            false,
        ),
    };
    if org.is_explicit_deny() {
        return (org, org_layer);
    }
    if ctx.principal().is_some() && !same_org {
        let owner = engine.decide(b.owner_org, &subject, action, resource);
        if owner.is_explicit_deny() {
            return (owner, Foreign);
        }
    }
    if ctx.principal().is_some() && !org.allowed {
        return (org, org_layer);
    }
    if is_org_only_action(action) {
        return if same_org {
            (org, org_layer)
        } else {
            (Decision::default_deny(), Caller)
        };
    }
    let bucket_layer = if same_org { Caller } else { Foreign };
    let (d, by) = match b.policy {
        BucketPolicyState::Absent if same_org => return (org, org_layer),
        BucketPolicyState::Absent => (Decision::default_deny(), Caller),
        BucketPolicyState::Invalid => {
            return (bucket_decision(false, b.name, None), bucket_layer);
        }
        BucketPolicyState::Present(p) => {
            let d = match p.evaluate(ctx, b.owner_org, action, resource) {
                BucketVerdict::Deny(s) => {
                    return (bucket_decision(false, b.name, Some(s)), bucket_layer);
                }
                BucketVerdict::Allow(_)
                    if b.restrict_public_buckets && !same_org && p.is_public() =>
                {
                    bucket_decision(false, b.name, Some(Arc::from(RESTRICT_PUBLIC_BUCKETS)))
                }
                BucketVerdict::Allow(s) => {
                    return (bucket_decision(true, b.name, Some(s)), bucket_layer);
                }
                BucketVerdict::NoMatch => bucket_decision(false, b.name, None),
            };
            (d, bucket_layer)
        }
    };
    match acl_grant(ctx, action, resource, &b, same_org) {
        Some(allowed) => (allowed, bucket_layer),
        None => (d, by),
    }
}

/// Step 7, the ACL layer: the grant that gives the caller `action`, as an allow
/// (`layer: acl`, `policy`: the bucket or `<bucket>/<key>` whose ACL granted, `statement: "<grantee>:<PERMISSION>"`).
/// Only while ACLs are enabled, only for the actions an ACL permission maps to
/// ([`permission_for`]). Owner fence: on a resource its org owns, a caller of the bucket
/// owner's org counts only grants to AllUsers and AuthenticatedUsers (what the owner
/// gave everyone); its own access is the org's and the bucket policy's to decide, so enabling ACLs
/// never reopens what a bucket policy closes to it.
/// The owner of an object owned by another org holds READ_ACP and WRITE_ACP on it
/// whatever its ACL says (S3).
fn acl_grant(
    ctx: &RequestContext,
    action: &str,
    resource: &str,
    b: &BucketTarget<'_>,
    same_org: bool,
) -> Option<Decision> {
    let facts = b.acls?;
    // Writes and deletes of objects are judged by the bucket's ACL (bucket WRITE), reads
    // of an object and its ACL by the object's.
    let object_level = resource
        .contains('/')
        .then(|| permission_for(action, Level::Object))
        .flatten();
    let (wanted, owner, acl, whose) = match (object_level, facts.object) {
        (None, _) => (
            permission_for(action, Level::Bucket)?,
            b.owner_org,
            facts.bucket_acl,
            b.name,
        ),
        (Some(p), ObjectFacts::Present { owner_org, acl }) => {
            (p, owner_org.unwrap_or(b.owner_org), acl, resource)
        }
        (Some(_), ObjectFacts::Unknown | ObjectFacts::Missing) => return None,
    };
    // The owner-org fence: on what its own org owns, a caller of the owner org counts
    // only grants to AllUsers and AuthenticatedUsers, which the owner made for everyone
    // (every caller, or every signed caller of any org): its own principals are not
    // singled out below what any other org's get.
    let fenced = same_org && owner == b.owner_org;
    let caller = ctx
        .principal()
        .map(|p| (p.org_id.as_str(), p.principal.as_str()));
    let allow = |statement: String| Decision {
        allowed: true,
        decided_by: DecidedBy {
            layer: Layer::Acl,
            policy: Some(Arc::from(whose)),
            statement: Some(Arc::from(statement)),
        },
    };
    if !fenced
        && matches!(wanted, Permission::ReadAcp | Permission::WriteAcp)
        && caller.is_some_and(|(o, _)| o == owner)
    {
        return Some(allow(format!("owner:{}", wanted.as_str())));
    }
    let private;
    let acl = match acl {
        Some(a) => a,
        None => {
            private = Acl::private(owner);
            &private
        }
    };
    let g = acl.grants().iter().find(|g| {
        g.permission.covers(wanted)
            && g.grantee.includes(caller)
            && if g.grantee.is_group() {
                !facts.ignore_public_acls
            } else {
                !fenced
            }
    })?;
    Some(allow(format!(
        "{}:{}",
        grantee_name(&g.grantee),
        g.permission.as_str()
    )))
}

/// How a grantee is named in `decidedBy.statement`.
fn grantee_name(g: &Grantee) -> String {
    match g {
        Grantee::AllUsers => "AllUsers".into(),
        Grantee::AuthenticatedUsers => "AuthenticatedUsers".into(),
        Grantee::Org { org } => format!("org:{org}"),
        Grantee::Principal { org, principal } => {
            format!("principal:arn:aws:iam::{org}:{principal}")
        }
    }
}

/// [`authorize`] for a caller holding the target bucket's record as read from the store
/// (e.g. `AuthCanI`; `None`: global action or missing bucket). The policy comes from the
/// engine's cache, compiled once per policy text ([`PolicyEngine::bucket_policy`]).
pub fn authorize_bucket_record(
    engine: &PolicyEngine,
    ctx: &RequestContext,
    action: &str,
    resource: &str,
    bucket: Option<&Bucket>,
) -> Decision {
    decide_bucket_record(engine, ctx, action, resource, bucket, ObjectFacts::Unknown).0
}

/// The decision as told to the caller it is about (`AuthCanI`): [`authorize_bucket_record`],
/// except that a decision made by another org's layer keeps its `layer` and outcome but
/// names no policy and no statement. Foreign decisions name no foreign policy: the bucket
/// policy of another org's bucket (its bucket name and `Sid`s) and the owner org's `Deny`
/// statements are that org's configuration, not the caller's. `object`: the target
/// object's facts for the ACL layer, when the caller read them ([`wants_object_facts`]).
pub fn explain_bucket_record(
    engine: &PolicyEngine,
    ctx: &RequestContext,
    action: &str,
    resource: &str,
    bucket: Option<&Bucket>,
    object: ObjectFacts<'_>,
) -> Decision {
    let (mut d, by) = decide_bucket_record(engine, ctx, action, resource, bucket, object);
    if by == DecidingOrg::Foreign {
        d.decided_by.policy = None;
        d.decided_by.statement = None;
    }
    d
}

fn decide_bucket_record(
    engine: &PolicyEngine,
    ctx: &RequestContext,
    action: &str,
    resource: &str,
    bucket: Option<&Bucket>,
    object: ObjectFacts<'_>,
) -> (Decision, DecidingOrg) {
    let Some(b) = bucket else {
        return decide(engine, ctx, action, resource, None);
    };
    let compiled = engine.bucket_policy(&b.name, b.policy.as_deref());
    let policy = match &compiled {
        Ok(p) => BucketPolicyState::from(p.as_deref()),
        Err(_) => BucketPolicyState::Invalid,
    };
    decide(
        engine,
        ctx,
        action,
        resource,
        Some(BucketTarget::of(b, policy).with_object(object)),
    )
}

fn bucket_decision(allowed: bool, bucket: &str, statement: Option<Arc<str>>) -> Decision {
    Decision {
        allowed,
        decided_by: DecidedBy {
            layer: Layer::Bucket,
            policy: Some(Arc::from(bucket)),
            statement,
        },
    }
}
