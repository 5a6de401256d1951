//! Bucket-policy strings with policy variables (`${aws:username}`) and wildcards.
//!
//! A [`Template`] is parsed once (at `PutBucketPolicy` time) into pieces:
//! * `Text` — policy text; in glob contexts (`Resource`, `StringLike`, `ArnLike`) its `*`
//!   and `?` are wildcards;
//! * `Literal` — the escapes `${*}`, `${?}`, `${$}`: always the literal character;
//! * `Var` — a request-context key (optionally `${key, 'default'}`), substituted at
//!   request time as literal text (a `*` inside a value never acts as a wildcard).
//!
//! Invariants:
//! * A variable whose key the request lacks (and that has no default) makes the whole
//!   template fail to match (AWS: the element does not match), never match "empty".
//! * Templates without variables or escapes match through the allocation-free
//!   [`glob_match`] on the original text (the fast path); the token matcher below is
//!   only used when substitution or escapes are involved and has the same semantics.
//! * With policy version `2008-10-17` variables are not recognised: `${…}` is plain text.

use std::borrow::Cow;

use super::context::{ContextKey, RequestContext};
use super::glob::glob_match;

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(Box<str>),
    Literal(char),
    Var {
        key: ContextKey,
        default: Option<Box<str>>,
    },
}

/// A parsed policy string (see module docs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    source: Box<str>,
    /// `None` when `source` is plain text (the fast path).
    pieces: Option<Box<[Piece]>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Byte(u8),
    Star,
    One,
}

impl Template {
    /// Parses `s`; `variables` is false for policy version `2008-10-17`.
    pub(crate) fn parse(s: &str, variables: bool) -> Result<Template, String> {
        if !variables || !s.contains("${") {
            return Ok(Template {
                source: s.into(),
                pieces: None,
            });
        }
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].into()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unterminated policy variable in {s:?}"))?;
            pieces.push(parse_variable(&after[..end])?);
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.into()));
        }
        Ok(Template {
            source: s.into(),
            pieces: Some(pieces.into_boxed_slice()),
        })
    }

    /// A fixed value in S3's sense: no policy variable and no wildcard (`*`, `?`), so
    /// it means the same text whatever the request and whatever the operator.
    pub(crate) fn is_fixed(&self) -> bool {
        self.pieces.is_none() && !self.source.contains(['*', '?'])
    }

    /// The exact text after substitution (wildcards are not special); `None` if a
    /// variable is missing from the request.
    pub(crate) fn expand<'a>(&'a self, ctx: &'a RequestContext) -> Option<Cow<'a, str>> {
        let Some(pieces) = &self.pieces else {
            return Some(Cow::Borrowed(&self.source));
        };
        let mut out = String::with_capacity(self.source.len());
        for p in pieces.iter() {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Literal(c) => out.push(*c),
                Piece::Var { key, default } => out.push_str(var_value(*key, default, ctx)?),
            }
        }
        Some(Cow::Owned(out))
    }

    /// Case-sensitive whole-string glob match against `text`.
    pub(crate) fn glob_matches(&self, ctx: &RequestContext, text: &str) -> bool {
        match self.tokens(ctx) {
            None => false,
            Some(None) => glob_match(&self.source, text),
            Some(Some(toks)) => tokens_match(&toks, text.as_bytes()),
        }
    }

    /// The same glob with every variable treated as `*` (what the template could match
    /// for some request). Used by parse-time checks only.
    pub(crate) fn any_request_glob(&self) -> String {
        let Some(pieces) = &self.pieces else {
            return self.source.to_string();
        };
        let mut out = String::new();
        for p in pieces.iter() {
            match p {
                Piece::Text(t) => out.push_str(t),
                // A literal wildcard character matches itself, which `?` also does.
                Piece::Literal('*' | '?') => out.push('?'),
                Piece::Literal(c) => out.push(*c),
                Piece::Var { .. } => out.push('*'),
            }
        }
        out
    }

    /// ARN match (`ArnLike`/`ArnEquals`): both sides are split into their six
    /// `:`-separated components (the last one keeps further colons) and compared
    /// component by component with globs, so a `*` never spans a `:` boundary of the
    /// first five components. A value that is not a six-part `arn:` string never
    /// matches.
    pub(crate) fn arn_matches(&self, ctx: &RequestContext, value: &str) -> bool {
        let v: Vec<&[u8]> = value.as_bytes().splitn(6, |&b| b == b':').collect();
        if v.len() != 6 || v[0] != b"arn" {
            return false;
        }
        let toks: Vec<Tok> = match self.tokens(ctx) {
            None => return false,
            Some(None) => text_tokens(&self.source).collect(),
            Some(Some(t)) => t,
        };
        let mut parts: Vec<&[Tok]> = Vec::with_capacity(6);
        let mut rest: &[Tok] = &toks;
        while parts.len() < 5 {
            match rest.iter().position(|t| *t == Tok::Byte(b':')) {
                Some(i) => {
                    parts.push(&rest[..i]);
                    rest = &rest[i + 1..];
                }
                None => return false,
            }
        }
        parts.push(rest);
        parts.iter().zip(&v).all(|(p, text)| tokens_match(p, text))
    }

    /// `None`: a variable is missing. `Some(None)`: plain text, use `source`.
    /// `Some(Some(tokens))`: substituted tokens.
    fn tokens(&self, ctx: &RequestContext) -> Option<Option<Vec<Tok>>> {
        let Some(pieces) = &self.pieces else {
            return Some(None);
        };
        let mut toks = Vec::with_capacity(self.source.len());
        for p in pieces.iter() {
            match p {
                Piece::Text(t) => toks.extend(text_tokens(t)),
                Piece::Literal(c) => {
                    let mut buf = [0u8; 4];
                    toks.extend(c.encode_utf8(&mut buf).bytes().map(Tok::Byte));
                }
                Piece::Var { key, default } => {
                    toks.extend(var_value(*key, default, ctx)?.bytes().map(Tok::Byte))
                }
            }
        }
        Some(Some(toks))
    }
}

