//! A library named with `blas::prefer` is opened at the first use, not when it is named.
//!
//! Needs a CBLAS library named by `MXRS_BLAS_LIBRARY` (as `tests/blas.rs`); skips without one.
//! This file is its own process with one test, so the library is still unchosen when it starts.

use mxrs_ndarray_core::backend::cpu::blas;

#[test]
fn a_preferred_library_is_opened_at_the_first_use() {
    let Some(path) = std::env::var_os("MXRS_BLAS_LIBRARY").filter(|p| !p.is_empty()) else {
        eprintln!("MXRS_BLAS_LIBRARY is not set: skipped");
        return;
    };
    if std::env::var_os("MXRS_BLAS").is_some_and(|v| v == "0") {
        eprintln!("MXRS_BLAS=0: skipped");
        return;
    }
    // SAFETY: this test binary runs this one test, and no other thread reads the environment.
    unsafe { std::env::remove_var("MXRS_BLAS_LIBRARY") };
    let path = std::path::PathBuf::from(path);
    assert!(blas::prefer(&path), "the first name is taken");
    assert!(!blas::prefer("/nonexistent/libcblas.so"), "a second name is refused");
    let lib = blas::get().expect("the preferred library opens");
    assert_eq!(lib.path(), path.as_path());
}
