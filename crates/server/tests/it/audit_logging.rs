//! Audit logging end to end (SPEC §6): the switches, control-plane events of mutating
//! management calls, data-plane events of S3 requests on logged buckets (denied ones
//! included), delivery as gzip JSON Lines objects in `cw-<orgId>-audit-logs` read back
//! through aws-sdk-s3, and exactly-once delivery of a spool left by a previous run —
//! also when a flush's objects were written but its segments not yet deleted; the hash
//! chain of the objects; events of requests s3s refuses before the access check and
//! per-key events of multi-object deletes; failed PUTs (whose prepared outbox event
//! must vanish with the failed write) logged once with their error; the spool bound (`block` / `reject`) and the
//! `/metrics` gauges.

use crate::mgmt_common::member;
use crate::s3_common::{TestKey, TestServer, make_bucket, put};
use aws_sdk_s3::Client;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::Read;

pub(crate) fn audit_bucket(ts: &TestServer) -> String {
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

pub(crate) async fn bucket_logging(ts: &TestServer, bucket: &str, on: bool) {
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
pub(crate) async fn events(c: &Client, bucket: &str, prefix: &str) -> Vec<Value> {
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
        let mut lines = text.lines();
        let header: Value = serde_json::from_str(lines.next().expect("header line")).unwrap();
        assert_eq!(header["cofferAuditChain"], json!(1), "{key}: {header}");
        for line in lines {
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

#[tokio::test]
async fn objects_form_one_hash_chain_per_stream() {
    let ts = TestServer::start().await;
    let (s3, _) = reader(&ts).await;
    org_settings(&ts, json!({"controlPlaneAuditLoggingEnabled": true})).await;
    make_bucket(&s3, "chained").await;
    bucket_logging(&ts, "chained", true).await;
    for round in 0..3 {
        put(&s3, "chained", &format!("k{round}"), b"x").await;
        ts.create_key(&ts.admin_token).await;
        ts.flush_audit().await;
    }
    let objs = coffer_server::testing::bucket_objects(&s3, &audit_bucket(&ts)).await;
    let report = coffer_server::audit::chain::verify(objs.clone());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let mut streams: Vec<(String, u64)> = report
        .chains
        .iter()
        .map(|c| (c.stream.clone(), c.objects))
        .collect();
    streams.sort();
    assert_eq!(
        streams,
        vec![
            ("control-plane".to_string(), 3),
            ("data-plane/chained".to_string(), 3)
        ]
    );
    // Each object names its predecessor's SHA-256.
    let (_, first) = objs
        .iter()
        .find(|(k, _)| k.starts_with("data-plane/") && k.ends_with("-000000000001.jsonl.gz"))
        .unwrap();
    let second = coffer_server::audit::chain::decode(
        &objs
            .iter()
            .find(|(k, _)| k.starts_with("data-plane/") && k.ends_with("-000000000002.jsonl.gz"))
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(
        second.header.unwrap().prev,
        coffer_server::audit::chain::sha256_hex(first)
    );
}

#[tokio::test]
async fn refused_requests_and_multi_object_deletes_are_logged() {
    let ts = TestServer::start().await;
    let (s3, key) = reader(&ts).await;
    make_bucket(&s3, "watched").await;
    bucket_logging(&ts, "watched", true).await;

    // A wrong secret: s3s refuses the signature before our access check runs.
    let forged = ts.s3_client(&TestKey {
        secret_key: "wrong-secret-wrong-secret-wrong-secret00".into(),
        ..key.clone()
    });
    let err = forged
        .put_object()
        .bucket("watched")
        .key("forged.txt")
        .body(b"nope".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    // A malformed Authorization header.
    let r = ts
        .http
        .get(format!("{}/watched/some%20key", ts.s3_endpoint))
        .header("authorization", "AWS4-HMAC-SHA256 garbage")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // SigV2 is refused by the gates before s3s.
    let r = ts
        .http
        .delete(format!("{}/watched/v2.txt", ts.s3_endpoint))
        .header("authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(
        s3.head_object()
            .bucket("watched")
            .key("forged.txt")
            .send()
            .await
            .is_err()
    );

    // A refused request whose path names no possible bucket is answered with its own
    // error (never a 500) and logs nothing.
    let r = ts
        .http
        .get(format!("{}/Not_A_Bucket/x", ts.s3_endpoint))
        .header("authorization", "AWS4-HMAC-SHA256 garbage")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    // DeleteObjects of three keys (one existing, two not): one event per key.
    put(&s3, "watched", "d1", b"1").await;
    let del = aws_sdk_s3::types::Delete::builder()
        .set_objects(Some(
            ["d1", "d2", "d3"]
                .iter()
                .map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(*k)
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .build()
        .unwrap();
    s3.delete_objects()
        .bucket("watched")
        .delete(del)
        .send()
        .await
        .unwrap();

    ts.flush_audit().await;
    let ev = events(&s3, &audit_bucket(&ts), "data-plane/").await;
    let j = |s: &str| json!(s);
    let mut got = summary(&ev, &["action", "key", "result", "accessKeyId"]);
    got.sort_by_key(|v| v[1].to_string());
    // Stable sort: per key, in request order.
    assert_eq!(
        got,
        vec![
            vec![
                j("s3:PutObject"),
                j("d1"),
                j("allowed"),
                j(&key.access_key_id)
            ],
            vec![
                j("s3:DeleteObject"),
                j("d1"),
                j("allowed"),
                j(&key.access_key_id)
            ],
            vec![
                j("s3:DeleteObject"),
                j("d2"),
                j("allowed"),
                j(&key.access_key_id)
            ],
            vec![
                j("s3:DeleteObject"),
                j("d3"),
                j("allowed"),
                j(&key.access_key_id)
            ],
            vec![j("s3:PutObject"), j("forged.txt"), j("denied"), j("")],
            vec![
                j("s3:HeadObject"),
                j("forged.txt"),
                j("error"),
                j(&key.access_key_id)
            ],
            vec![
                j("s3:GetObject"),
                j("some key"),
                j(ev_result(&ev, "some key")),
                j("")
            ],
            vec![
                j("s3:DeleteObject"),
                j("v2.txt"),
                j(ev_result(&ev, "v2.txt")),
                j("")
            ],
        ]
    );
    for e in &ev {
        assert_eq!(e["bucketName"], j("watched"));
        if e["key"] == j("forged.txt") && e["action"] == j("s3:PutObject") {
            assert_eq!(e["httpStatus"], json!(403));
            assert_eq!(
                e["principal"],
                j("anonymous"),
                "an unverified key is nobody"
            );
        }
    }
    assert_unique_ids(&ev);
}

/// The HTTP status a client got: 200 for success, else the error response's.
fn status<T, E>(r: Result<T, aws_sdk_s3::error::SdkError<E>>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
    }
}

/// A PutObject on a logged bucket prepares its success event for the metadata
/// transaction (the audit outbox); when the write then fails — a lost `If-None-Match`
/// race, a precondition, a bad digest — that event must vanish with the transaction and
/// the failure be logged instead: exactly one event per request, with the status the
/// client got.
#[tokio::test]
async fn failed_puts_on_a_logged_bucket_log_their_failure_once() {
    let ts = TestServer::start().await;
    let (s3, _key) = reader(&ts).await;
    make_bucket(&s3, "strict").await;
    bucket_logging(&ts, "strict", true).await;
    ts.flush_audit().await;
    let once = coffer_server::testing::without_retries(&s3);

    // Eight writers race to create the same key; one wins.
    let racers = (0..8).map(|i| {
        once.put_object()
            .bucket("strict")
            .key("race")
            .if_none_match("*")
            .body(format!("writer {i}").into_bytes().into())
            .send()
    });
    let mut raced: Vec<u16> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(status)
        .collect();
    raced.sort();
    // Losers get 412, or S3's 409 ConditionalRequestConflict while the winner is in
    // flight.
    assert_eq!(raced[0], 200, "{raced:?}");
    assert!(
        raced[1..].iter().all(|s| [409, 412].contains(s)),
        "{raced:?}"
    );
    // A failed precondition on an existing key, and a body that fails its digest.
    let r = once
        .put_object()
        .bucket("strict")
        .key("race")
        .if_match("\"00000000000000000000000000000000\"")
        .body(b"late".to_vec().into())
        .send()
        .await;
    assert_eq!(status(r), 412);
    let r = once
        .put_object()
        .bucket("strict")
        .key("digest")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(b"not empty".to_vec().into())
        .send()
        .await;
    assert_eq!(status(r), 400);

    ts.flush_audit().await;
    let ev = events(&s3, &audit_bucket(&ts), "data-plane/").await;
    assert_unique_ids(&ev);
    let mut got: Vec<(String, i64, String)> = ev
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e["httpStatus"].as_i64().unwrap(),
                e["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![("digest".to_string(), 400, "error".to_string())];
    for s in raced {
        let result = if s == 200 { "allowed" } else { "error" };
        want.push(("race".into(), s.into(), result.into()));
    }
    want.push(("race".into(), 412, "error".into()));
    want.sort();
    assert_eq!(got, want, "{ev:#?}");
    for e in &ev {
        assert_eq!(e["action"], json!("s3:PutObject"), "{e}");
    }
    assert!(
        s3.head_object()
            .bucket("strict")
            .key("digest")
            .send()
            .await
            .is_err(),
        "the PUT with a bad digest stored nothing"
    );
}

/// The result of the event for `key`, which must be `denied` or `error` (the exact
/// status of a malformed request is s3s's choice).
fn ev_result(ev: &[Value], key: &str) -> &'static str {
    let e = ev.iter().find(|e| e["key"] == json!(key)).expect(key);
    match e["result"].as_str().unwrap() {
        "denied" => "denied",
        "error" => "error",
        other => panic!("{key}: a refused request logged as {other}"),
    }
}

async fn metrics(ts: &TestServer) -> std::collections::HashMap<String, f64> {
    crate::metrics::Scrape::of(ts).await.samples
}

#[tokio::test]
async fn metrics_follow_the_spool_and_the_flushes() {
    let ts = TestServer::start().await;
    let (s3, _) = reader(&ts).await;
    make_bucket(&s3, "metered").await;
    bucket_logging(&ts, "metered", true).await;
    ts.flush_audit().await;
    let before = metrics(&ts).await;
    assert_eq!(before["coffer_audit_spool_events"], 0.0);
    assert_eq!(
        before["coffer_audit_oldest_unflushed_event_age_seconds"],
        0.0
    );
    for i in 0..5 {
        put(&s3, "metered", &format!("m{i}"), b"x").await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let during = metrics(&ts).await;
    assert_eq!(during["coffer_audit_spool_events"], 5.0);
    assert!(during["coffer_audit_spool_bytes"] > 0.0);
    assert!(during["coffer_audit_oldest_unflushed_event_age_seconds"] > 0.0);
    ts.flush_audit().await;
    let after = metrics(&ts).await;
    assert_eq!(after["coffer_audit_spool_events"], 0.0);
    assert_eq!(after["coffer_audit_spool_bytes"], 0.0);
    assert_eq!(
        after["coffer_audit_events_written_total"] - before["coffer_audit_events_written_total"],
        5.0
    );
    assert!(
        after["coffer_audit_flush_duration_seconds_count"]
            > before["coffer_audit_flush_duration_seconds_count"]
    );
    assert!(after["coffer_audit_flush_duration_seconds_sum"] > 0.0);
    assert!(after["coffer_audit_objects_written_total"] >= 1.0);
}

fn tiny_spool(policy: coffer_server::audit::spool::FullPolicy) -> coffer_server::config::Config {
    let tmp = tempfile::tempdir().unwrap().keep();
    let mut cfg = coffer_server::config::Config::with_data_dir(tmp);
    cfg.audit_spool_max_bytes = 1;
    cfg.audit_spool_full = policy;
    cfg
}

#[tokio::test]
async fn a_full_spool_under_reject_answers_503_and_changes_nothing() {
    use coffer_server::audit::spool::FullPolicy;
    let ts = TestServer::start_with(tiny_spool(FullPolicy::Reject)).await;
    let (s3, key) = reader(&ts).await;
    make_bucket(&s3, "bounded").await;
    bucket_logging(&ts, "bounded", true).await;
    ts.flush_audit().await;
    // An empty spool accepts one event; the next request on the logged bucket is refused
    // before it runs.
    put(&s3, "bounded", "first", b"1").await;
    // No SDK retries: the first answer is the one under test.
    let once = coffer_server::testing::without_retries(&s3);
    let err = once
        .put_object()
        .bucket("bounded")
        .key("second")
        .body(b"2".to_vec().into())
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 503);
    let body = String::from_utf8_lossy(raw.body().bytes().unwrap()).to_string();
    assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
    ts.flush_audit().await;
    assert!(
        s3.head_object()
            .bucket("bounded")
            .key("second")
            .send()
            .await
            .is_err(),
        "the refused PUT did not happen"
    );
    // Requests on buckets that are not logged are unaffected.
    make_bucket(&s3, "unlogged").await;

    // Management API: the call that turns control-plane logging on fills the spool; the
    // next logged call answers `unavailable`.
    ts.flush_audit().await;
    org_settings(&ts, json!({"controlPlaneAuditLoggingEnabled": true})).await;
    let (status, body) = ts
        .api(
            Method::POST,
            "/v1/cwobject/access-key",
            Some(&ts.admin_token),
            Some(json!({"durationSeconds": 0})),
        )
        .await;
    // The API's error shape: gRPC code 14 (Unavailable), HTTP 503.
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], json!(14), "{body}");
    let m = metrics(&ts).await;
    assert!(m["coffer_audit_spool_rejected_total"] >= 2.0, "{m:?}");
    // After a flush the spool accepts again; every answered request has its event.
    ts.flush_audit().await;
    put(&s3, "bounded", "third", b"3").await;
    ts.flush_audit().await;
    let ev = events(&s3, &audit_bucket(&ts), "data-plane/").await;
    let puts: Vec<&str> = ev
        .iter()
        .filter(|e| e["action"] == json!("s3:PutObject"))
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        puts,
        ["first", "third"],
        "the refused PUT has no event: it never ran"
    );
    let _ = key;
}

#[tokio::test]
async fn a_full_spool_under_block_holds_requests_until_a_flush() {
    use coffer_server::audit::spool::FullPolicy;
    let ts = TestServer::start_with(tiny_spool(FullPolicy::Block)).await;
    let (s3, _) = reader(&ts).await;
    make_bucket(&s3, "held").await;
    bucket_logging(&ts, "held", true).await;
    ts.flush_audit().await;
    // Every request beyond the first waits for the flush it wakes; none fails.
    for i in 0..4 {
        put(&s3, "held", &format!("h{i}"), b"x").await;
    }
    let m = metrics(&ts).await;
    assert!(m["coffer_audit_spool_blocked_total"] >= 1.0, "{m:?}");
    assert_eq!(m["coffer_audit_spool_rejected_total"], 0.0);
    ts.flush_audit().await;
    let ev = events(&s3, &audit_bucket(&ts), "data-plane/").await;
    let mut keys: Vec<&str> = ev.iter().map(|e| e["key"].as_str().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["h0", "h1", "h2", "h3"]);
}
