use super::*;

pub async fn policies_and_settings(s: &dyn MetaStore) {
    let o = uniq();
    let pol = |name: &str, doc: &str| StoredPolicy {
        org_id: o.clone(),
        name: name.to_string(),
        document: doc.to_string(),
        updated: ts(7),
    };
    let (a, b) = (pol("alpha", "{\"v\":1}"), pol("beta", "{\"v\":2}"));
    let q = Quotas::default();
    s.put_policy(&b, &q).await.unwrap();
    s.put_policy(&a, &q).await.unwrap();
    let a2 = pol("alpha", "{\"v\":3}");
    s.put_policy(&a2, &q).await.unwrap();
    let mut got = s.list_policies(&o).await.unwrap();
    got.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(got, vec![a2.clone(), b.clone()]);
    let all = s.list_all_policies().await.unwrap();
    assert!(all.contains(&a2) && all.contains(&b) && !all.contains(&a));
    s.delete_policy(&o, "alpha").await.unwrap();
    assert_err!(s.delete_policy(&o, "alpha").await, Error::NotFound(_));
    assert_eq!(s.list_policies(&o).await.unwrap(), vec![b]);
    assert!(s.list_policies(&uniq()).await.unwrap().is_empty());

    assert_eq!(
        s.get_org_settings(&o).await.unwrap(),
        OrgSettings::default()
    );
    let st = OrgSettings {
        control_plane_audit_logging: true,
        bucket_audit_logging_default: true,
    };
    s.put_org_settings(&o, &st).await.unwrap();
    assert_eq!(s.get_org_settings(&o).await.unwrap(), st);
    let st2 = OrgSettings {
        control_plane_audit_logging: false,
        ..st
    };
    s.put_org_settings(&o, &st2).await.unwrap();
    assert_eq!(s.get_org_settings(&o).await.unwrap(), st2);
}

/// The policy quota of `put_policy`: a new name at the quota is refused and stores
/// nothing; replacing an existing policy is always allowed.
pub async fn policy_quota(s: &dyn MetaStore) {
    let o = uniq();
    s.create_org(&org(&o)).await.unwrap();
    let q = Quotas {
        policies_per_org: 2,
        ..Quotas::default()
    };
    let pol = |name: &str, doc: &str| StoredPolicy {
        org_id: o.clone(),
        name: name.to_string(),
        document: doc.to_string(),
        updated: ts(7),
    };
    s.put_policy(&pol("a", "{}"), &q).await.unwrap();
    s.put_policy(&pol("b", "{}"), &q).await.unwrap();
    match s.put_policy(&pol("c", "{}"), &q).await {
        Err(Error::ResourceExhausted(m)) => assert!(m.contains("max_policies_per_org"), "{m}"),
        other => panic!("{other:?}"),
    }
    s.put_policy(&pol("b", "{\"v\":2}"), &q).await.unwrap();
    let names: Vec<String> = s
        .list_policies(&o)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"a".to_string()) && names.contains(&"b".to_string()));
    s.delete_policy(&o, "a").await.unwrap();
    s.put_policy(&pol("c", "{}"), &q).await.unwrap();
}
