//! Eager gradients, above the op layer: a [`GradBuilder`] that runs each op as soon as a
//! gradient function adds it (the base of an imperative autograd, and of the gradient tests),
//! and a finite-difference check of an op's registered gradient.

use std::sync::Arc;

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::invoke::{invoke_op_full, invoke_op_record};
use crate::ndarray::NDArray;
use crate::op::grad::test_values;
use crate::op::{Attrs, GradBuilder, NodeEntry, Operator, registry};
use crate::storage::CpuStorage;

/// A [`GradBuilder`] whose node entries are arrays: computed at once, or (a builder made by
/// [`EagerGrad::deferred`]) when [`EagerGrad::run_needed`] says which entries are wanted, so
/// that ops nobody reads never run and multi-output ops compute only the outputs read
/// ([`Operator::keep_outputs`]: the data gradient of a network's first convolution).
#[derive(Debug, Default)]
pub struct EagerGrad {
    values: Vec<Option<NDArray>>,
    is_train: bool,
    /// The ops added so far, in order, when deferred.
    pending: Option<Vec<Pending>>,
}

/// An op added to a deferred builder: its outputs are entries `first..first + n`.
#[derive(Debug)]
struct Pending {
    op: Arc<dyn Operator>,
    inputs: Vec<NodeEntry>,
    first: usize,
    n: usize,
}

impl EagerGrad {
    /// An empty builder; ops it runs see `is_train`.
    pub fn new(is_train: bool) -> EagerGrad {
        EagerGrad { values: Vec::new(), is_train, pending: None }
    }
    /// An empty builder that runs its ops only in [`EagerGrad::run_needed`]. Not for a
    /// builder whose ops are recorded (`create_graph`): a pruned op would be recorded as the
    /// whole op.
    pub fn deferred(is_train: bool) -> EagerGrad {
        EagerGrad { values: Vec::new(), is_train, pending: Some(Vec::new()) }
    }
    /// Register an array; returns its entry.
    pub fn push(&mut self, a: NDArray) -> NodeEntry {
        self.values.push(Some(a));
        NodeEntry(self.values.len() - 1)
    }
    /// The array behind an entry (of a deferred builder: once [`EagerGrad::run_needed`] has
    /// computed it).
    ///
    /// # Panics
    /// On an entry of a deferred op that was not wanted.
    pub fn get(&self, e: NodeEntry) -> &NDArray {
        self.values[e.0].as_ref().expect("internal: a deferred gradient entry read before it was computed")
    }
    /// Run the deferred ops that `wanted` depends on, in order; an op of which only some
    /// outputs are read runs as the op that computes just those when it has one. Nothing for
    /// a builder that is not deferred.
    pub fn run_needed(&mut self, wanted: &[NodeEntry]) -> Result<()> {
        let Some(pending) = self.pending.take() else { return Ok(()) };
        let mut needed = vec![false; self.values.len()];
        wanted.iter().for_each(|e| needed[e.0] = true);
        for p in pending.iter().rev() {
            if needed[p.first..p.first + p.n].iter().any(|&n| n) {
                p.inputs.iter().for_each(|e| needed[e.0] = true);
            }
        }
        for p in pending {
            let keep = &needed[p.first..p.first + p.n];
            if !keep.iter().any(|&k| k) {
                continue;
            }
            let ins: Vec<NDArray> = p.inputs.iter().map(|e| self.get(*e).clone()).collect();
            let pruned = if keep.iter().all(|&k| k) { None } else { p.op.keep_outputs(keep) };
            match pruned {
                Some(op) => {
                    let outs = invoke_op_full(Arc::from(op), &ins, None, None, self.is_train)?;
                    let slots = (p.first..p.first + p.n).filter(|&i| needed[i]);
                    for (i, o) in slots.zip(outs) {
                        self.values[i] = Some(o);
                    }
                }
                None => {
                    let outs = invoke_op_full(p.op, &ins, None, None, self.is_train)?;
                    for (i, o) in (p.first..).zip(outs) {
                        self.values[i] = Some(o);
                    }
                }
            }
        }
        Ok(())
    }
}

