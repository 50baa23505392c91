//! Added tokens: the ids Hugging Face gives them, and the two sets they are matched in.

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::{flag, invalid};
use crate::error::Result;
use crate::text::added::{AddedSet, AddedToken};

/// The two sets of added tokens (matched on raw text, matched on normalized text), and one
/// more than the largest id of the whole vocabulary.
///
/// Ids are given as Hugging Face gives them when it reads the file, whatever the file says:
/// tokens are added one at a time, in order; a token already added keeps its id (its latest
/// flags win), one in the model's vocabulary takes that id, and any other the next free id
/// (one past the largest added id if that is past the model's vocabulary, else the model's
/// vocabulary size).
pub(super) fn added_tokens(
    value: Option<&Value>,
    vocab: &FxHashMap<&str, u32>,
    nfc: bool,
) -> Result<(AddedSet, AddedSet, u32)> {
    let model_size = vocab.len() as u32;
    let mut assigned: Vec<(&str, u32, &Value)> = Vec::new();
    let mut by_content: FxHashMap<&str, usize> = FxHashMap::default();
    for token in value.and_then(Value::as_array).into_iter().flatten() {
        let content = token
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("an added token without content"))?;
        if content.is_empty() {
            continue;
        }
        if let Some(&slot) = by_content.get(content) {
            assigned[slot].2 = token;
            continue;
        }
        let id = match vocab.get(content) {
            Some(&id) => id,
            None => match assigned.iter().map(|(_, id, _)| *id).max() {
                Some(max) if max >= model_size || model_size == 0 => max + 1,
                _ => model_size,
            },
        };
        by_content.insert(content, assigned.len());
        assigned.push((content, id, token));
    }
    let mut size = vocab.values().map(|&id| id + 1).max().unwrap_or(0);
    let (mut raw, mut normalized) = (Vec::new(), Vec::new());
    for (content, id, token) in assigned {
        size = size.max(id + 1);
        let normalize = flag(token, "normalized", !flag(token, "special", false));
        let added = AddedToken {
            content: if normalize && nfc {
                unicode_normalization::UnicodeNormalization::nfc(content).collect()
            } else {
                content.to_string()
            },
            id,
            single_word: flag(token, "single_word", false),
            lstrip: flag(token, "lstrip", false),
            rstrip: flag(token, "rstrip", false),
        };
        if normalize {
            normalized.push(added);
        } else {
            raw.push(added);
        }
    }
    let raw = AddedSet::new(raw).map_err(invalid)?;
    let normalized = AddedSet::new(normalized).map_err(invalid)?;
    Ok((raw, normalized, size))
}
