//! Elementwise kernels: unary math, binary ops with broadcasting, and ops with a scalar.
//!
//! f32 and f64 compute natively; f16 computes in f32; integer dtypes compute integer arithmetic
//! natively (wrapping, division by zero gives 0) and transcendental functions through f64 with
//! a truncating cast back, as MXNet's kernels do.

use half::f16;
use rayon::prelude::*;

use super::PAR_CHUNK;
use crate::dtype::{Bool8, Element};
use crate::storage::{CpuStorage, StorageElement};

/// Arithmetic every element type supports.
pub trait Arith: Element + StorageElement {
    /// a + b
    fn add(self, b: Self) -> Self;
    /// a - b
    fn sub(self, b: Self) -> Self;
    /// a * b
    fn mul(self, b: Self) -> Self;
    /// a / b (integers: truncating, 0 for b == 0)
    fn div(self, b: Self) -> Self;
    /// MXNet's `mod`: the result has the sign of b; 0 for b == 0.
    fn modulo(self, b: Self) -> Self;
    /// a ** b
    fn pow(self, b: Self) -> Self;
}

macro_rules! arith_float {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                self + b
            }
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                self - b
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                self * b
            }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                self / b
            }
            #[inline(always)]
            fn modulo(self, b: Self) -> Self {
                if b == 0.0 {
                    return 0.0;
                }
                let r = self % b;
                if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
            }
            #[inline(always)]
            fn pow(self, b: Self) -> Self {
                self.powf(b)
            }
        }
    };
}
arith_float!(f32);
arith_float!(f64);

macro_rules! arith_int {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                self.wrapping_add(b)
            }
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                self.wrapping_sub(b)
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                self.wrapping_mul(b)
            }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                if b == 0 { 0 } else { self.wrapping_div(b) }
            }
            #[inline(always)]
            fn modulo(self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let r = self.wrapping_rem(b);
                #[allow(unused_comparisons)]
                if r != 0 && ((r < 0) != (b < 0)) { r.wrapping_add(b) } else { r }
            }
            #[inline(always)]
            fn pow(self, b: Self) -> Self {
                (self as f64).powf(b as f64) as $t
            }
        }
    };
}
arith_int!(u8);
arith_int!(i8);
arith_int!(i32);
arith_int!(i64);

impl Arith for Bool8 {
    fn add(self, b: Self) -> Self {
        Bool8(((self.0 | b.0) != 0) as u8)
    }
    fn sub(self, b: Self) -> Self {
        Bool8(((self.0 != 0) != (b.0 != 0)) as u8)
    }
    fn mul(self, b: Self) -> Self {
        Bool8(((self.0 != 0) && (b.0 != 0)) as u8)
    }
    fn div(self, b: Self) -> Self {
        Bool8(((self.0 != 0) && (b.0 != 0)) as u8)
    }
    fn modulo(self, _b: Self) -> Self {
        Bool8(0)
    }
    fn pow(self, b: Self) -> Self {
        Bool8(((self.0 != 0) || (b.0 == 0)) as u8)
    }
}

impl Arith for half::bf16 {
    fn add(self, b: Self) -> Self {
        Self::from_f32(self.to_f32() + b.to_f32())
    }
    fn sub(self, b: Self) -> Self {
        Self::from_f32(self.to_f32() - b.to_f32())
    }
    fn mul(self, b: Self) -> Self {
        Self::from_f32(self.to_f32() * b.to_f32())
    }
    fn div(self, b: Self) -> Self {
        Self::from_f32(self.to_f32() / b.to_f32())
    }
    fn modulo(self, b: Self) -> Self {
        Self::from_f32(self.to_f32().modulo(b.to_f32()))
    }
    fn pow(self, b: Self) -> Self {
        Self::from_f32(self.to_f32().powf(b.to_f32()))
    }
}

