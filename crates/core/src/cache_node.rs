//! Compute-node caches (`coffer cache`): what the origin and a cache node say to each
//! other, the node credential, the identity of a cacheable object version, and fill
//! grants. The protocol (docs/architecture.md, "Compute-node cache"; trust boundaries in
//! docs/security.md):
//!
//! 1. The node forwards its client's request unchanged (the client's own SigV4
//!    signature, for the host the client signed) to the origin's S3 listener, adding
//!    [`NODE_HEADER`] (its credential), [`CLIENT_HEADER`] (the client's address) and,
//!    for GET, [`MIN_SIZE_HEADER`].
//! 2. The origin checks the credential, then serves the request exactly as if the client
//!    had come directly: gates, signature, policies, ACLs, conditions, audit (the event
//!    names the node). A GET of an object version of at least the minimum size is
//!    answered with the response head only: the client's status and headers, the body's
//!    length in [`LENGTH_HEADER`], the version's [`object_tag`] and size, and a
//!    [`Grant`] for that version.
//! 3. The node serves the body from its copy of the tagged version, or fetches the
//!    version once with the grant from [`FILL_PATH`] (credential and grant both
//!    required), writing it to disk while it serves.
//!
//! The credential alone reads nothing (the fill path also needs a grant, and every
//! other request is the client's, authorized as the client). A grant alone reads
//! nothing (it is bound to the node that asked). A grant is minted only after a
//! client's request for that version was allowed, and names exactly that version.

use crate::model::{ObjectData, ObjectRecord};
use crate::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Request header: the node's credential. Never forwarded by a node from its clients.
pub const NODE_HEADER: &str = "x-coffer-cache-node";
/// Request header: the address of the node's client (what policies' `aws:SourceIp`
/// and audit events see), believed only with a valid credential.
pub const CLIENT_HEADER: &str = "x-coffer-cache-client";
/// Request header (GET): objects smaller than this many bytes are answered with their
/// body, as to any client.
pub const MIN_SIZE_HEADER: &str = "x-coffer-cache-min";
/// Request header (fill): the grant.
pub const GRANT_HEADER: &str = "x-coffer-cache-grant";
/// Answer header: the version's [`object_tag`].
pub const OBJECT_HEADER: &str = "x-coffer-cache-object";
/// Answer header: the version's size in bytes.
pub const SIZE_HEADER: &str = "x-coffer-cache-size";
/// Answer header: the length of the body the client is to receive (the answer itself
/// has none). Its first byte is the start of `Content-Range`, or 0.
pub const LENGTH_HEADER: &str = "x-coffer-cache-length";
/// The origin path a node fetches a granted version from (no bucket is named `-`).
pub const FILL_PATH: &str = "/-/cache/fill";
/// How long a grant may be used: to fill, and for a reader's fallback to the origin
/// when a local copy fails mid-answer (long enough for a slow reader of a large object).
pub const GRANT_TTL_SECS: i64 = 300;
/// The smallest minimum size a node may ask for: smaller objects are stored inline in
/// the metadata database and never worth a second copy.
pub const MIN_CACHEABLE: u64 = 64 * 1024;

const CREDENTIAL_PREFIX: &str = "COFFER-NODE-";
/// Grants longer than this are refused before any parsing, and never minted (a key of
/// 1,024 bytes fits unless most of it needs JSON escaping).
pub const MAX_GRANT_LEN: usize = 8192;

/// A new node credential (shown once; stored as its SHA-256).
pub fn new_credential() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let body: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    format!("{CREDENTIAL_PREFIX}{body}")
}

