//! Elementwise functions added for MXNet 1.9.1 parity: `hard_sigmoid`, `smooth_l1`, `erfinv`,
//! `arcsinh`, `arccosh`, `arctanh`, `rcbrt`; `L2Normalization`; and the array statistics
//! `moments`, `shape_array`, `size_array`.
//!
//! The math functions' gradients are compositions of registered ops. `hard_sigmoid` and
//! `smooth_l1` are piecewise: their gradients go through `_backward_hard_sigmoid` and
//! `_backward_smooth_l1` (as in MXNet), one pass where a composition would need comparisons,
//! selections and products.

use super::grad::{Grads, pick_attrs};
use super::registry::Registry;
use super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs, same_shape_unary};
use crate::backend::cpu::elemwise::{erf, map};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::{Shape, norm_axis};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

/// `erfinv` in float64: a rational first guess refined by Newton steps on `erf`.
fn erfinv(y: f64) -> f64 {
    if !(-1.0..=1.0).contains(&y) {
        return f64::NAN;
    }
    if y.abs() == 1.0 {
        return y * f64::INFINITY;
    }
    // Giles' approximation, then Newton: x -= (erf(x) - y) / (2/sqrt(pi) exp(-x^2)).
    let w = -((1.0 - y) * (1.0 + y)).ln();
    let mut x = if w < 5.0 {
        let w = w - 2.5;
        let p = [
            2.81022636e-08,
            3.43273939e-07,
            -3.5233877e-06,
            -4.39150654e-06,
            0.00021858087,
            -0.00125372503,
            -0.00417768164,
            0.246640727,
            1.50140941,
        ];
        p.iter().fold(0.0, |acc, &c| acc * w + c) * y
    } else {
        let w = w.sqrt() - 3.0;
        let p = [
            -0.000200214257,
            0.000100950558,
            0.00134934322,
            -0.00367342844,
            0.00573950773,
            -0.0076224613,
            0.00943887047,
            1.00167406,
            2.83297682,
        ];
        p.iter().fold(0.0, |acc, &c| acc * w + c) * y
    };
    for _ in 0..3 {
        let d = 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp();
        if d == 0.0 {
            break;
        }
        x -= (erf(x) - y) / d;
    }
    x
}

/// A pointwise function `f(x; params)` and, for the fused-gradient ones, its derivative.
#[derive(Clone, Copy, Debug)]
enum Fun {
    HardSigmoid { alpha: f64, beta: f64 },
    SmoothL1 { s2: f64 },
    Erfinv,
    Arcsinh,
    Arccosh,
    Arctanh,
    Rcbrt,
}

impl Fun {
    #[inline(always)]
    fn f(self, x: f64) -> f64 {
        match self {
            Fun::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Fun::SmoothL1 { s2 } => {
                if x.abs() < 1.0 / s2 {
                    0.5 * s2 * x * x
                } else {
                    x.abs() - 0.5 / s2
                }
            }
            Fun::Erfinv => erfinv(x),
            Fun::Arcsinh => x.asinh(),
            Fun::Arccosh => x.acosh(),
            Fun::Arctanh => x.atanh(),
            Fun::Rcbrt => 1.0 / x.cbrt(),
        }
    }
    /// The derivative, for the fused gradients.
    #[inline(always)]
    fn df(self, x: f64) -> f64 {
        match self {
            Fun::HardSigmoid { alpha, beta } => {
                let y = alpha * x + beta;
                if y > 0.0 && y < 1.0 { alpha } else { 0.0 }
            }
            Fun::SmoothL1 { s2 } => {
                if x.abs() < 1.0 / s2 {
                    s2 * x
                } else {
                    x.signum()
                }
            }
            _ => f64::NAN,
        }
    }
}

/// `$body` with `$g` bound to the closure `|x| fun.$m(x)` (`f` or `df`) that captures only
/// `fun`'s fields and rebuilds the variant inside: a constant variant, so that `Fun::f` and
/// `Fun::df` fold to one function and its loop vectorises, instead of matching per element
/// (`smooth_l1` on 10^5 float32 took 150-300 µs).
macro_rules! by_fun {
    ($fun:expr, $m:ident, $g:ident => $body:expr) => {
        match $fun {
            Fun::HardSigmoid { alpha, beta } => {
                let $g = move |x: f64| Fun::HardSigmoid { alpha, beta }.$m(x);
                $body
            }
            Fun::SmoothL1 { s2 } => {
                let $g = move |x: f64| Fun::SmoothL1 { s2 }.$m(x);
                $body
            }
            Fun::Erfinv => {
                let $g = move |x: f64| Fun::Erfinv.$m(x);
                $body
            }
            Fun::Arcsinh => {
                let $g = move |x: f64| Fun::Arcsinh.$m(x);
                $body
            }
            Fun::Arccosh => {
                let $g = move |x: f64| Fun::Arccosh.$m(x);
                $body
            }
            Fun::Arctanh => {
                let $g = move |x: f64| Fun::Arctanh.$m(x);
                $body
            }
            Fun::Rcbrt => {
                let $g = move |x: f64| Fun::Rcbrt.$m(x);
                $body
            }
        }
    };
}

