use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use zip2zip::parallel::map_rows;
use zip2zip::{Codebook, EncoderPool, Windows};

use crate::codebook::PyCodebook;
use crate::config::PyCompressionConfig;
use crate::errors::{detach, invalid_argument, InvalidTokenError};
use crate::ids::{extract_batch, extract_ids, with_rows};
use crate::ints::count_arg;
use crate::results::{WINDOW_BATCH, WITH_CODEBOOK};
use crate::text::PyTextTokenizer;

type Ids<'py> = Bound<'py, PyArray1<i64>>;

/// The windows of a batch as flat columns (see `batch_encode_windows`).
pub(crate) struct FlatWindows {
    pub(crate) ids: Vec<i32>,
    pub(crate) offsets: Vec<i64>,
    pub(crate) rows: Vec<i64>,
    pub(crate) base_starts: Vec<i64>,
    pub(crate) base_lengths: Vec<i64>,
}

impl FlatWindows {
    /// The columns as numpy arrays in a `WindowBatch`.
    pub(crate) fn into_window_batch(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        let columns = (
            self.ids.into_pyarray(py),
            self.offsets.into_pyarray(py),
            self.rows.into_pyarray(py),
            self.base_starts.into_pyarray(py),
            self.base_lengths.into_pyarray(py),
        );
        WINDOW_BATCH.make(py, columns)
    }
}

pub(crate) fn flatten(documents: &[Windows]) -> FlatWindows {
    let count: usize = documents.iter().map(Windows::len).sum();
    let total: usize = documents.iter().map(|windows| windows.ids.len()).sum();
    let mut flat = FlatWindows {
        ids: Vec::with_capacity(total),
        offsets: Vec::with_capacity(count + 1),
        rows: Vec::with_capacity(count),
        base_starts: Vec::with_capacity(count),
        base_lengths: Vec::with_capacity(count),
    };
    flat.offsets.push(0);
    for (row, windows) in documents.iter().enumerate() {
        let first = flat.ids.len();
        // Ids are below V + C <= i32::MAX (checked when the config was built).
        flat.ids.extend(
            windows
                .ids
                .iter()
                .map(|&id| i32::try_from(id).unwrap_or(i32::MAX)),
        );
        for k in 0..windows.len() {
            let (start, end) = windows.base_span(k);
            flat.offsets
                .push((first + windows.id_offsets[k + 1]) as i64);
            flat.rows.push(row as i64);
            flat.base_starts.push(start as i64);
            flat.base_lengths.push((end - start) as i64);
        }
    }
    flat
}

