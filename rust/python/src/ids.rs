//! Reading ids from Python. Contiguous numpy arrays of `int64` or `uint32` are borrowed, not
//! copied: the core reads and checks each id where it uses it. Other integer arrays and Python
//! sequences are read into an `int64` vector once.

use std::collections::HashMap;

use numpy::{
    PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};
use zip2zip::{Error, InvalidTokenReason};

use crate::errors::{to_py, InvalidTokenError};

/// One row of ids.
pub(crate) enum Ids<'py> {
    U32(PyReadonlyArray1<'py, u32>),
    I64(PyReadonlyArray1<'py, i64>),
    Owned(Vec<i64>),
}

/// A row's ids as a slice of the type they arrived in.
#[derive(Clone, Copy)]
pub(crate) enum IdSlice<'a> {
    U32(&'a [u32]),
    I64(&'a [i64]),
}

impl Ids<'_> {
    pub(crate) fn slice(&self) -> IdSlice<'_> {
        match self {
            Self::U32(array) => IdSlice::U32(array.as_slice().unwrap_or(&[])),
            Self::I64(array) => IdSlice::I64(array.as_slice().unwrap_or(&[])),
            Self::Owned(ids) => IdSlice::I64(ids),
        }
    }
}

fn widen(array: &PyReadonlyArray1<'_, u32>) -> Vec<i64> {
    array.as_array().iter().map(|&id| i64::from(id)).collect()
}

/// Runs `$body` with `$ids` bound to the row's slice, whatever its integer type.
macro_rules! with_ids {
    ($slice:expr, |$ids:ident| $body:expr) => {
        match $slice {
            $crate::ids::IdSlice::U32($ids) => $body,
            $crate::ids::IdSlice::I64($ids) => $body,
        }
    };
}
pub(crate) use with_ids;

/// Rows of a batch, all as slices of one integer type.
pub(crate) enum RowSlices<'a> {
    U32(Vec<&'a [u32]>),
    I64(Vec<&'a [i64]>),
}

/// Runs `$body` with `$rows` bound to the batch's row slices, whatever their integer type.
macro_rules! with_rows {
    ($rows:expr, |$slices:ident| $body:expr) => {
        match $rows {
            $crate::ids::RowSlices::U32($slices) => $body,
            $crate::ids::RowSlices::I64($slices) => $body,
        }
    };
}
pub(crate) use with_rows;

/// A batch, its rows all read as one integer type.
pub(crate) enum Batch<'py> {
    /// Every row a contiguous `uint32` array.
    U32(Vec<PyReadonlyArray1<'py, u32>>),
    /// Rows read as `int64`, on their own or as views into shared base arrays.
    I64 {
        rows: Vec<I64Row<'py>>,
        bases: Vec<PyReadonlyArrayDyn<'py, i64>>,
    },
    /// One C-contiguous `int64` matrix, a row per sequence.
    Matrix(PyReadonlyArray2<'py, i64>),
}

/// One `int64` row of a batch: read on its own, or a contiguous view into a shared base.
///
/// Views (windows sliced from one document, rows of a matrix) are read through one borrow of
/// their base: numpy's borrow tracking checks each new borrow of a base against all borrows
/// already held on it, so borrowing thousands of views of one array would cost quadratic time.
pub(crate) enum I64Row<'py> {
    Array(PyReadonlyArray1<'py, i64>),
    Owned(Vec<i64>),
    InBase {
        base: usize,
        start: usize,
        len: usize,
    },
}

impl<'py> From<Ids<'py>> for I64Row<'py> {
    fn from(ids: Ids<'py>) -> Self {
        match ids {
            Ids::U32(array) => Self::Owned(widen(&array)),
            Ids::I64(array) => Self::Array(array),
            Ids::Owned(ids) => Self::Owned(ids),
        }
    }
}

impl Batch<'_> {
    pub(crate) fn rows(&self) -> RowSlices<'_> {
        match self {
            Self::Matrix(array) => {
                let (height, width) = (array.shape()[0], array.shape()[1]);
                let data = array.as_slice().unwrap_or(&[]);
                RowSlices::I64(
                    (0..height)
                        .map(|row| &data[row * width..(row + 1) * width])
                        .collect(),
                )
            }
            Self::U32(rows) => RowSlices::U32(
                rows.iter()
                    .map(|array| array.as_slice().unwrap_or(&[]))
                    .collect(),
            ),
            Self::I64 { rows, bases } => RowSlices::I64(
                rows.iter()
                    .map(|row| match row {
                        I64Row::Array(array) => array.as_slice().unwrap_or(&[]),
                        I64Row::Owned(ids) => ids,
                        I64Row::InBase { base, start, len } => bases[*base]
                            .as_slice()
                            .ok()
                            .and_then(|data| data.get(*start..start + len))
                            .unwrap_or(&[]),
                    })
                    .collect(),
            ),
        }
    }
}

