//! `TextTokenizer` on small hand-written `tokenizer.json` files: each rule of the format that
//! changes ids, and the typed errors.

#![cfg(feature = "text")]

use zip2zip::{CompressionConfig, EncoderPool, Error, TextTokenizer};

/// A byte-level vocabulary: the 256 byte characters (ids 0..256 in GPT-2's alphabet order),
/// then `extra` tokens with the next ids, and `merges`.
fn tokenizer(extra: &[&str], merges: &[&str], rest: &str) -> String {
    let printable = |b: u32| matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut shifted = 0;
    let mut vocab = Vec::new();
    for byte in 0..256u32 {
        let ch = if printable(byte) {
            char::from_u32(byte)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted)
        };
        let ch = ch.map(String::from).unwrap_or_default();
        vocab.push(format!("{:?}: {byte}", ch));
    }
    for (i, token) in extra.iter().enumerate() {
        vocab.push(format!("{token:?}: {}", 256 + i));
    }
    let merges: Vec<String> = merges.iter().map(|m| format!("{m:?}")).collect();
    format!(
        r#"{{"model": {{"type": "BPE", "vocab": {{{}}}, "merges": [{}]{}}}}}"#,
        vocab.join(", "),
        merges.join(", "),
        rest
    )
}

fn with_pre(json: String, pre: &str) -> String {
    json.replacen('{', &format!("{{\"pre_tokenizer\": {pre}, "), 1)
}

const BYTE_LEVEL: &str = r#"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#;

fn load(json: &str) -> TextTokenizer {
    TextTokenizer::from_json(json).expect("loads")
}

#[test]
fn merges_in_both_formats_apply_by_rank() {
    // Bytes are ids 0..256 (' ' is 32), "ab" 256, "abc" 257.
    let strings = with_pre(tokenizer(&["ab", "abc"], &["a b", "ab c"], ""), BYTE_LEVEL);
    let pairs = strings.replace(r#"["a b", "ab c"]"#, r#"[["a", "b"], ["ab", "c"]]"#);
    assert_ne!(strings, pairs);
    for json in [strings, pairs] {
        assert_eq!(load(&json).encode("abc abd", false), [257, 32, 256, 100]);
    }
}

#[test]
fn ignore_merges_takes_a_whole_piece_that_is_a_token() {
    let plain = with_pre(tokenizer(&["xyz"], &[], ""), BYTE_LEVEL);
    assert_eq!(load(&plain).encode("xyz", false), [120, 121, 122]);
    let ignoring = with_pre(
        tokenizer(&["xyz"], &[], r#", "ignore_merges": true"#),
        BYTE_LEVEL,
    );
    assert_eq!(load(&ignoring).encode("xyz", false), [256]);
}

#[test]
fn added_tokens_take_the_ids_hugging_face_gives_and_templates_add_them() {
    let added = r#", "added_tokens": [{"id": 999, "content": "<s>", "special": true, "normalized": false}],
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [256], "tokens": ["<s>"]}}}"#;
    let json = with_pre(tokenizer(&[], &[], ""), BYTE_LEVEL);
    let json = format!("{}{added}}}", &json[..json.len() - 1]);
    let tok = load(&json);
    // 256 tokens in the model: the first added token not in it gets id 256, not 999.
    assert_eq!(tok.vocab_size(), 257);
    assert_eq!(tok.encode("a<s>b", false), [97, 256, 98]);
    assert_eq!(tok.encode("a", true), [256, 97]);
}

#[test]
fn unsupported_features_are_all_listed() {
    let json = tokenizer(&[], &[], "");
    let json = json.replacen(
        '{',
        r#"{"normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Metaspace"}, "#,
        1,
    );
    match TextTokenizer::from_json(&json) {
        Err(Error::UnsupportedTokenizer(features)) => {
            assert!(features.iter().any(|f| f.contains("normalizer Lowercase")));
            assert!(features
                .iter()
                .any(|f| f.contains("pre-tokenizer Metaspace")));
        }
        other => panic!("expected UnsupportedTokenizer, got {other:?}"),
    }
}

#[test]
fn invalid_files_are_typed_errors() {
    let bad_merge = with_pre(tokenizer(&[], &["q z"], ""), BYTE_LEVEL);
    for json in ["{", "[]", r#"{"model": 3}"#, bad_merge.as_str()] {
        assert!(
            matches!(
                TextTokenizer::from_json(json),
                Err(Error::InvalidTokenizer(_) | Error::UnsupportedTokenizer(_))
            ),
            "{json:.40}"
        );
    }
    assert!(matches!(
        TextTokenizer::from_json(&bad_merge),
        Err(Error::InvalidTokenizer(message)) if message.contains("\"qz\"")
    ));
}

