//! Scale-out (SPEC §7): Coffer nodes sharing one PostgreSQL database and one blob
//! directory. Needs `COFFER_TEST_POSTGRES_URL` (`.ci/run` starts a private cluster; in
//! CI a missing URL fails the tests). Every test uses its own fresh database.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use coffer_core::meta::MetaStore;
use coffer_server::testing::{SharedSetup, TestKey, TestServer, s3_client_for};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

async fn body(o: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

fn status_of<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> u16
where
    R: std::fmt::Debug,
    aws_sdk_s3::error::SdkError<E, R>: aws_sdk_s3::error::ProvideErrorMetadata,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => {
            let dbg = format!("{:?}", s.raw());
            // The raw HTTP response's status code.
            dbg.split("status: StatusCode(")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// One node on PostgreSQL metadata: the S3 basics, multipart, restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_on_postgres() {
    let Some(ts) = TestServer::start_postgres().await else {
        return;
    };
    let (s3, _) = ts.s3_client_with_allow_all().await;
    s3.create_bucket().bucket("pg-one").send().await.unwrap();
    s3.put_object()
        .bucket("pg-one")
        .key("small")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket("pg-one")
        .key("big")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let (p1, p2) = (vec![1u8; 5 << 20], vec![2u8; 1234]);
    let mut parts = Vec::new();
    for (n, data) in [(1, p1.clone()), (2, p2.clone())] {
        let r = s3
            .upload_part()
            .bucket("pg-one")
            .key("big")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket("pg-one")
        .key("big")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ts = ts.restart().await;
    let key = ts.create_key(&ts.admin_token).await;
    let s3 = ts.s3_client(&key);
    let got = body(
        s3.get_object()
            .bucket("pg-one")
            .key("big")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got, [p1, p2].concat());
    let listed = s3.list_objects_v2().bucket("pg-one").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["big", "small"]);
    let e = s3
        .delete_bucket()
        .bucket("pg-one")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 409, "{e:?}");
    for k in ["big", "small"] {
        s3.delete_object()
            .bucket("pg-one")
            .key(k)
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket("pg-one").send().await.unwrap();
    let (s, _) = ts.api(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, 200);
}

/// Three nodes, one database, one blob directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_one_store() {
    let Some(shared) = SharedSetup::new().await else {
        return;
    };
    let a = shared.start_first("a").await;
    let b = shared.start_node("b", &a).await;
    let c = shared.start_node("c", &a).await;
    let nodes = [&a, &b, &c];

    // A policy written on A takes effect on C within a second.
    let key = a.create_key(&a.admin_token).await;
    let cc = s3_client_for(&c.s3_endpoint, &key);
    assert_eq!(
        status_of(&cc.list_buckets().send().await.unwrap_err()),
        403,
        "default deny before any policy"
    );
    a.allow_all().await;
    let t0 = Instant::now();
    while cc.list_buckets().send().await.is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "policy not seen on C"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("policy change reached node C after {:?}", t0.elapsed());

    // Writes through A are read through B and C at once.
    let clients: Vec<_> = nodes
        .iter()
        .map(|n| s3_client_for(&n.s3_endpoint, &key))
        .collect();
    clients[0]
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    for i in 0..20u8 {
        let data = vec![i; 1000 + usize::from(i) * 4096];
        let k = format!("obj-{i}");
        clients[0]
            .put_object()
            .bucket("shared")
            .key(&k)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        for cl in &clients[1..] {
            let got = body(
                cl.get_object()
                    .bucket("shared")
                    .key(&k)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(got, data);
        }
    }

    // 16 concurrent If-None-Match: * PUTs spread over the nodes: exactly one wins.
    let racers = (0..16).map(|i| {
        let cl = clients[i % 3].clone();
        tokio::spawn(async move {
            cl.put_object()
                .bucket("shared")
                .key("once")
                .if_none_match("*")
                .body(ByteStream::from(format!("writer {i}").into_bytes()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| status_of(&e))
        })
    });
    let results: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    // A racer that passed the pre-check but lost at the commit gets 409
    // ConditionalRequestConflict; one that saw the winner's object first gets 412.
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(412) | Err(409))),
        "{results:?}"
    );

    // Concurrent creation of one bucket name on three nodes by its owner: one row, and
    // every node answers as S3 does for the owner (success or BucketAlreadyOwnedByYou).
    let creators = (0..3).map(|i| {
        let cl = clients[i].clone();
        tokio::spawn(async move {
            cl.create_bucket()
                .bucket("raced")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| status_of(&e))
        })
    });
    for r in futures::future::join_all(creators).await {
        assert!(matches!(r.unwrap(), Ok(()) | Err(409)));
    }
    let listed = clients[1].list_buckets().send().await.unwrap();
    let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names.iter().filter(|n| **n == "raced").count(), 1);

    // Usage counters stay exact with concurrent writers (and deleters) on all nodes.
    let writers = (0..48u64).map(|i| {
        let cl = clients[(i % 3) as usize].clone();
        tokio::spawn(async move {
            let k = format!("u/{i:02}");
            cl.put_object()
                .bucket("raced")
                .key(&k)
                .body(ByteStream::from(vec![7u8; 100 + i as usize]))
                .send()
                .await
                .unwrap();
            if i % 4 == 0 {
                cl.delete_object()
                    .bucket("raced")
                    .key(&k)
                    .send()
                    .await
                    .unwrap();
            }
        })
    });
    for w in futures::future::join_all(writers).await {
        w.unwrap();
    }
    let store = coffer_store::PgMetaStore::connect(&shared.metadata_url)
        .await
        .unwrap();
    let usage = store.bucket_usage("raced").await.unwrap();
    let want: u64 = (0..48u64).filter(|i| i % 4 != 0).map(|i| 100 + i).sum();
    assert_eq!((usage.bytes, usage.objects), (want, 36));

    // A key revoked on A is refused by C within 1 s: worst case over 100 trials.
    let mut worst = Duration::ZERO;
    for _ in 0..100 {
        let k: TestKey = a.create_key(&a.admin_token).await;
        let kc = s3_client_for(&c.s3_endpoint, &k);
        // Warm C's key cache.
        kc.head_bucket().bucket("shared").send().await.unwrap();
        let (s, body) = a
            .api(
                Method::POST,
                "/v1/cwobject/revoke-access-key/access-key",
                Some(&a.admin_token),
                Some(json!({"accessKey": k.access_key_id})),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let t0 = Instant::now();
        loop {
            match kc.head_bucket().bucket("shared").send().await {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(status_of(&e), 403, "{e:?}");
                    break;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "revoked key still accepted on C after 1 s"
            );
        }
        worst = worst.max(t0.elapsed());
    }
    eprintln!("worst revocation latency A -> C over 100 trials: {worst:?}");
    assert!(worst < Duration::from_secs(1));

    // Bucket deletion on B is effective on A and C at once.
    for i in 0..20u8 {
        clients[2]
            .delete_object()
            .bucket("shared")
            .key(format!("obj-{i}"))
            .send()
            .await
            .unwrap();
    }
    clients[2]
        .delete_object()
        .bucket("shared")
        .key("once")
        .send()
        .await
        .unwrap();
    clients[1]
        .delete_bucket()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    for cl in [&clients[0], &clients[2]] {
        let e = cl.head_bucket().bucket("shared").send().await.unwrap_err();
        assert_eq!(status_of(&e), 404);
    }
    for n in nodes {
        let (s, _) = n.api(Method::GET, "/readyz", None, None).await;
        assert_eq!(s, 200);
    }
    drop((a, b, c));
}

