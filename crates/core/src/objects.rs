//! `ObjectService`: buckets, objects, listings and multipart uploads over `MetaStore` and
//! `BlobStore`. Owns the durable write path (stream → hash while writing → verify →
//! blob commit → metadata commit), inline storage of small objects, and the semantics
//! of conditions, ranges and copies. Knows nothing of HTTP or XML.
//!
//! Invariants every operation keeps:
//! * An object or part becomes visible only through one `MetaStore` commit, after its
//!   bytes are verified and durable; any failure before that leaves no blob behind.
//! * A blob id belongs to exactly one record (object segment or part). Copies write new
//!   blobs, so deleting one record's blobs can never break another record.
//! * Blobs of replaced/removed records are deleted only after the metadata commit that
//!   unreferenced them returned; a crash in between leaves orphans that
//!   `BlobStore::recover` sweeps at start-up.

mod ingest;
mod list;
mod versions;

pub use versions::{ListVersionsInput, ListVersionsOutput};
mod multipart;
mod read;
#[doc(hidden)]
pub use read::{evaluate_conditions, resolve_range};
mod write;

use crate::blob::{BlobStore, ByteStream};
use crate::checksum::{ChecksumAlgorithm, ChecksumType};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::validate_bucket_name;
use crate::meta::MetaStore;
use crate::model::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct ObjectConfig {
    /// Objects up to this size are stored inline in the metadata database.
    pub inline_threshold: usize,
    /// Configured zones (LocationConstraint values); never empty.
    pub zones: Vec<String>,
    pub max_buckets_per_org: usize,
    /// How long the blobs of a replaced or deleted object stay on disk, so that GETs
    /// already streaming the old version (segments open lazily) can finish. A crash
    /// within the grace leaves orphans that start-up recovery removes.
    pub retired_blob_grace: std::time::Duration,
    /// Object Ownership of a bucket created without `x-amz-object-ownership`; `None`:
    /// no ownership controls (ACLs enabled, S3 before April 2023). Default:
    /// `BucketOwnerEnforced` (ACLs disabled).
    pub default_object_ownership: Option<crate::acl::ObjectOwnership>,
    /// Accept SSE-C keys on connections that did not arrive over TLS (behind a
    /// TLS-terminating proxy, or in tests). Off: such requests are refused, as S3 does.
    pub allow_insecure_ssec: bool,
}

pub fn default_retired_blob_grace() -> std::time::Duration {
    std::time::Duration::from_secs(60)
}

impl Default for ObjectConfig {
    fn default() -> Self {
        Self {
            inline_threshold: 128 * 1024,
            zones: vec!["US-EAST-04A".to_string()],
            max_buckets_per_org: 1000,
            retired_blob_grace: default_retired_blob_grace(),
            default_object_ownership: Some(crate::acl::ObjectOwnership::BucketOwnerEnforced),
            allow_insecure_ssec: false,
        }
    }
}

/// Called once the body stream has ended; returns the checksum the client sent in the
/// aws-chunked trailer, if any.
pub type TrailerFn = Box<dyn FnOnce() -> Option<(ChecksumAlgorithm, String)> + Send>;

/// Checksum the client asked for or supplied. Every named algorithm must be the same one
/// (S3 stores one checksum per object); a mismatch is `InvalidArgument`.
#[derive(Default)]
pub struct ChecksumInput {
    /// `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`: compute and store it.
    /// With a trailer, set it to the algorithm announced in `x-amz-trailer`: the digest
    /// must be computed while the body streams, before the trailer is known.
    pub algorithm: Option<ChecksumAlgorithm>,
    /// A value sent in a header (`x-amz-checksum-<alg>`): must match.
    pub expected: Option<(ChecksumAlgorithm, String)>,
    /// A value that will arrive in the trailer: must match. When neither `algorithm` nor
    /// `expected` names an algorithm, the three CRCs are computed speculatively; a trailer
    /// with SHA1/SHA256 then fails with `InvalidArgument`.
    pub trailer: Option<TrailerFn>,
}

