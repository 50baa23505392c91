#![allow(clippy::unwrap_used)]
mod common;

use std::collections::BTreeSet;

use common::{config_strategy, Naive};
use proptest::prelude::*;
use zip2zip::{decode, encode, CompressionConfig, Eviction, Lattice};

/// Every segmentation by brute force: at each step try every id the naive oracle finds valid
/// whose expansion matches the tokens ahead.
fn brute_force(config: &CompressionConfig, ids: &[u32]) -> BTreeSet<Vec<u32>> {
    fn go(
        config: &CompressionConfig,
        ids: &[u32],
        naive: &Naive,
        position: usize,
        path: &mut Vec<u32>,
        out: &mut BTreeSet<Vec<u32>>,
    ) {
        if position == ids.len() {
            out.insert(path.clone());
            return;
        }
        for id in 0..config.total_vocab_size() {
            let Some(tokens) = naive.resolve(id) else {
                continue;
            };
            if ids[position..].starts_with(&tokens) {
                let mut next = naive.clone();
                next.feed_id(id);
                path.push(id);
                go(config, ids, &next, position + tokens.len(), path, out);
                path.pop();
            }
        }
    }
    let mut out = BTreeSet::new();
    go(
        config,
        ids,
        &Naive::new(config),
        0,
        &mut Vec::new(),
        &mut out,
    );
    out
}

fn small_case() -> impl Strategy<Value = (CompressionConfig, Vec<u32>)> {
    config_strategy().prop_flat_map(|config| {
        let vocab = config.initial_vocab_size().min(3);
        (Just(config), proptest::collection::vec(0..vocab, 0..11))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn lattice_paths_are_exactly_the_valid_segmentations((config, ids) in small_case()) {
        let lattice = Lattice::new(&config, &ids).unwrap();
        let paths: BTreeSet<Vec<u32>> = lattice.enumerate(usize::MAX).unwrap().into_iter().collect();
        prop_assert_eq!(&paths, &brute_force(&config, &ids));
        prop_assert_eq!(lattice.count(), paths.len() as u128);
        prop_assert!(paths.contains(&encode(&config, &ids).unwrap().0));
        for seed in 0..4 {
            let sample = lattice.sample(seed);
            prop_assert!(paths.contains(&sample));
        }
    }

    #[test]
    fn every_path_of_a_long_lattice_decodes_to_the_base(
        (config, ids) in common::config_and_ids(),
        seed in any::<u64>(),
    ) {
        let lattice = Lattice::new(&config, &ids).unwrap();
        prop_assert!(lattice.count() >= 1);
        for path in lattice.enumerate(20).unwrap().into_iter().chain([lattice.sample(seed)]) {
            let (decoded, _) = decode(&config, &path).unwrap();
            prop_assert_eq!(&decoded, &ids);
        }
    }
}

#[test]
fn lattice_of_a_repeat_counts_its_segmentations() {
    let config = CompressionConfig::new(4, 8, 4, [], None).unwrap();
    // a a a: 4 = [a a] exists after "a a"? It is created while feeding the second a, so at
    // position 1 it is the KwKwK entry spelling "a a": paths [a,a,a], [a,4].
    let lattice = Lattice::new(&config, &[0u32, 0, 0]).unwrap();
    let paths: BTreeSet<Vec<u32>> = lattice.enumerate(10).unwrap().into_iter().collect();
    assert_eq!(paths, BTreeSet::from([vec![0, 0, 0], vec![0, 4]]));
    assert!(Lattice::new(&config, &[0u32, 9]).is_err());
}

#[test]
fn a_recycled_slot_stands_for_its_kwkwk_entry_where_that_is_valid() {
    // One slot, recycled: after "a b" the slot holds [a, b], but "b" is pending, so the id of
    // the slot stands for the KwKwK entry [b, b] it is about to hold.
    let config = CompressionConfig::new(3, 1, 3, [], None)
        .unwrap()
        .with_eviction(Eviction::Lru);
    let lattice = Lattice::new(&config, &[0u32, 1, 1, 1]).unwrap();
    let paths: BTreeSet<Vec<u32>> = lattice.enumerate(10).unwrap().into_iter().collect();
    assert_eq!(paths, brute_force(&config, &[0, 1, 1, 1]));
    assert!(paths.contains(&vec![0, 1, 3]));
    let at_two: Vec<(u32, u32)> = lattice
        .alternatives(2)
        .iter()
        .map(|piece| (piece.id, piece.len))
        .collect();
    assert_eq!(at_two, [(1, 1), (3, 2)]);
}

#[test]
fn enumerating_a_long_sequence_needs_no_deep_stack() {
    let config = CompressionConfig::new(50, 2048, 4, [], None).unwrap();
    let ids: Vec<u32> = (0..120_000u32).map(|i| (i * 7 + i / 13) % 50).collect();
    let lattice = Lattice::new(&config, &ids).unwrap();
    // A thread with a 256 KiB stack: recursing once per piece would overflow it many times over.
    let paths = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || lattice.enumerate(3).unwrap())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(paths.len(), 3);
    assert_eq!(paths[0], ids);
    for path in &paths {
        assert_eq!(decode(&config, path).unwrap().0, ids);
    }
}
