//! Conversions between dense arrays and sparse components, and row assignment.

use super::common::{check_csr, check_rows, index_values, vector_len};
use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape, size_of};
use crate::storage::{CpuStorage, StorageElement};

/// `_sparse_csr_to_dense(data, indices, indptr, shape)`: the dense 2-D array of a CSR matrix.
#[derive(Debug)]
struct CsrToDense {
    shape: Shape,
}

impl Operator for CsrToDense {
    fn name(&self) -> &str {
        "_sparse_csr_to_dense"
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let op = self.name();
        expect_inputs(op, x.len(), 3)?;
        if self.shape.len() != 2 {
            return Err(Error::shape(op, format!("a csr array is 2-D, got shape {}", fmt_shape(&self.shape))));
        }
        let nnz = vector_len(op, "data", &x[0])?;
        if vector_len(op, "indices", &x[1])? != nnz {
            return Err(Error::shape(
                op,
                format!("data shape {} and indices shape {} differ", fmt_shape(&x[0]), fmt_shape(&x[1])),
            ));
        }
        if vector_len(op, "indptr", &x[2])? != self.shape[0] + 1 {
            return Err(Error::shape(
                op,
                format!("indptr shape {} does not fit shape {} (rows + 1)", fmt_shape(&x[2]), fmt_shape(&self.shape)),
            ));
        }
        Ok(vec![self.shape.clone()])
    }
    fn infer_dtype(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![x[0]])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let indices = index_values(&x[1]);
        let indptr = index_values(&x[2]);
        check_csr(self.name(), &indptr, &indices, rows, cols)?;
        let src = x[0].storage();
        dispatch!(storage &*src => v: T, {
            let mut o = crate::storage::try_zeroed_vec::<T>(self.name(), rows * cols)?;
            for r in 0..rows {
                for k in indptr[r] as usize..indptr[r + 1] as usize {
                    o[r * cols + indices[k] as usize] = v[k];
                }
            }
            Ok(vec![T::wrap(o)])
        })
    }
}

/// `_sparse_rsp_to_dense(data, indices, shape)`: the dense array of a row_sparse array (row
/// `indices[k]` is `data[k]`, other rows are zero).
#[derive(Debug)]
struct RspToDense {
    shape: Shape,
}

impl Operator for RspToDense {
    fn name(&self) -> &str {
        "_sparse_rsp_to_dense"
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let op = self.name();
        expect_inputs(op, x.len(), 2)?;
        let nnr = vector_len(op, "indices", &x[1])?;
        let ok = !self.shape.is_empty() && x[0].len() == self.shape.len() && x[0][1..] == self.shape[1..];
        if !ok || x[0][0] != nnr {
            return Err(Error::shape(
                op,
                format!(
                    "data shape {} and indices shape {} do not fit shape {} (data must be (len(indices),) + shape[1:])",
                    fmt_shape(&x[0]),
                    fmt_shape(&x[1]),
                    fmt_shape(&self.shape)
                ),
            ));
        }
        Ok(vec![self.shape.clone()])
    }
    fn infer_dtype(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![x[0]])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let idx = index_values(&x[1]);
        check_rows(self.name(), &idx, self.shape[0])?;
        let row: usize = self.shape[1..].iter().product();
        let src = x[0].storage();
        dispatch!(storage &*src => v: T, {
            let mut o = crate::storage::try_zeroed_vec::<T>(self.name(), size_of(&self.shape))?;
            for (k, &r) in idx.iter().enumerate() {
                let r = r as usize;
                o[r * row..(r + 1) * row].copy_from_slice(&v[k * row..(k + 1) * row]);
            }
            Ok(vec![T::wrap(o)])
        })
    }
}

/// Whether element `i` of `x` is non-zero.
fn nonzero(x: &TensorIn<'_>, i: usize) -> bool {
    x.data.get_f64(x.offset + i) != 0.0
}

/// `_sparse_csr_indptr(data)`: the CSR row pointer of a dense 2-D array (non-zeros per row,
/// accumulated; the last element is the number of non-zeros).
#[derive(Debug)]
struct CsrIndptr;

impl Operator for CsrIndptr {
    fn name(&self) -> &str {
        "_sparse_csr_indptr"
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), x.len(), 1)?;
        if x[0].len() != 2 {
            return Err(Error::shape(
                self.name(),
                format!("csr storage needs a 2-D array, got shape {}", fmt_shape(&x[0])),
            ));
        }
        Ok(vec![vec![x[0][0] + 1]])
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![DType::I64])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let (rows, cols) = (x[0].shape[0], x[0].shape[1]);
        let mut ptr = Vec::with_capacity(rows + 1);
        let mut n = 0i64;
        ptr.push(0);
        for r in 0..rows {
            n += (0..cols).filter(|&c| nonzero(&x[0], r * cols + c)).count() as i64;
            ptr.push(n);
        }
        Ok(vec![i64::wrap(ptr)])
    }
}

