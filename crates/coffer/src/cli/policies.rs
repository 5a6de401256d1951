//! `coffer policy …` (EnsureAccessPolicy, ListAccessPolicies, DeleteAccessPolicy) and
//! `coffer can-i` (AuthCanI with its `decisions` extension).

use super::http::{CliError, Client, typed};
use super::table::{Table, or_dash, yes_no};
use super::{PolicyCmd, done, emit, print_json};
use coffer_api as api;
use reqwest::Method;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

const POLICIES: [&str; 3] = ["v1", "cwobject", "access-policy"];

pub async fn run(c: Client, cmd: PolicyCmd) -> Result<i32, CliError> {
    match cmd {
        PolicyCmd::Apply { file } => {
            let policy = read_policy(&file)?;
            let name = policy.name.clone();
            let statements = policy.statements.len();
            let req = api::EnsureAccessPolicyRequest {
                policy: Some(policy),
            };
            let v = c.send(Method::POST, &POLICIES, &req).await?;
            done(
                &c,
                &v,
                &format!("Applied policy {name} ({statements} statement(s))."),
            )
        }
        PolicyCmd::List => {
            let v = c.get(&POLICIES, &[]).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListAccessPoliciesResponse = typed(v)?;
            let mut t = Table::new(&[
                "POLICY",
                "STATEMENT",
                "EFFECT",
                "ACTIONS",
                "RESOURCES",
                "PRINCIPALS",
            ]);
            for p in r.policies {
                if p.statements.is_empty() {
                    t.row(vec![p.name.clone(), "-".into()]);
                }
                for s in p.statements {
                    t.row(vec![
                        p.name.clone(),
                        s.name,
                        s.effect,
                        s.actions.join(","),
                        s.resources.join(","),
                        s.principals.join(","),
                    ]);
                }
            }
            emit(&t.render())?;
            Ok(0)
        }
        PolicyCmd::Delete { name } => {
            let v = c
                .call::<()>(
                    Method::DELETE,
                    &[POLICIES[0], POLICIES[1], POLICIES[2], &name],
                    &[],
                    None,
                )
                .await?;
            done(&c, &v, &format!("Deleted policy {name}."))
        }
    }
}

/// Reads `{"policy":{…}}` (the request body, as in the reference's examples) or the
/// bare policy. The server validates the policy itself; this only checks the JSON shape.
fn read_policy(file: &Path) -> Result<api::AccessPolicy, CliError> {
    let shown = file.display();
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Other(format!("reading the policy from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| CliError::Other(format!("cannot read {shown}: {e}")))?
    };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Other(format!("{shown} is not valid JSON: {e}")))?;
    let v = match v {
        Value::Object(mut m) if m.contains_key("policy") => m.remove("policy").unwrap_or_default(),
        Value::Object(m) => Value::Object(m),
        _ => {
            return Err(CliError::Other(format!(
                "{shown} must hold a JSON object: {{\"policy\":{{…}}}} or the policy"
            )));
        }
    };
    serde_json::from_value(v).map_err(|e| CliError::Other(format!("{shown}: not a policy: {e}")))
}

/// Exit code 0 when the verdict is yes, 1 when no (like `kubectl auth can-i`), so that
/// scripts can branch on it; with `--json` too.
pub async fn can_i(
    c: Client,
    actions: Vec<String>,
    resources: Vec<String>,
) -> Result<i32, CliError> {
    let req = api::AuthCanIRequest { actions, resources };
    let v = c
        .send(Method::POST, &["v1", "cwobject", "auth", "can-i"], &req)
        .await?;
    let r: api::AuthCanIResponse = typed(v.clone())?;
    let code = if r.verdict { 0 } else { 1 };
    if c.json {
        print_json(&v)?;
        return Ok(code);
    }
    let mut t = Table::new(&[
        "ACTION",
        "RESOURCE",
        "ALLOWED",
        "LAYER",
        "POLICY",
        "STATEMENT",
    ]);
    for d in r.decisions {
        t.row(vec![
            d.action,
            d.resource,
            yes_no(d.allowed),
            or_dash(Some(&d.decided_by.layer)),
            or_dash(d.decided_by.policy.as_deref()),
            or_dash(d.decided_by.statement.as_deref()),
        ]);
    }
    emit(&format!("{}\n\n{}", yes_no(r.verdict), t.render()))?;
    Ok(code)
}
