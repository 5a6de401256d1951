//! The HTTP-level wrapper around s3s's `S3Service`: the outermost S3 choke point.
//!
//! For every request it
//! 1. creates the request id and attaches it to the request extensions (the access
//!    check, handlers and logs reuse it);
//! 2. runs the request gates ([`crate::gates`]: SigV2 rejected, presign ≤ 7 days, every
//!    `x-amz-*` header signed, one auth mechanism, the listener's signing scope) before
//!    s3s does any work (no key lookup, no signature computation, no body read), then
//!    re-signs requests whose SigV4 region s3s would refuse ([`crate::resign`]);
//! 3. serves form uploads itself ([`crate::post_object`]: s3s would buffer them whole
//!    before verifying anything);
//! 4. after s3s answered, makes sure the response carries `x-amz-request-id` and that an
//!    S3 XML error body carries `Resource` and `RequestId` — including the errors s3s
//!    produces itself (signature mismatch, malformed requests, routing), which the
//!    gateway never sees;
//! 5. records the data-plane audit event of a request on a logged bucket
//!    ([`crate::audit`]) before the response is returned — also of requests the gates
//!    or s3s refuse before the access check — and a request whose event cannot be
//!    recorded is answered `InternalError` instead (503 `SlowDown` when the spool is
//!    full under the `reject` policy; then requests on logged buckets are refused
//!    before they run);
//! 6. with CORS enabled ([`S3HttpService::with_cors`]): answers `OPTIONS` preflights
//!    itself, unauthenticated (s3s does not route them), and adds `Access-Control-*`
//!    headers to every response — errors included — whose request's `Origin` and method
//!    a bucket's CORS rule allows ([`crate::cors`]).
//!
//! Before all of that, `GET`/`HEAD /-/healthz` (path-style; no bucket can be named `-`)
//! answers 200 `ok` without authentication, gates or audit: the listener's liveness probe
//! for load balancers ([`HEALTH_PATH`]).

use crate::audit::{Exchange, S3AuditSlot, Target};
use crate::cache_origin::{Arrival, CacheOrigin};
use crate::cors::{CorsResponder, Preflight};
use crate::errors::REQUEST_ID_HEADER;
use crate::gates::precheck;
use crate::post_object::{FormUploads, Refusal};
use crate::reqid::RequestId;
use crate::resign::{RegionNormalizer, SignedPath};
use bytes::Bytes;
use coffer_core::audit::AuditService;
use coffer_core::conn::{BodyRead, ConnInfo};
use coffer_core::metrics::{Api, RequestMetrics, Served};
use futures::future::BoxFuture;
use http::HeaderValue;
use s3s::service::S3Service;
use s3s::{Body, HttpError, HttpRequest, HttpResponse, S3Error, S3ErrorCode};
use std::sync::Arc;
use std::time::Instant;

/// `S3Service` plus the request-id and gate handling above. Cheap to clone.
#[derive(Clone)]
pub struct S3HttpService {
    inner: S3Service,
    normalizer: Arc<RegionNormalizer>,
    /// `None`: no data-plane audit events (services built without a server).
    audit: Option<Arc<AuditService>>,
    /// `None`: no CORS handling (preflights go to s3s, which refuses them).
    cors: Option<Arc<CorsResponder>>,
    /// Virtual-hosted-style suffix, to attribute requests s3s rejects to their bucket.
    domain: Option<Arc<crate::host::DomainHost>>,
    /// `None`: form uploads are refused (s3s must never read one).
    forms: Option<Arc<FormUploads>>,
    /// One `coffer::access` log line per request ([`Exit`]).
    access_log: bool,
    /// `None`: no request metrics.
    metrics: Option<RequestMetrics>,
    /// `None`: requests from compute-node caches are refused.
    cache: Option<Arc<CacheOrigin>>,
}

impl std::fmt::Debug for S3HttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3HttpService").finish_non_exhaustive()
    }
}

/// Largest error body we rewrite (s3s error bodies are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;

impl S3HttpService {
    pub fn new(
        inner: S3Service,
        normalizer: RegionNormalizer,
        audit: Option<Arc<AuditService>>,
    ) -> Self {
        Self {
            inner,
            normalizer: Arc::new(normalizer),
            audit,
            cors: None,
            domain: None,
            forms: None,
            access_log: false,
            metrics: None,
            cache: None,
        }
    }

