//! Object integrity: MD5 ETags, the S3 `x-amz-checksum-*` algorithms, and their
//! multipart combinations.
//!
//! Wire form of every checksum is base64 of the big-endian digest (`AAAAAA==` for a
//! CRC32 of zero). Multipart objects carry either a COMPOSITE checksum (the checksum of
//! the concatenated raw part checksums, suffixed `-N`) or, for the CRC family, a
//! FULL_OBJECT checksum: the CRC of the whole content, obtained from the part CRCs
//! without reading bytes (`crc_combine`).

use crate::error::{Error, Result};
use crate::model::Checksums;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// S3 wire name (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "CRC32" => ChecksumAlgorithm::Crc32,
            "CRC32C" => ChecksumAlgorithm::Crc32c,
            "CRC64NVME" => ChecksumAlgorithm::Crc64Nvme,
            "SHA1" => ChecksumAlgorithm::Sha1,
            "SHA256" => ChecksumAlgorithm::Sha256,
            _ => return None,
        })
    }

    /// The request/response header carrying this checksum (`x-amz-checksum-crc32`).
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    pub fn is_crc(self) -> bool {
        matches!(
            self,
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64Nvme
        )
    }

    /// Multipart checksum type S3 uses when the client names none: CRC64NVME supports
    /// only FULL_OBJECT, every other algorithm defaults to COMPOSITE.
    pub fn default_type(self) -> ChecksumType {
        match self {
            ChecksumAlgorithm::Crc64Nvme => ChecksumType::FullObject,
            _ => ChecksumType::Composite,
        }
    }

    /// Whether multipart uploads may use `t` with this algorithm (S3: FULL_OBJECT only for
    /// the CRC family, COMPOSITE for everything but CRC64NVME).
    pub fn supports_type(self, t: ChecksumType) -> bool {
        match t {
            ChecksumType::FullObject => self.is_crc(),
            ChecksumType::Composite => self != ChecksumAlgorithm::Crc64Nvme,
        }
    }
}

/// `x-amz-checksum-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumType {
    Composite,
    FullObject,
}

impl ChecksumType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumType::Composite => "COMPOSITE",
            ChecksumType::FullObject => "FULL_OBJECT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "COMPOSITE" => Some(ChecksumType::Composite),
            "FULL_OBJECT" => Some(ChecksumType::FullObject),
            _ => None,
        }
    }
}

/// Incremental state of one checksum algorithm.
#[derive(Clone)]
pub enum Digester {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Digester {
    pub fn new(alg: ChecksumAlgorithm) -> Self {
        match alg {
            ChecksumAlgorithm::Crc32 => Digester::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Digester::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => Digester::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => Digester::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Digester::Sha256(sha2::Sha256::new()),
        }
    }

    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self {
            Digester::Crc32(_) => ChecksumAlgorithm::Crc32,
            Digester::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            Digester::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            Digester::Sha1(_) => ChecksumAlgorithm::Sha1,
            Digester::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Digester::Crc32(h) => h.update(data),
            Digester::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Digester::Crc64Nvme(h) => h.write(data),
            Digester::Sha1(h) => h.update(data),
            Digester::Sha256(h) => h.update(data),
        }
    }

