//! The compiled per-org policy index (SPEC §3: "decisions are cheap").
//!
//! Every statement is flattened into one arena in evaluation order (policy order, then
//! statement order), so a statement's arena index is its ordinal, and "the first matching
//! statement" is the matching candidate with the smallest index. One index maps a
//! request to a small candidate set of postings `(statement, resource pattern, effect)`,
//! in three levels; one pass over the candidates finds both the first matching `Deny`
//! and the first matching `Allow` (half the lookups of one index per effect):
//!
//! 1. by principal pattern: literal principals → `by_principal[principal]` (one hash
//!    lookup with the caller's principal); patterns with a wildcard (`*`,
//!    `coreweave/*`, `role/ci-*`) → `by_principal_prefix[the literal text before the
//!    first wildcard]`, looked up once per distinct prefix length (so `role/ci-*`
//!    statements are never candidates for `coreweave/…` callers, and `*` lands under the
//!    empty prefix, the only group anonymous subjects visit);
//! 2. by resource pattern:
//!    * all-star patterns (`*`) → `all_resources` (always candidates; the only ones that
//!      match the global resource `*`);
//!    * patterns whose bucket part (up to the first `/`) is literal → `by_bucket[bucket]`
//!      (one hash lookup with the request's bucket);
//!    * other patterns (wildcard inside the bucket part, e.g. `logs-*`) → `by_prefix[the
//!      literal text before the first wildcard]`, looked up once per distinct prefix length;
//! 3. by action pattern: fully literal patterns → a hash of the ASCII-lowercased action;
//!    wildcard patterns → one list per namespace (`s3:`, `cwobject:`), and `*` (or
//!    anything without a known namespace) → `other`.
//!
//! So 1,000 policies of "user X may do s3:* on *" cost one principal lookup, not 1,000
//! principal checks, and 1,000 policies on distinct buckets cost one bucket lookup.
//!
//! Duplicates: a statement whose effect, actions (ignoring ASCII case), resources and
//! principals equal (as sets) those of an earlier statement is not indexed at all. The
//! earlier one matches exactly the same requests and has the smaller ordinal, so it is
//! always the first match; orgs whose policies are stamped out of templates repeat the
//! same statements hundreds of times, and each copy would otherwise be re-checked.
//!
//! Invariant (soundness): if a statement matches a request, at least one of its postings
//! is in the candidate set. Candidates are then fully re-checked (action, resource,
//! principal), so over-inclusion (hash collisions, duplicate postings) is harmless.
//! Bounded fan-out: a statement with more than 8 literal actions is indexed by namespace
//! instead; more than 8 literal principals are indexed as prefixes (each literal is its
//! own prefix); more than 8 distinct principal prefixes collapse into their longest
//! common prefix. So postings per statement are at most 16 × resources × 11 and
//! adversarial 100-entry lists cannot explode the index.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::eval::{
    Decision, GLOBAL_RESOURCE, Subject, decide_with, principal_matches, resource_matches,
};
use super::glob::{glob_match_lowered, has_wildcard, is_all_stars};
use super::model::{AccessPolicy, Effect};
use super::validate::{Namespace, namespace_of};

/// A statement's literal actions beyond this count are indexed by namespace instead of
/// individually (bounds postings per statement).
const EXACT_ACTIONS_PER_STATEMENT: usize = 8;
/// A statement's literal principals beyond this count are indexed as prefixes.
const EXACT_PRINCIPALS_PER_STATEMENT: usize = 8;
/// A statement's distinct principal prefixes beyond this count collapse into one.
const PRINCIPAL_PREFIXES_PER_STATEMENT: usize = 8;

struct CompiledStatement {
    policy: Arc<str>,
    name: Arc<str>,
    /// ASCII-lowercased once here; matched with `glob_match_lowered`.
    actions: Box<[Box<str>]>,
    resources: Box<[Box<str>]>,
    principals: Box<[Box<str>]>,
}

/// Statement ordinal, index of the resource pattern in the statement, effect.
#[derive(Debug, Clone, Copy)]
struct Posting {
    stmt: u32,
    resource: u32,
    deny: bool,
}

#[derive(Default)]
struct ActionBuckets {
    /// Keyed by [`fold_hash`] of the action; collisions only add candidates.
    exact: Map<u64, Vec<Posting>>,
    s3: Vec<Posting>,
    cwobject: Vec<Posting>,
    /// `*` and any pattern outside the known namespaces: candidates for every action.
    other: Vec<Posting>,
}

