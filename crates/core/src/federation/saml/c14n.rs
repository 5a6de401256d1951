//! Exclusive XML Canonicalization 1.0 without comments
//! (`http://www.w3.org/2001/10/xml-exc-c14n#`) of one element subtree of a parsed
//! `roxmltree` document, optionally leaving out one descendant subtree (the enveloped
//! signature) — the only canonicalization the SAML verifier accepts.
//!
//! The narrow profile implemented here (what XML-DSig over a SAML element needs):
//! * the node set is an element and all its descendants, minus `exclude` and its
//!   descendants; comments are never output (so a comment inside a value is invisible to
//!   the digest, and the verifier reads values as the concatenation of all text nodes);
//! * a namespace declaration is output on an element when its prefix is visibly used by
//!   that element (its own prefix, or a prefix of one of its attributes; the default
//!   namespace for an unprefixed element) or is listed in the `InclusiveNamespaces`
//!   prefix list, and the nearest output ancestor did not already output the same
//!   binding; `xmlns=""` is output only to undo a non-empty default of an ancestor;
//! * namespace declarations sorted by prefix, attributes by (namespace URI, local name);
//! * text and attribute values escaped as the spec prescribes; empty elements as a
//!   start/end tag pair; processing instructions inside the subtree kept.
//!
//! roxmltree does not expose the prefix an element or attribute was written with, so it
//! is read from the source text at the node's position (the parser already validated
//! the name, and resolved its namespace, which is what the output uses).

use roxmltree::{Node, NodeType};
use std::collections::BTreeMap;

/// The reserved `xml` prefix: bound by definition, never declared in the output.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The namespace bindings output so far on the path from the apex: prefix ("" = default)
/// to URI.
type Rendered = BTreeMap<String, String>;

/// Canonical form of `apex` and its subtree without `exclude`'s subtree. `inclusive`
/// holds the InclusiveNamespaces PrefixList (`#default` names the default namespace).
pub fn canonicalize(
    apex: Node<'_, '_>,
    exclude: Option<Node<'_, '_>>,
    inclusive: &[String],
) -> String {
    let mut out = String::with_capacity(apex.range().len());
    let mut rendered = Rendered::new();
    rendered.insert(String::new(), String::new());
    let skip = exclude.map(|n| n.id());
    // Iterative walk (no recursion: the depth of attacker-supplied XML is not trusted).
    enum Step<'a, 'i> {
        Enter(Node<'a, 'i>),
        Leave(String, Rendered),
    }
    let mut stack = vec![Step::Enter(apex)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Leave(qname, saved) => {
                out.push_str("</");
                out.push_str(&qname);
                out.push('>');
                rendered = saved;
            }
            Step::Enter(node) => {
                if Some(node.id()) == skip {
                    continue;
                }
                match node.node_type() {
                    NodeType::Element => {
                        let qname = element_qname(node);
                        let saved = rendered.clone();
                        start_tag(node, &qname, inclusive, &mut rendered, &mut out);
                        stack.push(Step::Leave(qname, saved));
                        let children: Vec<_> = node.children().collect();
                        for c in children.into_iter().rev() {
                            stack.push(Step::Enter(c));
                        }
                    }
                    NodeType::Text => escape_text(node.text().unwrap_or(""), &mut out),
                    NodeType::PI => {
                        if let Some(pi) = node.pi() {
                            out.push_str("<?");
                            out.push_str(pi.target);
                            if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                                out.push(' ');
                                out.push_str(v);
                            }
                            out.push_str("?>");
                        }
                    }
                    NodeType::Comment | NodeType::Root => {}
                }
            }
        }
    }
    out
}

/// The qualified name as written in the source: `<prefix:local` or `<local`.
fn element_qname(node: Node<'_, '_>) -> String {
    let src = &node.document().input_text()[node.range()];
    let name = src
        .strip_prefix('<')
        .unwrap_or(src)
        .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .next()
        .unwrap_or("");
    name.to_string()
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map(|(p, _)| p).unwrap_or("")
}

