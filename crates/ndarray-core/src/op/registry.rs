//! The table of registered ops and their compatibility aliases.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

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
        super::init::register(&mut r);
        super::random::register(&mut r);
        super::nn::register(&mut r);
        super::sort::register(&mut r);
        super::conv::register(&mut r);
        super::pool::register(&mut r);
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_builds_and_aliases_resolve() {
        let r = registry();
        assert!(r.names().len() > 80);
        for (a, c) in r.aliases() {
            assert_eq!(r.get(a).unwrap().name, c);
        }
        assert!(matches!(r.get("no_such_op"), Err(Error::UnknownOp(_))));
    }
}
