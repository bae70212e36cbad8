//! Matrix products through the `gemm` crate (runtime CPU dispatch), with a plain loop for
//! integer dtypes. Float32 products up to 512^3 multiply-adds run on this crate's own SIMD
//! kernels ([`super::sgemm_own`]) on CPUs with AVX-512 or AVX2; larger ones go to a CBLAS
//! library when there is one ([`blas`]): OpenBLAS pinned to one thread, called once per block
//! of a product that the calling thread and its helpers ([`super::team`]) compute side by
//! side, so that OpenBLAS's own pool never competes with them for the cores.

use half::f16;

use super::blas::{self, Op};
#[cfg(target_arch = "x86_64")]
use super::sgemm_own::Isa;
use super::{Parallelism, SendPtr};
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

/// Products with fewer multiply-adds than this stay on the gemm crate, except on Intel CPUs
/// with AVX-512 ([`INTEL_AVX512_MIN_MACS`]); `MXRS_BLAS_MIN_MACS` overrides both (read once).
/// Below it the gemm crate (built without its AVX-512 kernels, which were 30% slower on AMD's
/// Zen 4) was as fast as OpenBLAS on one thread: on a 2-vCPU EPYC (Zen 4), 10.7 against 8.2 µs
/// for a 64^3 `dot`, 229 against 242 µs at 256^3, and LeNet's training step was 15-20% slower
/// with OpenBLAS for its fully connected layers. Where the CPU has AVX-512, products up to
/// [`OWN_AVX512_MAX_MACS`] run on this crate's own kernels before either is asked (with AVX2
/// only, up to [`OWN_AVX2_MAX_MACS`]).
const BLAS_MIN_MACS: usize = 512 * 512 * 512;

/// [`BLAS_MIN_MACS`] on an Intel CPU with AVX-512, where OpenBLAS's AVX-512 kernels beat the
/// gemm crate's AVX2 ones at every size measured: on a 2-vCPU Xeon (family 6, model 207),
/// `dot` 64^3 went from 60 to 89 GFLOP/s, 256^3 from 174 to 269, `batch_dot` 128 x 32^3 from
/// 103 to 149, and the MLP training step of `benches/training.py` from 164-182k to 222-229k
/// samples/s (LeNet unchanged). Smaller products are mostly call overhead either way. Products
/// up to [`OWN_AVX512_MAX_MACS`] now run on this crate's own AVX-512 kernels there, so this
/// bound matters only where `MXRS_AVX512_GEMM_MAX_MACS` lowers that one.
const INTEL_AVX512_MIN_MACS: usize = 32 * 32 * 32;

fn external_min_macs() -> usize {
    static MIN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MIN.get_or_init(|| {
        let default = if intel_with_avx512() { INTEL_AVX512_MIN_MACS } else { BLAS_MIN_MACS };
        super::env_usize("MXRS_BLAS_MIN_MACS", default)
    })
}

/// Whether this is an Intel CPU with AVX-512 (CPUID vendor "GenuineIntel", `avx512f`).
#[cfg(target_arch = "x86_64")]
fn intel_with_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f") && super::intel_cpu()
}