pub struct PutObjectInput {
    pub bucket: String,
    pub key: String,
    pub body: ByteStream,
    /// Declared length; a body of another length fails with `IncompleteBody`.
    pub content_length: Option<u64>,
    /// Base64 `Content-MD5`; mismatch → `BadDigest`.
    pub content_md5: Option<String>,
    pub checksum: ChecksumInput,
    pub headers: ObjectHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub cond: WriteCondition,
    /// The audit event of this write (one serialized audit record), committed in the
    /// write's own metadata transaction (`MetaStore::put_object_audited`): set only when
    /// the store has an audit outbox and the request is audited, and only with the
    /// outcome "the write succeeded" — it is absent if the write fails.
    pub audit_event: Option<Vec<u8>>,
    /// The bucket's record when the caller has just read it (the S3 access check), so
    /// the write does not read it again; `None`: the write reads it. A record of another
    /// bucket is ignored.
    pub bucket_record: Option<Arc<Bucket>>,
    /// Object Lock settings asked for (validated by the caller); the bucket's default
    /// retention applies when none is asked for.
    pub lock: crate::object_lock::WriteLock,
    /// The new version's owner and ACL (decided by the caller from the bucket's Object
    /// Ownership).
    pub access: crate::acl::ObjectAccess,
    /// Server-side encryption asked for.
    pub sse: crate::sse::SseWrite,
}

/// Byte range of a GET (`Range: bytes=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` (inclusive).
    Bounded(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// Read preconditions (RFC 7232 as S3 applies them).
#[derive(Debug, Clone, Default)]
pub struct ReadConditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<OffsetDateTime>,
    pub if_unmodified_since: Option<OffsetDateTime>,
    /// Serve only the version whose [`crate::cache_node::object_tag`] this is (a
    /// compute-node cache's fill), else `PreconditionFailed`.
    pub cache_tag: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GetObjectInput {
    pub bucket: String,
    pub key: String,
    pub range: Option<ByteRange>,
    pub part_number: Option<u32>,
    pub conditions: ReadConditions,
    /// The SSE-C key sent with the read (required for SSE-C data, refused otherwise).
    pub sse_key: Option<crate::sse::CustomerKey>,
}

pub struct GetObjectOutput {
    /// The object's record with `data` emptied (`Inline(vec![])`) to avoid copies.
    pub record: ObjectRecord,
    /// `Some((start, end_inclusive))` when a range or part was requested.
    pub range: Option<(u64, u64)>,
    pub content_length: u64,
    /// `None` for HEAD.
    pub body: Option<ByteStream>,
    /// Number of parts, when the object is multipart (`x-amz-mp-parts-count`).
    pub parts_count: Option<u32>,
}

impl std::fmt::Debug for GetObjectOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetObjectOutput")
            .field("record", &self.record)
            .field("range", &self.range)
            .field("content_length", &self.content_length)
            .field("body", &self.body.as_ref().map(|_| "<stream>"))
            .field("parts_count", &self.parts_count)
            .finish()
    }
}

pub enum MetadataDirective {
    Copy,
    Replace {
        headers: ObjectHeaders,
        user_metadata: BTreeMap<String, String>,
    },
}

pub struct CopyObjectInput {
    pub src_bucket: String,
    pub src_key: String,
    pub src_conditions: ReadConditions,
    pub dst_bucket: String,
    pub dst_key: String,
    pub metadata: MetadataDirective,
    /// `None` = copy the source's tags.
    pub tags: Option<BTreeMap<String, String>>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub cond: WriteCondition,
    /// `versionId` of the copy source (`"null"` = the null version); `None` = current.
    pub src_version_id: Option<String>,
    /// The new version's owner and ACL (the source's are not copied, as S3).
    pub access: crate::acl::ObjectAccess,
    /// The copy's encryption (the source's is not carried over, as S3).
    pub sse: crate::sse::SseWrite,
    /// The source's SSE-C key (`x-amz-copy-source-server-side-encryption-customer-*`).
    pub src_sse_key: Option<crate::sse::CustomerKey>,
}

