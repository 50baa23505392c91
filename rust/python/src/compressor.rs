use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use zip2zip::parallel::map_rows;
use zip2zip::{decode_into, encode_into, Codebook, CompressionConfig, EncoderPool};

use crate::codebook::PyCodebook;
use crate::config::PyCompressionConfig;
use crate::errors::to_py;
use crate::ids::{extract_batch, extract_ids, slices};

type Coder = fn(&CompressionConfig, &[u32], &mut Vec<i64>) -> zip2zip::Result<Codebook>;
type PooledCoder = fn(&EncoderPool, &[u32], &mut Vec<i64>) -> zip2zip::Result<()>;
type PooledBatchCoder = fn(&EncoderPool, &[&[u32]]) -> zip2zip::Result<Vec<Vec<i64>>>;

/// Encodes base ids into hypertoken ids and back. Stateless between calls; safe to share
/// between threads; batch methods run on the crate's thread pool with the GIL released.
#[pyclass(name = "LZWCompressor", module = "zip2zip_tokenizers._core", frozen)]
pub(crate) struct PyLZWCompressor {
    config: Py<PyCompressionConfig>,
    pool: EncoderPool,
}

impl PyLZWCompressor {
    /// Ids only: a pooled encoder, no codebook kept.
    fn run_pooled<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        coder: PooledCoder,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let ids = extract_ids(ids)?;
        let slice = ids.as_slice();
        let out = py
            .detach(|| {
                let mut out = Vec::new();
                coder(&self.pool, slice, &mut out).map(|()| out)
            })
            .map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    /// A batch, ids only: pooled encoders, one per worker task.
    fn run_pooled_batch<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
        coder: PooledBatchCoder,
    ) -> PyResult<Vec<Bound<'py, PyArray1<i64>>>> {
        let rows = extract_batch(seqs)?;
        let rows = slices(&rows);
        let results = py.detach(|| coder(&self.pool, &rows)).map_err(to_py)?;
        Ok(results
            .into_iter()
            .map(|out| out.into_pyarray(py))
            .collect())
    }

    fn run_one<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        coder: Coder,
    ) -> PyResult<(Bound<'py, PyArray1<i64>>, Codebook)> {
        let config = self.config.get().config();
        let ids = extract_ids(ids)?;
        let slice = ids.as_slice();
        let (out, codebook) = py
            .detach(|| {
                let mut out = Vec::with_capacity(slice.len());
                coder(config, slice, &mut out).map(|codebook| (out, codebook))
            })
            .map_err(to_py)?;
        Ok((out.into_pyarray(py), codebook))
    }

    fn run_batch<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
        coder: Coder,
    ) -> PyResult<Vec<(Bound<'py, PyArray1<i64>>, Codebook)>> {
        let config = self.config.get().config();
        let rows = extract_batch(seqs)?;
        let rows = slices(&rows);
        let work = rows.iter().map(|row| row.len()).sum();
        let results = py
            .detach(|| {
                map_rows(&rows, work, |row| {
                    let mut out = Vec::with_capacity(row.len());
                    coder(config, row, &mut out).map(|codebook| (out, codebook))
                })
            })
            .map_err(to_py)?;
        Ok(results
            .into_iter()
            .map(|(out, codebook)| (out.into_pyarray(py), codebook))
            .collect())
    }
}

fn wrap(codebook: Codebook) -> PyCodebook {
    PyCodebook { inner: codebook }
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
    fn encode<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        self.run_pooled(py, ids, EncoderPool::encode_into)
    }

    /// Expands any valid hypertoken stream back to base ids (1-D int64 array).
    fn decode<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        self.run_pooled(py, ids, EncoderPool::decode_into)
    }

    /// ``encode`` plus the codebook it built.
    fn encode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyArray1<i64>>, PyCodebook)> {
        let (out, codebook) = self.run_one(py, ids, encode_into)?;
        Ok((out, wrap(codebook)))
    }

    /// ``decode`` plus the codebook, equal to the one re-encoding the base ids builds.
    fn decode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyArray1<i64>>, PyCodebook)> {
        let (out, codebook) = self.run_one(py, ids, decode_into)?;
        Ok((out, wrap(codebook)))
    }

    /// ``encode`` over a batch (a sequence of id sequences or a 2-D array), in parallel.
    fn batch_encode<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyArray1<i64>>>> {
        self.run_pooled_batch(py, seqs, |pool, rows| pool.batch_encode(rows))
    }

    /// ``decode`` over a batch, in parallel.
    fn batch_decode<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyArray1<i64>>>> {
        self.run_pooled_batch(py, seqs, |pool, rows| pool.batch_decode(rows))
    }

    /// ``encode_with_codebook`` over a batch, in parallel.
    fn batch_encode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<(Bound<'py, PyArray1<i64>>, PyCodebook)>> {
        Ok(self
            .run_batch(py, seqs, encode_into)?
            .into_iter()
            .map(|(ids, codebook)| (ids, wrap(codebook)))
            .collect())
    }

    /// ``decode_with_codebook`` over a batch, in parallel.
    fn batch_decode_with_codebook<'py>(
        &self,
        py: Python<'py>,
        seqs: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<(Bound<'py, PyArray1<i64>>, PyCodebook)>> {
        Ok(self
            .run_batch(py, seqs, decode_into)?
            .into_iter()
            .map(|(ids, codebook)| (ids, wrap(codebook)))
            .collect())
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
