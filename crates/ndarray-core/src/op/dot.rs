//! `dot` (MXNet's N-D rule) and `batch_dot`.

use super::grad::{Grads, pick_attrs};
use super::registry::Registry;
use super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::cpu::matmul::{MatRef, matmul_batch_into, matmul_into};
use crate::backend::device::{self, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::DevIn;
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

/// Multiply-adds counted as one element of work by `work_elements`: a 128^3 product (about
/// 25 µs split over two cores) or 128 products of 32^3 then count as light and run on the
/// calling thread when their inputs are ready, which saves the hand-off to an engine worker
/// (8-10 µs on a 2-core VM) before the one to the kernel threads.
const MACS_PER_ELEMENT: usize = 256;

/// Products of at most this many multiply-adds (256^3 is 2^24) run on the calling thread while
/// that thread waits for each op it pushes (`mx.nd.dot(a, b).asnumpy()`, a loop that waits on
/// every product), though not light: the product splits over the kernel threads itself, so
/// the calling thread loses nothing, and it saves the worker's hand-off and the waiter's
/// wake-up. On a 2-vCPU EPYC, 256^3 products waited on one by one went from 142-178 to
/// 202-209 GFLOP/s. Bigger ones keep the workers: the calling thread holds the GIL while it
/// computes.
const WAITED_INLINE_MACS: usize = 1 << 25;

impl Operator for Dot {
    fn name(&self) -> &str {
        "dot"
    }
    fn work_elements(&self, inputs: &[Shape]) -> Option<usize> {
        let (m, k, n, _) = self.dims(inputs.first()?, inputs.get(1)?).ok()?;
        Some(m.saturating_mul(k).saturating_mul(n) / MACS_PER_ELEMENT)
    }
    fn inline_when_waited(&self, inputs: &[Shape]) -> bool {
        self.work_elements(inputs).is_some_and(|w| w.saturating_mul(MACS_PER_ELEMENT) <= WAITED_INLINE_MACS)
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("dot", inputs.len(), 2)?;
        if inputs[0].is_empty() || inputs[1].is_empty() {
            return Err(Error::shape("dot", "0-d operands are not supported"));
        }
        Ok(vec![self.dims(&inputs[0], &inputs[1])?.3])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (m, k, n, _) = self.dims(x[0].shape, x[1].shape)?;
        let mut out = crate::pool::alloc_storage(dt[0], m * n);
        // Row-major left matrix is (m x k) or, transposed, stored as (k x m).
        let l = MatRef::row_major(x[0].offset, if self.ta { m } else { k }, self.ta);
        let r = MatRef::row_major(x[1].offset, if self.tb { k } else { n }, self.tb);
        matmul_into(ctx.par, &mut out, 0, x[0].data, l, x[1].data, r, m, n, k);
        Ok(vec![out])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let (m, k, n, _) = self.dims(x[0].shape, x[1].shape)?;
        Ok(device::matmul(x[0], x[1], 1, m, n, k, self.ta, self.tb, false)?.map(|o| vec![o]))
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
    fn work_elements(&self, inputs: &[Shape]) -> Option<usize> {
        let (b, m, k, n) = self.dims(inputs.first()?, inputs.get(1)?).ok()?;
        Some(b.saturating_mul(m).saturating_mul(k).saturating_mul(n) / MACS_PER_ELEMENT)
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("batch_dot", inputs.len(), 2)?;
        let (bs, m, _, n) = self.dims(&inputs[0], &inputs[1])?;
        Ok(vec![vec![bs, m, n]])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (bs, m, k, n) = self.dims(x[0].shape, x[1].shape)?;
        let mut out = crate::pool::alloc_storage(dt[0], bs * m * n);
        matmul_batch_into(ctx.par, &mut out, 0, x[0].data, x[1].data, bs, m, n, k, |i| {
            let l = MatRef::row_major(x[0].offset + i * m * k, if self.ta { m } else { k }, self.ta);
            let r = MatRef::row_major(x[1].offset + i * k * n, if self.tb { k } else { n }, self.tb);
            (l, r)
        });
        Ok(vec![out])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let (bs, m, k, n) = self.dims(x[0].shape, x[1].shape)?;
        Ok(device::matmul(x[0], x[1], bs, m, n, k, self.ta, self.tb, false)?.map(|o| vec![o]))
    }
}

/// `_backward_dot(ograd, lhs, rhs)`: the gradients of both operands, two matrix products on the
/// 2-D views the forward op used.
///
/// Kept fused although its composition is as fast on matrices (0.757 ms fused vs 0.785 ms
/// composed on 256x256 . 256x256, examples/fused_backward.rs): for N-D operands the gradient
/// contracts over several axes of the output gradient, which `dot` can only do on 2-D views
/// whose split point depends on the operands' shapes, unknown when the gradient is built.
#[derive(Debug)]
struct DotBackward {
    ta: bool,
    tb: bool,
}

impl DotBackward {
    fn name_of(&self) -> &'static str {
        "_backward_dot"
    }
    /// (batch, m, k, n) and the forward output shape.
    fn dims(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize, usize, Shape)> {
        let (m, k, n, out) = Dot { ta: self.ta, tb: self.tb }.dims(a, b)?;
        Ok((1, m, k, n, out))
    }
}

impl Operator for DotBackward {
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        super::grad::shapes_of_inputs(self, &[1, 2], inputs, outputs)
    }
    fn name(&self) -> &str {
        self.name_of()
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name_of(), inputs.len(), 3)?;
        let out = self.dims(&inputs[1], &inputs[2])?.4;
        if size_of(&out) != size_of(&inputs[0]) {
            return Err(Error::shape(
                self.name_of(),
                format!("ograd {} does not match the product's shape {}", fmt_shape(&inputs[0]), fmt_shape(&out)),
            ));
        }
        Ok(vec![inputs[1].clone(), inputs[2].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = super::same_dtype(self.name_of(), inputs)?;
        Ok(vec![d, d])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (g, a, b) = (&x[0], &x[1], &x[2]);
        let (bs, m, k, n, _) = self.dims(a.shape, b.shape)?;
        let (ta, tb) = (self.ta, self.tb);
        let mut da = crate::pool::alloc_storage(dt[0], bs * m * k);
        let mut db = crate::pool::alloc_storage(dt[1], bs * k * n);
        // Stored A is (m x k), or (k x m) when transposed; stored B is (k x n) or (n x k).
        let a_ld = if ta { m } else { k };
        let b_ld = if tb { k } else { n };
        let (go, ao, bo) = (|i| g.offset + i * m * n, |i| a.offset + i * m * k, |i| b.offset + i * k * n);
        if ta {
            // dA^T (k x m) = op(B) (k x n) * G^T (n x m).
            matmul_batch_into(ctx.par, &mut da, 0, b.data, g.data, bs, k, m, n, |i| {
                (MatRef::row_major(bo(i), b_ld, tb), MatRef::row_major(go(i), n, true))
            });
        } else {
            // dA (m x k) = G (m x n) * op(B)^T (n x k).
            matmul_batch_into(ctx.par, &mut da, 0, g.data, b.data, bs, m, k, n, |i| {
                (MatRef::row_major(go(i), n, false), MatRef::row_major(bo(i), b_ld, !tb))
            });
        }
        if tb {
            // dB^T (n x k) = G^T (n x m) * op(A) (m x k).
            matmul_batch_into(ctx.par, &mut db, 0, g.data, a.data, bs, n, k, m, |i| {
                (MatRef::row_major(go(i), n, true), MatRef::row_major(ao(i), a_ld, ta))
            });
        } else {
            // dB (k x n) = op(A)^T (k x m) * G (m x n).
            matmul_batch_into(ctx.par, &mut db, 0, a.data, g.data, bs, k, n, m, |i| {
                (MatRef::row_major(ao(i), a_ld, !ta), MatRef::row_major(go(i), n, false))
            });
        }
        Ok(vec![da, db])
    }
}

fn grad_dot(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let outs = b.op("_backward_dot", &[g[0], x[0], x[1]], pick_attrs(a, &["transpose_a", "transpose_b"]))?;
    Ok(vec![Some(outs[0]), Some(outs[1])])
}

/// `batch_dot` of `lhs` and `rhs` with the given transposes.
fn batch_dot(b: &mut dyn GradBuilder, lhs: NodeEntry, rhs: NodeEntry, ta: bool, tb: bool) -> Result<NodeEntry> {
    let flag = |t: bool| if t { "True" } else { "False" };
    b.apply("batch_dot", &[lhs, rhs], Attrs::from_pairs([("transpose_a", flag(ta)), ("transpose_b", flag(tb))]))
}

/// `batch_dot`: per batch, `C = op(A) op(B)` gives `dA` and `dB` as two more batched products
/// (operands swapped where an operand is stored transposed). Composed rather than fused: the
/// composition ran faster than the former `_backward_batch_dot` (0.717 ms vs 0.874 ms on
/// 32x64x64 . 32x64x64, examples/fused_backward.rs).
fn grad_batch_dot(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let ta = a.bool_or("batch_dot", "transpose_a", false)?;
    let tb = a.bool_or("batch_dot", "transpose_b", false)?;
    let (lhs, rhs, g) = (x[0], x[1], g[0]);
    let (da, db) = match (ta, tb) {
        (false, false) => (batch_dot(b, g, rhs, false, true)?, batch_dot(b, lhs, g, true, false)?),
        (true, false) => (batch_dot(b, rhs, g, false, true)?, batch_dot(b, lhs, g, false, false)?),
        (false, true) => (batch_dot(b, g, rhs, false, false)?, batch_dot(b, g, lhs, true, false)?),
        (true, true) => (batch_dot(b, rhs, g, true, true)?, batch_dot(b, g, lhs, true, true)?),
    };
    Ok(vec![Some(da), Some(db)])
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
    let name = "_backward_dot";
    r.add(name, &["ograd", "lhs", "rhs"], p, "gradients of both operands of a matrix product", move |a: &Attrs| {
        a.check_known(name, &["transpose_a", "transpose_b"])?;
        Ok(Box::new(DotBackward {
            ta: a.bool_or(name, "transpose_a", false)?,
            tb: a.bool_or(name, "transpose_b", false)?,
        }))
    });
    r.set_gradient("dot", grad_dot);
    r.set_gradient("batch_dot", grad_batch_dot);
}

#[cfg(test)]
mod grad_tests {
    use crate::eager_grad::testing::{arr, check};

    #[test]
    fn dot_gradients() {
        let tf = |t: bool| if t { "True" } else { "False" };
        for ta in [false, true] {
            for tb in [false, true] {
                let a = if ta { [4, 3] } else { [3, 4] };
                let b = if tb { [5, 4] } else { [4, 5] };
                let at = [("transpose_a", tf(ta)), ("transpose_b", tf(tb))];
                check("dot", &at, &[arr(&a, 1), arr(&b, 2)], &[0, 1]);
                let a3 = if ta { [2, 4, 3] } else { [2, 3, 4] };
                let b3 = if tb { [2, 5, 4] } else { [2, 4, 5] };
                check("batch_dot", &at, &[arr(&a3, 3), arr(&b3, 4)], &[0, 1]);
            }
        }
        // N-D operands and vectors.
        check("dot", &[], &[arr(&[2, 3, 4], 5), arr(&[4, 5], 6)], &[0, 1]);
        check("dot", &[], &[arr(&[3, 4], 7), arr(&[4, 2, 3], 8)], &[0, 1]);
        check("dot", &[("transpose_a", "True")], &[arr(&[4, 2, 3], 9), arr(&[4, 5], 10)], &[0, 1]);
        check("dot", &[("transpose_b", "True")], &[arr(&[2, 4], 11), arr(&[5, 2, 4], 12)], &[0, 1]);
        check("dot", &[], &[arr(&[4], 13), arr(&[4], 14)], &[0, 1]);
        check("dot", &[], &[arr(&[4], 15), arr(&[4, 3], 16)], &[0, 1]);
        check("dot", &[], &[arr(&[3, 4], 17), arr(&[4], 18)], &[0, 1]);
    }
}

#[cfg(test)]
mod work_tests {
    use super::{BatchDot, Dot};
    use crate::ndarray::LIGHT_OP_ELEMENTS;
    use crate::op::Operator;

    /// Products count their multiply-adds as work: up to 128^3 (or 128 products of 32^3) they
    /// are light and run on the calling thread; 256^3 and up go to the engine's workers.
    #[test]
    fn products_count_their_multiply_adds_as_work() {
        let dot = Dot { ta: false, tb: true };
        let w = |op: &dyn Operator, a: &[usize], b: &[usize]| op.work_elements(&[a.to_vec(), b.to_vec()]).unwrap();
        assert_eq!(w(&dot, &[128, 128], &[128, 128]), 128 * 128 * 128 / 256);
        assert!(w(&dot, &[128, 128], &[128, 128]) <= LIGHT_OP_ELEMENTS);
        assert!(w(&dot, &[256, 256], &[256, 256]) > LIGHT_OP_ELEMENTS);
        // transpose_b: (64 x 300) times (300 x 10) stored as (10 x 300).
        assert_eq!(w(&dot, &[64, 300], &[10, 300]), 64 * 300 * 10 / 256);
        let bd = BatchDot { ta: false, tb: false };
        assert!(w(&bd, &[128, 32, 32], &[128, 32, 32]) <= LIGHT_OP_ELEMENTS);
        assert!(w(&bd, &[128, 64, 64], &[128, 64, 64]) > LIGHT_OP_ELEMENTS);
        // Shapes the op rejects leave the choice to the element count.
        assert_eq!(dot.work_elements(&[vec![3, 4], vec![3, 5]]), None);
        // A caller that waits for each product runs up to about 322^3 itself.
        let waited = |a: &[usize], b: &[usize]| dot.inline_when_waited(&[a.to_vec(), b.to_vec()]);
        assert!(waited(&[256, 256], &[256, 256]));
        assert!(waited(&[256, 512], &[256, 512]));
        assert!(!waited(&[512, 512], &[512, 512]));
        assert!(!waited(&[3, 4], &[3, 5]));
    }
}
