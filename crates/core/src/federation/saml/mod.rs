//! SAML 2.0 Response verification (SPEC §5) for `CreateAccessKeyFromSAML`.
//!
//! The accepted profile is deliberately narrow; a Response is accepted only when all of
//! these hold, in this order:
//! 1. the base64 text is at most [`MAX_SAML_RESPONSE_B64_LEN`] bytes *before* decoding,
//!    decodes to UTF-8 XML that roxmltree parses with DTDs refused (so no entity
//!    expansion at all: billion-laughs and external entities fail at the `<!DOCTYPE`),
//!    with at most [`MAX_XML_NODES`] nodes and [`MAX_DEPTH`] levels of nesting;
//! 2. structure: the root is a `samlp:Response` (version 2.0); the document holds
//!    exactly one `saml:Assertion`, and it is a direct child of the root; no
//!    `EncryptedAssertion`; every `ID`/`Id`/`id` attribute value is unique; every
//!    `ds:Signature` is a direct child of the root or of that assertion, at most one each,
//!    and at least one exists;
//! 3. each of those signatures verifies ([`dsig::verify_enveloped`]): one reference, to
//!    the `ID` of the element that carries it, exclusive C14N, SHA-256+ digests,
//!    RSA/ECDSA with SHA-256+, a key from the config's certificates only;
//! 4. the Response status is Success; Response `Issuer` (if any) and assertion
//!    `Issuer` equal the config's `idpEntityId`; when the config sets `acsUrl`, the
//!    Response `Destination` (if any) and the bearer confirmation's `Recipient` equal it;
//! 5. `Conditions` `NotBefore`/`NotOnOrAfter` hold with [`CLOCK_SKEW_SECS`] of skew, every
//!    `AudienceRestriction` names the config's audience (at least one must exist), a
//!    bearer `SubjectConfirmationData` is unexpired;
//! 6. the Role attribute has at least one value.
//!
//! Why wrapping (XSW) fails: the values are read from *the* assertion — the only one in
//! the document, at the only place one may be — and that assertion is covered by a
//! verified signature, either its own (the reference must name its `ID`, and the
//! signature must be its child) or the Response's (the root, which contains it). An
//! attacker who adds, moves or wraps an assertion either produces a second assertion
//! (rejected) or moves the signed one (its digest no longer matches or its reference no
//! longer names the carrier). Values are full text content: comments, which C14N drops,
//! cannot truncate a value the signature covered.
//!
//! Failures of the message are `PermissionDenied` (it is well-formed but not
//! acceptable) or `InvalidArgument` (not base64, too large, not XML, a DTD).

mod c14n;
pub mod dsig;

use crate::error::{Error, Result};
use crate::model::{FederationConfig, FederationSettings};
use base64::Engine;
use roxmltree::Node;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// The attribute whose values name the federated role (`role/<value>`).
pub const ROLE_ATTRIBUTE: &str = "https://coreweave.com/SAML/Attributes/Role";
/// The attribute recorded as the key's `principalName` attribute.
pub const PRINCIPAL_NAME_ATTRIBUTE: &str = "https://coreweave.com/SAML/Attributes/PrincipalName";
/// Largest base64 `samlResponse` accepted (checked before decoding): AWS STS's limit
/// for `AssumeRoleWithSAML`.
pub const MAX_SAML_RESPONSE_B64_LEN: usize = 100_000;
/// Most XML nodes parsed.
pub const MAX_XML_NODES: u32 = 20_000;
/// Deepest element nesting accepted (real responses nest about 8 deep).
pub const MAX_DEPTH: usize = 64;
/// Tolerated clock difference for every time condition.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Longest role or principal name value accepted.
pub const MAX_VALUE_LEN: usize = 256;

pub(crate) fn reject(why: impl std::fmt::Display) -> Error {
    Error::PermissionDenied(format!("SAML response rejected: {why}"))
}

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("samlResponse is malformed: {why}"))
}

