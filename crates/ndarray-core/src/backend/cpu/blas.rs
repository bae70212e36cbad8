//! The CBLAS library behind large float32 products, loaded at run time.
//!
//! [`matmul`](super::matmul) hands large float32 products to the `sgemm` of a CBLAS library
//! (OpenBLAS in practice) and computes the others with the `gemm` crate. The library is the
//! first of:
//! 1. the one passed to [`load`] before the first large product;
//! 2. the file named by the `MXRS_BLAS_LIBRARY` environment variable;
//! 3. the file named by [`prefer`] (the Python package names the OpenBLAS of its
//!    `scipy-openblas32` dependency);
//! 4. the system's OpenBLAS: `libopenblas.so.0` on Linux (Debian and Ubuntu: `apt install
//!    libopenblas0`), `libopenblas.0.dylib` on macOS, `libopenblas.dll` on Windows.
//!
//! With none of these, or with `MXRS_BLAS=0`, the `gemm` crate computes every product. The
//! choice is made once per process, at the first large product ([`get`]): opening OpenBLAS
//! starts its thread pool, whose threads spin for a while and would take the cores from a
//! program that never multiplies large matrices. The library's `sgemm` may be named `cblas_sgemm`,
//! `scipy_cblas_sgemm` (the PyPI `scipy-openblas32` wheels), or either with OpenBLAS's `64_`
//! suffix for 64-bit integers (ILP64 builds); an unsuffixed name whose OpenBLAS build reports
//! `USE64BITINT` is taken as ILP64 as well. An OpenBLAS is told at load to run every call on
//! the calling thread ([`Blas::single_threaded`]); mxrs splits products over rayon's threads
//! itself. Another CBLAS splits each product over its own threads.
//!
//! ```no_run
//! use mxrs_ndarray_core::backend::cpu::blas;
//! // SAFETY: the file is a CBLAS library (OpenBLAS).
//! match unsafe { blas::load("/opt/openblas/lib/libopenblas.so") } {
//!     Ok(lib) => println!("large float32 products use {}", lib.path().display()),
//!     Err(e) => println!("staying on the gemm crate: {e}"),
//! }
//! ```

use std::ffi::{CStr, c_char};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libloading::Library;

/// `cblas_sgemm` with 32-bit sizes (LP64 builds).
type SgemmLp64 =
    unsafe extern "C" fn(i32, i32, i32, i32, i32, i32, f32, *const f32, i32, *const f32, i32, f32, *mut f32, i32);

/// `cblas_sgemm` with 64-bit sizes (ILP64 builds); the enums stay C `int`s.
type SgemmIlp64 =
    unsafe extern "C" fn(i32, i32, i32, i64, i64, i64, f32, *const f32, i64, *const f32, i64, f32, *mut f32, i64);

/// OpenBLAS's `openblas_get_config`: its build options as a C string.
type GetConfig = unsafe extern "C" fn() -> *const c_char;

/// OpenBLAS's `openblas_set_num_threads`.
type SetNumThreads = unsafe extern "C" fn(i32);

/// A resolved `sgemm` and the integer width of its sizes.
#[derive(Clone, Copy)]
enum Sgemm {
    Lp64(SgemmLp64),
    Ilp64(SgemmIlp64),
}

/// Name prefixes of the CBLAS symbols: plain, and that of the PyPI `scipy-openblas` wheels.
const PREFIXES: [&str; 2] = ["", "scipy_"];

/// Library names tried when neither [`load`] nor `MXRS_BLAS_LIBRARY` named one.
#[cfg(target_os = "linux")]
const SYSTEM_LIBRARIES: &[&str] = &["libopenblas.so.0"];
#[cfg(target_os = "macos")]
const SYSTEM_LIBRARIES: &[&str] = &["libopenblas.0.dylib"];
#[cfg(windows)]
const SYSTEM_LIBRARIES: &[&str] = &["libopenblas.dll"];
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
const SYSTEM_LIBRARIES: &[&str] = &[];

const CBLAS_ROW_MAJOR: i32 = 101;

/// How `sgemm` reads a row-major operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// As stored.
    NoTrans,
    /// Transposed.
    Trans,
}

