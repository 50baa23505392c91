use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use zip2zip::Lattice;

use crate::config::PyCompressionConfig;
use crate::errors::to_py;
use crate::ids::{extract_ids, with_ids};

type Ids<'py> = Bound<'py, PyArray1<i64>>;

/// Every valid segmentation of a base sequence into ids (base tokens and hypertokens that
/// exist where they are used), as a lattice over base positions: count, enumerate, sample, or
/// read the alternatives at each position for beam or exact multi-view scoring.
#[pyclass(name = "Lattice", module = "zip2zip_tokenizers._core", frozen)]
pub(crate) struct PyLattice {
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
        config: PyRef<'_, PyCompressionConfig>,
        base_ids: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let ids = extract_ids(base_ids)?;
        let config = config.config();
        let inner =
            with_ids!(ids.slice(), |ids| py.detach(|| Lattice::new(config, ids))).map_err(to_py)?;
        Ok(Self { inner })
    }

    /// Number of base tokens.
    fn __len__(&self) -> usize {
        self.inner.base_len()
    }

    /// ``(ids, lengths)`` of the pieces that may start at base position ``position``; the base
    /// token comes first.
    fn alternatives<'py>(
        &self,
        py: Python<'py>,
        position: usize,
    ) -> PyResult<(Ids<'py>, Ids<'py>)> {
        if position >= self.inner.base_len() {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "position {position} out of range for {} base tokens",
                self.inner.base_len()
            )));
        }
        let pieces = self.inner.alternatives(position);
        let ids: Vec<i64> = pieces.iter().map(|p| i64::from(p.id)).collect();
        let lengths: Vec<i64> = pieces.iter().map(|p| i64::from(p.len)).collect();
        Ok((ids.into_pyarray(py), lengths.into_pyarray(py)))
    }

    /// Every edge as ``(starts, ids, lengths)``, sorted by start position.
    fn edges<'py>(&self, py: Python<'py>) -> (Ids<'py>, Ids<'py>, Ids<'py>) {
        let (mut starts, mut ids, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
        for position in 0..self.inner.base_len() {
            for piece in self.inner.alternatives(position) {
                starts.push(position as i64);
                ids.push(i64::from(piece.id));
                lengths.push(i64::from(piece.len));
            }
        }
        (
            starts.into_pyarray(py),
            ids.into_pyarray(py),
            lengths.into_pyarray(py),
        )
    }

    /// Number of segmentations (saturating at 2**128 - 1).
    fn count(&self) -> u128 {
        self.inner.count()
    }

    /// Up to ``limit`` segmentations, all-base-token path first.
    #[pyo3(signature = (limit = 1000))]
    fn enumerate<'py>(&self, py: Python<'py>, limit: usize) -> Vec<Ids<'py>> {
        let paths = py.detach(|| self.inner.enumerate(limit));
        paths.into_iter().map(|path| to_array(py, path)).collect()
    }

    /// One segmentation drawn uniformly at random, reproducible from ``seed``.
    #[pyo3(signature = (seed = 0))]
    fn sample<'py>(&self, py: Python<'py>, seed: u64) -> Ids<'py> {
        to_array(py, self.inner.sample(seed))
    }

    fn __repr__(&self) -> String {
        format!(
            "Lattice(<{} base tokens, {} segmentations>)",
            self.inner.base_len(),
            self.inner.count()
        )
    }
}
