//! OIDC token verification (SPEC §5) on `jsonwebtoken` with the RustCrypto backend.
//!
//! A token is accepted only when all of these hold, checked in this order:
//! 1. it is a compact JWS of at most [`MAX_TOKEN_LEN`] bytes (three base64url parts);
//! 2. its header `alg` is one of [`ALLOWED_ALGORITHMS`] (never `none`, never HS* — an
//!    HMAC "signed" with a public key is the classic confusion attack), it names a `kid`,
//!    and it has no `crit` extensions (we implement none);
//! 3. its (still unverified) `iss` equals the `issuerUrl` of an *active* OIDC config of
//!    the org — this only selects the config, every claim is re-checked after step 5;
//! 4. the config's JWKS holds a key with that `kid` whose type and curve fit `alg`, whose
//!    own `alg` (if any) equals it, whose `use` (if any) is `sig`, and which is not an
//!    RSA key shorter than 2048 bits. Keys come from the config only: `jwk`, `jku`,
//!    `x5c` and `x5u` header parameters are never looked at;
//! 5. the signature verifies with that key under exactly that algorithm;
//! 6. claims: `iss` equals the config's issuer, `aud` (string or array) contains the
//!    config's audience, `sub` is a non-empty printable string, `exp` is present and in
//!    the future, `nbf` (if present) is at most [`CLOCK_SKEW_SECS`] ahead of now, `iat`
//!    (if present) is not more than that in the future. Times come from the service
//!    clock, not the system clock.
//!
//! Every failure is `Unauthenticated` with a reason that names the check but echoes
//! nothing secret; configuration problems on our side (an unreadable JWKS file) are
//! `Internal`.
//!
//! A config's JWKS file (`jwksFile`, set by the operator only) is read on every exchange
//! by [`load_jwks_files`] before [`verify`] runs, never on an async worker thread: on the
//! blocking pool, bounded in size, time and concurrency, and only if the opened handle
//! is a regular file (opened non-blocking, so a FIFO cannot stall the open).

use crate::error::{Error, Result};
use crate::model::{FederationConfig, FederationSettings, JwksSource};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// Signature algorithms accepted from any issuer.
pub const ALLOWED_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// Largest token accepted (real ID tokens are 1–2 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Largest JWKS file read.
pub const MAX_JWKS_FILE_LEN: u64 = 1024 * 1024;
/// Longest wait for a JWKS file (e.g. on a hung network mount): the exchange fails then.
pub const JWKS_FILE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most JWKS file reads in flight: a read stuck in the kernel holds a blocking-pool
/// thread until it returns, so stuck reads can occupy at most this many.
const JWKS_FILE_READERS: usize = 8;
static JWKS_FILE_PERMITS: Semaphore = Semaphore::const_new(JWKS_FILE_READERS);
/// Tolerated clock difference for `nbf` and `iat`.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Longest `sub` accepted (GitHub's are ~100 characters).
pub const MAX_SUBJECT_LEN: usize = 1024;
/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// What a verified token establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The config that verified it.
    pub config_id: String,
    pub issuer: String,
    pub subject: String,
    /// The token's `exp`: keys minted from it must not outlive it.
    pub expires: OffsetDateTime,
}

impl VerifiedToken {
    /// The principal policies match: `role/<iss>:<sub>`.
    pub fn principal(&self) -> String {
        format!("role/{}:{}", self.issuer, self.subject)
    }
}

fn reject(why: impl std::fmt::Display) -> Error {
    Error::Unauthenticated(format!("OIDC token rejected: {why}"))
}

fn alg_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}

/// Decodes one base64url part as a JSON object.
fn json_part(part: &str, what: &str) -> Result<serde_json::Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| reject(format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(reject(format!("the {what} is not a JSON object"))),
    }
}

/// The parts of a token that select the key, read before any signature check.
struct Unverified {
    alg: Algorithm,
    kid: String,
    issuer: String,
}

fn inspect(token: &str) -> Result<Unverified> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(reject("the token is too long"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(reject(
            "not a signed JWT (expected header.payload.signature)",
        ));
    }
    let header = json_part(parts[0], "header")?;
    let alg_str = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let alg = ALLOWED_ALGORITHMS
        .into_iter()
        .find(|a| alg_name(*a) == alg_str)
        .ok_or_else(|| {
            reject(format!(
                "algorithm {:?} is not accepted (RS256, RS384, RS512, ES256, ES384, EdDSA only)",
                alg_str.chars().take(16).collect::<String>()
            ))
        })?;
    if header.contains_key("crit") {
        return Err(reject("critical header extensions are not supported"));
    }
    let kid = match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => return Err(reject("the header names no key (kid)")),
    };
    let payload = json_part(parts[1], "payload")?;
    let issuer = match payload.get("iss") {
        Some(Value::String(i)) if !i.is_empty() => i.clone(),
        _ => return Err(reject("the token has no issuer (iss)")),
    };
    Ok(Unverified { alg, kid, issuer })
}

