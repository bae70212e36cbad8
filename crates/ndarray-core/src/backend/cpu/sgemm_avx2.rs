//! The AVX2 kernels of `sgemm_own`'s float32 products, for CPUs with AVX2 and FMA but no
//! AVX-512 (AMD's Zen 2 and Zen 3, Intel's client cores): blocks of [`Avx2::MR`] rows by
//! [`Avx2::NR`] columns (two 8-lane vectors), whose 12 accumulators, the two vectors of the
//! right operand and the broadcast scalar fill 15 of the 16 vector registers. Ragged edges use
//! masked loads and stores (`vmaskmovps`), so nothing outside the operands is read or
//! written; rows of a packed panel are read whole. A right operand stored transposed is packed
//! 8 x 8 elements at a time through an in-register transpose.

use std::arch::x86_64::{
    __m256, __m256i, _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_loadu_si256, _mm256_maskload_ps,
    _mm256_maskstore_ps, _mm256_permute2f128_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_shuffle_ps,
    _mm256_storeu_ps, _mm256_unpackhi_ps, _mm256_unpacklo_ps,
};

use super::sgemm_driver::{Kernels, Tile, pack_scalar};

/// Whether this CPU runs the kernels (AVX2 and FMA; `std` caches the check).
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// The AVX2 kernels.
#[derive(Debug)]
pub struct Avx2;

/// Rows of a block.
const MR: usize = 6;
/// Columns of a block: two 8-lane vectors.
const NR: usize = 16;

impl Kernels for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;

    unsafe fn pack(b: *const f32, rsb: isize, csb: isize, _n: usize, kc: usize, j0: usize, cols: usize, dst: *mut f32) {
        // SAFETY: the caller's contract.
        unsafe { pack(b, rsb, csb, kc, j0, cols, dst) }
    }

    unsafe fn block(rows: usize, t: Tile) {
        // SAFETY: the caller's contract.
        unsafe { block(rows, t) }
    }
}

/// The mask of the first `n` lanes (all 8 from 8 on), as `vmaskmovps` takes it.
#[target_feature(enable = "avx2")]
fn mask8(n: usize) -> __m256i {
    static TABLE: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
    // SAFETY: the 8 elements from 8 - min(n, 8) lie inside the 16 of the table.
    unsafe { _mm256_loadu_si256(TABLE.as_ptr().add(8 - n.min(8)).cast()) }
}

/// [`Kernels::pack`] for AVX2: rows copied by (masked) loads when contiguous, columns
/// transposed in registers when contiguous, copied one by one otherwise.
///
/// # Safety
/// As [`Kernels::pack`].
#[target_feature(enable = "avx2,fma")]
unsafe fn pack(b: *const f32, rsb: isize, csb: isize, kc: usize, j0: usize, cols: usize, dst: *mut f32) {
    if csb == 1 {
        let mask = [mask8(cols), mask8(cols.saturating_sub(8))];
        for p in 0..kc {
            let src = b.wrapping_offset(p as isize * rsb + j0 as isize);
            for (w, &mw) in mask.iter().enumerate() {
                // SAFETY: the (masked) load reads the row's columns j0 .. j0 + cols of b; the
                // store writes inside the panel.
                unsafe {
                    let v = if cols == NR {
                        _mm256_loadu_ps(src.add(8 * w))
                    } else {
                        _mm256_maskload_ps(src.wrapping_add(8 * w), mw)
                    };
                    _mm256_storeu_ps(dst.add(p * NR + 8 * w), v);
                }
            }
        }
        return;
    }
    if rsb == 1 {
        // SAFETY: the caller's contract for b's columns j0 .. j0 + cols; the panel holds
        // kc * NR elements.
        return unsafe { pack_transposed(b.wrapping_offset(j0 as isize * csb), csb, kc, cols, dst) };
    }
    // SAFETY: the caller's contract.
    unsafe { pack_scalar(b, rsb, csb, kc, j0, cols, NR, dst) }
}

