//! Property tests of the org policy layer: the compiled index agrees exactly with the
//! naive evaluator (also with duplicated statements, which the index skips, and with
//! principal lists beyond its fan-out bounds), and the rules are monotone (more Allow never denies, more Deny never
//! allows).

use coffer_core::policy::{
    AccessPolicy, CompiledPolicies, Effect, Statement, Subject, evaluate_naive,
};
use proptest::prelude::*;

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectTagging",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:DeleteObject",
    "s3:ListAllMyBuckets",
    "cwobject:CreateAccessKey",
    "cwobject:EnsureAccessPolicy",
    "cwobject:DeleteAccessPolicy",
    "cwobject:ListAccessPolicy",
    "cwobject:ListBucketInfo",
    "S3:getobject",
];

const ACTION_PATTERNS: &[&str] = &[
    "*",
    "s3:*",
    "s3:Get*",
    "s3:GetObject",
    "S3:GETOBJECT",
    "s3:?etObject",
    "s3:*Object*",
    "s3:List*",
    "s3:ListAllMyBuckets",
    "cwobject:*",
    "cwobject:List*",
    "cwobject:EnsureAccessPolicy",
    "cwobject:CreateAccessKey",
    "CWOBJECT:createaccesskey",
    "s3:PutObject",
];

const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "**",
    "data",
    "data/*",
    "data*",
    "logs-*",
    "logs-?",
    "l*/x",
    "?ata/*",
    "data/dir/*",
    "b",
    "b/*",
    "*/x",
    "d?ta",
    "*a*",
    "data/é*",
    "?",
];

const PRINCIPALS: &[&str] = &[
    "coreweave/u1",
    "coreweave/u2",
    "role/ci",
    "role/https://issuer.example:repo:acme/app",
    "coreweave/é1",
    "role/cé",
];

const PRINCIPAL_PATTERNS: &[&str] = &[
    "*",
    "coreweave/u1",
    "coreweave/u2",
    "coreweave/*",
    "coreweave/u?",
    "role/*",
    "role/ci",
    "role/https://issuer.example:repo:acme/*",
    "*ci",
    "role/c*",
    "role/ci*",
    "coreweave/é*",
    "ro?e/ci",
];

/// Principal patterns: the realistic pool, sometimes arbitrary small globs (the index
/// keys wildcard patterns by their literal prefix, also inside multi-byte characters).
fn principal_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => pick(PRINCIPAL_PATTERNS),
        1 => "[cor/eu?*1é]{0,6}",
    ]
}

/// Usually 1–2 principals; sometimes more than the index's per-statement fan-out bound
/// (8 literals, 8 prefixes), which takes the collapsing paths.
fn principal_list() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        8 => prop::collection::vec(principal_pattern(), 1..3),
        1 => prop::collection::vec(principal_pattern(), 9..14),
        1 => prop::collection::vec("coreweave/u[0-9]{1,2}", 9..14),
    ]
}

/// Request principals: known ones, sometimes arbitrary short strings.
fn principal() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => pick(PRINCIPALS),
        1 => "[cor/eu1é]{0,6}",
        1 => "coreweave/u[0-9]{1,2}",
    ]
}

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(pool).prop_map(str::to_string)
}

fn resource_pattern() -> impl Strategy<Value = String> {
    // Mostly realistic patterns, sometimes arbitrary small globs (even ones validation
    // would reject): the index must agree with the naive evaluator on any input.
    prop_oneof![
        4 => pick(RESOURCE_PATTERNS),
        1 => "[dal/*?x-]{0,6}",
    ]
}

fn action_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => pick(ACTION_PATTERNS),
        1 => "(s3|cwobject|S3|x)?:?[GgeLt*?]{0,4}",
    ]
}

fn resource() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("*".to_string()),
        4 => (
            prop::sample::select(&["data", "data2", "logs-a", "logs-bb", "b", "lx", "dta"][..]),
            prop::option::of(prop::sample::select(&["x", "dir/y", "é", "dir/", "a/x"][..])),
        )
            .prop_map(|(b, k)| match k {
                Some(k) => format!("{b}/{k}"),
                None => b.to_string(),
            }),
        1 => "[dal/*?x-]{0,6}",
    ]
}

fn statement(name: String) -> impl Strategy<Value = Statement> {
    (
        prop::bool::weighted(0.35),
        prop::collection::vec(action_pattern(), 1..4),
        prop::collection::vec(resource_pattern(), 1..4),
        principal_list(),
    )
        .prop_map(move |(deny, actions, resources, principals)| Statement {
            name: name.clone(),
            effect: if deny { Effect::Deny } else { Effect::Allow },
            actions,
            resources,
            principals,
        })
}

fn policy(index: usize) -> impl Strategy<Value = AccessPolicy> {
    (1usize..5)
        .prop_flat_map(|n| {
            (0..n)
                .map(|j| statement(format!("s{j}")))
                .collect::<Vec<_>>()
        })
        .prop_map(move |statements| AccessPolicy {
            version: "v1alpha1".into(),
            name: format!("p{index}"),
            statements,
        })
}

fn policies() -> impl Strategy<Value = Vec<AccessPolicy>> {
    (0usize..5).prop_flat_map(|n| (0..n).map(policy).collect::<Vec<_>>())
}

#[derive(Debug, Clone)]
struct Request {
    principal: String,
    admin: bool,
    anonymous: bool,
    action: String,
    resource: String,
}

impl Request {
    fn subject(&self) -> Subject<'_> {
        Subject {
            principal: &self.principal,
            is_org_admin: self.admin,
            anonymous: self.anonymous,
        }
    }
}

