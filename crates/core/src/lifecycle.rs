//! Bucket lifecycle configuration (SPEC §4): the validated, stored form of
//! PutBucketLifecycleConfiguration and the rules for which versions and uploads a rule
//! selects at a given time. The worker that applies them is `lifecycle::worker`.
//!
//! Invariants:
//! * A stored configuration passed `validate`: 1..=1000 rules, unique non-empty ids,
//!   every rule has at least one action, no Transition (unsupported, refused earlier).
//! * Times compare against the injected `Clock`; "N days" means N × 24 h after the
//!   reference instant (S3 rounds to the next midnight UTC; we do not, so an object
//!   expires at most one day earlier than on S3 and never later).

pub mod worker;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Most rules one configuration may hold (S3: 1,000).
pub const MAX_RULES: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfiguration {
    pub rules: Vec<LifecycleRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    pub filter: LifecycleFilter,
    /// The rule was written with the legacy rule-level `Prefix` instead of a `Filter`
    /// (then `filter` holds only that prefix); S3 returns it in the form it was written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy_prefix: bool,
    #[serde(default)]
    pub expiration: Option<Expiration>,
    #[serde(default)]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// AbortIncompleteMultipartUpload.DaysAfterInitiation.
    #[serde(default)]
    pub abort_incomplete_days: Option<u32>,
}

/// Every present condition must hold (a `Filter` with `And` or a single condition).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleFilter {
    pub prefix: String,
    pub tags: BTreeMap<String, String>,
    /// ObjectSizeGreaterThan (strict).
    pub size_greater_than: Option<u64>,
    /// ObjectSizeLessThan (strict).
    pub size_less_than: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiration {
    pub days: Option<u32>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub date: Option<OffsetDateTime>,
    pub expired_object_delete_marker: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    pub noncurrent_days: Option<u32>,
    pub newer_noncurrent_versions: Option<u32>,
}

impl LifecycleFilter {
    /// Whether the key matches the prefix (the only condition uploads are matched on:
    /// an in-progress upload has no size yet, and S3 refuses tag filters with
    /// AbortIncompleteMultipartUpload).
    pub fn matches_key(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
    }

    /// Whether an object version with this key, size and tags is selected.
    pub fn matches(&self, key: &str, size: u64, tags: &BTreeMap<String, String>) -> bool {
        self.matches_key(key)
            && self.size_greater_than.is_none_or(|n| size > n)
            && self.size_less_than.is_none_or(|n| size < n)
            && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }

    /// Conditions beyond the key prefix need the version's record (tags) or size.
    pub fn needs_tags(&self) -> bool {
        !self.tags.is_empty()
    }
}

fn days(n: u32) -> time::Duration {
    time::Duration::days(i64::from(n))
}

impl Expiration {
    /// Whether a current object last modified at `modified` has expired at `now`.
    pub fn current_expired(&self, modified: OffsetDateTime, now: OffsetDateTime) -> bool {
        match (self.days, self.date) {
            (Some(d), _) => now >= modified + days(d),
            (None, Some(date)) => now >= date,
            (None, None) => false,
        }
    }
}

impl NoncurrentExpiration {
    /// Whether a noncurrent version that became noncurrent at `since` and has `newer`
    /// noncurrent versions newer than itself is to be removed at `now`. With both
    /// fields, both must hold (S3: keep the newest N, expire the rest after the days).
    pub fn expired(&self, since: OffsetDateTime, newer: u32, now: OffsetDateTime) -> bool {
        let by_age = self.noncurrent_days.is_none_or(|d| now >= since + days(d));
        let by_count = self.newer_noncurrent_versions.is_none_or(|n| newer >= n);
        by_age && by_count
    }
}

