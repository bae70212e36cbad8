//! The pieces every Winograd kernel shares: the plan of a convolution, its blocks of tiles,
//! the filters' layout, and the scalar transforms of whole blocks (the AVX-512 ones are in
//! `avx512`).

use super::super::super::SendPtr;
use super::transforms::{Scalar, Variant};

/// A block of tile rows aims at about this many tiles (columns of each product) of
/// F(2x2, 3x3), 16 planes each.
const BLOCK_TILES_F2: usize = 128;

/// The same for F(4x4, 3x3), 36 planes a tile: of 16, 32, 48, 56, 96 and 128 tiles, 32 ran
/// ResNet-18's 64- and 128-channel layers fastest.
const BLOCK_TILES_F4: usize = 32;

/// Gathers address elements with 32-bit offsets: operands shorter than this use them.
pub(super) const GATHER_MAX: usize = 1 << 30;

/// One Winograd convolution: `c` input channels of `h x w` to `k` output channels of `oh x ow`,
/// in tiles of `m x m` outputs.
pub(super) struct Plan {
    /// Outputs down and across a tile: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3).
    pub(super) m: usize,
    pub(super) batch: usize,
    pub(super) c: usize,
    pub(super) k: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) ph: usize,
    pub(super) pw: usize,
    /// Tiles down and across one output plane.
    pub(super) th: usize,
    pub(super) tw: usize,
    /// Tile rows per block.
    pub(super) rows: usize,
}

impl Plan {
    pub(super) fn of(
        m: usize,
        batch: usize,
        c: usize,
        k: usize,
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Plan {
        let (th, tw) = (oh.div_ceil(m), ow.div_ceil(m));
        let block = if m == 2 { BLOCK_TILES_F2 } else { BLOCK_TILES_F4 };
        Plan { m, batch, c, k, h, w, oh, ow, ph, pw, th, tw, rows: (block / tw).max(1) }
    }
    /// Transformed planes of a tile: `(m + 2)^2`, one product each.
    pub(super) fn planes(&self) -> usize {
        (self.m + 2) * (self.m + 2)
    }
    /// (tile rows per block, blocks, parts) for `threads` threads: blocks of about
    /// [`BLOCK_TILES_F2`] or [`BLOCK_TILES_F4`] tiles, at least one per thread when there are
    /// few tiles, and the blocks split into consecutive runs, one per part.
    pub(super) fn blocks(&self, threads: usize) -> (usize, usize, usize) {
        let total_rows = self.batch * self.th;
        let per_block = self.rows.min(total_rows.div_ceil(threads.max(1))).max(1);
        let blocks = total_rows.div_ceil(per_block);
        (per_block, blocks, threads.min(blocks).max(1))
    }
    /// The tiles of block `b` of `per_block` tile rows.
    pub(super) fn block(&self, b: usize, per_block: usize) -> Tiles<'_> {
        let r0 = b * per_block;
        Tiles { p: self, r0, n: per_block.min(self.batch * self.th - r0) * self.tw, ks: 0..self.k }
    }
    /// Every tile of the batch, as one block.
    pub(super) fn all(&self) -> Tiles<'_> {
        self.block(0, self.batch * self.th)
    }
    /// Tiles of the whole batch.
    pub(super) fn tiles(&self) -> usize {
        self.batch * self.th * self.tw
    }
    /// Multiply-adds of the products over all tiles.
    pub(super) fn work(&self) -> usize {
        self.planes() * self.k * self.c * self.tiles()
    }
}

/// Where `transform_filters` reads and writes: row `o` of every matrix holds filters `(o, q)`
/// for `q < cols`, filter `(o, q)` at `w[o * so + q * sq..][..9]`, turned by 180 degrees when
/// `turned`.
pub(super) struct Filters<'a> {
    pub(super) w: &'a [f32],
    pub(super) u: SendPtr<f32>,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) so: usize,
    pub(super) sq: usize,
    pub(super) turned: bool,
}

impl Filters<'_> {
    /// Where tap `(a, b)` of a filter lies among its 9 weights.
    pub(super) fn tap(&self, a: usize, b: usize) -> usize {
        if self.turned { 8 - (a * 3 + b) } else { a * 3 + b }
    }

    /// Row `o` of every matrix, one filter at a time.
    ///
    /// # Safety
    /// `u` must hold `W::A^2 * rows * cols` elements, and no other thread may write row `o`.
    pub(super) unsafe fn row_scalar<W: Variant>(&self, o: usize) {
        for q in 0..self.cols {
            let g = |a: usize, b: usize| self.w[o * self.so + q * self.sq + self.tap(a, b)];
            W::filter(g, &Scalar, |e, v| {
                // SAFETY: e < A^2, so the element lies inside u (the caller's contract), in row o.
                unsafe { *self.u.get().add((e * self.rows + o) * self.cols + q) = v };
            });
        }
    }
}