/// The string-keyed maps below are keyed by [`key`] of the string (no key bytes stored
/// or compared): two strings with the same key share one group, which only adds
/// candidates (every posting is fully re-checked).
#[derive(Default)]
struct Index {
    by_principal: KeyMap<ResourceIndex>,
    /// Keyed by the literal text before a principal pattern's first wildcard.
    by_principal_prefix: KeyMap<ResourceIndex>,
    /// Distinct key lengths (bytes) of `by_principal_prefix`, ascending.
    principal_prefix_lens: Vec<usize>,
}

#[derive(Default)]
struct ResourceIndex {
    all_resources: ActionBuckets,
    by_bucket: KeyMap<ActionBuckets>,
    by_prefix: KeyMap<ActionBuckets>,
    /// Distinct key lengths (bytes) of `by_prefix`, ascending.
    prefix_lens: Vec<usize>,
}

/// Hash maps of the index use [`SeededHasher`]: lookups happen several times per decision
/// on short keys, where SipHash dominates the cost. Defaults need a `Default` hasher, so the
/// index structs derive `Default` and the seed is drawn per process.
pub(super) type Map<K, V> = HashMap<K, V, SeededState>;

/// The map key of an index string (principal, principal prefix, bucket, resource
/// prefix): its seeded hash. Keys of the maps are not stored, so a lookup is one probe
/// with no string comparison and no pointer to follow.
#[inline]
fn key(s: &str) -> u64 {
    SeededState::default().hash_one(s)
}

/// A map keyed by [`key`] values, which are already seeded and finalized hashes: the
/// map uses them as they are instead of hashing them again.
type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// Passes a [`key`] through (only `write_u64` is ever called, by `u64: Hash`).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by u64 keys; fold anything else in rather than ignore it.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Per-process random seed for [`SeededHasher`], so that colliding keys cannot be
/// precomputed offline (keys are tenant-chosen bucket names and principals).
static SEED: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
});

#[derive(Clone, Copy)]
pub(super) struct SeededState(u64);

impl Default for SeededState {
    fn default() -> Self {
        SeededState(*SEED)
    }
}

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

/// A fast multiply-rotate hasher over 8-byte words with a murmur3 finalizer. Not
/// cryptographic; the random seed is the only defence against crafted collisions, and a
/// collision costs the colliding org time, never correctness.
pub(super) struct SeededHasher(u64);

impl SeededHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

impl Hasher for SeededHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        // The length separates "ab" + "" from "a" + "b" across write calls.
        self.mix(u64::from_le_bytes(buf) ^ ((bytes.len() as u64) << 56));
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Where one statement's postings go on the action axis.
struct ActionTargets {
    exact: Vec<u64>,
    s3: bool,
    cwobject: bool,
    other: bool,
}

/// FNV-1a over the ASCII-lowercased bytes: equal for strings that are equal ignoring
/// ASCII case, computed without allocating a lowercase copy.
#[inline]
fn fold_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl ActionTargets {
    fn of(actions: &[Box<str>]) -> Self {
        let mut t = ActionTargets {
            exact: Vec::new(),
            s3: false,
            cwobject: false,
            other: false,
        };
        let mut literals = Vec::new();
        for a in actions {
            if has_wildcard(a) {
                t.mark_namespace(a);
            } else {
                literals.push(a);
            }
        }
        if literals.len() <= EXACT_ACTIONS_PER_STATEMENT {
            t.exact = literals.iter().map(|a| fold_hash(a)).collect();
            t.exact.sort_unstable();
            t.exact.dedup();
        } else {
            for a in literals {
                t.mark_namespace(a);
            }
        }
        t
    }

    fn mark_namespace(&mut self, pattern: &str) {
        // A pattern whose namespace is literally `s3`/`cwobject` (any case) starts with that
        // literal text, so it can only match actions of the same namespace.
        match namespace_of(pattern) {
            Some(Namespace::S3) => self.s3 = true,
            Some(Namespace::Cwobject) => self.cwobject = true,
            None => self.other = true,
        }
    }
}

impl ActionBuckets {
    fn insert(&mut self, t: &ActionTargets, p: Posting) {
        for &h in &t.exact {
            self.exact.entry(h).or_default().push(p);
        }
        if t.s3 {
            self.s3.push(p);
        }
        if t.cwobject {
            self.cwobject.push(p);
        }
        if t.other {
            self.other.push(p);
        }
    }
}

