//! The gradient ops MXNet 1.9.1 exposes as `mx.nd.contrib.backward_*`:
//! `_contrib_backward_quadratic(out_grad, data)` (`out_grad * (2 a data + b)`),
//! `_contrib_backward_gradientmultiplier(data)` (`scalar * data`) and
//! `_contrib_backward_index_copy(out_grad, old_tensor, index_vector, new_tensor)` (the
//! gradients of old_tensor (out_grad with the copied rows zeroed), of index_vector (zeros) and
//! of new_tensor (out_grad's copied rows)). Their inputs are MXNet's: the output gradient, then
//! the forward op's inputs (`ElemwiseGradUseIn`); `backward_gradientmultiplier` takes only the
//! output gradient. MXNet registers the first and last without argument names, so its Python
//! wrappers cannot pass them arrays; here they take them positionally.

use super::super::registry::Registry;
use super::{In, Kernel, add, shape_err};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const QUAD: &str = "_contrib_backward_quadratic";
const GRADMUL: &str = "_contrib_backward_gradientmultiplier";
const INDEX_COPY: &str = "_contrib_backward_index_copy";

/// `out_grad * (2 a x + b)`.
#[derive(Debug)]
struct QuadBack {
    a: f64,
    b: f64,
}

impl Kernel for QuadBack {
    fn name(&self) -> &'static str {
        QUAD
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if x[0] != x[1] {
            return Err(shape_err(
                QUAD,
                "out_grad and data must have one shape",
                &[("out_grad", &x[0]), ("data", &x[1])],
            ));
        }
        Ok(vec![x[1].clone()])
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![super::super::same_dtype(QUAD, x)?])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        Ok(vec![x[0].v.iter().zip(&x[1].v).map(|(&g, &v)| g * (2.0 * self.a * v + self.b)).collect()])
    }
}

/// `scalar * data`.
#[derive(Debug)]
struct GradMulBack {
    scalar: f64,
}

impl Kernel for GradMulBack {
    fn name(&self) -> &'static str {
        GRADMUL
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![x[0].clone()])
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![x[0]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        Ok(vec![x[0].v.iter().map(|&g| self.scalar * g).collect()])
    }
}

/// The three gradients of `index_copy`.
#[derive(Debug)]
struct IndexCopyBack;

impl Kernel for IndexCopyBack {
    fn name(&self) -> &'static str {
        INDEX_COPY
    }
    fn num_outputs(&self) -> usize {
        3
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (g, old, idx, new) = (&x[0], &x[1], &x[2], &x[3]);
        let ok = g == old
            && idx.len() == 1
            && !old.is_empty()
            && old.len() == new.len()
            && new[0] == idx[0]
            && old[1..] == new[1..];
        if !ok {
            let what = "out_grad must have old_tensor's shape, index_vector be 1-D and new_tensor (len(index_vector), *old_tensor.shape[1:])";
            let named = [
                ("out_grad", g.as_slice()),
                ("old_tensor", old.as_slice()),
                ("index_vector", idx.as_slice()),
                ("new_tensor", new.as_slice()),
            ];
            return Err(shape_err(INDEX_COPY, what, &named));
        }
        Ok(vec![old.clone(), idx.clone(), new.clone()])
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        if x[0] != x[1] || x[0] != x[3] {
            return Err(Error::dtype(
                INDEX_COPY,
                x[0],
                format!("out_grad ({}), old_tensor ({}) and new_tensor ({}) must share a dtype", x[0], x[1], x[3]),
            ));
        }
        Ok(vec![x[0], x[2], x[0]])
    }
    fn dtype_source(&self) -> Option<usize> {
        Some(0)
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (g, idx) = (&x[0].v, &x[2].v);
        let rows = out[0][0];
        let w: usize = out[0][1..].iter().product();
        let mut d_old = g.clone();
        let mut d_new = vec![0.0; idx.len() * w];
        for (i, &r) in idx.iter().enumerate() {
            if r < 0.0 || r as usize >= rows {
                return Err(Error::msg(format!("{INDEX_COPY}: index {r} is out of range for {rows} rows")));
            }
            let r = r as usize;
            d_new[i * w..(i + 1) * w].copy_from_slice(&g[r * w..(r + 1) * w]);
        }
        for &r in idx {
            d_old[r as usize * w..(r as usize + 1) * w].fill(0.0);
        }
        Ok(vec![d_old, vec![0.0; idx.len()], d_new])
    }
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("a" = Some("0"), "b" = Some("0"), "c" = Some("0"));
    add(r, QUAD, &["out_grad", "data"], p, "the gradient of quadratic: out_grad * (2 a data + b)", |a| {
        a.check_known(QUAD, &["a", "b", "c"])?;
        Ok(QuadBack { a: a.float_or(QUAD, "a", 0.0)?, b: a.float_or(QUAD, "b", 0.0)? })
    });
    let p = params!("scalar" = Some("1"), "is_int" = Some("True"));
    add(r, GRADMUL, &["data"], p, "the gradient of gradientmultiplier: scalar * data", |a| {
        a.check_known(GRADMUL, &["scalar", "is_int"])?;
        a.bool_or(GRADMUL, "is_int", true)?;
        Ok(GradMulBack { scalar: a.float_or(GRADMUL, "scalar", 1.0)? })
    });
    let ins = &["out_grad", "old_tensor", "index_vector", "new_tensor"];
    let doc = "the gradients of index_copy's old_tensor, index_vector (zeros) and new_tensor";
    add(r, INDEX_COPY, ins, params!(), doc, |a| {
        a.check_known(INDEX_COPY, &[])?;
        Ok(IndexCopyBack)
    });
}