impl Op {
    fn cblas(self) -> i32 {
        match self {
            Op::NoTrans => 111,
            Op::Trans => 112,
        }
    }
}

/// Why a BLAS library was not taken.
#[derive(Debug, thiserror::Error)]
pub enum BlasError {
    /// `MXRS_BLAS=0` is set.
    #[error("MXRS_BLAS=0 keeps the pure-Rust gemm path")]
    Disabled,
    /// The library could not be opened.
    #[error("cannot load {path}: {source}")]
    Open {
        /// The library asked for.
        path: PathBuf,
        /// The loader's error.
        source: libloading::Error,
    },
    /// The library exports no known `sgemm` symbol.
    #[error("{0} exports no cblas_sgemm, scipy_cblas_sgemm or their 64_ forms")]
    NoSgemm(PathBuf),
    /// A library was chosen before (by an earlier [`load`] or a large product).
    #[error("the BLAS was already chosen ({})", .0.as_ref().map_or("none".into(), |p| p.display().to_string()))]
    AlreadyChosen(Option<PathBuf>),
}

/// An opened CBLAS library and its `sgemm`.
pub struct Blas {
    sgemm: Sgemm,
    symbol: String,
    path: PathBuf,
    /// The library was told to run every call on the caller's thread (OpenBLAS).
    single_threaded: bool,
    /// Keeps the library mapped while `sgemm` may be called.
    _lib: Library,
}

impl std::fmt::Debug for Blas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blas").field("path", &self.path).field("symbol", &self.symbol).finish()
    }
}

/// The library in use; `None` inside once the `gemm` crate was chosen.
static BLAS: OnceLock<Option<Blas>> = OnceLock::new();

/// The library named by [`prefer`], opened by the first [`get`].
static PREFERRED: OnceLock<PathBuf> = OnceLock::new();

/// Name the CBLAS library to open at the first large product, after `MXRS_BLAS_LIBRARY` and
/// before the system's OpenBLAS; nothing is opened now. Returns false (and changes nothing)
/// when a library was named before. If the file does not open, the next candidate is used.
///
/// The file must be a CBLAS library whose exported names follow the conventions in the module
/// docs (it is opened as [`load`] opens it).
pub fn prefer(path: impl Into<PathBuf>) -> bool {
    PREFERRED.set(path.into()).is_ok()
}

/// True when `MXRS_BLAS=0` keeps every product on the `gemm` crate.
fn disabled() -> bool {
    std::env::var_os("MXRS_BLAS").is_some_and(|v| v == "0")
}

/// Use the CBLAS library at `path` for large float32 products. It must come before the first
/// large product, which otherwise chooses the library as the [module docs](self) say.
///
/// # Safety
/// Loading runs the library's initialisers, and its `sgemm` symbol is called with the CBLAS
/// signature: `path` must be a CBLAS library whose exported names follow the conventions in the
/// module docs.
pub unsafe fn load(path: impl AsRef<Path>) -> Result<&'static Blas, BlasError> {
    if disabled() {
        return Err(BlasError::Disabled);
    }
    // SAFETY: the caller's contract.
    let mut blas = Some(unsafe { Blas::open(path.as_ref()) }?);
    let chosen = BLAS.get_or_init(|| blas.take());
    match (blas, chosen) {
        (None, Some(chosen)) => Ok(chosen),
        (_, other) => Err(BlasError::AlreadyChosen(other.as_ref().map(|b| b.path.clone()))),
    }
}

/// The library large float32 products use, if any. The first call without an earlier [`load`]
/// chooses it: `MXRS_BLAS_LIBRARY`, else the [`prefer`]red file, else the system's OpenBLAS,
/// else none.
pub fn get() -> Option<&'static Blas> {
    BLAS.get_or_init(default_library).as_ref()
}

/// `MXRS_BLAS_LIBRARY`, else the first of the [`prefer`]red file and the system libraries that
/// opens; `None` under `MXRS_BLAS=0`.
fn default_library() -> Option<Blas> {
    if disabled() {
        return None;
    }
    let named = std::env::var_os("MXRS_BLAS_LIBRARY").filter(|p| !p.is_empty()).map(PathBuf::from);
    let candidates = named.map_or_else(
        || PREFERRED.get().cloned().into_iter().chain(SYSTEM_LIBRARIES.iter().map(PathBuf::from)).collect(),
        |p| vec![p],
    );
    // SAFETY: the user named this file as a CBLAS library (through the environment or
    // `prefer`), or it has the system OpenBLAS's name.
    candidates.iter().find_map(|p| unsafe { Blas::open(p) }.ok())
}

