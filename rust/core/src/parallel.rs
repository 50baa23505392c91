//! The crate's own rayon pool: sized by `ZIP2ZIP_NUM_THREADS`, switched off by
//! `ZIP2ZIP_PARALLELISM=0` (or [`set_parallelism`]), and rebuilt in a forked child, whose copy
//! of the parent's pool has no threads behind it (PyTorch DataLoader workers fork).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::Result;

/// Environment variable giving the pool's thread count (default: available cores).
pub const NUM_THREADS_ENV: &str = "ZIP2ZIP_NUM_THREADS";
/// Environment variable that disables parallelism when set to `0`, `false`, `off` or `no`.
pub const PARALLELISM_ENV: &str = "ZIP2ZIP_PARALLELISM";
/// Below this many ids in a batch, work stays on the calling thread.
pub const MIN_PARALLEL_WORK: usize = 4096;

const FROM_ENV: u8 = 0;
const ENABLED: u8 = 1;
const DISABLED: u8 = 2;
static PARALLELISM: AtomicU8 = AtomicU8::new(FROM_ENV);
static POOL: Mutex<Option<(u32, Arc<ThreadPool>)>> = Mutex::new(None);

/// Overrides the environment: `Some(true)` or `Some(false)` forces parallelism on or off,
/// `None` goes back to reading `ZIP2ZIP_PARALLELISM`.
pub fn set_parallelism(enabled: Option<bool>) {
    let value = match enabled {
        None => FROM_ENV,
        Some(true) => ENABLED,
        Some(false) => DISABLED,
    };
    PARALLELISM.store(value, Ordering::Relaxed);
}

/// Whether batches may run on the pool.
pub fn parallelism_enabled() -> bool {
    match PARALLELISM.load(Ordering::Relaxed) {
        ENABLED => true,
        DISABLED => false,
        _ => !matches!(
            std::env::var(PARALLELISM_ENV)
                .map(|value| value.trim().to_ascii_lowercase())
                .as_deref(),
            Ok("0" | "false" | "off" | "no")
        ),
    }
}

/// Threads the pool has (or will have once built).
pub fn num_threads() -> usize {
    std::env::var(NUM_THREADS_ENV)
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|&threads| threads > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

fn pool() -> Option<Arc<ThreadPool>> {
    let pid = std::process::id();
    let current = |guard: &Option<(u32, Arc<ThreadPool>)>| match guard {
        Some((owner, pool)) if *owner == pid => Some(Arc::clone(pool)),
        _ => None,
    };
    // The lock is only ever held for these few instructions, never while threads start, so a
    // fork() racing with the first batch cannot leave the child waiting on it forever.
    if let Some(pool) = current(&POOL.lock().unwrap_or_else(|e| e.into_inner())) {
        return Some(pool);
    }
    let built = Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(num_threads())
            .thread_name(|index| format!("zip2zip-{index}"))
            .build()
            .ok()?,
    );
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pool) = current(&guard) {
        return Some(pool); // another thread won the race; ours is dropped
    }
    if let Some((_, inherited)) = guard.take() {
        // Forked child: the parent's worker threads do not exist here; never touch that pool.
        std::mem::forget(inherited);
    }
    *guard = Some((pid, Arc::clone(&built)));
    Some(built)
}

fn use_pool(work: usize, rows: usize) -> Option<Arc<ThreadPool>> {
    if rows < 2 || work < MIN_PARALLEL_WORK || !parallelism_enabled() {
        return None;
    }
    pool().filter(|pool| pool.current_num_threads() > 1)
}

/// `f` over every row, in parallel when the batch is large enough; the first failing row's
/// error (wrapped with its index) wins. `work` estimates the batch size in ids.
pub fn map_rows<S, R, F>(rows: &[S], work: usize, f: F) -> Result<Vec<R>>
where
    S: Sync,
    R: Send,
    F: Fn(&S) -> Result<R> + Sync,
{
    map_rows_with(rows, work, || (), |(), row| f(row))
}

/// Like [`map_rows`], with scratch state made by `init` once per participating thread (not
/// per row) and lent to `f` for each row it handles.
///
/// The calling thread works too: rows are handed out one at a time from a shared counter to
/// the caller and to `threads - 1` pool tasks, so the caller starts at once instead of waiting
/// for sleeping workers to wake, and uneven rows balance themselves.
pub fn map_rows_with<S, R, I, G, F>(rows: &[S], work: usize, init: G, f: F) -> Result<Vec<R>>
where
    S: Sync,
    R: Send,
    G: Fn() -> I + Sync,
    F: Fn(&mut I, &S) -> Result<R> + Sync,
{
    let Some(pool) = use_pool(work, rows.len()) else {
        let mut scratch = init();
        return rows
            .iter()
            .enumerate()
            .map(|(index, row)| f(&mut scratch, row).map_err(|error| error.in_row(index)))
            .collect();
    };
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<R>>>> = rows.iter().map(|_| Mutex::new(None)).collect();
    let drain = || {
        let mut scratch = init();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(row) = rows.get(index) else { break };
            let result = f(&mut scratch, row).map_err(|error| error.in_row(index));
            *slots[index].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        }
    };
    pool.in_place_scope(|scope| {
        for _ in 1..pool.current_num_threads() {
            scope.spawn(|_| drain());
        }
        drain();
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| {
                    Err(crate::error::Error::InvalidConfig(
                        "row was not processed".into(),
                    ))
                })
        })
        .collect()
}

/// Like [`map_rows`], pairing each mutable state with its input row.
pub(crate) fn map_rows_mut<T, S, R, F>(
    states: &mut [T],
    rows: &[S],
    work: usize,
    f: F,
) -> Result<Vec<R>>
where
    T: Send,
    S: Sync,
    R: Send,
    F: Fn(&mut T, &S) -> Result<R> + Sync,
{
    let run =
        |(index, (state, row)): (usize, (&mut T, &S))| f(state, row).map_err(|e| e.in_row(index));
    match use_pool(work, rows.len()) {
        None => states.iter_mut().zip(rows).enumerate().map(run).collect(),
        Some(pool) => pool.install(|| {
            states
                .par_iter_mut()
                .zip(rows.par_iter())
                .enumerate()
                .map(run)
                .collect()
        }),
    }
}
