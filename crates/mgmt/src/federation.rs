//! `/v1/iam/federation`: the org's SAML and OIDC federation configs (SPEC §1, §5).
//! Org admins manage their own org's configs; the operator token any org's (naming it
//! with `orgId` in the body or query). A config of another org, or of the other kind, is
//! reported as absent (NotFound).
//!
//! Create requires every mandatory field; update (PUT) is partial: absent fields keep
//! their value. Either way the resulting config passes
//! `coffer_core::federation::validate_config` before it is stored. An OIDC `jwksFile`
//! (a path on the server) is accepted from the operator token only ([`jwks_source`]).

use crate::AppState;
use crate::auth::IamActor;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, QueryParams, truncate};
use axum::Json;
use axum::extract::State;
use coffer_api as api;
use coffer_core::clock::rfc3339;
use coffer_core::federation::validate_config;
use coffer_core::ids;
use coffer_core::model::{
    FederationConfig, FederationKind, FederationSettings, JwksSource, RECORD_VERSION,
};

type Res<T> = Result<Json<T>, ApiError>;

fn required<T>(v: Option<T>, field: &str) -> Result<T, ApiError> {
    v.ok_or_else(|| ApiError::invalid(format!("{field} is required")))
}

fn not_found(kind: FederationKind, id: &str) -> ApiError {
    ApiError::not_found(format!(
        "{} config {:?} not found",
        kind.as_str().to_uppercase(),
        truncate(id)
    ))
}

/// The org a request acts on: `orgId` from the body, else from the query.
fn target_org(actor: &IamActor, body: Option<&str>, q: &QueryParams) -> Result<String, ApiError> {
    actor.target_org(body.filter(|o| !o.is_empty()).or(q.str("orgId")))
}

async fn load(
    state: &AppState,
    org: &str,
    kind: FederationKind,
    id: &str,
) -> Result<FederationConfig, ApiError> {
    state
        .meta
        .get_federation_config(org, kind, id)
        .await?
        .ok_or_else(|| not_found(kind, id))
}

async fn store_new(
    state: &AppState,
    org: String,
    name: String,
    active: bool,
    settings: FederationSettings,
) -> Result<FederationConfig, ApiError> {
    if state.meta.get_org(&org).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "org {:?} not found",
            truncate(&org)
        )));
    }
    let now = state.identity.now();
    let config = FederationConfig {
        v: RECORD_VERSION,
        config_id: ids::new_hex_id(),
        org_id: org,
        name,
        active,
        settings,
        created: now,
        updated: now,
    };
    validate_config(&config)?;
    state.meta.create_federation_config(&config).await?;
    Ok(config)
}

async fn store_update(
    state: &AppState,
    mut config: FederationConfig,
) -> Result<FederationConfig, ApiError> {
    config.updated = state.identity.now();
    validate_config(&config)?;
    state.meta.update_federation_config(&config).await?;
    Ok(config)
}

async fn delete(
    state: &AppState,
    org: &str,
    kind: FederationKind,
    id: &str,
) -> Result<Json<api::DeleteFederationConfigResponse>, ApiError> {
    state
        .meta
        .delete_federation_config(org, kind, id)
        .await
        .map_err(|e| match e {
            coffer_core::Error::NotFound(_) => not_found(kind, id),
            other => other.into(),
        })?;
    Ok(Json(api::Empty {}))
}

// ---- SAML

fn saml_info(c: &FederationConfig) -> Result<api::SamlConfigInfo, ApiError> {
    let FederationSettings::Saml {
        idp_entity_id,
        signing_certificates,
        audience,
        acs_url,
    } = &c.settings
    else {
        return Err(coffer_core::Error::internal("stored config is not SAML").into());
    };
    Ok(api::SamlConfigInfo {
        config_id: c.config_id.clone(),
        org_id: c.org_id.clone(),
        name: c.name.clone(),
        idp_entity_id: idp_entity_id.clone(),
        signing_certificates: signing_certificates.clone(),
        audience: audience.clone(),
        acs_url: acs_url.clone(),
        active: c.active,
        created_time: rfc3339(c.created),
        updated_time: rfc3339(c.updated),
    })
}

