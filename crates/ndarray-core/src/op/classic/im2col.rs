//! `im2col` (sliding blocks of an (N, C, *spatial) array as columns, (N, C * prod(kernel), L))
//! and `col2im` (columns summed back into an image of `output_size`), each the other's
//! gradient; `_backward_im2col(ograd, data)` is `col2im` with data's spatial shape.

use super::common::{prod, storage_of, values};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::grad::{Grads, pick_attrs, shapes_of_inputs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

/// The sliding-window geometry, one entry per spatial axis.
#[derive(Clone, Debug)]
struct Window {
    kernel: Vec<usize>,
    stride: Vec<usize>,
    dilate: Vec<usize>,
    pad: Vec<usize>,
}

impl Window {
    fn parse(op: &str, a: &Attrs) -> Result<Window> {
        let kernel = a.shape(op, "kernel")?;
        let k = kernel.len();
        let get = |key: &str, default: usize| -> Result<Vec<usize>> {
            let v = a.shape(op, key)?;
            match v.len() {
                0 => Ok(vec![default; k]),
                n if n == k => Ok(v),
                _ => Err(Error::param(op, format!("{key} {v:?} must have one entry per kernel axis ({k})"))),
            }
        };
        let w = Window { stride: get("stride", 1)?, dilate: get("dilate", 1)?, pad: get("pad", 0)?, kernel };
        if !(1..=3).contains(&k) || w.kernel.contains(&0) || w.stride.contains(&0) || w.dilate.contains(&0) {
            return Err(Error::param(
                op,
                format!("kernel {:?} must have 1 to 3 positive entries, stride and dilate positive", w.kernel),
            ));
        }
        Ok(w)
    }

    /// The number of blocks along each spatial axis of an image of `spatial`.
    fn blocks(&self, op: &str, spatial: &[usize]) -> Result<Vec<usize>> {
        (0..self.kernel.len())
            .map(|i| {
                let padded = spatial[i] + 2 * self.pad[i];
                let dk = self.dilate[i] * (self.kernel[i] - 1) + 1;
                if dk > padded {
                    return Err(Error::shape(
                        op,
                        format!("kernel {:?} (dilated) exceeds the padded input {}", self.kernel, fmt_shape(spatial)),
                    ));
                }
                Ok((padded - dk) / self.stride[i] + 1)
            })
            .collect()
    }

    /// For each (kernel offset, block) pair, the flat position in one image channel or `None`
    /// in the padding; kernel offsets are rows, blocks columns.
    fn positions(&self, spatial: &[usize], blocks: &[usize]) -> Vec<Option<usize>> {
        let (kn, ln) = (prod(&self.kernel), prod(blocks));
        let mut out = Vec::with_capacity(kn * ln);
        for kf in 0..kn {
            let ko = unflatten(kf, &self.kernel);
            for lf in 0..ln {
                let lo = unflatten(lf, blocks);
                let mut pos = 0usize;
                let mut inside = true;
                for d in 0..ko.len() {
                    let x = (lo[d] * self.stride[d] + ko[d] * self.dilate[d]) as i64 - self.pad[d] as i64;
                    inside &= (0..spatial[d] as i64).contains(&x);
                    pos = pos * spatial[d] + x.max(0) as usize;
                }
                out.push(inside.then_some(pos));
            }
        }
        out
    }
}

fn unflatten(mut f: usize, dims: &[usize]) -> Vec<usize> {
    let mut v = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        v[d] = f % dims[d];
        f /= dims[d];
    }
    v
}

/// `im2col(data)`, `col2im(data)` (`output_size` set) and `_backward_im2col(ograd, data)`.
#[derive(Debug)]
struct Im2col {
    name: &'static str,
    win: Window,
    /// col2im's image size; `None` for im2col and for `_backward_im2col` (data's).
    output_size: Option<Vec<usize>>,
    backward: bool,
}

impl Im2col {
    fn image_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        let k = self.win.kernel.len();
        let bad = |s: &Shape| {
            Error::shape(self.name, format!("data {} does not fit kernel {:?}", fmt_shape(s), self.win.kernel))
        };
        if let Some(sz) = &self.output_size {
            let c = &inputs[0];
            let kn = prod(&self.win.kernel);
            if c.len() != 3 || kn == 0 || !c[1].is_multiple_of(kn) {
                return Err(bad(c));
            }
            return Ok([c[0], c[1] / kn].iter().chain(sz).copied().collect());
        }
        let img = &inputs[inputs.len() - 1];
        if img.len() != k + 2 {
            return Err(bad(img));
        }
        Ok(img.clone())
    }
    fn col_shape(&self, img: &[usize]) -> Result<Shape> {
        let blocks = self.win.blocks(self.name, &img[2..])?;
        Ok(vec![img[0], img[1] * prod(&self.win.kernel), prod(&blocks)])
    }
}

