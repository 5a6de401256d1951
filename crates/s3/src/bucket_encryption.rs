//! PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption: a bucket's default
//! encryption (SSE-S3 only), stored in its subresources and applied by the object
//! service to writes that ask for no encryption (`ObjectService::write_key`).

use crate::access::caller_of;
use crate::errors::{s3, s3_custom};
use crate::gateway::{Gateway, invalid, not_implemented, ok};
use coffer_core::model::BucketEncryption;
use coffer_core::sse::AES256;
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

impl Gateway {
    /// PutBucketEncryption: one rule, SSE-S3 (`AES256`). `aws:kms` is `NotImplemented`
    /// (no KMS), anything else `InvalidArgument`: a stored rule always applies.
    pub(crate) async fn do_put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let caller = caller_of(&req.extensions)?;
        let rid = caller.request_id();
        let rules = req.input.server_side_encryption_configuration.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3(
                S3ErrorCode::MalformedXML,
                "The server side encryption configuration must have exactly one rule",
                rid,
            ));
        };
        let Some(by_default) = &rule.apply_server_side_encryption_by_default else {
            return Err(s3(
                S3ErrorCode::MalformedXML,
                "The rule must have ApplyServerSideEncryptionByDefault",
                rid,
            ));
        };
        match by_default.sse_algorithm.as_str() {
            AES256 if by_default.kms_master_key_id.is_none() => {}
            AES256 => {
                return Err(invalid(
                    "a KMSMasterKeyID is allowed only with SSEAlgorithm aws:kms",
                    rid,
                ));
            }
            "aws:kms" | "aws:kms:dsse" => {
                return Err(not_implemented(
                    "Default encryption with KMS keys (SSE-KMS)",
                    rid,
                ));
            }
            _ => return Err(invalid("The SSEAlgorithm is not valid", rid)),
        }
        let rule = BucketEncryption {
            algorithm: AES256.to_string(),
            bucket_key_enabled: rule.bucket_key_enabled,
        };
        self.edit_owned_bucket(caller, &req.input.bucket, move |b| {
            b.subresources.encryption = Some(rule);
            Ok(())
        })
        .await?;
        Ok(ok(PutBucketEncryptionOutput::default(), caller))
    }

    pub(crate) async fn do_get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let caller = caller_of(&req.extensions)?;
        let b = self.bucket_of(caller, &req.input.bucket).await?;
        let Some(rule) = b.subresources.encryption.clone() else {
            return Err(s3_custom(
                "ServerSideEncryptionConfigurationNotFoundError",
                http::StatusCode::NOT_FOUND,
                "The server side encryption configuration was not found",
                caller.request_id(),
            ));
        };
        Ok(ok(
            GetBucketEncryptionOutput {
                server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                    rules: vec![ServerSideEncryptionRule {
                        apply_server_side_encryption_by_default: Some(
                            ServerSideEncryptionByDefault {
                                kms_master_key_id: None,
                                sse_algorithm: ServerSideEncryption::from(rule.algorithm),
                            },
                        ),
                        bucket_key_enabled: rule.bucket_key_enabled,
                    }],
                }),
            },
            caller,
        ))
    }

    pub(crate) async fn do_delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let caller = caller_of(&req.extensions)?;
        self.edit_owned_bucket(caller, &req.input.bucket, |b| {
            b.subresources.encryption = None;
            Ok(())
        })
        .await?;
        let mut r = ok(DeleteBucketEncryptionOutput::default(), caller);
        r.status = Some(http::StatusCode::NO_CONTENT);
        Ok(r)
    }
}
