//! Shared helpers of the `s3_*` end-to-end tests: a server with an allow-all policy and
//! an aws-sdk-s3 client, error assertions, and a minimal hand-written SigV4 signer
//! (header auth, presigned URLs, aws-chunked bodies) for the requests a well-behaved
//! SDK refuses to make (8-day presigns, wrong chunk signatures, SigV2, …).

#![allow(dead_code)]

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use coffer_server::testing::{TestKey, TestServer};

pub const MIB: usize = 1024 * 1024;

/// A started server, an allow-all org policy and an admin key's client.
pub async fn setup() -> (TestServer, Client, TestKey) {
    let ts = TestServer::start().await;
    let (client, key) = ts.s3_client_with_allow_all().await;
    (ts, client, key)
}

pub async fn make_bucket(c: &Client, name: &str) {
    c.create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {}", dbg_err(&e)));
}

/// PutBucketVersioning `Enabled`.
pub async fn enable_versioning(c: &Client, bucket: &str) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("enable versioning on {bucket}: {}", dbg_err(&e)));
}

pub async fn put(c: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {}", dbg_err(&e)))
        .e_tag
        .unwrap_or_default()
}

pub async fn get(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    coffer_server::testing::object_bytes(c, bucket, key).await
}

pub async fn exists(c: &Client, bucket: &str, key: &str) -> bool {
    match c.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) if status_of(&e) == Some(404) => false,
        Err(e) => panic!("head {bucket}/{key}: {}", dbg_err(&e)),
    }
}

pub fn dbg_err<E: std::fmt::Debug>(e: &E) -> String {
    format!("{e:?}")
}

/// The HTTP status of an SDK error, if the server answered.
pub fn status_of<E>(e: &aws_sdk_s3::error::SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// A response header of an SDK error, if the server answered.
pub fn header_of<E>(
    e: &aws_sdk_s3::error::SdkError<E, HttpResponse>,
    name: &str,
) -> Option<String> {
    e.raw_response()
        .and_then(|r| r.headers().get(name).map(str::to_string))
}

/// Asserts that an SDK call failed with `code` and HTTP `status`.
#[track_caller]
pub fn assert_s3_err<T: std::fmt::Debug, E>(
    r: Result<T, aws_sdk_s3::error::SdkError<E, HttpResponse>>,
    code: &str,
    status: u16,
) where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    let e = r.expect_err(&format!("expected {code}"));
    assert_eq!(status_of(&e), Some(status), "{e:?}");
    // HEAD responses have no body, so no code.
    if let Some(c) = e.as_service_error().and_then(|m| m.code()) {
        assert_eq!(c, code, "{e:?}");
    }
}

// ---------------------------------------------------------------------------------
// Raw HTTP

pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Raw {
    /// The `<Code>` of an S3 XML error body.
    pub fn code(&self) -> String {
        xml_field(&self.body, "Code").unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_err(&self, code: &str, status: u16) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.code(), code, "{}", self.body);
    }

    pub fn request_id(&self) -> Option<String> {
        self.headers
            .get("x-amz-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

pub fn xml_field(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let s = body.find(&open)? + open.len();
    let e = body[s..].find(&close)? + s;
    Some(body[s..e].to_string())
}

pub async fn send(rb: reqwest::RequestBuilder) -> Raw {
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    Raw {
        status,
        headers,
        body,
    }
}

/// An unsigned (anonymous) form upload to `bucket` with `fields` and a one-byte file `f`.
pub fn form_post(
    ts: &TestServer,
    bucket: &str,
    fields: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let b = "----coffer-form-boundary";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nf\r\n--{b}--\r\n"
    ));
    ts.http
        .post(format!("{}/{bucket}", ts.s3_endpoint))
        .header("content-type", format!("multipart/form-data; boundary={b}"))
        .body(body)
}

// ---------------------------------------------------------------------------------
// SigV4 (hand-written, from the AWS documentation)