#[test]
fn texts_go_to_hypertokens_in_one_call() -> Result<(), Error> {
    let tok = load(&with_pre(tokenizer(&["ab"], &["a b"], ""), BYTE_LEVEL));
    let config = CompressionConfig::new(300, 16, 4, [], None)?;
    let pool = EncoderPool::new(&config);
    let texts = ["ab ab ab ab ab", "", "xyz xyz"];
    let got: Vec<Vec<u32>> = pool.batch_encode_texts(&tok, &texts, false)?;
    for (text, ids) in texts.iter().zip(&got) {
        assert_eq!(ids, &zip2zip::encode(&config, &tok.encode(text, false))?.0);
    }
    let small = EncoderPool::new(&CompressionConfig::new(100, 16, 4, [], None)?);
    assert!(small.batch_encode_texts(&tok, &texts, false).is_err());
    Ok(())
}

/// A tokenizer with one `Split` stage per regex, then the byte-level bytes.
fn splits_then_bytes(regexes: &[&str]) -> String {
    let splits: Vec<String> = regexes
        .iter()
        .map(|regex| {
            format!(
                r#"{{"type": "Split", "pattern": {{"Regex": {}}}, "behavior": "Isolated", "invert": false}}"#,
                serde_json::to_string(regex).expect("a string")
            )
        })
        .collect();
    let pre = format!(
        r#"{{"type": "Sequence", "pretokenizers": [{},
            {{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}}]}}"#,
        splits.join(", ")
    );
    with_pre(tokenizer(&[], &[], ""), &pre)
}

fn split_then_bytes(regex: &str) -> String {
    splits_then_bytes(&[regex])
}

#[test]
fn a_regex_of_10000_branches_loads_and_encodes_in_bounded_memory() {
    // The search state used to be allocated at the first encode with two slots per branch for
    // every automaton state: 10,000 branches asked for about 13 GB, 30,000 for 124 GB, and the
    // process aborted.
    let branches: Vec<String> = (0..10_000).map(|i| format!("w{i}")).collect();
    let tok = load(&split_then_bytes(&branches.join("|")));
    assert_eq!(tok.encode("w12 x7w3", false), b"w12 x7w3".map(u32::from));
}

#[test]
fn a_regex_over_a_memory_bound_is_refused_at_load_naming_the_bound() {
    let digits: Vec<String> = (0..3_000).map(|i| format!("x{i}\\d")).collect();
    let words: Vec<String> = (0..30_000).map(|i| format!("w{i}")).collect();
    let lookaheads = r"\s+(?!\S)|a|\s+(?!\S)|b|\s+(?!\S)";
    for (regex, bound) in [
        (words.join("|"), "more than the 65536 bytes allowed"),
        (r"\p{L}".repeat(1025), "more than 1024 character classes"),
        (r"\p{L}{1000}".to_owned(), "10485760 bytes allowed"),
        (r"(?:\p{L}{100}){100}".to_owned(), "10485760 bytes allowed"),
        (digits.join("|"), "more than 1024 character classes"),
        (lookaheads.to_owned(), "more than 2 branches"),
    ] {
        match TextTokenizer::from_json(&split_then_bytes(&regex)) {
            Err(Error::UnsupportedTokenizer(why)) => {
                assert!(why[0].contains(bound), "{:.200}", why[0]);
                // A long pattern is quoted by its start only.
                assert!(why[0].len() < 400, "{:.200}", why[0]);
            }
            other => panic!("{regex:.40}: expected UnsupportedTokenizer, got {other:?}"),
        }
    }
}

#[test]
fn the_regexes_of_all_stages_share_the_bounds_and_stages_are_few() {
    // Each of these fits alone; eight of them do not, and nine stages are too many (20,000
    // stages overflowed the stack of the first encode).
    let letters = r"\p{L}{40}";
    assert!(TextTokenizer::from_json(&split_then_bytes(letters)).is_ok());
    for (regexes, bound) in [
        (vec![letters; 8], "10485760 bytes allowed"),
        (vec!["a"; 9], "more than 8 Split stages"),
    ] {
        match TextTokenizer::from_json(&splits_then_bytes(&regexes)) {
            Err(Error::UnsupportedTokenizer(why)) => {
                assert!(why.iter().any(|why| why.contains(bound)), "{why:?}");
            }
            other => panic!("expected UnsupportedTokenizer, got {other:?}"),
        }
    }
    let tok = load(&splits_then_bytes(&["a"; 8]));
    assert_eq!(tok.encode("banana", false), b"banana".map(u32::from));
}

#[test]
fn a_regex_whose_dfa_would_blow_up_runs_in_bounded_memory() {
    // A DFA for this has 2^31 states; the lazy DFA's cache is bounded and the automaton
    // search takes over when it fills.
    let tok = load(&split_then_bytes(r"(a|b)*a(a|b){30}"));
    let text: String = (0..20_000u32)
        .map(|i| {
            if i.wrapping_mul(2_654_435_761) >> 31 == 1 {
                'a'
            } else {
                'b'
            }
        })
        .collect();
    assert_eq!(
        tok.encode(&text, false),
        text.bytes().map(u32::from).collect::<Vec<_>>()
    );
}
