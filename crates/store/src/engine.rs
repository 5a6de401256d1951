//! The seam between the store's rules and a database engine. An [`Engine`] runs a rule
//! in one write transaction or one read, on a transaction type that implements every
//! row seam the rules need ([`Seams`]); `meta::Meta` writes each `MetaStore` operation
//! once against it. An engine supplies its connections, its transaction machinery
//! (SQLite: the group-committing writer thread; PostgreSQL: the retried transaction)
//! and the SQL of the seams' operations, nothing else.
//!
//! Invariants:
//! * A rule may run more than once (PostgreSQL retries a transaction from the start after
//!   a serialization failure); only the attempt whose transaction commits has effects, so
//!   a rule's arguments must be safe to reuse (`buckets::EditOnce` shows how).
//! * A rule's error is the engine's (`Engine::Err`): the domain's `Error`, or a database
//!   error the engine may retry.

use crate::identities::IdentityTx;
use crate::listings::ListTx;
use crate::objects::ObjectTx;
use coffer_core::{Error, Result};
use std::future::Future;
use std::pin::Pin;

/// A rule's future, borrowing the transaction and its arguments.
pub(crate) type Fut<'t, T, E> =
    Pin<Box<dyn Future<Output = std::result::Result<T, E>> + Send + 't>>;

/// A rule as an engine runs it: the transaction, then the arguments (owned by the engine
/// for the whole run, lent to each attempt).
pub(crate) type Rule<E, A, T> =
    for<'t> fn(&'t mut <E as Engine>::Tx<'t>, &'t mut A) -> Fut<'t, T, <E as Engine>::Err>;

/// How a read runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Read {
    /// One statement: no transaction of its own.
    One,
    /// Several statements that must see one snapshot.
    Snapshot,
}

/// Every seam, as one bound.
pub(crate) trait Seams: ObjectTx + IdentityTx + ListTx {}
impl<X: ObjectTx + IdentityTx + ListTx> Seams for X {}

pub(crate) trait Engine: Send + Sync + 'static {
    /// A rule's error: `Error`, or the engine's own (retryable) database error.
    type Err: From<Error> + Send;
    /// A transaction (or a read connection) as the rules see it.
    type Tx<'c>: Seams<Err = Self::Err> + Send;
    /// Whether the engine keeps the audit outbox (`MetaStore::has_audit_outbox`).
    const AUDIT_OUTBOX: bool;

    /// Runs `rule` in one write transaction; resolves once it committed (durably).
    /// `what` names the operation in error messages.
    fn write<A, T>(
        &self,
        what: &'static str,
        args: A,
        rule: Rule<Self, A, T>,
    ) -> impl Future<Output = Result<T>> + Send
    where
        A: Send + 'static,
        T: Send + 'static;

    /// Runs `rule` as a read (`how`).
    fn read<A, T>(
        &self,
        how: Read,
        what: &'static str,
        args: A,
        rule: Rule<Self, A, T>,
    ) -> impl Future<Output = Result<T>> + Send
    where
        A: Send + 'static,
        T: Send + 'static;
}

/// A statement argument.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Str(String),
    /// An object key: text to SQLite, bytes to PostgreSQL (its key columns are `bytea`,
    /// ordered byte-wise).
    Key(String),
    OptStr(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
}

impl Val {
    pub(crate) fn key(k: &str) -> Self {
        Val::Key(k.to_string())
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Str(s.to_string())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Str(s)
    }
}

impl From<i64> for Val {
    fn from(n: i64) -> Self {
        Val::Int(n)
    }
}

impl From<u32> for Val {
    fn from(n: u32) -> Self {
        Val::Int(i64::from(n))
    }
}

