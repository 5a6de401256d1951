//! Enveloped XML-DSig verification for the SAML verifier: the accepted algorithms, the
//! configured signing keys (parsed from the config's PEM certificates — the only keys
//! ever used; `KeyInfo` in a message is never read), and the check of one
//! `ds:Signature` element against the element that is its parent.
//!
//! Accepted profile of a `ds:Signature` (anything else is rejected):
//! * children: `SignedInfo`, `SignatureValue`, optionally `KeyInfo` — in that order,
//!   nothing else (no `Object`: a classic hiding place for wrapped content);
//! * `SignedInfo`: `CanonicalizationMethod` exclusive C14N without comments (optionally
//!   with an `InclusiveNamespaces` prefix list), a `SignatureMethod` of
//!   [`SignatureAlg`], and exactly one `Reference`;
//! * the `Reference` URI is `#<ID>` of the signature's parent element, its transforms
//!   are exactly enveloped-signature then exclusive C14N, its digest is SHA-256/384/512.
//!   SHA-1 anywhere is rejected by name.

use super::c14n::canonicalize;
use super::{DSIG_NS, reject};
use crate::error::{Error, Result};
use base64::Engine;
use roxmltree::Node;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA1_URIS: [&str; 3] = [
    "http://www.w3.org/2000/09/xmldsig#sha1",
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
];
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    fn from_uri(uri: &str) -> Result<Self> {
        Ok(match uri {
            "http://www.w3.org/2001/04/xmlenc#sha256" => Self::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => Self::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512" => Self::Sha512,
            u if SHA1_URIS.contains(&u) => return Err(reject("SHA-1 digests are not accepted")),
            _ => return Err(reject("unsupported digest algorithm")),
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// Signature algorithms: RSA PKCS#1 v1.5 or ECDSA, with SHA-256 or stronger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlg {
    Rsa(DigestAlg),
    Ecdsa(DigestAlg),
}

impl SignatureAlg {
    fn from_uri(uri: &str) -> Result<Self> {
        const M: &str = "http://www.w3.org/2001/04/xmldsig-more#";
        let Some(name) = uri.strip_prefix(M) else {
            if SHA1_URIS.contains(&uri) {
                return Err(reject("SHA-1 signatures are not accepted"));
            }
            return Err(reject("unsupported signature algorithm"));
        };
        Ok(match name {
            "rsa-sha256" => Self::Rsa(DigestAlg::Sha256),
            "rsa-sha384" => Self::Rsa(DigestAlg::Sha384),
            "rsa-sha512" => Self::Rsa(DigestAlg::Sha512),
            "ecdsa-sha256" => Self::Ecdsa(DigestAlg::Sha256),
            "ecdsa-sha384" => Self::Ecdsa(DigestAlg::Sha384),
            "ecdsa-sha512" => Self::Ecdsa(DigestAlg::Sha512),
            "ecdsa-sha1" => return Err(reject("SHA-1 signatures are not accepted")),
            _ => return Err(reject("unsupported signature algorithm")),
        })
    }
}

/// A public key from a configured certificate.
#[derive(Clone)]
pub enum SigningKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rsa(_) => "SigningKey::Rsa",
            Self::P256(_) => "SigningKey::P256",
            Self::P384(_) => "SigningKey::P384",
        })
    }
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

