//! Shape arithmetic: sizes, strides, broadcasting, axes and MXNet's reshape codes.

use crate::dtype::DType;
use crate::error::{Error, Result};

/// An array shape. An empty shape is a 0-d (scalar) array of one element.
pub type Shape = Vec<usize>;

/// Number of elements of `shape`, for shapes already known to be valid (those of existing
/// arrays, or checked by [`checked_size`]).
pub fn size_of(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Number of elements of `shape`, a shape error naming `op` when the product overflows.
/// Every shape that comes from user input is measured with this before anything is allocated.
pub fn checked_size(op: &str, shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| {
        Error::shape(op, format!("shape {} has more elements than can be addressed (over 2^64)", fmt_shape(shape)))
    })
}

/// Bytes of an array of `shape` and `dtype`: a shape error naming `op` when the count of
/// elements or of bytes overflows, or exceeds what one allocation may hold (`isize::MAX`).
pub fn checked_bytes(op: &str, shape: &[usize], dtype: DType) -> Result<usize> {
    let n = checked_size(op, shape)?;
    n.checked_mul(dtype.size()).filter(|&b| b <= isize::MAX as usize).ok_or_else(|| {
        Error::shape(
            op,
            format!(
                "an array of shape {} and dtype {dtype} would take {} bytes, more than can be addressed",
                fmt_shape(shape),
                n as u128 * dtype.size() as u128
            ),
        )
    })
}

/// `a * b` for a dimension computed from a user's parameters (`tile`'s reps, `repeat`'s count):
/// a shape error naming `op` when it overflows, where plain arithmetic would wrap silently.
pub fn mul_dim(op: &str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| Error::shape(op, format!("dimension {a} x {b} is more than can be addressed")))
}

/// A dimension given as a signed parameter: a shape error naming `op` when it is negative.
pub fn dim(op: &str, d: i64) -> Result<usize> {
    usize::try_from(d).map_err(|_| Error::shape(op, format!("dimension {d} is negative")))
}

/// A shape from signed dimensions given by a user: a shape error naming `op` for a negative
/// dimension or a shape whose size overflows.
pub fn from_dims(op: &str, dims: &[i64]) -> Result<Shape> {
    let shape = dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                Error::shape(op, format!("negative dimension {d} in shape {dims:?}: dimensions must be non-negative"))
            })
        })
        .collect::<Result<Shape>>()?;
    checked_size(op, &shape)?;
    Ok(shape)
}

/// Row-major strides (in elements) of a contiguous array of `shape`.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Format a shape as MXNet does in messages: `(2,3)`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let inner: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("({})", inner.join(","))
}

/// Whether `shape` completes `partial`, a shape whose 0 dimensions are unknown (MXNet 1.x's
/// symbolic convention): same rank, and equal wherever `partial` is not 0.
pub fn matches_partial(partial: &[usize], shape: &[usize]) -> bool {
    partial.len() == shape.len() && partial.iter().zip(shape).all(|(&p, &s)| p == 0 || p == s)
}

/// The broadcast shape of `a` and `b` under MXNet 1.x rules (NumPy rules: align right, a dim
/// of 1 stretches).
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            return Err(Error::shape(
                op,
                format!("operands could not be broadcast together with shapes {} {}", fmt_shape(a), fmt_shape(b)),
            ));
        };
    }
    Ok(out)
}

/// Normalise a possibly negative axis against `ndim`.
pub fn norm_axis(op: &str, axis: i64, ndim: usize) -> Result<usize> {
    let n = ndim as i64;
    let a = if axis < 0 { axis + n } else { axis };
    if a < 0 || a >= n {
        return Err(Error::param(op, format!("axis {axis} is out of range for an array of {ndim} dimension(s)")));
    }
    Ok(a as usize)
}

/// Apply MXNet's `Reshape` codes (0 copy, -1 infer, -2 copy rest, -3 merge two, -4 split) to
/// `src`, with `reverse` matching codes from the right.
pub fn reshape_codes(op: &str, src: &[usize], spec: &[i64], reverse: bool) -> Result<Shape> {
    let bad = |m: String| Error::shape(op, format!("cannot reshape {} to {:?}: {m}", fmt_shape(src), spec));
    let to_i64 = |d: usize| i64::try_from(d).map_err(|_| bad(format!("dimension {d} is too large")));
    let (src_v, spec_v): (Vec<usize>, Vec<i64>) = if reverse {
        let mut s = src.to_vec();
        s.reverse();
        // -4 takes the two following values; reversing keeps each (-4, a, b) group in its order.
        let mut groups: Vec<Vec<i64>> = Vec::new();
        let mut i = 0;
        while i < spec.len() {
            if spec[i] == -4 && i + 2 < spec.len() {
                groups.push(vec![-4, spec[i + 2], spec[i + 1]]);
                i += 3;
            } else {
                groups.push(vec![spec[i]]);
                i += 1;
            }
        }
        groups.reverse();
        (s, groups.concat())
    } else {
        (src.to_vec(), spec.to_vec())
    };
    let mut out: Vec<i64> = Vec::new();
    let mut si = 0usize;
    let mut infer: Option<usize> = None;
    let mut i = 0usize;
    while i < spec_v.len() {
        let c = spec_v[i];
        match c {
            d if d > 0 => {
                out.push(d);
                si += 1;
            }
            0 => {
                let d = *src_v.get(si).ok_or_else(|| bad("code 0 has no matching input dimension".into()))?;
                out.push(to_i64(d)?);
                si += 1;
            }
            -1 => {
                if infer.is_some() {
                    return Err(bad("more than one -1".into()));
                }
                infer = Some(out.len());
                out.push(-1);
                si += 1;
            }
            -2 => {
                while si < src_v.len() {
                    out.push(to_i64(src_v[si])?);
                    si += 1;
                }
            }
            -3 => {
                if si + 1 >= src_v.len() {
                    return Err(bad("code -3 needs two input dimensions".into()));
                }
                out.push(to_i64(src_v[si].checked_mul(src_v[si + 1]).ok_or_else(|| bad("-3 overflows".into()))?)?);
                si += 2;
            }
            -4 => {
                if i + 2 >= spec_v.len() {
                    return Err(bad("code -4 needs two following values".into()));
                }
                let d = to_i64(*src_v.get(si).ok_or_else(|| bad("code -4 has no input dimension".into()))?)?;
                let (mut a, mut b) = (spec_v[i + 1], spec_v[i + 2]);
                if a == -1 && b > 0 {
                    a = if b != 0 && d % b == 0 { d / b } else { return Err(bad("-4 split does not divide".into())) };
                } else if b == -1 && a > 0 {
                    b = if a != 0 && d % a == 0 { d / a } else { return Err(bad("-4 split does not divide".into())) };
                }
                if a < 0 || b < 0 || a.checked_mul(b) != Some(d) {
                    return Err(bad(format!("-4 split {a}x{b} does not match dimension {d}")));
                }
                out.push(a);
                out.push(b);
                si += 1;
                i += 2;
            }
            _ => return Err(bad(format!("invalid code {c}"))),
        }
        i += 1;
    }
    finish_reshape(op, src, out, infer, reverse, &bad)
}

