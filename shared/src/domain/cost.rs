//! What Tavus ran against what we charged, by cause: every conversation Tavus ran costs the
//! operator, and each cause says why its minutes were, or were not, charged to a user. The
//! ledger keeps one [`Tally`] per period (pure values and rules; the store adds them up).

use std::collections::BTreeMap;

use super::{EndReason, Period, SessionStatus};

/// Why a conversation Tavus ran was charged what it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// Settled: charged what it used (capped by the rules of `domain::minutes`).
    Charged,
    /// Tavus ended it because nobody joined (`participant_absent_timeout`).
    NobodyJoined,
    /// Tavus's test mode: created already ended, nothing ran and nothing is charged.
    TestMode,
    /// The sweeper settled it: its callback never came.
    EndedBySweeper,
    /// Released (nothing charged) although Tavus had created its conversation.
    Released,
    /// A conversation of ours that no session held, ended by the sweeper: nobody is charged.
    Orphan,
}

impl Cause {
    /// Every cause, in order.
    pub const ALL: [Cause; 6] = [
        Cause::Charged,
        Cause::NobodyJoined,
        Cause::TestMode,
        Cause::EndedBySweeper,
        Cause::Released,
        Cause::Orphan,
    ];

    /// The name in the table's attributes, metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Charged => "charged",
            Cause::NobodyJoined => "nobody_joined",
            Cause::TestMode => "test_mode",
            Cause::EndedBySweeper => "ended_by_sweeper",
            Cause::Released => "released",
            Cause::Orphan => "orphan",
        }
    }
}

/// The figures of one cause in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CauseFigures {
    pub conversations: i64,
    /// Minutes Tavus ran, from our creation time, rounded up as Tavus bills
    /// (`domain::minutes::charged_minutes`, uncapped).
    pub ran_minutes: i64,
    pub charged_minutes: i64,
}

impl CauseFigures {
    /// The minutes Tavus ran that no user was charged.
    pub fn uncharged_minutes(&self) -> i64 {
        self.ran_minutes - self.charged_minutes
    }

    /// Both figures together (shards of a tally adding up).
    pub fn add(&mut self, other: CauseFigures) {
        self.conversations += other.conversations;
        self.ran_minutes += other.ran_minutes;
        self.charged_minutes += other.charged_minutes;
    }
}

/// The minutes of one period by cause; a cause nothing was counted for is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub period: Period,
    pub by_cause: BTreeMap<Cause, CauseFigures>,
}

impl Tally {
    /// The figures of `cause` (all zero when nothing was counted for it).
    pub fn figures(&self, cause: Cause) -> CauseFigures {
        self.by_cause.get(&cause).copied().unwrap_or_default()
    }

    /// The minutes Tavus ran for `cause` that no user was charged.
    pub fn uncharged_minutes(&self, cause: Cause) -> i64 {
        self.figures(cause).uncharged_minutes()
    }
}

/// The cause a close is counted under, or `None` when nothing ran at Tavus (a release before
/// Tavus created a conversation). A settle is counted whatever it charged; the checks go from
/// the most particular: test mode, the sweeper, then nobody joining.
pub(crate) fn closing_cause(
    status: SessionStatus,
    reason: EndReason,
    nobody_joined: bool,
    conversation_created: bool,
) -> Option<Cause> {
    if status != SessionStatus::Ended {
        return conversation_created.then_some(Cause::Released);
    }
    Some(match reason {
        EndReason::TestMode => Cause::TestMode,
        EndReason::Swept => Cause::EndedBySweeper,
        _ if nobody_joined => Cause::NobodyJoined,
        _ => Cause::Charged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_named_in_snake_case_once_each() {
        let names: Vec<&str> = Cause::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "charged",
                "nobody_joined",
                "test_mode",
                "ended_by_sweeper",
                "released",
                "orphan"
            ]
        );
    }

    #[test]
    fn each_close_is_counted_under_its_cause() {
        use EndReason::*;
        use SessionStatus::*;
        assert_eq!(
            closing_cause(Ended, UserEnded, false, true),
            Some(Cause::Charged)
        );
        assert_eq!(
            closing_cause(Ended, ParticipantLeft, true, true),
            Some(Cause::NobodyJoined)
        );
        assert_eq!(
            closing_cause(Ended, Swept, true, true),
            Some(Cause::EndedBySweeper),
            "the sweeper's end wins over Tavus's reason"
        );
        assert_eq!(
            closing_cause(Ended, TestMode, false, true),
            Some(Cause::TestMode)
        );
        assert_eq!(
            closing_cause(Failed, TavusFailed, false, true),
            Some(Cause::Released)
        );
        assert_eq!(
            closing_cause(Failed, Abandoned, false, false),
            None,
            "nothing ran at Tavus"
        );
    }

    #[test]
    fn uncharged_minutes_are_what_ran_less_what_was_charged() {
        let mut tally = Tally {
            period: Period::new(2026, 11).unwrap(),
            by_cause: BTreeMap::new(),
        };
        assert_eq!(tally.uncharged_minutes(Cause::Orphan), 0);
        let mut figures = CauseFigures {
            conversations: 1,
            ran_minutes: 7,
            charged_minutes: 5,
        };
        figures.add(CauseFigures {
            conversations: 1,
            ran_minutes: 3,
            charged_minutes: 3,
        });
        tally.by_cause.insert(Cause::Charged, figures);
        assert_eq!(tally.figures(Cause::Charged).conversations, 2);
        assert_eq!(tally.uncharged_minutes(Cause::Charged), 2);
    }
}
