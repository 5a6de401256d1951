//! The S3 gateway: s3s (routing, XML, SigV4, aws-chunked) in front of the core
//! `ObjectService`, with Coffer's authentication, authorization, error mapping and the
//! fixes for s3s 0.14's known gaps.
//!
//! Request path (one choke point, DESIGN habit 2):
//! 1. [`http_service::S3HttpService`] — request id, SigV2 / presign-expiry gates before
//!    any work, SigV4 region normalization ([`resign`]), `x-amz-request-id` and complete
//!    error XML on every response.
//! 2. s3s — routing, SigV4 verification through [`access::Authenticator`].
//! 3. [`access::AccessControl`] — session token, request context, the action table
//!    ([`actions`]), the combined org + bucket-policy decision
//!    ([`coffer_core::policy::authorize`]); attaches the verified [`access::Caller`].
//! 4. [`gateway::Gateway`] — DTO ↔ `ObjectService`, errors mapped by [`errors`]: the
//!    `impl S3` dispatch in [`gateway`], the handlers per family beside it.
//!
//! 5. [`audit`] — the data-plane audit event of a request on a logged bucket, recorded
//!    by `S3HttpService` before the response is returned.
//!
//! Not here: metrics (a later layer), the listener (`coffer-server`).
//!
//! # Module layering
//!
//! A module imports only from layers below its own (doc links may point anywhere; this
//! file wires everything together). The `layering` test below checks it.
//!
//! 0. Leaves, nothing from this crate: [`actions`], [`errors`], [`host`], [`reqid`],
//!    [`resign`].
//! 1. Leaf parsers: [`request_line`] (query, percent decoding, RenameObject source,
//!    form-post detection), [`tag_set`] (tag-set rules).
//! 2. Wire helpers, pre-auth gates and the audit facts: [`wire`], [`body`], [`gates`],
//!    [`audit`].
//! 3. [`access`] — authentication and the access check; [`cache_origin`] — the origin
//!    side of compute-node caches (it streams with [`body`]).
//! 4. [`gateway`] — the `Gateway` state, the `impl S3` dispatch and the plumbing the
//!    handlers share.
//! 5. Handler families, `impl Gateway` blocks of `do_<operation>` methods the dispatch
//!    delegates to: [`buckets`], [`listing`], [`objects`], [`multipart`],
//!    [`versioning`], [`lifecycle`], [`tagging`], [`cors`], [`attributes`], [`rename`],
//!    [`acl`] (ACLs, Object Ownership), [`public_access`] (Public Access Block, policy
//!    status), [`object_lock`].
//!    They never import each other; the dispatch calls them as methods, never by path.
//! 6. [`post_object`] — form uploads, driving the gateway's PutObject path.
//! 7. [`http_service`] — the outer service (uses [`cors::CorsResponder`] and
//!    [`post_object`]).

pub mod access;
pub mod acl;
pub mod actions;
pub mod attributes;
pub mod audit;
pub mod body;
pub mod bucket_encryption;
pub mod buckets;
pub mod cache_origin;
pub mod cors;
pub mod errors;
pub mod gates;
pub mod gateway;
pub mod host;
pub mod http_service;
pub mod lifecycle;
pub mod listing;
pub mod multipart;
pub mod object_lock;
pub mod objects;
pub mod post_object;
pub mod public_access;
pub mod rename;
pub mod reqid;
pub mod request_line;
pub mod resign;
pub mod sse;
pub mod tag_set;
pub mod tagging;
pub mod versioning;
pub mod wire;

use coffer_core::audit::AuditService;
use coffer_core::budget::ByteBudget;
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
    /// Data-plane audit events (switches, recording).
    pub audit: Arc<AuditService>,
    /// Request bytes held in memory (XML documents, form fields), shared with the
    /// management listener.
    pub budget: ByteBudget,
    /// How long a client may take to send what is read before it is authenticated
    /// (the fields of a form upload before its file); the server's header timeout.
    pub unauthenticated_deadline: std::time::Duration,
    /// One access log line per request (`S3HttpService::with_access_log`).
    pub access_log: bool,
    /// Where requests are counted (`S3HttpService::with_metrics`).
    pub metrics: coffer_core::metrics::RequestMetrics,
    /// Signs compute-node caches' fill grants; `None`: requests from nodes are refused.
    pub cache_grants: Option<coffer_core::cache_node::GrantKey>,
}

