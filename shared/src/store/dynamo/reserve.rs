//! Opening a session: make sure the account exists, reserve minutes together with the pending
//! session in one transaction, then record the Tavus conversation.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Duration, Utc};

use super::errors::{
    ItemOutcome, TransactFailure, any_conflict, bad_request, unavailable, unexpected,
};
use super::rollover::RollAttempt;
use super::{DynamoLedger, Item, MAX_ATTEMPTS, backoff, from_item, key, n, s, to_item};
use crate::LedgerError;
use crate::domain::minutes::reservation_minutes;
use crate::domain::{
    Account, CreatePace, PaceState, Period, PlanId, Playback, Session, SessionId, SessionStatus,
    UserId,
};
use crate::store::items::{AccountItem, IdempotencyItem, ParticipationItem, SessionItem};
use crate::store::keys;
use crate::store::{Activation, ReservationRequest, Reserved};

/// How long an Idempotency-Key is remembered.
const IDEMPOTENCY_TTL: Duration = Duration::hours(24);

impl DynamoLedger {
    /// The user's account, created on the free plan if the user has none yet.
    pub async fn ensure_account(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Account, LedgerError> {
        let fresh = Account::fresh(user.clone(), PlanId::Free, &self.plans, now);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&AccountItem::new(fresh.clone()))?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(fresh),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) => match e.item() {
                    Some(item) => Ok(from_item::<AccountItem>(item.clone())?.account),
                    None => Err(LedgerError::CorruptItem(
                        "account exists but was not returned".into(),
                    )),
                },
                _ => Err(unavailable(&err)),
            },
        }
    }
}

/// Indexes of the items in the reservation transaction.
const ACCOUNT_ITEM: usize = 0;
const SESSION_ITEM: usize = 1;

