//! Bucket CORS: Put/Get/DeleteBucketCors, the rule matching, and the browser side —
//! preflight `OPTIONS` answered by [`crate::http_service::S3HttpService`] without
//! authentication, and `Access-Control-*` headers on actual responses (errors included)
//! when a rule matches the request's `Origin` and method.
//!
//! Rules (as S3): at most 100 rules; `AllowedMethod` ∈ GET, PUT, POST, DELETE, HEAD; at
//! least one origin and one method per rule; at most one `*` in each origin and each
//! allowed header. Origins match case-sensitively, headers case-insensitively, `*`
//! matches any run of characters. The first matching rule wins.

use crate::access::caller_of;
use crate::errors::{s3, to_s3};
use crate::gateway::{Gateway, ok};
use coffer_core::model::CorsRule;
use coffer_core::objects::ObjectService;
use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use std::sync::Arc;

pub const MAX_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// Validates and converts a `CORSConfiguration`; errors are `MalformedXML` or
/// `InvalidRequest` messages as S3 words them.
pub fn rules_from_dto(cfg: CORSConfiguration) -> Result<Vec<CorsRule>, (S3ErrorCode, String)> {
    let malformed = |m: &str| {
        (
            S3ErrorCode::MalformedXML,
            format!(
                "The XML you provided was not well-formed or did not validate against our \
                 published schema: {m}"
            ),
        )
    };
    if cfg.cors_rules.is_empty() {
        return Err(malformed("at least one CORSRule is required"));
    }
    if cfg.cors_rules.len() > MAX_RULES {
        return Err(malformed("at most 100 CORSRules are allowed"));
    }
    let mut out = Vec::with_capacity(cfg.cors_rules.len());
    for r in cfg.cors_rules {
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err(malformed(
                "each CORSRule needs an AllowedOrigin and an AllowedMethod",
            ));
        }
        for m in &r.allowed_methods {
            if !METHODS.contains(&m.as_str()) {
                return Err((
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                    ),
                ));
            }
        }
        for o in &r.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err((
                    S3ErrorCode::InvalidRequest,
                    format!("AllowedOrigin \"{o}\" can not have more than one wildcard."),
                ));
            }
        }
        let headers = r.allowed_headers.unwrap_or_default();
        for h in &headers {
            if h.matches('*').count() > 1 {
                return Err((
                    S3ErrorCode::InvalidRequest,
                    format!("AllowedHeader \"{h}\" can not have more than one wildcard."),
                ));
            }
        }
        if r.max_age_seconds.is_some_and(|s| s < 0) {
            return Err(malformed("MaxAgeSeconds must not be negative"));
        }
        if r.id.as_ref().is_some_and(|id| id.chars().count() > 255) {
            return Err(malformed("the ID of a CORSRule is at most 255 characters"));
        }
        out.push(CorsRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: headers,
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        });
    }
    Ok(out)
}

/// Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn rules_to_dto(rules: &[CorsRule]) -> CORSRules {
    rules
        .iter()
        .map(|r| CORSRule {
            id: r.id.clone(),
            allowed_origins: r.allowed_origins.clone(),
            allowed_methods: r.allowed_methods.clone(),
            allowed_headers: (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
            expose_headers: (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
            max_age_seconds: r.max_age_seconds,
        })
        .collect()
}

/// `pattern` with at most one `*` (any run of characters) against `s`.
fn wildcard(pattern: &str, s: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, s),
        Some((pre, post)) => {
            s.len() >= pre.len() + post.len()
                && s.is_char_boundary(pre.len())
                && s.is_char_boundary(s.len() - post.len())
                && eq(pre, &s[..pre.len()])
                && eq(post, &s[s.len() - post.len()..])
        }
    }
}

/// The first rule allowing `origin` to use `method` with every one of `headers`
/// (request header names, any case).
pub fn find_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                r.allowed_headers
                    .iter()
                    .any(|a| wildcard(a.trim(), h.trim(), true))
            })
    })
}

