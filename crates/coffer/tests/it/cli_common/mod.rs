//! Harness of the `cli_*` tests: a live `coffer` server (`TestServer`) and the real
//! `coffer` binary run as a child process, with an isolated environment (its own
//! `$HOME`, no `COFFER_*` variables, no proxies).
//!
//! Every run checks the secrets invariant: the token the command authenticates with
//! never appears on stdout or stderr.

// Each `cli_*` test binary uses a different subset of these helpers.
#![allow(dead_code)]

use coffer_server::testing::TestServer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// Environment variables the child must not inherit.
const SCRUB: [&str; 15] = [
    "COFFER_ENDPOINT",
    "COFFER_S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "COFFER_TOKEN",
    "COFFER_TOKEN_FILE",
    "COFFER_PROFILE",
    "XDG_CONFIG_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
];

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{self:#?}");
        self
    }

    /// Exit code `code` with a stderr `error: …` line containing `needle`.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Run {
        assert_eq!(self.code, code, "unexpected exit code:\n{self:#?}");
        assert!(
            self.stderr.starts_with("error: ") && self.stderr.contains(needle),
            "stderr should be an error line containing {needle:?}:\n{self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self:#?}"))
    }

    /// The lines of stdout.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The stdout line containing every needle; panics if none does.
    #[track_caller]
    pub fn line_with(&self, needles: &[&str]) -> &str {
        self.stdout
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no stdout line contains all of {needles:?}:\n{self:#?}"))
    }
}

/// The binary, pointed at one server with one token.
pub struct Cli {
    pub endpoint: String,
    pub token: String,
    home: tempfile::TempDir,
}

impl Cli {
    pub fn new(server: &TestServer) -> Cli {
        Cli::with(&server.api_endpoint, &server.admin_token)
    }

    pub fn with(endpoint: &str, token: &str) -> Cli {
        Cli {
            endpoint: endpoint.to_string(),
            token: token.to_string(),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The child's `$HOME`.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A file in the child's `$HOME` (parents created) with `mode`.
    pub fn write_home_file(&self, rel: &str, content: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.home().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// `coffer ARGS… --endpoint E --token T` (the connection options are global, so they
    /// may follow the subcommand).
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--endpoint", &self.endpoint, "--token", &self.token]);
        self.exec(&all, &[], None).await
    }

    /// Like [`Cli::run`], with `input` on stdin.
    pub async fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--endpoint", &self.endpoint, "--token", &self.token]);
        self.exec(&all, &[], Some(input)).await
    }

    /// `coffer ARGS…` exactly as given, with extra environment variables.
    pub async fn exec(&self, args: &[&str], env: &[(&str, &str)], input: Option<&str>) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        cmd.args(args)
            .env("HOME", self.home())
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for k in SCRUB {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn coffer");
        if let Some(text) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(text.as_bytes()).await.unwrap();
            drop(stdin);
        }
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("coffer finishes within 60 s")
                .expect("coffer runs");
        let run = Run {
            code: out.status.code().expect("exited, not killed by a signal"),
            stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        };
        assert!(
            !run.stdout.contains(&self.token) && !run.stderr.contains(&self.token),
            "the API token was printed:\n{run:#?}"
        );
        run
    }
}

pub async fn server() -> (TestServer, Cli) {
    let s = TestServer::start().await;
    let cli = Cli::new(&s);
    (s, cli)
}
