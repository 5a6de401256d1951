//! Bucket-policy `Condition` blocks: parsing (operator names, keys, values), the IP
//! range matcher, and evaluation against a [`RequestContext`].
//!
//! Semantics (AWS IAM's, for single-valued keys):
//! * A block is the AND of its operators; an operator is the AND of its keys; a key
//!   matches if the request value matches ANY of the listed values (for negated
//!   operators: matches NONE of them).
//! * Key absent from the request: positive operators are false, negated operators
//!   (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`, …) are true, `…IfExists` is true,
//!   `Null: true` is true.
//! * `ForAnyValue:` is false and `ForAllValues:` is true for an absent key (empty set);
//!   for a present key both reduce to the plain test of its one value.
//! * A request value that does not parse as the operator's type (a non-number for
//!   `Numeric*`) matches no policy value.
//!
//! Invariant: every policy value is parsed here, at `PutBucketPolicy` time; a value an
//! operator cannot use (a bad CIDR, a date that does not parse, an unknown key or
//! operator) is an error then, never a silently false condition at request time.

use std::net::IpAddr;

use serde_json::Value;

use super::context::{
    ContextKey, ContextValue, KeyKind, RequestContext, parse_bool, parse_number, parse_time,
};
use super::pattern::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The base operator (after prefix/suffix stripping and negation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Ip,
    Arn,
    Null,
}

impl Op {
    fn kind(self) -> KeyKind {
        match self {
            Op::StringEquals | Op::StringEqualsIgnoreCase | Op::StringLike | Op::Null => {
                KeyKind::String
            }
            Op::Numeric(_) => KeyKind::Numeric,
            Op::Date(_) => KeyKind::Date,
            Op::Bool => KeyKind::Bool,
            Op::Ip => KeyKind::Ip,
            Op::Arn => KeyKind::Arn,
        }
    }
}

/// Base operator names: (name, operator, negated).
const OPERATORS: &[(&str, Op, bool)] = &[
    ("StringEquals", Op::StringEquals, false),
    ("StringNotEquals", Op::StringEquals, true),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase, false),
    (
        "StringNotEqualsIgnoreCase",
        Op::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Op::StringLike, false),
    ("StringNotLike", Op::StringLike, true),
    ("NumericEquals", Op::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Op::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Op::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Op::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Op::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Op::Numeric(Cmp::Ge), false),
    ("DateEquals", Op::Date(Cmp::Eq), false),
    ("DateNotEquals", Op::Date(Cmp::Eq), true),
    ("DateLessThan", Op::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Op::Date(Cmp::Le), false),
    ("DateGreaterThan", Op::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Op::Date(Cmp::Ge), false),
    ("Bool", Op::Bool, false),
    ("IpAddress", Op::Ip, false),
    ("NotIpAddress", Op::Ip, true),
    ("ArnEquals", Op::Arn, false),
    ("ArnNotEquals", Op::Arn, true),
    ("ArnLike", Op::Arn, false),
    ("ArnNotLike", Op::Arn, true),
    ("Null", Op::Null, false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetMode {
    Single,
    AnyValue,
    AllValues,
}

/// An IPv4 or IPv6 network. Invariant: host bits of `addr` are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `a.b.c.d[/n]` or an IPv6 address `[/n]`; a bare address is a single host.
    /// Host bits beyond the prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (a, Some(p.parse::<u8>().ok()?))
            }
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return None;
        }
        Some(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// True if `ip` is inside the network. IPv4 never matches an IPv6 network or vice
    /// versa (callers canonicalise IPv4-mapped IPv6 addresses to IPv4 first).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }

    /// True for `0.0.0.0/0` and `::/0`.
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// One parsed policy value.
#[derive(Debug, Clone, PartialEq)]
enum CondValue {
    Text(Template),
    Number(f64),
    Time(i128),
    Bool(bool),
    Net(Cidr),
    Null(bool),
}

/// One (operator, key, values) test.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    op: Op,
    negated: bool,
    if_exists: bool,
    set: SetMode,
    key: ContextKey,
    values: Vec<CondValue>,
}