    /// Serves compute-node caches ([`crate::cache_origin`]) with `origin`.
    #[must_use]
    pub fn with_cache_nodes(mut self, origin: Option<CacheOrigin>) -> Self {
        self.cache = origin.map(Arc::new);
        self
    }

    /// Counts every request in `metrics` (operation, status, error code, latency, bytes).
    #[must_use]
    pub fn with_metrics(mut self, metrics: RequestMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Logs one structured line per request (target `coffer::access`, level INFO):
    /// request id, principal, operation, bucket, status, bytes in and out, duration.
    /// Never keys' names, headers, signatures, tokens or secrets.
    #[must_use]
    pub fn with_access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    /// Serves form uploads with `forms` (otherwise they are refused).
    #[must_use]
    pub fn with_forms(mut self, forms: FormUploads) -> Self {
        self.forms = Some(Arc::new(forms));
        self
    }

    /// Sets the virtual-hosted-style domain (as given to s3s).
    #[must_use]
    pub fn with_domain(mut self, domain: Option<&str>) -> Self {
        self.domain = domain
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| Arc::new(crate::host::DomainHost::new(d)));
        self
    }

    /// The bucket a virtual-hosted-style host name addresses, if any.
    fn host_bucket(&self, host: Option<&str>) -> Option<String> {
        use s3s::host::S3Host;
        match (&self.domain, host) {
            (Some(d), Some(h)) => d
                .parse_host_header(h)
                .ok()
                .and_then(|v| v.bucket().map(str::to_string)),
            _ => None,
        }
    }

