//! Small contrib ops: `arange_like`, `index_copy`, `index_array`, `quadratic`,
//! `gradientmultiplier` and `allclose`.

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry};
use super::{In, Kernel, add, shape_err};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, norm_axis};

/// Numeric dtype check shared by the ops that accept integers too.
fn any_dtype(op: &str, x: &[DType]) -> Result<DType> {
    super::super::same_dtype(op, x)
}

/// `arange_like(data)`: `start + (i / repeat) * step` over data's shape, or along one axis.
#[derive(Debug)]
struct ArangeLike {
    start: f64,
    step: f64,
    repeat: usize,
    axis: Option<i64>,
}

const ARANGE: &str = "_contrib_arange_like";

impl Kernel for ArangeLike {
    fn name(&self) -> &'static str {
        ARANGE
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![match self.axis {
            None => x[0].clone(),
            Some(a) => vec![x[0][norm_axis(ARANGE, a, x[0].len())?]],
        }])
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![x[0]])
    }
    fn run(&self, _: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let n: usize = out[0].iter().product();
        Ok(vec![(0..n).map(|i| self.start + (i / self.repeat) as f64 * self.step).collect()])
    }
}

const INDEX_COPY: &str = "_contrib_index_copy";

/// `index_copy(old, index, new)`: old with rows `index[i]` replaced by `new[i]`.
#[derive(Debug)]
struct IndexCopy;

impl Kernel for IndexCopy {
    fn name(&self) -> &'static str {
        INDEX_COPY
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (old, idx, new) = (&x[0], &x[1], &x[2]);
        let ok =
            idx.len() == 1 && !old.is_empty() && old.len() == new.len() && new[0] == idx[0] && old[1..] == new[1..];
        if !ok {
            let what =
                "index_vector must be 1-D, new_tensor must have index_vector's length and old_tensor's row shape";
            return Err(shape_err(
                INDEX_COPY,
                what,
                &[("old_tensor", old), ("index_vector", idx), ("new_tensor", new)],
            ));
        }
        Ok(vec![old.clone()])
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        if x[0] != x[2] {
            return Err(Error::dtype(
                INDEX_COPY,
                x[2],
                format!("new_tensor's dtype {} differs from old_tensor's {}", x[2], x[0]),
            ));
        }
        Ok(vec![x[0]])
    }
    fn dtype_source(&self) -> Option<usize> {
        Some(0)
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (old, idx, new) = (&x[0], &x[1].v, &x[2].v);
        let rows = old.s[0];
        let w: usize = old.s[1..].iter().product();
        let mut out = old.v.clone();
        for (i, &r) in idx.iter().enumerate() {
            if r < 0.0 || r as usize >= rows {
                return Err(Error::msg(format!("{INDEX_COPY}: index {r} is out of range for {rows} rows")));
            }
            let r = r as usize;
            out[r * w..(r + 1) * w].copy_from_slice(&new[i * w..(i + 1) * w]);
        }
        Ok(vec![out])
    }
}

/// old: the output gradient with the replaced rows zeroed; new: the replaced rows' gradient.
fn grad_index_copy(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let z = b.unary("zeros_like", x[2])?;
    let d_old = b.apply(INDEX_COPY, &[g[0], x[1], z], Attrs::default())?;
    let d_new = b.apply("take", &[g[0], x[1]], Attrs::from_pairs([("axis", "0"), ("mode", "clip")]))?;
    Ok(vec![Some(d_old), Some(b.unary("zeros_like", x[1])?), Some(d_new)])
}

const INDEX_ARRAY: &str = "_contrib_index_array";

/// `index_array(data)`: each element's index (along `axes`), as int64.
#[derive(Debug)]
struct IndexArray {
    axes: Option<Vec<i64>>,
}

impl IndexArray {
    fn axes(&self, nd: usize) -> Result<Vec<usize>> {
        match &self.axes {
            None => Ok((0..nd).collect()),
            Some(a) => a.iter().map(|&x| norm_axis(INDEX_ARRAY, x, nd)).collect(),
        }
    }
}

impl Kernel for IndexArray {
    fn name(&self) -> &'static str {
        INDEX_ARRAY
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let axes = self.axes(x[0].len())?;
        Ok(vec![x[0].iter().copied().chain([axes.len()]).collect()])
    }
    fn dtypes(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![DType::I64])
    }
    fn dtype_source(&self) -> Option<usize> {
        Some(0)
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let s = x[0].s;
        let axes = self.axes(s.len())?;
        let strides = crate::shape::strides_of(s);
        let n: usize = s.iter().product();
        let mut out = Vec::with_capacity(n * axes.len());
        for i in 0..n {
            out.extend(axes.iter().map(|&a| ((i / strides[a]) % s[a]) as f64));
        }
        Ok(vec![out])
    }
}

const QUADRATIC: &str = "_contrib_quadratic";

/// `quadratic(data)`: `a * x^2 + b * x + c`.
#[derive(Debug)]
struct Quadratic {
    a: f64,
    b: f64,
    c: f64,
}

impl Kernel for Quadratic {
    fn name(&self) -> &'static str {
        QUADRATIC
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![x[0].clone()])
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![any_dtype(QUADRATIC, x)?])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        Ok(vec![x[0].v.iter().map(|&v| self.a * v * v + self.b * v + self.c).collect()])
    }
}

