//! Reductions: sum, mean, prod, nansum, max, min, norm, argmax, argmin.

use super::grad::{Grads, pick_attrs};
use super::matrix::gather_view;
use super::registry::Registry;
use super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::cpu::elemwise::{BinaryKind, binary_storage};
use crate::backend::cpu::gather::broadcast_strides;
use crate::backend::cpu::reduce::{ReduceKind, reduce_storage};
use crate::backend::device::{self, DeviceStorage, ReduceOp};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::DevIn;
use crate::params;
use crate::shape::{Shape, fmt_shape, norm_axis, size_of};
use crate::storage::CpuStorage;

#[derive(Debug)]
struct Reduce {
    name: &'static str,
    kind: ReduceKind,
    axis: Option<Vec<i64>>,
    keepdims: bool,
    exclude: bool,
}

impl Reduce {
    /// Which axes are reduced, for an input of `ndim` dimensions.
    fn flags(&self, ndim: usize) -> Result<Vec<bool>> {
        let mut f = vec![self.exclude; ndim];
        match &self.axis {
            None => return Ok(vec![true; ndim]),
            // MXNet: an empty axis tuple reduces everything (or nothing with exclude).
            Some(ax) if ax.is_empty() => return Ok(vec![!self.exclude; ndim]),
            Some(ax) => {
                for &a in ax {
                    let a = norm_axis(self.name, a, ndim)?;
                    f[a] = !self.exclude;
                }
            }
        }
        Ok(f)
    }
}

impl Operator for Reduce {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 1)?;
        let s = &inputs[0];
        let flags = self.flags(s.len())?;
        let out: Shape = if self.keepdims {
            s.iter().zip(&flags).map(|(&d, &r)| if r { 1 } else { d }).collect()
        } else {
            s.iter().zip(&flags).filter(|(_, r)| !**r).map(|(&d, _)| d).collect()
        };
        // MXNet 1.x (legacy shapes) never returns a 0-d array: a full reduction gives (1,).
        Ok(vec![if out.is_empty() { vec![1] } else { out }])
    }
    fn inline_when_waited(&self, inputs: &[Shape]) -> bool {
        // Sums, means, norms, maxima and minima over trailing axes: one pass over contiguous
        // rows (vectorised for float32), split over the team on the calling thread.
        let Some(shape) = inputs.first() else { return false };
        let Ok(flags) = self.flags(shape.len()) else { return false };
        let first = flags.iter().position(|&f| f).unwrap_or(flags.len());
        matches!(self.kind, ReduceKind::Sum | ReduceKind::Mean | ReduceKind::Norm | ReduceKind::Max | ReduceKind::Min)
            && first < flags.len()
            && flags[first..].iter().all(|&f| f)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let flags = self.flags(x[0].shape.len())?;
        if matches!(self.kind, ReduceKind::Argmax | ReduceKind::Argmin)
            && x[0].shape.iter().zip(&flags).any(|(&d, &r)| r && d == 0)
        {
            return Err(Error::shape(self.name, "cannot take the arg-reduction of an empty axis"));
        }
        Ok(vec![reduce_storage(ctx.par, self.kind, &x[0].storage(), x[0].shape, &flags)])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let flags = self.flags(x[0].shape.len())?;
        let rlen: usize = x[0].shape.iter().zip(&flags).filter(|(_, r)| **r).map(|(d, _)| *d).product();
        let (op, scale) = match self.kind {
            ReduceKind::Sum => (ReduceOp::Sum, 1.0),
            ReduceKind::Mean => (ReduceOp::Sum, 1.0 / rlen as f64),
            ReduceKind::Prod => (ReduceOp::Prod, 1.0),
            ReduceKind::Max if rlen > 0 => (ReduceOp::Max, 1.0),
            ReduceKind::Min if rlen > 0 => (ReduceOp::Min, 1.0),
            ReduceKind::NanSum => (ReduceOp::NanSum, 1.0),
            _ => return Ok(None),
        };
        Ok(device::reduce(op, x[0], &flags, scale)?.map(|o| vec![o]))
    }
}

/// `_reduce_sum_like(data, like)`: `data` summed over the axes that broadcasting `like` to
/// `data`'s shape added or stretched, giving `like`'s shape: the gradient of one input of a
/// broadcasting op.
#[derive(Debug)]
struct SumLike;

impl SumLike {
    /// Which axes of `d` are summed to reach `l`.
    fn flags(d: &[usize], l: &[usize]) -> Result<Vec<bool>> {
        let bad = || {
            Error::shape("_reduce_sum_like", format!("shape {} does not broadcast to {}", fmt_shape(l), fmt_shape(d)))
        };
        if l.len() > d.len() {
            return Err(bad());
        }
        let off = d.len() - l.len();
        let mut f = vec![true; d.len()];
        for (i, &n) in l.iter().enumerate() {
            if n != d[off + i] && n != 1 {
                return Err(bad());
            }
            f[off + i] = n == 1 && d[off + i] != 1;
        }
        Ok(f)
    }
}

