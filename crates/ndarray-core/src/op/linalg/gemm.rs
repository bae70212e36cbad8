//! `linalg_gemm` (`D = alpha * op(A) * op(B) + beta * C`) and `linalg_gemm2` (`C = alpha *
//! op(A) * op(B)`) on batches of matrices.
//!
//! The matrices' rows lie on axis `axis` (default -2) and their columns on the last axis; every
//! other axis is a batch axis, on which the operands must agree. Each product runs on the
//! strided operands in place through [`matmul_batch_into`] (the `gemm` crate, or CBLAS for large
//! float32 products). The gradients are `linalg_gemm2` products, as MXNet computes them.

use super::batch::la_dtype;
use crate::backend::cpu::matmul::{MatRef, matmul_batch_into};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::grad::{Grads, pick_attrs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

#[derive(Debug)]
struct Gemm {
    /// `linalg_gemm` (with C and beta) rather than `linalg_gemm2`.
    mac: bool,
    ta: bool,
    tb: bool,
    alpha: f64,
    beta: f64,
    axis: i64,
}

/// How a tensor of shape `s` holds its matrices: `pre` batches before the row axis, `mid`
/// between it and the last axis, `rows x cols` each.
#[derive(Clone, Copy, Debug)]
struct Layout {
    pre: usize,
    mid: usize,
    rows: usize,
    cols: usize,
}

impl Layout {
    fn of(s: &[usize], axis: usize) -> Layout {
        let nd = s.len();
        Layout {
            pre: s[..axis].iter().product(),
            mid: s[axis + 1..nd - 1].iter().product(),
            rows: s[axis],
            cols: s[nd - 1],
        }
    }
    /// Matrix `b` of the batch (read transposed when `t`), at element `base` of the storage.
    fn mat(&self, base: usize, b: usize, t: bool) -> MatRef {
        let (p, q) = (b / self.mid, b % self.mid);
        let offset = base + p * self.rows * self.mid * self.cols + q * self.cols;
        let rs = (self.mid * self.cols) as isize;
        if t { MatRef { offset, rs: 1, cs: rs } } else { MatRef { offset, rs, cs: 1 } }
    }
}

impl Gemm {
    fn name(&self) -> &'static str {
        if self.mac { "linalg_gemm" } else { "linalg_gemm2" }
    }

    /// The row axis of `nd`-axis operands.
    fn axis(&self, nd: usize) -> Result<usize> {
        let ax = if self.axis < 0 { nd as i64 + self.axis } else { self.axis };
        if ax < 0 || ax >= nd as i64 - 1 {
            return Err(Error::param(
                self.name(),
                format!("invalid row axis {} for operands with {nd} axes", self.axis),
            ));
        }
        Ok(ax as usize)
    }

    /// The output shape, and the row axis.
    fn out_shape(&self, a: &[usize], b: &[usize]) -> Result<(Shape, usize)> {
        let name = self.name();
        if a.len() < 2 || a.len() != b.len() {
            return Err(Error::shape(
                name,
                format!(
                    "A and B must be tensors of matrices with the same number of axes, got shapes {} and {}",
                    fmt_shape(a),
                    fmt_shape(b)
                ),
            ));
        }
        let nd = a.len();
        let ax = self.axis(nd)?;
        if (0..nd - 1).any(|i| i != ax && a[i] != b[i]) {
            return Err(Error::shape(
                name,
                format!(
                    "A and B must have the same shape except on the row and column axes, got {} and {}",
                    fmt_shape(a),
                    fmt_shape(b)
                ),
            ));
        }
        let (ka, kb) = (if self.ta { a[ax] } else { a[nd - 1] }, if self.tb { b[nd - 1] } else { b[ax] });
        if ka != kb {
            return Err(Error::shape(
                name,
                format!(
                    "incompatible matrix dimensions for multiplication: {} (transpose_a={}) and {} (transpose_b={})",
                    fmt_shape(a),
                    self.ta,
                    fmt_shape(b),
                    self.tb
                ),
            ));
        }
        let mut out = a.to_vec();
        out[ax] = if self.ta { a[nd - 1] } else { a[ax] };
        out[nd - 1] = if self.tb { b[ax] } else { b[nd - 1] };
        Ok((out, ax))
    }
}

