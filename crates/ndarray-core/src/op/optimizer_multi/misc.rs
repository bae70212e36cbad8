//! The helpers of LARS and mixed-precision training: `multi_sum_sq`, `multi_lars`,
//! `all_finite`, `multi_all_finite`, `reset_arrays`, `amp_cast` and `amp_multicast`.

use half::f16;

use super::common::{expect_count, f32_dtype, f32_param, float_dtype, load, num_weights, same_shapes};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn};
use crate::params;
use crate::shape::Shape;
use crate::storage::CpuStorage;

#[derive(Debug)]
enum Misc {
    /// `multi_sum_sq`: the sum of squares of each of `n` arrays, as float32.
    SumSq(usize),
    /// `multi_lars(lrs, weights_sum_sq, grads_sum_sq, wds)`.
    Lars { eta: f64, eps: f64, rescale: f64 },
    /// `all_finite` (one input) and `multi_all_finite` (`n` inputs): 1.0 when every element is
    /// finite, else 0.0.
    AllFinite { name: &'static str, n: usize, init: bool },
    /// `reset_arrays`: zeroes its `n` inputs in place, no outputs.
    Reset(usize),
}

/// The sum of squares as MXNet's CPU kernel accumulates it: a float32 running sum of the
/// squares computed in the input's type.
fn sum_sq(t: &TensorIn<'_>) -> f32 {
    match t.dtype() {
        DType::F32 => t.typed::<f32>().iter().fold(0f32, |s, &x| s + x * x),
        DType::F64 => t.typed::<f64>().iter().fold(0f32, |s, &x| (f64::from(s) + x * x) as f32),
        DType::F16 => t.typed::<f16>().iter().fold(0f32, |s, &x| s + f16::from_f32(x.to_f32() * x.to_f32()).to_f32()),
        _ => load::<f64>(t).iter().fold(0f32, |s, &x| (f64::from(s) + x * x) as f32),
    }
}

impl Misc {
    fn name(&self) -> &str {
        match self {
            Misc::SumSq(_) => "multi_sum_sq",
            Misc::Lars { .. } => "multi_lars",
            Misc::AllFinite { name, .. } => name,
            Misc::Reset(_) => "reset_arrays",
        }
    }
    fn num_inputs(&self) -> usize {
        match self {
            Misc::SumSq(n) | Misc::AllFinite { n, .. } | Misc::Reset(n) => *n,
            Misc::Lars { .. } => 4,
        }
    }
}

impl Operator for Misc {
    fn name(&self) -> &str {
        Misc::name(self)
    }
    fn num_outputs(&self) -> usize {
        usize::from(!matches!(self, Misc::Reset(_)))
    }
    fn input_names(&self) -> Option<Vec<String>> {
        match self {
            Misc::SumSq(n) | Misc::Reset(n) => Some((0..*n).map(|i| format!("array_{i}")).collect()),
            Misc::AllFinite { name: "multi_all_finite", n, .. } => {
                Some((0..*n).map(|i| format!("array_{i}")).collect())
            }
            _ => None,
        }
    }
    fn infer_shape(&self, s: &[Shape]) -> Result<Vec<Shape>> {
        let name = Misc::name(self);
        let how = match self {
            Misc::SumSq(_) | Misc::Reset(_) => "num_arrays",
            Misc::AllFinite { .. } => "data",
            Misc::Lars { .. } => "lrs, weights_sum_sq, grads_sum_sq, wds",
        };
        expect_count(name, s.len(), self.num_inputs(), how)?;
        Ok(match self {
            Misc::SumSq(n) => vec![vec![*n]],
            Misc::Lars { .. } => {
                same_shapes(name, s, &[0, 1, 2, 3], "lrs, weights_sum_sq, grads_sum_sq and wds must have one shape")?;
                vec![s[0].clone()]
            }
            Misc::AllFinite { .. } => vec![vec![1]],
            Misc::Reset(_) => vec![],
        })
    }
    fn infer_dtype(&self, d: &[DType]) -> Result<Vec<DType>> {
        let name = Misc::name(self);
        expect_count(name, d.len(), self.num_inputs(), "inputs")?;
        match self {
            Misc::SumSq(_) => {
                float_dtype(name, d[0], "array_0")?;
                crate::op::same_dtype(name, d)?;
                Ok(vec![DType::F32])
            }
            Misc::Lars { .. } => {
                for &t in d {
                    f32_dtype(name, t, "every input (multi_lars supports float32 only)")?;
                }
                Ok(vec![DType::F32])
            }
            Misc::AllFinite { .. } => Ok(vec![DType::F32]),
            Misc::Reset(_) => Ok(vec![]),
        }
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        if let Some(known) = inputs.iter().copied().collect::<Option<Vec<DType>>>() {
            let inferred = self.infer_dtype(&known)?;
            for (o, d) in outputs.iter_mut().zip(inferred) {
                *o = Some(d);
            }
        }
        Ok(())
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        match self {
            Misc::Reset(n) => (0..*n).collect(),
            _ => vec![],
        }
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(match self {
            Misc::SumSq(_) => vec![CpuStorage::F32(x.iter().map(sum_sq).collect::<Vec<f32>>().into())],
            Misc::Lars { eta, eps, rescale } => {
                let [lrs, wss, gss, wds] = [0, 1, 2, 3].map(|i| x[i].typed::<f32>());
                let (eta, eps, rescale) = (*eta as f32, *eps as f32, *rescale as f32);
                let out: Vec<f32> = (0..lrs.len())
                    .map(|i| {
                        let w_norm = wss[i].sqrt();
                        if w_norm > 0.0 && gss[i] > 0.0 {
                            lrs[i] * eta * w_norm / (gss[i].sqrt() * rescale + wds[i] * w_norm + eps)
                        } else {
                            lrs[i]
                        }
                    })
                    .collect();
                vec![CpuStorage::F32(out.into())]
            }
            Misc::AllFinite { init, .. } => {
                // Elements are tested as float32, as MXNet's kernel casts them (a float64 beyond
                // float32's range counts as not finite).
                let finite = x.iter().all(|t| load::<f64>(t).iter().all(|&v| (v as f32).is_finite()));
                // Without init_output MXNet only ever writes 0; the result then starts from 1.
                let _ = init;
                vec![CpuStorage::F32(vec![if finite { 1.0f32 } else { 0.0 }].into())]
            }
            Misc::Reset(_) => x.iter().map(|t| CpuStorage::zeros(t.dtype(), t.len())).collect(),
        })
    }
}

/// `amp_cast` (one input) and `amp_multicast` (`n` inputs, `n` outputs): casts between the float
/// types float16, bfloat16 and float32; other dtypes pass through unchanged.
#[derive(Debug)]
enum AmpCast {
    One(DType),
    Multi { n: usize, narrow: bool },
}

fn is_amp_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F16 | DType::BF16)
}

