//! The one HTTP body type used by both the client (request bodies) and the ceiling sink
//! (response bodies). Payloads are generated once and sent as zero-copy `Bytes` slices.

use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// Frame size for large bodies: ≥ 1 MiB keeps per-frame overhead negligible on both sides.
pub const CHUNK: usize = 1 << 20;

#[derive(Debug)]
pub enum BenchBody {
    /// Sends `data` as frames of at most `chunk` bytes.
    Slice { data: Bytes, chunk: usize },
    /// Sends `remaining` bytes by repeating (a prefix of) `pattern`.
    Repeat { pattern: Bytes, remaining: u64 },
}

impl BenchBody {
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    pub fn full(data: impl Into<Bytes>) -> Self {
        Self::Slice {
            data: data.into(),
            chunk: usize::MAX,
        }
    }

    pub fn chunked(data: Bytes) -> Self {
        Self::Slice { data, chunk: CHUNK }
    }

    pub fn len(&self) -> u64 {
        match self {
            Self::Slice { data, .. } => data.len() as u64,
            Self::Repeat { remaining, .. } => *remaining,
        }
    }
}

impl Body for BenchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            Self::Slice { data, chunk } => {
                if data.is_empty() {
                    return Poll::Ready(None);
                }
                let n = (*chunk).min(data.len());
                data.split_to(n)
            }
            Self::Repeat { pattern, remaining } => {
                if *remaining == 0 || pattern.is_empty() {
                    return Poll::Ready(None);
                }
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(pattern.len());
                *remaining -= n as u64;
                pattern.slice(..n)
            }
        };
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

/// Reads a body to its end, discarding the data; returns the number of bytes read.
pub async fn drain(mut body: Incoming) -> Result<u64, hyper::Error> {
    let mut n = 0u64;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Some(data) = frame?.data_ref() {
            n += data.len() as u64;
        }
    }
    Ok(n)
}

/// Reads a body into memory, failing past `limit` bytes (responses parsed here are small XML).
pub async fn collect(mut body: Incoming, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Some(data) = frame?.data_ref() {
            anyhow::ensure!(
                out.len() + data.len() <= limit,
                "response body exceeds {limit} bytes"
            );
            out.extend_from_slice(data);
        }
    }
    Ok(out)
}
