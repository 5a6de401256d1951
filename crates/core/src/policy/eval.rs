//! Org-layer decision rules (SPEC §3) shared by the naive reference evaluator and the
//! compiled index, plus the request/decision types.
//!
//! Order of the org layer, for one (subject, action, resource):
//! 1. An org admin asking for `cwobject:EnsureAccessPolicy|DeleteAccessPolicy|
//!    ListAccessPolicy` is allowed, whatever the policies say (no lock-out).
//! 2. The first matching `Deny` statement (policy order, then statement order) denies.
//! 3. Anonymous subjects are denied here (`layer: default`): org policies never grant
//!    anonymous access. Only `Deny` statements whose principal is `*` match them (step 2),
//!    and such a deny is explicit, so a later bucket policy cannot override it.
//! 4. An org admin asking for any other `cwobject:` action is allowed (`policy:
//!    "<org-admin>"`, no statement). Admins get no `s3:` permission from their role.
//! 5. The first matching `Allow` statement allows.
//! 6. Otherwise deny (`layer: default`).
//!
//! Bucket policies are a separate, later layer: [`Decision`] is the org decision, and
//! the bucket layer will be combined with it by a function that takes this `Decision`
//! (deny if `is_explicit_deny`, otherwise per SPEC §3 bullet 3). Nothing here reads
//! bucket policies.
//!
//! Global resource: control-plane actions and `s3:ListAllMyBuckets` are checked against
//! the resource `*`. Only resource patterns made of stars match it; a pattern such as
//! `?` or `logs-*` never does (no bucket is named `*`).

use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::glob::{glob_match, glob_match_ignore_ascii_case, is_all_stars};
use super::model::{AccessPolicy, Effect, Statement};
use super::validate::{ADMIN_UNDENIABLE_ACTIONS, Namespace, namespace_of};

/// The resource that global actions are checked against.
pub const GLOBAL_RESOURCE: &str = "*";

/// `decidedBy.policy` when an org admin's role, not a policy, allowed a `cwobject:` action.
/// Angle brackets make it impossible to confuse with a real policy name.
pub const ORG_ADMIN_POLICY: &str = "<org-admin>";

static ORG_ADMIN_POLICY_ARC: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(ORG_ADMIN_POLICY));

/// Who is asking. `principal` is ignored when `anonymous` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    pub principal: &'a str,
    pub is_org_admin: bool,
    pub anonymous: bool,
}

impl<'a> Subject<'a> {
    /// An authenticated, non-admin principal.
    pub fn principal(principal: &'a str) -> Self {
        Subject {
            principal,
            is_org_admin: false,
            anonymous: false,
        }
    }

    /// An authenticated org admin.
    pub fn org_admin(principal: &'a str) -> Self {
        Subject {
            principal,
            is_org_admin: true,
            anonymous: false,
        }
    }

    /// An unsigned request.
    pub fn anonymous() -> Self {
        Subject {
            principal: "",
            is_org_admin: false,
            anonymous: true,
        }
    }
}

/// Which layer produced a decision (`decidedBy.layer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Org,
    Bucket,
    /// An ACL grant (`coffer_core::acl`).
    Acl,
    Default,
}

/// Why a decision was made. Names are `Arc<str>` so that producing a decision from the
/// compiled index only bumps reference counts (no allocation on the hot path); on the
/// wire they are plain strings and are omitted when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecidedBy {
    pub layer: Layer,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_arc",
        deserialize_with = "de_opt_arc"
    )]
    pub policy: Option<Arc<str>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_arc",
        deserialize_with = "de_opt_arc"
    )]
    pub statement: Option<Arc<str>>,
}

fn ser_opt_arc<S: Serializer>(v: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    v.as_deref().serialize(s)
}

fn de_opt_arc<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<str>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Arc::from))
}

/// The outcome of one authorization question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub allowed: bool,
    pub decided_by: DecidedBy,
}

impl Decision {
    /// Deny because nothing allowed (`layer: default`).
    pub fn default_deny() -> Self {
        Decision {
            allowed: false,
            decided_by: DecidedBy {
                layer: Layer::Default,
                policy: None,
                statement: None,
            },
        }
    }

