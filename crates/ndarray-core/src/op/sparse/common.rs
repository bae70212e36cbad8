//! Checks and index reading shared by the sparse kernels.

use std::borrow::Cow;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::TensorIn;
use crate::shape::fmt_shape;

/// The elements of an index component as `i64` (borrowed when it is int64 already).
pub(super) fn index_values<'a>(x: &TensorIn<'a>) -> Cow<'a, [i64]> {
    if x.dtype() == DType::I64 {
        Cow::Borrowed(x.typed::<i64>())
    } else {
        Cow::Owned((0..x.len()).map(|i| x.data.get_f64(x.offset + i) as i64).collect())
    }
}

/// Check that `x` is 1-D (an index or value vector) and return its length.
pub(super) fn vector_len(op: &str, what: &str, x: &[usize]) -> Result<usize> {
    if x.len() != 1 {
        return Err(Error::shape(op, format!("{what} must be 1-D, got shape {}", fmt_shape(x))));
    }
    Ok(x[0])
}

/// Check a CSR structure of `rows` x `cols` with `nnz` stored values: `indptr` starts at 0,
/// never decreases and ends at `nnz`; every column index is in `0..cols`.
pub(super) fn check_csr(op: &str, indptr: &[i64], indices: &[i64], rows: usize, cols: usize) -> Result<()> {
    let nnz = indices.len();
    if indptr.len() != rows + 1 {
        return Err(Error::shape(
            op,
            format!("indptr has {} elements, expected {} (rows + 1)", indptr.len(), rows + 1),
        ));
    }
    if indptr[0] != 0 || indptr[rows] != nnz as i64 {
        return Err(Error::Index(format!(
            "{op}: indptr must start at 0 and end at nnz={nnz}, got {} and {}",
            indptr[0], indptr[rows]
        )));
    }
    if let Some(w) = indptr.windows(2).find(|w| w[1] < w[0]) {
        return Err(Error::Index(format!("{op}: indptr must not decrease, got {} then {}", w[0], w[1])));
    }
    if let Some(&c) = indices.iter().find(|&&c| c < 0 || c as usize >= cols) {
        return Err(Error::Index(format!("{op}: column index {c} out of range 0..{cols}")));
    }
    Ok(())
}

/// Check row indices of a row_sparse array with `rows` rows: each in `0..rows`.
pub(super) fn check_rows(op: &str, idx: &[i64], rows: usize) -> Result<()> {
    if let Some(&r) = idx.iter().find(|&&r| r < 0 || r as usize >= rows) {
        return Err(Error::Index(format!("{op}: row index {r} out of range 0..{rows}")));
    }
    Ok(())
}
