//! Any non-empty SigV4 region is accepted (SPEC §4), although s3s 0.14 refuses a
//! credential scope region outside `[a-z0-9-]+` ("invalid credential region") *after* it
//! verified the signature. Zones are uppercase (`US-EAST-04A`) and clients use them as
//! their region, so this closes that gap in front of s3s:
//!
//! 1. A request whose region s3s accepts passes untouched (the common path costs one
//!    header parse).
//! 2. Otherwise the client's signature is verified here, with the key's secret, over the
//!    canonical request, built with the canonicalization rules s3s 0.14.1 applies (AWS
//!    SigV4, including s3s's choices for edge cases). Only if it verifies is the
//!    request re-signed for the lower-cased region: the `Authorization` header (or the
//!    presigned query's `X-Amz-Credential` and `X-Amz-Signature`) is rewritten, and for
//!    signed aws-chunked bodies every chunk signature and the trailer signature are
//!    verified and re-signed as the body streams. s3s then verifies the rewritten
//!    request as usual.
//! 3. Whenever anything does not fit (unknown key, unparsable header, wrong signature)
//!    the request is left as it is, so s3s produces its usual error.
//!
//! The same machinery serves path mounts: a request whose [`SignedPath`] extension names
//! the path the client signed (the management listener's `/console/s3/...` mount hands
//! S3 requests over with that prefix stripped) is verified over the signed path and
//! re-signed for the path s3s sees. A signed request through a mount that does not
//! verify over the signed path is refused ([`RegionNormalizer::apply`] says so): left
//! as it is, s3s would verify it over the stripped path — a signature made for another
//! request. Mounted requests are signed for their own region
//! ([`crate::gates::CONSOLE_REGION`]), so no signature made for the S3 listener verifies
//! there in the first place.
//!
//! Invariant: nothing is re-signed that was not first verified with the same secret;
//! a chunk is released only after its client signature verified.

use bytes::{Bytes, BytesMut};
use coffer_core::identity::{IdentityService, ct_eq};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use http::HeaderValue;
use s3s::{Body, HttpRequest, StdError};
use sha2::{Digest, Sha256};
use std::sync::Arc;

type HmacSha256 = Hmac<Sha256>;

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Largest aws-chunked chunk re-signed here (clients use 64 KiB – 16 MiB).
const MAX_CHUNK: usize = 64 * 1024 * 1024;
const MAX_META_LINE: usize = 4096;
const MAX_TRAILER_BLOCK: usize = 16 * 1024;

