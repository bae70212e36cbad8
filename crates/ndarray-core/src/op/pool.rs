//! `Pooling` (max, avg, sum, lp; valid and full conventions; global pooling) over NCW, NCHW and
//! NCDHW data, with its backward op `_backward_Pooling`.
//!
//! The `same` convention is refused: MXNet 1.9.1 documents it for 1-D max pooling only, and
//! there its shape check fails (it reads `pad[1]` of a 1-entry pad), so it has no working
//! reference.

use super::conv::{Task, check_layout, dhw, float_dtype, run_float, spatial};
use super::registry::Registry;
use super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::cpu::conv::{PoolGeom, PoolKind};
use crate::backend::device::{self, DevIn, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

#[derive(Debug)]
struct Pooling {
    kernel: Vec<usize>,
    stride: Vec<usize>,
    pad: Vec<usize>,
    kind: PoolKind,
    global: bool,
    full: bool,
    backward: bool,
}

const KEYS: &[&str] = &[
    "kernel",
    "pool_type",
    "global_pool",
    "cudnn_off",
    "pooling_convention",
    "stride",
    "pad",
    "p_value",
    "count_include_pad",
    "layout",
];

impl Pooling {
    fn parse(op: &str, a: &Attrs, backward: bool) -> Result<Pooling> {
        a.check_known(op, KEYS)?;
        let global = a.bool_or(op, "global_pool", false)?;
        let kernel = a.shape(op, "kernel")?;
        if kernel.is_empty() && !global {
            return Err(Error::param(op, "required parameter 'kernel' is missing (or set global_pool=True)"));
        }
        let nd = if global && kernel.is_empty() { 0 } else { kernel.len() };
        if nd > 3 {
            return Err(Error::param(op, format!("kernel {kernel:?} must have 1, 2 or 3 entries")));
        }
        if nd > 0 {
            check_layout(a, op, nd)?;
        }
        let include_pad = a.bool_or(op, "count_include_pad", true)?;
        let kind = match a.str_or("pool_type", "max") {
            "max" => PoolKind::Max,
            "avg" => PoolKind::Avg { include_pad },
            "sum" => PoolKind::Sum,
            "lp" => {
                let p = a.opt_int(op, "p_value")?.ok_or_else(|| Error::param(op, "lp pooling needs p_value"))?;
                if !(1..=3).contains(&p) {
                    return Err(Error::param(op, format!("p_value {p} is not supported (1, 2 or 3)")));
                }
                PoolKind::Lp { p: p as i32 }
            }
            t => return Err(Error::param(op, format!("pool_type '{t}' is not one of max, avg, sum, lp"))),
        };
        let full = match a.str_or("pooling_convention", "valid") {
            "valid" => false,
            "full" => true,
            "same" => {
                return Err(Error::NotSupported(format!(
                    "{op}: pooling_convention 'same' is not supported (MXNet 1.9.1 allows it only for 1-D max \
                     pooling, where its own shape check fails); use 'valid' or 'full' with pad"
                )));
            }
            c => return Err(Error::param(op, format!("pooling_convention '{c}' is not one of valid, full, same"))),
        };
        let (stride, pad) = if nd == 0 {
            (Vec::new(), Vec::new())
        } else {
            (spatial(a, op, "stride", nd, 1)?, spatial(a, op, "pad", nd, 0)?)
        };
        if kernel.contains(&0) || stride.contains(&0) {
            return Err(Error::param(op, format!("kernel {kernel:?} and stride {stride:?} must be positive")));
        }
        Ok(Pooling { kernel, stride, pad, kind, global, full, backward })
    }

    fn name_of(&self) -> &'static str {
        if self.backward { "_backward_Pooling" } else { "Pooling" }
    }

    /// The geometry (as 3-D) and output shape for `data`.
    fn layout(&self, data: &[usize]) -> Result<(PoolGeom, Shape)> {
        let op = self.name_of();
        if !(3..=5).contains(&data.len()) || (!self.global && data.len() != self.kernel.len() + 2) {
            let want = if self.global { "3, 4 or 5".to_string() } else { (self.kernel.len() + 2).to_string() };
            return Err(Error::shape(
                op,
                format!("data {} must have {want} dimensions for kernel {:?}", fmt_shape(data), self.kernel),
            ));
        }
        let nd = data.len() - 2;
        let (kernel, stride, pad) = if self.global {
            (data[2..].to_vec(), vec![1; nd], vec![0; nd])
        } else {
            (self.kernel.clone(), self.stride.clone(), self.pad.clone())
        };
        let mut out = data[..2].to_vec();
        for i in 0..nd {
            let padded = data[2 + i] + 2 * pad[i];
            if kernel[i] > padded {
                return Err(Error::shape(
                    op,
                    format!(
                        "kernel {kernel:?} exceeds the input: data {} padded to {padded} with pad {pad:?}",
                        fmt_shape(data)
                    ),
                ));
            }
            let span = padded - kernel[i];
            out.push(if self.full { span.div_ceil(stride[i]) } else { span / stride[i] } + 1);
        }
        let ([d, h, w], [kd, kh, kw], [sd, sh, sw]) = (dhw(&data[2..], 1), dhw(&kernel, 1), dhw(&stride, 1));
        let ([pd, ph, pw], [od, oh, ow]) = (dhw(&pad, 0), dhw(&out[2..], 1));
        let planes = data[0] * data[1];
        let g = PoolGeom { planes, d, h, w, kd, kh, kw, sd, sh, sw, pd, ph, pw, od, oh, ow };
        Ok((g, out))
    }
}

