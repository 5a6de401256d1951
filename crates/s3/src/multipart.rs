//! Multipart upload handlers: Create, UploadPart, UploadPartCopy, Complete, Abort,
//! ListParts and ListMultipartUploads.

use crate::access::caller_of;
use crate::body;
use crate::errors::{s3, to_s3};
use crate::gateway::{
    Gateway, MAX_LIST, MAX_PART_NUMBER, Unsupported, acl_request, body_or, checksum_input,
    checksum_values, content_length, content_md5, copy_range, copy_source_conditions, core_alg,
    enc, i64_of, invalid, limit, metadata, non_empty, not_implemented, object_headers, ok, owner,
    part_number, pinned_copy_error, raw_header, tags, ts, url_encoding, write_condition,
};
use crate::sse::{SseOut, customer_headers, customer_md5, write_encryption};
use crate::wire::{checksum_fields, etag_in, etag_out, url_encode};
use coffer_core::checksum::ChecksumType as CoreChecksumType;
use coffer_core::model::Checksums;
use coffer_core::objects as core;
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

impl Gateway {
    pub(crate) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        Unsupported {
            storage_class: input.storage_class.as_ref(),
            object_lock: false,
            website_redirect: input.website_redirect_location.is_some(),
        }
        .check(rid)?;
        let sse = write_encryption!(&self.objects, caller, input, rid)?;
        let key_md5 = customer_md5(&sse);
        let access = self
            .check_write_acl(caller, &input.bucket, acl_request!(write input))
            .await?;
        let tags = tags(input.tagging.as_deref(), rid)?;
        self.check_write_tags(caller, &input.bucket, &input.key, &tags)?;
        let checksum_algorithm = match &input.checksum_algorithm {
            Some(a) => Some(core_alg(a, rid)?),
            None => None,
        };
        let checksum_type =
            match &input.checksum_type {
                Some(t) => Some(CoreChecksumType::parse(t.as_str()).ok_or_else(|| {
                    invalid("Value for x-amz-checksum-type header is invalid.", rid)
                })?),
                None => None,
            };
        let headers = object_headers(
            &req.headers,
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
        );
        let lock = self
            .check_write_lock(
                caller,
                &input.bucket,
                &input.key,
                input.object_lock_mode.as_ref(),
                input.object_lock_retain_until_date.as_ref(),
                input.object_lock_legal_hold_status.as_ref(),
            )
            .await?;
        let up = self
            .objects
            .create_multipart(core::CreateMultipartInput {
                bucket: input.bucket,
                key: input.key,
                headers,
                user_metadata: metadata(input.metadata),
                tags,
                checksum_algorithm,
                checksum_type,
                initiator: caller.principal().to_string(),
                lock,
                access,
                sse,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let enc = SseOut::of(up.encryption.as_ref(), key_md5.as_deref());
        Ok(ok(
            CreateMultipartUploadOutput {
                server_side_encryption: enc.sse,
                sse_customer_algorithm: enc.customer_algorithm,
                sse_customer_key_md5: enc.customer_key_md5,
                bucket: Some(up.bucket),
                key: Some(up.key),
                upload_id: Some(up.upload_id),
                checksum_algorithm: up.checksum_algorithm.map(ChecksumAlgorithm::from),
                checksum_type: up.checksum_type.map(ChecksumType::from),
                ..Default::default()
            },
            caller,
        ))
    }

    pub(crate) async fn do_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let sse_key =
            crate::sse::customer_key(&self.objects, caller, customer_headers!(input), rid)?;
        let key_md5 = sse_key.as_ref().map(|k| k.key_md5.clone());
        let part_number = part_number(input.part_number, rid)?;
        let checksum = checksum_input(
            &req.headers,
            input.checksum_algorithm.as_ref(),
            checksum_values(
                input.checksum_crc32,
                input.checksum_crc32c,
                input.checksum_crc64nvme,
                input.checksum_sha1,
                input.checksum_sha256,
            ),
            req.trailing_headers,
            rid,
        )?;
        let content_length = content_length(input.content_length, rid)?;
        let (body, fault) = body::adapt(input.body);
        let part = self
            .objects
            .upload_part(core::UploadPartInput {
                bucket: input.bucket,
                key: input.key,
                upload_id: input.upload_id,
                part_number,
                body,
                content_length,
                content_md5: content_md5(&req.headers, input.content_md5),
                checksum,
                sse_key,
            })
            .await
            .map_err(|e| body_or(e, &fault, rid))?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, _) = checksum_fields(&part.checksums);
        let enc = SseOut::of_part(part.key_salt.is_some(), key_md5);
        Ok(ok(
            UploadPartOutput {
                server_side_encryption: enc.sse,
                sse_customer_algorithm: enc.customer_algorithm,
                sse_customer_key_md5: enc.customer_key_md5,
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                e_tag: Some(etag_out(&part.etag)),
                ..Default::default()
            },
            caller,
        ))
    }

    pub(crate) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let sse_key =
            crate::sse::customer_key(&self.objects, caller, customer_headers!(input), rid)?;
        let src_sse_key = crate::sse::customer_key(
            &self.objects,
            caller,
            customer_headers!(copy_source input),
            rid,
        )?;
        let key_md5 = sse_key.as_ref().map(|k| k.key_md5.clone());
        let part_number = part_number(input.part_number, rid)?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = input.copy_source
        else {
            return Err(not_implemented(
                "Access point and outpost copy sources",
                rid,
            ));
        };
        let src_version_id = version_id.map(|v| v.to_string());
        let src_range = match input.copy_source_range.as_deref() {
            Some(r) => Some(copy_range(r, rid)?),
            None => None,
        };
        let (src_conditions, pinned) =
            copy_source_conditions!(caller, &src_bucket, &src_key, input)?;
        let part = self
            .objects
            .upload_part_copy(core::UploadPartCopyInput {
                bucket: input.bucket,
                key: input.key,
                upload_id: input.upload_id,
                part_number,
                src_bucket: src_bucket.into(),
                src_key: src_key.into(),
                src_range,
                src_version_id: src_version_id.clone(),
                src_conditions,
                sse_key,
                src_sse_key,
            })
            .await
            .map_err(|e| pinned_copy_error(e, pinned, rid))?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, _) = checksum_fields(&part.checksums);
        let enc = SseOut::of_part(part.key_salt.is_some(), key_md5);
        Ok(ok(
            UploadPartCopyOutput {
                server_side_encryption: enc.sse,
                sse_customer_algorithm: enc.customer_algorithm,
                sse_customer_key_md5: enc.customer_key_md5,
                copy_part_result: Some(CopyPartResult {
                    checksum_crc32: crc32,
                    checksum_crc32c: crc32c,
                    checksum_crc64nvme: crc64nvme,
                    checksum_sha1: sha1,
                    checksum_sha256: sha256,
                    e_tag: Some(etag_out(&part.etag)),
                    last_modified: Some(ts(part.last_modified)),
                }),
                ..Default::default()
            },
            caller,
        ))
    }

    pub(crate) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let malformed = || {
            s3(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our \
                 published schema",
                rid,
            )
        };
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .filter(|p| !p.is_empty())
            .ok_or_else(malformed)?;
        if parts.len() > MAX_PART_NUMBER as usize {
            return Err(malformed());
        }
        let mut completed = Vec::with_capacity(parts.len());
        for p in parts {
            let n = p.part_number.ok_or_else(malformed)?;
            let etag = p.e_tag.as_ref().ok_or_else(malformed)?;
            completed.push(core::CompletedPart {
                part_number: part_number(n, rid)?,
                etag: etag_in(etag),
                checksums: Checksums {
                    crc32: p.checksum_crc32,
                    crc32c: p.checksum_crc32c,
                    crc64nvme: p.checksum_crc64nvme,
                    sha1: p.checksum_sha1,
                    sha256: p.checksum_sha256,
                    checksum_type: None,
                },
            });
        }
        let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref(), rid)?;
        self.check_conditional_write(caller, &input.bucket, &input.key, &cond)?;
        let sse_key =
            crate::sse::customer_key(&self.objects, caller, customer_headers!(input), rid)?;
        let shown_key = sse_key.clone();
        let checksum = checksum_input(
            &req.headers,
            None,
            checksum_values(
                input.checksum_crc32,
                input.checksum_crc32c,
                input.checksum_crc64nvme,
                input.checksum_sha1,
                input.checksum_sha256,
            ),
            None,
            rid,
        )?
        .expected;
        let rec = self
            .objects
            .complete_multipart(core::CompleteMultipartInput {
                bucket: input.bucket.clone(),
                key: input.key.clone(),
                upload_id: input.upload_id,
                parts: completed,
                checksum,
                cond,
                sse_key,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let location = match raw_header(&req.headers, "host") {
            Some(host) => {
                let scheme = if caller.conn().is_some_and(|c| c.secure) {
                    "https"
                } else {
                    "http"
                };
                format!(
                    "{scheme}://{host}/{}/{}",
                    input.bucket,
                    url_encode(&input.key)
                )
            }
            None => format!("/{}/{}", input.bucket, url_encode(&input.key)),
        };
        let visible = crate::sse::checksums_visible(
            &self.objects,
            rec.encryption.as_ref(),
            shown_key.as_ref(),
            rid,
        )?;
        let sums = if visible {
            rec.checksums.clone()
        } else {
            Checksums::default()
        };
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) = checksum_fields(&sums);
        Ok(ok(
            CompleteMultipartUploadOutput {
                bucket: Some(input.bucket),
                key: Some(input.key),
                location: Some(location),
                e_tag: Some(etag_out(&rec.etag)),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_type,
                version_id: rec.version_id.clone(),
                server_side_encryption: SseOut::of(rec.encryption.as_ref(), None).sse,
                ..Default::default()
            },
            caller,
        ))
    }

    pub(crate) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        if input.if_match_initiated_time.is_some() {
            return Err(not_implemented("x-amz-if-match-initiated-time", rid));
        }
        self.objects
            .abort_multipart(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(AbortMultipartUploadOutput::default(), caller))
    }

    pub(crate) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let max_parts = limit(input.max_parts, MAX_LIST, "max-parts", rid)?;
        let sse_key =
            crate::sse::customer_key(&self.objects, caller, customer_headers!(input), rid)?;
        let marker = match input.part_number_marker {
            None => 0,
            Some(n) if n >= 0 => n as u32,
            Some(_) => return Err(invalid("part-number-marker must not be negative", rid)),
        };
        let out = self
            .objects
            .list_parts(
                &input.bucket,
                &input.key,
                &input.upload_id,
                marker,
                max_parts,
            )
            .await
            .map_err(|e| to_s3(e, rid))?;
        let visible = crate::sse::checksums_visible(
            &self.objects,
            out.upload.encryption.as_ref(),
            sse_key.as_ref(),
            rid,
        )?;
        let parts = out
            .parts
            .into_iter()
            .map(|p| {
                let sums = if visible {
                    p.checksums
                } else {
                    Checksums::default()
                };
                let (crc32, crc32c, crc64nvme, sha1, sha256, _) = checksum_fields(&sums);
                Part {
                    checksum_crc32: crc32,
                    checksum_crc32c: crc32c,
                    checksum_crc64nvme: crc64nvme,
                    checksum_sha1: sha1,
                    checksum_sha256: sha256,
                    e_tag: Some(etag_out(&p.etag)),
                    last_modified: Some(ts(p.last_modified)),
                    part_number: Some(p.part_number as i32),
                    size: Some(i64_of(p.size)),
                }
            })
            .collect();
        let up = out.upload;
        Ok(ok(
            ListPartsOutput {
                bucket: Some(input.bucket),
                key: Some(input.key),
                upload_id: Some(input.upload_id),
                checksum_algorithm: up.checksum_algorithm.map(ChecksumAlgorithm::from),
                checksum_type: up.checksum_type.map(ChecksumType::from),
                initiator: Some(Initiator {
                    display_name: Some(up.initiator.clone()),
                    id: Some(up.initiator),
                }),
                owner: Some(owner(
                    up.owner_org.as_deref().unwrap_or(caller.bucket_owner()),
                )),
                is_truncated: Some(out.is_truncated),
                max_parts: Some(max_parts as i32),
                part_number_marker: Some(marker as i32),
                next_part_number_marker: out.next_part_number_marker.map(|n| n as i32),
                parts: Some(parts),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                ..Default::default()
            },
            caller,
        ))
    }

    pub(crate) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let url = url_encoding(input.encoding_type.as_ref(), rid)?;
        let max_uploads = limit(input.max_uploads, MAX_LIST, "max-uploads", rid)?;
        let prefix = input.prefix.unwrap_or_default();
        let delimiter = non_empty(input.delimiter);
        let key_marker = input.key_marker.unwrap_or_default();
        let upload_id_marker = input.upload_id_marker.unwrap_or_default();
        let out = self
            .objects
            .list_uploads(core::ListUploadsInput {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                key_marker: key_marker.clone(),
                upload_id_marker: upload_id_marker.clone(),
                max_uploads,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let uploads = out
            .uploads
            .into_iter()
            .map(|u| MultipartUpload {
                checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                checksum_type: u.checksum_type.map(ChecksumType::from),
                initiated: Some(ts(u.initiated)),
                initiator: Some(Initiator {
                    display_name: Some(u.initiator.clone()),
                    id: Some(u.initiator),
                }),
                key: Some(enc(u.key, url)),
                owner: Some(owner(
                    u.owner_org.as_deref().unwrap_or(caller.bucket_owner()),
                )),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(u.upload_id),
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
            ListMultipartUploadsOutput {
                bucket: Some(input.bucket),
                common_prefixes: Some(common_prefixes),
                delimiter: delimiter.map(|d| enc(d, url)),
                encoding_type: url.then(|| EncodingType::from_static(EncodingType::URL)),
                is_truncated: Some(out.is_truncated),
                key_marker: Some(enc(key_marker, url)),
                max_uploads: Some(max_uploads as i32),
                next_key_marker: out.next_key_marker.map(|k| enc(k, url)),
                next_upload_id_marker: out.next_upload_id_marker,
                prefix: Some(enc(prefix, url)),
                request_charged: None,
                upload_id_marker: Some(upload_id_marker),
                uploads: Some(uploads),
            },
            caller,
        ))
    }
}
