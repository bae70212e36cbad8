//! The optimizer-family ops beyond the plain fused updates of `op/optimizer.rs`, with MXNet
//! 1.9.1's names, inputs and parameters: FTML and the two LAMB phases (`ftml_update`,
//! `lamb_update_phase1/2`, `mp_lamb_update_phase1/2`), the aggregated SGD updates
//! (`multi_sgd_update`, `multi_mp_sgd_mom_update`, the `preloaded_multi_*` variants with rates
//! in arrays), the helpers of LARS and mixed-precision training (`multi_sum_sq`, `multi_lars`,
//! `all_finite`, `multi_all_finite`, `reset_arrays`, `amp_cast`, `amp_multicast`) and the
//! contrib AdamW and group AdaGrad updates (`_contrib_adamw_update`...).
//!
//! As in `op/optimizer.rs`, an update returns the new weight(s) as its output(s) and lists the
//! state inputs it rewrites (momentum, mean, variance, float32 master weights) in
//! [`crate::op::Operator::mutate_inputs`], whose new values `forward` returns after the
//! outputs. Parameters MXNet declares as `float` are rounded to float32 first.

mod adamw;
mod common;
mod misc;
mod multi_sgd;
mod single;

use super::registry::Registry;

/// Register every op of this family.
pub(super) fn register(r: &mut Registry) {
    single::register(r);
    multi_sgd::register(r);
    misc::register(r);
    adamw::register(r);
}
