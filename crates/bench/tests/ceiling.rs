//! Every workload end to end against the in-process ceiling endpoint, with tiny sizes.

use clap::Parser;
use coffer_bench::{BenchArgs, Workload};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn args(extra: &[&str]) -> BenchArgs {
    let mut argv = vec![
        "bench",
        "--ceiling-only",
        "--runs",
        "2",
        "--large-size",
        "1MiB",
        "--streams",
        "1,8",
        "--ops",
        "200",
        "--duration",
        "50ms",
        "--list-keys",
        "500",
        "--multipart-size",
        "12MiB",
        "--part-size",
        "5MiB",
    ];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).expect("flags parse").args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_reports_nonzero_figures() {
    let report = coffer_bench::execute(&args(&[]))
        .await
        .expect("benchmark runs");

    let names: Vec<&str> = report.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "put-large x1",
            "put-large x8",
            "get-large x1",
            "get-large x8",
            "put-small",
            "get-small",
            "list",
            "multipart"
        ]
    );
    for case in &report.cases {
        assert!(case.server.is_none(), "{}: no server target", case.name);
        assert!(case.ratio.is_none());
        let c = case.ceiling.as_ref().expect("ceiling measured");
        assert_eq!(c.samples.len(), 2, "{}", case.name);
        assert!(
            c.median > 0.0 && c.min > 0.0 && c.max >= c.median,
            "{}: {c:?}",
            case.name
        );
        // The sink's threads are readable in /proc, so its CPU is always measurable.
        assert!(
            c.server_cpu.is_some() && c.client_cpu.is_some(),
            "{}",
            case.name
        );
        for s in &c.samples {
            assert!(s.ops > 0 && s.elapsed_s > 0.0, "{}: {s:?}", case.name);
            match case.workload {
                Workload::PutSmall | Workload::GetSmall => {
                    assert_eq!(s.ops, 200);
                    assert!(s.p50_ms.unwrap() > 0.0 && s.p99_ms.unwrap() >= s.p50_ms.unwrap());
                }
                // Whole listings, repeated for --duration.
                Workload::List => assert!(s.ops >= 500 && s.ops % 500 == 0, "{s:?}"),
                Workload::Multipart => assert_eq!(s.bytes, 12 << 20),
                // Every stream completes at least one whole object.
                Workload::PutLarge | Workload::GetLarge => {
                    assert!(s.ops >= case.concurrency as u64, "{s:?}");
                    assert_eq!(s.bytes, (1 << 20) * s.ops);
                }
            }
        }
    }

    let table = report.render();
    assert!(
        table.contains("multipart") && table.contains("sink CPU"),
        "{table}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["cases"][6]["workload"], "list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_mode_and_workload_selection() {
    let mut a = args(&["--workloads", "get-small,put-small"]);
    a.runs = 1;
    a.ops = None;
    a.duration = std::time::Duration::from_millis(200);
    let report = coffer_bench::execute(&a).await.expect("benchmark runs");
    let names: Vec<&str> = report.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["get-small", "put-small"]);
    for case in &report.cases {
        let c = case.ceiling.as_ref().unwrap();
        assert!(c.median > 0.0 && c.samples[0].ops > 0);
    }
}

#[test]
fn ceiling_flags_conflict() {
    let err = Cli::try_parse_from(["bench", "--ceiling", "--ceiling-only"]);
    assert!(err.is_err(), "--ceiling and --ceiling-only conflict");
}
