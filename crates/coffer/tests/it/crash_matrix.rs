//! The crash matrix: for each named crash point compiled into the write paths
//! (`coffer_core::crash::POINTS`), a real `coffer server` is armed with
//! `COFFER_CRASH_AT=<point>:<nth>` and driven with concurrent PUTs (inline and blob
//! sized), overwrites, DELETEs, multipart uploads and policy updates, on a bucket with
//! audit logging and a 1-second flush, until it aborts at that point. It is restarted
//! unarmed on the same data directory, and then:
//!
//! * every key holds its last acknowledged state (bytes or absence), or the state of
//!   the one write that was in flight on it, complete — never anything else, never torn;
//! * nothing is listed that no client wrote;
//! * recovery left no temp file and no blob that no record references, and every
//!   referenced blob exists;
//! * the bucket's usage counters equal the sum over the listed objects;
//! * the policy under update is the acknowledged generation or the in-flight one (never
//!   torn), and S3 enforcement agrees with what the management API returns;
//! * every answered request has exactly one audit event, and every chain verifies.
//!
//! Every point runs on both metadata engines (`sqlite::*`, `postgres::*`; an engine's own
//! commit points only on it). On PostgreSQL the node runs as in scale-out (shared blob
//! directory, master key file), where recovery keeps unreferenced blobs younger than a
//! day (another node may be committing them): the blob check there is that no reference
//! dangles and no temp file of the node is left (a crashed completion alone can leave
//! every part it did not use unreferenced, so the orphans have no tighter bound).

use crate::proc_common::{
    Proc, allow_all_key, api_get, assert_blobs_exact, assert_exactly_once_audit, blob_files_in,
    bootstrap_token, bucket_usage, no_retry_client, org_id, payload, sha, spawn_server_env,
    upload_parts, wait_exit,
};

use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedMultipartUpload;
use coffer_server::testing::{SharedSetup, TestKey, list_all, s3_client_for};
use rand::Rng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BUCKET: &str = "matrix";
const PROBE: &str = "probe-a";
const FLUSH: [&str; 2] = ["--audit-flush-secs", "1"];

/// What a key may hold after the crash. `None` = absent.
#[derive(Clone, Default, Debug)]
struct KeyModel {
    acked: Option<String>,
    /// The outcome of the one request on this key that was not answered, if any.
    in_flight: Option<Option<String>>,
}

#[derive(Default)]
struct Model {
    keys: HashMap<String, KeyModel>,
    /// Request ids of answered requests that the audit log must hold exactly once.
    answered: HashMap<String, &'static str>,
    /// Generation of the `probe` policy last acknowledged, and the one in flight.
    policy_acked: u64,
    policy_in_flight: Option<u64>,
}

type Shared = Arc<Mutex<Model>>;

fn begin(m: &Shared, key: &str, outcome: Option<String>) {
    m.lock()
        .unwrap()
        .keys
        .entry(key.to_string())
        .or_default()
        .in_flight = Some(outcome);
}

fn ack(m: &Shared, key: &str, request_id: Option<&str>, kind: &'static str) {
    let mut m = m.lock().unwrap();
    let k = m.keys.get_mut(key).unwrap();
    k.acked = k.in_flight.take().unwrap();
    if let Some(id) = request_id {
        m.answered.insert(id.to_string(), kind);
    }
}

/// Generation `g` of the probe policy: even generations allow reading the probe object
/// (harmless next to the allow-all policy), odd ones deny it.
fn probe_policy(g: u64) -> Value {
    let effect = if g.is_multiple_of(2) { "Allow" } else { "Deny" };
    json!({"policy": {"version": "v1alpha1", "name": "probe", "statements": [
        {"name": format!("gen{g}"), "effect": effect, "actions": ["s3:GetObject"],
         "resources": [format!("{BUCKET}/{PROBE}")], "principals": ["*"]}]}})
}

struct Env {
    token: String,
    key: TestKey,
    org: String,
}

/// The metadata engine a matrix run uses.
#[derive(Clone, Copy, Debug)]
enum Engine {
    Sqlite,
    Postgres,
}

/// One server's files and flags, the same for every start of a run.
struct Node {
    data: PathBuf,
    args: Vec<OsString>,
    /// The PostgreSQL database and shared blob directory (kept alive with the run).
    shared: Option<std::sync::Arc<SharedSetup>>,
    _dir: tempfile::TempDir,
}

