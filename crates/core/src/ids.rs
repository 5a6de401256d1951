//! Identifiers validated at construction, and the CSPRNG generators for new ones.

use crate::error::{Error, Result};
use rand::Rng;
use rand::distr::Alphanumeric;

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_from(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// `orgId`: 6 lowercase alphanumerics.
pub fn new_org_id() -> String {
    random_from(LOWER_ALNUM, 6)
}

pub fn is_org_id(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| LOWER_ALNUM.contains(&b))
}

/// User id: 21 chars of `[A-Za-z0-9]`.
pub fn new_uid() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(21)
        .map(char::from)
        .collect()
}

pub fn is_uid(s: &str) -> bool {
    s.len() == 21 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Access key id: `CW` + 14 of `[A-Z0-9]`.
pub fn new_access_key_id() -> String {
    format!("CW{}", random_from(UPPER_ALNUM, 14))
}

pub fn is_access_key_id(s: &str) -> bool {
    s.len() == 16 && s.starts_with("CW") && s.bytes().all(|b| UPPER_ALNUM.contains(&b))
}

/// Access key secret: `cwo` + 40 of `[a-z0-9]`.
pub fn new_secret_key() -> String {
    format!("cwo{}", random_from(LOWER_ALNUM, 40))
}

/// API token: `CW-SECRET-` + 48 alphanumerics (≈285 bits).
pub fn new_api_token() -> String {
    format!("CW-SECRET-{}", random_from(UPPER_ALNUM, 48))
}

/// Session token of a container-credentials key: 64 alphanumerics (≈380 bits). Stored
/// only as its SHA-256 (`AccessKey::session_token_hash`).
pub fn new_session_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

/// Generic opaque id (token ids, upload ids, blob ids): 32 lowercase hex chars.
/// Object version id: 32 chars of `[A-Za-z0-9]` (S3's are 32 URL-safe chars).
pub fn new_version_id() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Whether `s` is a well-formed version id: `null` or one of ours. Anything else is
/// S3's `InvalidArgument` ("Invalid version id specified"), not `NoSuchVersion`.
pub fn is_version_id(s: &str) -> bool {
    s == crate::model::NULL_VERSION
        || (s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub fn new_hex_id() -> String {
    let b: [u8; 16] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bucket names whose prefix is reserved for the service.
pub const RESERVED_BUCKET_PREFIXES: &[&str] = &["cw-", "vip-", "log-stitcher-ch-"];

/// Validates a bucket name for creation by a user (SPEC §4): 3–63 of `[a-z0-9-]`,
/// starts and ends alphanumeric, not `xn--…`, no reserved prefix, not `int`.
/// `allow_reserved` admits the org's own audit bucket, which the server creates.
pub fn validate_bucket_name(name: &str, allow_reserved: bool) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidBucketName(format!("{name:?}: {why}")));
    if !(3..=63).contains(&name.len()) {
        return bad("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad("may contain only lowercase letters, digits and hyphens");
    }
    let (first, last) = (name.as_bytes()[0], name.as_bytes()[name.len() - 1]);
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("must start and end with a letter or digit");
    }
    if name.starts_with("xn--") {
        return bad("must not start with xn--");
    }
    if !allow_reserved {
        if name == "int" {
            return bad("the name is reserved");
        }
        if let Some(p) = RESERVED_BUCKET_PREFIXES
            .iter()
            .find(|p| name.starts_with(**p))
        {
            return bad(&format!("the prefix {p} is reserved"));
        }
    }
    Ok(())
}

/// The org's reserved audit-log bucket.
pub fn audit_bucket_name(org_id: &str) -> String {
    format!("cw-{org_id}-audit-logs")
}

pub const MAX_KEY_LEN: usize = 1024;

pub fn validate_object_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("object key must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::KeyTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_documented_shapes() {
        assert!(is_org_id(&new_org_id()));
        assert!(is_uid(&new_uid()));
        assert!(is_access_key_id(&new_access_key_id()));
        let s = new_secret_key();
        assert_eq!(s.len(), 43);
        assert!(s.starts_with("cwo"));
        assert!(new_api_token().starts_with("CW-SECRET-"));
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket-1", "a1b", &"a".repeat(63)] {
            validate_bucket_name(ok, false).unwrap();
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "-abc",
            "abc-",
            "a_b",
            "a.b",
            "xn--abc",
            "cw-abc",
            "vip-x1",
            "log-stitcher-ch-1",
            "int",
        ] {
            assert!(validate_bucket_name(bad, false).is_err(), "{bad}");
        }
        validate_bucket_name("cw-abc123-audit-logs", true).unwrap();
    }
}
