//! The route table: every endpoint of the management API, once. The router
//! ([`crate::router`]), the Connect dispatcher ([`crate::connect`]) and the OpenAPI
//! document ([`crate::openapi`]) are all derived from [`ROUTES`], so a route cannot be
//! served without being documented (the committed `docs/openapi.json` then differs from
//! the served one and the drift test fails until it is regenerated).
//!
//! Invariants (checked by the tests below): `(verb, path)` pairs and RPC names are
//! unique; the `{name}` segments of a path are exactly its `Path` params; Connect is
//! offered for the `/v1/cwobject` routes and nothing else.

use crate::AppState;
use crate::{buckets, federation, health, iam, keys, openapi, org, policies};
use axum::routing::{MethodFilter, MethodRouter, on};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
    pub fn method(self) -> http::Method {
        match self {
            Verb::Get => http::Method::GET,
            Verb::Post => http::Method::POST,
            Verb::Put => http::Method::PUT,
            Verb::Delete => http::Method::DELETE,
        }
    }
    /// Whether the REST route reads a JSON request body.
    pub fn has_body(self) -> bool {
        matches!(self, Verb::Post | Verb::Put)
    }
}

/// How a route authenticates (documented as OpenAPI security requirements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <API token>`.
    Bearer,
    /// No credentials.
    Anonymous,
    /// `Authorization: <raw OIDC JWT>` (no `Bearer`), the container-credentials exchange.
    RawJwt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    Path,
    Query,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    /// A non-negative integer (decimal digits).
    UInt,
}

/// A path or query parameter. In a Connect request it is a body field of the same name.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub at: ParamIn,
    pub ty: ParamType,
    pub description: &'static str,
}

/// A successful response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `application/json` with this component schema.
    Json(&'static str),
    /// `text/plain` (probes).
    Text,
}

pub struct Route {
    /// The RPC name: the OpenAPI `operationId` and, for Connect routes, the procedure name.
    pub rpc: &'static str,
    pub verb: Verb,
    /// axum path syntax (`{param}`), which is also OpenAPI's.
    pub path: &'static str,
    pub auth: Auth,
    pub summary: &'static str,
    /// Includes the action checked (SPEC §2 table).
    pub description: &'static str,
    pub params: &'static [Param],
    /// Component schema of the JSON request body (`Verb::has_body` routes only).
    pub request: Option<&'static str>,
    pub reply: Reply,
    /// Component schema of the Connect request message: path params, query params and
    /// body fields together. `None` = not served over Connect.
    pub connect: Option<&'static str>,
    /// The handler, routed for `verb`.
    pub handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

impl Route {
    /// Names of the `{param}` segments of the path, in order.
    pub fn path_params(&self) -> impl Iterator<Item = &'static str> {
        self.path.split('/').filter_map(|seg| {
            seg.strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|s| !s.is_empty())
        })
    }
}

/// The route served over Connect as procedure `rpc`.
pub fn connect_route(rpc: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.connect.is_some() && r.rpc == rpc)
}

const fn query(name: &'static str, ty: ParamType, description: &'static str) -> Param {
    Param {
        name,
        at: ParamIn::Query,
        ty,
        description,
    }
}

const fn path(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        at: ParamIn::Path,
        ty: ParamType::String,
        description,
    }
}

const OFFSET: Param = query("offset", ParamType::UInt, "Entries to skip (default 0).");
const LIMIT: Param = query(
    "limit",
    ParamType::UInt,
    "Page size, 1..1000 (default 100).",
);
const ORG_ID_QUERY: Param = query(
    "orgId",
    ParamType::String,
    "The org acted on: required with the operator token; an org admin may omit it or name its own org.",
);

const CONFIG_ID: Param = path("configId", "Federation config id.");
const FEDERATION_ADMIN: &str = "Org admin (own org) or operator token (`orgId` required). A config of \
                                another org is reported as absent (NotFound).";

