//! OIDC ID tokens (`CreateAccessKeyFromOIDC`): `oidc::verify` against one config with an
//! Ed25519 key (a fixed test key, private half here so tokens can be signed).
//!
//! Modes (first byte % 3):
//! 0. claims oracle: a token signed with the config's key, whose header and claims are
//!    chosen by the input; it must verify exactly when the documented rules hold (right
//!    `iss`, `aud` containing the audience, printable non-empty `sub` ≤ 1024 bytes,
//!    future `exp`, `nbf`/`iat` at most 60 s ahead, known `kid`, no `crit`), and then
//!    yield that subject and `exp`;
//! 1. mutation of one valid token: accepted only if the signed part (header and
//!    payload) is unchanged, and then with the same result;
//! 2. raw text: never accepted unless its signed part is the valid token's.

use crate::input::Input;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_core::federation::oidc::{self, VerifiedToken};
use coffer_core::model::{FederationConfig, FederationSettings, JwksSource, RECORD_VERSION};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::OnceLock;
use time::OffsetDateTime;

const ISSUER: &str = "https://issuer.coffer.test";
const AUDIENCE: &str = "coffer";
const KID: &str = "k1";
/// PKCS#8 DER of a throwaway Ed25519 test key (generated for this fuzz target only).
const PKCS8_HEX: &str = "302e020100300506032b657004220420deebc9d463e463f877cdbb9bf9189e890a62462e4d09bb0d4f8e86f9d8c70f0b";
/// Its public key, base64url.
const PUBLIC_X: &str = "lOnr91-Z1yru64YGJHnszMFIeDNVqWPWPZDvThxm1PU";
const NOW: i64 = 1_800_000_000;

struct Setup {
    configs: Vec<FederationConfig>,
    key: EncodingKey,
    now: OffsetDateTime,
    token: String,
    verified: VerifiedToken,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let jwks = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": KID, "use": "sig", "x": PUBLIC_X}
        ]});
        let configs = vec![FederationConfig {
            v: RECORD_VERSION,
            config_id: "oidc".into(),
            org_id: "org".into(),
            name: "ci".into(),
            active: true,
            settings: FederationSettings::Oidc {
                issuer_url: ISSUER.into(),
                audience: AUDIENCE.into(),
                jwks: JwksSource::Inline(jwks),
            },
            created: OffsetDateTime::UNIX_EPOCH,
            updated: OffsetDateTime::UNIX_EPOCH,
        }];
        let key = EncodingKey::from_ed_der(&hex::decode(PKCS8_HEX).expect("hex"));
        let now = OffsetDateTime::from_unix_timestamp(NOW).expect("valid time");
        let claims = json!({"iss": ISSUER, "aud": [AUDIENCE, "other"], "sub": "repo:org/app:ref:main",
                            "exp": NOW + 600, "nbf": NOW - 10, "iat": NOW - 10});
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(KID.into());
        let token = jsonwebtoken::encode(&header, &claims, &key).expect("signs");
        let verified = oidc::verify(&token, &configs, now).expect("the reference token verifies");
        Setup {
            configs,
            key,
            now,
            token,
            verified,
        }
    })
}

fn signed_part(t: &str) -> &str {
    t.rsplit_once('.').map_or(t, |(h, _)| h)
}

pub fn check(data: &[u8]) {
    let s = setup();
    let mut input = Input::new(data);
    match input.byte() % 3 {
        0 => claims_oracle(&mut input),
        1 => {
            let t = crate::mutate::apply(s.token.as_bytes(), &mut input, &[".", "=", "+", "/"]);
            if let Ok(v) = oidc::verify(&String::from_utf8_lossy(&t), &s.configs, s.now) {
                let t = String::from_utf8_lossy(&t);
                assert_eq!(
                    signed_part(&t),
                    signed_part(&s.token),
                    "mutated token verified"
                );
                assert_eq!(v, s.verified);
            }
        }
        _ => {
            let t = String::from_utf8_lossy(input.rest());
            if oidc::verify(&t, &s.configs, s.now).is_ok() {
                assert_eq!(
                    signed_part(&t),
                    signed_part(&s.token),
                    "forged token verified"
                );
            }
        }
    }
}

