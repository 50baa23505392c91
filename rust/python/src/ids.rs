//! Reading ids from Python. Contiguous numpy arrays of `int64` or `uint32` are borrowed, not
//! copied: the core reads and checks each id where it uses it. Other integer arrays and Python
//! sequences are read into an `int64` vector once.
//!
//! A [`Batch`] owns what was read (numpy borrows must outlive the work, which runs with the GIL
//! released); [`Batch::rows`] lends it as [`Rows`], slices of one integer type, and
//! [`with_rows!`] runs generic code on whichever type that is.

use std::collections::HashMap;

use numpy::{
    Element, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::critical_section::with_critical_section;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString, PyTuple};
use zip2zip::{InvalidTokenReason, TokenId};

use crate::errors::InvalidTokenError;
use crate::ints::type_name;

/// Ids read from Python: one row (a sequence) or many (a batch).
pub(crate) enum Batch<'py> {
    /// Every row a contiguous `uint32` array.
    U32(Vec<PyReadonlyArray1<'py, u32>>),
    /// Rows read as `int64`: borrowed, owned, or views into shared base arrays.
    I64 {
        rows: Vec<Row<'py>>,
        bases: Vec<PyReadonlyArrayDyn<'py, i64>>,
    },
}

/// One `int64` row of a batch.
///
/// Views (windows sliced from one document, rows of a matrix) are read through one borrow of
/// their base: numpy's borrow tracking checks each new borrow of a base against all borrows
/// already held on it, so borrowing thousands of views of one array would cost quadratic time.
pub(crate) enum Row<'py> {
    Array(PyReadonlyArray1<'py, i64>),
    Owned(Vec<i64>),
    InBase {
        base: usize,
        start: usize,
        len: usize,
    },
}