#[derive(Debug, Clone)]
pub struct ListObjectsInput {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Exclusive: keys (and common prefixes) ≤ this are skipped.
    pub start_after: String,
    /// 0..=1000 (callers clamp).
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListObjectsOutput {
    pub objects: Vec<ObjectSummary>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix returned (next marker / continuation point).
    pub next_marker: Option<String>,
}

pub struct CreateMultipartInput {
    pub bucket: String,
    pub key: String,
    pub headers: ObjectHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `x-amz-checksum-type`; `None` = the algorithm's default (CRC64NVME → FULL_OBJECT,
    /// others → COMPOSITE). Requires `checksum_algorithm`.
    pub checksum_type: Option<ChecksumType>,
    pub initiator: String,
    /// Object Lock settings for the completed version (validated by the caller).
    pub lock: crate::object_lock::WriteLock,
    /// The completed version's owner and ACL.
    pub access: crate::acl::ObjectAccess,
    /// The completed version's encryption; every part must be sent accordingly.
    pub sse: crate::sse::SseWrite,
}

pub struct UploadPartInput {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_number: u32,
    pub body: ByteStream,
    pub content_length: Option<u64>,
    pub content_md5: Option<String>,
    pub checksum: ChecksumInput,
    /// The upload's SSE-C key (required for an SSE-C upload).
    pub sse_key: Option<crate::sse::CustomerKey>,
}

pub struct UploadPartCopyInput {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_number: u32,
    pub src_bucket: String,
    pub src_key: String,
    /// `x-amz-copy-source-range: bytes=a-b`.
    pub src_range: Option<(u64, u64)>,
    pub src_conditions: ReadConditions,
    /// `versionId` of the copy source; `None` = current.
    pub src_version_id: Option<String>,
    /// The upload's SSE-C key (required for an SSE-C upload).
    pub sse_key: Option<crate::sse::CustomerKey>,
    /// The source's SSE-C key.
    pub src_sse_key: Option<crate::sse::CustomerKey>,
}

#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub part_number: u32,
    /// Quoted or unquoted ETag as the client sent it.
    pub etag: String,
    pub checksums: Checksums,
}

pub struct CompleteMultipartInput {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub parts: Vec<CompletedPart>,
    /// The whole object's checksum as the client computed it (`x-amz-checksum-<alg>`,
    /// for a composite checksum with its `-N` suffix): checked against the one the
    /// upload's algorithm gives, `BadDigest` on a mismatch.
    pub checksum: Option<(crate::checksum::ChecksumAlgorithm, String)>,
    pub cond: WriteCondition,
    /// An SSE-C key sent with the completion: checked against the upload's when given.
    pub sse_key: Option<crate::sse::CustomerKey>,
}

#[derive(Debug, Clone)]
pub struct ListUploadsInput {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub max_uploads: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListUploadsOutput {
    pub uploads: Vec<MultipartUpload>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ListPartsOutput {
    pub upload: MultipartUpload,
    pub parts: Vec<PartRecord>,
    pub is_truncated: bool,
    pub next_part_number_marker: Option<u32>,
}

/// Largest single PUT, part and copy source (S3: 5 GiB).
pub const MAX_PUT_SIZE: u64 = 5 << 30;
/// Smallest part of a multipart object except the last.
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Largest part number and part count of a multipart upload.
pub const MAX_PARTS: u32 = 10_000;
/// Sum of the UTF-8 lengths of user-metadata keys and values.
pub const MAX_USER_METADATA: usize = 2048;

/// What S3's CreateBucket may ask of a new bucket beyond its name and zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewBucket {
    /// `x-amz-bucket-object-lock-enabled: true`: Object Lock on, versioning enabled.
    pub object_lock: bool,
    /// `x-amz-object-ownership`; `None`: the service's `default_object_ownership`.
    pub ownership: Option<crate::acl::ObjectOwnership>,
    /// The bucket ACL asked for (validated by the caller against the ownership the
    /// bucket gets, [`ObjectService::ownership_of_new`]); `None`: `private`.
    pub acl: Option<crate::acl::Acl>,
}

pub struct ObjectService {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    cfg: ObjectConfig,
    /// Reads refused because stored bytes failed their integrity check
    /// (`coffer_integrity_errors_total`).
    integrity_errors: Arc<std::sync::atomic::AtomicU64>,
    retirer: Retirer,
    /// Server-side encryption keys (from the master key); `None`: SSE requests are
    /// refused with `NotImplemented`.
    keyring: Option<Arc<crate::sse::Keyring>>,
}

impl ObjectService {
    pub fn new(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        cfg: ObjectConfig,
    ) -> Self {
        Self {
            retirer: Retirer::new(blobs.clone(), cfg.retired_blob_grace),
            meta,
            blobs,
            clock,
            cfg,
            integrity_errors: Arc::default(),
            keyring: None,
        }
    }

