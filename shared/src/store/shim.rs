//! TEMPORARY shim until the store branch lands (replaced by the real code).
#![allow(dead_code, unused_variables)]
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::dynamo::Item;
use super::{DynamoLedger, PeriodHistory};
use crate::LedgerError;
use crate::domain::cost::Tally;
use crate::domain::{Account, Period, Session, SessionId, SessionStatus, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedSession {
    pub session_id: SessionId,
    pub period: Period,
    pub status: SessionStatus,
    pub reserved_minutes: u32,
    pub charged_minutes: u32,
    pub erased_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct Books {
    pub account: Option<Account>,
    pub history: Vec<PeriodHistory>,
    pub sessions: Vec<Session>,
    pub erased: Vec<ErasedSession>,
}

#[derive(Debug, Clone)]
pub struct RecordingReference {
    pub owner: UserId,
    pub session_id: SessionId,
}

#[derive(Debug, Clone)]
pub struct AccountPage {
    pub users: Vec<UserId>,
    pub next: Option<Item>,
}

impl DynamoLedger {
    pub async fn books(&self, user: &UserId) -> Result<Books, LedgerError> {
        Err(LedgerError::Unavailable("shim".into()))
    }
    pub async fn accounts_in_shard(
        &self,
        shard: u32,
        start: Option<Item>,
    ) -> Result<AccountPage, LedgerError> {
        Err(LedgerError::Unavailable("shim".into()))
    }
    pub async fn recording_references(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, RecordingReference>, LedgerError> {
        Err(LedgerError::Unavailable("shim".into()))
    }
    pub async fn tally(&self, period: Period) -> Result<Tally, LedgerError> {
        Err(LedgerError::Unavailable("shim".into()))
    }
    pub async fn record_orphan_end(
        &self,
        owner: &UserId,
        created_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        Err(LedgerError::Unavailable("shim".into()))
    }
}
