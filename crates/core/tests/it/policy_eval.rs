//! Table-driven tests of the org policy layer (SPEC §3). Every case is evaluated by the
//! naive reference evaluator, the compiled index and the engine, which must all agree
//! with the expected decision, including which statement decided.

use coffer_core::policy::{
    AccessPolicy, CompiledPolicies, Decision, Effect, Layer, ORG_ADMIN_POLICY, PolicyEngine,
    Statement, Subject, evaluate_naive, validate,
};

const U1: &str = "coreweave/uAAAAAAAAAAAAAAAAAAA1";
const U2: &str = "coreweave/uBBBBBBBBBBBBBBBBBBB2";
const ADMIN: &str = "coreweave/uADMINADMINADMINADMIN";
const CI: &str = "role/ci";
const GH_MAIN: &str =
    "role/https://token.actions.githubusercontent.com:repo:acme/app:ref:refs/heads/main";
const GH_OTHER: &str =
    "role/https://token.actions.githubusercontent.com:repo:other/app:ref:refs/heads/main";

fn st(
    name: &str,
    effect: Effect,
    actions: &[&str],
    resources: &[&str],
    principals: &[&str],
) -> Statement {
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Statement {
        name: name.into(),
        effect,
        actions: v(actions),
        resources: v(resources),
        principals: v(principals),
    }
}

fn pol(name: &str, statements: Vec<Statement>) -> AccessPolicy {
    AccessPolicy {
        version: "v1alpha1".into(),
        name: name.into(),
        statements,
    }
}

use Effect::{Allow as A, Deny as D};

fn none() -> Vec<AccessPolicy> {
    vec![]
}

fn allow_all() -> Vec<AccessPolicy> {
    vec![pol(
        "test-policy",
        vec![st("allow-everything", A, &["*"], &["*"], &["*"])],
    )]
}

fn basic() -> Vec<AccessPolicy> {
    vec![
        pol(
            "readers",
            vec![
                st("get-data", A, &["s3:Get*"], &["data/*"], &[U1]),
                st("list-data", A, &["s3:ListBucket"], &["data"], &[U1]),
            ],
        ),
        pol(
            "writers",
            vec![st(
                "put-uploads",
                A,
                &["s3:PutObject"],
                &["data/uploads/*"],
                &[CI],
            )],
        ),
        pol(
            "guard",
            vec![
                st("no-delete", D, &["s3:DeleteObject"], &["data/*"], &["*"]),
                st("no-secret", D, &["*"], &["secret*"], &["*"]),
            ],
        ),
        pol(
            "secret-open",
            vec![st("open", A, &["s3:*"], &["secret", "secret/*"], &["*"])],
        ),
    ]
}

fn admin_lockout() -> Vec<AccessPolicy> {
    vec![pol(
        "lockout",
        vec![st("deny-cw", D, &["cwobject:*"], &["*"], &["*"])],
    )]
}

fn admin_s3() -> Vec<AccessPolicy> {
    vec![pol(
        "admin-s3",
        vec![
            st("admin-data", A, &["s3:*"], &["data", "data/*"], &[ADMIN]),
            st(
                "no-keys",
                D,
                &["cwobject:CreateAccessKey"],
                &["*"],
                &[ADMIN],
            ),
        ],
    )]
}

fn global() -> Vec<AccessPolicy> {
    vec![pol(
        "global",
        vec![
            st(
                "keys",
                A,
                &["cwobject:CreateAccessKey", "s3:ListAllMyBuckets"],
                &["*"],
                &[U1],
            ),
            st("u2-data", A, &["*"], &["data"], &[U2]),
            st("u2-q", A, &["*"], &["?"], &[U2]),
            st("ci-cw", A, &["cwobject:List*"], &["*"], &[CI]),
        ],
    )]
}

fn ordering() -> Vec<AccessPolicy> {
    vec![
        pol(
            "a-first",
            vec![st("a1", A, &["s3:GetObject"], &["data/*"], &["*"])],
        ),
        pol(
            "b-second",
            vec![
                st("b1", A, &["s3:*"], &["*"], &["*"]),
                st("b2", D, &["s3:GetObject"], &["data/private/*"], &["*"]),
                st("b3", D, &["s3:Get*"], &["data/private/*"], &["*"]),
            ],
        ),
        pol(
            "c-third",
            vec![st("c1", D, &["s3:GetObject"], &["data/private/x"], &["*"])],
        ),
    ]
}

