//! Stored records. Every record that is persisted as a document carries a schema
//! version (`v`) so later releases can read old bytes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub const RECORD_VERSION: u32 = 1;

fn record_version() -> u32 {
    RECORD_VERSION
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub org_id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Operator-set feature entitlements, e.g. `BucketArchive`.
    #[serde(default)]
    pub entitlements: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub uid: String,
    pub org_id: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

impl User {
    /// The principal string policies match for this user.
    pub fn principal(&self) -> String {
        format!("coreweave/{}", self.uid)
    }
}

/// An API access token. Only the SHA-256 of the token is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub token_id: String,
    /// Lowercase hex SHA-256 of the full token string.
    pub token_hash: String,
    pub uid: String,
    pub org_id: String,
    pub description: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiry: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// A compute-node cache (`coffer cache`) the operator registered. Its credential lets it
/// ask the origin to authorize its clients' requests and fetch the objects it was
/// granted; on its own it reads nothing. Only the SHA-256 of the credential is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheNode {
    #[serde(default = "record_version")]
    pub v: u32,
    pub node_id: String,
    /// Unique; named in audit events of requests served through the node.
    pub name: String,
    /// Lowercase hex SHA-256 of the full credential string.
    pub credential_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// Stored state of an access key; `EXPIRED` is derived from the clock, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Active,
    Suspended,
    Deleted,
}

/// Wire status of an access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Expired,
    FullSuspended,
    Deleted,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "ACTIVE",
            KeyStatus::Expired => "EXPIRED",
            KeyStatus::FullSuspended => "FULL_SUSPENDED",
            KeyStatus::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeySource {
    /// Created with an API token (CreateAccessKeyFromJWT).
    ApiToken,
    /// 15-minute key from the API-token exchange (container-credentials shape).
    ApiTokenExchange,
    Saml,
    Oidc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub access_key_id: String,
    pub org_id: String,
    /// `coreweave/<uid>`, `role/<name>` or `role/<issuer>:<subject>`.
    pub principal: String,
    /// The user the key belongs to, for user-principal keys.
    pub uid: Option<String>,
    /// AES-256-GCM ciphertext of the secret (nonce || ciphertext || tag); SigV4 needs the
    /// plaintext, so it cannot be a one-way hash.
    pub secret_enc: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    /// `None` = permanent.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiry: Option<OffsetDateTime>,
    pub state: KeyState,
    pub source: KeySource,
    /// SHA-256 hex of the session token handed out with container-credentials keys.
    pub session_token_hash: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

impl KeySource {
    /// Minted by a temporary-credential exchange (SAML, OIDC, container credentials,
    /// API token): always time-limited, and removed from the store once expired (see
    /// `crate::quota`). Keys from CreateAccessKeyFromJWT stay listed as `EXPIRED`.
    pub fn is_exchange(self) -> bool {
        !matches!(self, KeySource::ApiToken)
    }
}

impl AccessKey {
    /// See [`KeySource::is_exchange`].
    pub fn is_exchange_key(&self) -> bool {
        self.source.is_exchange()
    }

    pub fn status(&self, now: OffsetDateTime) -> KeyStatus {
        match self.state {
            KeyState::Deleted => KeyStatus::Deleted,
            KeyState::Suspended => KeyStatus::FullSuspended,
            KeyState::Active => match self.expiry {
                Some(e) if e <= now => KeyStatus::Expired,
                _ => KeyStatus::Active,
            },
        }
    }
}

/// An org access policy as stored: the validated JSON document, keyed by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    pub org_id: String,
    pub name: String,
    /// The policy as JSON (`coffer_core::policy::AccessPolicy`).
    pub document: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub control_plane_audit_logging: bool,
    pub bucket_audit_logging_default: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSettings {
    /// `None` = never set: the org default applies.
    pub audit_logging: Option<bool>,
    pub capacity_cap_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub name: String,
    pub org_id: String,
    pub zone: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    pub settings: BucketSettings,
    /// Bucket policy document (AWS JSON), if any.
    pub policy: Option<String>,
    /// S3 versioning state; buckets from before versioning existed read as `Unversioned`.
    #[serde(default, skip_serializing_if = "VersioningState::is_unversioned")]
    pub versioning: VersioningState,
    /// Lifecycle configuration (PutBucketLifecycleConfiguration), validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<crate::lifecycle::LifecycleConfiguration>,
    /// CORS configuration and bucket tags (S3 subresources). Absent in records written
    /// before they existed.
    #[serde(default)]
    pub subresources: BucketSubresources,
}

/// Versioning state of a bucket. A bucket that was ever versioned never returns to
/// `Unversioned` (S3 semantics): it is `Enabled` or `Suspended`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersioningState {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

impl VersioningState {
    pub fn is_unversioned(&self) -> bool {
        *self == VersioningState::Unversioned
    }

    /// The integer stored next to the bucket row (SQLite `buckets.versioning`).
    pub fn code(self) -> i64 {
        match self {
            VersioningState::Unversioned => 0,
            VersioningState::Enabled => 1,
            VersioningState::Suspended => 2,
        }
    }

    pub fn from_code(c: i64) -> Self {
        match c {
            1 => VersioningState::Enabled,
            2 => VersioningState::Suspended,
            _ => VersioningState::Unversioned,
        }
    }
}

/// The version id S3 shows for the version written while versioning was off or
/// suspended (stored as `None`).
pub const NULL_VERSION: &str = "null";

/// A delete marker: the newest "version" of a key that was deleted in a versioned bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMarker {
    #[serde(default = "record_version")]
    pub v: u32,
    pub bucket: String,
    pub key: String,
    /// `None` = the `null` version (written while versioning was suspended).
    pub version_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
}

