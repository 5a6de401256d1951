//! `PolicyService`: the only writer of org access policies. It keeps the `MetaStore`
//! (source of truth) and the in-memory [`PolicyEngine`] index in step.
//!
//! Invariants:
//! * A policy reaches the store only after [`validate`] accepted it, and a new policy
//!   name only while the org is below its policy quota (`crate::quota`, checked by the
//!   store inside the write).
//! * The engine's index for an org is replaced only after the store commit succeeded,
//!   and always with the org's complete policy list as read back from the store *after*
//!   that commit (the engine takes whole lists, never deltas).
//! * Concurrent writers cannot leave a stale index behind: every read-back takes a ticket
//!   from a global counter before it starts, and an index is published only if its
//!   ticket is newer than the last one published for that org. The last writer's
//!   read-back starts after every earlier commit finished, so the newest ticket always
//!   sees every committed change and wins, whatever order the publishes happen in.
//! * Policies are handed to the engine sorted by name: "first matching statement" in a
//!   decision (its `decidedBy`) then does not depend on the store's row order.

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::meta::MetaStore;
use crate::model::StoredPolicy;
use crate::policy::{AccessPolicy, PolicyEngine, validate};
use crate::quota::Quotas;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct PolicyService {
    meta: Arc<dyn MetaStore>,
    engine: Arc<PolicyEngine>,
    clock: Arc<dyn Clock>,
    quotas: Quotas,
    /// Source of read-back tickets (see module docs).
    next_ticket: AtomicU64,
    /// Per org, the ticket of the index currently published in the engine. Held only
    /// for the compare-and-publish step, never across an await.
    published: Mutex<HashMap<String, u64>>,
}

impl PolicyService {
    pub fn new(meta: Arc<dyn MetaStore>, engine: Arc<PolicyEngine>) -> Self {
        Self::with_clock(meta, engine, Arc::new(SystemClock))
    }

    /// Like [`PolicyService::new`] with an explicit clock (for the `updated` timestamps).
    pub fn with_clock(
        meta: Arc<dyn MetaStore>,
        engine: Arc<PolicyEngine>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            meta,
            engine,
            clock,
            quotas: Quotas::default(),
            next_ticket: AtomicU64::new(1),
            published: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the quotas (`policies_per_org`) checked when a policy is stored.
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    pub fn engine(&self) -> &Arc<PolicyEngine> {
        &self.engine
    }

    /// Start-up (and after missed cross-node changes): reads every org's policies from
    /// the store and publishes them all.
    /// A stored document that no longer parses is an `Internal` error (the server should
    /// not start with a silently missing policy, which could drop a `Deny`).
    pub async fn load_all(&self) -> Result<()> {
        let ticket = self.take_ticket();
        let stored = self.meta.list_all_policies().await?;
        let mut by_org: BTreeMap<String, Vec<AccessPolicy>> = BTreeMap::new();
        for sp in &stored {
            by_org
                .entry(sp.org_id.clone())
                .or_default()
                .push(decode(sp)?);
        }
        let mut published = self.published.lock();
        // Orgs published by a newer read-back meanwhile keep their newer index.
        let stale: Vec<String> = published
            .iter()
            .filter(|(_, t)| **t > ticket)
            .map(|(o, _)| o.clone())
            .collect();
        for org in &stale {
            by_org.remove(org);
        }
        // Orgs published before whose policies are all gone now get an empty index
        // (a node learning of changes it missed calls this again).
        let emptied: Vec<String> = published
            .keys()
            .filter(|o| !by_org.contains_key(*o) && !stale.contains(o))
            .cloned()
            .collect();
        for org in emptied {
            by_org.insert(org, Vec::new());
        }
        for (org, mut policies) in by_org {
            sort_by_name(&mut policies);
            self.engine.replace_org(&org, &policies);
            published.insert(org, ticket);
        }
        Ok(())
    }

    /// Validates `policy`, stores it (replacing a policy of the same name), then
    /// republishes the org's index.
    pub async fn ensure(&self, org_id: &str, policy: AccessPolicy) -> Result<()> {
        validate(&policy)?;
        let document = serde_json::to_string(&policy)
            .map_err(|e| Error::internal(format!("encoding policy: {e}")))?;
        self.meta
            .put_policy(
                &StoredPolicy {
                    org_id: org_id.to_string(),
                    name: policy.name.clone(),
                    document,
                    updated: self.clock.now(),
                },
                &self.quotas,
            )
            .await?;
        crate::crash::point("policy.after_store");
        self.reload_org(org_id).await
    }

    /// Deletes the named policy (`NotFound` if absent), then republishes the org's index.
    pub async fn delete(&self, org_id: &str, name: &str) -> Result<()> {
        self.meta.delete_policy(org_id, name).await?;
        self.reload_org(org_id).await
    }

    /// The org's policies, sorted by name, as stored.
    pub async fn list(&self, org_id: &str) -> Result<Vec<AccessPolicy>> {
        let mut policies = self
            .meta
            .list_policies(org_id)
            .await?
            .iter()
            .map(decode)
            .collect::<Result<Vec<_>>>()?;
        sort_by_name(&mut policies);
        Ok(policies)
    }

    /// Re-reads one org's policies from the store and publishes them unless a newer
    /// read-back was published meanwhile. Also the entry point for change notifications
    /// from other nodes.
    pub async fn reload_org(&self, org_id: &str) -> Result<()> {
        let ticket = self.take_ticket();
        let policies = self.list(org_id).await?;
        let mut published = self.published.lock();
        let last = published.entry(org_id.to_string()).or_insert(0);
        if *last < ticket {
            self.engine.replace_org(org_id, &policies);
            *last = ticket;
        }
        Ok(())
    }

    fn take_ticket(&self) -> u64 {
        self.next_ticket.fetch_add(1, Ordering::SeqCst)
    }
}

fn decode(sp: &StoredPolicy) -> Result<AccessPolicy> {
    serde_json::from_str(&sp.document).map_err(|e| {
        Error::internal(format!(
            "stored policy {:?} of org {} does not parse: {e}",
            sp.name, sp.org_id
        ))
    })
}

fn sort_by_name(policies: &mut [AccessPolicy]) {
    policies.sort_by(|a, b| a.name.cmp(&b.name));
}
