//! S3 bucket lifecycle configuration (SPEC §4): Put/Get/DeleteBucketLifecycleConfiguration,
//! translating between s3s DTOs and `coffer_core::lifecycle`. The rules are applied by
//! the lifecycle worker (core), not here.
//!
//! Wire rules:
//! * Transitions (`Transition`, `NoncurrentVersionTransition`) answer 400
//!   `InvalidStorageClass`: this service has one storage class, so no class a transition
//!   can name exists here, and accepting the rule would be a silent success (SPEC:
//!   "Transition rejected as unsupported"). The same code refuses a PUT naming a class.
//! * A rule written with the legacy rule-level `Prefix` is returned in that form, as S3
//!   does; a `Filter` is returned as a `Filter`.
//! * More than 1,000 rules, a `Filter` with several conditions outside `And`, both a
//!   `Filter` and the legacy rule-level `Prefix`, or an unknown `Status` answer
//!   `MalformedXML`; semantic problems (Days ≤ 0, duplicate IDs, …) `InvalidArgument`.
//! * A rule without `ID` gets a generated one (S3 does the same).

use crate::access::caller_of;
use crate::errors::{s3, to_s3};
use crate::gateway::{Gateway, ok};
use coffer_core::lifecycle::{
    Expiration, LifecycleConfiguration, LifecycleFilter, LifecycleRule as CoreRule, MAX_RULES,
    NoncurrentExpiration,
};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use time::OffsetDateTime;

fn malformed(rid: &str, what: &str) -> S3Error {
    s3(
        S3ErrorCode::MalformedXML,
        format!(
            "The XML you provided was not well-formed or did not validate against our \
             published schema: {what}"
        ),
        rid,
    )
}

fn invalid(rid: &str, msg: &str) -> S3Error {
    s3(S3ErrorCode::InvalidArgument, msg.to_string(), rid)
}

fn days(v: Option<i32>, what: &str, rid: &str) -> S3Result<Option<u32>> {
    match v {
        None => Ok(None),
        Some(n) if n > 0 => Ok(Some(n as u32)),
        Some(_) => Err(invalid(
            rid,
            &format!("'{what}' must be a positive integer"),
        )),
    }
}

fn size(v: Option<i64>, rid: &str) -> S3Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n as u64)),
        Some(_) => Err(invalid(rid, "Object size filters must not be negative")),
    }
}

fn tag(t: &Tag, rid: &str) -> S3Result<(String, String)> {
    match (&t.key, &t.value) {
        (Some(k), v) if !k.is_empty() => Ok((k.clone(), v.clone().unwrap_or_default())),
        _ => Err(malformed(rid, "a Tag needs a Key")),
    }
}

fn filter_of(rule: &LifecycleRule, rid: &str) -> S3Result<LifecycleFilter> {
    let mut f = LifecycleFilter::default();
    match (&rule.filter, &rule.prefix) {
        (Some(_), Some(_)) => {
            return Err(malformed(
                rid,
                "a rule has either Filter or Prefix, not both",
            ));
        }
        (None, Some(p)) => f.prefix = p.clone(),
        (None, None) => {}
        (Some(filter), None) => {
            let set = usize::from(filter.prefix.is_some())
                + usize::from(filter.tag.is_some())
                + usize::from(filter.object_size_greater_than.is_some())
                + usize::from(filter.object_size_less_than.is_some())
                + usize::from(filter.and.is_some());
            if set > 1 {
                return Err(malformed(
                    rid,
                    "a Filter holds one condition; combine them with And",
                ));
            }
            f.prefix = filter.prefix.clone().unwrap_or_default();
            if let Some(t) = &filter.tag {
                let (k, v) = tag(t, rid)?;
                f.tags.insert(k, v);
            }
            f.size_greater_than = size(filter.object_size_greater_than, rid)?;
            f.size_less_than = size(filter.object_size_less_than, rid)?;
            if let Some(and) = &filter.and {
                f.prefix = and.prefix.clone().unwrap_or_default();
                for t in and.tags.iter().flatten() {
                    let (k, v) = tag(t, rid)?;
                    if f.tags.insert(k, v).is_some() {
                        return Err(invalid(rid, "Duplicate Tag Keys are not allowed."));
                    }
                }
                f.size_greater_than = size(and.object_size_greater_than, rid)?;
                f.size_less_than = size(and.object_size_less_than, rid)?;
            }
        }
    }
    Ok(f)
}

/// Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn rule_of(rule: &LifecycleRule, rid: &str) -> S3Result<CoreRule> {
    if rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || rule
            .noncurrent_version_transitions
            .as_ref()
            .is_some_and(|t| !t.is_empty())
    {
        return Err(s3(
            S3ErrorCode::InvalidStorageClass,
            "The storage class you specified is not valid: this service has a single \
             storage class, so lifecycle transitions are not supported",
            rid,
        ));
    }
    let enabled = match rule.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(malformed(rid, "Status is Enabled or Disabled")),
    };
    let expiration = match &rule.expiration {
        None => None,
        Some(e) => Some(Expiration {
            days: days(e.days, "Days", rid)?,
            date: match e.date.clone().map(OffsetDateTime::from) {
                None => None,
                // Stored in UTC: s3s writes timestamps in `Z` notation without converting
                // the offset, so a date kept at `+05:00` would be returned five hours off.
                Some(d) => Some(
                    d.checked_to_offset(time::UtcOffset::UTC)
                        .ok_or_else(|| invalid(rid, "'Date' is out of range"))?,
                ),
            },
            expired_object_delete_marker: e.expired_object_delete_marker == Some(true),
        }),
    };
    let noncurrent_expiration = match &rule.noncurrent_version_expiration {
        None => None,
        Some(n) => Some(NoncurrentExpiration {
            noncurrent_days: days(n.noncurrent_days, "NoncurrentDays", rid)?,
            newer_noncurrent_versions: days(
                n.newer_noncurrent_versions,
                "NewerNoncurrentVersions",
                rid,
            )?,
        }),
    };
    let abort_incomplete_days = match &rule.abort_incomplete_multipart_upload {
        None => None,
        Some(a) => match days(a.days_after_initiation, "DaysAfterInitiation", rid)? {
            Some(d) => Some(d),
            None => {
                return Err(malformed(
                    rid,
                    "AbortIncompleteMultipartUpload needs DaysAfterInitiation",
                ));
            }
        },
    };
    Ok(CoreRule {
        id: rule
            .id
            .clone()
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| coffer_core::ids::new_hex_id()[..16].to_string()),
        enabled,
        filter: filter_of(rule, rid)?,
        legacy_prefix: rule.filter.is_none() && rule.prefix.is_some(),
        expiration,
        noncurrent_expiration,
        abort_incomplete_days,
    })
}

fn dto_filter(f: &LifecycleFilter) -> LifecycleRuleFilter {
    let tags: Vec<Tag> = f
        .tags
        .iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect();
    let conditions = usize::from(!f.prefix.is_empty())
        + tags.len()
        + usize::from(f.size_greater_than.is_some())
        + usize::from(f.size_less_than.is_some());
    let gt = f.size_greater_than.map(|n| n as i64);
    let lt = f.size_less_than.map(|n| n as i64);
    if conditions > 1 {
        return LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                object_size_greater_than: gt,
                object_size_less_than: lt,
                prefix: (!f.prefix.is_empty()).then(|| f.prefix.clone()),
                tags: (!tags.is_empty()).then_some(tags),
            }),
            ..Default::default()
        };
    }
    LifecycleRuleFilter {
        prefix: (conditions == 0 || !f.prefix.is_empty()).then(|| f.prefix.clone()),
        tag: tags.into_iter().next(),
        object_size_greater_than: gt,
        object_size_less_than: lt,
        ..Default::default()
    }
}

/// Public only for the fuzz checks (`crates/fuzzing`).
#[doc(hidden)]
pub fn dto_rule(r: &CoreRule) -> LifecycleRule {
    LifecycleRule {
        id: Some(r.id.clone()),
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        filter: (!r.legacy_prefix).then(|| dto_filter(&r.filter)),
        expiration: r.expiration.as_ref().map(|e| LifecycleExpiration {
            days: e.days.map(|d| d as i32),
            date: e.date.map(Timestamp::from),
            expired_object_delete_marker: e.expired_object_delete_marker.then_some(true),
        }),
        noncurrent_version_expiration: r.noncurrent_expiration.as_ref().map(|n| {
            NoncurrentVersionExpiration {
                noncurrent_days: n.noncurrent_days.map(|d| d as i32),
                newer_noncurrent_versions: n.newer_noncurrent_versions.map(|d| d as i32),
            }
        }),
        abort_incomplete_multipart_upload: r.abort_incomplete_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: Some(d as i32),
            }
        }),
        noncurrent_version_transitions: None,
        prefix: r.legacy_prefix.then(|| r.filter.prefix.clone()),
        transitions: None,
    }
}

