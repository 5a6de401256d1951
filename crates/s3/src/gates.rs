//! Request-level gates that close s3s 0.14's authentication gaps (DESIGN.md, SPEC §9):
//!
//! * SigV2 is rejected and presigned URLs may live at most 7 days;
//! * **what the signature covers**: s3s verifies only the headers the client chose to
//!   sign, yet routes on, and hands to handlers, every header present. As AWS S3 does,
//!   a SigV4 request (header or presigned) whose `host` or any `x-amz-*` header is not
//!   among its signed headers is refused with 403 `AccessDenied` "There were headers
//!   present in the request which were not signed" and a `HeadersNotSigned` element
//!   naming them. The one exception, as in S3, is `x-amz-content-sha256` on a presigned
//!   request (the signature covers `UNSIGNED-PAYLOAD`); there its value may only make
//!   the body check stricter (a SHA-256 digest), never select a streaming mode. Query
//!   parameters need no rule: both SigV4 forms sign the whole query (`versionId`,
//!   `partNumber`, `uploadId`, …), and the path is signed too;
//! * one authentication mechanism per request (an `Authorization` header *and* a
//!   presigned query would let s3s verify one while other code reads the other);
//! * **signing scopes**: the console's same-origin mount (`/console/s3/…` on the
//!   management listener, [`crate::resign::SignedPath`]) accepts only signatures whose
//!   credential scope names the region [`CONSOLE_REGION`], and the S3 listener refuses
//!   that region, so a signature made for one listener never authorizes a request on
//!   the other (the mount strips its prefix: a signature over `/console/s3/b/k` for the
//!   S3 listener means bucket `console`, key `s3/b/k`).
//!
//! [`precheck`] looks only at the request line and headers, so it runs before s3s does
//! any work ([`crate::http_service`]: no key lookup, no body read) and again in the
//! access hook (for callers that serve the bare `S3Service`).

use crate::request_line::{form_decode, percent_decode, query_pairs};
use http::HeaderMap;
use s3s::S3ErrorCode;

/// Longest presigned URL lifetime S3 accepts (7 days).
pub const MAX_PRESIGN_EXPIRES_SECS: u64 = 604_800;

/// The SigV4 region of the console mount's signing scope (module docs).
pub const CONSOLE_REGION: &str = "coffer-console";

/// Request extension: [`precheck`] passed for this request (set by the HTTP layer; the
/// access hook then does not parse the same headers again).
#[derive(Debug, Clone, Copy)]
pub struct Prechecked;

/// Why a request was turned away before authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: S3ErrorCode,
    pub message: &'static str,
    /// The unsigned headers, comma-separated, for S3's `HeadersNotSigned` element.
    pub headers_not_signed: Option<String>,
}

impl Rejection {
    fn new(code: S3ErrorCode, message: &'static str) -> Self {
        Rejection {
            code,
            message,
            headers_not_signed: None,
        }
    }

    /// The S3 error (status from the code; `HeadersNotSigned` is added by the HTTP layer).
    pub fn to_s3_error(&self) -> s3s::S3Error {
        s3s::S3Error::with_message(self.code.clone(), self.message)
    }
}

/// AWS's message for a SigV4 request with unsigned `x-amz-*` (or `host`) headers.
pub const UNSIGNED_HEADERS_MESSAGE: &str =
    "There were headers present in the request which were not signed";

/// AWS's answer in SigV4-only regions.
pub const SIGV2_MESSAGE: &str =
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";

/// Every gate of the module docs. `mounted`: the request came through the console
/// mount (it carries a [`crate::resign::SignedPath`]).
pub fn precheck(query: Option<&str>, headers: &HeaderMap, mounted: bool) -> Result<(), Rejection> {
    auth_shape(query, headers)?;
    let Some(v4) = sigv4_of(query, headers)? else {
        return Ok(());
    };
    signed_headers_cover(&v4, headers)?;
    signing_scope(&v4.region, mounted)
}

