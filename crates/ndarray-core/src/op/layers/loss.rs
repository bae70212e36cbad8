//! Loss heads: SoftmaxOutput (alias Softmax), LinearRegressionOutput, LogisticRegressionOutput,
//! MAERegressionOutput, MakeLoss, and BlockGrad (alias stop_gradient).
//!
//! As in MXNet, a loss head's gradient ignores the incoming output gradient: it is the
//! gradient of the loss it stands for (`SoftmaxOutput(out_grad=True)` is the exception, and
//! multiplies by it, as MXNet documents; MXNet 1.9.1 multiplies by the output instead).

use super::activation::softmax_groups;
use super::{Real, c, fill_shape, float_dtype, map1};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::grad::Grads;
use crate::op::registry::Registry;
use crate::op::{
    Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs, same_shape_partial, same_shape_unary,
};
use crate::shape::{Shape, fmt_shape, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};
#[allow(unused_imports)]
use num_traits::Float as _;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Norm {
    Null,
    Batch,
    Valid,
}

fn parse_norm(op: &str, a: &Attrs) -> Result<Norm> {
    Ok(match a.str_or("normalization", "null") {
        "null" => Norm::Null,
        "batch" => Norm::Batch,
        "valid" => Norm::Valid,
        other => {
            return Err(Error::param(
                op,
                format!("invalid normalization '{other}'; valid values are batch, null, valid"),
            ));
        }
    })
}

/// A label input as float64 values.
fn label_values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|x| x.to_f64()).collect() })
}

const SO: &str = "SoftmaxOutput";
const SO_PARAMS: &[&str] = &[
    "grad_scale",
    "ignore_label",
    "multi_output",
    "use_ignore",
    "preserve_shape",
    "normalization",
    "out_grad",
    "smooth_alpha",
];

#[derive(Debug, Clone)]
struct SoftmaxOutput {
    name: &'static str,
    grad_scale: f64,
    ignore_label: f64,
    multi_output: bool,
    use_ignore: bool,
    preserve_shape: bool,
    norm: Norm,
    out_grad: bool,
    smooth_alpha: f64,
}

impl SoftmaxOutput {
    fn parse(name: &'static str, a: &Attrs) -> Result<SoftmaxOutput> {
        a.check_known(name, SO_PARAMS)?;
        Ok(SoftmaxOutput {
            name,
            grad_scale: a.float_or(name, "grad_scale", 1.0)?,
            ignore_label: a.float_or(name, "ignore_label", -1.0)?,
            multi_output: a.bool_or(name, "multi_output", false)?,
            use_ignore: a.bool_or(name, "use_ignore", false)?,
            preserve_shape: a.bool_or(name, "preserve_shape", false)?,
            norm: parse_norm(name, a)?,
            out_grad: a.bool_or(name, "out_grad", false)?,
            smooth_alpha: a.float_or(name, "smooth_alpha", 0.0)?,
        })
    }

    /// (outer, n, inner): softmax runs over `n` entries for each (outer, inner) position.
    fn layout(&self, s: &[usize]) -> Result<(usize, usize, usize)> {
        if s.is_empty() {
            return Err(Error::shape(self.name, "data must have at least one dimension"));
        }
        let size = size_of(s);
        Ok(if self.multi_output {
            if s.len() < 2 {
                return Err(Error::shape(self.name, "multi_output needs data with at least 2 dimensions"));
            }
            (s[0], s[1], size_of(&s[2..]))
        } else if self.preserve_shape {
            (size_of(&s[..s.len() - 1]), s[s.len() - 1], 1)
        } else {
            (s[0], size.checked_div(s[0]).unwrap_or(0), 1)
        })
    }

    /// The label shape inferred from the data's.
    fn default_label(&self, d: &[usize]) -> Shape {
        if self.multi_output { vec![d[0], size_of(&d[2..])] } else { d[..d.len() - 1].to_vec() }
    }

    fn label_ok(&self, d: &[usize], l: &[usize]) -> bool {
        if l == d || l == self.default_label(d).as_slice() {
            return true;
        }
        if self.multi_output {
            let mut spatial = vec![d[0]];
            spatial.extend_from_slice(&d[2..]);
            let mut one = d.to_vec();
            one[1] = 1;
            return l == spatial.as_slice() || l == one.as_slice();
        }
        false
    }

    fn check_label(&self, d: &[usize], l: &[usize]) -> Result<()> {
        self.layout(d)?;
        if !self.label_ok(d, l) {
            return Err(Error::shape(
                self.name,
                format!(
                    "label shape {} does not match data shape {}: expected {} (class indices) or {} (probabilities)",
                    fmt_shape(l),
                    fmt_shape(d),
                    fmt_shape(&self.default_label(d)),
                    fmt_shape(d)
                ),
            ));
        }
        Ok(())
    }