impl DynamoLedger {
    /// Reserves minutes and records the session as pending, atomically; idempotent by key.
    pub async fn reserve(&self, request: ReservationRequest) -> Result<Reserved, LedgerError> {
        // The request's month; the account's when the month turned while the request ran.
        let mut period = Period::containing(request.now);
        // What the account held the last time a condition failed on it; caps the next attempt.
        let mut seen: Option<Account> = None;
        // The first attempt assumes a user who created nothing in the last interval, by far the
        // common case; a user in a burst costs one more attempt, told by the account's answer.
        let mut pace = PaceState::Idle;
        for attempt in 0..MAX_ATTEMPTS {
            let minutes = minutes_to_reserve(&request, seen.as_ref())?;
            let session = pending_session(&request, period, minutes);
            let items = self.reservation_items(&request, &session, pace)?;
            let idempotency_item = request.idempotency.as_ref().map(|_| items.len() - 1);
            let outcomes = match self.transact(items).await {
                Ok(()) => return Ok(Reserved::New(session)),
                Err(TransactFailure::Cancelled(outcomes)) => outcomes,
                Err(TransactFailure::Conflict) => {
                    backoff(attempt).await;
                    continue;
                }
                Err(TransactFailure::Failed(e)) => return Err(e),
            };

            // A retry of a request that already went through is answered from the first attempt,
            // whatever else failed: DynamoDB reports every item's reason, in request order, and
            // the idempotency record is read before the account's (its cap or its minutes).
            if let Some(i) = idempotency_item
                && let Some(ItemOutcome::ConditionFailed(Some(item))) = outcomes.get(i)
            {
                return self.replay(&request, from_item(item.clone())?).await;
            }
            if let Some(ItemOutcome::ConditionFailed(stored)) = outcomes.get(ACCOUNT_ITEM) {
                (seen, pace) = self
                    .account_refused(&request, period, stored.as_ref(), attempt)
                    .await?;
                if let Some(account) = &seen {
                    period = account.period.max(period);
                }
                continue;
            }
            if any_conflict(&outcomes)
                || matches!(
                    outcomes.get(SESSION_ITEM),
                    Some(ItemOutcome::ConditionFailed(_))
                )
            {
                // A collision with another writer, or (practically never) with another session
                // id: the next attempt uses a new id.
                backoff(attempt).await;
                continue;
            }
            return Err(unexpected(&outcomes));
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The account's condition failed. Returns what the account holds, to cap the next attempt
    /// and give its period (`None` when it must be read again), with where the user stands on
    /// the pace of creates; or why no attempt can succeed.
    async fn account_refused(
        &self,
        request: &ReservationRequest,
        period: Period,
        stored: Option<&Item>,
        attempt: u32,
    ) -> Result<(Option<Account>, PaceState), LedgerError> {
        let Some(item) = stored else {
            let fresh = self.ensure_account(&request.owner, request.now).await?;
            return Ok((Some(fresh), PaceState::Idle));
        };
        if item.contains_key(keys::DELETING) {
            // The account is being deleted (`DELETE /me`): nothing new is started in it.
            return Err(LedgerError::AccountBeingDeleted);
        }
        let stored = from_item::<AccountItem>(item.clone())?;
        let pace = self.pace_state(stored.creates_paced_until, request.now);
        let account = stored.account;
        if account.period < period {
            // A stale period: roll the account over here, so a late or failed monthly reset
            // never blocks or over-grants anyone.
            if self.roll_over_from(&account, request.now).await? == RollAttempt::Raced {
                backoff(attempt).await;
            }
            self.refuse_when_too_fast(pace)?;
            return Ok((None, pace));
        }
        // A later period: the month turned while this request ran (its clock read the old
        // one), and the reset rolled the account already. The reservation belongs to the
        // account's month; the caller moves to it.
        self.refuse_when_full(&account)?;
        self.refuse_when_too_fast(pace)?;
        // Fewer minutes left than asked, or a burst: the next attempt reserves what is left,
        // moving the pace mark on from where it stands.
        Ok((Some(account), pace))
    }

    /// Where a user with this pace mark stands; idle for a ledger that does not pace creates.
    fn pace_state(&self, mark_ms: Option<i64>, now: DateTime<Utc>) -> PaceState {
        self.create_pace.map_or(PaceState::Idle, |p| {
            p.judge(mark_ms, now.timestamp_millis())
        })
    }

    /// No new session for a user creating faster than the pace allows.
    fn refuse_when_too_fast(&self, pace: PaceState) -> Result<(), LedgerError> {
        match (pace, self.create_pace) {
            (
                PaceState::Refused {
                    retry_after_seconds,
                },
                Some(p),
            ) => Err(LedgerError::RateLimited {
                retry_after_seconds,
                creates_per_minute: p.creates_per_minute(),
            }),
            _ => Ok(()),
        }
    }

    /// No new session for an account at its cap of open sessions or out of minutes.
    fn refuse_when_full(&self, account: &Account) -> Result<(), LedgerError> {
        // The cap first: ending an open session is what the user can do about it, and it also
        // gives back the minutes that session holds.
        if account.open_sessions >= i64::from(self.max_open_sessions) {
            return Err(LedgerError::TooManyOpenSessions {
                open_sessions: account.open_sessions,
                max_open_sessions: self.max_open_sessions,
            });
        }
        if account.available_minutes < 1 {
            return Err(exhausted(account));
        }
        Ok(())
    }
}

/// The minutes to ask for: what the request wants, capped by what the account held when last
/// seen.
fn minutes_to_reserve(
    request: &ReservationRequest,
    seen: Option<&Account>,
) -> Result<u32, LedgerError> {
    let available = seen.map_or(i64::MAX, |a| a.available_minutes);
    let minutes = reservation_minutes(request.requested_minutes, available);
    if minutes == 0
        && let Some(account) = seen
    {
        return Err(exhausted(account));
    }
    Ok(minutes)
}

/// The session a reservation of `minutes` records, pending until Tavus answers.
fn pending_session(request: &ReservationRequest, period: Period, minutes: u32) -> Session {
    Session {
        session_id: SessionId::new_at(request.now),
        owner_id: request.owner.clone(),
        session_type: request.session_type,
        participants: request.participants.clone(),
        status: SessionStatus::Pending,
        period,
        reserved_minutes: minutes,
        charged_minutes: None,
        conversation_id: None,
        conversation_url: None,
        meeting_token: None,
        created_at: request.now,
        ended_at: None,
        end_reason: None,
        playback: Playback {
            record: request.record,
            ..Playback::default()
        },
    }
}

fn exhausted(account: &Account) -> LedgerError {
    LedgerError::MinutesExhausted {
        remaining_minutes: account.available_minutes.max(0),
        plan: account.plan,
        resets_at: account.period.resets_at(),
    }
}

impl DynamoLedger {
    /// The items of one reservation: the account first, then the session, the participations,
    /// and last the idempotency record.
    fn reservation_items(
        &self,
        request: &ReservationRequest,
        session: &Session,
        pace: PaceState,
    ) -> Result<Vec<TransactWriteItem>, LedgerError> {
        let minutes = i64::from(session.reserved_minutes);
        let paced = self
            .create_pace
            .map(|p| PaceWrite::new(p, pace, request.now.timestamp_millis()));
        let (pace_set, pace_condition) =
            paced.as_ref().map_or((String::new(), String::new()), |w| {
                (format!(", {}", w.set), format!(" AND {}", w.condition))
            });
        let mut reserve = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(&request.owner), keys::ACCOUNT_SK)))
            // The place among the user's open sessions is taken in the same write as the
            // minutes, so no amount of concurrency opens more than the cap. An account written
            // before the cap existed has no counter: it starts from zero. The period's count of
            // sessions rides along (no round trip of its own); a replayed create fails the
            // idempotency record's condition, so the whole write, count included, is undone.
            // The pace mark rides along too: the same write, so nothing reserved past the pace.
            .update_expression(format!(
                "SET reserved_minutes = reserved_minutes + :m, available_minutes = available_minutes - :m, \
                 open_sessions = if_not_exists(open_sessions, :zero) + :one, \
                 sessions = if_not_exists(sessions, :zero) + :one, updated_at = :now{pace_set}"
            ))
            .condition_expression(format!(
                "period = :p AND available_minutes >= :m AND attribute_not_exists({deleting}) \
                 AND (attribute_not_exists(open_sessions) OR open_sessions < :cap){pace_condition}",
                deleting = keys::DELETING
            ))
            .expression_attribute_values(":m", n(minutes))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(i64::from(self.max_open_sessions)))
            .expression_attribute_values(":p", s(session.period.to_string()))
            .expression_attribute_values(":now", s(request.now.to_rfc3339()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in paced.into_iter().flat_map(|w| w.values) {
            reserve = reserve.expression_attribute_values(name, n(value));
        }
        let reserve = reserve.build().map_err(bad_request)?;
        let mut items = vec![
            TransactWriteItem::builder().update(reserve).build(),
            self.put_new(to_item(&SessionItem::new_open(session.clone()))?, false)?,
        ];
        for participant in &session.participants {
            items.push(self.put_new(
                to_item(&ParticipationItem::new(participant, session))?,
                false,
            )?);
        }
        if let Some(idempotency) = &request.idempotency {
            let record = IdempotencyItem {
                pk: keys::user_pk(&request.owner),
                sk: keys::idempotency_sk(&idempotency.key),
                session_id: session.session_id,
                fingerprint: idempotency.fingerprint.clone(),
                expires_at: (request.now + IDEMPOTENCY_TTL).timestamp(),
            };
            items.push(self.put_new(to_item(&record)?, true)?);
        }
        Ok(items)
    }

    /// A put that succeeds only if the item does not exist yet.
    fn put_new(
        &self,
        item: super::Item,
        return_old: bool,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        if return_old {
            put = put.return_values_on_condition_check_failure(
                ReturnValuesOnConditionCheckFailure::AllOld,
            );
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(bad_request)?)
            .build())
    }

    async fn replay(
        &self,
        request: &ReservationRequest,
        record: IdempotencyItem,
    ) -> Result<Reserved, LedgerError> {
        let Some(idempotency) = &request.idempotency else {
            return Err(LedgerError::IdempotencyConflict);
        };
        if record.fingerprint != idempotency.fingerprint {
            return Err(LedgerError::IdempotencyConflict);
        }
        let (session, _) = self.get_session(&request.owner, record.session_id).await?;
        Ok(Reserved::Replayed(session))
    }
}

