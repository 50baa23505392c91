//! Streaming codebook state for generation: fed whatever ids a model produced, it grows the
//! same codebook greedy encoding of the underlying base tokens would, and says what it created.

use std::ops::Range;

use crate::codebook::Codebook;
use crate::codec::{resolve, resolve_raw};
use crate::config::CompressionConfig;
use crate::encoder::{Checkpoint, Encoder};
use crate::error::Result;
use crate::limits::{check, check_cells, MAX_RESULT_IDS};
use crate::token_id::TokenId;

/// One sequence's codebook, grown one id (base or hypertoken) at a time.
#[derive(Debug, Clone)]
pub struct CodebookState {
    encoder: Encoder,
    tokens: Vec<u32>,
}

/// The hypertokens an update created: their ids, and their base tokens as a dense row-major
/// `(ids.len(), max_subtokens)` matrix padded with a fill value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntries<T> {
    pub ids: Vec<T>,
    pub subtokens: Vec<T>,
}

impl CodebookState {
    pub fn new(config: &CompressionConfig) -> Self {
        // The table starts empty and doubles as entries arrive: a batch of many states costs
        // nothing per row until the row grows (see `limits::MAX_BATCH_SIZE`).
        Self {
            encoder: Encoder::with_capacity(config, 0),
            tokens: Vec::new(),
        }
    }

    /// A state resumed from its codebook and pending code (see [`Encoder::from_parts`]).
    pub fn from_parts(
        config: &CompressionConfig,
        codebook: Codebook,
        pending_code: Option<u32>,
    ) -> Result<Self> {
        Ok(Self {
            encoder: Encoder::from_parts(config, codebook, pending_code)?,
            tokens: Vec::new(),
        })
    }

    /// The code of the base tokens fed but not yet part of a finished match, if any.
    pub fn pending_code(&self) -> Option<u32> {
        self.encoder.pending_code()
    }

    pub fn config(&self) -> &CompressionConfig {
        self.encoder.config()
    }

    pub fn codebook(&self) -> &Codebook {
        self.encoder.codebook()
    }

    /// Feeds `ids` in order and returns the ids of the hypertokens they created (consecutive,
    /// possibly none). On error nothing is fed: the state is exactly as before the call.
    pub fn update<I: TokenId>(&mut self, ids: &[I]) -> Result<Range<u32>> {
        self.feed(ids, |_| {})
    }

    /// [`Self::update`] that also returns the created entries' base tokens, padded with `fill`
    /// (refused, with no change, beyond [`MAX_RESULT_IDS`] cells).
    pub fn update_entries<I: TokenId, T: Copy + From<u32>>(
        &mut self,
        ids: &[I],
        fill: T,
    ) -> Result<NewEntries<T>> {
        let checkpoint = self.encoder.checkpoint();
        let created = self.update(ids)?;
        let mut entries = NewEntries {
            ids: Vec::new(),
            subtokens: Vec::new(),
        };
        if let Err(error) = self.extend_entries(created, fill, &mut entries) {
            self.encoder.rollback(checkpoint);
            return Err(error);
        }
        Ok(entries)
    }

    /// Appends the ids and dense base tokens of the entries in `created` to `entries`.
    pub(crate) fn extend_entries<T: Copy + From<u32>>(
        &self,
        created: Range<u32>,
        fill: T,
        entries: &mut NewEntries<T>,
    ) -> Result<()> {
        let codebook = self.codebook();
        let from = (created.start - codebook.initial_vocab_size()) as usize;
        codebook.extend_dense_rows(from, fill, &mut entries.subtokens)?;
        entries.ids.extend(created.map(T::from));
        Ok(())
    }

