//! Float32 matrix products on this crate's own SIMD kernels, for small and mid-sized operands,
//! where a general BLAS loses most of its time to the call itself, packing and thread
//! hand-offs: `dot` of 64-512 square matrices and `batch_dot` of many 32x32 products.
//!
//! This module picks the instruction set; the driver common to them is
//! [`sgemm_driver`](super::sgemm_driver), their kernels AVX-512
//! ([`sgemm_avx512`](super::sgemm_avx512)) and AVX2 with FMA ([`sgemm_avx2`](super::sgemm_avx2)).

pub use super::sgemm_driver::{KC, Product};
use super::sgemm_driver::{Kernels, sgemm_with};

/// An instruction set with kernels here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512 Foundation: blocks of 12 x 32.
    Avx512,
    /// AVX2 with FMA: blocks of 6 x 16.
    Avx2,
}

impl Isa {
    /// The best instruction set of this CPU with kernels here (checked once), if any.
    pub fn detect() -> Option<Isa> {
        static ISA: std::sync::OnceLock<Option<Isa>> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| [Isa::Avx512, Isa::Avx2].into_iter().find(|isa| isa.available()))
    }

    /// Whether this CPU runs this instruction set's kernels.
    pub fn available(self) -> bool {
        match self {
            Isa::Avx512 => super::sgemm_avx512::available(),
            Isa::Avx2 => super::sgemm_avx2::available(),
        }
    }

    /// Rows of a block.
    pub fn mr(self) -> usize {
        match self {
            Isa::Avx512 => super::sgemm_avx512::Avx512::MR,
            Isa::Avx2 => super::sgemm_avx2::Avx2::MR,
        }
    }

    /// Columns of a block (two vectors).
    pub fn nr(self) -> usize {
        match self {
            Isa::Avx512 => super::sgemm_avx512::Avx512::NR,
            Isa::Avx2 => super::sgemm_avx2::Avx2::NR,
        }
    }

    /// Rows from which a product packs a right operand whose rows are contiguous; blocks of a
    /// split product with fewer rows read it in place.
    pub fn pack_min_rows(self) -> usize {
        match self {
            Isa::Avx512 => super::sgemm_avx512::Avx512::PACK_MIN_ROWS,
            Isa::Avx2 => super::sgemm_avx2::Avx2::PACK_MIN_ROWS,
        }
    }
}

/// Compute the product `p` (see [`Product`]) into c's m x n elements on `isa`'s kernels.
///
/// # Safety
/// `isa` must be available on this CPU; `a` must be valid for reads of every element it
/// addresses for `i < m`, `p < k`, b likewise for `p < k`, `j < n`, and c valid for writes of
/// `c + i*ldc + j`; c must not overlap the operands.
pub unsafe fn sgemm(isa: Isa, p: &Product) {
    // SAFETY: the caller's contract.
    unsafe {
        match isa {
            Isa::Avx512 => sgemm_with::<super::sgemm_avx512::Avx512>(p),
            Isa::Avx2 => sgemm_with::<super::sgemm_avx2::Avx2>(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain triple loop in float64 over strided operands.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        a: &[f32],
        rsa: isize,
        csa: isize,
        b: &[f32],
        rsb: isize,
        csb: isize,
        m: usize,
        n: usize,
        k: usize,
    ) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|p| {
                        a[(i as isize * rsa + p as isize * csa) as usize] as f64
                            * b[(p as isize * rsb + j as isize * csb) as usize] as f64
                    })
                    .sum();
            }
        }
        out
    }

    /// The instruction sets this CPU runs, each reported when it is skipped.
    fn isas() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter(|isa| {
                let ok = isa.available();
                if !ok {
                    eprintln!("skipped: no {isa:?} on this CPU");
                }
                ok
            })
            .collect()
    }

    #[test]
    fn products_match_the_naive_loop() {
        // Ragged rows and columns (block edges at 1..MR rows, 1..NR columns), depths over one
        // chunk, empty depth, every transpose of the operands, and a row stride of c wider
        // than n; overwriting c or adding to it.
        let sizes = [
            (1, 1, 1),
            (3, 5, 7),
            (6, 16, 16),
            (12, 32, 16),
            (13, 33, 300),
            (32, 32, 32),
            (25, 17, 0),
            (64, 48, 513),
            (40, 70, 130),
            (7, 100, 9),
            (11, 9, 20),
        ];
        for isa in isas() {
            for (m, n, k) in sizes {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.5).collect();
                    let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 19) as f32 / 19.0 - 0.5).collect();
                    let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
                    let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
                    let want = naive(&a, rsa, csa, &b, rsb, csb, m, n, k);
                    let ldc = n + 3;
                    for acc in [false, true] {
                        // Overwritten, or added to (1.5 in every cell of c's m x n).
                        let mut c: Vec<f32> =
                            (0..m * ldc).map(|x| if acc && x % ldc < n { 1.5 } else { f32::NAN }).collect();
                        let (a, b, c_ptr) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
                        let p = Product { m, n, k, a, rsa, csa, b, rsb, csb, c: c_ptr, ldc, acc };
                        // SAFETY: the ISA is available; the strides address only elements of a
                        // and b; c has m rows of ldc >= n elements.
                        unsafe { sgemm(isa, &p) };
                        for i in 0..m {
                            for j in 0..ldc {
                                let got = c[i * ldc + j];
                                if j >= n {
                                    assert!(got.is_nan(), "{isa:?} {m}x{n}x{k}: wrote past column n at ({i}, {j})");
                                    continue;
                                }
                                let w = want[i * n + j] + if acc { 1.5 } else { 0.0 };
                                assert!(
                                    (got as f64 - w).abs() < 1e-3,
                                    "{isa:?} {m}x{n}x{k} ta={ta} tb={tb} acc={acc}: ({i}, {j}) is {got}, want {w}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn right_operands_with_no_unit_stride_are_gathered() {
        // b's element (p, j) at 2p + (2k + 1)j: neither its rows nor its columns are
        // contiguous, so its panels are gathered rather than copied or transposed.
        for isa in isas() {
            for (m, n, k) in [(5, 40, 37), (30, 17, 300)] {
                let a: Vec<f32> = (0..m * k).map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5).collect();
                let (rsb, csb) = (2, (2 * k + 1) as isize);
                let b: Vec<f32> = (0..n * (2 * k + 1)).map(|i| ((i * 13) % 11) as f32 / 11.0 - 0.5).collect();
                let want = naive(&a, k as isize, 1, &b, rsb, csb, m, n, k);
                let mut c = vec![f32::NAN; m * n];
                let (a, b, c_ptr) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
                let p = Product { m, n, k, a, rsa: k as isize, csa: 1, b, rsb, csb, c: c_ptr, ldc: n, acc: false };
                // SAFETY: the ISA is available; the strides address only elements of a and b
                // (the last, (k - 1, n - 1), at 2(k - 1) + (2k + 1)(n - 1) < b.len()); c holds
                // m x n.
                unsafe { sgemm(isa, &p) };
                for (i, (&got, &w)) in c.iter().zip(&want).enumerate() {
                    assert!((got as f64 - w).abs() < 1e-3, "{isa:?} {m}x{n}x{k}: element {i} is {got}, want {w}");
                }
            }
        }
    }
}
