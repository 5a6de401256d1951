//! The compute-node cache's request path: every request goes to the origin once, as its
//! client's (protocol: `coffer_core::cache_node`); the body of a cacheable GET comes
//! from the local copy, a fill in progress, or — when neither can serve it — the origin.
//!
//! Bodies are streamed in both directions, never buffered whole. Hop-by-hop headers
//! and any `x-coffer-cache-*` header a client sends are dropped: a client can neither
//! present a node credential through the node nor see the origin's answer headers.

use super::store::{CacheStore, Fill, FillWriter, Lookup};
use crate::guard::GuardedBody;
use bytes::Bytes;
use coffer_core::blob::ByteStream;
use coffer_core::cache_node::{
    CLIENT_HEADER, FILL_PATH, GRANT_HEADER, LENGTH_HEADER, MIN_SIZE_HEADER, NODE_HEADER,
    OBJECT_HEADER, SIZE_HEADER,
};
use coffer_core::conn::ConnInfo;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Instant;

pub type ProxyBody = UnsyncBoxBody<Bytes, io::Error>;

/// The cache's own paths (no bucket is named `-`).
pub const STATS_PATH: &str = "/-/cache/stats";
pub const METRICS_PATH: &str = "/-/metrics";
/// The liveness probe: the origin's S3 listener's path, so one probe config fits both.
pub use coffer_s3::http_service::HEALTH_PATH;

/// Largest read from a fill in progress.
const FILL_READ: u64 = 1 << 20;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus
/// `expect` (the node answers `100 Continue` itself).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
];

fn forwardable(name: &HeaderName) -> bool {
    let n = name.as_str();
    !HOP_BY_HOP.contains(&n) && !n.starts_with("x-coffer-cache-")
}

/// Counters of the cache (`/-/metrics`, `coffer cache stats`).
#[derive(Clone)]
pub struct CacheMetrics {
    pub hits: Counter,
    pub misses: Counter,
    pub joined: Counter,
    pub passthrough: Counter,
    pub bytes_local: Counter,
    pub bytes_origin: Counter,
    pub origin_seconds: Histogram,
}

impl Default for CacheMetrics {
    fn default() -> Self {
        CacheMetrics {
            hits: Counter::default(),
            misses: Counter::default(),
            joined: Counter::default(),
            passthrough: Counter::default(),
            bytes_local: Counter::default(),
            bytes_origin: Counter::default(),
            origin_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16),
            ),
        }
    }
}

impl CacheMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "coffer_cache_hits",
            "Cacheable GETs served from a complete local copy",
            self.hits.clone(),
        );
        r.register(
            "coffer_cache_misses",
            "Cacheable GETs that started a fill from the origin",
            self.misses.clone(),
        );
        r.register(
            "coffer_cache_joined",
            "Cacheable GETs served from a fill already in progress (coalesced misses)",
            self.joined.clone(),
        );
        r.register(
            "coffer_cache_passthrough",
            "Cacheable GETs served from the origin without caching (no room, disk failure)",
            self.passthrough.clone(),
        );
        r.register(
            "coffer_cache_local_bytes",
            "Body bytes of cacheable GETs sent from the local disk",
            self.bytes_local.clone(),
        );
        r.register(
            "coffer_cache_origin_bytes",
            "Body bytes of cacheable GETs sent straight from the origin",
            self.bytes_origin.clone(),
        );
        r.register(
            "coffer_cache_origin_request_seconds",
            "Time to the origin's answer head, per forwarded request",
            self.origin_seconds.clone(),
        );
    }
}

pub(super) struct Shared {
    /// The origin (scheme and authority; normalized by `url`).
    pub origin: reqwest::Url,
    pub client: reqwest::Client,
    pub credential: HeaderValue,
    pub min_size: u64,
    pub store: Arc<CacheStore>,
    pub metrics: CacheMetrics,
    pub registry: Registry,
}

/// The cache's hyper service.
#[derive(Clone)]
pub struct CacheService(pub(super) Arc<Shared>);

impl hyper::service::Service<Request<GuardedBody>> for CacheService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<GuardedBody>) -> Self::Future {
        let s = self.0.clone();
        Box::pin(async move { Ok(s.handle(req).await) })
    }
}

fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    r
}

/// An S3 error of the node itself (the origin could not be asked).
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    full(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn stream_body<S>(s: S) -> ProxyBody
where
    S: futures::Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    StreamBody::new(s.map_ok(http_body::Frame::data)).boxed_unsync()
}

