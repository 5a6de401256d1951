//! PUT and CopyObject: validation, pre-checks, and the verify → commit sequence.

use super::ingest::{ChecksumPlan, IngestPlan};
use super::read::check_conditions;
use super::{
    CopyObjectInput, MAX_PUT_SIZE, MAX_USER_METADATA, MetadataDirective, ObjectService,
    PutObjectInput, commit_object, new_version_for, to_completion,
};
use crate::checksum::{
    ChecksumAlgorithm, decode_content_md5, encode_b64, etag_from_md5, get_checksum,
    primary_checksum, set_checksum,
};
use crate::error::{Error, Result};
use crate::ids::validate_object_key;
use crate::model::*;
use std::collections::BTreeMap;

const MAX_TAGS: usize = 10;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

pub(super) fn validate_user_metadata(m: &BTreeMap<String, String>) -> Result<()> {
    let total: usize = m.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_USER_METADATA {
        return Err(Error::MetadataTooLarge);
    }
    Ok(())
}

pub(super) fn validate_tags(t: &BTreeMap<String, String>) -> Result<()> {
    if t.len() > MAX_TAGS {
        return Err(Error::invalid(
            "InvalidTag: Object tags cannot be greater than 10",
        ));
    }
    for (k, v) in t {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY {
            return Err(Error::invalid(
                "InvalidTag: The TagKey you have provided is invalid",
            ));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(Error::invalid(
                "InvalidTag: The TagValue you have provided is too long",
            ));
        }
    }
    Ok(())
}

impl ObjectService {
    pub(super) async fn do_put_object(&self, input: PutObjectInput) -> Result<ObjectRecord> {
        validate_object_key(&input.key)?;
        validate_user_metadata(&input.user_metadata)?;
        validate_tags(&input.tags)?;
        if input.content_length.is_some_and(|n| n > MAX_PUT_SIZE) {
            return Err(Error::EntityTooLarge);
        }
        let content_md5 = input
            .content_md5
            .as_deref()
            .map(decode_content_md5)
            .transpose()?;
        let checks = ChecksumPlan::new(input.checksum, None)?;
        let bucket = match input.bucket_record {
            Some(b) if b.name == input.bucket => b,
            _ => std::sync::Arc::new(self.get_bucket(&input.bucket).await?),
        };
        self.precheck_write(&bucket, &input.key, input.content_length, &input.cond)
            .await?;
        let sealed = self.write_key(&bucket, &input.sse)?;

        let plan = IngestPlan {
            max_size: MAX_PUT_SIZE,
            declared: input.content_length,
            inline_max: Some(self.cfg.inline_threshold),
            md5: true,
            algorithms: checks.algorithms().to_vec(),
            seal: sealed.as_ref().map(|(_, k)| k.clone()),
        };
        let ingested = self.ingest(input.body, &plan).await?;
        let checksums = match checks.verify(&ingested.digest, content_md5) {
            Ok(c) => c,
            Err(e) => {
                ingested.discard().await;
                return Err(e);
            }
        };
        let md5 = ingested
            .digest
            .md5
            .ok_or_else(|| Error::internal("md5 not computed"))?;
        crate::acl::check_new_version(&bucket, input.access.acl.as_ref())?;
        let now = self.clock.now();
        let lock = input
            .lock
            .for_new_version(bucket.subresources.object_lock.as_ref(), now);
        let mut record = ObjectRecord {
            inline_crc32c: None,
            upload_id: None,
            owner_org: input.access.owner_org,
            acl: input.access.acl,
            retention: lock.retention,
            legal_hold: lock.legal_hold,
            v: RECORD_VERSION,
            bucket: input.bucket,
            key: input.key,
            size: ingested.size,
            etag: etag_for(&md5, sealed.as_ref().map(|(e, k)| (e, k))),
            last_modified: now,
            headers: input.headers,
            user_metadata: input.user_metadata,
            checksums,
            parts: Vec::new(),
            tags: input.tags,
            data: ObjectData::Inline(Vec::new()),
            version_id: new_version_for(&bucket),
            encryption: sealed.map(|(e, _)| e),
        };
        let (meta, retirer) = (self.meta.clone(), self.retirer.clone());
        let (cond, cap) = (input.cond, bucket.settings.capacity_cap_bytes);
        let audit_event = input.audit_event;
        to_completion(async move {
            record.data = ingested.commit().await?;
            commit_object(&*meta, &retirer, record, &cond, cap, audit_event).await
        })
        .await
    }