/// The public key of one PEM `CERTIFICATE` (RSA ≥ 2048 bits, EC P-256 or P-384).
/// Validity dates and issuer are not checked: trust comes from the config naming this
/// exact certificate (as with IdP metadata), not from a chain.
pub fn parse_certificate(pem: &str) -> std::result::Result<SigningKey, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    use x509_cert::der::Decode;
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|r| r.strip_suffix("-----END CERTIFICATE-----"))
        .ok_or("must be one PEM block: -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----")?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the PEM body is not valid base64")?;
    let cert = x509_cert::Certificate::from_der(&der)
        .map_err(|_| "not a DER X.509 certificate".to_string())?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let key_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or("malformed public key")?;
    match spki.algorithm.oid.to_string().as_str() {
        OID_RSA => {
            let k = rsa::RsaPublicKey::from_pkcs1_der(key_bytes)
                .map_err(|_| "malformed RSA public key")?;
            if k.size() * 8 < MIN_RSA_BITS {
                return Err(format!("RSA keys must have at least {MIN_RSA_BITS} bits"));
            }
            Ok(SigningKey::Rsa(k))
        }
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<x509_cert::der::asn1::ObjectIdentifier>().ok())
                .map(|o| o.to_string())
                .ok_or("EC key without a named curve")?;
            match curve.as_str() {
                OID_P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                    .map(SigningKey::P256)
                    .map_err(|_| "malformed P-256 public key".into()),
                OID_P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                    .map(SigningKey::P384)
                    .map_err(|_| "malformed P-384 public key".into()),
                _ => Err("EC keys must be on P-256 or P-384".into()),
            }
        }
        _ => Err("the certificate's key must be RSA or EC (P-256/P-384)".into()),
    }
}

fn verify_with(key: &SigningKey, alg: SignatureAlg, data: &[u8], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    match (key, alg) {
        (SigningKey::Rsa(k), SignatureAlg::Rsa(d)) => {
            let hashed = d.digest(data);
            let scheme = match d {
                DigestAlg::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                DigestAlg::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                DigestAlg::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            k.verify(scheme, &hashed, sig).is_ok()
        }
        // XML-DSig ECDSA values are the raw r || s concatenation (RFC 4050), not DER.
        (SigningKey::P256(k), SignatureAlg::Ecdsa(d)) => p256::ecdsa::Signature::from_slice(sig)
            .is_ok_and(|s| k.verify_prehash(&d.digest(data), &s).is_ok()),
        (SigningKey::P384(k), SignatureAlg::Ecdsa(d)) => p384::ecdsa::Signature::from_slice(sig)
            .is_ok_and(|s| k.verify_prehash(&d.digest(data), &s).is_ok()),
        _ => false,
    }
}

/// The element children of `n`, refusing any non-whitespace text between them.
fn element_children<'a, 'i>(n: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>> {
    let mut v = Vec::new();
    for c in n.children() {
        if c.is_element() {
            v.push(c);
        } else if c.is_text() && !c.text().unwrap_or("").trim().is_empty() {
            return Err(reject("unexpected text in the signature"));
        }
    }
    Ok(v)
}

fn is_ds(n: Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(DSIG_NS) && n.tag_name().name() == name
}

fn algorithm<'a>(n: Node<'a, '_>) -> Result<&'a str> {
    n.attribute("Algorithm")
        .ok_or_else(|| reject("a signature element lacks its Algorithm"))
}

/// Exclusive C14N's optional `InclusiveNamespaces PrefixList` under a transform or
/// canonicalization-method element.
fn inclusive_prefixes(method: Node<'_, '_>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in element_children(method)? {
        if c.tag_name().namespace() == Some(EXC_C14N)
            && c.tag_name().name() == "InclusiveNamespaces"
        {
            out.extend(
                c.attribute("PrefixList")
                    .unwrap_or("")
                    .split_ascii_whitespace()
                    .map(str::to_string),
            );
        } else {
            return Err(reject("unexpected content in a canonicalization method"));
        }
    }
    Ok(out)
}

fn exc_c14n(method: Node<'_, '_>) -> Result<Vec<String>> {
    match algorithm(method)? {
        EXC_C14N => inclusive_prefixes(method),
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments" => {
            Err(reject("canonicalization with comments is not accepted"))
        }
        _ => Err(reject(
            "only exclusive XML canonicalization (xml-exc-c14n#) is accepted",
        )),
    }
}

fn b64(text: &str) -> Result<Vec<u8>> {
    let s: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| reject("a signature value is not base64"))
}

