//! Workload identity federation (SPEC §5): the rules a stored federation config must
//! satisfy ([`validate_config`]), the OIDC verifier ([`oidc`]), and the exchanges that
//! turn a verified credential into a temporary key ([`FederationService`]).
//!
//! Invariant: every config that reaches the `MetaStore` has passed `validate_config`, so
//! verifiers may rely on its shape (non-empty issuer/audience, at least one signing
//! certificate or key source).

pub mod oidc;
pub mod saml;

use crate::error::{Error, Result};
use crate::identity::{
    DEFAULT_TEMP_KEY_SECS, IdentityService, MAX_KEY_DURATION_SECS, validate_attributes,
    validate_display_name,
};
use crate::ids;
use crate::meta::MetaStore;
use crate::model::{
    AccessKey, FederationConfig, FederationKind, FederationSettings, JwksSource, KeySource,
};
use crate::policy::{Layer, PolicyEngine, Subject};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest issuer URL, entity id, audience or ACS URL accepted.
pub const MAX_URI_LEN: usize = 1024;
/// Most signing certificates per SAML config (rotation needs two; a few spare).
pub const MAX_SIGNING_CERTIFICATES: usize = 8;
/// Largest PEM certificate accepted.
pub const MAX_CERTIFICATE_PEM_LEN: usize = 16 * 1024;
/// Most keys in an inline JWKS.
pub const MAX_JWKS_KEYS: usize = 64;

