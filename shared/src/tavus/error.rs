use crate::secrets::SecretError;

/// What went wrong talking to Tavus. No variant carries the API key or a request body.
#[derive(Debug, thiserror::Error)]
pub enum TavusError {
    /// Tavus refused because the account's concurrent-conversation limit is reached (it answers
    /// 400 with a message, not 429).
    #[error("Tavus is at its concurrent-conversation limit")]
    AtCapacity,
    /// 402: the Tavus account is out of conversational credits; every create fails until the
    /// operator buys more.
    #[error("Tavus is out of conversational credits (402)")]
    OutOfCredits,
    /// A 4xx other than the above: the request is wrong and retrying will not help. Its message
    /// (Tavus's `message` or `error`, at most 300 characters) decides whether the conversation
    /// is unknown; it is never printed (Tavus may quote what it was sent), only its length.
    #[error("Tavus refused the request ({status}; a message of {} characters)", message.chars().count())]
    Rejected { status: u16, message: String },
    /// 401 even after the key was fetched again from Secrets Manager.
    #[error("Tavus refused the API key, also after fetching it again")]
    Unauthorized,
    /// 429, 5xx or connection failures on every attempt.
    #[error("Tavus failed after {attempts} attempt(s): {last}")]
    Unavailable { attempts: u32, last: String },
    /// The deadline (the Lambda's remaining time, less a margin) ran out first.
    #[error("Tavus did not answer within the time left ({attempts} attempt(s); last: {last})")]
    DeadlineExceeded { attempts: u32, last: String },
    /// A success status with a body that is not what Tavus documents.
    #[error("Tavus answered with an unexpected body: {0}")]
    BadResponse(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The HTTP client could not be built (a bad TLS or proxy setup at start-up).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// A conversation id Tavus could not have issued: nothing was sent.
    #[error("not a Tavus conversation id")]
    MalformedId,
}

impl TavusError {
    /// Tavus does not have the conversation (its documented 400 `"Invalid conversation_id"`,
    /// for one it never had or has hard-deleted; or a 404): whatever was asked of it is moot.
    /// Any other refusal is not that, and is never taken as done.
    pub fn is_unknown_conversation(&self) -> bool {
        match self {
            TavusError::Rejected { status: 404, .. } => true,
            TavusError::Rejected {
                status: 400,
                message,
            } => message
                .to_ascii_lowercase()
                .contains("invalid conversation_id"),
            _ => false,
        }
    }
}
