//! The process-wide budget for request bytes held in memory (SPEC §9).
//!
//! Bodies that are parsed whole — S3 XML documents, management API JSON, the fields of
//! a form upload before its file — are read into memory. Each such read first reserves
//! its bound (the declared length, else the largest it may be) from one shared
//! [`ByteBudget`], in the name of its **owner** (the caller's org once it is known, else
//! a shared "unauthenticated" owner); when the budget is spent the request is refused at
//! once (503 `SlowDown` / `unavailable`) instead of the process growing. Bodies that
//! stream to storage (object data) are not counted: the connection buffers bound them.
//!
//! Invariants:
//! * One owner holds at most a quarter of the budget (at least [`MIN_OWNER_SHARE`]): a
//!   tenant that trickles large bodies starves only itself, never the other tenants.
//! * Bodies of at most [`SMALL_BODY`] bytes reserve nothing: they are bounded by the
//!   request slots (`max_in_flight × 16 KiB`), and the calls an admin needs to stop an
//!   abuser (revoking a key, replacing a policy) always get through.
//! * A reservation is released when its [`BudgetPermit`] is dropped, which the callers
//!   hold until the buffered bytes are gone (the response is produced).

use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reservations are counted in KiB so that a `u32` permit count covers any budget.
const UNIT: u64 = 1024;
/// Bodies this small are not counted (module docs).
pub const SMALL_BODY: u64 = 16 * 1024;
/// The least one owner may hold, whatever the budget: the largest body parsed whole
/// (an 8 MiB S3 XML document) must fit.
pub const MIN_OWNER_SHARE: u64 = 8 * 1024 * 1024;
/// The owner of bodies read before the caller is known.
pub const UNAUTHENTICATED: &str = "-unauthenticated";

/// A shared budget of buffered request bytes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    units: Arc<Semaphore>,
    total: u64,
    per_owner: u64,
    /// Bytes held per owner (entries removed at zero).
    held: Mutex<HashMap<Arc<str>, u64>>,
}

/// A reservation; released on drop.
#[derive(Debug)]
pub struct BudgetPermit {
    _held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    budget: Arc<Inner>,
    owner: Arc<str>,
    bytes: u64,
    _units: OwnedSemaphorePermit,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock();
        if let Some(h) = held.get_mut(&self.owner) {
            *h = h.saturating_sub(self.bytes);
            if *h == 0 {
                held.remove(&self.owner);
            }
        }
    }
}

impl ByteBudget {
    /// A budget of `bytes` (rounded up to whole KiB, at least one).
    pub fn new(bytes: u64) -> Self {
        let units = bytes.div_ceil(UNIT).clamp(1, u64::from(u32::MAX >> 3));
        let total = units * UNIT;
        ByteBudget {
            inner: Arc::new(Inner {
                units: Arc::new(Semaphore::new(units as usize)),
                total,
                per_owner: (total / 4).max(MIN_OWNER_SHARE),
                held: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> u64 {
        self.inner.total
    }

    /// The most one owner may hold.
    pub fn per_owner(&self) -> u64 {
        self.inner.per_owner
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> u64 {
        self.inner.units.available_permits() as u64 * UNIT
    }

    /// Reserves `bytes` (rounded up to whole KiB) for `owner` without waiting; the
    /// throttle every API answers with 503 (`Unavailable`) when the budget, or the
    /// owner's share of it, cannot cover them now. Small bodies always succeed (module
    /// docs).
    pub fn reserve(&self, owner: &str, bytes: u64) -> Result<BudgetPermit> {
        self.try_reserve(owner, bytes).ok_or_else(|| {
            Error::Unavailable(
                "too many request bodies are being read; reduce your request rate and retry".into(),
            )
        })
    }

    fn try_reserve(&self, owner: &str, bytes: u64) -> Option<BudgetPermit> {
        if bytes <= SMALL_BODY {
            return Some(BudgetPermit { _held: None });
        }
        let units = u32::try_from(bytes.div_ceil(UNIT)).ok()?;
        let bytes = u64::from(units) * UNIT;
        let mut held = self.inner.held.lock();
        let mine = held.get(owner).copied().unwrap_or(0);
        if mine + bytes > self.inner.per_owner {
            return None;
        }
        let permit = self
            .inner
            .units
            .clone()
            .try_acquire_many_owned(units)
            .ok()?;
        let owner: Arc<str> = Arc::from(owner);
        *held.entry(owner.clone()).or_insert(0) += bytes;
        Some(BudgetPermit {
            _held: Some(Held {
                budget: self.inner.clone(),
                owner,
                bytes,
                _units: permit,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn reservations_are_bounded_and_released() {
        let b = ByteBudget::new(64 * MIB);
        assert_eq!(b.per_owner(), 16 * MIB);
        let a = b.try_reserve("a", 10 * MIB).unwrap();
        // Rounded up to whole KiB: 6 MiB + 1 byte needs more than a's share has left.
        assert!(b.try_reserve("a", 6 * MIB + 1).is_none());
        let a2 = b.try_reserve("a", 6 * MIB).unwrap();
        assert!(b.try_reserve("a", SMALL_BODY + 1).is_none());
        // Small bodies are free, for everyone.
        assert!(b.try_reserve("a", SMALL_BODY).is_some());
        // Other owners are not starved by a.
        let c = b.try_reserve("c", 16 * MIB).unwrap();
        let d = b.try_reserve("d", 16 * MIB).unwrap();
        let e = b.try_reserve("e", 16 * MIB).unwrap();
        assert_eq!(b.available(), 0);
        assert!(b.try_reserve("f", SMALL_BODY + 1).is_none());
        // What callers get: the throttle every API answers with 503.
        assert!(matches!(
            b.reserve("f", SMALL_BODY + 1),
            Err(Error::Unavailable(_))
        ));
        drop((a, c));
        assert_eq!(b.available(), 26 * MIB);
        assert!(b.try_reserve("a", 10 * MIB).is_some());
        drop((a2, d, e));
        assert_eq!(b.available(), b.total());
        assert!(b.inner.held.lock().is_empty());
        assert!(b.try_reserve("a", u64::MAX).is_none());
    }

    #[test]
    fn a_small_budget_still_fits_one_large_body() {
        let b = ByteBudget::new(8 * MIB);
        assert_eq!(b.per_owner(), 8 * MIB);
        let p = b.try_reserve("a", 8 * MIB).unwrap();
        assert!(b.try_reserve("b", SMALL_BODY + 1).is_none());
        drop(p);
        assert!(b.try_reserve("b", 8 * MIB).is_some());
    }
}
