//! BatchNorm over the channel `axis`, with the moving averages as auxiliary states.
//!
//! In training (unless `use_global_stats`) the batch mean and biased variance normalise the
//! data and the moving averages become `moving * momentum + batch * (1 - momentum)`; otherwise
//! the moving averages normalise and stay unchanged. As in MXNet 1.9.1 on CPU, the hidden
//! outputs are the mean used and the inverse standard deviation `1 / sqrt(var + eps)` (what
//! `output_mean_var=True` shows as `var`).

use rayon::prelude::*;

use super::{Real, c, expect_shape, fill_dtype, fill_shape};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::shape::{Shape, norm_axis, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};
#[allow(unused_imports)]
use num_traits::Float as _;

const NAME: &str = "BatchNorm";
const BACK: &str = "_backward_BatchNorm";
const PARAMS: &[&str] = &[
    "eps",
    "momentum",
    "fix_gamma",
    "use_global_stats",
    "output_mean_var",
    "axis",
    "cudnn_off",
    "min_calib_range",
    "max_calib_range",
];

#[derive(Debug, Clone)]
struct BatchNorm {
    name: &'static str,
    eps: f64,
    momentum: f64,
    fix_gamma: bool,
    use_global_stats: bool,
    output_mean_var: bool,
    axis: i64,
}

/// Per-channel float64 sums over a row-major (outer, ch, inner) block.
fn channel_sums<T: Real>(v: &[T], ch: usize, inner: usize, f: impl Fn(usize, T) -> f64) -> Vec<f64> {
    let mut acc = vec![0f64; ch];
    for block in v.chunks_exact(ch * inner) {
        for (k, a) in acc.iter_mut().enumerate() {
            *a += block[k * inner..(k + 1) * inner].iter().map(|&x| f(k, x)).sum::<f64>();
        }
    }
    acc
}

impl BatchNorm {
    fn parse(name: &'static str, a: &Attrs) -> Result<BatchNorm> {
        a.check_known(name, PARAMS)?;
        Ok(BatchNorm {
            name,
            eps: a.float_or(name, "eps", 1e-3)?,
            momentum: a.float_or(name, "momentum", 0.9)?,
            fix_gamma: a.bool_or(name, "fix_gamma", true)?,
            use_global_stats: a.bool_or(name, "use_global_stats", false)?,
            output_mean_var: a.bool_or(name, "output_mean_var", false)?,
            axis: a.int_or(name, "axis", 1)?,
        })
    }

    /// (outer, channels, inner) of the data around the channel axis.
    fn layout(&self, s: &[usize]) -> Result<(usize, usize, usize)> {
        let ax = norm_axis(self.name, self.axis, s.len())?;
        Ok((size_of(&s[..ax]), s[ax], size_of(&s[ax + 1..])))
    }

    /// The dtype of gamma, beta and the moving averages for `data`'s dtype.
    fn param_dtype(d: DType) -> DType {
        if matches!(d, DType::F16 | DType::BF16) { DType::F32 } else { d }
    }

    fn batch_stats(&self, is_train: bool) -> bool {
        is_train && !self.use_global_stats
    }
}

fn values(t: &TensorIn<'_>) -> Vec<f64> {
    crate::dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|x| x.to_f64()).collect() })
}

fn wrap_as(dt: DType, v: Vec<f64>) -> CpuStorage {
    crate::dispatch!(dtype dt => T, { <T as crate::storage::StorageElement>::wrap(v.into_iter().map(T::from_f64).collect()) })
}

