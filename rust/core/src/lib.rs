//! The zip2zip codec: greedy LZW over token ids, producing *hypertokens* whose codebook is a
//! pure function of the base-token prefix.
//!
//! - [`encode`] / [`decode`]: whole sequences (decode accepts any valid stream, canonical or not).
//! - [`CodebookState`] / [`BatchCodebookState`]: the same encoder fed one id at a time during
//!   generation, reporting the hypertokens each update creates.
//! - [`EncoderPool`]: the same, reusing encoders across calls, with parallel batches.
//! - [`Lattice`]: every valid segmentation of a base sequence (count, enumerate, sample).
//! - [`parallel::map_rows`]: batches on the crate's own rayon pool.
#![forbid(unsafe_code)]

mod child_table;
mod codebook;
mod codec;
mod config;
mod encoder;
mod encoder_pool;
mod error;
mod lattice;
pub mod parallel;
mod state;
mod token_id;

pub use codebook::Codebook;
pub use codec::{decode, decode_into, encode, encode_into};
pub use config::{CompressionConfig, MAX_SUBTOKENS_LIMIT, MAX_TOTAL_VOCAB};
pub use encoder::Encoder;
pub use encoder_pool::EncoderPool;
pub use error::{Error, InvalidTokenReason, Result};
pub use lattice::{Lattice, Piece};
pub use state::{BatchCodebookState, CodebookState};
pub use token_id::TokenId;
