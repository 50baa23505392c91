//! Streaming codebook states for generation: fed whatever ids a model produced, they grow the
//! same codebook greedy encoding of the underlying base tokens would, and say what they created.

use std::ops::Range;

use crate::codebook::Codebook;
use crate::codec::{resolve, resolve_raw};
use crate::config::CompressionConfig;
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use crate::parallel::map_rows_mut;
use crate::token_id::TokenId;

/// One sequence's codebook, grown one id (base or hypertoken) at a time.
#[derive(Debug, Clone)]
pub struct CodebookState {
    encoder: Encoder,
    tokens: Vec<u32>,
}

impl CodebookState {
    pub fn new(config: &CompressionConfig) -> Self {
        Self {
            encoder: Encoder::new(config),
            tokens: Vec::with_capacity(config.max_subtokens()),
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
            tokens: Vec::with_capacity(config.max_subtokens()),
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
        let checkpoint = self.encoder.checkpoint();
        let first_new = self.encoder.codebook().next_id();
        for (position, &id) in ids.iter().enumerate() {
            self.tokens.clear();
            if let Err(error) = resolve_raw(&self.encoder, position, id, &mut self.tokens) {
                self.encoder.rollback(checkpoint);
                return Err(error);
            }
            for &token in &self.tokens {
                self.encoder.push(token, |_| {});
            }
        }
        Ok(first_new..self.encoder.codebook().next_id())
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
        let checkpoint = self.encoder.checkpoint();
        let first_new = self.encoder.codebook().next_id();
        let mut trace = StepTrace::with_capacity(ids.len(), self.config().max_subtokens());
        for (position, &id) in ids.iter().enumerate() {
            self.tokens.clear();
            if let Err(error) = resolve_raw(&self.encoder, position, id, &mut self.tokens) {
                self.encoder.rollback(checkpoint);
                return Err(error);
            }
            for &token in &self.tokens {
                self.encoder.push(token, |_| {});
            }
            trace.record(self);
        }
        Ok((first_new..self.encoder.codebook().next_id(), trace))
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
    fn with_capacity(steps: usize, max_subtokens: usize) -> Self {
        Self {
            sizes: Vec::with_capacity(steps),
            next_entries: Vec::with_capacity(steps * max_subtokens),
            next_lens: Vec::with_capacity(steps),
        }
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
}

/// One [`CodebookState`] per batch row, updated together (in parallel for large updates).
#[derive(Debug, Clone)]
pub struct BatchCodebookState {
    rows: Vec<CodebookState>,
}

impl BatchCodebookState {
    pub fn new(config: &CompressionConfig, batch_size: usize) -> Self {
        Self {
            rows: vec![CodebookState::new(config); batch_size],
        }
    }

    /// A batch made of existing per-row states.
    pub fn from_states(rows: Vec<CodebookState>) -> Self {
        Self { rows }
    }

    pub fn batch_size(&self) -> usize {
        self.rows.len()
    }

    pub fn rows(&self) -> &[CodebookState] {
        &self.rows
    }

    pub fn row(&self, index: usize) -> Option<&CodebookState> {
        self.rows.get(index)
    }

    /// Feeds `ids[r]` to row `r` for every row and returns each row's created hypertoken ids.
    /// All-or-nothing: when any row rejects its ids, no row changes.
    pub fn update<I: TokenId, S: AsRef<[I]> + Sync>(
        &mut self,
        ids: &[S],
    ) -> Result<Vec<Range<u32>>> {
        self.update_rows(ids, |state, row_ids| state.update(row_ids))
    }

    /// [`Self::update`] with a [`StepTrace`] per row (see [`CodebookState::update_traced`]).
    pub fn update_traced<I: TokenId, S: AsRef<[I]> + Sync>(
        &mut self,
        ids: &[S],
    ) -> Result<Vec<(Range<u32>, StepTrace)>> {
        self.update_rows(ids, |state, row_ids| state.update_traced(row_ids))
    }

    fn update_rows<I, S, R, F>(&mut self, ids: &[S], update: F) -> Result<Vec<R>>
    where
        I: TokenId,
        S: AsRef<[I]> + Sync,
        R: Send,
        F: Fn(&mut CodebookState, &[I]) -> Result<R> + Sync,
    {
        if ids.len() != self.rows.len() {
            return Err(Error::InvalidConfig(format!(
                "expected ids for {} rows, got {}",
                self.rows.len(),
                ids.len()
            )));
        }
        let checkpoints: Vec<_> = self.rows.iter().map(|r| r.encoder.checkpoint()).collect();
        let work: usize = ids.iter().map(|row| row.as_ref().len()).sum();
        let results = map_rows_mut(&mut self.rows, ids, work, |state, row_ids| {
            update(state, row_ids.as_ref())
        });
        if results.is_err() {
            for (state, checkpoint) in self.rows.iter_mut().zip(checkpoints) {
                state.encoder.rollback(checkpoint);
            }
        }
        results
    }

    pub fn reset(&mut self) {
        self.rows.iter_mut().for_each(CodebookState::reset);
    }
}
