//! `GridGenerator(data, transform_type, target_shape)`: with `affine`, `data` is `(n, 6)`, the
//! rows of a 2x3 matrix applied to the target grid's normalised `(x, y, 1)` coordinates, giving
//! `(n, 2, h, w)`; with `warp`, `data` is an `(n, 2, h, w)` flow in pixels added to each pixel's
//! position and normalised to [-1, 1]. `_backward_GridGenerator(ograd)` is its data gradient.

use super::common::{storage_of, values};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::grad::{Grads, pick_attrs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

/// The transform of a grid generator.
#[derive(Debug, Clone, Copy)]
pub(super) enum Transform {
    /// A 2x3 affine matrix per batch item onto a `(h, w)` target grid.
    Affine(usize, usize),
    /// A per-pixel flow.
    Warp,
}

/// The normalised target coordinates `(x, y)` of each of the `h * w` pixels, MXNet's
/// `-1 + i * 2 / (size - 1)` (NaN along an axis of size 1, as MXNet gives).
fn target_coords(h: usize, w: usize) -> Vec<(f64, f64)> {
    let (sx, sy) = (2.0 / (w as f64 - 1.0), 2.0 / (h as f64 - 1.0));
    (0..h * w).map(|i| ((i % w) as f64 * sx - 1.0, (i / w) as f64 * sy - 1.0)).collect()
}

impl Transform {
    /// Parse `transform_type` and `target_shape` for op `op`.
    pub(super) fn parse(op: &str, a: &Attrs) -> Result<Transform> {
        match a.str_or("transform_type", "") {
            "affine" => {
                let t = a.opt_tuple(op, "target_shape")?.unwrap_or_else(|| vec![0, 0]);
                match t[..] {
                    [h, w] if h > 0 && w > 0 => Ok(Transform::Affine(h as usize, w as usize)),
                    _ => Err(Error::param(op, format!("target_shape {t:?} must be two positive sizes for affine"))),
                }
            }
            "warp" => Ok(Transform::Warp),
            t => Err(Error::param(op, format!("transform_type must be 'affine' or 'warp', got '{t}'"))),
        }
    }

    /// The grid shape for `data` of shape `d`.
    pub(super) fn out_shape(&self, op: &str, d: &[usize]) -> Result<Shape> {
        match (*self, d) {
            (Transform::Affine(h, w), [n, 6]) => Ok(vec![*n, 2, h, w]),
            (Transform::Warp, [_, 2, _, _]) => Ok(d.to_vec()),
            (Transform::Affine(..), _) => {
                Err(Error::shape(op, format!("affine needs data of shape (n, 6), got {}", fmt_shape(d))))
            }
            (Transform::Warp, _) => {
                Err(Error::shape(op, format!("warp needs data of shape (n, 2, h, w), got {}", fmt_shape(d))))
            }
        }
    }

    /// The grid of `data` (shape `d`).
    pub(super) fn grid(&self, data: &[f64], d: &[usize]) -> Vec<f64> {
        match *self {
            Transform::Affine(h, w) => {
                let coords = target_coords(h, w);
                let mut out = Vec::with_capacity(d[0] * 2 * h * w);
                for row in data.chunks(3) {
                    out.extend(coords.iter().map(|&(x, y)| row[0] * x + row[1] * y + row[2]));
                }
                out
            }
            Transform::Warp => {
                let (h, w) = (d[2], d[3]);
                let (hx, hy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
                let mut out = data.to_vec();
                for (k, plane) in out.chunks_mut((h * w).max(1)).enumerate() {
                    for (i, v) in plane.iter_mut().enumerate() {
                        *v = if k % 2 == 0 { (*v + (i % w) as f64) / hx } else { (*v + (i / w) as f64) / hy } - 1.0;
                    }
                }
                out
            }
        }
    }

    /// The data gradient given the grid's gradient `g` (shape `(n, 2, h, w)`).
    pub(super) fn backward(&self, g: &[f64], gs: &[usize]) -> Vec<f64> {
        let (h, w) = (gs[2], gs[3]);
        match *self {
            Transform::Affine(..) => {
                let coords = target_coords(h, w);
                let mut out = Vec::with_capacity(g.len() / (h * w) * 3);
                for plane in g.chunks((h * w).max(1)) {
                    let mut r = [0.0; 3];
                    for (&gv, &(x, y)) in plane.iter().zip(&coords) {
                        r[0] += gv * x;
                        r[1] += gv * y;
                        r[2] += gv;
                    }
                    out.extend(r);
                }
                out
            }
            Transform::Warp => {
                let (hx, hy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
                g.chunks((h * w).max(1))
                    .enumerate()
                    .flat_map(|(k, plane)| plane.iter().map(move |&v| if k % 2 == 0 { v / hx } else { v / hy }))
                    .collect()
            }
        }
    }
}

#[derive(Debug)]
struct GridGenerator(Transform);

impl Operator for GridGenerator {
    fn name(&self) -> &str {
        "GridGenerator"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 1)?;
        Ok(vec![self.0.out_shape(self.name(), &inputs[0])?])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![storage_of(dt[0], self.0.grid(&values(&x[0]), x[0].shape))])
    }
}

/// `_backward_GridGenerator(ograd)`: the data gradient of `GridGenerator`.
#[derive(Debug)]
struct GridGeneratorBackward(Transform);

impl Operator for GridGeneratorBackward {
    fn name(&self) -> &str {
        "_backward_GridGenerator"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 1)?;
        match (self.0, &inputs[0][..]) {
            (Transform::Affine(h, w), &[n, 2, gh, gw]) if (gh, gw) == (h, w) => Ok(vec![vec![n, 6]]),
            (Transform::Warp, [_, 2, _, _]) => Ok(vec![inputs[0].clone()]),
            _ => Err(Error::shape(self.name(), format!("ograd of shape {} is not a grid", fmt_shape(&inputs[0])))),
        }
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![storage_of(dt[0], self.0.backward(&values(&x[0]), x[0].shape))])
    }
}

fn grad_grid(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply("_backward_GridGenerator", &[g[0]], pick_attrs(a, &["transform_type", "target_shape"]))?)])
}

pub(super) fn register(r: &mut Registry) {
    let p = || params!("transform_type" = None, "target_shape" = Some("(0, 0)"));
    r.add("GridGenerator", &["data"], p(), "a sampling grid from an affine transform or a warp flow", |a: &Attrs| {
        a.check_known("GridGenerator", &["transform_type", "target_shape"])?;
        Ok(Box::new(GridGenerator(Transform::parse("GridGenerator", a)?)))
    });
    r.add("_backward_GridGenerator", &["ograd"], p(), "gradient of GridGenerator", |a: &Attrs| {
        Ok(Box::new(GridGeneratorBackward(Transform::parse("_backward_GridGenerator", a)?)))
    });
    r.set_gradient("GridGenerator", grad_grid);
}
