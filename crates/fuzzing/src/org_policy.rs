//! Org access-policy JSON (`EnsureAccessPolicy`): `parse_policy_json` on arbitrary text.
//!
//! Properties of every accepted document:
//! * it satisfies the documented rules (checked here independently of `validate`);
//! * JSON round trip: serializing the typed policy and parsing that again gives an equal
//!   policy, and so does the lenient request form (`RawAccessPolicy`);
//! * the compiled per-org index decides exactly like the naive reference evaluator for
//!   requests built from the policy's own strings.
//!
//! Rejected documents must be rejected without a panic; that is all.

use coffer_core::policy::{
    AccessPolicy, CompiledPolicies, MAX_LIST_ENTRIES, MAX_NAME_CHARS, MAX_RESOURCE_CHARS,
    MAX_STATEMENTS, MAX_STRING_CHARS, POLICY_VERSION, RawAccessPolicy, Subject, evaluate_naive,
    parse_policy_json,
};

const PROBE_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:ListAllMyBuckets",
    "cwobject:EnsureAccessPolicy",
    "cwobject:CreateAccessKey",
];
const PROBE_RESOURCES: &[&str] = &["*", "data", "data/k"];
const PROBE_PRINCIPALS: &[&str] = &["coreweave/alice", "role/ci"];

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = parse_policy_json(text) else {
        return;
    };
    documented_rules_hold(&policy);

    let json = serde_json::to_string(&policy).expect("a policy serializes");
    let again = parse_policy_json(&json).expect("a serialized valid policy parses");
    assert_eq!(again, policy, "JSON round trip changed the policy: {json}");
    let raw = RawAccessPolicy::from(policy.clone());
    assert_eq!(AccessPolicy::try_from(raw).as_ref(), Ok(&policy));

    compiled_agrees_with_naive(&policy);
}

fn name_ok(n: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&n.len())
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn list_ok(items: &[String], max_chars: usize) -> bool {
    (1..=MAX_LIST_ENTRIES).contains(&items.len())
        && items.iter().all(|i| {
            !i.is_empty() && i.chars().count() <= max_chars && !i.chars().any(char::is_control)
        })
}

fn is_arn(s: &str) -> bool {
    s.len() >= 4 && s.as_bytes()[..4].eq_ignore_ascii_case(b"arn:")
}

fn documented_rules_hold(p: &AccessPolicy) {
    assert_eq!(p.version, POLICY_VERSION);
    assert!(name_ok(&p.name), "policy name {:?}", p.name);
    assert!((1..=MAX_STATEMENTS).contains(&p.statements.len()));
    for (i, s) in p.statements.iter().enumerate() {
        assert!(name_ok(&s.name), "statement name {:?}", s.name);
        assert!(
            p.statements[..i].iter().all(|o| o.name != s.name),
            "duplicate statement name {:?}",
            s.name
        );
        assert!(list_ok(&s.actions, MAX_STRING_CHARS));
        assert!(list_ok(&s.resources, MAX_RESOURCE_CHARS));
        assert!(list_ok(&s.principals, MAX_STRING_CHARS));
        for a in &s.actions {
            let ok = a == "*"
                || a.split_once(':').is_some_and(|(ns, name)| {
                    (ns.eq_ignore_ascii_case("s3") || ns.eq_ignore_ascii_case("cwobject"))
                        && !name.is_empty()
                        && name
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'*' || c == b'?')
                });
            assert!(ok, "action {a:?}");
        }
        for r in &s.resources {
            assert!(!is_arn(r) && !r.starts_with('/'), "resource {r:?}");
        }
        for pr in &s.principals {
            assert!(!is_arn(pr), "principal {pr:?}");
        }
    }
}

fn compiled_agrees_with_naive(p: &AccessPolicy) {
    let policies = std::slice::from_ref(p);
    let compiled = CompiledPolicies::new(policies);
    // Probe strings: fixed ones plus (a few of) the policy's own literals, so that
    // statements can actually match.
    let own = |f: fn(&coffer_core::policy::Statement) -> &Vec<String>| -> Vec<String> {
        p.statements
            .iter()
            .flat_map(|s| f(s).iter().take(2).cloned())
            .take(4)
            .collect()
    };
    let actions: Vec<String> = PROBE_ACTIONS
        .iter()
        .map(|s| s.to_string())
        .chain(own(|s| &s.actions))
        .collect();
    let resources: Vec<String> = PROBE_RESOURCES
        .iter()
        .map(|s| s.to_string())
        .chain(own(|s| &s.resources))
        .collect();
    let principals: Vec<String> = PROBE_PRINCIPALS
        .iter()
        .map(|s| s.to_string())
        .chain(own(|s| &s.principals))
        .collect();
    let mut subjects = vec![Subject::anonymous()];
    for pr in &principals {
        subjects.push(Subject::principal(pr));
        subjects.push(Subject::org_admin(pr));
    }
    for subject in &subjects {
        for a in &actions {
            for r in &resources {
                let fast = compiled.decide(subject, a, r);
                let slow = evaluate_naive(policies, subject, a, r);
                assert_eq!(
                    fast, slow,
                    "compiled and naive disagree on {a:?} {r:?} for {subject:?}"
                );
            }
        }
    }
}
