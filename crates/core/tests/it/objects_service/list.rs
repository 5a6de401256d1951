use super::*;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use time::OffsetDateTime;

/// Stores an empty object under each of `keys`, concurrently (the SQLite writer commits
/// them in groups).
async fn seed_keys(env: &Env, keys: &[String]) {
    for chunk in keys.chunks(500) {
        futures::future::join_all(chunk.iter().map(|k| {
            let record = ObjectRecord {
                inline_crc32c: None,
                upload_id: None,
                owner_org: None,
                acl: None,
                retention: None,
                legal_hold: false,
                v: 1,
                bucket: BUCKET.into(),
                key: k.clone(),
                size: k.len() as u64,
                etag: "\"e\"".into(),
                last_modified: OffsetDateTime::UNIX_EPOCH,
                headers: ObjectHeaders::default(),
                user_metadata: BTreeMap::new(),
                checksums: Checksums::default(),
                parts: Vec::new(),
                tags: BTreeMap::new(),
                data: ObjectData::Inline(Vec::new()),
                version_id: None,
                encryption: None,
            };
            async move { store_record(env, &record).await }
        }))
        .await;
    }
}

/// Entries (name, is_prefix) of a listing as S3 defines it, by brute force.
fn model(
    keys: &[String],
    prefix: &str,
    delim: Option<&str>,
    start_after: &str,
) -> Vec<(String, bool)> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for k in sorted {
        if !k.starts_with(prefix) || k.as_str() <= start_after {
            continue;
        }
        let group = delim.filter(|d| !d.is_empty()).and_then(|d| {
            k[prefix.len()..]
                .find(d)
                .map(|i| k[..prefix.len() + i + d.len()].to_string())
        });
        match group {
            Some(g) => {
                if g.as_str() > start_after && seen.insert(g.clone()) {
                    out.push((g, true));
                }
            }
            None => out.push((k, false)),
        }
    }
    out
}

fn entries(out: &ListObjectsOutput) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = out
        .objects
        .iter()
        .map(|o| (o.key.clone(), false))
        .chain(out.common_prefixes.iter().map(|p| (p.clone(), true)))
        .collect();
    v.sort();
    v
}

async fn list(
    env: &Env,
    prefix: &str,
    delim: Option<&str>,
    start_after: &str,
    max: usize,
) -> ListObjectsOutput {
    env.svc
        .list_objects(ListObjectsInput {
            bucket: BUCKET.into(),
            prefix: prefix.into(),
            delimiter: delim.map(str::to_string),
            start_after: start_after.into(),
            max_keys: max,
        })
        .await
        .unwrap()
}