impl Node {
    /// `None` when the engine is not available here (PostgreSQL outside CI without
    /// `COFFER_TEST_POSTGRES_URL`; CI fails instead).
    async fn new(engine: Engine) -> Option<Node> {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<OsString> = FLUSH.iter().map(Into::into).collect();
        let (data, shared) = match engine {
            Engine::Sqlite => (dir.path().join("data"), None),
            Engine::Postgres => {
                let shared = SharedSetup::new().await?;
                let cfg = shared.node_config("a");
                args.extend(
                    [
                        "--node-id",
                        "a",
                        "--metadata",
                        &shared.metadata_url,
                        "--blob-dir",
                        shared.blob_dir.to_str().unwrap(),
                        "--master-key-file",
                        shared.master_key_file.to_str().unwrap(),
                    ]
                    .map(OsString::from),
                );
                (cfg.data_dir, Some(shared))
            }
        };
        Some(Node {
            data,
            args,
            shared,
            _dir: dir,
        })
    }

    fn spawn(&self, envs: &[(&str, &str)]) -> Proc {
        spawn_server_env(&self.data, self.args.clone(), envs)
    }

    /// Recovery's outcome, checked before any write after the restart.
    async fn assert_blobs(&self, spec: &str) {
        let Some(shared) = &self.shared else {
            return assert_blobs_exact(&self.data, spec);
        };
        let (on_disk, temps) = blob_files_in(&shared.blob_dir, &shared.blob_dir.join("tmp/a"));
        let store = coffer_store::PgMetaStore::connect(&shared.metadata_url)
            .await
            .unwrap();
        let referenced = coffer_core::meta::MetaStore::referenced_blobs(&store)
            .await
            .unwrap();
        assert!(temps.is_empty(), "{spec}: temp files left: {temps:?}");
        let dangling: Vec<_> = referenced.difference(&on_disk).collect();
        assert!(
            dangling.is_empty(),
            "{spec}: referenced blobs missing: {dangling:?}"
        );
        let orphans = on_disk.difference(&referenced).count();
        eprintln!("{spec}: {orphans} unreferenced blobs kept for the shared directory's grace");
    }
}

/// First start (unarmed): key, bucket with audit logging, probe object and policy.
async fn setup(node: &Node) -> Env {
    let proc = node.spawn(&[]);
    let token = bootstrap_token(&node.data);
    let http = reqwest::Client::new();
    let org = org_id(&proc.api, &token).await;
    let key = allow_all_key(&proc.api, &token).await;
    let s3 = s3_client_for(&proc.s3, &key);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3.put_object()
        .bucket(BUCKET)
        .key(PROBE)
        .body(ByteStream::from_static(b"probe"))
        .send()
        .await
        .unwrap();
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            "/v1/cwobject/bucket/settings",
            json!({"bucketName": BUCKET, "settings": {"auditLoggingEnabled": true}}),
        ),
        (
            reqwest::Method::PUT,
            "/v1/cwobject/organization/settings",
            json!({"settings": {"controlPlaneAuditLoggingEnabled": true}}),
        ),
        (
            reqwest::Method::POST,
            "/v1/cwobject/access-policy",
            probe_policy(0),
        ),
    ] {
        let r = http
            .request(method, format!("{}{path}", proc.api))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    Env { token, key, org }
}

/// A worker owning keys `w<w>/k0..k5`: random PUTs (inline 1 KiB and blob-backed
/// 300 KiB / 1.5 MiB) and DELETEs until a request is not answered.
async fn simple_worker(client: aws_sdk_s3::Client, m: Shared, w: u64) {
    for i in 0u64.. {
        let (k, op, size) = {
            let mut r = rand::rng();
            (
                r.random_range(0..6),
                r.random_range(0..5),
                [1 << 10, 300 << 10, 1536 << 10][r.random_range(0..3)],
            )
        };
        let name = format!("w{w}/k{k}");
        if op == 0 {
            begin(&m, &name, None);
            match client
                .delete_object()
                .bucket(BUCKET)
                .key(&name)
                .send()
                .await
            {
                Ok(out) => ack(&m, &name, out.request_id(), "s3 delete"),
                Err(_) => return,
            }
        } else {
            let body = payload(w << 32 | i, size + i as usize);
            begin(&m, &name, Some(sha(&body)));
            match client
                .put_object()
                .bucket(BUCKET)
                .key(&name)
                .body(ByteStream::from(body))
                .send()
                .await
            {
                Ok(out) => ack(&m, &name, out.request_id(), "s3 put"),
                Err(_) => return,
            }
        }
    }
}

