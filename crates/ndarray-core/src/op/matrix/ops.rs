//! Shape and layout ops: reshape, flatten, transpose, swapaxes, expand_dims, squeeze, concat,
//! stack, split, tile, repeat, slice, slice_axis, broadcast_to / broadcast_axis / broadcast_like.
//! Most are one strided gather (see `backend::cpu::gather`; on a GPU, `backend::device::gather`).

use crate::backend::cpu::Parallelism;
use crate::backend::cpu::gather::{broadcast_strides, gather};
use crate::backend::device::{self, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, DevIn, OpCtx, Operator, TensorIn, expect_inputs, same_dtype};
use crate::shape::{Shape, fmt_shape, norm_axis, reshape_codes, size_of, strides_of};
use crate::storage::{CpuStorage, StorageElement};

use crate::{dispatch, params};

/// Gather a strided view of one input into a new contiguous storage.
pub(crate) fn gather_view(
    par: Parallelism,
    x: &TensorIn<'_>,
    offset: isize,
    shape: &[usize],
    strides: &[isize],
) -> CpuStorage {
    dispatch!(storage x.data => v: T, {
        let src = &v[x.offset..x.offset + x.len()];
        T::wrap(gather(par, src, offset as usize, shape, strides))
    })
}

/// An op whose output is the (copied) input with a new shape.
#[derive(Debug)]
struct Reshape {
    name: &'static str,
    kind: ReshapeKind,
}

#[derive(Debug)]
enum ReshapeKind {
    Codes { shape: Vec<i64>, reverse: bool },
    Flatten,
    ExpandDims(i64),
    Squeeze(Option<Vec<i64>>),
}

impl Operator for Reshape {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 1)?;
        let s = &inputs[0];
        let out = match &self.kind {
            ReshapeKind::Codes { shape, reverse } => reshape_codes(self.name, s, shape, *reverse)?,
            ReshapeKind::Flatten => {
                if s.is_empty() {
                    vec![1, 1]
                } else {
                    vec![s[0], size_of(&s[1..])]
                }
            }
            ReshapeKind::ExpandDims(axis) => {
                let ax = norm_axis(self.name, *axis, s.len() + 1)?;
                let mut o = s.clone();
                o.insert(ax, 1);
                o
            }
            ReshapeKind::Squeeze(axes) => match axes {
                None => {
                    let o: Shape = s.iter().copied().filter(|&d| d != 1).collect();
                    if o.is_empty() && !s.is_empty() { vec![1] } else { o }
                }
                Some(ax) => {
                    let mut drop = vec![false; s.len()];
                    for &a in ax {
                        let a = norm_axis(self.name, a, s.len())?;
                        if s[a] != 1 {
                            return Err(Error::shape(
                                self.name,
                                format!("cannot squeeze axis {a} of size {} in shape {}", s[a], fmt_shape(s)),
                            ));
                        }
                        drop[a] = true;
                    }
                    let o: Shape = s.iter().zip(&drop).filter(|(_, d)| !**d).map(|(&x, _)| x).collect();
                    if o.is_empty() { vec![1] } else { o }
                }
            },
        };
        Ok(vec![out])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![x[0].to_storage()])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::copy(x[0])?.map(|o| vec![o]))
    }
}

/// `transpose` (a permutation, default reversed) and `SwapAxis` (two axes exchanged).
#[derive(Debug)]
enum Permute {
    Axes(Vec<i64>),
    Swap(i64, i64),
}

impl Permute {
    fn op(&self) -> &'static str {
        match self {
            Permute::Axes(_) => "transpose",
            Permute::Swap(..) => "SwapAxis",
        }
    }

    fn perm(&self, nd: usize) -> Result<Vec<usize>> {
        let axes = match self {
            Permute::Swap(d1, d2) => {
                let (a, b) = (norm_axis("SwapAxis", *d1, nd)?, norm_axis("SwapAxis", *d2, nd)?);
                let mut p: Vec<usize> = (0..nd).collect();
                p.swap(a, b);
                return Ok(p);
            }
            Permute::Axes(axes) => axes,
        };
        if axes.is_empty() {
            return Ok((0..nd).rev().collect());
        }
        if axes.len() != nd {
            return Err(Error::param("transpose", format!("axes {axes:?} do not match an array of {nd} dimension(s)")));
        }
        let p: Vec<usize> = axes.iter().map(|&a| norm_axis("transpose", a, nd)).collect::<Result<_>>()?;
        let mut seen = vec![false; nd];
        for &a in &p {
            if std::mem::replace(&mut seen[a], true) {
                return Err(Error::param("transpose", format!("repeated axis in {axes:?}")));
            }
        }
        Ok(p)
    }
}

