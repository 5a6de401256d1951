//! OIDC workload identity federation end to end (SPEC §5): keys generated at test time
//! by the `openssl` CLI (RSA 2048, EC P-256, Ed25519), tokens signed with them (by
//! `jsonwebtoken`, and once by `openssl dgst` as an independent signer), exchanged at
//! `POST /v1/cwobject/temporary-credentials/oidc` and at the container-credentials
//! endpoint `GET …/oidc/{orgId}` (also through boto3), then used on S3.
//!
//! The attack corpus — `alg: none`, HS256 keyed with the public key, unknown `kid`, a
//! foreign key under a known `kid`, an embedded `jwk` header, a tampered payload, an
//! algorithm that does not fit the key, wrong `aud`/`iss`, expired, not yet valid,
//! inactive or other-org configs — must each be refused (16/401, or 7/403 when only the
//! policy is missing) with no key minted.

use crate::s3_common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use time::OffsetDateTime;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "coffer-test";
const EXCHANGE: &str = "/v1/cwobject/temporary-credentials/oidc";

/// A key pair made by `openssl genpkey`: private PEM path, public PEM, signing key, JWK.
struct TestKey2 {
    private_pem: PathBuf,
    public_pem: Vec<u8>,
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Jwk,
}

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Generates a key with `openssl genpkey` in `dir`.
fn keygen(dir: &Path, kid: &str, alg: Algorithm) -> TestKey2 {
    let path = dir.join(format!("{kid}.pem"));
    let p = path.to_str().unwrap();
    match alg {
        Algorithm::RS256 => openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            p,
        ]),
        Algorithm::ES256 => openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            p,
        ]),
        Algorithm::EdDSA => openssl(&["genpkey", "-algorithm", "ED25519", "-out", p]),
        other => panic!("no keygen for {other:?}"),
    };
    let pem = std::fs::read(&path).unwrap();
    let public_pem = openssl(&["pkey", "-in", p, "-pubout"]);
    let encoding = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    }
    .unwrap();
    let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    TestKey2 {
        private_pem: path,
        public_pem,
        alg,
        kid: kid.to_string(),
        encoding,
        jwk,
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(sub: &str) -> Value {
    let t = now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": t, "nbf": t, "exp": t + 3600})
}

fn sign(k: &TestKey2, claims: &Value) -> String {
    let mut h = Header::new(k.alg);
    h.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&h, claims, &k.encoding).unwrap()
}

fn b64json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// RS256 signed by `openssl dgst`, independently of the JWT library.
fn sign_with_openssl(k: &TestKey2, claims: &Value, dir: &Path) -> String {
    let input = format!(
        "{}.{}",
        b64json(&json!({"alg": "RS256", "typ": "JWT", "kid": k.kid})),
        b64json(claims)
    );
    let msg = dir.join("signing-input");
    std::fs::write(&msg, &input).unwrap();
    let sig = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        k.private_pem.to_str().unwrap(),
        msg.to_str().unwrap(),
    ]);
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Replaces the token's header (keeping payload and signature).
fn with_header(token: &str, header: &Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64json(header))
}

struct Fixture {
    ts: TestServer,
    rsa: TestKey2,
    ec: TestKey2,
    ed: TestKey2,
    dir: tempfile::TempDir,
    admin_s3: aws_sdk_s3::Client,
}

async fn api(ts: &TestServer, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    ts.api(m, path, Some(&ts.admin_token), body).await
}

/// A server with an OIDC config trusting the three keys, a bucket with one object, and
/// org policies: the admin may do anything; principals of the test issuer whose subject
/// starts with `repo:acme/` may mint keys and read S3.
async fn fixture() -> Option<Fixture> {
    fixture_on(TestServer::start).await
}

