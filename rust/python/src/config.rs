use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use zip2zip::{CompressionConfig, Eviction};

use crate::errors::{invalid_config, to_py};
use crate::ints::{int_arg, type_name};

/// The codec's parameters: ``initial_vocab_size`` V (the base vocabulary, added tokens
/// included), ``max_codebook_size`` C (hypertoken ids are ``V .. V + C``), ``max_subtokens`` M
/// (longest hypertoken, in base tokens), ``disabled_ids`` (never merged), ``pad_token_id``
/// (always disabled) and ``eviction``, what a full codebook does with a new entry: ``"none"``
/// (frozen, the paper authors' codec) or ``"lru"`` (it takes the slot of the least recently
/// used leaf entry). Immutable and hashable.
#[pyclass(
    name = "CompressionConfig",
    module = "zip2zip_tokenizers._core",
    frozen,
    eq,
    hash
)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyCompressionConfig {
    pub(crate) inner: CompressionConfigKey,
}

/// The validated config plus the plain fields used for equality and hashing.
#[derive(Clone)]
pub(crate) struct CompressionConfigKey(pub(crate) CompressionConfig);

impl PartialEq for CompressionConfigKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for CompressionConfigKey {}
impl std::hash::Hash for CompressionConfigKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let c = &self.0;
        (
            c.initial_vocab_size(),
            c.max_codebook_size(),
            c.max_subtokens(),
            c.disabled_ids(),
            c.pad_token_id(),
            c.eviction(),
        )
            .hash(state);
    }
}

impl PyCompressionConfig {
    pub(crate) fn config(&self) -> &CompressionConfig {
        &self.inner.0
    }

    pub(crate) fn wrap(config: CompressionConfig) -> Self {
        Self {
            inner: CompressionConfigKey(config),
        }
    }
}

impl PyCompressionConfig {
    fn build(
        initial_vocab_size: &Bound<'_, PyAny>,
        max_codebook_size: &Bound<'_, PyAny>,
        max_subtokens: &Bound<'_, PyAny>,
        disabled_ids: Option<&Bound<'_, PyAny>>,
        pad_token_id: Option<&Bound<'_, PyAny>>,
        eviction: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let eviction = match eviction.filter(|name| !name.is_none()) {
            None => Eviction::None,
            Some(name) => {
                let name = name.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "eviction must be a string, got {}",
                        type_name(name)
                    ))
                })?;
                Eviction::from_name(name.to_str()?).map_err(to_py)?
            }
        };
        let disabled = match disabled_ids.filter(|ids| !ids.is_none()) {
            None => Vec::new(),
            Some(ids) if ids.is_instance_of::<PyString>() => {
                return Err(PyTypeError::new_err(
                    "disabled_ids must be a sequence of integers, got a string",
                ))
            }
            Some(ids) => ids
                .try_iter()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "disabled_ids must be a sequence of integers, got {}",
                        type_name(ids)
                    ))
                })?
                .enumerate()
                .map(|(index, id)| int_arg(&id?, &format!("disabled_ids[{index}]"), invalid_config))
                .collect::<PyResult<Vec<u32>>>()?,
        };
        let config = CompressionConfig::new(
            int_arg(initial_vocab_size, "initial_vocab_size", invalid_config)?,
            int_arg(max_codebook_size, "max_codebook_size", invalid_config)?,
            int_arg(max_subtokens, "max_subtokens", invalid_config)?,
            disabled,
            pad_token_id
                .filter(|pad| !pad.is_none())
                .map(|pad| int_arg(pad, "pad_token_id", invalid_config))
                .transpose()?,
        )
        .map_err(to_py)?;
        Ok(Self::wrap(config.with_eviction(eviction)))
    }
}

#[pymethods]
impl PyCompressionConfig {
    #[new]
    #[pyo3(signature = (initial_vocab_size, max_codebook_size, max_subtokens, disabled_ids = None, pad_token_id = None, eviction = None), text_signature = "(initial_vocab_size, max_codebook_size, max_subtokens, disabled_ids=None, pad_token_id=None, eviction='none')")]
    fn new(
        initial_vocab_size: &Bound<'_, PyAny>,
        max_codebook_size: &Bound<'_, PyAny>,
        max_subtokens: &Bound<'_, PyAny>,
        disabled_ids: Option<&Bound<'_, PyAny>>,
        pad_token_id: Option<&Bound<'_, PyAny>>,
        eviction: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Self::build(
            initial_vocab_size,
            max_codebook_size,
            max_subtokens,
            disabled_ids,
            pad_token_id,
            eviction,
        )
    }

    /// V: the base vocabulary size (base ids are ``0 .. V``).
    #[getter]
    fn initial_vocab_size(&self) -> u32 {
        self.config().initial_vocab_size()
    }

