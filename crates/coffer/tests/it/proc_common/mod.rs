//! The real `coffer` binary as a child process, for the crash tests (`crash.rs`,
//! `audit_crash.rs`, `scale_out_crash.rs`, `crash_matrix.rs`, `disk_full.rs`,
//! `graceful_stop.rs`): start it on ephemeral ports (optionally with a crash point
//! armed), read the addresses it logs, give it an allow-all key, the deterministic
//! payloads the tests write and compare, and the checks they share (exactly-once audit,
//! blob files vs. references, usage).

#![allow(dead_code)] // not every helper is used

use coffer_server::testing::TestKey;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running server; killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    pub child: Child,
    pub s3: String,
    pub api: String,
    /// The server's log lines after the listeners came up (the first
    /// [`MAX_KEPT_LINES`]).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// How many log lines a [`Proc`] keeps (the rest are drained and dropped).
pub const MAX_KEPT_LINES: usize = 10_000;

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `coffer server` on ephemeral ports with `data` as data directory plus `extra`
/// flags, and reads the addresses it logs.
pub fn spawn_server<I, S>(data: &Path, extra: I) -> Proc
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    spawn_server_env(data, extra, &[])
}

/// `spawn_server` with extra environment variables (e.g. `COFFER_CRASH_AT`).
pub fn spawn_server_env<I, S>(data: &Path, extra: I, envs: &[(&str, &str)]) -> Proc
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
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
        .args(extra.into_iter().map(Into::into))
        .env("COFFER_LOG", "info")
        .env_remove("COFFER_CONFIG")
        .env_remove("COFFER_CRASH_AT")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn coffer");
    let stdout = child.stdout.take().unwrap();
    let (mut s3, mut api) = (None, None);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // The address ends the message: in text logs the line, in JSON logs (`--log-json`)
        // the quoted string.
        let addr = |rest: &str| {
            rest.split(|c: char| c == '"' || c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_string()
        };
        if let Some(i) = line.find("S3 endpoint listening on ") {
            s3 = Some(addr(&line[i + 25..]));
        }
        if let Some(i) = line.find("management API listening on ") {
            api = Some(addr(&line[i + 28..]));
        }
        if s3.is_some() && api.is_some() {
            break;
        }
    }
    // Keep draining the log so the server never blocks on a full pipe.
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut k = kept.lock().unwrap();
            if k.len() < MAX_KEPT_LINES {
                k.push(line);
            }
        }
    });
    Proc {
        child,
        s3: s3.expect("S3 address logged"),
        api: api.expect("API address logged"),
        log,
    }
}

/// Waits (without blocking the runtime) until `child` exits; `None` once `limit` passed.
pub async fn wait_exit(
    child: &mut Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The bootstrap admin token a server wrote into its data directory.
pub fn bootstrap_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("bootstrap-token"))
        .unwrap()
        .trim()
        .to_string()
}