impl GradBuilder for EagerGrad {
    fn op(&mut self, name: &str, inputs: &[NodeEntry], attrs: Attrs) -> Result<Vec<NodeEntry>> {
        let def = registry().get(name)?;
        let op: Arc<dyn Operator> = Arc::from((def.create)(&attrs)?);
        if let Some(pending) = &mut self.pending {
            let (first, n) = (self.values.len(), op.num_outputs());
            self.values.resize(first + n, None);
            pending.push(Pending { op, inputs: inputs.to_vec(), first, n });
            return Ok((first..first + n).map(NodeEntry).collect());
        }
        let ins: Vec<NDArray> = inputs.iter().map(|e| self.get(*e).clone()).collect();
        // Recorded while the thread records: `autograd.grad(create_graph=True)`.
        let outs = invoke_op_record(op, || attrs, &ins, None, None, self.is_train)?;
        Ok(outs.into_iter().map(|o| self.push(o)).collect())
    }
}

/// Run op `name` on `inputs` and its registered gradient for `out_grads` (one per visible
/// output). Returns every output (hidden ones too) and one gradient per input (`None` where
/// the op gives that input none).
pub fn eager_gradient(
    name: &str,
    attrs: &Attrs,
    inputs: &[NDArray],
    out_grads: &[NDArray],
    is_train: bool,
) -> Result<(Vec<NDArray>, Vec<Option<NDArray>>)> {
    let def = registry().get(name)?;
    let grad = def.gradient.ok_or_else(|| Error::param(name, "has no gradient"))?;
    let op: Arc<dyn Operator> = Arc::from((def.create)(attrs)?);
    let visible = op.num_visible_outputs();
    if out_grads.len() != visible {
        return Err(Error::param(name, format!("expects {visible} output gradient(s), got {}", out_grads.len())));
    }
    let outs = invoke_op_full(op, inputs, None, None, is_train)?;
    let mut b = EagerGrad::new(is_train);
    let in_e: Vec<NodeEntry> = inputs.iter().map(|a| b.push(a.clone())).collect();
    let out_e: Vec<NodeEntry> = outs.iter().map(|a| b.push(a.clone())).collect();
    let og_e: Vec<NodeEntry> = out_grads.iter().map(|a| b.push(a.clone())).collect();
    let grads = grad(&mut b, attrs, &in_e, &out_e, &og_e)?;
    if grads.len() != inputs.len() {
        return Err(Error::msg(format!(
            "internal: the gradient of {name} returned {} gradients for {} inputs",
            grads.len(),
            inputs.len()
        )));
    }
    let grads = grads.into_iter().map(|g| g.map(|e| b.get(e).clone())).collect();
    Ok((outs, grads))
}

/// A float64 array on `cpu(0)`.
pub fn f64_array(shape: &[usize], values: Vec<f64>) -> Result<NDArray> {
    NDArray::from_cpu(CpuStorage::F64(values.into()), shape, Context::cpu(0))
}

fn values_f64(a: &NDArray) -> Result<Vec<f64>> {
    let s = a.to_cpu_storage()?;
    Ok((0..s.len()).map(|i| s.get_f64(i)).collect())
}

/// Compare op `name`'s registered gradient with central finite differences of
/// `sum_k <output_k, w_k>` for random weights `w_k`, on float64 `inputs`. Only the inputs listed
/// in `check` are perturbed; each must get a gradient. Fails with a message naming the input,
/// element and both values when they differ by more than `atol + rtol * |numeric|`.
#[allow(clippy::too_many_arguments)]
pub fn check_numeric_gradient(
    name: &str,
    attrs: &Attrs,
    inputs: &[NDArray],
    check: &[usize],
    is_train: bool,
    eps: f64,
    rtol: f64,
    atol: f64,
) -> Result<()> {
    for a in inputs {
        if a.dtype() != DType::F64 {
            return Err(Error::param(name, "gradient checks need float64 inputs"));
        }
    }
    let def = registry().get(name)?;
    let op: Arc<dyn Operator> = Arc::from((def.create)(attrs)?);
    let visible = op.num_visible_outputs();
    let outs = invoke_op_full(op.clone(), inputs, None, None, is_train)?;
    let weights: Vec<NDArray> = outs[..visible]
        .iter()
        .enumerate()
        .map(|(k, o)| f64_array(o.shape(), test_values(o.size(), 1000 + k as u64)))
        .collect::<Result<_>>()?;
    let wv: Vec<Vec<f64>> = weights.iter().map(values_f64).collect::<Result<_>>()?;
    let (_, grads) = eager_gradient(name, attrs, inputs, &weights, is_train)?;
    let objective = |ins: &[NDArray]| -> Result<f64> {
        let outs = invoke_op_full(op.clone(), ins, None, None, is_train)?;
        let mut total = 0.0;
        for (o, w) in outs[..visible].iter().zip(&wv) {
            total += values_f64(o)?.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
        }
        Ok(total)
    };
    for &i in check {
        let g =
            grads.get(i).cloned().flatten().ok_or_else(|| Error::param(name, format!("input {i} got no gradient")))?;
        if g.shape() != inputs[i].shape() {
            return Err(Error::shape(
                name,
                format!("gradient of input {i} has shape {:?}, input has {:?}", g.shape(), inputs[i].shape()),
            ));
        }
        let analytic = values_f64(&g)?;
        let base = values_f64(&inputs[i])?;
        for j in 0..base.len() {
            let probe = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                let mut ins = inputs.to_vec();
                ins[i] = f64_array(inputs[i].shape(), v)?;
                objective(&ins)
            };
            let numeric = (probe(eps)? - probe(-eps)?) / (2.0 * eps);
            if (numeric - analytic[j]).abs() > atol + rtol * numeric.abs() {
                return Err(Error::msg(format!(
                    "{name}: gradient of input {i} element {j}: analytic {} vs numeric {numeric}",
                    analytic[j]
                )));
            }
        }
    }
    Ok(())
}

