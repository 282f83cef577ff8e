//! Logging set-up: human-readable lines by default, JSON for journald and collectors.
//! Log lines carry key/value fields; ID numbers and names are masked where they are
//! logged at all (see `domain::mask_id_str`, `domain::mask_name`).

use tracing_subscriber::{fmt, EnvFilter};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber writing to stderr. `RUST_LOG` overrides the level.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // sqlx's slow-statement warnings quote the whole statement, thousands of
        // placeholders for a bulk insert: of no use to an operator.
        EnvFilter::new(format!(
            "{default_level},sqlx=warn,sqlx::query=error,hyper=warn,reqwest=warn"
        ))
    });
    // Colours only on a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
