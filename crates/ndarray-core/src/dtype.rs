//! Element types of NDArray and their MXNet type flags.

use std::fmt;

use half::{bf16, f16};

/// A type flag or name that names no [`DType`]. It converts into [`crate::Error`] (a plain
/// message error with the same text), so `?` works in functions returning the crate's `Result`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnknownDType {
    /// An MXNet type flag with no dtype.
    #[error("unsupported dtype flag {0}")]
    Flag(i32),
    /// A dtype name NumPy would not give.
    #[error("unknown dtype '{0}'")]
    Name(String),
}

/// The element type of an array. Discriminants are MXNet's on-disk type flags (mshadow).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum DType {
    /// 32-bit IEEE float, the default.
    F32 = 0,
    /// 64-bit IEEE float.
    F64 = 1,
    /// 16-bit IEEE float.
    F16 = 2,
    /// Unsigned 8-bit integer.
    U8 = 3,
    /// Signed 32-bit integer.
    I32 = 4,
    /// Signed 8-bit integer.
    I8 = 5,
    /// Signed 64-bit integer.
    I64 = 6,
    /// Boolean stored as one byte (0 or 1).
    Bool = 7,
    /// bfloat16: the upper 16 bits of a float32.
    BF16 = 12,
}

impl DType {
    /// Every dtype, in flag order.
    pub const ALL: [DType; 9] =
        [DType::F32, DType::F64, DType::F16, DType::U8, DType::I32, DType::I8, DType::I64, DType::Bool, DType::BF16];

    /// MXNet's type flag (as stored in `.params` files).
    pub fn flag(self) -> i32 {
        self as i32
    }

    /// The dtype for an MXNet type flag.
    pub fn from_flag(flag: i32) -> Result<DType, UnknownDType> {
        DType::ALL.into_iter().find(|d| d.flag() == flag).ok_or(UnknownDType::Flag(flag))
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::U8 | DType::I8 | DType::Bool => 1,
        }
    }

    /// NumPy's name for the dtype (`float32`, `int64`, `bool`...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I8 => "int8",
            DType::I64 => "int64",
            DType::Bool => "bool",
            DType::BF16 => "bfloat16",
        }
    }

    /// Parse a NumPy dtype name.
    pub fn from_name(name: &str) -> Result<DType, UnknownDType> {
        Ok(match name {
            "float32" | "float" | "f4" | "<f4" => DType::F32,
            "float64" | "double" | "f8" | "<f8" => DType::F64,
            "float16" | "half" | "f2" | "<f2" => DType::F16,
            "uint8" | "u1" | "|u1" => DType::U8,
            "int32" | "i4" | "<i4" => DType::I32,
            "int8" | "i1" | "|i1" => DType::I8,
            "int64" | "i8" | "<i8" => DType::I64,
            "bool" | "bool_" | "|b1" => DType::Bool,
            "bfloat16" | "bf16" => DType::BF16,
            other => return Err(UnknownDType::Name(other.to_string())),
        })
    }

    /// True for the floating-point dtypes.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can be an NDArray element.
pub trait Element:
    Copy + Send + Sync + PartialOrd + PartialEq + Default + fmt::Debug + bytemuck::Pod + 'static
{
    /// The matching dtype.
    const DTYPE: DType;
    /// Convert from f64 (saturating for integers, as `as` does).
    fn from_f64(v: f64) -> Self;
    /// Convert to f64.
    fn to_f64(self) -> f64;
    /// Zero.
    fn zero() -> Self;
    /// One.
    fn one() -> Self;
}

macro_rules! impl_element {
    ($t:ty, $d:expr, $via:ty) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            /// Floats convert natively; integers wrap like C's casts through a wide integer
            /// (`300.0 -> uint8` gives 44, as MXNet does on x86).
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $via as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn zero() -> Self {
                0 as $t
            }
            #[inline(always)]
            fn one() -> Self {
                1 as $t
            }
        }
    };
}
impl_element!(f32, DType::F32, f32);
impl_element!(f64, DType::F64, f64);
impl_element!(u8, DType::U8, i64);
impl_element!(i8, DType::I8, i64);
impl_element!(i32, DType::I32, i64);
impl_element!(i64, DType::I64, i64);

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f16::to_f64(self)
    }
    fn zero() -> Self {
        f16::ZERO
    }
    fn one() -> Self {
        f16::ONE
    }
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        bf16::to_f64(self)
    }
    fn zero() -> Self {
        bf16::ZERO
    }
    fn one() -> Self {
        bf16::ONE
    }
}

/// A boolean element: one byte holding 0 or 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Bool8(pub u8);

// SAFETY: `Bool8` is `repr(transparent)` over `u8`, so it has no padding and every bit pattern
// is a valid value (non-zero bytes read as true).
unsafe impl bytemuck::Zeroable for Bool8 {}
// SAFETY: see above; `u8` is `Pod`.
unsafe impl bytemuck::Pod for Bool8 {}

impl Element for Bool8 {
    const DTYPE: DType = DType::Bool;
    fn from_f64(v: f64) -> Self {
        Bool8((v != 0.0) as u8)
    }
    fn to_f64(self) -> f64 {
        (self.0 != 0) as u8 as f64
    }
    fn zero() -> Self {
        Bool8(0)
    }
    fn one() -> Self {
        Bool8(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_flag(d.flag()).unwrap(), d);
            assert_eq!(DType::from_name(d.name()).unwrap(), d);
        }
        assert_eq!(DType::from_flag(12).unwrap(), DType::BF16);
        assert_eq!(DType::from_flag(9), Err(UnknownDType::Flag(9)));
        assert_eq!(DType::from_name("float128"), Err(UnknownDType::Name("float128".into())));
    }
}
