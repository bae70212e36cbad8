//! The element types' fast paths: float32's AVX-512 products, external BLAS and Winograd
//! convolutions; float64 has none.

use super::super::Parallelism;
use super::super::blas::{self, Op};
use super::super::matmul::{RmGemm, own_sgemm_rm};
use super::geom::{ConvFloat, ConvGeom, Segment};
use super::taps;
use super::winograd;

impl ConvFloat for f32 {
    fn has_blas() -> bool {
        blas::get().is_some()
    }
    fn own_gemm(threads: usize, g: &mut RmGemm<'_, f32>) -> bool {
        own_sgemm_rm(threads, g)
    }
    fn fast_forward(par: Parallelism, x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Option<Vec<f32>> {
        winograd::forward(par, x, w, bias, g)
    }
    fn fast_backward_data(par: Parallelism, dy: &[f32], w: &[f32], g: &ConvGeom) -> Option<Vec<f32>> {
        winograd::backward_data(par, dy, w, g)
    }
    fn fast_backward_weight(par: Parallelism, dy: &[f32], x: &[f32], g: &ConvGeom) -> Option<Vec<f32>> {
        winograd::backward_weight(par, dy, x, g)
    }
    #[cfg(target_arch = "x86_64")]
    fn gathers() -> bool {
        taps::avx512::available()
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn gather_row(plane: &[f32], idx: &[i32], dst: &mut [f32]) {
        if taps::avx512::available() {
            // SAFETY: AVX-512 is available; the rest is the caller's contract.
            return unsafe { taps::avx512::gather_row(plane, idx, dst) };
        }
        super::geom::gather_row_scalar(plane, idx, dst)
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn scatter_add_row(src: &[f32], idx: &[i32], plane: &mut [f32]) {
        if taps::avx512::available() {
            // SAFETY: AVX-512 is available; the rest is the caller's contract.
            return unsafe { taps::avx512::scatter_add_row(src, idx, plane) };
        }
        super::geom::scatter_add_row_scalar(src, idx, plane)
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn copy_segments(plane: &[f32], segs: &[Segment], ow: usize, dst: &mut [f32]) {
        if taps::avx512::available() {
            // SAFETY: AVX-512 is available; the rest is the caller's contract.
            return unsafe { taps::avx512::copy_segments(plane, segs, ow, dst) };
        }
        super::geom::copy_segments_scalar(plane, segs, ow, dst)
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn add_segments(src: &[f32], segs: &[Segment], ow: usize, plane: &mut [f32]) {
        if taps::avx512::available() {
            // SAFETY: AVX-512 is available; the rest is the caller's contract.
            return unsafe { taps::avx512::add_segments(src, segs, ow, plane) };
        }
        super::geom::add_segments_scalar(src, segs, ow, plane)
    }
    fn blas_gemm(g: &mut RmGemm<'_, f32>) -> bool {
        let RmGemm { m, n, k, ta, tb, acc, .. } = *g;
        let (dst, a, b) = (&mut *g.dst, g.a, g.b);
        let Some(lib) = blas::get() else { return false };
        assert!(a.len() >= m * k && b.len() >= k * n && dst.len() >= m * n, "blas_gemm: operand too short");
        let op = |t| if t { Op::Trans } else { Op::NoTrans };
        let (lda, ldb) = (if ta { m } else { k }, if tb { k } else { n });
        let beta = if acc { 1.0 } else { 0.0 };
        // SAFETY: the assert checks that `a` holds the m*k elements and `b` the k*n elements the
        // leading dimensions address, and that `dst` (exclusively borrowed, so not overlapping
        // them) has room for the m*n row-major result.
        unsafe {
            lib.sgemm_beta(
                op(ta),
                op(tb),
                m,
                n,
                k,
                a.as_ptr(),
                lda.max(1),
                b.as_ptr(),
                ldb.max(1),
                beta,
                dst.as_mut_ptr(),
                n.max(1),
            )
        }
    }
}
impl ConvFloat for f64 {}
