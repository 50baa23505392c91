//! The Python exception hierarchy, the one mapping from core errors to it, and the one helper
//! that runs core work with the GIL released.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use zip2zip::Error;

create_exception!(
    zip2zip_tokenizers._core,
    Zip2ZipError,
    PyValueError,
    "Base class of every error zip2zip-tokenizers raises on bad input."
);
create_exception!(
    zip2zip_tokenizers._core,
    InvalidTokenError,
    Zip2ZipError,
    "An id that is negative, out of range, or a hypertoken that does not exist at its position."
);
create_exception!(
    zip2zip_tokenizers._core,
    InvalidConfigError,
    Zip2ZipError,
    "Codec parameters (V, C, M, disabled ids, pad id) that do not make a valid config."
);
create_exception!(
    zip2zip_tokenizers._core,
    InvalidArgumentError,
    Zip2ZipError,
    "An argument of the wrong shape or value: a row count, a mask, a window, a batch size..."
);
create_exception!(
    zip2zip_tokenizers._core,
    InvalidCodebookError,
    Zip2ZipError,
    "Codebook entries (or a saved state) that greedy encoding could not have built."
);
create_exception!(
    zip2zip_tokenizers._core,
    LimitExceededError,
    Zip2ZipError,
    "A size over one of the codec's documented limits, refused before allocating."
);

create_exception!(
    zip2zip_tokenizers._core,
    UnsupportedTokenizerError,
    Zip2ZipError,
    "A tokenizer.json the native text encoder would not reproduce exactly (the message lists why)."
);
create_exception!(
    zip2zip_tokenizers._core,
    InvalidTokenizerError,
    Zip2ZipError,
    "A tokenizer.json that is not a valid tokenizer (bad JSON, a missing field, a bad merge)."
);

/// A core error on its way to Python.
pub(crate) struct CoreError(pub(crate) Error);

impl From<Error> for CoreError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

/// Each variant to its own class; a batch row's error keeps its row in the message.
impl From<CoreError> for PyErr {
    fn from(CoreError(error): CoreError) -> Self {
        let message = error.to_string();
        match error.root() {
            Error::InvalidToken { .. } => InvalidTokenError::new_err(message),
            Error::InvalidConfig(_) => InvalidConfigError::new_err(message),
            Error::InvalidArgument { .. } => InvalidArgumentError::new_err(message),
            Error::InvalidCodebook(_) => InvalidCodebookError::new_err(message),
            Error::LimitExceeded { .. } => LimitExceededError::new_err(message),
            Error::UnsupportedTokenizer(_) => UnsupportedTokenizerError::new_err(message),
            Error::InvalidTokenizer(_) => InvalidTokenizerError::new_err(message),
            Error::InRow { .. } => Zip2ZipError::new_err(message),
        }
    }
}

pub(crate) fn to_py(error: Error) -> PyErr {
    CoreError(error).into()
}

/// Runs `work` with the GIL released and maps its error.
pub(crate) fn detach<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> zip2zip::Result<T> + Send,
) -> PyResult<T> {
    py.detach(work).map_err(to_py)
}

pub(crate) fn invalid_argument(message: String) -> PyErr {
    InvalidArgumentError::new_err(message)
}

pub(crate) fn invalid_config(message: String) -> PyErr {
    InvalidConfigError::new_err(message)
}

pub(crate) fn invalid_codebook(message: String) -> PyErr {
    InvalidCodebookError::new_err(message)
}
