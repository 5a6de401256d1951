//! The origin side of compute-node caches (protocol: [`coffer_core::cache_node`]).
//!
//! [`CacheOrigin::arrive`] looks at every request before anything else does: a request
//! without [`NODE_HEADER`] is untouched; one with it is refused unless the credential
//! belongs to a registered node. A node's request then either is a fill
//! ([`FILL_PATH`], served here: the grant is checked, the granted version streamed) or
//! runs the whole S3 pipeline as its client's own request, carrying a [`CacheCall`]
//! (GetObject answers cacheable versions with their head and a grant,
//! [`CacheCall::answer_head`]) and the client's address as the connection's peer.
//!
//! Who can send what: without a valid credential, nothing here changes a request's
//! meaning (it is refused). With one, the node can (a) claim a client address, which
//! policies' `aws:SourceIp` and audit events then see — the node is trusted like a
//! configured proxy; (b) have its clients' requests answered head-only with a grant; (c)
//! read versions it holds an unexpired grant for. It cannot make a request its client
//! did not sign, nor read a version no client of it was allowed to read.

use coffer_core::cache_node::{
    CLIENT_HEADER, FILL_PATH, GRANT_HEADER, GRANT_TTL_SECS, Grant, GrantKey, LENGTH_HEADER,
    MAX_GRANT_LEN, MIN_CACHEABLE, MIN_SIZE_HEADER, NODE_HEADER, OBJECT_HEADER, SIZE_HEADER,
};
use coffer_core::conn::ConnInfo;
use coffer_core::identity::IdentityService;
use coffer_core::model::{CacheNode, NULL_VERSION, ObjectRecord};
use coffer_core::objects::{GetObjectInput, ObjectService, ReadConditions};
use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::{Body, HttpRequest, HttpResponse, S3Error, S3ErrorCode};
use std::sync::Arc;

/// Serves the origin side (see the module docs).
pub struct CacheOrigin {
    identity: Arc<IdentityService>,
    objects: Arc<ObjectService>,
    grants: GrantKey,
}

/// Request extension: the request came through a registered node.
#[derive(Debug, Clone)]
pub struct CacheCall {
    pub node_id: String,
    pub node_name: String,
    /// Versions smaller than this are answered with their body.
    pub min_size: u64,
    grants: GrantKey,
}

/// What [`CacheOrigin::arrive`] made of a request.
pub enum Arrival {
    /// No node involved.
    Direct,
    /// A node's client's request, to serve as the client's ([`CacheCall`] attached).
    Through(String),
    /// A node's fill: the answer.
    Filled(HttpResponse),
    /// Claimed to come from a node and did not: refuse it (as a request extension, so
    /// that the refusal is answered and audited like the gates' refusals).
    Refused(Refusal),
}

/// Why a request that named a node was refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    code: S3ErrorCode,
    message: &'static str,
}

impl Refusal {
    pub fn to_s3_error(&self) -> S3Error {
        S3Error::with_message(self.code.clone(), self.message)
    }
}

fn denied(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, message)
}