/// Full text content (all text descendants; comments contribute nothing).
pub fn text_content(n: Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

/// Verifies `signature`, a `ds:Signature` that is a direct child of the element it
/// must sign (`signed`, whose `ID` is `id`), with one of `keys`. Returns the error that
/// names the first failed check.
pub fn verify_enveloped(
    signature: Node<'_, '_>,
    signed: Node<'_, '_>,
    id: &str,
    keys: &[SigningKey],
) -> Result<()> {
    if signature.parent_element() != Some(signed) {
        return Err(reject(
            "the signature is not enveloped in the element it signs",
        ));
    }
    let parts = element_children(signature)?;
    let (signed_info, value) = match parts.as_slice() {
        [si, sv] | [si, sv, _] if is_ds(*si, "SignedInfo") && is_ds(*sv, "SignatureValue") => {
            if let [_, _, ki] = parts.as_slice()
                && !is_ds(*ki, "KeyInfo")
            {
                return Err(reject(
                    "a signature may only hold SignedInfo, SignatureValue and KeyInfo",
                ));
            }
            (*si, *sv)
        }
        _ => {
            return Err(reject(
                "a signature must hold SignedInfo, SignatureValue and optionally KeyInfo",
            ));
        }
    };
    let si = element_children(signed_info)?;
    let [c14n_method, sig_method, reference] = si.as_slice() else {
        return Err(reject(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference",
        ));
    };
    if !is_ds(*c14n_method, "CanonicalizationMethod")
        || !is_ds(*sig_method, "SignatureMethod")
        || !is_ds(*reference, "Reference")
    {
        return Err(reject(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference",
        ));
    }
    let si_prefixes = exc_c14n(*c14n_method)?;
    let alg = SignatureAlg::from_uri(algorithm(*sig_method)?)?;
    if !element_children(*sig_method)?.is_empty() {
        return Err(reject("unexpected content in SignatureMethod"));
    }

    // The reference: the signed element by its ID, nothing else.
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err(reject(
            "the signature's reference does not point at the element that carries it",
        ));
    }
    let rparts = element_children(*reference)?;
    let [transforms, digest_method, digest_value] = rparts.as_slice() else {
        return Err(reject(
            "Reference must hold Transforms, DigestMethod and DigestValue",
        ));
    };
    if !is_ds(*transforms, "Transforms")
        || !is_ds(*digest_method, "DigestMethod")
        || !is_ds(*digest_value, "DigestValue")
    {
        return Err(reject(
            "Reference must hold Transforms, DigestMethod and DigestValue",
        ));
    }
    let tlist = element_children(*transforms)?;
    let [t1, t2] = tlist.as_slice() else {
        return Err(reject(
            "the transforms must be exactly enveloped-signature then exclusive C14N",
        ));
    };
    if !is_ds(*t1, "Transform")
        || !is_ds(*t2, "Transform")
        || algorithm(*t1)? != ENVELOPED
        || !element_children(*t1)?.is_empty()
        || !is_ds(*t2, "Transform")
    {
        return Err(reject(
            "the transforms must be exactly enveloped-signature then exclusive C14N",
        ));
    }
    let ref_prefixes = exc_c14n(*t2)?;
    let dalg = DigestAlg::from_uri(algorithm(*digest_method)?)?;

    // Digest of the signed element without this signature.
    let canon = canonicalize(signed, Some(signature), &ref_prefixes);
    let expected = b64(&text_content(*digest_value))?;
    let actual = dalg.digest(canon.as_bytes());
    if expected.len() != actual.len() || !bool::from(expected.ct_eq(&actual)) {
        return Err(reject("the digest of the signed element does not match"));
    }

    // The signature over SignedInfo, with a configured key only.
    let canon_si = canonicalize(signed_info, None, &si_prefixes);
    let sig = b64(&text_content(value))?;
    if keys
        .iter()
        .any(|k| verify_with(k, alg, canon_si.as_bytes(), &sig))
    {
        Ok(())
    } else {
        Err(reject(
            "the signature does not verify with any configured signing certificate",
        ))
    }
}

/// Maps a certificate problem of a stored config to an internal error (stored configs
/// passed validation, so this means the store was edited behind our back).
pub fn config_keys(pems: &[String]) -> Result<Vec<SigningKey>> {
    pems.iter()
        .map(|p| {
            parse_certificate(p)
                .map_err(|why| Error::internal(format!("stored SAML certificate unusable: {why}")))
        })
        .collect()
}
