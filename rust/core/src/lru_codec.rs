//! Whole-sequence encode and decode under `Eviction::Lru` in flat arrays: the same ids and
//! codebook as [`crate::Encoder`] (the rules are in `docs/codec.md`, "Eviction"; the codebook
//! is built at the end, [`LruCodec::codebook`]), about twice as fast once the codebook is full
//! and every emission recycles a slot (`benches/results/codec_eviction_lru_lean.md`).
//!
//! What makes it cheap: a trie edge is one `u64` (parent, token and slot packed: a probe reads
//! one word) in a table at a load factor of at most 1/16 (a probe almost always ends at its
//! first word, so its branches predict well); each entry knows where its edge sits (removing it
//! needs no search); the use order is a circular doubly linked list through the entries (moving
//! one to the newest end is a few writes); and an entry's base tokens are kept inline (decoding
//! copies them, and tells the KwKwK case apart, without walking parents). It applies when ids,
//! slots and lengths fit that packing ([`LruCodec::fits`]).

use crate::codebook::Codebook;
use crate::config::{CompressionConfig, Eviction};
use crate::limits::MAX_RESULT_IDS;
use crate::recency::order_when_full;
use crate::token_id::TokenId;

const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;
/// Table words per entry: a load factor of 1/16 (section (g)'s streams, C = 2048: 1/4 encodes
/// at 51 Mtok/s, 1/8 at 66, 1/16 at 69, 1/32 at 65).
const WORDS_PER_ENTRY: usize = 16;
/// Bits of a packed edge: the slot, then the token, then the parent code plus one (0 marks an
/// empty word).
const SLOT_BITS: u32 = 16;
const TOKEN_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// Longest hypertoken the lean codec handles: its base tokens are kept inline.
const INLINE_TOKENS: usize = 8;

/// The input is not one the lean codec handles (an invalid id, or more base ids than a result
/// may hold): the caller runs the general codec, which reports the error precisely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unusual;

#[derive(Debug, Clone, Copy, Default)]
struct Node {
    /// The code this entry extends by one token.
    parent: u32,
    /// Where its edge is in the table.
    edge: u32,
    /// Its neighbours in the use order (index `size` is the list's sentinel).
    older: u32,
    newer: u32,
}

/// A reusable lean codec for one config.
#[derive(Debug, Clone)]
pub(crate) struct LruCodec {
    config: CompressionConfig,
    vocab: u32,
    size: usize,
    max_subtokens: usize,
    table: Vec<u64>,
    shift: u32,
    nodes: Vec<Node>,
    /// Entry `k`'s length and its base tokens (`INLINE_TOKENS` per entry), kept when decoding.
    length: Vec<u8>,
    tokens: Vec<u32>,
    keep_tokens: bool,
    len: usize,
    full: bool,
    pending: u32,
    /// 0 when nothing is pending.
    pending_len: usize,
}

impl LruCodec {
    /// Whether the lean codec handles `config`: lru, ids below 2^24 - 1, at most 2^16 slots,
    /// hypertokens of at most 8 base tokens.
    pub(crate) fn fits(config: &CompressionConfig) -> bool {
        config.eviction() == Eviction::Lru
            && u64::from(config.total_vocab_size()) < (1 << TOKEN_BITS) - 1
            && (1..=1 << SLOT_BITS).contains(&config.max_codebook_size())
            && config.max_subtokens() <= INLINE_TOKENS
    }

    /// Whether a sequence of `ids` ids under `config` takes the lean codec: one that fits,
    /// and more ids than the codebook has slots (shorter ones never recycle).
    pub(crate) fn applies(config: &CompressionConfig, ids: usize) -> bool {
        ids > config.max_codebook_size() as usize && Self::fits(config)
    }

    /// The codebook after the last [`Self::encode`] or [`Self::decode`], equal to the one
    /// the general codec builds from the same input.
    pub(crate) fn codebook(&self) -> Codebook {
        let token_mask = (1 << TOKEN_BITS) - 1;
        let edges: Vec<(u32, u32)> = self.nodes[..self.len]
            .iter()
            .map(|node| {
                let word = self.table[node.edge as usize];
                (node.parent, ((word >> SLOT_BITS) & token_mask) as u32)
            })
            .collect();
        let order = self.full.then(|| {
            let sentinel = self.size;
            let mut order = Vec::with_capacity(self.size);
            let mut k = self.nodes[sentinel].newer as usize;
            while k != sentinel {
                order.push(k as u32);
                k = self.nodes[k].newer as usize;
            }
            order
        });
        Codebook::from_lean(&self.config, &edges, order.as_deref())
    }

