//! The process-wide op registry, filled from every op family's `register` function. It lives
//! apart from the [`Registry`] table that each family imports to register into, so that imports
//! run one way: this file -> the families -> the table.

use std::sync::OnceLock;

use super::registry::Registry;

/// The process-wide registry, built on first use from every op family's `register` function.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = Registry::default();
        super::elemwise::register(&mut r);
        super::reduce::register(&mut r);
        super::dot::register(&mut r);
        super::matrix::register(&mut r);
        super::indexing::register(&mut r);
        super::slice_assign::register(&mut r);
        super::init::register(&mut r);
        super::random::register(&mut r);
        super::nn::register(&mut r);
        super::sort::register(&mut r);
        super::optimizer::register(&mut r);
        super::optimizer_multi::register(&mut r);
        super::layers::fully_connected::register(&mut r);
        super::layers::activation::register(&mut r);
        super::layers::loss::register(&mut r);
        super::layers::dropout::register(&mut r);
        super::layers::batch_norm::register(&mut r);
        super::layers::norm::register(&mut r);
        super::layers::lrn::register(&mut r);
        super::layers::rnn::register(&mut r);
        super::layers::ctc::register(&mut r);
        super::conv::register(&mut r);
        super::pool::register(&mut r);
        super::pointwise::register(&mut r);
        super::scan::register(&mut r);
        super::linalg::register(&mut r);
        super::remap::register::register(&mut r);
        super::sparse::register(&mut r);
        super::contrib::register::register(&mut r);
        super::classic::register(&mut r);
        super::sampler::register(&mut r);
        super::legacy_v1::register(&mut r);
        super::custom::register(&mut r);
        r
    })
}
