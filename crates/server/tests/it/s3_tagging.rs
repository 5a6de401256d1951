//! Object and bucket tagging end to end with aws-sdk-s3 (SPEC §4): Put/Get/Delete
//! ObjectTagging, `x-amz-tagging` on PutObject and CopyObject (with the tagging
//! directive), `x-amz-tagging-count` on GET/HEAD, Put/Get/DeleteBucketTagging with
//! `NoSuchTagSet`, the limits (count, lengths, unique keys, `aws:` prefix) leaving the
//! stored tags unchanged, and authorization by the tagging actions.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging, TaggingDirective};
use reqwest::Method;
use serde_json::json;

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    Tagging::builder()
        .set_tag_set(Some(
            pairs
                .iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
                .collect(),
        ))
        .build()
        .unwrap()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn object_tags(c: &Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let mut v: Vec<_> = c
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get tagging: {}", dbg_err(&e)))
        .tag_set
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    v.sort();
    v
}

/// `x-amz-tagging-count` as GetObject reports it.
async fn tag_count(c: &Client, bucket: &str, key: &str) -> Option<i32> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .tag_count
}

#[tokio::test]
async fn object_tagging_round_trip_and_limits() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "tags").await;
    let etag = put(&c, "tags", "k", b"tagged").await;
    assert!(object_tags(&c, "tags", "k").await.is_empty());
    assert_eq!(tag_count(&c, "tags", "k").await, None);

    c.put_object_tagging()
        .bucket("tags")
        .key("k")
        .tagging(tagging(&[("team", "blue"), ("env", "prod ü")]))
        .send()
        .await
        .unwrap();
    let want = owned(&[("env", "prod ü"), ("team", "blue")]);
    assert_eq!(object_tags(&c, "tags", "k").await, want);
    assert_eq!(tag_count(&c, "tags", "k").await, Some(2));
    // Tagging rewrites neither the data nor the ETag.
    let h = c
        .head_object()
        .bucket("tags")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(h.e_tag(), Some(etag.as_str()));
    assert_eq!(get(&c, "tags", "k").await, b"tagged");

    // Bad tag sets: refused, stored tags unchanged.
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    let eleven_ref: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for (set, code) in [
        (eleven_ref.clone(), "BadRequest"),
        (vec![("aws:reserved", "v")], "InvalidTag"),
        (vec![(long_key.as_str(), "v")], "InvalidTag"),
        (vec![("k", long_value.as_str())], "InvalidTag"),
        (vec![("dup", "1"), ("dup", "2")], "InvalidTag"),
        (vec![("bad*char", "v")], "InvalidTag"),
    ] {
        assert_s3_err(
            c.put_object_tagging()
                .bucket("tags")
                .key("k")
                .tagging(tagging(&set))
                .send()
                .await,
            code,
            400,
        );
    }
    assert_eq!(object_tags(&c, "tags", "k").await, want);
    // 128/256 Unicode characters are fine.
    let k128 = "ä".repeat(128);
    let v256 = "ö".repeat(256);
    c.put_object_tagging()
        .bucket("tags")
        .key("k")
        .tagging(tagging(&[(k128.as_str(), v256.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(object_tags(&c, "tags", "k").await, vec![(k128, v256)]);

    c.delete_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(object_tags(&c, "tags", "k").await.is_empty());
    assert_eq!(get(&c, "tags", "k").await, b"tagged");

    // Missing key / bucket.
    assert_s3_err(
        c.get_object_tagging()
            .bucket("tags")
            .key("nope")
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    assert_s3_err(
        c.put_object_tagging()
            .bucket("tags")
            .key("nope")
            .tagging(tagging(&[("a", "b")]))
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    assert_s3_err(
        c.get_object_tagging()
            .bucket("no-such-bucket-tags")
            .key("k")
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    assert!(!exists(&c, "tags", "nope").await);
}

#[tokio::test]
async fn tagging_header_on_put_and_copy() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "taghdr").await;
    c.put_object()
        .bucket("taghdr")
        .key("src")
        .tagging("a=1&b=two%20words")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        object_tags(&c, "taghdr", "src").await,
        owned(&[("a", "1"), ("b", "two words")])
    );
    assert_eq!(tag_count(&c, "taghdr", "src").await, Some(2));
    assert_s3_err(
        c.put_object()
            .bucket("taghdr")
            .key("bad")
            .tagging("aws:x=1")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "InvalidTag",
        400,
    );
    assert!(!exists(&c, "taghdr", "bad").await);

    // COPY (default) keeps the source's tags; REPLACE takes the header's.
    c.copy_object()
        .bucket("taghdr")
        .key("copy")
        .copy_source("taghdr/src")
        .send()
        .await
        .unwrap();
    assert_eq!(object_tags(&c, "taghdr", "copy").await.len(), 2);
    c.copy_object()
        .bucket("taghdr")
        .key("replaced")
        .copy_source("taghdr/src")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("c=3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object_tags(&c, "taghdr", "replaced").await,
        owned(&[("c", "3")])
    );
}

#[tokio::test]
async fn bucket_tagging() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "btags").await;
    assert_s3_err(
        c.get_bucket_tagging().bucket("btags").send().await,
        "NoSuchTagSet",
        404,
    );
    c.put_bucket_tagging()
        .bucket("btags")
        .tagging(tagging(&[("cost-center", "42"), ("owner", "ops")]))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_tagging().bucket("btags").send().await.unwrap();
    let mut got: Vec<_> = got.tag_set.into_iter().map(|t| (t.key, t.value)).collect();
    got.sort();
    assert_eq!(got, owned(&[("cost-center", "42"), ("owner", "ops")]));

    // 50 tags are fine, 51 are not; a refused set leaves the stored one.
    let fifty: Vec<(String, String)> = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
    let r: Vec<(&str, &str)> = fifty
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.put_bucket_tagging()
        .bucket("btags")
        .tagging(tagging(&r))
        .send()
        .await
        .unwrap();
    let fifty_one: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
    let r: Vec<(&str, &str)> = fifty_one
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_s3_err(
        c.put_bucket_tagging()
            .bucket("btags")
            .tagging(tagging(&r))
            .send()
            .await,
        "BadRequest",
        400,
    );
    assert_s3_err(
        c.put_bucket_tagging()
            .bucket("btags")
            .tagging(tagging(&[("aws:x", "1")]))
            .send()
            .await,
        "InvalidTag",
        400,
    );
    let got = c.get_bucket_tagging().bucket("btags").send().await.unwrap();
    assert_eq!(got.tag_set.len(), 50);

    c.delete_bucket_tagging()
        .bucket("btags")
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.get_bucket_tagging().bucket("btags").send().await,
        "NoSuchTagSet",
        404,
    );
    assert_s3_err(
        c.get_bucket_tagging().bucket("no-such-btags").send().await,
        "NoSuchBucket",
        404,
    );
}

