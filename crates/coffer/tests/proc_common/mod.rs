//! The real `coffer` binary as a child process, for the crash tests (`crash.rs`,
//! `audit_crash.rs`, `scale_out_crash.rs`): start it on ephemeral ports, read the
//! addresses it logs, give it an allow-all key, and the deterministic payloads the tests
//! write and compare.

#![allow(dead_code)] // each test binary uses a different subset

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
}

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

pub fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}
