//! The device primitives ops are written with: elementwise maps (unary, binary with
//! broadcasting, with a scalar), casts and fills, reductions over axes, softmax, matrix
//! products (cuBLAS), the fused optimizer steps and random draws. Each returns `Ok(None)` when
//! it has no kernel for the case (an integer dtype, NVRTC missing): the op then runs through
//! host memory instead.

use std::sync::Arc;

use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};

use super::nvrtc;
use super::runtime::{Gpu, gpu};
use super::storage::DeviceStorage;
use crate::backend::cpu::elemwise::{BinaryKind, UnaryKind};
pub use crate::backend::device_types::{DeviceDist, OptParams, OptRule, ReduceOp};

/// A read-only device input over this backend's storage.
pub type DevIn<'a> = crate::backend::device_types::DevInOf<'a, DeviceStorage>;
use crate::dtype::DType;
use crate::error::{Error, Result};

impl DevIn<'_> {
    /// Device address of the input's first element.
    pub(super) fn ptr(&self) -> u64 {
        self.data.at(self.offset)
    }
}

const THREADS: u32 = 256;

pub(super) fn grid(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(THREADS as usize).clamp(1, 1 << 16) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 }
}

/// Kernel-name suffix of a float dtype; None for the others (no float kernel).
pub(super) fn float_suffix(d: DType) -> Option<&'static str> {
    match d {
        DType::F32 => Some("f32"),
        DType::F64 => Some("f64"),
        DType::F16 => Some("f16"),
        DType::BF16 => Some("bf16"),
        _ => None,
    }
}

/// Kernel-name suffix of any dtype.
fn suffix(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::U8 => "u8",
        DType::I8 => "i8",
        DType::I32 => "i32",
        DType::I64 => "i64",
        DType::Bool => "bool",
    }
}

pub(super) fn launch_err(g: &Gpu, name: &str, e: impl std::fmt::Display) -> Error {
    Error::Context(format!("gpu({}): launching {name}: {e}", g.id))
}

/// Launch kernel `$name` of `$src` on `$g`'s stream with the arguments listed; evaluates to
/// false when there is no NVRTC (no kernel), true once launched.
macro_rules! launch {
    ($g:expr, $src:expr, $name:expr, $cfg:expr, [$($arg:expr),* $(,)?]) => {{
        let g: &Gpu = $g;
        let name: &str = $name;
        match g.function($src, name)? {
            None => false,
            Some(f) => {
                g.bind()?;
                let mut b = g.stream.launch_builder(&f);
                $( b.arg($arg); )*
                // SAFETY: each caller lists the kernel's arguments in the order and types of
                // its C signature, and every pointer covers the elements the kernel indexes.
                unsafe { b.launch($cfg) }.map_err(|e| launch_err(g, name, e))?;
                true
            }
        }
    }};
}
pub(super) use launch;

fn unary_name(k: UnaryKind) -> &'static str {
    use UnaryKind::*;
    match k {
        Exp => "exp",
        Log => "log",
        Log2 => "log2",
        Log10 => "log10",
        Log1p => "log1p",
        Expm1 => "expm1",
        Sqrt => "sqrt",
        Rsqrt => "rsqrt",
        Cbrt => "cbrt",
        Square => "square",
        Abs => "abs",
        Sign => "sign",
        Ceil => "ceil",
        Floor => "floor",
        Round => "round",
        Rint => "rint",
        Trunc | Fix => "trunc",
        Sin => "sin",
        Cos => "cos",
        Tan => "tan",
        Arcsin => "arcsin",
        Arccos => "arccos",
        Arctan => "arctan",
        Sinh => "sinh",
        Cosh => "cosh",
        Tanh => "tanh",
        Sigmoid => "sigmoid",
        Relu => "relu",
        Softsign => "softsign",
        Negative => "negative",
        Reciprocal => "reciprocal",
        Softrelu => "softrelu",
        LogicalNot => "logical_not",
        Degrees => "degrees",
        Radians => "radians",
        Erf => "erf",
        Gamma => "gamma",
        Gammaln => "gammaln",
    }
}

