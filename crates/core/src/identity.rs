//! Identities and credentials: API tokens (stored as SHA-256), access keys (secrets
//! sealed with AES-256-GCM under the master key), bootstrap, and the resolution of an
//! access key for S3 authentication.
//!
//! Invariant: every mutation of access keys goes through `IdentityService`, which drops
//! the affected entries from the in-process key cache (`crate::key_cache`) before
//! returning, so every S3 request on this node that starts afterwards sees the new
//! state; a store read that overlapped the change never re-inserts the old one.
//! Key creation is subject to the org's quotas (`crate::quota`), checked by the store.

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids;
pub use crate::key_cache::DEFAULT_KEY_CACHE_ENTRIES;
use crate::key_cache::{KeyCache, Lookup};
use crate::meta::MetaStore;
use crate::model::*;
use crate::quota::Quotas;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// Longest lifetime of a time-limited key (12 h).
pub const MAX_KEY_DURATION_SECS: i64 = 43_200;
/// Lifetime of API-token-exchange keys, and of federated keys when `durationSeconds`
/// is 0 (SPEC §2: 15 minutes).
pub const DEFAULT_TEMP_KEY_SECS: i64 = 900;
/// Attribute limits of CreateAccessKeyFromJWT.
pub const MAX_KEY_ATTRIBUTES: usize = 15;
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 63;

/// Seals access-key secrets at rest. The access key id is bound as associated data, so
/// a ciphertext copied onto another key's row does not decrypt.
pub struct SecretCipher {
    aead: Aes256Gcm,
}

impl SecretCipher {
    pub fn new(master_key: &[u8; 32]) -> Self {
        Self {
            aead: Aes256Gcm::new(master_key.into()),
        }
    }

    pub fn seal(&self, key_id: &str, secret: &str) -> Result<Vec<u8>> {
        let nonce: [u8; 12] = rand::random();
        let ct = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("secret encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, key_id: &str, sealed: &[u8]) -> Result<String> {
        if sealed.len() < 12 {
            return Err(Error::internal("sealed secret too short"));
        }
        let (nonce, ct) = sealed.split_at(12);
        let pt = self
            .aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("secret decryption failed (wrong master key?)"))?;
        String::from_utf8(pt).map_err(|_| Error::internal("sealed secret is not UTF-8"))
    }
}