impl Arith for f16 {
    fn add(self, b: Self) -> Self {
        f16::from_f32(self.to_f32() + b.to_f32())
    }
    fn sub(self, b: Self) -> Self {
        f16::from_f32(self.to_f32() - b.to_f32())
    }
    fn mul(self, b: Self) -> Self {
        f16::from_f32(self.to_f32() * b.to_f32())
    }
    fn div(self, b: Self) -> Self {
        f16::from_f32(self.to_f32() / b.to_f32())
    }
    fn modulo(self, b: Self) -> Self {
        f16::from_f32(self.to_f32().modulo(b.to_f32()))
    }
    fn pow(self, b: Self) -> Self {
        f16::from_f32(self.to_f32().powf(b.to_f32()))
    }
}

/// Elementwise binary operations (MXNet's `elemwise_*`, `broadcast_*` and `_*_scalar`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b
    Div,
    /// a mod b
    Mod,
    /// a ** b
    Power,
    /// max(a, b)
    Maximum,
    /// min(a, b)
    Minimum,
    /// a == b
    Equal,
    /// a != b
    NotEqual,
    /// a > b
    Greater,
    /// a >= b
    GreaterEqual,
    /// a < b
    Lesser,
    /// a <= b
    LesserEqual,
    /// a && b
    LogicalAnd,
    /// a || b
    LogicalOr,
    /// a xor b
    LogicalXor,
    /// sqrt(a^2 + b^2)
    Hypot,
}

#[inline(always)]
fn b2t<T: Element>(b: bool) -> T {
    if b { T::one() } else { T::zero() }
}

/// Map `f` over `out[i] = f(a[i], b[i])` for a broadcast pair of contiguous arrays. `cheap`:
/// `f` is a single arithmetic instruction, so that only long inputs are worth splitting.
fn zip_broadcast<T, F>(
    a: &[T],
    ashape: &[usize],
    b: &[T],
    bshape: &[usize],
    out_shape: &[usize],
    cheap: bool,
    f: F,
) -> Vec<T>
where
    T: Element + StorageElement,
    F: Fn(T, T) -> T + Sync + Send,
{
    let n: usize = out_shape.iter().product();
    let mut out: Vec<T> = crate::pool::alloc(n);
    if n == 0 {
        return out;
    }
    let split = if cheap { super::parallel_cheap(n) } else { super::parallel(n) };
    if a.len() == n && b.len() == n {
        if split {
            out.par_chunks_mut(PAR_CHUNK).enumerate().for_each(|(ci, o)| {
                let (s, len) = (ci * PAR_CHUNK, o.len());
                zip_chunk(&a[s..s + len], &b[s..s + len], o, &f);
            });
        } else {
            zip_chunk(a, b, &mut out, &f);
        }
        return out;
    }
    if b.len() == 1 && a.len() == n {
        let y = b[0];
        map_chunks(a, &mut out, split, |x| f(x, y));
        return out;
    }
    if a.len() == 1 && b.len() == n {
        let x = a[0];
        map_chunks(b, &mut out, split, |y| f(x, y));
        return out;
    }
    // General broadcast: expand each side with zero strides, walk the output row by row.
    let sa = super::gather::broadcast_strides(ashape, out_shape);
    let sb = super::gather::broadcast_strides(bshape, out_shape);
    let nd = out_shape.len();
    let last = out_shape[nd - 1];
    let (la, lb) = (sa[nd - 1], sb[nd - 1]);
    let rows = n / last;
    let row_fn = |r: usize, o: &mut [T]| {
        let (mut pa, mut pb) = (0isize, 0isize);
        let mut rem = r;
        for ax in (0..nd - 1).rev() {
            let i = rem % out_shape[ax];
            rem /= out_shape[ax];
            pa += i as isize * sa[ax];
            pb += i as isize * sb[ax];
        }
        for (j, o) in o.iter_mut().enumerate() {
            *o = f(a[(pa + j as isize * la) as usize], b[(pb + j as isize * lb) as usize]);
        }
    };
    if split {
        out.par_chunks_mut(last).enumerate().for_each(|(r, o)| row_fn(r, o));
    } else {
        for (r, o) in out.chunks_mut(last).enumerate() {
            row_fn(r, o);
        }
    }
    debug_assert_eq!(rows * last, n);
    out
}

