//! `dot` (MXNet's N-D rule) and `batch_dot`.

use super::registry::Registry;
use super::{Attrs, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::cpu::matmul::{MatRef, matmul_into};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, fmt_shape, size_of};
use crate::storage::CpuStorage;

#[derive(Debug)]
struct Dot {
    ta: bool,
    tb: bool,
}

/// The 2-D view of a dot operand: (rows, cols) before transposition.
fn as_matrix(s: &[usize], first_axis_rows: bool) -> (usize, usize) {
    if s.len() <= 1 {
        return if first_axis_rows {
            (s.first().copied().unwrap_or(1), 1)
        } else {
            (1, s.first().copied().unwrap_or(1))
        };
    }
    if first_axis_rows { (s[0], size_of(&s[1..])) } else { (size_of(&s[..s.len() - 1]), s[s.len() - 1]) }
}

impl Dot {
    /// (m, k, n) plus the output shape.
    fn dims(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize, Shape)> {
        if a.len() == 1 && b.len() == 1 {
            if a[0] != b[0] {
                return Err(Error::shape("dot", format!("dot shape error: {} X {}", fmt_shape(a), fmt_shape(b))));
            }
            return Ok((1, a[0], 1, vec![1]));
        }
        // Left operand: (prod(shape[:-1]), shape[-1]) or, transposed, (shape[0], prod(rest))^T.
        let (m, ka, out_a): (usize, usize, &[usize]) = if self.ta {
            let (r, c) = as_matrix(a, true);
            (c, r, if a.len() > 1 { &a[1..] } else { &[] })
        } else {
            let (r, c) = as_matrix(a, false);
            (r, c, if a.len() > 1 { &a[..a.len() - 1] } else { &[] })
        };
        let (kb, n, out_b): (usize, usize, &[usize]) = if self.tb {
            let (r, c) = as_matrix(b, false);
            (c, r, if b.len() > 1 { &b[..b.len() - 1] } else { &[] })
        } else {
            let (r, c) = as_matrix(b, true);
            (r, c, if b.len() > 1 { &b[1..] } else { &[] })
        };
        if ka != kb {
            return Err(Error::shape(
                "dot",
                format!(
                    "dot shape error: {} X {} (transpose_a={}, transpose_b={}): inner dimensions {ka} and {kb} differ",
                    fmt_shape(a),
                    fmt_shape(b),
                    self.ta,
                    self.tb
                ),
            ));
        }
        let mut out: Shape = out_a.to_vec();
        out.extend_from_slice(out_b);
        if out.is_empty() {
            out.push(1);
        }
        Ok((m, ka, n, out))
    }
}

impl Operator for Dot {
    fn name(&self) -> &str {
        "dot"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("dot", inputs.len(), 2)?;
        if inputs[0].is_empty() || inputs[1].is_empty() {
            return Err(Error::shape("dot", "0-d operands are not supported"));
        }
        Ok(vec![self.dims(&inputs[0], &inputs[1])?.3])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (m, k, n, _) = self.dims(x[0].shape, x[1].shape)?;
        let mut out = CpuStorage::zeros(dt[0], m * n);
        // Row-major left matrix is (m x k) or, transposed, stored as (k x m).
        let l = MatRef::row_major(x[0].offset, if self.ta { m } else { k }, self.ta);
        let r = MatRef::row_major(x[1].offset, if self.tb { k } else { n }, self.tb);
        matmul_into(&mut out, 0, x[0].data, l, x[1].data, r, m, n, k);
        Ok(vec![out])
    }
}

#[derive(Debug)]
struct BatchDot {
    ta: bool,
    tb: bool,
}

impl BatchDot {
    fn dims(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize, usize)> {
        if a.len() != 3 || b.len() != 3 || a[0] != b[0] {
            return Err(Error::shape(
                "batch_dot",
                format!(
                    "batch_dot needs two 3-D arrays with the same batch size, got {} and {}",
                    fmt_shape(a),
                    fmt_shape(b)
                ),
            ));
        }
        let (m, ka) = if self.ta { (a[2], a[1]) } else { (a[1], a[2]) };
        let (kb, n) = if self.tb { (b[2], b[1]) } else { (b[1], b[2]) };
        if ka != kb {
            return Err(Error::shape(
                "batch_dot",
                format!(
                    "batch_dot shape error: {} X {}: inner dimensions {ka} and {kb} differ",
                    fmt_shape(a),
                    fmt_shape(b)
                ),
            ));
        }
        Ok((a[0], m, ka, n))
    }
}

impl Operator for BatchDot {
    fn name(&self) -> &str {
        "batch_dot"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("batch_dot", inputs.len(), 2)?;
        let (bs, m, _, n) = self.dims(&inputs[0], &inputs[1])?;
        Ok(vec![vec![bs, m, n]])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (bs, m, k, n) = self.dims(x[0].shape, x[1].shape)?;
        let mut out = CpuStorage::zeros(dt[0], bs * m * n);
        for i in 0..bs {
            let l = MatRef::row_major(x[0].offset + i * m * k, if self.ta { m } else { k }, self.ta);
            let r = MatRef::row_major(x[1].offset + i * k * n, if self.tb { k } else { n }, self.tb);
            matmul_into(&mut out, i * m * n, x[0].data, l, x[1].data, r, m, n, k);
        }
        Ok(vec![out])
    }
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("transpose_a" = Some("False"), "transpose_b" = Some("False"));
    r.add("dot", &["lhs", "rhs"], p, "matrix product (N-D: last axis of lhs with first of rhs)", |a: &Attrs| {
        a.check_known("dot", &["transpose_a", "transpose_b", "forward_stype"])?;
        Ok(Box::new(Dot { ta: a.bool_or("dot", "transpose_a", false)?, tb: a.bool_or("dot", "transpose_b", false)? }))
    });
    r.add("batch_dot", &["lhs", "rhs"], p, "batched matrix product of 3-D arrays", |a: &Attrs| {
        a.check_known("batch_dot", &["transpose_a", "transpose_b", "forward_stype"])?;
        Ok(Box::new(BatchDot {
            ta: a.bool_or("batch_dot", "transpose_a", false)?,
            tb: a.bool_or("batch_dot", "transpose_b", false)?,
        }))
    });
}
