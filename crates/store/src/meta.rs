//! `MetaStore`, written once for every engine: each operation encodes its arguments,
//! runs its rule (`objects`, `multipart`, `buckets`, `identities`, `listings`, or one
//! document statement) through the engine (`engine::Engine`), and decodes the result
//! on the caller's task. `SqliteMetaStore` and `PgMetaStore` are this type on their
//! engine.
//!
//! Invariants:
//! * Every operation is one engine transaction (`write`) or one read (`read`): atomic,
//!   with its rules checked inside it.
//! * Documents are encoded before and decoded after the engine runs the rule where the
//!   rule allows it, keeping SQLite's single writer thread busy mostly with SQL.
//! * What an empty result means (`NotFound`, `AlreadyExists`, a default) is decided
//!   here, never by an engine.

use crate::engine::{DocTx, Engine, Read, Stmt, Val};
use crate::objects::ObjectTx;
use crate::rows::{
    ObjectRow, decode_all, decode_replaced, decode_version, from_doc, nanos, to_doc,
};
use crate::{buckets, identities, listings, multipart, objects, semantics};
use async_trait::async_trait;
use coffer_core::meta::{
    BucketEdit, Deleted, KeyListing, MetaStore, ObjectEdit, ObjectPage, Replaced, VersionPage,
};
use coffer_core::model::*;
use coffer_core::quota::Quotas;
use coffer_core::{Error, Result};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use time::OffsetDateTime;

/// A `MetaStore` on the engine `E`.
pub struct Meta<E>(pub(crate) E);

/// A page bound as a signed LIMIT/OFFSET (larger values saturate).
fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn key_page(status: Option<KeyStatus>) -> Stmt {
    match status {
        None => Stmt::KeysAll,
        Some(KeyStatus::Active) => Stmt::KeysActive,
        Some(KeyStatus::Expired) => Stmt::KeysExpired,
        Some(KeyStatus::FullSuspended) => Stmt::KeysSuspended,
        Some(KeyStatus::Deleted) => Stmt::KeysDeleted,
    }
}

type Row = (Stmt, Vec<Val>);

fn org_row(org: &Org) -> Result<Row> {
    Ok((
        Stmt::InsertOrg,
        vec![org.org_id.as_str().into(), to_doc(org)?.into()],
    ))
}

fn user_row(u: &User) -> Result<Row> {
    let args = vec![
        u.uid.as_str().into(),
        u.org_id.as_str().into(),
        to_doc(u)?.into(),
    ];
    Ok((Stmt::InsertUser, args))
}

fn token_row(t: &ApiToken) -> Result<Row> {
    let args = vec![
        t.token_id.as_str().into(),
        t.token_hash.as_str().into(),
        t.uid.as_str().into(),
        t.org_id.as_str().into(),
        to_doc(t)?.into(),
    ];
    Ok((Stmt::InsertToken, args))
}

/// config_id, org_id, kind: a federation config's address.
fn federation_key(org_id: &str, kind: FederationKind, config_id: &str) -> Vec<Val> {
    vec![config_id.into(), org_id.into(), kind.as_str().into()]
}

fn federation_row(c: &FederationConfig) -> Result<Vec<Val>> {
    let mut args = federation_key(&c.org_id, c.kind(), &c.config_id);
    args.push(to_doc(c)?.into());
    Ok(args)
}

fn federation_missing(id: &str) -> Error {
    Error::NotFound(format!("federation config {id}"))
}

/// Every record statement `s` selects.
async fn docs<E: Engine, T: DeserializeOwned>(
    e: &E,
    s: Stmt,
    args: Vec<Val>,
    what: &'static str,
) -> Result<Vec<T>> {
    let docs = e
        .read(Read::One, what, (s, args), |tx, (s, a)| {
            Box::pin(tx.docs(*s, a))
        })
        .await?;
    decode_all(docs, what)
}

/// The record statement `s` selects, if any.
async fn doc<E: Engine, T: DeserializeOwned>(
    e: &E,
    s: Stmt,
    args: Vec<Val>,
    what: &'static str,
) -> Result<Option<T>> {
    Ok(docs(e, s, args, what).await?.into_iter().next())
}

