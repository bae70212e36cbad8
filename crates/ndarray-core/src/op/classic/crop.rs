//! The legacy `Crop(*data, num_args, offset, h_w, center_crop)`: a (h, w) window of 4-D
//! (N, C, H, W) data, its size from `h_w` or from a second input's last two axes, at `offset`
//! or centred. `_backward_Crop(ograd, data)` puts the output gradient back into zeros.

use super::common::{prod, storage_of, values};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::grad::{Grads, pick_attrs, shapes_of_inputs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

#[derive(Debug)]
struct Crop {
    backward: bool,
    num_args: usize,
    offset: (usize, usize),
    h_w: (usize, usize),
    center: bool,
}

impl Crop {
    fn op(&self) -> &'static str {
        if self.backward { "_backward_Crop" } else { "Crop" }
    }
    /// The output shape and the window's (top, left) for data of shape `d`.
    fn window(&self, d: &[usize], like: Option<&Shape>) -> Result<(Shape, usize, usize)> {
        let bad = |why: String| Error::shape(self.op(), format!("data {}: {why}", fmt_shape(d)));
        if d.len() != 4 {
            return Err(bad("must be 4-D (N, C, H, W)".into()));
        }
        let (h, w) = match like {
            Some(l) if l.len() >= 2 => (l[l.len() - 2], l[l.len() - 1]),
            Some(l) => return Err(bad(format!("crop_like {} needs a height and a width", fmt_shape(l)))),
            None => self.h_w,
        };
        if h == 0 || w == 0 || h > d[2] || w > d[3] {
            return Err(bad(format!("cannot crop a ({h}, {w}) window")));
        }
        let (y, x) = if self.center { ((d[2] - h) / 2, (d[3] - w) / 2) } else { self.offset };
        if y > d[2] - h || x > d[3] - w {
            return Err(bad(format!("offset ({y}, {x}) leaves no room for a ({h}, {w}) window")));
        }
        Ok((vec![d[0], d[1], h, w], y, x))
    }
}

impl Operator for Crop {
    fn name(&self) -> &str {
        self.op()
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let args = (0..self.num_args).map(|i| format!("arg{i}"));
        Some(if self.backward { std::iter::once("ograd".to_string()).chain(args).collect() } else { args.collect() })
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let skip = usize::from(self.backward);
        expect_inputs(self.op(), inputs.len(), self.num_args + skip)?;
        let (out, _, _) = self.window(&inputs[skip], inputs.get(skip + 1))?;
        if !self.backward {
            return Ok(vec![out]);
        }
        if inputs[0] != out {
            return Err(Error::shape(
                self.op(),
                format!("ograd {} differs from the crop's shape {}", fmt_shape(&inputs[0]), fmt_shape(&out)),
            ));
        }
        Ok(vec![inputs[1].clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if self.backward {
            return shapes_of_inputs(self, &[1], inputs, outputs);
        }
        let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
        crate::op::assign_shapes(self.op(), outputs, &self.infer_shape(&known)?)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        crate::op::grad::dtype_of_input(self.op(), 0, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let skip = usize::from(self.backward);
        let d = x[skip].shape;
        let like: Option<Shape> = x.get(skip + 1).map(|t| t.shape.to_vec());
        let (o, y, xo) = self.window(d, like.as_ref())?;
        let (h, w, hd, wd) = (o[2], o[3], d[2], d[3]);
        let planes = d[0] * d[1];
        let v = values(&x[0]);
        let mut out = vec![0.0; if self.backward { prod(d) } else { prod(&o) }];
        for p in 0..planes {
            for i in 0..h {
                for j in 0..w {
                    let (small, big) = (p * h * w + i * w + j, p * hd * wd + (y + i) * wd + xo + j);
                    if self.backward {
                        out[big] = v[small];
                    } else {
                        out[small] = v[big];
                    }
                }
            }
        }
        Ok(vec![storage_of(dt[0], out)])
    }
}

fn pair(op: &str, a: &Attrs, key: &str) -> Result<(usize, usize)> {
    let v = a.opt_tuple(op, key)?.unwrap_or_else(|| vec![0, 0]);
    match v[..] {
        [p, q] if p >= 0 && q >= 0 => Ok((p as usize, q as usize)),
        _ => Err(Error::param(op, format!("{key} {v:?} must be two non-negative integers"))),
    }
}

fn create(backward: bool, a: &Attrs) -> Result<Box<dyn Operator>> {
    let op = if backward { "_backward_Crop" } else { "Crop" };
    a.check_known(op, &["num_args", "offset", "h_w", "center_crop"])?;
    let num_args = a.count(op, "num_args")?;
    if num_args > 2 {
        return Err(Error::param(op, format!("num_args {num_args} must be 1 (h_w) or 2 (crop_like)")));
    }
    Ok(Box::new(Crop {
        backward,
        num_args,
        offset: pair(op, a, "offset")?,
        h_w: pair(op, a, "h_w")?,
        center: a.bool_or(op, "center_crop", false)?,
    }))
}

/// Crop: the output gradient put back into zeros of data's shape; crop_like gets zeros.
fn grad_crop(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let mut ins = vec![g[0]];
    ins.extend_from_slice(x);
    let at = pick_attrs(a, &["num_args", "offset", "h_w", "center_crop"]);
    let mut out = vec![Some(b.apply("_backward_Crop", &ins, at)?)];
    for &e in &x[1..] {
        out.push(Some(b.unary("zeros_like", e)?));
    }
    Ok(out)
}

pub(super) fn register(r: &mut Registry) {
    let p =
        params!("num_args" = None, "offset" = Some("(0, 0)"), "h_w" = Some("(0, 0)"), "center_crop" = Some("False"));
    r.add("Crop", &["*data"], p, "a (h, w) window of 4-D data (legacy)", |a: &Attrs| create(false, a));
    r.add("_backward_Crop", &["ograd", "data"], p, "gradient of Crop", |a: &Attrs| create(true, a));
    r.set_gradient("Crop", grad_crop);
}
