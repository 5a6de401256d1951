//! Coffer's domain: validated identifiers, stored records, the storage traits
//! (`MetaStore`, `BlobStore`, `Clock`), the org policy model and evaluator, and the
//! services that combine them. No HTTP and no database engine lives here.

pub mod acl;
pub mod audit;
pub mod blob;
pub mod budget;
pub mod cache_node;
pub mod change;
pub mod checksum;
pub mod clock;
pub mod conn;
pub mod crash;
pub mod error;
pub mod federation;
pub mod identity;
pub mod ids;
pub mod integrity;
mod key_cache;
pub mod lifecycle;
pub mod local_file;
pub mod meta;
pub mod metrics;
pub mod model;
pub mod object_lock;
pub mod objects;
pub mod policy;
pub mod policy_service;
pub mod quota;
pub mod sse;

pub use error::{Error, Result};
