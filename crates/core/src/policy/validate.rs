//! Validation of org access policies (SPEC §2 `EnsureAccessPolicy`) and the action
//! vocabulary it checks against.
//!
//! Rules beyond the spec's list, each with its reason:
//! * Policy and statement names are 1..=128 chars of `[A-Za-z0-9._-]`: the policy name is a
//!   URL path segment (`DELETE /v1/cwobject/access-policy/{name}`) and statement names are
//!   shown in `decidedBy`, so both must be unambiguous and need no escaping.
//! * Statement names are unique within a policy, so `decidedBy` identifies one statement.
//! * List entries must be non-empty strings without control characters.
//! * Actions are `*` or `<ns>:<name>` with `ns` ∈ {`s3`, `cwobject`} (any case) and a
//!   non-empty name of `[A-Za-z0-9*?]`. Unknown names inside a known namespace are accepted
//!   (they never match), as IAM does, so clients written for the reference keep working.
//! * Resources and principals starting with `arn:` are rejected: org policies use bare
//!   `bucket[/key]` resources and short principals; an ARN would silently never match.
//! * Resources may be up to 1088 chars (a 63-char bucket, `/`, a 1024-byte key); other
//!   strings up to 1024 chars.

use super::glob::glob_match_ignore_ascii_case;
use super::model::{AccessPolicy, Effect, Statement};

/// The only accepted `version`.
pub const POLICY_VERSION: &str = "v1alpha1";
/// Maximum statements per policy.
pub const MAX_STATEMENTS: usize = 100;
/// Maximum entries in each of `actions`, `resources`, `principals`.
pub const MAX_LIST_ENTRIES: usize = 100;
/// Maximum length (chars) of an action or principal.
pub const MAX_STRING_CHARS: usize = 1024;
/// Maximum length (chars) of a resource: bucket (63) + `/` + key (1024).
pub const MAX_RESOURCE_CHARS: usize = 63 + 1 + 1024;
/// Maximum length of policy and statement names.
pub const MAX_NAME_CHARS: usize = 128;

/// Every `cwobject:` action (SPEC §2 table and the reference's list). All are global:
/// they are checked against resource `*`.
pub const CWOBJECT_ACTIONS: &[&str] = &[
    "cwobject:CreateAccessKey",
    "cwobject:CreateAccessKeySAML",
    "cwobject:CreateAccessKeyOIDC",
    "cwobject:ListAccessKeyInfo",
    "cwobject:UpdateAccessKeyStatus",
    "cwobject:RevokeAccessKeyByAccessKey",
    "cwobject:RevokeAccessKeysByPrincipal",
    "cwobject:EnsureAccessPolicy",
    "cwobject:DeleteAccessPolicy",
    "cwobject:ListAccessPolicy",
    "cwobject:ListBucketInfo",
    "cwobject:EnableBucketAuditLogging",
    "cwobject:DisableBucketAuditLogging",
    "cwobject:EnableControlPlaneAuditLogging",
    "cwobject:DisableControlPlaneAuditLogging",
    "cwobject:EnableBucketAuditLoggingDefault",
    "cwobject:DisableBucketAuditLoggingDefault",
];

/// The policy-management actions that can never be denied to an org admin (SPEC §3).
pub const ADMIN_UNDENIABLE_ACTIONS: &[&str] = &[
    "cwobject:EnsureAccessPolicy",
    "cwobject:DeleteAccessPolicy",
    "cwobject:ListAccessPolicy",
];

/// S3 actions that are not scoped to a bucket (checked against resource `*`).
pub const GLOBAL_S3_ACTIONS: &[&str] = &["s3:ListAllMyBuckets"];

/// The IAM names of the S3 actions policies may name (AWS spelling). Used only to decide
/// whether an `s3:` glob can match nothing but global actions (validation); matching
/// itself never consults this list, so an action missing here still works in policies.
pub const S3_ACTIONS: &[&str] = &[
    "s3:AbortMultipartUpload",
    "s3:BypassGovernanceRetention",
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucketWebsite",
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectVersionTagging",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
    "s3:GetBucketNotification",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetBucketWebsite",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionTagging",
    "s3:GetReplicationConfiguration",
    "s3:ListAllMyBuckets",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:ListMultipartUploadParts",
    "s3:PutBucketAcl",
    "s3:PutBucketCORS",
    "s3:PutBucketLogging",
    "s3:PutBucketNotification",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketRequestPayment",
    "s3:PutBucketTagging",
    "s3:PutBucketVersioning",
    "s3:PutBucketWebsite",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectVersionTagging",
    "s3:PutReplicationConfiguration",
    "s3:ReplicateObject",
    "s3:RestoreObject",
];