fn refused(message: &'static str) -> Arrival {
    Arrival::Refused(Refusal {
        code: S3ErrorCode::AccessDenied,
        message,
    })
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl CacheOrigin {
    pub fn new(
        identity: Arc<IdentityService>,
        objects: Arc<ObjectService>,
        grants: GrantKey,
    ) -> Self {
        CacheOrigin {
            identity,
            objects,
            grants,
        }
    }

    /// Recognizes node requests (module docs). `origin` is `None` on a service built
    /// without node support: node requests are then refused, never served as plain ones.
    pub async fn arrive(origin: Option<&Self>, req: &mut HttpRequest) -> Arrival {
        if !req.headers().contains_key(NODE_HEADER) {
            return Arrival::Direct;
        }
        let credential = header(req.headers(), NODE_HEADER)
            .unwrap_or_default()
            .to_string();
        // Canonical first: `::ffff:127.0.0.1` is loopback too.
        let client = header(req.headers(), CLIENT_HEADER)
            .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
            .map(|ip| ip.to_canonical());
        let min_size = header(req.headers(), MIN_SIZE_HEADER)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
            .max(MIN_CACHEABLE);
        for h in [NODE_HEADER, CLIENT_HEADER, MIN_SIZE_HEADER] {
            req.headers_mut().remove(h);
        }
        let Some(origin) = origin else {
            return refused("This server does not serve cache nodes.");
        };
        let node = match origin.identity.authenticate_cache_node(&credential).await {
            Ok(n) => n,
            Err(coffer_core::Error::Unauthenticated(_)) => {
                return refused("Invalid cache node credential.");
            }
            Err(e) => {
                tracing::error!(error = %e, "looking up a cache node credential failed");
                return Arrival::Refused(Refusal {
                    code: S3ErrorCode::InternalError,
                    message: "We encountered an internal error. Please try again.",
                });
            }
        };
        if req.uri().path() == FILL_PATH {
            return Arrival::Filled(origin.fill(&node, req).await);
        }
        req.headers_mut().remove(GRANT_HEADER);
        if let Some(conn) = req.extensions_mut().get_mut::<ConnInfo>() {
            // The client reached the node over plain HTTP (a node has no TLS listener),
            // whatever the node-to-origin link is: `aws:SecureTransport` is false.
            conn.secure = false;
            // The client's address as the node reports it. A loopback or unspecified
            // claim means "on the node's host": the node's own address stands, so a
            // policy meant for the origin's host never admits a node's local clients.
            if let Some(ip) = client.filter(|ip| !ip.is_loopback() && !ip.is_unspecified()) {
                conn.peer = std::net::SocketAddr::new(ip, 0);
            }
        }
        let name = node.name.clone();
        req.extensions_mut().insert(CacheCall {
            node_id: node.node_id,
            node_name: node.name,
            min_size,
            grants: origin.grants.clone(),
        });
        Arrival::Through(name)
    }

    /// `GET FILL_PATH` with a grant (and optionally `Range`): the granted version's
    /// bytes, or 403 (bad grant), 404 (the version is gone or no longer the one
    /// granted), 416 (bad range).
    async fn fill(&self, node: &CacheNode, req: &HttpRequest) -> HttpResponse {
        if req.method() != http::Method::GET {
            return error(denied("Fills are GET requests."));
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let grant = match header(req.headers(), GRANT_HEADER)
            .ok_or(())
            .and_then(|t| self.grants.verify(t, &node.node_id, now).map_err(|_| ()))
        {
            Ok(g) => g,
            Err(()) => return error(denied("Invalid or expired cache fill grant.")),
        };
        let range = match header(req.headers(), "range").map(s3s::dto::Range::parse) {
            None => None,
            Some(Ok(r)) => Some(crate::wire::byte_range(r)),
            Some(Err(_)) => return error(S3Error::new(S3ErrorCode::InvalidRange)),
        };
        let input = GetObjectInput {
            bucket: grant.bucket.clone(),
            key: grant.key.clone(),
            range,
            part_number: None,
            conditions: ReadConditions {
                cache_tag: Some(grant.tag.clone()),
                ..ReadConditions::default()
            },
            sse_key: None,
        };
        let version = grant.version.as_deref().unwrap_or(NULL_VERSION);
        let out = match self.objects.get_object_version(input, version, true).await {
            Ok(o) => o,
            Err(
                coffer_core::Error::PreconditionFailed
                | coffer_core::Error::NoSuchKey
                | coffer_core::Error::NoSuchVersion
                | coffer_core::Error::NoSuchBucket,
            ) => {
                return error(S3Error::with_message(
                    S3ErrorCode::NoSuchKey,
                    "The granted version is no longer stored.",
                ));
            }
            Err(coffer_core::Error::DeleteMarker { .. }) => {
                return error(S3Error::new(S3ErrorCode::NoSuchKey));
            }
            Err(coffer_core::Error::InvalidRange) => {
                return error(S3Error::new(S3ErrorCode::InvalidRange));
            }
            Err(e) => {
                tracing::error!(error = %e, bucket = %grant.bucket, "cache fill failed");
                return error(S3Error::new(S3ErrorCode::InternalError));
            }
        };
        let Some(body) = out.body else {
            return error(S3Error::new(S3ErrorCode::InternalError));
        };
        let mut resp =
            HttpResponse::new(Body::from(crate::body::response(body, out.content_length)));
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_LENGTH, out.content_length.into());
        // One URL serves every granted version: no cache between node and origin may
        // keep an answer.
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        h.insert(SIZE_HEADER, out.record.size.into());
        if let Some((s, e)) = out.range {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{}", out.record.size)) {
                resp.headers_mut().insert(http::header::CONTENT_RANGE, v);
            }
        }
        resp
    }
}

fn error(e: S3Error) -> HttpResponse {
    e.to_http_response()
        .unwrap_or_else(|_| HttpResponse::new(Body::empty()))
}

impl CacheCall {
    /// The extra headers of a GetObject answer that the node serves itself: `Some` when
    /// the version is cacheable (stored in blobs, at least `min_size` bytes, a body to
    /// send), with its tag, size, the length of the client's body and a grant for this
    /// node and version. `None`: answer with the body, as to any client.
    pub fn answer_head(&self, rec: &ObjectRecord, content_length: u64) -> Option<HeaderMap> {
        if rec.size < self.min_size || content_length == 0 {
            return None;
        }
        let tag = coffer_core::cache_node::object_tag(rec)?;
        let tag = tag.as_str();
        let grant = self.grants.sign(&Grant {
            node: self.node_id.clone(),
            bucket: rec.bucket.clone(),
            key: rec.key.clone(),
            version: rec.version_id.clone(),
            tag: tag.to_string(),
            expires: time::OffsetDateTime::now_utc().unix_timestamp() + GRANT_TTL_SECS,
        });
        if grant.len() > MAX_GRANT_LEN {
            return None;
        }
        let mut h = HeaderMap::new();
        h.insert(OBJECT_HEADER, HeaderValue::from_str(tag).ok()?);
        h.insert(SIZE_HEADER, rec.size.into());
        h.insert(LENGTH_HEADER, content_length.into());
        h.insert(GRANT_HEADER, HeaderValue::from_str(&grant).ok()?);
        Some(h)
    }
}