fn binary_name(k: BinaryKind) -> &'static str {
    use BinaryKind::*;
    match k {
        Add => "add",
        Sub => "sub",
        Mul => "mul",
        Div => "div",
        Mod => "mod",
        Power => "power",
        Maximum => "maximum",
        Minimum => "minimum",
        Equal => "equal",
        NotEqual => "not_equal",
        Greater => "greater",
        GreaterEqual => "greater_equal",
        Lesser => "lesser",
        LesserEqual => "lesser_equal",
        LogicalAnd => "logical_and",
        LogicalOr => "logical_or",
        LogicalXor => "logical_xor",
        Hypot => "hypot",
    }
}

/// `f(x)` elementwise, in x's dtype.
pub fn unary(kind: UnaryKind, x: DevIn<'_>) -> Result<Option<DeviceStorage>> {
    let Some(sfx) = float_suffix(x.dtype()) else { return Ok(None) };
    let g = &x.data.gpu;
    let n = x.len();
    let out = DeviceStorage::uninit(g, x.dtype(), n)?;
    let name = format!("unary_{}_{sfx}", unary_name(kind));
    let (src, dst, len) = (x.ptr(), out.ptr, n as i64);
    let ok = launch!(g, nvrtc::for_dtype(nvrtc::UNARY, x.dtype()), &name, grid(n), [&src, &dst, &len]);
    Ok(ok.then_some(out))
}

/// Broadcast layout of a binary kernel (matches `struct Bcast` of binary.cu).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Bcast {
    shape: [i64; 8],
    sa: [i64; 8],
    sb: [i64; 8],
    ndim: i32,
}
// SAFETY: a plain C struct of integers, passed by value as the kernel's C declaration.
unsafe impl DeviceRepr for Bcast {}

/// Element strides of `shape` aligned right to `out` (0 along broadcast axes).
fn bcast_strides(shape: &[usize], out: &[usize]) -> [i64; 8] {
    let mut st = [0i64; 8];
    let pad = out.len() - shape.len();
    let mut acc = 1i64;
    for d in (0..out.len()).rev() {
        if d >= pad {
            let s = shape[d - pad];
            st[d] = if s == 1 { 0 } else { acc };
            acc *= s as i64;
        }
    }
    st
}

/// `a op b` with broadcasting to `out_shape`, in the operands' (shared) dtype.
pub fn binary(kind: BinaryKind, a: DevIn<'_>, b: DevIn<'_>, out_shape: &[usize]) -> Result<Option<DeviceStorage>> {
    let Some(sfx) = float_suffix(a.dtype()) else { return Ok(None) };
    if a.dtype() != b.dtype() || out_shape.len() > 8 {
        return Ok(None);
    }
    let g = &a.data.gpu;
    let n: usize = out_shape.iter().product();
    let out = DeviceStorage::uninit(g, a.dtype(), n)?;
    let (pa, pb, po, len) = (a.ptr(), b.ptr(), out.ptr, n as i64);
    let op = binary_name(kind);
    // The flat kernel only when neither operand is broadcast (two one-element operands may
    // still broadcast to a larger output).
    let ok = if a.shape == b.shape && a.len() == n {
        launch!(
            g,
            nvrtc::for_dtype(nvrtc::BINARY, a.dtype()),
            &format!("binary_{op}_{sfx}"),
            grid(n),
            [&pa, &pb, &po, &len]
        )
    } else {
        let mut info = Bcast { ndim: out_shape.len() as i32, ..Default::default() };
        for (d, &s) in out_shape.iter().enumerate() {
            info.shape[d] = s as i64;
        }
        info.sa = bcast_strides(a.shape, out_shape);
        info.sb = bcast_strides(b.shape, out_shape);
        launch!(
            g,
            nvrtc::for_dtype(nvrtc::BCAST, a.dtype()),
            &format!("bcast_{op}_{sfx}"),
            grid(n),
            [&pa, &pb, &po, &len, &info]
        )
    };
    Ok(ok.then_some(out))
}