/// `out[i] = f(src[i])`, in parallel for long inputs.
pub fn map_into<S, T, F>(src: &[S], out: &mut [T], f: F)
where
    S: Copy + Sync,
    T: Send,
    F: Fn(S) -> T + Sync + Send,
{
    map_chunks(src, out, super::parallel(src.len()), f);
}

/// `out[i] = f(src[i])`, split over rayon's pool when `split`.
fn map_chunks<S, T, F>(src: &[S], out: &mut [T], split: bool, f: F)
where
    S: Copy + Sync,
    T: Send,
    F: Fn(S) -> T + Sync + Send,
{
    if split {
        out.par_chunks_mut(PAR_CHUNK).zip(src.par_chunks(PAR_CHUNK)).for_each(|(o, s)| map_chunk(s, o, &f));
    } else {
        map_chunk(src, out, &f);
    }
}

// The loops below take their slices and the closure as arguments so that the compiler knows
// that writes to `out` cannot change what the closure captured (a scalar operand): inlined
// into rayon's plumbing it lost that, reloaded the scalar after every store and never
// vectorised (`x += 1` ran at a quarter of memory speed).

/// `out[i] = f(src[i])` over one chunk.
#[inline]
fn map_chunk<S: Copy, T, F: Fn(S) -> T>(src: &[S], out: &mut [T], f: &F) {
    for (o, &x) in out.iter_mut().zip(src) {
        *o = f(x);
    }
}

/// `out[i] = f(a[i], b[i])` over one chunk.
#[inline]
fn zip_chunk<T: Copy, F: Fn(T, T) -> T>(a: &[T], b: &[T], out: &mut [T], f: &F) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// A new vector `f(src[i])`.
pub fn map<S: Copy + Sync, T: StorageElement + Send, F: Fn(S) -> T + Sync + Send>(src: &[S], f: F) -> Vec<T> {
    let mut out: Vec<T> = crate::pool::alloc(src.len());
    map_into(src, &mut out, f);
    out
}

/// Binary op over two broadcast-compatible arrays of the same dtype.
pub fn binary<T: Arith + PartialOrd>(
    kind: BinaryKind,
    a: &[T],
    ashape: &[usize],
    b: &[T],
    bshape: &[usize],
    out_shape: &[usize],
) -> Vec<T> {
    use BinaryKind::*;
    let z = |f: &(dyn Fn(T, T) -> T + Sync + Send)| zip_broadcast(a, ashape, b, bshape, out_shape, false, f);
    match kind {
        Add => zip_broadcast(a, ashape, b, bshape, out_shape, true, |x, y| x.add(y)),
        Sub => zip_broadcast(a, ashape, b, bshape, out_shape, true, |x, y| x.sub(y)),
        Mul => zip_broadcast(a, ashape, b, bshape, out_shape, true, |x, y| x.mul(y)),
        Div => zip_broadcast(a, ashape, b, bshape, out_shape, true, |x, y| x.div(y)),
        Mod => z(&|x, y| x.modulo(y)),
        Power => z(&|x, y| x.pow(y)),
        Maximum => z(&|x, y| if x >= y || x.partial_cmp(&x).is_none() { x } else { y }),
        Minimum => z(&|x, y| if x <= y || x.partial_cmp(&x).is_none() { x } else { y }),
        Equal => z(&|x, y| b2t(x == y)),
        NotEqual => z(&|x, y| b2t(x != y)),
        Greater => z(&|x, y| b2t(x > y)),
        GreaterEqual => z(&|x, y| b2t(x >= y)),
        Lesser => z(&|x, y| b2t(x < y)),
        LesserEqual => z(&|x, y| b2t(x <= y)),
        LogicalAnd => z(&|x, y| b2t(x != T::zero() && y != T::zero())),
        LogicalOr => z(&|x, y| b2t(x != T::zero() || y != T::zero())),
        LogicalXor => z(&|x, y| b2t((x != T::zero()) != (y != T::zero()))),
        Hypot => z(&|x, y| T::from_f64(x.to_f64().hypot(y.to_f64()))),
    }
}