    /// Whether a request is the liveness probe: `GET`/`HEAD` [`HEALTH_PATH`], addressed
    /// path-style (with a virtual-hosted bucket in `Host`, or in an HTTP/2 request's
    /// authority, it is that bucket's key `-/healthz`). The accept loop lets the probe
    /// past the in-flight bound with this same test, so it must never admit a request
    /// the service would serve as anything but the probe.
    pub fn is_health_probe(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> bool {
        if !matches!(*method, http::Method::GET | http::Method::HEAD) || uri.path() != HEALTH_PATH {
            return false;
        }
        let host = header_str(headers, "host").or_else(|| uri.authority().map(|a| a.as_str()));
        self.host_bucket(host).is_none_or(|b| b == "-")
    }

    /// The bucket, key and operation of a request, read from its request line.
    fn target_of(&self, req: &HttpRequest) -> Target {
        let host_bucket = self.host_bucket(header_str(req.headers(), "host"));
        Target::of_request(
            req.method(),
            req.uri().path(),
            req.uri().query(),
            host_bucket.as_deref(),
            req.headers().contains_key("x-amz-copy-source"),
        )
    }

    /// The liveness probe's answer ([`Self::is_health_probe`]).
    fn health(&self, req: &HttpRequest) -> Option<HttpResponse> {
        if !self.is_health_probe(req.method(), req.uri(), req.headers()) {
            return None;
        }
        let body = if req.method() == http::Method::HEAD {
            Body::empty()
        } else {
            Body::from(Bytes::from_static(b"ok"))
        };
        let mut resp = HttpResponse::new(body);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        Some(resp)
    }

    /// Answers CORS preflights and adds `Access-Control-*` headers to responses of
    /// requests whose `Origin` a bucket's CORS rules allow.
    pub fn with_cors(mut self, cors: CorsResponder) -> Self {
        self.cors = Some(Arc::new(cors));
        self
    }

    /// The wrapped service (without the wrapper's guarantees).
    pub fn inner(&self) -> &S3Service {
        &self.inner
    }

    /// Serves one request.
    ///
    /// # Errors
    /// Only when s3s fails to produce a response at all (connection-level failure).
    pub async fn call(&self, mut req: HttpRequest) -> Result<HttpResponse, HttpError> {
        host_from_authority(&mut req);
        if let Some(resp) = self.health(&req) {
            return Ok(resp);
        }
        let clock = Instant::now();
        let rid = RequestId::of(req.extensions_mut());
        let target = self.target_of(&req);
        let slot = S3AuditSlot::default();
        req.extensions_mut().insert(slot.clone());
        let mut exit = Exit {
            svc: self,
            rid: &rid,
            target: &target,
            slot: &slot,
            peer: req.extensions().get::<ConnInfo>().map(|c| c.peer.ip()),
            read: req.extensions().get::<BodyRead>().cloned(),
            decoded_length: header_u64(req.headers(), "x-amz-decoded-content-length"),
            clock,
            done: false,
        };
        let result = self.arrive(req, &target, &slot, &rid).await;
        exit.done = true;
        exit.record(match &result {
            Ok(resp) => Ended::Answered(resp),
            Err(_) => Ended::Failed,
        });
        result
    }

    /// Requests from compute-node caches recognized ([`CacheOrigin::arrive`]; fills are
    /// answered there), then [`Self::route`].
    async fn arrive(
        &self,
        mut req: HttpRequest,
        target: &Target,
        slot: &S3AuditSlot,
        rid: &RequestId,
    ) -> Result<HttpResponse, HttpError> {
        match CacheOrigin::arrive(self.cache.as_deref(), &mut req).await {
            Arrival::Direct => {}
            Arrival::Through(node) => slot.with(|f| f.cache_node = Some(node)),
            Arrival::Filled(mut resp) => {
                finish(&mut resp, rid, req.uri().path());
                return Ok(resp);
            }
            Arrival::Refused(r) => {
                req.extensions_mut().insert(r);
            }
        }
        self.route(req, target, slot).await
    }

    /// CORS around the request (preflights answered here), then the request itself.
    async fn route(
        &self,
        req: HttpRequest,
        target: &Target,
        slot: &S3AuditSlot,
    ) -> Result<HttpResponse, HttpError> {
        let Some(cors) = &self.cors else {
            return self.call_inner(req, target, slot).await;
        };
        if req.method() == http::Method::OPTIONS {
            return self.preflight(cors, req).await;
        }
        let matched = if req.headers().contains_key("origin") {
            cors.actual(req.headers(), req.method().as_str(), req.uri().path())
                .await
        } else {
            None
        };
        let mut resp = self.call_inner(req, target, slot).await?;
        if let Some((rule, origin)) = matched {
            crate::cors::apply_actual(resp.headers_mut(), &rule, &origin);
        }
        Ok(resp)
    }

    /// A CORS preflight: no authentication, no handler; 200 with the allowed
    /// `Access-Control-*` headers or 403 `CORSResponse`.
    async fn preflight(
        &self,
        cors: &CorsResponder,
        mut req: HttpRequest,
    ) -> Result<HttpResponse, HttpError> {
        let rid = RequestId::of(req.extensions_mut());
        let path = req.uri().path().to_string();
        let mut resp = match cors.preflight(req.headers(), &path).await {
            Preflight::Allowed(h) => {
                let mut r = HttpResponse::new(Body::empty());
                *r.headers_mut() = h;
                r
            }
            Preflight::Denied(e) => e
                .to_http_response()
                .map_err(|e| HttpError::new(Box::new(e)))?,
        };
        finish(&mut resp, &rid, &path);
        Ok(resp)
    }

    async fn call_inner(
        &self,
        mut req: HttpRequest,
        target: &Target,
        slot: &S3AuditSlot,
    ) -> Result<HttpResponse, HttpError> {
        let rid = RequestId::of(req.extensions_mut());
        let path = req.uri().path().to_string();
        let started = time::OffsetDateTime::now_utc();
        let mounted = req.extensions().get::<SignedPath>().is_some();
        let refused = match req.extensions().get::<crate::cache_origin::Refusal>() {
            Some(node) => Err((node.to_s3_error(), None)),
            None => precheck(req.uri().query(), req.headers(), mounted).map_err(|r| {
                tracing::debug!(request_id = %rid, reason = r.message, "s3 request rejected before authentication");
                (r.to_s3_error(), r.headers_not_signed)
            }),
        };
        if let Err((err, headers_not_signed)) = refused {
            let mut resp = refusal_response(err, headers_not_signed.as_deref())?;
            finish(&mut resp, &rid, &path);
            if let Some(audit) = &self.audit {
                let mut facts = crate::audit::S3AuditFacts::default();
                crate::audit::attribute(&mut facts, target);
                let x = Exchange {
                    started,
                    request_id: rid.as_str(),
                    source_ip: source_ip_of(&req),
                    host: host_of(&req),
                    http_status: resp.status().as_u16(),
                    bytes_sent: header_u64(resp.headers(), "content-length").unwrap_or(0),
                    bytes_received: 0,
                };
                if let Err(e) = crate::audit::emit(audit, facts, x).await {
                    return audit_failed(&e, &rid, &path);
                }
            }
            return Ok(resp);
        }
        req.extensions_mut().insert(crate::gates::Prechecked);
        let Some(audit) = &self.audit else {
            let mut resp = self.dispatch(req, target, &rid).await?;
            finish(&mut resp, &rid, &path);
            return Ok(resp);
        };
        let source_ip = source_ip_of(&req);
        let host = host_of(&req);
        if audit.saturated() {
            // Spool full under the `reject` policy: refuse requests on logged buckets
            // before they run, so nothing is done that could not be audited.
            let logged = match target.bucket.as_deref() {
                Some(b) => audit.logged_bucket_owner(b).await.map(|o| o.is_some()),
                None => Ok(false),
            };
            if !matches!(logged, Ok(false)) {
                audit.refused();
                let e = coffer_core::Error::Unavailable("the audit log spool is full".into());
                return audit_failed(&e, &rid, &path);
            }
        }
        let bytes_received = request_bytes(req.headers());
        slot.with(|f| {
            f.arrival = Some(crate::audit::Arrival {
                started,
                request_id: rid.as_str().to_string(),
                source_ip: source_ip.clone(),
                host: host.clone(),
                bytes_received,
            })
        });
        let mut resp = self.dispatch(req, target, &rid).await?;
        finish(&mut resp, &rid, &path);
        // Through a compute-node cache, what the client receives (from the node).
        let bytes_sent = header_u64(resp.headers(), coffer_core::cache_node::LENGTH_HEADER)
            .unwrap_or_else(|| response_bytes(&resp));
        let x = Exchange {
            started,
            request_id: rid.as_str(),
            source_ip,
            host,
            http_status: resp.status().as_u16(),
            bytes_sent,
            bytes_received,
        };
        let mut facts = slot.facts();
        crate::audit::attribute(&mut facts, target);
        if let Err(e) = crate::audit::emit(audit, facts, x).await {
            return audit_failed(&e, &rid, &path);
        }
        Ok(resp)
    }

    /// Runs a request that passed the gates: form uploads here, everything else through
    /// s3s with its buffered body reserved.
    async fn dispatch(
        &self,
        mut req: HttpRequest,
        target: &Target,
        rid: &RequestId,
    ) -> Result<HttpResponse, HttpError> {
        if crate::request_line::is_form_post(&req) {
            let outcome = match &self.forms {
                Some(forms) => forms.serve(req, target).await,
                None => Err(Refusal::from(crate::errors::s3(
                    S3ErrorCode::NotImplemented,
                    "Form uploads are not served here",
                    rid.as_str(),
                ))),
            };
            return match outcome {
                Ok(resp) => Ok(resp),
                Err(r) => refusal_response(r.error, r.headers_not_signed.as_deref()),
            };
        }
        if !self.normalizer.apply(&mut req).await {
            return refusal_response(
                S3Error::with_message(
                    S3ErrorCode::SignatureDoesNotMatch,
                    crate::errors::SIGNATURE_MISMATCH_MESSAGE,
                ),
                None,
            );
        }
        let attributes = req.method() == http::Method::GET
            && target.key.is_some()
            && crate::request_line::query_pairs(req.uri().query().unwrap_or(""))
                .iter()
                .any(|(k, _)| k == "attributes");
        let mut resp = self.inner.call(req).await?;
        if attributes && resp.status() == http::StatusCode::OK {
            unquote_attributes_etag(&mut resp);
        }
        Ok(resp)
    }
}

/// GetObjectAttributes reports the ETag without quotes (S3 does; SDKs compare it with the
/// unquoted value), but s3s 0.14 writes every XML `ETag` quoted. The answer's only `ETag`
/// element is the object's (parts carry none), so its quotes are removed here.
fn unquote_attributes_etag(resp: &mut HttpResponse) {
    let Some(bytes) = resp.body().bytes() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return;
    };
    let Some(start) = text.find("<ETag>\"") else {
        return;
    };
    let value_start = start + "<ETag>\"".len();
    let Some(len) = text[value_start..].find("\"</ETag>") else {
        return;
    };
    let fixed = format!(
        "{}<ETag>{}</ETag>{}",
        &text[..start],
        &text[value_start..value_start + len],
        &text[value_start + len + "\"</ETag>".len()..]
    );
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    *resp.body_mut() = Body::from(Bytes::from(fixed));
}

