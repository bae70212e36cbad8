//! Finite-difference checks of the contrib ops' gradients, and their shape errors.

use crate::eager_grad::testing::{arr, check, vals};
use crate::op::{Attrs, registry};

#[test]
fn resize_and_adaptive_pool_gradients() {
    for (h, w, align) in [("5", "7", "True"), ("2", "3", "False"), ("4", "4", "True")] {
        check(
            "_contrib_BilinearResize2D",
            &[("height", h), ("width", w), ("align_corners", align)],
            &[arr(&[2, 2, 4, 4], 1)],
            &[0],
        );
    }
    check("_contrib_BilinearResize2D", &[("mode", "like")], &[arr(&[1, 2, 3, 4], 2), arr(&[1, 1, 5, 2], 3)], &[0]);
    for size in ["(2, 3)", "3", "()"] {
        check("_contrib_AdaptiveAvgPooling2D", &[("output_size", size)], &[arr(&[2, 2, 5, 4], 4)], &[0]);
    }
}

#[test]
fn roi_align_gradients() {
    let rois = vals(&[2, 5], &[0.0, 0.5, 0.7, 3.1, 2.9, 1.0, 1.2, 0.3, 2.2, 3.4]);
    for (ratio, aligned) in [("2", "False"), ("-1", "True")] {
        let a = [("pooled_size", "(2, 2)"), ("spatial_scale", "1.0"), ("sample_ratio", ratio), ("aligned", aligned)];
        check("_contrib_ROIAlign", &a, &[arr(&[2, 3, 5, 5], 5), rois.clone()], &[0]);
    }
    let a = [("pooled_size", "(2, 1)"), ("spatial_scale", "0.5"), ("position_sensitive", "True")];
    check("_contrib_ROIAlign", &a, &[arr(&[2, 4, 4, 6], 6), rois], &[0]);
}

#[test]
fn interleaved_attention_gradients() {
    let h = [("heads", "2")];
    check("_contrib_interleaved_matmul_selfatt_qk", &h, &[arr(&[3, 2, 12], 7)], &[0]);
    check("_contrib_interleaved_matmul_selfatt_valatt", &h, &[arr(&[3, 2, 12], 8), arr(&[4, 3, 3], 9)], &[0, 1]);
    check("_contrib_interleaved_matmul_encdec_qk", &h, &[arr(&[3, 2, 4], 10), arr(&[5, 2, 8], 11)], &[0, 1]);
    check("_contrib_interleaved_matmul_encdec_valatt", &h, &[arr(&[5, 2, 8], 12), arr(&[4, 3, 5], 13)], &[0, 1]);
    check("_contrib_div_sqrt_dim", &[], &[arr(&[2, 5], 14)], &[0]);
}

#[test]
fn small_op_gradients() {
    check("_contrib_quadratic", &[("a", "0.5"), ("b", "-2"), ("c", "1")], &[arr(&[3, 4], 15)], &[0]);
    let idx = vals(&[2], &[3.0, 0.0]);
    check("_contrib_index_copy", &[], &[arr(&[4, 3], 16), idx, arr(&[2, 3], 17)], &[0, 2]);
    let nms =
        vals(&[1, 3, 6], &[0.0, 0.9, 0.1, 0.1, 0.5, 0.5, 0.0, 0.8, 0.12, 0.1, 0.52, 0.5, 1.0, 0.3, 0.6, 0.6, 0.9, 0.9]);
    check("_contrib_box_nms", &[("id_index", "0"), ("force_suppress", "True")], &[nms], &[0]);
}

#[test]
fn shape_errors_name_the_op_and_shapes() {
    let err = |name: &str, attrs: &[(&str, &str)], shapes: &[Vec<usize>]| {
        let op = (registry().get(name).unwrap().create)(&Attrs::from_pairs(attrs.iter().copied())).unwrap();
        op.infer_shape(shapes).unwrap_err().to_string()
    };
    let e = err("_contrib_box_nms", &[], &[vec![2, 3, 4]]);
    assert!(e.contains("_contrib_box_nms") && e.contains("(2,3,4)"), "{e}");
    let e =
        err("_contrib_ROIAlign", &[("pooled_size", "(2, 2)"), ("spatial_scale", "1")], &[vec![1, 2, 3], vec![2, 5]]);
    assert!(e.contains("ROIAlign") && e.contains("(1,2,3)"), "{e}");
    let e = err("_contrib_interleaved_matmul_selfatt_qk", &[("heads", "5")], &[vec![3, 2, 12]]);
    assert!(e.contains("selfatt_qk") && e.contains("(3,2,12)"), "{e}");
    let e = err("_contrib_index_copy", &[], &[vec![4, 3], vec![2], vec![3, 3]]);
    assert!(e.contains("index_copy") && e.contains("(3,3)"), "{e}");
}
