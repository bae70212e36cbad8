//! `BilinearSampler(data, grid)`: samples `(n, c, h, w)` data at an `(n, 2, oh, ow)` grid of
//! normalised `(x, y)` positions (-1 and 1 are the first and last pixel centres), bilinearly,
//! with zero outside the image, giving `(n, c, oh, ow)`. `_backward_BilinearSampler(ograd,
//! data, grid)` gives both gradients. `SpatialTransformer(data, loc)` samples at the affine
//! grid of `loc` (`GridGenerator` then `BilinearSampler`).

use super::common::{storage_of, values};
use super::grid::Transform;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::grad::{Grads, pick_attrs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs, same_dtype};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

/// The output shape of sampling data of shape `d` at a grid of shape `g`.
fn sampled_shape(op: &str, d: &[usize], g: &[usize]) -> Result<Shape> {
    match (d, g) {
        ([n, c, _, _], [gn, 2, h, w]) if n == gn => Ok(vec![*n, *c, *h, *w]),
        _ => Err(Error::shape(
            op,
            format!(
                "needs data (n, c, h, w) and grid (n, 2, oh, ow); got data {} and grid {}",
                fmt_shape(d),
                fmt_shape(g)
            ),
        )),
    }
}

/// One output pixel's four neighbours: their flat positions in a data plane (`None` outside)
/// and the weights of the top-left corner along y and x.
struct Corners {
    at: [Option<usize>; 4],
    wy: f64,
    wx: f64,
}

impl Corners {
    /// The neighbours of normalised position `(gx, gy)` in an `h x w` plane.
    fn new(gx: f64, gy: f64, h: usize, w: usize) -> Corners {
        let y = (gy + 1.0) * (h as f64 - 1.0) / 2.0;
        let x = (gx + 1.0) * (w as f64 - 1.0) / 2.0;
        let (y0, x0) = (y.floor(), x.floor());
        let inside = |yy: f64, xx: f64| {
            (yy >= 0.0 && yy <= h as f64 - 1.0 && xx >= 0.0 && xx <= w as f64 - 1.0)
                .then(|| yy as usize * w + xx as usize)
        };
        Corners {
            at: [inside(y0, x0), inside(y0, x0 + 1.0), inside(y0 + 1.0, x0), inside(y0 + 1.0, x0 + 1.0)],
            wy: 1.0 - (y - y0),
            wx: 1.0 - (x - x0),
        }
    }

    /// The weights of the four neighbours.
    fn weights(&self) -> [f64; 4] {
        let (wy, wx) = (self.wy, self.wx);
        [wy * wx, wy * (1.0 - wx), (1.0 - wy) * wx, (1.0 - wy) * (1.0 - wx)]
    }

    /// The four neighbours' values in `plane` (zero outside).
    fn values(&self, plane: &[f64]) -> [f64; 4] {
        self.at.map(|p| p.map_or(0.0, |p| plane[p]))
    }
}

/// The corners of each output pixel of batch item `b` for a grid of shape `gs`.
fn corners(grid: &[f64], gs: &[usize], b: usize, h: usize, w: usize) -> Vec<Corners> {
    let hw = gs[2] * gs[3];
    let (gx, gy) = (&grid[b * 2 * hw..(b * 2 + 1) * hw], &grid[(b * 2 + 1) * hw..(b * 2 + 2) * hw]);
    gx.iter().zip(gy).map(|(&x, &y)| Corners::new(x, y, h, w)).collect()
}

/// Bilinear sampling of `data` (shape `d`) at `grid` (shape `gs`).
pub(super) fn sample(data: &[f64], d: &[usize], grid: &[f64], gs: &[usize]) -> Vec<f64> {
    let (c, hw) = (d[1], d[2] * d[3]);
    let mut out = Vec::with_capacity(d[0] * c * gs[2] * gs[3]);
    if hw == 0 {
        out.resize(d[0] * c * gs[2] * gs[3], 0.0);
        return out;
    }
    for b in 0..d[0] {
        let cs = corners(grid, gs, b, d[2], d[3]);
        for plane in data[b * c * hw..(b + 1) * c * hw].chunks(hw) {
            out.extend(cs.iter().map(|k| k.values(plane).iter().zip(k.weights()).map(|(v, w)| v * w).sum::<f64>()));
        }
    }
    out
}

/// The gradients of data (shape `d`) and grid (shape `gs`) given the output's gradient `g`.
fn sample_backward(g: &[f64], data: &[f64], d: &[usize], grid: &[f64], gs: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let (c, hw, ohw) = (d[1], d[2] * d[3], gs[2] * gs[3]);
    let (sy, sx) = ((d[2] as f64 - 1.0) / 2.0, (d[3] as f64 - 1.0) / 2.0);
    let mut gd = vec![0.0; data.len()];
    let mut gg = vec![0.0; grid.len()];
    for b in 0..d[0] {
        let cs = corners(grid, gs, b, d[2], d[3]);
        for ch in 0..c {
            let base = (b * c + ch) * hw;
            let plane = &data[base..base + hw];
            for (i, k) in cs.iter().enumerate() {
                let go = g[(b * c + ch) * ohw + i];
                for (p, w) in k.at.iter().zip(k.weights()) {
                    if let Some(p) = p {
                        gd[base + p] += go * w;
                    }
                }
                let [tl, tr, bl, br] = k.values(plane);
                let (wy, wx) = (k.wy, k.wx);
                gg[(b * 2 + 1) * ohw + i] -= go * (tl * wx + tr * (1.0 - wx) - bl * wx - br * (1.0 - wx)) * sy;
                gg[b * 2 * ohw + i] -= go * (tl * wy - tr * wy + bl * (1.0 - wy) - br * (1.0 - wy)) * sx;
            }
        }
    }
    (gd, gg)
}