    /// Fails fast, before any byte is streamed, when the write cannot succeed: the write
    /// condition already fails, or `size` cannot fit under the bucket's capacity cap even
    /// counting the bytes the write would free by replacing the current object. The
    /// authoritative checks run again atomically in the metadata commit.
    pub(super) async fn precheck_write(
        &self,
        bucket: &Bucket,
        key: &str,
        size: Option<u64>,
        cond: &WriteCondition,
    ) -> Result<()> {
        let mut over_cap = None;
        if let (Some(cap), Some(n)) = (bucket.settings.capacity_cap_bytes, size) {
            if n > cap {
                return Err(quota_exceeded(&bucket.name, cap));
            }
            let used = self.meta.bucket_usage(&bucket.name).await?.bytes;
            if used.saturating_add(n) > cap {
                over_cap = Some((cap, used, n));
            }
        }
        if over_cap.is_none() && matches!(cond, WriteCondition::None) {
            return Ok(());
        }
        let existing = self.meta.get_object(&bucket.name, key).await?;
        if let Some((cap, used, n)) = over_cap {
            let freed = existing.as_ref().map_or(0, |r| r.size);
            if used.saturating_sub(freed).saturating_add(n) > cap {
                return Err(quota_exceeded(&bucket.name, cap));
            }
        }
        cond.check(existing.as_ref().map(|r| r.etag.as_str()))
    }

