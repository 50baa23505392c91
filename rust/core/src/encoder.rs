use crate::codebook::Codebook;
use crate::config::CompressionConfig;
use crate::error::{Error, Result};

/// The greedy LZW encoder as a streaming state: base tokens go in one at a time, finished
/// codes come out through a callback, and the codebook grows as `docs/codec.md` specifies.
///
/// The pending match is held as its code (a base id or a hypertoken), so extending it by one
/// token is a single table probe.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: CompressionConfig,
    codebook: Codebook,
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) code: u32,
    pub(crate) len: usize,
}

/// Enough of an encoder's state to undo everything fed since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checkpoint {
    entries: usize,
    pending: Option<Pending>,
}

impl Encoder {
    pub fn new(config: &CompressionConfig) -> Self {
        Self::with_capacity(config, config.max_codebook_size() as usize)
    }

    /// An encoder whose table starts sized for `expected_entries` hypertokens (it grows if
    /// more arrive).
    pub(crate) fn with_capacity(config: &CompressionConfig, expected_entries: usize) -> Self {
        Self {
            config: config.clone(),
            codebook: Codebook::with_capacity(config, expected_entries),
            pending: None,
        }
    }

    /// An encoder resumed from a codebook built under `config` and the code of its pending
    /// match (as [`Self::pending_code`] reported it).
    pub fn from_parts(
        config: &CompressionConfig,
        mut codebook: Codebook,
        pending_code: Option<u32>,
    ) -> Result<Self> {
        codebook.reindex();
        let invalid = |why: String| Err(Error::InvalidCodebook(why));
        if codebook.initial_vocab_size() != config.initial_vocab_size()
            || codebook.max_codebook_size() != config.max_codebook_size()
            || codebook.max_subtokens() != config.max_subtokens()
        {
            return invalid("the codebook was built under a different config".into());
        }
        let pending = match pending_code {
            None => None,
            Some(code) if !codebook.contains(code) => {
                return invalid(format!("pending code {code} is not in the codebook"))
            }
            Some(code) => {
                let len = codebook.code_len(code);
                if len >= config.max_subtokens() || (len == 1 && config.is_disabled(code)) {
                    return invalid(format!("pending code {code} can not be pending"));
                }
                Some(Pending { code, len })
            }
        };
        Ok(Self {
            config: config.clone(),
            codebook,
            pending,
        })
    }

    pub fn config(&self) -> &CompressionConfig {
        &self.config
    }

    pub fn codebook(&self) -> &Codebook {
        &self.codebook
    }

    pub fn into_codebook(self) -> Codebook {
        self.codebook
    }

    /// The code of the base tokens fed since the last emission, if any.
    pub fn pending_code(&self) -> Option<u32> {
        self.pending.map(|pending| pending.code)
    }

    pub(crate) fn pending(&self) -> Option<Pending> {
        self.pending
    }

    /// Feeds one base token (the caller guarantees `token < V`).
    #[inline]
    pub fn push(&mut self, token: u32, mut emit: impl FnMut(u32)) {
        if self.config.is_disabled(token) {
            if let Some(pending) = self.pending.take() {
                emit(pending.code);
            }
            emit(token);
            return;
        }
        let next = match self.pending {
            None => Pending {
                code: token,
                len: 1,
            },
            Some(pending) => match self.codebook.find_child(pending.code, token) {
                Ok(code) => Pending {
                    code,
                    len: pending.len + 1,
                },
                Err(vacant) => {
                    if !self.codebook.is_full() {
                        self.codebook.insert_at(pending.code, token, vacant);
                    }
                    emit(pending.code);
                    Pending {
                        code: token,
                        len: 1,
                    }
                }
            },
        };
        if next.len == self.config.max_subtokens() {
            emit(next.code);
            self.pending = None;
        } else {
            self.pending = Some(next);
        }
    }

    /// Emits the pending match, if any; the codebook is unchanged.
    pub fn finish(&mut self, mut emit: impl FnMut(u32)) {
        if let Some(pending) = self.pending.take() {
            emit(pending.code);
        }
    }

    /// Forgets everything fed so far.
    pub fn reset(&mut self) {
        self.codebook.truncate(0);
        self.pending = None;
    }

    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            entries: self.codebook.len(),
            pending: self.pending,
        }
    }

    pub(crate) fn rollback(&mut self, checkpoint: Checkpoint) {
        self.codebook.truncate(checkpoint.entries);
        self.pending = checkpoint.pending;
    }
}
