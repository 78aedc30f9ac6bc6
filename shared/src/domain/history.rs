//! Usage by period, newest first: the current period from the account, the closed ones from the
//! history items the rollover writes (`PERIOD#<yyyy-mm>`).

use chrono::{DateTime, Utc};

use super::{Account, Period, PlanCatalog, PlanId};

/// The default and the largest number of periods `GET /usage/history` returns: a year, two.
pub(crate) const DEFAULT_HISTORY_PERIODS: u32 = 12;
pub(crate) const MAX_HISTORY_PERIODS: u32 = 24;

/// One period's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodUsage {
    pub period: Period,
    pub plan: PlanId,
    pub limit_minutes: i64,
    /// Charged in that period, late settlements included.
    pub used_minutes: i64,
    /// Sessions created (minutes reserved) in that period, also those that failed at Tavus.
    pub sessions: i64,
}

impl PeriodUsage {
    fn of(account: &Account) -> PeriodUsage {
        PeriodUsage {
            period: account.period,
            plan: account.plan,
            limit_minutes: account.limit_minutes,
            used_minutes: account.used_minutes,
            sessions: account.sessions,
        }
    }
}

/// The newest `limit` periods at `now`: the current one first (also for a user with no account
/// yet, or one whose account has not rolled over: shown as it will be), then the account's own
/// period if it is an older one not rolled over yet, then the `archived` ones (newest first).
pub(crate) fn usage_history(
    account: Option<&Account>,
    archived: impl IntoIterator<Item = PeriodUsage>,
    catalog: &PlanCatalog,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<PeriodUsage> {
    let current = Period::containing(now);
    let mut periods = Vec::with_capacity(limit);
    match account {
        Some(account) => {
            periods.push(PeriodUsage::of(&account.rolled_to(catalog, now)));
            if account.period < current {
                periods.push(PeriodUsage::of(account));
            }
        }
        None => periods.push(PeriodUsage {
            period: current,
            plan: PlanId::Free,
            limit_minutes: i64::from(catalog.monthly_minutes(PlanId::Free)),
            used_minutes: 0,
            sessions: 0,
        }),
    }
    let mut older: Vec<PeriodUsage> = archived
        .into_iter()
        .filter(|p| periods.iter().all(|shown| p.period < shown.period))
        .collect();
    older.sort_by_key(|p| std::cmp::Reverse(p.period));
    older.dedup_by_key(|p| p.period);
    periods.extend(older);
    periods.truncate(limit);
    periods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn archived(period: &str, sessions: i64) -> PeriodUsage {
        PeriodUsage {
            period: period.parse().unwrap(),
            plan: PlanId::Free,
            limit_minutes: 25,
            used_minutes: 10,
            sessions,
        }
    }

    fn account(period_at: &str) -> Account {
        let mut a = Account::fresh(
            crate::domain::UserId::parse("u1").unwrap(),
            PlanId::ReflectPlus,
            &PlanCatalog::default(),
            at(period_at),
        );
        a.used_minutes = 7;
        a.sessions = 3;
        a
    }

    fn periods(list: &[PeriodUsage]) -> Vec<String> {
        list.iter().map(|p| p.period.to_string()).collect()
    }

    #[test]
    fn the_current_period_comes_first_then_the_archive_newest_first() {
        let catalog = PlanCatalog::default();
        let list = usage_history(
            Some(&account("2026-11-03T00:00:00Z")),
            vec![archived("2026-09", 1), archived("2026-10", 4)],
            &catalog,
            at("2026-11-24T10:00:00Z"),
            12,
        );
        assert_eq!(periods(&list), ["2026-11", "2026-10", "2026-09"]);
        assert_eq!((list[0].sessions, list[0].used_minutes), (3, 7));
        assert_eq!(list[1].sessions, 4);
    }

    #[test]
    fn an_account_not_rolled_over_yet_shows_its_period_as_closed() {
        let catalog = PlanCatalog::default();
        let list = usage_history(
            Some(&account("2026-10-03T00:00:00Z")),
            vec![archived("2026-09", 1)],
            &catalog,
            at("2026-11-24T10:00:00Z"),
            12,
        );
        assert_eq!(periods(&list), ["2026-11", "2026-10", "2026-09"]);
        assert_eq!(
            (
                list[0].sessions,
                list[0].used_minutes,
                list[0].limit_minutes
            ),
            (0, 0, 100),
            "the new period, as it will be"
        );
        assert_eq!((list[1].sessions, list[1].used_minutes), (3, 7));
    }

    #[test]
    fn a_user_without_an_account_has_the_current_free_period() {
        let catalog = PlanCatalog::default();
        let list = usage_history(None, vec![], &catalog, at("2026-11-24T10:00:00Z"), 12);
        assert_eq!(periods(&list), ["2026-11"]);
        assert_eq!(
            (list[0].plan, list[0].limit_minutes, list[0].sessions),
            (PlanId::Free, 25, 0)
        );
    }

    #[test]
    fn the_limit_is_kept() {
        let catalog = PlanCatalog::default();
        let archive: Vec<PeriodUsage> = (1..=9)
            .map(|m| archived(&format!("2026-0{m}"), m))
            .collect();
        let list = usage_history(
            Some(&account("2026-11-03T00:00:00Z")),
            archive,
            &catalog,
            at("2026-11-24T10:00:00Z"),
            3,
        );
        assert_eq!(periods(&list), ["2026-11", "2026-09", "2026-08"]);
    }
}