fn hv(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// `Access-Control-Allow-Origin`: `*` for a rule that allows every origin, else the
/// request's origin (with `Vary: Origin`, so caches keep answers per origin).
fn allow_origin(rule: &CorsRule, origin: &str) -> String {
    if rule.allowed_origins.iter().any(|o| o == "*") {
        "*".to_string()
    } else {
        origin.to_string()
    }
}

/// Headers of an actual (non-preflight) response whose request matched `rule`.
pub fn apply_actual(h: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    if let Some(v) = hv(&allow_origin(rule, origin)) {
        h.insert("access-control-allow-origin", v);
    }
    if let Some(v) = hv(&rule.allowed_methods.join(", ")) {
        h.insert("access-control-allow-methods", v);
    }
    if !rule.expose_headers.is_empty()
        && let Some(v) = hv(&rule.expose_headers.join(", "))
    {
        h.insert("access-control-expose-headers", v);
    }
    if let Some(n) = rule.max_age_seconds
        && let Some(v) = hv(&n.to_string())
    {
        h.insert("access-control-max-age", v);
    }
    h.append(http::header::VARY, HeaderValue::from_static("Origin"));
}

/// The bucket a request addresses: `bucket.<domain>` or the first path segment.
pub fn bucket_of(domain: Option<&str>, host: Option<&str>, path: &str) -> Option<String> {
    if let (Some(d), Some(h)) = (domain, host) {
        use s3s::host::S3Host as _;
        let parsed = crate::host::DomainHost::new(d);
        if let Ok(vh) = parsed.parse_host_header(h)
            && let Some(b) = vh.bucket()
        {
            return Some(b.to_string());
        }
    }
    let first = path.trim_start_matches('/').split('/').next()?;
    (!first.is_empty()).then(|| first.to_string())
}

/// What the HTTP wrapper needs to answer CORS: the buckets' rules and the domain.
pub struct CorsResponder {
    objects: Arc<ObjectService>,
    domain: Option<String>,
}

/// A preflight's outcome: status, S3 error (code, message) or headers.
pub enum Preflight {
    Allowed(HeaderMap),
    Denied(S3Error),
}

impl CorsResponder {
    pub fn new(objects: Arc<ObjectService>, domain: Option<String>) -> Self {
        let domain = domain.filter(|d| !d.trim().is_empty());
        Self { objects, domain }
    }

    fn bucket(&self, headers: &HeaderMap, path: &str) -> Option<String> {
        let host = headers.get("host").and_then(|v| v.to_str().ok());
        bucket_of(self.domain.as_deref(), host, path)
    }

    async fn rules(&self, bucket: &str) -> Option<Vec<CorsRule>> {
        self.objects
            .get_bucket(bucket)
            .await
            .ok()
            .and_then(|b| b.subresources.cors)
    }

    /// Answers an `OPTIONS` request (never authenticated, as in S3).
    pub async fn preflight(&self, headers: &HeaderMap, path: &str) -> Preflight {
        let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let bad = |m: &str| {
            let mut e =
                S3Error::with_message(S3ErrorCode::Custom("BadRequest".into()), m.to_string());
            e.set_status_code(StatusCode::BAD_REQUEST);
            Preflight::Denied(e)
        };
        let Some(origin) = text("origin").filter(|o| !o.is_empty()) else {
            return bad("Insufficient information. Origin request header needed.");
        };
        let Some(method) = text("access-control-request-method") else {
            return bad("Insufficient information. Access-Control-Request-Method header needed.");
        };
        if !METHODS.contains(&method) {
            return bad(&format!("Invalid Access-Control-Request-Method: {method}"));
        }
        let req_headers: Vec<String> = text("access-control-request-headers")
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let denied = || {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("CORSResponse".into()),
                "This CORS request is not allowed. This is usually because the evalution of \
                 Origin, request method / Access-Control-Request-Method or \
                 Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            );
            e.set_status_code(StatusCode::FORBIDDEN);
            Preflight::Denied(e)
        };
        let Some(bucket) = self.bucket(headers, path) else {
            return denied();
        };
        let Some(rules) = self.rules(&bucket).await else {
            return denied();
        };
        let Some(rule) = find_rule(&rules, origin, method, &req_headers) else {
            return denied();
        };
        let mut h = HeaderMap::new();
        if let Some(v) = hv(&allow_origin(rule, origin)) {
            h.insert("access-control-allow-origin", v);
        }
        if let Some(v) = hv(&rule.allowed_methods.join(", ")) {
            h.insert("access-control-allow-methods", v);
        }
        if !req_headers.is_empty()
            && let Some(v) = hv(&req_headers.join(", "))
        {
            h.insert("access-control-allow-headers", v);
        }
        if !rule.expose_headers.is_empty()
            && let Some(v) = hv(&rule.expose_headers.join(", "))
        {
            h.insert("access-control-expose-headers", v);
        }
        if let Some(n) = rule.max_age_seconds
            && let Some(v) = hv(&n.to_string())
        {
            h.insert("access-control-max-age", v);
        }
        h.insert(
            http::header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
            ),
        );
        Preflight::Allowed(h)
    }

    /// The rule matching an actual request with an `Origin` header, if any; `None`
    /// without `Origin`, without a bucket, or without CORS configuration.
    pub async fn actual(
        &self,
        headers: &HeaderMap,
        method: &str,
        path: &str,
    ) -> Option<(CorsRule, String)> {
        let origin = headers.get("origin")?.to_str().ok()?.to_string();
        let bucket = self.bucket(headers, path)?;
        let rules = self.rules(&bucket).await?;
        find_rule(&rules, &origin, method, &[])
            .cloned()
            .map(|r| (r, origin))
    }
}

