//! Lowering by tap tables: for 2-D convolutions whose patch rows `im2col` would copy element
//! by element (a horizontal stride above 1, or output rows shorter than a vector, as in
//! ResNet's stride-2 layers and its 8x8 and 4x4 planes), the input position each kernel offset
//! reads for each output position is worked out once per call, and every row of the column
//! matrix is then one gather through that table (16 lanes at a time with AVX-512), its
//! gradient one gather, add and scatter. Short rows with a unit horizontal stride (LeNet's
//! second layer, 8 outputs a row) read consecutive inputs instead: one masked load and store
//! per output row ([`Segment`]), its gradient one masked load, add and store.

use super::geom::{ConvFloat, ConvGeom, Segment};

/// Output rows at least this long, read with a unit stride, stay on `im2col`'s own row loop:
/// one contiguous copy per row, as fast as the vectors' loads and stores get.
const COPY_MIN_ROW: usize = 16;

/// For one 2-D convolution geometry, the position in an input plane (`h * w`) that kernel
/// offset `(i, j)` reads for output position `o` (row-major over `oh x ow`): `idx[(i * kw + j)
/// * ohw + o]`, or -1 where the patch reads padding.
pub(super) struct Taps {
    idx: Vec<i32>,
    ohw: usize,
    hw: usize,
    /// With a unit horizontal stride and dilation and rows of at most 16: each kernel offset's
    /// run per output row (`segs[t * oh + oy]`), in place of the table's rows.
    segs: Option<Vec<Segment>>,
    ow: usize,
}

impl Taps {
    /// The table for `g`, when this element type gathers in vectors here (float32 with
    /// AVX-512) and `g` is a 2-D convolution whose rows are strided or short; None otherwise.
    pub(super) fn new<T: ConvFloat>(g: &ConvGeom) -> Option<Taps> {
        let two_d = g.d == 1 && g.kd == 1 && g.od == 1;
        let short_or_strided = g.sw != 1 || g.ow < COPY_MIN_ROW;
        if !(T::gathers() && two_d && short_or_strided) {
            return None;
        }
        Self::build(g)
    }

    /// The table of a 2-D geometry (None when a plane's positions overflow an `i32`, or the
    /// output is empty).
    fn build(g: &ConvGeom) -> Option<Taps> {
        let (ohw, hw) = (g.oh * g.ow, g.h * g.w);
        if hw > i32::MAX as usize || ohw == 0 {
            return None;
        }
        let mut idx = Vec::with_capacity(g.kh * g.kw * ohw);
        for i in 0..g.kh {
            for j in 0..g.kw {
                for oy in 0..g.oh {
                    let iy = (oy * g.sh + i * g.dh) as isize - g.ph as isize;
                    for ox in 0..g.ow {
                        let ix = (ox * g.sw + j * g.dw) as isize - g.pw as isize;
                        let inside = iy >= 0 && iy < g.h as isize && ix >= 0 && ix < g.w as isize;
                        idx.push(if inside { (iy as usize * g.w + ix as usize) as i32 } else { -1 });
                    }
                }
            }
        }
        let segs = (g.sw == 1 && g.dw == 1 && g.ow <= 16).then(|| {
            idx.chunks_exact(g.ow)
                .map(|row| {
                    let lanes = row.iter().enumerate().filter(|&(_, &i)| i >= 0);
                    let mask = lanes.clone().fold(0u16, |m, (l, _)| m | 1 << l);
                    // Consecutive lanes read consecutive positions: lane 0 would read `off`.
                    let off = lanes.map(|(l, &i)| i as isize - l as isize).next().unwrap_or(0);
                    Segment { off, mask }
                })
                .collect()
        });
        Some(Taps { idx, ohw, hw, segs, ow: g.ow })
    }

