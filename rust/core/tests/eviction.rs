//! Eviction: a full codebook that recycles the least recently used leaf's slot, on long
//! streams against the naive oracle, and the cases that only eviction has.
#![allow(clippy::unwrap_used)]
mod common;

use common::{entries, naive_run, random_segmentation, Naive};
use proptest::prelude::*;
use zip2zip::{
    decode, encode, BatchCodebookState, Codebook, CodebookState, CompressionConfig, Error, Eviction,
};

fn lru(vocab: u32, size: u32, subtokens: usize, disabled: &[u32]) -> CompressionConfig {
    CompressionConfig::new(vocab, size, subtokens, disabled.iter().copied(), None)
        .unwrap()
        .with_eviction(Eviction::Lru)
}

/// Long streams (thousands of tokens over a few motifs and noise) through codebooks small
/// enough to recycle their slots many times.
fn long_case() -> impl Strategy<Value = (CompressionConfig, Vec<u32>)> {
    (2u32..20, 1u32..24, 2usize..7, any::<bool>()).prop_flat_map(
        |(vocab, size, subtokens, with_disabled)| {
            let disabled: Vec<u32> = if with_disabled { vec![0] } else { vec![] };
            let config = lru(vocab, size, subtokens, &disabled);
            let motif = proptest::collection::vec(0..vocab, 1..6);
            let pieces = proptest::collection::vec(
                prop_oneof![motif, proptest::collection::vec(0..vocab, 1..3)],
                200..1200,
            );
            (Just(config), pieces.prop_map(|pieces| pieces.concat()))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn long_streams_match_the_oracle_and_round_trip((config, ids) in long_case()) {
        let (encoded, codebook) = encode(&config, &ids).unwrap();
        let (expected, naive) = naive_run(&config, &ids);
        prop_assert_eq!(&encoded, &expected);
        prop_assert_eq!(entries(&codebook), naive.entries.clone());
        prop_assert_eq!(codebook.recency_order(), naive.recency_order());
        let (decoded, decoded_codebook) = decode(&config, &encoded).unwrap();
        prop_assert_eq!(&decoded, &ids);
        prop_assert_eq!(&decoded_codebook, &codebook);
        let mut state = CodebookState::new(&config);
        for chunk in encoded.chunks(7) {
            state.update(chunk).unwrap();
        }
        prop_assert_eq!(state.codebook(), &codebook);
        prop_assert!(codebook.len() <= config.max_codebook_size() as usize);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Long non-canonical streams through tiny recycling codebooks: the decoder's shortcut
    /// (a hypertoken fed as one step) must fall back exactly where a match extends into the
    /// next id, where that id's own slot is the one recycled, and for the KwKwK id.
    #[test]
    fn long_valid_streams_decode_like_reencoding(
        (config, ids) in long_case(),
        choices in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let stream = random_segmentation(&config, &ids, &choices);
        let (decoded, codebook) = decode(&config, &stream).unwrap();
        prop_assert_eq!(&decoded, &ids);
        let (_, reencoded) = encode(&config, &ids).unwrap();
        prop_assert_eq!(&codebook, &reencoded);
        prop_assert_eq!(codebook.recency_order(), reencoded.recency_order());
        let mut state = CodebookState::new(&config);
        state.update(&stream).unwrap();
        prop_assert_eq!(state.codebook(), &codebook);
    }
}

/// Where a state stands, as far as anything it does next can tell: its codebook (entries and
/// use order), pending match and next id, and what the rest of the stream creates from there.
fn standing(state: &CodebookState, rest: &[u32]) -> impl PartialEq + std::fmt::Debug {
    let mut resumed = state.clone();
    let created: Vec<Vec<u32>> = rest
        .chunks(3)
        .map(|chunk| resumed.update(chunk).unwrap())
        .collect();
    (
        state.codebook().clone(),
        state.codebook().recency_order(),
        state.pending_code(),
        state.next_id(),
        created,
        resumed.codebook().clone(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// An update that fails on its last id, whether the codebook is full before it, fills
    /// during it or stays below full, leaves the state (lookup table included: the rest of the
    /// stream must create the same) exactly as before; and so does a batch update that fails
    /// in another row.
    #[test]
    fn a_failed_update_undoes_every_recycled_slot_and_use(
        (config, ids) in long_case(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 1..6),
        chunk in 1usize..40,
    ) {
        let (encoded, _) = encode(&config, &ids).unwrap();
        let bad = config.total_vocab_size();
        let mut state = CodebookState::new(&config);
        let mut fed = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(encoded.len())).collect();
        cuts.sort_unstable();
        for cut in cuts {
            state.update(&encoded[fed..cut]).unwrap();
            fed = cut;
            // Enough of what follows to recycle the small codebooks' slots many times.
            let rest = &encoded[fed..encoded.len().min(fed + 200)];
            let before = standing(&state, rest);
            let attempt = [&rest[..chunk.min(rest.len())], &[bad]].concat();
            prop_assert!(state.update(&attempt).is_err());
            prop_assert_eq!(&standing(&state, rest), &before);
            prop_assert!(state.update_traced(&attempt).is_err());
            prop_assert_eq!(&standing(&state, rest), &before);
            let mut batch = BatchCodebookState::from_states(vec![state.clone(), state.clone()]);
            let good = &rest[..chunk.min(rest.len())];
            prop_assert!(batch.update(&[good.to_vec(), attempt.clone()]).is_err());
            for row in batch.rows() {
                prop_assert_eq!(&standing(row, rest), &before);
            }
        }
    }
}

#[test]
fn a_full_codebook_recycles_the_least_recently_used_leaf() {
    // a b b b b: [a, b] fills the one slot; the next miss evicts it for [b, b], which the
    // encoder then uses at once.
    let evicting = lru(3, 1, 3, &[]);
    let (encoded, codebook) = encode(&evicting, &[0u32, 1, 1, 1, 1]).unwrap();
    assert_eq!(encoded, [0, 1, 3, 1]);
    assert_eq!(entries(&codebook), [vec![1, 1]]);
    // The same stream never evicting: the slot keeps [a, b] and nothing more is merged.
    let frozen = CompressionConfig::new(3, 1, 3, [], None).unwrap();
    assert_eq!(
        encode(&frozen, &[0u32, 1, 1, 1, 1]).unwrap().0,
        [0, 1, 1, 1, 1]
    );
    assert_eq!(decode(&evicting, &encoded).unwrap().0, [0, 1, 1, 1, 1]);
}

#[test]
fn kwkwk_with_a_recycled_slot_stands_for_the_new_entry() {
    let config = lru(3, 1, 3, &[]);
    // After "a b", slot 3 holds [a, b] and "b" is pending: feeding b would evict [a, b] for
    // [b, b], so 3 stands for [b, b] (LZW's KwKwK case), not for what the slot holds now.
    let mut state = CodebookState::new(&config);
    assert_eq!(state.update(&[0u32, 1]).unwrap(), [3]);
    assert_eq!(state.codebook().subtokens(3).unwrap(), [0, 1]);
    assert_eq!(state.next_id(), Some(3));
    let mut next = Vec::new();
    assert!(state.next_entry_into(&mut next));
    assert_eq!(next, [1, 1]);
    // The update reports the recycled slot, so a model re-embeds it.
    assert_eq!(state.update(&[3u32]).unwrap(), [3]);
    assert_eq!(state.codebook().subtokens(3).unwrap(), [1, 1]);
    assert_eq!(decode(&config, &[0u32, 1, 3]).unwrap().0, [0, 1, 1, 1]);
    // After a flush nothing is pending: the slot stands for what it holds.
    let flushing = lru(3, 1, 3, &[2]);
    assert_eq!(
        decode(&flushing, &[0u32, 1, 2, 3]).unwrap().0,
        [0, 1, 2, 0, 1]
    );
}

#[test]
fn an_entry_the_pending_match_extends_is_never_evicted() {
    // C = 1 and the only entry is the pending match: no leaf to evict, the codebook keeps it.
    let config = lru(3, 1, 4, &[]);
    let mut naive = Naive::new(&config);
    let mut state = CodebookState::new(&config);
    // "a" then the KwKwK id 3 = [a, a]: [a, a] is the only entry, and it is pending.
    for id in [0u32, 3] {
        state.update(&[id]).unwrap();
        naive.feed_id(id);
    }
    assert_eq!(state.pending_code(), Some(3));
    assert_eq!(state.next_id(), None);
    assert_eq!(naive.next_id(), None);
    assert_eq!(state.update(&[1u32]).unwrap(), Vec::<u32>::new());
    assert_eq!(entries(state.codebook()), [vec![0, 0]]);
}

#[test]
fn a_failed_update_of_a_recycling_state_changes_nothing() {
    let config = lru(5, 3, 3, &[]);
    let ids: Vec<u32> = (0..60).map(|i| (i * 7 + i / 5) % 5).collect();
    let (encoded, _) = encode(&config, &ids).unwrap();
    let mut state = CodebookState::new(&config);
    state.update(&encoded[..20]).unwrap();
    let before = state.clone();
    let mut bad = encoded[20..].to_vec();
    bad.push(config.total_vocab_size());
    assert!(state.update(&bad).is_err());
    assert_eq!(state.codebook(), before.codebook());
    assert_eq!(state.pending_code(), before.pending_code());
    assert_eq!(
        state.update(&encoded[20..]).unwrap(),
        before.clone().update(&encoded[20..]).unwrap()
    );
}

#[test]
fn from_slots_rebuilds_only_what_an_encoding_could_hold() {
    let config = lru(5, 2, 3, &[]);
    let ok = Codebook::from_slots(&config, &[vec![1, 2, 3], vec![1, 2]], &[5, 6]).unwrap();
    assert_eq!(ok.recency_order(), Some(vec![5, 6]));
    assert_eq!(ok.child(6, 3), Some(5));
    let refuse = |entries: &[Vec<u32>], order: &[u32]| {
        let error = Codebook::from_slots(&config, entries, order).unwrap_err();
        assert!(matches!(error, Error::InvalidCodebook(_)), "{error}");
        error.to_string()
    };
    // An entry used after the entry it extends: the oldest would not be a leaf.
    assert!(refuse(&[vec![1, 2, 3], vec![1, 2]], &[6, 5]).contains("used after"));
    assert!(refuse(&[vec![1, 2, 3], vec![2, 3]], &[5, 6]).contains("prefix"));
    assert!(refuse(&[vec![1, 2], vec![1, 2]], &[5, 6]).contains("repeats"));
    assert!(refuse(&[vec![1, 2]], &[5]).contains("full"));
    assert!(refuse(&[vec![1, 2], vec![2, 3]], &[5, 5]).contains("repeats"));
    assert!(refuse(&[vec![1, 2], vec![2, 3]], &[5]).contains("every one"));
    assert!(refuse(&[vec![1, 9], vec![2, 3]], &[5, 6]).contains("base id"));
    let frozen = CompressionConfig::new(5, 2, 3, [], None).unwrap();
    assert!(Codebook::from_slots(&frozen, &[vec![1, 2], vec![2, 3]], &[5, 6]).is_err());
}

#[test]
fn a_recycling_codebook_of_no_entries_resumes_and_encodes_like_a_fresh_one() {
    let config = lru(4, 0, 3, &[]);
    let none: [Vec<u32>; 0] = [];
    let codebook = Codebook::from_slots(&config, &none, &[]).unwrap();
    let mut encoder = zip2zip::Encoder::from_parts(&config, codebook, None).unwrap();
    let ids = [0, 1, 0, 1, 2, 0, 1, 3];
    let mut out = Vec::new();
    for &id in &ids {
        encoder.push(id, |code| out.push(code));
    }
    encoder.finish(|code| out.push(code));
    assert_eq!(out, encode(&config, &ids).unwrap().0);
}