/// Copy one `kc x cols` panel (`cols <= NR`) of a right operand stored transposed, column `j`
/// of it being the `kc` contiguous elements at `b + j * csb`, into `dst` with row stride
/// [`NR`]: 8 columns by 8 depths at a time, transposed in registers. Lanes from `cols` to the
/// next multiple of 8 hold zeros; the 8 lanes after that are not written when `cols <= 8`
/// (the kernels never read past the vector column `cols` ends in).
///
/// # Safety
/// `b + j * csb + p` valid for reads for `j < cols`, `p < kc`; `dst` valid for `kc * NR`
/// writes.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_transposed(b: *const f32, csb: isize, kc: usize, cols: usize, dst: *mut f32) {
    for c0 in (0..cols).step_by(8) {
        let mut p = 0;
        while p < kc {
            let depth = (kc - p).min(8);
            let mask = mask8(depth);
            let mut r = [_mm256_setzero_ps(); 8];
            for (j, v) in r.iter_mut().enumerate().take(cols - c0) {
                let src = b.wrapping_offset((c0 + j) as isize * csb + p as isize);
                // SAFETY: column c0 + j < cols of b, depths p .. p + depth < kc.
                *v = unsafe { if depth == 8 { _mm256_loadu_ps(src) } else { _mm256_maskload_ps(src, mask) } };
            }
            let t = transpose8(r);
            for (q, v) in t.iter().enumerate().take(depth) {
                // SAFETY: row p + q < kc of the panel, columns c0 .. c0 + 8 <= NR.
                unsafe { _mm256_storeu_ps(dst.add((p + q) * NR + c0), *v) };
            }
            p += 8;
        }
    }
}

/// The transpose of an 8 x 8 block held as 8 vectors: lane `c` of vector `r` becomes lane `r`
/// of vector `c`. Pairs of rows are interleaved by 32 bits, then pairs of pairs by 64, then
/// the 128-bit halves are exchanged.
#[target_feature(enable = "avx2")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (x, y) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 { _mm256_unpacklo_ps(x, y) } else { _mm256_unpackhi_ps(x, y) }
    });
    // s[4g + 2h + e]: rows 4g .. 4g + 4 of column 2h + e (and 2h + e + 4 in the upper half).
    let mut s = [_mm256_setzero_ps(); 8];
    for g in 0..2 {
        for h in 0..2 {
            let (x, y) = (t[4 * g + h], t[4 * g + h + 2]);
            s[4 * g + 2 * h] = _mm256_shuffle_ps::<0x44>(x, y);
            s[4 * g + 2 * h + 1] = _mm256_shuffle_ps::<0xEE>(x, y);
        }
    }
    std::array::from_fn(|c| {
        if c < 4 {
            _mm256_permute2f128_ps::<0x20>(s[c], s[c + 4])
        } else {
            _mm256_permute2f128_ps::<0x31>(s[c - 4], s[c])
        }
    })
}

/// One block (`rows <= MR`, `t.cols <= NR`) through the kernel specialised for its size.
///
/// # Safety
/// As [`kernel`].
#[target_feature(enable = "avx2,fma")]
unsafe fn block(rows: usize, t: Tile) {
    macro_rules! by_rows {
        ($w:literal, $unit:literal, $full:literal) => {
            // SAFETY: the caller's contract, with the row count the kernel is built for.
            unsafe {
                match rows {
                    1 => kernel::<1, $w, $unit, $full>(t),
                    2 => kernel::<2, $w, $unit, $full>(t),
                    3 => kernel::<3, $w, $unit, $full>(t),
                    4 => kernel::<4, $w, $unit, $full>(t),
                    5 => kernel::<5, $w, $unit, $full>(t),
                    _ => kernel::<6, $w, $unit, $full>(t),
                }
            }
        };
    }
    // A transposed left operand has its rows' scalars side by side (row step 1): the kernel
    // then addresses them at constant offsets. Rows of b are read whole when they are a
    // packed panel's or hold whole vectors.
    let wide = t.cols > 8;
    let full = t.packed || t.cols == if wide { 16 } else { 8 };
    match (wide, t.ars == 1, full) {
        (true, true, true) => by_rows!(2, true, true),
        (true, true, false) => by_rows!(2, true, false),
        (true, false, true) => by_rows!(2, false, true),
        (true, false, false) => by_rows!(2, false, false),
        (false, true, true) => by_rows!(1, true, true),
        (false, true, false) => by_rows!(1, true, false),
        (false, false, true) => by_rows!(1, false, true),
        (false, false, false) => by_rows!(1, false, false),
    }
}

