//! Reading `tokenizer.json`: every part the encoder reproduces exactly becomes its typed
//! piece; everything else is collected, so that one error lists all of it. One file per part:
//! `pre.rs` (normalizer and pre-tokenizer), `model.rs` (vocabulary and merges), `added.rs`
//! (added tokens and their ids), `post.rs` (special tokens around a text).

mod added;
mod model;
mod post;
mod pre;

use serde_json::Value;

use super::TextTokenizer;
use crate::error::{Error, Result};

/// The features not reproduced exactly, collected so that one error lists them all.
#[derive(Default)]
pub(super) struct Problems {
    pub(super) unsupported: Vec<String>,
}

impl Problems {
    pub(super) fn refuse(&mut self, what: impl Into<String>) {
        self.unsupported.push(what.into());
    }
}

pub(super) fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidTokenizer(message.into())
}

pub(super) fn kind(value: &Value) -> Option<&str> {
    value.get("type").and_then(Value::as_str)
}

pub(super) fn flag(value: &Value, key: &str, default: bool) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(default)
}

pub(super) fn as_u32(value: &Value, what: &str) -> Result<u32> {
    value
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .filter(|&id| id < i32::MAX as u32)
        .ok_or_else(|| invalid(format!("{what} is not a token id: {value}")))
}

pub(in crate::text) fn from_json(json: &str) -> Result<TextTokenizer> {
    let root: Value = serde_json::from_str(json).map_err(|error| invalid(error.to_string()))?;
    let root = root
        .as_object()
        .ok_or_else(|| invalid("the top level is not an object"))?;
    let mut problems = Problems::default();
    let nfc = pre::normalizer(
        root.get("normalizer").unwrap_or(&Value::Null),
        &mut problems,
    );
    let (splits, byte_level) = pre::pre_tokenizer(
        root.get("pre_tokenizer").unwrap_or(&Value::Null),
        &mut problems,
    );
    let (prefix, suffix) = post::post_processor(
        root.get("post_processor").unwrap_or(&Value::Null),
        &mut problems,
    )?;
    let model = root.get("model").ok_or_else(|| invalid("no model"))?;
    if let Some(other) = kind(model).filter(|&k| k != "BPE") {
        problems.refuse(format!("model {other}"));
        return Err(Error::UnsupportedTokenizer(problems.unsupported));
    }
    let ids = model::vocab(model)?;
    let bpe = model::bpe_model(model, &ids, &mut problems)?;
    let (raw, normalized, vocab_size) = added::added_tokens(root.get("added_tokens"), &ids, nfc)?;
    if !problems.unsupported.is_empty() {
        return Err(Error::UnsupportedTokenizer(problems.unsupported));
    }
    let byte_level = byte_level.ok_or_else(|| invalid("no byte-level pre-tokenizer"))?;
    Ok(TextTokenizer {
        added_raw: raw,
        added_normalized: normalized,
        nfc,
        splits,
        byte_level,
        bpe,
        prefix,
        suffix,
        vocab_size,
    })
}