/// `g * (2 a x + b)`, the derivative as a quadratic with `a = 0`.
fn grad_quadratic(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let qa = a.float_or(QUADRATIC, "a", 0.0)?;
    let qb = a.float_or(QUADRATIC, "b", 0.0)?;
    let attrs = Attrs::from_pairs([("a", "0".to_string()), ("b", format!("{:?}", 2.0 * qa)), ("c", format!("{qb:?}"))]);
    let d = b.apply(QUADRATIC, &[x[0]], attrs)?;
    Ok(vec![Some(b.mul(g[0], d)?)])
}

const GRADMUL: &str = "_contrib_gradientmultiplier";

/// `gradientmultiplier(data)`: the identity, whose gradient is scaled by `scalar`.
#[derive(Debug)]
struct GradientMultiplier;

impl Kernel for GradientMultiplier {
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
        Ok(vec![x[0].v.clone()])
    }
}

fn grad_gradmul(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let s = a.float_or(GRADMUL, "scalar", 1.0)?;
    Ok(vec![Some(b.scalar_op("_mul_scalar", g[0], s)?)])
}

const ALLCLOSE: &str = "_contrib_allclose";

/// `allclose(a, b)`: 1 (uint8, shape `()`) when `|a - b| <= atol + rtol * |b|` everywhere.
#[derive(Debug)]
struct AllClose {
    rtol: f64,
    atol: f64,
    equal_nan: bool,
}

impl Kernel for AllClose {
    fn name(&self) -> &'static str {
        ALLCLOSE
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if x[0] != x[1] {
            return Err(shape_err(ALLCLOSE, "a and b must have the same shape", &[("a", &x[0]), ("b", &x[1])]));
        }
        Ok(vec![vec![]])
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        any_dtype(ALLCLOSE, x)?;
        Ok(vec![DType::U8])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let close = x[0].v.iter().zip(&x[1].v).all(|(&a, &b)| {
            if a.is_nan() || b.is_nan() {
                self.equal_nan && a.is_nan() && b.is_nan()
            } else {
                a == b || (a - b).abs() <= self.atol + self.rtol * b.abs()
            }
        });
        Ok(vec![vec![f64::from(u8::from(close))]])
    }
}

fn zero_grads(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    b.zeros_like_each(x)
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("start" = Some("0"), "step" = Some("1"), "repeat" = Some("1"), "axis" = Some("None"));
    // `ctx` is accepted as MXNet's attribute but not listed: the generated `mx.nd` functions
    // take `ctx` themselves.
    add(r, ARANGE, &["data"], p, "evenly spaced values shaped like data (or one of its axes)", |a| {
        a.check_known(ARANGE, &["start", "step", "repeat", "ctx", "axis"])?;
        let repeat = a.int_or(ARANGE, "repeat", 1)?;
        if repeat < 1 {
            return Err(Error::param(ARANGE, format!("repeat must be positive, got {repeat}")));
        }
        Ok(ArangeLike {
            start: a.float_or(ARANGE, "start", 0.0)?,
            step: a.float_or(ARANGE, "step", 1.0)?,
            repeat: repeat as usize,
            axis: a.opt_int(ARANGE, "axis")?,
        })
    });
    r.set_gradient(ARANGE, zero_grads);
    let doc = "old_tensor with the rows named by index_vector replaced by new_tensor's rows";
    add(r, INDEX_COPY, &["old_tensor", "index_vector", "new_tensor"], params!(), doc, |a| {
        a.check_known(INDEX_COPY, &[])?;
        Ok(IndexCopy)
    });
    r.set_gradient(INDEX_COPY, grad_index_copy);
    add(r, INDEX_ARRAY, &["data"], params!("axes" = Some("None")), "the index of every element of data", |a| {
        a.check_known(INDEX_ARRAY, &["axes"])?;
        Ok(IndexArray { axes: a.opt_tuple(INDEX_ARRAY, "axes")? })
    });
    r.set_gradient(INDEX_ARRAY, zero_grads);
    let p = params!("a" = Some("0"), "b" = Some("0"), "c" = Some("0"));
    add(r, QUADRATIC, &["data"], p, "a * data^2 + b * data + c", |a| {
        a.check_known(QUADRATIC, &["a", "b", "c"])?;
        let f = |k| a.float_or(QUADRATIC, k, 0.0);
        Ok(Quadratic { a: f("a")?, b: f("b")?, c: f("c")? })
    });
    r.set_gradient(QUADRATIC, grad_quadratic);
    let p = params!("scalar" = Some("1"), "is_int" = Some("True"));
    add(r, GRADMUL, &["data"], p, "the identity, with its gradient multiplied by scalar", |a| {
        a.check_known(GRADMUL, &["scalar", "is_int"])?;
        a.float_or(GRADMUL, "scalar", 1.0)?;
        a.bool_or(GRADMUL, "is_int", true)?;
        Ok(GradientMultiplier)
    });
    r.set_gradient(GRADMUL, grad_gradmul);
    let p = params!("rtol" = Some("1e-05"), "atol" = Some("1e-08"), "equal_nan" = Some("True"));
    add(r, ALLCLOSE, &["a", "b"], p, "1 when a and b are elementwise equal within a tolerance, else 0", |a| {
        a.check_known(ALLCLOSE, &["rtol", "atol", "equal_nan"])?;
        Ok(AllClose {
            rtol: a.float_or(ALLCLOSE, "rtol", 1e-5)?,
            atol: a.float_or(ALLCLOSE, "atol", 1e-8)?,
            equal_nan: a.bool_or(ALLCLOSE, "equal_nan", true)?,
        })
    });
    r.set_gradient(ALLCLOSE, zero_grads);
}