/// One stored version of a key: an object or a delete marker. Records move between the
/// two places of the store by value; boxing them would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectVersion {
    Object(ObjectRecord),
    DeleteMarker(DeleteMarker),
}

/// One row of a version listing (ListObjectVersions), ordered by key ascending, then
/// newest version first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSummary {
    pub key: String,
    /// `None` = the `null` version.
    pub version_id: Option<String>,
    pub is_latest: bool,
    pub delete_marker: bool,
    /// 0 for delete markers.
    pub size: u64,
    /// Empty for delete markers.
    pub etag: String,
    pub last_modified: OffsetDateTime,
}

/// S3 bucket subresources kept in the bucket record. Validated by the S3 gateway before
/// they are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSubresources {
    /// `None`: no CORS configuration (`NoSuchCORSConfiguration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<CorsRule>>,
    /// `None`: no tag set (`NoSuchTagSet`); an empty tag set is never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// S3 Object Ownership controls; `None`: deleted (the bucket then behaves as
    /// `ObjectWriter`, as on S3). Absent in records written before ACLs existed, which
    /// were `BucketOwnerEnforced` in effect, so an absent field reads as that (and that
    /// value, the default, is not written).
    #[serde(default = "enforced", skip_serializing_if = "is_enforced")]
    pub ownership: Option<crate::acl::ObjectOwnership>,
    /// The bucket ACL; `None`: `private` (the bucket owner's FULL_CONTROL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::Acl>,
    /// `None`: no Public Access Block configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<crate::acl::PublicAccessBlock>,
    /// Present: Object Lock is enabled (for good; versioning stays enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<crate::object_lock::ObjectLockConfig>,
    /// Default encryption of new objects (PutBucketEncryption); `None`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<BucketEncryption>,
}

/// A bucket's default encryption rule. Only SSE-S3 (`AES256`) can be stored: Coffer has
/// no KMS, and a rule it could not apply would be a setting that does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `AES256`.
    pub algorithm: String,
    /// `BucketKeyEnabled` as the client sent it (echoed; SSE-S3 has no bucket key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_key_enabled: Option<bool>,
}

fn enforced() -> Option<crate::acl::ObjectOwnership> {
    Some(crate::acl::ObjectOwnership::BucketOwnerEnforced)
}

fn is_enforced(o: &Option<crate::acl::ObjectOwnership>) -> bool {
    *o == enforced()
}

/// A new bucket's: no configuration, ACLs disabled (`BucketOwnerEnforced`).
impl Default for BucketSubresources {
    fn default() -> Self {
        BucketSubresources {
            cors: None,
            tags: None,
            ownership: enforced(),
            acl: None,
            public_access_block: None,
            encryption: None,
            object_lock: None,
        }
    }
}

/// One CORS rule as S3's `CORSRule`. Methods are upper case (GET, PUT, POST, DELETE, HEAD).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

/// Exact usage of a bucket: completed objects only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub objects: u64,
}

/// The two kinds of workload-identity federation (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FederationKind {
    Saml,
    Oidc,
}

impl FederationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FederationKind::Saml => "saml",
            FederationKind::Oidc => "oidc",
        }
    }
}

