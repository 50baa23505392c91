//! `TextTokenizer`: a byte-level BPE `tokenizer.json` in native code, and the batch calls that
//! take texts to base or hypertoken ids in one pass with the GIL released.

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::{PyTypeError, PyUnicodeEncodeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyString, PyTuple};
use zip2zip::{EncoderPool, TextTokenizer};

use crate::compressor::flatten;
use crate::errors::{detach, invalid_argument, to_py};

type Ids<'py> = Bound<'py, PyArray1<i64>>;

fn widen(ids: Vec<u32>) -> Vec<i64> {
    ids.into_iter().map(i64::from).collect()
}

/// A Hugging Face byte-level BPE tokenizer (``tokenizer.json``) run in native code, with the
/// same ids as ``tokenizers``. Raises ``UnsupportedTokenizerError`` (listing every feature
/// not reproduced exactly, and a pre-tokenizer regex over the native path's memory bounds) or
/// ``InvalidTokenizerError`` (a file that is not a valid tokenizer). Thread-safe; batch calls run on the codec's pool with the GIL released.
#[pyclass(name = "TextTokenizer", module = "zip2zip_tokenizers._core", frozen)]
pub(crate) struct PyTextTokenizer {
    json: String,
    pub(crate) inner: TextTokenizer,
}

#[pymethods]
impl PyTextTokenizer {
    #[new]
    #[pyo3(signature = (tokenizer_json))]
    fn new(py: Python<'_>, tokenizer_json: String) -> PyResult<Self> {
        let inner = py.detach(|| TextTokenizer::from_json(&tokenizer_json));
        Ok(Self {
            inner: inner.map_err(to_py)?,
            json: tokenizer_json,
        })
    }

    /// One more than the largest id the tokenizer can produce (added tokens included).
    #[getter]
    fn vocab_size(&self) -> u32 {
        self.inner.vocab_size()
    }

    /// The base ids of one text (int64), with the post-processor's special tokens when
    /// ``add_special_tokens``.
    #[pyo3(signature = (text, add_special_tokens = true))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'py, PyAny>,
        add_special_tokens: bool,
    ) -> PyResult<Ids<'py>> {
        let text = text_of(text, None)?;
        let ids = py.detach(|| widen(self.inner.encode(&text, add_special_tokens)));
        Ok(ids.into_pyarray(py))
    }

    /// The base ids of every text (a list of int64 arrays), in parallel.
    #[pyo3(signature = (texts, add_special_tokens = true))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        add_special_tokens: bool,
    ) -> PyResult<Vec<Ids<'py>>> {
        let texts = texts_of(texts)?;
        let rows = detach(py, || {
            self.inner
                .encode_batch(&texts, add_special_tokens)
                .map(|rows| rows.into_iter().map(widen).collect::<Vec<_>>())
        })?;
        Ok(rows.into_iter().map(|row| row.into_pyarray(py)).collect())
    }

    fn __repr__(&self) -> String {
        format!("TextTokenizer(vocab_size={})", self.inner.vocab_size())
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let args = (slf.get().json.clone(),);
        Ok((slf.get_type().into_any(), args.into_pyobject(slf.py())?))
    }
}

/// The texts of a sequence of ``str``: a lone surrogate (no UTF-8 encoding) is an
/// ``InvalidArgumentError`` naming the text, not the ``UnicodeEncodeError`` of the conversion.
pub(crate) fn texts_of(texts: &Bound<'_, PyAny>) -> PyResult<Vec<PyBackedStr>> {
    if texts.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "texts must be a sequence of str, not one str",
        ));
    }
    let items: Vec<Bound<'_, PyAny>> = texts.extract()?;
    items
        .iter()
        .enumerate()
        .map(|(row, item)| text_of(item, Some(row)))
        .collect()
}

/// One text (``row`` is its place in a batch).
pub(crate) fn text_of(text: &Bound<'_, PyAny>, row: Option<usize>) -> PyResult<PyBackedStr> {
    text.extract::<PyBackedStr>().map_err(|error| {
        if error.is_instance_of::<PyUnicodeEncodeError>(text.py()) {
            let which = row.map_or_else(|| "text".to_owned(), |row| format!("text {row}"));
            invalid_argument(format!(
                "{which} is not valid Unicode: {}",
                error.value(text.py())
            ))
        } else {
            error
        }
    })
}

/// `LZWCompressor.encode_texts`.
pub(crate) fn encode_texts<'py>(
    py: Python<'py>,
    pool: &EncoderPool,
    tokenizer: &PyTextTokenizer,
    texts: &[PyBackedStr],
    add_special_tokens: bool,
) -> PyResult<Vec<Ids<'py>>> {
    let rows = detach(py, || {
        pool.batch_encode_texts(&tokenizer.inner, texts, add_special_tokens)
            .map(|rows| rows.into_iter().map(widen).collect::<Vec<_>>())
    })?;
    Ok(rows.into_iter().map(|row| row.into_pyarray(py)).collect())
}

/// `LZWCompressor.encode_text_windows`.
pub(crate) fn encode_text_windows<'py>(
    py: Python<'py>,
    pool: &EncoderPool,
    tokenizer: &PyTextTokenizer,
    texts: &[PyBackedStr],
    window: usize,
    suffix: &[u32],
) -> PyResult<Bound<'py, PyAny>> {
    let flat = detach(py, || {
        pool.batch_encode_text_windows(&tokenizer.inner, texts, suffix, window)
            .map(|windows| flatten(&windows))
    })?;
    flat.into_window_batch(py)
}
