#![allow(clippy::unwrap_used)]
mod common;

use common::{
    config_and_ids, config_strategy, entries, last_occurrences, naive_encode, naive_run,
    random_segmentation, Naive,
};
use proptest::prelude::*;
use zip2zip::{
    decode, encode, Codebook, CodebookState, CompressionConfig, Error, InvalidTokenReason,
};

/// The codebook a state holds, rebuilt from what pickling keeps: entries, and the use order of
/// an evicting codebook once full.
fn rebuilt(config: &CompressionConfig, codebook: &Codebook) -> Codebook {
    let entries = entries(codebook);
    match codebook.recency_order() {
        Some(order) => Codebook::from_slots(config, &entries, &order).unwrap(),
        None => Codebook::from_entries(config, &entries).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_matches_naive_greedy_lzw((config, ids) in config_and_ids()) {
        let (encoded, codebook) = encode(&config, &ids).unwrap();
        let (expected, naive) = naive_run(&config, &ids);
        prop_assert_eq!(&encoded, &expected);
        prop_assert_eq!(entries(&codebook), naive.entries.clone());
        prop_assert_eq!(codebook.recency_order(), naive.recency_order());
        prop_assert!(codebook.len() <= config.max_codebook_size() as usize);
        prop_assert!(codebook.iter().all(|(_, t)| t.len() >= 2 && t.len() <= config.max_subtokens()));
    }

    #[test]
    fn decode_inverts_encode((config, ids) in config_and_ids()) {
        let (encoded, codebook) = encode(&config, &ids).unwrap();
        let (decoded, decoded_codebook) = decode(&config, &encoded).unwrap();
        prop_assert_eq!(decoded, ids);
        prop_assert_eq!(decoded_codebook, codebook);
    }

    #[test]
    fn any_valid_stream_decodes_like_reencoding(
        (config, ids) in config_and_ids(),
        choices in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let stream = random_segmentation(&config, &ids[..ids.len().min(80)], &choices);
        let (decoded, codebook) = decode(&config, &stream).unwrap();
        prop_assert_eq!(&decoded[..], &ids[..ids.len().min(80)]);
        let (_, reencoded) = encode(&config, &decoded).unwrap();
        prop_assert_eq!(codebook, reencoded);
    }

    #[test]
    fn streaming_state_reports_exactly_the_new_entries(
        (config, ids) in config_and_ids(),
        cuts in proptest::collection::vec(0usize..8, 1..40),
        cut_offset in 1usize..4,
    ) {
        let (encoded, codebook) = encode(&config, &ids).unwrap();
        let mut state = CodebookState::new(&config);
        let mut reported = Vec::new();
        let mut rest = &encoded[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            // A zero cut is an empty update; the offset guarantees progress.
            let (empty, _) = rest.split_at(0);
            prop_assert!(state.update(empty).unwrap().is_empty());
            let (chunk, tail) = rest.split_at((*cut + cut_offset).min(rest.len()));
            rest = tail;
            let created = state.update(chunk).unwrap();
            reported.extend(created);
        }
        let expected: Vec<u32> = (0..codebook.len() as u32).map(|k| k + config.initial_vocab_size()).collect();
        if codebook.recency_order().is_none() {
            prop_assert_eq!(reported, expected);
        }
        prop_assert_eq!(state.codebook(), &codebook);
    }

    /// With eviction, each update reports the slots it assigned (a recycled slot too), once,
    /// in the order of their last assignment, as the naive oracle assigns them.
    #[test]
    fn updates_report_every_slot_they_assign(
        (config, ids) in config_and_ids(),
        cut in 1usize..6,
    ) {
        let (encoded, _) = encode(&config, &ids).unwrap();
        let mut state = CodebookState::new(&config);
        let mut naive = Naive::new(&config);
        for chunk in encoded.chunks(cut) {
            let before = naive.created.len();
            for &id in chunk {
                naive.feed_id(id);
            }
            let expected = last_occurrences(&naive.created[before..]);
            prop_assert_eq!(state.update(chunk).unwrap(), expected);
        }
        prop_assert_eq!(entries(state.codebook()), naive.entries.clone());
        prop_assert_eq!(state.codebook().recency_order(), naive.recency_order());
    }

    /// Any stream, fed one id at a time: the state accepts exactly the ids the naive oracle
    /// finds valid (existing, or KwKwK, which wins over a slot about to be recycled), expands
    /// them alike and ends with the same codebook; a rejected id changes nothing.
    #[test]
    fn the_state_accepts_exactly_the_valid_ids(
        config in config_strategy(),
        raw in proptest::collection::vec(any::<u32>(), 0..300),
    ) {
        let limit = config.total_vocab_size();
        let mut state = CodebookState::new(&config);
        let mut naive = Naive::new(&config);
        let mut accepted = Vec::new();
        for &raw_id in &raw {
            // Mostly hypertokens, and a few ids past the end.
            let id = if raw_id % 4 == 0 {
                raw_id % config.initial_vocab_size()
            } else {
                config.initial_vocab_size() + raw_id % (limit - config.initial_vocab_size() + 2)
            };
            prop_assert_eq!(state.next_id(), naive.next_id());
            let before = state.clone();
            match (state.update(&[id]), naive.resolve(id)) {
                (Ok(_), Some(_)) => {
                    naive.feed_id(id);
                    accepted.push(id);
                }
                (Err(_), None) => {
                    prop_assert_eq!(state.codebook(), before.codebook());
                    prop_assert_eq!(state.pending_code(), before.pending_code());
                }
                (got, expected) => prop_assert!(false, "id {id}: state {got:?}, oracle {expected:?}"),
            }
            prop_assert_eq!(entries(state.codebook()), naive.entries.clone());
            prop_assert_eq!(state.codebook().recency_order(), naive.recency_order());
        }
        let (decoded, codebook) = decode(&config, &accepted).unwrap();
        prop_assert_eq!(&codebook, state.codebook());
        prop_assert_eq!(encode(&config, &decoded).unwrap().1, codebook);
    }

    /// Arbitrary id streams: decode and the streaming state never panic, and either accept
    /// (agreeing with re-encoding) or reject with the state untouched.
    #[test]
    fn arbitrary_streams_never_panic(
        config in config_strategy(),
        raw in proptest::collection::vec(0u32..80, 0..200),
    ) {
        let limit = config.total_vocab_size();
        let stream: Vec<u32> = raw.iter().map(|&id| id % (limit + 2)).collect();
        match decode(&config, &stream) {
            Ok((decoded, codebook)) => {
                let (_, reencoded) = encode(&config, &decoded).unwrap();
                prop_assert_eq!(codebook, reencoded);
            }
            Err(Error::InvalidToken { position, id, .. }) => {
                prop_assert_eq!(i64::from(stream[position]), id);
                prop_assert!(decode(&config, &stream[..position]).is_ok());
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
        let mut state = CodebookState::new(&config);
        for chunk in stream.chunks(3) {
            let before = state.clone();
            if state.update(chunk).is_err() {
                prop_assert_eq!(state.codebook(), before.codebook());
                let mut a = state.clone();
                let mut b = before.clone();
                prop_assert_eq!(a.update::<u32>(&[]).ok(), b.update::<u32>(&[]).ok());
            }
        }
    }
}

#[test]
fn kwkwk_is_valid_only_when_it_would_be_created() {
    let config = CompressionConfig::new(10, 8, 4, [9], None).unwrap();
    // "1 1 1" encodes to [1, 10]: 10 = [1, 1] is used the step it is created.
    let (encoded, _) = encode(&config, &[1, 1, 1]).unwrap();
    assert_eq!(encoded, vec![1, 10]);
    assert_eq!(decode(&config, &[1, 10]).unwrap().0, vec![1, 1, 1]);
    // Right after a flush (disabled id) there is no pending match to extend.
    let error = decode(&config, &[1, 9, 10]).unwrap_err();
    assert_eq!(
        error,
        Error::InvalidToken {
            position: 2,
            id: 10,
            reason: InvalidTokenReason::NotYetCreated { next: 10 }
        }
    );
    // Two ahead of the next id is never valid; neither is an id past V + C.
    assert!(decode(&config, &[1, 11]).is_err());
    assert!(matches!(
        decode(&config, &[18]).unwrap_err(),
        Error::InvalidToken {
            reason: InvalidTokenReason::OutOfRange { limit: 18 },
            ..
        }
    ));
    assert!(matches!(
        encode(&config, &[3, 10]).unwrap_err(),
        Error::InvalidToken {
            position: 1,
            reason: InvalidTokenReason::OutOfRange { limit: 10 },
            ..
        }
    ));
}

#[test]
fn frozen_codebook_stops_growing() {
    let config = CompressionConfig::new(4, 2, 8, [], None).unwrap();
    let ids: Vec<u32> = (0..64).map(|i| (i * 7 % 4) as u32).collect();
    let (encoded, codebook) = encode(&config, &ids).unwrap();
    assert_eq!(codebook.len(), 2);
    assert_eq!(decode(&config, &encoded).unwrap().0, ids);
}

proptest! {
    #[test]
    fn codebooks_and_states_rebuild_from_their_parts(
        (config, ids) in config_and_ids(),
        split in 0usize..300,
    ) {
        let split = split.min(ids.len());
        let mut state = CodebookState::new(&config);
        state.update(&ids[..split]).unwrap();
        let rebuilt = rebuilt(&config, state.codebook());
        prop_assert_eq!(&rebuilt, state.codebook());
        let mut resumed = CodebookState::from_parts(&config, rebuilt, state.pending_code()).unwrap();
        let created = resumed.update(&ids[split..]).unwrap();
        let expected = state.update(&ids[split..]).unwrap();
        prop_assert_eq!(created, expected);
        prop_assert_eq!(resumed.codebook(), state.codebook());
    }
}

#[test]
fn from_entries_rejects_entries_that_could_not_exist() {
    let config = CompressionConfig::new(10, 4, 3, [], None).unwrap();
    let build = |entries: &[Vec<u32>]| zip2zip::Codebook::from_entries(&config, entries);
    assert!(build(&[vec![1, 2], vec![1, 2, 3]]).is_ok());
    assert!(build(&[vec![1, 2, 3]]).is_err()); // prefix [1, 2] missing
    assert!(build(&[vec![1]]).is_err());
    assert!(build(&[vec![1, 2], vec![1, 2]]).is_err());
    assert!(build(&[vec![1, 12]]).is_err());
    assert!(build(&[vec![1, 2], vec![2, 3], vec![3, 4], vec![4, 5], vec![5, 6]]).is_err());
}

#[test]
fn tables_grow_past_their_initial_size_and_huge_codebooks_cost_nothing_upfront() {
    let config = CompressionConfig::new(50, 2_000_000_000, 6, [0], None).unwrap();
    let mut seed = 12_345u64;
    let ids: Vec<u32> = (0..60_000)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((seed >> 33) % 50) as u32
        })
        .collect();
    let (encoded, codebook) = encode(&config, &ids).unwrap();
    let (expected, expected_entries) = naive_encode(&config, &ids);
    assert!(codebook.len() > 10_000, "{}", codebook.len());
    assert_eq!(encoded, expected);
    assert_eq!(entries(&codebook), expected_entries);
    let mut state = CodebookState::new(&config);
    for chunk in encoded.chunks(97) {
        state.update(chunk).unwrap();
    }
    assert_eq!(state.codebook(), &codebook);
    let pool = zip2zip::EncoderPool::new(&config);
    for _ in 0..2 {
        let mut out: Vec<u32> = Vec::new();
        pool.encode_into(&ids, &mut out).unwrap();
        assert_eq!(out, expected);
        let mut back: Vec<u32> = Vec::new();
        pool.decode_into(&out, &mut back).unwrap();
        assert_eq!(back, ids);
    }
}

proptest! {
    #[test]
    fn encoder_pool_matches_one_shot_calls(
        (config, ids) in config_and_ids(),
        rows in proptest::collection::vec(0usize..300, 0..6),
    ) {
        let pool = zip2zip::EncoderPool::new(&config);
        let batch: Vec<&[u32]> = rows.iter().map(|&n| &ids[..n.min(ids.len())]).collect();
        let encoded: Vec<Vec<u32>> = pool.batch_encode(&batch).unwrap();
        for (row, out) in batch.iter().zip(&encoded) {
            prop_assert_eq!(out, &encode(&config, row).unwrap().0);
        }
        let decoded: Vec<Vec<u32>> = pool.batch_decode(&encoded).unwrap();
        for (row, out) in batch.iter().zip(&decoded) {
            prop_assert_eq!(&out[..], &row[..]);
        }
        // One pooled encoder serves rows of every length in turn, returning their codebooks.
        let codebooks: Vec<_> = batch.iter().map(|row| encode(&config, row).unwrap().1).collect();
        for ((row, codes), codebook) in batch.iter().zip(&encoded).zip(&codebooks) {
            let mut out: Vec<u32> = Vec::new();
            prop_assert_eq!(&pool.encode_with_codebook_into(row, &mut out).unwrap(), codebook);
            prop_assert_eq!(&out, codes);
        }
        for ((row, codes), codebook) in batch.iter().zip(&encoded).zip(&codebooks).rev() {
            let mut back: Vec<u32> = Vec::new();
            prop_assert_eq!(&pool.decode_with_codebook_into(codes, &mut back).unwrap(), codebook);
            prop_assert_eq!(&back[..], &row[..]);
        }
    }
}

#[test]
fn any_integer_type_is_read_and_checked_in_place() {
    let config = CompressionConfig::new(10, 8, 4, [], None).unwrap();
    let wide: Vec<i64> = vec![1, 2, 1, 2, 1, 2];
    let narrow: Vec<u32> = wide.iter().map(|&id| id as u32).collect();
    assert_eq!(
        encode(&config, &wide).unwrap(),
        encode(&config, &narrow).unwrap()
    );
    let error = encode(&config, &[1i64, -4]).unwrap_err();
    assert_eq!(
        error,
        Error::InvalidToken {
            position: 1,
            id: -4,
            reason: InvalidTokenReason::Negative
        }
    );
    let error = decode(&config, &[1u64, 1 << 40]).unwrap_err();
    assert!(matches!(
        error,
        Error::InvalidToken {
            position: 1,
            reason: InvalidTokenReason::OutOfRange { limit: 18 },
            ..
        }
    ));
    let mut state = CodebookState::new(&config);
    assert!(state.update(&[3i32, -1]).is_err());
    assert!(state.codebook().is_empty());
}

#[test]
fn parallel_batches_match_sequential_ones_and_report_the_first_bad_row() {
    zip2zip::parallel::set_parallelism(Some(true));
    let config = CompressionConfig::new(40, 512, 4, [0], None).unwrap();
    let pool = zip2zip::EncoderPool::new(&config);
    let rows: Vec<Vec<u32>> = (0..64u32)
        .map(|row| (0..(300 + row * 7)).map(|i| (i * i + row) % 40).collect())
        .collect();
    let encoded: Vec<Vec<u32>> = pool.batch_encode(&rows).unwrap();
    for (row, out) in rows.iter().zip(&encoded) {
        assert_eq!(out, &encode(&config, row).unwrap().0);
    }
    let decoded: Vec<Vec<u32>> = pool.batch_decode(&encoded).unwrap();
    assert_eq!(decoded, rows);
    let mut bad = rows.clone();
    bad[41][5] = 99;
    bad[50][0] = 77;
    let error = pool.batch_encode::<u32, _, u32>(&bad).unwrap_err();
    assert!(matches!(error, Error::InRow { row: 41, .. }), "{error}");
    zip2zip::parallel::set_parallelism(None);
}

proptest! {
    #[test]
    fn snapshots_answer_like_their_codebook_and_resume_encoding(
        (config, ids) in config_and_ids(),
        split in 0usize..300,
    ) {
        let split = split.min(ids.len());
        let mut state = CodebookState::new(&config);
        state.update(&ids[..split]).unwrap();
        let snapshot = state.codebook().snapshot();
        prop_assert_eq!(&snapshot, state.codebook());
        for code in 0..state.codebook().next_id() {
            for token in 0..config.initial_vocab_size() {
                prop_assert_eq!(snapshot.child(code, token), state.codebook().child(code, token));
            }
        }
        let mut resumed = CodebookState::from_parts(&config, snapshot, state.pending_code()).unwrap();
        prop_assert_eq!(resumed.update(&ids[split..]).unwrap(), state.update(&ids[split..]).unwrap());
        prop_assert_eq!(resumed.codebook(), state.codebook());
    }
}