/// What a verified Response establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub config_id: String,
    /// The assertion's `ID`, for one-time use.
    pub assertion_id: String,
    pub issuer: String,
    /// Values of the Role attribute, in document order (at least one).
    pub roles: Vec<String>,
    /// The PrincipalName attribute's first value.
    pub principal_name: Option<String>,
    /// Until when the assertion itself may be presented (replay records live this long).
    pub valid_until: OffsetDateTime,
    /// The latest instant a key minted from it may live to: `SessionNotOnOrAfter` when
    /// the IdP sets one, else the assertion's own validity end.
    pub session_ends: OffsetDateTime,
}

/// Decodes the base64 `samlResponse` (whitespace ignored, size-limited before decoding)
/// to XML text.
pub fn decode_response(b64: &str) -> Result<String> {
    if b64.len() > MAX_SAML_RESPONSE_B64_LEN {
        return Err(malformed(format!(
            "larger than {MAX_SAML_RESPONSE_B64_LEN} bytes"
        )));
    }
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(Error::invalid("samlResponse is required"));
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(compact)
        .map_err(|_| malformed("not valid base64"))?;
    String::from_utf8(bytes).map_err(|_| malformed("not UTF-8 XML"))
}

fn parse(xml: &str) -> Result<roxmltree::Document<'_>> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(xml, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => malformed("DTDs (<!DOCTYPE>) are not accepted"),
        roxmltree::Error::NodesLimitReached => {
            malformed(format!("more than {MAX_XML_NODES} XML nodes"))
        }
        other => malformed(format!("not well-formed XML ({other})")),
    })
}

fn is(n: Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

fn children<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| is(*c, ns, name))
}

/// The only child of that name, if any; two is a malformed message.
fn at_most_one<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> Result<Option<Node<'a, 'i>>> {
    let mut it = children(n, ns, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(reject(format!("more than one {name} element")));
    }
    Ok(first)
}

fn time_attr(n: Node<'_, '_>, name: &str) -> Result<Option<OffsetDateTime>> {
    n.attribute(name)
        .map(|v| {
            OffsetDateTime::parse(v.trim(), &Rfc3339)
                .map_err(|_| reject(format!("{name} is not a UTC dateTime")))
        })
        .transpose()
}

/// A string value: full text content (comments contribute nothing, so they cannot cut
/// a value short), trimmed, no element children, non-empty, printable, bounded.
fn value_of(n: Node<'_, '_>, what: &str) -> Result<String> {
    if n.children().any(|c| c.is_element()) {
        return Err(reject(format!("{what} must be a plain string")));
    }
    let v = dsig::text_content(n).trim().to_string();
    if v.is_empty() || v.chars().count() > MAX_VALUE_LEN || v.chars().any(char::is_control) {
        return Err(reject(format!(
            "{what} must be 1 to {MAX_VALUE_LEN} printable characters"
        )));
    }
    Ok(v)
}

fn skew() -> time::Duration {
    time::Duration::seconds(CLOCK_SKEW_SECS)
}

