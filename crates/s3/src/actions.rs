//! The one table from S3 operations (s3s operation names) to IAM actions and the
//! resources they are checked on (SPEC §3: "keep the table in one place in code").
//!
//! Invariants:
//! * An operation absent from [`OPERATIONS`] never reaches a handler: the access check
//!   answers `NotImplemented` for it (default deny; s3s's default trait methods would say
//!   the same).
//! * Every operation the gateway implements has exactly one row, and every row is an
//!   operation the gateway implements (`tests::table_matches_the_gateway`).
//! * Resources are the org policy engine's bare forms: `*` (global), `bucket`,
//!   `bucket/key`.

/// What an action is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    /// The global resource `*` (`s3:ListAllMyBuckets`).
    Global,
    /// `bucket` from the request path.
    Bucket,
    /// `bucket/key` from the request path.
    Object,
    /// `bucket/key` of `x-amz-copy-source`.
    CopySource,
    /// `bucket/key` of `x-amz-rename-source` (RenameObject; always the path's bucket).
    RenameSource,
}

/// One `(action, resource)` question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub action: &'static str,
    pub res: Res,
}

/// How one operation is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpRule {
    /// s3s operation name (`cx.s3_op().name()`).
    pub op: &'static str,
    /// Checked in the access hook, before the handler runs; all must allow.
    pub checks: &'static [Check],
    /// Checked by the handler once per key of the request body (DeleteObjects).
    pub per_key: Option<&'static str>,
    /// The org must have at least one access policy (CreateBucket, SPEC §3).
    pub requires_org_policy: bool,
    /// The operation is about the existing bucket of the path: the access check reads
    /// it (owner org, bucket policy) and the bucket layer of `authorize` applies, which
    /// also denies other orgs' principals unless the bucket policy names them. Off only
    /// for CreateBucket (the object service answers `BucketAlreadyExists`) and
    /// ListBuckets.
    pub owner_check: bool,
}

const fn c(action: &'static str, res: Res) -> Check {
    Check { action, res }
}

const fn rule(op: &'static str, checks: &'static [Check]) -> OpRule {
    OpRule {
        op,
        checks,
        per_key: None,
        requires_org_policy: false,
        owner_check: true,
    }
}

pub const S3_GET_OBJECT: &str = "s3:GetObject";
pub const S3_PUT_OBJECT: &str = "s3:PutObject";
pub const S3_DELETE_OBJECT: &str = "s3:DeleteObject";
pub const S3_LIST_BUCKET: &str = "s3:ListBucket";
pub const S3_GET_OBJECT_VERSION: &str = "s3:GetObjectVersion";
pub const S3_DELETE_OBJECT_VERSION: &str = "s3:DeleteObjectVersion";
pub const S3_GET_OBJECT_ATTRIBUTES: &str = "s3:GetObjectAttributes";
pub const S3_GET_OBJECT_ACL: &str = "s3:GetObjectAcl";
pub const S3_PUT_OBJECT_ACL: &str = "s3:PutObjectAcl";