/// Binary op on storages (same dtype) with broadcasting.
pub fn binary_storage(
    kind: BinaryKind,
    a: &CpuStorage,
    ashape: &[usize],
    b: &CpuStorage,
    bshape: &[usize],
    out_shape: &[usize],
) -> CpuStorage {
    macro_rules! go {
        ($x:expr, $y:expr) => {
            StorageElement::wrap(binary(kind, $x, ashape, $y, bshape, out_shape))
        };
    }
    match (a, b) {
        (CpuStorage::F32(x), CpuStorage::F32(y)) => go!(x, y),
        (CpuStorage::F64(x), CpuStorage::F64(y)) => go!(x, y),
        (CpuStorage::F16(x), CpuStorage::F16(y)) => {
            let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
            let yf: Vec<f32> = y.iter().map(|v| v.to_f32()).collect();
            let r = binary(kind, &xf, ashape, &yf, bshape, out_shape);
            CpuStorage::F16(r.into_iter().map(f16::from_f32).collect())
        }
        (CpuStorage::BF16(x), CpuStorage::BF16(y)) => {
            let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
            let yf: Vec<f32> = y.iter().map(|v| v.to_f32()).collect();
            let r = binary(kind, &xf, ashape, &yf, bshape, out_shape);
            CpuStorage::BF16(r.into_iter().map(half::bf16::from_f32).collect())
        }
        (CpuStorage::U8(x), CpuStorage::U8(y)) => go!(x, y),
        (CpuStorage::I8(x), CpuStorage::I8(y)) => go!(x, y),
        (CpuStorage::I32(x), CpuStorage::I32(y)) => go!(x, y),
        (CpuStorage::I64(x), CpuStorage::I64(y)) => go!(x, y),
        (CpuStorage::Bool(x), CpuStorage::Bool(y)) => go!(x, y),
        _ => panic!("binary_storage: dtype mismatch {:?} vs {:?} (checked by the caller)", a.dtype(), b.dtype()),
    }
}

/// `a = a op b` in place, for `+ - * /` (`reverse`: `a = b op a`), where `b` has one element
/// or as many as `a`. Returns false, leaving `a` untouched, for other ops, mixed dtypes and
/// half-precision storages (those compute in float32 through a copy anyway).
pub fn binary_inplace(kind: BinaryKind, a: &mut CpuStorage, b: &CpuStorage, reverse: bool) -> bool {
    if !matches!(kind, BinaryKind::Add | BinaryKind::Sub | BinaryKind::Mul | BinaryKind::Div)
        || (b.len() != 1 && b.len() != a.len())
    {
        return false;
    }
    match (a, b) {
        (CpuStorage::F32(x), CpuStorage::F32(y)) => apply_inplace(kind, x, y, reverse),
        (CpuStorage::F64(x), CpuStorage::F64(y)) => apply_inplace(kind, x, y, reverse),
        (CpuStorage::U8(x), CpuStorage::U8(y)) => apply_inplace(kind, x, y, reverse),
        (CpuStorage::I8(x), CpuStorage::I8(y)) => apply_inplace(kind, x, y, reverse),
        (CpuStorage::I32(x), CpuStorage::I32(y)) => apply_inplace(kind, x, y, reverse),
        (CpuStorage::I64(x), CpuStorage::I64(y)) => apply_inplace(kind, x, y, reverse),
        _ => return false,
    }
    true
}

