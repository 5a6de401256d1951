//! `coffer audit verify|tail|query` against a live server: reading the audit bucket
//! through S3 with the caller's credentials (a temporary key made with the API token,
//! or explicit keys), the filters, and `verify` detecting a deleted, a reordered and an
//! edited audit object.

use crate::cli_common::Cli;
use coffer_server::testing::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

async fn setting(ts: &TestServer, path: &str, body: Value) {
    let (s, v) = ts
        .api(Method::PUT, path, Some(&ts.admin_token), Some(body))
        .await;
    assert_eq!(s, 200, "{v}");
}

/// A server whose org logs control-plane calls and bucket `logged`, with three flushes
/// of data-plane events (so each chain has several objects).
async fn logged_server() -> (TestServer, aws_sdk_s3::Client) {
    let ts = TestServer::start().await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    s3.create_bucket().bucket("logged").send().await.unwrap();
    setting(
        &ts,
        "/v1/cwobject/bucket/settings",
        json!({"bucketName": "logged", "settings": {"auditLoggingEnabled": true}}),
    )
    .await;
    setting(
        &ts,
        "/v1/cwobject/organization/settings",
        json!({"settings": {"controlPlaneAuditLoggingEnabled": true}}),
    )
    .await;
    for round in 0..3 {
        for i in 0..2 {
            s3.put_object()
                .bucket("logged")
                .key(format!("r{round}/{i}"))
                .body(b"x".to_vec().into())
                .send()
                .await
                .unwrap();
        }
        ts.flush_audit().await;
    }
    // An anonymous (denied) read.
    let r = reqwest::get(format!("{}/logged/r0/0", ts.s3_endpoint))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    ts.flush_audit().await;
    (ts, s3)
}

fn s3_args(ts: &TestServer) -> Vec<String> {
    vec!["--s3-endpoint".into(), ts.s3_endpoint.clone()]
}

async fn audit(cli: &Cli, ts: &TestServer, args: &[&str]) -> crate::cli_common::Run {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    let extra = s3_args(ts);
    all.extend(extra.iter().map(String::as_str));
    cli.run(&all).await
}