fn start_tag(
    node: Node<'_, '_>,
    qname: &str,
    inclusive: &[String],
    rendered: &mut Rendered,
    out: &mut String,
) {
    let input = node.document().input_text();
    // Attributes with the qualified names they were written with.
    let mut attrs: Vec<(&str, &str, String, &str)> = node
        .attributes()
        .map(|a| {
            (
                a.namespace().unwrap_or(""),
                a.name(),
                input[a.range_qname()].to_string(),
                a.value(),
            )
        })
        .collect();
    attrs.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));

    // Prefixes this element visibly uses, plus the inclusive ones that are in scope.
    let mut used: Vec<String> = vec![prefix_of(qname).to_string()];
    for (_, _, q, _) in &attrs {
        let p = prefix_of(q);
        if !p.is_empty() && p != "xml" {
            used.push(p.to_string());
        }
    }
    for p in inclusive {
        let p = if p == "#default" { "" } else { p.as_str() };
        if p == "xml" {
            continue;
        }
        if p.is_empty() || node.lookup_namespace_uri(Some(p)).is_some() {
            used.push(p.to_string());
        }
    }
    used.sort();
    used.dedup();

    let mut decls: Vec<(String, String)> = Vec::new();
    for p in used {
        let uri = if p.is_empty() {
            node.default_namespace().unwrap_or("")
        } else {
            match node.lookup_namespace_uri(Some(&p)) {
                Some(u) if u != XML_NS => u,
                _ => continue,
            }
        };
        let already = rendered.get(&p).map(String::as_str);
        // An unbound default namespace needs no declaration unless an output ancestor
        // declared a non-empty one.
        let needed = if p.is_empty() && uri.is_empty() {
            matches!(already, Some(u) if !u.is_empty())
        } else {
            already != Some(uri)
        };
        if needed {
            rendered.insert(p.clone(), uri.to_string());
            decls.push((p, uri.to_string()));
        }
    }
    // `used` was sorted, so `decls` is in prefix order with the default first.
    out.push('<');
    out.push_str(qname);
    for (p, uri) in &decls {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape_attr(uri, out);
        out.push('"');
    }
    for (_, _, q, v) in &attrs {
        out.push(' ');
        out.push_str(q);
        out.push_str("=\"");
        escape_attr(v, out);
        out.push('"');
    }
    out.push('>');
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, path: &[&str]) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let mut n = doc.root_element();
        for name in path {
            n = n.children().find(|c| c.tag_name().name() == *name).unwrap();
        }
        canonicalize(n, None, &[])
    }

    #[test]
    fn only_visibly_used_namespaces_are_output() {
        let xml = r#"<a:root xmlns:a="urn:a" xmlns:b="urn:b" xmlns="urn:d"><a:x b:at="1" z="2"><y/></a:x></a:root>"#;
        assert_eq!(
            c14n(xml, &["x"]),
            // Attributes without a namespace sort first.
            r#"<a:x xmlns:a="urn:a" xmlns:b="urn:b" z="2" b:at="1"><y xmlns="urn:d"></y></a:x>"#
        );
    }

    #[test]
    fn attributes_sorted_by_namespace_then_name_and_escaped() {
        let xml = "<r xmlns:z=\"urn:a\" xmlns:a=\"urn:z\" b=\"x&amp;&lt;&quot;&#9;&#10;&#13;\" a:c=\"1\" z:d=\"2\"><!-- c -->t&amp;&lt;&gt;&#13;<?pi v?></r>";
        assert_eq!(
            c14n(xml, &[]),
            "<r xmlns:a=\"urn:z\" xmlns:z=\"urn:a\" b=\"x&amp;&lt;&quot;&#x9;&#xA;&#xD;\" z:d=\"2\" a:c=\"1\">t&amp;&lt;&gt;&#xD;<?pi v?></r>"
        );
    }

    #[test]
    fn default_namespace_undone_only_when_rendered() {
        let xml = r#"<r xmlns="urn:d"><e xmlns=""><f/></e></r>"#;
        assert_eq!(
            c14n(xml, &[]),
            r#"<r xmlns="urn:d"><e xmlns=""><f></f></e></r>"#
        );
        assert_eq!(c14n(xml, &["e"]), "<e><f></f></e>");
    }

    #[test]
    fn redeclared_prefix_with_new_uri_is_output_again() {
        let xml = r#"<p:r xmlns:p="urn:1"><p:e xmlns:p="urn:2"/><p:e/></p:r>"#;
        assert_eq!(
            c14n(xml, &[]),
            r#"<p:r xmlns:p="urn:1"><p:e xmlns:p="urn:2"></p:e><p:e></p:e></p:r>"#
        );
    }

    #[test]
    fn inclusive_prefixes_are_output_once() {
        let xml = r#"<r xmlns:xs="urn:xs" xmlns:q="urn:q"><e><f/></e></r>"#;
        let doc = roxmltree::Document::parse(xml).unwrap();
        let e = doc.root_element().first_element_child().unwrap();
        assert_eq!(
            canonicalize(e, None, &["xs".into(), "nope".into()]),
            r#"<e xmlns:xs="urn:xs"><f></f></e>"#
        );
    }

    #[test]
    fn excluded_subtree_is_left_out() {
        let xml = r#"<r><a>1</a><s><t/></s><b>2</b></r>"#;
        let doc = roxmltree::Document::parse(xml).unwrap();
        let s = doc.descendants().find(|n| n.has_tag_name("s")).unwrap();
        assert_eq!(
            canonicalize(doc.root_element(), Some(s), &[]),
            "<r><a>1</a><b>2</b></r>"
        );
    }
}