    /// Raw big-endian digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Digester::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Digester::Crc32c(c) => c.to_be_bytes().to_vec(),
            Digester::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
            Digester::Sha1(h) => h.finalize().to_vec(),
            Digester::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Raw digest of `data` in one call.
pub fn digest(alg: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    let mut d = Digester::new(alg);
    d.update(data);
    d.finish()
}

pub fn md5_of(data: &[u8]) -> [u8; 16] {
    md5::Md5::digest(data).into()
}

/// MD5 (optional) plus any set of checksums over one byte sequence.
#[derive(Clone)]
pub struct ContentHasher {
    md5: Option<md5::Md5>,
    others: Vec<Digester>,
}

impl ContentHasher {
    /// Duplicate algorithms are computed once.
    pub fn new(md5: bool, algorithms: &[ChecksumAlgorithm]) -> Self {
        let mut others: Vec<Digester> = Vec::new();
        for &a in algorithms {
            if !others.iter().any(|d| d.algorithm() == a) {
                others.push(Digester::new(a));
            }
        }
        Self {
            md5: md5.then(md5::Md5::new),
            others,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.others.is_empty()
    }

    pub fn update(&mut self, data: &[u8]) {
        if let Some(m) = &mut self.md5 {
            m.update(data);
        }
        for d in &mut self.others {
            d.update(data);
        }
    }

    pub fn finish(self) -> ContentDigest {
        ContentDigest {
            md5: self.md5.map(|m| m.finalize().into()),
            checksums: self
                .others
                .into_iter()
                .map(|d| (d.algorithm(), d.finish()))
                .collect(),
        }
    }
}

/// Result of a `ContentHasher`: raw digests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentDigest {
    pub md5: Option<[u8; 16]>,
    pub checksums: Vec<(ChecksumAlgorithm, Vec<u8>)>,
}

impl ContentDigest {
    pub fn get(&self, alg: ChecksumAlgorithm) -> Option<&[u8]> {
        self.checksums
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.as_slice())
    }

    /// Takes every digest of `other` that `self` lacks.
    pub fn merge(&mut self, other: ContentDigest) {
        if self.md5.is_none() {
            self.md5 = other.md5;
        }
        for (a, v) in other.checksums {
            if self.get(a).is_none() {
                self.checksums.push((a, v));
            }
        }
    }
}

pub fn encode_b64(raw: &[u8]) -> String {
    B64.encode(raw)
}

/// Decodes a checksum value as sent in `x-amz-checksum-<alg>` (header or trailer). A
/// value that is not the base64 of a digest of the algorithm's length can match no body:
/// it is a mismatch (`BadDigest`, what s3-tests expect of S3).
pub fn decode_checksum(alg: ChecksumAlgorithm, value: &str) -> Result<Vec<u8>> {
    B64.decode(value.trim())
        .ok()
        .filter(|raw| raw.len() == alg.digest_len())
        .ok_or_else(|| Error::ChecksumMismatch(alg.header_name().to_string()))
}

/// Decodes `Content-MD5` (base64 of the 16-byte digest; an empty value is invalid too).
pub fn decode_content_md5(value: &str) -> Result<[u8; 16]> {
    B64.decode(value.trim())
        .ok()
        .and_then(|raw| <[u8; 16]>::try_from(raw.as_slice()).ok())
        .ok_or(Error::InvalidDigest)
}

/// Quoted lowercase-hex ETag of a single-part object or a part.
pub fn etag_from_md5(md5: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode(md5))
}

/// The 16 bytes behind a single-part ETag (quoted or not); `None` for multipart ETags.
pub fn etag_md5(etag: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(unquote(etag), &mut out).ok()?;
    Some(out)
}

/// ETag of a multipart object: MD5 of the concatenated binary part MD5s, hex, `-N`, quoted.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut h = md5::Md5::new();
    for p in part_md5s {
        h.update(p);
    }
    let d: [u8; 16] = h.finalize().into();
    format!("\"{}-{}\"", hex::encode(d), part_md5s.len())
}

/// Strips surrounding whitespace, a weak-validator prefix `W/` and double quotes.
pub fn unquote(etag: &str) -> &str {
    let t = etag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.trim_matches('"')
}

/// ETag equality ignoring quotes.
pub fn etags_match(a: &str, b: &str) -> bool {
    unquote(a) == unquote(b)
}

/// `*` or a comma-separated list of (possibly weak, quoted) ETags, as in `If-Match` and
/// `If-None-Match`. A comma inside quotes belongs to its tag (RFC 9110 allows it), and
/// each entry matches only as a whole tag: `"v"`, a bare `v` (clients that omit the
/// quotes) and, with `weak` (RFC 9110's weak comparison; S3 uses it on reads), `W/"v"`,
/// against the stored `"v"`. Splitting at every comma made `"abc,x"` match `"abc"`.
/// The one home of ETag-list matching: reads and conditional writes use it.
pub fn etag_list_matches(list: &str, etag: &str, weak: bool) -> bool {
    let stored = unquote(etag);
    etag_list(list)
        .any(|t| t == "*" || ((weak || !t.starts_with("W/")) && tag_value(t) == Some(stored)))
}

