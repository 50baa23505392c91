//! Sizes the codec refuses before allocating. A failed allocation aborts a Rust process (it is
//! not a panic that could be caught), so every allocation whose size comes from an argument
//! rather than from the input's own length is checked against these limits first and refused
//! with [`Error::LimitExceeded`]. See `docs/codec.md`.

use crate::error::{Error, Result};

/// Most rows a [`crate::BatchCodebookState`] may have (an empty row costs about 300 bytes).
pub const MAX_BATCH_SIZE: usize = 1 << 20;

/// Most ids one result may hold, padding included: a decoded sequence, the base tokens one
/// state update feeds, a matrix of entries (`rows × max_subtokens`), a step trace
/// (`rows × columns × max_subtokens`), the paths one enumeration returns. 2^26 ids are
/// 256 MiB as `u32` and 512 MiB as the int64 arrays Python receives.
pub const MAX_RESULT_IDS: usize = 1 << 26;

/// Most edges a [`crate::Lattice`] may have (8 bytes each; a sequence of `n` base tokens
/// usually has fewer than `n × max_subtokens`).
pub const MAX_LATTICE_EDGES: usize = 1 << 24;

/// Refuses `requested` when it exceeds `limit`; `what` names it for the message.
pub(crate) fn check(what: impl FnOnce() -> String, requested: u128, limit: usize) -> Result<()> {
    if requested <= limit as u128 {
        return Ok(());
    }
    Err(Error::LimitExceeded {
        what: what(),
        requested,
        limit: limit as u128,
    })
}

/// [`check`] of `rows × width` cells against [`MAX_RESULT_IDS`].
pub(crate) fn check_cells(what: impl FnOnce() -> String, rows: usize, width: usize) -> Result<()> {
    check(what, rows as u128 * width as u128, MAX_RESULT_IDS)
}
