//! Object handlers: PutObject (and the form-upload write path), GetObject, HeadObject,
//! DeleteObject, DeleteObjects, CopyObject.

use crate::access::{Caller, caller_of};
use crate::actions::S3_DELETE_OBJECT;
use crate::body;
use crate::cache_origin::CacheCall;
use crate::errors::{map_error, s3, to_s3};
use crate::gateway::{
    Gateway, Unsupported, acl_request, body_or, byte_range, check_admitted, checksum_input,
    checksum_values, content_length, content_md5, copy_source_conditions, core_alg, i64_of,
    invalid, metadata, not_implemented, object_headers, ok, part_number, pinned_copy_error,
    raw_write_condition, read_conditions, tags, ts, write_condition,
};
use crate::sse::{SseOut, customer_headers, customer_md5, refuse_on_read, write_encryption};
use crate::wire::{checksum_fields, etag_out};
use coffer_core::Error;
use coffer_core::audit::AuditResult;
use coffer_core::blob::ByteStream;
use coffer_core::model::{Checksums, ObjectRecord};
use coffer_core::objects as core;
use http::HeaderValue;
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

/// What GET and HEAD return about an object.
struct ObjectView {
    rec: ObjectRecord,
    content_length: u64,
    content_range: Option<String>,
    checksums: Option<Checksums>,
    parts_count: Option<u32>,
    body: Option<ByteStream>,
}

struct GetArgs {
    bucket: String,
    key: String,
    version_id: Option<String>,
    range: Option<Range>,
    part_number: Option<i32>,
    conditions: core::ReadConditions,
    checksum_mode: bool,
    sse_key: Option<coffer_core::sse::CustomerKey>,
}