fn request() -> impl Strategy<Value = Request> {
    (
        principal(),
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.15),
        pick(ACTIONS),
        resource(),
    )
        .prop_map(|(principal, admin, anonymous, action, resource)| Request {
            principal,
            admin,
            anonymous,
            action,
            resource,
        })
}

/// Inserts `s` into policy `at.0 % (len+1)` (a new policy when that is `len`), at
/// statement position `at.1`.
fn with_statement(
    mut ps: Vec<AccessPolicy>,
    mut s: Statement,
    at: (usize, usize),
) -> Vec<AccessPolicy> {
    s.name = "added".into();
    let i = at.0 % (ps.len() + 1);
    if i == ps.len() {
        ps.push(AccessPolicy {
            version: "v1alpha1".into(),
            name: "added-policy".into(),
            statements: vec![s],
        });
    } else {
        let stmts = &mut ps[i].statements;
        let j = at.1 % (stmts.len() + 1);
        stmts.insert(j, s);
    }
    ps
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn compiled_agrees_with_naive(ps in policies(), reqs in prop::collection::vec(request(), 1..10)) {
        let compiled = CompiledPolicies::new(&ps);
        for r in &reqs {
            let naive = evaluate_naive(&ps, &r.subject(), &r.action, &r.resource);
            let fast = compiled.decide(&r.subject(), &r.action, &r.resource);
            prop_assert_eq!(&fast, &naive, "request {:?}", r);
        }
    }

    #[test]
    fn adding_allow_never_denies(
        ps in policies(),
        s in statement("x".into()),
        at in (0usize..8, 0usize..8),
        reqs in prop::collection::vec(request(), 1..10),
    ) {
        let s = Statement { effect: Effect::Allow, ..s };
        let after = with_statement(ps.clone(), s, at);
        let compiled_after = CompiledPolicies::new(&after);
        for r in &reqs {
            let before = evaluate_naive(&ps, &r.subject(), &r.action, &r.resource);
            if before.allowed {
                prop_assert!(evaluate_naive(&after, &r.subject(), &r.action, &r.resource).allowed, "{:?}", r);
                prop_assert!(compiled_after.decide(&r.subject(), &r.action, &r.resource).allowed, "{:?}", r);
            }
        }
    }

    #[test]
    fn adding_deny_never_allows(
        ps in policies(),
        s in statement("x".into()),
        at in (0usize..8, 0usize..8),
        reqs in prop::collection::vec(request(), 1..10),
    ) {
        let s = Statement { effect: Effect::Deny, ..s };
        let after = with_statement(ps.clone(), s, at);
        let compiled_after = CompiledPolicies::new(&after);
        for r in &reqs {
            let before = evaluate_naive(&ps, &r.subject(), &r.action, &r.resource);
            if !before.allowed {
                prop_assert!(!evaluate_naive(&after, &r.subject(), &r.action, &r.resource).allowed, "{:?}", r);
                prop_assert!(!compiled_after.decide(&r.subject(), &r.action, &r.resource).allowed, "{:?}", r);
            }
        }
    }

    /// Copies of statements (reordered lists, actions in another case, in a later
    /// policy or later in the same one) are skipped by the index; decisions, including
    /// the named decider, stay those of the naive evaluator.
    #[test]
    fn compiled_agrees_with_duplicated_statements(
        ps in policies(),
        picks in prop::collection::vec((0usize..32, 0usize..8, 0usize..8, any::<bool>()), 1..6),
        reqs in prop::collection::vec(request(), 1..10),
    ) {
        let all: Vec<Statement> = ps.iter().flat_map(|p| p.statements.clone()).collect();
        prop_assume!(!all.is_empty());
        let mut after = ps.clone();
        for (i, (src, p, at, twist)) in picks.into_iter().enumerate() {
            let mut s = all[src % all.len()].clone();
            if twist {
                s.actions.reverse();
                s.actions = s.actions.iter().map(|a| a.to_ascii_uppercase()).collect();
                s.resources.reverse();
                s.principals.push(s.principals[0].clone());
            }
            s.name = format!("dup{i}");
            after = with_statement(after, s, (p, at));
            // `with_statement` names every insert "added"; keep names unique.
            for pol in &mut after {
                for st in &mut pol.statements {
                    if st.name == "added" {
                        st.name = format!("dup{i}");
                    }
                }
            }
        }
        let compiled = CompiledPolicies::new(&after);
        for r in &reqs {
            let naive = evaluate_naive(&after, &r.subject(), &r.action, &r.resource);
            let fast = compiled.decide(&r.subject(), &r.action, &r.resource);
            prop_assert_eq!(&fast, &naive, "request {:?}", r);
        }
    }

    /// Requests whose action and resource come from the patterns themselves hit the
    /// exact-match and prefix paths of the index far more often than random ones.
    #[test]
    fn compiled_agrees_on_pattern_shaped_requests(
        ps in policies(),
        principal in principal(),
        admin in any::<bool>(),
    ) {
        let compiled = CompiledPolicies::new(&ps);
        let subject = Subject { principal: &principal, is_org_admin: admin, anonymous: false };
        for p in &ps {
            for s in &p.statements {
                for a in &s.actions {
                    for r in &s.resources {
                        let naive = evaluate_naive(&ps, &subject, a, r);
                        let fast = compiled.decide(&subject, a, r);
                        prop_assert_eq!(&fast, &naive, "action {:?} resource {:?}", a, r);
                    }
                }
            }
        }
    }
}
