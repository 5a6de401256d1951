//! Defences against hostile clients: the connection and request limits every listener
//! enforces, sized from one memory bound, plus the file-descriptor headroom they need.
//!
//! Memory model (an estimate the limits are derived from, not an allocator cap):
//!
//! ```text
//! RSS ≲ BASELINE
//!       + listeners × max_connections × (max_header_bytes + CONN_OVERHEAD)
//!       + max_in_flight × (2 × conn_buffer_bytes + REQUEST_WORKING_SET)
//! ```
//!
//! A connection that is not inside a request holds at most its header bytes (hyper's
//! read buffer stops growing at `max_header_bytes`, answered 431); only requests
//! holding one of the `max_in_flight` permits read bodies and stream responses, so
//! only they can grow their buffers to `conn_buffer_bytes`. `max_memory` splits what is
//! left after the baseline evenly between idle/header-reading connections and
//! in-flight requests, unless `max_connections` / `max_in_flight` are set explicitly.
//!
//! Request bodies parsed whole (XML, JSON, form fields) come out of one more bound,
//! `max_buffered_bytes` (default `max_memory / 8`), shared by both listeners
//! ([`coffer_core::budget`]): a request that would exceed it is refused with 503
//! rather than the process growing.

use std::time::Duration;

/// What the process needs before any connection (runtime, caches, SQLite page cache).
pub const BASELINE: u64 = 128 << 20;
/// Per-connection cost besides its header bytes: task, socket, hyper state.
pub const CONN_OVERHEAD: u64 = 16 << 10;
/// Per-request working set besides connection buffers (handler state, one body chunk
/// in flight to disk, response headers).
pub const REQUEST_WORKING_SET: u64 = 1 << 20;
/// The largest connection read/write buffer (bodies stream through it).
pub const MAX_CONN_BUFFER: u64 = 1 << 20;

pub fn default_max_memory() -> u64 {
    2 << 30
}
pub fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
pub fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
pub fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
pub fn default_body_min_rate() -> u64 {
    1024
}
pub fn default_max_header_bytes() -> u64 {
    32 << 10
}
pub fn default_max_headers() -> usize {
    128
}

/// Limits as configured (`None`: derived from `max_memory`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    pub max_memory: u64,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    /// Bytes per second a request body must average once it has been waited on for
    /// `body_timeout` (0: no rate check, only the stall timeout).
    pub body_min_rate: u64,
    pub max_header_bytes: u64,
    pub max_headers: usize,
    pub max_connections: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub max_buffered_bytes: Option<u64>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_memory: default_max_memory(),
            header_timeout: default_header_timeout(),
            idle_timeout: default_idle_timeout(),
            body_timeout: default_body_timeout(),
            body_min_rate: default_body_min_rate(),
            max_header_bytes: default_max_header_bytes(),
            max_headers: default_max_headers(),
            max_connections: None,
            max_in_flight: None,
            max_buffered_bytes: None,
        }
    }
}

/// The limits a server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub body_min_rate: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// Open connections per listener; further connections are refused.
    pub max_connections: usize,
    /// Requests being served at once, over both listeners.
    pub max_in_flight: usize,
    /// hyper's per-connection buffer bound.
    pub conn_buffer_bytes: usize,
    /// Request bytes parsed whole that may be held at once.
    pub max_buffered_bytes: u64,
    pub max_memory: u64,
}

/// Listeners sharing the connection budget (S3 and management).
const LISTENERS: u64 = 2;

