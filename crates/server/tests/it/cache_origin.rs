//! The origin side of compute-node caches (`coffer_core::cache_node`,
//! `coffer_s3::cache_origin`), driven as a node would drive it: a client's request,
//! signed by the client for the node's host, forwarded to the origin with the node's
//! credential. Registration is the operator's; a node's credential alone reads
//! nothing; a grant is bound to its node and version; revocations (of the node, of the
//! client's key) apply to the next request; audit events name the node and the client.

use crate::audit_logging::{audit_bucket, bucket_logging, events};
use crate::s3_common::{Signer, TestServer, make_bucket, put};
use coffer_core::cache_node::{
    CLIENT_HEADER, FILL_PATH, GRANT_HEADER, LENGTH_HEADER, MIN_SIZE_HEADER, NODE_HEADER,
    OBJECT_HEADER, SIZE_HEADER,
};
use reqwest::Method;
use serde_json::json;

const OPERATOR: &str = "operator-token-of-the-cache-node-tests-0123456789";
/// The host the clients sign for: the node's.
const NODE_HOST: &str = "gpu-17.cluster.local:9100";

async fn register(ts: &TestServer, name: &str) -> (String, String) {
    let (s, body) = ts
        .api(
            Method::POST,
            "/v1/iam/cache-nodes",
            Some(OPERATOR),
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    (
        body["credential"].as_str().unwrap().to_string(),
        body["node"]["nodeId"].as_str().unwrap().to_string(),
    )
}

/// A client's presigned GET of `path`, made for the node's host, as the node forwards it.
fn through_node(
    ts: &TestServer,
    signer: &Signer,
    path: &str,
    credential: Option<&str>,
) -> reqwest::RequestBuilder {
    let url = signer.presign("GET", path, 300, time::OffsetDateTime::now_utc(), &[]);
    let mut r = ts
        .http
        .get(url)
        .header("host", NODE_HOST)
        .header(MIN_SIZE_HEADER, "65536")
        .header(CLIENT_HEADER, "198.51.100.23");
    if let Some(c) = credential {
        r = r.header(NODE_HEADER, c);
    }
    r
}

fn fill(ts: &TestServer, credential: &str, grant: &str) -> reqwest::RequestBuilder {
    ts.http
        .get(format!("{}{FILL_PATH}", ts.s3_endpoint))
        .header(NODE_HEADER, credential)
        .header(GRANT_HEADER, grant)
}

fn head(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

#[tokio::test]
async fn a_node_gets_the_head_and_a_grant_and_fills_only_the_granted_version() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (s3, key) = ts.s3_client_with_allow_all().await;
    make_bucket(&s3, "datasets").await;
    let big = pattern(1 << 20, 1);
    put(&s3, "datasets", "shard-0", &big).await;
    put(&s3, "datasets", "small", b"tiny").await;
    let (cred, _) = register(&ts, "gpu-17").await;
    let (other_cred, _) = register(&ts, "gpu-18").await;
    let mut signer = Signer::new(&ts, &key);
    signer.host = NODE_HOST.to_string();

    // Whole object: the head, no body, and what the node needs.
    let r = through_node(&ts, &signer, "/datasets/shard-0", Some(&cred))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(head(&r, LENGTH_HEADER).as_deref(), Some("1048576"));
    assert_eq!(head(&r, SIZE_HEADER).as_deref(), Some("1048576"));
    let tag = head(&r, OBJECT_HEADER).expect("object tag");
    let grant = head(&r, GRANT_HEADER).expect("grant");
    assert!(head(&r, "etag").is_some());
    assert_eq!(r.bytes().await.unwrap().len(), 0);

    // A range: the client's status and Content-Range, the range's length.
    let url = signer.presign(
        "GET",
        "/datasets/shard-0",
        300,
        time::OffsetDateTime::now_utc(),
        &[],
    );
    let r = ts
        .http
        .get(url)
        .header("host", NODE_HOST)
        .header("range", "bytes=10-19")
        .header(NODE_HEADER, &cred)
        .header(MIN_SIZE_HEADER, "65536")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(head(&r, LENGTH_HEADER).as_deref(), Some("10"));
    assert_eq!(
        head(&r, "content-range").as_deref(),
        Some("bytes 10-19/1048576")
    );
    assert_eq!(head(&r, OBJECT_HEADER).as_deref(), Some(tag.as_str()));

    // The fill: the granted version's bytes, whole or a range.
    let r = fill(&ts, &cred, &grant).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), big.as_slice());
    let r = fill(&ts, &cred, &grant)
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &big[1000..2000]);

    // The grant is the node's: another node, no credential, a changed grant: refused.
    let r = fill(&ts, &other_cred, &grant).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = ts
        .http
        .get(format!("{}{FILL_PATH}", ts.s3_endpoint))
        .header(GRANT_HEADER, &grant)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200, "a grant without a credential");
    let mut forged = grant.clone();
    forged.insert(3, 'x');
    assert_eq!(
        fill(&ts, &cred, &forged).send().await.unwrap().status(),
        403
    );
    let r = ts
        .http
        .get(format!("{}{FILL_PATH}", ts.s3_endpoint))
        .header(NODE_HEADER, &cred)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a credential without a grant");
    // Bad input on the fill path: another method, a range past the end.
    let r = ts
        .http
        .post(format!("{}{FILL_PATH}", ts.s3_endpoint))
        .header(NODE_HEADER, &cred)
        .header(GRANT_HEADER, &grant)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a fill is a GET");
    let r = fill(&ts, &cred, &grant)
        .header("range", "bytes=2000000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416, "a range past the end");

    // Small objects come with their body, as to any client.
    let r = through_node(&ts, &signer, "/datasets/small", Some(&cred))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(head(&r, GRANT_HEADER).is_none());
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"tiny");

    // A direct client never sees any of it.
    let mut direct = Signer::new(&ts, &key);
    direct.host = ts.s3_endpoint.trim_start_matches("http://").to_string();
    let url = direct.presign(
        "GET",
        "/datasets/shard-0",
        300,
        time::OffsetDateTime::now_utc(),
        &[],
    );
    let r = ts.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("x-coffer-cache"))
    );
    assert_eq!(r.bytes().await.unwrap().len(), big.len());

    // Overwritten: the old grant reads nothing, the new answer has a new tag.
    put(&s3, "datasets", "shard-0", &pattern(1 << 20, 2)).await;
    assert_eq!(fill(&ts, &cred, &grant).send().await.unwrap().status(), 404);
    let r = through_node(&ts, &signer, "/datasets/shard-0", Some(&cred))
        .send()
        .await
        .unwrap();
    assert_ne!(head(&r, OBJECT_HEADER), Some(tag));

    // A bad credential, and a revoked node, are refused before anything runs.
    let r = through_node(&ts, &signer, "/datasets/shard-0", Some("COFFER-NODE-nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (s, list) = ts
        .api(Method::GET, "/v1/iam/cache-nodes", Some(OPERATOR), None)
        .await;
    assert_eq!(s, 200);
    let id = list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "gpu-17")
        .unwrap()["nodeId"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = ts
        .api(
            Method::DELETE,
            &format!("/v1/iam/cache-nodes/{id}"),
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let r = through_node(&ts, &signer, "/datasets/shard-0", Some(&cred))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
}

#[tokio::test]
async fn only_the_operator_registers_nodes() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (s, body) = ts
        .api(
            Method::POST,
            "/v1/iam/cache-nodes",
            Some(&ts.admin_token),
            Some(json!({ "name": "n" })),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    let (s, _) = ts
        .api(
            Method::GET,
            "/v1/iam/cache-nodes",
            Some(&ts.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 403);
    register(&ts, "n").await;
    let (s, _) = ts
        .api(
            Method::POST,
            "/v1/iam/cache-nodes",
            Some(OPERATOR),
            Some(json!({ "name": "n" })),
        )
        .await;
    assert_eq!(s, 409, "names are unique");
    let (s, _) = ts
        .api(
            Method::DELETE,
            "/v1/iam/cache-nodes/0123456789abcdef0123456789abcdef",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, 404, "an unknown node");
    for bad in ["", "a\u{0}b"] {
        let (s, _) = ts
            .api(
                Method::POST,
                "/v1/iam/cache-nodes",
                Some(OPERATOR),
                Some(json!({ "name": bad })),
            )
            .await;
        assert_eq!(s, 400, "{bad:?}");
    }
}

#[tokio::test]
async fn requests_through_a_node_are_the_clients_own() {
    let ts = TestServer::start_with_operator(OPERATOR).await;
    let (s3, _) = ts.s3_client_with_allow_all().await;
    make_bucket(&s3, "logged").await;
    put(&s3, "logged", "obj", &pattern(200_000, 3)).await;
    bucket_logging(&ts, "logged", true).await;
    let (cred, _) = register(&ts, "gpu-17").await;
    let key = ts.create_key(&ts.admin_token).await;
    let mut signer = Signer::new(&ts, &key);
    signer.host = NODE_HOST.to_string();

    let r = through_node(&ts, &signer, "/logged/obj", Some(&cred))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(head(&r, GRANT_HEADER).is_some());

    // The client's signature still covers what the client signed: a node cannot turn
    // it into a request for another object.
    let url = signer.presign(
        "GET",
        "/logged/obj",
        300,
        time::OffsetDateTime::now_utc(),
        &[],
    );
    let other = url.replace("/logged/obj", "/logged/other");
    let r = ts
        .http
        .get(other)
        .header("host", NODE_HOST)
        .header(NODE_HEADER, &cred)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The client's key revoked at the origin: the next request through the node fails.
    let (s, body) = ts
        .api(
            Method::POST,
            "/v1/cwobject/revoke-access-key/access-key",
            Some(&ts.admin_token),
            Some(json!({"accessKey": key.access_key_id})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let r = through_node(&ts, &signer, "/logged/obj", Some(&cred))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Audit: the node by name, the client's address, the bytes the client got.
    ts.flush_audit().await;
    let ev = events(&s3, &audit_bucket(&ts), "data-plane/").await;
    let through: Vec<_> = ev
        .iter()
        .filter(|e| e["cacheNode"] == "gpu-17" && e["action"] == "s3:GetObject")
        .collect();
    assert_eq!(through.len(), 3, "{ev:#?}");
    assert_eq!(through[0]["httpStatus"], 200);
    assert_eq!(through[0]["sourceIp"], "198.51.100.23");
    assert_eq!(through[0]["bytesSent"], 200_000);
    assert_eq!(through[2]["httpStatus"], 403);
    assert!(
        ev.iter()
            .filter(|e| e["action"] == "s3:PutObject")
            .all(|e| e.get("cacheNode").is_none())
    );
}
