//! Binary ops over two arrays with broadcasting (MXNet's `elemwise_*`, `broadcast_*`, and the
//! `_*_scalar` ops with the scalar as a one-element operand), out of place and in place.

use half::f16;
use rayon::prelude::*;

use super::Arith;
use super::map::{map_chunks, update_map};
use crate::backend::cpu::{Parallelism, Split, chunks_mut, simd_fn, stream};
use crate::dtype::{DType, Element};
use crate::storage::{CpuStorage, StorageElement};

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

impl BinaryKind {
    /// Whether the operation is an instruction or two an element (not `mod`, `**` or `hypot`),
    /// so that its loops split over threads only for long inputs.
    pub fn is_cheap(self) -> bool {
        !matches!(self, BinaryKind::Mod | BinaryKind::Power | BinaryKind::Hypot)
    }

    /// Every operation.
    pub const ALL: [BinaryKind; 18] = [
        BinaryKind::Add,
        BinaryKind::Sub,
        BinaryKind::Mul,
        BinaryKind::Div,
        BinaryKind::Mod,
        BinaryKind::Power,
        BinaryKind::Maximum,
        BinaryKind::Minimum,
        BinaryKind::Equal,
        BinaryKind::NotEqual,
        BinaryKind::Greater,
        BinaryKind::GreaterEqual,
        BinaryKind::Lesser,
        BinaryKind::LesserEqual,
        BinaryKind::LogicalAnd,
        BinaryKind::LogicalOr,
        BinaryKind::LogicalXor,
        BinaryKind::Hypot,
    ];
}

#[inline(always)]
fn b2t<T: Element>(b: bool) -> T {
    if b { T::one() } else { T::zero() }
}

/// Outputs of at most this many elements are computed by [`zip_broadcast`]'s plain loop.
const TINY: usize = 64;

/// Map `f` over `out[i] = f(a[i], b[i])` for a broadcast pair of contiguous arrays. `cheap`:
/// `f` is a single arithmetic instruction, so that only long inputs are worth splitting.
#[allow(clippy::too_many_arguments)]
fn zip_broadcast<T, F>(
    par: Parallelism,
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
    // A handful of elements (`a + b` of 2x3 in a Python loop): one plain loop, without the
    // pool's size checks, the split decision and the vector kernels' dispatch, which cost
    // more than the arithmetic.
    if n <= TINY {
        if a.len() == n && b.len() == n {
            return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
        }
        if b.len() == 1 && a.len() == n {
            return a.iter().map(|&x| f(x, b[0])).collect();
        }
        if a.len() == 1 && b.len() == n {
            return b.iter().map(|&y| f(a[0], y)).collect();
        }
    }
    let mut out: Vec<T> = crate::pool::alloc(n);
    if n == 0 {
        return out;
    }
    let split = if cheap { par.split_cheap_mode(n) } else { Split::pool_if(par.split(n)) };
    if a.len() == n && b.len() == n {
        chunks_mut(split, &mut out, |s, o| zip_chunk(&a[s..s + o.len()], &b[s..s + o.len()], o, &f));
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
    let sa = crate::backend::cpu::gather::broadcast_strides(ashape, out_shape);
    let sb = crate::backend::cpu::gather::broadcast_strides(bshape, out_shape);
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
        let (pa, pb) = (pa as usize, pb as usize);
        // A row reads each operand either along its own row (stride 1) or as one repeated
        // value (stride 0, a broadcast axis): then the row is a plain vectorised loop.
        match (la, lb) {
            (1, 1) => zip_chunk(&a[pa..pa + last], &b[pb..pb + last], o, &f),
            (1, 0) => {
                let y = b[pb];
                map_chunks(&a[pa..pa + last], o, Split::One, |x| f(x, y));
            }
            (0, 1) => {
                let x = a[pa];
                map_chunks(&b[pb..pb + last], o, Split::One, |y| f(x, y));
            }
            _ => {
                for (j, o) in o.iter_mut().enumerate() {
                    *o = f(a[(pa as isize + j as isize * la) as usize], b[(pb as isize + j as isize * lb) as usize]);
                }
            }
        }
    };
    // Broadcast rows split over rayon's pool only (mid-sized ones stay on this thread).
    if split == Split::Pool {
        out.par_chunks_mut(last).enumerate().for_each(|(r, o)| row_fn(r, o));
    } else {
        for (r, o) in out.chunks_mut(last).enumerate() {
            row_fn(r, o);
        }
    }
    debug_assert_eq!(rows * last, n);
    out
}