    /// Enables server-side encryption with keys derived from the master key.
    pub fn with_keyring(mut self, keyring: Arc<crate::sse::Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }

    pub(crate) fn keyring(&self) -> Result<&crate::sse::Keyring> {
        self.keyring
            .as_deref()
            .ok_or_else(|| Error::Unimplemented("server-side encryption is not configured".into()))
    }

    /// The data key of a stored version's data for a request that presented `key` (an
    /// SSE-C key, or none): `None` for data in the clear (a key presented for it is
    /// `InvalidArgument`); errors as [`crate::sse::Keyring::data_key`].
    pub(crate) fn read_key(
        &self,
        enc: Option<&crate::sse::Encryption>,
        key: Option<&crate::sse::CustomerKey>,
    ) -> Result<Option<crate::sse::DataKey>> {
        match (enc, key) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(crate::sse::not_applicable()),
            (Some(e), k) => self.keyring()?.data_key(e, k).map(Some),
        }
    }

    /// Whether a request that presented `key` (an SSE-C key, or none) may read data
    /// encrypted as `enc` (a version's, an upload's): as for a GET ([`Self::read_key`]).
    pub fn check_sse_key(
        &self,
        enc: Option<&crate::sse::Encryption>,
        key: Option<&crate::sse::CustomerKey>,
    ) -> Result<()> {
        self.read_key(enc, key).map(|_| ())
    }

    /// The encryption and data key of a new version in `bucket` for what the write asked
    /// for: no SSE header follows the bucket's default encryption.
    pub(crate) fn write_key(
        &self,
        bucket: &Bucket,
        want: &crate::sse::SseWrite,
    ) -> Result<Option<(crate::sse::Encryption, crate::sse::DataKey)>> {
        use crate::sse::SseWrite;
        let resolved = match want {
            SseWrite::Default if bucket.subresources.encryption.is_some() => &SseWrite::Managed,
            SseWrite::Default => return Ok(None),
            w => w,
        };
        self.keyring()?.seal_new(resolved)
    }

    /// Deletes now the blobs of every overwritten or deleted object still waiting out
    /// its grace; returns how many. Only for when no reader can still be streaming them
    /// (a stopped single-node server): with a blob directory shared by several nodes,
    /// another node's reader may.
    pub async fn delete_retired_now(&self) -> usize {
        self.retirer.delete_all_now().await
    }

    pub fn config(&self) -> &ObjectConfig {
        &self.cfg
    }

