//! The ceiling target: an in-process null S3 endpoint that does the least work a server could do
//! (no auth, no hashing, no storage) so the same client workloads measure what this machine's
//! loopback, HTTP stack and client can sustain.
//!
//! It runs on its own tokio runtime and OS threads, whose thread ids are recorded so its CPU time
//! can be told apart from the client's.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::body::{self, BenchBody, CHUNK};
use crate::cpu::{self, CpuSource};
use crate::xml;

pub struct Sink {
    pub addr: SocketAddr,
    tids: Arc<Mutex<Vec<u32>>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sink {
    pub fn start() -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("ceiling sink: bind")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tids = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel();
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let thread_tids = tids.clone();
        let thread = std::thread::Builder::new()
            .name("bench-sink".into())
            .spawn(move || {
                record_tid(&thread_tids);
                let hook_tids = thread_tids.clone();
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("bench-sink-worker")
                    .on_thread_start(move || record_tid(&hook_tids))
                    .enable_all()
                    .build()
                    .expect("ceiling sink runtime");
                rt.block_on(serve(listener, rx));
            })
            .context("ceiling sink: spawn thread")?;
        Ok(Self {
            addr,
            tids,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn cpu_source(&self) -> CpuSource {
        CpuSource::Threads(self.tids.clone())
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Without `stop`, the thread is signalled and left to exit on its own.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn record_tid(tids: &Mutex<Vec<u32>>) {
    if let (Some(tid), Ok(mut v)) = (cpu::current_tid(), tids.lock()) {
        v.push(tid);
    }
}

#[derive(Default)]
struct State {
    /// Object sizes by key (`bucket/key`); ordered so listings are real.
    objects: Mutex<BTreeMap<String, u64>>,
    /// Bytes received so far by multipart upload id.
    uploads: Mutex<HashMap<String, u64>>,
    next_upload: AtomicU64,
    /// GET bodies repeat this buffer.
    pattern: Bytes,
}

async fn serve(listener: std::net::TcpListener, mut shutdown: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ceiling sink: {e}");
            return;
        }
    };
    let state = Arc::new(State {
        pattern: Bytes::from(vec![0x5a; CHUNK]),
        ..State::default()
    });
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        // Same reason as the server: small responses must not wait on Nagle + delayed ACK.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<BenchBody>, Infallible> {
    let method = req.method().clone();
    let path = percent_decode(req.uri().path().trim_start_matches('/'));
    let query = Query::parse(req.uri().query().unwrap_or_default());
    let q = |name: &str| query.get(name);
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b.to_owned(), k.to_owned()),
        None => (path.clone(), String::new()),
    };
    let body = req.into_body();

    if key.is_empty() {
        let _ = body::drain(body).await;
        return Ok(match method {
            Method::GET => list(&state, &bucket, &query),
            _ => empty(StatusCode::OK),
        });
    }

    let full_key = format!("{bucket}/{key}");
    Ok(match method {
        Method::PUT => {
            let n = body::drain(body).await.unwrap_or(0);
            match (q("uploadId"), q("partNumber")) {
                (Some(id), Some(_)) => {
                    let mut uploads = state.uploads.lock().expect("uploads lock");
                    match uploads.get_mut(id) {
                        Some(total) => {
                            *total += n;
                            with_etag(empty(StatusCode::OK), n)
                        }
                        None => error(StatusCode::NOT_FOUND, "NoSuchUpload"),
                    }
                }
                _ => {
                    state
                        .objects
                        .lock()
                        .expect("objects lock")
                        .insert(full_key, n);
                    with_etag(empty(StatusCode::OK), n)
                }
            }
        }
        Method::POST => {
            let doc = body::collect(body, 16 << 20).await.unwrap_or_default();
            if q("uploads").is_some() {
                let id = format!("sink-{}", state.next_upload.fetch_add(1, Ordering::Relaxed));
                state
                    .uploads
                    .lock()
                    .expect("uploads lock")
                    .insert(id.clone(), 0);
                xml_response(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult \
                     xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket>\
                     <Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
                    xml::escape(&bucket),
                    xml::escape(&key)
                ))
            } else if let Some(id) = q("uploadId") {
                let size = state.uploads.lock().expect("uploads lock").remove(id);
                match size {
                    Some(size) => {
                        let parts = xml::count(&String::from_utf8_lossy(&doc), "Part");
                        state
                            .objects
                            .lock()
                            .expect("objects lock")
                            .insert(full_key, size);
                        xml_response(format!(
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                             <CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                             <Bucket>{b}</Bucket><Key>{k}</Key><ETag>\"{size:032x}-{parts}\"</ETag>\
                             </CompleteMultipartUploadResult>",
                            b = xml::escape(&bucket),
                            k = xml::escape(&key)
                        ))
                    }
                    None => error(StatusCode::NOT_FOUND, "NoSuchUpload"),
                }
            } else {
                error(StatusCode::NOT_IMPLEMENTED, "NotImplemented")
            }
        }
        Method::GET | Method::HEAD => {
            let _ = body::drain(body).await;
            let size = state
                .objects
                .lock()
                .expect("objects lock")
                .get(&full_key)
                .copied();
            match size {
                Some(size) if method == Method::GET => {
                    let mut resp = Response::new(BenchBody::Repeat {
                        pattern: state.pattern.clone(),
                        remaining: size,
                    });
                    resp.headers_mut().insert(CONTENT_LENGTH, size.into());
                    with_etag(resp, size)
                }
                Some(size) => {
                    let mut resp = empty(StatusCode::OK);
                    resp.headers_mut().insert(CONTENT_LENGTH, size.into());
                    with_etag(resp, size)
                }
                None => error(StatusCode::NOT_FOUND, "NoSuchKey"),
            }
        }
        Method::DELETE => {
            let _ = body::drain(body).await;
            if let Some(id) = q("uploadId") {
                state.uploads.lock().expect("uploads lock").remove(id);
            } else {
                state
                    .objects
                    .lock()
                    .expect("objects lock")
                    .remove(&full_key);
            }
            empty(StatusCode::NO_CONTENT)
        }
        _ => error(StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
    })
}

/// ListObjectsV2 over the stored keys; the continuation token is the last key returned.
fn list(state: &State, bucket: &str, query: &Query) -> Response<BenchBody> {
    let q = |name: &str| query.get(name);
    let prefix = q("prefix").unwrap_or_default();
    let max_keys = q("max-keys")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(1000);
    let bucket_prefix = format!("{bucket}/");
    let full_prefix = format!("{bucket_prefix}{prefix}");
    let start = match q("continuation-token").or(q("start-after")) {
        Some(after) => Bound::Excluded(format!("{bucket_prefix}{after}")),
        None => Bound::Included(full_prefix.clone()),
    };
    let mut entries: Vec<(String, u64)> = Vec::with_capacity(max_keys.min(1024) + 1);
    {
        let objects = state.objects.lock().expect("objects lock");
        for (k, &size) in objects.range((start, Bound::Unbounded)) {
            if !k.starts_with(&full_prefix) || entries.len() > max_keys {
                break;
            }
            entries.push((k[bucket_prefix.len()..].to_owned(), size));
        }
    }
    let truncated = entries.len() > max_keys;
    entries.truncate(max_keys);
    let mut doc = String::with_capacity(256 + entries.len() * 200);
    doc.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix>\
         <KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        xml::escape(bucket),
        xml::escape(prefix),
        entries.len()
    ));
    if truncated && let Some((last, _)) = entries.last() {
        doc.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            xml::escape(last)
        ));
    }
    for (k, size) in &entries {
        doc.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>\
             <ETag>\"{size:032x}\"</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            xml::escape(k)
        ));
    }
    doc.push_str("</ListBucketResult>");
    xml_response(doc)
}

