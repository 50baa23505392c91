//! The BPE model: vocabulary, bytes, merges.

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::{as_u32, flag, invalid, Problems};
use crate::error::Result;
use crate::text::bpe::{Bpe, NO_TOKEN};
use crate::text::byte_level::{byte_chars, ByteDecoder};

/// The model's vocabulary: token → id.
pub(super) fn vocab(model: &Value) -> Result<FxHashMap<&str, u32>> {
    let vocab = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("the model has no vocab object"))?;
    let mut ids = FxHashMap::default();
    for (token, id) in vocab {
        ids.insert(
            token.as_str(),
            as_u32(id, &format!("vocab entry {token:?}"))?,
        );
    }
    Ok(ids)
}

pub(super) fn bpe_model(
    model: &Value,
    ids: &FxHashMap<&str, u32>,
    problems: &mut Problems,
) -> Result<Bpe> {
    let empty = Map::new();
    let object = model.as_object().unwrap_or(&empty);
    if model
        .get("dropout")
        .and_then(Value::as_f64)
        .is_some_and(|p| p > 0.0)
    {
        problems.refuse("BPE dropout");
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if object
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            problems.refuse(format!("BPE {key}"));
        }
    }
    let chars = byte_chars();
    let mut byte_ids = [NO_TOKEN; 256];
    let mut missing = Vec::new();
    for (byte, slot) in byte_ids.iter_mut().enumerate() {
        match ids.get(chars[byte].to_string().as_str()) {
            Some(&id) => *slot = id,
            // Never in UTF-8 text.
            None if matches!(byte, 0xC0 | 0xC1 | 0xF5..=0xFF) => {}
            None => missing.push(format!("{byte:#04x}")),
        }
    }
    // Hugging Face drops a byte without a token only when there is neither an unknown token
    // nor byte fallback; with either, it would emit something we do not reproduce.
    let unk = object.get("unk_token").is_some_and(|unk| !unk.is_null());
    if !missing.is_empty() && (unk || flag(model, "byte_fallback", false)) {
        problems.refuse(format!(
            "a vocabulary without every byte-level byte (missing {}) and an unknown token or \
             byte fallback",
            missing.join(", ")
        ));
    }
    let merges = merges(object.get("merges"), ids)?;
    let whole = if flag(model, "ignore_merges", false) {
        let decoder = ByteDecoder::new();
        Some(
            ids.iter()
                .filter_map(|(token, &id)| Some((decoder.decode(token)?.into_boxed_slice(), id)))
                .collect(),
        )
    } else {
        None
    };
    Ok(Bpe::new(byte_ids, merges, whole))
}

fn merges(value: Option<&Value>, ids: &FxHashMap<&str, u32>) -> Result<FxHashMap<u64, (u32, u32)>> {
    let list = value
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("the model has no merges list"))?;
    let mut merges = FxHashMap::default();
    merges.reserve(list.len());
    let id_of = |token: &str, rank: usize| {
        ids.get(token)
            .copied()
            .ok_or_else(|| invalid(format!("merge {rank}: {token:?} is not in the vocabulary")))
    };
    for (rank, merge) in list.iter().enumerate() {
        let (left, right) = match merge {
            Value::String(text) => {
                let mut parts = text.split(' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(left), Some(right), None) => (left, right),
                    _ => return Err(invalid(format!("merge {rank} {text:?} is not two tokens"))),
                }
            }
            Value::Array(parts) => match parts.as_slice() {
                [Value::String(left), Value::String(right)] => (left.as_str(), right.as_str()),
                _ => return Err(invalid(format!("merge {rank} is not two tokens"))),
            },
            _ => return Err(invalid(format!("merge {rank} is not a string or a pair"))),
        };
        let merged = id_of(&format!("{left}{right}"), rank)?;
        let key = Bpe::pair_key(id_of(left, rank)?, id_of(right, rank)?);
        merges.insert(key, (rank as u32, merged));
    }
    Ok(merges)
}
