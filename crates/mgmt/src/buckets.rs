//! Bucket RPCs: SetBucketSettings, ListBucketInfo, GetBucketInfo. Only buckets of the
//! caller's org are visible; another org's bucket is reported as absent (NotFound).

use crate::audit::AuditSlot;
use crate::auth::{Action, Authenticated, Authorized, action};
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, QueryParams, truncate};
use crate::wire;
use axum::Json;
use coffer_api as api;
use coffer_core::model::Bucket;

type Res<T> = Result<Json<T>, ApiError>;

/// The entitlement that unlocks the archive settings.
pub const BUCKET_ARCHIVE_ENTITLEMENT: &str = "BucketArchive";

/// Partial update. Order: validate the request shape, check entitlements, authorize
/// every flag that is sent (all-or-nothing), then look the bucket up and write. A flag
/// is "changed" when it is present, whatever its current value: authorization must not
/// depend on stored state the caller may not be allowed to read. Turning audit logging
/// on creates the org's audit bucket first (SPEC §6).
pub async fn set_bucket_settings(
    auth: Authenticated,
    slot: AuditSlot,
    JsonBody(req): JsonBody<api::SetBucketSettingsRequest>,
) -> Res<api::SetBucketSettingsResponse> {
    slot.set_identifier(&req.bucket_name);
    if req.bucket_name.is_empty() {
        return Err(ApiError::invalid("bucketName is required"));
    }
    let patch = req
        .settings
        .ok_or_else(|| ApiError::invalid("settings is required"))?;
    if patch.capacity_cap_bytes.is_some() && patch.clear_capacity_cap.is_some() {
        return Err(ApiError::invalid(
            "capacityCapBytes and clearCapacityCap are mutually exclusive",
        ));
    }
    if patch.capacity_cap_bytes == Some(0) {
        return Err(ApiError::invalid(
            "capacityCapBytes must be positive; use clearCapacityCap to remove the cap",
        ));
    }
    let state = &auth.state;
    let org_id = &auth.caller.org_id;
    if patch.archive_enabled.is_some() || patch.archive_after_last_access_days.is_some() {
        let entitled = state.meta.get_org(org_id).await?.is_some_and(|o| {
            o.entitlements
                .iter()
                .any(|e| e == BUCKET_ARCHIVE_ENTITLEMENT)
        });
        if !entitled {
            return Err(ApiError::denied(format!(
                "organization is not entitled to feature(s): {BUCKET_ARCHIVE_ENTITLEMENT}"
            )));
        }
        // Entitled orgs pass the check, but no storage tier exists to archive to.
        return Err(ApiError::Domain(coffer_core::Error::Unimplemented(
            "bucket archive settings are not supported by this server".into(),
        )));
    }
    let mut actions: Vec<&str> = Vec::new();
    match patch.audit_logging_enabled {
        Some(true) => actions.push(action::EnableBucketAuditLogging::NAME),
        Some(false) => actions.push(action::DisableBucketAuditLogging::NAME),
        None => {}
    }
    if patch.capacity_cap_bytes.is_some() || patch.clear_capacity_cap.is_some() {
        actions.push(action::SetBucketCapacityCap::NAME);
    }
    let empty = actions.is_empty();
    if empty {
        // An empty patch only reads the settings back.
        actions.push(action::ListBucketInfo::NAME);
    }
    for a in actions {
        auth.authorize(a)?;
    }

    let mut bucket = own_bucket(&auth, &req.bucket_name).await?;
    if !empty {
        if patch.audit_logging_enabled == Some(true) && bucket.settings.audit_logging != Some(true)
        {
            // The destination exists before the switch is on (idempotent, so a
            // concurrent enable doing the same is harmless).
            state.audit.ensure_bucket(org_id).await?;
        }
        let owner = org_id.clone();
        bucket = state
            .meta
            .edit_bucket(
                &req.bucket_name,
                Box::new(move |b| {
                    // The name may have been deleted and taken by another org since.
                    if b.org_id != owner {
                        return Err(coffer_core::Error::NoSuchBucket);
                    }
                    if let Some(v) = patch.audit_logging_enabled {
                        b.settings.audit_logging = Some(v);
                    }
                    if let Some(cap) = patch.capacity_cap_bytes {
                        b.settings.capacity_cap_bytes = Some(cap);
                    }
                    if patch.clear_capacity_cap.is_some() {
                        b.settings.capacity_cap_bytes = None;
                    }
                    Ok(())
                }),
            )
            .await?;
    }
    let org_settings = state.meta.get_org_settings(org_id).await?;
    Ok(Json(api::SetBucketSettingsResponse {
        settings: wire::bucket_settings(&bucket, &org_settings),
    }))
}

/// The caller's org's bucket `name`; NotFound for absent and foreign buckets alike.
async fn own_bucket(auth: &Authenticated, name: &str) -> Result<Bucket, ApiError> {
    auth.state
        .meta
        .get_bucket(name)
        .await?
        .filter(|b| b.org_id == auth.caller.org_id)
        .ok_or_else(|| ApiError::not_found(format!("bucket {:?} not found", truncate(name))))
}

pub async fn list_bucket_info(
    auth: Authorized<action::ListBucketInfo>,
    q: QueryParams,
) -> Res<api::ListBucketInfoResponse> {
    let (offset, limit) = q.page()?;
    let state = auth.state();
    let org_id = &auth.caller().org_id;
    let org_settings = state.meta.get_org_settings(org_id).await?;
    let buckets = state.meta.list_buckets(org_id).await?;
    let mut info = Vec::new();
    for b in buckets.iter().skip(offset).take(limit) {
        // A bucket deleted since the listing is simply left out.
        let usage = match state.objects.bucket_usage(&b.name).await {
            Err(coffer_core::Error::NoSuchBucket) => continue,
            r => r?,
        };
        info.push(wire::bucket_info(b, &org_settings, usage));
    }
    Ok(Json(api::ListBucketInfoResponse { info }))
}

pub async fn get_bucket_info(
    auth: Authorized<action::ListBucketInfo>,
    PathParam(name): PathParam,
) -> Res<api::GetBucketInfoResponse> {
    let bucket = own_bucket(&auth.auth, &name).await?;
    let state = auth.state();
    let org_settings = state.meta.get_org_settings(&bucket.org_id).await?;
    let usage = state.objects.bucket_usage(&bucket.name).await?;
    Ok(Json(api::GetBucketInfoResponse {
        info: wire::bucket_info(&bucket, &org_settings, usage),
    }))
}
