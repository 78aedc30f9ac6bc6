//! The Tokio runtime a function serves on.
//!
//! A standard Lambda execution environment hands its process one invocation at a time, so a
//! current-thread runtime serves it as well as a multi-thread one, without worker threads to
//! start at init or to hand work between: measured, less CPU per request (docs/performance.md).
//! Lambda Managed Instances set `AWS_LAMBDA_MAX_CONCURRENCY` above 1 and overlap invocations in
//! one process; there the work is spread over the instance's cores.

use tokio::runtime::{Builder, Runtime};

/// The runtime for `main` to `block_on`: current-thread unless invocations overlap.
pub fn for_invocations() -> std::io::Result<Runtime> {
    let concurrency = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY").ok();
    if overlapping(concurrency.as_deref()) {
        Builder::new_multi_thread().enable_all().build()
    } else {
        Builder::new_current_thread().enable_all().build()
    }
}

/// Whether `AWS_LAMBDA_MAX_CONCURRENCY` lets invocations overlap. The runtime client refuses a
/// value that is not a positive number at start-up; here anything but a number above 1 means one
/// at a time.
fn overlapping(max_concurrency: Option<&str>) -> bool {
    max_concurrency
        .and_then(|value| value.trim().parse::<u32>().ok())
        .is_some_and(|n| n > 1)
}

#[cfg(test)]
mod tests {
    use super::overlapping;

    #[test]
    fn only_a_concurrency_above_one_overlaps() {
        assert!(!overlapping(None));
        assert!(!overlapping(Some("1")));
        assert!(!overlapping(Some("zero")));
        assert!(overlapping(Some("2")));
        assert!(overlapping(Some(" 64 ")));
    }
}
