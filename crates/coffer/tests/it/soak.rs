//! A short `coffer soak` (the 30-minute run is in docs/reliability.md): 16 clients of mixed
//! load on a real `coffer server` child process that is killed (SIGKILL) and stopped
//! gracefully (SIGTERM) once each, then the whole store is checked against the clients'
//! ledger.

use std::process::Command;

#[test]
fn short_soak_with_restarts_matches_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "soak",
            "--duration",
            "45s",
            "--clients",
            "16",
            "--keys-per-client",
            "12",
            "--max-size",
            "256KiB",
            "--restart-every",
            "15s",
            "--restart-signals",
            "kill,term",
            "--sample-every",
            "1s",
            "--report-every",
            "15s",
            "--seed",
            "8",
            // A 45 s run in a debug build is all warm-up: judge RSS by the 30-minute run.
            "--rss-growth-limit",
            "1000",
        ])
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .env_remove("COFFER_CONFIG")
        .output()
        .expect("run coffer soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "coffer soak failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["pass"], true, "{stdout}");

    // Both kinds of restart happened, and the server came back each time.
    let restarts = r["restarts"].as_array().unwrap();
    let kinds: Vec<&str> = restarts
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["kill", "term"], "{stdout}");
    let pids: std::collections::BTreeSet<u64> = r["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "three server processes sampled: {stdout}");

    // Every operation kind ran, and nothing failed outside a restart window.
    for op in ["put", "overwrite", "get", "list", "delete", "multipart"] {
        assert!(
            r["ops"][op]["ok"].as_u64().unwrap_or(0) > 0,
            "no successful {op}: {stdout}"
        );
    }
    assert_eq!(r["errors_outside"], 0, "{stdout}");
    assert_eq!(r["ledger_failures_during_load"], 0, "{stdout}");

    // The final read-back covered every key and agreed with the ledger.
    let f = &r["final_check"];
    assert_eq!(f["keys_checked"], 16 * 12, "{stdout}");
    assert_eq!(f["failures"], 0, "{stdout}");
    assert_eq!(f["list_matches"], true, "{stdout}");
    assert_eq!(f["unexpected_uploads"], 0, "{stdout}");
    assert_eq!(f["abandoned_found"], f["abandoned_expected"], "{stdout}");
    assert_eq!(f["graceful_shutdown_ok"], true, "{stdout}");
    assert!(f["keys_present"].as_u64().unwrap() > 0, "{stdout}");

    // Descriptors went back to the idle level once the clients disconnected.
    assert_eq!(r["resources"]["fds_flat"], true, "{stdout}");
}
