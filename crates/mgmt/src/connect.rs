//! The Connect protocol binding (<https://connectrpc.com/docs/protocol>, unary, JSON
//! codec): every `/v1/cwobject` RPC is also served at `POST /cwobject.v1.CWObject/<Rpc>`.
//!
//! There is one handler per RPC and two routings: [`dispatch`] turns a Connect request
//! into the REST request of the same RPC (the body fields named by the route's path and
//! query parameters move into the path and the query string, see [`crate::routes`]) and
//! runs it through the REST router, handler, extractors and all. Errors are rendered by
//! the choke point, which renders them in Connect's shape (`{"code":"not_found",
//! "message":…}` with Connect's HTTP status) for every path under
//! [`coffer_api::connect::PATH_PREFIX`].
//!
//! Protocol checks, in order: unknown procedure → `not_found` (404); a method other
//! than POST → 405 with `Allow: POST` (GET-encoded requests are not supported); a
//! Content-Type other than `application/json` → 415 with `Accept-Post`; a
//! `Connect-Protocol-Version` other than `1` → `invalid_argument`; a `Content-Encoding`
//! other than `identity` → `unimplemented` with `Accept-Encoding: identity`.

use crate::AppState;
use crate::audit::AuditSlot;
use crate::choke::RequestId;
use crate::error::ApiError;
use crate::extract::{parse_json_object, read_body, truncate};
use crate::routes::{self, ParamIn, Route};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_api::connect::{CONTENT_TYPE, PATH_PREFIX, PROTOCOL_VERSION_HEADER, SERVICE};
use coffer_core::conn::ConnInfo;
use http::header::{ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value};
use std::convert::Infallible;
use tower::ServiceExt;

/// The axum route that receives every procedure.
pub const ROUTE: &str = "/cwobject.v1.CWObject/{rpc}";

/// Serves one Connect request through `rest`, the REST router (without the choke
/// layer, which wraps this handler already).
pub async fn dispatch(rest: Router, state: AppState, req: Request) -> Response {
    match to_rest_request(req, &state).await {
        Ok(rest_req) => {
            let r: Result<Response, Infallible> = rest.oneshot(rest_req).await;
            r.unwrap_or_else(|e| match e {})
        }
        Err(reject) => reject.into_response(),
    }
}

/// A protocol-level refusal: the error and the header the protocol asks to go with it.
struct Reject {
    err: ApiError,
    header: Option<(HeaderName, &'static str)>,
}

impl From<ApiError> for Reject {
    fn from(err: ApiError) -> Self {
        Reject { err, header: None }
    }
}

impl Reject {
    fn with(err: ApiError, name: HeaderName, value: &'static str) -> Self {
        Reject {
            err,
            header: Some((name, value)),
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let mut resp = self.err.into_response();
        if let Some((name, value)) = self.header {
            resp.headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        resp
    }
}

/// The REST request equivalent to a Connect request, or the error response.
async fn to_rest_request(req: Request, state: &AppState) -> Result<Request, Reject> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let rpc = path.strip_prefix(PATH_PREFIX).unwrap_or("");
    let route = routes::connect_route(rpc).ok_or_else(|| {
        ApiError::not_found(format!("unknown procedure {SERVICE}/{}", truncate(rpc)))
    })?;
    if parts.method != Method::POST {
        return Err(Reject::with(ApiError::MethodNotAllowed, ALLOW, "POST"));
    }
    check_headers(&parts.headers)?;
    // The body is read here, before the REST route's extractors authenticate: check the
    // token first, so an unauthenticated caller is held to the anonymous bound.
    // A token that does not verify is refused by the REST route's extractor.
    if route.auth != routes::Auth::Anonymous {
        let _ = crate::auth::verify(&mut parts, state).await;
    }
    let (bytes, _reserved) = read_body(&parts, body).await?;
    let fields: Map<String, Value> = parse_json_object(&bytes)?;
    let uri = rest_uri(route, &fields)?;

    let mut builder = Request::builder().method(route.verb.method()).uri(uri);
    // Authorization and the rest travel unchanged; the body is re-framed.
    for (name, value) in &parts.headers {
        if name != CONTENT_LENGTH && name != HOST {
            builder = builder.header(name, value);
        }
    }
    let body = if route.verb.has_body() {
        Body::from(bytes)
    } else {
        Body::empty()
    };
    let mut rest_req = builder.body(body).map_err(|e| {
        ApiError::Domain(coffer_core::Error::internal(format!(
            "building the REST request of {rpc}: {e}"
        )))
    })?;
    // A fresh request: the outer route's path parameters must not leak into the inner
    // routing. Only the extensions handlers use are carried over.
    if let Some(id) = parts.extensions.get::<RequestId>() {
        rest_req.extensions_mut().insert(id.clone());
    }
    if let Some(info) = parts.extensions.get::<ConnInfo>() {
        rest_req.extensions_mut().insert(*info);
    }
    if let Some(slot) = parts.extensions.get::<AuditSlot>() {
        rest_req.extensions_mut().insert(slot.clone());
    }
    if let Some(v) = parts.extensions.get::<crate::auth::Verified>() {
        rest_req.extensions_mut().insert(v.clone());
    }
    Ok(rest_req)
}

fn check_headers(headers: &HeaderMap) -> Result<(), Reject> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(CONTENT_TYPE) {
        let shown = if content_type.is_empty() {
            "none".to_string()
        } else {
            format!("{:?}", truncate(content_type))
        };
        return Err(Reject::with(
            ApiError::UnsupportedMediaType(format!(
                "unsupported Content-Type {shown}: Connect requests must use {CONTENT_TYPE}"
            )),
            HeaderName::from_static("accept-post"),
            CONTENT_TYPE,
        ));
    }
    if let Some(v) = headers.get(PROTOCOL_VERSION_HEADER)
        && v.as_bytes() != b"1"
    {
        return Err(ApiError::invalid(format!("{PROTOCOL_VERSION_HEADER} must be 1")).into());
    }
    if let Some(v) = headers.get(CONTENT_ENCODING)
        && !v.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        return Err(Reject::with(
            ApiError::Domain(coffer_core::Error::Unimplemented(
                "compressed requests are not supported (Content-Encoding: identity only)".into(),
            )),
            ACCEPT_ENCODING,
            "identity",
        ));
    }
    Ok(())
}