/// Places a contiguous int64 view inside its (borrowed once) C-contiguous int64 base array.
fn view_in_base<'py>(
    item: &Bound<'py, PyAny>,
    bases: &mut Vec<PyReadonlyArrayDyn<'py, i64>>,
    base_index: &mut HashMap<usize, usize>,
) -> PyResult<Option<I64Row<'py>>> {
    let Ok(view) = item.cast::<PyArray1<i64>>() else {
        return Ok(None);
    };
    if !view.is_contiguous() {
        return Ok(None);
    }
    let base = view.getattr("base")?;
    let Ok(base_array) = base.cast::<PyArrayDyn<i64>>() else {
        return Ok(None);
    };
    if !base_array.is_c_contiguous() {
        return Ok(None);
    }
    let base_address = base_array.data() as usize;
    let Some(offset) = (view.data() as usize).checked_sub(base_address) else {
        return Ok(None);
    };
    let start = offset / std::mem::size_of::<i64>();
    let len = view.len();
    if offset % std::mem::size_of::<i64>() != 0 || start + len > base_array.len() {
        return Ok(None);
    }
    let index = match base_index.get(&base_address) {
        Some(&index) => index,
        None => {
            bases.push(base_array.readonly());
            base_index.insert(base_address, bases.len() - 1);
            bases.len() - 1
        }
    };
    Ok(Some(I64Row::InBase {
        base: index,
        start,
        len,
    }))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |name| name.to_string())
}

macro_rules! try_widen {
    ($object:expr, $($ty:ty),*) => {
        $(
            if let Ok(array) = $object.extract::<PyReadonlyArray1<'_, $ty>>() {
                let wide = array.as_array().iter().map(|&id| zip2zip::TokenId::to_i64(id)).collect();
                return Ok(Ids::Owned(wide));
            }
        )*
    };
}

/// Reads a 1-D sequence of integer ids: a numpy integer array, or any sequence of ints.
pub(crate) fn extract_ids<'py>(object: &Bound<'py, PyAny>) -> PyResult<Ids<'py>> {
    if let Ok(array) = object.extract::<PyReadonlyArray1<'py, i64>>() {
        return Ok(if array.is_contiguous() {
            Ids::I64(array)
        } else {
            Ids::Owned(array.as_array().to_vec())
        });
    }
    if let Ok(array) = object.extract::<PyReadonlyArray1<'py, u32>>() {
        return Ok(if array.is_contiguous() {
            Ids::U32(array)
        } else {
            Ids::Owned(widen(&array))
        });
    }
    try_widen!(object, i32, u64, i16, u16, i8, u8);
    if object.is_instance_of::<PyString>() || object.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "expected a sequence of integer ids, got a string",
        ));
    }
    if let Ok(array) = object.cast::<PyUntypedArray>() {
        return Err(PyTypeError::new_err(if array.ndim() == 1 {
            format!(
                "expected an integer array of ids, got dtype {}",
                array.dtype()
            )
        } else {
            format!(
                "expected a 1-D array of integer ids, got {} dimensions",
                array.ndim()
            )
        }));
    }
    match object.extract::<Vec<i64>>() {
        Ok(values) => Ok(Ids::Owned(values)),
        Err(_) => extract_item_by_item(object).map(Ids::Owned),
    }
}

