//! Bitrot: bytes damaged on disk (a blob file) or in the metadata store (an inline
//! object row) are never served. A real server (SQLite, its own temporary directory) is
//! driven with aws-sdk-s3 (retries off, so each request is one read) and reqwest for
//! `/metrics`; `coffer scrub` is the real binary run against the live data directory.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use coffer_server::testing::TestServer;
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MIB: usize = 1 << 20;
/// Integrity block size of new blobs (coffer_core::integrity::BLOCK_SIZE).
const BLOCK: usize = 64 * 1024;

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32 % 31) as u8
                ^ seed
        })
        .collect()
}

async fn server() -> (TestServer, Client, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let ts = TestServer::start_in(tmp.path().join("data")).await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    (ts, coffer_server::testing::without_retries(&s3), tmp)
}

fn blob_files(data_dir: &Path) -> HashSet<PathBuf> {
    let mut out = HashSet::new();
    let root = data_dir.join("blobs");
    for l1 in std::fs::read_dir(&root).unwrap().flatten() {
        let name = l1.file_name().into_string().unwrap();
        if name.len() != 2 {
            continue;
        }
        for l2 in std::fs::read_dir(l1.path()).unwrap().flatten() {
            for f in std::fs::read_dir(l2.path()).unwrap().flatten() {
                out.insert(f.path());
            }
        }
    }
    out
}

/// PUTs `body` and returns the blob file it created.
async fn put_blob(ts: &TestServer, s3: &Client, bucket: &str, key: &str, body: &[u8]) -> PathBuf {
    let before = blob_files(&ts.data_dir);
    put(s3, bucket, key, body).await;
    let new: Vec<_> = blob_files(&ts.data_dir)
        .difference(&before)
        .cloned()
        .collect();
    assert_eq!(new.len(), 1, "one blob per single PUT");
    new[0].clone()
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap();
}

fn flip_byte(path: &Path, offset: u64) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut b = [0u8];
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
    f.sync_all().unwrap();
}

fn sqlite(ts: &TestServer) -> rusqlite::Connection {
    rusqlite::Connection::open(ts.data_dir.join("meta.db")).unwrap()
}

/// Flips one byte of an inline object's bytes in its metadata row.
fn corrupt_inline(ts: &TestServer, bucket: &str, key: &str, at: usize) {
    let db = sqlite(ts);
    let mut bytes: Vec<u8> = db
        .query_row(
            "SELECT inline_data FROM objects WHERE bucket = ?1 AND key = ?2",
            [bucket, key],
            |r| r.get(0),
        )
        .unwrap();
    bytes[at] ^= 0x40;
    let n = db
        .execute(
            "UPDATE objects SET inline_data = ?3 WHERE bucket = ?1 AND key = ?2",
            rusqlite::params![bucket, key, bytes],
        )
        .unwrap();
    assert_eq!(n, 1);
}

enum Got {
    /// The complete, correct body.
    Bytes(Vec<u8>),
    /// An S3 error before the response head: (status, code).
    Refused(u16, String),
    /// The head was sent, then the body was cut short.
    Truncated,
}

async fn get(s3: &Client, bucket: &str, key: &str, range: Option<&str>, part: Option<i32>) -> Got {
    let mut req = s3.get_object().bucket(bucket).key(key);
    if let Some(r) = range {
        req = req.range(r);
    }
    if let Some(p) = part {
        req = req.part_number(p);
    }
    match req.send().await {
        Ok(out) => {
            let declared = out.content_length().unwrap_or(-1);
            match out.body.collect().await {
                Ok(b) => {
                    let b = b.into_bytes().to_vec();
                    assert_eq!(b.len() as i64, declared, "a complete body has its length");
                    Got::Bytes(b)
                }
                Err(_) => Got::Truncated,
            }
        }
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                .unwrap_or("")
                .to_string();
            Got::Refused(status, code)
        }
    }
}

fn assert_refused(g: Got, what: &str) {
    match g {
        Got::Refused(500, code) => assert_eq!(code, "CorruptedObject", "{what}"),
        Got::Refused(s, c) => panic!("{what}: refused with {s} {c}"),
        Got::Bytes(_) => panic!("{what}: damaged bytes were served"),
        Got::Truncated => panic!("{what}: expected an error before the head"),
    }
}

fn assert_bytes(g: Got, want: &[u8], what: &str) {
    match g {
        Got::Bytes(b) => assert!(b == want, "{what}: wrong bytes"),
        Got::Refused(s, c) => panic!("{what}: refused with {s} {c}"),
        Got::Truncated => panic!("{what}: truncated"),
    }
}

async fn integrity_errors(ts: &TestServer) -> u64 {
    let text = ts
        .http
        .get(format!("{}/metrics", ts.api_endpoint))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("coffer_integrity_errors_total "))
        .expect("metric present")
        .parse()
        .unwrap()
}