impl LifecycleConfiguration {
    /// Structural rules S3 enforces on PutBucketLifecycleConfiguration; the messages
    /// mirror S3's. `MalformedXML`-class problems are reported by the XML layer.
    pub fn validate(&self) -> Result<()> {
        if self.rules.is_empty() || self.rules.len() > MAX_RULES {
            return Err(Error::invalid(format!(
                "a lifecycle configuration holds 1 to {MAX_RULES} rules"
            )));
        }
        let mut ids = std::collections::HashSet::new();
        for r in &self.rules {
            if r.id.is_empty() || r.id.chars().count() > 255 {
                return Err(Error::invalid(
                    "ID length should not exceed allowed limit of 255",
                ));
            }
            if !ids.insert(r.id.as_str()) {
                return Err(Error::invalid(
                    "Rule ID must be unique. Found same ID for more than one rule",
                ));
            }
            if r.expiration.is_none()
                && r.noncurrent_expiration.is_none()
                && r.abort_incomplete_days.is_none()
            {
                return Err(Error::invalid(
                    "At least one action needs to be specified in a rule",
                ));
            }
            if let Some(e) = &r.expiration {
                let set = usize::from(e.days.is_some())
                    + usize::from(e.date.is_some())
                    + usize::from(e.expired_object_delete_marker);
                if set != 1 {
                    return Err(Error::invalid(
                        "Expiration must have exactly one of Days, Date or ExpiredObjectDeleteMarker",
                    ));
                }
                if e.days == Some(0) {
                    return Err(Error::invalid(
                        "'Days' for Expiration action must be a positive integer",
                    ));
                }
                if let Some(d) = e.date
                    && (d.time() != time::Time::MIDNIGHT || d.offset() != time::UtcOffset::UTC)
                {
                    return Err(Error::invalid("'Date' must be at midnight GMT"));
                }
                if e.expired_object_delete_marker && !r.filter.tags.is_empty() {
                    return Err(Error::invalid(
                        "ExpiredObjectDeleteMarker cannot be specified with tags",
                    ));
                }
            }
            if let Some(n) = &r.noncurrent_expiration {
                if n.noncurrent_days.is_none() && n.newer_noncurrent_versions.is_none() {
                    return Err(Error::invalid(
                        "NoncurrentVersionExpiration needs NoncurrentDays",
                    ));
                }
                if n.noncurrent_days == Some(0) {
                    return Err(Error::invalid(
                        "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
                    ));
                }
                if n.newer_noncurrent_versions == Some(0)
                    || n.newer_noncurrent_versions.is_some_and(|v| v > 100)
                {
                    return Err(Error::invalid(
                        "'NewerNoncurrentVersions' must be between 1 and 100",
                    ));
                }
            }
            if let Some(d) = r.abort_incomplete_days {
                if d == 0 {
                    return Err(Error::invalid(
                        "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
                    ));
                }
                if !r.filter.tags.is_empty() {
                    return Err(Error::invalid(
                        "AbortIncompleteMultipartUpload cannot be specified with Tags",
                    ));
                }
            }
            if let (Some(gt), Some(lt)) = (r.filter.size_greater_than, r.filter.size_less_than)
                && gt >= lt
            {
                return Err(Error::invalid(
                    "ObjectSizeGreaterThan must be less than ObjectSizeLessThan",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            expiration: Some(Expiration {
                days: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn validation() {
        let ok = LifecycleConfiguration {
            rules: vec![rule("a"), rule("b")],
        };
        ok.validate().unwrap();
        let dup = LifecycleConfiguration {
            rules: vec![rule("a"), rule("a")],
        };
        assert!(dup.validate().is_err());
        let none = LifecycleConfiguration {
            rules: vec![LifecycleRule {
                id: "x".into(),
                ..Default::default()
            }],
        };
        assert!(none.validate().is_err());
        let too_many = LifecycleConfiguration {
            rules: (0..=MAX_RULES).map(|i| rule(&i.to_string())).collect(),
        };
        assert!(too_many.validate().is_err());
    }

    #[test]
    fn filters_and_ages() {
        let f = LifecycleFilter {
            prefix: "logs/".into(),
            tags: BTreeMap::from([("t".to_string(), "1".to_string())]),
            size_greater_than: Some(10),
            size_less_than: Some(100),
        };
        let tags = BTreeMap::from([("t".to_string(), "1".to_string())]);
        assert!(f.matches("logs/a", 50, &tags));
        assert!(!f.matches("logs/a", 10, &tags));
        assert!(!f.matches("logs/a", 100, &tags));
        assert!(!f.matches("other", 50, &tags));
        assert!(!f.matches("logs/a", 50, &BTreeMap::new()));
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let e = Expiration {
            days: Some(2),
            ..Default::default()
        };
        assert!(!e.current_expired(t0, t0 + time::Duration::hours(47)));
        assert!(e.current_expired(t0, t0 + time::Duration::hours(48)));
        let n = NoncurrentExpiration {
            noncurrent_days: Some(1),
            newer_noncurrent_versions: Some(2),
        };
        let later = t0 + time::Duration::days(1);
        assert!(!n.expired(t0, 1, later));
        assert!(n.expired(t0, 2, later));
        assert!(!n.expired(t0, 5, t0));
    }
}
