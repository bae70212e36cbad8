//! The elementwise ops themselves: unary math, binary (same-shape and broadcast), ops with a
//! scalar, clip, cast, copy, fills and `add_n`.

use crate::backend::cpu::Parallelism;
use crate::backend::cpu::elemwise::{
    BinaryKind, UnaryKind, binary_inplace, binary_storage, unary_inplace, unary_storage,
};
use crate::backend::device::{self, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::DevIn;
use crate::op::registry::Registry;
use crate::op::{Attrs, OpCtx, Operator, TensorIn, expect_inputs, same_dtype, same_shape_partial, same_shape_unary};
use crate::params;
use crate::shape::{Shape, broadcast_shapes, fmt_shape};
use crate::storage::CpuStorage;

#[derive(Debug)]
struct Unary {
    name: &'static str,
    kind: UnaryKind,
}

impl Operator for Unary {
    fn name(&self) -> &str {
        self.name
    }
    fn elementwise(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary(self.name, inputs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        same_shape_partial(self.name, inputs, outputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![unary_storage(ctx.par, self.kind, &x[0].storage())])
    }
    fn forward_elementwise(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>]) -> Option<Result<CpuStorage>> {
        Some(Ok(unary_storage(ctx.par, self.kind, &x[0].storage())))
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::unary(self.kind, x[0])?.map(|o| vec![o]))
    }
    fn forward_inplace(&self, ctx: &mut OpCtx<'_>, data: &mut CpuStorage, _: &[TensorIn<'_>]) -> Result<bool> {
        Ok(unary_inplace(ctx.par, self.kind, data))
    }
    fn inline_when_waited(&self, _: &[Shape]) -> bool {
        self.kind.is_cheap()
    }
}

/// Same-shape (`elemwise_*`) or broadcasting (`broadcast_*`) binary op.
#[derive(Debug)]
struct Binary {
    name: &'static str,
    kind: BinaryKind,
    broadcast: bool,
}

impl Operator for Binary {
    fn name(&self) -> &str {
        self.name
    }
    fn elementwise(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 2)?;
        let (a, b) = (&inputs[0], &inputs[1]);
        if self.broadcast {
            Ok(vec![broadcast_shapes(self.name, a, b)?])
        } else if a != b {
            Err(Error::shape(self.name, format!("shapes {} and {} must be equal", fmt_shape(a), fmt_shape(b))))
        } else {
            Ok(vec![a.clone()])
        }
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if self.broadcast {
            let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
            return crate::op::assign_shapes(self.name, outputs, &self.infer_shape(&known)?);
        }
        same_shape_partial(self.name, inputs, outputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let (a, b) = (x[0].storage(), x[1].storage());
        Ok(vec![binary_storage(ctx.par, self.kind, &a, x[0].shape, &b, x[1].shape, &out[0])])
    }
    fn forward_elementwise(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>]) -> Option<Result<CpuStorage>> {
        // Equal shapes (the short way's condition): the output has input 0's.
        let (a, b) = (x[0].storage(), x[1].storage());
        Some(Ok(binary_storage(ctx.par, self.kind, &a, x[0].shape, &b, x[1].shape, x[0].shape)))
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        out: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::binary(self.kind, x[0], x[1], &out[0])?.map(|o| vec![o]))
    }
    fn forward_inplace(&self, ctx: &mut OpCtx<'_>, data: &mut CpuStorage, rest: &[TensorIn<'_>]) -> Result<bool> {
        Ok(binary_inplace(ctx.par, self.kind, data, &rest[0].storage(), false))
    }
    fn inline_when_waited(&self, _: &[Shape]) -> bool {
        self.kind.is_cheap()
    }
}

/// A binary op with a scalar operand (`_plus_scalar`, `_rminus_scalar`...).
#[derive(Debug)]
struct Scalar {
    name: &'static str,
    kind: BinaryKind,
    scalar: f64,
    reverse: bool,
    /// The scalar as a one-element storage of the dtype first used: an op instance serves
    /// every `x * 2` of a loop, and making it took an allocation per call.
    operand: std::sync::OnceLock<CpuStorage>,
}

impl Scalar {
    fn new(name: &'static str, kind: BinaryKind, scalar: f64, reverse: bool) -> Scalar {
        Scalar { name, kind, scalar, reverse, operand: std::sync::OnceLock::new() }
    }

