//! Virtual-hosted-style addressing (`bucket.<domain>`), alongside path style.
//!
//! s3s's `SingleDomain` treats any other host name as a CNAME bucket, which would turn
//! `localhost:9000/bucket/key` into bucket `localhost:9000`; and it compares the host
//! header including its port. This parser strips ports and answers path style for every
//! host that is not `<domain>` or `<bucket>.<domain>`.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

#[derive(Debug, Clone)]
pub struct DomainHost {
    /// Lowercase, without port.
    domain: String,
}

impl DomainHost {
    /// `domain` may carry a port (ignored) and any case.
    pub fn new(domain: &str) -> Self {
        Self {
            domain: strip_port(domain.trim())
                .trim_end_matches('.')
                .to_ascii_lowercase(),
        }
    }
}

fn strip_port(h: &str) -> &str {
    match h.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => h,
    }
}

impl S3Host for DomainHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let h = strip_port(host).trim_end_matches('.');
        // `dot` is the byte before `.<domain>`; a `.` byte is always a char boundary, so
        // the slices below cannot split a multi-byte character (non-ASCII hosts panicked
        // here: a fuzz finding).
        if let Some(dot) = h.len().checked_sub(self.domain.len() + 1)
            && dot > 0
            && h.as_bytes()[dot] == b'.'
            && h[dot + 1..].eq_ignore_ascii_case(&self.domain)
        {
            return Ok(VirtualHost::new(self.domain.as_str()).with_bucket(&h[..dot]));
        }
        // The bare domain or any other name (IP literals never get here): path style.
        Ok(VirtualHost::new(self.domain.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_and_path_style() {
        let d = DomainHost::new("s3.example.com:9000");
        let b = |h: &str| d.parse_host_header(h).unwrap().bucket().map(str::to_string);
        assert_eq!(
            b("my-bucket.s3.example.com:9000").as_deref(),
            Some("my-bucket")
        );
        assert_eq!(b("my-bucket.s3.example.com").as_deref(), Some("my-bucket"));
        assert_eq!(b("my-bucket.S3.Example.com.").as_deref(), Some("my-bucket"));
        assert_eq!(b("a.b.s3.example.com").as_deref(), Some("a.b"));
        assert_eq!(b("s3.example.com:9000"), None);
        assert_eq!(b("localhost:9000"), None);
        assert_eq!(b("other.example.com"), None);
        assert_eq!(b("xs3.example.com"), None);
        assert_eq!(b(".s3.example.com"), None);
        // Non-ASCII host text (fuzz finding: this panicked on a char boundary).
        assert_eq!(b("photos/2023/é 0x+y%20z.jpg"), None);
        assert_eq!(b("é.s3.example.com").as_deref(), Some("é"));
        assert_eq!(b("ééééééééééééééé"), None);
    }
}
