//! `mx.autograd`'s native half: the thread's recording and training flags, variables,
//! backward, and nodes whose backward is a Python callable (`autograd.Function`, hybridized
//! blocks). The tape itself lives in `mxrs_ndarray_core::autograd`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use mxrs_ndarray_core::autograd::node::{Node, NodeState};
use mxrs_ndarray_core::autograd::{self as ag, BackwardOptions, CustomBackward, GradReq};
use mxrs_ndarray_core::{Attrs, Error, NDArray};
use mxrs_symbol::Symbol;
use pyo3::prelude::*;

use crate::guard::{enter, enter_detached, enter_ok};
use crate::ndarray::PyNDArray;
use crate::symbol::PySymbol;

type TapeNode = Node<NDArray>;

thread_local! {
    /// The exception a Python backward raised during the current native backward: raised
    /// again as it is, instead of a message naming it.
    static CALLBACK_ERROR: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Set whether this thread records; returns the previous flag.
#[pyfunction]
fn autograd_set_recording(on: bool) -> PyResult<bool> {
    enter_ok("autograd.set_recording", || ag::set_recording(on))
}

/// Set this thread's training mode; returns the previous one.
#[pyfunction]
fn autograd_set_training(on: bool) -> PyResult<bool> {
    enter_ok("autograd.set_training", || ag::set_training(on))
}

/// Whether this thread records.
#[pyfunction]
fn autograd_is_recording() -> PyResult<bool> {
    enter_ok("autograd.is_recording", ag::is_recording)
}

/// Whether this thread is in training mode.
#[pyfunction]
fn autograd_is_training() -> PyResult<bool> {
    enter_ok("autograd.is_training", ag::is_training)
}

/// `array` as a variable whose gradient goes into `grad` by `grad_req`: the new handle.
#[pyfunction]
fn autograd_mark_variable(array: &PyNDArray, grad: &PyNDArray, grad_req: &str) -> PyResult<PyNDArray> {
    enter("autograd.mark_variables", || {
        let req = GradReq::from_name(grad_req)?;
        ag::record::mark_variable(&array.0, &grad.0, req).map(PyNDArray)
    })
}

/// The gradient buffer of a variable, else None.
#[pyfunction]
fn autograd_grad_of(array: &PyNDArray) -> PyResult<Option<PyNDArray>> {
    enter_ok("NDArray.grad", || ag::record::grad_of(&array.0).map(PyNDArray))
}

/// The `grad_req` of a variable, else None.
#[pyfunction]
fn autograd_grad_req_of(array: &PyNDArray) -> PyResult<Option<&'static str>> {
    enter_ok("NDArray.grad_req", || ag::record::grad_req_of(&array.0).map(GradReq::name))
}

/// Whether backward wrote the variable's gradient since the flag was last cleared.
#[pyfunction]
fn autograd_fresh_grad(array: &PyNDArray) -> PyResult<bool> {
    enter_ok("NDArray._fresh_grad", || ag::record::fresh_grad(&array.0))
}

/// Set the variable's fresh-gradient flag.
#[pyfunction]
fn autograd_set_fresh_grad(array: &PyNDArray, on: bool) -> PyResult<()> {
    enter_ok("NDArray._fresh_grad", || ag::record::set_fresh_grad(&array.0, on))
}

/// A handle to the same memory outside any graph.
#[pyfunction]
fn autograd_detach(array: &PyNDArray) -> PyResult<PyNDArray> {
    enter_ok("NDArray.detach", || PyNDArray(array.0.detach()))
}

/// Backward from `heads`. With `variables`, returns their gradients (`autograd.grad`);
/// without, stores the variables' gradients in their buffers and returns an empty list. The
/// GIL is released; nodes with a Python backward take it for their call.
#[pyfunction]
#[pyo3(signature = (heads, head_grads, variables, retain_graph, create_graph, train_mode))]
fn autograd_backward(
    py: Python<'_>,
    heads: Vec<PyRef<'_, PyNDArray>>,
    head_grads: Vec<Option<PyRef<'_, PyNDArray>>>,
    variables: Option<Vec<PyRef<'_, PyNDArray>>>,
    retain_graph: bool,
    create_graph: bool,
    train_mode: bool,
) -> PyResult<Vec<PyNDArray>> {
    let heads: Vec<NDArray> = heads.iter().map(|h| h.0.clone()).collect();
    let hgs: Vec<Option<NDArray>> = head_grads.iter().map(|h| h.as_ref().map(|h| h.0.clone())).collect();
    let vars: Option<Vec<NDArray>> = variables.map(|v| v.iter().map(|h| h.0.clone()).collect());
    let opts = BackwardOptions { retain_graph, create_graph, is_train: train_mode };
    CALLBACK_ERROR.with(|c| c.borrow_mut().take());
    let r = enter_detached(py, "autograd.backward", || ag::backward(&heads, &hgs, vars.as_deref(), opts));
    match (r, CALLBACK_ERROR.with(|c| c.borrow_mut().take())) {
        (Err(_), Some(e)) => Err(e),
        (r, _) => Ok(r?.into_iter().map(PyNDArray).collect()),
    }
}

/// A node's backward implemented by a Python callable `f(out_grads, train_mode, dests)`
/// returning one gradient (an `NDArrayHandle` or None) per input; `dests` has one entry per
/// input, the variable's gradient buffer where the callable may write that input's gradient
/// itself and return the buffer (see `CustomBackward::backward_into`), else None.
struct PyBackward {
    callback: Py<PyAny>,
    name: String,
}