impl Gateway {
    pub(crate) async fn do_put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let Some(cfg) = input.lifecycle_configuration else {
            return Err(malformed(rid, "a LifecycleConfiguration is required"));
        };
        if cfg.rules.is_empty() || cfg.rules.len() > MAX_RULES {
            return Err(malformed(
                rid,
                &format!("a lifecycle configuration holds 1 to {MAX_RULES} rules"),
            ));
        }
        let rules = cfg
            .rules
            .iter()
            .map(|r| rule_of(r, rid))
            .collect::<S3Result<Vec<_>>>()?;
        self.objects
            .set_lifecycle(
                &input.bucket,
                caller.bucket_owner(),
                Some(LifecycleConfiguration { rules }),
            )
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(PutBucketLifecycleConfigurationOutput::default(), caller))
    }

    pub(crate) async fn do_get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let cfg = self
            .objects
            .get_lifecycle(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(
            GetBucketLifecycleConfigurationOutput {
                rules: Some(cfg.rules.iter().map(dto_rule).collect()),
                ..Default::default()
            },
            caller,
        ))
    }

    pub(crate) async fn do_delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        self.objects
            .set_lifecycle(&req.input.bucket, caller.bucket_owner(), None)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(DeleteBucketLifecycleOutput::default(), caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn filters_round_trip() {
        let f = LifecycleFilter {
            prefix: "logs/".into(),
            tags: BTreeMap::from([("a".to_string(), "1".to_string())]),
            size_greater_than: Some(5),
            size_less_than: None,
        };
        let rule = LifecycleRule {
            filter: Some(dto_filter(&f)),
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            expiration: Some(LifecycleExpiration {
                days: Some(3),
                ..Default::default()
            }),
            abort_incomplete_multipart_upload: None,
            id: None,
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            transitions: None,
        };
        assert_eq!(filter_of(&rule, "r").unwrap(), f);
        let single = LifecycleFilter {
            prefix: "p/".into(),
            ..Default::default()
        };
        let rule = LifecycleRule {
            filter: Some(dto_filter(&single)),
            ..rule
        };
        assert_eq!(filter_of(&rule, "r").unwrap(), single);
    }

    /// Fuzz finding (s3_xml): a `Date` with an offset was stored as given, and s3s
    /// writes it back in `Z` notation without converting, so the GET answered another
    /// instant. It is stored in UTC now; a date that has no UTC form is refused.
    #[test]
    fn expiration_dates_are_stored_in_utc() {
        let parse = |s: &str| Timestamp::parse(s3s::dto::TimestampFormat::DateTime, s).unwrap();
        let rule = |date: &str| LifecycleRule {
            id: Some("r".into()),
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            expiration: Some(LifecycleExpiration {
                date: Some(parse(date)),
                ..Default::default()
            }),
            abort_incomplete_multipart_upload: None,
            filter: None,
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            transitions: None,
        };
        let stored = rule_of(&rule("2030-01-01T00:00:00+05:00"), "r").unwrap();
        let date = stored.expiration.as_ref().unwrap().date.unwrap();
        assert_eq!(date.offset(), time::UtcOffset::UTC);
        assert_eq!(date, OffsetDateTime::from(parse("2029-12-31T19:00:00Z")));
        let back = dto_rule(&stored).expiration.unwrap().date.unwrap();
        let mut xml = Vec::new();
        back.format(s3s::dto::TimestampFormat::DateTime, &mut xml)
            .unwrap();
        assert_eq!(xml, b"2029-12-31T19:00:00.000Z");
        assert!(rule_of(&rule("9999-12-31T23:00:00-05:00"), "r").is_err());
    }
}
