//! SAML workload identity federation end to end (SPEC §5):
//! `POST /v1/cwobject/temporary-credentials/saml` with Responses signed by independent
//! implementations (`xmlsec1` and python `signxml`, made by `scripts/saml-fixtures.py`):
//! the committed set in `tests/fixtures/saml/` and, when `COFFER_SAML_FIXTURES` names a
//! directory (`.ci/run` generates a fresh set with new keys there), that set too.
//!
//! The attack corpus is built here from validly signed fixtures — XSW1–XSW8, comment
//! injection, an unsigned assertion next to a signed one, a signer known only from
//! KeyInfo, SHA-1, expired / not-yet-valid, wrong audience / issuer / destination,
//! replay, an inactive config, another org's config, bad base64, DTDs — and each must be
//! refused with PermissionDenied (7/403) or InvalidArgument (3/400), minting nothing.
//! Minted keys work on S3 with id and secret alone, fail with any session token, and
//! stop working when they expire (the server's injectable clock moves).

use crate::s3_common::*;
use aws_sdk_s3::config::{Credentials, Region};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use coffer_core::clock::{OffsetClock, parse_rfc3339};
use coffer_server::Config;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

const EXCHANGE: &str = "/v1/cwobject/temporary-credentials/saml";
const CONFIGS: &str = "/v1/iam/federation/saml-configs";
const OPERATOR: &str = "saml-test-operator-token-0123456789";

/// One generated fixture set: its directory and manifest.
struct Set {
    dir: PathBuf,
    m: Value,
}

impl Set {
    fn load(dir: PathBuf) -> Set {
        let m = serde_json::from_slice(
            &std::fs::read(dir.join("manifest.json"))
                .unwrap_or_else(|e| panic!("{dir:?}/manifest.json: {e}")),
        )
        .unwrap();
        Set { dir, m }
    }

    fn cert(&self, key: &str) -> String {
        std::fs::read_to_string(self.dir.join(self.m["certificates"][key].as_str().unwrap()))
            .unwrap()
    }

    fn fixture(&self, name: &str) -> &Value {
        self.m["fixtures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no fixture {name} in {:?}", self.dir))
    }

    fn xml(&self, name: &str) -> String {
        let f = self.fixture(name);
        std::fs::read_to_string(self.dir.join(f["file"].as_str().unwrap())).unwrap()
    }

    fn time(&self, field: &str) -> OffsetDateTime {
        parse_rfc3339(self.m[field].as_str().unwrap()).unwrap()
    }
}

/// The committed set, plus the one `COFFER_SAML_FIXTURES` names (CI always sets it).
fn sets() -> Vec<Set> {
    let mut v = vec![Set::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saml"),
    )];
    match std::env::var("COFFER_SAML_FIXTURES") {
        Ok(d) if !d.is_empty() => v.push(Set::load(PathBuf::from(d))),
        _ if std::env::var("CI").is_ok() => {
            panic!("CI must generate a fresh SAML fixture set (COFFER_SAML_FIXTURES)")
        }
        _ => eprintln!("COFFER_SAML_FIXTURES unset: only the committed SAML fixtures are used"),
    }
    v
}

fn b64(xml: &str) -> String {
    STANDARD.encode(xml)
}

/// A server (with a movable clock and an operator token) whose org trusts the set's
/// RSA, P-256 and P-384 certificates for the set's IdP, a bucket with one object, and
/// org policies: the admin may do anything; `role/readers` and `role/writers` may mint
/// SAML keys and read the bucket.
struct Fx {
    ts: TestServer,
    clock: OffsetClock,
    config_id: String,
    admin_s3: aws_sdk_s3::Client,
    _tmp: tempfile::TempDir,
}

