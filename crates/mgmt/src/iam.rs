//! `/v1/iam` identity extension (SPEC §1): orgs (operator only to create), users, API
//! tokens, whoami. Org admins act on their own org; the operator token on any org and
//! then names it (`orgId` in the body or query). Resources of other orgs are reported as
//! absent (NotFound) to an org admin.

use crate::AppState;
use crate::auth::{AnyActor, IamActor, Operator};
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, QueryParams, truncate};
use crate::wire;
use axum::Json;
use axum::extract::State;
use coffer_api as api;
use coffer_core::model::{Role, User};

type Res<T> = Result<Json<T>, ApiError>;

const MAX_ENTITLEMENTS: usize = 32;

pub async fn create_org(
    _op: Operator,
    State(state): State<AppState>,
    JsonBody(req): JsonBody<api::CreateOrgRequest>,
) -> Res<api::CreateOrgResponse> {
    if req.entitlements.len() > MAX_ENTITLEMENTS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_ENTITLEMENTS} entitlements are allowed"
        )));
    }
    if let Some(bad) = req
        .entitlements
        .iter()
        .find(|e| e.is_empty() || e.len() > 64 || !e.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(ApiError::invalid(format!(
            "entitlement {:?} must be 1 to 64 ASCII letters and digits",
            truncate(bad)
        )));
    }
    // Name rules (non-empty, printable, ≤128) are IdentityService's.
    let org = state
        .identity
        .create_org(&req.name, req.entitlements)
        .await?;
    Ok(Json(api::CreateOrgResponse {
        org: wire::org_info(&org),
    }))
}

/// The operator sees every org, an org admin its own.
pub async fn list_orgs(
    actor: IamActor,
    State(state): State<AppState>,
) -> Res<api::ListOrgsResponse> {
    let mut orgs = state.meta.list_orgs().await?;
    // The store does not promise an order; creation order is stable for clients.
    orgs.sort_by(|a, b| (a.created, &a.org_id).cmp(&(b.created, &b.org_id)));
    Ok(Json(api::ListOrgsResponse {
        orgs: orgs
            .iter()
            .filter(|o| actor.can_act_on(&o.org_id))
            .map(wire::org_info)
            .collect(),
    }))
}

fn parse_role(role: Option<&str>) -> Result<Role, ApiError> {
    match role.unwrap_or("") {
        "admin" => Ok(Role::Admin),
        "member" | "" => Ok(Role::Member),
        other => Err(ApiError::invalid(format!(
            "role must be \"admin\" or \"member\", got {:?}",
            truncate(other)
        ))),
    }
}

pub async fn create_user(
    actor: IamActor,
    State(state): State<AppState>,
    JsonBody(req): JsonBody<api::CreateUserRequest>,
) -> Res<api::CreateUserResponse> {
    let org_id = actor.target_org(req.org_id.as_deref())?;
    let role = parse_role(req.role.as_deref())?;
    let user = state.identity.create_user(&org_id, &req.name, role).await?;
    Ok(Json(api::CreateUserResponse {
        user: wire::user_info(&user),
    }))
}

pub async fn list_users(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
) -> Res<api::ListUsersResponse> {
    let org_id = actor.target_org(q.str("orgId"))?;
    let mut users = state.meta.list_users(&org_id).await?;
    users.sort_by(|a, b| (a.created, &a.uid).cmp(&(b.created, &b.uid)));
    Ok(Json(api::ListUsersResponse {
        users: users.iter().map(wire::user_info).collect(),
    }))
}

/// A user the actor may manage; NotFound otherwise.
async fn managed_user(actor: &IamActor, state: &AppState, uid: &str) -> Result<User, ApiError> {
    state
        .meta
        .get_user(uid)
        .await?
        .filter(|u| actor.can_act_on(&u.org_id))
        .ok_or_else(|| ApiError::not_found(format!("user {:?} not found", truncate(uid))))
}

/// Deletes the user with its API tokens and access keys (the store does all three in
/// one transaction; the identity service drops the keys from the S3 cache).
pub async fn delete_user(
    actor: IamActor,
    State(state): State<AppState>,
    PathParam(uid): PathParam,
) -> Res<api::DeleteUserResponse> {
    let user = managed_user(&actor, &state, &uid).await?;
    if let IamActor::Admin(c) = &actor
        && c.uid == user.uid
    {
        return Err(ApiError::Domain(coffer_core::Error::FailedPrecondition(
            "an org admin cannot delete their own user".into(),
        )));
    }
    state.identity.delete_user(&user.uid).await?;
    Ok(Json(api::Empty {}))
}