/// s3s 0.14's `Region::is_valid`.
pub fn s3s_accepts_region(r: &str) -> bool {
    !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The region the request is re-signed for.
pub fn normalized_region(r: &str) -> String {
    r.bytes()
        .map(|b| {
            let l = b.to_ascii_lowercase();
            if l.is_ascii_lowercase() || l.is_ascii_digit() || l == b'-' {
                l as char
            } else {
                '-'
            }
        })
        .collect()
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// s3s's `uri_encode`: everything but unreserved characters (and `/` unless
/// `encode_slash`) as `%XX`.
pub(crate) fn uri_encode(out: &mut String, input: &str, encode_slash: bool) {
    for &b in input.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'~' | b'.' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

fn has_unencoded_reserved_path_char(path: &str) -> bool {
    path.bytes().any(|b| {
        !matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'%')
    })
}

/// Strict percent-decoding to UTF-8 (`urlencoding::decode`); `None` on invalid UTF-8.
fn percent_decode_strict(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let hexv = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hexv(b[i + 1]), hexv(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && b[i] == b'+' {
            b' '
        } else {
            b[i]
        });
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// serde_urlencoded's view of a query string: form-decoded pairs, stably sorted by name.
fn decoded_query(q: &str) -> Option<Vec<(String, String)>> {
    let mut v = Vec::new();
    for p in q.split('&').filter(|p| !p.is_empty()) {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        v.push((
            percent_decode_strict(k, true)?,
            percent_decode_strict(val, true)?,
        ));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Some(v)
}

/// The signed headers as s3s selects them: for each signed name (in the given order),
/// every value of that header, in request order.
fn signed_header_values(req: &HttpRequest, names: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in names {
        for v in req.headers().get_all(*n) {
            if let Ok(s) = std::str::from_utf8(v.as_bytes()) {
                out.push(((*n).to_string(), s.to_string()));
            }
        }
    }
    out
}

fn normalize_header_value(out: &mut String, v: &str) {
    let mut first = true;
    for w in v.split_whitespace() {
        if !first {
            out.push(' ');
        }
        first = false;
        out.push_str(w);
    }
}

/// s3s's canonical request (header auth and presigned share the shape; presigned skips
/// `X-Amz-Signature` in the query and always hashes `UNSIGNED-PAYLOAD`).
fn canonical_request(
    method: &str,
    path: &str,
    raw_path: bool,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload: &str,
    presigned: bool,
) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(method);
    s.push('\n');
    if raw_path {
        s.push_str(path);
    } else {
        uri_encode(&mut s, path, false);
    }
    s.push('\n');
    let mut qs: Vec<(String, String)> = query
        .iter()
        .filter(|(n, _)| !(presigned && n == "X-Amz-Signature"))
        .map(|(n, v)| {
            let (mut a, mut b) = (String::new(), String::new());
            uri_encode(&mut a, n, true);
            uri_encode(&mut b, v, true);
            (a, b)
        })
        .collect();
    qs.sort_by(|a, b| a.0.cmp(&b.0));
    s.push_str(
        &qs.iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("&"),
    );
    s.push('\n');
    let hs: Vec<&(String, String)> = headers
        .iter()
        .filter(|(n, _)| n != "authorization")
        .collect();
    let mut i = 0;
    let mut names: Vec<&str> = Vec::new();
    while i < hs.len() {
        let name = &hs[i].0;
        s.push_str(name);
        s.push(':');
        normalize_header_value(&mut s, &hs[i].1);
        let mut j = i + 1;
        while j < hs.len() && hs[j].0 == *name {
            s.push(',');
            normalize_header_value(&mut s, &hs[j].1);
            j += 1;
        }
        s.push('\n');
        names.push(name);
        i = j;
    }
    s.push('\n');
    s.push_str(&names.join(";"));
    s.push('\n');
    s.push_str(payload);
    s
}

/// The SigV4 signature of a POST policy (the base64 `policy` field is the string to
/// sign), lower-case hex.
pub(crate) fn post_signature(secret: &str, date: &str, region: &str, policy_b64: &str) -> String {
    hex::encode(hmac(
        &signing_key(secret, date, region, "s3"),
        policy_b64.as_bytes(),
    ))
}

fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

/// `YYYYMMDDTHHMMSSZ` (s3s re-formats parsed dates; only the canonical form is handled).
fn plain_amz_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// A SigV4 credential scope, `<key>/<YYYYMMDD>/<region>/<service>/aws4_request`.
pub(crate) struct Credential<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// The one reading of a credential (header, presigned query, POST form): every part
/// non-empty, the date eight digits.
pub(crate) fn parse_credential(c: &str) -> Option<Credential<'_>> {
    let parts: Vec<&str> = c.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = parts[..] else {
        return None;
    };
    let ok = !access_key.is_empty()
        && date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && !region.is_empty()
        && !service.is_empty();
    ok.then_some(Credential {
        access_key,
        date,
        region,
        service,
    })
}

struct HeaderAuth<'a> {
    credential: Credential<'a>,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(h: &str) -> Option<HeaderAuth<'_>> {
    let rest = h.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = parse_credential(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v.split(';').collect::<Vec<_>>());
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    Some(HeaderAuth {
        credential: credential?,
        signed_headers: signed?,
        signature: signature?,
    })
}

/// One signature chain of an aws-chunked body (the client's or the re-signed one).
#[derive(Clone)]
struct Chain {
    key: [u8; 32],
    scope: String,
    prev: String,
}

impl Chain {
    fn chunk(&self, amz_date: &str, data_hash: &str) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{}\n{}\n{EMPTY_SHA256}\n{data_hash}",
            self.scope, self.prev
        );
        hex::encode(hmac(&self.key, sts.as_bytes()))
    }

    fn trailer(&self, amz_date: &str, canonical_trailers: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{}\n{}\n{}",
            self.scope,
            self.prev,
            sha256_hex(canonical_trailers)
        );
        hex::encode(hmac(&self.key, sts.as_bytes()))
    }
}

