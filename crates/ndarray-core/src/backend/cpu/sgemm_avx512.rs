//! Float32 matrix products with AVX-512 for small and mid-sized operands, where a general BLAS
//! loses most of its time to the call itself, packing and thread hand-offs: `dot` of 64-256
//! square matrices and `batch_dot` of many 32x32 products.
//!
//! The product is computed in blocks of [`MR`] rows by [`NR`] columns (two 16-lane vectors),
//! each block's accumulators held in 2 x `MR` of the 32 vector registers over a depth chunk of
//! at most [`KC`]. Each multiply-add broadcasts its scalar of the left operand straight from
//! the operand, transposed or not, so the left operand is never copied. The right operand is
//! read in place when its rows are contiguous and it is used by few blocks (a batch of small
//! products); otherwise each depth chunk of it is first copied into contiguous column panels,
//! so that a block's panel sits in L1 whatever the operand's row stride (a row stride of 1 or
//! 2 KiB maps every row to the same few cache sets). An operand stored transposed is copied
//! 16 x 16 elements at a time through an in-register transpose, any other by gathers. Ragged
//! edges use masked loads and stores, so nothing outside the operands is read or written.

use std::arch::x86_64::{
    __m512, _mm512_add_epi32, _mm512_add_ps, _mm512_castpd_ps, _mm512_castps_pd, _mm512_fmadd_ps,
    _mm512_mask_i32gather_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mullo_epi32, _mm512_set1_epi32,
    _mm512_set1_ps, _mm512_setr_epi32, _mm512_setzero_ps, _mm512_shuffle_f32x4, _mm512_storeu_ps, _mm512_unpackhi_pd,
    _mm512_unpackhi_ps, _mm512_unpacklo_pd, _mm512_unpacklo_ps,
};
use std::cell::RefCell;

/// Rows of a block: 2 x 12 accumulators, 2 vectors of the right operand and room to spare
/// among the 32 registers.
pub const MR: usize = 12;
/// Columns of a block: two 16-lane vectors.
pub const NR: usize = 32;
/// Depth of a chunk: a block's slice of the right operand (`KC x NR`, 32 KiB) stays in L1.
pub const KC: usize = 256;

/// A right operand with contiguous rows is read in place unless the product has more rows
/// than this and at least [`PACK_MIN_DEPTH`] depth: then its panels are reused by enough
/// blocks to pay for the copy.
pub const PACK_MIN_ROWS: usize = 2 * MR;
/// See [`PACK_MIN_ROWS`].
const PACK_MIN_DEPTH: usize = 64;

/// Whether this CPU runs the kernels (AVX-512 Foundation; checked once).
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
}

thread_local! {
    /// Column panels of a right operand whose rows are not contiguous (one depth chunk).
    static PANELS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The operands of [`sgemm`]: `c (m x n, row stride ldc) = a (m x k) * b (k x n)`, element
/// (i, p) of a at `a + i*rsa + p*csa`, element (p, j) of b at `b + p*rsb + j*csb`.
#[derive(Clone, Copy, Debug)]
pub struct Product {
    /// Rows of a and c.
    pub m: usize,
    /// Columns of b and c.
    pub n: usize,
    /// Columns of a, rows of b.
    pub k: usize,
    /// Element (0, 0) of a.
    pub a: *const f32,
    /// Row stride of a.
    pub rsa: isize,
    /// Column stride of a.
    pub csa: isize,
    /// Element (0, 0) of b.
    pub b: *const f32,
    /// Row stride of b.
    pub rsb: isize,
    /// Column stride of b.
    pub csb: isize,
    /// Element (0, 0) of c.
    pub c: *mut f32,
    /// Row stride of c (at least n).
    pub ldc: usize,
    /// Add the product to c's values instead of overwriting them.
    pub acc: bool,
}

/// Compute the product `p` (see [`Product`]) into c's m x n elements.
///
/// # Safety
/// [`available`] must be true; `a` must be valid for reads of every element it addresses for
/// `i < m`, `p < k`, b likewise for `p < k`, `j < n`, and c valid for writes of
/// `c + i*ldc + j`; c must not overlap the operands.
pub unsafe fn sgemm(p: &Product) {
    let &Product { m, n, k, c, ldc, csb, acc, .. } = p;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if acc {
            return;
        }
        for i in 0..m {
            // SAFETY: row i of c has n writable elements (the caller's contract).
            unsafe { std::ptr::write_bytes(c.add(i * ldc), 0, n) };
        }
        return;
    }
    if csb == 1 && !(m > PACK_MIN_ROWS && k >= PACK_MIN_DEPTH) {
        // SAFETY: the caller's contract; rows of b are read in place.
        unsafe { sgemm_chunks(p, None) }
    } else {
        PANELS.with(|panels| {
            // A product that calls back into this thread's kernels cannot happen (nothing here
            // calls out), but take the buffer only if it is free, else use a fresh one.
            let mut own = Vec::new();
            let mut guard = panels.try_borrow_mut().ok();
            let buf = guard.as_deref_mut().unwrap_or(&mut own);
            let need = KC.min(k) * n.div_ceil(NR) * NR;
            if buf.len() < need {
                buf.resize(need, 0.0);
            }
            // SAFETY: the caller's contract; `buf` has room for one chunk's panels.
            unsafe { sgemm_chunks(p, Some(buf.as_mut_ptr())) }
        })
    }
}

