//! The soak test's load driver and servers; `soak/run` builds and starts everything (read its
//! header first). Three subcommands, one job each:
//!
//! - `soak ports N` prints N free loopback ports (the gateway's, before anything knows it);
//! - `soak serve` runs the demo authorization server and the upstream (see `servers.rs`);
//! - `soak drive` runs the virtual users against the gateway for the given time, samples the
//!   gateway's RSS and fds, writes the markdown report and exits 1 when the verdict fails.
//!
//! Loopback only; everything stops by itself at the deadline.

mod browser;
mod report;
mod servers;
mod tally;
mod user;

use clap::{Parser, Subcommand};
use report::{Inputs, Sample};
use reqwest::Url;
use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tally::Tally;
use user::{Plan, User};

#[derive(Parser)]
#[command(about = "bff-gateway soak test: servers and load driver (use soak/run)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints N free loopback ports, space-separated.
    Ports { count: usize },
    /// Runs the authorization server and the upstream until killed.
    Serve {
        /// The gateway's public URL (its callback and logout return are registered there).
        #[arg(long)]
        public_url: String,
        /// Users `soak-01`.. to create at the authorization server.
        #[arg(long)]
        users: usize,
    },
    /// Drives the virtual users and writes the report.
    Drive(Box<DriveArgs>),
}

#[derive(clap::Args)]
struct DriveArgs {
    /// The gateway's public URL.
    #[arg(long)]
    gateway: Url,
    /// The gateway's admin URL (readiness, metrics).
    #[arg(long)]
    admin: Url,
    /// The upstream's address (its counters).
    #[arg(long)]
    upstream: String,
    /// The gateway's process id, for RSS and fd samples.
    #[arg(long)]
    pid: u32,
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Duration,
    #[arg(long, default_value_t = 32)]
    users: usize,
    /// Pause between a user's iterations (±50 %).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "250ms")]
    think: Duration,
    /// Concurrent API calls per burst.
    #[arg(long, default_value_t = 4)]
    burst: usize,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    sample_every: Duration,
    /// The gateway's `session.refresh_skew` (for the report).
    #[arg(long)]
    refresh_skew: String,
    /// Where the markdown report goes.
    #[arg(long)]
    report: std::path::PathBuf,
    /// Free text for the report's setup list (commit, machine).
    #[arg(long)]
    label: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ports { count } => ports(count),
        Command::Serve { public_url, users } => servers::serve(&public_url, users).map(|()| true),
        Command::Drive(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Into::into)
            .and_then(|rt| rt.block_on(drive(*args))),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("soak: error: {error}");
            ExitCode::from(2)
        }
    }
}

fn ports(count: usize) -> Result<bool, Box<dyn Error>> {
    // All held at once so they differ; freed on return (a tiny race until the gateway binds).
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    let ports: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port().to_string()))
        .collect::<Result<_, _>>()?;
    println!("{}", ports.join(" "));
    Ok(true)
}

