//! `ROIPooling(data, rois, pooled_size, spatial_scale)`: max pooling of each region of
//! interest `[batch_index, x1, y1, x2, y2]` (image coordinates, scaled by `spatial_scale`)
//! of 4-D data into a `pooled_size` grid. A hidden second output holds each maximum's flat
//! position in data (-1 for an empty bin), which `_backward_ROIPooling(ograd, maxidx, data)`
//! adds the output gradient back to.

use super::common::{prod, storage_of, values};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::grad::{Grads, shapes_of_inputs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

#[derive(Debug)]
struct RoiPool {
    pooled: (usize, usize),
    scale: f64,
}

impl RoiPool {
    fn out_shape(&self, op: &str, d: &[usize], r: &[usize]) -> Result<Shape> {
        if d.len() != 4 || r.len() != 2 || r[1] != 5 {
            return Err(Error::shape(
                op,
                format!("needs 4-D data and rois of shape (n, 5); got data {} and rois {}", fmt_shape(d), fmt_shape(r)),
            ));
        }
        Ok(vec![r[0], d[1], self.pooled.0, self.pooled.1])
    }

    /// The `[start, end)` of bin `i` of `n` over a region of `size`, MXNet's float arithmetic
    /// (single precision for single-precision data).
    fn bin(i: usize, n: usize, size: i64, single: bool) -> (i64, i64) {
        if single {
            let b = size as f32 / n as f32;
            ((i as f32 * b).floor() as i64, ((i + 1) as f32 * b).ceil() as i64)
        } else {
            let b = size as f64 / n as f64;
            ((i as f64 * b).floor() as i64, ((i + 1) as f64 * b).ceil() as i64)
        }
    }

    /// The pooled values and the flat data position of each.
    fn pool(&self, data: &[f64], d: &[usize], rois: &[f64], single: bool) -> (Vec<f64>, Vec<i64>) {
        let (ch, h, w) = (d[1], d[2] as i64, d[3] as i64);
        let (ph, pw) = self.pooled;
        let n = rois.len() / 5;
        let mut out = vec![0.0; n * ch * ph * pw];
        let mut arg = vec![-1i64; out.len()];
        let scaled = |v: f64| {
            if single { (v as f32 * self.scale as f32).round() as i64 } else { (v * self.scale).round() as i64 }
        };
        for (r, roi) in rois.chunks(5).enumerate() {
            let b = roi[0] as i64;
            let (x1, y1, x2, y2) = (scaled(roi[1]), scaled(roi[2]), scaled(roi[3]), scaled(roi[4]));
            let (rh, rw) = ((y2 - y1 + 1).max(1), (x2 - x1 + 1).max(1));
            if b < 0 || b >= d[0] as i64 {
                continue;
            }
            for c in 0..ch {
                let base = ((b as usize) * ch + c) * (h * w) as usize;
                for i in 0..ph {
                    let (hs, he) = Self::bin(i, ph, rh, single);
                    let (hs, he) = ((hs + y1).clamp(0, h), (he + y1).clamp(0, h));
                    for j in 0..pw {
                        let (ws, we) = Self::bin(j, pw, rw, single);
                        let (ws, we) = ((ws + x1).clamp(0, w), (we + x1).clamp(0, w));
                        let o = ((r * ch + c) * ph + i) * pw + j;
                        if he <= hs || we <= ws {
                            continue;
                        }
                        let mut best = f64::from(-f32::MAX);
                        for y in hs..he {
                            for x in ws..we {
                                let p = base + (y * w + x) as usize;
                                if data[p] > best {
                                    best = data[p];
                                    arg[o] = p as i64;
                                }
                            }
                        }
                        out[o] = best;
                    }
                }
            }
        }
        (out, arg)
    }
}

impl Operator for RoiPool {
    fn name(&self) -> &str {
        "ROIPooling"
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn num_visible_outputs(&self) -> usize {
        1
    }
    fn output_names(&self) -> Vec<String> {
        vec!["output".into(), "maxidx".into()]
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("ROIPooling", inputs.len(), 2)?;
        let o = self.out_shape("ROIPooling", &inputs[0], &inputs[1])?;
        Ok(vec![o.clone(), o])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = crate::op::same_dtype("ROIPooling", inputs)?;
        Ok(vec![d, DType::I64])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        outputs[1] = Some(DType::I64);
        let d = inputs.iter().chain(outputs[..1].iter()).flatten().next().copied();
        if let Some(d) = d {
            for slot in inputs.iter_mut().chain(outputs[..1].iter_mut()) {
                slot.get_or_insert(d);
            }
        }
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let single = matches!(dt[0], DType::F32 | DType::F16 | DType::BF16);
        let (out, arg) = self.pool(&values(&x[0]), x[0].shape, &values(&x[1]), single);
        Ok(vec![storage_of(dt[0], out), CpuStorage::I64(arg.into())])
    }
}

/// `_backward_ROIPooling(ograd, maxidx, data)`: the data gradient.
#[derive(Debug)]
struct RoiPoolBackward;

impl Operator for RoiPoolBackward {
    fn name(&self) -> &str {
        "_backward_ROIPooling"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 3)?;
        if inputs[0] != inputs[1] || inputs[2].len() != 4 {
            return Err(Error::shape(
                self.name(),
                format!("ograd {} and maxidx {} must match", fmt_shape(&inputs[0]), fmt_shape(&inputs[1])),
            ));
        }
        Ok(vec![inputs[2].clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        shapes_of_inputs(self, &[2], inputs, outputs)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        crate::op::grad::dtype_of_input(self.name(), 0, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let mut g = vec![0.0; prod(&out[0])];
        for (&v, &i) in values(&x[0]).iter().zip(&values(&x[1])) {
            if i >= 0.0 && (i as usize) < g.len() {
                g[i as usize] += v;
            }
        }
        Ok(vec![storage_of(dt[0], g)])
    }
}

fn grad_roi(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let gd = b.apply("_backward_ROIPooling", &[g[0], y[1], x[0]], Attrs::default())?;
    Ok(vec![Some(gd), Some(b.unary("zeros_like", x[1])?)])
}

fn create(a: &Attrs) -> Result<Box<dyn Operator>> {
    let n = "ROIPooling";
    a.check_known(n, &["pooled_size", "spatial_scale"])?;
    let p = a.shape(n, "pooled_size")?;
    let scale = a.float(n, "spatial_scale")?;
    match p[..] {
        [h, w] if h > 0 && w > 0 && (0.0..=1.0).contains(&scale) => Ok(Box::new(RoiPool { pooled: (h, w), scale })),
        _ => Err(Error::param(
            n,
            format!("pooled_size {p:?} must be two positive sizes, spatial_scale {scale} in [0, 1]"),
        )),
    }
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("pooled_size" = None, "spatial_scale" = None);
    r.add("ROIPooling", &["data", "rois"], p, "max pooling of regions of interest", create);
    r.add("_backward_ROIPooling", &["ograd", "maxidx", "data"], params!(), "gradient of ROIPooling", |_: &Attrs| {
        Ok(Box::new(RoiPoolBackward))
    });
    r.set_gradient("ROIPooling", grad_roi);
}