/// The slow path for sequences the fast extraction refused: says which item is wrong, and
/// reports integers too wide for 64 bits as invalid tokens rather than as type errors.
fn extract_item_by_item(object: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    let items = object.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected a sequence of integer ids, got {}",
            type_name(object)
        ))
    })?;
    let mut ids = Vec::new();
    for (position, item) in items.enumerate() {
        let item = item?;
        match item.extract::<i64>() {
            Ok(value) => ids.push(value),
            Err(_) if item.is_instance_of::<PyInt>() => {
                let negative = item.lt(0)?;
                return Err(to_py(Error::InvalidToken {
                    position,
                    id: if negative { i64::MIN } else { i64::MAX },
                    reason: if negative {
                        InvalidTokenReason::Negative
                    } else {
                        InvalidTokenReason::OutOfRange {
                            limit: u64::from(u32::MAX),
                        }
                    },
                }));
            }
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "expected a sequence of integer ids, got {} at position {position}",
                    type_name(&item)
                )))
            }
        }
    }
    Ok(ids)
}

/// Reads a batch: a 2-D integer array (one row per sequence) or a sequence of 1-D id sequences.
pub(crate) fn extract_batch<'py>(object: &Bound<'py, PyAny>) -> PyResult<Batch<'py>> {
    if let Ok(array) = object.extract::<PyReadonlyArray2<'py, i64>>() {
        if array.is_c_contiguous() {
            return Ok(Batch::Matrix(array));
        }
    }
    if object.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "expected a batch: a sequence of id sequences or a 2-D integer array",
        ));
    }
    if let Ok(array) = object.cast::<PyUntypedArray>() {
        if array.ndim() != 2 {
            return Err(PyTypeError::new_err(format!(
                "expected a batch: a 2-D integer array, got {} dimensions",
                array.ndim()
            )));
        }
    }
    let items = object.try_iter().map_err(|_| {
        PyTypeError::new_err("expected a batch: a sequence of id sequences or a 2-D integer array")
    })?;
    let mut alone = Vec::new();
    let mut views = Vec::new();
    let mut bases = Vec::new();
    let mut base_index = HashMap::new();
    for (index, item) in items.enumerate() {
        let item = item?;
        match view_in_base(&item, &mut bases, &mut base_index)? {
            Some(view) => views.push((index, view)),
            None => alone.push((
                index,
                extract_ids(&item).map_err(|error| prefix_row(object.py(), error, index))?,
            )),
        }
    }
    if views.is_empty() && alone.iter().all(|(_, ids)| matches!(ids, Ids::U32(_))) {
        let rows = alone
            .into_iter()
            .filter_map(|(_, ids)| match ids {
                Ids::U32(array) => Some(array),
                _ => None,
            })
            .collect();
        return Ok(Batch::U32(rows));
    }
    let mut rows: Vec<(usize, I64Row<'py>)> = views;
    rows.extend(
        alone
            .into_iter()
            .map(|(index, ids)| (index, I64Row::from(ids))),
    );
    rows.sort_unstable_by_key(|(index, _)| *index);
    Ok(Batch::I64 {
        rows: rows.into_iter().map(|(_, row)| row).collect(),
        bases,
    })
}

fn prefix_row(py: Python<'_>, error: PyErr, row: usize) -> PyErr {
    let message = format!("row {row}: {}", error.value(py));
    if error.is_instance_of::<PyTypeError>(py) {
        PyTypeError::new_err(message)
    } else if error.is_instance_of::<InvalidTokenError>(py) {
        InvalidTokenError::new_err(message)
    } else {
        error
    }
}