/// Where an OIDC issuer's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwksSource {
    /// A JSON Web Key Set (`{"keys":[…]}`), validated when the config is saved.
    Inline(serde_json::Value),
    /// A file on the server holding a JWKS, read when a token is verified (so key
    /// rotation is a file replace).
    File(String),
}

/// What an org trusts to mint temporary keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FederationSettings {
    Saml {
        idp_entity_id: String,
        /// PEM X.509 certificates; only these verify signatures (never a certificate
        /// carried inside a SAML message).
        signing_certificates: Vec<String>,
        /// Our SP entity id, required in the assertion's AudienceRestriction.
        audience: String,
        /// When set, Destination/Recipient must equal it.
        acs_url: Option<String>,
    },
    Oidc {
        issuer_url: String,
        audience: String,
        jwks: JwksSource,
    },
}

/// A federation config of one org. `config_id` is unique across orgs and kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationConfig {
    #[serde(default = "record_version")]
    pub v: u32,
    pub config_id: String,
    pub org_id: String,
    pub name: String,
    /// Inactive configs are kept but never used to verify anything.
    pub active: bool,
    pub settings: FederationSettings,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

impl FederationConfig {
    pub fn kind(&self) -> FederationKind {
        match self.settings {
            FederationSettings::Saml { .. } => FederationKind::Saml,
            FederationSettings::Oidc { .. } => FederationKind::Oidc,
        }
    }
}

/// Standard HTTP headers stored with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// Kept verbatim as the client sent it.
    pub expires: Option<String>,
}

/// Checksums of an object (base64 of the big-endian digest, as S3 sends them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    /// `FULL_OBJECT` or `COMPOSITE` (multipart).
    pub checksum_type: Option<String>,
}

/// One contiguous piece of an object's bytes stored in a blob file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub blob_id: String,
    /// Plaintext bytes.
    pub size: u64,
    /// Present: the blob holds sealed blocks (`crate::sse`) under the key this salt
    /// (hex) derives from the version's data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_salt: Option<String>,
}

impl Segment {
    /// Data bytes of the blob (what its integrity trailer covers).
    pub fn stored_len(&self) -> u64 {
        stored_len(self.size, self.key_salt.is_some())
    }
}

/// Stored bytes of `size` plaintext bytes, sealed or not.
pub fn stored_len(size: u64, sealed: bool) -> u64 {
    if sealed {
        crate::sse::sealed_len(size)
    } else {
        size
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectData {
    /// Small objects live in the metadata database: one WAL fsync covers many of them.
    Inline(#[serde(with = "serde_bytes_b64")] Vec<u8>),
    /// Larger objects, and multipart objects (one segment per part, in order).
    Segments(Vec<Segment>),
}

impl ObjectData {
    pub fn blob_ids(&self) -> impl Iterator<Item = &str> {
        let segs: &[Segment] = match self {
            ObjectData::Inline(_) => &[],
            ObjectData::Segments(s) => s,
        };
        segs.iter().map(|s| s.blob_id.as_str())
    }
}

/// Part boundaries of a multipart object, for `partNumber` GETs and part-level checksums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectPart {
    pub part_number: u32,
    pub size: u64,
    pub etag: String,
    pub checksums: Checksums,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    #[serde(default = "record_version")]
    pub v: u32,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Quoted ETag as S3 returns it, e.g. `"9e107d9d372bb6826bd81d3542a419d6"` or `"…-3"`.
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    pub headers: ObjectHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub checksums: Checksums,
    /// Empty for single-part objects.
    pub parts: Vec<ObjectPart>,
    pub tags: BTreeMap<String, String>,
    pub data: ObjectData,
    /// Version id; `None` = the `null` version (unversioned or suspended bucket). Absent
    /// in documents written before versioning existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// CRC32C of the inline bytes (`ObjectData::Inline`), set when the object is
    /// committed; `None` for blob data (blobs carry their own trailer) and for inline
    /// objects written before integrity records existed (read unverified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_crc32c: Option<u32>,
    /// The multipart upload this object was completed from (`None` for every other
    /// write): a repeated CompleteMultipartUpload of the same upload and parts answers
    /// this object again instead of `NoSuchUpload`, so a client retrying a complete whose
    /// answer it lost succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// The owner org when it is not the bucket's (a writer from another org under
    /// `ObjectWriter` or `BucketOwnerPreferred`); `None`: the bucket owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_org: Option<String>,
    /// The object ACL; `None`: `private` (the owner's FULL_CONTROL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::Acl>,
    /// Object Lock retention of this version (`crate::object_lock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::object_lock::Retention>,
    /// Object Lock legal hold of this version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
    /// Server-side encryption of the data (`crate::sse`); `None`: stored in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::sse::Encryption>,
}

impl ObjectRecord {
    /// The version's Object Lock state.
    pub fn lock_state(&self) -> crate::object_lock::LockState {
        crate::object_lock::LockState {
            retention: self.retention,
            legal_hold: self.legal_hold,
        }
    }
}

/// What listings return: no data, no metadata maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartUpload {
    #[serde(default = "record_version")]
    pub v: u32,
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub initiated: OffsetDateTime,
    /// Principal that initiated the upload (Initiator/Owner in listings).
    pub initiator: String,
    pub headers: ObjectHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Checksum algorithm requested at creation (`CRC32`, `SHA256`, …).
    pub checksum_algorithm: Option<String>,
    pub checksum_type: Option<String>,
    /// Object Lock retention asked for at creation, given to the completed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::object_lock::Retention>,
    /// Object Lock legal hold asked for at creation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
    /// The completed version's owner org when not the bucket's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_org: Option<String>,
    /// The completed version's ACL; `None`: `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::Acl>,
    /// The completed version's encryption, fixed at creation: every part is sealed
    /// under its data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::sse::Encryption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub upload_id: String,
    pub part_number: u32,
    pub size: u64,
    /// Quoted MD5 ETag.
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    pub checksums: Checksums,
    pub blob_id: String,
    /// The part's segment salt when the upload is encrypted (`Segment::key_salt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_salt: Option<String>,
}

/// Write precondition evaluated atomically with the metadata commit (and checked once
/// before the body is read, so a doomed write spends nothing).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    #[default]
    None,
    /// `If-None-Match: *`: the key must not exist.
    IfNoneMatch,
    /// `If-None-Match: <etag>`: the current object, if any, must not have this ETag. S3
    /// accepts only `*` here; the ETag form is RGW's, a superset that refuses nothing S3
    /// would accept.
    IfNoneMatchEtag(String),
    /// `If-Match: <etag>` (or `*`: any current object): the current object's ETag must
    /// equal this.
    IfMatch(String),
}

