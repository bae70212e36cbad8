//! The arithmetic and comparison operators of Python's `NDArray` (`a + b`, `x * 2`, `2 - x`,
//! `a += 1`, `x > 0.5`, `-x`) as CPython's number and comparison slots of its native base
//! class, and the fast op call behind them.
//!
//! A dunder written in Python cost about 0.4 µs of a 1.4 µs `c = a + b` before any work: a
//! frame, `object.__new__` for the result, and a second call into this module. Here `a + b`
//! calls the base class's C slot directly, which reads the operands' handles, runs the op and
//! makes the result. Operands other than an `NDArray` or a plain `int`/`float` go to the
//! Python dunder the slot replaces, so every other case keeps its behaviour.

use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use mxrs_ndarray_core::op::Operator;
use mxrs_ndarray_core::{Attrs, NDArray};
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyType};

use crate::error::PyMxError;
use crate::guard::enter;
use crate::ndarray::PyNDArray;
use crate::ndarray_base::{Held, hold};
use crate::opcache::fast_op;

/// Run a one-output op on one or two arrays, with an optional `scalar` attribute, into `out`
/// when given; returns the output's handle (for `out`, the one that records the call under
/// autograd). The op instance comes from [`fast_op`]'s cache. Callers run it through
/// [`enter`].
pub(crate) fn fast_invoke(
    name: &str,
    a: &NDArray,
    b: Option<&NDArray>,
    scalar: Option<f64>,
    out: Option<&NDArray>,
) -> Result<PyNDArray, PyMxError> {
    fast_invoke_op(fast_op(name, scalar)?, a, b, scalar, out)
}

/// [`fast_invoke`] with the op instance at hand (`scalar` is its attribute, for the tape).
fn fast_invoke_op(
    op: Arc<dyn Operator>,
    a: &NDArray,
    b: Option<&NDArray>,
    scalar: Option<f64>,
    out: Option<&NDArray>,
) -> Result<PyNDArray, PyMxError> {
    let inputs: smallvec::SmallVec<[NDArray; 2]> = match b {
        Some(b) => smallvec::smallvec![a.clone(), b.clone()],
        None => smallvec::smallvec![a.clone()],
    };
    let attrs = || scalar.map(|s| Attrs::from_pairs([("scalar", format!("{s:?}"))])).unwrap_or_default();
    let out = out.map(std::slice::from_ref);
    let mut r = mxrs_ndarray_core::invoke::invoke_op_attrs(op, attrs, &inputs, out, None)?;
    Ok(PyNDArray(r.swap_remove(0)))
}

/// A new instance of the Python class `cls` (the `NDArray` class or a subclass defined in
/// Python, with a `writable` slot) holding `array` (in its own memory: [`ndarray_base`]),
/// writable, made as `cls.__new__(cls)` makes it, without the call.
pub(crate) fn new_array<'py>(cls: &Bound<'py, PyType>, array: NDArray) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let obj = crate::ndarray_base::new_instance(cls, array)?;
    if let Some(w) = installed().filter(|t| cls.is(t.cls.bind(py))).and_then(|t| t.writable) {
        // SAFETY: `obj` is a new instance of the installed class, whose `writable` slot lies at
        // `w` and is empty (null) after the allocation; it takes a strong reference, as setting
        // the attribute would.
        unsafe {
            let slot = obj.as_ptr().cast::<u8>().add(w).cast::<*mut ffi::PyObject>();
            *slot = pyo3::types::PyBool::new(py, true).to_owned().into_ptr();
        }
        return Ok(obj);
    }
    obj.setattr(pyo3::intern!(py, "writable"), true)?;
    Ok(obj)
}

