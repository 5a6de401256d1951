//! Multipart uploads end to end with aws-sdk-s3: 3 × 5 MiB with whole, part and range
//! reads; ListParts / ListMultipartUploads; UploadPartCopy; abort; and the bad-input
//! twins (parts < 5 MiB, wrong ETags, wrong order, unknown uploads, part numbers out of
//! range, empty part lists).

use crate::s3_common::*;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use md5::Md5;
use sha2::Digest;

const PART: usize = 5 * MIB;

async fn create(c: &Client, bucket: &str, key: &str) -> String {
    c.create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-parts")
        .metadata("origin", "mpu")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap()
}

async fn upload(
    c: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    n: i32,
    data: &[u8],
) -> CompletedPart {
    let out = c
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {}", dbg_err(&e)));
    CompletedPart::builder()
        .part_number(n)
        .e_tag(out.e_tag.unwrap())
        .build()
}

fn parts(p: Vec<CompletedPart>) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(p))
        .build()
}

#[tokio::test]
async fn three_parts_with_part_and_range_reads() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "mpu").await;
    let data: Vec<Vec<u8>> = (0..3).map(|i| bytes_of(PART, 100 + i)).collect();
    let all = data.concat();
    let id = create(&c, "mpu", "big/object").await;

    // Listed while in progress.
    let ups = c
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .unwrap();
    let listed: Vec<_> = ups.uploads().iter().filter_map(|u| u.upload_id()).collect();
    assert_eq!(listed, [id.as_str()]);
    assert_eq!(ups.uploads()[0].key(), Some("big/object"));

    let mut done = Vec::new();
    for (i, d) in data.iter().enumerate() {
        done.push(upload(&c, "mpu", "big/object", &id, i as i32 + 1, d).await);
    }
    let lp = c
        .list_parts()
        .bucket("mpu")
        .key("big/object")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let sizes: Vec<_> = lp
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size()))
        .collect();
    assert_eq!(
        sizes,
        [
            (Some(1), Some(PART as i64)),
            (Some(2), Some(PART as i64)),
            (Some(3), Some(PART as i64))
        ]
    );
    let lp = c
        .list_parts()
        .bucket("mpu")
        .key("big/object")
        .upload_id(&id)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    assert_eq!(lp.parts().len(), 2);
    assert_eq!(lp.is_truncated(), Some(true));
    assert_eq!(lp.next_part_number_marker(), Some("2"));

    let out = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big/object")
        .upload_id(&id)
        .multipart_upload(parts(done))
        .send()
        .await
        .unwrap();
    // ETag = MD5 of the part MD5s + "-3".
    let mut md5s = Vec::new();
    for d in &data {
        md5s.extend_from_slice(&Md5::digest(d));
    }
    let want = format!("\"{}-3\"", hex::encode(Md5::digest(&md5s)));
    assert_eq!(out.e_tag(), Some(want.as_str()));
    let ups = c
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .unwrap();
    assert!(ups.uploads().is_empty());

    assert_eq!(get(&c, "mpu", "big/object").await, all);
    let h = c
        .head_object()
        .bucket("mpu")
        .key("big/object")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_length(), Some(3 * PART as i64));
    assert_eq!(h.content_type(), Some("application/x-parts"));
    assert_eq!(
        h.metadata().unwrap().get("origin").map(String::as_str),
        Some("mpu")
    );

    // partNumber reads.
    let g = c
        .get_object()
        .bucket("mpu")
        .key("big/object")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(g.parts_count(), Some(3));
    assert_eq!(g.content_length(), Some(PART as i64));
    assert_eq!(
        g.content_range(),
        Some(format!("bytes {}-{}/{}", PART, 2 * PART - 1, 3 * PART).as_str())
    );
    assert_eq!(
        g.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[1][..]
    );
    let h = c
        .head_object()
        .bucket("mpu")
        .key("big/object")
        .part_number(3)
        .send()
        .await
        .unwrap();
    assert_eq!(h.parts_count(), Some(3));
    assert_eq!(h.content_length(), Some(PART as i64));
    assert_s3_err(
        c.get_object()
            .bucket("mpu")
            .key("big/object")
            .part_number(4)
            .send()
            .await,
        "InvalidPartNumber",
        416,
    );
    assert_s3_err(
        c.get_object()
            .bucket("mpu")
            .key("big/object")
            .part_number(1)
            .range("bytes=0-1")
            .send()
            .await,
        "InvalidRequest",
        400,
    );

    // A range across the part boundary.
    let g = c
        .get_object()
        .bucket("mpu")
        .key("big/object")
        .range(format!("bytes={}-{}", PART - 10, PART + 9))
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.body.collect().await.unwrap().into_bytes().as_ref(),
        &all[PART - 10..PART + 10]
    );
}

