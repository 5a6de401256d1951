//! What the management listener serves: the management API, the web console's files
//! ([`coffer_mgmt::console`]) and the console's same-origin S3 mount.
//!
//! The mount exists because the browser may only talk to its own origin under the
//! console's Content-Security-Policy, and the S3 listener is another origin (port).
//! A request to `/console/s3/<rest>` is handed, in-process, to the very S3 service the
//! S3 listener serves, with the path rewritten to `/<rest>` and every header (`Host`
//! included) kept. Clients (the browser, or any SDK given the endpoint
//! `http://<mgmt>/console/s3` and the region `coffer-console`) sign SigV4 for the URL
//! they request; the mount passes that path along as
//! [`coffer_s3::resign::SignedPath`], and the S3 service verifies the signature over it
//! before re-signing for `/<rest>` (see `coffer_s3::resign`), refusing a signed request
//! that does not verify there. The request is then authenticated and authorized like
//! any other (no shortcut, no extra privilege).
//!
//! Invariant: a signature is valid on the mount or on the S3 listener, never on both:
//! the mount's signing scope is its own SigV4 region (`coffer_s3::gates::CONSOLE_REGION`),
//! which the S3 listener refuses (`/console/s3/b/k` signed for the S3 listener would mean
//! bucket `console`, key `s3/b/k`).
//!
//! Invariant: nothing served from the mount can act as active content in the console's
//! origin: its responses carry `Content-Security-Policy: sandbox; default-src 'none'`
//! and `nosniff`, and every body is relabelled `application/octet-stream` (so an
//! uploaded object can neither render as a page that runs script nor be loaded as a
//! script by one). The console reads listings and errors as text, whatever the label.

use crate::guard::GuardedBody;
use bytes::Bytes;
use coffer_mgmt::console::{S3_MOUNT, secure_headers};
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response, Uri, header};
use std::convert::Infallible;
use tower::ServiceExt;

/// The management listener's service: mount, console files, then the API.
#[derive(Clone)]
pub struct ApiService {
    api: axum::Router,
    console: axum::Router,
    s3: coffer_s3::S3HttpService,
}

impl ApiService {
    pub fn new(api: axum::Router, console: axum::Router, s3: coffer_s3::S3HttpService) -> Self {
        Self { api, console, s3 }
    }
}

/// `/rest` for a request under the mount (`/console/s3` alone is the service root `/`).
fn mounted_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(S3_MOUNT)?;
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

fn is_console(path: &str) -> bool {
    path == coffer_mgmt::console::PREFIX
        || path.starts_with(&format!("{}/", coffer_mgmt::console::PREFIX))
}

impl ApiService {
    async fn call_s3(
        s3: coffer_s3::S3HttpService,
        mut req: Request<GuardedBody>,
        rest: String,
    ) -> Response<axum::body::Body> {
        let pq = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest,
        };
        let signed = coffer_s3::resign::SignedPath(req.uri().path().to_string());
        req.extensions_mut().insert(signed);
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = pq.parse().ok();
        match Uri::from_parts(parts) {
            Ok(u) => *req.uri_mut() = u,
            Err(_) => return plain(http::StatusCode::BAD_REQUEST, "malformed request path"),
        }
        let resp = match s3.call(req.map(s3s::Body::http_body)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = ?e, "console S3 mount: no response");
                return plain(http::StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        let mut resp = resp.map(axum::body::Body::new);
        let h = resp.headers_mut();
        if h.contains_key(header::CONTENT_TYPE) {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        resp
    }
}

fn plain(status: http::StatusCode, msg: &'static str) -> Response<axum::body::Body> {
    let mut r = Response::new(axum::body::Body::from(Bytes::from_static(msg.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure_headers(r.headers_mut());
    r
}

impl hyper::service::Service<Request<GuardedBody>> for ApiService {
    type Response = Response<axum::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<GuardedBody>) -> Self::Future {
        let path = req.uri().path();
        if let Some(rest) = mounted_path(path) {
            let rest = rest.to_string();
            let s3 = self.s3.clone();
            return Box::pin(async move { Ok(Self::call_s3(s3, req, rest).await) });
        }
        let router = if is_console(path) {
            self.console.clone()
        } else {
            self.api.clone()
        };
        Box::pin(async move { router.oneshot(req).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_prefix_is_matched_by_segment() {
        assert_eq!(mounted_path("/console/s3"), Some("/"));
        assert_eq!(mounted_path("/console/s3/"), Some("/"));
        assert_eq!(mounted_path("/console/s3/b/k/x"), Some("/b/k/x"));
        assert_eq!(mounted_path("/console/s3x/b"), None);
        assert_eq!(mounted_path("/console/app.js"), None);
        assert!(is_console("/console") && is_console("/console/"));
        assert!(!is_console("/consoled") && !is_console("/v1/iam/whoami"));
    }
}