/// Multipart uploads (5 MiB + a small last part) to keys `mp/k0..k2`, overwriting.
async fn multipart_worker(client: aws_sdk_s3::Client, m: Shared) {
    for i in 0u64.. {
        let name = format!("mp/k{}", i % 3);
        let (a, b) = (payload(1 << 40 | i, 5 << 20), payload(2 << 40 | i, 70_000));
        let whole = [a.as_slice(), b.as_slice()].concat();
        let Ok(up) = client
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(&name)
            .send()
            .await
        else {
            return;
        };
        let id = up.upload_id().unwrap().to_string();
        let Some(parts) = upload_parts(&client, BUCKET, &name, &id, vec![(1, a), (2, b)]).await
        else {
            return;
        };
        begin(&m, &name, Some(sha(&whole)));
        match client
            .complete_multipart_upload()
            .bucket(BUCKET)
            .key(&name)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
        {
            Ok(out) => ack(&m, &name, out.request_id(), "s3 complete"),
            Err(_) => return,
        }
    }
}

/// Replaces the probe policy with the next generation until a call is not answered.
async fn policy_worker(api: String, token: String, m: Shared) {
    let http = reqwest::Client::new();
    for g in 1u64.. {
        m.lock().unwrap().policy_in_flight = Some(g);
        let Ok(r) = http
            .post(format!("{api}/v1/cwobject/access-policy"))
            .bearer_auth(&token)
            .json(&probe_policy(g))
            .send()
            .await
        else {
            return;
        };
        if r.status() != 200 {
            return;
        }
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        {
            let mut m = m.lock().unwrap();
            m.policy_acked = g;
            m.policy_in_flight = None;
            m.answered.insert(id, "policy ensure");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run_point(engine: Engine, point: &str, nth: u64) {
    let started = Instant::now();
    let Some(node) = Node::new(engine).await else {
        return;
    };
    let env = setup(&node).await;
    let spec = format!("{engine:?} {point}:{nth}");
    let mut armed: Proc = node.spawn(&[("COFFER_CRASH_AT", &format!("{point}:{nth}"))]);

    let m: Shared = Arc::default();
    let client = no_retry_client(&armed.s3, &env.key);
    let mut tasks = Vec::new();
    for w in 0..3 {
        tasks.push(tokio::spawn(simple_worker(client.clone(), m.clone(), w)));
    }
    tasks.push(tokio::spawn(multipart_worker(client.clone(), m.clone())));
    tasks.push(tokio::spawn(policy_worker(
        armed.api.clone(),
        env.token.clone(),
        m.clone(),
    )));
    let status = wait_exit(&mut armed.child, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("{spec}: the crash point was not reached within 60 s"));
    assert_eq!(
        status.signal(),
        Some(6),
        "{spec}: the server must die by abort at the crash point, not {status:?}"
    );
    for t in tasks {
        t.await.unwrap();
    }
    drop(armed);

    let proc = node.spawn(&[]);
    let model = std::mem::take(&mut *m.lock().unwrap());
    // Recovery ran before the listeners opened: check the directory before any write.
    // Files are listed before the references are read, so a blob committed meanwhile
    // (none should be: audit objects are inline) cannot look like an orphan.
    node.assert_blobs(&spec).await;

    let s3 = s3_client_for(&proc.s3, &env.key);
    let mut acked_writes = 0;
    for (name, k) in &model.keys {
        let got = match s3.get_object().bucket(BUCKET).key(name).send().await {
            Ok(o) => Some(sha(&o.body.collect().await.unwrap().into_bytes())),
            Err(e) => {
                let e = e.into_service_error();
                assert!(e.is_no_such_key(), "{spec}: GET {name}: {e:?}");
                None
            }
        };
        acked_writes += usize::from(k.acked.is_some());
        let ok = got == k.acked || k.in_flight.as_ref() == Some(&got);
        assert!(
            ok,
            "{spec}: {name} holds {got:?}; acknowledged {:?}, in flight {:?}",
            k.acked, k.in_flight
        );
    }

    let (mut bytes, mut count) = (0u64, 0u64);
    for (name, size) in list_all(&s3, BUCKET).await {
        assert!(
            name == PROBE || model.keys.contains_key(&name),
            "{spec}: {name} listed but never written"
        );
        bytes += size;
        count += 1;
    }
    assert_eq!(
        bucket_usage(&proc.api, &env.token, BUCKET).await,
        (bytes, count),
        "{spec}: usage counters (bytes, objects) differ from the listing"
    );

    let list = api_get(&proc.api, &env.token, "/v1/cwobject/access-policy").await;
    let probe = list["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "probe")
        .unwrap_or_else(|| panic!("{spec}: probe policy lost: {list}"));
    let stmts = probe["statements"].as_array().unwrap();
    assert_eq!(stmts.len(), 1, "{spec}: torn policy {probe}");
    let g: u64 = stmts[0]["name"].as_str().unwrap()[3..].parse().unwrap();
    assert_eq!(
        probe,
        &probe_policy(g)["policy"],
        "{spec}: policy generation {g} is torn"
    );
    assert!(
        g == model.policy_acked || Some(g) == model.policy_in_flight,
        "{spec}: policy generation {g}; acknowledged {}, in flight {:?}",
        model.policy_acked,
        model.policy_in_flight
    );
    let read = s3.get_object().bucket(BUCKET).key(PROBE).send().await;
    match (g % 2, read) {
        (0, Ok(_)) => {}
        (1, Err(e)) => {
            let e = e.into_service_error();
            assert_eq!(e.meta().code(), Some("AccessDenied"), "{spec}: {e:?}");
        }
        (_, r) => panic!("{spec}: generation {g} enforced wrongly: {r:?}"),
    }

    let audit_bucket = format!("cw-{}-audit-logs", env.org);
    let events = assert_exactly_once_audit(&s3, &audit_bucket, &model.answered).await;
    eprintln!(
        "{spec}: {} keys ({acked_writes} with acknowledged bytes), {} answered requests, \
         {events} audit events, policy generation {g}, {count} objects / {bytes} bytes, {:?}",
        model.keys.len(),
        model.answered.len(),
        started.elapsed()
    );
    drop(proc);
}

/// One test per crash point and engine; `nth` is drawn from a range so CI runs cover
/// several moments, and printed (with the point) in every failure message.
macro_rules! matrix {
    ($engine:ident, $kind:expr, [$($test:ident, $point:literal, $lo:literal..$hi:literal;)*]) => {
        mod $engine {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let nth = rand::rng().random_range($lo..$hi);
                    run_point($kind, $point, nth).await;
                }
            )*
        }
    };
}

/// The points every engine passes through.
macro_rules! common_points {
    ($engine:ident, $kind:expr, [$($own:tt)*]) => {
        matrix!($engine, $kind, [
            blob_before_fsync, "blob.before_fsync", 2..20;
            blob_after_fsync, "blob.after_fsync", 2..20;
            blob_after_rename, "blob.after_rename", 2..20;
            multipart_before_commit, "multipart.before_commit", 1..4;
            multipart_after_commit, "multipart.after_commit", 1..4;
            audit_flush_before_commit, "audit.flush.before_commit", 1..5;
            audit_flush_after_commit, "audit.flush.after_commit", 1..5;
            policy_after_store, "policy.after_store", 1..10;
            $($own)*
        ]);
    };
}

common_points!(sqlite, Engine::Sqlite, [
    before_commit, "sqlite.before_commit", 5..80;
    after_commit, "sqlite.after_commit", 5..80;
]);
common_points!(postgres, Engine::Postgres, [
    before_commit, "postgres.before_commit", 5..80;
    after_commit, "postgres.after_commit", 5..80;
]);

/// Every crash point is armed by a test: the server's here; the compute-node cache's
/// (`cache.*`) in `cache_node.rs`, which restarts the node on the same directory.
#[test]
fn every_point_is_in_the_matrix() {
    let (matrix, cache) = (
        include_str!("crash_matrix.rs"),
        include_str!("cache_node.rs"),
    );
    for p in coffer_core::crash::POINTS {
        let tested = if p.starts_with("cache.") {
            cache.contains(&format!("(\"COFFER_CRASH_AT\", \"{p}\")"))
        } else {
            matrix.contains(&format!("\"{p}\", "))
        };
        assert!(tested, "crash point {p} has no test");
    }
}
