//! The S3 choke point for authentication and authorization.
//!
//! * [`Authenticator`] (`S3Auth`): s3s asks it for the secret of the access key id in a
//!   SigV4 signature; unknown, suspended, expired and deleted keys are
//!   `InvalidAccessKeyId`.
//! * [`AccessControl`] (`S3Access::check`): runs for every request after s3s verified
//!   the signature (or found none: anonymous requests) and before the handler; it
//!   re-applies the request gates ([`crate::gates`]), checks the session token, builds
//!   the request context (condition keys), looks the operation up in the one action
//!   table ([`crate::actions`]), reads the target bucket(s) once (owner org and policy
//!   text), and asks [`coffer_core::policy::authorize`] every question the table lists;
//!   finally it attaches a [`Caller`] to the request.
//!
//! Request context (SPEC §3), built only from facts this process verified:
//! `aws:SourceIp` is the TCP peer of the connection (`ConnInfo.peer`; forwarded-for
//! headers are not trusted — a trusted-proxy option is future work),
//! `aws:SecureTransport` is whether the listener terminated TLS, identity keys come from
//! the authenticated key, `aws:CurrentTime`/`aws:EpochTime` from the clock,
//! `s3:prefix`/`s3:delimiter`/`s3:max-keys` from the list request's query, and
//! `s3:x-amz-*`, `aws:Referer`, `aws:UserAgent` from request headers (non-identity keys
//! a client chooses anyway).
//!
//! Invariants:
//! * (habit 3) Handlers obtain a [`Caller`] only from the request extensions, and only
//!   this module constructs one, after every check passed. A request without a `Caller`
//!   is refused by the handler.
//! * Decisions never touch the database: the bucket record is read once per request
//!   (it is needed for the owner anyway) and its policy is compiled once per policy text
//!   (the engine's cache); per-key checks (DeleteObjects) reuse both from the `Caller`.
//! * A stored bucket policy that no longer compiles denies every action except the
//!   org-only policy-management actions, so it can always be replaced or deleted.
//!
//! Known limit: the bucket is read here and used again by the handler; a bucket deleted
//! and re-created by another org between the two reads is not detected (the object
//! service API takes no expected owner).

use crate::actions::{OpRule, Res, rule_for, versioned_action};
use crate::audit::{ANONYMOUS_PRINCIPAL, S3AuditSlot};
use crate::errors::{s3, stamp, to_s3};
use crate::gates::precheck;
use crate::reqid::RequestId;
use crate::request_line::{percent_decode, query_pairs};
use coffer_core::Error;
use coffer_core::budget::{self, BudgetPermit, ByteBudget};
use coffer_core::clock::{Clock, SystemClock};
use coffer_core::conn::ConnInfo;
use coffer_core::identity::{IdentityService, ResolvedKey, ct_eq, hash_token};
use coffer_core::meta::MetaStore;
use coffer_core::model::Bucket;
use coffer_core::objects::ObjectService;
use coffer_core::policy::{
    BucketPolicy, BucketPolicyService, BucketPolicyState, BucketTarget, ContextKey, Decision,
    Layer, ObjectFacts, PolicyEngine, RequestContext, authorize, is_statement_deny,
    wants_object_facts,
};
use http::HeaderMap;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::CopySource;
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};
use std::sync::Arc;
use tracing::{debug, error};

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
        let k = active_key(&self.identity, access_key, RequestId::new().as_str()).await?;
        Ok(SecretKey::from(k.secret.as_str()))
    }
}

/// The usable key `id`; `InvalidAccessKeyId` with one message for unknown, suspended,
/// expired and revoked keys alike (the key id is not a secret: the reason is logged, not
/// returned, so a caller cannot tell a suspended key from an unknown one).
pub(crate) async fn active_key(
    identity: &IdentityService,
    id: &str,
    rid: &str,
) -> S3Result<Arc<ResolvedKey>> {
    match identity.resolve_access_key(id).await {
        Ok(k) => Ok(k),
        Err(Error::Unauthenticated(why)) => {
            debug!(request_id = rid, access_key = id, reason = %why, "s3 authentication refused");
            Err(s3(S3ErrorCode::InvalidAccessKeyId, NO_SUCH_KEY_ID, rid))
        }
        Err(e) => Err(to_s3(e, rid)),
    }
}

