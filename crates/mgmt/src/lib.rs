//! The management API (axum): `/v1/cwobject` (SPEC §2), the `/v1/iam` identity
//! extension (SPEC §1), `/healthz` and `/readyz`.
//!
//! Layout:
//! * [`choke`] — the one choke point every request passes: request id, panic capture,
//!   error rendering (`{"code","message","details":[]}`) and its logging.
//! * [`auth`] — the only producers of a verified caller: [`auth::Authenticated`] (bearer
//!   token → `Caller`), [`auth::Authorized`] (plus a static action check through the
//!   `PolicyEngine`), and the `/v1/iam` actors (org admin or operator token).
//! * [`extract`] — body, query and path extraction whose every failure is
//!   `InvalidArgument` (never axum's plain-text rejections, never a 500).
//! * [`error`] — `coffer_core::Error` → gRPC code + HTTP status, one exhaustive `match`.
//! * `keys`, `policies`, `buckets`, `org`, `iam`, `health` — handlers, one per RPC.
//!
//! Handlers only translate between wire types (`coffer-api`) and services; they never
//! authenticate, render errors or touch HTTP status codes themselves.

use axum::Router;
use axum::routing::{delete, get, post, put};
use coffer_core::identity::IdentityService;
use coffer_core::meta::MetaStore;
use coffer_core::objects::ObjectService;
use coffer_core::policy::PolicyEngine;
use coffer_core::policy_service::PolicyService;
use std::sync::Arc;

pub mod auth;
pub mod choke;
pub mod error;
pub mod extract;

mod buckets;
mod health;
mod iam;
mod keys;
mod org;
mod policies;
mod wire;

pub use error::ApiError;

/// Everything the management API needs; built by the server's composition root.
pub struct MgmtDeps {
    pub identity: Arc<IdentityService>,
    pub policies: Arc<PolicyService>,
    /// The same engine `policies` publishes into.
    pub engine: Arc<PolicyEngine>,
    pub objects: Arc<ObjectService>,
    pub meta: Arc<dyn MetaStore>,
    /// Lowercase hex SHA-256 of the operator token (`None` = no operator token).
    /// Compared with `coffer_core::identity::ct_eq`.
    pub operator_token_hash: Option<String>,
}

/// Router state: the dependencies, shared.
pub type AppState = Arc<MgmtDeps>;

/// The management API. Every route, the 404 fallback and the 405 answers pass through
/// [`choke::layer`].
pub fn router(deps: MgmtDeps) -> Router {
    let routes = Router::new()
        // ---- /v1/cwobject: access keys
        .route(
            "/v1/cwobject/access-key",
            post(keys::create_access_key_from_jwt).get(keys::list_access_key_info),
        )
        .route(
            "/v1/cwobject/access-key/{accessKeyId}",
            get(keys::get_access_key_info),
        )
        .route(
            "/v1/cwobject/access-key-status",
            put(keys::update_access_key_status),
        )
        .route(
            "/v1/cwobject/revoke-access-key/access-key",
            post(keys::revoke_access_key_by_access_key),
        )
        .route(
            "/v1/cwobject/revoke-access-key/principal",
            post(keys::revoke_access_keys_by_principal),
        )
        // Temporary-credential exchanges: routed so that clients get an explicit
        // Unimplemented (501) rather than a 404 until federation lands.
        .route(
            "/v1/cwobject/temporary-credentials/saml",
            post(keys::not_implemented),
        )
        .route(
            "/v1/cwobject/temporary-credentials/oidc",
            post(keys::not_implemented),
        )
        .route(
            "/v1/cwobject/temporary-credentials/oidc/{orgId}",
            get(keys::not_implemented),
        )
        .route(
            "/v1/cwobject/temporary-credentials/api-token",
            get(keys::not_implemented),
        )
        // ---- /v1/cwobject: policies and authorization
        .route(
            "/v1/cwobject/access-policy",
            get(policies::list_access_policies).post(policies::ensure_access_policy),
        )
        .route(
            "/v1/cwobject/access-policy/{name}",
            delete(policies::delete_access_policy),
        )
        .route("/v1/cwobject/auth/can-i", post(policies::auth_can_i))
        // ---- /v1/cwobject: buckets and org settings
        .route(
            "/v1/cwobject/bucket/settings",
            put(buckets::set_bucket_settings),
        )
        .route("/v1/cwobject/bucket-info", get(buckets::list_bucket_info))
        .route(
            "/v1/cwobject/bucket-info/{bucketName}",
            get(buckets::get_bucket_info),
        )
        .route(
            "/v1/cwobject/organization/settings",
            put(org::set_organization_settings).get(org::get_organization_settings),
        )
        // ---- /v1/iam
        .route("/v1/iam/orgs", post(iam::create_org).get(iam::list_orgs))
        .route("/v1/iam/users", post(iam::create_user).get(iam::list_users))
        .route("/v1/iam/users/{uid}", delete(iam::delete_user))
        .route(
            "/v1/iam/tokens",
            post(iam::create_token).get(iam::list_tokens),
        )
        .route("/v1/iam/tokens/{tokenId}", delete(iam::delete_token))
        .route("/v1/iam/whoami", get(iam::whoami))
        // ---- probes
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // Must follow every `.route`: it applies to the routes registered so far.
        .method_not_allowed_fallback(choke::method_not_allowed)
        .fallback(choke::not_found);
    choke::layer(routes.with_state(Arc::new(deps)))
}