simd_fn! {
    /// `out[i] = f(a[i], b[i])` over one chunk (a separate function for the reason given in
    /// `map.rs`).
    fn zip_chunk[T: Copy, F: Fn(T, T) -> T](a: &[T], b: &[T], out: &mut [T], f: &F) {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    }
}

/// Binary op over two broadcast-compatible arrays of the same dtype.
pub fn binary<T: Arith + PartialOrd>(
    par: Parallelism,
    kind: BinaryKind,
    a: &[T],
    ashape: &[usize],
    b: &[T],
    bshape: &[usize],
    out_shape: &[usize],
) -> Vec<T> {
    use BinaryKind::*;
    // Each function is its own closure type, so that every loop is compiled (and vectorised)
    // for its function: through one `&dyn Fn` they made an indirect call per element, 7-10x
    // slower than a vectorised loop for `maximum` or `greater` (100 against 10 µs on 10^5
    // float32).
    macro_rules! z {
        ($cheap:literal, $f:expr) => {
            zip_broadcast(par, a, ashape, b, bshape, out_shape, $cheap, $f)
        };
    }
    match kind {
        Add => z!(true, |x, y| x.add(y)),
        Sub => z!(true, |x, y| x.sub(y)),
        Mul => z!(true, |x, y| x.mul(y)),
        Div => z!(true, |x, y| x.div(y)),
        Mod => z!(false, |x, y| x.modulo(y)),
        // `x ** 2` (a squared error) is exactly `x * x` in floating point, without a `powf`
        // per element.
        Power if matches!(T::DTYPE, DType::F32 | DType::F64) && b.len() == 1 && b[0].to_f64() == 2.0 => {
            z!(true, |x, _| x.mul(x))
        }
        Power => z!(false, |x, y| x.pow(y)),
        Maximum => z!(true, |x, y| if x >= y || x.partial_cmp(&x).is_none() { x } else { y }),
        Minimum => z!(true, |x, y| if x <= y || x.partial_cmp(&x).is_none() { x } else { y }),
        Equal => z!(true, |x, y| b2t(x == y)),
        NotEqual => z!(true, |x, y| b2t(x != y)),
        Greater => z!(true, |x, y| b2t(x > y)),
        GreaterEqual => z!(true, |x, y| b2t(x >= y)),
        Lesser => z!(true, |x, y| b2t(x < y)),
        LesserEqual => z!(true, |x, y| b2t(x <= y)),
        LogicalAnd => z!(true, |x, y| b2t(x != T::zero() && y != T::zero())),
        LogicalOr => z!(true, |x, y| b2t(x != T::zero() || y != T::zero())),
        LogicalXor => z!(true, |x, y| b2t((x != T::zero()) != (y != T::zero()))),
        Hypot => z!(false, |x, y| T::from_f64(x.to_f64().hypot(y.to_f64()))),
    }
}

/// The streamed form of `kind` when it applies: float32 arithmetic on two arrays of the output's
/// size, an output larger than the caches ([`stream::stream_min_bytes`]).
fn streamed_arith(kind: BinaryKind, a: usize, b: usize, out_shape: &[usize]) -> Option<stream::Arith> {
    let n: usize = out_shape.iter().product();
    if a != n || b != n || n * 4 < stream::stream_min_bytes() {
        return None;
    }
    match kind {
        BinaryKind::Add => Some(stream::Arith::Add),
        BinaryKind::Sub => Some(stream::Arith::Sub),
        BinaryKind::Mul => Some(stream::Arith::Mul),
        BinaryKind::Div => Some(stream::Arith::Div),
        _ => None,
    }
}

/// `a op b` for a large float32 output, written with streaming stores: the output is not read
/// before it is written, which saves a third of the memory traffic of `c = a + b`.
fn binary_streamed(par: Parallelism, op: stream::Arith, a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut out: Vec<f32> = crate::pool::alloc(a.len());
    chunks_mut(par.split_cheap_mode(a.len()), &mut out, |s, o| {
        stream::binary_f32_streamed(o, &a[s..s + o.len()], &b[s..s + o.len()], op)
    });
    out
}

