//! Scale-out crash safety: three `coffer server` processes on one PostgreSQL database and
//! one blob directory; node C is killed with SIGKILL during concurrent PUTs and multipart
//! uploads. Every object acknowledged by C reads back byte-identical through A and B at
//! once, and again after C restarts (its recovery must not remove what others or it
//! committed). Needs `COFFER_TEST_POSTGRES_URL` (fails in CI when missing).

use crate::proc_common::{
    Proc, allow_all_key, bootstrap_token, payload, sha, spawn_server, upload_parts,
};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedMultipartUpload;
use coffer_server::testing::{SharedSetup, TestKey, s3_client_for};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Starts node `node` of `shared` as a real process.
fn spawn_node(shared: &SharedSetup, node: &str) -> Proc {
    let cfg = shared.node_config(node);
    let extra: [std::ffi::OsString; 8] = [
        "--node-id".into(),
        node.into(),
        "--metadata".into(),
        shared.metadata_url.clone().into(),
        "--blob-dir".into(),
        shared.blob_dir.clone().into(),
        "--master-key-file".into(),
        shared.master_key_file.clone().into(),
    ];
    spawn_server(&cfg.data_dir, extra)
}

async fn check_acked(endpoint: &str, key: &TestKey, acked: &HashMap<String, String>) {
    let client = s3_client_for(endpoint, key);
    for (name, digest) in acked {
        let got = client
            .get_object()
            .bucket("crash")
            .key(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged {name} lost ({endpoint}): {e:?}"));
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(&sha(&bytes), digest, "acknowledged {name} changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_node_loses_no_acknowledged_object() {
    let Some(shared) = SharedSetup::new().await else {
        return;
    };
    let a = spawn_node(&shared, "a");
    let token = bootstrap_token(&shared.node_config("a").data_dir);
    let b = spawn_node(&shared, "b");
    let mut c = spawn_node(&shared, "c");
    let key = allow_all_key(&a.api, &token).await;
    s3_client_for(&a.s3, &key)
        .create_bucket()
        .bucket("crash")
        .send()
        .await
        .unwrap();
    // C must see the policy before writing (the feed delivers it within milliseconds).
    let cc = s3_client_for(&c.s3, &key);
    for _ in 0..200 {
        if cc.head_bucket().bucket("crash").send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..5u64 {
        let (client, acked) = (cc.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0u64.. {
                let n = w * 100_000 + i;
                let name = format!("w{w}/{i}");
                if w == 0 {
                    let (p1, p2) = (payload(n, 5 << 20), payload(n + 1, 77_777));
                    let whole = [p1.clone(), p2.clone()].concat();
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
                    let Some(parts) =
                        upload_parts(&client, "crash", &name, &id, vec![(1, p1), (2, p2)]).await
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
                    let len = [0, 4096, 200_000, 1 << 20, 3 << 20][w as usize] + i as usize;
                    let body = payload(n, len);
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
    tokio::time::sleep(Duration::from_millis(2000)).await;
    c.child.kill().unwrap(); // SIGKILL
    c.child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let acked_now = acked.lock().unwrap().clone();
    assert!(
        !acked_now.is_empty(),
        "some writes were acknowledged before the kill"
    );

    // The surviving nodes serve every acknowledged object at once.
    check_acked(&a.s3, &key, &acked_now).await;
    check_acked(&b.s3, &key, &acked_now).await;

    // C restarts with the same node id: its recovery clears its own leftovers only.
    drop(c);
    c = spawn_node(&shared, "c");
    check_acked(&c.s3, &key, &acked_now).await;
    let own_tmp = shared.blob_dir.join("tmp").join("c");
    assert_eq!(
        std::fs::read_dir(&own_tmp).unwrap().count(),
        0,
        "C's recovery left temp files behind"
    );
    eprintln!(
        "{} objects acknowledged by node C before SIGKILL, all intact",
        acked_now.len()
    );
}