/// Request extension set by an in-process mount: the raw (still percent-encoded) path
/// the client signed, when the request's path was rewritten after signing. Never
/// derived from anything the client sends.
#[derive(Debug, Clone)]
pub struct SignedPath(pub String);

/// Re-signs requests whose SigV4 region s3s would refuse, and mounted requests.
pub struct RegionNormalizer {
    identity: Arc<IdentityService>,
}

impl RegionNormalizer {
    pub fn new(identity: Arc<IdentityService>) -> Self {
        Self { identity }
    }

    /// Rewrites `req` when needed and possible (see module docs). Returns `false` only
    /// for a signed request through a path mount whose signature did not verify over
    /// the signed path: s3s would verify it over the stripped path, which means
    /// another request, so it must be refused instead.
    pub async fn apply(&self, req: &mut HttpRequest) -> bool {
        let mounted = req.extensions().get::<SignedPath>().is_some();
        if let Some(auth) = req.headers().get(http::header::AUTHORIZATION) {
            let Ok(auth) = auth.to_str().map(str::to_string) else {
                return !mounted;
            };
            if auth.starts_with("AWS4-HMAC-SHA256") {
                return self.header_auth(req, &auth).await || !mounted;
            }
            return !mounted;
        }
        // Presigned as s3s sees it: parameter names are decoded.
        if req
            .uri()
            .query()
            .and_then(decoded_query)
            .is_some_and(|q| q.iter().any(|(k, _)| k == "X-Amz-Signature"))
        {
            return self.presigned(req).await || !mounted;
        }
        true
    }

    async fn secret(&self, access_key: &str) -> Option<String> {
        self.identity
            .resolve_access_key(access_key)
            .await
            .ok()
            .map(|k| k.secret.clone())
    }

    async fn header_auth(&self, req: &mut HttpRequest, auth: &str) -> bool {
        let Some(a) = parse_authorization(auth) else {
            return false;
        };
        let c = &a.credential;
        let signed_path = req.extensions().get::<SignedPath>().map(|p| p.0.clone());
        if (s3s_accepts_region(c.region) && signed_path.is_none())
            || c.region.is_empty()
            || c.service != "s3"
        {
            return false;
        }
        let Some(amz_date) = req
            .headers()
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .filter(|d| plain_amz_date(d) && d[..8] == *c.date)
            .map(str::to_string)
        else {
            return false;
        };
        let Some(payload) = req
            .headers()
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            return false;
        };
        let Some(secret) = self.secret(c.access_key).await else {
            return false;
        };
        // `raw_path`: what the client signed; `new_path`: what s3s verifies (decoded).
        let raw_path = signed_path.unwrap_or_else(|| req.uri().path().to_string());
        let Some(path) = percent_decode_strict(&raw_path, false) else {
            return false;
        };
        let Some(new_path) = percent_decode_strict(req.uri().path(), false) else {
            return false;
        };
        let query = match req.uri().query() {
            Some(q) => match decoded_query(q) {
                Some(v) => v,
                None => return false,
            },
            None => Vec::new(),
        };
        let mut names = a.signed_headers.clone();
        names.sort_unstable();
        let headers = signed_header_values(req, &names);
        let method = req.method().as_str().to_string();

        let new_region = normalized_region(c.region);
        let old_scope = format!("{}/{}/{}/aws4_request", c.date, c.region, c.service);
        let new_scope = format!("{}/{new_region}/{}/aws4_request", c.date, c.service);
        let old_key = signing_key(&secret, c.date, c.region, c.service);
        let new_key = signing_key(&secret, c.date, &new_region, c.service);