    /// Reads refused so far because stored bytes failed their integrity check.
    pub fn integrity_errors(&self) -> u64 {
        self.integrity_errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Creates a bucket owned by `org_id`. `location` None → the only zone if exactly one is
    /// configured, else `InvalidLocationConstraint`. Same org + same zone → Ok (idempotent);
    /// same org + other zone → `BucketAlreadyOwnedByYou`; other org → `BucketAlreadyExists`.
    /// More than `max_buckets_per_org` → `ResourceExhausted("TooManyBuckets: …")`.
    pub async fn create_bucket(
        &self,
        org_id: &str,
        name: &str,
        location: Option<&str>,
    ) -> Result<Bucket> {
        self.create_bucket_with(org_id, name, location, NewBucket::default())
            .await
    }

    /// [`Self::create_bucket`] with the options of S3's CreateBucket. Object Lock is set
    /// in the inserted record itself (versioning enabled with it), never added after.
    pub async fn create_bucket_with(
        &self,
        org_id: &str,
        name: &str,
        location: Option<&str>,
        new: NewBucket,
    ) -> Result<Bucket> {
        validate_bucket_name(name, false)?;
        let zone = self.resolve_zone(location)?;
        self.create_bucket_in(org_id, name, zone, new).await
    }

    /// Like `create_bucket` but admits reserved names (the org's audit bucket); the bucket
    /// goes to the first configured zone.
    pub async fn create_reserved_bucket(&self, org_id: &str, name: &str) -> Result<Bucket> {
        validate_bucket_name(name, true)?;
        let zone = self
            .cfg
            .zones
            .first()
            .cloned()
            .ok_or_else(|| Error::internal("no zone configured"))?;
        // Never ACLs, whatever `default_object_ownership` says: the org's audit log.
        let new = NewBucket {
            ownership: Some(crate::acl::ObjectOwnership::BucketOwnerEnforced),
            ..NewBucket::default()
        };
        self.create_bucket_in(org_id, name, zone, new).await
    }

    fn resolve_zone(&self, location: Option<&str>) -> Result<String> {
        match location.map(str::trim).filter(|l| !l.is_empty()) {
            Some(loc) => self
                .cfg
                .zones
                .iter()
                .find(|z| z.eq_ignore_ascii_case(loc))
                .cloned()
                .ok_or_else(|| Error::InvalidLocationConstraint(loc.to_string())),
            None => match self.cfg.zones.as_slice() {
                [only] => Ok(only.clone()),
                _ => Err(Error::InvalidLocationConstraint(
                    "a LocationConstraint is required: several zones are configured".into(),
                )),
            },
        }
    }

    async fn create_bucket_in(
        &self,
        org_id: &str,
        name: &str,
        zone: String,
        new: NewBucket,
    ) -> Result<Bucket> {
        if let Some(existing) = self.meta.get_bucket(name).await? {
            return owned_bucket_outcome(existing, org_id, &zone, new);
        }
        // Counted outside the insert transaction: two racing creates may overshoot the
        // limit by one, which the limit's purpose (abuse control) tolerates.
        let owned = self.meta.list_buckets(org_id).await?.len();
        if owned >= self.cfg.max_buckets_per_org {
            return Err(Error::ResourceExhausted(format!(
                "TooManyBuckets: you have attempted to create more buckets than allowed ({})",
                self.cfg.max_buckets_per_org
            )));
        }
        let bucket = Bucket {
            name: name.to_string(),
            org_id: org_id.to_string(),
            zone: zone.clone(),
            created: self.clock.now(),
            settings: BucketSettings::default(),
            policy: None,
            versioning: if new.object_lock {
                VersioningState::Enabled
            } else {
                VersioningState::Unversioned
            },
            lifecycle: None,
            subresources: BucketSubresources {
                object_lock: new.object_lock.then(Default::default),
                ownership: self.ownership_of_new(&new),
                acl: new.acl.clone().and_then(|a| crate::acl::stored(a, org_id)),
                ..Default::default()
            },
        };
        match self.meta.create_bucket(&bucket).await {
            Ok(()) => Ok(bucket),
            // Lost a race with another create of the same name.
            Err(Error::BucketAlreadyExists) => match self.meta.get_bucket(name).await? {
                Some(existing) => owned_bucket_outcome(existing, org_id, &zone, new),
                None => Err(Error::BucketAlreadyExists),
            },
            Err(e) => Err(e),
        }
    }

    /// `InvalidArgument` when a grant of `acl` names an org that does not exist: a grant
    /// must not wait for a future org to be given that id. One read per distinct org
    /// (at most `acl::MAX_GRANTS`).
    pub async fn check_grantees(&self, acl: &crate::acl::Acl) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for org in acl.grants().iter().filter_map(|g| g.grantee.org()) {
            if seen.insert(org) && self.meta.get_org(org).await?.is_none() {
                return Err(Error::InvalidArgument(
                    "Invalid id: a grantee names no existing org".into(),
                ));
            }
        }
        Ok(())
    }

    /// The Object Ownership a bucket created with `new` gets.
    pub fn ownership_of_new(&self, new: &NewBucket) -> Option<crate::acl::ObjectOwnership> {
        new.ownership.or(self.cfg.default_object_ownership)
    }

