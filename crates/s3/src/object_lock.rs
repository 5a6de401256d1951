//! S3 Object Lock operations (SPEC §9), on the rules of `coffer_core::object_lock`:
//! Put/GetObjectLockConfiguration, Put/GetObjectRetention, Put/GetObjectLegalHold.
//!
//! * The configuration needs versioning enabled (409 `InvalidBucketState`, checked again
//!   in the edit's transaction); once set, Object Lock stays enabled and versioning
//!   cannot be suspended (the store refuses it).
//! * Retention and legal hold need a bucket with Object Lock (400 `InvalidRequest`). A
//!   retention change is judged by `check_retention_change` inside the store's edit of
//!   the version, so a concurrent change cannot slip between check and write.
//! * Wire values are exact, as S3: `GOVERNANCE`/`COMPLIANCE`, `ON`/`OFF`, `Enabled`;
//!   anything else is 400 `MalformedXML`. A default retention of zero or fewer days or
//!   years is 400 `InvalidRetentionPeriod`.

use crate::access::{Caller, caller_of};
use crate::errors::{s3, s3_custom, to_s3};
use crate::gateway::{Gateway, future_retention, hold_of, malformed, ok, require_lock};
use coffer_core::meta::ObjectEdit;
use coffer_core::model::Bucket;
use coffer_core::object_lock::{
    self as lock, ConfigError, DefaultRetention as CoreDefault, LockMode, ObjectLockConfig,
    RetentionPeriod,
};
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use std::sync::Arc;

fn mode_of(m: Option<&ObjectLockRetentionMode>, rid: &str) -> S3Result<LockMode> {
    let m = m.ok_or_else(|| malformed("A retention needs a Mode", rid))?;
    LockMode::parse(m.as_str())
        .ok_or_else(|| malformed(format!("Invalid retention mode {:?}", m.as_str()), rid))
}