impl Index {
    /// Adds every posting of one statement.
    fn insert_statement(&mut self, stmt: u32, deny: bool, cs: &CompiledStatement) {
        let targets = ActionTargets::of(&cs.actions);
        let mut literal: Vec<&str> = Vec::new();
        let mut prefixes: Vec<&str> = Vec::new();
        for p in cs.principals.iter().map(|p| &**p) {
            match p.find(['*', '?']) {
                Some(cut) => prefixes.push(&p[..cut]),
                None => literal.push(p),
            }
        }
        literal.sort_unstable();
        literal.dedup();
        if literal.len() > EXACT_PRINCIPALS_PER_STATEMENT {
            // A literal is its own prefix: whoever equals it starts with it.
            prefixes.append(&mut literal);
        }
        prefixes.sort_unstable();
        prefixes.dedup();
        if prefixes.len() > PRINCIPAL_PREFIXES_PER_STATEMENT {
            let common = common_prefix(&prefixes);
            prefixes = vec![common];
        }
        for p in literal {
            self.by_principal
                .entry(key(p))
                .or_default()
                .insert_statement(stmt, deny, cs, &targets);
        }
        for p in prefixes {
            self.principal_prefix_lens.push(p.len());
            self.by_principal_prefix
                .entry(key(p))
                .or_default()
                .insert_statement(stmt, deny, cs, &targets);
        }
    }

    fn finish(&mut self) {
        for g in self.by_principal.values_mut() {
            g.finish();
        }
        for g in self.by_principal_prefix.values_mut() {
            g.finish();
        }
        self.principal_prefix_lens.sort_unstable();
        self.principal_prefix_lens.dedup();
    }
}

/// The longest common prefix of `items` (non-empty), cut at a char boundary.
fn common_prefix<'a>(items: &[&'a str]) -> &'a str {
    let first = items[0];
    let mut len = first.len();
    for s in &items[1..] {
        len = first
            .bytes()
            .zip(s.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    &first[..len]
}

/// The identity of a statement for duplicate elimination (module docs): effect and the
/// three lists as sorted, deduplicated sets (actions are already lowercased).
type StatementKey = (bool, Vec<Box<str>>, Vec<Box<str>>, Vec<Box<str>>);

fn statement_key(deny: bool, cs: &CompiledStatement) -> StatementKey {
    let set = |l: &[Box<str>]| {
        let mut v = l.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    };
    (
        deny,
        set(&cs.actions),
        set(&cs.resources),
        set(&cs.principals),
    )
}

impl ResourceIndex {
    fn insert_statement(
        &mut self,
        stmt: u32,
        deny: bool,
        cs: &CompiledStatement,
        targets: &ActionTargets,
    ) {
        for (ri, r) in cs.resources.iter().enumerate() {
            let resource = u32::try_from(ri).expect("fewer than 2^32 resources");
            self.insert(
                r,
                targets,
                Posting {
                    stmt,
                    resource,
                    deny,
                },
            );
        }
    }

    fn insert(&mut self, resource: &str, t: &ActionTargets, p: Posting) {
        let buckets = if is_all_stars(resource) {
            &mut self.all_resources
        } else {
            let bucket_part = resource.split('/').next().unwrap_or("");
            if !has_wildcard(bucket_part) {
                self.by_bucket.entry(key(bucket_part)).or_default()
            } else {
                let cut = resource
                    .find(['*', '?'])
                    .expect("bucket part has a wildcard");
                self.prefix_lens.push(cut);
                self.by_prefix.entry(key(&resource[..cut])).or_default()
            }
        };
        buckets.insert(t, p);
    }

    fn finish(&mut self) {
        self.prefix_lens.sort_unstable();
        self.prefix_lens.dedup();
    }
}

/// One org's policies, compiled for fast decisions. Immutable; rebuilt on every change.
pub struct CompiledPolicies {
    stmts: Vec<CompiledStatement>,
    index: Index,
    policy_count: usize,
}

impl std::fmt::Debug for CompiledPolicies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicies")
            .field("policies", &self.policy_count)
            .field("statements", &self.stmts.len())
            .finish()
    }
}

impl CompiledPolicies {
    /// Compiles one org's policies. Order matters only for naming the decider (first
    /// matching statement in slice order); pass them in the store's stable order.
    /// Works on any input, validated or not (unvalidated patterns still match exactly
    /// as [`super::evaluate_naive`] would).
    pub fn new(policies: &[AccessPolicy]) -> Self {
        let mut c = CompiledPolicies {
            stmts: Vec::new(),
            index: Index::default(),
            policy_count: policies.len(),
        };
        let mut seen: std::collections::HashSet<StatementKey> = std::collections::HashSet::new();
        for p in policies {
            let policy: Arc<str> = Arc::from(p.name.as_str());
            for s in &p.statements {
                let stmt = u32::try_from(c.stmts.len()).expect("fewer than 2^32 statements");
                let cs = CompiledStatement {
                    policy: policy.clone(),
                    name: Arc::from(s.name.as_str()),
                    actions: s
                        .actions
                        .iter()
                        .map(|a| a.to_ascii_lowercase().into_boxed_str())
                        .collect(),
                    resources: s.resources.iter().map(|r| r.as_str().into()).collect(),
                    principals: s.principals.iter().map(|r| r.as_str().into()).collect(),
                };
                // A duplicate of an earlier statement can never be the first match.
                let deny = s.effect == Effect::Deny;
                if seen.insert(statement_key(deny, &cs)) {
                    c.index.insert_statement(stmt, deny, &cs);
                }
                c.stmts.push(cs);
            }
        }
        c.index.finish();
        c
    }

