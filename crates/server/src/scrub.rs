//! `coffer scrub`: walks every stored object version (all orgs, buckets, versions; each
//! blob segment, so every multipart part) and every part of uploads in progress, checks
//! each byte against its integrity record, and reports damage. Also renders the
//! integrity metric of a running server.
//!
//! Read-only: it opens the same stores the server uses (configuration from the same
//! flags/file), never takes the data-directory lock, never writes or deletes, and may run
//! while the server is live. A live server may replace or delete objects under the walk:
//! a finding is re-checked against a fresh read of its record and dropped ("changed") if
//! the record no longer references the same bytes.

use crate::app::{BLOB_DIR, META_DB};
use crate::config::{Config, Metadata};
use anyhow::{Context, bail};
use coffer_core::blob::BlobStore;
use coffer_core::integrity::{self, Check};
use coffer_core::meta::MetaStore;
use coffer_core::model::{NULL_VERSION, ObjectData, ObjectRecord, ObjectVersion};
use std::fmt::Write;
use std::sync::Arc;

const PAGE: usize = 1000;

/// One damaged object version (or upload part).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    pub bucket: String,
    pub key: String,
    /// `null` for the null version; `upload:<id> part:<n>` for a part of an upload in
    /// progress.
    pub version: String,
    /// Offset within the object of the first failed byte range (block start).
    pub offset: u64,
    pub detail: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Object versions checked (delete markers excluded).
    pub objects: u64,
    /// Parts of multipart uploads in progress checked.
    pub upload_parts: u64,
    pub bytes: u64,
    /// Versions/parts whose every byte verified.
    pub verified: u64,
    /// Versions/parts (some of) whose bytes have no integrity record (written before it
    /// existed) but were readable.
    pub unverified: u64,
    /// Findings dropped because the record changed while the scrub ran.
    pub changed: u64,
    pub damaged: Vec<Damage>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.damaged {
            let _ = writeln!(
                out,
                "DAMAGED bucket={} key={:?} version={} offset={} detail={}",
                d.bucket, d.key, d.version, d.offset, d.detail
            );
        }
        let _ = writeln!(
            out,
            "scrub: {} object versions and {} upload parts checked, {} bytes; {} verified, \
             {} unverified (written before integrity records), {} damaged, {} changed during \
             the scrub",
            self.objects,
            self.upload_parts,
            self.bytes,
            self.verified,
            self.unverified,
            self.damaged.len(),
            self.changed
        );
        let _ = writeln!(
            out,
            "{}",
            if self.is_clean() {
                "result: clean"
            } else {
                "result: DAMAGE FOUND"
            }
        );
        out
    }
}

/// The stores of the server configured by `cfg`, opened for reading only: no lock, no
/// start-up recovery, nothing created.
pub async fn open_stores(cfg: &Config) -> anyhow::Result<(Arc<dyn MetaStore>, Arc<dyn BlobStore>)> {
    let blob_dir = cfg
        .blob_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join(BLOB_DIR));
    if !blob_dir.is_dir() {
        bail!("no blob directory at {}", blob_dir.display());
    }
    let meta: Arc<dyn MetaStore> = match &cfg.metadata {
        Metadata::Sqlite => {
            let db = cfg.data_dir.join(META_DB);
            if !db.is_file() {
                bail!("no metadata database at {}", db.display());
            }
            Arc::new(
                coffer_store::SqliteMetaStore::open(&db)
                    .context("opening the metadata database")?,
            )
        }
        Metadata::Postgres(url) => Arc::new(
            coffer_store::PgMetaStore::connect(url)
                .await
                .context("connecting to the PostgreSQL metadata database")?,
        ),
    };
    let blobs: Arc<dyn BlobStore> =
        Arc::new(coffer_store::FsBlobStore::open(&blob_dir).context("opening the blob directory")?);
    Ok((meta, blobs))
}

/// The outcome of checking one piece list.
struct Pieces {
    unverified: bool,
    damage: Option<(u64, String)>,
}

async fn check_data(blobs: &dyn BlobStore, rec: &ObjectRecord) -> anyhow::Result<Pieces> {
    let mut p = Pieces {
        unverified: false,
        damage: None,
    };
    let mut note = |c: Check, base: u64, what: &str| match c {
        Check::Verified => None,
        Check::Unverified => {
            p.unverified = true;
            None
        }
        Check::Damaged { offset, detail } => Some((base + offset, detail)),
        Check::Missing => Some((base, format!("{what} is missing"))),
    };
    match &rec.data {
        ObjectData::Inline(b) => {
            if let Some(d) = note(
                integrity::check_inline(b, rec.inline_crc32c),
                0,
                "inline data",
            ) {
                p.damage = Some(d);
            }
        }
        ObjectData::Segments(segs) => {
            let mut base = 0;
            for s in segs {
                let c = blobs.verify(&s.blob_id, s.stored_len()).await?;
                if let Some(d) = note(c, base, &format!("blob {}", s.blob_id)) {
                    p.damage = Some(d);
                    break;
                }
                base += s.size;
            }
        }
    }
    Ok(p)
}

