//! Text to ids for byte-level BPE tokenizers, read from a Hugging Face `tokenizer.json`
//! (the GPT-2, Llama-3, DeepSeek, Qwen and SmolLM families), with the same ids as Hugging
//! Face `tokenizers`; and text to hypertoken ids in the same pass (see `hyper.rs`).
//!
//! The steps are Hugging Face's: added tokens cut out first (`added.rs`), the rest normalized
//! (none or NFC), split by the pre-tokenizer's regexes (`pattern.rs`, read as Oniguruma reads
//! them: `oniguruma.rs`), each piece merged by rank (`bpe.rs`), then the post-processor's
//! special tokens around the whole. A `tokenizer.json` using anything else is refused at load
//! with [`crate::Error::UnsupportedTokenizer`] listing every such feature.
//!
//! ```
//! # fn main() -> Result<(), zip2zip::Error> {
//! let json = r#"{"model": {"type": "BPE", "vocab": {}, "merges": []}}"#;
//! assert!(matches!(
//!     zip2zip::TextTokenizer::from_json(json),
//!     Err(zip2zip::Error::UnsupportedTokenizer(_))
//! ));
//! # Ok(()) }
//! ```

mod added;
mod bpe;
mod byte_level;
mod hyper;
mod load;
mod oniguruma;
mod pattern;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use added::{AddedSet, Segment};
use bpe::Bpe;
use pattern::Pattern;

use crate::error::Result;
use crate::parallel::map_rows;

/// The `ByteLevel` pre-tokenizer: an optional leading space, then GPT-2's regex if used.
#[derive(Debug)]
struct ByteLevel {
    add_prefix_space: bool,
    regex: Option<Pattern>,
}

/// A byte-level BPE tokenizer loaded from `tokenizer.json`. Thread-safe; each thread keeps
/// its own cache of recently seen pieces.
#[derive(Debug)]
pub struct TextTokenizer {
    added_raw: AddedSet,
    added_normalized: AddedSet,
    nfc: bool,
    splits: Vec<Pattern>,
    byte_level: ByteLevel,
    bpe: Bpe,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    vocab_size: u32,
}

impl TextTokenizer {
    /// Loads a `tokenizer.json`, its regexes compiled here. Errors:
    /// [`crate::Error::InvalidTokenizer`] for a file that is not a valid tokenizer,
    /// [`crate::Error::UnsupportedTokenizer`] for one this encoder would not reproduce exactly
    /// or whose regex is over its memory bounds (the message lists every such feature).
    pub fn from_json(json: &str) -> Result<Self> {
        load::from_json(json)
    }

    /// One more than the largest id this tokenizer can produce (added tokens included).
    pub fn vocab_size(&self) -> u32 {
        self.vocab_size
    }

    /// The ids of `text`, with the post-processor's special tokens when `add_special_tokens`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        self.encode_into(text, add_special_tokens, &mut out);
        out
    }

    /// Appends the ids of `text` to `out` (see [`Self::encode`]).
    pub fn encode_into(&self, text: &str, add_special_tokens: bool, out: &mut Vec<u32>) {
        if add_special_tokens {
            out.extend_from_slice(&self.prefix);
        }
        self.added_raw.split(text, &mut |segment| match segment {
            Segment::Token(id) => out.push(id),
            Segment::Text(text) if self.nfc && is_nfc_quick(text.chars()) != IsNormalized::Yes => {
                let normalized: String = text.nfc().collect();
                self.encode_normalized(&normalized, out);
            }
            Segment::Text(text) => self.encode_normalized(text, out),
        });
        if add_special_tokens {
            out.extend_from_slice(&self.suffix);
        }
    }

    /// The ids of every text, in parallel on the crate's pool for large batches.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<u32>>> {
        let work = texts.iter().map(|text| text.as_ref().len() / 4).sum();
        map_rows(texts, work, |text| {
            Ok(self.encode(text.as_ref(), add_special_tokens))
        })
    }

    fn encode_normalized(&self, text: &str, out: &mut Vec<u32>) {
        self.added_normalized
            .split(text, &mut |segment| match segment {
                Segment::Token(id) => out.push(id),
                Segment::Text(text) => self.pre_tokenize(0, text, out),
            });
    }

    fn pre_tokenize(&self, stage: usize, text: &str, out: &mut Vec<u32>) {
        match self.splits.get(stage) {
            Some(pattern) => {
                pattern.split(text, &mut |piece| self.pre_tokenize(stage + 1, piece, out))
            }
            None => self.byte_level_piece(text, out),
        }
    }

    fn byte_level_piece(&self, text: &str, out: &mut Vec<u32>) {
        let prefixed;
        let text = if self.byte_level.add_prefix_space && !text.starts_with(' ') {
            prefixed = format!(" {text}");
            prefixed.as_str()
        } else {
            text
        };
        match &self.byte_level.regex {
            Some(regex) => regex.split(text, &mut |piece| self.bpe.encode(piece.as_bytes(), out)),
            None => self.bpe.encode(text.as_bytes(), out),
        }
    }
}