/// Lowercase hex SHA-256; how API tokens and session tokens are stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time string equality for secrets.
pub fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A management-API caller, obtainable only from `IdentityService::authenticate_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: String,
    pub org_id: String,
    pub role: Role,
    pub principal: String,
    pub token_id: String,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// An active access key with its plaintext secret, ready for SigV4 verification.
#[derive(Debug, Clone)]
pub struct ResolvedKey {
    pub key: AccessKey,
    pub secret: String,
}

/// What bootstrap creates on an empty store: the first org, its admin, and the admin's
/// API token (`token` is the plaintext, shown once).
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub org: Org,
    pub user: User,
    pub token: String,
    info: ApiToken,
}

pub struct IdentityService {
    meta: Arc<dyn MetaStore>,
    cipher: SecretCipher,
    clock: Arc<dyn Clock>,
    quotas: Quotas,
    /// Decrypted active keys (see `crate::key_cache`).
    cache: RwLock<KeyCache>,
}

impl IdentityService {
    /// A service with the default quotas and key-cache capacity.
    pub fn new(meta: Arc<dyn MetaStore>, cipher: SecretCipher, clock: Arc<dyn Clock>) -> Self {
        Self {
            meta,
            cipher,
            clock,
            quotas: Quotas::default(),
            cache: RwLock::new(KeyCache::new(DEFAULT_KEY_CACHE_ENTRIES)),
        }
    }

    /// Sets the key quotas checked when keys are created.
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Sets the most keys the S3 key cache holds (at least 1).
    pub fn with_key_cache_capacity(mut self, entries: usize) -> Self {
        self.cache = RwLock::new(KeyCache::new(entries));
        self
    }

    /// Number of cached keys (for metrics and tests).
    pub fn cached_keys(&self) -> usize {
        self.cache.read().len()
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Creates the first org, its admin and an API token when no org exists yet.
    /// The token exists only in the returned value: callers that must not lose it to a
    /// crash keep it durably between [`Self::prepare_bootstrap`] and
    /// [`Self::commit_bootstrap`] instead.
    pub async fn bootstrap_if_empty(&self, org_name: &str) -> Result<Option<Bootstrap>> {
        if !self.needs_bootstrap().await? {
            return Ok(None);
        }
        let b = self.prepare_bootstrap(org_name)?;
        Ok(self.commit_bootstrap(&b).await?.then_some(b))
    }

    /// True while no org exists.
    pub async fn needs_bootstrap(&self) -> Result<bool> {
        Ok(self.meta.list_orgs().await?.is_empty())
    }

    /// The records of a bootstrap, not stored yet.
    pub fn prepare_bootstrap(&self, org_name: &str) -> Result<Bootstrap> {
        validate_display_name(org_name)?;
        let now = self.now();
        let org = Org {
            org_id: ids::new_org_id(),
            name: org_name.to_string(),
            created: now,
            entitlements: Vec::new(),
        };
        let user = User {
            uid: ids::new_uid(),
            org_id: org.org_id.clone(),
            name: "admin".to_string(),
            role: Role::Admin,
            created: now,
        };
        let token = ids::new_api_token();
        let info = ApiToken {
            token_id: ids::new_hex_id(),
            token_hash: hash_token(&token),
            uid: user.uid.clone(),
            org_id: org.org_id.clone(),
            description: "bootstrap".to_string(),
            expiry: None,
            created: now,
        };
        Ok(Bootstrap {
            org,
            user,
            token,
            info,
        })
    }

    /// Stores a prepared bootstrap atomically if no org exists yet; `false` (nothing
    /// stored) when one does, e.g. another node bootstrapped the shared store first.
    pub async fn commit_bootstrap(&self, b: &Bootstrap) -> Result<bool> {
        self.meta.bootstrap(&b.org, &b.user, &b.info).await
    }

    pub async fn create_org(&self, name: &str, entitlements: Vec<String>) -> Result<Org> {
        validate_display_name(name)?;
        let org = Org {
            org_id: ids::new_org_id(),
            name: name.to_string(),
            created: self.now(),
            entitlements,
        };
        self.meta.create_org(&org).await?;
        Ok(org)
    }

    pub async fn create_user(&self, org_id: &str, name: &str, role: Role) -> Result<User> {
        validate_display_name(name)?;
        if self.meta.get_org(org_id).await?.is_none() {
            return Err(Error::NotFound(format!("org {org_id}")));
        }
        let user = User {
            uid: ids::new_uid(),
            org_id: org_id.to_string(),
            name: name.to_string(),
            role,
            created: self.now(),
        };
        self.meta.create_user(&user).await?;
        Ok(user)
    }

    pub async fn delete_user(&self, uid: &str) -> Result<()> {
        self.meta.delete_user(uid).await?;
        self.invalidate_principal(&format!("coreweave/{uid}"));
        Ok(())
    }

    /// Creates an API token for `uid`; `duration_secs == 0` means no expiry.
    /// Returns the plaintext token (shown once) and its stored info.
    pub async fn create_token(
        &self,
        org_id: &str,
        uid: &str,
        duration_secs: i64,
        description: &str,
    ) -> Result<(String, ApiToken)> {
        if duration_secs < 0 {
            return Err(Error::invalid("durationSeconds must not be negative"));
        }
        if description.len() > 256 {
            return Err(Error::invalid("description must be at most 256 characters"));
        }
        let user = self
            .meta
            .get_user(uid)
            .await?
            .filter(|u| u.org_id == org_id)
            .ok_or_else(|| Error::NotFound(format!("user {uid}")))?;
        let token = ids::new_api_token();
        let now = self.now();
        let info = ApiToken {
            token_id: ids::new_hex_id(),
            token_hash: hash_token(&token),
            uid: user.uid,
            org_id: org_id.to_string(),
            description: description.to_string(),
            expiry: (duration_secs > 0).then(|| now + time::Duration::seconds(duration_secs)),
            created: now,
        };
        self.meta.create_token(&info).await?;
        Ok((token, info))
    }

    /// Registers a compute-node cache named `name` (unique). Returns its credential
    /// (shown once) and its stored record.
    pub async fn create_cache_node(&self, name: &str) -> Result<(String, CacheNode)> {
        validate_display_name(name)?;
        let credential = crate::cache_node::new_credential();
        let node = CacheNode {
            v: RECORD_VERSION,
            node_id: ids::new_hex_id(),
            name: name.to_string(),
            credential_hash: hash_token(&credential),
            created: self.now(),
        };
        self.meta.create_cache_node(&node).await?;
        Ok((credential, node))
    }

    pub async fn list_cache_nodes(&self) -> Result<Vec<CacheNode>> {
        self.meta.list_cache_nodes().await
    }

    /// Revokes a node: its credential is refused from the next request on.
    pub async fn delete_cache_node(&self, node_id: &str) -> Result<()> {
        self.meta.delete_cache_node(node_id).await
    }

    /// The node a credential belongs to. Every failure is the same `Unauthenticated`.
    pub async fn authenticate_cache_node(&self, credential: &str) -> Result<CacheNode> {
        let unauth = || Error::Unauthenticated("invalid cache node credential".into());
        if !crate::cache_node::is_credential_shaped(credential) {
            return Err(unauth());
        }
        self.meta
            .get_cache_node_by_hash(&hash_token(credential))
            .await?
            .ok_or_else(unauth)
    }

    /// Authenticates `Authorization: Bearer <token>` (the value after `Bearer `).
    /// Every failure is the same `Unauthenticated` so callers learn nothing about tokens.
    pub async fn authenticate_token(&self, token: &str) -> Result<Caller> {
        let unauth = || Error::Unauthenticated("missing, invalid or expired API token".into());
        if !token.starts_with("CW-SECRET-") || token.len() > 256 {
            return Err(unauth());
        }
        let info = self
            .meta
            .get_token_by_hash(&hash_token(token))
            .await?
            .ok_or_else(unauth)?;
        if info.expiry.is_some_and(|e| e <= self.now()) {
            return Err(unauth());
        }
        let user = self.meta.get_user(&info.uid).await?.ok_or_else(unauth)?;
        Ok(Caller {
            principal: user.principal(),
            uid: user.uid,
            org_id: user.org_id,
            role: user.role,
            token_id: info.token_id,
        })
    }

    /// Creates an access key. `duration_secs == 0` = permanent, else 1..=43200.
    pub async fn create_access_key(
        &self,
        org_id: &str,
        principal: &str,
        uid: Option<&str>,
        duration_secs: i64,
        attributes: BTreeMap<String, String>,
        source: KeySource,
    ) -> Result<(AccessKey, String)> {
        self.mint_key(
            org_id,
            principal,
            uid,
            duration_secs,
            attributes,
            source,
            None,
        )
        .await
    }

    /// Creates a time-limited federated key (no user) whose caller-chosen `attributes`
    /// pass [`validate_attributes`] and which additionally carries `system` attributes
    /// set by the server from verified claims (e.g. SAML `principalName`), exempt from
    /// the caller rules because the caller cannot choose them.
    pub async fn create_federated_key(
        &self,
        org_id: &str,
        principal: &str,
        duration_secs: i64,
        attributes: BTreeMap<String, String>,
        system: BTreeMap<String, String>,
        source: KeySource,
    ) -> Result<(AccessKey, String)> {
        if !(1..=MAX_KEY_DURATION_SECS).contains(&duration_secs) {
            return Err(Error::invalid(format!(
                "a federated key must expire within 1 to {MAX_KEY_DURATION_SECS} seconds"
            )));
        }
        validate_attributes(&attributes)?;
        let mut all = attributes;
        all.extend(system);
        self.mint_key_unchecked(org_id, principal, None, duration_secs, all, source, None)
            .await
    }

    /// Creates a time-limited key (1..=43200 s) together with a session token for the
    /// AWS container-credentials shape. Only the token's SHA-256 is stored; the
    /// plaintext is returned once, here. Returns (key, secret, session token).
    pub async fn create_session_key(
        &self,
        org_id: &str,
        principal: &str,
        uid: Option<&str>,
        duration_secs: i64,
        attributes: BTreeMap<String, String>,
        source: KeySource,
    ) -> Result<(AccessKey, String, String)> {
        if duration_secs <= 0 {
            return Err(Error::invalid("a session key must expire"));
        }
        let token = ids::new_session_token();
        let (key, secret) = self
            .mint_key(
                org_id,
                principal,
                uid,
                duration_secs,
                attributes,
                source,
                Some(hash_token(&token)),
            )
            .await?;
        Ok((key, secret, token))
    }

    #[allow(clippy::too_many_arguments)]
    async fn mint_key(
        &self,
        org_id: &str,
        principal: &str,
        uid: Option<&str>,
        duration_secs: i64,
        attributes: BTreeMap<String, String>,
        source: KeySource,
        session_token_hash: Option<String>,
    ) -> Result<(AccessKey, String)> {
        if !(0..=MAX_KEY_DURATION_SECS).contains(&duration_secs) {
            return Err(Error::invalid(format!(
                "durationSeconds must be between 0 and {MAX_KEY_DURATION_SECS}"
            )));
        }
        validate_attributes(&attributes)?;
        self.mint_key_unchecked(
            org_id,
            principal,
            uid,
            duration_secs,
            attributes,
            source,
            session_token_hash,
        )
        .await
    }

    /// `mint_key` after its argument checks (attributes are the caller's business).
    #[allow(clippy::too_many_arguments)]
    async fn mint_key_unchecked(
        &self,
        org_id: &str,
        principal: &str,
        uid: Option<&str>,
        duration_secs: i64,
        attributes: BTreeMap<String, String>,
        source: KeySource,
        session_token_hash: Option<String>,
    ) -> Result<(AccessKey, String)> {
        let id = ids::new_access_key_id();
        let secret = ids::new_secret_key();
        let now = self.now();
        let key = AccessKey {
            secret_enc: self.cipher.seal(&id, &secret)?,
            access_key_id: id,
            org_id: org_id.to_string(),
            principal: principal.to_string(),
            uid: uid.map(str::to_string),
            attributes,
            expiry: (duration_secs > 0).then(|| now + time::Duration::seconds(duration_secs)),
            state: KeyState::Active,
            source,
            session_token_hash,
            created: now,
        };
        self.meta.create_access_key(&key, &self.quotas).await?;
        Ok((key, secret))
    }

    /// Resolves an access key for S3 authentication; `Unauthenticated` unless it exists,
    /// is active and unexpired.
    pub async fn resolve_access_key(&self, access_key_id: &str) -> Result<Arc<ResolvedKey>> {
        let now = self.now();
        let check = |r: Arc<ResolvedKey>| match r.key.status(now) {
            KeyStatus::Active => Ok(r),
            s => Err(Error::Unauthenticated(format!(
                "the access key is {}",
                s.as_str().to_ascii_lowercase().replace('_', " ")
            ))),
        };
        // Bind the lookup first: the read guard must be gone before any await.
        let lookup = self.cache.read().lookup(access_key_id);
        let generation = match lookup {
            Lookup::Hit(hit) => {
                if hit.key.status(now) != KeyStatus::Active {
                    // Only active keys are inserted and every change invalidates, so
                    // this is expiry: evict it.
                    self.cache.write().remove_if(access_key_id, &hit);
                }
                return check(hit);
            }
            Lookup::Miss { generation } => generation,
        };
        if !ids::is_access_key_id(access_key_id) {
            return Err(Error::Unauthenticated(
                "the access key id does not exist".into(),
            ));
        }
        let key = self
            .meta
            .get_access_key(access_key_id)
            .await?
            .ok_or_else(|| Error::Unauthenticated("the access key id does not exist".into()))?;
        if key.status(now) != KeyStatus::Active {
            return check(Arc::new(ResolvedKey {
                key,
                secret: String::new(),
            }));
        }
        let secret = self.cipher.open(&key.access_key_id, &key.secret_enc)?;
        let resolved = Arc::new(ResolvedKey { key, secret });
        // Not cached when an invalidation happened since the lookup: this request still
        // gets the key (it overlapped the change), later ones read the store again.
        self.cache
            .write()
            .insert(access_key_id, resolved.clone(), generation, now);
        Ok(resolved)
    }

    pub async fn set_key_state(&self, access_key_id: &str, state: KeyState) -> Result<()> {
        let r = self.meta.set_access_key_state(access_key_id, state).await;
        self.invalidate_key(access_key_id);
        r
    }

    pub async fn set_principal_state(
        &self,
        org_id: &str,
        principal: &str,
        state: KeyState,
    ) -> Result<u64> {
        let r = self
            .meta
            .set_principal_key_state(org_id, principal, state)
            .await;
        self.invalidate_principal(principal);
        r
    }

    fn invalidate_principal(&self, principal: &str) {
        self.cache.write().invalidate_principal(principal);
    }

    /// Drops one cached key (another node changed it); a store read in flight will not
    /// cache what it read.
    pub fn invalidate_key(&self, access_key_id: &str) {
        self.cache.write().invalidate_key(access_key_id);
    }

    /// Drops every cached key (used when another node may have changed keys); no store
    /// read in flight will cache what it read.
    pub fn invalidate_all(&self) {
        self.cache.write().invalidate_all();
    }

    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.meta
    }
}

pub(crate) fn validate_display_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name must be 1 to 128 printable characters"));
    }
    Ok(())
}

/// Attribute rules: ≤15 entries; keys are DNS labels (1–63 of `[a-z0-9-]`, alphanumeric at
/// both ends) not starting with `cw-`, `role` or `groups`; values ≤63 chars.
pub fn validate_attributes(attrs: &BTreeMap<String, String>) -> Result<()> {
    if attrs.len() > MAX_KEY_ATTRIBUTES {
        return Err(Error::invalid(format!(
            "at most {MAX_KEY_ATTRIBUTES} attributes are allowed"
        )));
    }
    for (k, v) in attrs {
        let label_ok = (1..=63).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && k.as_bytes()[0].is_ascii_alphanumeric()
            && k.as_bytes()[k.len() - 1].is_ascii_alphanumeric();
        if !label_ok {
            return Err(Error::invalid(format!(
                "attribute key {k:?} must be a DNS label"
            )));
        }
        if k.starts_with("cw-") || k.starts_with("role") || k.starts_with("groups") {
            return Err(Error::invalid(format!(
                "attribute key {k:?} uses a reserved prefix (cw-, role, groups)"
            )));
        }
        if v.chars().count() > MAX_ATTRIBUTE_VALUE_LEN {
            return Err(Error::invalid(format!(
                "attribute {k:?} value must be at most {MAX_ATTRIBUTE_VALUE_LEN} characters"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_round_trip_and_binding() {
        let c = SecretCipher::new(&[7u8; 32]);
        let sealed = c.seal("CWAAAAAAAAAAAAAA", "cwo-secret").unwrap();
        assert_eq!(c.open("CWAAAAAAAAAAAAAA", &sealed).unwrap(), "cwo-secret");
        assert!(c.open("CWBBBBBBBBBBBBBB", &sealed).is_err());
        assert!(
            SecretCipher::new(&[8u8; 32])
                .open("CWAAAAAAAAAAAAAA", &sealed)
                .is_err()
        );
    }

    #[test]
    fn attributes() {
        let mut a = BTreeMap::new();
        a.insert("name".to_string(), "ci".to_string());
        validate_attributes(&a).unwrap();
        for bad in ["cw-x", "role", "groups-a", "Upper", "-a", ""] {
            let mut b = BTreeMap::new();
            b.insert(bad.to_string(), "v".to_string());
            assert!(validate_attributes(&b).is_err(), "{bad}");
        }
        let mut long = BTreeMap::new();
        long.insert("k".to_string(), "x".repeat(64));
        assert!(validate_attributes(&long).is_err());
        let many: BTreeMap<_, _> = (0..16).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(validate_attributes(&many).is_err());
    }
}
