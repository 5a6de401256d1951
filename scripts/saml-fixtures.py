#!/usr/bin/env python3
"""Generates signed SAML 2.0 Responses with two independent XML-DSig implementations
(the `xmlsec1` CLI, libxmlsec1, and python `signxml`, lxml) for Coffer's SAML verifier
tests (crates/server/tests/it/saml_federation.rs).

    scripts/saml-fixtures.py OUT_DIR [--validity-days N]

Writes into OUT_DIR, with fresh keys every run (openssl):
  keys/<key>.cert.pem                       RSA 2048, EC P-256, EC P-384, and an
                                            "attacker" RSA key no config trusts (the
                                            private keys are deleted after signing
                                            unless --keep-private-keys)
  <fixture>.xml                             one signed Response per IdP shape
  manifest.json                             config values, validity window, and per
                                            fixture: signer, key, what is signed, roles

The shapes vary who signs (Response / Assertion / both), the signer, the key type and
algorithm, and the namespace layout (saml2p:/saml2: prefixes declared on the root;
default namespaces declared on each element; samlp:/saml: with the assertion's
namespaces declared on the assertion and xsi:type="xs:string" values, once with an
InclusiveNamespaces prefix list). Two more are signed wrongly on purpose: with SHA-1,
and with the attacker key whose certificate rides in KeyInfo.

Timestamps: NotBefore is the generation time minus 5 minutes, NotOnOrAfter and
SessionNotOnOrAfter the generation time plus --validity-days (default 36500), so a
committed set stays valid; tests move the server's injectable clock to reach the edges.

`.ci/run` runs this into a temporary directory and exports COFFER_SAML_FIXTURES; the
tests verify that set as well as the committed one in crates/server/tests/fixtures/saml/.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import uuid

from lxml import etree
from signxml import XMLSigner, SignatureMethod, DigestAlgorithm, CanonicalizationMethod

IDP = "https://idp.coffer.test/metadata"
AUDIENCE = "urn:coffer:test:sp"
ACS = "https://coffer.test/saml/acs"
ROLE_ATTR = "https://coreweave.com/SAML/Attributes/Role"
PN_ATTR = "https://coreweave.com/SAML/Attributes/PrincipalName"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
DS = "http://www.w3.org/2000/09/xmldsig#"

SIG_URIS = {
    "rsa-sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "rsa-sha512": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "ecdsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "ecdsa-sha384": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
}
DIGEST_URIS = {
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
}


def run(*args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def make_keys(d):
    os.makedirs(d, exist_ok=True)
    specs = {
        "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "ec256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ec384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "attacker": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    }
    for name, opts in specs.items():
        key = os.path.join(d, f"{name}.key.pem")
        cert = os.path.join(d, f"{name}.cert.pem")
        run("openssl", "genpkey", *opts, "-out", key)
        run("openssl", "req", "-x509", "-new", "-key", key, "-out", cert, "-days", "36500",
            "-subj", f"/CN=coffer-test-idp-{name}")


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def signature_template(sig, digest, ref_id, prefix="ds", inclusive=None):
    """An xmlsec1 template: exclusive C14N, enveloped + exc-c14n transforms, with an
    InclusiveNamespaces prefix list on both exc-c14n uses when `inclusive` is given."""
    p = f"{prefix}:" if prefix else ""
    decl = f' xmlns:{prefix}="{DS}"' if prefix else f' xmlns="{DS}"'
    inc = (f'<ec:InclusiveNamespaces xmlns:ec="{EXC}" PrefixList="{" ".join(inclusive)}"/>'
           if inclusive else "")
    return (
        f'<{p}Signature{decl}><{p}SignedInfo>'
        f'<{p}CanonicalizationMethod Algorithm="{EXC}">{inc}</{p}CanonicalizationMethod>'
        f'<{p}SignatureMethod Algorithm="{SIG_URIS[sig]}"/>'
        f'<{p}Reference URI="#{ref_id}"><{p}Transforms>'
        f'<{p}Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        f'<{p}Transform Algorithm="{EXC}">{inc}</{p}Transform></{p}Transforms>'
        f'<{p}DigestMethod Algorithm="{DIGEST_URIS[digest]}"/><{p}DigestValue/>'
        f'</{p}Reference></{p}SignedInfo><{p}SignatureValue/>'
        f'<{p}KeyInfo><{p}X509Data/></{p}KeyInfo></{p}Signature>'
    )


RESP_SIG = "<!--RESPONSE-SIGNATURE-->"
ASSN_SIG = "<!--ASSERTION-SIGNATURE-->"


def response_xml(layout, v, roles, principal_name, name_id):
    """The unsigned Response text with markers where signatures go."""
    attrs = {
        "prefixed": ("saml2:", ""),
        "default-ns": ("", ""),
        "on-element": ("saml:", ' xsi:type="xs:string"'),
    }[layout]
    a, xtype = attrs
    role_values = "".join(
        f"<{a}AttributeValue{xtype}>{r}</{a}AttributeValue>" for r in roles)
    pn = (f'<{a}Attribute Name="{PN_ATTR}"><{a}AttributeValue{xtype}>{principal_name}'
          f"</{a}AttributeValue></{a}Attribute>") if principal_name else ""
    assertion_body = (
        f"<{a}Issuer>{IDP}</{a}Issuer>{ASSN_SIG}"
        f"<{a}Subject><{a}NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">"
        f"{name_id}</{a}NameID>"
        f'<{a}SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<{a}SubjectConfirmationData NotOnOrAfter="{v["notOnOrAfter"]}" Recipient="{ACS}"/>'
        f"</{a}SubjectConfirmation></{a}Subject>"
        f'<{a}Conditions NotBefore="{v["notBefore"]}" NotOnOrAfter="{v["notOnOrAfter"]}">'
        f"<{a}AudienceRestriction><{a}Audience>{AUDIENCE}</{a}Audience></{a}AudienceRestriction>"
        f"</{a}Conditions>"
        f'<{a}AuthnStatement AuthnInstant="{v["issueInstant"]}" '
        f'SessionNotOnOrAfter="{v["sessionNotOnOrAfter"]}" SessionIndex="_s1">'
        f"<{a}AuthnContext><{a}AuthnContextClassRef>"
        f"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        f"</{a}AuthnContextClassRef></{a}AuthnContext></{a}AuthnStatement>"
        f"<{a}AttributeStatement><{a}Attribute Name=\"{ROLE_ATTR}\">{role_values}"
        f"</{a}Attribute>{pn}</{a}AttributeStatement>"
    )
    common = (f'ID="{v["responseId"]}" Version="2.0" IssueInstant="{v["issueInstant"]}" '
              f'Destination="{ACS}"')
    a_common = f'ID="{v["assertionId"]}" Version="2.0" IssueInstant="{v["issueInstant"]}"'
    if layout == "prefixed":
        return (
            f'<saml2p:Response xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" '
            f'xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" {common}>'
            f"<saml2:Issuer>{IDP}</saml2:Issuer>{RESP_SIG}"
            f'<saml2p:Status><saml2p:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
            f"</saml2p:Status><saml2:Assertion {a_common}>{assertion_body}</saml2:Assertion>"
            f"</saml2p:Response>")
    if layout == "default-ns":
        return (
            f'<Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol" {common}>'
            f'<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">{IDP}</Issuer>{RESP_SIG}'
            f'<Status><StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></Status>'
            f'<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" {a_common}>'
            f"{assertion_body}</Assertion></Response>")
    return (
        f'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" {common}>'
        f'<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{IDP}</saml:Issuer>'
        f'{RESP_SIG}<samlp:Status><samlp:StatusCode '
        f'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        f'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" {a_common}>'
        f"{assertion_body}</saml:Assertion></samlp:Response>")


def xmlsec_sign(text, keydir, key, tmp, id_attrs):
    src = os.path.join(tmp, "in.xml")
    out = os.path.join(tmp, "out.xml")
    with open(src, "w") as f:
        f.write(text)
    args = ["xmlsec1", "--sign", "--privkey-pem",
            f"{keydir}/{key}.key.pem,{keydir}/{key}.cert.pem"]
    for ia in id_attrs:
        args += ["--id-attr:ID", ia]
    run(*args, "--output", out, src)
    with open(out) as f:
        return f.read()


def sign_xmlsec(text, v, keydir, key, sig, digest, signed, tmp, inclusive):
    """xmlsec1 signs the first Signature template in document order, so the assertion
    is signed first (only its template present), then the Response."""
    ids = ["urn:oasis:names:tc:SAML:2.0:protocol:Response",
           "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"]
    if signed in ("assertion", "both"):
        text = text.replace(ASSN_SIG, signature_template(sig, digest, v["assertionId"],
                                                          inclusive=inclusive))
        text = xmlsec_sign(text.replace(RESP_SIG, ""), keydir, key, tmp, ids)
    else:
        text = text.replace(ASSN_SIG, "")
    if signed in ("response", "both"):
        text = text.replace(RESP_SIG, signature_template(sig, digest, v["responseId"], prefix="",
                                                         inclusive=inclusive))
        text = xmlsec_sign(text, keydir, key, tmp, ids)
    else:
        text = text.replace(RESP_SIG, "")
    return text


def sign_signxml(text, v, keydir, key, sig, digest, signed, inclusive):
    placeholder = f'<ds:Signature xmlns:ds="{DS}" Id="placeholder"></ds:Signature>'
    sig_method = {"rsa-sha256": SignatureMethod.RSA_SHA256,
                  "rsa-sha512": SignatureMethod.RSA_SHA512,
                  "ecdsa-sha256": SignatureMethod.ECDSA_SHA256,
                  "ecdsa-sha384": SignatureMethod.ECDSA_SHA384}[sig]
    dig = {"sha256": DigestAlgorithm.SHA256, "sha384": DigestAlgorithm.SHA384,
           "sha512": DigestAlgorithm.SHA512}[digest]
    with open(f"{keydir}/{key}.key.pem", "rb") as f:
        pkey = f.read()
    with open(f"{keydir}/{key}.cert.pem") as f:
        cert = f.read()

    def signer():
        return XMLSigner(signature_algorithm=sig_method, digest_algorithm=dig,
                         c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)

    # signxml's inclusive_ns_prefixes is not used: its output does not verify with
    # xmlsec1 either (the InclusiveNamespaces element lands on SignedInfo only).
    assert not inclusive
    kw = {}
    text = text.replace(RESP_SIG, placeholder if signed in ("response", "both") else "")
    text = text.replace(ASSN_SIG, placeholder if signed in ("assertion", "both") else "")
    root = etree.fromstring(text.encode())
    if signed in ("assertion", "both"):
        assertion = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
        # Sign the assertion on its own (signxml signs the element it is given), then
        # put the signed copy back where it was.
        idx = list(root).index(assertion)
        root.remove(assertion)
        signed_assertion = signer().sign(assertion, key=pkey, cert=cert,
                                         reference_uri=v["assertionId"], id_attribute="ID", **kw)
        root.insert(idx, signed_assertion)
    if signed in ("response", "both"):
        root = signer().sign(root, key=pkey, cert=cert, reference_uri=v["responseId"],
                             id_attribute="ID", **kw)
    return etree.tostring(root, encoding="unicode")


FIXTURES = [
    # name, signer, layout, key, sig, digest, signed, roles, inclusive
    ("xmlsec-rsa-response-prefixed", "xmlsec1", "prefixed", "rsa", "rsa-sha256", "sha256",
     "response", ["readers"], None),
    ("xmlsec-rsa-assertion-defaultns", "xmlsec1", "default-ns", "rsa", "rsa-sha256", "sha256",
     "assertion", ["readers"], None),
    ("xmlsec-ec256-both-onelement", "xmlsec1", "on-element", "ec256", "ecdsa-sha256",
     "sha384", "both", ["readers", "writers"], None),
    ("signxml-rsa-assertion-prefixed", "signxml", "prefixed", "rsa", "rsa-sha512", "sha512",
     "assertion", ["readers"], None),
    ("signxml-ec384-response-defaultns", "signxml", "default-ns", "ec384", "ecdsa-sha384",
     "sha256", "response", ["readers"], None),
    ("signxml-rsa-both-onelement", "signxml", "on-element", "rsa", "rsa-sha256",
     "sha256", "both", ["writers", "readers"], None),
    ("xmlsec-rsa-both-onelement-inclusive", "xmlsec1", "on-element", "rsa", "rsa-sha256",
     "sha512", "both", ["readers"], ["xs", "xsi"]),
    ("signxml-ec256-assertion-onelement", "signxml", "on-element", "ec256", "ecdsa-sha256",
     "sha256", "assertion", ["readers"], None),
    # Signed wrongly on purpose (the verifier must refuse them).
    ("bad-xmlsec-rsa-sha1", "xmlsec1", "prefixed", "rsa", "rsa-sha1", "sha1", "assertion",
     ["readers"], None),
    ("bad-xmlsec-attacker-keyinfo", "xmlsec1", "prefixed", "attacker", "rsa-sha256",
     "sha256", "assertion", ["readers"], None),
    # Valid, for the comment-injection and unsigned-sibling attacks built in the tests.
    ("xmlsec-rsa-assertion-dotted-role", "xmlsec1", "prefixed", "rsa", "rsa-sha256",
     "sha256", "assertion", ["admin.evil"], None),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--validity-days", type=int, default=36500)
    ap.add_argument("--keep-private-keys", action="store_true")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    keydir = os.path.join(out, "keys")
    make_keys(keydir)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    window = {
        "issueInstant": ts(now),
        "notBefore": ts(now - dt.timedelta(minutes=5)),
        "notOnOrAfter": ts(now + dt.timedelta(days=args.validity_days)),
        "sessionNotOnOrAfter": ts(now + dt.timedelta(days=args.validity_days)),
    }
    manifest = {
        "idpEntityId": IDP, "audience": AUDIENCE, "acsUrl": ACS,
        "certificates": {k: f"keys/{k}.cert.pem" for k in ("rsa", "ec256", "ec384", "attacker")},
        "trusted": ["rsa", "ec256", "ec384"],
        **window,
        "fixtures": [],
    }
    tmp = os.path.join(out, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    for (name, signer, layout, key, sig, digest, signed, roles, inclusive) in FIXTURES:
        v = dict(window, responseId="_r" + uuid.uuid4().hex, assertionId="_a" + uuid.uuid4().hex)
        pn = f"{name}@idp.coffer.test"
        text = response_xml(layout, v, roles, pn, "alice@idp.coffer.test")
        if signer == "xmlsec1":
            signed_text = sign_xmlsec(text, v, keydir, key, sig, digest, signed, tmp,
                                      inclusive)
        else:
            signed_text = sign_signxml(text, v, keydir, key, sig, digest, signed, inclusive)
        with open(os.path.join(out, f"{name}.xml"), "w") as f:
            f.write(signed_text)
        manifest["fixtures"].append({
            "name": name, "file": f"{name}.xml", "signer": signer, "layout": layout,
            "key": key, "signatureAlgorithm": sig, "digest": digest, "signed": signed,
            "roles": roles, "principalName": pn, "assertionId": v["assertionId"],
            "responseId": v["responseId"], "valid": not name.startswith("bad-"),
        })
    if not args.keep_private_keys:
        for k in manifest["certificates"]:
            os.remove(os.path.join(keydir, f"{k}.key.pem"))
    for f in os.listdir(tmp):
        os.remove(os.path.join(tmp, f))
    os.rmdir(tmp)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {len(FIXTURES)} SAML fixtures to {out}")


if __name__ == "__main__":
    main()
