//! Multipart uploads. Parts always go to blob files through the same pipeline as PUT;
//! completion is metadata-only: the parts' blobs become the object's segments in order.

use super::ingest::{ChecksumPlan, IngestPlan, Ingested};
use super::read::check_conditions;
use super::write::{etag_for, validate_tags, validate_user_metadata};
use super::{
    CompleteMultipartInput, CreateMultipartInput, ListPartsOutput, MAX_PARTS, MAX_PUT_SIZE,
    MIN_PART_SIZE, ObjectService, UploadPartCopyInput, UploadPartInput, delete_blobs,
    new_version_for, to_completion,
};
use crate::checksum::{
    ChecksumAlgorithm, ChecksumType, composite_checksum, decode_checksum, decode_content_md5,
    encode_b64, etag_md5, etags_match, full_object_crc, get_checksum, multipart_etag, set_checksum,
};
use crate::error::{Error, Result};
use crate::ids::{new_hex_id, validate_object_key};
use crate::model::*;
use std::collections::BTreeMap;

fn check_part_number(n: u32) -> Result<()> {
    if (1..=MAX_PARTS).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid(
            "Part number must be an integer between 1 and 10000, inclusive",
        ))
    }
}

/// Whether a completion names any checksum (the whole object's, or a part's).
fn names_checksums(input: &CompleteMultipartInput) -> bool {
    input.checksum.is_some()
        || input
            .parts
            .iter()
            .any(|p| p.checksums != Checksums::default())
}

fn upload_algorithm(u: &MultipartUpload) -> Result<Option<ChecksumAlgorithm>> {
    u.checksum_algorithm
        .as_deref()
        .map(|a| {
            ChecksumAlgorithm::parse(a)
                .ok_or_else(|| Error::internal(format!("stored upload has checksum algorithm {a}")))
        })
        .transpose()
}