/// Sets an allow-all org policy through `api` and creates a permanent key.
pub async fn allow_all_key(api: &str, token: &str) -> TestKey {
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{api}/v1/cwobject/access-policy"))
        .bearer_auth(token)
        .json(&json!({"policy": {"version": "v1alpha1", "name": "all", "statements": [
            {"name": "all", "effect": "Allow", "actions": ["*"], "resources": ["*"], "principals": ["*"]}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let k: serde_json::Value = http
        .post(format!("{api}/v1/cwobject/access-key"))
        .bearer_auth(token)
        .json(&json!({"durationSeconds": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    TestKey {
        access_key_id: k["accessKeyId"].as_str().unwrap().into(),
        secret_key: k["secretKey"].as_str().unwrap().into(),
        principal: k["principalName"].as_str().unwrap().into(),
    }
}

/// `len` deterministic pseudo-random bytes for `seed` (xorshift).
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
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

/// Uploads `parts` (number, body) to multipart upload `id` in order; `None` as soon as
/// one fails (the server crashed under it).
pub async fn upload_parts(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: Vec<(i32, Vec<u8>)>,
) -> Option<Vec<aws_sdk_s3::types::CompletedPart>> {
    let mut done = Vec::new();
    for (pn, body) in parts {
        let p = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(pn)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .ok()?;
        done.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(pn)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    Some(done)
}

pub fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// An S3 client that never retries, so each answered request is one request id.
pub fn no_retry_client(endpoint: &str, key: &TestKey) -> aws_sdk_s3::Client {
    coffer_server::testing::without_retries(&coffer_server::testing::s3_client_for(endpoint, key))
}

/// Every event in the audit bucket `bucket`, with the hash-chain report.
pub async fn audit_events(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> (Vec<serde_json::Value>, coffer_server::audit::chain::Report) {
    use coffer_server::audit::chain;
    let objects = coffer_server::testing::bucket_objects(s3, bucket).await;
    let mut events = Vec::new();
    for (key, body) in &objects {
        let d = chain::decode(body).unwrap_or_else(|e| panic!("{key}: {e}"));
        for l in d.events {
            events.push(serde_json::from_str(&l).unwrap());
        }
    }
    (events, chain::verify(objects))
}

/// Waits (≤ 60 s) until every request id in `expected` has an audit event, then checks
/// that each has exactly one, that no event id repeats and that every chain verifies.
/// Returns the number of events seen.
pub async fn assert_exactly_once_audit(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    expected: &std::collections::HashMap<String, &'static str>,
) -> usize {
    use std::collections::{HashMap, HashSet};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (events, report) = loop {
        let (events, report) = audit_events(s3, bucket).await;
        let seen: HashSet<&str> = events
            .iter()
            .filter_map(|e| e["requestId"].as_str())
            .collect();
        let missing = expected
            .keys()
            .filter(|id| !seen.contains(id.as_str()))
            .count();
        if missing == 0 {
            break (events, report);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{missing} of {} answered requests have no audit event",
            expected.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let mut per_request: HashMap<&str, usize> = HashMap::new();
    let mut ids = HashSet::new();
    for e in &events {
        assert!(
            ids.insert(e["eventId"].as_str().unwrap()),
            "duplicate event {e}"
        );
        *per_request
            .entry(e["requestId"].as_str().unwrap())
            .or_default() += 1;
    }
    for (id, kind) in expected {
        assert_eq!(
            per_request.get(id.as_str()),
            Some(&1),
            "{kind} request {id} must have exactly one event"
        );
    }
    assert!(
        per_request.values().all(|n| *n == 1),
        "a request was logged twice"
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    events.len()
}

/// Blob files on disk (`blobs/ab/cd/<id>`) and temp files (`blobs/tmp/*`).
pub fn blob_files(data: &Path) -> (std::collections::HashSet<String>, Vec<String>) {
    let root = data.join("blobs");
    blob_files_in(&root, &root.join("tmp"))
}

/// Blob files of the blob directory `root` (`ab/cd/<id>`) and the temp files in `tmp`.
pub fn blob_files_in(root: &Path, tmp: &Path) -> (std::collections::HashSet<String>, Vec<String>) {
    let mut blobs = std::collections::HashSet::new();
    for l1 in std::fs::read_dir(root).unwrap() {
        let l1 = l1.unwrap();
        let name = l1.file_name().into_string().unwrap();
        if name.len() != 2 || !l1.file_type().unwrap().is_dir() {
            continue;
        }
        for l2 in std::fs::read_dir(l1.path()).unwrap() {
            for f in std::fs::read_dir(l2.unwrap().path()).unwrap() {
                blobs.insert(f.unwrap().file_name().into_string().unwrap());
            }
        }
    }
    let temps = std::fs::read_dir(tmp)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    (blobs, temps)
}

/// Blob ids the metadata references (objects, versions, parts of open uploads), read
/// through a read-only connection beside the running server (WAL allows it).
pub fn referenced_blobs(data: &Path) -> std::collections::HashSet<String> {
    let c = rusqlite::Connection::open_with_flags(
        data.join("meta.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let mut set = std::collections::HashSet::new();
    for sql in [
        "SELECT blob_ids FROM objects WHERE blob_ids IS NOT NULL",
        "SELECT blob_ids FROM object_versions WHERE blob_ids IS NOT NULL",
        "SELECT blob_id FROM parts",
    ] {
        let mut st = c.prepare(sql).unwrap();
        let rows = st.query_map([], |r| r.get::<_, String>(0)).unwrap();
        for ids in rows {
            set.extend(
                ids.unwrap()
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        }
    }
    set
}

/// The JSON answer of a management API GET with `token`.
pub async fn api_get(api: &str, token: &str, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{api}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The org of the token's user (`/v1/iam/whoami`).
pub async fn org_id(api: &str, token: &str) -> String {
    api_get(api, token, "/v1/iam/whoami").await["orgId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The bucket's `(STORAGE_BYTES, OBJECT_COUNT)` from GetBucketInfo.
pub async fn bucket_usage(api: &str, token: &str, bucket: &str) -> (u64, u64) {
    let info = api_get(api, token, &format!("/v1/cwobject/bucket-info/{bucket}")).await;
    let get = |t: &str| -> u64 {
        info["info"]["usage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["measurementType"] == t)
            .unwrap_or_else(|| panic!("no {t} in {info}"))["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    (get("STORAGE_BYTES"), get("OBJECT_COUNT"))
}

/// Recovery's result on disk: no temp file, no blob file that no record references,
/// and a file for every referenced blob. Files are listed before the references are
/// read, so a blob committed in between cannot look like an orphan.
pub fn assert_blobs_exact(data: &Path, what: &str) {
    let (on_disk, temps) = blob_files(data);
    let referenced = referenced_blobs(data);
    assert!(temps.is_empty(), "{what}: temp files left: {temps:?}");
    let orphans: Vec<_> = on_disk.difference(&referenced).collect();
    assert!(orphans.is_empty(), "{what}: orphan blobs left: {orphans:?}");
    let dangling: Vec<_> = referenced.difference(&on_disk).collect();
    assert!(
        dangling.is_empty(),
        "{what}: referenced blobs missing: {dangling:?}"
    );
}

/// Whether this process runs as root (tests that mount a small filesystem need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
