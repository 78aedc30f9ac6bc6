//! What the system does, whoever asks: creating a session, settling it, erasing it, acting on
//! Tavus's callbacks, issuing playback links, the sweep and the monthly reset. The HTTP
//! handlers ([`crate::api`]) and the scheduled jobs ([`crate::jobs`]) call these alike; below
//! them are the ledger ([`crate::store`]), Tavus's client ([`crate::tavus`]), the recordings
//! bucket ([`crate::recording_bucket`]) and the secret ([`crate::secrets`]). Nothing here
//! knows HTTP: input arrives parsed, and errors leave as [`ServiceError`].
//!
//! | module | does |
//! |---|---|
//! | [`create`] | `POST /sessions`: reserve, create the conversation, activate (or release) |
//! | [`settle`] | every close of a session (the write that moves a user's minutes), and the owner's end |
//! | [`callbacks`] | every Tavus callback: verify its token, read it, dispatch by event |
//! | [`tavus_copy`] | deleting Tavus's copy of a settled conversation |
//! | [`playback`] | recordings: announced by callbacks, played through short-lived links |
//! | [`erase`] | erasing a session everywhere it is kept, and finishing erasures left waiting |
//! | [`sweep`] | the sweeper: overdue sessions, Tavus's copies, orphaned conversations |
//! | [`reset`] | the monthly reset of every account |
//! | [`callback_token`] | the signed token in a callback URL |
//! | [`audit`] | what the ledger, Tavus and the bucket hold, compared (read-only) |
//! | [`export`] | `GET /me/export`: everything kept about a user, as they may see it |
//! | [`account_deletion`] | `DELETE /me`: a user's account and everything kept about them, deleted |

pub mod account_deletion;
pub mod audit;
pub mod callback_token;
pub mod callbacks;
pub mod create;
pub mod erase;
mod error;
pub mod export;
pub mod playback;
pub mod reset;
pub mod settle;
pub mod sweep;
mod tavus_copy;

pub use error::ServiceError;
