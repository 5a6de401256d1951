//! S3 Object Lock (SPEC §9): the model and its rules, pure (no I/O).
//!
//! A bucket created with Object Lock enabled is versioned for good (versioning cannot be
//! suspended) and may carry a default retention that every new object version receives.
//! Each object version may hold a retention (mode and retain-until date) and a legal
//! hold. While either is in force, the version cannot be deleted (a delete without a
//! version id only adds a delete marker, which is always allowed):
//! * a legal hold blocks every delete until it is removed;
//! * COMPLIANCE retention blocks every delete and can never be shortened, removed or
//!   weakened to GOVERNANCE before it expires;
//! * GOVERNANCE retention blocks deletes and any change but an extension unless the
//!   request bypasses it (`x-amz-bypass-governance-retention: true` plus
//!   `s3:BypassGovernanceRetention`).
//!
//! The rules are checked where the change commits: a version delete runs
//! [`check_delete`] inside the store transaction that removes it
//! (`MetaStore::delete_object_version`'s guard), a retention change runs
//! [`check_retention_change`] inside `MetaStore::edit_object`. Lock state lives in the
//! version's own record, so it survives a crash like any other metadata.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// A retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    #[serde(rename = "GOVERNANCE")]
    Governance,
    #[serde(rename = "COMPLIANCE")]
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    /// The wire value (exact case, as S3).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// A bucket's default retention: a mode and a period of whole days or whole years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: LockMode,
    pub period: RetentionPeriod,
}

/// A default retention period (S3 takes exactly one of `Days` and `Years`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    Days(u32),
    Years(u32),
}

/// Longest default retention S3 accepts (100 years).
pub const MAX_DEFAULT_RETENTION_DAYS: u32 = 36_500;
pub const MAX_DEFAULT_RETENTION_YEARS: u32 = 100;

/// Why a default retention was refused: its document's shape (S3 `MalformedXML`) or a
/// value (S3 `InvalidArgument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
}

impl DefaultRetention {
    /// Validates the wire form: a positive number of days or of years, not both.
    pub fn new(mode: LockMode, days: Option<i64>, years: Option<i64>) -> Result<Self, ConfigError> {
        let period = match (days, years) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Malformed(
                    "A default retention takes Days or Years, not both".into(),
                ));
            }
            (None, None) => {
                return Err(ConfigError::Malformed(
                    "A default retention needs Days or Years".into(),
                ));
            }
            (Some(d), None) => RetentionPeriod::Days(positive(d, MAX_DEFAULT_RETENTION_DAYS)?),
            (None, Some(y)) => RetentionPeriod::Years(positive(y, MAX_DEFAULT_RETENTION_YEARS)?),
        };
        Ok(DefaultRetention { mode, period })
    }

    /// The retention a version written at `at` receives.
    pub fn applied_at(&self, at: OffsetDateTime) -> Retention {
        // Past the calendar's end (a clock near year 9999) the lock lasts to its end.
        let end = time::PrimitiveDateTime::MAX.assume_utc();
        let until = match self.period {
            RetentionPeriod::Days(d) => at
                .checked_add(time::Duration::days(i64::from(d)))
                .unwrap_or(end),
            RetentionPeriod::Years(y) => add_years(at, y).unwrap_or(end),
        };
        Retention {
            mode: self.mode,
            retain_until: until,
        }
    }
}

fn positive(n: i64, max: u32) -> Result<u32, ConfigError> {
    if n <= 0 {
        return Err(ConfigError::Invalid(
            "The default retention period must be a positive integer".into(),
        ));
    }
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| ConfigError::Invalid("The default retention period is too long".into()))
}

/// `at` plus `years` calendar years (29 February becomes 28 February when needed);
/// `None` past the calendar's end.
fn add_years(at: OffsetDateTime, years: u32) -> Option<OffsetDateTime> {
    let y = at.year().checked_add(i32::try_from(years).ok()?)?;
    let date = at
        .date()
        .replace_year(y)
        .or_else(|_| at.date().replace_day(28).and_then(|d| d.replace_year(y)))
        .ok()?;
    Some(at.replace_date(date))
}

/// A bucket's Object Lock configuration (present = Object Lock enabled, for good).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectLockConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

/// An object version's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: LockMode,
    #[serde(with = "time::serde::rfc3339")]
    pub retain_until: OffsetDateTime,
}

impl Retention {
    /// In force at `now` (a retention whose date has passed protects nothing).
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        self.retain_until > now
    }
}

/// The lock state of one object version, as its record holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockState {
    pub retention: Option<Retention>,
    pub legal_hold: bool,
}

/// The Object Lock settings a write asks for (`x-amz-object-lock-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteLock {
    pub retention: Option<Retention>,
    pub legal_hold: bool,
}

impl WriteLock {
    /// The lock state of the version a write creates at `now` in a bucket configured
    /// with `bucket`: the retention asked for, else the bucket's default retention
    /// (S3 applies it to every new version: puts, copies, completed uploads).
    pub fn for_new_version(
        self,
        bucket: Option<&ObjectLockConfig>,
        now: OffsetDateTime,
    ) -> LockState {
        let default = || {
            bucket
                .and_then(|c| c.default_retention)
                .map(|d| d.applied_at(now))
        };
        LockState {
            retention: self.retention.or_else(default),
            legal_hold: self.legal_hold,
        }
    }
}

/// How a version delete is judged against Object Lock ([`check_delete`]): at `now`,
/// bypassing GOVERNANCE retention or not. Every version delete carries one, so no
/// caller can forget the lock (`MetaStore::delete_object_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteCheck {
    pub now: OffsetDateTime,
    pub bypass_governance: bool,
}

