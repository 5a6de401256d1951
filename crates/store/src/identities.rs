//! The identity rules of `MetaStore` (access keys and their quotas, key states, user
//! deletion, org policies and their quota), written once against [`IdentityTx`].
//!
//! Invariants:
//! * quota counts are taken after `lock_org`, so creations in one org run one at a time
//!   and the counts hold at commit;
//! * every change to a record other nodes cache (an access key's state, an org's
//!   policies) is announced in the same transaction (`announce`), so the announcement
//!   is delivered if and only if the change commits.

use crate::engine::{DocTx, Stmt, Val, first, found, int_row};
use crate::objects::ObjectTx;
use crate::rows::{from_doc, key_state, nanos, to_doc};
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

/// What the identity rules need beyond statements (`DocTx`). Runs in the caller's
/// transaction; never commits.
pub(crate) trait IdentityTx: ObjectTx {
    /// Records that cached records changed (other nodes drop their copies).
    fn announce(
        &mut self,
        changes: &[Change],
    ) -> impl Future<Output = Result<(), Self::Err>> + Send;
}

type R<T, X> = Result<T, <X as DocTx>::Err>;

/// Holds the org until the transaction ends (an org without a row holds nothing).
async fn lock_org<X: IdentityTx>(tx: &mut X, org_id: &str) -> R<(), X> {
    tx.docs(Stmt::LockOrg, &[org_id.into()]).await?;
    Ok(())
}

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
    lock_org(tx, &key.org_id).await?;
    if found(tx, Stmt::GetKey, &[key.access_key_id.as_str().into()]).await? {
        return Err(key_taken(&key.access_key_id).into());
    }
    tx.exec(
        Stmt::PurgeExchangeKeys,
        &[key.org_id.as_str().into(), at.into()],
    )
    .await?;
    let args = [
        key.org_id.as_str().into(),
        key.principal.as_str().into(),
        at.into(),
    ];
    let [of_org, of_principal] = int_row(tx, Stmt::CountKeys, &args)
        .await?
        .unwrap_or_default();
    quotas.admit_key(
        &key.org_id,
        &key.principal,
        of_org as u64,
        of_principal as u64,
    )?;
    let args = [
        key.access_key_id.as_str().into(),
        key.org_id.as_str().into(),
        key.principal.as_str().into(),
        Val::OptStr(key.uid.clone()),
        key_state(key.state).into(),
        doc.into(),
        Val::OptInt(expiry),
        Val::Bool(key.is_exchange_key()),
    ];
    if tx.exec(Stmt::InsertKey, &args).await? == 0 {
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
    let (s, args): (_, Vec<Val>) = match select {
        KeySelect::Id(id) => (Stmt::KeyRowsById, vec![id.into()]),
        KeySelect::Principal {
            org_id,
            principal,
            except,
        } => (
            Stmt::KeyRowsOfPrincipal,
            vec![org_id.into(), principal.into(), key_state(except).into()],
        ),
        KeySelect::User {
            uid,
            org_id,
            principal,
        } => (
            Stmt::KeyRowsOfUser,
            vec![uid.into(), org_id.into(), principal.into()],
        ),
    };
    let rows = tx.seq_docs(s, &args).await?;
    let mut changes = Vec::with_capacity(rows.len());
    for (seq, doc) in &rows {
        let mut k: AccessKey = from_doc(doc, "access key")?;
        k.state = state;
        let args = [(*seq).into(), key_state(state).into(), to_doc(&k)?.into()];
        tx.exec(Stmt::SetKeyRow, &args).await?;
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
    let doc = first(tx, Stmt::LockUser, &[uid.into()])
        .await?
        .ok_or_else(|| Error::NotFound(format!("user {uid}")))?;
    let user: User = from_doc(&doc, "user")?;
    tx.exec(Stmt::DeleteUser, &[uid.into()]).await?;
    tx.exec(Stmt::DeleteUserTokens, &[uid.into()]).await?;
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
    lock_org(tx, &policy.org_id).await?;
    let args = [policy.org_id.as_str().into(), policy.name.as_str().into()];
    let [held, named] = int_row(tx, Stmt::CountPolicies, &args)
        .await?
        .unwrap_or_default();
    quotas.admit_policy(&policy.org_id, held as u64, named > 0)?;
    let args = [
        policy.org_id.as_str().into(),
        policy.name.as_str().into(),
        doc.into(),
    ];
    tx.exec(Stmt::UpsertPolicy, &args).await?;
    tx.announce(&[Change::OrgPolicies(policy.org_id.clone())])
        .await
}

pub(crate) async fn delete_policy<X: IdentityTx>(tx: &mut X, org_id: &str, name: &str) -> R<(), X> {
    if tx
        .exec(Stmt::DeletePolicy, &[org_id.into(), name.into()])
        .await?
        == 0
    {
        return Err(Error::NotFound(format!("policy {name}")).into());
    }
    tx.announce(&[Change::OrgPolicies(org_id.to_string())])
        .await
}