impl Operator for Pooling {
    fn name(&self) -> &str {
        self.name_of()
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = if self.backward { &["out_grad", "data", "output"] } else { &["data"] };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let op = self.name_of();
        if self.backward {
            expect_inputs(op, inputs.len(), 3)?;
            let (_, out) = self.layout(&inputs[1])?;
            for (what, s) in [("out_grad", &inputs[0]), ("output", &inputs[2])] {
                if s != &out {
                    return Err(Error::shape(
                        op,
                        format!("{what} shape {} does not match the pooled shape {}", fmt_shape(s), fmt_shape(&out)),
                    ));
                }
            }
            return Ok(vec![inputs[1].clone()]);
        }
        expect_inputs(op, inputs.len(), 1)?;
        Ok(vec![self.layout(&inputs[0])?.1])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        float_dtype(self.name_of(), inputs, 1)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        if self.backward {
            let (g, _) = self.layout(x[1].shape)?;
            run_float(ctx.par, self.name_of(), Task::PoolBwd(g, self.kind), x)
        } else {
            let (g, _) = self.layout(x[0].shape)?;
            run_float(ctx.par, self.name_of(), Task::PoolFwd(g, self.kind), x)
        }
    }
    /// Max, average and sum pooling on the device (`backend/cuda/conv.rs`); Lp pooling runs
    /// through host memory.
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let y = if self.backward {
            let (g, _) = self.layout(x[1].shape)?;
            device::pool_backward(x[0], x[1], &g, self.kind)?
        } else {
            let (g, _) = self.layout(x[0].shape)?;
            device::pool_forward(x[0], &g, self.kind)?
        };
        Ok(y.map(|y| vec![y]))
    }
}

/// Gradient of Pooling: `_backward_Pooling(out_grad, data, output)`. Fused: 0.90 ms vs 1.34 ms
/// composed (max: repeat, broadcast_equal, mul, exact only without ties) and 0.45 ms vs 0.59 ms
/// (avg: repeat, scale) on 32x16x28x28 2x2 stride 2 (examples/fused_backward.rs).
fn grad_pool(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    Ok(vec![Some(b.apply("_backward_Pooling", &[g[0], x[0], y[0]], attrs.clone())?)])
}

pub(super) fn register(r: &mut Registry) {
    let p = params!(
        "kernel" = Some("()"),
        "pool_type" = Some("'max'"),
        "global_pool" = Some("False"),
        "cudnn_off" = Some("False"),
        "pooling_convention" = Some("'valid'"),
        "stride" = Some("()"),
        "pad" = Some("()"),
        "p_value" = Some("None"),
        "count_include_pad" = Some("None"),
        "layout" = Some("None")
    );
    r.add("Pooling", &["data"], p, "max, average, sum or lp pooling over NCW, NCHW or NCDHW data", |a: &Attrs| {
        Ok(Box::new(Pooling::parse("Pooling", a, false)?))
    });
    r.add("_backward_Pooling", &["out_grad", "data", "output"], p, "gradient of Pooling's data", |a: &Attrs| {
        Ok(Box::new(Pooling::parse("_backward_Pooling", a, true)?))
    });
    r.set_gradient("Pooling", grad_pool);
}

#[cfg(test)]
mod tests {
    use crate::eager_grad::{check_numeric_gradient, f64_array};
    use crate::op::Attrs;
    use crate::op::grad::test_values;

    fn check(pairs: &[(&str, &str)], data: &[usize]) {
        let a = Attrs::from_pairs(pairs.iter().copied());
        let x = f64_array(data, test_values(data.iter().product(), 7)).unwrap();
        check_numeric_gradient("Pooling", &a, &[x], &[0], true, 1e-6, 1e-5, 1e-8)
            .unwrap_or_else(|e| panic!("Pooling {pairs:?} on {data:?}: {e}"));
    }