fn parse(name: &'static str, a: &Attrs) -> Result<Fun> {
    let base = name.trim_start_matches("_backward_");
    Ok(match base {
        "hard_sigmoid" => {
            a.check_known(name, &["alpha", "beta"])?;
            Fun::HardSigmoid { alpha: a.float_or(name, "alpha", 0.2)?, beta: a.float_or(name, "beta", 0.5)? }
        }
        "smooth_l1" => {
            a.check_known(name, &["scalar"])?;
            let s = a.float_or(name, "scalar", 1.0)?;
            Fun::SmoothL1 { s2: s * s }
        }
        other => {
            a.check_known(name, &[])?;
            match other {
                "erfinv" => Fun::Erfinv,
                "arcsinh" => Fun::Arcsinh,
                "arccosh" => Fun::Arccosh,
                "arctanh" => Fun::Arctanh,
                _ => Fun::Rcbrt,
            }
        }
    })
}

fn float_in(op: &str, d: DType) -> Result<DType> {
    if d.is_float() { Ok(d) } else { Err(Error::dtype(op, d, format!("{op} needs a floating-point input, got {d}"))) }
}

#[derive(Debug)]
struct Pointwise {
    name: &'static str,
    fun: Fun,
    backward: bool,
}

impl Operator for Pointwise {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        if self.backward {
            expect_inputs(self.name, inputs.len(), 2)?;
            return Ok(vec![inputs[1].clone()]);
        }
        same_shape_unary(self.name, inputs)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![float_in(self.name, super::same_dtype(self.name, inputs)?)?])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let par = ctx.par;
        dispatch!(float self.name, dt[0] => T, {
            let out: Vec<T> = if self.backward {
                let (g, v) = (x[0].typed::<T>(), x[1].typed::<T>());
                by_fun!(self.fun, df, df => {
                    g.iter().zip(v).map(|(&g, &v)| T::from_f64(g.to_f64() * df(v.to_f64()))).collect()
                })
            } else {
                by_fun!(self.fun, f, f => map(par, x[0].typed::<T>(), move |v: T| T::from_f64(f(v.to_f64()))))
            };
            Ok(vec![T::wrap(out)])
        })
    }
}

/// `g * f'(x)` through `_backward_hard_sigmoid` / `_backward_smooth_l1`.
fn grad_fused(b: &mut dyn GradBuilder, back: &str, a: &Attrs, x: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply(back, &[g[0], x[0]], a.clone())?)])
}

fn grad_hard_sigmoid(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    grad_fused(b, "_backward_hard_sigmoid", a, x, g)
}

fn grad_smooth_l1(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    grad_fused(b, "_backward_smooth_l1", a, x, g)
}

/// erfinv: `g * sqrt(pi) / 2 * exp(y^2)`.
fn grad_erfinv(b: &mut dyn GradBuilder, _: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let s = b.unary("square", y[0])?;
    let e = b.unary("exp", s)?;
    let e = b.scalar_op("_mul_scalar", e, std::f64::consts::PI.sqrt() / 2.0)?;
    Ok(vec![Some(b.mul(g[0], e)?)])
}

/// arcsinh: `g / sqrt(x^2 + 1)`; arccosh: `g / sqrt(x^2 - 1)`.
fn hyperbolic(b: &mut dyn GradBuilder, x: NodeEntry, g: NodeEntry, shift: &str) -> Grads {
    let s = b.unary("square", x)?;
    let s = b.scalar_op(shift, s, 1.0)?;
    let r = b.unary("rsqrt", s)?;
    Ok(vec![Some(b.mul(g, r)?)])
}

fn grad_arcsinh(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    hyperbolic(b, x[0], g[0], "_plus_scalar")
}

fn grad_arccosh(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    hyperbolic(b, x[0], g[0], "_minus_scalar")
}