impl DynamoLedger {
    /// Records the Tavus conversation of a pending session and marks it active. A session
    /// closed meanwhile (its owner ended it, the sweeper released it) is
    /// [`LedgerError::NoLongerPending`], with the session as it is.
    pub async fn activate(
        &self,
        pending: &Session,
        conversation: Activation<'_>,
    ) -> Result<Session, LedgerError> {
        let mut set = vec![
            "#status = :active",
            "conversation_id = :cid",
            // Open now for the whole reservation, no longer just the pending window.
            "open_until = :until",
        ];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(&pending.owner_id),
                keys::session_sk(pending.session_id),
            )))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(SessionStatus::Active.as_str()))
            .expression_attribute_values(":pending", s(SessionStatus::Pending.as_str()))
            .expression_attribute_values(":cid", s(conversation.conversation_id))
            .expression_attribute_values(
                ":until",
                s(keys::sortable_time(pending.reservation_ends_at())),
            );
        if let Some(url) = conversation.conversation_url {
            set.push("conversation_url = :url");
            update = update.expression_attribute_values(":url", s(url));
        }
        if let Some(token) = conversation.meeting_token {
            set.push("meeting_token = :token");
            update = update.expression_attribute_values(":token", s(token.expose()));
        }
        let result = update
            .update_expression(format!("SET {}", set.join(", ")))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.ok_or_else(|| {
                    LedgerError::CorruptItem("activated session was not returned".into())
                })?;
                Ok(from_item::<SessionItem>(item)?.session)
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => match e.item() {
                    None => Err(LedgerError::SessionNotFound),
                    Some(item) => {
                        let stored = from_item::<SessionItem>(item.clone())?.session;
                        let ours =
                            stored.conversation_id.as_deref() == Some(conversation.conversation_id);
                        match stored.status {
                            // This very write committed and its answer was lost: done.
                            SessionStatus::Active if ours => Ok(stored),
                            // Ended (or released) while the create ran: it stays closed.
                            SessionStatus::Ended | SessionStatus::Failed => {
                                Err(LedgerError::NoLongerPending(Box::new(stored)))
                            }
                            _ => Err(LedgerError::SessionMismatch(
                                "the session holds another conversation",
                            )),
                        }
                    }
                },
                _ => Err(unavailable(&err)),
            },
        }
    }
}

