//! Minimal S3 client: SigV4-signed, path-style requests over hyper's pooled HTTP/1.1 client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::body::{self, BenchBody};
use crate::sigv4::{self, Signer, UNSIGNED_PAYLOAD};
use crate::xml;

/// Upper bound for XML response bodies read into memory (a 1000-key list page is ~250 KB).
const XML_LIMIT: usize = 16 << 20;

/// A parsed `http://host[:port]` endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http://host:port` without a trailing slash.
    pub base: String,
    /// The authority exactly as sent in `Host` (and signed).
    pub authority: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Self> {
        let Some(rest) = s.strip_prefix("http://") else {
            bail!("endpoint {s:?}: only http:// endpoints are supported");
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            bail!("endpoint {s:?} has no host");
        }
        // The port follows the last ':' unless that ':' is inside an IPv6 literal.
        let port = match authority.rsplit_once(':') {
            Some((_, port)) if !port.contains(']') => port
                .parse()
                .with_context(|| format!("endpoint {s:?}: bad port"))?,
            _ => 80,
        };
        Ok(Self {
            base: format!("http://{authority}"),
            authority: authority.to_owned(),
            port,
        })
    }
}

#[derive(Clone)]
pub struct S3Client {
    http: Client<HttpConnector, BenchBody>,
    /// Requests go round-robin over these (several nodes of one scale-out cluster).
    endpoints: Arc<[Endpoint]>,
    next: Arc<AtomicUsize>,
    signer: Arc<Signer>,
}

impl S3Client {
    pub fn new(endpoint: Endpoint, signer: Signer) -> Self {
        Self::with_endpoints(vec![endpoint], signer)
    }

    /// A client spreading its requests round-robin over `endpoints` (at least one).
    pub fn with_endpoints(endpoints: Vec<Endpoint>, signer: Signer) -> Self {
        assert!(!endpoints.is_empty(), "at least one endpoint");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(usize::MAX)
            // Host is set (and signed) by `send`; the client must not add a different one.
            .set_host(false)
            .build(connector);
        Self {
            http,
            endpoints: endpoints.into(),
            next: Arc::new(AtomicUsize::new(0)),
            signer: Arc::new(signer),
        }
    }

    /// Sends one signed request and returns the response if its status is 2xx.
    async fn send(
        &self,
        op: &str,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: BenchBody,
    ) -> Result<Response<Incoming>> {
        let mut path = format!("/{}", sigv4::uri_encode(bucket, false));
        if let Some(key) = key {
            path.push('/');
            path.push_str(&sigv4::uri_encode(key, true));
        }
        let query = sigv4::canonical_query(query);
        let endpoint =
            &self.endpoints[self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len()];
        let uri = if query.is_empty() {
            format!("{}{path}", endpoint.base)
        } else {
            format!("{}{path}?{query}", endpoint.base)
        };
        let amz_date = sigv4::amz_date_now();
        let auth = self.signer.authorization(
            method.as_str(),
            &path,
            &query,
            &[
                ("host", &endpoint.authority),
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
                ("x-amz-date", &amz_date),
            ],
            UNSIGNED_PAYLOAD,
            &amz_date,
        );
        let mut req = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(HOST, &endpoint.authority)
            .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
            .header("x-amz-date", &amz_date)
            .header(AUTHORIZATION, auth);
        // S3 needs an explicit length for unsigned payloads (no chunked transfer encoding).
        if body.len() > 0 || matches!(method, Method::PUT | Method::POST) {
            req = req.header(CONTENT_LENGTH, body.len());
        }
        let resp = self
            .http
            .request(req.body(body)?)
            .await
            .with_context(|| format!("{op} {uri}"))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(S3Error::from_response(op, resp).await.into())
    }

    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        match self
            .send(
                "CreateBucket",
                Method::PUT,
                bucket,
                None,
                &[],
                BenchBody::empty(),
            )
            .await
        {
            Ok(resp) => {
                body::drain(resp.into_body()).await?;
                Ok(())
            }
            Err(e)
                if e.downcast_ref::<S3Error>()
                    .is_some_and(|e| e.code == "BucketAlreadyOwnedByYou") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Turns on the bucket's default encryption (SSE-S3): every later PUT is sealed.
    pub async fn put_bucket_encryption_aes256(&self, bucket: &str) -> Result<()> {
        let xml = "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>\
                   <SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>\
                   </Rule></ServerSideEncryptionConfiguration>";
        let resp = self
            .send(
                "PutBucketEncryption",
                Method::PUT,
                bucket,
                None,
                &[("encryption", "")],
                BenchBody::full(xml),
            )
            .await?;
        body::drain(resp.into_body()).await?;
        Ok(())
    }

    /// Uploads `data` (sent in 1 MiB frames); returns the ETag.
    pub async fn put_object(&self, bucket: &str, key: &str, data: Bytes) -> Result<String> {
        let resp = self
            .send(
                "PutObject",
                Method::PUT,
                bucket,
                Some(key),
                &[],
                BenchBody::chunked(data),
            )
            .await?;
        let etag = header(&resp, "etag");
        body::drain(resp.into_body()).await?;
        Ok(etag)
    }

    /// Downloads an object, discarding the data; returns the number of body bytes.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<u64> {
        let resp = self.get_response(bucket, key).await?;
        Ok(body::drain(resp.into_body()).await?)
    }

