//! Disk full: the whole data directory (metadata database, blobs, audit spool) on a
//! 16 MiB tmpfs that the test mounts itself. PUTs fill it until they fail; then:
//!
//! * the failure is S3's `InsufficientStorage` (HTTP 507) XML error — for blob writes,
//!   inline objects and multipart parts alike — never a 500, never a hang. PUTs are
//!   refused at the free-space reserve; a part sent with a ballast file taking every
//!   last byte meets ENOSPC or the reserve, whichever comes first. (SQLITE_FULL maps to
//!   the same error; `coffer_store::sqlite::exec` tests it with `max_page_count`.)
//! * GET, HEAD and LIST of every stored object return the right bytes, the management
//!   API keeps answering reads, and a management write answers 200 or JSON
//!   ResourceExhausted, never 500;
//! * DELETE works while the disk is full;
//! * once the filesystem is enlarged (`mount -o remount,size=`), writes succeed again
//!   without a restart (the SQLite writer is not wedged);
//! * after a restart, exactly the acknowledged objects are listed with their bytes (no
//!   partial object), usage counters are exact, and no temp or orphan blob file is left.
//!
//! Mounting needs root, or a user namespace: when not root, the test re-runs itself
//! under `unshare -rm` (mapped root in a private mount namespace). Only if neither works
//! does it skip, loudly.

use crate::proc_common::{
    allow_all_key, assert_blobs_exact, bootstrap_token, bucket_usage, is_root, no_retry_client,
    payload, sha, spawn_server,
};

use aws_sdk_s3::primitives::ByteStream;
use coffer_server::testing::{list_all, object_bytes};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BUCKET: &str = "full";
const INNER: &str = "COFFER_DISK_FULL_INNER";

/// A tmpfs mounted by the test; unmounted when dropped (also when the test panics).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Self(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        // Type and source spelled out: inside a user namespace, mount(8) cannot look
        // the mount up by its directory alone.
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("remount,size={size}"),
                "tmpfs",
            ])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount {} to {size}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A file that takes every free byte of the filesystem; removed when dropped.
struct Ballast(PathBuf);

