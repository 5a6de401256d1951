//! `coffer policy …`, `coffer can-i`, `coffer bucket …` and `coffer org settings`
//! against a live server.

use crate::cli_common::server;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

fn policy(name: &str, effect: &str) -> Value {
    json!({
        "version": "v1alpha1",
        "name": name,
        "statements": [{
            "name": "read-data",
            "effect": effect,
            "actions": ["s3:GetObject", "s3:ListBucket"],
            "resources": ["data", "data/*"],
            "principals": ["role/readers"]
        }]
    })
}

fn names(v: &Value) -> Vec<&str> {
    v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn policy_apply_list_delete() {
    let (_s, cli) = server().await;
    let dir = tempfile::tempdir().unwrap();

    // The request-body form `{"policy":{…}}` …
    let wrapped = dir.path().join("wrapped.json");
    std::fs::write(
        &wrapped,
        json!({ "policy": policy("p1", "Allow") }).to_string(),
    )
    .unwrap();
    let a = cli
        .run(&["policy", "apply", "-f", wrapped.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(a.stdout.trim(), "Applied policy p1 (1 statement(s)).");
    // … the bare policy …
    let bare = dir.path().join("bare.json");
    std::fs::write(&bare, policy("p2", "Deny").to_string()).unwrap();
    let a = cli
        .run(&[
            "policy",
            "apply",
            "--file",
            bare.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok();
    assert_eq!(a.json(), json!({}));
    // … and stdin.
    cli.run_stdin(
        &["policy", "apply", "-f", "-"],
        &policy("p3", "Allow").to_string(),
    )
    .await
    .ok();

    let l = cli.run(&["policy", "list", "--json"]).await.ok().json();
    let mut got = names(&l);
    got.sort();
    assert_eq!(got, ["p1", "p2", "p3"]);
    let p2 = l["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "p2")
        .unwrap();
    assert_eq!(p2["statements"][0]["effect"], "Deny");

    let t = cli.run(&["policy", "list"]).await.ok();
    assert!(t.lines()[0].starts_with("POLICY"), "{t:#?}");
    let row = t.line_with(&["p2", "read-data"]);
    assert!(
        row.contains("Deny")
            && row.contains("s3:GetObject,s3:ListBucket")
            && row.contains("data,data/*")
            && row.contains("role/readers"),
        "{t:#?}"
    );

    // Apply replaces by name.
    std::fs::write(&bare, policy("p2", "Allow").to_string()).unwrap();
    cli.run(&["policy", "apply", "-f", bare.to_str().unwrap()])
        .await
        .ok();
    let l = cli.run(&["policy", "list", "--json"]).await.ok().json();
    assert_eq!(names(&l).len(), 3);

    // Validation errors come from the server, naming the statement.
    let mut invalid = policy("bad", "allow");
    invalid["statements"][0]["name"] = json!("stmt-x");
    std::fs::write(&bare, invalid.to_string()).unwrap();
    let r = cli
        .run(&["policy", "apply", "-f", bare.to_str().unwrap()])
        .await
        .fails(1, "(code 3)");
    assert!(r.stderr.contains("stmt-x"), "{r:#?}");
    // Local file problems: exit 1 before any request.
    std::fs::write(&bare, "{not json").unwrap();
    cli.run(&["policy", "apply", "-f", bare.to_str().unwrap()])
        .await
        .fails(1, "not valid JSON");
    cli.run(&["policy", "apply", "-f", "/nonexistent/p.json"])
        .await
        .fails(1, "cannot read");
    std::fs::write(&bare, "[1]").unwrap();
    cli.run(&["policy", "apply", "-f", bare.to_str().unwrap()])
        .await
        .fails(1, "JSON object");

    let d = cli.run(&["policy", "delete", "p1"]).await.ok();
    assert_eq!(d.stdout.trim(), "Deleted policy p1.");
    cli.run(&["policy", "delete", "p3", "--json"]).await.ok();
    let l = cli.run(&["policy", "list", "--json"]).await.ok().json();
    assert_eq!(names(&l), ["p2"]);
    cli.run(&["policy", "delete", "p1"])
        .await
        .fails(1, "(code 5)");
}

#[tokio::test]
async fn can_i_reports_verdict_and_decisions() {
    let (s, cli) = server().await;

    // An org admin may do every cwobject action without a policy.
    let y = cli.run(&["can-i", "cwobject:CreateAccessKey"]).await.ok();
    assert_eq!(y.lines()[0], "yes", "{y:#?}");
    assert!(
        y.line_with(&[
            "ACTION",
            "RESOURCE",
            "ALLOWED",
            "LAYER",
            "POLICY",
            "STATEMENT"
        ])
        .starts_with("ACTION")
    );
    assert!(
        y.line_with(&["cwobject:CreateAccessKey", "*"])
            .contains("yes")
    );

    // … but no S3 action: "no" exits 1 (like `kubectl auth can-i`), without an error line.
    let n = cli
        .run(&["can-i", "s3:GetObject", "--resource", "b/k", "--json"])
        .await;
    assert_eq!(n.code, 1, "{n:#?}");
    assert!(n.stderr.is_empty(), "{n:#?}");
    let v = n.json();
    assert_eq!(v["verdict"], false);
    assert_eq!(v["decisions"][0]["action"], "s3:GetObject");
    assert_eq!(v["decisions"][0]["resource"], "b/k");
    assert_eq!(v["decisions"][0]["allowed"], false);
    assert_eq!(v["decisions"][0]["decidedBy"]["layer"], "default");

    // With the allow-all policy: every pair allowed, decided by that policy's statement.
    s.allow_all().await;
    let t = cli
        .run(&[
            "can-i",
            "s3:GetObject",
            "s3:PutObject",
            "--resource",
            "b/k",
            "b/k2",
        ])
        .await
        .ok();
    assert_eq!(t.lines()[0], "yes");
    for (a, r) in [
        ("s3:GetObject", "b/k "),
        ("s3:GetObject", "b/k2"),
        ("s3:PutObject", "b/k "),
        ("s3:PutObject", "b/k2"),
    ] {
        let row = t.line_with(&[a, r]);
        assert!(
            row.contains("yes")
                && row.contains("org")
                && row.contains("test-policy")
                && row.contains("allow-everything"),
            "{t:#?}"
        );
    }
    let v = cli
        .run(&["can-i", "s3:GetObject", "--resource", "b/k", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        v["decisions"][0]["decidedBy"],
        json!({"layer": "org", "policy": "test-policy", "statement": "allow-everything"})
    );

    // A bucket policy's Deny is reported with layer `bucket`, the bucket and the Sid;
    // an org Deny with its policy and statement; the rest of the chain in one table.
    let s3 = s.s3_client(&s.create_key(&s.admin_token).await);
    s3.create_bucket().bucket("cani-bkt").send().await.unwrap();
    s3.put_bucket_policy()
        .bucket("cani-bkt")
        .policy(
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "NoSecrets", "Effect": "Deny", "Principal": "*",
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cani-bkt/secret/*"},
                {"Sid": "OrgAll", "Effect": "Allow", "Principal": {"CW": "coreweave/*"},
                 "Action": "s3:*", "Resource": "arn:aws:s3:::cani-bkt/*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    s.ensure_policy(json!({
        "version": "v1alpha1", "name": "guard",
        "statements": [{"name": "no-deletes", "effect": "Deny", "actions": ["s3:DeleteObject"],
                        "resources": ["cani-bkt/*"], "principals": ["*"]}]
    }))
    .await;
    let t = cli
        .run(&[
            "can-i",
            "s3:GetObject",
            "s3:DeleteObject",
            "--resource",
            "cani-bkt/secret/x",
            "cani-bkt/public/y",
        ])
        .await;
    assert_eq!(t.code, 1, "{t:#?}");
    assert_eq!(t.lines()[0], "no", "{t:#?}");
    let row = t.line_with(&["s3:GetObject", "cani-bkt/secret/x"]);
    assert!(
        row.contains("no")
            && row.contains("bucket")
            && row.contains("cani-bkt")
            && row.contains("NoSecrets"),
        "{t:#?}"
    );
    let row = t.line_with(&["s3:GetObject", "cani-bkt/public/y"]);
    assert!(
        row.contains("yes") && row.contains("bucket") && row.contains("OrgAll"),
        "{t:#?}"
    );
    for r in ["cani-bkt/secret/x", "cani-bkt/public/y"] {
        let row = t.line_with(&["s3:DeleteObject", r]);
        assert!(
            row.contains("no")
                && row.contains("org")
                && row.contains("guard")
                && row.contains("no-deletes"),
            "{t:#?}"
        );
    }
    let v = cli
        .run(&[
            "can-i",
            "s3:GetObject",
            "--resource",
            "cani-bkt/secret/x",
            "--json",
        ])
        .await
        .json();
    assert_eq!(
        v["decisions"][0]["decidedBy"],
        json!({"layer": "bucket", "policy": "cani-bkt", "statement": "NoSecrets"})
    );

    // Missing action: a usage error.
    let u = cli.run(&["can-i", "--resource", "b/k"]).await;
    assert_eq!(u.code, 2, "{u:#?}");
}

#[tokio::test]
async fn bucket_info_and_settings() {
    let (s, cli) = server().await;
    let (s3, _key) = s.s3_client_with_allow_all().await;
    s3.create_bucket().bucket("cli-bkt").send().await.unwrap();
    s3.create_bucket().bucket("cli-empty").send().await.unwrap();
    s3.put_object()
        .bucket("cli-bkt")
        .key("a.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();

    // List.
    let l = cli.run(&["bucket", "info", "--json"]).await.ok().json();
    let mut got: Vec<&str> = l["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, ["cli-bkt", "cli-empty"]);
    let page = cli
        .run(&["bucket", "info", "--limit", "1", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(page["info"].as_array().unwrap().len(), 1);
    let t = cli.run(&["bucket", "info"]).await.ok();
    assert!(t.lines()[0].starts_with("NAME"), "{t:#?}");
    let row = t.line_with(&["cli-bkt"]);
    assert!(
        row.contains("US-EAST-04A") && row.contains("5 B") && row.contains("off"),
        "{t:#?}"
    );

    // One bucket: exact usage.
    let b = cli
        .run(&["bucket", "info", "cli-bkt", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(b["info"]["name"], "cli-bkt");
    assert_eq!(b["info"]["orgId"], s.org_id.as_str());
    let usage = |kind: &str| {
        b["info"]["usage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["measurementType"] == kind)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(usage("OBJECT_COUNT"), "1");
    assert_eq!(usage("STORAGE_BYTES"), "5");
    let kv = cli.run(&["bucket", "info", "cli-bkt"]).await.ok();
    assert!(kv.line_with(&["Objects:"]).ends_with(" 1"), "{kv:#?}");
    assert!(kv.line_with(&["Size:"]).ends_with("5 B"), "{kv:#?}");
    assert!(
        kv.line_with(&["Capacity cap:"]).ends_with("none"),
        "{kv:#?}"
    );

    // Settings: partial updates, the cap as a u64 string on the wire.
    let v = cli
        .run(&[
            "bucket",
            "settings",
            "cli-bkt",
            "--capacity-cap",
            "1MiB",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(v["settings"]["capacityCapBytes"], "1048576");
    assert_eq!(v["settings"]["auditLoggingEnabled"], false);
    let v = cli
        .run(&[
            "bucket",
            "settings",
            "cli-bkt",
            "--audit-logging",
            "true",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        v["settings"],
        json!({"auditLoggingEnabled": true, "capacityCapBytes": "1048576"})
    );
    // No flags: show (same shape as the update's response).
    let show = cli.run(&["bucket", "settings", "cli-bkt"]).await.ok();
    assert!(
        show.line_with(&["Audit logging:"]).ends_with("on"),
        "{show:#?}"
    );
    assert!(
        show.line_with(&["Capacity cap:"])
            .ends_with("1048576 bytes (1.0 MiB)"),
        "{show:#?}"
    );
    let v = cli
        .run(&["bucket", "settings", "cli-bkt", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v["settings"]["capacityCapBytes"], "1048576");
    let v = cli
        .run(&[
            "bucket",
            "settings",
            "cli-bkt",
            "--clear-capacity-cap",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(v["settings"], json!({"auditLoggingEnabled": true}));

    // Errors.
    cli.run(&["bucket", "info", "no-such-bucket"])
        .await
        .fails(1, "(code 5)");
    cli.run(&[
        "bucket",
        "settings",
        "no-such-bucket",
        "--audit-logging",
        "false",
    ])
    .await
    .fails(1, "(code 5)");
    cli.run(&["bucket", "settings", "cli-bkt", "--capacity-cap", "0"])
        .await
        .fails(1, "(code 3)");
    for bad in [
        &[
            "bucket",
            "settings",
            "cli-bkt",
            "--capacity-cap",
            "1",
            "--clear-capacity-cap",
        ][..],
        &["bucket", "settings", "cli-bkt", "--capacity-cap", "lots"],
        &["bucket", "settings", "cli-bkt", "--audit-logging", "yes"],
        &["bucket", "info", "cli-bkt", "--limit", "1"],
    ] {
        let u = cli.run(bad).await;
        assert_eq!(u.code, 2, "{bad:?}: {u:#?}");
    }
}

#[tokio::test]
async fn org_settings_get_and_set() {
    let (_s, cli) = server().await;

    // No flags: GET (the extension), both fields present.
    let v = cli.run(&["org", "settings", "--json"]).await.ok().json();
    assert_eq!(
        v,
        json!({"settings": {"controlPlaneAuditLoggingEnabled": false, "bucketAuditLoggingEnabled": false}})
    );

    // Partial update.
    let v = cli
        .run(&["org", "settings", "--control-plane-audit", "true", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v["settings"]["controlPlaneAuditLoggingEnabled"], true);
    assert_eq!(v["settings"]["bucketAuditLoggingEnabled"], false);
    let t = cli
        .run(&["org", "settings", "--bucket-audit-default", "true"])
        .await
        .ok();
    assert!(
        t.line_with(&["Control-plane audit logging:"])
            .ends_with("on"),
        "{t:#?}"
    );
    assert!(
        t.line_with(&["Bucket audit logging default:"])
            .ends_with("on"),
        "{t:#?}"
    );
    let t = cli.run(&["org", "settings"]).await.ok();
    assert!(
        t.line_with(&["Bucket audit logging default:"])
            .ends_with("on"),
        "{t:#?}"
    );
    cli.run(&[
        "org",
        "settings",
        "--control-plane-audit",
        "false",
        "--bucket-audit-default",
        "false",
    ])
    .await
    .ok();
    let v = cli.run(&["org", "settings", "--json"]).await.ok().json();
    assert_eq!(v["settings"]["controlPlaneAuditLoggingEnabled"], false);

    let u = cli
        .run(&["org", "settings", "--control-plane-audit", "maybe"])
        .await;
    assert_eq!(u.code, 2, "{u:#?}");
}