    /// A lean codec for `config`, which must [`Self::fits`].
    pub(crate) fn new(config: &CompressionConfig) -> Self {
        debug_assert!(Self::fits(config));
        let size = config.max_codebook_size() as usize;
        let words = (size * WORDS_PER_ENTRY).next_power_of_two();
        let vocab = config.initial_vocab_size();
        Self {
            config: config.clone(),
            vocab,
            size,
            max_subtokens: config.max_subtokens(),
            table: vec![0; words],
            shift: 64 - words.trailing_zeros(),
            nodes: vec![Node::default(); size + 1],
            length: vec![0; size],
            tokens: vec![0; size * INLINE_TOKENS],
            keep_tokens: false,
            len: 0,
            full: false,
            pending: 0,
            pending_len: 0,
        }
    }

    fn reset(&mut self, keep_tokens: bool) {
        if self.len > 0 {
            self.table.fill(0);
        }
        self.keep_tokens = keep_tokens;
        self.len = 0;
        self.full = false;
        self.pending_len = 0;
    }

    /// Greedy LZW of `ids` appended to `out`; `Err` (with `out` as it was) when an id is not a
    /// base id.
    pub(crate) fn encode<I: TokenId, T: From<u32>>(
        &mut self,
        ids: &[I],
        out: &mut Vec<T>,
    ) -> Result<(), Unusual> {
        self.reset(false);
        let start = out.len();
        out.reserve(ids.len());
        for &raw in ids {
            match raw.to_u32() {
                Some(token) if token < self.vocab => {
                    self.push(token, |code| out.push(T::from(code)))
                }
                _ => {
                    out.truncate(start);
                    return Err(Unusual);
                }
            }
        }
        if self.pending_len > 0 {
            out.push(T::from(self.pending));
        }
        Ok(())
    }

    /// The base ids of a valid id stream (canonical or not) appended to `out`, exactly as
    /// [`crate::decode_into`] gives them; `Err` (with `out` as it was) when an id is invalid.
    pub(crate) fn decode<I: TokenId, T: From<u32>>(
        &mut self,
        ids: &[I],
        out: &mut Vec<T>,
    ) -> Result<(), Unusual> {
        if ids.len().saturating_mul(self.max_subtokens) > MAX_RESULT_IDS {
            return Err(Unusual);
        }
        self.reset(true);
        let start = out.len();
        out.reserve(ids.len() * 2);
        let mut scratch = [0u32; INLINE_TOKENS];
        for &raw in ids {
            let fed = raw.to_u32().and_then(|id| self.feed_id(id, &mut scratch));
            let Some(count) = fed else {
                out.truncate(start);
                return Err(Unusual);
            };
            out.extend(scratch[..count].iter().map(|&token| T::from(token)));
        }
        Ok(())
    }

    /// Feeds one id of a stream being decoded; its base tokens go to `tokens`, their count is
    /// returned (`None` when the id is invalid here).
    #[inline]
    fn feed_id(&mut self, id: u32, tokens: &mut [u32; INLINE_TOKENS]) -> Option<usize> {
        let Some(k) = id.checked_sub(self.vocab) else {
            self.push(id, |_| {});
            tokens[0] = id;
            return Some(1);
        };
        let k = k as usize;
        let victim = if self.full && self.pending_len > 0 {
            self.victim(self.pending)
        } else {
            None
        };
        if k < self.len && victim != Some(k) {
            let count = self.copy_tokens(id, tokens);
            if !self.push_entry(id, tokens[0], count, victim) {
                self.push_tokens(&tokens[..count]);
            }
            return Some(count);
        }
        // The id about to be created or recycled: the KwKwK case (pending match + its own
        // first token) where that is what feeding the token creates, else the entry it holds.
        let next = if self.full { victim } else { Some(self.len) };
        if self.pending_len > 0 && next == Some(k) {
            let pending = self.pending;
            let count = self.copy_tokens(pending, tokens);
            if count < INLINE_TOKENS && self.find(pending, tokens[0]).is_err() {
                tokens[count] = tokens[0];
                self.push_tokens(&tokens[..=count]);
                return Some(count + 1);
            }
        }
        if k < self.len {
            let count = self.copy_tokens(id, tokens);
            self.push_tokens(&tokens[..count]);
            return Some(count);
        }
        None
    }

    /// Writes the base tokens of an existing `code` to `tokens`; returns their count.
    #[inline]
    fn copy_tokens(&self, code: u32, tokens: &mut [u32; INLINE_TOKENS]) -> usize {
        match code.checked_sub(self.vocab) {
            None => {
                tokens[0] = code;
                1
            }
            Some(k) => {
                let row = k as usize * INLINE_TOKENS;
                tokens.copy_from_slice(&self.tokens[row..row + INLINE_TOKENS]);
                usize::from(self.length[k as usize])
            }
        }
    }