fn checksum_mode_enabled(m: Option<&ChecksumMode>) -> bool {
    m.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

/// `Expires` is stored verbatim; s3s would re-format it from a parsed timestamp, so it
/// goes out as a raw header unless `response-expires` overrides it.
fn expires_header(r: &mut S3Response<impl Sized>, rec: &ObjectRecord, overridden: bool) {
    if overridden {
        return;
    }
    if let Some(v) = rec
        .headers
        .expires
        .as_deref()
        .and_then(|e| HeaderValue::from_str(e).ok())
    {
        r.headers.insert(http::header::EXPIRES, v);
    }
}

impl Gateway {
    /// PutObject, for requests whose success is answered with `ok_status` and a body of
    /// `bytes_sent` bytes (the outbox audit event records them): 200 and none for
    /// PutObject, the form's answer for a form upload ([`crate::post_object`]).
    pub(crate) async fn put_object_as(
        &self,
        req: S3Request<PutObjectInput>,
        ok_status: u16,
        bytes_sent: u64,
    ) -> S3Result<S3Response<PutObjectOutput>> {
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
        if input.write_offset_bytes.is_some() {
            return Err(not_implemented(
                "Appending writes (x-amz-write-offset-bytes)",
                rid,
            ));
        }
        let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref(), rid)?;
        self.check_conditional_write(caller, &input.bucket, &input.key, &cond)?;
        let tags = tags(input.tagging.as_deref(), rid)?;
        self.check_write_tags(caller, &input.bucket, &input.key, &tags)?;
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
        let headers = object_headers(
            &req.headers,
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
        );
        let content_length = content_length(input.content_length, rid)?;
        let (audit_event, outbox) = match self
            .outbox_event(&req.extensions, ok_status, bytes_sent, rid)
            .await?
        {
            Some((event, slot)) => {
                let len = event.len() as u64;
                (Some(event), Some((len, slot)))
            }
            None => (None, None),
        };
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
        let bucket_record = caller.bucket_record(&input.bucket);
        let (body, fault) = body::adapt(input.body);
        let rec = self
            .objects
            .put_object(core::PutObjectInput {
                bucket: input.bucket,
                key: input.key,
                body,
                content_length,
                content_md5: content_md5(&req.headers, input.content_md5),
                checksum,
                headers,
                user_metadata: metadata(input.metadata),
                tags,
                cond,
                audit_event,
                bucket_record,
                lock,
                access,
                sse,
            })
            .await
            .map_err(|e| body_or(e, &fault, rid))?;
        self.outboxed(outbox);
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&rec.checksums);
        let enc = SseOut::of(rec.encryption.as_ref(), key_md5.as_deref());
        Ok(ok(
            PutObjectOutput {
                server_side_encryption: enc.sse,
                sse_customer_algorithm: enc.customer_algorithm,
                sse_customer_key_md5: enc.customer_key_md5,
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_type,
                e_tag: Some(etag_out(&rec.etag)),
                version_id: rec.version_id.clone(),
                ..Default::default()
            },
            caller,
        ))
    }

    async fn read_object(
        &self,
        caller: &Caller,
        get: GetArgs,
        want_body: impl FnOnce(&ObjectRecord, u64) -> bool,
    ) -> S3Result<ObjectView> {
        let rid = caller.request_id();
        let part = match get.part_number {
            Some(n) => Some(part_number(n, rid)?),
            None => None,
        };
        if part.is_some() && get.range.is_some() {
            return Err(s3(
                S3ErrorCode::InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter",
                rid,
            ));
        }
        let range = get.range.map(byte_range);
        let input = core::GetObjectInput {
            bucket: get.bucket,
            key: get.key,
            range,
            part_number: part,
            conditions: get.conditions,
            sse_key: get.sse_key,
        };
        let out = self
            .objects
            .get_object_deciding(input, get.version_id.as_deref(), want_body)
            .await
            .map_err(|e| to_s3(e, rid))?;
        // Admitted by an object ACL: only that version may be served (its body stream
        // has not been read yet; dropping it sends nothing).
        check_admitted(caller, &out.record)?;
        let size = out.record.size;
        let content_range = out.range.map(|(s, e)| format!("bytes {s}-{e}/{size}"));
        // Stored checksums describe the whole object (or one part); a plain range gets
        // none, like S3.
        let checksums = if !get.checksum_mode {
            None
        } else if let Some(n) = part {
            match out.record.parts.iter().find(|p| p.part_number == n) {
                // A part's own checksums carry no type; it is the object's (COMPOSITE or
                // FULL_OBJECT), as S3 reports it on a part GET.
                Some(p) => Some(Checksums {
                    checksum_type: out.record.checksums.checksum_type.clone(),
                    ..p.checksums.clone()
                }),
                None if out.record.parts.is_empty() => Some(out.record.checksums.clone()),
                None => None,
            }
        } else if out.range.is_some() && out.content_length != size {
            None
        } else {
            Some(out.record.checksums.clone())
        };
        Ok(ObjectView {
            content_length: out.content_length,
            content_range,
            checksums,
            parts_count: out.parts_count,
            body: out.body,
            rec: out.record,
        })
    }

    pub(crate) async fn do_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        refuse_on_read(&req.headers, rid)?;
        let sse_key =
            crate::sse::customer_key(&self.objects, caller, customer_headers!(input), rid)?;
        let key_md5 = sse_key.as_ref().map(|k| k.key_md5.clone());
        let expires_overridden = input.response_expires.is_some();
        let args = GetArgs {
            conditions: read_conditions(
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since,
                input.if_unmodified_since,
            ),
            bucket: input.bucket,
            key: input.key,
            version_id: input.version_id,
            range: input.range,
            part_number: input.part_number,
            checksum_mode: checksum_mode_enabled(input.checksum_mode.as_ref()),
            sse_key,
        };
        // Through a compute-node cache, a cacheable version is answered head-only: the
        // node serves the bytes (crate::cache_origin). Its blobs are then never opened.
        let call = req.extensions.get::<CacheCall>();
        let mut cache_head = None;
        let v = self
            .read_object(caller, args, |rec, len| {
                cache_head = call.and_then(|c| c.answer_head(rec, len));
                cache_head.is_none()
            })
            .await?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&v.checksums.unwrap_or_default());
        let rec = v.rec;
        let body = v.body.map(|b| body::response(b, v.content_length));
        let content_length = if cache_head.is_some() {
            0
        } else {
            v.content_length
        };
        let (object_lock_mode, object_lock_retain_until_date, object_lock_legal_hold_status) =
            self.lock_headers(caller, &rec);
        let enc = SseOut::of(rec.encryption.as_ref(), key_md5.as_deref());
        let mut resp = ok(
            GetObjectOutput {
                server_side_encryption: enc.sse,
                sse_customer_algorithm: enc.customer_algorithm,
                sse_customer_key_md5: enc.customer_key_md5,
                object_lock_mode,
                object_lock_retain_until_date,
                object_lock_legal_hold_status,
                accept_ranges: Some("bytes".to_string()),
                body,
                cache_control: rec.headers.cache_control.clone(),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_type,
                content_disposition: rec.headers.content_disposition.clone(),
                content_encoding: rec.headers.content_encoding.clone(),
                content_language: rec.headers.content_language.clone(),
                content_length: Some(i64_of(content_length)),
                content_range: v.content_range,
                content_type: Some(content_type_of(&rec.headers)),
                e_tag: Some(etag_out(&rec.etag)),
                last_modified: Some(ts(rec.last_modified)),
                metadata: (!rec.user_metadata.is_empty())
                    .then(|| rec.user_metadata.clone().into_iter().collect()),
                parts_count: v.parts_count.map(|n| n as i32),
                tag_count: (!rec.tags.is_empty()).then_some(rec.tags.len() as i32),
                version_id: rec.version_id.clone(),
                ..Default::default()
            },
            caller,
        );
        expires_header(&mut resp, &rec, expires_overridden);
        if let Some(h) = cache_head {
            resp.headers.extend(h);
        }
        Ok(resp)
    }

    pub(crate) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        refuse_on_read(&req.headers, rid)?;
        let sse_key =
            crate::sse::customer_key(&self.objects, caller, customer_headers!(input), rid)?;
        let key_md5 = sse_key.as_ref().map(|k| k.key_md5.clone());
        let expires_overridden = input.response_expires.is_some();
        let v = self
            .read_object(
                caller,
                GetArgs {
                    conditions: read_conditions(
                        input.if_match.as_ref(),
                        input.if_none_match.as_ref(),
                        input.if_modified_since,
                        input.if_unmodified_since,
                    ),
                    bucket: input.bucket,
                    key: input.key,
                    version_id: input.version_id,
                    range: input.range,
                    part_number: input.part_number,
                    checksum_mode: checksum_mode_enabled(input.checksum_mode.as_ref()),
                    sse_key,
                },
                |_, _| false,
            )
            .await?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&v.checksums.unwrap_or_default());
        let rec = v.rec;
        let (object_lock_mode, object_lock_retain_until_date, object_lock_legal_hold_status) =
            self.lock_headers(caller, &rec);
        let enc = SseOut::of(rec.encryption.as_ref(), key_md5.as_deref());
        // HeadObject has no response-* overrides in s3s 0.14's serializer; apply them.
        let mut out = HeadObjectOutput {
            server_side_encryption: enc.sse,
            sse_customer_algorithm: enc.customer_algorithm,
            sse_customer_key_md5: enc.customer_key_md5,
            object_lock_mode,
            object_lock_retain_until_date,
            object_lock_legal_hold_status,
            accept_ranges: Some("bytes".to_string()),
            cache_control: input
                .response_cache_control
                .or_else(|| rec.headers.cache_control.clone()),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64nvme,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_type,
            content_disposition: input
                .response_content_disposition
                .or_else(|| rec.headers.content_disposition.clone()),
            content_encoding: input
                .response_content_encoding
                .or_else(|| rec.headers.content_encoding.clone()),
            content_language: input
                .response_content_language
                .or_else(|| rec.headers.content_language.clone()),
            content_length: Some(i64_of(v.content_length)),
            content_range: v.content_range,
            content_type: Some(
                input
                    .response_content_type
                    .unwrap_or_else(|| content_type_of(&rec.headers)),
            ),
            e_tag: Some(etag_out(&rec.etag)),
            last_modified: Some(ts(rec.last_modified)),
            metadata: (!rec.user_metadata.is_empty())
                .then(|| rec.user_metadata.clone().into_iter().collect()),
            parts_count: v.parts_count.map(|n| n as i32),
            version_id: rec.version_id.clone(),
            ..Default::default()
        };
        if let Some(e) = input.response_expires {
            out.expires = Some(e);
        }
        let mut resp = ok(out, caller);
        if !rec.tags.is_empty()
            && let Ok(v) = HeaderValue::from_str(&rec.tags.len().to_string())
        {
            resp.headers.insert("x-amz-tagging-count", v);
        }
        expires_header(&mut resp, &rec, expires_overridden);
        Ok(resp)
    }

    pub(crate) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        if input.if_match.is_some()
            || input.if_match_last_modified_time.is_some()
            || input.if_match_size.is_some()
        {
            return Err(not_implemented("Conditional deletes", rid));
        }
        let bypass = self.bypass_governance(
            caller,
            input.bypass_governance_retention,
            &input.bucket,
            &input.key,
        );
        let d = self
            .objects
            .delete_version(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                bypass,
            )
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(
            DeleteObjectOutput {
                delete_marker: d.delete_marker.then_some(true),
                version_id: d.version_id,
                ..Default::default()
            },
            caller,
        ))
    }

    pub(crate) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        // Per-key audit events (crate::audit): each key's outcome goes into the slot.
        let audit = req.extensions.get::<crate::audit::S3AuditSlot>().cloned();
        let item = |key: &str, result: AuditResult, status: u16| {
            if let Some(a) = &audit {
                a.item(key, result, status);
            }
        };
        let input = req.input;
        let objects = input.delete.objects;
        if objects.len() > 1000 {
            return Err(s3(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our \
                 published schema (at most 1000 keys per request)",
                rid,
            ));
        }
        // A missing bucket fails the whole request, not each key.
        self.objects
            .get_bucket(&input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?;
        let quiet = input.delete.quiet == Some(true);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in objects {
            let fail = |code: &str, msg: String| s3s::dto::Error {
                code: Some(code.to_string()),
                key: Some(obj.key.clone()),
                message: Some(msg),
                version_id: obj.version_id.clone(),
            };
            let resource = format!("{}/{}", input.bucket, obj.key);
            let action = match obj.version_id {
                Some(_) => crate::actions::S3_DELETE_OBJECT_VERSION,
                None => S3_DELETE_OBJECT,
            };
            if !self.authz.allowed(caller, action, &resource) {
                item(&obj.key, AuditResult::Denied, 403);
                errors.push(fail("AccessDenied", "Access Denied".into()));
                continue;
            }
            let bypass = self.bypass_governance(
                caller,
                input.bypass_governance_retention,
                &input.bucket,
                &obj.key,
            );
            match self
                .objects
                .delete_version(&input.bucket, &obj.key, obj.version_id.as_deref(), bypass)
                .await
            {
                Ok(d) => {
                    item(&obj.key, AuditResult::Allowed, 204);
                    if !quiet {
                        let marker_created = obj.version_id.is_none() && d.delete_marker;
                        deleted.push(DeletedObject {
                            key: Some(obj.key.clone()),
                            version_id: obj.version_id.clone(),
                            delete_marker: d.delete_marker.then_some(true),
                            delete_marker_version_id: if marker_created {
                                d.version_id
                            } else {
                                None
                            },
                        });
                    }
                }
                Err(e) => {
                    if let Error::Internal(d) = &e {
                        tracing::error!(request_id = rid, key = %obj.key, detail = %d, "internal error");
                    }
                    let (code, status, msg) = map_error(&e);
                    item(
                        &obj.key,
                        AuditResult::Error,
                        status.map_or_else(
                            || code.status_code().map_or(500, |s| s.as_u16()),
                            |s| s.as_u16(),
                        ),
                    );
                    errors.push(fail(code.as_str(), msg));
                }
            }
        }
        Ok(ok(
            DeleteObjectsOutput {
                deleted: Some(deleted),
                errors: Some(errors),
                request_charged: None,
            },
            caller,
        ))
    }

    pub(crate) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        Unsupported {
            storage_class: input.storage_class.as_ref(),
            object_lock: input.object_lock_mode.is_some()
                || input.object_lock_legal_hold_status.is_some()
                || input.object_lock_retain_until_date.is_some(),
            website_redirect: input.website_redirect_location.is_some(),
        }
        .check(rid)?;
        let sse = write_encryption!(&self.objects, caller, input, rid)?;
        let src_sse_key = crate::sse::customer_key(
            &self.objects,
            caller,
            customer_headers!(copy_source input),
            rid,
        )?;
        let key_md5 = customer_md5(&sse);
        let access = self
            .check_write_acl(caller, &input.bucket, acl_request!(write input))
            .await?;
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
        let replace_meta = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(invalid("Unknown metadata directive.", rid)),
        };
        let replace_tags = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(invalid("Unknown tagging directive.", rid)),
        };
        let same = *src_bucket == *input.bucket && *src_key == *input.key;
        let changes_encryption = !matches!(sse, coffer_core::sse::SseWrite::Default);
        if same && !replace_meta && !replace_tags && !changes_encryption {
            return Err(s3(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes.",
                rid,
            ));
        }
        let metadata_directive = if replace_meta {
            core::MetadataDirective::Replace {
                headers: object_headers(
                    &req.headers,
                    input.content_type,
                    input.content_encoding,
                    input.content_disposition,
                    input.content_language,
                    input.cache_control,
                ),
                user_metadata: metadata(input.metadata),
            }
        } else {
            core::MetadataDirective::Copy
        };
        let tags = if replace_tags {
            let t = tags(input.tagging.as_deref(), rid)?;
            self.check_write_tags(caller, &input.bucket, &input.key, &t)?;
            Some(t)
        } else {
            None
        };
        let checksum_algorithm = match &input.checksum_algorithm {
            Some(a) => Some(core_alg(a, rid)?),
            None => None,
        };
        let cond = raw_write_condition(&req.headers, rid)?;
        self.check_conditional_write(caller, &input.bucket, &input.key, &cond)?;
        let (src_conditions, pinned) =
            copy_source_conditions!(caller, &src_bucket, &src_key, input)?;
        let rec = self
            .objects
            .copy_object(core::CopyObjectInput {
                src_bucket: src_bucket.into(),
                src_key: src_key.into(),
                src_conditions,
                dst_bucket: input.bucket,
                dst_key: input.key,
                metadata: metadata_directive,
                tags,
                checksum_algorithm,
                cond,
                src_version_id: src_version_id.clone(),
                access,
                sse,
                src_sse_key,
            })
            .await
            .map_err(|e| pinned_copy_error(e, pinned, rid))?;
        let (crc32, crc32c, crc64nvme, sha1, sha256, checksum_type) =
            checksum_fields(&rec.checksums);
        let enc = SseOut::of(rec.encryption.as_ref(), key_md5.as_deref());
        Ok(ok(
            CopyObjectOutput {
                server_side_encryption: enc.sse,
                sse_customer_algorithm: enc.customer_algorithm,
                sse_customer_key_md5: enc.customer_key_md5,
                copy_object_result: Some(CopyObjectResult {
                    checksum_crc32: crc32,
                    checksum_crc32c: crc32c,
                    checksum_crc64nvme: crc64nvme,
                    checksum_sha1: sha1,
                    checksum_sha256: sha256,
                    checksum_type,
                    e_tag: Some(etag_out(&rec.etag)),
                    last_modified: Some(ts(rec.last_modified)),
                }),
                copy_source_version_id: src_version_id,
                version_id: rec.version_id.clone(),
                ..Default::default()
            },
            caller,
        ))
    }
}

/// The `Content-Type` a GET or HEAD answers: the stored one, else S3's default for an
/// object written without one.
fn content_type_of(h: &coffer_core::model::ObjectHeaders) -> String {
    h.content_type
        .clone()
        .unwrap_or_else(|| "binary/octet-stream".to_string())
}
