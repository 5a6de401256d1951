//! `coffer bucket …`: GetBucketInfo / ListBucketInfo and SetBucketSettings.

use super::http::{CliError, Client, typed};
use super::table::{Table, human_bytes, kv, on_off, or_dash};
use super::{BucketCmd, emit, print_json};
use coffer_api as api;
use reqwest::Method;
use serde_json::json;

const INFO: [&str; 3] = ["v1", "cwobject", "bucket-info"];

pub async fn run(c: Client, cmd: BucketCmd) -> Result<i32, CliError> {
    match cmd {
        BucketCmd::Info {
            name: Some(name), ..
        } => {
            let v = c.get(&[INFO[0], INFO[1], INFO[2], &name], &[]).await?;
            if c.json {
                return print_json(&v);
            }
            let b = typed::<api::GetBucketInfoResponse>(v)?.info;
            let mut pairs = vec![
                ("Name", b.name.clone()),
                ("Organization", or_dash(Some(&b.org_id))),
                ("Location", or_dash(Some(&b.location))),
                ("Created", or_dash(Some(&b.creation_time))),
                ("Objects", usage(&b, api::measurement::OBJECT_COUNT, false)),
                ("Size", usage(&b, api::measurement::STORAGE_BYTES, true)),
            ];
            pairs.extend(settings_pairs(&b.settings));
            emit(&kv(&pairs))?;
            Ok(0)
        }
        BucketCmd::Info {
            name: None,
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
            let v = c.get(&INFO, &q).await?;
            if c.json {
                return print_json(&v);
            }
            let r: api::ListBucketInfoResponse = typed(v)?;
            let mut t = Table::new(&[
                "NAME",
                "LOCATION",
                "CREATED",
                "OBJECTS",
                "SIZE",
                "AUDIT LOGGING",
                "CAPACITY CAP",
            ]);
            for b in r.info {
                t.row(vec![
                    b.name.clone(),
                    or_dash(Some(&b.location)),
                    or_dash(Some(&b.creation_time)),
                    usage(&b, api::measurement::OBJECT_COUNT, false),
                    usage(&b, api::measurement::STORAGE_BYTES, false),
                    on_off(b.settings.audit_logging_enabled),
                    b.settings
                        .capacity_cap_bytes
                        .map_or_else(|| "-".into(), human_bytes),
                ]);
            }
            emit(&t.render())?;
            Ok(0)
        }
        BucketCmd::Settings {
            name,
            audit_logging,
            capacity_cap,
            clear_capacity_cap,
        } => {
            let patch = api::BucketSettings {
                audit_logging_enabled: audit_logging,
                capacity_cap_bytes: capacity_cap,
                clear_capacity_cap: clear_capacity_cap.then_some(api::Empty {}),
                ..Default::default()
            };
            let v = if patch == api::BucketSettings::default() {
                // No change requested: show the effective settings, shaped like the
                // SetBucketSettings response so that scripts read `.settings` either way.
                let mut info = c.get(&[INFO[0], INFO[1], INFO[2], &name], &[]).await?;
                json!({ "settings": info["info"]["settings"].take() })
            } else {
                let req = api::SetBucketSettingsRequest {
                    bucket_name: name,
                    settings: Some(patch),
                };
                c.send(Method::PUT, &["v1", "cwobject", "bucket", "settings"], &req)
                    .await?
            };
            if c.json {
                return print_json(&v);
            }
            let r: api::SetBucketSettingsResponse = typed(v)?;
            emit(&kv(&settings_pairs(&r.settings)))?;
            Ok(0)
        }
    }
}

fn settings_pairs(s: &api::BucketSettings) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("Audit logging", on_off(s.audit_logging_enabled)),
        (
            "Capacity cap",
            s.capacity_cap_bytes.map_or_else(
                || "none".into(),
                |n| format!("{n} bytes ({})", human_bytes(n)),
            ),
        ),
    ];
    // Archive settings exist only for entitled orgs; show them only when present.
    if s.archive_enabled.is_some() {
        pairs.push(("Archive", on_off(s.archive_enabled)));
    }
    if let Some(d) = s.archive_after_last_access_days {
        pairs.push(("Archive after (days)", d.to_string()));
    }
    pairs
}

/// One usage measurement: the human-readable form, with the exact value beside it when
/// `exact` is set and the human form is rounded (`1.0 MiB`, not `5 B`).
fn usage(b: &api::BucketInfo, kind: &str, exact: bool) -> String {
    match b.usage.iter().find(|u| u.measurement_type == kind) {
        None => "-".into(),
        Some(u)
            if exact
                && u.value != u.value_human_readable
                && u.value_human_readable != format!("{} B", u.value) =>
        {
            format!("{} ({} bytes)", u.value_human_readable, u.value)
        }
        Some(u) if u.value_human_readable.is_empty() => u.value.clone(),
        Some(u) => u.value_human_readable.clone(),
    }
}
