//! Crash safety: `kill -9` the real `coffer` binary during concurrent PUTs and multipart
//! uploads, restart it, and check that every acknowledged object reads back
//! byte-identical, that every listed object is one a client attempted with exactly the
//! bytes it sent (never a torn or partial object), and that recovery leaves no temp file.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use coffer_server::testing::{TestKey, s3_client_for};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Proc {
    child: Child,
    s3: String,
    api: String,
}

/// Starts the binary on ephemeral ports and reads the addresses it logs.
fn spawn_server(data: &Path) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "server",
            "--s3-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("COFFER_LOG", "info")
        .env_remove("COFFER_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn coffer");
    let stdout = child.stdout.take().unwrap();
    let (mut s3, mut api) = (None, None);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(i) = line.find("S3 endpoint listening on ") {
            s3 = Some(line[i + 25..].trim().to_string());
        }
        if let Some(i) = line.find("management API listening on ") {
            api = Some(line[i + 28..].trim().to_string());
        }
        if s3.is_some() && api.is_some() {
            break;
        }
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Proc {
        child,
        s3: s3.expect("S3 address logged"),
        api: api.expect("API address logged"),
    }
}

fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut proc = spawn_server(&data);
    let token = std::fs::read_to_string(data.join("bootstrap-token"))
        .unwrap()
        .trim()
        .to_string();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/cwobject/access-policy", proc.api))
        .bearer_auth(&token)
        .json(&json!({"policy": {"version": "v1alpha1", "name": "all", "statements": [
            {"name": "all", "effect": "Allow", "actions": ["*"], "resources": ["*"], "principals": ["*"]}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let k: serde_json::Value = http
        .post(format!("{}/v1/cwobject/access-key", proc.api))
        .bearer_auth(&token)
        .json(&json!({"durationSeconds": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = TestKey {
        access_key_id: k["accessKeyId"].as_str().unwrap().into(),
        secret_key: k["secretKey"].as_str().unwrap().into(),
        principal: k["principalName"].as_str().unwrap().into(),
    };
    s3_client_for(&proc.s3, &key)
        .create_bucket()
        .bucket("crash")
        .send()
        .await
        .unwrap();

    // key -> sha256 of the bytes attempted; acked: keys whose request was answered OK.
    let attempted: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut seq = 0u64;
    for round in 0..3 {
        let client = s3_client_for(&proc.s3, &key);
        let mut tasks = Vec::new();
        for w in 0..6u64 {
            let (client, attempted, acked) = (client.clone(), attempted.clone(), acked.clone());
            seq += 1000;
            let base = seq;
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let n = base + i;
                    let name = format!("r{round}/w{w}/{i}");
                    if w == 0 {
                        // Multipart: two 5 MiB parts.
                        let (a, b) = (payload(n, 5 << 20), payload(n + 1, 5 << 20 | 7));
                        let whole = [a.clone(), b.clone()].concat();
                        attempted.lock().unwrap().insert(name.clone(), sha(&whole));
                        let Ok(up) = client
                            .create_multipart_upload()
                            .bucket("crash")
                            .key(&name)
                            .send()
                            .await
                        else {
                            return;
                        };
                        let id = up.upload_id().unwrap().to_string();
                        let mut parts = Vec::new();
                        for (pn, body) in [(1, a), (2, b)] {
                            let Ok(p) = client
                                .upload_part()
                                .bucket("crash")
                                .key(&name)
                                .upload_id(&id)
                                .part_number(pn)
                                .body(ByteStream::from(body))
                                .send()
                                .await
                            else {
                                return;
                            };
                            parts.push(
                                CompletedPart::builder()
                                    .part_number(pn)
                                    .e_tag(p.e_tag().unwrap())
                                    .build(),
                            );
                        }
                        let done = client
                            .complete_multipart_upload()
                            .bucket("crash")
                            .key(&name)
                            .upload_id(&id)
                            .multipart_upload(
                                CompletedMultipartUpload::builder()
                                    .set_parts(Some(parts))
                                    .build(),
                            )
                            .send()
                            .await;
                        if done.is_err() {
                            return;
                        }
                        acked.lock().unwrap().insert(name, sha(&whole));
                    } else {
                        let len = match w {
                            1 | 2 => 4096,
                            3 => 200_000,
                            4 => 1 << 20,
                            _ => 3 << 20,
                        };
                        let body = payload(n, len + i as usize);
                        attempted.lock().unwrap().insert(name.clone(), sha(&body));
                        let r = client
                            .put_object()
                            .bucket("crash")
                            .key(&name)
                            .body(ByteStream::from(body.clone()))
                            .send()
                            .await;
                        if r.is_err() {
                            return;
                        }
                        acked.lock().unwrap().insert(name, sha(&body));
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500 + 400 * round)).await;
        proc.child.kill().unwrap(); // SIGKILL
        proc.child.wait().unwrap();
        for t in tasks {
            let _ = t.await;
        }
        proc = spawn_server(&data);

        let client = s3_client_for(&proc.s3, &key);
        let acked_now = acked.lock().unwrap().clone();
        assert!(
            !acked_now.is_empty(),
            "some writes were acknowledged before the kill"
        );
        for (name, digest) in &acked_now {
            let got = client
                .get_object()
                .bucket("crash")
                .key(name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("acknowledged {name} lost after kill -9: {e:?}"));
            let bytes = got.body.collect().await.unwrap().into_bytes();
            assert_eq!(
                &sha(&bytes),
                digest,
                "acknowledged {name} changed after kill -9"
            );
        }
        let attempted_now = attempted.lock().unwrap().clone();
        let mut token = None;
        loop {
            let page = client
                .list_objects_v2()
                .bucket("crash")
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            for o in page.contents() {
                let name = o.key().unwrap();
                let want = attempted_now
                    .get(name)
                    .unwrap_or_else(|| panic!("{name} listed but never attempted"));
                let got = client
                    .get_object()
                    .bucket("crash")
                    .key(name)
                    .send()
                    .await
                    .unwrap();
                let bytes = got.body.collect().await.unwrap().into_bytes();
                assert_eq!(&sha(&bytes), want, "{name} is torn");
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let tmp = data.join("blobs").join("tmp");
        let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            leftovers,
            0,
            "temp files left after recovery in {}",
            tmp.display()
        );
    }
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
}
