//! Storage backends behind coffer-core's traits: `SqliteMetaStore` (embedded metadata,
//! writer thread with group commit + read-only connection pool), `PgMetaStore`
//! (PostgreSQL, shared by several nodes, with its change feed), `MemMetaStore`
//! (in-memory, for tests) and `FsBlobStore` (blob files under a data directory).
//!
//! With the `testing` feature (tests only): the backend-agnostic `conformance` suite
//! every `MetaStore` must pass, split by aggregate.
//!
//! Invariant shared by every backend: each `MetaStore` method is one atomic transaction,
//! and the rules it documents (existence, write conditions, capacity caps, usage
//! counters) are evaluated inside that transaction. The rules themselves live once, in
//! `semantics`, so backends cannot drift apart.

mod buckets;
#[cfg(feature = "testing")]
pub mod conformance;
mod fs_blob;
mod identities;
mod listings;
mod mem;
mod multipart;
mod objects;
pub mod postgres;
mod rows;
mod semantics;
mod sqlite;

pub use fs_blob::FsBlobStore;
pub use mem::MemMetaStore;
pub use postgres::{PgChangeFeed, PgMetaStore};
pub use sqlite::SqliteMetaStore;