/// The suffix of `batch_encode_windows`: base ids (checked against the vocabulary later).
fn suffix_ids(suffix: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u32>> {
    let Some(suffix) = suffix.filter(|suffix| !suffix.is_none()) else {
        return Ok(Vec::new());
    };
    let ids = extract_ids(suffix).map_err(|error| {
        let message = format!("invalid suffix: {}", error.value(suffix.py()));
        if error.is_instance_of::<InvalidTokenError>(suffix.py()) {
            InvalidTokenError::new_err(message)
        } else {
            PyTypeError::new_err(message)
        }
    })?;
    with_rows!(ids, |rows| {
        rows[0]
            .iter()
            .enumerate()
            .map(|(position, &id)| {
                zip2zip::TokenId::to_u32(id).ok_or_else(|| {
                    InvalidTokenError::new_err(format!(
                        "invalid suffix id {} at position {position}: ids must be non-negative \
                         base ids",
                        zip2zip::TokenId::to_i64(id)
                    ))
                })
            })
            .collect()
    })
}

#[derive(Clone, Copy)]
enum Direction {
    Encode,
    Decode,
}

/// Encodes base ids into hypertoken ids and back. Stateless between calls and safe to share
/// between threads: calls borrow encoders from an internal pool; batch methods run on the
/// crate's thread pool; the GIL is released while the codec works.
#[pyclass(name = "LZWCompressor", module = "zip2zip_tokenizers._core", frozen)]
pub(crate) struct PyLZWCompressor {
    config: Py<PyCompressionConfig>,
    pool: EncoderPool,
}

impl PyLZWCompressor {
    fn one<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        direction: Direction,
    ) -> PyResult<Ids<'py>> {
        let ids = extract_ids(ids)?;
        let pool = &self.pool;
        let out = with_rows!(ids, |rows| detach(py, || {
            let mut out = Vec::new();
            match direction {
                Direction::Encode => pool.encode_into(rows[0], &mut out),
                Direction::Decode => pool.decode_into(rows[0], &mut out),
            }
            .map(|()| out)
        }))?;
        Ok(out.into_pyarray(py))
    }

    fn one_with_codebook<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        direction: Direction,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ids = extract_ids(ids)?;
        let pool = &self.pool;
        let (out, codebook) = with_rows!(ids, |rows| detach(py, || {
            let mut out: Vec<i64> = Vec::new();
            match direction {
                Direction::Encode => pool.encode_with_codebook_into(rows[0], &mut out),
                Direction::Decode => pool.decode_with_codebook_into(rows[0], &mut out),
            }
            .map(|codebook| (out, codebook))
        }))?;
        WITH_CODEBOOK.make(py, (out.into_pyarray(py), PyCodebook::from(codebook)))
    }

    fn batch<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
        direction: Direction,
    ) -> PyResult<Vec<Ids<'py>>> {
        let batch = extract_batch(seqs)?;
        let pool = &self.pool;
        let results: Vec<Vec<i64>> = with_rows!(batch, |rows| detach(py, || match direction {
            Direction::Encode => pool.batch_encode(&rows),
            Direction::Decode => pool.batch_decode(&rows),
        }))?;
        Ok(results
            .into_iter()
            .map(|out| out.into_pyarray(py))
            .collect())
    }

    fn batch_with_codebook<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
        direction: Direction,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let batch = extract_batch(seqs)?;
        let pool = &self.pool;
        let results: Vec<(Vec<i64>, Codebook)> = with_rows!(batch, |rows| detach(py, || {
            let work = rows.iter().map(|row| row.len()).sum();
            map_rows(&rows, work, |row| {
                let mut out = Vec::new();
                match direction {
                    Direction::Encode => pool.encode_with_codebook_into(row, &mut out),
                    Direction::Decode => pool.decode_with_codebook_into(row, &mut out),
                }
                .map(|codebook| (out, codebook))
            })
        }))?;
        results
            .into_iter()
            .map(|(out, codebook)| {
                WITH_CODEBOOK.make(py, (out.into_pyarray(py), PyCodebook::from(codebook)))
            })
            .collect()
    }
}

#[pymethods]
impl PyLZWCompressor {
    #[new]
    fn new(config: Py<PyCompressionConfig>) -> Self {
        let pool = EncoderPool::new(config.get().config());
        Self { config, pool }
    }

    #[getter]
    fn config(&self, py: Python<'_>) -> Py<PyCompressionConfig> {
        self.config.clone_ref(py)
    }

    /// Hypertokenizes base ids (a list or 1-D integer array) into a 1-D int64 array.
    fn encode<'py>(&self, py: Python<'py>, ids: &Bound<'py, PyAny>) -> PyResult<Ids<'py>> {
        self.one(py, ids, Direction::Encode)
    }

    /// Expands any valid hypertoken stream back to base ids (1-D int64 array).
    fn decode<'py>(&self, py: Python<'py>, ids: &Bound<'py, PyAny>) -> PyResult<Ids<'py>> {
        self.one(py, ids, Direction::Decode)
    }

