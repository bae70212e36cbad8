//! LayerNorm, InstanceNorm and GroupNorm: normalisation over part of each sample, with a
//! learned scale `gamma` and shift `beta`, and their fused `_backward_X` kernels.
//!
//! All three view the data as `(pre, k, post)` and normalise the `k` values of every
//! `(pre, post)` pair with their mean and biased variance: `out = (x - mean) / std * gamma +
//! beta` with `std = sqrt(var + eps)`.
//!
//! - `LayerNorm(axis)`: `k` is the `axis` dimension; gamma and beta have `k` values; the mean
//!   and std outputs have the data's shape with `axis` of size 1.
//! - `InstanceNorm`: data `(N, C, ...)`, `k` is the spatial size of one channel; gamma and beta
//!   have `C` values; the hidden mean and std are `(N, C)`.
//! - `GroupNorm(num_groups)`: data `(N, C, ...)`, `k` is one group of `C / num_groups` channels;
//!   as in MXNet 1.9.1, gamma and beta have one value per group; mean and std are
//!   `(N, num_groups)`.
//!
//! As in MXNet, the gradient ignores the gradients of the mean and std outputs.

use rayon::prelude::*;

use super::{Real, c, expect_shape, fill_dtype, fill_shape, float_dtype};
use crate::backend::cpu::{Parallelism, SendPtr, Split, team};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::shape::{Shape, fmt_shape, norm_axis, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

/// Which normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Layer,
    Instance,
    Group,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Layer => "LayerNorm",
            Kind::Instance => "InstanceNorm",
            Kind::Group => "GroupNorm",
        }
    }
    fn backward(self) -> &'static str {
        match self {
            Kind::Layer => "_backward_LayerNorm",
            Kind::Instance => "_backward_InstanceNorm",
            Kind::Group => "_backward_GroupNorm",
        }
    }
    fn params(self) -> &'static [&'static str] {
        match self {
            Kind::Layer => &["axis", "eps", "output_mean_var"],
            Kind::Instance => &["eps"],
            Kind::Group => &["num_groups", "eps", "output_mean_var"],
        }
    }
}

/// The data seen as `(pre, k, post)`, normalised over `k`; gamma is indexed by the position in
/// `k` (`per_k`) or by the block index modulo `groups`.
#[derive(Clone, Copy, Debug)]
struct Geom {
    pre: usize,
    k: usize,
    post: usize,
    per_k: bool,
    groups: usize,
}

impl Geom {
    fn block(&self) -> usize {
        self.k * self.post
    }
    /// Number of gamma (and beta) values.
    fn param_len(&self) -> usize {
        if self.per_k { self.k } else { self.groups }
    }
    /// Gamma's index for element `(p, kk)`.
    #[inline(always)]
    fn gidx(&self, p: usize, kk: usize) -> usize {
        if self.per_k { kk } else { p % self.groups }
    }
}

#[derive(Debug, Clone)]
struct Norm {
    kind: Kind,
    name: &'static str,
    eps: f64,
    axis: i64,
    groups: usize,
    output_mean_var: bool,
}

impl Norm {
    fn parse(kind: Kind, name: &'static str, a: &Attrs) -> Result<Norm> {
        a.check_known(name, kind.params())?;
        let groups = a.int_or(name, "num_groups", 1)?;
        if groups < 1 {
            return Err(Error::param(name, format!("num_groups must be positive, got {groups}")));
        }
        Ok(Norm {
            kind,
            name,
            eps: a.float_or(name, "eps", if kind == Kind::Instance { 1e-3 } else { 1e-5 })?,
            axis: a.int_or(name, "axis", -1)?,
            groups: groups as usize,
            output_mean_var: a.bool_or(name, "output_mean_var", false)?,
        })
    }

