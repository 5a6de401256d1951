//! Wire types of the management API: `/v1/cwobject` (SPEC §2) and the `/v1/iam`
//! identity extension (SPEC §1), shared by the server and the `coffer` CLI.
//!
//! Conventions (proto3 JSON, SPEC §2):
//! * fields are lowerCamelCase; timestamps are RFC 3339 UTC strings;
//! * 64-bit integers are emitted as strings where the spec says so, and every integer
//!   field accepts both a JSON number and a decimal string on input ([`int64`]);
//! * absent optional fields are omitted; unknown request fields are ignored (no type
//!   here uses `deny_unknown_fields`);
//! * request types default every field, so a missing required field reaches the server's
//!   validation and becomes an `InvalidArgument` naming the field, not a serde message.
//!
//! Types are named after the RPC (`CreateAccessKeyFromJwtRequest`). This crate depends on
//! serde only: no domain logic lives here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod int64;

// ---------------------------------------------------------------------------------------
// Errors

/// gRPC status codes used by the management API (SPEC §2 "Errors").
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const ABORTED: i32 = 10;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// Body of every error response: `{"code":3,"message":"…","details":[]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: i32,
    pub message: String,
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
}

/// The Connect protocol's unary error body, served on the `/cwobject.v1.CWObject/<Rpc>`
/// routes: `{"code":"not_found","message":"…"}` (see [`connect`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectErrorBody {
    /// A Connect code name ([`connect::code_name`]).
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<serde_json::Value>,
}

/// The Connect protocol (<https://connectrpc.com/docs/protocol>): every `/v1/cwobject`
/// RPC is also served as a unary procedure at `POST /cwobject.v1.CWObject/<Rpc>` with a
/// JSON body (path and query parameters of the REST route become body fields).
pub mod connect {
    /// Fully qualified service name.
    pub const SERVICE: &str = "cwobject.v1.CWObject";
    /// Path prefix of every procedure.
    pub const PATH_PREFIX: &str = "/cwobject.v1.CWObject/";
    /// The only accepted request codec.
    pub const CONTENT_TYPE: &str = "application/json";
    /// Optional request header; when sent it must be `1`.
    pub const PROTOCOL_VERSION_HEADER: &str = "connect-protocol-version";

    /// Connect code name of a gRPC status code (`unknown` for codes outside 1..=16).
    pub fn code_name(code: i32) -> &'static str {
        match code {
            1 => "canceled",
            3 => "invalid_argument",
            4 => "deadline_exceeded",
            5 => "not_found",
            6 => "already_exists",
            7 => "permission_denied",
            8 => "resource_exhausted",
            9 => "failed_precondition",
            10 => "aborted",
            11 => "out_of_range",
            12 => "unimplemented",
            13 => "internal",
            14 => "unavailable",
            15 => "data_loss",
            16 => "unauthenticated",
            _ => "unknown",
        }
    }

    /// The HTTP status Connect assigns to a code name (the protocol's error-code table).
    pub fn http_status(code_name: &str) -> u16 {
        match code_name {
            "canceled" => 499,
            "invalid_argument" | "failed_precondition" | "out_of_range" => 400,
            "deadline_exceeded" => 504,
            "not_found" => 404,
            "already_exists" | "aborted" => 409,
            "permission_denied" => 403,
            "resource_exhausted" => 429,
            "unimplemented" => 501,
            "unavailable" => 503,
            "unauthenticated" => 401,
            // internal, data_loss, unknown and anything else.
            _ => 500,
        }
    }
}

/// `{}`: the response of every RPC that returns nothing, and the value of
/// `clearCapacityCap`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Expiry reported for permanent keys (SPEC §2).
pub const PERMANENT_EXPIRY: &str = "1970-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------
// Access keys

/// `POST /v1/cwobject/access-key`. `durationSeconds` is required (0 = permanent,
/// otherwise 1..=43200); `None` means the field was absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateAccessKeyFromJwtRequest {
    #[serde(with = "int64::opt_i64", skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// A newly created access key with its secret (shown only here). Serialized with both
