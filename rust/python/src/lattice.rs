use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use zip2zip::Lattice;

use crate::config::PyCompressionConfig;
use crate::errors::{detach, invalid_argument};
use crate::ids::{extract_ids, with_rows};
use crate::ints::{count_arg, int_arg, is_integer, type_name};
use crate::results::{ALTERNATIVES, EDGES};

type Ids<'py> = Bound<'py, PyArray1<i64>>;

/// Every valid segmentation of a base sequence into ids (base tokens and hypertokens that
/// exist where they are used), as a lattice over base positions: count, enumerate, sample, or
/// read the alternatives at each position for beam or exact multi-view scoring.
#[pyclass(name = "Lattice", module = "zip2zip_tokenizers._core", frozen)]
pub(crate) struct PyLattice {
    config: Py<PyCompressionConfig>,
    inner: Lattice,
}

fn to_array(py: Python<'_>, ids: Vec<u32>) -> Ids<'_> {
    ids.into_iter()
        .map(i64::from)
        .collect::<Vec<_>>()
        .into_pyarray(py)
}

#[pymethods]
impl PyLattice {
    #[new]
    fn new(
        py: Python<'_>,
        config: Py<PyCompressionConfig>,
        base_ids: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let ids = extract_ids(base_ids)?;
        let codec = config.get().config();
        let inner = with_rows!(ids, |rows| detach(py, || Lattice::new(codec, rows[0])))?;
        Ok(Self { config, inner })
    }

    /// Number of base tokens.
    fn __len__(&self) -> usize {
        self.inner.base_len()
    }

    /// ``Alternatives(ids, lengths)`` of the pieces that may start at base position
    /// ``position`` (negative positions count from the end); the base token comes first.
    fn alternatives<'py>(
        &self,
        py: Python<'py>,
        position: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let len = self.inner.base_len();
        let out_of_range = || {
            PyIndexError::new_err(format!(
                "position {position} out of range for {len} base tokens"
            ))
        };
        if !is_integer(position) {
            return Err(PyTypeError::new_err(format!(
                "position must be an integer, got {}",
                type_name(position)
            )));
        }
        let index = position.extract::<i64>().map_err(|_| out_of_range())?;
        let index = if index < 0 {
            i64::try_from(len).map_or(-1, |len| index + len)
        } else {
            index
        };
        let index = usize::try_from(index)
            .ok()
            .filter(|&index| index < len)
            .ok_or_else(out_of_range)?;
        let pieces = self.inner.alternatives(index);
        let ids: Vec<i64> = pieces.iter().map(|p| i64::from(p.id)).collect();
        let lengths: Vec<i64> = pieces.iter().map(|p| i64::from(p.len)).collect();
        ALTERNATIVES.make(py, (ids.into_pyarray(py), lengths.into_pyarray(py)))
    }

    /// Every edge as ``Edges(starts, ids, lengths)``, sorted by start position.
    fn edges<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (mut starts, mut ids, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
        for position in 0..self.inner.base_len() {
            for piece in self.inner.alternatives(position) {
                starts.push(position as i64);
                ids.push(i64::from(piece.id));
                lengths.push(i64::from(piece.len));
            }
        }
        let arrays = (
            starts.into_pyarray(py),
            ids.into_pyarray(py),
            lengths.into_pyarray(py),
        );
        EDGES.make(py, arrays)
    }

    /// Number of segmentations (saturating at 2**128 - 1).
    fn count(&self) -> u128 {
        self.inner.count()
    }

    /// Up to ``limit`` segmentations, all-base-token path first. Raises
    /// ``LimitExceededError`` when they would hold more than 2**26 ids in all.
    #[pyo3(signature = (limit = None), text_signature = "(self, limit=1000)")]
    fn enumerate<'py>(
        &self,
        py: Python<'py>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Vec<Ids<'py>>> {
        let limit = match limit {
            None => 1000,
            Some(limit) => count_arg(limit, "limit", invalid_argument)?,
        };
        let paths = detach(py, || self.inner.enumerate(limit))?;
        Ok(paths.into_iter().map(|path| to_array(py, path)).collect())
    }

    /// One segmentation drawn uniformly at random, reproducible from ``seed``.
    #[pyo3(signature = (seed = None), text_signature = "(self, seed=0)")]
    fn sample<'py>(&self, py: Python<'py>, seed: Option<&Bound<'py, PyAny>>) -> PyResult<Ids<'py>> {
        let seed = match seed {
            None => 0,
            Some(seed) => int_arg::<u64>(seed, "seed", invalid_argument)?,
        };
        Ok(to_array(py, self.inner.sample(seed)))
    }

    fn __repr__(&self) -> String {
        format!(
            "Lattice(<{} base tokens, {} segmentations>)",
            self.inner.base_len(),
            self.inner.count()
        )
    }

    /// Pickles as the config and the base ids it was built from.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let this = slf.get();
        let base_ids = to_array(slf.py(), this.inner.base_ids());
        let args = (this.config.clone_ref(slf.py()), base_ids);
        Ok((slf.get_type().into_any(), args.into_pyobject(slf.py())?))
    }
}
