//! Reading `tokenizer.json`: every part the encoder reproduces exactly becomes its typed
//! piece; everything else is collected, so that one error lists all of it.

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::added::{AddedSet, AddedToken};
use super::bpe::{Bpe, NO_TOKEN};
use super::byte_level::{byte_chars, ByteDecoder};
use super::pattern::Pattern;
use super::{ByteLevel, TextTokenizer};
use crate::error::{Error, Result};

/// What went wrong so far: features not reproduced exactly, or the file being invalid.
#[derive(Default)]
struct Problems {
    unsupported: Vec<String>,
}

impl Problems {
    fn refuse(&mut self, what: impl Into<String>) {
        self.unsupported.push(what.into());
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidTokenizer(message.into())
}

fn kind(value: &Value) -> Option<&str> {
    value.get("type").and_then(Value::as_str)
}

fn flag(value: &Value, key: &str, default: bool) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(default)
}

pub(super) fn from_json(json: &str) -> Result<TextTokenizer> {
    let root: Value = serde_json::from_str(json).map_err(|error| invalid(error.to_string()))?;
    let root = root
        .as_object()
        .ok_or_else(|| invalid("the top level is not an object"))?;
    let mut problems = Problems::default();
    let nfc = normalizer(
        root.get("normalizer").unwrap_or(&Value::Null),
        &mut problems,
    );
    let (splits, byte_level) = pre_tokenizer(
        root.get("pre_tokenizer").unwrap_or(&Value::Null),
        &mut problems,
    );
    let (prefix, suffix) = post_processor(
        root.get("post_processor").unwrap_or(&Value::Null),
        &mut problems,
    )?;
    let model = root.get("model").ok_or_else(|| invalid("no model"))?;
    if let Some(other) = kind(model).filter(|&k| k != "BPE") {
        problems.refuse(format!("model {other}"));
        return Err(Error::UnsupportedTokenizer(problems.unsupported));
    }
    let ids = vocab(model)?;
    let bpe = bpe_model(model, &ids, &mut problems)?;
    let (raw, normalized, vocab_size) = added_tokens(root.get("added_tokens"), &ids, nfc)?;
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

/// `true` for NFC; none (or an empty sequence) is `false`.
fn normalizer(value: &Value, problems: &mut Problems) -> bool {
    match kind(value) {
        _ if value.is_null() => false,
        Some("NFC") => true,
        Some("Sequence") => {
            let mut nfc = false;
            for inner in value
                .get("normalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                nfc |= normalizer(inner, problems);
            }
            nfc
        }
        other => {
            problems.refuse(format!("normalizer {}", other.unwrap_or("?")));
            false
        }
    }
}

fn pre_tokenizer(value: &Value, problems: &mut Problems) -> (Vec<Pattern>, Option<ByteLevel>) {
    let stages: Vec<&Value> = match kind(value) {
        Some("Sequence") => value
            .get("pretokenizers")
            .and_then(Value::as_array)
            .map(|stages| stages.iter().collect())
            .unwrap_or_default(),
        _ if value.is_null() => {
            problems.refuse("no pre-tokenizer (only byte-level BPE is supported)");
            return (Vec::new(), None);
        }
        _ => vec![value],
    };
    let mut splits = Vec::new();
    let mut byte_level = None;
    for (index, stage) in stages.iter().enumerate() {
        let last = index + 1 == stages.len();
        match kind(stage) {
            Some("ByteLevel") if last => {
                let regex = if flag(stage, "use_regex", true) {
                    Pattern::new(GPT2_PATTERN).map_err(|e| problems.refuse(e)).ok()
                } else {
                    None
                };
                byte_level = Some(ByteLevel {
                    add_prefix_space: flag(stage, "add_prefix_space", true),
                    regex,
                });
            }
            Some("Split") if !last => match split(stage) {
                Ok(pattern) => splits.push(pattern),
                Err(why) => problems.refuse(why),
            },
            other => problems.refuse(format!(
                "pre-tokenizer {} at position {index} (supported: Split stages, then ByteLevel last)",
                other.unwrap_or("?")
            )),
        }
    }
    if byte_level.is_none() && problems.unsupported.is_empty() {
        problems.refuse("a pre-tokenizer without ByteLevel");
    }
    (splits, byte_level)
}

/// The regex of Hugging Face's `ByteLevel` pre-tokenizer (GPT-2's).
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

fn split(stage: &Value) -> std::result::Result<Pattern, String> {
    let behavior = stage.get("behavior").and_then(Value::as_str).unwrap_or("?");
    if behavior != "Isolated" {
        return Err(format!("Split behavior {behavior}"));
    }
    if flag(stage, "invert", false) {
        return Err("Split with invert".into());
    }
    let pattern = stage.get("pattern");
    if let Some(regex) = pattern.and_then(|p| p.get("Regex")).and_then(Value::as_str) {
        Pattern::new(regex)
    } else if let Some(literal) = pattern
        .and_then(|p| p.get("String"))
        .and_then(Value::as_str)
    {
        Pattern::literal(literal)
    } else {
        Err("Split without a Regex or String pattern".into())
    }
}

fn as_u32(value: &Value, what: &str) -> Result<u32> {
    value
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .filter(|&id| id < i32::MAX as u32)
        .ok_or_else(|| invalid(format!("{what} is not a token id: {value}")))
}

/// The model's vocabulary: token → id.
fn vocab(model: &Value) -> Result<FxHashMap<&str, u32>> {
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

fn bpe_model(model: &Value, ids: &FxHashMap<&str, u32>, problems: &mut Problems) -> Result<Bpe> {
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

/// The two sets of added tokens (matched on raw text, matched on normalized text), and one
/// more than the largest id of the whole vocabulary.
///
/// Ids are given as Hugging Face gives them when it reads the file, whatever the file says:
/// tokens are added one at a time, in order; a token already added keeps its id (its latest
/// flags win), one in the model's vocabulary takes that id, and any other the next free id
/// (one past the largest added id if that is past the model's vocabulary, else the model's
/// vocabulary size).
fn added_tokens(
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

/// Ids added before and after a text when special tokens are asked for.
fn post_processor(value: &Value, problems: &mut Problems) -> Result<(Vec<u32>, Vec<u32>)> {
    let mut prefix = Vec::new();
    let mut suffix = Vec::new();
    match kind(value) {
        _ if value.is_null() => {}
        Some("ByteLevel") => {}
        Some("Sequence") => {
            for inner in value
                .get("processors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (before, after) = post_processor(inner, problems)?;
                prefix.splice(0..0, before);
                suffix.extend(after);
            }
        }
        Some("RobertaProcessing") | Some("BertProcessing") => {
            let id = |key: &str| {
                value
                    .get(key)
                    .and_then(Value::as_array)
                    .and_then(|pair| pair.get(1))
                    .ok_or_else(|| invalid(format!("post-processor without {key}")))
                    .and_then(|id| as_u32(id, key))
            };
            prefix.push(id("cls")?);
            suffix.push(id("sep")?);
        }
        Some("TemplateProcessing") => template(value, &mut prefix, &mut suffix)?,
        other => problems.refuse(format!("post-processor {}", other.unwrap_or("?"))),
    }
    Ok((prefix, suffix))
}

fn template(value: &Value, prefix: &mut Vec<u32>, suffix: &mut Vec<u32>) -> Result<()> {
    let items = value
        .get("single")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("TemplateProcessing without a single template"))?;
    let mut seen_sequence = false;
    for item in items {
        if item.get("Sequence").is_some() {
            if seen_sequence {
                return Err(invalid("a single template with two sequences"));
            }
            seen_sequence = true;
            continue;
        }
        let name = item
            .get("SpecialToken")
            .and_then(|special| special.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("a template item that is neither a sequence nor a token"))?;
        let ids = value
            .get("special_tokens")
            .and_then(|tokens| tokens.get(name))
            .and_then(|token| token.get("ids"))
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(format!("template token {name:?} has no ids")))?;
        let target = if seen_sequence {
            &mut *suffix
        } else {
            &mut *prefix
        };
        for id in ids {
            target.push(as_u32(id, name)?);
        }
    }
    Ok(())
}
