use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use zip2zip::{BatchCodebookState, BatchNewEntries, CodebookState, Mask};

use crate::codebook::{codebook_from_entries, matrix, PyCodebook};
use crate::config::PyCompressionConfig;
use crate::errors::{detach, invalid_argument, invalid_codebook, to_py, LimitExceededError};
use crate::ids::{extract_batch, extract_ids, with_rows};
use crate::ints::{int_arg, is_integer, type_name};
use crate::results::{BATCH_NEW_ENTRIES, NEW_ENTRIES, TRACED_UPDATE};

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
    /// ``NewEntries(hyper_ids, subtokens)``: the created hypertokens (int64, shape ``(k,)``) and
    /// their base ids (int64, shape ``(k, max_subtokens)``, padded with -1). On error nothing
    /// changes.
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ids = extract_ids(ids)?;
        let inner = &mut self.inner;
        let created = with_rows!(ids, |rows| detach(py, || inner
            .update_entries(rows[0], -1i64)))?;
        let width = self.inner.config().max_subtokens();
        let subtokens = matrix(py, created.subtokens, width)?;
        NEW_ENTRIES.make(py, (created.ids.into_pyarray(py), subtokens))
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

    /// The id the next created hypertoken would get: ``V + len(self)`` while the codebook has
    /// room; once an evicting codebook is full, the slot the pending match would recycle
    /// (``None`` with no pending match, or when the codebook is full and never evicts).
    #[getter]
    fn next_id(&self) -> Option<u32> {
        self.inner.next_id()
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
        pending_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let pending = pending_id
            .filter(|pending| !pending.is_none())
            .map(|pending| int_arg::<u32>(pending, "pending_id", invalid_codebook))
            .transpose()?;
        let inner =
            CodebookState::from_parts(config.get().config(), codebook.inner.clone(), pending)
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

/// Each row's codebook entries, pending code and use order (see `Codebook.recency_order`):
/// what pickling a batch state keeps.
type RowStates = Vec<(Vec<Vec<u32>>, Option<u32>, Option<Vec<u32>>)>;
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

/// An attention mask as a C-contiguous 2-D int64 array (bool and integer dtypes only: a
/// float mask is refused rather than truncated).
fn read_mask<'py>(mask: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArrayDyn<'py, i64>> {
    let fast = mask.cast::<PyArrayDyn<i64>>().ok();
    let array = match fast.filter(|array| array.is_c_contiguous() && array.is_aligned()) {
        Some(array) => array.readonly(),
        None => convert_mask(mask)?,
    };
    if array.ndim() != 2 {
        return Err(invalid_argument(format!(
            "attention_mask must be 2-D, got {} dimensions",
            array.ndim()
        )));
    }
    Ok(array)
}

/// [`read_mask`] for anything but a C-contiguous int64 array: converted by numpy.
fn convert_mask<'py>(mask: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArrayDyn<'py, i64>> {
    let numpy = mask.py().import("numpy")?;
    let array = numpy.call_method1("asarray", (mask,))?;
    let kind: String = array.getattr("dtype")?.getattr("kind")?.extract()?;
    let empty = array.getattr("size")?.extract::<usize>()? == 0;
    if !empty && !matches!(kind.as_str(), "b" | "i" | "u") {
        return Err(PyTypeError::new_err(format!(
            "attention_mask must hold integers or booleans, got dtype {}",
            array.getattr("dtype")?
        )));
    }
    numpy
        .call_method1("require", (array, "int64", "CA"))?
        .extract()
}

/// The core's view of a mask read by [`read_mask`].
fn as_mask<'a>(array: &'a PyReadonlyArrayDyn<'_, i64>) -> PyResult<Mask<'a>> {
    let (rows, columns) = (array.shape()[0], array.shape()[1]);
    Mask::new(array.as_slice()?, rows, columns).map_err(to_py)
}

#[pymethods]
impl PyBatchCodebookState {
    /// ``batch_size`` empty states (at most 2**20 rows).
    #[new]
    fn new(config: Py<PyCompressionConfig>, batch_size: &Bound<'_, PyAny>) -> PyResult<Self> {
        let size = if is_integer(batch_size) && batch_size.gt(0)? {
            // Past what a usize holds is past the limit too.
            batch_size.extract::<usize>().map_err(|_| {
                LimitExceededError::new_err(format!(
                    "batch_size would be {batch_size}, over the limit of {}",
                    zip2zip::limits::MAX_BATCH_SIZE
                ))
            })?
        } else {
            int_arg::<usize>(batch_size, "batch_size", invalid_argument)?
        };
        let inner = BatchCodebookState::new(config.get().config(), size).map_err(to_py)?;
        Ok(Self { config, inner })
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
    /// ``attention_mask`` is 0 (e.g. left padding). Returns ``BatchNewEntries(rows,
    /// hyper_ids, subtokens)``: for every created hypertoken its row, its id, and its base ids
    /// padded with -1. All-or-nothing: on error no row changes.
    #[pyo3(signature = (ids, attention_mask = None))]
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        attention_mask: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = extract_batch(ids)?;
        let mask = attention_mask.map(|mask| read_mask(&mask)).transpose()?;
        let mask = mask.as_ref().map(as_mask).transpose()?;
        let inner = &mut self.inner;
        let created = with_rows!(batch, |rows| detach(py, || inner
            .update_entries(&rows, mask, -1i64)))?;
        let (rows, hyper_ids, subtokens) = self.arrays(py, created)?;
        BATCH_NEW_ENTRIES.make(py, (rows, hyper_ids, subtokens))
    }

    /// ``update`` for a rectangular batch ``ids`` of shape ``(B, T)`` that also says, after each
    /// id, what a model predicting the following id may choose from. Returns
    /// ``TracedUpdate(rows, hyper_ids, subtokens, sizes, next_entries, next_ids, columns)``:
    /// the created hypertokens by column (``columns[i]`` created entry ``i``), each with its
    /// base ids as right after that column (a slot an evicting codebook recycles twice is
    /// listed twice); ``sizes[b, t]`` the number of hypertokens row ``b`` has after column
    /// ``t``; ``next_entries[b, t]`` the base ids (padded with -1; all -1 when invalid) the next
    /// hypertoken id would stand for if row ``b`` produced it right after column ``t`` (LZW's
    /// KwKwK case), and ``next_ids[b, t]`` that id (-1 when invalid): ``V + sizes[b, t]``
    /// until an evicting codebook is full, then the slot it would recycle. Masked-out columns
    /// repeat the size before them and have no next entry.
    #[pyo3(signature = (ids, attention_mask = None))]
    fn update_traced<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        attention_mask: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = extract_batch(ids)?;
        let mask = attention_mask.map(|mask| read_mask(&mask)).transpose()?;
        let mask = mask.as_ref().map(as_mask).transpose()?;
        let inner = &mut self.inner;
        let (created, trace) = with_rows!(batch, |rows| detach(py, || inner
            .update_traced_columns(&rows, mask, -1i64)))?;
        let (rows, hyper_ids, subtokens) = self.arrays(py, created)?;
        let batch_size = self.inner.batch_size();
        let sizes = trace
            .sizes
            .into_pyarray(py)
            .reshape([batch_size, trace.columns])?;
        let width = self.max_subtokens();
        let next_entries =
            trace
                .next_entries
                .into_pyarray(py)
                .reshape([batch_size, trace.columns, width])?;
        let next_ids = trace
            .next_ids
            .into_pyarray(py)
            .reshape([batch_size, trace.columns])?;
        let columns = trace.created_columns.into_pyarray(py);
        TRACED_UPDATE.make(
            py,
            (
                rows,
                hyper_ids,
                subtokens,
                sizes,
                next_entries,
                next_ids,
                columns,
            ),
        )
    }

    /// A snapshot of row ``row``'s codebook (negative rows count from the end).
    fn codebook(&self, row: &Bound<'_, PyAny>) -> PyResult<PyCodebook> {
        if !is_integer(row) {
            return Err(PyTypeError::new_err(format!(
                "row must be an integer, got {}",
                type_name(row)
            )));
        }
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
                PyIndexError::new_err(format!(
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
                let codebook = state.codebook();
                let entries = codebook.iter().map(|(_, tokens)| tokens).collect();
                (entries, state.pending_code(), codebook.recency_order())
            })
            .collect()
    }

    /// Restores ``__getstate__``'s rows; a state that no encoding could have reached raises
    /// ``InvalidCodebookError`` and changes nothing.
    fn __setstate__(&mut self, rows: &Bound<'_, PyAny>) -> PyResult<()> {
        let config = self.config.get().config();
        let mut states = Vec::new();
        for (index, row) in rows.try_iter()?.enumerate() {
            let row = row?;
            // (entries, pending), as pickled before codebooks could evict, or with the use order.
            let parts = row
                .cast::<PyTuple>()
                .ok()
                .filter(|parts| matches!(parts.len(), 2 | 3));
            let Some(parts) = parts else {
                return Err(invalid_codebook(format!(
                    "invalid codebook: row {index} of the state is not an (entries, pending[, \
                     recency]) tuple"
                )));
            };
            let recency = parts.get_item(2).ok();
            let codebook = codebook_from_entries(config, &parts.get_item(0)?, recency.as_ref())?;
            let pending = parts.get_item(1)?;
            let pending = if pending.is_none() {
                None
            } else {
                Some(int_arg::<u32>(&pending, "pending id", invalid_codebook)?)
            };
            states.push(CodebookState::from_parts(config, codebook, pending).map_err(to_py)?);
        }
        self.inner = BatchCodebookState::from_states(states);
        Ok(())
    }
}

/// `(rows, hyper_ids, subtokens)` arrays.
type EntryArrays<'py> = (
    Bound<'py, numpy::PyArray1<i64>>,
    Bound<'py, numpy::PyArray1<i64>>,
    Bound<'py, numpy::PyArray2<i64>>,
);

impl PyBatchCodebookState {
    fn max_subtokens(&self) -> usize {
        self.config.get().config().max_subtokens()
    }

    fn arrays<'py>(
        &self,
        py: Python<'py>,
        created: BatchNewEntries<i64>,
    ) -> PyResult<EntryArrays<'py>> {
        let subtokens = matrix(py, created.subtokens, self.max_subtokens())?;
        Ok((
            created.rows.into_pyarray(py),
            created.ids.into_pyarray(py),
            subtokens,
        ))
    }
}
