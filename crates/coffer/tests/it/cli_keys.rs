//! `coffer key …` against a live server: every access-key RPC, table and `--json`
//! output, and the failure paths (bad token, unknown key, invalid input, usage errors).

use crate::cli_common::{Cli, server};
use serde_json::Value;

fn ids(v: &Value) -> Vec<String> {
    v["info"]
        .as_array()
        .expect("info array")
        .iter()
        .map(|k| k["accessKeyId"].as_str().unwrap().to_string())
        .collect()
}

fn statuses(v: &Value) -> Vec<String> {
    v["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn key_lifecycle() {
    let (s, cli) = server().await;
    let principal = format!("coreweave/{}", s.admin_uid);

    // create --json: the raw response, both key-id spellings, secret shown once here.
    let created = cli
        .run(&[
            "key", "create", "--attr", "name=ci", "--attr", "team=ml", "--json",
        ])
        .await
        .ok()
        .json();
    let id1 = created["accessKeyId"].as_str().unwrap().to_string();
    assert_eq!(created["accessKeyID"], created["accessKeyId"]);
    let secret1 = created["secretKey"].as_str().unwrap().to_string();
    assert!(secret1.starts_with("cwo"), "{created}");
    assert_eq!(created["principalName"], principal.as_str());
    assert_eq!(created["expiry"], "1970-01-01T00:00:00Z");
    assert_eq!(created["attributes"]["name"], "ci");
    assert_eq!(created["attributes"]["team"], "ml");

    // create, table output: the secret is on stdout, the reminder on stderr.
    let t = cli.run(&["key", "create", "--duration", "3600"]).await.ok();
    let secret_line = t.line_with(&["Secret key:"]);
    let secret2 = secret_line.split_whitespace().last().unwrap().to_string();
    assert!(secret2.starts_with("cwo"), "{t:#?}");
    let id2 = t
        .line_with(&["Access key id:"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    assert!(id2.starts_with("CW") && id2 != id1);
    assert!(
        t.line_with(&["Expiry:"]).contains('T'),
        "a dated expiry: {t:#?}"
    );
    assert!(t.stderr.contains("shown only once"), "{t:#?}");

    // list: both keys in creation order; secrets never listed.
    let l = cli.run(&["key", "list", "--json"]).await.ok();
    assert_eq!(ids(&l.json()), vec![id1.clone(), id2.clone()]);
    assert!(!l.stdout.contains(&secret1) && !l.stdout.contains(&secret2));
    let table = cli.run(&["key", "list"]).await.ok();
    let header = table.lines()[0];
    assert!(
        header.starts_with("ACCESS KEY ID")
            && header.contains("STATUS")
            && header.contains("PRINCIPAL")
            && header.contains("EXPIRY"),
        "{table:#?}"
    );
    let row1 = table.line_with(&[&id1]);
    assert!(row1.contains("ACTIVE") && row1.contains("never") && row1.contains("name=ci,team=ml"));
    // Columns align: the STATUS column starts at the same offset in every line.
    let col = header.find("STATUS").unwrap();
    assert_eq!(&row1[col..col + 6], "ACTIVE", "{table:#?}");
    assert!(!table.stdout.contains(&secret1));

    // offset / limit.
    let page = cli
        .run(&["key", "list", "--offset", "1", "--limit", "1", "--json"])
        .await
        .ok();
    assert_eq!(ids(&page.json()), vec![id2.clone()]);

    // get.
    let g = cli.run(&["key", "get", &id1, "--json"]).await.ok().json();
    assert_eq!(g["info"]["accessKeyId"], id1.as_str());
    assert_eq!(g["info"]["status"], "ACTIVE");
    assert_eq!(g["info"]["orgId"], s.org_id.as_str());
    let gt = cli.run(&["key", "get", &id1]).await.ok();
    assert!(gt.line_with(&["Status:"]).ends_with("ACTIVE"));
    assert!(gt.line_with(&["Principal:"]).ends_with(&principal));

    // status: suspend every key of the principal, then filter by status.
    let st = cli
        .run(&["key", "status", &principal, "suspended"])
        .await
        .ok();
    assert!(st.stdout.contains("suspended"), "{st:#?}");
    let sus = cli
        .run(&["key", "list", "--status", "suspended", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(ids(&sus), vec![id1.clone(), id2.clone()]);
    assert_eq!(statuses(&sus), vec!["FULL_SUSPENDED"; 2]);
    let act = cli
        .run(&["key", "list", "--status", "active", "--json"])
        .await
        .ok()
        .json();
    assert!(ids(&act).is_empty(), "{act}");
    let back = cli
        .run(&["key", "status", &principal, "active", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(back, serde_json::json!({}));
    let act = cli
        .run(&["key", "list", "--status", "active", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(ids(&act).len(), 2);

    // revoke one key: it stays listed as DELETED.
    let r = cli.run(&["key", "revoke", &id1]).await.ok();
    assert_eq!(r.stdout.trim(), format!("Revoked access key {id1}."));
    let g = cli.run(&["key", "get", &id1, "--json"]).await.ok().json();
    assert_eq!(g["info"]["status"], "DELETED");

    // revoke-principal: every key of the principal.
    let rp = cli
        .run(&["key", "revoke-principal", &principal, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(rp, serde_json::json!({}));
    let all = cli.run(&["key", "list", "--json"]).await.ok().json();
    assert_eq!(statuses(&all), vec!["DELETED"; 2]);
}

#[tokio::test]
async fn key_errors() {
    let (s, cli) = server().await;

    // A token the server does not know: Unauthenticated, exit 1, nothing on stdout.
    let bad = Cli::with(&s.api_endpoint, "CW-SECRET-notarealtoken0000000000");
    let r = bad.run(&["key", "list"]).await.fails(1, "(code 16)");
    assert!(r.stdout.is_empty());
    bad.run(&["key", "create", "--json"])
        .await
        .fails(1, "(code 16)");

    // Unknown key id: NotFound with the server's message.
    let r = cli
        .run(&["key", "get", "CWNOSUCHKEY00000"])
        .await
        .fails(1, "(code 5)");
    assert!(r.stderr.contains("not found"), "{r:#?}");
    cli.run(&["key", "revoke", "CWNOSUCHKEY00000"])
        .await
        .fails(1, "(code 5)");
    // A key id with path characters stays one path segment (still just NotFound).
    cli.run(&["key", "get", "../../iam/whoami"])
        .await
        .fails(1, "(code 5)");

    // Server-side validation surfaces as InvalidArgument.
    cli.run(&["key", "create", "--duration", "99999"])
        .await
        .fails(1, "(code 3)");
    cli.run(&["key", "create", "--attr", "cw-x=1"])
        .await
        .fails(1, "(code 3)");
    cli.run(&["key", "list", "--limit", "0"])
        .await
        .fails(1, "(code 3)");

    // Usage errors exit 2 (clap's convention) before any request.
    let u = cli.run(&["key", "create", "--attr", "novalue"]).await;
    assert_eq!(u.code, 2, "{u:#?}");
    let u = cli.run(&["key", "status", "coreweave/x", "deleted"]).await;
    assert_eq!(u.code, 2, "{u:#?}");
    let u = cli.run(&["key", "list", "--status", "expired"]).await;
    assert_eq!(u.code, 2, "{u:#?}");
    let u = cli
        .run(&["key", "create", "--attr", "a=1", "--attr", "a=2"])
        .await;
    assert_eq!(u.code, 2, "{u:#?}");
    cli.exec(&["key", "list", "--endpoint", &s.api_endpoint], &[], None)
        .await
        .fails(2, "no API token");
    cli.exec(
        &[
            "key",
            "list",
            "--endpoint",
            "localhost:9001",
            "--token",
            "x",
        ],
        &[],
        None,
    )
    .await
    .fails(2, "invalid endpoint");

    // Nothing listening: exit 1 naming the endpoint.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    Cli::with(&dead, &s.admin_token)
        .run(&["key", "list"])
        .await
        .fails(1, "cannot reach");
}

#[tokio::test]
async fn key_create_env_prints_shell_exports() {
    let (_s, cli) = server().await;
    let r = cli.run(&["key", "create", "--env"]).await.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{r:#?}");
    // A session token left from other credentials would be sent with the new key.
    assert_eq!(lines[2], "unset AWS_SESSION_TOKEN");
    let value = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.strip_prefix('\'')?.strip_suffix('\''))
            .unwrap_or_else(|| panic!("no {prefix} line: {r:#?}"))
            .to_string()
    };
    let id = value("export AWS_ACCESS_KEY_ID=");
    let secret = value("export AWS_SECRET_ACCESS_KEY=");
    assert!(id.starts_with("CW") && secret.starts_with("cwo"), "{r:#?}");
    assert!(r.stderr.contains("shown only once"), "{r:#?}");
    // The lines are what a shell evaluates to those values.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "export AWS_SESSION_TOKEN=stale\n{}\n\
             printf '%s %s %s' \"$AWS_ACCESS_KEY_ID\" \"$AWS_SECRET_ACCESS_KEY\" \"${{AWS_SESSION_TOKEN-unset}}\"",
            r.stdout
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{id} {secret} unset")
    );
    // It is a table alternative: not with --json.
    cli.run(&["key", "create", "--env", "--json"])
        .await
        .fails(2, "cannot be used with");
}
