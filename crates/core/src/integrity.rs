//! Integrity records of stored bytes (bitrot detection).
//!
//! * **Blobs** end with a trailer written in the same file, in the same write and fsync as
//!   the data: one CRC32C per fixed block of `block_size` bytes (little-endian `u32`s, the
//!   last block may be short), then a 24-byte footer
//!   `magic[8] | data_len u64 | block_size u32 | footer_crc u32` (little-endian), where
//!   `footer_crc` is the CRC32C of the footer's first 20 bytes. File length is exactly
//!   `data_len + 4 * blocks(data_len) + 24`. Any block of any range can be verified by
//!   reading its own table entry, so ranged GETs, multi-GiB objects and each multipart
//!   part (one blob each) are verified without a whole-object pass.
//! * **Blobs written before trailers existed** end without the magic: they are served
//!   unverified (their length is their data length) and `coffer scrub` counts them as
//!   unverified, never as damaged.
//! * **Inline objects** carry the CRC32C of their bytes in the record
//!   (`ObjectRecord::inline_crc32c`); records without one are unverified.
//!
//! A failed check is `Error::Corrupted`, raised before the block's bytes leave the store.

use crate::error::Error;

/// Block size of new blobs. 64 KiB bounds the read amplification of a small ranged GET
/// (the whole enclosing block is read to verify it) while the table costs 4 bytes per
/// 64 KiB (0.006 %).
pub const BLOCK_SIZE: u64 = 64 * 1024;
pub const FOOTER_LEN: u64 = 24;
pub const MAGIC: [u8; 8] = *b"CofCRC1\n";
/// Footers naming a block size outside this range are damaged, not a format to trust.
const MIN_BLOCK: u64 = 4 * 1024;
const MAX_BLOCK: u64 = 16 << 20;

pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Number of blocks covering `data_len` bytes.
pub fn blocks(data_len: u64, block_size: u64) -> u64 {
    data_len.div_ceil(block_size)
}

/// Bytes a trailer adds to a blob of `data_len` bytes with the default block size.
pub fn trailer_len(data_len: u64) -> u64 {
    blocks(data_len, BLOCK_SIZE) * 4 + FOOTER_LEN
}

/// CRC32C of consecutive fixed-size blocks over bytes fed in arbitrary pieces.
#[derive(Debug, Clone, Default)]
pub struct BlockCrcs {
    table: Vec<u32>,
    cur: u32,
    filled: u64,
    total: u64,
}

impl BlockCrcs {
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            let room = (BLOCK_SIZE - self.filled) as usize;
            let n = room.min(data.len());
            self.cur = crc32c::crc32c_append(self.cur, &data[..n]);
            self.filled += n as u64;
            data = &data[n..];
            if self.filled == BLOCK_SIZE {
                self.table.push(self.cur);
                self.cur = 0;
                self.filled = 0;
            }
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The trailer (table + footer) to append after the data.
    pub fn into_trailer(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.table.push(self.cur);
        }
        let mut out = Vec::with_capacity(self.table.len() * 4 + FOOTER_LEN as usize);
        for c in &self.table {
            out.extend_from_slice(&c.to_le_bytes());
        }
        out.extend_from_slice(&footer(self.total, BLOCK_SIZE));
        out
    }
}

fn footer(data_len: u64, block_size: u64) -> [u8; FOOTER_LEN as usize] {
    let mut f = [0u8; FOOTER_LEN as usize];
    f[0..8].copy_from_slice(&MAGIC);
    f[8..16].copy_from_slice(&data_len.to_le_bytes());
    f[16..20].copy_from_slice(&(block_size as u32).to_le_bytes());
    let c = crc32c(&f[0..20]);
    f[20..24].copy_from_slice(&c.to_le_bytes());
    f
}

/// What a blob's last bytes say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// No trailer (written before trailers existed): all `file_len` bytes are data.
    Legacy,
    /// A valid trailer: data is the first `data_len` bytes, table right after it.
    Verified { data_len: u64, block_size: u64 },
}

