//! The request context of an authorization question (SPEC §3): who asks, and the
//! condition-key values of the request (`aws:SourceIp`, `s3:prefix`, …) that bucket
//! policy conditions and policy variables read.
//!
//! Invariants:
//! * The context is built once per request by the protocol layer (S3 gateway, AuthCanI)
//!   from facts it verified itself (the authenticated key, the socket, the parsed query);
//!   nothing in this module reads headers a client could forge for identity keys.
//! * Every key is single-valued. A key absent from the request is absent here (not an
//!   empty string), which is what `…IfExists`, `Null` and the negated operators test.
//! * Values are parsed once when set (number, time, IP, bool), so condition evaluation
//!   never parses request data.
//! * Key names are case-insensitive (as in AWS); [`ContextKey::name`] is the canonical
//!   spelling.

use std::net::IpAddr;

use time::OffsetDateTime;

use super::eval::Subject;

/// The condition keys Coffer knows. A bucket policy naming any other key is rejected at
/// `PutBucketPolicy` time (never silently false at request time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextKey {
    SourceIp,
    SecureTransport,
    CurrentTime,
    EpochTime,
    PrincipalArn,
    Username,
    Userid,
    PrincipalOrgId,
    PrincipalType,
    Referer,
    UserAgent,
    S3Prefix,
    S3Delimiter,
    S3MaxKeys,
    S3XAmzAcl,
    S3AuthType,
    S3SignatureVersion,
    S3XAmzContentSha256,
    S3XAmzCopySource,
    S3XAmzMetadataDirective,
    S3XAmzStorageClass,
    S3XAmzGrantRead,
    S3XAmzGrantWrite,
    S3XAmzGrantReadAcp,
    S3XAmzGrantWriteAcp,
    S3XAmzGrantFullControl,
    S3XAmzObjectOwnership,
    S3XAmzServerSideEncryption,
    S3XAmzServerSideEncryptionCustomerAlgorithm,
    S3XAmzServerSideEncryptionAwsKmsKeyId,
}

/// Operator families (for checking that an operator suits a key at parse time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    String,
    Numeric,
    Date,
    Bool,
    Ip,
    Arn,
}

const KEY_COUNT: usize = 30;

/// (canonical name, key). Order = discriminant order.
const KEYS: [(&str, ContextKey); KEY_COUNT] = [
    ("aws:SourceIp", ContextKey::SourceIp),
    ("aws:SecureTransport", ContextKey::SecureTransport),
    ("aws:CurrentTime", ContextKey::CurrentTime),
    ("aws:EpochTime", ContextKey::EpochTime),
    ("aws:PrincipalArn", ContextKey::PrincipalArn),
    ("aws:username", ContextKey::Username),
    ("aws:userid", ContextKey::Userid),
    ("cw:PrincipalOrgID", ContextKey::PrincipalOrgId),
    ("aws:PrincipalType", ContextKey::PrincipalType),
    ("aws:Referer", ContextKey::Referer),
    ("aws:UserAgent", ContextKey::UserAgent),
    ("s3:prefix", ContextKey::S3Prefix),
    ("s3:delimiter", ContextKey::S3Delimiter),
    ("s3:max-keys", ContextKey::S3MaxKeys),
    ("s3:x-amz-acl", ContextKey::S3XAmzAcl),
    ("s3:authType", ContextKey::S3AuthType),
    ("s3:signatureversion", ContextKey::S3SignatureVersion),
    ("s3:x-amz-content-sha256", ContextKey::S3XAmzContentSha256),
    ("s3:x-amz-copy-source", ContextKey::S3XAmzCopySource),
    (
        "s3:x-amz-metadata-directive",
        ContextKey::S3XAmzMetadataDirective,
    ),
    ("s3:x-amz-storage-class", ContextKey::S3XAmzStorageClass),
    ("s3:x-amz-grant-read", ContextKey::S3XAmzGrantRead),
    ("s3:x-amz-grant-write", ContextKey::S3XAmzGrantWrite),
    ("s3:x-amz-grant-read-acp", ContextKey::S3XAmzGrantReadAcp),
    ("s3:x-amz-grant-write-acp", ContextKey::S3XAmzGrantWriteAcp),
    (
        "s3:x-amz-grant-full-control",
        ContextKey::S3XAmzGrantFullControl,
    ),
    (
        "s3:x-amz-object-ownership",
        ContextKey::S3XAmzObjectOwnership,
    ),
    (
        "s3:x-amz-server-side-encryption",
        ContextKey::S3XAmzServerSideEncryption,
    ),
    (
        "s3:x-amz-server-side-encryption-customer-algorithm",
        ContextKey::S3XAmzServerSideEncryptionCustomerAlgorithm,
    ),
    (
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        ContextKey::S3XAmzServerSideEncryptionAwsKmsKeyId,
    ),
];

