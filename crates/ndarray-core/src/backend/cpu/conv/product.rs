//! The matrix products of the lowered convolutions and of Winograd's, and how a convolution's
//! work is spread over the threads.

use super::super::Parallelism;
use super::super::matmul::RmGemm;
use super::geom::{ConvFloat, zero};

/// Products with at least this many multiply-adds go to the external BLAS when there is one
/// (float32 only): OpenBLAS's sgemm ran the per-image products of ResNet-18's 3x3 convolutions
/// (e.g. 128x1152 by 1152x256) at ~160 GFLOP/s on one thread against ~85 for the gemm crate.
/// Smaller ones (LeNet's layers, 1x1 shortcuts) stay on the gemm crate (see [`plan`] for the
/// thread budget).
const BLAS_MIN_MACS: usize = 1 << 22;

/// `dst[m x n] = (dst if acc) + op(a) * op(b)`, on this crate's AVX-512 kernels where they run
/// (CPUs with AVX-512, products up to 512^3), else through the external BLAS when `blas`
/// allows and the product is large, all row-major: `a` is `m x k` (stored `k x m`
/// when `ta`), `b` is `k x n` (stored `n x k` when `tb`).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_rm<T: ConvFloat>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    acc: bool,
    par: gemm::Parallelism,
    blas: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            dst[..m * n].fill(zero::<T>());
        }
        return;
    }
    let threads = match par {
        gemm::Parallelism::Rayon(t) => t.max(1),
        _ => 1,
    };
    {
        let mut g = RmGemm { m, n, k, dst: &mut *dst, a, ta, b, tb, acc };
        if T::own_gemm(threads, &mut g) || (blas && m * n * k >= BLAS_MIN_MACS && T::blas_gemm(&mut g)) {
            return;
        }
    }
    assert!(a.len() >= m * k && b.len() >= k * n && dst.len() >= m * n, "gemm_rm: operand too short");
    let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the assert above checks that `a` holds the m*k elements and `b` the k*n elements
    // the strides address, and `dst` (exclusively borrowed) has room for m*n row-major
    // elements; gemm reads only `a` and `b` and writes only `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            acc,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            <T as num_traits::One>::one(),
            <T as num_traits::One>::one(),
            false,
            false,
            false,
            par,
        )
    }
}

/// Convolutions of at least this many multiply-adds split over the whole thread budget even
/// while other ops run. The budget's `busy` rule keeps an op on one thread when it starts
/// beside another, which suits ops of similar size; but in a training step the gradient copies
/// and optimizer updates of the layers already done run beside the backward convolutions, and
/// a 20 ms convolution that started beside a 0.1 ms copy ran on one core for all of its 20 ms.
/// Splitting adds no threads: the op's own thread waits while rayon's pool does the work.
const ALWAYS_SPLIT_MACS: usize = 1 << 24;

/// How to spread `work` multiply-adds over `batch` images (or blocks of images): (split over
/// the batch, gemm's own parallelism inside each product, whether float32 products may go to
/// the external BLAS).
///
/// The BLAS takes products of at least [`BLAS_MIN_MACS`] per block under a one-thread
/// budget, and when the blocks are split over the threads and the library runs each call on
/// the calling thread (OpenBLAS, pinned to one thread at load): a library left to its own
/// thread pool cannot be told per call how many threads to use, and its spinning threads beside
/// rayon's workers made a 2-thread ResNet-sized forward take 150-600 ms instead of 25-30 ms.
/// OpenBLAS picks its kernels for the CPU at run time (AVX-512 where there is one): split over
/// blocks, it trained `benches/gluon.py`'s ResNet-18 about 1.5x as fast as the gemm crate's
/// FMA kernels on a 2-vCPU Intel Xeon.
pub(super) fn plan<T: ConvFloat>(par: Parallelism, batch: usize, work: usize) -> (bool, gemm::Parallelism, bool) {
    let threads = conv_threads(par, work);
    let split = threads > 1 && work >= super::super::PAR_THRESHOLD;
    // Small convolutions (LeNet's) never open the library (which starts its thread pool).
    // Split over blocks, each thread hands its own blocks' products to the library, which then
    // must run every call on the calling thread (OpenBLAS pinned to one thread at load).
    let blas = work / batch.max(1) >= BLAS_MIN_MACS
        && T::has_blas()
        && (par.threads == 1 || (split && batch > 1 && super::super::blas::get().is_some_and(|b| b.single_threaded())));
    if split {
        par.notify_split();
    }
    if split && batch > 1 {
        (true, gemm::Parallelism::None, blas)
    } else if split {
        (false, gemm::Parallelism::Rayon(threads), blas)
    } else {
        (false, gemm::Parallelism::None, blas)
    }
}

/// Threads a convolution of `work` multiply-adds may use now (see [`ALWAYS_SPLIT_MACS`]).
pub(super) fn conv_threads(par: Parallelism, work: usize) -> usize {
    if work >= ALWAYS_SPLIT_MACS { par.threads } else { par.available() }
}

/// `a + b`, elementwise, in `a`; `b` goes back to the buffer pool (the per-thread partial
/// weight gradients of a split convolution, summed).
pub(super) fn add_parts<T: ConvFloat>(mut a: Vec<T>, b: Vec<T>) -> Vec<T> {
    a.iter_mut().zip(&b).for_each(|(x, &y)| *x = *x + y);
    crate::pool::give(T::wrap(b));
    a
}
