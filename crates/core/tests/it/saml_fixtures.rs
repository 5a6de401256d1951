//! The SAML verifier against Responses signed by independent implementations (xmlsec1,
//! signxml): the committed set in `crates/server/tests/fixtures/saml/` and, when
//! `COFFER_SAML_FIXTURES` names a directory (`.ci/run` generates a fresh set with new
//! keys there), that set too. Every valid shape verifies and yields its roles; the
//! deliberately bad ones (SHA-1, a signer known only from KeyInfo) are refused.

use coffer_core::federation::saml::{self, VerifiedAssertion};
use coffer_core::model::{FederationConfig, FederationSettings, RECORD_VERSION};
use serde_json::Value;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

fn sets() -> Vec<PathBuf> {
    let mut v = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/fixtures/saml")];
    if let Ok(d) = std::env::var("COFFER_SAML_FIXTURES") {
        v.push(PathBuf::from(d));
    }
    v
}

fn config(dir: &Path, m: &Value, keys: &[&str]) -> FederationConfig {
    let certs = keys
        .iter()
        .map(|k| {
            std::fs::read_to_string(dir.join(m["certificates"][*k].as_str().unwrap())).unwrap()
        })
        .collect();
    FederationConfig {
        v: RECORD_VERSION,
        config_id: "cfg".into(),
        org_id: "org".into(),
        name: "idp".into(),
        active: true,
        settings: FederationSettings::Saml {
            idp_entity_id: m["idpEntityId"].as_str().unwrap().into(),
            signing_certificates: certs,
            audience: m["audience"].as_str().unwrap().into(),
            acs_url: Some(m["acsUrl"].as_str().unwrap().into()),
        },
        created: OffsetDateTime::UNIX_EPOCH,
        updated: OffsetDateTime::UNIX_EPOCH,
    }
}

fn at(m: &Value, field: &str) -> OffsetDateTime {
    coffer_core::clock::parse_rfc3339(m[field].as_str().unwrap()).unwrap()
}

#[test]
fn independent_signers_verify_and_bad_ones_are_refused() {
    for dir in sets() {
        let m: Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        let cfg = config(&dir, &m, &["rsa", "ec256", "ec384"]);
        let now = at(&m, "issueInstant");
        let fixtures = m["fixtures"].as_array().unwrap();
        assert!(fixtures.len() >= 8, "{dir:?}");
        for f in fixtures {
            let name = f["name"].as_str().unwrap();
            let xml = std::fs::read_to_string(dir.join(f["file"].as_str().unwrap())).unwrap();
            let got = saml::verify(&xml, &cfg, now);
            if f["valid"].as_bool().unwrap() {
                let v: VerifiedAssertion = got.unwrap_or_else(|e| panic!("{dir:?} {name}: {e}"));
                let roles: Vec<String> = serde_json::from_value(f["roles"].clone()).unwrap();
                assert_eq!(v.roles, roles, "{name}");
                assert_eq!(v.assertion_id, f["assertionId"].as_str().unwrap());
                assert_eq!(v.principal_name.as_deref(), f["principalName"].as_str());
                assert_eq!(v.session_ends, at(&m, "sessionNotOnOrAfter"));
                // Only the key that signed it verifies it.
                let other = if f["key"] == "rsa" { "ec256" } else { "rsa" };
                let wrong = config(&dir, &m, &[other]);
                let e = saml::verify(&xml, &wrong, now).unwrap_err().to_string();
                assert!(
                    e.contains("does not verify with any configured"),
                    "{name}: {e}"
                );
            } else {
                let e = got.expect_err(name).to_string();
                assert!(e.starts_with("permission denied"), "{name}: {e}");
            }
        }
    }
}

/// Structural limits and profile rules on a valid fixture, at the verifier level.
#[test]
fn structural_rules() {
    let dir = &sets()[0];
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let cfg = config(dir, &m, &["rsa"]);
    let now = at(&m, "issueInstant");
    let xml = std::fs::read_to_string(dir.join("xmlsec-rsa-response-prefixed.xml")).unwrap();
    let err = |x: &str| saml::verify(x, &cfg, now).unwrap_err().to_string();
    saml::verify(&xml, &cfg, now).unwrap();

    // Nesting and size limits, before any signature work.
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert!(err(&deep).contains("nested deeper than"), "{}", err(&deep));
    let wide = format!("<a>{}</a>", "<b/>".repeat(30_000));
    assert!(err(&wide).contains("more than"), "{}", err(&wide));
    // Encrypted assertions are refused explicitly.
    let enc = xml.replacen(
        "<saml2p:Status>",
        "<saml2:EncryptedAssertion/><saml2p:Status>",
        1,
    );
    assert!(err(&enc).contains("encrypted"), "{}", err(&enc));
    // A signature anywhere else (here: inside Status) is refused.
    let stray = xml.replacen(
        "</saml2p:Status>",
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></saml2p:Status>",
        1,
    );
    assert!(err(&stray).contains("only be a child"), "{}", err(&stray));
    // Canonicalization with comments is not part of the profile.
    let wc = xml.replace(
        "xml-exc-c14n#\"/><SignatureMethod",
        "xml-exc-c14n#WithComments\"/><SignatureMethod",
    );
    assert_ne!(wc, xml);
    assert!(err(&wc).contains("with comments"), "{}", err(&wc));
    // An inactive config verifies nothing.
    let mut off = cfg.clone();
    off.active = false;
    assert!(saml::verify(&xml, &off, now).is_err());
    // Base64: whitespace is tolerated, other junk is not; the size limit comes first.
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(&xml);
    let wrapped: String = b
        .chars()
        .enumerate()
        .flat_map(|(i, c)| (i % 76 == 75).then_some('\n').into_iter().chain([c]))
        .collect();
    assert_eq!(saml::decode_response(&wrapped).unwrap(), xml);
    assert!(saml::decode_response("%%%").is_err());
    assert!(
        saml::decode_response(&"A".repeat(saml::MAX_SAML_RESPONSE_B64_LEN + 1))
            .unwrap_err()
            .to_string()
            .contains("larger than")
    );
}
