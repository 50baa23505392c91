//! Criterion benches of the core codec on synthetic but realistic token streams.
//!
//! The stream imitates a byte-level BPE tokenizer's output (DeepSeek-V4 sizes: 128,000 regular
//! ids plus 1,283 added ids, all disabled, pad == eos == 1): Zipf-distributed ids, phrases
//! drawn (again Zipf-like) from a fixed bank, short copies of the recent past (the local
//! repetition LZW feeds on), and an EOS every few thousand tokens. A fixed-seed LCG makes it
//! reproducible; no extra crates. With C = 2048, M = 4 it compresses to about 0.76
//! hypertokens per base token on 1024-token windows and 0.71 on the 100k document, close to
//! the 0.73 that DeepSeek-V4 tokens of real code, prose and data give.
//!
//! Throughput is in base tokens (`Throughput::Elements`), except the one-id-at-a-time state
//! benches fed hypertokens, which count ids fed (one `update` call each). Run with
//! `cargo bench -p zip2zip-core` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zip2zip::{decode, decode_into, encode, encode_into, CodebookState, CompressionConfig};

const REGULAR: u32 = 128_000;
const ADDED: u32 = 1_283;
const VOCAB: u32 = REGULAR + ADDED;
const EOS: u32 = 1;
const WINDOW: usize = 1024;
const WINDOWS: usize = 64;
const DOCUMENT: usize = 100_000;

/// Knuth's MMIX 64-bit LCG; the high bits are the good ones.
struct Lcg(u64);

impl Lcg {
    fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 32) as u32
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        f64::from(self.next_u32()) / 4_294_967_296.0
    }

    /// A rank in `[0, n)` with probability about proportional to `1 / (rank + 1)` (Zipf, s = 1).
    fn zipf(&mut self, n: u32) -> u32 {
        let rank = (self.unit() * f64::from(n).ln()).exp() as u32;
        rank.saturating_sub(1).min(n - 1)
    }
}

/// A regular (never disabled) id for a frequency rank: ranks are scattered over the vocabulary
/// by a bijection, skipping the three special ids at the bottom.
fn id_of_rank(rank: u32) -> u32 {
    const SPAN: u64 = (REGULAR - 3) as u64; // ids 3..128000
    3 + ((u64::from(rank) * 40_503) % SPAN) as u32
}

fn stream(seed: u64, len: usize) -> Vec<u32> {
    let mut rng = Lcg(seed);
    // The phrase bank: 1,024 phrases of 2..=12 tokens, themselves Zipf-distributed.
    let bank: Vec<Vec<u32>> = (0..1024)
        .map(|_| {
            let n = 2 + rng.next_u32() % 11;
            (0..n).map(|_| id_of_rank(rng.zipf(REGULAR - 3))).collect()
        })
        .collect();
    let mut out: Vec<u32> = Vec::with_capacity(len + 16);
    while out.len() < len {
        let roll = rng.next_u32() % 4096;
        if roll == 0 {
            out.push(EOS);
        } else if roll < 1000 && out.len() >= 16 {
            // local repetition (identifiers, markup): copy 2..=8 tokens from the last ~512
            let back = 1 + rng.next_u32() as usize % (out.len() - 8).min(512);
            let start = out.len() - back - 8;
            let span = 2 + rng.next_u32() as usize % 7;
            out.extend_from_within(start..start + span);
        } else if roll < 2000 {
            out.extend_from_slice(&bank[rng.zipf(1024) as usize]);
        } else {
            out.push(id_of_rank(rng.zipf(REGULAR - 3)));
        }
    }
    out.truncate(len);
    out
}

fn config(size: u32, subtokens: usize) -> CompressionConfig {
    CompressionConfig::new(
        VOCAB,
        size,
        subtokens,
        (0..3).chain(REGULAR..VOCAB),
        Some(EOS),
    )
    .expect("a valid config")
}

fn windows() -> Vec<Vec<u32>> {
    let all = stream(0x5EED, WINDOW * WINDOWS);
    all.chunks_exact(WINDOW).map(<[u32]>::to_vec).collect()
}

