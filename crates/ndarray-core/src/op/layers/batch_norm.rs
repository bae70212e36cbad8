//! BatchNorm over the channel `axis`, with the moving averages as auxiliary states.
//!
//! In training (unless `use_global_stats`) the batch mean and biased variance normalise the
//! data and the moving averages become `moving * momentum + batch * (1 - momentum)`; otherwise
//! the moving averages normalise and stay unchanged. As in MXNet 1.9.1 on CPU, the hidden
//! outputs are the mean used and the inverse standard deviation `1 / sqrt(var + eps)` (what
//! `output_mean_var=True` shows as `var`).

use rayon::prelude::*;

use super::{Real, c, expect_shape, fill_dtype, fill_shape};
use crate::backend::cpu::elemwise::{BinaryKind, UnaryKind};
use crate::backend::device::{self, DeviceStorage, ReduceOp};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::DevIn;
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

/// Lanes of the float64 partial sums: independent accumulators that LLVM keeps in vector
/// registers, so that the conversions to float64 and the adds vectorise instead of forming one
/// serial dependency chain.
const LANES: usize = 8;

/// Adds `f(a)` over `v` into the [`LANES`] float64 partial sums `acc` (a channel's runs add
/// into one `acc`, folded once at the end: short runs then cost no fold each).
#[inline(always)]
fn lane_add<T: Real>(acc: &mut [f64; LANES], v: &[T], f: impl Fn(f64) -> f64) {
    let chunks = v.chunks_exact(LANES);
    for (s, &a) in acc.iter_mut().zip(chunks.remainder()) {
        *s += f(a.to_f64());
    }
    for chunk in chunks {
        let chunk: &[T; LANES] = chunk.try_into().expect("chunks_exact gives LANES elements");
        for (s, &a) in acc.iter_mut().zip(chunk) {
            *s += f(a.to_f64());
        }
    }
}

/// [`lane_add`] of `f(a, b)` over paired slices.
#[inline(always)]
fn lane_add2<T: Real>(acc: &mut [f64; LANES], u: &[T], v: &[T], f: impl Fn(f64, f64) -> f64) {
    let (uc, vc) = (u.chunks_exact(LANES), v.chunks_exact(LANES));
    for ((s, &a), &b) in acc.iter_mut().zip(uc.remainder()).zip(vc.remainder()) {
        *s += f(a.to_f64(), b.to_f64());
    }
    for (uk, vk) in uc.zip(vc) {
        let uk: &[T; LANES] = uk.try_into().expect("chunks_exact gives LANES elements");
        let vk: &[T; LANES] = vk.try_into().expect("chunks_exact gives LANES elements");
        for ((s, &a), &b) in acc.iter_mut().zip(uk).zip(vk) {
            *s += f(a.to_f64(), b.to_f64());
        }
    }
}

/// The float64 sum of `f(a)` over a channel's runs, in [`LANES`] partial sums.
#[inline(always)]
fn runs_sum<'a, T: Real>(runs: impl Iterator<Item = &'a [T]>, f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    runs.for_each(|r| lane_add(&mut acc, r, &f));
    acc.iter().sum()
}

/// Adds `g` and `g * (x - mean)` over paired slices into `sg` and `sgx`, in one pass over
/// memory: both per block of 1024 elements, the second over the block still in L1 (one loop
/// with both sums gets vectorised across the two sums instead of across the lanes).
#[inline(always)]
fn grad_add<T: Real>(sg: &mut [f64; LANES], sgx: &mut [f64; LANES], g: &[T], x: &[T], mean: f64) {
    for (gb, xb) in g.chunks(1024).zip(x.chunks(1024)) {
        lane_add(sg, gb, |a| a);
        lane_add2(sgx, gb, xb, |a, b| a * (b - mean));
    }
}

/// The runs of `inner` elements of channel `k` in a row-major (outer, ch, inner) block:
/// `outer` contiguous runs, `ch * inner` apart.
fn runs<T>(v: &[T], ch: usize, inner: usize, k: usize) -> impl Iterator<Item = &[T]> {
    let outer = v.len().checked_div(ch * inner).unwrap_or(0);
    (0..outer).map(move |o| &v[(o * ch + k) * inner..(o * ch + k + 1) * inner])
}