    /// The data gradient from the output `p`, the label and the head gradient `g`.
    fn backward<T: Real>(&self, g: &[T], p: &[T], shape: &[usize], label: &[f64], label_shape: &[usize]) -> Vec<T> {
        let scale = self.grad_scale;
        let mut out: Vec<T> = p.to_vec();
        if label_shape == shape {
            // Probability targets: never normalised.
            for (o, &l) in out.iter_mut().zip(label) {
                *o = c((o.to_f64() - l) * scale);
            }
        } else {
            let (outer, n, inner) = self.layout(shape).expect("checked by infer_shape");
            let ignore = self.ignore_label as i64;
            // Positions whose label is used: every (outer, inner) position, or only the first
            // `outer` labels in the default mode.
            let used = &label[..(outer * inner).min(label.len())];
            let valid_cnt = match self.norm {
                Norm::Null => 1.0,
                Norm::Batch => {
                    if self.multi_output {
                        label_shape.first().copied().unwrap_or(1) as f64
                    } else {
                        outer as f64
                    }
                }
                Norm::Valid => used.iter().filter(|&&l| l as i64 != ignore).count().max(1) as f64,
            };
            let spatial = if self.multi_output && self.norm != Norm::Valid { inner as f64 } else { 1.0 };
            let factor = scale / (valid_cnt * spatial);
            let a = self.smooth_alpha;
            let other = if n > 1 { a / (n - 1) as f64 } else { 0.0 };
            for r in 0..outer {
                for q in 0..inner {
                    let li = used.get(r * inner + q).copied().unwrap_or(f64::NAN);
                    let idx = li as i64;
                    let ignored = self.use_ignore && idx == ignore;
                    for i in 0..n {
                        let k = (r * n + i) * inner + q;
                        let v = if ignored {
                            0.0
                        } else {
                            let target = if idx == i as i64 { 1.0 - a } else { other };
                            (p[k].to_f64() - target) * factor
                        };
                        out[k] = c(v);
                    }
                }
            }
        }
        if self.out_grad {
            for (o, &gv) in out.iter_mut().zip(g) {
                *o = *o * gv;
            }
        }
        out
    }
}

impl Operator for SoftmaxOutput {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        if self.name == SO {
            expect_inputs(SO, inputs.len(), 2)?;
            self.check_label(&inputs[0], &inputs[1])?;
            Ok(vec![inputs[0].clone()])
        } else {
            // _backward_SoftmaxOutput(out_grad, output, label)
            expect_inputs(self.name, inputs.len(), 3)?;
            self.check_label(&inputs[1], &inputs[2])?;
            Ok(vec![inputs[1].clone()])
        }
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if self.name != SO {
            let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
            return crate::op::assign_shapes(self.name, outputs, &self.infer_shape(&known)?);
        }
        expect_inputs(SO, inputs.len(), 2)?;
        let Some(d) = inputs[0].clone().or_else(|| outputs[0].clone()) else { return Ok(()) };
        fill_shape(SO, "data", &mut inputs[0], &d)?;
        match &inputs[1] {
            Some(l) => self.check_label(&d, l)?,
            None => {
                self.layout(&d)?;
                inputs[1] = Some(self.default_label(&d));
            }
        }
        fill_shape(SO, "output", &mut outputs[0], &d)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let data = if self.name == SO { inputs[0] } else { inputs[1] };
        Ok(vec![float_dtype(self.name, data)?])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        let d = if self.name == SO { 0 } else { 1 };
        let Some(dt) = inputs[d].or(outputs[0]) else { return Ok(()) };
        for slot in inputs.iter_mut().chain(outputs.iter_mut()) {
            slot.get_or_insert(dt);
        }
        if let Some(o) = outputs[0]
            && o != dt
        {
            return Err(Error::dtype(self.name, o, format!("output dtype {o} differs from the data's {dt}")));
        }
        Ok(())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        dispatch!(float self.name, dt[0] => T, {
            if self.name == SO {
                let (_, n, inner) = self.layout(x[0].shape)?;
                Ok(vec![T::wrap(softmax_groups(ctx.par, x[0].typed::<T>(), n, inner))])
            } else {
                if x[0].dtype() != dt[0] {
                    return Err(Error::dtype(
                        self.name,
                        x[0].dtype(),
                        "output gradient dtype differs from the output's",
                    ));
                }
                let label = label_values(&x[2]);
                Ok(vec![T::wrap(self.backward(x[0].typed::<T>(), x[1].typed::<T>(), &out[0], &label, x[2].shape))])
            }
        })
    }
}