    fn push_tokens(&mut self, tokens: &[u32]) {
        for &token in tokens {
            self.push(token, |_| {});
        }
    }

    /// Feeds the `len` base tokens of entry `code` (first one `first`) in one step where that
    /// is what feeding them one at a time does (see `Encoder::push_entry`; the caller made
    /// sure `code` is not `victim`, the slot a full codebook recycles next); false, having
    /// changed nothing, when the pending match extends into them.
    #[inline]
    fn push_entry(&mut self, code: u32, first: u32, len: usize, victim: Option<usize>) -> bool {
        if self.pending_len > 0 {
            let Err(vacant) = self.find(self.pending, first) else {
                return false;
            };
            if self.full {
                self.recycle(victim, self.pending, first, vacant);
            } else {
                self.create(self.pending, first, vacant);
            }
        }
        if len == self.max_subtokens {
            if self.full {
                self.used(code);
            }
            self.pending_len = 0;
        } else {
            self.pending = code;
            self.pending_len = len;
        }
        true
    }

    /// Feeds one base token; emitted codes go to `emit`.
    #[inline]
    fn push(&mut self, token: u32, mut emit: impl FnMut(u32)) {
        if self.config.is_disabled(token) {
            if self.pending_len > 0 {
                if self.full {
                    self.used(self.pending);
                }
                emit(self.pending);
                self.pending_len = 0;
            }
            emit(token);
            return;
        }
        if self.pending_len == 0 {
            self.pending = token;
            self.pending_len = 1;
        } else {
            match self.find(self.pending, token) {
                Ok(k) => {
                    self.pending = self.vocab + k as u32;
                    self.pending_len += 1;
                }
                Err(vacant) => {
                    let code = self.pending;
                    self.create(code, token, vacant);
                    emit(code);
                    self.pending = token;
                    self.pending_len = 1;
                }
            }
        }
        if self.pending_len == self.max_subtokens {
            if self.full {
                self.used(self.pending);
            }
            emit(self.pending);
            self.pending_len = 0;
        }
    }