/// An S3 error response, with S3's `HeadersNotSigned` element when given.
fn refusal_response(
    err: S3Error,
    headers_not_signed: Option<&str>,
) -> Result<HttpResponse, HttpError> {
    let mut resp = err
        .to_http_response()
        .map_err(|e| HttpError::new(Box::new(e)))?;
    if let Some(names) = headers_not_signed
        && let Some(body) = resp.body().bytes()
        && let Ok(text) = std::str::from_utf8(&body)
        && let Some(fixed) = insert_into_error(
            text,
            &format!("<HeadersNotSigned>{}</HeadersNotSigned>", xml_escape(names)),
        )
    {
        resp.headers_mut().remove(http::header::CONTENT_LENGTH);
        *resp.body_mut() = Body::from(Bytes::from(fixed));
    }
    Ok(resp)
}

fn source_ip_of(req: &HttpRequest) -> String {
    req.extensions()
        .get::<ConnInfo>()
        .map(|c| c.peer.ip().to_string())
        .unwrap_or_default()
}

fn host_of(req: &HttpRequest) -> String {
    header_str(req.headers(), "host")
        .map(str::to_string)
        .unwrap_or_default()
}

/// An HTTP/2 request names its host in `:authority` (the URI), not in a `Host` header.
/// Everything that reads the host (SigV4's signed `host`, the region re-signing,
/// virtual-hosted buckets, CORS, form uploads, audit) reads the `Host` header, so it is
/// filled from the authority once, here, as RFC 9113 §8.3.1 tells a server that hands
/// the request on in HTTP/1.1 terms. A `Host` header that is present is never replaced.
fn host_from_authority(req: &mut HttpRequest) {
    if req.headers().contains_key(http::header::HOST) {
        return;
    }
    if let Some(v) = req
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(http::header::HOST, v);
    }
}

