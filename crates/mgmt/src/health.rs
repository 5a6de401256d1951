//! Probes: `/healthz` (the process answers) and `/readyz` (the metadata store answers).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::State;

/// The liveness probe's path (the accept loop lets it past the in-flight bound).
pub const HEALTHZ_PATH: &str = "/healthz";

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state
        .meta
        .list_orgs()
        .await
        .map_err(|e| ApiError::Unavailable(format!("metadata store: {e}")))?;
    Ok("ready")
}