    fn geom(&self, s: &[usize]) -> Result<Geom> {
        match self.kind {
            Kind::Layer => {
                let ax = norm_axis(self.name, self.axis, s.len())?;
                Ok(Geom { pre: size_of(&s[..ax]), k: s[ax], post: size_of(&s[ax + 1..]), per_k: true, groups: 1 })
            }
            Kind::Instance | Kind::Group => {
                let min = if self.kind == Kind::Instance { 3 } else { 2 };
                if s.len() < min {
                    return Err(Error::shape(
                        self.name,
                        format!("data must have at least {min} dimensions (N, C, ...), got {}", fmt_shape(s)),
                    ));
                }
                let ch = s[1];
                let groups = if self.kind == Kind::Instance { ch } else { self.groups };
                if groups == 0 || !ch.is_multiple_of(groups) {
                    return Err(Error::shape(
                        self.name,
                        format!("{ch} channels of data {} do not split into {groups} groups", fmt_shape(s)),
                    ));
                }
                let k = ch / groups * size_of(&s[2..]);
                Ok(Geom { pre: s[0] * groups, k, post: 1, per_k: false, groups })
            }
        }
    }

    /// The shape of the mean and std outputs.
    fn stat_shape(&self, s: &[usize]) -> Result<Shape> {
        let g = self.geom(s)?;
        Ok(match self.kind {
            Kind::Layer => {
                let mut t = s.to_vec();
                t[norm_axis(self.name, self.axis, s.len())?] = 1;
                t
            }
            _ => vec![s[0], g.groups],
        })
    }

    fn shapes(&self, data: &[usize]) -> Result<(Shape, Shape)> {
        Ok((vec![self.geom(data)?.param_len()], self.stat_shape(data)?))
    }
}

fn values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|x| x.to_f64()).collect() })
}

/// Run `body` over `n`-element blocks of up to four slices in parallel when `par` allows.
macro_rules! blocks {
    ($par:expr, $n:expr, $body:expr, $a:expr => $sa:expr, $b:expr => $sb:expr, $c:expr => $sc:expr, $d:expr => $sd:expr) => {
        if $par.split($n) {
            $a.par_chunks_mut($sa)
                .zip($b.par_chunks($sb))
                .zip($c.par_chunks_mut($sc))
                .zip($d.par_chunks_mut($sd))
                .enumerate()
                .for_each($body);
        } else {
            $a.chunks_mut($sa)
                .zip($b.chunks($sb))
                .zip($c.chunks_mut($sc))
                .zip($d.chunks_mut($sd))
                .enumerate()
                .for_each($body);
        }
    };
}

/// One block of the forward kernel: (index, (((out, data), mean), std)).
type FwdBlock<'a, T> = (usize, (((&'a mut [T], &'a [T]), &'a mut [T]), &'a mut [T]));
/// One block of the backward kernel: (index, (data gradient, (output gradient, data))).
type BackBlock<'a, T> = (usize, (&'a mut [T], (&'a [T], &'a [T])));
/// Per-gamma sums of `g * xhat` and `g`.
type Acc = (Vec<f64>, Vec<f64>);

crate::backend::cpu::simd_fn! {
    /// `sum((x - shift)^2)` in float64 when `shift` is not 0, else `sum(x)`, with eight partial
    /// sums (one running sum is a chain of dependent additions, which never vectorises).
    fn sum_into[T: Real](x: &[T], shift: f64, out: &mut f64) {
        let f = |v: T| {
            let d = v.to_f64() - shift;
            if shift == 0.0 { v.to_f64() } else { d * d }
        };
        let mut acc = [0f64; 8];
        let mut chunks = x.chunks_exact(8);
        for ch in &mut chunks {
            for (a, &v) in acc.iter_mut().zip(ch) {
                *a += f(v);
            }
        }
        *out = acc.iter().sum::<f64>() + chunks.remainder().iter().map(|&v| f(v)).sum::<f64>();
    }
}

/// See [`sum_into`].
fn sum_f64<T: Real>(x: &[T], shift: f64) -> f64 {
    let mut s = 0.0;
    sum_into(x, shift, &mut s);
    s
}

crate::backend::cpu::simd_fn! {
    /// `o[i] = (x[i] - mu) * inv * gamma[i] + beta[i]`, gamma and beta one value or one per
    /// element.
    fn normalize[T: Real](x: &[T], o: &mut [T], mu: f64, inv: f64, gamma: &[f64], beta: &[f64]) {
        if gamma.len() == 1 {
            let (ga, be) = (gamma[0], beta[0]);
            for (o, &v) in o.iter_mut().zip(x) {
                *o = c((v.to_f64() - mu) * inv * ga + be);
            }
        } else {
            for (((o, &v), &ga), &be) in o.iter_mut().zip(x).zip(gamma).zip(beta) {
                *o = c((v.to_f64() - mu) * inv * ga + be);
            }
        }
    }
}

