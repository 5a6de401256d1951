//! SAML Responses (`CreateAccessKeyFromSAML`): `saml::verify` and `decode_response`.
//!
//! Inputs are either raw text (first byte even) or a structured mutation of one of the
//! committed Responses signed by xmlsec1 and signxml (first byte odd; see
//! [`crate::mutate`]).
//!
//! Property: the verifier never accepts content nobody signed. Every accepted document
//! yields exactly the assertion (ID, issuer, roles, principal name, validity) of one of
//! the signed fixtures, and a mutated fixture, when accepted, yields exactly that
//! fixture's assertion: no mutation changes what a verified Response says. Mutations
//! that leave the signed content alone (whitespace between attributes, a changed
//! unsigned `Destination`…) may still verify; the assertion cannot differ.

use crate::input::Input;
use coffer_core::federation::saml::{self, VerifiedAssertion};
use coffer_core::model::{FederationConfig, FederationSettings, RECORD_VERSION};
use std::sync::OnceLock;
use time::OffsetDateTime;

macro_rules! fixture {
    ($f:literal) => {
        include_str!(concat!("../../server/tests/fixtures/saml/", $f))
    };
}

/// The valid fixtures (manifest `valid: true`).
const SIGNED: &[&str] = &[
    fixture!("xmlsec-rsa-response-prefixed.xml"),
    fixture!("xmlsec-rsa-assertion-defaultns.xml"),
    fixture!("xmlsec-ec256-both-onelement.xml"),
    fixture!("xmlsec-rsa-both-onelement-inclusive.xml"),
    fixture!("xmlsec-rsa-assertion-dotted-role.xml"),
    fixture!("signxml-rsa-assertion-prefixed.xml"),
    fixture!("signxml-ec256-assertion-onelement.xml"),
    fixture!("signxml-ec384-response-defaultns.xml"),
    fixture!("signxml-rsa-both-onelement.xml"),
];

/// The manifest's `issueInstant`: every fixture is valid at this instant.
const NOW: &str = "2026-11-26T08:23:37Z";

/// Markup that wrapping and comment-injection attacks are made of.
const SNIPPETS: &[&str] = &[
    "<!---->",
    "<!-- x -->",
    "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_evil\" Version=\"2.0\">",
    "</saml:Assertion>",
    "<saml:AttributeValue>admins</saml:AttributeValue>",
    "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/>",
    "<Extensions>",
    "</Extensions>",
    " ID=\"_x\"",
    " xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
    " xmlns:saml=\"urn:x\"",
    "&amp;",
    "&#x41;",
    "<![CDATA[x]]>",
    "<!DOCTYPE r [<!ENTITY e \"x\">]>",
    "<?pi x?>",
    " ",
    "\n",
];

struct Fixtures {
    config: FederationConfig,
    now: OffsetDateTime,
    verified: Vec<VerifiedAssertion>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let certs = [
            fixture!("keys/rsa.cert.pem"),
            fixture!("keys/ec256.cert.pem"),
            fixture!("keys/ec384.cert.pem"),
        ];
        let config = FederationConfig {
            v: RECORD_VERSION,
            config_id: "cfg".into(),
            org_id: "org".into(),
            name: "idp".into(),
            active: true,
            settings: FederationSettings::Saml {
                idp_entity_id: "https://idp.coffer.test/metadata".into(),
                signing_certificates: certs.iter().map(|c| c.to_string()).collect(),
                audience: "urn:coffer:test:sp".into(),
                acs_url: Some("https://coffer.test/saml/acs".into()),
            },
            created: OffsetDateTime::UNIX_EPOCH,
            updated: OffsetDateTime::UNIX_EPOCH,
        };
        let now = coffer_core::clock::parse_rfc3339(NOW).expect("valid time");
        let verified = SIGNED
            .iter()
            .map(|x| saml::verify(x, &config, now).expect("every signed fixture verifies"))
            .collect();
        Fixtures {
            config,
            now,
            verified,
        }
    })
}

pub fn check(data: &[u8]) {
    let f = fixtures();
    let mut input = Input::new(data);
    let mode = input.byte();
    if mode.is_multiple_of(2) {
        let text = String::from_utf8_lossy(input.rest());
        if let Ok(xml) = saml::decode_response(&text) {
            accepted_only_if_signed(&xml, None);
        }
        accepted_only_if_signed(&text, None);
        return;
    }
    let which = usize::from(input.byte()) % SIGNED.len();
    let mutated = crate::mutate::apply(SIGNED[which].as_bytes(), &mut input, SNIPPETS);
    let text = String::from_utf8_lossy(&mutated);
    accepted_only_if_signed(&text, Some(&f.verified[which]));
}

fn accepted_only_if_signed(xml: &str, original: Option<&VerifiedAssertion>) {
    let f = fixtures();
    let Ok(v) = saml::verify(xml, &f.config, f.now) else {
        return;
    };
    match original {
        Some(o) => assert_eq!(&v, o, "a mutated Response verified with other content"),
        None => assert!(
            f.verified.contains(&v),
            "an unsigned assertion verified: {v:?}"
        ),
    }
}
