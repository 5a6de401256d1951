//! `ObjectService` behaviour over the real stores: SQLite metadata and `FsBlobStore`
//! blobs in temporary directories, each behind a forwarding wrapper that counts calls
//! and injects faults (`coffer_store::testing::TestMetaStore`, [`blobs::Blobs`]).

pub(crate) mod blobs;

mod bucket;
mod copy;
mod get;
mod list;
mod multipart;
mod put;

use blobs::Blobs;
use bytes::Bytes;
use coffer_core::blob::ByteStream;
use coffer_core::clock::SystemClock;
use coffer_core::error::Error;
use coffer_core::meta::MetaStore;
use coffer_core::model::*;
use coffer_core::objects::*;
use coffer_store::testing::TestMetaStore;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const ORG: &str = "org001";
pub const BUCKET: &str = "bkt";
pub const THRESHOLD: usize = 128 * 1024;

pub struct Env {
    pub svc: ObjectService,
    pub meta: Arc<TestMetaStore>,
    pub blobs: Blobs,
}

pub async fn env_with(cfg: ObjectConfig) -> Env {
    let meta = Arc::new(coffer_store::testing::temp_sqlite());
    let blobs = Blobs::new();
    let zone = cfg.zones[0].clone();
    let svc = ObjectService::new(
        meta.clone(),
        Arc::new(blobs.clone()),
        Arc::new(SystemClock),
        cfg,
    );
    svc.create_bucket(ORG, BUCKET, Some(&zone)).await.unwrap();
    Env { svc, meta, blobs }
}

pub async fn env() -> Env {
    env_with(ObjectConfig {
        inline_threshold: THRESHOLD,
        retired_blob_grace: std::time::Duration::ZERO,
        ..ObjectConfig::default()
    })
    .await
}

/// Deterministic pseudo-random bytes.
pub fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `bytes` as a stream of `piece`-sized chunks.
pub fn body(bytes: &[u8], piece: usize) -> ByteStream {
    let b = Bytes::copy_from_slice(bytes);
    let chunks: Vec<std::io::Result<Bytes>> = (0..b.len())
        .step_by(piece.max(1))
        .map(|i| Ok(b.slice(i..(i + piece).min(b.len()))))
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

/// `bytes` followed by an error.
pub fn failing_body(bytes: &[u8], err: std::io::Error) -> ByteStream {
    let first = body(bytes, 64 * 1024);
    Box::pin(first.chain(futures::stream::once(async move { Err(err) })))
}

/// A body that fails the test if it is read: proves a request was rejected up front.
pub fn untouchable_body() -> ByteStream {
    Box::pin(futures::stream::poll_fn(
        |_| -> std::task::Poll<Option<std::io::Result<Bytes>>> {
            panic!("the body must not be read")
        },
    ))
}

pub fn put_input(key: &str, bytes: &[u8]) -> PutObjectInput {
    PutObjectInput {
        bucket: BUCKET.into(),
        key: key.into(),
        body: body(bytes, 64 * 1024),
        content_length: Some(bytes.len() as u64),
        content_md5: None,
        checksum: ChecksumInput::default(),
        headers: ObjectHeaders::default(),
        user_metadata: BTreeMap::new(),
        tags: BTreeMap::new(),
        cond: WriteCondition::None,
        audit_event: None,
        bucket_record: None,
        lock: Default::default(),
        access: Default::default(),
        sse: Default::default(),
    }
}

pub async fn put(env: &Env, key: &str, bytes: &[u8]) -> ObjectRecord {
    env.svc.put_object(put_input(key, bytes)).await.unwrap()
}

pub fn get_input(key: &str) -> GetObjectInput {
    GetObjectInput {
        bucket: BUCKET.into(),
        key: key.into(),
        range: None,
        part_number: None,
        conditions: ReadConditions::default(),
        sse_key: None,
    }
}

pub async fn collect(s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = s;
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

pub async fn read_all(env: &Env, key: &str) -> Result<Vec<u8>, Error> {
    let out = env.svc.get_object(get_input(key), true).await?;
    Ok(collect(out.body.unwrap()).await)
}

/// Stores `record` as the bucket's current object, directly in the metadata store.
pub async fn store_record(env: &Env, record: &ObjectRecord) {
    env.meta
        .put_object(record, &WriteCondition::None, None)
        .await
        .unwrap();
}

pub fn md5_etag(bytes: &[u8]) -> String {
    coffer_core::checksum::etag_from_md5(&coffer_core::checksum::md5_of(bytes))
}

pub fn b64(raw: &[u8]) -> String {
    coffer_core::checksum::encode_b64(raw)
}