/// Every statement the store runs but the listing scans. Their SQL is written once
/// (`sql::sql`); arguments are numbered in the order listed, and a statement issued
/// through `DocTx::docs` returns one text column (`ints`: integer columns,
/// `seq_docs`: a sequence number and a document; the typed seams read their own rows). "Holds" and "locks" take the row lock (shared or exclusive) that engines
/// with concurrent writers need until the transaction ends; SQLite's single writer needs
/// none.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Stmt {
    /// Takes the lock that serializes bootstraps (no rows needed).
    LockBootstrap,
    /// Any org: the database has been bootstrapped.
    AnyOrg,
    /// org_id, doc; inserts nothing when taken.
    InsertOrg,
    /// org_id.
    GetOrg,
    ListOrgs,
    /// org_id, doc.
    UpdateOrg,
    /// uid, org_id, doc; nothing when taken.
    InsertUser,
    /// uid.
    GetUser,
    /// org_id.
    ListUsers,
    /// token_id, token_hash, uid, org_id, doc; nothing when taken.
    InsertToken,
    /// token_hash.
    GetTokenByHash,
    /// node_id, name, credential_hash, doc; nothing when the id or name is taken.
    InsertCacheNode,
    /// credential_hash.
    GetCacheNodeByHash,
    ListCacheNodes,
    /// node_id.
    DeleteCacheNode,
    /// org_id.
    ListTokens,
    /// token_id.
    DeleteToken,
    /// access_key_id.
    GetKey,
    /// Access keys of an org, in creation order: org_id, now (unix ns), limit, offset,
    /// one statement per status filter (the rule of `KeyListing::matches`).
    KeysAll,
    KeysActive,
    KeysExpired,
    KeysSuspended,
    KeysDeleted,
    /// org_id.
    ListPolicies,
    ListAllPolicies,
    /// org_id.
    GetOrgSettings,
    /// org_id, doc; inserts or replaces.
    PutOrgSettings,
    /// name, org_id, doc, versioning code; nothing when taken.
    InsertBucket,
    /// name.
    GetBucket,
    /// org_id.
    ListBuckets,
    /// upload_id.
    GetUpload,
    /// config_id, org_id, kind, doc; nothing when taken.
    InsertFederation,
    /// config_id, org_id, kind, doc.
    UpdateFederation,
    /// config_id, org_id, kind.
    GetFederation,
    /// org_id, kind; in creation order.
    ListFederation,
    /// config_id, org_id, kind.
    DeleteFederation,
    /// horizon (unix ns): forgets assertion ids expired by then.
    PurgeAssertions,
    /// org_id, assertion_id, expires, now: inserts, or takes over an expired entry; a
    /// live entry stays (a replay) and nothing changes.
    RecordAssertion,
    /// Blob ids referenced by current objects, versions (space-separated lists) and parts.
    ObjectBlobs,
    VersionBlobs,
    PartBlobs,

    // ---- object rows (`objects`) ----
    /// bucket, key: size, etag, last modified, version id, doc, inline data
    /// (`ObjectTx::current`).
    Current,
    /// bucket, key, size, etag, last modified, blob ids, doc, inline data, version id:
    /// inserts or replaces the key's current object (`ObjectTx::upsert_current`).
    UpsertCurrent,
    /// bucket, key, version id: seq, delete marker, size, doc, inline data
    /// (`ObjectTx::find_version`).
    FindVersion,
    /// bucket, key, version id (`null` when none): doc, inline data of the current
    /// object if it has that version id (`ListTx::current_of_version`).
    CurrentOfVersion,
    /// bucket: usage bytes, usage objects, versioning code; locks the bucket's row (what
    /// object writers check after it holds at commit).
    LockBucket,
    /// bucket: usage bytes, usage objects (no lock: reads).
    Usage,
    /// bucket, key: the seq of the key's newest noncurrent version, and 1 if it is a
    /// delete marker (else 0).
    NewestVersion,
    /// bucket, bytes, objects: the bucket's usage counters.
    SetUsage,
    /// bucket, key: selects a row if the key has a current object.
    HasCurrent,
    /// bucket, key.
    DeleteCurrent,
    /// bucket, key: copies the current object into `object_versions` as the key's newest
    /// version (version id `null` when it has none); the caller then deletes it.
    RetireCurrent,
    /// bucket, src, dst, doc: gives the current object of `src` the key `dst`.
    RenameCurrent,
    /// seq.
    DeleteVersion,
    /// seq: copies the object version back into `objects` as its key's current object;
    /// the caller then deletes the version.
    PromoteVersion,
    /// bucket, key, version id, last modified (unix ns), doc.
    InsertMarker,

    // ---- uploads and parts (`multipart`, `listings`) ----
    /// name: selects a row if the bucket exists, holding it shared.
    HoldBucket,
    /// name: selects a row if the bucket exists (no hold: reads).
    BucketExists,
    /// upload_id, bucket, key, initiated (unix ns), doc; nothing when taken.
    InsertUpload,
    /// upload_id, bucket, key: when the upload of (bucket, key) was initiated (unix ns).
    UploadInitiated,
    /// upload_id: selects a row if the upload exists, holding it shared.
    HoldUpload,
    /// upload_id: the same, exclusively.
    LockUpload,
    /// upload_id, part_number: the part's document, locked.
    PartDoc,
    /// upload_id, part_number, blob_id, doc: inserts or replaces the part.
    UpsertPart,
    /// upload_id: the parts' documents in part-number order.
    PartDocs,
    /// upload_id, part_number marker, limit: the documents of the parts after it.
    ScanParts,
    /// upload_id.
    DeleteParts,
    /// upload_id.
    DeleteUpload,

    // ---- bucket documents (`buckets`) ----
    /// name: the bucket's document, locked.
    LockBucketDoc,
    /// name, doc, versioning code.
    UpdateBucket,
    /// name: selects a row if the bucket holds an object, version, marker or upload.
    BucketInUse,
    /// name.
    DeleteBucket,
    /// bucket, key, doc.
    SetObjectDoc,
    /// seq, doc: rewrites a noncurrent version's (or marker's) document.
    SetVersionDoc,

    // ---- identities (`identities`) ----
    /// org_id: locks the org's row (serializes quota checks in one org).
    LockOrg,
    /// org_id, principal, at (unix ns): live keys (not deleted, not expired at `at`) of
    /// the org, and of the principal.
    CountKeys,
    /// org_id, name: the org's policies, and 1 if one is named `name` (else 0).
    CountPolicies,
    /// org_id, at (unix ns): removes the org's exchange keys expired at `at`.
    PurgeExchangeKeys,
    /// access_key_id, org_id, principal, uid, state, doc, expiry (unix ns or null),
    /// exchange; nothing when the id is taken.
    InsertKey,
    /// Keys as (seq, doc), locked: by access_key_id; by org_id, principal, a state to
    /// skip (neither deleted nor in it); by uid, org_id, principal (created by the user,
    /// or for its principal; not deleted). In creation order.
    KeyRowsById,
    KeyRowsOfPrincipal,
    KeyRowsOfUser,
    /// seq, state, doc.
    SetKeyRow,
    /// uid: the user's document, locked.
    LockUser,
    /// uid: the user and (`DeleteUserTokens`) its API tokens.
    DeleteUser,
    DeleteUserTokens,
    /// org_id, name, doc: inserts or replaces.
    UpsertPolicy,
    /// org_id, name.
    DeletePolicy,
}

