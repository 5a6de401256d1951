//! Owner-only data files (issue 15): the real `coffer server`, started under umask 022,
//! keeps every directory of its data directory 0700 and every file 0600 (or stricter) —
//! metadata database, WAL and SHM, inline and blob objects, the audit spool and its
//! journal, node id, master key, bootstrap token — and tightens a pre-existing data
//! directory. A symbolic link planted where it writes a secret file is refused: the
//! server exits with an error naming it, and the link's target is neither read nor
//! written.

use crate::proc_common::{
    allow_all_key, bootstrap_token, no_retry_client, spawn_server, wait_exit,
};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The umask a default login shell has: the server must not depend on a stricter one.
fn loose_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
}

/// Every entry below `root` (itself included) with its permission bits.
fn walk(root: &Path, out: &mut Vec<(PathBuf, bool, u32)>) {
    let meta = std::fs::symlink_metadata(root).unwrap();
    assert!(!meta.file_type().is_symlink(), "{}", root.display());
    out.push((root.to_path_buf(), meta.is_dir(), meta.mode() & 0o7777));
    if meta.is_dir() {
        for entry in std::fs::read_dir(root).unwrap() {
            walk(&entry.unwrap().path(), out);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_file_is_owner_only_whatever_the_umask() {
    loose_umask();
    let tmp = tempfile::tempdir().unwrap();
    // A data directory made by hand under umask 022, with a stray world-readable file.
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "ops notes").unwrap();
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let proc = spawn_server(&data, ["--audit-flush-secs", "1"]);
    let token = bootstrap_token(&data);
    let key = allow_all_key(&proc.api, &token).await;
    let s3 = no_retry_client(&proc.s3, &key);
    s3.create_bucket().bucket("modes").send().await.unwrap();
    let r = reqwest::Client::new()
        .put(format!("{}/v1/cwobject/bucket/settings", proc.api))
        .bearer_auth(&token)
        .json(&json!({"bucketName": "modes", "settings": {"auditLoggingEnabled": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Inline (≤ 128 KiB) and blob-file objects.
    for (key, len) in [("small", 1024usize), ("large", 300 * 1024)] {
        s3.put_object()
            .bucket("modes")
            .key(key)
            .body(ByteStream::from(vec![7u8; len]))
            .send()
            .await
            .unwrap();
    }
    // The flusher journals within a second or two.
    let state = data.join("audit-spool/flush-state.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !state.exists() {
        assert!(Instant::now() < deadline, "no audit flush within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut entries = Vec::new();
    walk(&data, &mut entries);
    let names: Vec<String> = entries
        .iter()
        .map(|(p, _, _)| p.strip_prefix(&data).unwrap().display().to_string())
        .collect();
    for expected in [
        "meta.db",
        "meta.db-wal",
        "meta.db-shm",
        "master.key",
        "bootstrap-token",
        "coffer.lock",
        "notes.txt",
        "blobs",
        "blobs/tmp",
        "audit-spool/node-id",
        "audit-spool/flush-state.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let blob_files = entries
        .iter()
        .filter(|(p, dir, _)| !dir && p.starts_with(data.join("blobs")))
        .count();
    assert!(
        blob_files >= 1,
        "the large object is a blob file: {names:?}"
    );
    let loose: Vec<String> = entries
        .iter()
        .filter(|(_, dir, mode)| {
            let allowed = if *dir { 0o700 } else { 0o600 };
            mode & !allowed != 0
        })
        .map(|(p, dir, mode)| {
            format!(
                "{} {} {mode:o}",
                if *dir { "dir" } else { "file" },
                p.display()
            )
        })
        .collect();
    assert!(loose.is_empty(), "not owner-only:\n{}", loose.join("\n"));
    drop(proc);
}

/// Starts `coffer server` on `data` expecting it to refuse to start; returns its stderr.
async fn refused_start(data: &Path) -> String {
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
        .env_remove("COFFER_CONFIG")
        .env_remove("COFFER_CRASH_AT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_exit(&mut child, Duration::from_secs(20)).await;
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started despite the planted symbolic link");
    }
    assert!(!exited.unwrap().success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_planted_at_a_secret_file_is_refused() {
    loose_umask();
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    let key_text = "ab".repeat(32);
    // master.key → an existing file (the old code read it as the key), master.key → a
    // path that does not exist yet (the old code replaced the link), bootstrap-token →
    // an existing file.
    for (file, existing) in [
        ("master.key", Some(key_text.as_str())),
        ("master.key", None),
        ("bootstrap-token", Some("precious")),
    ] {
        let data = tmp
            .path()
            .join(format!("data-{file}-{}", existing.is_some()));
        std::fs::create_dir(&data).unwrap();
        let _ = std::fs::remove_file(&victim);
        if let Some(text) = existing {
            std::fs::write(&victim, text).unwrap();
        }
        std::os::unix::fs::symlink(&victim, data.join(file)).unwrap();
        let stderr = refused_start(&data).await;
        let link = data.join(file);
        assert!(
            stderr.contains("symbolic link") && stderr.contains(&link.display().to_string()),
            "{file}: {stderr}"
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{file}: the link stays for the operator to inspect"
        );
        match existing {
            Some(text) => assert_eq!(std::fs::read_to_string(&victim).unwrap(), text, "{file}"),
            None => assert!(!victim.exists(), "{file}: the link's target was created"),
        }
    }
}