/// [`runs`] of every channel as disjoint mutable slices: entry `k` holds channel `k`'s runs in
/// order, so that the channels can write their parts of one buffer in parallel.
fn runs_mut<T>(v: &mut [T], ch: usize, inner: usize) -> Vec<Vec<&mut [T]>> {
    let per = v.len().checked_div(ch * inner).unwrap_or(0);
    let mut groups: Vec<Vec<&mut [T]>> = (0..ch).map(|_| Vec::with_capacity(per)).collect();
    if inner > 0 {
        for (j, r) in v.chunks_mut(inner).enumerate() {
            groups[j % ch].push(r);
        }
    }
    groups
}

/// `f(k, item)` for each channel `k` and its item, over rayon's pool when `par`; the results in
/// channel order.
fn per_channel<I: Send, R: Send>(items: Vec<I>, par: bool, f: impl Fn(usize, I) -> R + Sync + Send) -> Vec<R> {
    if par {
        items.into_par_iter().enumerate().map(|(k, i)| f(k, i)).collect()
    } else {
        items.into_iter().enumerate().map(|(k, i)| f(k, i)).collect()
    }
}

/// What the kernels share: the (outer, ch, inner) layout, the count `m` of a channel's elements
/// and whether batch statistics are used.
#[derive(Clone, Copy)]
struct Plan {
    ch: usize,
    inner: usize,
    m: f64,
    batch: bool,
}

/// BatchNorm forward of channel `k` of `v` into its runs `outs`, with `p` = (gamma, beta,
/// moving mean, moving variance) of the channel: the batch mean, the biased variance in a second
/// pass (over data still in L2), then out = x * scale + shift. Returns (mean, var, invstd).
#[inline(always)]
fn forward_channel<T: Real>(
    job: Plan,
    k: usize,
    eps: f64,
    p: [f64; 4],
    v: &[T],
    outs: Vec<&mut [T]>,
) -> (f64, f64, f64) {
    let Plan { ch, inner, m, batch } = job;
    let (mean, var) = if batch {
        let mean = runs_sum(runs(v, ch, inner, k), |a| a) / m;
        (mean, runs_sum(runs(v, ch, inner, k), |a| (a - mean) * (a - mean)) / m)
    } else {
        (p[2], p[3])
    };
    let invstd = 1.0 / (var + eps).sqrt();
    let scale: T = c(p[0] * invstd);
    let shift: T = c(p[1] - mean * scale.to_f64());
    for (o, a) in outs.into_iter().zip(runs(v, ch, inner, k)) {
        for (o, &a) in o.iter_mut().zip(a) {
            *o = a * scale + shift;
        }
    }
    (mean, var, invstd)
}

/// BatchNorm backward of channel `k` (output gradient `g`, data `v`) into its runs `dxs` of
/// the data gradient, with `p` = (gamma, mean, invstd) of the channel: sum(g) and
/// sum(g * (x - mean)) in one pass, then dx over the same (L2-hot) data. Returns
/// (sum(g * xhat), sum(g)), the gamma and beta gradients.
#[inline(always)]
fn backward_channel<T: Real>(job: Plan, k: usize, p: [f64; 3], g: &[T], v: &[T], dxs: Vec<&mut [T]>) -> (f64, f64) {
    let Plan { ch, inner, m, batch } = job;
    let [gamma, mean, invstd] = p;
    let (mut sgl, mut sgxl) = ([0f64; LANES], [0f64; LANES]);
    for (a, b) in runs(g, ch, inner, k).zip(runs(v, ch, inner, k)) {
        grad_add(&mut sgl, &mut sgxl, a, b, mean);
    }
    let (sg, sgx) = (sgl.iter().sum::<f64>(), sgxl.iter().sum::<f64>());
    // sum(g * xhat), with xhat = (x - mean) * invstd.
    let gx = sgx * invstd;
    let gs = gamma * invstd;
    let data = runs(g, ch, inner, k).zip(runs(v, ch, inner, k));
    if batch {
        // gamma*invstd * (g - mean(g) - xhat * mean(g*xhat))
        let (mg, xs) = (sg / m, gs * invstd * (gx / m));
        for (o, (gr, vr)) in dxs.into_iter().zip(data) {
            for ((o, &a), &b) in o.iter_mut().zip(gr).zip(vr) {
                *o = c(gs * (a.to_f64() - mg) - (b.to_f64() - mean) * xs);
            }
        }
    } else {
        let s = c::<T>(gs);
        for (o, (gr, _)) in dxs.into_iter().zip(data) {
            for (o, &a) in o.iter_mut().zip(gr) {
                *o = a * s;
            }
        }
    }
    (gx, sg)
}