/// Whether `s` could be a credential (checked before any store lookup).
pub fn is_credential_shaped(s: &str) -> bool {
    s.len() == CREDENTIAL_PREFIX.len() + 48
        && s.starts_with(CREDENTIAL_PREFIX)
        && s[CREDENTIAL_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// The identity of an object version's bytes: equal tags mean equal bytes. It covers
/// the bucket, key, version id, ETag, size and the blobs holding the bytes (a blob is
/// written once under a fresh id), so an overwrite — also of an unversioned key, also
/// with the same ETag — gets a new tag. `None` for inline objects and for encrypted
/// ones (`crate::sse`), which are never cached: a node's disk holds plaintext, and SSE-C
/// bytes are served only to a request carrying the key. Without a tag there is no grant
/// and no fill.
pub fn object_tag(rec: &ObjectRecord) -> Option<String> {
    if rec.encryption.is_some() {
        return None;
    }
    let ObjectData::Segments(segments) = &rec.data else {
        return None;
    };
    let mut h = Sha256::new();
    for field in [
        rec.bucket.as_str(),
        rec.key.as_str(),
        rec.version_id.as_deref().unwrap_or("null"),
        rec.etag.as_str(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.update(rec.size.to_be_bytes());
    for s in segments {
        h.update((s.blob_id.len() as u64).to_be_bytes());
        h.update(s.blob_id.as_bytes());
    }
    Some(hex::encode(&h.finalize()[..16]))
}

/// Whether `s` has the shape of an [`object_tag`] (32 lowercase hex digits): the only
/// names a node gives its files.
pub fn object_tag_shaped(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Permission for one node to fetch one object version, until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The node the grant was minted for.
    pub node: String,
    pub bucket: String,
    pub key: String,
    /// `None`: the `null` version.
    pub version: Option<String>,
    /// The version's [`object_tag`]: a fill of anything else is refused.
    pub tag: String,
    /// Unix seconds.
    pub expires: i64,
}

/// The key grants are signed with, derived from the master key so that every origin
/// node sharing a store verifies the grants of the others.
#[derive(Clone)]
pub struct GrantKey([u8; 32]);

impl std::fmt::Debug for GrantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrantKey(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl GrantKey {
    pub fn derive(master_key: &[u8; 32]) -> Self {
        let mut m = HmacSha256::new_from_slice(master_key).expect("HMAC takes any key length");
        m.update(b"coffer cache-node fill grant v1");
        GrantKey(m.finalize().into_bytes().into())
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(payload);
        m
    }

    /// `<base64url(JSON)>.<base64url(HMAC-SHA256)>`.
    pub fn sign(&self, g: &Grant) -> String {
        let payload = serde_json::to_vec(g).expect("a grant serializes");
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The grant `token` carries, if this key signed it, it names `node` and it has not
    /// expired at `now` (unix seconds). Every failure is the same error.
    pub fn verify(&self, token: &str, node: &str, now: i64) -> Result<Grant> {
        let refused = || Error::PermissionDenied("invalid or expired cache fill grant".into());
        if token.len() > MAX_GRANT_LEN {
            return Err(refused());
        }
        let (payload, tag) = token.split_once('.').ok_or_else(refused)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| refused())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| refused())?;
        // Constant time, and before the payload is parsed.
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| refused())?;
        let g: Grant = serde_json::from_slice(&payload).map_err(|_| refused())?;
        if g.node != node || g.expires <= now {
            return Err(refused());
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            node: "n1".into(),
            bucket: "b".into(),
            key: "k".into(),
            version: None,
            tag: "t".into(),
            expires: 1_000,
        }
    }

    #[test]
    fn a_grant_verifies_only_for_its_node_key_and_lifetime() {
        let key = GrantKey::derive(&[7; 32]);
        let token = key.sign(&grant());
        assert_eq!(key.verify(&token, "n1", 999).unwrap(), grant());
        assert!(key.verify(&token, "n2", 999).is_err(), "another node");
        assert!(key.verify(&token, "n1", 1_000).is_err(), "expired");
        let other = GrantKey::derive(&[8; 32]);
        assert!(other.verify(&token, "n1", 999).is_err(), "another key");
        // Any change to the payload breaks the MAC.
        let (p, t) = token.split_once('.').unwrap();
        let mut g = grant();
        g.key = "other".into();
        let forged = format!(
            "{}.{t}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&g).unwrap())
        );
        assert!(key.verify(&forged, "n1", 999).is_err(), "payload changed");
        assert!(key.verify(p, "n1", 999).is_err(), "no MAC");
        assert!(key.verify(&"a".repeat(9000), "n1", 0).is_err(), "too long");
    }

    #[test]
    fn credentials_have_one_shape() {
        let c = new_credential();
        assert!(is_credential_shaped(&c));
        assert!(!is_credential_shaped(&c[..c.len() - 1]));
        assert!(!is_credential_shaped(
            &c.replace("COFFER-NODE-", "CW-SECRET--")
        ));
        assert_ne!(new_credential(), c);
    }
}
