//! The AVX-512 kernels of `sgemm_own`'s float32 products: blocks of [`Avx512::MR`] rows by
//! [`Avx512::NR`] columns (two 16-lane vectors), each block's accumulators held in 2 x `MR` of
//! the 32 vector registers. Ragged edges use masked loads and stores, so nothing outside the
//! operands is read or written. A right operand stored transposed is packed 16 x 16 elements
//! at a time through an in-register transpose, any other with strides by gathers.

use std::arch::x86_64::{
    __m512, _mm512_add_epi32, _mm512_add_ps, _mm512_castpd_ps, _mm512_castps_pd, _mm512_fmadd_ps,
    _mm512_mask_i32gather_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mullo_epi32, _mm512_set1_epi32,
    _mm512_set1_ps, _mm512_setr_epi32, _mm512_setzero_ps, _mm512_shuffle_f32x4, _mm512_storeu_ps, _mm512_unpackhi_pd,
    _mm512_unpackhi_ps, _mm512_unpacklo_pd, _mm512_unpacklo_ps,
};

use super::sgemm_driver::{Kernels, Tile, lanes, pack_scalar};

/// Whether this CPU runs the kernels (AVX-512 Foundation; `std` caches the check).
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// The AVX-512 kernels.
#[derive(Debug)]
pub struct Avx512;

/// Rows of a block: 2 x 12 accumulators, 2 vectors of the right operand and room to spare
/// among the 32 registers.
const MR: usize = 12;
/// Columns of a block: two 16-lane vectors.
const NR: usize = 32;

impl Kernels for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;

    unsafe fn pack(b: *const f32, rsb: isize, csb: isize, n: usize, kc: usize, j0: usize, cols: usize, dst: *mut f32) {
        // SAFETY: the caller's contract.
        unsafe { pack(b, rsb, csb, n, kc, j0, cols, dst) }
    }

    unsafe fn block(rows: usize, t: Tile) {
        // SAFETY: the caller's contract.
        unsafe { block(rows, t) }
    }
}

/// [`Kernels::pack`] for AVX-512: rows copied by masked loads when contiguous, columns
/// transposed in registers when contiguous, gathered otherwise.
///
/// # Safety
/// As [`Kernels::pack`].
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn pack(b: *const f32, rsb: isize, csb: isize, n: usize, kc: usize, j0: usize, cols: usize, dst: *mut f32) {
    let mask = [lanes(cols), lanes(cols.saturating_sub(16))];
    if csb == 1 {
        for p in 0..kc {
            for (w, &mw) in mask.iter().enumerate() {
                // SAFETY: the masked load reads the row's columns j0 .. j0 + cols of b; the
                // store writes inside the panel.
                unsafe {
                    let v = _mm512_maskz_loadu_ps(mw, b.offset(p as isize * rsb + (j0 + 16 * w) as isize));
                    _mm512_storeu_ps(dst.add(p * NR + 16 * w), v);
                }
            }
        }
        return;
    }
    if rsb == 1 {
        // b is stored transposed (its columns are contiguous): 16 columns are read 16 depths
        // at a time and transposed in registers. Zen 4 runs the gathers below at a fraction of
        // this speed.
        // SAFETY: the caller's contract for b's columns j0 .. j0 + cols; the panel holds
        // kc * NR elements.
        return unsafe { pack_transposed(b.offset(j0 as isize * csb), csb, kc, cols, dst) };
    }
    // Columns of b are gathered 16 at a time (offsets in 32-bit lanes, when they fit), else
    // copied one by one. Lanes past `cols` are never read.
    let Some(step) = gather_step(n, csb) else {
        // SAFETY: the caller's contract.
        return unsafe { pack_scalar(b, rsb, csb, kc, j0, cols, NR, dst) };
    };
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let idx =
        [0, 16].map(|w| _mm512_mullo_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(w)), _mm512_set1_epi32(step)));
    for p in 0..kc {
        for (w, &mw) in mask.iter().enumerate() {
            if mw == 0 {
                continue;
            }
            // SAFETY: the gather reads elements (p, j0 + 16w + lane) of b for the lanes in the
            // mask (columns < n); the store writes inside the panel.
            unsafe {
                let base = b.offset(p as isize * rsb + j0 as isize * csb);
                let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mw, idx[w], base);
                _mm512_storeu_ps(dst.add(p * NR + 16 * w), v);
            }
        }
    }
}

