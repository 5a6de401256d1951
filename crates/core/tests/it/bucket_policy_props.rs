//! Property tests of the combined decision (`authorize`): adding an `Allow` statement to
//! any layer never turns an allow into a deny, and adding a `Deny` statement never turns
//! a deny into an allow. (Going from no bucket policy to one is excluded by design:
//! see `authorize`'s module docs. Extra bucket statements are only added to buckets that
//! already have a policy.)

use coffer_core::acl::{Acl, Grant, Grantee, Permission};
use coffer_core::policy::{
    AccessPolicy, AclFacts, BucketPolicy, BucketTarget, ContextKey, Effect, ObjectFacts,
    PolicyEngine, RequestContext, Statement, authorize,
};
use proptest::prelude::*;
use time::OffsetDateTime;

const ORG_A: &str = "orga01";
const ORG_B: &str = "orgb02";

const ORG_ACTIONS: &[&str] = &[
    "s3:*",
    "s3:Get*",
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "*",
    "s3:PutBucketPolicy",
];
const ORG_RESOURCES: &[&str] = &["*", "bkt", "bkt/*", "bkt/p/*", "other/*", "b*"];
const ORG_PRINCIPALS: &[&str] = &[
    "*",
    "coreweave/*",
    "coreweave/alice",
    "role/ci",
    "coreweave/carol",
];

const B_PRINCIPALS: &[&str] = &[
    r#""Principal":"*""#,
    r#""Principal":{"CW":"coreweave/*"}"#,
    r#""Principal":{"CW":"coreweave/alice"}"#,
    r#""Principal":{"AWS":"arn:aws:iam::orgb02:root"}"#,
    r#""Principal":{"AWS":["arn:aws:iam::orga01:role/ci","arn:aws:iam::orgb02:coreweave/carol"]}"#,
    r#""NotPrincipal":{"CW":"coreweave/alice"}"#,
    r#""NotPrincipal":"*""#,
];
const B_ACTIONS: &[&str] = &[
    r#""Action":"s3:*""#,
    r#""Action":"s3:Get*""#,
    r#""Action":["s3:GetObject","s3:ListBucket"]"#,
    r#""Action":["s3:PutObject","s3:ListBucket"]"#,
    r#""Action":"*""#,
    r#""NotAction":"s3:GetObject""#,
    r#""NotAction":["s3:PutObject","s3:DeleteObject"]"#,
];
const B_RESOURCES: &[&str] = &[
    r#""Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]"#,
    r#""Resource":["bkt","bkt/p/*"]"#,
    r#""Resource":"arn:aws:s3:::bkt*""#,
    r#""Resource":"arn:aws:s3:::*""#,
    r#""NotResource":"arn:aws:s3:::bkt/p/*""#,
];
const B_CONDITIONS: &[&str] = &[
    "",
    "",
    r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#","Condition":{"Bool":{"aws:SecureTransport":"true"}}"#,
    r#","Condition":{"StringLike":{"s3:prefix":"p/*"}}"#,
    r#","Condition":{"Null":{"aws:username":"true"}}"#,
    r#","Condition":{"StringNotEquals":{"aws:username":"alice"}}"#,
];

const WHO: &[Option<(&str, &str)>] = &[
    Some((ORG_A, "coreweave/alice")),
    Some((ORG_A, "coreweave/bob")),
    Some((ORG_A, "role/ci")),
    Some((ORG_B, "coreweave/carol")),
    Some((ORG_B, "coreweave/alice")),
    None,
];
const ACTIONS: &[(&str, &str)] = &[
    ("s3:GetObject", "bkt/a"),
    ("s3:GetObject", "bkt/p/x"),
    ("s3:PutObject", "bkt/p/x"),
    ("s3:DeleteObject", "bkt/a"),
    ("s3:ListBucket", "bkt"),
    ("s3:PutBucketPolicy", "bkt"),
    ("s3:GetObjectTagging", "bkt/a"),
];

#[derive(Debug, Clone)]
struct OrgStmt {
    deny: bool,
    action: usize,
    resource: usize,
    principal: usize,
}