#[derive(Debug)]
struct BilinearSampler;

impl Operator for BilinearSampler {
    fn name(&self) -> &str {
        "BilinearSampler"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        Ok(vec![sampled_shape(self.name(), &inputs[0], &inputs[1])?])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![storage_of(dt[0], sample(&values(&x[0]), x[0].shape, &values(&x[1]), x[1].shape))])
    }
}

/// `_backward_BilinearSampler(ograd, data, grid)`: the gradients of data and grid.
#[derive(Debug)]
struct BilinearSamplerBackward;

impl Operator for BilinearSamplerBackward {
    fn name(&self) -> &str {
        "_backward_BilinearSampler"
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn output_names(&self) -> Vec<String> {
        vec!["data_grad".into(), "grid_grad".into()]
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 3)?;
        let o = sampled_shape(self.name(), &inputs[1], &inputs[2])?;
        if o != inputs[0] {
            return Err(Error::shape(
                self.name(),
                format!("ograd {} does not match the output shape {}", fmt_shape(&inputs[0]), fmt_shape(&o)),
            ));
        }
        Ok(vec![inputs[1].clone(), inputs[2].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = same_dtype(self.name(), inputs)?;
        Ok(vec![d, d])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (gd, gg) = sample_backward(&values(&x[0]), &values(&x[1]), x[1].shape, &values(&x[2]), x[2].shape);
        Ok(vec![storage_of(dt[0], gd), storage_of(dt[0], gg)])
    }
}

/// `SpatialTransformer(data, loc)`: `BilinearSampler(data, GridGenerator(loc))`.
#[derive(Debug)]
struct SpatialTransformer(Transform);

impl Operator for SpatialTransformer {
    fn name(&self) -> &str {
        "SpatialTransformer"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        let g = self.0.out_shape(self.name(), &inputs[1])?;
        Ok(vec![sampled_shape(self.name(), &inputs[0], &g)?])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let g = self.0.grid(&values(&x[1]), x[1].shape);
        let gs = self.0.out_shape(self.name(), x[1].shape)?;
        Ok(vec![storage_of(dt[0], sample(&values(&x[0]), x[0].shape, &g, &gs))])
    }
}

fn grad_sampler(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let gs = b.op("_backward_BilinearSampler", &[g[0], x[0], x[1]], Attrs::default())?;
    Ok(vec![Some(gs[0]), Some(gs[1])])
}

fn grad_st(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let ga = pick_attrs(a, &["target_shape"]);
    let mut ga = ga;
    ga.set("transform_type", "affine");
    let grid = b.apply("GridGenerator", &[x[1]], ga.clone())?;
    let gs = b.op("_backward_BilinearSampler", &[g[0], x[0], grid], Attrs::default())?;
    let gl = b.apply("_backward_GridGenerator", &[gs[1]], ga)?;
    Ok(vec![Some(gs[0]), Some(gl)])
}

fn create_st(a: &Attrs) -> Result<Box<dyn Operator>> {
    let n = "SpatialTransformer";
    a.check_known(n, &["target_shape", "transform_type", "sampler_type", "cudnn_off"])?;
    if a.str_or("transform_type", "") != "affine" || a.str_or("sampler_type", "") != "bilinear" {
        return Err(Error::param(n, "only transform_type 'affine' with sampler_type 'bilinear' exist"));
    }
    a.bool_or(n, "cudnn_off", false)?;
    Ok(Box::new(SpatialTransformer(Transform::parse(n, a)?)))
}

pub(super) fn register(r: &mut Registry) {
    let doc = "bilinear sampling of 4-D data at a normalised grid";
    r.add("BilinearSampler", &["data", "grid"], params!("cudnn_off" = Some("None")), doc, |a: &Attrs| {
        a.check_known("BilinearSampler", &["cudnn_off"])?;
        Ok(Box::new(BilinearSampler))
    });
    let doc = "gradient of BilinearSampler";
    r.add("_backward_BilinearSampler", &["ograd", "data", "grid"], params!(), doc, |_: &Attrs| {
        Ok(Box::new(BilinearSamplerBackward))
    });
    let p = params!(
        "target_shape" = Some("(0, 0)"),
        "transform_type" = None,
        "sampler_type" = None,
        "cudnn_off" = Some("None")
    );
    r.add("SpatialTransformer", &["data", "loc"], p, "affine spatial transformer (bilinear sampling)", create_st);
    r.set_gradient("BilinearSampler", grad_sampler);
    r.set_gradient("SpatialTransformer", grad_st);
}
