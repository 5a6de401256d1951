//! Parsers of the request line and headers that several layers need before any handler
//! runs: query splitting and percent decoding, and recognizing the requests s3s 0.14 does
//! not route itself (RenameObject, form uploads).
//!
//! A leaf of the crate's layering (see the crate docs): it imports nothing from this
//! crate but [`crate::errors`], so the gates, the access check and the handlers can all
//! use it.

use crate::errors::s3;
use http::HeaderMap;
use s3s::{HttpRequest, S3ErrorCode, S3Result};

/// `(name, raw value)` pairs of a query string; names are percent-decoded.
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), v.to_string()),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Decodes `%XX` escapes (invalid escapes are kept literally). `+` is kept as is.
pub fn percent_decode(s: &str) -> String {
    percent_decode_bytes(s, false)
}

/// A query value as s3s reads it (form encoding: `+` is a space).
pub fn form_decode(s: &str) -> String {
    percent_decode_bytes(s, true)
}

fn percent_decode_bytes(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            x => out.push(x),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The header naming a RenameObject's source.
pub const RENAME_SOURCE: &str = "x-amz-rename-source";

/// Whether the request query selects RenameObject.
pub fn is_rename(query: Option<&str>) -> bool {
    query.is_some_and(|q| query_pairs(q).iter().any(|(n, _)| n == "renameObject"))
}

/// Bucket and key of `x-amz-rename-source` (`/bucket/key` or `bucket/key`, URL-encoded).
pub fn rename_source(headers: &HeaderMap, request_id: &str) -> S3Result<(String, String)> {
    let bad = |msg: &str| s3(S3ErrorCode::InvalidArgument, msg.to_string(), request_id);
    let raw = headers
        .get(RENAME_SOURCE)
        .ok_or_else(|| bad("RenameObject requires the x-amz-rename-source header"))?
        .to_str()
        .map_err(|_| bad("Invalid x-amz-rename-source header"))?;
    let decoded = percent_decode(raw);
    let path = decoded.strip_prefix('/').unwrap_or(&decoded);
    match path.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(bad(
            "x-amz-rename-source must name the source as /bucket/key",
        )),
    }
}

/// The source key of a rename into `bucket`; a source in another bucket is refused.
pub fn same_bucket_source(headers: &HeaderMap, bucket: &str, request_id: &str) -> S3Result<String> {
    let (b, k) = rename_source(headers, request_id)?;
    if b != bucket {
        return Err(s3(
            S3ErrorCode::InvalidRequest,
            "RenameObject renames within one bucket: the source must be in the destination \
             bucket",
            request_id,
        ));
    }
    Ok(k)
}

/// Whether the request is a form upload as s3s would recognize one: a `POST` whose
/// `Content-Type` is `multipart/form-data`. Every such request is served by
/// `post_object`, never by s3s (see its module docs).
pub fn is_form_post(req: &HttpRequest) -> bool {
    req.method() == http::Method::POST
        && req
            .headers()
            .get_all(http::header::CONTENT_TYPE)
            .iter()
            .any(|v| {
                // As the `mime` crate s3s uses reads it: `type/subtype[+suffix]`,
                // case-insensitive, parameters after `;`.
                let v = String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase();
                let essence: String = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let (ty, sub) = essence.split_once('/').unwrap_or((&essence, ""));
                ty == "multipart" && sub.split('+').next() == Some("form-data")
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use s3s::Body;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn query_pairs_decode_names() {
        let p = query_pairs("X-Amz-Expires=10&a%2Db=1&flag");
        assert_eq!(p[0], ("X-Amz-Expires".to_string(), "10".to_string()));
        assert_eq!(p[1].0, "a-b");
        assert_eq!(p[2], ("flag".to_string(), String::new()));
    }

    #[test]
    fn rename_query() {
        assert!(is_rename(Some("renameObject")));
        assert!(is_rename(Some("x=1&renameObject=")));
        assert!(!is_rename(Some("renameObjects")));
        assert!(!is_rename(None));
    }

    #[test]
    fn source_forms() {
        for v in ["/b/dir/a%20b", "b/dir/a%20b", "%2Fb%2Fdir%2Fa%20b"] {
            assert_eq!(
                rename_source(&h(&[(RENAME_SOURCE, v)]), "r").unwrap(),
                ("b".to_string(), "dir/a b".to_string()),
                "{v}"
            );
        }
        for v in ["", "/", "b", "/b/", "//k"] {
            assert!(
                rename_source(&h(&[(RENAME_SOURCE, v)]), "r").is_err(),
                "{v}"
            );
        }
        assert!(rename_source(&HeaderMap::new(), "r").is_err());
        let e = same_bucket_source(&h(&[(RENAME_SOURCE, "other/k")]), "b", "r").unwrap_err();
        assert_eq!(e.code(), &S3ErrorCode::InvalidRequest);
    }

    #[test]
    fn form_posts_are_recognized_as_s3s_would() {
        let req = |ct: &str, method: http::Method| {
            let mut r = HttpRequest::new(Body::empty());
            *r.method_mut() = method;
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_str(ct).unwrap(),
            );
            r
        };
        for ct in [
            "multipart/form-data; boundary=x",
            "Multipart/Form-Data;boundary=x",
            " multipart/form-data ; boundary=x",
            "multipart/form-data+x; boundary=x",
        ] {
            assert!(is_form_post(&req(ct, http::Method::POST)), "{ct}");
        }
        assert!(!is_form_post(&req(
            "multipart/form-data",
            http::Method::PUT
        )));
        assert!(!is_form_post(&req("application/xml", http::Method::POST)));
        assert!(!is_form_post(&req(
            "multipart/mixed; boundary=x",
            http::Method::POST
        )));
    }
}
