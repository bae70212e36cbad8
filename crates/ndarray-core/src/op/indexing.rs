//! Index ops: take, pick, one_hot and where (slice assignment is in `slice_assign.rs`).

use super::grad::{Grads, pick_attrs};
use super::registry::Registry;
use super::{Attrs, DevIn, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::device::{self, DeviceStorage};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::{Shape, fmt_shape, norm_axis, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

/// Read element `i` of a tensor as f64.
fn get(x: &TensorIn<'_>, i: usize) -> f64 {
    x.data.get_f64(x.offset + i)
}

/// Turn a float index into a position on an axis of length `n` (`clip` or `wrap`).
fn index(op: &str, v: f64, n: usize, wrap: bool) -> Result<usize> {
    if n == 0 {
        return Err(Error::Index(format!("{op}: cannot index an empty axis")));
    }
    let i = v as i64;
    let n = n as i64;
    Ok(if wrap { i.rem_euclid(n) } else { i.clamp(0, n - 1) } as usize)
}

#[derive(Debug)]
struct Take {
    axis: i64,
    wrap: bool,
    /// `mode='raise'`: an index outside `[0, n - 1]` fails the op, as in MXNet.
    raise: bool,
}

impl Operator for Take {
    fn name(&self) -> &str {
        "take"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("take", inputs.len(), 2)?;
        let (a, idx) = (&inputs[0], &inputs[1]);
        let ax = norm_axis("take", self.axis, a.len())?;
        let mut o = a[..ax].to_vec();
        o.extend_from_slice(idx);
        o.extend_from_slice(&a[ax + 1..]);
        Ok(vec![o])
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
        if self.raise {
            // The host kernel checks the indices.
            return Ok(None);
        }
        let ax = norm_axis("take", self.axis, x[0].shape.len())?;
        Ok(device::take(x[0], x[1], ax, self.wrap)?.map(|o| vec![o]))
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let a = x[0].shape;
        let ax = norm_axis("take", self.axis, a.len())?;
        let outer: usize = a[..ax].iter().product();
        let inner: usize = a[ax + 1..].iter().product();
        let n = a[ax];
        let ni = x[1].len();
        if self.raise
            && let Some(v) = (0..ni).map(|i| get(&x[1], i)).find(|v| !(0.0..=n as f64 - 1.0).contains(v))
        {
            return Err(Error::Index(format!(
                "take: index {v} is out of bounds for axis {ax} with size {n} (mode='raise')"
            )));
        }
        let idx: Vec<usize> = (0..ni).map(|i| index("take", get(&x[1], i), n, self.wrap)).collect::<Result<_>>()?;
        let src = x[0].storage();
        dispatch!(storage &*src => v: T, {
            // Every element is written: a pooled buffer (no page faults on big outputs, such
            // as NDArrayIter's shuffled copy of a whole dataset each epoch) is fine.
            let mut o: Vec<T> = crate::pool::alloc(size_of(&out[0]));
            let mut rows = o.chunks_exact_mut(inner.max(1));
            for p in 0..outer {
                for &i in &idx {
                    let s = (p * n + i) * inner;
                    if let Some(dst) = rows.next() {
                        dst.copy_from_slice(&v[s..s + inner]);
                    }
                }
            }
            Ok(vec![T::wrap(o)])
        })
    }
}

#[derive(Debug)]
struct Pick {
    axis: i64,
    keepdims: bool,
    wrap: bool,
}

impl Operator for Pick {
    fn name(&self) -> &str {
        "pick"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("pick", inputs.len(), 2)?;
        let a = &inputs[0];
        let ax = norm_axis("pick", self.axis, a.len())?;
        let mut o = a.clone();
        if self.keepdims {
            o[ax] = 1;
        } else {
            o.remove(ax);
        }
        let want: Shape = a.iter().enumerate().filter(|(i, _)| *i != ax).map(|(_, &d)| d).collect();
        if size_of(&inputs[1]) != size_of(&want) {
            return Err(Error::shape(
                "pick",
                format!(
                    "index shape {} does not match data shape {} without axis {ax}",
                    fmt_shape(&inputs[1]),
                    fmt_shape(a)
                ),
            ));
        }
        Ok(vec![if o.is_empty() { vec![1] } else { o }])
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
        let ax = norm_axis("pick", self.axis, x[0].shape.len())?;
        Ok(device::pick(x[0], x[1], ax, self.wrap)?.map(|o| vec![o]))
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let a = x[0].shape;
        let ax = norm_axis("pick", self.axis, a.len())?;
        let outer: usize = a[..ax].iter().product();
        let inner: usize = a[ax + 1..].iter().product();
        let n = a[ax];
        let src = x[0].storage();
        dispatch!(storage &*src => v: T, {
            let mut o: Vec<T> = Vec::with_capacity(size_of(&out[0]));
            for p in 0..outer {
                for q in 0..inner {
                    let i = index("pick", get(&x[1], p * inner + q), n, self.wrap)?;
                    o.push(v[(p * n + i) * inner + q]);
                }
            }
            Ok(vec![T::wrap(o)])
        })
    }
}

#[derive(Debug)]
struct OneHot {
    depth: usize,
    on: f64,
    off: f64,
    dtype: DType,
}

impl Operator for OneHot {
    fn name(&self) -> &str {
        "one_hot"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("one_hot", inputs.len(), 1)?;
        let mut o = inputs[0].clone();
        o.push(self.depth);
        Ok(vec![o])
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![self.dtype])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::one_hot(x[0], self.depth, self.on, self.off, self.dtype)?.map(|o| vec![o]))
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let n = x[0].len();
        let mut o = CpuStorage::full(self.dtype, n * self.depth, self.off);
        let on = CpuStorage::full(self.dtype, 1, self.on);
        for i in 0..n {
            let v = get(&x[0], i);
            if v >= 0.0 && (v as usize) < self.depth {
                o.copy_in(i * self.depth + v as usize, &on)?;
            }
        }
        Ok(vec![o])
    }
}

