//! Integration tests of the core against real parts: DynamoDB Local for the ledger, moto's server
//! for Secrets Manager, wiremock and the Tavus simulator over real HTTP. One binary for all of
//! them, so they share one build; each test has its own table, secret and servers.

mod concurrency;
mod erasure;
mod fuzz;
mod history;
mod jwks;
mod lifecycle;
mod open_sessions;
mod recording;
mod reset;
mod rollover;
mod secrets;
mod simulator;
mod support;
mod table;
mod tavus_client;
mod template;
