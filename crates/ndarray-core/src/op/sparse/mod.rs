//! Sparse storage kernels (MXNet's `csr` and `row_sparse` arrays).
//!
//! mxrs keeps a sparse array as ordinary dense component arrays (`data`, `indices`, `indptr`)
//! held together by the Python classes of `mx.nd.sparse`; these ops are the kernels over those
//! components: conversions to and from dense storage, the sparse dot products and the row
//! assignment that lazy optimizer updates write back with. Components whose length depends on
//! the values (a dense array's number of non-zeros) are made in two steps: one op counts
//! (`_sparse_csr_indptr`, `_sparse_rsp_rowptr`), the caller reads the count, a second op fills
//! (`_sparse_csr_from_dense`, `_sparse_rsp_from_dense`).

mod common;
mod convert;
mod dot;

use super::registry::Registry;

/// Register the sparse kernels.
pub(super) fn register(r: &mut Registry) {
    convert::register(r);
    dot::register(r);
}