impl Operator for Permute {
    fn name(&self) -> &str {
        self.op()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.op(), inputs.len(), 1)?;
        let p = self.perm(inputs[0].len())?;
        Ok(vec![p.iter().map(|&a| inputs[0][a]).collect()])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let p = self.perm(x[0].shape.len())?;
        let cs = strides_of(x[0].shape);
        let st: Vec<isize> = p.iter().map(|&a| cs[a] as isize).collect();
        Ok(vec![gather_view(ctx.par, &x[0], 0, &out[0], &st)])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        out: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let p = self.perm(x[0].shape.len())?;
        let cs = strides_of(x[0].shape);
        let st: Vec<isize> = p.iter().map(|&a| cs[a] as isize).collect();
        Ok(device::gather(x[0], 0, &out[0], &st)?.map(|o| vec![o]))
    }
}

/// `Concat` (dim) and `stack` (axis, a new dimension).
#[derive(Debug)]
pub(super) struct Join {
    pub(super) name: &'static str,
    pub(super) axis: i64,
    pub(super) num_args: usize,
    pub(super) stack: bool,
}

impl Operator for Join {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), self.num_args)?;
        if inputs.is_empty() {
            return Err(Error::param(self.name, "needs at least one input"));
        }
        let s0 = &inputs[0];
        if self.stack {
            let ax = norm_axis(self.name, self.axis, s0.len() + 1)?;
            for s in inputs {
                if s != s0 {
                    return Err(Error::shape(
                        self.name,
                        format!("all inputs must have the same shape, got {} and {}", fmt_shape(s0), fmt_shape(s)),
                    ));
                }
            }
            let mut o = s0.clone();
            o.insert(ax, inputs.len());
            return Ok(vec![o]);
        }
        let ax = norm_axis(self.name, self.axis, s0.len())?;
        let mut o = s0.clone();
        o[ax] = 0;
        for s in inputs {
            let ok = s.len() == s0.len() && s.iter().zip(s0).enumerate().all(|(i, (a, b))| i == ax || a == b);
            if !ok {
                return Err(Error::shape(
                    self.name,
                    format!("shapes {} and {} differ outside the concatenation axis {ax}", fmt_shape(s0), fmt_shape(s)),
                ));
            }
            o[ax] += s[ax];
        }
        Ok(vec![o])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![same_dtype(self.name, inputs)?])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let os = &out[0];
        let ax = norm_axis(self.name, self.axis, os.len())?;
        let outer: usize = os[..ax].iter().product();
        let mut res = CpuStorage::zeros(dt[0], size_of(os));
        let row_out: usize = os[ax..].iter().product();
        let mut col = 0usize;
        for t in x {
            // Each input contributes `chunk` contiguous elements per outer index.
            let chunk: usize = if self.stack { t.len() / outer.max(1) } else { t.shape[ax..].iter().product() };
            let src = t.storage();
            for o in 0..outer {
                let part = src.slice_copy(o * chunk, chunk);
                res.copy_in(o * row_out + col, &part)?;
            }
            col += chunk;
        }
        Ok(vec![res])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        out: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let os = &out[0];
        let ax = norm_axis(self.name, self.axis, os.len())?;
        let outer: usize = os[..ax].iter().product();
        // Each input contributes `chunk` contiguous elements per outer index, as on the host.
        let chunks: Vec<usize> = x
            .iter()
            .map(|t| if self.stack { t.len() / outer.max(1) } else { t.shape[ax..].iter().product() })
            .collect();
        Ok(device::concat(x, outer, &chunks)?.map(|o| vec![o]))
    }
}

/// `SliceChannel` / `split`.
#[derive(Debug)]
struct Split {
    num_outputs: usize,
    axis: i64,
    squeeze: bool,
}