    /// The scalar as a one-element storage of `dtype`.
    fn operand(&self, dtype: DType) -> std::borrow::Cow<'_, CpuStorage> {
        let kept = self.operand.get_or_init(|| CpuStorage::full(dtype, 1, self.scalar));
        if kept.dtype() == dtype {
            std::borrow::Cow::Borrowed(kept)
        } else {
            std::borrow::Cow::Owned(CpuStorage::full(dtype, 1, self.scalar))
        }
    }

    /// The op over `x` (one input) into a new storage of `shape`.
    fn compute(&self, par: Parallelism, x: &TensorIn<'_>, shape: &[usize]) -> CpuStorage {
        let a = x.storage();
        let s = self.operand(a.dtype());
        if self.reverse {
            binary_storage(par, self.kind, &s, &[1], &a, x.shape, shape)
        } else {
            binary_storage(par, self.kind, &a, x.shape, &s, &[1], shape)
        }
    }
}

impl Operator for Scalar {
    fn name(&self) -> &str {
        self.name
    }
    fn elementwise(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary(self.name, inputs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        same_shape_partial(self.name, inputs, outputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![self.compute(ctx.par, &x[0], &out[0])])
    }
    fn forward_elementwise(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>]) -> Option<Result<CpuStorage>> {
        Some(Ok(self.compute(ctx.par, &x[0], x[0].shape)))
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::scalar(self.kind, x[0], self.scalar, self.reverse)?.map(|o| vec![o]))
    }
    fn forward_inplace(&self, ctx: &mut OpCtx<'_>, data: &mut CpuStorage, _: &[TensorIn<'_>]) -> Result<bool> {
        let s = self.operand(data.dtype());
        Ok(binary_inplace(ctx.par, self.kind, data, &s, self.reverse))
    }
    fn inline_when_waited(&self, _: &[Shape]) -> bool {
        // `x ** 2` runs as `x * x`.
        self.kind.is_cheap() || (self.kind == BinaryKind::Power && self.scalar == 2.0 && !self.reverse)
    }
}

#[derive(Debug)]
struct Clip {
    lo: f64,
    hi: f64,
}

impl Operator for Clip {
    fn name(&self) -> &str {
        "clip"
    }
    fn elementwise(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary("clip", inputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        // MXNet's order: above hi gives hi, else below lo gives lo (so lo > hi gives hi or lo),
        // NaN passes through.
        crate::dispatch!(dtype x[0].data.dtype() => T, {
            use crate::storage::StorageElement;
            let (lo, hi) = (<T as crate::dtype::Element>::from_f64(self.lo), <T as crate::dtype::Element>::from_f64(self.hi));
            let clip = move |v: T| if v > hi { hi } else if v < lo { lo } else { v };
            Ok(vec![T::wrap(crate::backend::cpu::elemwise::map_cheap(ctx.par, x[0].typed::<T>(), clip))])
        })
    }
    fn inline_when_waited(&self, _: &[Shape]) -> bool {
        true
    }
}

/// `Cast` / `astype`.
#[derive(Debug)]
struct Cast {
    dtype: DType,
}

impl Operator for Cast {
    fn name(&self) -> &str {
        "Cast"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary("Cast", inputs)
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![self.dtype])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![x[0].data.cast_par(ctx.par, x[0].offset, x[0].len(), self.dtype)])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::cast(x[0], self.dtype)?.map(|o| vec![o]))
    }
}

/// `_copy`: identity, and `_copyto` between arrays of any dtype.
#[derive(Debug)]
struct Copy {
    name: &'static str,
}

impl Operator for Copy {
    fn name(&self) -> &str {
        self.name
    }
    fn elementwise(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary(self.name, inputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        // Into a pooled buffer (a fresh one's pages are faulted in as it is written), split as
        // the other short passes (`x.copy()` of 10^5 float32 ran on a worker in 17 µs).
        let t = &x[0];
        let split = ctx.par.split_cheap_mode(t.len());
        Ok(vec![crate::dispatch!(storage t.data => v: T, {
            let src = &v[t.offset..t.offset + t.len()];
            let mut o: Vec<T> = crate::pool::alloc(src.len());
            crate::backend::cpu::chunks_mut(split, &mut o, |s, c| c.copy_from_slice(&src[s..s + c.len()]));
            crate::storage::StorageElement::wrap(o)
        })])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::cast(x[0], x[0].dtype())?.map(|o| vec![o]))
    }
    fn inline_when_waited(&self, _: &[Shape]) -> bool {
        true
    }
}