    /// Downloads an object into memory (at most `limit` bytes).
    pub async fn get_object_bytes(&self, bucket: &str, key: &str, limit: usize) -> Result<Vec<u8>> {
        let resp = self.get_response(bucket, key).await?;
        body::collect(resp.into_body(), limit).await
    }

    async fn get_response(&self, bucket: &str, key: &str) -> Result<Response<Incoming>> {
        self.send(
            "GetObject",
            Method::GET,
            bucket,
            Some(key),
            &[],
            BenchBody::empty(),
        )
        .await
    }

    /// Every (key, size) under `prefix`, following continuation tokens.
    pub async fn list_sizes(&self, bucket: &str, prefix: &str) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_page(bucket, prefix, token.as_deref(), 1000)
                .await?;
            let keys = xml::all(&page.doc, "Key");
            let sizes = xml::all(&page.doc, "Size");
            if keys.len() != sizes.len() {
                bail!(
                    "ListObjectsV2: {} keys but {} sizes",
                    keys.len(),
                    sizes.len()
                );
            }
            for (k, s) in keys.into_iter().zip(sizes) {
                let size = s
                    .parse()
                    .with_context(|| format!("ListObjectsV2: bad Size {s:?}"))?;
                out.push((k, size));
            }
            match page.next_token()? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Every open multipart upload of `bucket` as (key, upload id); fails if there are more
    /// than one page holds.
    pub async fn list_uploads(&self, bucket: &str) -> Result<Vec<(String, String)>> {
        let resp = self
            .send(
                "ListMultipartUploads",
                Method::GET,
                bucket,
                None,
                &[("max-uploads", "1000"), ("uploads", "")],
                BenchBody::empty(),
            )
            .await?;
        let doc = String::from_utf8(body::collect(resp.into_body(), XML_LIMIT).await?)
            .context("ListMultipartUploads: response is not UTF-8")?;
        if doc.contains("<IsTruncated>true</IsTruncated>") {
            bail!("ListMultipartUploads: more than 1000 open uploads");
        }
        let keys = xml::all(&doc, "Key");
        let ids = xml::all(&doc, "UploadId");
        if keys.len() != ids.len() {
            bail!(
                "ListMultipartUploads: {} keys but {} upload ids",
                keys.len(),
                ids.len()
            );
        }
        Ok(keys.into_iter().zip(ids).collect())
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let resp = self
            .send(
                "DeleteObject",
                Method::DELETE,
                bucket,
                Some(key),
                &[],
                BenchBody::empty(),
            )
            .await?;
        body::drain(resp.into_body()).await?;
        Ok(())
    }