    #[inline]
    fn key(parent: u32, token: u32) -> u64 {
        (u64::from(parent + 1) << TOKEN_BITS) | u64::from(token)
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(FIBONACCI) >> self.shift) as usize
    }

    /// The slot of the child `(parent, token)`, or `Err` with the empty word where that edge
    /// would go.
    #[inline]
    fn find(&self, parent: u32, token: u32) -> Result<usize, usize> {
        let key = Self::key(parent, token);
        let mask = self.table.len() - 1;
        let mut index = self.home(key) & mask;
        loop {
            let word = self.table[index];
            if word >> SLOT_BITS == key {
                return Ok((word & SLOT_MASK) as usize);
            }
            if word == 0 {
                return Err(index);
            }
            index = (index + 1) & mask;
        }
    }

    /// Removes the edge at `hole`, shifting back the rest of its probe run.
    #[inline]
    fn remove_edge(&mut self, mut hole: usize) {
        let mask = self.table.len() - 1;
        let mut index = hole;
        loop {
            index = (index + 1) & mask;
            let word = self.table[index];
            if word == 0 {
                break;
            }
            let home = self.home(word >> SLOT_BITS) & mask;
            if index.wrapping_sub(home) & mask >= index.wrapping_sub(hole) & mask {
                self.table[hole] = word;
                self.nodes[(word & SLOT_MASK) as usize].edge = hole as u32;
                hole = index;
            }
        }
        self.table[hole] = 0;
    }

    /// Writes entry `k` = `code` + `token`, its edge at the empty word `at`.
    #[inline]
    fn set_entry(&mut self, k: usize, code: u32, token: u32, at: usize) {
        self.table[at] = (Self::key(code, token) << SLOT_BITS) | k as u64;
        let node = &mut self.nodes[k];
        node.edge = at as u32;
        node.parent = code;
        if !self.keep_tokens {
            return;
        }
        let row = k * INLINE_TOKENS;
        let length = match code.checked_sub(self.vocab) {
            None => {
                self.tokens[row] = code;
                1
            }
            Some(p) => {
                let from = p as usize * INLINE_TOKENS;
                self.tokens.copy_within(from..from + INLINE_TOKENS, row);
                usize::from(self.length[p as usize])
            }
        };
        self.tokens[row + length] = token;
        self.length[k] = (length + 1) as u8;
    }

    /// Moves entry `k` to the newest end of the use order.
    #[inline]
    fn touch(&mut self, k: usize) {
        let sentinel = self.size;
        let node = self.nodes[k];
        self.nodes[node.older as usize].newer = node.newer;
        self.nodes[node.newer as usize].older = node.older;
        let newest = self.nodes[sentinel].older;
        self.nodes[newest as usize].newer = k as u32;
        self.nodes[k].older = newest;
        self.nodes[k].newer = sentinel as u32;
        self.nodes[sentinel].older = k as u32;
    }

    /// An emission of `code`: a use of it and of every entry it extends, deepest first.
    #[inline]
    fn used(&mut self, mut code: u32) {
        while let Some(k) = code.checked_sub(self.vocab) {
            self.touch(k as usize);
            code = self.nodes[k as usize].parent;
        }
    }

    /// The least recently used entry that `pending` does not extend (its own prefixes come up
    /// deepest first, being older than none of their ancestors).
    #[inline]
    fn victim(&self, pending: u32) -> Option<usize> {
        let sentinel = self.size;
        let mut expected = pending;
        let mut k = self.nodes[sentinel].newer as usize;
        while k != sentinel {
            if self.vocab + k as u32 != expected {
                return Some(k);
            }
            expected = self.nodes[k].parent;
            k = self.nodes[k].newer as usize;
        }
        None
    }

    /// Links every entry in the use order the codebook starts with when it fills.
    #[cold]
    fn start_order(&mut self) {
        let size = self.size;
        let vocab = self.vocab;
        let order = order_when_full(size, |k| self.nodes[k].parent.checked_sub(vocab));
        let mut previous = size;
        for k in order {
            self.nodes[previous].newer = k;
            self.nodes[k as usize].older = previous as u32;
            previous = k as usize;
        }
        self.nodes[previous].newer = size as u32;
        self.nodes[size].older = previous as u32;
        self.full = true;
    }

    /// The emission of the pending `code` before `token`, `code + token` not an entry (its
    /// edge would go to the empty word `vacant`): creates it in a new or a recycled slot.
    #[inline]
    fn create(&mut self, code: u32, token: u32, vacant: usize) {
        if !self.full {
            self.set_entry(self.len, code, token, vacant);
            self.len += 1;
            if self.len == self.size {
                self.start_order();
            }
            return;
        }
        self.recycle(self.victim(code), code, token, vacant);
    }

    /// [`Self::create`] in a full codebook, `victim` being [`Self::victim`] of `code`.
    #[inline]
    fn recycle(&mut self, victim: Option<usize>, code: u32, token: u32, vacant: usize) {
        let Some(k) = victim else {
            self.used(code);
            return;
        };
        // The new edge goes in first: removing the old one may shift it back.
        let old_edge = self.nodes[k].edge as usize;
        self.set_entry(k, code, token, vacant);
        self.remove_edge(old_edge);
        self.touch(k);
        self.used(code);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::{decode_with, encode_with};
    use crate::error::Result;
    use crate::{Encoder, Lattice};

    /// The general codec's ids and codebook (`encode`/`decode` take the lean codec too).
    fn general(
        config: &CompressionConfig,
        ids: &[u32],
        encoding: bool,
    ) -> Result<(Vec<u32>, Codebook)> {
        let mut encoder = Encoder::new(config);
        let mut out = Vec::new();
        if encoding {
            encode_with(&mut encoder, ids, &mut out)?;
        } else {
            decode_with(&mut encoder, ids, &mut out)?;
        }
        Ok((out, encoder.into_codebook()))
    }

    /// Long streams over a few motifs and noise, through codebooks small enough to recycle
    /// their slots many times.
    fn long_case() -> impl Strategy<Value = (CompressionConfig, Vec<u32>)> {
        (2u32..20, 1u32..24, 1usize..=INLINE_TOKENS, any::<bool>()).prop_flat_map(
            |(vocab, size, subtokens, with_disabled)| {
                let disabled: Vec<u32> = if with_disabled { vec![0] } else { vec![] };
                let config = CompressionConfig::new(vocab, size, subtokens, disabled, None)
                    .expect("a valid config")
                    .with_eviction(Eviction::Lru);
                let motif = proptest::collection::vec(0..vocab, 1..6);
                let pieces = proptest::collection::vec(
                    prop_oneof![motif, proptest::collection::vec(0..vocab, 1..3)],
                    100..800,
                );
                (Just(config), pieces.prop_map(|pieces| pieces.concat()))
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The lean codec itself (not a fallback) gives the general codec's ids and codebook
        /// (entries by slot, use order), on canonical and sampled non-canonical streams,
        /// reusing one codec across calls.
        #[test]
        fn the_lean_codec_agrees_with_the_general_one(
            (config, ids) in long_case(),
            seeds in proptest::collection::vec(any::<u64>(), 1..4),
        ) {
            let mut lean = LruCodec::new(&config);
            let (expected, codebook) = general(&config, &ids, true).expect("base ids");
            let mut encoded: Vec<u32> = Vec::new();
            prop_assert_eq!(lean.encode(&ids, &mut encoded), Ok(()));
            prop_assert_eq!(&encoded, &expected);
            let built = lean.codebook();
            prop_assert_eq!(&built, &codebook);
            prop_assert_eq!(built.recency_order(), codebook.recency_order());
            let shape = |c: &Codebook| -> Vec<(usize, u32)> {
                c.iter().map(|(id, _)| (c.code_len(id), c.first_token(id))).collect()
            };
            prop_assert_eq!(shape(&built), shape(&codebook));
            prop_assert!(built.iter().eq(codebook.iter()));
            let mut decoded: Vec<u32> = Vec::new();
            prop_assert_eq!(lean.decode(&encoded, &mut decoded), Ok(()));
            prop_assert_eq!(&decoded, &ids);
            prop_assert_eq!(&lean.codebook(), &codebook);
            let lattice = Lattice::new(&config, &ids).expect("base ids");
            for seed in seeds {
                let stream = lattice.sample(seed);
                let mut decoded: Vec<u32> = Vec::new();
                prop_assert_eq!(lean.decode(&stream, &mut decoded), Ok(()));
                prop_assert_eq!(&decoded, &ids);
                prop_assert_eq!(&lean.codebook(), &codebook);
            }
        }

        /// Arbitrary ids: the lean decoder accepts exactly the streams the general one does,
        /// with the same base ids, and leaves `out` as it was when it refuses.
        #[test]
        fn the_lean_decoder_accepts_exactly_the_valid_streams(
            (config, ids) in long_case(),
            noise in proptest::collection::vec(any::<u16>(), 0..200),
        ) {
            let total = config.total_vocab_size();
            let (mut stream, _) = general(&config, &ids, true).expect("base ids");
            for (i, &n) in noise.iter().enumerate() {
                let at = (usize::from(n) * 7 + i) % (stream.len() + 1);
                stream.insert(at, u32::from(n) % (total + 2));
            }
            let mut lean = LruCodec::new(&config);
            let mut decoded: Vec<u32> = vec![7];
            match general(&config, &stream, false) {
                Ok((expected, codebook)) => {
                    prop_assert_eq!(lean.decode(&stream, &mut decoded), Ok(()));
                    prop_assert_eq!(&decoded[1..], &expected[..]);
                    prop_assert_eq!(&lean.codebook(), &codebook);
                }
                Err(_) => {
                    prop_assert_eq!(lean.decode(&stream, &mut decoded), Err(Unusual));
                    prop_assert_eq!(&decoded, &[7]);
                }
            }
        }
    }

    #[test]
    fn configs_outside_the_packing_are_left_to_the_general_codec() {
        let config = |vocab: u32, size: u32, subtokens: usize, eviction: Eviction| {
            CompressionConfig::new(vocab, size, subtokens, [], None)
                .expect("a valid config")
                .with_eviction(eviction)
        };
        assert!(LruCodec::fits(&config(129_280, 2048, 4, Eviction::Lru)));
        assert!(!LruCodec::fits(&config(129_280, 2048, 4, Eviction::None)));
        assert!(!LruCodec::fits(&config(1 << 24, 2048, 4, Eviction::Lru)));
        assert!(!LruCodec::fits(&config(
            1000,
            (1 << 16) + 1,
            4,
            Eviction::Lru
        )));
        assert!(!LruCodec::fits(&config(1000, 0, 4, Eviction::Lru)));
        assert!(!LruCodec::fits(&config(
            1000,
            64,
            INLINE_TOKENS + 1,
            Eviction::Lru
        )));
    }

    #[test]
    fn invalid_ids_leave_the_output_as_it_was() {
        let config = CompressionConfig::new(10, 4, 3, [], None)
            .expect("a valid config")
            .with_eviction(Eviction::Lru);
        let mut lean = LruCodec::new(&config);
        let mut out: Vec<u32> = vec![1, 2];
        assert_eq!(lean.encode(&[1u32, 2, 10], &mut out), Err(Unusual));
        assert_eq!(lean.encode(&[1i64, -1], &mut out), Err(Unusual));
        assert_eq!(lean.decode(&[1u32, 2, 13], &mut out), Err(Unusual));
        assert_eq!(out, [1, 2]);
    }
}
