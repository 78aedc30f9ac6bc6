//! Store tests against DynamoDB Local: the conditional writes, transactions and their failures
//! are what is tested, so no imitation of DynamoDB is used. One binary for all of them, so they
//! share one build; each test has its own table.

mod concurrency;
mod lifecycle;
mod rollover;
mod support;
mod table;
