//! Cross-node cache coherence. A node caches decrypted access keys (`IdentityService`)
//! and compiled org policies (`PolicyEngine` via `PolicyService`); a metadata store shared
//! by several nodes announces committed changes through a [`ChangeFeed`], and
//! [`CacheCoherence`] applies them to this node's caches.
//!
//! Invariants:
//! * A feed delivers every change committed by any node, this one included, or — when it
//!   cannot tell what it missed (lost connection, no notification channel) — a
//!   [`Change::Everything`], which drops every cache entry. Never nothing.
//! * Settings, buckets and bucket policies are not cached (read from the store on each
//!   request), so they need no notification to be coherent.

use crate::identity::IdentityService;
use crate::policy_service::PolicyService;
use async_trait::async_trait;
use std::sync::Arc;

/// One committed change that may make a cache entry stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The state (or existence) of one access key changed.
    AccessKey(String),
    /// The org access policies of one org changed.
    OrgPolicies(String),
    /// Unknown changes may have been missed: drop everything cached.
    Everything,
}

impl Change {
    /// Wire form used by stores that carry changes as text (`key <id>`, `policies <org>`,
    /// `all`).
    pub fn encode(&self) -> String {
        match self {
            Change::AccessKey(id) => format!("key {id}"),
            Change::OrgPolicies(org) => format!("policies {org}"),
            Change::Everything => "all".to_string(),
        }
    }

    /// Inverse of [`Change::encode`]; anything unrecognised decodes as `Everything`, the
    /// safe over-approximation.
    pub fn decode(s: &str) -> Change {
        match s.split_once(' ') {
            Some(("key", id)) if !id.is_empty() => Change::AccessKey(id.to_string()),
            Some(("policies", org)) if !org.is_empty() => Change::OrgPolicies(org.to_string()),
            _ => Change::Everything,
        }
    }
}

/// Receives changes from a feed.
#[async_trait]
pub trait ChangeSink: Send + Sync + 'static {
    async fn apply(&self, change: Change);
}

/// A source of committed changes made by every node sharing the metadata store.
pub trait ChangeFeed: Send + Sync + 'static {
    /// Starts delivering changes to `sink` until the returned subscription is dropped.
    /// Must be called inside a Tokio runtime.
    fn subscribe(&self, sink: Arc<dyn ChangeSink>) -> Subscription;
}

/// A running delivery task; dropping it stops the task.
pub struct Subscription(tokio::task::JoinHandle<()>);

impl Subscription {
    pub fn new(task: tokio::task::JoinHandle<()>) -> Self {
        Self(task)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Applies changes to this node's identity and policy caches.
pub struct CacheCoherence {
    identity: Arc<IdentityService>,
    policies: Arc<PolicyService>,
}

impl CacheCoherence {
    pub fn new(identity: Arc<IdentityService>, policies: Arc<PolicyService>) -> Self {
        Self { identity, policies }
    }
}

#[async_trait]
impl ChangeSink for CacheCoherence {
    async fn apply(&self, change: Change) {
        match change {
            Change::AccessKey(id) => self.identity.invalidate_key(&id),
            Change::OrgPolicies(org) => {
                if let Err(e) = self.policies.reload_org(&org).await {
                    // The next change or the feed's periodic check retries; until then
                    // the previous index stays published.
                    tracing::warn!(org_id = %org, error = %e, "reloading org policies failed");
                }
            }
            Change::Everything => {
                self.identity.invalidate_all();
                if let Err(e) = self.policies.load_all().await {
                    tracing::warn!(error = %e, "reloading every org's policies failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_round_trips() {
        for c in [
            Change::AccessKey("CWABC".into()),
            Change::OrgPolicies("org1".into()),
            Change::Everything,
        ] {
            assert_eq!(Change::decode(&c.encode()), c);
        }
        assert_eq!(Change::decode("key "), Change::Everything);
        assert_eq!(Change::decode("bogus x"), Change::Everything);
    }
}
