//! A user's minute account for the current period, and the usage view of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Period, PlanCatalog, PlanId, UserId};

/// The account as stored. `available_minutes` is always `limit - used - reserved`; it is kept so
/// that a single condition (`available_minutes >= :m`) can guard a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: UserId,
    pub plan: PlanId,
    pub period: Period,
    pub limit_minutes: i64,
    pub used_minutes: i64,
    pub reserved_minutes: i64,
    pub available_minutes: i64,
    /// Sessions the user owns that are pending or active. Each holds one of the Tavus account's
    /// concurrent conversations, so a reservation is also conditioned on this being below the
    /// cap. It belongs to no period: a rollover keeps it. Absent on accounts written before the
    /// cap existed, which counts as none.
    #[serde(default)]
    pub open_sessions: i64,
    /// Sessions created (minutes reserved) in this period, counted by the reservation's own
    /// write and archived with the period at rollover. Absent on accounts written before it was
    /// counted, which counts as none.
    #[serde(default)]
    pub sessions: i64,
    pub updated_at: DateTime<Utc>,
}

impl Account {
    /// A fresh account on a plan, at the start of the period containing `now`.
    pub fn fresh(
        user_id: UserId,
        plan: PlanId,
        catalog: &PlanCatalog,
        now: DateTime<Utc>,
    ) -> Account {
        let limit = i64::from(catalog.monthly_minutes(plan));
        Account {
            user_id,
            plan,
            period: Period::containing(now),
            limit_minutes: limit,
            used_minutes: 0,
            reserved_minutes: 0,
            available_minutes: limit,
            open_sessions: 0,
            sessions: 0,
            updated_at: now,
        }
    }

    /// What the account will look like once rolled into the period containing `now`: the same
    /// plan at its current limit, nothing used or reserved, no session created yet, the same
    /// sessions still open. Unchanged when already current.
    pub fn rolled_to(&self, catalog: &PlanCatalog, now: DateTime<Utc>) -> Account {
        let period = Period::containing(now);
        if self.period >= period {
            return self.clone();
        }
        let mut next = Account::fresh(self.user_id.clone(), self.plan, catalog, now);
        next.period = period;
        next.open_sessions = self.open_sessions;
        next
    }

    /// `available = limit - used - reserved`, the ledger's invariant.
    pub fn is_consistent(&self) -> bool {
        self.available_minutes == self.limit_minutes - self.used_minutes - self.reserved_minutes
    }

    /// The usage a client sees at `now`. An account still in an old period is shown as it will
    /// be after its (lazy or scheduled) rollover, so a late reset never shows stale numbers.
    pub fn usage_at(
        &self,
        catalog: &PlanCatalog,
        max_open_sessions: u32,
        now: DateTime<Utc>,
    ) -> Usage {
        let current = self.rolled_to(catalog, now);
        Usage {
            user_id: current.user_id,
            plan: current.plan,
            period: current.period,
            limit_minutes: current.limit_minutes,
            used_minutes: current.used_minutes,
            reserved_minutes: current.reserved_minutes,
            remaining_minutes: current.available_minutes.max(0),
            resets_at: current.period.resets_at(),
            open_sessions: current.open_sessions.max(0),
            max_open_sessions,
        }
    }
}

/// The usage of the current period, as `GET /usage` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub user_id: UserId,
    pub plan: PlanId,
    pub period: Period,
    pub limit_minutes: i64,
    pub used_minutes: i64,
    pub reserved_minutes: i64,
    pub remaining_minutes: i64,
    pub resets_at: DateTime<Utc>,
    /// Sessions the user owns that are still pending or active.
    pub open_sessions: i64,
    /// The most the user may have open at once.
    pub max_open_sessions: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn user() -> UserId {
        UserId::parse("u1").unwrap()
    }

    #[test]
    fn a_fresh_account_has_the_whole_limit_available() {
        let a = Account::fresh(
            user(),
            PlanId::ReflectPlus,
            &PlanCatalog::default(),
            at("2026-11-24T10:00:00Z"),
        );
        assert_eq!(a.period.to_string(), "2026-11");
        assert_eq!((a.limit_minutes, a.available_minutes), (100, 100));
        assert!(a.is_consistent());
    }

    #[test]
    fn usage_of_a_stale_account_shows_the_new_period() {
        let catalog = PlanCatalog::default();
        let mut a = Account::fresh(user(), PlanId::Free, &catalog, at("2026-10-31T23:00:00Z"));
        a.used_minutes = 20;
        a.reserved_minutes = 5;
        a.available_minutes = 0;
        a.open_sessions = 1;
        let usage = a.usage_at(&catalog, 2, at("2026-11-02T08:00:00Z"));
        assert_eq!(usage.period.to_string(), "2026-11");
        assert_eq!(
            (
                usage.used_minutes,
                usage.reserved_minutes,
                usage.remaining_minutes
            ),
            (0, 0, 25)
        );
        assert_eq!(usage.resets_at, at("2026-12-01T00:00:00Z"));
        assert_eq!(
            (usage.open_sessions, usage.max_open_sessions),
            (1, 2),
            "a session open across the month boundary is still open"
        );
    }

    #[test]
    fn an_account_stored_before_the_cap_has_no_open_sessions() {
        let stored = serde_json::json!({
            "user_id": "u1", "plan": "free", "period": "2026-11", "limit_minutes": 25,
            "used_minutes": 0, "reserved_minutes": 0, "available_minutes": 25,
            "updated_at": "2026-11-02T08:00:00Z"
        });
        let account: Account = serde_json::from_value(stored).unwrap();
        assert_eq!((account.open_sessions, account.sessions), (0, 0));
    }

    #[test]
    fn an_overdrawn_account_shows_zero_remaining() {
        let catalog = PlanCatalog::default();
        let mut a = Account::fresh(user(), PlanId::Free, &catalog, at("2026-11-02T08:00:00Z"));
        a.used_minutes = 40;
        a.available_minutes = -15;
        let usage = a.usage_at(&catalog, 2, at("2026-11-03T08:00:00Z"));
        assert_eq!(usage.remaining_minutes, 0);
        assert_eq!(usage.used_minutes, 40);
    }
}