fn cases_policy() -> Vec<AccessPolicy> {
    vec![pol(
        "case",
        vec![
            st("mixed-action", A, &["S3:gEtObJeCt"], &["Data/*"], &[U1]),
            st("cw-lower", A, &["CWOBJECT:listbucketinfo"], &["*"], &[U1]),
        ],
    )]
}

fn wildcards() -> Vec<AccessPolicy> {
    vec![pol(
        "wild",
        vec![
            st("logs", A, &["s3:GetObject"], &["logs-*"], &[U1]),
            st("bq", A, &["s3:PutObject"], &["b?cket/*"], &[U1]),
            st(
                "gh",
                A,
                &["s3:GetObject"],
                &["artifacts/*"],
                &["role/https://token.actions.githubusercontent.com:repo:acme/*"],
            ),
            st("q-action", A, &["s3:?etObject"], &["q/*"], &[U2]),
            st("multi", A, &["s3:*Object*"], &["m/*/x/*"], &[U2]),
            st("team", A, &["s3:ListBucket"], &["team-*"], &["coreweave/*"]),
        ],
    )]
}

fn anon() -> Vec<AccessPolicy> {
    vec![
        pol(
            "anon-allow",
            vec![st("everyone", A, &["s3:GetObject"], &["public/*"], &["*"])],
        ),
        pol(
            "anon-deny",
            vec![
                st(
                    "deny-all-star",
                    D,
                    &["s3:GetObject"],
                    &["public/blocked/*"],
                    &["*"],
                ),
                st(
                    "deny-users",
                    D,
                    &["s3:GetObject"],
                    &["public/users-only/*"],
                    &["coreweave/*"],
                ),
            ],
        ),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Allowed by (policy, statement).
    Allow(&'static str, &'static str),
    /// Explicitly denied by (policy, statement).
    Deny(&'static str, &'static str),
    /// Allowed by the org-admin role.
    Admin,
    /// Default deny.
    Default,
}

struct Case {
    name: &'static str,
    policies: fn() -> Vec<AccessPolicy>,
    subject: Subject<'static>,
    action: &'static str,
    resource: &'static str,
    expect: Expect,
}

fn user(p: &'static str) -> Subject<'static> {
    Subject::principal(p)
}
fn admin() -> Subject<'static> {
    Subject::org_admin(ADMIN)
}
fn anonymous() -> Subject<'static> {
    Subject::anonymous()
}

macro_rules! cases {
    ($( $name:literal : $pol:ident, $subj:expr, $action:literal, $resource:literal => $expect:expr; )*) => {
        vec![$( Case { name: $name, policies: $pol, subject: $subj, action: $action, resource: $resource, expect: $expect } ),*]
    };
}

