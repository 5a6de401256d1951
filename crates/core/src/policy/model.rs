//! The org access-policy document (SPEC §2 `AccessPolicy`) in two forms:
//!
//! * [`AccessPolicy`] — the typed, stored form. Serializes exactly as the list API returns
//!   it (`version`, `name`, `statements[{name, effect, actions, resources, principals}]`).
//! * [`RawAccessPolicy`] — the lenient request form: every field defaults when absent and
//!   `effect` is a plain string, so that a wrong effect or a missing list becomes a
//!   validation error naming the statement instead of an opaque serde error.
//!
//! Unknown JSON fields are ignored by both (proto3 JSON semantics).

use serde::{Deserialize, Serialize};

use super::validate::{PolicyError, check_effect, validate};

/// Statement effect. Serialized exactly as `"Allow"` / `"Deny"` (case-sensitive on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// One org access policy. Names are unique per org; `EnsureAccessPolicy` replaces the
/// whole document with the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicy {
    pub version: String,
    pub name: String,
    pub statements: Vec<Statement>,
}

/// One statement. Each list is OR-ed internally; the three lists are AND-ed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    pub name: String,
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub principals: Vec<String>,
}

/// Lenient request form of [`AccessPolicy`]; convert with [`AccessPolicy::try_from`] (or
/// [`parse_policy_json`]), which validates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawAccessPolicy {
    pub version: String,
    pub name: String,
    pub statements: Vec<RawStatement>,
}

/// Lenient request form of [`Statement`]: `effect` is any string, checked by validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawStatement {
    pub name: String,
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub principals: Vec<String>,
}

impl TryFrom<RawAccessPolicy> for AccessPolicy {
    type Error = PolicyError;

    /// Converts and validates. Effects are checked first, in statement order, because
    /// they are the only thing the typed form cannot represent; then [`validate`] runs.
    fn try_from(raw: RawAccessPolicy) -> Result<Self, PolicyError> {
        let mut statements = Vec::with_capacity(raw.statements.len());
        for (index, s) in raw.statements.into_iter().enumerate() {
            let effect = check_effect(index, &s.name, &s.effect)?;
            statements.push(Statement {
                name: s.name,
                effect,
                actions: s.actions,
                resources: s.resources,
                principals: s.principals,
            });
        }
        let policy = AccessPolicy {
            version: raw.version,
            name: raw.name,
            statements,
        };
        validate(&policy)?;
        Ok(policy)
    }
}

impl From<AccessPolicy> for RawAccessPolicy {
    fn from(p: AccessPolicy) -> Self {
        RawAccessPolicy {
            version: p.version,
            name: p.name,
            statements: p
                .statements
                .into_iter()
                .map(|s| RawStatement {
                    name: s.name,
                    effect: s.effect.as_str().to_owned(),
                    actions: s.actions,
                    resources: s.resources,
                    principals: s.principals,
                })
                .collect(),
        }
    }
}

/// Parses a request's policy JSON (the value of `"policy"`) leniently and validates it.
/// Syntax and type errors become [`PolicyError::Malformed`].
pub fn parse_policy_json(json: &str) -> Result<AccessPolicy, PolicyError> {
    let raw: RawAccessPolicy =
        serde_json::from_str(json).map_err(|e| PolicyError::Malformed(e.to_string()))?;
    AccessPolicy::try_from(raw)
}