    /// Number of policies compiled in.
    pub fn policy_count(&self) -> usize {
        self.policy_count
    }

    /// Number of statements compiled in.
    pub fn statement_count(&self) -> usize {
        self.stmts.len()
    }

    /// The org-layer decision (rules in `eval`'s module docs). Allocation-free.
    pub fn decide(&self, subject: &Subject<'_>, action: &str, resource: &str) -> Decision {
        // One pass over the candidates finds both; `decide_with` uses the Allow only
        // when no Deny decided.
        let [deny, allow] = self.first_matches(subject, action, resource);
        let named = |i: Option<u32>| {
            i.map(|i| {
                let s = &self.stmts[i as usize];
                (s.policy.clone(), s.name.clone())
            })
        };
        decide_with(subject, action, || named(deny), || named(allow))
    }

    /// Smallest ordinals of a matching `Deny` and of a matching `Allow` statement.
    fn first_matches(
        &self,
        subject: &Subject<'_>,
        action: &str,
        resource: &str,
    ) -> [Option<u32>; 2] {
        let index = &self.index;
        let hash = fold_hash(action);
        let ns = namespace_of(action);
        // [deny, allow]
        let mut best: [Option<u32>; 2] = [None, None];
        let mut visit = |b: &ActionBuckets| {
            let ns_list: &[Posting] = match ns {
                Some(Namespace::S3) => &b.s3,
                Some(Namespace::Cwobject) => &b.cwobject,
                None => &[],
            };
            // (Emptiness checks skip hashing for the common small-org case.)
            let exact: &[Posting] = if b.exact.is_empty() {
                &[]
            } else {
                b.exact.get(&hash).map_or(&[], Vec::as_slice)
            };
            for p in exact.iter().chain(ns_list).chain(&b.other) {
                let best = &mut best[usize::from(!p.deny)];
                if best.is_some_and(|b| p.stmt >= b) {
                    continue;
                }
                if self.posting_matches(*p, subject, action, resource) {
                    *best = Some(p.stmt);
                }
            }
        };
        let global = resource == GLOBAL_RESOURCE;
        let bucket_key = key(resource.split('/').next().unwrap_or(""));
        let mut visit_resources = |index: &ResourceIndex| {
            visit(&index.all_resources);
            if !global {
                if !index.by_bucket.is_empty()
                    && let Some(b) = index.by_bucket.get(&bucket_key)
                {
                    visit(b);
                }
                for &len in &index.prefix_lens {
                    let Some(prefix) = resource.get(..len) else {
                        if len > resource.len() {
                            break;
                        }
                        continue; // not a char boundary: no literal prefix can end here
                    };
                    if let Some(b) = index.by_prefix.get(&key(prefix)) {
                        visit(b);
                    }
                }
            }
        };
        // Anonymous subjects match only all-star principal patterns (prefix ""), never
        // literal ones.
        if subject.anonymous {
            if let Some(group) = index.by_principal_prefix.get(&key("")) {
                visit_resources(group);
            }
            return best;
        }
        if !index.by_principal.is_empty()
            && let Some(group) = index.by_principal.get(&key(subject.principal))
        {
            visit_resources(group);
        }
        let principal = subject.principal;
        for &len in &index.principal_prefix_lens {
            let Some(prefix) = principal.get(..len) else {
                if len > principal.len() {
                    break;
                }
                continue; // not a char boundary: no literal prefix can end here
            };
            if let Some(group) = index.by_principal_prefix.get(&key(prefix)) {
                visit_resources(group);
            }
        }
        best
    }

    #[inline]
    fn posting_matches(
        &self,
        p: Posting,
        subject: &Subject<'_>,
        action: &str,
        resource: &str,
    ) -> bool {
        let s = &self.stmts[p.stmt as usize];
        resource_matches(&s.resources[p.resource as usize], resource)
            && s.actions.iter().any(|a| glob_match_lowered(a, action))
            && s.principals.iter().any(|pr| principal_matches(pr, subject))
    }
}

/// The org-layer decision for an org without any policy (admins still get `cwobject:`).
pub(crate) fn decide_without_policies(subject: &Subject<'_>, action: &str) -> Decision {
    decide_with(subject, action, || None, || None)
}
