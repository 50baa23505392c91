//! A deliberately naive greedy LZW (sequences as `Vec` keys, eviction by scanning timestamps),
//! the oracle for the fast codec.
#![allow(dead_code, clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::HashMap;

use proptest::prelude::*;
use zip2zip::{CompressionConfig, Eviction};

/// Greedy LZW as `docs/codec.md` states it, one base token at a time. For `Eviction::Lru`,
/// every entry of a full codebook has a time of last use (rising with each event); a new entry
/// takes the slot of the oldest leaf that the pending match does not extend.
#[derive(Clone)]
pub struct Naive {
    config: CompressionConfig,
    /// Entry `k` (id `V + k`) by slot.
    pub entries: Vec<Vec<u32>>,
    index: HashMap<Vec<u32>, u32>,
    /// Last use of each entry, kept once an evicting codebook is full.
    stamps: Option<Vec<u64>>,
    time: u64,
    /// The base tokens of the pending match.
    pub buffer: Vec<u32>,
    /// Every id assigned to a new entry, in order (a recycled slot again each time).
    pub created: Vec<u32>,
}

impl Naive {
    pub fn new(config: &CompressionConfig) -> Self {
        Self {
            config: config.clone(),
            entries: Vec::new(),
            index: HashMap::new(),
            stamps: None,
            time: 0,
            buffer: Vec::new(),
            created: Vec::new(),
        }
    }

    fn vocab(&self) -> u32 {
        self.config.initial_vocab_size()
    }

    pub fn code_of(&self, tokens: &[u32]) -> Option<u32> {
        match tokens {
            [] => None,
            [token] => Some(*token),
            _ => self.index.get(tokens).copied(),
        }
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= self.config.max_codebook_size() as usize
    }

    /// Marks `tokens` (an emitted match) and every entry it extends as used now.
    fn touch(&mut self, tokens: &[u32]) {
        let vocab = self.vocab();
        let codes: Vec<u32> = (2..=tokens.len())
            .map(|len| self.index[&tokens[..len]] - vocab)
            .collect();
        if let Some(stamps) = &mut self.stamps {
            self.time += 1;
            for k in codes {
                stamps[k as usize] = self.time;
            }
        }
    }

    fn emit(&mut self, tokens: Vec<u32>, out: &mut Vec<u32>) {
        out.push(self.code_of(&tokens).unwrap());
        self.touch(&tokens);
    }

    fn is_leaf(&self, k: usize) -> bool {
        let entry = &self.entries[k];
        !self
            .entries
            .iter()
            .any(|other| other.len() == entry.len() + 1 && other.starts_with(entry))
    }

    /// The slot a new entry extending `pending` would take in a full evicting codebook.
    pub fn victim(&self, pending: &[u32]) -> Option<usize> {
        let stamps = self.stamps.as_ref()?;
        (0..self.entries.len())
            .filter(|&k| self.is_leaf(k) && self.entries[k] != pending)
            .min_by_key(|&k| stamps[k])
    }

    /// The id the next created entry would take.
    pub fn next_id(&self) -> Option<u32> {
        if !self.is_full() {
            return Some(self.vocab() + self.entries.len() as u32);
        }
        if self.buffer.is_empty() {
            return None;
        }
        self.victim(&self.buffer).map(|k| self.vocab() + k as u32)
    }

    /// LZW's KwKwK case: the next id and what it stands for, when feeding it is valid.
    pub fn kwkwk(&self) -> Option<(u32, Vec<u32>)> {
        let first = *self.buffer.first()?;
        let mut tokens = self.buffer.clone();
        tokens.push(first);
        if self.code_of(&tokens).is_some() {
            return None;
        }
        Some((self.next_id()?, tokens))
    }

    /// What `id` stands for if fed now; `None` when invalid here.
    pub fn resolve(&self, id: u32) -> Option<Vec<u32>> {
        if id < self.vocab() {
            return Some(vec![id]);
        }
        if let Some((next, tokens)) = self.kwkwk() {
            if next == id {
                return Some(tokens);
            }
        }
        self.entries.get((id - self.vocab()) as usize).cloned()
    }

    fn create(&mut self, tokens: Vec<u32>) {
        let vocab = self.vocab();
        let prefix = tokens[..tokens.len() - 1].to_vec();
        if !self.is_full() {
            let id = vocab + self.entries.len() as u32;
            self.created.push(id);
            self.index.insert(tokens.clone(), id);
            self.entries.push(tokens);
            if self.is_full() && self.config.eviction() == Eviction::Lru {
                self.start_stamps();
            }
            return;
        }
        let Some(k) = self.victim(&prefix) else {
            return;
        };
        self.index.remove(&self.entries[k]);
        self.index.insert(tokens.clone(), vocab + k as u32);
        self.created.push(vocab + k as u32);
        self.entries[k] = tokens;
        self.time += 1;
        self.stamps.as_mut().unwrap()[k] = self.time;
    }

    /// At the moment it fills, an entry counts as used when its newest extension was created.
    fn start_stamps(&mut self) {
        let stamps = (0..self.entries.len())
            .map(|k| {
                (k..self.entries.len())
                    .filter(|&later| self.entries[later].starts_with(&self.entries[k]))
                    .max()
                    .unwrap() as u64
            })
            .collect();
        self.stamps = Some(stamps);
        self.time = self.entries.len() as u64;
    }