/// `_sparse_csr_from_dense(data, indptr, nnz)`: the values and column indices of a dense 2-D
/// array's non-zeros, row by row (`indptr` from `_sparse_csr_indptr`).
#[derive(Debug)]
struct CsrFromDense {
    nnz: usize,
}

impl Operator for CsrFromDense {
    fn name(&self) -> &str {
        "_sparse_csr_from_dense"
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), x.len(), 2)?;
        if x[0].len() != 2 || x[1] != [x[0][0] + 1] {
            return Err(Error::shape(
                self.name(),
                format!("data shape {} and indptr shape {} do not fit", fmt_shape(&x[0]), fmt_shape(&x[1])),
            ));
        }
        Ok(vec![vec![self.nnz], vec![self.nnz]])
    }
    fn infer_dtype(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![x[0], DType::I64])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let total = index_values(&x[1]).last().copied().unwrap_or(0);
        if total != self.nnz as i64 {
            return Err(Error::param(self.name(), format!("nnz={} but indptr ends at {total}", self.nnz)));
        }
        let cols = x[0].shape[1];
        let src = x[0].storage();
        dispatch!(storage &*src => v: T, {
            let mut vals = Vec::with_capacity(self.nnz);
            let mut idx = Vec::with_capacity(self.nnz);
            for (i, &e) in v.iter().enumerate() {
                if e.to_f64() != 0.0 {
                    vals.push(e);
                    idx.push((i % cols) as i64);
                }
            }
            Ok(vec![T::wrap(vals), i64::wrap(idx)])
        })
    }
}

/// `_sparse_rsp_rowptr(data)`: for a dense array, the running count of rows holding a non-zero
/// (`rows + 1` elements; the last is the number of such rows).
#[derive(Debug)]
struct RspRowptr;

impl Operator for RspRowptr {
    fn name(&self) -> &str {
        "_sparse_rsp_rowptr"
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), x.len(), 1)?;
        if x[0].is_empty() {
            return Err(Error::shape(self.name(), "row_sparse storage needs at least 1 dimension, got shape ()"));
        }
        Ok(vec![vec![x[0][0] + 1]])
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![DType::I64])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let rows = x[0].shape[0];
        let row: usize = x[0].shape[1..].iter().product();
        let mut ptr = Vec::with_capacity(rows + 1);
        let mut n = 0i64;
        ptr.push(0);
        for r in 0..rows {
            n += i64::from((0..row).any(|c| nonzero(&x[0], r * row + c)));
            ptr.push(n);
        }
        Ok(vec![i64::wrap(ptr)])
    }
}

/// `_sparse_rsp_from_dense(data, rowptr, nnr)`: the non-zero rows of a dense array and their
/// indices (`rowptr` from `_sparse_rsp_rowptr`).
#[derive(Debug)]
struct RspFromDense {
    nnr: usize,
}

impl Operator for RspFromDense {
    fn name(&self) -> &str {
        "_sparse_rsp_from_dense"
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), x.len(), 2)?;
        if x[0].is_empty() || x[1] != [x[0][0] + 1] {
            return Err(Error::shape(
                self.name(),
                format!("data shape {} and rowptr shape {} do not fit", fmt_shape(&x[0]), fmt_shape(&x[1])),
            ));
        }
        let mut d = x[0].clone();
        d[0] = self.nnr;
        Ok(vec![d, vec![self.nnr]])
    }
    fn infer_dtype(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![x[0], DType::I64])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let ptr = index_values(&x[1]);
        if ptr.last().copied().unwrap_or(0) != self.nnr as i64 {
            return Err(Error::param(self.name(), format!("nnr={} but rowptr ends at {:?}", self.nnr, ptr.last())));
        }
        let row: usize = x[0].shape[1..].iter().product();
        let src = x[0].storage();
        dispatch!(storage &*src => v: T, {
            let mut vals = Vec::with_capacity(self.nnr * row);
            let mut idx = Vec::with_capacity(self.nnr);
            for r in 0..x[0].shape[0] {
                if ptr[r + 1] > ptr[r] {
                    vals.extend_from_slice(&v[r * row..(r + 1) * row]);
                    idx.push(r as i64);
                }
            }
            Ok(vec![T::wrap(vals), i64::wrap(idx)])
        })
    }
}

