//! Logging setup: `tracing` to stdout, JSON (the default when stdout is not a terminal) or human
//! text (coloured on a terminal only). `RUST_LOG` filters as usual (`bff_gateway::access=off`
//! silences the access log).
//!
//! Lines are written by a background thread (`tracing-appender`), so a request never waits for
//! stdout; only when [`QUEUED_LINES`] lines are queued (a stalled log pipe) do requests wait,
//! rather than lose log lines.
//!
//! Nothing may log a token, cookie, code, secret or query string; the access-log line in
//! `gateway.rs` logs the path only.

use std::io::IsTerminal;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// The log writer's queue, in lines: about a second of access log at 16,000 requests/s. The queue
/// is allocated and touched whole at startup (≈ 32 bytes a line); tracing-appender's default of
/// 128,000 lines cost 4 MiB of resident memory, a third of the idle gateway's.
pub const QUEUED_LINES: usize = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, text otherwise.
    Auto,
    Json,
    Text,
}

/// Installs the global subscriber; a second call (tests) is a no-op. Keep the guard until the
/// process ends: dropping it flushes the queued lines.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(false)
        .thread_name("bff-log")
        .finish(std::io::stdout());
    // Colour codes only for a terminal: the writer is a background thread, so the formatter
    // cannot see where the lines end up, and a log file or collector would get raw escapes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
    guard
}
