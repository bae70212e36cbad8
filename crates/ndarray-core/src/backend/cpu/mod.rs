//! Host kernels. Every kernel is synchronous and engine-free: it maps contiguous input slices
//! (with their shapes) to a new output vector. Large inputs are split across rayon's pool.

pub mod cast;
pub mod elemwise;
pub mod gather;
pub mod matmul;
pub mod reduce;
pub mod vmath;

/// Inputs at least this long are processed in parallel chunks.
pub const PAR_THRESHOLD: usize = 1 << 16;

/// Chunk length for parallel elementwise loops.
pub const PAR_CHUNK: usize = 1 << 15;