crate::backend::cpu::simd_fn! {
    /// The backward sums of one contiguous group, `gamma` one value or one per element (then
    /// `dgamma` and `dbeta` too): `dgamma += g * xhat`, `dbeta += g`, and `ab` = (sum of
    /// `g * gamma`, sum of `g * gamma * xhat`), with `xhat = (x - m) * inv`. Eight partial
    /// sums, so that the loop vectorises.
    fn back_sums[T: Real](g: &[T], x: &[T], gamma: &[f64], m: f64, inv: f64, dgamma: &mut [f64], dbeta: &mut [f64], ab: &mut [f64; 2]) {
        let (mut a8, mut b8, mut dg8, mut db8) = ([0f64; 8], [0f64; 8], [0f64; 8], [0f64; 8]);
        let per = gamma.len() > 1;
        let n = g.len().min(x.len());
        let full = n / 8 * 8;
        for i in (0..full).step_by(8) {
            for j in 0..8 {
                let gv = g[i + j].to_f64();
                let xh = (x[i + j].to_f64() - m) * inv;
                let gg = gv * if per { gamma[i + j] } else { gamma[0] };
                a8[j] += gg;
                b8[j] += gg * xh;
                if per {
                    dgamma[i + j] += gv * xh;
                    dbeta[i + j] += gv;
                } else {
                    dg8[j] += gv * xh;
                    db8[j] += gv;
                }
            }
        }
        for i in full..n {
            let gv = g[i].to_f64();
            let xh = (x[i].to_f64() - m) * inv;
            let gg = gv * if per { gamma[i] } else { gamma[0] };
            a8[0] += gg;
            b8[0] += gg * xh;
            if per {
                dgamma[i] += gv * xh;
                dbeta[i] += gv;
            } else {
                dg8[0] += gv * xh;
                db8[0] += gv;
            }
        }
        if !per {
            dgamma[0] += dg8.iter().sum::<f64>();
            dbeta[0] += db8.iter().sum::<f64>();
        }
        ab[0] = a8.iter().sum();
        ab[1] = b8.iter().sum();
    }
}

crate::backend::cpu::simd_fn! {
    /// The data gradient of one contiguous group: `(g * gamma - a - xhat * b) * inv`, `a` and
    /// `b` the means of [`back_sums`]'s sums.
    fn back_data[T: Real](g: &[T], x: &[T], gamma: &[f64], m: f64, inv: f64, a: f64, b: f64, d: &mut [T]) {
        let per = gamma.len() > 1;
        for (i, ((d, &gv), &xv)) in d.iter_mut().zip(g).zip(x).enumerate() {
            let ga = if per { gamma[i] } else { gamma[0] };
            let xh = (xv.to_f64() - m) * inv;
            *d = c((gv.to_f64() * ga - a - xh * b) * inv);
        }
    }
}

