//! Bucket policies (SPEC §3): the AWS JSON document, parsed and validated once into a
//! compiled [`BucketPolicy`] that evaluates requests without touching JSON again.
//!
//! Accepted document (everything else is a [`BucketPolicyError`] whose message names the
//! statement and the element, returned as S3 `MalformedPolicy` at `PutBucketPolicy`):
//! * `Version` `2012-10-17` (policy variables on) or `2008-10-17` / absent (variables
//!   off, `${…}` is plain text, as in AWS); `Id` (string, ignored); `Statement` object
//!   or non-empty array. Element names are case-sensitive; unknown elements are errors.
//! * `Sid` (optional, unique), `Effect` `Allow`|`Deny`, exactly one of `Principal` /
//!   `NotPrincipal`, `Action` / `NotAction`, `Resource` / `NotResource`, optional
//!   `Condition` (see `condition`).
//! * Principals: `"*"`, `{"AWS": …}` or `{"CW": …}` with `*`,
//!   `arn:aws:iam::<orgId>:coreweave/<uid>`, `arn:aws:iam::<orgId>:role/<…>`,
//!   `arn:aws:iam::<orgId>:root` (every principal of that org), or the short forms
//!   `coreweave/<uid>` / `role/<…>`, which mean principals of the bucket owner's org.
//!   Globs (`coreweave/*`) are allowed in the part after the org.
//! * Actions: `*` or `s3:<name>` (case-insensitive, `*`/`?` globs) naming at least one
//!   known S3 action; a literal object action (`s3:GetObject`) must come with a resource
//!   that can name an object, a literal bucket action (`s3:ListBucket`) with one that can
//!   name the bucket ("Action does not apply to any resource(s) in statement").
//! * Resources: `arn:aws:s3:::bucket[/key]` or the bare `bucket[/key]`, globs and policy
//!   variables allowed; the bucket part must be able to name this bucket.
//! * Size: at most [`MAX_BUCKET_POLICY_BYTES`] bytes not counting whitespace.
//!
//! Evaluation ([`BucketPolicy::evaluate`]): the first matching `Deny` statement (document
//! order) wins, else the first matching `Allow`, else no match. A statement matches when
//! its principal, action, resource and every condition match. Combining this verdict
//! with the org layer is `authorize`'s job, not this module's.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::condition::{Condition, parse_conditions};
use super::context::RequestContext;
use super::glob::{glob_match, glob_match_ignore_ascii_case, glob_match_lowered, has_wildcard};
use super::model::Effect;
use super::pattern::Template;
use super::validate::S3_ACTIONS;

/// Largest accepted policy, in bytes excluding ASCII whitespace (AWS: 20 KB).
pub const MAX_BUCKET_POLICY_BYTES: usize = 20 * 1024;
/// Largest accepted policy text including whitespace (bounds parsing work).
const MAX_RAW_BYTES: usize = 64 * 1024;

/// The current policy language version (variables supported).
pub const BUCKET_POLICY_VERSION: &str = "2012-10-17";
/// The legacy version (no policy variables).
pub const BUCKET_POLICY_VERSION_2008: &str = "2008-10-17";

/// The S3 actions judged by org policies only (SPEC §3: a bad bucket policy can never
/// lock the org out of managing it). Bucket-policy statements naming them are accepted
/// but never consulted. Public Access Block and Object Ownership decide what policies
/// and ACLs may do, so they are managed like the policy itself (`Delete…` uses the
/// `Put…` action, as in S3).
pub const ORG_ONLY_ACTIONS: &[&str] = &[
    "s3:PutBucketPolicy",
    "s3:GetBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
];

/// True if `action` is one of [`ORG_ONLY_ACTIONS`] (case-insensitive).
pub fn is_org_only_action(action: &str) -> bool {
    ORG_ONLY_ACTIONS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(action))
}

/// Why a bucket policy was rejected; the message is safe and precise enough to return
/// to the client as the `MalformedPolicy` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BucketPolicyError(pub String);