impl Operator for Split {
    fn name(&self) -> &str {
        "SliceChannel"
    }
    fn num_outputs(&self) -> usize {
        self.num_outputs
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("SliceChannel", inputs.len(), 1)?;
        let s = &inputs[0];
        let ax = norm_axis("SliceChannel", self.axis, s.len())?;
        if self.num_outputs == 0 || !s[ax].is_multiple_of(self.num_outputs) {
            return Err(Error::shape(
                "SliceChannel",
                format!("axis {ax} of shape {} cannot be split into {} equal parts", fmt_shape(s), self.num_outputs),
            ));
        }
        let mut o = s.clone();
        o[ax] /= self.num_outputs;
        if self.squeeze {
            if o[ax] != 1 {
                return Err(Error::shape("SliceChannel", "squeeze_axis needs parts of size 1 along the axis"));
            }
            o.remove(ax);
        }
        Ok(vec![o; self.num_outputs])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let s = x[0].shape;
        let ax = norm_axis("SliceChannel", self.axis, s.len())?;
        let part = s[ax] / self.num_outputs;
        let cs = strides_of(s);
        let mut shape = s.to_vec();
        shape[ax] = part;
        let st: Vec<isize> = cs.iter().map(|&c| c as isize).collect();
        Ok((0..self.num_outputs)
            .map(|i| gather_view(ctx.par, &x[0], (i * part * cs[ax]) as isize, &shape, &st))
            .collect())
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let s = x[0].shape;
        let ax = norm_axis("SliceChannel", self.axis, s.len())?;
        let part = s[ax] / self.num_outputs;
        let cs = strides_of(s);
        let mut shape = s.to_vec();
        shape[ax] = part;
        let st: Vec<isize> = cs.iter().map(|&c| c as isize).collect();
        let outs: Option<Vec<DeviceStorage>> = (0..self.num_outputs)
            .map(|i| device::gather(x[0], (i * part * cs[ax]) as isize, &shape, &st))
            .collect::<Result<_>>()?;
        Ok(outs)
    }
}

/// `slice`, `slice_axis` and `crop`: a strided window with optional steps.
#[derive(Debug)]
struct Slice {
    name: &'static str,
    begin: Vec<Option<i64>>,
    end: Vec<Option<i64>>,
    step: Vec<Option<i64>>,
    /// For slice_axis: the single axis the window applies to.
    axis: Option<i64>,
}

/// Resolve Python-style (begin, end, step) on an axis of length `d`: (start, len, step).
pub(crate) fn resolve_range(
    op: &str,
    d: usize,
    b: Option<i64>,
    e: Option<i64>,
    s: Option<i64>,
) -> Result<(usize, usize, i64)> {
    let step = s.unwrap_or(1);
    if step == 0 {
        return Err(Error::param(op, "slice step cannot be zero"));
    }
    let d = d as i64;
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let (start, stop) = if step > 0 {
        let st = b.map(|v| if v < 0 { v + d } else { v }).map(|v| clamp(v, 0, d)).unwrap_or(0);
        let en = e.map(|v| if v < 0 { v + d } else { v }).map(|v| clamp(v, 0, d)).unwrap_or(d);
        (st, en)
    } else {
        let st = b.map(|v| if v < 0 { v + d } else { v }).map(|v| clamp(v, -1, d - 1)).unwrap_or(d - 1);
        let en = e.map(|v| if v < 0 { v + d } else { v }).map(|v| clamp(v, -1, d - 1)).unwrap_or(-1);
        (st, en)
    };
    let len = if step > 0 {
        (stop - start + step - 1).div_euclid(step)
    } else {
        (start - stop + (-step) - 1).div_euclid(-step)
    };
    Ok((start.max(0) as usize, len.max(0) as usize, step))
}

impl Slice {
    /// Per axis (start, len, step).
    fn ranges(&self, s: &[usize]) -> Result<Vec<(usize, usize, i64)>> {
        let mut r: Vec<(usize, usize, i64)> = s.iter().map(|&d| (0, d, 1)).collect();
        if let Some(axis) = self.axis {
            let ax = norm_axis(self.name, axis, s.len())?;
            r[ax] = resolve_range(self.name, s[ax], self.begin[0], self.end[0], Some(1))?;
            return Ok(r);
        }
        if self.begin.len() > s.len() || self.end.len() != self.begin.len() {
            return Err(Error::param(
                self.name,
                format!(
                    "begin {:?} and end {:?} must have the same length, at most ndim of {}",
                    self.begin,
                    self.end,
                    fmt_shape(s)
                ),
            ));
        }
        for i in 0..self.begin.len() {
            let st = self.step.get(i).copied().flatten();
            r[i] = resolve_range(self.name, s[i], self.begin[i], self.end[i], st)?;
        }
        Ok(r)
    }
}

