//! The `bff-gateway` command: `run` (default) and `check`.
//!
//! Exit codes: 0 success (also after a graceful shutdown), 1 invalid configuration, 2 usage error
//! (from clap), 3 startup failure (a port in use, a bad TLS file).

mod reload;

use bff_gateway::config::{self, ConfigError};
use bff_gateway::telemetry::{self, LogFormat};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "bff-gateway",
    version,
    about = "OAuth 2.0 Backend-For-Frontend token handler and reverse proxy"
)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "BFF_GATEWAY_CONFIG",
        default_value = "gateway.yaml"
    )]
    config: PathBuf,
    /// Log format: json (default when stdout is not a terminal), text, or auto.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Validate the configuration and print the effective config (secrets redacted).
    Check,
    /// Print a new random session key (base64, 32 bytes) for `session.keys`.
    Keygen,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Keygen) = cli.command {
        println!("{}", bff_gateway::session::MasterKey::generate_base64());
        return ExitCode::SUCCESS;
    }
    let env = |name: &str| std::env::var(name).ok();
    let loaded = config::load(&cli.config, &env);
    match cli.command.unwrap_or(Command::Run) {
        Command::Check => match loaded {
            Ok(config) => {
                // The certificate and key are read too, so a broken pair fails here, not at start.
                if let Some(files) = &config.server.tls
                    && let Err(error) = bff_gateway::server::tls::acceptor(files)
                {
                    eprintln!("error: {}: {error}", cli.config.display());
                    return ExitCode::from(1);
                }
                print!("{}", config::render_effective(&config));
                eprintln!("{}: configuration is valid", cli.config.display());
                ExitCode::SUCCESS
            }
            Err(error) => config_failed(&error),
        },
        Command::Keygen => ExitCode::SUCCESS,
        Command::Run => {
            let config = match loaded {
                Ok(config) => config,
                Err(error) => return config_failed(&error),
            };
            let _log_writer = telemetry::init(cli.log_format);
            // The worker threads (`server.workers`) serve the main listener on event loops of
            // their own; this one runs the admin listener, signals, reloads and discovery.
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the async runtime: {error}");
                    return ExitCode::from(3);
                }
            };
            runtime.block_on(run(config, cli.config.clone()))
        }
    }
}

fn config_failed(error: &ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(1)
}

async fn run(config: config::Config, path: PathBuf) -> ExitCode {
    let running = match bff_gateway::start(config).await {
        Ok(running) => running,
        Err(error) => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(error = %text, "cannot start");
            eprintln!("error: {text}");
            return ExitCode::from(3);
        }
    };
    let signal = tokio::select! {
        signal = shutdown_signal() => signal,
        () = reload::watch(&running, &path) => "none",
    };
    tracing::info!(signal, "shutting down");
    running.shutdown();
    running.wait().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
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
