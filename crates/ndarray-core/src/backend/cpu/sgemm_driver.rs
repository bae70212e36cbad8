//! The driver of `sgemm_own`'s kernels, common to the instruction sets
//! ([`Kernels`]): the depth chunks, the right operand packed into column panels or read in
//! place, and the loop over a chunk's blocks.
//!
//! The product is computed in blocks of `MR` rows by `NR` columns (two vectors), each block's
//! accumulators held in registers over a depth chunk of at most [`KC`]. Each multiply-add
//! broadcasts its scalar of the left operand straight from the operand, transposed or not, so
//! the left operand is never copied. The right operand is read in place when its rows are
//! contiguous and it is used by few blocks (a batch of small products); otherwise each depth
//! chunk of it is first copied into contiguous column panels, so that a block's panel sits in
//! L1 whatever the operand's row stride (a row stride of 1 or 2 KiB maps every row to the same
//! few cache sets).

use std::cell::RefCell;

/// Depth of a chunk: a block's slice of the right operand (`KC x NR`, 32 KiB with AVX-512's
/// 32 columns, 16 KiB with AVX2's 16) stays in L1.
pub const KC: usize = 256;

/// A right operand with contiguous rows is read in place unless the product has more than
/// `2 * MR` rows ([`Kernels::PACK_MIN_ROWS`]) and at least this depth: then its panels are reused
/// by enough blocks to pay for the copy.
const PACK_MIN_DEPTH: usize = 64;

/// Bytes of a chunk's right operand that one pass over the row blocks reads: at most half a
/// Zen 3 core's 512 KiB L2.
const GROUP_BYTES: usize = 256 * 1024;

/// The operands of a product: `c (m x n, row stride ldc) = a (m x k) * b (k x n)`, element
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

/// One block's operands: `cols` columns, depth `kc`; element (i, p) of a at `ap + i*ars +
/// p*aps`, row `p` of b's block at `bp + p * bstride`, row i of c at `c + i*ldc`; c is
/// overwritten, or added to when `accumulate`. `packed`: b's rows are a packed panel's, `NR`
/// wide with zeros past `cols`, so whole vectors may be read.
#[derive(Clone, Copy)]
pub(super) struct Tile {
    pub cols: usize,
    pub kc: usize,
    pub ap: *const f32,
    pub ars: isize,
    pub aps: isize,
    pub bp: *const f32,
    pub bstride: isize,
    pub c: *mut f32,
    pub ldc: usize,
    pub accumulate: bool,
    pub packed: bool,
}

/// One instruction set's kernels, which [`sgemm_with`] drives.
pub(super) trait Kernels {
    /// Rows of a block.
    const MR: usize;
    /// Columns of a block, and the row stride of a packed panel.
    const NR: usize;
    /// Rows from which a product packs a right operand whose rows are contiguous (see
    /// [`PACK_MIN_DEPTH`]); blocks of a split product with fewer rows read it in place.
    const PACK_MIN_ROWS: usize = 2 * Self::MR;

    /// Copy columns `j0 .. j0 + cols` (`cols <= NR`) of `kc` rows of b, element (p, j) at
    /// `b + p*rsb + j*csb`, into `dst` with row stride `NR`, zeros past `cols` up to the
    /// vector the columns end in. `n` is b's column count.
    ///
    /// # Safety
    /// The instruction set is available; the elements read lie in b; `dst` holds `kc * NR`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn pack(b: *const f32, rsb: isize, csb: isize, n: usize, kc: usize, j0: usize, cols: usize, dst: *mut f32);

    /// `c[rows x cols] (+)= a * b` for the block `t` (`rows <= MR`, `t.cols <= NR`).
    ///
    /// # Safety
    /// The instruction set is available; every `ap + i*ars + p*aps` (`i < rows`, `p < kc`)
    /// valid for reads; `bp + p*bstride .. + cols` (the whole panel row when `packed`) valid
    /// for reads for `p < kc`; `c + i*ldc .. + cols` valid for reads and writes for `i < rows`.
    unsafe fn block(rows: usize, t: Tile);
}