/// The policy state of a bucket as read for one request.
#[derive(Debug, Clone)]
enum PolicyState {
    None,
    Compiled(Arc<BucketPolicy>),
    /// The stored text does not compile: fail closed (module docs).
    Broken,
}

/// An existing bucket a request targets: its owner and policy, read once per request.
#[derive(Debug, Clone)]
pub struct Target {
    /// The record as read for the access check; handlers reuse it rather than read it
    /// again (`Caller::bucket_record`).
    record: Arc<Bucket>,
    policy: PolicyState,
}

impl Target {
    /// The bucket as the decision sees it (object facts unknown).
    fn bucket_target(&self) -> BucketTarget<'_> {
        BucketTarget::of(
            &self.record,
            match &self.policy {
                PolicyState::Compiled(p) => BucketPolicyState::Present(p),
                PolicyState::None => BucketPolicyState::Absent,
                PolicyState::Broken => BucketPolicyState::Invalid,
            },
        )
    }
    pub fn name(&self) -> &str {
        &self.record.name
    }
    pub fn owner_org(&self) -> &str {
        &self.record.org_id
    }
}

/// An authorized S3 caller (authenticated, or anonymous and allowed by a bucket
/// policy). Only [`AccessControl`] constructs it.
#[derive(Clone)]
pub struct Caller {
    /// `None` for anonymous requests.
    key: Option<Arc<ResolvedKey>>,
    request_id: RequestId,
    conn: Option<ConnInfo>,
    ctx: Arc<RequestContext>,
    /// The bucket of the request path, when it exists and the operation is about it.
    target: Option<Arc<Target>>,
    /// Where the decisions are noted for the request's audit event.
    audit: Option<S3AuditSlot>,
    /// The object versions whose own ACL admitted this request (see [`Admitted`]).
    admitted: Vec<Admitted>,
}

/// An object version whose ACL admitted a request. The handler must act on that version
/// or refuse: another version of the key (written between the check and the handler)
/// has its own ACL, which was not consulted. Versions are told apart by ETag and
/// modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub last_modified: time::OffsetDateTime,
}

impl Admitted {
    /// Whether `rec` is the version that was admitted.
    pub fn is(&self, rec: &coffer_core::model::ObjectRecord) -> bool {
        self.etag == rec.etag && self.last_modified == rec.last_modified
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints the secret.
        f.debug_struct("Caller")
            .field("access_key_id", &self.access_key_id())
            .field("principal", &self.principal())
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl Caller {
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }
    /// The caller's own org; empty for anonymous requests.
    pub fn org_id(&self) -> &str {
        self.key.as_ref().map_or("", |k| &k.key.org_id)
    }
    /// `coreweave/<uid>`, `role/…`, or [`ANONYMOUS_PRINCIPAL`].
    pub fn principal(&self) -> &str {
        self.key
            .as_ref()
            .map_or(ANONYMOUS_PRINCIPAL, |k| &k.key.principal)
    }
    /// Empty for anonymous requests.
    pub fn access_key_id(&self) -> &str {
        self.key.as_ref().map_or("", |k| &k.key.access_key_id)
    }
    pub fn is_anonymous(&self) -> bool {
        self.key.is_none()
    }
    /// The connection the request arrived on, when the listener recorded it.
    pub fn conn(&self) -> Option<ConnInfo> {
        self.conn
    }
    /// The request context the decision used (condition keys).
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }
    /// The record of `bucket` as the access check read it, when it is this request's
    /// target: a handler passes it on instead of reading the bucket a second time.
    pub fn bucket_record(&self, bucket: &str) -> Option<Arc<Bucket>> {
        self.target
            .as_ref()
            .filter(|t| t.name() == bucket)
            .map(|t| t.record.clone())
    }
    /// The version of `bucket/key` whose ACL admitted this request, if an object ACL
    /// did (the handler must act on exactly that version).
    pub fn admitted(&self, bucket: &str, key: &str) -> Option<&Admitted> {
        self.admitted
            .iter()
            .find(|a| a.bucket == bucket && a.key == key)
    }
    /// The org that owns the target bucket (listings report it as the owner); the
    /// caller's org when there is no target bucket.
    pub fn bucket_owner(&self) -> &str {
        match &self.target {
            Some(t) => t.owner_org(),
            None => self.org_id(),
        }
    }
}