crate::backend::cpu::simd_fn! {
    /// `out[i] = if cond[i] != 0 { a[i] } else { b[i] }`.
    fn select[T: Element](cond: &[T], a: &[T], b: &[T], out: &mut [T]) {
        for (((o, &c), &p), &q) in out.iter_mut().zip(cond).zip(a).zip(b) {
            *o = if c != T::zero() { p } else { q };
        }
    }
}

#[derive(Debug)]
struct Where;

impl Operator for Where {
    fn name(&self) -> &str {
        "where"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("where", inputs.len(), 3)?;
        let (c, a, b) = (&inputs[0], &inputs[1], &inputs[2]);
        if a != b {
            return Err(Error::shape(
                "where",
                format!("x {} and y {} must have the same shape", fmt_shape(a), fmt_shape(b)),
            ));
        }
        if c != a && !(c.len() == 1 && !a.is_empty() && c[0] == a[0]) {
            return Err(Error::shape(
                "where",
                format!(
                    "condition {} must have the shape of x {} or be 1-D of its first dimension",
                    fmt_shape(c),
                    fmt_shape(a)
                ),
            ));
        }
        Ok(vec![a.clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![super::same_dtype("where", &inputs[1..])?])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::where_cond(x[0], x[1], x[2])?.map(|o| vec![o]))
    }
    fn inline_when_waited(&self, inputs: &[Shape]) -> bool {
        // The common form, a condition of the values' shape, is a select an element.
        inputs.len() == 3 && inputs[0] == inputs[1]
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let n = x[1].len();
        let per = if x[0].len() == n { 1 } else { n / x[0].len().max(1) };
        let (a, b) = (x[1].storage(), x[2].storage());
        dispatch!(storage &*a => av: T, {
            let bv = T::slice(&b).expect("same dtype");
            let mut o: Vec<T> = crate::pool::alloc(n);
            if per == 1 && x[0].data.dtype() == T::DTYPE {
                // The common form: a condition of the values' shape and dtype, in one
                // vectorised pass (a value read per element through its dtype took 3 µs a
                // thousand).
                let c = x[0].typed::<T>();
                crate::backend::cpu::chunks_mut(ctx.par.split_cheap_mode(n), &mut o, |s, o| {
                    let r = s..s + o.len();
                    select(&c[r.clone()], &av[r.clone()], &bv[r], o)
                });
            } else {
                let cond: Vec<bool> = (0..x[0].len()).map(|i| get(&x[0], i) != 0.0).collect();
                for (i, o) in o.iter_mut().enumerate() {
                    *o = if cond[i / per] { av[i] } else { bv[i] };
                }
            }
            Ok(vec![T::wrap(o)])
        })
    }
}