pub static ROUTES: &[Route] = &[
    // ---- /v1/cwobject: access keys
    Route {
        rpc: "CreateAccessKeyFromJWT",
        verb: Verb::Post,
        path: "/v1/cwobject/access-key",
        auth: Auth::Bearer,
        summary: "Create an access key for the caller",
        description: "Action `cwobject:CreateAccessKey`. `durationSeconds` is required: 0 = permanent, \
                      otherwise 1..43200. The secret is returned only here.",
        params: &[],
        request: Some("CreateAccessKeyFromJwtRequest"),
        reply: Reply::Json("CreateAccessKeyFromJwtResponse"),
        connect: Some("CreateAccessKeyFromJwtRequest"),
        handler: |m| on(m, keys::create_access_key_from_jwt),
    },
    Route {
        rpc: "ListAccessKeyInfo",
        verb: Verb::Get,
        path: "/v1/cwobject/access-key",
        auth: Auth::Bearer,
        summary: "List the org's access keys",
        description: "Action `cwobject:ListAccessKeyInfo`. Keys in creation order; revoked keys stay \
                      listed as `DELETED`.",
        params: &[
            OFFSET,
            LIMIT,
            query(
                "status",
                ParamType::String,
                "`ACCESS_KEY_STATUS_ACTIVE` or `ACCESS_KEY_STATUS_SUSPENDED` (short forms \
                 `ACTIVE`, `SUSPENDED` accepted).",
            ),
        ],
        request: None,
        reply: Reply::Json("ListAccessKeyInfoResponse"),
        connect: Some("ListAccessKeyInfoRequest"),
        handler: |m| on(m, keys::list_access_key_info),
    },
    Route {
        rpc: "GetAccessKeyInfo",
        verb: Verb::Get,
        path: "/v1/cwobject/access-key/{accessKeyId}",
        auth: Auth::Bearer,
        summary: "Get one access key of the org",
        description: "Action `cwobject:ListAccessKeyInfo`. Unknown (or another org's) key → NotFound.",
        params: &[path("accessKeyId", "Access key id (`CW…`).")],
        request: None,
        reply: Reply::Json("GetAccessKeyInfoResponse"),
        connect: Some("GetAccessKeyInfoRequest"),
        handler: |m| on(m, keys::get_access_key_info),
    },
    Route {
        rpc: "UpdateAccessKeyStatus",
        verb: Verb::Put,
        path: "/v1/cwobject/access-key-status",
        auth: Auth::Bearer,
        summary: "Suspend or re-activate every key of a principal",
        description: "Action `cwobject:UpdateAccessKeyStatus`. Suspended keys fail S3 authentication \
                      until re-activated; deleted keys stay deleted.",
        params: &[],
        request: Some("UpdateAccessKeyStatusRequest"),
        reply: Reply::Json("Empty"),
        connect: Some("UpdateAccessKeyStatusRequest"),
        handler: |m| on(m, keys::update_access_key_status),
    },
    Route {
        rpc: "RevokeAccessKeyByAccessKey",
        verb: Verb::Post,
        path: "/v1/cwobject/revoke-access-key/access-key",
        auth: Auth::Bearer,
        summary: "Revoke one access key",
        description: "Action `cwobject:RevokeAccessKeyByAccessKey`. The key stays listed as `DELETED`; \
                      revoking it again succeeds.",
        params: &[],
        request: Some("RevokeAccessKeyByAccessKeyRequest"),
        reply: Reply::Json("Empty"),
        connect: Some("RevokeAccessKeyByAccessKeyRequest"),
        handler: |m| on(m, keys::revoke_access_key_by_access_key),
    },
    Route {
        rpc: "RevokeAccessKeysByPrincipal",
        verb: Verb::Post,
        path: "/v1/cwobject/revoke-access-key/principal",
        auth: Auth::Bearer,
        summary: "Revoke every access key of a principal",
        description: "Action `cwobject:RevokeAccessKeysByPrincipal`.",
        params: &[],
        request: Some("RevokeAccessKeysByPrincipalRequest"),
        reply: Reply::Json("Empty"),
        connect: Some("RevokeAccessKeysByPrincipalRequest"),
        handler: |m| on(m, keys::revoke_access_keys_by_principal),
    },
    // Temporary-credential exchanges.
    Route {
        rpc: "CreateAccessKeyFromSAML",
        verb: Verb::Post,
        path: "/v1/cwobject/temporary-credentials/saml",
        auth: Auth::Anonymous,
        summary: "Exchange a SAML response for a temporary access key",
        description: "Anonymous: the base64 `samlResponse` is the credential. It must verify \
                      against the active SAML config `configId` of `orgId`: XML-DSig (exclusive \
                      C14N, SHA-256+ digests, RSA/ECDSA with SHA-256+) over the Response or the \
                      Assertion by a configured certificate, Issuer = idpEntityId, Audience, \
                      Destination/Recipient = acsUrl when set, NotBefore/NotOnOrAfter with 60 s \
                      skew, each assertion ID once. The principal `role/<value>` of the Role \
                      attribute (`attributes.role` picks one of several) needs an org policy \
                      allowing `cwobject:CreateAccessKeySAML`. The key lives `durationSeconds` \
                      (0 = 900 s), never past the assertion's session, with attribute \
                      `principalName`. Refused responses → PermissionDenied (7/403); malformed \
                      ones (base64, XML, DTD, size) → InvalidArgument (3/400).",
        params: &[],
        request: Some("CreateAccessKeyFromSamlRequest"),
        reply: Reply::Json("CreateAccessKeyFromJwtResponse"),
        connect: Some("CreateAccessKeyFromSamlRequest"),
        handler: |m| on(m, keys::create_access_key_from_saml),
    },
    Route {
        rpc: "CreateAccessKeyFromOIDC",
        verb: Verb::Post,
        path: "/v1/cwobject/temporary-credentials/oidc",
        auth: Auth::Anonymous,
        summary: "Exchange an OIDC token for a temporary access key",
        description: "Anonymous: the token is the credential. It must verify against an active \
                      OIDC config of `orgId` (RS256/RS384/RS512/ES256/ES384/EdDSA, `kid` in the \
                      config's JWKS, `iss`, `aud`, `exp`/`nbf`/`iat` with 60 s skew), and an org \
                      policy must allow principal `role/<iss>:<sub>` the action \
                      `cwobject:CreateAccessKeyOIDC`. The key lives `durationSeconds` (0 = 900 s), \
                      never past the token's `exp`. Bad tokens → Unauthenticated (16/401); no \
                      allowing policy → PermissionDenied (7/403).",
        params: &[],
        request: Some("CreateAccessKeyFromOidcRequest"),
        reply: Reply::Json("CreateAccessKeyFromJwtResponse"),
        connect: Some("CreateAccessKeyFromOidcRequest"),
        handler: |m| on(m, keys::create_access_key_from_oidc),
    },
    Route {
        rpc: "CreateAccessKeyFromContainerCreds",
        verb: Verb::Get,
        path: "/v1/cwobject/temporary-credentials/oidc/{orgId}",
        auth: Auth::RawJwt,
        summary: "AWS container-credentials endpoint for OIDC workloads",
        description: "`Authorization: <raw OIDC JWT>` (set `AWS_CONTAINER_AUTHORIZATION_TOKEN` to the \
                      token). Verified and authorized like CreateAccessKeyFromOIDC; answers a \
                      15-minute key (never past the token's `exp`) with a session token.",
        params: &[path(
            "orgId",
            "The org whose OIDC configs verify the token.",
        )],
        request: None,
        reply: Reply::Json("ContainerCredentials"),
        connect: Some("CreateAccessKeyFromContainerCredsRequest"),
        handler: |m| on(m, keys::create_access_key_from_container_creds),
    },
    Route {
        rpc: "CreateAccessKeyFromApiToken",
        verb: Verb::Get,
        path: "/v1/cwobject/temporary-credentials/api-token",
        auth: Auth::Bearer,
        summary: "AWS container-credentials endpoint for API-token holders",
        description: "Action `cwobject:CreateAccessKey`. Mints a 15-minute key for the token's user \
                      with a session token (`Token`; sent as `x-amz-security-token` it must match). \
                      Point `AWS_CONTAINER_CREDENTIALS_FULL_URI` here and set \
                      `AWS_CONTAINER_AUTHORIZATION_TOKEN=Bearer <API token>`.",
        params: &[],
        request: None,
        reply: Reply::Json("ContainerCredentials"),
        connect: Some("Empty"),
        handler: |m| on(m, keys::create_access_key_from_api_token),
    },
    // ---- /v1/cwobject: policies and authorization
    Route {
        rpc: "ListAccessPolicies",
        verb: Verb::Get,
        path: "/v1/cwobject/access-policy",
        auth: Auth::Bearer,
        summary: "List the org's access policies",
        description: "Action `cwobject:ListAccessPolicy`.",
        params: &[],
        request: None,
        reply: Reply::Json("ListAccessPoliciesResponse"),
        connect: Some("Empty"),
        handler: |m| on(m, policies::list_access_policies),
    },
    Route {
        rpc: "EnsureAccessPolicy",
        verb: Verb::Post,
        path: "/v1/cwobject/access-policy",
        auth: Auth::Bearer,
        summary: "Create or replace an access policy (upsert by name)",
        description: "Action `cwobject:EnsureAccessPolicy`. Validation errors are InvalidArgument \
                      naming the statement.",
        params: &[],
        request: Some("EnsureAccessPolicyRequest"),
        reply: Reply::Json("Empty"),
        connect: Some("EnsureAccessPolicyRequest"),
        handler: |m| on(m, policies::ensure_access_policy),
    },
    Route {
        rpc: "DeleteAccessPolicy",
        verb: Verb::Delete,
        path: "/v1/cwobject/access-policy/{name}",
        auth: Auth::Bearer,
        summary: "Delete an access policy",
        description: "Action `cwobject:DeleteAccessPolicy`. Unknown name → NotFound.",
        params: &[path("name", "Policy name.")],
        request: None,
        reply: Reply::Json("Empty"),
        connect: Some("DeleteAccessPolicyRequest"),
        handler: |m| on(m, policies::delete_access_policy),
    },
    Route {
        rpc: "AuthCanI",
        verb: Verb::Post,
        path: "/v1/cwobject/auth/can-i",
        auth: Auth::Bearer,
        summary: "Ask whether the caller may perform actions on resources",
        description: "No action checked: answers for the caller. `verdict` is true only if every \
                      action is allowed on every resource; `decisions` explains each pair.",
        params: &[],
        request: Some("AuthCanIRequest"),
        reply: Reply::Json("AuthCanIResponse"),
        connect: Some("AuthCanIRequest"),
        handler: |m| on(m, policies::auth_can_i),
    },
    // ---- /v1/cwobject: buckets and org settings
    Route {
        rpc: "SetBucketSettings",
        verb: Verb::Put,
        path: "/v1/cwobject/bucket/settings",
        auth: Auth::Bearer,
        summary: "Update a bucket's settings (partial)",
        description: "Actions `cwobject:EnableBucketAuditLogging` / `cwobject:DisableBucketAuditLogging` \
                      per audit flag sent, `cwobject:SetBucketCapacityCap` when `capacityCapBytes` or \
                      `clearCapacityCap` is sent. A capacity cap rejects S3 writes that would exceed it \
                      (S3 error `QuotaExceeded`, HTTP 403). Archive fields need the `BucketArchive` \
                      entitlement.",
        params: &[],
        request: Some("SetBucketSettingsRequest"),
        reply: Reply::Json("SetBucketSettingsResponse"),
        connect: Some("SetBucketSettingsRequest"),
        handler: |m| on(m, buckets::set_bucket_settings),
    },
    Route {
        rpc: "ListBucketInfo",
        verb: Verb::Get,
        path: "/v1/cwobject/bucket-info",
        auth: Auth::Bearer,
        summary: "List the org's buckets with settings and usage",
        description: "Action `cwobject:ListBucketInfo`. Usage is exact at read time and counts \
                      completed objects only.",
        params: &[OFFSET, LIMIT],
        request: None,
        reply: Reply::Json("ListBucketInfoResponse"),
        connect: Some("ListBucketInfoRequest"),
        handler: |m| on(m, buckets::list_bucket_info),
    },
    Route {
        rpc: "GetBucketInfo",
        verb: Verb::Get,
        path: "/v1/cwobject/bucket-info/{bucketName}",
        auth: Auth::Bearer,
        summary: "Get one bucket of the org with settings and usage",
        description: "Action `cwobject:ListBucketInfo`. Unknown (or another org's) bucket → NotFound.",
        params: &[path("bucketName", "Bucket name.")],
        request: None,
        reply: Reply::Json("GetBucketInfoResponse"),
        connect: Some("GetBucketInfoRequest"),
        handler: |m| on(m, buckets::get_bucket_info),
    },
    Route {
        rpc: "SetOrganizationSettings",
        verb: Verb::Put,
        path: "/v1/cwobject/organization/settings",
        auth: Auth::Bearer,
        summary: "Update the org's audit-logging settings (partial)",
        description: "Actions `cwobject:Enable/DisableControlPlaneAuditLogging` and \
                      `cwobject:Enable/DisableBucketAuditLoggingDefault`, per flag sent.",
        params: &[],
        request: Some("SetOrganizationSettingsRequest"),
        reply: Reply::Json("SetOrganizationSettingsResponse"),
        connect: Some("SetOrganizationSettingsRequest"),
        handler: |m| on(m, org::set_organization_settings),
    },
    Route {
        rpc: "GetOrganizationSettings",
        verb: Verb::Get,
        path: "/v1/cwobject/organization/settings",
        auth: Auth::Bearer,
        summary: "Read the org's settings (extension)",
        description: "Any member of the org may read them.",
        params: &[],
        request: None,
        reply: Reply::Json("SetOrganizationSettingsResponse"),
        connect: Some("Empty"),
        handler: |m| on(m, org::get_organization_settings),
    },
    // ---- /v1/iam identity extension
    Route {
        rpc: "CreateOrg",
        verb: Verb::Post,
        path: "/v1/iam/orgs",
        auth: Auth::Bearer,
        summary: "Create an organization",
        description: "Operator token only.",
        params: &[],
        request: Some("CreateOrgRequest"),
        reply: Reply::Json("CreateOrgResponse"),
        connect: None,
        handler: |m| on(m, iam::create_org),
    },
    Route {
        rpc: "ListOrgs",
        verb: Verb::Get,
        path: "/v1/iam/orgs",
        auth: Auth::Bearer,
        summary: "List organizations",
        description: "The operator sees every org, an org admin its own.",
        params: &[],
        request: None,
        reply: Reply::Json("ListOrgsResponse"),
        connect: None,
        handler: |m| on(m, iam::list_orgs),
    },
    Route {
        rpc: "CreateUser",
        verb: Verb::Post,
        path: "/v1/iam/users",
        auth: Auth::Bearer,
        summary: "Create a user",
        description: "Org admin (own org) or operator token (`orgId` required).",
        params: &[],
        request: Some("CreateUserRequest"),
        reply: Reply::Json("CreateUserResponse"),
        connect: None,
        handler: |m| on(m, iam::create_user),
    },
    Route {
        rpc: "ListUsers",
        verb: Verb::Get,
        path: "/v1/iam/users",
        auth: Auth::Bearer,
        summary: "List the users of an org",
        description: "Org admin (own org) or operator token.",
        params: &[ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("ListUsersResponse"),
        connect: None,
        handler: |m| on(m, iam::list_users),
    },
    Route {
        rpc: "DeleteUser",
        verb: Verb::Delete,
        path: "/v1/iam/users/{uid}",
        auth: Auth::Bearer,
        summary: "Delete a user with its API tokens and access keys",
        description: "Org admin (own org; not themselves) or operator token.",
        params: &[path("uid", "User id.")],
        request: None,
        reply: Reply::Json("Empty"),
        connect: None,
        handler: |m| on(m, iam::delete_user),
    },
    Route {
        rpc: "CreateToken",
        verb: Verb::Post,
        path: "/v1/iam/tokens",
        auth: Auth::Bearer,
        summary: "Create an API token for a user",
        description: "Org admin (own org) or operator token (`uid` required). The token is shown \
                      only here.",
        params: &[],
        request: Some("CreateTokenRequest"),
        reply: Reply::Json("CreateTokenResponse"),
        connect: None,
        handler: |m| on(m, iam::create_token),
    },
    Route {
        rpc: "ListTokens",
        verb: Verb::Get,
        path: "/v1/iam/tokens",
        auth: Auth::Bearer,
        summary: "List the API tokens of an org",
        description: "Org admin (own org) or operator token.",
        params: &[ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("ListTokensResponse"),
        connect: None,
        handler: |m| on(m, iam::list_tokens),
    },
    Route {
        rpc: "DeleteToken",
        verb: Verb::Delete,
        path: "/v1/iam/tokens/{tokenId}",
        auth: Auth::Bearer,
        summary: "Delete an API token",
        description: "Org admin (own org) or operator token.",
        params: &[path("tokenId", "Token id."), ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("Empty"),
        connect: None,
        handler: |m| on(m, iam::delete_token),
    },
    Route {
        rpc: "CreateCacheNode",
        verb: Verb::Post,
        path: "/v1/iam/cache-nodes",
        auth: Auth::Bearer,
        summary: "Register a compute-node cache",
        description: "Operator token only. The node credential is shown only here; `coffer cache` \
                      presents it to the origin, which then authorizes the node's clients' \
                      requests as their own.",
        params: &[],
        request: Some("CreateCacheNodeRequest"),
        reply: Reply::Json("CreateCacheNodeResponse"),
        connect: None,
        handler: |m| on(m, iam::create_cache_node),
    },
    Route {
        rpc: "ListCacheNodes",
        verb: Verb::Get,
        path: "/v1/iam/cache-nodes",
        auth: Auth::Bearer,
        summary: "List the registered compute-node caches",
        description: "Operator token only.",
        params: &[],
        request: None,
        reply: Reply::Json("ListCacheNodesResponse"),
        connect: None,
        handler: |m| on(m, iam::list_cache_nodes),
    },
    Route {
        rpc: "DeleteCacheNode",
        verb: Verb::Delete,
        path: "/v1/iam/cache-nodes/{nodeId}",
        auth: Auth::Bearer,
        summary: "Revoke a compute-node cache",
        description: "Operator token only. The origin refuses the node's credential from the \
                      next request on.",
        params: &[path("nodeId", "Node id.")],
        request: None,
        reply: Reply::Json("Empty"),
        connect: None,
        handler: |m| on(m, iam::delete_cache_node),
    },
    Route {
        rpc: "CreateSamlConfig",
        verb: Verb::Post,
        path: "/v1/iam/federation/saml-configs",
        auth: Auth::Bearer,
        summary: "Create a SAML federation config",
        description: FEDERATION_ADMIN,
        params: &[ORG_ID_QUERY],
        request: Some("CreateSamlConfigRequest"),
        reply: Reply::Json("SamlConfigResponse"),
        connect: None,
        handler: |m| on(m, federation::create_saml_config),
    },
    Route {
        rpc: "ListSamlConfigs",
        verb: Verb::Get,
        path: "/v1/iam/federation/saml-configs",
        auth: Auth::Bearer,
        summary: "List the org's SAML federation configs",
        description: FEDERATION_ADMIN,
        params: &[ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("ListSamlConfigsResponse"),
        connect: None,
        handler: |m| on(m, federation::list_saml_configs),
    },
    Route {
        rpc: "GetSamlConfig",
        verb: Verb::Get,
        path: "/v1/iam/federation/saml-configs/{configId}",
        auth: Auth::Bearer,
        summary: "Get one SAML federation config",
        description: FEDERATION_ADMIN,
        params: &[CONFIG_ID, ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("SamlConfigResponse"),
        connect: None,
        handler: |m| on(m, federation::get_saml_config),
    },
    Route {
        rpc: "UpdateSamlConfig",
        verb: Verb::Put,
        path: "/v1/iam/federation/saml-configs/{configId}",
        auth: Auth::Bearer,
        summary: "Update a SAML federation config (partial)",
        description: FEDERATION_ADMIN,
        params: &[CONFIG_ID, ORG_ID_QUERY],
        request: Some("UpdateSamlConfigRequest"),
        reply: Reply::Json("SamlConfigResponse"),
        connect: None,
        handler: |m| on(m, federation::update_saml_config),
    },
    Route {
        rpc: "DeleteSamlConfig",
        verb: Verb::Delete,
        path: "/v1/iam/federation/saml-configs/{configId}",
        auth: Auth::Bearer,
        summary: "Delete a SAML federation config",
        description: FEDERATION_ADMIN,
        params: &[CONFIG_ID, ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("Empty"),
        connect: None,
        handler: |m| on(m, federation::delete_saml_config),
    },
    Route {
        rpc: "CreateOidcConfig",
        verb: Verb::Post,
        path: "/v1/iam/federation/oidc-configs",
        auth: Auth::Bearer,
        summary: "Create a OIDC federation config",
        description: FEDERATION_ADMIN,
        params: &[ORG_ID_QUERY],
        request: Some("CreateOidcConfigRequest"),
        reply: Reply::Json("OidcConfigResponse"),
        connect: None,
        handler: |m| on(m, federation::create_oidc_config),
    },
    Route {
        rpc: "ListOidcConfigs",
        verb: Verb::Get,
        path: "/v1/iam/federation/oidc-configs",
        auth: Auth::Bearer,
        summary: "List the org's OIDC federation configs",
        description: FEDERATION_ADMIN,
        params: &[ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("ListOidcConfigsResponse"),
        connect: None,
        handler: |m| on(m, federation::list_oidc_configs),
    },
    Route {
        rpc: "GetOidcConfig",
        verb: Verb::Get,
        path: "/v1/iam/federation/oidc-configs/{configId}",
        auth: Auth::Bearer,
        summary: "Get one OIDC federation config",
        description: FEDERATION_ADMIN,
        params: &[CONFIG_ID, ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("OidcConfigResponse"),
        connect: None,
        handler: |m| on(m, federation::get_oidc_config),
    },
    Route {
        rpc: "UpdateOidcConfig",
        verb: Verb::Put,
        path: "/v1/iam/federation/oidc-configs/{configId}",
        auth: Auth::Bearer,
        summary: "Update a OIDC federation config (partial)",
        description: FEDERATION_ADMIN,
        params: &[CONFIG_ID, ORG_ID_QUERY],
        request: Some("UpdateOidcConfigRequest"),
        reply: Reply::Json("OidcConfigResponse"),
        connect: None,
        handler: |m| on(m, federation::update_oidc_config),
    },
    Route {
        rpc: "DeleteOidcConfig",
        verb: Verb::Delete,
        path: "/v1/iam/federation/oidc-configs/{configId}",
        auth: Auth::Bearer,
        summary: "Delete a OIDC federation config",
        description: FEDERATION_ADMIN,
        params: &[CONFIG_ID, ORG_ID_QUERY],
        request: None,
        reply: Reply::Json("Empty"),
        connect: None,
        handler: |m| on(m, federation::delete_oidc_config),
    },
    Route {
        rpc: "WhoAmI",
        verb: Verb::Get,
        path: "/v1/iam/whoami",
        auth: Auth::Bearer,
        summary: "Who the presented token belongs to",
        description: "Any API token or the operator token.",
        params: &[],
        request: None,
        reply: Reply::Json("WhoAmIResponse"),
        connect: None,
        handler: |m| on(m, iam::whoami),
    },
    // ---- service
    Route {
        rpc: "GetOpenApiDocument",
        verb: Verb::Get,
        path: "/v1/openapi.json",
        auth: Auth::Anonymous,
        summary: "This OpenAPI document",
        description: "Generated from the server's route table; committed as `docs/openapi.json`.",
        params: &[],
        request: None,
        reply: Reply::Json("OpenApiDocument"),
        connect: None,
        handler: |m| on(m, openapi::serve),
    },
    Route {
        rpc: "Healthz",
        verb: Verb::Get,
        path: health::HEALTHZ_PATH,
        auth: Auth::Anonymous,
        summary: "Liveness: the process answers",
        description: "Answers `ok`.",
        params: &[],
        request: None,
        reply: Reply::Text,
        connect: None,
        handler: |m| on(m, health::healthz),
    },
    Route {
        rpc: "Readyz",
        verb: Verb::Get,
        path: "/readyz",
        auth: Auth::Anonymous,
        summary: "Readiness: the metadata store answers",
        description: "Answers `ready`, or Unavailable (14/503).",
        params: &[],
        request: None,
        reply: Reply::Text,
        connect: None,
        handler: |m| on(m, health::readyz),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_invariants() {
        let mut ops = HashSet::new();
        let mut rpcs = HashSet::new();
        for r in ROUTES {
            assert!(
                ops.insert((r.verb, r.path)),
                "duplicate route {:?} {}",
                r.verb,
                r.path
            );
            assert!(rpcs.insert(r.rpc), "duplicate rpc {}", r.rpc);
            let from_path: Vec<_> = r.path_params().collect();
            let declared: Vec<_> = r
                .params
                .iter()
                .filter(|p| p.at == ParamIn::Path)
                .map(|p| p.name)
                .collect();
            assert_eq!(from_path, declared, "{}", r.rpc);
            assert_eq!(
                r.connect.is_some(),
                r.path.starts_with("/v1/cwobject/"),
                "{}: Connect serves exactly the /v1/cwobject routes",
                r.rpc
            );
            assert_eq!(r.request.is_some(), r.verb.has_body(), "{}", r.rpc);
            let mut names = HashSet::new();
            for p in r.params {
                assert!(
                    names.insert(p.name),
                    "{}: duplicate param {}",
                    r.rpc,
                    p.name
                );
            }
        }
    }

    /// The SPEC §2 table's RPC names are all served over Connect.
    #[test]
    fn spec_rpcs_are_connect_procedures() {
        for rpc in [
            "CreateAccessKeyFromJWT",
            "ListAccessKeyInfo",
            "GetAccessKeyInfo",
            "UpdateAccessKeyStatus",
            "ListAccessPolicies",
            "EnsureAccessPolicy",
            "DeleteAccessPolicy",
            "AuthCanI",
            "SetBucketSettings",
            "ListBucketInfo",
            "GetBucketInfo",
            "SetOrganizationSettings",
            "RevokeAccessKeyByAccessKey",
            "RevokeAccessKeysByPrincipal",
            "CreateAccessKeyFromSAML",
            "CreateAccessKeyFromOIDC",
            "CreateAccessKeyFromContainerCreds",
            "CreateAccessKeyFromApiToken",
        ] {
            assert!(connect_route(rpc).is_some(), "{rpc}");
        }
        assert!(connect_route("WhoAmI").is_none());
        assert!(connect_route("createAccessKeyFromJWT").is_none());
    }
}