/// `accessKeyID` (the reference's spelling) and `accessKeyId` (what current clients
/// read); on input either spelling is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "CredentialsWire", try_from = "CredentialsWire")]
pub struct CreateAccessKeyFromJwtResponse {
    pub access_key_id: String,
    pub secret_key: String,
    pub principal_name: String,
    /// RFC 3339; [`PERMANENT_EXPIRY`] for permanent keys.
    pub expiry: String,
    pub attributes: BTreeMap<String, String>,
}

/// `CreateAccessKeyFromSAML` answers like `CreateAccessKeyFromJWT`.
pub type CreateAccessKeyFromSamlResponse = CreateAccessKeyFromJwtResponse;
/// `CreateAccessKeyFromOIDC` answers like `CreateAccessKeyFromJWT`.
pub type CreateAccessKeyFromOidcResponse = CreateAccessKeyFromJwtResponse;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsWire {
    #[serde(
        rename = "accessKeyID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    access_key_id_upper: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    secret_key: String,
    principal_name: String,
    expiry: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

impl From<CreateAccessKeyFromJwtResponse> for CredentialsWire {
    fn from(r: CreateAccessKeyFromJwtResponse) -> Self {
        CredentialsWire {
            access_key_id_upper: Some(r.access_key_id.clone()),
            access_key_id: Some(r.access_key_id),
            secret_key: r.secret_key,
            principal_name: r.principal_name,
            expiry: r.expiry,
            attributes: r.attributes,
        }
    }
}

impl TryFrom<CredentialsWire> for CreateAccessKeyFromJwtResponse {
    type Error = String;
    fn try_from(w: CredentialsWire) -> Result<Self, String> {
        let access_key_id = w
            .access_key_id
            .or(w.access_key_id_upper)
            .ok_or("missing field `accessKeyId`")?;
        Ok(CreateAccessKeyFromJwtResponse {
            access_key_id,
            secret_key: w.secret_key,
            principal_name: w.principal_name,
            expiry: w.expiry,
            attributes: w.attributes,
        })
    }
}

/// `POST /v1/cwobject/temporary-credentials/saml`. `durationSeconds` 0 = the default 900 s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateAccessKeyFromSamlRequest {
    #[serde(with = "int64::opt_i64", skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    pub org_id: String,
    pub config_id: String,
    /// Base64 of the SAML Response XML.
    pub saml_response: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `POST /v1/cwobject/temporary-credentials/oidc`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateAccessKeyFromOidcRequest {
    #[serde(with = "int64::opt_i64", skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    pub org_id: String,
    pub oidc_token: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// AWS container-credentials shape (PascalCase on purpose) returned by
/// `GET /v1/cwobject/temporary-credentials/oidc/{orgId}` and
/// `GET /v1/cwobject/temporary-credentials/api-token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub token: String,
    /// RFC 3339.
    pub expiration: String,
}

pub type CreateAccessKeyFromContainerCredsResponse = ContainerCredentials;
pub type CreateAccessKeyFromApiTokenResponse = ContainerCredentials;

/// Connect request of CreateAccessKeyFromContainerCreds (REST: the `{orgId}` path
/// parameter; the raw OIDC JWT travels in `Authorization` either way).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateAccessKeyFromContainerCredsRequest {
    pub org_id: String,
}
/// Connect request of CreateAccessKeyFromApiToken.
pub type CreateAccessKeyFromApiTokenRequest = Empty;

/// Status values of [`AccessKeyInfo::status`].
pub mod key_status {
    pub const ACTIVE: &str = "ACTIVE";
    pub const EXPIRED: &str = "EXPIRED";
    pub const FULL_SUSPENDED: &str = "FULL_SUSPENDED";
    pub const DELETED: &str = "DELETED";
}

/// Values of the `status` filter of ListAccessKeyInfo and of UpdateAccessKeyStatus (the
/// short forms `ACTIVE` / `SUSPENDED` are accepted too).
pub const ACCESS_KEY_STATUS_ACTIVE: &str = "ACCESS_KEY_STATUS_ACTIVE";
pub const ACCESS_KEY_STATUS_SUSPENDED: &str = "ACCESS_KEY_STATUS_SUSPENDED";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    /// One of [`key_status`].
    pub status: String,
    pub principal_name: String,
    pub attributes: BTreeMap<String, String>,
    /// RFC 3339; [`PERMANENT_EXPIRY`] for permanent keys.
    pub expiry: String,
    pub org_id: String,
}