fn text_tokens(t: &str) -> impl Iterator<Item = Tok> + '_ {
    t.bytes().map(|b| match b {
        b'*' => Tok::Star,
        b'?' => Tok::One,
        b => Tok::Byte(b),
    })
}

fn var_value<'a>(
    key: ContextKey,
    default: &'a Option<Box<str>>,
    ctx: &'a RequestContext,
) -> Option<&'a str> {
    match ctx.get(key) {
        Some(v) => Some(&v.text),
        None => default.as_deref(),
    }
}

/// The inside of `${…}`.
fn parse_variable(inner: &str) -> Result<Piece, String> {
    match inner {
        "*" => return Ok(Piece::Literal('*')),
        "?" => return Ok(Piece::Literal('?')),
        "$" => return Ok(Piece::Literal('$')),
        _ => {}
    }
    let (name, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((name, d)) => {
            let d = d.trim();
            let d = d
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .ok_or_else(|| {
                    format!(
                        "the default value of policy variable ${{{inner}}} must be quoted with \
                         single quotes"
                    )
                })?;
            (name.trim(), Some(Box::from(d)))
        }
    };
    let key =
        ContextKey::parse(name).ok_or_else(|| format!("unknown policy variable ${{{name}}}"))?;
    Ok(Piece::Var { key, default })
}

/// Length in bytes of the UTF-8 sequence that starts with `lead` (see `glob`).
#[inline]
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xFF => 4,
        _ => 1,
    }
}

