//! Test harness: a real `coffer server` on 127.0.0.1:0 with a temporary data directory,
//! plus helpers that drive it through real clients (reqwest for the management API,
//! aws-sdk-s3 for S3). Used by integration tests of every crate.

use crate::app::{Running, start};
use crate::config::Config;
use aws_sdk_s3::config::{Credentials, Region};
use serde_json::{Value, json};
use std::path::PathBuf;

pub struct TestServer {
    pub s3_endpoint: String,
    pub api_endpoint: String,
    /// The bootstrap admin's API token.
    pub admin_token: String,
    pub org_id: String,
    pub admin_uid: String,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    /// This node's id.
    pub node_id: String,
    running: Option<Running>,
    /// The configuration it was started with (for `restart`).
    cfg: Config,
    _tmp: Option<tempfile::TempDir>,
    /// Keeps a shared (PostgreSQL) setup alive as long as a server started on it.
    _shared: Option<std::sync::Arc<SharedSetup>>,
}

/// Several nodes on one machine, as in a scale-out deployment: one fresh PostgreSQL
/// database (on the server named by `COFFER_TEST_POSTGRES_URL`), one blob directory,
/// one master key file, and a data directory per node, all under one temp directory.
pub struct SharedSetup {
    pub metadata_url: String,
    pub blob_dir: PathBuf,
    pub master_key_file: PathBuf,
    pub root: PathBuf,
    _tmp: tempfile::TempDir,
}

impl SharedSetup {
    /// `None` (after printing why) when no test PostgreSQL is configured outside CI;
    /// panics in CI when it is missing (see `coffer_store::postgres::testing`).
    pub async fn new() -> Option<std::sync::Arc<SharedSetup>> {
        let admin = coffer_store::postgres::testing::test_server_url()?;
        let metadata_url = coffer_store::postgres::testing::fresh_database(&admin)
            .await
            .expect("create a test database");
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        let blob_dir = root.join("shared-blobs");
        let master_key_file = root.join("master.key");
        let key: [u8; 32] = rand::random();
        std::fs::write(&master_key_file, hex::encode(key)).expect("write master key");
        Some(std::sync::Arc::new(SharedSetup {
            metadata_url,
            blob_dir,
            master_key_file,
            root,
            _tmp: tmp,
        }))
    }

    /// The configuration of node `node_id` (own data directory, shared everything else).
    pub fn node_config(&self, node_id: &str) -> Config {
        let mut cfg = Config::with_data_dir(self.root.join(format!("node-{node_id}")));
        cfg.metadata = crate::config::Metadata::Postgres(self.metadata_url.clone());
        cfg.node_id = Some(node_id.to_string());
        cfg.blob_dir = Some(self.blob_dir.clone());
        cfg.master_key_file = Some(self.master_key_file.clone());
        cfg
    }

    /// Starts the first node (it bootstraps the empty database).
    pub async fn start_first(self: &std::sync::Arc<Self>, node_id: &str) -> TestServer {
        let mut s = TestServer::start_with(self.node_config(node_id)).await;
        s._shared = Some(self.clone());
        s
    }

    /// Starts another node, which finds the database bootstrapped: it is driven with the
    /// first node's admin token.
    pub async fn start_node(
        self: &std::sync::Arc<Self>,
        node_id: &str,
        first: &TestServer,
    ) -> TestServer {
        let mut s =
            TestServer::start_node(self.node_config(node_id), first.admin_token.clone()).await;
        s._shared = Some(self.clone());
        s
    }
}

/// An access key as returned by CreateAccessKeyFromJWT.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub access_key_id: String,
    pub secret_key: String,
    pub principal: String,
}

/// Whether [`TestServer::start`] puts metadata on PostgreSQL
/// (`COFFER_TEST_METADATA=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("COFFER_TEST_METADATA").as_deref() == Ok("postgres")
}

impl TestServer {
    /// Starts a server on a fresh temporary data directory. With
    /// `COFFER_TEST_METADATA=postgres` its metadata is a fresh PostgreSQL database instead
    /// (runs any integration test on the scale-out backend).
    pub async fn start() -> TestServer {
        Self::start_adjusted(|_| {}).await
    }