/// A statement's outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketVerdict {
    /// A `Deny` statement matched (its label: `Sid`, or `Statement[<index>]`).
    Deny(Arc<str>),
    /// No `Deny` matched and this `Allow` statement did.
    Allow(Arc<str>),
    /// Nothing matched.
    NoMatch,
}

#[derive(Debug, Clone, PartialEq)]
enum PrincipalPat {
    /// `*`: everyone, including anonymous requests.
    Everyone,
    /// `arn:aws:iam::<org>:root`: every authenticated principal of `org`.
    OrgRoot(Box<str>),
    /// `arn:aws:iam::<org>:<glob>`.
    InOrg { org: Box<str>, glob: Box<str> },
    /// Short form `<glob>`: principals of the bucket owner's org.
    Local(Box<str>),
}

#[derive(Debug, Clone, PartialEq)]
struct Compiled {
    label: Arc<str>,
    effect: Effect,
    /// `true` for `NotPrincipal`.
    not_principal: bool,
    principals: Vec<PrincipalPat>,
    /// `true` for `NotAction`.
    not_action: bool,
    /// ASCII-lowercased.
    actions: Vec<Box<str>>,
    /// `true` for `NotResource`.
    not_resource: bool,
    /// Bare forms (`bucket`, `bucket/key`), ARN prefix removed.
    resources: Vec<Template>,
    conditions: Vec<Condition>,
}

/// A parsed, validated and compiled bucket policy. Immutable.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketPolicy {
    bucket: Box<str>,
    version: &'static str,
    statements: Vec<Compiled>,
}

impl BucketPolicy {
    /// Parses and validates `json` as the policy of `bucket` (module docs).
    pub fn parse(bucket: &str, json: &str) -> Result<BucketPolicy, BucketPolicyError> {
        parse_policy(bucket, json).map_err(BucketPolicyError)
    }

    /// The bucket this policy was validated for.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `2012-10-17` or `2008-10-17`.
    pub fn version(&self) -> &'static str {
        self.version
    }

    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// The bucket layer's verdict for `action` (canonical case, e.g. `s3:GetObject`) on
    /// `resource` (`bucket` or `bucket/key`) in the request `ctx`. `owner_org` is the
    /// bucket owner's org (short-form principals are relative to it).
    pub fn evaluate(
        &self,
        ctx: &RequestContext,
        owner_org: &str,
        action: &str,
        resource: &str,
    ) -> BucketVerdict {
        let matching = |effect: Effect| {
            self.statements
                .iter()
                .filter(|s| s.effect == effect)
                .find(|s| s.applies(ctx, owner_org, action, resource))
                .map(|s| s.label.clone())
        };
        if let Some(l) = matching(Effect::Deny) {
            return BucketVerdict::Deny(l);
        }
        match matching(Effect::Allow) {
            Some(l) => BucketVerdict::Allow(l),
            None => BucketVerdict::NoMatch,
        }
    }

    /// Whether some `Allow` statement names `action` and the caller of `ctx`, whatever
    /// its resources and conditions: `false` means no request of this caller for
    /// `action` on any resource can be allowed by this policy. A cheap upper bound used
    /// to refuse work (reading a request body) before the exact per-resource decisions.
    pub fn may_allow(&self, ctx: &RequestContext, owner_org: &str, action: &str) -> bool {
        self.statements
            .iter()
            .any(|s| s.effect == Effect::Allow && s.names(ctx, owner_org, action))
    }

    /// `GetBucketPolicyStatus.IsPublic`: some `Allow` statement applies to everyone
    /// (`Principal` `*`, or any `NotPrincipal`) and none of its conditions narrows the
    /// callers by identity or source address.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && (s.not_principal || s.principals.contains(&PrincipalPat::Everyone))
                && !s.conditions.iter().any(Condition::restricts_public_access)
        })
    }
}

