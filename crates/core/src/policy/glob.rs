//! Allocation-free glob matching for policy patterns.
//!
//! Syntax: `*` matches any run of characters (including none, and including `/`), `?`
//! matches exactly one character (one Unicode scalar value, not one byte), every other
//! character matches itself. There is no escape syntax: policy patterns cannot name a
//! literal `*` or `?` (neither can appear in actions, bucket names or principals we issue).
//!
//! Algorithm: the classic iterative matcher that remembers only the most recent `*` and,
//! on a mismatch, lets that star absorb one more character. Remembering one star is
//! enough because a later star can absorb anything an earlier one could, so the earlier
//! star never needs to grow once a later star has been reached. Worst case O(n·m) time,
//! O(1) space, no recursion, no allocation.

/// Length in bytes of the UTF-8 sequence that starts with `lead`.
///
/// Invariant: callers only ask at char boundaries of a valid `&str`, so `lead` is never a
/// continuation byte; the `_ => 1` arm is a defensive fallback, never a correctness path.
#[inline]
fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xFF => 4,
        _ => 1,
    }
}

#[inline]
fn glob_impl(pattern: &[u8], text: &[u8], eq: impl Fn(u8, u8) -> bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // (pattern index just after the last `*`, text index that star currently extends to)
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    p += 1;
                    star = Some((p, t));
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += utf8_len(text[t]);
                    continue;
                }
                c if eq(c, text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        // Mismatch (or pattern exhausted with text left): let the last star absorb one
        // more whole character and retry from just after it.
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
    // Text consumed: the rest of the pattern must be stars only.
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Case-sensitive whole-string glob match (resources, principals).
#[inline]
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob_impl(pattern.as_bytes(), text.as_bytes(), |a, b| a == b)
}

/// Whole-string glob match ignoring ASCII case on both sides (actions). Non-ASCII bytes
/// compare exactly; action names are ASCII, so that never matters in practice.
#[inline]
pub fn glob_match_ignore_ascii_case(pattern: &str, text: &str) -> bool {
    glob_impl(pattern.as_bytes(), text.as_bytes(), |a, b| {
        a.eq_ignore_ascii_case(&b)
    })
}

/// Like [`glob_match_ignore_ascii_case`] for a pattern that is already ASCII-lowercase:
/// only the text side is folded. Used by the compiled index, which lowercases patterns once.
#[inline]
pub(crate) fn glob_match_lowered(pattern_lower: &str, text: &str) -> bool {
    glob_impl(pattern_lower.as_bytes(), text.as_bytes(), |a, b| {
        a == b.to_ascii_lowercase()
    })
}

/// True if the pattern contains a wildcard (`*` or `?`).
#[inline]
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.bytes().any(|c| c == b'*' || c == b'?')
}

