//! Logging set-up: readable lines for people at a terminal, JSON lines for log collectors.

use tracing_subscriber::EnvFilter;

/// `RUST_LOG` overrides the level; `json` selects one JSON object per line.
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).with_current_span(false).init();
    } else {
        builder.compact().with_target(false).init();
    }
}
