//! `zip2zip_tokenizers._core`: the PyO3 face of `zip2zip-core`. Every method reads its input,
//! releases the GIL for the work, and maps core errors through the one `From<CoreError> for PyErr`.

mod codebook;
mod compressor;
mod config;
mod errors;
mod ids;
mod ints;
mod lattice;
mod results;
mod state;
mod text;

use pyo3::prelude::*;

/// Batches allocate and free many id buffers and codebooks across threads; mimalloc's
/// thread-local heaps keep that from contending or returning pages to the OS on every call.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its option enum's 16th entry, in v2 and v3 alike; the
/// `libmimalloc-sys` crate leaves it unnamed).
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds the native allocator (mimalloc) keeps freed memory before handing it back to
/// the system (0: at once, -1: never; its default is 1000).
#[pyfunction]
fn memory_purge_delay() -> std::ffi::c_long {
    // SAFETY: reads one of mimalloc's options; takes no pointers.
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY_OPTION) }
}

/// Sets ``memory_purge_delay``, for this process and the ones it forks from now on. Shorter
/// delays cost page faults when memory is reused, and keep a process that frees often smaller.
#[pyfunction]
#[pyo3(signature = (milliseconds))]
fn set_memory_purge_delay(milliseconds: i32) {
    // SAFETY: sets one of mimalloc's options, which it reads on each purge.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, milliseconds.into()) }
}

/// Forces batch parallelism on (``True``) or off (``False``); ``None`` defers to the
/// ``ZIP2ZIP_PARALLELISM`` environment variable.
#[pyfunction]
#[pyo3(signature = (enabled))]
fn set_parallelism(enabled: Option<bool>) {
    zip2zip::parallel::set_parallelism(enabled);
}

/// Whether batch methods may use the thread pool.
#[pyfunction]
fn parallelism_enabled() -> bool {
    zip2zip::parallel::parallelism_enabled()
}

/// Threads in the batch pool (``ZIP2ZIP_NUM_THREADS``, default: available cores).
#[pyfunction]
fn num_threads() -> usize {
    zip2zip::parallel::num_threads()
}

#[pymodule(gil_used = false)]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add_class::<config::PyCompressionConfig>()?;
    module.add_class::<codebook::PyCodebook>()?;
    module.add_class::<compressor::PyLZWCompressor>()?;
    module.add_class::<state::PyCodebookState>()?;
    module.add_class::<state::PyBatchCodebookState>()?;
    module.add_class::<lattice::PyLattice>()?;
    module.add("Zip2ZipError", py.get_type::<errors::Zip2ZipError>())?;
    module.add(
        "InvalidTokenError",
        py.get_type::<errors::InvalidTokenError>(),
    )?;
    module.add(
        "InvalidConfigError",
        py.get_type::<errors::InvalidConfigError>(),
    )?;
    module.add(
        "InvalidArgumentError",
        py.get_type::<errors::InvalidArgumentError>(),
    )?;
    module.add(
        "InvalidCodebookError",
        py.get_type::<errors::InvalidCodebookError>(),
    )?;
    module.add(
        "LimitExceededError",
        py.get_type::<errors::LimitExceededError>(),
    )?;
    module.add(
        "UnsupportedTokenizerError",
        py.get_type::<errors::UnsupportedTokenizerError>(),
    )?;
    module.add(
        "InvalidTokenizerError",
        py.get_type::<errors::InvalidTokenizerError>(),
    )?;
    module.add_class::<text::PyTextTokenizer>()?;
    results::register(module)?;
    module.add_function(wrap_pyfunction!(set_parallelism, module)?)?;
    module.add_function(wrap_pyfunction!(parallelism_enabled, module)?)?;
    module.add_function(wrap_pyfunction!(num_threads, module)?)?;
    module.add_function(wrap_pyfunction!(memory_purge_delay, module)?)?;
    module.add_function(wrap_pyfunction!(set_memory_purge_delay, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
