//! End to end, through the local gateway, with the real function binaries under
//! `cargo lambda watch`, DynamoDB Local, moto and the Tavus simulator (all started by
//! `make test`); plus in-process checks of the functions' round trips.

mod account;
mod audit;
mod burst;
mod events;
mod faults;
mod flows;
mod logs;
mod notes;
mod open_sessions;
mod recordings;
mod round_trips;
mod scheduled;
mod settlement;
mod sweeper;
mod tavus_rules;
mod telemetry;
