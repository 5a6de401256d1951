//! Object listings: ListObjects (v1) and ListObjectsV2. (ListObjectVersions is in
//! `versioning.rs`, the multipart listings in `multipart.rs`.)

use crate::access::caller_of;
use crate::errors::to_s3;
use crate::gateway::{
    Gateway, MAX_LIST, enc, i64_of, invalid, limit, non_empty, ok, owner, ts, url_encoding,
};
use crate::wire::{decode_token, encode_token, etag_out};
use coffer_core::objects as core;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

impl Gateway {
    pub(crate) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let url = url_encoding(input.encoding_type.as_ref(), rid)?;
        let max_keys = limit(input.max_keys, MAX_LIST, "max-keys", rid)?;
        let prefix = input.prefix.unwrap_or_default();
        let delimiter = non_empty(input.delimiter);
        let marker = input.marker.unwrap_or_default();
        let out = self
            .objects
            .list_objects(core::ListObjectsInput {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                start_after: marker.clone(),
                max_keys,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        // S3 returns NextMarker only when a delimiter was given (without one, clients
        // continue from the last key).
        let next_marker = if out.is_truncated && delimiter.is_some() {
            out.next_marker.clone().map(|m| enc(m, url))
        } else {
            None
        };
        let contents = out
            .objects
            .into_iter()
            .map(|o| Object {
                e_tag: Some(etag_out(&o.etag)),
                key: Some(enc(o.key, url)),
                last_modified: Some(ts(o.last_modified)),
                owner: Some(owner(caller.bucket_owner())),
                size: Some(i64_of(o.size)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let common_prefixes = out
            .common_prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p, url)),
            })
            .collect();
        Ok(ok(
            ListObjectsOutput {
                name: Some(input.bucket),
                // V1 echoes the prefix unencoded even with `encoding-type=url` (what S3
                // does, and the fields botocore decodes for V1 exclude it).
                prefix: Some(prefix),
                marker: Some(enc(marker, url)),
                max_keys: Some(max_keys as i32),
                is_truncated: Some(out.is_truncated),
                contents: Some(contents),
                common_prefixes: Some(common_prefixes),
                delimiter: delimiter.map(|d| enc(d, url)),
                next_marker,
                encoding_type: url.then(|| EncodingType::from_static(EncodingType::URL)),
                request_charged: None,
            },
            caller,
        ))
    }

    pub(crate) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let url = url_encoding(input.encoding_type.as_ref(), rid)?;
        let max_keys = limit(input.max_keys, MAX_LIST, "max-keys", rid)?;
        let prefix = input.prefix.unwrap_or_default();
        let delimiter = non_empty(input.delimiter);
        let start_after = input.start_after.unwrap_or_default();
        // An empty token starts from the beginning and is echoed as sent.
        let echoed_token = input.continuation_token;
        let token = non_empty(echoed_token.clone());
        let resume = match &token {
            Some(t) => decode_token(t)
                .ok_or_else(|| invalid("The continuation token provided is incorrect", rid))?,
            None => String::new(),
        };
        // The token resumes after a key that was itself after start-after.
        let start = std::cmp::max(resume, start_after.clone());
        let out = self
            .objects
            .list_objects(core::ListObjectsInput {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                start_after: start,
                max_keys,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let fetch_owner = input.fetch_owner == Some(true);
        let key_count = out.objects.len() + out.common_prefixes.len();
        let next = if out.is_truncated {
            out.next_marker.as_deref().map(encode_token)
        } else {
            None
        };
        let contents = out
            .objects
            .into_iter()
            .map(|o| Object {
                e_tag: Some(etag_out(&o.etag)),
                key: Some(enc(o.key, url)),
                last_modified: Some(ts(o.last_modified)),
                owner: fetch_owner.then(|| owner(caller.bucket_owner())),
                size: Some(i64_of(o.size)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let common_prefixes = out
            .common_prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p, url)),
            })
            .collect();
        Ok(ok(
            ListObjectsV2Output {
                name: Some(input.bucket),
                prefix: Some(enc(prefix, url)),
                max_keys: Some(max_keys as i32),
                key_count: Some(key_count as i32),
                continuation_token: echoed_token,
                is_truncated: Some(out.is_truncated),
                next_continuation_token: next,
                contents: Some(contents),
                common_prefixes: Some(common_prefixes),
                delimiter: delimiter.map(|d| enc(d, url)),
                encoding_type: url.then(|| EncodingType::from_static(EncodingType::URL)),
                start_after: non_empty(Some(start_after)).map(|s| enc(s, url)),
                request_charged: None,
            },
            caller,
        ))
    }
}