impl Compiled {
    /// The statement's action and principal elements match.
    fn names(&self, ctx: &RequestContext, owner_org: &str, action: &str) -> bool {
        let action_hit = self.actions.iter().any(|a| glob_match_lowered(a, action));
        if action_hit == self.not_action {
            return false;
        }
        let principal_hit = self
            .principals
            .iter()
            .any(|p| principal_matches(p, ctx, owner_org));
        principal_hit != self.not_principal
    }

    fn applies(&self, ctx: &RequestContext, owner_org: &str, action: &str, resource: &str) -> bool {
        if !self.names(ctx, owner_org, action) {
            return false;
        }
        let resource_hit = self.resources.iter().any(|r| r.glob_matches(ctx, resource));
        if resource_hit == self.not_resource {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(ctx))
    }
}

fn principal_matches(p: &PrincipalPat, ctx: &RequestContext, owner_org: &str) -> bool {
    let Some(who) = ctx.principal() else {
        return *p == PrincipalPat::Everyone;
    };
    match p {
        PrincipalPat::Everyone => true,
        PrincipalPat::OrgRoot(org) => who.org_id == **org,
        PrincipalPat::InOrg { org, glob } => {
            who.org_id == **org && glob_match(glob, &who.principal)
        }
        PrincipalPat::Local(glob) => who.org_id == owner_org && glob_match(glob, &who.principal),
    }
}

// ---------------------------------------------------------------------------------
// Parsing

fn parse_policy(bucket: &str, json: &str) -> Result<BucketPolicy, String> {
    let significant = json.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    if significant > MAX_BUCKET_POLICY_BYTES || json.len() > MAX_RAW_BYTES {
        return Err(format!(
            "Policy exceeds the maximum allowed document size ({MAX_BUCKET_POLICY_BYTES} bytes \
             excluding whitespace)"
        ));
    }
    if json.trim().is_empty() {
        return Err("Policy is empty".into());
    }
    let root: Value =
        serde_json::from_str(json).map_err(|e| format!("Policy is not valid JSON: {e}"))?;
    let root = root
        .as_object()
        .ok_or("Policy must be a JSON object with Version and Statement")?;
    for k in root.keys() {
        if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
            return Err(format!(
                "Unknown policy element {k:?} (expected Version, Id, Statement; names are \
                 case-sensitive)"
            ));
        }
    }
    let version = match root.get("Version") {
        None => BUCKET_POLICY_VERSION_2008,
        Some(Value::String(v)) if v == BUCKET_POLICY_VERSION => BUCKET_POLICY_VERSION,
        Some(Value::String(v)) if v == BUCKET_POLICY_VERSION_2008 => BUCKET_POLICY_VERSION_2008,
        Some(v) => {
            return Err(format!(
                "Unsupported policy Version {v}; use \"{BUCKET_POLICY_VERSION}\""
            ));
        }
    };
    if let Some(id) = root.get("Id")
        && !id.is_string()
    {
        return Err("Policy Id must be a string".into());
    }
    let variables = version == BUCKET_POLICY_VERSION;
    let raw: Vec<&Value> = match root.get("Statement") {
        None => return Err("Policy has no Statement".into()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        Some(_) => return Err("Statement must be an object or an array of objects".into()),
    };
    if raw.is_empty() {
        return Err("Statement must not be empty".into());
    }
    let mut statements = Vec::with_capacity(raw.len());
    let mut sids = HashSet::new();
    for (i, s) in raw.into_iter().enumerate() {
        let obj = s
            .as_object()
            .ok_or_else(|| format!("Statement[{i}]: must be an object"))?;
        let sid = match obj.get("Sid") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(format!("Statement[{i}]: Sid must be a string")),
        };
        let at = match sid {
            Some(s) if !s.is_empty() => format!("Statement[{i}] (Sid {s:?})"),
            _ => format!("Statement[{i}]"),
        };
        if let Some(s) = sid.filter(|s| !s.is_empty())
            && !sids.insert(s.to_owned())
        {
            return Err(format!("{at}: duplicate Sid; Sids must be unique"));
        }
        let compiled =
            parse_statement(i, sid, obj, bucket, variables).map_err(|e| format!("{at}: {e}"))?;
        statements.push(compiled);
    }
    Ok(BucketPolicy {
        bucket: bucket.into(),
        version,
        statements,
    })
}

