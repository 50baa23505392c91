//! Integer arguments: a value that is not an integer is a `TypeError`, one out of the range the
//! codec takes raises the caller's chosen class (never a bare `OverflowError`); both name the
//! argument and the value.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBool;

/// The range of an integer type, for messages.
pub(crate) trait Bounded: for<'a, 'py> FromPyObject<'a, 'py> {
    const MIN: i128;
    const MAX: i128;
}

impl Bounded for u32 {
    const MIN: i128 = 0;
    const MAX: i128 = u32::MAX as i128;
}
impl Bounded for u64 {
    const MIN: i128 = 0;
    const MAX: i128 = u64::MAX as i128;
}
impl Bounded for usize {
    const MIN: i128 = 0;
    const MAX: i128 = usize::MAX as i128;
}
impl Bounded for i64 {
    const MIN: i128 = i64::MIN as i128;
    const MAX: i128 = i64::MAX as i128;
}

/// Whether `value` is an integer (a Python int or anything with `__index__`, bool excluded).
pub(crate) fn is_integer(value: &Bound<'_, PyAny>) -> bool {
    !value.is_instance_of::<PyBool>() && value.hasattr("__index__").unwrap_or(false)
}

pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |name| name.to_string())
}

/// `value` as a `T`; out of `T`'s range, `out_of_range(message)`.
pub(crate) fn int_arg<T: Bounded>(
    value: &Bound<'_, PyAny>,
    name: &str,
    out_of_range: fn(String) -> PyErr,
) -> PyResult<T> {
    if !is_integer(value) {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an integer, got {}",
            type_name(value)
        )));
    }
    value.extract::<T>().map_err(|_| {
        out_of_range(format!(
            "{name} must be between {} and {}, got {value}",
            T::MIN,
            T::MAX
        ))
    })
}

/// A count (a limit, a window): a non-negative integer, where a value past `usize::MAX` means
/// the same as `usize::MAX` (no limit at all); a negative one is `out_of_range`.
pub(crate) fn count_arg(
    value: &Bound<'_, PyAny>,
    name: &str,
    out_of_range: fn(String) -> PyErr,
) -> PyResult<usize> {
    if is_integer(value) && value.gt(0)? {
        return Ok(value.extract::<usize>().unwrap_or(usize::MAX));
    }
    if is_integer(value) && value.lt(0)? {
        return Err(out_of_range(format!(
            "{name} must not be negative, got {value}"
        )));
    }
    int_arg::<usize>(value, name, out_of_range)
}
