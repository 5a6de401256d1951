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