/// `uid` defaults to the calling admin (the operator must name one); `durationSeconds`
/// 0 or absent = no expiry.
pub async fn create_token(
    actor: IamActor,
    State(state): State<AppState>,
    JsonBody(req): JsonBody<api::CreateTokenRequest>,
) -> Res<api::CreateTokenResponse> {
    let uid = match (&actor, req.uid.filter(|u| !u.is_empty())) {
        (_, Some(uid)) => uid,
        (IamActor::Admin(c), None) => c.uid.clone(),
        (IamActor::Operator, None) => {
            return Err(ApiError::invalid(
                "uid is required when using the operator token",
            ));
        }
    };
    let user = managed_user(&actor, &state, &uid).await?;
    let (token, info) = state
        .identity
        .create_token(
            &user.org_id,
            &user.uid,
            req.duration_seconds.unwrap_or(0),
            &req.description,
        )
        .await?;
    Ok(Json(api::CreateTokenResponse {
        token,
        info: wire::token_info(&info),
    }))
}

pub async fn list_tokens(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
) -> Res<api::ListTokensResponse> {
    let org_id = actor.target_org(q.str("orgId"))?;
    let mut tokens = state.meta.list_tokens(&org_id).await?;
    tokens.sort_by(|a, b| (a.created, &a.token_id).cmp(&(b.created, &b.token_id)));
    Ok(Json(api::ListTokensResponse {
        tokens: tokens.iter().map(wire::token_info).collect(),
    }))
}

/// The token must belong to the actor's org (the operator names the org with
/// `?orgId=`); deleting the token the request was made with is allowed.
pub async fn delete_token(
    actor: IamActor,
    State(state): State<AppState>,
    q: QueryParams,
    PathParam(token_id): PathParam,
) -> Res<api::DeleteTokenResponse> {
    let org_id = actor.target_org(q.str("orgId"))?;
    let not_found = || ApiError::not_found(format!("token {:?} not found", truncate(&token_id)));
    if !state
        .meta
        .list_tokens(&org_id)
        .await?
        .iter()
        .any(|t| t.token_id == token_id)
    {
        return Err(not_found());
    }
    state
        .meta
        .delete_token(&token_id)
        .await
        .map_err(|e| match e {
            coffer_core::Error::NotFound(_) => not_found(),
            other => other.into(),
        })?;
    Ok(Json(api::Empty {}))
}

pub async fn whoami(actor: AnyActor) -> Res<api::WhoAmIResponse> {
    Ok(Json(match actor {
        AnyActor::Operator => api::WhoAmIResponse {
            principal: "operator".into(),
            uid: None,
            org_id: None,
            role: "operator".into(),
        },
        AnyActor::User(c) => api::WhoAmIResponse {
            principal: c.principal,
            uid: Some(c.uid),
            org_id: Some(c.org_id),
            role: c.role.as_str().to_string(),
        },
    }))
}

/// Registers a compute-node cache; its credential is shown only in this answer.
pub async fn create_cache_node(
    _op: Operator,
    State(state): State<AppState>,
    JsonBody(req): JsonBody<api::CreateCacheNodeRequest>,
) -> Res<api::CreateCacheNodeResponse> {
    // Name rules (non-empty, printable, ≤128) are IdentityService's.
    let (credential, node) = state.identity.create_cache_node(&req.name).await?;
    Ok(Json(api::CreateCacheNodeResponse {
        credential,
        node: wire::cache_node_info(&node),
    }))
}

pub async fn list_cache_nodes(
    _op: Operator,
    State(state): State<AppState>,
) -> Res<api::ListCacheNodesResponse> {
    let nodes = state.identity.list_cache_nodes().await?;
    Ok(Json(api::ListCacheNodesResponse {
        nodes: nodes.iter().map(wire::cache_node_info).collect(),
    }))
}

/// Revokes a node: the origin refuses its credential from the next request on.
pub async fn delete_cache_node(
    _op: Operator,
    State(state): State<AppState>,
    PathParam(node_id): PathParam,
) -> Res<api::Empty> {
    state
        .identity
        .delete_cache_node(&node_id)
        .await
        .map_err(|e| match e {
            coffer_core::Error::NotFound(_) => {
                ApiError::not_found(format!("cache node {:?} not found", truncate(&node_id)))
            }
            other => other.into(),
        })?;
    Ok(Json(api::Empty {}))
}