/// Shorthands for the gradient tests beside each op family.
#[cfg(test)]
pub(crate) mod testing {
    use super::{check_numeric_gradient, f64_array};
    use crate::ndarray::NDArray;
    use crate::op::Attrs;
    use crate::op::grad::test_values;

    /// A float64 array of `shape` with values in [-1, 1) from `seed`, mapped through `f`.
    pub(crate) fn arr_map(shape: &[usize], seed: u64, f: impl Fn(f64) -> f64) -> NDArray {
        let n = shape.iter().product();
        f64_array(shape, test_values(n, seed).into_iter().map(f).collect()).unwrap()
    }

    /// A float64 array of `shape` with values in [-1, 1).
    pub(crate) fn arr(shape: &[usize], seed: u64) -> NDArray {
        arr_map(shape, seed, |v| v)
    }

    /// Values in [0.6, 1.6): positive, away from zero.
    pub(crate) fn pos(shape: &[usize], seed: u64) -> NDArray {
        arr_map(shape, seed, |v| 1.1 + 0.5 * v)
    }

    /// Values in [-1.2, -0.2] or [0.2, 1.2): away from zero (kinks of abs, relu, sign).
    pub(crate) fn nonzero(shape: &[usize], seed: u64) -> NDArray {
        arr_map(shape, seed, |v| if v < 0.0 { v - 0.2 } else { v + 0.2 })
    }

    /// An array with the given values (float64).
    pub(crate) fn vals(shape: &[usize], v: &[f64]) -> NDArray {
        f64_array(shape, v.to_vec()).unwrap()
    }

    /// The gradients of op `name` for output gradients of ones (`None` where an input gets none).
    pub(crate) fn grads_of_ones(name: &str, attrs: &[(&str, &str)], inputs: &[NDArray]) -> Vec<Option<Vec<f64>>> {
        let a = Attrs::from_pairs(attrs.iter().copied());
        let op = (crate::op::registry().get(name).unwrap().create)(&a).unwrap();
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|x| x.shape().to_vec()).collect();
        let outs = op.infer_shape(&shapes).unwrap();
        let ones: Vec<NDArray> = outs[..op.num_visible_outputs()]
            .iter()
            .map(|s| f64_array(s, vec![1.0; s.iter().product()]).unwrap())
            .collect();
        let (_, grads) = super::eager_gradient(name, &a, inputs, &ones, false).unwrap();
        grads
            .into_iter()
            .map(|g| {
                g.map(|g| {
                    let s = g.to_cpu_storage().unwrap();
                    (0..s.len()).map(|i| s.get_f64(i)).collect()
                })
            })
            .collect()
    }

    /// Check op `name`'s gradient for the inputs in `check` against finite differences.
    pub(crate) fn check(name: &str, attrs: &[(&str, &str)], inputs: &[NDArray], check: &[usize]) {
        let a = Attrs::from_pairs(attrs.iter().copied());
        if let Err(e) = check_numeric_gradient(name, &a, inputs, check, false, 1e-6, 1e-5, 1e-7) {
            panic!("{name} {attrs:?} on {:?}: {e}", inputs.iter().map(|x| x.shape().to_vec()).collect::<Vec<_>>());
        }
    }
}
