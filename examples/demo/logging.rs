//! The demo's logging: the usual text log on stdout (filtered by `RUST_LOG`, default `info`),
//! minus the access-log lines of the SPA's journal polling, plus the [`GatewayCapture`] layer
//! that turns the gateway's auth and access events into journal steps whatever `RUST_LOG` says.

use crate::capture::{self, GatewayCapture};
use crate::journal::Journal;
use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber.
pub fn init(journal: Arc<Journal>) {
    let terminal = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout)
        .event_format(WithoutDemoPolling(Format::default()))
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")));
    let capture = GatewayCapture { journal }
        .with_filter(FilterFn::new(|meta| capture::is_captured(meta.target())));
    let _ = tracing_subscriber::registry()
        .with(terminal)
        .with(capture)
        .try_init();
}

/// Formats events like `F`, except the access-log lines of `/demo/…` (the SPA polls its journal
/// every second; those lines would drown everything else).
struct WithoutDemoPolling<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithoutDemoPolling<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() == "bff_gateway::access" {
            let mut path = DemoPath(false);
            event.record(&mut path);
            if path.0 {
                return Ok(());
            }
        }
        self.0.format_event(ctx, writer, event)
    }
}

/// Whether an event's `path` field is under `/demo/`.
struct DemoPath(bool);

impl Visit for DemoPath {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "path" {
            self.0 = value.starts_with("/demo/");
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}