#[derive(Debug, Clone)]
struct BucketStmt {
    deny: bool,
    principal: usize,
    action: usize,
    resource: usize,
    condition: usize,
}

fn org_stmt() -> impl Strategy<Value = OrgStmt> {
    (
        any::<bool>(),
        0..ORG_ACTIONS.len(),
        0..ORG_RESOURCES.len(),
        0..ORG_PRINCIPALS.len(),
    )
        .prop_map(|(deny, action, resource, principal)| OrgStmt {
            deny,
            action,
            resource,
            principal,
        })
}

fn bucket_stmt() -> impl Strategy<Value = BucketStmt> {
    (
        any::<bool>(),
        0..B_PRINCIPALS.len(),
        0..B_ACTIONS.len(),
        0..B_RESOURCES.len(),
        0..B_CONDITIONS.len(),
    )
        .prop_map(
            |(deny, principal, action, resource, condition)| BucketStmt {
                deny,
                principal,
                action,
                resource,
                condition,
            },
        )
}

fn org_policy(stmts: &[OrgStmt]) -> Vec<AccessPolicy> {
    if stmts.is_empty() {
        return Vec::new();
    }
    vec![AccessPolicy {
        version: "v1alpha1".into(),
        name: "p".into(),
        statements: stmts
            .iter()
            .enumerate()
            .map(|(i, s)| Statement {
                name: format!("s{i}"),
                effect: if s.deny { Effect::Deny } else { Effect::Allow },
                actions: vec![ORG_ACTIONS[s.action].into()],
                resources: vec![ORG_RESOURCES[s.resource].into()],
                principals: vec![ORG_PRINCIPALS[s.principal].into()],
            })
            .collect(),
    }]
}

fn bucket_policy(stmts: &[BucketStmt]) -> BucketPolicy {
    let body: Vec<String> = stmts
        .iter()
        .map(|s| {
            format!(
                r#"{{"Effect":"{}",{},{},{}{}}}"#,
                if s.deny { "Deny" } else { "Allow" },
                B_PRINCIPALS[s.principal],
                B_ACTIONS[s.action],
                B_RESOURCES[s.resource],
                B_CONDITIONS[s.condition]
            )
        })
        .collect();
    let json = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        body.join(",")
    );
    BucketPolicy::parse("bkt", &json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

#[derive(Debug, Clone)]
struct World {
    org_a: Vec<OrgStmt>,
    org_b: Vec<OrgStmt>,
    bucket: Option<Vec<BucketStmt>>,
}

#[derive(Debug, Clone)]
struct Request {
    who: usize,
    action: usize,
    ip: Option<bool>,
    secure: Option<bool>,
    prefix: Option<bool>,
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(org_stmt(), 0..5),
        prop::collection::vec(org_stmt(), 0..4),
        prop::option::weighted(0.8, prop::collection::vec(bucket_stmt(), 1..5)),
    )
        .prop_map(|(org_a, org_b, bucket)| World {
            org_a,
            org_b,
            bucket,
        })
}

fn request() -> impl Strategy<Value = Request> {
    (
        0..WHO.len(),
        0..ACTIONS.len(),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(who, action, ip, secure, prefix)| Request {
            who,
            action,
            ip,
            secure,
            prefix,
        })
}

/// Where an extra statement goes.
#[derive(Debug, Clone)]
enum Extra {
    OrgA(OrgStmt),
    OrgB(OrgStmt),
    Bucket(BucketStmt),
}

fn extra() -> impl Strategy<Value = Extra> {
    prop_oneof![
        org_stmt().prop_map(Extra::OrgA),
        org_stmt().prop_map(Extra::OrgB),
        bucket_stmt().prop_map(Extra::Bucket),
        bucket_stmt().prop_map(Extra::Bucket),
    ]
}

fn decide(w: &World, r: &Request) -> bool {
    decide_restricted(w, r, false)
}

/// [`decide`] with Public Access Block `RestrictPublicBuckets` set as given.
fn decide_restricted(w: &World, r: &Request, restrict_public_buckets: bool) -> bool {
    decide_full(w, r, restrict_public_buckets, None)
}

