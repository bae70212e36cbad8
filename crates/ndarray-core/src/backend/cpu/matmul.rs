//! Matrix products through the `gemm` crate (runtime CPU dispatch, AVX-512 included), with a
//! plain loop for integer dtypes; large float32 products go to a CBLAS library when there is
//! one ([`blas`]).

use half::f16;

use super::Parallelism;
use super::blas::{self, Op};
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

/// Products with fewer multiply-adds than this stay on the gemm crate; `MXRS_BLAS_MIN_MACS`
/// overrides it (read once). On a 2-vCPU Xeon with AVX-512, OpenBLAS for every product made an
/// MLP's training step 1.3x faster but LeNet's 1.8x slower (its threads spin after each call
/// and take the cores from the rayon convolution kernels), so the default stays high.
const EXTERNAL_MIN_MACS: usize = 512 * 512 * 512;

fn external_min_macs() -> usize {
    static MIN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MIN.get_or_init(|| {
        std::env::var("MXRS_BLAS_MIN_MACS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(EXTERNAL_MIN_MACS)
    })
}

/// (how CBLAS reads an operand, its leading dimension), if CBLAS can read it directly.
fn cblas_operand(x: MatRef) -> Option<(Op, usize)> {
    if x.cs == 1 && x.rs >= 1 {
        Some((Op::NoTrans, x.rs as usize))
    } else if x.rs == 1 && x.cs >= 1 {
        Some((Op::Trans, x.cs as usize))
    } else {
        None
    }
}

/// Try the external sgemm ([`blas`]) for `dst = lhs * rhs`; false when there is none or it is
/// unsuitable.
#[allow(clippy::too_many_arguments)]
fn external_sgemm(
    par: Parallelism,
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
    // Only large products: OpenBLAS's own threads spin after each call and then fight the
    // engine workers and rayon for the cores; for layer-sized products (an MLP's or LeNet's,
    // up to ~10^8 multiply-adds) the gemm crate on rayon was faster in a training step.
    if m * n * k < external_min_macs() || m == 0 || n == 0 || k == 0 {
        return false;
    }
    let Some(blas) = blas::get() else { return false };
    let (Some((ta, lda)), Some((tb, ldb))) = (cblas_operand(l), cblas_operand(r)) else { return false };
    // OpenBLAS splits the product over its own threads.
    par.notify_split();
    // Bounds were checked by the caller (`span` asserts) for every element addressed.
    // SAFETY: the operands address only elements inside `a` and `b` (checked by the caller),
    // and `d` has room for m*n row-major elements from `dst_off` with leading dimension n.
    unsafe {
        blas.sgemm(
            ta,
            tb,
            m,
            n,
            k,
            a.as_ptr().add(l.offset),
            lda,
            b.as_ptr().add(r.offset),
            ldb,
            d.as_mut_ptr().add(dst_off),
            n,
        )
    }
}

/// How many blocks to split a product into: one per thread of the budget for products big
/// enough to pay for the hand-off.
fn num_blocks(par: Parallelism, m: usize, n: usize, k: usize) -> usize {
    let threads = if m * n * k >= 64 * 64 * 64 { par.available() } else { 1 };
    if threads > 1 { threads.min(m.max(n).div_ceil(BLOCK_ALIGN)) } else { 1 }
}

/// Blocks of a split product start at multiples of this many rows (or columns).
const BLOCK_ALIGN: usize = 16;

/// A raw pointer that may cross to a rayon thread (each block writes its own part of `dst`).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: only used by `gemm_blocks`, whose blocks write disjoint parts of the destination and
// only read the operands, all of which outlive the parallel section.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

/// `dst (m x n, row stride n) = lhs (m x k) * rhs (k x n)` through the gemm crate, split into
/// row blocks (or column blocks, whichever dimension is larger) that rayon's threads compute
/// side by side, each with a serial gemm. Splitting once per product beat the crate's own
/// parallel mode, which synchronises its threads once per depth block: a 128x784 by 784x128
/// product took 250 µs against 290-370 µs on 2 threads.
///
/// # Safety
/// `dst` must be valid for writes of `m * n` row-major elements, and `lhs`/`rhs` valid for
/// reads of every element `l`/`r` address for these sizes (offsets already applied).
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_blocks<T: 'static + Copy + Send + Sync>(
    par: Parallelism,
    dst: *mut T,
    lhs: *const T,
    l: MatRef,
    rhs: *const T,
    r: MatRef,
    m: usize,
    n: usize,
    k: usize,
    zero: T,
    one: T,
) {
    let blocks = num_blocks(par, m, n, k);
    let run = |d: SendPtr<T>, a: SendPtr<T>, b: SendPtr<T>, rows: usize, cols: usize| {
        // SAFETY: the caller's contract, restricted to this block.
        unsafe {
            gemm::gemm(
                rows,
                cols,
                k,
                d.0,
                1,
                n as isize,
                false,
                a.0 as *const T,
                l.cs,
                l.rs,
                b.0 as *const T,
                r.cs,
                r.rs,
                zero,
                one,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    };
    let (d, a, b) = (SendPtr(dst), SendPtr(lhs as *mut T), SendPtr(rhs as *mut T));
    if blocks <= 1 {
        return run(d, a, b, m, n);
    }
    let along_rows = m >= n;
    let len = if along_rows { m } else { n };
    let step = len.div_ceil(blocks).div_ceil(BLOCK_ALIGN) * BLOCK_ALIGN;
    use rayon::prelude::*;
    par.notify_split();
    (0..len.div_ceil(step)).into_par_iter().for_each(|i| {
        // Whole wrappers, not their raw-pointer fields, are captured.
        let (d, a, b) = (&d, &a, &b);
        let start = i * step;
        let size = step.min(len - start);
        // SAFETY: block `i` covers rows (or columns) start..start+size of dst and the matching
        // rows of lhs (or columns of rhs), all inside the caller's ranges; blocks are disjoint.
        unsafe {
            if along_rows {
                let d = SendPtr(d.0.add(start * n));
                let a = SendPtr(a.0.offset(start as isize * l.rs));
                run(d, a, *b, size, n)
            } else {
                let d = SendPtr(d.0.add(start));
                let b = SendPtr(b.0.offset(start as isize * r.cs));
                run(d, *a, b, m, size)
            }
        }
    });
}

/// `dst[m x n] (row-major, at dst_off) = lhs[m x k] * rhs[k x n]`, split over the threads of
/// `par` when large.
#[allow(clippy::too_many_arguments)]
pub fn matmul_into(
    par: Parallelism,
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
                gemm_blocks(
                    par,
                    $d.as_mut_ptr().add(dst_off),
                    $a.as_ptr().add(l.offset),
                    MatRef { offset: 0, ..l },
                    $b.as_ptr().add(r.offset),
                    MatRef { offset: 0, ..r },
                    m,
                    n,
                    k,
                    $zero,
                    $one,
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
            if !(in_bounds && external_sgemm(par, d, dst_off, a, l, b, r, m, n, k)) {
                fast!(d, a, b, 0f32, 1f32)
            }
        }
        (CpuStorage::F64(d), CpuStorage::F64(a), CpuStorage::F64(b)) => fast!(d, a, b, 0f64, 1f64),
        (CpuStorage::F16(d), CpuStorage::F16(a), CpuStorage::F16(b)) => fast!(d, a, b, f16::ZERO, f16::ONE),
        (d, a, b) => crate::dispatch!(storage d => dv: T, {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain triple loop, in float64.
    fn naive(a: &[f32], l: MatRef, b: &[f32], r: MatRef, m: usize, n: usize, k: usize) -> Vec<f64> {
        let at = |x: &[f32], q: MatRef, i: usize, j: usize| {
            x[(q.offset as isize + i as isize * q.rs + j as isize * q.cs) as usize] as f64
        };
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| at(a, l, i, p) * at(b, r, p, j)).sum();
            }
        }
        out
    }

    #[test]
    fn split_products_match_the_naive_loop() {
        // Row splits (m >= n), column splits (n > m), transposed operands, offsets, sizes that
        // are not multiples of the block alignment, and a product too small to split.
        let cases = [
            (130, 70, 90, false, true),
            (40, 301, 77, true, false),
            (129, 129, 64, true, true),
            (3, 5, 7, false, false),
        ];
        for (m, n, k, ta, tb) in cases {
            let a: Vec<f32> = (0..m * k + 5).map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.5).collect();
            let b: Vec<f32> = (0..k * n + 3).map(|i| ((i * 104_729) % 19) as f32 / 19.0 - 0.5).collect();
            let l = MatRef::row_major(5, if ta { m } else { k }, ta);
            let r = MatRef::row_major(3, if tb { k } else { n }, tb);
            let want = naive(&a, l, &b, r, m, n, k);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
            let mut dst = CpuStorage::F32(vec![f32::NAN; m * n + 2].into());
            pool.install(|| {
                matmul_into(
                    Parallelism::whole_pool(),
                    &mut dst,
                    2,
                    &CpuStorage::F32(a.clone().into()),
                    l,
                    &CpuStorage::F32(b.clone().into()),
                    r,
                    m,
                    n,
                    k,
                )
            });
            let CpuStorage::F32(d) = dst else { unreachable!() };
            assert!(d[..2].iter().all(|v| v.is_nan()), "nothing written before dst_off");
            for (i, (&g, &w)) in d[2..].iter().zip(&want).enumerate() {
                assert!((g as f64 - w).abs() < 1e-4, "{m}x{n}x{k} ta={ta} tb={tb}: element {i} is {g}, want {w}");
            }
        }
    }
}