/// Query of `GET /v1/cwobject/access-key?offset=&limit=&status=`; the Connect request
/// of ListAccessKeyInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListAccessKeyInfoRequest {
    #[serde(with = "int64::opt_u64", skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// 1..=1000, default 100.
    #[serde(with = "int64::opt_u64", skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Keys in creation order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListAccessKeyInfoResponse {
    pub info: Vec<AccessKeyInfo>,
}

/// Connect request of GetAccessKeyInfo (REST: the `{accessKeyId}` path parameter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetAccessKeyInfoRequest {
    pub access_key_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetAccessKeyInfoResponse {
    pub info: AccessKeyInfo,
}

/// `PUT /v1/cwobject/access-key-status`: applies to every key of the principal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateAccessKeyStatusRequest {
    pub principal_name: String,
    /// `ACCESS_KEY_STATUS_ACTIVE` or `ACCESS_KEY_STATUS_SUSPENDED` (or the short forms).
    pub status: String,
}
pub type UpdateAccessKeyStatusResponse = Empty;

/// `POST /v1/cwobject/revoke-access-key/access-key`: `{"accessKey":"CW…"}`; the alias
/// `accessKeyId` is accepted on input (when both are sent, `accessKey` wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RevokeByKeyWire")]
pub struct RevokeAccessKeyByAccessKeyRequest {
    #[serde(rename = "accessKey")]
    pub access_key: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RevokeByKeyWire {
    access_key: Option<String>,
    access_key_id: Option<String>,
}

impl From<RevokeByKeyWire> for RevokeAccessKeyByAccessKeyRequest {
    fn from(w: RevokeByKeyWire) -> Self {
        RevokeAccessKeyByAccessKeyRequest {
            access_key: w
                .access_key
                .filter(|k| !k.is_empty())
                .or(w.access_key_id)
                .unwrap_or_default(),
        }
    }
}
pub type RevokeAccessKeyByAccessKeyResponse = Empty;

/// `POST /v1/cwobject/revoke-access-key/principal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RevokeAccessKeysByPrincipalRequest {
    pub principal_name: String,
}
pub type RevokeAccessKeysByPrincipalResponse = Empty;

// ---------------------------------------------------------------------------------------
// Access policies

/// An org access policy on the wire. Every field defaults on input and `effect` is a
/// plain string, so that an invalid policy is rejected by validation with a message
/// naming the statement rather than by serde.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessPolicy {
    pub version: String,
    pub name: String,
    pub statements: Vec<AccessPolicyStatement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessPolicyStatement {
    pub name: String,
    /// Exactly `Allow` or `Deny`.
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub principals: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListAccessPoliciesResponse {
    pub policies: Vec<AccessPolicy>,
}

/// `POST /v1/cwobject/access-policy`: upsert by name (replaces the whole policy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnsureAccessPolicyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<AccessPolicy>,
}
pub type EnsureAccessPolicyResponse = Empty;
/// Connect request of ListAccessPolicies.
pub type ListAccessPoliciesRequest = Empty;

/// Connect request of DeleteAccessPolicy (REST: the `{name}` path parameter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeleteAccessPolicyRequest {
    pub name: String,
}
pub type DeleteAccessPolicyResponse = Empty;

// ---------------------------------------------------------------------------------------
// AuthCanI

/// `POST /v1/cwobject/auth/can-i`. `resources` defaults to `["*"]` when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthCanIRequest {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// `verdict` is true only if every action is allowed on every resource. `decisions`
/// (extension) explains each (action, resource) pair, actions outer, resources inner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthCanIResponse {
    pub verdict: bool,
    pub decisions: Vec<AuthDecision>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthDecision {
    pub action: String,
    pub resource: String,
    pub allowed: bool,
    pub decided_by: DecidedBy,
}

/// `policy` and `statement` are present only when the deciding layer is the caller's
/// own org's: another org's layer (its bucket's policy, its org `Deny`s) is named by
/// `layer` alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DecidedBy {
    /// `org`, `bucket` or `default`.
    pub layer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Buckets