/// Whether the CPU has AVX2, for the channel kernels: compiled for it they run 4 float64 lanes
/// per instruction instead of SSE2's 2, with the same operations in the same order (Rust never
/// fuses a multiply and an add), so with the same results.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// [`forward_channel`], compiled for AVX2 where the CPU has it.
fn forward_best<T: Real>(job: Plan, k: usize, eps: f64, p: [f64; 4], v: &[T], outs: Vec<&mut [T]>) -> (f64, f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        #[target_feature(enable = "avx2")]
        fn avx2<T: Real>(job: Plan, k: usize, eps: f64, p: [f64; 4], v: &[T], outs: Vec<&mut [T]>) -> (f64, f64, f64) {
            forward_channel(job, k, eps, p, v, outs)
        }
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2(job, k, eps, p, v, outs) };
    }
    forward_channel(job, k, eps, p, v, outs)
}

/// [`backward_channel`], compiled for AVX2 where the CPU has it.
fn backward_best<T: Real>(job: Plan, k: usize, p: [f64; 3], g: &[T], v: &[T], dxs: Vec<&mut [T]>) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        #[target_feature(enable = "avx2")]
        fn avx2<T: Real>(job: Plan, k: usize, p: [f64; 3], g: &[T], v: &[T], dxs: Vec<&mut [T]>) -> (f64, f64) {
            backward_channel(job, k, p, g, v, dxs)
        }
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2(job, k, p, g, v, dxs) };
    }
    backward_channel(job, k, p, g, v, dxs)
}

/// Channels with runs shorter than this take the row-wise kernels ([`forward_rows`],
/// [`backward_rows`]): the lane sums need long runs, and channels-last data has runs of 1.
const SHORT_RUN: usize = LANES;

/// Elements per block of rows of width `w` in the row-wise kernels: about 16 Ki, at least a row.
fn row_block(w: usize) -> usize {
    w * (16384 / w).max(1)
}

/// Float64 sums per channel of `f(u, v, at[channel])` over (outer, ch, inner) blocks `u` and
/// `v`: sums per position of a row (contiguous, vectorised across the positions) over fixed
/// blocks of rows (over rayon when `par`), added in order, so the result does not depend on
/// `par`. Needs `ch * inner > 0`.
fn row_sums<T: Real>(
    u: &[T],
    v: &[T],
    pl: Plan,
    at: &[f64],
    par: bool,
    f: impl Fn(f64, f64, f64) -> f64 + Sync,
) -> Vec<f64> {
    let w = pl.ch * pl.inner;
    let at: Vec<f64> = (0..w).map(|j| at[j / pl.inner]).collect();
    let part = |(bu, bv): (&[T], &[T])| {
        let mut acc = vec![0f64; w];
        for (ru, rv) in bu.chunks_exact(w).zip(bv.chunks_exact(w)) {
            for (((s, &a), &b), &c) in acc.iter_mut().zip(ru).zip(rv).zip(&at) {
                *s += f(a.to_f64(), b.to_f64(), c);
            }
        }
        acc
    };
    let b = row_block(w);
    let parts: Vec<Vec<f64>> = if par {
        u.par_chunks(b).zip(v.par_chunks(b)).map(part).collect()
    } else {
        u.chunks(b).zip(v.chunks(b)).map(part).collect()
    };
    let mut total = vec![0f64; w];
    for p in parts {
        total.iter_mut().zip(p).for_each(|(t, p)| *t += p);
    }
    total.chunks(pl.inner).map(|c| c.iter().sum()).collect()
}

/// `out[r, j] = f(&pos[j], u[r, j], v[r, j])` over the rows of width `pos.len()` (> 0), in
/// blocks of rows over rayon when `par`.
fn map_rows<T: Real, P: Sync>(out: &mut [T], u: &[T], v: &[T], pos: &[P], par: bool, f: impl Fn(&P, T, T) -> T + Sync) {
    let w = pos.len();
    let body = |((o, a), b): ((&mut [T], &[T]), &[T])| {
        for ((o, a), b) in o.chunks_exact_mut(w).zip(a.chunks_exact(w)).zip(b.chunks_exact(w)) {
            for (((o, &a), &b), p) in o.iter_mut().zip(a).zip(b).zip(pos) {
                *o = f(p, a, b);
            }
        }
    };
    let bl = row_block(w);
    if par {
        out.par_chunks_mut(bl).zip(u.par_chunks(bl)).zip(v.par_chunks(bl)).for_each(body);
    } else {
        out.chunks_mut(bl).zip(u.chunks(bl)).zip(v.chunks(bl)).for_each(body);
    }
}

