//! Arithmetic every element type supports, with MXNet's integer semantics (wrapping, division
//! by zero gives 0) and half-precision types computing through float32.

use half::f16;

use crate::dtype::{Bool8, Element};
use crate::storage::StorageElement;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_semantics() {
        assert_eq!(7i32.div(2), 3);
        assert_eq!((-7i32).div(2), -3);
        assert_eq!(5i32.div(0), 0);
        assert_eq!((-7i32).modulo(3), 2);
        assert_eq!(7i32.modulo(-3), -2);
        assert_eq!((-7.0f32).modulo(3.0), 2.0);
    }
}