/// The `n` tiles of a block: tile `t` is column `t % tw` of tile row `r0 + t / tw`, and tile
/// row `r` is row `r % th` of image `r / th`. The output-side transforms (`grads`, `outputs`)
/// cover output channels `ks` (all `k` unless [`Tiles::channels`] narrows them), row `f - ks.start`
/// of their matrices.
pub(super) struct Tiles<'a> {
    pub(super) p: &'a Plan,
    pub(super) r0: usize,
    pub(super) n: usize,
    pub(super) ks: std::ops::Range<usize>,
}

impl<'a> Tiles<'a> {
    /// The same tiles for output channels `ks` only.
    pub(super) fn channels(&self, ks: std::ops::Range<usize>) -> Tiles<'a> {
        debug_assert!(ks.end <= self.p.k);
        Tiles { p: self.p, r0: self.r0, n: self.n, ks }
    }

    /// (image, tile row, tile column) of tile `t`.
    pub(super) fn at(&self, t: usize) -> (usize, usize, usize) {
        let r = self.r0 + t / self.p.tw;
        (r / self.p.th, r % self.p.th, t % self.p.tw)
    }

    /// `V[xi][ch][t] = (B^T d B)[xi]` of every tile and input channel, zeros where a patch
    /// reads padding.
    pub(super) fn inputs_scalar<W: Variant>(&self, x: &[f32], v: &mut [f32]) {
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            for ch in 0..p.c {
                let plane = &x[(img * p.c + ch) * p.h * p.w..][..p.h * p.w];
                let d = |i: usize, j: usize| {
                    let (iy, ix) = ((W::M * ty + i).wrapping_sub(p.ph), (W::M * tx + j).wrapping_sub(p.pw));
                    if iy < p.h && ix < p.w { plane[iy * p.w + ix] } else { 0.0 }
                };
                W::input(d, &Scalar, |xi, val| v[(xi * p.c + ch) * self.n + t] = val);
            }
        }
    }

    /// `D[xi][f][t] = (A dy A^T)[xi]` of every tile and output channel of `ks`, from the
    /// output gradient `dy` (`(batch, k, oh, ow)`), zeros past the planes.
    pub(super) fn grads_scalar<W: Variant>(&self, dy: &[f32], d: &mut [f32]) {
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            let nk = self.ks.len();
            for (fi, f) in self.ks.clone().enumerate() {
                let g = |r: usize, q: usize| {
                    let (oy, ox) = (W::M * ty + r, W::M * tx + q);
                    if oy < p.oh && ox < p.ow { dy[((img * p.k + f) * p.oh + oy) * p.ow + ox] } else { 0.0 }
                };
                W::grad(g, &Scalar, |xi, val| d[(xi * nk + fi) * self.n + t] = val);
            }
        }
    }

    /// `y = A^T M A` (+ bias) of every tile and output channel of `ks`, written to the output planes
    /// at `out`; tiles past a plane's last row or column keep only their inside values.
    ///
    /// # Safety
    /// `out` must point to the whole `(batch, k, oh, ow)` output, valid for writes, and no
    /// other thread may access the output rows of these tiles meanwhile.
    pub(super) unsafe fn outputs_scalar<W: Variant>(&self, m: &[f32], bias: Option<&[f32]>, out: SendPtr<f32>) {
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            let nk = self.ks.len();
            for (fi, f) in self.ks.clone().enumerate() {
                let b = bias.map_or(0.0, |b| b[f]);
                let mv = |i: usize, j: usize| m[((i * W::A + j) * nk + fi) * self.n + t];
                W::output(mv, &Scalar, |e, val| {
                    let (oy, ox) = (W::M * ty + e / W::M, W::M * tx + e % W::M);
                    if oy < p.oh && ox < p.ow {
                        // SAFETY: the caller's contract; (img, f, oy, ox) is inside the output.
                        unsafe { *out.get().add(((img * p.k + f) * p.oh + oy) * p.ow + ox) = val + b };
                    }
                });
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Keeps this thread's transforms off AVX-512 (tests of the scalar path).
    pub(super) static SCALAR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
