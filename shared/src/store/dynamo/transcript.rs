//! Transcripts. A long call's transcript can pass DynamoDB's 400 KB item limit, so it is stored
//! as JSON split into chunks of 300 KB (binary attributes, one item each) under the owner's
//! partition, `TRANSCRIPT#<session>#<n>`, plus a manifest `TRANSCRIPT#<session>` naming the
//! chunk count and size. Chunks and manifest are written in transactions of at most ten chunks
//! (3 MB, under the 4 MB limit), the manifest in the last one, so a reader sees a transcript
//! whole or not at all. A repeated callback writes the same items again. Each transaction also
//! checks that the session exists and is not being erased, so no transcript outlives its
//! session.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::errors::{ItemOutcome, TransactFailure, bad_request};
use super::{DynamoLedger, Item, key, n, s};
use crate::LedgerError;
use crate::domain::{SessionId, Transcript, UserId};
use crate::store::keys;

const CHUNK_BYTES: usize = 300_000;
const CHUNKS_PER_TRANSACTION: usize = 10;
/// Larger than any payload Lambda accepts (6 MB), so never reached by a real callback.
pub(super) const MAX_TRANSCRIPT_BYTES: usize = 8_000_000;

fn manifest_sk(session: SessionId) -> String {
    keys::transcript_sk(session)
}

fn chunk_sk(session: SessionId, index: usize) -> String {
    format!("TRANSCRIPT#{session}#{index:04}")
}

impl DynamoLedger {
    fn put(&self, item: Item) -> Result<TransactWriteItem, LedgerError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(bad_request)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

impl DynamoLedger {
    /// Stores a session's transcript under its owner; storing it again replaces it.
    pub async fn store_transcript(
        &self,
        owner: &UserId,
        session: SessionId,
        transcript: &Transcript,
    ) -> Result<(), LedgerError> {
        let bytes = transcript_json(transcript)?;
        let items = self.chunks_and_manifest(owner, session, &bytes)?;
        let session_check = self.session_exists_check(owner, session)?;
        for group in transactions_of(&items, &session_check) {
            self.write_transcript_transaction(group).await?;
        }
        let chunks = bytes.chunks(CHUNK_BYTES).len();
        tracing::info!(session_id = %session, bytes = bytes.len(), chunks, "transcript stored");
        Ok(())
    }

    /// The puts of the transcript's chunks, in order, and last of its manifest.
    fn chunks_and_manifest(
        &self,
        owner: &UserId,
        session: SessionId,
        bytes: &[u8],
    ) -> Result<Vec<TransactWriteItem>, LedgerError> {
        let chunks: Vec<&[u8]> = bytes.chunks(CHUNK_BYTES).collect();
        let mut items = Vec::with_capacity(chunks.len() + 1);
        for (i, chunk) in chunks.iter().enumerate() {
            let mut item = key(keys::user_pk(owner), chunk_sk(session, i));
            item.insert("data".into(), AttributeValue::B(Blob::new(chunk.to_vec())));
            items.push(self.put(item)?);
        }
        let mut manifest = key(keys::user_pk(owner), manifest_sk(session));
        manifest.insert("chunks".into(), n(chunks.len() as i64));
        manifest.insert("bytes".into(), n(bytes.len() as i64));
        manifest.insert("session_id".into(), s(session.to_string()));
        items.push(self.put(manifest)?);
        Ok(items)
    }

    /// Writes one transaction of the transcript, trying again while it collides.
    async fn write_transcript_transaction(
        &self,
        group: Vec<TransactWriteItem>,
    ) -> Result<(), LedgerError> {
        for attempt in 0..super::MAX_ATTEMPTS {
            let failure = match self.transact(group.clone()).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            match failure {
                // The session check comes first: the session is gone or being erased.
                TransactFailure::Cancelled(outcomes)
                    if matches!(outcomes.first(), Some(ItemOutcome::ConditionFailed(_))) =>
                {
                    return Err(LedgerError::SessionNotFound);
                }
                TransactFailure::Conflict | TransactFailure::Cancelled(_)
                    if attempt + 1 < super::MAX_ATTEMPTS =>
                {
                    // Only a concurrent duplicate of this same callback can collide.
                    super::backoff(attempt).await;
                }
                TransactFailure::Failed(e) => return Err(e),
                _ => {
                    return Err(LedgerError::Contention {
                        attempts: super::MAX_ATTEMPTS,
                    });
                }
            }
        }
        // Reached only if no attempt at all were allowed: the last attempt returns above.
        Ok(())
    }
}

/// The transcript as the JSON that is stored, refused when larger than any callback carries.
fn transcript_json(transcript: &Transcript) -> Result<Vec<u8>, LedgerError> {
    let bytes =
        serde_json::to_vec(transcript).map_err(|e| LedgerError::CorruptItem(e.to_string()))?;
    if bytes.len() > MAX_TRANSCRIPT_BYTES {
        return Err(LedgerError::SessionMismatch(
            "the transcript is larger than any callback can carry",
        ));
    }
    Ok(bytes)
}

/// The items split into transactions of at most [`CHUNKS_PER_TRANSACTION`], each led by the
/// check that the session exists and is not being erased.
fn transactions_of(
    items: &[TransactWriteItem],
    session_check: &TransactWriteItem,
) -> Vec<Vec<TransactWriteItem>> {
    items
        .chunks(CHUNKS_PER_TRANSACTION)
        .map(|chunks| {
            let mut group = Vec::with_capacity(chunks.len() + 1);
            group.push(session_check.clone());
            group.extend_from_slice(chunks);
            group
        })
        .collect()
}

impl DynamoLedger {
    /// The transcript, once it has arrived whole.
    pub async fn read_transcript(
        &self,
        owner: &UserId,
        session: SessionId,
    ) -> Result<Option<Transcript>, LedgerError> {
        let items = self
            .items_with_prefix(&keys::user_pk(owner), &manifest_sk(session), None)
            .await?;
        // The manifest sorts first; without it the transcript has not (fully) arrived.
        let Some(manifest) = items
            .first()
            .filter(|m| m.get(keys::SK) == Some(&s(manifest_sk(session))))
        else {
            return Ok(None);
        };
        let number = |field: &str| match manifest.get(field) {
            Some(AttributeValue::N(v)) => v.parse::<usize>().ok(),
            _ => None,
        };
        let (Some(chunks), Some(size)) = (number("chunks"), number("bytes")) else {
            return Err(LedgerError::CorruptItem(
                "transcript manifest without chunks or bytes".into(),
            ));
        };
        let mut bytes = Vec::with_capacity(size);
        for item in items.iter().skip(1) {
            match item.get("data") {
                Some(AttributeValue::B(blob)) => bytes.extend_from_slice(blob.as_ref()),
                _ => {
                    return Err(LedgerError::CorruptItem(
                        "transcript chunk without data".into(),
                    ));
                }
            }
        }
        if items.len() - 1 != chunks || bytes.len() != size {
            // A newer copy is being written over an older one; its manifest comes last.
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LedgerError::CorruptItem(format!("transcript: {e}")))
    }
}