/// `_backward_take(ograd, indices, a)`: the gradient of take's `a`, the output gradient's
/// slices added into the rows they were taken from.
#[derive(Debug)]
struct TakeBackward {
    fwd: Take,
}

impl Operator for TakeBackward {
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        super::grad::shapes_of_inputs(self, &[2], inputs, outputs)
    }
    fn name(&self) -> &str {
        "_backward_take"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 3)?;
        let out = self.fwd.infer_shape(&inputs[1..].iter().rev().cloned().collect::<Vec<_>>())?.remove(0);
        if out != inputs[0] {
            return Err(Error::shape(
                self.name(),
                format!("ograd {} differs from take's output shape {}", fmt_shape(&inputs[0]), fmt_shape(&out)),
            ));
        }
        Ok(vec![inputs[2].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        super::grad::dtype_of_input(self.name(), 0, inputs, outputs)
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let ax = norm_axis("take", self.fwd.axis, x[2].shape.len())?;
        Ok(device::take_backward(x[0], x[1], x[2].shape, ax, self.fwd.wrap)?.map(|o| vec![o]))
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let a = x[2].shape;
        let ax = norm_axis("take", self.fwd.axis, a.len())?;
        let outer: usize = a[..ax].iter().product();
        let inner: usize = a[ax + 1..].iter().product();
        let n = a[ax];
        let ni = x[1].len();
        let idx: Vec<usize> = (0..ni).map(|i| index("take", get(&x[1], i), n, self.fwd.wrap)).collect::<Result<_>>()?;
        let g = x[0].storage();
        let mut o = CpuStorage::zeros(dt[0], size_of(a));
        // Rows: (destination, source) element offsets of each `inner`-long row.
        let rows = (0..outer)
            .flat_map(|p| idx.iter().enumerate().map(move |(j, &i)| ((p * n + i) * inner, (p * ni + j) * inner)));
        match (&mut o, &*g) {
            (CpuStorage::F32(ov), CpuStorage::F32(gv)) => {
                for (dst, src) in rows {
                    ov[dst..dst + inner].iter_mut().zip(&gv[src..src + inner]).for_each(|(d, s)| *d += s);
                }
            }
            (CpuStorage::F64(ov), CpuStorage::F64(gv)) => {
                for (dst, src) in rows {
                    ov[dst..dst + inner].iter_mut().zip(&gv[src..src + inner]).for_each(|(d, s)| *d += s);
                }
            }
            (o, g) => dispatch!(storage o => ov: T, {
                let gv = T::slice(g).expect("ograd has the output dtype");
                for (dst, src) in rows {
                    for q in 0..inner {
                        ov[dst + q] = T::from_f64(ov[dst + q].to_f64() + gv[src + q].to_f64());
                    }
                }
            }),
        }
        Ok(vec![o])
    }
}

/// `_backward_pick(ograd, index, data)`: the output gradient put back where pick read.
#[derive(Debug)]
struct PickBackward {
    fwd: Pick,
}

