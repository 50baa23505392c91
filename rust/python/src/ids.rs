//! Reading id sequences from Python: numpy integer arrays without copying when they already
//! hold `u32`, any other integer array or sequence by one validating pass.

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};
use zip2zip::{Error, InvalidTokenReason};

use crate::errors::to_py;

/// One row of ids, validated to be non-negative and to fit `u32`.
pub(crate) enum Ids<'py> {
    Borrowed(PyReadonlyArray1<'py, u32>),
    Owned(Vec<u32>),
}

impl Ids<'_> {
    pub(crate) fn as_slice(&self) -> &[u32] {
        match self {
            Self::Borrowed(array) => array.as_slice().unwrap_or(&[]),
            Self::Owned(ids) => ids,
        }
    }
}

fn checked<T: Copy + TryInto<u32> + Into<i128>>(values: &[T]) -> Result<Vec<u32>, Error> {
    values
        .iter()
        .enumerate()
        .map(|(position, &value)| {
            value.try_into().map_err(|_| {
                let wide: i128 = value.into();
                Error::InvalidToken {
                    position,
                    id: wide.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
                    reason: if wide < 0 {
                        InvalidTokenReason::Negative
                    } else {
                        InvalidTokenReason::OutOfRange {
                            limit: u64::from(u32::MAX),
                        }
                    },
                }
            })
        })
        .collect()
}

macro_rules! try_array {
    ($object:expr, $($ty:ty),*) => {
        $(
            if let Ok(array) = $object.extract::<PyReadonlyArray1<'_, $ty>>() {
                return match array.as_slice() {
                    Ok(slice) => checked(slice).map(Ids::Owned).map_err(to_py),
                    Err(_) => checked(&array.as_array().to_vec()).map(Ids::Owned).map_err(to_py),
                };
            }
        )*
    };
}

/// Reads a 1-D sequence of integer ids: a numpy integer array, or any sequence of ints.
pub(crate) fn extract_ids<'py>(object: &Bound<'py, PyAny>) -> PyResult<Ids<'py>> {
    if let Ok(array) = object.extract::<PyReadonlyArray1<'py, u32>>() {
        if array.is_contiguous() {
            return Ok(Ids::Borrowed(array));
        }
        return Ok(Ids::Owned(array.as_array().to_vec()));
    }
    try_array!(object, i64, i32, u64, i16, u16, i8, u8);
    if object.is_instance_of::<PyString>() || object.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "expected a sequence of integer ids, got a string",
        ));
    }
    if let Ok(array) = object.cast::<numpy::PyUntypedArray>() {
        if array.ndim() != 1 {
            return Err(PyTypeError::new_err(format!(
                "expected a 1-D array of integer ids, got {} dimensions",
                array.ndim()
            )));
        }
        return Err(PyTypeError::new_err(format!(
            "expected an integer array of ids, got dtype {}",
            array.dtype()
        )));
    }
    match object.extract::<Vec<i64>>() {
        Ok(values) => checked(&values).map(Ids::Owned).map_err(to_py),
        Err(_) => extract_item_by_item(object).map(Ids::Owned),
    }
}

/// The slow path for sequences the fast extraction refused: says which item is wrong, and
/// reports integers too wide for 64 bits as invalid tokens rather than as type errors.
fn extract_item_by_item(object: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    let type_name = |value: &Bound<'_, PyAny>| {
        value
            .get_type()
            .name()
            .map_or_else(|_| "?".to_string(), |name| name.to_string())
    };
    let items = object.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected a sequence of integer ids, got {}",
            type_name(object)
        ))
    })?;
    let mut ids = Vec::new();
    for (position, item) in items.enumerate() {
        let item = item?;
        let value = match item.extract::<i64>() {
            Ok(value) => i128::from(value),
            Err(_) if item.is_instance_of::<PyInt>() => {
                if item.lt(0)? {
                    i128::from(i64::MIN)
                } else {
                    i128::from(u64::MAX)
                }
            }
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "expected a sequence of integer ids, got {} at position {position}",
                    type_name(&item)
                )))
            }
        };
        let id = checked(&[value]).map_err(|error| match error {
            Error::InvalidToken { id, reason, .. } => to_py(Error::InvalidToken {
                position,
                id,
                reason,
            }),
            other => to_py(other),
        })?;
        ids.extend(id);
    }
    Ok(ids)
}

/// Reads a batch: a 2-D integer array (one row per sequence) or a sequence of 1-D id sequences.
pub(crate) fn extract_batch<'py>(object: &Bound<'py, PyAny>) -> PyResult<Vec<Ids<'py>>> {
    let with_row = |row: usize| move |error: PyErr| prefix_row(object.py(), error, row);
    if let Ok(array) = object.extract::<PyReadonlyArray2<'py, i64>>() {
        let view = array.as_array();
        return view
            .rows()
            .into_iter()
            .enumerate()
            .map(|(row, values)| {
                checked(&values.to_vec())
                    .map(Ids::Owned)
                    .map_err(|e| to_py(e.in_row(row)))
            })
            .collect();
    }
    if object.is_instance_of::<PyString>() || object.cast::<PyArray1<u32>>().is_ok() {
        return Err(PyTypeError::new_err(
            "expected a batch: a sequence of id sequences or a 2-D integer array",
        ));
    }
    let rows = object.try_iter().map_err(|_| {
        PyTypeError::new_err("expected a batch: a sequence of id sequences or a 2-D integer array")
    })?;
    rows.enumerate()
        .map(|(row, item)| extract_ids(&item?).map_err(with_row(row)))
        .collect()
}

fn prefix_row(py: Python<'_>, error: PyErr, row: usize) -> PyErr {
    let message = format!("row {row}: {}", error.value(py));
    if error.is_instance_of::<PyTypeError>(py) {
        PyTypeError::new_err(message)
    } else if error.is_instance_of::<crate::errors::InvalidTokenError>(py) {
        crate::errors::InvalidTokenError::new_err(message)
    } else {
        error
    }
}

/// Borrows every row as a slice.
pub(crate) fn slices<'a>(rows: &'a [Ids<'_>]) -> Vec<&'a [u32]> {
    rows.iter().map(Ids::as_slice).collect()
}