impl Shared {
    async fn handle(self: Arc<Self>, req: Request<GuardedBody>) -> Response<ProxyBody> {
        let path = req.uri().path();
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            match path {
                HEALTH_PATH => return full(StatusCode::OK, "text/plain", "ok"),
                STATS_PATH => return self.stats(),
                METRICS_PATH => return self.prometheus(),
                _ => {}
            }
        }
        // Only the methods S3 uses are forwarded (never CONNECT, TRACE, …).
        if !matches!(
            *req.method(),
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::POST
                | Method::DELETE
                | Method::OPTIONS
        ) {
            return s3_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            );
        }
        let client_ip = req
            .extensions()
            .get::<ConnInfo>()
            .map(|c| c.peer.ip().to_canonical());
        let (parts, body) = req.into_parts();
        let Some(url) = parts
            .uri
            .path_and_query()
            .and_then(|pq| upstream(&self.origin, pq.as_str()))
        else {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "InvalidURI",
                "This request target cannot be forwarded unchanged.",
            );
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &parts.headers {
            if forwardable(k) {
                headers.append(k.clone(), v.clone());
            }
        }
        // HTTP/2 clients name the host in `:authority`; the origin checks the signature
        // over the host the client signed.
        if !headers.contains_key(http::header::HOST)
            && let Some(a) = parts.uri.authority()
            && let Ok(v) = HeaderValue::from_str(a.as_str())
        {
            headers.insert(http::header::HOST, v);
        }
        headers.insert(NODE_HEADER, self.credential.clone());
        if let Some(ip) = client_ip
            && let Ok(v) = HeaderValue::from_str(&ip.to_string())
        {
            headers.insert(CLIENT_HEADER, v);
        }
        let get = parts.method == Method::GET;
        if get {
            headers.insert(MIN_SIZE_HEADER, self.min_size.into());
        }
        let mut rb = self
            .client
            .request(parts.method.clone(), url)
            .headers(headers);
        if !http_body::Body::is_end_stream(&body) {
            let frames =
                BodyStream::new(body).try_filter_map(|f| async move { Ok(f.into_data().ok()) });
            rb = rb.body(reqwest::Body::wrap_stream(frames));
        }
        let t0 = Instant::now();
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "the origin could not be reached");
                return s3_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "The cache node could not reach the origin. Please try again.",
                );
            }
        };
        self.metrics
            .origin_seconds
            .observe(t0.elapsed().as_secs_f64());
        let cacheable = get
            && matches!(resp.status(), StatusCode::OK | StatusCode::PARTIAL_CONTENT)
            && resp.headers().contains_key(OBJECT_HEADER);
        if cacheable {
            return self.serve_cached(resp).await;
        }
        relay(resp)
    }

    /// A cacheable GET: the origin's head (its own cache headers removed), the body from
    /// the node.
    async fn serve_cached(self: Arc<Self>, resp: reqwest::Response) -> Response<ProxyBody> {
        let h = resp.headers();
        let parsed = (|| {
            let tag = h.get(OBJECT_HEADER)?.to_str().ok()?.to_string();
            let grant = h.get(GRANT_HEADER)?.to_str().ok()?.to_string();
            let size = header_u64(h, SIZE_HEADER)?;
            let len = header_u64(h, LENGTH_HEADER)?;
            let start: u64 = match h.get(http::header::CONTENT_RANGE) {
                Some(v) => v
                    .to_str()
                    .ok()?
                    .strip_prefix("bytes ")?
                    .split('-')
                    .next()?
                    .parse()
                    .ok()?,
                None => 0,
            };
            (start.checked_add(len).is_some_and(|end| end <= size)
                && coffer_core::cache_node::object_tag_shaped(&tag))
            .then_some((tag, grant, size, start, len))
        })();
        let Some((tag, grant, size, start, len)) = parsed else {
            tracing::error!("the origin's cache answer is malformed");
            return s3_error(
                StatusCode::BAD_GATEWAY,
                "InternalError",
                "The origin's answer could not be used. Please try again.",
            );
        };
        let mut out = Response::builder().status(resp.status());
        for (k, v) in h {
            if forwardable(k) && k != http::header::CONTENT_LENGTH {
                out = out.header(k, v);
            }
        }
        out = out.header(http::header::CONTENT_LENGTH, len);
        let src = self.clone().source(&tag, &grant, size, start, len).await;
        let cursor = Cursor {
            shared: self,
            tag,
            grant,
            pos: start,
            end: start + len,
            src,
        };
        let body = futures::stream::unfold(cursor, Cursor::next);
        out.body(stream_body(body))
            .unwrap_or_else(|_| s3_error(StatusCode::BAD_GATEWAY, "InternalError", "Bad answer."))
    }

    /// Where the bytes of a cacheable GET come from.
    async fn source(
        self: Arc<Self>,
        tag: &str,
        grant: &str,
        size: u64,
        start: u64,
        len: u64,
    ) -> Source {
        for _ in 0..2 {
            match self.store.lookup(tag) {
                Lookup::Hit(path) => {
                    match coffer_store::read_blob_file(path, tag, start, len).await {
                        Ok(s) => {
                            self.metrics.hits.inc();
                            return Source::Local(s);
                        }
                        // Damaged or gone: forgotten. Anything else (out of descriptors):
                        // kept, this read served from the origin.
                        Err(
                            e
                            @ (coffer_core::Error::Corrupted(_) | coffer_core::Error::NotFound(_)),
                        ) => {
                            tracing::warn!(error = %e, tag, "a cache entry failed to open; dropped");
                            self.store.drop_entry(tag);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, tag, "a cache entry could not be read; serving from the origin");
                            break;
                        }
                    }
                }
                Lookup::Filling(f) => {
                    self.metrics.joined.inc();
                    return Source::Fill(f);
                }
                Lookup::Miss => match self.store.begin_fill(tag, size) {
                    Ok((writer, fill)) => {
                        self.metrics.misses.inc();
                        tokio::spawn(self.clone().run_fill(writer, grant.to_string()));
                        return Source::Fill(fill);
                    }
                    Err(Some(f)) => {
                        self.metrics.joined.inc();
                        return Source::Fill(f);
                    }
                    // Committed meanwhile: look again once.
                    Err(None) if matches!(self.store.lookup(tag), Lookup::Hit(_)) => {}
                    Err(None) => break,
                },
            }
        }
        self.metrics.passthrough.inc();
        Source::Origin(None)
    }

    /// Fetches a granted version from the origin into the cache. Runs to the end even
    /// when the client that started it went away (other readers may have joined, and
    /// the next epoch wants it).
    async fn run_fill(self: Arc<Self>, mut writer: FillWriter, grant: String) {
        let result: Result<(), String> = async {
            let resp = self
                .fill_request(&grant, None)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            // The writer refuses more or fewer than the version's bytes.
            if resp.status() != StatusCode::OK {
                return Err(format!(
                    "the origin answered the fill with {}",
                    resp.status()
                ));
            }
            let mut s = resp.bytes_stream();
            while let Some(chunk) = s.next().await {
                writer
                    .write(chunk.map_err(|e| e.to_string())?)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            writer.commit().await.map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cache fill failed; its readers continue from the origin");
        }
    }

    fn fill_request(&self, grant: &str, range: Option<(u64, u64)>) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .get(format!(
                "{}{FILL_PATH}",
                self.origin.as_str().trim_end_matches('/')
            ))
            .header(NODE_HEADER, self.credential.clone())
            .header(GRANT_HEADER, grant);
        if let Some((a, b)) = range {
            rb = rb.header(http::header::RANGE, format!("bytes={a}-{b}"));
        }
        rb
    }

    fn stats(&self) -> Response<ProxyBody> {
        let (entries, used, fills) = self.store.usage();
        let c = &self.store.counters;
        let m = &self.metrics;
        let v = serde_json::json!({
            "entries": entries,
            "bytesUsed": used,
            "fillsInProgress": fills,
            "hits": m.hits.get(),
            "misses": m.misses.get(),
            "joined": m.joined.get(),
            "passthrough": m.passthrough.get(),
            "bytesFromCache": m.bytes_local.get(),
            "bytesFromOrigin": m.bytes_origin.get(),
            "evictions": c.evictions.get(),
            "fillsDone": c.fills_done.get(),
            "fillsFailed": c.fills_failed.get(),
            "entriesDropped": c.dropped_damaged.get(),
        });
        full(StatusCode::OK, "application/json", v.to_string())
    }

    fn prometheus(&self) -> Response<ProxyBody> {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            return full(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "encoding failed",
            );
        }
        full(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        )
    }
}

