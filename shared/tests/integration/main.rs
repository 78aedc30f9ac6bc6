//! Integration tests of the core against real parts: DynamoDB Local for the ledger, moto's server
//! for Secrets Manager, wiremock and the Tavus simulator over real HTTP. One binary for all of
//! them, so they share one build; each test has its own table, secret and servers. Without the
//! services (`DYNAMODB_ENDPOINT`, `MOTO_ENDPOINT` unset) the binary says so in one line and runs
//! nothing: `make test` starts them.

mod account;
mod audit;
mod audit_store;
mod concurrency;
mod erasure;
mod history;
mod lifecycle;
mod open_sessions;
mod pace;
mod recording;
mod released;
mod reset;
mod rollover;
mod secrets;
mod simulator;
mod support;
mod sweeper;
mod table;
mod tavus_client;
