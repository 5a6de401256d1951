//! `coffer token …`, `coffer user …` and `coffer whoami`: the `/v1/iam` identity
//! extension (SPEC §1). `--org-id` is for the operator token, which acts on any org.

use super::http::{CliError, Client, typed};
use super::table::{Table, kv, or_dash};
use super::{CacheNodeCmd, TokenCmd, UserCmd, done, emit, print_json};
use coffer_api as api;
use reqwest::Method;

const TOKENS: [&str; 3] = ["v1", "iam", "tokens"];
const USERS: [&str; 3] = ["v1", "iam", "users"];
const CACHE_NODES: [&str; 3] = ["v1", "iam", "cache-nodes"];

fn org_query(org_id: Option<String>) -> Vec<(&'static str, String)> {
    org_id.map(|o| ("orgId", o)).into_iter().collect()
}

/// Tokens without expiry omit `expiry`.
fn expiry(e: Option<&str>) -> String {
    match e {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => "never".into(),
    }
}

pub async fn run_token(c: Client, cmd: TokenCmd) -> Result<i32, CliError> {
    match cmd {
        TokenCmd::Create {
            uid,
            duration,
            description,
        } => {
            let req = api::CreateTokenRequest {
                uid,
                duration_seconds: Some(duration),
                description,
            };
            let v = c.send(Method::POST, &TOKENS, &req).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::CreateTokenResponse = typed(v)?;
            emit(&kv(&[
                ("Token", r.token),
                ("Token id", r.info.token_id),
                ("Uid", r.info.uid),
                ("Description", or_dash(Some(&r.info.description))),
                ("Expiry", expiry(r.info.expiry.as_deref())),
                ("Created", r.info.created_time),
            ]))?;
            eprintln!("The token is shown only once: store it now (in a file, mode 600).");
            Ok(0)
        }
        TokenCmd::List { org_id } => {
            let v = c.get(&TOKENS, &org_query(org_id)).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListTokensResponse = typed(v)?;
            let mut t = Table::new(&["TOKEN ID", "UID", "DESCRIPTION", "EXPIRY", "CREATED"]);
            for k in r.tokens {
                t.row(vec![
                    k.token_id,
                    k.uid,
                    or_dash(Some(&k.description)),
                    expiry(k.expiry.as_deref()),
                    k.created_time,
                ]);
            }
            emit(&t.render())?;
            Ok(0)
        }
        TokenCmd::Revoke { id, org_id } => {
            let v = c
                .call::<()>(
                    Method::DELETE,
                    &[TOKENS[0], TOKENS[1], TOKENS[2], &id],
                    &org_query(org_id),
                    None,
                )
                .await?;
            done(&c, &v, &format!("Revoked token {id}."))
        }
    }
}

pub async fn run_user(c: Client, cmd: UserCmd) -> Result<i32, CliError> {
    match cmd {
        UserCmd::Create { name, role, org_id } => {
            let req = api::CreateUserRequest {
                name,
                role: Some(role.wire().to_string()),
                org_id,
            };
            let v = c.send(Method::POST, &USERS, &req).await?;
            if c.json {
                return print_json(&v);
            }
            let u = typed::<api::CreateUserResponse>(v)?.user;
            emit(&kv(&[
                ("Uid", u.uid),
                ("Name", u.name),
                ("Role", u.role),
                ("Org id", u.org_id),
                ("Created", u.created_time),
            ]))?;
            Ok(0)
        }
        UserCmd::List { org_id } => {
            let v = c.get(&USERS, &org_query(org_id)).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListUsersResponse = typed(v)?;
            let mut t = Table::new(&["UID", "NAME", "ROLE", "ORG ID", "CREATED"]);
            for u in r.users {
                t.row(vec![u.uid, u.name, u.role, u.org_id, u.created_time]);
            }
            emit(&t.render())?;
            Ok(0)
        }
        UserCmd::Delete { uid } => {
            let v = c
                .call::<()>(
                    Method::DELETE,
                    &[USERS[0], USERS[1], USERS[2], &uid],
                    &[],
                    None,
                )
                .await?;
            done(
                &c,
                &v,
                &format!("Deleted user {uid} with its API tokens and access keys."),
            )
        }
    }
}

pub async fn whoami(c: Client) -> Result<i32, CliError> {
    let v = c.get(&["v1", "iam", "whoami"], &[]).await?;
    if c.json {
        return print_json(&v);
    }
    let w: api::WhoAmIResponse = typed(v)?;
    emit(&kv(&[
        ("Principal", w.principal),
        ("Uid", or_dash(w.uid.as_deref())),
        ("Org id", or_dash(w.org_id.as_deref())),
        ("Role", w.role),
    ]))?;
    Ok(0)
}

/// Creates `path` (which must not exist) with mode 600, before the request that
/// produces the secret, so that a credential is never issued with nowhere to go.
fn create_secret_file(path: &std::path::Path) -> Result<std::fs::File, CliError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
        .map_err(|e| CliError::Other(format!("cannot create {}: {e}", path.display())))
}

pub async fn run_cache_node(c: Client, cmd: CacheNodeCmd) -> Result<i32, CliError> {
    match cmd {
        CacheNodeCmd::Create {
            name,
            credential_file,
        } => {
            let file = credential_file
                .as_deref()
                .map(create_secret_file)
                .transpose()?;
            let req = api::CreateCacheNodeRequest { name };
            let sent = c.send(Method::POST, &CACHE_NODES, &req).await;
            let v = match sent {
                Ok(v) => v,
                Err(e) => {
                    if let Some(path) = &credential_file {
                        let _ = std::fs::remove_file(path);
                    }
                    return Err(e);
                }
            };
            let r: api::CreateCacheNodeResponse = typed(v.clone())?;
            if let (Some(mut f), Some(path)) = (file, &credential_file) {
                use std::io::Write;
                writeln!(f, "{}", r.credential)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| {
                        CliError::Other(format!("cannot write {}: {e}", path.display()))
                    })?;
            }
            if c.json {
                let mut v = v;
                if credential_file.is_some()
                    && let Some(o) = v.as_object_mut()
                {
                    o.remove("credential");
                }
                return print_json(&v);
            }
            let mut rows = vec![
                ("Node id", r.node.node_id),
                ("Name", r.node.name),
                ("Created", r.node.created_time),
            ];
            match &credential_file {
                Some(path) => rows.push(("Credential file", path.display().to_string())),
                None => rows.insert(0, ("Credential", r.credential)),
            }
            emit(&kv(&rows))?;
            if credential_file.is_none() {
                eprintln!("The credential is shown only once: store it now (in a file, mode 600).");
            }
            Ok(0)
        }
        CacheNodeCmd::List => {
            let v = c.get(&CACHE_NODES, &[]).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListCacheNodesResponse = typed(v)?;
            let mut t = Table::new(&["NODE ID", "NAME", "CREATED"]);
            for n in r.nodes {
                t.row(vec![n.node_id, n.name, n.created_time]);
            }
            emit(&t.render())?;
            Ok(0)
        }
        CacheNodeCmd::Revoke { id } => {
            let v = c
                .call::<()>(
                    Method::DELETE,
                    &[CACHE_NODES[0], CACHE_NODES[1], CACHE_NODES[2], &id],
                    &[],
                    None,
                )
                .await?;
            done(&c, &v, &format!("Revoked cache node {id}."))
        }
    }
}