/// The S3 service the listener serves: s3s with Coffer's auth, access control, host
/// parsing and handlers ([`build_s3s_service`]), wrapped in [`S3HttpService`].
///
/// The wrapper is part of the contract: only with it are SigV4 regions outside
/// `[a-z0-9-]+` accepted (e.g. the zone `US-EAST-04A`, which s3s 0.14 refuses), do
/// errors s3s produces itself carry `x-amz-request-id`, `RequestId` and `Resource`, and
/// do the SigV2/presign gates run before any key lookup. `S3HttpService` implements
/// `hyper::service::Service<Request<Incoming>>` and has `call(&self, HttpRequest)` like
/// `s3s::service::S3Service`, so it drops into the same accept loop.
pub fn build_service(deps: S3Deps) -> S3HttpService {
    let normalizer = resign::RegionNormalizer::new(deps.identity.clone());
    let audit = deps.audit.clone();
    let cors = cors::CorsResponder::new(deps.objects.clone(), deps.domain.clone());
    let domain = deps.domain.clone();
    let identity = deps.identity.clone();
    let budget = deps.budget.clone();
    let deadline = deps.unauthenticated_deadline;
    let access_log = deps.access_log;
    let metrics = deps.metrics.clone();
    let cache = deps
        .cache_grants
        .clone()
        .map(|g| cache_origin::CacheOrigin::new(deps.identity.clone(), deps.objects.clone(), g));
    let (s3s, gateway, access) = build_parts(deps);
    let forms = post_object::FormUploads::new(gateway, access, identity, budget.clone(), deadline);
    S3HttpService::new(s3s, normalizer, Some(audit))
        .with_cors(cors)
        .with_domain(domain.as_deref())
        .with_forms(forms)
        .with_access_log(access_log)
        .with_metrics(metrics)
        .with_cache_nodes(cache)
}

/// The bare s3s service (no wrapper). Served like this, the gates still run in the
/// access check and every response the gateway produces carries `x-amz-request-id`,
/// but uppercase SigV4 regions fail with `InvalidRequest` and errors s3s produces
/// itself lack request ids, and no audit events are recorded. Prefer [`build_service`].
pub fn build_s3s_service(deps: S3Deps) -> s3s::service::S3Service {
    build_parts(deps).0
}

/// The s3s service and the gateway and access check inside it (form uploads use them
/// directly).
fn build_parts(
    deps: S3Deps,
) -> (
    s3s::service::S3Service,
    gateway::Gateway,
    Arc<access::AccessControl>,
) {
    let S3Deps {
        objects,
        identity,
        policies,
        domain,
        zones: _,
        audit,
        budget,
        unauthenticated_deadline: _,
        access_log: _,
        metrics: _,
        cache_grants: _,
    } = deps;
    let authz = Arc::new(access::Authorizer::new(
        objects.clone(),
        policies,
        identity.meta().clone(),
    ));
    let gateway = gateway::Gateway::new(objects, authz.clone(), Some(audit));
    let mut b = s3s::service::S3ServiceBuilder::new(gateway.clone());
    let mut config = s3s::config::S3Config::default();
    config.xml_max_body_size = body::MAX_XML_BODY;
    // Form uploads are served by `post_object`, never by s3s, which would read them
    // whole before verifying anything; should one reach s3s (the bare service), it
    // reads next to nothing before refusing it.
    config.post_object_max_file_size = 0;
    config.form_max_field_size = 1024;
    config.form_max_fields_size = 4096;
    config.form_max_parts = 16;
    b.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        config,
    ))));
    b.set_auth(access::Authenticator::new(identity.clone()));
    let access = Arc::new(access::AccessControl::new(identity, authz, budget));
    b.set_access(SharedAccess(access.clone()));
    if let Some(d) = domain.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        b.set_host(host::DomainHost::new(d));
    }
    (b.build(), gateway, access)
}

