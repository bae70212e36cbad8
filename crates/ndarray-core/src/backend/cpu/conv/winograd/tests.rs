//! Tests of the Winograd kernels against the direct sums.

use super::super::{ConvGeom, conv_backward_data, conv_backward_weight, conv_forward};
use super::tiles::SCALAR;
use super::*;

fn geom(batch: usize, c: usize, k: usize, h: usize, w: usize, ph: usize, pw: usize) -> ConvGeom {
    ConvGeom {
        batch,
        in_c: c,
        d: 1,
        h,
        w,
        out_c: k,
        groups: 1,
        kd: 1,
        kh: 3,
        kw: 3,
        sd: 1,
        sh: 1,
        sw: 1,
        pd: 0,
        ph,
        pw,
        dd: 1,
        dh: 1,
        dw: 1,
        od: 1,
        oh: h + 2 * ph - 2,
        ow: w + 2 * pw - 2,
    }
}

/// Calls `tap(y, x, w)` for every output element `y`, input element `x` and weight `w` that
/// the convolution multiplies together (flat indices; padding skipped).
fn for_each_tap(g: &ConvGeom, mut tap: impl FnMut(usize, usize, usize)) {
    for n in 0..g.batch {
        for f in 0..g.out_c {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let y = ((n * g.out_c + f) * g.oh + oy) * g.ow + ox;
                    for c in 0..g.in_c {
                        for i in 0..3 {
                            for j in 0..3 {
                                let (iy, ix) = ((oy + i).wrapping_sub(g.ph), (ox + j).wrapping_sub(g.pw));
                                if iy < g.h && ix < g.w {
                                    tap(
                                        y,
                                        ((n * g.in_c + c) * g.h + iy) * g.w + ix,
                                        ((f * g.in_c + c) * 3 + i) * 3 + j,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The direct sums, in float64.
fn direct(x: &[f32], wt: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Vec<f64> {
    let plane = g.oh * g.ow;
    let mut y: Vec<f64> =
        (0..g.batch * g.out_c * plane).map(|e| bias.map_or(0.0, |b| b[e / plane % g.out_c] as f64)).collect();
    for_each_tap(g, |o, i, k| y[o] += x[i] as f64 * wt[k] as f64);
    y
}

/// The data gradient by its definition (each output gradient spread over its patch), in
/// float64.
fn direct_dx(dy: &[f32], wt: &[f32], g: &ConvGeom) -> Vec<f64> {
    let mut dx = vec![0.0f64; g.batch * g.in_c * g.h * g.w];
    for_each_tap(g, |o, i, k| dx[i] += dy[o] as f64 * wt[k] as f64);
    dx
}

/// The weight gradient by its definition, in float64.
fn direct_dw(dy: &[f32], x: &[f32], g: &ConvGeom) -> Vec<f64> {
    let mut dw = vec![0.0f64; g.out_c * g.in_c * 9];
    for_each_tap(g, |o, i, k| dw[k] += dy[o] as f64 * x[i] as f64);
    dw
}

/// F(4x4, 3x3)'s error bound, relative to the sums' scale: its transforms multiply by up to
/// 8 and divide by 24, so its roundings weigh more than F(2x2, 3x3)'s.
const TOL_F4: f64 = 2e-6;

fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// Within `tol * scale` of the float64 sums, element by element; returns the largest error
/// over `scale`.
fn close(got: &[f32], want: &[f64], scale: f64, tol: f64) -> f64 {
    assert_eq!(got.len(), want.len());
    let mut worst = 0.0f64;
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        let err = (a as f64 - b).abs() / scale;
        assert!(err <= tol, "element {i}: {a} vs {b}");
        worst = worst.max(err);
    }
    worst
}

/// Odd and even planes, a plane smaller than a tile, paddings 0-2 either way, several
/// blocks per image and several images per block, serial and split, with the AVX-512
/// transforms (where the CPU has them) and without; the last shape has enough tiles for
/// the convolution kernels to choose this path themselves.
#[test]
fn matches_the_direct_sums() {
    let shapes = [
        (4, 16, 16, 16, 16, 1, 1),
        (2, 16, 17, 8, 8, 1, 1),
        (3, 20, 16, 7, 9, 1, 0),
        (1, 16, 16, 5, 3, 2, 2),
        (2, 18, 16, 1, 1, 1, 1),
        (1, 16, 24, 33, 30, 1, 1),
        (5, 16, 16, 4, 4, 0, 2),
        (1, 17, 19, 3, 4, 0, 1),
        (1, 40, 70, 4, 4, 1, 1),
        (2, 70, 36, 4, 6, 1, 1),
    ];
    for (case, &(b, c, k, h, w, ph, pw)) in shapes.iter().enumerate() {
        let g = geom(b, c, k, h, w, ph, pw);
        if g.oh == 0 || g.ow == 0 {
            continue;
        }
        assert!(applies(&g), "{g:?}");
        let x = values(b * c * h * w, case as u32);
        let wt = values(k * c * 9, 100 + case as u32);
        let bias = values(k, 200 + case as u32);
        let scale = (c * 9) as f64;
        let want = direct(&x, &wt, Some(&bias), &g);
        let dy = values(b * k * g.oh * g.ow, 300 + case as u32);
        let want_dx = direct_dx(&dy, &wt, &g);
        let want_dw = direct_dw(&dy, &x, &g);
        let runs = [(Parallelism::SERIAL, false), (Parallelism::whole_pool(), false), (Parallelism::SERIAL, true)];
        let dw_scale = (b * g.oh * g.ow) as f64;
        for (par, scalar) in runs {
            SCALAR.with(|s| s.set(scalar));
            for (m, tol) in [(2, 2e-7), (4, TOL_F4)] {
                let pick = Pick::Tiles(m);
                close(&forward_as(par, &x, &wt, Some(&bias), &g, pick).unwrap(), &want, scale, tol);
                close(&backward_data_as(par, &dy, &wt, &g, pick).unwrap(), &want_dx, (k * 9) as f64, tol);
                close(&backward_weight_as(par, &dy, &x, &g, pick).unwrap(), &want_dw, dw_scale, tol);
            }
            close(&conv_forward(par, &x, &wt, Some(&bias), &g), &want, scale, TOL_F4);
            close(&conv_backward_data(par, &dy, &wt, &g), &want_dx, (k * 9) as f64, TOL_F4);
            close(&conv_backward_weight(par, &dy, &x, &g), &want_dw, dw_scale, TOL_F4);
            SCALAR.with(|s| s.set(false));
        }
        assert_eq!(
            forward(Parallelism::SERIAL, &x, &wt, None, &g).is_some(),
            b * g.oh.div_ceil(2) * g.ow.div_ceil(2) >= MIN_TILES
                || b * g.oh.div_ceil(4) * g.ow.div_ceil(4) >= MIN_TILES_F4
        );
    }
}

#[test]
fn takes_only_what_it_computes() {
    let g = geom(1, 16, 16, 8, 8, 1, 1);
    assert!(applies(&g));
    assert!(!applies(&ConvGeom { sh: 2, oh: 4, ..g }));
    assert!(!applies(&ConvGeom { groups: 2, ..g }));
    assert!(!applies(&ConvGeom { dh: 2, oh: 4, ..g }));
    assert!(!applies(&ConvGeom { in_c: 3, ..g }));
    assert!(!applies(&ConvGeom { kh: 5, oh: 6, ph: 2, ..g }));
    assert!(!applies(&ConvGeom { ph: 3, oh: 12, ..g }));
}

/// The transformed filters (36 times the weight for F(4x4, 3x3)) go back to the buffer pool
/// after the forward pass and the data gradient, so a training loop reuses them instead of
/// faulting in fresh pages at every step.
#[test]
fn transformed_filters_go_back_to_the_pool() {
    // Channel counts no other test uses, so that the size is this test's own.
    let (c, k) = (29, 31);
    let g = geom(1, c, k, 8, 8, 1, 1);
    let x = values(c * 64, 1);
    let wt = values(k * c * 9, 2);
    let dy = values(k * 64, 3);
    let held = |len: usize| {
        crate::pool::pooled_sizes().iter().any(|&(d, n, count)| d == crate::dtype::DType::F32 && n == len && count > 0)
    };
    let u_len = 36 * k * c;
    for _ in 0..2 {
        forward_as(Parallelism::SERIAL, &x, &wt, None, &g, Pick::Tiles(4)).unwrap();
    }
    assert!(held(u_len), "the forward pass's transformed filters were not pooled");
    let taken = crate::pool::take(crate::dtype::DType::F32, u_len);
    assert!(taken.is_some());
    for _ in 0..2 {
        backward_data_as(Parallelism::SERIAL, &dy, &wt, &g, Pick::Tiles(4)).unwrap();
    }
    assert!(held(u_len), "the data gradient's transformed filters were not pooled");
}