fn table() -> Vec<Case> {
    use Expect::*;
    cases![
        // ---- default deny ----
        "no policies: user denied": none, user(U1), "s3:GetObject", "data/x" => Default;
        "no policies: user cwobject denied": none, user(U1), "cwobject:CreateAccessKey", "*" => Default;
        "no policies: list buckets denied": none, user(U1), "s3:ListAllMyBuckets", "*" => Default;
        "no policies: admin cwobject allowed": none, admin(), "cwobject:CreateAccessKey", "*" => Admin;
        "no policies: admin ensure policy": none, admin(), "cwobject:EnsureAccessPolicy", "*" => Admin;
        "no policies: admin no s3": none, admin(), "s3:GetObject", "data/x" => Default;
        "no policies: admin no list buckets": none, admin(), "s3:ListAllMyBuckets", "*" => Default;
        "no policies: anonymous": none, anonymous(), "s3:GetObject", "data/x" => Default;
        // ---- allow everything (reference example) ----
        "allow-all: object": allow_all, user(U1), "s3:GetObject", "data/x" => Allow("test-policy", "allow-everything");
        "allow-all: bucket": allow_all, user(U2), "s3:ListBucket", "data" => Allow("test-policy", "allow-everything");
        "allow-all: global s3": allow_all, user(U1), "s3:ListAllMyBuckets", "*" => Allow("test-policy", "allow-everything");
        "allow-all: cwobject": allow_all, user(CI), "cwobject:CreateAccessKey", "*" => Allow("test-policy", "allow-everything");
        "allow-all: federated": allow_all, user(GH_MAIN), "s3:PutObject", "b/k" => Allow("test-policy", "allow-everything");
        "allow-all: anonymous never": allow_all, anonymous(), "s3:GetObject", "data/x" => Default;
        "allow-all: admin s3 via policy": allow_all, admin(), "s3:GetObject", "data/x" => Allow("test-policy", "allow-everything");
        "allow-all: admin cwobject via role": allow_all, admin(), "cwobject:ListBucketInfo", "*" => Admin;
        // ---- basic allow/deny ----
        "basic: get allowed": basic, user(U1), "s3:GetObject", "data/a.txt" => Allow("readers", "get-data");
        "basic: get tagging via Get*": basic, user(U1), "s3:GetObjectTagging", "data/a.txt" => Allow("readers", "get-data");
        "basic: nested key": basic, user(U1), "s3:GetObject", "data/a/b/c" => Allow("readers", "get-data");
        "basic: other principal": basic, user(U2), "s3:GetObject", "data/a.txt" => Default;
        "basic: put not granted to U1": basic, user(U1), "s3:PutObject", "data/a.txt" => Default;
        "basic: list on bucket": basic, user(U1), "s3:ListBucket", "data" => Allow("readers", "list-data");
        "basic: list with key resource": basic, user(U1), "s3:ListBucket", "data/x" => Default;
        "basic: data/* does not match bucket": basic, user(U1), "s3:GetObject", "data" => Default;
        "basic: other bucket": basic, user(U1), "s3:GetObject", "data2/a" => Default;
        "basic: ci put uploads": basic, user(CI), "s3:PutObject", "data/uploads/f" => Allow("writers", "put-uploads");
        "basic: ci put outside uploads": basic, user(CI), "s3:PutObject", "data/f" => Default;
        "basic: delete denied for all": basic, user(U1), "s3:DeleteObject", "data/a.txt" => Deny("guard", "no-delete");
        "basic: delete denied for ci": basic, user(CI), "s3:DeleteObject", "data/uploads/f" => Deny("guard", "no-delete");
        "basic: deny beats later allow": basic, user(U1), "s3:GetObject", "secret/x" => Deny("guard", "no-secret");
        "basic: deny secret bucket": basic, user(U2), "s3:ListBucket", "secret" => Deny("guard", "no-secret");
        "basic: deny secret prefix bucket": basic, user(U2), "s3:PutObject", "secrets-2/x" => Deny("guard", "no-secret");
        "basic: deny does not touch global": basic, user(U1), "s3:ListAllMyBuckets", "*" => Default;
        "basic: admin still denied s3": basic, admin(), "s3:DeleteObject", "data/x" => Deny("guard", "no-delete");
        "basic: admin cwobject": basic, admin(), "cwobject:CreateAccessKey", "*" => Admin;
        // ---- admin exceptions ----
        "lockout: user denied cwobject": admin_lockout, user(U1), "cwobject:ListAccessPolicy", "*" => Deny("lockout", "deny-cw");
        "lockout: admin ensure never denied": admin_lockout, admin(), "cwobject:EnsureAccessPolicy", "*" => Admin;
        "lockout: admin delete never denied": admin_lockout, admin(), "cwobject:DeleteAccessPolicy", "*" => Admin;
        "lockout: admin list never denied": admin_lockout, admin(), "cwobject:ListAccessPolicy", "*" => Admin;
        "lockout: admin list policy any case": admin_lockout, admin(), "CWOBJECT:listaccesspolicy", "*" => Admin;
        "lockout: admin create key denied": admin_lockout, admin(), "cwobject:CreateAccessKey", "*" => Deny("lockout", "deny-cw");
        "lockout: admin audit denied": admin_lockout, admin(), "cwobject:EnableBucketAuditLogging", "*" => Deny("lockout", "deny-cw");
        "lockout: admin s3 still default": admin_lockout, admin(), "s3:GetObject", "x/y" => Default;
        "admin-s3: granted by statement": admin_s3, admin(), "s3:PutObject", "data/k" => Allow("admin-s3", "admin-data");
        "admin-s3: bucket itself": admin_s3, admin(), "s3:ListBucket", "data" => Allow("admin-s3", "admin-data");
        "admin-s3: other bucket": admin_s3, admin(), "s3:PutObject", "other/k" => Default;
        "admin-s3: explicit deny for admin": admin_s3, admin(), "cwobject:CreateAccessKey", "*" => Deny("admin-s3", "no-keys");
        "admin-s3: other cwobject by role": admin_s3, admin(), "cwobject:RevokeAccessKeysByPrincipal", "*" => Admin;
        "admin-s3: same statement, non-admin subject": admin_s3, user(U1), "s3:PutObject", "data/k" => Default;
        "admin-s3: principal string without admin flag": admin_s3, user(ADMIN), "cwobject:ListBucketInfo", "*" => Default;
        "admin: anonymous flag wins": none, Subject { principal: ADMIN, is_org_admin: true, anonymous: true }, "cwobject:EnsureAccessPolicy", "*" => Default;
        // ---- global actions and the global resource ----
        "global: create key": global, user(U1), "cwobject:CreateAccessKey", "*" => Allow("global", "keys");
        "global: list all buckets": global, user(U1), "s3:ListAllMyBuckets", "*" => Allow("global", "keys");
        "global: other cw action": global, user(U1), "cwobject:ListBucketInfo", "*" => Default;
        "global: * on bucket does not match global": global, user(U2), "s3:ListAllMyBuckets", "*" => Default;
        "global: * on bucket does not match cw": global, user(U2), "cwobject:CreateAccessKey", "*" => Default;
        "global: * on bucket matches bucket": global, user(U2), "s3:ListBucket", "data" => Allow("global", "u2-data");
        "global: * on bucket not objects": global, user(U2), "s3:GetObject", "data/k" => Default;
        "global: ? resource never global": global, user(U2), "s3:ListAllMyBuckets", "*" => Default;
        "global: ci List* cw": global, user(CI), "cwobject:ListAccessKeyInfo", "*" => Allow("global", "ci-cw");
        "global: ci List* not create": global, user(CI), "cwobject:CreateAccessKey", "*" => Default;
        // ---- statement ordering ----
        "order: first allow names first policy": ordering, user(U1), "s3:GetObject", "data/x" => Allow("a-first", "a1");
        "order: allow from second policy": ordering, user(U1), "s3:PutObject", "data/x" => Allow("b-second", "b1");
        "order: first deny in order": ordering, user(U1), "s3:GetObject", "data/private/x" => Deny("b-second", "b2");
        "order: glob deny": ordering, user(U1), "s3:GetObjectAcl", "data/private/x" => Deny("b-second", "b3");
        "order: deny beats earlier allow": ordering, user(U2), "s3:GetObject", "data/private/y" => Deny("b-second", "b2");
        // ---- case rules ----
        "case: action case-insensitive": cases_policy, user(U1), "s3:GetObject", "Data/x" => Allow("case", "mixed-action");
        "case: request action odd case": cases_policy, user(U1), "S3:GETOBJECT", "Data/x" => Allow("case", "mixed-action");
        "case: resource case-sensitive": cases_policy, user(U1), "s3:GetObject", "data/x" => Default;
        "case: key case-sensitive prefix": cases_policy, user(U1), "s3:GetObject", "DATA/x" => Default;
        "case: principal case-sensitive": cases_policy, user("coreweave/uaaaaaaaaaaaaaaaaaaa1"), "s3:GetObject", "Data/x" => Default;
        "case: cwobject namespace any case": cases_policy, user(U1), "cwobject:ListBucketInfo", "*" => Allow("case", "cw-lower");
        // ---- wildcards ----
        "wild: logs-* bucket": wildcards, user(U1), "s3:GetObject", "logs-eu" => Allow("wild", "logs");
        "wild: logs-* crosses slash": wildcards, user(U1), "s3:GetObject", "logs-eu/2024/01/a" => Allow("wild", "logs");
        "wild: logs-* needs dash": wildcards, user(U1), "s3:GetObject", "logs/a" => Default;
        "wild: logs-* empty suffix": wildcards, user(U1), "s3:GetObject", "logs-" => Allow("wild", "logs");
        "wild: b?cket matches one char": wildcards, user(U1), "s3:PutObject", "bucket/k" => Allow("wild", "bq");
        "wild: b?cket not zero chars": wildcards, user(U1), "s3:PutObject", "bcket/k" => Default;
        "wild: b?cket not two chars": wildcards, user(U1), "s3:PutObject", "buucket/k" => Default;
        "wild: github org glob": wildcards, user(GH_MAIN), "s3:GetObject", "artifacts/build.tgz" => Allow("wild", "gh");
        "wild: github other org": wildcards, user(GH_OTHER), "s3:GetObject", "artifacts/build.tgz" => Default;
        "wild: ? in action": wildcards, user(U2), "s3:GetObject", "q/k" => Allow("wild", "q-action");
        "wild: ? in action not two": wildcards, user(U2), "s3:PutObject", "q/k" => Default;
        "wild: multi star action and resource": wildcards, user(U2), "s3:PutObjectTagging", "m/a/b/x/c" => Allow("wild", "multi");
        "wild: multi star resource miss": wildcards, user(U2), "s3:PutObject", "m/a/b/y/c" => Default;
        "wild: multi star action miss": wildcards, user(U2), "s3:ListBucket", "m/a/x/c" => Default;
        "wild: coreweave/* principals": wildcards, user(U2), "s3:ListBucket", "team-a" => Allow("wild", "team");
        "wild: coreweave/* excludes roles": wildcards, user(CI), "s3:ListBucket", "team-a" => Default;
        // ---- anonymous ----
        "anon: org * allow does not grant": anon, anonymous(), "s3:GetObject", "public/x" => Default;
        "anon: user allowed by *": anon, user(U1), "s3:GetObject", "public/x" => Allow("anon-allow", "everyone");
        "anon: * deny applies to anonymous": anon, anonymous(), "s3:GetObject", "public/blocked/x" => Deny("anon-deny", "deny-all-star");
        "anon: coreweave/* deny not anonymous": anon, anonymous(), "s3:GetObject", "public/users-only/x" => Default;
        "anon: coreweave/* deny user": anon, user(U2), "s3:GetObject", "public/users-only/x" => Deny("anon-deny", "deny-users");
        "anon: role not matched by coreweave/*": anon, user(CI), "s3:GetObject", "public/users-only/x" => Allow("anon-allow", "everyone");
    ]
}