/// Forward kernel: the output and the per-`(pre, post)` mean and std.
fn forward_kernel<T: Real>(
    par: Parallelism,
    g: Geom,
    x: &[T],
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let zero = <T as Element>::zero();
    let nstat = g.pre * g.post;
    let (mut out, mut mean, mut std) = (vec![zero; x.len()], vec![zero; nstat], vec![zero; nstat]);
    if x.is_empty() || g.post == 0 {
        return (out, mean, std);
    }
    let kf = g.k as f64;
    if g.post == 1 {
        // Each block is one contiguous group (LayerNorm over the last axis, GroupNorm,
        // InstanceNorm): sums with eight partial accumulators, which vectorise, and no
        // per-element bookkeeping (the general loop below took 4 ns an element here).
        let body = |(p, (((ob, xb), mb), sb)): FwdBlock<'_, T>| {
            let mu = sum_f64(xb, 0.0) / kf;
            let inv = 1.0 / (sum_f64(xb, mu) / kf + eps).sqrt();
            if g.per_k {
                normalize(xb, ob, mu, inv, gamma, beta);
            } else {
                let gi = p % g.groups;
                normalize(xb, ob, mu, inv, &[gamma[gi]; 1], &[beta[gi]; 1]);
            }
            mb[0] = c(mu);
            sb[0] = c(1.0 / inv);
        };
        let blk = g.block();
        if let Split::Team(threads) = par.split_cheap_mode(x.len()) {
            // Mid-sized, on the thread that called the op: runs of groups over the team.
            let (o, m, sd) = (SendPtr(out.as_mut_ptr()), SendPtr(mean.as_mut_ptr()), SendPtr(std.as_mut_ptr()));
            let step = nstat.div_ceil(2 * threads).max(1);
            team::run_blocks(nstat.div_ceil(step), threads - 1, &|i| {
                for p in i * step..((i + 1) * step).min(nstat) {
                    // SAFETY: group p's block of `out` and its entries of `mean` and `std` lie
                    // inside them (nstat groups of blk elements) and belong to this run alone;
                    // the vectors outlive run_blocks, which returns once every run is done.
                    let (ob, mb, sb) = unsafe {
                        (
                            std::slice::from_raw_parts_mut(o.ptr().add(p * blk), blk),
                            std::slice::from_raw_parts_mut(m.ptr().add(p), 1),
                            std::slice::from_raw_parts_mut(sd.ptr().add(p), 1),
                        )
                    };
                    body((p, (((ob, &x[p * blk..(p + 1) * blk]), mb), sb)));
                }
            });
            return (out, mean, std);
        }
        blocks!(par, x.len(), body, out => blk, x => blk, mean => 1, std => 1);
        return (out, mean, std);
    }
    let body = |(p, (((ob, xb), mb), sb)): FwdBlock<'_, T>| {
        let mut m = vec![0f64; g.post];
        for row in xb.chunks_exact(g.post) {
            for (a, &v) in m.iter_mut().zip(row) {
                *a += v.to_f64();
            }
        }
        m.iter_mut().for_each(|a| *a /= kf);
        let mut var = vec![0f64; g.post];
        for row in xb.chunks_exact(g.post) {
            for ((a, &v), &mu) in var.iter_mut().zip(row).zip(&m) {
                *a += (v.to_f64() - mu).powi(2);
            }
        }
        let inv: Vec<f64> = var.iter().map(|v| 1.0 / (v / kf + eps).sqrt()).collect();
        for (kk, (orow, xrow)) in ob.chunks_exact_mut(g.post).zip(xb.chunks_exact(g.post)).enumerate() {
            let gi = g.gidx(p, kk);
            let (ga, be) = (gamma[gi], beta[gi]);
            for (q, (o, &v)) in orow.iter_mut().zip(xrow).enumerate() {
                *o = c((v.to_f64() - m[q]) * inv[q] * ga + be);
            }
        }
        for q in 0..g.post {
            mb[q] = c(m[q]);
            sb[q] = c(1.0 / inv[q]);
        }
    };
    let blk = g.block();
    blocks!(par, x.len(), body, out => blk, x => blk, mean => g.post, std => g.post);
    (out, mean, std)
}

