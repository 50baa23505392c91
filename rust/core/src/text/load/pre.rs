//! The normalizer and the pre-tokenizer.

use serde_json::Value;

use super::{flag, kind, Problems};
use crate::text::pattern::{Budget, Pattern};
use crate::text::ByteLevel;

/// `true` for NFC; none (or an empty sequence) is `false`.
pub(super) fn normalizer(value: &Value, problems: &mut Problems) -> bool {
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

/// Most `Split` stages: each is one more level of recursion for every piece of a text, and one
/// more regex with its own lazy DFA cache on every thread (byte-level BPE families use up to 3).
const MAX_SPLIT_STAGES: usize = 8;

pub(super) fn pre_tokenizer(
    value: &Value,
    problems: &mut Problems,
) -> (Vec<Pattern>, Option<ByteLevel>) {
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
    if stages.len() > MAX_SPLIT_STAGES + 1 {
        problems.refuse(format!(
            "{} pre-tokenizer stages (more than {MAX_SPLIT_STAGES} Split stages and ByteLevel)",
            stages.len()
        ));
        return (Vec::new(), None);
    }
    // The regexes of all stages share one budget of memory.
    let mut budget = Budget::default();
    let mut splits = Vec::new();
    let mut byte_level = None;
    for (index, stage) in stages.iter().enumerate() {
        let last = index + 1 == stages.len();
        match kind(stage) {
            Some("ByteLevel") if last => {
                let regex = if flag(stage, "use_regex", true) {
                    Pattern::new(GPT2_PATTERN, &mut budget)
                        .map_err(|e| problems.refuse(e))
                        .ok()
                } else {
                    None
                };
                byte_level = Some(ByteLevel {
                    add_prefix_space: flag(stage, "add_prefix_space", true),
                    regex,
                });
            }
            Some("Split") if !last => match split(stage, &mut budget) {
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

fn split(stage: &Value, budget: &mut Budget) -> std::result::Result<Pattern, String> {
    let behavior = stage.get("behavior").and_then(Value::as_str).unwrap_or("?");
    if behavior != "Isolated" {
        return Err(format!("Split behavior {behavior}"));
    }
    if flag(stage, "invert", false) {
        return Err("Split with invert".into());
    }
    let pattern = stage.get("pattern");
    if let Some(regex) = pattern.and_then(|p| p.get("Regex")).and_then(Value::as_str) {
        Pattern::new(regex, budget)
    } else if let Some(literal) = pattern
        .and_then(|p| p.get("String"))
        .and_then(Value::as_str)
    {
        Pattern::literal(literal, budget)
    } else {
        Err("Split without a Regex or String pattern".into())
    }
}