/// Start-up refuses unsafe or impossible PostgreSQL setups with a clear error and
/// changes nothing: no master key shared by the nodes, an unreachable database, a node
/// id already running on the shared blob directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_start_up_refusals() {
    let Some(shared) = SharedSetup::new().await else {
        return;
    };
    let mut cfg = shared.node_config("x");
    cfg.s3_listen = "127.0.0.1:0".parse().unwrap();
    cfg.api_listen = "127.0.0.1:0".parse().unwrap();

    let mut no_key = cfg.clone();
    no_key.master_key_file = None;
    let e = coffer_server::start(no_key).await.err().expect("refused");
    assert!(format!("{e:#}").contains("master key"), "{e:#}");
    assert!(!cfg.data_dir.join("master.key").exists());

    let mut unreachable = cfg.clone();
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    unreachable.metadata =
        coffer_server::config::Metadata::Postgres(format!("postgres://u@127.0.0.1:{port}/db"));
    let t0 = Instant::now();
    let e = coffer_server::start(unreachable)
        .await
        .err()
        .expect("refused");
    assert!(format!("{e:#}").contains("PostgreSQL"), "{e:#}");
    assert!(t0.elapsed() < Duration::from_secs(15));

    let first = shared.start_first("x").await;
    let mut same_node = shared.node_config("x");
    same_node.data_dir = shared.root.join("another-dir-same-node-id");
    same_node.s3_listen = "127.0.0.1:0".parse().unwrap();
    same_node.api_listen = "127.0.0.1:0".parse().unwrap();
    let e = coffer_server::start(same_node)
        .await
        .err()
        .expect("refused");
    assert!(format!("{e:#}").contains("in use"), "{e:#}");
    drop(first);
}

/// Nodes started at the same moment on an empty shared database bootstrap it once: one
/// org, one admin; exactly one node's data directory holds the bootstrap token, and that
/// token works on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_bootstrap_once() {
    let Some(shared) = SharedSetup::new().await else {
        return;
    };
    let configs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let mut cfg = shared.node_config(n);
            cfg.s3_listen = "127.0.0.1:0".parse().unwrap();
            cfg.api_listen = "127.0.0.1:0".parse().unwrap();
            cfg
        })
        .collect();
    let nodes: Vec<_> = futures::future::join_all(configs.into_iter().map(coffer_server::start))
        .await
        .into_iter()
        .map(|r| r.expect("node starts"))
        .collect();
    let booted: Vec<_> = nodes.iter().filter(|n| n.bootstrap.is_some()).collect();
    assert_eq!(booted.len(), 1, "exactly one node bootstraps");
    let with_file: Vec<_> = nodes
        .iter()
        .filter(|n| n.bootstrap_token_path.exists())
        .collect();
    assert_eq!(with_file.len(), 1, "exactly one bootstrap token file");
    let token = std::fs::read_to_string(&with_file[0].bootstrap_token_path).unwrap();
    assert_eq!(token.trim(), booted[0].bootstrap.as_ref().unwrap().token);
    let meta = coffer_store::PgMetaStore::connect(&shared.metadata_url)
        .await
        .unwrap();
    assert_eq!(meta.list_orgs().await.unwrap().len(), 1);
    let http = reqwest::Client::new();
    for n in &nodes {
        let r = http
            .get(format!("http://{}/v1/iam/whoami", n.api_addr))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for n in nodes {
        n.shutdown().await;
    }
}
