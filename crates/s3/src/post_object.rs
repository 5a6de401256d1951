//! Browser form uploads (presigned POST: `POST /bucket` with `multipart/form-data`).
//!
//! s3s 0.14 parses the form, verifies the SigV4 POST signature over the base64 policy
//! with the signing key's secret (through [`crate::access::Authenticator`]), checks the
//! policy's expiration and conditions (`eq`, `starts-with`, `content-length-range`,
//! `bucket`; every form field must be covered), and hands the upload to `put_object`
//! with the method `POST`. This module adds what it lacks:
//! * [`prepare`] (HTTP wrapper): bounds the request body ([`MAX_POST_BODY`]; more →
//!   `EntityTooLarge`) and records the file part's file name for `${filename}`;
//! * [`Gateway::post_object_prelude`] (called by `put_object` for POST): refuses SigV2
//!   form signatures, substitutes `${filename}` in the key, and authorizes
//!   `s3:PutObject` on the final `bucket/key` — the access check cannot, since the key
//!   is in the body (action table row `PostObject` has only this per-key check);
//! * [`rewrite_error`]: S3 answers failed policy conditions and expired policies with
//!   403 `AccessDenied`; s3s says `InvalidPolicyDocument` for the conditions.
//!
//! The upload then takes the PutObject path of the object service unchanged
//! (checksums, usage, capacity caps, audit). `success_action_status` (200, 201 with
//! the `PostResponse` XML, default 204) and `success_action_redirect` (303) are
//! serialized by s3s.

use crate::access::Caller;
use crate::actions::S3_PUT_OBJECT;
use crate::errors::s3;
use crate::gateway::Gateway;
use bytes::Bytes;
use http::StatusCode;
use s3s::dto::PutObjectInput;
use s3s::{Body, HttpRequest, HttpResponse, S3Error, S3ErrorCode, S3Result};

/// Largest file a form upload may carry (s3s buffers it in memory before the policy
/// check); larger objects use PutObject or multipart uploads.
pub const MAX_POST_FILE: u64 = 100 * 1024 * 1024;
/// Largest whole form: the file plus s3s's limit on all other fields (20 MiB).
pub const MAX_POST_BODY: usize = MAX_POST_FILE as usize + 20 * 1024 * 1024;

/// The `filename` of the form's `file` part, for `${filename}` in the key.
#[derive(Debug, Clone)]
pub struct PostFileName(pub String);

/// Whether the request is a form upload: `POST` of `multipart/form-data` without a
/// query (POST with a query is another operation, e.g. DeleteObjects).
pub fn is_form_post(req: &HttpRequest) -> bool {
    req.method() == http::Method::POST
        && req.uri().query().is_none_or(str::is_empty)
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            })
}

/// Reads the form (bounded) so that the file name can be recorded; the body stays
/// readable for s3s.
///
/// # Errors
/// `EntityTooLarge` when the form exceeds [`MAX_POST_BODY`]; `MalformedPOSTRequest`
/// when the body cannot be read.
pub async fn prepare(req: &mut HttpRequest) -> Result<(), S3Error> {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        S3Error::with_message(
            S3ErrorCode::EntityTooLarge,
            format!(
                "Your proposed upload exceeds the maximum allowed size for a form upload \
                 ({MAX_POST_FILE} bytes)"
            ),
        )
    };
    if declared.is_some_and(|n| n > MAX_POST_BODY as u64) {
        return Err(too_large());
    }
    let bytes: Bytes = req
        .body_mut()
        .store_all_limited(MAX_POST_BODY)
        .await
        .map_err(|e| {
            if e.to_string().to_ascii_lowercase().contains("limit") {
                too_large()
            } else {
                S3Error::with_message(
                    S3ErrorCode::MalformedPOSTRequest,
                    "The body of your POST request is not well-formed multipart/form-data.",
                )
            }
        })?;
    let bytes = match file_name(&bytes) {
        Some(name) => {
            let out = substitute_key(&bytes, &name).map_or(bytes, Bytes::from);
            req.extensions_mut().insert(PostFileName(name));
            out
        }
        None => bytes,
    };
    *req.body_mut() = Body::from(bytes);
    Ok(())
}

/// The last path component of a browser's file name.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or("")
}

/// The form with `${filename}` in the value of its `key` field replaced by the file's
/// base name, so that the policy check, the stored key and the `PostResponse` agree;
/// `None` when there is nothing to replace.
fn substitute_key(body: &[u8], name: &str) -> Option<Vec<u8>> {
    const FIELD: &[u8] = b"name=\"key\"";
    const VAR: &[u8] = b"${filename}";
    let at = find(body, FIELD)?;
    let value_start = at + find(&body[at..], b"\r\n\r\n")? + 4;
    let value_end = value_start + find(&body[value_start..], b"\r\n--")?;
    let value = &body[value_start..value_end];
    find(value, VAR)?;
    let replacement = base_name(name).as_bytes();
    let mut new_value = Vec::with_capacity(value.len() + replacement.len());
    let mut rest = value;
    while let Some(i) = find(rest, VAR) {
        new_value.extend_from_slice(&rest[..i]);
        new_value.extend_from_slice(replacement);
        rest = &rest[i + VAR.len()..];
    }
    new_value.extend_from_slice(rest);
    let mut out = Vec::with_capacity(body.len() + replacement.len());
    out.extend_from_slice(&body[..value_start]);
    out.extend_from_slice(&new_value);
    out.extend_from_slice(&body[value_end..]);
    Some(out)
}