/// `c[R x cols] (+)= a * b` for the block `t` ([`Tile`]), `ars` taken as 1 when `UNIT`, `W`
/// vectors of 8 columns (`t.cols <= 8 * W`), b's rows read as whole vectors when `FULL`.
///
/// # Safety
/// Every `ap + i*ars + p*aps` (`i < R`, `p < kc`) valid for reads; `bp + p*bstride .. + cols`
/// (`.. + 8 * W` when `FULL`) valid for reads for `p < kc`; `c + i*ldc .. + cols` valid for
/// reads and writes for `i < R`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn kernel<const R: usize, const W: usize, const UNIT: bool, const FULL: bool>(t: Tile) {
    let Tile { cols, kc, ap, ars, aps, bp, bstride, c, ldc, accumulate, .. } = t;
    let mask = [mask8(cols), mask8(cols.saturating_sub(8))];
    let mut acc = [[_mm256_setzero_ps(); W]; R];
    let mut bv: [__m256; W] = [_mm256_setzero_ps(); W];
    let mut brow = bp;
    // Row i of a's block starts at rows[i]; element (i, p) is at rows[i] + p*aps (each row
    // keeps its own pointer, as in the AVX-512 kernel). Never read for UNIT.
    let rows: [*const f32; R] = std::array::from_fn(|i| ap.wrapping_offset(i as isize * if UNIT { 1 } else { ars }));
    let mut off = 0isize;
    for _ in 0..kc {
        for w in 0..W {
            // SAFETY: whole vectors of a panel row (FULL), else the row's first `cols`
            // elements only (masked); the contract.
            bv[w] = unsafe {
                if FULL {
                    _mm256_loadu_ps(brow.add(8 * w))
                } else {
                    _mm256_maskload_ps(brow.wrapping_add(8 * w), mask[w])
                }
            };
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            // SAFETY: element (i, p) of a's block (the contract). A transposed block has its
            // rows' elements side by side: constant offsets from one pointer.
            let x = _mm256_set1_ps(unsafe { if UNIT { *ap.offset(off + i as isize) } else { *rows[i].offset(off) } });
            for w in 0..W {
                acc_i[w] = _mm256_fmadd_ps(x, bv[w], acc_i[w]);
            }
        }
        off += aps;
        brow = brow.wrapping_offset(bstride);
    }
    let whole = cols == 8 * W;
    for (i, acc_i) in acc.iter().enumerate() {
        for w in 0..W {
            let dst = c.wrapping_add(i * ldc + 8 * w);
            // SAFETY: row i of c's block, its first `cols` elements only (whole vectors when
            // `cols` fills them, else masked).
            unsafe {
                if whole {
                    let v = if accumulate { _mm256_add_ps(acc_i[w], _mm256_loadu_ps(dst)) } else { acc_i[w] };
                    _mm256_storeu_ps(dst, v);
                } else {
                    let v =
                        if accumulate { _mm256_add_ps(acc_i[w], _mm256_maskload_ps(dst, mask[w])) } else { acc_i[w] };
                    _mm256_maskstore_ps(dst, mask[w], v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose8_transposes() {
        if !available() {
            eprintln!("skipped: no AVX2 with FMA on this CPU");
            return;
        }
        let rows: Vec<[f32; 8]> = (0..8).map(|r| std::array::from_fn(|c| (r * 8 + c) as f32)).collect();
        // SAFETY: AVX2 is available; each load reads one 8-element row, each store writes one.
        let got: Vec<[f32; 8]> = unsafe {
            let r = std::array::from_fn(|i| _mm256_loadu_ps(rows[i].as_ptr()));
            transpose8(r)
                .iter()
                .map(|v| {
                    let mut out = [0.0f32; 8];
                    _mm256_storeu_ps(out.as_mut_ptr(), *v);
                    out
                })
                .collect()
        };
        for (c, row) in got.iter().enumerate() {
            for (r, &x) in row.iter().enumerate() {
                assert_eq!(x, (r * 8 + c) as f32, "lane {r} of column {c}");
            }
        }
    }
}
