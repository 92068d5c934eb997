//! What `/proc` says about a process (Linux): resident memory, open descriptors, liveness; and
//! raising this process's open-file limit for tests that hold thousands of sockets.

use std::process::Command;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, ...), in KiB.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let prefix = format!("{field}:");
    status
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// The current resident set size, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// How many file descriptors the process has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Whether the process exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("State:"))
            .is_some_and(|state| !state.trim_start().starts_with('Z'))
    })
}

/// This process's soft and hard `RLIMIT_NOFILE`, from `/proc/self/limits`.
pub fn open_files_limit() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read /proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files in /proc/self/limits");
    let mut numbers = line.split_whitespace().filter_map(|w| {
        w.parse::<u64>()
            .ok()
            .or((w == "unlimited").then_some(u64::MAX))
    });
    (
        numbers.next().expect("soft limit"),
        numbers.next().expect("hard limit"),
    )
}

/// Makes sure this process (and the children it starts from now on) may open `wanted` files,
/// raising the soft limit towards the hard one with util-linux `prlimit` when needed. Returns
/// why not when it cannot.
pub fn ensure_open_files(wanted: u64) -> Result<(), String> {
    let (soft, hard) = open_files_limit();
    if soft >= wanted {
        return Ok(());
    }
    if hard < wanted {
        return Err(format!(
            "RLIMIT_NOFILE hard limit {hard} < {wanted}; run `ulimit -n {wanted}` as root first"
        ));
    }
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={wanted}:{hard}"))
        .status()
        .map_err(|e| format!("cannot run prlimit to raise RLIMIT_NOFILE to {wanted}: {e}"))?;
    let (soft, _) = open_files_limit();
    if status.success() && soft >= wanted {
        Ok(())
    } else {
        Err(format!("prlimit left RLIMIT_NOFILE at {soft} < {wanted}"))
    }
}