/// [`fixture`] on the server `start` starts.
async fn fixture_on<F: Future<Output = TestServer>>(start: impl FnOnce() -> F) -> Option<Fixture> {
    if !openssl_available() {
        eprintln!("SKIPPED: the openssl CLI is not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let rsa = keygen(dir.path(), "rsa-1", Algorithm::RS256);
    let ec = keygen(dir.path(), "ec-1", Algorithm::ES256);
    let ed = keygen(dir.path(), "ed-1", Algorithm::EdDSA);
    let ts = start().await;
    let jwks = JwkSet {
        keys: vec![rsa.jwk.clone(), ec.jwk.clone(), ed.jwk.clone()],
    };
    let (status, v) = api(
        &ts,
        Method::POST,
        "/v1/iam/federation/oidc-configs",
        Some(
            json!({"name": "ci", "issuerUrl": ISSUER, "audience": AUDIENCE,
                    "jwks": serde_json::to_value(&jwks).unwrap()}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    ts.ensure_policy(json!({
        "version": "v1alpha1",
        "name": "federation",
        "statements": [
            {"name": "admin", "effect": "Allow", "actions": ["*"], "resources": ["*"],
             "principals": [format!("coreweave/{}", ts.admin_uid)]},
            {"name": "ci", "effect": "Allow",
             "actions": ["cwobject:CreateAccessKeyOIDC", "s3:ListBucket", "s3:GetObject"],
             "resources": ["*"], "principals": [format!("role/{ISSUER}:repo:acme/*")]}
        ]
    }))
    .await;
    let key = ts.create_key(&ts.admin_token).await;
    let admin_s3 = ts.s3_client(&key);
    make_bucket(&admin_s3, "oidc-data").await;
    put(&admin_s3, "oidc-data", "model.bin", b"weights").await;
    Some(Fixture {
        ts,
        rsa,
        ec,
        ed,
        dir,
        admin_s3,
    })
}

impl Fixture {
    async fn exchange(&self, body: Value) -> (u16, Value) {
        let mut body = body;
        if body.get("orgId").is_none() {
            body["orgId"] = json!(self.ts.org_id);
        }
        // Anonymous: no Authorization header.
        self.ts.api(Method::POST, EXCHANGE, None, Some(body)).await
    }

    async fn key_count(&self) -> usize {
        let (_, v) = api(&self.ts, Method::GET, "/v1/cwobject/access-key", None).await;
        v["info"].as_array().unwrap().len()
    }

    /// The exchange refuses `token` with `code` and a message containing `why`, minting
    /// nothing.
    async fn refused(&self, what: &str, token: String, code: i64, why: &str) {
        let before = self.key_count().await;
        let (status, v) = self.exchange(json!({"oidcToken": token})).await;
        let want = if code == 16 { 401 } else { 403 };
        assert_eq!((status, &v["code"]), (want, &json!(code)), "{what}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(why), "{what}: {msg:?} should say {why:?}");
        assert_eq!(self.key_count().await, before, "{what}: a key was minted");
    }
}

fn s3_for(ts: &TestServer, id: &str, secret: &str) -> aws_sdk_s3::Client {
    ts.s3_client(&TestKey {
        access_key_id: id.into(),
        secret_key: secret.into(),
        principal: String::new(),
    })
}

#[tokio::test]
async fn rs256_es256_eddsa_tokens_mint_working_keys() {
    let Some(f) = fixture().await else { return };
    let sub = "repo:acme/app:ref:refs/heads/main";
    for k in [&f.rsa, &f.ec, &f.ed] {
        let before = OffsetDateTime::now_utc();
        let (status, v) = f
            .exchange(json!({"oidcToken": sign(k, &claims(sub))}))
            .await;
        assert_eq!(status, 200, "{:?}: {v}", k.alg);
        assert_eq!(v["principalName"], json!(format!("role/{ISSUER}:{sub}")));
        assert_eq!(v["accessKeyId"], v["accessKeyID"]);
        // durationSeconds absent = 900 s.
        let exp = coffer_core::clock::parse_rfc3339(v["expiry"].as_str().unwrap()).unwrap();
        let life = (exp - before).whole_seconds();
        assert!((895..=905).contains(&life), "{life}");
        let c = s3_for(
            &f.ts,
            v["accessKeyId"].as_str().unwrap(),
            v["secretKey"].as_str().unwrap(),
        );
        assert_eq!(get(&c, "oidc-data", "model.bin").await, b"weights");
        // The policy grants reads only.
        assert_s3_err(
            c.put_object()
                .bucket("oidc-data")
                .key("x")
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
                .send()
                .await,
            "AccessDenied",
            403,
        );
    }

    // An independent signer (openssl dgst) over the same key.
    let t = sign_with_openssl(&f.rsa, &claims(sub), f.dir.path());
    let (status, v) = f.exchange(json!({"oidcToken": t})).await;
    assert_eq!(status, 200, "{v}");

    // The key never outlives the token; attributes are kept.
    let mut short = claims(sub);
    short["exp"] = json!(now() + 120);
    let (status, v) = f
        .exchange(
            json!({"oidcToken": sign(&f.ec, &short), "durationSeconds": 3600,
                          "attributes": {"run": "42"}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let exp = coffer_core::clock::parse_rfc3339(v["expiry"].as_str().unwrap()).unwrap();
    assert!(
        exp.unix_timestamp() <= short["exp"].as_i64().unwrap(),
        "{v}"
    );
    assert_eq!(v["attributes"], json!({"run": "42"}));
    // An audience array containing ours is fine.
    let mut multi = claims(sub);
    multi["aud"] = json!(["other", AUDIENCE]);
    let (status, _) = f.exchange(json!({"oidcToken": sign(&f.ed, &multi)})).await;
    assert_eq!(status, 200);

    // Listed as the federated principal's keys.
    let (_, keys) = api(&f.ts, Method::GET, "/v1/cwobject/access-key", None).await;
    let federated = keys["info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["principalName"] == json!(format!("role/{ISSUER}:{sub}")))
        .count();
    assert_eq!(federated, 6);

    // Request validation.
    for (body, what) in [
        (
            json!({"oidcToken": sign(&f.rsa, &claims(sub)), "durationSeconds": 43201}),
            "duration",
        ),
        (
            json!({"oidcToken": sign(&f.rsa, &claims(sub)), "durationSeconds": -1}),
            "negative",
        ),
        (json!({"oidcToken": ""}), "no token"),
        (
            json!({"oidcToken": sign(&f.rsa, &claims(sub)), "orgId": ""}),
            "no org",
        ),
        (json!({"oidcToken": 7}), "wrong type"),
    ] {
        let (status, v) = f.exchange(body).await;
        assert_eq!((status, &v["code"]), (400, &json!(3)), "{what}: {v}");
    }
    let _ = &f.admin_s3;
}

#[tokio::test]
async fn forged_and_mismatched_tokens_are_refused() {
    let Some(f) = fixture().await else { return };
    let sub = "repo:acme/app:ref:refs/heads/main";
    let good = sign(&f.rsa, &claims(sub));

    // alg none, with and without a signature part.
    let none_header = json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"});
    let unsigned = format!("{}.{}.", b64json(&none_header), b64json(&claims(sub)));
    f.refused(
        "alg none (empty signature)",
        unsigned,
        16,
        "not a signed JWT",
    )
    .await;
    f.refused(
        "alg none",
        with_header(&good, &none_header),
        16,
        "algorithm",
    )
    .await;

    // HS256 keyed with the RSA public key (PEM and raw modulus): key confusion.
    for (what, secret) in [
        ("HS256 with the public PEM", f.rsa.public_pem.clone()),
        ("HS256 with the JWK n", {
            let jsonwebtoken::jwk::AlgorithmParameters::RSA(p) = &f.rsa.jwk.algorithm else {
                unreachable!()
            };
            p.n.as_bytes().to_vec()
        }),
    ] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("rsa-1".into());
        let t = jsonwebtoken::encode(&h, &claims(sub), &EncodingKey::from_secret(&secret)).unwrap();
        f.refused(what, t, 16, "algorithm \"HS256\" is not accepted")
            .await;
    }

    // Unknown kid; a foreign key under a known kid; an attacker key embedded as `jwk`.
    let dir = tempfile::tempdir().unwrap();
    let mut attacker = keygen(dir.path(), "attacker", Algorithm::RS256);
    f.refused(
        "unknown kid",
        sign(&attacker, &claims(sub)),
        16,
        "unknown signing key",
    )
    .await;
    attacker.kid = "rsa-1".into();
    f.refused(
        "foreign key, known kid",
        sign(&attacker, &claims(sub)),
        16,
        "signature",
    )
    .await;
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("attacker".into());
    let mut embedded = attacker.jwk.clone();
    embedded.common.key_id = Some("attacker".into());
    h.jwk = Some(embedded);
    let t = jsonwebtoken::encode(&h, &claims(sub), &attacker.encoding).unwrap();
    f.refused("embedded jwk header", t, 16, "unknown signing key")
        .await;
    // No kid at all.
    let t = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims(sub),
        &f.rsa.encoding,
    )
    .unwrap();
    f.refused("no kid", t, 16, "kid").await;

    // The algorithm must fit the key: ES256 header naming the RSA key's kid.
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("rsa-1".into());
    let t = jsonwebtoken::encode(&h, &claims(sub), &f.ec.encoding).unwrap();
    f.refused("alg/key mismatch", t, 16, "does not fit").await;

    // A payload changed after signing.
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut evil = claims(sub);
    evil["sub"] = json!("repo:acme/admin");
    f.refused(
        "tampered payload",
        format!("{head}.{}.{sig}", b64json(&evil)),
        16,
        "signature",
    )
    .await;
    f.refused(
        "truncated signature",
        good[..good.len() - 4].to_string(),
        16,
        "signature",
    )
    .await;
    f.refused("garbage", "not-a-jwt".into(), 16, "not a signed JWT")
        .await;

    // Claims.
    let claim = |k: &str, v: Value| {
        let mut c = claims(sub);
        c[k] = v;
        c
    };
    let t = now();
    for (what, c, why) in [
        ("wrong aud", claim("aud", json!("someone-else")), "aud"),
        (
            "aud list without ours",
            claim("aud", json!(["a", "b"])),
            "aud",
        ),
        (
            "wrong iss",
            claim("iss", json!("https://evil.test")),
            "issuer",
        ),
        (
            "iss with trailing slash",
            claim("iss", json!(format!("{ISSUER}/"))),
            "issuer",
        ),
        ("expired", claim("exp", json!(t - 1)), "expired"),
        ("expired long ago", claim("exp", json!(t - 3600)), "expired"),
        ("not yet valid", claim("nbf", json!(t + 300)), "nbf"),
        ("issued in the future", claim("iat", json!(t + 300)), "iat"),
        (
            "no sub",
            {
                let mut c = claims(sub);
                c.as_object_mut().unwrap().remove("sub");
                c
            },
            "sub",
        ),
        (
            "no exp",
            {
                let mut c = claims(sub);
                c.as_object_mut().unwrap().remove("exp");
                c
            },
            "exp",
        ),
    ] {
        f.refused(what, sign(&f.ec, &c), 16, why).await;
    }

    // Another org, a malformed org id: no config trusts the issuer there.
    let before = f.key_count().await;
    for org in ["zzzzzz", "NOT-AN-ORG"] {
        let (status, v) = f.exchange(json!({"oidcToken": good, "orgId": org})).await;
        assert_eq!((status, &v["code"]), (401, &json!(16)), "{org}: {v}");
    }
    assert_eq!(f.key_count().await, before);

    // An inactive config verifies nothing.
    let (_, list) = api(&f.ts, Method::GET, "/v1/iam/federation/oidc-configs", None).await;
    let id = list["configs"][0]["configId"].as_str().unwrap().to_string();
    let path = format!("/v1/iam/federation/oidc-configs/{id}");
    let (status, _) = api(&f.ts, Method::PUT, &path, Some(json!({"active": false}))).await;
    assert_eq!(status, 200);
    f.refused("inactive config", good.clone(), 16, "no active OIDC config")
        .await;
    let (status, _) = api(&f.ts, Method::PUT, &path, Some(json!({"active": true}))).await;
    assert_eq!(status, 200);
    let (status, v) = f.exchange(json!({"oidcToken": good})).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn the_org_policy_must_allow_the_federated_principal() {
    let Some(f) = fixture().await else { return };
    // The policy allows `repo:acme/*` only.
    f.refused(
        "subject outside the policy",
        sign(&f.rsa, &claims("repo:other/app:ref:refs/heads/main")),
        7,
        "no org access policy allows it",
    )
    .await;
    // An explicit Deny wins over the Allow.
    f.ts.ensure_policy(json!({
        "version": "v1alpha1",
        "name": "deny-forks",
        "statements": [{"name": "no-forks", "effect": "Deny",
            "actions": ["cwobject:CreateAccessKeyOIDC"], "resources": ["*"],
            "principals": [format!("role/{ISSUER}:repo:acme/fork*")]}]
    }))
    .await;
    f.refused(
        "explicitly denied",
        sign(&f.ec, &claims("repo:acme/fork:ref:refs/heads/main")),
        7,
        "denied by statement \"no-forks\" of policy \"deny-forks\"",
    )
    .await;
    let (status, v) = f
        .exchange(json!({"oidcToken": sign(&f.ec, &claims("repo:acme/app"))}))
        .await;
    assert_eq!(status, 200, "{v}");
    // Minting is judged as the federated principal, not as an admin: an org with no
    // statement for it refuses even though cwobject:* is free for admins.
    let (status, _) = api(
        &f.ts,
        Method::DELETE,
        "/v1/cwobject/access-policy/federation",
        None,
    )
    .await;
    assert_eq!(status, 200);
    f.refused(
        "no policy",
        sign(&f.ed, &claims("repo:acme/app:ref:refs/heads/main")),
        7,
        "no org access policy allows it",
    )
    .await;
}

#[tokio::test]
async fn container_credentials_endpoint_takes_the_raw_jwt() {
    let Some(f) = fixture().await else { return };
    let path = format!("{EXCHANGE}/{}", f.ts.org_id);
    let url = format!("{}{path}", f.ts.api_endpoint);
    let token = sign(&f.ed, &claims("repo:acme/app"));
    let get = |auth: Option<String>| {
        let mut r = f.ts.http.get(&url);
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, v) = get(Some(token.clone())).await;
    assert_eq!(status, 200, "{v}");
    let mut fields: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["AccessKeyId", "Expiration", "SecretAccessKey", "Token"]
    );
    let id = v["AccessKeyId"].as_str().unwrap();
    let (_, info) = api(
        &f.ts,
        Method::GET,
        &format!("/v1/cwobject/access-key/{id}"),
        None,
    )
    .await;
    assert_eq!(
        info["info"]["principalName"],
        json!(format!("role/{ISSUER}:repo:acme/app"))
    );
    // `Bearer <jwt>` is tolerated.
    assert_eq!(get(Some(format!("Bearer {token}"))).await.0, 200);

    let before = f.key_count().await;
    for (what, auth) in [
        ("no header", None),
        ("empty", Some(String::new())),
        ("API token", Some(format!("Bearer {}", f.ts.admin_token))),
        ("expired", {
            let mut c = claims("repo:acme/app");
            c["exp"] = json!(now() - 5);
            Some(sign(&f.rsa, &c))
        }),
    ] {
        let (status, v) = get(auth).await;
        assert_eq!((status, &v["code"]), (401, &json!(16)), "{what}: {v}");
    }
    let (status, v) = get(Some(sign(&f.rsa, &claims("repo:outsider/x")))).await;
    assert_eq!((status, &v["code"]), (403, &json!(7)), "{v}");
    // Another org's path: its configs do not trust the issuer.
    let r =
        f.ts.http
            .get(format!("{}{EXCHANGE}/zzzzzz", f.ts.api_endpoint))
            .header("Authorization", token.clone())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(f.key_count().await, before);

    // boto3's container provider, with the raw JWT as AWS_CONTAINER_AUTHORIZATION_TOKEN.
    if !coffer_server::testing::python_has("boto3") {
        eprintln!("SKIPPED boto3 part: python3 with boto3 is not installed");
        return;
    }
    let out = coffer_server::testing::run_python_script(
        "boto3-container-credentials.py",
        &[&f.ts.s3_endpoint, "oidc-data", "model.bin", "weights"],
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", &token),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "boto3: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const OPERATOR: &str = "operator-token-for-the-oidc-tests";

/// Creates an OIDC config of the fixture's org keyed by the server file `path`, as the
/// operator (org admins may not point at server files).
async fn file_config(f: &Fixture, issuer: &str, path: &Path) {
    let body = json!({"name": "file", "issuerUrl": issuer, "audience": AUDIENCE,
                      "jwksFile": path.to_str().unwrap()});
    let (status, v) = api(
        &f.ts,
        Method::POST,
        "/v1/iam/federation/oidc-configs",
        Some(body.clone()),
    )
    .await;
    assert_eq!((status, &v["code"]), (403, &json!(7)), "{v}");
    let mut body = body;
    body["orgId"] = json!(f.ts.org_id);
    let (status, v) =
        f.ts.api(
            Method::POST,
            "/v1/iam/federation/oidc-configs",
            Some(OPERATOR),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    f.ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "file-issuer",
        "statements": [{"name": "all", "effect": "Allow",
            "actions": ["cwobject:CreateAccessKeyOIDC"], "resources": ["*"],
            "principals": [format!("role/{issuer}:*")]}]
    }))
    .await;
}

#[tokio::test]
async fn jwks_file_is_read_at_verification_time() {
    let Some(f) = fixture_on(|| TestServer::start_with_operator(OPERATOR)).await else {
        return;
    };
    let file = f.dir.path().join("jwks.json");
    let write = |keys: Vec<Jwk>| {
        std::fs::write(&file, serde_json::to_vec(&JwkSet { keys }).unwrap()).unwrap();
    };
    write(vec![f.ec.jwk.clone()]);
    // A second config for another issuer, keyed by file.
    let issuer2 = "https://issuer2.test";
    file_config(&f, issuer2, &file).await;
    let mut c = claims("worker-1");
    c["iss"] = json!(issuer2);
    let (status, v) = f.exchange(json!({"oidcToken": sign(&f.ec, &c)})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["principalName"],
        json!(format!("role/{issuer2}:worker-1"))
    );
    // The RSA key is trusted for the first issuer only.
    f.refused(
        "key of another config",
        sign(&f.rsa, &c),
        16,
        "unknown signing key",
    )
    .await;

    // Rotation: the file now holds the RSA key only.
    write(vec![f.rsa.jwk.clone()]);
    f.refused(
        "rotated-out key",
        sign(&f.ec, &c),
        16,
        "unknown signing key",
    )
    .await;
    let (status, _) = f.exchange(json!({"oidcToken": sign(&f.rsa, &c)})).await;
    assert_eq!(status, 200);
    // An unreadable file is the server's problem (500), not a token verdict.
    std::fs::remove_file(&file).unwrap();
    let (status, v) = f.exchange(json!({"oidcToken": sign(&f.rsa, &c)})).await;
    assert_eq!((status, &v["code"]), (500, &json!(13)), "{v}");
    assert!(!v["message"].as_str().unwrap().contains("jwks.json"), "{v}");
}

/// A JWKS file path that is a FIFO (no writer) is refused at once as the server's
/// problem (500), without parking a runtime thread in `open`: other requests, and the
/// same exchange against an inline config, keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_file_fifo_is_refused_without_hanging() {
    let Some(f) = fixture_on(|| TestServer::start_with_operator(OPERATOR)).await else {
        return;
    };
    let fifo = f.dir.path().join("jwks.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let issuer = "https://fifo-issuer.test";
    file_config(&f, issuer, &fifo).await;
    let mut c = claims("worker-1");
    c["iss"] = json!(issuer);
    let token = sign(&f.ec, &c);
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        f.exchange(json!({"oidcToken": token})),
    )
    .await;
    // A reader blocked in open(2) (the old behaviour) is released by a writer, so a
    // failure here ends the test instead of hanging it.
    let release = fifo.clone();
    std::thread::spawn(move || {
        let _ = std::fs::OpenOptions::new().write(true).open(release);
    });
    let (status, v) = answered.expect("the exchange answered within 10 s");
    assert_eq!((status, &v["code"]), (500, &json!(13)), "{v}");
    assert!(!v["message"].as_str().unwrap().contains("fifo"), "{v}");
    let (status, v) = f
        .exchange(json!({"oidcToken": sign(&f.ec, &claims("repo:acme/app"))}))
        .await;
    assert_eq!(status, 200, "{v}");
}
