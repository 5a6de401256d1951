//! Access-key RPCs: CreateAccessKeyFromJWT, ListAccessKeyInfo, GetAccessKeyInfo,
//! UpdateAccessKeyStatus, RevokeAccessKeyByAccessKey, RevokeAccessKeysByPrincipal, and
//! the temporary-credential exchanges (API token, SAML, OIDC, OIDC container credentials).
//!
//! Every lookup is scoped to the caller's org: a key of another org is reported exactly
//! like an absent one (NotFound), so ids of other orgs cannot be probed. Every state
//! change goes through `IdentityService`, which drops the key from the S3 key cache.

use crate::AppState;
use crate::audit::AuditSlot;
use crate::auth::{Authorized, action};
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, QueryParams, truncate};
use crate::wire;
use axum::Json;
use axum::extract::State;
use coffer_api as api;
use coffer_core::federation::FederationService;
use coffer_core::identity::DEFAULT_TEMP_KEY_SECS;
use coffer_core::meta::KeyListing;
use coffer_core::model::{KeySource, KeyState, KeyStatus};
use http::HeaderMap;
use http::header::AUTHORIZATION;
use std::collections::BTreeMap;

type Res<T> = Result<Json<T>, ApiError>;

pub async fn create_access_key_from_jwt(
    auth: Authorized<action::CreateAccessKey>,
    slot: AuditSlot,
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
    slot.set_identifier(&key.access_key_id);
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
    // Only the page is read: an org's keys (revoked ones stay listed) are not bounded.
    let page = KeyListing {
        status: filter,
        now,
        offset: offset as u64,
        limit: limit as u64,
    };
    let keys = state
        .meta
        .list_access_keys(&auth.caller().org_id, &page)
        .await?;
    let info = keys.iter().map(|k| wire::access_key_info(k, now)).collect();
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
    slot: AuditSlot,
    JsonBody(req): JsonBody<api::UpdateAccessKeyStatusRequest>,
) -> Res<api::UpdateAccessKeyStatusResponse> {
    slot.set_identifier(&req.principal_name);
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
    slot: AuditSlot,
    JsonBody(req): JsonBody<api::RevokeAccessKeyByAccessKeyRequest>,
) -> Res<api::RevokeAccessKeyByAccessKeyResponse> {
    let id = req.access_key;
    slot.set_identifier(&id);
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
    slot: AuditSlot,
    JsonBody(req): JsonBody<api::RevokeAccessKeysByPrincipalRequest>,
) -> Res<api::RevokeAccessKeysByPrincipalResponse> {
    slot.set_identifier(&req.principal_name);
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

/// CreateAccessKeyFromOIDC: anonymous; the token itself is the credential. The key
/// belongs to the federated principal `role/<iss>:<sub>` and lives `durationSeconds`
/// (0 = 900 s), never past the token's `exp`.
pub async fn create_access_key_from_oidc(
    State(state): State<AppState>,
    slot: AuditSlot,
    JsonBody(req): JsonBody<api::CreateAccessKeyFromOidcRequest>,
) -> Res<api::CreateAccessKeyFromOidcResponse> {
    slot.set_org(&req.org_id);
    let minted = federation(&state)
        .exchange_oidc(
            &req.org_id,
            req.oidc_token.trim(),
            req.duration_seconds.unwrap_or(0),
            req.attributes,
            false,
        )
        .await?;
    slot.set_federated(&minted.key.principal);
    slot.set_identifier(&minted.key.access_key_id);
    Ok(Json(api::CreateAccessKeyFromJwtResponse {
        expiry: wire::key_expiry(minted.key.expiry),
        access_key_id: minted.key.access_key_id,
        secret_key: minted.secret,
        principal_name: minted.key.principal,
        attributes: minted.key.attributes,
    }))
}

/// The raw JWT of the container-credentials exchange: the whole `Authorization` value.
/// A `Bearer ` prefix is tolerated (a JWT never contains a space, so this is
/// unambiguous).
fn raw_jwt(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing =
        || ApiError::unauthenticated("missing Authorization header with a raw OIDC token (JWT)");
    let v = headers
        .get(AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?
        .trim();
    let v = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => v,
    };
    if v.is_empty() {
        return Err(missing());
    }
    Ok(v)
}

/// CreateAccessKeyFromContainerCreds: the AWS container-credentials endpoint for OIDC
/// workloads (`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`
/// = the JWT). A 15-minute key (never past the token's `exp`) with a session token.
pub async fn create_access_key_from_container_creds(
    State(state): State<AppState>,
    slot: AuditSlot,
    PathParam(org_id): PathParam,
    headers: HeaderMap,
) -> Res<api::CreateAccessKeyFromContainerCredsResponse> {
    slot.set_org(&org_id);
    let token = raw_jwt(&headers)?;
    let minted = federation(&state)
        .exchange_oidc(&org_id, token, 0, BTreeMap::new(), true)
        .await?;
    slot.set_federated(&minted.key.principal);
    slot.set_identifier(&minted.key.access_key_id);
    let session = minted
        .session_token
        .ok_or_else(|| coffer_core::Error::internal("session key without a token"))?;
    Ok(Json(wire::container_credentials(
        &minted.key,
        minted.secret,
        session,
    )))
}

/// The federation service over the router's dependencies (it holds only shared
/// handles, so building one per request costs three reference-count increments).
fn federation(state: &AppState) -> FederationService {
    FederationService::new(
        state.meta.clone(),
        state.identity.clone(),
        state.engine.clone(),
    )
}

/// CreateAccessKeyFromSAML: anonymous; the signed SAML Response is the credential. The
/// key belongs to `role/<Role attribute value>` (`attributes.role` picks one of
/// several), lives `durationSeconds` (0 = 900 s) but never past the assertion's
/// session, and records the PrincipalName as attribute `principalName`.
pub async fn create_access_key_from_saml(
    State(state): State<AppState>,
    slot: AuditSlot,
    JsonBody(req): JsonBody<api::CreateAccessKeyFromSamlRequest>,
) -> Res<api::CreateAccessKeyFromSamlResponse> {
    slot.set_org(&req.org_id);
    let minted = federation(&state)
        .exchange_saml(
            &req.org_id,
            req.config_id.trim(),
            &req.saml_response,
            req.duration_seconds.unwrap_or(0),
            req.attributes,
        )
        .await?;
    slot.set_federated(&minted.key.principal);
    slot.set_identifier(&minted.key.access_key_id);
    Ok(Json(api::CreateAccessKeyFromJwtResponse {
        expiry: wire::key_expiry(minted.key.expiry),
        access_key_id: minted.key.access_key_id,
        secret_key: minted.secret,
        principal_name: minted.key.principal,
        attributes: minted.key.attributes,
    }))
}

/// CreateAccessKeyFromApiToken: a 15-minute key for the token's user, in the AWS
/// container-credentials shape, with a fresh session token (only its SHA-256 is stored).
pub async fn create_access_key_from_api_token(
    auth: Authorized<action::CreateAccessKey>,
    slot: AuditSlot,
) -> Res<api::CreateAccessKeyFromApiTokenResponse> {
    let c = auth.caller();
    let (key, secret, token) = auth
        .state()
        .identity
        .create_session_key(
            &c.org_id,
            &c.principal,
            Some(&c.uid),
            DEFAULT_TEMP_KEY_SECS,
            BTreeMap::new(),
            KeySource::ApiTokenExchange,
        )
        .await?;
    slot.set_identifier(&key.access_key_id);
    Ok(Json(wire::container_credentials(&key, secret, token)))
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
