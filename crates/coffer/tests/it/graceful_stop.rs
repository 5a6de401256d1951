//! A graceful stop (SIGTERM) of a single-node server leaves the blob directory exact:
//! the blobs of overwritten and deleted objects, which a running server keeps for
//! `retired_blob_grace` (60 s) in case a reader is still streaming them, are deleted
//! once every request has finished, instead of waiting for the next start's recovery.

use crate::proc_common::{
    allow_all_key, assert_blobs_exact, blob_files, bootstrap_token, payload, sha, spawn_server,
    wait_exit,
};

use aws_sdk_s3::primitives::ByteStream;
use coffer_server::testing::{object_bytes, s3_client_for};
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_deletes_the_blobs_of_overwritten_objects() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut proc = spawn_server(&data, [] as [&str; 0]);
    let token = bootstrap_token(&data);
    let key = allow_all_key(&proc.api, &token).await;
    let s3 = s3_client_for(&proc.s3, &key);
    s3.create_bucket().bucket("stop").send().await.unwrap();
    // 300 KiB bodies are stored as blobs, not inline.
    let put = |k: &'static str, seed: u64| {
        let s3 = s3.clone();
        async move {
            let body = payload(seed, 300 << 10);
            s3.put_object()
                .bucket("stop")
                .key(k)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .unwrap();
            sha(&body)
        }
    };
    put("a", 1).await;
    put("b", 2).await;
    put("c", 3).await;
    let a = put("a", 11).await;
    let b = put("b", 12).await;
    s3.delete_object()
        .bucket("stop")
        .key("c")
        .send()
        .await
        .unwrap();
    // Three blobs wait out their grace beside the two live ones.
    assert_eq!(blob_files(&data).0.len(), 5);

    let st = Command::new("kill")
        .args(["-TERM", &proc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = wait_exit(&mut proc.child, Duration::from_secs(30))
        .await
        .expect("no exit after SIGTERM");
    assert!(status.success(), "graceful exit: {status}");
    // Checked before any restart: the stop itself left nothing behind.
    assert_blobs_exact(&data, "after SIGTERM");
    assert_eq!(blob_files(&data).0.len(), 2);

    // The live objects are intact.
    proc = spawn_server(&data, [] as [&str; 0]);
    let s3 = s3_client_for(&proc.s3, &key);
    for (k, digest) in [("a", a), ("b", b)] {
        assert_eq!(sha(&object_bytes(&s3, "stop", k).await), digest, "{k}");
    }
    drop(proc);
}
