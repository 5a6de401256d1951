//! A GET that started before an overwrite or delete of a multipart object streams the
//! old bytes to the end: the replaced object's blobs outlive the metadata change by a
//! grace period (`ObjectConfig::retired_blob_grace`), and later segments open lazily.

use crate::s3_common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use sha2::{Digest, Sha256};

async fn multipart_object(c: &aws_sdk_s3::Client, key: &str, parts: &[Vec<u8>]) {
    let up = c
        .create_multipart_upload()
        .bucket("overwrite")
        .key(key)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket("overwrite")
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
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
    c.complete_multipart_upload()
        .bucket("overwrite")
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

#[tokio::test]
async fn get_in_flight_survives_overwrite_and_delete() {
    let (_ts, c, _k) = setup().await;
    make_bucket(&c, "overwrite").await;
    let parts: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i + 1; 5 * MIB]).collect();
    let whole: Vec<u8> = parts.concat();
    for replace_with_delete in [false, true] {
        multipart_object(&c, "obj", &parts).await;
        let got = c
            .get_object()
            .bucket("overwrite")
            .key("obj")
            .send()
            .await
            .unwrap();
        let mut body = got.body;
        // Read part of the first segment, then replace the object under the reader.
        let mut read = Vec::new();
        while read.len() < MIB {
            read.extend_from_slice(&body.next().await.unwrap().unwrap());
        }
        if replace_with_delete {
            c.delete_object()
                .bucket("overwrite")
                .key("obj")
                .send()
                .await
                .unwrap();
        } else {
            put(&c, "overwrite", "obj", b"new small content").await;
        }
        while let Some(chunk) = body.next().await {
            read.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(read.len(), whole.len());
        assert_eq!(Sha256::digest(&read), Sha256::digest(&whole));
    }
}
