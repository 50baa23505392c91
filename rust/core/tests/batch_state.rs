//! The batch state's masked updates and per-column traces, against stepping one column at a
//! time; and the size limits, which refuse before allocating and change no row.
#![allow(clippy::unwrap_used, clippy::needless_range_loop)]
mod common;

use common::config_and_ids;
use proptest::prelude::*;
use zip2zip::limits::{MAX_BATCH_SIZE, MAX_RESULT_IDS};
use zip2zip::{encode, BatchCodebookState, CodebookState, CompressionConfig, Error, Mask};

fn snapshot(batch: &BatchCodebookState) -> Vec<(zip2zip::Codebook, Option<u32>)> {
    batch
        .rows()
        .iter()
        .map(|row| (row.codebook().clone(), row.pending_code()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Row 0 is a left-padded stream, row 1 all padding: the traced columns say, after each
    /// column, what one-column updates and a probe of the next hypertoken id say.
    #[test]
    fn traced_columns_match_stepping_one_column_at_a_time(
        (config, ids) in config_and_ids(),
        left_pad in 0usize..4,
    ) {
        let (stream, _) = encode(&config, &ids).unwrap();
        let columns = stream.len() + left_pad;
        let rows = [
            [vec![0u32; left_pad], stream.clone()].concat(),
            vec![0u32; columns],
        ];
        let mask: Vec<i64> = (0..2 * columns)
            .map(|cell| i64::from(cell < columns && cell >= left_pad))
            .collect();
        let mask = Mask::new(&mask, 2, columns).unwrap();
        let width = config.max_subtokens();
        let mut traced = BatchCodebookState::new(&config, 2).unwrap();
        let (entries, trace) = traced.update_traced_columns(&rows, Some(mask), -1i64).unwrap();
        prop_assert_eq!(trace.sizes.len(), 2 * columns);
        prop_assert_eq!(trace.next_entries.len(), 2 * columns * width);
        prop_assert!(entries.rows.iter().all(|&row| row == 0));

        let mut single = CodebookState::new(&config);
        let mut created = Vec::new();
        let mut created_columns = Vec::new();
        let mut created_subtokens = Vec::new();
        for column in 0..columns {
            if column >= left_pad {
                let step = single.update_entries(&[rows[0][column]], -1i64).unwrap();
                created_columns.extend(std::iter::repeat_n(column, step.ids.len()));
                created.extend(step.ids);
                created_subtokens.extend(step.subtokens);
            }
            prop_assert_eq!(trace.sizes[column], single.codebook().len() as i64);
            prop_assert_eq!(trace.sizes[columns + column], 0);
            let cell = &trace.next_entries[column * width..(column + 1) * width];
            let got: Vec<u32> = cell.iter().filter(|&&t| t >= 0).map(|&t| t as u32).collect();
            let mut expected = Vec::new();
            if column >= left_pad && single.next_entry_into(&mut expected) {
                prop_assert_eq!(trace.next_ids[column], i64::from(single.next_id().unwrap()));
            } else {
                prop_assert_eq!(trace.next_ids[column], -1);
            }
            prop_assert_eq!(got, expected);
            prop_assert_eq!(trace.next_ids[columns + column], -1);
        }
        let expected_columns: Vec<i64> = created_columns.iter().map(|&c| c as i64).collect();
        prop_assert_eq!(&trace.created_columns, &expected_columns);
        prop_assert_eq!(entries.ids, created);
        prop_assert_eq!(traced.rows()[0].codebook(), single.codebook());
        prop_assert_eq!(entries.subtokens, created_subtokens);
    }

    /// A masked update feeds exactly the kept ids, and a failure in any row changes no row.
    #[test]
    fn masked_updates_feed_the_kept_ids_and_failures_change_nothing(
        (config, ids) in config_and_ids(),
        keep_every in 1usize..4,
    ) {
        let columns = ids.len();
        let rows = [ids.clone(), ids.iter().rev().copied().collect()];
        let values: Vec<i64> = (0..2 * columns).map(|cell| i64::from(cell % keep_every == 0)).collect();
        let mask = Mask::new(&values, 2, columns).unwrap();
        let mut batch = BatchCodebookState::new(&config, 2).unwrap();
        let entries = batch.update_entries(&rows, Some(mask), 0u32).unwrap();
        for (row, state) in batch.rows().iter().enumerate() {
            let kept: Vec<u32> = (0..columns)
                .filter(|&column| values[row * columns + column] != 0)
                .map(|column| rows[row][column])
                .collect();
            let (_, codebook) = encode(&config, &kept).unwrap();
            prop_assert_eq!(state.codebook(), &codebook);
            let listed: Vec<u32> = entries
                .rows
                .iter()
                .zip(&entries.ids)
                .filter(|&(&r, _)| r as usize == row)
                .map(|(_, &id)| id)
                .collect();
            prop_assert_eq!(listed, CodebookState::new(&config).update(&kept).unwrap());
        }
        let before = snapshot(&batch);
        let bad = [vec![0u32], vec![config.total_vocab_size()]];
        prop_assert!(batch.update_entries(&bad, None, 0u32).is_err());
        prop_assert_eq!(snapshot(&batch), before);
    }
}

#[test]
fn shape_errors_name_the_argument_and_change_nothing() {
    let config = CompressionConfig::new(10, 8, 3, [], None).unwrap();
    let mut batch = BatchCodebookState::new(&config, 2).unwrap();
    batch.update(&[vec![1u32, 1, 1], vec![2, 2]]).unwrap();
    let before = snapshot(&batch);
    let argument = |error: Error| match error {
        Error::InvalidArgument { name, message } => format!("{name}: {message}"),
        other => panic!("expected an argument error, got {other}"),
    };
    let three_rows = [vec![1u32], vec![1], vec![1]];
    let message = argument(batch.update_entries(&three_rows, None, 0u32).unwrap_err());
    assert!(
        message.starts_with("ids:") && message.contains("got 3"),
        "{message}"
    );
    let ragged = [vec![1u32, 2], vec![1]];
    let message = argument(
        batch
            .update_traced_columns(&ragged, None, 0u32)
            .unwrap_err(),
    );
    assert!(message.contains("row 1 has 1 ids"), "{message}");
    let square = [vec![1u32, 2], vec![3, 4]];
    let values = [1i64; 6];
    let message = argument(Mask::new(&values, 2, 2).unwrap_err());
    assert!(message.starts_with("attention_mask:"), "{message}");
    let wide = Mask::new(&values, 2, 3).unwrap();
    let message = argument(batch.update_entries(&square, Some(wide), 0u32).unwrap_err());
    assert!(
        message.contains("row 0") && message.contains("3 columns"),
        "{message}"
    );
    let tall = Mask::new(&values, 3, 2).unwrap();
    let message = argument(batch.update_entries(&square, Some(tall), 0u32).unwrap_err());
    assert!(message.contains("3 rows"), "{message}");
    assert_eq!(snapshot(&batch), before);
}

#[test]
fn batch_sizes_over_the_limit_are_refused_before_allocating() {
    let config = CompressionConfig::new(10, 8, 3, [], None).unwrap();
    for size in [MAX_BATCH_SIZE + 1, 1 << 40, usize::MAX] {
        let error = BatchCodebookState::new(&config, size).unwrap_err();
        assert!(matches!(error, Error::LimitExceeded { .. }), "{error}");
        assert!(error.to_string().contains("batch_size"), "{error}");
    }
    assert_eq!(BatchCodebookState::new(&config, 0).unwrap().batch_size(), 0);
}

/// With `max_subtokens` 65535, the padded entries of 2,049 new hypertokens would be more than
/// `MAX_RESULT_IDS` cells: refused, and the update undone.
#[test]
fn padded_results_over_the_limit_are_refused_and_undone() {
    let config = CompressionConfig::new(5000, 1 << 20, 65_535, [], None).unwrap();
    let ids: Vec<u32> = (0..2_100).map(|i| i % 4999).collect();
    let rows_needed = MAX_RESULT_IDS / config.max_subtokens() + 1;
    assert!(ids.len() > rows_needed);
    let mut state = CodebookState::new(&config);
    let error = state.update_entries(&ids, 0u32).unwrap_err();
    assert!(matches!(error, Error::LimitExceeded { .. }), "{error}");
    assert!(state.codebook().is_empty() && state.pending_code().is_none());
    let mut batch = BatchCodebookState::new(&config, 1).unwrap();
    let error = batch.update_entries(&[&ids], None, 0u32).unwrap_err();
    assert!(matches!(error, Error::LimitExceeded { .. }), "{error}");
    let error = batch
        .update_traced_columns(&[&ids], None, 0u32)
        .unwrap_err();
    assert!(error.to_string().contains("step trace"), "{error}");
    assert!(batch.rows()[0].codebook().is_empty());
    assert_eq!(
        state.update_entries(&ids[..100], 0u32).unwrap().ids.len(),
        99
    );
}