    /// [`Self::start`] with settings changed by `adjust` (on either metadata store).
    pub async fn start_adjusted(adjust: impl FnOnce(&mut Config)) -> TestServer {
        if on_postgres() {
            let shared = SharedSetup::new()
                .await
                .expect("COFFER_TEST_METADATA=postgres needs COFFER_TEST_POSTGRES_URL");
            let mut cfg = shared.node_config("solo");
            adjust(&mut cfg);
            let mut s = TestServer::start_with(cfg).await;
            s._shared = Some(shared);
            return s;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config::with_data_dir(tmp.path().to_path_buf());
        adjust(&mut cfg);
        let mut s = Self::start_with(cfg).await;
        s._tmp = Some(tmp);
        s
    }

    /// Starts (or restarts) a server on `data_dir`; the admin token is read from the
    /// bootstrap-token file.
    pub async fn start_in(data_dir: PathBuf) -> TestServer {
        Self::start_with(Config::with_data_dir(data_dir)).await
    }

    /// Starts a server on PostgreSQL metadata (its own fresh database) when
    /// `COFFER_TEST_POSTGRES_URL` is set; `None` otherwise (outside CI).
    pub async fn start_postgres() -> Option<TestServer> {
        let shared = SharedSetup::new().await?;
        Some(shared.start_first("solo").await)
    }

    pub async fn start_with(cfg: Config) -> TestServer {
        Self::start_inner(cfg, None).await
    }

    /// Starts a server on an already bootstrapped store, driven with `admin_token`.
    pub async fn start_node(cfg: Config, admin_token: String) -> TestServer {
        Self::start_inner(cfg, Some(admin_token)).await
    }

    async fn start_inner(mut cfg: Config, admin_token: Option<String>) -> TestServer {
        cfg.s3_listen = "127.0.0.1:0".parse().unwrap();
        cfg.api_listen = "127.0.0.1:0".parse().unwrap();
        let data_dir = cfg.data_dir.clone();
        let running = start(cfg.clone()).await.expect("server starts");
        let admin_token = admin_token.unwrap_or_else(|| {
            std::fs::read_to_string(&running.bootstrap_token_path)
                .expect("bootstrap token file")
                .trim()
                .to_string()
        });
        let s3_endpoint = format!("http://{}", running.s3_addr);
        let api_endpoint = format!("http://{}", running.api_addr);
        let http = reqwest::Client::new();
        let who: Value = http
            .get(format!("{api_endpoint}/v1/iam/whoami"))
            .bearer_auth(&admin_token)
            .send()
            .await
            .expect("whoami")
            .json()
            .await
            .unwrap_or(Value::Null);
        TestServer {
            s3_endpoint,
            api_endpoint,
            org_id: who["orgId"].as_str().unwrap_or_default().to_string(),
            admin_uid: who["uid"].as_str().unwrap_or_default().to_string(),
            admin_token,
            data_dir,
            http,
            node_id: running.node_id.clone(),
            running: Some(running),
            cfg,
            _tmp: None,
            _shared: None,
        }
    }

    /// Where this server's blob files live.
    pub fn blob_dir(&self) -> PathBuf {
        self.cfg
            .blob_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// Starts a server on a fresh temporary data directory with `operator_token` as the
    /// server-wide operator token.
    pub async fn start_with_operator(operator_token: &str) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let token_file = tmp.path().join("operator-token");
        std::fs::write(&token_file, format!("{operator_token}\n")).expect("operator token file");
        let mut cfg = Config::with_data_dir(tmp.path().join("data"));
        cfg.operator_token_file = Some(token_file);
        let mut s = Self::start_with(cfg).await;
        s._tmp = Some(tmp);
        s
    }

    /// With the operator token: a new org with an admin user, that admin's API token,
    /// and an allow-all org policy. Returns (orgId, admin uid, admin token).
    pub async fn org_with_allow_all_admin(
        &self,
        operator_token: &str,
        org_name: &str,
    ) -> (String, String, String) {
        let post = |path: &'static str, token: String, body: Value| async move {
            let (s, v) = self
                .api(reqwest::Method::POST, path, Some(&token), Some(body))
                .await;
            assert_eq!(s, 200, "POST {path}: {v}");
            v
        };
        let op = operator_token.to_string();
        let v = post("/v1/iam/orgs", op.clone(), json!({"name": org_name})).await;
        let org = v["org"]["orgId"].as_str().unwrap().to_string();
        let v = post(
            "/v1/iam/users",
            op.clone(),
            json!({"name": format!("{org_name}-admin"), "role": "admin", "orgId": org}),
        )
        .await;
        let uid = v["user"]["uid"].as_str().unwrap().to_string();
        let v = post(
            "/v1/iam/tokens",
            op,
            json!({"uid": uid, "durationSeconds": 0, "description": org_name}),
        )
        .await;
        let token = v["token"].as_str().unwrap().to_string();
        post(
            "/v1/cwobject/access-policy",
            token.clone(),
            json!({"policy": {"version": "v1alpha1", "name": "all", "statements": [
                {"name": "all", "effect": "Allow", "actions": ["*"], "resources": ["*"],
                 "principals": ["*"]}]}}),
        )
        .await;
        (org, uid, token)
    }

    /// Graceful stop; the data directory stays (if owned by the harness, until drop).
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Delivers every audit event acknowledged so far to the audit buckets.
    pub async fn flush_audit(&self) -> crate::audit::flush::FlushStats {
        self.running
            .as_ref()
            .expect("server is running")
            .flush_audit()
            .await
            .expect("audit flush")
    }

