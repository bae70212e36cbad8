//! The `linalg` ops of MXNet (`mx.nd.linalg.*`, `mx.sym.linalg.*`): matrix products with
//! triangular and symmetric operands, Cholesky and LQ factorizations, inverses and
//! determinants, and the diagonal and triangle copies, each on a batch of matrices (the last
//! two axes; leading axes are the batch), in float32 or float64, with MXNet's gradients.
//!
//! Registered under MXNet's names (`_linalg_gemm`...) with the aliases `linalg_gemm`...
//! - [`gemm`]: `linalg_gemm` and `linalg_gemm2` (the product on the `gemm` crate or CBLAS, with
//!   MXNet's `axis` for the row axis), their gradients composed of `linalg_gemm2`.
//! - [`factor`]: `linalg_potrf`, `potri`, `trmm`, `trsm`, `syrk`, `gelqf`, `sumlogdiag`,
//!   `inverse`, `det`, `slogdet` and their fused `_backward_linalg_*` kernels, computed per
//!   matrix by the float64 kernels of [`dense`].
//! - [`diag`]: `linalg_extractdiag`, `makediag`, `extracttrian`, `maketrian`, each the
//!   gradient of its partner.
//!
//! Every op but the products goes through [`batch::BatchOp`]: a table entry ([`batch::Spec`]) gives its
//! shape inference and the computation on one matrix of the batch.

mod backward;
mod batch;
mod dense;
mod diag;
mod factor;
mod gemm;
#[cfg(test)]
mod tests;

use super::registry::Registry;

pub(super) fn register(r: &mut Registry) {
    gemm::register(r);
    for spec in factor::SPECS.iter().chain(diag::SPECS) {
        batch::register_spec(r, spec);
    }
}
