//! Gradients of the elementwise ops, composed of forward ops through the gradient builder,
//! and the two fused backward ops that have no composition.

use super::ops::{BINARY, leak};
use crate::backend::cpu::elemwise::{BinaryKind, digamma};
use crate::dtype::DType;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::op::grad::Grads;
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, GradFn, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs, same_shape_partial};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

/// d exp(x) = g * exp(x), reusing the forward output.
fn grad_exp(
    b: &mut dyn GradBuilder,
    _: &Attrs,
    _: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    Ok(vec![Some(b.apply("elemwise_mul", &[g[0], y[0]], Attrs::default())?)])
}

/// `_backward_gammaln(ograd, data)`: `ograd * digamma(data)`. Fused, not timed: there is no
/// digamma forward op to compose it from.
#[derive(Debug)]
struct GammalnBackward;

impl Operator for GammalnBackward {
    fn name(&self) -> &str {
        "_backward_gammaln"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        if inputs[0] != inputs[1] {
            return Err(Error::shape(
                self.name(),
                format!("shapes {} and {} must be equal", fmt_shape(&inputs[0]), fmt_shape(&inputs[1])),
            ));
        }
        Ok(vec![inputs[0].clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        same_shape_partial(self.name(), inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let (g, d) = (x[0].storage(), x[1].storage());
        Ok(vec![dispatch!(storage &*g => gv: T, {
            let dv = T::slice(&d).expect("same dtype checked by infer_dtype");
            T::wrap(gv.iter().zip(dv).map(|(&g, &d)| T::from_f64(g.to_f64() * digamma(d.to_f64()))).collect())
        })])
    }
}

/// `_backward_Cast(ograd, data)`: the output gradient cast back to the input's dtype. Fused, not
/// timed: `Cast` takes its target dtype as an attribute, and the input's dtype is not known when
/// the gradient is built.
#[derive(Debug)]
struct CastBackward;

impl Operator for CastBackward {
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        crate::op::grad::shapes_of_inputs(self, &[1], inputs, outputs)
    }
    fn name(&self) -> &str {
        "_backward_Cast"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        Ok(vec![inputs[1].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[1]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        crate::op::grad::dtype_of_input(self.name(), 1, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        if x[0].len() != x[1].len() {
            return Err(Error::shape(
                self.name(),
                format!("ograd {} and data {} differ in size", fmt_shape(x[0].shape), fmt_shape(x[1].shape)),
            ));
        }
        Ok(vec![x[0].data.cast(x[0].offset, x[0].len(), dt[0])])
    }
}

/// Gradients of one-input ops, written from the input `x`, the output `y` and the output
/// gradient `g`.
macro_rules! unary_grads {
    ($($f:ident = |$b:ident, $x:ident, $y:ident, $g:ident| $body:block)*) => {$(
        fn $f(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
            #[allow(unused_variables)]
            let ($b, $x, $y, $g) = (b, x[0], y[0], g[0]);
            Ok(vec![Some($body)])
        }
    )*};
}

unary_grads! {
    grad_log = |b, x, y, g| { b.div(g, x)? }
    grad_log2 = |b, x, y, g| { let t = b.div(g, x)?; b.scalar_op("_mul_scalar", t, 1.0 / std::f64::consts::LN_2)? }
    grad_log10 = |b, x, y, g| { let t = b.div(g, x)?; b.scalar_op("_mul_scalar", t, 1.0 / std::f64::consts::LN_10)? }
    grad_log1p = |b, x, y, g| { let t = b.scalar_op("_plus_scalar", x, 1.0)?; b.div(g, t)? }
    grad_expm1 = |b, x, y, g| { let t = b.scalar_op("_plus_scalar", y, 1.0)?; b.mul(g, t)? }
    grad_sqrt = |b, x, y, g| { let t = b.scalar_op("_mul_scalar", y, 2.0)?; b.div(g, t)? }
    grad_rsqrt = |b, x, y, g| {
        let y2 = b.unary("square", y)?;
        let y3 = b.mul(y2, y)?;
        let t = b.mul(g, y3)?;
        b.scalar_op("_mul_scalar", t, -0.5)?
    }
    grad_cbrt = |b, x, y, g| {
        let y2 = b.unary("square", y)?;
        let t = b.scalar_op("_mul_scalar", y2, 3.0)?;
        b.div(g, t)?
    }
    grad_square = |b, x, y, g| { let t = b.scalar_op("_mul_scalar", x, 2.0)?; b.mul(g, t)? }
    grad_abs = |b, x, y, g| { let t = b.unary("sign", x)?; b.mul(g, t)? }
    grad_sin = |b, x, y, g| { let t = b.unary("cos", x)?; b.mul(g, t)? }
    grad_cos = |b, x, y, g| { let t = b.unary("sin", x)?; let t = b.mul(g, t)?; b.unary("negative", t)? }
    grad_tan = |b, x, y, g| {
        let y2 = b.unary("square", y)?;
        let t = b.scalar_op("_plus_scalar", y2, 1.0)?;
        b.mul(g, t)?
    }
    grad_arcsin = |b, x, y, g| {
        let x2 = b.unary("square", x)?;
        let t = b.scalar_op("_rminus_scalar", x2, 1.0)?;
        let t = b.unary("rsqrt", t)?;
        b.mul(g, t)?
    }
    grad_arccos = |b, x, y, g| {
        let x2 = b.unary("square", x)?;
        let t = b.scalar_op("_rminus_scalar", x2, 1.0)?;
        let t = b.unary("rsqrt", t)?;
        let t = b.mul(g, t)?;
        b.unary("negative", t)?
    }
    grad_arctan = |b, x, y, g| {
        let x2 = b.unary("square", x)?;
        let t = b.scalar_op("_plus_scalar", x2, 1.0)?;
        b.div(g, t)?
    }
    grad_sinh = |b, x, y, g| { let t = b.unary("cosh", x)?; b.mul(g, t)? }
    grad_cosh = |b, x, y, g| { let t = b.unary("sinh", x)?; b.mul(g, t)? }
    grad_tanh = |b, x, y, g| {
        let y2 = b.unary("square", y)?;
        let t = b.scalar_op("_rminus_scalar", y2, 1.0)?;
        b.mul(g, t)?
    }
    grad_sigmoid = |b, x, y, g| {
        let t = b.scalar_op("_rminus_scalar", y, 1.0)?;
        let t = b.mul(y, t)?;
        b.mul(g, t)?
    }
    grad_relu = |b, x, y, g| { let t = b.scalar_op("_greater_scalar", x, 0.0)?; b.mul(g, t)? }
    grad_softsign = |b, x, y, g| {
        let t = b.unary("abs", x)?;
        let t = b.scalar_op("_plus_scalar", t, 1.0)?;
        let t = b.unary("square", t)?;
        b.div(g, t)?
    }
    grad_negative = |b, x, y, g| { b.unary("negative", g)? }
    grad_reciprocal = |b, x, y, g| {
        let y2 = b.unary("square", y)?;
        let t = b.mul(g, y2)?;
        b.unary("negative", t)?
    }
    grad_degrees = |b, x, y, g| { b.scalar_op("_mul_scalar", g, 180.0 / std::f64::consts::PI)? }
    grad_radians = |b, x, y, g| { b.scalar_op("_mul_scalar", g, std::f64::consts::PI / 180.0)? }
    grad_erf = |b, x, y, g| {
        let x2 = b.unary("square", x)?;
        let t = b.unary("negative", x2)?;
        let t = b.unary("exp", t)?;
        let t = b.scalar_op("_mul_scalar", t, std::f64::consts::FRAC_2_SQRT_PI)?;
        b.mul(g, t)?
    }
    grad_gammaln = |b, x, y, g| { b.binary("_backward_gammaln", g, x)? }
    grad_gamma = |b, x, y, g| { let t = b.binary("_backward_gammaln", g, x)?; b.mul(y, t)? }
    grad_copy = |b, x, y, g| { g }
    grad_cast = |b, x, y, g| { b.binary("_backward_Cast", g, x)? }
}

/// Zero gradients for every input (comparisons, rounding, `zeros_like`), as MXNet gives.
fn grad_zero(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    b.zeros_like_each(x)
}

/// `add_n`: every input gets the output gradient.
fn grad_add_n(_: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(g[0]); x.len()])
}

/// `clip`: the gradient passes where `a_min <= x <= a_max`.
fn grad_clip(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let lo = b.scalar_op("_greater_equal_scalar", x[0], a.float("clip", "a_min")?)?;
    let hi = b.scalar_op("_lesser_equal_scalar", x[0], a.float("clip", "a_max")?)?;
    let m = b.mul(lo, hi)?;
    Ok(vec![Some(b.mul(g[0], m)?)])
}

/// The name of a binary op: `broadcast_<stem>` or its same-shape form.
fn binary_name(stem: &str, bc: bool) -> String {
    match (bc, stem) {
        (true, _) => format!("broadcast_{stem}"),
        (false, "add" | "sub" | "mul" | "div") => format!("elemwise_{stem}"),
        (false, _) => format!("_{stem}"),
    }
}

/// Gradient of a same-shape (`bc` false) or broadcasting binary op of `kind` on inputs
/// `x = [lhs, rhs]` with output `y`; broadcasting gradients are summed back to each input's
/// shape with `_reduce_sum_like`.
fn binary_grad(
    kind: BinaryKind,
    bc: bool,
    b: &mut dyn GradBuilder,
    x: &[NodeEntry],
    y: NodeEntry,
    g: NodeEntry,
) -> Grads {
    let (l, r) = (x[0], x[1]);
    let op = |b: &mut dyn GradBuilder, stem: &str, p: NodeEntry, q: NodeEntry| b.binary(&binary_name(stem, bc), p, q);
    let (gl, gr) = match kind {
        BinaryKind::Add => (g, g),
        BinaryKind::Sub => (g, b.unary("negative", g)?),
        BinaryKind::Mul => (op(b, "mul", g, r)?, op(b, "mul", g, l)?),
        BinaryKind::Div => {
            let gl = op(b, "div", g, r)?;
            let t = b.mul(g, y)?;
            let t = op(b, "div", t, r)?;
            (gl, b.unary("negative", t)?)
        }
        BinaryKind::Mod => {
            let q = op(b, "div", l, r)?;
            let q = b.unary("floor", q)?;
            let t = b.mul(g, q)?;
            (g, b.unary("negative", t)?)
        }
        BinaryKind::Power => {
            let rm1 = b.scalar_op("_minus_scalar", r, 1.0)?;
            let p = op(b, "power", l, rm1)?;
            let p = op(b, "mul", p, r)?;
            let gl = b.mul(g, p)?;
            let ln = b.unary("log", l)?;
            let t = b.mul(g, y)?;
            (gl, op(b, "mul", t, ln)?)
        }
        BinaryKind::Maximum | BinaryKind::Minimum => {
            let (sl, sr) =
                if kind == BinaryKind::Maximum { ("greater_equal", "lesser") } else { ("lesser_equal", "greater") };
            let ml = op(b, sl, l, r)?;
            let mr = op(b, sr, l, r)?;
            (b.mul(g, ml)?, b.mul(g, mr)?)
        }
        BinaryKind::Hypot => {
            let t = b.div(g, y)?;
            (op(b, "mul", t, l)?, op(b, "mul", t, r)?)
        }
        _ => return b.zeros_like_each(x),
    };
    if bc {
        let gl = b.binary("_reduce_sum_like", gl, l)?;
        let gr = b.binary("_reduce_sum_like", gr, r)?;
        return Ok(vec![Some(gl), Some(gr)]);
    }
    Ok(vec![Some(gl), Some(gr)])
}

/// Gradient of a scalar op of `kind` (`reverse`: the scalar is the left operand).
fn scalar_grad(
    kind: BinaryKind,
    reverse: bool,
    b: &mut dyn GradBuilder,
    a: &Attrs,
    x: NodeEntry,
    y: NodeEntry,
    g: NodeEntry,
) -> Grads {
    let s = a.float("scalar op", "scalar")?;
    let gx = match (kind, reverse) {
        (BinaryKind::Add, _) | (BinaryKind::Sub | BinaryKind::Mod, false) => g,
        (BinaryKind::Sub, true) => b.unary("negative", g)?,
        (BinaryKind::Mul, _) => b.scalar_op("_mul_scalar", g, s)?,
        (BinaryKind::Div, false) => b.scalar_op("_div_scalar", g, s)?,
        (BinaryKind::Div, true) => {
            let t = b.mul(g, y)?;
            let t = b.div(t, x)?;
            b.unary("negative", t)?
        }
        (BinaryKind::Mod, true) => {
            let q = b.scalar_op("_rdiv_scalar", x, s)?;
            let q = b.unary("floor", q)?;
            let t = b.mul(g, q)?;
            b.unary("negative", t)?
        }
        (BinaryKind::Power, false) => {
            let p = b.scalar_op("_power_scalar", x, s - 1.0)?;
            let p = b.scalar_op("_mul_scalar", p, s)?;
            b.mul(g, p)?
        }
        (BinaryKind::Power, true) => {
            let t = b.mul(g, y)?;
            b.scalar_op("_mul_scalar", t, s.ln())?
        }
        (BinaryKind::Maximum, _) => {
            let m = b.scalar_op("_greater_equal_scalar", x, s)?;
            b.mul(g, m)?
        }
        (BinaryKind::Minimum, _) => {
            let m = b.scalar_op("_lesser_equal_scalar", x, s)?;
            b.mul(g, m)?
        }
        (BinaryKind::Hypot, _) => {
            let t = b.div(x, y)?;
            b.mul(g, t)?
        }
        _ => return b.zeros_like_each(&[x]),
    };
    Ok(vec![Some(gx)])
}

/// One gradient function per differentiable binary kind: `$f::<BC>` for the same-shape and
/// broadcasting ops, `$s::<REV>` for the scalar ops.
macro_rules! binary_grads {
    ($($f:ident $s:ident = $kind:ident),* $(,)?) => {
        $(
            fn $f<const BC: bool>(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
                binary_grad(BinaryKind::$kind, BC, b, x, y[0], g[0])
            }
            fn $s<const REV: bool>(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
                scalar_grad(BinaryKind::$kind, REV, b, a, x[0], y[0], g[0])
            }
        )*
        /// `[same-shape, broadcast, scalar, reversed scalar]` gradients of `kind`; `None` for
        /// kinds whose gradient is zero (comparisons, logical ops).
        fn binary_grad_fns(kind: BinaryKind) -> Option<[GradFn; 4]> {
            match kind {
                $(BinaryKind::$kind => Some([$f::<false>, $f::<true>, $s::<false>, $s::<true>]),)*
                _ => None,
            }
        }
    };
}

binary_grads! {
    g_add s_add = Add,
    g_sub s_sub = Sub,
    g_mul s_mul = Mul,
    g_div s_div = Div,
    g_mod s_mod = Mod,
    g_power s_power = Power,
    g_maximum s_maximum = Maximum,
    g_minimum s_minimum = Minimum,
    g_hypot s_hypot = Hypot,
}

/// The gradient ops (`_backward_gammaln`, `_backward_Cast`) and the gradient of every
/// elementwise op.
pub(super) fn register(r: &mut Registry) {
    r.add(
        "_backward_gammaln",
        &["ograd", "data"],
        params!(),
        "gradient of gammaln: ograd * digamma(data)",
        |_: &Attrs| Ok(Box::new(GammalnBackward)),
    );
    r.add("_backward_Cast", &["ograd", "data"], params!(), "ograd cast to the dtype of data", |_: &Attrs| {
        Ok(Box::new(CastBackward))
    });

    let unary: &[(&str, GradFn)] = &[
        ("exp", grad_exp),
        ("log", grad_log),
        ("log2", grad_log2),
        ("log10", grad_log10),
        ("log1p", grad_log1p),
        ("expm1", grad_expm1),
        ("sqrt", grad_sqrt),
        ("rsqrt", grad_rsqrt),
        ("cbrt", grad_cbrt),
        ("square", grad_square),
        ("abs", grad_abs),
        ("sin", grad_sin),
        ("cos", grad_cos),
        ("tan", grad_tan),
        ("arcsin", grad_arcsin),
        ("arccos", grad_arccos),
        ("arctan", grad_arctan),
        ("sinh", grad_sinh),
        ("cosh", grad_cosh),
        ("tanh", grad_tanh),
        ("sigmoid", grad_sigmoid),
        ("relu", grad_relu),
        ("softsign", grad_softsign),
        ("negative", grad_negative),
        ("reciprocal", grad_reciprocal),
        ("degrees", grad_degrees),
        ("radians", grad_radians),
        ("erf", grad_erf),
        ("gamma", grad_gamma),
        ("gammaln", grad_gammaln),
        ("_copy", grad_copy),
        ("Cast", grad_cast),
        ("clip", grad_clip),
        ("add_n", grad_add_n),
    ];
    for &(name, f) in unary {
        r.set_gradient(name, f);
    }
    for name in ["sign", "ceil", "floor", "round", "rint", "trunc", "fix", "logical_not", "zeros_like", "ones_like"] {
        r.set_gradient(name, grad_zero);
    }
    for &(ew, bc, stem, kind) in BINARY {
        let sname = leak(format!("{stem}_scalar"));
        let rname = format!("_r{}_scalar", stem.trim_start_matches('_'));
        let rname = r.get(&rname).ok().map(|d| d.name);
        match binary_grad_fns(kind) {
            Some([fe, fb, fs, fr]) => {
                r.set_gradient(ew, fe);
                r.set_gradient(bc, fb);
                r.set_gradient(sname, fs);
                if let Some(n) = rname {
                    r.set_gradient(n, fr);
                }
            }
            None => {
                for n in [ew, bc, sname].into_iter().chain(rname) {
                    r.set_gradient(n, grad_zero);
                }
            }
        }
    }
}

#[cfg(test)]
mod grad_tests {
    use crate::eager_grad::testing::{arr, arr_map, check, nonzero, pos};
    use crate::eager_grad::{check_numeric_gradient, eager_gradient, f64_array};
    use crate::op::Attrs;
    use crate::op::grad::test_values;

    #[test]
    fn mul_and_exp_gradients_match_finite_differences() {
        let a = f64_array(&[2, 3], test_values(6, 1)).unwrap();
        let b = f64_array(&[2, 3], test_values(6, 2)).unwrap();
        check_numeric_gradient("elemwise_mul", &Attrs::default(), &[a.clone(), b], &[0, 1], false, 1e-6, 1e-6, 1e-8)
            .unwrap();
        check_numeric_gradient("exp", &Attrs::default(), &[a], &[0], false, 1e-6, 1e-6, 1e-8).unwrap();
    }

    #[test]
    fn unary_gradients() {
        let s = [2, 3];
        for name in [
            "exp", "log1p", "expm1", "square", "sin", "cos", "tan", "arctan", "sinh", "cosh", "tanh", "sigmoid",
            "softsign", "negative", "degrees", "radians", "erf", "_copy",
        ] {
            check(name, &[], &[arr(&s, 3)], &[0]);
        }
        for name in ["log", "log2", "log10", "sqrt", "rsqrt", "cbrt", "reciprocal"] {
            check(name, &[], &[pos(&s, 4)], &[0]);
        }
        for name in ["abs", "relu", "sign", "logical_not"] {
            check(name, &[], &[nonzero(&s, 5)], &[0]);
        }
        for name in ["arcsin", "arccos"] {
            check(name, &[], &[arr_map(&s, 6, |v| 0.8 * v)], &[0]);
        }
        for name in ["gamma", "gammaln"] {
            check(name, &[], &[arr_map(&s, 7, |v| 2.1 + 1.5 * v)], &[0]);
            check(name, &[], &[arr_map(&s, 8, |v| -0.5 + 0.3 * v)], &[0]);
        }
        // Piecewise-constant ops: zero gradients (the values stay away from the jumps).
        for name in ["ceil", "floor", "round", "rint", "trunc", "fix"] {
            check(name, &[], &[arr_map(&s, 9, |v| 3.0 * v + 0.25)], &[0]);
        }
        check("zeros_like", &[], &[arr(&s, 10)], &[0]);
        check("ones_like", &[], &[arr(&s, 10)], &[0]);
    }

    #[test]
    fn clip_cast_add_n_gradients() {
        check("clip", &[("a_min", "-0.5"), ("a_max", "0.7")], &[arr_map(&[3, 4], 11, |v| 1.5 * v)], &[0]);
        check("Cast", &[("dtype", "float64")], &[arr(&[2, 3], 12)], &[0]);
        check("add_n", &[("num_args", "3")], &[arr(&[2, 3], 13), arr(&[2, 3], 14), arr(&[2, 3], 15)], &[0, 1, 2]);
        // Cast's gradient comes back in the input's dtype.
        let x = arr(&[2, 2], 16);
        let g = crate::ndarray::NDArray::from_cpu(
            crate::storage::CpuStorage::F32(vec![1.0, 2.0, 3.0, 4.0].into()),
            &[2, 2],
            crate::context::Context::cpu(0),
        )
        .unwrap();
        let (_, grads) = eager_gradient("Cast", &Attrs::from_pairs([("dtype", "float32")]), &[x], &[g], false).unwrap();
        assert_eq!(grads[0].as_ref().unwrap().dtype(), crate::dtype::DType::F64);
    }

    /// Inputs suited to each binary op: (lhs, rhs) makers over a shape pair.
    fn binary_inputs(stem: &str, ls: &[usize], rs: &[usize]) -> [crate::ndarray::NDArray; 2] {
        match stem {
            "div" => [arr(ls, 20), pos(rs, 21)],
            "power" => [pos(ls, 22), arr(rs, 23)],
            // a / b stays between integers: a in [3.3, 3.7), b in [1.95, 2.05).
            "mod" => [arr_map(ls, 24, |v| 3.5 + 0.2 * v), arr_map(rs, 25, |v| 2.0 + 0.05 * v)],
            _ => [arr(ls, 26), arr(rs, 27)],
        }
    }

    #[test]
    fn binary_gradients_same_shape_and_broadcast() {
        let stems = [
            "add",
            "sub",
            "mul",
            "div",
            "mod",
            "power",
            "maximum",
            "minimum",
            "hypot",
            "equal",
            "not_equal",
            "greater",
            "greater_equal",
            "lesser",
            "lesser_equal",
            "logical_and",
            "logical_or",
            "logical_xor",
        ];
        for stem in stems {
            let ew = match stem {
                "add" | "sub" | "mul" | "div" => format!("elemwise_{stem}"),
                _ => format!("_{stem}"),
            };
            check(&ew, &[], &binary_inputs(stem, &[2, 3], &[2, 3]), &[0, 1]);
            let bc = format!("broadcast_{stem}");
            for (ls, rs) in [
                (&[2, 1, 3][..], &[1, 4, 3][..]),
                (&[3][..], &[2, 3][..]),
                (&[2, 3][..], &[3][..]),
                (&[2, 3][..], &[2, 3][..]),
                (&[2, 3][..], &[1][..]),
            ] {
                check(&bc, &[], &binary_inputs(stem, ls, rs), &[0, 1]);
            }
        }
    }

    #[test]
    fn scalar_gradients() {
        let s = [2, 3];
        for (name, scalar) in [
            ("_plus_scalar", "0.7"),
            ("_minus_scalar", "0.7"),
            ("_rminus_scalar", "0.7"),
            ("_mul_scalar", "-1.3"),
            ("_div_scalar", "1.3"),
            ("_maximum_scalar", "0.1"),
            ("_minimum_scalar", "0.1"),
            ("_hypot_scalar", "0.8"),
            ("_equal_scalar", "0.1"),
            ("_greater_scalar", "0.1"),
            ("_logical_and_scalar", "1"),
        ] {
            check(name, &[("scalar", scalar)], &[arr(&s, 30)], &[0]);
        }
        for (name, scalar) in [
            ("_rdiv_scalar", "1.7"),
            ("_power_scalar", "2.5"),
            ("_rpower_scalar", "1.7"),
            ("_mod_scalar", "0.45"),
            ("_rmod_scalar", "3.3"),
        ] {
            check(name, &[("scalar", scalar)], &[pos(&s, 31)], &[0]);
        }
    }

    /// Conventions at ties and kinks, as MXNet 1.9.1's autograd gives them
    /// (`tools/golden/grad_conventions.py` prints MXNet's values).
    #[test]
    fn gradients_at_ties_and_kinks_follow_mxnet() {
        use crate::eager_grad::testing::{grads_of_ones, vals};
        let g = |name: &str, at: &[(&str, &str)], ins: &[crate::ndarray::NDArray]| -> Vec<Vec<f64>> {
            grads_of_ones(name, at, ins).into_iter().map(|g| g.unwrap()).collect()
        };
        let (a, b) = (vals(&[2], &[1.0, 2.0]), vals(&[2], &[1.0, 3.0]));
        assert_eq!(g("_maximum", &[], &[a.clone(), b.clone()]), [[1.0, 0.0], [0.0, 1.0]]);
        assert_eq!(g("_minimum", &[], &[a.clone(), b.clone()]), [[1.0, 1.0], [0.0, 0.0]]);
        let x = vals(&[3], &[1.0, 2.0, 0.0]);
        assert_eq!(g("_maximum_scalar", &[("scalar", "1")], std::slice::from_ref(&x)), [[1.0, 1.0, 0.0]]);
        assert_eq!(g("_minimum_scalar", &[("scalar", "1")], &[x]), [[1.0, 0.0, 1.0]]);
        let x = vals(&[4], &[0.0, 1.0, 0.5, 2.0]);
        assert_eq!(g("clip", &[("a_min", "0"), ("a_max", "1")], &[x]), [[1.0, 1.0, 1.0, 0.0]]);
        assert_eq!(g("relu", &[], &[vals(&[2], &[0.0, 1.0])]), [[0.0, 1.0]]);
        assert_eq!(g("abs", &[], &[vals(&[2], &[0.0, 1.0])]), [[0.0, 1.0]]);
        assert_eq!(g("_rmod_scalar", &[("scalar", "5")], &[vals(&[2], &[2.0, 3.0])]), [[-2.0, -1.0]]);
        assert_eq!(g("_mod", &[], &[vals(&[2], &[5.0, 7.0]), vals(&[2], &[2.0, 3.0])]), [[1.0, 1.0], [-2.0, -2.0]]);
    }
}
