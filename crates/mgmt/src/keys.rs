//! Access-key RPCs: CreateAccessKeyFromJWT, ListAccessKeyInfo, GetAccessKeyInfo,
//! UpdateAccessKeyStatus, RevokeAccessKeyByAccessKey, RevokeAccessKeysByPrincipal.
//!
//! Every lookup is scoped to the caller's org: a key of another org is reported exactly
//! like an absent one (NotFound), so ids of other orgs cannot be probed. Every state
//! change goes through `IdentityService`, which drops the key from the S3 key cache.

use crate::auth::{Authorized, action};
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, QueryParams, truncate};
use crate::wire;
use axum::Json;
use coffer_api as api;
use coffer_core::model::{KeySource, KeyState, KeyStatus};

type Res<T> = Result<Json<T>, ApiError>;

pub async fn create_access_key_from_jwt(
    auth: Authorized<action::CreateAccessKey>,
    JsonBody(req): JsonBody<api::CreateAccessKeyFromJwtRequest>,
) -> Res<api::CreateAccessKeyFromJwtResponse> {
    let duration = req
        .duration_seconds
        .ok_or_else(|| ApiError::invalid("durationSeconds is required (0 = permanent key)"))?;
    let c = auth.caller();
    // Range and attribute rules are enforced by IdentityService (one place for every
    // key-creating path).
    let (key, secret) = auth
        .state()
        .identity
        .create_access_key(
            &c.org_id,
            &c.principal,
            Some(&c.uid),
            duration,
            req.attributes,
            KeySource::ApiToken,
        )
        .await?;
    Ok(Json(api::CreateAccessKeyFromJwtResponse {
        expiry: wire::key_expiry(key.expiry),
        access_key_id: key.access_key_id,
        secret_key: secret,
        principal_name: key.principal,
        attributes: key.attributes,
    }))
}

/// `status` filter values: the proto enum names and their short forms.
fn parse_status_filter(s: &str) -> Result<Option<KeyStatus>, ApiError> {
    match s {
        "ACCESS_KEY_STATUS_UNSPECIFIED" => Ok(None),
        "ACCESS_KEY_STATUS_ACTIVE" | "ACTIVE" => Ok(Some(KeyStatus::Active)),
        "ACCESS_KEY_STATUS_SUSPENDED" | "SUSPENDED" => Ok(Some(KeyStatus::FullSuspended)),
        other => Err(ApiError::invalid(format!(
            "status must be ACCESS_KEY_STATUS_ACTIVE or ACCESS_KEY_STATUS_SUSPENDED, got {:?}",
            truncate(other)
        ))),
    }
}

/// Target state of UpdateAccessKeyStatus.
fn parse_target_state(s: &str) -> Result<KeyState, ApiError> {
    match s {
        "ACCESS_KEY_STATUS_ACTIVE" | "ACTIVE" => Ok(KeyState::Active),
        "ACCESS_KEY_STATUS_SUSPENDED" | "SUSPENDED" => Ok(KeyState::Suspended),
        "" => Err(ApiError::invalid("status is required")),
        other => Err(ApiError::invalid(format!(
            "status must be ACCESS_KEY_STATUS_ACTIVE or ACCESS_KEY_STATUS_SUSPENDED, got {:?}",
            truncate(other)
        ))),
    }
}

pub async fn list_access_key_info(
    auth: Authorized<action::ListAccessKeyInfo>,
    q: QueryParams,
) -> Res<api::ListAccessKeyInfoResponse> {
    let (offset, limit) = q.page()?;
    let filter = q
        .str("status")
        .map(parse_status_filter)
        .transpose()?
        .flatten();
    let state = auth.state();
    let now = state.identity.now();
    let keys = state.meta.list_access_keys(&auth.caller().org_id).await?;
    let info = keys
        .iter()
        .filter(|k| filter.is_none_or(|f| k.status(now) == f))
        .skip(offset)
        .take(limit)
        .map(|k| wire::access_key_info(k, now))
        .collect();
    Ok(Json(api::ListAccessKeyInfoResponse { info }))
}

