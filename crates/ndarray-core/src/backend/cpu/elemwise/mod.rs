//! Elementwise kernels: unary math, binary ops with broadcasting, and ops with a scalar.
//!
//! f32 and f64 compute natively; f16 computes in f32; integer dtypes compute integer arithmetic
//! natively (wrapping, division by zero gives 0) and transcendental functions through f64 with
//! a truncating cast back, as MXNet's kernels do.
//!
//! Kernels take the op's thread budget ([`Parallelism`](super::Parallelism)) and split long
//! inputs over rayon's pool within it.

mod arith;
mod binary;
mod map;
mod special;
mod unary;

pub use arith::Arith;
pub use binary::{BinaryKind, binary, binary_inplace, binary_storage};
pub use map::{map, map_cheap, map_into};
pub use special::{digamma, erf, gamma, ln_gamma};
pub use unary::{UnaryFloat, UnaryKind, unary_inplace, unary_scalar, unary_storage};
