//! Bucket policy JSON (`PutBucketPolicy`): `BucketPolicy::parse` on arbitrary text, for
//! a bucket chosen by the first byte.
//!
//! Properties of every accepted document:
//! * re-serializing its JSON (compact and pretty, as a client library would send it)
//!   parses to an equal compiled policy, as long as the new text stays within the size
//!   limit — parsing depends on the JSON value, never on its spelling;
//! * the compiled policy can be evaluated for anonymous and authenticated requests,
//!   every verdict is the same for the re-parsed copy, and a `Deny` verdict names a
//!   statement whose label is non-empty.

use coffer_core::policy::{
    BucketPolicy, BucketVerdict, ContextKey, MAX_BUCKET_POLICY_BYTES, RequestContext,
};
use time::OffsetDateTime;

const BUCKETS: &[&str] = &["data", "logs-1", "b"];
const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:DeleteBucket",
];
const OWNER_ORG: &str = "orga01";

pub fn check(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let bucket = BUCKETS[usize::from(*first) % BUCKETS.len()];
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(policy) = BucketPolicy::parse(bucket, text) else {
        return;
    };
    assert_eq!(policy.bucket(), bucket);
    assert!(policy.statement_count() >= 1);
    let value: serde_json::Value = serde_json::from_str(text).expect("accepted text is JSON");
    let mut copies = Vec::new();
    for json in [
        serde_json::to_string(&value).expect("serializes"),
        serde_json::to_string_pretty(&value).expect("serializes"),
    ] {
        let significant = json.bytes().filter(|b| !b.is_ascii_whitespace()).count();
        // Re-spelling can lengthen a document (`1e2` becomes `100.0`) past the limit,
        // and pretty printing adds whitespace, which the raw-size bound counts.
        if significant > MAX_BUCKET_POLICY_BYTES || json.len() > 64 * 1024 {
            continue;
        }
        let again = BucketPolicy::parse(bucket, &json)
            .unwrap_or_else(|e| panic!("re-serialized policy refused: {e}\n{json}"));
        assert_eq!(again, policy, "re-serialized policy differs\n{json}");
        copies.push(again);
    }
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("valid time");
    let contexts = [
        RequestContext::anonymous(now),
        RequestContext::for_principal(OWNER_ORG, "coreweave/alice", false, now)
            .with(ContextKey::SourceIp, "10.1.2.3")
            .with_secure_transport(true),
        RequestContext::for_principal("orgb02", "role/ci", false, now),
    ];
    let _ = policy.is_public();
    for ctx in &contexts {
        for action in ACTIONS {
            for resource in [
                bucket.to_string(),
                format!("{bucket}/key"),
                "other/x".into(),
            ] {
                let v = policy.evaluate(ctx, OWNER_ORG, action, &resource);
                if let BucketVerdict::Deny(l) | BucketVerdict::Allow(l) = &v {
                    assert!(!l.is_empty());
                }
                for c in &copies {
                    assert_eq!(c.evaluate(ctx, OWNER_ORG, action, &resource), v);
                }
            }
        }
    }
}