/// A batch's rows as slices of the integer type they arrived in.
pub(crate) enum Rows<'a> {
    U32(Vec<&'a [u32]>),
    I64(Vec<&'a [i64]>),
}

/// Runs `$body` with `$rows` bound to a batch's row slices, whatever their integer type.
macro_rules! with_rows {
    ($batch:expr, |$rows:ident| $body:expr) => {
        match $batch.rows() {
            $crate::ids::Rows::U32($rows) => $body,
            $crate::ids::Rows::I64($rows) => $body,
        }
    };
}
pub(crate) use with_rows;

impl<'py> Batch<'py> {
    fn one(row: Row<'py>) -> Self {
        Self::I64 {
            rows: vec![row],
            bases: Vec::new(),
        }
    }

    pub(crate) fn rows(&self) -> Rows<'_> {
        match self {
            Self::U32(rows) => Rows::U32(
                rows.iter()
                    .map(|array| array.as_slice().unwrap_or(&[]))
                    .collect(),
            ),
            Self::I64 { rows, bases } => Rows::I64(
                rows.iter()
                    .map(|row| match row {
                        Row::Array(array) => array.as_slice().unwrap_or(&[]),
                        Row::Owned(ids) => ids,
                        Row::InBase { base, start, len } => bases[*base]
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

/// Reads a 1-D sequence of integer ids (a numpy integer array or any sequence of ints) as a
/// batch of one row.
pub(crate) fn extract_ids<'py>(object: &Bound<'py, PyAny>) -> PyResult<Batch<'py>> {
    // Lists and tuples first: every numpy extraction below fails on them, each failure
    // building a Python exception (a quarter of a 1024-id call's time).
    if let Ok(list) = object.cast::<PyList>() {
        let ids = match list_ids(list) {
            Some(ids) => ids,
            None => sequence_ids(object, list.iter())?,
        };
        return Ok(Batch::one(Row::Owned(ids)));
    }
    if let Ok(tuple) = object.cast::<PyTuple>() {
        return Ok(Batch::one(Row::Owned(sequence_ids(object, tuple.iter())?)));
    }
    let copy;
    let object = match object.cast::<PyUntypedArray>() {
        Ok(array) if array.ndim() == 1 && !readable_in_place(array) => {
            copy = object
                .py()
                .import("numpy")?
                .call_method1("require", (object, object.py().None(), "CA"))?;
            &copy
        }
        _ => object,
    };
    if let Ok(array) = object.extract::<PyReadonlyArray1<'py, i64>>() {
        return Ok(Batch::one(Row::Array(array)));
    }
    if let Ok(array) = object.extract::<PyReadonlyArray1<'py, u32>>() {
        return Ok(Batch::U32(vec![array]));
    }
    if let Ok(array) = object.extract::<PyReadonlyArray1<'py, u64>>() {
        // Past i64::MAX a value would be reported saturated: name the real one here.
        let too_big = array
            .as_slice()?
            .iter()
            .position(|&id| id > i64::MAX as u64);
        if let Some(position) = too_big {
            let id = array.as_slice()?[position];
            let limit = u64::from(u32::MAX);
            return Err(InvalidTokenError::new_err(format!(
                "invalid token id {id} at position {position}: {}",
                InvalidTokenReason::OutOfRange { limit }
            )));
        }
    }
    let widened = widen::<i32>(object)
        .or_else(|| widen::<u64>(object))
        .or_else(|| widen::<i16>(object))
        .or_else(|| widen::<u16>(object))
        .or_else(|| widen::<i8>(object))
        .or_else(|| widen::<u8>(object));
    if let Some(ids) = widened {
        return Ok(Batch::one(Row::Owned(ids)));
    }
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
    let ids = extract_item_by_item(object)?;
    Ok(Batch::one(Row::Owned(ids)))
}

/// A list's ids read from borrowed items (two C calls per item, where iterating takes owned
/// references: five); `None` at the first item that is not an exact `int` in `i64` range,
/// which the caller's slower paths accept (an `int` subclass) or name (anything else).
fn list_ids(list: &Bound<'_, PyList>) -> Option<Vec<i64>> {
    // A free-threaded build could change the list from another thread: hold it meanwhile (no
    // cost where the GIL already does).
    with_critical_section(list.as_any(), || {
        let len = list.len();
        let mut ids = Vec::with_capacity(len);
        for index in 0..len {
            // SAFETY: the thread is attached (`list` is a `Bound`) and `index` is below the
            // length read above; nothing here runs Python code (an exact `int` converts without
            // calling back) and nothing else changes the list, so the borrowed item stays alive
            // while it is read.
            let value = unsafe {
                let item = ffi::PyList_GetItem(list.as_ptr(), index as ffi::Py_ssize_t);
                if item.is_null() {
                    ffi::PyErr_Clear();
                    return None;
                }
                if ffi::Py_TYPE(item) != std::ptr::addr_of_mut!(ffi::PyLong_Type) {
                    return None;
                }
                let value = ffi::PyLong_AsLongLong(item);
                if value == -1 && !ffi::PyErr_Occurred().is_null() {
                    ffi::PyErr_Clear();
                    return None;
                }
                value
            };
            ids.push(value);
        }
        Some(ids)
    })
}

/// The items of a list or tuple as ids in one pass; at the first item that is not a plain
/// `int` in `i64` range (a bool, a float, a huge int), the item-by-item path names it.
fn sequence_ids<'py>(
    object: &Bound<'py, PyAny>,
    items: impl ExactSizeIterator<Item = Bound<'py, PyAny>>,
) -> PyResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        match item.extract::<i64>() {
            Ok(value) if !item.is_exact_instance_of::<PyBool>() => ids.push(value),
            _ => return extract_item_by_item(object),
        }
    }
    Ok(ids)
}

/// Whether an array's memory can be read as a slice: contiguous and aligned (numpy can make
/// arrays that are neither, e.g. `np.frombuffer(data, offset=1)`); others are copied first.
fn readable_in_place(array: &Bound<'_, PyUntypedArray>) -> bool {
    array.is_contiguous() && array.is_aligned()
}