    pub(super) async fn do_copy_object(&self, input: CopyObjectInput) -> Result<ObjectRecord> {
        validate_object_key(&input.dst_key)?;
        let mut src = match &input.src_version_id {
            None => self.load_object(&input.src_bucket, &input.src_key).await?,
            Some(v) => {
                self.load_version(&input.src_bucket, &input.src_key, v)
                    .await?
            }
        };
        check_conditions(&src, &input.src_conditions, true)?;
        let src_key = self.read_key(src.encryption.as_ref(), input.src_sse_key.as_ref())?;
        if src.size > MAX_PUT_SIZE {
            return Err(Error::invalid(format!(
                "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_SIZE}"
            )));
        }
        let src_alg = primary_checksum(&src.checksums).map(|(a, _)| a);
        let changes_checksum = input.checksum_algorithm.is_some_and(|a| Some(a) != src_alg);
        // Asking for encryption counts as a change (S3 lets a copy onto itself encrypt).
        let changes_encryption = !matches!(input.sse, crate::sse::SseWrite::Default);
        if input.src_bucket == input.dst_bucket
            && input.src_key == input.dst_key
            && matches!(input.metadata, MetadataDirective::Copy)
            && !changes_checksum
            && !changes_encryption
        {
            return Err(Error::invalid(
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes.",
            ));
        }
        let (headers, user_metadata) = match input.metadata {
            MetadataDirective::Copy => (src.headers.clone(), src.user_metadata.clone()),
            MetadataDirective::Replace {
                headers,
                user_metadata,
            } => {
                validate_user_metadata(&user_metadata)?;
                (headers, user_metadata)
            }
        };
        let tags = input.tags.unwrap_or_else(|| src.tags.clone());
        validate_tags(&tags)?;
        let dst_bucket = self.get_bucket(&input.dst_bucket).await?;
        self.precheck_write(&dst_bucket, &input.dst_key, Some(src.size), &input.cond)
            .await?;
        let sealed = self.write_key(&dst_bucket, &input.sse)?;

        // A single-part source keeps its ETag (the MD5 of the same bytes); a multipart
        // source's ETag describes parts the copy no longer has, and an SSE-C ETag is
        // masked under its own version's key.
        let need_md5 = !src.parts.is_empty()
            || src.encryption.as_ref().is_some_and(|e| e.is_customer())
            || sealed.as_ref().is_some_and(|(e, _)| e.is_customer());
        let alg = input.checksum_algorithm.or(src_alg);
        // A stored value is reusable when it covers the whole content: single-part
        // objects, and FULL_OBJECT multipart CRCs. COMPOSITE values are recomputed.
        let reusable = alg.and_then(|a| {
            let whole = src.parts.is_empty()
                || src.checksums.checksum_type.as_deref() == Some("FULL_OBJECT");
            whole
                .then(|| get_checksum(&src.checksums, a))
                .flatten()
                .map(|v| (a, v.to_string()))
        });
        let compute: Vec<ChecksumAlgorithm> = match (alg, &reusable) {
            (Some(a), None) => vec![a],
            _ => Vec::new(),
        };
        let size = src.size;
        let data = std::mem::replace(&mut src.data, ObjectData::Inline(Vec::new()));
        let body = self
            .open_body(&src, data, 0, size, src_key.as_ref())
            .await?;
        let plan = IngestPlan {
            max_size: MAX_PUT_SIZE,
            declared: Some(size),
            inline_max: Some(self.cfg.inline_threshold),
            md5: need_md5,
            algorithms: compute,
            seal: sealed.as_ref().map(|(_, k)| k.clone()),
        };
        let ingested = self.ingest(body, &plan).await?;
        let digest = &ingested.digest;
        let etag = match digest.md5 {
            Some(m) => etag_for(&m, sealed.as_ref().map(|(e, k)| (e, k))),
            None => src.etag.clone(),
        };
        let mut checksums = Checksums::default();
        if let Some(a) = alg {
            let value = match reusable {
                Some((_, v)) => v,
                None => encode_b64(
                    digest
                        .get(a)
                        .ok_or_else(|| Error::internal("checksum not computed"))?,
                ),
            };
            set_checksum(&mut checksums, a, value);
            checksums.checksum_type = Some("FULL_OBJECT".into());
        }
        // A copy is a new version: the destination bucket's default retention applies
        // (the source's lock state is not copied, as S3).
        crate::acl::check_new_version(&dst_bucket, input.access.acl.as_ref())?;
        let now = self.clock.now();
        let lock = crate::object_lock::WriteLock::default()
            .for_new_version(dst_bucket.subresources.object_lock.as_ref(), now);
        let mut record = ObjectRecord {
            inline_crc32c: None,
            upload_id: None,
            owner_org: input.access.owner_org,
            acl: input.access.acl,
            retention: lock.retention,
            legal_hold: lock.legal_hold,
            v: RECORD_VERSION,
            bucket: input.dst_bucket,
            key: input.dst_key,
            size,
            etag,
            last_modified: now,
            headers,
            user_metadata,
            checksums,
            parts: Vec::new(),
            tags,
            data: ObjectData::Inline(Vec::new()),
            version_id: new_version_for(&dst_bucket),
            encryption: sealed.map(|(e, _)| e),
        };
        let (meta, retirer) = (self.meta.clone(), self.retirer.clone());
        let (cond, cap) = (input.cond, dst_bucket.settings.capacity_cap_bytes);
        to_completion(async move {
            record.data = ingested.commit().await?;
            commit_object(&*meta, &retirer, record, &cond, cap, None).await
        })
        .await
    }
}

fn quota_exceeded(bucket: &str, cap: u64) -> Error {
    Error::QuotaExceeded(format!(
        "the write would take bucket {bucket} over its capacity cap of {cap} bytes"
    ))
}

/// A new version's ETag: the MD5 of its bytes, masked for SSE-C
/// ([`crate::sse::DataKey::masked_md5`]).
pub(super) fn etag_for(
    md5: &[u8; 16],
    sealed: Option<(&crate::sse::Encryption, &crate::sse::DataKey)>,
) -> String {
    match sealed {
        Some((e, k)) if e.is_customer() => etag_from_md5(&k.masked_md5(md5)),
        _ => etag_from_md5(md5),
    }
}
