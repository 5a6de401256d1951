//! Validation and JSON shape of org access policies (SPEC §2 `EnsureAccessPolicy`).

use coffer_core::policy::{
    AccessPolicy, CWOBJECT_ACTIONS, Effect, PolicyError, RawAccessPolicy, is_global_action,
    parse_policy_json, validate,
};
use serde_json::{Value, json};

const REFERENCE_EXAMPLE: &str = r#"{
    "version": "v1alpha1",
    "name": "test-policy",
    "statements": [
        {
            "name": "allow-everything",
            "effect": "Allow",
            "actions": ["*"],
            "resources": ["*"],
            "principals": ["*"]
        }
    ]
}"#;

fn base() -> Value {
    serde_json::from_str(REFERENCE_EXAMPLE).unwrap()
}

/// The reference example with statement 0's `field` replaced.
fn with_stmt(field: &str, v: Value) -> Value {
    let mut p = base();
    p["statements"][0][field] = v;
    p
}

/// The reference example plus a second statement built from `s`.
fn with_second(s: Value) -> Value {
    let mut p = base();
    p["statements"].as_array_mut().unwrap().push(s);
    p
}

fn parse(v: &Value) -> Result<AccessPolicy, PolicyError> {
    parse_policy_json(&v.to_string())
}

#[test]
fn reference_example_round_trips_exactly() {
    let p = parse_policy_json(REFERENCE_EXAMPLE).expect("valid");
    assert_eq!(p.statements[0].effect, Effect::Allow);
    assert_eq!(serde_json::to_value(&p).unwrap(), base());
    // the stored (strict) form reads its own output back
    let stored: AccessPolicy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(stored, p);
    // raw form converts back and forth
    let raw = RawAccessPolicy::from(p.clone());
    assert_eq!(AccessPolicy::try_from(raw).unwrap(), p);
}

#[test]
fn unknown_fields_are_ignored() {
    let mut v = base();
    v["extra"] = json!({"a": 1});
    v["statements"][0]["condition"] = json!("x");
    let p = parse(&v).expect("valid");
    assert_eq!(serde_json::to_value(&p).unwrap(), base());
    let strict: AccessPolicy = serde_json::from_value(v).unwrap();
    assert_eq!(strict, p);
}

#[test]
fn valid_policies() {
    let ok = [
        with_stmt(
            "actions",
            json!([
                "s3:GetObject",
                "S3:putobject",
                "s3:Get*",
                "s3:*",
                "s3:?etObject"
            ]),
        ),
        with_stmt("actions", json!(["cwobject:*"])),
        with_stmt("actions", json!(["CWOBJECT:CreateAccessKey"])),
        with_stmt("actions", json!(CWOBJECT_ACTIONS)),
        with_stmt("actions", json!(["s3:ListAllMyBuckets"])),
        // `*` and `s3:*` with a bucket resource are fine: they never match global actions there
        with_second(
            json!({"name": "b", "effect": "Deny", "actions": ["*"], "resources": ["data", "data/*"], "principals": ["*"]}),
        ),
        with_second(
            json!({"name": "b", "effect": "Allow", "actions": ["s3:*", "s3:List*"], "resources": ["logs-*"], "principals": ["coreweave/*"]}),
        ),
        with_second(
            json!({"name": "b", "effect": "Allow", "actions": ["s3:GetObject"], "resources": ["b?cket/*"], "principals": ["role/https://token.actions.githubusercontent.com:repo:acme/*"]}),
        ),
        with_second(
            json!({"name": "Stmt_1.a-b", "effect": "Allow", "actions": ["s3:GetObject"], "resources": ["data/ünïcode key"], "principals": ["role/ci"]}),
        ),
        // unknown action names within a known namespace are accepted (they never match)
        with_stmt("actions", json!(["s3:SomeFutureAction"])),
    ];
    for (i, v) in ok.iter().enumerate() {
        let p = parse(v).unwrap_or_else(|e| panic!("case {i}: {e}"));
        validate(&p).unwrap();
    }
    let mut v = base();
    v["name"] = json!("a".repeat(128));
    parse(&v).expect("128-char name");
    let mut v = base();
    v["statements"] = json!((0..100)
        .map(|i| json!({"name": format!("s{i}"), "effect": "Allow", "actions": ["*"], "resources": ["*"], "principals": ["*"]}))
        .collect::<Vec<_>>());
    parse(&v).expect("100 statements");
    parse(&with_stmt(
        "principals",
        json!(
            (0..100)
                .map(|i| format!("coreweave/u{i}"))
                .collect::<Vec<_>>()
        ),
    ))
    .expect("100 principals");
    parse(&with_second(
        json!({"name": "k", "effect": "Allow", "actions": ["s3:GetObject"],
        "resources": [format!("{}/{}", "b".repeat(63), "k".repeat(1024))], "principals": ["*"]}),
    ))
    .expect("max bucket/key resource");
}

