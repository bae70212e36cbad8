//! Finite-difference checks of the linalg gradients (float64), and the registry entries.

use crate::eager_grad::testing::{arr, check, vals};
use crate::ndarray::NDArray;
use crate::op::grad::test_values;
use crate::op::{Attrs, registry};

/// Square matrices (the last two axes of `shape`) in [-1, 1) plus `n` times the identity: well
/// conditioned, with a positive diagonal.
fn dd(shape: &[usize], seed: u64) -> NDArray {
    let n = shape[shape.len() - 1];
    let mut v = test_values(shape.iter().product(), seed);
    for (i, x) in v.iter_mut().enumerate() {
        if (i / n) % n == i % n {
            *x += n as f64;
        }
    }
    vals(shape, &v)
}

#[test]
fn products_gradients() {
    for (ta, tb) in [("False", "False"), ("True", "False"), ("False", "True"), ("True", "True")] {
        let (sa, sb): (&[usize], &[usize]) = match (ta, tb) {
            ("False", "False") => (&[2, 3, 4], &[2, 4, 5]),
            ("True", "False") => (&[2, 4, 3], &[2, 4, 5]),
            ("False", "True") => (&[2, 3, 4], &[2, 5, 4]),
            _ => (&[2, 4, 3], &[2, 5, 4]),
        };
        let attrs = [("transpose_a", ta), ("transpose_b", tb), ("alpha", "1.5")];
        check("_linalg_gemm2", &attrs, &[arr(sa, 1), arr(sb, 2)], &[0, 1]);
        let attrs = [("transpose_a", ta), ("transpose_b", tb), ("alpha", "0.5"), ("beta", "-2")];
        check("_linalg_gemm", &attrs, &[arr(sa, 1), arr(sb, 2), arr(&[2, 3, 5], 3)], &[0, 1, 2]);
    }
    // Rows on axis 0: (3, 2, 4) holds two 3 x 4 matrices.
    check(
        "_linalg_gemm2",
        &[("axis", "0"), ("transpose_b", "True")],
        &[arr(&[3, 2, 4], 4), arr(&[5, 2, 4], 5)],
        &[0, 1],
    );
}

#[test]
fn triangular_gradients() {
    for (right, lower, trans) in [("False", "True", "False"), ("True", "False", "True"), ("True", "True", "False")] {
        let attrs = [("rightside", right), ("lower", lower), ("transpose", trans), ("alpha", "1.5")];
        let b = if right == "True" { arr(&[2, 4, 3], 7) } else { arr(&[2, 3, 4], 7) };
        check("_linalg_trmm", &attrs, &[arr(&[2, 3, 3], 6), b.clone()], &[0, 1]);
        check("_linalg_trsm", &attrs, &[dd(&[2, 3, 3], 6), b], &[0, 1]);
    }
    check("_linalg_syrk", &[("alpha", "0.7")], &[arr(&[2, 3, 4], 8)], &[0]);
    check("_linalg_syrk", &[("transpose", "True")], &[arr(&[3, 4], 9)], &[0]);
}

#[test]
fn factorization_gradients() {
    check("_linalg_gelqf", &[], &[arr(&[2, 3, 5], 10)], &[0]);
    check("_linalg_gelqf", &[], &[dd(&[3, 3], 11)], &[0]);
    check("_linalg_potri", &[], &[dd(&[2, 3, 3], 12)], &[0]);
    check("_linalg_potri", &[("lower", "False")], &[dd(&[3, 3], 13)], &[0]);
    check("_linalg_sumlogdiag", &[], &[dd(&[2, 3, 3], 14)], &[0]);
    check("_linalg_inverse", &[], &[dd(&[2, 3, 3], 15)], &[0]);
    check("_linalg_det", &[], &[arr(&[2, 3, 3], 16)], &[0]);
    check("_linalg_slogdet", &[], &[arr(&[3, 3], 17)], &[0]);
}

/// potrf reads one triangle of a symmetric input and gives the symmetric gradient, as MXNet
/// does: the derivative along a symmetric perturbation `E` is `sum(dA * E)`.
#[test]
fn potrf_gradient_along_symmetric_perturbations() {
    use crate::eager_grad::{eager_gradient, f64_array};
    for lower in ["True", "False"] {
        let a = Attrs::from_pairs([("lower", lower)]);
        let m = test_values(9, 20);
        let spd: Vec<f64> = (0..9)
            .map(|k| {
                let (i, j) = (k / 3, k % 3);
                (0..3).map(|p| m[i * 3 + p] * m[j * 3 + p]).sum::<f64>() + if i == j { 3.0 } else { 0.0 }
            })
            .collect();
        let w = test_values(9, 21);
        let (_, g) = eager_gradient("_linalg_potrf", &a, &[vals(&[3, 3], &spd)], &[vals(&[3, 3], &w)], false).unwrap();
        let g = g[0].clone().unwrap().to_cpu_storage().unwrap();
        let objective = |x: &[f64]| -> f64 {
            let out = crate::eager_grad::eager_gradient(
                "_linalg_potrf",
                &a,
                &[f64_array(&[3, 3], x.to_vec()).unwrap()],
                &[vals(&[3, 3], &w)],
                false,
            )
            .unwrap()
            .0[0]
                .to_cpu_storage()
                .unwrap();
            (0..9).map(|k| out.get_f64(k) * w[k]).sum()
        };
        let e = [0.3, -0.2, 0.5, -0.2, 0.1, 0.4, 0.5, 0.4, -0.6];
        let eps = 1e-6;
        let plus: Vec<f64> = spd.iter().zip(&e).map(|(x, d)| x + eps * d).collect();
        let minus: Vec<f64> = spd.iter().zip(&e).map(|(x, d)| x - eps * d).collect();
        let numeric = (objective(&plus) - objective(&minus)) / (2.0 * eps);
        let analytic: f64 = (0..9).map(|k| g.get_f64(k) * e[k]).sum();
        assert!((numeric - analytic).abs() < 1e-6 * (1.0 + numeric.abs()), "lower={lower}: {numeric} vs {analytic}");
    }
}

#[test]
fn copy_gradients() {
    check("_linalg_extractdiag", &[("offset", "1")], &[arr(&[2, 3, 3], 30)], &[0]);
    check("_linalg_makediag", &[("offset", "-1")], &[arr(&[2, 3], 31)], &[0]);
    check("_linalg_extracttrian", &[("lower", "False")], &[arr(&[2, 3, 3], 32)], &[0]);
    check("_linalg_extracttrian", &[("offset", "-1")], &[arr(&[4, 4], 33)], &[0]);
    check("_linalg_maketrian", &[("offset", "1")], &[arr(&[2, 6], 34)], &[0]);
}

#[test]
fn aliases_name_the_registered_ops() {
    for short in [
        "gemm",
        "gemm2",
        "potrf",
        "potri",
        "trmm",
        "trsm",
        "syrk",
        "gelqf",
        "sumlogdiag",
        "extractdiag",
        "makediag",
        "extracttrian",
        "maketrian",
        "inverse",
        "det",
        "slogdet",
    ] {
        let def = registry().get(&format!("linalg_{short}")).unwrap();
        assert_eq!(def.name, format!("_linalg_{short}"));
        assert!(def.gradient.is_some(), "{short}");
    }
}