impl ObjectService {
    /// The upload, if it exists and belongs to `bucket`/`key`; else `NoSuchUpload` (or
    /// `NoSuchBucket`, checked only on a miss).
    pub(super) async fn upload_for(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<MultipartUpload> {
        match self.meta.get_upload(upload_id).await? {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => {
                self.get_bucket(bucket).await?;
                Err(Error::NoSuchUpload)
            }
        }
    }

    /// The data key parts of `upload` are sealed under, for a request that sent `key`.
    /// A key other than the upload's is 400 (as S3: "the encryption parameters did not
    /// match the ones used originally"), not the 403 of a read with a wrong key.
    fn upload_key(
        &self,
        upload: &MultipartUpload,
        key: Option<&crate::sse::CustomerKey>,
    ) -> Result<Option<crate::sse::DataKey>> {
        self.read_key(upload.encryption.as_ref(), key)
            .map_err(|e| match e {
                Error::PermissionDenied(_) => Error::invalid(
                    "The provided encryption parameters did not match the ones used originally.",
                ),
                e => e,
            })
    }

    pub(super) async fn do_create_multipart(
        &self,
        input: CreateMultipartInput,
    ) -> Result<MultipartUpload> {
        validate_object_key(&input.key)?;
        validate_user_metadata(&input.user_metadata)?;
        validate_tags(&input.tags)?;
        let checksum_type = match (input.checksum_algorithm, input.checksum_type) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header",
                ));
            }
            (Some(a), t) => {
                let t = t.unwrap_or(a.default_type());
                if !a.supports_type(t) {
                    return Err(Error::invalid(format!(
                        "The {} checksum type cannot be used with the {} checksum algorithm",
                        t.as_str(),
                        a.as_str().to_ascii_lowercase()
                    )));
                }
                Some(t)
            }
        };
        let bucket = self.get_bucket(&input.bucket).await?;
        let encryption = self.write_key(&bucket, &input.sse)?.map(|(e, _)| e);
        let upload = MultipartUpload {
            v: RECORD_VERSION,
            upload_id: new_hex_id(),
            bucket: input.bucket,
            key: input.key,
            initiated: self.clock.now(),
            initiator: input.initiator,
            headers: input.headers,
            user_metadata: input.user_metadata,
            tags: input.tags,
            checksum_algorithm: input.checksum_algorithm.map(|a| a.as_str().to_string()),
            checksum_type: checksum_type.map(|t| t.as_str().to_string()),
            retention: input.lock.retention,
            legal_hold: input.lock.legal_hold,
            owner_org: input.access.owner_org,
            acl: input.access.acl,
            encryption,
        };
        self.meta.create_upload(&upload).await?;
        Ok(upload)
    }

    pub(super) async fn do_upload_part(&self, input: UploadPartInput) -> Result<PartRecord> {
        check_part_number(input.part_number)?;
        if input.content_length.is_some_and(|n| n > MAX_PUT_SIZE) {
            return Err(Error::EntityTooLarge);
        }
        let content_md5 = input
            .content_md5
            .as_deref()
            .map(decode_content_md5)
            .transpose()?;
        let upload = self
            .upload_for(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let checks = ChecksumPlan::new(input.checksum, upload_algorithm(&upload)?)?;
        let key = self.upload_key(&upload, input.sse_key.as_ref())?;
        let plan = IngestPlan {
            max_size: MAX_PUT_SIZE,
            declared: input.content_length,
            inline_max: None,
            md5: true,
            algorithms: checks.algorithms().to_vec(),
            seal: key.clone(),
        };
        let ingested = self.ingest(input.body, &plan).await?;
        let mut checksums = match checks.verify(&ingested.digest, content_md5) {
            Ok(c) => c,
            Err(e) => {
                ingested.discard().await;
                return Err(e);
            }
        };
        checksums.checksum_type = None;
        let md5 = ingested
            .digest
            .md5
            .ok_or_else(|| Error::internal("md5 not computed"))?;
        let part = PartRecord {
            upload_id: input.upload_id,
            part_number: input.part_number,
            size: ingested.size,
            etag: etag_for(&md5, upload.encryption.as_ref().zip(key.as_ref())),
            last_modified: self.clock.now(),
            checksums,
            blob_id: String::new(),
            key_salt: None,
        };
        self.commit_part(ingested, part).await
    }

    pub(super) async fn do_upload_part_copy(
        &self,
        input: UploadPartCopyInput,
    ) -> Result<PartRecord> {
        check_part_number(input.part_number)?;
        let upload = self
            .upload_for(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let alg = upload_algorithm(&upload)?;
        let key = self.upload_key(&upload, input.sse_key.as_ref())?;
        let mut src = match &input.src_version_id {
            None => self.load_object(&input.src_bucket, &input.src_key).await?,
            Some(v) => {
                self.load_version(&input.src_bucket, &input.src_key, v)
                    .await?
            }
        };
        check_conditions(&src, &input.src_conditions, true)?;
        let src_key = self.read_key(src.encryption.as_ref(), input.src_sse_key.as_ref())?;
        let (start, len) = match input.src_range {
            None => (0, src.size),
            Some((a, b)) if a > b => {
                return Err(Error::invalid(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last \
                     where first and last are the zero-based offsets of the first and last \
                     bytes to copy",
                ));
            }
            Some((_, b)) if b >= src.size => return Err(Error::InvalidRange),
            Some((a, b)) => (a, b - a + 1),
        };
        if len > MAX_PUT_SIZE {
            return Err(Error::invalid(format!(
                "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_SIZE}"
            )));
        }
        let data = std::mem::replace(&mut src.data, ObjectData::Inline(Vec::new()));
        let body = self
            .open_body(&src, data, start, len, src_key.as_ref())
            .await?;
        let plan = IngestPlan {
            max_size: MAX_PUT_SIZE,
            declared: Some(len),
            inline_max: None,
            md5: true,
            algorithms: alg.into_iter().collect(),
            seal: key.clone(),
        };
        let ingested = self.ingest(body, &plan).await?;
        let digest = ingested.digest.clone();
        let md5 = digest
            .md5
            .ok_or_else(|| Error::internal("md5 not computed"))?;
        let mut checksums = Checksums::default();
        if let Some(a) = alg {
            match digest.get(a) {
                Some(raw) => set_checksum(&mut checksums, a, encode_b64(raw)),
                None => {
                    ingested.discard().await;
                    return Err(Error::internal("checksum not computed"));
                }
            }
        }
        let part = PartRecord {
            upload_id: input.upload_id,
            part_number: input.part_number,
            size: len,
            etag: etag_for(&md5, upload.encryption.as_ref().zip(key.as_ref())),
            last_modified: self.clock.now(),
            checksums,
            blob_id: String::new(),
            key_salt: None,
        };
        self.commit_part(ingested, part).await
    }

    /// Commits the part's blob, then its metadata; deletes the blob of the part it
    /// replaced, or its own blob if the metadata commit failed (e.g. the upload was
    /// aborted meanwhile).
    async fn commit_part(&self, ingested: Ingested, mut part: PartRecord) -> Result<PartRecord> {
        let (meta, blobs) = (self.meta.clone(), self.blobs.clone());
        to_completion(async move {
            (part.blob_id, part.key_salt) = ingested.commit_blob().await?;
            match meta.put_part(&part).await {
                Ok(replaced) => {
                    if let Some(old) = replaced {
                        delete_blobs(&*blobs, std::iter::once(old.blob_id.as_str())).await;
                    }
                    Ok(part)
                }
                Err(e) => {
                    delete_blobs(&*blobs, std::iter::once(part.blob_id.as_str())).await;
                    Err(e)
                }
            }
        })
        .await
    }

    async fn all_parts(&self, upload_id: &str) -> Result<BTreeMap<u32, PartRecord>> {
        const PAGE: usize = 1000;
        let mut out = BTreeMap::new();
        let mut marker = 0;
        loop {
            let page = self.meta.list_parts(upload_id, marker, PAGE).await?;
            let full = page.len() >= PAGE;
            for p in page {
                marker = marker.max(p.part_number);
                out.insert(p.part_number, p);
            }
            if !full {
                return Ok(out);
            }
        }
    }

    pub(super) async fn do_complete_multipart(
        &self,
        input: CompleteMultipartInput,
    ) -> Result<ObjectRecord> {
        let upload = match self
            .upload_for(&input.bucket, &input.key, &input.upload_id)
            .await
        {
            Err(Error::NoSuchUpload) => return self.completed_before(&input).await,
            r => r?,
        };
        // As S3: the key is needed to complete an SSE-C upload that has a checksum
        // algorithm (its answer carries a digest of the plaintext); stricter, also when
        // the request names any checksum (a mismatch would confirm a guessed plaintext
        // digest). Given, it must fit.
        let customer = upload.encryption.as_ref().is_some_and(|e| e.is_customer());
        if input.sse_key.is_some()
            || (customer && (upload.checksum_algorithm.is_some() || names_checksums(&input)))
        {
            self.upload_key(&upload, input.sse_key.as_ref())?;
        }
        if input.parts.is_empty() {
            return Err(Error::invalid(
                "You must specify at least one part to complete a multipart upload",
            ));
        }
        if input.parts.len() > MAX_PARTS as usize {
            return Err(Error::invalid(format!(
                "a multipart upload has at most {MAX_PARTS} parts"
            )));
        }
        if input
            .parts
            .windows(2)
            .any(|w| w[1].part_number <= w[0].part_number)
        {
            return Err(Error::InvalidPartOrder);
        }
        let bucket = self.get_bucket(&input.bucket).await?;
        if !matches!(input.cond, WriteCondition::None) {
            self.precheck_write(&bucket, &input.key, None, &input.cond)
                .await?;
        }
        let stored = self.all_parts(&input.upload_id).await?;
        let last = input.parts.len() - 1;
        let mut chosen: Vec<&PartRecord> = Vec::with_capacity(input.parts.len());
        for (i, want) in input.parts.iter().enumerate() {
            let n = want.part_number;
            let part = stored
                .get(&n)
                .filter(|p| etags_match(&want.etag, &p.etag))
                .ok_or_else(|| Error::InvalidPart(format!("part {n}")))?;
            for a in ChecksumAlgorithm::ALL {
                if let Some(given) = get_checksum(&want.checksums, a)
                    && !checksum_values_match(a, given, get_checksum(&part.checksums, a))
                {
                    return Err(Error::InvalidPart(format!(
                        "part {n}: the {} does not match",
                        a.header_name()
                    )));
                }
            }
            if i < last && part.size < MIN_PART_SIZE {
                return Err(Error::EntityTooSmall);
            }
            chosen.push(part);
        }

        let md5s = chosen
            .iter()
            .map(|p| etag_md5(&p.etag).ok_or_else(|| Error::internal("part etag is not an md5")))
            .collect::<Result<Vec<_>>>()?;
        let mut checksums = Checksums::default();
        if let Some(alg) = upload_algorithm(&upload)? {
            let raws = chosen
                .iter()
                .map(|p| {
                    let v = get_checksum(&p.checksums, alg).ok_or_else(|| {
                        Error::InvalidPart(format!(
                            "part {} has no {} checksum",
                            p.part_number,
                            alg.as_str()
                        ))
                    })?;
                    decode_checksum(alg, v)
                })
                .collect::<Result<Vec<_>>>()?;
            let ctype = upload
                .checksum_type
                .as_deref()
                .and_then(ChecksumType::parse)
                .unwrap_or(alg.default_type());
            let value = match ctype {
                ChecksumType::Composite => {
                    composite_checksum(alg, &raws.iter().map(Vec::as_slice).collect::<Vec<_>>())
                }
                ChecksumType::FullObject => {
                    let parts: Vec<(&[u8], u64)> = raws
                        .iter()
                        .zip(&chosen)
                        .map(|(r, p)| (r.as_slice(), p.size))
                        .collect();
                    encode_b64(&full_object_crc(alg, &parts)?)
                }
            };
            if let Some((claimed_alg, claimed)) = &input.checksum {
                if *claimed_alg != alg {
                    return Err(Error::invalid(format!(
                        "The upload was created using the {} checksum algorithm; the complete \
                         request must use the same algorithm",
                        alg.as_str()
                    )));
                }
                if !whole_checksums_match(alg, claimed, &value) {
                    return Err(Error::ChecksumMismatch(alg.header_name().to_string()));
                }
            }
            set_checksum(&mut checksums, alg, value);
            checksums.checksum_type = Some(ctype.as_str().to_string());
        } else if let Some((claimed_alg, _)) = &input.checksum {
            return Err(Error::invalid(format!(
                "The upload was created without a checksum algorithm; the complete request \
                 cannot carry a {} checksum",
                claimed_alg.as_str()
            )));
        }
        // What a concurrent complete of the same upload would have to have completed for
        // this one to answer it (`completed_before`).
        let retry = CompleteMultipartInput {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            upload_id: input.upload_id.clone(),
            parts: input.parts.clone(),
            checksum: input.checksum.clone(),
            cond: WriteCondition::None,
            sse_key: input.sse_key.clone(),
        };
        crate::acl::check_new_version(&bucket, upload.acl.as_ref())?;
        let now = self.clock.now();
        let lock = crate::object_lock::WriteLock {
            retention: upload.retention,
            legal_hold: upload.legal_hold,
        }
        .for_new_version(bucket.subresources.object_lock.as_ref(), now);
        let record = ObjectRecord {
            inline_crc32c: None,
            upload_id: Some(input.upload_id.clone()),
            owner_org: upload.owner_org,
            acl: upload.acl,
            retention: lock.retention,
            legal_hold: lock.legal_hold,
            v: RECORD_VERSION,
            bucket: input.bucket,
            key: input.key,
            size: chosen.iter().map(|p| p.size).sum(),
            etag: multipart_etag(&md5s),
            last_modified: now,
            headers: upload.headers,
            user_metadata: upload.user_metadata,
            checksums,
            parts: chosen
                .iter()
                .map(|p| ObjectPart {
                    part_number: p.part_number,
                    size: p.size,
                    etag: p.etag.clone(),
                    checksums: p.checksums.clone(),
                })
                .collect(),
            tags: upload.tags,
            data: ObjectData::Segments(
                chosen
                    .iter()
                    .map(|p| Segment {
                        blob_id: p.blob_id.clone(),
                        size: p.size,
                        key_salt: p.key_salt.clone(),
                    })
                    .collect(),
            ),
            version_id: new_version_for(&bucket),
            encryption: upload.encryption,
        };
        let (meta, retirer) = (self.meta.clone(), self.retirer.clone());
        let (upload_id, cond, cap) = (
            input.upload_id,
            input.cond,
            bucket.settings.capacity_cap_bytes,
        );
        let done = to_completion(async move {
            crate::crash::point("multipart.before_commit");
            let (replaced, unused) = meta
                .complete_upload(&upload_id, &record, &cond, cap)
                .await
                .map_err(|e| match e {
                    // The upload existed when the request started: a concurrent
                    // complete or abort of it won.
                    Error::NoSuchUpload if !matches!(cond, WriteCondition::None) => {
                        Error::ConditionalRequestConflict
                    }
                    e => super::lost_condition_race(e, &cond),
                })?;
            crate::crash::point("multipart.after_commit");
            delete_blobs(
                &**retirer.blobs(),
                unused.iter().map(|p| p.blob_id.as_str()),
            )
            .await;
            retirer.retire(replaced.previous).await;
            let mut record = record;
            record.version_id = replaced.version_id;
            Ok(record)
        })
        .await;
        match done {
            // The upload was gone at commit: a concurrent complete of it (a client
            // retrying before the first answer came) may have won with these very parts.
            Err(Error::NoSuchUpload | Error::ConditionalRequestConflict) => {
                self.completed_before(&retry).await.or(done)
            }
            done => done,
        }
    }

    /// A CompleteMultipartUpload of an upload that no longer exists: when the key's
    /// current object was completed from that very upload with the same part list (and,
    /// if the client sends one, the same whole-object checksum), that object is the
    /// answer, as to the first complete; otherwise `NoSuchUpload`. Nothing is written.
    async fn completed_before(&self, input: &CompleteMultipartInput) -> Result<ObjectRecord> {
        let Some(rec) = self.meta.get_object(&input.bucket, &input.key).await? else {
            return Err(Error::NoSuchUpload);
        };
        let same_parts = rec.parts.len() == input.parts.len()
            && rec.parts.iter().zip(&input.parts).all(|(had, want)| {
                had.part_number == want.part_number && etags_match(&had.etag, &want.etag)
            });
        if rec.upload_id.as_deref() != Some(input.upload_id.as_str()) || !same_parts {
            return Err(Error::NoSuchUpload);
        }
        // The retry answers nothing about SSE-C data that the first attempt would not
        // have (see do_complete_multipart).
        let customer = rec.encryption.as_ref().is_some_and(|e| e.is_customer());
        if input.sse_key.is_some()
            || (customer && (rec.checksums != Checksums::default() || names_checksums(input)))
        {
            self.read_key(rec.encryption.as_ref(), input.sse_key.as_ref())?;
        }
        if let Some((alg, claimed)) = &input.checksum {
            match get_checksum(&rec.checksums, *alg) {
                Some(stored) if whole_checksums_match(*alg, claimed, stored) => {}
                _ => return Err(Error::ChecksumMismatch(alg.header_name().to_string())),
            }
        }
        Ok(rec)
    }

    pub(super) async fn do_list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<ListPartsOutput> {
        let upload = self.upload_for(bucket, key, upload_id).await?;
        if max_parts == 0 {
            return Ok(ListPartsOutput {
                upload,
                parts: Vec::new(),
                is_truncated: false,
                next_part_number_marker: None,
            });
        }
        let mut parts = self
            .meta
            .list_parts(upload_id, part_number_marker, max_parts.saturating_add(1))
            .await?;
        let is_truncated = parts.len() > max_parts;
        parts.truncate(max_parts);
        let next_part_number_marker = parts.last().map(|p| p.part_number);
        Ok(ListPartsOutput {
            upload,
            parts,
            is_truncated,
            next_part_number_marker,
        })
    }
}

/// Compares a client-sent whole-object checksum with the computed one: the digests by
/// decoded bytes, and a composite's `-N` part count when the client sent one.
fn whole_checksums_match(alg: ChecksumAlgorithm, claimed: &str, computed: &str) -> bool {
    let split = |v: &str| -> (String, Option<String>) {
        match v.trim().rsplit_once('-') {
            Some((digest, n)) => (digest.to_string(), Some(n.to_string())),
            None => (v.trim().to_string(), None),
        }
    };
    let ((claimed, claimed_n), (computed, computed_n)) = (split(claimed), split(computed));
    if claimed_n.is_some() && claimed_n != computed_n {
        return false;
    }
    checksum_values_match(alg, &claimed, Some(&computed))
}

/// Compares a client-sent part checksum with the stored one by decoded bytes, so
/// formatting differences in base64 do not matter.
fn checksum_values_match(alg: ChecksumAlgorithm, given: &str, stored: Option<&str>) -> bool {
    let Some(stored) = stored else { return false };
    match (decode_checksum(alg, given), decode_checksum(alg, stored)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