/// The glob algorithm of [`super::glob`] over tokens, so that literal `*`/`?` bytes
/// (from escapes and substituted values) and wildcards can be told apart.
fn tokens_match(pattern: &[Tok], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                Tok::Star => {
                    p += 1;
                    star = Some((p, t));
                    continue;
                }
                Tok::One => {
                    p += 1;
                    t += utf8_len(text[t]);
                    continue;
                }
                Tok::Byte(c) if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                Tok::Byte(_) => {}
            }
        }
        match star {
            Some((sp, st)) => {
                let nt = st + utf8_len(text[st]);
                star = Some((sp, nt));
                p = sp;
                t = nt;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|c| *c == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn ctx() -> RequestContext {
        RequestContext::for_principal(
            "abc123",
            "coreweave/alice",
            false,
            OffsetDateTime::now_utc(),
        )
    }

    #[test]
    fn plain_and_variables() {
        let c = ctx();
        let t = Template::parse("b/home/${aws:username}/*", true).unwrap();
        assert!(t.glob_matches(&c, "b/home/alice/x"));
        assert!(!t.glob_matches(&c, "b/home/bob/x"));
        assert_eq!(t.expand(&c).unwrap(), "b/home/alice/*");
        let old = Template::parse("b/home/${aws:username}/*", false).unwrap();
        assert!(old.glob_matches(&c, "b/home/${aws:username}/x"));
        assert!(!old.glob_matches(&c, "b/home/alice/x"));
    }

    #[test]
    fn escapes_are_literal() {
        let c = ctx();
        let t = Template::parse("b/${*}/${?}/${$}", true).unwrap();
        assert!(t.glob_matches(&c, "b/*/?/$"));
        assert!(!t.glob_matches(&c, "b/x/y/$"));
        assert_eq!(t.expand(&c).unwrap(), "b/*/?/$");
    }

    #[test]
    fn missing_variables_and_defaults() {
        let anon = RequestContext::anonymous(OffsetDateTime::now_utc());
        let t = Template::parse("b/${aws:username}/*", true).unwrap();
        assert!(!t.glob_matches(&anon, "b//x"));
        assert!(t.expand(&anon).is_none());
        let d = Template::parse("b/${aws:username, 'guest'}/*", true).unwrap();
        assert!(d.glob_matches(&anon, "b/guest/x"));
        assert!(Template::parse("b/${aws:nope}", true).is_err());
        assert!(Template::parse("b/${aws:username", true).is_err());
        assert!(Template::parse("b/${aws:username, guest}", true).is_err());
    }

    #[test]
    fn arns() {
        let c = ctx();
        let t = Template::parse("arn:aws:iam::*:coreweave/*", true).unwrap();
        assert!(t.arn_matches(&c, "arn:aws:iam::abc123:coreweave/u"));
        assert!(!t.arn_matches(&c, "arn:aws:iam::abc123:role/u"));
        assert!(!t.arn_matches(&c, "coreweave/u"));
        let r = Template::parse("arn:aws:iam::abc123:role/*", true).unwrap();
        assert!(r.arn_matches(&c, "arn:aws:iam::abc123:role/https://x:sub"));
        // A star in one component does not span into the next.
        let s = Template::parse("arn:*:iam::abc123:role/x", true).unwrap();
        assert!(!s.arn_matches(&c, "arn:aws:x:iam::abc123:role/x"));
        let v = Template::parse("${aws:PrincipalArn}", true).unwrap();
        assert!(v.arn_matches(&c, "arn:aws:iam::abc123:coreweave/alice"));
    }

    #[test]
    fn token_matcher_agrees_with_glob() {
        let pats = ["", "*", "a*b", "?", "a?c", "*/*", "b*", "**x", "é?"];
        let texts = ["", "a", "ab", "abc", "a/b", "b", "xx", "éé", "aéc"];
        for p in pats {
            let toks: Vec<Tok> = text_tokens(p).collect();
            for t in texts {
                assert_eq!(
                    tokens_match(&toks, t.as_bytes()),
                    glob_match(p, t),
                    "{p:?} {t:?}"
                );
            }
        }
    }
}
