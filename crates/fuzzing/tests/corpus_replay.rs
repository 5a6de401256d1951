//! Replays every committed fuzz input — `fuzz/corpus/<target>/` (the minimized corpus
//! the fuzzers built) and `fuzz/regressions/<target>/` (inputs that once failed) —
//! through the same property check the cargo-fuzz target runs, on stable, so CI keeps
//! the fuzzers' findings fixed without nightly or libFuzzer.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn replay(target: &str, check: coffer_fuzzing::Check) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let corpus = inputs(&root.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty: the minimized corpus must be committed"
    );
    let regressions = inputs(&root.join("regressions").join(target));
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("readable input");
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target}: property violated by {}", path.display());
        }
    }
    eprintln!(
        "{target}: {} corpus inputs, {} regression inputs replayed",
        corpus.len(),
        regressions.len()
    );
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), coffer_fuzzing::$name::check);
            }
        )*

        /// Every target in the crate's list has a replay test above.
        #[test]
        fn every_target_is_replayed() {
            let mut listed: Vec<&str> = coffer_fuzzing::TARGETS.iter().map(|t| t.0).collect();
            let mut here = vec![$(stringify!($name)),*];
            listed.sort();
            here.sort();
            assert_eq!(listed, here);
        }
    };
}

targets!(
    org_policy,
    bucket_policy,
    saml,
    jwt,
    s3_xml,
    range_conditional,
    aws_chunked,
    names,
);
