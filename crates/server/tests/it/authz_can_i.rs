//! AuthCanI end to end: the answer comes from the same combined evaluator as S3 requests,
//! so `decidedBy` names the layer that decided — a bucket-policy statement (`bucket`,
//! bucket name, Sid), an org statement (`org`, policy, statement) or nothing
//! (`default`) — and the cross-org rules apply (a foreign principal needs the bucket
//! policy's grant). Each answer is checked against what the S3 gateway actually does.
//! A layer that belongs to another org than the caller's is named by `layer` alone.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use coffer_server::testing::s3_client_for;
use reqwest::Method;
use serde_json::{Value, json};

const OPERATOR: &str = "operator-token-for-the-can-i-tests";

/// AuthCanI with `token`; returns the whole response (asserts 200).
async fn can_i(ts: &TestServer, token: &str, actions: &[&str], resources: &[&str]) -> Value {
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/cwobject/auth/can-i",
            Some(token),
            Some(json!({"actions": actions, "resources": resources})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// The single decision of a one-pair AuthCanI call: (allowed, decidedBy).
async fn decide(ts: &TestServer, token: &str, action: &str, resource: &str) -> (bool, Value) {
    let v = can_i(ts, token, &[action], &[resource]).await;
    let d = &v["decisions"][0];
    assert_eq!(v["decisions"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(d["action"], action);
    assert_eq!(d["resource"], resource);
    assert_eq!(v["verdict"], d["allowed"], "{v}");
    (d["allowed"].as_bool().unwrap(), d["decidedBy"].clone())
}

/// Creates a user of `org` (`None`: the admin's org) and an API token with `creator`.
async fn user(ts: &TestServer, creator: &str, org: Option<&str>, name: &str) -> (String, String) {
    let mut body = json!({"name": name, "role": "member"});
    if let Some(o) = org {
        body["orgId"] = json!(o);
        body["role"] = json!("admin");
    }
    let (s, v) = ts
        .api(Method::POST, "/v1/iam/users", Some(creator), Some(body))
        .await;
    assert_eq!(s, 200, "{v}");
    let uid = v["user"]["uid"].as_str().unwrap().to_string();
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/tokens",
            Some(creator),
            Some(json!({"uid": uid, "durationSeconds": 0, "description": name})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    (uid, v["token"].as_str().unwrap().to_string())
}

async fn denied_get(c: &Client, bucket: &str, key: &str) {
    assert_s3_err(
        c.get_object().bucket(bucket).key(key).send().await,
        "AccessDenied",
        403,
    );
}

#[tokio::test]
async fn decisions_name_the_bucket_org_and_default_layers() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let admin_tok = ts.admin_token.clone();
    let me = format!("coreweave/{}", ts.admin_uid);

    // Org layer: the admin may do s3:* everywhere, except PutObject under locked/.
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "admin-s3",
        "statements": [{"name": "all-s3", "effect": "Allow", "actions": ["s3:*"],
                        "resources": ["*"], "principals": [me]}]
    }))
    .await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "guard",
        "statements": [{"name": "no-put-locked", "effect": "Deny", "actions": ["s3:PutObject"],
                        "resources": ["vault/locked/*"], "principals": ["coreweave/*"]}]
    }))
    .await;
    let key = ts.create_key(&admin_tok).await;
    let admin = ts.s3_client(&key);
    make_bucket(&admin, "vault").await;
    make_bucket(&admin, "plain").await;
    put(&admin, "vault", "doc", b"doc").await;
    put(&admin, "vault", "secret/x", b"x").await;

    // Bucket layer: reads allowed, secret/ denied to everyone (even the admin).
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenySecrets", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::vault/secret/*"},
        {"Sid": "OwnOrgAll", "Effect": "Allow", "Principal": {"CW": "coreweave/*"},
         "Action": "s3:*", "Resource": ["arn:aws:s3:::vault", "arn:aws:s3:::vault/*"]}]});
    admin
        .put_bucket_policy()
        .bucket("vault")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();

    // 1. A bucket-policy Deny: layer bucket, the bucket as policy, the Sid as statement.
    let (ok, by) = decide(&ts, &admin_tok, "s3:GetObject", "vault/secret/x").await;
    assert!(!ok);
    assert_eq!(
        by,
        json!({"layer": "bucket", "policy": "vault", "statement": "DenySecrets"})
    );
    denied_get(&admin, "vault", "secret/x").await;
    // … and the bucket-policy Allow that lets the org's allow through.
    let (ok, by) = decide(&ts, &admin_tok, "s3:GetObject", "vault/doc").await;
    assert!(ok);
    assert_eq!(
        by,
        json!({"layer": "bucket", "policy": "vault", "statement": "OwnOrgAll"})
    );
    assert_eq!(get(&admin, "vault", "doc").await, b"doc");

    // 2. An org Deny: layer org with policy and statement, before any bucket policy.
    let (ok, by) = decide(&ts, &admin_tok, "s3:PutObject", "vault/locked/f").await;
    assert!(!ok);
    assert_eq!(
        by,
        json!({"layer": "org", "policy": "guard", "statement": "no-put-locked"})
    );
    assert_s3_err(
        admin
            .put_object()
            .bucket("vault")
            .key("locked/f")
            .body(ByteStream::from_static(b"f"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // No bucket policy on `plain`: the org decision stands (layer org).
    let (ok, by) = decide(&ts, &admin_tok, "s3:GetObject", "plain/k").await;
    assert!(ok);
    assert_eq!(
        by,
        json!({"layer": "org", "policy": "admin-s3", "statement": "all-s3"})
    );
    // Bucket-policy management is judged by the org layer alone.
    let (ok, by) = decide(&ts, &admin_tok, "s3:DeleteBucketPolicy", "vault").await;
    assert!(ok);
    assert_eq!(by["layer"], "org");

    // 3. No policy grants the member anything: layer default, no policy or statement.
    let (_uid, member_tok) = user(&ts, &admin_tok, None, "member").await;
    let (ok, by) = decide(&ts, &member_tok, "s3:GetObject", "vault/doc").await;
    assert!(!ok);
    assert_eq!(by, json!({"layer": "default"}));
    let (ok, by) = decide(&ts, &member_tok, "cwobject:CreateAccessKey", "*").await;
    assert!(!ok);
    assert_eq!(by, json!({"layer": "default"}));

    // Several pairs: verdict true only if all are allowed; actions outer, resources inner.
    let v = can_i(
        &ts,
        &admin_tok,
        &["s3:GetObject", "s3:ListBucket"],
        &["vault/doc", "vault/secret/x"],
    )
    .await;
    assert_eq!(v["verdict"], false, "{v}");
    let got: Vec<(String, String, bool)> = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["action"].as_str().unwrap().to_string(),
                d["resource"].as_str().unwrap().to_string(),
                d["allowed"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = [
        ("s3:GetObject", "vault/doc", true),
        ("s3:GetObject", "vault/secret/x", false),
        ("s3:ListBucket", "vault/doc", true),
        ("s3:ListBucket", "vault/secret/x", true),
    ];
    assert_eq!(
        got,
        want.map(|(a, r, ok)| (a.to_string(), r.to_string(), ok))
    );
    let v = can_i(
        &ts,
        &admin_tok,
        &["s3:GetObject"],
        &["vault/doc", "plain/k"],
    )
    .await;
    assert_eq!(v["verdict"], true, "{v}");

    // 4. Cross-org: another org's principal with an allow-all of its own is refused by
    //    default and reaches `vault` only through a bucket-policy grant.
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/orgs",
            Some(OPERATOR),
            Some(json!({"name": "other"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let org_b = v["org"]["orgId"].as_str().unwrap().to_string();
    let (_bob, bob_tok) = user(&ts, OPERATOR, Some(&org_b), "bob").await;
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/cwobject/access-policy",
            Some(&bob_tok),
            Some(
                json!({"policy": {"version": "v1alpha1", "name": "b-all", "statements": [
                {"name": "everything", "effect": "Allow", "actions": ["*"], "resources": ["*"],
                 "principals": ["*"]}]}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let bob = s3_client_for(&ts.s3_endpoint, &ts.create_key(&bob_tok).await);
    // `plain` has no bucket policy: foreign principals are denied (layer default).
    let (ok, by) = decide(&ts, &bob_tok, "s3:GetObject", "plain/k").await;
    assert!(!ok);
    assert_eq!(by, json!({"layer": "default"}));
    // `vault`'s policy names only the owner's org: nothing matches (layer bucket; the
    // owner's bucket policy is not named to another org).
    let (ok, by) = decide(&ts, &bob_tok, "s3:GetObject", "vault/doc").await;
    assert!(!ok);
    assert_eq!(by, json!({"layer": "bucket"}));
    denied_get(&bob, "vault", "doc").await;
    // Grant org B reads of doc: now allowed by the bucket layer, exactly as S3 serves it.
    let mut granted = policy.clone();
    granted["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Sid": "OrgBRead", "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{org_b}:root")},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vault/doc"}));
    admin
        .put_bucket_policy()
        .bucket("vault")
        .policy(granted.to_string())
        .send()
        .await
        .unwrap();
    let (ok, by) = decide(&ts, &bob_tok, "s3:GetObject", "vault/doc").await;
    assert!(ok);
    assert_eq!(by, json!({"layer": "bucket"}));
    // The owner sees its own Sid.
    let (ok, by) = decide(&ts, &admin_tok, "s3:GetObject", "vault/doc").await;
    assert!(ok);
    assert_eq!(
        by,
        json!({"layer": "bucket", "policy": "vault", "statement": "OwnOrgAll"})
    );
    assert_eq!(get(&bob, "vault", "doc").await, b"doc");
    // Never the bucket's policy itself (org-only action, foreign caller).
    let (ok, by) = decide(&ts, &bob_tok, "s3:GetBucketPolicy", "vault").await;
    assert!(!ok);
    assert_eq!(by, json!({"layer": "default"}));

    // A missing bucket, a glob and the global resource: org layer only.
    let (ok, by) = decide(&ts, &admin_tok, "s3:GetObject", "nosuch/k").await;
    assert!(ok);
    assert_eq!(by["layer"], "org");
    let (ok, _) = decide(&ts, &admin_tok, "s3:GetObject", "vault*").await;
    assert!(ok);
    let (ok, by) = decide(&ts, &admin_tok, "s3:ListAllMyBuckets", "*").await;
    assert!(ok);
    assert_eq!(by["policy"], "admin-s3");
}

/// Foreign decisions name no foreign policy: a caller of org B asking about org A's
/// bucket learns which layer decided and the outcome, but never org A's policy names,
/// statement names or bucket-policy Sids; its own org's statements are still named, and
/// org A's admin still sees everything about its own bucket.
#[tokio::test]
async fn foreign_decisions_name_no_foreign_policy() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let admin_tok = ts.admin_token.clone();
    let me = format!("coreweave/{}", ts.admin_uid);
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "a-secret-policy",
        "statements": [
            {"name": "a-secret-allow", "effect": "Allow", "actions": ["s3:*"],
             "resources": ["*"], "principals": [me]},
            {"name": "a-secret-deny", "effect": "Deny", "actions": ["s3:GetObject"],
             "resources": ["vault/locked/*"], "principals": ["*"]}]
    }))
    .await;
    let admin = ts.s3_client(&ts.create_key(&admin_tok).await);
    make_bucket(&admin, "vault").await;
    put(&admin, "vault", "doc", b"doc").await;

    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/orgs",
            Some(OPERATOR),
            Some(json!({"name": "other"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let org_b = v["org"]["orgId"].as_str().unwrap().to_string();
    let (_bob, bob_tok) = user(&ts, OPERATOR, Some(&org_b), "bob").await;
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/cwobject/access-policy",
            Some(&bob_tok),
            Some(
                json!({"policy": {"version": "v1alpha1", "name": "b-own", "statements": [
                {"name": "b-all", "effect": "Allow", "actions": ["*"], "resources": ["*"],
                 "principals": ["*"]},
                {"name": "b-no-put", "effect": "Deny", "actions": ["s3:PutObject"],
                 "resources": ["*"], "principals": ["*"]}]}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "ASecretGrant", "Effect": "Allow",
         "Principal": {"AWS": format!("arn:aws:iam::{org_b}:root")},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vault/*"},
        {"Sid": "ASecretFence", "Effect": "Deny",
         "Principal": {"AWS": format!("arn:aws:iam::{org_b}:root")},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vault/private/*"}]});
    admin
        .put_bucket_policy()
        .bucket("vault")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();

    let resources = ["vault/doc", "vault/private/x", "vault/locked/x", "vault"];
    let asked = can_i(
        &ts,
        &bob_tok,
        &["s3:GetObject", "s3:ListBucket", "s3:PutObject"],
        &resources,
    )
    .await;
    let text = asked.to_string();
    for secret in ["a-secret", "ASecret", "\"policy\":\"vault\""] {
        assert!(
            !text.contains(secret),
            "{secret} disclosed to org B: {text}"
        );
    }
    let by = |action: &str, resource: &str| {
        asked["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["action"] == action && d["resource"] == resource)
            .map(|d| (d["allowed"].as_bool().unwrap(), d["decidedBy"].clone()))
            .unwrap()
    };
    // Org A's bucket policy: grant, Deny and no match, named by layer alone.
    assert_eq!(
        by("s3:GetObject", "vault/doc"),
        (true, json!({"layer": "bucket"}))
    );
    assert_eq!(
        by("s3:GetObject", "vault/private/x"),
        (false, json!({"layer": "bucket"}))
    );
    assert_eq!(
        by("s3:ListBucket", "vault"),
        (false, json!({"layer": "bucket"}))
    );
    // Org A's org-policy Deny, which binds foreign principals too.
    assert_eq!(
        by("s3:GetObject", "vault/locked/x"),
        (false, json!({"layer": "org"}))
    );
    // Org B's own Deny is named to org B.
    assert_eq!(
        by("s3:PutObject", "vault/doc"),
        (
            false,
            json!({"layer": "org", "policy": "b-own", "statement": "b-no-put"})
        )
    );
    // The answers are what S3 does.
    let bob = s3_client_for(&ts.s3_endpoint, &ts.create_key(&bob_tok).await);
    assert_eq!(get(&bob, "vault", "doc").await, b"doc");
    denied_get(&bob, "vault", "private/x").await;
    denied_get(&bob, "vault", "locked/x").await;

    // The owner's admin is told its own names.
    let (ok, by) = decide(&ts, &admin_tok, "s3:GetObject", "vault/locked/x").await;
    assert!(!ok);
    assert_eq!(
        by,
        json!({"layer": "org", "policy": "a-secret-policy", "statement": "a-secret-deny"})
    );
    let (ok, by) = decide(&ts, &admin_tok, "s3:GetObject", "vault/doc").await;
    assert!(!ok, "the bucket policy grants only org B");
    assert_eq!(by, json!({"layer": "bucket", "policy": "vault"}));
}
