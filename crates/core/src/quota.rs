//! Per-org quotas: how many access keys a principal and an org may hold, and how many
//! access policies an org may keep. This module owns the numbers' defaults, which keys
//! count, and the one error every store returns when a quota is reached; the stores
//! check the counts inside the transaction of the write (`MetaStore::create_access_key`,
//! `MetaStore::put_policy`), so concurrent creations cannot overshoot.
//!
//! Which keys count: a key counts while it can still authenticate or be re-activated,
//! i.e. while it is neither deleted (revoked) nor expired ([`counts_against_quota`]).
//! Keys minted by the temporary-credential exchanges (SAML, OIDC, container
//! credentials, API token) count like any other while they live; once expired they are
//! removed from the store by the org's next key creation ([`AccessKey::is_exchange_key`]),
//! so a flood of exchanges is bounded by the quotas instead of growing the store.

use crate::error::Error;
use crate::model::{AccessKey, KeyState};
use time::OffsetDateTime;

/// Default of `max_keys_per_principal`. AWS IAM allows 2 keys per user; a CI role that
/// mints a 15-minute key per job, or a user with a key per tool, needs more, and 100
/// still bounds what one compromised principal can mint.
pub const DEFAULT_KEYS_PER_PRINCIPAL: u64 = 100;
/// Default of `max_keys_per_org`: 100 principals at the per-principal default.
pub const DEFAULT_KEYS_PER_ORG: u64 = 10_000;
/// Default of `max_policies_per_org`, the same as the default bucket count per org: an
/// org that templates one policy per bucket fits. Each policy holds at most
/// [`crate::policy::MAX_STATEMENTS`] statements.
pub const DEFAULT_POLICIES_PER_ORG: u64 = 1_000;

/// The limits in force (server settings; every value ≥ 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Keys counting against the quota per (org, principal).
    pub keys_per_principal: u64,
    /// Keys counting against the quota per org.
    pub keys_per_org: u64,
    /// Org access policies per org (replacing an existing policy is always allowed).
    pub policies_per_org: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            keys_per_principal: DEFAULT_KEYS_PER_PRINCIPAL,
            keys_per_org: DEFAULT_KEYS_PER_ORG,
            policies_per_org: DEFAULT_POLICIES_PER_ORG,
        }
    }
}

impl Quotas {
    /// Whether a new key for `principal` in `org_id` fits, given how many keys count
    /// against the quotas now (the store counts inside the write's transaction).
    pub fn admit_key(
        &self,
        org_id: &str,
        principal: &str,
        of_org: u64,
        of_principal: u64,
    ) -> Result<(), Error> {
        if of_principal >= self.keys_per_principal {
            return Err(keys_per_principal_reached(
                principal,
                self.keys_per_principal,
            ));
        }
        if of_org >= self.keys_per_org {
            return Err(keys_per_org_reached(org_id, self.keys_per_org));
        }
        Ok(())
    }

    /// Whether writing a policy fits an org that holds `held` policies: replacing one
    /// (`exists`) always does.
    pub fn admit_policy(&self, org_id: &str, held: u64, exists: bool) -> Result<(), Error> {
        if !exists && held >= self.policies_per_org {
            return Err(policies_per_org_reached(org_id, self.policies_per_org));
        }
        Ok(())
    }
}

/// Whether `key` counts against the key quotas at `at`: not deleted and not expired.
pub fn counts_against_quota(key: &AccessKey, at: OffsetDateTime) -> bool {
    key.state != KeyState::Deleted && key.expiry.is_none_or(|e| e > at)
}

/// Whether `key` is an expired exchange key that a key creation at `at` removes.
pub fn is_purgeable(key: &AccessKey, at: OffsetDateTime) -> bool {
    key.is_exchange_key() && key.expiry.is_some_and(|e| e <= at)
}

/// `ResourceExhausted` for a principal at its key quota.
fn keys_per_principal_reached(principal: &str, limit: u64) -> Error {
    Error::ResourceExhausted(format!(
        "principal {principal} already holds {limit} access keys that are neither revoked \
         nor expired, the most allowed (server setting max_keys_per_principal); revoke \
         unused keys first"
    ))
}

/// `ResourceExhausted` for an org at its key quota.
fn keys_per_org_reached(org_id: &str, limit: u64) -> Error {
    Error::ResourceExhausted(format!(
        "org {org_id} already holds {limit} access keys that are neither revoked nor \
         expired, the most allowed (server setting max_keys_per_org); revoke unused keys \
         first"
    ))
}

/// `ResourceExhausted` for an org at its policy quota.
fn policies_per_org_reached(org_id: &str, limit: u64) -> Error {
    Error::ResourceExhausted(format!(
        "org {org_id} already has {limit} access policies, the most allowed (server \
         setting max_policies_per_org); delete a policy or update an existing one"
    ))
}
