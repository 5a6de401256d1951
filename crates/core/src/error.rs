//! The one domain error type. Each API maps it to its wire form with one exhaustive
//! `match` (S3 XML codes in the S3 gateway, gRPC-style codes in the management API).

/// Domain error. Messages are safe to show to the caller; `Internal` carries a detail
/// for the server log only and is rendered to clients as a generic message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    #[error("unimplemented: {0}")]
    Unimplemented(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A dependency is temporarily over capacity (e.g. the audit spool is full under
    /// the `reject` policy): the client should retry later (S3 503 SlowDown, API 503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Stored bytes failed their integrity check (bitrot): they are never served. The
    /// detail (blob id, offset) is for the server log; clients get a fixed message.
    #[error("stored data failed its integrity check: {0}")]
    Corrupted(String),

    // S3-specific conditions. The management API maps these to the generic codes above.
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    /// The request conflicts with the bucket's state (S3 409 `InvalidBucketState`: Object
    /// Lock on a bucket whose versioning is not enabled, suspending versioning of a
    /// bucket with Object Lock).
    #[error("{0}")]
    InvalidBucketState(String),
    /// An ACL a bucket's Object Ownership does not allow (S3 400
    /// `AccessControlListNotSupported` for an ACL on a bucket with ACLs disabled,
    /// `InvalidBucketAclWithObjectOwnership` for disabling ACLs while the bucket's ACL
    /// grants others: `disabling`).
    #[error("{message}")]
    AclNotSupported { message: String, disabling: bool },
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists,
    #[error("your previous request to create the named bucket succeeded and you already own it")]
    BucketAlreadyOwnedByYou,
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    #[error("one or more of the specified parts could not be found: {0}")]
    InvalidPart(String),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("your proposed upload is smaller than the minimum allowed object size")]
    EntityTooSmall,
    #[error("your proposed upload exceeds the maximum allowed object size")]
    EntityTooLarge,
    #[error("the Content-MD5 you specified did not match what we received")]
    BadDigest,
    #[error("the {0} you specified did not match the calculated checksum")]
    ChecksumMismatch(String),
    /// A `Content-MD5` that is not the base64 of 16 bytes (empty included).
    #[error("the Content-MD5 you specified was invalid")]
    InvalidDigest,
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    /// A conditional GET or HEAD whose condition says the client's copy is current.
    /// `etag` is the object's (as stored): a 304 must carry it (RFC 9110 §15.4.5).
    #[error("not modified")]
    NotModified { etag: String },
    #[error("a conflicting conditional operation is currently in progress")]
    ConditionalRequestConflict,
    #[error("the requested range is not satisfiable")]
    InvalidRange,
    /// `partNumber` beyond the object's part count (S3: 416 `InvalidPartNumber`).
    #[error("the requested partnumber is not satisfiable")]
    InvalidPartNumber,
    #[error("bucket capacity cap exceeded: {0}")]
    QuotaExceeded(String),
    #[error("invalid location constraint: {0}")]
    InvalidLocationConstraint(String),
    #[error("key too long")]
    KeyTooLong,
    #[error("metadata too large")]
    MetadataTooLarge,
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    #[error("you did not provide the number of bytes specified by the Content-Length header")]
    IncompleteBody,
    #[error("the specified version does not exist")]
    NoSuchVersion,
    #[error("the lifecycle configuration does not exist")]
    NoSuchLifecycleConfiguration,
    /// The version read is a delete marker: S3 answers 405 MethodNotAllowed when the
    /// marker was asked for by id (`by_id`), else 404 NoSuchKey, both with
    /// `x-amz-delete-marker: true` and the marker's `x-amz-version-id`.
    #[error("{}", if *by_id { "the specified method is not allowed against this resource" } else { "the specified key does not exist" })]
    DeleteMarker {
        /// Wire form (`null` for the null version).
        version_id: String,
        by_id: bool,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Error::Internal(detail.to_string())
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // Streams carry domain errors (e.g. `Corrupted`) wrapped in `io::Error`.
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
            return inner.clone();
        }
        // ENOSPC (28) and EDQUOT (122 on Linux) from a write or an fsync: the data
        // directory is full, which the client can act on, unlike other I/O failures.
        if matches!(
            e.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) || matches!(e.raw_os_error(), Some(28 | 122))
        {
            return Error::InsufficientStorage("no space left on device".into());
        }
        Error::Internal(format!("io: {e}"))
    }
}