/// The part of the reservation's account update that moves the user's pace mark: set from now
/// for an idle user, one interval on for a user in a burst, each under the condition that makes
/// it the right one (a wrong guess fails and the account's answer tells the next attempt).
struct PaceWrite {
    set: &'static str,
    condition: &'static str,
    values: Vec<(&'static str, i64)>,
}

impl PaceWrite {
    fn new(pace: CreatePace, state: PaceState, now_ms: i64) -> PaceWrite {
        match state {
            PaceState::Busy => PaceWrite {
                set: "creates_paced_until = creates_paced_until + :pace_step",
                condition: "creates_paced_until > :now_ms AND creates_paced_until <= :pace_latest",
                values: vec![
                    (":pace_step", pace.interval_ms()),
                    (":now_ms", now_ms),
                    (":pace_latest", pace.latest_mark_allowed(now_ms)),
                ],
            },
            // A refused pace never reaches a write (the refusal is returned first); were it to,
            // the idle form's condition fails it.
            PaceState::Idle | PaceState::Refused { .. } => PaceWrite {
                set: "creates_paced_until = :pace_mark",
                condition: "(attribute_not_exists(creates_paced_until) OR creates_paced_until <= :now_ms)",
                values: vec![
                    (":pace_mark", pace.mark_from_idle(now_ms)),
                    (":now_ms", now_ms),
                ],
            },
        }
    }
}
