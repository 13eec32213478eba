//! Logging setup for the `tessera` binary and library users: `tracing` to stderr, filtered by
//! `RUST_LOG`, as human-readable text or as one JSON object per line (`--log-format json`).

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per event, with the current spans (the worker's `task` span carries
    /// the task key).
    Json,
}

impl LogFormat {
    /// The format `TESSERA_LOG_FORMAT` names (`json`, otherwise text).
    pub fn from_env() -> Self {
        match std::env::var("TESSERA_LOG_FORMAT").as_deref() {
            Ok("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Install the global subscriber (a no-op when one is already installed). The filter is
/// `RUST_LOG`, or `info` for tessera's crates and `warn` for the rest.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,tessera=info,tessera_worker=info,tessera_scheduler=info",
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