/// Parses an operator name such as `ForAnyValue:StringNotLikeIfExists`.
/// Prefixes and names are matched case-insensitively.
fn parse_operator(name: &str) -> Result<(Op, bool, bool, SetMode), String> {
    let (set, rest) = if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
        (SetMode::AnyValue, r)
    } else if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
        (SetMode::AllValues, r)
    } else {
        (SetMode::Single, name)
    };
    let (base, if_exists) = match strip_suffix_ci(rest, "IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let &(_, op, negated) = OPERATORS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(base))
        .ok_or_else(|| format!("unknown condition operator {name:?}"))?;
    if op == Op::Null && (if_exists || set != SetMode::Single) {
        return Err(format!(
            "unknown condition operator {name:?} (Null takes no IfExists suffix or set prefix)"
        ));
    }
    Ok((op, negated, if_exists, set))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    (s.is_char_boundary(cut) && s[cut..].eq_ignore_ascii_case(suffix)).then(|| &s[..cut])
}

/// A JSON scalar as policy text (`"x"`, `10`, `true`).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses a whole `Condition` object into its tests.
pub(crate) fn parse_conditions(v: &Value, variables: bool) -> Result<Vec<Condition>, String> {
    let ops = v
        .as_object()
        .ok_or("Condition must be an object of operators")?;
    if ops.is_empty() {
        return Err("Condition must not be empty".into());
    }
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let (op, negated, if_exists, set) = parse_operator(op_name)?;
        let keys = keys
            .as_object()
            .ok_or_else(|| format!("Condition {op_name}: must be an object of condition keys"))?;
        if keys.is_empty() {
            return Err(format!("Condition {op_name}: no condition key"));
        }
        for (key_name, vals) in keys {
            let key = ContextKey::parse(key_name).ok_or_else(|| {
                format!("Condition {op_name}: unknown or unsupported condition key {key_name:?}")
            })?;
            if !key.accepts(op.kind()) {
                return Err(format!(
                    "Condition {op_name}: operator cannot be used with key {}",
                    key.name()
                ));
            }
            let raw: Vec<&Value> = match vals {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            if raw.is_empty() {
                return Err(format!("Condition {op_name}: {key_name}: no value"));
            }
            let mut values = Vec::with_capacity(raw.len());
            for r in raw {
                let text = scalar_text(r).ok_or_else(|| {
                    format!("Condition {op_name}: {key_name}: values must be strings")
                })?;
                values.push(
                    parse_value(op, &text, variables)
                        .map_err(|e| format!("Condition {op_name}: {key_name}: {e}"))?,
                );
            }
            out.push(Condition {
                op,
                negated,
                if_exists,
                set,
                key,
                values,
            });
        }
    }
    Ok(out)
}

fn parse_value(op: Op, text: &str, variables: bool) -> Result<CondValue, String> {
    let bad = |what: &str| format!("{text:?} is not {what}");
    Ok(match op {
        Op::StringEquals | Op::StringEqualsIgnoreCase | Op::StringLike | Op::Arn => {
            CondValue::Text(Template::parse(text, variables)?)
        }
        Op::Numeric(_) => CondValue::Number(parse_number(text).ok_or_else(|| bad("a number"))?),
        Op::Date(_) => CondValue::Time(
            parse_time(text).ok_or_else(|| bad("an ISO 8601 date or epoch seconds"))?,
        ),
        Op::Bool => CondValue::Bool(parse_bool(text).ok_or_else(|| bad("true or false"))?),
        Op::Ip => CondValue::Net(
            Cidr::parse(text).ok_or_else(|| bad("an IPv4 or IPv6 address or CIDR range"))?,
        ),
        Op::Null => CondValue::Null(parse_bool(text).ok_or_else(|| bad("true or false"))?),
    })
}

impl Condition {
    /// Evaluates the test (module docs).
    pub(crate) fn holds(&self, ctx: &RequestContext) -> bool {
        let value = ctx.get(self.key);
        if self.op == Op::Null {
            let absent = value.is_none();
            return self.values.contains(&CondValue::Null(absent));
        }
        match (value, self.set) {
            (None, SetMode::Single) => self.if_exists || self.negated,
            (None, SetMode::AnyValue) => self.if_exists,
            (None, SetMode::AllValues) => true,
            (Some(v), _) => {
                let any = self.values.iter().any(|pv| self.value_matches(pv, v, ctx));
                any != self.negated
            }
        }
    }

