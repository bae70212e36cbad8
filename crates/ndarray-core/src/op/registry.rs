//! The table of registered ops and their compatibility aliases.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Attrs, CreateFn, OpDef, Operator, ParamSpec};
use crate::error::{Error, Result};

/// Registered ops by canonical name, plus an alias table (`_plus` -> `elemwise_add`...).
#[derive(Default)]
pub struct Registry {
    ops: HashMap<&'static str, Arc<OpDef>>,
    aliases: HashMap<&'static str, &'static str>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("ops", &self.ops.len()).field("aliases", &self.aliases.len()).finish()
    }
}

impl Registry {
    /// Register an op. Panics on a duplicate name (a programming error caught by the tests).
    pub fn add(
        &mut self,
        name: &'static str,
        inputs: &'static [&'static str],
        params: &'static [ParamSpec],
        doc: &'static str,
        create: impl Fn(&Attrs) -> Result<Box<dyn Operator>> + Send + Sync + 'static,
    ) {
        let create: CreateFn = Arc::new(create);
        let def = OpDef { name, inputs, params, doc, create, gradient: None };
        assert!(self.ops.insert(name, Arc::new(def)).is_none(), "op {name} registered twice");
    }

    /// Attach the gradient of a registered op (defined beside it, built from registered ops).
    pub fn set_gradient(&mut self, name: &'static str, grad: super::GradFn) {
        let def = self.ops.get_mut(name).unwrap_or_else(|| panic!("gradient for unknown op {name}"));
        Arc::get_mut(def).expect("registry is being built").gradient = Some(grad);
    }

    /// Add an alias for a registered op.
    pub fn alias(&mut self, alias: &'static str, canonical: &'static str) {
        assert!(self.ops.contains_key(canonical), "alias {alias} -> unknown op {canonical}");
        self.aliases.insert(alias, canonical);
    }

    /// Look up an op by name or alias.
    pub fn get(&self, name: &str) -> Result<&Arc<OpDef>> {
        let canonical = self.aliases.get(name).copied().unwrap_or(name);
        self.ops.get(canonical).ok_or_else(|| Error::UnknownOp(name.to_string()))
    }

    /// Canonical op names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.ops.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// `(alias, canonical)` pairs, sorted.
    pub fn aliases(&self) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = self.aliases.iter().map(|(a, c)| (*a, *c)).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::registry;

    #[test]
    fn registry_builds_and_aliases_resolve() {
        let r = registry();
        assert!(r.names().len() > 80);
        for (a, c) in r.aliases() {
            assert_eq!(r.get(a).unwrap().name, c);
        }
        assert!(matches!(r.get("no_such_op"), Err(Error::UnknownOp(_))));
    }

    /// Ops that have no gradient, and why. A new op must either register a gradient beside
    /// itself or be added here with its reason. `_backward_*` ops (gradient kernels) have none
    /// yet: second-order gradients are not supported through them.
    const NO_GRADIENT: &[(&str, &str)] = &[
        ("argmax", "integer-valued index output; MXNet gives none"),
        ("_sparse_csr_to_dense", "sparse storage kernel outside autograd (MXNet gives sparse ops none here)"),
        ("_sparse_rsp_to_dense", "sparse storage kernel outside autograd"),
        ("_sparse_csr_indptr", "integer-valued index output"),
        ("_sparse_csr_from_dense", "sparse storage kernel outside autograd"),
        ("_sparse_rsp_rowptr", "integer-valued index output"),
        ("_sparse_rsp_from_dense", "sparse storage kernel outside autograd"),
        ("_sparse_row_assign", "in-place row write of lazy optimizer updates; MXNet gives none"),
        ("_sparse_dot_csr", "sparse dot outside autograd"),
        ("argmin", "integer-valued index output; MXNet gives none"),
        ("argmax_channel", "integer-valued index output; MXNet gives none"),
        ("argsort", "integer-valued index output; MXNet gives none"),
        ("one_hot", "its input is integer indices"),
        ("_zeros", "no inputs"),
        ("_ones", "no inputs"),
        ("_full", "no inputs"),
        ("_empty", "no inputs"),
        ("_arange", "no inputs"),
        ("_linspace", "no inputs"),
        ("_eye", "no inputs"),
        ("_random_uniform", "random sampling, no inputs"),
        ("_random_normal", "random sampling, no inputs"),
        ("_random_randint", "random sampling, no inputs"),
        ("_random_gamma", "random sampling, no inputs"),
        ("_random_exponential", "random sampling, no inputs"),
        ("_random_poisson", "random sampling, no inputs"),
        ("_random_negative_binomial", "random sampling, no inputs"),
        ("_random_generalized_negative_binomial", "random sampling, no inputs"),
        ("_shuffle", "random permutation; MXNet gives none"),
        ("_sample_unique_zipfian", "random sampling, no inputs"),
        ("_copyto", "copy between arrays outside any graph; MXNet gives none"),
        ("sgd_update", "optimizer update; MXNet gives none"),
        ("sgd_mom_update", "optimizer update; MXNet gives none"),
        ("mp_sgd_update", "optimizer update; MXNet gives none"),
        ("mp_sgd_mom_update", "optimizer update; MXNet gives none"),
        ("nag_mom_update", "optimizer update; MXNet gives none"),
        ("mp_nag_mom_update", "optimizer update; MXNet gives none"),
        ("adam_update", "optimizer update; MXNet gives none"),
        ("rmsprop_update", "optimizer update; MXNet gives none"),
        ("rmspropalex_update", "optimizer update; MXNet gives none"),
        ("ftrl_update", "optimizer update; MXNet gives none"),
        ("signsgd_update", "optimizer update; MXNet gives none"),
        ("signum_update", "optimizer update; MXNet gives none"),
        ("ftml_update", "optimizer update; MXNet gives none"),
        ("lamb_update_phase1", "optimizer update; MXNet gives none"),
        ("lamb_update_phase2", "optimizer update; MXNet gives none"),
        ("mp_lamb_update_phase1", "optimizer update; MXNet gives none"),
        ("mp_lamb_update_phase2", "optimizer update; MXNet gives none"),
        ("multi_sgd_update", "optimizer update; MXNet gives none"),
        ("multi_sgd_mom_update", "optimizer update; MXNet gives none"),
        ("multi_mp_sgd_update", "optimizer update; MXNet gives none"),
        ("multi_mp_sgd_mom_update", "optimizer update; MXNet gives none"),
        ("preloaded_multi_sgd_update", "optimizer update; MXNet gives none"),
        ("preloaded_multi_sgd_mom_update", "optimizer update; MXNet gives none"),
        ("preloaded_multi_mp_sgd_update", "optimizer update; MXNet gives none"),
        ("preloaded_multi_mp_sgd_mom_update", "optimizer update; MXNet gives none"),
        ("_adamw_update", "optimizer update; MXNet gives none"),
        ("_mp_adamw_update", "optimizer update; MXNet gives none"),
        ("_multi_adamw_update", "optimizer update; MXNet gives none"),
        ("_multi_mp_adamw_update", "optimizer update; MXNet gives none"),
        ("multi_sum_sq", "optimizer helper (sums of squares for LARS/LAMB); MXNet gives none"),
        ("multi_lars", "optimizer helper (LARS rates); MXNet gives none"),
        ("all_finite", "float flag output; MXNet gives none"),
        ("multi_all_finite", "float flag output; MXNet gives none"),
        ("reset_arrays", "zeroes its inputs in place, no outputs; MXNet gives none"),
        ("batch_take", "deprecated index op; MXNet gives none"),
        ("fill_element_0index", "legacy NDArray function; MXNet gives none"),
        ("_onehot_encode", "legacy NDArray function of integer indices; MXNet gives none"),
        ("khatri_rao", "MXNet gives none"),
        ("_histogram", "integer counts; MXNet gives none"),
        ("_contrib_quantized_act", "quantized inference op; MXNet gives none"),
        ("_contrib_quantized_elemwise_add", "quantized inference op; MXNet gives none"),
        ("_contrib_calibrate_entropy", "calibration statistic; MXNet gives none"),
        ("_contrib_RROIAlign", "rotated ROI align; MXNet registers no gradient"),
        ("_contrib_backward_gradientmultiplier", "a gradient op under MXNet's exposed name; MXNet gives none"),
        ("_contrib_backward_hawkesll", "a gradient op under MXNet's exposed name; MXNet gives none"),
        ("_contrib_backward_index_copy", "a gradient op under MXNet's exposed name; MXNet gives none"),
        ("_contrib_backward_quadratic", "a gradient op under MXNet's exposed name; MXNet gives none"),
        ("_contrib_group_adagrad_update", "optimizer update; MXNet gives none"),
    ];

    #[test]
    fn every_op_without_a_gradient_is_listed() {
        let r = registry();
        let missing: Vec<&str> = r
            .names()
            .into_iter()
            .filter(|n| r.get(n).unwrap().gradient.is_none() && !n.starts_with("_backward_"))
            .collect();
        let mut expected: Vec<&str> = NO_GRADIENT.iter().map(|(n, _)| *n).collect();
        expected.sort_unstable();
        assert_eq!(missing, expected, "ops without a gradient changed; register one or document why not");
    }
}