/// Whether statement `s` selects a row.
pub(crate) async fn found<X: DocTx>(
    tx: &mut X,
    s: Stmt,
    args: &[Val],
) -> std::result::Result<bool, X::Err> {
    Ok(!tx.docs(s, args).await?.is_empty())
}

/// The text of the first row statement `s` selects.
pub(crate) async fn first<X: DocTx>(
    tx: &mut X,
    s: Stmt,
    args: &[Val],
) -> std::result::Result<Option<String>, X::Err> {
    Ok(tx.docs(s, args).await?.into_iter().next())
}

/// The integer columns of the first row statement `s` selects.
pub(crate) async fn int_row<X: DocTx, const N: usize>(
    tx: &mut X,
    s: Stmt,
    args: &[Val],
) -> std::result::Result<Option<[i64; N]>, X::Err> {
    Ok(tx.ints::<N>(s, args).await?.into_iter().next())
}

/// The base seam: single statements (`Stmt`) and the audit outbox. Every
/// call runs in the caller's transaction; none commits.
pub(crate) trait DocTx: Send {
    /// The engine's error: the domain's, or a database error the engine may retry.
    type Err: From<Error> + Send;

    /// The text column of every row `s` selects.
    fn docs(
        &mut self,
        s: Stmt,
        args: &[Val],
    ) -> impl Future<Output = std::result::Result<Vec<String>, Self::Err>> + Send;
    /// Runs `s`; the number of rows it changed.
    fn exec(
        &mut self,
        s: Stmt,
        args: &[Val],
    ) -> impl Future<Output = std::result::Result<u64, Self::Err>> + Send;
    /// The (integer, text) pairs of every row `s` selects.
    fn seq_docs(
        &mut self,
        s: Stmt,
        args: &[Val],
    ) -> impl Future<Output = std::result::Result<Vec<(i64, String)>, Self::Err>> + Send;
    /// The integer columns (exactly `N`) of every row `s` selects.
    fn ints<const N: usize>(
        &mut self,
        s: Stmt,
        args: &[Val],
    ) -> impl Future<Output = std::result::Result<Vec<[i64; N]>, Self::Err>> + Send;

    /// Appends one event to the audit outbox (engines with `AUDIT_OUTBOX` only).
    fn append_event(
        &mut self,
        event: &[u8],
    ) -> impl Future<Output = std::result::Result<(), Self::Err>> + Send;
    /// Outbox entries numbered in (`after`, `through`], in order; with `max_bytes`, stops
    /// before the entry that would take the total past it (at least one is returned).
    fn events(
        &mut self,
        after: i64,
        through: i64,
        max_bytes: Option<u64>,
    ) -> impl Future<Output = std::result::Result<Vec<(u64, Vec<u8>)>, Self::Err>> + Send;
    /// Deletes the entries numbered ≤ `through`.
    fn trim_events(
        &mut self,
        through: i64,
    ) -> impl Future<Output = std::result::Result<(), Self::Err>> + Send;
    /// `(entries, bytes)` in the outbox.
    fn events_depth(
        &mut self,
    ) -> impl Future<Output = std::result::Result<(u64, u64), Self::Err>> + Send;
}
