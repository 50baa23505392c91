use std::fmt;

/// Why an id was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidTokenReason {
    /// The id is below zero.
    Negative,
    /// The id is not below `limit` (the base vocabulary for base-id inputs, `V + C` otherwise).
    OutOfRange { limit: u64 },
    /// A hypertoken that the codebook has not created yet; `next` is the id it would create next.
    NotYetCreated { next: u64 },
}

impl fmt::Display for InvalidTokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Negative => write!(f, "ids must be non-negative"),
            Self::OutOfRange { limit } => write!(f, "ids must be below {limit}"),
            Self::NotYetCreated { next } => write!(
                f,
                "hypertoken does not exist at this point (the next hypertoken to be created is {next})"
            ),
        }
    }
}

/// Every way the codec can refuse its input. Each variant is its own Python exception class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Codec parameters that do not make a valid [`crate::CompressionConfig`].
    #[error("invalid compression config: {0}")]
    InvalidConfig(String),
    /// An id that is negative, out of range, or not valid where it stands.
    #[error("invalid token id {id} at position {position}: {reason}")]
    InvalidToken {
        position: usize,
        id: i64,
        reason: InvalidTokenReason,
    },
    /// An argument of the wrong shape or value (a row count, a mask, a window size, ...).
    #[error("invalid {name}: {message}")]
    InvalidArgument { name: &'static str, message: String },
    /// Codebook entries (or a saved state) that greedy encoding could not have built.
    #[error("invalid codebook: {0}")]
    InvalidCodebook(String),
    /// A size over one of the documented limits in [`crate::limits`], refused before
    /// allocating.
    #[error("{what} would be {requested}, over the limit of {limit}")]
    LimitExceeded {
        what: String,
        requested: u128,
        limit: u128,
    },
    /// A `tokenizer.json` that uses something the text encoder does not reproduce exactly;
    /// every such feature is listed (use the Hugging Face tokenizer for it instead).
    #[error("tokenizer.json is not supported exactly: {}", .0.join("; "))]
    UnsupportedTokenizer(Vec<String>),
    /// A `tokenizer.json` that is not valid: bad JSON, a missing field, a merge whose tokens are
    /// not in the vocabulary.
    #[error("invalid tokenizer.json: {0}")]
    InvalidTokenizer(String),
    /// An error in row `row` of a batch.
    #[error("row {row}: {source}")]
    InRow {
        row: usize,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The error with any row wrappers removed.
    pub fn root(&self) -> &Error {
        match self {
            Self::InRow { source, .. } => source.root(),
            other => other,
        }
    }

    /// Tags the error with the batch row it came from.
    pub fn in_row(self, row: usize) -> Self {
        Self::InRow {
            row,
            source: Box::new(self),
        }
    }

    pub(crate) fn argument(name: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            name,
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