    /// One ListObjectsV2 page: returns the raw XML document.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<&str>,
        max_keys: u32,
    ) -> Result<ListPage> {
        let max_keys = max_keys.to_string();
        let mut query = vec![
            ("list-type", "2"),
            ("prefix", prefix),
            ("max-keys", max_keys.as_str()),
        ];
        if let Some(token) = token {
            query.push(("continuation-token", token));
        }
        let resp = self
            .send(
                "ListObjectsV2",
                Method::GET,
                bucket,
                None,
                &query,
                BenchBody::empty(),
            )
            .await?;
        let doc = String::from_utf8(body::collect(resp.into_body(), XML_LIMIT).await?)
            .context("ListObjectsV2: response is not UTF-8")?;
        Ok(ListPage { doc })
    }

    /// Counts every key under `prefix`, following continuation tokens.
    pub async fn count_keys(&self, bucket: &str, prefix: &str, max_keys: u32) -> Result<u64> {
        let mut total = 0u64;
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_page(bucket, prefix, token.as_deref(), max_keys)
                .await?;
            total += page.key_count() as u64;
            match page.next_token()? {
                Some(t) => token = Some(t),
                None => return Ok(total),
            }
        }
    }

    /// Every key under `prefix` (for cleanup).
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_page(bucket, prefix, token.as_deref(), 1000)
                .await?;
            keys.extend(xml::all(&page.doc, "Key"));
            match page.next_token()? {
                Some(t) => token = Some(t),
                None => return Ok(keys),
            }
        }
    }

    pub async fn create_multipart(&self, bucket: &str, key: &str) -> Result<String> {
        let resp = self
            .send(
                "CreateMultipartUpload",
                Method::POST,
                bucket,
                Some(key),
                &[("uploads", "")],
                BenchBody::empty(),
            )
            .await?;
        let doc = String::from_utf8_lossy(&body::collect(resp.into_body(), XML_LIMIT).await?)
            .into_owned();
        xml::first(&doc, "UploadId").context("CreateMultipartUpload: no UploadId in response")
    }

    /// Uploads one part; returns its ETag.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        data: Bytes,
    ) -> Result<String> {
        let pn = part_number.to_string();
        let resp = self
            .send(
                "UploadPart",
                Method::PUT,
                bucket,
                Some(key),
                &[("partNumber", &pn), ("uploadId", upload_id)],
                BenchBody::chunked(data),
            )
            .await?;
        let etag = header(&resp, "etag");
        body::drain(resp.into_body()).await?;
        if etag.is_empty() {
            bail!("UploadPart {part_number}: response has no ETag");
        }
        Ok(etag)
    }

    /// `parts` are (part number, ETag) in ascending part order.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<()> {
        let mut doc = String::from("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            doc.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                xml::escape(etag)
            ));
        }
        doc.push_str("</CompleteMultipartUpload>");
        let resp = self
            .send(
                "CompleteMultipartUpload",
                Method::POST,
                bucket,
                Some(key),
                &[("uploadId", upload_id)],
                BenchBody::full(doc),
            )
            .await?;
        // S3 may report a failed completion inside a 200 response.
        let doc = String::from_utf8_lossy(&body::collect(resp.into_body(), XML_LIMIT).await?)
            .into_owned();
        if doc.contains("<Error>") {
            bail!(
                "CompleteMultipartUpload failed: {} {}",
                xml::first(&doc, "Code").unwrap_or_default(),
                xml::first(&doc, "Message").unwrap_or_default()
            );
        }
        Ok(())
    }

    pub async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let resp = self
            .send(
                "AbortMultipartUpload",
                Method::DELETE,
                bucket,
                Some(key),
                &[("uploadId", upload_id)],
                BenchBody::empty(),
            )
            .await?;
        body::drain(resp.into_body()).await?;
        Ok(())
    }
}

pub struct ListPage {
    pub doc: String,
}

impl ListPage {
    pub fn key_count(&self) -> usize {
        xml::count(&self.doc, "Key")
    }

    /// The continuation token if the listing is truncated.
    pub fn next_token(&self) -> Result<Option<String>> {
        if !self.doc.contains("<IsTruncated>true</IsTruncated>") {
            return Ok(None);
        }
        match xml::first(&self.doc, "NextContinuationToken") {
            Some(t) if !t.is_empty() => Ok(Some(t)),
            _ => bail!("ListObjectsV2: truncated page without NextContinuationToken"),
        }
    }
}

/// A non-2xx S3 response.
#[derive(Debug)]
pub struct S3Error {
    pub op: String,
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl S3Error {
    async fn from_response(op: &str, resp: Response<Incoming>) -> Self {
        let status = resp.status();
        let doc = body::collect(resp.into_body(), XML_LIMIT)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Self {
            op: op.to_owned(),
            status,
            code: xml::first(&doc, "Code").unwrap_or_default(),
            message: xml::first(&doc, "Message").unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: HTTP {}", self.op, self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for S3Error {}

fn header(resp: &Response<Incoming>, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(
            (e.base.as_str(), e.authority.as_str(), e.port),
            ("http://127.0.0.1:9000", "127.0.0.1:9000", 9000)
        );
        let e = Endpoint::parse("http://localhost").unwrap();
        assert_eq!(e.port, 80);
        let e = Endpoint::parse("http://[::1]:9100").unwrap();
        assert_eq!((e.authority.as_str(), e.port), ("[::1]:9100", 9100));
        assert_eq!(Endpoint::parse("http://[::1]").unwrap().port, 80);
        assert!(Endpoint::parse("https://x").is_err());
    }
}
