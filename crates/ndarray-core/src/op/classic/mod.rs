//! MXNet 1.x's classic operators that the other families do not cover: N-d gathers and
//! scatters and index conversions (`gather_nd`, `scatter_nd`, `ravel_multi_index`,
//! `unravel_index`, `batch_take`, `fill_element_0index`, `_onehot_encode`), odd reductions
//! and joins (`nanprod`, `khatri_rao`, `_histogram`, `_split_v2`, `make_loss`) and the old
//! loss heads (`softmax_cross_entropy`, `SVMOutput`, `IdentityAttachKLSparseReg`), `im2col` / `col2im` the legacy `Crop` and `ROIPooling`.

mod common;
mod crop;
mod gather;
mod im2col;
mod losses;
mod misc;
mod roi_pool;

use super::registry::Registry;

/// Register every op of the family.
pub(super) fn register(r: &mut Registry) {
    gather::register(r);
    misc::register(r);
    losses::register(r);
    im2col::register(r);
    crop::register(r);
    roi_pool::register(r);
}

#[cfg(test)]
mod tests;