/// A time claim: absent, an integer offset from now, a fraction, or not a number.
fn time_claim(input: &mut Input<'_>) -> (Option<Value>, Result<Option<i64>, ()>) {
    let kind = input.byte() % 8;
    let offset = i64::from(input.u16() as i16);
    match kind {
        0 => (None, Ok(None)),
        1 => (Some(Value::Null), Ok(None)),
        2 => (Some(json!("soon")), Err(())),
        3 => {
            let f = (NOW + offset) as f64 + 0.5;
            (Some(json!(f)), Ok(Some(NOW + offset)))
        }
        4 => (Some(json!(i64::MAX)), Ok(Some(i64::MAX))),
        _ => (Some(json!(NOW + offset)), Ok(Some(NOW + offset))),
    }
}

fn claims_oracle(input: &mut Input<'_>) {
    let s = setup();
    let mut ok = true;
    let mut claims = serde_json::Map::new();
    match input.byte() % 4 {
        0 => ok = false,
        1 => {
            claims.insert("iss".into(), json!("https://other.test"));
            ok = false;
        }
        _ => {
            claims.insert("iss".into(), json!(ISSUER));
        }
    }
    match input.byte() % 6 {
        0 => ok = false,
        1 => {
            claims.insert("aud".into(), json!("other"));
            ok = false;
        }
        2 => {
            claims.insert("aud".into(), json!(["x", AUDIENCE]));
        }
        3 => {
            claims.insert("aud".into(), json!([7, "y"]));
            ok = false;
        }
        _ => {
            claims.insert("aud".into(), json!(AUDIENCE));
        }
    }
    let mut exp_value = None;
    for name in ["exp", "nbf", "iat"] {
        let (v, t) = time_claim(input);
        if let Some(v) = v {
            claims.insert(name.into(), v);
        }
        match (name, t) {
            (_, Err(())) => ok = false,
            ("exp", Ok(None)) => ok = false,
            ("exp", Ok(Some(e))) => {
                ok &= e > NOW;
                exp_value = Some(e);
            }
            (_, Ok(Some(t))) => ok &= t <= NOW + 60,
            (_, Ok(None)) => {}
        }
    }
    let kid = match input.byte() % 5 {
        0 => "k2",
        _ => KID,
    };
    ok &= kid == KID;
    let crit = input.byte().is_multiple_of(7);
    ok &= !crit;
    let sub = match input.byte() % 5 {
        0 => {
            ok = false;
            None
        }
        1 => {
            claims.insert("sub".into(), json!(12));
            ok = false;
            None
        }
        _ => {
            let sub = input.text_until(0);
            ok &= !sub.is_empty() && sub.len() <= 1024 && !sub.chars().any(char::is_control);
            claims.insert("sub".into(), json!(sub));
            Some(sub)
        }
    };
    // OffsetDateTime cannot represent every i64 second.
    if exp_value.is_some_and(|e| OffsetDateTime::from_unix_timestamp(e).is_err()) {
        ok = false;
    }
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    let token = if crit {
        // Header::crit does not exist in jsonwebtoken; assemble the header by hand.
        let h = json!({"alg": "EdDSA", "kid": kid, "crit": ["exp"]});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
        );
        let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &s.key, Algorithm::EdDSA)
            .expect("signs");
        format!("{signing_input}.{sig}")
    } else {
        jsonwebtoken::encode(&header, &Value::Object(claims.clone()), &s.key).expect("signs")
    };
    let got = oidc::verify(&token, &s.configs, s.now);
    assert_eq!(
        got.is_ok(),
        ok,
        "claims {claims:?} kid {kid} crit {crit}: {got:?}"
    );
    if let Ok(v) = got {
        assert_eq!(Some(v.subject), sub);
        assert_eq!(Some(v.expires.unix_timestamp()), exp_value);
        assert_eq!(v.issuer, ISSUER);
    }
}
