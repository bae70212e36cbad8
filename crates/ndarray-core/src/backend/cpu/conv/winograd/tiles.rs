//! The pieces every Winograd kernel shares: the plan of a convolution, its blocks of tiles,
//! the filters' layout, the four transforms written once for scalars and vectors alike, and the
//! scalar transforms of whole blocks (the AVX-512 ones are in `avx512`).

use super::super::super::SendPtr;

/// A block of tile rows aims at about this many tiles (columns of each product).
const BLOCK_TILES: usize = 128;

/// Gathers address elements with 32-bit offsets: operands shorter than this use them.
pub(super) const GATHER_MAX: usize = 1 << 30;

/// One Winograd convolution: `c` input channels of `h x w` to `k` output channels of `oh x ow`.
pub(super) struct Plan {
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
        batch: usize,
        c: usize,
        k: usize,
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Plan {
        let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
        Plan { batch, c, k, h, w, oh, ow, ph, pw, th, tw, rows: (BLOCK_TILES / tw).max(1) }
    }
    /// (tile rows per block, blocks, parts) for `threads` threads: blocks of about
    /// [`BLOCK_TILES`] tiles, at least one per thread when there are few tiles, and the blocks
    /// split into consecutive runs, one per part.
    pub(super) fn blocks(&self, threads: usize) -> (usize, usize, usize) {
        let total_rows = self.batch * self.th;
        let per_block = self.rows.min(total_rows.div_ceil(threads.max(1))).max(1);
        let blocks = total_rows.div_ceil(per_block);
        (per_block, blocks, threads.min(blocks).max(1))
    }
    /// The tiles of block `b` of `per_block` tile rows.
    pub(super) fn block(&self, b: usize, per_block: usize) -> Tiles<'_> {
        let r0 = b * per_block;
        Tiles { p: self, r0, n: per_block.min(self.batch * self.th - r0) * self.tw }
    }
    /// Tiles of the whole batch.
    pub(super) fn tiles(&self) -> usize {
        self.batch * self.th * self.tw
    }
    /// Multiply-adds of the 16 products over all tiles.
    pub(super) fn work(&self) -> usize {
        16 * self.k * self.c * self.tiles()
    }
}

/// Where [`transform_filters`] reads and writes.
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
    /// Matrix of transform value (i, j).
    pub(super) fn plane(&self, i: usize, j: usize) -> usize {
        let s = |i: usize| if self.turned { [3, 1, 2, 0][i] } else { i };
        s(i) * 4 + s(j)
    }

    /// Row `o` of every matrix, one filter at a time.
    ///
    /// # Safety
    /// `u` must hold 16 * rows * cols elements, and no other thread may write row `o`.
    pub(super) unsafe fn row_scalar(&self, o: usize) {
        for q in 0..self.cols {
            let g: [f32; 9] = std::array::from_fn(|e| self.w[o * self.so + q * self.sq + e]);
            let t = filter_transform(|a, b| g[a * 3 + b], |x, y| x + y, |x, y| x - y, |x| 0.5 * x);
            for (e, v) in t.into_iter().enumerate() {
                let at = (self.plane(e / 4, e % 4) * self.rows + o) * self.cols + q;
                // SAFETY: at < 16 * rows * cols (the caller's contract), in row o.
                unsafe { *self.u.get().add(at) = v };
            }
        }
    }
}

/// `G g G^T` (row-major 4x4) of the filter `g(a, b)`, in any arithmetic: scalars or vectors of
/// filters.
#[inline(always)]
pub(super) fn filter_transform<V: Copy>(
    g: impl Fn(usize, usize) -> V,
    add: impl Fn(V, V) -> V,
    sub: impl Fn(V, V) -> V,
    half: impl Fn(V) -> V,
) -> [V; 16] {
    // Rows of G g, then each row times G^T.
    let gg: [[V; 3]; 4] = std::array::from_fn(|i| {
        std::array::from_fn(|b| {
            let (x, y, z) = (g(0, b), g(1, b), g(2, b));
            match i {
                0 => x,
                1 => half(add(add(x, y), z)),
                2 => half(add(sub(x, y), z)),
                _ => z,
            }
        })
    });
    std::array::from_fn(|e| {
        let [x, y, z] = gg[e / 4];
        match e % 4 {
            0 => x,
            1 => half(add(add(x, y), z)),
            2 => half(add(sub(x, y), z)),
            _ => z,
        }
    })
}

/// `B^T d B` (row-major 4x4) of the patch `d(i, j)`, `B^T` = [[1, 0, -1, 0], [0, 1, 1, 0],
/// [0, -1, 1, 0], [0, 1, 0, -1]].
#[inline(always)]
pub(super) fn input_transform<V: Copy>(
    d: impl Fn(usize, usize) -> V,
    add: impl Fn(V, V) -> V,
    sub: impl Fn(V, V) -> V,
) -> [V; 16] {
    let comb = |x0: V, x1: V, x2: V, x3: V| [sub(x0, x2), add(x1, x2), sub(x2, x1), sub(x1, x3)];
    let cols: [[V; 4]; 4] = std::array::from_fn(|j| comb(d(0, j), d(1, j), d(2, j), d(3, j)));
    let rows: [[V; 4]; 4] = std::array::from_fn(|i| comb(cols[0][i], cols[1][i], cols[2][i], cols[3][i]));
    std::array::from_fn(|e| rows[e / 4][e % 4])
}