async fn drive(args: DriveArgs) -> Result<bool, Box<dyn Error>> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?;
    wait_ready(&http, &args.admin).await?;
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut origin = args.gateway.origin().ascii_serialization();
    origin.truncate(origin.trim_end_matches('/').len());
    let plan = Arc::new(Plan {
        base: args.gateway.clone(),
        origin,
        think: args.think,
        burst: args.burst.max(1),
        websocket_every: 8,
        logout_every: 120,
        deadline,
    });
    eprintln!(
        "soak: {} users for {} against {}",
        args.users,
        humantime::format_duration(args.duration),
        args.gateway
    );
    let mut users = Vec::new();
    for n in 1..=args.users {
        let user = User::new(n, plan.clone(), tally.clone())?;
        users.push(tokio::spawn(user.run()));
    }
    let samples = sample_until(&args, &tally, started, deadline).await;
    // Users finish the iteration they are in; anything still running after this is cut off.
    let drain = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(users),
    );
    let unfinished = drain.await.is_err();
    let elapsed = started.elapsed();
    let upstream = stats(&http, &format!("http://{}/_soak/stats", args.upstream)).await;
    let metrics = gateway_metrics(&http, &args.admin).await;
    let number = |key: &str| {
        upstream
            .as_ref()
            .map_or(0, |v| v[key].as_u64().unwrap_or(0))
    };
    let mut servers = vec![
        ("upstream: API requests with an active Bearer".to_owned(), number("api").to_string()),
        (
            "upstream: API requests refused, Bearer not active (the gateway refreshes and retries once)".to_owned(),
            number("api_rejected").to_string(),
        ),
        ("upstream: WebSocket handshakes with an active Bearer".to_owned(), number("ws").to_string()),
        ("upstream: SPA requests".to_owned(), number("spa").to_string()),
        ("provider: refresh grants issued (each rotates the refresh token)".to_owned(), number("refresh_issued").to_string()),
        ("provider: refresh grants refused (reuse revokes the grant; expect 0)".to_owned(), number("refresh_refused").to_string()),
        ("provider: authorization codes exchanged".to_owned(), number("code_issued").to_string()),
        ("provider: login forms shown".to_owned(), number("login_forms").to_string()),
    ];
    servers.push((
        "driver: API bursts in which an answer rewrote the session cookie (a refresh)".to_owned(),
        tally.bursts_refreshed.load(Relaxed).to_string(),
    ));
    servers.push((
        "driver: … in which 2 or more concurrent answers did (refreshes raced)".to_owned(),
        tally.bursts_raced.load(Relaxed).to_string(),
    ));
    servers.extend(
        metrics
            .into_iter()
            .map(|(k, v)| (format!("gateway: `{k}`"), v)),
    );
    if upstream.is_none() {
        servers.push(("upstream counters".to_owned(), "unavailable".to_owned()));
    }
    let snapshot = tally.snapshot();
    let mut setup = vec![
        (
            "duration".to_owned(),
            format!(
                "{} (ran {:.0} s)",
                humantime::format_duration(args.duration),
                elapsed.as_secs_f64()
            ),
        ),
        (
            "virtual users".to_owned(),
            format!(
                "{} (logins started: {})",
                args.users,
                tally.logins.load(Relaxed)
            ),
        ),
        (
            "each iteration".to_owned(),
            format!(
                "{} concurrent API calls on one cookie jar (one burst in 4 has a POST), the SPA page and script in parallel, a WebSocket round trip 1 in {}, a logout and new login 1 in {}; pause {} ±50 %",
                plan.burst,
                plan.websocket_every,
                plan.logout_every,
                humantime::format_duration(args.think)
            ),
        ),
        (
            "tokens".to_owned(),
            format!(
                "access tokens live {} s (2,048 characters), gateway refresh_skew {}, refresh tokens rotated on every use with reuse detection",
                servers::ACCESS_TOKEN_TTL.as_secs(),
                args.refresh_skew
            ),
        ),
    ];
    setup.extend(
        args.label
            .iter()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))),
    );
    if unfinished {
        setup.push((
            "note".to_owned(),
            "some users were still busy 30 s after the deadline and were cut off".to_owned(),
        ));
    }
    let inputs = Inputs {
        title: "Soak run".to_owned(),
        setup,
        duration: args.duration,
        elapsed,
        snapshot: &snapshot,
        samples: &samples,
        servers,
        provider_reuse_refusals: number("refresh_refused"),
        leaks: number("leaks"),
    };
    let (text, verdict) = report::render(&inputs);
    if let Some(dir) = args.report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.report, &text)?;
    println!("{text}");
    Ok(verdict.failures.is_empty())
}

async fn wait_ready(http: &reqwest::Client, admin: &Url) -> Result<(), Box<dyn Error>> {
    let ready = admin.join("/readyz")?;
    for _ in 0..200 {
        if let Ok(response) = http.get(ready.clone()).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the gateway did not become ready at {ready} within 20 s").into())
}

/// Samples the gateway every `sample_every` (and once before the load) until the deadline.
async fn sample_until(
    args: &DriveArgs,
    tally: &Tally,
    started: Instant,
    deadline: Instant,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut next = started;
    while next <= deadline {
        tokio::time::sleep_until(next.into()).await;
        let at = next - started;
        match report::sample(args.pid, at, tally.requests.load(Relaxed)) {
            Some(sample) => samples.push(sample),
            None => {
                eprintln!("soak: the gateway (pid {}) is gone", args.pid);
                break;
            }
        }
        if at.as_secs() % 60 == 0 || next + args.sample_every > deadline {
            let last = samples.last().map_or(0, |s| s.rss_kib / 1024);
            eprintln!(
                "soak: {:>5} s  {} requests  {} sessions lost  RSS {last} MiB",
                at.as_secs(),
                tally.requests.load(Relaxed),
                tally.sessions_lost.load(Relaxed)
            );
        }
        next += args.sample_every;
    }
    samples
}

async fn stats(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

/// The gateway's refresh, login and error counters from `/metrics`, and its 5xx answers.
async fn gateway_metrics(http: &reqwest::Client, admin: &Url) -> Vec<(String, String)> {
    let Ok(url) = admin.join("/metrics") else {
        return Vec::new();
    };
    let Some(text) = async { http.get(url).send().await.ok()?.text().await.ok() }.await else {
        return vec![("metrics".to_owned(), "unavailable".to_owned())];
    };
    let mut out = Vec::new();
    let mut server_errors = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(number) = value.parse::<f64>() else {
            continue;
        };
        if series.starts_with("bff_gateway_requests_total") && series.contains("status=\"5xx\"") {
            server_errors += number;
        }
        let wanted = ["bff_gateway_token_refreshes_total", "bff_gateway_logins_"]
            .iter()
            .any(|p| series.starts_with(p))
            || (series.starts_with("bff_gateway_upstream_errors_total") && number > 0.0);
        if wanted && !(series.starts_with("bff_gateway_logins_failed") && number == 0.0) {
            out.push((series.to_owned(), value.to_owned()));
        }
    }
    out.push((
        "5xx answers (bff_gateway_requests_total, status=\"5xx\")".to_owned(),
        server_errors.to_string(),
    ));
    out
}