impl Operator for SumLike {
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        super::grad::shapes_of_inputs(self, &[1], inputs, outputs)
    }
    fn name(&self) -> &str {
        "_reduce_sum_like"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        Self::flags(&inputs[0], &inputs[1])?;
        Ok(vec![inputs[1].clone()])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let flags = Self::flags(x[0].shape, x[1].shape)?;
        if !flags.contains(&true) {
            return Ok(vec![x[0].to_storage()]);
        }
        Ok(vec![reduce_storage(ctx.par, ReduceKind::Sum, &x[0].storage(), x[0].shape, &flags)])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let flags = Self::flags(x[0].shape, x[1].shape)?;
        if !flags.contains(&true) {
            return Ok(device::cast(x[0], x[0].dtype())?.map(|o| vec![o]));
        }
        Ok(device::reduce(ReduceOp::Sum, x[0], &flags, 1.0)?.map(|o| vec![o]))
    }
}

/// `_broadcast_reduced_like(data, like)`: `data`, the result of reducing an array of `like`'s
/// shape (with the same `axis`, `keepdims`, `exclude`), broadcast back to `like`'s shape and,
/// with `mean`, divided by the number of reduced elements: the gradient of sum and mean.
#[derive(Debug)]
struct BroadcastReduced {
    reduce: Reduce,
    mean: bool,
}

impl Operator for BroadcastReduced {
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        super::grad::shapes_of_inputs(self, &[1], inputs, outputs)
    }
    fn name(&self) -> &str {
        "_broadcast_reduced_like"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        let want = self.reduce.infer_shape(&inputs[1..])?.remove(0);
        if size_of(&want) != size_of(&inputs[0]) {
            return Err(Error::shape(
                self.name(),
                format!(
                    "data {} is not the reduction {} of {}",
                    fmt_shape(&inputs[0]),
                    fmt_shape(&want),
                    fmt_shape(&inputs[1])
                ),
            ));
        }
        Ok(vec![inputs[1].clone()])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let l = x[1].shape;
        let flags = self.reduce.flags(l.len())?;
        let kept: Shape = l.iter().zip(&flags).map(|(&d, &r)| if r { 1 } else { d }).collect();
        let mut o = gather_view(ctx.par, &x[0], 0, &out[0], &broadcast_strides(&kept, l));
        if self.mean {
            let count: usize = l.iter().zip(&flags).filter(|(_, r)| **r).map(|(&d, _)| d).product();
            let c = CpuStorage::full(o.dtype(), 1, count as f64);
            o = binary_storage(ctx.par, BinaryKind::Div, &o, l, &c, &[1], l);
        }
        Ok(vec![o])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        out: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let l = x[1].shape;
        let flags = self.reduce.flags(l.len())?;
        let kept: Shape = l.iter().zip(&flags).map(|(&d, &r)| if r { 1 } else { d }).collect();
        // The broadcast as a binary op with a one-element operand: + 0, or / count for a mean.
        let count: usize = l.iter().zip(&flags).filter(|(_, r)| **r).map(|(&d, _)| d).product();
        let (kind, v) = if self.mean { (BinaryKind::Div, count as f64) } else { (BinaryKind::Add, 0.0) };
        let Some(c) = device::fill(x[0].data.device_id(), x[0].dtype(), 1, v)? else { return Ok(None) };
        let src = DevIn { data: x[0].data, offset: x[0].offset, shape: &kept };
        let one = DevIn { data: &c, offset: 0, shape: &[1] };
        Ok(device::binary(kind, src, one, &out[0])?.map(|o| vec![o]))
    }
}

/// Apply `_broadcast_reduced_like(data, like)` with the reduction attributes of `a`.
fn unreduce(b: &mut dyn GradBuilder, a: &Attrs, data: NodeEntry, like: NodeEntry, mean: bool) -> Result<NodeEntry> {
    let mut at = pick_attrs(a, &["axis", "keepdims", "exclude"]);
    if mean {
        at.set("mean", "True");
    }
    b.apply("_broadcast_reduced_like", &[data, like], at)
}

fn grad_sum(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(unreduce(b, a, g[0], x[0], false)?)])
}

fn grad_mean(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(unreduce(b, a, g[0], x[0], true)?)])
}

/// prod: g * y / x (infinite at zeros of x, as MXNet's).
fn grad_prod(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let gb = unreduce(b, a, g[0], x[0], false)?;
    let yb = unreduce(b, a, y[0], x[0], false)?;
    let t = b.mul(gb, yb)?;
    Ok(vec![Some(b.div(t, x[0])?)])
}