fn apply_inplace<T: Arith>(kind: BinaryKind, a: &mut [T], b: &[T], reverse: bool) {
    match (kind, reverse) {
        (BinaryKind::Add, _) => zip_inplace(a, b, |x, y| x.add(y)),
        (BinaryKind::Mul, _) => zip_inplace(a, b, |x, y| x.mul(y)),
        (BinaryKind::Sub, false) => zip_inplace(a, b, |x, y| x.sub(y)),
        (BinaryKind::Sub, true) => zip_inplace(a, b, |x, y| y.sub(x)),
        (BinaryKind::Div, false) => zip_inplace(a, b, |x, y| x.div(y)),
        (BinaryKind::Div, true) => zip_inplace(a, b, |x, y| y.div(x)),
        _ => unreachable!("binary_inplace checked the op"),
    }
}

/// `a[i] = f(a[i], b[i])`, or `f(a[i], b[0])` when `b` has one element.
fn zip_inplace<T: Copy + Send + Sync, F: Fn(T, T) -> T + Sync + Send>(a: &mut [T], b: &[T], f: F) {
    if b.len() == 1 {
        let y = b[0];
        update_map(a, super::parallel_cheap, move |x| f(x, y));
    } else if super::parallel_cheap(a.len()) {
        a.par_chunks_mut(PAR_CHUNK).zip(b.par_chunks(PAR_CHUNK)).for_each(|(c, d)| update_zip_chunk(c, d, &f));
    } else {
        update_zip_chunk(a, b, &f);
    }
}

/// `a[i] = f(a[i])` over one chunk.
#[inline]
fn update_chunk<T: Copy, F: Fn(T) -> T>(a: &mut [T], f: &F) {
    for x in a.iter_mut() {
        *x = f(*x);
    }
}

/// `a[i] = f(a[i], b[i])` over one chunk.
#[inline]
fn update_zip_chunk<T: Copy, F: Fn(T, T) -> T>(a: &mut [T], b: &[T], f: &F) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = f(*x, y);
    }
}

/// Elementwise unary math functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryKind {
    /// e^x
    Exp,
    /// ln x
    Log,
    /// log2 x
    Log2,
    /// log10 x
    Log10,
    /// ln(1+x)
    Log1p,
    /// e^x - 1
    Expm1,
    /// sqrt
    Sqrt,
    /// 1/sqrt
    Rsqrt,
    /// cube root
    Cbrt,
    /// x^2
    Square,
    /// |x|
    Abs,
    /// sign
    Sign,
    /// ceil
    Ceil,
    /// floor
    Floor,
    /// round half away from zero
    Round,
    /// round, halves down (MXNet's rint)
    Rint,
    /// truncate
    Trunc,
    /// fix (towards zero)
    Fix,
    /// sin
    Sin,
    /// cos
    Cos,
    /// tan
    Tan,
    /// arcsin
    Arcsin,
    /// arccos
    Arccos,
    /// arctan
    Arctan,
    /// sinh
    Sinh,
    /// cosh
    Cosh,
    /// tanh
    Tanh,
    /// logistic sigmoid
    Sigmoid,
    /// max(x, 0)
    Relu,
    /// x / (1 + |x|)
    Softsign,
    /// -x
    Negative,
    /// 1/x
    Reciprocal,
    /// log(1 + e^x)
    Softrelu,
    /// logical not
    LogicalNot,
    /// degrees
    Degrees,
    /// radians
    Radians,
    /// erf
    Erf,
    /// gamma
    Gamma,
    /// ln gamma
    Gammaln,
}

/// A floating-point type the unary functions are computed in.
pub trait UnaryFloat: num_traits::Float + Send + Sync + 'static {}
impl UnaryFloat for f32 {}
impl UnaryFloat for f64 {}