/// Binary op on storages (same dtype) with broadcasting.
pub fn binary_storage(
    par: Parallelism,
    kind: BinaryKind,
    a: &CpuStorage,
    ashape: &[usize],
    b: &CpuStorage,
    bshape: &[usize],
    out_shape: &[usize],
) -> CpuStorage {
    macro_rules! go {
        ($x:expr, $y:expr) => {
            StorageElement::wrap(binary(par, kind, $x, ashape, $y, bshape, out_shape))
        };
    }
    match (a, b) {
        (CpuStorage::F32(x), CpuStorage::F32(y)) => match streamed_arith(kind, x.len(), y.len(), out_shape) {
            Some(op) => CpuStorage::F32(binary_streamed(par, op, x, y).into()),
            None => go!(x, y),
        },
        (CpuStorage::F64(x), CpuStorage::F64(y)) => go!(x, y),
        (CpuStorage::F16(x), CpuStorage::F16(y)) => {
            let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
            let yf: Vec<f32> = y.iter().map(|v| v.to_f32()).collect();
            let r = binary(par, kind, &xf, ashape, &yf, bshape, out_shape);
            CpuStorage::F16(r.into_iter().map(f16::from_f32).collect())
        }
        (CpuStorage::BF16(x), CpuStorage::BF16(y)) => {
            let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
            let yf: Vec<f32> = y.iter().map(|v| v.to_f32()).collect();
            let r = binary(par, kind, &xf, ashape, &yf, bshape, out_shape);
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
pub fn binary_inplace(par: Parallelism, kind: BinaryKind, a: &mut CpuStorage, b: &CpuStorage, reverse: bool) -> bool {
    if !matches!(kind, BinaryKind::Add | BinaryKind::Sub | BinaryKind::Mul | BinaryKind::Div)
        || (b.len() != 1 && b.len() != a.len())
    {
        return false;
    }
    match (a, b) {
        (CpuStorage::F32(x), CpuStorage::F32(y)) => apply_inplace(par, kind, x, y, reverse),
        (CpuStorage::F64(x), CpuStorage::F64(y)) => apply_inplace(par, kind, x, y, reverse),
        (CpuStorage::U8(x), CpuStorage::U8(y)) => apply_inplace(par, kind, x, y, reverse),
        (CpuStorage::I8(x), CpuStorage::I8(y)) => apply_inplace(par, kind, x, y, reverse),
        (CpuStorage::I32(x), CpuStorage::I32(y)) => apply_inplace(par, kind, x, y, reverse),
        (CpuStorage::I64(x), CpuStorage::I64(y)) => apply_inplace(par, kind, x, y, reverse),
        _ => return false,
    }
    true
}

fn apply_inplace<T: Arith>(par: Parallelism, kind: BinaryKind, a: &mut [T], b: &[T], reverse: bool) {
    match (kind, reverse) {
        (BinaryKind::Add, _) => zip_inplace(par, a, b, |x, y| x.add(y)),
        (BinaryKind::Mul, _) => zip_inplace(par, a, b, |x, y| x.mul(y)),
        (BinaryKind::Sub, false) => zip_inplace(par, a, b, |x, y| x.sub(y)),
        (BinaryKind::Sub, true) => zip_inplace(par, a, b, |x, y| y.sub(x)),
        (BinaryKind::Div, false) => zip_inplace(par, a, b, |x, y| x.div(y)),
        (BinaryKind::Div, true) => zip_inplace(par, a, b, |x, y| y.div(x)),
        _ => unreachable!("binary_inplace checked the op"),
    }
}

/// `a[i] = f(a[i], b[i])`, or `f(a[i], b[0])` when `b` has one element.
fn zip_inplace<T: Copy + Send + Sync, F: Fn(T, T) -> T + Sync + Send>(par: Parallelism, a: &mut [T], b: &[T], f: F) {
    if b.len() == 1 {
        let y = b[0];
        update_map(a, |n| par.split_cheap_mode(n), move |x| f(x, y));
    } else {
        chunks_mut(par.split_cheap_mode(a.len()), a, |s, c| update_zip_chunk(c, &b[s..s + c.len()], &f));
    }
}

simd_fn! {
    /// `a[i] = f(a[i], b[i])` over one chunk.
    fn update_zip_chunk[T: Copy, F: Fn(T, T) -> T](a: &mut [T], b: &[T], f: &F) {
        for (x, &y) in a.iter_mut().zip(b) {
            *x = f(*x, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every op over every broadcast form, in float32 and int32, equals the op's definition
    /// value by value: equal shapes, a scalar on either side, rows against a row vector or a
    /// column (strides 1 and 0 within a row), both operands broadcast, and an inner axis
    /// broadcast (the general walk); NaN operands included for the floats. `x ** 2` is
    /// computed as `x * x`: it must equal `powf` exactly.
    #[test]
    fn every_op_and_broadcast_form_matches_the_definition() {
        use BinaryKind::*;
        let kinds = BinaryKind::ALL;
        let forms: [(&[usize], &[usize], &[usize]); 8] = [
            (&[3, 37], &[3, 37], &[3, 37]),
            (&[3, 37], &[1], &[3, 37]),
            (&[1], &[3, 37], &[3, 37]),
            (&[5, 37], &[1, 37], &[5, 37]),
            (&[5, 37], &[5, 1], &[5, 37]),
            (&[5, 1], &[1, 37], &[5, 37]),
            (&[4, 3, 6], &[4, 1, 6], &[4, 3, 6]),
            (&[4, 3, 6], &[1, 3, 1], &[4, 3, 6]),
        ];
        // The definition in float32, as the kernel computes (hypot through float64).
        fn def(kind: BinaryKind, x: f32, y: f32) -> f32 {
            let t = |b: bool| if b { 1.0 } else { 0.0 };
            match kind {
                Add => x + y,
                Sub => x - y,
                Mul => x * y,
                Div => x / y,
                Mod => x.modulo(y),
                Power => x.powf(y),
                Maximum => {
                    if x >= y || x.is_nan() {
                        x
                    } else {
                        y
                    }
                }
                Minimum => {
                    if x <= y || x.is_nan() {
                        x
                    } else {
                        y
                    }
                }
                Equal => t(x == y),
                NotEqual => t(x != y),
                Greater => t(x > y),
                GreaterEqual => t(x >= y),
                Lesser => t(x < y),
                LesserEqual => t(x <= y),
                LogicalAnd => t(x != 0.0 && y != 0.0),
                LogicalOr => t(x != 0.0 || y != 0.0),
                LogicalXor => t((x != 0.0) != (y != 0.0)),
                Hypot => (x as f64).hypot(y as f64) as f32,
            }
        }
        let value = |i: usize, salt: usize| -> f32 {
            match (i * 31 + salt) % 23 {
                0 => f32::NAN,
                1 => 0.0,
                2 => 2.0,
                k => k as f32 / 4.0 - 2.5,
            }
        };
        for kind in kinds {
            for (ashape, bshape, oshape) in forms {
                let (na, nb): (usize, usize) = (ashape.iter().product(), bshape.iter().product());
                let a: Vec<f32> = (0..na).map(|i| value(i, 0)).collect();
                let b: Vec<f32> = (0..nb).map(|i| value(i, 7)).collect();
                let got = binary(Parallelism::SERIAL, kind, &a, ashape, &b, bshape, oshape);
                let ai: Vec<i32> = (0..na).map(|i| (i as i32 * 7) % 11 - 5).collect();
                let bi: Vec<i32> = (0..nb).map(|i| (i as i32 * 5) % 7 - 3).collect();
                let got_i = binary(Parallelism::SERIAL, kind, &ai, ashape, &bi, bshape, oshape);
                let sa = crate::backend::cpu::gather::broadcast_strides(ashape, oshape);
                let sb = crate::backend::cpu::gather::broadcast_strides(bshape, oshape);
                let n: usize = oshape.iter().product();
                for o in 0..n {
                    let (mut ia, mut ib, mut rem) = (0isize, 0isize, o);
                    for ax in (0..oshape.len()).rev() {
                        let i = (rem % oshape[ax]) as isize;
                        rem /= oshape[ax];
                        ia += i * sa[ax];
                        ib += i * sb[ax];
                    }
                    let (x, y) = (a[ia as usize], b[ib as usize]);
                    let want = def(kind, x, y);
                    let g = got[o];
                    assert!(
                        g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                        "{kind:?} {ashape:?} {bshape:?} at {o}: f({x}, {y}) = {g}, want {want}"
                    );
                    if kind != Hypot {
                        let (xi, yi) = (ai[ia as usize], bi[ib as usize]);
                        let want_i = binary(Parallelism::SERIAL, kind, &[xi], &[1], &[yi], &[1], &[1])[0];
                        assert_eq!(got_i[o], want_i, "{kind:?} {ashape:?} {bshape:?} int32 at {o}: f({xi}, {yi})");
                    }
                }
            }
        }
    }

    #[test]
    fn broadcast_add() {
        let a = [1.0f32, 2.0, 3.0];
        let b = [10.0f32, 20.0];
        let r = binary(Parallelism::SERIAL, BinaryKind::Add, &a, &[1, 3], &b, &[2, 1], &[2, 3]);
        assert_eq!(r, vec![11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    }
}