/// Backward kernel: the data gradient and the gamma and beta gradients.
#[allow(clippy::too_many_arguments)]
fn backward_kernel<T: Real>(
    par: Parallelism,
    geo: Geom,
    og: &[T],
    x: &[T],
    gamma: &[f64],
    mean: &[f64],
    std: &[f64],
) -> (Vec<T>, Vec<f64>, Vec<f64>) {
    let gl = geo.param_len();
    let mut dx = vec![<T as Element>::zero(); x.len()];
    if x.is_empty() || geo.post == 0 {
        return (dx, vec![0.0; gl], vec![0.0; gl]);
    }
    let kf = geo.k as f64;
    let post = geo.post;
    let zeros = || (vec![0f64; gl], vec![0f64; gl]);
    let add = |mut l: Acc, r: Acc| {
        l.0.iter_mut().zip(&r.0).for_each(|(a, b)| *a += b);
        l.1.iter_mut().zip(&r.1).for_each(|(a, b)| *a += b);
        l
    };
    let blk = geo.block();
    if post == 1 {
        // One contiguous group per block (as in the forward pass): two vectorised passes.
        let body = |mut acc: Acc, (p, (db, (gb, xb))): BackBlock<'_, T>| {
            let (m, inv) = (mean[p], 1.0 / std[p]);
            let mut ab = [0.0; 2];
            let ga = if geo.per_k {
                back_sums(gb, xb, gamma, m, inv, &mut acc.0, &mut acc.1, &mut ab);
                gamma
            } else {
                let gi = p % geo.groups;
                let (mut dg1, mut db1) = ([0.0], [0.0]);
                back_sums(gb, xb, &gamma[gi..gi + 1], m, inv, &mut dg1, &mut db1, &mut ab);
                acc.0[gi] += dg1[0];
                acc.1[gi] += db1[0];
                &gamma[gi..gi + 1]
            };
            back_data(gb, xb, ga, m, inv, ab[0] / kf, ab[1] / kf, db);
            acc
        };
        return if par.split(x.len()) {
            let (dg, dbeta) = dx
                .par_chunks_mut(blk)
                .zip(og.par_chunks(blk).zip(x.par_chunks(blk)))
                .enumerate()
                .fold(zeros, body)
                .reduce(zeros, add);
            (dx, dg, dbeta)
        } else {
            let (dg, dbeta) = dx.chunks_mut(blk).zip(og.chunks(blk).zip(x.chunks(blk))).enumerate().fold(zeros(), body);
            (dx, dg, dbeta)
        };
    }
    let body = |mut acc: Acc, (p, (db, (gb, xb))): BackBlock<'_, T>| {
        let (m, s) = (&mean[p * post..(p + 1) * post], &std[p * post..(p + 1) * post]);
        // a = mean(gh), b = mean(gh * xhat) over k, with gh = g * gamma.
        let (mut a, mut b) = (vec![0f64; post], vec![0f64; post]);
        for (kk, (grow, xrow)) in gb.chunks_exact(post).zip(xb.chunks_exact(post)).enumerate() {
            let gi = geo.gidx(p, kk);
            for q in 0..post {
                let (gv, xh) = (grow[q].to_f64(), (xrow[q].to_f64() - m[q]) / s[q]);
                a[q] += gv * gamma[gi];
                b[q] += gv * gamma[gi] * xh;
                acc.0[gi] += gv * xh;
                acc.1[gi] += gv;
            }
        }
        for (kk, ((drow, grow), xrow)) in
            db.chunks_exact_mut(post).zip(gb.chunks_exact(post)).zip(xb.chunks_exact(post)).enumerate()
        {
            let ga = gamma[geo.gidx(p, kk)];
            for q in 0..post {
                let xh = (xrow[q].to_f64() - m[q]) / s[q];
                drow[q] = c((grow[q].to_f64() * ga - a[q] / kf - xh * b[q] / kf) / s[q]);
            }
        }
        acc
    };
    let (dg, dbeta) = if par.split(x.len()) {
        dx.par_chunks_mut(blk)
            .zip(og.par_chunks(blk).zip(x.par_chunks(blk)))
            .enumerate()
            .fold(zeros, body)
            .reduce(zeros, add)
    } else {
        dx.chunks_mut(blk).zip(og.chunks(blk).zip(x.chunks(blk))).enumerate().fold(zeros(), body)
    };
    (dx, dg, dbeta)
}