        // s3s tries the decoded path first and the raw path when it has reserved chars.
        let mut variants = vec![canonical_request(
            &method, &path, false, &query, &headers, &payload, false,
        )];
        if has_unencoded_reserved_path_char(&raw_path) {
            variants.push(canonical_request(
                &method, &raw_path, true, &query, &headers, &payload, false,
            ));
        }
        let Some(mut canonical) = variants.into_iter().find(|cr| {
            let sig = hex::encode(hmac(
                &old_key,
                string_to_sign(&amz_date, &old_scope, cr).as_bytes(),
            ));
            ct_eq(&sig, a.signature)
        }) else {
            return false;
        };
        if new_path != path {
            // s3s tries the decoded path first.
            canonical =
                canonical_request(&method, &new_path, false, &query, &headers, &payload, false);
        }
        let new_sig = hex::encode(hmac(
            &new_key,
            string_to_sign(&amz_date, &new_scope, &canonical).as_bytes(),
        ));
        let header = format!(
            "AWS4-HMAC-SHA256 Credential={}/{new_scope}, SignedHeaders={}, Signature={new_sig}",
            c.access_key,
            a.signed_headers.join(";")
        );
        let Ok(hv) = HeaderValue::from_str(&header) else {
            return false;
        };

        if payload == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
            || payload == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        {
            let old = Chain {
                key: old_key,
                scope: old_scope,
                prev: a.signature.to_string(),
            };
            let new = Chain {
                key: new_key,
                scope: new_scope,
                prev: new_sig,
            };
            let body = std::mem::take(req.body_mut());
            *req.body_mut() = resign_body(body, old, new, amz_date);
        }
        req.headers_mut().insert(http::header::AUTHORIZATION, hv);
        true
    }

    async fn presigned(&self, req: &mut HttpRequest) -> bool {
        let Some(raw_query) = req.uri().query().map(str::to_string) else {
            return false;
        };
        let Some(query) = decoded_query(&raw_query) else {
            return false;
        };
        let get = |n: &str| -> Option<&str> {
            let mut it = query.iter().filter(|(k, _)| k == n);
            let v = it.next()?;
            it.next().is_none().then_some(v.1.as_str())
        };
        let (Some(cred), Some(amz_date), Some(signed), Some(sig)) = (
            get("X-Amz-Credential"),
            get("X-Amz-Date"),
            get("X-Amz-SignedHeaders"),
            get("X-Amz-Signature"),
        ) else {
            return false;
        };
        let Some(c) = parse_credential(cred) else {
            return false;
        };
        let signed_path = req.extensions().get::<SignedPath>().map(|p| p.0.clone());
        if (s3s_accepts_region(c.region) && signed_path.is_none())
            || c.region.is_empty()
            || c.service != "s3"
        {
            return false;
        }
        if !plain_amz_date(amz_date) || amz_date[..8] != *c.date {
            return false;
        }
        let Some(secret) = self.secret(c.access_key).await else {
            return false;
        };
        // `old_raw`: what the client signed; `raw_path`: what s3s verifies.
        let raw_path = req.uri().path().to_string();
        let mounted = signed_path.is_some();
        let old_raw = signed_path.unwrap_or_else(|| raw_path.clone());
        let Some(old_path) = percent_decode_strict(&old_raw, false) else {
            return false;
        };
        let Some(path) = percent_decode_strict(&raw_path, false) else {
            return false;
        };
        let names: Vec<&str> = signed.split(';').collect();
        let headers = signed_header_values(req, &names);
        let method = req.method().as_str().to_string();
        let new_region = normalized_region(c.region);
        let new_cred = format!(
            "{}/{}/{new_region}/{}/aws4_request",
            c.access_key, c.date, c.service
        );
        let old_scope = format!("{}/{}/{}/aws4_request", c.date, c.region, c.service);
        let new_scope = format!("{}/{new_region}/{}/aws4_request", c.date, c.service);
        let old_key = signing_key(&secret, c.date, c.region, c.service);
        let new_key = signing_key(&secret, c.date, &new_region, c.service);
        let new_query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| {
                if k == "X-Amz-Credential" {
                    (k.clone(), new_cred.clone())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();

        let use_raw = [false, true];
        let Some(raw) = use_raw.into_iter().find(|raw| {
            if *raw && !has_unencoded_reserved_path_char(&old_raw) {
                return false;
            }
            let p = if *raw { &old_raw } else { &old_path };
            let cr =
                canonical_request(&method, p, *raw, &query, &headers, "UNSIGNED-PAYLOAD", true);
            let s = hex::encode(hmac(
                &old_key,
                string_to_sign(amz_date, &old_scope, &cr).as_bytes(),
            ));
            ct_eq(&s, sig)
        }) else {
            return false;
        };
        // A mounted request is re-signed over the decoded path, which s3s tries first.
        let raw = raw && !mounted;
        let p = if raw { &raw_path } else { &path };
        let cr = canonical_request(
            &method,
            p,
            raw,
            &new_query,
            &headers,
            "UNSIGNED-PAYLOAD",
            true,
        );
        let new_sig = hex::encode(hmac(
            &new_key,
            string_to_sign(amz_date, &new_scope, &cr).as_bytes(),
        ));

        // Rewrite only the two values in the raw query; everything else stays byte-equal.
        let mut enc_cred = String::new();
        uri_encode(&mut enc_cred, &new_cred, true);
        let rewritten: Vec<String> = raw_query
            .split('&')
            .map(|p| {
                let name = p.split_once('=').map_or(p, |x| x.0);
                match percent_decode_strict(name, true).as_deref() {
                    Some("X-Amz-Credential") => format!("{name}={enc_cred}"),
                    Some("X-Amz-Signature") => format!("{name}={new_sig}"),
                    _ => p.to_string(),
                }
            })
            .collect();
        let pq = format!("{raw_path}?{}", rewritten.join("&"));
        let mut parts = req.uri().clone().into_parts();
        let Ok(paq) = http::uri::PathAndQuery::try_from(pq) else {
            return false;
        };
        parts.path_and_query = Some(paq);
        let Ok(u) = http::Uri::from_parts(parts) else {
            return false;
        };
        *req.uri_mut() = u;
        true
    }
}

#[derive(Debug)]
struct ResignError(&'static str);

impl std::fmt::Display for ResignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The names match s3s's chunk errors so `body::BodyFault::classify` maps them.
        write!(f, "AwsChunkedStreamError: {}", self.0)
    }
}

