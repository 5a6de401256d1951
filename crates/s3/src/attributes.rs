//! GetObjectAttributes: the attributes named in `x-amz-object-attributes` (ETag,
//! Checksum, ObjectParts, StorageClass, ObjectSize) of the current object, without its
//! body. Authorized with both `s3:GetObject` and `s3:GetObjectAttributes`, as S3 does
//! for unversioned buckets (action table).
//!
//! ObjectParts appears only for multipart objects; its part list is paged with
//! `max-parts` (default and cap 1000) and `part-number-marker`.

use crate::access::caller_of;
use crate::errors::{s3, to_s3};
use crate::gateway::{Gateway, ok};
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

const MAX_PARTS: i32 = 1000;

#[derive(Debug, Default, PartialEq, Eq)]
struct Wanted {
    etag: bool,
    checksum: bool,
    parts: bool,
    storage_class: bool,
    size: bool,
}

fn wanted(list: &[ObjectAttributes], rid: &str) -> S3Result<Wanted> {
    let mut w = Wanted::default();
    // s3s hands over each header line whole: one line may hold a comma-separated list
    // (what SDKs send), or the header may repeat.
    for name in list.iter().flat_map(|a| a.as_str().split(',')) {
        match name.trim() {
            ObjectAttributes::ETAG => w.etag = true,
            ObjectAttributes::CHECKSUM => w.checksum = true,
            ObjectAttributes::OBJECT_PARTS => w.parts = true,
            ObjectAttributes::STORAGE_CLASS => w.storage_class = true,
            ObjectAttributes::OBJECT_SIZE => w.size = true,
            other => {
                return Err(s3(
                    S3ErrorCode::InvalidArgument,
                    format!("Invalid attribute name specified: {other}"),
                    rid,
                ));
            }
        }
    }
    if w == Wanted::default() {
        return Err(s3(
            S3ErrorCode::InvalidArgument,
            "The x-amz-object-attributes header specifying the attributes to be retrieved is \
             either missing or empty",
            rid,
        ));
    }
    Ok(w)
}

impl Gateway {
    pub(crate) async fn do_get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let sse_key = crate::sse::customer_key(
            &self.objects,
            caller,
            crate::sse::customer_headers!(input),
            rid,
        )?;
        let w = wanted(&input.object_attributes, rid)?;
        let max_parts = match input.max_parts {
            None => MAX_PARTS,
            Some(n) if n < 0 => {
                return Err(s3(
                    S3ErrorCode::InvalidArgument,
                    "max-parts must not be negative",
                    rid,
                ));
            }
            Some(n) => n.min(MAX_PARTS),
        };
        let marker = match input.part_number_marker {
            None => 0,
            Some(n) if n < 0 => {
                return Err(s3(
                    S3ErrorCode::InvalidArgument,
                    "part-number-marker must not be negative",
                    rid,
                ));
            }
            Some(n) => n as u32,
        };
        let rec = self
            .objects
            .object_record(&input.bucket, &input.key, input.version_id.as_deref())
            .await
            .map_err(|e| to_s3(e, rid))?;
        // SSE-C versions describe themselves only to a request with their key, as S3.
        self.objects
            .check_sse_key(rec.encryption.as_ref(), sse_key.as_ref())
            .map_err(|e| to_s3(e, rid))?;

        let mut out = GetObjectAttributesOutput {
            last_modified: Some(Timestamp::from(rec.last_modified)),
            version_id: rec.version_id.clone(),
            ..Default::default()
        };
        if w.etag {
            // GetObjectAttributes reports the ETag without quotes; s3s quotes every XML
            // ETag, so the HTTP layer removes them (`http_service::unquote_attributes_etag`).
            out.e_tag = Some(ETag::Strong(rec.etag.trim_matches('"').to_string()));
        }
        if w.size {
            out.object_size = Some(i64::try_from(rec.size).unwrap_or(i64::MAX));
        }
        if w.storage_class {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        let c = &rec.checksums;
        if w.checksum
            && (c.crc32.is_some()
                || c.crc32c.is_some()
                || c.crc64nvme.is_some()
                || c.sha1.is_some()
                || c.sha256.is_some())
        {
            out.checksum = Some(Checksum {
                checksum_crc32: c.crc32.clone(),
                checksum_crc32c: c.crc32c.clone(),
                checksum_crc64nvme: c.crc64nvme.clone(),
                checksum_sha1: c.sha1.clone(),
                checksum_sha256: c.sha256.clone(),
                checksum_type: c.checksum_type.clone().map(ChecksumType::from),
            });
        }
        if w.parts && !rec.parts.is_empty() {
            let after: Vec<_> = rec
                .parts
                .iter()
                .filter(|p| p.part_number > marker)
                .collect();
            let page: Vec<_> = after.iter().take(max_parts as usize).collect();
            let truncated = after.len() > page.len();
            out.object_parts = Some(GetObjectAttributesParts {
                is_truncated: Some(truncated),
                max_parts: Some(max_parts),
                next_part_number_marker: page.last().map(|p| p.part_number as i32),
                part_number_marker: Some(marker as i32),
                parts: Some(
                    page.iter()
                        .map(|p| ObjectPart {
                            checksum_crc32: p.checksums.crc32.clone(),
                            checksum_crc32c: p.checksums.crc32c.clone(),
                            checksum_crc64nvme: p.checksums.crc64nvme.clone(),
                            checksum_sha1: p.checksums.sha1.clone(),
                            checksum_sha256: p.checksums.sha256.clone(),
                            part_number: Some(p.part_number as i32),
                            size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                        })
                        .collect(),
                ),
                total_parts_count: Some(rec.parts.len() as i32),
            });
        }
        Ok(ok(out, caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names() {
        let l = |v: &[&str]| -> Vec<ObjectAttributes> {
            v.iter()
                .map(|s| ObjectAttributes::from(s.to_string()))
                .collect()
        };
        let w = wanted(&l(&["ETag", " ObjectSize"]), "r").unwrap();
        assert!(w.etag && w.size && !w.parts);
        let w = wanted(&l(&["ETag,Checksum, ObjectParts"]), "r").unwrap();
        assert!(w.etag && w.checksum && w.parts && !w.size);
        assert!(wanted(&l(&["ETag,,"]), "r").is_err());
        assert!(wanted(&l(&[]), "r").is_err());
        assert!(wanted(&l(&["Bogus"]), "r").is_err());
        assert!(wanted(&l(&["etag"]), "r").is_err());
    }
}
