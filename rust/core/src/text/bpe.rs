//! Byte-pair merges on one pre-tokenized piece, as Hugging Face's `BPE` model applies them:
//! start from one symbol per byte and repeatedly merge the adjacent pair of lowest merge rank,
//! the leftmost one on ties, until no pair has a merge.
//!
//! Short pieces (nearly all) scan their pair ranks, as tiktoken's `_byte_pair_merge` does;
//! long ones use a heap over a linked list, as Hugging Face does, so no piece is quadratic.
//! Both pick the same merge at every step.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

/// Pieces up to this many bytes scan; longer ones use the heap.
const SCAN_LIMIT: usize = 96;
/// Pieces up to this many bytes go through the per-thread cache.
const CACHE_PIECE_BYTES: usize = 64;
/// The per-thread cache is emptied when it holds this many pieces.
const CACHE_ENTRIES: usize = 1 << 17;

const NO_RANK: u32 = u32::MAX;
/// A byte with no token: Hugging Face drops it (no unknown token, no byte fallback), and the
/// bytes around it can merge as if it were not there.
pub(crate) const NO_TOKEN: u32 = u32::MAX;

/// A byte-level BPE model: one id per byte, and the merges.
#[derive(Debug)]
pub(crate) struct Bpe {
    byte_ids: [u32; 256],
    /// (left id, right id) → (rank, merged id).
    merges: FxHashMap<u64, (u32, u32)>,
    /// Whole pieces that are tokens, when the model ignores merges for them.
    whole: Option<FxHashMap<Box<[u8]>, u32>>,
    /// Tells this model's cached pieces from another's on the same thread.
    key: u64,
}