impl AmpCast {
    fn op_name(&self) -> &'static str {
        match self {
            AmpCast::One(_) => "amp_cast",
            AmpCast::Multi { .. } => "amp_multicast",
        }
    }
    fn targets(&self, d: &[DType]) -> Vec<DType> {
        let target = match self {
            AmpCast::One(t) => *t,
            AmpCast::Multi { narrow, .. } => {
                // The widest float type of the inputs (or, with cast_narrow, the narrowest).
                let mut t = if *narrow { DType::F32 } else { d[0] };
                for &x in d {
                    if !narrow && x == DType::F32 {
                        t = DType::F32;
                    } else if *narrow && (x == DType::F16 || x == DType::BF16) {
                        t = x;
                    }
                }
                t
            }
        };
        d.iter().map(|&x| if is_amp_float(x) { target } else { x }).collect()
    }
}

impl Operator for AmpCast {
    fn name(&self) -> &str {
        self.op_name()
    }
    fn num_outputs(&self) -> usize {
        match self {
            AmpCast::One(_) => 1,
            AmpCast::Multi { n, .. } => *n,
        }
    }
    fn input_names(&self) -> Option<Vec<String>> {
        match self {
            AmpCast::One(_) => None,
            AmpCast::Multi { n, .. } => Some((0..*n).map(|i| format!("data_{i}")).collect()),
        }
    }
    fn infer_shape(&self, s: &[Shape]) -> Result<Vec<Shape>> {
        expect_count(self.op_name(), s.len(), self.num_outputs(), "one per output")?;
        Ok(s.to_vec())
    }
    fn infer_dtype(&self, d: &[DType]) -> Result<Vec<DType>> {
        expect_count(self.op_name(), d.len(), self.num_outputs(), "one per output")?;
        Ok(self.targets(d))
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        if let Some(known) = inputs.iter().copied().collect::<Option<Vec<DType>>>() {
            for (o, d) in outputs.iter_mut().zip(self.infer_dtype(&known)?) {
                if matches!(o, Some(x) if *x != d) {
                    return Err(Error::dtype(self.op_name(), d, format!("output dtype conflicts with inferred {d}")));
                }
                *o = Some(d);
            }
        }
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(x.iter().zip(dt).map(|(t, &d)| t.data.cast(t.offset, t.len(), d)).collect())
    }
}

