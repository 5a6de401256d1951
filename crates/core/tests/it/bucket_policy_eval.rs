//! Table-driven tests of the combined org + bucket-policy decision (SPEC §3) through
//! `coffer_core::policy::authorize`, the function the S3 gateway and AuthCanI call.
//!
//! Fixed world: bucket `bkt` is owned by org `orga01`; org policies below; each case
//! gives the bucket policy (or none), the caller, the action/resource, extra request
//! context and the expected decision rendered as `"<allow|deny> <layer> <who>"`, where
//! `<who>` is `policy/statement` for the org layer, the statement label for the bucket
//! layer and `-` when nothing named decided.

use coffer_core::policy::{
    BucketPolicy, BucketTarget, ContextKey, Decision, Layer, ObjectFacts, PolicyEngine,
    RequestContext, authorize, parse_policy_json,
};
use time::OffsetDateTime;

const ORG_A: &str = "orga01";
const ORG_B: &str = "orgb02";
const ORG_C: &str = "orgc03";
const BUCKET: &str = "bkt";

fn engine() -> PolicyEngine {
    let e = PolicyEngine::new();
    let a = [
        r#"{"version":"v1alpha1","name":"base","statements":[
            {"name":"all","effect":"Allow","actions":["s3:*"],"resources":["*"],"principals":["coreweave/*"]}]}"#,
        r#"{"version":"v1alpha1","name":"fence","statements":[
            {"name":"no-locked-delete","effect":"Deny","actions":["s3:DeleteObject"],"resources":["bkt/locked/*"],"principals":["*"]},
            {"name":"no-secret-read","effect":"Deny","actions":["s3:GetObject"],"resources":["bkt/secret/*"],"principals":["*"]},
            {"name":"members-no-tmp","effect":"Deny","actions":["s3:PutObject"],"resources":["bkt/tmp/*"],"principals":["coreweave/*"]}]}"#,
        r#"{"version":"v1alpha1","name":"roles","statements":[
            {"name":"reader","effect":"Allow","actions":["s3:GetObject","s3:ListBucket"],"resources":["bkt","bkt/*"],"principals":["role/reader"]}]}"#,
    ];
    e.replace_org(
        ORG_A,
        &a.iter()
            .map(|j| parse_policy_json(j).unwrap())
            .collect::<Vec<_>>(),
    );
    let b = r#"{"version":"v1alpha1","name":"b-all","statements":[
        {"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}"#;
    e.replace_org(ORG_B, &[parse_policy_json(b).unwrap()]);
    e
}

/// 2026-06-01T00:00:00Z
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_780_272_000).unwrap()
}

struct Case {
    name: &'static str,
    /// Statement array (wrapped into a 2012-10-17 document) or a whole document
    /// (starting with `{`); `None`: the bucket has no policy.
    policy: Option<&'static str>,
    /// `anon` or `<org> <principal>`.
    who: &'static str,
    action: &'static str,
    resource: &'static str,
    /// Extra context keys; `aws:SourceIp` goes through `with_source_ip`.
    ctx: &'static [(&'static str, &'static str)],
    want: &'static str,
}

const fn c(
    name: &'static str,
    policy: Option<&'static str>,
    who: &'static str,
    action: &'static str,
    resource: &'static str,
    ctx: &'static [(&'static str, &'static str)],
    want: &'static str,
) -> Case {
    Case {
        name,
        policy,
        who,
        action,
        resource,
        ctx,
        want,
    }
}

const ALICE: &str = "orga01 coreweave/alice";
const BOB_A: &str = "orga01 coreweave/bob";
const READER: &str = "orga01 role/reader";
const ROLE_OTHER: &str = "orga01 role/other";
const BOB_B: &str = "orgb02 coreweave/bob";
const ALICE_B: &str = "orgb02 coreweave/alice";
const CAROL_B: &str = "orgb02 coreweave/carol";
const DAVE_C: &str = "orgc03 coreweave/dave";
const ANON: &str = "anon";

