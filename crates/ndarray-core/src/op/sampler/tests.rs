//! Finite-difference checks of the sampler ops' gradients, and their values on small inputs.

use crate::eager_grad::testing::{arr, check, grads_of_ones, vals};

#[test]
fn grid_generator_values_and_gradients() {
    let theta = vals(&[1, 6], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    // The target coordinates sum to zero along x and y; the constant column counts the pixels.
    let g = grads_of_ones("GridGenerator", &[("transform_type", "affine"), ("target_shape", "(2, 3)")], &[theta]);
    assert_eq!(g[0].as_deref(), Some(&[0.0, 0.0, 6.0, 0.0, 0.0, 6.0][..]));
    let affine = [("transform_type", "affine"), ("target_shape", "(3, 4)")];
    check("GridGenerator", &affine, &[arr(&[2, 6], 1)], &[0]);
    check("GridGenerator", &[("transform_type", "warp")], &[arr(&[2, 2, 3, 4], 2)], &[0]);
}

#[test]
fn sampler_gradients() {
    // Grid points kept off pixel boundaries (where the bilinear weights are not differentiable).
    let grid = vals(&[1, 2, 2, 2], &[-0.83, 0.31, 0.57, 1.07, -0.41, 0.13, 0.77, -0.95]);
    check("BilinearSampler", &[], &[arr(&[1, 2, 3, 4], 3), grid], &[0, 1]);
    let loc = vals(&[1, 6], &[0.9, 0.1, 0.05, -0.1, 0.8, 0.03]);
    let st = [("transform_type", "affine"), ("sampler_type", "bilinear"), ("target_shape", "(2, 3)")];
    check("SpatialTransformer", &st, &[arr(&[1, 2, 4, 5], 4), loc], &[0, 1]);
}
