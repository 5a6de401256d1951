//! Just enough XML for S3 responses: substring scans for simple, non-nested elements. No parser is
//! needed because every element read here holds text only.

/// Text of the first `<tag>…</tag>`, unescaped.
pub fn first(doc: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = doc.find(&open)? + open.len();
    let end = start + doc[start..].find(&close)?;
    Some(unescape(&doc[start..end]))
}

/// Texts of every `<tag>…</tag>`, unescaped.
pub fn all(doc: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(unescape(&rest[..j]));
        rest = &rest[j + close.len()..];
    }
    out
}

/// Number of `<tag>` openings; the cheap key count for list pages.
pub fn count(doc: &str, tag: &str) -> usize {
    doc.matches(&format!("<{tag}>")).count()
}

pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub fn escape(s: &str) -> String {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return s.to_owned();
    }
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans() {
        let doc = "<R><Key>a&amp;b</Key><Key>c</Key><NextContinuationToken>t&lt;</NextContinuationToken></R>";
        assert_eq!(count(doc, "Key"), 2);
        assert_eq!(all(doc, "Key"), ["a&b", "c"]);
        assert_eq!(first(doc, "NextContinuationToken").as_deref(), Some("t<"));
        assert_eq!(first(doc, "UploadId"), None);
        assert_eq!(unescape(&escape("<&'\">")), "<&'\">");
    }
}
