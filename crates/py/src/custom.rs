//! The Python side of `Custom` ops in Symbol graphs: a [`CustomBackend`] that makes each prop
//! through a Python factory (`mxrs.ndarray._custom._make_bridge`), and a [`CustomProp`] that
//! calls the bridge object it returns.
//!
//! Forward and backward run on engine threads: each call takes the interpreter lock, hands the
//! operator fresh host arrays, runs its Python code with the ops it pushes run inline
//! ([`run_inline`]), and reads the results back with the lock released. Every wait of the
//! bindings releases the lock, so a thread blocked on the engine never holds it.

use std::sync::Arc;

use mxrs_ndarray_core::op::custom::{
    BackwardCall, CustomBackend, CustomProp, ForwardCall, ForwardResult, HostArray, Inferred, run_inline, set_backend,
};
use mxrs_ndarray_core::shape::Shape;
use mxrs_ndarray_core::{Context, CpuStorage, DType, Error, NDArray, Result};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::guard::enter_ok;
use crate::ndarray::PyNDArray;

/// The message of a Python exception (the bridge formats it with the op type and traceback).
fn py_error(py: Python<'_>, op_type: &str, what: &str, e: &PyErr) -> Error {
    let text = e.value(py).str().map(|s| s.to_string()).unwrap_or_else(|_| e.to_string());
    Error::msg(format!("Custom operator '{op_type}': {what}: {text}"))
}

/// Run `f` with the interpreter lock, failing cleanly while the interpreter shuts down.
fn with_python<R>(op_type: &str, f: impl FnOnce(Python<'_>) -> Result<R>) -> Result<R> {
    Python::try_attach(f).unwrap_or_else(|| {
        Err(Error::msg(format!("Custom operator '{op_type}': the Python interpreter is not available")))
    })
}

/// The backend: the Python factory of bridge objects.
struct PyBackend {
    factory: Py<PyAny>,
}

impl CustomBackend for PyBackend {
    fn create(&self, op_type: &str, kwargs: &[(String, String)]) -> Result<Arc<dyn CustomProp>> {
        with_python(op_type, |py| {
            let kw = PyDict::new(py);
            for (k, v) in kwargs {
                kw.set_item(k, v).map_err(|e| py_error(py, op_type, "kwargs", &e))?;
            }
            let err = |e: PyErr| py_error(py, op_type, "creating the operator", &e);
            let obj = self.factory.call1(py, (op_type, kw)).map_err(err)?;
            let b = obj.bind(py);
            let names = |attr: &str| -> Result<Vec<String>> { b.getattr(attr).and_then(|v| v.extract()).map_err(err) };
            Ok(Arc::new(PyProp {
                op_type: op_type.to_string(),
                arguments: names("arguments")?,
                outputs: names("outputs")?,
                aux: names("aux")?,
                need_top_grad: b.getattr("need_top_grad").and_then(|v| v.extract()).map_err(err)?,
                obj: obj.clone_ref(py),
            }) as Arc<dyn CustomProp>)
        })
    }
}

/// A prop: the bridge object and what it declared.
struct PyProp {
    op_type: String,
    arguments: Vec<String>,
    outputs: Vec<String>,
    aux: Vec<String>,
    need_top_grad: bool,
    obj: Py<PyAny>,
}

impl std::fmt::Debug for PyProp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyProp").field("op_type", &self.op_type).field("arguments", &self.arguments).finish()
    }
}

type Names = (Vec<Option<String>>, Vec<Option<String>>, Vec<Option<String>>);

fn dtypes(op: &str, v: Vec<Option<String>>) -> Result<Vec<Option<DType>>> {
    v.into_iter()
        .map(|d| {
            d.map(|d| DType::from_name(&d).map_err(|e| Error::param(format!("Custom({op})"), e.to_string())))
                .transpose()
        })
        .collect()
}

/// Host arrays as handles for Python.
fn handles(py: Python<'_>, v: Vec<HostArray>) -> Result<Vec<Py<PyNDArray>>> {
    v.into_iter().map(|(s, shape)| new_handle(py, NDArray::from_cpu(s, &shape, Context::cpu(0))?)).collect()
}

fn zero_handles(py: Python<'_>, shapes: &[Shape], dtypes: &[DType]) -> Result<Vec<Py<PyNDArray>>> {
    shapes.iter().zip(dtypes).map(|(s, &d)| new_handle(py, NDArray::zeros(s, d, Context::cpu(0))?)).collect()
}

