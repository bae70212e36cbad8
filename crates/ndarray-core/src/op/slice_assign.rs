//! Slice assignment (`a[:, 1:3] = x`): `_slice_assign` (an array), `_slice_assign_scalar`, and the
//! gradient of the assigned array.

use super::grad::{Grads, pick_attrs};
use super::matrix::resolve_range;
use super::registry::Registry;
use super::{Attrs, DevIn, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::device::{self, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{Shape, fmt_shape, size_of, strides_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

/// `_slice_assign` (rhs array) and `_slice_assign_scalar`: lhs with a strided window replaced.
#[derive(Debug)]
struct SliceAssign {
    name: &'static str,
    begin: Vec<Option<i64>>,
    end: Vec<Option<i64>>,
    step: Vec<Option<i64>>,
    scalar: Option<f64>,
}

impl SliceAssign {
    fn ranges(&self, s: &[usize]) -> Result<Vec<(usize, usize, i64)>> {
        let mut r: Vec<(usize, usize, i64)> = s.iter().map(|&d| (0, d, 1)).collect();
        if self.begin.len() > s.len() || self.end.len() != self.begin.len() {
            return Err(Error::param(self.name, format!("begin/end do not fit shape {}", fmt_shape(s))));
        }
        for i in 0..self.begin.len() {
            r[i] = resolve_range(self.name, s[i], self.begin[i], self.end[i], self.step.get(i).copied().flatten())?;
        }
        Ok(r)
    }

    /// The window over an lhs of shape `s`: (its shape, first element, strides).
    fn window(&self, s: &[usize]) -> Result<(Shape, isize, Vec<isize>)> {
        let rs = self.ranges(s)?;
        let cs = strides_of(s);
        let base = rs.iter().zip(&cs).map(|(r, &c)| (r.0 * c) as isize).sum();
        let st = rs.iter().zip(&cs).map(|(r, &c)| r.2 as isize * c as isize).collect();
        Ok((rs.iter().map(|r| r.1).collect(), base, st))
    }
}

impl Operator for SliceAssign {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let want = if self.scalar.is_some() { 1 } else { 2 };
        expect_inputs(self.name, inputs.len(), want)?;
        let win: Shape = self.ranges(&inputs[0])?.iter().map(|r| r.1).collect();
        if let Some(rhs) = inputs.get(1)
            && size_of(rhs) != size_of(&win)
            && size_of(rhs) != 1
        {
            {
                return Err(Error::shape(
                    self.name,
                    format!(
                        "cannot assign an array of shape {} to a window of shape {}",
                        fmt_shape(rhs),
                        fmt_shape(&win)
                    ),
                ));
            }
        }
        Ok(vec![inputs[0].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let (win, base, st) = self.window(x[0].shape)?;
        let dtype = x[0].dtype();
        // The values in lhs's dtype: the scalar as one element, rhs (cast when it differs).
        let owned = match self.scalar {
            Some(v) => device::fill(x[0].data.device_id(), dtype, 1, v)?,
            None if x[1].dtype() == dtype => None,
            None => device::cast(x[1], dtype)?,
        };
        let one = [1usize];
        let rhs = match (&owned, self.scalar) {
            (Some(o), Some(_)) => DevIn { data: o, offset: 0, shape: &one },
            (Some(o), None) => DevIn { data: o, offset: 0, shape: x[1].shape },
            (None, None) if x[1].dtype() == dtype => x[1],
            (None, _) => return Ok(None),
        };
        Ok(device::assign_window(x[0], rhs, base, &win, &st)?.map(|o| vec![o]))
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let s = x[0].shape;
        let rs = self.ranges(s)?;
        let win: Shape = rs.iter().map(|r| r.1).collect();
        let nwin = size_of(&win);
        let mut out = x[0].to_storage();
        let vals: CpuStorage = match self.scalar {
            Some(v) => CpuStorage::full(out.dtype(), 1, v),
            None => x[1].data.cast(x[1].offset, x[1].len(), out.dtype()),
        };
        let cs = strides_of(s);
        let base: isize = rs.iter().zip(&cs).map(|(r, &c)| (r.0 * c) as isize).sum();
        let st: Vec<isize> = rs.iter().zip(&cs).map(|(r, &c)| r.2 as isize * c as isize).collect();
        dispatch!(storage &mut out => ov: T, {
            let src = T::slice(&vals).expect("cast above");
            let mut idx = vec![0usize; win.len()];
            for k in 0..nwin {
                let mut rem = k;
                for ax in (0..win.len()).rev() {
                    idx[ax] = rem % win[ax];
                    rem /= win[ax];
                }
                let pos = base + idx.iter().zip(&st).map(|(&i, &t)| i as isize * t).sum::<isize>();
                ov[pos as usize] = if src.len() == 1 { src[0] } else { src[k] };
            }
        });
        Ok(vec![out])
    }
}

/// `_backward_slice_assign_rhs(ograd, rhs)`: the gradient of `_slice_assign`'s rhs, the
/// window of the output gradient in rhs's shape (summed when a single rhs value was broadcast).
#[derive(Debug)]
struct SliceAssignRhsBackward {
    win: SliceAssign,
}

impl Operator for SliceAssignRhsBackward {
    fn name(&self) -> &str {
        self.win.name
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        super::grad::shapes_of_inputs(self, &[1], inputs, outputs)
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        self.win.infer_shape(inputs)?;
        Ok(vec![inputs[1].clone()])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        // The window of the output gradient; a broadcast single value (a sum) has no kernel.
        let (win, base, st) = self.win.window(x[0].shape)?;
        if x[1].len() != win.iter().product::<usize>() {
            return Ok(None);
        }
        Ok(device::gather(x[0], base, &win, &st)?.map(|o| vec![o]))
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let s = x[0].shape;
        let rs = self.win.ranges(s)?;
        let win: Shape = rs.iter().map(|r| r.1).collect();
        let cs = strides_of(s);
        let base: isize = rs.iter().zip(&cs).map(|(r, &c)| (r.0 * c) as isize).sum();
        let st: Vec<isize> = rs.iter().zip(&cs).map(|(r, &c)| r.2 as isize * c as isize).collect();
        let w = super::matrix::gather_view(ctx.par, &x[0], base, &win, &st);
        if x[1].len() == w.len() {
            return Ok(vec![w]);
        }
        let all = vec![true; win.len()];
        Ok(vec![crate::backend::cpu::reduce::reduce_storage(
            ctx.par,
            crate::backend::cpu::reduce::ReduceKind::Sum,
            &w,
            &win,
            &all,
        )])
    }
}

/// `_slice_assign_scalar`: the assigned window gets no gradient.
fn grad_slice_assign_scalar(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    _: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Grads {
    let mut at = pick_attrs(a, &["begin", "end", "step"]);
    at.set("scalar", "0");
    Ok(vec![Some(b.apply("_slice_assign_scalar", &[g[0]], at)?)])
}

/// `_slice_assign`: lhs gets the gradient outside the window, rhs the window. Fused
/// `_backward_slice_assign_rhs`, not timed: the rhs may be any shape of the window's size or
/// one broadcast value (the window is then summed), a choice made on shapes.
fn grad_slice_assign(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let win = pick_attrs(a, &["begin", "end", "step"]);
    let mut at = win.clone();
    at.set("scalar", "0");
    let gl = b.apply("_slice_assign_scalar", &[g[0]], at)?;
    let gr = b.apply("_backward_slice_assign_rhs", &[g[0], x[1]], win)?;
    Ok(vec![Some(gl), Some(gr)])
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "_slice_assign",
        &["lhs", "rhs"],
        params!("begin" = None, "end" = None, "step" = Some("()")),
        "assign rhs to a window of lhs",
        |a: &Attrs| {
            Ok(Box::new(SliceAssign {
                name: "_slice_assign",
                begin: a.opt_list("_slice_assign", "begin")?,
                end: a.opt_list("_slice_assign", "end")?,
                step: a.opt_list("_slice_assign", "step")?,
                scalar: None,
            }))
        },
    );
    r.alias("_crop_assign", "_slice_assign");
    r.add(
        "_slice_assign_scalar",
        &["data"],
        params!("scalar" = Some("0"), "begin" = None, "end" = None, "step" = Some("()")),
        "assign a scalar to a window",
        |a: &Attrs| {
            Ok(Box::new(SliceAssign {
                name: "_slice_assign_scalar",
                begin: a.opt_list("_slice_assign_scalar", "begin")?,
                end: a.opt_list("_slice_assign_scalar", "end")?,
                step: a.opt_list("_slice_assign_scalar", "step")?,
                scalar: Some(a.float_or("_slice_assign_scalar", "scalar", 0.0)?),
            }))
        },
    );
    r.alias("_crop_assign_scalar", "_slice_assign_scalar");
    r.add(
        "_backward_slice_assign_rhs",
        &["ograd", "rhs"],
        params!("begin" = None, "end" = None, "step" = Some("()")),
        "gradient of _slice_assign's rhs",
        |a: &Attrs| {
            let name = "_backward_slice_assign_rhs";
            Ok(Box::new(SliceAssignRhsBackward {
                win: SliceAssign {
                    name,
                    begin: a.opt_list(name, "begin")?,
                    end: a.opt_list(name, "end")?,
                    step: a.opt_list(name, "step")?,
                    scalar: None,
                },
            }))
        },
    );
    r.set_gradient("_slice_assign_scalar", grad_slice_assign_scalar);
    r.set_gradient("_slice_assign", grad_slice_assign);
}
