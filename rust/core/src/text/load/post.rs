//! The post-processor: ids added around a text with `add_special_tokens`.

use serde_json::Value;

use super::{as_u32, invalid, kind, Problems};
use crate::error::Result;

/// Ids added before and after a text when special tokens are asked for.
pub(super) fn post_processor(
    value: &Value,
    problems: &mut Problems,
) -> Result<(Vec<u32>, Vec<u32>)> {
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
