//! `coffer org …`: organization settings (SetOrganizationSettings and its GET
//! extension) and organizations (`/v1/iam/orgs`).

use super::http::{CliError, Client, typed};
use super::table::{Table, kv, on_off, or_dash};
use super::{OrgCmd, emit, print_json};
use coffer_api as api;
use reqwest::Method;

const SETTINGS: [&str; 4] = ["v1", "cwobject", "organization", "settings"];
const ORGS: [&str; 3] = ["v1", "iam", "orgs"];

pub async fn run(c: Client, cmd: OrgCmd) -> Result<i32, CliError> {
    match cmd {
        OrgCmd::Settings {
            control_plane_audit,
            bucket_audit_default,
        } => {
            let patch = api::OrganizationSettings {
                control_plane_audit_logging_enabled: control_plane_audit,
                bucket_audit_logging_enabled: bucket_audit_default,
            };
            // No flag means "show": a PUT without settings is InvalidArgument anyway.
            let v = if patch == api::OrganizationSettings::default() {
                c.get(&SETTINGS, &[]).await?
            } else {
                let req = api::SetOrganizationSettingsRequest {
                    settings: Some(patch),
                };
                c.send(Method::PUT, &SETTINGS, &req).await?
            };
            if c.json {
                return print_json(&v);
            }
            let s = typed::<api::SetOrganizationSettingsResponse>(v)?.settings;
            emit(&kv(&[
                (
                    "Control-plane audit logging",
                    on_off(s.control_plane_audit_logging_enabled),
                ),
                (
                    "Bucket audit logging default",
                    on_off(s.bucket_audit_logging_enabled),
                ),
            ]))?;
            Ok(0)
        }
        OrgCmd::Create { name, entitlements } => {
            let req = api::CreateOrgRequest { name, entitlements };
            let v = c.send(Method::POST, &ORGS, &req).await?;
            if c.json {
                return print_json(&v);
            }
            let o = typed::<api::CreateOrgResponse>(v)?.org;
            emit(&kv(&[
                ("Org id", o.org_id),
                ("Name", o.name),
                ("Created", o.created_time),
                ("Entitlements", or_dash(Some(&o.entitlements.join(",")))),
            ]))?;
            Ok(0)
        }
        OrgCmd::List => {
            let v = c.get(&ORGS, &[]).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListOrgsResponse = typed(v)?;
            let mut t = Table::new(&["ORG ID", "NAME", "CREATED", "ENTITLEMENTS"]);
            for o in r.orgs {
                t.row(vec![
                    o.org_id,
                    o.name,
                    o.created_time,
                    or_dash(Some(&o.entitlements.join(","))),
                ]);
            }
            emit(&t.render())?;
            Ok(0)
        }
    }
}