/// One installed operator.
struct Dunder {
    /// The op for two arrays (broadcasting); None sends array operands to `fallback` (the
    /// reflected operators, `other OP self`, whose operands would come swapped).
    array: Option<String>,
    /// The op for an array and a number (`scalar` attribute).
    scalar: String,
    /// `a OP= b`: the result goes into `a`, which is returned.
    inplace: bool,
    /// A unary operator (`-a`): the method takes no argument and runs `scalar` with this number.
    operand: Option<f64>,
    /// The Python dunder for every other operand.
    fallback: Py<PyAny>,
    /// The op for two arrays, once made.
    array_op: std::sync::OnceLock<Arc<dyn Operator>>,
    /// The op for an array and a number, for the number last used (its bits).
    scalar_op: parking_lot::Mutex<Option<(u64, Arc<dyn Operator>)>>,
}

impl Dunder {
    /// The op for two arrays ([`Dunder::array`]), made on first use.
    fn array_op(&self) -> mxrs_ndarray_core::Result<&Arc<dyn Operator>> {
        if let Some(op) = self.array_op.get() {
            return Ok(op);
        }
        // Callers come here only for operators with an array op; `scalar` names some op anyway.
        let op = fast_op(self.array.as_deref().unwrap_or(&self.scalar), None)?;
        Ok(self.array_op.get_or_init(|| op))
    }

    /// The op for two arrays (`scalar` None) or for an array and `scalar`, kept from the last
    /// call when it serves again (`x * 2` in a loop), else from [`fast_op`].
    fn op(&self, scalar: Option<f64>) -> mxrs_ndarray_core::Result<Arc<dyn Operator>> {
        match (scalar, &self.array) {
            (None, Some(_)) => self.array_op().cloned(),
            _ => {
                let bits = scalar.map_or(0, f64::to_bits);
                let mut last = self.scalar_op.lock();
                if let Some((_, op)) = last.as_ref().filter(|(b, _)| *b == bits) {
                    return Ok(op.clone());
                }
                let op = fast_op(&self.scalar, scalar)?;
                *last = Some((bits, op.clone()));
                Ok(op)
            }
        }
    }
}

/// The class and its operators, as [`install_arith`] left them.
struct Installed {
    cls: Py<PyType>,
    /// The operators by their index in [`NAMES`]; None for one the table did not give.
    dunders: Vec<Option<Dunder>>,
    /// Where the `writable` slot lies in an instance (bytes from its start), when
    /// [`writable_offset`] found it.
    writable: Option<usize>,
}

/// The installed table, if any.
fn installed() -> Option<&'static Installed> {
    // SAFETY: set by `install_arith` to a leaked box, never freed.
    unsafe { INSTALLED.load(Ordering::Acquire).as_ref() }
}

/// Where an instance of `cls` keeps its `writable` slot: found by setting it on a fresh
/// instance to a new object and looking for its address in the instance's memory
/// (`__basicsize__` bytes). A subclass's instances keep it at the same place, after CPython's
/// layout of slots. `None` when it is not found: the attribute is then set and read by name.
fn writable_offset(cls: &Bound<'_, PyType>) -> PyResult<Option<usize>> {
    let py = cls.py();
    let size: usize = cls.getattr("__basicsize__")?.extract()?;
    let obj = cls.call_method1("__new__", (cls,))?;
    let w = pyo3::types::PyList::empty(py);
    obj.setattr("writable", &w)?;
    let word = std::mem::size_of::<*mut ffi::PyObject>();
    Ok((std::mem::size_of::<ffi::PyObject>()..size.saturating_sub(word - 1)).step_by(word).find(|&off| {
        // SAFETY: `off + word <= size`, inside the instance's memory, which is allocated with
        // `__basicsize__` bytes and aligned for pointers.
        unsafe { *obj.as_ptr().cast::<u8>().add(off).cast::<*mut ffi::PyObject>() == w.as_ptr() }
    }))
}

