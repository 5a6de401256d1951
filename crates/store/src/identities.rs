//! The identity rules of `MetaStore` (access keys and their quotas, key states, user
//! deletion, org policies and their quota), written once against [`IdentityTx`].
//!
//! Invariants:
//! * quota counts are taken after `lock_org`, so creations in one org run one at a time
//!   and the counts hold at commit;
//! * every change to a record other nodes cache (an access key's state, an org's
//!   policies) is announced in the same transaction (`announce`), so the announcement
//!   is delivered if and only if the change commits.

use crate::objects::ObjectTx;
use crate::rows::{from_doc, nanos, to_doc};
use coffer_core::Error;
use coffer_core::change::Change;
use coffer_core::model::{AccessKey, KeyState, StoredPolicy, User};
use coffer_core::quota::Quotas;
use std::future::Future;

/// Which access keys a state change applies to.
pub(crate) enum KeySelect<'a> {
    /// One key, whatever its state.
    Id(&'a str),
    /// A principal's keys that are neither deleted nor already in `except`.
    Principal {
        org_id: &'a str,
        principal: &'a str,
        except: KeyState,
    },
    /// A user's keys that are not deleted: created by the user, or for its principal.
    User {
        uid: &'a str,
        org_id: &'a str,
        principal: &'a str,
    },
}

