//! The op functions of `mx.nd` (`mx.nd.relu(x)`, `mx.nd.dot(a, b, transpose_b=True)`) as
//! native callables.
//!
//! Each generated function (`python/mxrs/ndarray/_ops.py`) is a Python frame that packs its
//! inputs into a list and its attributes into a dict for one more Python frame, `_call`, which
//! hands them to [`crate::call`]. That cost about 0.3 µs of a 1.35 µs `relu` on a 2x3 array.
//! An [`OpFunction`] takes the call's own arguments instead: the inputs by position or
//! keyword, the attributes by keyword, `out`, and runs the op in the same native step. Every
//! call it does not take (a `ctx`, an attribute given by position or of another type, an input
//! that is not an `NDArray`, an unknown keyword) goes to the generated function it replaces,
//! which also gives it its name, docs and signature (`__wrapped__`).

use std::collections::BTreeMap;

use mxrs_ndarray_core::NDArray;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use crate::guard::{enter, enter_ok};
use crate::ndarray::PyNDArray;
use crate::opcache::run_op;

/// The attribute string of `v` for attribute `k`, as the generated functions make it (`_attr`),
/// or None where only they can make it (a NumPy type, a nested tuple, a `dtype` that is not a
/// str...).
pub(crate) fn attr_text(k: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if v.is_none() {
        // An explicit None is passed on ("axis=None" means "all axes" for some ops).
        return Ok(Some("None".to_string()));
    }
    if let Ok(s) = v.cast_exact::<PyString>() {
        return Ok(Some(s.to_str()?.to_string()));
    }
    if k == "dtype" {
        return Ok(None);
    }
    if let Ok(b) = v.cast_exact::<PyBool>() {
        return Ok(Some(if b.is_true() { "True" } else { "False" }.to_string()));
    }
    if v.is_exact_instance_of::<PyInt>() || v.is_exact_instance_of::<PyFloat>() {
        return Ok(Some(v.str()?.to_str()?.to_string()));
    }
    // A tuple or list of numbers (`kernel=(3, 3)`, `axis=[0, 1]`): "(3, 3)", "(0,)" for one.
    let items = if let Ok(t) = v.cast_exact::<PyTuple>() {
        t.as_sequence().clone()
    } else if let Ok(l) = v.cast_exact::<PyList>() {
        l.as_sequence().clone()
    } else {
        return Ok(None);
    };
    let len = items.len()?;
    let mut text = String::from("(");
    for i in 0..len {
        let x = items.get_item(i)?;
        if i > 0 {
            text.push_str(", ");
        }
        if let Ok(b) = x.cast_exact::<PyBool>() {
            text.push_str(if b.is_true() { "True" } else { "False" });
        } else if x.is_exact_instance_of::<PyInt>() || x.is_exact_instance_of::<PyFloat>() {
            text.push_str(x.str()?.to_str()?);
        } else {
            return Ok(None);
        }
    }
    text.push_str(if len == 1 { ",)" } else { ")" });
    Ok(Some(text))
}

/// The handle of `x` when it is a `cls` instance (the `NDArray` class or a subclass).
pub(crate) fn handle_of<'py>(x: &Bound<'py, PyAny>, cls: &Bound<'py, PyType>) -> PyResult<Option<NDArray>> {
    if !x.is_instance(cls)? {
        return Ok(None);
    }
    Ok(Some(crate::ndarray_base::hold(x)?.get().clone()))
}

/// Run op `name` with attribute strings `kw` on `ins`, into `out` (None, a `cls` instance, or
/// a list or tuple of them), and return `out` or the results as `cls` instances (a list when
/// there are several). None, having run nothing, where the call needs the general path: an
/// `out` of another kind, or no inputs and no `out` (the current context decides).
pub(crate) fn run_call<'py>(
    py: Python<'py>,
    name: &str,
    kw: BTreeMap<String, String>,
    ins: &[NDArray],
    out: &Bound<'py, PyAny>,
    cls: &Bound<'py, PyType>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let outs: Option<Vec<Bound<'py, PyAny>>> = if out.is_none() {
        None
    } else if out.is_instance(cls)? {
        Some(vec![out.clone()])
    } else if out.is_instance_of::<PyList>() || out.is_instance_of::<PyTuple>() {
        Some(out.try_iter()?.collect::<PyResult<_>>()?)
    } else {
        return Ok(None);
    };
    let out_handles = match &outs {
        None => None,
        Some(o) => {
            let mut hs = Vec::with_capacity(o.len());
            for x in o {
                let Some(h) = handle_of(x, cls)? else { return Ok(None) };
                hs.push(h);
            }
            Some(hs)
        }
    };
    if ins.is_empty() && out_handles.is_none() {
        return Ok(None);
    }
    let res = run_op(name, kw, ins, out_handles.as_deref(), None).map_err(crate::error::PyMxError)?;
    let handle = pyo3::intern!(py, "_handle");
    if let Some(o) = outs {
        // While recording, the outputs' new handles point at the op's tape node.
        for (x, h) in o.iter().zip(res) {
            x.setattr(handle, Py::new(py, PyNDArray(h))?)?;
        }
        return Ok(Some(out.clone()));
    }
    let mut made: Vec<_> = res.into_iter().map(|h| crate::dunder::new_array(cls, h)).collect::<PyResult<_>>()?;
    if made.len() == 1 {
        return Ok(made.pop());
    }
    Ok(Some(PyList::new(py, made)?.into_any()))
}