    /// The service's clock (Object Lock dates are judged against it).
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Edits one object version's record in place ([`MetaStore::edit_object`]).
    pub async fn edit_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        edit: crate::meta::ObjectEdit,
    ) -> Result<ObjectRecord> {
        if let Some(v) = version_id {
            versions::check_version_id(v)?;
        }
        self.meta.edit_object(bucket, key, version_id, edit).await
    }

    pub async fn get_bucket(&self, name: &str) -> Result<Bucket> {
        self.meta.get_bucket(name).await?.ok_or(Error::NoSuchBucket)
    }

    pub async fn list_buckets(&self, org_id: &str) -> Result<Vec<Bucket>> {
        self.meta.list_buckets(org_id).await
    }

    /// PutBucketLifecycleConfiguration (`Some`, validated first) or DeleteBucketLifecycle
    /// (`None`). Stored in the bucket record; the lifecycle worker reads it from there.
    /// `owner` is the org the caller was authorized against (see `policy::owned_by`).
    pub async fn set_lifecycle(
        &self,
        bucket: &str,
        owner: &str,
        cfg: Option<crate::lifecycle::LifecycleConfiguration>,
    ) -> Result<()> {
        if let Some(c) = &cfg {
            c.validate()?;
        }
        let owner = owner.to_owned();
        self.meta
            .edit_bucket(
                bucket,
                Box::new(move |b| {
                    crate::policy::owned_by(b, &owner)?;
                    b.lifecycle = cfg;
                    Ok(())
                }),
            )
            .await
            .map(drop)
    }

    /// `NoSuchLifecycleConfiguration` when none is set.
    pub async fn get_lifecycle(
        &self,
        bucket: &str,
    ) -> Result<crate::lifecycle::LifecycleConfiguration> {
        self.get_bucket(bucket)
            .await?
            .lifecycle
            .ok_or(Error::NoSuchLifecycleConfiguration)
    }

    /// Applies an edit to the bucket's configuration atomically (`MetaStore::edit_bucket`).
    pub async fn edit_bucket(&self, name: &str, edit: crate::meta::BucketEdit) -> Result<Bucket> {
        self.meta.edit_bucket(name, edit).await
    }

    /// The record of an object without its body: the current one, or the version named
    /// (`"null"` = the null version). `NoSuchBucket`/`NoSuchKey`/`NoSuchVersion`, or the
    /// delete-marker error a GET of the same version would give.
    pub async fn object_record(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectRecord> {
        match version_id {
            None => self.load_object(bucket, key).await,
            Some(v) => self.load_version(bucket, key, v).await,
        }
    }

    /// Replaces an object's tag set (validated by the caller) without rewriting it.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let tags = tags.clone();
        let edit: crate::meta::ObjectEdit = std::sync::Arc::new(move |r| {
            r.tags = tags.clone();
            Ok(())
        });
        self.meta
            .edit_object(bucket, key, None, edit)
            .await
            .map(drop)
    }

    /// `NoSuchBucket`, or `BucketNotEmpty` while objects or uploads exist.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.meta.delete_bucket(name).await
    }

    /// Streams the body to storage while hashing, verifies length, Content-MD5 and
    /// checksums, then commits. Bodies up to `inline_threshold` are stored inline.
    pub async fn put_object(&self, input: PutObjectInput) -> Result<ObjectRecord> {
        self.do_put_object(input).await
    }

    /// GET (`want_body`) or HEAD.
    pub async fn get_object(
        &self,
        input: GetObjectInput,
        want_body: bool,
    ) -> Result<GetObjectOutput> {
        self.do_get_object(input, None, |_, _| want_body).await
    }

    /// GET of the current version (`version_id` `None`) or of one version, opening the
    /// body only if `want_body` says so once the record passed its checks — with the
    /// whole record (its data too) and the length the answer will have. One metadata
    /// read whichever way it decides.
    pub async fn get_object_deciding(
        &self,
        input: GetObjectInput,
        version_id: Option<&str>,
        want_body: impl FnOnce(&ObjectRecord, u64) -> bool,
    ) -> Result<GetObjectOutput> {
        self.do_get_object(input, version_id, want_body).await
    }

    /// Deleting an absent key succeeds (S3 semantics); absent bucket → `NoSuchBucket`.
    /// In a versioned bucket this adds a delete marker (`delete_version` for details).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        self.delete_version(bucket, key, None, false)
            .await
            .map(|_| ())
    }

    /// RenameObject within one never-versioned bucket: metadata only (no data is
    /// copied, usage is unchanged unless a destination object is replaced, whose blobs
    /// are retired like an overwrite's).
    pub async fn rename_object(
        &self,
        bucket: &str,
        src: &str,
        dst: &str,
        cond: RenameConditions,
    ) -> Result<()> {
        crate::ids::validate_object_key(src)?;
        crate::ids::validate_object_key(dst)?;
        let (meta, retirer) = (self.meta.clone(), self.retirer.clone());
        let (bucket, src, dst) = (bucket.to_string(), src.to_string(), dst.to_string());
        to_completion(async move {
            let replaced = meta.rename_object(&bucket, &src, &dst, &cond).await?;
            retirer.retire(replaced.previous).await;
            Ok(())
        })
        .await
    }

    /// Copies into new storage (never shares blobs). A multipart source becomes a
    /// single-part object whose ETag is the MD5 of its content.
    pub async fn copy_object(&self, input: CopyObjectInput) -> Result<ObjectRecord> {
        self.do_copy_object(input).await
    }

    pub async fn list_objects(&self, input: ListObjectsInput) -> Result<ListObjectsOutput> {
        self.do_list_objects(input).await
    }

    pub async fn create_multipart(&self, input: CreateMultipartInput) -> Result<MultipartUpload> {
        self.do_create_multipart(input).await
    }

    pub async fn upload_part(&self, input: UploadPartInput) -> Result<PartRecord> {
        self.do_upload_part(input).await
    }

    pub async fn upload_part_copy(&self, input: UploadPartCopyInput) -> Result<PartRecord> {
        self.do_upload_part_copy(input).await
    }

    /// Metadata-only: the parts' blobs become the object's segments.
    pub async fn complete_multipart(&self, input: CompleteMultipartInput) -> Result<ObjectRecord> {
        self.do_complete_multipart(input).await
    }

    pub async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        self.upload_for(bucket, key, upload_id).await?;
        let (meta, blobs) = (self.meta.clone(), self.blobs.clone());
        let upload_id = upload_id.to_string();
        to_completion(async move {
            let parts = meta.abort_upload(&upload_id).await?;
            delete_blobs(&*blobs, parts.iter().map(|p| p.blob_id.as_str())).await;
            Ok(())
        })
        .await
    }

    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<ListPartsOutput> {
        self.do_list_parts(bucket, key, upload_id, part_number_marker, max_parts)
            .await
    }

    pub async fn list_uploads(&self, input: ListUploadsInput) -> Result<ListUploadsOutput> {
        self.do_list_uploads(input).await
    }

    pub async fn bucket_usage(&self, name: &str) -> Result<Usage> {
        self.meta.bucket_usage(name).await
    }
}

