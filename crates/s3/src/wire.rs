//! Small wire-format helpers of the S3 protocol that s3s leaves to the implementation:
//! query splitting, percent coding (`encoding-type=url`, `x-amz-tagging`), opaque
//! continuation tokens and ETag/checksum conversions.

// The request-line parsers moved to `request_line`; re-exported under their old paths.
pub use crate::request_line::{form_decode, percent_decode, query_pairs};

use crate::tag_set::{MAX_OBJECT_TAGS, TagError, validate_tag_set};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_core::model::Checksums;
use s3s::dto::{ETag, ETagCondition};
use std::collections::BTreeMap;

/// A parsed `Range` header as the object service's range. Public only for the fuzz
/// checks (`crates/fuzzing`, through `gateway::byte_range`).
#[doc(hidden)]
pub fn byte_range(r: s3s::dto::Range) -> coffer_core::objects::ByteRange {
    use coffer_core::objects::ByteRange;
    use s3s::dto::Range;
    match r {
        Range::Int {
            first,
            last: Some(last),
        } => ByteRange::Bounded(first, last),
        Range::Int { first, last: None } => ByteRange::From(first),
        Range::Suffix { length } => ByteRange::Suffix(length),
    }
}

/// `encoding-type=url` encoding of keys and prefixes: everything except RFC 3986
/// unreserved characters and `/` becomes `%XX` (UTF-8 bytes). `%20` for a space decodes
/// correctly with both `unquote` and `unquote_plus` style decoders.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses `x-amz-tagging` (`k1=v1&k2=v2`, URL-encoded) and applies the object tag
/// rules of [`validate_tag_set`].
pub fn parse_tagging(s: &str) -> Result<BTreeMap<String, String>, TagError> {
    let pairs = s.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k), form_decode(v))
    });
    validate_tag_set(pairs, MAX_OBJECT_TAGS, "Object")
}

/// Opaque continuation token: URL-safe base64 of the resume key.
pub fn encode_token(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Inverse of [`encode_token`]; `None` for anything we did not issue.
pub fn decode_token(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    String::from_utf8(bytes).ok()
}

/// A stored quoted ETag (`"abc"` or `"abc-3"`) as the s3s DTO value.
pub fn etag_out(stored: &str) -> ETag {
    let inner = stored
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(stored);
    ETag::Strong(inner.to_string())
}

/// An ETag condition as the object service compares it: `*` or the quoted value
/// (`W/"…"` for weak tags, which the object service compares weakly, as S3 does).
pub fn etag_condition(c: &ETagCondition) -> String {
    match c {
        ETagCondition::Any => "*".to_string(),
        ETagCondition::ETag(ETag::Strong(v)) => format!("\"{v}\""),
        ETagCondition::ETag(ETag::Weak(v)) => format!("W/\"{v}\""),
    }
}

/// A client-sent ETag (complete-multipart part list) in the stored quoted form.
pub fn etag_in(e: &ETag) -> String {
    format!("\"{}\"", e.value())
}

/// The stored checksums in the five DTO fields
/// `(crc32, crc32c, crc64nvme, sha1, sha256, type)`.
#[allow(clippy::type_complexity)]
pub fn checksum_fields(
    c: &Checksums,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<s3s::dto::ChecksumType>,
) {
    (
        c.crc32.clone(),
        c.crc32c.clone(),
        c.crc64nvme.clone(),
        c.sha1.clone(),
        c.sha256.clone(),
        c.checksum_type.clone().map(s3s::dto::ChecksumType::from),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_coding() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(url_encode("a b/c+d%é"), "a%20b/c%2Bd%25%C3%A9");
        for s in ["plain", "sp ace", "ü/ñ", "a+b=c&d", "%41"] {
            assert_eq!(percent_decode(&url_encode(s)), s);
        }
    }

    #[test]
    fn tagging() {
        let t = parse_tagging("a=1&b=x%20y&c=").unwrap();
        assert_eq!(t["a"], "1");
        assert_eq!(t["b"], "x y");
        assert_eq!(t["c"], "");
        assert_eq!(parse_tagging("k=a+b").unwrap()["k"], "a b");
        assert!(parse_tagging("").unwrap().is_empty());
        assert!(parse_tagging("a=1&a=2").is_err());
        assert!(parse_tagging("=v").is_err());
        assert!(parse_tagging(&format!("{}=v", "k".repeat(129))).is_err());
        assert!(parse_tagging(&format!("k={}", "v".repeat(257))).is_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tagging(&eleven.join("&")).is_err());
        // Fuzz finding (names): a multi-byte character across byte 4 of a key panicked
        // the `aws:` prefix check.
        assert_eq!(parse_tagging("k1%C3%8F0=v").unwrap()["k1Ï0"], "v");
        assert_eq!(parse_tagging("abcÏ=v").unwrap()["abcÏ"], "v");
        assert!(parse_tagging("aWs:Ï=v").is_err());
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        for k in ["", "a", "dir/sub/ü-key", "x=y&z"] {
            assert_eq!(decode_token(&encode_token(k)).as_deref(), Some(k));
        }
        assert_eq!(decode_token("!!!"), None);
        assert_eq!(decode_token(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])), None);
    }

    #[test]
    fn etags() {
        assert_eq!(etag_out("\"abc-2\""), ETag::Strong("abc-2".into()));
        assert_eq!(etag_out("abc"), ETag::Strong("abc".into()));
        assert_eq!(etag_condition(&ETagCondition::Any), "*");
        assert_eq!(
            etag_condition(&ETagCondition::ETag(ETag::Strong("x".into()))),
            "\"x\""
        );
        assert_eq!(etag_in(&ETag::Strong("x".into())), "\"x\"");
    }
}
