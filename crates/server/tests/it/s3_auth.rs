//! S3 authentication and authorization end to end: SigV4 failures, presigned URLs
//! (tampered, expired, > 7 days), SigV2 rejection, anonymous requests, aws-chunked
//! signatures, session tokens, org policies (none, Deny beats Allow, per-key
//! DeleteObjects), cross-org buckets, request ids and error bodies.

use crate::s3_common::*;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use coffer_server::testing::s3_client_for;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;

#[tokio::test]
async fn wrong_secret_unknown_and_revoked_keys() {
    let (ts, client, key) = setup().await;
    make_bucket(&client, "auth-keys").await;

    let wrong = TestKey {
        secret_key: format!("{}x", key.secret_key),
        ..key.clone()
    };
    assert_s3_err(
        ts.s3_client(&wrong).list_buckets().send().await,
        "SignatureDoesNotMatch",
        403,
    );
    let unknown = TestKey {
        access_key_id: "CWZZZZZZZZZZZZZZ".into(),
        ..key.clone()
    };
    assert_s3_err(
        ts.s3_client(&unknown).list_buckets().send().await,
        "InvalidAccessKeyId",
        403,
    );

    // Revocation is immediate on this node.
    let other = ts.create_key(&ts.admin_token).await;
    let oc = ts.s3_client(&other);
    oc.list_buckets().send().await.unwrap();
    let (status, body) = ts
        .api(
            Method::POST,
            "/v1/cwobject/revoke-access-key/access-key",
            Some(&ts.admin_token),
            Some(json!({"accessKey": other.access_key_id})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_s3_err(oc.list_buckets().send().await, "InvalidAccessKeyId", 403);
    // The first key is unaffected.
    client.list_buckets().send().await.unwrap();
}

#[tokio::test]
async fn presigned_urls() {
    let (ts, client, key) = setup().await;
    make_bucket(&client, "presign").await;
    put(&client, "presign", "doc.txt", b"presigned body").await;
    let http = reqwest::Client::new();

    // A URL made by the SDK works without any other credentials.
    let url = client
        .get_object()
        .bucket("presign")
        .key("doc.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap()
        .uri()
        .to_string();
    let r = send(http.get(&url)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "presigned body");
    assert!(r.request_id().is_some());

    // Tampered: another key, same signature.
    let r = send(http.get(url.replace("/doc.txt", "/other.txt"))).await;
    r.assert_err("SignatureDoesNotMatch", 403);
    // Tampered: a longer lifetime than signed.
    let r = send(http.get(url.replace("X-Amz-Expires=300", "X-Amz-Expires=301"))).await;
    r.assert_err("SignatureDoesNotMatch", 403);

    let signer = Signer::new(&ts, &key);
    let now = OffsetDateTime::now_utc();
    // Expired: signed two hours ago for one minute.
    let old = signer.presign(
        "GET",
        "/presign/doc.txt",
        60,
        now - time::Duration::hours(2),
        &[],
    );
    let r = send(http.get(&old)).await;
    r.assert_err("AccessDenied", 403);

    // Exactly seven days is accepted; one second more is refused even though the
    // signature is valid.
    let week = signer.presign("GET", "/presign/doc.txt", 604_800, now, &[]);
    let r = send(http.get(&week)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let too_long = signer.presign("GET", "/presign/doc.txt", 604_801, now, &[]);
    let r = send(http.get(&too_long)).await;
    r.assert_err("AuthorizationQueryParametersError", 400);
    let garbage = signer
        .presign("GET", "/presign/doc.txt", 60, now, &[])
        .replace("X-Amz-Expires=60", "X-Amz-Expires=soon");
    let r = send(http.get(&garbage)).await;
    r.assert_err("AuthorizationQueryParametersError", 400);

    // A presigned PUT stores exactly what was sent.
    let put_url = client
        .put_object()
        .bucket("presign")
        .key("up.bin")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap()
        .uri()
        .to_string();
    let r = send(http.put(&put_url).body(b"via presigned put".to_vec())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get(&client, "presign", "up.bin").await,
        b"via presigned put"
    );
}

#[tokio::test]
async fn sigv2_is_rejected() {
    let (ts, client, key) = setup().await;
    make_bucket(&client, "sigv2").await;
    put(&client, "sigv2", "k", b"v").await;
    let http = reqwest::Client::new();
    let url = format!("{}/sigv2/k", ts.s3_endpoint);

    let r = send(
        http.get(&url)
            .header("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
            .header(
                "Authorization",
                format!("AWS {}:frJIUN8DYpKDtOLCwo//yllqDzg=", key.access_key_id),
            ),
    )
    .await;
    r.assert_err("InvalidRequest", 400);
    assert!(r.body.contains("AWS4-HMAC-SHA256"), "{}", r.body);

    let r = send(http.get(format!(
        "{url}?AWSAccessKeyId={}&Expires=4102444800&Signature=abc%3D",
        key.access_key_id
    )))
    .await;
    r.assert_err("InvalidRequest", 400);

    // Nothing changed: a SigV2 PUT does not store.
    let r = send(
        http.put(format!("{}/sigv2/v2put", ts.s3_endpoint))
            .header("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
            .header("Authorization", format!("AWS {}:x", key.access_key_id))
            .body("data"),
    )
    .await;
    r.assert_err("InvalidRequest", 400);
    assert!(!exists(&client, "sigv2", "v2put").await);
}

#[tokio::test]
async fn anonymous_requests_are_denied() {
    let (ts, client, _) = setup().await;
    make_bucket(&client, "anon").await;
    put(&client, "anon", "public.txt", b"x").await;
    let http = reqwest::Client::new();
    let ep = &ts.s3_endpoint;
    for r in [
        send(http.get(format!("{ep}/anon/public.txt"))).await,
        send(http.head(format!("{ep}/anon/public.txt"))).await,
        send(http.get(format!("{ep}/anon?list-type=2"))).await,
        send(http.get(format!("{ep}/"))).await,
        send(http.put(format!("{ep}/anon/new.txt")).body("data")).await,
        send(http.delete(format!("{ep}/anon/public.txt"))).await,
        send(http.put(format!("{ep}/anon-new-bucket"))).await,
    ] {
        assert_eq!(r.status, 403, "{}", r.body);
        if !r.body.is_empty() {
            assert_eq!(r.code(), "AccessDenied", "{}", r.body);
        }
    }
    assert!(!exists(&client, "anon", "new.txt").await);
    assert!(exists(&client, "anon", "public.txt").await);
    assert_s3_err(
        client.head_bucket().bucket("anon-new-bucket").send().await,
        "NotFound",
        404,
    );
}

#[tokio::test]
async fn aws_chunked_signatures() {
    let (ts, client, key) = setup().await;
    make_bucket(&client, "chunked").await;
    let http = reqwest::Client::new();
    let chunks = vec![
        bytes_of(64 * 1024, 1),
        bytes_of(64 * 1024, 2),
        bytes_of(1000, 3),
    ];
    let all: Vec<u8> = chunks.concat();
    let sha = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&all))
    };

    // s3s verifies chunk signatures itself for regions it accepts; for zone-style
    // regions the gateway verifies and re-signs them first. Both must behave the same.
    for region in ["us-east-1", "US-EAST-04A"] {
        let signer = Signer {
            region: region.into(),
            ..Signer::new(&ts, &key)
        };
        // Correctly signed: stored.
        let good = format!("good-{region}");
        let r = send(signer.chunked_put(&http, &format!("/chunked/{good}"), &chunks, None)).await;
        assert_eq!(r.status, 200, "{region}: {}", r.body);
        assert_eq!(get(&client, "chunked", &good).await, all);

        // A wrong signature on the first, a middle and the final (empty) chunk.
        for (name, bad) in [
            ("bad-middle", 1),
            ("bad-first", 0),
            ("bad-final", chunks.len()),
        ] {
            let name = format!("{name}-{region}");
            let r =
                send(signer.chunked_put(&http, &format!("/chunked/{name}"), &chunks, Some(bad)))
                    .await;
            r.assert_err("SignatureDoesNotMatch", 403);
            assert!(r.request_id().is_some());
            assert!(
                !exists(&client, "chunked", &name).await,
                "{name} was stored"
            );
        }

        // Signed trailer with the checksum: verified before the object is visible.
        let t = format!("trailer-{region}");
        let r = send(signer.chunked_put_with_trailer(
            &http,
            &format!("/chunked/{t}"),
            &chunks,
            None,
            Some(("x-amz-checksum-sha256", &sha)),
        ))
        .await;
        assert_eq!(r.status, 200, "{region}: {}", r.body);
        let h = client
            .head_object()
            .bucket("chunked")
            .key(&t)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(h.checksum_sha256(), Some(sha.as_str()));
        let wrong = format!("wrong-trailer-{region}");
        let r = send(signer.chunked_put_with_trailer(
            &http,
            &format!("/chunked/{wrong}"),
            &chunks,
            None,
            Some((
                "x-amz-checksum-sha256",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            )),
        ))
        .await;
        r.assert_err("BadDigest", 400);
        assert!(!exists(&client, "chunked", &wrong).await);
    }
}

#[tokio::test]
async fn session_tokens() {
    let (ts, client, key) = setup().await;
    make_bucket(&client, "tokens").await;
    let r = ts
        .http
        .get(format!(
            "{}/v1/cwobject/temporary-credentials/api-token",
            ts.api_endpoint
        ))
        .bearer_auth(&ts.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let temp = TestKey {
        access_key_id: v["AccessKeyId"].as_str().unwrap().into(),
        secret_key: v["SecretAccessKey"].as_str().unwrap().into(),
        principal: String::new(),
    };
    let token = v["Token"].as_str().unwrap().to_string();

    let with_token = |tok: Option<String>, k: &TestKey| {
        let creds = aws_credential_types::Credentials::new(
            k.access_key_id.clone(),
            k.secret_key.clone(),
            tok,
            None,
            "test",
        );
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&ts.s3_endpoint)
            .region(aws_sdk_s3::config::Region::new("US-EAST-04A"))
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    };

    // The right token, and no token (SPEC §5), both work.
    with_token(Some(token.clone()), &temp)
        .list_objects_v2()
        .bucket("tokens")
        .send()
        .await
        .unwrap();
    with_token(None, &temp)
        .list_objects_v2()
        .bucket("tokens")
        .send()
        .await
        .unwrap();
    // A wrong token fails; so does any token on a key that has none.
    assert_s3_err(
        with_token(Some(format!("{token}x")), &temp)
            .list_objects_v2()
            .bucket("tokens")
            .send()
            .await,
        "InvalidToken",
        400,
    );
    assert_s3_err(
        with_token(Some(token), &key)
            .list_objects_v2()
            .bucket("tokens")
            .send()
            .await,
        "InvalidToken",
        400,
    );
}

#[tokio::test]
async fn no_org_policy_means_no_access() {
    let ts = TestServer::start().await;
    let key = ts.create_key(&ts.admin_token).await;
    let c = ts.s3_client(&key);
    let e = c
        .create_bucket()
        .bucket("no-policy")
        .send()
        .await
        .expect_err("no policy");
    assert_eq!(status_of(&e), Some(403));
    let meta = e.as_service_error().unwrap();
    use aws_sdk_s3::error::ProvideErrorMetadata;
    assert_eq!(meta.code(), Some("AccessDenied"));
    assert!(
        meta.message().unwrap_or_default().contains("policy"),
        "{e:?}"
    );
    assert_s3_err(c.list_buckets().send().await, "AccessDenied", 403);
    // With a policy, the same key works.
    ts.allow_all().await;
    c.create_bucket().bucket("no-policy").send().await.unwrap();
}

#[tokio::test]
async fn deny_beats_allow_and_per_key_deletes() {
    let (ts, client, key) = setup().await;
    make_bucket(&client, "deny").await;
    for k in ["secret/a", "public/a", "keep-1", "gone-1", "gone-2"] {
        put(&client, "deny", k, b"x").await;
    }
    ts.ensure_policy(json!({
        "version": "v1alpha1",
        "name": "deny-some",
        "statements": [
            {"name": "no-secrets", "effect": "Deny", "actions": ["s3:GetObject"],
             "resources": ["deny/secret/*"], "principals": [key.principal]},
            {"name": "keep-keeps", "effect": "Deny", "actions": ["s3:DeleteObject"],
             "resources": ["deny/keep-*"], "principals": ["*"]}
        ]
    }))
    .await;
    assert_s3_err(
        client
            .get_object()
            .bucket("deny")
            .key("secret/a")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        client
            .head_object()
            .bucket("deny")
            .key("secret/a")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // CopyObject needs s3:GetObject on the source.
    assert_s3_err(
        client
            .copy_object()
            .bucket("deny")
            .key("copied")
            .copy_source("deny/secret/a")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_eq!(get(&client, "deny", "public/a").await, b"x");

    // DeleteObjects is authorized per key.
    let ids = ["keep-1", "gone-1", "gone-2"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect::<Vec<_>>();
    let out = client
        .delete_objects()
        .bucket("deny")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["gone-1", "gone-2"]);
    let errs: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    assert_eq!(errs, [("keep-1", "AccessDenied")]);
    assert!(exists(&client, "deny", "keep-1").await);
    assert!(!exists(&client, "deny", "gone-1").await);
    assert_s3_err(
        client
            .delete_object()
            .bucket("deny")
            .key("keep-1")
            .send()
            .await,
        "AccessDenied",
        403,
    );
}

const OPERATOR: &str = "operator-token-for-the-s3-tests";

#[tokio::test]
async fn other_orgs_buckets_are_out_of_reach() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (a, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&a, "org-a-bucket").await;
    put(&a, "org-a-bucket", "k", b"a's data").await;

    // Org B with an admin, a token, an allow-all policy and a key.
    let (_, _, bob_token) = ts.org_with_allow_all_admin(OPERATOR, "b").await;
    let b = s3_client_for(&ts.s3_endpoint, &ts.create_key(&bob_token).await);

    assert_s3_err(
        b.get_object().bucket("org-a-bucket").key("k").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        b.head_bucket().bucket("org-a-bucket").send().await,
        "Forbidden",
        403,
    );
    assert_s3_err(
        b.list_objects_v2().bucket("org-a-bucket").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        b.put_object()
            .bucket("org-a-bucket")
            .key("intruder")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        b.delete_bucket().bucket("org-a-bucket").send().await,
        "AccessDenied",
        403,
    );
    make_bucket(&b, "org-b-bucket").await;
    // Copying out of a foreign bucket is denied too.
    assert_s3_err(
        b.copy_object()
            .bucket("org-b-bucket")
            .key("stolen")
            .copy_source("org-a-bucket/k")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // Names are global: B cannot take A's name.
    assert_s3_err(
        b.create_bucket().bucket("org-a-bucket").send().await,
        "BucketAlreadyExists",
        409,
    );
    let names = |out: aws_sdk_s3::operation::list_buckets::ListBucketsOutput| {
        out.buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(b.list_buckets().send().await.unwrap()),
        ["org-b-bucket"]
    );
    assert_eq!(
        names(a.list_buckets().send().await.unwrap()),
        ["org-a-bucket"]
    );
    assert!(!exists(&a, "org-a-bucket", "intruder").await);
}

#[tokio::test]
async fn request_ids_and_error_documents() {
    let (ts, client, key) = setup().await;
    make_bucket(&client, "rid").await;
    let signer = Signer::new(&ts, &key);
    let http = reqwest::Client::new();

    // Success.
    let r = send(signer.request(
        &http,
        Method::GET,
        "/rid",
        &[("list-type".into(), "2".into())],
        &[],
        vec![],
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.request_id().expect("x-amz-request-id on success");
    assert_eq!(id.len(), 16);

    // An error from the gateway: NoSuchKey.
    let r = send(signer.request(&http, Method::GET, "/rid/missing", &[], &[], vec![])).await;
    r.assert_err("NoSuchKey", 404);
    let id = r.request_id().expect("x-amz-request-id on error");
    assert_eq!(
        xml_field(&r.body, "RequestId").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        xml_field(&r.body, "Resource").as_deref(),
        Some("/rid/missing")
    );
    assert!(xml_field(&r.body, "Message").is_some());

    // An error s3s produces before the gateway runs: a bad signature.
    let bad = Signer {
        secret: "wrong".into(),
        ..Signer::new(&ts, &key)
    };
    let r = send(bad.request(&http, Method::GET, "/rid/missing", &[], &[], vec![])).await;
    r.assert_err("SignatureDoesNotMatch", 403);
    let id = r.request_id().expect("x-amz-request-id on s3s errors");
    assert_eq!(
        xml_field(&r.body, "RequestId").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        xml_field(&r.body, "Resource").as_deref(),
        Some("/rid/missing")
    );

    // Unsupported operations answer NotImplemented, never a wrong success.
    let r = send(signer.request(
        &http,
        Method::GET,
        "/rid",
        &[("website".into(), String::new())],
        &[],
        vec![],
    ))
    .await;
    r.assert_err("NotImplemented", 501);
    let r = send(signer.request(
        &http,
        Method::PUT,
        "/rid",
        &[("accelerate".into(), String::new())],
        &[],
        b"<AccelerateConfiguration><Status>Enabled</Status></AccelerateConfiguration>".to_vec(),
    ))
    .await;
    r.assert_err("NotImplemented", 501);
}
