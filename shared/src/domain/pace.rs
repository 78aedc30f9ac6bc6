//! How fast one user may create sessions: `n` a minute, as a token bucket of `n` refilled one
//! every `60/n` seconds (a generic cell rate, the meaning API Gateway gives a rate and a burst).
//!
//! Each user has a *pace mark*: the time by which their creates so far are paid off at one
//! every `60/n` seconds. A create moves the mark one interval on from the later of the mark and
//! now; it is allowed when the new mark is at most a minute ahead of now. So an idle user may
//! create `n` at once, then one every `60/n` seconds: `n` a minute sustained, and never more
//! than `2n - 1` in any one minute (a full burst, then the refills of that minute). The mark is
//! one number on the account item, moved by the reservation's own write.

/// The template's default (`CreatesPerUserPerMinute`).
pub const DEFAULT_CREATES_PER_MINUTE: u32 = 10;

/// The most a pace can allow: one create a millisecond.
pub const MAX_CREATES_PER_MINUTE: u32 = 60_000;

const WINDOW_MS: i64 = 60_000;

/// At most `per_minute` creates per user in any minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatePace {
    per_minute: u32,
}

/// Where a user stands when they ask to create, given their pace mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceState {
    /// The mark is behind now (or there is none): the create sets it to now plus one interval.
    Idle,
    /// The mark is ahead of now, with room for one more: the create moves it one interval on.
    Busy,
    /// One more would put more than `per_minute` creates in a minute.
    Refused { retry_after_seconds: u32 },
}

impl CreatePace {
    /// `None` for zero (a pace that allows nothing) and above [`MAX_CREATES_PER_MINUTE`] (the
    /// interval is counted in whole milliseconds): configuration mistakes, refused there.
    pub fn per_minute(per_minute: u32) -> Option<CreatePace> {
        (1..=MAX_CREATES_PER_MINUTE)
            .contains(&per_minute)
            .then_some(CreatePace { per_minute })
    }

    pub fn creates_per_minute(&self) -> u32 {
        self.per_minute
    }

    /// The time one create takes off the user's allowance, in milliseconds.
    pub fn interval_ms(&self) -> i64 {
        (WINDOW_MS / i64::from(self.per_minute)).max(1)
    }

    /// The latest the mark may stand, before this create, for the create at `now_ms` to be
    /// allowed: the new mark then lands at most a minute ahead.
    pub fn latest_mark_allowed(&self, now_ms: i64) -> i64 {
        now_ms + WINDOW_MS - self.interval_ms()
    }

    /// The mark after a create at `now_ms`, when the user is idle.
    pub fn mark_from_idle(&self, now_ms: i64) -> i64 {
        now_ms + self.interval_ms()
    }

    /// Where a user with this mark stands for a create at `now_ms`.
    pub fn judge(&self, mark_ms: Option<i64>, now_ms: i64) -> PaceState {
        match mark_ms {
            None => PaceState::Idle,
            Some(mark) if mark <= now_ms => PaceState::Idle,
            Some(mark) if mark <= self.latest_mark_allowed(now_ms) => PaceState::Busy,
            Some(mark) => {
                let wait_ms = mark - self.latest_mark_allowed(now_ms);
                // Whole seconds, rounded up: a client that waits as told is allowed.
                let seconds = (wait_ms + 999) / 1000;
                PaceState::Refused {
                    retry_after_seconds: u32::try_from(seconds.max(1)).unwrap_or(u32::MAX),
                }
            }
        }
    }

    /// The mark after an allowed create at `now_ms`.
    pub fn next_mark(&self, mark_ms: Option<i64>, now_ms: i64) -> i64 {
        mark_ms.map_or(now_ms, |m| m.max(now_ms)) + self.interval_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays creates at the given times (ms), returning which were allowed.
    fn play(pace: CreatePace, times: &[i64]) -> Vec<bool> {
        let mut mark = None;
        times
            .iter()
            .map(|&now| match pace.judge(mark, now) {
                PaceState::Refused { .. } => false,
                PaceState::Idle | PaceState::Busy => {
                    mark = Some(pace.next_mark(mark, now));
                    true
                }
            })
            .collect()
    }

    #[test]
    fn an_idle_user_may_create_a_burst_of_n_then_one_per_interval() {
        let pace = CreatePace::per_minute(10).unwrap();
        let burst: Vec<i64> = (0..11).map(|i| 1_000 + i).collect();
        let allowed = play(pace, &burst);
        assert_eq!(allowed.iter().filter(|a| **a).count(), 10);
        assert!(!allowed[10], "the eleventh in a burst is refused");
    }

    #[test]
    fn the_refusal_says_how_long_to_wait_and_waiting_that_long_is_enough() {
        let pace = CreatePace::per_minute(10).unwrap();
        let mut mark = None;
        for _ in 0..10 {
            mark = Some(pace.next_mark(mark, 0));
        }
        let PaceState::Refused {
            retry_after_seconds,
        } = pace.judge(mark, 0)
        else {
            panic!("the eleventh at once must be refused");
        };
        assert_eq!(retry_after_seconds, 6, "one interval of 60/10 s");
        let later = i64::from(retry_after_seconds) * 1000;
        assert_eq!(pace.judge(mark, later), PaceState::Busy);
        assert!(matches!(
            pace.judge(mark, later - 1),
            PaceState::Refused { .. }
        ));
    }

    #[test]
    fn n_a_minute_sustained_and_never_more_than_2n_minus_1_in_a_minute() {
        for per_minute in [1, 3, 10, 60] {
            let n = per_minute as usize;
            let pace = CreatePace::per_minute(per_minute).unwrap();
            // A create attempted every 250 ms for five minutes.
            let times: Vec<i64> = (0..1200).map(|i| i * 250).collect();
            let allowed = play(pace, &times);
            let accepted: Vec<i64> = times
                .iter()
                .zip(&allowed)
                .filter(|(_, a)| **a)
                .map(|(t, _)| *t)
                .collect();
            for (i, start) in accepted.iter().enumerate() {
                let in_minute = accepted[i..]
                    .iter()
                    .take_while(|t| **t < start + WINDOW_MS)
                    .count();
                assert!(
                    in_minute < 2 * n,
                    "{per_minute}/min: {in_minute} in the minute from {start}"
                );
            }
            // Five minutes: the first burst, then one per interval.
            assert_eq!(accepted.len(), n + 5 * n - 1, "{per_minute}/min");
        }
    }

    #[test]
    fn a_mark_in_the_past_gives_no_credit_beyond_one_burst() {
        let pace = CreatePace::per_minute(10).unwrap();
        let an_hour_ago = Some(0);
        let now = 3_600_000;
        assert_eq!(pace.judge(an_hour_ago, now), PaceState::Idle);
        assert_eq!(pace.next_mark(an_hour_ago, now), now + 6_000);
    }

    #[test]
    fn zero_or_more_than_one_a_millisecond_is_no_pace() {
        assert_eq!(CreatePace::per_minute(0), None);
        assert_eq!(CreatePace::per_minute(60_001), None);
        assert_eq!(
            CreatePace::per_minute(60_000).map(|p| p.interval_ms()),
            Some(1)
        );
    }
}
