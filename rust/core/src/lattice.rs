//! Every valid segmentation of a base sequence into ids.
//!
//! Because the codebook after any prefix is a pure function of the base tokens so far, the
//! valid ids at base position `i` do not depend on how `0..i` was segmented: the base token,
//! each hypertoken that exists after `0..i` and matches the tokens ahead, and the one about to
//! be created there when it matches (LZW's KwKwK case; in a full evicting codebook it takes
//! the id of the slot it recycles, which then stands for it alone). So the segmentations are
//! the paths of a lattice over positions `0..=n`, built in one greedy pass that reads each
//! position's pieces from the codebook as it stands there.

use crate::config::CompressionConfig;
use crate::encoder::Encoder;
use crate::error::Result;
use crate::limits::{check, MAX_LATTICE_EDGES, MAX_RESULT_IDS};
use crate::token_id::{check_below, TokenId};

/// One lattice edge: `id` covers `len` base tokens starting where the edge starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub id: u32,
    pub len: u32,
}

/// The segmentation lattice of one base sequence.
#[derive(Debug, Clone)]
pub struct Lattice {
    starts: Vec<usize>,
    pieces: Vec<Piece>,
    base_len: usize,
}

impl Lattice {
    /// Builds the lattice of `base_ids` (all base ids) under `config`; refused when it would
    /// have more than [`MAX_LATTICE_EDGES`] edges.
    pub fn new<I: TokenId>(config: &CompressionConfig, base_ids: &[I]) -> Result<Self> {
        check_below(base_ids, config.initial_vocab_size())?;
        let tokens: Vec<u32> = base_ids.iter().filter_map(|id| id.to_u32()).collect();
        let mut encoder = Encoder::with_capacity(config, tokens.len());
        let mut starts = Vec::with_capacity(tokens.len() + 1);
        let mut pieces = Vec::with_capacity(tokens.len() * 2);
        for (position, &token) in tokens.iter().enumerate() {
            starts.push(pieces.len());
            pieces.push(Piece { id: token, len: 1 });
            if !config.is_disabled(token) {
                extend_matches(&encoder, &tokens[position..], &mut pieces);
            }
            check(
                || format!("the segmentation lattice of {} base ids", tokens.len()),
                pieces.len() as u128,
                MAX_LATTICE_EDGES,
            )?;
            encoder.push(token, |_| {});
        }
        starts.push(pieces.len());
        Ok(Self {
            starts,
            pieces,
            base_len: tokens.len(),
        })
    }

    /// Number of base tokens.
    pub fn base_len(&self) -> usize {
        self.base_len
    }

    /// The base ids the lattice segments (each position's first alternative).
    pub fn base_ids(&self) -> Vec<u32> {
        self.starts[..self.base_len]
            .iter()
            .map(|&start| self.pieces[start].id)
            .collect()
    }

    /// The ids valid at base position `position`, shortest first (the base token comes first).
    pub fn alternatives(&self, position: usize) -> &[Piece] {
        match (self.starts.get(position), self.starts.get(position + 1)) {
            (Some(&start), Some(&end)) => &self.pieces[start..end],
            _ => &[],
        }
    }

    /// Number of segmentations, saturating at `u128::MAX`.
    pub fn count(&self) -> u128 {
        self.paths_from().first().copied().unwrap_or(1)
    }

    /// For each position, the number of segmentations of the rest (saturating); the last
    /// entry, for the end of the sequence, is 1.
    fn paths_from(&self) -> Vec<u128> {
        let mut paths = vec![0u128; self.base_len + 1];
        paths[self.base_len] = 1;
        for position in (0..self.base_len).rev() {
            paths[position] = self
                .alternatives(position)
                .iter()
                .map(|piece| paths[position + piece.len as usize])
                .fold(0u128, u128::saturating_add);
        }
        paths
    }

    /// Up to `limit` segmentations, in lexicographic order of piece lengths (all base tokens
    /// first); refused when they would hold more than [`MAX_RESULT_IDS`] ids in all.
    ///
    /// A depth-first walk with an explicit stack: a path may have as many pieces as the
    /// sequence has base tokens, far deeper than a thread's stack allows recursion.
    pub fn enumerate(&self, limit: usize) -> Result<Vec<Vec<u32>>> {
        self.enumerate_within(limit, MAX_RESULT_IDS)
    }