/// A 1-D integer array of another dtype, widened to `int64` (values past `i64::MAX`
/// saturate, and are then rejected as out of range).
fn widen<T: Element + TokenId>(object: &Bound<'_, PyAny>) -> Option<Vec<i64>> {
    let array = object.extract::<PyReadonlyArray1<'_, T>>().ok()?;
    Some(array.as_array().iter().map(|&id| id.to_i64()).collect())
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
            Ok(value) if !item.is_exact_instance_of::<PyBool>() => ids.push(value),
            Err(_) if item.is_instance_of::<PyInt>() => {
                let reason = if item.lt(0)? {
                    InvalidTokenReason::Negative
                } else {
                    InvalidTokenReason::OutOfRange {
                        limit: u64::from(u32::MAX),
                    }
                };
                return Err(InvalidTokenError::new_err(format!(
                    "invalid token id {item} at position {position}: {reason}"
                )));
            }
            _ => {
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
    if let Ok(matrix) = object.cast::<PyArrayDyn<i64>>() {
        if matrix.ndim() == 2 && matrix.is_c_contiguous() && matrix.is_aligned() {
            let (height, width) = (matrix.shape()[0], matrix.shape()[1]);
            let rows = (0..height)
                .map(|row| Row::InBase {
                    base: 0,
                    start: row * width,
                    len: width,
                })
                .collect();
            return Ok(Batch::I64 {
                rows,
                bases: vec![matrix.readonly()],
            });
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
    let mut u32_rows = Vec::new();
    let mut rows = Vec::new();
    let mut bases = Vec::new();
    let mut base_index = HashMap::new();
    for (index, item) in items.enumerate() {
        let item = item?;
        let row = match view_in_base(&item, &mut bases, &mut base_index)? {
            Some(view) => view,
            None => {
                match extract_ids(&item).map_err(|error| prefix_row(item.py(), error, index))? {
                    Batch::U32(mut arrays) => match arrays.pop() {
                        Some(array) if rows.is_empty() => {
                            u32_rows.push(array);
                            continue;
                        }
                        Some(array) => Row::Owned(widen_u32(&array)),
                        None => Row::Owned(Vec::new()),
                    },
                    Batch::I64 { mut rows, .. } => rows.pop().unwrap_or(Row::Owned(Vec::new())),
                }
            }
        };
        // The first row that is not a uint32 array turns the earlier ones into int64 rows.
        rows.extend(
            u32_rows
                .drain(..)
                .map(|array| Row::Owned(widen_u32(&array))),
        );
        rows.push(row);
    }
    if rows.is_empty() {
        return Ok(Batch::U32(u32_rows));
    }
    Ok(Batch::I64 { rows, bases })
}

fn widen_u32(array: &PyReadonlyArray1<'_, u32>) -> Vec<i64> {
    array.as_array().iter().map(|&id| i64::from(id)).collect()
}

/// Places a contiguous int64 view inside its (borrowed once) C-contiguous int64 base array.
fn view_in_base<'py>(
    item: &Bound<'py, PyAny>,
    bases: &mut Vec<PyReadonlyArrayDyn<'py, i64>>,
    base_index: &mut HashMap<usize, usize>,
) -> PyResult<Option<Row<'py>>> {
    let Ok(view) = item.cast::<PyArray1<i64>>() else {
        return Ok(None);
    };
    if !view.is_contiguous() || !view.is_aligned() {
        return Ok(None);
    }
    let base = view.getattr("base")?;
    let Ok(base_array) = base.cast::<PyArrayDyn<i64>>() else {
        return Ok(None);
    };
    if !base_array.is_c_contiguous() || !base_array.is_aligned() {
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
    Ok(Some(Row::InBase {
        base: index,
        start,
        len,
    }))
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