/// The object in the slot at `off` of `obj` (borrowed), or `None` when the slot is empty.
///
/// # Safety
/// `obj` is an instance of the installed class or of a subclass, and `off` is
/// [`writable_offset`] for it.
unsafe fn slot_value<'py>(obj: &Bound<'py, PyAny>, off: usize) -> Option<Bound<'py, PyAny>> {
    // SAFETY: the slot lies inside the instance (the caller's contract); it holds null or a
    // strong reference the instance owns, which outlives this borrow while the GIL is held.
    unsafe {
        let p = *obj.as_ptr().cast::<u8>().add(off).cast::<*mut ffi::PyObject>();
        (!p.is_null()).then(|| Bound::from_borrowed_ptr(obj.py(), p))
    }
}

/// The installed table: leaked, so that the C functions read it without a lock; installing
/// again (a reloaded module) replaces it and leaks the old one.
static INSTALLED: AtomicPtr<Installed> = AtomicPtr::new(std::ptr::null_mut());

/// The operator `dunders[i]` ([`NAMES`]`[i]`): `slf OP other`, or `OP slf` for a unary one
/// (`other` None); run through [`enter`] by the base class's slots ([`ndarray_base`]).
fn apply<'py>(
    py: Python<'py>,
    i: usize,
    slf: &Bound<'py, PyAny>,
    other: Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>> {
    // SAFETY: set once by `install_arith` before the methods exist, and never freed.
    let table = unsafe { &*INSTALLED.load(Ordering::Acquire) };
    let Some(d) = table.dunders[i].as_ref() else { return Ok(py.NotImplemented()) };
    let cls = table.cls.bind(py);
    // The operands sorted first: the fallback and a subclass's `writable` may run Python
    // code, and the arrays are borrowed ([`hold`]) only while native code runs.
    let (b, scalar) = match (other, d.operand) {
        (None, Some(x)) => (None, Some(x)),
        (None, None) => return d.fallback.call1(py, (slf,)),
        (Some(other), _) => {
            if other.is_exact_instance(cls) && d.array.is_some() {
                (Some(other), None)
            } else if other.is_exact_instance_of::<PyFloat>() || other.is_exact_instance_of::<PyInt>() {
                (None, Some(other.extract::<f64>()?))
            } else {
                return d.fallback.call1(py, (slf, other));
            }
        }
    };
    if d.inplace {
        // SAFETY: `slf` is an instance of `cls` or of a subclass (the slot checks it), and the
        // offset is `writable_offset`'s for `cls`.
        let writable = match table.writable.and_then(|off| unsafe { slot_value(slf, off) }) {
            Some(w) => w,
            None => slf.getattr(pyo3::intern!(py, "writable"))?,
        };
        if !writable.is_truthy()? {
            return Err(PyValueError::new_err("trying to modify a readonly NDArray"));
        }
    }
    let a = hold(slf)?;
    let b = b.map(hold).transpose()?;
    let b = b.as_ref().map(Held::get);
    if let (Some(b), false) = (b, d.inplace) {
        // Two arrays into a new one, the loop's common case: the kept op, borrowed.
        let op = d.array_op().map_err(PyMxError::from)?;
        return new_result(cls, op, a.get(), Some(b), None);
    }
    let op = d.op(if b.is_some() { None } else { scalar }).map_err(PyMxError::from)?;
    if d.inplace {
        let h = fast_invoke_op(op, a.get(), b, scalar, Some(a.get()))?;
        drop(a);
        // Recorded, `slf` takes the handle the tape knows as the result; otherwise that is
        // `slf`'s own array again.
        if mxrs_ndarray_core::autograd::record::is_recording() {
            slf.setattr(pyo3::intern!(py, "_handle"), Py::new(py, h)?)?;
        }
        return Ok(slf.clone().unbind());
    }
    new_result(cls, &op, a.get(), b, scalar)
}

