use std::ops::Range;

use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use zip2zip::{BatchCodebookState, Codebook, CodebookState, StepTrace};

use crate::codebook::{dense, PyCodebook};
use crate::config::PyCompressionConfig;
use crate::errors::{invalid_config, to_py};
use crate::ids::{extract_batch, extract_ids, with_ids, with_rows};

type NewEntries<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray2<i64>>);
/// `(rows, hyper_ids, subtokens)` of the hypertokens a batched update created.
type BatchNewEntries<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray2<i64>>,
);

/// The hypertoken ids `range` and their base ids, padded with -1.
fn new_entries<'py>(
    py: Python<'py>,
    codebook: &Codebook,
    range: std::ops::Range<u32>,
) -> NewEntries<'py> {
    let ids: Vec<i64> = range.clone().map(i64::from).collect();
    let from = (range.start - codebook.initial_vocab_size()) as usize;
    (ids.into_pyarray(py), dense(py, codebook, from, -1))
}

/// One sequence's codebook during generation: feed it every id the sequence gets (prompt
/// hypertokens, then each generated id); each ``update`` returns the hypertokens it created.
#[pyclass(name = "CodebookState", module = "zip2zip_tokenizers._core")]
pub(crate) struct PyCodebookState {
    config: Py<PyCompressionConfig>,
    inner: CodebookState,
}

#[pymethods]
impl PyCodebookState {
    #[new]
    fn new(config: Py<PyCompressionConfig>) -> Self {
        let inner = CodebookState::new(config.get().config());
        Self { config, inner }
    }

    #[getter]
    fn config(&self, py: Python<'_>) -> Py<PyCompressionConfig> {
        self.config.clone_ref(py)
    }

    /// Feeds ids (base ids or hypertokens valid at their position) and returns
    /// ``(hyper_ids, subtokens)``: the created hypertokens (int64, shape ``(k,)``) and their base
    /// ids (int64, shape ``(k, max_subtokens)``, padded with -1). On error nothing changes.
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<NewEntries<'py>> {
        let ids = extract_ids(ids)?;
        let inner = &mut self.inner;
        let created =
            with_ids!(ids.slice(), |ids| py.detach(|| inner.update(ids))).map_err(to_py)?;
        Ok(new_entries(py, self.inner.codebook(), created))
    }

    /// A snapshot of the codebook so far.
    #[getter]
    fn codebook(&self) -> PyCodebook {
        PyCodebook {
            inner: self.inner.codebook().snapshot(),
        }
    }

    /// The code of the base tokens fed but not yet closed into a finished match, if any.
    #[getter]
    fn pending_id(&self) -> Option<u32> {
        self.inner.pending_code()
    }

    /// Number of hypertokens created so far.
    fn __len__(&self) -> usize {
        self.inner.codebook().len()
    }

    /// Forgets every id fed so far.
    fn reset(&mut self) {
        self.inner.reset();
    }

    #[staticmethod]
    fn _from_parts(
        config: Py<PyCompressionConfig>,
        codebook: PyRef<'_, PyCodebook>,
        pending_id: Option<u32>,
    ) -> PyResult<Self> {
        let inner =
            CodebookState::from_parts(config.get().config(), codebook.inner.clone(), pending_id)
                .map_err(to_py)?;
        Ok(Self { config, inner })
    }

    fn __repr__(&self) -> String {
        format!("CodebookState(<{} entries>)", self.inner.codebook().len())
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let this = slf.borrow();
        let rebuild = slf.get_type().getattr("_from_parts")?;
        let args = (
            this.config.clone_ref(slf.py()),
            this.codebook(),
            this.inner.pending_code(),
        );
        Ok((rebuild, args.into_pyobject(slf.py())?))
    }
}

/// `update_traced`'s `(rows, hyper_ids, subtokens, sizes, next_entries)`.
type TracedEntries<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray3<i64>>,
);

/// Each row's codebook entries and pending code: what pickling a batch state keeps.
type RowStates = Vec<(Vec<Vec<u32>>, Option<u32>)>;
/// `(class, (config, batch_size), row states)` for `__reduce__`.
type BatchReduce<'py> = (
    Bound<'py, PyAny>,
    (Py<PyCompressionConfig>, usize),
    RowStates,
);

/// One ``CodebookState`` per batch row, updated together in one call (in parallel when large).
#[pyclass(name = "BatchCodebookState", module = "zip2zip_tokenizers._core")]
pub(crate) struct PyBatchCodebookState {
    config: Py<PyCompressionConfig>,
    inner: BatchCodebookState,
}

/// The ids of each row where `mask` is non-zero, and their columns.
type MaskedRows<I> = (Vec<Vec<I>>, Vec<Vec<usize>>);

