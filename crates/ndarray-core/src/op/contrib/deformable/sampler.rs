//! Bilinear sampling at fractional positions with the derivatives the deformable convolutions
//! need: each sample is a sum over up to four taps (a pixel index and its weight), and the
//! derivatives of the sampled value along `y` and `x` are sums over the same taps.

/// How a sample outside the pixel grid behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sampling {
    /// `DeformableConvolution`'s CPU kernel: a point counts when `0 <= y < H` and `0 <= x < W`,
    /// and a point in the last row or column takes that row or column (the far neighbour is the
    /// same pixel).
    Clamped,
    /// `ModulatedDeformableConvolution` (DCN v2): a point counts when `-1 < y < H` and
    /// `-1 < x < W`, and neighbours outside the map read as zero.
    ZeroPad,
}

/// One neighbour of a sampling point: a pixel index, its bilinear weight, and the derivatives of
/// that weight along `y` and `x`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tap {
    /// Pixel index `row * width + col` in the channel's map.
    pub idx: usize,
    /// Bilinear weight.
    pub w: f64,
    /// Derivative of the weight along `y`.
    pub dy: f64,
    /// Derivative of the weight along `x`.
    pub dx: f64,
}

/// The taps of a sampling point (at most four).
#[derive(Debug, Default)]
pub(super) struct Taps {
    taps: [Option<Tap>; 4],
}

impl Taps {
    /// The taps present.
    pub fn iter(&self) -> impl Iterator<Item = &Tap> {
        self.taps.iter().flatten()
    }

    /// The sampled value of `img`.
    pub fn value(&self, img: &[f64]) -> f64 {
        self.iter().map(|t| t.w * img[t.idx]).sum()
    }

    /// The derivatives of the sampled value along `y` and `x`.
    pub fn grad(&self, img: &[f64]) -> (f64, f64) {
        self.iter().fold((0.0, 0.0), |(gy, gx), t| (gy + t.dy * img[t.idx], gx + t.dx * img[t.idx]))
    }
}

impl Sampling {
    /// The taps of the point `(y, x)` in an `h` x `w` map; empty where the point reads zero.
    pub fn taps(self, h: usize, w: usize, y: f64, x: f64) -> Taps {
        let (hf, wf) = (h as f64, w as f64);
        match self {
            Sampling::Clamped => {
                if !(y >= 0.0 && x >= 0.0 && y < hf && x < wf) {
                    return Taps::default();
                }
                let (yl, yh, y) = clamp_high(y, h);
                let (xl, xh, x) = clamp_high(x, w);
                let cells = [(yl, xl), (yl, xh), (yh, xl), (yh, xh)];
                let (ly, lx) = (y - yl as f64, x - xl as f64);
                build(cells.map(|(r, c)| Some(r * w + c)), ly, lx)
            }
            Sampling::ZeroPad => {
                if !(y > -1.0 && x > -1.0 && y < hf && x < wf) {
                    return Taps::default();
                }
                let (yl, xl) = (y.floor(), x.floor());
                let (ly, lx) = (y - yl, x - xl);
                let (yl, xl) = (yl as i64, xl as i64);
                let at = |r: i64, c: i64| {
                    (r >= 0 && c >= 0 && r < h as i64 && c < w as i64).then(|| r as usize * w + c as usize)
                };
                build([at(yl, xl), at(yl, xl + 1), at(yl + 1, xl), at(yl + 1, xl + 1)], ly, lx)
            }
        }
    }
}

/// The low and high neighbours of a coordinate in `[0, n)`, and the coordinate itself: in the
/// last cell both neighbours are the last pixel and the coordinate snaps to it.
fn clamp_high(v: f64, n: usize) -> (usize, usize, f64) {
    let low = v.floor() as usize;
    if low >= n - 1 { (n - 1, n - 1, (n - 1) as f64) } else { (low, low + 1, v) }
}

/// Taps of the cells (low-low, low-high, high-low, high-high) at fractions `ly`, `lx`.
fn build(cells: [Option<usize>; 4], ly: f64, lx: f64) -> Taps {
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    let weights = [(hy * hx, -hx, -hy), (hy * lx, -lx, hy), (ly * hx, hx, -ly), (ly * lx, lx, ly)];
    let mut taps = Taps::default();
    for (slot, (cell, (w, dy, dx))) in taps.taps.iter_mut().zip(cells.into_iter().zip(weights)) {
        *slot = cell.map(|idx| Tap { idx, w, dy, dx });
    }
    taps
}
