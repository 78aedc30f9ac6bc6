//! The subscription plans and their monthly minute budgets.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A plan's stable identifier, as clients, the billing system and the table spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanId {
    Free,
    ReflectPlus,
    ResolveTogether,
}

impl PlanId {
    pub const ALL: [PlanId; 3] = [PlanId::Free, PlanId::ReflectPlus, PlanId::ResolveTogether];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanId::Free => "free",
            PlanId::ReflectPlus => "reflect_plus",
            PlanId::ResolveTogether => "resolve_together",
        }
    }

    fn display_name(self) -> &'static str {
        match self {
            PlanId::Free => "Free",
            PlanId::ReflectPlus => "Reflect+",
            PlanId::ResolveTogether => "Resolve Together",
        }
    }

    fn default_monthly_minutes(self) -> u32 {
        match self {
            PlanId::Free => 25,
            PlanId::ReflectPlus => 100,
            PlanId::ResolveTogether => 500,
        }
    }
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan `{0}` (expected free, reflect_plus or resolve_together)")]
pub struct UnknownPlan(pub String);

impl FromStr for PlanId {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PlanId::ALL
            .into_iter()
            .find(|plan| plan.as_str() == s)
            .ok_or_else(|| UnknownPlan(s.to_owned()))
    }
}

/// One plan as it is sold this month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: PlanId,
    pub name: &'static str,
    pub monthly_minutes: u32,
}

/// The plans and their limits. The defaults are the published ones; an operator can override a
/// limit with configuration (see [`PlanCatalog::from_overrides`]) without a new build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCatalog {
    minutes: HashMap<PlanId, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanOverrideError {
    #[error("plan override `{0}` is not of the form plan=minutes")]
    Malformed(String),
    #[error(transparent)]
    UnknownPlan(#[from] UnknownPlan),
    #[error("plan override `{0}`: minutes must be a whole number from 0 to 100000")]
    BadMinutes(String),
}

impl Default for PlanCatalog {
    fn default() -> Self {
        let minutes = PlanId::ALL
            .into_iter()
            .map(|id| (id, id.default_monthly_minutes()))
            .collect();
        PlanCatalog { minutes }
    }
}

impl PlanCatalog {
    /// The defaults with some limits replaced, from text such as `free=30,reflect_plus=120`.
    /// Blank text means no override.
    pub fn from_overrides(text: &str) -> Result<Self, PlanOverrideError> {
        let mut catalog = PlanCatalog::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (plan, minutes) = entry
                .split_once('=')
                .ok_or_else(|| PlanOverrideError::Malformed(entry.to_owned()))?;
            let plan: PlanId = plan.trim().parse()?;
            let minutes: u32 = minutes
                .trim()
                .parse()
                .ok()
                .filter(|m| *m <= 100_000)
                .ok_or_else(|| PlanOverrideError::BadMinutes(entry.to_owned()))?;
            catalog.minutes.insert(plan, minutes);
        }
        Ok(catalog)
    }

    pub fn plan(&self, id: PlanId) -> Plan {
        Plan {
            id,
            name: id.display_name(),
            monthly_minutes: self.monthly_minutes(id),
        }
    }

    pub fn monthly_minutes(&self, id: PlanId) -> u32 {
        self.minutes
            .get(&id)
            .copied()
            .unwrap_or_else(|| id.default_monthly_minutes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_published_limits() {
        let catalog = PlanCatalog::default();
        assert_eq!(catalog.monthly_minutes(PlanId::Free), 25);
        assert_eq!(catalog.monthly_minutes(PlanId::ReflectPlus), 100);
        assert_eq!(catalog.monthly_minutes(PlanId::ResolveTogether), 500);
        assert_eq!(catalog.plan(PlanId::ReflectPlus).name, "Reflect+");
    }

    #[test]
    fn overrides_replace_only_the_named_plans() {
        let catalog = PlanCatalog::from_overrides(" free=30 , resolve_together=600").unwrap();
        assert_eq!(catalog.monthly_minutes(PlanId::Free), 30);
        assert_eq!(catalog.monthly_minutes(PlanId::ReflectPlus), 100);
        assert_eq!(catalog.monthly_minutes(PlanId::ResolveTogether), 600);
        assert_eq!(
            PlanCatalog::from_overrides("").unwrap(),
            PlanCatalog::default()
        );
    }

    #[test]
    fn bad_overrides_are_rejected_with_the_entry() {
        assert_eq!(
            PlanCatalog::from_overrides("free"),
            Err(PlanOverrideError::Malformed("free".into()))
        );
        assert_eq!(
            PlanCatalog::from_overrides("gold=5"),
            Err(PlanOverrideError::UnknownPlan(UnknownPlan("gold".into())))
        );
        assert_eq!(
            PlanCatalog::from_overrides("free=-1"),
            Err(PlanOverrideError::BadMinutes("free=-1".into()))
        );
    }

    #[test]
    fn plan_ids_round_trip_through_text_and_json() {
        for id in PlanId::ALL {
            assert_eq!(id.as_str().parse::<PlanId>().unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{}\"", id.as_str()));
        }
        assert!("Free".parse::<PlanId>().is_err());
    }
}