/// Converts CBLAS sizes to the library's integer width; `None` if one does not fit.
fn ints<I: TryFrom<usize>>(sizes: [usize; 6]) -> Option<[I; 6]> {
    let [m, n, k, lda, ldb, ldc] = sizes.map(|s| I::try_from(s).ok());
    Some([m?, n?, k?, lda?, ldb?, ldc?])
}

impl Blas {
    /// Open the library at `path` and find its `sgemm`.
    ///
    /// # Safety
    /// As for [`load`].
    unsafe fn open(path: &Path) -> Result<Blas, BlasError> {
        let open_err = |source| BlasError::Open { path: path.to_path_buf(), source };
        // SAFETY: the caller's contract (the library's initialisers may run).
        let lib = on_one_cpu(|| unsafe { Library::new(path) }).map_err(open_err)?;
        for prefix in PREFIXES {
            for suffix in ["", "64_"] {
                let symbol = format!("{prefix}cblas_sgemm{suffix}");
                // SAFETY: a CBLAS sgemm of this name has the LP64 signature, or the ILP64 one
                // when suffixed with 64_ or built with 64-bit integers (checked below); the
                // pointer is only called while `lib` is alive, which `Blas` guarantees.
                let Ok(f) = (unsafe { lib.get::<SgemmLp64>(symbol.as_bytes()) }) else { continue };
                let f = *f;
                // SAFETY: as above, the library is a CBLAS, so `prefix`openblas_get_config
                // if present is OpenBLAS's.
                let ilp64 = !suffix.is_empty() || unsafe { built_ilp64(&lib, prefix) };
                let sgemm = if ilp64 {
                    // SAFETY: the symbol has the ILP64 signature (see above); both are
                    // `extern "C"` function pointers of the same size.
                    Sgemm::Ilp64(unsafe { std::mem::transmute::<SgemmLp64, SgemmIlp64>(f) })
                } else {
                    Sgemm::Lp64(f)
                };
                // SAFETY: as above, `prefix`openblas_set_num_threads if present is OpenBLAS's.
                let single_threaded = unsafe { pin_to_one_thread(&lib, prefix) };
                return Ok(Blas { sgemm, symbol, path: path.to_path_buf(), single_threaded, _lib: lib });
            }
        }
        Err(BlasError::NoSgemm(path.to_path_buf()))
    }

    /// The file the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name of the `sgemm` symbol in use.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// True when every call runs on the calling thread only: the library is OpenBLAS, told at
    /// load to use one thread (`openblas_set_num_threads(1)`). mxrs then splits a large product
    /// into blocks that rayon's threads hand to the library side by side
    /// ([`matmul`](super::matmul)), and OpenBLAS's own pool, whose threads spin after each call,
    /// never competes with rayon for the cores. A process that shares this very library file
    /// with other code (NumPy built against the same system OpenBLAS) pins that code's calls
    /// to one thread as well.
    pub fn single_threaded(&self) -> bool {
        self.single_threaded
    }

    /// True when the library takes 64-bit sizes (an ILP64 build).
    pub fn ilp64(&self) -> bool {
        matches!(self.sgemm, Sgemm::Ilp64(_))
    }

