//! Accept loop shared by both listeners: TCP_NODELAY on every socket (Nagle + delayed
//! ACK otherwise stalls small responses ~40 ms), optional TLS, `ConnInfo` in every
//! request's extensions, the hostile-client defences ([`crate::limits`],
//! [`crate::guard`]) and graceful shutdown.
//!
//! Beyond `max_connections` open connections a listener still accepts (so the backlog
//! never fills and well-behaved clients are told, not left hanging), answers
//! `503 Service Unavailable` (S3 `SlowDown`, which SDKs retry with back-off; the
//! management API's `unavailable`) without reading the request, and closes. That answer
//! costs one small write; at most [`OVERFLOW_RESPONDERS`] are under way at once, and a
//! connection beyond those (and any TLS connection, whose answer would need a handshake)
//! is closed at once.

use crate::guard::{ConnState, GuardedBody, GuardedIo, Timeouts, TrackedBody};
use crate::limits::Limits;
use coffer_core::conn::ConnInfo;
use coffer_core::metrics::{Listener, ListenerMetrics};
use coffer_core::policy::Cidr;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Connections over the limit being answered 503 at once, per listener.
pub const OVERFLOW_RESPONDERS: usize = 64;

/// The limits one listener enforces.
#[derive(Clone)]
pub struct Guard {
    /// The listener's series (load, shed load).
    pub metrics: Listener,
    /// Recognizes the listener's liveness probe, which does not wait for an in-flight
    /// permit: a saturated node is busy, not dead. It must match only requests the
    /// service answers as the probe (a constant answer, no body read).
    pub liveness: Option<Liveness>,
    pub limits: Limits,
    /// Requests being served, shared by the listeners (the memory bound's other half).
    pub in_flight: Arc<Semaphore>,
    /// The complete response sent to connections over the limit.
    pub overload_response: &'static [u8],
    /// The complete response to a request head over `max_header_bytes`.
    pub head_too_large_response: &'static [u8],
}