/// Apply a unary function to one value.
#[inline(always)]
pub fn unary_scalar<F: UnaryFloat>(kind: UnaryKind, x: F) -> F {
    use UnaryKind::*;
    let one = F::one();
    let zero = F::zero();
    match kind {
        Exp => x.exp(),
        Log => x.ln(),
        Log2 => x.log2(),
        Log10 => x.log10(),
        Log1p => x.ln_1p(),
        Expm1 => x.exp_m1(),
        Sqrt => x.sqrt(),
        Rsqrt => one / x.sqrt(),
        Cbrt => x.cbrt(),
        Square => x * x,
        Abs => x.abs(),
        Sign => {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else {
                zero
            }
        }
        Ceil => x.ceil(),
        Floor => x.floor(),
        Round => x.round(),
        Rint => {
            // MXNet's rint: halves go down (2.5 -> 2, -2.5 -> -3).
            let f = x.floor();
            if x - f <= F::from(0.5).unwrap() { f } else { f + one }
        }
        Trunc | Fix => x.trunc(),
        Sin => x.sin(),
        Cos => x.cos(),
        Tan => x.tan(),
        Arcsin => x.asin(),
        Arccos => x.acos(),
        Arctan => x.atan(),
        Sinh => x.sinh(),
        Cosh => x.cosh(),
        Tanh => x.tanh(),
        Sigmoid => one / (one + (-x).exp()),
        Relu => {
            if x > zero {
                x
            } else {
                zero
            }
        }
        Softsign => x / (one + x.abs()),
        Negative => -x,
        Reciprocal => one / x,
        Softrelu => {
            if x > F::from(20.0).unwrap() {
                x
            } else {
                x.exp().ln_1p()
            }
        }
        LogicalNot => {
            if x == zero {
                one
            } else {
                zero
            }
        }
        Degrees => x.to_degrees(),
        Radians => x.to_radians(),
        Erf => F::from(erf(x.to_f64().unwrap())).unwrap(),
        Gamma => F::from(gamma(x.to_f64().unwrap())).unwrap(),
        Gammaln => F::from(gamma(x.to_f64().unwrap()).abs().ln()).unwrap(),
    }
}

/// The vectorised float32 kernels of `kind` (out of place, in place), where there are some.
#[allow(clippy::type_complexity)]
fn f32_kernels(kind: UnaryKind) -> Option<(fn(&[f32], &mut [f32]), fn(&mut [f32]))> {
    use super::vmath::*;
    match kind {
        UnaryKind::Exp => Some((exp_slice, exp_inplace)),
        UnaryKind::Tanh => Some((tanh_slice, tanh_inplace)),
        UnaryKind::Sigmoid => Some((sigmoid_slice, sigmoid_inplace)),
        _ => None,
    }
}

/// Unary function over a storage; the output keeps the input dtype.
pub fn unary_storage(kind: UnaryKind, s: &CpuStorage) -> CpuStorage {
    match s {
        CpuStorage::F32(v) => CpuStorage::F32(match f32_kernels(kind) {
            Some((slice, _)) => super::vmath::map_slices(v, slice),
            None => map(v, |x| unary_scalar(kind, x)),
        }),
        CpuStorage::F64(v) => CpuStorage::F64(map(v, |x| unary_scalar(kind, x))),
        CpuStorage::F16(v) => CpuStorage::F16(map(v, |x: f16| f16::from_f32(unary_scalar(kind, x.to_f32())))),
        CpuStorage::BF16(v) => {
            CpuStorage::BF16(map(v, |x: half::bf16| half::bf16::from_f32(unary_scalar(kind, x.to_f32()))))
        }
        other => crate::with_cpu!(other, v, T, { T::wrap(map(v, |x: T| int_unary::<T>(kind, x))) }),
    }
}

