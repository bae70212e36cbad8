//! Matrix products through the `gemm` crate (runtime CPU dispatch, AVX-512 included), with a
//! plain loop for integer dtypes.

use std::sync::OnceLock;

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

/// `cblas_sgemm` of an ILP64 OpenBLAS (64-bit sizes; the enums stay C `int`s), as OpenBLAS
/// builds with the `64_` symbol suffix export it.
pub type Sgemm64 = unsafe extern "C" fn(
    order: i32,
    trans_a: i32,
    trans_b: i32,
    m: i64,
    n: i64,
    k: i64,
    alpha: f32,
    a: *const f32,
    lda: i64,
    b: *const f32,
    ldb: i64,
    beta: f32,
    c: *mut f32,
    ldc: i64,
) -> ();

static EXTERNAL_SGEMM: OnceLock<Sgemm64> = OnceLock::new();

/// Products with fewer multiply-adds than this stay on the gemm crate.
const EXTERNAL_MIN_MACS: usize = 512 * 512 * 512;

/// Use an external `cblas_sgemm` (the OpenBLAS that NumPy already loaded, found by the Python
/// layer) for large float32 products; the `gemm` crate stays the fallback. Returns false if
/// one was set before.
///
/// # Safety
/// `f` must be a function with exactly the [`Sgemm64`] signature and CBLAS semantics, valid for
/// the rest of the process.
pub unsafe fn set_external_sgemm(f: Sgemm64) -> bool {
    EXTERNAL_SGEMM.set(f).is_ok()
}

/// True when an external sgemm is in use.
pub fn has_external_sgemm() -> bool {
    EXTERNAL_SGEMM.get().is_some()
}

const CBLAS_ROW_MAJOR: i32 = 101;
const CBLAS_NO_TRANS: i32 = 111;
const CBLAS_TRANS: i32 = 112;

/// (transpose flag, leading dimension) of an operand, if CBLAS can read it directly.
fn cblas_operand(x: MatRef) -> Option<(i32, i64)> {
    if x.cs == 1 && x.rs >= 1 {
        Some((CBLAS_NO_TRANS, x.rs as i64))
    } else if x.rs == 1 && x.cs >= 1 {
        Some((CBLAS_TRANS, x.cs as i64))
    } else {
        None
    }
}

/// Try the external sgemm for `dst = lhs * rhs`; false when it is unset or unsuitable.
#[allow(clippy::too_many_arguments)]
fn external_sgemm(
    d: &mut [f32],
    dst_off: usize,
    a: &[f32],
    l: MatRef,
    b: &[f32],
    r: MatRef,
    m: usize,
    n: usize,
    k: usize,
) -> bool {
    let Some(f) = EXTERNAL_SGEMM.get() else { return false };
    // Only large products: OpenBLAS's own threads spin after each call and then fight the
    // engine workers and rayon for the cores; for layer-sized products (an MLP's or LeNet's,
    // up to ~10^8 multiply-adds) the gemm crate on rayon was faster in a training step.
    if m * n * k < EXTERNAL_MIN_MACS || m == 0 || n == 0 || k == 0 {
        return false;
    }
    let (Some((ta, lda)), Some((tb, ldb))) = (cblas_operand(l), cblas_operand(r)) else { return false };
    // Bounds were checked by the caller (`span` asserts) for every element addressed.
    // SAFETY: `f` has the CBLAS sgemm contract (set_external_sgemm's precondition); the
    // operands address only elements inside `a` and `b` (checked by the caller), and `d` has
    // room for m*n row-major elements from `dst_off` with leading dimension n.
    unsafe {
        f(
            CBLAS_ROW_MAJOR,
            ta,
            tb,
            m as i64,
            n as i64,
            k as i64,
            1.0,
            a.as_ptr().add(l.offset),
            lda,
            b.as_ptr().add(r.offset),
            ldb,
            0.0,
            d.as_mut_ptr().add(dst_off),
            n as i64,
        )
    };
    true
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
        (CpuStorage::F32(d), CpuStorage::F32(a), CpuStorage::F32(b)) => {
            let span = |x: MatRef, rows: usize, cols: usize| -> usize {
                if rows == 0 || cols == 0 {
                    0
                } else {
                    x.offset + ((rows - 1) as isize * x.rs + (cols - 1) as isize * x.cs) as usize + 1
                }
            };
            let in_bounds = span(l, m, k) <= a.len() && span(r, k, n) <= b.len() && dst_off + m * n <= d.len();
            if !(in_bounds && external_sgemm(d, dst_off, a, l, b, r, m, n, k)) {
                fast!(d, a, b, 0f32, 1f32)
            }
        }
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