/// 503 for the S3 listener.
pub const S3_OVERLOAD: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 119\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Too many open connections.</Message></Error>";
/// 503 for the management listener (the API's JSON error form).
pub const API_OVERLOAD: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 49\r\n\r\n{\"code\":14,\"message\":\"too many open connections\"}";

/// S3's answer to an oversized head (400 `RequestHeaderSectionTooLarge`, as AWS).
pub const S3_HEAD_TOO_LARGE: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: 174\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>RequestHeaderSectionTooLarge</Code><Message>Your request header section exceeds the maximum allowed size.</Message></Error>";
/// The management API's answer to an oversized head (431, `invalid_argument`).
pub const API_HEAD_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 55\r\n\r\n{\"code\":3,\"message\":\"request header section too large\"}";

/// See [`Guard::liveness`].
pub type Liveness = Arc<dyn Fn(&http::Method, &http::Uri, &http::HeaderMap) -> bool + Send + Sync>;

impl Guard {
    /// Lets the requests `probe` recognizes past the in-flight bound.
    #[must_use]
    pub fn with_liveness(mut self, probe: Liveness) -> Self {
        self.liveness = Some(probe);
        self
    }

    /// The S3 listener's guard (S3 XML errors).
    pub fn s3(limits: Limits, in_flight: Arc<Semaphore>, metrics: ListenerMetrics) -> Self {
        Guard {
            metrics: metrics.listener("s3"),
            liveness: None,
            limits,
            in_flight,
            overload_response: S3_OVERLOAD,
            head_too_large_response: S3_HEAD_TOO_LARGE,
        }
    }

    /// The management listener's guard (the API's JSON errors).
    pub fn api(limits: Limits, in_flight: Arc<Semaphore>, metrics: ListenerMetrics) -> Self {
        Guard {
            metrics: metrics.listener("management"),
            liveness: None,
            limits,
            in_flight,
            overload_response: API_OVERLOAD,
            head_too_large_response: API_HEAD_TOO_LARGE,
        }
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            header: self.limits.header_timeout,
            idle: self.limits.idle_timeout,
            body: self.limits.body_timeout,
            body_min_rate: self.limits.body_min_rate,
            max_head: self.limits.max_header_bytes,
            head_too_large: self.head_too_large_response,
        }
    }
}

/// Answers a connection over the limit (see the module docs) within a second.
async fn refuse(mut stream: TcpStream, response: &'static [u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes, so the close is not a reset that
        // could destroy the answer before the client reads it.
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            let n = stream.read(&mut sink).await?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Serves `service` on `listener` until `shutdown` turns true, then lets in-flight
/// connections finish (bounded by `grace`). Returns whether they all did; when the grace
/// ran out, connections may still be serving (their tasks are not aborted).
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
    trusted_proxies: Arc<[Cidr]>,
    guard: Guard,
) -> bool
where
    S: hyper::service::Service<Request<GuardedBody>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let limits = guard.limits.clone();
    let timeouts = guard.timeouts();
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A backstop only: hyper's clock starts when it waits for a head, idle time
        // included; `GuardedIo` enforces the separate header and idle timeouts.
        .header_read_timeout(limits.header_timeout + limits.idle_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.conn_buffer_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_send_buf_size(limits.conn_buffer_bytes);
    let builder = Arc::new(builder);
    let conns = Arc::new(Semaphore::new(limits.max_connections));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_RESPONDERS));
    let secure = tls.is_some();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Ok(conn_permit) = conns.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; refusing");
            guard.metrics.refused();
            if !secure && let Ok(p) = overflow.clone().try_acquire_owned() {
                let response = guard.overload_response;
                tokio::spawn(async move {
                    refuse(stream, response).await;
                    drop(p);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let info = ConnInfo { peer, secure };
        let svc = service.clone();
        let trusted = trusted_proxies.clone();
        let state = ConnState::new();
        let conn_state = state.clone();
        let in_flight = guard.in_flight.clone();
        let liveness = guard.liveness.clone();
        let metrics = guard.metrics.clone();
        let open = guard.metrics.connection();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let info = ConnInfo {
                peer: client_addr(info.peer, req.headers(), &trusted),
                ..info
            };
            let (parts, body) = req.into_parts();
            let body = GuardedBody::new(body, timeouts);
            let body_end = body.end();
            let read = body.read();
            let mut req = Request::from_parts(parts, body);
            let http1 = req.version() <= http::Version::HTTP_11;
            req.extensions_mut().insert(info);
            req.extensions_mut().insert(read);
            let svc = svc.clone();
            let state = conn_state.clone();
            let in_flight = in_flight.clone();
            let metrics = metrics.clone();
            let probe = liveness
                .as_ref()
                .is_some_and(|p| p(req.method(), req.uri(), req.headers()));
            async move {
                // Marked active before waiting for a permit: a request queued behind
                // the in-flight bound is the server's wait, not the client's.
                let mut active = state.begin();
                if !probe {
                    let queued = metrics.queued();
                    let permit = in_flight.acquire_owned().await;
                    drop(queued);
                    if let Ok(permit) = permit {
                        active.hold(permit, metrics.in_flight());
                    }
                }
                let mut resp = svc.call(req).await?;
                // hyper closes a connection whose request body was not read to its end;
                // saying so keeps clients from pooling it (HTTP/2 streams are
                // independent and forbid the header).
                if http1 && body_end.unread() {
                    resp.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                Ok::<_, S::Error>(resp.map(|b| TrackedBody::new(b, active)))
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _conn_permit = conn_permit;
            let _open = open;
            // The guard sits above TLS: it reads the plaintext head.
            let result = match tls {
                None => {
                    let stream = GuardedIo::new(stream, state, timeouts);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        _ => return,
                    };
                    let stream = GuardedIo::new(stream, state, timeouts);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("graceful shutdown timed out; dropping open connections");
        return false;
    }
    true
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The request's client: the TCP peer, unless the peer is a trusted proxy, in which case
/// `X-Forwarded-For` is read from the right, skipping further trusted proxies, and the
/// first untrusted address is the client (entries further left were written by the
/// client itself and prove nothing). A malformed entry stops the walk at the last
/// address that could be believed. The port of a forwarded client is unknown (0).
pub fn client_addr(peer: SocketAddr, headers: &http::HeaderMap, trusted: &[Cidr]) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(canonical(ip)));
    if trusted.is_empty() || !is_trusted(peer.ip()) {
        return peer;
    }
    let mut client = peer;
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        client = SocketAddr::new(canonical(ip), 0);
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// Loads a rustls acceptor from PEM files: the certificate chain (leaf first) and the
/// first private key (PKCS#8, PKCS#1 RSA or SEC1 EC) of the key file.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use anyhow::{Context, bail};
    use rustls_pki_types::pem::{self, PemObject};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading TLS certificates from {}", cert.display()))?;
    if certs.is_empty() {
        bail!("no certificate found in {}", cert.display());
    }
    let key = match PrivateKeyDer::from_pem_file(key) {
        Err(pem::Error::NoItemsFound) => bail!("no private key found in {}", key.display()),
        other => other.with_context(|| format!("reading TLS private key {}", key.display()))?,
    };
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("building TLS configuration")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_responses_are_well_formed() {
        for r in [
            S3_OVERLOAD,
            API_OVERLOAD,
            S3_HEAD_TOO_LARGE,
            API_HEAD_TOO_LARGE,
        ] {
            let text = std::str::from_utf8(r).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, body.len(), "{head}");
        }
    }

    fn xff(v: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for x in v {
            h.append("x-forwarded-for", x.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.9:4000".parse().unwrap();
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let ip = |a: SocketAddr| a.ip().to_string();
        // No trusted proxies configured: the header is ignored.
        assert_eq!(client_addr(proxy, &xff(&["203.0.113.7"]), &[]), proxy);
        // A peer that is not a trusted proxy cannot claim another address.
        assert_eq!(
            client_addr(stranger, &xff(&["203.0.113.7"]), &trusted),
            stranger
        );
        // Trusted proxy: the rightmost untrusted entry is the client.
        assert_eq!(
            ip(client_addr(proxy, &xff(&["203.0.113.7"]), &trusted)),
            "203.0.113.7"
        );
        assert_eq!(
            ip(client_addr(
                proxy,
                &xff(&["1.1.1.1, 203.0.113.7, 10.0.0.9"]),
                &trusted
            )),
            "203.0.113.7",
            "a spoofed leftmost entry is not believed"
        );
        assert_eq!(
            ip(client_addr(
                proxy,
                &xff(&["1.1.1.1", "203.0.113.7"]),
                &trusted
            )),
            "203.0.113.7",
            "several header lines read as one list"
        );
        assert_eq!(
            ip(client_addr(
                proxy,
                &xff(&["garbage, 203.0.113.7"]),
                &trusted
            )),
            "203.0.113.7"
        );
        assert_eq!(
            ip(client_addr(proxy, &xff(&["203.0.113.7, junk"]), &trusted)),
            "10.0.0.5"
        );
        assert_eq!(
            ip(client_addr(proxy, &xff(&["::ffff:203.0.113.7"]), &trusted)),
            "203.0.113.7"
        );
        // Only proxies in the chain: the leftmost one is as far as we can see.
        assert_eq!(
            ip(client_addr(proxy, &xff(&["10.1.1.1, 10.2.2.2"]), &trusted)),
            "10.1.1.1"
        );
        assert_eq!(client_addr(proxy, &http::HeaderMap::new(), &trusted), proxy);
    }
}