#[cfg(not(target_arch = "x86_64"))]
fn intel_with_avx512() -> bool {
    false
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

/// How many blocks to split a product into: one per thread of the budget for products big
/// enough to pay for the hand-off.
fn num_blocks(par: Parallelism, m: usize, n: usize, k: usize) -> usize {
    let threads = if m * n * k >= SPLIT_MIN_MACS { par.available() } else { 1 };
    if threads > 1 { threads.min(m.max(n).div_ceil(BLOCK_ALIGN)) } else { 1 }
}

/// Products with fewer multiply-adds than this run on one thread: handing a block to a sleeping
/// pool thread costs about 8-10 µs on a 2-vCPU VM, and a 64^3 product (5 µs on one core
/// through OpenBLAS) took 17 µs split against 8 µs whole, call included (measured with
/// rayon's hand-off; the AVX-512 kernels have their own bound, [`OWN_SPLIT_MIN_MACS`]).
const SPLIT_MIN_MACS: usize = 128 * 128 * 128;

/// Blocks of a split product start at multiples of this many rows (or columns).
const BLOCK_ALIGN: usize = 16;

/// Split the `m x n` product into row blocks (or column blocks, whichever dimension is larger)
/// and call `block(row0, rows, col0, cols)` for each: on the calling thread and its helpers
/// ([`run_blocks`](super::team::run_blocks)), side by side, when the budget and the product's
/// size allow, else once for the whole product. Splitting once per
/// product beat the gemm crate's own parallel mode, which synchronises its threads once per
/// depth block: a 128x784 by 784x128 product took 250 µs against 290-370 µs on 2 threads.
fn split_product(par: Parallelism, m: usize, n: usize, k: usize, block: impl Fn(usize, usize, usize, usize) + Sync) {
    let blocks = num_blocks(par, m, n, k);
    if blocks <= 1 {
        return block(0, m, 0, n);
    }
    let along_rows = m >= n;
    let len = if along_rows { m } else { n };
    let step = len.div_ceil(blocks).div_ceil(BLOCK_ALIGN) * BLOCK_ALIGN;
    par.notify_split();
    super::team::run_blocks(len.div_ceil(step), blocks - 1, &|i| {
        let start = i * step;
        let size = step.min(len - start);
        if along_rows { block(start, size, 0, n) } else { block(0, m, start, size) }
    });
}

/// Float32 products up to this many multiply-adds run on this crate's AVX-512 kernels
/// ([`sgemm_avx512`](super::sgemm_avx512)) on CPUs with AVX-512 (`MXRS_AVX512_GEMM_MAX_MACS`
/// overrides it, 0 turns them off; read once). On a 2-vCPU Xeon (family 6, model 207) they
/// run at 170-190 GFLOP/s on one core from 32^3 to 256^3, and `dot` went from 0.49 to 1.0x
/// PyTorch's GFLOP/s at 128^3 and from 0.70 to 0.95-1.05x at 256^3, `batch_dot` of 128 x 32^3
/// from 0.35 to 0.84x; at 512^3 they match OpenBLAS. On a 2-vCPU EPYC (Zen 4, which runs
/// AVX-512 at AVX2's width) they match the gemm crate and OpenBLAS on one core (92-104
/// against 87-100 GFLOP/s from 64^3 to 256^3 and for ResNet-18's per-image products), and
/// split over both cores they beat the gemm crate's rayon split (176-197 against 133-185
/// GFLOP/s): `batch_dot` 128 x 32^3 went from 141 to 182 GFLOP/s, ResNet-18's hybridized
/// training step of `benches/gluon.py` from 59-66 to 65-68 samples/s, and the MLP of
/// `benches/training.py` from 171-214k to 222-225k. LeNet's Gluon step first ran 0-5% slower
/// imperative: its fully connected forward product (`x . W^T`, 64 rows) gathered the
/// transposed right operand into panels, which Zen 4 does slowly; such an operand is now
/// transposed in registers instead (64x800 . (500x800)^T: 656 -> 599 µs, the gemm crate 604).
const OWN_AVX512_MAX_MACS: usize = 512 * 512 * 512;

/// Products from this many multiply-adds on [`sgemm_own`](super::sgemm_own) are split
/// over the budget's threads: the calling thread works on the blocks too
/// ([`run_blocks`](super::team::run_blocks)), so a split costs about a microsecond, not a
/// thread wake-up. On a 2-vCPU Xeon a 128^3 product went from 23-26 to 15-16 µs split; 96^3
/// gained nothing, and `dot` of 64^3 from Python was slower split (68-80 against 91 GFLOP/s).
/// On other CPUs (AMD's Zen 4 runs one 512-bit multiply-add a cycle, half an Intel core's
/// rate, so a product takes twice as long whole) the bound is [`OWN_SPLIT_MIN_MACS_AMD`].
const OWN_SPLIT_MIN_MACS: usize = 1 << 20;

/// [`OWN_SPLIT_MIN_MACS`] on CPUs other than Intel's. On a 2-vCPU EPYC (Zen 4), 64^3 took
/// 4.9 µs whole and 3.3-4.5 µs split (the helper's share varied with where the VM's two
/// vCPUs ran); `dot` of 64^3 from Python 6.9 -> 5.2-6.6 µs. 48^3 gained 0-25%.
const OWN_SPLIT_MIN_MACS_AMD: usize = 1 << 18;

/// Blocks per thread of a split product on [`sgemm_own`](super::sgemm_own), at most.
const OWN_BLOCKS_PER_THREAD: usize = 4;

/// Float32 products up to this many multiply-adds run on the AVX2 kernels where the CPU has
/// no AVX-512 (`MXRS_AVX512_GEMM_MAX_MACS` overrides it too). On a 2-vCPU EPYC (Zen 3, AVX2
/// only), `dot` from Python on two threads, against the `gemm` crate, best / median GFLOP/s of
/// six alternated processes each: 64^3 66 / 62 against 59 / 47, 128^3 128 / 115 against
/// 119 / 99. 256^3 was slower (146 / 126 against 154 / 141; one thread alike), and 512^3 too
/// (one thread 67-70 against OpenBLAS's 74-85), so larger products keep the `gemm` crate and
/// OpenBLAS.
const OWN_AVX2_MAX_MACS: usize = 128 * 128 * 128;

/// [`OWN_SPLIT_MIN_MACS`] for the AVX2 kernels: 64^3 split over the 2 vCPUs of the Zen 3 ran
/// at 45-47 GFLOP/s against 58-66 whole.
const OWN_AVX2_SPLIT_MIN_MACS: usize = 1 << 20;

/// [`OWN_SPLIT_MIN_MACS`] on Intel, [`OWN_SPLIT_MIN_MACS_AMD`] elsewhere,
/// [`OWN_AVX2_SPLIT_MIN_MACS`] on the AVX2 kernels (whichever [`Isa::detect`] picks), or
/// `MXRS_AVX512_SPLIT_MIN_MACS` when set (read once).
#[cfg(target_arch = "x86_64")]
fn own_split_min_macs() -> usize {
    static MIN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MIN.get_or_init(|| {
        let default = match Isa::detect() {
            Some(Isa::Avx2) => OWN_AVX2_SPLIT_MIN_MACS,
            Some(Isa::Avx512) if super::intel_cpu() => OWN_SPLIT_MIN_MACS,
            Some(Isa::Avx512) | None => OWN_SPLIT_MIN_MACS_AMD,
        };
        super::env_usize("MXRS_AVX512_SPLIT_MIN_MACS", default)
    })
}

/// [`OWN_AVX512_MAX_MACS`] or [`OWN_AVX2_MAX_MACS`] (whichever kernels [`Isa::detect`]
/// picks), or `MXRS_AVX512_GEMM_MAX_MACS` when set (read once; 0 turns the kernels off).
#[cfg(target_arch = "x86_64")]
fn own_max_macs() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let default = if Isa::detect() == Some(Isa::Avx2) { OWN_AVX2_MAX_MACS } else { OWN_AVX512_MAX_MACS };
        super::env_usize("MXRS_AVX512_GEMM_MAX_MACS", default)
    })
}

