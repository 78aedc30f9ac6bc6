//! TEMPORARY shim until the store branch lands (replaced by the real module).
use std::collections::BTreeMap;

use super::Period;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    Charged,
    NobodyJoined,
    TestMode,
    EndedBySweeper,
    Released,
    Orphan,
}

impl Cause {
    pub const ALL: [Cause; 6] = [
        Cause::Charged,
        Cause::NobodyJoined,
        Cause::TestMode,
        Cause::EndedBySweeper,
        Cause::Released,
        Cause::Orphan,
    ];
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CauseFigures {
    pub conversations: i64,
    pub ran_minutes: i64,
    pub charged_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub period: Period,
    pub by_cause: BTreeMap<Cause, CauseFigures>,
}