impl Operator for Im2col {
    fn name(&self) -> &str {
        self.name
    }
    fn input_names(&self) -> Option<Vec<String>> {
        Some(if self.backward { vec!["ograd".into(), "data".into()] } else { vec!["data".into()] })
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), if self.backward { 2 } else { 1 })?;
        let img = self.image_shape(inputs)?;
        let col = self.col_shape(&img)?;
        let given = if self.backward || self.output_size.is_some() { Some(&inputs[0]) } else { None };
        if let Some(g) = given
            && *g != col
        {
            return Err(Error::shape(
                self.name,
                format!(
                    "columns {} do not match {} expected for image {}",
                    fmt_shape(g),
                    fmt_shape(&col),
                    fmt_shape(&img)
                ),
            ));
        }
        Ok(vec![if given.is_some() { img } else { col }])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if self.backward {
            return shapes_of_inputs(self, &[1], inputs, outputs);
        }
        let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
        crate::op::assign_shapes(self.name, outputs, &self.infer_shape(&known)?)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let to_image = self.backward || self.output_size.is_some();
        let img = if to_image { out[0].clone() } else { x[0].shape.to_vec() };
        let spatial = &img[2..];
        let blocks = self.win.blocks(self.name, spatial)?;
        let pos = self.win.positions(spatial, &blocks);
        let (plane, rows) = (prod(spatial), pos.len());
        let v = values(&x[0]);
        let nc = img[0] * img[1];
        let mut o = vec![0.0; if to_image { nc * plane } else { nc * rows }];
        for ch in 0..nc {
            for (r, p) in pos.iter().enumerate() {
                if let Some(p) = p {
                    if to_image {
                        o[ch * plane + p] += v[ch * rows + r];
                    } else {
                        o[ch * rows + r] = v[ch * plane + p];
                    }
                }
            }
        }
        Ok(vec![storage_of(dt[0], o)])
    }
}

fn create(name: &'static str, a: &Attrs) -> Result<Box<dyn Operator>> {
    let col2im = name == "col2im";
    let keys: &[&str] = if col2im {
        &["output_size", "kernel", "stride", "dilate", "pad"]
    } else {
        &["kernel", "stride", "dilate", "pad"]
    };
    a.check_known(name, keys)?;
    let win = Window::parse(name, a)?;
    let output_size = if col2im {
        let s = a.shape(name, "output_size")?;
        if s.len() != win.kernel.len() || s.contains(&0) {
            return Err(Error::param(name, format!("output_size {s:?} must be positive, one entry per kernel axis")));
        }
        Some(s)
    } else {
        None
    };
    Ok(Box::new(Im2col { name, win, output_size, backward: name == "_backward_im2col" }))
}

fn grad_im2col(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let at = pick_attrs(a, &["kernel", "stride", "dilate", "pad"]);
    Ok(vec![Some(b.apply("_backward_im2col", &[g[0], x[0]], at)?)])
}

fn grad_col2im(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply("im2col", &[g[0]], pick_attrs(a, &["kernel", "stride", "dilate", "pad"]))?)])
}

pub(super) fn register(r: &mut Registry) {
    let wp = params!("kernel" = None, "stride" = Some("[]"), "dilate" = Some("[]"), "pad" = Some("[]"));
    r.add("im2col", &["data"], wp, "sliding blocks of an image as columns", |a: &Attrs| create("im2col", a));
    r.add("_backward_im2col", &["ograd", "data"], wp, "gradient of im2col (col2im to data's shape)", |a: &Attrs| {
        create("_backward_im2col", a)
    });
    let cp = params!(
        "output_size" = None,
        "kernel" = None,
        "stride" = Some("[]"),
        "dilate" = Some("[]"),
        "pad" = Some("[]")
    );
    r.add("col2im", &["data"], cp, "columns summed back into an image", |a: &Attrs| create("col2im", a));
    r.set_gradient("im2col", grad_im2col);
    r.set_gradient("col2im", grad_col2im);
}
