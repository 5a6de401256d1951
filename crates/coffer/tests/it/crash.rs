//! Crash safety: `kill -9` the real `coffer` binary during concurrent PUTs and multipart
//! uploads, restart it, and check that every acknowledged object reads back
//! byte-identical, that every listed object is one a client attempted with exactly the
//! bytes it sent (never a torn or partial object), and that recovery leaves no temp file.
//! Half the writers ask for SSE-S3, so sealed blobs (`coffer_core::sse`) and sealed
//! inline rows are written when the process dies too.

use crate::proc_common::{
    allow_all_key, bootstrap_token, payload, sha, spawn_server, upload_parts,
};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, ServerSideEncryption};
use coffer_server::testing::{list_all, object_bytes, s3_client_for};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut proc = spawn_server(&data, [] as [&str; 0]);
    let token = bootstrap_token(&data);
    let key = allow_all_key(&proc.api, &token).await;
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
                    let sse = (w % 2 == 0).then_some(ServerSideEncryption::Aes256);
                    if w == 0 {
                        // Multipart: two 5 MiB parts.
                        let (a, b) = (payload(n, 5 << 20), payload(n + 1, 5 << 20 | 7));
                        let whole = [a.clone(), b.clone()].concat();
                        attempted.lock().unwrap().insert(name.clone(), sha(&whole));
                        let Ok(up) = client
                            .create_multipart_upload()
                            .bucket("crash")
                            .key(&name)
                            .set_server_side_encryption(sse)
                            .send()
                            .await
                        else {
                            return;
                        };
                        let id = up.upload_id().unwrap().to_string();
                        let Some(parts) =
                            upload_parts(&client, "crash", &name, &id, vec![(1, a), (2, b)]).await
                        else {
                            return;
                        };
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
                            .set_server_side_encryption(sse)
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
        proc = spawn_server(&data, [] as [&str; 0]);

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
        for (name, _) in list_all(&client, "crash").await {
            let want = attempted_now
                .get(&name)
                .unwrap_or_else(|| panic!("{name} listed but never attempted"));
            let bytes = object_bytes(&client, "crash", &name).await;
            assert_eq!(&sha(&bytes), want, "{name} is torn");
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