/// A dense row-major product for the convolution kernels: `dst (m x n) = (dst if acc) +
/// op(a) * op(b)`, `a` being `m x k` (stored `k x m` when `ta`) and `b` `k x n` (stored `n x k`
/// when `tb`).
#[derive(Debug)]
pub struct RmGemm<'a, T> {
    /// Rows of the result.
    pub m: usize,
    /// Columns of the result.
    pub n: usize,
    /// Depth.
    pub k: usize,
    /// The result, at least m*n elements.
    pub dst: &'a mut [T],
    /// The left operand, at least m*k elements.
    pub a: &'a [T],
    /// Whether `a` is stored transposed.
    pub ta: bool,
    /// The right operand, at least k*n elements.
    pub b: &'a [T],
    /// Whether `b` is stored transposed.
    pub tb: bool,
    /// Add to dst's values instead of overwriting them.
    pub acc: bool,
}

/// The product `g` on this crate's own kernels, split over `threads` threads when large
/// (the convolutions' products); false (nothing written) where the CPU or the size does not
/// take it.
pub fn own_sgemm_rm(threads: usize, g: &mut RmGemm<'_, f32>) -> bool {
    let RmGemm { m, n, k, ta, tb, acc, .. } = *g;
    assert!(g.a.len() >= m * k && g.b.len() >= k * n && g.dst.len() >= m * n, "own_sgemm_rm: operand too short");
    let p = F32Product {
        dst: SendPtr(g.dst.as_mut_ptr()),
        lhs: SendPtr(g.a.as_ptr() as *mut f32),
        l: MatRef::row_major(0, if ta { m } else { k }, ta),
        rhs: SendPtr(g.b.as_ptr() as *mut f32),
        r: MatRef::row_major(0, if tb { k } else { n }, tb),
        m,
        n,
        k,
        acc,
    };
    // SAFETY: the assert checks that a and b hold every element the row-major operands address
    // and that dst (exclusively borrowed, so apart from them) has room for the m*n result.
    unsafe { own_kernels(Parallelism { threads, ..Parallelism::SERIAL }, p) }
}