/// (case, policy JSON, index of the offending statement or None, substring of the message)
fn invalid_cases() -> Vec<(&'static str, Value, Option<usize>, &'static str)> {
    let mut cases = Vec::new();
    let mut push = |name, v, idx, msg| cases.push((name, v, idx, msg));

    let mut v = base();
    v["version"] = json!("v1");
    push("wrong version", v, None, "version must be \"v1alpha1\"");
    let mut v = base();
    v.as_object_mut().unwrap().remove("version");
    push("missing version", v, None, "version");
    let mut v = base();
    v["name"] = json!("");
    push("empty name", v, None, "policy name must not be empty");
    let mut v = base();
    v.as_object_mut().unwrap().remove("name");
    push("missing name", v, None, "policy name must not be empty");
    let mut v = base();
    v["name"] = json!("has space");
    push("bad name chars", v, None, "may only contain");
    let mut v = base();
    v["name"] = json!("a/b");
    push("slash in name", v, None, "may only contain");
    let mut v = base();
    v["name"] = json!("a".repeat(129));
    push("long name", v, None, "longer than 128");
    let mut v = base();
    v["statements"] = json!([]);
    push("empty statements", v, None, "statements must not be empty");
    let mut v = base();
    v.as_object_mut().unwrap().remove("statements");
    push(
        "missing statements",
        v,
        None,
        "statements must not be empty",
    );
    let mut v = base();
    v["statements"] = json!((0..101)
        .map(|i| json!({"name": format!("s{i}"), "effect": "Allow", "actions": ["*"], "resources": ["*"], "principals": ["*"]}))
        .collect::<Vec<_>>());
    push("too many statements", v, None, "at most 100");

    push(
        "effect lowercase",
        with_stmt("effect", json!("allow")),
        Some(0),
        "effect must be exactly",
    );
    push(
        "effect other",
        with_stmt("effect", json!("Permit")),
        Some(0),
        "\"Permit\"",
    );
    push(
        "effect empty",
        with_stmt("effect", json!("")),
        Some(0),
        "effect must be exactly",
    );
    let mut v = base();
    v["statements"][0].as_object_mut().unwrap().remove("effect");
    push("effect missing", v, Some(0), "effect must be exactly");
    push(
        "effect in second statement",
        with_second(
            json!({"name": "second", "effect": "DENY", "actions": ["*"], "resources": ["*"], "principals": ["*"]}),
        ),
        Some(1),
        "(\"second\")",
    );

    push(
        "statement name empty",
        with_stmt("name", json!("")),
        Some(0),
        "statement name must not be empty",
    );
    push(
        "statement name chars",
        with_stmt("name", json!("allow everything")),
        Some(0),
        "may only contain",
    );
    push(
        "duplicate statement name",
        with_second(
            json!({"name": "allow-everything", "effect": "Deny", "actions": ["*"], "resources": ["*"], "principals": ["*"]}),
        ),
        Some(1),
        "unique",
    );

    push(
        "empty actions",
        with_stmt("actions", json!([])),
        Some(0),
        "actions must not be empty",
    );
    push(
        "empty resources",
        with_stmt("resources", json!([])),
        Some(0),
        "resources must not be empty",
    );
    push(
        "empty principals",
        with_stmt("principals", json!([])),
        Some(0),
        "principals must not be empty",
    );
    let mut v = base();
    v["statements"][0]
        .as_object_mut()
        .unwrap()
        .remove("principals");
    push(
        "missing principals",
        v,
        Some(0),
        "principals must not be empty",
    );
    push(
        "empty action string",
        with_stmt("actions", json!([""])),
        Some(0),
        "empty strings",
    );
    push(
        "empty resource string",
        with_stmt("resources", json!(["*", ""])),
        Some(0),
        "empty strings",
    );
    push(
        "empty principal string",
        with_stmt("principals", json!([""])),
        Some(0),
        "empty strings",
    );

    push(
        "unknown namespace",
        with_stmt("actions", json!(["iam:CreateUser"])),
        Some(0),
        "unknown namespace \"iam\"",
    );
    push(
        "wildcard namespace",
        with_stmt("actions", json!(["*:GetObject"])),
        Some(0),
        "unknown namespace",
    );
    push(
        "no namespace",
        with_stmt("actions", json!(["GetObject"])),
        Some(0),
        "must be \"*\" or",
    );
    push(
        "double star bare",
        with_stmt("actions", json!(["**"])),
        Some(0),
        "must be \"*\" or",
    );
    push(
        "empty action name",
        with_stmt("actions", json!(["s3:"])),
        Some(0),
        "must have a name",
    );
    push(
        "space in action",
        with_stmt("actions", json!(["s3:Get Object"])),
        Some(0),
        "must have a name",
    );
    push(
        "leading space namespace",
        with_stmt("actions", json!([" s3:GetObject"])),
        Some(0),
        "unknown namespace",
    );

    push(
        "arn principal",
        with_stmt("principals", json!(["arn:aws:iam::a1b2c3:coreweave/u1"])),
        Some(0),
        "full ARN",
    );
    push(
        "ARN principal upper",
        with_stmt("principals", json!(["ARN:x"])),
        Some(0),
        "full ARN",
    );
    push(
        "arn resource",
        with_stmt("resources", json!(["arn:aws:s3:::bucket/*"])),
        Some(0),
        "is an ARN",
    );
    push(
        "leading slash resource",
        with_stmt("resources", json!(["/bucket"])),
        Some(0),
        "not '/'",
    );
    push(
        "control char",
        with_stmt("principals", json!(["role/a\nb"])),
        Some(0),
        "control character",
    );

    let g = |actions: Value, resources: Value| {
        with_second(
            json!({"name": "g", "effect": "Allow", "actions": actions, "resources": resources, "principals": ["*"]}),
        )
    };
    push(
        "cwobject with bucket",
        g(json!(["cwobject:CreateAccessKey"]), json!(["data"])),
        Some(1),
        "requires resource \"*\"",
    );
    push(
        "cwobject:* with bucket",
        g(json!(["cwobject:*"]), json!(["*", "data/*"])),
        Some(1),
        "global",
    );
    push(
        "cwobject glob with bucket",
        g(json!(["cwobject:Create*"]), json!(["data"])),
        Some(1),
        "global",
    );
    push(
        "cwobject case with bucket",
        g(json!(["CWObject:listbucketinfo"]), json!(["logs-*"])),
        Some(1),
        "global",
    );
    push(
        "ListAllMyBuckets with bucket",
        g(json!(["s3:ListAllMyBuckets"]), json!(["data"])),
        Some(1),
        "global",
    );
    push(
        "ListAll* with bucket",
        g(json!(["s3:GetObject", "s3:ListAll*"]), json!(["data/*"])),
        Some(1),
        "\"s3:ListAll*\"",
    );
    push(
        "listallmybucket? with bucket",
        g(json!(["s3:listallmybucket?"]), json!(["data"])),
        Some(1),
        "global",
    );
    push(
        "global with ** resource",
        g(json!(["cwobject:ListAccessPolicy"]), json!(["**"])),
        Some(1),
        "global",
    );

    push(
        "too many actions",
        with_stmt("actions", json!(vec!["s3:GetObject"; 101])),
        Some(0),
        "at most 100",
    );
    push(
        "too many resources",
        with_stmt("resources", json!(vec!["*"; 101])),
        Some(0),
        "at most 100",
    );
    push(
        "too many principals",
        with_stmt("principals", json!(vec!["*"; 101])),
        Some(0),
        "at most 100",
    );
    push(
        "long principal",
        with_stmt("principals", json!([format!("role/{}", "x".repeat(1020))])),
        Some(0),
        "longer than 1024",
    );
    push(
        "long action",
        with_stmt("actions", json!([format!("s3:{}", "x".repeat(1022))])),
        Some(0),
        "longer than 1024",
    );
    push(
        "long resource",
        with_stmt("resources", json!([format!("b/{}", "k".repeat(1087))])),
        Some(0),
        "longer than 1088",
    );
    cases
}