/// A generated op function of `mx.nd` made native (see the module's notes). Calling it runs the
/// op, or the function it wraps where the call needs that. (`mxrs.ndarray` makes the class's
/// `__doc__` a property that reads the generated function's.)
#[pyclass(module = "mxrs.ndarray", name = "OpFunction", frozen)]
pub(crate) struct OpFunction {
    /// The registered op.
    op: String,
    /// The names of its inputs, in order (the function's first parameters).
    inputs: Vec<String>,
    /// Its attributes (keyword-only here): the parameter's name and the attribute's (they differ
    /// where the attribute's name is a Python keyword: `lambda_` for `lambda`).
    attrs: Vec<(String, String)>,
    /// The generated function: every call not taken here, and the name, docs and signature.
    func: Py<PyAny>,
    /// MXNet's `_Null` (an attribute not given).
    null: Py<PyAny>,
    /// The `NDArray` class.
    cls: Py<PyType>,
}

impl OpFunction {
    /// The call on the fast path, or None (nothing run) where the generated function must
    /// take it.
    fn fast<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let n = self.inputs.len();
        if args.len() > n {
            return Ok(None);
        }
        let cls = self.cls.bind(py);
        let null = self.null.bind(py);
        let mut slots: smallvec::SmallVec<[Option<Bound<'py, PyAny>>; 4]> = smallvec::smallvec![None; n];
        for (slot, x) in slots.iter_mut().zip(args.iter()) {
            *slot = Some(x);
        }
        let mut kw = BTreeMap::new();
        let mut out = py.None().into_bound(py);
        if let Some(kwargs) = kwargs {
            for (k, v) in kwargs.iter() {
                let k = k.cast_into::<PyString>()?;
                let k = k.to_str()?;
                if let Some(i) = self.inputs.iter().position(|x| x == k) {
                    if slots[i].is_some() {
                        // Given twice: the generated function raises Python's TypeError.
                        return Ok(None);
                    }
                    slots[i] = Some(v);
                } else if let Some((_, attr)) = self.attrs.iter().find(|(p, _)| p == k) {
                    if v.is(null) {
                        continue;
                    }
                    let Some(text) = attr_text(attr, &v)? else { return Ok(None) };
                    kw.insert(attr.clone(), text);
                } else if k == "out" {
                    out = v;
                } else if k == "ctx" {
                    if !v.is_none() {
                        return Ok(None);
                    }
                } else if k != "name" {
                    return Ok(None);
                }
            }
        }
        let mut ins = Vec::with_capacity(n);
        for x in slots.into_iter().flatten() {
            if x.is_none() {
                continue;
            }
            let Some(h) = handle_of(&x, cls)? else { return Ok(None) };
            ins.push(h);
        }
        run_call(py, &self.op, kw, &ins, &out, cls)
    }
}

#[pymethods]
impl OpFunction {
    /// The native form of `func`, the generated function of op `op` with parameters `inputs`
    /// then `attrs` (then `out`, `name`, `ctx` and `**kwargs`), each attribute as (parameter,
    /// attribute name); `null` is MXNet's `_Null` and `array_cls` the `NDArray` class.
    #[new]
    fn new(
        op: String,
        func: Py<PyAny>,
        inputs: Vec<String>,
        attrs: Vec<(String, String)>,
        null: Py<PyAny>,
        array_cls: Py<PyType>,
    ) -> PyResult<Self> {
        enter_ok("OpFunction", || OpFunction { op, inputs, attrs, func, null, cls: array_cls })
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        enter(&self.op, || match self.fast(py, args, kwargs)? {
            Some(r) => Ok(r),
            None => self.func.bind(py).call(args, kwargs),
        })
    }

    /// As a class attribute, a method (`self` first), as a Python function would be.
    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        obj: Option<&Bound<'py, PyAny>>,
        _owner: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        enter("OpFunction.__get__", || match obj {
            Some(o) if !o.is_none() => py.import("types")?.getattr("MethodType")?.call1((slf, o)),
            _ => Ok(slf.clone().into_any()),
        })
    }

    /// The generated function this one stands for.
    #[getter]
    fn __wrapped__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        enter_ok("OpFunction.__wrapped__", || self.func.clone_ref(py))
    }

    #[getter]
    fn __name__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        enter("OpFunction.__name__", || self.func.bind(py).getattr("__name__"))
    }

    #[getter]
    fn __qualname__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        enter("OpFunction.__qualname__", || self.func.bind(py).getattr("__qualname__"))
    }

    #[getter]
    fn __module__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        enter("OpFunction.__module__", || self.func.bind(py).getattr("__module__"))
    }

    /// Pickled by name, as a Python function is: `mxrs.ndarray._ops.<name>` must be this object.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        enter("OpFunction.__reduce__", || self.func.bind(py).getattr("__qualname__"))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        enter("OpFunction.__repr__", || {
            let name = self.func.bind(py).getattr("__name__")?;
            Ok::<_, PyErr>(format!("<op function {name} (native) of mxrs.ndarray>"))
        })
    }
}