/// The entries of an ETag list, split at commas outside quotes, trimmed.
fn etag_list(list: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in list.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts.into_iter().map(str::trim)
}

/// The value of one list entry: `"v"` or `W/"v"` → `v`; a bare entry is its own value;
/// an entry with an unbalanced quote has none.
fn tag_value(t: &str) -> Option<&str> {
    let t = t.strip_prefix("W/").unwrap_or(t);
    match t.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"'),
        None => (!t.contains('"')).then_some(t),
    }
}

pub fn get_checksum(c: &Checksums, alg: ChecksumAlgorithm) -> Option<&str> {
    match alg {
        ChecksumAlgorithm::Crc32 => c.crc32.as_deref(),
        ChecksumAlgorithm::Crc32c => c.crc32c.as_deref(),
        ChecksumAlgorithm::Crc64Nvme => c.crc64nvme.as_deref(),
        ChecksumAlgorithm::Sha1 => c.sha1.as_deref(),
        ChecksumAlgorithm::Sha256 => c.sha256.as_deref(),
    }
}

pub fn set_checksum(c: &mut Checksums, alg: ChecksumAlgorithm, value: String) {
    let slot = match alg {
        ChecksumAlgorithm::Crc32 => &mut c.crc32,
        ChecksumAlgorithm::Crc32c => &mut c.crc32c,
        ChecksumAlgorithm::Crc64Nvme => &mut c.crc64nvme,
        ChecksumAlgorithm::Sha1 => &mut c.sha1,
        ChecksumAlgorithm::Sha256 => &mut c.sha256,
    };
    *slot = Some(value);
}

/// The first algorithm (in `ChecksumAlgorithm::ALL` order) with a value.
pub fn primary_checksum(c: &Checksums) -> Option<(ChecksumAlgorithm, &str)> {
    ChecksumAlgorithm::ALL
        .into_iter()
        .find_map(|a| get_checksum(c, a).map(|v| (a, v)))
}

/// Reflected polynomial and width of a CRC algorithm. All three use init = xorout = all
/// ones, which is what makes `crc_combine` exact.
fn crc_params(alg: ChecksumAlgorithm) -> Option<(u64, u32)> {
    match alg {
        ChecksumAlgorithm::Crc32 => Some((u64::from(0x04C1_1DB7u32.reverse_bits()), 32)),
        ChecksumAlgorithm::Crc32c => Some((u64::from(0x1EDC_6F41u32.reverse_bits()), 32)),
        ChecksumAlgorithm::Crc64Nvme => Some((0xAD93_D235_94C9_3659u64.reverse_bits(), 64)),
        _ => None,
    }
}

/// a·b modulo the CRC polynomial, both in reflected bit order (x^0 is the top bit).
fn gf2_mulmod(a: u64, mut b: u64, poly: u64, width: u32) -> u64 {
    if a == 0 {
        return 0;
    }
    let mut m = 1u64 << (width - 1);
    let mut p = 0u64;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                return p;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ poly } else { b >> 1 };
    }
}

/// CRC of `A || B` from `crc(A)`, `crc(B)` and `len(B)` (zlib's `crc32_combine`,
/// generalised to any reflected CRC with init = xorout = all ones).
/// `None` for non-CRC algorithms.
pub fn crc_combine(alg: ChecksumAlgorithm, crc_a: u64, crc_b: u64, len_b: u64) -> Option<u64> {
    let (poly, width) = crc_params(alg)?;
    let one = 1u64 << (width - 1);
    // x^(2^k) mod P for k = 3.. as needed: len_b bytes = len_b · 2^3 bits.
    let mut sq = one >> 1; // x^1
    for _ in 0..3 {
        sq = gf2_mulmod(sq, sq, poly, width);
    }
    let mut shift = one; // x^0
    let mut n = len_b;
    while n != 0 {
        if n & 1 != 0 {
            shift = gf2_mulmod(sq, shift, poly, width);
        }
        n >>= 1;
        if n != 0 {
            sq = gf2_mulmod(sq, sq, poly, width);
        }
    }
    Some(gf2_mulmod(shift, crc_a, poly, width) ^ crc_b)
}

