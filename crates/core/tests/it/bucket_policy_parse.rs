//! Bucket-policy parsing and validation (the `MalformedPolicy` cases of
//! `PutBucketPolicy`), `IsPublic`, and the engine's compiled-policy cache.

use std::sync::Arc;

use coffer_core::policy::{
    BucketPolicy, MAX_BUCKET_POLICY_BYTES, MAX_CACHED_BUCKET_POLICIES, PolicyEngine,
};

const B: &str = "bkt";

fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#)
}

fn stmt(extra: &str) -> String {
    doc(&format!(
        r#"[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"{extra}}}]"#
    ))
}

/// (name, document, substring the error message must contain)
fn invalid_cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("empty text", String::new(), "empty"),
        ("not json", "{".into(), "not valid JSON"),
        ("json array", "[]".into(), "JSON object"),
        ("json string", r#""policy""#.into(), "JSON object"),
        (
            "bad version",
            r#"{"Version":"2012-10-18","Statement":[]}"#.into(),
            "Unsupported policy Version",
        ),
        (
            "numeric version",
            r#"{"Version":2012,"Statement":[]}"#.into(),
            "Unsupported policy Version",
        ),
        (
            "no statement",
            r#"{"Version":"2012-10-17"}"#.into(),
            "no Statement",
        ),
        ("empty statement array", doc("[]"), "must not be empty"),
        ("statement is a string", doc(r#""x""#), "Statement must be"),
        (
            "statement element not object",
            doc("[1]"),
            "Statement[0]: must be an object",
        ),
        (
            "unknown top-level element",
            r#"{"Version":"2012-10-17","Statements":[]}"#.into(),
            "Unknown policy element \"Statements\"",
        ),
        (
            "lowercase element name",
            doc(
                r#"[{"effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "unknown element \"effect\"",
        ),
        (
            "missing effect",
            doc(r#"[{"Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#),
            "missing Effect",
        ),
        (
            "bad effect",
            doc(
                r#"[{"Effect":"allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "Effect must be",
        ),
        (
            "missing principal",
            doc(r#"[{"Effect":"Allow","Action":"s3:GetObject","Resource":"bkt/*"}]"#),
            "missing Principal",
        ),
        (
            "principal and notprincipal",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "both Principal and NotPrincipal",
        ),
        (
            "missing action",
            doc(r#"[{"Effect":"Allow","Principal":"*","Resource":"bkt/*"}]"#),
            "missing Action",
        ),
        (
            "action and notaction",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotAction":"s3:PutObject","Resource":"bkt/*"}]"#,
            ),
            "both Action and NotAction",
        ),
        (
            "missing resource",
            doc(r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]"#),
            "missing Resource",
        ),
        (
            "empty action list",
            doc(r#"[{"Effect":"Allow","Principal":"*","Action":[],"Resource":"bkt/*"}]"#),
            "Action must not be empty",
        ),
        (
            "action not a string",
            doc(r#"[{"Effect":"Allow","Principal":"*","Action":[1],"Resource":"bkt/*"}]"#),
            "Action must be a string",
        ),
        (
            "unknown action",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"bkt/*"}]"#,
            ),
            "unknown action \"s3:GetObjekt\"",
        ),
        (
            "wildcard matching nothing",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:Frobnicate*","Resource":"bkt/*"}]"#,
            ),
            "unknown action",
        ),
        (
            "cwobject action",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"cwobject:CreateAccessKey","Resource":"bkt/*"}]"#,
            ),
            "s3: actions only",
        ),
        (
            "iam action",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"iam:PassRole","Resource":"bkt/*"}]"#,
            ),
            "s3: actions only",
        ),
        (
            "action without namespace",
            doc(r#"[{"Effect":"Allow","Principal":"*","Action":"GetObject","Resource":"bkt/*"}]"#),
            "expected s3:<Action>",
        ),
        (
            "object action on bucket resource",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt"}]"#,
            ),
            "Action does not apply to any resource(s) in statement: s3:getobject",
        ),
        (
            "bucket action on object resource",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::bkt/*"}]"#,
            ),
            "Action does not apply to any resource(s) in statement: s3:listbucket",
        ),
        (
            "global action",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::bkt"}]"#,
            ),
            "Action does not apply",
        ),
        (
            "resource of another bucket",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]"#,
            ),
            "must refer to bucket \"bkt\"",
        ),
        (
            "resource of a longer bucket name",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt2/*"}]"#,
            ),
            "must refer to bucket",
        ),
        (
            "bare resource of another bucket",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"other/*"}]"#,
            ),
            "must refer to bucket",
        ),
        (
            "non-s3 arn resource",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:iam:::bkt/*"}]"#,
            ),
            "expected arn:aws:s3:::bkt",
        ),
        (
            "empty arn resource",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::"}]"#,
            ),
            "no bucket name",
        ),
        (
            "empty resource string",
            doc(r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":""}]"#),
            "empty value",
        ),
        (
            "unknown policy variable",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/${aws:nope}/*"}]"#,
            ),
            "unknown policy variable ${aws:nope}",
        ),
        (
            "unterminated variable",
            doc(
                r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/${aws:username/*"}]"#,
            ),
            "unterminated policy variable",
        ),
        (
            "principal string that is not a principal",
            doc(
                r#"[{"Effect":"Allow","Principal":"alice","Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "invalid principal \"alice\"",
        ),
        (
            "unsupported principal type",
            doc(
                r#"[{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "unsupported principal type \"Service\"",
        ),
        (
            "empty principal object",
            doc(
                r#"[{"Effect":"Allow","Principal":{},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "Principal must not be empty",
        ),
        (
            "principal arn with bad org",
            doc(
                r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "is not an org id",
        ),
        (
            "principal arn with user path",
            doc(
                r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::orga01:user/alice"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "expected root, coreweave/<uid> or role/<name>",
        ),
        (
            "principal arn of another service",
            doc(
                r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::orga01:coreweave/a"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "ARNs must look like",
        ),
        (
            "empty short principal",
            doc(
                r#"[{"Effect":"Allow","Principal":{"CW":"coreweave/"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "invalid principal",
        ),
        (
            "principal number",
            doc(r#"[{"Effect":"Allow","Principal":5,"Action":"s3:GetObject","Resource":"bkt/*"}]"#),
            "Principal must be",
        ),
        (
            "duplicate sid",
            doc(
                r#"[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"},{"Sid":"A","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "duplicate Sid",
        ),
        (
            "sid not a string",
            doc(
                r#"[{"Sid":1,"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            ),
            "Sid must be a string",
        ),
        (
            "unknown operator",
            stmt(r#","Condition":{"StringEqual":{"aws:username":"a"}}"#),
            "unknown condition operator \"StringEqual\"",
        ),
        (
            "unknown condition key",
            stmt(r#","Condition":{"StringEquals":{"aws:Nope":"a"}}"#),
            "unknown or unsupported condition key \"aws:Nope\"",
        ),
        (
            "existing object tag key",
            stmt(r#","Condition":{"StringEquals":{"s3:ExistingObjectTag/team":"a"}}"#),
            "unknown or unsupported condition key",
        ),
        (
            "condition not object",
            stmt(r#","Condition":"x""#),
            "Condition must be an object",
        ),
        (
            "empty condition",
            stmt(r#","Condition":{}"#),
            "Condition must not be empty",
        ),
        (
            "operator without keys",
            stmt(r#","Condition":{"StringEquals":{}}"#),
            "no condition key",
        ),
        (
            "operator value not object",
            stmt(r#","Condition":{"StringEquals":"x"}"#),
            "must be an object of condition keys",
        ),
        (
            "empty value list",
            stmt(r#","Condition":{"StringEquals":{"aws:username":[]}}"#),
            "no value",
        ),
        (
            "object value",
            stmt(r#","Condition":{"StringEquals":{"aws:username":{"a":1}}}"#),
            "values must be strings",
        ),
        (
            "bad cidr",
            stmt(r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#),
            "is not an IPv4 or IPv6 address or CIDR range",
        ),
        (
            "bad v6 cidr",
            stmt(r#","Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/129"}}"#),
            "CIDR range",
        ),
        (
            "hostname as ip",
            stmt(r#","Condition":{"NotIpAddress":{"aws:SourceIp":"example.com"}}"#),
            "CIDR range",
        ),
        (
            "ip operator on other key",
            stmt(r#","Condition":{"IpAddress":{"aws:username":"10.0.0.0/8"}}"#),
            "cannot be used with key aws:username",
        ),
        (
            "bad number",
            stmt(r#","Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}"#),
            "is not a number",
        ),
        (
            "numeric on string key",
            stmt(r#","Condition":{"NumericLessThan":{"aws:username":"1"}}"#),
            "cannot be used with key",
        ),
        (
            "bad date",
            stmt(r#","Condition":{"DateLessThan":{"aws:CurrentTime":"next tuesday"}}"#),
            "ISO 8601",
        ),
        (
            "date on prefix",
            stmt(r#","Condition":{"DateLessThan":{"s3:prefix":"2020-01-01"}}"#),
            "cannot be used with key s3:prefix",
        ),
        (
            "bad bool",
            stmt(r#","Condition":{"Bool":{"aws:SecureTransport":"yes"}}"#),
            "is not true or false",
        ),
        (
            "bool on other key",
            stmt(r#","Condition":{"Bool":{"s3:prefix":"true"}}"#),
            "cannot be used with key",
        ),
        (
            "bad null value",
            stmt(r#","Condition":{"Null":{"s3:prefix":"maybe"}}"#),
            "is not true or false",
        ),
        (
            "null if exists",
            stmt(r#","Condition":{"NullIfExists":{"s3:prefix":"true"}}"#),
            "unknown condition operator",
        ),
        (
            "arn on other key",
            stmt(r#","Condition":{"ArnLike":{"s3:prefix":"arn:*"}}"#),
            "cannot be used with key",
        ),
        (
            "bad variable in condition",
            stmt(r#","Condition":{"StringLike":{"s3:prefix":"${aws:who}/*"}}"#),
            "unknown policy variable",
        ),
        (
            "unquoted default",
            stmt(r#","Condition":{"StringLike":{"s3:prefix":"${aws:username, x}/*"}}"#),
            "single quotes",
        ),
        (
            "bad set prefix",
            stmt(r#","Condition":{"ForSomeValues:StringEquals":{"aws:username":"a"}}"#),
            "unknown condition operator",
        ),
    ]
}

#[test]
fn invalid_policies_are_rejected_with_precise_messages() {
    let cases = invalid_cases();
    assert!(cases.len() >= 60, "{}", cases.len());
    let mut failures = Vec::new();
    for (name, json, want) in &cases {
        match BucketPolicy::parse(B, json) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) if !e.to_string().contains(want) => failures.push(format!(
                "{name}: message {:?} lacks {want:?}",
                e.to_string()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn statement_errors_name_the_statement() {
    let e = BucketPolicy::parse(
        B,
        &doc(r#"[{"Sid":"Fine","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"},
                 {"Sid":"Broken","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*",
                  "Condition":{"StringEquals":{"aws:nope":"x"}}}]"#),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("Statement[1] (Sid \"Broken\"): Condition StringEquals:"),
        "{e}"
    );
}

/// Documents that must be accepted (AWS shapes seen in the wild).
fn valid_cases() -> Vec<(&'static str, String)> {
    vec![
        ("statement object", r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}}"#.to_string()),
        ("2008 version", r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]}"#.into()),
        ("no version", r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]}"#.into()),
        ("id", r#"{"Version":"2012-10-17","Id":"p1","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]}"#.into()),
        ("aws principal list", doc(r#"[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::orgb02:coreweave/bob","arn:aws:iam::orgb02:root"]},"Action":"s3:GetObject","Resource":"bkt/*"}]"#)),
        ("cw principal forms", doc(r#"[{"Effect":"Allow","Principal":{"CW":["coreweave/u1","role/ci","role/https://token.actions.githubusercontent.com:repo:acme/*"]},"Action":"s3:GetObject","Resource":"bkt/*"}]"#)),
        ("both principal kinds", doc(r#"[{"Effect":"Allow","Principal":{"AWS":"*","CW":"coreweave/x"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#)),
        ("action star", doc(r#"[{"Effect":"Deny","Principal":"*","Action":"*","Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]}]"#)),
        ("mixed actions with both resources", doc(r#"[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]}]"#)),
        ("bucket* covers both", doc(r#"[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::bkt*"}]"#)),
        ("wildcard bucket", doc(r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::*/*"}]"#)),
        ("b?t", doc(r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b?t/*"}]"#)),
        ("org-only actions accepted", doc(r#"[{"Effect":"Deny","Principal":"*","Action":["s3:PutBucketPolicy","s3:DeleteBucketPolicy"],"Resource":"arn:aws:s3:::bkt"}]"#)),
        ("NotAction with object resource", doc(r#"[{"Effect":"Deny","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::bkt"}]"#)),
        ("NotResource", doc(r#"[{"Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::bkt/public/*"}]"#)),
        ("all operators", stmt(r#","Condition":{
            "StringEquals":{"aws:username":"a"},"StringNotEquals":{"aws:userid":"b"},
            "StringEqualsIgnoreCase":{"aws:PrincipalType":"user"},"StringNotEqualsIgnoreCase":{"aws:UserAgent":"x"},
            "StringLike":{"s3:prefix":"a/*"},"StringNotLike":{"s3:delimiter":"?"},
            "NumericEquals":{"s3:max-keys":"1"},"NumericNotEquals":{"s3:max-keys":2},
            "NumericLessThan":{"s3:max-keys":"3"},"NumericLessThanEquals":{"s3:max-keys":"4"},
            "NumericGreaterThan":{"s3:max-keys":"0"},"NumericGreaterThanEquals":{"s3:max-keys":"1.5"},
            "DateEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"DateNotEquals":{"aws:CurrentTime":"2026-01-01"},
            "DateLessThan":{"aws:EpochTime":"1767225600"},"DateLessThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00.5+01:00"},
            "DateGreaterThan":{"aws:CurrentTime":"2020-01-01"},"DateGreaterThanEquals":{"aws:CurrentTime":"2020-01-01"},
            "Bool":{"aws:SecureTransport":true},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]},
            "NotIpAddress":{"aws:SourceIp":"192.0.2.1"},"Null":{"s3:x-amz-acl":"true"},
            "ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::orga01:coreweave/a"},"ArnNotEquals":{"aws:PrincipalArn":"arn:*:*::*:*"},
            "ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"},"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::orgb02:*"},
            "ForAnyValue:StringLike":{"aws:username":"a*"},"ForAllValues:StringEqualsIfExists":{"cw:PrincipalOrgID":"orga01"},
            "StringEqualsIfExists":{"s3:x-amz-acl":"private"},"IpAddressIfExists":{"aws:SourceIp":"::/0"}
        }"#)),
        ("operator case-insensitive", stmt(r#","Condition":{"stringequals":{"AWS:USERNAME":"a"}}"#)),
        ("variables everywhere", doc(r#"[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt","Condition":{"StringLike":{"s3:prefix":["home/${aws:username}/*","${*}literal","${aws:PrincipalArn}","${cw:PrincipalOrgID, 'none'}"]}}}]"#)),
        ("pretty printed at the limit", {
            // 20 KiB of significant bytes plus lots of whitespace is still accepted.
            let pad = " \n".repeat(5000);
            format!("{pad}{}{pad}", doc(r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#))
        }),
    ]
}

#[test]
fn valid_policies_are_accepted() {
    let mut failures = Vec::new();
    for (name, json) in valid_cases() {
        if let Err(e) = BucketPolicy::parse(B, &json) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn size_limit() {
    let one = r#"{"Sid":"S00000","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}"#;
    let n = MAX_BUCKET_POLICY_BYTES / one.len() + 2;
    let stmts: Vec<String> = (0..n)
        .map(|i| one.replace("S00000", &format!("S{i:05}")))
        .collect();
    let big = doc(&format!("[{}]", stmts.join(",")));
    assert!(big.len() > MAX_BUCKET_POLICY_BYTES);
    let e = BucketPolicy::parse(B, &big).unwrap_err().to_string();
    assert!(e.contains("maximum allowed document size"), "{e}");
    let k = (1..n)
        .rev()
        .find(|&k| doc(&format!("[{}]", stmts[..k].join(","))).len() <= MAX_BUCKET_POLICY_BYTES)
        .unwrap();
    let fits = doc(&format!("[{}]", stmts[..k].join(",")));
    assert!(fits.len() > MAX_BUCKET_POLICY_BYTES - one.len() - 1);
    assert_eq!(BucketPolicy::parse(B, &fits).unwrap().statement_count(), k);
}

#[test]
fn is_public() {
    let cases: &[(&str, bool)] = &[
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":{"CW":["coreweave/a","*"]},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","NotPrincipal":{"CW":"coreweave/a"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            false,
        ),
        (
            r#"[{"Effect":"Allow","Principal":{"CW":"coreweave/*"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            false,
        ),
        (
            r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::orgb02:root"},"Action":"s3:GetObject","Resource":"bkt/*"}]"#,
            false,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]"#,
            false,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"StringEquals":{"cw:PrincipalOrgID":"orga01"}}}]"#,
            false,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::orga01:coreweave/a"}}}]"#,
            false,
        ),
        // S3: only fixed values narrow a public statement; anything that admits every
        // signed caller of every org, or a pattern, leaves it public.
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::orga01:*"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"StringLike":{"cw:PrincipalOrgID":"*"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"StringEquals":{"cw:PrincipalOrgID":"${aws:username}"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"Null":{"aws:username":"false"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"StringEquals":{"aws:PrincipalType":"User"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"StringEquals":{"aws:username":"alice"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"StringEqualsIfExists":{"cw:PrincipalOrgID":"orga01"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"ForAllValues:StringEquals":{"cw:PrincipalOrgID":"orga01"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/*","Condition":{"StringLike":{"s3:prefix":"public/*"}}}]"#,
            true,
        ),
        (
            r#"[{"Effect":"Allow","Principal":{"CW":"coreweave/a"},"Action":"s3:GetObject","Resource":"bkt/*"},
             {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"bkt"}]"#,
            true,
        ),
    ];
    for (stmts, want) in cases {
        let p = BucketPolicy::parse(B, &doc(stmts)).unwrap();
        assert_eq!(p.is_public(), *want, "{stmts}");
    }
}

/// The cache is bounded: policies of more buckets than it holds are all still decided
/// correctly (recompiled when evicted), and the cache never grows past its bound.
#[test]
fn engine_bucket_policy_cache_is_bounded() {
    let e = PolicyEngine::new();
    let policy = |b: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#
        )
    };
    for i in 0..(MAX_CACHED_BUCKET_POLICIES * 3) {
        let b = format!("bucket-{i}");
        assert!(
            e.bucket_policy(&b, Some(&policy(&b)))
                .unwrap()
                .unwrap()
                .is_public()
        );
        assert!(e.cached_bucket_policies() <= MAX_CACHED_BUCKET_POLICIES);
    }
    // A bucket evicted long ago compiles again.
    assert!(
        e.bucket_policy("bucket-0", Some(&policy("bucket-0")))
            .unwrap()
            .is_some()
    );
}

#[test]
fn engine_caches_by_policy_text() {
    let e = PolicyEngine::new();
    let a = stmt("");
    let b = doc(r#"[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"bkt/*"}]"#);
    assert!(e.bucket_policy(B, None).unwrap().is_none());
    let p1 = e.bucket_policy(B, Some(&a)).unwrap().unwrap();
    let p2 = e.bucket_policy(B, Some(&a)).unwrap().unwrap();
    assert!(Arc::ptr_eq(&p1, &p2), "second lookup is a cache hit");
    assert_eq!(e.cached_bucket_policies(), 1);
    // Another text for the same bucket (changed elsewhere) is recompiled, never reused.
    let p3 = e.bucket_policy(B, Some(&b)).unwrap().unwrap();
    assert!(!Arc::ptr_eq(&p1, &p3));
    assert!(!p3.is_public());
    // Stored text that does not compile is an error every time (callers fail closed).
    assert!(e.bucket_policy(B, Some("{")).is_err());
    assert!(e.bucket_policy(B, Some("{")).is_err());
    // Put stores the compiled policy; delete forgets it.
    let compiled = Arc::new(BucketPolicy::parse(B, &a).unwrap());
    e.store_bucket_policy(B, &a, compiled.clone());
    assert!(Arc::ptr_eq(
        &e.bucket_policy(B, Some(&a)).unwrap().unwrap(),
        &compiled
    ));
    e.forget_bucket_policy(B);
    assert_eq!(e.cached_bucket_policies(), 0);
    // The same text is validated per bucket name.
    assert!(e.bucket_policy("other", Some(&a)).is_err());
}