    /// C: the most hypertokens one sequence's codebook holds.
    #[getter]
    fn max_codebook_size(&self) -> u32 {
        self.config().max_codebook_size()
    }

    /// M: the longest hypertoken, in base tokens.
    #[getter]
    fn max_subtokens(&self) -> usize {
        self.config().max_subtokens()
    }

    /// The ids never merged, sorted, without repeats (the pad id is kept apart).
    #[getter]
    fn disabled_ids(&self) -> Vec<u32> {
        self.config().disabled_ids().to_vec()
    }

    #[getter]
    fn pad_token_id(&self) -> Option<u32> {
        self.config().pad_token_id()
    }

    /// What a full codebook does with a new entry: ``"none"`` or ``"lru"``.
    #[getter]
    fn eviction(&self) -> &'static str {
        self.config().eviction().name()
    }

    /// The eviction policies' names, ``"none"`` (the default) first.
    #[classattr]
    #[pyo3(name = "EVICTION_POLICIES")]
    fn eviction_policies(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
        PyTuple::new(py, Eviction::ALL.map(Eviction::name))
    }

    /// V + C: every valid id is below this.
    #[getter]
    fn total_vocab_size(&self) -> u32 {
        self.config().total_vocab_size()
    }

    /// Whether ``id`` is never merged (a disabled id or the pad id).
    fn is_disabled(&self, id: &Bound<'_, PyAny>) -> bool {
        id.extract::<u32>().is_ok_and(|id| {
            id < self.config().initial_vocab_size() && self.config().is_disabled(id)
        })
    }

    /// The config as a plain dict (the keys of the constructor; ``eviction`` only when it is
    /// not ``"none"``, so that configs of the authors' codec keep their dict and JSON).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("initial_vocab_size", self.initial_vocab_size())?;
        dict.set_item("max_codebook_size", self.max_codebook_size())?;
        dict.set_item("max_subtokens", self.max_subtokens())?;
        dict.set_item("disabled_ids", self.disabled_ids())?;
        dict.set_item("pad_token_id", self.pad_token_id())?;
        if self.config().eviction() != Eviction::None {
            dict.set_item("eviction", self.eviction())?;
        }
        Ok(dict)
    }

    /// Builds a config from ``to_dict()``'s output (unknown keys are an error).
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyDict>) -> PyResult<Self> {
        const KEYS: [&str; 6] = [
            "initial_vocab_size",
            "max_codebook_size",
            "max_subtokens",
            "disabled_ids",
            "pad_token_id",
            "eviction",
        ];
        for key in data.keys() {
            if !key
                .extract::<String>()
                .is_ok_and(|key| KEYS.contains(&key.as_str()))
            {
                return Err(invalid_config(format!(
                    "unknown CompressionConfig key {key:?}"
                )));
            }
        }
        let required = |name: &str| -> PyResult<Bound<'_, PyAny>> {
            data.get_item(name)?
                .ok_or_else(|| invalid_config(format!("missing CompressionConfig key {name:?}")))
        };
        Self::build(
            &required("initial_vocab_size")?,
            &required("max_codebook_size")?,
            &required("max_subtokens")?,
            data.get_item("disabled_ids")?.as_ref(),
            data.get_item("pad_token_id")?.as_ref(),
            data.get_item("eviction")?.as_ref(),
        )
    }

    /// The config as a JSON object string.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        py.import("json")?
            .call_method1("dumps", (self.to_dict(py)?,))?
            .extract()
    }

    /// Parses ``to_json()``'s output.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        let value = py.import("json")?.call_method1("loads", (text,))?;
        let dict = value
            .cast::<PyDict>()
            .map_err(|_| invalid_config("a CompressionConfig JSON must be an object".into()))?;
        Self::from_dict(dict)
    }

    pub(crate) fn __repr__(&self) -> String {
        let c = self.config();
        format!(
            "CompressionConfig(initial_vocab_size={}, max_codebook_size={}, max_subtokens={}, disabled_ids=<{} ids>, pad_token_id={}, eviction='{}')",
            c.initial_vocab_size(),
            c.max_codebook_size(),
            c.max_subtokens(),
            c.disabled_ids().len(),
            c.pad_token_id().map_or_else(|| "None".to_string(), |p| p.to_string()),
            c.eviction()
        )
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let this = slf.get();
        let args = (
            this.initial_vocab_size(),
            this.max_codebook_size(),
            this.max_subtokens(),
            this.disabled_ids(),
            this.pad_token_id(),
            this.eviction(),
        );
        Ok((slf.get_type().into_any(), args.into_pyobject(slf.py())?))
    }
}
