//! Finite-difference checks of the classic ops' gradients, and their values on small inputs.

use crate::eager_grad::testing::{arr, check, grads_of_ones, pos, vals};

#[test]
fn gather_scatter_gradients() {
    // Index tuple (1, 1) is gathered twice: its gradient adds up.
    let idx = vals(&[2, 3], &[0.0, 1.0, 1.0, 2.0, 1.0, 1.0]);
    check("gather_nd", &[], &[arr(&[2, 3], 1), idx.clone()], &[0]);
    check("gather_nd", &[], &[arr(&[3, 2, 2], 2), vals(&[1, 2], &[2.0, 0.0])], &[0]);
    let g = grads_of_ones("gather_nd", &[], &[arr(&[2, 3], 1), idx.clone()]);
    assert_eq!(g[0].as_deref(), Some(&[0.0, 0.0, 1.0, 0.0, 2.0, 0.0][..]));
    assert!(g[1].is_none());
    check("scatter_nd", &[("shape", "(2, 3)")], &[arr(&[3], 3), vals(&[2, 3], &[0.0, 1.0, 1.0, 2.0, 0.0, 1.0])], &[0]);
    check("scatter_nd", &[("shape", "(3, 2)")], &[arr(&[2, 2], 4), vals(&[1, 2], &[2.0, 0.0])], &[0]);
}

#[test]
fn reduction_split_and_loss_gradients() {
    check("nanprod", &[("axis", "1")], &[pos(&[2, 3], 5)], &[0]);
    check("nanprod", &[("axis", "(0, 2)"), ("keepdims", "True")], &[pos(&[2, 3, 2], 6)], &[0]);
    check("_split_v2", &[("indices", "(0, 1)"), ("axis", "1")], &[arr(&[2, 4], 7)], &[0]);
    check("_split_v2", &[("sections", "3"), ("axis", "0"), ("squeeze_axis", "True")], &[arr(&[3, 2], 8)], &[0]);
    check("softmax_cross_entropy", &[], &[arr(&[3, 4], 9), vals(&[3], &[1.0, 3.0, 0.0])], &[0]);
}

#[test]
fn zero_and_fixed_gradients() {
    let g = grads_of_ones("_ravel_multi_index", &[("shape", "(3, 4)")], &[vals(&[2, 2], &[1.0, 2.0, 3.0, 0.0])]);
    assert_eq!(g[0].as_deref(), Some(&[0.0; 4][..]));
    // SVMOutput's gradient ignores the output's: L2-SVM with margin 1 at scores 0.5 / -2.
    let g = grads_of_ones("SVMOutput", &[], &[vals(&[1, 2], &[0.5, -2.0]), vals(&[1], &[0.0])]);
    assert_eq!(g[0].as_deref(), Some(&[-1.0, 0.0][..]));
}

#[test]
fn im2col_col2im_gradients() {
    check("im2col", &[("kernel", "(2, 2)"), ("pad", "(1, 0)")], &[arr(&[1, 2, 3, 3], 11)], &[0]);
    check("im2col", &[("kernel", "(3,)"), ("stride", "(2,)"), ("pad", "(1,)")], &[arr(&[2, 2, 7], 12)], &[0]);
    check("im2col", &[("kernel", "(2, 2, 2)"), ("dilate", "(1, 2, 1)")], &[arr(&[1, 1, 3, 4, 2], 13)], &[0]);
    check("col2im", &[("output_size", "(3, 4)"), ("kernel", "(2, 2)")], &[arr(&[1, 8, 6], 14)], &[0]);
    // 1-D col2im sums overlapping blocks: position 1 of a length-3 image is in both blocks.
    let g = grads_of_ones("im2col", &[("kernel", "(2,)")], &[arr(&[1, 1, 3], 15)]);
    assert_eq!(g[0].as_deref(), Some(&[1.0, 2.0, 1.0][..]));
}

#[test]
fn crop_gradients() {
    check("Crop", &[("num_args", "1"), ("h_w", "(2, 3)"), ("offset", "(1, 0)")], &[arr(&[1, 2, 4, 4], 16)], &[0]);
    let ins = [arr(&[2, 1, 5, 4], 17), arr(&[1, 1, 3, 3], 18)];
    check("Crop", &[("num_args", "2"), ("center_crop", "True")], &ins, &[0, 1]);
}

#[test]
fn roi_pooling_gradient() {
    // Distinct values keep each bin's maximum unique, so finite differences see one winner.
    let data = crate::eager_grad::testing::arr_map(&[1, 2, 4, 5], 19, |v| v * 3.0);
    let rois = vals(&[2, 5], &[0.0, 0.0, 0.0, 3.0, 2.0, 0.0, 1.0, 1.0, 4.0, 3.0]);
    check("ROIPooling", &[("pooled_size", "(2, 2)"), ("spatial_scale", "1.0")], &[data, rois], &[0]);
}