/// A member allowed only s3:PutObject/s3:GetObject: tagging operations and tags on
/// writes are denied; the same writes without tags succeed.
#[tokio::test]
async fn tagging_needs_the_tagging_actions() {
    let ts = TestServer::start().await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "admin-s3",
        "statements": [{"name": "all", "effect": "Allow", "actions": ["s3:*"],
                        "resources": ["*"], "principals": [format!("coreweave/{}", ts.admin_uid)]}]
    }))
    .await;
    let admin = ts.s3_client(&ts.create_key(&ts.admin_token).await);
    make_bucket(&admin, "tagauth").await;
    put(&admin, "tagauth", "k", b"x").await;
    admin
        .put_bucket_tagging()
        .bucket("tagauth")
        .tagging(tagging(&[("a", "b")]))
        .send()
        .await
        .unwrap();

    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/iam/users",
            Some(&ts.admin_token),
            Some(json!({"name": "tagger", "role": "member"})),
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
        "version": "v1alpha1", "name": "tagger",
        "statements": [
            {"name": "keys", "effect": "Allow", "actions": ["cwobject:CreateAccessKey"],
             "resources": ["*"], "principals": [format!("coreweave/{uid}")]},
            {"name": "rw", "effect": "Allow", "actions": ["s3:PutObject", "s3:GetObject"],
             "resources": ["tagauth/*"], "principals": [format!("coreweave/{uid}")]}
        ]
    }))
    .await;
    let key = ts.create_key(&token).await;
    let m = ts.s3_client(&key);

    let denied = |r: Result<(), String>| assert_eq!(r.unwrap_err(), "AccessDenied");
    let code =
        |e: &dyn aws_sdk_s3::error::ProvideErrorMetadata| e.code().unwrap_or_default().to_string();
    denied(
        m.put_object_tagging()
            .bucket("tagauth")
            .key("k")
            .tagging(tagging(&[("x", "y")]))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
    );
    denied(
        m.get_object_tagging()
            .bucket("tagauth")
            .key("k")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
    );
    denied(
        m.delete_object_tagging()
            .bucket("tagauth")
            .key("k")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
    );
    denied(
        m.get_bucket_tagging()
            .bucket("tagauth")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
    );
    denied(
        m.put_bucket_tagging()
            .bucket("tagauth")
            .tagging(tagging(&[("x", "y")]))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
    );
    denied(
        m.delete_bucket_tagging()
            .bucket("tagauth")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
    );
    denied(
        m.put_object()
            .bucket("tagauth")
            .key("tagged")
            .tagging("a=1")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e)),
    );
    assert!(!exists(&admin, "tagauth", "tagged").await);
    m.put_object()
        .bucket("tagauth")
        .key("untagged")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    // Nothing changed by the denied calls.
    assert_eq!(
        admin
            .get_bucket_tagging()
            .bucket("tagauth")
            .send()
            .await
            .unwrap()
            .tag_set
            .len(),
        1
    );
}
