//! The billing period: a calendar month in UTC, written `YYYY-MM`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A calendar month in UTC. Orders chronologically, and its text form (`2026-11`) sorts the same
/// way, which is what lets the stale-period index find accounts with `period < :current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a period of the form YYYY-MM")]
pub struct BadPeriod(pub String);

impl Period {
    pub fn new(year: i32, month: u32) -> Option<Period> {
        ((1..=12).contains(&month) && (1970..=9999).contains(&year))
            .then_some(Period { year, month })
    }

    /// The period that contains this instant.
    pub fn containing(instant: DateTime<Utc>) -> Period {
        Period {
            year: instant.year(),
            month: instant.month(),
        }
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Midnight UTC on the first day of the month.
    pub fn starts_at(self) -> DateTime<Utc> {
        let date = NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN);
        Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
    }

    /// When the budget of this period is replaced by the next one's.
    pub fn resets_at(self) -> DateTime<Utc> {
        self.next().starts_at()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = BadPeriod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPeriod(s.to_owned());
        let (year, month) = s.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year = year.parse().map_err(|_| bad())?;
        let month = month.parse().map_err(|_| bad())?;
        Period::new(year, month).ok_or_else(bad)
    }
}

impl TryFrom<String> for Period {
    type Error = BadPeriod;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_period_is_the_utc_calendar_month() {
        assert_eq!(
            Period::containing(at("2026-11-30T23:59:59.999Z")).to_string(),
            "2026-11"
        );
        assert_eq!(
            Period::containing(at("2026-12-01T00:00:00Z")).to_string(),
            "2026-12"
        );
        // 23:30 on the 30th in UTC-5 is already December in UTC.
        assert_eq!(
            Period::containing(at("2026-11-30T23:30:00-05:00")).to_string(),
            "2026-12"
        );
    }

    #[test]
    fn resets_at_is_midnight_utc_on_the_first_of_next_month() {
        let nov: Period = "2026-11".parse().unwrap();
        assert_eq!(nov.resets_at(), at("2026-12-01T00:00:00Z"));
        let dec: Period = "2026-12".parse().unwrap();
        assert_eq!(dec.resets_at(), at("2027-01-01T00:00:00Z"));
        assert_eq!(dec.starts_at(), at("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn text_order_matches_time_order() {
        let a: Period = "2026-09".parse().unwrap();
        let b: Period = "2026-10".parse().unwrap();
        let c: Period = "2027-01".parse().unwrap();
        assert!(a < b && b < c);
        assert!(a.to_string() < b.to_string() && b.to_string() < c.to_string());
    }

    #[test]
    fn malformed_periods_are_rejected() {
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "",
            "2026-11-01",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad} should be rejected");
        }
    }
}
