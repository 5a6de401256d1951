//! The S3 access-key cache of `IdentityService`: decrypted active keys by id, bounded in
//! size, safe against stale re-inserts.
//!
//! Invariants:
//! * No stale re-insert. Every invalidation (one key, a principal, everything; local or
//!   from another node) bumps `generation` in the same critical section that removes
//!   entries. A miss notes the generation ([`KeyCache::lookup`]) *before* it reads the
//!   store and inserts only if the generation is unchanged ([`KeyCache::insert`], under
//!   the write lock). An invalidation is issued after its change committed, so a read
//!   that still saw the old state overlapped the commit: either the bump came first
//!   (nothing is inserted) or the insert did (the invalidation then removes it).
//! * Bounded: at most `capacity` entries. An insert into a full cache first drops
//!   expired entries, then the least recently used eighth of the capacity.
//! * Expired entries are never served: a hit is re-checked against the clock, and an
//!   expired hit is removed.

use crate::identity::ResolvedKey;
use crate::model::KeyStatus;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;

/// Default capacity of the key cache. An entry (key record, secret, map slot) takes
/// about half a KiB, so a full cache holds about 32 MiB; a node serving more distinct
/// keys than this keeps working, paying a store read for keys not used recently.
pub const DEFAULT_KEY_CACHE_ENTRIES: usize = 65_536;

struct Entry {
    key: Arc<ResolvedKey>,
    /// Value of `KeyCache::tick` at the last hit (or the insert): eviction order.
    used: AtomicU64,
}

pub(crate) struct KeyCache {
    map: HashMap<String, Entry>,
    /// Bumped by every invalidation (module docs).
    generation: u64,
    capacity: usize,
    /// Use counter for least-recently-used eviction; advanced on hits under the read
    /// lock, hence atomic.
    tick: AtomicU64,
}

/// Outcome of [`KeyCache::lookup`].
pub(crate) enum Lookup {
    /// A cached key; its status at the lookup's `now` is still to be checked.
    Hit(Arc<ResolvedKey>),
    /// Not cached: read the store, then insert with this generation.
    Miss { generation: u64 },
}

impl KeyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        KeyCache {
            map: HashMap::new(),
            generation: 0,
            capacity: capacity.max(1),
            tick: AtomicU64::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// A read-lock lookup.
    pub(crate) fn lookup(&self, id: &str) -> Lookup {
        match self.map.get(id) {
            Some(e) => {
                e.used
                    .store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
                Lookup::Hit(e.key.clone())
            }
            None => Lookup::Miss {
                generation: self.generation,
            },
        }
    }

