//! Storage backends behind coffer-core's traits: the metadata store `Meta` (every
//! `MetaStore` operation written once, `meta`) on an engine (`engine::Engine`):
//! `SqliteMetaStore` (embedded; writer thread with group commit + read-only connection
//! pool) or `PgMetaStore` (PostgreSQL, shared by several nodes, with its change feed);
//! and `FsBlobStore` (blob files under a data directory).
//!
//! With the `testing` feature (tests only): the backend-agnostic `conformance` suite
//! every `MetaStore` must pass, split by aggregate, and `testing` (a SQLite store in a
//! temporary directory, a counting and fault-injecting `MetaStore` wrapper). Tests use
//! the real engines; there is no in-memory `MetaStore` whose rules could drift from them.
//!
//! Invariant shared by every backend: each `MetaStore` method is one atomic transaction,
//! and the rules it documents (existence, write conditions, capacity caps, usage
//! counters) are evaluated inside that transaction. The rules live once (`meta`, the
//! rule modules `objects`, `multipart`, `buckets`, `identities`, `listings`, and the
//! checks in `semantics`); an engine supplies connections, transactions and SQL only,
//! so backends cannot drift apart.

mod buckets;
#[cfg(feature = "testing")]
pub mod conformance;
mod engine;
mod fs_blob;
mod identities;
mod listings;
mod meta;
mod multipart;
mod objects;
pub mod postgres;
mod rows;
mod semantics;
mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use fs_blob::{FsBlobStore, read_file as read_blob_file};
pub use meta::Meta;
pub use postgres::{PgChangeFeed, PgMetaStore};
pub use sqlite::{Sqlite, SqliteMetaStore};