impl Gateway {
    pub(crate) async fn do_put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let rules = rules_from_dto(input.cors_configuration).map_err(|(c, m)| s3(c, m, rid))?;
        self.edit_owned_bucket(caller, &input.bucket, move |b| {
            b.subresources.cors = Some(rules);
            Ok(())
        })
        .await?;
        Ok(ok(PutBucketCorsOutput::default(), caller))
    }

    pub(crate) async fn do_get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let b = self
            .objects
            .get_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?;
        match b.subresources.cors {
            Some(rules) => Ok(ok(
                GetBucketCorsOutput {
                    cors_rules: Some(rules_to_dto(&rules)),
                },
                caller,
            )),
            None => Err(s3(
                S3ErrorCode::NoSuchCORSConfiguration,
                "The CORS configuration does not exist",
                rid,
            )),
        }
    }

    pub(crate) async fn do_delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        let caller = caller_of(&req.extensions)?;
        self.edit_owned_bucket(caller, &req.input.bucket, |b| {
            b.subresources.cors = None;
            Ok(())
        })
        .await?;
        let mut r = ok(DeleteBucketCorsOutput::default(), caller);
        r.status = Some(StatusCode::NO_CONTENT);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "https://x", false));
        assert!(wildcard(
            "https://*.example.com",
            "https://a.example.com",
            false
        ));
        assert!(!wildcard(
            "https://*.example.com",
            "https://example.com",
            false
        ));
        assert!(!wildcard(
            "https://*.example.com",
            "http://a.example.com",
            false
        ));
        assert!(wildcard("x-amz-*", "X-Amz-Date", true));
        assert!(!wildcard("https://A.com", "https://a.com", false));
        assert!(!wildcard("ab*ba", "aba", false));
    }

    #[test]
    fn first_matching_rule() {
        let rules = vec![
            rule(&["https://a.example"], &["GET"], &[]),
            rule(
                &["https://*.example"],
                &["PUT", "GET"],
                &["content-type", "x-amz-*"],
            ),
        ];
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(std::ptr::eq(
            find_rule(&rules, "https://a.example", "GET", &[]).unwrap(),
            &rules[0]
        ));
        assert!(std::ptr::eq(
            find_rule(&rules, "https://a.example", "GET", &h(&["content-type"])).unwrap(),
            &rules[1]
        ));
        assert!(find_rule(&rules, "https://b.example", "PUT", &h(&["X-Amz-Date"])).is_some());
        assert!(find_rule(&rules, "https://b.example", "PUT", &h(&["authorization"])).is_none());
        assert!(find_rule(&rules, "https://b.example", "DELETE", &[]).is_none());
        assert!(find_rule(&rules, "https://other.org", "GET", &[]).is_none());
    }

    #[test]
    fn validation() {
        let cfg = |rules: Vec<CORSRule>| CORSConfiguration { cors_rules: rules };
        let r = |o: &str, m: &str| CORSRule {
            allowed_origins: vec![o.into()],
            allowed_methods: vec![m.into()],
            ..Default::default()
        };
        assert!(rules_from_dto(cfg(vec![r("*", "GET")])).is_ok());
        assert!(rules_from_dto(cfg(vec![])).is_err());
        assert!(rules_from_dto(cfg(vec![r("*", "PATCH")])).is_err());
        assert!(rules_from_dto(cfg(vec![r("https://*.*.x", "GET")])).is_err());
        assert!(rules_from_dto(cfg(vec![r("*", "GET"); 100])).is_ok());
        assert!(rules_from_dto(cfg(vec![r("*", "GET"); 101])).is_err());
        assert_eq!(
            bucket_of(None, Some("localhost:9000"), "/b/k/x").as_deref(),
            Some("b")
        );
        assert_eq!(bucket_of(None, None, "/").as_deref(), None);
        assert_eq!(
            bucket_of(Some("s3.test"), Some("vb.s3.test:9000"), "/k").as_deref(),
            Some("vb")
        );
    }
}
