//! Audit exactly-once across `kill -9` (SPEC §6): with bucket and control-plane logging
//! on and a 1-second flush interval (so flushes are in flight when the process dies),
//! bursts of S3 PUTs and management calls run against the real `coffer` binary, which
//! is killed with SIGKILL at a random moment and restarted, 20+ times. Afterwards every
//! request that was answered has exactly one event in the audit bucket (found by its
//! request id), no request id or event id appears twice, and every hash chain verifies.

use crate::proc_common::{
    allow_all_key, assert_exactly_once_audit, bootstrap_token, no_retry_client, org_id,
    spawn_server,
};

use aws_sdk_s3::operation::RequestId;
use coffer_server::testing::s3_client_for;
use rand::Rng;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_request_has_exactly_one_event_after_repeated_kill_9() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut proc = spawn_server(&data, ["--audit-flush-secs", "1"]);
    let token = bootstrap_token(&data);
    let http = reqwest::Client::new();
    let org = org_id(&proc.api, &token).await;
    let key = allow_all_key(&proc.api, &token).await;
    s3_client_for(&proc.s3, &key)
        .create_bucket()
        .bucket("crashlog")
        .send()
        .await
        .unwrap();
    for (path, body) in [
        (
            "/v1/cwobject/bucket/settings",
            json!({"bucketName": "crashlog", "settings": {"auditLoggingEnabled": true}}),
        ),
        (
            "/v1/cwobject/organization/settings",
            json!({"settings": {"controlPlaneAuditLoggingEnabled": true}}),
        ),
    ] {
        let r = http
            .put(format!("{}{path}", proc.api))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // Request ids of answered requests, and how they were answered.
    let answered: Arc<Mutex<HashMap<String, &'static str>>> = Arc::default();
    let rounds = 22;
    for round in 0..rounds {
        let client = no_retry_client(&proc.s3, &key);
        let mut tasks = Vec::new();
        for w in 0..4u32 {
            let (client, answered, http, api, token) = (
                client.clone(),
                answered.clone(),
                http.clone(),
                proc.api.clone(),
                token.clone(),
            );
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    if w == 3 {
                        // A logged management call (identifier: the org).
                        let r = http
                            .put(format!("{api}/v1/cwobject/organization/settings"))
                            .bearer_auth(&token)
                            .json(&json!({"settings": {"controlPlaneAuditLoggingEnabled": true}}))
                            .send()
                            .await;
                        let Ok(r) = r else { return };
                        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
                        if r.status() != 200 {
                            return;
                        }
                        answered.lock().unwrap().insert(id, "mgmt");
                    } else {
                        let r = client
                            .put_object()
                            .bucket("crashlog")
                            .key(format!("r{round}/w{w}/{i}"))
                            .body(vec![b'x'; 64].into())
                            .send()
                            .await;
                        match r {
                            Ok(out) => {
                                let id = out.request_id().unwrap().to_string();
                                answered.lock().unwrap().insert(id, "s3");
                            }
                            Err(_) => return,
                        }
                    }
                }
            }));
        }
        let wait = rand::rng().random_range(150..900);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        proc.child.kill().unwrap(); // SIGKILL
        proc.child.wait().unwrap();
        for t in tasks {
            let _ = t.await;
        }
        proc = spawn_server(&data, ["--audit-flush-secs", "1"]);
    }
    let expected = answered.lock().unwrap().clone();
    assert!(
        expected.len() > rounds * 4,
        "too few answered requests: {}",
        expected.len()
    );

    // The restarted server flushes every second; wait until everything is delivered.
    let s3 = s3_client_for(&proc.s3, &key);
    let bucket = format!("cw-{org}-audit-logs");
    let events = assert_exactly_once_audit(&s3, &bucket, &expected).await;
    eprintln!(
        "{} answered requests, {} events, {:?}",
        expected.len(),
        events,
        started.elapsed()
    );
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
}