impl Operator for Slice {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 1)?;
        Ok(vec![self.ranges(&inputs[0])?.iter().map(|r| r.1).collect()])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let rs = self.ranges(x[0].shape)?;
        let cs = strides_of(x[0].shape);
        let off: isize = rs.iter().zip(&cs).map(|(r, &c)| (r.0 * c) as isize).sum();
        let st: Vec<isize> = rs.iter().zip(&cs).map(|(r, &c)| r.2 as isize * c as isize).collect();
        Ok(vec![gather_view(ctx.par, &x[0], off, &out[0], &st)])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        out: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let rs = self.ranges(x[0].shape)?;
        let cs = strides_of(x[0].shape);
        let off: isize = rs.iter().zip(&cs).map(|(r, &c)| (r.0 * c) as isize).sum();
        let st: Vec<isize> = rs.iter().zip(&cs).map(|(r, &c)| r.2 as isize * c as isize).collect();
        Ok(device::gather(x[0], off, &out[0], &st)?.map(|o| vec![o]))
    }
}

/// broadcast_to / broadcast_axis / broadcast_like / tile / repeat: a gather with zero strides.
#[derive(Debug)]
struct Expand {
    name: &'static str,
    kind: ExpandKind,
}

#[derive(Debug)]
enum ExpandKind {
    To(Vec<i64>),
    Axis(Vec<i64>, Vec<i64>),
    Like,
    Tile(Vec<i64>),
    Repeat(usize, Option<i64>),
}

impl Expand {
    /// (shape to view the input as, its strides, the output shape)
    fn plan(&self, s: &[usize], other: Option<&[usize]>) -> Result<(Vec<usize>, Vec<isize>, Shape)> {
        let cs: Vec<isize> = strides_of(s).iter().map(|&c| c as isize).collect();
        let bad = |m: String| Error::shape(self.name, m);
        match &self.kind {
            ExpandKind::To(t) => {
                if t.len() != s.len() {
                    return Err(bad(format!("cannot broadcast {} to {:?}: ndim differs", fmt_shape(s), t)));
                }
                let mut out = Vec::with_capacity(s.len());
                for (i, (&d, &w)) in s.iter().zip(t).enumerate() {
                    let w = if w == 0 { d as i64 } else { w };
                    if d as i64 != w && d != 1 {
                        return Err(bad(format!(
                            "cannot broadcast {} to {:?}: axis {i} has size {d}",
                            fmt_shape(s),
                            t
                        )));
                    }
                    out.push(crate::shape::dim(self.name, w)?);
                }
                Ok((out.clone(), broadcast_strides(s, &out), out))
            }
            ExpandKind::Axis(axes, sizes) => {
                if axes.len() != sizes.len() {
                    return Err(bad("axis and size must have the same length".into()));
                }
                let mut out = s.to_vec();
                for (&a, &z) in axes.iter().zip(sizes) {
                    let a = norm_axis(self.name, a, s.len())?;
                    if s[a] != 1 {
                        return Err(bad(format!("axis {a} of {} must have size 1 to broadcast", fmt_shape(s))));
                    }
                    out[a] = crate::shape::dim(self.name, z)?;
                }
                Ok((out.clone(), broadcast_strides(s, &out), out))
            }
            ExpandKind::Like => {
                let t = other.expect("broadcast_like has two inputs");
                let out = crate::shape::broadcast_shapes(self.name, s, t)?;
                if out.len() != t.len() || out.as_slice() != t {
                    return Err(bad(format!("cannot broadcast {} like {}", fmt_shape(s), fmt_shape(t))));
                }
                Ok((out.clone(), broadcast_strides(s, &out), out))
            }
            ExpandKind::Tile(reps) => {
                let nd = s.len().max(reps.len());
                let sp: Vec<usize> = std::iter::repeat_n(1, nd - s.len()).chain(s.iter().copied()).collect();
                let rp: Vec<usize> =
                    std::iter::repeat_n(1, nd - reps.len()).chain(reps.iter().map(|&r| r.max(0) as usize)).collect();
                let spc: Vec<isize> = strides_of(&sp).iter().map(|&c| c as isize).collect();
                // View as (r0, s0, r1, s1, ...) with zero strides on the repeat axes.
                let mut vs = Vec::new();
                let mut st = Vec::new();
                let mut out = Vec::new();
                for i in 0..nd {
                    vs.extend([rp[i], sp[i]]);
                    st.extend([0, spc[i]]);
                    out.push(crate::shape::mul_dim(self.name, rp[i], sp[i])?);
                }
                Ok((vs, st, out))
            }
            ExpandKind::Repeat(n, axis) => match axis {
                None => {
                    let total = size_of(s);
                    Ok((vec![total, *n], vec![1, 0], vec![crate::shape::mul_dim(self.name, total, *n)?]))
                }
                Some(a) => {
                    let a = norm_axis(self.name, *a, s.len())?;
                    let mut vs = s[..=a].to_vec();
                    vs.push(*n);
                    vs.extend_from_slice(&s[a + 1..]);
                    let mut st = cs[..=a].to_vec();
                    st.push(0);
                    st.extend_from_slice(&cs[a + 1..]);
                    let mut out = s.to_vec();
                    out[a] = crate::shape::mul_dim(self.name, out[a], *n)?;
                    Ok((vs, st, out))
                }
            },
        }
    }
}