/// Why a policy was rejected. Messages are safe to return to the caller; statement
/// errors name the statement by 0-based index and name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The JSON could not be parsed into the policy shape at all.
    #[error("malformed policy: {0}")]
    Malformed(String),
    /// A policy-level field is wrong (version, name, statement count).
    #[error("invalid policy: {0}")]
    Policy(String),
    /// One statement is wrong.
    #[error("invalid policy: statements[{index}] ({name:?}): {reason}")]
    Statement {
        index: usize,
        name: String,
        reason: String,
    },
}

impl From<PolicyError> for crate::Error {
    fn from(e: PolicyError) -> Self {
        crate::Error::InvalidArgument(e.to_string())
    }
}

/// Truncates caller-supplied text echoed in messages so a huge input cannot produce a
/// huge error body.
fn short(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn stmt_err(index: usize, name: &str, reason: String) -> PolicyError {
    PolicyError::Statement {
        index,
        name: short(name),
        reason,
    }
}

/// Checks a raw `effect` string: exactly `Allow` or `Deny` (case-sensitive, as the spec says).
pub(crate) fn check_effect(index: usize, name: &str, effect: &str) -> Result<Effect, PolicyError> {
    match effect {
        "Allow" => Ok(Effect::Allow),
        "Deny" => Ok(Effect::Deny),
        other => Err(stmt_err(
            index,
            name,
            format!(
                "effect must be exactly \"Allow\" or \"Deny\", got {:?}",
                short(other)
            ),
        )),
    }
}

fn name_error(what: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("{what} must not be empty"));
    }
    if name.len() > MAX_NAME_CHARS {
        return Some(format!("{what} is longer than {MAX_NAME_CHARS} characters"));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    {
        return Some(format!(
            "{what} {:?} may only contain A-Z, a-z, 0-9, '.', '_' and '-'",
            short(name)
        ));
    }
    None
}

/// Namespace of an action pattern or action, if it is one we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Namespace {
    S3,
    Cwobject,
}

/// Splits `ns:name` and classifies the namespace case-insensitively.
pub(crate) fn namespace_of(action: &str) -> Option<Namespace> {
    let (ns, _) = action.split_once(':')?;
    if ns.eq_ignore_ascii_case("s3") {
        Some(Namespace::S3)
    } else if ns.eq_ignore_ascii_case("cwobject") {
        Some(Namespace::Cwobject)
    } else {
        None
    }
}

/// True for actions that are not scoped to a bucket: every `cwobject:` action and
/// `s3:ListAllMyBuckets`. Such actions are always checked against resource `*`.
pub fn is_global_action(action: &str) -> bool {
    match namespace_of(action) {
        Some(Namespace::Cwobject) => true,
        Some(Namespace::S3) => GLOBAL_S3_ACTIONS
            .iter()
            .any(|g| g.eq_ignore_ascii_case(action)),
        None => false,
    }
}

/// True if a (syntactically valid) action pattern can match only global actions: any
/// `cwobject:` pattern, or an `s3:` pattern that matches a global S3 action and no other
/// known S3 action (`s3:ListAllMyBuckets`, `s3:ListAll*`).
fn pattern_is_global_only(pattern: &str) -> bool {
    match namespace_of(pattern) {
        Some(Namespace::Cwobject) => true,
        Some(Namespace::S3) => {
            let matches = |a: &&str| glob_match_ignore_ascii_case(pattern, a);
            GLOBAL_S3_ACTIONS.iter().any(matches)
                && !S3_ACTIONS
                    .iter()
                    .filter(|a| !GLOBAL_S3_ACTIONS.contains(a))
                    .any(matches)
        }
        None => false,
    }
}