/// One block (`rows <= MR`, `t.cols <= NR`) through the kernel specialised for its size.
///
/// # Safety
/// As [`kernel`].
#[target_feature(enable = "avx512f")]
unsafe fn block(rows: usize, t: Tile) {
    macro_rules! by_rows {
        ($w:literal, $unit:literal) => {
            // SAFETY: the caller's contract, with the row count the kernel is built for.
            unsafe {
                match rows {
                    1 => kernel::<1, $w, $unit>(t),
                    2 => kernel::<2, $w, $unit>(t),
                    3 => kernel::<3, $w, $unit>(t),
                    4 => kernel::<4, $w, $unit>(t),
                    5 => kernel::<5, $w, $unit>(t),
                    6 => kernel::<6, $w, $unit>(t),
                    7 => kernel::<7, $w, $unit>(t),
                    8 => kernel::<8, $w, $unit>(t),
                    9 => kernel::<9, $w, $unit>(t),
                    10 => kernel::<10, $w, $unit>(t),
                    11 => kernel::<11, $w, $unit>(t),
                    _ => kernel::<12, $w, $unit>(t),
                }
            }
        };
    }
    // A transposed left operand has its rows' scalars side by side (row step 1): the kernel
    // then addresses them at constant offsets.
    match (t.cols > 16, t.ars == 1) {
        (true, true) => by_rows!(2, true),
        (true, false) => by_rows!(2, false),
        (false, true) => by_rows!(1, true),
        (false, false) => by_rows!(1, false),
    }
}

/// The column stride of b as a 32-bit gather offset, when every column's offset (up to
/// `n * csb`) fits one.
fn gather_step(n: usize, csb: isize) -> Option<i32> {
    let step = i32::try_from(csb).ok()?;
    let last = (n as i64).checked_mul(csb as i64)?;
    (step > 0 && last < i32::MAX as i64).then_some(step)
}

/// Copy one `kc x cols` panel (`cols <= NR`) of a right operand stored transposed, column `j`
/// of it being the `kc` contiguous elements at `b + j * csb`, into `dst` with row stride
/// [`NR`]: 16 columns by 16 depths at a time, transposed in registers. Lanes from `cols` to
/// the next multiple of 16 hold zeros; the 16 lanes after that are not written when
/// `cols <= 16` (the kernels never read past column `cols`).
///
/// # Safety
/// `b + j * csb + p` valid for reads for `j < cols`, `p < kc`; `dst` valid for `kc * NR`
/// writes.
#[target_feature(enable = "avx512f")]
unsafe fn pack_transposed(b: *const f32, csb: isize, kc: usize, cols: usize, dst: *mut f32) {
    for c0 in (0..cols).step_by(16) {
        let mut p = 0;
        while p < kc {
            let depth = lanes(kc - p);
            let mut r = [_mm512_setzero_ps(); 16];
            for (j, v) in r.iter_mut().enumerate().take(cols - c0) {
                // SAFETY: column c0 + j < cols of b, depths p .. p + 16 masked to those < kc.
                *v = unsafe { _mm512_maskz_loadu_ps(depth, b.offset((c0 + j) as isize * csb + p as isize)) };
            }
            let t = transpose16(r);
            for (q, v) in t.iter().enumerate().take((kc - p).min(16)) {
                // SAFETY: row p + q < kc of the panel, columns c0 .. c0 + 16 <= NR.
                unsafe { _mm512_storeu_ps(dst.add((p + q) * NR + c0), *v) };
            }
            p += 16;
        }
    }
}

/// The transpose of a 16 x 16 block held as 16 vectors: lane `c` of vector `r` becomes lane
/// `r` of vector `c`. Pairs of rows are interleaved by 32, then by 64 bits, then groups of
/// four 128-bit quarters are exchanged twice.
#[target_feature(enable = "avx512f")]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // t[2i] / t[2i + 1]: rows 2i and 2i + 1 interleaved, low and high pairs of each quarter.
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4g + c]: rows 4g .. 4g + 4 of columns c, c + 4, c + 8 and c + 12 (one per quarter).
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (lo0, hi0) = (_mm512_castps_pd(t[4 * g]), _mm512_castps_pd(t[4 * g + 1]));
        let (lo1, hi1) = (_mm512_castps_pd(t[4 * g + 2]), _mm512_castps_pd(t[4 * g + 3]));
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
    }
    let mut out = [_mm512_setzero_ps(); 16];
    for c in 0..4 {
        // v: rows 0-7 of columns (c, c + 8) and (c + 4, c + 12); w: the same of rows 8-15.
        let v0 = _mm512_shuffle_f32x4::<0x88>(u[c], u[4 + c]);
        let v1 = _mm512_shuffle_f32x4::<0xdd>(u[c], u[4 + c]);
        let w0 = _mm512_shuffle_f32x4::<0x88>(u[8 + c], u[12 + c]);
        let w1 = _mm512_shuffle_f32x4::<0xdd>(u[8 + c], u[12 + c]);
        out[c] = _mm512_shuffle_f32x4::<0x88>(v0, w0);
        out[c + 8] = _mm512_shuffle_f32x4::<0xdd>(v0, w0);
        out[c + 4] = _mm512_shuffle_f32x4::<0x88>(v1, w1);
        out[c + 12] = _mm512_shuffle_f32x4::<0xdd>(v1, w1);
    }
    out
}

