//! Pure domain rules: no I/O, unit-tested without any service.

pub mod account;
pub mod history;
pub mod ids;
pub mod minutes;
pub mod notes;
pub mod period;
pub mod plan;
pub mod recording;
pub mod session;
pub mod transcript;

pub use account::{Account, Usage};
pub use history::PeriodUsage;
pub use ids::{SessionId, UserId};
pub use notes::{Notes, Precondition};
pub use period::Period;
pub use plan::{Plan, PlanCatalog, PlanId};
pub use recording::{Playback, RecordingFile, RecordingStatus};
pub use session::{EndReason, MeetingToken, Role, Session, SessionStatus, SessionType};
pub use transcript::{Transcript, Turn};
