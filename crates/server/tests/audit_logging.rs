//! Audit logging end to end (SPEC §6): the switches, control-plane events of mutating
//! management calls, data-plane events of S3 requests on logged buckets (denied ones
//! included), delivery as gzip JSON Lines objects in `cw-<orgId>-audit-logs` read back
//! through aws-sdk-s3, and exactly-once delivery of a spool left by a previous run —
//! also when a flush's objects were written but its segments not yet deleted.

mod mgmt_common;
mod s3_common;

use aws_sdk_s3::Client;
use mgmt_common::member;
use reqwest::Method;
use s3_common::{TestKey, TestServer, make_bucket, put};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::Read;

fn audit_bucket(ts: &TestServer) -> String {
    format!("cw-{}-audit-logs", ts.org_id)
}

async fn call(ts: &TestServer, token: &str, method: Method, path: &str, body: Value) -> u16 {
    ts.api(method, path, Some(token), Some(body)).await.0
}

async fn org_settings(ts: &TestServer, settings: Value) {
    let s = call(
        ts,
        &ts.admin_token,
        Method::PUT,
        "/v1/cwobject/organization/settings",
        json!({ "settings": settings }),
    )
    .await;
    assert_eq!(s, 200);
}

async fn bucket_logging(ts: &TestServer, bucket: &str, on: bool) {
    let s = call(
        ts,
        &ts.admin_token,
        Method::PUT,
        "/v1/cwobject/bucket/settings",
        json!({"bucketName": bucket, "settings": {"auditLoggingEnabled": on}}),
    )
    .await;
    assert_eq!(s, 200);
}

/// Every event under `prefix` of the audit bucket, objects in key order (hour, then
/// flush sequence), lines in file order.
async fn events(c: &Client, bucket: &str, prefix: &str) -> Vec<Value> {
    let list = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list audit objects");
    let mut keys: Vec<String> = list
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        assert!(key.ends_with(".jsonl.gz"), "{key}");
        let gz = c
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .expect("get audit object")
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .expect("gzip");
        for line in text.lines() {
            out.push(serde_json::from_str::<Value>(line).expect("JSON line"));
        }
    }
    out
}

fn summary(events: &[Value], fields: &[&str]) -> Vec<Vec<Value>> {
    events
        .iter()
        .map(|e| fields.iter().map(|f| e[*f].clone()).collect())
        .collect()
}

fn assert_unique_ids(events: &[Value]) {
    let ids: HashSet<&str> = events
        .iter()
        .map(|e| e["eventId"].as_str().expect("eventId"))
        .collect();
    assert_eq!(ids.len(), events.len(), "duplicate events: {events:#?}");
}

/// The policy and a key to read the audit bucket with, made before any switch is on.
async fn reader(ts: &TestServer) -> (Client, TestKey) {
    ts.s3_client_with_allow_all().await
}