impl Operator for Gemm {
    fn name(&self) -> &str {
        Gemm::name(self)
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), if self.mac { 3 } else { 2 })?;
        let (out, _) = self.out_shape(&inputs[0], &inputs[1])?;
        if self.mac && inputs[2] != out {
            return Err(Error::shape(
                self.name(),
                format!("C has shape {} but the product has shape {}", fmt_shape(&inputs[2]), fmt_shape(&out)),
            ));
        }
        Ok(vec![out])
    }
    /// As MXNet: once A and B are known, the output's and C's shapes are.
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(self.name(), inputs.len(), if self.mac { 3 } else { 2 })?;
        let (Some(a), Some(b)) = (&inputs[0], &inputs[1]) else { return Ok(()) };
        let (out, _) = self.out_shape(a, b)?;
        if self.mac {
            crate::op::assign_shapes(self.name(), &mut inputs[2..], std::slice::from_ref(&out))?;
        }
        crate::op::assign_shapes(self.name(), outputs, &[out])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![la_dtype(self.name(), inputs)?])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (out_shape, ax) = self.out_shape(x[0].shape, x[1].shape)?;
        let (la, lb, lo) = (Layout::of(x[0].shape, ax), Layout::of(x[1].shape, ax), Layout::of(&out_shape, ax));
        let (m, n, k) = (lo.rows, lo.cols, if self.ta { la.rows } else { la.cols });
        let batch = lo.pre * lo.mid;
        // The products, batch after batch, each m x n row-major.
        let mut prod = CpuStorage::try_zeros(self.name(), dt[0], batch * m * n)?;
        matmul_batch_into(ctx.par, &mut prod, 0, x[0].data, x[1].data, batch, m, n, k, |b| {
            (la.mat(x[0].offset, b, self.ta), lb.mat(x[1].offset, b, self.tb))
        });
        if !self.mac && self.alpha == 1.0 && lo.mid == 1 {
            return Ok(vec![prod]);
        }
        let c = self.mac.then(|| &x[2]);
        let (alpha, beta) = (self.alpha, self.beta);
        let out = dispatch!(float self.name(), dt[0] => T, {
            let p = T::slice(&prod).expect("product has the output dtype");
            let cv = c.map(|c| c.typed::<T>());
            let mut o = vec![<T as Element>::zero(); p.len()];
            // Element (batch b, i, j) of the product goes to its place in the output layout.
            for b in 0..batch {
                let (pp, q) = (b / lo.mid, b % lo.mid);
                for i in 0..m {
                    let src = (b * m + i) * n;
                    let dst = ((pp * m + i) * lo.mid + q) * n;
                    for j in 0..n {
                        let mut v = alpha * p[src + j].to_f64();
                        if let Some(cv) = cv {
                            v += beta * cv[dst + j].to_f64();
                        }
                        o[dst + j] = T::from_f64(v);
                    }
                }
            }
            T::wrap(o)
        });
        Ok(vec![out])
    }
}

/// The attributes of a `linalg_gemm2` computing one operand's gradient.
fn gemm2_attrs(a: &Attrs, ta: bool, tb: bool) -> Attrs {
    let mut at = pick_attrs(a, &["alpha", "axis"]);
    at.set("transpose_a", if ta { "True" } else { "False" });
    at.set("transpose_b", if tb { "True" } else { "False" });
    at
}

/// dA and dB of `alpha * op(A) * op(B)` for the output gradient `g` (MXNet's `gemm2_backward`).
fn product_grads(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], g: NodeEntry) -> Result<[NodeEntry; 2]> {
    let name = "linalg_gemm2";
    let ta = a.bool_or(name, "transpose_a", false)?;
    let tb = a.bool_or(name, "transpose_b", false)?;
    let da = if ta {
        b.apply("_linalg_gemm2", &[x[1], g], gemm2_attrs(a, tb, true))?
    } else {
        b.apply("_linalg_gemm2", &[g, x[1]], gemm2_attrs(a, false, !tb))?
    };
    let db = if tb {
        b.apply("_linalg_gemm2", &[g, x[0]], gemm2_attrs(a, true, ta))?
    } else {
        b.apply("_linalg_gemm2", &[x[0], g], gemm2_attrs(a, !ta, false))?
    };
    Ok([da, db])
}

fn grad_gemm2(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let [da, db] = product_grads(b, a, x, g[0])?;
    Ok(vec![Some(da), Some(db)])
}

/// As `linalg_gemm2`'s, and `beta * g` for C.
fn grad_gemm(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let [da, db] = product_grads(b, a, x, g[0])?;
    let beta = a.float_or("linalg_gemm", "beta", 1.0)?;
    let dc = if beta == 1.0 { b.unary("_copy", g[0])? } else { b.scalar_op("_mul_scalar", g[0], beta)? };
    Ok(vec![Some(da), Some(db), Some(dc)])
}

pub(super) fn register(r: &mut Registry) {
    for (name, alias, mac) in [("_linalg_gemm", "linalg_gemm", true), ("_linalg_gemm2", "linalg_gemm2", false)] {
        let inputs: &'static [&'static str] = if mac { &["A", "B", "C"] } else { &["A", "B"] };
        let params: &'static [crate::op::ParamSpec] = if mac {
            params!(
                "transpose_a" = Some("False"),
                "transpose_b" = Some("False"),
                "alpha" = Some("1.0"),
                "beta" = Some("1.0"),
                "axis" = Some("-2")
            )
        } else {
            params!(
                "transpose_a" = Some("False"),
                "transpose_b" = Some("False"),
                "alpha" = Some("1.0"),
                "axis" = Some("-2")
            )
        };
        let doc = if mac { "matrix product plus a multiple of a third matrix" } else { "matrix product" };
        r.add(name, inputs, params, doc, move |a: &Attrs| {
            let known: Vec<&str> = params.iter().map(|p| p.name).collect();
            a.check_known(alias, &known)?;
            Ok(Box::new(Gemm {
                mac,
                ta: a.bool_or(alias, "transpose_a", false)?,
                tb: a.bool_or(alias, "transpose_b", false)?,
                alpha: a.float_or(alias, "alpha", 1.0)?,
                beta: if mac { a.float_or(alias, "beta", 1.0)? } else { 0.0 },
                axis: a.int_or(alias, "axis", -2)?,
            }))
        });
        r.alias(alias, name);
        r.set_gradient(name, if mac { grad_gemm } else { grad_gemm2 });
    }
}
