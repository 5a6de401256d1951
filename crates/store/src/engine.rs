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

use crate::buckets::BucketTx;
use crate::identities::IdentityTx;
use crate::listings::ListTx;
use crate::multipart::UploadTx;
use crate::objects::ObjectTx;
use coffer_core::model::Usage;
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
pub(crate) trait Seams:
    ObjectTx + UploadTx + BucketTx + IdentityTx + ListTx + DocTx
{
}
impl<X: ObjectTx + UploadTx + BucketTx + IdentityTx + ListTx + DocTx> Seams for X {}

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
    Int(i64),
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

/// The single statements over document tables that `meta` issues. Each engine supplies
/// their SQL (`DocTx`); arguments are numbered in the order listed, and a statement
/// that selects returns one text column.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
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
}

/// Single statements over document tables, and the audit outbox.
pub(crate) trait DocTx: ObjectTx {
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
    /// The bucket's usage counters, `None` if it does not exist (no lock taken).
    fn usage(
        &mut self,
        bucket: &str,
    ) -> impl Future<Output = std::result::Result<Option<Usage>, Self::Err>> + Send;

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