/// `x op s` (or `s op x` when `reverse`), the scalar first rounded to x's dtype.
pub fn scalar(kind: BinaryKind, x: DevIn<'_>, s: f64, reverse: bool) -> Result<Option<DeviceStorage>> {
    let Some(sfx) = float_suffix(x.dtype()) else { return Ok(None) };
    let g = &x.data.gpu;
    let n = x.len();
    let out = DeviceStorage::uninit(g, x.dtype(), n)?;
    let (px, po, len, rev) = (x.ptr(), out.ptr, n as i64, i32::from(reverse));
    let name = format!("scalar_{}_{sfx}", binary_name(kind));
    let ok = launch!(g, nvrtc::for_dtype(nvrtc::SCALAR, x.dtype()), &name, grid(n), [&px, &po, &len, &s, &rev]);
    Ok(ok.then_some(out))
}

/// x converted to `dtype` (C casts: floats to integers truncate).
pub fn cast(x: DevIn<'_>, dtype: DType) -> Result<Option<DeviceStorage>> {
    let g = &x.data.gpu;
    let n = x.len();
    let mut out = DeviceStorage::uninit(g, dtype, n)?;
    if dtype == x.dtype() {
        // A plain copy: the driver's device-to-device copy runs at the memory's full speed.
        out.copy_device(0, x.data, x.offset, n)?;
        return Ok(Some(out));
    }
    let name = format!("cast_{}_{}", suffix(x.dtype()), suffix(dtype));
    let (px, po, len) = (x.ptr(), out.ptr, n as i64);
    let ok = launch!(g, &nvrtc::CAST, &name, grid(n), [&px, &po, &len]);
    Ok(ok.then_some(out))
}

/// `len` copies of `value` (converted to `dtype`) on device `dev`.
pub fn fill(dev: u32, dtype: DType, len: usize, value: f64) -> Result<Option<DeviceStorage>> {
    if value.to_bits() == 0 {
        return DeviceStorage::zeros(dev, dtype, len).map(Some);
    }
    let g = gpu(dev)?;
    let out = DeviceStorage::uninit(&g, dtype, len)?;
    let name = format!("fill_{}", suffix(dtype));
    let (po, n) = (out.ptr, len as i64);
    let ok = launch!(&g, &nvrtc::CAST, &name, grid(len), [&po, &n, &value]);
    Ok(ok.then_some(out))
}

/// Layout of a reduction (matches `struct Red` of reduce.cu).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Red {
    kshape: [i64; 8],
    kstride: [i64; 8],
    rshape: [i64; 8],
    rstride: [i64; 8],
    nk: i32,
    nr: i32,
    rlen: i64,
}
// SAFETY: a plain C struct of integers, passed by value as the kernel's C declaration.
unsafe impl DeviceRepr for Red {}

/// Split x's axes into kept and reduced ones, merging neighbours of the same kind into one
/// axis (contiguous runs become one stride), as (shape, stride) lists.
type Axes = Vec<(i64, i64)>;
fn split_axes(shape: &[usize], reduced: &[bool]) -> (Axes, Axes) {
    let mut strides = vec![1i64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1] as i64;
    }
    let (mut kept, mut red): (Axes, Axes) = (Vec::new(), Vec::new());
    let mut last: Option<bool> = None;
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let list = if reduced[d] { &mut red } else { &mut kept };
        let (s, st) = (shape[d] as i64, strides[d]);
        match list.last_mut() {
            // The previous axis of this kind, adjacent in memory: one longer axis.
            Some(prev) if last == Some(reduced[d]) && prev.1 == st * s => *prev = (prev.0 * s, st),
            _ => list.push((s, st)),
        }
        last = Some(reduced[d]);
    }
    (kept, red)
}

