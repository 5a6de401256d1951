//! The S3 choke point for authentication and authorization.
//!
//! * [`Authenticator`] (`S3Auth`): s3s asks it for the secret of the access key id in a
//!   SigV4 signature; unknown, suspended, expired and deleted keys are
//!   `InvalidAccessKeyId`.
//! * [`AccessControl`] (`S3Access::check`): runs for every request after s3s verified
//!   the signature (or found none) and before the handler; it re-applies the request
//!   gates ([`crate::gates`]), checks the session token, looks the operation up in the
//!   one action table ([`crate::actions`]), asks the [`PolicyEngine`] every question the
//!   table lists, enforces bucket ownership (cross-org access is denied until bucket
//!   policies exist) and finally attaches a [`Caller`] to the request.
//!
//! Invariant (habit 3): handlers obtain a [`Caller`] only from the request extensions,
//! and only this module constructs one, after every check passed. A request without a
//! `Caller` is refused by the handler.
//!
//! Known limit: bucket ownership is read here and the bucket is used again by the
//! handler; a bucket deleted and re-created by another org between the two reads is not
//! detected (the object service API takes no expected owner).

use crate::actions::{OpRule, Res, rule_for};
use crate::errors::{s3, stamp, to_s3};
use crate::gates::precheck;
use crate::reqid::RequestId;
use crate::wire::{percent_decode, query_pairs};
use coffer_core::Error;
use coffer_core::conn::ConnInfo;
use coffer_core::identity::{IdentityService, ResolvedKey, ct_eq, hash_token};
use coffer_core::model::Bucket;
use coffer_core::objects::ObjectService;
use coffer_core::policy::{PolicyEngine, Subject};
use http::HeaderMap;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::CopySource;
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};
use std::sync::Arc;
use tracing::debug;

const NO_SUCH_KEY_ID: &str = "The AWS Access Key Id you provided does not exist in our records.";

/// `S3Auth`: access key id → secret for SigV4 verification.
pub struct Authenticator {
    identity: Arc<IdentityService>,
}

impl Authenticator {
    pub fn new(identity: Arc<IdentityService>) -> Self {
        Self { identity }
    }
}

#[async_trait::async_trait]
impl S3Auth for Authenticator {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.identity.resolve_access_key(access_key).await {
            Ok(k) => Ok(SecretKey::from(k.secret.as_str())),
            Err(Error::Unauthenticated(why)) => {
                // The key id is not a secret; the reason is logged, not returned, so a
                // caller cannot tell a suspended key from an unknown one.
                debug!(access_key, reason = %why, "s3 authentication refused");
                Err(S3Error::with_message(
                    S3ErrorCode::InvalidAccessKeyId,
                    NO_SUCH_KEY_ID,
                ))
            }
            Err(e) => Err(to_s3(e, RequestId::new().as_str())),
        }
    }
}

/// An authenticated and authorized S3 caller. Only [`AccessControl`] constructs it.
#[derive(Clone)]
pub struct Caller {
    key: Arc<ResolvedKey>,
    request_id: RequestId,
    conn: Option<ConnInfo>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints the secret.
        f.debug_struct("Caller")
            .field("access_key_id", &self.key.key.access_key_id)
            .field("principal", &self.key.key.principal)
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl Caller {
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }
    pub fn org_id(&self) -> &str {
        &self.key.key.org_id
    }
    pub fn principal(&self) -> &str {
        &self.key.key.principal
    }
    pub fn access_key_id(&self) -> &str {
        &self.key.key.access_key_id
    }
    /// The connection the request arrived on, when the listener recorded it.
    pub fn conn(&self) -> Option<ConnInfo> {
        self.conn
    }
    fn subject(&self) -> Subject<'_> {
        // S3 access never uses the org-admin role (admins get no `s3:` permission
        // from it), so `is_org_admin` is false even for an admin's key.
        Subject {
            principal: self.principal(),
            is_org_admin: false,
            anonymous: false,
        }
    }
}