impl Operator for Expand {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let want = if matches!(self.kind, ExpandKind::Like) { 2 } else { 1 };
        expect_inputs(self.name, inputs.len(), want)?;
        Ok(vec![self.plan(&inputs[0], inputs.get(1).map(|s| s.as_slice()))?.2])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let (vs, st, _) = self.plan(x[0].shape, x.get(1).map(|t| t.shape))?;
        Ok(vec![gather_view(ctx.par, &x[0], 0, &vs, &st)])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let (vs, st, _) = self.plan(x[0].shape, x.get(1).map(|t| t.shape))?;
        Ok(device::gather(x[0], 0, &vs, &st)?.map(|o| vec![o]))
    }
}

/// `reshape_like(lhs, rhs)`: lhs with rhs's shape (same size).
#[derive(Debug)]
struct ReshapeLike;

impl Operator for ReshapeLike {
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        crate::op::grad::shapes_of_inputs(self, &[1], inputs, outputs)
    }
    fn name(&self) -> &str {
        "reshape_like"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("reshape_like", inputs.len(), 2)?;
        if size_of(&inputs[0]) != size_of(&inputs[1]) {
            return Err(Error::shape(
                "reshape_like",
                format!("cannot reshape {} like {}: sizes differ", fmt_shape(&inputs[0]), fmt_shape(&inputs[1])),
            ));
        }
        Ok(vec![inputs[1].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        crate::op::grad::dtype_of_input("reshape_like", 0, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![x[0].to_storage()])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::copy(x[0])?.map(|o| vec![o]))
    }
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "Reshape",
        &["data"],
        params!("shape" = Some("()"), "reverse" = Some("False")),
        "reshape with MXNet's special codes",
        |a: &Attrs| {
            a.check_known("Reshape", &["shape", "reverse", "target_shape", "keep_highest"])?;
            Ok(Box::new(Reshape {
                name: "Reshape",
                kind: ReshapeKind::Codes {
                    shape: a.tuple("Reshape", "shape")?,
                    reverse: a.bool_or("Reshape", "reverse", false)?,
                },
            }))
        },
    );
    r.alias("reshape", "Reshape");
    r.add("Flatten", &["data"], params!(), "collapse all axes but the first", |_: &Attrs| {
        Ok(Box::new(Reshape { name: "Flatten", kind: ReshapeKind::Flatten }))
    });
    r.alias("flatten", "Flatten");
    r.add("expand_dims", &["data"], params!("axis" = None), "insert an axis of size 1", |a: &Attrs| {
        Ok(Box::new(Reshape { name: "expand_dims", kind: ReshapeKind::ExpandDims(a.int("expand_dims", "axis")?) }))
    });
    r.add("squeeze", &["data"], params!("axis" = Some("None")), "remove axes of size 1", |a: &Attrs| {
        Ok(Box::new(Reshape { name: "squeeze", kind: ReshapeKind::Squeeze(a.opt_tuple("squeeze", "axis")?) }))
    });
    r.add("transpose", &["data"], params!("axes" = Some("()")), "permute axes", |a: &Attrs| {
        Ok(Box::new(Permute::Axes(a.opt_tuple("transpose", "axes")?.unwrap_or_default())))
    });
    r.add("SwapAxis", &["data"], params!("dim1" = Some("0"), "dim2" = Some("0")), "swap two axes", |a: &Attrs| {
        Ok(Box::new(Permute::Swap(a.int_or("SwapAxis", "dim1", 0)?, a.int_or("SwapAxis", "dim2", 0)?)))
    });
    r.alias("swapaxes", "SwapAxis");
    r.add(
        "Concat",
        &["*data"],
        params!("num_args" = None, "dim" = Some("1")),
        "join arrays along an axis",
        |a: &Attrs| {
            Ok(Box::new(Join {
                name: "Concat",
                axis: a.int_or("Concat", "dim", 1)?,
                num_args: a.count("Concat", "num_args")?,
                stack: false,
            }))
        },
    );
    r.alias("concat", "Concat");
    r.add(
        "stack",
        &["*data"],
        params!("axis" = Some("0"), "num_args" = None),
        "join arrays along a new axis",
        |a: &Attrs| {
            Ok(Box::new(Join {
                name: "stack",
                axis: a.int_or("stack", "axis", 0)?,
                num_args: a.count("stack", "num_args")?,
                stack: true,
            }))
        },
    );
    r.add(
        "SliceChannel",
        &["data"],
        params!("num_outputs" = None, "axis" = Some("1"), "squeeze_axis" = Some("False")),
        "split into equal parts",
        |a: &Attrs| {
            Ok(Box::new(Split {
                num_outputs: a.count("SliceChannel", "num_outputs")?,
                axis: a.int_or("SliceChannel", "axis", 1)?,
                squeeze: a.bool_or("SliceChannel", "squeeze_axis", false)?,
            }))
        },
    );
    r.alias("split", "SliceChannel");
    r.add(
        "slice",
        &["data"],
        params!("begin" = None, "end" = None, "step" = Some("()")),
        "a strided window",
        |a: &Attrs| {
            Ok(Box::new(Slice {
                name: "slice",
                begin: a.opt_list("slice", "begin")?,
                end: a.opt_list("slice", "end")?,
                step: a.opt_list("slice", "step")?,
                axis: None,
            }))
        },
    );
    r.alias("crop", "slice");
    r.add(
        "slice_axis",
        &["data"],
        params!("axis" = None, "begin" = None, "end" = None),
        "a window on one axis",
        |a: &Attrs| {
            let end = a.opt_int("slice_axis", "end")?;
            Ok(Box::new(Slice {
                name: "slice_axis",
                begin: vec![Some(a.int("slice_axis", "begin")?)],
                end: vec![end],
                step: vec![],
                axis: Some(a.int("slice_axis", "axis")?),
            }))
        },
    );
    r.add("broadcast_to", &["data"], params!("shape" = Some("()")), "broadcast to a shape", |a: &Attrs| {
        Ok(Box::new(Expand { name: "broadcast_to", kind: ExpandKind::To(a.tuple("broadcast_to", "shape")?) }))
    });
    r.add(
        "broadcast_axis",
        &["data"],
        params!("axis" = Some("()"), "size" = Some("()")),
        "broadcast size-1 axes",
        |a: &Attrs| {
            Ok(Box::new(Expand {
                name: "broadcast_axis",
                kind: ExpandKind::Axis(a.tuple("broadcast_axis", "axis")?, a.tuple("broadcast_axis", "size")?),
            }))
        },
    );
    r.alias("broadcast_axes", "broadcast_axis");
    r.add("broadcast_like", &["lhs", "rhs"], params!(), "broadcast lhs to the shape of rhs", |_: &Attrs| {
        Ok(Box::new(Expand { name: "broadcast_like", kind: ExpandKind::Like }))
    });
    r.add("tile", &["data"], params!("reps" = None), "repeat the whole array", |a: &Attrs| {
        Ok(Box::new(Expand { name: "tile", kind: ExpandKind::Tile(a.tuple("tile", "reps")?) }))
    });
    r.add("repeat", &["data"], params!("repeats" = None, "axis" = Some("None")), "repeat each element", |a: &Attrs| {
        let n = a.int("repeat", "repeats")?;
        if n < 0 {
            return Err(Error::param("repeat", "repeats must be non-negative"));
        }
        Ok(Box::new(Expand { name: "repeat", kind: ExpandKind::Repeat(n as usize, a.opt_int("repeat", "axis")?) }))
    });
    r.add("reshape_like", &["lhs", "rhs"], params!(), "lhs reshaped to the shape of rhs", |a: &Attrs| {
        a.check_known("reshape_like", &[])?;
        Ok(Box::new(ReshapeLike))
    });
}