/// Runs the tail of a mutation (blob commit, metadata commit, deletion of the blobs it
/// unreferenced) on its own task and waits for it. A caller that goes away mid-way (the
/// client disconnected) then cannot strand a committed blob without its record, or a
/// replaced record's blobs without their deletion.
async fn to_completion<T, F>(tail: F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(tail)
        .await
        .map_err(|e| Error::internal(format!("commit task failed: {e}")))?
}

/// Best effort: a blob left behind is an orphan that start-up recovery removes.
async fn delete_blobs<'a>(blobs: &dyn BlobStore, ids: impl Iterator<Item = &'a str>) {
    for id in ids {
        if let Err(e) = blobs.delete(id).await {
            tracing::warn!(blob_id = id, error = %e, "could not delete unreferenced blob");
        }
    }
}

/// Deletes the blobs of records that are no longer visible, `grace` after they were
/// retired (see `ObjectConfig::retired_blob_grace`: a reader that loaded the old record
/// just before may still be streaming them). Retirements not yet carried out are
/// remembered, so that a graceful stop with no reader left can carry them out at once
/// ([`ObjectService::delete_retired_now`]) instead of leaving them to start-up recovery.
#[derive(Clone)]
pub(crate) struct Retirer {
    blobs: Arc<dyn BlobStore>,
    grace: std::time::Duration,
    pending: Arc<parking_lot::Mutex<PendingRetirements>>,
}

#[derive(Default)]
struct PendingRetirements {
    next: u64,
    blobs: std::collections::HashMap<u64, Vec<String>>,
}

impl Retirer {
    fn new(blobs: Arc<dyn BlobStore>, grace: std::time::Duration) -> Self {
        Self {
            blobs,
            grace,
            pending: Arc::default(),
        }
    }