/// The answer to a request whose audit event could not be recorded: 503 SlowDown when
/// the spool is full (policy `reject`), `InternalError` otherwise.
fn audit_failed(
    e: &coffer_core::Error,
    rid: &RequestId,
    path: &str,
) -> Result<HttpResponse, HttpError> {
    let err = if let coffer_core::Error::Unavailable(_) = e {
        tracing::warn!(request_id = %rid, error = %e, "audit spool full; request refused");
        let mut err = S3Error::with_message(
            S3ErrorCode::SlowDown,
            "Please reduce your request rate (the audit log is catching up).",
        );
        err.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
        err
    } else {
        tracing::error!(request_id = %rid, error = %e, "recording the audit event failed");
        S3Error::with_message(
            S3ErrorCode::InternalError,
            "We encountered an internal error. Please try again.",
        )
    };
    let mut resp = err
        .to_http_response()
        .map_err(|e| HttpError::new(Box::new(e)))?;
    finish(&mut resp, rid, path);
    Ok(resp)
}

fn header_str<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// How a request left [`S3HttpService::call`].
enum Ended<'a> {
    Answered(&'a HttpResponse),
    /// s3s produced no response (connection-level failure): counted as 500.
    Failed,
    /// The client went away before the response (the future was dropped): 499, as
    /// nginx logs it.
    Cancelled,
}

/// The one exit of every request the S3 listener serves (the probe aside): records its
/// metrics and access log line exactly once, when `call` finishes or, if the client
/// goes away first, when its future is dropped.
struct Exit<'a> {
    svc: &'a S3HttpService,
    rid: &'a RequestId,
    target: &'a Target,
    slot: &'a S3AuditSlot,
    /// The client's address (formatted only for the access log).
    peer: Option<std::net::IpAddr>,
    read: Option<BodyRead>,
    decoded_length: Option<u64>,
    clock: Instant,
    done: bool,
}

