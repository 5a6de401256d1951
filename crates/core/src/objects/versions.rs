//! S3 versioning over `MetaStore`'s version model: the bucket's versioning state, reads
//! and permanent deletes by version id, delete markers, and ListObjectVersions with
//! delimiter grouping and exact (key, version) markers.
//!
//! Invariants (besides the store's, see `MetaStore` "versioning"):
//! * A version id from a client is checked for form first: malformed → `InvalidArgument`,
//!   well-formed but absent → `NoSuchVersion` (reads) or a no-op success (deletes).
//! * Blobs of a permanently removed version are retired only after the commit that
//!   removed it, like every other replaced record.

use super::{ObjectService, to_completion};
use crate::error::{Error, Result};
use crate::ids::is_version_id;
use crate::meta::Deleted;
use crate::model::{NULL_VERSION, ObjectRecord, ObjectVersion, VersionSummary, VersioningState};

#[derive(Debug, Clone)]
pub struct ListVersionsInput {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: String,
    /// Only with a key marker (`InvalidArgument` otherwise, as S3).
    pub version_id_marker: String,
    /// 0..=1000 (callers clamp).
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListVersionsOutput {
    pub versions: Vec<VersionSummary>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    /// Wire form (`null` for the null version); `None` after a common prefix.
    pub next_version_id_marker: Option<String>,
}

pub(crate) fn check_version_id(v: &str) -> Result<()> {
    if is_version_id(v) {
        Ok(())
    } else {
        Err(Error::invalid("Invalid version id specified"))
    }
}

/// Most rows asked of the store per query.
const MAX_FETCH: usize = 1001;

impl ObjectService {
    /// PutBucketVersioning. `Unversioned` is `InvalidArgument`.
    pub async fn set_versioning(&self, bucket: &str, state: VersioningState) -> Result<()> {
        self.meta.set_bucket_versioning(bucket, state).await
    }

    /// The record of one object version; a delete marker is `DeleteMarker { by_id }`.
    pub(super) async fn load_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectRecord> {
        check_version_id(version_id)?;
        match self
            .meta
            .get_object_version(bucket, key, version_id)
            .await?
        {
            Some(ObjectVersion::Object(r)) => Ok(r),
            Some(ObjectVersion::DeleteMarker(m)) => Err(Error::DeleteMarker {
                version_id: m.version_id.unwrap_or_else(|| NULL_VERSION.to_string()),
                by_id: true,
            }),
            None => {
                self.get_bucket(bucket).await?;
                Err(Error::NoSuchVersion)
            }
        }
    }

    /// GET/HEAD of one version (`"null"` = the null version).
    pub async fn get_object_version(
        &self,
        input: super::GetObjectInput,
        version_id: &str,
        want_body: bool,
    ) -> Result<super::GetObjectOutput> {
        self.do_get_object(input, Some(version_id), |_, _| want_body)
            .await
    }

    /// DELETE: without `version_id`, removes the current object (unversioned bucket) or
    /// adds a delete marker (versioned); with it, removes that version for good unless
    /// Object Lock protects it (`PermissionDenied`, checked in the store's transaction):
    /// `bypass_governance` lifts GOVERNANCE retention (the caller is authorized for it).
    pub async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        bypass_governance: bool,
    ) -> Result<Deleted> {
        if let Some(v) = version_id {
            check_version_id(v)?;
        }
        let (meta, retirer) = (self.meta.clone(), self.retirer.clone());
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let version_id = version_id.map(str::to_string);
        let now = self.clock.now();
        to_completion(async move {
            let mut d = match version_id {
                None => {
                    let marker = crate::ids::new_version_id();
                    meta.delete_object_current(&bucket, &key, &marker, now)
                        .await?
                }
                Some(v) => {
                    let lock = crate::object_lock::DeleteCheck {
                        now,
                        bypass_governance,
                    };
                    meta.delete_object_version(&bucket, &key, &v, lock).await?
                }
            };
            retirer.retire(d.removed.take()).await;
            Ok(d)
        })
        .await
    }

    /// ListObjectVersions.
    pub async fn list_object_versions(
        &self,
        input: ListVersionsInput,
    ) -> Result<ListVersionsOutput> {
        if !input.version_id_marker.is_empty() {
            if input.key_marker.is_empty() {
                return Err(Error::invalid(
                    "A version-id marker cannot be specified without a key marker.",
                ));
            }
            check_version_id(&input.version_id_marker)?;
        }
        self.get_bucket(&input.bucket).await?;
        let mut out = ListVersionsOutput::default();
        if input.max_keys == 0 {
            return Ok(out);
        }
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut cursor = (input.key_marker.clone(), input.version_id_marker.clone());
        let mut buf = std::collections::VecDeque::new();
        let mut more = true;
        let mut count = 0usize;
        let mut last_group: Option<String> = None;
        loop {
            if buf.is_empty() && more {
                let limit = (input.max_keys - count + 1).clamp(1, MAX_FETCH);
                let page = self
                    .meta
                    .list_object_versions(&input.bucket, &input.prefix, &cursor.0, &cursor.1, limit)
                    .await?;
                more = page.truncated && !page.versions.is_empty();
                if let Some(last) = page.versions.last() {
                    cursor = (
                        last.key.clone(),
                        last.version_id
                            .clone()
                            .unwrap_or_else(|| NULL_VERSION.to_string()),
                    );
                }
                buf.extend(page.versions);
            }
            let Some(v) = buf.pop_front() else { break };
            match super::list::group_of(&v.key, &input.prefix, delimiter) {
                Some(group) => {
                    let group = group.to_string();
                    while buf
                        .front()
                        .is_some_and(|x: &VersionSummary| x.key.starts_with(&group))
                    {
                        buf.pop_front();
                    }
                    let bound = super::list::past_group(&group);
                    if buf.is_empty() && bound > cursor.0 {
                        cursor = (bound, String::new());
                    }
                    if last_group.as_deref() == Some(group.as_str())
                        || group.as_str() <= input.key_marker.as_str()
                    {
                        continue;
                    }
                    if count == input.max_keys {
                        out.is_truncated = true;
                        break;
                    }
                    out.next_key_marker = Some(group.clone());
                    out.next_version_id_marker = None;
                    out.common_prefixes.push(group.clone());
                    last_group = Some(group);
                }
                None => {
                    if count == input.max_keys {
                        out.is_truncated = true;
                        break;
                    }
                    out.next_key_marker = Some(v.key.clone());
                    out.next_version_id_marker = Some(
                        v.version_id
                            .clone()
                            .unwrap_or_else(|| NULL_VERSION.to_string()),
                    );
                    out.versions.push(v);
                }
            }
            count += 1;
        }
        if !out.is_truncated {
            out.next_key_marker = None;
            out.next_version_id_marker = None;
        }
        Ok(out)
    }
}
