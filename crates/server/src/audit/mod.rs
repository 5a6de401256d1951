//! The audit pipeline (SPEC §6): the durable spool the APIs record into ([`spool`]) and
//! the flusher that delivers spooled events to the orgs' audit buckets ([`flush`]) as
//! hash-chained objects ([`chain`]), and the pipeline's Prometheus metrics ([`metrics`]).
//! Event types, switches and the sink trait live in `coffer_core::audit`.
//!
//! Layout of `<data-dir>/audit-spool/`: `seg-<seq>.jsonl` segments, `next-seq` (the
//! segment-number watermark), `flush-state.json` (the flusher's journal: chain heads,
//! delivered watermark, pending flush) and `node-id` (the `<node>` of object keys,
//! created once).

pub mod chain;
pub mod flush;
pub mod spool;

use crate::private_fs::{private_dir, read_private_file, write_private_file};
use anyhow::Context;
use std::path::Path;

pub const SPOOL_DIR: &str = "audit-spool";
const NODE_ID_FILE: &str = "node-id";

/// This node's id in audit object keys: 12 hex chars, created on first start.
pub fn node_id(spool_dir: &Path) -> anyhow::Result<String> {
    private_dir(spool_dir).with_context(|| format!("creating {}", spool_dir.display()))?;
    let path = spool_dir.join(NODE_ID_FILE);
    match read_private_file(&path) {
        Ok(t) => {
            let t = String::from_utf8_lossy(&t);
            anyhow::ensure!(is_node_id(t.trim()), "{} is corrupt", path.display());
            return Ok(t.trim().to_string());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let id = coffer_core::ids::new_hex_id()[..12].to_string();
    write_private_file(&path, id.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

fn is_node_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
