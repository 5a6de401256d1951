//! CPU accounting from /proc: the server process (by pid), the in-process ceiling sink (by thread
//! ids) and this process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

/// Clock ticks per second for /proc `utime`/`stime`. `sysconf` would need `unsafe` (forbidden in
/// this workspace), so ask `getconf` once; Linux has used 100 on every mainstream architecture.
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// `utime + stime` in clock ticks from a `/proc/.../stat` file.
fn stat_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Field 2 (comm) may contain spaces and parentheses; fields after the last ')' start at 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_to_secs(ticks: u64) -> f64 {
    ticks as f64 / clock_ticks() as f64
}

/// Where a target's server-side CPU time comes from.
#[derive(Clone, Debug)]
pub enum CpuSource {
    /// A separate server process.
    Pid(u32),
    /// Threads of this process (the ceiling sink's runtime).
    Threads(Arc<Mutex<Vec<u32>>>),
    /// Not measurable.
    None,
}

impl CpuSource {
    /// Cumulative CPU seconds so far, or `None` when unknown.
    pub fn seconds(&self) -> Option<f64> {
        match self {
            Self::Pid(pid) => stat_ticks(&format!("/proc/{pid}/stat")).map(ticks_to_secs),
            Self::Threads(tids) => {
                let tids = tids.lock().ok()?.clone();
                let mut total = 0;
                for tid in tids {
                    total += stat_ticks(&format!("/proc/self/task/{tid}/stat")).unwrap_or(0);
                }
                Some(ticks_to_secs(total))
            }
            Self::None => None,
        }
    }
}

/// Cumulative CPU seconds of this whole process (all threads, including exited ones).
pub fn self_seconds() -> Option<f64> {
    stat_ticks("/proc/self/stat").map(ticks_to_secs)
}

/// Kernel thread id of the calling thread, via the `/proc/thread-self` link (`PID/task/TID`).
pub fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Finds the process with a listening TCP socket on `port` (IPv4 or IPv6): socket inodes from
/// /proc/net/tcp{,6}, then a scan of /proc/*/fd for `socket:[inode]`. Only processes whose fds we
/// may read are found.
pub fn find_listener(port: u16) -> Option<u32> {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some((_, port_hex)) = f[1].rsplit_once(':') else {
                continue;
            };
            if u16::from_str_radix(port_hex, 16).ok() == Some(port) && f[9] != "0" {
                inodes.insert(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && target.to_str().is_some_and(|t| inodes.contains(t))
            {
                return Some(pid);
            }
        }
    }
    None
}

/// A `/proc/<pid>/status` field in KiB (`"VmRSS:"`, `"VmHWM:"`); `None` when the
/// process is gone or the field is absent.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The number of open descriptors of `pid`; `None` when the process is gone.
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_tid() {
        assert!(self_seconds().is_some());
        let tid = current_tid().expect("/proc/thread-self");
        let src = CpuSource::Threads(Arc::new(Mutex::new(vec![tid])));
        assert!(src.seconds().is_some());
        assert!(clock_ticks() > 0);
    }

    #[test]
    fn finds_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(find_listener(port), Some(std::process::id()));
    }
}
