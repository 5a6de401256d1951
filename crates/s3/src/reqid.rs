//! Request ids (`x-amz-request-id`): 16 uppercase hex characters, like AWS's.
//!
//! The id is created once per request, by the outermost layer that sees it
//! ([`crate::http_service`], or the access check when the bare `S3Service` is served),
//! and travels in the request extensions so that logs, error bodies and headers agree.

use std::fmt;
use std::sync::Arc;

#[derive(Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    pub fn new() -> Self {
        let n: u64 = rand::random();
        RequestId(Arc::from(format!("{n:016X}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id already attached to a request, or a fresh one attached now.
    pub fn of(ext: &mut http::Extensions) -> RequestId {
        if let Some(id) = ext.get::<RequestId>() {
            return id.clone();
        }
        let id = RequestId::new();
        ext.insert(id.clone());
        id
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_reuse() {
        let id = RequestId::new();
        assert_eq!(id.as_str().len(), 16);
        assert!(
            id.as_str()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
        );
        let mut ext = http::Extensions::new();
        let a = RequestId::of(&mut ext);
        let b = RequestId::of(&mut ext);
        assert_eq!(a, b);
    }
}
