//! Gradients run eagerly: a [`GradBuilder`] that executes each op as soon as a gradient
//! function adds it (the base of an imperative autograd, and of gradient tests), and a
//! finite-difference check of an op's registered gradient.

use std::sync::Arc;

use super::{Attrs, GradBuilder, NodeEntry, Operator, registry};
use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::invoke::invoke_op_full;
use crate::ndarray::NDArray;
use crate::storage::CpuStorage;

/// A [`GradBuilder`] whose node entries are arrays computed at once.
#[derive(Debug, Default)]
pub struct EagerGrad {
    values: Vec<NDArray>,
    is_train: bool,
}

impl EagerGrad {
    /// An empty builder; ops it runs see `is_train`.
    pub fn new(is_train: bool) -> EagerGrad {
        EagerGrad { values: Vec::new(), is_train }
    }
    /// Register an array; returns its entry.
    pub fn push(&mut self, a: NDArray) -> NodeEntry {
        self.values.push(a);
        NodeEntry(self.values.len() - 1)
    }
    /// The array behind an entry.
    pub fn get(&self, e: NodeEntry) -> &NDArray {
        &self.values[e.0]
    }
}

impl GradBuilder for EagerGrad {
    fn op(&mut self, name: &str, inputs: &[NodeEntry], attrs: Attrs) -> Result<Vec<NodeEntry>> {
        let def = registry().get(name)?;
        let op: Arc<dyn Operator> = Arc::from((def.create)(&attrs)?);
        let ins: Vec<NDArray> = inputs.iter().map(|e| self.values[e.0].clone()).collect();
        let outs = invoke_op_full(op, &ins, None, None, self.is_train)?;
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

/// Deterministic pseudo-random values in [-1, 1) (a small LCG), for test data.
pub fn test_values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// A float64 array on `cpu(0)`.
pub fn f64_array(shape: &[usize], values: Vec<f64>) -> Result<NDArray> {
    NDArray::from_cpu(CpuStorage::F64(values), shape, Context::cpu(0))
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