/// The record of one version as it is now, if it still exists.
async fn current_record(
    meta: &dyn MetaStore,
    bucket: &str,
    key: &str,
    version: &str,
) -> anyhow::Result<Option<ObjectRecord>> {
    Ok(match meta.get_object_version(bucket, key, version).await? {
        Some(ObjectVersion::Object(r)) => Some(r),
        _ => None,
    })
}

fn same_bytes(a: &ObjectRecord, b: &ObjectRecord) -> bool {
    match (&a.data, &b.data) {
        (ObjectData::Segments(x), ObjectData::Segments(y)) => x == y,
        (ObjectData::Inline(x), ObjectData::Inline(y)) => {
            x == y && a.inline_crc32c == b.inline_crc32c
        }
        _ => false,
    }
}

/// Walks and checks everything. `progress` receives each damage line as it is found.
pub async fn scrub(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    mut progress: impl FnMut(&Damage),
) -> anyhow::Result<Report> {
    let mut rep = Report::default();
    for org in meta.list_orgs().await? {
        for bucket in meta.list_buckets(&org.org_id).await? {
            let b = bucket.name.as_str();
            let (mut key_marker, mut vid_marker) = (String::new(), String::new());
            loop {
                let page = match meta
                    .list_object_versions(b, "", &key_marker, &vid_marker, PAGE)
                    .await
                {
                    Ok(p) => p,
                    // Deleted while we walked.
                    Err(coffer_core::Error::NoSuchBucket) => break,
                    Err(e) => return Err(e.into()),
                };
                for v in &page.versions {
                    if v.delete_marker {
                        continue;
                    }
                    let vid = v.version_id.as_deref().unwrap_or(NULL_VERSION);
                    let Some(rec) = current_record(meta, b, &v.key, vid).await? else {
                        rep.changed += 1;
                        continue;
                    };
                    let p = check_data(blobs, &rec).await?;
                    if let Some((offset, detail)) = p.damage {
                        // Re-read: a live server may have replaced the version meanwhile
                        // (its blobs are deleted after a grace period).
                        match current_record(meta, b, &v.key, vid).await? {
                            Some(now) if same_bytes(&now, &rec) => {
                                let d = Damage {
                                    bucket: b.to_string(),
                                    key: v.key.clone(),
                                    version: vid.to_string(),
                                    offset,
                                    detail,
                                };
                                progress(&d);
                                rep.damaged.push(d);
                            }
                            _ => {
                                rep.changed += 1;
                                continue;
                            }
                        }
                    } else if p.unverified {
                        rep.unverified += 1;
                    } else {
                        rep.verified += 1;
                    }
                    rep.objects += 1;
                    rep.bytes += rec.size;
                }
                match page.versions.last() {
                    Some(last) if page.truncated => {
                        key_marker = last.key.clone();
                        vid_marker = last
                            .version_id
                            .clone()
                            .unwrap_or_else(|| NULL_VERSION.to_string());
                    }
                    _ => break,
                }
            }
            scrub_uploads(meta, blobs, b, &mut rep, &mut progress).await?;
        }
    }
    Ok(rep)
}

async fn scrub_uploads(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    bucket: &str,
    rep: &mut Report,
    progress: &mut impl FnMut(&Damage),
) -> anyhow::Result<()> {
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    loop {
        let uploads = match meta
            .list_uploads(bucket, "", &key_marker, &id_marker, PAGE)
            .await
        {
            Ok(u) => u,
            Err(coffer_core::Error::NoSuchBucket) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for u in &uploads {
            let mut marker = 0;
            loop {
                let parts = match meta.list_parts(&u.upload_id, marker, PAGE).await {
                    Ok(p) => p,
                    Err(coffer_core::Error::NoSuchUpload) => break,
                    Err(e) => return Err(e.into()),
                };
                for part in &parts {
                    rep.upload_parts += 1;
                    rep.bytes += part.size;
                    match blobs
                        .verify(
                            &part.blob_id,
                            coffer_core::model::stored_len(part.size, part.key_salt.is_some()),
                        )
                        .await?
                    {
                        Check::Verified => rep.verified += 1,
                        Check::Unverified => rep.unverified += 1,
                        c @ (Check::Damaged { .. } | Check::Missing) => {
                            // Still the same part of a live upload?
                            let still = meta
                                .list_parts(&u.upload_id, part.part_number - 1, 1)
                                .await
                                .ok()
                                .and_then(|v| v.into_iter().next())
                                .is_some_and(|p| p.blob_id == part.blob_id);
                            if !still {
                                rep.changed += 1;
                                continue;
                            }
                            let (offset, detail) = match c {
                                Check::Damaged { offset, detail } => (offset, detail),
                                _ => (0, format!("blob {} is missing", part.blob_id)),
                            };
                            let d = Damage {
                                bucket: bucket.to_string(),
                                key: u.key.clone(),
                                version: format!(
                                    "upload:{} part:{}",
                                    u.upload_id, part.part_number
                                ),
                                offset,
                                detail,
                            };
                            progress(&d);
                            rep.damaged.push(d);
                        }
                    }
                }
                match parts.last() {
                    Some(p) if parts.len() == PAGE => marker = p.part_number,
                    _ => break,
                }
            }
        }
        match uploads.last() {
            Some(u) if uploads.len() == PAGE => {
                key_marker = u.key.clone();
                id_marker = u.upload_id.clone();
            }
            _ => return Ok(()),
        }
    }
}
