//! Conversions between stored records / domain types (`coffer-core`) and wire types
//! (`coffer-api`). Pure functions; no I/O.

use coffer_api as api;
use coffer_core::clock::rfc3339;
use coffer_core::model::{AccessKey, ApiToken, Bucket, Org, OrgSettings, Usage, User};
use coffer_core::policy::{self, Decision, Layer, RawAccessPolicy, RawStatement};
use time::OffsetDateTime;

/// Key expiry on the wire: permanent keys report the Unix epoch (SPEC §2).
pub fn key_expiry(expiry: Option<OffsetDateTime>) -> String {
    expiry.map_or_else(|| api::PERMANENT_EXPIRY.to_string(), rfc3339)
}

/// The AWS container-credentials shape of a time-limited key with a session token.
pub fn container_credentials(
    k: &AccessKey,
    secret: String,
    session_token: String,
) -> api::ContainerCredentials {
    api::ContainerCredentials {
        access_key_id: k.access_key_id.clone(),
        secret_access_key: secret,
        token: session_token,
        expiration: key_expiry(k.expiry),
    }
}

pub fn access_key_info(k: &AccessKey, now: OffsetDateTime) -> api::AccessKeyInfo {
    api::AccessKeyInfo {
        access_key_id: k.access_key_id.clone(),
        status: k.status(now).as_str().to_string(),
        principal_name: k.principal.clone(),
        attributes: k.attributes.clone(),
        expiry: key_expiry(k.expiry),
        org_id: k.org_id.clone(),
    }
}

pub fn policy_to_wire(p: policy::AccessPolicy) -> api::AccessPolicy {
    api::AccessPolicy {
        version: p.version,
        name: p.name,
        statements: p
            .statements
            .into_iter()
            .map(|s| api::AccessPolicyStatement {
                name: s.name,
                effect: s.effect.as_str().to_string(),
                actions: s.actions,
                resources: s.resources,
                principals: s.principals,
            })
            .collect(),
    }
}

/// The lenient domain form; `AccessPolicy::try_from` validates it.
pub fn policy_from_wire(p: api::AccessPolicy) -> RawAccessPolicy {
    RawAccessPolicy {
        version: p.version,
        name: p.name,
        statements: p
            .statements
            .into_iter()
            .map(|s| RawStatement {
                name: s.name,
                effect: s.effect,
                actions: s.actions,
                resources: s.resources,
                principals: s.principals,
            })
            .collect(),
    }
}

pub fn decision(action: &str, resource: &str, d: &Decision) -> api::AuthDecision {
    let layer = match d.decided_by.layer {
        Layer::Org => "org",
        Layer::Bucket => "bucket",
        Layer::Acl => "acl",
        Layer::Default => "default",
    };
    api::AuthDecision {
        action: action.to_string(),
        resource: resource.to_string(),
        allowed: d.allowed,
        decided_by: api::DecidedBy {
            layer: layer.to_string(),
            policy: d.decided_by.policy.as_deref().map(str::to_string),
            statement: d.decided_by.statement.as_deref().map(str::to_string),
        },
    }
}

/// Effective bucket settings: a bucket that never set audit logging follows the org's
/// `bucketAuditLoggingEnabled` default.
pub fn bucket_settings(b: &Bucket, org: &OrgSettings) -> api::BucketSettings {
    api::BucketSettings {
        audit_logging_enabled: Some(
            b.settings
                .audit_logging
                .unwrap_or(org.bucket_audit_logging_default),
        ),
        capacity_cap_bytes: b.settings.capacity_cap_bytes,
        ..Default::default()
    }
}

pub fn bucket_info(b: &Bucket, org: &OrgSettings, usage: Usage) -> api::BucketInfo {
    api::BucketInfo {
        org_id: b.org_id.clone(),
        name: b.name.clone(),
        creation_time: rfc3339(b.created),
        settings: bucket_settings(b, org),
        location: b.zone.clone(),
        usage: vec![
            api::BucketUsage {
                measurement_type: api::measurement::STORAGE_BYTES.to_string(),
                value: usage.bytes.to_string(),
                value_human_readable: human_bytes(usage.bytes),
            },
            api::BucketUsage {
                measurement_type: api::measurement::OBJECT_COUNT.to_string(),
                value: usage.objects.to_string(),
                value_human_readable: usage.objects.to_string(),
            },
        ],
    }
}

/// Binary units with one decimal (`1.0 MiB`); plain bytes below 1 KiB (`512 B`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    // Move up while the value would print as 1024.0 or more in this unit.
    while v >= 1023.95 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

pub fn org_settings(s: &OrgSettings) -> api::OrganizationSettings {
    api::OrganizationSettings {
        control_plane_audit_logging_enabled: Some(s.control_plane_audit_logging),
        bucket_audit_logging_enabled: Some(s.bucket_audit_logging_default),
    }
}

pub fn org_info(o: &Org) -> api::OrgInfo {
    api::OrgInfo {
        org_id: o.org_id.clone(),
        name: o.name.clone(),
        created_time: rfc3339(o.created),
        entitlements: o.entitlements.clone(),
    }
}

pub fn cache_node_info(n: &coffer_core::model::CacheNode) -> api::CacheNodeInfo {
    api::CacheNodeInfo {
        node_id: n.node_id.clone(),
        name: n.name.clone(),
        created_time: rfc3339(n.created),
    }
}

pub fn user_info(u: &User) -> api::UserInfo {
    api::UserInfo {
        uid: u.uid.clone(),
        name: u.name.clone(),
        role: u.role.as_str().to_string(),
        org_id: u.org_id.clone(),
        created_time: rfc3339(u.created),
    }
}

pub fn token_info(t: &ApiToken) -> api::TokenInfo {
    api::TokenInfo {
        token_id: t.token_id.clone(),
        uid: t.uid.clone(),
        description: t.description.clone(),
        expiry: t.expiry.map(rfc3339),
        created_time: rfc3339(t.created),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_readable_bytes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1_048_576), "1.0 MiB");
        assert_eq!(human_bytes(1_048_575), "1.0 MiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }
}