/// [`forward_channel`] for all channels at once, row by row, for short channel runs; `p` =
/// (gamma, beta, moving mean, moving variance) per channel. Returns (mean, var, invstd) per channel.
fn forward_rows<T: Real>(
    v: &[T],
    out: &mut [T],
    pl: Plan,
    eps: f64,
    p: [&[f64]; 4],
    par: bool,
) -> Vec<(f64, f64, f64)> {
    let (mean, var): (Vec<f64>, Vec<f64>) = if pl.batch {
        let mean: Vec<f64> = row_sums(v, v, pl, &vec![0.0; pl.ch], par, |a, _, _| a).iter().map(|s| s / pl.m).collect();
        let var = row_sums(v, v, pl, &mean, par, |a, _, mu| (a - mu) * (a - mu)).iter().map(|s| s / pl.m).collect();
        (mean, var)
    } else {
        (p[2].to_vec(), p[3].to_vec())
    };
    let stats: Vec<(f64, f64, f64)> =
        mean.iter().zip(&var).map(|(&mu, &va)| (mu, va, 1.0 / (va + eps).sqrt())).collect();
    let pos: Vec<(T, T)> = (0..pl.ch * pl.inner)
        .map(|j| {
            let (k, (mu, _, invstd)) = (j / pl.inner, stats[j / pl.inner]);
            let scale: T = c(p[0][k] * invstd);
            (scale, c(p[1][k] - mu * scale.to_f64()))
        })
        .collect();
    map_rows(out, v, v, &pos, par, |&(s, b), a, _| a * s + b);
    stats
}