impl Operator for Norm {
    fn name(&self) -> &str {
        self.name
    }
    fn inline_when_waited(&self, inputs: &[Shape]) -> bool {
        // Contiguous groups (LayerNorm over the last axis...): two sums and a pass an element.
        !inputs.is_empty() && self.geom(&inputs[0]).is_ok_and(|g| g.post == 1)
    }
    fn num_outputs(&self) -> usize {
        3
    }
    fn num_visible_outputs(&self) -> usize {
        if self.output_mean_var { 3 } else { 1 }
    }
    fn output_names(&self) -> Vec<String> {
        let last = if self.kind == Kind::Instance { "var" } else { "std" };
        vec!["output".into(), "mean".into(), last.into()]
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 3)?;
        let (p, st) = self.shapes(&inputs[0])?;
        expect_shape(self.name, "gamma", &inputs[1], &p)?;
        expect_shape(self.name, "beta", &inputs[2], &p)?;
        Ok(vec![inputs[0].clone(), st.clone(), st])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(self.name, inputs.len(), 3)?;
        let Some(d) = inputs[0].clone().or_else(|| outputs[0].clone()) else { return Ok(()) };
        let (p, st) = self.shapes(&d)?;
        fill_shape(self.name, "data", &mut inputs[0], &d)?;
        fill_shape(self.name, "gamma", &mut inputs[1], &p)?;
        fill_shape(self.name, "beta", &mut inputs[2], &p)?;
        fill_shape(self.name, "output", &mut outputs[0], &d)?;
        fill_shape(self.name, "mean", &mut outputs[1], &st)?;
        fill_shape(self.name, "std", &mut outputs[2], &st)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        expect_inputs(self.name, inputs.len(), 3)?;
        let d = float_dtype(self.name, inputs[0])?;
        for (i, what) in ["gamma", "beta"].iter().enumerate() {
            if inputs[i + 1] != d {
                return Err(Error::dtype(
                    self.name,
                    inputs[i + 1],
                    format!("{what} has dtype {} but data has {d}", inputs[i + 1]),
                ));
            }
        }
        Ok(vec![d; 3])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        let Some(d) = inputs.iter().chain(outputs.iter()).flatten().next().copied() else { return Ok(()) };
        float_dtype(self.name, d)?;
        for (i, slot) in inputs.iter_mut().enumerate() {
            fill_dtype(self.name, ["data", "gamma", "beta"][i.min(2)], slot, d)?;
        }
        for slot in outputs.iter_mut() {
            fill_dtype(self.name, "output", slot, d)?;
        }
        Ok(())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let g = self.geom(x[0].shape)?;
        let (gamma, beta) = (values(&x[1]), values(&x[2]));
        dispatch!(float self.name, dt[0] => T, {
            let (out, mean, std) = forward_kernel(ctx.par, g, x[0].typed::<T>(), &gamma, &beta, self.eps);
            Ok(vec![T::wrap(out), T::wrap(mean), T::wrap(std)])
        })
    }
}

/// `_backward_X(ograd, data, gamma, mean, std)` → data, gamma and beta gradients.
#[derive(Debug)]
struct NormBackward(Norm);

impl Operator for NormBackward {
    fn name(&self) -> &str {
        self.0.name
    }
    fn num_outputs(&self) -> usize {
        3
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let name = self.0.name;
        expect_inputs(name, inputs.len(), 5)?;
        expect_shape(name, "output gradient", &inputs[0], &inputs[1])?;
        let (p, st) = self.0.shapes(&inputs[1])?;
        expect_shape(name, "gamma", &inputs[2], &p)?;
        expect_shape(name, "mean", &inputs[3], &st)?;
        expect_shape(name, "std", &inputs[4], &st)?;
        Ok(vec![inputs[1].clone(), p.clone(), p])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        expect_inputs(self.0.name, inputs.len(), 5)?;
        Ok(vec![float_dtype(self.0.name, inputs[1])?; 3])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let geo = self.0.geom(x[1].shape)?;
        let (gamma, mean, std) = (values(&x[2]), values(&x[3]), values(&x[4]));
        dispatch!(float self.0.name, dt[0] => T, {
            let (dx, dg, db) = backward_kernel(ctx.par, geo, x[0].typed::<T>(), x[1].typed::<T>(), &gamma, &mean, &std);
            let wrap = |v: Vec<f64>| T::wrap(v.into_iter().map(c::<T>).collect());
            Ok(vec![T::wrap(dx), wrap(dg), wrap(db)])
        })
    }
}

fn grad_with(
    b: &mut dyn GradBuilder,
    back: &str,
    attrs: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let r = b.op(back, &[g[0], x[0], x[1], y[1], y[2]], attrs.clone())?;
    Ok(vec![Some(r[0]), Some(r[1]), Some(r[2])])
}

/// Gradient of LayerNorm through the fused `_backward_LayerNorm` (a composition would need
/// about a dozen broadcast and reduce ops over the data).
fn grad_layer(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    grad_with(b, Kind::Layer.backward(), a, x, y, g)
}

