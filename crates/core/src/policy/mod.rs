//! Org access policies (SPEC §2 `AccessPolicy`, §3 authorization, org layer).
//!
//! This module owns: the policy document model and its JSON form (`model`), validation
//! and the action vocabulary (`validate`), the glob matcher (`glob`), the org-layer rules
//! and decision types with a naive reference evaluator (`eval`), the compiled per-org
//! index (`compiled`) and the atomically swapped all-orgs [`PolicyEngine`] (`engine`).
//!
//! It does not own: storing policies (the `MetaStore`), bucket policies (a later layer
//! combined with the org [`Decision`], see `eval`), or mapping S3 operations to actions.
//!
//! Matching rules: actions are case-insensitive globs; resources (`bucket`, `bucket/key`)
//! and principals are case-sensitive whole-string globs; `*` matches any characters
//! including `/`, `?` exactly one character.

mod compiled;
mod engine;
mod eval;
pub mod glob;
mod model;
mod validate;

pub use compiled::CompiledPolicies;
pub use engine::PolicyEngine;
pub use eval::{
    DecidedBy, Decision, GLOBAL_RESOURCE, Layer, ORG_ADMIN_POLICY, Subject, evaluate_naive,
    statement_matches,
};
pub use model::{
    AccessPolicy, Effect, RawAccessPolicy, RawStatement, Statement, parse_policy_json,
};
pub use validate::{
    ADMIN_UNDENIABLE_ACTIONS, CWOBJECT_ACTIONS, GLOBAL_S3_ACTIONS, MAX_LIST_ENTRIES,
    MAX_NAME_CHARS, MAX_RESOURCE_CHARS, MAX_STATEMENTS, MAX_STRING_CHARS, POLICY_VERSION,
    PolicyError, S3_ACTIONS, is_global_action, validate,
};
