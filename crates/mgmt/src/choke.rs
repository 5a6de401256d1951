//! The management API's choke point (DESIGN habit 2). Every request, routed or not:
//! 1. gets a fresh request id (extension [`RequestId`], response header `x-request-id`);
//! 2. runs its handler with panics captured (a panic becomes `Internal`, never a dropped
//!    connection);
//! 3. records the control-plane audit event of a mutating call ([`crate::audit`])
//!    before the response leaves; if it cannot be recorded, the call is answered
//!    `Internal` instead (an acknowledged call always has its event);
//! 4. has any [`PendingError`] rendered here, and only here, as
//!    `{"code","message","details":[]}` with the mapped HTTP status (on the Connect
//!    paths `/cwobject.v1.CWObject/…`: Connect's `{"code":"not_found","message"}` with
//!    Connect's status); `Internal` details are logged once, at error level, with the
//!    request id the client sees.
//!
//! Authentication and authorization run in the extractors of [`crate::auth`], inside
//! this layer; their failures come back here as `PendingError` like any other.

use crate::AppState;
use crate::audit::{self, AuditSlot, CallInfo};
use crate::error::{ApiError, PendingError};
use axum::Router;
use axum::body::Body;
use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use coffer_api::{ConnectErrorBody, ErrorBody, connect};
use coffer_core::conn::{BodyRead, ConnInfo};
use coffer_core::metrics::{Api, Served};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Uri};
use std::any::Any;
use std::sync::Arc;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;

/// The request id of the current request (request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps a fully routed router in the choke point.
pub fn layer(router: Router, state: AppState) -> Router {
    router
        // Inner: converts a panic into a `PendingError` response…
        .layer(CatchPanicLayer::custom(panic_response))
        // …which this outer layer renders like every other error.
        .layer(axum::middleware::from_fn_with_state(state, choke))
}

async fn choke(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = time::OffsetDateTime::now_utc();
    let clock = Instant::now();
    let id: Arc<str> = Arc::from(coffer_core::ids::new_hex_id());
    req.extensions_mut().insert(RequestId(id.clone()));
    let slot = AuditSlot::default();
    req.extensions_mut().insert(slot.clone());
    req.extensions_mut().insert(state.budget.clone());
    let source_ip = req
        .extensions()
        .get::<ConnInfo>()
        .map(|c| c.peer.ip().to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut exit = Exit {
        state: &state,
        id: &id,
        slot: &slot,
        source_ip: &source_ip,
        read: req.extensions().get::<BodyRead>().cloned(),
        clock,
        done: false,
    };
    let mut resp = next.run(req).await;
    let mut pending = resp.extensions_mut().remove::<PendingError>();
    let facts = slot.facts();
    if facts.action.is_some() {
        let call = CallInfo {
            started,
            elapsed: clock.elapsed(),
            source_ip: source_ip.clone(),
            request_id: &id,
            result: audit::classify(resp.status().is_success(), pending.as_ref().map(|p| &p.0)),
        };
        if let Err(e) = audit::emit(&state, facts, call).await {
            // The call's effect stands, but it is not acknowledged: the client sees an
            // error and may retry; the event of an answered-OK call is never missing.
            // A full spool under the `reject` policy is `unavailable` (retry later).
            let (err, status) = match e {
                coffer_core::Error::Unavailable(m) => (
                    coffer_core::Error::Unavailable(m),
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                ),
                e => (
                    coffer_core::Error::internal(format!("recording the audit event failed: {e}")),
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                ),
            };
            pending = Some(PendingError(ApiError::Domain(err)));
            resp = status.into_response();
        }
    }
    let mut error_code = None;
    if let Some(PendingError(err)) = pending {
        let style = if path.starts_with(connect::PATH_PREFIX) {
            Style::Connect
        } else {
            Style::Rest
        };
        error_code = Some(connect::code_name(err.code_and_status().0));
        resp = render(resp, &err, &id, &method, &path, style);
    }
    // The id is 32 hex chars, always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    exit.done = true;
    exit.record(
        resp.status().as_u16(),
        error_code,
        HttpBody::size_hint(resp.body()).exact().unwrap_or(0),
    );
    resp
}

/// The one exit of every management request: its metrics and access log line (path
/// parameters, bodies, tokens and keys are never in it: the RPC name stands for the
/// path), recorded once, when the choke point answers or, if the client goes away
/// first, when its future is dropped (status 499). The probes are not recorded.
struct Exit<'a> {
    state: &'a AppState,
    id: &'a str,
    slot: &'a AuditSlot,
    source_ip: &'a str,
    read: Option<BodyRead>,
    clock: Instant,
    done: bool,
}