/// Parses a JWKS document into its usable keys. `strict` (config validation) rejects a
/// key we cannot use; otherwise (a JWKS file maintained elsewhere) such keys are skipped,
/// so an encryption key in the set does not disable the signing keys.
pub fn parse_jwks(doc: &Value, strict: bool) -> Result<Vec<Jwk>> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid("jwks must be a JSON Web Key Set: {\"keys\":[…]}"))?;
    let mut out = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let parsed = serde_json::from_value::<Jwk>(k.clone())
            .map_err(|e| e.to_string())
            .and_then(|jwk| usable_key(&jwk).map(|_| jwk));
        match parsed {
            Ok(jwk) => out.push(jwk),
            Err(why) if strict => {
                return Err(Error::invalid(format!("jwks.keys[{i}]: {why}")));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

/// The algorithms a key can verify, or why it cannot be used.
fn usable_key(jwk: &Jwk) -> std::result::Result<&'static [Algorithm], String> {
    if jwk.common.key_id.as_deref().unwrap_or("").is_empty() {
        return Err("the key has no kid".into());
    }
    if let Some(u) = &jwk.common.public_key_use
        && *u != PublicKeyUse::Signature
    {
        return Err("the key is not a signing key (use)".into());
    }
    let algs: &'static [Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let n = URL_SAFE_NO_PAD
                .decode(&p.n)
                .map_err(|_| "RSA modulus is not base64url")?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err("RSA keys must have at least 2048 bits".into());
            }
            &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512]
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return Err("EC keys must be on P-256 or P-384".into()),
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => &[Algorithm::EdDSA],
            _ => return Err("OKP keys must be Ed25519".into()),
        },
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric (oct) keys are never accepted".into());
        }
        _ => return Err("unsupported key type".into()),
    };
    if let Some(ka) = jwk.common.key_algorithm {
        match Algorithm::try_from(ka) {
            Ok(a) if algs.contains(&a) => {}
            _ => return Err(format!("the key's alg {ka} does not fit its type")),
        }
    }
    DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key: {e}"))?;
    Ok(algs)
}

/// Reads a config's keys. Inline sets were validated when saved; a file's set was read by
/// [`load_jwks_files`] for this exchange.
fn load_keys(source: &JwksSource) -> Result<Vec<Jwk>> {
    match source {
        JwksSource::Inline(doc) => parse_jwks(doc, false),
        JwksSource::File(path) => Err(Error::internal(format!(
            "JWKS file {path} was not loaded before verification"
        ))),
    }
}

/// Replaces the `jwksFile` source of each config that could verify `token` (active, OIDC,
/// trusting the token's still unverified issuer) with the set the file holds now, so
/// that rotating keys is a file replace. A token that does not parse selects no config
/// (then [`verify`] reports why). Failures are `Internal` and name the path, never the
/// file's contents.
pub async fn load_jwks_files(configs: &mut [FederationConfig], token: &str) -> Result<()> {
    let Ok(u) = inspect(token) else {
        return Ok(());
    };
    for c in configs.iter_mut().filter(|c| c.active) {
        if let FederationSettings::Oidc {
            issuer_url, jwks, ..
        } = &mut c.settings
            && *issuer_url == u.issuer
            && let JwksSource::File(path) = jwks
        {
            *jwks = JwksSource::Inline(read_jwks_file(path).await?);
        }
    }
    Ok(())
}

/// Reads a JWKS file on the blocking pool within [`JWKS_FILE_TIMEOUT`] (waiting for a
/// permit included).
async fn read_jwks_file(path: &str) -> Result<Value> {
    let timed_out = || Error::internal(format!("reading JWKS file {path} timed out"));
    let permit = tokio::time::timeout(JWKS_FILE_TIMEOUT, JWKS_FILE_PERMITS.acquire())
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| Error::internal("JWKS file reads are shut down"))?;
    let owned = path.to_string();
    let read = tokio::task::spawn_blocking(move || {
        // Held until the read returns, however long after the timeout that is.
        let _permit = permit;
        crate::local_file::read_regular_file(
            std::path::Path::new(&owned),
            MAX_JWKS_FILE_LEN,
            crate::local_file::Links::Follow,
        )
    });
    let bytes = tokio::time::timeout(JWKS_FILE_TIMEOUT, read)
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| Error::internal(format!("reading JWKS file {path}: {e}")))?
        .map_err(|why| Error::internal(format!("reading JWKS file {path}: {why}")))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|_| Error::internal(format!("JWKS file {path} is not JSON")))?;
    if doc.get("keys").and_then(Value::as_array).is_none() {
        return Err(Error::internal(format!(
            "JWKS file {path} is not a JSON Web Key Set"
        )));
    }
    Ok(doc)
}