/// Policy decisions and bucket ownership, shared by the access check and the handlers
/// that authorize per key (DeleteObjects).
pub struct Authorizer {
    objects: Arc<ObjectService>,
    policies: Arc<PolicyEngine>,
}

impl Authorizer {
    pub fn new(objects: Arc<ObjectService>, policies: Arc<PolicyEngine>) -> Self {
        Self { objects, policies }
    }

    /// The org-layer decision for `caller` doing `action` on `resource`; a denial is
    /// logged at debug with the deciding statement.
    pub fn allowed(&self, caller: &Caller, action: &str, resource: &str) -> bool {
        let d = self
            .policies
            .decide(caller.org_id(), &caller.subject(), action, resource);
        if !d.allowed {
            debug!(
                request_id = caller.request_id(),
                principal = caller.principal(),
                access_key_id = caller.access_key_id(),
                action,
                resource,
                layer = ?d.decided_by.layer,
                policy = d.decided_by.policy.as_deref().unwrap_or(""),
                statement = d.decided_by.statement.as_deref().unwrap_or(""),
                "s3 request denied"
            );
        }
        d.allowed
    }

    pub fn require(&self, caller: &Caller, action: &str, resource: &str) -> S3Result<()> {
        if self.allowed(caller, action, resource) {
            Ok(())
        } else {
            Err(access_denied(caller.request_id()))
        }
    }