/// Runs statement `s` as its own write; fails with `none` when it changed no row.
async fn exec<E: Engine>(e: &E, s: Stmt, args: Vec<Val>, none: Error) -> Result<()> {
    let n = e
        .write("statement", (s, args), |tx, (s, a)| {
            Box::pin(tx.exec(*s, a))
        })
        .await?;
    if n == 0 { Err(none) } else { Ok(()) }
}

#[async_trait]
impl<E: Engine> MetaStore for Meta<E> {
    // ---- orgs, users, tokens ----

    async fn create_org(&self, org: &Org) -> Result<()> {
        let (s, args) = org_row(org)?;
        exec(
            &self.0,
            s,
            args,
            Error::AlreadyExists(format!("org {}", org.org_id)),
        )
        .await
    }

    async fn bootstrap(&self, org: &Org, admin: &User, token: &ApiToken) -> Result<bool> {
        let rows = [org_row(org)?, user_row(admin)?, token_row(token)?];
        self.0
            .write("bootstrap", rows, |tx, rows| {
                Box::pin(async move {
                    // Bootstraps of one database queue on one lock, so the later one sees
                    // the earlier one's org.
                    tx.docs(Stmt::LockBootstrap, &[]).await?;
                    if !tx.docs(Stmt::AnyOrg, &[]).await?.is_empty() {
                        return Ok(false);
                    }
                    for (s, args) in rows.iter() {
                        if tx.exec(*s, args).await? == 0 {
                            return Err(Error::internal(format!("bootstrap: {s:?} taken")).into());
                        }
                    }
                    Ok(true)
                })
            })
            .await
    }

    async fn get_org(&self, org_id: &str) -> Result<Option<Org>> {
        doc(&self.0, Stmt::GetOrg, vec![org_id.into()], "org").await
    }

    async fn list_orgs(&self) -> Result<Vec<Org>> {
        docs(&self.0, Stmt::ListOrgs, vec![], "org").await
    }

    async fn update_org(&self, org: &Org) -> Result<()> {
        let args = vec![org.org_id.as_str().into(), to_doc(org)?.into()];
        exec(
            &self.0,
            Stmt::UpdateOrg,
            args,
            Error::NotFound(format!("org {}", org.org_id)),
        )
        .await
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let (s, args) = user_row(user)?;
        exec(
            &self.0,
            s,
            args,
            Error::AlreadyExists(format!("user {}", user.uid)),
        )
        .await
    }

    async fn get_user(&self, uid: &str) -> Result<Option<User>> {
        doc(&self.0, Stmt::GetUser, vec![uid.into()], "user").await
    }

    async fn list_users(&self, org_id: &str) -> Result<Vec<User>> {
        docs(&self.0, Stmt::ListUsers, vec![org_id.into()], "user").await
    }

