//! `calibrate_entropy(hist, hist_edges)`: the threshold minimising the KL divergence between a
//! histogram and its `num_quantized_bins`-bin quantization, in `f32` as MXNet's
//! `CalibrateComputeCPU` (`calibrate.cc`) computes it; and `quantize_asym`
//! (`quantize_asym-inl.h`): float32 to uint8 with a scale and shift.

use super::super::super::registry::Registry;
use super::{In, QKernel, add, dtype_err, names, zero_grads};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, fmt_shape};

const CALIB: &str = "_contrib_calibrate_entropy";
const ASYM: &str = "_contrib_quantize_asym";

/// MXNet's `SmoothDistribution`: move `eps` mass onto every zero bin from the non-zero ones;
/// empty when nothing is non-zero or the move would exceed a bin.
fn smooth(p: &[f32]) -> Vec<f32> {
    const EPS: f32 = 0.0001;
    let zeros = p.iter().filter(|&&v| v == 0.0).count();
    let nonzeros = p.len() - zeros;
    if nonzeros == 0 {
        return Vec::new();
    }
    let eps1 = EPS * zeros as f32 / nonzeros as f32;
    if eps1 >= 1.0 {
        return Vec::new();
    }
    p.iter().map(|&v| if v == 0.0 { v + EPS } else { v + (0.0 - eps1) }).collect()
}

/// MXNet's `ComputeEntropy`: KL(p || q) of the normalised distributions.
fn entropy(p: &mut [f32], q: &mut [f32]) -> Result<f32> {
    let ps: f32 = p.iter().sum();
    let qs: f32 = q.iter().sum();
    p.iter_mut().for_each(|v| *v /= ps);
    q.iter_mut().for_each(|v| *v /= qs);
    let mut ret = 0.0f32;
    for (&a, &b) in p.iter().zip(q.iter()) {
        if !(a > 0.0 && b > 0.0) {
            return Err(Error::msg(format!("{CALIB}: smoothed distributions must be positive, got {a} and {b}")));
        }
        ret += a * (a / b).ln();
    }
    Ok(ret)
}

/// The divergence of threshold index `i` (bins `zero - i ..= zero + i`).
fn divergence(hist: &[f32], i: usize, nq: usize) -> Result<f32> {
    let zero = hist.len() / 2;
    let (start, stop) = (zero - i, zero + i + 1);
    let len = stop - start;
    let mut sliced = vec![0usize; len];
    let mut p = vec![0.0f32; len];
    for (j, &h) in hist.iter().enumerate() {
        if j <= start {
            p[0] += h;
        } else if j >= stop {
            p[len - 1] += h;
        } else {
            sliced[j - start] = h as usize;
            p[j - start] = h;
        }
    }
    let merged = len / nq;
    let mut qbins: Vec<f32> = (0..nq).map(|j| sliced[j * merged..(j + 1) * merged].iter().sum::<usize>() as f32).collect();
    qbins[nq - 1] += sliced[nq * merged..].iter().sum::<usize>() as f32;
    let mut q = vec![0.0f32; len];
    for (j, &qb) in qbins.iter().enumerate() {
        let (a, b) = (j * merged, if j == nq - 1 { len } else { (j + 1) * merged });
        let norm = sliced[a..b].iter().filter(|&&v| v != 0).count();
        if norm > 0 {
            for k in a..b {
                if p[k] != 0.0 {
                    q[k] = qb / norm as f32;
                }
            }
        }
    }
    let mut p = smooth(&p);
    let mut q = smooth(&q);
    if q.is_empty() {
        return Ok(f32::INFINITY);
    }
    if p.len() != q.len() {
        return Err(Error::msg(format!("{CALIB}: the histogram slice around bin {zero} is all zero")));
    }
    entropy(&mut p, &mut q)
}

/// `calibrate_entropy`: outputs `(threshold, divergence)`, each `(1,)`.
#[derive(Debug)]
struct CalibrateEntropy {
    bins: usize,
}

