//! The integer types ids may arrive in, so callers (numpy arrays of int64, say) need no
//! conversion pass: each id is checked and narrowed where it is read.

use crate::error::{Error, InvalidTokenReason};

/// An integer type holding token ids.
pub trait TokenId: Copy + Send + Sync {
    /// The id as a `u32`, or `None` when it is negative or does not fit.
    fn to_u32(self) -> Option<u32>;
    /// The value, saturated to `i64`, for error messages.
    fn to_i64(self) -> i64;
    fn is_negative(self) -> bool;
}

macro_rules! token_id {
    ($($ty:ty),*) => {$(
        impl TokenId for $ty {
            #[inline]
            fn to_u32(self) -> Option<u32> {
                u32::try_from(self).ok()
            }
            #[inline]
            fn to_i64(self) -> i64 {
                i64::try_from(self).unwrap_or(i64::MAX)
            }
            #[inline]
            #[allow(unused_comparisons)]
            fn is_negative(self) -> bool {
                self < 0
            }
        }
    )*};
}

token_id!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// The error for `id` at `position`, which is negative or not below `limit`.
pub(crate) fn invalid<I: TokenId>(position: usize, id: I, limit: u32) -> Error {
    Error::InvalidToken {
        position,
        id: id.to_i64(),
        reason: if id.is_negative() {
            InvalidTokenReason::Negative
        } else {
            InvalidTokenReason::OutOfRange {
                limit: u64::from(limit),
            }
        },
    }
}

/// Every id as a `u32` below `limit`, or the error for the first that is not.
pub(crate) fn check_below<I: TokenId>(ids: &[I], limit: u32) -> Result<(), Error> {
    match ids
        .iter()
        .position(|&id| id.to_u32().is_none_or(|id| id >= limit))
    {
        None => Ok(()),
        Some(position) => Err(invalid(position, ids[position], limit)),
    }
}