/// The grants an ACL world draws from (bucket and object ACL alike).
fn grant_universe() -> Vec<Grant> {
    let g = |grantee, permission| Grant {
        grantee,
        permission,
    };
    let org = |o: &str| Grantee::Org { org: o.into() };
    vec![
        g(Grantee::AllUsers, Permission::Read),
        g(Grantee::AllUsers, Permission::Write),
        g(Grantee::AuthenticatedUsers, Permission::Read),
        g(org(ORG_A), Permission::FullControl),
        g(org(ORG_A), Permission::Read),
        g(org(ORG_B), Permission::Read),
        g(org(ORG_B), Permission::Write),
        g(org(ORG_B), Permission::FullControl),
        g(
            Grantee::Principal {
                org: ORG_B.into(),
                principal: "coreweave/carol".into(),
            },
            Permission::FullControl,
        ),
    ]
}

/// ACLs enabled on the bucket: which grants of [`grant_universe`] the bucket ACL and
/// the object ACL hold (bit sets), whether the object belongs to org B, and
/// IgnorePublicAcls.
#[derive(Debug, Clone, Copy)]
struct AclWorld {
    bucket: u16,
    object: u16,
    object_owner_b: bool,
    ignore_public: bool,
}

fn acl_world() -> impl Strategy<Value = AclWorld> {
    (any::<u16>(), any::<u16>(), any::<bool>(), any::<bool>()).prop_map(
        |(bucket, object, object_owner_b, ignore_public)| AclWorld {
            bucket,
            object,
            object_owner_b,
            ignore_public,
        },
    )
}

fn acl_of(bits: u16) -> Acl {
    let grants = grant_universe()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, g)| g)
        .collect();
    Acl::new(grants).unwrap()
}

fn decide_full(
    w: &World,
    r: &Request,
    restrict_public_buckets: bool,
    acls: Option<AclWorld>,
) -> bool {
    let e = PolicyEngine::new();
    e.replace_org(ORG_A, &org_policy(&w.org_a));
    e.replace_org(ORG_B, &org_policy(&w.org_b));
    let now = OffsetDateTime::from_unix_timestamp(1_780_272_000).unwrap();
    let mut ctx = match WHO[r.who] {
        Some((org, p)) => RequestContext::for_principal(org, p, false, now),
        None => RequestContext::anonymous(now),
    };
    if let Some(inside) = r.ip {
        ctx = ctx.with_source_ip(if inside { "10.9.9.9" } else { "8.8.8.8" }.parse().unwrap());
    }
    if let Some(s) = r.secure {
        ctx = ctx.with_secure_transport(s);
    }
    if let Some(p) = r.prefix {
        ctx.set(ContextKey::S3Prefix, if p { "p/q" } else { "q/" });
    }
    let policy = w.bucket.as_deref().map(bucket_policy);
    let (action, resource) = ACTIONS[r.action];
    let bucket_acl = acls.map(|a| acl_of(a.bucket));
    let object_acl = acls.map(|a| acl_of(a.object));
    authorize(
        &e,
        &ctx,
        action,
        resource,
        Some(BucketTarget {
            name: "bkt",
            owner_org: ORG_A,
            policy: policy.as_ref().into(),
            restrict_public_buckets,
            acls: acls.map(|a| AclFacts {
                bucket_acl: bucket_acl.as_ref(),
                ignore_public_acls: a.ignore_public,
                object: ObjectFacts::Present {
                    owner_org: a.object_owner_b.then_some(ORG_B),
                    acl: object_acl.as_ref(),
                },
            }),
        }),
    )
    .allowed
}