/// `_sparse_row_assign(lhs, rhs, indices)`: `lhs` with row `indices[k]` replaced by `rhs[k]`.
/// Called with `out=lhs` it writes only those rows, in place: lazy optimizer updates write the
/// rows of a row_sparse gradient back with it.
#[derive(Debug)]
struct RowAssign;

impl RowAssign {
    fn assign(&self, out: &mut CpuStorage, shape: &[usize], rhs: &TensorIn<'_>, idx: &TensorIn<'_>) -> Result<()> {
        let idx = index_values(idx);
        check_rows(self.name(), &idx, shape[0])?;
        let row: usize = shape[1..].iter().product();
        let vals = rhs.data.cast(rhs.offset, rhs.len(), out.dtype());
        dispatch!(storage out => o: T, {
            let src = T::slice(&vals).expect("cast above");
            for (k, &r) in idx.iter().enumerate() {
                let r = r as usize;
                o[r * row..(r + 1) * row].copy_from_slice(&src[k * row..(k + 1) * row]);
            }
        });
        Ok(())
    }
}

impl Operator for RowAssign {
    fn name(&self) -> &str {
        "_sparse_row_assign"
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let op = self.name();
        expect_inputs(op, x.len(), 3)?;
        let n = vector_len(op, "indices", &x[2])?;
        let ok = !x[0].is_empty() && x[1].len() == x[0].len() && x[1][0] == n && x[1][1..] == x[0][1..];
        if !ok {
            return Err(Error::shape(
                op,
                format!(
                    "rows of shape {} with indices of shape {} do not fit an array of shape {}",
                    fmt_shape(&x[1]),
                    fmt_shape(&x[2]),
                    fmt_shape(&x[0])
                ),
            ));
        }
        Ok(vec![x[0].clone()])
    }
    fn infer_dtype(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![x[0]])
    }
    fn forward_inplace(&self, _: &mut OpCtx<'_>, data: &mut CpuStorage, rest: &[TensorIn<'_>]) -> Result<bool> {
        // The output is input 0's whole chunk: its rows have the length of a row of rhs.
        let row = rest[0].len().checked_div(rest[1].len()).unwrap_or(0);
        if row == 0 {
            return Ok(true);
        }
        let shape = [data.len() / row, row];
        self.assign(data, &shape, &rest[0], &rest[1])?;
        Ok(true)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let mut out = x[0].to_storage();
        self.assign(&mut out, x[0].shape, &x[1], &x[2])?;
        Ok(vec![out])
    }
}

/// A required non-negative integer parameter.
fn count_param(a: &Attrs, op: &str, key: &str) -> Result<usize> {
    let n = a.int(op, key)?;
    usize::try_from(n).map_err(|_| Error::param(op, format!("{key} must be >= 0, got {n}")))
}

/// A required `shape` parameter.
fn shape_param(a: &Attrs, op: &str) -> Result<Shape> {
    if a.raw("shape").is_none() {
        return Err(Error::param(op, "the shape parameter is required"));
    }
    a.shape(op, "shape")
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "_sparse_csr_to_dense",
        &["data", "indices", "indptr"],
        params!("shape" = None),
        "csr components to dense",
        |a| Ok(Box::new(CsrToDense { shape: shape_param(a, "_sparse_csr_to_dense")? })),
    );
    r.add(
        "_sparse_rsp_to_dense",
        &["data", "indices"],
        params!("shape" = None),
        "row_sparse components to dense",
        |a| Ok(Box::new(RspToDense { shape: shape_param(a, "_sparse_rsp_to_dense")? })),
    );
    r.add("_sparse_csr_indptr", &["data"], params!(), "csr row pointer of a dense 2-D array", |_| {
        Ok(Box::new(CsrIndptr))
    });
    r.add(
        "_sparse_csr_from_dense",
        &["data", "indptr"],
        params!("nnz" = None),
        "csr values and indices of a dense array",
        |a| Ok(Box::new(CsrFromDense { nnz: count_param(a, "_sparse_csr_from_dense", "nnz")? })),
    );
    r.add("_sparse_rsp_rowptr", &["data"], params!(), "running count of a dense array's non-zero rows", |_| {
        Ok(Box::new(RspRowptr))
    });
    r.add(
        "_sparse_rsp_from_dense",
        &["data", "rowptr"],
        params!("nnr" = None),
        "non-zero rows of a dense array",
        |a| Ok(Box::new(RspFromDense { nnr: count_param(a, "_sparse_rsp_from_dense", "nnr")? })),
    );
    r.add(
        "_sparse_row_assign",
        &["lhs", "rhs", "indices"],
        params!(),
        "assign rows of lhs (in place with out=lhs)",
        |_| Ok(Box::new(RowAssign)),
    );
}