fn check(case: &Case, got: &Decision, via: &str) {
    let ctx = format!("case {:?} via {via}: got {got:?}", case.name);
    let by = &got.decided_by;
    match case.expect {
        Expect::Allow(p, s) => {
            assert!(got.allowed, "{ctx}");
            assert_eq!(by.layer, Layer::Org, "{ctx}");
            assert_eq!(by.policy.as_deref(), Some(p), "{ctx}");
            assert_eq!(by.statement.as_deref(), Some(s), "{ctx}");
        }
        Expect::Deny(p, s) => {
            assert!(!got.allowed, "{ctx}");
            assert!(got.is_explicit_deny(), "{ctx}");
            assert_eq!(by.layer, Layer::Org, "{ctx}");
            assert_eq!(by.policy.as_deref(), Some(p), "{ctx}");
            assert_eq!(by.statement.as_deref(), Some(s), "{ctx}");
        }
        Expect::Admin => {
            assert!(got.allowed, "{ctx}");
            assert_eq!(by.layer, Layer::Org, "{ctx}");
            assert_eq!(by.policy.as_deref(), Some(ORG_ADMIN_POLICY), "{ctx}");
            assert_eq!(by.statement, None, "{ctx}");
        }
        Expect::Default => {
            assert_eq!(got, &Decision::default_deny(), "{ctx}");
            assert!(!got.is_explicit_deny(), "{ctx}");
        }
    }
}