#[tokio::test]
async fn multipart_bad_input() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "mpu-bad").await;
    let small = bytes_of(MIB, 1);

    // Parts below 5 MiB (other than the last) → EntityTooSmall.
    let id = create(&c, "mpu-bad", "small").await;
    let p1 = upload(&c, "mpu-bad", "small", &id, 1, &small).await;
    let p2 = upload(&c, "mpu-bad", "small", &id, 2, &small).await;
    assert_s3_err(
        c.complete_multipart_upload()
            .bucket("mpu-bad")
            .key("small")
            .upload_id(&id)
            .multipart_upload(parts(vec![p1.clone(), p2.clone()]))
            .send()
            .await,
        "EntityTooSmall",
        400,
    );
    assert!(!exists(&c, "mpu-bad", "small").await);
    // Wrong order and wrong ETags.
    assert_s3_err(
        c.complete_multipart_upload()
            .bucket("mpu-bad")
            .key("small")
            .upload_id(&id)
            .multipart_upload(parts(vec![p2.clone(), p1.clone()]))
            .send()
            .await,
        "InvalidPartOrder",
        400,
    );
    let forged = CompletedPart::builder()
        .part_number(1)
        .e_tag("\"00000000000000000000000000000000\"")
        .build();
    assert_s3_err(
        c.complete_multipart_upload()
            .bucket("mpu-bad")
            .key("small")
            .upload_id(&id)
            .multipart_upload(parts(vec![forged]))
            .send()
            .await,
        "InvalidPart",
        400,
    );
    assert_s3_err(
        c.complete_multipart_upload()
            .bucket("mpu-bad")
            .key("small")
            .upload_id(&id)
            .multipart_upload(parts(vec![]))
            .send()
            .await,
        "MalformedXML",
        400,
    );
    // A single small part is fine (it is the last one).
    c.complete_multipart_upload()
        .bucket("mpu-bad")
        .key("small")
        .upload_id(&id)
        .multipart_upload(parts(vec![p1]))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "mpu-bad", "small").await, small);

    // Part numbers out of range.
    let id = create(&c, "mpu-bad", "range").await;
    for n in [0, 10_001] {
        assert_s3_err(
            c.upload_part()
                .bucket("mpu-bad")
                .key("range")
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            "InvalidArgument",
            400,
        );
    }
    // Abort: the upload is gone.
    c.abort_multipart_upload()
        .bucket("mpu-bad")
        .key("range")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_s3_err(
        c.upload_part()
            .bucket("mpu-bad")
            .key("range")
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    assert_s3_err(
        c.list_parts()
            .bucket("mpu-bad")
            .key("range")
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    assert_s3_err(
        c.abort_multipart_upload()
            .bucket("mpu-bad")
            .key("range")
            .upload_id("no-such-upload")
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    assert!(
        c.list_multipart_uploads()
            .bucket("mpu-bad")
            .send()
            .await
            .unwrap()
            .uploads()
            .is_empty()
    );
}

#[tokio::test]
async fn upload_part_copy_and_upload_listing() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "mpc").await;
    let src = bytes_of(PART + 100, 9);
    put(&c, "mpc", "source", &src).await;

    let id = create(&c, "mpc", "assembled").await;
    let out = c
        .upload_part_copy()
        .bucket("mpc")
        .key("assembled")
        .upload_id(&id)
        .part_number(1)
        .copy_source("mpc/source")
        .copy_source_range(format!("bytes=0-{}", PART - 1))
        .send()
        .await
        .unwrap();
    let e1 = out
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .unwrap()
        .to_string();
    let out = c
        .upload_part_copy()
        .bucket("mpc")
        .key("assembled")
        .upload_id(&id)
        .part_number(2)
        .copy_source("mpc/source")
        .copy_source_range(format!("bytes={}-{}", PART, PART + 99))
        .send()
        .await
        .unwrap();
    let e2 = out
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .unwrap()
        .to_string();
    assert_s3_err(
        c.upload_part_copy()
            .bucket("mpc")
            .key("assembled")
            .upload_id(&id)
            .part_number(3)
            .copy_source("mpc/source")
            .copy_source_range("bytes=10-5")
            .send()
            .await,
        "InvalidArgument",
        400,
    );
    c.complete_multipart_upload()
        .bucket("mpc")
        .key("assembled")
        .upload_id(&id)
        .multipart_upload(parts(vec![
            CompletedPart::builder().part_number(1).e_tag(e1).build(),
            CompletedPart::builder().part_number(2).e_tag(e2).build(),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "mpc", "assembled").await, src);

    // ListMultipartUploads with prefix, delimiter and paging.
    let mut ids = Vec::new();
    for k in ["logs/a", "logs/b", "tmp/c", "top"] {
        ids.push(create(&c, "mpc", k).await);
    }
    let out = c
        .list_multipart_uploads()
        .bucket("mpc")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["logs/", "tmp/"]);
    let keys: Vec<_> = out.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["top"]);
    let out = c
        .list_multipart_uploads()
        .bucket("mpc")
        .prefix("logs/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.uploads().len(), 2);
    let out = c
        .list_multipart_uploads()
        .bucket("mpc")
        .max_uploads(3)
        .send()
        .await
        .unwrap();
    assert_eq!(out.uploads().len(), 3);
    assert_eq!(out.is_truncated(), Some(true));
    let next = c
        .list_multipart_uploads()
        .bucket("mpc")
        .key_marker(out.next_key_marker().unwrap())
        .set_upload_id_marker(out.next_upload_id_marker().map(str::to_string))
        .send()
        .await
        .unwrap();
    assert_eq!(next.uploads().len(), 1);
    assert_eq!(next.uploads()[0].key(), Some("top"));
}

#[tokio::test]
async fn multipart_checksums() {
    let (_ts, c, _) = setup().await;
    make_bucket(&c, "mpsum").await;
    let id = c
        .create_multipart_upload()
        .bucket("mpsum")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let data = [bytes_of(PART, 1), bytes_of(1000, 2)];
    let mut done = Vec::new();
    for (i, d) in data.iter().enumerate() {
        let out = c
            .upload_part()
            .bucket("mpsum")
            .key("k")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .unwrap();
        let sha = out.checksum_sha256().expect("part checksum").to_string();
        done.push(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(out.e_tag.unwrap())
                .checksum_sha256(sha)
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("mpsum")
        .key("k")
        .upload_id(&id)
        .multipart_upload(parts(done))
        .send()
        .await
        .unwrap();
    let h = c
        .head_object()
        .bucket("mpsum")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(
        h.checksum_sha256().is_some_and(|s| s.ends_with("-2")),
        "{h:?}"
    );
    assert_eq!(get(&c, "mpsum", "k").await, data.concat());
}
