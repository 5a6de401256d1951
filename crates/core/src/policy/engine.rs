//! [`PolicyEngine`]: every org's compiled policies behind one atomically swapped map.
//!
//! Readers (`decide`, `has_policies`) take a lock-free snapshot with `ArcSwap::load` and
//! never touch the database. Writers compile outside the swap and publish with `rcu`, so
//! concurrent `replace_org` calls for different orgs never lose each other's update.
//! Whoever changes stored policies (or hears about a change from another node) must call
//! `replace_org` with the org's complete, current policy list.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::compiled::{CompiledPolicies, decide_without_policies};
use super::eval::{Decision, Subject};
use super::model::AccessPolicy;

type OrgMap = HashMap<String, Arc<CompiledPolicies>>;

/// The one authorization engine's org layer (SPEC §3).
pub struct PolicyEngine {
    /// Invariant: no entry holds zero policies (`replace_org` with an empty list removes
    /// the org), so `has_policies` is a plain `contains_key`.
    orgs: ArcSwap<OrgMap>,
}

impl Default for PolicyEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("orgs", &self.orgs.load().len())
            .finish()
    }
}

impl PolicyEngine {
    /// An engine with no policies: every decision is a default deny, except org admins'
    /// `cwobject:` actions.
    pub fn new() -> Self {
        PolicyEngine {
            orgs: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// Replaces every org's policies at once (start-up load).
    pub fn replace_all(&self, orgs: impl IntoIterator<Item = (String, Vec<AccessPolicy>)>) {
        let map: OrgMap = orgs
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(org, p)| (org, Arc::new(CompiledPolicies::new(&p))))
            .collect();
        self.orgs.store(Arc::new(map));
    }

    /// Replaces one org's complete policy list (an empty list removes the org).
    pub fn replace_org(&self, org_id: &str, policies: &[AccessPolicy]) {
        if policies.is_empty() {
            self.remove_org(org_id);
            return;
        }
        let compiled = Arc::new(CompiledPolicies::new(policies));
        self.orgs.rcu(|current| {
            let mut next = OrgMap::clone(current);
            next.insert(org_id.to_owned(), compiled.clone());
            next
        });
    }

    /// Forgets one org's policies.
    pub fn remove_org(&self, org_id: &str) {
        if !self.orgs.load().contains_key(org_id) {
            return;
        }
        self.orgs.rcu(|current| {
            let mut next = OrgMap::clone(current);
            next.remove(org_id);
            next
        });
    }

    /// True if the org has at least one policy (required before creating a bucket).
    pub fn has_policies(&self, org_id: &str) -> bool {
        self.orgs.load().contains_key(org_id)
    }

    /// The org's compiled policies, for answering many questions against one snapshot
    /// (e.g. `AuthCanI`).
    pub fn org(&self, org_id: &str) -> Option<Arc<CompiledPolicies>> {
        self.orgs.load().get(org_id).cloned()
    }

    /// The org-layer decision for `subject` (a member of `org_id`) doing `action`
    /// (canonical case, e.g. `s3:GetObject`) on `resource` (`bucket`, `bucket/key`, or
    /// `*` for global actions). Bucket policies are not consulted here; see `eval`.
    pub fn decide(
        &self,
        org_id: &str,
        subject: &Subject<'_>,
        action: &str,
        resource: &str,
    ) -> Decision {
        match self.orgs.load().get(org_id) {
            Some(c) => c.decide(subject, action, resource),
            None => decide_without_policies(subject, action),
        }
    }
}