impl DeleteCheck {
    /// Whether this delete may remove a version in `state`.
    pub fn allows(self, state: LockState) -> Result<()> {
        check_delete(state, self.now, self.bypass_governance)
    }
}

fn locked(msg: &str) -> Error {
    Error::PermissionDenied(msg.into())
}

/// Whether the version may be deleted for good at `now`; `bypass`: the request bypasses
/// GOVERNANCE retention (and is authorized to). Refusals are `PermissionDenied` (S3:
/// 403 AccessDenied).
pub fn check_delete(state: LockState, now: OffsetDateTime, bypass: bool) -> Result<()> {
    if state.legal_hold {
        return Err(locked("The object version is under a legal hold"));
    }
    match state.retention {
        Some(r) if r.in_force(now) && (r.mode == LockMode::Compliance || !bypass) => Err(locked(
            "The object version is protected by Object Lock retention until its date",
        )),
        _ => Ok(()),
    }
}

/// Whether a version's retention may change from `old` to `new` at `now`. While `old`
/// is in force, keeping its mode and not shortening it is always allowed; any other
/// change (shorter, removed, another mode) needs `bypass` under GOVERNANCE and is
/// refused under COMPLIANCE (S3, and the s3-tests: GOVERNANCE to COMPLIANCE needs the
/// bypass too).
pub fn check_retention_change(
    old: Option<Retention>,
    new: Option<Retention>,
    now: OffsetDateTime,
    bypass: bool,
) -> Result<()> {
    let Some(old) = old.filter(|o| o.in_force(now)) else {
        return Ok(());
    };
    if new.is_some_and(|n| n.mode == old.mode && n.retain_until >= old.retain_until) {
        return Ok(());
    }
    match old.mode {
        LockMode::Governance if bypass => Ok(()),
        LockMode::Governance => Err(locked(
            "Shortening, removing or changing GOVERNANCE retention needs \
             x-amz-bypass-governance-retention",
        )),
        LockMode::Compliance => Err(locked(
            "COMPLIANCE retention cannot be shortened, removed or changed",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-07 12:00 UTC);

    fn r(mode: LockMode, days: i64) -> Retention {
        Retention {
            mode,
            retain_until: NOW + time::Duration::days(days),
        }
    }

    #[test]
    fn deletes_respect_holds_and_retention() {
        use LockMode::*;
        let free = LockState::default();
        assert!(check_delete(free, NOW, false).is_ok());
        let hold = LockState {
            legal_hold: true,
            ..free
        };
        assert!(check_delete(hold, NOW, true).is_err());
        let gov = LockState {
            retention: Some(r(Governance, 1)),
            legal_hold: false,
        };
        assert!(check_delete(gov, NOW, false).is_err());
        assert!(check_delete(gov, NOW, true).is_ok());
        let comp = LockState {
            retention: Some(r(Compliance, 1)),
            legal_hold: false,
        };
        assert!(check_delete(comp, NOW, true).is_err());
        // Expired retention protects nothing.
        let past = LockState {
            retention: Some(r(Compliance, -1)),
            legal_hold: false,
        };
        assert!(check_delete(past, NOW, false).is_ok());
    }

    #[test]
    fn retention_changes() {
        use LockMode::*;
        let ok = |o, n, b| check_retention_change(o, n, NOW, b).is_ok();
        assert!(ok(None, Some(r(Governance, 1)), false));
        assert!(ok(Some(r(Governance, 1)), Some(r(Governance, 2)), false));
        assert!(!ok(Some(r(Governance, 1)), Some(r(Compliance, 1)), false));
        assert!(ok(Some(r(Governance, 1)), Some(r(Compliance, 1)), true));
        assert!(!ok(Some(r(Governance, 2)), Some(r(Governance, 1)), false));
        assert!(ok(Some(r(Governance, 2)), Some(r(Governance, 1)), true));
        assert!(!ok(Some(r(Governance, 2)), None, false));
        assert!(ok(Some(r(Governance, 2)), None, true));
        assert!(ok(Some(r(Compliance, 1)), Some(r(Compliance, 3)), false));
        assert!(!ok(Some(r(Compliance, 3)), Some(r(Compliance, 1)), true));
        assert!(!ok(Some(r(Compliance, 3)), Some(r(Governance, 5)), true));
        assert!(!ok(Some(r(Compliance, 3)), None, true));
        assert!(ok(Some(r(Compliance, -1)), None, false));
    }

    #[test]
    fn default_retention_periods() {
        use LockMode::*;
        assert!(DefaultRetention::new(Governance, Some(1), Some(1)).is_err());
        assert!(DefaultRetention::new(Governance, None, None).is_err());
        assert!(DefaultRetention::new(Governance, Some(0), None).is_err());
        assert!(DefaultRetention::new(Governance, None, Some(-3)).is_err());
        assert!(DefaultRetention::new(Governance, None, Some(101)).is_err());
        let d = DefaultRetention::new(Compliance, Some(2), None).unwrap();
        assert_eq!(
            d.applied_at(NOW).retain_until,
            datetime!(2026-12-09 12:00 UTC)
        );
        let y = DefaultRetention::new(Governance, None, Some(1)).unwrap();
        assert_eq!(
            y.applied_at(NOW).retain_until,
            datetime!(2027-12-07 12:00 UTC)
        );
        // Near the calendar's end the lock lasts to its end (no overflow, no panic).
        let late = datetime!(9999-06-01 00:00 UTC);
        let end = time::PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(y.applied_at(late).retain_until, end);
        assert_eq!(
            DefaultRetention::new(Compliance, Some(36_500), None)
                .unwrap()
                .applied_at(late)
                .retain_until,
            end
        );
        let leap = datetime!(2028-02-29 00:00 UTC);
        assert_eq!(
            y.applied_at(leap).retain_until,
            datetime!(2029-02-28 00:00 UTC)
        );
    }
}
