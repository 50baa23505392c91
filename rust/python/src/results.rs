//! Named results: what a method returns that has several parts is a named tuple, so callers
//! read `result.hyper_ids` (unpacking by position keeps working). The classes live in
//! `zip2zip_tokenizers._core` and pickle like any tuple.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

pub(crate) struct NamedResult {
    name: &'static str,
    fields: &'static [&'static str],
    doc: &'static str,
    class: PyOnceLock<Py<PyType>>,
}

impl NamedResult {
    const fn new(name: &'static str, fields: &'static [&'static str], doc: &'static str) -> Self {
        Self {
            name,
            fields,
            doc,
            class: PyOnceLock::new(),
        }
    }

    fn class<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyType>> {
        let class = self.class.get_or_try_init(py, || {
            let kwargs = PyDict::new(py);
            kwargs.set_item("module", "zip2zip_tokenizers._core")?;
            let class = py
                .import("collections")?
                .getattr("namedtuple")?
                .call((self.name, self.fields.to_vec()), Some(&kwargs))?;
            class.setattr("__doc__", self.doc)?;
            Ok::<_, PyErr>(class.cast_into::<PyType>()?.unbind())
        })?;
        Ok(class.bind(py))
    }

    /// An instance holding `values`, one per field in order.
    pub(crate) fn make<'py, V>(&self, py: Python<'py>, values: V) -> PyResult<Bound<'py, PyAny>>
    where
        V: pyo3::call::PyCallArgs<'py>,
    {
        self.class(py)?.call1(values)
    }

    fn register(&self, module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add(self.name, self.class(module.py())?)
    }
}

pub(crate) static NEW_ENTRIES: NamedResult = NamedResult::new(
    "NewEntries",
    &["hyper_ids", "subtokens"],
    "The hypertokens one CodebookState.update created: their ids (int64, shape (k,)) and \
     base ids (int64, shape (k, max_subtokens), padded with -1).",
);
pub(crate) static BATCH_NEW_ENTRIES: NamedResult = NamedResult::new(
    "BatchNewEntries",
    &["rows", "hyper_ids", "subtokens"],
    "The hypertokens one BatchCodebookState.update created, in row order: each one's row, id, \
     and base ids (int64, shape (k, max_subtokens), padded with -1).",
);
pub(crate) static TRACED_UPDATE: NamedResult = NamedResult::new(
    "TracedUpdate",
    &[
        "rows",
        "hyper_ids",
        "subtokens",
        "sizes",
        "next_entries",
        "next_ids",
        "columns",
    ],
    "BatchCodebookState.update_traced's result: the created hypertokens by column (rows, \
     hyper_ids, subtokens as right after their column, and columns); sizes[b, t], the \
     hypertokens row b has after column t; next_entries[b, t], the base ids (padded with -1; \
     all -1 when invalid) the next hypertoken id would stand for right after column t (LZW's \
     KwKwK case), and next_ids[b, t] that id (-1 when invalid).",
);
pub(crate) static WINDOW_BATCH: NamedResult = NamedResult::new(
    "WindowBatch",
    &["ids", "offsets", "rows", "base_starts", "base_lengths"],
    "LZWCompressor.batch_encode_windows' result, as flat columns: window k holds \
     ids[offsets[k]:offsets[k + 1]] (int32), comes from document rows[k] and covers its base \
     tokens base_starts[k] to base_starts[k] + base_lengths[k].",
);
pub(crate) static WITH_CODEBOOK: NamedResult = NamedResult::new(
    "IdsWithCodebook",
    &["ids", "codebook"],
    "Ids (int64) and the codebook that encoding or decoding them built.",
);
pub(crate) static ALTERNATIVES: NamedResult = NamedResult::new(
    "Alternatives",
    &["ids", "lengths"],
    "The pieces that may start at one base position: their ids and lengths in base tokens.",
);
pub(crate) static EDGES: NamedResult = NamedResult::new(
    "Edges",
    &["starts", "ids", "lengths"],
    "Every edge of a segmentation lattice: start position, id and length, sorted by start.",
);

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    for result in [
        &NEW_ENTRIES,
        &BATCH_NEW_ENTRIES,
        &TRACED_UPDATE,
        &WINDOW_BATCH,
        &WITH_CODEBOOK,
        &ALTERNATIVES,
        &EDGES,
    ] {
        result.register(module)?;
    }
    Ok(())
}
