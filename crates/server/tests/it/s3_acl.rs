//! S3 ACL operations end to end with aws-sdk-s3 (SPEC §9). With Object Ownership
//! `BucketOwnerEnforced` (the default for every bucket) ACLs are disabled and
//! GetBucketAcl / GetObjectAcl answer what S3 answers then: the bucket owner (the org id)
//! with FULL_CONTROL. Reading an ACL is authorized like any other action
//! (`s3:GetBucketAcl`, `s3:GetObjectAcl`, `s3:GetObjectVersionAcl` for a version); other
//! orgs need a bucket policy.

use crate::s3_common::*;
use aws_sdk_s3::types::{Permission, Type};
use coffer_server::testing::s3_client_for;

const OPERATOR: &str = "CW-SECRET-acl-operator-token-0123456789abcdef";

#[tokio::test]
async fn acls_read_as_the_owners_full_control_while_disabled() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "acls").await;
    enable_versioning(&c, "acls").await;
    let v1 = c
        .put_object()
        .bucket("acls")
        .key("k")
        .body(b"one".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    put(&c, "acls", "k", b"two").await;

    let owner_full_control = |owner: Option<&aws_sdk_s3::types::Owner>,
                              grants: &[aws_sdk_s3::types::Grant]| {
        assert_eq!(owner.and_then(|o| o.id()), Some(ts.org_id.as_str()));
        assert_eq!(grants.len(), 1, "{grants:?}");
        let g = &grants[0];
        assert_eq!(g.permission(), Some(&Permission::FullControl));
        let who = g.grantee().unwrap();
        assert_eq!(who.r#type(), &Type::CanonicalUser);
        assert_eq!(who.id(), Some(ts.org_id.as_str()));
    };
    let b = c.get_bucket_acl().bucket("acls").send().await.unwrap();
    owner_full_control(b.owner(), b.grants());
    let o = c
        .get_object_acl()
        .bucket("acls")
        .key("k")
        .send()
        .await
        .unwrap();
    owner_full_control(o.owner(), o.grants());
    let o = c
        .get_object_acl()
        .bucket("acls")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    owner_full_control(o.owner(), o.grants());

    // Missing things are the usual errors.
    assert_s3_err(
        c.get_object_acl().bucket("acls").key("nope").send().await,
        "NoSuchKey",
        404,
    );
    assert_s3_err(
        c.get_object_acl()
            .bucket("acls")
            .key("k")
            .version_id("00000000000000000000000000000000")
            .send()
            .await,
        "NoSuchVersion",
        404,
    );
    assert_s3_err(
        c.get_bucket_acl().bucket("no-such-acls").send().await,
        "NoSuchBucket",
        404,
    );

    // Another org's principal, allowed everything by its own org, gets nothing without
    // a bucket policy; anonymous callers neither.
    let (_org_b, _, bob_token) = ts.org_with_allow_all_admin(OPERATOR, "b").await;
    let b = s3_client_for(&ts.s3_endpoint, &ts.create_key(&bob_token).await);
    assert_s3_err(
        b.get_bucket_acl().bucket("acls").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        b.get_object_acl().bucket("acls").key("k").send().await,
        "AccessDenied",
        403,
    );
    let r = ts
        .http
        .get(format!("{}/acls?acl", ts.s3_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn acl_writes_while_disabled_accept_only_the_owners_full_control() {
    use aws_sdk_s3::types::{
        AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, Owner,
    };
    let ts = TestServer::start().await;
    let (c, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&c, "aclw").await;
    put(&c, "aclw", "k", b"v").await;
    let org = ts.org_id.clone();
    let all_users = "http://acs.amazonaws.com/groups/global/AllUsers";

    // Accepted, and nothing changes: private, the owner's own full control.
    c.put_bucket_acl()
        .bucket("aclw")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    c.put_bucket_acl()
        .bucket("aclw")
        .grant_full_control(format!("id={org}"))
        .send()
        .await
        .unwrap();
    for canned in [
        ObjectCannedAcl::Private,
        ObjectCannedAcl::BucketOwnerFullControl,
    ] {
        c.put_object_acl()
            .bucket("aclw")
            .key("k")
            .acl(canned)
            .send()
            .await
            .unwrap();
    }
    let owner_grant = |g: Grantee| {
        Grant::builder()
            .grantee(g)
            .permission(Permission::FullControl)
            .build()
    };
    let canonical = |id: &str| {
        Grantee::builder()
            .r#type(Type::CanonicalUser)
            .id(id)
            .build()
            .unwrap()
    };
    c.put_object_acl()
        .bucket("aclw")
        .key("k")
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(Owner::builder().id(&org).build())
                .grants(owner_grant(canonical(&org)))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = c
        .get_object_acl()
        .bucket("aclw")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(got.grants().len(), 1);

    // Anything else: ACLs are disabled (S3's 400), whatever the form.
    assert_s3_err(
        c.put_bucket_acl()
            .bucket("aclw")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    assert_s3_err(
        c.put_bucket_acl()
            .bucket("aclw")
            .grant_read(format!("uri=\"{all_users}\""))
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    assert_s3_err(
        c.put_object_acl()
            .bucket("aclw")
            .key("k")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );
    assert_s3_err(
        c.put_object_acl()
            .bucket("aclw")
            .key("k")
            .access_control_policy(
                AccessControlPolicy::builder()
                    .grants(owner_grant(canonical(&org)))
                    .grants(
                        Grant::builder()
                            .grantee(
                                Grantee::builder()
                                    .r#type(Type::Group)
                                    .uri(all_users)
                                    .build()
                                    .unwrap(),
                            )
                            .permission(Permission::Read)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await,
        "AccessControlListNotSupported",
        400,
    );

    // Malformed requests are refused as such first.
    assert_s3_err(
        c.put_bucket_acl()
            .bucket("aclw")
            .acl(BucketCannedAcl::from("no-such-canned-acl"))
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.put_bucket_acl()
            .bucket("aclw")
            .grant_read("id=\"_foo\"")
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.put_bucket_acl()
            .bucket("aclw")
            .grant_read("emailAddress=\"nobody@example.com\"")
            .send()
            .await,
        "UnresolvableGrantByEmailAddress",
        400,
    );
    assert_s3_err(
        c.put_bucket_acl()
            .bucket("aclw")
            .acl(BucketCannedAcl::Private)
            .grant_full_control(format!("id={org}"))
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert_s3_err(
        c.put_object_acl()
            .bucket("aclw")
            .key("k")
            .access_control_policy(
                AccessControlPolicy::builder()
                    .owner(Owner::builder().id("zzzzzz").build())
                    .grants(owner_grant(canonical(&org)))
                    .build(),
            )
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    assert_s3_err(
        c.put_object_acl()
            .bucket("aclw")
            .key("missing")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    // Still the owner's full control only.
    let got = c.get_bucket_acl().bucket("aclw").send().await.unwrap();
    assert_eq!(got.grants().len(), 1);
    assert_eq!(
        got.grants()[0].grantee().and_then(|g| g.id()),
        Some(org.as_str())
    );
}