impl ContextKey {
    /// Every key, in canonical order.
    pub fn all() -> impl Iterator<Item = ContextKey> {
        KEYS.iter().map(|(_, k)| *k)
    }

    /// Case-insensitive lookup of a key name.
    pub fn parse(name: &str) -> Option<ContextKey> {
        KEYS.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, k)| *k)
    }

    /// Canonical spelling.
    pub fn name(self) -> &'static str {
        KEYS[self.index()].0
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The operator families that make sense for this key. `String` operators and
    /// `Null` are accepted on every key (AWS compares any value as a string).
    pub(crate) fn accepts(self, kind: KeyKind) -> bool {
        use ContextKey as K;
        match kind {
            KeyKind::String => true,
            KeyKind::Numeric => matches!(self, K::EpochTime | K::S3MaxKeys),
            KeyKind::Date => matches!(self, K::CurrentTime | K::EpochTime),
            KeyKind::Bool => matches!(self, K::SecureTransport),
            KeyKind::Ip => matches!(self, K::SourceIp),
            KeyKind::Arn => matches!(self, K::PrincipalArn),
        }
    }
}

/// One request value, parsed once into every form an operator may compare.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextValue {
    pub text: String,
    pub(crate) number: Option<f64>,
    /// Unix time in nanoseconds.
    pub(crate) time: Option<i128>,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) boolean: Option<bool>,
}

impl ContextValue {
    fn new(text: String) -> Self {
        let number = parse_number(&text);
        let time = parse_time(&text);
        let ip = text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        let boolean = parse_bool(&text);
        ContextValue {
            text,
            number,
            time,
            ip,
            boolean,
        }
    }
}

/// Decimal numbers as AWS accepts them (`10`, `-3`, `2.5`); not `inf`/`nan`/hex.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `true`/`false`, case-insensitive.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Dates as AWS accepts them in `Date*` conditions: RFC 3339 / ISO 8601 date-times
/// (`2026-01-02T03:04:05Z`, with fractions or offsets), plain dates (`2026-01-02`,
/// midnight UTC) and Unix epoch seconds (`1767323045`). Returns Unix nanoseconds.
pub(crate) fn parse_time(s: &str) -> Option<i128> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().ok()?;
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp_nanos())
}

/// The authenticated principal of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPrincipal {
    /// The principal's own org.
    pub org_id: String,
    /// `coreweave/<uid>` or `role/<…>`.
    pub principal: String,
    /// The org-admin role (grants `cwobject:*` only; never S3 permissions).
    pub is_org_admin: bool,
}

/// Everything an authorization decision may look at besides the policies.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestContext {
    principal: Option<RequestPrincipal>,
    values: [Option<ContextValue>; KEY_COUNT],
}

impl RequestContext {
    /// An unsigned request at time `now`.
    pub fn anonymous(now: OffsetDateTime) -> Self {
        let mut c = RequestContext {
            principal: None,
            values: Default::default(),
        };
        c.set_time(now);
        c.set(ContextKey::PrincipalType, "Anonymous");
        c
    }