    fn enumerate_within(&self, limit: usize, max_ids: usize) -> Result<Vec<Vec<u32>>> {
        let mut found = Vec::new();
        // For each piece of the current path: where it starts and which alternative it is.
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mut path = Vec::new();
        let mut position = 0;
        let mut total = 0usize;
        while found.len() < limit {
            if position < self.base_len {
                let piece = self.alternatives(position)[0];
                stack.push((position, 0));
                path.push(piece.id);
                position += piece.len as usize;
                continue;
            }
            total += path.len();
            check(
                || {
                    format!(
                        "the ids of {} segmentations (ask for fewer)",
                        found.len() + 1
                    )
                },
                total as u128,
                max_ids,
            )?;
            found.push(path.clone());
            // Backtrack to the deepest piece that has a longer alternative, and take it.
            loop {
                let Some((start, index)) = stack.pop() else {
                    return Ok(found);
                };
                path.pop();
                if let Some(piece) = self.alternatives(start).get(index + 1) {
                    stack.push((start, index + 1));
                    path.push(piece.id);
                    position = start + piece.len as usize;
                    break;
                }
            }
        }
        Ok(found)
    }

    /// One segmentation drawn uniformly at random (up to a modulo bias below 2^-64 while the
    /// count fits in a `u128`), reproducible from `seed`.
    pub fn sample(&self, seed: u64) -> Vec<u32> {
        let paths = self.paths_from();
        let mut state = seed;
        let mut path = Vec::new();
        let mut position = 0;
        while position < self.base_len {
            let total = paths[position];
            let mut pick = uniform_below(&mut state, total);
            for piece in self.alternatives(position) {
                let weight = paths[position + piece.len as usize];
                if pick < weight {
                    path.push(piece.id);
                    position += piece.len as usize;
                    break;
                }
                pick -= weight;
            }
        }
        path
    }
}

/// The hypertokens valid where `ahead` starts, given the encoder state there, that match the
/// tokens of `ahead` (longest last): the existing entries the walk down the trie finds, and the
/// entry the KwKwK case would create (which also shadows the entry whose slot it recycles).
fn extend_matches(encoder: &Encoder, ahead: &[u32], pieces: &mut Vec<Piece>) {
    let codebook = encoder.codebook();
    let next = encoder.next_entry();
    let kwkwk = next.and_then(|next| {
        let len = codebook.code_len(next.code) + 1;
        let mut tokens = Vec::with_capacity(len);
        codebook.extend_subtokens(next.code, &mut tokens);
        tokens.push(next.first);
        ahead.starts_with(&tokens).then_some(Piece {
            id: next.id,
            len: len as u32,
        })
    });
    let start = pieces.len();
    let mut code = ahead[0];
    for (offset, &token) in ahead[1..].iter().enumerate() {
        let Some(child) = codebook.child(code, token) else {
            break;
        };
        if next.is_none_or(|next| next.id != child) {
            pieces.push(Piece {
                id: child,
                len: offset as u32 + 2,
            });
        }
        code = child;
    }
    if let Some(piece) = kwkwk {
        let at = pieces[start..]
            .iter()
            .position(|other| other.len > piece.len)
            .map_or(pieces.len(), |index| start + index);
        pieces.insert(at, piece);
    }
}

/// splitmix64, then a rejection-free multiply-shift reduction to `[0, bound)`.
fn uniform_below(state: &mut u64, bound: u128) -> u128 {
    let mut next = || {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let wide = (u128::from(next()) << 64) | u128::from(next());
    if bound == 0 {
        0
    } else {
        wide % bound
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::Error;

    #[test]
    fn enumerations_over_the_size_limit_are_refused() {
        let config = CompressionConfig::new(4, 8, 4, [], None).unwrap();
        let lattice = Lattice::new(&config, &[0u32; 10]).unwrap();
        assert_eq!(lattice.enumerate_within(2, 20).unwrap().len(), 2);
        let error = lattice.enumerate_within(3, 20).unwrap_err();
        assert!(
            matches!(error, Error::LimitExceeded { limit: 20, .. }),
            "{error}"
        );
    }
}
