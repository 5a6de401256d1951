//! The web console's static side (`/console/`): the HTML, CSS and ES modules compiled
//! into the binary with `include_bytes!` (no JavaScript build step), and
//! `/console/config.json`, the few server facts the browser cannot know.
//!
//! The console is only a client: every data call it makes goes to `/v1/cwobject`,
//! `/v1/iam` or S3 with the signed-in user's own API token (or a temporary key minted
//! from it), so it can do nothing the caller could not do with curl. These routes
//! therefore need no authentication and touch no state.
//!
//! Not in [`crate::routes::ROUTES`]: that table lists API operations (documented in
//! OpenAPI, served over Connect); these are files. The same-origin S3 mount under
//! [`S3_MOUNT`] is composed by the server (this crate must not depend on the S3 crate).
//!
//! Invariant: every response here carries [`CSP`] and `X-Content-Type-Options: nosniff`;
//! the assets contain no inline script or style, so the policy can forbid both.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// Where the console lives on the management listener.
pub const PREFIX: &str = "/console";
/// Requests under this prefix are S3 requests: the server strips it and hands the rest
/// (`/bucket/key?query`) to the S3 service in-process, keeping the `Host` header.
pub const S3_MOUNT: &str = "/console/s3";

/// Scripts, styles, images, fetches: own origin only; nothing inline, no plugins, no
/// framing, no `<base>` rewrites.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; object-src 'none'; frame-ancestors 'none'; \
                       base-uri 'none'; form-action 'self'";

/// One embedded file.
pub struct Asset {
    /// File name under `/console/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $ct:expr) => {
        Asset {
            name: $name,
            content_type: $ct,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console. `index.html` is also served at `/console/`.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("sigv4.js", JS),
    asset!("s3.js", JS),
    asset!("upload.js", JS),
    asset!("page-buckets.js", JS),
    asset!("page-keys.js", JS),
    asset!("page-policies.js", JS),
    asset!("page-org.js", JS),
    asset!("page-audit.js", JS),
];

/// Server facts for the console (`/console/config.json`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleConfig {
    /// Base URL of the S3 listener as clients reach it (presigned links point there);
    /// `None` when it cannot be known (e.g. bound to a wildcard address): the console
    /// then presigns against the same-origin mount.
    pub s3_endpoint: Option<String>,
    /// SigV4 region of presigned links to the S3 listener (any non-empty region but the
    /// mount's is accepted there).
    pub region: String,
    /// SigV4 region of requests through the mount: its own signing scope, which the S3
    /// listener refuses, so that no signature is valid on both.
    pub mount_region: &'static str,
    /// Path of the same-origin S3 mount.
    pub s3_mount: &'static str,
}

/// The console routes; merged into the management router by the server.
pub fn router(config: ConsoleConfig) -> Router {
    let config =
        std::sync::Arc::new(serde_json::to_vec(&config).expect("ConsoleConfig serializes to JSON"));
    Router::new()
        .route(PREFIX, get(|| async { redirect(&format!("{PREFIX}/")) }))
        .route(&format!("{PREFIX}/"), get(|| async { asset("index.html") }))
        .route(
            &format!("{PREFIX}/config.json"),
            get(move || {
                let body = config.clone();
                async move {
                    with_headers(
                        StatusCode::OK,
                        "application/json",
                        Body::from(body.as_ref().clone()),
                    )
                }
            }),
        )
        .route(
            &format!("{PREFIX}/{{file}}"),
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
        // Anything else under the prefix (nested paths): the same 404.
        .fallback(|| async { asset("") })
        // Responses axum produces itself (405) carry the headers too.
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                secure_headers(r.headers_mut());
                r
            },
        ))
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => with_headers(StatusCode::OK, a.content_type, Body::from(a.body)),
        None => with_headers(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Body::from("not found"),
        ),
    }
}

fn redirect(to: &str) -> Response {
    let mut r = with_headers(
        StatusCode::MOVED_PERMANENTLY,
        "text/plain; charset=utf-8",
        Body::empty(),
    );
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Adds the security headers every console response carries.
pub fn secure_headers(headers: &mut http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Assets change with the binary; revalidate instead of serving a stale console.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

fn with_headers(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure_headers(r.headers_mut());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_have_no_inline_code_or_html_sinks() {
        for a in ASSETS {
            let text = std::str::from_utf8(a.body).expect("assets are UTF-8");
            // The CSP forbids inline code; keep the sources honest about it too.
            assert!(!text.contains("innerHTML"), "{} uses innerHTML", a.name);
            assert!(!text.contains("outerHTML"), "{} uses outerHTML", a.name);
            assert!(
                !text.contains("insertAdjacentHTML"),
                "{} uses insertAdjacentHTML",
                a.name
            );
            assert!(
                !text.contains("document.write"),
                "{} uses document.write",
                a.name
            );
            assert!(!text.contains("eval("), "{} uses eval", a.name);
            if a.name.ends_with(".html") {
                assert!(!text.contains("<script>"), "inline script in {}", a.name);
                assert!(!text.contains("style="), "inline style in {}", a.name);
                assert!(!text.contains("<style"), "inline style in {}", a.name);
                assert!(!has_inline_handler(text), "inline handler in {}", a.name);
            }
        }
    }

    /// ` on<letters>=` anywhere: an inline event-handler attribute.
    fn has_inline_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            letters > 0 && rest[letters..].starts_with('=')
        })
    }

    #[test]
    fn asset_names_are_unique() {
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
    }
}