/// A NumericDate claim (seconds since the epoch, integer or fraction).
fn numeric_date(claims: &serde_json::Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or_else(|| reject(format!("{name} is not a valid time"))),
        Some(_) => Err(reject(format!("{name} is not a number"))),
    }
}

fn check_claims(
    claims: &serde_json::Map<String, Value>,
    issuer_url: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<(String, OffsetDateTime)> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer_url) {
        return Err(reject("wrong issuer (iss)"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(reject("the token is not meant for this service (aud)"));
    }
    let subject = match claims.get("sub") {
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= MAX_SUBJECT_LEN && !s.chars().any(char::is_control) =>
        {
            s.clone()
        }
        _ => return Err(reject("missing or invalid subject (sub)")),
    };
    let now_s = now.unix_timestamp();
    let exp = numeric_date(claims, "exp")?.ok_or_else(|| reject("the token has no exp"))?;
    // A key may not outlive the token, so an expired token (even within the skew
    // allowance) could mint nothing: it is refused outright.
    if exp <= now_s {
        return Err(reject("the token has expired (exp)"));
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| nbf > now_s + CLOCK_SKEW_SECS) {
        return Err(reject("the token is not valid yet (nbf)"));
    }
    if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now_s + CLOCK_SKEW_SECS) {
        return Err(reject("the token was issued in the future (iat)"));
    }
    let expires =
        OffsetDateTime::from_unix_timestamp(exp).map_err(|_| reject("exp is out of range"))?;
    Ok((subject, expires))
}

/// Verifies `token` against the org's OIDC configs (inactive and SAML ones are ignored).
pub fn verify(
    token: &str,
    configs: &[FederationConfig],
    now: OffsetDateTime,
) -> Result<VerifiedToken> {
    let u = inspect(token)?;
    let candidates: Vec<_> = configs
        .iter()
        .filter(|c| c.active)
        .filter_map(|c| match &c.settings {
            FederationSettings::Oidc {
                issuer_url,
                audience,
                jwks,
            } if *issuer_url == u.issuer => Some((c, audience, jwks)),
            _ => None,
        })
        .collect();
    if candidates.is_empty() {
        return Err(reject(
            "no active OIDC config of this organization trusts the token's issuer",
        ));
    }
    // Several configs may trust one issuer (e.g. per audience): the first that verifies
    // the token wins; otherwise the first config's reason is reported.
    let mut first_err = None;
    for (config, audience, jwks) in candidates {
        match verify_with(token, &u, &config.config_id, audience, jwks, now) {
            Ok(v) => return Ok(v),
            Err(e @ Error::Internal(_)) => return Err(e),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| reject("no config verified the token")))
}