thread_local! {
    /// Column panels of a right operand (one depth chunk).
    static PANELS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Compute the product `p` (see [`Product`]) into c's m x n elements on the kernels `K`.
///
/// # Safety
/// `K`'s instruction set must be available on this CPU; `a` must be valid for reads of every
/// element it addresses for `i < m`, `p < k`, b likewise for `p < k`, `j < n`, and c valid
/// for writes of `c + i*ldc + j`; c must not overlap the operands.
pub(super) unsafe fn sgemm_with<K: Kernels>(p: &Product) {
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
    if csb == 1 && !(m > K::PACK_MIN_ROWS && k >= PACK_MIN_DEPTH) {
        // SAFETY: the caller's contract; rows of b are read in place.
        unsafe { chunks::<K>(p, None) }
    } else {
        PANELS.with(|panels| {
            // A product that calls back into this thread's kernels cannot happen (nothing here
            // calls out), but take the buffer only if it is free, else use a fresh one.
            let mut own = Vec::new();
            let mut guard = panels.try_borrow_mut().ok();
            let buf = guard.as_deref_mut().unwrap_or(&mut own);
            let need = KC.min(k) * n.div_ceil(K::NR) * K::NR;
            if buf.len() < need {
                buf.resize(need, 0.0);
            }
            // SAFETY: the caller's contract; `buf` has room for one chunk's panels.
            unsafe { chunks::<K>(p, Some(buf.as_mut_ptr())) }
        })
    }
}

/// The product chunk by chunk of depth; `pack` is a buffer for b's column panels, None to
/// read b's rows in place (`csb == 1`).
///
/// # Safety
/// As [`sgemm_with`], with `k > 0`, `m > 0`, `n > 0`, and `pack` holding at least
/// `min(KC, k) * ceil(n / NR) * NR` elements.
unsafe fn chunks<K: Kernels>(p: &Product, pack: Option<*mut f32>) {
    let &Product { m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, acc } = p;
    let (mr, nr) = (K::MR, K::NR);
    let panels = n.div_ceil(nr);
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        let accumulate = acc || p0 > 0;
        // SAFETY: row p0 of b is inside b (p0 < k).
        let chunk = unsafe { b.offset(p0 as isize * rsb) };
        // The right operand of this chunk: in place (row stride rsb) or packed (row stride NR,
        // one kc x NR panel after another).
        let (bbase, bstride, panel_step) = match pack {
            None => (chunk, rsb, nr as isize),
            Some(buf) => {
                for jp in 0..panels {
                    // SAFETY: the chunk's rows p0 .. p0 + kc and columns of panel jp lie in b;
                    // panel jp of the buffer holds kc * NR elements.
                    unsafe { K::pack(chunk, rsb, csb, n, kc, jp * nr, nr.min(n - jp * nr), buf.add(jp * kc * nr)) };
                }
                (buf as *const f32, nr as isize, (kc * nr) as isize)
            }
        };
        // Element (i, p) of the chunk's left operand is at a0 + i*rsa + p*csa.
        // SAFETY: column p0 of a is inside a (p0 < k).
        let a0 = unsafe { a.offset(p0 as isize * csa) };
        // Panels in groups of about GROUP_BYTES, each group's panels read from L2 for every
        // row block: a 512-column chunk (512 KiB) outgrew a Zen 3 core's L2.
        let group = (GROUP_BYTES / (kc * nr * 4)).max(1);
        for g0 in (0..panels).step_by(group) {
            let mut i0 = 0;
            while i0 < m {
                let rows = mr.min(m - i0);
                for jp in g0..panels.min(g0 + group) {
                    let cols = nr.min(n - jp * nr);
                    // SAFETY: the block's rows of a lie inside a's m x k; its panel starts
                    // inside b's chunk (or the packed buffer) and its rows reach column
                    // jp*NR + cols <= n; c's block lies inside c's m x n.
                    unsafe {
                        let ap = a0.offset(i0 as isize * rsa);
                        let bp = bbase.offset(jp as isize * panel_step);
                        let cp = c.add(i0 * ldc + jp * nr);
                        let packed = pack.is_some();
                        let t = Tile { cols, kc, ap, ars: rsa, aps: csa, bp, bstride, c: cp, ldc, accumulate, packed };
                        K::block(rows, t);
                    }
                }
                i0 += rows;
            }
        }
        p0 += kc;
    }
}

/// Lane mask for the first `n` (at most 16) lanes.
pub(super) fn lanes(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// Copy a panel element by element (any strides), zeros past `cols` up to `NR`.
///
/// # Safety
/// As [`Kernels::pack`], with `nr` for `NR`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn pack_scalar(
    b: *const f32,
    rsb: isize,
    csb: isize,
    kc: usize,
    j0: usize,
    cols: usize,
    nr: usize,
    dst: *mut f32,
) {
    for p in 0..kc {
        for jj in 0..nr {
            // SAFETY: element (p, j0 + jj) of b for jj < cols, inside its k x n; the buffer
            // holds kc * nr elements.
            unsafe {
                *dst.add(p * nr + jj) =
                    if jj < cols { *b.offset(p as isize * rsb + (j0 + jj) as isize * csb) } else { 0.0 };
            }
        }
    }
}