    /// `c (m x n, row-major, leading dimension ldc) = op_a(a) (m x k) * op_b(b) (k x n)`, with
    /// `a` and `b` row-major of leading dimensions `lda` and `ldb`. Returns false, doing
    /// nothing, when a size does not fit the library's integers.
    ///
    /// # Safety
    /// CBLAS's contract: `a` and `b` are valid for reads of every element that these sizes and
    /// leading dimensions address, `c` for writes of its `m x n` block, and `c` overlaps neither.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn sgemm(
        &self,
        op_a: Op,
        op_b: Op,
        m: usize,
        n: usize,
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
    ) -> bool {
        // SAFETY: the caller's contract, which is this one's with `c` only written.
        unsafe { self.sgemm_beta(op_a, op_b, m, n, k, a, lda, b, ldb, 0.0, c, ldc) }
    }

    /// [`Blas::sgemm`] that keeps `beta` times the old `c`: `c = op_a(a) * op_b(b) + beta * c`
    /// (`beta = 1` accumulates; with `beta = 0` the old `c` is never read).
    ///
    /// # Safety
    /// As for [`Blas::sgemm`]; `c` must also be valid for reads when `beta` is not 0.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn sgemm_beta(
        &self,
        op_a: Op,
        op_b: Op,
        m: usize,
        n: usize,
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        beta: f32,
        c: *mut f32,
        ldc: usize,
    ) -> bool {
        let (ta, tb, sizes) = (op_a.cblas(), op_b.cblas(), [m, n, k, lda, ldb, ldc]);
        match self.sgemm {
            Sgemm::Lp64(f) => {
                let Some([m, n, k, lda, ldb, ldc]) = ints::<i32>(sizes) else { return false };
                // SAFETY: `f` is the library's sgemm with this signature (`open`), alive with
                // `self`; the pointers satisfy CBLAS's contract (this function's).
                unsafe { f(CBLAS_ROW_MAJOR, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc) }
            }
            Sgemm::Ilp64(f) => {
                let Some([m, n, k, lda, ldb, ldc]) = ints::<i64>(sizes) else { return false };
                // SAFETY: as above, with 64-bit sizes.
                unsafe { f(CBLAS_ROW_MAJOR, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc) }
            }
        }
        true
    }
}

/// Run `f` (opening the library) with the calling thread allowed on one CPU only, then give it
/// back its CPUs.
///
/// OpenBLAS starts its thread pool while it loads, one thread per CPU the loading thread may
/// run on (unless `OPENBLAS_NUM_THREADS` or `OMP_NUM_THREADS` says otherwise), and each of
/// those threads spins for about 2^28 clock ticks (0.1 s) before it sleeps. mxrs runs every
/// call on the calling thread ([`pin_to_one_thread`]), so the pool would never work, but its
/// spinning took a core from the first products: the 64-channel 3x3 convolutions at the start
/// of `benches/conv_resnet.py` ran at half speed for their first 12 calls. Seen through a
/// one-CPU mask, OpenBLAS starts no pool at all. The mask is the calling thread's own, so no
/// other thread is affected, and it is restored before this returns.
#[cfg(target_os = "linux")]
fn on_one_cpu<R>(f: impl FnOnce() -> R) -> R {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `cpu_set_t` is a plain bit array, valid when zeroed.
    let (mut old, mut one): (libc::cpu_set_t, libc::cpu_set_t) = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is a writable `cpu_set_t` of `size` bytes; pid 0 is the calling thread.
    if unsafe { libc::sched_getaffinity(0, size, &mut old) } != 0 {
        return f();
    }
    // SAFETY: every index is below CPU_SETSIZE, the set's size in bits.
    let first = (0..libc::CPU_SETSIZE as usize).find(|&c| unsafe { libc::CPU_ISSET(c, &old) });
    let Some(cpu) = first else { return f() };
    // SAFETY: `cpu` is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // SAFETY: `one` is a valid `cpu_set_t` of `size` bytes naming a CPU the thread may use.
    let narrowed = unsafe { libc::sched_setaffinity(0, size, &one) } == 0;
    let r = f();
    if narrowed {
        // SAFETY: `old` is the mask the kernel gave this thread above.
        unsafe { libc::sched_setaffinity(0, size, &old) };
    }
    r
}

/// Elsewhere the library opens as it is (see the Linux version).
#[cfg(not(target_os = "linux"))]
fn on_one_cpu<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Tell an OpenBLAS to run every call on the caller's thread; false when `lib` has no
/// `<prefix>openblas_set_num_threads` (not OpenBLAS).
///
/// # Safety
/// `lib` must be a CBLAS library, so that `<prefix>openblas_set_num_threads`, if exported, is
/// OpenBLAS's function taking the thread count.
unsafe fn pin_to_one_thread(lib: &Library, prefix: &str) -> bool {
    let name = format!("{prefix}openblas_set_num_threads");
    // SAFETY: the caller's contract.
    let Ok(set) = (unsafe { lib.get::<SetNumThreads>(name.as_bytes()) }) else { return false };
    // SAFETY: OpenBLAS's setter takes any positive count.
    unsafe { set(1) };
    true
}