impl std::error::Error for ResignError {}

struct ResignState {
    inner: Body,
    buf: BytesMut,
    eof: bool,
    done: bool,
    old: Chain,
    new: Chain,
    amz_date: String,
}

impl ResignState {
    /// Reads until `buf` holds at least `n` bytes; false at end of input.
    async fn fill(&mut self, n: usize) -> Result<bool, StdError> {
        while self.buf.len() < n {
            if self.eof {
                return Ok(false);
            }
            match self.inner.next().await {
                Some(Ok(b)) => self.buf.extend_from_slice(&b),
                Some(Err(e)) => return Err(e),
                None => self.eof = true,
            }
        }
        Ok(true)
    }

    async fn line(&mut self) -> Result<Option<usize>, StdError> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                return Ok(Some(i));
            }
            if self.buf.len() > MAX_META_LINE {
                return Err(Box::new(ResignError("ChunkMetaTooLarge")));
            }
            let want = self.buf.len() + 1;
            if !self.fill(want).await? {
                return Ok(None);
            }
        }
    }

    async fn read_all(&mut self) -> Result<(), StdError> {
        while !self.eof {
            if self.buf.len() > MAX_TRAILER_BLOCK {
                return Err(Box::new(ResignError("TrailersTooLarge")));
            }
            let want = self.buf.len() + 1;
            self.fill(want).await?;
        }
        Ok(())
    }

    /// The next re-signed piece of the body.
    async fn next_piece(&mut self) -> Result<Option<Bytes>, StdError> {
        if self.done {
            return Ok(None);
        }
        let fmt = || -> StdError { Box::new(ResignError("FormatError")) };
        let Some(end) = self.line().await? else {
            return Err(Box::new(ResignError("Incomplete")));
        };
        let line = std::str::from_utf8(&self.buf[..end])
            .map_err(|_| fmt())?
            .to_string();
        let (size_hex, sig) = line.split_once(";chunk-signature=").ok_or_else(fmt)?;
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| fmt())?;
        if size > MAX_CHUNK || sig.len() != 64 {
            return Err(fmt());
        }
        let sig = sig.to_string();
        let _ = self.buf.split_to(end + 2);
        if size > 0 {
            if !self.fill(size + 2).await? {
                return Err(Box::new(ResignError("Incomplete")));
            }
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(fmt());
            }
        }
        let data = self.buf.split_to(size).freeze();
        if size > 0 {
            let _ = self.buf.split_to(2);
        }
        let hash = if size == 0 {
            EMPTY_SHA256.to_string()
        } else {
            sha256_hex(&data)
        };
        let expect = self.old.chunk(&self.amz_date, &hash);
        if !ct_eq(&expect, &sig) {
            return Err(Box::new(ResignError("SignatureMismatch")));
        }
        let new_sig = self.new.chunk(&self.amz_date, &hash);
        self.old.prev = sig;
        self.new.prev = new_sig.clone();
        let mut out = BytesMut::with_capacity(size + 100);
        out.extend_from_slice(format!("{size:x};chunk-signature={new_sig}\r\n").as_bytes());
        if size > 0 {
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\r\n");
            return Ok(Some(out.freeze()));
        }
        // Final chunk: the rest is an optional trailer block.
        self.done = true;
        self.read_all().await?;
        let rest = self.buf.split().freeze();
        out.extend_from_slice(&self.resign_trailers(&rest)?);
        Ok(Some(out.freeze()))
    }

    /// Verifies and re-signs `x-amz-trailer-signature` (s3s's trailer canonical form).
    fn resign_trailers(&self, block: &[u8]) -> Result<Vec<u8>, StdError> {
        let fmt = || -> StdError { Box::new(ResignError("FormatError")) };
        let text = std::str::from_utf8(block).map_err(|_| fmt())?;
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut provided: Option<String> = None;
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let (n, v) = line.split_once(':').ok_or_else(fmt)?;
            let n = n.to_ascii_lowercase();
            let v = v
                .trim_matches(|c: char| c.is_ascii_whitespace())
                .to_string();
            if n == "x-amz-trailer-signature" {
                provided = Some(v);
            } else {
                entries.push((n, v));
            }
        }
        let Some(provided) = provided else {
            // Unsigned trailers (or none): nothing to re-sign; s3s decides.
            return Ok(block.to_vec());
        };
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut canonical = Vec::new();
        for (n, v) in &entries {
            canonical.extend_from_slice(n.as_bytes());
            canonical.push(b':');
            canonical.extend_from_slice(v.as_bytes());
            canonical.push(b'\n');
        }
        if !ct_eq(&self.old.trailer(&self.amz_date, &canonical), &provided) {
            return Err(Box::new(ResignError("SignatureMismatch")));
        }
        let new_sig = self.new.trailer(&self.amz_date, &canonical);
        Ok(text.replacen(&provided, &new_sig, 1).into_bytes())
    }
}