/// The row operations of one transaction the identity rules need. Every call runs in
/// the caller's transaction; none commits.
pub(crate) trait IdentityTx: ObjectTx {
    /// Holds the org until the transaction ends (an org without a row holds nothing).
    fn lock_org(&mut self, org_id: &str) -> impl Future<Output = Result<(), Self::Err>> + Send;
    /// Records that cached records changed (other nodes drop their copies).
    fn announce(
        &mut self,
        changes: &[Change],
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
    fn access_key_exists(
        &mut self,
        id: &str,
    ) -> impl Future<Output = Result<bool, Self::Err>> + Send;
    /// Removes the org's exchange (temporary) keys that expired at or before `at`.
    fn purge_expired_exchange_keys(
        &mut self,
        org_id: &str,
        at: i64,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
    /// Live keys (not deleted, not expired at `at`) of the org, and of the principal.
    fn count_keys(
        &mut self,
        org_id: &str,
        principal: &str,
        at: i64,
    ) -> impl Future<Output = Result<(u64, u64), Self::Err>> + Send;
    /// Inserts the key; false if its id is taken.
    fn insert_access_key(
        &mut self,
        key: &AccessKey,
        doc: &str,
        expiry: Option<i64>,
    ) -> impl Future<Output = Result<bool, Self::Err>> + Send;
    /// The selected keys' (seq, document), held against concurrent writers.
    fn key_rows(
        &mut self,
        select: KeySelect<'_>,
    ) -> impl Future<Output = Result<Vec<(i64, String)>, Self::Err>> + Send;
    fn set_key_row(
        &mut self,
        seq: i64,
        state: KeyState,
        doc: &str,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
    /// The user's document, held against concurrent writers.
    fn user_doc(
        &mut self,
        uid: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Err>> + Send;
    /// Removes the user and its API tokens.
    fn delete_user_rows(&mut self, uid: &str)
    -> impl Future<Output = Result<(), Self::Err>> + Send;
    /// How many policies the org holds, and whether one is named `name`.
    fn count_policies(
        &mut self,
        org_id: &str,
        name: &str,
    ) -> impl Future<Output = Result<(u64, bool), Self::Err>> + Send;
    fn upsert_policy(
        &mut self,
        policy: &StoredPolicy,
        doc: &str,
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
    /// Removes the policy; false if there was none.
    fn delete_policy_row(
        &mut self,
        org_id: &str,
        name: &str,
    ) -> impl Future<Output = Result<bool, Self::Err>> + Send;
}

type R<T, X> = Result<T, <X as ObjectTx>::Err>;

fn key_taken(id: &str) -> Error {
    Error::AlreadyExists(format!("access key {id}"))
}

/// `create_access_key`: a new id, within the org's and the principal's key quotas
/// (expired exchange keys are purged first and never count).
pub(crate) async fn create_access_key<X: IdentityTx>(
    tx: &mut X,
    key: &AccessKey,
    quotas: &Quotas,
) -> R<(), X> {
    let doc = to_doc(key)?;
    let at = nanos(key.created)?;
    let expiry = key.expiry.map(nanos).transpose()?;
    tx.lock_org(&key.org_id).await?;
    if tx.access_key_exists(&key.access_key_id).await? {
        return Err(key_taken(&key.access_key_id).into());
    }
    tx.purge_expired_exchange_keys(&key.org_id, at).await?;
    let (of_org, of_principal) = tx.count_keys(&key.org_id, &key.principal, at).await?;
    quotas.admit_key(&key.org_id, &key.principal, of_org, of_principal)?;
    if !tx.insert_access_key(key, &doc, expiry).await? {
        return Err(key_taken(&key.access_key_id).into());
    }
    Ok(())
}

/// Sets `state` on every selected key and announces each; returns how many.
async fn set_key_states<X: IdentityTx>(
    tx: &mut X,
    select: KeySelect<'_>,
    state: KeyState,
) -> R<u64, X> {
    let rows = tx.key_rows(select).await?;
    let mut changes = Vec::with_capacity(rows.len());
    for (seq, doc) in &rows {
        let mut k: AccessKey = from_doc(doc, "access key")?;
        k.state = state;
        tx.set_key_row(*seq, state, &to_doc(&k)?).await?;
        changes.push(Change::AccessKey(k.access_key_id));
    }
    tx.announce(&changes).await?;
    Ok(rows.len() as u64)
}

pub(crate) async fn set_access_key_state<X: IdentityTx>(
    tx: &mut X,
    id: &str,
    state: KeyState,
) -> R<(), X> {
    if set_key_states(tx, KeySelect::Id(id), state).await? == 0 {
        return Err(Error::NotFound(format!("access key {id}")).into());
    }
    Ok(())
}

/// Sets `state` on the principal's keys that are not deleted; returns how many changed.
pub(crate) async fn set_principal_key_state<X: IdentityTx>(
    tx: &mut X,
    org_id: &str,
    principal: &str,
    state: KeyState,
) -> R<u64, X> {
    let select = KeySelect::Principal {
        org_id,
        principal,
        except: state,
    };
    set_key_states(tx, select, state).await
}

/// `delete_user`: the user, its API tokens, and (marked deleted) its access keys.
pub(crate) async fn delete_user<X: IdentityTx>(tx: &mut X, uid: &str) -> R<(), X> {
    let doc = tx
        .user_doc(uid)
        .await?
        .ok_or_else(|| Error::NotFound(format!("user {uid}")))?;
    let user: User = from_doc(&doc, "user")?;
    tx.delete_user_rows(uid).await?;
    let select = KeySelect::User {
        uid,
        org_id: &user.org_id,
        principal: &user.principal(),
    };
    set_key_states(tx, select, KeyState::Deleted).await?;
    Ok(())
}

/// `put_policy`: creates or replaces, within the org's policy quota.
pub(crate) async fn put_policy<X: IdentityTx>(
    tx: &mut X,
    policy: &StoredPolicy,
    quotas: &Quotas,
) -> R<(), X> {
    let doc = to_doc(policy)?;
    tx.lock_org(&policy.org_id).await?;
    let (held, exists) = tx.count_policies(&policy.org_id, &policy.name).await?;
    quotas.admit_policy(&policy.org_id, held, exists)?;
    tx.upsert_policy(policy, &doc).await?;
    tx.announce(&[Change::OrgPolicies(policy.org_id.clone())])
        .await
}

pub(crate) async fn delete_policy<X: IdentityTx>(tx: &mut X, org_id: &str, name: &str) -> R<(), X> {
    if !tx.delete_policy_row(org_id, name).await? {
        return Err(Error::NotFound(format!("policy {name}")).into());
    }
    tx.announce(&[Change::OrgPolicies(org_id.to_string())])
        .await
}
