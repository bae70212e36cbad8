//! Unary math functions over a storage, out of place and in place.

use half::f16;

use super::map::{map, map_cheap, update_map};
use super::special::{erf, gamma};
use crate::backend::cpu::{Parallelism, Split};
use crate::dtype::Element;
use crate::storage::{CpuStorage, StorageElement};

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
    /// max(x, 0), NaN kept
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
        // NaN stays NaN, as MXNet's `relu` (its `Activation` relu gives 0).
        Relu => {
            if x > zero || x.is_nan() {
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
fn f32_kernels(kind: UnaryKind) -> Option<(fn(&[f32], &mut [f32], bool), fn(&mut [f32]))> {
    use crate::backend::cpu::vmath::*;
    match kind {
        UnaryKind::Exp => Some((exp_slice, exp_inplace)),
        UnaryKind::Tanh => Some((tanh_slice, tanh_inplace)),
        UnaryKind::Sigmoid => Some((sigmoid_slice, sigmoid_inplace)),
        UnaryKind::Log => Some((log_slice, log_inplace)),
        UnaryKind::Log2 => Some((log2_slice, log2_inplace)),
        UnaryKind::Log10 => Some((log10_slice, log10_inplace)),
        UnaryKind::Log1p => Some((log1p_slice, log1p_inplace)),
        _ => None,
    }
}

/// `$body` with the constant `$k` bound to the function `kind`, one copy of `$body` per
/// function. Loops built from it are compiled, and vectorised, for their function: matching
/// `kind` inside the loop instead kept every function scalar (`relu` on 10^5 float32 took 57 µs,
/// against 10 µs for `Activation`'s relu).
macro_rules! for_kind {
    ($kind:expr, $k:ident => $body:expr) => {
        unary_kinds!(for_kind, @arms $kind, $k, $body)
    };
    (@arms $kind:expr, $k:ident, $body:expr; $($v:ident)*) => {
        match $kind {
            $(UnaryKind::$v => {
                const $k: UnaryKind = UnaryKind::$v;
                $body
            })*
        }
    };
    // Every function, as an array (the tests).
    (@all; $($v:ident)*) => {
        [$(UnaryKind::$v),*]
    };
}

/// Calls `$m!($args; <every UnaryKind variant>)`: the one list of the functions.
macro_rules! unary_kinds {
    ($m:ident, $($args:tt)*) => {
        $m!($($args)*; Exp Log Log2 Log10 Log1p Expm1 Sqrt Rsqrt Cbrt Square Abs Sign Ceil Floor Round
            Rint Trunc Fix Sin Cos Tan Arcsin Arccos Arctan Sinh Cosh Tanh Sigmoid Relu Softsign
            Negative Reciprocal Softrelu LogicalNot Degrees Radians Erf Gamma Gammaln)
    };
}

impl UnaryKind {
    /// Whether the function is a few instructions an element, so that only very long inputs
    /// are split over threads ([`map_cheap`]).
    pub fn is_cheap(self) -> bool {
        use UnaryKind::*;
        matches!(
            self,
            Abs | Square
                | Relu
                | Negative
                | Sign
                | Ceil
                | Floor
                | Round
                | Rint
                | Trunc
                | Fix
                | LogicalNot
                | Degrees
                | Radians
        )
    }
}

/// Unary function over a storage; the output keeps the input dtype.
pub fn unary_storage(par: Parallelism, kind: UnaryKind, s: &CpuStorage) -> CpuStorage {
    match s {
        CpuStorage::F32(v) => CpuStorage::F32(
            match f32_kernels(kind) {
                Some((slice, _)) => crate::backend::cpu::vmath::map_slices(par, v, slice),
                None if kind.is_cheap() => for_kind!(kind, K => map_cheap(par, v, |x| unary_scalar(K, x))),
                None => for_kind!(kind, K => map(par, v, |x| unary_scalar(K, x))),
            }
            .into(),
        ),
        CpuStorage::F64(v) if kind.is_cheap() => {
            CpuStorage::F64(for_kind!(kind, K => map_cheap(par, v, |x| unary_scalar(K, x))).into())
        }
        CpuStorage::F64(v) => CpuStorage::F64(for_kind!(kind, K => map(par, v, |x| unary_scalar(K, x))).into()),
        CpuStorage::F16(v) => {
            CpuStorage::F16(map(par, v, |x: f16| f16::from_f32(unary_scalar(kind, x.to_f32()))).into())
        }
        CpuStorage::BF16(v) => {
            CpuStorage::BF16(map(par, v, |x: half::bf16| half::bf16::from_f32(unary_scalar(kind, x.to_f32()))).into())
        }
        other => crate::dispatch!(storage other => v: T, { T::wrap(map(par, v, |x: T| int_unary::<T>(kind, x))) }),
    }
}

/// `x = f(x)` in place for an elementwise unary op. Returns false, leaving `s` untouched, for
/// half-precision and bool storages (those compute in float32 through a copy anyway).
pub fn unary_inplace(par: Parallelism, kind: UnaryKind, s: &mut CpuStorage) -> bool {
    match s {
        CpuStorage::F32(v) => match f32_kernels(kind) {
            Some((_, inplace)) => crate::backend::cpu::vmath::map_inplace(par, v, inplace),
            None => {
                let split = |n| if kind.is_cheap() { par.split_cheap_mode(n) } else { Split::pool_if(par.split(n)) };
                for_kind!(kind, K => update_map(v, split, |x| unary_scalar(K, x)))
            }
        },
        CpuStorage::F64(v) => {
            let split = |n| if kind.is_cheap() { par.split_cheap_mode(n) } else { Split::pool_if(par.split(n)) };
            for_kind!(kind, K => update_map(v, split, |x| unary_scalar(K, x)))
        }
        CpuStorage::U8(v) => update_map(v, |n| Split::pool_if(par.split(n)), |x| int_unary(kind, x)),
        CpuStorage::I8(v) => update_map(v, |n| Split::pool_if(par.split(n)), |x| int_unary(kind, x)),
        CpuStorage::I32(v) => update_map(v, |n| Split::pool_if(par.split(n)), |x| int_unary(kind, x)),
        CpuStorage::I64(v) => update_map(v, |n| Split::pool_if(par.split(n)), |x| int_unary(kind, x)),
        _ => return false,
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function in both float widths, out of place and in place, serial and split over
    /// threads (`for_kind`'s copy per function), equals `unary_scalar` on each value, NaN
    /// included; the values cover both signs, halves, zeros, the specials and a length past
    /// the threshold for splitting.
    #[test]
    fn every_function_matches_the_scalar_definition() {
        use UnaryKind::*;
        let kinds = unary_kinds!(for_kind, @all);
        let specials = [0.0, -0.0, 0.5, -0.5, 1.5, -2.5, 2.5, 1e-40, f64::INFINITY, f64::NEG_INFINITY, f64::NAN];
        let n = crate::backend::cpu::PAR_THRESHOLD + 37;
        let vals: Vec<f64> = (0..n)
            .map(|i| if i < specials.len() { specials[i] } else { ((i * 7919) % 2000) as f64 / 97.0 - 10.0 })
            .collect();
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        let par = crate::backend::cpu::Parallelism { threads: 2, ..crate::backend::cpu::Parallelism::SERIAL };
        for kind in kinds {
            for p in [crate::backend::cpu::Parallelism::SERIAL, par] {
                let x32: Vec<f32> = vals.iter().map(|&v| v as f32).collect();
                let CpuStorage::F32(got) = unary_storage(p, kind, &CpuStorage::F32(x32.clone().into())) else {
                    panic!("dtype")
                };
                let mut inplace = CpuStorage::F32(x32.clone().into());
                assert!(unary_inplace(p, kind, &mut inplace));
                let CpuStorage::F32(inplace) = inplace else { panic!("dtype") };
                for (i, &x) in x32.iter().enumerate() {
                    let want = unary_scalar(kind, x);
                    // exp, tanh, sigmoid and the logarithms have their own vectorised kernels
                    // (vmath.rs, tested there to a few ulp); the rest must be exactly the scalar
                    // function.
                    let close = |g: f32| {
                        if matches!(kind, Exp | Tanh | Sigmoid | Log | Log2 | Log10 | Log1p) {
                            same(g as f64, want as f64) || (g - want).abs() <= 4e-7 * want.abs().max(1e-30)
                        } else {
                            same(g as f64, want as f64)
                        }
                    };
                    assert!(close(got[i]), "{kind:?}({x}) = {}, want {want}", got[i]);
                    assert!(close(inplace[i]), "{kind:?}({x}) in place = {}, want {want}", inplace[i]);
                }
                let CpuStorage::F64(got) = unary_storage(p, kind, &CpuStorage::F64(vals.clone().into())) else {
                    panic!("dtype")
                };
                let mut inplace = CpuStorage::F64(vals.clone().into());
                assert!(unary_inplace(p, kind, &mut inplace));
                let CpuStorage::F64(inplace) = inplace else { panic!("dtype") };
                for (i, &x) in vals.iter().enumerate() {
                    let want = unary_scalar(kind, x);
                    assert!(same(got[i], want), "{kind:?}({x}) = {}, want {want} (f64)", got[i]);
                    assert!(same(inplace[i], want), "{kind:?}({x}) in place = {}, want {want} (f64)", inplace[i]);
                }
            }
        }
    }
}
