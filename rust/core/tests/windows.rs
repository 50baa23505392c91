#![allow(clippy::unwrap_used)]
mod common;

use common::config_and_ids;
use proptest::prelude::*;
use zip2zip::{decode, encode, encode_windows, EncoderPool};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every base token lands in exactly one window, windows tile the document in order, each
    /// window's ids are the greedy encoding of its own span, and no window is over size.
    #[test]
    fn windows_are_lossless_and_each_is_its_own_encoding(
        (config, ids) in config_and_ids(),
        window in 1usize..40,
        with_suffix in any::<bool>(),
    ) {
        let suffix: Vec<u32> = if with_suffix { vec![0] } else { vec![] };
        let windows = encode_windows(&config, &ids, &suffix, window).unwrap();
        let document: Vec<u32> = ids.iter().copied().chain(suffix.iter().copied()).collect();
        prop_assert_eq!(windows.base_offsets.first().copied(), Some(0));
        prop_assert_eq!(windows.base_offsets.last().copied(), Some(document.len()));
        prop_assert_eq!(windows.is_empty(), document.is_empty());
        let mut rebuilt = Vec::new();
        for k in 0..windows.len() {
            let (start, end) = windows.base_span(k);
            prop_assert!(start < end, "empty window {}", k);
            let own = windows.window(k);
            prop_assert!(!own.is_empty() && own.len() <= window);
            if k + 1 < windows.len() {
                prop_assert_eq!(own.len(), window, "only the last window may be short");
            }
            prop_assert_eq!(own, &encode(&config, &document[start..end]).unwrap().0[..]);
            rebuilt.extend(decode(&config, own).unwrap().0);
        }
        prop_assert_eq!(rebuilt, document);
    }

    /// A document that fits in one window is exactly its encoding; the pooled batch agrees
    /// with one-document calls.
    #[test]
    fn one_window_is_encode_and_batches_agree(
        (config, ids) in config_and_ids(),
        window in 1usize..40,
    ) {
        let (encoded, _) = encode(&config, &ids).unwrap();
        let windows = encode_windows(&config, &ids, &[], window).unwrap();
        if encoded.len() <= window && !ids.is_empty() {
            prop_assert_eq!(windows.len(), 1);
            prop_assert_eq!(windows.window(0), &encoded[..]);
        }
        let rows = vec![ids.clone(), ids[..ids.len() / 2].to_vec(), vec![]];
        let pool = EncoderPool::new(&config);
        let batch = pool.batch_encode_windows(&rows, &[], window).unwrap();
        for (row, got) in rows.iter().zip(&batch) {
            prop_assert_eq!(got, &encode_windows(&config, row, &[], window).unwrap());
        }
    }
}
