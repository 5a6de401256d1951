//! The management API (axum): `/v1/cwobject` (SPEC §2, also over the Connect protocol),
//! the `/v1/iam` identity extension (SPEC §1), `/v1/openapi.json`, `/healthz` and
//! `/readyz`.
//!
//! Layout:
//! * [`choke`] — the one choke point every request passes: request id, panic capture,
//!   control-plane audit events ([`audit`]), error rendering
//!   (`{"code","message","details":[]}`) and its logging.
//! * [`auth`] — the only producers of a verified caller: [`auth::Authenticated`] (bearer
//!   token → `Caller`), [`auth::Authorized`] (plus a static action check through the
//!   `PolicyEngine`), and the `/v1/iam` actors (org admin or operator token).
//! * [`extract`] — body, query and path extraction whose every failure is
//!   `InvalidArgument` (never axum's plain-text rejections, never a 500).
//! * [`error`] — `coffer_core::Error` → gRPC code + HTTP status, one exhaustive `match`.
//! * [`routes`] — the route table: the one list of endpoints the router, the Connect
//!   binding and the OpenAPI document are all derived from.
//! * [`connect`] — the Connect protocol binding (`POST /cwobject.v1.CWObject/<Rpc>`),
//!   which re-routes each call to the REST handler of the same RPC.
//! * [`openapi`] — the OpenAPI 3 document (`GET /v1/openapi.json`, `docs/openapi.json`).
//! * `keys`, `policies`, `buckets`, `org`, `iam`, `federation`, `health` — handlers, one
//!   per RPC.
//!
//! Handlers only translate between wire types (`coffer-api`) and services; they never
//! authenticate, render errors or touch HTTP status codes themselves.

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::routing::any;
use coffer_core::audit::AuditService;
use coffer_core::budget::ByteBudget;
use coffer_core::identity::IdentityService;
use coffer_core::meta::MetaStore;
use coffer_core::objects::ObjectService;
use coffer_core::policy::PolicyEngine;
use coffer_core::policy_service::PolicyService;
use std::sync::Arc;

pub mod audit;
pub mod auth;
pub mod choke;
pub mod connect;
pub mod console;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod routes;

mod buckets;
mod federation;
pub mod health;
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
    /// Control-plane audit events and the audit switches' bucket creation.
    pub audit: Arc<AuditService>,
    /// Lowercase hex SHA-256 of the operator token (`None` = no operator token).
    /// Compared with `coffer_core::identity::ct_eq`.
    pub operator_token_hash: Option<String>,
    /// Request bytes held in memory, shared with the S3 listener (`read_body`).
    pub budget: ByteBudget,
    /// Where requests are counted (shared with the S3 listener's).
    pub metrics: coffer_core::metrics::RequestMetrics,
    /// One `coffer::access` log line per request.
    pub access_log: bool,
}

/// Router state: the dependencies, shared.
pub type AppState = Arc<MgmtDeps>;

/// The management API. Every route comes from [`routes::ROUTES`]; each `/v1/cwobject`
/// route is also served over Connect ([`connect`]). Every route, the 404 fallback and the
/// 405 answers pass through [`choke::layer`].
pub fn router(deps: MgmtDeps) -> Router {
    router_with_state(Arc::new(deps))
}

/// [`router`] over already shared dependencies.
pub fn router_with_state(state: AppState) -> Router {
    let mut routes = Router::new();
    for r in routes::ROUTES {
        let (rpc, action) = (r.rpc, audit::action_of(r.rpc));
        let method_router = (r.handler)(r.verb.filter()).layer(axum::middleware::from_fn(
            move |req: Request, next: Next| audit::mark(rpc, action, req, next),
        ));
        // Routes sharing a path merge their methods.
        routes = routes.route(r.path, method_router);
    }
    let rest: Router = routes
        // Must follow every `.route`: it applies to the routes registered so far.
        .method_not_allowed_fallback(choke::method_not_allowed)
        .fallback(choke::not_found)
        .with_state(state.clone());
    // Connect requests are rewritten into REST requests and served by `rest` itself.
    let inner = rest.clone();
    let connect_state = state.clone();
    let app = rest.route(
        connect::ROUTE,
        any(move |req: Request| connect::dispatch(inner.clone(), connect_state.clone(), req)),
    );
    choke::layer(app, state)
}