/// The origin URL of a request target: the origin's scheme and authority and the
/// client's path and query exactly. `None` for anything else — a target that is not an
/// absolute path (`*`, or `@host/…`, which HTTP/2 can carry and which would name
/// another host, to receive the node's credential) or one the URL parser would rewrite
/// (dot segments, backslashes), which would make the origin read another key than the
/// one the client named.
fn upstream(origin: &reqwest::Url, pq: &str) -> Option<reqwest::Url> {
    if !pq.starts_with('/') {
        return None;
    }
    let full = format!("{}{pq}", origin.as_str().trim_end_matches('/'));
    let url = reqwest::Url::parse(&full).ok()?;
    let same = url.as_str() == full
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.host_str() == origin.host_str()
        && url.port_or_known_default() == origin.port_or_known_default();
    same.then_some(url)
}

/// Any other answer, relayed as it came (hop-by-hop and cache headers removed).
fn relay(resp: reqwest::Response) -> Response<ProxyBody> {
    let mut out = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if forwardable(k) {
            out = out.header(k, v);
        }
    }
    let body = resp.bytes_stream().map_err(io::Error::other);
    out.body(stream_body(body))
        .unwrap_or_else(|_| s3_error(StatusCode::BAD_GATEWAY, "InternalError", "Bad answer."))
}

