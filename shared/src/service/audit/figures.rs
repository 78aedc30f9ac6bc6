//! An account's figures against its sessions, without I/O: what each figure should be, counted
//! from the sessions the user owns (and the records of those erased), and where it is not.
//!
//! Per period P, from the sessions charged to P:
//! - used minutes = the minutes charged to its ended sessions;
//! - reserved minutes = the minutes held by its open sessions;
//! - sessions = how many were created in it (ended, failed, open or erased).
//!
//! The account holds the current period's figures, a history item each closed period's (its
//! `open_reserved_minutes` being what the period's still-open sessions hold); the account's
//! open sessions are those open in any period, and its available minutes are always
//! `limit - used - reserved`.

use std::collections::BTreeMap;

use crate::domain::{Period, SessionStatus};
use crate::store::Books;

/// A figure the audit checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    UsedMinutes,
    ReservedMinutes,
    AvailableMinutes,
    OpenSessions,
    Sessions,
    /// A period with sessions and neither the account nor a history item for it.
    HistoryItem,
}

impl Figure {
    pub fn as_str(self) -> &'static str {
        match self {
            Figure::UsedMinutes => "used_minutes",
            Figure::ReservedMinutes => "reserved_minutes",
            Figure::AvailableMinutes => "available_minutes",
            Figure::OpenSessions => "open_sessions",
            Figure::Sessions => "sessions",
            Figure::HistoryItem => "history_item",
        }
    }
}

/// A figure that its sessions do not add up to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Disagreement {
    pub period: Period,
    pub figure: Figure,
    pub recorded: i64,
    pub from_sessions: i64,
}

/// What a period's sessions add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PeriodSums {
    charged: i64,
    reserved_open: i64,
    sessions: i64,
}

/// Every figure of the account and its history items that its sessions disagree with, in a
/// stable order (so two reads can be compared).
pub fn disagreements(books: &Books) -> Vec<Disagreement> {
    let mut sums = period_sums(books);
    let mut found = Vec::new();
    let mut compare = |period, figure, recorded: i64, from_sessions: i64| {
        if recorded != from_sessions {
            found.push(Disagreement {
                period,
                figure,
                recorded,
                from_sessions,
            });
        }
    };
    if let Some(account) = &books.account {
        let s = sums.remove(&account.period).unwrap_or_default();
        let period = account.period;
        compare(period, Figure::UsedMinutes, account.used_minutes, s.charged);
        compare(
            period,
            Figure::ReservedMinutes,
            account.reserved_minutes,
            s.reserved_open,
        );
        compare(period, Figure::Sessions, account.sessions, s.sessions);
        let open = books.sessions.iter().filter(|s| s.status.is_open()).count();
        compare(
            period,
            Figure::OpenSessions,
            account.open_sessions,
            i64::try_from(open).unwrap_or(i64::MAX),
        );
        compare(
            period,
            Figure::AvailableMinutes,
            account.available_minutes,
            account.limit_minutes - account.used_minutes - account.reserved_minutes,
        );
    }
    for history in &books.history {
        let s = sums.remove(&history.period).unwrap_or_default();
        let period = history.period;
        compare(period, Figure::UsedMinutes, history.used_minutes, s.charged);
        compare(
            period,
            Figure::ReservedMinutes,
            history.open_reserved_minutes,
            s.reserved_open,
        );
        compare(period, Figure::Sessions, history.sessions, s.sessions);
    }
    // Periods whose sessions nothing books.
    for (period, s) in sums {
        compare(period, Figure::HistoryItem, 0, s.sessions);
    }
    found.sort();
    found
}