    /// An authenticated principal of `org_id` at time `now`. Sets the identity keys:
    /// `aws:PrincipalArn` = `arn:aws:iam::<orgId>:<principal>`, `cw:PrincipalOrgID`,
    /// `aws:userid` (the uid for `coreweave/<uid>`, the whole principal otherwise),
    /// `aws:username` (the uid; absent for `role/…` principals, like AWS roles) and
    /// `aws:PrincipalType` (`User` or `AssumedRole`).
    pub fn for_principal(
        org_id: &str,
        principal: &str,
        is_org_admin: bool,
        now: OffsetDateTime,
    ) -> Self {
        let mut c = RequestContext {
            principal: Some(RequestPrincipal {
                org_id: org_id.to_owned(),
                principal: principal.to_owned(),
                is_org_admin,
            }),
            values: Default::default(),
        };
        c.set_time(now);
        c.set(
            ContextKey::PrincipalArn,
            &format!("arn:aws:iam::{org_id}:{principal}"),
        );
        c.set(ContextKey::PrincipalOrgId, org_id);
        match principal.strip_prefix("coreweave/") {
            Some(uid) => {
                c.set(ContextKey::Username, uid);
                c.set(ContextKey::Userid, uid);
                c.set(ContextKey::PrincipalType, "User");
            }
            None => {
                c.set(ContextKey::Userid, principal);
                c.set(ContextKey::PrincipalType, "AssumedRole");
            }
        }
        c
    }

    fn set_time(&mut self, now: OffsetDateTime) {
        self.set(ContextKey::CurrentTime, &crate::clock::rfc3339(now));
        self.set(ContextKey::EpochTime, &now.unix_timestamp().to_string());
    }

    /// Sets (replaces) one key.
    pub fn set(&mut self, key: ContextKey, value: &str) {
        self.values[key.index()] = Some(ContextValue::new(value.to_owned()));
    }

    /// Removes one key.
    pub fn unset(&mut self, key: ContextKey) {
        self.values[key.index()] = None;
    }

    /// Builder form of [`RequestContext::set`].
    pub fn with(mut self, key: ContextKey, value: &str) -> Self {
        self.set(key, value);
        self
    }

    /// `aws:SourceIp` (IPv4-mapped IPv6 addresses are stored as IPv4).
    pub fn with_source_ip(self, ip: IpAddr) -> Self {
        self.with(ContextKey::SourceIp, &ip.to_canonical().to_string())
    }

    /// `aws:SecureTransport`.
    pub fn with_secure_transport(self, secure: bool) -> Self {
        self.with(
            ContextKey::SecureTransport,
            if secure { "true" } else { "false" },
        )
    }

    /// The value of `key`, if the request has it.
    pub fn get(&self, key: ContextKey) -> Option<&ContextValue> {
        self.values[key.index()].as_ref()
    }

    /// The authenticated principal; `None` for anonymous requests.
    pub fn principal(&self) -> Option<&RequestPrincipal> {
        self.principal.as_ref()
    }

    pub fn is_anonymous(&self) -> bool {
        self.principal.is_none()
    }

    /// The org-layer subject of this request.
    pub fn subject(&self) -> Subject<'_> {
        match &self.principal {
            Some(p) => Subject {
                principal: &p.principal,
                is_org_admin: p.is_org_admin,
                anonymous: false,
            },
            None => Subject::anonymous(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_table_matches_discriminants() {
        for (i, (name, k)) in KEYS.iter().enumerate() {
            assert_eq!(k.index(), i, "{name}");
            assert_eq!(ContextKey::parse(&name.to_uppercase()), Some(*k));
        }
        assert_eq!(ContextKey::parse("aws:nope"), None);
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-2.5"), Some(-2.5));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("1e3"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000_000_000));
        assert_eq!(
            parse_time("1970-01-01T00:00:01Z"),
            Some(1_000_000_000),
            "rfc3339"
        );
        assert_eq!(parse_time("1970-01-01T01:00:01+01:00"), Some(1_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn identity_keys() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let c = RequestContext::for_principal("abc123", "coreweave/u1", false, now);
        assert_eq!(
            c.get(ContextKey::PrincipalArn).unwrap().text,
            "arn:aws:iam::abc123:coreweave/u1"
        );
        assert_eq!(c.get(ContextKey::Username).unwrap().text, "u1");
        assert_eq!(c.get(ContextKey::EpochTime).unwrap().number, Some(0.0));
        assert_eq!(c.get(ContextKey::CurrentTime).unwrap().time, Some(0));
        let r = RequestContext::for_principal("abc123", "role/ci", false, now);
        assert!(r.get(ContextKey::Username).is_none());
        let a = RequestContext::anonymous(now);
        assert!(a.get(ContextKey::PrincipalArn).is_none());
        assert!(a.subject().anonymous);
        let v6 = a.with_source_ip("::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(v6.get(ContextKey::SourceIp).unwrap().text, "10.0.0.1");
    }
}