/// Where a cacheable GET's bytes are read from now.
enum Source {
    Local(ByteStream),
    Fill(Arc<Fill>),
    /// The origin's fill path with the grant, opened on first use.
    Origin(Option<ByteStream>),
}

/// The body of a cacheable GET: bytes `[pos, end)`, from its [`Source`], moving on to
/// the origin from wherever a local source fails (a damaged block, a failed fill).
struct Cursor {
    shared: Arc<Shared>,
    tag: String,
    grant: String,
    pos: u64,
    end: u64,
    src: Source,
}

impl Cursor {
    async fn next(mut self) -> Option<(io::Result<Bytes>, Self)> {
        loop {
            if self.pos >= self.end {
                return None;
            }
            match &mut self.src {
                Source::Local(s) => match s.next().await {
                    Some(Ok(b)) => {
                        self.pos += b.len() as u64;
                        self.shared.metrics.bytes_local.inc_by(b.len() as u64);
                        return Some((Ok(b), self));
                    }
                    other => {
                        if let Some(Err(e)) = other {
                            tracing::warn!(error = %e, tag = %self.tag, "a cache entry failed mid-read; dropped, continuing from the origin");
                            self.shared.store.drop_entry(&self.tag);
                        }
                        self.src = Source::Origin(None);
                    }
                },
                Source::Fill(f) => {
                    let f = f.clone();
                    match f.wait_for(self.pos).await {
                        Ok(avail) if avail > 0 => {
                            let n = avail.min(self.end - self.pos).min(FILL_READ);
                            match f.read_at(self.pos, n as usize).await {
                                Ok(b) => {
                                    self.pos += n;
                                    self.shared.metrics.bytes_local.inc_by(n);
                                    return Some((Ok(b), self));
                                }
                                Err(_) => self.src = Source::Origin(None),
                            }
                        }
                        _ => self.src = Source::Origin(None),
                    }
                }
                Source::Origin(None) => {
                    let rb = self
                        .shared
                        .fill_request(&self.grant, Some((self.pos, self.end - 1)));
                    match rb.send().await {
                        Ok(r) if r.status() == StatusCode::PARTIAL_CONTENT => {
                            self.src = Source::Origin(Some(Box::pin(
                                r.bytes_stream().map_err(io::Error::other),
                            )));
                        }
                        other => {
                            let why = match other {
                                Ok(r) => format!("the origin answered {}", r.status()),
                                Err(e) => e.to_string(),
                            };
                            self.pos = self.end;
                            return Some((Err(io::Error::other(why)), self));
                        }
                    }
                }
                Source::Origin(Some(s)) => match s.next().await {
                    Some(Ok(b)) => {
                        let b = b.slice(..(b.len() as u64).min(self.end - self.pos) as usize);
                        self.pos += b.len() as u64;
                        self.shared.metrics.bytes_origin.inc_by(b.len() as u64);
                        return Some((Ok(b), self));
                    }
                    Some(Err(e)) => {
                        self.pos = self.end;
                        return Some((Err(e), self));
                    }
                    None => {
                        self.pos = self.end;
                        return Some((
                            Err(io::Error::other("the origin's body ended early")),
                            self,
                        ));
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_absolute_paths_reach_the_origin_unchanged() {
        let base = reqwest::Url::parse("http://coffer:9000").unwrap();
        let up = |pq: &str| super::upstream(&base, pq).map(|u| u.to_string());
        assert_eq!(
            up("/b/k%20x?versionId=1&x-id=GetObject").as_deref(),
            Some("http://coffer:9000/b/k%20x?versionId=1&x-id=GetObject")
        );
        assert_eq!(up("//b/k").as_deref(), Some("http://coffer:9000//b/k"));
        for bad in [
            "@attacker.example/x",
            ".attacker.example/x",
            "*",
            "",
            "/b/../k",
            "/b/./k",
            "/b/%2e%2e/k",
            "/b\\k",
            "/b/k#frag",
        ] {
            assert_eq!(up(bad), None, "{bad:?}");
        }
        // Default ports are normalized away on both sides.
        let base = reqwest::Url::parse("https://coffer:443/").unwrap();
        assert!(super::upstream(&base, "/b/k").is_some());
    }
}