const PUBLIC_READ: Option<&str> = Some(
    r#"[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ALLOW_ALL_PUBLIC: Option<&str> = Some(
    r#"[{"Sid":"Everything","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]}]"#,
);
const DENY_ALL: Option<&str> = Some(
    r#"[{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]}]"#,
);
const B_ROOT_ALL: Option<&str> = Some(
    r#"[{"Sid":"OrgB","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::orgb02:root"},"Action":"s3:*","Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]}]"#,
);
const GET_STAR: Option<&str> = Some(
    r#"[{"Sid":"Gets","Effect":"Allow","Principal":{"CW":"coreweave/*"},"Action":"s3:Get*","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const GET_OBJECT_ONLY: Option<&str> = Some(
    r#"[{"Sid":"Get","Effect":"Allow","Principal":{"CW":"coreweave/*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const STAR_OBJECT: Option<&str> = Some(
    r#"[{"Sid":"StarObject","Effect":"Allow","Principal":"*","Action":"s3:*Object","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const BUCKET_ONLY: Option<&str> = Some(
    r#"[{"Sid":"B","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt"}]"#,
);
const OBJECTS_ONLY: Option<&str> = Some(
    r#"[{"Sid":"O","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const BUCKET_STAR: Option<&str> = Some(
    r#"[{"Sid":"BS","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt*"}]"#,
);
const PUBLIC_PREFIX: Option<&str> = Some(
    r#"[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/public/*"}]"#,
);
const NOT_ACTION_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"OnlyGet","Effect":"Deny","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const NOT_ACTION_ALLOW: Option<&str> = Some(
    r#"[{"Sid":"NoDelete","Effect":"Allow","Principal":"*","NotAction":"s3:DeleteObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const NOT_PRINCIPAL_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"OnlyAlice","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::orga01:coreweave/alice"},"Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const NOT_PRINCIPAL_STAR: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"Nobody","Effect":"Deny","NotPrincipal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const NOT_PRINCIPAL_ALLOW: Option<&str> = Some(
    r#"[{"Sid":"NotBob","Effect":"Allow","NotPrincipal":{"CW":"coreweave/bob"},"Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const NOT_RESOURCE_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"OnlyPublic","Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::bkt/public/*"}]"#,
);
const SHORT_ALICE: Option<&str> = Some(
    r#"[{"Sid":"Alice","Effect":"Allow","Principal":{"CW":"coreweave/alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ARN_BOB_B: Option<&str> = Some(
    r#"[{"Sid":"BobB","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::orgb02:coreweave/bob"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ARN_DAVE_C: Option<&str> = Some(
    r#"[{"Sid":"DaveC","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::orgc03:coreweave/dave"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const AWS_STAR: Option<&str> = Some(
    r#"[{"Sid":"AwsStar","Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const CW_STAR: Option<&str> = Some(
    r#"[{"Sid":"CwStar","Effect":"Allow","Principal":{"CW":["*"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const MEMBERS: Option<&str> = Some(
    r#"[{"Sid":"Members","Effect":"Allow","Principal":{"CW":"coreweave/*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ROLE_GLOB: Option<&str> = Some(
    r#"[{"Sid":"Readers","Effect":"Allow","Principal":{"CW":"role/read*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ARN_GLOB_A: Option<&str> = Some(
    r#"[{"Sid":"AllA","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::orga01:coreweave/*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const IP_V4: Option<&str> = Some(
    r#"[{"Sid":"Office","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]"#,
);
const NOT_IP_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"OutsideDenied","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]"#,
);
const IP_V6: Option<&str> = Some(
    r#"[{"Sid":"V6","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}}]"#,
);
const IP_LIST: Option<&str> = Some(
    r#"[{"Sid":"Nets","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16","203.0.113.7"]}}}]"#,
);
const IP_ANY: Option<&str> = Some(
    r#"[{"Sid":"AnyV4","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]"#,
);
const TLS_ONLY: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]"#,
);
const TLS_ONLY_IF_EXISTS: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"BoolIfExists":{"aws:SecureTransport":false}}}]"#,
);
const NULL_ANON_ONLY: Option<&str> = Some(
    r#"[{"Sid":"AnonOnly","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"Null":{"aws:username":"true"}}}]"#,
);
const NULL_PREFIX_SET: Option<&str> = Some(
    r#"[{"Sid":"NeedPrefix","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"Null":{"s3:prefix":"false"}}}]"#,
);
const PREFIX_IF_EXISTS: Option<&str> = Some(
    r#"[{"Sid":"Home","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"StringEqualsIfExists":{"s3:prefix":"home/"}}}]"#,
);
const PREFIX_EQUALS: Option<&str> = Some(
    r#"[{"Sid":"Home","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"StringEquals":{"s3:prefix":"home/"}}}]"#,
);
const PREFIX_NOT_EQUALS_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowList","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt"},
        {"Sid":"OnlyHome","Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"StringNotEquals":{"s3:prefix":"home/"}}}]"#,
);
const PREFIX_NOT_EQUALS_IF_EXISTS_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowList","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt"},
        {"Sid":"OnlyHome","Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"StringNotEqualsIfExists":{"s3:prefix":"home/"}}}]"#,
);
const USER_ALICE: Option<&str> = Some(
    r#"[{"Sid":"U","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"StringEquals":{"aws:username":"alice"}}}]"#,
);
const USER_ALICE_CI: Option<&str> = Some(
    r#"[{"Sid":"U","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"StringEqualsIgnoreCase":{"aws:username":"ALICE"}}}]"#,
);
const USER_NOT_ALICE_CI_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"OnlyAlice","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}}]"#,
);
const PREFIX_LIKE: Option<&str> = Some(
    r#"[{"Sid":"HomeTree","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"StringLike":{"s3:prefix":"home/*"}}}]"#,
);
const PREFIX_NOT_LIKE_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowList","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt"},
        {"Sid":"PublicOnly","Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"StringNotLike":{"s3:prefix":"public/*"}}}]"#,
);
const MAX_KEYS_LE_100: Option<&str> = Some(
    r#"[{"Sid":"Small","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"NumericLessThanEquals":{"s3:max-keys":"100"}}}]"#,
);
const MAX_KEYS_GT_10: Option<&str> = Some(
    r#"[{"Sid":"Big","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"NumericGreaterThan":{"s3:max-keys":"10"}}}]"#,
);
const MAX_KEYS_NOT_5_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowList","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt"},
        {"Sid":"Not5","Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"NumericNotEquals":{"s3:max-keys":"5"}}}]"#,
);
const MAX_KEYS_EQ_7_NUMBER: Option<&str> = Some(
    r#"[{"Sid":"Seven","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"NumericEquals":{"s3:max-keys":7}}}]"#,
);
const BEFORE_2030: Option<&str> = Some(
    r#"[{"Sid":"Until2030","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]"#,
);
const AFTER_2025_DATE: Option<&str> = Some(
    r#"[{"Sid":"From2025","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2025-01-01"}}}]"#,
);
const EPOCH_DATE_BEFORE_2030: Option<&str> = Some(
    r#"[{"Sid":"EpochDate","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"DateLessThan":{"aws:EpochTime":"1893456000"}}}]"#,
);
const EXACT_NOW: Option<&str> = Some(
    r#"[{"Sid":"Now","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"DateEquals":{"aws:CurrentTime":"2026-06-01T00:00:00Z"}}}]"#,
);
const NOT_NOW_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"NotNow","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"DateNotEquals":{"aws:CurrentTime":"2026-06-01T02:00:00+02:00"}}}]"#,
);
const EPOCH_NUMERIC: Option<&str> = Some(
    r#"[{"Sid":"EpochNum","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"NumericLessThan":{"aws:EpochTime":1893456000}}}]"#,
);
const ARN_LIKE_MEMBERS: Option<&str> = Some(
    r#"[{"Sid":"ArnMembers","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::orga01:coreweave/*"}}}]"#,
);
const ARN_NOT_LIKE_DENY: Option<&str> = Some(
    r#"[{"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"OwnOrgOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::orga01:*"}}}]"#,
);
const ARN_EQUALS_GLOB: Option<&str> = Some(
    r#"[{"Sid":"ArnEq","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::orga01:coreweave/al?ce"}}}]"#,
);
const ANY_VALUE: Option<&str> = Some(
    r#"[{"Sid":"Any","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"ForAnyValue:StringEquals":{"aws:username":["alice","bob"]}}}]"#,
);
const ALL_VALUES: Option<&str> = Some(
    r#"[{"Sid":"All","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"ForAllValues:StringEquals":{"aws:username":["alice"]}}}]"#,
);
const ANY_VALUE_IF_EXISTS: Option<&str> = Some(
    r#"[{"Sid":"AnyIf","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"ForAnyValue:StringLikeIfExists":{"aws:username":"a*"}}}]"#,
);
const HOME_VAR: Option<&str> = Some(
    r#"[{"Sid":"Home","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/home/${aws:username}/*"}]"#,
);
const HOME_PREFIX_VAR: Option<&str> = Some(
    r#"[{"Sid":"HomeList","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}}]"#,
);
const ESCAPE_STAR: Option<&str> = Some(
    r#"[{"Sid":"Lit","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/literal${*}star"}]"#,
);
const HOME_VAR_2008: Option<&str> = Some(
    r#"{"Version":"2008-10-17","Statement":[{"Sid":"Home","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/home/${aws:username}/*"}]}"#,
);
const HOME_VAR_DEFAULT: Option<&str> = Some(
    r#"[{"Sid":"Home","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/home/${aws:username, 'guest'}/*"}]"#,
);
const USERID_VAR: Option<&str> = Some(
    r#"[{"Sid":"Mine","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bkt/${aws:userid}/*"}]"#,
);
const IP_AND_TLS: Option<&str> = Some(
    r#"[{"Sid":"Both","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"}}}]"#,
);
const TWO_KEYS: Option<&str> = Some(
    r#"[{"Sid":"TwoKeys","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
         "Condition":{"StringEquals":{"aws:username":"alice","s3:prefix":"home/"}}}]"#,
);
const TWO_ALLOWS: Option<&str> = Some(
    r#"[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*"},
        {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"Third","Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ALLOW_THEN_DENY: Option<&str> = Some(
    r#"[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"},
        {"Sid":"D","Effect":"Deny","Principal":{"CW":"coreweave/alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const DENY_ALICE_ADMIN: Option<&str> = Some(
    r#"[{"Sid":"LockOut","Effect":"Deny","Principal":{"AWS":["arn:aws:iam::orga01:coreweave/alice"]},"Action":"s3:*","Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]}]"#,
);
const PUBLIC_QUESTION: Option<&str> = Some(
    r#"[{"Sid":"Q","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/?.txt"}]"#,
);
const PUBLIC_CASE: Option<&str> = Some(
    r#"[{"Sid":"Case","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/Public/*"}]"#,
);
const ACTION_CASE: Option<&str> = Some(
    r#"[{"Sid":"Upper","Effect":"Allow","Principal":"*","Action":"S3:GETOBJECT","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ACTION_QUESTION: Option<&str> = Some(
    r#"[{"Sid":"Q","Effect":"Allow","Principal":"*","Action":"s3:Get?bject","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ACTION_STAR: Option<&str> = Some(
    r#"[{"Sid":"Star","Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::bkt/*"}]"#,
);
const ALL_BUCKETS: Option<&str> = Some(
    r#"[{"Sid":"All","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::*"}]"#,
);
const ACL_HEADER: Option<&str> = Some(
    r#"[{"Sid":"NoPublicAcl","Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"StringNotEqualsIfExists":{"s3:x-amz-acl":"public-read"}}}]"#,
);
const CW_ORG: Option<&str> = Some(
    r#"[{"Sid":"OrgB","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
         "Condition":{"StringEquals":{"cw:PrincipalOrgID":"orgb02"}}}]"#,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // ---- no bucket policy: org layer decides, other orgs and anonymous are denied
    c("no policy: member allowed by org", None, ALICE, "s3:GetObject", "bkt/a", &[], "allow org base/all"),
    c("no policy: role without org allow", None, ROLE_OTHER, "s3:GetObject", "bkt/a", &[], "deny default -"),
    c("no policy: role with org allow", None, READER, "s3:GetObject", "bkt/a", &[], "allow org roles/reader"),
    c("no policy: role action outside org allow", None, READER, "s3:PutObject", "bkt/a", &[], "deny default -"),
    c("no policy: org deny", None, ALICE, "s3:DeleteObject", "bkt/locked/x", &[], "deny org fence/no-locked-delete"),
    c("no policy: anonymous", None, ANON, "s3:GetObject", "bkt/a", &[], "deny default -"),
    c("no policy: other org with org allow", None, BOB_B, "s3:GetObject", "bkt/a", &[], "deny default -"),
    c("no policy: other org without policies", None, DAVE_C, "s3:GetObject", "bkt/a", &[], "deny default -"),
    c("no policy: put policy by own org", None, ALICE, "s3:PutBucketPolicy", "bkt", &[], "allow org base/all"),
    c("no policy: put policy by other org", None, BOB_B, "s3:PutBucketPolicy", "bkt", &[], "deny default -"),
    c("no policy: org deny on member path", None, ALICE, "s3:PutObject", "bkt/tmp/x", &[], "deny org fence/members-no-tmp"),
    // ---- public read
    c("public: anonymous read", PUBLIC_READ, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket PublicRead"),
    c("public: anonymous write", PUBLIC_READ, ANON, "s3:PutObject", "bkt/a", &[], "deny bucket -"),
    c("public: anonymous list", PUBLIC_READ, ANON, "s3:ListBucket", "bkt", &[], "deny bucket -"),
    c("public: member read", PUBLIC_READ, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket PublicRead"),
    c("public: member write not in policy", PUBLIC_READ, ALICE, "s3:PutObject", "bkt/a", &[], "deny bucket -"),
    c("public: other org read", PUBLIC_READ, BOB_B, "s3:GetObject", "bkt/a", &[], "allow bucket PublicRead"),
    c("public: other org without org allow", PUBLIC_READ, DAVE_C, "s3:GetObject", "bkt/a", &[], "deny default -"),
    c("public: role without org allow", PUBLIC_READ, ROLE_OTHER, "s3:GetObject", "bkt/a", &[], "deny default -"),
    c("public: org deny naming * stops anonymous", PUBLIC_READ, ANON, "s3:GetObject", "bkt/secret/x", &[], "deny org fence/no-secret-read"),
    c("public: org deny stops member", PUBLIC_READ, ALICE, "s3:GetObject", "bkt/secret/x", &[], "deny org fence/no-secret-read"),
    c("all public: org deny naming * stops anonymous delete", ALLOW_ALL_PUBLIC, ANON, "s3:DeleteObject", "bkt/locked/x", &[], "deny org fence/no-locked-delete"),
    c("all public: member-only org deny does not match anonymous", ALLOW_ALL_PUBLIC, ANON, "s3:PutObject", "bkt/tmp/x", &[], "allow bucket Everything"),
    c("all public: member-only org deny matches member", ALLOW_ALL_PUBLIC, ALICE, "s3:PutObject", "bkt/tmp/x", &[], "deny org fence/members-no-tmp"),
    c("all public: anonymous list", ALLOW_ALL_PUBLIC, ANON, "s3:ListBucket", "bkt", &[], "allow bucket Everything"),
    // ---- org-only actions
    c("org-only: put policy despite public policy", PUBLIC_READ, ALICE, "s3:PutBucketPolicy", "bkt", &[], "allow org base/all"),
    c("org-only: get policy despite deny-all", DENY_ALL, ALICE, "s3:GetBucketPolicy", "bkt", &[], "allow org base/all"),
    c("org-only: delete policy despite deny-all", DENY_ALL, ALICE, "s3:DeleteBucketPolicy", "bkt", &[], "allow org base/all"),
    c("org-only: policy status despite deny-all", DENY_ALL, ALICE, "s3:GetBucketPolicyStatus", "bkt", &[], "allow org base/all"),
    c("org-only: lowercase action name", DENY_ALL, ALICE, "s3:deletebucketpolicy", "bkt", &[], "allow org base/all"),
    c("org-only: anonymous never", ALLOW_ALL_PUBLIC, ANON, "s3:PutBucketPolicy", "bkt", &[], "deny default -"),
    c("org-only: other org never", B_ROOT_ALL, BOB_B, "s3:DeleteBucketPolicy", "bkt", &[], "deny default -"),
    c("org-only: role without org allow", ALLOW_ALL_PUBLIC, ROLE_OTHER, "s3:PutBucketPolicy", "bkt", &[], "deny default -"),
    c("org-only: bucket deny on the admin", DENY_ALICE_ADMIN, ALICE, "s3:DeleteBucketPolicy", "bkt", &[], "allow org base/all"),
    c("org-only: bucket deny still stops other actions", DENY_ALICE_ADMIN, ALICE, "s3:DeleteBucket", "bkt", &[], "deny bucket LockOut"),
    // ---- deny all
    c("deny all: member read", DENY_ALL, ALICE, "s3:GetObject", "bkt/a", &[], "deny bucket DenyAll"),
    c("deny all: delete bucket", DENY_ALL, ALICE, "s3:DeleteBucket", "bkt", &[], "deny bucket DenyAll"),
    c("deny all: anonymous", DENY_ALL, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket DenyAll"),
    // ---- action wildcards and case
    c("s3:Get* matches GetObject", GET_STAR, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket Gets"),
    c("s3:Get* matches GetObjectTagging", GET_STAR, ALICE, "s3:GetObjectTagging", "bkt/a", &[], "allow bucket Gets"),
    c("s3:Get* does not match PutObject", GET_STAR, ALICE, "s3:PutObject", "bkt/a", &[], "deny bucket -"),
    c("s3:GetObject does not match GetObjectTagging", GET_OBJECT_ONLY, ALICE, "s3:GetObjectTagging", "bkt/a", &[], "deny bucket -"),
    c("s3:GetObject matches itself", GET_OBJECT_ONLY, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket Get"),
    c("s3:*Object matches GetObject", STAR_OBJECT, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket StarObject"),
    c("s3:*Object matches DeleteObject", STAR_OBJECT, ALICE, "s3:DeleteObject", "bkt/a", &[], "allow bucket StarObject"),
    c("s3:*Object does not match GetObjectAcl", STAR_OBJECT, ALICE, "s3:GetObjectAcl", "bkt/a", &[], "deny bucket -"),
    c("action case-insensitive (policy upper)", ACTION_CASE, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket Upper"),
    c("action case-insensitive (request lower)", ACTION_CASE, ALICE, "s3:getobject", "bkt/a", &[], "allow bucket Upper"),
    c("action ? wildcard", ACTION_QUESTION, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket Q"),
    c("action ? is one character", ACTION_QUESTION, ALICE, "s3:GetObjectAcl", "bkt/a", &[], "deny bucket -"),
    c("action * matches everything", ACTION_STAR, ANON, "s3:PutObject", "bkt/a", &[], "allow bucket Star"),
    // ---- resources: bucket vs bucket/* vs bucket*
    c("resource bucket: list", BUCKET_ONLY, ALICE, "s3:ListBucket", "bkt", &[], "allow bucket B"),
    c("resource bucket: object denied", BUCKET_ONLY, ALICE, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("resource bucket/*: object", OBJECTS_ONLY, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket O"),
    c("resource bucket/*: deep key", OBJECTS_ONLY, ALICE, "s3:GetObject", "bkt/a/b/c", &[], "allow bucket O"),
    c("resource bucket/*: bucket itself denied", OBJECTS_ONLY, ALICE, "s3:ListBucket", "bkt", &[], "deny bucket -"),
    c("resource bucket*: bucket", BUCKET_STAR, ALICE, "s3:ListBucket", "bkt", &[], "allow bucket BS"),
    c("resource bucket*: object", BUCKET_STAR, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket BS"),
    c("resource bare prefix: inside", PUBLIC_PREFIX, ANON, "s3:GetObject", "bkt/public/x", &[], "allow bucket Pub"),
    c("resource bare prefix: outside", PUBLIC_PREFIX, ANON, "s3:GetObject", "bkt/private/x", &[], "deny bucket -"),
    c("resource bare prefix: prefix itself", PUBLIC_PREFIX, ANON, "s3:GetObject", "bkt/public", &[], "deny bucket -"),
    c("resource case-sensitive", PUBLIC_CASE, ANON, "s3:GetObject", "bkt/public/x", &[], "deny bucket -"),
    c("resource case-sensitive match", PUBLIC_CASE, ANON, "s3:GetObject", "bkt/Public/x", &[], "allow bucket Case"),
    c("resource ? one char", PUBLIC_QUESTION, ANON, "s3:GetObject", "bkt/a.txt", &[], "allow bucket Q"),
    c("resource ? not two chars", PUBLIC_QUESTION, ANON, "s3:GetObject", "bkt/ab.txt", &[], "deny bucket -"),
    c("resource ? multibyte char", PUBLIC_QUESTION, ANON, "s3:GetObject", "bkt/é.txt", &[], "allow bucket Q"),
    c("resource arn:aws:s3:::*", ALL_BUCKETS, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket All"),
    // ---- NotAction / NotPrincipal / NotResource
    c("NotAction deny: allowed action", NOT_ACTION_DENY, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket AllowAll"),
    c("NotAction deny: other action", NOT_ACTION_DENY, ALICE, "s3:PutObject", "bkt/a", &[], "deny bucket OnlyGet"),
    c("NotAction deny: anonymous other action", NOT_ACTION_DENY, ANON, "s3:DeleteObject", "bkt/a", &[], "deny bucket OnlyGet"),
    c("NotAction allow: excluded action", NOT_ACTION_ALLOW, ALICE, "s3:DeleteObject", "bkt/a", &[], "deny bucket -"),
    c("NotAction allow: other action", NOT_ACTION_ALLOW, ALICE, "s3:PutObject", "bkt/a", &[], "allow bucket NoDelete"),
    c("NotAction allow: resource still applies", NOT_ACTION_ALLOW, ALICE, "s3:ListBucket", "bkt", &[], "deny bucket -"),
    c("NotPrincipal deny: the named one", NOT_PRINCIPAL_DENY, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket AllowAll"),
    c("NotPrincipal deny: someone else", NOT_PRINCIPAL_DENY, BOB_A, "s3:GetObject", "bkt/a", &[], "deny bucket OnlyAlice"),
    c("NotPrincipal deny: anonymous", NOT_PRINCIPAL_DENY, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket OnlyAlice"),
    c("NotPrincipal deny: same uid other org", NOT_PRINCIPAL_DENY, ALICE_B, "s3:GetObject", "bkt/a", &[], "deny bucket OnlyAlice"),
    c("NotPrincipal *: matches nobody", NOT_PRINCIPAL_STAR, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket AllowAll"),
    c("NotPrincipal *: not even anonymous", NOT_PRINCIPAL_STAR, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket AllowAll"),
    c("NotPrincipal allow: others", NOT_PRINCIPAL_ALLOW, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket NotBob"),
    c("NotPrincipal allow: excluded", NOT_PRINCIPAL_ALLOW, BOB_A, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("NotPrincipal allow: short form is own-org only", NOT_PRINCIPAL_ALLOW, BOB_B, "s3:GetObject", "bkt/a", &[], "allow bucket NotBob"),
    c("NotResource deny: outside", NOT_RESOURCE_DENY, ALICE, "s3:GetObject", "bkt/secretless/a", &[], "deny bucket OnlyPublic"),
    c("NotResource deny: inside", NOT_RESOURCE_DENY, ALICE, "s3:GetObject", "bkt/public/a", &[], "allow bucket AllowAll"),
    c("NotResource deny: other action", NOT_RESOURCE_DENY, ALICE, "s3:PutObject", "bkt/x", &[], "allow bucket AllowAll"),
    // ---- principals
    c("short principal: own org", SHORT_ALICE, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket Alice"),
    c("short principal: same name in other org", SHORT_ALICE, ALICE_B, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("short principal: other member", SHORT_ALICE, BOB_A, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("arn principal: cross-org grant", ARN_BOB_B, BOB_B, "s3:GetObject", "bkt/a", &[], "allow bucket BobB"),
    c("arn principal: cross-org other user", ARN_BOB_B, CAROL_B, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("arn principal: same uid own org", ARN_BOB_B, BOB_A, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("arn principal: cross-org action not granted", ARN_BOB_B, BOB_B, "s3:PutObject", "bkt/a", &[], "deny bucket -"),
    c("arn principal: own org must allow too", ARN_DAVE_C, DAVE_C, "s3:GetObject", "bkt/a", &[], "deny default -"),
    c("org root: any principal of org", B_ROOT_ALL, CAROL_B, "s3:PutObject", "bkt/a", &[], "allow bucket OrgB"),
    c("org root: owner org not included", B_ROOT_ALL, ALICE, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("org root: anonymous not included", B_ROOT_ALL, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("cross-org: owner org deny applies", B_ROOT_ALL, BOB_B, "s3:DeleteObject", "bkt/locked/x", &[], "deny org fence/no-locked-delete"),
    c("cross-org: owner org deny elsewhere", B_ROOT_ALL, BOB_B, "s3:DeleteObject", "bkt/other", &[], "allow bucket OrgB"),
    c("cross-org: owner member-only deny matches by name", B_ROOT_ALL, BOB_B, "s3:PutObject", "bkt/tmp/x", &[], "deny org fence/members-no-tmp"),
    c("AWS * is everyone", AWS_STAR, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket AwsStar"),
    c("CW * is everyone", CW_STAR, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket CwStar"),
    c("coreweave/* excludes anonymous", MEMBERS, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("coreweave/* excludes roles", MEMBERS, READER, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("role glob", ROLE_GLOB, READER, "s3:GetObject", "bkt/a", &[], "allow bucket Readers"),
    c("arn glob in own org", ARN_GLOB_A, BOB_A, "s3:GetObject", "bkt/a", &[], "allow bucket AllA"),
    c("arn glob not other org", ARN_GLOB_A, BOB_B, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    // ---- IP conditions
    c("ip v4 inside", IP_V4, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "10.1.2.3")], "allow bucket Office"),
    c("ip v4 outside", IP_V4, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "192.168.1.1")], "deny bucket -"),
    c("ip v4 missing", IP_V4, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("ip v4 mapped v6 peer", IP_V4, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "::ffff:10.0.0.1")], "allow bucket Office"),
    c("ip v6 peer vs v4 range", IP_V4, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "2001:db8::1")], "deny bucket -"),
    c("not-ip deny: inside", NOT_IP_DENY, ALICE, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "10.1.2.3")], "allow bucket AllowAll"),
    c("not-ip deny: outside", NOT_IP_DENY, ALICE, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "8.8.8.8")], "deny bucket OutsideDenied"),
    c("not-ip deny: missing ip denies", NOT_IP_DENY, ALICE, "s3:GetObject", "bkt/a", &[], "deny bucket OutsideDenied"),
    c("ip v6 inside", IP_V6, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "2001:db8:1::5")], "allow bucket V6"),
    c("ip v6 outside", IP_V6, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "2001:db9::1")], "deny bucket -"),
    c("ip v4 peer vs v6 range", IP_V6, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "10.0.0.1")], "deny bucket -"),
    c("ip list second range", IP_LIST, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "192.168.5.5")], "allow bucket Nets"),
    c("ip list single host", IP_LIST, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "203.0.113.7")], "allow bucket Nets"),
    c("ip list next host", IP_LIST, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "203.0.113.8")], "deny bucket -"),
    c("ip 0.0.0.0/0", IP_ANY, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "198.51.100.1")], "allow bucket AnyV4"),
    c("ip 0.0.0.0/0 not v6", IP_ANY, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "::1")], "deny bucket -"),
    // ---- Bool
    c("tls-only: secure", TLS_ONLY, ALICE, "s3:GetObject", "bkt/a", &[("aws:SecureTransport", "true")], "allow bucket AllowAll"),
    c("tls-only: plain", TLS_ONLY, ALICE, "s3:GetObject", "bkt/a", &[("aws:SecureTransport", "false")], "deny bucket TlsOnly"),
    c("tls-only: missing key, plain Bool", TLS_ONLY, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket AllowAll"),
    c("tls-only IfExists: missing key", TLS_ONLY_IF_EXISTS, ALICE, "s3:GetObject", "bkt/a", &[], "deny bucket TlsOnly"),
    c("tls-only IfExists: secure", TLS_ONLY_IF_EXISTS, ALICE, "s3:GetObject", "bkt/a", &[("aws:SecureTransport", "true")], "allow bucket AllowAll"),
    // ---- Null
    c("Null true: anonymous", NULL_ANON_ONLY, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket AnonOnly"),
    c("Null true: user has username", NULL_ANON_ONLY, ALICE, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("Null true: role has no username", NULL_ANON_ONLY, READER, "s3:GetObject", "bkt/a", &[], "allow bucket AnonOnly"),
    c("Null false: prefix present", NULL_PREFIX_SET, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "a/")], "allow bucket NeedPrefix"),
    c("Null false: empty prefix is present", NULL_PREFIX_SET, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "")], "allow bucket NeedPrefix"),
    c("Null false: prefix missing", NULL_PREFIX_SET, ALICE, "s3:ListBucket", "bkt", &[], "deny bucket -"),
    // ---- IfExists and missing keys
    c("IfExists: missing", PREFIX_IF_EXISTS, ALICE, "s3:ListBucket", "bkt", &[], "allow bucket Home"),
    c("IfExists: matching", PREFIX_IF_EXISTS, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "home/")], "allow bucket Home"),
    c("IfExists: other value", PREFIX_IF_EXISTS, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "other/")], "deny bucket -"),
    c("StringEquals: missing key is false", PREFIX_EQUALS, ALICE, "s3:ListBucket", "bkt", &[], "deny bucket -"),
    c("StringNotEquals deny: missing key is true", PREFIX_NOT_EQUALS_DENY, ALICE, "s3:ListBucket", "bkt", &[], "deny bucket OnlyHome"),
    c("StringNotEquals deny: matching value", PREFIX_NOT_EQUALS_DENY, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "home/")], "allow bucket AllowList"),
    c("StringNotEquals deny: other value", PREFIX_NOT_EQUALS_DENY, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "etc/")], "deny bucket OnlyHome"),
    // IfExists makes an absent key true; for a negated operator that changes nothing.
    c("StringNotEqualsIfExists deny: missing", PREFIX_NOT_EQUALS_IF_EXISTS_DENY, ALICE, "s3:ListBucket", "bkt", &[], "deny bucket OnlyHome"),
    c("StringNotEqualsIfExists deny: matching", PREFIX_NOT_EQUALS_IF_EXISTS_DENY, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "home/")], "allow bucket AllowList"),
    c("StringNotEqualsIfExists deny: other", PREFIX_NOT_EQUALS_IF_EXISTS_DENY, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "etc/")], "deny bucket OnlyHome"),
    // ---- string operators
    c("StringEquals username", USER_ALICE, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket U"),
    c("StringEquals other username", USER_ALICE, BOB_A, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("StringEquals is case-sensitive", USER_ALICE, "orga01 coreweave/Alice", "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("StringEqualsIgnoreCase", USER_ALICE_CI, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket U"),
    c("StringNotEqualsIgnoreCase deny: same name", USER_NOT_ALICE_CI_DENY, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket AllowAll"),
    c("StringNotEqualsIgnoreCase deny: other", USER_NOT_ALICE_CI_DENY, BOB_A, "s3:GetObject", "bkt/a", &[], "deny bucket OnlyAlice"),
    c("StringNotEqualsIgnoreCase deny: anonymous", USER_NOT_ALICE_CI_DENY, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket OnlyAlice"),
    c("StringLike prefix tree", PREFIX_LIKE, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "home/x/")], "allow bucket HomeTree"),
    c("StringLike not matching", PREFIX_LIKE, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "homes/")], "deny bucket -"),
    c("StringNotLike deny: inside", PREFIX_NOT_LIKE_DENY, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "public/a")], "allow bucket AllowList"),
    c("StringNotLike deny: outside", PREFIX_NOT_LIKE_DENY, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "private/a")], "deny bucket PublicOnly"),
    c("cw:PrincipalOrgID", CW_ORG, BOB_B, "s3:GetObject", "bkt/a", &[], "allow bucket OrgB"),
    c("cw:PrincipalOrgID other org", CW_ORG, ALICE, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("x-amz-acl absent", ACL_HEADER, ALICE, "s3:PutObject", "bkt/a", &[], "allow bucket NoPublicAcl"),
    c("x-amz-acl public-read", ACL_HEADER, ALICE, "s3:PutObject", "bkt/a", &[("s3:x-amz-acl", "public-read")], "deny bucket -"),
    // ---- numeric
    c("max-keys 50 <= 100", MAX_KEYS_LE_100, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "50")], "allow bucket Small"),
    c("max-keys 100 <= 100", MAX_KEYS_LE_100, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "100")], "allow bucket Small"),
    c("max-keys 101 > 100", MAX_KEYS_LE_100, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "101")], "deny bucket -"),
    c("max-keys missing", MAX_KEYS_LE_100, ALICE, "s3:ListBucket", "bkt", &[], "deny bucket -"),
    c("max-keys not a number", MAX_KEYS_LE_100, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "abc")], "deny bucket -"),
    c("max-keys 10 not > 10", MAX_KEYS_GT_10, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "10")], "deny bucket -"),
    c("max-keys 10.5 > 10", MAX_KEYS_GT_10, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "10.5")], "allow bucket Big"),
    c("NumericNotEquals deny: equal", MAX_KEYS_NOT_5_DENY, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "5")], "allow bucket AllowList"),
    c("NumericNotEquals deny: different", MAX_KEYS_NOT_5_DENY, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "6")], "deny bucket Not5"),
    c("NumericEquals with JSON number", MAX_KEYS_EQ_7_NUMBER, ALICE, "s3:ListBucket", "bkt", &[("s3:max-keys", "7")], "allow bucket Seven"),
    c("NumericLessThan epoch", EPOCH_NUMERIC, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket EpochNum"),
    // ---- dates
    c("DateLessThan: now before", BEFORE_2030, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket Until2030"),
    c("DateLessThan: clock after", BEFORE_2030, ANON, "s3:GetObject", "bkt/a", &[("aws:CurrentTime", "2031-01-01T00:00:00Z")], "deny bucket -"),
    c("DateLessThan: exactly at bound", BEFORE_2030, ANON, "s3:GetObject", "bkt/a", &[("aws:CurrentTime", "2030-01-01T00:00:00Z")], "deny bucket -"),
    c("DateGreaterThan plain date", AFTER_2025_DATE, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket From2025"),
    c("DateGreaterThan plain date: before", AFTER_2025_DATE, ANON, "s3:GetObject", "bkt/a", &[("aws:CurrentTime", "2024-12-31T23:59:59Z")], "deny bucket -"),
    c("DateLessThan on epoch key", EPOCH_DATE_BEFORE_2030, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket EpochDate"),
    c("DateEquals exact second", EXACT_NOW, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket Now"),
    c("DateEquals one second later", EXACT_NOW, ANON, "s3:GetObject", "bkt/a", &[("aws:CurrentTime", "2026-06-01T00:00:01Z")], "deny bucket -"),
    c("DateNotEquals deny: same instant other offset", NOT_NOW_DENY, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket AllowAll"),
    c("DateNotEquals deny: other instant", NOT_NOW_DENY, ALICE, "s3:GetObject", "bkt/a", &[("aws:CurrentTime", "2026-06-02T00:00:00Z")], "deny bucket NotNow"),
    // ---- ARN conditions
    c("ArnLike members", ARN_LIKE_MEMBERS, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket ArnMembers"),
    c("ArnLike role not member", ARN_LIKE_MEMBERS, READER, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("ArnLike anonymous has no ARN", ARN_LIKE_MEMBERS, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("ArnNotLike deny: foreign org", ARN_NOT_LIKE_DENY, BOB_B, "s3:GetObject", "bkt/a", &[], "deny bucket OwnOrgOnly"),
    c("ArnNotLike deny: own org", ARN_NOT_LIKE_DENY, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket AllowAll"),
    c("ArnNotLike deny: anonymous", ARN_NOT_LIKE_DENY, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket OwnOrgOnly"),
    c("ArnEquals with ?", ARN_EQUALS_GLOB, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket ArnEq"),
    c("ArnEquals with ? other", ARN_EQUALS_GLOB, BOB_A, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    // ---- set operators
    c("ForAnyValue: one of", ANY_VALUE, BOB_A, "s3:GetObject", "bkt/a", &[], "allow bucket Any"),
    c("ForAnyValue: missing key", ANY_VALUE, ANON, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("ForAllValues: matching", ALL_VALUES, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket All"),
    c("ForAllValues: missing key is vacuously true", ALL_VALUES, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket All"),
    c("ForAllValues: other value", ALL_VALUES, "orga01 coreweave/carol", "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    c("ForAnyValue IfExists: missing", ANY_VALUE_IF_EXISTS, ANON, "s3:GetObject", "bkt/a", &[], "allow bucket AnyIf"),
    c("ForAnyValue IfExists: not matching", ANY_VALUE_IF_EXISTS, BOB_A, "s3:GetObject", "bkt/a", &[], "deny bucket -"),
    // ---- policy variables
    c("variable resource: own home", HOME_VAR, ALICE, "s3:GetObject", "bkt/home/alice/x", &[], "allow bucket Home"),
    c("variable resource: other home", HOME_VAR, ALICE, "s3:GetObject", "bkt/home/bob/x", &[], "deny bucket -"),
    c("variable resource: anonymous has no username", HOME_VAR, ANON, "s3:GetObject", "bkt/home//x", &[], "deny bucket -"),
    c("variable resource: literal text does not match", HOME_VAR, ALICE, "s3:GetObject", "bkt/home/${aws:username}/x", &[], "deny bucket -"),
    c("variable condition: own prefix", HOME_PREFIX_VAR, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "home/alice/docs")], "allow bucket HomeList"),
    c("variable condition: other prefix", HOME_PREFIX_VAR, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "home/bob/")], "deny bucket -"),
    c("escape ${*}: literal star", ESCAPE_STAR, ANON, "s3:GetObject", "bkt/literal*star", &[], "allow bucket Lit"),
    c("escape ${*}: not a wildcard", ESCAPE_STAR, ANON, "s3:GetObject", "bkt/literalXstar", &[], "deny bucket -"),
    c("2008 version: no substitution", HOME_VAR_2008, ALICE, "s3:GetObject", "bkt/home/alice/x", &[], "deny bucket -"),
    c("2008 version: literal text", HOME_VAR_2008, ALICE, "s3:GetObject", "bkt/home/${aws:username}/x", &[], "allow bucket Home"),
    c("variable default for anonymous", HOME_VAR_DEFAULT, ANON, "s3:GetObject", "bkt/home/guest/x", &[], "allow bucket Home"),
    c("variable default unused when present", HOME_VAR_DEFAULT, ALICE, "s3:GetObject", "bkt/home/guest/x", &[], "deny bucket -"),
    c("aws:userid variable", USERID_VAR, ALICE, "s3:GetObject", "bkt/alice/x", &[], "allow bucket Mine"),
    c("aws:userid variable for role", USERID_VAR, READER, "s3:GetObject", "bkt/role/reader/x", &[], "allow bucket Mine"),
    // ---- several conditions (AND)
    c("ip AND tls: both", IP_AND_TLS, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "10.0.0.9"), ("aws:SecureTransport", "true")], "allow bucket Both"),
    c("ip AND tls: only ip", IP_AND_TLS, ANON, "s3:GetObject", "bkt/a", &[("aws:SourceIp", "10.0.0.9"), ("aws:SecureTransport", "false")], "deny bucket -"),
    c("two keys: both", TWO_KEYS, ALICE, "s3:ListBucket", "bkt", &[("s3:prefix", "home/")], "allow bucket TwoKeys"),
    c("two keys: one", TWO_KEYS, BOB_A, "s3:ListBucket", "bkt", &[("s3:prefix", "home/")], "deny bucket -"),
    // ---- statement order and labels
    c("label: index when no Sid", TWO_ALLOWS, ALICE, "s3:GetObject", "bkt/a", &[], "allow bucket Statement[1]"),
    c("label: first matching statement", TWO_ALLOWS, ALICE, "s3:GetObjectTagging", "bkt/a", &[], "allow bucket Third"),
    c("deny wins over earlier allow", ALLOW_THEN_DENY, ALICE, "s3:GetObject", "bkt/a", &[], "deny bucket D"),
    c("deny does not hit others", ALLOW_THEN_DENY, BOB_A, "s3:GetObject", "bkt/a", &[], "allow bucket A"),
];

fn render(d: &Decision) -> String {
    let layer = match d.decided_by.layer {
        Layer::Org => "org",
        Layer::Bucket => "bucket",
        Layer::Acl => "acl",
        Layer::Default => "default",
    };
    let who = match (
        d.decided_by.layer,
        &d.decided_by.policy,
        &d.decided_by.statement,
    ) {
        (Layer::Org, Some(p), Some(s)) => format!("{p}/{s}"),
        (Layer::Org, Some(p), None) => p.to_string(),
        (Layer::Bucket, Some(p), s) => {
            assert_eq!(&**p, BUCKET, "bucket-layer decisions name the bucket");
            s.as_deref().unwrap_or("-").to_string()
        }
        _ => "-".to_string(),
    };
    format!("{} {layer} {who}", if d.allowed { "allow" } else { "deny" })
}

fn context(case: &Case) -> RequestContext {
    let mut ctx = match case.who {
        "anon" => RequestContext::anonymous(now()),
        w => {
            let (org, principal) = w.split_once(' ').unwrap();
            RequestContext::for_principal(org, principal, false, now())
        }
    };
    for (k, v) in case.ctx {
        if *k == "aws:SourceIp" {
            ctx = ctx.with_source_ip(v.parse().unwrap());
        } else {
            ctx.set(ContextKey::parse(k).unwrap(), v);
        }
    }
    ctx
}

fn policy_doc(p: &str) -> String {
    if p.trim_start().starts_with('{') {
        p.to_string()
    } else {
        format!(r#"{{"Version":"2012-10-17","Statement":{p}}}"#)
    }
}

#[test]
fn decision_table() {
    assert!(CASES.len() >= 150, "{} cases", CASES.len());
    let e = engine();
    let mut failures = Vec::new();
    for case in CASES {
        let policy = case.policy.map(|p| {
            BucketPolicy::parse(BUCKET, &policy_doc(p))
                .unwrap_or_else(|err| panic!("{}: policy rejected: {err}", case.name))
        });
        let target = BucketTarget {
            name: BUCKET,
            owner_org: ORG_A,
            policy: policy.as_ref().into(),
            restrict_public_buckets: false,
            acls: None,
        };
        let got = render(&authorize(
            &e,
            &context(case),
            case.action,
            case.resource,
            Some(target),
        ));
        if got != case.want {
            failures.push(format!("{}: got {got:?}, want {:?}", case.name, case.want));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len());
}

#[test]
fn without_target_bucket_only_the_callers_org_decides() {
    let e = engine();
    let alice = RequestContext::for_principal(ORG_A, "coreweave/alice", false, now());
    assert_eq!(
        render(&authorize(&e, &alice, "s3:ListAllMyBuckets", "*", None)),
        "allow org base/all"
    );
    assert_eq!(
        render(&authorize(&e, &alice, "s3:CreateBucket", "new", None)),
        "allow org base/all"
    );
    let dave = RequestContext::for_principal(ORG_C, "coreweave/dave", false, now());
    assert_eq!(
        render(&authorize(&e, &dave, "s3:CreateBucket", "new", None)),
        "deny default -"
    );
    let anon = RequestContext::anonymous(now());
    assert_eq!(
        render(&authorize(&e, &anon, "s3:ListAllMyBuckets", "*", None)),
        "deny default -"
    );
    assert_eq!(
        render(&authorize(&e, &anon, "s3:GetObject", "missing/k", None)),
        "deny default -"
    );
    // Org admins keep cwobject:* through the same function (AuthCanI).
    let admin = RequestContext::for_principal(ORG_C, "coreweave/root", true, now());
    assert_eq!(
        render(&authorize(
            &e,
            &admin,
            "cwobject:ListAccessPolicy",
            "*",
            None
        )),
        "allow org <org-admin>"
    );
}

#[test]
fn bucket_records_and_policies_that_no_longer_compile() {
    use coffer_core::model::{Bucket, BucketSettings};
    use coffer_core::policy::authorize_bucket_record;
    let e = engine();
    let record = |policy: Option<&str>| Bucket {
        name: BUCKET.into(),
        org_id: ORG_A.into(),
        zone: "US-EAST-04A".into(),
        created: now(),
        settings: BucketSettings::default(),
        policy: policy.map(str::to_string),
        versioning: Default::default(),
        lifecycle: None,
        subresources: Default::default(),
    };
    let alice = RequestContext::for_principal(ORG_A, "coreweave/alice", false, now());
    let anon = RequestContext::anonymous(now());
    let decide = |ctx: &RequestContext, action: &str, resource: &str, b: &Bucket| {
        render(&authorize_bucket_record(&e, ctx, action, resource, Some(b)))
    };
    let broken = record(Some("{not json"));
    assert_eq!(
        decide(&alice, "s3:GetObject", "bkt/a", &broken),
        "deny bucket -"
    );
    assert_eq!(
        decide(&anon, "s3:GetObject", "bkt/a", &broken),
        "deny bucket -"
    );
    for a in [
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:GetBucketPolicy",
    ] {
        assert_eq!(
            decide(&alice, a, "bkt", &broken),
            "allow org base/all",
            "{a}"
        );
    }
    assert_eq!(
        decide(&alice, "s3:GetObject", "bkt/a", &record(None)),
        "allow org base/all"
    );
    let public = record(Some(&policy_doc(PUBLIC_READ.unwrap())));
    assert_eq!(
        decide(&anon, "s3:GetObject", "bkt/a", &public),
        "allow bucket PublicRead"
    );
    // Compiled once, then served from the cache.
    assert_eq!(e.cached_bucket_policies(), 1);
    assert_eq!(
        render(&authorize_bucket_record(
            &e,
            &alice,
            "s3:ListAllMyBuckets",
            "*",
            None
        )),
        "allow org base/all"
    );
}

#[test]
fn explanations_name_no_foreign_policy() {
    use coffer_core::model::{Bucket, BucketSettings};
    use coffer_core::policy::{authorize_bucket_record, explain_bucket_record};
    let e = engine();
    // Org C's own policies may be named to its principals: an allow-all and one Deny.
    let c = r#"{"version":"v1alpha1","name":"c-fence","statements":[
        {"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]},
        {"name":"no-bkt-put","effect":"Deny","actions":["s3:PutObject"],"resources":["bkt/*"],"principals":["*"]}]}"#;
    e.replace_org(ORG_C, &[parse_policy_json(c).unwrap()]);
    let record = |policy: Option<&str>| Bucket {
        name: BUCKET.into(),
        org_id: ORG_A.into(),
        zone: "US-EAST-04A".into(),
        created: now(),
        settings: BucketSettings::default(),
        policy: policy.map(policy_doc),
        versioning: Default::default(),
        lifecycle: None,
        subresources: Default::default(),
    };
    let mut redacted = 0;
    for case in CASES {
        let b = record(case.policy);
        let ctx = context(case);
        let full = authorize_bucket_record(&e, &ctx, case.action, case.resource, Some(&b));
        let told = explain_bucket_record(
            &e,
            &ctx,
            case.action,
            case.resource,
            Some(&b),
            ObjectFacts::Unknown,
        );
        assert_eq!(
            (told.allowed, told.decided_by.layer),
            (full.allowed, full.decided_by.layer),
            "{}",
            case.name
        );
        if case.who.starts_with(ORG_A) {
            assert_eq!(told, full, "{}: the owner's own org is named", case.name);
        } else if case.who.starts_with(ORG_C)
            && full.decided_by.policy.as_deref() == Some("c-fence")
        {
            assert_eq!(told, full, "{}: the caller's own org is named", case.name);
        } else {
            assert_eq!(
                (&told.decided_by.policy, &told.decided_by.statement),
                (&None, &None),
                "{}: {} must name no policy of org {ORG_A}",
                case.name,
                render(&full)
            );
            if full.decided_by.policy.is_some() {
                redacted += 1;
            }
        }
    }
    assert!(
        redacted >= 20,
        "only {redacted} foreign decisions named something"
    );

    // The owner's org Deny (step 3) and a foreign bucket's Sid, named only to the owner.
    let bob_b = RequestContext::for_principal(ORG_B, "coreweave/bob", false, now());
    let b = record(B_ROOT_ALL);
    let explain = |ctx: &RequestContext, action: &str, resource: &str| {
        render(&explain_bucket_record(
            &e,
            ctx,
            action,
            resource,
            Some(&b),
            ObjectFacts::Unknown,
        ))
    };
    assert_eq!(
        explain(&bob_b, "s3:DeleteObject", "bkt/locked/x"),
        "deny org -"
    );
    assert_eq!(explain(&bob_b, "s3:GetObject", "bkt/a"), "allow bucket -");
    let alice = RequestContext::for_principal(ORG_A, "coreweave/alice", false, now());
    assert_eq!(
        explain(&alice, "s3:DeleteObject", "bkt/locked/x"),
        "deny org fence/no-locked-delete"
    );
    // A foreign caller's own org Deny is its own: named.
    let dave_c = RequestContext::for_principal(ORG_C, "coreweave/dave", false, now());
    assert_eq!(
        explain(&dave_c, "s3:PutObject", "bkt/a"),
        "deny org c-fence/no-bkt-put"
    );
}
