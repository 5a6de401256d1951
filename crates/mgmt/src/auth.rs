//! Authentication and authorization extractors: the only way a handler obtains a
//! verified caller (DESIGN habit 3).
//!
//! * [`Authenticated`] — `Authorization: Bearer CW-SECRET-…` resolved by
//!   `IdentityService::authenticate_token`. Missing, malformed, unknown or expired →
//!   Unauthenticated (16/401); the operator token is not an org identity → 7/403.
//! * [`Authorized<A>`] — additionally asks the `PolicyEngine` whether the caller may
//!   perform the RPC's static action `A::NAME` on resource `*` (7/403 naming the action).
//!   RPCs whose action depends on the body (settings) take `Authenticated` and call
//!   [`Authenticated::authorize`] per flag after parsing.
//! * [`IamActor`] / [`AnyActor`] — `/v1/iam`: an org admin of its own org, or the
//!   operator token (any org).
//!
//! Each records the verified caller in the request's [`AuditSlot`] (audit events name
//! the principal even of a call that is then denied).
//!
//! Extractors run before the body is read, so an unauthenticated or unauthorized request
//! is rejected before its body is parsed. A verified request carries [`Verified`]; only
//! such requests may send bodies beyond [`crate::extract::MAX_ANONYMOUS_BODY_BYTES`].

use crate::AppState;
use crate::audit::AuditSlot;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use coffer_core::identity::{Caller, ct_eq, hash_token};
use coffer_core::policy::{Layer, Subject};
use http::header::AUTHORIZATION;
use http::request::Parts;
use std::marker::PhantomData;

/// Request extension: the actor the request's bearer token verified as. Only
/// [`verify`] inserts it; the extractors reuse it rather than look the token up again
/// (Connect verifies before it reads the body, then hands it to the REST request).
#[derive(Clone)]
pub struct Verified(pub AnyActor);

impl Verified {
    /// Whose share of the byte budget the request's body is counted against
    /// (`coffer_core::budget`): the user's org, or the operator.
    pub fn budget_owner(&self) -> &str {
        match &self.0 {
            AnyActor::Operator => "-operator",
            AnyActor::User(c) => &c.org_id,
        }
    }
}

/// The actor of the request's bearer token: the operator, or an org user (recorded in
/// the audit slot). The one place a token is verified.
pub async fn verify(parts: &mut Parts, state: &AppState) -> Result<AnyActor, ApiError> {
    if let Some(v) = parts.extensions.get::<Verified>() {
        return Ok(v.0.clone());
    }
    let token = bearer(parts)?;
    let actor = if is_operator(state, token) {
        AnyActor::Operator
    } else {
        let caller = state.identity.authenticate_token(token).await?;
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            slot.set_caller(&caller);
        }
        AnyActor::User(caller)
    };
    parts.extensions.insert(Verified(actor.clone()));
    Ok(actor)
}

/// Token from `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || ApiError::unauthenticated("missing Authorization: Bearer <API token> header");
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

fn is_operator(state: &AppState, token: &str) -> bool {
    state
        .operator_token_hash
        .as_deref()
        .is_some_and(|h| ct_eq(&hash_token(token), h))
}

/// An authenticated org user.
pub struct Authenticated {
    pub caller: Caller,
    pub state: AppState,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match verify(parts, state).await? {
            AnyActor::Operator => Err(ApiError::denied(
                "the operator token has no org identity; use an org user's API token",
            )),
            AnyActor::User(caller) => Ok(Authenticated {
                caller,
                state: state.clone(),
            }),
        }
    }
}

impl Authenticated {
    fn subject(&self) -> Subject<'_> {
        Subject {
            principal: &self.caller.principal,
            is_org_admin: self.caller.is_admin(),
            anonymous: false,
        }
    }

    /// The org-layer decision for the caller doing `action` on `*`; PermissionDenied
    /// naming the action (and the deciding statement of an explicit deny) otherwise.
    pub fn authorize(&self, action: &str) -> Result<(), ApiError> {
        let d = self
            .state
            .engine
            .decide(&self.caller.org_id, &self.subject(), action, "*");
        if d.allowed {
            return Ok(());
        }
        let why = match (
            d.decided_by.layer,
            &d.decided_by.policy,
            &d.decided_by.statement,
        ) {
            (Layer::Default, _, _) => "no org access policy allows it".to_string(),
            (_, Some(p), Some(s)) => format!("denied by statement {s:?} of policy {p:?}"),
            (_, Some(p), None) => format!("denied by policy {p:?}"),
            _ => "denied".to_string(),
        };
        Err(ApiError::denied(format!(
            "{} may not perform {action}: {why}",
            self.caller.principal
        )))
    }
}

/// A `/v1/cwobject` action checked before the handler runs (see [`Authorized`]).
pub trait Action: Send + Sync + 'static {
    const NAME: &'static str;
}

/// An authenticated caller allowed to perform `A::NAME` on `*`.
pub struct Authorized<A: Action> {
    pub auth: Authenticated,
    _action: PhantomData<A>,
}

