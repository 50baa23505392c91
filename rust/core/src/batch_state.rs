//! One [`CodebookState`] per batch row, updated together, with the results a model needs laid
//! out per row and column: which entries each update created, and, for a rectangular batch,
//! what the model may choose from after each column. An attention mask skips padding.

use crate::config::CompressionConfig;
use crate::error::{Error, Result};
use crate::limits::{check, check_cells, MAX_BATCH_SIZE};
use crate::parallel::map_rows_mut;
use crate::state::{CodebookState, NewEntries, StepTrace};
use crate::token_id::TokenId;

/// A row-major `rows × columns` attention mask: column `c` of row `r` is fed when
/// `values[r * columns + c]` is non-zero, and skipped (left padding, say) when it is zero.
#[derive(Debug, Clone, Copy)]
pub struct Mask<'a> {
    values: &'a [i64],
    rows: usize,
    columns: usize,
}

impl<'a> Mask<'a> {
    pub fn new(values: &'a [i64], rows: usize, columns: usize) -> Result<Self> {
        if rows.checked_mul(columns) != Some(values.len()) {
            return Err(Error::argument(
                "attention_mask",
                format!(
                    "{} values do not make {rows} rows of {columns}",
                    values.len()
                ),
            ));
        }
        Ok(Self {
            values,
            rows,
            columns,
        })
    }

    fn row(&self, row: usize) -> &'a [i64] {
        &self.values[row * self.columns..(row + 1) * self.columns]
    }

    /// Each row's unmasked ids and the columns they came from; the mask must fit `ids`.
    fn select<I: Copy, S: AsRef<[I]>>(&self, ids: &[S]) -> Result<Selected<I>> {
        if self.rows != ids.len() {
            return Err(Error::argument(
                "attention_mask",
                format!("it has {} rows, ids have {}", self.rows, ids.len()),
            ));
        }
        let mut kept = Vec::with_capacity(ids.len());
        let mut columns = Vec::with_capacity(ids.len());
        for (index, row) in ids.iter().enumerate() {
            let row = row.as_ref();
            if row.len() != self.columns {
                return Err(Error::argument(
                    "attention_mask",
                    format!(
                        "row {index}: it has {} columns, ids have {}",
                        self.columns,
                        row.len()
                    ),
                ));
            }
            let (row_ids, row_columns) = row
                .iter()
                .zip(self.row(index))
                .enumerate()
                .filter(|(_, (_, &keep))| keep != 0)
                .map(|(column, (&id, _))| (id, column))
                .unzip();
            kept.push(row_ids);
            columns.push(row_columns);
        }
        Ok((kept, columns))
    }
}

/// Each row's unmasked ids, and the columns they came from.
type Selected<I> = (Vec<Vec<I>>, Vec<Vec<usize>>);

/// The hypertokens a batch update created, flattened in row order: entry `i` was created in row
/// `rows[i]`, has id `ids[i]`, and base tokens `subtokens[i * M..(i + 1) * M]` (padded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchNewEntries<T> {
    pub rows: Vec<T>,
    pub ids: Vec<T>,
    pub subtokens: Vec<T>,
}

/// What a model predicting the id after each column may choose from, for a `rows × columns`
/// batch: `sizes[r * columns + c]` is the number of hypertokens row `r` has after column `c`,
/// `next_entries[(r * columns + c) * M..][..M]` the base tokens (padded; all padding when
/// invalid) the next hypertoken id would stand for right after that column (LZW's KwKwK case),
/// and `next_ids[r * columns + c]` that id (the fill value when invalid). A masked-out column
/// repeats the size before it and has no next entry. `created_columns[i]` is the column whose
/// id created entry `i` of the update's [`BatchNewEntries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnTrace<T> {
    pub columns: usize,
    pub sizes: Vec<T>,
    pub next_entries: Vec<T>,
    pub next_ids: Vec<T>,
    pub created_columns: Vec<T>,
}

/// One [`CodebookState`] per batch row, updated together (in parallel for large updates).
#[derive(Debug, Clone)]
pub struct BatchCodebookState {
    rows: Vec<CodebookState>,
}