impl Operator for PickBackward {
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        super::grad::shapes_of_inputs(self, &[2], inputs, outputs)
    }
    fn name(&self) -> &str {
        "_backward_pick"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 3)?;
        let out = self.fwd.infer_shape(&[inputs[2].clone(), inputs[1].clone()])?.remove(0);
        if size_of(&out) != size_of(&inputs[0]) {
            return Err(Error::shape(
                self.name(),
                format!("ograd {} differs from pick's output shape {}", fmt_shape(&inputs[0]), fmt_shape(&out)),
            ));
        }
        Ok(vec![inputs[2].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        super::grad::dtype_of_input(self.name(), 0, inputs, outputs)
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let ax = norm_axis("pick", self.fwd.axis, x[2].shape.len())?;
        Ok(device::pick_backward(x[0], x[1], x[2].shape, ax, self.fwd.wrap)?.map(|o| vec![o]))
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let a = x[2].shape;
        let ax = norm_axis("pick", self.fwd.axis, a.len())?;
        let outer: usize = a[..ax].iter().product();
        let inner: usize = a[ax + 1..].iter().product();
        let n = a[ax];
        let g = x[0].storage();
        let mut o = CpuStorage::zeros(dt[0], size_of(a));
        dispatch!(storage &mut o => ov: T, {
            let gv = T::slice(&g).expect("ograd has the output dtype");
            for p in 0..outer {
                for q in 0..inner {
                    let i = index("pick", get(&x[1], p * inner + q), n, self.fwd.wrap)?;
                    ov[(p * n + i) * inner + q] = gv[p * inner + q];
                }
            }
        });
        Ok(vec![o])
    }
}

/// take: scatter-add into `a`; integer indices get none. Fused `_backward_take`: 0.23 ms vs
/// 61.7 ms composed (`dot(one_hot(indices)ᵀ, g)`, whose depth is a shape) for 32x35 rows of
/// 10000x128 (examples/fused_backward.rs).
fn grad_take(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let ga = b.apply("_backward_take", &[g[0], x[1], x[0]], pick_attrs(a, &["axis", "mode"]))?;
    Ok(vec![Some(ga), None])
}

/// pick: the gradient goes to the picked elements; the index gets none. Fused `_backward_pick`,
/// not timed: its composition (`g * one_hot(index)`) needs the picked axis's length as
/// `one_hot`'s depth, which is a shape, unknown when the gradient is built.
fn grad_pick(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let gd = b.apply("_backward_pick", &[g[0], x[1], x[0]], pick_attrs(a, &["axis", "keepdims", "mode"]))?;
    Ok(vec![Some(gd), None])
}

/// where: the gradient goes to x where the condition holds, to y elsewhere.
fn grad_where(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let z = b.unary("zeros_like", g[0])?;
    let gx = b.apply("where", &[x[0], g[0], z], Attrs::default())?;
    let gy = b.apply("where", &[x[0], z, g[0]], Attrs::default())?;
    Ok(vec![None, Some(gx), Some(gy)])
}

/// `mode` of pick: whether indices wrap around the axis (`'wrap'`) or are clipped to it.
fn mode_wrap(a: &Attrs, op: &str) -> Result<bool> {
    match a.str_or("mode", "clip") {
        "clip" => Ok(false),
        "wrap" => Ok(true),
        m => Err(Error::param(op, format!("mode must be 'clip' or 'wrap', got '{m}'"))),
    }
}

