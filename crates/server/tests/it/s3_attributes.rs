//! GetObjectAttributes end to end with aws-sdk-s3 (SPEC §4): single-part objects with
//! a checksum, multipart objects with paged ObjectParts, bad attribute names, missing
//! keys, and authorization needing s3:GetObjectAttributes besides s3:GetObject.

use crate::s3_common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectAttributes, StorageClass,
};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn single_and_multipart_attributes() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "attrs").await;
    let put = c
        .put_object()
        .bucket("attrs")
        .key("one")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"attribute bytes"))
        .send()
        .await
        .unwrap();
    let a = c
        .get_object_attributes()
        .bucket("attrs")
        .key("one")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::StorageClass)
        .object_attributes(ObjectAttributes::ObjectParts)
        .send()
        .await
        .unwrap();
    assert_eq!(
        a.e_tag().map(|e| e.trim_matches('"')),
        put.e_tag().map(|e| e.trim_matches('"'))
    );
    assert_eq!(a.object_size(), Some(15));
    assert_eq!(a.storage_class(), Some(&StorageClass::Standard));
    assert_eq!(
        a.checksum().and_then(|c| c.checksum_sha256()),
        put.checksum_sha256()
    );
    assert!(
        a.object_parts().is_none(),
        "single-part objects have no parts"
    );
    assert!(a.last_modified().is_some());
    // Only what was asked for.
    let a = c
        .get_object_attributes()
        .bucket("attrs")
        .key("one")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(a.object_size(), Some(15));
    assert!(a.e_tag().is_none() && a.checksum().is_none());

    // Multipart: 3 parts, paged by 2.
    let id = c
        .create_multipart_upload()
        .bucket("attrs")
        .key("mpu")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mut parts = Vec::new();
    for n in 1..=3 {
        let size = if n < 3 { 5 * MIB } else { 1000 };
        let e = c
            .upload_part()
            .bucket("attrs")
            .key("mpu")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(vec![n as u8; size]))
            .send()
            .await
            .unwrap()
            .e_tag
            .unwrap();
        parts.push(CompletedPart::builder().part_number(n).e_tag(e).build());
    }
    c.complete_multipart_upload()
        .bucket("attrs")
        .key("mpu")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let page = |marker: Option<&str>| {
        c.get_object_attributes()
            .bucket("attrs")
            .key("mpu")
            .object_attributes(ObjectAttributes::ObjectParts)
            .object_attributes(ObjectAttributes::ObjectSize)
            .max_parts(2)
            .set_part_number_marker(marker.map(str::to_string))
            .send()
    };
    let a = page(None).await.unwrap();
    assert_eq!(a.object_size(), Some((10 * MIB + 1000) as i64));
    let p = a.object_parts().unwrap();
    assert_eq!(p.total_parts_count(), Some(3));
    assert_eq!(p.is_truncated(), Some(true));
    assert_eq!(p.next_part_number_marker(), Some("2"));
    let nums: Vec<_> = p
        .parts()
        .iter()
        .map(|x| (x.part_number(), x.size()))
        .collect();
    assert_eq!(
        nums,
        [
            (Some(1), Some(5 * MIB as i64)),
            (Some(2), Some(5 * MIB as i64))
        ]
    );
    let a = page(Some("2")).await.unwrap();
    let p = a.object_parts().unwrap();
    assert_eq!(p.is_truncated(), Some(false));
    let nums: Vec<_> = p
        .parts()
        .iter()
        .map(|x| (x.part_number(), x.size()))
        .collect();
    assert_eq!(nums, [(Some(3), Some(1000))]);

    // Failures.
    assert_s3_err(
        c.get_object_attributes()
            .bucket("attrs")
            .key("one")
            .object_attributes(ObjectAttributes::from("Bogus"))
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.get_object_attributes()
            .bucket("attrs")
            .key("missing")
            .object_attributes(ObjectAttributes::Etag)
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    assert_s3_err(
        c.get_object_attributes()
            .bucket("no-such-attrs-bucket")
            .key("one")
            .object_attributes(ObjectAttributes::Etag)
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
}

#[tokio::test]
async fn attributes_need_both_actions() {
    let ts = TestServer::start().await;
    ts.ensure_policy(json!({
        "version": "v1alpha1", "name": "admin-s3",
        "statements": [{"name": "all", "effect": "Allow", "actions": ["s3:*"],
                        "resources": ["*"], "principals": [format!("coreweave/{}", ts.admin_uid)]}]
    }))
    .await;
    let admin = ts.s3_client(&ts.create_key(&ts.admin_token).await);
    make_bucket(&admin, "attrauth").await;
    put(&admin, "attrauth", "k", b"x").await;
    let mut clients = Vec::new();
    for (name, actions) in [
        ("reader", vec!["s3:GetObject"]),
        ("attrsonly", vec!["s3:GetObjectAttributes"]),
        ("both", vec!["s3:GetObject", "s3:GetObjectAttributes"]),
    ] {
        let (s, v) = ts
            .api(
                Method::POST,
                "/v1/iam/users",
                Some(&ts.admin_token),
                Some(json!({"name": name, "role": "member"})),
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
            "version": "v1alpha1", "name": name,
            "statements": [
                {"name": "keys", "effect": "Allow", "actions": ["cwobject:CreateAccessKey"],
                 "resources": ["*"], "principals": [format!("coreweave/{uid}")]},
                {"name": "read", "effect": "Allow", "actions": actions,
                 "resources": ["attrauth/*"], "principals": [format!("coreweave/{uid}")]}
            ]
        }))
        .await;
        clients.push(ts.s3_client(&ts.create_key(&token).await));
    }
    let ask = |i: usize| {
        clients[i]
            .get_object_attributes()
            .bucket("attrauth")
            .key("k")
            .object_attributes(ObjectAttributes::ObjectSize)
            .send()
    };
    assert_s3_err(ask(0).await, "AccessDenied", 403);
    assert_s3_err(ask(1).await, "AccessDenied", 403);
    assert_eq!(ask(2).await.unwrap().object_size(), Some(1));
}

#[tokio::test]
async fn attributes_of_a_version() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "vattrs").await;
    enable_versioning(&c, "vattrs").await;
    let mut ids = Vec::new();
    for body in [&b"first"[..], &b"second body"[..]] {
        let out = c
            .put_object()
            .bucket("vattrs")
            .key("k")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
        ids.push(out.version_id.unwrap());
    }
    for (id, size) in [(&ids[0], 5), (&ids[1], 11)] {
        let a = c
            .get_object_attributes()
            .bucket("vattrs")
            .key("k")
            .version_id(id)
            .object_attributes(ObjectAttributes::ObjectSize)
            .send()
            .await
            .unwrap();
        assert_eq!(a.object_size(), Some(size));
        assert_eq!(a.version_id(), Some(id.as_str()));
    }
    assert_s3_err(
        c.get_object_attributes()
            .bucket("vattrs")
            .key("k")
            .version_id("00000000000000000000000000000000")
            .object_attributes(ObjectAttributes::ObjectSize)
            .send()
            .await,
        "NoSuchVersion",
        404,
    );
}
