//! S3 versioning operations (SPEC §4): Get/PutBucketVersioning and ListObjectVersions,
//! wire forms only; the semantics live in `ObjectService` (objects/versions.rs) and the
//! store. Version ids on PUT/GET/HEAD/DELETE/Copy/Complete are handled in `objects.rs` and
//! `multipart.rs`.
//!
//! Wire notes:
//! * A bucket that was never versioned answers GetBucketVersioning with no `Status`.
//! * MFA delete is not supported: `MfaDelete=Enabled` answers `NotImplemented`.
//! * s3s 0.14 serializes `DeleteMarker` and `Version` as two flattened lists, so in
//!   the XML all markers precede all versions; within each list the order is exact (by
//!   key, newest first), which is what SDKs (separate lists) expose.

use crate::access::caller_of;
use crate::errors::{s3, to_s3};
use crate::gateway::{
    Gateway, MAX_LIST, enc, i64_of, invalid, limit, non_empty, ok, owner, ts, url_encoding,
};
use crate::wire::etag_out;
use coffer_core::model::{NULL_VERSION, VersioningState};
use coffer_core::objects::ListVersionsInput;
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

fn malformed(rid: &str) -> s3s::S3Error {
    s3(
        S3ErrorCode::MalformedXML,
        "The XML you provided was not well-formed or did not validate against our \
         published schema",
        rid,
    )
}

impl Gateway {
    pub(crate) async fn do_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let b = self
            .objects
            .get_bucket(&req.input.bucket)
            .await
            .map_err(|e| to_s3(e, rid))?;
        let status = match b.versioning {
            VersioningState::Unversioned => None,
            VersioningState::Enabled => Some(BucketVersioningStatus::from_static(
                BucketVersioningStatus::ENABLED,
            )),
            VersioningState::Suspended => Some(BucketVersioningStatus::from_static(
                BucketVersioningStatus::SUSPENDED,
            )),
        };
        Ok(ok(
            GetBucketVersioningOutput {
                status,
                mfa_delete: None,
            },
            caller,
        ))
    }

    pub(crate) async fn do_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let cfg = input.versioning_configuration;
        match cfg.mfa_delete.as_ref().map(MFADelete::as_str) {
            None | Some("Disabled") => {}
            Some("Enabled") => {
                return Err(s3(
                    S3ErrorCode::NotImplemented,
                    "MFA delete is not supported by this service",
                    rid,
                ));
            }
            Some(_) => return Err(malformed(rid)),
        }
        if input.mfa.is_some() {
            return Err(s3(
                S3ErrorCode::NotImplemented,
                "MFA delete is not supported by this service",
                rid,
            ));
        }
        let state = match cfg.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some("Enabled") => VersioningState::Enabled,
            Some("Suspended") => VersioningState::Suspended,
            _ => return Err(malformed(rid)),
        };
        self.objects
            .set_versioning(&input.bucket, state)
            .await
            .map_err(|e| to_s3(e, rid))?;
        Ok(ok(PutBucketVersioningOutput::default(), caller))
    }

    pub(crate) async fn do_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        if input.optional_object_attributes.is_some() {
            return Err(s3(
                S3ErrorCode::NotImplemented,
                "OptionalObjectAttributes is not supported by this service",
                rid,
            ));
        }
        let url = url_encoding(input.encoding_type.as_ref(), rid)?;
        let max_keys = limit(input.max_keys, MAX_LIST, "max-keys", rid)?;
        let prefix = input.prefix.unwrap_or_default();
        let delimiter = non_empty(input.delimiter);
        let key_marker = input.key_marker.unwrap_or_default();
        let version_id_marker = input.version_id_marker.unwrap_or_default();
        if !version_id_marker.is_empty() && key_marker.is_empty() {
            return Err(invalid(
                "A version-id marker cannot be specified without a key marker.",
                rid,
            ));
        }
        let out = self
            .objects
            .list_object_versions(ListVersionsInput {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                key_marker: key_marker.clone(),
                version_id_marker: version_id_marker.clone(),
                max_keys,
            })
            .await
            .map_err(|e| to_s3(e, rid))?;
        let who = caller.bucket_owner();
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for v in out.versions {
            let version_id = Some(v.version_id.unwrap_or_else(|| NULL_VERSION.to_string()));
            if v.delete_marker {
                markers.push(DeleteMarkerEntry {
                    is_latest: Some(v.is_latest),
                    key: Some(enc(v.key, url)),
                    last_modified: Some(ts(v.last_modified)),
                    owner: Some(owner(who)),
                    version_id,
                });
            } else {
                versions.push(ObjectVersion {
                    e_tag: Some(etag_out(&v.etag)),
                    is_latest: Some(v.is_latest),
                    key: Some(enc(v.key, url)),
                    last_modified: Some(ts(v.last_modified)),
                    owner: Some(owner(who)),
                    size: Some(i64_of(v.size)),
                    storage_class: Some(ObjectVersionStorageClass::from_static(
                        ObjectVersionStorageClass::STANDARD,
                    )),
                    version_id,
                    ..Default::default()
                });
            }
        }
        let common_prefixes = out
            .common_prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p, url)),
            })
            .collect();
        Ok(ok(
            ListObjectVersionsOutput {
                name: Some(input.bucket),
                prefix: Some(enc(prefix, url)),
                key_marker: Some(enc(key_marker, url)),
                version_id_marker: Some(version_id_marker),
                max_keys: Some(max_keys as i32),
                is_truncated: Some(out.is_truncated),
                versions: Some(versions),
                delete_markers: Some(markers),
                common_prefixes: Some(common_prefixes),
                delimiter: delimiter.map(|d| enc(d, url)),
                next_key_marker: out.next_key_marker.map(|m| enc(m, url)),
                next_version_id_marker: out.next_version_id_marker,
                encoding_type: url.then(|| EncodingType::from_static(EncodingType::URL)),
                request_charged: None,
            },
            caller,
        ))
    }
}
