//! The audit object format and its hash chain (tamper evidence), shared by the flusher
//! (which writes objects) and `coffer audit verify|tail|query` (which read them).
//!
//! An audit object is gzip-compressed JSON Lines. Its first line is a chain header
//! ([`ChainHeader`]), every further line one event:
//!
//! ```text
//! {"cofferAuditChain":1,"orgId":"abc123","stream":"control-plane","node":"0a1b2c3d4e5f","seq":7,"prev":"<sha256 hex>","events":2}
//! {"eventId":"…","action":"cwobject:CreateAccessKey",…}
//! {"eventId":"…",…}
//! ```
//!
//! * A *chain* is the sequence of objects one node writes for one stream of one org:
//!   stream `control-plane`, or `data-plane/<bucket>` per logged bucket.
//! * `seq` counts the chain's objects from 1 without gaps; it is also the `<seq>` of the
//!   object key (`…/<node>-<seq>.jsonl.gz`).
//! * `prev` is the SHA-256 (lowercase hex) of the *stored bytes* (the gzip file) of
//!   the chain's object `seq - 1`; [`GENESIS`] (64 zeros) for `seq` 1.
//! * The bytes are deterministic (gzip header without name or mtime): rewriting an
//!   object with the same header and events reproduces the same hash, which is what
//!   lets the flusher repeat an interrupted flush (see `flush`).
//!
//! [`verify`] checks every chain of a listing: a missing `seq` is a deleted object; an
//! object whose header does not match its key (stream, node, seq) was moved or
//! reordered; an object whose successor's `prev` is not its hash, or whose event count
//! does not match its header, was edited or replaced. The newest object of a chain has
//! no successor yet: an edit that keeps its event count cannot be detected until the
//! next object is written (the report prints each chain's head hash so it can be
//! compared with a copy kept elsewhere).

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// `prev` of the first object of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Format version in `cofferAuditChain`.
pub const VERSION: u32 = 1;
/// Most events in one object (SPEC §6: flushed at least every 10,000 events).
pub const MAX_EVENTS_PER_OBJECT: usize = 10_000;
/// Largest decompressed object a reader accepts (bounds memory on hostile input).
pub const MAX_DECOMPRESSED: u64 = 512 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainHeader {
    pub coffer_audit_chain: u32,
    pub org_id: String,
    /// `control-plane` or `data-plane/<bucket>`.
    pub stream: String,
    pub node: String,
    pub seq: u64,
    pub prev: String,
    pub events: u64,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The stored bytes of an object: gzip of the header line and the event lines.
///
/// Level 1 ("fast"): audit JSON lines are repetitive enough that it keeps most of the
/// size gain, at a fraction of level 6's CPU — the flusher runs on the same cores as the
/// requests it logs (at level 6 gzip cost ~10–20 µs per logged PUT). Deterministic for
/// a given input, as the exactly-once rewrite of a repeated plan requires.
pub fn encode(header: &ChainHeader, events: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(&serde_json::to_vec(header)?)?;
    enc.write_all(b"\n")?;
    for line in events {
        enc.write_all(line)?;
        enc.write_all(b"\n")?;
    }
    enc.finish()
}

/// A decoded object: its header (if the first line is one) and its event lines.
#[derive(Debug)]
pub struct Decoded {
    pub header: Option<ChainHeader>,
    pub events: Vec<String>,
}

pub fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let mut text = String::new();
    GzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED)
        .read_to_string(&mut text)
        .map_err(|e| format!("not a gzip JSON Lines object: {e}"))?;
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let first = lines.next();
    let header = first.and_then(|l| serde_json::from_str::<ChainHeader>(l).ok());
    let mut events: Vec<String> = Vec::new();
    if header.is_none()
        && let Some(l) = first
    {
        events.push(l.to_string());
    }
    events.extend(lines.map(str::to_string));
    Ok(Decoded { header, events })
}