/// Bucket settings: a partial update in requests (absent = unchanged), the effective
/// settings in responses (`auditLoggingEnabled` always present, `capacityCapBytes` when
/// a cap is set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BucketSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_logging_enabled: Option<bool>,
    /// u64 as a decimal string.
    #[serde(
        with = "int64::opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub capacity_cap_bytes: Option<u64>,
    /// `{}` removes the cap (request only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clear_capacity_cap: Option<Empty>,
    /// Requires the `BucketArchive` entitlement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_enabled: Option<bool>,
    /// Requires the `BucketArchive` entitlement.
    #[serde(with = "int64::opt_i64", skip_serializing_if = "Option::is_none")]
    pub archive_after_last_access_days: Option<i64>,
}

/// `PUT /v1/cwobject/bucket/settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetBucketSettingsRequest {
    pub bucket_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<BucketSettings>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetBucketSettingsResponse {
    pub settings: BucketSettings,
}

/// Values of [`BucketUsage::measurement_type`].
pub mod measurement {
    pub const STORAGE_BYTES: &str = "STORAGE_BYTES";
    pub const OBJECT_COUNT: &str = "OBJECT_COUNT";
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BucketUsage {
    pub measurement_type: String,
    /// Exact value, u64 as a decimal string.
    pub value: String,
    /// e.g. `1.0 MiB`, `3`.
    pub value_human_readable: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BucketInfo {
    pub org_id: String,
    pub name: String,
    pub creation_time: String,
    pub settings: BucketSettings,
    /// The bucket's zone.
    pub location: String,
    pub usage: Vec<BucketUsage>,
}

/// Query of `GET /v1/cwobject/bucket-info?offset=&limit=`; the Connect request of
/// ListBucketInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListBucketInfoRequest {
    #[serde(with = "int64::opt_u64", skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// 1..=1000, default 100.
    #[serde(with = "int64::opt_u64", skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListBucketInfoResponse {
    pub info: Vec<BucketInfo>,
}

/// Connect request of GetBucketInfo (REST: the `{bucketName}` path parameter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetBucketInfoRequest {
    pub bucket_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetBucketInfoResponse {
    pub info: BucketInfo,
}

// ---------------------------------------------------------------------------------------
// Organization settings

/// Partial update in requests; both fields present in responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrganizationSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane_audit_logging_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_audit_logging_enabled: Option<bool>,
}

/// `PUT /v1/cwobject/organization/settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetOrganizationSettingsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<OrganizationSettings>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetOrganizationSettingsResponse {
    pub settings: OrganizationSettings,
}

/// `GET /v1/cwobject/organization/settings` (extension) answers like the PUT.
pub type GetOrganizationSettingsResponse = SetOrganizationSettingsResponse;
/// Connect request of GetOrganizationSettings.
pub type GetOrganizationSettingsRequest = Empty;

// ---------------------------------------------------------------------------------------
// /v1/iam identity extension

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrgInfo {
    pub org_id: String,
    pub name: String,
    pub created_time: String,
    /// Operator-set feature entitlements (e.g. `BucketArchive`); omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
}

/// `POST /v1/iam/orgs` (operator only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateOrgRequest {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateOrgResponse {
    pub org: OrgInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListOrgsResponse {
    pub orgs: Vec<OrgInfo>,
}

/// Values of [`UserInfo::role`].
pub mod role {
    pub const ADMIN: &str = "admin";
    pub const MEMBER: &str = "member";
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserInfo {
    pub uid: String,
    pub name: String,
    pub role: String,
    pub org_id: String,
    pub created_time: String,
}

/// `POST /v1/iam/users`. `role` defaults to `member`; `orgId` is required with the
/// operator token and must be the caller's own org (or absent) for an org admin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateUserRequest {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateUserResponse {
    pub user: UserInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListUsersResponse {
    pub users: Vec<UserInfo>,
}

pub type DeleteUserResponse = Empty;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenInfo {
    pub token_id: String,
    pub uid: String,
    pub description: String,
    /// RFC 3339; omitted for tokens without expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    pub created_time: String,
}

/// `POST /v1/iam/tokens`. `uid` defaults to the calling admin; `durationSeconds` 0 or
/// absent = no expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateTokenRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(with = "int64::opt_i64", skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    pub description: String,
}

