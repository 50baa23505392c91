//! The Python exception hierarchy and the one mapping from core errors to it.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;
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
    "A compression config (or a value checked against it) that is not valid."
);

pub(crate) fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    match error.root() {
        Error::InvalidToken { .. } => InvalidTokenError::new_err(message),
        Error::InvalidConfig(_) | Error::InRow { .. } => InvalidConfigError::new_err(message),
    }
}

pub(crate) fn invalid_config(message: impl Into<String>) -> PyErr {
    InvalidConfigError::new_err(message.into())
}