impl BatchCodebookState {
    /// `batch_size` empty states; refused beyond [`MAX_BATCH_SIZE`] rows.
    pub fn new(config: &CompressionConfig, batch_size: usize) -> Result<Self> {
        check(
            || "batch_size".to_string(),
            batch_size as u128,
            MAX_BATCH_SIZE,
        )?;
        Ok(Self {
            rows: vec![CodebookState::new(config); batch_size],
        })
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

    /// Feeds `ids[r]` to row `r` for every row and returns each row's created hypertoken ids
    /// (as [`CodebookState::update`] lists them). All-or-nothing: when any row rejects its ids,
    /// no row changes.
    pub fn update<I: TokenId, S: AsRef<[I]> + Sync>(&mut self, ids: &[S]) -> Result<Vec<Vec<u32>>> {
        self.guarded(ids, |batch| {
            batch.update_rows(ids, CodebookState::update_unguarded)
        })
    }

    /// [`Self::update`] with a [`StepTrace`] per row (see [`CodebookState::update_traced`]).
    pub fn update_traced<I: TokenId, S: AsRef<[I]> + Sync>(
        &mut self,
        ids: &[S],
    ) -> Result<Vec<(Vec<u32>, StepTrace)>> {
        self.guarded(ids, |batch| {
            batch.update_rows(ids, CodebookState::update_traced_unguarded)
        })
    }

    /// [`Self::update`] of the ids `mask` keeps (all of them without one), returning the
    /// created entries flattened, their base tokens (as after the update) padded with `fill`.
    /// All-or-nothing.
    pub fn update_entries<I, S, T>(
        &mut self,
        ids: &[S],
        mask: Option<Mask<'_>>,
        fill: T,
    ) -> Result<BatchNewEntries<T>>
    where
        I: TokenId,
        S: AsRef<[I]> + Sync,
        T: Copy + From<u32>,
    {
        self.guarded(ids, |batch| {
            let created = match mask {
                None => batch.update_rows(ids, CodebookState::update_unguarded)?,
                Some(mask) => {
                    batch.update_rows(&mask.select(ids)?.0, CodebookState::update_unguarded)?
                }
            };
            let mut rows = Vec::new();
            let mut entries = NewEntries::default();
            for (row, (created, state)) in created.iter().zip(&batch.rows).enumerate() {
                state.extend_entries(created, fill, &mut entries)?;
                // Rows are below MAX_BATCH_SIZE, which fits a u32.
                rows.extend(std::iter::repeat_n(T::from(row as u32), created.len()));
            }
            Ok(BatchNewEntries {
                rows,
                ids: entries.ids,
                subtokens: entries.subtokens,
            })
        })
    }

    /// [`Self::update_entries`] of a rectangular batch that also says what a model may choose
    /// from after each column (see [`ColumnTrace`]). The created entries are listed by column,
    /// each with its base tokens as they were right after that column (a slot an evicting
    /// codebook recycles twice is listed twice). All-or-nothing.
    pub fn update_traced_columns<I, S, T>(
        &mut self,
        ids: &[S],
        mask: Option<Mask<'_>>,
        fill: T,
    ) -> Result<(BatchNewEntries<T>, ColumnTrace<T>)>
    where
        I: TokenId,
        S: AsRef<[I]> + Sync,
        T: Copy + From<u32>,
    {
        let columns = ids.first().map_or(0, |row| row.as_ref().len());
        if let Some((index, row)) = ids
            .iter()
            .enumerate()
            .find(|(_, row)| row.as_ref().len() != columns)
        {
            return Err(Error::argument(
                "ids",
                format!(
                    "a traced update needs rows of equal length: row {index} has {} ids, row 0 has {columns}",
                    row.as_ref().len()
                ),
            ));
        }
        let width = self.max_subtokens();
        check_cells(
            || {
                format!(
                    "a step trace of {} rows × {columns} columns × max_subtokens {width}",
                    ids.len()
                )
            },
            ids.len().saturating_mul(columns),
            width,
        )?;
        self.guarded(ids, |batch| {
            let (traced, fed_columns) = match mask {
                None => (
                    batch.update_rows(ids, CodebookState::update_traced_unguarded)?,
                    None,
                ),
                Some(mask) => {
                    let (kept, fed_columns) = mask.select(ids)?;
                    let traced =
                        batch.update_rows(&kept, CodebookState::update_traced_unguarded)?;
                    (traced, Some(fed_columns))
                }
            };
            let traces: Vec<StepTrace> = traced.into_iter().map(|(_, trace)| trace).collect();
            check_cells(
                || "the entries a traced update created".to_string(),
                traces.iter().map(|trace| trace.created.len()).sum(),
                width,
            )?;
            Ok(lay_out(
                &traces,
                fed_columns.as_deref(),
                columns,
                width,
                fill,
            ))
        })
    }

    pub fn reset(&mut self) {
        self.rows.iter_mut().for_each(CodebookState::reset);
    }

    fn max_subtokens(&self) -> usize {
        self.rows
            .first()
            .map_or(1, |row| row.config().max_subtokens())
    }

    /// Runs `update` (which feeds at most `ids[r]` to row `r`) all-or-nothing: on error every
    /// row goes back to where it was.
    fn guarded<I, S, R>(
        &mut self,
        ids: &[S],
        update: impl FnOnce(&mut Self) -> Result<R>,
    ) -> Result<R>
    where
        S: AsRef<[I]>,
    {
        let checkpoints: Vec<_> = self
            .rows
            .iter_mut()
            .enumerate()
            .map(|(row, state)| state.checkpoint(ids.get(row).map_or(0, |ids| ids.as_ref().len())))
            .collect();
        let result = update(self);
        for (state, checkpoint) in self.rows.iter_mut().zip(checkpoints) {
            match result {
                Ok(_) => state.commit(checkpoint),
                Err(_) => state.rollback(checkpoint),
            }
        }
        result
    }

    /// `update` of every row with its ids, in parallel for large updates; part-fed on error.
    fn update_rows<I, S, R, F>(&mut self, ids: &[S], update: F) -> Result<Vec<R>>
    where
        I: TokenId,
        S: AsRef<[I]> + Sync,
        R: Send,
        F: Fn(&mut CodebookState, &[I]) -> Result<R> + Sync,
    {
        if ids.len() != self.rows.len() {
            return Err(Error::argument(
                "ids",
                format!(
                    "expected {} rows (the batch size), got {}",
                    self.rows.len(),
                    ids.len()
                ),
            ));
        }
        let work: usize = ids.iter().map(|row| row.as_ref().len()).sum();
        map_rows_mut(&mut self.rows, ids, work, |state, row_ids| {
            update(state, row_ids.as_ref())
        })
    }
}

/// Lays each row's trace out on the columns its ids came from (`fed_columns`, or all of them),
/// with the entries each step created.
fn lay_out<T: Copy + From<u32>>(
    traces: &[StepTrace],
    fed_columns: Option<&[Vec<usize>]>,
    columns: usize,
    width: usize,
    fill: T,
) -> (BatchNewEntries<T>, ColumnTrace<T>) {
    let cells = traces.len() * columns;
    let mut sizes = vec![T::from(0); cells];
    let mut next_entries = vec![fill; cells * width];
    let mut next_ids = vec![fill; cells];
    let mut created = BatchNewEntries {
        rows: Vec::new(),
        ids: Vec::new(),
        subtokens: Vec::new(),
    };
    let mut created_columns = Vec::new();
    for (row, trace) in traces.iter().enumerate() {
        let mut size = T::from(0);
        let mut step = 0;
        for column in 0..columns {
            let fed = fed_columns.is_none_or(|fed| fed[row].get(step) == Some(&column));
            let cell = row * columns + column;
            if fed {
                size = T::from(trace.sizes[step]);
                let entry = trace.next_entry(step, width);
                if !entry.is_empty() {
                    next_ids[cell] = T::from(trace.next_ids[step]);
                }
                for (slot, &token) in next_entries[cell * width..].iter_mut().zip(entry) {
                    *slot = T::from(token);
                }
                for index in trace.created_offsets[step]..trace.created_offsets[step + 1] {
                    // Rows are below MAX_BATCH_SIZE and columns below MAX_RESULT_IDS: both fit.
                    created.rows.push(T::from(row as u32));
                    created.ids.push(T::from(trace.created[index]));
                    let start = created.subtokens.len();
                    created.subtokens.resize(start + width, fill);
                    let tokens = trace.created_entry(index, width);
                    for (slot, &token) in created.subtokens[start..].iter_mut().zip(tokens) {
                        *slot = T::from(token);
                    }
                    created_columns.push(T::from(column as u32));
                }
                step += 1;
            }
            sizes[cell] = size;
        }
    }
    let trace = ColumnTrace {
        columns,
        sizes,
        next_entries,
        next_ids,
        created_columns,
    };
    (created, trace)
}
