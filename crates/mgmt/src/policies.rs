//! Org access-policy RPCs (ListAccessPolicies, EnsureAccessPolicy, DeleteAccessPolicy)
//! and AuthCanI. Storage and index publication belong to `PolicyService`.

use crate::audit::AuditSlot;
use crate::auth::{Authenticated, Authorized, action};
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, truncate};
use crate::wire;
use axum::Json;
use coffer_api as api;
use coffer_core::ids::validate_bucket_name;
use coffer_core::model::{Bucket, ObjectRecord};
use coffer_core::policy::{
    AccessPolicy, BucketPolicyState, BucketTarget, GLOBAL_RESOURCE, ObjectFacts, RequestContext,
    explain_bucket_record, is_global_action, wants_object_facts,
};
use std::collections::HashMap;

type Res<T> = Result<Json<T>, ApiError>;

/// Most (action × resource) pairs one AuthCanI call may ask about.
pub const MAX_CAN_I_PAIRS: usize = 1000;

pub async fn list_access_policies(
    auth: Authorized<action::ListAccessPolicy>,
) -> Res<api::ListAccessPoliciesResponse> {
    let policies = auth.state().policies.list(&auth.caller().org_id).await?;
    Ok(Json(api::ListAccessPoliciesResponse {
        policies: policies.into_iter().map(wire::policy_to_wire).collect(),
    }))
}

pub async fn ensure_access_policy(
    auth: Authorized<action::EnsureAccessPolicy>,
    slot: AuditSlot,
    JsonBody(req): JsonBody<api::EnsureAccessPolicyRequest>,
) -> Res<api::EnsureAccessPolicyResponse> {
    let raw = req
        .policy
        .ok_or_else(|| ApiError::invalid("policy is required"))?;
    slot.set_identifier(&raw.name);
    // Validates (errors name the statement) before anything is stored.
    let policy = AccessPolicy::try_from(wire::policy_from_wire(raw))?;
    auth.state()
        .policies
        .ensure(&auth.caller().org_id, policy)
        .await?;
    Ok(Json(api::Empty {}))
}

pub async fn delete_access_policy(
    auth: Authorized<action::DeleteAccessPolicy>,
    slot: AuditSlot,
    PathParam(name): PathParam,
) -> Res<api::DeleteAccessPolicyResponse> {
    slot.set_identifier(&name);
    auth.state()
        .policies
        .delete(&auth.caller().org_id, &name)
        .await
        .map_err(|e| match e {
            coffer_core::Error::NotFound(_) => {
                ApiError::not_found(format!("access policy {:?} not found", truncate(&name)))
            }
            other => other.into(),
        })?;
    Ok(Json(api::Empty {}))
}