fn verify_with(
    token: &str,
    u: &Unverified,
    config_id: &str,
    audience: &str,
    source: &JwksSource,
    now: OffsetDateTime,
) -> Result<VerifiedToken> {
    let keys = load_keys(source)?;
    let jwk = keys
        .iter()
        .find(|k| k.common.key_id.as_deref() == Some(u.kid.as_str()))
        .ok_or_else(|| reject("unknown signing key (kid)"))?;
    let algs = usable_key(jwk).map_err(reject)?;
    if !algs.contains(&u.alg) {
        return Err(reject(format!(
            "algorithm {} does not fit key {:?}",
            alg_name(u.alg),
            u.kid
        )));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| reject("unusable signing key"))?;
    // Signature only: every claim is checked below against the service clock.
    let mut v = Validation::new(u.alg);
    v.algorithms = vec![u.alg];
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &v)
        .map_err(|_| reject("the signature does not verify"))?;
    let issuer = u.issuer.clone();
    let (subject, expires) = check_claims(&data.claims, &issuer, audience, now)?;
    Ok(VerifiedToken {
        config_id: config_id.to_string(),
        issuer,
        subject,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn header_rules() {
        let payload = b64(&json!({"iss": "https://i"}));
        for (header, why) in [
            (json!({"alg": "none", "kid": "k"}), "algorithm"),
            (json!({"alg": "HS256", "kid": "k"}), "algorithm"),
            (json!({"alg": "PS256", "kid": "k"}), "algorithm"),
            (json!({"alg": "rs256", "kid": "k"}), "algorithm"),
            (json!({"kid": "k"}), "algorithm"),
            (json!({"alg": "RS256"}), "kid"),
            (json!({"alg": "RS256", "kid": ""}), "kid"),
            (
                json!({"alg": "RS256", "kid": "k", "crit": ["b64"]}),
                "critical",
            ),
        ] {
            let t = format!("{}.{payload}.c2ln", b64(&header));
            let msg = inspect(&t).err().unwrap().to_string();
            assert!(msg.contains(why), "{header}: {msg}");
        }
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "a..c",
            "!!.b.c",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(inspect(bad).is_err(), "{bad}");
        }
        let ok = format!(
            "{}.{payload}.c2ln",
            b64(&json!({"alg": "ES256", "kid": "k"}))
        );
        assert_eq!(inspect(&ok).unwrap().issuer, "https://i");
    }

    #[test]
    fn claim_rules() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let t = now.unix_timestamp();
        let good = json!({"iss": "https://i", "aud": ["x", "coffer"], "sub": "repo:a/b",
                          "exp": t + 600, "nbf": t + 30, "iat": t + 30});
        let claims = |v: &Value| v.as_object().unwrap().clone();
        let (sub, exp) = check_claims(&claims(&good), "https://i", "coffer", now).unwrap();
        assert_eq!((sub.as_str(), exp.unix_timestamp()), ("repo:a/b", t + 600));
        let with = |k: &str, v: Value| {
            let mut g = good.clone();
            g[k] = v;
            g
        };
        let without = |k: &str| {
            let mut g = good.clone();
            g.as_object_mut().unwrap().remove(k);
            g
        };
        for bad in [
            with("iss", json!("https://other")),
            with("aud", json!("other")),
            with("aud", json!(["other"])),
            without("aud"),
            without("sub"),
            with("sub", json!("")),
            with("sub", json!(7)),
            without("exp"),
            with("exp", json!(t)),
            with("exp", json!("soon")),
            with("nbf", json!(t + 61)),
            with("iat", json!(t + 61)),
        ] {
            assert!(
                check_claims(&claims(&bad), "https://i", "coffer", now).is_err(),
                "{bad}"
            );
        }
        check_claims(
            &claims(&with("aud", json!("coffer"))),
            "https://i",
            "coffer",
            now,
        )
        .unwrap();
        check_claims(
            &claims(&with("exp", json!(t as f64 + 1.5))),
            "https://i",
            "coffer",
            now,
        )
        .unwrap();
    }

    #[test]
    fn jwks_rules() {
        let short = json!({"kty": "RSA", "kid": "s", "n": URL_SAFE_NO_PAD.encode([0xC5u8; 128]), "e": "AQAB"});
        let rsa = json!({"kty": "RSA", "kid": "r", "n": URL_SAFE_NO_PAD.encode([0xC5u8; 256]), "e": "AQAB"});
        let oct = json!({"kty": "oct", "kid": "o", "k": "c2VjcmV0"});
        let enc = json!({"kty": "RSA", "kid": "e", "use": "enc", "n": URL_SAFE_NO_PAD.encode([0xC5u8; 256]), "e": "AQAB"});
        let wrong_alg = json!({"kty": "RSA", "kid": "w", "alg": "ES256", "n": URL_SAFE_NO_PAD.encode([0xC5u8; 256]), "e": "AQAB"});
        assert_eq!(
            parse_jwks(&json!({"keys": [rsa.clone()]}), true)
                .unwrap()
                .len(),
            1
        );
        for bad in [short, oct, enc, wrong_alg] {
            let doc = json!({"keys": [rsa.clone(), bad.clone()]});
            assert!(parse_jwks(&doc, true).is_err(), "{bad}");
            // Lenient (files): unusable keys are skipped.
            assert_eq!(parse_jwks(&doc, false).unwrap().len(), 1, "{bad}");
        }
    }

    #[tokio::test]
    async fn jwks_files_must_be_small_regular_json_key_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let read = |p: String| async move { read_jwks_file(&p).await.map_err(|e| e.to_string()) };

        let good = path("jwks.json");
        std::fs::write(&good, r#"{"keys":[]}"#).unwrap();
        assert_eq!(read(good).await.unwrap(), json!({"keys": []}));

        // A FIFO without a writer is refused at once (a blocking open would wait forever).
        let fifo = path("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let err = read(fifo).await.unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));

        let err = read(dir.path().to_str().unwrap().to_string())
            .await
            .unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");

        let big = path("big.json");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_JWKS_FILE_LEN + 1)
            .unwrap();
        assert!(read(big).await.unwrap_err().contains("larger than"));

        // Contents never reach the error.
        for (name, text) in [
            ("text", "root:x:0:0:the-secret-line"),
            ("object", r#"{"the-secret-line": 1}"#),
        ] {
            let p = path(name);
            std::fs::write(&p, text).unwrap();
            let err = read(p).await.unwrap_err();
            assert!(!err.contains("the-secret-line"), "{err}");
        }
        assert!(read(path("missing")).await.is_err());
    }
}