/// Take with its `mode`: `'clip'`, `'wrap'` or `'raise'`.
fn take_op(a: &Attrs, op: &str) -> Result<Take> {
    let axis = a.int_or(op, "axis", 0)?;
    let (wrap, raise) = match a.str_or("mode", "clip") {
        "clip" => (false, false),
        "wrap" => (true, false),
        "raise" => (false, true),
        m => return Err(Error::param(op, format!("mode must be 'clip', 'wrap' or 'raise', got '{m}'"))),
    };
    Ok(Take { axis, wrap, raise })
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "take",
        &["a", "indices"],
        params!("axis" = Some("0"), "mode" = Some("'clip'")),
        "gather slices along an axis",
        |a: &Attrs| Ok(Box::new(take_op(a, "take")?)),
    );
    r.add(
        "pick",
        &["data", "index"],
        params!("axis" = Some("-1"), "keepdims" = Some("False"), "mode" = Some("'clip'")),
        "pick one element per row",
        |a: &Attrs| {
            Ok(Box::new(Pick {
                axis: a.int_or("pick", "axis", -1)?,
                keepdims: a.bool_or("pick", "keepdims", false)?,
                wrap: mode_wrap(a, "pick")?,
            }))
        },
    );
    r.add(
        "one_hot",
        &["indices"],
        params!("depth" = None, "on_value" = Some("1.0"), "off_value" = Some("0.0"), "dtype" = Some("'float32'")),
        "one-hot encoding",
        |a: &Attrs| {
            Ok(Box::new(OneHot {
                depth: a.int("one_hot", "depth")?.max(0) as usize,
                on: a.float_or("one_hot", "on_value", 1.0)?,
                off: a.float_or("one_hot", "off_value", 0.0)?,
                dtype: a.opt_dtype("one_hot", "dtype")?.unwrap_or(DType::F32),
            }))
        },
    );
    r.add("where", &["condition", "x", "y"], params!(), "elementwise choice", |_: &Attrs| Ok(Box::new(Where)));
    r.add(
        "_backward_take",
        &["ograd", "indices", "a"],
        params!("axis" = Some("0"), "mode" = Some("'clip'")),
        "gradient of take: ograd added into the rows it was taken from",
        |a: &Attrs| {
            // The forward op checked the indices where they had to be in range.
            let fwd = Take { raise: false, ..take_op(a, "_backward_take")? };
            Ok(Box::new(TakeBackward { fwd }))
        },
    );
    r.add(
        "_backward_pick",
        &["ograd", "index", "data"],
        params!("axis" = Some("-1"), "keepdims" = Some("False"), "mode" = Some("'clip'")),
        "gradient of pick",
        |a: &Attrs| {
            let name = "_backward_pick";
            let fwd = Pick {
                axis: a.int_or(name, "axis", -1)?,
                keepdims: a.bool_or(name, "keepdims", false)?,
                wrap: mode_wrap(a, name)?,
            };
            Ok(Box::new(PickBackward { fwd }))
        },
    );
    r.set_gradient("take", grad_take);
    r.set_gradient("pick", grad_pick);
    r.set_gradient("where", grad_where);
}

#[cfg(test)]
mod grad_tests {
    use crate::dtype::DType;
    use crate::eager_grad::testing::{arr, check, vals};
    use crate::eager_grad::{eager_gradient, f64_array};
    use crate::op::Attrs;
    use crate::storage::CpuStorage;

    #[test]
    fn take_gradient_adds_repeated_rows() {
        // Index 2 is taken twice: its row gets both output rows' gradients.
        let a = arr(&[4, 3], 1);
        let idx = vals(&[2, 2], &[2.0, 0.0, 2.0, 3.0]);
        check("take", &[], &[a.clone(), idx.clone()], &[0]);
        check("take", &[("axis", "1"), ("mode", "wrap")], &[a.clone(), vals(&[3], &[-1.0, 0.0, 4.0])], &[0]);
        check("take", &[("axis", "-1")], &[arr(&[2, 3, 4], 2), vals(&[2], &[3.0, 1.0])], &[0]);
        let g = f64_array(&[2, 2, 3], vec![1.0; 12]).unwrap();
        let (_, grads) = eager_gradient("take", &Attrs::default(), &[a, idx], &[g], false).unwrap();
        assert!(grads[1].is_none());
        let ga = grads[0].as_ref().unwrap().to_cpu_storage().unwrap();
        let got: Vec<f64> = (0..12).map(|i| ga.get_f64(i)).collect();
        assert_eq!(got, [1., 1., 1., 0., 0., 0., 2., 2., 2., 1., 1., 1.]);
        // float32 (the fast path) and float16 (the generic one) give the same sums.
        for dt in [DType::F32, DType::F16] {
            let a = a32(&[4, 3], dt);
            let idx = vals(&[2, 2], &[2.0, 0.0, 2.0, 3.0]);
            let g = crate::ndarray::NDArray::from_cpu(CpuStorage::full(dt, 12, 1.0), &[2, 2, 3], a.ctx()).unwrap();
            let (_, grads) = eager_gradient("take", &Attrs::default(), &[a, idx], &[g], false).unwrap();
            let ga = grads[0].as_ref().unwrap().to_cpu_storage().unwrap();
            assert_eq!(ga.dtype(), dt);
            let got: Vec<f64> = (0..12).map(|i| ga.get_f64(i)).collect();
            assert_eq!(got, [1., 1., 1., 0., 0., 0., 2., 2., 2., 1., 1., 1.]);
        }
    }