/// The gradient of `amp_cast` and `amp_multicast`: each output gradient cast back to its input's
/// dtype (MXNet's `_backward_amp_cast`).
fn grad_amp(
    b: &mut dyn GradBuilder,
    _: &Attrs,
    x: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    x.iter().zip(g).map(|(&x, &g)| Ok(Some(b.op("_backward_Cast", &[g, x], Attrs::default())?[0]))).collect()
}

fn arrays(a: &Attrs, op: &str, known: &[&str]) -> Result<usize> {
    a.check_known(op, known)?;
    a.count(op, "num_arrays")
}

pub(super) fn register(r: &mut Registry) {
    r.add("multi_sum_sq", &["*data"], params!("num_arrays" = None), "sums of squares of several arrays", |a| {
        Ok(Box::new(Misc::SumSq(arrays(a, "multi_sum_sq", &["num_arrays", "num_args"])?)))
    });
    r.add(
        "multi_lars",
        &["lrs", "weights_sum_sq", "grads_sum_sq", "wds"],
        params!("eta" = None, "eps" = None, "rescale_grad" = Some("1")),
        "LARS learning rates from sums of squares of weights and gradients",
        |a| {
            let op = "multi_lars";
            a.check_known(op, &["eta", "eps", "rescale_grad"])?;
            Ok(Box::new(Misc::Lars {
                eta: f32_param(a, op, "eta", None)?,
                eps: f32_param(a, op, "eps", None)?,
                rescale: f32_param(a, op, "rescale_grad", Some(1.0))?,
            }))
        },
    );
    r.add(
        "all_finite",
        &["data"],
        params!("init_output" = Some("True")),
        "1 if every element is finite, else 0",
        |a| {
            a.check_known("all_finite", &["init_output"])?;
            let init = a.bool_or("all_finite", "init_output", true)?;
            Ok(Box::new(Misc::AllFinite { name: "all_finite", n: 1, init }))
        },
    );
    r.add(
        "multi_all_finite",
        &["*data"],
        params!("num_arrays" = Some("1"), "init_output" = Some("True")),
        "1 if every element of every array is finite, else 0",
        |a| {
            let op = "multi_all_finite";
            a.check_known(op, &["num_arrays", "init_output", "num_args"])?;
            let n = num_weights(a, op, "num_arrays", 1)?;
            Ok(Box::new(Misc::AllFinite { name: "multi_all_finite", n, init: a.bool_or(op, "init_output", true)? }))
        },
    );
    r.add("reset_arrays", &["*data"], params!("num_arrays" = None), "set several arrays to zero in place", |a| {
        Ok(Box::new(Misc::Reset(arrays(a, "reset_arrays", &["num_arrays", "num_args"])?)))
    });
    r.add("amp_cast", &["data"], params!("dtype" = None), "cast between float16, bfloat16 and float32", |a| {
        a.check_known("amp_cast", &["dtype"])?;
        let d = a
            .opt_dtype("amp_cast", "dtype")?
            .ok_or_else(|| Error::param("amp_cast", "required parameter 'dtype' is missing"))?;
        Ok(Box::new(AmpCast::One(d)))
    });
    r.add(
        "amp_multicast",
        &["*data"],
        params!("num_outputs" = None, "cast_narrow" = Some("False")),
        "cast several arrays to their widest (or narrowest) float type",
        |a| {
            let op = "amp_multicast";
            a.check_known(op, &["num_outputs", "cast_narrow", "num_args"])?;
            let n = a.count(op, "num_outputs")?;
            Ok(Box::new(AmpCast::Multi { n, narrow: a.bool_or(op, "cast_narrow", false)? }))
        },
    );
    r.set_gradient("amp_cast", grad_amp);
    r.set_gradient("amp_multicast", grad_amp);
}