/// Rejects SigV2 (header or query), more than one authentication mechanism, and
/// presigned URLs whose `X-Amz-Expires` is not a number of seconds in `0..=604800`.
fn auth_shape(query: Option<&str>, headers: &HeaderMap) -> Result<(), Rejection> {
    let sigv2 = || Rejection::new(S3ErrorCode::InvalidRequest, SIGV2_MESSAGE);
    // Header auth: SigV4 is `AWS4-HMAC-SHA256 Credential=…`; SigV2 is `AWS <id>:<sig>`.
    for v in headers.get_all(http::header::AUTHORIZATION) {
        let v = v.as_bytes();
        if v.len() >= 4 && v[..4].eq_ignore_ascii_case(b"AWS ") {
            return Err(sigv2());
        }
    }
    let authorizations = headers.get_all(http::header::AUTHORIZATION).iter().count();
    if authorizations > 1 {
        return Err(Rejection::new(
            S3ErrorCode::InvalidArgument,
            "Only one Authorization header may be specified",
        ));
    }
    let Some(q) = query else { return Ok(()) };
    let mut has_v4_signature = false;
    let mut has_v2_signature = false;
    let mut expires: Vec<String> = Vec::new();
    for (name, value) in query_pairs(q) {
        match name.as_str() {
            "AWSAccessKeyId" => return Err(sigv2()),
            "Signature" => has_v2_signature = true,
            "X-Amz-Signature" => has_v4_signature = true,
            "X-Amz-Expires" => expires.push(percent_decode(&value)),
            _ => {}
        }
    }
    // s3s checks a `Signature` query parameter as SigV2 before it looks for SigV4.
    if has_v2_signature {
        return Err(sigv2());
    }
    if has_v4_signature && authorizations > 0 {
        return Err(Rejection::new(
            S3ErrorCode::InvalidArgument,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        ));
    }
    if has_v4_signature || !expires.is_empty() {
        let bad = |message| Rejection::new(S3ErrorCode::AuthorizationQueryParametersError, message);
        match expires.as_slice() {
            [] => {}
            [one] => match one.parse::<u64>() {
                Ok(n) if n <= MAX_PRESIGN_EXPIRES_SECS => {}
                Ok(_) => {
                    return Err(bad(
                        "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                    ));
                }
                Err(_) => return Err(bad("X-Amz-Expires should be a number")),
            },
            _ => return Err(bad("X-Amz-Expires must appear only once")),
        }
    }
    Ok(())
}

/// What a SigV4 request says about its own signature, read without verifying it.
#[derive(Debug)]
struct SigV4 {
    presigned: bool,
    /// The names from `SignedHeaders` / `X-Amz-SignedHeaders`, exactly as signed.
    signed: Vec<String>,
    /// The credential scope's region, as sent.
    region: String,
}

/// The SigV4 facts of a request; `None` for anonymous requests. Read strictly: any
/// `Authorization` header (SigV2 was refused before) must be exactly a SigV4 one, and a
/// presigned query must carry each SigV4 field once, well-formed. s3s 0.14 is lenient
/// here (any algorithm word, header names with spaces or capitals, non-ASCII bytes);
/// what it would read differently from this function is refused, so the gates and the
/// signature check always see the same request.
fn sigv4_of(query: Option<&str>, headers: &HeaderMap) -> Result<Option<SigV4>, Rejection> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION) {
        return header_sigv4(auth.as_bytes()).map(Some).ok_or_else(|| {
            Rejection::new(
                S3ErrorCode::AuthorizationHeaderMalformed,
                "The authorization header is malformed; it must be AWS4-HMAC-SHA256 \
                 Credential=<key>/<date>/<region>/s3/aws4_request, SignedHeaders=<lower-case \
                 names>, Signature=<64 hex digits>",
            )
        });
    }
    let Some(q) = query else { return Ok(None) };
    let pairs: Vec<(String, String)> = query_pairs(q)
        .into_iter()
        .map(|(k, v)| (k, form_decode(&v)))
        .collect();
    if !pairs.iter().any(|(k, _)| k == "X-Amz-Signature") {
        return Ok(None);
    }
    let bad = || {
        Rejection::new(
            S3ErrorCode::AuthorizationQueryParametersError,
            "Query-string authentication version 4 requires the X-Amz-Algorithm \
             (AWS4-HMAC-SHA256), X-Amz-Credential, X-Amz-Signature, X-Amz-Date, \
             X-Amz-SignedHeaders, and X-Amz-Expires parameters, each once and well-formed.",
        )
    };
    let one = |name: &str| -> Result<&str, Rejection> {
        let mut it = pairs.iter().filter(|(k, _)| k == name);
        match (it.next(), it.next()) {
            (Some(v), None) => Ok(v.1.as_str()),
            _ => Err(bad()),
        }
    };
    if one("X-Amz-Algorithm")? != ALGORITHM || !is_signature(one("X-Amz-Signature")?) {
        return Err(bad());
    }
    Ok(Some(SigV4 {
        presigned: true,
        signed: signed_names(one("X-Amz-SignedHeaders")?).ok_or_else(bad)?,
        region: credential_region(one("X-Amz-Credential")?).ok_or_else(bad)?,
    }))
}

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` in visible ASCII,
/// with the whitespace s3s allows (some after the algorithm, any after each comma).
fn header_sigv4(v: &[u8]) -> Option<SigV4> {
    if !v
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\t')
    {
        return None;
    }
    let v = std::str::from_utf8(v).ok()?;
    let rest = v.strip_prefix(ALGORITHM)?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix("Credential=")?;
    let (credential, rest) = rest.split_once(',')?;
    let rest = rest.trim_start().strip_prefix("SignedHeaders=")?;
    let (names, rest) = rest.split_once(',')?;
    let signature = rest.trim_start().strip_prefix("Signature=")?.trim_end();
    if !is_signature(signature) {
        return None;
    }
    Some(SigV4 {
        presigned: false,
        signed: signed_names(names)?,
        region: credential_region(credential)?,
    })
}

fn is_signature(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `name;name;…`: each a non-empty lower-case header name, as SigV4 requires and as
/// s3s looks them up (it signs a name it cannot find as an absent header).
fn signed_names(list: &str) -> Option<Vec<String>> {
    let tchar =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b);
    list.split(';')
        .map(|n| (!n.is_empty() && n.bytes().all(tchar)).then(|| n.to_string()))
        .collect()
}

/// The region of a credential scope ([`crate::resign::parse_credential`]).
fn credential_region(c: &str) -> Option<String> {
    crate::resign::parse_credential(c).map(|c| c.region.to_string())
}

/// `host` and every `x-amz-*` header present must be signed (module docs).
fn signed_headers_cover(v4: &SigV4, headers: &HeaderMap) -> Result<(), Rejection> {
    let signed = |n: &str| v4.signed.iter().any(|s| s == n);
    // `host` counts as present even when HTTP/2 carries it as `:authority` (s3s puts it
    // back before verifying).
    let mut unsigned: Vec<&str> = Vec::new();
    if !signed("host") {
        unsigned.push("host");
    }
    for name in headers.keys() {
        let n = name.as_str();
        if !n.starts_with("x-amz-") || signed(n) || unsigned.contains(&n) {
            continue;
        }
        if v4.presigned && n == "x-amz-content-sha256" {
            continue;
        }
        unsigned.push(n);
    }
    if !unsigned.is_empty() {
        return Err(Rejection {
            headers_not_signed: Some(unsigned.join(",")),
            ..Rejection::new(S3ErrorCode::AccessDenied, UNSIGNED_HEADERS_MESSAGE)
        });
    }
    if v4.presigned && !signed("x-amz-content-sha256") {
        for v in headers.get_all("x-amz-content-sha256") {
            let v = v.as_bytes();
            let digest = v.len() == 64 && v.iter().all(u8::is_ascii_hexdigit);
            if !(digest || v == b"UNSIGNED-PAYLOAD") {
                return Err(Rejection::new(
                    S3ErrorCode::InvalidArgument,
                    "x-amz-content-sha256 on a presigned request must be UNSIGNED-PAYLOAD or \
                     the SHA-256 of the body (streaming payloads need header authentication)",
                ));
            }
        }
    }
    Ok(())
}

/// The console mount signs for [`CONSOLE_REGION`], the S3 listener for any other
/// region (module docs). Regions compare as the region normalizer lower-cases them.
pub(crate) fn signing_scope(region: &str, mounted: bool) -> Result<(), Rejection> {
    let console = crate::resign::normalized_region(region) == CONSOLE_REGION;
    match (mounted, console) {
        (true, false) => Err(Rejection::new(
            S3ErrorCode::AuthorizationHeaderMalformed,
            "Requests to the console mount must be signed for the region 'coffer-console'",
        )),
        (false, true) => Err(Rejection::new(
            S3ErrorCode::AuthorizationHeaderMalformed,
            "The region 'coffer-console' is reserved for the console mount",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SIG: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn hdr(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(auth).unwrap(),
        );
        h
    }

    #[test]
    fn sigv2_header_is_rejected() {
        let e = precheck(
            None,
            &hdr("AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="),
            false,
        )
        .unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidRequest);
        assert!(precheck(None, &hdr("aws x:y"), false).is_err());
    }

    #[test]
    fn sigv4_header_passes() {
        precheck(
            None,
            &hdr(&format!("AWS4-HMAC-SHA256 Credential=CW/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={SIG}")), false)
        .unwrap();
        precheck(None, &HeaderMap::new(), false).unwrap();
    }

    #[test]
    fn sigv2_query_is_rejected() {
        let h = HeaderMap::new();
        for q in [
            "AWSAccessKeyId=AK&Expires=1&Signature=abc",
            "Signature=abc",
            "x=1&AWSAccessKeyId=AK",
        ] {
            assert_eq!(
                precheck(Some(q), &h, false).unwrap_err().code,
                S3ErrorCode::InvalidRequest,
                "{q}"
            );
        }
    }

    #[test]
    fn presign_expiry_is_capped_at_seven_days() {
        let h = HeaderMap::new();
        let q = |e: &str| {
            presigned("host", "us-east-1")
                .replace("X-Amz-Expires=60", &format!("X-Amz-Expires={e}"))
        };
        precheck(Some(&q("604800")), &h, false).unwrap();
        precheck(Some(&q("1")), &h, false).unwrap();
        for bad in ["604801", "99999999999", "-1", "abc", ""] {
            let e = precheck(Some(&q(bad)), &h, false).unwrap_err();
            assert_eq!(
                e.code,
                S3ErrorCode::AuthorizationQueryParametersError,
                "{bad}"
            );
        }
        let twice = "X-Amz-Expires=1&X-Amz-Expires=2&X-Amz-Signature=00";
        assert!(precheck(Some(twice), &h, false).is_err());
    }

    fn v4(signed: &str, region: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=CWAAAAAAAAAAAAAA/20250101/{region}/s3/aws4_request, \
             SignedHeaders={signed}, Signature={SIG}"
        )
    }

    fn with(mut h: HeaderMap, pairs: &[(&'static str, &str)]) -> HeaderMap {
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn every_x_amz_header_must_be_signed() {
        let signed = "host;x-amz-content-sha256;x-amz-date";
        let base = || {
            with(
                hdr(&v4(signed, "us-east-1")),
                &[
                    ("host", "h"),
                    ("x-amz-date", "20250101T000000Z"),
                    ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
                    ("content-type", "text/plain"),
                ],
            )
        };
        precheck(None, &base(), false).unwrap();
        for extra in [
            "x-amz-copy-source",
            "x-amz-meta-a",
            "x-amz-tagging",
            "x-amz-metadata-directive",
            "x-amz-rename-source",
            "X-Amz-Security-Token",
        ] {
            let h = with(base(), &[(extra, "v")]);
            let e = precheck(None, &h, false).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::AccessDenied, "{extra}");
            assert_eq!(e.message, UNSIGNED_HEADERS_MESSAGE);
            assert_eq!(
                e.headers_not_signed.as_deref(),
                Some(extra.to_ascii_lowercase().as_str())
            );
        }
        // Header auth gets no exception for the payload hash.
        let h = with(
            hdr(&v4("host;x-amz-date", "us-east-1")),
            &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        );
        assert_eq!(
            precheck(None, &h, false)
                .unwrap_err()
                .headers_not_signed
                .as_deref(),
            Some("x-amz-content-sha256")
        );
        // `host` must always be signed.
        let h = hdr(&v4("x-amz-date", "us-east-1"));
        assert_eq!(
            precheck(None, &h, false)
                .unwrap_err()
                .headers_not_signed
                .as_deref(),
            Some("host")
        );
    }

    fn presigned(signed: &str, region: &str) -> String {
        format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=CWAAAAAAAAAAAAAA%2F20250101%2F{region}%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders={signed}&X-Amz-Signature={SIG}"
        )
    }

    #[test]
    fn presigned_requests_sign_their_headers_too() {
        let q = presigned("host", "us-east-1");
        let h = with(HeaderMap::new(), &[("host", "h"), ("content-type", "a/b")]);
        precheck(Some(&q), &h, false).unwrap();
        let copy = with(h.clone(), &[("x-amz-copy-source", "/private/payroll.csv")]);
        let e = precheck(Some(&q), &copy, false).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        assert_eq!(e.headers_not_signed.as_deref(), Some("x-amz-copy-source"));
        let signed = presigned("host%3Bx-amz-copy-source", "us-east-1");
        precheck(Some(&signed), &copy, false).unwrap();
        // The payload hash may be unsigned, but only as a digest or UNSIGNED-PAYLOAD.
        for ok in [
            "UNSIGNED-PAYLOAD",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            precheck(
                Some(&q),
                &with(h.clone(), &[("x-amz-content-sha256", ok)]),
                false,
            )
            .unwrap();
        }
        for bad in [
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "xyz",
        ] {
            let e = precheck(
                Some(&q),
                &with(h.clone(), &[("x-amz-content-sha256", bad)]),
                false,
            )
            .unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn one_auth_mechanism_per_request() {
        let q = presigned("host", "us-east-1");
        let h = hdr(&v4("host", "us-east-1"));
        assert_eq!(
            precheck(Some(&q), &h, false).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        let two = with(h.clone(), &[("authorization", &v4("host", "us-east-1"))]);
        assert_eq!(
            precheck(None, &two, false).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }

    /// s3s verifies any algorithm word, capitals and spaces in signed names, and
    /// non-ASCII bytes; a header the gates read differently from s3s would skip them
    /// (review of issue 15: a lower-cased algorithm brought the copy attack back).
    #[test]
    fn authorization_headers_are_read_strictly() {
        let good = v4("host;x-amz-date", "us-east-1");
        precheck(None, &hdr(&good), false).unwrap();
        let mut bad: Vec<String> = vec![
            good.replacen("AWS4-HMAC-SHA256", "aws4-hmac-sha256", 1),
            good.replacen("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256X", 1),
            good.replacen("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256,", 1),
            good.replacen("host;x-amz-date", "host; x-amz-date", 1),
            good.replacen("host;x-amz-date", "host;X-Amz-Date", 1),
            good.replacen("host;x-amz-date", "host;;x-amz-date", 1),
            good.replacen("Signature=0", "Signature=Z", 1),
            good.replacen("/s3/aws4_request", "/s3/x/aws4_request", 1),
            good.replacen("20250101", "2025011", 1),
            format!("{good}, Extra=1"),
            "Bearer token".into(),
            String::new(),
        ];
        bad.push(good.replacen("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256\u{e9}", 1));
        for b in &bad {
            let mut h = HeaderMap::new();
            h.insert(
                http::header::AUTHORIZATION,
                HeaderValue::from_bytes(b.as_bytes()).unwrap(),
            );
            let e = precheck(None, &h, false).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::AuthorizationHeaderMalformed, "{b}");
        }
        // A presigned URL turned into header auth keeps its unsigned x-amz-* headers
        // unsigned.
        let h = with(
            hdr(&v4("host", "us-east-1")),
            &[
                ("x-amz-date", "20250101T000000Z"),
                ("x-amz-copy-source", "/p/k"),
            ],
        );
        assert_eq!(
            precheck(None, &h, false).unwrap_err().code,
            S3ErrorCode::AccessDenied
        );
    }

    #[test]
    fn presigned_fields_are_read_strictly() {
        let q = presigned("host", "us-east-1");
        precheck(Some(&q), &HeaderMap::new(), false).unwrap();
        for b in [
            q.replace(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Algorithm=aws4-hmac-sha256",
            ),
            q.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=Host"),
            q.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host%3B"),
            q.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host+"),
            format!("{q}&X-Amz-Signature={SIG}"),
            format!("{q}&X-Amz-SignedHeaders=host"),
            q.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""),
        ] {
            let e = precheck(Some(&b), &HeaderMap::new(), false).unwrap_err();
            assert_eq!(
                e.code,
                S3ErrorCode::AuthorizationQueryParametersError,
                "{b}"
            );
        }
        // Percent-encoded names are the same parameters (s3s decodes them too).
        let encoded = q.replace("X-Amz-Signature=", "X-Amz-Signatur%65=");
        assert_eq!(
            precheck(Some(&encoded), &HeaderMap::new(), true)
                .unwrap_err()
                .code,
            S3ErrorCode::AuthorizationHeaderMalformed,
            "the mount's scope applies to an encoded presigned query"
        );
    }

    #[test]
    fn the_console_mount_has_its_own_signing_scope() {
        for (region, mounted, ok) in [
            ("us-east-1", false, true),
            ("US-EAST-04A", false, true),
            ("coffer-console", false, false),
            ("COFFER-CONSOLE", false, false),
            ("coffer-console", true, true),
            ("us-east-1", true, false),
            ("console", true, false),
        ] {
            let h = hdr(&v4("host", region));
            assert_eq!(
                precheck(None, &h, mounted).is_ok(),
                ok,
                "{region} {mounted}"
            );
            let q = presigned("host", region);
            assert_eq!(
                precheck(Some(&q), &HeaderMap::new(), mounted).is_ok(),
                ok,
                "presigned {region} {mounted}"
            );
        }
        // Anonymous requests carry no scope.
        precheck(None, &HeaderMap::new(), true).unwrap();
    }

    #[test]
    fn ordinary_queries_pass() {
        let h = HeaderMap::new();
        for q in [
            "list-type=2&prefix=a",
            "uploads",
            "partNumber=1&uploadId=x",
            "",
        ] {
            precheck(Some(q), &h, false).unwrap();
        }
    }
}