async fn fixture(set: &Set) -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("operator-token");
    std::fs::write(&token_file, format!("{OPERATOR}\n")).unwrap();
    let clock = OffsetClock::default();
    let mut cfg = Config::with_data_dir(tmp.path().join("data"));
    cfg.operator_token_file = Some(token_file);
    cfg.clock = Some(clock.clone());
    let ts = TestServer::start_with(cfg).await;
    let (status, v) = ts
        .api(
            Method::POST,
            CONFIGS,
            Some(&ts.admin_token),
            Some(json!({
                "name": "test-idp",
                "idpEntityId": set.m["idpEntityId"],
                "signingCertificates": [set.cert("rsa"), set.cert("ec256"), set.cert("ec384")],
                "audience": set.m["audience"],
                "acsUrl": set.m["acsUrl"],
            })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let config_id = v["config"]["configId"].as_str().unwrap().to_string();
    ts.ensure_policy(json!({
        "version": "v1alpha1",
        "name": "federation",
        "statements": [
            {"name": "admin", "effect": "Allow", "actions": ["*"], "resources": ["*"],
             "principals": [format!("coreweave/{}", ts.admin_uid)]},
            {"name": "saml", "effect": "Allow",
             "actions": ["cwobject:CreateAccessKeySAML", "s3:ListBucket", "s3:GetObject"],
             "resources": ["*"], "principals": ["role/readers", "role/writers", "role/admin"]}
        ]
    }))
    .await;
    let key = ts.create_key(&ts.admin_token).await;
    let admin_s3 = ts.s3_client(&key);
    make_bucket(&admin_s3, "saml-data").await;
    put(&admin_s3, "saml-data", "model.bin", b"weights").await;
    Fx {
        ts,
        clock,
        config_id,
        admin_s3,
        _tmp: tmp,
    }
}

impl Fx {
    async fn exchange(&self, extra: Value) -> (u16, Value) {
        let mut body = json!({"orgId": self.ts.org_id, "configId": self.config_id});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        // Anonymous: no Authorization header.
        self.ts.api(Method::POST, EXCHANGE, None, Some(body)).await
    }

    async fn exchange_xml(&self, xml: &str) -> (u16, Value) {
        self.exchange(json!({"samlResponse": b64(xml)})).await
    }

    async fn key_count(&self) -> usize {
        let (s, v) = self
            .ts
            .api(
                Method::GET,
                "/v1/cwobject/access-key",
                Some(&self.ts.admin_token),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["info"].as_array().unwrap().len()
    }

    /// The exchange refuses `body` with `code` (7 or 3) and a message containing `why`,
    /// minting nothing.
    async fn refused_body(&self, what: &str, body: Value, code: i64, why: &str) {
        let before = self.key_count().await;
        let (status, v) = self.exchange(body).await;
        let want = if code == 7 { 403 } else { 400 };
        assert_eq!((status, &v["code"]), (want, &json!(code)), "{what}: {v}");
        assert_eq!(v["details"], json!([]), "{what}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        eprintln!("REFUSED {what}: {msg}");
        assert!(msg.contains(why), "{what}: {msg:?} should say {why:?}");
        assert_eq!(self.key_count().await, before, "{what}: a key was minted");
    }

    async fn refused(&self, what: &str, xml: &str, code: i64, why: &str) {
        self.refused_body(what, json!({"samlResponse": b64(xml)}), code, why)
            .await
    }

    async fn update_config(&self, body: Value) {
        let (s, v) = self
            .ts
            .api(
                Method::PUT,
                &format!("{CONFIGS}/{}", self.config_id),
                Some(&self.ts.admin_token),
                Some(body),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }

    /// Moves the server clock to `t` (the offset is relative to the real time).
    fn set_clock(&self, t: OffsetDateTime) {
        let now = self.ts_now();
        self.clock.advance((t - now).whole_seconds());
    }

    fn ts_now(&self) -> OffsetDateTime {
        use coffer_core::clock::Clock;
        self.clock.now()
    }

    fn s3(&self, id: &str, secret: &str, token: Option<&str>) -> aws_sdk_s3::Client {
        let creds = Credentials::new(id, secret, token.map(str::to_string), None, "saml-test");
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.ts.s3_endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

/// Every valid shape (both signers; Response, Assertion or both signed; RSA, P-256,
/// P-384; every namespace layout) mints a working key for its first role, with the
/// PrincipalName recorded, from both fixture sets.
#[tokio::test]
async fn every_signer_and_shape_mints_a_working_key() {
    for set in sets() {
        let f = fixture(&set).await;
        let mut minted = 0;
        for fx in set.m["fixtures"].as_array().unwrap() {
            let name = fx["name"].as_str().unwrap();
            if !fx["valid"].as_bool().unwrap() || name.contains("dotted-role") {
                continue;
            }
            let before = OffsetDateTime::now_utc();
            let (status, v) = f
                .exchange(json!({"samlResponse": b64(&set.xml(name)), "durationSeconds": 600}))
                .await;
            assert_eq!(status, 200, "{name}: {v}");
            let role = fx["roles"][0].as_str().unwrap();
            assert_eq!(v["principalName"], json!(format!("role/{role}")), "{name}");
            assert_eq!(v["accessKeyID"], v["accessKeyId"], "{name}");
            assert_eq!(
                v["attributes"]["principalName"], fx["principalName"],
                "{name}: {v}"
            );
            let exp = parse_rfc3339(v["expiry"].as_str().unwrap()).unwrap();
            let life = (exp - before).whole_seconds();
            assert!((595..=605).contains(&life), "{name}: lifetime {life}s");
            // Key id and secret alone work on S3 (no session token in this shape).
            let s3 = f.s3(
                v["accessKeyId"].as_str().unwrap(),
                v["secretKey"].as_str().unwrap(),
                None,
            );
            assert_eq!(
                get(&s3, "saml-data", "model.bin").await,
                b"weights",
                "{name}"
            );
            minted += 1;
        }
        assert!(minted >= 7, "{:?}: only {minted} valid fixtures", set.dir);
    }
}

#[tokio::test]
async fn roles_duration_session_cap_and_session_token() {
    let set = &sets()[0];
    let f = fixture(set).await;
    let xml = set.xml("xmlsec-ec256-both-onelement"); // roles: readers, writers

    // `attributes.role` picks one of several; a role the assertion lacks is refused.
    f.refused_body(
        "role not in the assertion",
        json!({"samlResponse": b64(&xml), "attributes": {"role": "admin"}}),
        7,
        "not among the assertion's Role values",
    )
    .await;
    let (s, v) = f
        .exchange(
            json!({"samlResponse": b64(&xml), "attributes": {"role": "writers", "team": "ml"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["principalName"], json!("role/writers"));
    assert_eq!(v["attributes"]["team"], json!("ml"));
    assert!(v["attributes"].get("role").is_none(), "{v}");

    // Default lifetime 900 s; durationSeconds out of range is InvalidArgument.
    let before = OffsetDateTime::now_utc();
    let (s, v) = f
        .exchange(json!({"samlResponse": b64(&set.xml("xmlsec-rsa-response-prefixed"))}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["principalName"], json!("role/readers"));
    let life = (parse_rfc3339(v["expiry"].as_str().unwrap()).unwrap() - before).whole_seconds();
    assert!((895..=905).contains(&life), "lifetime {life}s");
    for bad in [json!(43201), json!(-1)] {
        f.refused_body(
            "durationSeconds out of range",
            json!({"samlResponse": b64(&set.xml("signxml-rsa-assertion-prefixed")),
                   "durationSeconds": bad}),
            3,
            "durationSeconds",
        )
        .await;
    }
    // The caller may not set principalName itself.
    f.refused_body(
        "caller-set principalName",
        json!({"samlResponse": b64(&set.xml("signxml-rsa-assertion-prefixed")),
               "attributes": {"principalName": "root"}}),
        3,
        "",
    )
    .await;

    // Never past the assertion's session: 100 s before SessionNotOnOrAfter, 12 hours
    // requested → 100 s granted.
    let end = set.time("sessionNotOnOrAfter");
    f.set_clock(end - time::Duration::seconds(100));
    let (s, v) = f
        .exchange(
            json!({"samlResponse": b64(&set.xml("signxml-rsa-assertion-prefixed")),
                         "durationSeconds": 43200}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let exp = parse_rfc3339(v["expiry"].as_str().unwrap()).unwrap();
    assert!(
        (exp - end).whole_seconds().abs() <= 2,
        "expiry {exp} vs session end {end}"
    );
}

#[tokio::test]
async fn minted_keys_on_s3_token_and_expiry() {
    let set = &sets()[0];
    let f = fixture(set).await;
    let (s, v) = f
        .exchange(
            json!({"samlResponse": b64(&set.xml("signxml-ec384-response-defaultns")),
                         "durationSeconds": 120}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (id, secret) = (
        v["accessKeyId"].as_str().unwrap(),
        v["secretKey"].as_str().unwrap(),
    );
    let good = f.s3(id, secret, None);
    good.list_objects_v2()
        .bucket("saml-data")
        .send()
        .await
        .unwrap();
    // The policy grants reads only.
    assert_s3_err(
        good.put_object()
            .bucket("saml-data")
            .key("x")
            .body(b"no".to_vec().into())
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // The key has no session token: any token sent with it fails.
    assert_s3_err(
        f.s3(id, secret, Some("not-the-token"))
            .list_objects_v2()
            .bucket("saml-data")
            .send()
            .await,
        "InvalidToken",
        400,
    );
    // A wrong secret fails.
    assert_s3_err(
        f.s3(id, &format!("{secret}x"), None)
            .list_objects_v2()
            .bucket("saml-data")
            .send()
            .await,
        "SignatureDoesNotMatch",
        403,
    );
    // Past its 120 s the key stops working.
    f.clock.advance(121);
    assert_s3_err(
        good.list_objects_v2().bucket("saml-data").send().await,
        "InvalidAccessKeyId",
        403,
    );
    let _ = &f.admin_s3;
}

// ---- attack corpus

/// The element `<{tag}` … `</{tag}>` (first occurrence; fixtures do not nest these).
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let start = xml
        .find(&format!("<{tag}"))
        .unwrap_or_else(|| panic!("no <{tag}"));
    let close = format!("</{tag}>");
    let end = xml[start..].find(&close).unwrap() + start + close.len();
    &xml[start..end]
}

/// `xml` without its first `<{tag}` … `</{tag}>` element.
fn without(xml: &str, tag: &str) -> String {
    xml.replacen(element(xml, tag), "", 1)
}

/// The root's start tag `<saml2p:Response …>`.
fn root_open(xml: &str) -> &str {
    let s = xml.find("<saml2p:Response").unwrap();
    &xml[s..s + xml[s..].find('>').unwrap() + 1]
}

/// An attacker's assertion made from a signed one: its signature removed, another ID,
/// and the role `admin` instead of `readers`.
fn evil_assertion(assertion: &str, id: &str) -> String {
    let a = if assertion.contains("<ds:Signature") {
        without(assertion, "ds:Signature")
    } else {
        assertion.to_string()
    };
    let old_id = a.split("ID=\"").nth(1).unwrap().split('"').next().unwrap();
    a.replace(old_id, id).replace(">readers<", ">admin<")
}

/// XSW1–XSW8 (Somorovsky et al., "On Breaking SAML"), plus single-assertion variants,
/// built from a Response-signed fixture (`r`) and an Assertion-signed one (`a`), both
/// with `saml2p:`/`saml2:` prefixes.
fn wrapping_attacks(r: &str, a: &str) -> Vec<(&'static str, String)> {
    let close = "</saml2p:Response>";
    // Response-signed base: xmlsec1 wrote its signature with a default namespace.
    let r_sig = {
        let start = r.find("<Signature xmlns=").unwrap();
        let end = start + r[start..].find("</Signature>").unwrap() + "</Signature>".len();
        &r[start..end]
    };
    let r_unsigned = r.replacen(r_sig, "", 1);
    let r_body = &r_unsigned[r_unsigned.find("<saml2p:Response").unwrap()..];
    let r_assertion = element(r, "saml2:Assertion");
    let r_issuer = element(r, "saml2:Issuer");
    let r_status = element(r, "saml2p:Status");
    let evil_root = root_open(r).replace("ID=\"", "ID=\"_evilresp");
    let evil_r_assn = evil_assertion(r_assertion, "_evilassn");
    let sig_with = |inner: &str| r_sig.replace("</Signature>", &format!("{inner}</Signature>"));

    // Assertion-signed base.
    let a_assertion = element(a, "saml2:Assertion");
    let a_sig = element(a_assertion, "ds:Signature");
    let a_unsigned = without(a_assertion, "ds:Signature");
    let a_evil = evil_assertion(a_assertion, "_evilassn");
    let a_evil_signed = {
        // The original signature moved onto the evil assertion, after its Issuer.
        let iss = element(&a_evil, "saml2:Issuer").to_string();
        a_evil.replacen(&iss, &format!("{iss}{a_sig}"), 1)
    };
    let a_with = |body: &str| a.replacen(a_assertion, body, 1);
    let a_sig_object = |inner: &str| {
        a_evil_signed.replace(
            "</ds:Signature>",
            &format!("<ds:Object>{inner}</ds:Object></ds:Signature>"),
        )
    };

    vec![
        (
            "XSW1: evil Response, the signed one inside the signature's Object",
            format!(
                "{evil_root}{r_issuer}{}{r_status}{evil_r_assn}{close}",
                sig_with(&format!("<Object>{r_body}</Object>"))
            ),
        ),
        (
            "XSW2: evil Response, the signed one as a detached sibling",
            format!("{evil_root}{r_issuer}{r_sig}{r_body}{r_status}{evil_r_assn}{close}"),
        ),
        (
            "XSW3: evil assertion before the signed one",
            a_with(&format!("{a_evil}{a_assertion}")),
        ),
        (
            "XSW3b: unsigned assertion after the signed one",
            a_with(&format!("{a_assertion}{a_evil}")),
        ),
        (
            "XSW4: evil assertion wrapping the signed one",
            a_with(&a_evil.replace(
                "</saml2:Assertion>",
                &format!("{a_assertion}</saml2:Assertion>"),
            )),
        ),
        (
            "XSW5: signature moved onto the evil assertion, original appended",
            a.replacen(a_assertion, &a_evil_signed, 1)
                .replace(close, &format!("{a_unsigned}{close}")),
        ),
        (
            "XSW6: evil assertion signed-looking, original inside the signature's Object",
            a_with(&a_sig_object(a_assertion)),
        ),
        (
            "XSW7: original in Extensions, evil assertion consumed",
            a_with(&format!(
                "<saml2p:Extensions>{a_assertion}</saml2p:Extensions>{a_evil}"
            )),
        ),
        (
            "XSW8: evil assertion, original without signature inside the Object",
            a_with(&a_sig_object(&a_unsigned)),
        ),
        (
            "signed Response whose assertion was swapped",
            r.replacen(r_assertion, &evil_r_assn, 1),
        ),
        (
            "signed assertion with the role changed",
            a.replacen(">readers<", ">admin<", 1),
        ),
        (
            "signature moved onto an evil assertion with the same ID (only one assertion)",
            a.replacen(
                a_assertion,
                &a_evil_signed.replace(
                    "_evilassn",
                    a_assertion
                        .split("ID=\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap(),
                ),
                1,
            ),
        ),
        (
            "Response signature removed, unsigned assertion",
            r_unsigned.clone(),
        ),
        (
            "reference URI pointing at another element",
            r.replacen(
                &format!(
                    "URI=\"#{}\"",
                    root_open(r)
                        .split("ID=\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap()
                ),
                &format!(
                    "URI=\"#{}\"",
                    r_assertion
                        .split("ID=\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap()
                ),
                1,
            ),
        ),
    ]
}

#[tokio::test]
async fn signature_wrapping_and_forgeries_are_refused() {
    for set in sets() {
        let f = fixture(&set).await;
        let r = set.xml("xmlsec-rsa-response-prefixed");
        let a = set.xml("signxml-rsa-assertion-prefixed");
        for (what, xml) in wrapping_attacks(&r, &a) {
            // Each still parses (the attack is the structure, not broken XML).
            roxmltree::Document::parse(xml.trim_start_matches("<?xml version=\"1.0\"?>\n"))
                .unwrap_or_else(|e| panic!("{what}: {e}\n{xml}"));
            f.refused(what, &xml, 7, "SAML response rejected").await;
        }
        f.refused(
            "SHA-1",
            &set.xml("bad-xmlsec-rsa-sha1"),
            7,
            "SHA-1 signatures are not accepted",
        )
        .await;
        f.refused(
            "signer known only from KeyInfo",
            &set.xml("bad-xmlsec-attacker-keyinfo"),
            7,
            "does not verify with any configured signing certificate",
        )
        .await;
        // The valid originals still work afterwards (nothing above burned them).
        let (s, v) = f.exchange_xml(&r).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = f.exchange_xml(&a).await;
        assert_eq!(s, 200, "{v}");
    }
}

/// A comment inside a signed value is invisible to the signature (C14N drops it) and
/// must not truncate the value: `admin<!---->.evil` is still role `admin.evil`, which
/// the policy does not allow (it allows `role/admin`).
#[tokio::test]
async fn comment_injection_does_not_truncate_values() {
    for set in sets() {
        let f = fixture(&set).await;
        let xml = set.xml("xmlsec-rsa-assertion-dotted-role");
        let injected = xml
            .replacen(">admin.evil<", ">admin<!---->.evil<", 1)
            .replacen(
                ">alice@idp.coffer.test<",
                ">alice@idp<!-- x -->.coffer.test<",
                1,
            )
            .replacen("-dotted-role@", "-dotted-role<!---->@", 1);
        assert_ne!(injected, xml);
        f.refused(
            "comment injection",
            &injected,
            7,
            "role/admin.evil may not perform cwobject:CreateAccessKeySAML",
        )
        .await;
        // Allowed explicitly, the same Response mints a key for the full value.
        f.ts.ensure_policy(json!({
            "version": "v1alpha1", "name": "dotted",
            "statements": [{"name": "dotted", "effect": "Allow",
                "actions": ["cwobject:CreateAccessKeySAML"], "resources": ["*"],
                "principals": ["role/admin.evil"]}]
        }))
        .await;
        let (s, v) = f.exchange_xml(&injected).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["principalName"], json!("role/admin.evil"));
        assert_eq!(
            v["attributes"]["principalName"],
            json!("xmlsec-rsa-assertion-dotted-role@idp.coffer.test")
        );
    }
}

#[tokio::test]
async fn conditions_config_and_replay_are_enforced() {
    let set = &sets()[0];
    let f = fixture(set).await;
    let xml = set.xml("xmlsec-rsa-assertion-defaultns");
    let skew = time::Duration::seconds(60);

    // Time window with 60 s of skew on each side.
    f.set_clock(set.time("notOnOrAfter") + skew + time::Duration::seconds(5));
    f.refused("expired", &xml, 7, "expired").await;
    f.set_clock(set.time("notBefore") - skew - time::Duration::seconds(5));
    f.refused("not yet valid", &xml, 7, "not yet valid").await;
    f.set_clock(OffsetDateTime::now_utc());

    // Config mismatches (the Response stays the same; the config changes).
    f.update_config(json!({"audience": "urn:someone:else"}))
        .await;
    f.refused("wrong audience", &xml, 7, "audience").await;
    f.update_config(json!({"audience": set.m["audience"], "idpEntityId": "https://other.idp/"}))
        .await;
    f.refused("wrong issuer", &xml, 7, "issuer is not the configured IdP")
        .await;
    f.update_config(json!({"idpEntityId": set.m["idpEntityId"],
                           "acsUrl": "https://elsewhere.test/acs"}))
        .await;
    f.refused("wrong destination", &xml, 7, "acsUrl").await;
    f.update_config(json!({"acsUrl": set.m["acsUrl"], "active": false}))
        .await;
    f.refused("inactive config", &xml, 7, "no active SAML config")
        .await;
    f.update_config(json!({"active": true, "signingCertificates": [set.cert("ec256")]}))
        .await;
    f.refused(
        "certificate rotated away",
        &xml,
        7,
        "does not verify with any configured signing certificate",
    )
    .await;
    f.update_config(json!({"signingCertificates": [set.cert("rsa")]}))
        .await;

    // Another org cannot use this org's config, nor this org the other's.
    let (other_org, _, other_admin) = f.ts.org_with_allow_all_admin(OPERATOR, "beta").await;
    f.refused_body(
        "config of another org",
        json!({"orgId": other_org, "samlResponse": b64(&xml)}),
        7,
        "no active SAML config",
    )
    .await;
    let (s, v) =
        f.ts.api(
            Method::POST,
            CONFIGS,
            Some(&other_admin),
            Some(
                json!({"name": "beta-idp", "idpEntityId": set.m["idpEntityId"],
                "signingCertificates": [set.cert("rsa")], "audience": set.m["audience"]}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    f.refused_body(
        "other org's config id",
        json!({"configId": v["config"]["configId"], "samlResponse": b64(&xml)}),
        7,
        "no active SAML config",
    )
    .await;
    f.refused_body(
        "unknown org",
        json!({"orgId": "nope", "samlResponse": b64(&xml)}),
        7,
        "no active SAML config",
    )
    .await;

    // Once accepted, the assertion is spent.
    let (s, v) = f.exchange_xml(&xml).await;
    assert_eq!(s, 200, "{v}");
    f.refused("replay", &xml, 7, "already used").await;
    // Also spent when re-encoded differently (whitespace in the base64).
    let wrapped: String = b64(&xml)
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    f.refused_body(
        "replay, re-wrapped",
        json!({"samlResponse": wrapped}),
        7,
        "already used",
    )
    .await;
}

#[tokio::test]
async fn malformed_requests_are_invalid_arguments() {
    let set = &sets()[0];
    let f = fixture(set).await;
    let good = b64(&set.xml("xmlsec-rsa-response-prefixed"));
    f.refused_body("no samlResponse", json!({}), 3, "samlResponse is required")
        .await;
    f.refused_body(
        "no configId",
        json!({"configId": "", "samlResponse": good}),
        3,
        "configId is required",
    )
    .await;
    f.refused_body(
        "not base64",
        json!({"samlResponse": "!!!"}),
        3,
        "not valid base64",
    )
    .await;
    f.refused_body(
        "truncated base64",
        json!({"samlResponse": &good[..good.len() - 3]}),
        3,
        "samlResponse is malformed",
    )
    .await;
    f.refused_body(
        "truncated XML",
        json!({"samlResponse": b64(&set.xml("xmlsec-rsa-response-prefixed")[..900])}),
        3,
        "not well-formed XML",
    )
    .await;
    f.refused_body(
        "not UTF-8",
        json!({"samlResponse": STANDARD.encode([0xff, 0xfe, 0x3c])}),
        3,
        "not UTF-8",
    )
    .await;
    f.refused_body(
        "too large",
        json!({"samlResponse": "A".repeat(300 * 1024)}),
        3,
        "larger than",
    )
    .await;
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]>\
         <samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&lol9;</samlp:Response>",
        (1..10)
            .map(|i| format!(
                "<!ENTITY lol{i} \"{}\">",
                format!(
                    "&lol{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ))
            .collect::<String>()
    );
    f.refused("billion laughs", &laughs, 3, "DTDs").await;
    let xxe =
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
    f.refused("external entity", xxe, 3, "DTDs").await;
    // A valid Response with a DTD in front is refused as well.
    let with_dtd = set.xml("xmlsec-rsa-response-prefixed").replacen(
        "<?xml version=\"1.0\"?>",
        "<?xml version=\"1.0\"?><!DOCTYPE x>",
        1,
    );
    f.refused("DTD on a valid Response", &with_dtd, 3, "DTDs")
        .await;
    // Not a SAML Response at all.
    f.refused("not a Response", "<x/>", 7, "not a SAML 2.0 Response")
        .await;
    // After all that the good Response still works.
    let (s, v) = f.exchange(json!({"samlResponse": good})).await;
    assert_eq!(s, 200, "{v}");
}

/// The exchange leaves control-plane audit events, allowed and denied, with the
/// federated principal and the minted key.
#[tokio::test]
async fn exchanges_are_audited() {
    let set = &sets()[0];
    let f = fixture(set).await;
    let (s, v) =
        f.ts.api(
            Method::PUT,
            "/v1/cwobject/organization/settings",
            Some(&f.ts.admin_token),
            Some(json!({"settings": {"controlPlaneAuditLoggingEnabled": true}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, ok) = f
        .exchange_xml(&set.xml("signxml-ec256-assertion-onelement"))
        .await;
    assert_eq!(s, 200, "{ok}");
    let (s, _) = f.exchange_xml(&set.xml("bad-xmlsec-rsa-sha1")).await;
    assert_eq!(s, 403);
    f.ts.flush_audit().await;

    let bucket = format!("cw-{}-audit-logs", f.ts.org_id);
    let list = f
        .admin_s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("control-plane/")
        .send()
        .await
        .unwrap();
    let mut events = Vec::new();
    for o in list.contents() {
        let gz = get(&f.admin_s3, &bucket, o.key().unwrap()).await;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        events.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    let saml: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "cwobject:CreateAccessKeySAML")
        .collect();
    assert_eq!(saml.len(), 2, "{events:#?}");
    assert_eq!(saml[0]["result"], json!("allowed"), "{:#?}", saml[0]);
    assert_eq!(
        saml[0]["principal"],
        json!("role/readers"),
        "{:#?}",
        saml[0]
    );
    assert_eq!(saml[0]["identifier"], ok["accessKeyId"], "{:#?}", saml[0]);
    assert_eq!(saml[1]["result"], json!("denied"), "{:#?}", saml[1]);
}
