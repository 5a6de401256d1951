//! `coffer server`: configuration, the composition root (`app`, the only place that
//! names concrete stores), the listeners, the audit spool and flusher (`audit`),
//! owner-only data files (`private_fs`), and a test harness (`testing`, feature `testing`) that starts a real server on
//! 127.0.0.1:0.

pub mod app;
pub mod audit;
pub mod cache;
pub mod config;
pub mod console;
pub mod guard;
pub mod limits;
pub mod metrics;
pub mod private_fs;
pub mod scrub;
pub mod serve;
#[cfg(feature = "testing")]
pub mod testing;

pub use app::{Running, start};
pub use config::{Config, ServerArgs};
