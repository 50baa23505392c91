use crate::child_table::Vacant;
use crate::codebook::{wide_room, Codebook};
use crate::config::{CompressionConfig, Eviction};
use crate::error::{Error, Result};
use crate::lru_codec::LruCodec;

/// The most edges a pooled encoder's table starts with room for (a 512 KiB table); larger
/// codebooks widen theirs when they fill.
const POOLED_ROOM_LIMIT: usize = 16_384;

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
    /// The ids of recycled slots, in order, while a caller wants them (see [`Self::recycled`]).
    recycled: Option<Vec<u32>>,
    /// The lean codec for whole sequences whose codebook nobody keeps, once one was run.
    lean: Option<Box<LruCodec>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) code: u32,
    pub(crate) len: usize,
}

/// Enough of an encoder's state to undo everything fed since: the entry count and pending
/// match, and whether the codebook keeps a journal of its changes (when the feed may recycle
/// slots, which truncation does not undo).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checkpoint {
    entries: usize,
    pending: Option<Pending>,
    journaled: bool,
}

/// The hypertoken LZW's KwKwK case may use right now: `id`, standing for the pending match
/// `code` followed by that match's own first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextEntry {
    pub(crate) id: u32,
    pub(crate) code: u32,
    pub(crate) first: u32,
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
            recycled: None,
            lean: None,
        }
    }

    /// An encoder kept for reuse: its table starts with the room a full codebook gets (up to
    /// [`POOLED_ROOM_LIMIT`] edges), so that no sequence pays for widening it and short ones
    /// probe a sparse table (`bench_codec.py` section (a)'s 1,024-token windows, which never
    /// fill: 171-173 Mtok/s against 155-157).
    pub(crate) fn pooled(config: &CompressionConfig) -> Self {
        let mut encoder = Self::new(config);
        let entries = config.max_codebook_size() as usize;
        encoder
            .codebook
            .make_room(wide_room(entries).min(POOLED_ROOM_LIMIT));
        encoder
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
            || codebook.eviction() != config.eviction()
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
            recycled: None,
            lean: None,
        })
    }

    pub fn config(&self) -> &CompressionConfig {
        &self.config
    }

    /// The lean codec for a sequence of `ids` ids under this config, where it applies (see
    /// [`LruCodec::fits`]) and the sequence is long enough to fill the codebook: one that is
    /// not runs the general loop, exactly as fast as without eviction.
    pub(crate) fn lean(&mut self, ids: usize) -> Option<&mut LruCodec> {
        if !LruCodec::applies(&self.config, ids) {
            return None;
        }
        if self.lean.is_none() {
            self.lean = Some(Box::new(LruCodec::new(&self.config)));
        }
        self.lean.as_deref_mut()
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

    /// The id the next created hypertoken would get if the next base token created one: `V +
    /// len` while the codebook has room; once an evicting codebook is full, the slot of the
    /// entry the pending match would evict (none without a pending match).
    pub fn next_id(&self) -> Option<u32> {
        if !self.codebook.is_full() {
            return Some(self.codebook.next_id());
        }
        self.codebook.victim(self.pending?.code)
    }

    /// The hypertoken LZW's KwKwK case makes valid now: the next id, when feeding the pending
    /// match's first token really creates it (a match is pending, the codebook has room or a
    /// slot to recycle, and that entry does not exist yet).
    pub(crate) fn next_entry(&self) -> Option<NextEntry> {
        let pending = self.pending?;
        let first = self.codebook.first_token(pending.code);
        if self.codebook.child(pending.code, first).is_some() {
            return None;
        }
        let id = self.next_id()?;
        Some(NextEntry {
            id,
            code: pending.code,
            first,
        })
    }

    /// Starts (or stops) listing the slots this encoder recycles, for callers that report
    /// what each update changed.
    pub(crate) fn record_recycled(&mut self, on: bool) {
        self.recycled = on.then(Vec::new);
    }

    /// The recycled slots' ids, in order, since recording started (empty when it did not).
    pub(crate) fn recycled(&self) -> &[u32] {
        self.recycled.as_deref().unwrap_or(&[])
    }

    /// Forgets the recycled slots listed so far.
    pub(crate) fn clear_recycled(&mut self) {
        if let Some(recycled) = &mut self.recycled {
            recycled.clear();
        }
    }

    /// An emitted match counts as a use of the entry and every prefix of it (no-op for a
    /// codebook that does not recycle: one branch).
    #[inline]
    fn used(&mut self, code: u32) {
        if self.codebook.recycles() {
            self.codebook.touch(code);
        }
    }

    /// Feeds one base token (the caller guarantees `token < V`).
    #[inline]
    pub fn push(&mut self, token: u32, mut emit: impl FnMut(u32)) {
        if self.config.is_disabled(token) {
            if let Some(pending) = self.pending.take() {
                self.used(pending.code);
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
                    } else if self.codebook.recycles() {
                        self.recycle(pending.code, token, vacant);
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
            self.used(next.code);
            emit(next.code);
            self.pending = None;
        } else {
            self.pending = Some(next);
        }
    }

    /// Feeds the base tokens of `code`, a hypertoken of a codebook this encoder built from
    /// nothing, in one step where that is what feeding them one at a time does: the pending
    /// match does not extend into them, and `code` is not the slot about to be recycled (the
    /// KwKwK case may give that id another meaning). Then the first token ends the pending
    /// match, and the rest walk `code`'s own prefixes, all of them entries: a recycled slot is
    /// a leaf other than `code`, so never one of them. Returns false, having changed nothing,
    /// where the caller must feed the tokens one at a time.
    #[inline]
    pub(crate) fn push_entry(&mut self, code: u32) -> bool {
        let len = self.codebook.code_len(code);
        if let Some(pending) = self.pending {
            let first = self.codebook.first_token(code);
            let Err(vacant) = self.codebook.find_child(pending.code, first) else {
                return false;
            };
            if !self.codebook.is_full() {
                self.codebook.insert_at(pending.code, first, vacant);
            } else if self.codebook.recycles() {
                let victim = self.codebook.victim(pending.code);
                if victim == Some(code) {
                    return false;
                }
                self.codebook.replace(victim, pending.code, first, vacant);
                if let (Some(id), Some(recycled)) = (victim, &mut self.recycled) {
                    recycled.push(id);
                }
            }
        }
        if len == self.config.max_subtokens() {
            self.used(code);
            self.pending = None;
        } else {
            self.pending = Some(Pending { code, len });
        }
        true
    }

    /// The emission of `pending` before `token` in a full evicting codebook (the slow path:
    /// it also marks `pending` used).
    #[cold]
    fn recycle(&mut self, pending: u32, token: u32, vacant: Vacant) {
        if let Some(id) = self.codebook.recycle(pending, token, vacant) {
            if let Some(recycled) = &mut self.recycled {
                recycled.push(id);
            }
        }
    }

    /// Emits the pending match, if any; the codebook is unchanged (not even the use order,
    /// so that decoding, which never knows the input ended, builds the same codebook).
    pub fn finish(&mut self, mut emit: impl FnMut(u32)) {
        if let Some(pending) = self.pending.take() {
            emit(pending.code);
        }
    }

    /// Forgets everything fed so far.
    pub fn reset(&mut self) {
        self.codebook.truncate(0);
        self.pending = None;
        self.clear_recycled();
    }

    /// A checkpoint to [`Self::rollback`] to after feeding at most `max_tokens` base tokens,
    /// or to [`Self::commit`] once the feed succeeded. Each token creates at most one entry, so
    /// a feed that can not fill the codebook keeps append-only changes that truncation undoes;
    /// otherwise an evicting codebook records what it changes until the commit or rollback.
    pub(crate) fn checkpoint(&mut self, max_tokens: usize) -> Checkpoint {
        let may_recycle = self.config.eviction() != Eviction::None
            && self.codebook.len().saturating_add(max_tokens)
                >= self.config.max_codebook_size() as usize;
        if may_recycle {
            self.codebook.start_journal();
        }
        Checkpoint {
            entries: self.codebook.len(),
            pending: self.pending,
            journaled: may_recycle,
        }
    }

    /// Undoes everything fed since `checkpoint`.
    pub(crate) fn rollback(&mut self, checkpoint: Checkpoint) {
        if checkpoint.journaled {
            self.codebook.undo();
        } else {
            self.codebook.truncate(checkpoint.entries);
        }
        self.pending = checkpoint.pending;
        self.clear_recycled();
    }

    /// Keeps everything fed since `checkpoint`.
    pub(crate) fn commit(&mut self, checkpoint: Checkpoint) {
        if checkpoint.journaled {
            self.codebook.drop_journal();
        }
    }
}
