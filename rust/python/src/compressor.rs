use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use zip2zip::parallel::map_rows;
use zip2zip::{decode_into, encode_into, Codebook, EncoderPool};

use crate::codebook::PyCodebook;
use crate::config::PyCompressionConfig;
use crate::errors::to_py;
use crate::ids::{extract_batch, extract_ids, with_ids, with_rows};

type Ids<'py> = Bound<'py, PyArray1<i64>>;

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
        let out = with_ids!(ids.slice(), |ids| py.detach(|| {
            let mut out = Vec::new();
            match direction {
                Direction::Encode => pool.encode_into(ids, &mut out),
                Direction::Decode => pool.decode_into(ids, &mut out),
            }
            .map(|()| out)
        }))
        .map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    fn one_with_codebook<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        direction: Direction,
    ) -> PyResult<(Ids<'py>, PyCodebook)> {
        let ids = extract_ids(ids)?;
        let config = self.config.get().config();
        let (out, codebook) = with_ids!(ids.slice(), |ids| py.detach(|| {
            let mut out = Vec::new();
            match direction {
                Direction::Encode => encode_into(config, ids, &mut out),
                Direction::Decode => decode_into(config, ids, &mut out),
            }
            .map(|codebook| (out, codebook))
        }))
        .map_err(to_py)?;
        Ok((out.into_pyarray(py), PyCodebook::from(codebook)))
    }

    fn batch<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
        direction: Direction,
    ) -> PyResult<Vec<Ids<'py>>> {
        let batch = extract_batch(seqs)?;
        let pool = &self.pool;
        let results: Vec<Vec<i64>> =
            with_rows!(batch.rows(), |rows| py.detach(|| match direction {
                Direction::Encode => pool.batch_encode(&rows),
                Direction::Decode => pool.batch_decode(&rows),
            }))
            .map_err(to_py)?;
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
    ) -> PyResult<Vec<(Ids<'py>, PyCodebook)>> {
        let batch = extract_batch(seqs)?;
        let config = self.config.get().config();
        let results: Vec<(Vec<i64>, Codebook)> = with_rows!(batch.rows(), |rows| py.detach(|| {
            let work = rows.iter().map(|row| row.len()).sum();
            map_rows(&rows, work, |row| {
                let mut out = Vec::new();
                match direction {
                    Direction::Encode => encode_into(config, row, &mut out),
                    Direction::Decode => decode_into(config, row, &mut out),
                }
                .map(|codebook| (out, codebook))
            })
        }))
        .map_err(to_py)?;
        Ok(results
            .into_iter()
            .map(|(out, codebook)| (out.into_pyarray(py), PyCodebook::from(codebook)))
            .collect())
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

    /// ``encode`` plus the codebook it built.
    fn encode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<(Ids<'py>, PyCodebook)> {
        self.one_with_codebook(py, ids, Direction::Encode)
    }

    /// ``decode`` plus the codebook, equal to the one re-encoding the base ids builds.
    fn decode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<(Ids<'py>, PyCodebook)> {
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
    ) -> PyResult<Vec<(Ids<'py>, PyCodebook)>> {
        self.batch_with_codebook(py, seqs, Direction::Encode)
    }

    /// ``decode_with_codebook`` over a batch, in parallel.
    fn batch_decode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<(Ids<'py>, PyCodebook)>> {
        self.batch_with_codebook(py, seqs, Direction::Decode)
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