/// Reduce x over the axes flagged in `reduced`, multiplying the result by `scale`; the output
/// has the kept axes in order (the caller gives it its shape).
pub fn reduce(op: ReduceOp, x: DevIn<'_>, reduced: &[bool], scale: f64) -> Result<Option<DeviceStorage>> {
    let Some(sfx) = float_suffix(x.dtype()) else { return Ok(None) };
    let (kept, red) = split_axes(x.shape, reduced);
    if kept.len() > 8 || red.len() > 8 {
        return Ok(None);
    }
    let mut info = Red { nk: kept.len() as i32, nr: red.len() as i32, ..Default::default() };
    for (i, &(s, st)) in kept.iter().enumerate() {
        info.kshape[i] = s;
        info.kstride[i] = st;
    }
    for (i, &(s, st)) in red.iter().enumerate() {
        info.rshape[i] = s;
        info.rstride[i] = st;
    }
    info.rlen = red.iter().map(|r| r.0).product();
    let nout: usize = kept.iter().map(|k| k.0 as usize).product();
    let g = &x.data.gpu;
    let out = DeviceStorage::uninit(g, x.dtype(), nout)?;
    if nout == 0 {
        return Ok(Some(out));
    }
    let threads = (info.rlen.max(1) as u64).next_power_of_two().clamp(32, 256) as u32;
    let acc = if x.dtype() == DType::F64 { 8 } else { 4 };
    let cfg = LaunchConfig {
        grid_dim: (nout.min(1 << 20) as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: threads * acc,
    };
    let name = match op {
        ReduceOp::Sum => "sum",
        ReduceOp::Prod => "prod",
        ReduceOp::Max => "max",
        ReduceOp::Min => "min",
        ReduceOp::NanSum => "nansum",
        ReduceOp::NanProd => "nanprod",
    };
    let (px, po, no) = (x.ptr(), out.ptr, nout as i64);
    let ok = launch!(g, &nvrtc::REDUCE, &format!("reduce_{name}_{sfx}"), cfg, [&px, &po, &no, &info, &scale]);
    Ok(ok.then_some(out))
}

/// softmax (or log-softmax) of `scale * x` along `axis`.
pub fn softmax(x: DevIn<'_>, axis: usize, scale: f64, log: bool) -> Result<Option<DeviceStorage>> {
    let Some(sfx) = float_suffix(x.dtype()) else { return Ok(None) };
    let n = x.shape[axis];
    let inner: usize = x.shape[axis + 1..].iter().product();
    let rows = x.len() / n.max(1);
    let g = &x.data.gpu;
    let out = DeviceStorage::uninit(g, x.dtype(), x.len())?;
    if x.is_empty() {
        return Ok(Some(out));
    }
    let threads = (n as u64).next_power_of_two().clamp(32, 256) as u32;
    let acc = if x.dtype() == DType::F64 { 8 } else { 4 };
    let cfg = LaunchConfig {
        grid_dim: (rows.min(1 << 20) as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: threads * acc,
    };
    let (px, po, r, nn, inn, lg) = (x.ptr(), out.ptr, rows as i64, n as i64, inner as i64, i32::from(log));
    let ok = launch!(g, &nvrtc::NN, &format!("softmax_{sfx}"), cfg, [&px, &po, &r, &nn, &inn, &scale, &lg]);
    Ok(ok.then_some(out))
}

/// Whether matrix products on `dtype` use TF32 tensor cores: only when asked for with
/// `MXNET_CUDA_ALLOW_TENSOR_CORE=1` (float32 products are exact float32 otherwise).
fn allow_tf32() -> bool {
    static ALLOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOW.get_or_init(|| std::env::var("MXNET_CUDA_ALLOW_TENSOR_CORE").is_ok_and(|v| v.trim() == "1"))
}

/// Row-major batched matrix product: for each of `batch` pairs, `C = op(A) op(B)` where `A`
/// is `m x k` (`k x m` stored when `ta`), `B` is `k x n` (`n x k` when `tb`); `A`/`B` of
/// batch stride 0 are shared by every batch. Output `batch * m * n` elements.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: DevIn<'_>,
    b: DevIn<'_>,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
    shared_b: bool,
) -> Result<Option<DeviceStorage>> {
    let dtype = a.dtype();
    if b.dtype() != dtype || float_suffix(dtype).is_none() {
        return Ok(None);
    }
    let g: Arc<Gpu> = a.data.gpu.clone();
    let out = DeviceStorage::uninit(&g, dtype, batch * m * n)?;
    if batch * m * n == 0 {
        return Ok(Some(out));
    }
    if k == 0 {
        return fill(g.id, dtype, batch * m * n, 0.0);
    }
    let sa = (m * k) as i64;
    let sb = if shared_b { 0 } else { (k * n) as i64 };
    let mats = Gemm { batch, m, n, k, ta, tb, accumulate: false };
    let done = gemm(&g, dtype, mats, (a.ptr(), sa), (b.ptr(), sb), (out.ptr, (m * n) as i64))?;
    Ok(done.then_some(out))
}

/// The shape of a row-major batched product for [`gemm`]: `batch` times `C (m x n) = op(A)
/// op(B)` (`+ C` when `accumulate`), `A` `m x k` (`k x m` stored when `ta`), `B` `k x n`
/// (`n x k` stored when `tb`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gemm {
    pub(crate) batch: usize,
    pub(crate) m: usize,
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) ta: bool,
    pub(crate) tb: bool,
    pub(crate) accumulate: bool,
}