/// `zeros_like` / `ones_like`.
#[derive(Debug)]
struct FillLike {
    name: &'static str,
    value: f64,
}

impl Operator for FillLike {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary(self.name, inputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        Ok(vec![CpuStorage::full(x[0].dtype(), x[0].len(), self.value)])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(device::fill(x[0].data.device_id(), x[0].dtype(), x[0].len(), self.value)?.map(|o| vec![o]))
    }
}

/// `add_n` / `ElementWiseSum`.
#[derive(Debug)]
struct AddN {
    num_args: usize,
}

impl Operator for AddN {
    fn name(&self) -> &str {
        "add_n"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("add_n", inputs.len(), self.num_args)?;
        for s in &inputs[1..] {
            if s != &inputs[0] {
                return Err(Error::shape(
                    "add_n",
                    format!("all inputs must have the same shape, got {} and {}", fmt_shape(&inputs[0]), fmt_shape(s)),
                ));
            }
        }
        Ok(vec![inputs.first().cloned().unwrap_or_default()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![same_dtype("add_n", inputs)?])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        out: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        // A chain of adds (the KVStore's reduction of a few device arrays).
        let [first, rest @ ..] = x else { return Ok(None) };
        let Some(mut acc) = device::cast(*first, first.dtype())? else { return Ok(None) };
        for t in rest {
            let a = DevIn { data: &acc, offset: 0, shape: &out[0] };
            let Some(next) = device::binary(BinaryKind::Add, a, *t, &out[0])? else { return Ok(None) };
            acc = next;
        }
        Ok(Some(vec![acc]))
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        // One pass over all inputs for float32 / float64 (the KVStore's reduction).
        match x.first().map(|t| t.dtype()) {
            Some(DType::F32) => {
                return Ok(vec![CpuStorage::F32(
                    sum_f32(ctx.par, &x.iter().map(|t| t.typed::<f32>()).collect::<Vec<_>>()).into(),
                )]);
            }
            Some(DType::F64) => {
                return Ok(vec![CpuStorage::F64(
                    sum_slices(ctx.par, &x.iter().map(|t| t.typed::<f64>()).collect::<Vec<_>>()).into(),
                )]);
            }
            _ => {}
        }
        let mut acc = x[0].to_storage();
        for t in &x[1..] {
            acc = binary_storage(ctx.par, BinaryKind::Add, &acc, &out[0], &t.storage(), t.shape, &out[0]);
        }
        Ok(vec![acc])
    }
}

/// `xs[0] + xs[1] + ...` (summed in that order), in cache-sized chunks, split over rayon's pool
/// when large.
fn sum_slices<T>(par: Parallelism, xs: &[&[T]]) -> Vec<T>
where
    T: crate::storage::StorageElement + std::marker::Copy + Send + Sync + std::ops::Add<Output = T>,
{
    use rayon::prelude::*;
    let n = xs[0].len();
    let mut out: Vec<T> = crate::pool::alloc(n);
    let body = |off: usize, o: &mut [T]| {
        let m = o.len();
        o.copy_from_slice(&xs[0][off..off + m]);
        for x in &xs[1..] {
            for (a, &b) in o.iter_mut().zip(&x[off..off + m]) {
                *a = *a + b;
            }
        }
    };
    let chunk = crate::backend::cpu::PAR_CHUNK;
    if par.split(n) {
        out.par_chunks_mut(chunk).enumerate().for_each(|(c, o)| body(c * chunk, o));
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(c, o)| body(c * chunk, o));
    }
    out
}

/// [`sum_slices`] for float32, with streaming stores for outputs larger than the caches.
fn sum_f32(par: Parallelism, xs: &[&[f32]]) -> Vec<f32> {
    use crate::backend::cpu::stream;
    use rayon::prelude::*;
    let n = xs[0].len();
    if n * 4 < stream::stream_min_bytes() || xs.len() > 8 {
        return sum_slices(par, xs);
    }
    let mut out: Vec<f32> = crate::pool::alloc(n);
    let chunk = crate::backend::cpu::PAR_CHUNK;
    let body = |c: usize, o: &mut [f32]| {
        let off = c * chunk;
        let parts: Vec<&[f32]> = xs.iter().map(|x| &x[off..off + o.len()]).collect();
        stream::sum_f32_streamed(o, &parts);
    };
    if par.split(n) {
        out.par_chunks_mut(chunk).enumerate().for_each(|(c, o)| body(c, o));
    } else {
        stream::sum_f32_streamed(&mut out, xs);
    }
    out
}