/// One end of a re-signing: the chain of an aws-chunked body signed with `secret` in
/// `date` (`YYYYMMDD`) / `region` / `s3`, starting from the request's `seed` signature.
/// Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub struct ChunkChain<'a> {
    pub secret: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub seed: &'a str,
}

impl ChunkChain<'_> {
    fn chain(&self) -> Chain {
        Chain {
            key: signing_key(self.secret, self.date, self.region, "s3"),
            scope: format!("{}/{}/s3/aws4_request", self.date, self.region),
            prev: self.seed.to_string(),
        }
    }
}

/// The aws-chunked re-signing the region normalizer applies to a streaming body: every
/// chunk (and trailer) signature of `inner` is verified against `old` and the body is
/// re-emitted signed for `new`. Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn resign_chunked(
    inner: Body,
    old: &ChunkChain<'_>,
    new: &ChunkChain<'_>,
    amz_date: &str,
) -> Body {
    resign_body(inner, old.chain(), new.chain(), amz_date.to_string())
}

fn resign_body(inner: Body, old: Chain, new: Chain, amz_date: String) -> Body {
    let st = ResignState {
        inner,
        buf: BytesMut::new(),
        eof: false,
        done: false,
        old,
        new,
        amz_date,
    };
    let s = futures::stream::unfold(Some(st), |st| async move {
        let mut st = st?;
        match st.next_piece().await {
            Ok(Some(b)) => Some((Ok(b), Some(st))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    let dyn_stream: s3s::stream::DynByteStream = Box::pin(SyncStream::new(s));
    Body::from(dyn_stream)
}

use std::pin::Pin;
use std::task::{Context, Poll};

/// Makes a `Send` stream `Sync` (polled only through `&mut`).
pub(crate) struct SyncStream<S>(std::sync::Mutex<Pin<Box<S>>>);

impl<S> SyncStream<S> {
    pub(crate) fn new(s: S) -> Self {
        SyncStream(std::sync::Mutex::new(Box::pin(s)))
    }
}

impl<S: futures::Stream<Item = Result<Bytes, StdError>> + Send> futures::Stream for SyncStream<S> {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let inner = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        inner.as_mut().poll_next(cx)
    }
}

impl<S: futures::Stream<Item = Result<Bytes, StdError>> + Send> s3s::stream::ByteStream
    for SyncStream<S>
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        assert!(s3s_accepts_region("us-east-1"));
        assert!(!s3s_accepts_region("US-EAST-04A"));
        assert!(!s3s_accepts_region(""));
        assert_eq!(normalized_region("US-EAST-04A"), "us-east-04a");
        assert_eq!(normalized_region("eu_west.1"), "eu-west-1");
    }

    /// The AWS documentation's GET Object example (s3s's own test vector).
    #[test]
    fn canonical_request_matches_the_aws_example() {
        let headers = vec![
            (
                "host".to_string(),
                "examplebucket.s3.amazonaws.com".to_string(),
            ),
            ("range".to_string(), "bytes=0-9".to_string()),
            ("x-amz-content-sha256".to_string(), EMPTY_SHA256.to_string()),
            ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
        ];
        let cr = canonical_request(
            "GET",
            "/test.txt",
            false,
            &[],
            &headers,
            EMPTY_SHA256,
            false,
        );
        assert_eq!(
            cr,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        let sts = string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &cr,
        );
        assert_eq!(
            hex::encode(hmac(&key, sts.as_bytes())),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// The AWS documentation's presigned URL example.
    #[test]
    fn presigned_canonical_request_matches_the_aws_example() {
        let q = decoded_query(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        )
        .unwrap();
        let headers = vec![(
            "host".to_string(),
            "examplebucket.s3.amazonaws.com".to_string(),
        )];
        let cr = canonical_request(
            "GET",
            "/test.txt",
            false,
            &q,
            &headers,
            "UNSIGNED-PAYLOAD",
            true,
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        let sts = string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &cr,
        );
        assert_eq!(
            hex::encode(hmac(&key, sts.as_bytes())),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn authorization_parsing() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=CWAB/20250101/US-EAST-04A/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd",
        )
        .unwrap();
        assert_eq!(a.credential.region, "US-EAST-04A");
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(a.signature, "abcd");
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=a/b/c").is_none());
    }

    fn chains() -> (Chain, Chain) {
        let old = Chain {
            key: signing_key("secret", "20250101", "US-EAST-04A", "s3"),
            scope: "20250101/US-EAST-04A/s3/aws4_request".into(),
            prev: "seed-old".into(),
        };
        let new = Chain {
            key: signing_key("secret", "20250101", "us-east-04a", "s3"),
            scope: "20250101/us-east-04a/s3/aws4_request".into(),
            prev: "seed-new".into(),
        };
        (old, new)
    }

    fn framed(old: &Chain, chunks: &[&[u8]], date: &str, corrupt: Option<usize>) -> Vec<u8> {
        let mut c = old.clone();
        let mut out = Vec::new();
        for (i, d) in chunks.iter().chain(std::iter::once(&&b""[..])).enumerate() {
            let h = if d.is_empty() {
                EMPTY_SHA256.to_string()
            } else {
                sha256_hex(d)
            };
            let mut sig = c.chunk(date, &h);
            c.prev = sig.clone();
            if corrupt == Some(i) {
                sig = sig.replace('a', "b").replace('0', "1");
            }
            out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", d.len()).as_bytes());
            out.extend_from_slice(d);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    async fn run(body: Vec<u8>, old: Chain, new: Chain) -> Result<Vec<u8>, String> {
        // Split the input into odd pieces to exercise the incremental parser.
        let pieces: Vec<Result<Bytes, StdError>> = body
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let dyn_stream: s3s::stream::DynByteStream =
            Box::pin(SyncStream::new(futures::stream::iter(pieces)));
        let inner = Body::from(dyn_stream);
        let mut out = resign_body(inner, old, new, "20250101T000000Z".into());
        let mut v = Vec::new();
        while let Some(x) = out.next().await {
            v.extend_from_slice(&x.map_err(|e| e.to_string())?);
        }
        Ok(v)
    }

    #[tokio::test]
    async fn chunked_bodies_are_verified_and_resigned() {
        let (old, new) = chains();
        let date = "20250101T000000Z";
        let chunks: [&[u8]; 2] = [b"hello world, this is chunk one", b"two"];
        let out = run(framed(&old, &chunks, date, None), old.clone(), new.clone())
            .await
            .unwrap();
        // The output is exactly what a client signing for the new region would send.
        assert_eq!(out, framed(&new, &chunks, date, None));
        for bad in 0..3 {
            let e = run(
                framed(&old, &chunks, date, Some(bad)),
                old.clone(),
                new.clone(),
            )
            .await
            .unwrap_err();
            assert!(e.contains("SignatureMismatch"), "{e}");
        }
        let mut truncated = framed(&old, &chunks, date, None);
        truncated.truncate(40);
        assert!(run(truncated, old, new).await.is_err());
    }

    #[tokio::test]
    async fn signed_trailers_are_resigned() {
        let (old, new) = chains();
        let date = "20250101T000000Z";
        let mut body = framed(&old, &[b"data"], date, None);
        // Replace the final "\r\n" after the 0-chunk with a signed trailer block.
        body.truncate(body.len() - 2);
        let mut c_old = old.clone();
        c_old.prev = {
            let mut c = old.clone();
            c.prev = c.chunk(date, &sha256_hex(b"data"));
            c.chunk(date, EMPTY_SHA256)
        };
        let canonical = b"x-amz-checksum-crc32:AAAAAA==\n";
        let tsig = c_old.trailer(date, canonical);
        body.extend_from_slice(
            format!("x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:{tsig}\r\n\r\n")
                .as_bytes(),
        );
        let out =
            String::from_utf8(run(body.clone(), old.clone(), new.clone()).await.unwrap()).unwrap();
        let mut c_new = new.clone();
        c_new.prev = {
            let mut c = new.clone();
            c.prev = c.chunk(date, &sha256_hex(b"data"));
            c.chunk(date, EMPTY_SHA256)
        };
        assert!(out.ends_with(&format!(
            "x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:{}\r\n\r\n",
            c_new.trailer(date, canonical)
        )));
        let forged = String::from_utf8(body)
            .unwrap()
            .replace("AAAAAA==", "BBBBBB==");
        assert!(
            run(forged.into_bytes(), old, new)
                .await
                .unwrap_err()
                .contains("SignatureMismatch")
        );
    }
}
