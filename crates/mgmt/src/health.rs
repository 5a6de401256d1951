//! Probes: `/healthz` (the process answers) and `/readyz` (the metadata store answers).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::State;

/// The liveness probe's path.
pub const HEALTHZ_PATH: &str = "/healthz";

/// Whether a request is the liveness probe, which the accept loop lets past the
/// in-flight bound: it is answered with a constant and reads no body.
pub fn is_liveness_probe(method: &http::Method, uri: &http::Uri) -> bool {
    matches!(*method, http::Method::GET | http::Method::HEAD) && uri.path() == HEALTHZ_PATH
}

/// The probes' RPC names: they are neither counted nor access-logged.
pub(crate) fn is_probe_rpc(rpc: &str) -> bool {
    matches!(rpc, "Healthz" | "Readyz")
}

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
