//! The zip2zip codec: greedy LZW over token ids, producing *hypertokens* whose codebook is a
//! pure function of the base-token prefix.
//!
//! - [`encode`] / [`decode`]: whole sequences (decode accepts any valid stream, canonical or not).
//! - [`CodebookState`] / [`BatchCodebookState`]: the same encoder fed one id at a time during
//!   generation, reporting the hypertokens each update creates.
//! - [`EncoderPool`]: the same, reusing encoders across calls, with parallel batches.
//! - [`Lattice`]: every valid segmentation of a base sequence (count, enumerate, sample).
//! - [`encode_windows`]: a long document cut into lossless training windows, each with its own
//!   codebook (no base token dropped or repeated at a window edge).
//! - [`TextTokenizer`]: text to base ids for byte-level BPE `tokenizer.json` files, exactly as
//!   Hugging Face `tokenizers`; [`EncoderPool::batch_encode_texts`] goes on to hypertokens.
//! - [`parallel::map_rows`]: batches on the crate's own rayon pool.
//!
//! ```
//! use zip2zip::{decode, encode, CodebookState, CompressionConfig};
//!
//! let config = CompressionConfig::new(10, 5, 3, [9], Some(0))?;
//! let (ids, codebook) = encode(&config, &[1u32, 2, 1, 2, 1, 2, 1, 2, 3, 3, 3])?;
//! assert_eq!(ids, [1, 2, 10, 12, 2, 3, 14]);
//! assert_eq!(codebook.subtokens(12), Some(vec![1, 2, 1]));
//! assert_eq!(decode(&config, &ids)?.0, [1, 2, 1, 2, 1, 2, 1, 2, 3, 3, 3]);
//!
//! // Generation: feed ids as they come; each update says which hypertokens it created.
//! let mut state = CodebookState::new(&config);
//! assert_eq!(state.update(&[1u32, 2, 10])?, [10, 11]);
//! assert!(state.update(&[13u32]).is_err()); // not created yet: rejected, state unchanged
//!
//! // Many sequences: pooled encoders, parallel on the crate's thread pool.
//! let pool = zip2zip::EncoderPool::new(&config);
//! let batch: Vec<Vec<u32>> = pool.batch_encode(&[vec![1u32, 2, 1, 2], vec![3, 3, 3]])?;
//! assert_eq!(batch, [vec![1, 2, 10], vec![3, 10]]); // each row has its own codebook
//! # Ok::<(), zip2zip::Error>(())
//! ```
#![forbid(unsafe_code)]

mod batch_state;
mod child_table;
mod codebook;
mod codec;
mod config;
mod encoder;
mod encoder_pool;
mod error;
mod lattice;
pub mod limits;
mod lru_codec;
pub mod parallel;
mod recency;
mod state;
#[cfg(feature = "text")]
mod text;
mod token_id;
mod windows;

pub use batch_state::{BatchCodebookState, BatchNewEntries, ColumnTrace, Mask};
pub use codebook::Codebook;
pub use codec::{decode, decode_into, encode, encode_into};
pub use config::{CompressionConfig, Eviction, MAX_SUBTOKENS_LIMIT, MAX_TOTAL_VOCAB};
pub use encoder::Encoder;
pub use encoder_pool::EncoderPool;
pub use error::{Error, InvalidTokenReason, Result};
pub use lattice::{Lattice, Piece};
pub use state::{CodebookState, NewEntries, StepTrace};
#[cfg(feature = "text")]
pub use text::TextTokenizer;
pub use token_id::TokenId;
pub use windows::{encode_windows, Windows};