const UNARY: &[(&str, UnaryKind)] = &[
    ("exp", UnaryKind::Exp),
    ("log", UnaryKind::Log),
    ("log2", UnaryKind::Log2),
    ("log10", UnaryKind::Log10),
    ("log1p", UnaryKind::Log1p),
    ("expm1", UnaryKind::Expm1),
    ("sqrt", UnaryKind::Sqrt),
    ("rsqrt", UnaryKind::Rsqrt),
    ("cbrt", UnaryKind::Cbrt),
    ("square", UnaryKind::Square),
    ("abs", UnaryKind::Abs),
    ("sign", UnaryKind::Sign),
    ("ceil", UnaryKind::Ceil),
    ("floor", UnaryKind::Floor),
    ("round", UnaryKind::Round),
    ("rint", UnaryKind::Rint),
    ("trunc", UnaryKind::Trunc),
    ("fix", UnaryKind::Fix),
    ("sin", UnaryKind::Sin),
    ("cos", UnaryKind::Cos),
    ("tan", UnaryKind::Tan),
    ("arcsin", UnaryKind::Arcsin),
    ("arccos", UnaryKind::Arccos),
    ("arctan", UnaryKind::Arctan),
    ("sinh", UnaryKind::Sinh),
    ("cosh", UnaryKind::Cosh),
    ("tanh", UnaryKind::Tanh),
    ("sigmoid", UnaryKind::Sigmoid),
    ("relu", UnaryKind::Relu),
    ("softsign", UnaryKind::Softsign),
    ("negative", UnaryKind::Negative),
    ("reciprocal", UnaryKind::Reciprocal),
    ("logical_not", UnaryKind::LogicalNot),
    ("degrees", UnaryKind::Degrees),
    ("radians", UnaryKind::Radians),
    ("erf", UnaryKind::Erf),
    ("gamma", UnaryKind::Gamma),
    ("gammaln", UnaryKind::Gammaln),
];

pub(super) const BINARY: &[(&str, &str, &str, BinaryKind)] = &[
    // (elemwise name, broadcast name, scalar stem, kind)
    ("elemwise_add", "broadcast_add", "_plus", BinaryKind::Add),
    ("elemwise_sub", "broadcast_sub", "_minus", BinaryKind::Sub),
    ("elemwise_mul", "broadcast_mul", "_mul", BinaryKind::Mul),
    ("elemwise_div", "broadcast_div", "_div", BinaryKind::Div),
    ("_mod", "broadcast_mod", "_mod", BinaryKind::Mod),
    ("_power", "broadcast_power", "_power", BinaryKind::Power),
    ("_maximum", "broadcast_maximum", "_maximum", BinaryKind::Maximum),
    ("_minimum", "broadcast_minimum", "_minimum", BinaryKind::Minimum),
    ("_equal", "broadcast_equal", "_equal", BinaryKind::Equal),
    ("_not_equal", "broadcast_not_equal", "_not_equal", BinaryKind::NotEqual),
    ("_greater", "broadcast_greater", "_greater", BinaryKind::Greater),
    ("_greater_equal", "broadcast_greater_equal", "_greater_equal", BinaryKind::GreaterEqual),
    ("_lesser", "broadcast_lesser", "_lesser", BinaryKind::Lesser),
    ("_lesser_equal", "broadcast_lesser_equal", "_lesser_equal", BinaryKind::LesserEqual),
    ("_logical_and", "broadcast_logical_and", "_logical_and", BinaryKind::LogicalAnd),
    ("_logical_or", "broadcast_logical_or", "_logical_or", BinaryKind::LogicalOr),
    ("_logical_xor", "broadcast_logical_xor", "_logical_xor", BinaryKind::LogicalXor),
    ("_hypot", "broadcast_hypot", "_hypot", BinaryKind::Hypot),
];

pub(super) fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

