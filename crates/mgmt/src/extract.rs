//! Request extraction whose every failure is `InvalidArgument` (3/400) with a message
//! naming the problem: JSON bodies ([`JsonBody`]), query strings ([`QueryParams`]) and
//! path segments ([`PathParam`]). axum's own extractors are not used for these because
//! their rejections are plain text with other statuses.

use crate::auth::Verified;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use coffer_core::budget::{BudgetPermit, ByteBudget};
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// Largest accepted request body of an authenticated caller (SPEC §2).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest body read before the caller is known ([`crate::auth::Verified`]): the
/// anonymous token exchanges, whose body is the credential (AWS caps a SAML response at
/// 100,000 characters, `coffer_core::federation::saml::MAX_SAML_RESPONSE_B64_LEN`, and
/// a web identity token at 20,000).
pub const MAX_ANONYMOUS_BODY_BYTES: usize = 128 * 1024;

/// A JSON request body of type `T`. The body must be a JSON object (an empty body counts
/// as `{}`, so "missing field" checks apply); unknown fields are ignored by `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let (bytes, _reserved) = read_body(&parts, body).await?;
        parse_json_object(&bytes).map(JsonBody)
    }
}

/// The whole request body: at most [`MAX_BODY_BYTES`] once the caller is known, else
/// [`MAX_ANONYMOUS_BODY_BYTES`] (InvalidArgument beyond). Its bound is reserved from the
/// shared byte budget in the name of the caller's org (`coffer_core::budget`;
/// `unavailable` when spent) for as long as the caller holds the returned permit.
pub async fn read_body(
    parts: &Parts,
    body: Body,
) -> Result<(Bytes, Option<BudgetPermit>), ApiError> {
    let (limit, what, owner) = match parts.extensions.get::<Verified>() {
        Some(v) => (MAX_BODY_BYTES, "1 MiB", v.budget_owner()),
        None => (
            MAX_ANONYMOUS_BODY_BYTES,
            "128 KiB before the caller is authenticated",
            coffer_core::budget::UNAUTHENTICATED,
        ),
    };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::invalid(format!(
            "request body is larger than {what}"
        )));
    }
    let reserved = match parts.extensions.get::<ByteBudget>() {
        Some(budget) => Some(budget.reserve(owner, declared.unwrap_or(limit as u64))?),
        None => None,
    };
    // Fails when the limit is hit or the body cannot be read (client went away, bad
    // chunked framing); either way it is the request's fault.
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::invalid(format!(
            "request body could not be read or is larger than {what}"
        ))
    })?;
    Ok((bytes, reserved))
}

/// Parses `bytes` as a JSON object into `T`.
pub fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = bytes.trim_ascii();
    let text: &[u8] = if text.is_empty() { b"{}" } else { text };
    // serde's derived structs also accept JSON arrays (by field position); proto3 JSON
    // does not, so require an object up front.
    if text.first() != Some(&b'{') {
        return Err(ApiError::invalid("request body must be a JSON object"));
    }
    serde_json::from_slice(text)
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
}

/// The query string as a map. Duplicate parameters are rejected (SPEC §8); unknown
/// ones are ignored.
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        if let Some(q) = parts.uri.query() {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if map.insert(k.to_string(), v.to_string()).is_some() {
                    return Err(ApiError::invalid(format!(
                        "duplicate query parameter {:?}",
                        truncate(&k)
                    )));
                }
            }
        }
        Ok(QueryParams(map))
    }
}

impl QueryParams {
    /// An optional non-negative integer parameter (plain decimal digits).
    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("{name} is out of range"))),
            Some(v) => Err(ApiError::invalid(format!(
                "{name} must be a non-negative integer, got {:?}",
                truncate(v)
            ))),
        }
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `offset` (default 0) and `limit` (1..=1000, default 100).
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        let offset = self.u64("offset")?.unwrap_or(0);
        let limit = self.u64("limit")?.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        // Saturate: an offset past the end simply yields an empty page.
        Ok((
            usize::try_from(offset).unwrap_or(usize::MAX),
            limit as usize,
        ))
    }
}

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// The single path parameter of a route, percent-decoded.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(v) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("invalid path parameter: {e}")))?;
        Ok(PathParam(v))
    }
}

/// Caps caller-supplied text echoed in messages.
pub fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_api::CreateAccessKeyFromJwtRequest as Req;

    #[test]
    fn json_object_rules() {
        assert!(
            parse_json_object::<Req>(b"")
                .unwrap()
                .duration_seconds
                .is_none()
        );
        assert_eq!(
            parse_json_object::<Req>(b" {\"durationSeconds\":5,\"x\":1} ")
                .unwrap()
                .duration_seconds,
            Some(5)
        );
        for bad in [
            &b"[5]"[..],
            b"null",
            b"{",
            b"{\"durationSeconds\":\"a\"}",
            b"{} {}",
        ] {
            let e = parse_json_object::<Req>(bad).err().unwrap();
            assert_eq!(e.code_and_status().0, 3, "{}", String::from_utf8_lossy(bad));
        }
    }
}