impl Exit<'_> {
    fn record(&self, ended: Ended<'_>) {
        let svc = self.svc;
        if svc.metrics.is_none() && !svc.access_log {
            return;
        }
        let (status, bytes_out, code) = match ended {
            Ended::Answered(resp) => (
                resp.status().as_u16(),
                response_bytes(resp),
                error_code(resp),
            ),
            Ended::Failed => (500, 0, None),
            Ended::Cancelled => (499, 0, None),
        };
        let operation = self
            .slot
            .read(|f| f.op.clone())
            .unwrap_or_else(|| self.target.op.clone());
        let bytes_in = self
            .read
            .as_ref()
            .map_or(0, |r| r.payload(self.decoded_length));
        let elapsed = self.clock.elapsed();
        if let Some(m) = &svc.metrics {
            m.observe(&Served {
                api: Api::S3,
                operation: &operation,
                status,
                error_code: code.as_deref(),
                bytes_in,
                bytes_out,
                elapsed,
            });
        }
        if svc.access_log {
            let (bucket, principal) = self.slot.read(|f| (f.bucket.clone(), f.principal.clone()));
            let bucket = bucket.or_else(|| self.target.bucket.clone());
            let (org, principal) = match &principal {
                Some((o, p)) => (o.as_str(), p.as_str()),
                None => ("", crate::audit::ANONYMOUS_PRINCIPAL),
            };
            tracing::info!(
                target: "coffer::access",
                listener = "s3",
                request_id = self.rid.as_str(),
                org,
                principal,
                operation,
                bucket = bucket.as_deref().unwrap_or(""),
                status,
                bytes_in,
                bytes_out,
                duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                source_ip = %self.peer.map(|ip| ip.to_string()).unwrap_or_default(),
            );
        }
    }
}

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.record(Ended::Cancelled);
        }
    }
}

/// The request body's announced size (aws-chunked bodies announce their payload's
/// separately).
fn request_bytes(h: &http::HeaderMap) -> u64 {
    header_u64(h, "x-amz-decoded-content-length")
        .or_else(|| header_u64(h, "content-length"))
        .unwrap_or(0)
}

/// The response body's announced size.
fn response_bytes(resp: &HttpResponse) -> u64 {
    header_u64(resp.headers(), "content-length")
        .or_else(|| resp.body().bytes().map(|b| b.len() as u64))
        .unwrap_or(0)
}

/// The S3 error code of an error response with an XML body (`None` for HEAD, whose
/// errors have no body, and for anything that is not an S3 error document).
fn error_code(resp: &HttpResponse) -> Option<String> {
    if !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return None;
    }
    let body = resp.body().bytes()?;
    let text = std::str::from_utf8(&body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = &text[start..start + len];
    code.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.')
        .then(|| code.to_string())
}

/// The S3 listener's liveness probe path: `-` is no bucket name, so no request for a
/// bucket or object can mean it.
pub const HEALTH_PATH: &str = "/-/healthz";

fn header_u64(h: &http::HeaderMap, name: &str) -> Option<u64> {
    header_str(h, name).and_then(|v| v.trim().parse().ok())
}

