//! The S3 tag-set rules, shared by the tagging handlers (`tagging.rs`) and the
//! `x-amz-tagging` header of PutObject/CopyObject/CreateMultipartUpload
//! (`wire::parse_tagging`).
//!
//! Rules (as S3): ≤ 10 object tags / ≤ 50 bucket tags (more → 400 `BadRequest`), keys
//! 1..=128 and values ≤ 256 Unicode characters of letters, digits, white space and
//! `+ - = . _ : / @`, unique keys, no `aws:` prefix (→ 400 `InvalidTag`).
//!
//! A leaf of the crate's layering: it imports nothing from this crate but
//! [`crate::errors`].

use crate::errors::s3;
use http::StatusCode;
use s3s::{S3Error, S3ErrorCode};
use std::collections::BTreeMap;

pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// Why a tag set was refused: the S3 code (`InvalidTag` or `BadRequest`) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagError {
    pub bad_request: bool,
    pub message: String,
}

impl TagError {
    fn invalid(m: impl Into<String>) -> Self {
        Self {
            bad_request: false,
            message: m.into(),
        }
    }

    pub fn into_s3(self, rid: &str) -> S3Error {
        if self.bad_request {
            let mut e = s3(S3ErrorCode::Custom("BadRequest".into()), self.message, rid);
            e.set_status_code(StatusCode::BAD_REQUEST);
            e
        } else {
            s3(S3ErrorCode::InvalidTag, self.message, rid)
        }
    }
}

fn allowed_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "+-=._:/@".contains(c)
}

/// Validates a tag set given as (key, value) pairs in request order; `max` is 10 for
/// objects and 50 for buckets.
pub fn validate_tag_set(
    pairs: impl IntoIterator<Item = (String, String)>,
    max: usize,
    what: &str,
) -> Result<BTreeMap<String, String>, TagError> {
    let mut tags = BTreeMap::new();
    for (k, v) in pairs {
        if k.is_empty() || k.chars().count() > MAX_KEY_CHARS || !k.chars().all(allowed_char) {
            return Err(TagError::invalid("The TagKey you have provided is invalid"));
        }
        // `get`, not `[..4]`: byte 4 may fall inside a multi-byte character (a fuzz
        // finding: `x-amz-tagging: k1Ï0=v` panicked the request).
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(TagError::invalid(
                "Your TagKey cannot be prefixed with aws:",
            ));
        }
        if v.chars().count() > MAX_VALUE_CHARS || !v.chars().all(allowed_char) {
            return Err(TagError::invalid(
                "The TagValue you have provided is invalid",
            ));
        }
        if tags.insert(k, v).is_some() {
            return Err(TagError::invalid(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    if tags.len() > max {
        return Err(TagError {
            bad_request: true,
            message: format!("{what} tags cannot be greater than {max}"),
        });
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_rules() {
        let ok = validate_tag_set(p(&[("team", "blue"), ("a b", "x+y=z.@:/_-")]), 10, "Object");
        assert_eq!(ok.unwrap().len(), 2);
        // Unicode counts characters, not bytes.
        let k = "ü".repeat(128);
        let v = "é".repeat(256);
        assert!(validate_tag_set(vec![(k.clone(), v.clone())], 10, "Object").is_ok());
        for bad in [
            p(&[("", "v")]),
            p(&[("aws:x", "v")]),
            p(&[("AWS:x", "v")]),
            p(&[("k", "v"), ("k", "w")]),
            p(&[("k*", "v")]),
            p(&[("k", "v<")]),
            vec![(format!("{k}x"), "v".into())],
            vec![("k".into(), format!("{v}x"))],
        ] {
            let e = validate_tag_set(bad.clone(), 10, "Object").unwrap_err();
            assert!(!e.bad_request, "{bad:?}");
        }
        let eleven: Vec<_> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(
            validate_tag_set(eleven.clone(), 10, "Object")
                .unwrap_err()
                .bad_request
        );
        assert!(validate_tag_set(eleven, 50, "Bucket").is_ok());
        let many: Vec<_> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(
            validate_tag_set(many, 50, "Bucket")
                .unwrap_err()
                .bad_request
        );
    }
}
