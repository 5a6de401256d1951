//! Authorization end to end with real clients (aws-sdk-s3 signed, reqwest unsigned):
//! per-prefix org grants and an explicit org deny for a second user, a public-read
//! bucket read anonymously, bucket-policy conditions (s3:prefix, aws:SourceIp,
//! aws:SecureTransport), per-key DeleteObjects under a bucket policy, a bucket policy
//! that denies the admin but cannot stop the admin from deleting it, cross-org grants,
//! and `MalformedPolicy` leaving nothing stored.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use coffer_server::testing::s3_client_for;
use reqwest::Method;
use serde_json::{Value, json};

const OPERATOR: &str = "operator-token-for-the-authz-tests";

/// Creates a user of the admin's org with `role` and an API token; returns (uid, token).
async fn user(ts: &TestServer, name: &str, role: &str) -> (String, String) {
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/users",
            Some(&ts.admin_token),
            Some(json!({"name": name, "role": role})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let uid = v["user"]["uid"].as_str().unwrap().to_string();
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/tokens",
            Some(&ts.admin_token),
            Some(json!({"uid": uid, "durationSeconds": 0, "description": name})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    (uid, v["token"].as_str().unwrap().to_string())
}

/// Org policy: the bootstrap admin may do every `s3:` action (admins get no S3
/// permission from their role).
async fn admin_policy(ts: &TestServer) -> (Client, TestKey) {
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "admin-s3",
        "statements": [{"name": "all", "effect": "Allow", "actions": ["s3:*"],
                        "resources": ["*"], "principals": [format!("coreweave/{}", ts.admin_uid)]}]
    }))
    .await;
    let key = ts.create_key(&ts.admin_token).await;
    (ts.s3_client(&key), key)
}

async fn put_policy(c: &Client, bucket: &str, policy: &Value) {
    c.put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put bucket policy: {}", dbg_err(&e)));
}