/// A new `cls` instance holding `op` over `a` (and `b`): the short way's result when it takes
/// the call ([`mxrs_ndarray_core::invoke::invoke_small`]), else the general call's.
fn new_result(
    cls: &Bound<'_, PyType>,
    op: &Arc<dyn Operator>,
    a: &NDArray,
    b: Option<&NDArray>,
    scalar: Option<f64>,
) -> PyResult<Py<PyAny>> {
    let small = match b {
        Some(b) => mxrs_ndarray_core::invoke::invoke_small(&**op, &[a, b]),
        None => mxrs_ndarray_core::invoke::invoke_small(&**op, &[a]),
    };
    let r = match small {
        Some(r) => r,
        None => fast_invoke_op(op.clone(), a, b, scalar, None)?.0,
    };
    Ok(new_array(cls, r)?.unbind())
}

/// Run operator `i` on the borrowed `slf` (and `other`) under the entry points' guard (errors
/// become exceptions, a panic an `MXNetError`), as a C method returns it.
///
/// # Safety
/// The GIL is held, and `slf` and `other` are live objects borrowed for the call (as CPython
/// passes a method's arguments).
unsafe fn run_slot(i: usize, slf: *mut ffi::PyObject, other: Option<*mut ffi::PyObject>) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held (the caller's contract).
    let py = unsafe { Python::assume_attached() };
    let r = enter("an NDArray operator", || {
        // SAFETY: `slf` is a live object borrowed for the call (the caller's contract), which
        // outlives it: no reference is taken.
        let slf = unsafe { pyo3::Borrowed::from_ptr(py, slf) };
        // SAFETY: as `slf`.
        let other = other.map(|o| unsafe { pyo3::Borrowed::from_ptr(py, o) });
        apply(py, i, &slf, other.as_deref())
    });
    c_result(py, r)
}