/// What an object key says about its place: (stream, node, seq).
pub fn parse_key(key: &str) -> Option<(String, String, u64)> {
    let (dir, file) = key.rsplit_once('/')?;
    let stem = file.strip_suffix(".jsonl.gz")?;
    let (node, seq) = stem.rsplit_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    let parts: Vec<&str> = dir.split('/').collect();
    let stream = match parts.as_slice() {
        ["control-plane", _y, _m, _d, _h] => "control-plane".to_string(),
        ["data-plane", _y, _m, _d, _h, bucket] => format!("data-plane/{bucket}"),
        _ => return None,
    };
    Some((stream, node.to_string(), seq))
}

/// The object key of chain object `seq` whose events fall in `hour` (`YYYY/MM/DD/HH`).
pub fn object_key(stream: &str, hour: &str, node: &str, seq: u64) -> String {
    match stream.strip_prefix("data-plane/") {
        Some(bucket) => format!("data-plane/{hour}/{bucket}/{node}-{seq:012}.jsonl.gz"),
        None => format!("{stream}/{hour}/{node}-{seq:012}.jsonl.gz"),
    }
}

/// One finding of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `deleted`, `reordered`, `edited`, `unreadable`.
    pub kind: &'static str,
    /// `<stream> <node>`.
    pub chain: String,
    pub key: String,
    pub detail: String,
}

/// Summary of one verified chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainSummary {
    pub stream: String,
    pub node: String,
    pub objects: u64,
    pub events: u64,
    pub head_seq: u64,
    pub head_sha256: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub chains: Vec<ChainSummary>,
    pub problems: Vec<Problem>,
    /// Keys that are not audit objects (ignored).
    pub ignored: Vec<String>,
}

/// One chain's objects by seq: (key, bytes).
type Chain = BTreeMap<u64, (String, Vec<u8>)>;