/// [`backward_channel`] for all channels at once, row by row, for short channel runs; `p` =
/// (gamma, mean, invstd) per channel. Returns (sum(g * xhat), sum(g)) per channel.
fn backward_rows<T: Real>(g: &[T], v: &[T], dx: &mut [T], pl: Plan, p: [&[f64]; 3], par: bool) -> Vec<(f64, f64)> {
    let [gamma, mean, invstd] = p;
    let sg = row_sums(g, g, pl, &vec![0.0; pl.ch], par, |a, _, _| a);
    let sgx = row_sums(g, v, pl, mean, par, |a, b, mu| a * (b - mu));
    let sums: Vec<(f64, f64)> = (0..pl.ch).map(|k| (sgx[k] * invstd[k], sg[k])).collect();
    // Per position: gamma*invstd, mean(g), mean and gamma*invstd^2*mean(g*xhat) of its channel.
    let pos: Vec<[f64; 4]> = (0..pl.ch * pl.inner)
        .map(|j| {
            let k = j / pl.inner;
            let gs = gamma[k] * invstd[k];
            [gs, sg[k] / pl.m, mean[k], gs * invstd[k] * (sums[k].0 / pl.m)]
        })
        .collect();
    if pl.batch {
        map_rows(dx, g, v, &pos, par, |q, a, b| c(q[0] * (a.to_f64() - q[1]) - (b.to_f64() - q[2]) * q[3]));
    } else {
        let s: Vec<T> = pos.iter().map(|q| c(q[0])).collect();
        map_rows(dx, g, g, &s, par, |&s, a, _| a * s);
    }
    sums
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
    fn forward_device(
        &self,
        ctx: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let batch = self.batch_stats(ctx.is_train);
        device_forward(self, batch, x)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (outer, ch, inner) = self.layout(x[0].shape)?;
        let m = (outer * inner) as f64;
        let (gamma, beta) = (values(&x[1]), values(&x[2]));
        let (mm, mv) = (values(&x[3]), values(&x[4]));
        let (pdt, batch, eps) = (dt[1], self.batch_stats(ctx.is_train), self.eps);
        dispatch!(float NAME, dt[0] => T, {
            let v = x[0].typed::<T>();
            let mut out: Vec<T> = crate::pool::alloc(v.len());
            let (pl, par) = (Plan { ch, inner, m, batch }, ctx.par.split(v.len()));
            let stats = if inner > 0 && inner < SHORT_RUN && !v.is_empty() {
                let g1 = if self.fix_gamma { vec![1.0; ch] } else { gamma };
                forward_rows(v, &mut out, pl, eps, [&g1, &beta, &mm, &mv], par)
            } else {
                // One channel at a time, the channels over rayon for large data.
                per_channel(runs_mut(&mut out, ch, inner), par, |k, outs| {
                    let p = [if self.fix_gamma { 1.0 } else { gamma[k] }, beta[k], mm[k], mv[k]];
                    forward_best(pl, k, eps, p, v, outs)
                })
            };
            let mean: Vec<f64> = stats.iter().map(|s| s.0).collect();
            let invstd: Vec<f64> = stats.iter().map(|s| s.2).collect();
            let (new_mm, new_mv) = if batch {
                let mo = self.momentum;
                (
                    mm.iter().zip(&stats).map(|(a, s)| a * mo + s.0 * (1.0 - mo)).collect(),
                    mv.iter().zip(&stats).map(|(a, s)| a * mo + s.1 * (1.0 - mo)).collect(),
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
            let mut dx: Vec<T> = crate::pool::alloc(v.len());
            let (pl, par) = (Plan { ch, inner, m, batch }, ctx.par.split(v.len()));
            let sums = if inner > 0 && inner < SHORT_RUN && !v.is_empty() {
                backward_rows(g, v, &mut dx, pl, [&gamma, &mean, &invstd], par)
            } else {
                // One channel at a time, the channels over rayon for large data.
                per_channel(runs_mut(&mut dx, ch, inner), par, |k, dxs| {
                    backward_best(pl, k, [gamma[k], mean[k], invstd[k]], g, v, dxs)
                })
            };
            let dgamma = if self.0.fix_gamma { vec![0.0; ch] } else { sums.iter().map(|s| s.0).collect() };
            let dbeta = sums.iter().map(|s| s.1).collect();
            Ok(vec![T::wrap(dx), wrap_as(dt[1], dgamma), wrap_as(dt[2], dbeta)])
        })
    }
    fn forward_device(
        &self,
        ctx: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let batch = self.0.batch_stats(ctx.is_train);
        device_backward(&self.0, batch, x)
    }
}

/// The result of a device primitive, or `Ok(None)` from the enclosing function when the
/// primitive has no kernel for it (the op then runs on the host).
macro_rules! dev {
    ($e:expr) => {
        match $e? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

/// A whole device storage viewed with `shape`.
fn view<'a>(s: &'a DeviceStorage, shape: &'a [usize]) -> DevIn<'a> {
    DevIn { data: s, offset: 0, shape }
}

/// BatchNorm on a device, composed of the backend's primitives: the per-channel statistics are
/// reductions over the (outer, inner) axes of the data seen as (outer, channels, inner), the
/// normalisation is broadcast arithmetic per channel. Data and parameters must share a dtype
/// (float16 data has float32 parameters: that case runs on the host).
fn device_forward(bn: &BatchNorm, batch: bool, x: &[DevIn<'_>]) -> Result<Option<Vec<DeviceStorage>>> {
    use BinaryKind::{Add, Div, Mul, Sub};
    if x.iter().any(|t| t.dtype() != x[0].dtype()) {
        return Ok(None);
    }
    let (outer, ch, inner) = bn.layout(x[0].shape)?;
    let m = (outer * inner) as f64;
    let (s3, c3, c1) = ([outer, ch, inner], [1, ch, 1], [ch]);
    let data = DevIn { data: x[0].data, offset: x[0].offset, shape: &s3 };
    let red = [true, false, true];
    let (mean, var) = if batch {
        let mean = dev!(device::reduce(ReduceOp::Sum, data, &red, 1.0 / m));
        let d = dev!(device::binary(Sub, data, view(&mean, &c3), &s3));
        let d2 = dev!(device::binary(Mul, view(&d, &s3), view(&d, &s3), &s3));
        (mean, dev!(device::reduce(ReduceOp::Sum, view(&d2, &s3), &red, 1.0 / m)))
    } else {
        (dev!(device::cast(x[3], x[3].dtype())), dev!(device::cast(x[4], x[4].dtype())))
    };
    // invstd = 1 / sqrt(var + eps); out = x * scale + shift per channel.
    let ve = dev!(device::scalar(Add, view(&var, &c1), bn.eps, false));
    let sd = dev!(device::unary(UnaryKind::Sqrt, view(&ve, &c1)));
    let invstd = dev!(device::scalar(Div, view(&sd, &c1), 1.0, true));
    let scale = if bn.fix_gamma {
        dev!(device::cast(view(&invstd, &c1), x[0].dtype()))
    } else {
        dev!(device::binary(Mul, x[1], view(&invstd, &c1), &c1))
    };
    let ms = dev!(device::binary(Mul, view(&mean, &c1), view(&scale, &c1), &c1));
    let shift = dev!(device::binary(Sub, x[2], view(&ms, &c1), &c1));
    let xs = dev!(device::binary(Mul, data, view(&scale, &c3), &s3));
    let out = dev!(device::binary(Add, view(&xs, &s3), view(&shift, &c3), &s3));
    // The moving averages: moving * momentum + batch * (1 - momentum), or unchanged.
    let moving = |old: DevIn<'_>, new: &DeviceStorage| -> Result<Option<DeviceStorage>> {
        if !batch {
            return device::cast(old, old.dtype());
        }
        let a = dev!(device::scalar(Mul, old, bn.momentum, false));
        let b = dev!(device::scalar(Mul, view(new, &c1), 1.0 - bn.momentum, false));
        device::binary(Add, view(&a, &c1), view(&b, &c1), &c1)
    };
    let new_mm = dev!(moving(x[3], &mean));
    let new_mv = dev!(moving(x[4], &var));
    Ok(Some(vec![out, mean, invstd, new_mm, new_mv]))
}

/// `_backward_BatchNorm` on a device (inputs: out_grad, data, gamma, mean, invstd), composed as
/// [`device_forward`] is, with the host kernel's formulas.
fn device_backward(bn: &BatchNorm, batch: bool, x: &[DevIn<'_>]) -> Result<Option<Vec<DeviceStorage>>> {
    use BinaryKind::{Div, Mul, Sub};
    if x.iter().any(|t| t.dtype() != x[0].dtype()) {
        return Ok(None);
    }
    let (outer, ch, inner) = bn.layout(x[1].shape)?;
    let m = (outer * inner) as f64;
    let (s3, c3, c1) = ([outer, ch, inner], [1, ch, 1], [ch]);
    let g = DevIn { data: x[0].data, offset: x[0].offset, shape: &s3 };
    let data = DevIn { data: x[1].data, offset: x[1].offset, shape: &s3 };
    let (mean, invstd) = (DevIn { shape: &c3, ..x[3] }, DevIn { shape: &c3, ..x[4] });
    let red = [true, false, true];
    let dbeta = dev!(device::reduce(ReduceOp::Sum, g, &red, 1.0));
    let xc = dev!(device::binary(Sub, data, mean, &s3));
    let xhat = dev!(device::binary(Mul, view(&xc, &s3), invstd, &s3));
    let gxh = dev!(device::binary(Mul, g, view(&xhat, &s3), &s3));
    let gx = dev!(device::reduce(ReduceOp::Sum, view(&gxh, &s3), &red, 1.0));
    let gs =
        if bn.fix_gamma { dev!(device::cast(x[4], x[4].dtype())) } else { dev!(device::binary(Mul, x[2], x[4], &c1)) };
    let dx = if batch {
        // gamma * invstd * (g - mean(g) - xhat * mean(g * xhat))
        let mg = dev!(device::scalar(Div, view(&dbeta, &c1), m, false));
        let mgx = dev!(device::scalar(Div, view(&gx, &c1), m, false));
        let t1 = dev!(device::binary(Sub, g, view(&mg, &c3), &s3));
        let t2 = dev!(device::binary(Mul, view(&xhat, &s3), view(&mgx, &c3), &s3));
        let t3 = dev!(device::binary(Sub, view(&t1, &s3), view(&t2, &s3), &s3));
        dev!(device::binary(Mul, view(&t3, &s3), view(&gs, &c3), &s3))
    } else {
        dev!(device::binary(Mul, g, view(&gs, &c3), &s3))
    };
    let dgamma = if bn.fix_gamma { dev!(device::fill(x[0].data.device_id(), x[0].dtype(), ch, 0.0)) } else { gx };
    Ok(Some(vec![dx, dgamma, dbeta]))
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

#[cfg(test)]
mod tests;