    /// Caches `key` read from the store by a miss that saw `generation`, unless an
    /// invalidation happened since. Returns whether it was inserted.
    pub(crate) fn insert(
        &mut self,
        id: &str,
        key: Arc<ResolvedKey>,
        generation: u64,
        now: OffsetDateTime,
    ) -> bool {
        if generation != self.generation {
            return false;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(id) {
            self.make_room(now);
        }
        let used = AtomicU64::new(self.tick.fetch_add(1, Ordering::Relaxed));
        self.map.insert(id.to_string(), Entry { key, used });
        true
    }

    /// Removes the entry of `id` if it is still `key` (an expired hit).
    pub(crate) fn remove_if(&mut self, id: &str, key: &Arc<ResolvedKey>) {
        if self.map.get(id).is_some_and(|e| Arc::ptr_eq(&e.key, key)) {
            self.map.remove(id);
        }
    }

    pub(crate) fn invalidate_key(&mut self, id: &str) {
        self.generation += 1;
        self.map.remove(id);
    }

    pub(crate) fn invalidate_principal(&mut self, principal: &str) {
        self.generation += 1;
        self.map.retain(|_, e| e.key.key.principal != principal);
    }

    pub(crate) fn invalidate_all(&mut self) {
        self.generation += 1;
        self.map.clear();
    }

    /// Drops expired entries; if that frees nothing, the least recently used eighth of
    /// the capacity (at least one entry).
    fn make_room(&mut self, now: OffsetDateTime) {
        self.map
            .retain(|_, e| e.key.key.status(now) == KeyStatus::Active);
        if self.map.len() < self.capacity {
            return;
        }
        let mut ticks: Vec<u64> = self
            .map
            .values()
            .map(|e| e.used.load(Ordering::Relaxed))
            .collect();
        let k = (self.capacity / 8).clamp(1, ticks.len());
        let threshold = *ticks.select_nth_unstable(k - 1).1;
        // Ticks are unique per hit but a hit may race an insert's tick; spend the
        // eviction budget on ties only after every older entry is gone.
        let older = ticks.iter().filter(|&&t| t < threshold).count();
        let mut ties = k - older;
        self.map.retain(|_, e| {
            let t = e.used.load(Ordering::Relaxed);
            if t < threshold {
                false
            } else if t == threshold && ties > 0 {
                ties -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccessKey, KeySource, KeyState};
    use std::collections::BTreeMap;

    fn key(id: &str, principal: &str, expiry: Option<OffsetDateTime>) -> Arc<ResolvedKey> {
        Arc::new(ResolvedKey {
            key: AccessKey {
                access_key_id: id.to_string(),
                org_id: "org1".into(),
                principal: principal.into(),
                uid: None,
                secret_enc: Vec::new(),
                attributes: BTreeMap::new(),
                expiry,
                state: KeyState::Active,
                source: KeySource::ApiToken,
                session_token_hash: None,
                created: OffsetDateTime::UNIX_EPOCH,
            },
            secret: "s".into(),
        })
    }

    fn miss(c: &KeyCache, id: &str) -> u64 {
        match c.lookup(id) {
            Lookup::Miss { generation } => generation,
            Lookup::Hit(_) => panic!("{id} is cached"),
        }
    }

    #[test]
    fn every_invalidation_refuses_inserts_of_reads_that_started_before_it() {
        let now = OffsetDateTime::now_utc();
        let kinds: [fn(&mut KeyCache); 4] = [
            |c| c.invalidate_key("CWA"),
            |c| c.invalidate_key("CWOTHER"),
            |c| c.invalidate_principal("role/a"),
            |c| c.invalidate_all(),
        ];
        for invalidate in kinds {
            let mut c = KeyCache::new(8);
            let g = miss(&c, "CWA");
            invalidate(&mut c);
            assert!(!c.insert("CWA", key("CWA", "role/a", None), g, now));
            assert_eq!(c.len(), 0);
            let g = miss(&c, "CWA");
            assert!(c.insert("CWA", key("CWA", "role/a", None), g, now));
            assert!(matches!(c.lookup("CWA"), Lookup::Hit(_)));
        }
    }

    #[test]
    fn bounded_with_least_recently_used_eviction() {
        let now = OffsetDateTime::now_utc();
        let mut c = KeyCache::new(16);
        for i in 0..16 {
            let id = format!("CW{i:02}");
            let g = miss(&c, &id);
            c.insert(&id, key(&id, "role/a", None), g, now);
        }
        // CW00 is used again, so CW01 is now the least recently used.
        assert!(matches!(c.lookup("CW00"), Lookup::Hit(_)));
        let g = miss(&c, "CWNEW");
        c.insert("CWNEW", key("CWNEW", "role/a", None), g, now);
        assert_eq!(c.len(), 16 - 2 + 1, "an eighth of the capacity made room");
        assert!(matches!(c.lookup("CW00"), Lookup::Hit(_)));
        assert!(matches!(c.lookup("CW01"), Lookup::Miss { .. }));
        assert!(matches!(c.lookup("CW02"), Lookup::Miss { .. }));
        for i in 0..1000 {
            let id = format!("CWX{i}");
            let g = miss(&c, &id);
            c.insert(&id, key(&id, "role/a", None), g, now);
            assert!(c.len() <= 16);
        }
    }

    #[test]
    fn expired_entries_go_first() {
        let now = OffsetDateTime::now_utc();
        let past = now - time::Duration::seconds(1);
        let mut c = KeyCache::new(4);
        for (id, exp) in [
            ("CW0", None),
            ("CW1", Some(past)),
            ("CW2", None),
            ("CW3", None),
        ] {
            let g = miss(&c, id);
            c.insert(
                id,
                key(id, "role/a", exp),
                g,
                now - time::Duration::seconds(5),
            );
        }
        let g = miss(&c, "CW4");
        c.insert("CW4", key("CW4", "role/a", None), g, now);
        assert_eq!(c.len(), 4);
        assert!(matches!(c.lookup("CW1"), Lookup::Miss { .. }));
        assert!(
            matches!(c.lookup("CW0"), Lookup::Hit(_)),
            "only the expired one left"
        );
    }
}