/// The `filename` parameter of the part named `file` (the browser's local file name).
fn file_name(body: &[u8]) -> Option<String> {
    const NEEDLE: &[u8] = b"name=\"file\"";
    let mut from = 0;
    while let Some(pos) = find(&body[from..], NEEDLE) {
        let start = from + pos;
        // The part's header line ends at CRLF.
        let line_end = find(&body[start..], b"\r\n").map_or(body.len(), |e| start + e);
        let line = &body[start..line_end];
        if let Some(f) = find(line, b"filename=\"") {
            let rest = &line[f + 10..];
            let end = rest.iter().position(|&b| b == b'"')?;
            return String::from_utf8(rest[..end].to_vec()).ok();
        }
        from = line_end;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Maps s3s's answers for refused form uploads to S3's: failed policy conditions are
/// 403 `AccessDenied` ("Invalid according to Policy: Policy Condition failed").
pub fn rewrite_error(resp: &mut HttpResponse) {
    if resp.status() != StatusCode::BAD_REQUEST {
        return;
    }
    let Some(body) = resp.body().bytes() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return;
    };
    if !text.contains("<Code>InvalidPolicyDocument</Code>") || !text.contains("Policy condition") {
        return;
    }
    let detail = text
        .split("<Message>")
        .nth(1)
        .and_then(|m| m.split("</Message>").next())
        .unwrap_or("");
    let msg = format!("Invalid according to Policy: Policy Condition failed: {detail}");
    let e = S3Error::with_message(S3ErrorCode::AccessDenied, msg);
    if let Ok(r) = e.to_http_response() {
        *resp = r;
    }
}

impl Gateway {
    /// The form-upload half of PutObject (see the module doc). `input.key` gets
    /// `${filename}` replaced.
    pub(crate) fn post_object_prelude(
        &self,
        caller: &Caller,
        sigv2: bool,
        file: Option<&PostFileName>,
        input: &mut PutObjectInput,
    ) -> S3Result<()> {
        let rid = caller.request_id();
        if sigv2 {
            return Err(s3(
                S3ErrorCode::AccessDenied,
                "AWS Signature Version 2 is not supported; sign the POST policy with \
                 AWS4-HMAC-SHA256",
                rid,
            ));
        }
        if input.key.contains("${filename}") {
            // Normally replaced in the form already (`prepare`); browsers may send a
            // path, of which S3 keeps only the last component.
            let name = file.map(|f| f.0.as_str()).unwrap_or("");
            input.key = input.key.replace("${filename}", base_name(name));
        }
        if input.key.is_empty() {
            return Err(s3(
                S3ErrorCode::InvalidArgument,
                "Bucket POST must contain a field named 'key'.",
                rid,
            ));
        }
        let resource = format!("{}/{}", input.bucket, input.key);
        if !self.authz.allowed(caller, S3_PUT_OBJECT, &resource) {
            return Err(s3(S3ErrorCode::AccessDenied, "Access Denied", rid));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nu/${filename}\r\n\
--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo 1.jpg\"\r\n\
Content-Type: image/jpeg\r\n\r\nDATA\r\n--b--\r\n";
        assert_eq!(file_name(body).as_deref(), Some("photo 1.jpg"));
        let no_name = b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b--";
        assert_eq!(file_name(no_name), None);
        assert_eq!(file_name(b""), None);
        let out = substitute_key(body, "C:\\tmp\\photo 1.jpg").unwrap();
        assert!(find(&out, b"\r\n\r\nu/photo 1.jpg\r\n--b").is_some());
        assert!(find(&out, b"${filename}").is_none());
        assert!(substitute_key(no_name, "x").is_none());
    }

    #[test]
    fn condition_failures_become_access_denied() {
        let e = S3Error::with_message(
            S3ErrorCode::InvalidPolicyDocument,
            "Policy condition 'eq' for field 'acl' failed",
        );
        let mut r = e.to_http_response().unwrap();
        rewrite_error(&mut r);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = String::from_utf8(r.body().bytes().unwrap().to_vec()).unwrap();
        assert!(body.contains("AccessDenied") && body.contains("Policy Condition failed"));
        // A malformed policy stays InvalidPolicyDocument.
        let e = S3Error::with_message(S3ErrorCode::InvalidPolicyDocument, "bad json");
        let mut r = e.to_http_response().unwrap();
        rewrite_error(&mut r);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}