fn check_action(action: &str) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    let Some((ns, name)) = action.split_once(':') else {
        return Err(format!(
            "action {:?} must be \"*\" or \"<namespace>:<name>\" (namespaces: s3, cwobject)",
            short(action)
        ));
    };
    if namespace_of(action).is_none() {
        return Err(format!(
            "action {:?} has unknown namespace {:?} (expected s3 or cwobject)",
            short(action),
            short(ns)
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'*' || c == b'?')
    {
        return Err(format!(
            "action {:?} must have a name of A-Z, a-z, 0-9, '*' and '?' after the namespace",
            short(action)
        ));
    }
    Ok(())
}

fn check_list(
    what: &str,
    items: &[String],
    max_chars: usize,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    if items.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if items.len() > MAX_LIST_ENTRIES {
        return Err(format!(
            "{what} has {} entries; at most {MAX_LIST_ENTRIES} are allowed",
            items.len()
        ));
    }
    for item in items {
        if item.is_empty() {
            return Err(format!("{what} must not contain empty strings"));
        }
        if item.chars().count() > max_chars {
            return Err(format!(
                "{what} entry {:?} is longer than {max_chars} characters",
                short(item)
            ));
        }
        if item.chars().any(char::is_control) {
            return Err(format!(
                "{what} entry {:?} contains a control character",
                short(item)
            ));
        }
        check(item)?;
    }
    Ok(())
}

fn has_arn_prefix(s: &str) -> bool {
    s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("arn:"))
}

fn check_statement(s: &Statement) -> Result<(), String> {
    if let Some(e) = name_error("statement name", &s.name) {
        return Err(e);
    }
    check_list("actions", &s.actions, MAX_STRING_CHARS, check_action)?;
    check_list("resources", &s.resources, MAX_RESOURCE_CHARS, |r| {
        if has_arn_prefix(r) {
            return Err(format!(
                "resource {:?} is an ARN; org policies use bare \"bucket\" or \"bucket/key\" \
                 globs (drop the \"arn:aws:s3:::\" prefix)",
                short(r)
            ));
        }
        if r.starts_with('/') {
            return Err(format!(
                "resource {:?} must start with a bucket name, not '/'",
                short(r)
            ));
        }
        Ok(())
    })?;
    check_list("principals", &s.principals, MAX_STRING_CHARS, |p| {
        if has_arn_prefix(p) {
            return Err(format!(
                "principal {:?} is a full ARN; use \"coreweave/<uid>\", \"role/<name>\" or \"*\"",
                short(p)
            ));
        }
        Ok(())
    })?;
    // Global actions are checked against resource `*` only, so any other resource next to
    // an action that can only be global is a mistake that would silently never match.
    if let Some(action) = s.actions.iter().find(|a| pattern_is_global_only(a))
        && let Some(resource) = s.resources.iter().find(|r| r.as_str() != "*")
    {
        return Err(format!(
            "action {:?} is global (not scoped to a bucket) and requires resource \"*\", \
             got {:?}",
            short(action),
            short(resource)
        ));
    }
    Ok(())
}

/// Validates a policy (SPEC §2 `EnsureAccessPolicy`). The first problem found is reported,
/// checking policy-level fields first, then statements in order.
pub fn validate(p: &AccessPolicy) -> Result<(), PolicyError> {
    if p.version != POLICY_VERSION {
        return Err(PolicyError::Policy(format!(
            "version must be {POLICY_VERSION:?}, got {:?}",
            short(&p.version)
        )));
    }
    if let Some(e) = name_error("policy name", &p.name) {
        return Err(PolicyError::Policy(e));
    }
    if p.statements.is_empty() {
        return Err(PolicyError::Policy("statements must not be empty".into()));
    }
    if p.statements.len() > MAX_STATEMENTS {
        return Err(PolicyError::Policy(format!(
            "policy has {} statements; at most {MAX_STATEMENTS} are allowed",
            p.statements.len()
        )));
    }
    for (index, s) in p.statements.iter().enumerate() {
        check_statement(s).map_err(|reason| stmt_err(index, &s.name, reason))?;
        if p.statements[..index].iter().any(|o| o.name == s.name) {
            return Err(stmt_err(
                index,
                &s.name,
                "statement names must be unique within a policy".into(),
            ));
        }
    }
    Ok(())
}