    pub fn push(&mut self, token: u32, out: &mut Vec<u32>) {
        if self.config.is_disabled(token) {
            if !self.buffer.is_empty() {
                let buffer = std::mem::take(&mut self.buffer);
                self.emit(buffer, out);
            }
            out.push(token);
            return;
        }
        self.buffer.push(token);
        if self.code_of(&self.buffer).is_none() {
            let tokens = std::mem::replace(&mut self.buffer, vec![token]);
            self.create(tokens.clone());
            self.emit(tokens[..tokens.len() - 1].to_vec(), out);
        }
        if self.buffer.len() == self.config.max_subtokens() {
            let buffer = std::mem::take(&mut self.buffer);
            self.emit(buffer, out);
        }
    }

    /// The end of the input emits the pending match without counting it as a use.
    pub fn finish(&mut self, out: &mut Vec<u32>) {
        if !self.buffer.is_empty() {
            out.push(self.code_of(&self.buffer).unwrap());
            self.buffer.clear();
        }
    }

    /// Every id, least recently used first (an entry before the ones it extends on a tie).
    pub fn recency_order(&self) -> Option<Vec<u32>> {
        let stamps = self.stamps.as_ref()?;
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&k| (stamps[k], Reverse(self.entries[k].len())));
        Some(order.into_iter().map(|k| self.vocab() + k as u32).collect())
    }

    /// Feeds the base tokens of `id` (valid here) and returns them.
    pub fn feed_id(&mut self, id: u32) -> Vec<u32> {
        let tokens = self.resolve(id).unwrap();
        let mut out = Vec::new();
        for &token in &tokens {
            self.push(token, &mut out);
        }
        tokens
    }
}

/// `ids` listed once each, where they last occur.
pub fn last_occurrences(ids: &[u32]) -> Vec<u32> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<u32> = ids
        .iter()
        .rev()
        .copied()
        .filter(|&id| seen.insert(id))
        .collect();
    out.reverse();
    out
}

/// Greedy LZW of `ids`: the codes and the entries by slot.
pub fn naive_encode(config: &CompressionConfig, ids: &[u32]) -> (Vec<u32>, Vec<Vec<u32>>) {
    let (out, naive) = naive_run(config, ids);
    (out, naive.entries)
}

/// [`naive_encode`], keeping the final state.
pub fn naive_run(config: &CompressionConfig, ids: &[u32]) -> (Vec<u32>, Naive) {
    let mut naive = Naive::new(config);
    let mut out = Vec::new();
    for &id in ids {
        naive.push(id, &mut out);
    }
    naive.finish(&mut out);
    (out, naive)
}

pub fn entries(codebook: &zip2zip::Codebook) -> Vec<Vec<u32>> {
    codebook.iter().map(|(_, tokens)| tokens).collect()
}

/// Random configs over a small vocabulary, so that repeats (and hypertokens) are common; half
/// of them evict, mostly with codebooks small enough to fill.
pub fn config_strategy() -> impl Strategy<Value = CompressionConfig> {
    (2u32..12, 0u32..40, 1usize..17, any::<bool>(), any::<bool>())
        .prop_flat_map(|(vocab, codebook, subtokens, with_pad, evicts)| {
            (
                Just(vocab),
                Just(if evicts { codebook % 12 } else { codebook }),
                Just(subtokens),
                proptest::collection::vec(0..vocab, 0..3),
                proptest::option::of(0..vocab)
                    .prop_filter("pad choice", move |p| with_pad || p.is_none()),
                Just(if evicts {
                    Eviction::Lru
                } else {
                    Eviction::None
                }),
            )
        })
        .prop_map(|(vocab, codebook, subtokens, disabled, pad, eviction)| {
            CompressionConfig::new(vocab, codebook, subtokens, disabled, pad)
                .unwrap()
                .with_eviction(eviction)
        })
}

pub fn config_and_ids() -> impl Strategy<Value = (CompressionConfig, Vec<u32>)> {
    config_strategy().prop_flat_map(|config| {
        let vocab = config.initial_vocab_size();
        (Just(config), proptest::collection::vec(0..vocab, 0..300))
    })
}

/// A random valid (generally non-canonical) id stream for `ids`, chosen with the naive oracle:
/// at each step any hypertoken valid there whose base tokens come next (existing, or the one
/// LZW's KwKwK case is about to create), or the plain base token.
pub fn random_segmentation(config: &CompressionConfig, ids: &[u32], choices: &[u8]) -> Vec<u32> {
    let mut naive = Naive::new(config);
    let mut stream = Vec::new();
    let mut position = 0;
    let mut step = 0;
    while position < ids.len() {
        let candidates: Vec<u32> = (config.initial_vocab_size()..config.total_vocab_size())
            .filter(|&id| {
                naive
                    .resolve(id)
                    .is_some_and(|tokens| ids[position..].starts_with(&tokens))
            })
            .collect();
        let pick = usize::from(choices[step % choices.len()]);
        step += 1;
        let id = if candidates.is_empty() || pick % 3 == 0 {
            ids[position]
        } else {
            candidates[pick % candidates.len()]
        };
        position += naive.feed_id(id).len();
        stream.push(id);
    }
    stream
}
