//! MXNet 1.x's spatial-transformer family: `GridGenerator` (an affine transform or a warp
//! flow to a normalised sampling grid), `BilinearSampler` (bilinear sampling of 4-D data at
//! a grid, zero outside) and `SpatialTransformer` (the two composed), with the gradient ops
//! `_backward_GridGenerator` and `_backward_BilinearSampler`.

mod bilinear;
pub(super) mod common;
mod grid;

use super::registry::Registry;

/// Register every op of the family.
pub(super) fn register(r: &mut Registry) {
    grid::register(r);
    bilinear::register(r);
}

#[cfg(test)]
mod tests;
