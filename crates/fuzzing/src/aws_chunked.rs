//! aws-chunked request bodies (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) through
//! Coffer's framing parser: the region normalizer's re-signing stream, which parses
//! every chunk, verifies its signature and re-emits it signed for the normalized region.
//! (s3s's own decoder, which runs after it, is private to s3s.)
//!
//! Modes (first byte % 3):
//! 0. valid: random data, split into random chunks, optionally with a signed trailer,
//!    delivered in random pieces, signed here with an independent implementation of the
//!    SigV4 chunk chain; the output must be exactly the same body signed for the new
//!    region, and decoding it yields the data;
//! 1. mutation of such a body: when accepted, the output decodes (signatures verified
//!    for the new region) to exactly the original data;
//! 2. raw bytes: when accepted, the output decodes under the new chain.

use crate::input::Input;
use bytes::Bytes;
use coffer_s3::resign::{ChunkChain, resign_chunked};
use futures::{Stream, StreamExt};
use hmac::{Hmac, Mac};
use s3s::{Body, StdError};
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::task::{Context, Poll};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const AMZ_DATE: &str = "20250101T000000Z";
const OLD: ChunkChain<'static> = ChunkChain {
    secret: "fuzz-secret",
    date: "20250101",
    region: "US-EAST-04A",
    seed: "seed-signature-old",
};
const NEW: ChunkChain<'static> = ChunkChain {
    secret: "fuzz-secret",
    date: "20250101",
    region: "us-east-04a",
    seed: "seed-signature-new",
};

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// The SigV4 chunk-signature chain (AWS "Signature Calculations for the Authorization
/// Header: Transferring Payload in Multiple Chunks").
struct Signer {
    key: Vec<u8>,
    scope: String,
    prev: String,
}

impl Signer {
    fn new(c: &ChunkChain<'_>) -> Self {
        let mut k = hmac(format!("AWS4{}", c.secret).as_bytes(), c.date.as_bytes());
        for part in [c.region, "s3", "aws4_request"] {
            k = hmac(&k, part.as_bytes());
        }
        Signer {
            key: k,
            scope: format!("{}/{}/s3/aws4_request", c.date, c.region),
            prev: c.seed.to_string(),
        }
    }

    fn chunk(&mut self, data: &[u8]) -> String {
        let hash = if data.is_empty() {
            EMPTY_SHA256.to_string()
        } else {
            hex::encode(Sha256::digest(data))
        };
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{}\n{}\n{EMPTY_SHA256}\n{hash}",
            self.scope, self.prev
        );
        self.prev = hex::encode(hmac(&self.key, sts.as_bytes()));
        self.prev.clone()
    }

    fn trailer(&self, canonical: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{AMZ_DATE}\n{}\n{}\n{}",
            self.scope,
            self.prev,
            hex::encode(Sha256::digest(canonical))
        );
        hex::encode(hmac(&self.key, sts.as_bytes()))
    }
}

/// Frames `data` in chunks of the given sizes (the rest in one last chunk), with a
/// signed `x-amz-checksum-crc32` trailer when `trailer` is set.
fn encode(chain: &ChunkChain<'_>, data: &[u8], sizes: &[usize], trailer: bool) -> Vec<u8> {
    let mut s = Signer::new(chain);
    let mut out = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter();
    while !rest.is_empty() {
        let n = sizes
            .next()
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        let (c, r) = rest.split_at(n);
        let sig = s.chunk(c);
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
        rest = r;
    }
    let sig = s.chunk(b"");
    out.extend_from_slice(format!("0;chunk-signature={sig}\r\n").as_bytes());
    if trailer {
        let line = "x-amz-checksum-crc32:AAAAAA==";
        let tsig = s.trailer(format!("{line}\n").as_bytes());
        out.extend_from_slice(format!("{line}\r\nx-amz-trailer-signature:{tsig}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Decodes a body framed and signed for `chain`; `None` if the framing or any chunk
/// signature is wrong. The trailer block is not examined.
fn decode(chain: &ChunkChain<'_>, body: &[u8]) -> Option<Vec<u8>> {
    let mut s = Signer::new(chain);
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..eol]).ok()?;
        let (size, sig) = line.split_once(";chunk-signature=")?;
        let size = usize::from_str_radix(size, 16).ok()?;
        rest = &rest[eol + 2..];
        let data = rest.get(..size)?;
        if s.chunk(data) != sig {
            return None;
        }
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data);
        if rest.get(size..size + 2)? != b"\r\n" {
            return None;
        }
        rest = &rest[size + 2..];
    }
}

/// A request body delivered in the given pieces.
struct Pieces(futures::stream::Iter<std::vec::IntoIter<Result<Bytes, StdError>>>);

impl Stream for Pieces {
    type Item = Result<Bytes, StdError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

impl s3s::stream::ByteStream for Pieces {}

/// Runs the re-signing stream over `body` delivered in pieces of `piece` bytes.
fn resign(body: &[u8], piece: usize) -> Result<Vec<u8>, String> {
    let pieces: Vec<Result<Bytes, StdError>> = body
        .chunks(piece.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream: s3s::stream::DynByteStream = Box::pin(Pieces(futures::stream::iter(pieces)));
    let mut out = resign_chunked(Body::from(stream), &OLD, &NEW, AMZ_DATE);
    futures::executor::block_on(async {
        let mut v = Vec::new();
        while let Some(x) = out.next().await {
            v.extend_from_slice(&x.map_err(|e| e.to_string())?);
        }
        Ok(v)
    })
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte() % 3;
    let piece = usize::from(input.byte()) + 1;
    if mode == 2 {
        if let Ok(out) = resign(input.rest(), piece) {
            assert!(
                decode(&NEW, &out).is_some(),
                "accepted body is not re-signed"
            );
        }
        return;
    }
    let trailer = input.byte() % 2 == 1;
    let sizes: Vec<usize> = (0..usize::from(input.byte() % 8))
        .map(|_| usize::from(input.u16()) % 4096 + 1)
        .collect();
    // The data: what follows a 0xFF separator, so that mutation ops can precede it.
    let ops = input.until(0xFF);
    let payload = input.rest().to_vec();
    let body = encode(&OLD, &payload, &sizes, trailer);
    if mode == 0 {
        let out = resign(&body, piece).unwrap_or_else(|e| panic!("valid body refused: {e}"));
        assert_eq!(
            out,
            encode(&NEW, &payload, &sizes, trailer),
            "re-signed body differs from the body signed for the new region"
        );
        assert_eq!(decode(&NEW, &out).as_deref(), Some(&payload[..]));
        return;
    }
    let mutated = crate::mutate::apply(
        &body,
        &mut Input::new(ops),
        &[
            "\r\n",
            ";chunk-signature=",
            "0",
            "f",
            "x-amz-trailer-signature:",
            ":",
        ],
    );
    if let Ok(out) = resign(&mutated, piece) {
        assert_eq!(
            decode(&NEW, &out).as_deref(),
            Some(&payload[..]),
            "a mutated body was accepted with other data"
        );
    }
}