#[tokio::test]
async fn control_plane_events_of_mutating_calls() {
    let ts = TestServer::start().await;
    let admin = format!("coreweave/{}", ts.admin_uid);
    let (s3, _) = reader(&ts).await;
    // Nothing is logged while the switch is off.
    ts.create_key(&ts.admin_token).await;
    assert!(
        s3.head_bucket()
            .bucket(audit_bucket(&ts))
            .send()
            .await
            .is_err(),
        "no audit bucket before a switch is on"
    );

    org_settings(&ts, json!({"controlPlaneAuditLoggingEnabled": true})).await;
    let (member_uid, member_token) = member(&ts).await;
    // Denied: the member is not allowed to create keys… the allow-all policy allows
    // everyone, so deny the member explicitly first.
    ts.ensure_policy(json!({
        "version": "v1alpha1",
        "name": "deny-member-keys",
        "statements": [{
            "name": "no-keys",
            "effect": "Deny",
            "actions": ["cwobject:CreateAccessKey"],
            "resources": ["*"],
            "principals": [format!("coreweave/{member_uid}")]
        }]
    }))
    .await;
    let s = call(
        &ts,
        &member_token,
        Method::POST,
        "/v1/cwobject/access-key",
        json!({"durationSeconds": 0}),
    )
    .await;
    assert_eq!(s, 403);
    let k1 = ts.create_key(&ts.admin_token).await;
    let s = call(
        &ts,
        &ts.admin_token,
        Method::POST,
        "/v1/cwobject/revoke-access-key/access-key",
        json!({"accessKey": k1.access_key_id}),
    )
    .await;
    assert_eq!(s, 200);
    let s = call(
        &ts,
        &ts.admin_token,
        Method::POST,
        "/v1/cwobject/revoke-access-key/access-key",
        json!({"accessKey": "CWAAAAAAAAAAAAAA"}),
    )
    .await;
    assert_eq!(s, 404);
    // Reads are not logged.
    let (s, _) = ts
        .api(
            Method::GET,
            "/v1/cwobject/access-key",
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    // Turning the switch off is the last logged call.
    org_settings(&ts, json!({"controlPlaneAuditLoggingEnabled": false})).await;
    ts.create_key(&ts.admin_token).await;

    let stats = ts.flush_audit().await;
    assert!(stats.objects >= 1, "{stats:?}");
    let ev = events(&s3, &audit_bucket(&ts), "control-plane/").await;
    let member_p = format!("coreweave/{member_uid}");
    let j = |s: &str| json!(s);
    assert_eq!(
        summary(
            &ev,
            &[
                "action",
                "result",
                "principal",
                "principalRole",
                "identifier"
            ]
        ),
        vec![
            vec![
                j("cwobject:SetOrganizationSettings"),
                j("allowed"),
                j(&admin),
                j("admin"),
                j(&ts.org_id)
            ],
            vec![
                j("iam:CreateUser"),
                j("allowed"),
                j(&admin),
                j("admin"),
                j("")
            ],
            vec![
                j("iam:CreateToken"),
                j("allowed"),
                j(&admin),
                j("admin"),
                j("")
            ],
            vec![
                j("cwobject:EnsureAccessPolicy"),
                j("allowed"),
                j(&admin),
                j("admin"),
                j("deny-member-keys")
            ],
            vec![
                j("cwobject:CreateAccessKey"),
                j("denied"),
                j(&member_p),
                j("member"),
                j("")
            ],
            vec![
                j("cwobject:CreateAccessKey"),
                j("allowed"),
                j(&admin),
                j("admin"),
                j(&k1.access_key_id)
            ],
            vec![
                j("cwobject:RevokeAccessKeyByAccessKey"),
                j("allowed"),
                j(&admin),
                j("admin"),
                j(&k1.access_key_id)
            ],
            vec![
                j("cwobject:RevokeAccessKeyByAccessKey"),
                j("error"),
                j(&admin),
                j("admin"),
                j("CWAAAAAAAAAAAAAA")
            ],
            vec![
                j("cwobject:SetOrganizationSettings"),
                j("allowed"),
                j(&admin),
                j("admin"),
                j(&ts.org_id)
            ],
        ]
    );
    assert_unique_ids(&ev);
    for e in &ev {
        assert_eq!(e["orgId"], json!(ts.org_id));
        assert_eq!(e["sourceIp"], json!("127.0.0.1"));
        assert_eq!(e["requestId"].as_str().unwrap().len(), 32);
        assert!(e["duration_seconds"].as_f64().unwrap() >= 0.0);
        let t = e["timestamp"].as_str().unwrap();
        assert!(t.len() == 24 && t.ends_with('Z'), "{t}");
    }
    // Audit objects only for the control plane: no data-plane switch is on.
    assert!(
        events(&s3, &audit_bucket(&ts), "data-plane/")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn data_plane_events_follow_bucket_and_org_switches() {
    let ts = TestServer::start().await;
    let (s3, key) = reader(&ts).await;
    let principal = format!("arn:aws:iam::{}:{}", ts.org_id, key.principal);
    make_bucket(&s3, "logged-bkt").await;
    make_bucket(&s3, "quiet-bkt").await;
    put(&s3, "logged-bkt", "before.txt", b"not logged").await;

    bucket_logging(&ts, "logged-bkt", true).await;
    put(&s3, "logged-bkt", "a.txt", b"hello").await;
    let got = s3
        .get_object()
        .bucket("logged-bkt")
        .key("a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(5));
    assert!(
        s3.head_object()
            .bucket("logged-bkt")
            .key("missing")
            .send()
            .await
            .is_err()
    );
    // Anonymous and denied.
    let anon = reqwest::get(format!("{}/logged-bkt/a.txt", ts.s3_endpoint))
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 403);
    put(&s3, "quiet-bkt", "x.txt", b"not logged").await;

    ts.flush_audit().await;
    let bucket = audit_bucket(&ts);
    let ev = events(&s3, &bucket, "data-plane/").await;
    let j = |s: &str| json!(s);
    assert_eq!(
        summary(
            &ev,
            &[
                "action",
                "result",
                "httpStatus",
                "bucketName",
                "key",
                "aws:arn",
                "principal",
                "accessKeyId"
            ]
        ),
        vec![
            vec![
                j("s3:PutObject"),
                j("allowed"),
                json!(200),
                j("logged-bkt"),
                j("a.txt"),
                j("arn:aws:s3:::logged-bkt/a.txt"),
                j(&principal),
                j(&key.access_key_id)
            ],
            vec![
                j("s3:GetObject"),
                j("allowed"),
                json!(200),
                j("logged-bkt"),
                j("a.txt"),
                j("arn:aws:s3:::logged-bkt/a.txt"),
                j(&principal),
                j(&key.access_key_id)
            ],
            vec![
                j("s3:HeadObject"),
                j("error"),
                json!(404),
                j("logged-bkt"),
                j("missing"),
                j("arn:aws:s3:::logged-bkt/missing"),
                j(&principal),
                j(&key.access_key_id)
            ],
            vec![
                j("s3:GetObject"),
                j("denied"),
                json!(403),
                j("logged-bkt"),
                j("a.txt"),
                j("arn:aws:s3:::logged-bkt/a.txt"),
                j("anonymous"),
                j("")
            ],
        ]
    );
    assert_unique_ids(&ev);
    assert_eq!(ev[0]["bytesReceived"], json!(5));
    assert_eq!(ev[1]["bytesSent"], json!(5));
    for e in &ev {
        assert_eq!(e["sourceIp"], json!("127.0.0.1"));
        assert!(e["host"].as_str().unwrap().starts_with("127.0.0.1:"), "{e}");
        assert!(!e["requestId"].as_str().unwrap().is_empty());
    }
    assert_eq!(ev[0]["decidedBy"]["layer"], json!("org"));
    assert_eq!(ev[3]["decidedBy"]["layer"], json!("default"));

    // The org default covers buckets that never set their own switch; a bucket's own
    // `false` overrides it.
    org_settings(&ts, json!({"bucketAuditLoggingEnabled": true})).await;
    bucket_logging(&ts, "logged-bkt", false).await;
    put(&s3, "quiet-bkt", "y.txt", b"logged").await;
    put(&s3, "logged-bkt", "z.txt", b"not logged").await;
    ts.flush_audit().await;
    let all = events(&s3, &bucket, "data-plane/").await;
    assert_eq!(&all[..4], &ev[..], "earlier objects unchanged");
    assert_eq!(
        summary(&all[4..], &["action", "bucketName", "key"]),
        vec![vec![j("s3:PutObject"), j("quiet-bkt"), j("y.txt")]]
    );
    // Reading the audit bucket (logged by the org default) is never logged itself.
    assert!(all.iter().all(|e| e["bucketName"] != json!(bucket)));
}

fn segments(ts: &TestServer) -> Vec<std::path::PathBuf> {
    let dir = ts.data_dir.join("audit-spool");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_spool_left_by_a_previous_run_is_delivered_exactly_once() {
    let mut ts = TestServer::start().await;
    let (_, reader_key) = reader(&ts).await;
    org_settings(&ts, json!({"controlPlaneAuditLoggingEnabled": true})).await;
    let k1 = ts.create_key(&ts.admin_token).await;
    ts.flush_audit().await;
    let k2 = ts.create_key(&ts.admin_token).await;
    let s = call(
        &ts,
        &ts.admin_token,
        Method::POST,
        "/v1/cwobject/revoke-access-key/access-key",
        json!({"accessKey": k2.access_key_id}),
    )
    .await;
    assert_eq!(s, 200);

    // Stop with k2's events only in the spool; keep a copy of the segment.
    ts.stop().await;
    let left = segments(&ts);
    assert_eq!(left.len(), 1, "{left:?}");
    let saved = std::fs::read(&left[0]).unwrap();
    assert_eq!(String::from_utf8_lossy(&saved).lines().count(), 2);

    let org_id = ts.org_id.clone();
    let expected = |ev: &[Value]| {
        let j = |s: &str| json!(s);
        assert_eq!(
            summary(ev, &["action", "identifier"]),
            vec![
                vec![j("cwobject:SetOrganizationSettings"), j(&org_id)],
                vec![j("cwobject:CreateAccessKey"), j(&k1.access_key_id)],
                vec![j("cwobject:CreateAccessKey"), j(&k2.access_key_id)],
                vec![
                    j("cwobject:RevokeAccessKeyByAccessKey"),
                    j(&k2.access_key_id)
                ],
            ]
        );
        assert_unique_ids(ev);
    };

    // The next start replays the segment.
    let mut ts = ts.restart().await;
    ts.flush_audit().await;
    let s3 = ts.s3_client(&reader_key);
    expected(&events(&s3, &audit_bucket(&ts), "control-plane/").await);
    assert!(segments(&ts).is_empty(), "flushed segments are removed");

    // A crash after the objects were written but before the segment was deleted:
    // the replay rewrites the same objects, it does not add copies.
    ts.stop().await;
    std::fs::write(&left[0], &saved).unwrap();
    let ts = ts.restart().await;
    ts.flush_audit().await;
    let s3 = ts.s3_client(&reader_key);
    expected(&events(&s3, &audit_bucket(&ts), "control-plane/").await);
    assert!(segments(&ts).is_empty());
}