fn empty(status: StatusCode) -> Response<BenchBody> {
    let mut resp = Response::new(BenchBody::empty());
    *resp.status_mut() = status;
    resp
}

/// A plausible quoted 32-hex-digit ETag; no hashing, by design.
fn with_etag(mut resp: Response<BenchBody>, n: u64) -> Response<BenchBody> {
    if let Ok(v) = format!("\"{n:032x}\"").parse() {
        resp.headers_mut().insert(ETAG, v);
    }
    resp
}

fn xml_response(doc: String) -> Response<BenchBody> {
    let mut resp = Response::new(BenchBody::full(doc));
    resp.headers_mut()
        .insert(CONTENT_TYPE, "application/xml".parse().expect("static"));
    resp
}

fn error(status: StatusCode, code: &str) -> Response<BenchBody> {
    let mut resp = xml_response(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>ceiling sink: {code}</Message></Error>"
    ));
    *resp.status_mut() = status;
    resp
}

/// Decoded query parameters in request order.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Self {
        Self(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                if let (Some(hi), Some(lo)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("list-5%2F"), "list-5/");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%C3%A9+x"), "é x");
        let q = Query::parse("uploads=&partNumber=3&uploadId=sink-1");
        assert_eq!(q.get("uploads"), Some(""));
        assert_eq!(q.get("uploadId"), Some("sink-1"));
        assert_eq!(q.get("missing"), None);
    }
}