pub async fn get_access_key_info(
    auth: Authorized<action::ListAccessKeyInfo>,
    PathParam(id): PathParam,
) -> Res<api::GetAccessKeyInfoResponse> {
    let state = auth.state();
    let key = state
        .meta
        .get_access_key(&id)
        .await?
        .filter(|k| k.org_id == auth.caller().org_id)
        .ok_or_else(|| ApiError::not_found(format!("access key {:?} not found", truncate(&id))))?;
    Ok(Json(api::GetAccessKeyInfoResponse {
        info: wire::access_key_info(&key, state.identity.now()),
    }))
}

fn require_principal(p: &str) -> Result<(), ApiError> {
    if p.trim().is_empty() {
        return Err(ApiError::invalid("principalName is required"));
    }
    Ok(())
}

/// Applies to every non-deleted key of the principal in the caller's org. A principal
/// without keys is not an error (the call is idempotent, like a revoke).
pub async fn update_access_key_status(
    auth: Authorized<action::UpdateAccessKeyStatus>,
    JsonBody(req): JsonBody<api::UpdateAccessKeyStatusRequest>,
) -> Res<api::UpdateAccessKeyStatusResponse> {
    require_principal(&req.principal_name)?;
    let state_to = parse_target_state(&req.status)?;
    auth.state()
        .identity
        .set_principal_state(&auth.caller().org_id, &req.principal_name, state_to)
        .await?;
    Ok(Json(api::Empty {}))
}

/// Sets the key `Deleted` (it stays listed as `DELETED`); revoking a revoked key is a
/// no-op success, an unknown key (or another org's) is NotFound.
pub async fn revoke_access_key_by_access_key(
    auth: Authorized<action::RevokeAccessKeyByAccessKey>,
    JsonBody(req): JsonBody<api::RevokeAccessKeyByAccessKeyRequest>,
) -> Res<api::RevokeAccessKeyByAccessKeyResponse> {
    let id = req.access_key;
    if id.is_empty() {
        return Err(ApiError::invalid("accessKey is required"));
    }
    let state = auth.state();
    state
        .meta
        .get_access_key(&id)
        .await?
        .filter(|k| k.org_id == auth.caller().org_id)
        .ok_or_else(|| ApiError::not_found(format!("access key {:?} not found", truncate(&id))))?;
    state.identity.set_key_state(&id, KeyState::Deleted).await?;
    Ok(Json(api::Empty {}))
}

pub async fn revoke_access_keys_by_principal(
    auth: Authorized<action::RevokeAccessKeysByPrincipal>,
    JsonBody(req): JsonBody<api::RevokeAccessKeysByPrincipalRequest>,
) -> Res<api::RevokeAccessKeysByPrincipalResponse> {
    require_principal(&req.principal_name)?;
    auth.state()
        .identity
        .set_principal_state(
            &auth.caller().org_id,
            &req.principal_name,
            KeyState::Deleted,
        )
        .await?;
    Ok(Json(api::Empty {}))
}

/// Temporary-credential exchanges (federation) are not built yet.
pub async fn not_implemented() -> ApiError {
    ApiError::Domain(coffer_core::Error::Unimplemented(
        "temporary credentials are not implemented yet".into(),
    ))
}

/// CreateAccessKeyFromApiToken is not built yet either, but its credentials and action
/// are already checked, so clients see the documented 401/403 before the 501.
pub async fn api_token_exchange_not_implemented(
    _auth: Authorized<action::CreateAccessKey>,
) -> ApiError {
    not_implemented().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values() {
        assert_eq!(
            parse_status_filter("ACTIVE").unwrap(),
            Some(KeyStatus::Active)
        );
        assert_eq!(
            parse_status_filter("ACCESS_KEY_STATUS_SUSPENDED").unwrap(),
            Some(KeyStatus::FullSuspended)
        );
        assert!(parse_status_filter("DELETED").is_err());
        assert_eq!(
            parse_target_state("SUSPENDED").unwrap(),
            KeyState::Suspended
        );
        assert!(parse_target_state("ACCESS_KEY_STATUS_DELETED").is_err());
    }
}
