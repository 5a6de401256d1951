//! Accept loop shared by both listeners: TCP_NODELAY on every socket (Nagle + delayed
//! ACK otherwise stalls small responses ~40 ms), optional TLS, `ConnInfo` in every
//! request's extensions, header-read timeout, and graceful shutdown.

use coffer_core::conn::ConnInfo;
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
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

type BoxError = Box<dyn StdError + Send + Sync>;

/// How long a client may take to send request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `service` on `listener` until `shutdown` turns true, then lets in-flight
/// connections finish (bounded by `grace`).
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
    trusted_proxies: Arc<[Cidr]>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
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
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(1024 * 1024);
    let builder = Arc::new(builder);
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
        let _ = stream.set_nodelay(true);
        let info = ConnInfo { peer, secure };
        let svc = service.clone();
        let trusted = trusted_proxies.clone();
        let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let info = ConnInfo {
                peer: client_addr(info.peer, req.headers(), &trusted),
                ..info
            };
            req.extensions_mut().insert(info);
            svc.call(req)
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            _ => return,
                        };
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
    }
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

/// Loads a rustls acceptor from PEM files.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context;
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("opening {}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .context("reading TLS certificates")?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("opening {}", key.display()))?,
    ))
    .context("reading TLS private key")?
    .context("no private key found in the TLS key file")?;
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
