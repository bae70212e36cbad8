//! Matrix products through the `gemm` crate (runtime CPU dispatch, AVX-512 included), with a
//! plain loop for integer dtypes.

use half::f16;

use crate::dtype::Element;
use crate::storage::CpuStorage;

/// A matrix operand: `rows x cols` read with row stride `rs` and column stride `cs` (elements),
/// starting at element `offset` of its slice.
#[derive(Clone, Copy, Debug)]
pub struct MatRef {
    /// Element offset of (0, 0).
    pub offset: usize,
    /// Row stride.
    pub rs: isize,
    /// Column stride.
    pub cs: isize,
}

impl MatRef {
    /// A row-major `rows x cols` matrix, transposed when `t` (then it reads as `cols x rows`).
    pub fn row_major(offset: usize, cols: usize, t: bool) -> MatRef {
        if t { MatRef { offset, rs: 1, cs: cols as isize } } else { MatRef { offset, rs: cols as isize, cs: 1 } }
    }
}

fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    if m * n * k >= 64 * 64 * 64 && rayon::current_num_threads() > 1 && mxrs_engine::running_ops() <= 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    }
}

/// `dst[m x n] (row-major, at dst_off) = lhs[m x k] * rhs[k x n]`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_into(
    dst: &mut CpuStorage,
    dst_off: usize,
    lhs: &CpuStorage,
    l: MatRef,
    rhs: &CpuStorage,
    r: MatRef,
    m: usize,
    n: usize,
    k: usize,
) {
    macro_rules! fast {
        ($d:expr, $a:expr, $b:expr, $zero:expr, $one:expr) => {{
            if m == 0 || n == 0 {
                return;
            }
            let span = |x: MatRef, rows: usize, cols: usize| -> usize {
                if rows == 0 || cols == 0 {
                    0
                } else {
                    x.offset + ((rows - 1) as isize * x.rs + (cols - 1) as isize * x.cs) as usize + 1
                }
            };
            assert!(span(l, m, k) <= $a.len() && span(r, k, n) <= $b.len() && dst_off + m * n <= $d.len());
            if k == 0 {
                $d[dst_off..dst_off + m * n].fill($zero);
                return;
            }
            // SAFETY: the asserts above check that every element the strided operands address
            // lies inside its slice, and `dst` is exclusively borrowed with room for m*n
            // row-major elements from `dst_off`; gemm reads only lhs/rhs and writes only dst.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    $d.as_mut_ptr().add(dst_off),
                    1,
                    n as isize,
                    false,
                    $a.as_ptr().add(l.offset),
                    l.cs,
                    l.rs,
                    $b.as_ptr().add(r.offset),
                    r.cs,
                    r.rs,
                    $zero,
                    $one,
                    false,
                    false,
                    false,
                    parallelism(m, n, k),
                )
            }
        }};
    }
    match (dst, lhs, rhs) {
        (CpuStorage::F32(d), CpuStorage::F32(a), CpuStorage::F32(b)) => fast!(d, a, b, 0f32, 1f32),
        (CpuStorage::F64(d), CpuStorage::F64(a), CpuStorage::F64(b)) => fast!(d, a, b, 0f64, 1f64),
        (CpuStorage::F16(d), CpuStorage::F16(a), CpuStorage::F16(b)) => fast!(d, a, b, f16::ZERO, f16::ONE),
        (d, a, b) => crate::with_cpu!(d, dv, T, {
            let av = <T as crate::storage::StorageElement>::slice(a).expect("dtype checked by caller");
            let bv = <T as crate::storage::StorageElement>::slice(b).expect("dtype checked by caller");
            for i in 0..m {
                for j in 0..n {
                    let mut acc = 0f64;
                    for p in 0..k {
                        let x = av[(l.offset as isize + i as isize * l.rs + p as isize * l.cs) as usize];
                        let y = bv[(r.offset as isize + p as isize * r.rs + j as isize * r.cs) as usize];
                        acc += x.to_f64() * y.to_f64();
                    }
                    dv[dst_off + i * n + j] = T::from_f64(acc);
                }
            }
        }),
    }
}
