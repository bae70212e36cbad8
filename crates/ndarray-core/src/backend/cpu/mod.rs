//! Host kernels. Every kernel is synchronous and engine-free: it maps contiguous input slices
//! (with their shapes) to a new output vector. Large inputs are split across rayon's pool.

pub mod blas;
pub mod cast;
pub mod conv;
pub mod elemwise;
pub mod gather;
pub mod matmul;
pub mod reduce;
pub mod stream;
pub mod vmath;

/// Inputs at least this long are processed in parallel chunks.
pub const PAR_THRESHOLD: usize = 1 << 16;

/// Chunk length for parallel elementwise loops.
pub const PAR_CHUNK: usize = 1 << 15;

/// Whether a kernel over `n` elements should split its work over rayon's pool: only for large
/// inputs, when the pool has several threads, and when no other engine op runs at the same time
/// (then each op keeps to its own worker thread, and independent ops run side by side instead
/// of queueing for the same pool).
pub fn parallel(n: usize) -> bool {
    let split = n >= PAR_THRESHOLD && rayon::current_num_threads() > 1 && mxrs_engine::running_ops() <= 1;
    if split {
        mxrs_engine::mark_parallel();
    }
    split
}

/// Inputs of kernels that do a few flops per element (an SGD step, `x + y`, `x += 1`, a sum)
/// go parallel only from this length: below it, waking a second thread costs more than it
/// saves. On 2 cores an SGD step on 10^5 float32 took 35 µs on one thread and 65 µs split over
/// two; `x += 1` on 2^16 float32 13-18 µs against 23-31 µs.
pub const PAR_THRESHOLD_CHEAP: usize = 1 << 18;

/// [`parallel`] for kernels that do a few flops per element.
pub fn parallel_cheap(n: usize) -> bool {
    n >= PAR_THRESHOLD_CHEAP && parallel(n)
}