/// A C method's return value for `r`: the object (a new reference), or null with the
/// exception set.
fn c_result(py: Python<'_>, r: PyResult<Py<PyAny>>) -> *mut ffi::PyObject {
    match r {
        Ok(obj) => obj.into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// The operators the native base class gives, by the index [`install_arith`] files them under:
/// its table's entries are matched to these names.
const NAMES: [&str; 24] = [
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__mod__",
    "__rmod__",
    "__pow__",
    "__rpow__",
    "__lt__",
    "__le__",
    "__eq__",
    "__ne__",
    "__gt__",
    "__ge__",
    "__iadd__",
    "__isub__",
    "__imul__",
    "__itruediv__",
    "__imod__",
    "__neg__",
];

/// Where the comparisons start in [`NAMES`]: `__lt__` + CPython's `Py_LT`... `Py_GE` (0-5).
const COMPARE: usize = 12;

/// `NotImplemented`, a new reference (CPython then tries the other operand).
fn not_implemented() -> *mut ffi::PyObject {
    // SAFETY: `Py_NotImplemented` is a static singleton; the caller gets a new reference.
    unsafe {
        let p = ffi::Py_NotImplemented();
        ffi::Py_IncRef(p);
        p
    }
}

/// Whether `obj` is an instance of the installed class (or of a subclass).
///
/// # Safety
/// The GIL is held and `obj` is a live object.
unsafe fn is_ours(t: &Installed, obj: *mut ffi::PyObject) -> bool {
    // SAFETY: the caller's contract; the class is alive while installed.
    unsafe { ffi::PyObject_TypeCheck(obj, t.cls.as_ptr().cast()) != 0 }
}

/// The binary number slot of the operators `L` (`v OP w`) and `R` (`w OP v`, reflected): CPython
/// calls it with the left operand first, whichever of the two is the array.
unsafe extern "C" fn binary<const L: usize, const R: usize>(
    v: *mut ffi::PyObject,
    w: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let Some(t) = installed() else { return not_implemented() };
    // SAFETY: CPython calls a number slot with the GIL held and both operands live (borrowed).
    unsafe {
        if is_ours(t, v) {
            run_slot(L, v, Some(w))
        } else if is_ours(t, w) {
            run_slot(R, w, Some(v))
        } else {
            not_implemented()
        }
    }
}

/// `pow(v, w)`: the binary slot of `__pow__` and `__rpow__`; the three-argument form is not
/// supported (`TypeError`, as for a class without it).
unsafe extern "C" fn power(v: *mut ffi::PyObject, w: *mut ffi::PyObject, z: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython passes `Py_None` for an absent modulus; the GIL is held.
    if z != unsafe { ffi::Py_None() } {
        return not_implemented();
    }
    // SAFETY: as `binary`'s caller.
    unsafe { binary::<10, 11>(v, w) }
}

/// The in-place number slot of operator `I` (`v OP= w`).
unsafe extern "C" fn inplace<const I: usize>(v: *mut ffi::PyObject, w: *mut ffi::PyObject) -> *mut ffi::PyObject {
    match installed() {
        // SAFETY: CPython calls a number slot with the GIL held and both operands live.
        Some(t) if unsafe { is_ours(t, v) } => unsafe { run_slot(I, v, Some(w)) },
        _ => not_implemented(),
    }
}

/// The unary number slot of operator `I` (`-v`).
unsafe extern "C" fn unary<const I: usize>(v: *mut ffi::PyObject) -> *mut ffi::PyObject {
    match installed() {
        // SAFETY: CPython calls a number slot with the GIL held and the operand live.
        Some(t) if unsafe { is_ours(t, v) } => unsafe { run_slot(I, v, None) },
        _ => not_implemented(),
    }
}

/// The rich comparison slot: `v OP w` for CPython's `op` (`Py_LT`... `Py_GE`).
unsafe extern "C" fn richcompare(
    v: *mut ffi::PyObject,
    w: *mut ffi::PyObject,
    op: std::ffi::c_int,
) -> *mut ffi::PyObject {
    match (installed(), usize::try_from(op)) {
        // SAFETY: CPython calls the slot with the GIL held and both operands live.
        (Some(t), Ok(op @ 0..=5)) if unsafe { is_ours(t, v) } => unsafe { run_slot(COMPARE + op, v, Some(w)) },
        _ => not_implemented(),
    }
}

/// `mxrs._native.NDArrayBase`, the native base class of Python's `NDArray`
/// ([`crate::ndarray_base`]), with the class's operators as CPython's own number and
/// comparison slots. A class whose dunders are a native base's slots has CPython call the C
/// function straight from `a + b`; methods set on the class instead go through `slot_nb_add`,
/// a method lookup and a vectorcall each time (about 15 ns of a 0.32 µs `c = a + b`).
/// [`install_arith`] fills the table the slots run, and removes the class's own dunders so
/// that the base's show through.
pub(crate) fn ndarray_base(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    use crate::ndarray_base::type_slot as slot;
    type Binary = unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject) -> *mut ffi::PyObject;
    let slots = vec![
        slot!(Py_nb_add, binary::<0, 1> as Binary),
        slot!(Py_nb_subtract, binary::<2, 3> as Binary),
        slot!(Py_nb_multiply, binary::<4, 5> as Binary),
        slot!(Py_nb_true_divide, binary::<6, 7> as Binary),
        slot!(Py_nb_remainder, binary::<8, 9> as Binary),
        slot!(Py_nb_power, power as ffi::ternaryfunc),
        slot!(Py_tp_richcompare, richcompare as ffi::richcmpfunc),
        slot!(Py_nb_inplace_add, inplace::<18> as Binary),
        slot!(Py_nb_inplace_subtract, inplace::<19> as Binary),
        slot!(Py_nb_inplace_multiply, inplace::<20> as Binary),
        slot!(Py_nb_inplace_true_divide, inplace::<21> as Binary),
        slot!(Py_nb_inplace_remainder, inplace::<22> as Binary),
        slot!(Py_nb_negative, unary::<23> as ffi::unaryfunc),
    ];
    crate::ndarray_base::make_type(py, slots, c"The native side of NDArray: its array and its operators.")
}

/// `NDArray.wait_to_read` as a native method: the handle from its slot, and an array with no
/// write pending answered without a Python frame or releasing the GIL (a loop that waits after
/// every op paid about 30 ns for the frame). A handle other than an `NDArrayHandle` has its own
/// `wait_to_read` called.
unsafe extern "C" fn wait_to_read(slf: *mut ffi::PyObject, _: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a method's C function with the GIL held and `slf` the instance.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `slf` is a live borrowed object for the call.
    let slf = unsafe { Bound::from_borrowed_ptr(py, slf) };
    let r = enter("NDArray.wait_to_read", || -> PyResult<()> {
        if let Some(h) = crate::ndarray_base::held(&slf) {
            return crate::ndarray::wait_readable(py, h.get());
        }
        let handle = slf.getattr(pyo3::intern!(py, "_handle"))?;
        match handle.cast::<PyNDArray>() {
            Ok(h) => crate::ndarray::wait_readable(py, &h.get().0),
            Err(_) => handle.call_method0(pyo3::intern!(py, "wait_to_read")).map(drop),
        }
    });
    c_result(py, r.map(|()| py.None()))
}

/// Make `wait_to_read` a native method of `cls` (see [`wait_to_read`]).
#[pyfunction]
pub(crate) fn install_wait(cls: &Bound<'_, PyType>) -> PyResult<()> {
    enter("install_wait", || {
        // The definition must outlive the descriptor, which lives as long as the class: leaked.
        let def = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: c"wait_to_read".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: wait_to_read },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: c"Block until every pending write to this array is done; raise its failure if any.".as_ptr(),
        }));
        // SAFETY: the GIL is held; `cls` is a live type object and `def` is never freed; the
        // result is a new reference or null with an exception set.
        let descr = unsafe { Bound::from_owned_ptr_or_err(cls.py(), ffi::PyDescr_NewMethod(cls.as_type_ptr(), def))? };
        cls.setattr("wait_to_read", descr)
    })
}