fn period_sums(books: &Books) -> BTreeMap<Period, PeriodSums> {
    let mut sums: BTreeMap<Period, PeriodSums> = BTreeMap::new();
    for session in &books.sessions {
        let s = sums.entry(session.period).or_default();
        s.sessions += 1;
        match session.status {
            SessionStatus::Ended => s.charged += i64::from(session.charged_minutes.unwrap_or(0)),
            SessionStatus::Pending | SessionStatus::Active => {
                s.reserved_open += i64::from(session.reserved_minutes)
            }
            SessionStatus::Failed => {}
        }
    }
    for erased in &books.erased {
        let s = sums.entry(erased.period).or_default();
        s.sessions += 1;
        if erased.status == SessionStatus::Ended {
            s.charged += i64::from(erased.charged_minutes);
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::{
        Account, EndReason, PlanCatalog, PlanId, Playback, Session, SessionId, SessionType, UserId,
    };
    use crate::store::{ErasedSession, PeriodHistory};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn user() -> UserId {
        UserId::parse("audit-figures").unwrap()
    }

    fn session(period: &str, status: SessionStatus, reserved: u32, charged: u32) -> Session {
        let created = at(period);
        Session {
            session_id: SessionId::new_at(created),
            owner_id: user(),
            session_type: SessionType::ReflectAlone,
            participants: Vec::new(),
            status,
            period: Period::containing(created),
            reserved_minutes: reserved,
            charged_minutes: (status == SessionStatus::Ended).then_some(charged),
            conversation_id: None,
            conversation_url: None,
            meeting_token: None,
            created_at: created,
            ended_at: None,
            end_reason: (status == SessionStatus::Ended).then_some(EndReason::UserEnded),
            playback: Playback::default(),
        }
    }

    /// An account in December 2026 that agrees with: one call ended (7 of 10 minutes), one
    /// open (5 reserved), one failed, one erased (3 charged); November's history with one call.
    fn agreeing() -> Books {
        let now = at("2026-12-06T10:00:00Z");
        let mut account = Account::fresh(user(), PlanId::Free, &PlanCatalog::default(), now);
        account.used_minutes = 10;
        account.reserved_minutes = 5;
        account.available_minutes = account.limit_minutes - 15;
        account.sessions = 4;
        account.open_sessions = 1;
        let november = Period::containing(at("2026-11-20T10:00:00Z"));
        Books {
            account: Some(account),
            history: vec![PeriodHistory {
                user_id: user(),
                period: november,
                plan: PlanId::Free,
                limit_minutes: 25,
                used_minutes: 4,
                open_reserved_minutes: 0,
                late_settlements: 0,
                sessions: 1,
                closed_at: at("2026-12-01T00:00:00Z"),
            }],
            sessions: vec![
                session("2026-11-20T10:00:00Z", SessionStatus::Ended, 10, 4),
                session("2026-12-02T10:00:00Z", SessionStatus::Ended, 10, 7),
                session("2026-12-03T10:00:00Z", SessionStatus::Active, 5, 0),
                session("2026-12-04T10:00:00Z", SessionStatus::Failed, 5, 0),
            ],
            erased: vec![ErasedSession {
                session_id: SessionId::new_at(at("2026-12-01T10:00:00Z")),
                period: Period::containing(now),
                status: SessionStatus::Ended,
                reserved_minutes: 5,
                charged_minutes: 3,
                erased_at: now,
            }],
        }
    }

    #[test]
    fn books_that_add_up_have_no_disagreement() {
        assert_eq!(disagreements(&agreeing()), []);
    }

    #[test]
    fn each_figure_that_drifts_is_named_with_both_values() {
        let december = Period::containing(at("2026-12-06T10:00:00Z"));
        let november = Period::containing(at("2026-11-06T10:00:00Z"));
        let mut books = agreeing();
        let account = books.account.as_mut().unwrap();
        account.used_minutes += 2;
        account.open_sessions = 0;
        books.history[0].sessions = 3;
        let found = disagreements(&books);
        let named: Vec<_> = found
            .iter()
            .map(|d| (d.period, d.figure, d.recorded, d.from_sessions))
            .collect();
        assert_eq!(
            named,
            [
                (november, Figure::Sessions, 3, 1),
                (december, Figure::UsedMinutes, 12, 10),
                (december, Figure::AvailableMinutes, 10, 8),
                (december, Figure::OpenSessions, 0, 1),
            ]
        );
    }

    #[test]
    fn a_period_nothing_books_is_a_missing_history_item() {
        let mut books = agreeing();
        books.history.clear();
        let found = disagreements(&books);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].figure, Figure::HistoryItem);
        assert_eq!((found[0].recorded, found[0].from_sessions), (0, 1));
    }

    #[test]
    fn an_erased_session_still_counts_its_minutes() {
        let mut books = agreeing();
        books.erased.clear();
        let found = disagreements(&books);
        let figures: Vec<_> = found.iter().map(|d| d.figure).collect();
        assert_eq!(figures, [Figure::UsedMinutes, Figure::Sessions]);
    }
}
