//! Host kernels of BatchNorm and its backward against a direct float64 computation.

use super::*;
use crate::backend::cpu::Parallelism;
use crate::context::Context;

/// Runs `op` on the host with `par` over `ins` (dtype, shape, values): the outputs' values.
fn run(op: &dyn Operator, ins: &[(DType, &[usize], &[f64])], train: bool, par: Parallelism) -> Vec<Vec<f64>> {
    let stores: Vec<CpuStorage> = ins.iter().map(|i| wrap_as(i.0, i.2.to_vec())).collect();
    let tins: Vec<TensorIn<'_>> =
        stores.iter().zip(ins).map(|(s, i)| TensorIn { data: s, offset: 0, shape: i.1 }).collect();
    let shapes: Vec<Shape> = ins.iter().map(|i| i.1.to_vec()).collect();
    let dts: Vec<DType> = ins.iter().map(|i| i.0).collect();
    let (shapes, dts) = (op.infer_shape(&shapes).unwrap(), op.infer_dtype(&dts).unwrap());
    let mut ctx = OpCtx { ctx: Context::default(), rng: None, is_train: train, par };
    let outs = op.forward(&mut ctx, &tins, &shapes, &dts).unwrap();
    outs.iter().map(|s| (0..s.len()).map(|i| s.get_f64(i)).collect()).collect()
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w}");
    }
}

/// Values in [-1, 1) from a linear congruential generator, shifted by `i % 5` so that the
/// channel means differ from 0.
fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0 + (i % 5) as f64
        })
        .collect()
}

/// The forward and backward host kernels on data large enough to run in parallel, with long
/// channel runs (axis 1, with and without a tail of lanes) and short ones (the last axis, an
/// axis before a short one), in training (with and without fix_gamma), with global statistics
/// and in inference, against a direct float64 computation (and against the same kernels on one
/// thread).
#[test]
fn batch_norm_parallel_matches_float64_reference() {
    for (dt, tol) in [(DType::F64, 1e-10), (DType::F32, 2e-5)] {
        let cases: [(&[usize], i64); 4] =
            [(&[4, 8, 3000], 1), (&[16, 8, 5, 150], 1), (&[4, 3000, 8], -1), (&[4, 8, 600, 5], 2)];
        for (shape, axis) in cases {
            let mut bn = BatchNorm::parse(NAME, &Attrs::from_pairs([("eps", "1e-5")])).unwrap();
            bn.axis = axis;
            let (outer, ch, inner) = bn.layout(shape).unwrap();
            let n = outer * ch * inner;
            // The element indices of each channel: channel k of element i is (i / inner) % ch.
            let mut of: Vec<Vec<usize>> = vec![vec![]; ch];
            (0..n).for_each(|i| of[(i / inner) % ch].push(i));
            // Inputs rounded to `dt` as the kernels see them.
            let round = |v: Vec<f64>| -> Vec<f64> {
                let s = wrap_as(dt, v);
                (0..s.len()).map(|i| s.get_f64(i)).collect()
            };
            let (x, og) = (round(data(n, 1)), round(data(n, 2)));
            let (gamma, beta) = (data(ch, 3), data(ch, 4));
            let (mm, mv) = (data(ch, 5), data(ch, 6).iter().map(|v| v.abs() + 0.5).collect::<Vec<_>>());
            for (train, global, fix) in
                [(true, false, false), (true, true, false), (false, false, false), (true, false, true)]
            {
                (bn.fix_gamma, bn.use_global_stats) = (fix, global);
                let batch = train && !global;
                let (p, sh, c1) = (BatchNorm::param_dtype(dt), shape, &[ch][..]);
                let ins = [(dt, sh, &x[..]), (p, c1, &gamma), (p, c1, &beta), (p, c1, &mm), (p, c1, &mv)];
                let fw = run(&bn, &ins, train, Parallelism::whole_pool());
                assert_eq!(fw, run(&bn, &ins, train, Parallelism::SERIAL), "parallel vs serial forward");
                let at = |k: usize| of[k].iter().copied();
                let m = (outer * inner) as f64;
                let mut want = [vec![0.0; n], vec![0.0; ch], vec![0.0; ch], mm.clone(), mv.clone()];
                let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; ch], vec![0.0; ch]);
                for k in 0..ch {
                    let (mean, var) = if batch {
                        let mean = at(k).map(|i| x[i]).sum::<f64>() / m;
                        (mean, at(k).map(|i| (x[i] - mean).powi(2)).sum::<f64>() / m)
                    } else {
                        (mm[k], mv[k])
                    };
                    let (invstd, gk) = (1.0 / (var + 1e-5).sqrt(), if fix { 1.0 } else { gamma[k] });
                    (want[1][k], want[2][k]) = (mean, invstd);
                    if batch {
                        (want[3][k], want[4][k]) = (mm[k] * 0.9 + mean * 0.1, mv[k] * 0.9 + var * 0.1);
                    }
                    let xhat = |i: usize| (x[i] - mean) * invstd;
                    for i in at(k) {
                        want[0][i] = gk * xhat(i) + beta[k];
                    }
                    dbeta[k] = at(k).map(|i| og[i]).sum::<f64>();
                    dgamma[k] = at(k).map(|i| og[i] * xhat(i)).sum::<f64>();
                    for i in at(k) {
                        let d = if batch { og[i] - dbeta[k] / m - xhat(i) * dgamma[k] / m } else { og[i] };
                        dx[i] = gk * invstd * d;
                    }
                }
                if fix {
                    dgamma = vec![0.0; ch];
                }
                for (j, what) in ["out", "mean", "invstd", "moving_mean", "moving_var"].iter().enumerate() {
                    close(&format!("{dt} axis {axis} train {train} global {global} {what}"), &fw[j], &want[j], tol);
                }
                let back = BatchNormBackward(bn.clone());
                let ins = [(dt, sh, &og[..]), (dt, sh, &x[..]), (p, c1, &gamma), (p, c1, &fw[1]), (p, c1, &fw[2])];
                let bw = run(&back, &ins, train, Parallelism::whole_pool());
                assert_eq!(bw, run(&back, &ins, train, Parallelism::SERIAL), "parallel vs serial backward");
                for (j, (what, want)) in [("dx", &dx), ("dgamma", &dgamma), ("dbeta", &dbeta)].iter().enumerate() {
                    close(&format!("{dt} axis {axis} train {train} global {global} {what}"), &bw[j], want, tol);
                }
            }
        }
    }
}
