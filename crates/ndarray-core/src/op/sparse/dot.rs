//! `_sparse_dot_csr`: a CSR matrix (or its transpose) times a dense matrix.

use rayon::prelude::*;

use super::common::{check_csr, index_values, vector_len};
use crate::backend::cpu::Parallelism;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

/// Element types the product is computed in.
trait Real: StorageElement + std::ops::Mul<Output = Self> + std::ops::AddAssign {}
impl Real for f32 {}
impl Real for f64 {}

/// `_sparse_dot_csr(data, indices, indptr, rhs, num_cols, transpose_a)`: `csr · rhs` (or
/// `csrᵀ · rhs`), where the CSR matrix has `len(indptr) - 1` rows and `num_cols` columns and
/// `rhs` is dense, 1-D or 2-D. The result is dense.
#[derive(Debug)]
struct DotCsr {
    cols: usize,
    transpose_a: bool,
}

impl DotCsr {
    /// (rows of the csr matrix, columns of rhs) for input shapes `x`.
    fn dims(&self, x: &[Shape]) -> Result<(usize, usize)> {
        let op = self.name();
        let nnz = vector_len(op, "data", &x[0])?;
        if vector_len(op, "indices", &x[1])? != nnz {
            return Err(Error::shape(
                op,
                format!("data shape {} and indices shape {} differ", fmt_shape(&x[0]), fmt_shape(&x[1])),
            ));
        }
        let rows =
            vector_len(op, "indptr", &x[2])?.checked_sub(1).ok_or_else(|| Error::shape(op, "indptr is empty"))?;
        let rhs = &x[3];
        let (inner, n) = match rhs.len() {
            1 => (rhs[0], 1),
            2 => (rhs[0], rhs[1]),
            _ => return Err(Error::shape(op, format!("rhs must be 1-D or 2-D, got shape {}", fmt_shape(rhs)))),
        };
        let want = if self.transpose_a { rows } else { self.cols };
        if inner != want {
            let a = fmt_shape(&[rows, self.cols]) + if self.transpose_a { "ᵀ" } else { "" };
            return Err(Error::shape(
                op,
                format!("cannot multiply a csr matrix of shape {a} by rhs of shape {}", fmt_shape(rhs)),
            ));
        }
        Ok((rows, n))
    }
}

impl Operator for DotCsr {
    fn name(&self) -> &str {
        "_sparse_dot_csr"
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), x.len(), 4)?;
        let (rows, n) = self.dims(x)?;
        let m = if self.transpose_a { self.cols } else { rows };
        Ok(vec![if x[3].len() == 1 { vec![m] } else { vec![m, n] }])
    }
    fn infer_dtype(&self, x: &[DType]) -> Result<Vec<DType>> {
        if x[0] != x[3] {
            return Err(Error::dtype(self.name(), x[3], format!("data is {} but rhs is {}", x[0], x[3])));
        }
        if !matches!(x[0], DType::F32 | DType::F64) {
            return Err(Error::dtype(self.name(), x[0], "sparse dot supports float32 and float64"));
        }
        Ok(vec![x[0]])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let shapes: Vec<Shape> = x.iter().map(|t| t.shape.to_vec()).collect();
        let (rows, n) = self.dims(&shapes)?;
        let indices = index_values(&x[1]);
        let indptr = index_values(&x[2]);
        check_csr(self.name(), &indptr, &indices, rows, self.cols)?;
        let csr = Csr { rows, cols: self.cols, indptr: &indptr, indices: &indices };
        match x[0].dtype() {
            DType::F32 => Ok(vec![f32::wrap(csr.product(x[0].typed(), x[3].typed(), n, self.transpose_a, ctx.par))]),
            DType::F64 => Ok(vec![f64::wrap(csr.product(x[0].typed(), x[3].typed(), n, self.transpose_a, ctx.par))]),
            d => Err(Error::dtype(self.name(), d, "sparse dot supports float32 and float64")),
        }
    }
}

/// A checked CSR structure.
struct Csr<'a> {
    rows: usize,
    cols: usize,
    indptr: &'a [i64],
    indices: &'a [i64],
}

impl Csr<'_> {
    /// `A · rhs` (`rhs` is `cols × n`) or `Aᵀ · rhs` (`rhs` is `rows × n`), row-major.
    fn product<T: Real>(&self, data: &[T], rhs: &[T], n: usize, transpose: bool, par: Parallelism) -> Vec<T> {
        if transpose {
            let mut out = vec![T::zero(); self.cols * n];
            for r in 0..self.rows {
                let src = &rhs[r * n..(r + 1) * n];
                let span = self.indptr[r] as usize..self.indptr[r + 1] as usize;
                for (&c, &v) in self.indices[span.clone()].iter().zip(&data[span]) {
                    let c = c as usize;
                    for (o, &b) in out[c * n..(c + 1) * n].iter_mut().zip(src) {
                        *o += v * b;
                    }
                }
            }
            return out;
        }
        let mut out = vec![T::zero(); self.rows * n];
        let row = |(r, dst): (usize, &mut [T])| {
            let span = self.indptr[r] as usize..self.indptr[r + 1] as usize;
            for (&c, &v) in self.indices[span.clone()].iter().zip(&data[span]) {
                let c = c as usize;
                for (o, &b) in dst.iter_mut().zip(&rhs[c * n..(c + 1) * n]) {
                    *o += v * b;
                }
            }
        };
        if n > 0 && par.split(self.indices.len() * n) {
            out.par_chunks_mut(n).enumerate().for_each(row);
        } else if n > 0 {
            out.chunks_mut(n).enumerate().for_each(row);
        }
        out
    }
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "_sparse_dot_csr",
        &["data", "indices", "indptr", "rhs"],
        params!("num_cols" = None, "transpose_a" = Some("False")),
        "product of a csr matrix (components) and a dense matrix",
        |a: &Attrs| {
            let op = "_sparse_dot_csr";
            let cols = a.int(op, "num_cols")?;
            let cols =
                usize::try_from(cols).map_err(|_| Error::param(op, format!("num_cols must be >= 0, got {cols}")))?;
            Ok(Box::new(DotCsr { cols, transpose_a: a.bool_or(op, "transpose_a", false)? }))
        },
    );
}