/// The access check s3s runs, shared with the form-upload path.
struct SharedAccess(Arc<access::AccessControl>);

#[async_trait::async_trait]
impl s3s::access::S3Access for SharedAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        self.0.check(cx).await
    }
}

#[cfg(test)]
mod layering {
    /// Each module's layer (crate docs, "Module layering") and source.
    const MODULES: &[(&str, u8, &str)] = &[
        ("actions", 0, include_str!("actions.rs")),
        ("errors", 0, include_str!("errors.rs")),
        ("host", 0, include_str!("host.rs")),
        ("reqid", 0, include_str!("reqid.rs")),
        ("resign", 0, include_str!("resign.rs")),
        ("request_line", 1, include_str!("request_line.rs")),
        ("tag_set", 1, include_str!("tag_set.rs")),
        ("wire", 2, include_str!("wire.rs")),
        ("body", 2, include_str!("body.rs")),
        ("gates", 2, include_str!("gates.rs")),
        ("audit", 2, include_str!("audit.rs")),
        ("cache_origin", 3, include_str!("cache_origin.rs")),
        ("access", 3, include_str!("access.rs")),
        ("gateway", 4, include_str!("gateway.rs")),
        ("sse", 4, include_str!("sse.rs")),
        ("buckets", 5, include_str!("buckets.rs")),
        ("bucket_encryption", 5, include_str!("bucket_encryption.rs")),
        ("listing", 5, include_str!("listing.rs")),
        ("objects", 5, include_str!("objects.rs")),
        ("multipart", 5, include_str!("multipart.rs")),
        ("versioning", 5, include_str!("versioning.rs")),
        ("lifecycle", 5, include_str!("lifecycle.rs")),
        ("tagging", 5, include_str!("tagging.rs")),
        ("cors", 5, include_str!("cors.rs")),
        ("attributes", 5, include_str!("attributes.rs")),
        ("acl", 5, include_str!("acl.rs")),
        ("public_access", 5, include_str!("public_access.rs")),
        ("object_lock", 5, include_str!("object_lock.rs")),
        ("rename", 5, include_str!("rename.rs")),
        ("post_object", 6, include_str!("post_object.rs")),
        ("http_service", 7, include_str!("http_service.rs")),
    ];

    /// The crate modules `src` names in code (comments, doc links included, skipped).
    fn uses(src: &str) -> Vec<String> {
        let prefix = concat!("crate", "::");
        let mut out = Vec::new();
        for line in src.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let mut rest = line;
            while let Some(i) = rest.find(prefix) {
                rest = &rest[i + prefix.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                assert!(!name.is_empty(), "grouped crate import in: {line}");
                out.push(name);
            }
        }
        out
    }

    #[test]
    fn modules_import_only_lower_layers() {
        let layer = |m: &str| MODULES.iter().find(|(n, ..)| *n == m).map(|(_, l, _)| *l);
        for (name, own, src) in MODULES {
            // A module may name itself (a macro's `$crate::` path).
            for used in uses(src).into_iter().filter(|u| u != name) {
                let Some(l) = layer(&used) else {
                    panic!("{name} uses a module missing from the layering: {used}");
                };
                assert!(l < *own, "{name} (layer {own}) imports {used} (layer {l})");
            }
        }
    }

    #[test]
    fn every_module_has_a_layer() {
        let lib = include_str!("lib.rs");
        for line in lib.lines() {
            if let Some(m) = line.strip_prefix("pub mod ") {
                let m = m.trim_end_matches(';');
                assert!(MODULES.iter().any(|(n, ..)| *n == m), "no layer for {m}");
            }
        }
    }
}
