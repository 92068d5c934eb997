//! The gateway's resources over time (sampled from `/proc/<pid>`), the pass/fail verdict and
//! the markdown report. The bounds are stated here and printed with the report.

use crate::tally::{Kind, Snapshot};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// RSS may grow at most this much between the first and the last quarter's medians: 10 % plus
/// 4 MiB of slack (allocator arenas and pool buffers settle at slightly different sizes).
pub const RSS_GROWTH_PERCENT: f64 = 10.0;
pub const RSS_GROWTH_SLACK_KIB: u64 = 4 * 1024;
/// Open file descriptors may grow at most 25 % plus 16: most are client connections, which come
/// and go with the load (a 3-minute run of 32 users moved between 108 and 137); a leak of one
/// descriptor per 10,000 requests still fails a 30-minute run.
pub const FD_GROWTH_PERCENT: f64 = 25.0;
pub const FD_GROWTH_SLACK: u64 = 16;
/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Since the load started.
    pub at: Duration,
    pub rss_kib: u64,
    pub fds: u64,
    /// CPU ticks (user + system) so far.
    pub cpu_ticks: u64,
    /// HTTP requests the users sent so far.
    pub requests: u64,
}

/// Reads the gateway's RSS, fd count and CPU time; `None` when it is gone.
pub fn sample(pid: u32, at: Duration, requests: u64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let cpu_ticks = tick(11)? + tick(12)?;
    Some(Sample {
        at,
        rss_kib,
        fds,
        cpu_ticks,
        requests,
    })
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Medians of the first and the last quarter of the run (by time).
fn quarters(samples: &[Sample], duration: Duration, f: impl Fn(&Sample) -> u64) -> (u64, u64) {
    let quarter = duration / 4;
    let first = samples.iter().filter(|s| s.at <= quarter).map(&f).collect();
    let last = samples
        .iter()
        .filter(|s| s.at >= duration - quarter)
        .map(&f)
        .collect();
    (median(first), median(last))
}

/// Everything the report shows besides the users' own counts.
pub struct Inputs<'a> {
    pub title: String,
    pub setup: Vec<(String, String)>,
    pub duration: Duration,
    pub elapsed: Duration,
    pub snapshot: &'a Snapshot,
    pub samples: &'a [Sample],
    /// `(name, value)` pairs from the servers: upstream, provider and gateway metrics.
    pub servers: Vec<(String, String)>,
    pub provider_reuse_refusals: u64,
    pub leaks: u64,
}

pub struct Verdict {
    pub failures: Vec<String>,
}

pub fn render(inputs: &Inputs<'_>) -> (String, Verdict) {
    let mut out = String::new();
    let mut failures = Vec::new();
    let s = inputs.snapshot;
    let _ = writeln!(out, "# {}\n", inputs.title);
    for (key, value) in &inputs.setup {
        let _ = writeln!(out, "- {key}: {value}");
    }
    let total_requests: u64 = s.kinds.values().map(|k| k.requests).sum();
    let errors: u64 = s.errors.values().sum();
    let lost: u64 = s.lost.values().sum();
    let secs = inputs.elapsed.as_secs_f64().max(1.0);
    let _ = writeln!(out, "\n## Traffic\n");
    let _ = writeln!(
        out,
        "| operation | count | failed | HTTP requests | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for kind in Kind::ALL {
        let Some(k) = s.kinds.get(&kind) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            kind.label(),
            k.operations,
            k.failed,
            k.requests,
            k.quantile_ms(0.5),
            k.quantile_ms(0.99),
            k.quantile_ms(1.0)
        );
    }
    let _ = writeln!(
        out,
        "\n**{total_requests} HTTP requests ({:.0}/s), {errors} errors, {lost} sessions lost.**",
        total_requests as f64 / secs
    );
    if !s.errors.is_empty() {
        let _ = writeln!(out, "\n| error (cause) | count |\n|---|---:|");
        for (cause, n) in &s.errors {
            let _ = writeln!(out, "| {cause} | {n} |");
        }
    }
    if !s.lost.is_empty() {
        let _ = writeln!(
            out,
            "\n| session lost (how it showed) | count |\n|---|---:|"
        );
        for (how, n) in &s.lost {
            let _ = writeln!(out, "| {how} | {n} |");
        }
    }
    if errors > 0 {
        failures.push(format!("{errors} errors (expected 0)"));
    }
    if lost > 0 {
        failures.push(format!("{lost} sessions lost (expected 0)"));
    }
    if inputs.provider_reuse_refusals > 0 {
        failures.push(format!(
            "the provider refused {} refresh requests (a rotated refresh token spent twice revokes the grant)",
            inputs.provider_reuse_refusals
        ));
    }
    if inputs.leaks > 0 {
        failures.push(format!(
            "{} requests reached the upstream with a session cookie, or a Bearer on a public route",
            inputs.leaks
        ));
    }
    let _ = writeln!(out, "\n## Refreshes and the servers' own counts\n");
    let _ = writeln!(out, "| counter | value |\n|---|---:|");
    for (name, value) in &inputs.servers {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    resources(&mut out, inputs, &mut failures);
    let _ = writeln!(out, "\n## Verdict\n");
    if failures.is_empty() {
        let _ = writeln!(out, "PASS");
    } else {
        for failure in &failures {
            let _ = writeln!(out, "- FAIL: {failure}");
        }
    }
    (out, Verdict { failures })
}