/// Verifies a decoded SAML Response against one SAML config (which must be active) at
/// `now`.
pub fn verify(
    xml: &str,
    config: &FederationConfig,
    now: OffsetDateTime,
) -> Result<VerifiedAssertion> {
    let FederationSettings::Saml {
        idp_entity_id,
        signing_certificates,
        audience,
        acs_url,
    } = &config.settings
    else {
        return Err(Error::internal("not a SAML config"));
    };
    if !config.active {
        return Err(reject("the SAML config is not active"));
    }
    let doc = parse(xml)?;
    let root = doc.root_element();

    // ---- structure
    for n in doc.descendants().filter(|n| n.is_element()) {
        if n.ancestors().take(MAX_DEPTH + 2).count() > MAX_DEPTH + 1 {
            return Err(malformed(format!(
                "nested deeper than {MAX_DEPTH} elements"
            )));
        }
    }
    if !is(root, PROTOCOL_NS, "Response") {
        return Err(reject("the document is not a SAML 2.0 Response"));
    }
    if root.attribute("Version") != Some("2.0") {
        return Err(reject("the Response is not SAML version 2.0"));
    }
    let mut ids = std::collections::HashSet::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            let id_like = matches!(a.name(), "ID" | "Id" | "id")
                && (a.namespace().is_none()
                    || a.namespace() == Some("http://www.w3.org/XML/1998/namespace"));
            if id_like && !ids.insert(a.value()) {
                return Err(reject("duplicate ID attribute values"));
            }
        }
    }
    if doc
        .descendants()
        .any(|n| is(n, ASSERTION_NS, "EncryptedAssertion"))
    {
        return Err(reject("encrypted assertions are not supported"));
    }
    let assertions: Vec<_> = doc
        .descendants()
        .filter(|n| is(*n, ASSERTION_NS, "Assertion"))
        .collect();
    let assertion = match assertions.as_slice() {
        [a] if a.parent_element() == Some(root) => *a,
        [_] => {
            return Err(reject(
                "the assertion is not a direct child of the Response",
            ));
        }
        [] => return Err(reject("the Response holds no assertion")),
        _ => return Err(reject("the Response must hold exactly one assertion")),
    };
    let signatures: Vec<_> = doc
        .descendants()
        .filter(|n| is(*n, DSIG_NS, "Signature"))
        .collect();
    if signatures.is_empty() {
        return Err(reject("neither the Response nor the assertion is signed"));
    }
    let mut signed_root = false;
    let mut signed_assertion = false;
    for s in &signatures {
        let parent = s.parent_element();
        let slot = if parent == Some(root) {
            &mut signed_root
        } else if parent == Some(assertion) {
            &mut signed_assertion
        } else {
            return Err(reject(
                "a signature may only be a child of the Response or of the assertion",
            ));
        };
        if std::mem::replace(slot, true) {
            return Err(reject("more than one signature on one element"));
        }
    }

    // ---- signatures, with the configured certificates only
    let keys = dsig::config_keys(signing_certificates)?;
    for s in &signatures {
        let Some(signed) = s.parent_element() else {
            return Err(reject("a signature has no parent element"));
        };
        let id = signed
            .attribute("ID")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| reject("the signed element has no ID"))?;
        dsig::verify_enveloped(*s, signed, id, &keys)?;
    }
    // From here on every value read lies inside a verified signature's scope: the
    // assertion is signed itself or sits in the signed Response; Response-level
    // fields are trusted only when the Response is signed, and are checked for
    // consistency either way.

    // ---- Response
    let status = at_most_one(root, PROTOCOL_NS, "Status")?
        .and_then(|s| children(s, PROTOCOL_NS, "StatusCode").next())
        .and_then(|c| c.attribute("Value"));
    if status != Some(STATUS_SUCCESS) {
        return Err(reject("the Response status is not Success"));
    }
    if let Some(i) = at_most_one(root, ASSERTION_NS, "Issuer")?
        && value_of(i, "Issuer")? != *idp_entity_id
    {
        return Err(reject("the Response issuer is not the configured IdP"));
    }
    if let (Some(acs), Some(dest)) = (acs_url, root.attribute("Destination"))
        && dest != acs
    {
        return Err(reject(
            "the Response Destination is not the configured acsUrl",
        ));
    }

    // ---- Assertion
    if assertion.attribute("Version") != Some("2.0") {
        return Err(reject("the assertion is not SAML version 2.0"));
    }
    let assertion_id = assertion
        .attribute("ID")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| reject("the assertion has no ID"))?
        .to_string();
    let issuer = at_most_one(assertion, ASSERTION_NS, "Issuer")?
        .ok_or_else(|| reject("the assertion has no Issuer"))?;
    let issuer = value_of(issuer, "Issuer")?;
    if issuer != *idp_entity_id {
        return Err(reject("the assertion issuer is not the configured IdP"));
    }

    // Conditions: validity window and audience.
    let conditions = at_most_one(assertion, ASSERTION_NS, "Conditions")?
        .ok_or_else(|| reject("the assertion has no Conditions"))?;
    if let Some(nb) = time_attr(conditions, "NotBefore")?
        && now + skew() < nb
    {
        return Err(reject("the assertion is not yet valid (NotBefore)"));
    }
    let conditions_end = time_attr(conditions, "NotOnOrAfter")?;
    if let Some(end) = conditions_end
        && now - skew() >= end
    {
        return Err(reject("the assertion has expired (NotOnOrAfter)"));
    }
    let restrictions: Vec<_> = children(conditions, ASSERTION_NS, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(reject("the assertion has no AudienceRestriction"));
    }
    for r in restrictions {
        let mut ok = false;
        for a in children(r, ASSERTION_NS, "Audience") {
            ok |= value_of(a, "Audience")? == *audience;
        }
        if !ok {
            return Err(reject("the assertion is not meant for this audience"));
        }
    }

    // Subject: a bearer confirmation that is unexpired (and for our ACS when set).
    let subject = at_most_one(assertion, ASSERTION_NS, "Subject")?
        .ok_or_else(|| reject("the assertion has no Subject"))?;
    let mut confirmed: Option<OffsetDateTime> = None;
    let mut why = "the assertion has no bearer SubjectConfirmation";
    for sc in children(subject, ASSERTION_NS, "SubjectConfirmation") {
        if sc.attribute("Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = at_most_one(sc, ASSERTION_NS, "SubjectConfirmationData")? else {
            why = "the bearer SubjectConfirmation has no SubjectConfirmationData";
            continue;
        };
        let Some(end) = time_attr(data, "NotOnOrAfter")? else {
            why = "the bearer SubjectConfirmationData has no NotOnOrAfter";
            continue;
        };
        if now - skew() >= end {
            why = "the bearer SubjectConfirmationData has expired";
            continue;
        }
        if let Some(nb) = time_attr(data, "NotBefore")?
            && now + skew() < nb
        {
            why = "the bearer SubjectConfirmationData is not yet valid";
            continue;
        }
        if let Some(acs) = acs_url
            && data.attribute("Recipient") != Some(acs.as_str())
        {
            why = "the bearer confirmation's Recipient is not the configured acsUrl";
            continue;
        }
        confirmed = Some(confirmed.map_or(end, |c: OffsetDateTime| c.max(end)));
    }
    let confirmed_until = confirmed.ok_or_else(|| reject(why))?;
    let valid_until = conditions_end.map_or(confirmed_until, |v| v.min(confirmed_until));

    // Session end (AuthnStatement SessionNotOnOrAfter): the earliest one given.
    let mut session_ends: Option<OffsetDateTime> = None;
    for st in children(assertion, ASSERTION_NS, "AuthnStatement") {
        if let Some(t) = time_attr(st, "SessionNotOnOrAfter")? {
            session_ends = Some(session_ends.map_or(t, |s| s.min(t)));
        }
    }
    let session_ends = session_ends.unwrap_or(valid_until);

    // Attributes.
    let mut roles = Vec::new();
    let mut principal_name = None;
    for st in children(assertion, ASSERTION_NS, "AttributeStatement") {
        for attr in children(st, ASSERTION_NS, "Attribute") {
            match attr.attribute("Name") {
                Some(ROLE_ATTRIBUTE) => {
                    for v in children(attr, ASSERTION_NS, "AttributeValue") {
                        roles.push(value_of(v, "a Role attribute value")?);
                    }
                }
                Some(PRINCIPAL_NAME_ATTRIBUTE) if principal_name.is_none() => {
                    if let Some(v) = children(attr, ASSERTION_NS, "AttributeValue").next() {
                        principal_name = Some(value_of(v, "the PrincipalName attribute value")?);
                    }
                }
                _ => {}
            }
        }
    }
    if roles.is_empty() {
        return Err(reject(format!(
            "the assertion has no {ROLE_ATTRIBUTE} attribute value"
        )));
    }
    Ok(VerifiedAssertion {
        config_id: config.config_id.clone(),
        assertion_id,
        issuer,
        roles,
        principal_name,
        valid_until,
        session_ends,
    })
}