const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Exactly one of `positive` / `negative`; returns (value, is_negative).
fn one_of<'a>(
    obj: &'a Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<(&'a Value, bool), String> {
    match (obj.get(positive), obj.get(negative)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (Some(_), Some(_)) => Err(format!("has both {positive} and {negative}")),
        (None, None) => Err(format!("missing {positive} (or {negative})")),
    }
}

/// A string or a non-empty array of strings.
fn string_list<'a>(v: &'a Value, what: &str) -> Result<Vec<&'a str>, String> {
    let list: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| format!("{what} must be a string or an array of strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(format!("{what} must be a string or an array of strings")),
    };
    if list.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if let Some(bad) = list.iter().find(|s| s.trim().is_empty()) {
        return Err(format!("{what} contains an empty value {bad:?}"));
    }
    Ok(list)
}

fn parse_statement(
    index: usize,
    sid: Option<&str>,
    obj: &Map<String, Value>,
    bucket: &str,
    variables: bool,
) -> Result<Compiled, String> {
    for k in obj.keys() {
        if !STATEMENT_ELEMENTS.contains(&k.as_str()) {
            return Err(format!(
                "unknown element {k:?} (expected one of {}; names are case-sensitive)",
                STATEMENT_ELEMENTS.join(", ")
            ));
        }
    }
    let effect = match obj.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(e) => return Err(format!("Effect must be \"Allow\" or \"Deny\", not {e}")),
        None => return Err("missing Effect".into()),
    };
    let (pv, not_principal) = one_of(obj, "Principal", "NotPrincipal")?;
    let principals = parse_principals(
        pv,
        if not_principal {
            "NotPrincipal"
        } else {
            "Principal"
        },
    )?;
    let (av, not_action) = one_of(obj, "Action", "NotAction")?;
    let action_name = if not_action { "NotAction" } else { "Action" };
    let mut actions = Vec::new();
    for a in string_list(av, action_name)? {
        check_action(a).map_err(|e| format!("{action_name}: {e}"))?;
        actions.push(a.to_ascii_lowercase().into_boxed_str());
    }
    let (rv, not_resource) = one_of(obj, "Resource", "NotResource")?;
    let resource_name = if not_resource {
        "NotResource"
    } else {
        "Resource"
    };
    let mut resources = Vec::new();
    for r in string_list(rv, resource_name)? {
        resources.push(
            parse_resource(r, bucket, variables).map_err(|e| format!("{resource_name}: {e}"))?,
        );
    }
    if !not_action && !not_resource {
        check_applicability(&actions, &resources, bucket)?;
    }
    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c, variables)?,
    };
    let label: Arc<str> = match sid {
        Some(s) if !s.is_empty() => Arc::from(s),
        _ => Arc::from(format!("Statement[{index}]")),
    };
    Ok(Compiled {
        label,
        effect,
        not_principal,
        principals,
        not_action,
        actions,
        not_resource,
        resources,
        conditions,
    })
}

fn parse_principals(v: &Value, what: &str) -> Result<Vec<PrincipalPat>, String> {
    let mut out = Vec::new();
    match v {
        Value::String(_) | Value::Array(_) => {
            for p in string_list(v, what)? {
                out.push(parse_principal(p).map_err(|e| format!("{what}: {e}"))?);
            }
        }
        Value::Object(m) => {
            if m.is_empty() {
                return Err(format!("{what} must not be empty"));
            }
            for (kind, list) in m {
                if kind != "AWS" && kind != "CW" {
                    return Err(format!(
                        "{what}: unsupported principal type {kind:?} (use \"AWS\" or \"CW\")"
                    ));
                }
                for p in string_list(list, &format!("{what}.{kind}"))? {
                    out.push(parse_principal(p).map_err(|e| format!("{what}.{kind}: {e}"))?);
                }
            }
        }
        _ => {
            return Err(format!(
                "{what} must be \"*\" or an object such as {{\"AWS\": [\"arn:aws:iam::<orgId>:coreweave/<uid>\"]}}"
            ));
        }
    }
    Ok(out)
}

