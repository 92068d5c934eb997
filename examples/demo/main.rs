//! `cargo run --release --example demo`: the whole product on one machine.
//!
//! A web app that wants the user's contacts: the SPA (static files and a step-by-step panel),
//! the contacts API (a resource server that introspects its Bearer tokens), a demo OAuth 2.0 /
//! OpenID Connect authorization server (DEMO ONLY) and, in front of the SPA and the API,
//! bff-gateway itself, started from the repository's `gateway.yaml`. It prints the URL to open
//! and the demo credentials; Ctrl-C (or SIGTERM) stops everything and exits 0.
//!
//! Environment: `DEMO_GATEWAY_PORT` (8080), `DEMO_ADMIN_PORT` (9090), `DEMO_AUTH_PORT` (9000),
//! `DEMO_API_PORT` (9100), `DEMO_SPA_PORT` (9200) — all on loopback, `0` picks a free port;
//! `DEMO_ACCESS_TOKEN_TTL` (30 s); `BFF_SESSION_KEY` (random when unset); `RUST_LOG` (info).
//!
//! Nothing here may print or journal a token, code, secret, cookie value or PKCE verifier.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod auth_events;
mod capture;
mod contacts;
mod journal;
mod logging;
mod serve;
mod servers;
mod settings;
mod spa;

use journal::Journal;
use servers::{Addresses, DemoServers};
use settings::Settings;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let settings = match Settings::from_env(&|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    let journal = Arc::new(Journal::default());
    logging::init(Arc::clone(&journal));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(run(settings, journal))
}

async fn run(settings: Settings, journal: Arc<Journal>) -> ExitCode {
    let demo = match DemoServers::start(&settings, journal).await {
        Ok(demo) => demo,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            return ExitCode::from(error.exit_code());
        }
    };
    announce(&demo.addresses, &settings);
    let signal = shutdown_signal().await;
    println!("\n{signal}: stopping the demo (Ctrl-C again to stop at once)");
    tokio::select! {
        () = demo.stop() => {
            println!("demo stopped");
            ExitCode::SUCCESS
        }
        _ = shutdown_signal() => {
            eprintln!("stopped at once");
            ExitCode::from(130)
        }
    }
}

/// The banner for a person, then one JSON line for scripts and tests.
fn announce(at: &Addresses, settings: &Settings) {
    let rule = "─".repeat(78);
    let admin = at
        .admin
        .map_or_else(|| "-".to_owned(), |a| format!("http://{a}/readyz"));
    println!(
        "\n{rule}\n  bff-gateway demo — the authorization server is DEMO ONLY, NOT FOR PRODUCTION\n\n  \
         Open      {url}\n  \
         Sign in   demo / demo   (on the demo authorization server's login form)\n  \
         Stop      Ctrl-C\n\n  \
         Gateway               {url}   (from {config})\n  \
         Authorization server  {issuer}   (in memory, plain-text demo passwords)\n  \
         Contacts API          http://{api}   (behind the gateway at /api)\n  \
         SPA files             http://{spa}   (behind the gateway at /)\n  \
         Gateway readiness     {admin}\n\n  \
         Access tokens live {ttl} s, so you can watch the gateway refresh them.\n{rule}\n",
        url = at.url,
        config = settings.gateway_config.display(),
        issuer = at.issuer,
        api = at.api,
        spa = at.spa,
        ttl = settings.access_token_ttl.as_secs(),
    );
    let ready = serde_json::json!({
        "demo": "ready",
        "url": at.url,
        "issuer": at.issuer,
        "api": format!("http://{}", at.api),
        "spa": format!("http://{}", at.spa),
        "admin": at.admin.map(|a| a.to_string()),
        "username": "demo",
        "password": "demo",
    });
    println!("{ready}");
}

/// An error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Some errors already quote their cause; say it once.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Waits for SIGTERM or SIGINT (Ctrl-C) and names it.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
