//! Public Access Block, GetBucketPolicyStatus, Object Ownership controls and ACLs on
//! writes, end to end with aws-sdk-s3 (signed) and reqwest (anonymous), two orgs.
//! Buckets are `BucketOwnerEnforced` (ACLs disabled) unless a test asks otherwise;
//! ACLs enabled are exercised in `authz_acl`.

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketCannedAcl, ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration,
};
use coffer_server::testing::s3_client_for;
use serde_json::json;

const OPERATOR: &str = "CW-SECRET-pab-operator-token-0123456789abcdef";

fn pab(acls: bool, ignore: bool, policy: bool, restrict: bool) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(acls)
        .ignore_public_acls(ignore)
        .block_public_policy(policy)
        .restrict_public_buckets(restrict)
        .build()
}

async fn put_pab(c: &Client, bucket: &str, conf: PublicAccessBlockConfiguration) {
    c.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(conf)
        .send()
        .await
        .unwrap();
}

fn public_read(bucket: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{bucket}/*")}]})
    .to_string()
}

#[tokio::test]
async fn public_access_block_round_trip_and_policy_status() {
    let ts = TestServer::start().await;
    let (c, key) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "pab").await;

    assert_s3_err(
        c.get_public_access_block().bucket("pab").send().await,
        "NoSuchPublicAccessBlockConfiguration",
        404,
    );
    // Deleting what is not there succeeds, as S3.
    c.delete_public_access_block()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    put_pab(&c, "pab", pab(true, false, true, false)).await;
    let got = c
        .get_public_access_block()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    let got = got.public_access_block_configuration().unwrap();
    assert_eq!(got.block_public_acls(), Some(true));
    assert_eq!(got.ignore_public_acls(), Some(false));
    assert_eq!(got.block_public_policy(), Some(true));
    assert_eq!(got.restrict_public_buckets(), Some(false));
    // Absent flags are false.
    c.put_public_access_block()
        .bucket("pab")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .ignore_public_acls(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = c
        .get_public_access_block()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    let got = got.public_access_block_configuration().unwrap();
    assert_eq!(got.block_public_acls(), Some(false));
    assert_eq!(got.ignore_public_acls(), Some(true));
    c.delete_public_access_block()
        .bucket("pab")
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.get_public_access_block().bucket("pab").send().await,
        "NoSuchPublicAccessBlockConfiguration",
        404,
    );

    // A malformed body is 400 once signed (unsigned: refused before it is read), and
    // stores nothing.
    let body = b"<PublicAccessBlockConfiguration><BlockPublicAcls>maybe".to_vec();
    let r = send(
        ts.http
            .put(format!("{}/pab?publicAccessBlock", ts.s3_endpoint))
            .body(body.clone()),
    )
    .await;
    assert_eq!(r.status, 403);
    let signer = Signer::new(&ts, &key);
    let q = vec![("publicAccessBlock".to_string(), String::new())];
    let (hs, _) = signer.sign(
        "PUT",
        "/pab",
        &q,
        &[],
        &sha256_hex(&body),
        time::OffsetDateTime::now_utc(),
    );
    let mut rb = ts
        .http
        .put(format!("{}/pab?publicAccessBlock", ts.s3_endpoint))
        .body(body);
    for (k, v) in hs {
        rb = rb.header(k, v);
    }
    send(rb).await.assert_err("MalformedXML", 400);
    assert_s3_err(
        c.get_public_access_block().bucket("pab").send().await,
        "NoSuchPublicAccessBlockConfiguration",
        404,
    );

    // Policy status: S3 answers NoSuchBucketPolicy without a policy.
    assert_s3_err(
        c.get_bucket_policy_status().bucket("pab").send().await,
        "NoSuchBucketPolicy",
        404,
    );
    c.put_bucket_policy()
        .bucket("pab")
        .policy(public_read("pab"))
        .send()
        .await
        .unwrap();
    assert_eq!(policy_is_public(&c, "pab").await, Some(true));
    assert_s3_err(
        c.get_public_access_block()
            .bucket("no-such-pab")
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
}

#[tokio::test]
async fn block_public_policy_and_acls_refuse_what_they_block() {
    let ts = TestServer::start().await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "blk").await;
    // A public policy stored before the block stays (S3 never rewrites policies).
    c.put_bucket_policy()
        .bucket("blk")
        .policy(public_read("blk"))
        .send()
        .await
        .unwrap();
    put_pab(&c, "blk", pab(true, false, true, false)).await;
    assert!(c.get_bucket_policy().bucket("blk").send().await.is_ok());
    c.delete_bucket_policy().bucket("blk").send().await.unwrap();

    assert_s3_err(
        c.put_bucket_policy()
            .bucket("blk")
            .policy(public_read("blk"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        c.get_bucket_policy().bucket("blk").send().await,
        "NoSuchBucketPolicy",
        404,
    );
    // A policy naming its principals is not public, and is accepted.
    let named = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"CW": "coreweave/*"}, "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::blk/*"}]})
    .to_string();
    c.put_bucket_policy()
        .bucket("blk")
        .policy(named)
        .send()
        .await
        .unwrap();
    // A condition that admits every signed caller of every org leaves it public.
    let signed_in = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::blk/*",
        "Condition": {"Null": {"aws:username": "false"}}}]})
    .to_string();
    assert_s3_err(
        c.put_bucket_policy()
            .bucket("blk")
            .policy(signed_in)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // (A policy that exists denies the owner org what it does not allow: remove it.)
    c.delete_bucket_policy().bucket("blk").send().await.unwrap();

    // BlockPublicAcls: a public ACL is 403 (before the ownership rule's 400), and
    // nothing is written; private still works.
    for acl in [
        ObjectCannedAcl::PublicRead,
        ObjectCannedAcl::PublicReadWrite,
        ObjectCannedAcl::AuthenticatedRead,
    ] {
        assert_s3_err(
            c.put_object()
                .bucket("blk")
                .key("k")
                .body(b"x".to_vec().into())
                .acl(acl.clone())
                .send()
                .await,
            "AccessDenied",
            403,
        );
        assert_s3_err(
            c.create_multipart_upload()
                .bucket("blk")
                .key("k")
                .acl(acl)
                .send()
                .await,
            "AccessDenied",
            403,
        );
    }
    assert!(!exists(&c, "blk", "k").await);
    assert_s3_err(
        c.put_object()
            .bucket("blk")
            .key("k")
            .body(b"x".to_vec().into())
            .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    c.put_object()
        .bucket("blk")
        .key("k")
        .body(b"x".to_vec().into())
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    for acl in [
        BucketCannedAcl::PublicRead,
        BucketCannedAcl::AuthenticatedRead,
    ] {
        assert_s3_err(
            c.put_bucket_acl().bucket("blk").acl(acl).send().await,
            "AccessDenied",
            403,
        );
    }
    assert_s3_err(
        c.put_object_acl()
            .bucket("blk")
            .key("k")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // Without the block, the same ACL meets the ownership rule.
    c.delete_public_access_block()
        .bucket("blk")
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.put_object()
            .bucket("blk")
            .key("k2")
            .body(b"x".to_vec().into())
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    assert!(!exists(&c, "blk", "k2").await);
}

#[tokio::test]
async fn restrict_public_buckets_keeps_a_public_policy_to_the_owner_org() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    let (_org_b, _, bob_token) = ts.org_with_allow_all_admin(OPERATOR, "b").await;
    let bob = s3_client_for(&ts.s3_endpoint, &ts.create_key(&bob_token).await);
    make_bucket(&c, "rpb").await;
    put(&c, "rpb", "foo", b"bar").await;
    c.put_bucket_policy()
        .bucket("rpb")
        .policy(public_read("rpb"))
        .send()
        .await
        .unwrap();
    let url = format!("{}/rpb/foo", ts.s3_endpoint);
    assert_eq!(send(ts.http.get(&url)).await.status, 200);
    assert_eq!(get(&bob, "rpb", "foo").await, b"bar");

    put_pab(&c, "rpb", pab(false, false, false, true)).await;
    send(ts.http.get(&url))
        .await
        .assert_err("AccessDenied", 403);
    assert_s3_err(
        bob.get_object().bucket("rpb").key("foo").send().await,
        "AccessDenied",
        403,
    );
    // The owner org is still let in by the same statement.
    assert_eq!(get(&c, "rpb", "foo").await, b"bar");

    // Another org can manage neither the block nor the ownership, even when a bucket
    // policy allows it everything (org-only actions, like the policy itself).
    c.delete_public_access_block()
        .bucket("rpb")
        .send()
        .await
        .unwrap();
    let everything = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::rpb", "arn:aws:s3:::rpb/*"]}]})
    .to_string();
    c.put_bucket_policy()
        .bucket("rpb")
        .policy(everything)
        .send()
        .await
        .unwrap();
    // Reading it is an ordinary action, which the policy grants.
    assert_s3_err(
        bob.get_public_access_block().bucket("rpb").send().await,
        "NoSuchPublicAccessBlockConfiguration",
        404,
    );
    assert_s3_err(
        bob.put_public_access_block()
            .bucket("rpb")
            .public_access_block_configuration(pab(true, true, true, true))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        bob.delete_public_access_block().bucket("rpb").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        bob.put_bucket_ownership_controls()
            .bucket("rpb")
            .ownership_controls(ownership(ObjectOwnership::BucketOwnerEnforced))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        bob.delete_bucket_ownership_controls()
            .bucket("rpb")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        c.get_public_access_block().bucket("rpb").send().await,
        "NoSuchPublicAccessBlockConfiguration",
        404,
    );
    // Anonymous callers neither.
    send(
        ts.http
            .delete(format!("{}/rpb?publicAccessBlock", ts.s3_endpoint)),
    )
    .await
    .assert_err("AccessDenied", 403);

    // With ACLs disabled another org's writer may name only the bucket owner's full
    // control; its `private` would make it the owner, which ACLs disabled rule out.
    bob.put_object()
        .bucket("rpb")
        .key("bfc")
        .body(b"x".to_vec().into())
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .send()
        .await
        .unwrap();
    let owner = c
        .get_object_acl()
        .bucket("rpb")
        .key("bfc")
        .send()
        .await
        .unwrap();
    assert_eq!(owner.owner().and_then(|o| o.id()), Some(ts.org_id.as_str()));
    assert_s3_err(
        bob.put_object()
            .bucket("rpb")
            .key("mine")
            .body(b"x".to_vec().into())
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    assert_s3_err(
        bob.copy_object()
            .bucket("rpb")
            .key("mine")
            .copy_source("rpb/foo")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    assert!(!exists(&c, "rpb", "mine").await);
    // ... and may not "set" the bucket's or an object's ACL, not even to private.
    assert_s3_err(
        bob.put_bucket_acl()
            .bucket("rpb")
            .acl(BucketCannedAcl::Private)
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    assert_s3_err(
        bob.put_object_acl()
            .bucket("rpb")
            .key("foo")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    // An anonymous writer (let in by the policy) never owns what it writes: `private`
    // is the bucket owner's full control, a public ACL is refused.
    let url = format!("{}/rpb/anon", ts.s3_endpoint);
    let r = send(ts.http.put(&url).header("x-amz-acl", "private").body("a")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    send(
        ts.http
            .put(&url)
            .header("x-amz-acl", "public-read")
            .body("b"),
    )
    .await
    .assert_err("AccessControlListNotSupported", 400);
    assert_eq!(get(&c, "rpb", "anon").await, b"a");
    // A form upload's `acl` field is checked like the header.
    let post = |acl_field: &'static str, acl: &'static str| {
        send(form_post(&ts, "rpb", &[("key", "form"), (acl_field, acl)]))
    };
    post("acl", "public-read")
        .await
        .assert_err("AccessControlListNotSupported", 400);
    post("x-amz-acl", "public-read")
        .await
        .assert_err("AccessControlListNotSupported", 400);
    assert!(!exists(&c, "rpb", "form").await);
    let r = post("acl", "bucket-owner-full-control").await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(exists(&c, "rpb", "form").await);
    // The owner's own private is the no-op it always was.
    c.put_object()
        .bucket("rpb")
        .key("own")
        .body(b"x".to_vec().into())
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
}

fn ownership(o: ObjectOwnership) -> OwnershipControls {
    OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(o)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

async fn ownership_of(c: &Client, bucket: &str) -> ObjectOwnership {
    c.get_bucket_ownership_controls()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .ownership_controls()
        .unwrap()
        .rules()[0]
        .object_ownership()
        .clone()
}

#[tokio::test]
async fn ownership_controls_are_bucket_owner_enforced() {
    let ts = TestServer::start().await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "own").await;
    assert_eq!(
        ownership_of(&c, "own").await,
        ObjectOwnership::BucketOwnerEnforced
    );
    c.put_bucket_ownership_controls()
        .bucket("own")
        .ownership_controls(ownership(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .unwrap();
    // Every setting round-trips; deleting the controls leaves none (ObjectWriter in
    // effect, as on S3), and 204 again when there are none.
    for o in [
        ObjectOwnership::ObjectWriter,
        ObjectOwnership::BucketOwnerPreferred,
        ObjectOwnership::BucketOwnerEnforced,
    ] {
        c.put_bucket_ownership_controls()
            .bucket("own")
            .ownership_controls(ownership(o.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(ownership_of(&c, "own").await, o);
    }
    for _ in 0..2 {
        c.delete_bucket_ownership_controls()
            .bucket("own")
            .send()
            .await
            .unwrap();
    }
    assert_s3_err(
        c.get_bucket_ownership_controls().bucket("own").send().await,
        "OwnershipControlsNotFoundError",
        404,
    );
    c.put_bucket_ownership_controls()
        .bucket("own")
        .ownership_controls(ownership(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.put_bucket_ownership_controls()
            .bucket("own")
            .ownership_controls(ownership(ObjectOwnership::from("Nobody")))
            .send()
            .await,
        "MalformedXML",
        400,
    );
    let two = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()
                .unwrap(),
        )
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_s3_err(
        c.put_bucket_ownership_controls()
            .bucket("own")
            .ownership_controls(two)
            .send()
            .await,
        "MalformedXML",
        400,
    );
    assert_eq!(
        ownership_of(&c, "own").await,
        ObjectOwnership::BucketOwnerEnforced
    );

    // CreateBucket: the ownership header and ACLs.
    c.create_bucket()
        .bucket("own-enforced")
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ownership_of(&c, "own-enforced").await,
        ObjectOwnership::BucketOwnerEnforced
    );
    c.create_bucket()
        .bucket("own-writer")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ownership_of(&c, "own-writer").await,
        ObjectOwnership::ObjectWriter
    );
    assert_s3_err(
        c.create_bucket()
            .bucket("own-public")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        "InvalidBucketAclWithObjectOwnership",
        400,
    );
    assert_s3_err(
        c.create_bucket()
            .bucket("own-bad")
            .object_ownership(ObjectOwnership::from("Nobody"))
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    for b in ["own-public", "own-bad"] {
        assert_s3_err(c.head_bucket().bucket(b).send().await, "NotFound", 404);
    }
}
