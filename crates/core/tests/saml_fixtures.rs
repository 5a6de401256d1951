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
