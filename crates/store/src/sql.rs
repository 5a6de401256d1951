//! The SQL of every statement (`engine::Stmt`), written once for both engines in
//! SQLite's placeholder style (`?N`) and in SQL both dialects read alike (`TRUE`,
//! `count(CASE …)`, `ON CONFLICT`). PostgreSQL rewrites the placeholders and appends the
//! row lock `lock` names (`postgres::seam::sql`); SQLite runs the text as it is (its
//! single writer needs no locks). Keys are bound as `Val::Key`: text to SQLite, `bytea`
//! to PostgreSQL, both ordered byte-wise.

use crate::engine::Stmt;

/// A row lock held until the transaction ends, on engines with concurrent writers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Lock {
    Share,
    Update,
}

/// The row lock statement `s` takes (`Stmt` documents which "hold" or "lock").
pub(crate) fn lock(s: Stmt) -> Option<Lock> {
    match s {
        Stmt::HoldBucket | Stmt::HoldUpload => Some(Lock::Share),
        Stmt::LockBucket
        | Stmt::LockUpload
        | Stmt::PartDoc
        | Stmt::LockBucketDoc
        | Stmt::LockOrg
        | Stmt::LockUser
        | Stmt::KeyRowsById
        | Stmt::KeyRowsOfPrincipal
        | Stmt::KeyRowsOfUser => Some(Lock::Update),
        _ => None,
    }
}