/// A float32 product's operands, as [`product`] takes them.
#[derive(Clone, Copy)]
struct F32Product {
    dst: SendPtr<f32>,
    lhs: SendPtr<f32>,
    l: MatRef,
    rhs: SendPtr<f32>,
    r: MatRef,
    m: usize,
    n: usize,
    k: usize,
    /// Add to dst's values instead of overwriting them.
    acc: bool,
}

/// `dst (m x n, row stride n) = (dst if acc) + lhs * rhs` on [`sgemm_own`](super::sgemm_own), split
/// over the budget's threads when large; false (nothing written) where the CPU or the size
/// does not take it.
///
/// # Safety
/// As for [`product`].
unsafe fn own_kernels(par: Parallelism, p: F32Product) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use super::sgemm_own;
        let F32Product { dst: d, lhs: a, l, rhs: b, r, m, n, k, acc } = p;
        let Some(isa) = Isa::detect() else { return false };
        if m * n * k > own_max_macs() {
            return false;
        }
        let run = |r0: usize, rows: usize, c0: usize, cols: usize| {
            let (d, a, b) = (&d, &a, &b);
            // SAFETY: the ISA is available (detected above); the block covers rows r0..r0+rows
            // and columns c0..c0+cols of dst (row stride n) and reads the matching rows of lhs
            // and columns of rhs, all inside the caller's ranges; blocks are disjoint.
            unsafe {
                sgemm_own::sgemm(
                    isa,
                    &sgemm_own::Product {
                        m: rows,
                        n: cols,
                        k,
                        a: a.0.offset(r0 as isize * l.rs),
                        rsa: l.rs,
                        csa: l.cs,
                        b: b.0.offset(c0 as isize * r.cs),
                        rsb: r.rs,
                        csb: r.cs,
                        c: d.0.add(r0 * n + c0),
                        ldc: n,
                        acc,
                    },
                )
            }
        };
        let threads = if m * n * k >= own_split_min_macs() { par.available() } else { 1 };
        if threads <= 1 {
            run(0, m, 0, n);
            return true;
        }
        // Blocks of whole column panels where there are several (each block then copies only
        // its own panels of rhs), else of whole row blocks; a few per thread, so that the
        // caller takes more of them when a helper starts late. Where the panels make fewer
        // blocks than that and rhs's rows are contiguous, the panels are cut into blocks of
        // `PACK_MIN_ROWS` rows too, which read rhs in place (no copy to repeat per block):
        // 96^3 gave each thread one and a half of its three panels.
        let (mr, nr) = (isa.mr(), isa.nr());
        let want = OWN_BLOCKS_PER_THREAD * threads;
        let steps = |len: usize, unit: usize| {
            let units = len.div_ceil(unit);
            units.div_ceil(units.min(want)) * unit
        };
        let (row_step, col_step) = if n < 2 * nr {
            (steps(m, mr), n)
        } else {
            let col_step = steps(n, nr);
            let row_step = if n.div_ceil(col_step) < want && r.cs == 1 { isa.pack_min_rows() } else { m };
            (row_step, col_step)
        };
        let cols = n.div_ceil(col_step);
        par.notify_split();
        super::team::run_blocks(m.div_ceil(row_step) * cols, threads - 1, &|i| {
            let (r0, c0) = (i / cols * row_step, i % cols * col_step);
            run(r0, row_step.min(m - r0), c0, col_step.min(n - c0))
        });
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (par, p);
        false
    }
}