/// The token is shown only here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateTokenResponse {
    pub token: String,
    pub info: TokenInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListTokensResponse {
    pub tokens: Vec<TokenInfo>,
}

pub type DeleteTokenResponse = Empty;

/// A compute-node cache registered by the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CacheNodeInfo {
    pub node_id: String,
    pub name: String,
    pub created_time: String,
}

/// `POST /v1/iam/cache-nodes` (operator only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateCacheNodeRequest {
    pub name: String,
}

/// The credential is shown only here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateCacheNodeResponse {
    pub credential: String,
    pub node: CacheNodeInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListCacheNodesResponse {
    pub nodes: Vec<CacheNodeInfo>,
}

/// `GET /v1/iam/whoami`. For the operator token: principal and role `operator`, no uid
/// or orgId.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WhoAmIResponse {
    pub principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub role: String,
}

// ---------------------------------------------------------------------------------------
// /v1/iam/federation: workload identity federation configs (SPEC §5)

/// A SAML config as returned by `/v1/iam/federation/saml-configs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SamlConfigInfo {
    pub config_id: String,
    pub org_id: String,
    pub name: String,
    pub idp_entity_id: String,
    /// PEM X.509 certificates that may sign responses/assertions.
    pub signing_certificates: Vec<String>,
    /// Our SP entity id (the assertion's Audience).
    pub audience: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acs_url: Option<String>,
    pub active: bool,
    pub created_time: String,
    pub updated_time: String,
}

/// `POST /v1/iam/federation/saml-configs` (create: `name`, `idpEntityId`,
/// `signingCertificates`, `audience` required, `active` defaults to true) and
/// `PUT …/{configId}` (partial update: absent fields stay; `acsUrl: ""` clears it).
/// `orgId`: required with the operator token; an org admin may omit it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateSamlConfigRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_certificates: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acs_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}
pub type UpdateSamlConfigRequest = CreateSamlConfigRequest;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SamlConfigResponse {
    pub config: SamlConfigInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListSamlConfigsResponse {
    pub configs: Vec<SamlConfigInfo>,
}

/// An OIDC config as returned by `/v1/iam/federation/oidc-configs`: exactly one of
/// `jwks` (a JSON Web Key Set, `{"keys":[…]}`) and `jwksFile` (a path on the server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OidcConfigInfo {
    pub config_id: String,
    pub org_id: String,
    pub name: String,
    pub issuer_url: String,
    pub audience: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<String>,
    pub active: bool,
    pub created_time: String,
    pub updated_time: String,
}