impl Exit<'_> {
    fn record(&self, status: u16, error_code: Option<&'static str>, bytes_out: u64) {
        // The route's RPC name; `Unknown` for a path no route serves.
        let operation = self.slot.read(|f| f.rpc).unwrap_or("Unknown");
        if crate::health::is_probe_rpc(operation) {
            return;
        }
        let bytes_in = self.read.as_ref().map_or(0, BodyRead::get);
        let elapsed = self.clock.elapsed();
        self.state.metrics.observe(&Served {
            api: Api::Management,
            operation,
            status,
            error_code,
            bytes_in,
            bytes_out,
            elapsed,
        });
        if self.state.access_log {
            let (org, principal) = self.slot.read(|f| (f.org_id.clone(), f.principal.clone()));
            tracing::info!(
                target: "coffer::access",
                listener = "management",
                request_id = self.id,
                org = org.as_deref().unwrap_or(""),
                principal = principal.as_deref().unwrap_or(""),
                operation,
                status,
                bytes_in,
                bytes_out,
                duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                source_ip = self.source_ip,
            );
        }
    }
}

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.record(499, None, 0);
        }
    }
}

/// Error body shape: the REST routes' `{"code":<int>,…}` or Connect's
/// `{"code":"<name>",…}` (every path under `/cwobject.v1.CWObject/`).
#[derive(Clone, Copy)]
enum Style {
    Rest,
    Connect,
}

fn render(
    resp: Response,
    err: &ApiError,
    id: &str,
    method: &Method,
    path: &str,
    style: Style,
) -> Response {
    let (r, json) = match style {
        Style::Rest => {
            let r = err.render(id);
            let body = ErrorBody {
                code: r.code,
                message: r.message.clone(),
                details: Vec::new(),
            };
            // Serializing a struct of plain fields cannot fail; the fallback keeps the shape.
            let json = serde_json::to_vec(&body).unwrap_or_else(|_| {
                br#"{"code":13,"message":"internal error","details":[]}"#.to_vec()
            });
            (r, json)
        }
        Style::Connect => {
            let (r, name) = err.render_connect(id);
            let body = ConnectErrorBody {
                code: name.to_string(),
                message: r.message.clone(),
                details: Vec::new(),
            };
            let json = serde_json::to_vec(&body)
                .unwrap_or_else(|_| br#"{"code":"internal","message":"internal error"}"#.to_vec());
            (r, json)
        }
    };
    match &r.log_detail {
        Some(detail) => tracing::error!(
            request_id = id, %method, path, code = r.code, detail = %detail,
            "management API request failed"
        ),
        None => tracing::debug!(
            request_id = id, %method, path, code = r.code, message = %r.message,
            "management API request rejected"
        ),
    }
    // Keep the original headers (e.g. `Allow` on a 405), replace status and body.
    let (mut parts, _) = resp.into_parts();
    parts.status = r.status;
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(json))
}

fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string());
    ApiError::Domain(coffer_core::Error::internal(format!(
        "handler panicked: {msg}"
    )))
    .into_response()
}

/// Fallback for paths no route matches.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::not_found(format!("no such endpoint: {method} {path}"))
}

/// Fallback for a known path with a method it does not serve.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