/// The end of [`reshape_codes`]: the `-1` dimension (at `infer`) from the source's size, the
/// order restored, and the sizes compared, all in checked arithmetic.
fn finish_reshape(
    op: &str,
    src: &[usize],
    mut out: Vec<i64>,
    infer: Option<usize>,
    reverse: bool,
    bad: &dyn Fn(String) -> Error,
) -> Result<Shape> {
    let total = checked_size(op, src)?;
    let total = i64::try_from(total).map_err(|_| bad(format!("dimension {total} is too large")))?;
    if let Some(pos) = infer {
        let known = out
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != pos)
            .try_fold(1i64, |n, (_, &d)| n.checked_mul(d))
            .ok_or_else(|| bad("the target's size overflows".into()))?;
        if known == 0 || total % known != 0 {
            return Err(bad("the -1 dimension cannot be inferred".into()));
        }
        out[pos] = total / known;
    }
    if reverse {
        out.reverse();
    }
    let shape: Shape = out.iter().map(|&d| d as usize).collect();
    let n = checked_size(op, &shape)?;
    if i64::try_from(n).ok() != Some(total) {
        return Err(bad(format!("target has {n} elements, source {total}")));
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast() {
        assert_eq!(broadcast_shapes("t", &[2, 1, 3], &[4, 1]).unwrap(), vec![2, 4, 3]);
        assert!(broadcast_shapes("t", &[2, 3], &[3, 2]).is_err());
        assert_eq!(broadcast_shapes("t", &[], &[3]).unwrap(), vec![3]);
    }

    #[test]
    fn reshape_special_codes() {
        let s = [2, 3, 4];
        assert_eq!(reshape_codes("r", &s, &[4, 0, 2], false).unwrap(), vec![4, 3, 2]);
        assert_eq!(reshape_codes("r", &s, &[6, 1, -1], false).unwrap(), vec![6, 1, 4]);
        assert_eq!(reshape_codes("r", &s, &[-2], false).unwrap(), vec![2, 3, 4]);
        assert_eq!(reshape_codes("r", &s, &[2, -2], false).unwrap(), vec![2, 3, 4]);
        assert_eq!(reshape_codes("r", &s, &[-3, 4], false).unwrap(), vec![6, 4]);
        assert_eq!(reshape_codes("r", &s, &[-4, 1, 2, -2], false).unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(reshape_codes("r", &s, &[2, -4, -1, 3, 4], false).unwrap(), vec![2, 1, 3, 4]);
        assert_eq!(reshape_codes("r", &[10, 5, 4], &[-1, 0], true).unwrap(), vec![50, 4]);
        assert!(reshape_codes("r", &s, &[5, -1], false).is_err());
    }

    #[test]
    fn sizes_that_overflow_are_shape_errors() {
        assert_eq!(checked_size("t", &[2, 3, 4]).unwrap(), 24);
        assert_eq!(checked_size("t", &[]).unwrap(), 1);
        let e = checked_size("zeros", &[1 << 62, 8]).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }) && e.to_string().contains("(4611686018427387904,8)"), "{e}");
        assert_eq!(checked_bytes("t", &[1 << 20], DType::F64).unwrap(), 8 << 20);
        let e = checked_bytes("zeros", &[1 << 61], DType::F64).unwrap_err();
        assert!(e.to_string().contains("18446744073709551616 bytes"), "{e}");
        assert!(checked_bytes("t", &[1 << 63], DType::U8).is_err(), "over isize::MAX");
        assert!(checked_bytes("t", &[1 << 62], DType::U8).is_ok());
        assert_eq!(from_dims("t", &[2, 0, 3]).unwrap(), vec![2, 0, 3]);
        let e = from_dims("zeros", &[-1, 2]).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }) && e.to_string().contains("negative dimension -1"), "{e}");
        assert!(from_dims("t", &[1 << 40, 1 << 40]).is_err());
    }

    #[test]
    fn reshape_codes_never_overflow() {
        let big = 1usize << 62;
        assert!(reshape_codes("r", &[big, 8], &[-3], false).is_err());
        assert!(reshape_codes("r", &[2, 3], &[big as i64, 4, -1], false).is_err());
        assert!(reshape_codes("r", &[6], &[-4, i64::MAX, 2], false).is_err());
        assert!(reshape_codes("r", &[usize::MAX], &[-1], false).is_err());
    }
}
