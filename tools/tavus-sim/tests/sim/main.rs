//! The simulator over HTTP, as the backend and its tests meet it.

mod calls;
mod faults;
mod rooms;
mod support;
mod transcripts;
