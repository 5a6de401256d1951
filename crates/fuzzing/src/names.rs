//! Object-key and bucket-name parsing: the name validators, the virtual-host parser,
//! the bucket a CORS preflight addresses, `encoding-type=url` coding, continuation
//! tokens and the `x-amz-tagging` header.
//!
//! Properties:
//! * `validate_bucket_name` accepts exactly the names the documented rules allow
//!   (SPEC §4: 3–63 of `[a-z0-9-]`, alphanumeric at both ends, no `xn--`, reserved
//!   prefixes and `int` only for the service itself);
//! * `validate_object_key` accepts exactly 1..=1024 bytes;
//! * `url_encode` emits only unreserved characters, `/` and `%XX`, and
//!   `percent_decode` inverts it; `decode_token` inverts `encode_token`;
//! * a virtual-hosted bucket is what precedes `.<domain>` in the host (port and
//!   trailing dot ignored, domain case-insensitive);
//! * an accepted `x-amz-tagging` header holds at most 10 tags, none prefixed `aws:`.

use coffer_core::ids::{
    MAX_KEY_LEN, RESERVED_BUCKET_PREFIXES, validate_bucket_name, validate_object_key,
};
use coffer_s3::host::DomainHost;
use coffer_s3::wire::{decode_token, encode_token, parse_tagging, percent_decode, url_encode};
use s3s::host::S3Host as _;

const DOMAIN: &str = "s3.example.com";

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    bucket_names(&text);
    if let Ok(s) = std::str::from_utf8(data) {
        object_keys(s);
        hosts(s);
        let _ = coffer_s3::wire::query_pairs(s);
        if let Ok(tags) = parse_tagging(s) {
            assert!(tags.len() <= coffer_s3::tagging::MAX_OBJECT_TAGS);
            assert!(
                tags.keys().all(|k| !k.is_empty()
                    && !k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")))
            );
        }
    }
}

fn bucket_rules(name: &str, allow_reserved: bool) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.starts_with("xn--")
        && (allow_reserved
            || (name != "int" && !RESERVED_BUCKET_PREFIXES.iter().any(|p| name.starts_with(p))))
}

fn bucket_names(name: &str) {
    for allow_reserved in [false, true] {
        let got = validate_bucket_name(name, allow_reserved).is_ok();
        assert_eq!(
            got,
            bucket_rules(name, allow_reserved),
            "bucket name {name:?} (reserved allowed: {allow_reserved})"
        );
    }
}

fn object_keys(key: &str) {
    let ok = validate_object_key(key).is_ok();
    assert_eq!(
        ok,
        !key.is_empty() && key.len() <= MAX_KEY_LEN,
        "key {key:?}"
    );
    let enc = url_encode(key);
    let b = enc.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            assert!(
                b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit),
                "{enc:?}"
            );
            i += 3;
        } else {
            assert!(
                b[i].is_ascii_alphanumeric() || b"-_.~/".contains(&b[i]),
                "{enc:?}"
            );
            i += 1;
        }
    }
    assert_eq!(percent_decode(&enc), key);
    assert_eq!(decode_token(&encode_token(key)).as_deref(), Some(key));
}

fn hosts(host: &str) {
    let d = DomainHost::new(DOMAIN);
    let vh = d
        .parse_host_header(host)
        .expect("host parsing never fails: unknown hosts are path style");
    if let Some(bucket) = vh.bucket() {
        let h = match host.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let h = h.trim_end_matches('.');
        assert!(!bucket.is_empty(), "{host:?}");
        let rest = h
            .strip_prefix(bucket)
            .expect("the bucket is the host's prefix");
        assert!(
            rest.len() == DOMAIN.len() + 1
                && rest.starts_with('.')
                && rest[1..].eq_ignore_ascii_case(DOMAIN),
            "{host:?} gave bucket {bucket:?}"
        );
    }
    let path = format!("/{host}");
    let _ = coffer_s3::cors::bucket_of(Some(DOMAIN), Some(host), &path);
}