impl QKernel for CalibrateEntropy {
    fn name(&self) -> &'static str {
        CALIB
    }
    fn input_names(&self) -> Vec<String> {
        names(&["hist", "hist_edges"])
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn output_names(&self) -> Option<Vec<String>> {
        Some(names(&["threshold", "divergence"]))
    }
    fn range_inputs(&self) -> Vec<usize> {
        Vec::new()
    }
    fn fixed_dtype(&self, _: usize) -> Option<DType> {
        Some(DType::F32)
    }
    fn dtypes(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let n: usize = x[0].iter().product();
        let e: usize = x[1].iter().product();
        if e != n + 1 {
            return Err(Error::shape(
                CALIB,
                format!("hist_edges must have one more element than hist, got {} and {}", fmt_shape(&x[0]), fmt_shape(&x[1])),
            ));
        }
        if n / 2 < self.bins / 2 {
            return Err(Error::shape(
                CALIB,
                format!("hist {} has fewer bins than num_quantized_bins {}", fmt_shape(&x[0]), self.bins),
            ));
        }
        Ok(vec![vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], _: &[DType]) -> Result<Vec<Vec<f64>>> {
        let hist: Vec<f32> = x[0].v.iter().map(|&v| v as f32).collect();
        let half = self.bins / 2;
        let (mut best, mut best_i) = (f32::MAX, 0usize);
        for i in half..=hist.len() / 2 {
            let d = divergence(&hist, i, self.bins)?;
            if d < best {
                best = d;
                best_i = i - half;
            }
        }
        let threshold = x[1].v[hist.len() / 2 + half + best_i + 1];
        Ok(vec![vec![threshold], vec![best as f64]])
    }
}

/// `quantize_asym(data)`: float32 to uint8 as `x * scale + shift`, with
/// `scale = 255 / (max - min)` and `shift = 255 - max * scale` over the calibrated range or the
/// data's own; outputs `(data, scale, shift)`. 3-D data is rounded to nearest (ties to even) as
/// MXNet's oneDNN kernel does; other data half up, as its portable kernel.
#[derive(Debug)]
struct QuantizeAsym {
    range: Option<(f32, f32)>,
}

impl QKernel for QuantizeAsym {
    fn name(&self) -> &'static str {
        ASYM
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data"])
    }
    fn output_names(&self) -> Option<Vec<String>> {
        Some(names(&["output", "scale", "shift"]))
    }
    fn range_inputs(&self) -> Vec<usize> {
        Vec::new()
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        if x[0] != DType::F32 {
            return Err(dtype_err(ASYM, "data", x[0], "float32"));
        }
        Ok(vec![DType::U8, DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![x[0].clone(), vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], _: &[DType]) -> Result<Vec<Vec<f64>>> {
        let (lo, hi) = self.range.unwrap_or_else(|| super::convert::data_range(&x[0].v));
        let scale = 255.0f32 / (hi - lo);
        let shift = 255.0f32 - hi * scale;
        let out = if x[0].s.len() == 3 {
            x[0].v.iter().map(|&v| super::round_sat(v as f32 * scale + shift, 0.0, 255.0)).collect()
        } else {
            x[0].v.iter().map(|&v| ((v as f32 * scale + shift) as f64 + 0.5).trunc().clamp(0.0, 255.0)).collect()
        };
        Ok(vec![out, vec![scale as f64], vec![shift as f64]])
    }
}

/// Register both.
pub(super) fn register(r: &mut Registry) {
    let doc = "the entropy-minimising (KL divergence) threshold of a histogram";
    add(r, CALIB, &["hist", "hist_edges"], params!("num_quantized_bins" = Some("255")), doc, |a| {
        a.check_known(CALIB, &["num_quantized_bins"])?;
        let b = a.int_or(CALIB, "num_quantized_bins", 255)?;
        if b < 1 {
            return Err(Error::param(CALIB, format!("num_quantized_bins must be positive, got {b}")));
        }
        Ok(CalibrateEntropy { bins: b as usize })
    });
    let p = params!("min_calib_range" = Some("None"), "max_calib_range" = Some("None"));
    add(r, ASYM, &["data"], p, "asymmetric quantization of float32 data to uint8 with a scale and shift", |a| {
        a.check_known(ASYM, &["min_calib_range", "max_calib_range"])?;
        let lo = a.opt_float(ASYM, "min_calib_range")?;
        let hi = a.opt_float(ASYM, "max_calib_range")?;
        Ok(QuantizeAsym { range: lo.zip(hi).map(|(l, h)| (l as f32, h as f32)) })
    });
    r.set_gradient(ASYM, zero_grads);
}