/// `POST /v1/iam/federation/oidc-configs` (create: `name`, `issuerUrl`, `audience` and
/// one of `jwks` / `jwksFile` required, `active` defaults to true) and
/// `PUT …/{configId}` (partial update; sending `jwks` or `jwksFile` replaces the key
/// source). `jwksFile` is accepted from the operator token only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateOidcConfigRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}
pub type UpdateOidcConfigRequest = CreateOidcConfigRequest;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OidcConfigResponse {
    pub config: OidcConfigInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListOidcConfigsResponse {
    pub configs: Vec<OidcConfigInfo>,
}

pub type DeleteFederationConfigResponse = Empty;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_emit_both_key_id_spellings() {
        let r = CreateAccessKeyFromJwtResponse {
            access_key_id: "CWABCDEFGHIJKLMN".into(),
            secret_key: "cwo1".into(),
            principal_name: "coreweave/u".into(),
            expiry: PERMANENT_EXPIRY.into(),
            attributes: BTreeMap::new(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"accessKeyID":"CWABCDEFGHIJKLMN","accessKeyId":"CWABCDEFGHIJKLMN",
                   "secretKey":"cwo1","principalName":"coreweave/u",
                   "expiry":"1970-01-01T00:00:00Z","attributes":{}})
        );
        assert_eq!(
            serde_json::from_value::<CreateAccessKeyFromJwtResponse>(v).unwrap(),
            r
        );
        // The reference's example (one spelling, no attributes) parses.
        let reference = json!({"accessKeyID":"CWABCDEFGHIJKLMN","expiry":"1970-01-15T01:01:01Z",
            "principalName":"coreweave/ueqXfgRCYGqptEXAMPLE1",
            "secretKey":"cwo1234567890abcdefghijklmnopqrstuvwxyz1234"});
        let parsed: CreateAccessKeyFromJwtResponse = serde_json::from_value(reference).unwrap();
        assert_eq!(parsed.access_key_id, "CWABCDEFGHIJKLMN");
    }

    #[test]
    fn duration_accepts_number_and_string_and_absence() {
        let p = |s: &str| serde_json::from_str::<CreateAccessKeyFromJwtRequest>(s);
        assert_eq!(
            p(r#"{"durationSeconds": 0}"#).unwrap().duration_seconds,
            Some(0)
        );
        assert_eq!(
            p(r#"{"durationSeconds": "300"}"#).unwrap().duration_seconds,
            Some(300)
        );
        assert_eq!(p(r#"{"other": 1}"#).unwrap().duration_seconds, None);
        assert_eq!(
            p(r#"{"durationSeconds": null}"#).unwrap().duration_seconds,
            None
        );
        assert!(p(r#"{"durationSeconds": "x"}"#).is_err());
        assert!(p(r#"{"durationSeconds": 1.5}"#).is_err());
        assert!(p(r#"{"durationSeconds": true}"#).is_err());
    }

    #[test]
    fn revoke_accepts_alias() {
        let p = |s: &str| {
            serde_json::from_str::<RevokeAccessKeyByAccessKeyRequest>(s)
                .unwrap()
                .access_key
        };
        assert_eq!(p(r#"{"accessKey":"A"}"#), "A");
        assert_eq!(p(r#"{"accessKeyId":"B"}"#), "B");
        assert_eq!(p(r#"{"accessKey":"A","accessKeyId":"B"}"#), "A");
        assert_eq!(p(r#"{}"#), "");
    }

    #[test]
    fn bucket_settings_cap_is_a_string() {
        let s = BucketSettings {
            audit_logging_enabled: Some(true),
            capacity_cap_bytes: Some(u64::MAX),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"auditLoggingEnabled":true,"capacityCapBytes":"18446744073709551615"})
        );
        let r: SetBucketSettingsRequest = serde_json::from_str(
            r#"{"bucketName":"b","settings":{"capacityCapBytes":"10","clearCapacityCap":{}}}"#,
        )
        .unwrap();
        let st = r.settings.unwrap();
        assert_eq!(st.capacity_cap_bytes, Some(10));
        assert_eq!(st.clear_capacity_cap, Some(Empty {}));
        assert!(serde_json::from_str::<BucketSettings>(r#"{"capacityCapBytes":"-1"}"#).is_err());
    }

    #[test]
    fn connect_codes() {
        assert_eq!(connect::code_name(code::NOT_FOUND), "not_found");
        assert_eq!(connect::code_name(0), "unknown");
        assert_eq!(connect::code_name(99), "unknown");
        for (c, status) in [
            (code::INVALID_ARGUMENT, 400),
            (code::UNAUTHENTICATED, 401),
            (code::PERMISSION_DENIED, 403),
            (code::NOT_FOUND, 404),
            (code::ALREADY_EXISTS, 409),
            (code::RESOURCE_EXHAUSTED, 429),
            (code::FAILED_PRECONDITION, 400),
            (code::INTERNAL, 500),
            (code::UNIMPLEMENTED, 501),
            (code::UNAVAILABLE, 503),
            (code::ABORTED, 409),
        ] {
            assert_eq!(connect::http_status(connect::code_name(c)), status, "{c}");
        }
        let e = ConnectErrorBody {
            code: "not_found".into(),
            message: "m".into(),
            details: vec![],
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"code":"not_found","message":"m"})
        );
    }

    #[test]
    fn list_paging_accepts_strings() {
        let r: ListAccessKeyInfoRequest =
            serde_json::from_str(r#"{"offset":"5","limit":10,"status":"ACTIVE"}"#).unwrap();
        assert_eq!((r.offset, r.limit), (Some(5), Some(10)));
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"offset":5,"limit":10,"status":"ACTIVE"})
        );
    }

    #[test]
    fn error_body_shape() {
        let e = ErrorBody {
            code: code::NOT_FOUND,
            message: "m".into(),
            details: vec![],
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"code":5,"message":"m","details":[]})
        );
    }
}
