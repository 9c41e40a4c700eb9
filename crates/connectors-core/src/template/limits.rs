//! The bounds every render runs under, so that a hostile or careless
//! template cannot hang a worker or exhaust memory.
//!
//! Class templates render small configuration files (a gitconfig, a
//! kubeconfig) from a handful of connectors; these bounds are orders of
//! magnitude above that and far below what would hurt the process.

use std::time::Duration;

/// Iterations one `range` over an integer (and one `until`) may ask for.
/// Ranging over a list or map from the data is bounded by the total instead.
pub const LOOP_ITERATIONS: usize = 10_000;

/// Iterations of all loops and `template` calls of one render together.
pub const TOTAL_ITERATIONS: usize = 200_000;

/// Bytes one render may write.
pub const OUTPUT_BYTES: usize = 8 * 1024 * 1024;

/// Size of any single value a function may produce (string bytes plus list
/// and map entries); also the widest `printf` width.
pub const VALUE_SIZE: usize = 1024 * 1024;

/// Wall-clock time one render may take. The counters above bound memory;
/// this bounds time, which a template can otherwise spend by repeating
/// expensive calls within the other limits.
pub const RENDER_TIME: Duration = Duration::from_secs(5);

/// The engine limits built from the constants above.
pub(crate) fn engine_limits() -> gtmpl_ng::Limits {
    gtmpl_ng::Limits::default()
        .with_iterations(LOOP_ITERATIONS)
        .with_total_iterations(TOTAL_ITERATIONS)
        .with_output_bytes(OUTPUT_BYTES)
        .with_function_output(VALUE_SIZE)
        .with_deadline(RENDER_TIME)
}
