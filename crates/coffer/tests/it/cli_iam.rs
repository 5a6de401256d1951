//! `coffer whoami`, `coffer user …`, `coffer token …`, `coffer org create|list` (operator
//! token) against a live server, plus how the client finds its endpoint and token
//! (flags, environment, profiles file, token files) and the top-level command tree.

use crate::cli_common::{Cli, server};
use coffer_server::testing::TestServer;
use serde_json::Value;

const OPERATOR_TOKEN: &str = "CW-SECRET-operator-token-for-cli-tests-0001";

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string in {v}"))
}

#[tokio::test]
async fn whoami_users_and_tokens() {
    let (s, cli) = server().await;

    let w = cli.run(&["whoami", "--json"]).await.ok().json();
    assert_eq!(field(&w, &["uid"]), s.admin_uid);
    assert_eq!(field(&w, &["orgId"]), s.org_id);
    assert_eq!(field(&w, &["role"]), "admin");
    assert_eq!(
        field(&w, &["principal"]),
        format!("coreweave/{}", s.admin_uid)
    );
    let t = cli.run(&["whoami"]).await.ok();
    assert!(t.line_with(&["Role:"]).ends_with("admin"), "{t:#?}");
    assert!(t.line_with(&["Uid:"]).ends_with(&s.admin_uid), "{t:#?}");

    // Users.
    let alice = cli
        .run(&["user", "create", "alice", "--role", "member", "--json"])
        .await
        .ok()
        .json();
    let alice_uid = field(&alice, &["user", "uid"]).to_string();
    assert_eq!(field(&alice, &["user", "role"]), "member");
    assert_eq!(field(&alice, &["user", "orgId"]), s.org_id);
    let bob = cli
        .run(&["user", "create", "bob", "--role", "admin"])
        .await
        .ok();
    assert!(bob.line_with(&["Role:"]).ends_with("admin"), "{bob:#?}");
    let bob_uid = bob
        .line_with(&["Uid:"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();

    let l = cli.run(&["user", "list", "--json"]).await.ok().json();
    let uids: Vec<&str> = l["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, [s.admin_uid.as_str(), &alice_uid, &bob_uid]);
    let lt = cli.run(&["user", "list"]).await.ok();
    assert!(lt.lines()[0].starts_with("UID"), "{lt:#?}");
    assert!(lt.line_with(&[&alice_uid, "alice"]).contains("member"));

    // Tokens: one for alice (a member), one for yourself (table output).
    let created = cli
        .run(&[
            "token",
            "create",
            "--uid",
            &alice_uid,
            "--duration",
            "3600",
            "--description",
            "alice ci",
            "--json",
        ])
        .await
        .ok()
        .json();
    let alice_token = field(&created, &["token"]).to_string();
    let alice_token_id = field(&created, &["info", "tokenId"]).to_string();
    assert!(alice_token.starts_with("CW-SECRET-"), "{created}");
    assert_eq!(field(&created, &["info", "uid"]), alice_uid);
    assert!(created["info"]["expiry"].is_string(), "{created}");
    let mine = cli
        .run(&["token", "create", "--description", "mine"])
        .await
        .ok();
    assert!(
        mine.line_with(&["Token:"]).contains("CW-SECRET-"),
        "{mine:#?}"
    );
    assert!(mine.line_with(&["Uid:"]).ends_with(&s.admin_uid));
    assert!(mine.line_with(&["Expiry:"]).ends_with("never"));
    assert!(mine.stderr.contains("shown only once"), "{mine:#?}");

    // The new token works, and is alice's.
    let as_alice = Cli::with(&s.api_endpoint, &alice_token);
    let w = as_alice.run(&["whoami", "--json"]).await.ok().json();
    assert_eq!(field(&w, &["uid"]), alice_uid);
    assert_eq!(field(&w, &["role"]), "member");
    // A member without policies is denied management actions.
    as_alice.run(&["key", "list"]).await.fails(1, "(code 7)");
    as_alice.run(&["user", "list"]).await.fails(1, "(code 7)");

    let tl = cli.run(&["token", "list", "--json"]).await.ok();
    let n = tl.json()["tokens"].as_array().unwrap().len();
    assert_eq!(n, 3, "bootstrap + 2: {tl:#?}");
    assert!(tl.stdout.contains(&alice_token_id));
    assert!(
        !tl.stdout.contains(&alice_token),
        "token secrets are never listed"
    );
    let tt = cli.run(&["token", "list"]).await.ok();
    assert!(tt.lines()[0].starts_with("TOKEN ID"), "{tt:#?}");
    assert!(
        tt.line_with(&[&alice_token_id, &alice_uid])
            .contains("alice ci")
    );

    // Revoke alice's token: it stops working.
    let r = cli.run(&["token", "revoke", &alice_token_id]).await.ok();
    assert_eq!(r.stdout.trim(), format!("Revoked token {alice_token_id}."));
    as_alice.run(&["whoami"]).await.fails(1, "(code 16)");
    cli.run(&["token", "revoke", &alice_token_id])
        .await
        .fails(1, "(code 5)");

    // Delete users.
    let d = cli.run(&["user", "delete", &bob_uid]).await.ok();
    assert!(
        d.stdout.starts_with(&format!("Deleted user {bob_uid}")),
        "{d:#?}"
    );
    let d = cli
        .run(&["user", "delete", &alice_uid, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(d, serde_json::json!({}));
    cli.run(&["user", "delete", &alice_uid])
        .await
        .fails(1, "(code 5)");
    let l = cli.run(&["user", "list", "--json"]).await.ok().json();
    assert_eq!(l["users"].as_array().unwrap().len(), 1);

    // Usage errors.
    for bad in [
        &["user", "create", "carol"][..],
        &["user", "create", "carol", "--role", "owner"],
        &["token", "create", "--duration", "soon"],
    ] {
        let u = cli.run(bad).await;
        assert_eq!(u.code, 2, "{bad:?}: {u:#?}");
    }
}

#[tokio::test]
async fn operator_orgs_users_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let op_file = tmp.path().join("operator-token");
    std::fs::write(&op_file, format!("{OPERATOR_TOKEN}\n")).unwrap();
    let mut cfg = coffer_server::Config::with_data_dir(tmp.path().join("data"));
    cfg.operator_token_file = Some(op_file);
    let s = TestServer::start_with(cfg).await;
    let op = Cli::with(&s.api_endpoint, OPERATOR_TOKEN);
    let admin = Cli::new(&s);

    let w = op.run(&["whoami", "--json"]).await.ok().json();
    assert_eq!(field(&w, &["role"]), "operator");
    let wt = op.run(&["whoami"]).await.ok();
    assert!(wt.line_with(&["Uid:"]).ends_with('-'), "{wt:#?}");

    // Orgs.
    let acme = op
        .run(&[
            "org",
            "create",
            "acme",
            "--entitlement",
            "BucketArchive",
            "--json",
        ])
        .await
        .ok()
        .json();
    let acme_id = field(&acme, &["org", "orgId"]).to_string();
    assert_eq!(acme_id.len(), 6, "{acme}");
    assert_eq!(acme["org"]["entitlements"][0], "BucketArchive");
    let beta = op.run(&["org", "create", "beta"]).await.ok();
    assert!(beta.line_with(&["Name:"]).ends_with("beta"), "{beta:#?}");
    assert!(
        beta.line_with(&["Entitlements:"]).ends_with('-'),
        "{beta:#?}"
    );

    let l = op.run(&["org", "list", "--json"]).await.ok().json();
    let ids: Vec<&str> = l["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orgId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "bootstrap, acme, beta: {l}");
    assert!(ids.contains(&s.org_id.as_str()) && ids.contains(&acme_id.as_str()));
    let lt = op.run(&["org", "list"]).await.ok();
    assert!(lt.lines()[0].starts_with("ORG ID"), "{lt:#?}");
    assert!(lt.line_with(&[&acme_id, "acme"]).contains("BucketArchive"));
    // An org admin sees only its own org and cannot create one.
    let own = admin.run(&["org", "list", "--json"]).await.ok().json();
    assert_eq!(own["orgs"].as_array().unwrap().len(), 1);
    let r = admin.run(&["org", "create", "nope"]).await;
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.contains("(code"),
        "{r:#?}"
    );

    // Users and tokens of another org, named with --org-id.
    let root = op
        .run(&[
            "user", "create", "root", "--role", "admin", "--org-id", &acme_id, "--json",
        ])
        .await
        .ok()
        .json();
    let root_uid = field(&root, &["user", "uid"]).to_string();
    assert_eq!(field(&root, &["user", "orgId"]), acme_id);
    let users = op
        .run(&["user", "list", "--org-id", &acme_id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(users["users"][0]["uid"], root_uid.as_str());
    op.run(&["token", "create", "--description", "x"])
        .await
        .fails(1, "(code 3)");
    let tok = op
        .run(&["token", "create", "--uid", &root_uid, "--json"])
        .await
        .ok()
        .json();
    let root_token = field(&tok, &["token"]).to_string();
    let token_id = field(&tok, &["info", "tokenId"]).to_string();
    let w = Cli::with(&s.api_endpoint, &root_token)
        .run(&["whoami", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(field(&w, &["orgId"]), acme_id);
    let tl = op
        .run(&["token", "list", "--org-id", &acme_id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(tl["tokens"][0]["tokenId"], token_id.as_str());
    op.run(&["token", "revoke", &token_id, "--org-id", &acme_id])
        .await
        .ok();
    Cli::with(&s.api_endpoint, &root_token)
        .run(&["whoami"])
        .await
        .fails(1, "(code 16)");
    op.run(&["user", "delete", &root_uid]).await.ok();
}

#[tokio::test]
async fn endpoint_and_token_sources() {
    let (s, cli) = server().await;
    let ep = s.api_endpoint.as_str();
    let token = s.admin_token.as_str();
    let whoami_uid = |r: &crate::cli_common::Run| field(&r.json(), &["uid"]).to_string();

    // Environment.
    let r = cli
        .exec(
            &["whoami", "--json"],
            &[("COFFER_ENDPOINT", ep), ("COFFER_TOKEN", token)],
            None,
        )
        .await
        .ok();
    assert_eq!(whoami_uid(&r), s.admin_uid);

    // --token-file and COFFER_TOKEN_FILE; a file others can read draws a warning.
    let private = cli.write_home_file("tokens/admin", &format!("{token}\n"), 0o600);
    let private = private.to_str().unwrap();
    let r = cli
        .exec(
            &[
                "whoami",
                "--json",
                "--endpoint",
                ep,
                "--token-file",
                private,
            ],
            &[],
            None,
        )
        .await
        .ok();
    assert_eq!(whoami_uid(&r), s.admin_uid);
    assert!(r.stderr.is_empty(), "{r:#?}");
    let shared = cli.write_home_file("tokens/shared", token, 0o644);
    let r = cli
        .exec(
            &["whoami", "--json"],
            &[
                ("COFFER_ENDPOINT", ep),
                ("COFFER_TOKEN_FILE", shared.to_str().unwrap()),
            ],
            None,
        )
        .await
        .ok();
    assert_eq!(whoami_uid(&r), s.admin_uid);
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("chmod 600"),
        "{r:#?}"
    );
    cli.exec(
        &["whoami", "--endpoint", ep, "--token-file", "/nonexistent/t"],
        &[],
        None,
    )
    .await
    .fails(1, "cannot read token file");

    // Profiles: token_file relative to the profiles file; inline token warns.
    cli.write_home_file(".config/coffer/dev.token", token, 0o600);
    cli.write_home_file(
        ".config/coffer/profiles.toml",
        &format!(
            "[dev]\nendpoint = \"{ep}\"\ntoken_file = \"dev.token\"\n\n\
             [inline]\nendpoint = \"{ep}\"\ntoken = \"{token}\"\n\n\
             [elsewhere]\nendpoint = \"http://127.0.0.1:1\"\ntoken_file = \"~/.config/coffer/dev.token\"\n"
        ),
        0o600,
    );
    let r = cli
        .exec(&["whoami", "--profile", "dev", "--json"], &[], None)
        .await
        .ok();
    assert_eq!(whoami_uid(&r), s.admin_uid);
    assert!(r.stderr.is_empty(), "{r:#?}");
    // COFFER_PROFILE selects too, and a profile outranks the environment.
    let r = cli
        .exec(
            &["key", "list"],
            &[
                ("COFFER_PROFILE", "dev"),
                ("COFFER_ENDPOINT", "http://127.0.0.1:1"),
            ],
            None,
        )
        .await
        .ok();
    assert!(r.lines()[0].starts_with("ACCESS KEY ID"), "{r:#?}");
    let r = cli
        .exec(&["whoami", "--profile", "inline"], &[], None)
        .await
        .ok();
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("inline"),
        "{r:#?}"
    );
    // Flags outrank the profile (here: its unreachable endpoint).
    cli.exec(
        &[
            "whoami",
            "--profile",
            "elsewhere",
            "--json",
            "--endpoint",
            ep,
        ],
        &[],
        None,
    )
    .await
    .ok();
    cli.exec(&["whoami", "--profile", "elsewhere"], &[], None)
        .await
        .fails(1, "cannot reach http://127.0.0.1:1");
    let r = cli
        .exec(&["whoami", "--profile", "prod"], &[], None)
        .await
        .fails(2, "no profile \"prod\"");
    assert!(r.stderr.contains("dev, elsewhere, inline"), "{r:#?}");

    // --help never shows a token taken from the environment.
    let h = cli
        .exec(&["key", "list", "--help"], &[("COFFER_TOKEN", token)], None)
        .await
        .ok();
    assert!(h.stdout.contains("--token-file") && h.stdout.contains("COFFER_TOKEN"));
}

#[tokio::test]
async fn command_tree() {
    let cli = Cli::with("http://127.0.0.1:1", "unused");
    let top = cli.exec(&["--help"], &[], None).await.ok();
    for c in [
        "server",
        "bench",
        "key",
        "policy",
        "bucket",
        "org",
        "can-i",
        "token",
        "user",
        "whoami",
        "federation",
    ] {
        assert!(
            top.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{c} "))),
            "{c} missing from --help:\n{}",
            top.stdout
        );
    }
    // `server` and `bench` keep their own options; the client options are not theirs.
    let server = cli.exec(&["server", "--help"], &[], None).await.ok();
    assert!(server.stdout.contains("--data-dir") && !server.stdout.contains("--profile"));
    let bench = cli.exec(&["bench", "--help"], &[], None).await.ok();
    assert!(bench.stdout.contains("--endpoint") && !bench.stdout.contains("--profile"));
    // Unknown subcommand: clap's usage error.
    let u = cli.exec(&["key", "frobnicate"], &[], None).await;
    assert_eq!(u.code, 2, "{u:#?}");
}

/// `coffer configure` writes a profile (0600 file, token in its own 0600 file, never
/// inline) that the other commands then use, the S3 endpoint included.
#[tokio::test]
async fn configure_writes_a_profile_the_commands_use() {
    use std::os::unix::fs::PermissionsExt;
    let (s, cli) = server().await;
    let ep = cli.endpoint.clone();
    let token = cli.token.clone();
    cli.exec(
        &[
            "configure",
            "--profile",
            "lab",
            "--endpoint",
            &ep,
            "--s3-endpoint",
            &s.s3_endpoint,
            "--token-stdin",
        ],
        &[],
        Some(&format!("{token}\n")),
    )
    .await
    .ok();
    let dir = cli.home().join(".config/coffer");
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("profiles.toml"), 0o600);
    assert_eq!(mode("lab.token"), 0o600);
    let text = std::fs::read_to_string(dir.join("profiles.toml")).unwrap();
    assert!(!text.contains(&token), "the token is never inline: {text}");
    assert!(text.contains("s3_endpoint"), "{text}");
    let r = cli
        .exec(&["whoami", "--profile", "lab", "--json"], &[], None)
        .await
        .ok();
    assert_eq!(r.json()["uid"].as_str(), Some(s.admin_uid.as_str()));
    // `coffer audit` finds the S3 endpoint in the profile (no --s3-endpoint): it reaches
    // this server's S3 listener (which refuses: the org has no policy), not the default
    // 127.0.0.1:9000.
    cli.exec(&["audit", "verify", "--profile", "lab"], &[], None)
        .await
        .fails(1, "HTTP 403 AccessDenied");
    // A second profile keeps the first; a bad endpoint or name changes nothing.
    cli.exec(
        &[
            "configure",
            "--profile",
            "other",
            "--endpoint",
            "http://127.0.0.1:1",
        ],
        &[],
        None,
    )
    .await
    .ok();
    cli.exec(
        &["configure", "--profile", "lab", "--endpoint", "ftp://x"],
        &[],
        None,
    )
    .await
    .fails(2, "invalid endpoint");
    cli.exec(&["configure", "--profile", "../x"], &[], None)
        .await
        .fails(2, "invalid profile name");
    cli.exec(&["whoami", "--profile", "lab"], &[], None)
        .await
        .ok();
    let text = std::fs::read_to_string(dir.join("profiles.toml")).unwrap();
    assert!(text.contains("[other]") && text.contains("[lab]"), "{text}");
}

/// Concurrent `coffer configure` runs for different profiles all land: the profiles file
/// is read, edited and replaced under a lock.
#[test]
fn concurrent_configures_keep_every_profile() {
    let home = tempfile::tempdir().unwrap();
    let runs: Vec<_> = (0..8)
        .map(|i| {
            std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
                .args([
                    "configure",
                    "--profile",
                    &format!("p{i}"),
                    "--endpoint",
                    &format!("http://127.0.0.1:{}", 10_000 + i),
                ])
                .env("HOME", home.path())
                .env_remove("XDG_CONFIG_HOME")
                .env_remove("COFFER_PROFILES")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut r in runs {
        assert!(r.wait().unwrap().success());
    }
    let text = std::fs::read_to_string(home.path().join(".config/coffer/profiles.toml")).unwrap();
    let all: toml::Table = toml::from_str(&text).unwrap();
    for i in 0..8 {
        assert_eq!(
            all[&format!("p{i}")]["endpoint"].as_str(),
            Some(format!("http://127.0.0.1:{}", 10_000 + i).as_str()),
            "{text}"
        );
    }
}
