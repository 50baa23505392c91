use numpy::{IntoPyArray, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use zip2zip::{Codebook, CompressionConfig, Error, Eviction, InvalidTokenReason};

use crate::errors::{
    invalid_argument, invalid_codebook, invalid_config, to_py, InvalidCodebookError,
    InvalidTokenError,
};
use crate::ids::{extract_batch, with_rows};
use crate::ints::int_arg;

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

/// A row-major `values` of width `width` as a `(len / width, width)` int64 array.
pub(crate) fn matrix(
    py: Python<'_>,
    values: Vec<i64>,
    width: usize,
) -> PyResult<Bound<'_, PyArray2<i64>>> {
    let rows = values.len() / width.max(1);
    values.into_pyarray(py).reshape([rows, width])
}

/// Rebuilds a codebook from entries given as Python sequences of base ids, in creation order,
/// or (with a use order, `recency`: ids, least recently used first) by slot.
pub(crate) fn codebook_from_entries(
    config: &CompressionConfig,
    entries: &Bound<'_, PyAny>,
    recency: Option<&Bound<'_, PyAny>>,
) -> PyResult<Codebook> {
    let entries = extract_batch(entries).map_err(|error| {
        if error.is_instance_of::<InvalidTokenError>(entries.py()) {
            InvalidCodebookError::new_err(format!(
                "invalid codebook entries: {}",
                error.value(entries.py())
            ))
        } else {
            error
        }
    })?;
    let vocab = config.initial_vocab_size();
    let entries: Vec<Vec<u32>> = with_rows!(entries, |rows| {
        rows.iter()
            .enumerate()
            .map(|(index, row)| {
                row.iter()
                    .map(|&token| {
                        zip2zip::TokenId::to_u32(token).ok_or_else(|| {
                            InvalidCodebookError::new_err(format!(
                                "invalid codebook: entry {index}: subtoken {} is not a base id \
                                 (initial_vocab_size is {vocab})",
                                zip2zip::TokenId::to_i64(token)
                            ))
                        })
                    })
                    .collect::<PyResult<Vec<u32>>>()
            })
            .collect::<PyResult<_>>()
    })?;
    match recency.filter(|order| !order.is_none()) {
        None => Codebook::from_entries(config, &entries),
        Some(order) => {
            let order: Vec<u32> = order
                .try_iter()?
                .enumerate()
                .map(|(index, id)| int_arg(&id?, &format!("recency[{index}]"), invalid_codebook))
                .collect::<PyResult<_>>()?;
            Codebook::from_slots(config, &entries, &order)
        }
    }
    .map_err(to_py)
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

    /// What the codebook does with a new entry once full: ``"none"`` or ``"lru"``.
    #[getter]
    fn eviction(&self) -> &'static str {
        self.inner.eviction().name()
    }

    /// For a full evicting codebook, every hypertoken id from the least to the most recently
    /// used (the next new entry takes the slot of the first leaf its pending match does not
    /// extend); ``None`` before it fills or when it never evicts.
    fn recency_order(&self) -> Option<Vec<u32>> {
        self.inner.recency_order()
    }

    /// ``{hyper_id: [base ids]}`` by slot (creation order until an evicting codebook recycles
    /// a slot).
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
    #[pyo3(signature = (fill = None), text_signature = "(self, fill=-1)")]
    fn to_array<'py>(
        &self,
        py: Python<'py>,
        fill: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let fill = match fill {
            None => -1,
            Some(fill) => int_arg::<i64>(fill, "fill", invalid_argument)?,
        };
        let values = self.inner.dense_rows(0, fill).map_err(to_py)?;
        matrix(py, values, self.inner.max_subtokens())
    }

    /// Rebuilds a codebook from ``to_dict().values()``: entries in creation order, or, for a
    /// full evicting codebook, by slot with its ``recency_order()``.
    #[staticmethod]
    #[pyo3(signature = (initial_vocab_size, max_codebook_size, max_subtokens, entries, eviction = "none", recency = None))]
    fn from_entries(
        initial_vocab_size: &Bound<'_, PyAny>,
        max_codebook_size: &Bound<'_, PyAny>,
        max_subtokens: &Bound<'_, PyAny>,
        entries: &Bound<'_, PyAny>,
        eviction: &str,
        recency: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let config = CompressionConfig::new(
            int_arg(initial_vocab_size, "initial_vocab_size", invalid_config)?,
            int_arg(max_codebook_size, "max_codebook_size", invalid_config)?,
            int_arg(max_subtokens, "max_subtokens", invalid_config)?,
            [],
            None,
        )
        .map_err(to_py)?
        .with_eviction(Eviction::from_name(eviction).map_err(to_py)?);
        codebook_from_entries(&config, entries, recency).map(Self::from)
    }

    fn __repr__(&self) -> String {
        format!(
            "Codebook(<{} of {} entries>, initial_vocab_size={}, max_subtokens={}, eviction='{}')",
            self.inner.len(),
            self.inner.max_codebook_size(),
            self.inner.initial_vocab_size(),
            self.inner.max_subtokens(),
            self.inner.eviction()
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
            inner.eviction().name(),
            inner.recency_order(),
        );
        Ok((rebuild, args.into_pyobject(slf.py())?))
    }
}
