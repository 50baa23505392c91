//! Encodes or decodes a fixed set of id sequences, for instruction counts under valgrind
//! (`valgrind --tool=cachegrind`), which do not depend on the machine's load.
//!
//! `replay FILE OP EVICTION V C M PAD [DISABLED...]`: FILE holds little-endian `u32`s, the
//! sequence count, each sequence's length, then the sequences; OP is `encode` or `decode`
//! (the sequences are encoded first, outside the counted part when run with `--toggle-collect`
//! on `replay::run`). `benches/results/codec_eviction_lru_evictfast.md` shows the commands.

use std::hint::black_box;

#[path = "shared/sequence_file.rs"]
mod sequence_file;

use sequence_file::sequences;
use zip2zip::{decode, encode, CompressionConfig, Eviction};

#[inline(never)]
fn run(config: &CompressionConfig, op: &str, inputs: &[Vec<u32>]) -> usize {
    inputs
        .iter()
        .map(|ids| match op {
            "encode" => encode(config, ids).expect("base ids").0.len(),
            _ => decode(config, ids).expect("valid ids").0.len(),
        })
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| args[i].parse::<u32>().expect("a number");
    let eviction = match args[3].as_str() {
        "lru" => Eviction::Lru,
        _ => Eviction::None,
    };
    let disabled: Vec<u32> = (8..args.len()).map(number).collect();
    let config = CompressionConfig::new(
        number(4),
        number(5),
        number(6) as usize,
        disabled,
        Some(number(7)),
    )
    .expect("a valid config")
    .with_eviction(eviction);
    let seqs = sequences(&args[1]);
    let inputs: Vec<Vec<u32>> = match args[2].as_str() {
        "encode" => seqs,
        _ => seqs
            .iter()
            .map(|ids| encode(&config, ids).expect("base ids").0)
            .collect(),
    };
    println!("{}", black_box(run(&config, &args[2], &inputs)));
}