/// Keeps the ids of each row where `mask` is non-zero.
fn masked_rows<I: Copy>(rows: &[&[I]], mask: &Bound<'_, PyAny>) -> PyResult<MaskedRows<I>> {
    let numpy = mask.py().import("numpy")?;
    let mask = numpy.call_method1("asarray", (mask, "int64"))?;
    let mask: PyReadonlyArray2<'_, i64> = mask.extract().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err("attention_mask must be a 2-D array of 0/1 values")
    })?;
    let mask = mask.as_array();
    if mask.nrows() != rows.len() {
        return Err(invalid_config(format!(
            "attention_mask has {} rows, ids have {}",
            mask.nrows(),
            rows.len()
        )));
    }
    rows.iter()
        .zip(mask.rows())
        .enumerate()
        .map(|(index, (row, keep))| {
            if keep.len() != row.len() {
                return Err(invalid_config(format!(
                    "row {index}: attention_mask has {} columns, ids have {}",
                    keep.len(),
                    row.len()
                )));
            }
            Ok(row
                .iter()
                .zip(keep)
                .enumerate()
                .filter(|(_, (_, &k))| k != 0)
                .map(|(column, (&id, _))| (id, column))
                .unzip())
        })
        .collect::<PyResult<Vec<(Vec<I>, Vec<usize>)>>>()
        .map(|kept| kept.into_iter().unzip())
}

/// `(sizes, next_entries)` of a traced update, one row per batch row and one column per id.
type TraceArrays<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray3<i64>>);

/// Lays each row's trace out on the columns its ids came from (`columns`, or all of them);
/// a masked-out column repeats the size before it and has no next entry (-1s).
fn trace_arrays<'py>(
    py: Python<'py>,
    traces: &[StepTrace],
    columns: Option<&[Vec<usize>]>,
    width: usize,
    max_subtokens: usize,
) -> TraceArrays<'py> {
    let mut sizes = Array2::<i64>::zeros((traces.len(), width));
    let mut entries = Array3::<i64>::from_elem((traces.len(), width, max_subtokens), -1);
    for (row, trace) in traces.iter().enumerate() {
        let mut size = 0i64;
        let mut step = 0usize;
        for column in 0..width {
            let fed = match columns {
                Some(columns) => columns[row].get(step) == Some(&column),
                None => true,
            };
            if fed {
                size = i64::from(trace.sizes[step]);
                let len = trace.next_lens[step];
                let entry = &trace.next_entries[step * max_subtokens..step * max_subtokens + len];
                for (slot, &token) in entry.iter().enumerate() {
                    entries[[row, column, slot]] = i64::from(token);
                }
                step += 1;
            }
            sizes[[row, column]] = size;
        }
    }
    (sizes.into_pyarray(py), entries.into_pyarray(py))
}

#[pymethods]
impl PyBatchCodebookState {
    #[new]
    fn new(config: Py<PyCompressionConfig>, batch_size: usize) -> Self {
        let inner = BatchCodebookState::new(config.get().config(), batch_size);
        Self { config, inner }
    }

    #[getter]
    fn config(&self, py: Python<'_>) -> Py<PyCompressionConfig> {
        self.config.clone_ref(py)
    }