/// Gradient of SoftmaxOutput through the fused `_backward_SoftmaxOutput`: 0.003 ms vs 0.003 ms
/// (1.24x) composed on 128x10 (`y - one_hot(label)`, which also needs the class count, known
/// only from the shapes, and leaves out ignore_label and normalization) (examples/fused_backward.rs).
fn grad_softmax_output(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    Ok(vec![Some(b.apply("_backward_SoftmaxOutput", &[g[0], y[0], x[1]], attrs.clone())?), None])
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Reg {
    Linear,
    Logistic,
    Mae,
}

/// `*RegressionOutput(data, label)`: the identity (the sigmoid for logistic regression) whose
/// gradient is the loss's, built by [`grad_regression`].
#[derive(Debug)]
struct Regression {
    name: &'static str,
    kind: Reg,
}

impl Regression {
    fn default_label(d: &[usize]) -> Shape {
        if d.len() == 2 && d[1] == 1 { vec![d[0]] } else { d.to_vec() }
    }
    fn check_label(&self, d: &[usize], l: &[usize]) -> Result<()> {
        if d.is_empty() || l.is_empty() || d[0] != l[0] || size_of(d) != size_of(l) {
            return Err(Error::shape(
                self.name,
                format!(
                    "label shape {} does not match data shape {}: expected {}",
                    fmt_shape(l),
                    fmt_shape(d),
                    fmt_shape(&Self::default_label(d))
                ),
            ));
        }
        Ok(())
    }
}

impl Operator for Regression {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 2)?;
        self.check_label(&inputs[0], &inputs[1])?;
        Ok(vec![inputs[0].clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(self.name, inputs.len(), 2)?;
        let Some(d) = inputs[0].clone().or_else(|| outputs[0].clone()) else { return Ok(()) };
        fill_shape(self.name, "data", &mut inputs[0], &d)?;
        match &inputs[1] {
            Some(l) => self.check_label(&d, l)?,
            None => inputs[1] = Some(Self::default_label(&d)),
        }
        fill_shape(self.name, "output", &mut outputs[0], &d)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![float_dtype(self.name, inputs[0])?])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        let Some(dt) = inputs[0].or(outputs[0]) else { return Ok(()) };
        for slot in inputs.iter_mut().chain(outputs.iter_mut()) {
            slot.get_or_insert(dt);
        }
        Ok(())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        dispatch!(float self.name, dt[0] => T, {
            let v = x[0].typed::<T>();
            Ok(vec![T::wrap(match self.kind {
                Reg::Logistic => map1(ctx.par, v, |a| <T as Element>::one() / (<T as Element>::one() + (-a).exp())),
                _ => v.to_vec(),
            })])
        })
    }
}

/// `grad_scale` divided by the number of outputs per sample (`size / shape[0]`), times `x`:
/// `x` is divided by a per-sample count of ones (`sum(ones, exclude axis 0, keepdims)`).
fn per_sample_scaled(b: &mut dyn GradBuilder, x: NodeEntry, grad_scale: f64) -> Result<NodeEntry> {
    let ones = b.unary("ones_like", x)?;
    let per_sample =
        b.apply("sum", &[ones], Attrs::from_pairs([("axis", "0"), ("exclude", "True"), ("keepdims", "True")]))?;
    let scaled = b.binary("broadcast_div", x, per_sample)?;
    b.scalar_op("_mul_scalar", scaled, grad_scale)
}

/// The gradient of a regression head (output `y`, label `x[1]`): `(y - label)`, its sign for
/// MAE, times `grad_scale` over the outputs per sample; the label gets none.
fn grad_regression(kind: Reg, b: &mut dyn GradBuilder, attrs: &Attrs, x: &[NodeEntry], y: &[NodeEntry]) -> Grads {
    let grad_scale = attrs.float_or("RegressionOutput", "grad_scale", 1.0)?;
    let label = b.binary("reshape_like", x[1], y[0])?;
    let mut diff = b.binary("elemwise_sub", y[0], label)?;
    if kind == Reg::Mae {
        diff = b.unary("sign", diff)?;
    }
    Ok(vec![Some(per_sample_scaled(b, diff, grad_scale)?), None])
}

fn grad_linear(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    grad_regression(Reg::Linear, b, a, x, y)
}

fn grad_logistic(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    grad_regression(Reg::Logistic, b, a, x, y)
}

fn grad_mae(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    grad_regression(Reg::Mae, b, a, x, y)
}

/// MakeLoss: the identity, whose gradient is the constant `grad_scale` (over the batch size or
/// the count of outputs above `valid_thresh` with `normalization`), built by [`grad_make_loss`].
#[derive(Debug)]
struct MakeLoss;

