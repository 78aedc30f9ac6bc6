//! Logging: JSON lines on stdout, which Lambda sends to CloudWatch. The runtime wraps every
//! invocation in a span carrying `requestId`, so each line names its request. The metrics
//! (`crate::metrics`) are JSON lines on the same stdout.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's logging
/// controls) or `RUST_LOG`, and is INFO otherwise. The metrics go to stdout from now on too.
pub fn init_json_logs() {
    crate::metrics::write_to_stdout();
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .map(|level| EnvFilter::new(level.to_lowercase()))
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // A second call (tests that start several functions in one process) keeps the first.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