/// One operator as `mxrs.ndarray` gives it: (dunder name, the op for two arrays or None, the op
/// for an array and a number, whether it is in place, the number of a unary operator or None,
/// the Python dunder for other operands).
type Entry = (String, Option<String>, String, bool, Option<f64>, Py<PyAny>);

/// Make the operators `table` native for `cls`, a subclass of [`ndarray_base`]'s class
/// (each entry as [`Entry`], named as one of the base's operators). The class's own dunders of
/// those names become the fallbacks of [`apply`] and are removed from the class, so that the
/// base's slots serve it. Replaces a previous installation.
#[pyfunction]
pub(crate) fn install_arith(cls: &Bound<'_, PyType>, table: Vec<Entry>) -> PyResult<()> {
    enter("install_arith", || install(cls, table))
}

fn install(cls: &Bound<'_, PyType>, table: Vec<Entry>) -> PyResult<()> {
    crate::ndarray_base::set_leaf(cls)?;
    let mut dunders: Vec<Option<Dunder>> = NAMES.iter().map(|_| None).collect();
    for (name, array, scalar, inplace, operand, fallback) in table {
        let Some(i) = NAMES.iter().position(|n| *n == name) else {
            return Err(PyValueError::new_err(format!("install_arith: NDArrayBase has no operator {name}")));
        };
        dunders[i] = Some(Dunder {
            array,
            scalar,
            inplace,
            operand,
            fallback,
            array_op: Default::default(),
            scalar_op: Default::default(),
        });
    }
    let writable = writable_offset(cls)?;
    let names: Vec<&str> = NAMES.iter().zip(&dunders).filter(|(_, d)| d.is_some()).map(|(n, _)| *n).collect();
    let installed = Box::into_raw(Box::new(Installed { cls: cls.clone().unbind(), dunders, writable }));
    INSTALLED.store(installed, Ordering::Release);
    let own = cls.getattr("__dict__")?;
    for name in names {
        if own.contains(name)? {
            cls.delattr(name)?;
        }
    }
    Ok(())
}