#[tokio::test]
async fn per_prefix_org_grants_and_explicit_deny() {
    let ts = TestServer::start().await;
    let (admin, _) = admin_policy(&ts).await;
    let (uid, token) = user(&ts, "member", "member").await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "team-a",
        "statements": [
            {"name": "keys", "effect": "Allow", "actions": ["cwobject:CreateAccessKey"],
             "resources": ["*"], "principals": [format!("coreweave/{uid}")]},
            {"name": "rw-team-a", "effect": "Allow", "actions": ["s3:GetObject", "s3:PutObject"],
             "resources": ["data/team-a/*"], "principals": [format!("coreweave/{uid}")]},
            {"name": "list", "effect": "Allow", "actions": ["s3:ListBucket"],
             "resources": ["data"], "principals": [format!("coreweave/{uid}")]},
            {"name": "readonly", "effect": "Deny", "actions": ["s3:PutObject", "s3:DeleteObject"],
             "resources": ["data/team-a/readonly/*"], "principals": ["coreweave/*"]}
        ]
    }))
    .await;
    let key = ts.create_key(&token).await;
    assert_eq!(key.principal, format!("coreweave/{uid}"));
    let member = ts.s3_client(&key);
    make_bucket(&admin, "data").await;
    put(&admin, "data", "team-b/secret", b"b").await;

    // Allowed prefix.
    put(&member, "data", "team-a/x", b"a").await;
    assert_eq!(get(&member, "data", "team-a/x").await, b"a");
    member
        .list_objects_v2()
        .bucket("data")
        .send()
        .await
        .unwrap();
    // Other prefix, other actions, bucket-level actions: denied.
    assert_s3_err(
        member
            .get_object()
            .bucket("data")
            .key("team-b/secret")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        member
            .put_object()
            .bucket("data")
            .key("team-b/y")
            .body(ByteStream::from_static(b"y"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        member
            .delete_object()
            .bucket("data")
            .key("team-a/x")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        member.create_bucket().bucket("member-bucket").send().await,
        "AccessDenied",
        403,
    );
    // The explicit deny beats the prefix grant, and also binds the admin.
    assert_s3_err(
        member
            .put_object()
            .bucket("data")
            .key("team-a/readonly/z")
            .body(ByteStream::from_static(b"z"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        admin
            .put_object()
            .bucket("data")
            .key("team-a/readonly/z")
            .body(ByteStream::from_static(b"z"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    put(&admin, "data", "team-a/ok-for-admin", b"ok").await;
    // The member may not touch bucket policies.
    assert_s3_err(
        member
            .put_bucket_policy()
            .bucket("data")
            .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}]}"#)
            .send()
            .await,
        "AccessDenied",
        403,
    );
}

#[tokio::test]
async fn public_read_bucket_via_bucket_policy() {
    let (ts, admin, _) = setup().await;
    make_bucket(&admin, "site").await;
    put(&admin, "site", "index.html", b"<h1>hi</h1>").await;
    put(&admin, "site", "private/notes", b"n").await;
    let http = reqwest::Client::new();
    let ep = ts.s3_endpoint.clone();

    // No bucket policy: anonymous is denied.
    send(http.get(format!("{ep}/site/index.html")))
        .await
        .assert_err("AccessDenied", 403);
    assert_s3_err(
        admin.get_bucket_policy().bucket("site").send().await,
        "NoSuchBucketPolicy",
        404,
    );
    assert_s3_err(
        admin.get_bucket_policy_status().bucket("site").send().await,
        "NoSuchBucketPolicy",
        404,
    );

    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"},
            {"Sid": "NotPrivate", "Effect": "Deny", "Principal": "*",
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/private/*",
             "Condition": {"Null": {"aws:username": "true"}}},
            {"Sid": "OrgMembers", "Effect": "Allow", "Principal": {"CW": "coreweave/*"},
             "Action": "s3:*", "Resource": ["arn:aws:s3:::site", "arn:aws:s3:::site/*"]}
        ]
    });
    put_policy(&admin, "site", &policy).await;
    let stored = admin
        .get_bucket_policy()
        .bucket("site")
        .send()
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(stored.policy().unwrap()).unwrap(),
        policy
    );
    assert_eq!(policy_is_public(&admin, "site").await, Some(true));

    // Plain curl-style requests, no signature.
    let r = send(http.get(format!("{ep}/site/index.html"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "<h1>hi</h1>");
    assert!(r.request_id().is_some());
    let r = send(http.head(format!("{ep}/site/index.html"))).await;
    assert_eq!(r.status, 200);
    send(http.get(format!("{ep}/site/private/notes")))
        .await
        .assert_err("AccessDenied", 403);
    send(http.get(format!("{ep}/site?list-type=2")))
        .await
        .assert_err("AccessDenied", 403);
    send(http.put(format!("{ep}/site/defaced.html")).body("x"))
        .await
        .assert_err("AccessDenied", 403);
    send(http.delete(format!("{ep}/site/index.html")))
        .await
        .assert_err("AccessDenied", 403);
    send(http.get(format!("{ep}/site?policy")))
        .await
        .assert_err("AccessDenied", 403);
    send(http.delete(format!("{ep}/site?policy")))
        .await
        .assert_err("AccessDenied", 403);
    send(http.get(format!("{ep}/")))
        .await
        .assert_err("AccessDenied", 403);
    // A missing object in a public bucket is NoSuchKey, as on S3.
    send(http.get(format!("{ep}/site/missing.html")))
        .await
        .assert_err("NoSuchKey", 404);
    // The org's own users still work through the OrgMembers statement.
    assert_eq!(get(&admin, "site", "private/notes").await, b"n");
    put(&admin, "site", "new.html", b"new").await;
    assert!(!exists(&admin, "site", "defaced.html").await);

    // Removing the policy makes the bucket private again.
    admin
        .delete_bucket_policy()
        .bucket("site")
        .send()
        .await
        .unwrap();
    send(http.get(format!("{ep}/site/index.html")))
        .await
        .assert_err("AccessDenied", 403);
    assert_s3_err(
        admin.get_bucket_policy().bucket("site").send().await,
        "NoSuchBucketPolicy",
        404,
    );
    // Deleting an absent policy succeeds, like S3.
    admin
        .delete_bucket_policy()
        .bucket("site")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn bucket_policy_conditions_and_per_key_deletes() {
    let (ts, admin, _) = setup().await;
    make_bucket(&admin, "cond").await;
    for k in ["public/a", "public/b", "tmp/1", "keep/1"] {
        put(&admin, "cond", k, b"x").await;
    }
    put_policy(
        &admin,
        "cond",
        &json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Org", "Effect": "Allow", "Principal": {"CW": "coreweave/*"},
                 "Action": "s3:*", "Resource": ["arn:aws:s3:::cond", "arn:aws:s3:::cond/*"]},
                {"Sid": "ListPublic", "Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                 "Resource": "arn:aws:s3:::cond",
                 "Condition": {"StringLike": {"s3:prefix": "public/*"}}},
                {"Sid": "LocalRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::cond/*",
                 "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}},
                {"Sid": "RemoteNoRead", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::cond/keep/*",
                 "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
                {"Sid": "TmpDeletes", "Effect": "Allow", "Principal": "*", "Action": "s3:DeleteObject",
                 "Resource": "arn:aws:s3:::cond/tmp/*"}
            ]
        }),
    )
    .await;
    let http = reqwest::Client::new();
    let ep = ts.s3_endpoint.clone();

    // s3:prefix from the list query.
    let r = send(http.get(format!("{ep}/cond?list-type=2&prefix=public/"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<Key>public/a</Key>"), "{}", r.body);
    send(http.get(format!("{ep}/cond?list-type=2")))
        .await
        .assert_err("AccessDenied", 403);
    send(http.get(format!("{ep}/cond?list-type=2&prefix=keep/")))
        .await
        .assert_err("AccessDenied", 403);
    // aws:SourceIp is the TCP peer (127.0.0.1 here); the 10/8 deny does not apply.
    let r = send(http.get(format!("{ep}/cond/keep/1"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Forwarded-for headers are not trusted.
    let r = send(
        http.get(format!("{ep}/cond/keep/1"))
            .header("x-forwarded-for", "10.1.1.1"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Anonymous DeleteObjects: judged per key by the bucket policy.
    let body =
        "<Delete><Object><Key>tmp/1</Key></Object><Object><Key>keep/1</Key></Object></Delete>";
    let r = send(
        http.post(format!("{ep}/cond?delete"))
            .header("content-md5", md5_b64(body.as_bytes()))
            .header("content-type", "application/xml")
            .body(body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<Deleted><Key>tmp/1</Key>"), "{}", r.body);
    assert!(
        r.body
            .contains("<Key>keep/1</Key><Code>AccessDenied</Code>")
            || (r.body.contains("<Code>AccessDenied</Code>") && r.body.contains("keep/1")),
        "{}",
        r.body
    );
    assert!(!exists(&admin, "cond", "tmp/1").await);
    assert!(exists(&admin, "cond", "keep/1").await);

    // aws:SecureTransport: the listener here is plain HTTP.
    put_policy(
        &admin,
        "cond",
        &json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Org", "Effect": "Allow", "Principal": {"CW": "coreweave/*"},
                 "Action": "s3:*", "Resource": ["arn:aws:s3:::cond", "arn:aws:s3:::cond/*"]},
                {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": ["arn:aws:s3:::cond", "arn:aws:s3:::cond/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
            ]
        }),
    )
    .await;
    assert_s3_err(
        admin.get_object().bucket("cond").key("keep/1").send().await,
        "AccessDenied",
        403,
    );
    // Policy management is judged by org policies only, so the admin can undo it.
    admin
        .delete_bucket_policy()
        .bucket("cond")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&admin, "cond", "keep/1").await, b"x");
}

#[tokio::test]
async fn a_bucket_policy_cannot_lock_the_admin_out_of_it() {
    let ts = TestServer::start().await;
    let (admin, key) = admin_policy(&ts).await;
    make_bucket(&admin, "locked").await;
    put(&admin, "locked", "k", b"v").await;
    put_policy(
        &admin,
        "locked",
        &json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "DenyAdmin", "Effect": "Deny",
                "Principal": {"AWS": [format!("arn:aws:iam::{}:{}", ts.org_id, key.principal)]},
                "Action": "s3:*", "Resource": ["arn:aws:s3:::locked", "arn:aws:s3:::locked/*"]}]
        }),
    )
    .await;
    assert_s3_err(
        admin.get_object().bucket("locked").key("k").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        admin.list_objects_v2().bucket("locked").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        admin.delete_bucket().bucket("locked").send().await,
        "AccessDenied",
        403,
    );
    // Replacing, reading and deleting the policy are org-policy decisions.
    let got = admin
        .get_bucket_policy()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    assert!(got.policy().unwrap().contains("DenyAdmin"));
    admin
        .get_bucket_policy_status()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    admin
        .delete_bucket_policy()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&admin, "locked", "k").await, b"v");
    // Deleting the bucket forgets its policy; a re-created bucket starts without one.
    put_policy(
        &admin,
        "locked",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:*", "Resource": ["arn:aws:s3:::locked", "arn:aws:s3:::locked/*"]}]}),
    )
    .await;
    admin
        .delete_object()
        .bucket("locked")
        .key("k")
        .send()
        .await
        .unwrap();
    admin.delete_bucket().bucket("locked").send().await.unwrap();
    make_bucket(&admin, "locked").await;
    assert_s3_err(
        admin.get_bucket_policy().bucket("locked").send().await,
        "NoSuchBucketPolicy",
        404,
    );
    send(reqwest::Client::new().get(format!("{}/locked?list-type=2", ts.s3_endpoint)))
        .await
        .assert_err("AccessDenied", 403);
}

#[tokio::test]
async fn malformed_policies_store_nothing() {
    let (_ts, admin, _) = setup().await;
    make_bucket(&admin, "strict").await;
    let bad: Vec<(&str, String)> = vec![
        ("invalid json", "{\"Version\":".into()),
        ("empty", String::new()),
        (
            "unknown operator",
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::strict/*",
                "Condition": {"StringEqualz": {"aws:username": "a"}}}]})
            .to_string(),
        ),
        (
            "unknown condition key",
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::strict/*",
                "Condition": {"StringEquals": {"aws:Whatever": "a"}}}]})
            .to_string(),
        ),
        (
            "bad version",
            json!({"Version": "2024-01-01", "Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::strict/*"}]})
            .to_string(),
        ),
        (
            "empty statement",
            json!({"Version": "2012-10-17", "Statement": []}).to_string(),
        ),
        (
            "another bucket",
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-else/*"}]})
            .to_string(),
        ),
        (
            "too large",
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "x".repeat(21 * 1024),
                "Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::strict/*"}]})
            .to_string(),
        ),
    ];
    for (name, doc) in &bad {
        let r = admin
            .put_bucket_policy()
            .bucket("strict")
            .policy(doc.clone())
            .send()
            .await;
        let e = r.expect_err(name);
        assert_eq!(status_of(&e), Some(400), "{name}: {e:?}");
        let meta = e.as_service_error().map(|s| {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            (
                s.code().unwrap_or_default().to_string(),
                s.message().unwrap_or_default().to_string(),
            )
        });
        let (code, message) = meta.unwrap_or_default();
        assert_eq!(code, "MalformedPolicy", "{name}: {e:?}");
        assert!(!message.is_empty(), "{name}");
        assert_s3_err(
            admin.get_bucket_policy().bucket("strict").send().await,
            "NoSuchBucketPolicy",
            404,
        );
    }
    // The error message is precise.
    let e = admin
        .put_bucket_policy()
        .bucket("strict")
        .policy(&bad[2].1)
        .send()
        .await
        .unwrap_err();
    let msg = {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        e.as_service_error()
            .and_then(|s| s.message())
            .unwrap_or_default()
            .to_string()
    };
    assert!(msg.contains("StringEqualz"), "{msg}");

    // A good policy stays in place when a bad one is sent afterwards.
    let good = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Good", "Effect": "Allow",
        "Principal": {"CW": "coreweave/*"}, "Action": "s3:*",
        "Resource": ["arn:aws:s3:::strict", "arn:aws:s3:::strict/*"]}]});
    put_policy(&admin, "strict", &good).await;
    let e = admin
        .put_bucket_policy()
        .bucket("strict")
        .policy(&bad[0].1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(400));
    let got = admin
        .get_bucket_policy()
        .bucket("strict")
        .send()
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(got.policy().unwrap()).unwrap(),
        good
    );
    // Policies on missing buckets: NoSuchBucket.
    let elsewhere = good.to_string().replace("strict", "no-such-bucket");
    assert_s3_err(
        admin
            .put_bucket_policy()
            .bucket("no-such-bucket")
            .policy(elsewhere)
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
}

#[tokio::test]
async fn cross_org_access_needs_a_bucket_policy_grant() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (a, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&a, "shared").await;
    put(&a, "shared", "doc", b"shared doc").await;

    let (org_b, _, bob_token) = ts.org_with_allow_all_admin(OPERATOR, "b").await;
    let b = s3_client_for(&ts.s3_endpoint, &ts.create_key(&bob_token).await);

    // No bucket policy: B's own allow-all is not enough.
    assert_s3_err(
        b.get_object().bucket("shared").key("doc").send().await,
        "AccessDenied",
        403,
    );
    put_policy(
        &a,
        "shared",
        &json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Org", "Effect": "Allow", "Principal": {"CW": "coreweave/*"}, "Action": "s3:*",
             "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"]},
            {"Sid": "OrgBRead", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{org_b}:root")},
             "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"]}]}),
    )
    .await;
    assert_eq!(get(&b, "shared", "doc").await, b"shared doc");
    let listed = b.list_objects_v2().bucket("shared").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));
    // Listings name the bucket owner, not the caller's org.
    let v1 = b.list_objects().bucket("shared").send().await.unwrap();
    assert_eq!(
        v1.contents()[0].owner().and_then(|o| o.id()),
        Some(ts.org_id.as_str())
    );
    // Only what the bucket policy grants; never the policy itself.
    assert_s3_err(
        b.put_object()
            .bucket("shared")
            .key("from-b")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        b.get_bucket_policy().bucket("shared").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        b.delete_bucket_policy().bucket("shared").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        b.delete_bucket().bucket("shared").send().await,
        "AccessDenied",
        403,
    );
    // x-amz-expected-bucket-owner is checked against the bucket's org.
    assert_s3_err(
        b.get_object()
            .bucket("shared")
            .key("doc")
            .expected_bucket_owner(org_b.clone())
            .send()
            .await,
        "AccessDenied",
        403,
    );
    b.get_object()
        .bucket("shared")
        .key("doc")
        .expected_bucket_owner(ts.org_id.clone())
        .send()
        .await
        .unwrap();
}