/// True if the pattern is non-empty and consists only of `*`: it matches every string,
/// and it is the only resource form that matches the global resource `*` (see `eval`).
#[inline]
pub fn is_all_stars(pattern: &str) -> bool {
    !pattern.is_empty() && pattern.bytes().all(|c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exponential-free reference: straightforward recursive definition over chars.
    fn reference(p: &[char], t: &[char], ci: bool) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| reference(&p[1..], &t[i..], ci)),
            Some('?') => !t.is_empty() && reference(&p[1..], &t[1..], ci),
            Some(&c) => {
                !t.is_empty()
                    && (if ci {
                        c.eq_ignore_ascii_case(&t[0])
                    } else {
                        c == t[0]
                    })
                    && reference(&p[1..], &t[1..], ci)
            }
        }
    }

    fn check(p: &str, t: &str, expected: bool) {
        assert_eq!(glob_match(p, t), expected, "glob_match({p:?}, {t:?})");
        let pc: Vec<char> = p.chars().collect();
        let tc: Vec<char> = t.chars().collect();
        assert_eq!(
            reference(&pc, &tc, false),
            expected,
            "reference({p:?}, {t:?})"
        );
    }

    #[test]
    fn action_prefix_globs() {
        assert!(glob_match_ignore_ascii_case(
            "s3:Get*",
            "s3:GetObjectTagging"
        ));
        assert!(glob_match_ignore_ascii_case("s3:Get*", "s3:GetObject"));
        assert!(glob_match_ignore_ascii_case("S3:get*", "s3:GetObject"));
        assert!(glob_match_ignore_ascii_case("s3:GETOBJECT", "s3:GetObject"));
        assert!(!glob_match_ignore_ascii_case("s3:Get*", "s3:PutObject"));
        assert!(!glob_match_ignore_ascii_case(
            "s3:GetObject",
            "s3:GetObjectTagging"
        ));
        assert!(glob_match_ignore_ascii_case(
            "*",
            "cwobject:CreateAccessKey"
        ));
        assert!(glob_match_ignore_ascii_case("s3:*Object", "s3:GetObject"));
        assert!(!glob_match_ignore_ascii_case(
            "s3:*Object",
            "s3:GetObjectAcl"
        ));
        assert!(glob_match_lowered("s3:get*", "s3:GetObjectTagging"));
        assert!(!glob_match_lowered("s3:get*", "s3:PutObject"));
        // case-sensitive variant really is case-sensitive
        assert!(!glob_match("s3:get*", "s3:GetObject"));
    }

    #[test]
    fn bucket_forms() {
        check("bucket", "bucket", true);
        check("bucket", "bucket/key", false);
        check("bucket", "bucket2", false);
        check("bucket/*", "bucket/key", true);
        check("bucket/*", "bucket/", true);
        check("bucket/*", "bucket/a/b/c", true);
        check("bucket/*", "bucket", false);
        check("bucket/*", "bucket2/key", false);
        check("bucket*", "bucket", true);
        check("bucket*", "bucket/key", true);
        check("bucket*", "bucket2", true);
        check("bucket*", "bucke", false);
        check("Bucket", "bucket", false);
    }

    #[test]
    fn empty_strings() {
        check("", "", true);
        check("", "a", false);
        check("*", "", true);
        check("**", "", true);
        check("?", "", false);
        check("a", "", false);
        check("*?", "", false);
    }

    #[test]
    fn multiple_stars() {
        check("*a*b*", "xxaxxbxx", true);
        check("*a*b*", "ab", true);
        check("*a*b*", "ba", false);
        check("a*b*c", "abc", true);
        check("a*b*c", "aXbYc", true);
        check("a*b*c", "aXbYcZ", false);
        check("a*b*c", "acb", false);
        check("***", "anything/at/all", true);
        check("*/*", "b/k", true);
        check("*/*", "bk", false);
        check("logs-*/2024/*", "logs-eu/2024/01/x", true);
        check("logs-*/2024/*", "logs-eu/2023/2024/x", true);
        check("logs-*/2024/*", "logs-eu/2023/x", false);
        // backtracking must retry the last star, not give up at the first false lead
        check("*aab", "aaaab", true);
        check("*abc*abd", "abcabcabd", true);
        check(
            "a*a*a*a*b",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            false,
        );
    }

    #[test]
    fn question_mark() {
        check("?", "a", true);
        check("?", "ab", false);
        check("b?cket", "bucket", true);
        check("b?cket", "bcket", false);
        check("??", "é", false);
        check("?", "é", true);
        check("a?c", "aéc", true);
        check("*?", "é", true);
        check("?*?", "ab", true);
        check("?*?", "a", false);
        check("bucket/?", "bucket/", false);
    }

    #[test]
    fn multibyte_literals_and_stars() {
        check("data/ü*", "data/über", true);
        check("*ü", "aüü", true);
        check("*é?", "éé€", true);
        check("*€", "ab€", true);
        check("*€", "ab€c", false);
    }

    #[test]
    fn helpers() {
        assert!(has_wildcard("a*"));
        assert!(has_wildcard("a?"));
        assert!(!has_wildcard("abc"));
        assert!(is_all_stars("*"));
        assert!(is_all_stars("***"));
        assert!(!is_all_stars(""));
        assert!(!is_all_stars("*?"));
    }

    #[test]
    fn exhaustive_small_alphabet_agrees_with_reference() {
        // every pattern over {a,b,*,?} up to length 4 against every text over {a,b} up to 5
        fn all(alphabet: &[char], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut frontier = vec![String::new()];
            for _ in 0..max {
                let mut next = Vec::new();
                for s in &frontier {
                    for &c in alphabet {
                        let mut n = s.clone();
                        n.push(c);
                        next.push(n);
                    }
                }
                out.extend(next.iter().cloned());
                frontier = next;
            }
            out
        }
        let pats = all(&['a', 'b', '*', '?'], 4);
        let texts = all(&['a', 'b'], 5);
        for p in &pats {
            let pc: Vec<char> = p.chars().collect();
            for t in &texts {
                let tc: Vec<char> = t.chars().collect();
                assert_eq!(
                    glob_match(p, t),
                    reference(&pc, &tc, false),
                    "pattern {p:?} text {t:?}"
                );
            }
        }
    }
}