    fn a32(shape: &[usize], dt: DType) -> crate::ndarray::NDArray {
        let n = shape.iter().product();
        crate::ndarray::NDArray::from_cpu(CpuStorage::full(dt, n, 0.5), shape, crate::context::Context::cpu(0)).unwrap()
    }

    #[test]
    fn take_raise_mode_fails_on_indices_out_of_range() {
        let take = |idx: &[f64], mode: &str| {
            let attrs = Attrs::from_pairs([("mode", mode)]);
            let out = crate::invoke("take", &attrs, &[arr(&[3, 2], 1), vals(&[idx.len()], idx)], None, None).unwrap();
            out[0].wait_to_read().map(|()| out[0].to_cpu_storage().unwrap().len())
        };
        assert_eq!(take(&[0.0, 2.0, 1.5], "raise").unwrap(), 6);
        for bad in [3.0, -1.0, 2.5, -0.5, f64::NAN] {
            let e = take(&[bad], "raise").unwrap_err().to_string();
            assert!(e.contains("out of bounds for axis 0 with size 3"), "{e}");
            // The other modes clip or wrap it.
            assert_eq!(take(&[bad], "clip").unwrap(), 2);
        }
        let e = crate::invoke("take", &Attrs::from_pairs([("mode", "nearest")]), &[arr(&[3], 1)], None, None);
        assert!(e.unwrap_err().to_string().contains("'clip', 'wrap' or 'raise'"));
    }

    #[test]
    fn pick_and_where_gradients() {
        let x = arr(&[3, 4], 3);
        check("pick", &[("axis", "1")], &[x.clone(), vals(&[3], &[0.0, 3.0, 1.0])], &[0]);
        check("pick", &[("axis", "0"), ("keepdims", "True")], &[x, vals(&[4], &[2.0, 0.0, 1.0, 2.0])], &[0]);
        let c = vals(&[2, 3], &[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        check("where", &[], &[c, arr(&[2, 3], 4), arr(&[2, 3], 5)], &[1, 2]);
        check("where", &[], &[vals(&[2], &[0.0, 1.0]), arr(&[2, 3], 6), arr(&[2, 3], 7)], &[1, 2]);
    }

    #[test]
    fn slice_assign_gradients() {
        let win = [("begin", "(1, 0)"), ("end", "(3, 2)")];
        check("_slice_assign", &win, &[arr(&[4, 3], 8), arr(&[2, 2], 9)], &[0, 1]);
        check("_slice_assign", &win, &[arr(&[4, 3], 8), arr(&[4], 9)], &[0, 1]);
        check("_slice_assign", &win, &[arr(&[4, 3], 8), arr(&[1], 9)], &[0, 1]);
        let step = [("begin", "(None, 2)"), ("end", "(None, 0)"), ("step", "(2, -1)")];
        check("_slice_assign", &step, &[arr(&[4, 3], 8), arr(&[2, 2], 9)], &[0, 1]);
        let mut w = win.to_vec();
        w.push(("scalar", "2.5"));
        check("_slice_assign_scalar", &w, &[arr(&[4, 3], 10)], &[0]);
    }
}