fn crc_from_raw(raw: &[u8]) -> Option<u64> {
    match raw.len() {
        4 => Some(u64::from(u32::from_be_bytes(raw.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(raw.try_into().ok()?)),
        _ => None,
    }
}

/// FULL_OBJECT CRC of a multipart object from its parts' raw CRCs and sizes, in order.
pub fn full_object_crc(alg: ChecksumAlgorithm, parts: &[(&[u8], u64)]) -> Result<Vec<u8>> {
    if !alg.is_crc() {
        return Err(Error::invalid(format!(
            "The FULL_OBJECT checksum type is not supported for {}",
            alg.as_str()
        )));
    }
    let mut acc: u64 = 0; // CRC of the empty string
    for (raw, len) in parts {
        if raw.len() != alg.digest_len() {
            return Err(Error::internal("part checksum has the wrong length"));
        }
        let c = crc_from_raw(raw).ok_or_else(|| Error::internal("bad part crc"))?;
        acc = crc_combine(alg, acc, c, *len).ok_or_else(|| Error::internal("not a crc"))?;
    }
    Ok(if alg.digest_len() == 4 {
        (acc as u32).to_be_bytes().to_vec()
    } else {
        acc.to_be_bytes().to_vec()
    })
}

/// COMPOSITE checksum of a multipart object: base64 of the checksum of the concatenated
/// raw part checksums, then `-N`.
pub fn composite_checksum(alg: ChecksumAlgorithm, part_raw: &[&[u8]]) -> String {
    let mut d = Digester::new(alg);
    for p in part_raw {
        d.update(p);
    }
    format!("{}-{}", encode_b64(&d.finish()), part_raw.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn known_vectors() {
        let check = b"123456789";
        assert_eq!(
            digest(ChecksumAlgorithm::Crc32, check),
            0xCBF4_3926u32.to_be_bytes()
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Crc32c, check),
            0xE306_9283u32.to_be_bytes()
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Crc64Nvme, check),
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
        assert_eq!(
            encode_b64(&digest(ChecksumAlgorithm::Crc32, b"")),
            "AAAAAA=="
        );
        assert_eq!(
            encode_b64(&digest(ChecksumAlgorithm::Sha256, b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            encode_b64(&digest(ChecksumAlgorithm::Sha1, b"")),
            "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
        );
        assert_eq!(
            etag_from_md5(&md5_of(b"")),
            "\"d41d8cd98f00b204e9800998ecf8427e\""
        );
    }

    #[test]
    fn crc_combine_equals_direct_computation() {
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let all = data(10_000, 7);
            for split in [0, 1, 2, 3, 7, 64, 1000, 4095, 9999, 10_000] {
                let (a, b) = all.split_at(split);
                let ca = crc_from_raw(&digest(alg, a)).unwrap();
                let cb = crc_from_raw(&digest(alg, b)).unwrap();
                let whole = crc_from_raw(&digest(alg, &all)).unwrap();
                assert_eq!(
                    crc_combine(alg, ca, cb, b.len() as u64),
                    Some(whole),
                    "{alg:?} split {split}"
                );
            }
        }
        // Agrees with the crc32c crate's own combine on a large length.
        let (a, b) = (0x1234_5678u32, 0x9abc_def0u32);
        let len = 5 * 1024 * 1024 * 1024usize + 3;
        assert_eq!(
            crc_combine(ChecksumAlgorithm::Crc32c, a.into(), b.into(), len as u64),
            Some(u64::from(crc32c::crc32c_combine(a, b, len)))
        );
        assert_eq!(crc_combine(ChecksumAlgorithm::Sha1, 1, 2, 3), None);
    }

    #[test]
    fn full_object_crc_of_parts() {
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let all = data(50_000, 3);
            let cuts = [0usize, 17_000, 17_000, 40_001, 50_000];
            let raws: Vec<(Vec<u8>, u64)> = cuts
                .windows(2)
                .map(|w| (digest(alg, &all[w[0]..w[1]]), (w[1] - w[0]) as u64))
                .collect();
            let parts: Vec<(&[u8], u64)> = raws.iter().map(|(r, l)| (r.as_slice(), *l)).collect();
            assert_eq!(full_object_crc(alg, &parts).unwrap(), digest(alg, &all));
        }
        assert!(full_object_crc(ChecksumAlgorithm::Sha256, &[]).is_err());
    }

    #[test]
    fn composite_and_multipart_etag() {
        let p1 = digest(ChecksumAlgorithm::Crc32, b"hello ");
        let p2 = digest(ChecksumAlgorithm::Crc32, b"world");
        let mut cat = p1.clone();
        cat.extend_from_slice(&p2);
        assert_eq!(
            composite_checksum(ChecksumAlgorithm::Crc32, &[&p1, &p2]),
            format!("{}-2", encode_b64(&digest(ChecksumAlgorithm::Crc32, &cat)))
        );
        let m1 = md5_of(b"hello ");
        let m2 = md5_of(b"world");
        let mut cat = m1.to_vec();
        cat.extend_from_slice(&m2);
        assert_eq!(
            multipart_etag(&[m1, m2]),
            format!("\"{}-2\"", hex::encode(md5_of(&cat)))
        );
    }

    #[test]
    fn etag_lists_match_whole_tags() {
        let e = "\"abc-3\"";
        for yes in [
            "*",
            "\"abc-3\"",
            "W/\"abc-3\"",
            "abc-3",
            "\"x\", \"abc-3\"",
            " abc-3 ,x",
        ] {
            assert!(etag_list_matches(yes, e, true), "{yes}");
        }
        for no in [
            "\"abc-3,x\"",
            "\"x,abc-3\"",
            "\"abc-3\"\"",
            "\"abc-3",
            "abc-3\"",
            "\"abc\"",
            "",
        ] {
            assert!(!etag_list_matches(no, e, true), "{no}");
        }
        // Strong comparison (If-Match on a write): a weak tag never matches.
        assert!(!etag_list_matches("W/\"abc-3\"", e, false));
        assert!(etag_list_matches("W/\"x\", \"abc-3\"", e, false));
    }

    #[test]
    fn decoding_and_etags() {
        assert_eq!(decode_content_md5("not base64!"), Err(Error::InvalidDigest));
        assert_eq!(decode_content_md5(""), Err(Error::InvalidDigest));
        assert!(decode_content_md5(&encode_b64(&[0u8; 15])).is_err());
        assert_eq!(
            decode_content_md5(&encode_b64(&[9u8; 16])).unwrap(),
            [9u8; 16]
        );
        assert!(decode_checksum(ChecksumAlgorithm::Crc32, "AAAAAAAA").is_err());
        assert_eq!(
            decode_checksum(ChecksumAlgorithm::Sha256, "bad"),
            Err(Error::ChecksumMismatch("x-amz-checksum-sha256".into()))
        );
        assert_eq!(
            decode_checksum(ChecksumAlgorithm::Crc32, "AAAAAA==").unwrap(),
            vec![0; 4]
        );
        assert!(etags_match("\"abc\"", "abc"));
        assert!(etags_match("W/\"abc\"", "\"abc\""));
        assert!(!etags_match("abc", "abd"));
        assert_eq!(
            etag_md5("\"00000000000000000000000000000001\"").unwrap()[15],
            1
        );
        assert_eq!(etag_md5("\"0123-2\""), None);
    }

    #[test]
    fn content_hasher_matches_one_shot() {
        let all = data(300_000, 11);
        let mut h = ContentHasher::new(true, &ChecksumAlgorithm::ALL);
        for c in all.chunks(4099) {
            h.update(c);
        }
        let d = h.finish();
        assert_eq!(d.md5, Some(md5_of(&all)));
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(d.get(a).unwrap(), digest(a, &all).as_slice());
        }
    }
}