    /// Kernel offset `t`'s runs, one per output row.
    fn segments<'s>(&self, segs: &'s [Segment], t: usize) -> &'s [Segment] {
        let oh = self.ohw / self.ow;
        &segs[t * oh..(t + 1) * oh]
    }

    /// Kernel offset `t`'s row of the table.
    fn row(&self, t: usize) -> &[i32] {
        &self.idx[t * self.ohw..(t + 1) * self.ohw]
    }

    /// [`im2col`](super::im2col::im2col) through the table: `cg` input planes of `x` into
    /// `col`, row `r` at `r * ld`.
    pub(super) fn im2col<T: ConvFloat>(&self, x: &[T], cg: usize, col: &mut [T], ld: usize) {
        let taps = self.idx.len() / self.ohw;
        for c in 0..cg {
            let plane = &x[c * self.hw..(c + 1) * self.hw];
            for t in 0..taps {
                let dst = &mut col[(c * taps + t) * ld..][..self.ohw];
                match &self.segs {
                    // SAFETY: the runs' masked lanes are the table's indices, below h * w, the
                    // plane's length; `ow <= 16`, and the row holds `oh * ow` elements.
                    Some(segs) => unsafe { T::copy_segments(plane, self.segments(segs, t), self.ow, dst) },
                    // SAFETY: the table's indices are below h * w, the plane's length (`new`),
                    // and the row is `ohw` long, as each row of the table.
                    None => unsafe { T::gather_row(plane, self.row(t), dst) },
                }
            }
        }
    }

    /// [`col2im`](super::im2col::col2im) through the table: `col` (row `r` at `r * ld`) added
    /// onto `cg` input planes of `x`.
    pub(super) fn col2im<T: ConvFloat>(&self, col: &[T], cg: usize, x: &mut [T], ld: usize) {
        let taps = self.idx.len() / self.ohw;
        for c in 0..cg {
            let plane = &mut x[c * self.hw..(c + 1) * self.hw];
            for t in 0..taps {
                let src = &col[(c * taps + t) * ld..][..self.ohw];
                match &self.segs {
                    // SAFETY: as in `im2col`.
                    Some(segs) => unsafe { T::add_segments(src, self.segments(segs, t), self.ow, plane) },
                    // SAFETY: as in `im2col`; one kernel offset reads distinct input positions
                    // for distinct outputs (its index is linear in the output's row and column
                    // with positive strides), so no index of a row appears twice.
                    None => unsafe { T::scatter_add_row(src, self.row(t), plane) },
                }
            }
        }
    }
}