/// `x = f(x)` in place for an elementwise unary op. Returns false, leaving `s` untouched, for
/// half-precision and bool storages (those compute in float32 through a copy anyway).
pub fn unary_inplace(kind: UnaryKind, s: &mut CpuStorage) -> bool {
    match s {
        CpuStorage::F32(v) => match f32_kernels(kind) {
            Some((_, inplace)) => super::vmath::map_inplace(v, inplace),
            None => update_map(v, super::parallel, |x| unary_scalar(kind, x)),
        },
        CpuStorage::F64(v) => update_map(v, super::parallel, |x| unary_scalar(kind, x)),
        CpuStorage::U8(v) => update_map(v, super::parallel, |x| int_unary(kind, x)),
        CpuStorage::I8(v) => update_map(v, super::parallel, |x| int_unary(kind, x)),
        CpuStorage::I32(v) => update_map(v, super::parallel, |x| int_unary(kind, x)),
        CpuStorage::I64(v) => update_map(v, super::parallel, |x| int_unary(kind, x)),
        _ => return false,
    }
    true
}

/// `a[i] = f(a[i])`, split over rayon's pool when `split(a.len())` says so
/// ([`super::parallel`] or [`super::parallel_cheap`]).
fn update_map<T: Copy + Send + Sync, F: Fn(T) -> T + Sync + Send>(a: &mut [T], split: fn(usize) -> bool, f: F) {
    if split(a.len()) {
        a.par_chunks_mut(PAR_CHUNK).for_each(|c| update_chunk(c, &f));
    } else {
        update_chunk(a, &f);
    }
}

#[inline(always)]
fn int_unary<T: Element>(kind: UnaryKind, x: T) -> T {
    use UnaryKind::*;
    match kind {
        Negative => T::from_f64(-x.to_f64()),
        Abs => T::from_f64(x.to_f64().abs()),
        Square => T::from_f64(x.to_f64() * x.to_f64()),
        _ => T::from_f64(unary_scalar(kind, x.to_f64())),
    }
}

/// The error function (Abramowitz-Stegun 7.1.26 refined by one Newton step is not needed for
/// f32 use; this is W. J. Cody's rational approximation, accurate to ~1e-15).
pub fn erf(x: f64) -> f64 {
    // erf via erfc for |x| >= 0.5, series below.
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    let r = if ax < 0.5 {
        // Maclaurin series.
        let x2 = ax * ax;
        let mut term = ax;
        let mut sum = ax;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        1.0 - erfc_cf(ax)
    };
    if x < 0.0 { -r } else { r }
}

/// erfc(x) for x >= 0.5 by Lentz's continued fraction.
fn erfc_cf(x: f64) -> f64 {
    if x > 27.0 {
        return 0.0;
    }
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..300 {
        let an = n as f64 / 2.0;
        d = x + an * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

/// The gamma function (Lanczos approximation, g = 7).
pub fn gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x))
    } else {
        let x = x - 1.0;
        let mut a = G[0];
        let t = x + 7.5;
        for (i, g) in G.iter().enumerate().skip(1) {
            a += g / (x + i as f64);
        }
        (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_add() {
        let a = [1.0f32, 2.0, 3.0];
        let b = [10.0f32, 20.0];
        let r = binary(BinaryKind::Add, &a, &[1, 3], &b, &[2, 1], &[2, 3]);
        assert_eq!(r, vec![11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    }

    #[test]
    fn int_semantics() {
        assert_eq!(7i32.div(2), 3);
        assert_eq!((-7i32).div(2), -3);
        assert_eq!(5i32.div(0), 0);
        assert_eq!((-7i32).modulo(3), 2);
        assert_eq!(7i32.modulo(-3), -2);
        assert_eq!((-7.0f32).modulo(3.0), 2.0);
    }

    #[test]
    fn special_functions() {
        assert!((erf(0.3) - 0.328_626_759_459_127_4).abs() < 1e-12);
        assert!((erf(1.5) - 0.966_105_146_475_310_7).abs() < 1e-12);
        assert!((gamma(5.0) - 24.0).abs() < 1e-9);
        assert!((gamma(0.5) - std::f64::consts::PI.sqrt()).abs() < 1e-12);
    }
}