    async fn delete_user(&self, uid: &str) -> Result<()> {
        self.0
            .write("delete_user", uid.to_string(), |tx, uid| {
                Box::pin(identities::delete_user(tx, uid))
            })
            .await
    }

    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        let (s, args) = token_row(token)?;
        exec(
            &self.0,
            s,
            args,
            Error::AlreadyExists(format!("token {}", token.token_id)),
        )
        .await
    }

    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        doc(
            &self.0,
            Stmt::GetTokenByHash,
            vec![token_hash.into()],
            "api token",
        )
        .await
    }

    async fn list_tokens(&self, org_id: &str) -> Result<Vec<ApiToken>> {
        docs(&self.0, Stmt::ListTokens, vec![org_id.into()], "api token").await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        let missing = Error::NotFound(format!("token {token_id}"));
        exec(&self.0, Stmt::DeleteToken, vec![token_id.into()], missing).await
    }

    async fn create_cache_node(&self, node: &CacheNode) -> Result<()> {
        let args = vec![
            node.node_id.as_str().into(),
            node.name.as_str().into(),
            node.credential_hash.as_str().into(),
            to_doc(node)?.into(),
        ];
        let taken = Error::AlreadyExists(format!("cache node {}", node.name));
        exec(&self.0, Stmt::InsertCacheNode, args, taken).await
    }

    async fn get_cache_node_by_hash(&self, credential_hash: &str) -> Result<Option<CacheNode>> {
        doc(
            &self.0,
            Stmt::GetCacheNodeByHash,
            vec![credential_hash.into()],
            "cache node",
        )
        .await
    }

    async fn list_cache_nodes(&self) -> Result<Vec<CacheNode>> {
        docs(&self.0, Stmt::ListCacheNodes, vec![], "cache node").await
    }

    async fn delete_cache_node(&self, node_id: &str) -> Result<()> {
        let missing = Error::NotFound(format!("cache node {node_id}"));
        exec(
            &self.0,
            Stmt::DeleteCacheNode,
            vec![node_id.into()],
            missing,
        )
        .await
    }

    // ---- access keys ----

    async fn create_access_key(&self, key: &AccessKey, quotas: &Quotas) -> Result<()> {
        self.0
            .write("create_access_key", (key.clone(), *quotas), |tx, (k, q)| {
                Box::pin(identities::create_access_key(tx, k, q))
            })
            .await
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        doc(
            &self.0,
            Stmt::GetKey,
            vec![access_key_id.into()],
            "access key",
        )
        .await
    }

    async fn list_access_keys(&self, org_id: &str, page: &KeyListing) -> Result<Vec<AccessKey>> {
        let args = vec![
            org_id.into(),
            nanos(page.now)?.into(),
            clamp_i64(page.limit).into(),
            clamp_i64(page.offset).into(),
        ];
        docs(&self.0, key_page(page.status), args, "access key").await
    }

    async fn set_access_key_state(&self, access_key_id: &str, state: KeyState) -> Result<()> {
        let args = (access_key_id.to_string(), state);
        self.0
            .write("set_access_key_state", args, |tx, (id, state)| {
                Box::pin(identities::set_access_key_state(tx, id, *state))
            })
            .await
    }

    async fn set_principal_key_state(
        &self,
        org_id: &str,
        principal: &str,
        state: KeyState,
    ) -> Result<u64> {
        let args = (org_id.to_string(), principal.to_string(), state);
        self.0
            .write("set_principal_key_state", args, |tx, (org, p, state)| {
                Box::pin(identities::set_principal_key_state(tx, org, p, *state))
            })
            .await
    }

    // ---- org access policies and settings ----

    async fn put_policy(&self, policy: &StoredPolicy, quotas: &Quotas) -> Result<()> {
        self.0
            .write("put_policy", (policy.clone(), *quotas), |tx, (p, q)| {
                Box::pin(identities::put_policy(tx, p, q))
            })
            .await
    }

    async fn delete_policy(&self, org_id: &str, name: &str) -> Result<()> {
        let args = (org_id.to_string(), name.to_string());
        self.0
            .write("delete_policy", args, |tx, (org, name)| {
                Box::pin(identities::delete_policy(tx, org, name))
            })
            .await
    }

    async fn list_policies(&self, org_id: &str) -> Result<Vec<StoredPolicy>> {
        docs(&self.0, Stmt::ListPolicies, vec![org_id.into()], "policy").await
    }

    async fn list_all_policies(&self) -> Result<Vec<StoredPolicy>> {
        docs(&self.0, Stmt::ListAllPolicies, vec![], "policy").await
    }

    async fn get_org_settings(&self, org_id: &str) -> Result<OrgSettings> {
        let found = doc(
            &self.0,
            Stmt::GetOrgSettings,
            vec![org_id.into()],
            "org settings",
        )
        .await?;
        Ok(found.unwrap_or_default())
    }

    async fn put_org_settings(&self, org_id: &str, settings: &OrgSettings) -> Result<()> {
        let args = vec![org_id.into(), to_doc(settings)?.into()];
        exec(
            &self.0,
            Stmt::PutOrgSettings,
            args,
            Error::internal("org settings not written"),
        )
        .await
    }

    // ---- buckets ----

    async fn create_bucket(&self, bucket: &Bucket) -> Result<()> {
        let args = vec![
            bucket.name.as_str().into(),
            bucket.org_id.as_str().into(),
            to_doc(bucket)?.into(),
            // The versioning column is what object writes read: it starts as the
            // document says.
            bucket.versioning.code().into(),
        ];
        exec(
            &self.0,
            Stmt::InsertBucket,
            args,
            Error::BucketAlreadyExists,
        )
        .await
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        doc(&self.0, Stmt::GetBucket, vec![name.into()], "bucket").await
    }

    async fn list_buckets(&self, org_id: &str) -> Result<Vec<Bucket>> {
        docs(&self.0, Stmt::ListBuckets, vec![org_id.into()], "bucket").await
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.0
            .write("delete_bucket", name.to_string(), |tx, name| {
                Box::pin(buckets::delete_bucket(tx, name))
            })
            .await
    }

    async fn bucket_usage(&self, name: &str) -> Result<Usage> {
        self.0
            .read(Read::One, "bucket_usage", name.to_string(), |tx, name| {
                Box::pin(objects::bucket_usage(tx, name))
            })
            .await?
            .ok_or(Error::NoSuchBucket)
    }

    async fn edit_bucket(&self, name: &str, edit: BucketEdit) -> Result<Bucket> {
        let args = (name.to_string(), buckets::EditOnce::new(edit));
        self.0
            .write("edit_bucket", args, |tx, (name, once)| {
                Box::pin(buckets::edit_bucket(tx, name, once))
            })
            .await
    }

    async fn edit_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        edit: ObjectEdit,
    ) -> Result<ObjectRecord> {
        let args = (
            bucket.to_string(),
            key.to_string(),
            version_id.map(str::to_string),
            edit,
        );
        self.0
            .write("edit_object", args, |tx, (b, k, v, edit)| {
                Box::pin(buckets::edit_object(tx, b, k, v.as_deref(), edit))
            })
            .await
    }

    async fn set_bucket_versioning(&self, name: &str, state: VersioningState) -> Result<()> {
        self.0
            .write(
                "set_bucket_versioning",
                (name.to_string(), state),
                |tx, (n, s)| Box::pin(buckets::set_versioning(tx, n, *s)),
            )
            .await
    }

    // ---- objects ----

    async fn put_object(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<Replaced> {
        let args = (ObjectRow::new(record)?, cond.clone(), cap);
        let (prev, vid) = self
            .0
            .write("put_object", args, |tx, (row, cond, cap)| {
                Box::pin(objects::put(tx, row, cond, *cap))
            })
            .await?;
        decode_replaced(prev, vid)
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let args = (bucket.to_string(), key.to_string());
        let row = self
            .0
            .read(Read::One, "get_object", args, |tx, (b, k)| {
                Box::pin(tx.current(b, k))
            })
            .await?;
        row.map(|r| r.raw.decode()).transpose()
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Replaced> {
        let args = (bucket.to_string(), key.to_string());
        let prev = self
            .0
            .write("delete_object", args, |tx, (b, k)| {
                Box::pin(objects::delete_object(tx, b, k))
            })
            .await?;
        decode_replaced(prev, None)
    }

    async fn rename_object(
        &self,
        bucket: &str,
        src: &str,
        dst: &str,
        cond: &RenameConditions,
    ) -> Result<Replaced> {
        let args = (
            bucket.to_string(),
            src.to_string(),
            dst.to_string(),
            cond.clone(),
        );
        let prev = self
            .0
            .write("rename_object", args, |tx, (b, src, dst, cond)| {
                Box::pin(objects::rename(tx, b, src, dst, cond))
            })
            .await?;
        decode_replaced(prev, None)
    }

    async fn delete_object_current(
        &self,
        bucket: &str,
        key: &str,
        marker_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deleted> {
        let args = (
            bucket.to_string(),
            key.to_string(),
            marker_id.to_string(),
            now,
        );
        self.0
            .write("delete_object_current", args, |tx, (b, k, m, now)| {
                Box::pin(objects::delete_current(tx, b, k, m, *now))
            })
            .await?
            .decode()
    }

    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        lock: coffer_core::object_lock::DeleteCheck,
    ) -> Result<Deleted> {
        let args = (
            bucket.to_string(),
            key.to_string(),
            version_id.to_string(),
            lock,
        );
        self.0
            .write("delete_object_version", args, |tx, (b, k, v, lock)| {
                Box::pin(objects::delete_version(tx, b, k, v, *lock))
            })
            .await?
            .decode()
    }

    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>> {
        let args = (bucket.to_string(), key.to_string(), version_id.to_string());
        // One snapshot for both tables: a version moving between them is seen once.
        let found = self
            .0
            .read(
                Read::Snapshot,
                "get_object_version",
                args,
                |tx, (b, k, v)| Box::pin(listings::get_object_version(tx, b, k, v)),
            )
            .await?;
        decode_version(found)
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        version_id_marker: &str,
        limit: usize,
    ) -> Result<VersionPage> {
        let args = (
            bucket.to_string(),
            prefix.to_string(),
            key_marker.to_string(),
            version_id_marker.to_string(),
            limit,
        );
        self.0
            .read(
                Read::Snapshot,
                "list_object_versions",
                args,
                |tx, (b, p, km, vm, n)| {
                    Box::pin(listings::list_object_versions(tx, b, p, km, vm, *n))
                },
            )
            .await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<ObjectPage> {
        let args = (
            bucket.to_string(),
            prefix.to_string(),
            start_after.to_string(),
            limit,
        );
        self.0
            .read(
                Read::Snapshot,
                "list_objects",
                args,
                |tx, (b, p, after, n)| Box::pin(listings::list_objects(tx, b, p, after, *n)),
            )
            .await
    }

    // ---- multipart ----

    async fn create_upload(&self, upload: &MultipartUpload) -> Result<()> {
        self.0
            .write("create_upload", upload.clone(), |tx, u| {
                Box::pin(multipart::create_upload(tx, u))
            })
            .await
    }

    async fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>> {
        doc(&self.0, Stmt::GetUpload, vec![upload_id.into()], "upload").await
    }

    async fn put_part(&self, part: &PartRecord) -> Result<Option<PartRecord>> {
        let args = (part.clone(), to_doc(part)?);
        let prev = self
            .0
            .write("put_part", args, |tx, (p, doc)| {
                Box::pin(multipart::put_part(tx, p, doc))
            })
            .await?;
        prev.map(|d| from_doc(&d, "part")).transpose()
    }

    async fn list_parts(
        &self,
        upload_id: &str,
        part_number_marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        let args = (upload_id.to_string(), part_number_marker, limit);
        let docs = self
            .0
            .read(Read::Snapshot, "list_parts", args, |tx, (id, marker, n)| {
                Box::pin(listings::list_parts(tx, id, *marker, *n))
            })
            .await?;
        decode_all(docs, "part")
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>> {
        let args = (
            bucket.to_string(),
            prefix.to_string(),
            key_marker.to_string(),
            upload_id_marker.to_string(),
            limit,
        );
        let docs = self
            .0
            .read(
                Read::Snapshot,
                "list_uploads",
                args,
                |tx, (b, p, km, um, n)| Box::pin(listings::list_uploads(tx, b, p, km, um, *n)),
            )
            .await?;
        decode_all(docs, "upload")
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
    ) -> Result<(Replaced, Vec<PartRecord>)> {
        let used: Vec<String> = record.data.blob_ids().map(str::to_string).collect();
        let args = (
            upload_id.to_string(),
            ObjectRow::new(record)?,
            used,
            cond.clone(),
            cap,
        );
        let (prev, vid, parts) = self
            .0
            .write("complete_upload", args, |tx, (id, row, used, cond, cap)| {
                Box::pin(multipart::complete(tx, id, row, used, cond, *cap))
            })
            .await?;
        Ok((
            decode_replaced(prev, vid)?,
            semantics::unused_parts(record, parts),
        ))
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<Vec<PartRecord>> {
        let docs = self
            .0
            .write("abort_upload", upload_id.to_string(), |tx, id| {
                Box::pin(multipart::abort(tx, id))
            })
            .await?;
        decode_all(docs, "part")
    }

    // ---- workload identity federation ----

    async fn create_federation_config(&self, config: &FederationConfig) -> Result<()> {
        let taken = Error::AlreadyExists(format!("federation config {}", config.config_id));
        exec(
            &self.0,
            Stmt::InsertFederation,
            federation_row(config)?,
            taken,
        )
        .await
    }

    async fn update_federation_config(&self, config: &FederationConfig) -> Result<()> {
        let missing = federation_missing(&config.config_id);
        exec(
            &self.0,
            Stmt::UpdateFederation,
            federation_row(config)?,
            missing,
        )
        .await
    }

    async fn get_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<Option<FederationConfig>> {
        let args = federation_key(org_id, kind, config_id);
        doc(&self.0, Stmt::GetFederation, args, "federation config").await
    }

    async fn list_federation_configs(
        &self,
        org_id: &str,
        kind: FederationKind,
    ) -> Result<Vec<FederationConfig>> {
        let args = vec![org_id.into(), kind.as_str().into()];
        docs(&self.0, Stmt::ListFederation, args, "federation config").await
    }

    async fn delete_federation_config(
        &self,
        org_id: &str,
        kind: FederationKind,
        config_id: &str,
    ) -> Result<()> {
        let args = federation_key(org_id, kind, config_id);
        exec(
            &self.0,
            Stmt::DeleteFederation,
            args,
            federation_missing(config_id),
        )
        .await
    }

    async fn record_assertion_id(
        &self,
        org_id: &str,
        assertion_id: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let horizon = vec![nanos(now - semantics::ASSERTION_ID_PURGE_AFTER)?.into()];
        let entry = vec![
            org_id.into(),
            assertion_id.into(),
            nanos(expires)?.into(),
            nanos(now)?.into(),
        ];
        self.0
            .write(
                "record_assertion_id",
                (horizon, entry),
                |tx, (horizon, entry)| {
                    Box::pin(async move {
                        tx.exec(Stmt::PurgeAssertions, horizon).await?;
                        Ok(tx.exec(Stmt::RecordAssertion, entry).await? == 1)
                    })
                },
            )
            .await
    }

    // ---- audit outbox ----

    fn has_audit_outbox(&self) -> bool {
        E::AUDIT_OUTBOX
    }

    async fn put_object_audited(
        &self,
        record: &ObjectRecord,
        cond: &WriteCondition,
        cap: Option<u64>,
        event: Vec<u8>,
    ) -> Result<Replaced> {
        if !E::AUDIT_OUTBOX {
            return Err(Error::internal("this metadata store has no audit outbox"));
        }
        let args = (ObjectRow::new(record)?, cond.clone(), cap, event);
        let (prev, vid) = self
            .0
            .write("put_object_audited", args, |tx, (row, cond, cap, event)| {
                Box::pin(async move {
                    let out = objects::put(tx, row, cond, *cap).await?;
                    tx.append_event(event).await?;
                    Ok(out)
                })
            })
            .await?;
        decode_replaced(prev, vid)
    }

    async fn read_audit_outbox(
        &self,
        after: u64,
        through: Option<u64>,
        max_bytes: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        if !E::AUDIT_OUTBOX {
            return Ok(Vec::new());
        }
        let upper = clamp_i64(through.unwrap_or(u64::MAX));
        let max = through.is_none().then_some(max_bytes);
        self.0
            .read(
                Read::One,
                "read_audit_outbox",
                (clamp_i64(after), upper, max),
                |tx, (a, t, m)| Box::pin(tx.events(*a, *t, *m)),
            )
            .await
    }

    async fn trim_audit_outbox(&self, through: u64) -> Result<()> {
        if !E::AUDIT_OUTBOX {
            return Ok(());
        }
        self.0
            .write("trim_audit_outbox", clamp_i64(through), |tx, t| {
                Box::pin(tx.trim_events(*t))
            })
            .await
    }

    async fn audit_outbox_depth(&self) -> Result<(u64, u64)> {
        if !E::AUDIT_OUTBOX {
            return Ok((0, 0));
        }
        self.0
            .read(Read::One, "audit_outbox_depth", (), |tx, _| {
                Box::pin(tx.events_depth())
            })
            .await
    }

    // ---- maintenance ----

    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        // One snapshot for every table: a part completed into an object between two
        // reads is seen in one of them.
        self.0
            .read(Read::Snapshot, "referenced_blobs", (), |tx, _| {
                Box::pin(async move {
                    let mut set = HashSet::new();
                    for s in [Stmt::ObjectBlobs, Stmt::VersionBlobs] {
                        for ids in tx.docs(s, &[]).await? {
                            set.extend(
                                ids.split(' ').filter(|s| !s.is_empty()).map(str::to_string),
                            );
                        }
                    }
                    set.extend(tx.docs(Stmt::PartBlobs, &[]).await?);
                    Ok(set)
                })
            })
            .await
    }
}
