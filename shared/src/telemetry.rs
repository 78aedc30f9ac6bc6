//! Logging: JSON lines on stdout, which Lambda sends to CloudWatch. The runtime wraps every
//! invocation in a span carrying `requestId`, so each line names its request. The metrics
//! (`crate::metrics`) are JSON lines on the same stdout.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the JSON subscriber. The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's logging
/// controls) or `RUST_LOG`, and is INFO otherwise. The metrics go to stdout from now on too.
pub fn init_json_logs() {
    crate::metrics::write_to_stdout();
    let filter = log_filter(|name| std::env::var(name).ok());
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false);
    // A second call (tests that start several functions in one process) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(format)
        .with(filter)
        .try_init();
}

/// `AWS_LAMBDA_LOG_LEVEL` (a level: `INFO`, `debug`), else `RUST_LOG` (`info`, or per target:
/// `warn,awaknow_core=debug`), else INFO. A value that does not parse falls back to INFO rather
/// than silencing the function. `Targets` rather than `EnvFilter`: the same directives without
/// span and field matching, which this backend never used, and without a regex engine in every
/// bootstrap.
fn log_filter(var: impl Fn(&str) -> Option<String>) -> Targets {
    let info = || Targets::new().with_default(LevelFilter::INFO);
    if let Some(level) = var("AWS_LAMBDA_LOG_LEVEL") {
        return level.to_lowercase().parse().unwrap_or_else(|_| info());
    }
    var("RUST_LOG")
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(info)
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    fn filter_from(vars: &[(&str, &str)]) -> tracing_subscriber::filter::Targets {
        log_filter(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        let filter = filter_from(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "error")]);
        assert!(filter.would_enable("awaknow_core::api", &Level::DEBUG));
        assert!(!filter.would_enable("awaknow_core::api", &Level::TRACE));
    }

    #[test]
    fn rust_log_directives_apply_per_target() {
        let filter = filter_from(&[("RUST_LOG", "warn,awaknow_core=debug")]);
        assert!(filter.would_enable("awaknow_core::store", &Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(filter.would_enable("aws_smithy_runtime", &Level::WARN));
    }

    #[test]
    fn nothing_set_or_nonsense_is_info() {
        for vars in [&[][..], &[("RUST_LOG", "a=b=c")][..]] {
            let filter = filter_from(vars);
            assert!(filter.would_enable("awaknow_core", &Level::INFO));
            assert!(!filter.would_enable("awaknow_core", &Level::DEBUG));
        }
    }
}