fn is_short_principal(p: &str) -> bool {
    ["coreweave/", "role/"]
        .iter()
        .any(|pre| p.strip_prefix(pre).is_some_and(|rest| !rest.is_empty()))
}

/// `coreweave/<uid>` or `role/<name>` naming one principal exactly (no glob): how an
/// ACL grant names a principal after `arn:aws:iam::<orgId>:`. Bucket policies accept the
/// same form as a glob pattern.
pub fn is_principal_name(p: &str) -> bool {
    is_short_principal(p) && !p.contains(['*', '?']) && !p.chars().any(char::is_control)
}

fn parse_principal(p: &str) -> Result<PrincipalPat, String> {
    if p == "*" {
        return Ok(PrincipalPat::Everyone);
    }
    if p.chars().any(char::is_control) {
        return Err(format!("invalid principal {p:?}"));
    }
    if let Some(rest) = p.strip_prefix("arn:") {
        let body = rest.strip_prefix("aws:iam::").ok_or_else(|| {
            format!(
                "invalid principal {p:?}: ARNs must look like arn:aws:iam::<orgId>:coreweave/<uid>"
            )
        })?;
        let (org, who) = body
            .split_once(':')
            .ok_or_else(|| format!("invalid principal {p:?}: missing ':' after the org id"))?;
        if !crate::ids::is_org_id(org) {
            return Err(format!(
                "invalid principal {p:?}: {org:?} is not an org id (6 lowercase letters or digits)"
            ));
        }
        if who == "root" {
            return Ok(PrincipalPat::OrgRoot(org.into()));
        }
        if !is_short_principal(who) {
            return Err(format!(
                "invalid principal {p:?}: expected root, coreweave/<uid> or role/<name> after the org id"
            ));
        }
        return Ok(PrincipalPat::InOrg {
            org: org.into(),
            glob: who.into(),
        });
    }
    if is_short_principal(p) {
        return Ok(PrincipalPat::Local(p.into()));
    }
    Err(format!(
        "invalid principal {p:?}: use \"*\", coreweave/<uid>, role/<name> or \
         arn:aws:iam::<orgId>:coreweave/<uid>"
    ))
}

