//! Finite-difference checks of the deformable ops' gradients, and their shape errors.

use crate::eager_grad::testing::{arr, arr_map, check, vals};
use crate::op::{Attrs, registry};

#[test]
fn deformable_convolution_gradients() {
    let a = [("kernel", "(2, 2)"), ("num_filter", "2"), ("pad", "(1, 0)"), ("num_deformable_group", "2")];
    let offset = arr_map(&[1, 16, 4, 2], 3, |v| v * 0.7 + 0.13);
    check(
        "_contrib_DeformableConvolution",
        &a,
        &[arr(&[1, 2, 3, 3], 1), offset, arr(&[2, 2, 2, 2], 2), arr(&[2], 4)],
        &[0, 1, 2, 3],
    );
}

#[test]
fn modulated_deformable_convolution_gradients() {
    let a = [("kernel", "(2, 2)"), ("num_filter", "2"), ("stride", "(1, 2)"), ("num_group", "2")];
    check(
        "_contrib_ModulatedDeformableConvolution",
        &a,
        &[arr(&[2, 2, 3, 4], 5), arr(&[2, 8, 2, 2], 6), arr(&[2, 4, 2, 2], 7), arr(&[2, 1, 2, 2], 8), arr(&[2], 9)],
        &[0, 1, 2, 3, 4],
    );
}

#[test]
fn correlation_gradients() {
    for mult in ["True", "False"] {
        let a = [
            ("kernel_size", "3"),
            ("max_displacement", "1"),
            ("pad_size", "2"),
            ("stride2", "1"),
            ("is_multiply", mult),
        ];
        check("Correlation", &a, &[arr(&[1, 2, 4, 3], 10), arr(&[1, 2, 4, 3], 11)], &[0, 1]);
    }
}

#[test]
fn psroi_pooling_gradients() {
    let rois = vals(&[2, 5], &[0.0, 0.0, 1.0, 5.0, 4.0, 1.0, 2.0, 0.0, 4.0, 6.0]);
    let a = [("spatial_scale", "1.0"), ("output_dim", "2"), ("pooled_size", "2")];
    check("_contrib_PSROIPooling", &a, &[arr(&[2, 8, 6, 7], 12), rois.clone()], &[0]);
    let a = [
        ("spatial_scale", "0.5"),
        ("output_dim", "2"),
        ("pooled_size", "2"),
        ("group_size", "2"),
        ("sample_per_part", "2"),
        ("trans_std", "0.1"),
    ];
    check("_contrib_DeformablePSROIPooling", &a, &[arr(&[2, 8, 6, 7], 13), rois, arr(&[2, 2, 2, 2], 14)], &[0, 2]);
}

#[test]
fn shape_errors_name_the_op_and_shapes() {
    let err = |name: &str, attrs: &[(&str, &str)], shapes: &[Vec<usize>]| {
        let op = (registry().get(name).unwrap().create)(&Attrs::from_pairs(attrs.iter().copied())).unwrap();
        op.infer_shape(shapes).unwrap_err().to_string()
    };
    let a = [("kernel", "(3, 3)"), ("num_filter", "4")];
    let e = err("_contrib_DeformableConvolution", &a, &[vec![1, 2, 5, 5], vec![1, 9, 3, 3], vec![4, 2, 3, 3], vec![4]]);
    assert!(e.contains("_contrib_DeformableConvolution") && e.contains("(1,9,3,3)") && e.contains("offset"), "{e}");
    let e = err("Correlation", &[], &[vec![1, 2, 5, 5], vec![1, 3, 5, 5]]);
    assert!(e.contains("Correlation") && e.contains("(1,3,5,5)"), "{e}");
    let a = [("spatial_scale", "1"), ("output_dim", "3"), ("pooled_size", "2")];
    let e = err("_contrib_PSROIPooling", &a, &[vec![1, 8, 5, 5], vec![2, 5]]);
    assert!(e.contains("_contrib_PSROIPooling") && e.contains("(1,8,5,5)"), "{e}");
}