#[test]
fn invalid_policies_name_the_statement() {
    let cases = invalid_cases();
    assert!(cases.len() >= 50);
    for (name, v, idx, msg) in cases {
        let err = parse(&v).expect_err(name);
        let text = err.to_string();
        assert!(
            text.contains(msg),
            "case {name:?}: message {text:?} lacks {msg:?}"
        );
        match (idx, &err) {
            (Some(i), PolicyError::Statement { index, .. }) => {
                assert_eq!(*index, i, "case {name:?}: {text}");
                assert!(
                    text.contains(&format!("statements[{i}]")),
                    "case {name:?}: {text}"
                );
            }
            (None, PolicyError::Policy(_)) => {}
            _ => panic!("case {name:?}: wrong error kind {err:?}"),
        }
        // validation errors are InvalidArgument in the domain error
        assert!(matches!(
            coffer_core::Error::from(err),
            coffer_core::Error::InvalidArgument(_)
        ));
    }
}

#[test]
fn typed_validate_agrees_with_parse() {
    let mut p = parse_policy_json(REFERENCE_EXAMPLE).unwrap();
    p.statements[0].resources = vec!["data".into()];
    p.statements[0].actions = vec!["cwobject:ListBucketInfo".into()];
    let err = validate(&p).unwrap_err();
    assert!(
        err.to_string()
            .contains("statements[0] (\"allow-everything\")"),
        "{err}"
    );
}