fn check_action(a: &str) -> Result<(), String> {
    if a == "*" {
        return Ok(());
    }
    let Some((ns, name)) = a.split_once(':') else {
        return Err(format!("invalid action {a:?}: expected s3:<Action>"));
    };
    if !ns.eq_ignore_ascii_case("s3") {
        return Err(format!(
            "invalid action {a:?}: bucket policies accept s3: actions only"
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
    {
        return Err(format!("invalid action {a:?}"));
    }
    if !S3_ACTIONS
        .iter()
        .any(|k| glob_match_ignore_ascii_case(a, k))
    {
        return Err(format!("unknown action {a:?}"));
    }
    Ok(())
}

/// `arn:aws:s3:::bucket[/key]` or bare `bucket[/key]` → the bare template.
fn parse_resource(r: &str, bucket: &str, variables: bool) -> Result<Template, String> {
    if r.chars().any(char::is_control) {
        return Err(format!("invalid resource {r:?}"));
    }
    let bare = match r.strip_prefix("arn:") {
        Some(_) => r.strip_prefix("arn:aws:s3:::").ok_or_else(|| {
            format!("invalid resource {r:?}: expected arn:aws:s3:::{bucket}[/key]")
        })?,
        None => r,
    };
    if bare.is_empty() {
        return Err(format!("invalid resource {r:?}: no bucket name"));
    }
    let t = Template::parse(bare, variables).map_err(|e| format!("{r:?}: {e}"))?;
    let glob = t.any_request_glob();
    let bucket_part = glob.split('/').next().unwrap_or("");
    if !glob_match(bucket_part, bucket) {
        return Err(format!(
            "Policy has invalid resource {r:?}: it must refer to bucket {bucket:?}"
        ));
    }
    Ok(t)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Bucket,
    Object,
    Global,
}

/// Which resource kind an S3 action is about (AWS's resource types).
fn action_scope(action: &str) -> Scope {
    let name = action.get(3..).unwrap_or("");
    let starts = |p: &str| {
        name.len() >= p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    if action.eq_ignore_ascii_case("s3:ListAllMyBuckets") {
        Scope::Global
    } else if starts("GetBucket")
        || starts("PutBucket")
        || starts("DeleteBucket")
        || starts("ListBucket")
    {
        Scope::Bucket
    } else if name.to_ascii_lowercase().contains("object")
        || [
            "AbortMultipartUpload",
            "ListMultipartUploadParts",
            "BypassGovernanceRetention",
        ]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(name))
    {
        Scope::Object
    } else {
        Scope::Bucket
    }
}

/// AWS's "Action does not apply to any resource(s) in statement": every action pattern
/// must name at least one known action whose resource kind some `Resource` can name.
fn check_applicability(
    actions: &[Box<str>],
    resources: &[Template],
    bucket: &str,
) -> Result<(), String> {
    let globs: Vec<String> = resources.iter().map(Template::any_request_glob).collect();
    let can_bucket = globs.iter().any(|g| glob_match(g, bucket));
    // Can name some `bucket/<key>`: a `/` whose bucket part matches (checked at parse),
    // or a wildcard that may span the `/`.
    let can_object = globs.iter().any(|g| g.contains('/') || has_wildcard(g));
    for a in actions {
        let applies = S3_ACTIONS
            .iter()
            .filter(|k| glob_match_lowered(a, k))
            .any(|k| match action_scope(k) {
                Scope::Bucket => can_bucket,
                Scope::Object => can_object,
                Scope::Global => false,
            });
        if !applies {
            let hint = match S3_ACTIONS
                .iter()
                .find(|k| glob_match_lowered(a, k))
                .map(|k| action_scope(k))
            {
                Some(Scope::Object) => format!(" (object actions need arn:aws:s3:::{bucket}/…)"),
                Some(Scope::Bucket) => format!(" (bucket actions need arn:aws:s3:::{bucket})"),
                _ => " (not a bucket or object action)".to_string(),
            };
            return Err(format!(
                "Action does not apply to any resource(s) in statement: {a}{hint}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(action_scope("s3:GetObject"), Scope::Object);
        assert_eq!(action_scope("s3:GetObjectTagging"), Scope::Object);
        assert_eq!(action_scope("s3:PutObject"), Scope::Object);
        assert_eq!(action_scope("s3:AbortMultipartUpload"), Scope::Object);
        assert_eq!(action_scope("s3:ListMultipartUploadParts"), Scope::Object);
        assert_eq!(action_scope("s3:ListBucket"), Scope::Bucket);
        assert_eq!(action_scope("s3:ListBucketMultipartUploads"), Scope::Bucket);
        assert_eq!(
            action_scope("s3:GetBucketObjectLockConfiguration"),
            Scope::Bucket
        );
        assert_eq!(action_scope("s3:GetLifecycleConfiguration"), Scope::Bucket);
        assert_eq!(action_scope("s3:DeleteBucket"), Scope::Bucket);
        assert_eq!(action_scope("s3:CreateBucket"), Scope::Bucket);
        assert_eq!(action_scope("s3:ListAllMyBuckets"), Scope::Global);
    }
}
