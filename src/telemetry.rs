//! Logging and error reporting: readable lines for people at a terminal, JSON lines for log
//! collectors, and Sentry for errors and panics when `PLEDGE_SENTRY_DSN` is set.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps Sentry's client alive; dropping it flushes the events still queued.
pub struct Telemetry {
    _sentry: Option<sentry::ClientInitGuard>,
}

/// `RUST_LOG` overrides the level; `json` selects one JSON object per line. With a Sentry DSN,
/// error events and panics are sent to Sentry (warnings and info become their breadcrumbs);
/// the DSN itself is never logged.
pub fn init(json: bool) -> Telemetry {
    let sentry = std::env::var("PLEDGE_SENTRY_DSN").ok().filter(|dsn| !dsn.trim().is_empty()).map(|dsn| {
        sentry::init((
            dsn,
            sentry::ClientOptions {
                release: Some(concat!("pledge@", env!("CARGO_PKG_VERSION")).into()),
                environment: std::env::var("PLEDGE_SENTRY_ENVIRONMENT").ok().map(Into::into),
                // Donors' addresses and cookies stay out of reports.
                send_default_pii: false,
                ..sentry::ClientOptions::default()
            },
        ))
    });
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let sentry_layer = sentry.as_ref().map(|_| sentry::integrations::tracing::layer());
    let registry = tracing_subscriber::registry().with(filter).with(sentry_layer);
    if json {
        let fmt = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr);
        registry.with(fmt).init();
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().compact().with_target(false).with_writer(std::io::stderr))
            .init();
    }
    Telemetry { _sentry: sentry }
}
