//! ACLs inside the one authorization engine, end to end with aws-sdk-s3 (signed) and
//! reqwest (anonymous), three orgs: grants to AllUsers, to another org and to an org
//! without its own org Allow; org and bucket-policy `Deny` beating a grant; the
//! owner-org fence; Public Access Block (IgnorePublicAcls, BlockPublicAcls);
//! ObjectWriter / BucketOwnerPreferred owners; switching ACLs off; 404 for listers;
//! AuthCanI naming the `acl` layer; refusals that leave the stored ACL as it was.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketCannedAcl, ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration,
};
use coffer_server::testing::s3_client_for;
use reqwest::Method;
use serde_json::{Value, json};

const OPERATOR: &str = "CW-SECRET-acl-authz-operator-token-0123456789";

async fn anon_get(ts: &TestServer, path: &str) -> u16 {
    ts.http
        .get(format!("{}/{path}", ts.s3_endpoint))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn create_with(c: &Client, bucket: &str, o: ObjectOwnership, acl: Option<BucketCannedAcl>) {
    c.create_bucket()
        .bucket(bucket)
        .object_ownership(o)
        .set_acl(acl)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {bucket}: {}", dbg_err(&e)));
}

async fn object_owner(c: &Client, bucket: &str, key: &str) -> String {
    c.get_object_acl()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get object acl: {}", dbg_err(&e)))
        .owner()
        .and_then(|o| o.id())
        .unwrap()
        .to_string()
}

async fn can_i(ts: &TestServer, token: &str, action: &str, resource: &str) -> Value {
    let (s, v) = ts
        .api(
            Method::POST,
            "/v1/cwobject/auth/can-i",
            Some(token),
            Some(json!({"actions": [action], "resources": [resource]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["decisions"][0].clone()
}

#[tokio::test]
async fn grants_are_one_more_way_in_never_around_a_deny() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (a, _) = ts.s3_client_with_allow_all().await;
    let (org_b, _, b_token) = ts.org_with_allow_all_admin(OPERATOR, "b").await;
    let b = s3_client_for(&ts.s3_endpoint, &ts.create_key(&b_token).await);
    let (org_c, _, c_token) = ts.org_with_allow_all_admin(OPERATOR, "c").await;
    let c = s3_client_for(&ts.s3_endpoint, &ts.create_key(&c_token).await);

    create_with(
        &a,
        "acl-open",
        ObjectOwnership::ObjectWriter,
        Some(BucketCannedAcl::PublicRead),
    )
    .await;
    put(&a, "acl-open", "private", b"p").await;
    a.put_object()
        .bucket("acl-open")
        .key("public")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"pub".to_vec().into())
        .send()
        .await
        .unwrap();

    // AllUsers READ on the bucket lists it; object reads follow each object's ACL.
    assert_eq!(anon_get(&ts, "acl-open?list-type=2").await, 200);
    assert_eq!(anon_get(&ts, "acl-open/public").await, 200);
    assert_eq!(anon_get(&ts, "acl-open/private").await, 403);
    // 404 for listers: a caller who may list the key learns it is missing, no more.
    assert_eq!(anon_get(&ts, "acl-open/missing").await, 404);
    assert_eq!(anon_get(&ts, "no-such-bucket-acl/missing").await, 403);
    assert_eq!(get(&b, "acl-open", "public").await, b"pub");
    assert_s3_err(
        b.get_object()
            .bucket("acl-open")
            .key("private")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // Anonymous writes need bucket WRITE, which public-read does not give.
    let r = ts
        .http
        .put(format!("{}/acl-open/anon", ts.s3_endpoint))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A grant to org B: B writes, owns what it writes (ObjectWriter), and reads it;
    // the bucket owner's org reads it too (no bucket policy: its org decides).
    a.put_bucket_acl()
        .bucket("acl-open")
        .grant_full_control(format!("id={}", ts.org_id))
        .grant_write(format!("id=\"{org_b}\""))
        .grant_read(format!("id={org_c}"))
        .send()
        .await
        .unwrap();
    put(&b, "acl-open", "from-b", b"bee").await;
    assert_eq!(object_owner(&b, "acl-open", "from-b").await, org_b);
    assert_eq!(get(&b, "acl-open", "from-b").await, b"bee");
    assert_eq!(get(&a, "acl-open", "from-b").await, b"bee");
    let d = can_i(&ts, &b_token, "s3:PutObject", "acl-open/any").await;
    assert_eq!(d["allowed"], true, "{d}");
    assert_eq!(d["decidedBy"]["layer"], "acl", "{d}");
    // B cannot read A's private object, and AuthCanI agrees (read through the object).
    let d = can_i(&ts, &b_token, "s3:GetObject", "acl-open/private").await;
    assert_eq!(d["allowed"], false, "{d}");
    let d = can_i(&ts, &b_token, "s3:GetObject", "acl-open/public").await;
    assert_eq!(d["allowed"], true, "{d}");
    assert_eq!(d["decidedBy"]["layer"], "acl", "{d}");

    // Org C's grant counts only while C's own org policy allows: without it, nothing.
    c.list_objects_v2().bucket("acl-open").send().await.unwrap();
    let (s, v) = ts
        .api(
            Method::DELETE,
            "/v1/cwobject/access-policy/all",
            Some(&c_token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_s3_err(
        c.list_objects_v2().bucket("acl-open").send().await,
        "AccessDenied",
        403,
    );

    // A bucket-policy Deny beats a grant, for everyone it names.
    let deny = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "no-public", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::acl-open/public"}]});
    a.put_bucket_policy()
        .bucket("acl-open")
        .policy(deny.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(anon_get(&ts, "acl-open/public").await, 403);
    assert_s3_err(
        b.get_object().bucket("acl-open").key("public").send().await,
        "AccessDenied",
        403,
    );
    // The owner-org fence: with a policy that matches nothing for the owner org, the
    // ACLs' grants to the owner org itself (the bucket's FULL_CONTROL, the object's
    // implicit one) let it do nothing.
    assert_s3_err(
        a.get_object()
            .bucket("acl-open")
            .key("private")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        a.list_objects_v2().bucket("acl-open").send().await,
        "AccessDenied",
        403,
    );
    a.delete_bucket_policy()
        .bucket("acl-open")
        .send()
        .await
        .unwrap();
    assert_eq!(anon_get(&ts, "acl-open/public").await, 200);

    // The owner org's Deny with principal `*` fences anonymous callers off whatever the
    // ACL says.
    ts.ensure_policy(
        json!({"version": "v1alpha1", "name": "no-anon", "statements": [
        {"name": "no-anon", "effect": "Deny", "actions": ["s3:GetObject"],
         "resources": ["acl-open/public"], "principals": ["*"]}]}),
    )
    .await;
    assert_eq!(anon_get(&ts, "acl-open/public").await, 403);
}

#[tokio::test]
async fn public_access_block_and_ownership_govern_acls() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (a, _) = ts.s3_client_with_allow_all().await;
    let (org_b, _, b_token) = ts.org_with_allow_all_admin(OPERATOR, "b").await;
    let b = s3_client_for(&ts.s3_endpoint, &ts.create_key(&b_token).await);

    create_with(&a, "acl-pab", ObjectOwnership::BucketOwnerPreferred, None).await;
    a.put_bucket_acl()
        .bucket("acl-pab")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    // BucketOwnerPreferred: bucket-owner-full-control hands the object to the bucket
    // owner, anything else leaves it with the writer's org.
    b.put_object()
        .bucket("acl-pab")
        .key("given")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(b"g".to_vec().into())
        .send()
        .await
        .unwrap();
    put(&b, "acl-pab", "kept", b"k").await;
    assert_eq!(object_owner(&a, "acl-pab", "given").await, ts.org_id);
    assert_eq!(object_owner(&b, "acl-pab", "kept").await, org_b);
    // The writer's org owns "kept": its ACL is B's to change, not A's to read via ACL
    // grants (A reads it as the bucket owner's org, which has no bucket policy).
    b.put_object_acl()
        .bucket("acl-pab")
        .key("kept")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(anon_get(&ts, "acl-pab/kept").await, 200);
    // A grant to an org that does not exist is refused; the ACL stays.
    assert_s3_err(
        b.put_object_acl()
            .bucket("acl-pab")
            .key("kept")
            .grant_read("id=zzzzzz")
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_eq!(anon_get(&ts, "acl-pab/kept").await, 200);

    // IgnorePublicAcls: public grants count for nothing, and come back when lifted.
    let conf = |block: bool, ignore: bool| {
        PublicAccessBlockConfiguration::builder()
            .block_public_acls(block)
            .ignore_public_acls(ignore)
            .build()
    };
    a.put_public_access_block()
        .bucket("acl-pab")
        .public_access_block_configuration(conf(false, true))
        .send()
        .await
        .unwrap();
    assert_eq!(anon_get(&ts, "acl-pab/kept").await, 403);
    assert_eq!(anon_get(&ts, "acl-pab?list-type=2").await, 403);
    // BlockPublicAcls: setting a public ACL is refused (403), the stored one stays.
    a.put_public_access_block()
        .bucket("acl-pab")
        .public_access_block_configuration(conf(true, false))
        .send()
        .await
        .unwrap();
    assert_eq!(anon_get(&ts, "acl-pab/kept").await, 200);
    assert_s3_err(
        a.put_object_acl()
            .bucket("acl-pab")
            .key("given")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_eq!(anon_get(&ts, "acl-pab/given").await, 403);
    a.delete_public_access_block()
        .bucket("acl-pab")
        .send()
        .await
        .unwrap();

    // Disabling ACLs is refused while the bucket ACL grants others; once private, the
    // object ACLs stop counting (and stay stored).
    let enforced = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_s3_err(
        a.put_bucket_ownership_controls()
            .bucket("acl-pab")
            .ownership_controls(enforced.clone())
            .send()
            .await,
        "InvalidBucketAclWithObjectOwnership",
        400,
    );
    a.put_bucket_acl()
        .bucket("acl-pab")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    a.put_bucket_ownership_controls()
        .bucket("acl-pab")
        .ownership_controls(enforced)
        .send()
        .await
        .unwrap();
    assert_eq!(anon_get(&ts, "acl-pab/kept").await, 403);
    assert_eq!(object_owner(&a, "acl-pab", "kept").await, ts.org_id);
    // Deleting the controls enables ACLs again (no controls behaves as ObjectWriter).
    a.delete_bucket_ownership_controls()
        .bucket("acl-pab")
        .send()
        .await
        .unwrap();
    assert_eq!(anon_get(&ts, "acl-pab/kept").await, 200);
    assert_s3_err(
        a.get_bucket_ownership_controls()
            .bucket("acl-pab")
            .send()
            .await,
        "OwnershipControlsNotFoundError",
        404,
    );
    // Re-creating the bucket with another ACL never claims it (409).
    assert_s3_err(
        a.create_bucket()
            .bucket("acl-pab")
            .object_ownership(ObjectOwnership::ObjectWriter)
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        "BucketAlreadyExists",
        409,
    );
    // Only the owner org manages ownership controls.
    assert_s3_err(
        b.delete_bucket_ownership_controls()
            .bucket("acl-pab")
            .send()
            .await,
        "AccessDenied",
        403,
    );
}

/// A form upload applies its fields, so the `s3:x-amz-acl` condition key is read from
/// the `acl` field (an `x-amz-acl` HTTP header is refused as unsigned before that), and a
/// bucket policy's `Deny` on a public ACL holds for forms too.
#[tokio::test]
async fn form_uploads_are_judged_by_the_acl_they_apply() {
    let ts = TestServer::start().await;
    let (a, _) = ts.s3_client_with_allow_all().await;
    create_with(
        &a,
        "acl-form",
        ObjectOwnership::ObjectWriter,
        Some(BucketCannedAcl::PublicReadWrite),
    )
    .await;
    let deny = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "no-public-objects", "Effect": "Deny", "Principal": "*",
        "Action": "s3:PutObject", "Resource": "arn:aws:s3:::acl-form/*",
        "Condition": {"StringEquals": {"s3:x-amz-acl": "public-read"}}}]});
    a.put_bucket_policy()
        .bucket("acl-form")
        .policy(deny.to_string())
        .send()
        .await
        .unwrap();
    let post = |key: &'static str, acl: &'static str| {
        send(form_post(&ts, "acl-form", &[("key", key), ("acl", acl)]))
    };
    post("public", "public-read")
        .await
        .assert_err("AccessDenied", 403);
    assert_eq!(anon_get(&ts, "acl-form/public").await, 404);
    let r = post("private", "private").await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Written anonymously through AllUsers WRITE: the bucket owner owns it, privately.
    assert_eq!(anon_get(&ts, "acl-form/private").await, 403);
}
