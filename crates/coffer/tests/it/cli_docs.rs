//! `coffer completions` and `coffer man`: generated from the clap definitions (the
//! Debian package ships their output), covering every subcommand.

use std::process::{Command, Stdio};

fn coffer(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn completions_cover_the_subcommands_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _coffer"),
        ("zsh", "#compdef coffer"),
        ("fish", "complete -c coffer"),
    ] {
        let out = coffer(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}");
        for sub in ["server", "scrub", "configure", "key", "policy", "audit"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let out = coffer(&["completions", "tcsh"]);
    assert!(!out.status.success(), "an unknown shell is refused");
}

#[test]
fn a_closed_pipe_is_not_a_crash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn man_pages_for_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man");
    let out = coffer(&["man", "--out-dir", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    for page in [
        "coffer.1",
        "coffer-server.1",
        "coffer-key-create.1",
        "coffer-audit-verify.1",
        "coffer-configure.1",
    ] {
        let text =
            std::fs::read_to_string(out_dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is not roff"
        );
    }
    let server = std::fs::read_to_string(out_dir.join("coffer-server.1")).unwrap();
    assert!(server.contains("access\\-log"), "flags are documented");
}