/// `Content-MD5` of `body` (base64).
pub fn md5_b64(body: &[u8]) -> String {
    use base64::Engine;
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    const B: usize = 64;
    let mut k = if key.len() > B {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(B, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// RFC 3986 encoding as SigV4 wants it; `/` kept when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut o = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

pub struct Signer {
    pub key_id: String,
    pub secret: String,
    pub region: String,
    /// `host:port` as sent in the Host header.
    pub host: String,
    pub endpoint: String,
}

pub struct Signed {
    pub amz_date: String,
    pub scope: String,
    pub signature: String,
    pub authorization: String,
    pub signing_key: Vec<u8>,
}

fn amz_date(t: OffsetDateTime) -> (String, String) {
    let d = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let full = format!("{d}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (full, d)
}

impl Signer {
    pub fn new(ts: &TestServer, key: &TestKey) -> Self {
        let host = ts.s3_endpoint.trim_start_matches("http://").to_string();
        Signer {
            key_id: key.access_key_id.clone(),
            secret: key.secret_key.clone(),
            region: "US-EAST-04A".into(),
            host,
            endpoint: ts.s3_endpoint.clone(),
        }
    }

    fn key_for(&self, date: &str) -> Vec<u8> {
        let k = hmac(format!("AWS4{}", self.secret).as_bytes(), date.as_bytes());
        let k = hmac(&k, self.region.as_bytes());
        let k = hmac(&k, b"s3");
        hmac(&k, b"aws4_request")
    }

    fn canonical_query(pairs: &[(String, String)]) -> String {
        let mut enc: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        enc.sort();
        enc.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Header auth: returns the headers to send (incl. Authorization).
    /// `path` is the decoded path (`/bucket/key`); `headers` excludes host/x-amz-date.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(&str, String)],
        payload_hash: &str,
        now: OffsetDateTime,
    ) -> (Vec<(String, String)>, Signed) {
        let (amz, date) = amz_date(now);
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        hs.push(("host".into(), self.host.clone()));
        hs.push(("x-amz-date".into(), amz.clone()));
        hs.push(("x-amz-content-sha256".into(), payload_hash.to_string()));
        hs.sort();
        let signed_headers = hs
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical = format!(
            "{method}\n{}\n{}\n{}\n{signed_headers}\n{payload_hash}",
            uri_encode(path, true),
            Self::canonical_query(query),
            hs.iter()
                .map(|(k, v)| format!("{k}:{v}\n"))
                .collect::<String>(),
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let signing_key = self.key_for(&date);
        let signature = hex::encode(hmac(&signing_key, sts.as_bytes()));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.key_id
        );
        let mut out: Vec<(String, String)> = hs.into_iter().filter(|(k, _)| k != "host").collect();
        out.push(("authorization".into(), authorization.clone()));
        (
            out,
            Signed {
                amz_date: amz,
                scope,
                signature,
                authorization,
                signing_key,
            },
        )
    }

    /// A presigned URL (`host` is the only signed header).
    pub fn presign(
        &self,
        method: &str,
        path: &str,
        expires: u64,
        now: OffsetDateTime,
        extra: &[(String, String)],
    ) -> String {
        let (amz, date) = amz_date(now);
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let mut q: Vec<(String, String)> = vec![
            ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
            (
                "X-Amz-Credential".into(),
                format!("{}/{scope}", self.key_id),
            ),
            ("X-Amz-Date".into(), amz.clone()),
            ("X-Amz-Expires".into(), expires.to_string()),
            ("X-Amz-SignedHeaders".into(), "host".into()),
        ];
        q.extend_from_slice(extra);
        let cq = Self::canonical_query(&q);
        let canonical = format!(
            "{method}\n{}\n{cq}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
            uri_encode(path, true),
            self.host
        );
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let sig = hex::encode(hmac(&self.key_for(&date), sts.as_bytes()));
        format!(
            "{}{}?{cq}&X-Amz-Signature={sig}",
            self.endpoint,
            uri_encode(path, true)
        )
    }

    /// A signed request with the whole body hashed.
    pub fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let hash = sha256_hex(&body);
        let (hs, _) = self.sign(
            method.as_str(),
            path,
            query,
            headers,
            &hash,
            OffsetDateTime::now_utc(),
        );
        let mut url = format!("{}{}", self.endpoint, uri_encode(path, true));
        if !query.is_empty() {
            url.push('?');
            url.push_str(&Self::canonical_query(query));
        }
        let mut rb = http.request(method, url).body(body);
        for (k, v) in hs {
            rb = rb.header(k, v);
        }
        rb
    }

    /// A `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` PUT whose chunk number `bad_chunk` (if
    /// any) carries a wrong signature.
    pub fn chunked_put(
        &self,
        http: &reqwest::Client,
        path: &str,
        chunks: &[Vec<u8>],
        bad_chunk: Option<usize>,
    ) -> reqwest::RequestBuilder {
        self.chunked_put_with_trailer(http, path, chunks, bad_chunk, None)
    }

    /// Like [`Self::chunked_put`]; with `trailer = Some((name, value))` the body is
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` with one signed trailing header.
    pub fn chunked_put_with_trailer(
        &self,
        http: &reqwest::Client,
        path: &str,
        chunks: &[Vec<u8>],
        bad_chunk: Option<usize>,
        trailer: Option<(&str, &str)>,
    ) -> reqwest::RequestBuilder {
        let decoded: usize = chunks.iter().map(Vec::len).sum();
        let now = OffsetDateTime::now_utc();
        let mut extra = vec![
            ("content-encoding", "aws-chunked".to_string()),
            ("x-amz-decoded-content-length", decoded.to_string()),
        ];
        let payload = if let Some((name, _)) = trailer {
            extra.push(("x-amz-trailer", name.to_string()));
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        } else {
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        };
        let (hs, signed) = self.sign("PUT", path, &[], &extra, payload, now);
        let mut prev = signed.signature.clone();
        let mut body = Vec::new();
        let empty_hash = sha256_hex(b"");
        for (i, c) in chunks
            .iter()
            .chain(std::iter::once(&Vec::new()))
            .enumerate()
        {
            let sts = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev}\n{empty_hash}\n{}",
                signed.amz_date,
                signed.scope,
                sha256_hex(c)
            );
            let mut sig = hex::encode(hmac(&signed.signing_key, sts.as_bytes()));
            if bad_chunk == Some(i) {
                sig = sig.chars().rev().collect();
            }
            body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
            if !c.is_empty() {
                body.extend_from_slice(c);
                body.extend_from_slice(b"\r\n");
            }
            prev = sig;
        }
        match trailer {
            None => body.extend_from_slice(b"\r\n"),
            Some((name, value)) => {
                let canonical = format!("{name}:{value}\n");
                let sts = format!(
                    "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{prev}\n{}",
                    signed.amz_date,
                    signed.scope,
                    sha256_hex(canonical.as_bytes())
                );
                let sig = hex::encode(hmac(&signed.signing_key, sts.as_bytes()));
                body.extend_from_slice(
                    format!("{name}:{value}\r\nx-amz-trailer-signature:{sig}\r\n\r\n").as_bytes(),
                );
            }
        }
        let mut rb = http
            .put(format!("{}{}", self.endpoint, uri_encode(path, true)))
            .body(body);
        for (k, v) in hs {
            rb = rb.header(k, v);
        }
        rb
    }
}

/// Deterministic pseudo-random bytes.
pub fn bytes_of(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// GetBucketPolicyStatus's `IsPublic`.
pub async fn policy_is_public(c: &Client, bucket: &str) -> Option<bool> {
    c.get_bucket_policy_status()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .policy_status()
        .and_then(|s| s.is_public())
}