/// The product chunk by chunk of depth; `pack` is a buffer for b's column panels, None to
/// read b's rows in place (`csb == 1`).
///
/// # Safety
/// As [`sgemm`], with `k > 0`, `m > 0`, `n > 0`, and `pack` holding at least
/// `min(KC, k) * ceil(n / NR) * NR` elements.
#[target_feature(enable = "avx512f")]
unsafe fn sgemm_chunks(p: &Product, pack: Option<*mut f32>) {
    let &Product { m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, acc } = p;
    let panels = n.div_ceil(NR);
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        let accumulate = acc || p0 > 0;
        // The right operand of this chunk: in place (row stride rsb) or packed (row stride NR,
        // one kc x NR panel after another, zero beyond column n).
        let (bbase, bstride, panel_step) = match pack {
            None => {
                // SAFETY: row p0 of b is inside b (p0 < k).
                (unsafe { b.offset(p0 as isize * rsb) }, rsb, NR as isize)
            }
            Some(buf) => {
                for jp in 0..panels {
                    let cols = NR.min(n - jp * NR);
                    if csb == 1 {
                        let mask = [lanes(cols), lanes(cols.saturating_sub(16))];
                        for p in 0..kc {
                            for (w, &mw) in mask.iter().enumerate() {
                                // SAFETY: the masked load reads the row's columns jp*NR ..
                                // jp*NR + cols of b; the store writes inside the buffer.
                                unsafe {
                                    let src = b.offset((p0 + p) as isize * rsb + (jp * NR + 16 * w) as isize);
                                    let v = _mm512_maskz_loadu_ps(mw, src);
                                    _mm512_storeu_ps(buf.add((jp * kc + p) * NR + 16 * w), v);
                                }
                            }
                        }
                        continue;
                    }
                    if rsb == 1 {
                        // b is stored transposed (its columns are contiguous): 16 columns are
                        // read 16 depths at a time and transposed in registers. Zen 4 runs
                        // the gathers below at a fraction of this speed.
                        // SAFETY: the caller's contract for b's k x n elements; the buffer
                        // holds panels * kc * NR elements.
                        unsafe {
                            pack_transposed(
                                b.offset(p0 as isize + (jp * NR) as isize * csb),
                                csb,
                                kc,
                                cols,
                                buf.add(jp * kc * NR),
                            )
                        };
                        continue;
                    }
                    // Columns of b are gathered 16 at a time (offsets in 32-bit lanes, when
                    // they fit), else copied one by one. Lanes past `cols` are never read.
                    if let Some(step) = gather_step(n, csb) {
                        let mask = [lanes(cols), lanes(cols.saturating_sub(16))];
                        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                        let idx = [0, 16].map(|w| {
                            _mm512_mullo_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(w)), _mm512_set1_epi32(step))
                        });
                        for p in 0..kc {
                            for (w, &mw) in mask.iter().enumerate() {
                                if mw == 0 {
                                    continue;
                                }
                                // SAFETY: the gather reads elements (p0 + p, jp*NR + 16w + lane)
                                // of b for the lanes in the mask (columns < n); the store writes
                                // inside the buffer.
                                unsafe {
                                    let base = b.offset((p0 + p) as isize * rsb + (jp * NR) as isize * csb);
                                    let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mw, idx[w], base);
                                    _mm512_storeu_ps(buf.add((jp * kc + p) * NR + 16 * w), v);
                                }
                            }
                        }
                        continue;
                    }
                    for jj in 0..cols {
                        for p in 0..kc {
                            // SAFETY: element (p0 + p, jp*NR + jj) of b, inside its k x n; the
                            // buffer holds panels * kc * NR elements.
                            unsafe {
                                *buf.add((jp * kc + p) * NR + jj) =
                                    *b.offset((p0 + p) as isize * rsb + (jp * NR + jj) as isize * csb);
                            }
                        }
                    }
                }
                (buf as *const f32, NR as isize, (kc * NR) as isize)
            }
        };
        // Element (i, p) of the chunk's left operand is at a0 + i*rsa + p*csa.
        // SAFETY: column p0 of a is inside a (p0 < k).
        let a0 = unsafe { a.offset(p0 as isize * csa) };
        let mut i0 = 0;
        while i0 < m {
            let rows = MR.min(m - i0);
            for jp in 0..panels {
                let cols = NR.min(n - jp * NR);
                // SAFETY: the block's rows of a lie inside a's m x k; its panel starts inside
                // b's chunk (or the packed buffer) and its rows reach column jp*NR + cols <= n;
                // c's block lies inside c's m x n.
                unsafe {
                    let ap = a0.offset(i0 as isize * rsa);
                    let bp = bbase.offset(jp as isize * panel_step);
                    let cp = c.add(i0 * ldc + jp * NR);
                    let t = Tile { cols, kc, ap, ars: rsa, aps: csa, bp, bstride, c: cp, ldc, accumulate };
                    block(rows, t);
                }
            }
            i0 += rows;
        }
        p0 += kc;
    }
}

