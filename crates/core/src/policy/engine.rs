//! [`PolicyEngine`]: every org's compiled policies behind one atomically swapped map.
//!
//! Readers (`decide`, `has_policies`) take a lock-free snapshot with `ArcSwap::load` and
//! never touch the database. Writers compile outside the swap and publish with `rcu`, so
//! concurrent `replace_org` calls for different orgs never lose each other's update.
//! Whoever changes stored policies (or hears about a change from another node) must call
//! `replace_org` with the org's complete, current policy list.
//!
//! The engine also caches compiled bucket policies ([`PolicyEngine::bucket_policy`]),
//! keyed by bucket name and validated against the policy text of the bucket record the
//! caller just read: an entry is used only if its source text is byte-for-byte the
//! record's, so a policy changed on another node (or a bucket re-created under the same
//! name) is recompiled on first use and a stale entry can never decide. Writers
//! (`PutBucketPolicy`, `DeleteBucketPolicy`, `DeleteBucket`) keep the cache tidy with
//! [`PolicyEngine::store_bucket_policy`] / [`PolicyEngine::forget_bucket_policy`].
//! The cache holds at most [`MAX_CACHED_BUCKET_POLICIES`] entries: buckets deleted on
//! another node are never forgotten here, and anyone (anonymous requests included) can
//! make this node compile the policy of any bucket, so its size must not follow the
//! number of buckets. An insert into a full cache first drops every eighth entry in
//! the map's (randomly seeded) order.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::bucket::{BucketPolicy, BucketPolicyError};
use super::compiled::{CompiledPolicies, Map, decide_without_policies};
use super::eval::{Decision, Subject};
use super::model::AccessPolicy;

/// The engine's maps use the index's seeded fast hasher (org ids and bucket names are
/// short keys looked up on every decision).
type OrgMap = Map<String, Arc<CompiledPolicies>>;

/// One cached bucket policy: the text it was compiled from and the outcome. A stored
/// text that no longer compiles (e.g. after a validator change) is cached as its error,
/// so it is not re-parsed on every request; callers fail closed on it.
struct BucketEntry {
    source: Box<str>,
    compiled: Result<Arc<BucketPolicy>, BucketPolicyError>,
}

type BucketMap = Map<String, Arc<BucketEntry>>;

/// Most compiled bucket policies cached. A policy is at most 20 KiB of text
/// ([`super::MAX_BUCKET_POLICY_BYTES`]), so a full cache of the largest policies holds
/// tens of MiB; typical policies are far smaller. A miss costs one compilation.
pub const MAX_CACHED_BUCKET_POLICIES: usize = 1024;

/// The one authorization engine's org layer (SPEC §3).
pub struct PolicyEngine {
    /// Invariant: no entry holds zero policies (`replace_org` with an empty list removes
    /// the org), so `has_policies` is a plain `contains_key`.
    orgs: ArcSwap<OrgMap>,
    /// Compiled bucket policies by bucket name (module docs).
    buckets: ArcSwap<BucketMap>,
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
            .field("bucket_policies", &self.buckets.load().len())
            .finish()
    }
}

impl PolicyEngine {
    /// An engine with no policies: every decision is a default deny, except org admins'
    /// `cwobject:` actions.
    pub fn new() -> Self {
        PolicyEngine {
            orgs: ArcSwap::from_pointee(OrgMap::default()),
            buckets: ArcSwap::from_pointee(BucketMap::default()),
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

    /// The compiled policy of `bucket` whose stored policy text is `source` (the bucket
    /// record's `policy` field), compiling and caching it on first use. `Ok(None)` when
    /// the bucket has no policy. An `Err` means the stored text does not compile; the
    /// caller must fail closed (deny) for every action except the org-only ones.
    pub fn bucket_policy(
        &self,
        bucket: &str,
        source: Option<&str>,
    ) -> Result<Option<Arc<BucketPolicy>>, BucketPolicyError> {
        let Some(source) = source else {
            return Ok(None);
        };
        if let Some(e) = self.buckets.load().get(bucket)
            && *e.source == *source
        {
            return e.compiled.clone().map(Some);
        }
        let compiled = BucketPolicy::parse(bucket, source).map(Arc::new);
        self.insert_bucket_entry(bucket, source, compiled.clone());
        compiled.map(Some)
    }

    /// Caches a policy that was just compiled from `source` (PutBucketPolicy), so the
    /// first request after the write does not compile it again.
    pub fn store_bucket_policy(&self, bucket: &str, source: &str, policy: Arc<BucketPolicy>) {
        self.insert_bucket_entry(bucket, source, Ok(policy));
    }

    /// Drops the cached policy of `bucket` (DeleteBucketPolicy, DeleteBucket).
    pub fn forget_bucket_policy(&self, bucket: &str) {
        if !self.buckets.load().contains_key(bucket) {
            return;
        }
        self.buckets.rcu(|current| {
            let mut next = BucketMap::clone(current);
            next.remove(bucket);
            next
        });
    }

    /// Number of cached bucket policies (for metrics and tests).
    pub fn cached_bucket_policies(&self) -> usize {
        self.buckets.load().len()
    }

    fn insert_bucket_entry(
        &self,
        bucket: &str,
        source: &str,
        compiled: Result<Arc<BucketPolicy>, BucketPolicyError>,
    ) {
        let entry = Arc::new(BucketEntry {
            source: source.into(),
            compiled,
        });
        self.buckets.rcu(|current| {
            let mut next = BucketMap::clone(current);
            if next.len() >= MAX_CACHED_BUCKET_POLICIES && !next.contains_key(bucket) {
                let mut i = 0usize;
                next.retain(|_, _| {
                    i += 1;
                    !i.is_multiple_of(8)
                });
            }
            next.insert(bucket.to_owned(), entry.clone());
            next
        });
    }
}