impl WriteCondition {
    /// Evaluates the condition against the current object's ETag (`None` when the key has
    /// no current object). As S3: `If-Match` on a missing key is `NoSuchKey` (404); every
    /// other failure is `PreconditionFailed` (412). The one home of this rule: the object
    /// service's pre-check and every store's commit call it.
    pub fn check(&self, current_etag: Option<&str>) -> crate::Result<()> {
        use crate::checksum::etag_list_matches;
        use crate::error::Error;
        match (self, current_etag) {
            (WriteCondition::None, _)
            | (WriteCondition::IfNoneMatch, None)
            | (WriteCondition::IfNoneMatchEtag(_), None) => Ok(()),
            (WriteCondition::IfNoneMatch, Some(_)) => Err(Error::PreconditionFailed),
            // RFC 9110: If-None-Match compares weakly, If-Match strongly; either may be a
            // list, and any member decides.
            (WriteCondition::IfNoneMatchEtag(list), Some(have))
                if etag_list_matches(list, have, true) =>
            {
                Err(Error::PreconditionFailed)
            }
            (WriteCondition::IfNoneMatchEtag(_), Some(_)) => Ok(()),
            (WriteCondition::IfMatch(_), None) => Err(Error::NoSuchKey),
            (WriteCondition::IfMatch(list), Some(have)) => {
                if etag_list_matches(list, have, false) {
                    Ok(())
                } else {
                    Err(Error::PreconditionFailed)
                }
            }
        }
    }
}

/// The conditions of a RenameObject, evaluated by the store atomically with the rename.
/// Every failed condition is `PreconditionFailed` (412), like S3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenameConditions {
    /// On the destination: `If-Match` / `If-None-Match: *`.
    pub dest: WriteCondition,
    /// `x-amz-rename-source-if-match`: the source's ETag (or `*`).
    pub source_if_match: Option<String>,
    /// `x-amz-rename-source-if-none-match`: fails when the source's ETag matches (or `*`).
    pub source_if_none_match: Option<String>,
    /// `x-amz-rename-source-if-modified-since`.
    pub source_if_modified_since: Option<OffsetDateTime>,
    /// `x-amz-rename-source-if-unmodified-since`.
    pub source_if_unmodified_since: Option<OffsetDateTime>,
}