/// The float types with a fast product: the `gemm` crate, and for float32 the external BLAS.
trait MatFloat: Element + 'static {
    /// `dst (m x n, row stride n) = lhs * rhs` through the external BLAS; false (nothing
    /// written) when there is none or it cannot take these operands.
    ///
    /// # Safety
    /// As for [`product`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn external(
        _par: Parallelism,
        _dst: *mut Self,
        _lhs: *const Self,
        _l: MatRef,
        _rhs: *const Self,
        _r: MatRef,
        _m: usize,
        _n: usize,
        _k: usize,
    ) -> bool {
        false
    }
}

impl MatFloat for f64 {}
impl MatFloat for f16 {}
impl MatFloat for f32 {
    unsafe fn external(
        par: Parallelism,
        dst: *mut f32,
        lhs: *const f32,
        l: MatRef,
        rhs: *const f32,
        r: MatRef,
        m: usize,
        n: usize,
        k: usize,
    ) -> bool {
        let p = F32Product {
            dst: SendPtr(dst),
            lhs: SendPtr(lhs as *mut f32),
            l,
            rhs: SendPtr(rhs as *mut f32),
            r,
            m,
            n,
            k,
            acc: false,
        };
        // SAFETY: the caller's contract.
        if unsafe { own_kernels(par, p) } {
            return true;
        }
        // Small products never open the library (which starts its thread pool).
        if m * n * k < external_min_macs() {
            return false;
        }
        let Some(lib) = blas::get() else { return false };
        let (Some((ta, lda)), Some((tb, ldb))) = (cblas_operand(l), cblas_operand(r)) else { return false };
        let (d, a, b) = (SendPtr(dst), SendPtr(lhs as *mut f32), SendPtr(rhs as *mut f32));
        if !lib.single_threaded() {
            // The library splits the product over its own threads.
            par.notify_split();
            // SAFETY: the caller's contract (`product`'s): the operands address only elements
            // inside their buffers, and `dst` has room for the m*n row-major result.
            return unsafe { lib.sgemm(ta, tb, m, n, k, a.0, lda, b.0, ldb, d.0, n) };
        }
        let done = std::sync::atomic::AtomicBool::new(true);
        split_product(par, m, n, k, |r0, rows, c0, cols| {
            let (d, a, b) = (&d, &a, &b);
            // SAFETY: the block covers rows r0..r0+rows and columns c0..c0+cols of `dst` (row
            // stride n) and reads the matching rows of lhs and columns of rhs, all inside the
            // caller's ranges; blocks are disjoint. Offsets along a stride keep the operand's
            // layout, so its leading dimension is unchanged.
            let ok = unsafe {
                lib.sgemm(
                    ta,
                    tb,
                    rows,
                    cols,
                    k,
                    a.0.offset(r0 as isize * l.rs),
                    lda,
                    b.0.offset(c0 as isize * r.cs),
                    ldb,
                    d.0.add(r0 * n + c0),
                    n,
                )
            };
            if !ok {
                done.store(false, std::sync::atomic::Ordering::Relaxed);
            }
        });
        // A size that does not fit the library's integers fails in every block alike: the
        // caller then computes the whole product again on the gemm crate.
        done.into_inner()
    }
}