/// Reads the footer of a blob file of `file_len` bytes whose last (up to) 24 bytes are
/// `tail`. A footer with the magic but a bad CRC, an impossible block size or a length
/// that disagrees with the file is damage (`Err`), never a reason to serve unverified.
pub fn parse_footer(tail: &[u8], file_len: u64) -> Result<Layout, String> {
    if file_len < FOOTER_LEN || tail.len() != FOOTER_LEN as usize || tail[0..8] != MAGIC {
        return Ok(Layout::Legacy);
    }
    let stored = u32::from_le_bytes(tail[20..24].try_into().expect("4 bytes"));
    if crc32c(&tail[0..20]) != stored {
        return Err("integrity footer failed its CRC32C check".into());
    }
    let data_len = u64::from_le_bytes(tail[8..16].try_into().expect("8 bytes"));
    let block_size = u64::from(u32::from_le_bytes(tail[16..20].try_into().expect("4")));
    if !(MIN_BLOCK..=MAX_BLOCK).contains(&block_size) || !block_size.is_power_of_two() {
        return Err(format!("integrity footer names block size {block_size}"));
    }
    let expect = data_len
        .checked_add(blocks(data_len, block_size) * 4 + FOOTER_LEN)
        .ok_or("integrity footer names an impossible length")?;
    if expect != file_len {
        return Err(format!(
            "integrity footer says {data_len} data bytes but the file has {file_len} bytes"
        ));
    }
    Ok(Layout::Verified {
        data_len,
        block_size,
    })
}

/// The error for a failed check of the block at `offset` of blob `blob_id`.
pub fn block_damaged(blob_id: &str, offset: u64) -> Error {
    Error::Corrupted(format!(
        "blob {blob_id}: block at offset {offset} failed its CRC32C check"
    ))
}

/// Outcome of checking one stored piece of an object (a blob or inline bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Every block matched its CRC32C.
    Verified,
    /// Readable, but written before integrity records existed.
    Unverified,
    /// The first failed block (offset within the piece) and why.
    Damaged { offset: u64, detail: String },
    /// The blob file does not exist.
    Missing,
}

/// Checks inline bytes against the record's CRC32C (`None`: written before inline CRCs).
pub fn check_inline(data: &[u8], crc: Option<u32>) -> Check {
    match crc {
        None => Check::Unverified,
        Some(c) if crc32c(data) == c => Check::Verified,
        Some(_) => Check::Damaged {
            offset: 0,
            detail: "inline data failed its CRC32C check".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer_of(data: &[u8], pieces: usize) -> Vec<u8> {
        let mut b = BlockCrcs::default();
        for p in data.chunks(pieces.max(1)) {
            b.update(p);
        }
        b.into_trailer()
    }

    #[test]
    fn table_is_independent_of_how_bytes_arrive() {
        let data: Vec<u8> = (0..(3 * BLOCK_SIZE as usize + 17))
            .map(|i| (i * 31) as u8)
            .collect();
        let a = trailer_of(&data, 1);
        for p in [7, 4096, 65536, 100_000, data.len()] {
            assert_eq!(trailer_of(&data, p), a);
        }
        assert_eq!(a.len() as u64, trailer_len(data.len() as u64));
        for (i, block) in data.chunks(BLOCK_SIZE as usize).enumerate() {
            let c = u32::from_le_bytes(a[i * 4..i * 4 + 4].try_into().unwrap());
            assert_eq!(c, crc32c(block));
        }
    }

    #[test]
    fn footer_round_trips_and_detects_damage() {
        for n in [
            0u64,
            1,
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            10 * BLOCK_SIZE,
        ] {
            let t = trailer_of(&vec![5u8; n as usize], 1000);
            let file_len = n + t.len() as u64;
            let tail = &t[t.len() - FOOTER_LEN as usize..];
            assert_eq!(
                parse_footer(tail, file_len),
                Ok(Layout::Verified {
                    data_len: n,
                    block_size: BLOCK_SIZE
                })
            );
            assert!(parse_footer(tail, file_len + 1).is_err());
            for i in 8..FOOTER_LEN as usize {
                let mut bad = tail.to_vec();
                bad[i] ^= 0x10;
                assert!(parse_footer(&bad, file_len).is_err(), "byte {i}");
            }
            // A damaged magic reads as a legacy blob; its length then disagrees with the
            // record's size, which is what scrub checks.
            let mut bad = tail.to_vec();
            bad[0] ^= 1;
            assert_eq!(parse_footer(&bad, file_len), Ok(Layout::Legacy));
        }
        assert_eq!(parse_footer(b"short", 5), Ok(Layout::Legacy));
        assert_eq!(parse_footer(&[0u8; 24], 100), Ok(Layout::Legacy));
    }

    #[test]
    fn inline_checks() {
        assert_eq!(check_inline(b"abc", None), Check::Unverified);
        assert_eq!(check_inline(b"abc", Some(crc32c(b"abc"))), Check::Verified);
        assert!(matches!(
            check_inline(b"abd", Some(crc32c(b"abc"))),
            Check::Damaged { .. }
        ));
    }
}