fn key_set() -> Vec<String> {
    let mut keys: Vec<String> = [
        "a",
        "a/b",
        "a/b/c",
        "a/c",
        "a/\u{10FFFF}z",
        "a/\u{10FFFF}",
        "b/",
        "b//x",
        "b//y",
        "c",
        "d/e/f",
        "photos/2024/jan/1.jpg",
        "photos/2024/feb/2.jpg",
        "photos/2025/x",
        "x\u{10FFFF}y",
        "é/1",
        "é/2",
        "éé",
        "/lead",
        "//double",
        "zzz",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    keys.extend((0..40).map(|i| format!("folder/{i:04}")));
    keys.extend((0..5).map(|i| format!("folder/sub{i}/x")));
    keys
}

#[tokio::test]
async fn listings_match_the_model_and_pages_concatenate() {
    let env = env().await;
    let keys = key_set();
    seed_keys(&env, &keys).await;
    for prefix in ["", "a", "a/", "b/", "folder/", "photos/", "é", "zzz", "q"] {
        for delim in [None, Some("/"), Some("//"), Some("a/"), Some("é"), Some("")] {
            for start_after in [
                "",
                "a/",
                "a/b",
                "b",
                "folder/0010",
                "folder/sub2",
                "photos/2024/",
                "zzz",
            ] {
                let want = model(&keys, prefix, delim, start_after);
                let whole = list(&env, prefix, delim, start_after, 1000).await;
                assert_eq!(
                    entries(&whole),
                    want,
                    "{prefix:?} {delim:?} {start_after:?}"
                );
                assert!(!whole.is_truncated);
                for max in [1, 2, 3, 7] {
                    let mut got = Vec::new();
                    let mut marker = start_after.to_string();
                    loop {
                        let page = list(&env, prefix, delim, &marker, max).await;
                        let e = entries(&page);
                        assert!(e.len() <= max);
                        let expect_more = got.len() + e.len() < want.len();
                        assert_eq!(
                            page.is_truncated, expect_more,
                            "{prefix:?} {delim:?} {start_after:?} {max}"
                        );
                        got.extend(e);
                        if !page.is_truncated {
                            break;
                        }
                        let next = page.next_marker.clone().unwrap();
                        assert!(next > marker);
                        marker = next;
                    }
                    assert_eq!(got, want, "{prefix:?} {delim:?} {start_after:?} {max}");
                }
            }
        }
    }
}

#[tokio::test]
async fn truncation_is_exact_and_max_zero_is_empty() {
    let env = env().await;
    let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
    seed_keys(&env, &keys).await;
    let out = list(&env, "", None, "", 5).await;
    assert_eq!(out.objects.len(), 5);
    assert!(!out.is_truncated);
    assert_eq!(out.next_marker.as_deref(), Some("k4"));
    let out = list(&env, "", None, "", 4).await;
    assert!(out.is_truncated);
    let out = list(&env, "", None, "", 0).await;
    assert!(out.objects.is_empty() && out.common_prefixes.is_empty() && !out.is_truncated);
    // A group that is the last entry: truncation still exact.
    seed_keys(&env, &["z/1".to_string(), "z/2".to_string()]).await;
    let out = list(&env, "", Some("/"), "", 6).await;
    assert_eq!(out.common_prefixes, ["z/"]);
    assert!(!out.is_truncated);
    let out = list(&env, "", Some("/"), "", 5).await;
    assert!(out.is_truncated);
    assert!(
        env.svc
            .list_objects(ListObjectsInput {
                bucket: "nobucket".into(),
                prefix: String::new(),
                delimiter: None,
                start_after: String::new(),
                max_keys: 10,
            })
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_big_folder_is_skipped_with_one_query() {
    let env = env().await;
    let mut keys: Vec<String> = (0..10_000).map(|i| format!("folder/{i:05}")).collect();
    keys.push("a".into());
    keys.push("zeta/1".into());
    keys.push("zz".into());
    seed_keys(&env, &keys).await;
    env.meta.list_objects_calls.store(0, Ordering::SeqCst);
    let out = list(&env, "", Some("/"), "", 1000).await;
    assert_eq!(out.common_prefixes, ["folder/", "zeta/"]);
    assert_eq!(out.objects.len(), 2);
    assert!(!out.is_truncated);
    let calls = env.meta.list_objects_calls.load(Ordering::SeqCst);
    assert!(calls <= 4, "{calls} store queries");
}

#[tokio::test]
async fn many_big_folders_cost_few_rows_each() {
    let env = env().await;
    let keys: Vec<String> = (0..200)
        .flat_map(|d| (0..200).map(move |i| format!("d{d:03}/{i:03}")))
        .collect();
    seed_keys(&env, &keys).await;
    env.meta.list_objects_calls.store(0, Ordering::SeqCst);
    let rows_before = env.meta.list_objects_rows.load(Ordering::SeqCst);
    let out = list(&env, "", Some("/"), "", 1000).await;
    assert_eq!(out.common_prefixes.len(), 200);
    let rows = env.meta.list_objects_rows.load(Ordering::SeqCst) - rows_before;
    assert!(rows < 200 * 20 + 1001, "{rows} rows read for 200 prefixes");
    // Paging through the prefixes gives the same answer.
    let mut got = Vec::new();
    let mut marker = String::new();
    loop {
        let page = list(&env, "", Some("/"), &marker, 7).await;
        got.extend(page.common_prefixes.iter().cloned());
        if !page.is_truncated {
            break;
        }
        marker = page.next_marker.unwrap();
    }
    assert_eq!(got, out.common_prefixes);
}

#[tokio::test]
async fn listing_throughput() {
    let env = env().await;
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("dir/file-{i:06}.bin"))
        .collect();
    seed_keys(&env, &keys).await;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let mut marker = String::new();
        let mut n = 0;
        loop {
            let page = list(&env, "", None, &marker, 1000).await;
            n += page.objects.len();
            if !page.is_truncated {
                break;
            }
            marker = page.next_marker.unwrap();
        }
        assert_eq!(n, 10_000);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let rate = 10_000.0 / best;
    println!("listing: {rate:.0} keys/s (10k keys, pages of 1000, SQLite store)");
    if !cfg!(debug_assertions) {
        assert!(rate >= 200_000.0, "{rate:.0} keys/s");
    }
}

#[tokio::test]
async fn upload_listings_group_and_paginate() {
    let env = env().await;
    let keys = ["a/1", "a/2", "a/2", "b", "c/x/y", "c/z", "d"];
    let mut ids = Vec::new();
    for k in keys {
        let u = env
            .svc
            .create_multipart(CreateMultipartInput {
                bucket: BUCKET.into(),
                key: k.into(),
                headers: ObjectHeaders::default(),
                user_metadata: BTreeMap::new(),
                tags: BTreeMap::new(),
                checksum_algorithm: None,
                checksum_type: None,
                initiator: "me".into(),
                lock: Default::default(),
                access: Default::default(),
                sse: Default::default(),
            })
            .await
            .unwrap();
        ids.push((k.to_string(), u.upload_id));
    }
    ids.sort();
    let input = |delim: Option<&str>, km: &str, um: &str, max: usize| ListUploadsInput {
        bucket: BUCKET.into(),
        prefix: String::new(),
        delimiter: delim.map(str::to_string),
        key_marker: km.into(),
        upload_id_marker: um.into(),
        max_uploads: max,
    };
    let all = env
        .svc
        .list_uploads(input(None, "", "", 1000))
        .await
        .unwrap();
    assert_eq!(all.uploads.len(), 7);
    assert!(!all.is_truncated);
    let grouped = env
        .svc
        .list_uploads(input(Some("/"), "", "", 1000))
        .await
        .unwrap();
    assert_eq!(grouped.common_prefixes, ["a/", "c/"]);
    assert_eq!(
        grouped
            .uploads
            .iter()
            .map(|u| u.key.as_str())
            .collect::<Vec<_>>(),
        ["b", "d"]
    );
    for delim in [None, Some("/")] {
        let whole = env
            .svc
            .list_uploads(input(delim, "", "", 1000))
            .await
            .unwrap();
        let want: Vec<String> = whole
            .uploads
            .iter()
            .map(|u| format!("{}#{}", u.key, u.upload_id))
            .chain(whole.common_prefixes.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for max in [1, 2, 3] {
            let (mut km, mut um) = (String::new(), String::new());
            let mut got = std::collections::BTreeSet::new();
            loop {
                let page = env
                    .svc
                    .list_uploads(input(delim, &km, &um, max))
                    .await
                    .unwrap();
                assert!(page.uploads.len() + page.common_prefixes.len() <= max);
                got.extend(
                    page.uploads
                        .iter()
                        .map(|u| format!("{}#{}", u.key, u.upload_id)),
                );
                got.extend(page.common_prefixes.iter().cloned());
                if !page.is_truncated {
                    break;
                }
                km = page.next_key_marker.unwrap();
                um = page.next_upload_id_marker.unwrap_or_default();
            }
            assert_eq!(got.into_iter().collect::<Vec<_>>(), want, "{delim:?} {max}");
        }
    }
    let empty = env.svc.list_uploads(input(None, "", "", 0)).await.unwrap();
    assert!(empty.uploads.is_empty() && !empty.is_truncated);
}
