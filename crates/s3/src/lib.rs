//! The S3 gateway: s3s (routing, XML, SigV4, aws-chunked) in front of the core
//! `ObjectService`, with Coffer's authentication, authorization, error mapping and the
//! fixes for s3s 0.14's known gaps.
//!
//! Request path (one choke point, DESIGN habit 2):
//! 1. [`http_service::S3HttpService`] — request id, SigV2 / presign-expiry gates before
//!    any work, SigV4 region normalization ([`resign`]), `x-amz-request-id` and complete
//!    error XML on every response.
//! 2. s3s — routing, SigV4 verification through [`access::Authenticator`].
//! 3. [`access::AccessControl`] — session token, the action table ([`actions`]), the
//!    org policy engine, bucket ownership; attaches the verified [`access::Caller`].
//! 4. [`gateway::Gateway`] — DTO ↔ `ObjectService`, errors mapped by [`errors`].
//!
//! Not here: audit events and metrics (a later layer), bucket policies (a later layer
//! of the access check), the listener (`coffer-server`).

pub mod access;
pub mod actions;
pub mod body;
pub mod errors;
pub mod gates;
pub mod gateway;
pub mod host;
pub mod http_service;
pub mod reqid;
pub mod resign;
pub mod wire;

use coffer_core::identity::IdentityService;
use coffer_core::objects::ObjectService;
use coffer_core::policy::PolicyEngine;
use std::sync::Arc;

pub use http_service::S3HttpService;
pub use reqid::RequestId;

/// What the gateway needs from the composition root.
pub struct S3Deps {
    pub objects: Arc<ObjectService>,
    pub identity: Arc<IdentityService>,
    pub policies: Arc<PolicyEngine>,
    /// Virtual-host suffix: `bucket.<domain>` addresses `bucket`. Path style always works.
    pub domain: Option<String>,
    /// Configured zones (LocationConstraint values). The object service holds the same
    /// list and enforces it; kept here for completeness of the wiring.
    pub zones: Vec<String>,
}

/// The s3s service with Coffer's auth, access control, host parsing and handlers.
///
/// Serve it through [`S3HttpService`] ([`build_http_service`]): only the wrapper
/// accepts SigV4 regions outside `[a-z0-9-]+` (e.g. the zone `US-EAST-04A`, which s3s
/// 0.14 refuses), adds request ids and complete error bodies to errors s3s produces
/// itself, and runs the SigV2/presign gates before any key lookup. Served bare, the
/// gates still run in the access check and every response the gateway produces carries
/// `x-amz-request-id`, but uppercase regions fail with `InvalidRequest`.
pub fn build_service(deps: S3Deps) -> s3s::service::S3Service {
    let S3Deps {
        objects,
        identity,
        policies,
        domain,
        zones: _,
    } = deps;
    let authz = Arc::new(access::Authorizer::new(objects.clone(), policies));
    let mut b = s3s::service::S3ServiceBuilder::new(gateway::Gateway::new(objects, authz.clone()));
    b.set_auth(access::Authenticator::new(identity.clone()));
    b.set_access(access::AccessControl::new(identity, authz));
    if let Some(d) = domain.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        b.set_host(host::DomainHost::new(d));
    }
    b.build()
}

/// [`build_service`] wrapped in [`S3HttpService`]; what the S3 listener should serve.
pub fn build_http_service(deps: S3Deps) -> S3HttpService {
    let normalizer = resign::RegionNormalizer::new(deps.identity.clone());
    S3HttpService::new(build_service(deps), normalizer)
}
