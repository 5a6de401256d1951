//! The OpenAPI 3 document of the management API, generated from the route table
//! ([`crate::routes::ROUTES`]) and the component schemas below, served at
//! `GET /v1/openapi.json` and committed as `docs/openapi.json` (DESIGN habit 6; the
//! server's `openapi_drift` test fails when the two differ, and
//! `COFFER_UPDATE_OPENAPI=1 cargo test -p coffer-server --test it openapi_drift::` rewrites
//! the file).
//!
//! Schemas are written by hand (no schema-derive crate); the tests below keep them
//! honest: every schema has a `coffer-api` type, an example built from each schema
//! survives a round trip through that type unchanged (so the schema names exactly the
//! fields the type reads and writes), fields marked required in response schemas are
//! always emitted, and every `$ref` resolves.

use crate::routes::{Auth, ParamIn, ParamType, ROUTES, Reply, Route};
use axum::response::IntoResponse;
use coffer_api::connect;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

pub const OPENAPI_VERSION: &str = "3.0.3";

/// `GET /v1/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], document_json())
}

/// The document as pretty-printed JSON with a trailing newline: the exact bytes of the
/// committed `docs/openapi.json`.
pub fn document_json() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut v = serde_json::to_vec_pretty(&document()).unwrap_or_default();
        v.push(b'\n');
        v
    })
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let item = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        item[verb_key(r)] = rest_operation(r);
    }
    for r in ROUTES {
        if let Some(message) = r.connect {
            paths.insert(
                format!("{}{}", connect::PATH_PREFIX, r.rpc),
                json!({ "post": connect_operation(r, message) }),
            );
        }
    }
    json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Coffer management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The cwobject control plane (`/v1/cwobject`, also served over the \
                Connect protocol at `/cwobject.v1.CWObject/<Rpc>`) and the `/v1/iam` identity \
                extension. JSON is proto3-style: lowerCamelCase fields, RFC 3339 UTC timestamps, \
                64-bit integers as strings where noted, absent optional fields omitted, unknown \
                request fields ignored. REST errors are `{\"code\":<gRPC code>,\"message\",\
                \"details\":[]}`; Connect errors are `{\"code\":\"<connect code>\",\"message\"}` \
                with Connect's HTTP statuses. Request bodies are limited to 1 MiB.",
            "license": { "name": "Apache-2.0" }
        },
        "servers": [{ "url": "http://127.0.0.1:9001", "description": "default management listener" }],
        "tags": [
            { "name": "cwobject", "description": "Access keys, access policies, buckets and organization settings." },
            { "name": "cwobject-connect", "description": "The same RPCs over the Connect protocol (unary, JSON): POST with `Content-Type: application/json`; path and query parameters of the REST route are fields of the request message." },
            { "name": "iam", "description": "Identity extension: organizations, users, API tokens, workload identity federation configs." },
            { "name": "service", "description": "Probes and this document." }
        ],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "responses": {
                "Error": {
                    "description": "Error: a gRPC status code and the matching HTTP status.",
                    "content": { "application/json": { "schema": reference("ErrorBody") } }
                },
                "ConnectError": {
                    "description": "Connect unary error (Connect code name and its HTTP status).",
                    "content": { "application/json": { "schema": reference("ConnectErrorBody") } }
                }
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "CW-SECRET-…",
                    "description": "An API token (`/v1/iam/tokens`), or the server's operator token where noted."
                },
                "oidcJwt": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "A raw OIDC JWT, without the `Bearer` scheme (AWS container-credentials provider)."
                }
            }
        }
    })
}

fn verb_key(r: &Route) -> &'static str {
    match r.verb {
        crate::routes::Verb::Get => "get",
        crate::routes::Verb::Post => "post",
        crate::routes::Verb::Put => "put",
        crate::routes::Verb::Delete => "delete",
    }
}

fn tag(r: &Route) -> &'static str {
    if r.path.starts_with("/v1/cwobject/") {
        "cwobject"
    } else if r.path.starts_with("/v1/iam/") {
        "iam"
    } else {
        "service"
    }
}

fn security(r: &Route) -> Value {
    match r.auth {
        Auth::Bearer => json!([{ "bearerAuth": [] }]),
        Auth::Anonymous => json!([]),
        Auth::RawJwt => json!([{ "oidcJwt": [] }]),
    }
}

fn param_schema(ty: ParamType) -> Value {
    match ty {
        ParamType::String => json!({ "type": "string" }),
        ParamType::UInt => json!({ "type": "integer", "format": "int64", "minimum": 0 }),
    }
}

fn ok_response(r: &Route) -> Value {
    match r.reply {
        Reply::Json(schema) => json!({
            "description": "OK",
            "content": { "application/json": { "schema": reference(schema) } }
        }),
        Reply::Text => json!({
            "description": "OK",
            "content": { "text/plain": { "schema": { "type": "string" } } }
        }),
    }
}

fn rest_operation(r: &Route) -> Value {
    let parameters: Vec<Value> = r
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": match p.at { ParamIn::Path => "path", ParamIn::Query => "query" },
                "required": p.at == ParamIn::Path,
                "description": p.description,
                "schema": param_schema(p.ty),
            })
        })
        .collect();
    let mut op = json!({
        "operationId": r.rpc,
        "tags": [tag(r)],
        "summary": r.summary,
        "description": r.description,
        "security": security(r),
        "responses": {
            "200": ok_response(r),
            "default": { "$ref": "#/components/responses/Error" }
        }
    });
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }
    if let Some(schema) = r.request {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": reference(schema) } }
        });
    }
    op
}