impl PyBackward {
    fn call(
        &self,
        out_grads: &[NDArray],
        is_train: bool,
        dests: &[Option<NDArray>],
    ) -> mxrs_ndarray_core::Result<Vec<Option<NDArray>>> {
        Python::attach(|py| {
            let ogs: Vec<PyNDArray> = out_grads.iter().map(|g| PyNDArray(g.clone())).collect();
            let ds: Vec<Option<PyNDArray>> = dests.iter().map(|d| d.clone().map(PyNDArray)).collect();
            let r = self
                .callback
                .call1(py, (ogs, is_train, ds))
                .and_then(|r| r.bind(py).extract::<Vec<Option<PyRef<'_, PyNDArray>>>>());
            match r {
                Ok(gs) => Ok(gs.into_iter().map(|g| g.map(|g| g.0.clone())).collect()),
                Err(e) => {
                    let msg = format!("{}: backward raised {e}", self.name);
                    CALLBACK_ERROR.with(|c| *c.borrow_mut() = Some(e));
                    Err(Error::Autograd(msg))
                }
            }
        })
    }
}

impl CustomBackward<NDArray> for PyBackward {
    fn backward(&self, out_grads: &[NDArray], is_train: bool) -> mxrs_ndarray_core::Result<Vec<Option<NDArray>>> {
        self.call(out_grads, is_train, &[])
    }
    fn backward_into(
        &self,
        out_grads: &[NDArray],
        is_train: bool,
        dests: &[Option<NDArray>],
    ) -> mxrs_ndarray_core::Result<Vec<Option<NDArray>>> {
        self.call(out_grads, is_train, dests)
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// Record a node with a Python backward (`callback(out_grads, train_mode)`) from `inputs` to
/// `outputs`; returns the outputs' new handles (pointing at the node).
#[pyfunction]
fn autograd_record_custom(
    name: String,
    callback: Py<PyAny>,
    inputs: Vec<PyRef<'_, PyNDArray>>,
    outputs: Vec<PyRef<'_, PyNDArray>>,
) -> PyResult<Vec<PyNDArray>> {
    enter("autograd.Function", || {
        let ins: Vec<NDArray> = inputs.iter().map(|h| h.0.clone()).collect();
        let mut outs: Vec<NDArray> = outputs.iter().map(|h| h.0.clone()).collect();
        ag::record::check_writable(&name, Some(&outs))?;
        ag::record::record_custom(Arc::new(PyBackward { callback, name }), &ins, &mut outs);
        Ok::<_, Error>(outs.into_iter().map(PyNDArray).collect())
    })
}

/// The recorded history of `head` as a Symbol (`autograd.get_symbol`): each op node becomes a
/// node of the op, each variable and each input from outside the graph a variable `var<k>`.
fn tape_symbol(head: &NDArray) -> mxrs_ndarray_core::Result<Symbol> {
    let not_in_graph = || Error::Autograd("get_symbol: the array is not part of a recorded graph".into());
    let head_entry = head.autograd_entry().ok_or_else(not_in_graph)?;
    // Post-order over the nodes (iterative: recorded loops are deep), symbols memoized by node.
    let mut made: HashMap<usize, Symbol> = HashMap::new();
    let mut stack: Vec<(Arc<TapeNode>, bool)> = vec![(head_entry.node.clone(), false)];
    let mut vars = 0usize;
    let mut fresh_var = || {
        vars += 1;
        Symbol::variable(&format!("var{}", vars - 1), Attrs::default())
    };
    while let Some((node, expanded)) = stack.pop() {
        let key = Arc::as_ptr(&node) as usize;
        if made.contains_key(&key) {
            continue;
        }
        let state = node.state.lock();
        let sym = match &*state {
            NodeState::Variable { .. } => fresh_var(),
            NodeState::Op(r) if r.edges.is_empty() => {
                // A node outside any graph (only constants in): a constant input.
                fresh_var()
            }
            NodeState::Op(r) if !expanded => {
                let pending: Vec<Arc<TapeNode>> = r.edges.iter().flatten().map(|e| e.node.clone()).collect();
                drop(state);
                stack.push((node, true));
                stack.extend(pending.into_iter().map(|n| (n, false)));
                continue;
            }
            NodeState::Op(r) => {
                let mut args = Vec::with_capacity(r.edges.len());
                for e in &r.edges {
                    args.push(match e {
                        Some(e) => made[&(Arc::as_ptr(&e.node) as usize)].output(e.index)?,
                        None => fresh_var(),
                    });
                }
                let name = format!("{}{}", r.op.name().trim_start_matches('_'), made.len());
                Symbol::create(r.op.name(), &name, r.attrs.clone(), &args, &[])?
            }
            NodeState::Custom(r) => {
                return Err(Error::NotSupported(format!(
                    "get_symbol: the history holds a custom node ({}), which has no Symbol",
                    r.backward.name()
                )));
            }
            NodeState::Freed => return Err(not_in_graph()),
        };
        made.insert(key, sym);
    }
    made[&(Arc::as_ptr(&head_entry.node) as usize)].output(head_entry.index)
}

/// `autograd.get_symbol(x)`: the recorded history of `x` as a Symbol.
#[pyfunction]
fn autograd_get_symbol(array: &PyNDArray) -> PyResult<PySymbol> {
    enter("autograd.get_symbol", || tape_symbol(&array.0).map(PySymbol))
}

/// Add the functions of this file to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(autograd_set_recording, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_set_training, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_is_recording, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_is_training, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_mark_variable, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_grad_of, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_grad_req_of, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_detach, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_fresh_grad, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_set_fresh_grad, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_backward, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_record_custom, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_get_symbol, m)?)?;
    Ok(())
}
