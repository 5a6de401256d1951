//! `coffer federation saml|oidc create|list|get|update|delete`: the org's workload
//! identity federation configs over `/v1/iam/federation/{saml,oidc}-configs` (SPEC §5).
//! Certificates and JWKS documents are read from files (`-` = stdin) so that PEM and
//! JSON never pass through shell quoting. `--org-id` is for the operator token.

use super::http::{CliError, Client, typed};
use super::table::{Table, kv, or_dash, yes_no};
use super::{FederationCmd, OidcCmd, SamlCmd, done, emit, print_json};
use coffer_api as api;
use reqwest::Method;
use std::io::Read;
use std::path::Path;

const SAML: [&str; 4] = ["v1", "iam", "federation", "saml-configs"];
const OIDC: [&str; 4] = ["v1", "iam", "federation", "oidc-configs"];

/// The path segments of one config: `base` + `/{id}`.
fn one<'a>(base: &[&'a str; 4], id: &'a str) -> [&'a str; 5] {
    [base[0], base[1], base[2], base[3], id]
}

fn org_query(org_id: Option<String>) -> Vec<(&'static str, String)> {
    org_id.map(|o| ("orgId", o)).into_iter().collect()
}

fn read_input(path: &Path) -> Result<String, CliError> {
    let mut s = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Other(format!("reading stdin: {e}")))?;
    } else {
        s = std::fs::read_to_string(path)
            .map_err(|e| CliError::Other(format!("reading {}: {e}", path.display())))?;
    }
    Ok(s)
}

/// Every PEM `CERTIFICATE` block of each file (a file may hold a rotation pair).
fn read_certs(files: &[std::path::PathBuf]) -> Result<Vec<String>, CliError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    for f in files {
        let text = read_input(f)?;
        let mut rest = text.as_str();
        let before = out.len();
        while let Some(s) = rest.find(BEGIN) {
            let Some(e) = rest[s..].find(END) else { break };
            out.push(format!("{}\n", &rest[s..s + e + END.len()]));
            rest = &rest[s + e + END.len()..];
        }
        if out.len() == before {
            return Err(CliError::Other(format!(
                "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) found",
                f.display()
            )));
        }
    }
    Ok(out)
}

fn read_jwks(path: &Path) -> Result<serde_json::Value, CliError> {
    serde_json::from_str(&read_input(path)?)
        .map_err(|e| CliError::Other(format!("{}: not JSON: {e}", path.display())))
}

fn saml_kv(c: api::SamlConfigInfo) -> String {
    kv(&[
        ("Config id", c.config_id),
        ("Name", c.name),
        ("Org id", c.org_id),
        ("IdP entity id", c.idp_entity_id),
        ("Audience", c.audience),
        ("ACS URL", or_dash(c.acs_url.as_deref())),
        ("Certificates", c.signing_certificates.len().to_string()),
        ("Active", yes_no(c.active)),
        ("Created", c.created_time),
        ("Updated", c.updated_time),
    ])
}

fn oidc_keys(c: &api::OidcConfigInfo) -> String {
    match (&c.jwks, &c.jwks_file) {
        (_, Some(f)) => format!("file {f}"),
        (Some(j), None) => {
            let n = j["keys"].as_array().map_or(0, Vec::len);
            format!("{n} inline key{}", if n == 1 { "" } else { "s" })
        }
        (None, None) => "-".into(),
    }
}

fn oidc_kv(c: api::OidcConfigInfo) -> String {
    let keys = oidc_keys(&c);
    kv(&[
        ("Config id", c.config_id),
        ("Name", c.name),
        ("Org id", c.org_id),
        ("Issuer URL", c.issuer_url),
        ("Audience", c.audience),
        ("Keys", keys),
        ("Active", yes_no(c.active)),
        ("Created", c.created_time),
        ("Updated", c.updated_time),
    ])
}

async fn saml_one(c: &Client, v: serde_json::Value) -> Result<i32, CliError> {
    if c.json {
        return print_json(&v);
    }
    emit(&saml_kv(typed::<api::SamlConfigResponse>(v)?.config))?;
    Ok(0)
}

async fn oidc_one(c: &Client, v: serde_json::Value) -> Result<i32, CliError> {
    if c.json {
        return print_json(&v);
    }
    emit(&oidc_kv(typed::<api::OidcConfigResponse>(v)?.config))?;
    Ok(0)
}

pub async fn run(c: Client, cmd: FederationCmd) -> Result<i32, CliError> {
    match cmd {
        FederationCmd::Saml { cmd } => run_saml(c, cmd).await,
        FederationCmd::Oidc { cmd } => run_oidc(c, cmd).await,
    }
}

