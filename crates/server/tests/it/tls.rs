//! TLS listeners (`--tls-cert`/`--tls-key`, PEM via `rustls-pki-types`): both listeners
//! speak HTTPS with a certificate chain and a private key in each PEM form (PKCS#8,
//! SEC1 EC, PKCS#1 RSA), verified by a client that trusts only the test CA; unusable
//! PEM files are refused at start with errors naming the file. Certificates and keys are
//! made by the `openssl` CLI at test time.

use coffer_server::Config;
use coffer_server::serve::tls_acceptor;
use std::path::{Path, PathBuf};
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) -> bool {
    match Command::new("openssl").current_dir(dir).args(args).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            true
        }
        Err(_) => false,
    }
}

/// A test CA and, per key form, a key file and a chain file (leaf for 127.0.0.1, then
/// the CA); `None` without the openssl CLI.
struct Pki {
    ca: Vec<u8>,
    /// (form, chain file, key file)
    servers: Vec<(&'static str, PathBuf, PathBuf)>,
}

fn pki(dir: &Path) -> Option<Pki> {
    let ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    if !openssl(dir, &[&["genpkey"][..], &ec, &["-out", "ca.key"]].concat()) {
        eprintln!("SKIPPED: the openssl CLI is not installed");
        return None;
    }
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=coffer test CA",
            "-days",
            "2",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[&["genpkey"][..], &ec, &["-out", "ec.p8.pem"]].concat(),
    );
    openssl(dir, &["ec", "-in", "ec.p8.pem", "-out", "ec.sec1.pem"]);
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.p8.pem",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "rsa.p8.pem",
            "-traditional",
            "-out",
            "rsa.p1.pem",
        ],
    );
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let mut servers = Vec::new();
    for (form, key, leaf) in [
        ("PKCS#8", "ec.p8.pem", "ec"),
        ("SEC1", "ec.sec1.pem", "ec"),
        ("PKCS#1", "rsa.p1.pem", "rsa"),
    ] {
        let chain = dir.join(format!("{leaf}.chain.pem"));
        if !chain.exists() {
            let (csr, pem) = (format!("{leaf}.csr"), format!("{leaf}.pem"));
            openssl(
                dir,
                &[
                    "req",
                    "-new",
                    "-key",
                    key,
                    "-subj",
                    "/CN=localhost",
                    "-out",
                    &csr,
                ],
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    "leaf.ext",
                    "-out",
                    &pem,
                ],
            );
            let mut bytes = std::fs::read(dir.join(&pem)).unwrap();
            bytes.extend_from_slice(&ca);
            std::fs::write(&chain, bytes).unwrap();
        }
        servers.push((form, chain, dir.join(key)));
    }
    Some(Pki { ca, servers })
}

#[tokio::test]
async fn both_listeners_serve_https_with_every_pem_key_form() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(pki) = pki(tmp.path()) else { return };
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pki.ca).unwrap())
        .build()
        .unwrap();
    for (i, (form, chain, key)) in pki.servers.iter().enumerate() {
        let mut cfg = Config::with_data_dir(tmp.path().join(format!("data-{i}")));
        cfg.s3_listen = "127.0.0.1:0".parse().unwrap();
        cfg.api_listen = "127.0.0.1:0".parse().unwrap();
        cfg.tls = Some((chain.clone(), key.clone()));
        let running = coffer_server::start(cfg).await.expect("server starts");
        assert!(running.secure);
        let r = client
            .get(format!("https://{}/healthz", running.api_addr))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{form}: {e:?}"));
        assert_eq!(r.status(), 200, "{form}");
        // Anonymous ListBuckets: an S3 error, over TLS.
        let r = client
            .get(format!("https://{}/", running.s3_addr))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{form}: {e:?}"));
        assert_eq!(r.status(), 403, "{form}");
        assert!(r.text().await.unwrap().contains("AccessDenied"), "{form}");
        // Plain HTTP on the TLS port gets no HTTP answer.
        let plain = reqwest::get(format!("http://{}/healthz", running.api_addr)).await;
        assert!(plain.is_err(), "{form}: {plain:?}");
        running.shutdown().await;
    }
}

#[test]
fn unusable_pem_files_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(pki) = pki(tmp.path()) else { return };
    let (_, chain, key) = &pki.servers[0];
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let err = |cert: &Path, key: &Path| match tls_acceptor(cert, key) {
        Ok(_) => panic!("accepted {} / {}", cert.display(), key.display()),
        Err(e) => format!("{e:#}"),
    };
    assert!(tls_acceptor(chain, key).is_ok());

    let missing = tmp.path().join("missing.pem");
    let e = err(&missing, key);
    assert!(e.contains("missing.pem"), "{e}");
    let e = err(chain, &missing);
    assert!(e.contains("missing.pem"), "{e}");

    // A key file as certificate file, a certificate file as key file.
    let e = err(key, key);
    assert!(e.contains("no certificate found"), "{e}");
    let e = err(chain, chain);
    assert!(e.contains("no private key found"), "{e}");

    let broken = write(
        "broken.pem",
        "-----BEGIN PRIVATE KEY-----\n!!not base64!!\n-----END PRIVATE KEY-----\n",
    );
    let e = err(chain, &broken);
    assert!(e.contains("broken.pem"), "{e}");
    // A key that is not the certificate's.
    let (_, _, other_key) = &pki.servers[2];
    let e = err(chain, other_key);
    assert!(e.contains("TLS configuration"), "{e}");
}