#[test]
fn malformed_json_is_a_policy_error() {
    for bad in [
        "",
        "{",
        "null",
        "42",
        r#"{"statements": "x"}"#,
        r#"{"statements":[{"effect": 1}]}"#,
    ] {
        assert!(
            matches!(parse_policy_json(bad), Err(PolicyError::Malformed(_))),
            "{bad:?}"
        );
    }
    // the strict stored form rejects a bad effect as a serde error
    let bad = REFERENCE_EXAMPLE.replace("\"Allow\"", "\"allow\"");
    assert!(serde_json::from_str::<AccessPolicy>(&bad).is_err());
}

#[test]
fn huge_names_are_truncated_in_messages() {
    let mut v = base();
    v["statements"][0]["name"] = json!("n".repeat(10_000));
    let text = parse(&v).unwrap_err().to_string();
    assert!(text.len() < 400, "{}", text.len());
}

#[test]
fn global_actions() {
    for a in CWOBJECT_ACTIONS {
        assert!(is_global_action(a), "{a}");
        assert!(a.starts_with("cwobject:"));
    }
    assert_eq!(CWOBJECT_ACTIONS.len(), 17);
    assert!(is_global_action("s3:ListAllMyBuckets"));
    assert!(is_global_action("S3:listallmybuckets"));
    assert!(!is_global_action("s3:ListBucket"));
    assert!(!is_global_action("s3:GetObject"));
    assert!(!is_global_action("*"));
}