#[test]
fn decision_table() {
    let table = table();
    assert!(table.len() >= 80, "table has {} cases", table.len());
    let engine = PolicyEngine::new();
    for case in &table {
        let policies = (case.policies)();
        for p in &policies {
            validate(p).unwrap_or_else(|e| panic!("fixture of {:?} invalid: {e}", case.name));
        }
        let naive = evaluate_naive(&policies, &case.subject, case.action, case.resource);
        check(case, &naive, "naive");
        let compiled =
            CompiledPolicies::new(&policies).decide(&case.subject, case.action, case.resource);
        check(case, &compiled, "compiled");
        engine.replace_org("org001", &policies);
        let via_engine = engine.decide("org001", &case.subject, case.action, case.resource);
        check(case, &via_engine, "engine");
        assert_eq!(
            engine.has_policies("org001"),
            !policies.is_empty(),
            "{}",
            case.name
        );
    }
}

#[test]
fn engine_orgs_are_isolated_and_swappable() {
    let engine = PolicyEngine::new();
    assert!(!engine.has_policies("aaaaaa"));
    engine.replace_org("aaaaaa", &allow_all());
    assert!(engine.has_policies("aaaaaa"));
    assert!(!engine.has_policies("bbbbbb"));
    let u = user(U1);
    assert!(engine.decide("aaaaaa", &u, "s3:GetObject", "b/k").allowed);
    assert!(!engine.decide("bbbbbb", &u, "s3:GetObject", "b/k").allowed);
    // admin of an org without policies still manages it
    assert!(
        engine
            .decide("bbbbbb", &admin(), "cwobject:EnsureAccessPolicy", "*")
            .allowed
    );

    engine.replace_org("aaaaaa", &basic());
    assert!(!engine.decide("aaaaaa", &u, "s3:GetObject", "b/k").allowed);
    assert!(
        engine
            .decide("aaaaaa", &u, "s3:GetObject", "data/k")
            .allowed
    );

    engine.replace_org("aaaaaa", &[]);
    assert!(!engine.has_policies("aaaaaa"));
    engine.replace_org("aaaaaa", &basic());
    engine.remove_org("aaaaaa");
    assert!(!engine.has_policies("aaaaaa"));
    assert!(engine.org("aaaaaa").is_none());
    engine.remove_org("never-existed");

    engine.replace_all([
        ("aaaaaa".to_string(), allow_all()),
        ("bbbbbb".to_string(), basic()),
        ("cccccc".to_string(), vec![]),
    ]);
    assert!(engine.has_policies("aaaaaa") && engine.has_policies("bbbbbb"));
    assert!(!engine.has_policies("cccccc"));
    let org = engine.org("bbbbbb").expect("compiled");
    assert_eq!(org.policy_count(), 4);
    assert_eq!(org.statement_count(), 6);
}

