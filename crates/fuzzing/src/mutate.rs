//! Structured mutation of a known-good document, driven by fuzz bytes. The fuzzer
//! mutates the ops, not the document, so every input stays close to a signed original
//! and exercises the verifier's checks instead of its parser's first error.

use crate::input::Input;

/// Applies up to 8 edit ops read from `input` to `doc`. `snippets` are inserted whole by
/// one op kind (markup a byte-level fuzzer would rarely assemble by itself).
pub fn apply(doc: &[u8], input: &mut Input<'_>, snippets: &[&str]) -> Vec<u8> {
    let mut d = doc.to_vec();
    for _ in 0..8 {
        if input.is_empty() {
            break;
        }
        let kind = input.byte() % 6;
        let len = d.len().max(1);
        let pos = usize::from(input.u16()) % (len + 1);
        let pos = pos.min(d.len());
        match kind {
            // Overwrite one byte.
            0 => {
                let b = input.byte();
                if let Some(x) = d.get_mut(pos) {
                    *x = b;
                }
            }
            // Insert up to 8 bytes.
            1 => {
                let n = usize::from(input.byte() % 8) + 1;
                let bytes: Vec<u8> = (0..n).map(|_| input.byte()).collect();
                d.splice(pos..pos, bytes);
            }
            // Delete a run.
            2 => {
                let n = usize::from(input.u16()) % 512 + 1;
                let end = (pos + n).min(d.len());
                d.drain(pos..end);
            }
            // Copy a run elsewhere (duplicated or wrapped elements).
            3 => {
                let from = usize::from(input.u16()) % len.min(d.len().max(1));
                let n = usize::from(input.u16()) % 2048 + 1;
                let end = (from + n).min(d.len());
                let run = d[from.min(d.len())..end].to_vec();
                d.splice(pos..pos, run);
            }
            // Move a run (cut, then paste elsewhere).
            4 => {
                let n = usize::from(input.u16()) % 2048 + 1;
                let end = (pos + n).min(d.len());
                let run: Vec<u8> = d.drain(pos..end).collect();
                let to = usize::from(input.u16()) % (d.len() + 1);
                d.splice(to..to, run);
            }
            // Insert a snippet.
            _ => {
                if !snippets.is_empty() {
                    let s = snippets[usize::from(input.byte()) % snippets.len()];
                    d.splice(pos..pos, s.bytes());
                }
            }
        }
    }
    d
}