/// max / min: the gradient goes to every element equal to the extreme.
fn grad_extreme(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let gb = unreduce(b, a, g[0], x[0], false)?;
    let yb = unreduce(b, a, y[0], x[0], false)?;
    let m = b.binary("_equal", x[0], yb)?;
    Ok(vec![Some(b.mul(gb, m)?)])
}

/// nansum: NaN elements get no gradient.
fn grad_nansum(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let gb = unreduce(b, a, g[0], x[0], false)?;
    let m = b.binary("_equal", x[0], x[0])?;
    Ok(vec![Some(b.mul(gb, m)?)])
}

/// norm: g * x / y for ord 2, g * sign(x) for ord 1.
fn grad_norm(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let gb = unreduce(b, a, g[0], x[0], false)?;
    if a.int_or("norm", "ord", 2)? == 1 {
        let s = b.unary("sign", x[0])?;
        return Ok(vec![Some(b.mul(gb, s)?)]);
    }
    let yb = unreduce(b, a, y[0], x[0], false)?;
    let t = b.div(x[0], yb)?;
    Ok(vec![Some(b.mul(gb, t)?)])
}

/// `_reduce_sum_like`: its data gradient broadcasts back; `like` gives only a shape.
fn grad_sum_like(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.binary("broadcast_like", g[0], x[0])?), None])
}