impl Operator for BatchNorm {
    fn name(&self) -> &str {
        self.name
    }
    fn num_outputs(&self) -> usize {
        3
    }
    fn num_visible_outputs(&self) -> usize {
        if self.output_mean_var { 3 } else { 1 }
    }
    fn output_names(&self) -> Vec<String> {
        vec!["output".into(), "mean".into(), "var".into()]
    }
    fn num_aux(&self) -> usize {
        2
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        vec![3, 4]
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(NAME, inputs.len(), 5)?;
        let (_, ch, _) = self.layout(&inputs[0])?;
        for (i, what) in ["gamma", "beta", "moving_mean", "moving_var"].iter().enumerate() {
            expect_shape(NAME, what, &inputs[i + 1], &[ch])?;
        }
        Ok(vec![inputs[0].clone(), vec![ch], vec![ch]])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(NAME, inputs.len(), 5)?;
        let Some(d) = inputs[0].clone().or_else(|| outputs[0].clone()) else { return Ok(()) };
        fill_shape(NAME, "data", &mut inputs[0], &d)?;
        let (_, ch, _) = self.layout(&d)?;
        for (i, what) in ["gamma", "beta", "moving_mean", "moving_var"].iter().enumerate() {
            fill_shape(NAME, what, &mut inputs[i + 1], &[ch])?;
        }
        fill_shape(NAME, "output", &mut outputs[0], &d)?;
        fill_shape(NAME, "mean", &mut outputs[1], &[ch])?;
        fill_shape(NAME, "var", &mut outputs[2], &[ch])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        expect_inputs(NAME, inputs.len(), 5)?;
        let d = super::float_dtype(NAME, inputs[0])?;
        let p = Self::param_dtype(d);
        for (i, what) in ["gamma", "beta", "moving_mean", "moving_var"].iter().enumerate() {
            if inputs[i + 1] != p {
                return Err(Error::dtype(
                    NAME,
                    inputs[i + 1],
                    format!("{what} has dtype {} but data of dtype {d} needs {p}", inputs[i + 1]),
                ));
            }
        }
        Ok(vec![d, p, p])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        let Some(d) = inputs[0].or(outputs[0]) else { return Ok(()) };
        let p = Self::param_dtype(d);
        fill_dtype(NAME, "data", &mut inputs[0], d)?;
        for (i, what) in ["gamma", "beta", "moving_mean", "moving_var"].iter().enumerate() {
            fill_dtype(NAME, what, &mut inputs[i + 1], p)?;
        }
        fill_dtype(NAME, "output", &mut outputs[0], d)?;
        fill_dtype(NAME, "mean", &mut outputs[1], p)?;
        fill_dtype(NAME, "var", &mut outputs[2], p)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (outer, ch, inner) = self.layout(x[0].shape)?;
        let m = (outer * inner) as f64;
        let (gamma, beta) = (values(&x[1]), values(&x[2]));
        let (mm, mv) = (values(&x[3]), values(&x[4]));
        let pdt = dt[1];
        dispatch!(float NAME, dt[0] => T, {
            let v = x[0].typed::<T>();
            let (mean, var) = if self.batch_stats(ctx.is_train) {
                let mean: Vec<f64> = channel_sums(v, ch, inner, |_, a| a.to_f64()).iter().map(|s| s / m).collect();
                let var: Vec<f64> =
                    channel_sums(v, ch, inner, |k, a| (a.to_f64() - mean[k]).powi(2)).iter().map(|s| s / m).collect();
                (mean, var)
            } else {
                (mm.clone(), mv.clone())
            };
            let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
            // out = x * scale + shift per channel.
            let scale: Vec<T> = (0..ch).map(|k| c(if self.fix_gamma { 1.0 } else { gamma[k] } * invstd[k])).collect();
            let shift: Vec<T> = (0..ch).map(|k| c(beta[k] - mean[k] * scale[k].to_f64())).collect();
            let mut out = vec![<T as Element>::zero(); v.len()];
            // One channel block of `inner` elements at a time, split over rayon for large data.
            let body = |(j, (o, a)): (usize, (&mut [T], &[T]))| {
                let (s, b) = (scale[j % ch], shift[j % ch]);
                for (o, &a) in o.iter_mut().zip(a) {
                    *o = a * s + b;
                }
            };
            if inner > 0 && ctx.par.split(v.len()) {
                out.par_chunks_mut(inner).zip(v.par_chunks(inner)).enumerate().for_each(body);
            } else if inner > 0 {
                out.chunks_mut(inner).zip(v.chunks(inner)).enumerate().for_each(body);
            }
            let (new_mm, new_mv) = if self.batch_stats(ctx.is_train) {
                let mo = self.momentum;
                (
                    mm.iter().zip(&mean).map(|(a, b)| a * mo + b * (1.0 - mo)).collect(),
                    mv.iter().zip(&var).map(|(a, b)| a * mo + b * (1.0 - mo)).collect(),
                )
            } else {
                (mm, mv)
            };
            Ok(vec![T::wrap(out), wrap_as(pdt, mean), wrap_as(pdt, invstd), wrap_as(pdt, new_mm), wrap_as(pdt, new_mv)])
        })
    }
}

/// `_backward_BatchNorm(out_grad, data, gamma, mean, invstd)` → data, gamma and beta gradients.
/// The data gradient goes through the batch statistics when they were used (training without
/// `use_global_stats`), else the statistics are constants.
#[derive(Debug)]
struct BatchNormBackward(BatchNorm);

