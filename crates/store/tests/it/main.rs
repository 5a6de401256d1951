//! coffer-store's integration tests, one test binary with a module per suite: the
//! conformance suite over every `MetaStore` engine, SQLite specifics, the filesystem
//! blob store, shared blob directories, and the PostgreSQL change feed.

mod conformance;
mod fs_blob;
mod pg_change_feed;
mod shared_blobs;
mod sqlite;