/// Verifies the chains of a complete listing of an audit bucket: `(key, bytes)` pairs.
pub fn verify(objects: Vec<(String, Vec<u8>)>) -> Report {
    let mut report = Report::default();
    let mut chains: BTreeMap<(String, String), Chain> = BTreeMap::new();
    for (key, bytes) in objects {
        match parse_key(&key) {
            Some((stream, node, seq)) => {
                chains
                    .entry((stream, node))
                    .or_default()
                    .insert(seq, (key, bytes));
            }
            None => report.ignored.push(key),
        }
    }
    for ((stream, node), objs) in chains {
        let chain = format!("{stream} {node}");
        let mut problem = |kind: &'static str, key: &str, detail: String| {
            report.problems.push(Problem {
                kind,
                chain: chain.clone(),
                key: key.to_string(),
                detail,
            });
        };
        let mut expected_seq = 1u64;
        // Hash of the previous object in key order, when it was present and readable.
        let mut prev_hash: Option<String> = Some(GENESIS.to_string());
        let mut summary = ChainSummary {
            stream: stream.clone(),
            node: node.clone(),
            objects: 0,
            events: 0,
            head_seq: 0,
            head_sha256: String::new(),
        };
        for (seq, (key, bytes)) in objs {
            if seq != expected_seq {
                problem(
                    "deleted",
                    &key,
                    if seq == expected_seq + 1 {
                        format!("object seq {expected_seq} is missing")
                    } else {
                        format!("objects seq {expected_seq}..{} are missing", seq - 1)
                    },
                );
                prev_hash = None;
            }
            expected_seq = seq + 1;
            let hash = sha256_hex(&bytes);
            summary.objects += 1;
            summary.head_seq = seq;
            summary.head_sha256 = hash.clone();
            let decoded = match decode(&bytes) {
                Ok(d) => d,
                Err(e) => {
                    problem("edited", &key, e);
                    prev_hash = Some(hash);
                    continue;
                }
            };
            let Some(h) = decoded.header else {
                problem("edited", &key, "the chain header line is missing".into());
                prev_hash = Some(hash);
                continue;
            };
            summary.events += decoded.events.len() as u64;
            if h.seq != seq || h.stream != stream || h.node != node {
                problem(
                    "reordered",
                    &key,
                    format!(
                        "the object's header says stream {} node {} seq {}, its key says seq {seq}",
                        h.stream, h.node, h.seq
                    ),
                );
            }
            if h.events != decoded.events.len() as u64 {
                problem(
                    "edited",
                    &key,
                    format!(
                        "the header counts {} events, the object holds {}",
                        h.events,
                        decoded.events.len()
                    ),
                );
            }
            if let Some(p) = &prev_hash
                && *p != h.prev
            {
                let detail = if seq == 1 {
                    "the first object of the chain does not start from the genesis hash".into()
                } else {
                    format!(
                        "seq {} was edited or replaced: its hash is {p}, this object records {}",
                        seq - 1,
                        h.prev
                    )
                };
                problem("edited", &key, detail);
            }
            prev_hash = Some(hash);
        }
        report.chains.push(summary);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(stream: &str, seq: u64, prev: &str, events: &[&str]) -> (String, Vec<u8>) {
        let h = ChainHeader {
            coffer_audit_chain: VERSION,
            org_id: "abc123".into(),
            stream: stream.into(),
            node: "0a1b2c3d4e5f".into(),
            seq,
            prev: prev.into(),
            events: events.len() as u64,
        };
        let lines: Vec<Vec<u8>> = events.iter().map(|e| e.as_bytes().to_vec()).collect();
        (
            object_key(stream, "2026/01/02/03", "0a1b2c3d4e5f", seq),
            encode(&h, &lines).unwrap(),
        )
    }

    fn chain(n: u64) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut prev = GENESIS.to_string();
        for seq in 1..=n {
            let o = obj("control-plane", seq, &prev, &[r#"{"a":1}"#, r#"{"b":2}"#]);
            prev = sha256_hex(&o.1);
            out.push(o);
        }
        out
    }

    #[test]
    fn keys_round_trip_and_encoding_is_deterministic() {
        let k = object_key("data-plane/my-bucket", "2026/01/02/03", "0a1b2c3d4e5f", 42);
        assert_eq!(
            k,
            "data-plane/2026/01/02/03/my-bucket/0a1b2c3d4e5f-000000000042.jsonl.gz"
        );
        assert_eq!(
            parse_key(&k),
            Some(("data-plane/my-bucket".into(), "0a1b2c3d4e5f".into(), 42))
        );
        assert_eq!(parse_key("other/thing.txt"), None);
        assert_eq!(chain(2), chain(2), "same input, same bytes");
    }

    #[test]
    fn an_intact_chain_verifies() {
        let r = verify(chain(4));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.chains.len(), 1);
        assert_eq!((r.chains[0].objects, r.chains[0].events), (4, 8));
    }

    #[test]
    fn deletion_reordering_and_editing_are_reported() {
        let mut c = chain(4);
        c.remove(1);
        let r = verify(c);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].kind, "deleted");

        // Swap the contents of seq 2 and 3 under their keys.
        let mut c = chain(4);
        let (b2, b3) = (c[1].1.clone(), c[2].1.clone());
        c[1].1 = b3;
        c[2].1 = b2;
        let r = verify(c);
        assert!(r.problems.iter().any(|p| p.kind == "reordered"), "{r:?}");

        // Edit seq 2 keeping its header intact.
        let mut c = chain(4);
        let d = decode(&c[1].1).unwrap();
        let h = d.header.unwrap();
        c[1].1 = encode(&h, &[br#"{"a":9}"#.to_vec(), br#"{"b":2}"#.to_vec()]).unwrap();
        let r = verify(c);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].kind, "edited");
        assert!(r.problems[0].key.ends_with("000000000003.jsonl.gz"));
    }
}