impl Operator for BatchNormBackward {
    fn name(&self) -> &str {
        BACK
    }
    fn num_outputs(&self) -> usize {
        3
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(BACK, inputs.len(), 5)?;
        expect_shape(BACK, "output gradient", &inputs[0], &inputs[1])?;
        let (_, ch, _) = self.0.layout(&inputs[1])?;
        for (i, what) in ["gamma", "mean", "invstd"].iter().enumerate() {
            expect_shape(BACK, what, &inputs[i + 2], &[ch])?;
        }
        Ok(vec![inputs[1].clone(), vec![ch], vec![ch]])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let p = BatchNorm::param_dtype(inputs[1]);
        Ok(vec![inputs[1], p, p])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (outer, ch, inner) = self.0.layout(x[1].shape)?;
        let m = (outer * inner) as f64;
        let gamma: Vec<f64> = if self.0.fix_gamma { vec![1.0; ch] } else { values(&x[2]) };
        let (mean, invstd) = (values(&x[3]), values(&x[4]));
        let batch = self.0.batch_stats(ctx.is_train);
        dispatch!(float BACK, dt[0] => T, {
            let (g, v) = (x[0].typed::<T>(), x[1].typed::<T>());
            let dbeta = channel_sums(g, ch, inner, |_, a| a.to_f64());
            // sum(g * xhat) per channel, with xhat = (x - mean) * invstd.
            let mut gx = vec![0f64; ch];
            for (gb, vb) in g.chunks_exact(ch * inner).zip(v.chunks_exact(ch * inner)) {
                for k in 0..ch {
                    let r = k * inner..(k + 1) * inner;
                    gx[k] += gb[r.clone()]
                        .iter()
                        .zip(&vb[r])
                        .map(|(&a, &b)| a.to_f64() * (b.to_f64() - mean[k]))
                        .sum::<f64>()
                        * invstd[k];
                }
            }
            let mut dx = vec![<T as Element>::zero(); v.len()];
            for ((db, gb), vb) in
                dx.chunks_exact_mut(ch * inner).zip(g.chunks_exact(ch * inner)).zip(v.chunks_exact(ch * inner))
            {
                for k in 0..ch {
                    let gs = gamma[k] * invstd[k];
                    let r = k * inner..(k + 1) * inner;
                    if batch {
                        // gamma*invstd * (g - mean(g) - xhat * mean(g*xhat))
                        let (mg, mgx) = (dbeta[k] / m, gx[k] / m);
                        for ((o, &a), &b) in db[r.clone()].iter_mut().zip(&gb[r.clone()]).zip(&vb[r]) {
                            let xhat = (b.to_f64() - mean[k]) * invstd[k];
                            *o = c(gs * (a.to_f64() - mg - xhat * mgx));
                        }
                    } else {
                        let s = c::<T>(gs);
                        for (o, &a) in db[r.clone()].iter_mut().zip(&gb[r]) {
                            *o = a * s;
                        }
                    }
                }
            }
            let dgamma = if self.0.fix_gamma { vec![0.0; ch] } else { gx };
            Ok(vec![T::wrap(dx), wrap_as(dt[1], dgamma), wrap_as(dt[2], dbeta)])
        })
    }
}

/// Gradient of BatchNorm through the fused `_backward_BatchNorm`: 0.63 ms vs 3.10 ms composed
/// (16 broadcast and reduce ops) on 32x16x28x28 in training (examples/fused_backward.rs).
fn grad_batch_norm(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let r = b.op(BACK, &[g[0], x[0], x[1], y[1], y[2]], attrs.clone())?;
    Ok(vec![Some(r[0]), Some(r[1]), Some(r[2]), None, None])
}

pub(in crate::op) fn register(r: &mut Registry) {
    let p = params!(
        "eps" = Some("0.001"),
        "momentum" = Some("0.9"),
        "fix_gamma" = Some("True"),
        "use_global_stats" = Some("False"),
        "output_mean_var" = Some("False"),
        "axis" = Some("1"),
        "cudnn_off" = Some("False"),
        "min_calib_range" = Some("None"),
        "max_calib_range" = Some("None")
    );
    r.add(
        NAME,
        &["data", "gamma", "beta", "moving_mean", "moving_var"],
        p,
        "batch normalization over the channel axis",
        |a: &Attrs| Ok(Box::new(BatchNorm::parse(NAME, a)?)),
    );
    r.add(BACK, &["ograd", "data", "gamma", "mean", "var"], p, "gradients of BatchNorm", |a: &Attrs| {
        Ok(Box::new(BatchNormBackward(BatchNorm::parse(BACK, a)?)))
    });
    r.set_gradient(NAME, grad_batch_norm);
}