fn saml_response(c: &FederationConfig) -> Res<api::SamlConfigResponse> {
    Ok(Json(api::SamlConfigResponse {
        config: saml_info(c)?,
    }))
}

/// `acsUrl: ""` means "none".
fn acs(v: String) -> Option<String> {
    Some(v).filter(|s| !s.is_empty())
}

pub async fn create_saml_config(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    JsonBody(req): JsonBody<api::CreateSamlConfigRequest>,
) -> Res<api::SamlConfigResponse> {
    let org = target_org(&actor, req.org_id.as_deref(), &q)?;
    let settings = FederationSettings::Saml {
        idp_entity_id: required(req.idp_entity_id, "idpEntityId")?,
        signing_certificates: required(req.signing_certificates, "signingCertificates")?,
        audience: required(req.audience, "audience")?,
        acs_url: req.acs_url.and_then(acs),
    };
    let name = required(req.name, "name")?;
    let c = store_new(&state, org, name, req.active.unwrap_or(true), settings).await?;
    saml_response(&c)
}

pub async fn list_saml_configs(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
) -> Res<api::ListSamlConfigsResponse> {
    let org = target_org(&actor, None, &q)?;
    let configs = state
        .meta
        .list_federation_configs(&org, FederationKind::Saml)
        .await?;
    Ok(Json(api::ListSamlConfigsResponse {
        configs: configs.iter().map(saml_info).collect::<Result<_, _>>()?,
    }))
}

pub async fn get_saml_config(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    PathParam(id): PathParam,
) -> Res<api::SamlConfigResponse> {
    let org = target_org(&actor, None, &q)?;
    saml_response(&load(&state, &org, FederationKind::Saml, &id).await?)
}

pub async fn update_saml_config(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    PathParam(id): PathParam,
    JsonBody(req): JsonBody<api::UpdateSamlConfigRequest>,
) -> Res<api::SamlConfigResponse> {
    let org = target_org(&actor, req.org_id.as_deref(), &q)?;
    let mut c = load(&state, &org, FederationKind::Saml, &id).await?;
    if let FederationSettings::Saml {
        idp_entity_id,
        signing_certificates,
        audience,
        acs_url,
    } = &mut c.settings
    {
        if let Some(v) = req.idp_entity_id {
            *idp_entity_id = v;
        }
        if let Some(v) = req.signing_certificates {
            *signing_certificates = v;
        }
        if let Some(v) = req.audience {
            *audience = v;
        }
        if let Some(v) = req.acs_url {
            *acs_url = acs(v);
        }
    }
    if let Some(v) = req.name {
        c.name = v;
    }
    if let Some(v) = req.active {
        c.active = v;
    }
    saml_response(&store_update(&state, c).await?)
}

pub async fn delete_saml_config(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    PathParam(id): PathParam,
) -> Res<api::DeleteFederationConfigResponse> {
    let org = target_org(&actor, None, &q)?;
    delete(&state, &org, FederationKind::Saml, &id).await
}

// ---- OIDC

fn oidc_info(c: &FederationConfig) -> Result<api::OidcConfigInfo, ApiError> {
    let FederationSettings::Oidc {
        issuer_url,
        audience,
        jwks,
    } = &c.settings
    else {
        return Err(coffer_core::Error::internal("stored config is not OIDC").into());
    };
    let (jwks, jwks_file) = match jwks {
        JwksSource::Inline(doc) => (Some(doc.clone()), None),
        JwksSource::File(path) => (None, Some(path.clone())),
    };
    Ok(api::OidcConfigInfo {
        config_id: c.config_id.clone(),
        org_id: c.org_id.clone(),
        name: c.name.clone(),
        issuer_url: issuer_url.clone(),
        audience: audience.clone(),
        jwks,
        jwks_file,
        active: c.active,
        created_time: rfc3339(c.created),
        updated_time: rfc3339(c.updated),
    })
}