/// Gradient of InstanceNorm through the fused `_backward_InstanceNorm` (as LayerNorm's).
fn grad_instance(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    grad_with(b, Kind::Instance.backward(), a, x, y, g)
}

/// Gradient of GroupNorm through the fused `_backward_GroupNorm` (as LayerNorm's).
fn grad_group(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    grad_with(b, Kind::Group.backward(), a, x, y, g)
}

pub(in crate::op) fn register(r: &mut Registry) {
    let specs: [(Kind, &'static [crate::op::ParamSpec], &str, crate::op::GradFn); 3] = [
        (
            Kind::Layer,
            params!("axis" = Some("-1"), "eps" = Some("1e-05"), "output_mean_var" = Some("False")),
            "layer normalization over one axis",
            grad_layer,
        ),
        (
            Kind::Instance,
            params!("eps" = Some("0.001")),
            "instance normalization over each channel of each sample",
            grad_instance,
        ),
        (
            Kind::Group,
            params!("num_groups" = Some("1"), "eps" = Some("1e-05"), "output_mean_var" = Some("False")),
            "group normalization over groups of channels",
            grad_group,
        ),
    ];
    for (kind, p, doc, grad) in specs {
        let (name, back) = (kind.name(), kind.backward());
        r.add(name, &["data", "gamma", "beta"], p, doc, move |a: &Attrs| Ok(Box::new(Norm::parse(kind, name, a)?)));
        r.add(
            back,
            &["ograd", "data", "gamma", "mean", "std"],
            p,
            "fused gradient of a normalization",
            move |a: &Attrs| Ok(Box::new(NormBackward(Norm::parse(kind, back, a)?))),
        );
        r.set_gradient(name, grad);
    }
}

#[cfg(test)]
mod tests {
    use crate::eager_grad::testing::arr;
    use crate::eager_grad::{check_numeric_gradient, eager_gradient};
    use crate::op::Attrs;

    fn check(name: &str, attrs: &[(&str, &str)], shapes: [&[usize]; 3]) {
        let ins: Vec<_> = shapes.iter().enumerate().map(|(i, s)| arr(s, 10 + i as u64)).collect();
        let a = Attrs::from_pairs(attrs.iter().copied());
        check_numeric_gradient(name, &a, &ins, &[0, 1, 2], true, 1e-6, 1e-5, 1e-7)
            .unwrap_or_else(|e| panic!("{name} {attrs:?}: {e}"));
    }

    #[test]
    fn norm_gradients_match_finite_differences() {
        check("LayerNorm", &[], [&[3, 4], &[4], &[4]]);
        check("LayerNorm", &[("axis", "1")], [&[2, 3, 4], &[3], &[3]]);
        check("LayerNorm", &[("axis", "0"), ("eps", "0.01")], [&[3, 2, 2], &[3], &[3]]);
        check("InstanceNorm", &[], [&[2, 3, 5], &[3], &[3]]);
        check("GroupNorm", &[("num_groups", "2")], [&[2, 4, 3], &[2], &[2]]);
    }

    #[test]
    fn layer_norm_normalises_rows() {
        let x = arr(&[2, 5], 3);
        let (g, b) =
            (crate::eager_grad::testing::vals(&[5], &[1.0; 5]), crate::eager_grad::testing::vals(&[5], &[0.0; 5]));
        let a = Attrs::from_pairs([("output_mean_var", "True")]);
        let ones: Vec<_> = [vec![2, 5], vec![2, 1], vec![2, 1]]
            .iter()
            .map(|s| crate::eager_grad::testing::vals(s, &vec![1.0; s.iter().product()]))
            .collect();
        let (outs, _) = eager_gradient("LayerNorm", &a, &[x, g, b], &ones, true).unwrap();
        let s = outs[0].to_cpu_storage().unwrap();
        for r in 0..2 {
            let row: Vec<f64> = (0..5).map(|i| s.get_f64(r * 5 + i)).collect();
            let m = row.iter().sum::<f64>() / 5.0;
            let v = row.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 5.0;
            assert!(m.abs() < 1e-9 && (v - 1.0).abs() < 1e-3, "row {r}: mean {m} var {v}");
        }
        assert_eq!(outs[1].shape(), &[2, 1]);
    }
}