/// Adds `x-amz-request-id` and completes S3 XML error bodies.
fn finish(resp: &mut HttpResponse, rid: &RequestId, path: &str) {
    if !resp.headers().contains_key(REQUEST_ID_HEADER)
        && let Ok(v) = HeaderValue::from_str(rid.as_str())
    {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    if !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return;
    }
    let is_xml = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/xml"));
    if !is_xml {
        return;
    }
    let Some(bytes) = resp.body().bytes() else {
        return;
    };
    if bytes.len() > MAX_ERROR_BODY {
        return;
    }
    if let Some(fixed) = complete_error_xml(&bytes, rid.as_str(), path) {
        resp.headers_mut().remove(http::header::CONTENT_LENGTH);
        *resp.body_mut() = Body::from(Bytes::from(fixed));
    }
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// Inserts `<Resource>` and `<RequestId>` into an `<Error>` document that lacks them;
/// `None` if nothing needs to change or the body is not an S3 error document.
fn complete_error_xml(body: &[u8], rid: &str, path: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("<Error>") || !text.contains("</Error>") {
        return None;
    }
    let mut add = String::new();
    if !text.contains("<Resource>") {
        add.push_str("<Resource>");
        add.push_str(&xml_escape(path));
        add.push_str("</Resource>");
    }
    if !text.contains("<RequestId>") {
        add.push_str("<RequestId>");
        add.push_str(&xml_escape(rid));
        add.push_str("</RequestId>");
    }
    if add.is_empty() {
        return None;
    }
    insert_into_error(text, &add)
}

/// `text`, an S3 `<Error>` document, with `elements` added before its closing tag.
fn insert_into_error(text: &str, elements: &str) -> Option<String> {
    let end = text.rfind("</Error>")?;
    Some(format!("{}{elements}{}", &text[..end], &text[end..]))
}

/// Any request body a listener hands over (hyper's, or one wrapped with timeouts).
impl<B> hyper::service::Service<http::Request<B>> for S3HttpService
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    Box<dyn std::error::Error + Send + Sync>: From<B::Error>,
{
    type Response = HttpResponse;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<HttpResponse, HttpError>>;

    fn call(&self, req: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.call(req.map(Body::http_body)).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_etag_loses_its_quotes() {
        let xml = r#"<?xml version="1.0"?><GetObjectAttributesResponse><ETag>"abc-2"</ETag><ObjectSize>3</ObjectSize></GetObjectAttributesResponse>"#;
        let mut resp = HttpResponse::new(Body::from(Bytes::from_static(xml.as_bytes())));
        unquote_attributes_etag(&mut resp);
        let out = String::from_utf8(resp.body().bytes().unwrap().to_vec()).unwrap();
        assert_eq!(out, xml.replace("\"abc-2\"", "abc-2"));
        // Nothing to do without a quoted ETag.
        let plain =
            "<GetObjectAttributesResponse><ObjectSize>3</ObjectSize></GetObjectAttributesResponse>";
        let mut resp = HttpResponse::new(Body::from(Bytes::from_static(plain.as_bytes())));
        unquote_attributes_etag(&mut resp);
        assert_eq!(resp.body().bytes().unwrap(), plain.as_bytes());
    }

    #[test]
    fn http2_authority_becomes_the_host_header() {
        let req = |uri: &str, host: Option<&str>| {
            let mut b = http::Request::builder().uri(uri);
            if let Some(h) = host {
                b = b.header("host", h);
            }
            b.body(Body::empty()).unwrap()
        };
        let mut r = req("https://bkt.s3.example.com:8443/k?x=1", None);
        host_from_authority(&mut r);
        assert_eq!(host_of(&r), "bkt.s3.example.com:8443");
        // HTTP/1.1: the Host header stands, whatever an absolute URI says.
        let mut r = req("http://other.example.com/k", Some("bkt.s3.example.com"));
        host_from_authority(&mut r);
        assert_eq!(host_of(&r), "bkt.s3.example.com");
        let mut r = req("/k", None);
        host_from_authority(&mut r);
        assert_eq!(host_of(&r), "");
    }

    #[test]
    fn error_xml_is_completed_once() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code></Error>"#;
        let out = complete_error_xml(body, "ABC", "/b/k&x").unwrap();
        assert!(out.contains("<Resource>/b/k&amp;x</Resource><RequestId>ABC</RequestId></Error>"));
        assert!(complete_error_xml(out.as_bytes(), "ABC", "/b/k").is_none());
        let with_id = br#"<Error><Code>X</Code><RequestId>R1</RequestId></Error>"#;
        let out = complete_error_xml(with_id, "R2", "/b").unwrap();
        assert!(out.contains("<RequestId>R1</RequestId>") && !out.contains("R2"));
        assert!(out.contains("<Resource>/b</Resource>"));
        assert!(complete_error_xml(b"<ListBucketResult/>", "R", "/").is_none());
        assert!(complete_error_xml(&[0xff, 0xfe], "R", "/").is_none());
    }
}
