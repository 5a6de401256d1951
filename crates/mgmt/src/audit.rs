//! Control-plane audit events (SPEC §6), produced by the choke point ([`crate::choke`]).
//!
//! How the facts of one call meet:
//! * the choke point puts an empty [`AuditSlot`] into the request extensions (Connect
//!   dispatch carries it into the re-routed REST request);
//! * the route layer of every mutating RPC ([`action_of`]) names the action;
//! * the authentication extractors record the caller (principal, role, org);
//! * handlers record the identifier (key id, bucket, policy, principal) and, for the
//!   anonymous token exchanges, the org and the federated principal;
//! * after the handler, the choke point classifies the outcome (success → `allowed`,
//!   Unauthenticated/PermissionDenied → `denied`, anything else → `error`) and, when
//!   the org's `controlPlaneAuditLoggingEnabled` is on, records the event before the
//!   response leaves. A call whose event cannot be recorded is answered `Internal`.
//!
//! Calls whose org is unknown (no valid credentials, operator-token calls) produce no
//! event: there is no org audit bucket to deliver it to.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::Response;
use coffer_core::audit::{AuditRecord, AuditResult, ControlPlaneEvent, new_event_id, timestamp};
use coffer_core::identity::Caller;
use http::request::Parts;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// What is known about the call so far.
#[derive(Debug, Default, Clone)]
pub struct AuditFacts {
    /// The route's RPC name (every routed request; for metrics and the access log).
    pub rpc: Option<&'static str>,
    pub action: Option<&'static str>,
    pub org_id: Option<String>,
    pub principal: Option<String>,
    pub role: Option<String>,
    pub identifier: Option<String>,
    /// Log even though the org's switch is now off: the call that turned it off.
    pub force: bool,
}

/// Shared, per-request collector of [`AuditFacts`] (request extension; also an
/// infallible extractor: a handler outside the choke point gets a detached slot).
#[derive(Debug, Default, Clone)]
pub struct AuditSlot(Arc<Mutex<AuditFacts>>);

impl AuditSlot {
    fn with(&self, f: impl FnOnce(&mut AuditFacts)) {
        // A poisoned lock only means a panicking writer; the facts stay usable.
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
    }
    pub fn read<T>(&self, f: impl FnOnce(&AuditFacts) -> T) -> T {
        f(&self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
    pub fn set_caller(&self, c: &Caller) {
        self.with(|f| {
            f.org_id = Some(c.org_id.clone());
            f.principal = Some(c.principal.clone());
            f.role = Some(c.role.as_str().to_string());
        });
    }
    /// The org an anonymous call (token exchange) addressed, before its credential is
    /// verified.
    pub fn set_org(&self, org_id: &str) {
        if coffer_core::ids::is_org_id(org_id) {
            self.with(|f| f.org_id = Some(org_id.to_string()));
        }
    }
    /// A federated principal established by a token exchange.
    pub fn set_federated(&self, principal: &str) {
        self.with(|f| {
            f.principal = Some(principal.to_string());
            f.role = Some("federated".to_string());
        });
    }
    pub fn set_identifier(&self, id: impl Into<String>) {
        let id = id.into();
        self.with(|f| f.identifier = Some(id));
    }
    /// Marks the call that switched control-plane logging off: it is still logged.
    pub fn force(&self) {
        self.with(|f| f.force = true);
    }
    pub fn facts(&self) -> AuditFacts {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuditSlot {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<AuditSlot>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The audited action of a mutating RPC; `None` for reads (not logged).
pub fn action_of(rpc: &str) -> Option<&'static str> {
    Some(match rpc {
        "CreateAccessKeyFromJWT" | "CreateAccessKeyFromApiToken" => "cwobject:CreateAccessKey",
        "UpdateAccessKeyStatus" => "cwobject:UpdateAccessKeyStatus",
        "RevokeAccessKeyByAccessKey" => "cwobject:RevokeAccessKeyByAccessKey",
        "RevokeAccessKeysByPrincipal" => "cwobject:RevokeAccessKeysByPrincipal",
        "CreateAccessKeyFromSAML" => "cwobject:CreateAccessKeySAML",
        "CreateAccessKeyFromOIDC" | "CreateAccessKeyFromContainerCreds" => {
            "cwobject:CreateAccessKeyOIDC"
        }
        "EnsureAccessPolicy" => "cwobject:EnsureAccessPolicy",
        "DeleteAccessPolicy" => "cwobject:DeleteAccessPolicy",
        "SetBucketSettings" => "cwobject:SetBucketSettings",
        "SetOrganizationSettings" => "cwobject:SetOrganizationSettings",
        "CreateUser" => "iam:CreateUser",
        "DeleteUser" => "iam:DeleteUser",
        "CreateToken" => "iam:CreateToken",
        "DeleteToken" => "iam:DeleteToken",
        "CreateSamlConfig" => "iam:CreateSamlConfig",
        "UpdateSamlConfig" => "iam:UpdateSamlConfig",
        "DeleteSamlConfig" => "iam:DeleteSamlConfig",
        "CreateOidcConfig" => "iam:CreateOidcConfig",
        "UpdateOidcConfig" => "iam:UpdateOidcConfig",
        "DeleteOidcConfig" => "iam:DeleteOidcConfig",
        _ => return None,
    })
}

/// Route layer of an audited RPC: names its action in the slot.
pub async fn mark(
    rpc: &'static str,
    action: Option<&'static str>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(slot) = req.extensions().get::<AuditSlot>() {
        slot.with(|f| {
            f.rpc = Some(rpc);
            if action.is_some() {
                f.action = action;
            }
        });
    }
    next.run(req).await
}

/// How the call ended, from the error the choke point is about to render.
pub fn classify(ok: bool, err: Option<&ApiError>) -> AuditResult {
    use coffer_core::Error;
    match err {
        None if ok => AuditResult::Allowed,
        Some(ApiError::Domain(Error::PermissionDenied(_) | Error::Unauthenticated(_))) => {
            AuditResult::Denied
        }
        _ => AuditResult::Error,
    }
}

/// What the choke point knows about the request itself.
pub struct CallInfo<'a> {
    pub started: OffsetDateTime,
    pub elapsed: Duration,
    pub source_ip: String,
    pub request_id: &'a str,
    pub result: AuditResult,
}

/// Records the event of an audited call when its org logs control-plane calls. `Ok`
/// when nothing is wanted or the event is durable.
pub async fn emit(
    state: &AppState,
    facts: AuditFacts,
    call: CallInfo<'_>,
) -> coffer_core::Result<()> {
    let (Some(action), Some(org_id)) = (facts.action, facts.org_id) else {
        return Ok(());
    };
    if !facts.force && !state.audit.control_plane_enabled(&org_id).await? {
        return Ok(());
    }
    let event = ControlPlaneEvent {
        event_id: new_event_id(),
        action: action.to_string(),
        principal: facts.principal.unwrap_or_default(),
        principal_role: facts.role.unwrap_or_default(),
        timestamp: timestamp(call.started),
        identifier: facts.identifier.unwrap_or_default(),
        duration_seconds: call.elapsed.as_secs_f64(),
        org_id: org_id.clone(),
        source_ip: call.source_ip,
        request_id: call.request_id.to_string(),
        result: call.result,
    };
    state
        .audit
        .record(AuditRecord::ControlPlane { org_id, event })
        .await
}
