//! Request bodies: s3s `StreamingBlob` → the object service's `ByteStream`, and how much
//! of a body s3s reads into memory ([`buffered_bound`], reserved from the byte budget by
//! the access check).
//!
//! s3s verifies `aws-chunked` chunk signatures and signed-payload SHA-256 while the body
//! is read, and reports a failure as an opaque error inside the stream (which would
//! surface as a 500). This adapter classifies those errors into a [`BodyFault`] that the
//! handler turns into the right S3 error (`SignatureDoesNotMatch` 403,
//! `XAmzContentSHA256Mismatch` 400, `IncompleteBody` 400) instead of whatever the object
//! service made of the I/O error.
//!
//! Invariant: the last data chunk is released only after the inner stream has ended
//! cleanly (final chunk signature, trailer signature and payload hash verified). A
//! consumer that stops reading as soon as it has `Content-Length` bytes therefore still
//! sees every verification failure before it can commit anything.

use bytes::Bytes;
use coffer_core::blob::ByteStream;
use futures::Stream;
use http::StatusCode;
use s3s::dto::StreamingBlob;
use s3s::{S3ErrorCode, StdError};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Why a request body stream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// An aws-chunked chunk or trailer signature did not verify.
    ChunkSignature,
    /// The body's SHA-256 differs from the signed `x-amz-content-sha256`.
    PayloadSha256,
    /// The aws-chunked framing is malformed.
    Malformed,
    /// The body ended early, was longer than declared, or the connection failed.
    Incomplete,
}

impl BodyFault {
    pub fn classify(err: &(dyn std::error::Error + 'static)) -> Self {
        // The s3s error types are private; their Display strings are stable names
        // (`AwsChunkedStreamError: SignatureMismatch`, `UploadStreamError: …`).
        let mut text = String::new();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = cur {
            text.push_str(&e.to_string());
            text.push('|');
            cur = e.source();
        }
        if text.contains("SignatureMismatch") {
            BodyFault::ChunkSignature
        } else if text.contains("Sha256Mismatch") {
            BodyFault::PayloadSha256
        } else if text.contains("FormatError")
            || text.contains("ChunkMetaTooLarge")
            || text.contains("TrailersTooLarge")
            || text.contains("TooManyTrailerHeaders")
        {
            BodyFault::Malformed
        } else {
            BodyFault::Incomplete
        }
    }

    /// The S3 code, status and message to answer with.
    pub fn s3_code(self) -> (S3ErrorCode, StatusCode, &'static str) {
        match self {
            BodyFault::ChunkSignature => (
                S3ErrorCode::SignatureDoesNotMatch,
                StatusCode::FORBIDDEN,
                crate::errors::SIGNATURE_MISMATCH_MESSAGE,
            ),
            BodyFault::PayloadSha256 => (
                // Not in s3s 0.14's code list.
                S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
                StatusCode::BAD_REQUEST,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ),
            BodyFault::Malformed => (
                S3ErrorCode::InvalidRequest,
                StatusCode::BAD_REQUEST,
                "The aws-chunked request body is malformed.",
            ),
            BodyFault::Incomplete => (
                S3ErrorCode::IncompleteBody,
                StatusCode::BAD_REQUEST,
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            ),
        }
    }
}

/// Where the adapter records the first body failure.
#[derive(Debug, Clone, Default)]
pub struct FaultCell(Arc<Mutex<Option<BodyFault>>>);

impl FaultCell {
    pub fn get(&self) -> Option<BodyFault> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, f: BodyFault) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(f);
        }
    }
}

type Inner = Pin<Box<dyn Stream<Item = Result<Bytes, StdError>> + Send + 'static>>;

struct Adapter {
    inner: Inner,
    held: Option<Bytes>,
    ended: bool,
    failed: bool,
    fault: FaultCell,
}

impl Stream for Adapter {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.failed {
                return Poll::Ready(None);
            }
            if this.ended {
                return Poll::Ready(this.held.take().map(Ok));
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    if b.is_empty() {
                        continue;
                    }
                    if let Some(prev) = this.held.replace(b) {
                        return Poll::Ready(Some(Ok(prev)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let f = BodyFault::classify(e.as_ref());
                    this.fault.set(f);
                    this.failed = true;
                    this.held = None;
                    let kind = match f {
                        BodyFault::Incomplete => std::io::ErrorKind::UnexpectedEof,
                        _ => std::io::ErrorKind::InvalidData,
                    };
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        kind,
                        format!("request body rejected: {f:?}"),
                    ))));
                }
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Adapts a request body; an absent body is empty.
pub fn adapt(blob: Option<StreamingBlob>) -> (ByteStream, FaultCell) {
    let fault = FaultCell::default();
    let inner: Inner = match blob {
        Some(b) => Box::pin(b),
        None => Box::pin(futures::stream::empty()),
    };
    let s = Adapter {
        inner,
        held: None,
        ended: false,
        failed: false,
        fault: fault.clone(),
    };
    (Box::pin(s), fault)
}

/// The largest XML request body s3s reads (DeleteObjects with 1,000 keys of 1 KiB,
/// CompleteMultipartUpload with 10,000 parts and checksums fit with room to spare).
pub const MAX_XML_BODY: usize = 8 * 1024 * 1024;

