//! RenameObject (`PUT /bucket/key?renameObject`) is not supported yet: it must answer
//! 501 `NotImplemented` and change nothing — s3s 0.14 would otherwise route it as a
//! PutObject of an empty body onto the destination.

mod s3_common;

use s3_common::*;

#[tokio::test]
async fn rename_object_is_refused_without_side_effects() {
    let (ts, c, _) = setup().await;
    make_bucket(&c, "rename").await;
    put(&c, "rename", "src", b"source bytes").await;
    put(&c, "rename", "existing", b"keep me").await;
    for dst in ["dst", "existing"] {
        assert_s3_err(
            c.rename_object()
                .bucket("rename")
                .key(dst)
                .rename_source("src")
                .send()
                .await,
            "NotImplemented",
            501,
        );
    }
    assert_eq!(get(&c, "rename", "src").await, b"source bytes");
    assert_eq!(get(&c, "rename", "existing").await, b"keep me");
    assert!(!exists(&c, "rename", "dst").await);
    // Unsigned, too: refused before authentication, with a request id.
    let r = send(
        reqwest::Client::new()
            .put(format!("{}/rename/dst?renameObject", ts.s3_endpoint))
            .header("x-amz-rename-source", "src"),
    )
    .await;
    r.assert_err("NotImplemented", 501);
    assert!(r.request_id().is_some());
    assert!(!exists(&c, "rename", "dst").await);
}
