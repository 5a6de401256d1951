//! Named crash points for fault-injection tests (the crash matrix,
//! `crates/coffer/tests/it/crash_matrix.rs`).
//!
//! Each point is a call `crash::point("name")` compiled into the real code path, at a
//! place where a power cut or `kill -9` could interrupt a durable sequence. A test arms
//! one point for one process with the environment variable `COFFER_CRASH_AT=<name>` or
//! `<name>:<nth>`: the `nth` time (default 1) that point is reached, the process aborts
//! on the spot (`std::process::abort`: no destructors, no buffered writes flushed, no
//! reply sent), which is what a crash looks like to the files on disk.
//!
//! Invariants:
//! * Unarmed (the variable unset or empty) a point costs one atomic load of an
//!   initialized `OnceLock` and a branch; the variable is read once per process.
//! * Only names in [`POINTS`] can be armed; [`check_env`] refuses anything else at
//!   start-up, so a typo in a test cannot silently arm nothing.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms a crash point.
pub const ENV: &str = "COFFER_CRASH_AT";

/// Every crash point compiled into the code, in the order a write passes them.
pub const POINTS: &[&str] = &[
    // FsBlobStore commit: data written, not yet fsynced.
    "blob.before_fsync",
    // Data fsynced, temp file not yet renamed into place.
    "blob.after_fsync",
    // Renamed and directory fsynced: a durable blob no metadata references yet.
    "blob.after_rename",
    // SQLite writer: a batch's statements ran, COMMIT not issued.
    "sqlite.before_commit",
    // COMMIT returned (durable), no caller answered yet.
    "sqlite.after_commit",
    // PostgreSQL: a transaction's statements ran (`tx!`), COMMIT not issued.
    "postgres.before_commit",
    // COMMIT returned, no caller answered yet.
    "postgres.after_commit",
    // Multipart complete: parts validated, completion not yet committed.
    "multipart.before_commit",
    // Completion committed, unused part blobs not yet deleted, client not answered.
    "multipart.after_commit",
    // Audit flush: the plan's objects are written, the journal commit not yet done.
    "audit.flush.before_commit",
    // Journal committed, delivered spool segments not yet deleted.
    "audit.flush.after_commit",
    // Policy update stored, the in-memory index not yet republished, no reply sent.
    "policy.after_store",
    // Compute-node cache: a fill's first batch is written to its temp file.
    "cache.fill.mid",
];

struct Armed {
    point: String,
    nth: u64,
    hits: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

fn parse(spec: &str) -> Result<Option<Armed>, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(None);
    }
    let (name, nth) = match spec.split_once(':') {
        Some((n, k)) => (
            n,
            k.parse::<u64>()
                .ok()
                .filter(|k| *k > 0)
                .ok_or_else(|| format!("{ENV}={spec}: the count after ':' must be ≥ 1"))?,
        ),
        None => (spec, 1),
    };
    if !POINTS.contains(&name) {
        return Err(format!(
            "{ENV}={spec}: unknown crash point (known: {})",
            POINTS.join(", ")
        ));
    }
    Ok(Some(Armed {
        point: name.to_string(),
        nth,
        hits: AtomicU64::new(0),
    }))
}

fn armed() -> Option<&'static Armed> {
    ARMED
        .get_or_init(|| parse(&std::env::var(ENV).unwrap_or_default()).unwrap_or(None))
        .as_ref()
}

/// Validates `COFFER_CRASH_AT` and returns the armed point's name, if any. Called once
/// at server start so a bad value stops the server instead of arming nothing.
pub fn check_env() -> Result<Option<String>, String> {
    let parsed = parse(&std::env::var(ENV).unwrap_or_default())?;
    let a = ARMED.get_or_init(|| parsed).as_ref();
    Ok(a.map(|a| format!("{}:{}", a.point, a.nth)))
}

/// A crash point: aborts the process if `name` is armed and this is its `nth` hit.
#[inline]
pub fn point(name: &'static str) {
    if let Some(a) = armed() {
        hit(a, name);
    }
}

#[cold]
fn hit(a: &Armed, name: &str) {
    if a.point == name && a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.nth {
        eprintln!("coffer: crash point {name} reached ({ENV}); aborting");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_counts() {
        assert!(parse("").unwrap().is_none());
        let a = parse("blob.after_fsync").unwrap().unwrap();
        assert_eq!((a.point.as_str(), a.nth), ("blob.after_fsync", 1));
        let a = parse("sqlite.after_commit:7").unwrap().unwrap();
        assert_eq!((a.point.as_str(), a.nth), ("sqlite.after_commit", 7));
        assert!(parse("blob.nope").is_err());
        assert!(parse("blob.after_fsync:0").is_err());
        assert!(parse("blob.after_fsync:x").is_err());
    }

    #[test]
    fn unarmed_points_do_nothing() {
        // The test process never sets the variable: every point is a no-op.
        for p in POINTS {
            point(p);
        }
    }
}