/// `A^T M A` (row-major 2x2) of the 4x4 `m(i, j)`, `A^T` = [[1, 1, 1, 0], [0, 1, -1, -1]].
#[inline(always)]
pub(super) fn output_transform<V: Copy>(
    m: impl Fn(usize, usize) -> V,
    add: impl Fn(V, V) -> V,
    sub: impl Fn(V, V) -> V,
) -> [V; 4] {
    let comb = |x0: V, x1: V, x2: V, x3: V| [add(add(x0, x1), x2), sub(sub(x1, x2), x3)];
    let cols: [[V; 2]; 4] = std::array::from_fn(|j| comb(m(0, j), m(1, j), m(2, j), m(3, j)));
    let rows: [[V; 2]; 2] = std::array::from_fn(|r| comb(cols[0][r], cols[1][r], cols[2][r], cols[3][r]));
    [rows[0][0], rows[0][1], rows[1][0], rows[1][1]]
}

/// `A dy A^T` (row-major 4x4) of the 2x2 `dy(r, q)`, `A` = [[1, 0], [1, 1], [1, -1], [0, -1]].
#[inline(always)]
pub(super) fn grad_transform<V: Copy>(
    dy: impl Fn(usize, usize) -> V,
    add: impl Fn(V, V) -> V,
    sub: impl Fn(V, V) -> V,
    neg: impl Fn(V) -> V,
) -> [V; 16] {
    let spread = |a: V, b: V| [a, add(a, b), sub(a, b), neg(b)];
    let cols: [[V; 4]; 2] = std::array::from_fn(|q| spread(dy(0, q), dy(1, q)));
    let rows: [[V; 4]; 4] = std::array::from_fn(|i| spread(cols[0][i], cols[1][i]));
    std::array::from_fn(|e| rows[e / 4][e % 4])
}

/// The `n` tiles of a block: tile `t` is column `t % tw` of tile row `r0 + t / tw`, and tile
/// row `r` is row `r % th` of image `r / th`.
pub(super) struct Tiles<'a> {
    pub(super) p: &'a Plan,
    pub(super) r0: usize,
    pub(super) n: usize,
}

impl Tiles<'_> {
    /// (image, tile row, tile column) of tile `t`.
    pub(super) fn at(&self, t: usize) -> (usize, usize, usize) {
        let r = self.r0 + t / self.p.tw;
        (r / self.p.th, r % self.p.th, t % self.p.tw)
    }

    /// `V[xi][ch][t] = (B^T d B)[xi]` of every tile and input channel, zeros where a patch
    /// reads padding.
    pub(super) fn inputs_scalar(&self, x: &[f32], v: &mut [f32]) {
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            for ch in 0..p.c {
                let plane = &x[(img * p.c + ch) * p.h * p.w..][..p.h * p.w];
                let d = |i: usize, j: usize| {
                    let (iy, ix) = ((2 * ty + i).wrapping_sub(p.ph), (2 * tx + j).wrapping_sub(p.pw));
                    if iy < p.h && ix < p.w { plane[iy * p.w + ix] } else { 0.0 }
                };
                for (xi, val) in input_transform(d, |a, b| a + b, |a, b| a - b).into_iter().enumerate() {
                    v[(xi * p.c + ch) * self.n + t] = val;
                }
            }
        }
    }

    /// `D[xi][f][t] = (A dy A^T)[xi]` of every tile and output channel, from the output
    /// gradient `dy` (`(batch, k, oh, ow)`), zeros past the planes.
    pub(super) fn grads_scalar(&self, dy: &[f32], d: &mut [f32]) {
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            for f in 0..p.k {
                let g = |r: usize, q: usize| {
                    let (oy, ox) = (2 * ty + r, 2 * tx + q);
                    if oy < p.oh && ox < p.ow { dy[((img * p.k + f) * p.oh + oy) * p.ow + ox] } else { 0.0 }
                };
                for (xi, val) in grad_transform(g, |a, b| a + b, |a, b| a - b, |a| -a).into_iter().enumerate() {
                    d[(xi * p.k + f) * self.n + t] = val;
                }
            }
        }
    }

    /// `y = A^T M A` (+ bias) of every tile and output channel, written to the output planes
    /// at `out`; tiles past a plane's last row or column keep only their inside values.
    ///
    /// # Safety
    /// `out` must point to the whole `(batch, k, oh, ow)` output, valid for writes, and no
    /// other thread may access the output rows of these tiles meanwhile.
    pub(super) unsafe fn outputs_scalar(&self, m: &[f32], bias: Option<&[f32]>, out: SendPtr<f32>) {
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            for f in 0..p.k {
                let b = bias.map_or(0.0, |b| b[f]);
                let y = output_transform(|i, j| m[((i * 4 + j) * p.k + f) * self.n + t], |a, b| a + b, |a, b| a - b);
                for (e, val) in y.into_iter().enumerate() {
                    let (oy, ox) = (2 * ty + e / 2, 2 * tx + e % 2);
                    if oy < p.oh && ox < p.ow {
                        // SAFETY: the caller's contract; (img, f, oy, ox) is inside the output.
                        unsafe { *out.get().add(((img * p.k + f) * p.oh + oy) * p.ow + ox) = val + b };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Keeps this thread's transforms off AVX-512 (tests of the scalar path).
    pub(super) static SCALAR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
