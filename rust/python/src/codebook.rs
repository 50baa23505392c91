use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use zip2zip::{Codebook, Error, InvalidTokenReason};

use crate::errors::to_py;

/// A snapshot of one sequence's codebook: hypertoken ``V + k`` is entry ``k``.
#[pyclass(name = "Codebook", module = "zip2zip_tokenizers._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyCodebook {
    pub(crate) inner: Codebook,
}

/// Python holds table-less snapshots: codebooks are read from Python, never extended.
impl From<Codebook> for PyCodebook {
    fn from(codebook: Codebook) -> Self {
        Self {
            inner: codebook.into_snapshot(),
        }
    }
}

/// `codebook.dense_rows(from, fill)` as a `(rows, max_subtokens)` int64 array.
pub(crate) fn dense<'py>(
    py: Python<'py>,
    codebook: &Codebook,
    from: usize,
    fill: i64,
) -> Bound<'py, PyArray2<i64>> {
    let width = codebook.max_subtokens();
    let rows = codebook.len().saturating_sub(from);
    let values = codebook.dense_rows(from, fill);
    Array2::from_shape_vec((rows, width), values)
        .unwrap_or_else(|_| Array2::from_elem((0, width), fill))
        .into_pyarray(py)
}

#[pymethods]
impl PyCodebook {
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Whether ``id`` is a base id or an existing hypertoken.
    fn __contains__(&self, id: &Bound<'_, PyAny>) -> bool {
        id.extract::<u32>().is_ok_and(|id| self.inner.contains(id))
    }

    #[getter]
    fn initial_vocab_size(&self) -> u32 {
        self.inner.initial_vocab_size()
    }

    #[getter]
    fn max_codebook_size(&self) -> u32 {
        self.inner.max_codebook_size()
    }

    #[getter]
    fn max_subtokens(&self) -> usize {
        self.inner.max_subtokens()
    }

    /// ``{hyper_id: [base ids]}`` in creation order.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (id, tokens) in self.inner.iter() {
            dict.set_item(id, tokens)?;
        }
        Ok(dict)
    }

    /// The base ids an id stands for: ``[id]`` for a base id, the entry for a hypertoken.
    /// Raises ``InvalidTokenError`` for an id the codebook does not hold.
    fn subtokens(&self, id: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
        let id = match id.extract::<i64>() {
            Ok(id) => id,
            Err(_) if id.is_instance_of::<pyo3::types::PyInt>() => {
                if id.lt(0)? {
                    i64::MIN
                } else {
                    i64::MAX
                }
            }
            Err(error) => return Err(error),
        };
        let not_found = || {
            to_py(Error::InvalidToken {
                position: 0,
                id,
                reason: if id < 0 {
                    InvalidTokenReason::Negative
                } else {
                    InvalidTokenReason::NotYetCreated {
                        next: u64::from(self.inner.next_id()),
                    }
                },
            })
        };
        let code = u32::try_from(id).map_err(|_| not_found())?;
        if !self.inner.contains(code) {
            return Err(not_found());
        }
        let mut tokens = Vec::new();
        self.inner.extend_subtokens(code, &mut tokens);
        Ok(tokens)
    }

    /// The entries as an int64 array of shape ``(len(self), max_subtokens)``, row ``k`` holding
    /// hypertoken ``V + k``'s base ids followed by ``fill``.
    #[pyo3(signature = (fill = -1), text_signature = "(self, fill=-1)")]
    fn to_array<'py>(&self, py: Python<'py>, fill: i64) -> Bound<'py, PyArray2<i64>> {
        dense(py, &self.inner, 0, fill)
    }

    /// Rebuilds a codebook from ``to_dict().values()`` (entries in creation order).
    #[staticmethod]
    fn from_entries(
        initial_vocab_size: u32,
        max_codebook_size: u32,
        max_subtokens: usize,
        entries: Vec<Vec<u32>>,
    ) -> PyResult<Self> {
        Codebook::from_entries(
            initial_vocab_size,
            max_codebook_size,
            max_subtokens,
            &entries,
        )
        .map(Self::from)
        .map_err(to_py)
    }

    fn __repr__(&self) -> String {
        format!(
            "Codebook(<{} of {} entries>, initial_vocab_size={}, max_subtokens={})",
            self.inner.len(),
            self.inner.max_codebook_size(),
            self.inner.initial_vocab_size(),
            self.inner.max_subtokens()
        )
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let inner = &slf.get().inner;
        let entries: Vec<Vec<u32>> = inner.iter().map(|(_, tokens)| tokens).collect();
        let rebuild = slf.get_type().getattr("from_entries")?;
        let args = (
            inner.initial_vocab_size(),
            inner.max_codebook_size(),
            inner.max_subtokens(),
            entries,
        );
        Ok((rebuild, args.into_pyobject(slf.py())?))
    }
}