fn connect_operation(r: &Route, message: &str) -> Value {
    json!({
        "operationId": format!("connect{}", r.rpc),
        "tags": ["cwobject-connect"],
        "summary": format!("{} (Connect)", r.summary),
        "description": format!(
            "{} Same handler as `{} {}`.",
            r.description,
            r.verb.method(),
            r.path
        ),
        "security": security(r),
        "parameters": [{
            "name": "Connect-Protocol-Version",
            "in": "header",
            "required": false,
            "schema": { "type": "string", "enum": ["1"] }
        }],
        "requestBody": {
            "required": true,
            "content": { connect::CONTENT_TYPE: { "schema": reference(message) } }
        },
        "responses": {
            "200": ok_response(r),
            "default": { "$ref": "#/components/responses/ConnectError" }
        }
    })
}

// ---------------------------------------------------------------------------------------
// Component schemas (one per `coffer-api` type; see the tests)

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn plain_string() -> Value {
    json!({ "type": "string" })
}

fn enum_string(values: &[&str], description: &str) -> Value {
    json!({ "type": "string", "enum": values, "description": description })
}

fn timestamp(description: &str) -> Value {
    json!({ "type": "string", "format": "date-time", "description": description })
}

fn boolean(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}

/// A u64 on the wire as a decimal string (proto3 `uint64`).
fn u64_string(description: &str) -> Value {
    json!({ "type": "string", "format": "uint64", "pattern": "^[0-9]+$", "description": description })
}

/// An integer emitted as a JSON number; a decimal string is accepted on input.
fn int64(description: &str) -> Value {
    json!({ "type": "integer", "format": "int64",
            "description": format!("{description} A decimal string is accepted too.") })
}

fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn string_map(description: &str) -> Value {
    json!({ "type": "object", "additionalProperties": { "type": "string" }, "description": description })
}

