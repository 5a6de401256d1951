//! Conditional writes end to end with aws-sdk-s3 (SPEC §4): `If-None-Match: *` and
//! `If-Match: <etag>` on PutObject, CopyObject and CompleteMultipartUpload (412
//! `PreconditionFailed`, `NoSuchKey` for If-Match on an absent key; `If-Match: *` and an
//! ETag in If-None-Match as RGW and s3-tests expect), and the race: 16 concurrent create-only PUTs of one key, of which
//! exactly one wins and its bytes are what is stored.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

async fn small_upload(c: &Client, bucket: &str, key: &str, body: &[u8]) -> (String, String) {
    let id = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let etag = c
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();
    (id, etag)
}

fn parts(etag: &str) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
        .build()
}

#[tokio::test]
async fn put_conditions() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "condput").await;
    let p = |body: &'static [u8]| {
        c.put_object()
            .bucket("condput")
            .key("k")
            .body(ByteStream::from_static(body))
    };
    // If-Match on an absent key: the key does not exist (`*` included).
    assert_s3_err(p(b"x").if_match("\"abc\"").send().await, "NoSuchKey", 404);
    assert_s3_err(p(b"x").if_match("*").send().await, "NoSuchKey", 404);
    assert!(!exists(&c, "condput", "k").await);
    let e1 = p(b"one")
        .if_none_match("*")
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();
    assert_s3_err(
        p(b"two").if_none_match("*").send().await,
        "PreconditionFailed",
        412,
    );
    // If-None-Match with an ETag (RGW's superset of S3's `*`): refused while the current
    // object has that ETag, accepted otherwise.
    assert_s3_err(
        p(b"two").if_none_match(&e1).send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        p(b"two").if_none_match(e1.trim_matches('"')).send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        p(b"two").if_match("\"ffff\"").send().await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(get(&c, "condput", "k").await, b"one");
    let e2 = p(b"two").if_match(&e1).send().await.unwrap().e_tag.unwrap();
    // The old ETag no longer matches.
    assert_s3_err(
        p(b"three").if_match(&e1).send().await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(get(&c, "condput", "k").await, b"two");
    // Bare (unquoted) ETags match too.
    let e3 = p(b"three")
        .if_match(e2.trim_matches('"'))
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();
    assert_eq!(get(&c, "condput", "k").await, b"three");
    // `If-Match: *` needs any current object; If-None-Match with another ETag passes.
    p(b"four").if_match("*").send().await.unwrap();
    p(b"five").if_none_match(&e3).send().await.unwrap();
    assert_eq!(get(&c, "condput", "k").await, b"five");
}

#[tokio::test]
async fn copy_conditions() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "condcopy").await;
    put(&c, "condcopy", "src", b"source").await;
    let dst_etag = put(&c, "condcopy", "dst", b"old").await;
    let cp = || {
        c.copy_object()
            .bucket("condcopy")
            .key("dst")
            .copy_source("condcopy/src")
    };
    assert_s3_err(
        cp().if_none_match("*").send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        cp().if_match("\"0000\"").send().await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(get(&c, "condcopy", "dst").await, b"old");
    cp().if_match(&dst_etag).send().await.unwrap();
    assert_eq!(get(&c, "condcopy", "dst").await, b"source");
    c.copy_object()
        .bucket("condcopy")
        .key("fresh")
        .copy_source("condcopy/src")
        .if_none_match("*")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "condcopy", "fresh").await, b"source");
}

#[tokio::test]
async fn complete_conditions() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "condmpu").await;
    let existing = put(&c, "condmpu", "k", b"existing").await;
    let (id, etag) = small_upload(&c, "condmpu", "k", b"multipart body").await;
    let complete = || {
        c.complete_multipart_upload()
            .bucket("condmpu")
            .key("k")
            .upload_id(&id)
            .multipart_upload(parts(&etag))
    };
    assert_s3_err(
        complete().if_none_match("*").send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_err(
        complete().if_match("\"0000\"").send().await,
        "PreconditionFailed",
        412,
    );
    // A failed condition leaves both the object and the upload in place.
    assert_eq!(get(&c, "condmpu", "k").await, b"existing");
    complete().if_match(&existing).send().await.unwrap();
    assert_eq!(get(&c, "condmpu", "k").await, b"multipart body");

    let (id2, etag2) = small_upload(&c, "condmpu", "new", b"new body").await;
    c.complete_multipart_upload()
        .bucket("condmpu")
        .key("new")
        .upload_id(&id2)
        .multipart_upload(parts(&etag2))
        .if_none_match("*")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "condmpu", "new").await, b"new body");
}