    #[test]
    fn pooling_gradients_match_finite_differences() {
        check(&[("kernel", "(2, 2)"), ("stride", "(2, 2)")], &[2, 2, 4, 4]);
        check(&[("kernel", "(3, 3)"), ("stride", "(2, 2)"), ("pad", "(1, 1)")], &[1, 2, 5, 5]);
        check(
            &[("kernel", "(3, 3)"), ("stride", "(2, 2)"), ("pooling_convention", "full"), ("pool_type", "max")],
            &[1, 1, 6, 6],
        );
        for include in ["True", "False"] {
            check(
                &[
                    ("kernel", "(3, 3)"),
                    ("stride", "(2, 2)"),
                    ("pad", "(1, 1)"),
                    ("pool_type", "avg"),
                    ("pooling_convention", "full"),
                    ("count_include_pad", include),
                ],
                &[1, 2, 5, 5],
            );
        }
        check(&[("kernel", "(2, 2)"), ("pool_type", "sum")], &[1, 2, 4, 4]);
        check(&[("kernel", "(2, 2)"), ("stride", "(2, 2)"), ("pool_type", "lp"), ("p_value", "2")], &[1, 2, 4, 4]);
        check(&[("kernel", "(2, 2)"), ("pool_type", "lp"), ("p_value", "3")], &[1, 1, 3, 3]);
        check(&[("pool_type", "avg"), ("global_pool", "True")], &[2, 2, 3, 4]);
        check(&[("pool_type", "max"), ("global_pool", "True")], &[2, 2, 3, 4]);
        check(&[("kernel", "(3,)"), ("stride", "(2,)"), ("pool_type", "max")], &[2, 2, 7]);
    }

    #[test]
    fn pooling_3d_gradients_match_finite_differences() {
        let k = ("kernel", "(2, 3, 2)");
        check(&[k, ("stride", "(2, 2, 2)"), ("pool_type", "max")], &[1, 2, 4, 5, 4]);
        check(&[k, ("stride", "(1, 2, 1)"), ("pad", "(1, 1, 0)"), ("pool_type", "max")], &[1, 1, 3, 4, 3]);
        for include in ["True", "False"] {
            check(
                &[
                    k,
                    ("stride", "(2, 2, 2)"),
                    ("pad", "(1, 1, 1)"),
                    ("pool_type", "avg"),
                    ("pooling_convention", "full"),
                    ("count_include_pad", include),
                ],
                &[1, 2, 3, 4, 5],
            );
        }
        check(&[k, ("pool_type", "sum")], &[1, 1, 3, 4, 3]);
        check(&[k, ("stride", "(1, 2, 2)"), ("pool_type", "lp"), ("p_value", "2")], &[1, 1, 3, 5, 4]);
        check(&[("pool_type", "avg"), ("global_pool", "True")], &[2, 2, 3, 2, 4]);
        check(&[("pool_type", "max"), ("global_pool", "True")], &[1, 2, 2, 3, 2]);
    }

    #[test]
    fn pooling_3d_shapes_and_errors() {
        use crate::op::registry;
        let create = |pairs: &[(&str, &str)]| {
            (registry().get("Pooling").unwrap().create)(&Attrs::from_pairs(pairs.iter().copied()))
        };
        let k = ("kernel", "(2, 3, 2)");
        let s = ("stride", "(2, 2, 3)");
        let op = create(&[k, s]).unwrap();
        assert_eq!(op.infer_shape(&[vec![1, 2, 5, 6, 7]]).unwrap(), vec![vec![1, 2, 2, 2, 2]]);
        let op = create(&[k, s, ("pooling_convention", "full")]).unwrap();
        assert_eq!(op.infer_shape(&[vec![1, 2, 5, 6, 7]]).unwrap(), vec![vec![1, 2, 3, 3, 3]]);
        let op = create(&[("global_pool", "True")]).unwrap();
        assert_eq!(op.infer_shape(&[vec![2, 3, 4, 5, 6]]).unwrap(), vec![vec![2, 3, 1, 1, 1]]);
        let e = create(&[("kernel", "(2, 3)")]).unwrap().infer_shape(&[vec![1, 2, 5, 6, 7]]).unwrap_err().to_string();
        assert!(e.contains("Pooling") && e.contains("(1,2,5,6,7)") && e.contains("4 dimensions"), "{e}");
        let e = create(&[k, ("stride", "(0, 1, 1)")]).unwrap_err().to_string();
        assert!(e.contains("Pooling") && e.contains("[0, 1, 1]"), "{e}");
        let e = create(&[k]).unwrap().infer_shape(&[vec![1, 2, 1, 6, 7]]).unwrap_err().to_string();
        assert!(e.contains("exceeds") && e.contains("(1,2,1,6,7)"), "{e}");
        let e = create(&[k, ("pooling_convention", "same")]).unwrap_err().to_string();
        assert!(e.contains("Pooling") && e.contains("same"), "{e}");
    }
}