/// `_broadcast_reduced_like`: its data gradient is the same reduction of the output gradient.
fn grad_broadcast_reduced(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    _: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Grads {
    let mean = a.bool_or("_broadcast_reduced_like", "mean", false)?;
    let at = pick_attrs(a, &["axis", "keepdims", "exclude"]);
    Ok(vec![Some(b.apply(if mean { "mean" } else { "sum" }, &[g[0]], at)?), None])
}

fn create(name: &'static str, kind: ReduceKind, a: &Attrs) -> Result<Box<dyn Operator>> {
    a.check_known(name, &["axis", "keepdims", "exclude", "ord"])?;
    let mut kind = kind;
    if kind == ReduceKind::Norm {
        match a.int_or(name, "ord", 2)? {
            2 => {}
            1 => kind = ReduceKind::NormL1,
            o => return Err(Error::param(name, format!("ord must be 1 or 2, got {o}"))),
        }
    }
    let axis = a.opt_tuple(name, "axis")?;
    Ok(Box::new(Reduce {
        name,
        kind,
        axis,
        keepdims: a.bool_or(name, "keepdims", false)?,
        exclude: a.bool_or(name, "exclude", false)?,
    }))
}

pub(super) fn register(r: &mut Registry) {
    let common = params!("axis" = Some("()"), "keepdims" = Some("False"), "exclude" = Some("False"));
    for (name, kind) in [
        ("sum", ReduceKind::Sum),
        ("mean", ReduceKind::Mean),
        ("prod", ReduceKind::Prod),
        ("nansum", ReduceKind::NanSum),
        ("max", ReduceKind::Max),
        ("min", ReduceKind::Min),
    ] {
        r.add(name, &["data"], common, "reduce over axes", move |a: &Attrs| create(name, kind, a));
    }
    r.alias("sum_axis", "sum");
    r.alias("max_axis", "max");
    r.alias("min_axis", "min");
    r.add(
        "norm",
        &["data"],
        params!("ord" = Some("2"), "axis" = Some("None"), "keepdims" = Some("False")),
        "L1 or L2 norm",
        |a: &Attrs| create("norm", ReduceKind::Norm, a),
    );
    for (name, kind) in [("argmax", ReduceKind::Argmax), ("argmin", ReduceKind::Argmin)] {
        r.add(
            name,
            &["data"],
            params!("axis" = Some("None"), "keepdims" = Some("False")),
            "index of the extreme value",
            move |a: &Attrs| create(name, kind, a),
        );
    }
    r.add("argmax_channel", &["data"], params!(), "argmax over the last axis", |_: &Attrs| {
        Ok(Box::new(Reduce {
            name: "argmax_channel",
            kind: ReduceKind::Argmax,
            axis: Some(vec![-1]),
            keepdims: false,
            exclude: false,
        }))
    });
    r.add(
        "_reduce_sum_like",
        &["data", "like"],
        params!(),
        "sum data over the axes broadcasting added to like's shape",
        |_: &Attrs| Ok(Box::new(SumLike)),
    );
    r.add(
        "_broadcast_reduced_like",
        &["data", "like"],
        params!("axis" = Some("()"), "keepdims" = Some("False"), "exclude" = Some("False"), "mean" = Some("False")),
        "broadcast a reduction result back to the reduced array's shape",
        |a: &Attrs| {
            let name = "_broadcast_reduced_like";
            a.check_known(name, &["axis", "keepdims", "exclude", "mean"])?;
            let reduce = Reduce {
                name,
                kind: ReduceKind::Sum,
                axis: a.opt_tuple(name, "axis")?,
                keepdims: a.bool_or(name, "keepdims", false)?,
                exclude: a.bool_or(name, "exclude", false)?,
            };
            Ok(Box::new(BroadcastReduced { reduce, mean: a.bool_or(name, "mean", false)? }))
        },
    );
    r.set_gradient("sum", grad_sum);
    r.set_gradient("mean", grad_mean);
    r.set_gradient("prod", grad_prod);
    r.set_gradient("nansum", grad_nansum);
    r.set_gradient("max", grad_extreme);
    r.set_gradient("min", grad_extreme);
    r.set_gradient("norm", grad_norm);
    r.set_gradient("_reduce_sum_like", grad_sum_like);
    r.set_gradient("_broadcast_reduced_like", grad_broadcast_reduced);
}

#[cfg(test)]
mod grad_tests {
    use crate::eager_grad::testing::{arr, arr_map, check, nonzero, pos};

    /// Axis variants every reduction is checked with.
    const VARIANTS: &[&[(&str, &str)]] = &[
        &[],
        &[("axis", "1")],
        &[("axis", "-1"), ("keepdims", "True")],
        &[("axis", "(0, 2)")],
        &[("axis", "(0, 2)"), ("keepdims", "True")],
        &[("axis", "1"), ("exclude", "True")],
        &[("axis", "()"), ("keepdims", "True")],
    ];

    #[test]
    fn reduction_gradients() {
        let s = [2, 3, 4];
        for &v in VARIANTS {
            check("sum", v, &[arr(&s, 1)], &[0]);
            check("mean", v, &[arr(&s, 2)], &[0]);
            check("prod", v, &[pos(&s, 3)], &[0]);
            check("max", v, &[arr(&s, 4)], &[0]);
            check("min", v, &[arr(&s, 5)], &[0]);
            check("nansum", v, &[arr(&s, 6)], &[0]);
        }
        for v in [&[][..], &[("axis", "1")][..], &[("axis", "(0, 2)"), ("keepdims", "True")][..]] {
            check("norm", v, &[arr(&s, 7)], &[0]);
            let mut v1 = v.to_vec();
            v1.push(("ord", "1"));
            check("norm", &v1, &[nonzero(&s, 8)], &[0]);
        }
    }

    /// Ties share the gradient of max; prod at a zero gives NaN there (MXNet 1.9.1 does both;
    /// `tools/golden/grad_conventions.py` prints its values).
    #[test]
    fn max_ties_and_prod_at_zero_follow_mxnet() {
        use crate::eager_grad::testing::{grads_of_ones, vals};
        let gm = grads_of_ones("max", &[], &[vals(&[1, 3], &[1.0, 3.0, 3.0])]);
        assert_eq!(gm[0].as_deref(), Some(&[0.0, 1.0, 1.0][..]));
        let gp = grads_of_ones("prod", &[], &[vals(&[2], &[0.0, 2.0])]);
        let gp = gp[0].as_ref().unwrap();
        assert!(gp[0].is_nan() && gp[1] == 0.0);
    }

    #[test]
    fn nansum_skips_nan() {
        let x = arr_map(&[2, 2], 9, |v| if v > 0.5 { f64::NAN } else { v });
        let g = crate::eager_grad::f64_array(&[1], vec![1.0]).unwrap();
        let (_, grads) = crate::eager_grad::eager_gradient(
            "nansum",
            &crate::op::Attrs::default(),
            std::slice::from_ref(&x),
            &[g],
            false,
        )
        .unwrap();
        let gv = grads[0].as_ref().unwrap().to_cpu_storage().unwrap();
        let xv = x.to_cpu_storage().unwrap();
        for i in 0..4 {
            assert_eq!(gv.get_f64(i), if xv.get_f64(i).is_nan() { 0.0 } else { 1.0 });
        }
    }

    #[test]
    fn helper_op_gradients() {
        check("_reduce_sum_like", &[], &[arr(&[2, 4, 3], 10), arr(&[2, 1, 3], 11)], &[0]);
        check("_reduce_sum_like", &[], &[arr(&[2, 4, 3], 12), arr(&[3], 13)], &[0]);
        check("_broadcast_reduced_like", &[("axis", "1")], &[arr(&[2, 4], 14), arr(&[2, 3, 4], 15)], &[0]);
        check(
            "_broadcast_reduced_like",
            &[("axis", "(0, 2)"), ("keepdims", "True"), ("mean", "True")],
            &[arr(&[1, 3, 1], 16), arr(&[2, 3, 4], 17)],
            &[0],
        );
    }
}
