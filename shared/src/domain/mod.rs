//! Pure domain rules: no I/O, unit-tested without any service.

pub(crate) mod account;
pub mod cost;
pub(crate) mod history;
pub(crate) mod ids;
pub(crate) mod minutes;
pub(crate) mod notes;
pub(crate) mod pace;
pub(crate) mod period;
pub(crate) mod plan;
pub(crate) mod playback;
pub(crate) mod session;
pub(crate) mod transcript;

pub use account::{Account, Usage};
pub use cost::{Cause, CauseFigures, Tally};
pub use history::PeriodUsage;
pub use ids::{SessionId, UserId};
pub use notes::{Notes, Precondition};
pub use pace::{CreatePace, DEFAULT_CREATES_PER_MINUTE, MAX_CREATES_PER_MINUTE, PaceState};
pub use period::Period;
pub use plan::{Plan, PlanCatalog, PlanId};
pub use playback::{MAX_RECORDINGS_PER_SESSION, Playback, RecordingFile, RecordingStatus};
pub use session::{EndReason, MeetingToken, Role, Session, SessionStatus, SessionType};
pub use transcript::{Transcript, Turn};
