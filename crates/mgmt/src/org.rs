//! Organization settings: SetOrganizationSettings and its GET extension.

use crate::audit::AuditSlot;
use crate::auth::{Action, Authenticated, action};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::wire;
use axum::Json;
use coffer_api as api;

type Res<T> = Result<Json<T>, ApiError>;

/// Any member of the org may read its settings: they only say whether audit logging is
/// on, and there is no read action in the reference's vocabulary.
pub async fn get_organization_settings(
    auth: Authenticated,
) -> Res<api::GetOrganizationSettingsResponse> {
    let s = auth
        .state
        .meta
        .get_org_settings(&auth.caller.org_id)
        .await?;
    Ok(Json(api::SetOrganizationSettingsResponse {
        settings: wire::org_settings(&s),
    }))
}

/// Partial update; every flag sent is authorized (Enable/Disable per value) before
/// anything is written. Turning either audit switch on creates the org's audit bucket
/// first (SPEC §6); the call that turns control-plane logging off is itself logged.
pub async fn set_organization_settings(
    auth: Authenticated,
    slot: AuditSlot,
    JsonBody(req): JsonBody<api::SetOrganizationSettingsRequest>,
) -> Res<api::SetOrganizationSettingsResponse> {
    slot.set_identifier(&auth.caller.org_id);
    let patch = req
        .settings
        .ok_or_else(|| ApiError::invalid("settings is required"))?;
    match patch.control_plane_audit_logging_enabled {
        Some(true) => auth.authorize(action::EnableControlPlaneAuditLogging::NAME)?,
        Some(false) => auth.authorize(action::DisableControlPlaneAuditLogging::NAME)?,
        None => {}
    }
    match patch.bucket_audit_logging_enabled {
        Some(true) => auth.authorize(action::EnableBucketAuditLoggingDefault::NAME)?,
        Some(false) => auth.authorize(action::DisableBucketAuditLoggingDefault::NAME)?,
        None => {}
    }
    let meta = &auth.state.meta;
    let org_id = &auth.caller.org_id;
    let mut s = meta.get_org_settings(org_id).await?;
    let before = s.clone();
    if let Some(v) = patch.control_plane_audit_logging_enabled {
        s.control_plane_audit_logging = v;
    }
    if let Some(v) = patch.bucket_audit_logging_enabled {
        s.bucket_audit_logging_default = v;
    }
    let enables = (s.control_plane_audit_logging && !before.control_plane_audit_logging)
        || (s.bucket_audit_logging_default && !before.bucket_audit_logging_default);
    if enables {
        auth.state.audit.ensure_bucket(org_id).await?;
    }
    if s != before {
        meta.put_org_settings(org_id, &s).await?;
        auth.state.audit.settings_changed(org_id);
        if before.control_plane_audit_logging && !s.control_plane_audit_logging {
            slot.force();
        }
    }
    Ok(Json(api::SetOrganizationSettingsResponse {
        settings: wire::org_settings(&s),
    }))
}