fn events(run: &crate::cli_common::Run) -> Vec<Value> {
    run.lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn query_and_tail_read_the_audit_bucket_with_the_callers_permissions() {
    let (ts, _) = logged_server().await;
    let cli = Cli::new(&ts);

    let puts = events(
        &audit(
            &cli,
            &ts,
            &["query", "--bucket", "logged", "--action", "s3:PutObject"],
        )
        .await
        .ok(),
    );
    assert_eq!(puts.len(), 6);
    let keys: Vec<&str> = puts.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["r0/0", "r0/1", "r1/0", "r1/1", "r2/0", "r2/1"],
        "oldest first"
    );

    let denied = events(
        &audit(&cli, &ts, &["query", "--result", "denied"])
            .await
            .ok(),
    );
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["principal"], json!("anonymous"));

    let principal = format!("coreweave/{}", ts.admin_uid);
    let mine = events(
        &audit(
            &cli,
            &ts,
            &["query", "--principal", &principal, "--action", "s3:*"],
        )
        .await
        .ok(),
    );
    assert_eq!(mine.len(), 6, "data-plane ARNs end in the principal");
    let cp = events(
        &audit(
            &cli,
            &ts,
            &["query", "--action", "cwobject:SetOrganizationSettings"],
        )
        .await
        .ok(),
    );
    assert_eq!(cp.len(), 1);
    assert_eq!(cp[0]["principal"], json!(principal));

    assert_eq!(
        events(&audit(&cli, &ts, &["query", "--since", "1h"]).await.ok()).len(),
        7 + 1
    );
    assert!(
        events(
            &audit(&cli, &ts, &["query", "--until", "2000-01-01"])
                .await
                .ok()
        )
        .is_empty()
    );
    audit(&cli, &ts, &["query", "--since", "yesterday"])
        .await
        .fails(2, "bad time");
    let run = audit(&cli, &ts, &["query", "--result", "maybe"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("maybe"), "{run:?}");

    // The temporary key each run made is revoked when it ends.
    let active = |run: crate::cli_common::Run| run.json()["info"].as_array().map_or(0, Vec::len);
    let before = active(
        cli.run(&["key", "list", "--status", "active", "--json"])
            .await
            .ok(),
    );
    audit(&cli, &ts, &["query", "--result", "allowed"])
        .await
        .ok();
    let after = active(
        cli.run(&["key", "list", "--status", "active", "--json"])
            .await
            .ok(),
    );
    assert_eq!(before, after, "no key left behind");

    let tail = events(&audit(&cli, &ts, &["tail", "-n", "2"]).await.ok());
    assert_eq!(tail.len(), 2);
    assert_eq!(tail[1]["result"], json!("denied"), "the newest event last");

    // Explicit credentials are used as given: a wrong secret is refused by S3.
    let (s, k) = ts
        .api(
            Method::POST,
            "/v1/cwobject/access-key",
            Some(&ts.admin_token),
            Some(json!({"durationSeconds": 0})),
        )
        .await;
    assert_eq!(s, 200);
    let id = k["accessKeyId"].as_str().unwrap();
    let secret = k["secretKey"].as_str().unwrap();
    let org = ts.org_id.clone();
    let ok = cli
        .exec(
            &[
                "audit",
                "query",
                "--bucket",
                "logged",
                "--s3-endpoint",
                &ts.s3_endpoint,
                "--org",
                &org,
            ],
            &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
            None,
        )
        .await
        .ok();
    assert_eq!(events(&ok).len(), 7);
    cli.exec(
        &[
            "audit",
            "verify",
            "--s3-endpoint",
            &ts.s3_endpoint,
            "--org",
            &org,
            "--access-key",
            id,
            "--secret-key",
            "wrong-wrong-wrong-wrong-wrong-wrong-wron",
        ],
        &[],
        None,
    )
    .await
    .fails(1, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn another_orgs_audit_bucket_is_not_readable() {
    let op = "operator-token-operator-token-0123456789";
    let ts = TestServer::start_with_operator(op).await;
    let (_org_b, _, token_b) = ts.org_with_allow_all_admin(op, "other").await;
    let cli_b = Cli::with(&ts.api_endpoint, &token_b);
    // Org A's bucket exists once logging was enabled.
    setting(
        &ts,
        "/v1/cwobject/organization/settings",
        json!({"settings": {"controlPlaneAuditLoggingEnabled": true}}),
    )
    .await;
    ts.flush_audit().await;
    let org_a = ts.org_id.clone();
    audit(&cli_b, &ts, &["verify", "--org", &org_a])
        .await
        .fails(1, "AccessDenied");
}

/// Runs `verify` and returns (exit code, problem lines).
async fn verify(cli: &Cli, ts: &TestServer) -> (i32, Vec<String>) {
    let run = audit(cli, ts, &["verify"]).await;
    let problems = run
        .lines()
        .iter()
        .filter(|l| l.starts_with("PROBLEM"))
        .map(|l| l.to_string())
        .collect();
    (run.code, problems)
}

async fn data_plane_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut keys: Vec<String> = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("data-plane/")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    keys.sort_by_key(|k| k.rsplit('-').next().unwrap().to_string());
    keys
}

async fn put_raw(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, b: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(b.into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn verify_reports_deleted_reordered_and_edited_objects() {
    use coffer_server::audit::chain;
    let (ts, s3) = logged_server().await;
    let cli = Cli::new(&ts);
    let bucket = format!("cw-{}-audit-logs", ts.org_id);
    let run = audit(&cli, &ts, &["verify"]).await.ok();
    assert!(run.stdout.contains("OK: every chain is intact"), "{run:?}");
    run.line_with(&["chain data-plane/logged", "4 objects", "7 events"]);

    let keys = data_plane_keys(&s3, &bucket).await;
    assert_eq!(keys.len(), 4, "{keys:?}");
    let originals: Vec<Vec<u8>> = {
        let mut v = Vec::new();
        for k in &keys {
            v.push(coffer_server::testing::object_bytes(&s3, &bucket, k).await);
        }
        v
    };

    // 1. Edited: seq 2's events changed (header kept, so only the chain shows it).
    let d = chain::decode(&originals[1]).unwrap();
    let mut lines: Vec<Vec<u8>> = d.events.iter().map(|l| l.as_bytes().to_vec()).collect();
    lines[0] = String::from_utf8(lines[0].clone())
        .unwrap()
        .replace("\"allowed\"", "\"denied\"")
        .into_bytes();
    put_raw(
        &s3,
        &bucket,
        &keys[1],
        chain::encode(&d.header.unwrap(), &lines).unwrap(),
    )
    .await;
    let (code, problems) = verify(&cli, &ts).await;
    assert_eq!(code, 1);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("PROBLEM edited") && problems[0].contains(&keys[2]),
        "{problems:?}"
    );
    put_raw(&s3, &bucket, &keys[1], originals[1].clone()).await;
    assert_eq!(verify(&cli, &ts).await, (0, vec![]));

    // 2. Reordered: the contents of seq 2 and 3 swapped.
    put_raw(&s3, &bucket, &keys[1], originals[2].clone()).await;
    put_raw(&s3, &bucket, &keys[2], originals[1].clone()).await;
    let (code, problems) = verify(&cli, &ts).await;
    assert_eq!(code, 1);
    assert!(
        problems.iter().any(|p| p.starts_with("PROBLEM reordered")),
        "{problems:?}"
    );
    put_raw(&s3, &bucket, &keys[1], originals[1].clone()).await;
    put_raw(&s3, &bucket, &keys[2], originals[2].clone()).await;
    assert_eq!(verify(&cli, &ts).await, (0, vec![]));

    // 3. Deleted: seq 2 removed.
    s3.delete_object()
        .bucket(&bucket)
        .key(&keys[1])
        .send()
        .await
        .unwrap();
    let (code, problems) = verify(&cli, &ts).await;
    assert_eq!(code, 1);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("PROBLEM deleted") && problems[0].contains("seq 2 is missing"),
        "{problems:?}"
    );

    // --json carries the same report.
    let run = audit(&cli, &ts, &["verify", "--json"]).await;
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["problems"][0]["kind"], json!("deleted"));
}