impl RenameConditions {
    /// Checks the source conditions against the source's ETag and last-modified time
    /// (compared at whole seconds, the precision of HTTP dates).
    pub fn check_source(&self, etag: &str, last_modified: OffsetDateTime) -> crate::Result<()> {
        let matches = |want: &str| {
            let want = want.trim();
            want == "*" || crate::checksum::etags_match(want, etag)
        };
        let secs = last_modified.unix_timestamp();
        let ok = self.source_if_match.as_deref().is_none_or(matches)
            && !self.source_if_none_match.as_deref().is_some_and(matches)
            && self
                .source_if_modified_since
                .is_none_or(|t| secs > t.unix_timestamp())
            && self
                .source_if_unmodified_since
                .is_none_or(|t| secs <= t.unix_timestamp());
        if ok {
            Ok(())
        } else {
            Err(crate::Error::PreconditionFailed)
        }
    }
}

/// Inline bytes as base64 inside JSON documents.
mod serde_bytes_b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_documents_before_acls_read_as_enforced() {
        use crate::acl::ObjectOwnership;
        // A subresources document as written before ownership, ACLs and PAB existed.
        let old: BucketSubresources = serde_json::from_str(r#"{"tags":{"a":"b"}}"#).unwrap();
        assert_eq!(old.ownership, Some(ObjectOwnership::BucketOwnerEnforced));
        assert_eq!(old.acl, None);
        assert_eq!(old.public_access_block, None);
        assert_eq!(
            serde_json::from_str::<BucketSubresources>("{}").unwrap(),
            BucketSubresources::default()
        );
        // The default is not written; deleted controls are, and read back as deleted.
        assert_eq!(
            serde_json::to_string(&BucketSubresources::default()).unwrap(),
            "{}"
        );
        let deleted = BucketSubresources {
            ownership: None,
            ..Default::default()
        };
        let j = serde_json::to_string(&deleted).unwrap();
        assert_eq!(
            serde_json::from_str::<BucketSubresources>(&j)
                .unwrap()
                .ownership,
            None
        );
        let writer = BucketSubresources {
            ownership: Some(ObjectOwnership::ObjectWriter),
            ..Default::default()
        };
        let j = serde_json::to_string(&writer).unwrap();
        assert_eq!(
            serde_json::from_str::<BucketSubresources>(&j).unwrap(),
            writer
        );
    }

    #[test]
    fn write_conditions() {
        use crate::error::Error;
        let e = Some("\"abc\"");
        let c = |w: WriteCondition, e: Option<&str>| w.check(e);
        assert_eq!(c(WriteCondition::None, e), Ok(()));
        assert_eq!(c(WriteCondition::None, None), Ok(()));
        assert_eq!(c(WriteCondition::IfNoneMatch, None), Ok(()));
        assert_eq!(
            c(WriteCondition::IfNoneMatch, e),
            Err(Error::PreconditionFailed)
        );
        let inm = |t: &str| WriteCondition::IfNoneMatchEtag(t.into());
        assert_eq!(c(inm("\"abc\""), e), Err(Error::PreconditionFailed));
        assert_eq!(c(inm("abc"), e), Err(Error::PreconditionFailed));
        assert_eq!(c(inm("\"abd\""), e), Ok(()));
        assert_eq!(c(inm("\"abc\""), None), Ok(()));
        let im = |t: &str| WriteCondition::IfMatch(t.into());
        assert_eq!(c(im("\"abc\""), e), Ok(()));
        assert_eq!(c(im("abc"), e), Ok(()));
        assert_eq!(c(im("*"), e), Ok(()));
        assert_eq!(c(im("\"abd\""), e), Err(Error::PreconditionFailed));
        assert_eq!(c(im("\"abc\""), None), Err(Error::NoSuchKey));
        assert_eq!(c(im("*"), None), Err(Error::NoSuchKey));
        // Lists: any member decides; If-Match never matches a weak tag.
        assert_eq!(c(inm("\"x\", \"abc\""), e), Err(Error::PreconditionFailed));
        assert_eq!(c(im("\"x\", \"abc\""), e), Ok(()));
        assert_eq!(c(im("W/\"abc\""), e), Err(Error::PreconditionFailed));
        assert_eq!(c(inm("W/\"abc\""), e), Err(Error::PreconditionFailed));
    }

    #[test]
    fn inline_data_round_trips() {
        for n in 0..10 {
            let d = ObjectData::Inline((0..n).map(|i| (i * 37) as u8).collect());
            let j = serde_json::to_string(&d).unwrap();
            assert_eq!(serde_json::from_str::<ObjectData>(&j).unwrap(), d);
        }
    }
}