fn oidc_response(c: &FederationConfig) -> Res<api::OidcConfigResponse> {
    Ok(Json(api::OidcConfigResponse {
        config: oidc_info(c)?,
    }))
}

/// The key source a request names, if any; both at once is ambiguous. Only the operator
/// may point at files: `jwksFile` is a path on the server, which the server reads with
/// its own privileges, so an org admin gives the set inline.
fn jwks_source(
    actor: &IamActor,
    jwks: Option<serde_json::Value>,
    file: Option<String>,
) -> Result<Option<JwksSource>, ApiError> {
    let file = file.filter(|f| !f.is_empty());
    let jwks = jwks.filter(|j| !j.is_null());
    match (jwks, file) {
        (Some(_), Some(_)) => Err(ApiError::invalid("give either jwks or jwksFile, not both")),
        (Some(doc), None) => Ok(Some(JwksSource::Inline(doc))),
        (None, Some(_)) if !matches!(actor, IamActor::Operator) => Err(ApiError::denied(
            "jwksFile (a file on the server) may be set only with the operator token; \
             give the key set inline as jwks",
        )),
        (None, Some(path)) => Ok(Some(JwksSource::File(path))),
        (None, None) => Ok(None),
    }
}

pub async fn create_oidc_config(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    JsonBody(req): JsonBody<api::CreateOidcConfigRequest>,
) -> Res<api::OidcConfigResponse> {
    let org = target_org(&actor, req.org_id.as_deref(), &q)?;
    let settings = FederationSettings::Oidc {
        issuer_url: required(req.issuer_url, "issuerUrl")?,
        audience: required(req.audience, "audience")?,
        jwks: jwks_source(&actor, req.jwks, req.jwks_file)?
            .ok_or_else(|| ApiError::invalid("jwks or jwksFile is required"))?,
    };
    let name = required(req.name, "name")?;
    let c = store_new(&state, org, name, req.active.unwrap_or(true), settings).await?;
    oidc_response(&c)
}

pub async fn list_oidc_configs(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
) -> Res<api::ListOidcConfigsResponse> {
    let org = target_org(&actor, None, &q)?;
    let configs = state
        .meta
        .list_federation_configs(&org, FederationKind::Oidc)
        .await?;
    Ok(Json(api::ListOidcConfigsResponse {
        configs: configs.iter().map(oidc_info).collect::<Result<_, _>>()?,
    }))
}

pub async fn get_oidc_config(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    PathParam(id): PathParam,
) -> Res<api::OidcConfigResponse> {
    let org = target_org(&actor, None, &q)?;
    oidc_response(&load(&state, &org, FederationKind::Oidc, &id).await?)
}

pub async fn update_oidc_config(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    PathParam(id): PathParam,
    JsonBody(req): JsonBody<api::UpdateOidcConfigRequest>,
) -> Res<api::OidcConfigResponse> {
    let org = target_org(&actor, req.org_id.as_deref(), &q)?;
    let mut c = load(&state, &org, FederationKind::Oidc, &id).await?;
    let source = jwks_source(&actor, req.jwks, req.jwks_file)?;
    if let FederationSettings::Oidc {
        issuer_url,
        audience,
        jwks,
    } = &mut c.settings
    {
        if let Some(v) = req.issuer_url {
            *issuer_url = v;
        }
        if let Some(v) = req.audience {
            *audience = v;
        }
        if let Some(v) = source {
            *jwks = v;
        }
    }
    if let Some(v) = req.name {
        c.name = v;
    }
    if let Some(v) = req.active {
        c.active = v;
    }
    oidc_response(&store_update(&state, c).await?)
}

pub async fn delete_oidc_config(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    PathParam(id): PathParam,
) -> Res<api::DeleteFederationConfigResponse> {
    let org = target_org(&actor, None, &q)?;
    delete(&state, &org, FederationKind::Oidc, &id).await
}