/// Checks a config before it is stored (create and update alike).
pub fn validate_config(c: &FederationConfig) -> Result<()> {
    validate_display_name(&c.name)?;
    match &c.settings {
        FederationSettings::Saml {
            idp_entity_id,
            signing_certificates,
            audience,
            acs_url,
        } => {
            uri_like("idpEntityId", idp_entity_id)?;
            uri_like("audience", audience)?;
            if let Some(u) = acs_url {
                http_url("acsUrl", u)?;
            }
            if signing_certificates.is_empty()
                || signing_certificates.len() > MAX_SIGNING_CERTIFICATES
            {
                return Err(Error::invalid(format!(
                    "signingCertificates must hold 1 to {MAX_SIGNING_CERTIFICATES} PEM certificates"
                )));
            }
            for (i, pem) in signing_certificates.iter().enumerate() {
                pem_certificate(pem)
                    .map_err(|why| Error::invalid(format!("signingCertificates[{i}]: {why}")))?;
            }
        }
        FederationSettings::Oidc {
            issuer_url,
            audience,
            jwks,
        } => {
            http_url("issuerUrl", issuer_url)?;
            uri_like("audience", audience)?;
            match jwks {
                JwksSource::Inline(doc) => validate_jwks(doc)?,
                JwksSource::File(path) => {
                    if !path.starts_with('/') || path.len() > 4096 || path.contains('\0') {
                        return Err(Error::invalid(
                            "jwksFile must be an absolute path on the server",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// A non-empty identifier without whitespace or control characters (entity ids and
/// audiences are URIs or URNs, compared exactly).
fn uri_like(field: &str, v: &str) -> Result<()> {
    if v.is_empty()
        || v.len() > MAX_URI_LEN
        || v.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(format!(
            "{field} must be 1 to {MAX_URI_LEN} characters without spaces"
        )));
    }
    Ok(())
}

/// An absolute `https://` (or `http://`) URL.
fn http_url(field: &str, v: &str) -> Result<()> {
    uri_like(field, v)?;
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => Ok(()),
        _ => Err(Error::invalid(format!(
            "{field} must be an absolute https:// URL"
        ))),
    }
}

/// One PEM `CERTIFICATE` block whose DER is an X.509 certificate with a key the SAML
/// verifier can use (RSA ≥ 2048 bits, EC P-256/P-384); returns a reason on failure.
fn pem_certificate(pem: &str) -> std::result::Result<(), String> {
    if pem.len() > MAX_CERTIFICATE_PEM_LEN {
        return Err("certificate is too large".into());
    }
    saml::dsig::parse_certificate(pem).map(|_| ())
}

/// An inline JWKS: `{"keys":[…]}` with 1..=64 keys, each usable for verification
/// ([`oidc::parse_jwks`] in strict mode: RSA ≥ 2048 bits, EC P-256/P-384, Ed25519; never
/// symmetric keys) and with a unique `kid` (tokens must name their key).
pub fn validate_jwks(doc: &serde_json::Value) -> Result<()> {
    let n = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| Error::invalid("jwks must be a JSON Web Key Set: {\"keys\":[…]}"))?
        .len();
    if n == 0 || n > MAX_JWKS_KEYS {
        return Err(Error::invalid(format!(
            "jwks must hold 1 to {MAX_JWKS_KEYS} keys"
        )));
    }
    let keys = oidc::parse_jwks(doc, true)?;
    let mut kids = std::collections::HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        let kid = k.common.key_id.as_deref().unwrap_or("");
        if !kids.insert(kid) {
            return Err(Error::invalid(format!(
                "jwks.keys[{i}]: duplicate kid {kid:?}"
            )));
        }
    }
    Ok(())
}

/// At most 64 characters of a caller-supplied id, for messages.
fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A temporary key minted by a federated exchange.
#[derive(Debug, Clone)]
pub struct MintedKey {
    pub key: AccessKey,
    pub secret: String,
    /// Set for the container-credentials shape.
    pub session_token: Option<String>,
}

/// The federated token exchanges: verify a credential against the org's configs, check
/// that an org policy lets the federated principal mint keys, mint a key that does not
/// outlive the credential.
///
/// Invariant: a key is minted only after verification and the policy check both passed;
/// every failure before that changes no state.
pub struct FederationService {
    meta: Arc<dyn MetaStore>,
    identity: Arc<IdentityService>,
    engine: Arc<PolicyEngine>,
}

/// The action an org policy must allow the OIDC principal (resource `*`).
pub const CREATE_ACCESS_KEY_OIDC: &str = "cwobject:CreateAccessKeyOIDC";
/// The action an org policy must allow the SAML principal `role/<role>` (resource `*`).
pub const CREATE_ACCESS_KEY_SAML: &str = "cwobject:CreateAccessKeySAML";
/// The key attribute that records the SAML PrincipalName (for audit).
pub const PRINCIPAL_NAME_KEY_ATTRIBUTE: &str = "principalName";
/// The request attribute that picks one of several SAML roles (not stored on the key).
pub const ROLE_SELECTOR_ATTRIBUTE: &str = "role";

impl FederationService {
    pub fn new(
        meta: Arc<dyn MetaStore>,
        identity: Arc<IdentityService>,
        engine: Arc<PolicyEngine>,
    ) -> Self {
        Self {
            meta,
            identity,
            engine,
        }
    }

    /// Lets `principal` perform `action` on `*` only if an org policy allows it.
    fn authorize(&self, org_id: &str, principal: &str, action: &str) -> Result<()> {
        let decision = self
            .engine
            .decide(org_id, &Subject::principal(principal), action, "*");
        if decision.allowed {
            return Ok(());
        }
        let by = &decision.decided_by;
        let why = match (by.layer, &by.policy, &by.statement) {
            (Layer::Org, Some(p), Some(s)) => format!("denied by statement {s:?} of policy {p:?}"),
            _ => "no org access policy allows it".to_string(),
        };
        Err(Error::PermissionDenied(format!(
            "{principal} may not perform {action}: {why}"
        )))
    }

    /// Exchanges a base64 SAML Response for a key of `org_id`, verified with the org's
    /// SAML config `config_id` ([`saml::verify`]). The principal is `role/<role>`: the
    /// Role attribute value named by `attributes["role"]`, else the first. The key lives
    /// `duration_secs` (0 = 900 s, at most 43200) and never past the assertion's session;
    /// it carries the PrincipalName as attribute `principalName`. Each assertion id is
    /// accepted once (replay → PermissionDenied). Nothing is stored on any failure
    /// before the replay record, which is written only once everything else passed.
    pub async fn exchange_saml(
        &self,
        org_id: &str,
        config_id: &str,
        saml_response: &str,
        duration_secs: i64,
        mut attributes: BTreeMap<String, String>,
    ) -> Result<MintedKey> {
        if !(0..=MAX_KEY_DURATION_SECS).contains(&duration_secs) {
            return Err(Error::invalid(format!(
                "durationSeconds must be between 0 and {MAX_KEY_DURATION_SECS}"
            )));
        }
        if org_id.is_empty() {
            return Err(Error::invalid("orgId is required"));
        }
        if config_id.is_empty() {
            return Err(Error::invalid("configId is required"));
        }
        let wanted_role = attributes.remove(ROLE_SELECTOR_ATTRIBUTE);
        validate_attributes(&attributes)?;
        if attributes.contains_key(PRINCIPAL_NAME_KEY_ATTRIBUTE) {
            return Err(Error::invalid(
                "attribute principalName is set by the server",
            ));
        }
        let xml = saml::decode_response(saml_response)?;
        // An unknown org, an unknown config, a config of another org and an inactive
        // one all answer alike: the caller learns nothing about which exist.
        let config = if ids::is_org_id(org_id) {
            self.meta
                .get_federation_config(org_id, FederationKind::Saml, config_id)
                .await?
        } else {
            None
        };
        let config = config.filter(|c| c.active).ok_or_else(|| {
            Error::PermissionDenied(format!(
                "no active SAML config {:?} in org {:?}",
                truncated(config_id),
                truncated(org_id)
            ))
        })?;
        let now = self.identity.now();
        let verified = saml::verify(&xml, &config, now)?;
        let role = match wanted_role {
            Some(r) => verified
                .roles
                .iter()
                .find(|v| **v == r)
                .cloned()
                .ok_or_else(|| {
                    Error::PermissionDenied(
                        "the requested role is not among the assertion's Role values".into(),
                    )
                })?,
            None => verified.roles[0].clone(),
        };
        let principal = format!("role/{role}");
        self.authorize(org_id, &principal, CREATE_ACCESS_KEY_SAML)?;
        let requested = if duration_secs == 0 {
            DEFAULT_TEMP_KEY_SECS
        } else {
            duration_secs
        };
        let lifetime = requested.min((verified.session_ends - now).whole_seconds());
        if lifetime < 1 {
            return Err(Error::PermissionDenied(
                "SAML response rejected: the assertion's session has ended".into(),
            ));
        }
        // One-time use, recorded last so that a rejected exchange does not burn it.
        let fresh = self
            .meta
            .record_assertion_id(
                org_id,
                &verified.assertion_id,
                verified.valid_until + time::Duration::seconds(saml::CLOCK_SKEW_SECS),
                now,
            )
            .await?;
        if !fresh {
            return Err(Error::PermissionDenied(
                "SAML response rejected: the assertion was already used (replay)".into(),
            ));
        }
        let mut system = BTreeMap::new();
        if let Some(pn) = &verified.principal_name {
            system.insert(PRINCIPAL_NAME_KEY_ATTRIBUTE.to_string(), pn.clone());
        }
        let (key, secret) = self
            .identity
            .create_federated_key(
                org_id,
                &principal,
                lifetime,
                attributes,
                system,
                KeySource::Saml,
            )
            .await?;
        tracing::info!(
            org_id,
            principal = %principal,
            config_id = %verified.config_id,
            access_key_id = %key.access_key_id,
            "minted a key from a SAML assertion"
        );
        Ok(MintedKey {
            key,
            secret,
            session_token: None,
        })
    }

    /// Exchanges an OIDC token of `org_id` for a key. `duration_secs`: 0 = the default
    /// 900 s, else 1..=43200; the key never outlives the token. With `session_token`
    /// the key carries one (container-credentials shape).
    pub async fn exchange_oidc(
        &self,
        org_id: &str,
        token: &str,
        duration_secs: i64,
        attributes: BTreeMap<String, String>,
        session_token: bool,
    ) -> Result<MintedKey> {
        if !(0..=MAX_KEY_DURATION_SECS).contains(&duration_secs) {
            return Err(Error::invalid(format!(
                "durationSeconds must be between 0 and {MAX_KEY_DURATION_SECS}"
            )));
        }
        if org_id.is_empty() {
            return Err(Error::invalid("orgId is required"));
        }
        if token.is_empty() {
            return Err(Error::invalid("oidcToken is required"));
        }
        validate_attributes(&attributes)?;
        // An unknown or malformed org id simply has no configs: the caller learns
        // nothing about which orgs exist.
        let mut configs = if ids::is_org_id(org_id) {
            self.meta
                .list_federation_configs(org_id, FederationKind::Oidc)
                .await?
        } else {
            Vec::new()
        };
        oidc::load_jwks_files(&mut configs, token).await?;
        let now = self.identity.now();
        let verified = oidc::verify(token, &configs, now)?;
        let principal = verified.principal();
        self.authorize(org_id, &principal, CREATE_ACCESS_KEY_OIDC)?;
        let requested = if duration_secs == 0 {
            DEFAULT_TEMP_KEY_SECS
        } else {
            duration_secs
        };
        let remaining = (verified.expires - now).whole_seconds();
        let lifetime = requested.min(remaining);
        if lifetime < 1 {
            return Err(Error::Unauthenticated(
                "OIDC token rejected: the token has expired (exp)".into(),
            ));
        }
        let (key, secret, session_token) = if session_token {
            let (k, s, t) = self
                .identity
                .create_session_key(
                    org_id,
                    &principal,
                    None,
                    lifetime,
                    attributes,
                    KeySource::Oidc,
                )
                .await?;
            (k, s, Some(t))
        } else {
            let (k, s) = self
                .identity
                .create_access_key(
                    org_id,
                    &principal,
                    None,
                    lifetime,
                    attributes,
                    KeySource::Oidc,
                )
                .await?;
            (k, s, None)
        };
        tracing::info!(
            org_id,
            principal = %principal,
            config_id = %verified.config_id,
            access_key_id = %key.access_key_id,
            "minted a key from an OIDC token"
        );
        Ok(MintedKey {
            key,
            secret,
            session_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RECORD_VERSION;
    use serde_json::json;

    fn cfg(settings: FederationSettings) -> FederationConfig {
        FederationConfig {
            v: RECORD_VERSION,
            config_id: "c".into(),
            org_id: "abc123".into(),
            name: "n".into(),
            active: true,
            settings,
            created: time::OffsetDateTime::UNIX_EPOCH,
            updated: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// A real self-signed EC P-256 certificate (the verifier's key rules apply).
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUPiVH6ycwSYgXX8IJGCtOUcJU4WEwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIdGVzdC1pZHAwIBcNMjYxMTI2MDY0NTE4WhgPMjEyNjExMDIw
NjQ1MThaMBMxETAPBgNVBAMMCHRlc3QtaWRwMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEk7Jam8qrIVBL77+tJXPalXI6Dvw2U5amvZ1uryNE1EwriOQU8qSOjQNQ
V9t2yAlnM4skSSf5aiYkMgsPADiSYaNTMFEwHQYDVR0OBBYEFMFGcgPE1OD446rQ
aCya4us5tVpHMB8GA1UdIwQYMBaAFMFGcgPE1OD446rQaCya4us5tVpHMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAIMvbuv/nyZewXow+e/zMvVD
MCfmOgyspSkYCAMbkDX/AiEAwyjADFKdV7NDRotVwp2EmK9PoRP7yvoS64ryJx57
lUs=
-----END CERTIFICATE-----
";

    fn saml(certs: Vec<&str>, acs: Option<&str>) -> FederationConfig {
        cfg(FederationSettings::Saml {
            idp_entity_id: "https://idp.example/metadata".into(),
            signing_certificates: certs.into_iter().map(str::to_string).collect(),
            audience: "urn:coffer:sp".into(),
            acs_url: acs.map(str::to_string),
        })
    }

    fn oidc(issuer: &str, jwks: JwksSource) -> FederationConfig {
        cfg(FederationSettings::Oidc {
            issuer_url: issuer.into(),
            audience: "coffer".into(),
            jwks,
        })
    }

    #[test]
    fn saml_rules() {
        validate_config(&saml(vec![CERT], Some("https://coffer.example/acs"))).unwrap();
        for bad in [
            saml(vec![], None),
            saml(vec!["not pem"], None),
            saml(
                vec!["-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----"],
                None,
            ),
            // Base64, but not a certificate.
            saml(
                vec![
                    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
                ],
                None,
            ),
            saml(vec![CERT], Some("ftp://x")),
            saml(vec![CERT; 9], None),
        ] {
            assert!(validate_config(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn oidc_rules() {
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
        validate_config(&oidc("https://issuer.example", JwksSource::Inline(jwks))).unwrap();
        validate_config(&oidc(
            "https://issuer.example",
            JwksSource::File("/etc/coffer/jwks.json".into()),
        ))
        .unwrap();
        for bad in [
            oidc("issuer.example", JwksSource::File("/x".into())),
            oidc("https://", JwksSource::File("/x".into())),
            oidc("https://a b", JwksSource::File("/x".into())),
            oidc("https://i", JwksSource::File("relative.json".into())),
            oidc("https://i", JwksSource::Inline(json!({"keys": []}))),
            oidc("https://i", JwksSource::Inline(json!([]))),
            oidc(
                "https://i",
                JwksSource::Inline(json!({"keys": [{"kty": "RSA"}]})),
            ),
            oidc(
                "https://i",
                JwksSource::Inline(
                    json!({"keys": [{"kty": "RSA", "kid": "a"}, {"kty": "EC", "kid": "a"}]}),
                ),
            ),
        ] {
            assert!(validate_config(&bad).is_err(), "{bad:?}");
        }
    }
}