    /// Decided by a statement of an org policy.
    pub fn org_statement(effect: Effect, policy: Arc<str>, statement: Arc<str>) -> Self {
        Decision {
            allowed: effect == Effect::Allow,
            decided_by: DecidedBy {
                layer: Layer::Org,
                policy: Some(policy),
                statement: Some(statement),
            },
        }
    }

    /// Allowed by the org-admin role (see [`ORG_ADMIN_POLICY`]).
    pub fn org_admin() -> Self {
        Decision {
            allowed: true,
            decided_by: DecidedBy {
                layer: Layer::Org,
                policy: Some(ORG_ADMIN_POLICY_ARC.clone()),
                statement: None,
            },
        }
    }

    /// True if a `Deny` statement decided: no later layer may turn this into an allow.
    /// A `layer: default` deny is not explicit (the bucket layer may still allow an
    /// anonymous request).
    pub fn is_explicit_deny(&self) -> bool {
        !self.allowed && self.decided_by.layer != Layer::Default
    }
}

/// Resource match with the global-resource rule (module docs).
#[inline]
pub(crate) fn resource_matches(pattern: &str, resource: &str) -> bool {
    if resource == GLOBAL_RESOURCE {
        is_all_stars(pattern)
    } else {
        glob_match(pattern, resource)
    }
}

/// Principal match: whole-string, case-sensitive glob. An anonymous subject has no
/// principal and is matched only by the everyone pattern (`*`).
#[inline]
pub(crate) fn principal_matches(pattern: &str, subject: &Subject<'_>) -> bool {
    if subject.anonymous {
        is_all_stars(pattern)
    } else {
        glob_match(pattern, subject.principal)
    }
}

/// The rule skeleton of the module docs. `find_deny`/`find_allow` return the first
/// matching statement of that effect as (policy name, statement name); they are only
/// called when their answer can matter.
#[inline]
pub(crate) fn decide_with<D, A>(
    subject: &Subject<'_>,
    action: &str,
    find_deny: D,
    find_allow: A,
) -> Decision
where
    D: FnOnce() -> Option<(Arc<str>, Arc<str>)>,
    A: FnOnce() -> Option<(Arc<str>, Arc<str>)>,
{
    let admin_cwobject = subject.is_org_admin
        && !subject.anonymous
        && namespace_of(action) == Some(Namespace::Cwobject);
    if admin_cwobject
        && ADMIN_UNDENIABLE_ACTIONS
            .iter()
            .any(|a| a.eq_ignore_ascii_case(action))
    {
        return Decision::org_admin();
    }
    if let Some((p, s)) = find_deny() {
        return Decision::org_statement(Effect::Deny, p, s);
    }
    if subject.anonymous {
        return Decision::default_deny();
    }
    if admin_cwobject {
        return Decision::org_admin();
    }
    if let Some((p, s)) = find_allow() {
        return Decision::org_statement(Effect::Allow, p, s);
    }
    Decision::default_deny()
}

/// True if `s` applies to the request (effect not considered).
pub fn statement_matches(
    s: &Statement,
    subject: &Subject<'_>,
    action: &str,
    resource: &str,
) -> bool {
    s.actions
        .iter()
        .any(|a| glob_match_ignore_ascii_case(a, action))
        && s.resources.iter().any(|r| resource_matches(r, resource))
        && s.principals.iter().any(|p| principal_matches(p, subject))
}

/// Reference evaluator: scans every statement in order. Slow (allocates the names of the
/// deciding statement, O(all statements)) but obviously correct; tests check the
/// compiled index against it. Callers should pass policies in a stable order (the
/// store's, by name) because "first matching statement" names the decider.
pub fn evaluate_naive(
    policies: &[AccessPolicy],
    subject: &Subject<'_>,
    action: &str,
    resource: &str,
) -> Decision {
    let first = |effect: Effect| {
        policies.iter().find_map(|p| {
            p.statements
                .iter()
                .find(|s| s.effect == effect && statement_matches(s, subject, action, resource))
                .map(|s| (Arc::from(p.name.as_str()), Arc::from(s.name.as_str())))
        })
    };
    decide_with(
        subject,
        action,
        || first(Effect::Deny),
        || first(Effect::Allow),
    )
}