/// Two uploads of one key completed concurrently with `If-None-Match: *`: one wins,
/// the other gets 412 or 409, and the stored object is the winner's.
#[tokio::test]
async fn concurrent_conditional_completes() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "condmpurace").await;
    let (a, ea) = small_upload(&c, "condmpurace", "k", b"body A").await;
    let (b, eb) = small_upload(&c, "condmpurace", "k", b"body B").await;
    let go = |id: String, etag: String| {
        let c = c.clone();
        tokio::spawn(async move {
            c.complete_multipart_upload()
                .bucket("condmpurace")
                .key("k")
                .upload_id(id)
                .multipart_upload(parts(&etag))
                .if_none_match("*")
                .send()
                .await
        })
    };
    let (ra, rb) = (go(a, ea), go(b, eb));
    let results = [ra.await.unwrap(), rb.await.unwrap()];
    let winners: Vec<usize> = (0..2).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let loser = &results[1 - winners[0]];
    let status = status_of(loser.as_ref().unwrap_err());
    assert!(matches!(status, Some(412 | 409)), "{loser:?}");
    let want: &[u8] = if winners[0] == 0 {
        b"body A"
    } else {
        b"body B"
    };
    assert_eq!(get(&c, "condmpurace", "k").await, want);
}

#[tokio::test]
async fn sixteen_concurrent_create_only_puts() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "condrace").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                let body = format!("writer {i:02} ").repeat(200).into_bytes();
                let r = c
                    .put_object()
                    .bucket("condrace")
                    .key("contested")
                    .body(ByteStream::from(body.clone()))
                    .if_none_match("*")
                    .send()
                    .await;
                (body, r)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let (mut pf, mut conflict) = (0, 0);
    for t in tasks {
        let (body, r) = t.await.unwrap();
        match r {
            Ok(_) => winners.push(body),
            Err(e) => match status_of(&e) {
                Some(412) => pf += 1,
                Some(409) => {
                    assert_eq!(
                        e.as_service_error().and_then(|s| {
                            aws_sdk_s3::error::ProvideErrorMetadata::code(s).map(str::to_string)
                        }),
                        Some("ConditionalRequestConflict".to_string())
                    );
                    conflict += 1
                }
                _ => panic!("unexpected failure: {}", dbg_err(&e)),
            },
        }
    }
    assert_eq!(winners.len(), 1, "412: {pf}, 409: {conflict}");
    assert_eq!(pf + conflict, 15);
    assert_eq!(get(&c, "condrace", "contested").await, winners[0]);
}

/// A write conditional on the current ETag tells the writer whether its guess of the
/// ETag is right, so it needs `s3:GetObject` too; `*` conditions need only the write.
#[tokio::test]
async fn etag_conditions_need_read_permission() {
    use reqwest::Method;
    use serde_json::json;
    let ts = TestServer::start().await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "admin-s3",
        "statements": [{"name": "all", "effect": "Allow", "actions": ["s3:*"],
                        "resources": ["*"], "principals": [format!("coreweave/{}", ts.admin_uid)]}]
    }))
    .await;
    let admin = ts.s3_client(&ts.create_key(&ts.admin_token).await);
    make_bucket(&admin, "condr").await;
    let etag = put(&admin, "condr", "k", b"secret").await;

    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/users",
            Some(&ts.admin_token),
            Some(json!({"name": "writer", "role": "member"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let uid = v["user"]["uid"].as_str().unwrap().to_string();
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/tokens",
            Some(&ts.admin_token),
            Some(json!({"uid": uid, "durationSeconds": 0})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "writer-only",
        "statements": [{"name": "w", "effect": "Allow", "actions": ["s3:PutObject"],
                        "resources": ["condr/*"], "principals": [format!("coreweave/{uid}")]},
                       {"name": "keys", "effect": "Allow", "actions": ["cwobject:CreateAccessKey"],
                        "resources": ["*"], "principals": [format!("coreweave/{uid}")]}]
    }))
    .await;
    let w = ts.s3_client(&ts.create_key(&token).await);
    let p = |body: &'static [u8]| {
        w.put_object()
            .bucket("condr")
            .key("k")
            .body(ByteStream::from_static(body))
    };
    // Guessing the ETag, right or wrong, is refused before anything is compared.
    for guess in [etag.as_str(), "\"0123456789abcdef0123456789abcdef\""] {
        assert_s3_err(p(b"x").if_match(guess).send().await, "AccessDenied", 403);
        assert_s3_err(
            p(b"x").if_none_match(guess).send().await,
            "AccessDenied",
            403,
        );
    }
    assert_eq!(get(&admin, "condr", "k").await, b"secret");
    // `*` and plain writes need only s3:PutObject.
    assert_s3_err(
        p(b"x").if_none_match("*").send().await,
        "PreconditionFailed",
        412,
    );
    p(b"y").if_match("*").send().await.unwrap();
    assert_eq!(get(&admin, "condr", "k").await, b"y");
}