fn bench_encode(c: &mut Criterion) {
    let config = config(2048, 4);
    let windows = windows();
    let document = stream(0xD0C, DOCUMENT);
    let tokens = (WINDOW * WINDOWS) as u64;
    let codes: usize = windows
        .iter()
        .map(|w| encode(&config, w).expect("valid ids").0.len())
        .sum();
    let document_codes = encode(&config, &document).expect("valid ids").0.len();
    eprintln!(
        "synthetic stream, C=2048 M=4: {:.3} hypertokens per base token on windows, {:.3} on the document",
        codes as f64 / tokens as f64,
        document_codes as f64 / DOCUMENT as f64
    );

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(tokens));
    group.bench_function("window_1024_C2048_M4", |b| {
        b.iter(|| {
            for window in &windows {
                black_box(encode(&config, black_box(window)).expect("valid ids"));
            }
        });
    });
    group.bench_function("window_1024_C2048_M4_into_reused_vec", |b| {
        let mut out: Vec<u32> = Vec::with_capacity(WINDOW);
        b.iter(|| {
            for window in &windows {
                out.clear();
                black_box(encode_into(&config, black_box(window), &mut out).expect("valid ids"));
            }
        });
    });
    for (size, subtokens) in [(512, 4), (2048, 8)] {
        let other = self::config(size, subtokens);
        group.bench_function(format!("window_1024_C{size}_M{subtokens}"), |b| {
            b.iter(|| {
                for window in &windows {
                    black_box(encode(&other, black_box(window)).expect("valid ids"));
                }
            });
        });
    }
    group.throughput(Throughput::Elements(DOCUMENT as u64));
    group.bench_function("document_100k_C2048_M4", |b| {
        b.iter(|| black_box(encode(&config, black_box(&document)).expect("valid ids")));
    });
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let config = config(2048, 4);
    let windows: Vec<Vec<u32>> = windows()
        .iter()
        .map(|w| encode(&config, w).expect("valid ids").0)
        .collect();
    let document = encode(&config, &stream(0xD0C, DOCUMENT))
        .expect("valid ids")
        .0;

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements((WINDOW * WINDOWS) as u64));
    group.bench_function("window_1024_C2048_M4", |b| {
        b.iter(|| {
            for window in &windows {
                black_box(decode(&config, black_box(window)).expect("valid ids"));
            }
        });
    });
    group.bench_function("window_1024_C2048_M4_into_reused_vec", |b| {
        let mut out: Vec<u32> = Vec::with_capacity(2 * WINDOW);
        b.iter(|| {
            for window in &windows {
                out.clear();
                black_box(decode_into(&config, black_box(window), &mut out).expect("valid ids"));
            }
        });
    });
    group.throughput(Throughput::Elements(DOCUMENT as u64));
    group.bench_function("document_100k_C2048_M4", |b| {
        b.iter(|| black_box(decode(&config, black_box(&document)).expect("valid ids")));
    });
    group.finish();
}

/// Generation: the model produces one id per step and the state must say what it created.
fn bench_state(c: &mut Criterion) {
    let config = config(2048, 4);
    let base = stream(0x57A7E, WINDOW * 8);
    let codes = encode(&config, &base).expect("valid ids").0;

    let mut group = c.benchmark_group("codebook_state");
    group.throughput(Throughput::Elements(codes.len() as u64));
    group.bench_function("update_one_hypertoken_id_per_call", |b| {
        let mut state = CodebookState::new(&config);
        b.iter(|| {
            state.reset();
            for &id in &codes {
                black_box(state.update(black_box(&[id])).expect("valid ids"));
            }
        });
    });
    group.throughput(Throughput::Elements(base.len() as u64));
    group.bench_function("update_one_base_id_per_call", |b| {
        let mut state = CodebookState::new(&config);
        b.iter(|| {
            state.reset();
            for &id in &base {
                black_box(state.update(black_box(&[id])).expect("valid ids"));
            }
        });
    });
    group.bench_function("update_whole_sequence_one_call", |b| {
        let mut state = CodebookState::new(&config);
        b.iter(|| {
            state.reset();
            black_box(state.update(black_box(&base)).expect("valid ids"))
        });
    });
    group.finish();
}

/// The crate's rayon pool on a batch of windows, without any FFI: the scaling ceiling.
///
/// `ids_only` drops each codebook in the worker as soon as its row is encoded (what a batch
/// encode that returns ids needs); `with_codebooks` keeps every row's codebook until the
/// batch ends. The latter's one-thread time depends on the allocator's history: glibc gives
/// the top of the heap back to the OS when the batch frees its 64 tables (32 KiB each) and
/// faults them in again on the next call (about 3x slower when this group runs alone; raising
/// `GLIBC_TUNABLES=glibc.malloc.trim_threshold` removes the difference).
fn bench_batch(c: &mut Criterion) {
    let config = config(2048, 4);
    let windows = windows();
    let work = WINDOW * WINDOWS;
    let mut group = c.benchmark_group("batch_encode_64x1024");
    group.throughput(Throughput::Elements(work as u64));
    for (threads, enabled) in [("one_thread", false), ("pool", true)] {
        group.bench_function(format!("ids_only/{threads}"), |b| {
            zip2zip::parallel::set_parallelism(Some(enabled));
            b.iter(|| {
                black_box(
                    zip2zip::parallel::map_rows(&windows, work, |row| {
                        encode(&config, row).map(|(ids, _)| ids)
                    })
                    .expect("valid ids"),
                )
            });
            zip2zip::parallel::set_parallelism(None);
        });
    }
    for (threads, enabled) in [("one_thread", false), ("pool", true)] {
        group.bench_function(format!("with_codebooks/{threads}"), |b| {
            zip2zip::parallel::set_parallelism(Some(enabled));
            b.iter(|| {
                black_box(
                    zip2zip::parallel::map_rows(&windows, work, |row| encode(&config, row))
                        .expect("valid ids"),
                )
            });
            zip2zip::parallel::set_parallelism(None);
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_encode,
    bench_decode,
    bench_state,
    bench_batch
);
criterion_main!(benches);
