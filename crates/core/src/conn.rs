//! Facts about the connection a request arrived on, put into request extensions by the
//! listener so both APIs build the same authorization context.

use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client: the TCP peer, or, when the peer is a configured trusted proxy, the
    /// address `X-Forwarded-For` names (port 0).
    pub peer: SocketAddr,
    /// The listener terminated TLS.
    pub secure: bool,
}

/// Request body bytes read from the wire so far (request extension, shared with the
/// accept loop's body wrapper). What the metrics and the access log count as received:
/// the bytes the server actually read, never a length the client merely announced.
#[derive(Debug, Clone, Default)]
pub struct BodyRead(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl BodyRead {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The payload bytes received: what was read, or the decoded length an aws-chunked
    /// upload announced when that is smaller (its framing and signatures are not
    /// payload). Never more than was read.
    pub fn payload(&self, decoded_length: Option<u64>) -> u64 {
        let read = self.get();
        decoded_length.map_or(read, |d| d.min(read))
    }
}