/// The most s3s reads of a request's body into memory before its handler runs: nothing
/// for requests whose bodies stream (object data) or that have none, the declared length
/// (at most [`MAX_XML_BODY`]) for the documents it parses whole. `object`: the path
/// names a key.
pub fn buffered_bound(
    method: &http::Method,
    object: bool,
    query: Option<&str>,
    headers: &http::HeaderMap,
) -> u64 {
    /// Object subresources whose PUT carries an XML document.
    const XML_OBJECT_PUTS: &[&str] = &["tagging", "acl", "retention", "legal-hold"];
    let buffered = match *method {
        // Object PUTs otherwise stream (PutObject, UploadPart) or carry no body
        // (CopyObject, UploadPartCopy, RenameObject); bucket PUTs are documents.
        http::Method::PUT if object => query
            .map(crate::request_line::query_pairs)
            .is_some_and(|q| q.iter().any(|(k, _)| XML_OBJECT_PUTS.contains(&k.as_str()))),
        http::Method::PUT | http::Method::POST => true,
        _ => false,
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (buffered, declared) {
        (false, _) => 0,
        (true, Some(n)) => n.min(MAX_XML_BODY as u64),
        (true, None) => MAX_XML_BODY as u64,
    }
}

/// Response bodies: the object service's stream, made `Sync` for s3s ([`response`]).
struct SyncBody {
    inner: std::sync::Mutex<ByteStream>,
    remaining: u64,
}

impl Stream for SyncBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // `get_mut` never blocks: we hold the only reference.
        let s = this.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        let r = s.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(b))) = &r {
            this.remaining = this.remaining.saturating_sub(b.len() as u64);
        }
        r
    }
}

impl s3s::stream::ByteStream for SyncBody {
    fn remaining_length(&self) -> s3s::stream::RemainingLength {
        s3s::stream::RemainingLength::new_exact(
            usize::try_from(self.remaining).unwrap_or(usize::MAX),
        )
    }
}

/// A response body of `len` bytes from the object service's stream.
pub fn response(s: ByteStream, len: u64) -> StreamingBlob {
    StreamingBlob::wrap(SyncBody {
        inner: std::sync::Mutex::new(s),
        remaining: len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[derive(Debug)]
    struct E(&'static str);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {}

    fn blob(items: Vec<Result<&'static [u8], &'static str>>) -> StreamingBlob {
        let s = futures::stream::iter(items.into_iter().map(|r| match r {
            Ok(b) => Ok(Bytes::from_static(b)),
            Err(m) => Err(Box::new(E(m)) as StdError),
        }));
        StreamingBlob::new(StreamWrap(Box::pin(s)))
    }

    struct StreamWrap(Pin<Box<dyn Stream<Item = Result<Bytes, StdError>> + Send + Sync>>);
    impl Stream for StreamWrap {
        type Item = Result<Bytes, StdError>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.as_mut().poll_next(cx)
        }
    }
    impl s3s::stream::ByteStream for StreamWrap {}

    #[tokio::test]
    async fn clean_stream_passes_through() {
        let (mut s, f) = adapt(Some(blob(vec![Ok(b"ab"), Ok(b""), Ok(b"cd")])));
        let mut all = Vec::new();
        while let Some(x) = s.next().await {
            all.extend_from_slice(&x.unwrap());
        }
        assert_eq!(all, b"abcd");
        assert_eq!(f.get(), None);
        let (mut s, _) = adapt(None);
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn final_chunk_is_withheld_until_the_stream_verifies() {
        // The signature error arrives after the last data chunk: the consumer must see
        // the error instead of the last chunk.
        let items = vec![
            Ok(&b"ab"[..]),
            Ok(&b"cd"[..]),
            Err("AwsChunkedStreamError: SignatureMismatch"),
        ];
        let (mut s, f) = adapt(Some(blob(items)));
        assert_eq!(&s.next().await.unwrap().unwrap()[..], b"ab");
        assert!(s.next().await.unwrap().is_err());
        assert!(s.next().await.is_none());
        assert_eq!(f.get(), Some(BodyFault::ChunkSignature));
    }

    #[test]
    fn classification() {
        let c = |m| BodyFault::classify(&E(m));
        assert_eq!(
            c("AwsChunkedStreamError: SignatureMismatch"),
            BodyFault::ChunkSignature
        );
        assert_eq!(
            c("UploadStreamError: Sha256Mismatch"),
            BodyFault::PayloadSha256
        );
        assert_eq!(
            c("AwsChunkedStreamError: FormatError"),
            BodyFault::Malformed
        );
        assert_eq!(
            c("AwsChunkedStreamError: Incomplete"),
            BodyFault::Incomplete
        );
        assert_eq!(
            c("UploadStreamError: LengthMismatch"),
            BodyFault::Incomplete
        );
        assert_eq!(c("connection reset"), BodyFault::Incomplete);
        assert_eq!(
            BodyFault::ChunkSignature.s3_code().0,
            S3ErrorCode::SignatureDoesNotMatch
        );
        assert_eq!(BodyFault::ChunkSignature.s3_code().1, StatusCode::FORBIDDEN);
        assert_eq!(
            BodyFault::PayloadSha256.s3_code().1,
            StatusCode::BAD_REQUEST
        );
    }
}
