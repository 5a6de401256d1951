//! Writes the benchmark's synthetic org policy set (the one `benches/decisions.rs`
//! measures; mix in `benches/common/mod.rs`) as EnsureAccessPolicy request bodies, one
//! file per policy, for the "Authorization overhead" measurement in docs/benchmarks.md.
//!
//! ```text
//! cargo run --release -p coffer-core --example gen-policies -- \
//!     --count 1000 --grant coreweave/<uid> --out /tmp/policy-set
//! ```
//!
//! `--grant P` replaces one statement in the middle of the set (policy `count*2/3`,
//! statement 7) with `{"name":"bench-user","effect":"Allow","actions":["s3:*"],
//! "resources":["*"],"principals":[P]}`, so the benchmark user can work while every
//! decision still runs against the whole set. No generated Deny statement matches the
//! `coffer-bench` bucket.

#[path = "../benches/common/mod.rs"]
mod common;

use coffer_core::policy::{Effect, Statement};
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!("usage: gen-policies --count N [--grant PRINCIPAL] --out DIR");
    std::process::exit(2);
}

fn main() {
    let mut count = 1000usize;
    let mut grant: Option<String> = None;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--count" => count = value().parse().unwrap_or_else(|_| usage()),
            "--grant" => grant = Some(value()),
            "--out" => out = Some(PathBuf::from(value())),
            _ => usage(),
        }
    }
    let Some(out) = out else { usage() };
    if count == 0 {
        usage();
    }
    let mut set = common::PolicySet::generate(count);
    if let Some(p) = grant {
        let target = &mut set.policies[count * 2 / 3];
        target.statements[7] = Statement {
            name: "bench-user".into(),
            effect: Effect::Allow,
            actions: vec!["s3:*".into()],
            resources: vec!["*".into()],
            principals: vec![p],
        };
        eprintln!("granted s3:* on * in policy {}, statement 7", target.name);
    }
    std::fs::create_dir_all(&out).expect("create the output directory");
    for p in &set.policies {
        let body = serde_json::json!({ "policy": p });
        let path = out.join(format!("{}.json", p.name));
        std::fs::write(&path, body.to_string())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    eprintln!(
        "wrote {} policies ({} statements) to {}",
        set.policies.len(),
        set.policies.len() * common::STATEMENTS_PER_POLICY,
        out.display()
    );
}