/// One block's operands: `cols` columns, depth `kc`; element (i, p) of a at `ap + i*ars +
/// p*aps`, row `p` of b's block at `bp + p * bstride`, row i of c at `c + i*ldc`; c is
/// overwritten, or added to when `accumulate`.
#[derive(Clone, Copy)]
struct Tile {
    cols: usize,
    kc: usize,
    ap: *const f32,
    ars: isize,
    aps: isize,
    bp: *const f32,
    bstride: isize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
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

/// Lane mask for the first `n` (at most 16) lanes.
fn lanes(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
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
    let Tile { cols, kc, ap, ars, aps, bp, bstride, c, ldc, accumulate } = t;
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

    #[test]
    fn products_match_the_naive_loop() {
        if !available() {
            eprintln!("skipped: no AVX-512 on this CPU");
            return;
        }
        // Ragged rows and columns (block edges at 1..MR rows, 1..NR columns), depths over one
        // chunk, empty depth, every transpose of the operands, and a row stride of c wider
        // than n; overwriting c or adding to it.
        let sizes = [
            (1, 1, 1),
            (3, 5, 7),
            (12, 32, 16),
            (13, 33, 300),
            (32, 32, 32),
            (25, 17, 0),
            (64, 48, 513),
            (40, 70, 130),
            (7, 100, 9),
        ];
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
                    let p = Product {
                        m,
                        n,
                        k,
                        a: a.as_ptr(),
                        rsa,
                        csa,
                        b: b.as_ptr(),
                        rsb,
                        csb,
                        c: c.as_mut_ptr(),
                        ldc,
                        acc,
                    };
                    // SAFETY: AVX-512 is available; the strides address only elements of a and
                    // b; c has m rows of ldc >= n elements.
                    unsafe { sgemm(&p) };
                    for i in 0..m {
                        for j in 0..ldc {
                            let got = c[i * ldc + j];
                            if j >= n {
                                assert!(got.is_nan(), "{m}x{n}x{k}: wrote past column n at ({i}, {j})");
                                continue;
                            }
                            let w = want[i * n + j] + if acc { 1.5 } else { 0.0 };
                            assert!(
                                (got as f64 - w).abs() < 1e-3,
                                "{m}x{n}x{k} ta={ta} tb={tb} acc={acc}: ({i}, {j}) is {got}, want {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn right_operands_with_no_unit_stride_are_gathered() {
        if !available() {
            eprintln!("skipped: no AVX-512 on this CPU");
            return;
        }
        // b's element (p, j) at 2p + (2k + 1)j: neither its rows nor its columns are
        // contiguous, so its panels are gathered rather than copied or transposed.
        for (m, n, k) in [(5, 40, 37), (30, 17, 300)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5).collect();
            let (rsb, csb) = (2, (2 * k + 1) as isize);
            let b: Vec<f32> = (0..n * (2 * k + 1)).map(|i| ((i * 13) % 11) as f32 / 11.0 - 0.5).collect();
            let want = naive(&a, k as isize, 1, &b, rsb, csb, m, n, k);
            let mut c = vec![f32::NAN; m * n];
            let p = Product {
                m,
                n,
                k,
                a: a.as_ptr(),
                rsa: k as isize,
                csa: 1,
                b: b.as_ptr(),
                rsb,
                csb,
                c: c.as_mut_ptr(),
                ldc: n,
                acc: false,
            };
            // SAFETY: AVX-512 is available; the strides address only elements of a and b (the
            // last, (k - 1, n - 1), at 2(k - 1) + (2k + 1)(n - 1) < b.len()); c holds m x n.
            unsafe { sgemm(&p) };
            for (i, (&got, &w)) in c.iter().zip(&want).enumerate() {
                assert!((got as f64 - w).abs() < 1e-3, "{m}x{n}x{k}: element {i} is {got}, want {w}");
            }
        }
    }

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