/// Answers for the caller, so no action is checked: anyone may ask what they may do.
/// Resources default to `["*"]` (the resource of global actions).
///
/// Each pair is decided by the one combined evaluator the S3 gateway uses, as explained
/// to the caller ([`explain_bucket_record`]: a layer of another org is named by `layer`
/// alone) with the caller's context (org, principal, admin flag,
/// current time): when an `s3:` action that is about an existing bucket (not a global
/// action, not `s3:CreateBucket`, exactly as the S3 action table treats them) names a
/// bucket (`bucket` or `bucket/key`), that bucket's record is read once per call, so its
/// bucket policy and the cross-org rules apply. Condition keys that only an S3 request
/// carries (`aws:SourceIp`, `aws:SecureTransport`, `s3:prefix`, …) are absent, as
/// `…IfExists`/`Null` conditions see them. Decisions never touch the database; the
/// bucket reads happen before any is made.
pub async fn auth_can_i(
    auth: Authenticated,
    JsonBody(req): JsonBody<api::AuthCanIRequest>,
) -> Res<api::AuthCanIResponse> {
    if req.actions.is_empty() {
        return Err(ApiError::invalid("actions must not be empty"));
    }
    if let Some(i) = req.actions.iter().position(|a| a.trim().is_empty()) {
        return Err(ApiError::invalid(format!("actions[{i}] must not be empty")));
    }
    let resources = if req.resources.is_empty() {
        vec![GLOBAL_RESOURCE.to_string()]
    } else {
        req.resources
    };
    if let Some(i) = resources.iter().position(|r| r.is_empty()) {
        return Err(ApiError::invalid(format!(
            "resources[{i}] must not be empty"
        )));
    }
    if req.actions.len().saturating_mul(resources.len()) > MAX_CAN_I_PAIRS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_CAN_I_PAIRS} action/resource pairs may be asked at once"
        )));
    }
    let state = &auth.state;
    let c = &auth.caller;
    let ctx =
        RequestContext::for_principal(&c.org_id, &c.principal, c.is_admin(), state.identity.now());
    // The bucket records the pairs need, each read once (≤ MAX_CAN_I_PAIRS reads).
    let mut buckets: HashMap<&str, Option<Bucket>> = HashMap::new();
    if req.actions.iter().any(|a| targets_bucket(a)) {
        for r in &resources {
            let Some(name) = bucket_of(r) else { continue };
            if buckets.contains_key(name) {
                continue;
            }
            let record = match state.objects.get_bucket(name).await {
                Ok(b) => Some(b),
                Err(coffer_core::Error::NoSuchBucket | coffer_core::Error::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            buckets.insert(name, record);
        }
    }
    // The objects whose ACL could grant a pair (ACLs enabled on the bucket, an object
    // permission maps to the action), each read once (≤ MAX_CAN_I_PAIRS reads).
    let bucket_for = |a: &str, r: &str| {
        bucket_of(r)
            .filter(|_| targets_bucket(a))
            .and_then(|name| buckets.get(name))
            .and_then(Option::as_ref)
    };
    let mut objects: HashMap<&str, Option<ObjectRecord>> = HashMap::new();
    for a in &req.actions {
        for r in &resources {
            let Some(b) = bucket_for(a, r) else { continue };
            if objects.contains_key(r.as_str())
                || !wants_object_facts(a, r, &BucketTarget::of(b, BucketPolicyState::Absent))
            {
                continue;
            }
            let Some((_, key)) = r.split_once('/') else {
                continue;
            };
            // A key that cannot exist (empty, too long, a malformed name) is missing, like
            // one that does not; only a failing store fails the call.
            let record = match state.objects.object_record(&b.name, key, None).await {
                Ok(o) => Some(o),
                Err(
                    e @ (coffer_core::Error::Internal(_)
                    | coffer_core::Error::Corrupted(_)
                    | coffer_core::Error::Unavailable(_)),
                ) => return Err(e.into()),
                Err(_) => None,
            };
            objects.insert(r, record);
        }
    }
    let mut decisions = Vec::with_capacity(req.actions.len() * resources.len());
    for a in &req.actions {
        for r in &resources {
            let bucket = bucket_for(a, r);
            let object = match objects.get(r.as_str()) {
                Some(o) => ObjectFacts::of(o.as_ref()),
                None => ObjectFacts::Unknown,
            };
            let d = explain_bucket_record(&state.engine, &ctx, a, r, bucket, object);
            decisions.push(wire::decision(a, r, &d));
        }
    }
    Ok(Json(api::AuthCanIResponse {
        verdict: decisions.iter().all(|d| d.allowed),
        decisions,
    }))
}

/// True for the actions whose bucket layer applies: `s3:` actions about an existing
/// bucket (the S3 action table's `owner_check` rows), i.e. not the global ones and not
/// `s3:CreateBucket`. `cwobject:` actions are judged by the org layer alone.
fn targets_bucket(action: &str) -> bool {
    action
        .get(..3)
        .is_some_and(|ns| ns.eq_ignore_ascii_case("s3:"))
        && !is_global_action(action)
        && !action.eq_ignore_ascii_case("s3:CreateBucket")
}

/// The bucket a resource names (`bucket` or `bucket/key`), if it can be a bucket name
/// at all (globs such as `logs-*` and the global `*` name no bucket).
fn bucket_of(resource: &str) -> Option<&str> {
    let name = resource.split('/').next().unwrap_or("");
    validate_bucket_name(name, true).is_ok().then_some(name)
}
