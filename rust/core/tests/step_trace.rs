#![allow(clippy::unwrap_used)]
mod common;

use common::config_and_ids;
use proptest::prelude::*;
use zip2zip::{encode, BatchCodebookState, CodebookState};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After every id, the trace says what one-id-at-a-time updates and a probe of the next
    /// hypertoken id say: the codebook size, and whether (and as what) that id is valid.
    #[test]
    fn traces_match_probing_the_state_after_each_id((config, ids) in config_and_ids()) {
        let (encoded, _) = encode(&config, &ids).unwrap();
        let mut traced = CodebookState::new(&config);
        let (created, trace) = traced.update_traced(&encoded).unwrap();
        let width = config.max_subtokens();
        prop_assert_eq!(trace.sizes.len(), encoded.len());
        prop_assert_eq!(trace.next_entries.len(), encoded.len() * width);

        let mut stepped = CodebookState::new(&config);
        let mut stepped_created = Vec::new();
        for (step, &id) in encoded.iter().enumerate() {
            let step_created = stepped.update(&[id]).unwrap();
            prop_assert_eq!(trace.created_at(step), &step_created[..]);
            for (index, &new) in step_created.iter().enumerate() {
                let index = trace.created_offsets[step] + index;
                prop_assert_eq!(
                    trace.created_entry(index, width).to_vec(),
                    stepped.codebook().subtokens(new).unwrap()
                );
            }
            stepped_created.extend(step_created);
            prop_assert_eq!(trace.sizes[step] as usize, stepped.codebook().len());
            let len = trace.next_lens[step];
            let entry = &trace.next_entries[step * width..step * width + len];
            // A recycling codebook holds every id: the next one is valid as the entry it holds
            // even where it may not stand for a new one.
            let recycling = stepped.codebook().recency_order().is_some();
            match stepped.next_id() {
                Some(next) if len > 0 => {
                    prop_assert!(len >= 2);
                    prop_assert_eq!(trace.next_ids[step], next);
                    let mut probe = stepped.clone();
                    prop_assert_eq!(probe.update(&[next]).unwrap(), vec![next]);
                    prop_assert_eq!(probe.codebook().subtokens(next).unwrap(), entry.to_vec());
                    let mut direct = Vec::new();
                    prop_assert!(stepped.next_entry_into(&mut direct));
                    prop_assert_eq!(direct, entry.to_vec());
                }
                None if len > 0 => prop_assert!(false, "a next entry without a next id"),
                next => {
                    prop_assert_eq!(trace.next_ids[step], 0);
                    prop_assert!(!stepped.next_entry_into(&mut Vec::new()));
                    if let (Some(next), false) = (next, recycling) {
                        prop_assert!(stepped.clone().update(&[next]).is_err());
                    }
                }
            }
            prop_assert!(trace.next_entries[step * width + len..(step + 1) * width]
                .iter()
                .all(|&t| t == 0));
        }
        prop_assert_eq!(traced.codebook(), stepped.codebook());
        prop_assert_eq!(created, stepped_created);
    }

    #[test]
    fn batch_traces_match_per_row_traces_and_failures_change_nothing(
        (config, ids) in config_and_ids(),
    ) {
        let (encoded, _) = encode(&config, &ids).unwrap();
        let half = encoded.len() / 2;
        let rows = vec![encoded.clone(), encoded[..half].to_vec()];
        let mut batch = BatchCodebookState::new(&config, 2).unwrap();
        let traces = batch.update_traced(&rows).unwrap();
        for (row, (created, trace)) in rows.iter().zip(traces) {
            let mut single = CodebookState::new(&config);
            let (single_created, single_trace) = single.update_traced(row).unwrap();
            prop_assert_eq!(created, single_created);
            prop_assert_eq!(trace, single_trace);
        }
        let before = batch.clone();
        let bad = vec![vec![0u32], vec![config.total_vocab_size()]];
        prop_assert!(batch.update_traced(&bad).is_err());
        for (now, then) in batch.rows().iter().zip(before.rows()) {
            prop_assert_eq!(now.codebook(), then.codebook());
            prop_assert_eq!(now.pending_code(), then.pending_code());
        }
    }
}