/// `c[R x cols] (+)= a * b` for the block `t` ([`Tile`]), `ars` taken as 1 when `UNIT`, `W`
/// vectors of 16 columns (`t.cols <= 16 * W`).
///
/// # Safety
/// Every `ap + i*ars + p*aps` (`i < R`, `p < kc`) valid for reads; `bp + p*bstride .. + cols`
/// valid for reads for `p < kc`; `c + i*ldc .. + cols` valid for reads and writes for `i < R`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn kernel<const R: usize, const W: usize, const UNIT: bool>(t: Tile) {
    let Tile { cols, kc, ap, ars, aps, bp, bstride, c, ldc, accumulate, .. } = t;
    let mask = [lanes(cols), lanes(cols.saturating_sub(16))];
    let mut acc = [[_mm512_setzero_ps(); W]; R];
    let mut bv: [__m512; W] = [_mm512_setzero_ps(); W];
    let mut brow = bp;
    // Row i of a's block starts at rows[i]; element (i, p) is at rows[i] + p*aps. Each row
    // keeps its own pointer: walking from one row to the next with `+ ars` at every step made
    // a chain of 11 dependent additions per step, slower than the step's 12 multiply-adds of
    // one vector (a 64x500 by 500x10 product took 25 µs against OpenBLAS's 13).
    // SAFETY: rows inside a's block (the contract); never read for UNIT.
    let rows: [*const f32; R] = std::array::from_fn(|i| unsafe { ap.offset(i as isize * if UNIT { 1 } else { ars }) });
    let mut off = 0isize;
    for _ in 0..kc {
        for w in 0..W {
            // SAFETY: the masked load reads only the row's first `cols` elements (the contract).
            bv[w] = unsafe { _mm512_maskz_loadu_ps(mask[w], brow.add(16 * w)) };
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            // SAFETY: element (i, p) of a's block (the contract). A transposed block has its
            // rows' elements side by side: constant offsets from one pointer.
            let x = _mm512_set1_ps(unsafe { if UNIT { *ap.offset(off + i as isize) } else { *rows[i].offset(off) } });
            for w in 0..W {
                acc_i[w] = _mm512_fmadd_ps(x, bv[w], acc_i[w]);
            }
        }
        off += aps;
        // SAFETY: stays within (or one step past) the packed block and b's rows.
        brow = unsafe { brow.offset(bstride) };
    }
    for (i, acc_i) in acc.iter().enumerate() {
        for w in 0..W {
            // SAFETY: row i of c's block, its first `cols` elements only (masked).
            unsafe {
                let dst = c.add(i * ldc + 16 * w);
                let v =
                    if accumulate { _mm512_add_ps(acc_i[w], _mm512_maskz_loadu_ps(mask[w], dst)) } else { acc_i[w] };
                _mm512_mask_storeu_ps(dst, mask[w], v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::arch::x86_64::_mm512_loadu_ps;

    #[test]
    fn transpose16_transposes() {
        if !available() {
            eprintln!("skipped: no AVX-512 on this CPU");
            return;
        }
        let rows: Vec<[f32; 16]> = (0..16).map(|r| std::array::from_fn(|c| (r * 16 + c) as f32)).collect();
        // SAFETY: AVX-512 is available; each load reads one 16-element row, each store writes one.
        let got: Vec<[f32; 16]> = unsafe {
            let r = std::array::from_fn(|i| _mm512_loadu_ps(rows[i].as_ptr()));
            transpose16(r)
                .iter()
                .map(|v| {
                    let mut out = [0.0f32; 16];
                    _mm512_storeu_ps(out.as_mut_ptr(), *v);
                    out
                })
                .collect()
        };
        for (c, row) in got.iter().enumerate() {
            for (r, &x) in row.iter().enumerate() {
                assert_eq!(x, (r * 16 + c) as f32, "lane {r} of column {c}");
            }
        }
    }
}
