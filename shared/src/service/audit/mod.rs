//! The audit: what the ledger, Tavus and the recordings bucket hold, compared. Read-only unless
//! asked to fix; each check reports how many things it looked at and what disagrees, by ids
//! only (user, session, conversation, object key): never a prompt, transcript or note.
//!
//! | module | does |
//! |---|---|
//! | [`run`] | a run: every check in turn, the minutes tally, the fixes when asked |
//! | [`options`] | what a run looks at (which accounts), and whether it mends |
//! | [`finding`] | what a check reports, and how long things may wait before they count |
//! | [`conversations`] | Tavus's conversations against the sessions that should hold them, and the ledger's active sessions against what Tavus says of them |
//! | `index` | the open-sessions index against the sweeper's schedule, and erasures against theirs |
//! | [`objects`] | the recordings bucket against the sessions' keys |
//! | [`accounts`] | accounts' and history items' figures against their sessions (a share of the accounts per run) |
//! | [`figures`] | that comparison itself, without I/O |
//! | `fix` | the mends that are safe to make (`--fix`) |
//! | [`report`] | the table `make audit` prints |
//!
//! Besides the checks, a run reads the period's minutes tally (what Tavus ran against what was
//! charged, by cause): figures for the operator, not findings.

pub mod accounts;
pub mod conversations;
pub mod figures;
pub mod finding;
mod fix;
mod index;
pub mod objects;
pub mod options;
pub mod report;
pub mod run;

pub use finding::{
    Check, CheckResult, DELETE_UNREFERENCED_AFTER, ENDED_AT_TAVUS_AFTER, Finding, SETTLING_TIME,
    STUCK_AFTER,
};
pub use fix::Fixed;
pub use index::{stuck_erasures, sweeper_behind};
pub use options::{AccountSample, AuditOptions};
pub use run::{Audit, AuditReport};