    pub(crate) fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Schedules the deletion of `record`'s blobs; with a zero grace, deletes them
    /// before returning.
    pub(crate) async fn retire(&self, record: Option<ObjectRecord>) {
        let Some(r) = record else { return };
        let ids: Vec<String> = r.data.blob_ids().map(str::to_string).collect();
        if ids.is_empty() {
            return;
        }
        if self.grace.is_zero() {
            delete_blobs(&*self.blobs, ids.iter().map(String::as_str)).await;
            return;
        }
        let ticket = {
            let mut p = self.pending.lock();
            p.next += 1;
            let t = p.next;
            p.blobs.insert(t, ids);
            t
        };
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(this.grace).await;
            let ids = this.pending.lock().blobs.remove(&ticket);
            if let Some(ids) = ids {
                delete_blobs(&*this.blobs, ids.iter().map(String::as_str)).await;
            }
        });
    }

    /// Deletes every pending retirement now; returns how many blobs it deleted.
    async fn delete_all_now(&self) -> usize {
        let pending = std::mem::take(&mut self.pending.lock().blobs);
        let ids: Vec<String> = pending.into_values().flatten().collect();
        delete_blobs(&*self.blobs, ids.iter().map(String::as_str)).await;
        ids.len()
    }
}

/// Metadata commit of a record whose bytes are durable. On failure its blobs are
/// deleted; on success the replaced record's blobs are.
async fn commit_object(
    meta: &dyn MetaStore,
    retirer: &Retirer,
    record: ObjectRecord,
    cond: &WriteCondition,
    cap: Option<u64>,
    audit_event: Option<Vec<u8>>,
) -> Result<ObjectRecord> {
    let mut record = record;
    // The integrity record of inline bytes travels in the record (blobs carry their own).
    record.inline_crc32c = match &record.data {
        ObjectData::Inline(b) => Some(crate::integrity::crc32c(b)),
        ObjectData::Segments(_) => None,
    };
    let committed = match audit_event {
        Some(event) => meta.put_object_audited(&record, cond, cap, event).await,
        None => meta.put_object(&record, cond, cap).await,
    };
    match committed {
        Ok(replaced) => {
            retirer.retire(replaced.previous).await;
            let mut record = record;
            record.version_id = replaced.version_id;
            Ok(record)
        }
        Err(e) => {
            delete_blobs(&**retirer.blobs(), record.data.blob_ids()).await;
            Err(lost_condition_race(e, cond))
        }
    }
}

/// The version id a new object proposes: a fresh one when the bucket (as last read) has
/// versioning enabled, else `None`. The store decides atomically (`Replaced::version_id`)
/// in case the state changed since; unversioned buckets pay no id generation.
pub(super) fn new_version_for(bucket: &Bucket) -> Option<String> {
    (bucket.versioning == VersioningState::Enabled).then(crate::ids::new_version_id)
}

/// A conditional write's condition is checked twice: before any byte is stored
/// (`precheck_write`, which answers `PreconditionFailed`) and atomically in the metadata
/// commit. A condition that held at the pre-check but fails at commit lost a race with a
/// concurrent write of the same key: S3 answers that with 409 `ConditionalRequestConflict`
/// (retryable), not 412.
pub(crate) fn lost_condition_race(e: Error, cond: &WriteCondition) -> Error {
    match e {
        Error::PreconditionFailed | Error::NoSuchKey if !matches!(cond, WriteCondition::None) => {
            Error::ConditionalRequestConflict
        }
        e => e,
    }
}

/// A create of a name that exists: idempotent for the owner when nothing it asks for
/// differs (zone, Object Lock, an explicit Object Ownership or ACL); a success never
/// claims a lock, ownership or ACL that is not there.
fn owned_bucket_outcome(
    existing: Bucket,
    org_id: &str,
    zone: &str,
    new: NewBucket,
) -> Result<Bucket> {
    let sub = &existing.subresources;
    // No ACL asked is `private`: a re-create never claims an ACL the bucket lacks (409
    // BucketAlreadyExists, as RGW answers; S3's us-east-1 would answer 200 and leave
    // the ACL as it is).
    let same_acl = new.acl.and_then(|a| crate::acl::stored(a, org_id)) == sub.acl;
    if existing.org_id != org_id || !same_acl {
        Err(Error::BucketAlreadyExists)
    } else if existing.zone == zone
        && (!new.object_lock || sub.object_lock.is_some())
        && new.ownership.is_none_or(|o| sub.ownership == Some(o))
    {
        Ok(existing)
    } else {
        Err(Error::BucketAlreadyOwnedByYou)
    }
}