    fn value_matches(&self, pv: &CondValue, v: &ContextValue, ctx: &RequestContext) -> bool {
        match (self.op, pv) {
            (Op::StringEquals, CondValue::Text(t)) => t.expand(ctx).is_some_and(|e| e == v.text),
            (Op::StringEqualsIgnoreCase, CondValue::Text(t)) => t
                .expand(ctx)
                .is_some_and(|e| e.to_lowercase() == v.text.to_lowercase()),
            (Op::StringLike, CondValue::Text(t)) => t.glob_matches(ctx, &v.text),
            (Op::Arn, CondValue::Text(t)) => t.arn_matches(ctx, &v.text),
            (Op::Numeric(c), CondValue::Number(n)) => v.number.is_some_and(|r| c.holds(r, *n)),
            (Op::Date(c), CondValue::Time(t)) => v.time.is_some_and(|r| c.holds(r, *t)),
            (Op::Bool, CondValue::Bool(b)) => v.boolean == Some(*b),
            (Op::Ip, CondValue::Net(n)) => v.ip.is_some_and(|ip| n.contains(ip)),
            // Unreachable by construction (parse_value pairs them); never a match.
            _ => false,
        }
    }

    /// True if this test narrows who (or from where) may use an Allow, by S3's rule for
    /// "public" (`GetBucketPolicyStatus.IsPublic`, Public Access Block): a source-IP
    /// test that excludes some address, or a positive test of the principal's ARN or org
    /// against fixed values only (no wildcard, no policy variable). Tests that admit any
    /// signed caller of any org (`Null: false`, `aws:PrincipalType`, a user name, a
    /// pattern such as `arn:aws:iam::*`) do not narrow it; neither do negated,
    /// `…IfExists` or `ForAllValues` tests, which a request without the key passes.
    pub(crate) fn restricts_public_access(&self) -> bool {
        use ContextKey as K;
        if self.negated || self.if_exists || self.set == SetMode::AllValues {
            return false;
        }
        match self.key {
            K::SourceIp => {
                self.op == Op::Ip
                    && !self
                        .values
                        .iter()
                        .any(|v| matches!(v, CondValue::Net(n) if n.is_everything()))
            }
            K::PrincipalArn | K::PrincipalOrgId => {
                matches!(
                    self.op,
                    Op::StringEquals | Op::StringEqualsIgnoreCase | Op::StringLike | Op::Arn
                ) && !self.values.is_empty()
                    && self
                        .values
                        .iter()
                        .all(|v| matches!(v, CondValue::Text(t) if t.is_fixed()))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let n = Cidr::parse("10.1.2.3/8").unwrap();
        assert!(n.contains("10.200.0.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(
            Cidr::parse("1.2.3.4")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(
            !Cidr::parse("1.2.3.4")
                .unwrap()
                .contains("1.2.3.5".parse().unwrap())
        );
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().is_everything());
        assert!(
            Cidr::parse("::/0")
                .unwrap()
                .contains("fe80::1".parse().unwrap())
        );
        for bad in [
            "1.2.3.4/33",
            "::/129",
            "1.2.3/24",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "x",
            "",
            "1.2.3.4/8/8",
            "1.2.3.4/0008",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn operator_names() {
        assert!(parse_operator("StringEquals").is_ok());
        assert!(parse_operator("stringequals").is_ok());
        assert_eq!(
            parse_operator("ForAllValues:StringLikeIfExists").unwrap(),
            (Op::StringLike, false, true, SetMode::AllValues)
        );
        assert_eq!(
            parse_operator("NotIpAddress").unwrap(),
            (Op::Ip, true, false, SetMode::Single)
        );
        assert!(parse_operator("StringEqual").is_err());
        assert!(parse_operator("NullIfExists").is_err());
        assert!(parse_operator("ForAnyValue:Null").is_err());
        assert!(parse_operator("IfExists").is_err());
        assert!(parse_operator("").is_err());
    }
}