impl<A: Action> Authorized<A> {
    pub fn caller(&self) -> &Caller {
        &self.auth.caller
    }
    pub fn state(&self) -> &AppState {
        &self.auth.state
    }
}

impl<A: Action> FromRequestParts<AppState> for Authorized<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        auth.authorize(A::NAME)?;
        Ok(Authorized {
            auth,
            _action: PhantomData,
        })
    }
}

macro_rules! actions {
    ($($(#[$m:meta])* $ty:ident => $name:literal,)*) => {
        /// Marker types of the static actions (SPEC §2 table).
        pub mod action {
            $(
                $(#[$m])*
                pub struct $ty;
                impl super::Action for $ty {
                    const NAME: &'static str = $name;
                }
            )*
            /// Every action name the API checks, for tests against the policy vocabulary.
            pub const ALL: &[&str] = &[$($name),*];
        }
    };
}

actions! {
    CreateAccessKey => "cwobject:CreateAccessKey",
    ListAccessKeyInfo => "cwobject:ListAccessKeyInfo",
    UpdateAccessKeyStatus => "cwobject:UpdateAccessKeyStatus",
    RevokeAccessKeyByAccessKey => "cwobject:RevokeAccessKeyByAccessKey",
    RevokeAccessKeysByPrincipal => "cwobject:RevokeAccessKeysByPrincipal",
    ListAccessPolicy => "cwobject:ListAccessPolicy",
    EnsureAccessPolicy => "cwobject:EnsureAccessPolicy",
    DeleteAccessPolicy => "cwobject:DeleteAccessPolicy",
    ListBucketInfo => "cwobject:ListBucketInfo",
    EnableBucketAuditLogging => "cwobject:EnableBucketAuditLogging",
    DisableBucketAuditLogging => "cwobject:DisableBucketAuditLogging",
    /// Not in the reference's list: the reference has no capacity caps. Checked when
    /// `capacityCapBytes` or `clearCapacityCap` is sent, so a cap is not a free-for-all.
    SetBucketCapacityCap => "cwobject:SetBucketCapacityCap",
    EnableControlPlaneAuditLogging => "cwobject:EnableControlPlaneAuditLogging",
    DisableControlPlaneAuditLogging => "cwobject:DisableControlPlaneAuditLogging",
    EnableBucketAuditLoggingDefault => "cwobject:EnableBucketAuditLoggingDefault",
    DisableBucketAuditLoggingDefault => "cwobject:DisableBucketAuditLoggingDefault",
}

/// Who may use `/v1/iam` management endpoints.
pub enum IamActor {
    /// The server-wide operator token: any org, `orgId` must be given.
    Operator,
    /// An org admin: its own org only.
    Admin(Caller),
}

impl IamActor {
    /// The org an IAM call acts on: the operator names it; an admin may omit it or name
    /// its own org.
    pub fn target_org(&self, requested: Option<&str>) -> Result<String, ApiError> {
        let requested = requested.filter(|o| !o.is_empty());
        match (self, requested) {
            (IamActor::Operator, Some(o)) => Ok(o.to_string()),
            (IamActor::Operator, None) => Err(ApiError::invalid(
                "orgId is required when using the operator token",
            )),
            (IamActor::Admin(c), None) => Ok(c.org_id.clone()),
            (IamActor::Admin(c), Some(o)) if o == c.org_id => Ok(o.to_string()),
            (IamActor::Admin(_), Some(_)) => Err(ApiError::denied(
                "org admins can only manage their own organization",
            )),
        }
    }

    /// True if the actor may act on resources of `org_id`.
    pub fn can_act_on(&self, org_id: &str) -> bool {
        match self {
            IamActor::Operator => true,
            IamActor::Admin(c) => c.org_id == org_id,
        }
    }
}

/// The actor of any `/v1/iam` request: operator, or any authenticated org user.
#[derive(Clone)]
pub enum AnyActor {
    Operator,
    User(Caller),
}

impl FromRequestParts<AppState> for AnyActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        verify(parts, state).await
    }
}

impl FromRequestParts<AppState> for IamActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match AnyActor::from_request_parts(parts, state).await? {
            AnyActor::Operator => Ok(IamActor::Operator),
            AnyActor::User(c) if c.is_admin() => Ok(IamActor::Admin(c)),
            AnyActor::User(_) => Err(ApiError::denied(
                "identity management requires an org admin's API token or the operator token",
            )),
        }
    }
}

/// The operator token alone (organizations, compute-node caches).
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match AnyActor::from_request_parts(parts, state).await? {
            AnyActor::Operator => Ok(Operator),
            AnyActor::User(_) => Err(ApiError::denied(
                "only the operator token may create organizations or manage cache nodes",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every checked action is in the policy vocabulary, except the documented extension.
    #[test]
    fn actions_are_known_to_the_policy_vocabulary() {
        for a in action::ALL {
            let known = coffer_core::policy::CWOBJECT_ACTIONS.contains(a);
            assert!(known || *a == "cwobject:SetBucketCapacityCap", "{a}");
        }
    }
}