async fn run_saml(c: Client, cmd: SamlCmd) -> Result<i32, CliError> {
    match cmd {
        SamlCmd::Create {
            name,
            idp_entity_id,
            certs,
            audience,
            acs_url,
            inactive,
            org_id,
        } => {
            let req = api::CreateSamlConfigRequest {
                org_id,
                name: Some(name),
                idp_entity_id: Some(idp_entity_id),
                signing_certificates: Some(read_certs(&certs)?),
                audience: Some(audience),
                acs_url,
                active: Some(!inactive),
            };
            let v = c.send(Method::POST, &SAML, &req).await?;
            saml_one(&c, v).await
        }
        SamlCmd::List { org_id } => {
            let v = c.get(&SAML, &org_query(org_id)).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListSamlConfigsResponse = typed(v)?;
            let mut t = Table::new(&[
                "CONFIG ID",
                "NAME",
                "IDP ENTITY ID",
                "AUDIENCE",
                "CERTS",
                "ACTIVE",
                "CREATED",
            ]);
            for k in r.configs {
                t.row(vec![
                    k.config_id,
                    k.name,
                    k.idp_entity_id,
                    k.audience,
                    k.signing_certificates.len().to_string(),
                    yes_no(k.active),
                    k.created_time,
                ]);
            }
            emit(&t.render())?;
            Ok(0)
        }
        SamlCmd::Get { id, org_id } => {
            let segs = one(&SAML, &id);
            let v = c.get(&segs, &org_query(org_id)).await?;
            saml_one(&c, v).await
        }
        SamlCmd::Update {
            id,
            name,
            idp_entity_id,
            certs,
            audience,
            acs_url,
            active,
            org_id,
        } => {
            let req = api::UpdateSamlConfigRequest {
                org_id,
                name,
                idp_entity_id,
                signing_certificates: if certs.is_empty() {
                    None
                } else {
                    Some(read_certs(&certs)?)
                },
                audience,
                acs_url,
                active,
            };
            let segs = one(&SAML, &id);
            let v = c.send(Method::PUT, &segs, &req).await?;
            saml_one(&c, v).await
        }
        SamlCmd::Delete { id, org_id } => {
            let segs = one(&SAML, &id);
            let v = c
                .call::<()>(Method::DELETE, &segs, &org_query(org_id), None)
                .await?;
            done(&c, &v, &format!("Deleted SAML config {id}."))
        }
    }
}

async fn run_oidc(c: Client, cmd: OidcCmd) -> Result<i32, CliError> {
    match cmd {
        OidcCmd::Create {
            name,
            issuer_url,
            audience,
            jwks,
            jwks_file,
            inactive,
            org_id,
        } => {
            let req = api::CreateOidcConfigRequest {
                org_id,
                name: Some(name),
                issuer_url: Some(issuer_url),
                audience: Some(audience),
                jwks: jwks.as_deref().map(read_jwks).transpose()?,
                jwks_file,
                active: Some(!inactive),
            };
            let v = c.send(Method::POST, &OIDC, &req).await?;
            oidc_one(&c, v).await
        }
        OidcCmd::List { org_id } => {
            let v = c.get(&OIDC, &org_query(org_id)).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListOidcConfigsResponse = typed(v)?;
            let mut t = Table::new(&[
                "CONFIG ID",
                "NAME",
                "ISSUER URL",
                "AUDIENCE",
                "KEYS",
                "ACTIVE",
                "CREATED",
            ]);
            for k in r.configs {
                let keys = oidc_keys(&k);
                t.row(vec![
                    k.config_id,
                    k.name,
                    k.issuer_url,
                    k.audience,
                    keys,
                    yes_no(k.active),
                    k.created_time,
                ]);
            }
            emit(&t.render())?;
            Ok(0)
        }
        OidcCmd::Get { id, org_id } => {
            let segs = one(&OIDC, &id);
            let v = c.get(&segs, &org_query(org_id)).await?;
            oidc_one(&c, v).await
        }
        OidcCmd::Update {
            id,
            name,
            issuer_url,
            audience,
            jwks,
            jwks_file,
            active,
            org_id,
        } => {
            let req = api::UpdateOidcConfigRequest {
                org_id,
                name,
                issuer_url,
                audience,
                jwks: jwks.as_deref().map(read_jwks).transpose()?,
                jwks_file,
                active,
            };
            let segs = one(&OIDC, &id);
            let v = c.send(Method::PUT, &segs, &req).await?;
            oidc_one(&c, v).await
        }
        OidcCmd::Delete { id, org_id } => {
            let segs = one(&OIDC, &id);
            let v = c
                .call::<()>(Method::DELETE, &segs, &org_query(org_id), None)
                .await?;
            done(&c, &v, &format!("Deleted OIDC config {id}."))
        }
    }
}
