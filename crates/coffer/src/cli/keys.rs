//! `coffer key …`: the access-key RPCs of SPEC §2.

use super::http::{CliError, Client, typed};
use super::table::{Table, kv, or_dash};
use super::{KeyCmd, done, emit, print_json};
use coffer_api as api;
use reqwest::Method;
use std::collections::BTreeMap;

const KEYS: [&str; 3] = ["v1", "cwobject", "access-key"];

pub async fn run(c: Client, cmd: KeyCmd) -> Result<i32, CliError> {
    match cmd {
        KeyCmd::Create {
            duration,
            attrs,
            env,
        } => {
            let mut attributes = BTreeMap::new();
            for (k, v) in attrs {
                if attributes.insert(k.clone(), v).is_some() {
                    return Err(CliError::Usage(format!("--attr {k} is given twice")));
                }
            }
            let req = api::CreateAccessKeyFromJwtRequest {
                duration_seconds: Some(duration),
                attributes,
            };
            let v = c.send(Method::POST, &KEYS, &req).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::CreateAccessKeyFromJwtResponse = typed(v)?;
            if env {
                emit(&format!(
                    "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n\
                     unset AWS_SESSION_TOKEN\n",
                    shell_quote(&r.access_key_id),
                    shell_quote(&r.secret_key)
                ))?;
                eprintln!("The secret key is shown only once: these lines are its only copy.");
                return Ok(0);
            }
            emit(&kv(&[
                ("Access key id", r.access_key_id),
                ("Secret key", r.secret_key),
                ("Principal", r.principal_name),
                ("Expiry", expiry(&r.expiry)),
                ("Attributes", attributes_text(&r.attributes)),
            ]))?;
            eprintln!("The secret key is shown only once: store it now.");
            Ok(0)
        }
        KeyCmd::List {
            status,
            offset,
            limit,
        } => {
            let mut q = Vec::new();
            if let Some(o) = offset {
                q.push(("offset", o.to_string()));
            }
            if let Some(l) = limit {
                q.push(("limit", l.to_string()));
            }
            if let Some(s) = status {
                q.push(("status", s.wire().to_string()));
            }
            let v = c.get(&KEYS, &q).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListAccessKeyInfoResponse = typed(v)?;
            let mut t = Table::new(&[
                "ACCESS KEY ID",
                "STATUS",
                "PRINCIPAL",
                "EXPIRY",
                "ATTRIBUTES",
            ]);
            for k in r.info {
                t.row(vec![
                    k.access_key_id,
                    k.status,
                    k.principal_name,
                    expiry(&k.expiry),
                    attributes_text(&k.attributes),
                ]);
            }
            emit(&t.render())?;
            Ok(0)
        }
        KeyCmd::Get { id } => {
            let v = c.get(&[KEYS[0], KEYS[1], KEYS[2], &id], &[]).await?;
            if c.json {
                return print_json(&v);
            }
            let k = typed::<api::GetAccessKeyInfoResponse>(v)?.info;
            emit(&kv(&[
                ("Access key id", k.access_key_id),
                ("Status", k.status),
                ("Principal", k.principal_name),
                ("Expiry", expiry(&k.expiry)),
                ("Attributes", attributes_text(&k.attributes)),
                ("Organization", or_dash(Some(&k.org_id))),
            ]))?;
            Ok(0)
        }
        KeyCmd::Status { principal, state } => {
            let req = api::UpdateAccessKeyStatusRequest {
                principal_name: principal.clone(),
                status: state.wire().to_string(),
            };
            let v = c
                .send(Method::PUT, &["v1", "cwobject", "access-key-status"], &req)
                .await?;
            done(
                &c,
                &v,
                &format!("Every key of {principal} is now {}.", state.word()),
            )
        }
        KeyCmd::Revoke { id } => {
            let req = api::RevokeAccessKeyByAccessKeyRequest {
                access_key: id.clone(),
            };
            let v = c
                .send(
                    Method::POST,
                    &["v1", "cwobject", "revoke-access-key", "access-key"],
                    &req,
                )
                .await?;
            done(&c, &v, &format!("Revoked access key {id}."))
        }
        KeyCmd::RevokePrincipal { principal } => {
            let req = api::RevokeAccessKeysByPrincipalRequest {
                principal_name: principal.clone(),
            };
            let v = c
                .send(
                    Method::POST,
                    &["v1", "cwobject", "revoke-access-key", "principal"],
                    &req,
                )
                .await?;
            done(&c, &v, &format!("Revoked every access key of {principal}."))
        }
    }
}

/// Permanent keys carry the Unix epoch as expiry (SPEC §2).
fn expiry(e: &str) -> String {
    if e == api::PERMANENT_EXPIRY || e.is_empty() {
        "never".into()
    } else {
        e.to_string()
    }
}

fn attributes_text(a: &BTreeMap<String, String>) -> String {
    if a.is_empty() {
        return "-".into();
    }
    a.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `s` as one POSIX shell word (single-quoted; a `'` inside closes, escapes and reopens).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