pub(super) fn register(r: &mut Registry) {
    for &(name, kind) in UNARY {
        r.add(name, &["data"], params!(), "elementwise math", move |a: &Attrs| {
            a.check_known(name, &[])?;
            Ok(Box::new(Unary { name, kind }))
        });
    }
    for &(ew, bc, stem, kind) in BINARY {
        r.add(ew, &["lhs", "rhs"], params!(), "elementwise binary op on equal shapes", move |a: &Attrs| {
            a.check_known(ew, &[])?;
            Ok(Box::new(Binary { name: ew, kind, broadcast: false }))
        });
        r.add(bc, &["lhs", "rhs"], params!(), "binary op with broadcasting", move |a: &Attrs| {
            a.check_known(bc, &[])?;
            Ok(Box::new(Binary { name: bc, kind, broadcast: true }))
        });
        let scalar_name = leak(format!("{stem}_scalar"));
        r.add(scalar_name, &["data"], params!("scalar" = None), "binary op with a scalar", move |a: &Attrs| {
            a.check_known(scalar_name, &["scalar", "is_int"])?;
            Ok(Box::new(Scalar::new(scalar_name, kind, a.float(scalar_name, "scalar")?, false)))
        });
        if matches!(kind, BinaryKind::Sub | BinaryKind::Div | BinaryKind::Mod | BinaryKind::Power) {
            let rname = leak(format!("_r{}_scalar", stem.trim_start_matches('_')));
            r.add(
                rname,
                &["data"],
                params!("scalar" = None),
                "scalar op with the array on the right",
                move |a: &Attrs| {
                    a.check_known(rname, &["scalar", "is_int"])?;
                    Ok(Box::new(Scalar::new(rname, kind, a.float(rname, "scalar")?, true)))
                },
            );
        }
    }
    for (alias, c) in [
        ("_plus", "elemwise_add"),
        ("_add", "elemwise_add"),
        ("_Plus", "elemwise_add"),
        ("_minus", "elemwise_sub"),
        ("_sub", "elemwise_sub"),
        ("_Minus", "elemwise_sub"),
        ("_mul", "elemwise_mul"),
        ("_Mul", "elemwise_mul"),
        ("_div", "elemwise_div"),
        ("_Div", "elemwise_div"),
        ("broadcast_plus", "broadcast_add"),
        ("broadcast_minus", "broadcast_sub"),
        ("maximum", "broadcast_maximum"),
        ("minimum", "broadcast_minimum"),
    ] {
        r.alias(alias, c);
    }
    r.add(
        "clip",
        &["data"],
        params!("a_min" = None, "a_max" = None),
        "clip values into [a_min, a_max]",
        |a: &Attrs| {
            a.check_known("clip", &["a_min", "a_max"])?;
            Ok(Box::new(Clip { lo: a.float("clip", "a_min")?, hi: a.float("clip", "a_max")? }))
        },
    );
    r.add("Cast", &["data"], params!("dtype" = None), "cast to a dtype", |a: &Attrs| {
        a.check_known("Cast", &["dtype"])?;
        let dtype = a
            .opt_dtype("Cast", "dtype")?
            .ok_or_else(|| Error::param("Cast", "required parameter 'dtype' is missing"))?;
        Ok(Box::new(Cast { dtype }))
    });
    r.alias("cast", "Cast");
    r.add("_copy", &["data"], params!(), "copy", |_: &Attrs| Ok(Box::new(Copy { name: "_copy" })));
    r.alias("identity", "_copy");
    r.add("_copyto", &["data"], params!(), "copy into another array", |_: &Attrs| {
        Ok(Box::new(Copy { name: "_copyto" }))
    });
    r.add("zeros_like", &["data"], params!(), "zeros of the input's shape and dtype", |_: &Attrs| {
        Ok(Box::new(FillLike { name: "zeros_like", value: 0.0 }))
    });
    r.add("ones_like", &["data"], params!(), "ones of the input's shape and dtype", |_: &Attrs| {
        Ok(Box::new(FillLike { name: "ones_like", value: 1.0 }))
    });
    r.add("add_n", &["*args"], params!("num_args" = None), "sum of all inputs", |a: &Attrs| {
        Ok(Box::new(AddN { num_args: a.count("add_n", "num_args")? }))
    });
    r.alias("ElementWiseSum", "add_n");
}