impl Ballast {
    fn fill(dir: &Path) -> Self {
        use std::io::Write;
        let path = dir.join("ballast");
        let mut f = std::fs::File::create(&path).unwrap();
        let page = [0xb5u8; 4096];
        loop {
            match f.write(&page) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        Self(path)
    }
}

impl Drop for Ballast {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// This test's name as the test harness knows it (`disk_full::…`, its module path below
/// the test crate).
fn this_test() -> String {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    format!("{module}::disk_full_fails_writes_cleanly_and_recovers")
}

#[test]
fn disk_full_fails_writes_cleanly_and_recovers() {
    if std::env::var_os(INNER).is_none() && !is_root() {
        // Re-run just this test as mapped root in a private mount namespace.
        let ok = Command::new("unshare")
            .args(["-rm", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "\n*** SKIPPED disk_full: not root and no user namespaces (`unshare -rm` \
                 failed), so no small filesystem can be mounted ***\n"
            );
            return;
        }
        let st = Command::new("unshare")
            .arg("-rm")
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", &this_test(), "--nocapture"])
            .env(INNER, "1")
            .status()
            .unwrap();
        assert!(st.success(), "the test failed inside `unshare -rm`");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

/// PUTs `len`-byte objects `<prefix><i>` until one fails; returns the stored ones and
/// the failure's (HTTP status, S3 code).
async fn fill(
    s3: &aws_sdk_s3::Client,
    prefix: &str,
    len: usize,
    stored: &mut BTreeMap<String, String>,
) -> (u16, String) {
    for i in 0..400u64 {
        let key = format!("{prefix}{i}");
        let body = payload(i ^ len as u64, len);
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            s3.put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(ByteStream::from(body.clone()))
                .send(),
        )
        .await;
        let Ok(r) = r else {
            panic!("PUT {key} hung on a full disk");
        };
        match r {
            Ok(_) => {
                stored.insert(key, sha(&body));
            }
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                let e = e.into_service_error();
                let code = e.meta().code().unwrap_or_default().to_string();
                return (status, code);
            }
        }
    }
    panic!("{prefix}: 400 PUTs of {len} bytes never filled a 16 MiB filesystem");
}

/// Checks that exactly `stored` is listed, readable and unchanged; returns the bytes read.
async fn check_objects(s3: &aws_sdk_s3::Client, stored: &BTreeMap<String, String>) -> u64 {
    let listed: BTreeMap<String, u64> = list_all(s3, BUCKET).await.into_iter().collect();
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        stored.keys().collect::<Vec<_>>(),
        "exactly the acknowledged objects are listed"
    );
    let mut total = 0;
    for (key, digest) in stored {
        let bytes = object_bytes(s3, BUCKET, key).await;
        assert_eq!(&sha(&bytes), digest, "{key} changed");
        total += bytes.len() as u64;
        s3.head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    total
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let fs = match Tmpfs::mount(&mnt, "16m") {
        Ok(fs) => fs,
        Err(e) => panic!("mounting a tmpfs failed although we are (mapped) root: {e}"),
    };
    let data = mnt.join("data");
    let mut proc = spawn_server(&data, [] as [&str; 0]);
    let token = bootstrap_token(&data);
    let key = allow_all_key(&proc.api, &token).await;
    let s3 = no_retry_client(&proc.s3, &key);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let http = reqwest::Client::new();

    // key -> sha256 of what an acknowledged PUT stored.
    let mut stored = BTreeMap::new();
    let (status, code) = fill(&s3, "blob/", 1 << 20, &mut stored).await;
    assert_eq!(
        (status, code.as_str()),
        (507, "InsufficientStorage"),
        "a blob PUT on a full disk"
    );
    // Inline objects go to SQLite, and are refused the same way.
    let (status, code) = fill(&s3, "inline/", 100 << 10, &mut stored).await;
    assert_eq!(
        (status, code.as_str()),
        (507, "InsufficientStorage"),
        "an inline PUT on a full disk"
    );
    let blobs = stored.keys().filter(|k| k.starts_with("blob/")).count();
    assert!(blobs >= 3, "only {blobs} 1 MiB objects fitted");

    // Multipart: the part upload fails the same way. The upload is created while the
    // reserve still leaves the database room. The fills above stop at the reserve,
    // which a 64 KiB part may still fit above (it is smaller than the inline objects,
    // and the database may have given space back), so a ballast file then takes the
    // rest of the filesystem: the part fails whichever check sees it first.
    let up = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .send()
        .await
        .expect("an upload is created within the reserve");
    let ballast = Ballast::fill(&mnt);
    let r = s3
        .upload_part()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        // Small enough to sit in the socket buffers: a larger body races the early 507
        // (the server answers before reading it and closes; the reset can discard the
        // answer at the client).
        .body(ByteStream::from(payload(7, 64 << 10)))
        .send()
        .await;
    let e = r
        .expect_err("no part fits on a full disk")
        .into_service_error();
    assert_eq!(e.meta().code(), Some("InsufficientStorage"), "{e:?}");
    drop(ballast);
    s3.abort_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .send()
        .await
        .expect("abort on a full disk");

    // Reads keep working.
    check_objects(&s3, &stored).await;
    for path in [
        "/v1/iam/whoami",
        "/v1/cwobject/bucket-info",
        "/v1/cwobject/access-policy",
    ] {
        let r = http
            .get(format!("{}{path}", proc.api))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path} on a full disk");
    }
    // A management write either fits or is refused with the JSON error, never a 500.
    let r = http
        .post(format!("{}/v1/cwobject/access-key", proc.api))
        .bearer_auth(&token)
        .json(&json!({"durationSeconds": 0}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert!(
        status == 200 || (status == 429 && body["code"] == 8),
        "management write on a full disk: {status} {body}"
    );

    // Deletes work on a full disk.
    let doomed: Vec<String> = stored.keys().take(2).cloned().collect();
    for k in &doomed {
        s3.delete_object()
            .bucket(BUCKET)
            .key(k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {k} on a full disk: {e:?}"));
        stored.remove(k);
    }
    check_objects(&s3, &stored).await;

    // Space returns: writes succeed again without a restart.
    fs.resize("48m");
    for (k, len) in [("after/blob", 1 << 20), ("after/inline", 1000)] {
        let body = payload(99, len);
        s3.put_object()
            .bucket(BUCKET)
            .key(k)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {k} after space returned: {e:?}"));
        stored.insert(k.to_string(), sha(&body));
    }
    check_objects(&s3, &stored).await;

    // After a restart everything is consistent.
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
    proc = spawn_server(&data, [] as [&str; 0]);
    assert_blobs_exact(&data, "disk full");
    let s3 = no_retry_client(&proc.s3, &key);
    let bytes = check_objects(&s3, &stored).await;
    assert_eq!(
        bucket_usage(&proc.api, &token, BUCKET).await,
        (bytes, stored.len() as u64),
        "usage counters after disk full"
    );
    eprintln!(
        "disk full: {blobs} blob objects + {} inline fitted in 16 MiB; {} objects after recovery",
        stored.keys().filter(|k| k.starts_with("inline/")).count(),
        stored.len()
    );
    drop(proc);
    drop(fs);
}