impl Operator for MakeLoss {
    fn name(&self) -> &str {
        "MakeLoss"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary("MakeLoss", inputs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        same_shape_partial("MakeLoss", inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![x[0].to_storage()])
    }
}

fn grad_make_loss(b: &mut dyn GradBuilder, attrs: &Attrs, _: &[NodeEntry], y: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    let name = "MakeLoss";
    let ones = b.unary("ones_like", y[0])?;
    let scaled = b.scalar_op("_mul_scalar", ones, attrs.float_or(name, "grad_scale", 1.0)?)?;
    let count = match parse_norm(name, attrs)? {
        Norm::Null => return Ok(vec![Some(scaled)]),
        Norm::Batch => b.apply("sum", &[ones], Attrs::from_pairs([("axis", "0"), ("keepdims", "True")]))?,
        Norm::Valid => {
            let valid = b.scalar_op("_greater_scalar", y[0], attrs.float_or(name, "valid_thresh", 0.0)?)?;
            let n = b.unary("sum", valid)?;
            b.scalar_op("_maximum_scalar", n, 1.0)?
        }
    };
    Ok(vec![Some(b.binary("broadcast_div", scaled, count)?)])
}

/// BlockGrad: identity whose input gets no gradient.
#[derive(Debug)]
struct BlockGrad;

impl Operator for BlockGrad {
    fn name(&self) -> &str {
        "BlockGrad"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary("BlockGrad", inputs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        same_shape_partial("BlockGrad", inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![x[0].to_storage()])
    }
}

fn grad_block(
    _: &mut dyn GradBuilder,
    _: &Attrs,
    _: &[NodeEntry],
    _: &[NodeEntry],
    _: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    Ok(vec![None])
}

fn make_loss(a: &Attrs) -> Result<Box<dyn Operator>> {
    let name = "MakeLoss";
    a.check_known(name, &["grad_scale", "valid_thresh", "normalization"])?;
    a.float_or(name, "grad_scale", 1.0)?;
    a.float_or(name, "valid_thresh", 0.0)?;
    parse_norm(name, a)?;
    Ok(Box::new(MakeLoss))
}

pub(in crate::op) fn register(r: &mut Registry) {
    let sp = params!(
        "grad_scale" = Some("1.0"),
        "ignore_label" = Some("-1.0"),
        "multi_output" = Some("False"),
        "use_ignore" = Some("False"),
        "preserve_shape" = Some("False"),
        "normalization" = Some("'null'"),
        "out_grad" = Some("False"),
        "smooth_alpha" = Some("0.0")
    );
    r.add(SO, &["data", "label"], sp, "softmax output with a cross-entropy gradient", |a: &Attrs| {
        Ok(Box::new(SoftmaxOutput::parse(SO, a)?))
    });
    r.add(
        "_backward_SoftmaxOutput",
        &["ograd", "output", "label"],
        sp,
        "data gradient of SoftmaxOutput",
        |a: &Attrs| Ok(Box::new(SoftmaxOutput::parse("_backward_SoftmaxOutput", a)?)),
    );
    r.set_gradient(SO, grad_softmax_output);
    r.alias("Softmax", SO);

    let rp = params!("grad_scale" = Some("1.0"));
    for (name, kind, doc) in [
        ("LinearRegressionOutput", Reg::Linear, "identity with a squared-loss gradient"),
        ("LogisticRegressionOutput", Reg::Logistic, "sigmoid with a logistic-loss gradient"),
        ("MAERegressionOutput", Reg::Mae, "identity with an absolute-loss gradient"),
    ] {
        r.add(name, &["data", "label"], rp, doc, move |a: &Attrs| {
            a.check_known(name, &["grad_scale"])?;
            a.float_or(name, "grad_scale", 1.0)?;
            Ok(Box::new(Regression { name, kind }))
        });
    }
    r.set_gradient("LinearRegressionOutput", grad_linear);
    r.set_gradient("LogisticRegressionOutput", grad_logistic);
    r.set_gradient("MAERegressionOutput", grad_mae);

    let mp = params!("grad_scale" = Some("1.0"), "valid_thresh" = Some("0.0"), "normalization" = Some("'null'"));
    r.add("MakeLoss", &["data"], mp, "identity whose gradient is grad_scale (a custom loss head)", make_loss);
    r.set_gradient("MakeLoss", grad_make_loss);

    r.add("BlockGrad", &["data"], params!(), "identity that stops gradients", |a: &Attrs| {
        a.check_known("BlockGrad", &[])?;
        Ok(Box::new(BlockGrad))
    });
    r.set_gradient("BlockGrad", grad_block);
    r.alias("stop_gradient", "BlockGrad");
}