/// Row-major strided batched product on `g`'s stream: each operand is (address, element
/// stride between batches; 0 = shared by every batch), all dense with `dtype` elements (C's
/// rows `n` apart). False when there is no cuBLAS or no product for `dtype` (nothing done).
/// Needs `k > 0`; the caller checks that each operand covers what it addresses.
pub(crate) fn gemm(g: &Gpu, dtype: DType, p: Gemm, a: (u64, i64), b: (u64, i64), c: (u64, i64)) -> Result<bool> {
    use cudarc::cublas::sys::{
        cublasComputeType_t as Ct, cublasGemmAlgo_t, cublasOperation_t as Op, cudaDataType as Dt,
    };
    let (dt, ct) = match dtype {
        DType::F32 => {
            (Dt::CUDA_R_32F, if allow_tf32() { Ct::CUBLAS_COMPUTE_32F_FAST_TF32 } else { Ct::CUBLAS_COMPUTE_32F })
        }
        DType::F64 => (Dt::CUDA_R_64F, Ct::CUBLAS_COMPUTE_64F),
        DType::F16 => (Dt::CUDA_R_16F, Ct::CUBLAS_COMPUTE_32F),
        DType::BF16 => (Dt::CUDA_R_16BF, Ct::CUBLAS_COMPUTE_32F),
        _ => return Ok(false),
    };
    let Gemm { batch, m, n, k, ta, tb, accumulate } = p;
    if batch * m * n == 0 || k == 0 {
        return Ok(batch * m * n == 0);
    }
    let mut blas = g.blas.lock();
    let Some(handle) = blas.as_mut() else { return Ok(false) };
    // Row-major C (m x n) is column-major C^T (n x m) = op(B)^T op(A)^T: cuBLAS gets B first.
    let (opb, ldb) = if tb { (Op::CUBLAS_OP_T, k) } else { (Op::CUBLAS_OP_N, n) };
    let (opa, lda) = if ta { (Op::CUBLAS_OP_T, m) } else { (Op::CUBLAS_OP_N, k) };
    let (one32, one64) = (1f32, 1f64);
    let (zero32, zero64) = (if accumulate { 1f32 } else { 0f32 }, if accumulate { 1f64 } else { 0f64 });
    let (alpha, beta): (*const std::ffi::c_void, *const std::ffi::c_void) = if dtype == DType::F64 {
        ((&one64 as *const f64).cast(), (&zero64 as *const f64).cast())
    } else {
        ((&one32 as *const f32).cast(), (&zero32 as *const f32).cast())
    };
    g.bind()?;
    // SAFETY: the callers pass operands holding the elements of `dtype` that these leading
    // dimensions and batch strides address (A m*k, B k*n, C m*n per batch); the handle is
    // bound to this device's stream and used under its lock; alpha and beta outlive the call.
    let r = unsafe {
        cudarc::cublas::result::gemm_strided_batched_ex(
            handle.0,
            opb,
            opa,
            n as i32,
            m as i32,
            k as i32,
            alpha,
            b.0 as *const _,
            dt,
            ldb as i32,
            b.1,
            a.0 as *const _,
            dt,
            lda as i32,
            a.1,
            beta,
            c.0 as *mut _,
            dt,
            n as i32,
            c.1,
            batch as i32,
            ct,
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
    };
    r.map_err(|e| Error::Context(format!("gpu({}): cuBLAS matrix product ({m}x{k} by {k}x{n}): {e}", g.id)))?;
    Ok(true)
}

// SAFETY: a plain C struct of doubles, passed by value as the kernel's C declaration.
unsafe impl DeviceRepr for OptParams {}

/// One optimizer step over weight, grad and the rule's states: the new weight, then the new
/// states.
pub fn optimizer_step(rule: OptRule, x: &[DevIn<'_>], p: OptParams) -> Result<Option<Vec<DeviceStorage>>> {
    let Some(sfx) = float_suffix(x[0].dtype()) else { return Ok(None) };
    if x.iter().any(|t| t.dtype() != x[0].dtype()) {
        return Ok(None);
    }
    let g = &x[0].data.gpu;
    let n = x[0].len();
    let nstates = x.len() - 2;
    let outs: Vec<DeviceStorage> =
        (0..=nstates).map(|_| DeviceStorage::uninit(g, x[0].dtype(), n)).collect::<Result<_>>()?;
    let ins: Vec<u64> = x.iter().map(|t| t.ptr()).collect();
    let ops: Vec<u64> = outs.iter().map(|o| o.ptr).collect();
    let len = n as i64;
    let name = match rule {
        OptRule::Sgd => "sgd",
        OptRule::SgdMom => "sgd_mom",
        OptRule::Adam => "adam",
    };
    let kernel = format!("{name}_{sfx}");
    let ok = match (ins.as_slice(), ops.as_slice()) {
        ([w, gr], [wo]) => launch!(g, &nvrtc::OPTIM, &kernel, grid(n), [w, gr, wo, &len, &p]),
        ([w, gr, m], [wo, mo]) => launch!(g, &nvrtc::OPTIM, &kernel, grid(n), [w, gr, m, wo, mo, &len, &p]),
        ([w, gr, m, v], [wo, mo, vo]) => {
            launch!(g, &nvrtc::OPTIM, &kernel, grid(n), [w, gr, m, v, wo, mo, vo, &len, &p])
        }
        _ => return Err(Error::msg(format!("internal: {kernel} takes 2 to 4 inputs, got {}", ins.len()))),
    };
    Ok(ok.then_some(outs))
}

/// `len` draws of `dist` as `dtype` on device `dev`, from the Philox stream of `key` at
/// `offset` (the caller takes both from the device's generator).
pub fn random(
    dev: u32,
    dtype: DType,
    len: usize,
    dist: DeviceDist,
    key: u64,
    offset: u64,
) -> Result<Option<DeviceStorage>> {
    let Some(sfx) = float_suffix(dtype) else { return Ok(None) };
    let g = gpu(dev)?;
    let out = DeviceStorage::uninit(&g, dtype, len)?;
    let (name, a, b) = match dist {
        DeviceDist::Uniform(lo, hi) => ("uniform", lo, hi),
        DeviceDist::Normal(loc, scale) => ("normal", loc, scale),
    };
    let (po, n) = (out.ptr, len as i64);
    let ok = launch!(&g, &nvrtc::RANDOM, &format!("{name}_{sfx}"), grid(len), [&po, &n, &key, &offset, &a, &b]);
    Ok(ok.then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_merge_into_contiguous_runs() {
        // Sum over the last two axes of (2, 3, 4): one reduced run of 12, stride 1.
        let (k, r) = split_axes(&[2, 3, 4], &[false, true, true]);
        assert_eq!((k, r), (vec![(2, 12)], vec![(12, 1)]));
        // Sum over axis 1 of (2, 3, 4): kept (2, stride 12) and (4, stride 1).
        let (k, r) = split_axes(&[2, 3, 4], &[false, true, false]);
        assert_eq!((k, r), (vec![(2, 12), (4, 1)], vec![(3, 4)]));
        // Unit axes vanish.
        let (k, r) = split_axes(&[1, 5, 1], &[true, true, false]);
        assert_eq!((k, r), (vec![], vec![(5, 1)]));
    }

    #[test]
    fn broadcast_strides_are_zero_on_broadcast_axes() {
        assert_eq!(&bcast_strides(&[3, 1], &[2, 3, 4])[..3], &[0, 1, 0]);
        assert_eq!(&bcast_strides(&[2, 3, 4], &[2, 3, 4])[..3], &[12, 4, 1]);
    }
}