/// The action an object check becomes when the request names a version (`versionId` in
/// the query, or in `x-amz-copy-source` for the copy source): S3 authorizes access to
/// specific versions with their own actions, so `s3:GetObject` alone never reads an
/// old version and `s3:DeleteObject` alone never destroys one.
pub fn versioned_action(action: &'static str) -> &'static str {
    match action {
        S3_GET_OBJECT => S3_GET_OBJECT_VERSION,
        S3_DELETE_OBJECT => S3_DELETE_OBJECT_VERSION,
        S3_GET_OBJECT_ATTRIBUTES => "s3:GetObjectVersionAttributes",
        S3_GET_OBJECT_ACL => "s3:GetObjectVersionAcl",
        S3_PUT_OBJECT_ACL => "s3:PutObjectVersionAcl",
        other => other,
    }
}
/// Object Lock actions; the `Put…` ones are also checked by writes that carry
/// `x-amz-object-lock-*` headers, the `Get…` ones before GET/HEAD show the lock.
pub const S3_PUT_OBJECT_RETENTION: &str = "s3:PutObjectRetention";
pub const S3_GET_OBJECT_RETENTION: &str = "s3:GetObjectRetention";
pub const S3_PUT_OBJECT_LEGAL_HOLD: &str = "s3:PutObjectLegalHold";
pub const S3_GET_OBJECT_LEGAL_HOLD: &str = "s3:GetObjectLegalHold";
/// Checked by version deletes that ask to bypass Object Lock GOVERNANCE retention.
pub const S3_BYPASS_GOVERNANCE: &str = "s3:BypassGovernanceRetention";
/// Also checked by PutObject/CopyObject when the request sets tags (`x-amz-tagging`).
pub const S3_PUT_OBJECT_TAGGING: &str = "s3:PutObjectTagging";

/// The table. Order is irrelevant; lookups are by name.
pub const OPERATIONS: &[OpRule] = &[
    // Service level.
    OpRule {
        owner_check: false,
        ..rule("ListBuckets", &[c("s3:ListAllMyBuckets", Res::Global)])
    },
    // Buckets.
    OpRule {
        requires_org_policy: true,
        owner_check: false,
        ..rule("CreateBucket", &[c("s3:CreateBucket", Res::Bucket)])
    },
    rule("HeadBucket", &[c(S3_LIST_BUCKET, Res::Bucket)]),
    rule(
        "GetBucketLocation",
        &[c("s3:GetBucketLocation", Res::Bucket)],
    ),
    rule("DeleteBucket", &[c("s3:DeleteBucket", Res::Bucket)]),
    // Bucket policy management: judged by org policies only (`authorize`, SPEC §3).
    rule("PutBucketPolicy", &[c("s3:PutBucketPolicy", Res::Bucket)]),
    rule("GetBucketPolicy", &[c("s3:GetBucketPolicy", Res::Bucket)]),
    rule(
        "DeleteBucketPolicy",
        &[c("s3:DeleteBucketPolicy", Res::Bucket)],
    ),
    rule(
        "GetBucketPolicyStatus",
        &[c("s3:GetBucketPolicyStatus", Res::Bucket)],
    ),
    // Versioning.
    rule(
        "GetBucketVersioning",
        &[c("s3:GetBucketVersioning", Res::Bucket)],
    ),
    rule(
        "PutBucketVersioning",
        &[c("s3:PutBucketVersioning", Res::Bucket)],
    ),
    rule(
        "ListObjectVersions",
        &[c("s3:ListBucketVersions", Res::Bucket)],
    ),
    // Lifecycle (S3 authorizes DeleteBucketLifecycle with s3:PutLifecycleConfiguration).
    rule(
        "PutBucketLifecycleConfiguration",
        &[c("s3:PutLifecycleConfiguration", Res::Bucket)],
    ),
    rule(
        "GetBucketLifecycleConfiguration",
        &[c("s3:GetLifecycleConfiguration", Res::Bucket)],
    ),
    rule(
        "DeleteBucketLifecycle",
        &[c("s3:PutLifecycleConfiguration", Res::Bucket)],
    ),
    rule("ListObjects", &[c(S3_LIST_BUCKET, Res::Bucket)]),
    rule("ListObjectsV2", &[c(S3_LIST_BUCKET, Res::Bucket)]),
    rule(
        "ListMultipartUploads",
        &[c("s3:ListBucketMultipartUploads", Res::Bucket)],
    ),
    // Objects.
    rule("PutObject", &[c(S3_PUT_OBJECT, Res::Object)]),
    // Browser form upload: the key is in the body; `post_object` reads the fields
    // before the file and asks with that key.
    rule("PostObject", &[c(S3_PUT_OBJECT, Res::Object)]),
    rule("GetObject", &[c(S3_GET_OBJECT, Res::Object)]),
    rule("HeadObject", &[c(S3_GET_OBJECT, Res::Object)]),
    rule("DeleteObject", &[c(S3_DELETE_OBJECT, Res::Object)]),
    OpRule {
        per_key: Some(S3_DELETE_OBJECT),
        ..rule("DeleteObjects", &[])
    },
    rule(
        "CopyObject",
        &[
            c(S3_GET_OBJECT, Res::CopySource),
            c(S3_PUT_OBJECT, Res::Object),
        ],
    ),
    // `PUT ?renameObject`, which s3s routes as PutObject (the access hook renames the
    // operation): writes the destination, reads and removes the source.
    rule(
        "RenameObject",
        &[
            c(S3_PUT_OBJECT, Res::Object),
            c(S3_GET_OBJECT, Res::RenameSource),
            c(S3_DELETE_OBJECT, Res::RenameSource),
        ],
    ),
    // Multipart.
    rule("CreateMultipartUpload", &[c(S3_PUT_OBJECT, Res::Object)]),
    rule("UploadPart", &[c(S3_PUT_OBJECT, Res::Object)]),
    rule(
        "UploadPartCopy",
        &[
            c(S3_GET_OBJECT, Res::CopySource),
            c(S3_PUT_OBJECT, Res::Object),
        ],
    ),
    rule("CompleteMultipartUpload", &[c(S3_PUT_OBJECT, Res::Object)]),
    rule(
        "AbortMultipartUpload",
        &[c("s3:AbortMultipartUpload", Res::Object)],
    ),
    rule(
        "ListParts",
        &[c("s3:ListMultipartUploadParts", Res::Object)],
    ),
    // Tagging. S3 has no separate action for deleting bucket tags.
    rule("PutObjectTagging", &[c(S3_PUT_OBJECT_TAGGING, Res::Object)]),
    rule("GetObjectTagging", &[c("s3:GetObjectTagging", Res::Object)]),
    rule(
        "DeleteObjectTagging",
        &[c("s3:DeleteObjectTagging", Res::Object)],
    ),
    rule("PutBucketTagging", &[c("s3:PutBucketTagging", Res::Bucket)]),
    rule("GetBucketTagging", &[c("s3:GetBucketTagging", Res::Bucket)]),
    rule(
        "DeleteBucketTagging",
        &[c("s3:PutBucketTagging", Res::Bucket)],
    ),
    // CORS configuration (preflights are never authenticated: `cors`). S3 has no
    // separate action for deleting it.
    rule("PutBucketCors", &[c("s3:PutBucketCORS", Res::Bucket)]),
    rule("GetBucketCors", &[c("s3:GetBucketCORS", Res::Bucket)]),
    rule("DeleteBucketCors", &[c("s3:PutBucketCORS", Res::Bucket)]),
    // ACLs: reading them needs READ_ACP or the policy action (ACLs disabled: the owner).
    rule("GetBucketAcl", &[c("s3:GetBucketAcl", Res::Bucket)]),
    rule("GetObjectAcl", &[c(S3_GET_OBJECT_ACL, Res::Object)]),
    rule("PutBucketAcl", &[c("s3:PutBucketAcl", Res::Bucket)]),
    rule("PutObjectAcl", &[c(S3_PUT_OBJECT_ACL, Res::Object)]),
    // Object Lock. A version id does not change the action (S3).
    rule(
        "PutObjectLockConfiguration",
        &[c("s3:PutBucketObjectLockConfiguration", Res::Bucket)],
    ),
    rule(
        "GetObjectLockConfiguration",
        &[c("s3:GetBucketObjectLockConfiguration", Res::Bucket)],
    ),
    rule(
        "PutObjectRetention",
        &[c("s3:PutObjectRetention", Res::Object)],
    ),
    rule(
        "GetObjectRetention",
        &[c("s3:GetObjectRetention", Res::Object)],
    ),
    rule(
        "PutObjectLegalHold",
        &[c("s3:PutObjectLegalHold", Res::Object)],
    ),
    rule(
        "GetObjectLegalHold",
        &[c("s3:GetObjectLegalHold", Res::Object)],
    ),
    // Object Ownership and Public Access Block: `Put…`/`Delete…` are org-only actions
    // (`ORG_ONLY_ACTIONS`); S3 has no separate delete actions.
    rule(
        "GetBucketOwnershipControls",
        &[c("s3:GetBucketOwnershipControls", Res::Bucket)],
    ),
    rule(
        "PutBucketOwnershipControls",
        &[c("s3:PutBucketOwnershipControls", Res::Bucket)],
    ),
    rule(
        "DeleteBucketOwnershipControls",
        &[c("s3:PutBucketOwnershipControls", Res::Bucket)],
    ),
    rule(
        "GetPublicAccessBlock",
        &[c("s3:GetBucketPublicAccessBlock", Res::Bucket)],
    ),
    rule(
        "PutPublicAccessBlock",
        &[c("s3:PutBucketPublicAccessBlock", Res::Bucket)],
    ),
    rule(
        "DeletePublicAccessBlock",
        &[c("s3:PutBucketPublicAccessBlock", Res::Bucket)],
    ),
    // Default encryption: S3 has no separate delete action.
    rule(
        "PutBucketEncryption",
        &[c("s3:PutEncryptionConfiguration", Res::Bucket)],
    ),
    rule(
        "GetBucketEncryption",
        &[c("s3:GetEncryptionConfiguration", Res::Bucket)],
    ),
    rule(
        "DeleteBucketEncryption",
        &[c("s3:PutEncryptionConfiguration", Res::Bucket)],
    ),
    // S3 requires both for an unversioned bucket.
    rule(
        "GetObjectAttributes",
        &[
            c(S3_GET_OBJECT, Res::Object),
            c(S3_GET_OBJECT_ATTRIBUTES, Res::Object),
        ],
    ),
];

/// The rule for an s3s operation name; `None` = not implemented here.
pub fn rule_for(op: &str) -> Option<&'static OpRule> {
    OPERATIONS.iter().find(|r| r.op == op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::policy::{GLOBAL_S3_ACTIONS, S3_ACTIONS};

    /// The operations `impl S3 for Gateway` overrides (keep in sync with gateway.rs).
    const IMPLEMENTED: &[&str] = &[
        "ListBuckets",
        "CreateBucket",
        "HeadBucket",
        "GetBucketLocation",
        "DeleteBucket",
        "PutBucketPolicy",
        "GetBucketPolicy",
        "DeleteBucketPolicy",
        "GetBucketPolicyStatus",
        "GetBucketVersioning",
        "PutBucketVersioning",
        "ListObjectVersions",
        "PutBucketLifecycleConfiguration",
        "GetBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
        "ListObjects",
        "ListObjectsV2",
        "ListMultipartUploads",
        "PutObject",
        "PostObject",
        "GetObject",
        "HeadObject",
        "DeleteObject",
        "DeleteObjects",
        "CopyObject",
        "RenameObject",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "ListParts",
        "PutObjectTagging",
        "GetObjectTagging",
        "DeleteObjectTagging",
        "PutBucketTagging",
        "GetBucketTagging",
        "DeleteBucketTagging",
        "PutBucketCors",
        "GetBucketCors",
        "DeleteBucketCors",
        "GetObjectAttributes",
        "GetBucketAcl",
        "GetObjectAcl",
        "PutBucketAcl",
        "PutObjectAcl",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
        "GetPublicAccessBlock",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
        "PutObjectLockConfiguration",
        "GetObjectLockConfiguration",
        "PutObjectRetention",
        "GetObjectRetention",
        "PutObjectLegalHold",
        "GetObjectLegalHold",
        "PutBucketEncryption",
        "GetBucketEncryption",
        "DeleteBucketEncryption",
    ];

    #[test]
    fn table_matches_the_gateway() {
        for op in IMPLEMENTED {
            assert!(rule_for(op).is_some(), "{op} has no authorization rule");
        }
        for r in OPERATIONS {
            assert!(IMPLEMENTED.contains(&r.op), "{} is not implemented", r.op);
            assert_eq!(
                OPERATIONS.iter().filter(|x| x.op == r.op).count(),
                1,
                "{} listed twice",
                r.op
            );
        }
    }

    #[test]
    fn every_row_authorizes_something() {
        for r in OPERATIONS {
            assert!(
                !r.checks.is_empty() || r.per_key.is_some(),
                "{} would be allowed without any check",
                r.op
            );
            for ch in r.checks {
                assert!(S3_ACTIONS.contains(&ch.action), "{}: {}", r.op, ch.action);
                // Global actions go with the global resource and vice versa.
                assert_eq!(
                    GLOBAL_S3_ACTIONS.contains(&ch.action),
                    ch.res == Res::Global,
                    "{}: {}",
                    r.op,
                    ch.action
                );
            }
        }
    }

    #[test]
    fn spec_mapping() {
        let actions = |op: &str| -> Vec<(&str, Res)> {
            rule_for(op)
                .unwrap()
                .checks
                .iter()
                .map(|c| (c.action, c.res))
                .collect()
        };
        assert_eq!(actions("HeadObject"), [("s3:GetObject", Res::Object)]);
        assert_eq!(actions("GetObject"), [("s3:GetObject", Res::Object)]);
        assert_eq!(actions("ListObjectsV2"), [("s3:ListBucket", Res::Bucket)]);
        assert_eq!(actions("ListObjects"), [("s3:ListBucket", Res::Bucket)]);
        assert_eq!(actions("HeadBucket"), [("s3:ListBucket", Res::Bucket)]);
        assert_eq!(actions("UploadPart"), [("s3:PutObject", Res::Object)]);
        assert_eq!(
            actions("CompleteMultipartUpload"),
            [("s3:PutObject", Res::Object)]
        );
        assert_eq!(
            actions("CreateMultipartUpload"),
            [("s3:PutObject", Res::Object)]
        );
        assert_eq!(
            actions("ListParts"),
            [("s3:ListMultipartUploadParts", Res::Object)]
        );
        assert_eq!(
            actions("ListMultipartUploads"),
            [("s3:ListBucketMultipartUploads", Res::Bucket)]
        );
        assert_eq!(
            actions("AbortMultipartUpload"),
            [("s3:AbortMultipartUpload", Res::Object)]
        );
        assert_eq!(
            actions("CopyObject"),
            [
                ("s3:GetObject", Res::CopySource),
                ("s3:PutObject", Res::Object)
            ]
        );
        assert_eq!(
            actions("UploadPartCopy"),
            [
                ("s3:GetObject", Res::CopySource),
                ("s3:PutObject", Res::Object)
            ]
        );
        assert_eq!(
            actions("ListBuckets"),
            [("s3:ListAllMyBuckets", Res::Global)]
        );
        assert_eq!(actions("CreateBucket"), [("s3:CreateBucket", Res::Bucket)]);
        assert_eq!(
            actions("GetBucketLocation"),
            [("s3:GetBucketLocation", Res::Bucket)]
        );
        assert_eq!(actions("DeleteBucket"), [("s3:DeleteBucket", Res::Bucket)]);
        for (op, action) in [
            ("PutBucketPolicy", "s3:PutBucketPolicy"),
            ("GetBucketPolicy", "s3:GetBucketPolicy"),
            ("DeleteBucketPolicy", "s3:DeleteBucketPolicy"),
            ("GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
            (
                "PutBucketOwnershipControls",
                "s3:PutBucketOwnershipControls",
            ),
            (
                "DeleteBucketOwnershipControls",
                "s3:PutBucketOwnershipControls",
            ),
            ("PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
            ("DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
        ] {
            assert_eq!(actions(op), [(action, Res::Bucket)]);
            // The bucket layer never judges these (a bad policy cannot lock the org out).
            assert!(coffer_core::policy::is_org_only_action(action), "{op}");
        }
        assert_eq!(actions("PutObject"), [("s3:PutObject", Res::Object)]);
        assert_eq!(actions("DeleteObject"), [("s3:DeleteObject", Res::Object)]);
        assert_eq!(
            actions("GetObjectAttributes"),
            [
                ("s3:GetObject", Res::Object),
                ("s3:GetObjectAttributes", Res::Object)
            ]
        );
        for (op, action, res) in [
            ("PutObjectTagging", "s3:PutObjectTagging", Res::Object),
            ("GetObjectTagging", "s3:GetObjectTagging", Res::Object),
            ("DeleteObjectTagging", "s3:DeleteObjectTagging", Res::Object),
            ("PutBucketTagging", "s3:PutBucketTagging", Res::Bucket),
            ("GetBucketTagging", "s3:GetBucketTagging", Res::Bucket),
            ("DeleteBucketTagging", "s3:PutBucketTagging", Res::Bucket),
            ("PutBucketCors", "s3:PutBucketCORS", Res::Bucket),
            ("GetBucketCors", "s3:GetBucketCORS", Res::Bucket),
            ("DeleteBucketCors", "s3:PutBucketCORS", Res::Bucket),
        ] {
            assert_eq!(actions(op), [(action, res)], "{op}");
        }
        assert_eq!(
            actions("ListObjectVersions"),
            [("s3:ListBucketVersions", Res::Bucket)]
        );
        assert_eq!(
            actions("GetBucketVersioning"),
            [("s3:GetBucketVersioning", Res::Bucket)]
        );
        assert_eq!(
            actions("PutBucketVersioning"),
            [("s3:PutBucketVersioning", Res::Bucket)]
        );
        for (op, action) in [
            (
                "PutBucketLifecycleConfiguration",
                "s3:PutLifecycleConfiguration",
            ),
            (
                "GetBucketLifecycleConfiguration",
                "s3:GetLifecycleConfiguration",
            ),
            ("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"),
        ] {
            assert_eq!(actions(op), [(action, Res::Bucket)]);
        }
        assert_eq!(versioned_action(S3_GET_OBJECT), "s3:GetObjectVersion");
        assert_eq!(versioned_action(S3_DELETE_OBJECT), "s3:DeleteObjectVersion");
        assert_eq!(versioned_action(S3_PUT_OBJECT), S3_PUT_OBJECT);
        assert_eq!(
            versioned_action(S3_GET_OBJECT_ATTRIBUTES),
            "s3:GetObjectVersionAttributes"
        );
        assert_eq!(
            actions("RenameObject"),
            [
                ("s3:PutObject", Res::Object),
                ("s3:GetObject", Res::RenameSource),
                ("s3:DeleteObject", Res::RenameSource),
            ]
        );
        let del = rule_for("DeleteObjects").unwrap();
        assert!(del.checks.is_empty());
        assert_eq!(del.per_key, Some("s3:DeleteObject"));
        assert!(rule_for("CreateBucket").unwrap().requires_org_policy);
        assert!(!rule_for("CreateBucket").unwrap().owner_check);
        assert!(
            OPERATIONS
                .iter()
                .filter(|r| r.requires_org_policy)
                .all(|r| r.op == "CreateBucket")
        );
    }

    #[test]
    fn unknown_and_unimplemented_operations_have_no_rule() {
        for op in ["PutBucketWebsite", "SelectObjectContent", "", "getobject"] {
            assert!(rule_for(op).is_none(), "{op}");
        }
    }
}