/// arctanh: `g / (1 - x^2)`.
fn grad_arctanh(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let s = b.unary("square", x[0])?;
    let s = b.scalar_op("_rminus_scalar", s, 1.0)?;
    Ok(vec![Some(b.div(g[0], s)?)])
}

/// rcbrt: `-g * y / (3 x)`.
fn grad_rcbrt(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let q = b.div(y[0], x[0])?;
    let q = b.scalar_op("_mul_scalar", q, -1.0 / 3.0)?;
    Ok(vec![Some(b.mul(g[0], q)?)])
}

/// `moments(data, axes, keepdims)`: mean and (biased) variance over `axes` (all when absent).
#[derive(Debug)]
struct Moments {
    axes: Option<Vec<i64>>,
    keepdims: bool,
}

impl Moments {
    fn flags(&self, nd: usize) -> Result<Vec<bool>> {
        let mut f = vec![self.axes.is_none(); nd];
        for &a in self.axes.iter().flatten() {
            f[norm_axis("moments", a, nd)?] = true;
        }
        Ok(f)
    }
    fn out_shape(&self, s: &[usize]) -> Result<Shape> {
        let f = self.flags(s.len())?;
        let out: Shape = s
            .iter()
            .zip(&f)
            .filter_map(|(&d, &r)| match (r, self.keepdims) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        // As MXNet's (non-NumPy) arrays, a full reduction is (1,), not a scalar.
        Ok(if out.is_empty() { vec![1] } else { out })
    }
}

impl Operator for Moments {
    fn name(&self) -> &str {
        "moments"
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("moments", inputs.len(), 1)?;
        let o = self.out_shape(&inputs[0])?;
        Ok(vec![o.clone(), o])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = float_in("moments", inputs[0])?;
        Ok(vec![d, d])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let s = x[0].shape;
        let idx = reduced_index(s, &self.flags(s.len())?);
        let n_out: usize = out[0].iter().product();
        let count = (x[0].len() / n_out.max(1)).max(1) as f64;
        dispatch!(float "moments", dt[0] => T, {
            let v = x[0].typed::<T>();
            let mut mean = vec![0f64; n_out];
            for (&i, &a) in idx.iter().zip(v) {
                mean[i] += a.to_f64();
            }
            mean.iter_mut().for_each(|m| *m /= count);
            let mut var = vec![0f64; n_out];
            for (&i, &a) in idx.iter().zip(v) {
                var[i] += (a.to_f64() - mean[i]).powi(2);
            }
            let wrap = |w: Vec<f64>| T::wrap(w.into_iter().map(T::from_f64).collect());
            Ok(vec![wrap(mean), wrap(var.into_iter().map(|z| z / count).collect())])
        })
    }
}

/// moments: `broadcast(g_mean) / n + broadcast(g_var) * 2 (x - mean) / n`.
fn grad_moments(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let mut at = pick_attrs(a, &["keepdims"]);
    if let Some(axes) = a.raw("axes") {
        at.set("axis", axes);
    }
    let mut at_mean = at.clone();
    at_mean.set("mean", "True");
    let gm = b.apply("_broadcast_reduced_like", &[g[0], x[0]], at_mean.clone())?;
    let m = b.apply("_broadcast_reduced_like", &[y[0], x[0]], at)?;
    let d = b.binary("elemwise_sub", x[0], m)?;
    let gv = b.apply("_broadcast_reduced_like", &[g[1], x[0]], at_mean)?;
    let t = b.mul(d, gv)?;
    let t = b.scalar_op("_mul_scalar", t, 2.0)?;
    Ok(vec![Some(b.binary("elemwise_add", gm, t)?)])
}

/// For every element of an array of shape `s`, the flat index of its slot after reducing the
/// axes flagged in `flags`.
fn reduced_index(s: &[usize], flags: &[bool]) -> Vec<usize> {
    let kept: Vec<usize> = s.iter().zip(flags).map(|(&d, &r)| if r { 1 } else { d }).collect();
    let ks = crate::shape::strides_of(&kept);
    let mut idx = vec![0usize; s.iter().product()];
    let mut coord = vec![0usize; s.len()];
    for slot in idx.iter_mut() {
        *slot = coord.iter().zip(&ks).zip(flags).map(|((&c, &k), &r)| if r { 0 } else { c * k }).sum();
        for d in (0..s.len()).rev() {
            coord[d] += 1;
            if coord[d] < s[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    idx
}

/// `L2Normalization(data, eps, mode)`: `x / sqrt(sum(x^2) + eps)` over every axis but the
/// first (`instance`), over axis 1 (`channel`) or over the axes after the first two
/// (`spatial`). A hidden output keeps the norm (reduced axes of size 1) for the gradient.
#[derive(Debug)]
struct L2Norm {
    eps: f64,
    /// instance, channel or spatial.
    mode: &'static str,
}

impl L2Norm {
    fn flags(&self, nd: usize) -> Result<Vec<bool>> {
        let min = if self.mode == "spatial" { 3 } else { 2 };
        if nd < min {
            return Err(Error::shape("L2Normalization", format!("{} mode needs at least {min} dimensions", self.mode)));
        }
        Ok((0..nd)
            .map(|d| match self.mode {
                "instance" => d >= 1,
                "channel" => d == 1,
                _ => d >= 2,
            })
            .collect())
    }
    /// The axes of the gradient's sums (`exclude` when true).
    fn sum_attrs(&self) -> Attrs {
        let (axis, exclude) = match self.mode {
            "instance" => ("(0,)", "True"),
            "channel" => ("(1,)", "False"),
            _ => ("(0, 1)", "True"),
        };
        Attrs::from_pairs([("axis", axis), ("exclude", exclude), ("keepdims", "True")])
    }
}

impl Operator for L2Norm {
    fn name(&self) -> &str {
        "L2Normalization"
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn num_visible_outputs(&self) -> usize {
        1
    }
    fn output_names(&self) -> Vec<String> {
        vec!["output".into(), "norm".into()]
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("L2Normalization", inputs.len(), 1)?;
        let f = self.flags(inputs[0].len())?;
        let kept: Shape = inputs[0].iter().zip(&f).map(|(&d, &r)| if r { 1 } else { d }).collect();
        Ok(vec![inputs[0].clone(), kept])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = float_in("L2Normalization", inputs[0])?;
        Ok(vec![d, d])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let s = x[0].shape;
        let idx = reduced_index(s, &self.flags(s.len())?);
        let n_out: usize = out[1].iter().product();
        dispatch!(float "L2Normalization", dt[0] => T, {
            let v = x[0].typed::<T>();
            let mut norm = vec![0f64; n_out];
            for (&i, &a) in idx.iter().zip(v) {
                norm[i] += a.to_f64() * a.to_f64();
            }
            norm.iter_mut().for_each(|n| *n = (*n + self.eps).sqrt());
            let y: Vec<T> = idx.iter().zip(v).map(|(&i, &a)| T::from_f64(a.to_f64() / norm[i])).collect();
            Ok(vec![T::wrap(y), T::wrap(norm.into_iter().map(T::from_f64).collect())])
        })
    }
}

/// L2Normalization: `(g - y * sum(g * y)) / norm`, the sum over the normalised axes.
fn grad_l2norm(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let op = l2norm(a)?;
    let gy = b.mul(g[0], y[0])?;
    let s = b.apply("sum", &[gy], op.sum_attrs())?;
    let t = b.binary("broadcast_mul", y[0], s)?;
    let d = b.binary("elemwise_sub", g[0], t)?;
    Ok(vec![Some(b.binary("broadcast_div", d, y[1])?)])
}

fn l2norm(a: &Attrs) -> Result<L2Norm> {
    a.check_known("L2Normalization", &["eps", "mode"])?;
    let mode = match a.str_or("mode", "instance") {
        "instance" => "instance",
        "channel" => "channel",
        "spatial" => "spatial",
        m => {
            return Err(Error::param(
                "L2Normalization",
                format!("mode must be instance, channel or spatial, got '{m}'"),
            ));
        }
    };
    Ok(L2Norm { eps: a.float_or("L2Normalization", "eps", 1e-10)?, mode })
}

/// `shape_array` / `size_array`: the shape or the size as an int64 array.
#[derive(Debug)]
struct ShapeArray {
    name: &'static str,
    size: bool,
}

impl Operator for ShapeArray {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 1)?;
        Ok(vec![vec![if self.size { 1 } else { inputs[0].len() }]])
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![DType::I64])
    }
    fn infer_dtype_partial(&self, _: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        outputs[0] = Some(DType::I64);
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let s = x[0].shape;
        let v: Vec<i64> =
            if self.size { vec![s.iter().product::<usize>() as i64] } else { s.iter().map(|&d| d as i64).collect() };
        Ok(vec![CpuStorage::I64(v.into())])
    }
}

fn grad_zero(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    b.zeros_like_each(x)
}

pub(super) fn register(r: &mut Registry) {
    let fused: [(&'static str, &'static str, &'static [super::ParamSpec], &str, super::GradFn); 2] = [
        (
            "hard_sigmoid",
            "_backward_hard_sigmoid",
            params!("alpha" = Some("0.2"), "beta" = Some("0.5")),
            "clip(alpha * x + beta, 0, 1)",
            grad_hard_sigmoid,
        ),
        (
            "smooth_l1",
            "_backward_smooth_l1",
            params!("scalar" = Some("1")),
            "smooth L1 (Huber-like) function",
            grad_smooth_l1,
        ),
    ];
    for (name, back, p, doc, grad) in fused {
        r.add(name, &["data"], p, doc, move |a: &Attrs| {
            Ok(Box::new(Pointwise { name, fun: parse(name, a)?, backward: false }))
        });
        r.add(back, &["ograd", "data"], p, "gradient of a pointwise function", move |a: &Attrs| {
            Ok(Box::new(Pointwise { name: back, fun: parse(back, a)?, backward: true }))
        });
        r.set_gradient(name, grad);
    }
    let math: [(&'static str, super::GradFn); 5] = [
        ("erfinv", grad_erfinv),
        ("arcsinh", grad_arcsinh),
        ("arccosh", grad_arccosh),
        ("arctanh", grad_arctanh),
        ("rcbrt", grad_rcbrt),
    ];
    for (name, grad) in math {
        r.add(name, &["data"], params!(), "elementwise math", move |a: &Attrs| {
            Ok(Box::new(Pointwise { name, fun: parse(name, a)?, backward: false }))
        });
        r.set_gradient(name, grad);
    }
    r.add(
        "moments",
        &["data"],
        params!("axes" = Some("None"), "keepdims" = Some("False")),
        "mean and variance over axes",
        |a: &Attrs| {
            a.check_known("moments", &["axes", "keepdims"])?;
            Ok(Box::new(Moments {
                axes: a.opt_tuple("moments", "axes")?,
                keepdims: a.bool_or("moments", "keepdims", false)?,
            }))
        },
    );
    r.set_gradient("moments", grad_moments);
    r.add(
        "L2Normalization",
        &["data"],
        params!("eps" = Some("1e-10"), "mode" = Some("'instance'")),
        "divide by the L2 norm over each instance, channel or spatial position",
        |a: &Attrs| Ok(Box::new(l2norm(a)?)),
    );
    r.set_gradient("L2Normalization", grad_l2norm);
    for (name, size) in [("shape_array", false), ("size_array", true)] {
        r.add(name, &["data"], params!(), "the shape or size of an array as int64", move |a: &Attrs| {
            a.check_known(name, &[])?;
            Ok(Box::new(ShapeArray { name, size }))
        });
        r.set_gradient(name, grad_zero);
    }
}

#[cfg(test)]
mod tests {
    use super::erfinv;
    use crate::backend::cpu::elemwise::erf;
    use crate::eager_grad::testing::{arr_map, check};

    #[test]
    fn erfinv_inverts_erf() {
        for &y in &[-0.999, -0.7, -0.1, 0.0, 0.3, 0.95, 0.99999] {
            assert!((erf(erfinv(y)) - y).abs() < 1e-14, "{y}");
        }
    }

    #[test]
    fn pointwise_gradients() {
        let s = [2, 3];
        check("hard_sigmoid", &[("alpha", "0.3")], &[arr_map(&s, 1, |v| 2.0 * v + 0.05)], &[0]);
        check("smooth_l1", &[("scalar", "2")], &[arr_map(&s, 2, |v| v + 0.01)], &[0]);
        check("erfinv", &[], &[arr_map(&s, 3, |v| 0.8 * v)], &[0]);
        check("arcsinh", &[], &[arr_map(&s, 4, |v| 2.0 * v)], &[0]);
        check("arccosh", &[], &[arr_map(&s, 5, |v| 2.0 + v)], &[0]);
        check("arctanh", &[], &[arr_map(&s, 6, |v| 0.8 * v)], &[0]);
        check("rcbrt", &[], &[arr_map(&s, 7, |v| 1.5 + v)], &[0]);
        check("moments", &[("axes", "(1,)")], &[arr_map(&[2, 3, 2], 8, |v| v)], &[0]);
        check("moments", &[("keepdims", "True")], &[arr_map(&[2, 3], 9, |v| v)], &[0]);
        for mode in ["instance", "channel", "spatial"] {
            check("L2Normalization", &[("mode", mode)], &[arr_map(&[2, 3, 2], 10, |v| v)], &[0]);
        }
    }
}
