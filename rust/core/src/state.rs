//! Streaming codebook state for generation: fed whatever ids a model produced, it grows the
//! same codebook greedy encoding of the underlying base tokens would, and says what it created.

use crate::codebook::Codebook;
use crate::codec::resolve_raw;
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

impl<T> Default for NewEntries<T> {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            subtokens: Vec::new(),
        }
    }
}

/// Where an encoder stood before a step: what it had appended and recycled by then.
#[derive(Debug, Clone, Copy)]
struct Mark {
    len: usize,
    recycled: usize,
}

impl CodebookState {
    pub fn new(config: &CompressionConfig) -> Self {
        // The table starts empty and doubles as entries arrive: a batch of many states costs
        // nothing per row until the row grows (see `limits::MAX_BATCH_SIZE`).
        let mut encoder = Encoder::with_capacity(config, 0);
        encoder.record_recycled(true);
        Self {
            encoder,
            tokens: Vec::new(),
        }
    }

    /// A state resumed from its codebook and pending code (see [`Encoder::from_parts`]).
    pub fn from_parts(
        config: &CompressionConfig,
        codebook: Codebook,
        pending_code: Option<u32>,
    ) -> Result<Self> {
        let mut encoder = Encoder::from_parts(config, codebook, pending_code)?;
        encoder.record_recycled(true);
        Ok(Self {
            encoder,
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

    /// The id the next created hypertoken would get (see [`Encoder::next_id`]).
    pub fn next_id(&self) -> Option<u32> {
        self.encoder.next_id()
    }

    /// Feeds `ids` in order and returns the ids of the hypertokens they created: new slots, in
    /// creation order, and (once an evicting codebook is full) recycled slots, each listed once,
    /// where it was last assigned. On error nothing is fed: the state is exactly as before.
    pub fn update<I: TokenId>(&mut self, ids: &[I]) -> Result<Vec<u32>> {
        self.guarded(ids.len(), |state| state.update_unguarded(ids))
    }

    /// [`Self::update`] that also returns the created entries' base tokens (as they are after
    /// the update), padded with `fill` (refused, with no change, beyond [`MAX_RESULT_IDS`]
    /// cells).
    pub fn update_entries<I: TokenId, T: Copy + From<u32>>(
        &mut self,
        ids: &[I],
        fill: T,
    ) -> Result<NewEntries<T>> {
        self.guarded(ids.len(), |state| {
            let created = state.update_unguarded(ids)?;
            let mut entries = NewEntries::default();
            state.extend_entries(&created, fill, &mut entries)?;
            Ok(entries)
        })
    }

    /// Runs `update` (which feeds at most `ids` ids) all-or-nothing.
    fn guarded<R>(&mut self, ids: usize, update: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let checkpoint = self.checkpoint(ids);
        let result = update(self);
        match result {
            Ok(_) => self.commit(checkpoint),
            Err(_) => self.rollback(checkpoint),
        }
        result
    }

    /// [`Self::update`] that leaves the state part-fed on error (its caller rolls back).
    pub(crate) fn update_unguarded<I: TokenId>(&mut self, ids: &[I]) -> Result<Vec<u32>> {
        self.encoder.clear_recycled();
        let start = self.mark();
        self.feed(ids, |_| {})?;
        Ok(self.created_since(start, true))
    }

    fn mark(&self) -> Mark {
        Mark {
            len: self.codebook().len(),
            recycled: self.encoder.recycled().len(),
        }
    }

    /// The ids created since `mark`: appended slots, then recycled ones; with `distinct`, a
    /// slot assigned more than once is listed at its last assignment only.
    fn created_since(&self, mark: Mark, distinct: bool) -> Vec<u32> {
        let vocab = self.codebook().initial_vocab_size();
        let appended = (mark.len..self.codebook().len()).map(|k| vocab + k as u32);
        let recycled = &self.encoder.recycled()[mark.recycled..];
        let mut created: Vec<u32> = appended.chain(recycled.iter().copied()).collect();
        if distinct && !recycled.is_empty() {
            let mut seen = std::collections::HashSet::with_capacity(created.len());
            created.reverse();
            created.retain(|&id| seen.insert(id));
            created.reverse();
        }
        created
    }

    /// Appends the ids and dense base tokens of the entries `created` to `entries`.
    pub(crate) fn extend_entries<T: Copy + From<u32>>(
        &self,
        created: &[u32],
        fill: T,
        entries: &mut NewEntries<T>,
    ) -> Result<()> {
        self.codebook()
            .extend_rows_of(created, fill, &mut entries.subtokens)?;
        entries.ids.extend(created.iter().map(|&id| T::from(id)));
        Ok(())
    }

    /// Appends to `out` the base tokens of the hypertoken the next id ([`Self::next_id`]) would
    /// stand for if it were fed now (LZW's KwKwK case: the pending match plus its own first
    /// token) and returns true, or returns false when feeding that id now would be invalid.
    pub fn next_entry_into(&self, out: &mut Vec<u32>) -> bool {
        match self.encoder.next_entry() {
            Some(next) => {
                self.codebook().extend_subtokens(next.code, out);
                out.push(next.first);
                true
            }
            None => false,
        }
    }

    /// [`Self::update`] that also records, after each id, what it created and what a model
    /// predicting the following id may choose from (see [`StepTrace`]). The created ids are
    /// listed by step, as in the trace.
    pub fn update_traced<I: TokenId>(&mut self, ids: &[I]) -> Result<(Vec<u32>, StepTrace)> {
        self.guarded(ids.len(), |state| state.update_traced_unguarded(ids))
    }

    /// [`Self::update_traced`] that leaves the state part-fed on error.
    pub(crate) fn update_traced_unguarded<I: TokenId>(
        &mut self,
        ids: &[I],
    ) -> Result<(Vec<u32>, StepTrace)> {
        let mut trace = StepTrace::with_capacity(ids.len(), self.config().max_subtokens())?;
        self.encoder.clear_recycled();
        let mut mark = self.mark();
        let mut created = Vec::new();
        let mut recorded = Ok(());
        self.feed(ids, |state| {
            let step = state.created_since(mark, true);
            mark = state.mark();
            if recorded.is_ok() {
                recorded = trace.record(state, &step);
            }
            created.extend(step);
        })?;
        recorded?;
        Ok((created, trace))
    }

    /// Feeds every id, calling `after_each` after each; stops at the first invalid id, leaving
    /// what came before it fed. One call feeds at most [`MAX_RESULT_IDS`] base tokens (a short
    /// stream of long hypertokens can stand for many).
    fn feed<I: TokenId>(&mut self, ids: &[I], mut after_each: impl FnMut(&Self)) -> Result<()> {
        let mut fed = 0usize;
        for (position, &id) in ids.iter().enumerate() {
            self.tokens.clear();
            resolve_raw(&self.encoder, position, id, &mut self.tokens).and_then(|()| {
                fed += self.tokens.len();
                check(
                    || format!("the base ids of {} ids", ids.len()),
                    fed as u128,
                    MAX_RESULT_IDS,
                )
            })?;
            for &token in &self.tokens {
                self.encoder.push(token, |_| {});
            }
            after_each(self);
        }
        Ok(())
    }

    /// A checkpoint to undo a feed of at most `ids` ids.
    pub(crate) fn checkpoint(&mut self, ids: usize) -> Checkpoint {
        self.encoder
            .checkpoint(ids.saturating_mul(self.config().max_subtokens()))
    }

    pub(crate) fn rollback(&mut self, checkpoint: Checkpoint) {
        self.encoder.rollback(checkpoint);
    }

    pub(crate) fn commit(&mut self, checkpoint: Checkpoint) {
        self.encoder.commit(checkpoint);
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
    /// After each id, the id that next entry would take ([`CodebookState::next_id`]; 0 where
    /// `next_lens` is 0).
    pub next_ids: Vec<u32>,
    /// The ids each step created (appended or recycled), step `s` holding
    /// `created[created_offsets[s]..created_offsets[s + 1]]`, each once.
    pub created: Vec<u32>,
    pub created_offsets: Vec<usize>,
    /// The base tokens of those entries as they were right after their step, zero-padded rows
    /// of `max_subtokens`, and their lengths.
    pub created_subtokens: Vec<u32>,
    pub created_lens: Vec<usize>,
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
            next_ids: Vec::with_capacity(steps),
            created: Vec::new(),
            created_offsets: vec![0],
            created_subtokens: Vec::new(),
            created_lens: Vec::new(),
        })
    }

    /// Records the step just fed to `state`, which created `created`; refused beyond
    /// [`MAX_RESULT_IDS`] cells of created entries.
    fn record(&mut self, state: &CodebookState, created: &[u32]) -> Result<()> {
        let width = state.config().max_subtokens();
        self.sizes.push(state.codebook().len() as u32);
        let start = self.next_entries.len();
        let valid = state.next_entry_into(&mut self.next_entries);
        let len = self.next_entries.len() - start;
        self.next_lens.push(len);
        self.next_entries.resize(start + width, 0);
        self.next_ids.push(if valid {
            state.next_id().unwrap_or(0)
        } else {
            0
        });
        let codebook = state.codebook();
        codebook.extend_rows_of(created, 0, &mut self.created_subtokens)?;
        self.created_lens
            .extend(created.iter().map(|&id| codebook.code_len(id)));
        self.created.extend_from_slice(created);
        self.created_offsets.push(self.created.len());
        Ok(())
    }

    /// The ids step `step` created.
    pub fn created_at(&self, step: usize) -> &[u32] {
        &self.created[self.created_offsets[step]..self.created_offsets[step + 1]]
    }

    /// The base tokens of the `index`-th created entry, as they were right after its step.
    pub fn created_entry(&self, index: usize, max_subtokens: usize) -> &[u32] {
        let start = index * max_subtokens;
        &self.created_subtokens[start..start + self.created_lens[index]]
    }

    /// The entry recorded after step `step` (empty when the next hypertoken id was invalid).
    pub fn next_entry(&self, step: usize, max_subtokens: usize) -> &[u32] {
        let start = step * max_subtokens;
        &self.next_entries[start..start + self.next_lens[step]]
    }
}