impl Gateway {
    pub(crate) async fn do_put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let b = self.bucket_of(caller, &input.bucket).await?;
        not_versioned(&b).map_err(|e| to_s3(e, rid))?;
        let conf = input
            .object_lock_configuration
            .ok_or_else(|| malformed("An ObjectLockConfiguration is required", rid))?;
        if conf.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some("Enabled") {
            return Err(malformed("ObjectLockEnabled must be Enabled", rid));
        }
        let default_retention = match conf.rule.and_then(|r| r.default_retention) {
            None => None,
            Some(d) => {
                let mode = mode_of(d.mode.as_ref(), rid)?;
                Some(
                    CoreDefault::new(mode, d.days.map(i64::from), d.years.map(i64::from)).map_err(
                        |e| match e {
                            ConfigError::Malformed(m) => malformed(m, rid),
                            ConfigError::Invalid(m) => {
                                s3_custom("InvalidRetentionPeriod", StatusCode::BAD_REQUEST, m, rid)
                            }
                        },
                    )?,
                )
            }
        };
        self.edit_owned_bucket(caller, &input.bucket, move |b| {
            not_versioned(b)?;
            b.subresources.object_lock = Some(ObjectLockConfig { default_retention });
            Ok(())
        })
        .await?;
        Ok(ok(PutObjectLockConfigurationOutput::default(), caller))
    }

    pub(crate) async fn do_get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self.bucket_of(caller, &req.input.bucket).await?;
        let Some(conf) = b.subresources.object_lock else {
            return Err(s3(
                S3ErrorCode::ObjectLockConfigurationNotFoundError,
                "Object Lock configuration does not exist for this bucket",
                caller.request_id(),
            ));
        };
        let rule = conf.default_retention.map(|d| {
            let (days, years) = match d.period {
                RetentionPeriod::Days(n) => (Some(n as i32), None),
                RetentionPeriod::Years(n) => (None, Some(n as i32)),
            };
            ObjectLockRule {
                default_retention: Some(DefaultRetention {
                    days,
                    mode: Some(ObjectLockRetentionMode::from(d.mode.as_str().to_string())),
                    years,
                }),
            }
        });
        Ok(ok(
            GetObjectLockConfigurationOutput {
                object_lock_configuration: Some(ObjectLockConfiguration {
                    object_lock_enabled: Some(ObjectLockEnabled::from_static(
                        ObjectLockEnabled::ENABLED,
                    )),
                    rule,
                }),
            },
            caller,
        ))
    }

    pub(crate) async fn do_put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let b = self.bucket_of(caller, &input.bucket).await?;
        require_lock(&b, rid)?;
        let now = self.objects.now();
        let wanted = match input.retention {
            None => None,
            Some(r) => match (r.mode, r.retain_until_date) {
                (None, None) => None,
                (m, Some(u)) => Some(future_retention(mode_of(m.as_ref(), rid)?, u, now, rid)?),
                (Some(_), None) => {
                    return Err(malformed("A retention needs a RetainUntilDate", rid));
                }
            },
        };
        let bypass = self.bypass_governance(
            caller,
            input.bypass_governance_retention,
            &input.bucket,
            &input.key,
        );
        let edit: ObjectEdit = Arc::new(move |r| {
            lock::check_retention_change(r.retention, wanted, now, bypass)?;
            r.retention = wanted;
            Ok(())
        });
        self.edit_version(
            caller,
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            edit,
        )
        .await?;
        Ok(ok(PutObjectRetentionOutput::default(), caller))
    }

    pub(crate) async fn do_get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let rec = self
            .lock_record(
                caller,
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
            )
            .await?;
        let Some(r) = rec.retention else {
            return Err(no_lock_configuration(rid));
        };
        Ok(ok(
            GetObjectRetentionOutput {
                retention: Some(ObjectLockRetention {
                    mode: Some(ObjectLockRetentionMode::from(r.mode.as_str().to_string())),
                    retain_until_date: Some(Timestamp::from(r.retain_until)),
                }),
            },
            caller,
        ))
    }

    pub(crate) async fn do_put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let input = req.input;
        let b = self.bucket_of(caller, &input.bucket).await?;
        require_lock(&b, rid)?;
        let status = input
            .legal_hold
            .and_then(|h| h.status)
            .ok_or_else(|| malformed("A LegalHold needs a Status", rid))?;
        let on = hold_of(status.as_str(), rid)?;
        let edit: ObjectEdit = Arc::new(move |r| {
            r.legal_hold = on;
            Ok(())
        });
        self.edit_version(
            caller,
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            edit,
        )
        .await?;
        Ok(ok(PutObjectLegalHoldOutput::default(), caller))
    }

    pub(crate) async fn do_get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let caller = caller_of(&req.extensions)?;
        let input = req.input;
        let rec = self
            .lock_record(
                caller,
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
            )
            .await?;
        let status = if rec.legal_hold { "ON" } else { "OFF" };
        Ok(ok(
            GetObjectLegalHoldOutput {
                legal_hold: Some(ObjectLockLegalHold {
                    status: Some(ObjectLockLegalHoldStatus::from(status.to_string())),
                }),
            },
            caller,
        ))
    }

    /// Edits one version's record in the store's transaction.
    async fn edit_version(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        edit: ObjectEdit,
    ) -> S3Result<()> {
        self.objects
            .edit_object(bucket, key, version_id, edit)
            .await
            .map(drop)
            .map_err(|e| to_s3(e, caller.request_id()))
    }

    /// The record whose lock state a Get… reads, in a bucket with Object Lock.
    async fn lock_record(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<coffer_core::model::ObjectRecord> {
        let rid = caller.request_id();
        let b = self.bucket_of(caller, bucket).await?;
        require_lock(&b, rid)?;
        self.objects
            .object_record(bucket, key, version_id)
            .await
            .map_err(|e| to_s3(e, rid))
    }
}

/// Object Lock needs versioning enabled.
fn not_versioned(b: &Bucket) -> coffer_core::Result<()> {
    if b.versioning == coffer_core::model::VersioningState::Enabled {
        Ok(())
    } else {
        Err(coffer_core::Error::InvalidBucketState(
            "Versioning must be enabled on the bucket to use Object Lock".into(),
        ))
    }
}

fn no_lock_configuration(rid: &str) -> S3Error {
    s3(
        S3ErrorCode::NoSuchObjectLockConfiguration,
        "The specified object does not have an Object Lock configuration",
        rid,
    )
}
