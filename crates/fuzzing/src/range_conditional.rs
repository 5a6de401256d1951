//! `Range`, `x-amz-copy-source-range` and the conditional headers (`If-Match`,
//! `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`) as the S3 gateway parses
//! them and the object service applies them.
//!
//! Input: the object size (first bytes), then newline-separated header values.
//! Properties:
//! * a resolved range lies within the object (`start ≤ end < size`) and is exactly
//!   what RFC 9110 §14.1.2 prescribes; unsatisfiable ranges are `InvalidRange`, an
//!   invalid `a-b` with `b < a` is ignored;
//! * an accepted copy-source range has `first ≤ last`;
//! * read preconditions decide as RFC 9110 §13.2.2 orders them (If-Match, else
//!   If-Unmodified-Since; then If-None-Match, else If-Modified-Since), comparing one
//!   parsed entity tag exactly (weakly: `W/` ignored, as the service documents) and times
//!   at whole seconds; copy sources fail with `PreconditionFailed` instead of
//!   `NotModified`;
//! * a write condition is one of: none, `If-None-Match: *`, `If-Match: <etag>`.

use crate::input::Input;
use coffer_core::Error;
use coffer_core::model::WriteCondition;
use coffer_core::objects::{ByteRange, evaluate_conditions, resolve_range};
use coffer_s3::gateway::{byte_range, copy_range, raw_write_condition, read_conditions};
use http::{HeaderMap, HeaderValue};
use s3s::dto::{ETag, ETagCondition, Range, Timestamp, TimestampFormat};
use time::OffsetDateTime;

const ETAGS: &[&str] = &["\"d41d8cd98f00b204e9800998ecf8427e\"", "\"abc-3\""];

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let size = match input.byte() % 4 {
        0 => 0,
        1 => u64::from(input.byte()),
        2 => u64::from(input.u16()) << 8,
        _ => input.u64(),
    };
    let etag = ETAGS[usize::from(input.byte()) % ETAGS.len()];
    let for_copy = input.byte() % 2 == 1;
    let mut field = || input.text_until(b'\n');
    let (range, copy, if_match, if_none, since, unmod) =
        (field(), field(), field(), field(), field(), field());

    ranges(&range, size);
    if let Ok((a, b)) = copy_range(&copy, "rid") {
        assert!(a <= b, "{copy:?}");
    }
    conditions(etag, for_copy, &if_match, &if_none, &since, &unmod);
    write_conditions(&if_match, &if_none);
}

fn ranges(header: &str, size: u64) {
    let Ok(r) = Range::parse(header) else {
        return;
    };
    let br = byte_range(r);
    let expect = match br {
        ByteRange::Bounded(a, b) if b < a => Ok(None),
        ByteRange::Bounded(a, b) if a < size => Ok(Some((a, b.min(size - 1)))),
        ByteRange::From(a) if a < size => Ok(Some((a, size - 1))),
        ByteRange::Suffix(n) if n > 0 && size > 0 => Ok(Some((size - n.min(size), size - 1))),
        _ => Err(Error::InvalidRange),
    };
    let got = resolve_range(br, size);
    if let Ok(Some((s, e))) = got {
        assert!(
            s <= e && e < size,
            "{header:?} on {size} bytes gave {s}-{e}"
        );
    }
    assert_eq!(got, expect, "{header:?} on {size} bytes");
}

fn etag_cond(v: &str) -> Option<ETagCondition> {
    if v.is_empty() {
        return None;
    }
    ETagCondition::parse_http_header(v.as_bytes()).ok()
}

fn http_date(v: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, v).ok()
}

/// The one tag's value compared weakly with the stored `"value"`.
fn tag_matches(c: &ETagCondition, stored: &str) -> bool {
    match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(ETag::Strong(v) | ETag::Weak(v)) => {
            stored.strip_prefix('"').and_then(|s| s.strip_suffix('"')) == Some(v.as_str())
        }
    }
}

/// s3s 0.14 accepts `"` inside a quoted tag (`"abc""`), which RFC 9110 excludes; such a
/// value is not an entity tag, so no exact answer is prescribed for it.
fn is_rfc_tag(c: &Option<ETagCondition>) -> bool {
    match c {
        Some(ETagCondition::ETag(ETag::Strong(v) | ETag::Weak(v))) => !v.contains('"'),
        _ => true,
    }
}

fn conditions(etag: &str, for_copy: bool, im: &str, inm: &str, ims: &str, ius: &str) {
    let (im, inm) = (etag_cond(im), etag_cond(inm));
    let (ims, ius) = (http_date(ims), http_date(ius));
    let last_modified =
        OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_500_000_000).expect("valid");
    let secs = last_modified.unix_timestamp();
    let whole = |t: &Timestamp| OffsetDateTime::from(t.clone()).unix_timestamp();
    let c = read_conditions(im.as_ref(), inm.as_ref(), ims.clone(), ius.clone());
    let got = evaluate_conditions(etag, last_modified, &c, for_copy);
    if !is_rfc_tag(&im) || !is_rfc_tag(&inm) {
        return;
    }
    let failed = match &im {
        Some(m) => !tag_matches(m, etag),
        None => ius.as_ref().is_some_and(|t| secs > whole(t)),
    };
    let not_modified = match &inm {
        Some(n) => tag_matches(n, etag),
        None => ims.as_ref().is_some_and(|t| secs <= whole(t)),
    };
    let expect = if failed || (not_modified && for_copy) {
        Err(Error::PreconditionFailed)
    } else if not_modified {
        Err(Error::NotModified {
            etag: etag.to_string(),
        })
    } else {
        Ok(())
    };
    assert_eq!(
        got, expect,
        "etag {etag} if-match {im:?} if-none-match {inm:?} since {ims:?} unmodified {ius:?}"
    );
}

fn write_conditions(im: &str, inm: &str) {
    let mut h = HeaderMap::new();
    for (name, v) in [("if-match", im), ("if-none-match", inm)] {
        if v.is_empty() {
            continue;
        }
        let Ok(v) = HeaderValue::from_str(v) else {
            return;
        };
        h.insert(name, v);
    }
    match raw_write_condition(&h, "rid") {
        Ok(WriteCondition::None) => assert!(h.is_empty()),
        Ok(WriteCondition::IfNoneMatch) => {
            assert!(!h.contains_key("if-match"));
            assert_eq!(
                h.get("if-none-match").map(HeaderValue::as_bytes),
                Some(&b"*"[..])
            );
        }
        Ok(WriteCondition::IfNoneMatchEtag(tag)) => {
            assert!(!h.contains_key("if-match"));
            let parsed = etag_cond(inm).expect("accepted If-None-Match parses");
            assert!(matches!(parsed, ETagCondition::ETag(_)), "{inm:?}");
            assert_eq!(tag, coffer_s3::wire::etag_condition(&parsed));
        }
        Ok(WriteCondition::IfMatch(tag)) => {
            assert!(!h.contains_key("if-none-match"));
            let parsed = etag_cond(im).expect("accepted If-Match parses");
            assert_eq!(tag, coffer_s3::wire::etag_condition(&parsed));
        }
        Err(_) => {}
    }
}
