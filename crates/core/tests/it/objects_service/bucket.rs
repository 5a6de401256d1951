use super::*;
use coffer_core::ids::audit_bucket_name;

fn cfg(zones: &[&str], max: usize) -> ObjectConfig {
    ObjectConfig {
        inline_threshold: THRESHOLD,
        zones: zones.iter().map(|z| z.to_string()).collect(),
        max_buckets_per_org: max,
        retired_blob_grace: std::time::Duration::ZERO,
        ..ObjectConfig::default()
    }
}

#[tokio::test]
async fn creation_rules() {
    let env = env_with(cfg(&["US-EAST-04A", "US-WEST-01A"], 4)).await;
    let s = &env.svc;
    assert!(matches!(
        s.create_bucket(ORG, "bk1", None).await,
        Err(Error::InvalidLocationConstraint(_))
    ));
    let b = s
        .create_bucket(ORG, "bk1", Some("US-WEST-01A"))
        .await
        .unwrap();
    assert_eq!(b.zone, "US-WEST-01A");
    assert_eq!(b.org_id, ORG);
    assert!(matches!(
        s.create_bucket(ORG, "bk2", Some("MARS-01")).await,
        Err(Error::InvalidLocationConstraint(_))
    ));
    // Idempotent in the same zone; other zone or other org fail.
    assert_eq!(
        s.create_bucket(ORG, "bk1", Some("US-WEST-01A"))
            .await
            .unwrap(),
        b
    );
    assert_eq!(
        s.create_bucket(ORG, "bk1", Some("US-EAST-04A"))
            .await
            .unwrap_err(),
        Error::BucketAlreadyOwnedByYou
    );
    assert_eq!(
        s.create_bucket("org002", "bk1", Some("US-WEST-01A"))
            .await
            .unwrap_err(),
        Error::BucketAlreadyExists
    );
    for bad in ["B1", "ab", "cw-mine", "int", "xn--abc", "a_b"] {
        assert!(
            matches!(
                s.create_bucket(ORG, bad, Some("US-EAST-04A")).await,
                Err(Error::InvalidBucketName(_))
            ),
            "{bad}"
        );
    }
    let audit = audit_bucket_name(ORG);
    assert!(matches!(
        s.create_bucket(ORG, &audit, Some("US-EAST-04A")).await,
        Err(Error::InvalidBucketName(_))
    ));
    let a = s.create_reserved_bucket(ORG, &audit).await.unwrap();
    assert_eq!(a.zone, "US-EAST-04A");
    assert_eq!(s.create_reserved_bucket(ORG, &audit).await.unwrap(), a);
    // "bkt" (from env), b1, audit: one more fits, then the limit.
    s.create_bucket(ORG, "bk3", Some("US-EAST-04A"))
        .await
        .unwrap();
    assert!(matches!(
        s.create_bucket(ORG, "bk4", Some("US-EAST-04A")).await,
        Err(Error::ResourceExhausted(_))
    ));
    // Re-creating an owned bucket is still fine at the limit; other orgs are unaffected.
    s.create_bucket(ORG, "bk3", Some("US-EAST-04A"))
        .await
        .unwrap();
    s.create_bucket("org002", "bk4", Some("us-east-04a"))
        .await
        .unwrap();
    let names: Vec<String> = s
        .list_buckets(ORG)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["bk1", "bk3", BUCKET, &audit]);
}

#[tokio::test]
async fn get_and_delete() {
    let env = env().await;
    let s = &env.svc;
    assert_eq!(s.get_bucket("nope").await.unwrap_err(), Error::NoSuchBucket);
    assert_eq!(
        s.delete_bucket("nope").await.unwrap_err(),
        Error::NoSuchBucket
    );
    put(&env, "k", b"x").await;
    assert_eq!(
        s.delete_bucket(BUCKET).await.unwrap_err(),
        Error::BucketNotEmpty
    );
    s.delete_object(BUCKET, "k").await.unwrap();
    s.delete_bucket(BUCKET).await.unwrap();
    assert_eq!(s.get_bucket(BUCKET).await.unwrap_err(), Error::NoSuchBucket);
}

/// A configuration edit authorized against one org's bucket never lands on a bucket of
/// the same name that another org owns (deleted and re-created in between).
#[tokio::test]
async fn edits_check_the_owner_the_caller_was_authorized_against() {
    use coffer_core::lifecycle::{Expiration, LifecycleConfiguration, LifecycleRule};
    let env = env().await;
    let cfg = LifecycleConfiguration {
        rules: vec![LifecycleRule {
            id: "r".into(),
            enabled: true,
            expiration: Some(Expiration {
                days: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    assert!(matches!(
        env.svc
            .set_lifecycle(BUCKET, "some-other-org", Some(cfg.clone()))
            .await,
        Err(Error::NoSuchBucket)
    ));
    assert_eq!(env.svc.get_bucket(BUCKET).await.unwrap().lifecycle, None);
    env.svc
        .set_lifecycle(BUCKET, ORG, Some(cfg.clone()))
        .await
        .unwrap();
    assert_eq!(
        env.svc.get_bucket(BUCKET).await.unwrap().lifecycle,
        Some(cfg)
    );
}