#[test]
fn engine_concurrent_replace_loses_no_org() {
    let engine = std::sync::Arc::new(PolicyEngine::new());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for j in 0..50 {
                    engine.replace_org(&format!("org{i}{j}"), &allow_all());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for i in 0..8 {
        for j in 0..50 {
            assert!(engine.has_policies(&format!("org{i}{j}")));
        }
    }
}

#[test]
fn decision_serializes_as_wire_shape() {
    let d = CompiledPolicies::new(&basic()).decide(&user(U1), "s3:GetObject", "data/k");
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        serde_json::json!({"allowed": true, "decidedBy": {"layer": "org", "policy": "readers", "statement": "get-data"}})
    );
    let d = Decision::default_deny();
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        serde_json::json!({"allowed": false, "decidedBy": {"layer": "default"}})
    );
    let d = Decision::org_admin();
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(
        json,
        r#"{"allowed":true,"decidedBy":{"layer":"org","policy":"<org-admin>"}}"#
    );
    let back: Decision = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    assert_eq!(
        serde_json::to_value(Layer::Bucket).unwrap(),
        serde_json::json!("bucket")
    );
}

#[test]
fn many_policies_compile_and_decide() {
    // 1,000 policies x 10 statements, one bucket each: every decision must still be exact.
    let policies: Vec<AccessPolicy> = (0..1000)
        .map(|i| {
            pol(
                &format!("p{i:04}"),
                (0..10)
                    .map(|j| {
                        let effect = if j == 9 { D } else { A };
                        st(
                            &format!("s{j}"),
                            effect,
                            &[if j % 2 == 0 {
                                "s3:GetObject"
                            } else {
                                "s3:Put*"
                            }],
                            &[&format!("bucket-{i}/dir{j}/*")],
                            &[&format!("coreweave/user{i}")],
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let compiled = CompiledPolicies::new(&policies);
    let p = "coreweave/user500";
    let s = user(p);
    let d = compiled.decide(&s, "s3:GetObject", "bucket-500/dir4/x");
    assert!(d.allowed);
    assert_eq!(d.decided_by.policy.as_deref(), Some("p0500"));
    assert_eq!(d.decided_by.statement.as_deref(), Some("s4"));
    assert!(
        !compiled
            .decide(&s, "s3:GetObject", "bucket-501/dir4/x")
            .allowed
    );
    assert!(
        !compiled
            .decide(&s, "s3:PutObject", "bucket-500/dir9/x")
            .allowed
    );
    assert!(
        compiled
            .decide(&s, "s3:PutObject", "bucket-500/dir9/x")
            .is_explicit_deny()
    );
    for (res, act) in [
        ("bucket-500/dir4/x", "s3:GetObject"),
        ("bucket-7/dir1/y", "s3:PutObject"),
    ] {
        assert_eq!(
            compiled.decide(&s, act, res),
            evaluate_naive(&policies, &s, act, res)
        );
    }
}