struct ScrubOut {
    code: i32,
    stdout: String,
    json: serde_json::Value,
}

/// Runs the real `coffer scrub` against the (live) server's data directory, in text and
/// JSON form.
fn scrub(ts: &TestServer) -> ScrubOut {
    let run = |json: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        c.arg("scrub").arg("--data-dir").arg(&ts.data_dir);
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };
    let text = run(false);
    let json = run(true);
    assert_eq!(text.status.code(), json.status.code());
    ScrubOut {
        code: text.status.code().unwrap(),
        stdout: String::from_utf8(text.stdout).unwrap(),
        json: serde_json::from_slice(&json.stdout).unwrap(),
    }
}

fn damaged_keys(out: &ScrubOut) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = out.json["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["key"].as_str().unwrap().to_string(),
                d["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn multipart(s3: &Client, bucket: &str, key: &str, parts: &[&[u8]]) {
    let up = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(p.to_vec().into())
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_bytes_are_never_served_and_scrub_finds_exactly_them() {
    let (ts, s3, _tmp) = server().await;
    s3.create_bucket().bucket("rot").send().await.unwrap();

    // A 3 MiB + 1000 B object damaged in its middle block, one damaged in its first
    // block, an inline object, a multipart object with a damaged middle part, and
    // untouched neighbours of each kind.
    let big = data(3 * MIB + 1000, 1);
    let big_blob = put_blob(&ts, &s3, "rot", "big", &big).await;
    let head_dmg = data(2 * MIB, 2);
    let head_blob = put_blob(&ts, &s3, "rot", "head", &head_dmg).await;
    let clean = data(2 * MIB + 7, 3);
    put(&s3, "rot", "clean", &clean).await;
    let small = data(1000, 4);
    put(&s3, "rot", "small", &small).await;
    let small_ok = data(900, 5);
    put(&s3, "rot", "small-ok", &small_ok).await;
    let parts = [data(5 * MIB, 6), data(6 * MIB, 7), data(2 * MIB, 8)];
    let before = blob_files(&ts.data_dir);
    multipart(&s3, "rot", "mp", &[&parts[0], &parts[1], &parts[2]]).await;
    let part2_blob = blob_files(&ts.data_dir)
        .difference(&before)
        .find(|p| std::fs::metadata(p).unwrap().len() > (6 * MIB) as u64)
        .cloned()
        .expect("part 2's blob");
    let whole_mp: Vec<u8> = parts.concat();

    // Everything reads back before the damage; a clean store scrubs clean.
    assert_bytes(get(&s3, "rot", "big", None, None).await, &big, "big before");
    assert_bytes(
        get(&s3, "rot", "mp", None, None).await,
        &whole_mp,
        "mp before",
    );
    let out = scrub(&ts);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("result: clean"), "{}", out.stdout);
    assert_eq!(out.json["objects"], 6);
    assert_eq!(out.json["verified"], 6);
    assert_eq!(out.json["unverified"], 0);

    let damage_at = 24 * BLOCK + 100; // in the 25th block, past the first 1 MiB chunk
    flip_byte(&big_blob, damage_at as u64);
    flip_byte(&head_blob, 10);
    corrupt_inline(&ts, "rot", "small", 500);
    flip_byte(&part2_blob, (3 * MIB) as u64);
    let m0 = integrity_errors(&ts).await;
    assert_eq!(m0, 0);

    // Full GET of `big`: the head (and the verified first MiB) goes out, then the
    // connection is cut before the damaged block: the client sees a short body.
    assert!(matches!(
        get(&s3, "rot", "big", None, None).await,
        Got::Truncated
    ));
    // Ranged GETs: inside the damaged block → refused before the head; outside it (before
    // and after, even in the neighbouring blocks) → the right bytes.
    let r = format!("bytes={}-{}", damage_at - 5, damage_at + 5);
    assert_refused(
        get(&s3, "rot", "big", Some(&r), None).await,
        "range in block",
    );
    let r = format!("bytes={}-{}", 24 * BLOCK, 24 * BLOCK);
    assert_refused(
        get(&s3, "rot", "big", Some(&r), None).await,
        "first byte of block",
    );
    for (a, b) in [
        (0, 999),
        (23 * BLOCK, 24 * BLOCK - 1),
        (25 * BLOCK, 3 * MIB + 999),
    ] {
        let r = format!("bytes={a}-{b}");
        assert_bytes(
            get(&s3, "rot", "big", Some(&r), None).await,
            &big[a..=b],
            &r,
        );
    }
    // Damage in the first block: the whole GET is refused before the head.
    assert_refused(get(&s3, "rot", "head", None, None).await, "head full");
    // Inline object: any read of it is refused (its CRC covers all of it).
    assert_refused(get(&s3, "rot", "small", None, None).await, "inline full");
    assert_refused(
        get(&s3, "rot", "small", Some("bytes=0-9"), None).await,
        "inline range",
    );
    // Multipart: part 1 and 3 read fine, part 2 is refused, the whole object is cut short
    // after part 1.
    assert_bytes(
        get(&s3, "rot", "mp", None, Some(1)).await,
        &parts[0],
        "part 1",
    );
    assert_bytes(
        get(&s3, "rot", "mp", None, Some(3)).await,
        &parts[2],
        "part 3",
    );
    assert!(matches!(
        get(&s3, "rot", "mp", None, Some(2)).await,
        Got::Truncated | Got::Refused(500, _)
    ));
    assert!(matches!(
        get(&s3, "rot", "mp", None, None).await,
        Got::Truncated
    ));
    let r = format!("bytes={}-{}", 5 * MIB + 3 * MIB, 5 * MIB + 3 * MIB + 10);
    assert_refused(
        get(&s3, "rot", "mp", Some(&r), None).await,
        "mp range in part 2",
    );
    // Untouched objects are unaffected.
    assert_bytes(get(&s3, "rot", "clean", None, None).await, &clean, "clean");
    assert_bytes(
        get(&s3, "rot", "small-ok", None, None).await,
        &small_ok,
        "small-ok",
    );

    // HEAD reads no data: it answers from the metadata, which is intact.
    let h = s3
        .head_object()
        .bucket("rot")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_length(), Some(big.len() as i64));
    s3.head_object()
        .bucket("rot")
        .key("small")
        .send()
        .await
        .unwrap();

    // Copies from a damaged source fail and create nothing.
    for src in ["big", "head", "small", "mp"] {
        let e = s3
            .copy_object()
            .bucket("rot")
            .key(format!("copy-of-{src}"))
            .copy_source(format!("rot/{src}"))
            .send()
            .await
            .expect_err(src);
        assert_eq!(
            aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
            Some("CorruptedObject"),
            "{src}"
        );
        assert!(
            s3.head_object()
                .bucket("rot")
                .key(format!("copy-of-{src}"))
                .send()
                .await
                .is_err()
        );
    }
    // Copying a clean object still works.
    s3.copy_object()
        .bucket("rot")
        .key("copy-of-clean")
        .copy_source("rot/clean")
        .send()
        .await
        .unwrap();

    // One count per refused read: 1 (big full) + 2 (ranges) + 1 (head) + 2 (inline) +
    // 3 (mp part 2, full, range) + 4 (copies).
    assert_eq!(integrity_errors(&ts).await, 13);

    // Scrub, with the server live: exactly the four damaged objects, at the damaged
    // block (offsets within the object), and a non-zero exit.
    let out = scrub(&ts);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("result: DAMAGE FOUND"),
        "{}",
        out.stdout
    );
    assert_eq!(
        damaged_keys(&out),
        vec![
            ("big".to_string(), (24 * BLOCK) as u64),
            ("head".to_string(), 0),
            ("mp".to_string(), (5 * MIB + 3 * MIB) as u64),
            ("small".to_string(), 0),
        ]
    );
    assert_eq!(out.json["objects"], 7);
    assert_eq!(out.json["verified"], 3);
    for d in out.json["damaged"].as_array().unwrap() {
        assert_eq!(d["bucket"], "rot");
        assert_eq!(d["version"], "null");
        let line = format!("DAMAGED bucket=rot key={:?}", d["key"].as_str().unwrap());
        assert!(out.stdout.contains(&line), "{}", out.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pre_change_objects_read_fine_and_scrub_calls_them_unverified() {
    let (ts, s3, _tmp) = server().await;
    s3.create_bucket().bucket("old").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("old")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Blob objects as the pre-change writer left them: data only, no trailer.
    let big = data(2 * MIB + 333, 9);
    let blob = put_blob(&ts, &s3, "old", "big", &big).await;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .unwrap()
        .set_len(big.len() as u64)
        .unwrap();
    // An older version of the same key, new format.
    let v2 = data(MIB + 5, 10);
    put(&s3, "old", "big", &v2).await;
    // An inline object without a CRC in its record.
    let small = data(4000, 11);
    put(&s3, "old", "small", &small).await;
    let n = sqlite(&ts)
        .execute(
            "UPDATE objects SET doc = json_remove(doc, '$.inline_crc32c') WHERE key = 'small'",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);

    let versions = s3
        .list_object_versions()
        .bucket("old")
        .prefix("big")
        .send()
        .await
        .unwrap();
    let old_vid = versions
        .versions()
        .iter()
        .find(|v| v.is_latest() == Some(false))
        .and_then(|v| v.version_id())
        .unwrap()
        .to_string();
    let got = s3
        .get_object()
        .bucket("old")
        .key("big")
        .version_id(&old_vid)
        .send()
        .await
        .unwrap();
    assert!(got.body.collect().await.unwrap().into_bytes() == big);
    let got = s3
        .get_object()
        .bucket("old")
        .key("big")
        .version_id(&old_vid)
        .range("bytes=1048570-1048600")
        .send()
        .await
        .unwrap();
    assert!(got.body.collect().await.unwrap().into_bytes() == big[1_048_570..=1_048_600]);
    assert_bytes(get(&s3, "old", "big", None, None).await, &v2, "current");
    assert_bytes(get(&s3, "old", "small", None, None).await, &small, "small");
    assert_bytes(
        get(&s3, "old", "small", Some("bytes=10-19"), None).await,
        &small[10..20],
        "small range",
    );
    assert_eq!(integrity_errors(&ts).await, 0);

    let out = scrub(&ts);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json["objects"], 3);
    assert_eq!(out.json["unverified"], 2);
    assert_eq!(out.json["verified"], 1);
    assert!(out.stdout.contains("2 unverified"), "{}", out.stdout);
    assert!(out.stdout.contains("result: clean"), "{}", out.stdout);

    // A pre-change blob that lost bytes is damage, not "unverified".
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .unwrap()
        .set_len(big.len() as u64 - 1)
        .unwrap();
    let out = scrub(&ts);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(damaged_keys(&out).len(), 1);
    assert_eq!(out.json["damaged"][0]["version"], old_vid.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_refuses_a_directory_without_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("scrub")
        .arg("--data-dir")
        .arg(tmp.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no blob directory"), "{err}");
    // Nothing was created.
    assert!(!tmp.path().join("nothing").exists());
}

/// Encrypted objects (bucket default encryption, SSE-S3) keep per-block integrity: the
/// blob's CRC trailer covers the sealed bytes, so damage is refused before any block is
/// opened, ranges elsewhere still read, and `coffer scrub` — which has no key — finds
/// exactly the damaged objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn encrypted_damage_is_refused_and_scrub_needs_no_key() {
    let (ts, s3, _tmp) = server().await;
    s3.create_bucket().bucket("enc").send().await.unwrap();
    coffer_server::testing::set_default_encryption(&s3, "enc").await;
    let big = data(3 * MIB + 1000, 21);
    let big_blob = put_blob(&ts, &s3, "enc", "big", &big).await;
    // A sealed block is exactly one integrity block: the file holds 16 more bytes per
    // 65,520 of data, then the trailer.
    let plain_block = BLOCK - 16;
    let sealed = big.len() + 16 * big.len().div_ceil(plain_block);
    let trailer = 4 * sealed.div_ceil(BLOCK) + 24;
    assert_eq!(
        std::fs::metadata(&big_blob).unwrap().len(),
        (sealed + trailer) as u64
    );
    let small = data(1000, 22);
    put(&s3, "enc", "small", &small).await;
    let clean = data(2 * MIB, 23);
    put(&s3, "enc", "clean", &clean).await;
    let parts = [data(5 * MIB, 24), data(MIB + 3, 25)];
    multipart(&s3, "enc", "mp", &[&parts[0], &parts[1]]).await;
    let h = s3
        .head_object()
        .bucket("enc")
        .key("mp")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    assert_bytes(get(&s3, "enc", "big", None, None).await, &big, "big");
    assert_bytes(
        get(&s3, "enc", "mp", None, None).await,
        &parts.concat(),
        "mp",
    );
    let out = scrub(&ts);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json["verified"], 4, "{}", out.stdout);

    // Damage in sealed block 24 (stored offset 24 * BLOCK + 100), and in the inline row.
    flip_byte(&big_blob, (24 * BLOCK + 100) as u64);
    corrupt_inline(&ts, "enc", "small", 500);
    let in_block = |i: usize| format!("bytes={}-{}", i * plain_block + 7, i * plain_block + 9);
    assert_refused(
        get(&s3, "enc", "big", Some(&in_block(24)), None).await,
        "range in the damaged block",
    );
    for i in [0, 23, 25, 48] {
        let r = in_block(i);
        let a = i * plain_block + 7;
        assert_bytes(
            get(&s3, "enc", "big", Some(&r), None).await,
            &big[a..a + 3],
            &r,
        );
    }
    assert!(matches!(
        get(&s3, "enc", "big", None, None).await,
        Got::Truncated
    ));
    assert_refused(get(&s3, "enc", "small", None, None).await, "inline");
    assert_bytes(get(&s3, "enc", "clean", None, None).await, &clean, "clean");
    let out = scrub(&ts);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(
        damaged_keys(&out)
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        ["big", "small"]
    );
    assert_eq!(out.json["verified"], 2, "{}", out.stdout);
}