fn pair(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// Ids of recently seen pieces, for one model at a time (`owner` is its key).
#[derive(Default)]
struct PieceCache {
    owner: u64,
    pieces: FxHashMap<Box<[u8]>, Box<[u32]>>,
}

thread_local! {
    static CACHE: RefCell<PieceCache> = RefCell::new(PieceCache::default());
}

impl Bpe {
    pub(crate) fn new(
        byte_ids: [u32; 256],
        merges: FxHashMap<u64, (u32, u32)>,
        whole: Option<FxHashMap<Box<[u8]>, u32>>,
    ) -> Self {
        Self {
            byte_ids,
            merges,
            whole,
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub(crate) fn pair_key(left: u32, right: u32) -> u64 {
        pair(left, right)
    }

    /// Appends the ids of `piece` to `out`.
    pub(crate) fn encode(&self, piece: &[u8], out: &mut Vec<u32>) {
        match piece.len() {
            0 => {}
            1 => out.extend(
                (self.byte_ids[piece[0] as usize] != NO_TOKEN)
                    .then_some(self.byte_ids[piece[0] as usize]),
            ),
            n if n <= CACHE_PIECE_BYTES => self.encode_cached(piece, out),
            _ => self.encode_uncached(piece, out),
        }
    }

    fn encode_cached(&self, piece: &[u8], out: &mut Vec<u32>) {
        CACHE.with(|cell| {
            let mut cache = cell.borrow_mut();
            if cache.owner != self.key {
                cache.pieces.clear();
                cache.owner = self.key;
            }
            if let Some(ids) = cache.pieces.get(piece) {
                out.extend_from_slice(ids);
                return;
            }
            let start = out.len();
            self.encode_uncached(piece, out);
            if cache.pieces.len() >= CACHE_ENTRIES {
                cache.pieces.clear();
            }
            cache.pieces.insert(piece.into(), out[start..].into());
        });
    }

    fn encode_uncached(&self, piece: &[u8], out: &mut Vec<u32>) {
        if let Some(id) = self.whole.as_ref().and_then(|whole| whole.get(piece)) {
            out.push(*id);
        } else if piece.len() <= SCAN_LIMIT {
            self.merge_scan(piece, out);
        } else {
            self.merge_heap(piece, out);
        }
    }

    fn rank(&self, left: u32, right: u32) -> (u32, u32) {
        self.merges
            .get(&pair(left, right))
            .copied()
            .unwrap_or((NO_RANK, 0))
    }

    fn symbols(&self, piece: &[u8]) -> Vec<u32> {
        piece
            .iter()
            .map(|&b| self.byte_ids[b as usize])
            .filter(|&id| id != NO_TOKEN)
            .collect()
    }

    fn merge_scan(&self, piece: &[u8], out: &mut Vec<u32>) {
        let mut symbols = self.symbols(piece);
        if symbols.len() < 2 {
            out.extend_from_slice(&symbols);
            return;
        }
        let mut ranks: Vec<(u32, u32)> =
            symbols.windows(2).map(|w| self.rank(w[0], w[1])).collect();
        loop {
            let mut best = NO_RANK;
            let mut at = 0;
            for (i, &(rank, _)) in ranks.iter().enumerate() {
                if rank < best {
                    best = rank;
                    at = i;
                }
            }
            if best == NO_RANK {
                break;
            }
            symbols[at] = ranks[at].1;
            symbols.remove(at + 1);
            ranks.remove(at);
            if at > 0 {
                ranks[at - 1] = self.rank(symbols[at - 1], symbols[at]);
            }
            if at < ranks.len() {
                ranks[at] = self.rank(symbols[at], symbols[at + 1]);
            }
        }
        out.extend_from_slice(&symbols);
    }

    fn merge_heap(&self, piece: &[u8], out: &mut Vec<u32>) {
        const NONE: usize = usize::MAX;
        let mut ids = self.symbols(piece);
        let n = ids.len();
        if n < 2 {
            out.extend_from_slice(&ids);
            return;
        }
        let mut alive = vec![true; n];
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut next: Vec<usize> = (1..=n).map(|i| if i < n { i } else { NONE }).collect();
        // (rank, left position, merged id): smallest rank first, then leftmost.
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            let (rank, merged) = self.rank(ids[i], ids[i + 1]);
            if rank != NO_RANK {
                heap.push(Reverse((rank, i, merged)));
            }
        }
        while let Some(Reverse((rank, at, merged))) = heap.pop() {
            let right = next[at];
            if !alive[at] || right == NONE || self.rank(ids[at], ids[right]) != (rank, merged) {
                continue;
            }
            ids[at] = merged;
            alive[right] = false;
            next[at] = next[right];
            if next[at] != NONE {
                prev[next[at]] = at;
                let (rank, merged) = self.rank(ids[at], ids[next[at]]);
                if rank != NO_RANK {
                    heap.push(Reverse((rank, at, merged)));
                }
            }
            let before = prev[at];
            if before != NONE && before < n {
                let (rank, merged) = self.rank(ids[before], ids[at]);
                if rank != NO_RANK {
                    heap.push(Reverse((rank, before, merged)));
                }
            }
        }
        let mut at = 0;
        while at != NONE {
            out.push(ids[at]);
            at = next[at];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes a..e are ids 0..4; merges: (a b)=5 rank 0, (b c)=6 rank 1, (5 c)=7 rank 2,
    /// (a a)=8 rank 3.
    fn model() -> Bpe {
        let mut byte_ids = [99u32; 256];
        for (i, b) in (b'a'..=b'e').enumerate() {
            byte_ids[b as usize] = i as u32;
        }
        let mut merges = FxHashMap::default();
        merges.insert(pair(0, 1), (0, 5));
        merges.insert(pair(1, 2), (1, 6));
        merges.insert(pair(5, 2), (2, 7));
        merges.insert(pair(0, 0), (3, 8));
        Bpe::new(byte_ids, merges, None)
    }

    #[test]
    fn lowest_rank_first_then_leftmost() {
        let bpe = model();
        let mut out = Vec::new();
        bpe.merge_scan(b"abcd", &mut out);
        assert_eq!(out, [7, 3]);
        out.clear();
        bpe.merge_scan(b"aaa", &mut out);
        assert_eq!(out, [8, 0]);
    }

    #[test]
    fn heap_and_scan_agree() {
        let bpe = model();
        let text: Vec<u8> = (0..500u32)
            .map(|i| b"abcdae"[(i * 7 % 13 % 6) as usize])
            .collect();
        for len in [2, 3, 10, 97, 200, 500] {
            let (mut scan, mut heap) = (Vec::new(), Vec::new());
            bpe.merge_scan(&text[..len], &mut scan);
            bpe.merge_heap(&text[..len], &mut heap);
            assert_eq!(scan, heap, "length {len}");
        }
    }
}
