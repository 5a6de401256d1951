//! Org access-policy RPCs (ListAccessPolicies, EnsureAccessPolicy, DeleteAccessPolicy)
//! and AuthCanI. Storage and index publication belong to `PolicyService`.

use crate::auth::{Authenticated, Authorized, action};
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, truncate};
use crate::wire;
use axum::Json;
use coffer_api as api;
use coffer_core::policy::{AccessPolicy, GLOBAL_RESOURCE, Subject};

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
    JsonBody(req): JsonBody<api::EnsureAccessPolicyRequest>,
) -> Res<api::EnsureAccessPolicyResponse> {
    let raw = req
        .policy
        .ok_or_else(|| ApiError::invalid("policy is required"))?;
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
    PathParam(name): PathParam,
) -> Res<api::DeleteAccessPolicyResponse> {
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
/// Resources default to `["*"]` (the resource of global actions). Decisions come from
/// the org layer; bucket policies are not consulted (see the crate report).
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
    let c = &auth.caller;
    let subject = Subject {
        principal: &c.principal,
        is_org_admin: c.is_admin(),
        anonymous: false,
    };
    // One snapshot of the org's index answers every pair consistently.
    let compiled = auth.state.engine.org(&c.org_id);
    let mut decisions = Vec::with_capacity(req.actions.len() * resources.len());
    for a in &req.actions {
        for r in &resources {
            let d = match &compiled {
                Some(idx) => idx.decide(&subject, a, r),
                None => auth.state.engine.decide(&c.org_id, &subject, a, r),
            };
            decisions.push(wire::decision(a, r, &d));
        }
    }
    Ok(Json(api::AuthCanIResponse {
        verdict: decisions.iter().all(|d| d.allowed),
        decisions,
    }))
}
