//! A deliberately naive greedy LZW (sequences as `Vec` keys), the oracle for the fast codec.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;

use proptest::prelude::*;
use zip2zip::CompressionConfig;

pub struct Naive {
    pub entries: Vec<Vec<u32>>,
    pub index: HashMap<Vec<u32>, u32>,
}

pub fn naive_encode(config: &CompressionConfig, ids: &[u32]) -> (Vec<u32>, Vec<Vec<u32>>) {
    let v = config.initial_vocab_size();
    let mut dict = Naive {
        entries: Vec::new(),
        index: HashMap::new(),
    };
    let code_of = |dict: &Naive, seq: &[u32]| -> Option<u32> {
        if seq.len() == 1 {
            Some(seq[0])
        } else {
            dict.index.get(seq).copied()
        }
    };
    let mut out = Vec::new();
    let mut buffer: Vec<u32> = Vec::new();
    for &id in ids {
        if config.is_disabled(id) {
            if !buffer.is_empty() {
                out.push(code_of(&dict, &buffer).unwrap());
                buffer.clear();
            }
            out.push(id);
            continue;
        }
        buffer.push(id);
        if code_of(&dict, &buffer).is_none() {
            if dict.entries.len() < config.max_codebook_size() as usize {
                let code = v + dict.entries.len() as u32;
                dict.index.insert(buffer.clone(), code);
                dict.entries.push(buffer.clone());
            }
            buffer.pop();
            out.push(code_of(&dict, &buffer).unwrap());
            buffer = vec![id];
        }
        if buffer.len() == config.max_subtokens() {
            out.push(code_of(&dict, &buffer).unwrap());
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        out.push(code_of(&dict, &buffer).unwrap());
    }
    (out, dict.entries)
}

pub fn entries(codebook: &zip2zip::Codebook) -> Vec<Vec<u32>> {
    codebook.iter().map(|(_, tokens)| tokens).collect()
}

/// Random configs over a small vocabulary, so that repeats (and hypertokens) are common.
pub fn config_strategy() -> impl Strategy<Value = CompressionConfig> {
    (2u32..12, 0u32..40, 1usize..17, any::<bool>())
        .prop_flat_map(|(vocab, codebook, subtokens, with_pad)| {
            (
                Just(vocab),
                Just(codebook),
                Just(subtokens),
                proptest::collection::vec(0..vocab, 0..3),
                proptest::option::of(0..vocab)
                    .prop_filter("pad choice", move |p| with_pad || p.is_none()),
            )
        })
        .prop_map(|(vocab, codebook, subtokens, disabled, pad)| {
            CompressionConfig::new(vocab, codebook, subtokens, disabled, pad).unwrap()
        })
}

pub fn config_and_ids() -> impl Strategy<Value = (CompressionConfig, Vec<u32>)> {
    config_strategy().prop_flat_map(|config| {
        let vocab = config.initial_vocab_size();
        (Just(config), proptest::collection::vec(0..vocab, 0..300))
    })
}