    /// ``encode`` plus the codebook it built, as ``IdsWithCodebook(ids, codebook)``.
    fn encode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.one_with_codebook(py, ids, Direction::Encode)
    }

    /// ``decode`` plus the codebook, equal to the one re-encoding the base ids builds.
    fn decode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.one_with_codebook(py, ids, Direction::Decode)
    }

    /// ``encode`` over a batch (a sequence of id sequences or a 2-D array), in parallel.
    fn batch_encode<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Ids<'py>>> {
        self.batch(py, seqs, Direction::Encode)
    }

    /// ``decode`` over a batch, in parallel.
    fn batch_decode<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Ids<'py>>> {
        self.batch(py, seqs, Direction::Decode)
    }

    /// ``encode_with_codebook`` over a batch, in parallel.
    fn batch_encode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.batch_with_codebook(py, seqs, Direction::Encode)
    }

    /// ``decode_with_codebook`` over a batch, in parallel.
    fn batch_decode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.batch_with_codebook(py, seqs, Direction::Decode)
    }

    /// Cuts every document of a batch (each followed by ``suffix``, e.g. an end-of-document
    /// id) into lossless training windows of at most ``window`` hypertokens, each encoded with
    /// its own fresh codebook; every base token lands in exactly one window.
    ///
    /// Returns ``WindowBatch(ids, offsets, rows, base_starts, base_lengths)``, flat arrays: window ``k``
    /// holds ``ids[offsets[k]:offsets[k + 1]]`` (int32), comes from document ``rows[k]`` and
    /// covers its base tokens ``base_starts[k]`` to ``base_starts[k] + base_lengths[k]``.
    /// Windows are in document order; an empty document (and empty suffix) has none.
    #[pyo3(signature = (seqs, window, suffix = None))]
    fn batch_encode_windows<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
        window: &Bound<'py, PyAny>,
        suffix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let window = count_arg(window, "window", invalid_argument)?;
        let suffix = suffix_ids(suffix)?;
        let batch = extract_batch(seqs)?;
        let pool = &self.pool;
        let flat = with_rows!(batch, |rows| detach(py, || {
            pool.batch_encode_windows(&rows, &suffix, window)
                .map(|windows| flatten(&windows))
        }))?;
        flat.into_window_batch(py)
    }

    /// Hypertoken ids of every text (a list of int64 arrays): ``tokenizer``'s base ids (with
    /// its special tokens when ``add_special_tokens``), then greedy LZW, in one native pass per
    /// text, in parallel with the GIL released.
    #[pyo3(signature = (tokenizer, texts, add_special_tokens = true))]
    fn encode_texts<'py>(
        &self,
        py: Python<'py>,
        tokenizer: PyRef<'py, PyTextTokenizer>,
        texts: &Bound<'py, PyAny>,
        add_special_tokens: bool,
    ) -> PyResult<Vec<Ids<'py>>> {
        let texts = crate::text::texts_of(texts)?;
        crate::text::encode_texts(py, &self.pool, &tokenizer, &texts, add_special_tokens)
    }

    /// ``batch_encode_windows`` of every text's base ids (no special tokens), tokenized by
    /// ``tokenizer`` in the same native pass: returns the same ``WindowBatch``.
    #[pyo3(signature = (tokenizer, texts, window, suffix = None))]
    fn encode_text_windows<'py>(
        &self,
        py: Python<'py>,
        tokenizer: PyRef<'py, PyTextTokenizer>,
        texts: &Bound<'py, PyAny>,
        window: &Bound<'py, PyAny>,
        suffix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let texts = crate::text::texts_of(texts)?;
        let window = count_arg(window, "window", invalid_argument)?;
        let suffix = suffix_ids(suffix)?;
        crate::text::encode_text_windows(py, &self.pool, &tokenizer, &texts, window, &suffix)
    }

    fn __repr__(&self) -> String {
        format!("LZWCompressor({})", self.config.get().__repr__())
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let args = (slf.get().config.clone_ref(slf.py()),);
        Ok((slf.get_type().into_any(), args.into_pyobject(slf.py())?))
    }
}