impl LimitSettings {
    /// Checks the settings and derives the unset limits from `max_memory`.
    pub fn resolve(&self) -> anyhow::Result<Limits> {
        use anyhow::bail;
        if self.max_memory < 2 * BASELINE {
            bail!("max_memory must be at least {} MiB", (2 * BASELINE) >> 20);
        }
        if !(1024..=1 << 20).contains(&self.max_header_bytes) {
            bail!("max_header_bytes must be between 1 KiB and 1 MiB");
        }
        if !(16..=10_000).contains(&self.max_headers) {
            bail!("max_headers must be between 16 and 10000");
        }
        for (name, d) in [
            ("header_timeout", self.header_timeout),
            ("idle_timeout", self.idle_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if d.is_zero() {
                bail!("{name} must be at least 1 second");
            }
        }
        let usable = self.max_memory - BASELINE;
        // hyper needs room for a whole header block plus a read chunk (its minimum is
        // 8 KiB); small memory bounds get smaller buffers (slower large transfers).
        let conn_buffer = (self.max_memory / 2048).clamp(
            self.max_header_bytes + 8192,
            MAX_CONN_BUFFER.max(self.max_header_bytes + 8192),
        );
        let per_conn = self.max_header_bytes + CONN_OVERHEAD;
        let per_request = 2 * conn_buffer + REQUEST_WORKING_SET;
        let max_connections = self
            .max_connections
            .unwrap_or_else(|| (usable / 2 / LISTENERS / per_conn).max(16) as usize);
        let max_in_flight = self
            .max_in_flight
            .unwrap_or_else(|| (usable / 2 / per_request).clamp(4, 4096) as usize);
        if max_connections == 0 || max_in_flight == 0 {
            bail!("max_connections and max_in_flight must be at least 1");
        }
        // One 8 MiB XML document must fit, or such requests could never be served.
        let max_buffered_bytes = self.max_buffered_bytes.unwrap_or(self.max_memory / 8);
        if max_buffered_bytes < 8 << 20 {
            bail!("max_buffered_bytes must be at least 8 MiB");
        }
        Ok(Limits {
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            body_timeout: self.body_timeout,
            body_min_rate: self.body_min_rate,
            max_header_bytes: self.max_header_bytes as usize,
            max_headers: self.max_headers,
            max_connections,
            max_in_flight,
            conn_buffer_bytes: conn_buffer as usize,
            max_buffered_bytes,
            max_memory: self.max_memory,
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        LimitSettings::default()
            .resolve()
            .expect("the default limits are valid")
    }
}

/// Raises the soft open-file limit to the hard limit (each connection is a descriptor;
/// the common soft default of 1024 would refuse connections long before
/// `max_connections`). Returns the soft limit now in force.
pub fn raise_nofile_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let cur = getrlimit(Resource::Nofile);
    if cur.current != cur.maximum {
        let want = Rlimit {
            current: cur.maximum,
            maximum: cur.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, want) {
            tracing::warn!(error = %e, "could not raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Makes at least `min` descriptors available if possible: the soft limit up to the
/// hard limit, and the hard limit too where the process may raise it (root). Returns the
/// soft limit now in force. For tests and tools that open thousands of sockets.
pub fn ensure_nofile(min: u64) -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let soft = raise_nofile_limit();
    if soft.is_some_and(|s| s >= min) || soft.is_none() {
        return soft;
    }
    let hard = getrlimit(Resource::Nofile).maximum;
    let want = Rlimit {
        current: Some(min),
        maximum: Some(hard.map_or(min, |h| h.max(min))),
    };
    let _ = setrlimit(Resource::Nofile, want);
    getrlimit(Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_the_memory_bound() {
        let l = Limits::default();
        assert_eq!(l.conn_buffer_bytes, 1 << 20);
        assert!(l.max_connections >= 10_000, "{l:?}");
        let est = BASELINE
            + LISTENERS * l.max_connections as u64 * (l.max_header_bytes as u64 + CONN_OVERHEAD)
            + l.max_in_flight as u64 * (2 * l.conn_buffer_bytes as u64 + REQUEST_WORKING_SET);
        assert!(est <= l.max_memory, "{est} > {}", l.max_memory);
    }

    #[test]
    fn small_memory_shrinks_buffers_and_counts() {
        let s = LimitSettings {
            max_memory: 256 << 20,
            ..Default::default()
        };
        let l = s.resolve().unwrap();
        assert!(l.conn_buffer_bytes < 1 << 20);
        assert!(l.conn_buffer_bytes > l.max_header_bytes);
        assert!(l.max_connections < Limits::default().max_connections);
        let bad = LimitSettings {
            max_memory: 1 << 20,
            ..Default::default()
        };
        assert!(bad.resolve().is_err());
        let bad = LimitSettings {
            header_timeout: Duration::ZERO,
            ..Default::default()
        };
        assert!(bad.resolve().is_err());
    }
}