/// `dst (m x n, row stride n) = lhs (m x k) * rhs (k x n)`: through the external BLAS where
/// [`MatFloat::external`] takes it, else through the gemm crate, split over rayon's threads
/// by [`split_product`] when large.
///
/// # Safety
/// `dst` must be valid for writes of `m * n` row-major elements, and `lhs`/`rhs` valid for
/// reads of every element `l`/`r` address for these sizes (offsets already applied).
#[allow(clippy::too_many_arguments)]
unsafe fn product<T: MatFloat>(
    par: Parallelism,
    dst: *mut T,
    lhs: *const T,
    l: MatRef,
    rhs: *const T,
    r: MatRef,
    m: usize,
    n: usize,
    k: usize,
) {
    // SAFETY: the caller's contract.
    if unsafe { T::external(par, dst, lhs, l, rhs, r, m, n, k) } {
        return;
    }
    let (d, a, b) = (SendPtr(dst), SendPtr(lhs as *mut T), SendPtr(rhs as *mut T));
    split_product(par, m, n, k, |r0, rows, c0, cols| {
        let (d, a, b) = (&d, &a, &b);
        // SAFETY: the block covers rows r0..r0+rows and columns c0..c0+cols of dst and the
        // matching rows of lhs and columns of rhs, all inside the caller's ranges; blocks are
        // disjoint.
        unsafe {
            gemm::gemm(
                rows,
                cols,
                k,
                d.0.add(r0 * n + c0),
                1,
                n as isize,
                false,
                a.0.offset(r0 as isize * l.rs),
                l.cs,
                l.rs,
                b.0.offset(c0 as isize * r.cs),
                r.cs,
                r.rs,
                T::zero(),
                T::one(),
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    });
}

/// The number of elements of `x` (as `rows x cols`) that a product reads, from its slice's start.
fn span(x: MatRef, rows: usize, cols: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        x.offset + ((rows - 1) as isize * x.rs + (cols - 1) as isize * x.cs) as usize + 1
    }
}

/// [`product`] over slices: `d` (exactly `m * n` elements) `= a[l] * b[r]`, bounds checked.
#[allow(clippy::too_many_arguments)]
fn product_into<T: MatFloat>(
    par: Parallelism,
    d: &mut [T],
    a: &[T],
    l: MatRef,
    b: &[T],
    r: MatRef,
    m: usize,
    n: usize,
    k: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(span(l, m, k) <= a.len() && span(r, k, n) <= b.len() && d.len() == m * n, "matmul: operand out of range");
    if k == 0 {
        d.fill(T::zero());
        return;
    }
    // SAFETY: the assert checks that every element the strided operands address lies inside
    // its slice, and `d` is exclusively borrowed with exactly m*n elements; the product reads
    // only the operands and writes only `d`.
    unsafe {
        product(
            par,
            d.as_mut_ptr(),
            a.as_ptr().add(l.offset),
            MatRef { offset: 0, ..l },
            b.as_ptr().add(r.offset),
            MatRef { offset: 0, ..r },
            m,
            n,
            k,
        )
    }
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
    let out = dst_off..dst_off + m * n;
    match (dst, lhs, rhs) {
        (CpuStorage::F32(d), CpuStorage::F32(a), CpuStorage::F32(b)) => {
            product_into(par, &mut d[out], a, l, b, r, m, n, k)
        }
        (CpuStorage::F64(d), CpuStorage::F64(a), CpuStorage::F64(b)) => {
            product_into(par, &mut d[out], a, l, b, r, m, n, k)
        }
        (CpuStorage::F16(d), CpuStorage::F16(a), CpuStorage::F16(b)) => {
            product_into(par, &mut d[out], a, l, b, r, m, n, k)
        }
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

/// Products below this many multiply-adds are computed whole by one thread each when a batch
/// of them is split over the threads ([`matmul_batch_into`]); larger ones split themselves.
const BATCH_SPLIT_MAX_MACS: usize = 64 * 64 * 64;

/// `batch` products, product `i` written at `dst[dst_off + i*m*n ..]` (row-major `m x n`) from
/// the operands `mats(i)` returns. A batch of small products (`batch_dot` of 32x32 matrices) is
/// split over the threads of `par` by product; larger products are split each by
/// [`matmul_into`].
#[allow(clippy::too_many_arguments)]
pub fn matmul_batch_into(
    par: Parallelism,
    dst: &mut CpuStorage,
    dst_off: usize,
    lhs: &CpuStorage,
    rhs: &CpuStorage,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    mats: impl Fn(usize) -> (MatRef, MatRef) + Sync,
) {
    let per = m * n;
    let threads = if batch > 1 && m * n * k < BATCH_SPLIT_MAX_MACS && batch * m * n * k >= BATCH_SPLIT_MAX_MACS {
        par.available()
    } else {
        1
    };
    if threads > 1 && per > 0 {
        let out = dst_off..dst_off + batch * per;
        // A few groups per thread, so that the caller takes more when a helper starts late.
        let group = batch.div_ceil(OWN_BLOCKS_PER_THREAD * threads);
        macro_rules! split {
            ($d:expr, $a:expr, $b:expr) => {{
                par.notify_split();
                let d = SendPtr($d[out].as_mut_ptr());
                super::team::run_blocks(batch.div_ceil(group), threads - 1, &|g| {
                    let d = &d;
                    for i in g * group..batch.min((g + 1) * group) {
                        // SAFETY: product i's m x n elements of the output, inside `out`
                        // (i < batch); each product is written by one block only.
                        let d = unsafe { std::slice::from_raw_parts_mut(d.0.add(i * per), per) };
                        let (l, r) = mats(i);
                        product_into(Parallelism::SERIAL, d, $a, l, $b, r, m, n, k);
                    }
                });
                return;
            }};
        }
        match (&mut *dst, lhs, rhs) {
            (CpuStorage::F32(d), CpuStorage::F32(a), CpuStorage::F32(b)) => split!(d, a, b),
            (CpuStorage::F64(d), CpuStorage::F64(a), CpuStorage::F64(b)) => split!(d, a, b),
            (CpuStorage::F16(d), CpuStorage::F16(a), CpuStorage::F16(b)) => split!(d, a, b),
            _ => {}
        }
    }
    for i in 0..batch {
        let (l, r) = mats(i);
        matmul_into(par, dst, dst_off + i * per, lhs, l, rhs, r, m, n, k);
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
        // Row splits (m >= n), column splits (n > m), column panels cut into row blocks (a
        // right operand with contiguous rows and few panels), transposed operands, offsets,
        // sizes that are not multiples of the block alignment, and a product too small to split.
        let cases = [
            (130, 70, 90, false, true),
            (40, 301, 77, true, false),
            (100, 96, 70, false, false),
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

    #[test]
    fn split_batches_match_the_naive_loop() {
        // 40 products of 9x11 by 11x6 (each small, so the batch is split over the threads), at
        // an output offset, for every transpose of the operands.
        let (batch, m, n, k) = (40, 9, 6, 11);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a: Vec<f32> = (0..batch * m * k).map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.5).collect();
            let b: Vec<f32> = (0..batch * k * n).map(|i| ((i * 104_729) % 19) as f32 / 19.0 - 0.5).collect();
            let mats = |i: usize| {
                (
                    MatRef::row_major(i * m * k, if ta { m } else { k }, ta),
                    MatRef::row_major(i * k * n, if tb { k } else { n }, tb),
                )
            };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
            let mut dst = CpuStorage::F32(vec![f32::NAN; batch * m * n + 1].into());
            let (sa, sb) = (CpuStorage::F32(a.clone().into()), CpuStorage::F32(b.clone().into()));
            pool.install(|| matmul_batch_into(Parallelism::whole_pool(), &mut dst, 1, &sa, &sb, batch, m, n, k, mats));
            let CpuStorage::F32(d) = dst else { unreachable!() };
            assert!(d[0].is_nan(), "nothing written before dst_off");
            for i in 0..batch {
                let (l, r) = mats(i);
                let want = naive(&a, l, &b, r, m, n, k);
                for (j, (&g, &w)) in d[1 + i * m * n..1 + (i + 1) * m * n].iter().zip(&want).enumerate() {
                    assert!((g as f64 - w).abs() < 1e-4, "ta={ta} tb={tb} product {i} element {j}: {g}, want {w}");
                }
            }
        }
    }
}