    /// Denies access to a bucket of another org (bucket policies are a later layer) and a
    /// mismatching expected owner. A missing bucket passes: the handler answers
    /// `NoSuchBucket` for it.
    pub async fn check_owner(
        &self,
        caller: &Caller,
        bucket: &str,
        expected_owner: Option<&str>,
    ) -> S3Result<Option<Bucket>> {
        let b = match self.objects.get_bucket(bucket).await {
            Ok(b) => b,
            Err(Error::NoSuchBucket | Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(to_s3(e, caller.request_id())),
        };
        if b.org_id != caller.org_id() {
            debug!(
                request_id = caller.request_id(),
                principal = caller.principal(),
                bucket,
                "s3 request denied: bucket belongs to another org"
            );
            return Err(access_denied(caller.request_id()));
        }
        if let Some(exp) = expected_owner
            && exp != b.org_id
        {
            return Err(access_denied(caller.request_id()));
        }
        Ok(Some(b))
    }
}

fn access_denied(request_id: &str) -> S3Error {
    s3(S3ErrorCode::AccessDenied, "Access Denied", request_id)
}

/// `S3Access`: the per-request gate described in the module docs.
pub struct AccessControl {
    identity: Arc<IdentityService>,
    authz: Arc<Authorizer>,
}

impl AccessControl {
    pub fn new(identity: Arc<IdentityService>, authz: Arc<Authorizer>) -> Self {
        Self { identity, authz }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `x-amz-security-token` header or `X-Amz-Security-Token` query parameter.
fn session_token(uri: &http::Uri, headers: &HeaderMap) -> Option<String> {
    if let Some(v) = header(headers, "x-amz-security-token") {
        return Some(v.to_string());
    }
    query_pairs(uri.query()?)
        .into_iter()
        .find(|(k, _)| k == "X-Amz-Security-Token")
        .map(|(_, v)| percent_decode(&v))
}

/// SPEC §5: a token sent with a request must match the key's; a key with a token also
/// works without one (temporary keys work with id + secret alone).
fn check_session_token(key: &ResolvedKey, sent: Option<&str>) -> Result<(), &'static str> {
    match (sent, key.key.session_token_hash.as_deref()) {
        (None, _) => Ok(()),
        (Some(t), Some(h)) if ct_eq(&hash_token(t), h) => Ok(()),
        (Some(_), _) => Err("The provided token is malformed or otherwise invalid."),
    }
}

/// The target bucket and key of the request path.
fn path_parts(p: &S3Path) -> (Option<&str>, Option<&str>) {
    match p {
        S3Path::Root => (None, None),
        S3Path::Bucket { bucket } => (Some(bucket), None),
        S3Path::Object { bucket, key } => (Some(bucket), Some(key)),
    }
}

/// Source bucket and key of `x-amz-copy-source`.
pub fn copy_source(headers: &HeaderMap, request_id: &str) -> S3Result<(String, String)> {
    let raw = header(headers, "x-amz-copy-source").ok_or_else(|| {
        s3(
            S3ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            request_id,
        )
    })?;
    match CopySource::parse(raw) {
        Ok(CopySource::Bucket { bucket, key, .. }) => Ok((bucket.into(), key.into())),
        Ok(_) => Err(s3(
            S3ErrorCode::NotImplemented,
            "Access point and outpost copy sources are not supported",
            request_id,
        )),
        Err(_) => Err(s3(
            S3ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            request_id,
        )),
    }
}

impl AccessControl {
    async fn authorize(
        &self,
        caller: &Caller,
        rule: &OpRule,
        cx: &S3AccessContext<'_>,
    ) -> S3Result<()> {
        let rid = caller.request_id();
        let (bucket, key) = path_parts(cx.s3_path());
        if rule.requires_org_policy && !self.authz.policies.has_policies(caller.org_id()) {
            debug!(
                request_id = rid,
                org = caller.org_id(),
                "bucket creation without org policy"
            );
            return Err(s3(
                S3ErrorCode::AccessDenied,
                "An organization access policy must exist before a bucket can be created; \
                 create one with POST /v1/cwobject/access-policy",
                rid,
            ));
        }
        let mut source: Option<(String, String)> = None;
        for check in rule.checks {
            let resource = match check.res {
                Res::Global => coffer_core::policy::GLOBAL_RESOURCE.to_string(),
                Res::Bucket => bucket
                    .ok_or_else(|| s3(S3ErrorCode::InvalidRequest, "Missing bucket", rid))?
                    .to_string(),
                Res::Object => match (bucket, key) {
                    (Some(b), Some(k)) => format!("{b}/{k}"),
                    _ => return Err(s3(S3ErrorCode::InvalidRequest, "Missing key", rid)),
                },
                Res::CopySource => {
                    let (b, k) = copy_source(cx.headers(), rid)?;
                    let r = format!("{b}/{k}");
                    source = Some((b, k));
                    r
                }
            };
            self.authz.require(caller, check.action, &resource)?;
        }
        // Ownership after the policy answers: those need no I/O.
        if rule.owner_check
            && let Some(b) = bucket
        {
            let exp = header(cx.headers(), "x-amz-expected-bucket-owner");
            self.authz.check_owner(caller, b, exp).await?;
        }
        if let Some((sb, _)) = &source {
            let exp = header(cx.headers(), "x-amz-source-expected-bucket-owner");
            self.authz.check_owner(caller, sb, exp).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl S3Access for AccessControl {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let request_id = RequestId::of(cx.extensions_mut());
        let rid = request_id.as_str();
        let op = cx.s3_op().name().to_string();

        // Defense in depth: the HTTP layer already ran the gates, unless the bare
        // S3Service is served.
        if let Err(r) = precheck(cx.uri().query(), cx.headers()) {
            debug!(
                request_id = rid,
                op,
                reason = r.message,
                "s3 request rejected"
            );
            return Err(s3(r.code, r.message, rid));
        }

        let Some(creds) = cx.credentials() else {
            // Org policies never allow anonymous requests (SPEC §3); bucket policies,
            // the only layer that could, are not implemented yet.
            debug!(request_id = rid, op, "anonymous s3 request denied");
            return Err(access_denied(rid));
        };

        let key = match self.identity.resolve_access_key(&creds.access_key).await {
            Ok(k) => k,
            // Revoked between signature verification and now.
            Err(Error::Unauthenticated(_)) => {
                return Err(s3(S3ErrorCode::InvalidAccessKeyId, NO_SUCH_KEY_ID, rid));
            }
            Err(e) => return Err(to_s3(e, rid)),
        };

        let token = session_token(cx.uri(), cx.headers());
        if let Err(msg) = check_session_token(&key, token.as_deref()) {
            debug!(request_id = rid, access_key_id = %key.key.access_key_id, "session token mismatch");
            return Err(s3(S3ErrorCode::InvalidToken, msg, rid));
        }

        let Some(rule) = rule_for(&op) else {
            return Err(s3(
                S3ErrorCode::NotImplemented,
                format!("{op} is not implemented"),
                rid,
            ));
        };

        let caller = Caller {
            key,
            request_id: request_id.clone(),
            conn: cx.extensions_mut().get::<ConnInfo>().copied(),
        };
        self.authorize(&caller, rule, cx).await?;
        cx.extensions_mut().insert(caller);
        Ok(())
    }
}

/// The caller attached by [`AccessControl`]; its absence means the access check did not
/// run, which must never let a request through.
pub fn caller_of(ext: &http::Extensions) -> S3Result<&Caller> {
    ext.get::<Caller>().ok_or_else(|| {
        let rid = ext
            .get::<RequestId>()
            .map(|r| r.as_str().to_string())
            .unwrap_or_else(|| RequestId::new().to_string());
        stamp(
            S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied"),
            &rid,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::model::{AccessKey, KeySource, KeyState};
    use std::collections::BTreeMap;

    fn key(hash: Option<&str>) -> ResolvedKey {
        ResolvedKey {
            key: AccessKey {
                access_key_id: "CWAAAAAAAAAAAAAA".into(),
                org_id: "abc123".into(),
                principal: "coreweave/u".into(),
                uid: None,
                secret_enc: vec![],
                attributes: BTreeMap::new(),
                expiry: None,
                state: KeyState::Active,
                source: KeySource::ApiTokenExchange,
                session_token_hash: hash.map(str::to_string),
                created: time::OffsetDateTime::UNIX_EPOCH,
            },
            secret: "s".into(),
        }
    }

    #[test]
    fn session_tokens() {
        let h = hash_token("tok");
        let with = key(Some(&h));
        let without = key(None);
        assert!(check_session_token(&with, Some("tok")).is_ok());
        assert!(check_session_token(&with, None).is_ok());
        assert!(check_session_token(&with, Some("other")).is_err());
        assert!(check_session_token(&without, Some("tok")).is_err());
        assert!(check_session_token(&without, None).is_ok());
    }

    #[test]
    fn session_token_sources() {
        let mut h = HeaderMap::new();
        let uri: http::Uri = "/b/k?X-Amz-Security-Token=a%2Bb&X-Amz-Signature=0"
            .parse()
            .unwrap();
        assert_eq!(session_token(&uri, &h).as_deref(), Some("a+b"));
        h.insert("x-amz-security-token", "hdr".parse().unwrap());
        assert_eq!(session_token(&uri, &h).as_deref(), Some("hdr"));
        let plain: http::Uri = "/b/k".parse().unwrap();
        assert_eq!(session_token(&plain, &HeaderMap::new()), None);
    }

    #[test]
    fn copy_source_header() {
        let mut h = HeaderMap::new();
        assert!(copy_source(&h, "r").is_err());
        h.insert("x-amz-copy-source", "/src-bucket/a%20b/c".parse().unwrap());
        assert_eq!(
            copy_source(&h, "r").unwrap(),
            ("src-bucket".to_string(), "a b/c".to_string())
        );
        h.insert("x-amz-copy-source", "nokey".parse().unwrap());
        assert_eq!(
            copy_source(&h, "r").unwrap_err().code(),
            &S3ErrorCode::InvalidArgument
        );
    }
}
