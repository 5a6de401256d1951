//! Property checks run by the cargo-fuzz targets under `fuzz/` and, on stable, by the
//! corpus replay test (`tests/corpus_replay.rs`) over every committed corpus and
//! regression input. Each check takes the fuzzer's raw bytes and panics when a property
//! of the product code is violated (or when the product code itself panics).
//!
//! Keeping the checks here, not in the fuzz crate, means the nightly-only fuzz build and
//! the stable CI replay run exactly the same code.

pub mod aws_chunked;
pub mod bucket_policy;
pub mod input;
pub mod jwt;
pub mod mutate;
pub mod names;
pub mod org_policy;
pub mod range_conditional;
pub mod s3_xml;
pub mod saml;

/// A property check over one fuzz input.
pub type Check = fn(&[u8]);

/// Every target: its name (the `fuzz/fuzz_targets/<name>.rs` binary and the
/// `fuzz/corpus/<name>/` directory) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("org_policy", org_policy::check),
    ("bucket_policy", bucket_policy::check),
    ("saml", saml::check),
    ("jwt", jwt::check),
    ("s3_xml", s3_xml::check),
    ("range_conditional", range_conditional::check),
    ("aws_chunked", aws_chunked::check),
    ("names", names::check),
];