    #[getter]
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    /// Feeds row ``r`` of ``ids`` (a 2-D integer array or a sequence of id sequences, one per
    /// row; rows may differ in length) to row ``r``'s state, skipping positions where
    /// ``attention_mask`` is 0 (e.g. left padding). Returns ``(rows, hyper_ids, subtokens)``:
    /// for every created hypertoken its row, its id, and its base ids padded with -1.
    /// All-or-nothing: on error no row changes.
    #[pyo3(signature = (ids, attention_mask = None))]
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        attention_mask: Option<Bound<'py, PyAny>>,
    ) -> PyResult<BatchNewEntries<'py>> {
        let batch = extract_batch(ids)?;
        let inner = &mut self.inner;
        let created = with_rows!(batch.rows(), |rows| match &attention_mask {
            None => py.detach(|| inner.update(&rows)).map_err(to_py),
            Some(mask) => {
                let (kept, _) = masked_rows(&rows, mask)?;
                py.detach(|| inner.update(&kept)).map_err(to_py)
            }
        })?;
        Ok(self.new_entries(py, created))
    }

    /// ``update`` for a rectangular batch ``ids`` of shape ``(B, T)`` that also says, after each
    /// id, what a model predicting the following id may choose from. Returns ``(rows,
    /// hyper_ids, subtokens, sizes, next_entries)``: the first three as ``update`` returns them,
    /// ``sizes[b, t]`` the number of hypertokens row ``b`` has after column ``t``, and
    /// ``next_entries[b, t]`` the base ids (padded with -1; all -1 when invalid) the next
    /// hypertoken id would stand for if row ``b`` produced it right after column ``t`` (LZW's
    /// KwKwK case). Masked-out columns repeat the size before them and have no next entry.
    #[pyo3(signature = (ids, attention_mask = None))]
    fn update_traced<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        attention_mask: Option<Bound<'py, PyAny>>,
    ) -> PyResult<TracedEntries<'py>> {
        let batch = extract_batch(ids)?;
        let inner = &mut self.inner;
        let (traced, columns, width) = with_rows!(batch.rows(), |rows| {
            let width = rows.first().map_or(0, |row| row.len());
            if rows.iter().any(|row| row.len() != width) {
                return Err(invalid_config("update_traced needs rows of equal length"));
            }
            match &attention_mask {
                None => py
                    .detach(|| inner.update_traced(&rows))
                    .map(|traced| (traced, None, width))
                    .map_err(to_py),
                Some(mask) => {
                    let (kept, columns) = masked_rows(&rows, mask)?;
                    py.detach(|| inner.update_traced(&kept))
                        .map(|traced| (traced, Some(columns), width))
                        .map_err(to_py)
                }
            }
        })?;
        let (created, traces): (Vec<_>, Vec<_>) = traced.into_iter().unzip();
        let max_subtokens = self.config.get().config().max_subtokens();
        let (rows, hyper_ids, subtokens) = self.new_entries(py, created);
        let (sizes, next_entries) =
            trace_arrays(py, &traces, columns.as_deref(), width, max_subtokens);
        Ok((rows, hyper_ids, subtokens, sizes, next_entries))
    }

    /// A snapshot of row ``row``'s codebook (negative rows count from the end).
    fn codebook(&self, row: &Bound<'_, PyAny>) -> PyResult<PyCodebook> {
        let size = self.inner.batch_size() as i128;
        let index = row.extract::<i64>().map(i128::from).unwrap_or(i128::MAX);
        let index = if index < 0 { index + size } else { index };
        usize::try_from(index)
            .ok()
            .and_then(|index| self.inner.row(index))
            .map(|state| PyCodebook {
                inner: state.codebook().snapshot(),
            })
            .ok_or_else(|| {
                pyo3::exceptions::PyIndexError::new_err(format!(
                    "row {row} out of range for batch size {}",
                    self.inner.batch_size()
                ))
            })
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    fn __len__(&self) -> usize {
        self.inner.batch_size()
    }
    fn __repr__(&self) -> String {
        format!("BatchCodebookState(batch_size={})", self.inner.batch_size())
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<BatchReduce<'py>> {
        let this = slf.borrow();
        let args = (this.config.clone_ref(slf.py()), this.inner.batch_size());
        Ok((slf.get_type().into_any(), args, this.__getstate__()))
    }

    fn __getstate__(&self) -> RowStates {
        self.inner
            .rows()
            .iter()
            .map(|state| {
                let entries = state.codebook().iter().map(|(_, tokens)| tokens).collect();
                (entries, state.pending_code())
            })
            .collect()
    }

    fn __setstate__(&mut self, rows: RowStates) -> PyResult<()> {
        let config = self.config.get().config();
        let states = rows
            .into_iter()
            .map(|(entries, pending)| {
                let codebook = Codebook::from_entries(
                    config.initial_vocab_size(),
                    config.max_codebook_size(),
                    config.max_subtokens(),
                    &entries,
                )?;
                CodebookState::from_parts(config, codebook, pending)
            })
            .collect::<zip2zip::Result<Vec<_>>>()
            .map_err(to_py)?;
        self.inner = BatchCodebookState::from_states(states);
        Ok(())
    }
}

impl PyBatchCodebookState {
    /// `(rows, hyper_ids, subtokens)` of the hypertokens in each row's `created` range.
    fn new_entries<'py>(&self, py: Python<'py>, created: Vec<Range<u32>>) -> BatchNewEntries<'py> {
        let width = self.config.get().config().max_subtokens();
        let mut row_ids = Vec::new();
        let mut hyper_ids = Vec::new();
        let mut subtokens = Vec::new();
        for (row, (range, state)) in created.into_iter().zip(self.inner.rows()).enumerate() {
            let codebook = state.codebook();
            let from = (range.start - codebook.initial_vocab_size()) as usize;
            row_ids.extend(std::iter::repeat_n(row as i64, range.len()));
            hyper_ids.extend(range.map(i64::from));
            subtokens.extend(codebook.dense_rows(from, -1i64));
        }
        let subtokens = Array2::from_shape_vec((hyper_ids.len(), width), subtokens)
            .unwrap_or_else(|_| Array2::from_elem((0, width), -1));
        (
            row_ids.into_pyarray(py),
            hyper_ids.into_pyarray(py),
            subtokens.into_pyarray(py),
        )
    }
}
