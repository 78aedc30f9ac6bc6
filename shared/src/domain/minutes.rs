//! How many minutes a session reserves and how many it is charged.

use chrono::{DateTime, Utc};

/// Minutes reserved when the client does not ask for a number.
pub(crate) const DEFAULT_SESSION_MINUTES: u32 = 30;
/// Tavus ends a conversation after at most 3600 seconds (`max_call_duration`).
pub(crate) const TAVUS_MAX_CALL_MINUTES: u32 = 60;

/// The minutes to reserve: what was asked (or the default, and at least one), capped by what is
/// left this period and by Tavus's per-call cap. Zero means nothing can be reserved.
pub(crate) fn reservation_minutes(requested: Option<u32>, available: i64) -> u32 {
    let wanted = requested
        .unwrap_or(DEFAULT_SESSION_MINUTES)
        .clamp(1, TAVUS_MAX_CALL_MINUTES);
    let available = u32::try_from(available.max(0)).unwrap_or(u32::MAX);
    wanted.min(available)
}

/// Our creation time comes before Tavus's by the create's round trip, and Tavus bills from its
/// own. Charging from ours, rounded up, would turn a call Tavus ran for exactly N minutes (a call
/// nobody joined, ended at the 120 s join window, say) into N + 1: that head start is not
/// charged.
pub(crate) const CREATE_ROUND_TRIP_ALLOWANCE_MS: i64 = 3_000;

/// Minutes charged for a call that ran from `created_at` (ours) to `ended_at`: whole minutes,
/// rounded up, because Tavus bills from creation, less the create's round trip; at least one
/// minute for any call that ran at all. A clock that runs backwards charges nothing.
pub(crate) fn charged_minutes(created_at: DateTime<Utc>, ended_at: DateTime<Utc>) -> u32 {
    let millis = (ended_at - created_at).num_milliseconds();
    if millis <= 0 {
        return 0;
    }
    let billed = (millis - CREATE_ROUND_TRIP_ALLOWANCE_MS).max(1);
    let minutes = (billed as u64).div_ceil(60_000);
    u32::try_from(minutes).unwrap_or(u32::MAX)
}

/// Slack between our clock and Tavus's: our `created_at` is taken a moment before Tavus creates
/// the conversation, so a call Tavus stopped at exactly its `max_call_duration` looks a little
/// longer than the reservation from here.
pub(crate) const CLOCK_SLACK_SECONDS: i64 = 15;

/// Minutes to charge for a call Tavus reports ran from `created_at` (ours) to `ended_at`: the
/// duration rounded up, and never more than reserved unless the call really ran longer than the
/// reservation (beyond the clock slack).
pub(crate) fn settled_minutes(
    created_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    reserved_minutes: u32,
) -> u32 {
    let charged = charged_minutes(created_at, ended_at);
    let reserved_end = created_at
        + chrono::Duration::minutes(i64::from(reserved_minutes))
        + chrono::Duration::seconds(CLOCK_SLACK_SECONDS);
    if ended_at <= reserved_end {
        charged.min(reserved_minutes)
    } else {
        charged
    }
}

/// Minutes to charge for a call Tavus reports stopped at `ended_at` for `reason`: as
/// [`settled_minutes`], except that a call we ended ourselves (the owner's end, or the sweeper's
/// end of an overdue call: Tavus reports `end_conversation_endpoint_hit` for both) is charged at
/// most its reservation. Its overrun is the time until our end reached Tavus (the sweeper's
/// schedule), not the user's; whichever of our end, the sweeper and the callback settles first,
/// the charge is the same.
pub(crate) fn shutdown_charge(
    created_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    reserved_minutes: u32,
    reason: crate::domain::EndReason,
) -> u32 {
    let charged = settled_minutes(created_at, ended_at, reserved_minutes);
    match reason {
        crate::domain::EndReason::UserEnded | crate::domain::EndReason::Swept => {
            charged.min(reserved_minutes)
        }
        _ => charged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn reservation_defaults_to_thirty_and_is_capped() {
        assert_eq!(reservation_minutes(None, 500), 30);
        assert_eq!(reservation_minutes(Some(45), 500), 45);
        assert_eq!(reservation_minutes(Some(90), 500), 60);
        assert_eq!(reservation_minutes(None, 12), 12);
        assert_eq!(reservation_minutes(Some(5), 0), 0);
        assert_eq!(reservation_minutes(Some(5), -20), 0);
        assert_eq!(
            reservation_minutes(Some(0), 10),
            1,
            "never a reservation of nothing"
        );
    }

    #[test]
    fn charges_round_up_to_whole_minutes() {
        let start = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let after = |ms: i64| charged_minutes(start, start + Duration::milliseconds(ms));
        assert_eq!(after(0), 0);
        assert_eq!(after(1), 1, "any call that ran is at least a minute");
        assert_eq!(after(60_000), 1);
        assert_eq!(after(63_000), 1, "the create's round trip is not charged");
        assert_eq!(after(63_001), 2);
        // Nobody joined: Tavus ended it 120 s after its creation, 0.8 s after ours.
        assert_eq!(after(120_800), 2);
        assert_eq!(after(3_600_000), 60);
        assert_eq!(after(-5_000), 0);
    }

    #[test]
    fn a_call_stopped_at_its_reservation_is_charged_the_reservation() {
        let start = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: i64| start + Duration::seconds(s);
        // Tavus stopped it at 300 s after its own creation, 1.2 s after ours.
        assert_eq!(settled_minutes(start, at(301), 5), 5);
        assert_eq!(settled_minutes(start, at(130), 5), 3);
        // Tavus reports a call that really ran longer: it is charged.
        assert_eq!(settled_minutes(start, at(420), 5), 7);
    }

    #[test]
    fn a_call_we_ended_is_charged_at_most_its_reservation() {
        use crate::domain::EndReason;
        let start = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let late = start + Duration::minutes(95);
        for ours in [EndReason::UserEnded, EndReason::Swept] {
            assert_eq!(shutdown_charge(start, late, 20, ours), 20, "{ours:?}");
        }
        assert_eq!(
            shutdown_charge(start, late, 20, EndReason::TavusShutdown),
            95,
            "a call Tavus itself ran on is charged what ran"
        );
        let early = start + Duration::seconds(130);
        assert_eq!(shutdown_charge(start, early, 20, EndReason::UserEnded), 3);
    }
}