/// Policy decisions and bucket reads, shared by the access check and the handlers that
/// authorize per key (DeleteObjects) or manage bucket policies.
pub struct Authorizer {
    objects: Arc<ObjectService>,
    policies: Arc<PolicyEngine>,
    bucket_policies: Arc<BucketPolicyService>,
    clock: Arc<dyn Clock>,
}

impl Authorizer {
    /// `meta` is the store bucket policies are written to (the bucket records).
    pub fn new(
        objects: Arc<ObjectService>,
        policies: Arc<PolicyEngine>,
        meta: Arc<dyn MetaStore>,
    ) -> Self {
        let bucket_policies = Arc::new(BucketPolicyService::new(meta, policies.clone()));
        Self {
            objects,
            policies,
            bucket_policies,
            clock: Arc::new(SystemClock),
        }
    }

    /// The clock for `aws:CurrentTime` / `aws:EpochTime` (default: the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn bucket_policies(&self) -> &BucketPolicyService {
        &self.bucket_policies
    }

    /// Reads `bucket` (owner, compiled policy); `None` if it does not exist.
    async fn target(&self, bucket: &str, rid: &str) -> S3Result<Option<Arc<Target>>> {
        let b = match self.objects.get_bucket(bucket).await {
            Ok(b) => b,
            Err(Error::NoSuchBucket | Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(to_s3(e, rid)),
        };
        let policy = match self.bucket_policies.compiled(&b) {
            Ok(Some(p)) => PolicyState::Compiled(p),
            Ok(None) => PolicyState::None,
            Err(e) => {
                error!(
                    request_id = rid,
                    bucket,
                    reason = %e,
                    "stored bucket policy does not compile; denying all but policy management"
                );
                PolicyState::Broken
            }
        };
        Ok(Some(Arc::new(Target {
            record: Arc::new(b),
            policy,
        })))
    }

    /// The combined decision (org layer, then bucket layer) for `caller` doing `action`
    /// on `resource`, whose bucket is `target` (`None`: global or missing bucket).
    fn decide(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        target: Option<&Target>,
        object: ObjectFacts<'_>,
    ) -> Decision {
        let bucket = target.map(|t| t.bucket_target().with_object(object));
        authorize(&self.policies, &caller.ctx, action, resource, bucket)
    }

    /// Requires `action` on `resource`. `object`: the key (and version) an object-level
    /// check is about; its record is read only when the decision is a denial that an
    /// object ACL could turn ([`wants_object_facts`]), or that a lister gets told about.
    ///
    /// 404 for listers (S3): a denied read of an object that does not exist answers
    /// its 404 (`NoSuchKey`, `NoSuchVersion`) instead of 403 when the caller may list
    /// the bucket with that key as `s3:prefix`, which tells it no more than a listing
    /// would. Anyone else gets 403 whether or not the key exists.
    async fn require_in(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        target: Option<&Target>,
        object: Option<(&str, Option<&str>)>,
    ) -> S3Result<Option<Admitted>> {
        let rid = caller.request_id();
        let mut d = self.decide(caller, action, resource, target, ObjectFacts::Unknown);
        // The object as read: `Some(Err(_))` when it does not exist.
        let mut read: Option<Result<coffer_core::model::ObjectRecord, Error>> = None;
        if !d.allowed
            && !is_statement_deny(&d)
            && let (Some(t), Some((key, version))) = (target, object)
        {
            let load = || async {
                match self.objects.object_record(t.name(), key, version).await {
                    Ok(r) => Ok(Ok(r)),
                    Err(
                        e @ (Error::NoSuchKey
                        | Error::NoSuchVersion
                        | Error::NotFound(_)
                        | Error::DeleteMarker { .. }
                        | Error::InvalidArgument(_)),
                    ) => Ok(Err(e)),
                    Err(e) => Err(to_s3(e, rid)),
                }
            };
            if wants_object_facts(action, resource, &t.bucket_target()) {
                let r = load().await?;
                d = self.decide(
                    caller,
                    action,
                    resource,
                    target,
                    ObjectFacts::of(r.as_ref().ok()),
                );
                read = Some(r);
            }
            if !d.allowed && is_object_read(action) && self.may_list_key(caller, t, key, version) {
                let r = match read.take() {
                    Some(r) => r,
                    None => load().await?,
                };
                if let Err(missing) = r {
                    if let Some(slot) = &caller.audit {
                        slot.decided(&d);
                    }
                    // A delete marker's version id is not the lister's to learn.
                    let missing = match missing {
                        Error::DeleteMarker { by_id: false, .. } => Error::NoSuchKey,
                        e => e,
                    };
                    return Err(to_s3(missing, rid));
                }
            }
        }
        if let Some(slot) = &caller.audit {
            slot.decided(&d);
        }
        if d.allowed {
            // Admitted by the object's own ACL: bound to the version read.
            let admitted = match (&read, d.decided_by.layer) {
                (Some(Ok(rec)), Layer::Acl) => Some(Admitted {
                    bucket: rec.bucket.clone(),
                    key: rec.key.clone(),
                    etag: rec.etag.clone(),
                    last_modified: rec.last_modified,
                }),
                _ => None,
            };
            return Ok(admitted);
        }
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
        Err(access_denied(caller.request_id()))
    }

    /// Whether `caller` may list bucket `t` with `key` as the prefix: its current keys,
    /// or its versions when a `version` is asked for.
    fn may_list_key(&self, caller: &Caller, t: &Target, key: &str, version: Option<&str>) -> bool {
        let mut ctx = (*caller.ctx).clone();
        ctx.set(ContextKey::S3Prefix, key);
        authorize(
            &self.policies,
            &ctx,
            if version.is_some() {
                S3_LIST_BUCKET_VERSIONS
            } else {
                S3_LIST_BUCKET
            },
            t.name(),
            Some(t.bucket_target()),
        )
        .allowed
    }

    /// The decision for `caller` doing `action` on `resource` inside the request's
    /// target bucket (per-key checks); no I/O. A resource outside the target bucket is
    /// denied.
    pub fn allowed(&self, caller: &Caller, action: &str, resource: &str) -> bool {
        let bucket = resource.split('/').next().unwrap_or("");
        let target = caller.target.as_deref().filter(|t| t.name() == bucket);
        if target.is_none() && caller.target.is_some() {
            return false;
        }
        let d = self.decide(caller, action, resource, target, ObjectFacts::Unknown);
        if !d.allowed {
            debug!(
                request_id = caller.request_id(),
                principal = caller.principal(),
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

    /// Forgets the cached policy of a deleted bucket.
    pub fn bucket_deleted(&self, bucket: &str) {
        self.policies.forget_bucket_policy(bucket);
    }
}

fn access_denied(request_id: &str) -> S3Error {
    s3(S3ErrorCode::AccessDenied, "Access Denied", request_id)
}

/// `S3Access`: the per-request gate described in the module docs.
pub struct AccessControl {
    identity: Arc<IdentityService>,
    authz: Arc<Authorizer>,
    /// Request bytes parsed whole (`coffer_core::budget`).
    budget: ByteBudget,
}

impl AccessControl {
    pub fn new(identity: Arc<IdentityService>, authz: Arc<Authorizer>, budget: ByteBudget) -> Self {
        Self {
            identity,
            authz,
            budget,
        }
    }
}

/// A request's reservation of buffered bytes, held in its extensions until the handler's
/// request is dropped.
#[derive(Clone)]
struct Reserved {
    _permit: Arc<BudgetPermit>,
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

/// Source bucket, key and version of `x-amz-copy-source`.
fn copy_source_version(
    headers: &HeaderMap,
    request_id: &str,
) -> S3Result<(String, String, Option<String>)> {
    let (b, k) = copy_source(headers, request_id)?;
    let v = match header(headers, "x-amz-copy-source").map(CopySource::parse) {
        Some(Ok(CopySource::Bucket {
            version_id: Some(v),
            ..
        })) => Some(v.to_string()),
        _ => None,
    };
    Ok((b, k, v))
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

/// Whether `x-amz-copy-source` names a version (`…?versionId=…`).
fn copy_source_names_version(headers: &HeaderMap) -> bool {
    matches!(
        header(headers, "x-amz-copy-source").map(CopySource::parse),
        Some(Ok(CopySource::Bucket {
            version_id: Some(_),
            ..
        }))
    )
}

/// The request query's `versionId` (any value: a malformed id is refused by the
/// handler, after authorization, like S3).
fn query_version(query: Option<&str>) -> Option<String> {
    query
        .map(query_pairs)?
        .into_iter()
        .find(|(k, _)| k == "versionId")
        .map(|(_, v)| percent_decode(&v))
}

const S3_LIST_BUCKET: &str = "s3:ListBucket";
const S3_LIST_BUCKET_VERSIONS: &str = "s3:ListBucketVersions";

/// The actions of GET and HEAD of an object (404 for listers applies to them).
fn is_object_read(action: &str) -> bool {
    action.eq_ignore_ascii_case("s3:GetObject")
        || action.eq_ignore_ascii_case("s3:GetObjectVersion")
}

/// Operations whose query carries `prefix`/`delimiter` (and `max-keys`) that
/// `s3:prefix`, `s3:delimiter` (and `s3:max-keys`) describe.
const LIST_OPS: &[&str] = &[
    "ListObjects",
    "ListObjectsV2",
    "ListMultipartUploads",
    "ListObjectVersions",
];

/// Request headers exposed as condition keys.
const HEADER_KEYS: &[(&str, ContextKey)] = &[
    ("referer", ContextKey::Referer),
    ("user-agent", ContextKey::UserAgent),
    ("x-amz-acl", ContextKey::S3XAmzAcl),
    ("x-amz-content-sha256", ContextKey::S3XAmzContentSha256),
    ("x-amz-copy-source", ContextKey::S3XAmzCopySource),
    (
        "x-amz-metadata-directive",
        ContextKey::S3XAmzMetadataDirective,
    ),
    ("x-amz-storage-class", ContextKey::S3XAmzStorageClass),
    ("x-amz-grant-read", ContextKey::S3XAmzGrantRead),
    ("x-amz-grant-write", ContextKey::S3XAmzGrantWrite),
    ("x-amz-grant-read-acp", ContextKey::S3XAmzGrantReadAcp),
    ("x-amz-grant-write-acp", ContextKey::S3XAmzGrantWriteAcp),
    (
        "x-amz-grant-full-control",
        ContextKey::S3XAmzGrantFullControl,
    ),
    ("x-amz-object-ownership", ContextKey::S3XAmzObjectOwnership),
    (
        "x-amz-server-side-encryption",
        ContextKey::S3XAmzServerSideEncryption,
    ),
    (
        "x-amz-server-side-encryption-customer-algorithm",
        ContextKey::S3XAmzServerSideEncryptionCustomerAlgorithm,
    ),
    (
        "x-amz-server-side-encryption-aws-kms-key-id",
        ContextKey::S3XAmzServerSideEncryptionAwsKmsKeyId,
    ),
];

/// The condition-key values of one request (module docs).
fn request_context(
    key: Option<&ResolvedKey>,
    r: &AccessRequest<'_>,
    now: time::OffsetDateTime,
) -> RequestContext {
    let op = r.op;
    let mut ctx = match key {
        // S3 never uses the org-admin role (admins get no `s3:` permission from it).
        Some(k) => RequestContext::for_principal(&k.key.org_id, &k.key.principal, false, now),
        None => RequestContext::anonymous(now),
    };
    if let Some(c) = r.conn {
        ctx = ctx
            .with_source_ip(c.peer.ip())
            .with_secure_transport(c.secure);
    }
    for (name, k) in HEADER_KEYS {
        // A form upload applies its fields, not its headers: the `x-amz-*` keys come
        // from the fields of that name (the canned ACL also from `acl`).
        let v = match r.form_fields {
            Some(fields) if name.starts_with("x-amz-") => fields
                .iter()
                .find(|(n, _)| n == name || (*k == ContextKey::S3XAmzAcl && n == "acl"))
                .map(|(_, v)| v.as_str()),
            _ => header(r.headers, name),
        };
        if let Some(v) = v {
            ctx.set(*k, v);
        }
    }
    let pairs = r.uri.query().map(query_pairs).unwrap_or_default();
    if key.is_some() {
        let presigned = pairs.iter().any(|(k, _)| k == "X-Amz-Signature");
        let auth_type = match r.form_fields {
            Some(_) => "POST",
            None if presigned => "REST-QUERY-STRING",
            None => "REST-HEADER",
        };
        ctx.set(ContextKey::S3AuthType, auth_type);
        ctx.set(ContextKey::S3SignatureVersion, "AWS4-HMAC-SHA256");
    }
    if LIST_OPS.contains(&op) {
        // Decoded like s3s decodes the query (form encoding: `+` is a space).
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| percent_decode(&v.replace('+', " ")))
        };
        if let Some(v) = value("prefix") {
            ctx.set(ContextKey::S3Prefix, &v);
        }
        if let Some(v) = value("delimiter") {
            ctx.set(ContextKey::S3Delimiter, &v);
        }
        if op != "ListMultipartUploads"
            && let Some(v) = value("max-keys")
        {
            ctx.set(ContextKey::S3MaxKeys, &v);
        }
    }
    ctx
}

impl AccessControl {
    /// Runs every check of `rule` and records the target bucket in the caller.
    async fn authorize(
        &self,
        caller: &mut Caller,
        rule: &OpRule,
        r: &AccessRequest<'_>,
    ) -> S3Result<()> {
        let rid = caller.request_id().to_string();
        let rid = rid.as_str();
        let (bucket, key) = (r.bucket, r.key);
        if rule.requires_org_policy && caller.is_anonymous() {
            return Err(access_denied(rid));
        }
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
        // The path's bucket is read once, when the operation is about an existing
        // bucket (not CreateBucket / ListBuckets).
        let target = match bucket {
            Some(b) if rule.owner_check => self.authz.target(b, rid).await?,
            _ => None,
        };
        if let (Some(slot), Some(t)) = (&caller.audit, &target) {
            let audit = t.record.settings.audit_logging;
            slot.with(|f| f.bucket_record = Some((t.owner_org().to_string(), audit)));
        }
        let mut source: Option<Arc<Target>> = None;
        if caller.is_anonymous()
            && let Some(action) = rule.per_key
            && !target
                .as_deref()
                .is_some_and(|t| anonymous_may_be_allowed(t, &caller.ctx, action))
        {
            // The per-key checks run after the body is parsed: an anonymous caller whom
            // no bucket-policy statement could allow is refused before it is read.
            debug!(
                request_id = rid,
                op = rule.op,
                "anonymous request no statement allows"
            );
            return Err(access_denied(rid));
        }
        let query_version = query_version(r.uri.query());
        let version_in_query = query_version.is_some();
        for check in rule.checks {
            let action = match check.res {
                Res::Object if version_in_query => versioned_action(check.action),
                Res::CopySource if copy_source_names_version(r.headers) => {
                    versioned_action(check.action)
                }
                _ => check.action,
            };
            let (resource, t, object) = match check.res {
                Res::Global => (coffer_core::policy::GLOBAL_RESOURCE.to_string(), None, None),
                Res::Bucket => (
                    bucket
                        .ok_or_else(|| s3(S3ErrorCode::InvalidRequest, "Missing bucket", rid))?
                        .to_string(),
                    target.as_deref(),
                    None,
                ),
                Res::Object => match (bucket, key) {
                    (Some(b), Some(k)) => (
                        format!("{b}/{k}"),
                        target.as_deref(),
                        Some((k.to_string(), query_version.clone())),
                    ),
                    _ => return Err(s3(S3ErrorCode::InvalidRequest, "Missing key", rid)),
                },
                Res::CopySource => {
                    let (b, k, v) = copy_source_version(r.headers, rid)?;
                    source = self.authz.target(&b, rid).await?;
                    let resource = format!("{b}/{k}");
                    (resource, source.as_deref(), Some((k, v)))
                }
                Res::RenameSource => {
                    let b = bucket
                        .ok_or_else(|| s3(S3ErrorCode::InvalidRequest, "Missing bucket", rid))?;
                    let k = crate::request_line::same_bucket_source(r.headers, b, rid)?;
                    (format!("{b}/{k}"), target.as_deref(), Some((k, None)))
                }
            };
            let object = object.as_ref().map(|(k, v)| (k.as_str(), v.as_deref()));
            if let Some(a) = self
                .authz
                .require_in(caller, action, &resource, t, object)
                .await?
            {
                caller.admitted.push(a);
            }
        }
        // Expected-owner headers: a mismatch is AccessDenied, like S3.
        let owner_mismatch = |t: &Option<Arc<Target>>, h: &str| {
            header(r.headers, h)
                .zip(t.as_deref())
                .is_some_and(|(exp, t)| exp != t.owner_org())
        };
        if owner_mismatch(&target, "x-amz-expected-bucket-owner")
            || owner_mismatch(&source, "x-amz-source-expected-bucket-owner")
        {
            debug!(request_id = rid, "expected bucket owner mismatch");
            return Err(access_denied(rid));
        }
        caller.target = target;
        Ok(())
    }
}

/// One request as the access check sees it, however it arrived (s3s's access hook, or
/// a form upload parsed by [`crate::post_object`]).
pub(crate) struct AccessRequest<'a> {
    /// The operation's name in the action table ([`crate::actions`]).
    pub op: &'a str,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    pub uri: &'a http::Uri,
    pub headers: &'a HeaderMap,
    /// The access key id whose signature verified; `None`: anonymous.
    pub access_key: Option<&'a str>,
    /// A form upload's fields (lower-cased names): the session token travels there.
    pub form_fields: Option<&'a [(String, String)]>,
    pub conn: Option<ConnInfo>,
    pub request_id: RequestId,
    pub audit: Option<S3AuditSlot>,
    /// The request came through the console mount.
    pub mounted: bool,
    /// The HTTP layer already ran the gates ([`crate::gates::Prechecked`]).
    pub prechecked: bool,
}

impl AccessControl {
    /// Authenticates the verified key (still active, session token), authorizes the
    /// operation's rule, and returns the [`Caller`] handlers act as.
    pub(crate) async fn admit(&self, r: AccessRequest<'_>) -> S3Result<Caller> {
        let rid = r.request_id.as_str();
        if let Some(slot) = &r.audit {
            slot.with(|f| {
                f.op = Some(r.op.to_string());
                f.bucket = r.bucket.map(str::to_string);
                f.key = r.key.map(str::to_string);
                f.access_key_id = r.access_key.map(str::to_string);
            });
        }

        // The gates, unless the HTTP layer ran them (it did, unless the bare S3Service is
        // served).
        if !r.prechecked
            && let Err(e) = precheck(r.uri.query(), r.headers, r.mounted)
        {
            debug!(
                request_id = rid,
                op = r.op,
                reason = e.message,
                "s3 request rejected"
            );
            return Err(s3(e.code, e.message, rid));
        }

        // Anonymous requests go through the same evaluation with an anonymous subject:
        // only a bucket policy with Principal "*" can allow them (SPEC §3).
        let key = match r.access_key {
            None => None,
            // Again: it may have been revoked since its signature verified.
            Some(id) => Some(active_key(&self.identity, id, rid).await?),
        };

        if let (Some(slot), Some(k)) = (&r.audit, &key) {
            slot.with(|f| f.principal = Some((k.key.org_id.clone(), k.key.principal.clone())));
        }
        if let Some(k) = &key {
            let token = match r.form_fields {
                Some(fields) => fields
                    .iter()
                    .find(|(n, _)| n == "x-amz-security-token")
                    .map(|(_, v)| v.clone()),
                None => session_token(r.uri, r.headers),
            };
            if let Err(msg) = check_session_token(k, token.as_deref()) {
                debug!(request_id = rid, access_key_id = %k.key.access_key_id, "session token mismatch");
                return Err(s3(S3ErrorCode::InvalidToken, msg, rid));
            }
        }

        let Some(rule) = rule_for(r.op) else {
            return Err(s3(
                S3ErrorCode::NotImplemented,
                format!("{} is not implemented", r.op),
                rid,
            ));
        };

        let ctx = request_context(key.as_deref(), &r, self.authz.clock.now());
        let mut caller = Caller {
            key,
            request_id: r.request_id.clone(),
            conn: r.conn,
            ctx: Arc::new(ctx),
            target: None,
            audit: r.audit.clone(),
            admitted: Vec::new(),
        };
        self.authorize(&mut caller, rule, &r).await?;
        Ok(caller)
    }
}

/// Whether some `Allow` statement of the bucket's policy could allow an anonymous
/// caller `action` on some key (resources and conditions not considered), or the
/// bucket's ACL grants it to AllUsers (the per-key actions are bucket-ACL actions).
fn anonymous_may_be_allowed(t: &Target, ctx: &RequestContext, action: &'static str) -> bool {
    let by_policy = match &t.policy {
        PolicyState::Compiled(p) => {
            p.may_allow(ctx, t.owner_org(), action)
                || p.may_allow(ctx, t.owner_org(), versioned_action(action))
        }
        PolicyState::None | PolicyState::Broken => false,
    };
    let by_acl = || {
        let Some(facts) = t.bucket_target().acls else {
            return false;
        };
        let Some(p) = coffer_core::acl::permission_for(action, coffer_core::acl::Level::Bucket)
        else {
            return false;
        };
        !facts.ignore_public_acls
            && facts
                .bucket_acl
                .is_some_and(|acl| acl.grants_to(None, p).is_some())
    };
    by_policy || by_acl()
}

#[async_trait::async_trait]
impl S3Access for AccessControl {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let request_id = RequestId::of(cx.extensions_mut());
        let mut op = cx.s3_op().name().to_string();
        // RenameObject is unknown to s3s, which routes it as PutObject.
        if crate::request_line::is_rename(cx.uri().query()) {
            if op != "PutObject" {
                return Err(s3(
                    S3ErrorCode::InvalidRequest,
                    "renameObject cannot be combined with this request",
                    request_id.as_str(),
                ));
            }
            op = "RenameObject".to_string();
        }
        let audit = cx.extensions_mut().get::<S3AuditSlot>().cloned();
        let conn = cx.extensions_mut().get::<ConnInfo>().copied();
        let mounted = cx
            .extensions_mut()
            .get::<crate::resign::SignedPath>()
            .is_some();
        let prechecked = cx
            .extensions_mut()
            .get::<crate::gates::Prechecked>()
            .is_some();
        let access_key = cx.credentials().map(|c| c.access_key.clone());
        let (bucket, key) = path_parts(cx.s3_path());
        let bound =
            crate::body::buffered_bound(cx.method(), key.is_some(), cx.uri().query(), cx.headers());
        let caller = self
            .admit(AccessRequest {
                op: &op,
                bucket,
                key,
                uri: cx.uri(),
                headers: cx.headers(),
                access_key: access_key.as_deref(),
                form_fields: None,
                conn,
                request_id,
                audit,
                mounted,
                prechecked,
            })
            .await?;
        // The body s3s reads whole once this check passes: reserved now that the caller
        // is known and allowed, in its org's name.
        let owner = if caller.is_anonymous() {
            budget::UNAUTHENTICATED
        } else {
            caller.org_id()
        };
        let permit = self
            .budget
            .reserve(owner, bound)
            .map_err(|e| to_s3(e, caller.request_id()))?;
        cx.extensions_mut().insert(Reserved {
            _permit: Arc::new(permit),
        });
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
