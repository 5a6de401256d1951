//! Results: per-run samples, their summaries, and the human table.

use serde::Serialize;

use crate::Workload;
use crate::units::{GIB, fmt_num};

/// One timed run against one target.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub elapsed_s: f64,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Requests completed, or keys listed for `list`.
    pub ops: u64,
    /// The workload's figure: MiB/s, ops/s or keys/s.
    pub value: f64,
    /// Latency per request (per full listing for `list`).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Server (or sink) CPU seconds spent during the run.
    pub server_cpu_s: Option<f64>,
    /// This process's CPU seconds during the run, sink threads excluded.
    pub client_cpu_s: Option<f64>,
}

/// What CPU seconds are normalised per: a GiB moved, 1,000 requests, or 1,000 keys listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuBasis {
    Gib,
    ThousandOps,
    ThousandKeys,
}

impl CpuBasis {
    pub fn unit(self) -> &'static str {
        match self {
            Self::Gib => "s/GiB",
            Self::ThousandOps => "s/1k ops",
            Self::ThousandKeys => "s/1k keys",
        }
    }

    fn normalise(self, cpu_s: f64, s: &Sample) -> Option<f64> {
        let amount = match self {
            Self::Gib => s.bytes as f64 / GIB as f64,
            Self::ThousandOps | Self::ThousandKeys => s.ops as f64 / 1000.0,
        };
        (amount > 0.0).then(|| cpu_s / amount)
    }
}

/// Median, min and max over the runs of one case on one target.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Medians over runs.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Median over runs, in the case's `cpu_unit`; `None` when not measurable.
    pub server_cpu: Option<f64>,
    pub client_cpu: Option<f64>,
    pub samples: Vec<Sample>,
}

impl Summary {
    pub fn new(samples: Vec<Sample>, basis: CpuBasis) -> Self {
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let pick = |f: &dyn Fn(&Sample) -> Option<f64>| {
            let v: Vec<f64> = samples.iter().filter_map(f).collect();
            // A figure is reported only if every run produced it.
            (v.len() == samples.len()).then(|| median(&v)).flatten()
        };
        Self {
            median: median(&values).unwrap_or(0.0),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            p50_ms: pick(&|s| s.p50_ms),
            p99_ms: pick(&|s| s.p99_ms),
            server_cpu: pick(&|s| s.server_cpu_s.and_then(|c| basis.normalise(c, s))),
            client_cpu: pick(&|s| s.client_cpu_s.and_then(|c| basis.normalise(c, s))),
            samples,
        }
    }
}

pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// One workload configuration, measured on the server and/or the ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub workload: Workload,
    /// Display name, e.g. `put-large x8`.
    pub name: String,
    pub object_size: u64,
    /// What one request moves, for display: `64 MiB`, `10000 keys`, `1 GiB in 16 MiB parts`.
    pub size_label: String,
    /// Concurrency: streams, workers or parts in flight.
    pub concurrency: usize,
    /// Unit of `median`/`min`/`max`.
    pub unit: &'static str,
    pub cpu_basis: CpuBasis,
    pub cpu_unit: &'static str,
    pub server: Option<Summary>,
    pub ceiling: Option<Summary>,
    /// Server median / ceiling median.
    pub ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `None` when only the ceiling was measured.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub runs: u32,
    pub clock_ticks: u64,
    pub server_pid: Option<u32>,
    /// `flag`, `auto-detected` or `n/a`.
    pub server_pid_source: &'static str,
    pub cases: Vec<Case>,
}

impl Report {
    /// The compact human-readable form.
    pub fn render(&self) -> String {
        let has_server = self.cases.iter().any(|c| c.server.is_some());
        let has_ceiling = self.cases.iter().any(|c| c.ceiling.is_some());
        let mut out = String::new();
        match &self.endpoint {
            Some(e) => out.push_str(&format!(
                "coffer bench: {e}, bucket {}, {} run(s); figures are median [min..max]\n",
                self.bucket, self.runs
            )),
            None => out.push_str(&format!(
                "coffer bench: ceiling only, {} run(s); figures are median [min..max]\n",
                self.runs
            )),
        }
        if has_server {
            match self.server_pid {
                Some(pid) => out.push_str(&format!(
                    "server CPU: pid {pid} ({}), CLK_TCK {}\n",
                    self.server_pid_source, self.clock_ticks
                )),
                None => out.push_str("server CPU: n/a (no --server-pid, auto-detection failed)\n"),
            }
        }
        if has_ceiling {
            out.push_str(
                "ceiling: in-process null S3 endpoint on 127.0.0.1 (its CPU is \"sink CPU\")\n",
            );
        }

        let opt = |v: Option<f64>, unit: &str| match v {
            Some(v) => format!("{} {unit}", fmt_num(v)),
            None => "n/a".into(),
        };
        let fig = |s: &Option<Summary>| match s {
            Some(s) => format!(
                "{} [{}..{}]",
                fmt_num(s.median),
                fmt_num(s.min),
                fmt_num(s.max)
            ),
            None => "-".into(),
        };
        let lat = |s: &Option<Summary>| match s {
            Some(Summary {
                p50_ms: Some(p50),
                p99_ms: Some(p99),
                ..
            }) => format!("{} / {}", fmt_num(*p50), fmt_num(*p99)),
            _ => "-".into(),
        };

        let mut head = vec!["workload", "size", "unit"];
        if has_server {
            head.push("server");
        }
        if has_ceiling {
            head.push("ceiling");
        }
        if has_server && has_ceiling {
            head.push("ratio");
        }
        let mut rows = vec![head.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()];
        for c in &self.cases {
            let mut row = vec![c.name.clone(), c.size_label.clone(), c.unit.to_owned()];
            if has_server {
                row.push(fig(&c.server));
            }
            if has_ceiling {
                row.push(fig(&c.ceiling));
            }
            if has_server && has_ceiling {
                row.push(c.ratio.map_or("-".into(), |r| format!("{r:.2}")));
            }
            rows.push(row);
        }
        out.push('\n');
        out.push_str(&table(&rows));

        let mut head = vec!["workload".to_owned()];
        if has_server {
            head.extend([
                "p50/p99 ms".into(),
                "server CPU".into(),
                "client CPU".into(),
            ]);
        }
        if has_ceiling {
            let p = if has_server { "ceiling " } else { "" };
            head.extend([
                format!("{p}p50/p99 ms"),
                "sink CPU".into(),
                format!("{p}client CPU"),
            ]);
        }
        let mut rows = vec![head];
        for c in &self.cases {
            let mut row = vec![c.name.clone()];
            for (present, s) in [(has_server, &c.server), (has_ceiling, &c.ceiling)] {
                if !present {
                    continue;
                }
                row.push(lat(s));
                row.push(opt(s.as_ref().and_then(|s| s.server_cpu), c.cpu_unit));
                row.push(opt(s.as_ref().and_then(|s| s.client_cpu), c.cpu_unit));
            }
            rows.push(row);
        }
        out.push('\n');
        out.push_str(&table(&rows));
        out
    }
}

/// Left-aligned columns separated by two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
