//! The process-wide budget for request bytes held in memory (SPEC §9).
//!
//! Bodies that are parsed whole — S3 XML documents, management API JSON, the fields of
//! a form upload before its file — are read into memory. Each such read first reserves
//! its bound (the declared length, else the largest it may be) from one shared
//! [`ByteBudget`]; when the budget is spent the request is refused at once (503
//! `SlowDown` / `unavailable`) instead of the process growing. Bodies that stream to
//! storage (object data) are not counted: the connection buffers bound them.
//!
//! Invariant: a reservation is released when its [`BudgetPermit`] is dropped, which the
//! callers hold until the buffered bytes are gone (the response is produced).

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reservations are counted in KiB so that a `u32` permit count covers any budget.
const UNIT: u64 = 1024;

/// A shared budget of buffered request bytes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    units: Arc<Semaphore>,
    total: u64,
}

/// A reservation; released on drop.
#[derive(Debug)]
pub struct BudgetPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl ByteBudget {
    /// A budget of `bytes` (rounded up to whole KiB, at least one).
    pub fn new(bytes: u64) -> Self {
        let units = bytes.div_ceil(UNIT).clamp(1, u64::from(u32::MAX >> 3));
        ByteBudget {
            units: Arc::new(Semaphore::new(units as usize)),
            total: units * UNIT,
        }
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> u64 {
        self.units.available_permits() as u64 * UNIT
    }

    /// Reserves `bytes` (rounded up to whole KiB) without waiting; `None` when the
    /// budget cannot cover them now. Zero bytes always succeed.
    pub fn try_reserve(&self, bytes: u64) -> Option<BudgetPermit> {
        if bytes == 0 {
            return Some(BudgetPermit { _permit: None });
        }
        let units = u32::try_from(bytes.div_ceil(UNIT)).ok()?;
        self.units
            .clone()
            .try_acquire_many_owned(units)
            .ok()
            .map(|p| BudgetPermit { _permit: Some(p) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_released() {
        let b = ByteBudget::new(10 * 1024);
        assert_eq!(b.total(), 10 * 1024);
        let a = b.try_reserve(6 * 1024).unwrap();
        // Rounded up to whole KiB: 4 KiB + 1 byte needs 5 units, only 4 are left.
        assert!(b.try_reserve(4 * 1024 + 1).is_none());
        let c = b.try_reserve(4 * 1024).unwrap();
        assert_eq!(b.available(), 0);
        assert!(b.try_reserve(1).is_none());
        assert!(b.try_reserve(0).is_some());
        drop(a);
        assert_eq!(b.available(), 6 * 1024);
        drop(c);
        assert_eq!(b.available(), b.total());
        assert!(b.try_reserve(u64::MAX).is_none());
    }
}
