//! Lossless training windows: a long document cut into windows of at most `window`
//! hypertokens, each with its own fresh codebook, such that every base token lands in exactly
//! one window.
//!
//! The document is encoded greedily; a window closes once it holds `window` codes, and the next
//! window starts, with an empty codebook, at the first base token those codes do not cover
//! (the pending match of the closed window is fed again, not dropped — the reference's chunked
//! encoder drops up to `max_subtokens - 1` tokens there). Each window's ids equal the greedy
//! encoding of its own base span, because a code boundary of a greedy encoding is a boundary of
//! the encoding of the prefix that ends there.

use crate::config::CompressionConfig;
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use crate::token_id::{invalid, TokenId};

/// The windows of one document: window `k` holds `ids[id_offsets[k]..id_offsets[k + 1]]` and
/// covers the base tokens `base_offsets[k]..base_offsets[k + 1]` of the document (suffix
/// included). Both offset vectors start at 0 and have one more item than there are windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    pub ids: Vec<u32>,
    pub id_offsets: Vec<usize>,
    pub base_offsets: Vec<usize>,
}

impl Default for Windows {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            id_offsets: vec![0],
            base_offsets: vec![0],
        }
    }
}

impl Windows {
    /// How many windows there are.
    pub fn len(&self) -> usize {
        self.id_offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of window `k`.
    pub fn window(&self, k: usize) -> &[u32] {
        &self.ids[self.id_offsets[k]..self.id_offsets[k + 1]]
    }

    /// The base span (start, end) of window `k`.
    pub fn base_span(&self, k: usize) -> (usize, usize) {
        (self.base_offsets[k], self.base_offsets[k + 1])
    }
}

/// Cuts `ids` followed by `suffix` (an end-of-document token, say) into lossless windows of at
/// most `window` hypertokens (see the module docs). Every id must be a base id; on error
/// nothing is returned, and the error's position counts from the start of `ids`.
pub fn encode_windows<I: TokenId>(
    config: &CompressionConfig,
    ids: &[I],
    suffix: &[u32],
    window: usize,
) -> Result<Windows> {
    let mut encoder = Encoder::new(config);
    let mut out = Windows::default();
    encode_windows_with(&mut encoder, ids, suffix, window, &mut out)?;
    Ok(out)
}

/// Checks a window size.
pub(crate) fn check_window(window: usize) -> Result<()> {
    if window == 0 {
        return Err(Error::argument("window", "must be at least 1, got 0"));
    }
    Ok(())
}

/// [`encode_windows`] on a reusable encoder and output (which is cleared first).
pub(crate) fn encode_windows_with<I: TokenId>(
    encoder: &mut Encoder,
    ids: &[I],
    suffix: &[u32],
    window: usize,
    out: &mut Windows,
) -> Result<()> {
    check_window(window)?;
    let limit = encoder.config().initial_vocab_size();
    let mut tokens = Vec::with_capacity(ids.len() + suffix.len());
    for (position, &raw) in ids.iter().enumerate() {
        match raw.to_u32() {
            Some(id) if id < limit => tokens.push(id),
            _ => return Err(invalid(position, raw, limit)),
        }
    }
    for (offset, &id) in suffix.iter().enumerate() {
        if id >= limit {
            return Err(invalid(ids.len() + offset, id, limit));
        }
        tokens.push(id);
    }
    *out = Windows::default();
    out.ids.reserve(tokens.len());
    let mut start = 0;
    while start < tokens.len() {
        encoder.reset();
        let first = out.ids.len();
        let mut covered = 0;
        let mut position = start;
        while position < tokens.len() && out.ids.len() - first < window {
            let before = out.ids.len();
            encoder.push(tokens[position], |code| out.ids.push(code));
            position += 1;
            // A push emits at most two codes (a flushed match and a disabled id); keep only
            // those that fit, so the window never holds more than `window` codes.
            out.ids.truncate(first.saturating_add(window));
            for &code in &out.ids[before..] {
                covered += encoder.codebook().code_len(code);
            }
        }
        if out.ids.len() - first < window {
            let before = out.ids.len();
            encoder.finish(|code| out.ids.push(code));
            for &code in &out.ids[before..] {
                covered += encoder.codebook().code_len(code);
            }
        }
        start += covered;
        out.id_offsets.push(out.ids.len());
        out.base_offsets.push(start);
    }
    encoder.reset();
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::codec::{decode, encode};

    #[test]
    fn a_short_document_is_one_window_equal_to_encode() {
        let config = CompressionConfig::new(10, 5, 3, [9], Some(0)).unwrap();
        let ids = [1u32, 2, 1, 2, 1, 2, 1, 2, 3, 3, 3];
        let windows = encode_windows(&config, &ids, &[], 100).unwrap();
        assert_eq!(windows.len(), 1);
        assert_eq!(windows.window(0), encode(&config, &ids).unwrap().0);
        assert_eq!(windows.base_span(0), (0, ids.len()));
    }

    #[test]
    fn the_pending_match_starts_the_next_window() {
        let config = CompressionConfig::new(10, 5, 3, [], None).unwrap();
        let ids = [1u32, 2, 1, 2, 1, 2, 1, 2];
        let windows = encode_windows(&config, &ids, &[9], 2).unwrap();
        assert_eq!(windows.window(0), [1, 2]);
        assert_eq!(windows.base_span(0), (0, 2));
        let mut rebuilt = Vec::new();
        for k in 0..windows.len() {
            let (start, end) = windows.base_span(k);
            let all: Vec<u32> = ids.iter().copied().chain([9]).collect();
            assert_eq!(
                windows.window(k),
                encode(&config, &all[start..end]).unwrap().0
            );
            rebuilt.extend(decode(&config, windows.window(k)).unwrap().0);
        }
        assert_eq!(rebuilt, [1, 2, 1, 2, 1, 2, 1, 2, 9]);
    }

    #[test]
    fn a_flush_and_a_disabled_id_in_one_push_split_across_windows() {
        let config = CompressionConfig::new(10, 5, 4, [9], None).unwrap();
        // After [1, 2, 3], the pending match (3) and the disabled 9 are emitted by one push.
        let windows = encode_windows(&config, &[1u32, 2, 3, 9, 4], &[], 3).unwrap();
        assert_eq!(windows.window(0), [1, 2, 3]);
        assert_eq!(windows.window(1), [9, 4]);
        assert_eq!(windows.base_offsets, [0, 3, 5]);
    }

    #[test]
    fn the_largest_window_is_no_window_at_all() {
        let config = CompressionConfig::new(10, 5, 3, [], None).unwrap();
        let pool = crate::EncoderPool::new(&config);
        let rows = [vec![1u32, 2, 1, 2], vec![3, 3, 3, 3]];
        let windows = pool.batch_encode_windows(&rows, &[9], usize::MAX).unwrap();
        for (row, windows) in rows.iter().zip(&windows) {
            let all: Vec<u32> = row.iter().copied().chain([9]).collect();
            assert_eq!(windows.len(), 1);
            assert_eq!(windows.window(0), encode(&config, &all).unwrap().0);
        }
    }

    #[test]
    fn rejects_bad_input() {
        let config = CompressionConfig::new(10, 5, 3, [], None).unwrap();
        assert!(matches!(
            encode_windows(&config, &[1u32], &[], 0),
            Err(Error::InvalidArgument { name: "window", .. })
        ));
        let error = encode_windows(&config, &[1i64, -1], &[], 4).unwrap_err();
        assert!(matches!(error, Error::InvalidToken { position: 1, .. }));
        let error = encode_windows(&config, &[1u32, 2], &[10], 4).unwrap_err();
        assert!(matches!(error, Error::InvalidToken { position: 2, .. }));
        assert!(encode_windows::<u32>(&config, &[], &[], 4)
            .unwrap()
            .is_empty());
    }
}