    /// Runs the bucket lifecycle worker once, now (at the server clock's "now").
    pub async fn run_lifecycle(&self) -> coffer_core::lifecycle::worker::LifecycleStats {
        self.running
            .as_ref()
            .expect("server is running")
            .run_lifecycle()
            .await
            .expect("lifecycle run")
    }

    /// Stops and starts again on the same data directory.
    pub async fn restart(mut self) -> TestServer {
        self.stop().await;
        let tmp = self._tmp.take();
        let mut s = Self::start_node(self.cfg.clone(), self.admin_token.clone()).await;
        s._tmp = tmp;
        s._shared = self._shared.take();
        s
    }

    /// Calls the management API; returns (HTTP status, JSON body or Null).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.api_endpoint, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("management API request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a permanent access key with `token` (CreateAccessKeyFromJWT).
    pub async fn create_key(&self, token: &str) -> TestKey {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/v1/cwobject/access-key",
                Some(token),
                Some(json!({"durationSeconds": 0})),
            )
            .await;
        assert_eq!(status, 200, "create key: {body}");
        TestKey {
            access_key_id: body["accessKeyId"].as_str().unwrap().to_string(),
            secret_key: body["secretKey"].as_str().unwrap().to_string(),
            principal: body["principalName"].as_str().unwrap().to_string(),
        }
    }

    /// Applies an org access policy with the admin token; panics unless accepted.
    pub async fn ensure_policy(&self, policy: Value) {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/v1/cwobject/access-policy",
                Some(&self.admin_token),
                Some(json!({ "policy": policy })),
            )
            .await;
        assert_eq!(status, 200, "ensure policy: {body}");
    }

    /// The reference's allow-everything policy.
    pub async fn allow_all(&self) {
        self.ensure_policy(json!({
            "version": "v1alpha1",
            "name": "test-policy",
            "statements": [{
                "name": "allow-everything",
                "effect": "Allow",
                "actions": ["*"],
                "resources": ["*"],
                "principals": ["*"]
            }]
        }))
        .await;
    }

    /// An aws-sdk-s3 client for `key`, path-style, against this server.
    pub fn s3_client(&self, key: &TestKey) -> aws_sdk_s3::Client {
        s3_client_for(&self.s3_endpoint, key)
    }

    /// Allow-all policy + a fresh admin key + its client.
    pub async fn s3_client_with_allow_all(&self) -> (aws_sdk_s3::Client, TestKey) {
        self.allow_all().await;
        let key = self.create_key(&self.admin_token).await;
        (self.s3_client(&key), key)
    }
}

/// Every key of `bucket` with its size, in key order (following continuation tokens).
pub async fn list_all(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list the bucket");
        for o in page.contents() {
            out.push((o.key().unwrap().to_string(), o.size().unwrap_or(0) as u64));
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

/// Every object of `bucket` with its bytes, in key order: what the audit tests read back
/// from an org's audit bucket.
pub async fn bucket_objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (key, _) in list_all(s3, bucket).await {
        let body = object_bytes(s3, bucket, &key).await;
        out.push((key, body));
    }
    out
}

/// PutBucketEncryption with SSE-S3 (`AES256`) as `bucket`'s default encryption.
pub async fn set_default_encryption(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .expect("algorithm set");
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .expect("rules set"),
        )
        .send()
        .await
        .expect("PutBucketEncryption");
}

/// `c` with the SDK's retries off: the first answer is the one under test, and each
/// answered request is one request id.
pub fn without_retries(c: &aws_sdk_s3::Client) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        c.config()
            .to_builder()
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    )
}

/// The bytes of `bucket/key`; panics naming the key if the GET fails.
pub async fn object_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

pub fn s3_client_for(endpoint: &str, key: &TestKey) -> aws_sdk_s3::Client {
    let creds = Credentials::new(
        key.access_key_id.clone(),
        key.secret_key.clone(),
        None,
        None,
        "coffer-test",
    );
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        // The zone name as region: uppercase regions exercise the gateway's re-signing
        // path (s3s 0.14 itself accepts only lowercase regions).
        .region(Region::new("US-EAST-04A"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Whether `python3` can import `modules` (`"boto3, requests"`).
pub fn python_has(modules: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `scripts/<script>` with `python3` and `args` where no AWS credentials or
/// configuration can come from the machine (a fresh `HOME`, no config files, no
/// instance metadata; only `PATH` and `PYTHONPATH` are kept), plus `env`.
pub async fn run_python_script(
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script)
        .canonicalize()
        .expect("the script exists");
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(&path)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied());
    if let Some(pp) = std::env::var_os("PYTHONPATH") {
        cmd.env("PYTHONPATH", pp);
    }
    cmd.output().await.expect("python3 runs")
}

/// Asserts that a script run by [`run_python_script`] succeeded and said `ok` last.
#[track_caller]
pub fn assert_script_ok(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
