//! Authorization (SPEC §2 `AccessPolicy`, §3): org access policies, bucket policies and
//! the one function that combines them.
//!
//! This module owns: the org policy document model and its JSON form (`model`),
//! validation and the action vocabulary (`validate`), the glob matcher (`glob`), the
//! org-layer rules and decision types with a naive reference evaluator (`eval`), the
//! compiled per-org index (`compiled`), the atomically swapped all-orgs [`PolicyEngine`]
//! with its cache of compiled bucket policies (`engine`), the bucket-policy language
//! (`bucket`, `condition`, `pattern`), the request context conditions read (`context`),
//! the combined decision [`authorize`] (`authorize`), and [`BucketPolicyService`], the
//! writer of bucket policies (`bucket_service`).
//!
//! It does not own: storing org policies (`crate::policy_service` and the `MetaStore`),
//! mapping S3 operations to actions (the S3 gateway's action table), or building the
//! request context from a wire request (each protocol layer does that).
//!
//! Matching rules: actions are case-insensitive globs; resources (`bucket`, `bucket/key`)
//! and principals are case-sensitive whole-string globs; `*` matches any characters
//! including `/`, `?` exactly one character.

mod authorize;
mod bucket;
mod bucket_service;
mod compiled;
mod condition;
mod context;
mod engine;
mod eval;
pub mod glob;
mod model;
mod pattern;
mod validate;

pub use authorize::{
    AclFacts, BucketPolicyState, BucketTarget, ObjectFacts, RESTRICT_PUBLIC_BUCKETS, authorize,
    authorize_bucket_record, explain_bucket_record, is_statement_deny, wants_object_facts,
};
pub use bucket::{
    BUCKET_POLICY_VERSION, BUCKET_POLICY_VERSION_2008, BucketPolicy, BucketPolicyError,
    BucketVerdict, MAX_BUCKET_POLICY_BYTES, ORG_ONLY_ACTIONS, is_org_only_action,
    is_principal_name,
};
pub use bucket_service::{BucketPolicyService, PutBucketPolicyError, owned_by};
pub use compiled::CompiledPolicies;
pub use condition::Cidr;
pub use context::{ContextKey, ContextValue, RequestContext, RequestPrincipal};
pub use engine::{MAX_CACHED_BUCKET_POLICIES, PolicyEngine};
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