fn new_handle(py: Python<'_>, a: NDArray) -> Result<Py<PyNDArray>> {
    Py::new(py, PyNDArray(a)).map_err(|e| Error::msg(e.to_string()))
}

/// The arrays behind handles (read after Python returns, with the lock released).
fn arrays(v: &[Py<PyNDArray>]) -> Vec<NDArray> {
    v.iter().map(|h| h.get().0.clone()).collect()
}

/// Wait for each array and copy it out.
fn read_back(v: &[NDArray]) -> Result<Vec<CpuStorage>> {
    v.iter().map(NDArray::to_cpu_storage).collect()
}

impl CustomProp for PyProp {
    fn op_type(&self) -> &str {
        &self.op_type
    }
    fn arguments(&self) -> &[String] {
        &self.arguments
    }
    fn outputs(&self) -> &[String] {
        &self.outputs
    }
    fn aux_states(&self) -> &[String] {
        &self.aux
    }
    fn need_top_grad(&self) -> bool {
        self.need_top_grad
    }
    fn infer_shape(&self, args: &[Option<Shape>]) -> Result<Option<Inferred<Shape>>> {
        with_python(&self.op_type, |py| {
            let r = self
                .obj
                .call_method1(py, "infer_shape", (args.to_vec(),))
                .map_err(|e| py_error(py, &self.op_type, "infer_shape", &e))?;
            r.extract::<Option<Inferred<Shape>>>(py).map_err(|e| py_error(py, &self.op_type, "infer_shape result", &e))
        })
    }
    fn infer_type(&self, args: &[Option<DType>]) -> Result<Inferred<Option<DType>>> {
        let names: Vec<Option<&'static str>> = args.iter().map(|d| d.map(|d| d.name())).collect();
        let (a, o, x) = with_python(&self.op_type, |py| {
            let r = self
                .obj
                .call_method1(py, "infer_type", (names,))
                .map_err(|e| py_error(py, &self.op_type, "infer_type", &e))?;
            r.extract::<Names>(py).map_err(|e| py_error(py, &self.op_type, "infer_type result", &e))
        })?;
        Ok((dtypes(&self.op_type, a)?, dtypes(&self.op_type, o)?, dtypes(&self.op_type, x)?))
    }
    fn forward(&self, call: ForwardCall<'_>) -> Result<ForwardResult> {
        let (outs, aux) = with_python(&self.op_type, |py| {
            let ins = handles(py, call.in_data)?;
            let aux = handles(py, call.aux)?;
            let outs = zero_handles(py, call.out_shapes, call.out_dtypes)?;
            let result = (arrays(&outs), arrays(&aux));
            run_inline(|| self.obj.call_method1(py, "forward", (call.is_train, ins, outs, aux)))
                .map_err(|e| py_error(py, &self.op_type, "forward", &e))?;
            Ok(result)
        })?;
        Ok((read_back(&outs)?, read_back(&aux)?))
    }
    fn backward(&self, call: BackwardCall) -> Result<Vec<CpuStorage>> {
        let grads = with_python(&self.op_type, |py| {
            let shapes: Vec<Shape> = call.in_data.iter().map(|(_, s)| s.clone()).collect();
            let dts: Vec<DType> = call.in_data.iter().map(|(s, _)| s.dtype()).collect();
            let in_grad = zero_handles(py, &shapes, &dts)?;
            let args = (handles(py, call.out_grad)?, handles(py, call.in_data)?, handles(py, call.out_data)?);
            let aux = handles(py, call.aux)?;
            let result = arrays(&in_grad);
            run_inline(|| self.obj.call_method1(py, "backward", (args.0, args.1, args.2, in_grad, aux)))
                .map_err(|e| py_error(py, &self.op_type, "backward", &e))?;
            Ok(result)
        })?;
        read_back(&grads)
    }
}

/// Install the Python factory of custom-operator bridges (called once by `mxrs.ndarray._custom`).
#[pyfunction]
fn custom_set_factory(factory: Py<PyAny>) -> PyResult<()> {
    enter_ok("custom_set_factory", || set_backend(Arc::new(PyBackend { factory })))
}

/// Add this file's functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(custom_set_factory, m)?)
}