/// True when `lib` is an OpenBLAS built with 64-bit integers (its config says `USE64BITINT`).
///
/// # Safety
/// `lib` must be a CBLAS library, so that `<prefix>openblas_get_config`, if exported, is
/// OpenBLAS's function returning a static C string.
unsafe fn built_ilp64(lib: &Library, prefix: &str) -> bool {
    let name = format!("{prefix}openblas_get_config");
    // SAFETY: the caller's contract.
    let Ok(get_config) = (unsafe { lib.get::<GetConfig>(name.as_bytes()) }) else { return false };
    // SAFETY: OpenBLAS returns a pointer to a NUL-terminated static string (or null).
    let config = unsafe { get_config() };
    // SAFETY: non-null, NUL-terminated and static (above).
    !config.is_null() && unsafe { CStr::from_ptr(config) }.to_string_lossy().contains("USE64BITINT")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BLAS to test with: `MXRS_BLAS_LIBRARY`, else the system's OpenBLAS; `None` skips.
    fn test_blas() -> Option<Blas> {
        let found = default_library();
        if found.is_none() {
            eprintln!("no BLAS library (set MXRS_BLAS_LIBRARY, or MXRS_BLAS=0 is set): skipped");
        }
        found
    }

    #[test]
    fn sgemm_matches_the_naive_loop_for_every_transpose() {
        let Some(blas) = test_blas() else { return };
        let (m, n, k) = (7, 5, 9);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 - 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 - 3.0).collect();
        for (op_a, op_b) in
            [(Op::NoTrans, Op::NoTrans), (Op::Trans, Op::NoTrans), (Op::NoTrans, Op::Trans), (Op::Trans, Op::Trans)]
        {
            // Element (i, p) of op_a(a) and (p, j) of op_b(b), for row-major storage.
            let at = |i: usize, p: usize| if op_a == Op::Trans { a[p * m + i] } else { a[i * k + p] };
            let bt = |p: usize, j: usize| if op_b == Op::Trans { b[j * k + p] } else { b[p * n + j] };
            let lda = if op_a == Op::Trans { m } else { k };
            let ldb = if op_b == Op::Trans { k } else { n };
            let mut c = vec![f32::NAN; m * n];
            // SAFETY: `a` holds m*k and `b` k*n elements, read with these leading dimensions;
            // `c` holds m*n.
            let done = unsafe { blas.sgemm(op_a, op_b, m, n, k, a.as_ptr(), lda, b.as_ptr(), ldb, c.as_mut_ptr(), n) };
            assert!(done);
            for i in 0..m {
                for j in 0..n {
                    let want: f32 = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
                    assert_eq!(c[i * n + j], want, "{op_a:?} {op_b:?} at ({i}, {j}) of {}", blas.symbol());
                }
            }
        }
    }

    #[test]
    fn sizes_beyond_the_integer_width_are_refused() {
        assert_eq!(ints::<i32>([1, 2, 3, 4, 5, 6]), Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(ints::<i32>([1, 2, 1 << 31, 4, 5, 6]), None);
        assert_eq!(ints::<i64>([1, 2, 1 << 31, 4, 5, 6]), Some([1, 2, 1 << 31, 4, 5, 6]));
    }

    #[test]
    fn a_missing_file_or_a_library_without_sgemm_is_an_error() {
        // SAFETY: the file does not exist, so nothing is loaded.
        let missing = unsafe { Blas::open(Path::new("/nonexistent/libnoblas.so")) };
        assert!(matches!(missing, Err(BlasError::Open { .. })), "{missing:?}");
        #[cfg(target_os = "linux")]
        {
            // SAFETY: libm's initialisers are harmless and no symbol of it is called.
            let libm = unsafe { Blas::open(Path::new("libm.so.6")) };
            assert!(matches!(libm, Err(BlasError::NoSgemm(_))), "{libm:?}");
        }
    }
}