fn object(description: &str, props: &[(&str, Value)], required: &[&str]) -> Value {
    let properties: Map<String, Value> = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut o = json!({ "type": "object", "description": description, "properties": properties });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

/// A JSON Web Key Set.
fn jwks() -> Value {
    json!({
        "type": "object",
        "description": "A JSON Web Key Set (RFC 7517): every key needs a `kid`; RSA, EC (P-256, P-384) and OKP (Ed25519) keys.",
        "properties": { "keys": { "type": "array", "items": { "type": "object", "additionalProperties": true } } },
        "required": ["keys"]
    })
}

const FEDERATION_ORG_ID: &str =
    "Required with the operator token (here or as `?orgId=`); an org admin may omit it.";

/// Create (with `required`) and partial update of a SAML config.
fn saml_request(required: &[&str]) -> Value {
    let description = if required.is_empty() {
        "Partial update: absent fields keep their value; `acsUrl: \"\"` removes it."
    } else {
        "`active` defaults to true."
    };
    object(
        description,
        &[
            ("orgId", string(FEDERATION_ORG_ID)),
            ("name", plain_string()),
            ("idpEntityId", plain_string()),
            (
                "signingCertificates",
                array(string("PEM X.509 certificate.")),
            ),
            ("audience", plain_string()),
            ("acsUrl", plain_string()),
            ("active", boolean("")),
        ],
        required,
    )
}

/// Create (with `required`; one of `jwks`/`jwksFile` too) and partial update of an OIDC
/// config.
fn oidc_request(required: &[&str]) -> Value {
    let description = if required.is_empty() {
        "Partial update: absent fields keep their value; `jwks` or `jwksFile` replaces the key source."
    } else {
        "One of `jwks` and `jwksFile` is required; `active` defaults to true."
    };
    object(
        description,
        &[
            ("orgId", string(FEDERATION_ORG_ID)),
            ("name", plain_string()),
            ("issuerUrl", plain_string()),
            ("audience", plain_string()),
            ("jwks", jwks()),
            (
                "jwksFile",
                string(
                    "Absolute path of a JWKS file on the server (a regular file of at most \
                     1 MiB), read at verification. Operator token only (PermissionDenied for \
                     org admins, who give `jwks` inline).",
                ),
            ),
            ("active", boolean("")),
        ],
        required,
    )
}

const KEY_STATUS_VALUES: &[&str] = &["ACTIVE", "EXPIRED", "FULL_SUSPENDED", "DELETED"];
const STATUS_FILTER_VALUES: &[&str] = &[
    "ACCESS_KEY_STATUS_ACTIVE",
    "ACCESS_KEY_STATUS_SUSPENDED",
    "ACTIVE",
    "SUSPENDED",
];

fn schemas() -> Map<String, Value> {
    let attributes = || {
        string_map(
            "Key attributes: at most 15; keys are DNS labels not starting with `cw-`, `role` or \
             `groups`; values at most 63 characters.",
        )
    };
    let paging = || {
        [
            ("offset", int64("Entries to skip (default 0).")),
            ("limit", int64("Page size, 1..1000 (default 100).")),
        ]
    };
    let key_id = || string("Access key id: `CW` + 14 of `[A-Z0-9]`.");
    let list = |field: &str, item: &str, description: &str| {
        object(description, &[(field, array(reference(item)))], &[field])
    };
    let one = |field: &str, item: &str, description: &str| {
        object(description, &[(field, reference(item))], &[field])
    };

    let s: Vec<(&str, Value)> = vec![
        // ---- errors and common
        (
            "ErrorBody",
            object(
                "Error body of the REST routes.",
                &[
                    (
                        "code",
                        json!({ "type": "integer", "format": "int32", "enum": [3, 5, 6, 7, 8, 9, 10, 12, 13, 14, 16],
                                "description": "gRPC status code: InvalidArgument 3→400, NotFound 5→404, AlreadyExists 6→409, PermissionDenied 7→403, ResourceExhausted 8→429, FailedPrecondition 9→400, Aborted 10→409, Unimplemented 12→501 (405 for a known path with another method), Internal 13→500 (the message carries a request id), Unavailable 14→503, Unauthenticated 16→401." }),
                    ),
                    ("message", plain_string()),
                    ("details", array(json!({}))),
                ],
                &["code", "message", "details"],
            ),
        ),
        (
            "ConnectErrorBody",
            object(
                "Error body of the Connect routes.",
                &[
                    (
                        "code",
                        enum_string(
                            &[
                                "invalid_argument",
                                "not_found",
                                "already_exists",
                                "permission_denied",
                                "resource_exhausted",
                                "failed_precondition",
                                "aborted",
                                "unimplemented",
                                "internal",
                                "unavailable",
                                "unauthenticated",
                            ],
                            "Connect code; HTTP status per the Connect protocol (invalid_argument and \
                             failed_precondition 400, unauthenticated 401, permission_denied 403, \
                             not_found 404, already_exists and aborted 409, resource_exhausted 429, \
                             internal 500, unimplemented 501, unavailable 503). A method other than \
                             POST answers 405, a Content-Type other than application/json 415.",
                        ),
                    ),
                    ("message", plain_string()),
                    ("details", array(json!({}))),
                ],
                &["code", "message"],
            ),
        ),
        (
            "Empty",
            json!({ "type": "object", "description": "No fields.", "properties": {} }),
        ),
        (
            "OpenApiDocument",
            json!({ "type": "object", "description": "An OpenAPI 3 document (this one)." }),
        ),
        // ---- access keys
        (
            "CreateAccessKeyFromJwtRequest",
            object(
                "",
                &[
                    (
                        "durationSeconds",
                        int64("Required: 0 = permanent key, otherwise 1..43200."),
                    ),
                    ("attributes", attributes()),
                ],
                &["durationSeconds"],
            ),
        ),
        (
            "CreateAccessKeyFromJwtResponse",
            object(
                "A new access key with its secret, shown only here. The key id is emitted in both spellings.",
                &[
                    ("accessKeyID", key_id()),
                    ("accessKeyId", key_id()),
                    ("secretKey", string("`cwo` + 40 of `[a-z0-9]`.")),
                    (
                        "principalName",
                        string("`coreweave/<uid>` or a federated `role/…` principal."),
                    ),
                    (
                        "expiry",
                        timestamp("`1970-01-01T00:00:00Z` for permanent keys."),
                    ),
                    ("attributes", attributes()),
                ],
                &[
                    "accessKeyID",
                    "accessKeyId",
                    "secretKey",
                    "principalName",
                    "expiry",
                    "attributes",
                ],
            ),
        ),
        (
            "CreateAccessKeyFromSamlRequest",
            object(
                "",
                &[
                    ("durationSeconds", int64("0..43200; 0 = the default 900 s.")),
                    ("orgId", plain_string()),
                    (
                        "configId",
                        string("The SAML config (`/v1/iam/federation/saml-configs`)."),
                    ),
                    ("samlResponse", string("Base64 of the SAML Response XML.")),
                    ("attributes", attributes()),
                ],
                &["orgId", "configId", "samlResponse"],
            ),
        ),
        (
            "CreateAccessKeyFromOidcRequest",
            object(
                "",
                &[
                    ("durationSeconds", int64("0..43200; 0 = the default 900 s.")),
                    ("orgId", plain_string()),
                    ("oidcToken", string("A JWT from a configured issuer.")),
                    ("attributes", attributes()),
                ],
                &["orgId", "oidcToken"],
            ),
        ),
        (
            "CreateAccessKeyFromContainerCredsRequest",
            object("", &[("orgId", plain_string())], &["orgId"]),
        ),
        (
            "ContainerCredentials",
            object(
                "AWS container-credentials shape (PascalCase on purpose).",
                &[
                    ("AccessKeyId", plain_string()),
                    ("SecretAccessKey", plain_string()),
                    ("Token", plain_string()),
                    ("Expiration", timestamp("")),
                ],
                &["AccessKeyId", "SecretAccessKey", "Token", "Expiration"],
            ),
        ),
        (
            "AccessKeyInfo",
            object(
                "",
                &[
                    ("accessKeyId", key_id()),
                    (
                        "status",
                        enum_string(KEY_STATUS_VALUES, "Revoked keys are `DELETED`."),
                    ),
                    ("principalName", plain_string()),
                    ("attributes", attributes()),
                    (
                        "expiry",
                        timestamp("`1970-01-01T00:00:00Z` for permanent keys."),
                    ),
                    ("orgId", plain_string()),
                ],
                &[
                    "accessKeyId",
                    "status",
                    "principalName",
                    "attributes",
                    "expiry",
                    "orgId",
                ],
            ),
        ),
        (
            "ListAccessKeyInfoRequest",
            object(
                "",
                &[
                    paging()[0].clone(),
                    paging()[1].clone(),
                    (
                        "status",
                        enum_string(STATUS_FILTER_VALUES, "Filter by status."),
                    ),
                ],
                &[],
            ),
        ),
        (
            "ListAccessKeyInfoResponse",
            list("info", "AccessKeyInfo", "Keys in creation order."),
        ),
        (
            "GetAccessKeyInfoRequest",
            object("", &[("accessKeyId", key_id())], &["accessKeyId"]),
        ),
        ("GetAccessKeyInfoResponse", one("info", "AccessKeyInfo", "")),
        (
            "UpdateAccessKeyStatusRequest",
            object(
                "Applies to every key of the principal in the caller's org.",
                &[
                    ("principalName", plain_string()),
                    (
                        "status",
                        enum_string(STATUS_FILTER_VALUES, "Target status."),
                    ),
                ],
                &["principalName", "status"],
            ),
        ),
        (
            "RevokeAccessKeyByAccessKeyRequest",
            object(
                "One of `accessKey` and its alias `accessKeyId` is required (`accessKey` wins).",
                &[
                    ("accessKey", key_id()),
                    (
                        "accessKeyId",
                        json!({ "type": "string", "deprecated": true, "description": "Alias of `accessKey` (input only)." }),
                    ),
                ],
                &[],
            ),
        ),
        (
            "RevokeAccessKeysByPrincipalRequest",
            object("", &[("principalName", plain_string())], &["principalName"]),
        ),
        // ---- access policies
        (
            "AccessPolicy",
            object(
                "An org access policy.",
                &[
                    ("version", enum_string(&["v1alpha1"], "")),
                    ("name", plain_string()),
                    ("statements", array(reference("AccessPolicyStatement"))),
                ],
                &["version", "name", "statements"],
            ),
        ),
        (
            "AccessPolicyStatement",
            object(
                "",
                &[
                    ("name", plain_string()),
                    ("effect", enum_string(&["Allow", "Deny"], "")),
                    (
                        "actions",
                        array(string("`s3:…` or `cwobject:…` action; `*` and `?` globs.")),
                    ),
                    (
                        "resources",
                        array(string(
                            "`bucket`, `bucket/key` or globs; global actions need `*`.",
                        )),
                    ),
                    (
                        "principals",
                        array(string("`coreweave/<uid>`, `role/…` or globs such as `*`.")),
                    ),
                ],
                &["name", "effect", "actions", "resources", "principals"],
            ),
        ),
        (
            "ListAccessPoliciesResponse",
            list("policies", "AccessPolicy", ""),
        ),
        (
            "EnsureAccessPolicyRequest",
            one(
                "policy",
                "AccessPolicy",
                "Upsert by name: replaces the whole policy.",
            ),
        ),
        (
            "DeleteAccessPolicyRequest",
            object("", &[("name", plain_string())], &["name"]),
        ),
        (
            "AuthCanIRequest",
            object(
                "",
                &[
                    ("actions", array(plain_string())),
                    (
                        "resources",
                        array(string("Defaults to `[\"*\"]` when empty.")),
                    ),
                ],
                &["actions"],
            ),
        ),
        (
            "AuthCanIResponse",
            object(
                "",
                &[
                    (
                        "verdict",
                        boolean("True only if every action is allowed on every resource."),
                    ),
                    (
                        "decisions",
                        json!({ "type": "array", "items": reference("AuthDecision"),
                                "description": "One per (action, resource) pair, actions outer." }),
                    ),
                ],
                &["verdict", "decisions"],
            ),
        ),
        (
            "AuthDecision",
            object(
                "",
                &[
                    ("action", plain_string()),
                    ("resource", plain_string()),
                    ("allowed", boolean("")),
                    ("decidedBy", reference("DecidedBy")),
                ],
                &["action", "resource", "allowed", "decidedBy"],
            ),
        ),
        (
            "DecidedBy",
            object(
                "The layer that decided and, when it is the caller's own org's, the policy and \
                 statement. A layer of another org (the bucket policy of another org's bucket, \
                 the owner org's Deny statements) is named by `layer` alone.",
                &[
                    (
                        "layer",
                        enum_string(&["org", "bucket", "acl", "default"], ""),
                    ),
                    ("policy", plain_string()),
                    ("statement", plain_string()),
                ],
                &["layer"],
            ),
        ),
        // ---- buckets
        (
            "BucketSettings",
            object(
                "In requests a partial update (absent fields stay unchanged); in responses the \
                 effective settings.",
                &[
                    (
                        "auditLoggingEnabled",
                        boolean(
                            "In requests, absent keeps the bucket's value. In responses always \
                             present: the bucket's own value, else the org default.",
                        ),
                    ),
                    (
                        "capacityCapBytes",
                        u64_string(
                            "Positive. S3 writes that would exceed it fail with `QuotaExceeded` (403).",
                        ),
                    ),
                    (
                        "clearCapacityCap",
                        json!({ "allOf": [reference("Empty")], "description": "`{}` removes the cap (requests only)." }),
                    ),
                    (
                        "archiveEnabled",
                        boolean("Needs the `BucketArchive` entitlement."),
                    ),
                    (
                        "archiveAfterLastAccessDays",
                        int64("Needs the `BucketArchive` entitlement."),
                    ),
                ],
                &[],
            ),
        ),
        (
            "SetBucketSettingsRequest",
            object(
                "",
                &[
                    ("bucketName", plain_string()),
                    ("settings", reference("BucketSettings")),
                ],
                &["bucketName", "settings"],
            ),
        ),
        (
            "SetBucketSettingsResponse",
            one("settings", "BucketSettings", "The effective settings."),
        ),
        (
            "BucketUsage",
            object(
                "Exact at read time; completed objects only.",
                &[
                    (
                        "measurementType",
                        enum_string(&["STORAGE_BYTES", "OBJECT_COUNT"], ""),
                    ),
                    ("value", u64_string("")),
                    ("valueHumanReadable", string("e.g. `1.0 MiB`, `3`.")),
                ],
                &["measurementType", "value", "valueHumanReadable"],
            ),
        ),
        (
            "BucketInfo",
            object(
                "",
                &[
                    ("orgId", plain_string()),
                    ("name", plain_string()),
                    ("creationTime", timestamp("")),
                    ("settings", reference("BucketSettings")),
                    ("location", string("The bucket's zone.")),
                    ("usage", array(reference("BucketUsage"))),
                ],
                &[
                    "orgId",
                    "name",
                    "creationTime",
                    "settings",
                    "location",
                    "usage",
                ],
            ),
        ),
        ("ListBucketInfoRequest", object("", &paging(), &[])),
        (
            "ListBucketInfoResponse",
            list("info", "BucketInfo", "The caller's org's buckets."),
        ),
        (
            "GetBucketInfoRequest",
            object("", &[("bucketName", plain_string())], &["bucketName"]),
        ),
        ("GetBucketInfoResponse", one("info", "BucketInfo", "")),
        // ---- organization settings
        (
            "OrganizationSettings",
            object(
                "In requests a partial update; in responses both fields are present.",
                &[
                    ("controlPlaneAuditLoggingEnabled", boolean("")),
                    (
                        "bucketAuditLoggingEnabled",
                        boolean("Default for buckets that never set `auditLoggingEnabled`."),
                    ),
                ],
                &[],
            ),
        ),
        (
            "SetOrganizationSettingsRequest",
            one("settings", "OrganizationSettings", ""),
        ),
        (
            "SetOrganizationSettingsResponse",
            one(
                "settings",
                "OrganizationSettings",
                "The effective settings.",
            ),
        ),
        // ---- /v1/iam
        (
            "OrgInfo",
            object(
                "",
                &[
                    ("orgId", string("6 lowercase alphanumerics.")),
                    ("name", plain_string()),
                    ("createdTime", timestamp("")),
                    (
                        "entitlements",
                        json!({ "type": "array", "items": { "type": "string" },
                                "description": "Operator-set feature entitlements (e.g. `BucketArchive`); omitted when none." }),
                    ),
                ],
                &["orgId", "name", "createdTime"],
            ),
        ),
        (
            "CreateOrgRequest",
            object(
                "",
                &[
                    ("name", plain_string()),
                    ("entitlements", array(plain_string())),
                ],
                &["name"],
            ),
        ),
        ("CreateOrgResponse", one("org", "OrgInfo", "")),
        ("ListOrgsResponse", list("orgs", "OrgInfo", "")),
        (
            "UserInfo",
            object(
                "",
                &[
                    ("uid", string("21 of `[A-Za-z0-9]`.")),
                    ("name", plain_string()),
                    ("role", enum_string(&["admin", "member"], "")),
                    ("orgId", plain_string()),
                    ("createdTime", timestamp("")),
                ],
                &["uid", "name", "role", "orgId", "createdTime"],
            ),
        ),
        (
            "CreateUserRequest",
            object(
                "",
                &[
                    ("name", plain_string()),
                    (
                        "role",
                        enum_string(&["admin", "member"], "Default `member`."),
                    ),
                    (
                        "orgId",
                        string("Required with the operator token; an org admin may omit it."),
                    ),
                ],
                &["name"],
            ),
        ),
        ("CreateUserResponse", one("user", "UserInfo", "")),
        ("ListUsersResponse", list("users", "UserInfo", "")),
        (
            "TokenInfo",
            object(
                "",
                &[
                    ("tokenId", plain_string()),
                    ("uid", plain_string()),
                    ("description", plain_string()),
                    ("expiry", timestamp("Omitted for tokens without expiry.")),
                    ("createdTime", timestamp("")),
                ],
                &["tokenId", "uid", "description", "createdTime"],
            ),
        ),
        (
            "CreateTokenRequest",
            object(
                "",
                &[
                    (
                        "uid",
                        string("Defaults to the calling admin; required with the operator token."),
                    ),
                    ("durationSeconds", int64("0 or absent = no expiry.")),
                    ("description", plain_string()),
                ],
                &[],
            ),
        ),
        (
            "CreateTokenResponse",
            object(
                "",
                &[
                    ("token", string("`CW-SECRET-…`, shown only here.")),
                    ("info", reference("TokenInfo")),
                ],
                &["token", "info"],
            ),
        ),
        ("ListTokensResponse", list("tokens", "TokenInfo", "")),
        (
            "CacheNodeInfo",
            object(
                "A compute-node cache (`coffer cache`) registered by the operator.",
                &[
                    ("nodeId", string("32 lowercase hex digits.")),
                    (
                        "name",
                        string(
                            "Unique; named in audit events of requests served through the node.",
                        ),
                    ),
                    ("createdTime", timestamp("")),
                ],
                &["nodeId", "name", "createdTime"],
            ),
        ),
        (
            "CreateCacheNodeRequest",
            object("", &[("name", plain_string())], &["name"]),
        ),
        (
            "CreateCacheNodeResponse",
            object(
                "",
                &[
                    (
                        "credential",
                        string(
                            "The node credential (`COFFER-NODE-…`), shown only here: give it to `coffer cache --node-credential-file`.",
                        ),
                    ),
                    ("node", reference("CacheNodeInfo")),
                ],
                &["credential", "node"],
            ),
        ),
        ("ListCacheNodesResponse", list("nodes", "CacheNodeInfo", "")),
        // ---- /v1/iam/federation
        (
            "SamlConfigInfo",
            object(
                "A SAML identity provider the org trusts (SPEC §5).",
                &[
                    ("configId", string("Generated at creation.")),
                    ("orgId", plain_string()),
                    ("name", plain_string()),
                    (
                        "idpEntityId",
                        string("Required `Issuer` of responses and assertions."),
                    ),
                    (
                        "signingCertificates",
                        array(string(
                            "A PEM X.509 certificate. Only these verify signatures; \
                             certificates inside a SAML message are never trusted.",
                        )),
                    ),
                    (
                        "audience",
                        string("Our SP entity id, required in the assertion's `Audience`."),
                    ),
                    (
                        "acsUrl",
                        string("When set, `Destination`/`Recipient` must equal it."),
                    ),
                    ("active", boolean("Inactive configs verify nothing.")),
                    ("createdTime", timestamp("")),
                    ("updatedTime", timestamp("")),
                ],
                &[
                    "configId",
                    "orgId",
                    "name",
                    "idpEntityId",
                    "signingCertificates",
                    "audience",
                    "active",
                    "createdTime",
                    "updatedTime",
                ],
            ),
        ),
        (
            "CreateSamlConfigRequest",
            saml_request(&["name", "idpEntityId", "signingCertificates", "audience"]),
        ),
        ("UpdateSamlConfigRequest", saml_request(&[])),
        ("SamlConfigResponse", one("config", "SamlConfigInfo", "")),
        (
            "ListSamlConfigsResponse",
            list("configs", "SamlConfigInfo", ""),
        ),
        (
            "OidcConfigInfo",
            object(
                "An OIDC issuer the org trusts (SPEC §5): exactly one of `jwks` and `jwksFile`.",
                &[
                    ("configId", string("Generated at creation.")),
                    ("orgId", plain_string()),
                    ("name", plain_string()),
                    (
                        "issuerUrl",
                        string("Required `iss` of tokens, compared exactly."),
                    ),
                    ("audience", string("Required among the token's `aud`.")),
                    ("jwks", jwks()),
                    (
                        "jwksFile",
                        string(
                            "Absolute path of a JWKS file on the server, read at verification \
                             (set by the operator only).",
                        ),
                    ),
                    ("active", boolean("Inactive configs verify nothing.")),
                    ("createdTime", timestamp("")),
                    ("updatedTime", timestamp("")),
                ],
                &[
                    "configId",
                    "orgId",
                    "name",
                    "issuerUrl",
                    "audience",
                    "active",
                    "createdTime",
                    "updatedTime",
                ],
            ),
        ),
        (
            "CreateOidcConfigRequest",
            oidc_request(&["name", "issuerUrl", "audience"]),
        ),
        ("UpdateOidcConfigRequest", oidc_request(&[])),
        ("OidcConfigResponse", one("config", "OidcConfigInfo", "")),
        (
            "ListOidcConfigsResponse",
            list("configs", "OidcConfigInfo", ""),
        ),
        (
            "WhoAmIResponse",
            object(
                "For the operator token: principal and role `operator`, no uid or orgId.",
                &[
                    ("principal", plain_string()),
                    ("uid", plain_string()),
                    ("orgId", plain_string()),
                    ("role", enum_string(&["admin", "member", "operator"], "")),
                ],
                &["principal", "role"],
            ),
        ),
    ];
    s.into_iter()
        .map(|(k, mut v)| {
            // Empty descriptions are noise in the document.
            if v["description"] == json!("")
                && let Some(o) = v.as_object_mut()
            {
                o.remove("description");
            }
            strip_empty_descriptions(&mut v);
            (k.to_string(), v)
        })
        .collect()
}

fn strip_empty_descriptions(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("description") == Some(&json!("")) {
                o.remove("description");
            }
            o.values_mut().for_each(strip_empty_descriptions);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_empty_descriptions),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ParamIn;
    use coffer_api as api;
    use std::collections::BTreeSet;

    /// Deserializes `v` as the `coffer-api` type named `name` and serializes it back.
    macro_rules! types {
        ($($name:literal => $ty:ty,)*) => {
            fn roundtrip(name: &str, v: Value) -> Option<Result<Value, String>> {
                match name {
                    $($name => Some(
                        serde_json::from_value::<$ty>(v)
                            .map_err(|e| e.to_string())
                            .and_then(|t| serde_json::to_value(&t).map_err(|e| e.to_string())),
                    ),)*
                    _ => None,
                }
            }
        };
    }

    types! {
        "ErrorBody" => api::ErrorBody,
        "ConnectErrorBody" => api::ConnectErrorBody,
        "Empty" => api::Empty,
        "OpenApiDocument" => Value,
        "CreateAccessKeyFromJwtRequest" => api::CreateAccessKeyFromJwtRequest,
        "CreateAccessKeyFromJwtResponse" => api::CreateAccessKeyFromJwtResponse,
        "CreateAccessKeyFromSamlRequest" => api::CreateAccessKeyFromSamlRequest,
        "CreateAccessKeyFromOidcRequest" => api::CreateAccessKeyFromOidcRequest,
        "CreateAccessKeyFromContainerCredsRequest" => api::CreateAccessKeyFromContainerCredsRequest,
        "ContainerCredentials" => api::ContainerCredentials,
        "AccessKeyInfo" => api::AccessKeyInfo,
        "ListAccessKeyInfoRequest" => api::ListAccessKeyInfoRequest,
        "ListAccessKeyInfoResponse" => api::ListAccessKeyInfoResponse,
        "GetAccessKeyInfoRequest" => api::GetAccessKeyInfoRequest,
        "GetAccessKeyInfoResponse" => api::GetAccessKeyInfoResponse,
        "UpdateAccessKeyStatusRequest" => api::UpdateAccessKeyStatusRequest,
        "RevokeAccessKeyByAccessKeyRequest" => api::RevokeAccessKeyByAccessKeyRequest,
        "RevokeAccessKeysByPrincipalRequest" => api::RevokeAccessKeysByPrincipalRequest,
        "AccessPolicy" => api::AccessPolicy,
        "AccessPolicyStatement" => api::AccessPolicyStatement,
        "ListAccessPoliciesResponse" => api::ListAccessPoliciesResponse,
        "EnsureAccessPolicyRequest" => api::EnsureAccessPolicyRequest,
        "DeleteAccessPolicyRequest" => api::DeleteAccessPolicyRequest,
        "AuthCanIRequest" => api::AuthCanIRequest,
        "AuthCanIResponse" => api::AuthCanIResponse,
        "AuthDecision" => api::AuthDecision,
        "DecidedBy" => api::DecidedBy,
        "BucketSettings" => api::BucketSettings,
        "SetBucketSettingsRequest" => api::SetBucketSettingsRequest,
        "SetBucketSettingsResponse" => api::SetBucketSettingsResponse,
        "BucketUsage" => api::BucketUsage,
        "BucketInfo" => api::BucketInfo,
        "ListBucketInfoRequest" => api::ListBucketInfoRequest,
        "ListBucketInfoResponse" => api::ListBucketInfoResponse,
        "GetBucketInfoRequest" => api::GetBucketInfoRequest,
        "GetBucketInfoResponse" => api::GetBucketInfoResponse,
        "OrganizationSettings" => api::OrganizationSettings,
        "SetOrganizationSettingsRequest" => api::SetOrganizationSettingsRequest,
        "SetOrganizationSettingsResponse" => api::SetOrganizationSettingsResponse,
        "OrgInfo" => api::OrgInfo,
        "CreateOrgRequest" => api::CreateOrgRequest,
        "CreateOrgResponse" => api::CreateOrgResponse,
        "ListOrgsResponse" => api::ListOrgsResponse,
        "UserInfo" => api::UserInfo,
        "CreateUserRequest" => api::CreateUserRequest,
        "CreateUserResponse" => api::CreateUserResponse,
        "ListUsersResponse" => api::ListUsersResponse,
        "TokenInfo" => api::TokenInfo,
        "CreateTokenRequest" => api::CreateTokenRequest,
        "CreateTokenResponse" => api::CreateTokenResponse,
        "ListTokensResponse" => api::ListTokensResponse,
        "CacheNodeInfo" => api::CacheNodeInfo,
        "CreateCacheNodeRequest" => api::CreateCacheNodeRequest,
        "CreateCacheNodeResponse" => api::CreateCacheNodeResponse,
        "ListCacheNodesResponse" => api::ListCacheNodesResponse,
        "WhoAmIResponse" => api::WhoAmIResponse,
        "SamlConfigInfo" => api::SamlConfigInfo,
        "CreateSamlConfigRequest" => api::CreateSamlConfigRequest,
        "UpdateSamlConfigRequest" => api::UpdateSamlConfigRequest,
        "SamlConfigResponse" => api::SamlConfigResponse,
        "ListSamlConfigsResponse" => api::ListSamlConfigsResponse,
        "OidcConfigInfo" => api::OidcConfigInfo,
        "CreateOidcConfigRequest" => api::CreateOidcConfigRequest,
        "UpdateOidcConfigRequest" => api::UpdateOidcConfigRequest,
        "OidcConfigResponse" => api::OidcConfigResponse,
        "ListOidcConfigsResponse" => api::ListOidcConfigsResponse,
    }

    /// Fields a type accepts on input but never emits (aliases).
    const INPUT_ONLY: &[(&str, &str)] = &[("RevokeAccessKeyByAccessKeyRequest", "accessKeyId")];

    fn resolve<'a>(schemas: &'a Map<String, Value>, s: &'a Value) -> &'a Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/").unwrap();
                resolve(schemas, &schemas[name])
            }
            None => match s.get("allOf").and_then(Value::as_array) {
                Some(all) if all.len() == 1 => resolve(schemas, &all[0]),
                _ => s,
            },
        }
    }

    /// A value of `s` with every property present.
    fn example(schemas: &Map<String, Value>, s: &Value) -> Value {
        let s = resolve(schemas, s);
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            return e[0].clone();
        }
        match s.get("type").and_then(Value::as_str) {
            Some("object") => {
                let mut o = Map::new();
                if let Some(props) = s.get("properties").and_then(Value::as_object) {
                    for (k, v) in props {
                        o.insert(k.clone(), example(schemas, v));
                    }
                }
                if let Some(ap) = s.get("additionalProperties") {
                    o.insert("key".into(), example(schemas, ap));
                }
                Value::Object(o)
            }
            Some("array") => json!([example(schemas, &s["items"])]),
            Some("integer") => json!(7),
            Some("boolean") => json!(true),
            Some("string") => match s.get("format").and_then(Value::as_str) {
                Some("date-time") => json!("2026-01-02T03:04:05Z"),
                Some("uint64") => json!("12345"),
                _ => json!("text"),
            },
            _ => json!("any"),
        }
    }

    fn props(schemas: &Map<String, Value>, name: &str) -> BTreeSet<String> {
        schemas[name]
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Each schema names exactly the fields of its type: a full example survives a round
    /// trip through the type unchanged (a schema field the type lacks would be dropped; a
    /// non-optional type field the schema lacks would be added).
    #[test]
    fn schemas_match_the_wire_types() {
        let schemas = schemas();
        for (name, schema) in &schemas {
            let mut ex = example(&schemas, schema);
            let out = roundtrip(name, ex.clone())
                .unwrap_or_else(|| panic!("schema {name} has no coffer-api type in `types!`"))
                .unwrap_or_else(|e| panic!("{name}: example {ex} does not parse: {e}"));
            for (n, field) in INPUT_ONLY {
                if n == name {
                    ex.as_object_mut().unwrap().remove(*field);
                }
            }
            assert_eq!(out, ex, "{name}: round trip changed the example");
        }
    }

    /// Fields a response schema marks required are emitted even for an empty value.
    #[test]
    fn required_fields_are_always_emitted() {
        let schemas = schemas();
        let responses: BTreeSet<&str> = ROUTES
            .iter()
            .filter_map(|r| match r.reply {
                Reply::Json(s) => Some(s),
                Reply::Text => None,
            })
            .collect();
        for name in responses {
            let Some(required) = schemas[name].get("required").and_then(Value::as_array) else {
                continue;
            };
            // Types that cannot be built from `{}` have no "empty" value to check.
            let Some(Ok(out)) = roundtrip(name, json!({})) else {
                continue;
            };
            for f in required {
                let f = f.as_str().unwrap();
                assert!(
                    out.get(f).is_some(),
                    "{name}: required {f} missing in {out}"
                );
            }
        }
    }

    /// A Connect message has exactly the REST route's path params, query params and body
    /// fields.
    #[test]
    fn connect_messages_cover_the_rest_inputs() {
        let schemas = schemas();
        for r in ROUTES {
            let Some(message) = r.connect else { continue };
            let mut expected: BTreeSet<String> = r.params.iter().map(|p| p.name.into()).collect();
            if let Some(body) = r.request {
                expected.extend(props(&schemas, body));
            }
            assert_eq!(props(&schemas, message), expected, "{}", r.rpc);
            for p in r.params.iter().filter(|p| p.at == ParamIn::Path) {
                let required = schemas[message]["required"].as_array().unwrap();
                assert!(required.contains(&json!(p.name)), "{} {}", r.rpc, p.name);
            }
        }
    }

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn document_is_consistent() {
        let doc = document();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for r in &all {
            let path = r.strip_prefix("#/").expect("local ref");
            let target = path.split('/').fold(&doc, |v, seg| &v[seg]);
            assert!(!target.is_null(), "dangling {r}");
        }
        // Every schema is used.
        for name in schemas().keys() {
            assert!(
                all.contains(&format!("#/components/schemas/{name}")),
                "unused schema {name}"
            );
        }
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            }
        }
        for r in ROUTES {
            assert!(
                doc["paths"][r.path][verb_key(r)].is_object(),
                "{} missing",
                r.rpc
            );
        }
        // Pretty JSON with a trailing newline, parseable back to the same document.
        let bytes = document_json();
        assert_eq!(bytes.last(), Some(&b'\n'));
        assert_eq!(serde_json::from_slice::<Value>(bytes).unwrap(), doc);
    }
}