/// The SQL of statement `s` (`Stmt` documents its arguments and result).
pub(crate) fn sql(s: Stmt) -> &'static str {
    match s {
        // SQLite's single writer serializes bootstraps; PostgreSQL has its own.
        Stmt::LockBootstrap => "SELECT '' WHERE FALSE",
        Stmt::AnyOrg => "SELECT org_id FROM orgs LIMIT 1",
        Stmt::InsertOrg => "INSERT INTO orgs (org_id, doc) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        Stmt::GetOrg => "SELECT doc FROM orgs WHERE org_id = ?1",
        Stmt::ListOrgs => "SELECT doc FROM orgs ORDER BY org_id",
        Stmt::UpdateOrg => "UPDATE orgs SET doc = ?2 WHERE org_id = ?1",
        Stmt::InsertUser => {
            "INSERT INTO users (uid, org_id, doc) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
        }
        Stmt::GetUser => "SELECT doc FROM users WHERE uid = ?1",
        Stmt::ListUsers => "SELECT doc FROM users WHERE org_id = ?1 ORDER BY uid",
        Stmt::InsertToken => {
            "INSERT INTO api_tokens (token_id, token_hash, uid, org_id, doc)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"
        }
        Stmt::GetTokenByHash => "SELECT doc FROM api_tokens WHERE token_hash = ?1",
        Stmt::ListTokens => "SELECT doc FROM api_tokens WHERE org_id = ?1 ORDER BY token_id",
        Stmt::DeleteToken => "DELETE FROM api_tokens WHERE token_id = ?1",
        Stmt::InsertCacheNode => {
            "INSERT INTO cache_nodes (node_id, name, credential_hash, doc)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
        }
        Stmt::GetCacheNodeByHash => "SELECT doc FROM cache_nodes WHERE credential_hash = ?1",
        Stmt::ListCacheNodes => "SELECT doc FROM cache_nodes ORDER BY name",
        Stmt::DeleteCacheNode => "DELETE FROM cache_nodes WHERE node_id = ?1",
        Stmt::GetKey => "SELECT doc FROM access_keys WHERE access_key_id = ?1",
        // A statement that does not use ?2 still takes it (SQLite counts parameters by
        // the highest index; sqlx declares every bound parameter's type). Range scans of
        // `access_keys_by_org` in creation order.
        Stmt::KeysAll => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::KeysActive => {
            "SELECT doc FROM access_keys
             WHERE org_id = ?1 AND state = 'Active' AND (expiry IS NULL OR expiry > ?2)
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::KeysExpired => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 AND state = 'Active' AND expiry <= ?2
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::KeysSuspended => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 AND state = 'Suspended'
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::KeysDeleted => {
            "SELECT doc FROM access_keys WHERE org_id = ?1 AND state = 'Deleted'
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        }
        Stmt::ListPolicies => "SELECT doc FROM policies WHERE org_id = ?1 ORDER BY name",
        Stmt::ListAllPolicies => "SELECT doc FROM policies ORDER BY org_id, name",
        Stmt::GetOrgSettings => "SELECT doc FROM org_settings WHERE org_id = ?1",
        Stmt::PutOrgSettings => {
            "INSERT INTO org_settings (org_id, doc) VALUES (?1, ?2)
             ON CONFLICT (org_id) DO UPDATE SET doc = excluded.doc"
        }
        Stmt::InsertBucket => {
            "INSERT INTO buckets (name, org_id, doc, versioning) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING"
        }
        Stmt::GetBucket => "SELECT doc FROM buckets WHERE name = ?1",
        Stmt::ListBuckets => "SELECT doc FROM buckets WHERE org_id = ?1 ORDER BY name",
        Stmt::GetUpload => "SELECT doc FROM uploads WHERE upload_id = ?1",
        Stmt::InsertFederation => {
            "INSERT INTO federation_configs (config_id, org_id, kind, doc)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
        }
        Stmt::UpdateFederation => {
            "UPDATE federation_configs SET doc = ?4
             WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3"
        }
        Stmt::GetFederation => {
            "SELECT doc FROM federation_configs WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3"
        }
        Stmt::ListFederation => {
            "SELECT doc FROM federation_configs WHERE org_id = ?1 AND kind = ?2 ORDER BY seq"
        }
        Stmt::DeleteFederation => {
            "DELETE FROM federation_configs WHERE config_id = ?1 AND org_id = ?2 AND kind = ?3"
        }
        Stmt::PurgeAssertions => "DELETE FROM saml_assertion_ids WHERE expires <= ?1",
        Stmt::RecordAssertion => {
            "INSERT INTO saml_assertion_ids (org_id, assertion_id, expires)
             VALUES (?1, ?2, ?3) ON CONFLICT (org_id, assertion_id) DO UPDATE
             SET expires = excluded.expires WHERE saml_assertion_ids.expires <= ?4"
        }
        Stmt::ObjectBlobs => "SELECT blob_ids FROM objects WHERE blob_ids IS NOT NULL",
        Stmt::VersionBlobs => "SELECT blob_ids FROM object_versions WHERE blob_ids IS NOT NULL",
        Stmt::PartBlobs => "SELECT blob_id FROM parts",
        Stmt::LockBucket => {
            "SELECT usage_bytes, usage_objects, versioning FROM buckets WHERE name = ?1"
        }
        Stmt::Usage => "SELECT usage_bytes, usage_objects FROM buckets WHERE name = ?1",
        Stmt::NewestVersion => {
            "SELECT seq, delete_marker FROM object_versions
             WHERE bucket = ?1 AND key = ?2 ORDER BY seq DESC LIMIT 1"
        }
        Stmt::UploadInitiated => {
            "SELECT initiated FROM uploads WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3"
        }
        Stmt::CountKeys => {
            "SELECT count(*), count(CASE WHEN principal = ?2 THEN 1 END) FROM access_keys
             WHERE org_id = ?1 AND state <> 'Deleted' AND (expiry IS NULL OR expiry > ?3)"
        }
        Stmt::CountPolicies => {
            "SELECT count(*), count(CASE WHEN name = ?2 THEN 1 END) FROM policies WHERE org_id = ?1"
        }
        Stmt::SetUsage => "UPDATE buckets SET usage_bytes = ?2, usage_objects = ?3 WHERE name = ?1",
        Stmt::HasCurrent => "SELECT '' FROM objects WHERE bucket = ?1 AND key = ?2",
        Stmt::DeleteCurrent => "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
        Stmt::RetireCurrent => {
            "INSERT INTO object_versions (bucket, key, version_id, delete_marker, size, etag,
                                          last_modified, blob_ids, doc, inline_data)
             SELECT bucket, key, coalesce(version_id, 'null'), FALSE, size, etag, last_modified,
                    blob_ids, doc, inline_data
             FROM objects WHERE bucket = ?1 AND key = ?2"
        }
        Stmt::RenameCurrent => {
            "UPDATE objects SET key = ?3, doc = ?4 WHERE bucket = ?1 AND key = ?2"
        }
        Stmt::DeleteVersion => "DELETE FROM object_versions WHERE seq = ?1",
        Stmt::PromoteVersion => {
            "INSERT INTO objects (bucket, key, size, etag, last_modified, blob_ids, doc,
                                  inline_data, version_id)
             SELECT bucket, key, size, etag, last_modified, blob_ids, doc, inline_data,
                    nullif(version_id, 'null')
             FROM object_versions WHERE seq = ?1"
        }
        Stmt::InsertMarker => {
            "INSERT INTO object_versions (bucket, key, version_id, delete_marker, size, etag,
                                          last_modified, blob_ids, doc, inline_data)
             VALUES (?1, ?2, ?3, TRUE, 0, '', ?4, NULL, ?5, NULL)"
        }
        Stmt::HoldBucket => "SELECT '' FROM buckets WHERE name = ?1",
        Stmt::BucketExists => "SELECT '' FROM buckets WHERE name = ?1",
        Stmt::InsertUpload => {
            "INSERT INTO uploads (upload_id, bucket, key, initiated, doc)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"
        }
        Stmt::HoldUpload => "SELECT '' FROM uploads WHERE upload_id = ?1",
        Stmt::LockUpload => "SELECT '' FROM uploads WHERE upload_id = ?1",
        Stmt::PartDoc => "SELECT doc FROM parts WHERE upload_id = ?1 AND part_number = ?2",
        Stmt::UpsertPart => {
            "INSERT INTO parts (upload_id, part_number, blob_id, doc) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET
               blob_id = excluded.blob_id, doc = excluded.doc"
        }
        Stmt::PartDocs => "SELECT doc FROM parts WHERE upload_id = ?1 ORDER BY part_number",
        Stmt::ScanParts => {
            "SELECT doc FROM parts WHERE upload_id = ?1 AND part_number > ?2
             ORDER BY part_number LIMIT ?3"
        }
        Stmt::DeleteParts => "DELETE FROM parts WHERE upload_id = ?1",
        Stmt::DeleteUpload => "DELETE FROM uploads WHERE upload_id = ?1",
        Stmt::LockBucketDoc => "SELECT doc FROM buckets WHERE name = ?1",
        Stmt::UpdateBucket => "UPDATE buckets SET doc = ?2, versioning = ?3 WHERE name = ?1",
        Stmt::BucketInUse => {
            "SELECT '' WHERE EXISTS (SELECT 1 FROM objects WHERE bucket = ?1)
                OR EXISTS (SELECT 1 FROM object_versions WHERE bucket = ?1)
                OR EXISTS (SELECT 1 FROM uploads WHERE bucket = ?1)"
        }
        Stmt::DeleteBucket => "DELETE FROM buckets WHERE name = ?1",
        Stmt::SetObjectDoc => "UPDATE objects SET doc = ?3 WHERE bucket = ?1 AND key = ?2",
        Stmt::SetVersionDoc => "UPDATE object_versions SET doc = ?2 WHERE seq = ?1",
        Stmt::LockOrg => "SELECT org_id FROM orgs WHERE org_id = ?1",
        // SQLite's partial index `access_keys_exchange_by_expiry` (`WHERE exchange = 1`)
        // serves only this exact condition; PostgreSQL's boolean column has its own text
        // (`postgres::seam::sql`).
        Stmt::PurgeExchangeKeys => {
            "DELETE FROM access_keys WHERE org_id = ?1 AND exchange = 1 AND expiry <= ?2"
        }
        Stmt::InsertKey => {
            "INSERT INTO access_keys
                 (access_key_id, org_id, principal, uid, state, doc, expiry, exchange)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING"
        }
        Stmt::SetKeyRow => "UPDATE access_keys SET state = ?2, doc = ?3 WHERE seq = ?1",
        Stmt::LockUser => "SELECT doc FROM users WHERE uid = ?1",
        Stmt::DeleteUser => "DELETE FROM users WHERE uid = ?1",
        Stmt::DeleteUserTokens => "DELETE FROM api_tokens WHERE uid = ?1",
        Stmt::UpsertPolicy => {
            "INSERT INTO policies (org_id, name, doc) VALUES (?1, ?2, ?3)
             ON CONFLICT (org_id, name) DO UPDATE SET doc = excluded.doc"
        }
        Stmt::DeletePolicy => "DELETE FROM policies WHERE org_id = ?1 AND name = ?2",
        Stmt::Current => {
            "SELECT size, etag, last_modified, version_id, doc, inline_data FROM objects
             WHERE bucket = ?1 AND key = ?2"
        }
        Stmt::UpsertCurrent => {
            "INSERT INTO objects (bucket, key, size, etag, last_modified, blob_ids, doc,
                                  inline_data, version_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (bucket, key) DO UPDATE SET
               size = excluded.size, etag = excluded.etag,
               last_modified = excluded.last_modified, blob_ids = excluded.blob_ids,
               doc = excluded.doc, inline_data = excluded.inline_data,
               version_id = excluded.version_id"
        }
        Stmt::FindVersion => {
            "SELECT seq, delete_marker, size, doc, inline_data FROM object_versions
             WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
        }
        Stmt::CurrentOfVersion => {
            "SELECT doc, inline_data FROM objects
             WHERE bucket = ?1 AND key = ?2 AND coalesce(version_id, 'null') = ?3"
        }
        Stmt::KeyRowsById => "SELECT seq, doc FROM access_keys WHERE access_key_id = ?1",
        Stmt::KeyRowsOfPrincipal => {
            "SELECT seq, doc FROM access_keys
             WHERE org_id = ?1 AND principal = ?2 AND state <> 'Deleted' AND state <> ?3
             ORDER BY seq"
        }
        Stmt::KeyRowsOfUser => {
            "SELECT seq, doc FROM access_keys
             WHERE (uid = ?1 OR (org_id = ?2 AND principal = ?3)) AND state <> 'Deleted'
             ORDER BY seq"
        }
    }
}

#[cfg(test)]
mod tests {
    /// The PostgreSQL rewrite turns every `?` into `$`: the SQL may hold no other `?`.
    #[test]
    fn every_question_mark_is_a_placeholder() {
        let src = include_str!("sql.rs");
        let body = &src[..src.find("#[cfg(test)]").unwrap()];
        for line in body.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices('?') {
                let next = line[i + 1..].chars().next();
                assert!(
                    next.is_some_and(|c| c.is_ascii_digit()),
                    "not a placeholder: {line}"
                );
            }
        }
    }
}