fn resources(out: &mut String, inputs: &Inputs<'_>, failures: &mut Vec<String>) {
    let samples = inputs.samples;
    let _ = writeln!(out, "\n## Gateway resources (every sample)\n");
    let _ = writeln!(
        out,
        "| t | RSS MiB | open fds | CPU % (since last) | requests/s (since last) |\n|---:|---:|---:|---:|---:|"
    );
    let mut previous: Option<&Sample> = None;
    for sample in samples {
        let (cpu, rate) = match previous {
            Some(p) => {
                let dt = (sample.at - p.at).as_secs_f64().max(0.001);
                let cpu = (sample.cpu_ticks - p.cpu_ticks) as f64 / TICKS_PER_SECOND / dt * 100.0;
                let rate = (sample.requests - p.requests) as f64 / dt;
                (format!("{cpu:.0}"), format!("{rate:.0}"))
            }
            None => ("–".to_owned(), "–".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {}s | {:.1} | {} | {cpu} | {rate} |",
            sample.at.as_secs(),
            sample.rss_kib as f64 / 1024.0,
            sample.fds
        );
        previous = Some(sample);
    }
    let loaded: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| !s.at.is_zero())
        .collect();
    if loaded.len() < 4 {
        failures.push("fewer than 4 resource samples under load (run longer)".to_owned());
        return;
    }
    let (rss_first, rss_last) = quarters(&loaded, inputs.duration, |s| s.rss_kib);
    let (fd_first, fd_last) = quarters(&loaded, inputs.duration, |s| s.fds);
    let rss_bound =
        (rss_first as f64 * (1.0 + RSS_GROWTH_PERCENT / 100.0)) as u64 + RSS_GROWTH_SLACK_KIB;
    let fd_bound = (fd_first as f64 * (1.0 + FD_GROWTH_PERCENT / 100.0)) as u64 + FD_GROWTH_SLACK;
    let mut by_quarter = BTreeMap::new();
    by_quarter.insert(
        "RSS MiB",
        (
            rss_first as f64 / 1024.0,
            rss_last as f64 / 1024.0,
            rss_bound as f64 / 1024.0,
        ),
    );
    by_quarter.insert(
        "open fds",
        (fd_first as f64, fd_last as f64, fd_bound as f64),
    );
    let _ = writeln!(
        out,
        "\nFirst vs last quarter (medians; the 0 s sample, before any load, is left out):\n\n\
         | | first quarter | last quarter | bound |\n|---|---:|---:|---:|"
    );
    for (name, (first, last, bound)) in &by_quarter {
        let _ = writeln!(out, "| {name} | {first:.1} | {last:.1} | ≤ {bound:.1} |");
    }
    let _ = writeln!(
        out,
        "\nBounds: RSS grows at most {RSS_GROWTH_PERCENT} % + {} MiB, open fds at most \
         {FD_GROWTH_PERCENT} % + {FD_GROWTH_SLACK}.",
        RSS_GROWTH_SLACK_KIB / 1024
    );
    if rss_last > rss_bound {
        failures.push(format!(
            "RSS grew from {:.1} to {:.1} MiB (bound {:.1})",
            rss_first as f64 / 1024.0,
            rss_last as f64 / 1024.0,
            rss_bound as f64 / 1024.0
        ));
    }
    if fd_last > fd_bound {
        failures.push(format!(
            "open fds grew from {fd_first} to {fd_last} (bound {fd_bound})"
        ));
    }
}
