//! Large float32 products through a BLAS loaded with `blas::load` agree with the `gemm` crate.
//!
//! Needs a CBLAS library named by `MXRS_BLAS_LIBRARY` (e.g. the `libscipy_openblas.so` of the
//! PyPI `scipy-openblas32` wheel, or the system's `libopenblas.so.0`); skips without one. This
//! file is its own process, so the library is still unchosen when the test starts.

use mxrs_ndarray_core::backend::cpu::Parallelism;
use mxrs_ndarray_core::backend::cpu::blas::{self, BlasError};
use mxrs_ndarray_core::backend::cpu::matmul::{MatRef, matmul_into};
use mxrs_ndarray_core::storage::CpuStorage;

/// `dst = op(a) * op(b)` for `m x k` by `k x n` operands stored at `offset` (row-major, or
/// transposed) or, when `spread`, with every element two places apart, which CBLAS cannot read
/// and so goes to the `gemm` crate.
fn product(a: &[f32], b: &[f32], (m, n, k): (usize, usize, usize), (ta, tb): (bool, bool), spread: bool) -> Vec<f32> {
    let layout = |x: &[f32], rows: usize, cols: usize, t: bool| -> (CpuStorage, MatRef) {
        let stored_cols = if t { rows } else { cols };
        let plain = MatRef::row_major(3, stored_cols, t);
        if !spread {
            let data: Vec<f32> = [0.0; 3].iter().chain(x).copied().collect();
            return (CpuStorage::F32(data.into()), plain);
        }
        let mut data = vec![f32::NAN; 2 * x.len() + 3];
        for (i, v) in x.iter().enumerate() {
            data[3 + 2 * i] = *v;
        }
        (CpuStorage::F32(data.into()), MatRef { offset: 3, rs: 2 * plain.rs, cs: 2 * plain.cs })
    };
    let (sa, l) = layout(a, m, k, ta);
    let (sb, r) = layout(b, k, n, tb);
    let mut dst = CpuStorage::F32(vec![f32::NAN; m * n].into());
    matmul_into(Parallelism::SERIAL, &mut dst, 0, &sa, l, &sb, r, m, n, k);
    let CpuStorage::F32(d) = dst else { unreachable!() };
    d.into_vec()
}

#[test]
fn loaded_blas_computes_large_products_like_the_gemm_crate() {
    let Some(path) = std::env::var_os("MXRS_BLAS_LIBRARY").filter(|p| !p.is_empty()) else {
        eprintln!("MXRS_BLAS_LIBRARY is not set: skipped");
        return;
    };
    // SAFETY: the variable names a CBLAS library (this test's contract).
    let loaded = unsafe { blas::load(&path) };
    if std::env::var_os("MXRS_BLAS").is_some_and(|v| v == "0") {
        assert!(matches!(loaded, Err(BlasError::Disabled)), "{loaded:?}");
        assert!(blas::get().is_none());
        return;
    }
    let lib = loaded.expect("MXRS_BLAS_LIBRARY loads");
    assert_eq!(lib.path(), std::path::Path::new(&path));
    assert!(std::ptr::eq(blas::get().expect("chosen"), lib));
    // SAFETY: as above.
    let again = unsafe { blas::load(&path) };
    assert!(matches!(again, Err(BlasError::AlreadyChosen(Some(_)))), "{again:?}");

    // 520 * 516 * 512 multiply-adds: just above the size that goes to the BLAS.
    let (m, n, k) = (520, 516, 512);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 19) as f32 / 19.0 - 0.5).collect();
    for t in [(false, false), (true, false), (false, true), (true, true)] {
        let got = product(&a, &b, (m, n, k), t, false);
        let want = product(&a, &b, (m, n, k), t, true);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-3 * (1.0 + w.abs()), "{t:?} element {i}: {g} against {w}");
        }
    }
}