/// `w` plus the extra statement (appended, so it cannot change which earlier statement
/// is "first"; monotonicity must hold regardless).
fn with_extra(w: &World, x: &Extra) -> Option<(World, bool)> {
    let mut n = w.clone();
    let deny = match x {
        Extra::OrgA(s) => {
            n.org_a.push(s.clone());
            s.deny
        }
        Extra::OrgB(s) => {
            n.org_b.push(s.clone());
            s.deny
        }
        Extra::Bucket(s) => {
            n.bucket.as_mut()?.push(s.clone());
            s.deny
        }
    };
    Some((n, deny))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn adding_statements_is_monotone(w in world(), r in request(), x in extra()) {
        let Some((more, deny)) = with_extra(&w, &x) else {
            return Ok(());
        };
        let before = decide(&w, &r);
        let after = decide(&more, &r);
        if deny {
            prop_assert!(before || !after, "a Deny turned deny into allow: {x:?}");
        } else {
            prop_assert!(!before || after, "an Allow turned allow into deny: {x:?}");
        }
    }

    #[test]
    fn statement_order_does_not_change_the_verdict(w in world(), r in request()) {
        let mut rev = w.clone();
        rev.org_a.reverse();
        rev.org_b.reverse();
        if let Some(b) = rev.bucket.as_mut() {
            b.reverse();
        }
        prop_assert_eq!(decide(&w, &r), decide(&rev, &r));
    }

    #[test]
    fn anonymous_needs_a_bucket_policy(w in world(), r in request()) {
        let r = Request { who: WHO.len() - 1, ..r };
        let none = World { bucket: None, ..w };
        prop_assert!(!decide(&none, &r));
    }

    /// Enabling ACLs (any grants, any object owner) never takes access away.
    #[test]
    fn acls_only_add_access(w in world(), r in request(), a in acl_world()) {
        let without = decide(&w, &r);
        let with = decide_full(&w, &r, false, Some(a));
        prop_assert!(!without || with, "enabling ACLs took access away");
    }

    /// Adding a grant never takes access away; IgnorePublicAcls never gives any.
    #[test]
    fn grants_are_monotone_and_ignore_public_acls_narrows(
        w in world(), r in request(), a in acl_world(), bit in 0..9u16, on_object in any::<bool>()
    ) {
        let mut more = a;
        if on_object {
            more.object |= 1 << bit;
        } else {
            more.bucket |= 1 << bit;
        }
        let before = decide_full(&w, &r, false, Some(a));
        let after = decide_full(&w, &r, false, Some(more));
        prop_assert!(!before || after, "a grant took access away");
        let mut ignoring = a;
        ignoring.ignore_public = true;
        let mut heeding = a;
        heeding.ignore_public = false;
        let ignored = decide_full(&w, &r, false, Some(ignoring));
        let heeded = decide_full(&w, &r, false, Some(heeding));
        prop_assert!(!ignored || heeded, "IgnorePublicAcls gave access");
    }

    /// No grant gets around a bucket-policy Deny naming everyone, nor around the
    /// caller's org having no Allow (an empty org policy), nor opens the owner org's own
    /// objects to it beyond what everyone may do.
    #[test]
    fn acls_never_get_around_a_deny(w in world(), r in request(), a in acl_world()) {
        let mut denied = w.clone();
        let deny_all = BucketStmt {
            deny: true,
            principal: 0,
            action: 0,
            resource: 0,
            condition: 0,
        };
        denied.bucket.get_or_insert_with(Vec::new).push(deny_all);
        let (action, _) = ACTIONS[r.action];
        if action != "s3:PutBucketPolicy" {
            let d = decide_full(&denied, &r, false, Some(a));
            prop_assert!(!d, "a grant got around a bucket-policy Deny");
        }
        if let Some((org, _)) = WHO[r.who] {
            let mut silent = w.clone();
            if org == ORG_A {
                silent.org_a.clear();
            } else {
                silent.org_b.clear();
            }
            let d = decide_full(&silent, &r, false, Some(a));
            prop_assert!(!d, "a grant got around the caller's own org policy");
        }
    }

    /// `RestrictPublicBuckets` only ever takes access away, and never from the bucket
    /// owner's org. (Adding an `Allow` under it is not monotone, by S3's design: the
    /// statement can make the policy public, which shuts other orgs out.)
    #[test]
    fn restrict_public_buckets_only_narrows_and_spares_the_owner_org(
        w in world(), r in request()
    ) {
        let restricted = decide_restricted(&w, &r, true);
        prop_assert!(!restricted || decide(&w, &r));
        if matches!(WHO[r.who], Some((org, _)) if org == ORG_A) {
            prop_assert_eq!(restricted, decide(&w, &r));
        }
    }
}