/// The REST path (parameters substituted, percent-encoded) and query string of `route`
/// for the Connect message `fields`.
fn rest_uri(route: &Route, fields: &Map<String, Value>) -> Result<String, ApiError> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut has_query = false;
    for p in route.params.iter().filter(|p| p.at == ParamIn::Query) {
        if let Some(v) = scalar(p.name, fields.get(p.name))? {
            query.append_pair(p.name, &v);
            has_query = true;
        }
    }
    let mut path = String::with_capacity(route.path.len() + 32);
    for seg in route.path.split('/').skip(1) {
        path.push('/');
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let v = scalar(name, fields.get(name))?
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| ApiError::invalid(format!("{name} is required")))?;
                encode_segment(&v, &mut path);
            }
            None => path.push_str(seg),
        }
    }
    if has_query {
        path.push('?');
        path.push_str(&query.finish());
    }
    Ok(path)
}

/// A parameter value: strings as they are, numbers and booleans in their JSON text;
/// `null` or absent → `None`.
fn scalar(name: &str, v: Option<&Value>) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(ApiError::invalid(format!(
            "{name} must be a string or a number"
        ))),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_segment(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn uri(rpc: &str, v: Value) -> Result<String, ApiError> {
        let Value::Object(m) = v else { panic!() };
        rest_uri(routes::connect_route(rpc).unwrap(), &m)
    }

    #[test]
    fn fields_become_path_and_query() {
        assert_eq!(
            uri("GetAccessKeyInfo", json!({"accessKeyId":"CWAB/ C"})).unwrap(),
            "/v1/cwobject/access-key/CWAB%2F%20C"
        );
        assert_eq!(
            uri(
                "ListAccessKeyInfo",
                json!({"offset":"2","limit":5,"status":"ACTIVE","x":[1]})
            )
            .unwrap(),
            "/v1/cwobject/access-key?offset=2&limit=5&status=ACTIVE"
        );
        assert_eq!(
            uri("ListBucketInfo", json!({})).unwrap(),
            "/v1/cwobject/bucket-info"
        );
        assert_eq!(
            uri("CreateAccessKeyFromJWT", json!({"durationSeconds":0})).unwrap(),
            "/v1/cwobject/access-key"
        );
        let e = uri("GetBucketInfo", json!({})).unwrap_err();
        assert!(e.render("r").message.contains("bucketName"));
        let e = uri("GetBucketInfo", json!({"bucketName": ""})).unwrap_err();
        assert_eq!(e.code_and_status().0, 3);
        let e = uri("ListBucketInfo", json!({"limit": {"a": 1}})).unwrap_err();
        assert!(e.render("r").message.contains("limit"));
    }
}
