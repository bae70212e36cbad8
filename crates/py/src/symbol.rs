//! `SymbolHandle` and `ExecutorHandle`: the native halves of `mxrs.symbol.Symbol` and
//! `mxrs.executor.Executor`.

use std::collections::BTreeMap;

use mxrs_ndarray_core::{Attrs, DType, NDArray};
use mxrs_symbol::{BindArgs, Executor, GradReq, Symbol};
use pyo3::prelude::*;

use crate::error::PyMxError;
use crate::guard::{enter, enter_detached, enter_ok};
use crate::ndarray::{PyNDArray, ctx_of};

/// A symbol (an immutable graph).
#[pyclass(frozen, module = "mxrs._native", name = "SymbolHandle")]
#[derive(Debug)]
pub struct PySymbol(pub Symbol);

type Shapes = Vec<Option<Vec<usize>>>;
type Dtypes = Vec<Option<&'static str>>;

fn syms(v: &[PyRef<'_, PySymbol>]) -> Vec<Symbol> {
    v.iter().map(|s| s.0.clone()).collect()
}

fn named(v: Vec<(String, PyRef<'_, PySymbol>)>) -> Vec<(String, Symbol)> {
    v.into_iter().map(|(k, s)| (k, s.0.clone())).collect()
}

#[pymethods]
impl PySymbol {
    /// A variable.
    #[staticmethod]
    fn variable(name: &str, attrs: BTreeMap<String, String>) -> PyResult<PySymbol> {
        enter_ok("Variable", || PySymbol(Symbol::variable(name, Attrs(attrs))))
    }
    /// Apply a registered op to positional and named inputs.
    #[staticmethod]
    fn create(
        op: &str,
        name: &str,
        attrs: BTreeMap<String, String>,
        args: Vec<PyRef<'_, PySymbol>>,
        kwargs: Vec<(String, PyRef<'_, PySymbol>)>,
    ) -> PyResult<PySymbol> {
        let (args, kwargs) = (syms(&args), named(kwargs));
        enter(op, || Symbol::create(op, name, Attrs(attrs), &args, &kwargs).map(PySymbol))
    }
    /// Several symbols as one.
    #[staticmethod]
    fn group(members: Vec<PyRef<'_, PySymbol>>) -> PyResult<PySymbol> {
        enter_ok("Group", || PySymbol(Symbol::group(&syms(&members))))
    }
    /// Parse MXNet's JSON.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<PySymbol> {
        enter_detached(py, "load_json", || mxrs_symbol::from_json(text).map(PySymbol))
    }
    /// MXNet's JSON text.
    fn tojson(&self) -> PyResult<String> {
        enter_ok("tojson", || mxrs_symbol::to_json(&self.0))
    }
    /// Argument names.
    fn list_arguments(&self) -> PyResult<Vec<String>> {
        enter_ok("list_arguments", || self.0.list_arguments())
    }
    /// Output names.
    fn list_outputs(&self) -> PyResult<Vec<String>> {
        enter_ok("list_outputs", || self.0.list_outputs())
    }
    /// Aux-state names.
    fn list_auxiliary_states(&self) -> PyResult<Vec<String>> {
        enter_ok("list_auxiliary_states", || self.0.list_auxiliary_states())
    }
    /// Every variable name.
    fn list_inputs(&self) -> PyResult<Vec<String>> {
        enter_ok("list_inputs", || self.0.list_inputs())
    }
    /// Number of outputs.
    fn num_outputs(&self) -> PyResult<usize> {
        enter_ok("Symbol.__len__", || self.0.outputs.len())
    }
    /// Every node's outputs.
    fn get_internals(&self) -> PyResult<PySymbol> {
        enter_ok("get_internals", || PySymbol(self.0.get_internals()))
    }
    /// The head nodes' inputs, or None for a variable.
    fn get_children(&self) -> PyResult<Option<PySymbol>> {
        enter_ok("get_children", || self.0.get_children().map(PySymbol))
    }
    /// Output `i`.
    fn output(&self, i: usize) -> PyResult<PySymbol> {
        enter("Symbol.__getitem__", || self.0.output(i).map(PySymbol))
    }
    /// The head node's name (None for several outputs).
    fn name(&self) -> PyResult<Option<String>> {
        enter_ok("Symbol.name", || self.0.name())
    }
    /// `(op name, is variable)` of the single head node.
    fn head_op(&self) -> PyResult<Option<(String, bool)>> {
        enter_ok("Symbol.head_op", || match self.0.outputs.as_slice() {
            [e] => Some((e.node.op_name().to_string(), e.node.is_variable())),
            _ => None,
        })
    }
    /// The head node's attributes.
    fn attrs(&self) -> PyResult<Option<BTreeMap<String, String>>> {
        enter_ok("Symbol.list_attr", || self.0.attrs().map(|a| a.0.clone()))
    }
    /// `(node name, attributes)` for every node with attributes.
    fn attr_dict(&self) -> PyResult<Vec<(String, BTreeMap<String, String>)>> {
        enter_ok("attr_dict", || self.0.attr_dict().into_iter().map(|(n, a)| (n, a.0)).collect())
    }
    /// A copy with extra attributes on the head node.
    fn with_attrs(&self, attrs: BTreeMap<String, String>) -> PyResult<PySymbol> {
        enter("Symbol._set_attr", || self.0.with_attrs(&Attrs(attrs)).map(PySymbol))
    }
    /// `sym(**kwargs, name=...)`.
    #[pyo3(signature = (name, kwargs))]
    fn compose(&self, name: Option<&str>, kwargs: Vec<(String, PyRef<'_, PySymbol>)>) -> PyResult<PySymbol> {
        let kwargs = named(kwargs);
        enter("compose", || self.0.compose(name, &kwargs).map(PySymbol))
    }
    /// Partial shape inference: (arguments, outputs, aux), None where unknown. A known shape
    /// with a negative dimension or a size that overflows is a `ShapeError`.
    fn infer_shape(&self, known: Vec<(String, Vec<i64>)>) -> PyResult<(Shapes, Shapes, Shapes)> {
        enter("infer_shape", || {
            let known = known
                .into_iter()
                .map(|(k, s)| Ok((k, mxrs_ndarray_core::shape::from_dims("infer_shape", &s)?)))
                .collect::<mxrs_ndarray_core::Result<Vec<_>>>()?;
            mxrs_symbol::infer_shape_lists(&self.0, &known)
        })
    }
    /// Partial dtype inference: (arguments, outputs, aux), None where unknown.
    fn infer_type(&self, known: Vec<(String, String)>) -> PyResult<(Dtypes, Dtypes, Dtypes)> {
        enter("infer_type", || {
            let known = known
                .into_iter()
                .map(|(k, d)| Ok((k, DType::from_name(&d)?)))
                .collect::<mxrs_ndarray_core::Result<Vec<_>>>()?;
            let (a, o, x) = mxrs_symbol::infer_type_lists(&self.0, &known)?;
            let f = |v: Vec<Option<DType>>| v.into_iter().map(|d| d.map(|d| d.name())).collect();
            Ok::<_, mxrs_ndarray_core::Error>((f(a), f(o), f(x)))
        })
    }
}

/// A bound executor.
#[pyclass(frozen, module = "mxrs._native", name = "ExecutorHandle")]
#[derive(Debug)]
pub struct PyExecutor(Executor);

fn arrays(v: &[PyRef<'_, PyNDArray>]) -> Vec<NDArray> {
    v.iter().map(|a| a.0.clone()).collect()
}

#[pymethods]
impl PyExecutor {
    /// Bind a symbol to arrays.
    #[staticmethod]
    fn bind(
        sym: PyRef<'_, PySymbol>,
        ctx: (i32, u32),
        args: Vec<PyRef<'_, PyNDArray>>,
        grads: Vec<Option<PyRef<'_, PyNDArray>>>,
        reqs: Vec<String>,
        aux: Vec<PyRef<'_, PyNDArray>>,
    ) -> PyResult<PyExecutor> {
        enter("bind", || {
            let ctx = ctx_of(ctx.0, ctx.1)?;
            let reqs = reqs.iter().map(|r| GradReq::parse(r)).collect::<mxrs_ndarray_core::Result<Vec<_>>>()?;
            let b = BindArgs {
                args: arrays(&args),
                grads: grads.iter().map(|g| g.as_ref().map(|a| a.0.clone())).collect(),
                reqs,
                aux: arrays(&aux),
            };
            Ok::<_, PyMxError>(PyExecutor(Executor::bind(&sym.0, ctx, b)?))
        })
    }
    /// Push the forward pass (without the GIL: small ops may run on this thread).
    fn forward(&self, py: Python<'_>, is_train: bool) -> PyResult<()> {
        enter_detached(py, "forward", || self.0.forward(is_train))
    }
    /// Push the backward pass (without the GIL).
    fn backward(&self, py: Python<'_>) -> PyResult<()> {
        enter_detached(py, "backward", || self.0.backward())
    }
    /// The indices of the arguments backward writes a gradient for.
    fn grad_args(&self) -> PyResult<Vec<usize>> {
        enter_ok("Executor.grad_args", || self.0.grad_args())
    }
    /// Make each `(argument index, array)` pair's array the argument's gradient array for the
    /// following backward passes (`Executor::set_grad_array`).
    fn set_grad_arrays(&self, pairs: Vec<(usize, PyRef<'_, PyNDArray>)>) -> PyResult<()> {
        enter("Executor.set_grad_arrays", || {
            for (k, a) in &pairs {
                self.0.set_grad_array(*k, &a.0)?;
            }
            Ok::<_, PyMxError>(())
        })
    }
    /// Output arrays.
    fn outputs(&self) -> PyResult<Vec<PyNDArray>> {
        enter_ok("Executor.outputs", || self.0.outputs().iter().cloned().map(PyNDArray).collect())
    }
    /// Head-gradient arrays.
    fn head_grads(&self) -> PyResult<Vec<PyNDArray>> {
        enter_ok("Executor.head_grads", || self.0.head_grads().iter().cloned().map(PyNDArray).collect())
    }
    /// The schedules, for `debug_str`.
    fn debug_str(&self) -> PyResult<String> {
        enter_ok("Executor.debug_str", || {
            let (f, b) = self.0.num_steps();
            format!(
                "{f} forward step(s), {b} backward step(s), {} buffer(s) of {} bytes\n{}",
                self.0.num_buffers(),
                self.0.peak_bytes(),
                self.0.debug_plan()
            )
        })
    }
}
