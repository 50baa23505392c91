//! Wall-clock throughput of whole-sequence encode and decode on a sequence file (the format
//! of `replay.rs`), through `encode`/`decode` (which return the codebook), the general
//! encoder fed token by token, and an `EncoderPool` (ids only); `encode`/`decode` and the
//! pool take the lean codec where it applies, and are checked against the general encoder.
//!
//! `speed FILE EVICTION V C M PAD REPS [DISABLED...]`, best of REPS.

use std::hint::black_box;
use std::time::Instant;

#[path = "shared/sequence_file.rs"]
mod sequence_file;

use sequence_file::sequences;
use zip2zip::{decode, encode, CompressionConfig, Encoder, EncoderPool, Eviction};

fn best_of(reps: u32, mut run: impl FnMut() -> usize) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            black_box(run());
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| args[i].parse::<u32>().expect("a number");
    let eviction = if args[2] == "lru" {
        Eviction::Lru
    } else {
        Eviction::None
    };
    let disabled: Vec<u32> = (8..args.len()).map(number).collect();
    let config = CompressionConfig::new(
        number(3),
        number(4),
        number(5) as usize,
        disabled,
        Some(number(6)),
    )
    .expect("a valid config")
    .with_eviction(eviction);
    let reps = number(7);
    let seqs = sequences(&args[1]);
    let tokens: usize = seqs.iter().map(Vec::len).sum();
    let pool = EncoderPool::new(&config);
    // The general encoder fed token by token: what every other path must give.
    let general = |s: &[u32]| -> Vec<u32> {
        let mut encoder = Encoder::new(&config);
        let mut out = Vec::new();
        for &token in s {
            encoder.push(token, |code| out.push(code));
        }
        encoder.finish(|code| out.push(code));
        out
    };
    let codes: Vec<Vec<u32>> = seqs.iter().map(|s| general(s)).collect();
    let encoded: Vec<Vec<u32>> = seqs
        .iter()
        .map(|s| encode(&config, s).expect("base ids").0)
        .collect();
    let pooled: Vec<Vec<u32>> = pool.batch_encode(&seqs).expect("base ids");
    let decoded: Vec<Vec<u32>> = pool.batch_decode(&codes).expect("valid ids");
    assert!(
        encoded == codes && pooled == codes && decoded == seqs,
        "encode or the pool disagrees with the general encoder"
    );
    let mtoks = |seconds: f64| tokens as f64 / seconds / 1e6;
    let encode_s = best_of(reps, || {
        seqs.iter()
            .map(|s| encode(&config, s).expect("ids").0.len())
            .sum()
    });
    let decode_s = best_of(reps, || {
        codes
            .iter()
            .map(|c| decode(&config, c).expect("ids").0.len())
            .sum()
    });
    let general_s = best_of(reps, || seqs.iter().map(|s| general(s).len()).sum());
    let pool_encode_s = best_of(reps, || {
        seqs.iter()
            .map(|s| {
                let mut out: Vec<u32> = Vec::new();
                pool.encode_into(s, &mut out).expect("ids");
                out.len()
            })
            .sum()
    });
    let pool_decode_s = best_of(reps, || {
        codes
            .iter()
            .map(|c| {
                let mut out: Vec<u32> = Vec::new();
                pool.decode_into(c, &mut out).expect("ids");
                out.len()
            })
            .sum()
    });
    println!(
        "{}: encode {:.1}, decode {:.1} (with the codebook), general encoder {:.1}, \
         pool encode {:.1}, pool decode {:.1} Mtok/s",
        args[2],
        mtoks(encode_s),
        mtoks(decode_s),
        mtoks(general_s),
        mtoks(pool_encode_s),
        mtoks(pool_decode_s)
    );
}
