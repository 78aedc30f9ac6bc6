//! How long an invocation may work: the Lambda deadline less a margin to answer and log.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time kept back from the Lambda deadline to answer and log after a slow dependency.
pub(crate) const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);
/// Deadline when the event carries none (local invocations without a context).
pub(crate) const DEFAULT_BUDGET: Duration = Duration::from_secs(25);

/// The time left for work in an invocation whose Lambda deadline is `deadline_ms` (epoch
/// milliseconds), less `margin`. A deadline already past is not a real one: `cargo lambda watch`
/// sends its timeout (600000) in that header; then `fallback` is the budget.
pub(crate) fn deadline(deadline_ms: u64, margin: Duration, fallback: Duration) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    match u128::from(deadline_ms).checked_sub(now_ms) {
        Some(left) if left > 0 => {
            Instant::now()
                + Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX))
                    .saturating_sub(margin)
        }
        _ => Instant::now() + fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_deadline_leaves_the_time_left_less_the_margin() {
        let in_ten_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 10_000;
        let left = deadline(in_ten_s, Duration::from_secs(2), DEFAULT_BUDGET)
            .saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_millis(7_500) && left <= Duration::from_secs(8),
            "{left:?}"
        );
    }

    #[test]
    fn a_deadline_in_the_past_is_no_deadline() {
        // cargo lambda watch sends 600000, Lambda's test contexts 0.
        for ms in [0, 600_000] {
            let left = deadline(ms, DEADLINE_MARGIN, Duration::from_secs(25))
                .saturating_duration_since(Instant::now());
            assert!(left > Duration::from_secs(24), "{ms}: {left:?}");
        }
    }
}