/// The float32 rows in AVX-512 vectors.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use std::arch::x86_64::{
        __m512i, __mmask16, _mm512_add_ps, _mm512_cmpge_epi32_mask, _mm512_mask_i32gather_ps,
        _mm512_mask_i32scatter_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_epi32, _mm512_maskz_loadu_ps,
        _mm512_setzero_ps, _mm512_setzero_si512,
    };

    use super::super::super::vmath::avx512::mask;
    use super::Segment;

    /// Whether the vector rows run here.
    pub(crate) fn available() -> bool {
        super::super::super::sgemm_avx512::available()
    }

    /// Lanes `o0..o0 + 16` of the table row `idx`: the lanes inside the row, their indices, and
    /// the lanes whose index is not negative.
    ///
    /// # Safety
    /// AVX-512F must be available; `o0 < idx.len()`.
    #[target_feature(enable = "avx512f")]
    unsafe fn lanes(idx: &[i32], o0: usize) -> (__mmask16, __m512i, __mmask16) {
        let tail = mask((idx.len() - o0).min(16));
        // SAFETY: the masked load reads only the lanes inside `idx`.
        let ix = unsafe { _mm512_maskz_loadu_epi32(tail, idx.as_ptr().add(o0)) };
        (tail, ix, _mm512_cmpge_epi32_mask(ix, _mm512_setzero_si512()) & tail)
    }

    /// [`ConvFloat::gather_row`](super::super::geom::ConvFloat::gather_row) for float32.
    ///
    /// # Safety
    /// AVX-512F must be available; every index of `idx` is below `plane.len()`, and `dst` is
    /// at least as long as `idx`.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn gather_row(plane: &[f32], idx: &[i32], dst: &mut [f32]) {
        for o0 in (0..idx.len()).step_by(16) {
            // SAFETY: o0 < idx.len(); the gather reads plane[idx] for the lanes with an index,
            // all inside the plane (the caller's contract); the store writes the row's lanes
            // inside `dst`.
            unsafe {
                let (tail, ix, read) = lanes(idx, o0);
                let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), read, ix, plane.as_ptr());
                _mm512_mask_storeu_ps(dst.as_mut_ptr().add(o0), tail, v);
            }
        }
    }

    /// [`ConvFloat::copy_segments`](super::super::geom::ConvFloat::copy_segments) for float32.
    ///
    /// # Safety
    /// AVX-512F must be available; `ow <= 16`; every lane in a mask reads inside `plane`, and
    /// `dst` holds `segs.len() * ow` elements.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn copy_segments(plane: &[f32], segs: &[Segment], ow: usize, dst: &mut [f32]) {
        assert!(ow <= 16 && dst.len() >= segs.len() * ow, "copy_segments: rows too long");
        let row = mask(ow);
        for (r, s) in segs.iter().enumerate() {
            // SAFETY: the masked load touches only the lanes in `s.mask`, inside the plane (the
            // caller's contract; the others are not accessed, so `off` may lie before the
            // plane); the store writes `ow` lanes of row r, inside `dst` (asserted).
            unsafe {
                let v = _mm512_maskz_loadu_ps(s.mask, plane.as_ptr().wrapping_offset(s.off));
                _mm512_mask_storeu_ps(dst.as_mut_ptr().add(r * ow), row, v);
            }
        }
    }

    /// [`ConvFloat::add_segments`](super::super::geom::ConvFloat::add_segments) for float32.
    ///
    /// # Safety
    /// As [`copy_segments`], with `src` for `dst`.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn add_segments(src: &[f32], segs: &[Segment], ow: usize, plane: &mut [f32]) {
        assert!(ow <= 16 && src.len() >= segs.len() * ow, "add_segments: rows too long");
        for (r, s) in segs.iter().enumerate() {
            // SAFETY: the loads and the store touch only the lanes in `s.mask`: of the plane
            // inside it (the caller's contract), of `src` inside row r (asserted).
            unsafe {
                let at = plane.as_mut_ptr().wrapping_offset(s.off);
                let v = _mm512_maskz_loadu_ps(s.mask, src.as_ptr().add(r * ow));
                let cur = _mm512_maskz_loadu_ps(s.mask, at);
                _mm512_mask_storeu_ps(at, s.mask, _mm512_add_ps(cur, v));
            }
        }
    }

    /// [`ConvFloat::scatter_add_row`](super::super::geom::ConvFloat::scatter_add_row) for
    /// float32.
    ///
    /// # Safety
    /// AVX-512F must be available; every index of `idx` is below `plane.len()`, no index
    /// appears twice, and `src` is at least as long as `idx`.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn scatter_add_row(src: &[f32], idx: &[i32], plane: &mut [f32]) {
        for o0 in (0..idx.len()).step_by(16) {
            // SAFETY: as `gather_row`; the lanes' indices are distinct, so the gather, add and
            // scatter of one vector add each source element once.
            unsafe {
                let (tail, ix, read) = lanes(idx, o0);
                let s = _mm512_maskz_loadu_ps(tail, src.as_ptr().add(o0));
                let cur = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), read, ix, plane.as_ptr());
                _mm512_mask_i32scatter_ps::<4>(plane.as_mut_ptr().cast(), read, ix, _mm512_add_ps(cur, s));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::geom::zero;
    use super::super::im2col::{col2im, im2col};
    use super::*;

    /// A one-group 2-D geometry of `c` channels on an `h x w` plane.
    fn geom(
        h: usize,
        w: usize,
        k: (usize, usize),
        s: (usize, usize),
        p: (usize, usize),
        d: (usize, usize),
    ) -> ConvGeom {
        let out = |n: usize, k: usize, s: usize, p: usize, d: usize| (n + 2 * p - (d * (k - 1) + 1)) / s + 1;
        ConvGeom {
            batch: 1,
            in_c: 3,
            d: 1,
            h,
            w,
            out_c: 2,
            groups: 1,
            kd: 1,
            kh: k.0,
            kw: k.1,
            sd: 1,
            sh: s.0,
            sw: s.1,
            pd: 0,
            ph: p.0,
            pw: p.1,
            dd: 1,
            dh: d.0,
            dw: d.1,
            od: 1,
            oh: out(h, k.0, s.0, p.0, d.0),
            ow: out(w, k.1, s.1, p.1, d.1),
        }
    }

    /// The table's lowering and its adjoint equal `im2col`'s and `col2im`'s, element for
    /// element, on float32 (vector rows where AVX-512 runs) and float64 (scalar rows), for
    /// strided, short, dilated and padded planes and rows longer than one vector, and short
    /// unit-stride rows read as runs (up to 16 lanes, rows wholly in the padding among them).
    #[test]
    fn tables_lower_as_im2col_does() {
        let cases = [
            geom(32, 32, (3, 3), (2, 2), (1, 1), (1, 1)),
            geom(8, 8, (3, 3), (1, 1), (1, 1), (1, 1)),
            geom(4, 4, (3, 3), (1, 1), (1, 1), (1, 1)),
            geom(9, 7, (1, 1), (2, 2), (0, 0), (1, 1)),
            geom(11, 37, (3, 2), (1, 3), (2, 1), (2, 1)),
            geom(5, 6, (3, 3), (2, 1), (3, 3), (1, 2)),
            geom(12, 12, (5, 5), (1, 1), (0, 0), (1, 1)),
            geom(7, 9, (5, 5), (1, 1), (2, 2), (1, 1)),
            geom(6, 18, (3, 3), (2, 1), (0, 0), (1, 1)),
        ];
        fn check<T: ConvFloat>(g: &ConvGeom, taps: &Taps) {
            let cg = g.in_c;
            let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
            let ld = ohw + 5;
            let rows = g.col_rows();
            let val = |i: usize| T::from((i * 37 % 101) as f64 / 10.0 - 5.0).unwrap();
            let x: Vec<T> = (0..cg * hw).map(val).collect();
            let mut want = vec![zero::<T>(); rows * ld];
            let mut got = want.clone();
            im2col(&x, g, cg, &mut want, ld);
            taps.im2col(&x, cg, &mut got, ld);
            assert_eq!(got, want, "{g:?}: im2col");
            let col: Vec<T> = (0..rows * ld).map(|i| val(i + 7)).collect();
            let mut want = vec![zero::<T>(); cg * hw];
            let mut got = want.clone();
            col2im(&col, g, cg, &mut want, ld);
            taps.col2im(&col, cg, &mut got, ld);
            assert_eq!(got, want, "{g:?}: col2im");
        }
        for g in &cases {
            let taps = Taps::build(g).expect("a 2-D geometry has a table");
            assert_eq!(taps.segs.is_some(), g.sw == 1 && g.dw == 1 && g.ow <= 16, "{g:?}");
            check::<f32>(g, &taps);
            check::<f64>(g, &taps);
        }
    }

    /// Wide rows with a unit stride keep `im2col`'s copies; other data than 2-D has no table.
    #[test]
    fn tables_are_built_only_for_strided_or_short_rows() {
        assert!(Taps::new::<f32>(&geom(32, 32, (3, 3), (1, 1), (1, 1), (1, 1))).is_none());
        assert!(Taps::new::<f64>(&geom(8, 8, (3, 3), (1, 1), (1, 1), (1, 1))).is_none());
        let g = geom(8, 8, (3, 3), (2, 2), (1, 1), (1, 1));
        assert!(Taps::new::<f32>(&ConvGeom { d: 3, kd: 2, od: 2, ..g }).is_none());
        assert_eq!(Taps::new::<f32>(&g).is_some(), <f32 as ConvFloat>::gathers());
    }
}