    /// Appends to `out` the base tokens of the hypertoken the next id (`V + len`) would stand
    /// for if it were fed now (LZW's KwKwK case: the pending match plus its own first token) and
    /// returns true, or returns false when feeding that id now would be invalid.
    pub fn next_entry_into(&self, out: &mut Vec<u32>) -> bool {
        let start = out.len();
        let next = self.encoder.codebook().next_id();
        let valid = resolve(&self.encoder, next, out).is_ok();
        if !valid {
            out.truncate(start);
        }
        valid
    }

    /// [`Self::update`] that also records, after each id, what a model predicting the following
    /// id may choose from: the codebook size and the entry the next id would create.
    pub fn update_traced<I: TokenId>(&mut self, ids: &[I]) -> Result<(Range<u32>, StepTrace)> {
        let mut trace = StepTrace::with_capacity(ids.len(), self.config().max_subtokens())?;
        let created = self.feed(ids, |state| trace.record(state))?;
        Ok((created, trace))
    }

    /// Feeds every id, calling `after_each` after each; all-or-nothing. One call feeds at most
    /// [`MAX_RESULT_IDS`] base tokens (a short stream of long hypertokens can stand for many).
    fn feed<I: TokenId>(
        &mut self,
        ids: &[I],
        mut after_each: impl FnMut(&Self),
    ) -> Result<Range<u32>> {
        let checkpoint = self.encoder.checkpoint();
        let first_new = self.encoder.codebook().next_id();
        let mut fed = 0usize;
        for (position, &id) in ids.iter().enumerate() {
            self.tokens.clear();
            let resolved =
                resolve_raw(&self.encoder, position, id, &mut self.tokens).and_then(|()| {
                    fed += self.tokens.len();
                    check(
                        || format!("the base ids of {} ids", ids.len()),
                        fed as u128,
                        MAX_RESULT_IDS,
                    )
                });
            if let Err(error) = resolved {
                self.encoder.rollback(checkpoint);
                return Err(error);
            }
            for &token in &self.tokens {
                self.encoder.push(token, |_| {});
            }
            after_each(self);
        }
        Ok(first_new..self.encoder.codebook().next_id())
    }

    pub(crate) fn checkpoint(&self) -> Checkpoint {
        self.encoder.checkpoint()
    }

    pub(crate) fn rollback(&mut self, checkpoint: Checkpoint) {
        self.encoder.rollback(checkpoint);
    }

    /// Forgets every id fed so far.
    pub fn reset(&mut self) {
        self.encoder.reset();
    }
}

/// What [`CodebookState::update_traced`] saw after each id it fed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepTrace {
    /// Number of hypertokens in the codebook after each id.
    pub sizes: Vec<u32>,
    /// After each id, the base tokens of the entry the next hypertoken id would stand for
    /// (see [`CodebookState::next_entry_into`]), zero-padded to `max_subtokens`.
    pub next_entries: Vec<u32>,
    /// Length of each of those entries; 0 where the next hypertoken id is not valid.
    pub next_lens: Vec<usize>,
}

impl StepTrace {
    fn with_capacity(steps: usize, max_subtokens: usize) -> Result<Self> {
        check_cells(
            || format!("a step trace of {steps} ids × max_subtokens {max_subtokens}"),
            steps,
            max_subtokens,
        )?;
        Ok(Self {
            sizes: Vec::with_capacity(steps),
            next_entries: Vec::with_capacity(steps * max_subtokens),
            next_lens: Vec::with_capacity(steps),
        })
    }

    fn record(&mut self, state: &CodebookState) {
        let width = state.config().max_subtokens();
        self.sizes.push(state.codebook().len() as u32);
        let start = self.next_entries.len();
        state.next_entry_into(&mut self.next_entries);
        let len = self.next_entries.len() - start;
        self.next_lens.push(len);
        self.next_entries.resize(start + width, 0);
    }

    /// The entry recorded after step `step` (empty when the next hypertoken id was invalid).
    pub fn next_entry(&self, step: usize, max_subtokens: usize) -> &[u32] {
        let start = step * max_subtokens;
        &self.next_entries[start..start + self.next_lens[step]]
    }
}
