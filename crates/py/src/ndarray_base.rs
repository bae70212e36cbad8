//! `mxrs._native.NDArrayBase`, the native base class of Python's `NDArray`: an instance holds
//! the array an operator made it with, and `_handle` is a property over it.
//!
//! Each `c = a + b` used to make two Python objects, the `NDArray` and its `NDArrayHandle`,
//! and free both when `c` was replaced: the handle's allocation, PyO3's initialisation and its
//! deallocation trampoline were about 8% of the loop. An instance made by the native operators
//! ([`new_instance`]) keeps the array in its own memory instead, and makes the handle object
//! only when Python code first reads `_handle`. Setting `_handle` (any object, as the slot it
//! replaces took) drops the held array: what was set is then the array.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicPtr, Ordering};

use mxrs_ndarray_core::NDArray;
use pyo3::exceptions::{PyAttributeError, PyRuntimeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::ndarray::PyNDArray;

/// A `PyType_Slot` of CPython's slot `$slot` (`Py_nb_add`...) holding the function or pointer
/// `$f`.
macro_rules! type_slot {
    ($slot:ident, $f:expr) => {
        pyo3::ffi::PyType_Slot { slot: pyo3::ffi::$slot, pfunc: $f as *mut std::ffi::c_void }
    };
}
pub(crate) use type_slot;

/// An instance's memory (CPython's header, then these fields; a subclass's slots follow).
#[repr(C)]
struct Instance {
    ob_base: ffi::PyObject,
    /// The array, when `has_array`.
    array: MaybeUninit<NDArray>,
    /// Whether `array` holds one: false in a new (zeroed) instance and after `_handle` is set.
    has_array: bool,
    /// What `_handle` gives: the object set, or the handle made for `array`; null when neither.
    handle: *mut ffi::PyObject,
}

/// The base class, once made.
static BASE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());

/// The subclass most instances have (Python's `NDArray`), once [`set_leaf`] names it: checked
/// before walking the class's bases (`PyType_IsSubtype` was 2% of `c = a + b`).
static LEAF: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());

/// Name `cls`, a subclass of the base class, as the one most instances have; it is kept alive
/// for the process.
pub(crate) fn set_leaf(cls: &Bound<'_, PyType>) -> PyResult<()> {
    if !is_subclass(cls.as_type_ptr()) {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!("{cls} is not a subclass of NDArrayBase")));
    }
    LEAF.store(cls.clone().into_ptr().cast(), Ordering::Release);
    Ok(())
}

/// Whether `tp` is the base class or a subclass.
fn is_subclass(tp: *mut ffi::PyTypeObject) -> bool {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: callers hold the GIL and pass a live type; `base` is the class, never freed.
    tp == LEAF.load(Ordering::Relaxed) || (!base.is_null() && unsafe { ffi::PyType_IsSubtype(tp, base) } != 0)
}

/// `obj` as an instance of the base class (or of a subclass), else None.
fn instance(obj: &Bound<'_, PyAny>) -> Option<*mut Instance> {
    // SAFETY: the GIL is held (`obj`) and `obj` is live.
    is_subclass(unsafe { ffi::Py_TYPE(obj.as_ptr()) }).then(|| obj.as_ptr().cast::<Instance>())
}

/// The array an `NDArray` holds, borrowed from the instance or from its handle object.
pub(crate) enum Held<'a, 'py> {
    /// Kept in the instance's own memory.
    Inline(&'a NDArray),
    /// The `NDArrayHandle` in `_handle`.
    Handle(Bound<'py, PyNDArray>),
}

impl Held<'_, '_> {
    /// The array.
    pub(crate) fn get(&self) -> &NDArray {
        match self {
            Held::Inline(a) => a,
            Held::Handle(h) => &h.get().0,
        }
    }
}

/// The array of `obj`, an instance of the base class: None when `obj` is not one, or holds
/// neither an array nor an `NDArrayHandle` (callers then read `_handle` by name, which raises
/// the error a reader would see).
///
/// An [`Held::Inline`] borrow lasts while no Python code runs: setting `_handle` drops the
/// array it points to. Callers clone the array before anything that may run Python code or
/// release the GIL.
pub(crate) fn held<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> Option<Held<'a, 'py>> {
    let inst = instance(obj)?;
    // SAFETY: `inst` is an instance of the base class (`instance`), whose fields the GIL (held
    // through `obj`) guards; `array` is initialised when `has_array`; `handle` is null or a
    // strong reference the instance owns, taken again here for the returned `Bound`.
    unsafe {
        if (*inst).has_array {
            return Some(Held::Inline((*inst).array.assume_init_ref()));
        }
        let h = (*inst).handle;
        if h.is_null() {
            return None;
        }
        Bound::from_borrowed_ptr(obj.py(), h).cast_into::<PyNDArray>().ok().map(Held::Handle)
    }
}

/// The array of `obj`, an `NDArray` (or an instance of a subclass): [`held`], or its
/// `_handle` read by name (which raises as a reader would for a missing or foreign handle).
pub(crate) fn hold<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> PyResult<Held<'a, 'py>> {
    match held(obj) {
        Some(h) => Ok(h),
        None => Ok(Held::Handle(obj.getattr(pyo3::intern!(obj.py(), "_handle"))?.cast_into::<PyNDArray>()?)),
    }
}

/// A new instance of `cls` (the base class or a subclass defined in Python) holding `array`,
/// made as `cls.__new__(cls)` makes it, without the call; its Python slots are empty.
pub(crate) fn new_instance<'py>(cls: &Bound<'py, PyType>, array: NDArray) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    if !is_subclass(cls.as_type_ptr()) {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!("{cls} is not a subclass of NDArrayBase")));
    }
    // SAFETY: `PyType_GenericAlloc` returns a new, zeroed instance (a new reference) or null
    // with an exception set; the base class and its subclasses take no other initialisation
    // (`tp_new` is `object`'s, which only allocates).
    let obj = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(cls.as_type_ptr(), 0))? };
    let inst = obj.as_ptr().cast::<Instance>();
    // SAFETY: `obj` is a new instance of a subclass of the base, zeroed: no array held yet.
    unsafe {
        (*inst).array.write(array);
        (*inst).has_array = true;
    }
    Ok(obj)
}

/// `_handle`'s getter: the object set, or a handle made (once) for the held array, or
/// `AttributeError` as for an empty slot.
unsafe extern "C" fn get_handle(obj: *mut ffi::PyObject, _: *mut std::ffi::c_void) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a getter with the GIL held on an instance of the class (checked by
    // the descriptor).
    let py = unsafe { Python::assume_attached() };
    let inst = obj.cast::<Instance>();
    // SAFETY: as in `held`.
    unsafe {
        if (*inst).handle.is_null() && (*inst).has_array {
            let array = (*inst).array.assume_init_ref().clone();
            match Py::new(py, PyNDArray(array)) {
                // The allocation may have run the collector, and a finaliser may have set a
                // handle meanwhile: that one stays, and this one is dropped.
                Ok(h) if (*inst).handle.is_null() => (*inst).handle = h.into_ptr(),
                Ok(h) => drop(h),
                Err(e) => {
                    e.restore(py);
                    return std::ptr::null_mut();
                }
            }
        }
        let h = (*inst).handle;
        if h.is_null() {
            PyAttributeError::new_err("_handle").restore(py);
            return std::ptr::null_mut();
        }
        ffi::Py_IncRef(h);
        h
    }
}

/// `_handle`'s setter (`value` null: `del x._handle`): the object becomes the array's handle,
/// and a held array is dropped.
unsafe extern "C" fn set_handle(
    obj: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
    _: *mut std::ffi::c_void,
) -> std::ffi::c_int {
    let inst = obj.cast::<Instance>();
    // SAFETY: as in `held`; the old values are released only after the fields are consistent,
    // since releasing them may run Python code.
    unsafe {
        if !value.is_null() {
            ffi::Py_IncRef(value);
        }
        let old = std::mem::replace(&mut (*inst).handle, value);
        let array = std::mem::take(&mut (*inst).has_array).then(|| (*inst).array.assume_init_read());
        drop(array);
        if !old.is_null() {
            ffi::Py_DecRef(old);
        }
    }
    0
}

/// The objects `dtype` gives, by [`mxrs_ndarray_core::DType`] code, as [`install_dtypes`]
/// named them: each a strong reference kept for the process.
static DTYPES: [AtomicPtr<ffi::PyObject>; 16] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 16];

/// Name the object `NDArray.dtype` gives for each dtype: `types` maps NumPy's names (as
/// `NDArrayHandle.dtype` gives them) to the objects.
#[pyfunction]
pub(crate) fn install_dtypes(types: &Bound<'_, PyDict>) -> PyResult<()> {
    crate::guard::enter("install_dtypes", || -> PyResult<()> {
        for (name, obj) in types.iter() {
            let code = crate::ndarray::dtype_of(name.extract::<&str>()?)? as usize;
            let old = DTYPES[code].swap(obj.into_ptr(), Ordering::AcqRel);
            if !old.is_null() {
                // SAFETY: `old` was a strong reference the table held; the GIL is held (`types`).
                unsafe { ffi::Py_DecRef(old) };
            }
        }
        Ok(())
    })
}

/// The body of the getter `what`: `read` of the array `obj` holds (as [`hold`] finds it), made
/// into the result by `make` once the borrow has ended (an allocation may run the collector,
/// whose finalisers may set `_handle`, which drops a held array), as a new reference, or null
/// with the error set (a panic is an error too, as in every entry point).
///
/// # Safety
/// The GIL is held and `obj` is a live instance of the base class.
unsafe fn get_with<T>(
    what: &str,
    obj: *mut ffi::PyObject,
    read: impl FnOnce(&NDArray) -> T,
    make: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> *mut ffi::PyObject {
    // SAFETY: as the caller promises.
    let (py, obj) = unsafe {
        let py = Python::assume_attached();
        (py, Bound::from_borrowed_ptr(py, obj))
    };
    let r = crate::guard::enter(what, || {
        let value = read(hold(&obj)?.get());
        make(py, value)
    });
    match r {
        Ok(v) => v.into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// `shape`: the shape as a tuple of ints.
unsafe extern "C" fn get_shape(obj: *mut ffi::PyObject, _: *mut std::ffi::c_void) -> *mut ffi::PyObject {
    let read = |a: &NDArray| a.shape().iter().copied().collect::<smallvec::SmallVec<[usize; 6]>>();
    // SAFETY: CPython calls a getter with the GIL held on an instance of the class.
    unsafe { get_with("NDArray.shape", obj, read, |py, dims| Ok(PyTuple::new(py, dims)?.into_any().unbind())) }
}

/// `ndim`: the number of dimensions.
unsafe extern "C" fn get_ndim(obj: *mut ffi::PyObject, _: *mut std::ffi::c_void) -> *mut ffi::PyObject {
    // SAFETY: as in `get_shape`.
    unsafe { get_with("NDArray.ndim", obj, |a| a.shape().len(), |py, n| Ok(n.into_pyobject(py)?.into_any().unbind())) }
}

/// `size`: the number of elements.
unsafe extern "C" fn get_size(obj: *mut ffi::PyObject, _: *mut std::ffi::c_void) -> *mut ffi::PyObject {
    // SAFETY: as in `get_shape`.
    unsafe { get_with("NDArray.size", obj, NDArray::size, |py, n| Ok(n.into_pyobject(py)?.into_any().unbind())) }
}

/// `dtype`: the object [`install_dtypes`] named for the array's dtype.
unsafe extern "C" fn get_dtype(obj: *mut ffi::PyObject, _: *mut std::ffi::c_void) -> *mut ffi::PyObject {
    let make = |py: Python<'_>, dtype: mxrs_ndarray_core::DType| {
        let t = DTYPES[dtype as usize].load(Ordering::Acquire);
        if t.is_null() {
            return Err(PyRuntimeError::new_err(format!(
                "NDArray.dtype: no type named for {} (install_dtypes)",
                dtype.name()
            )));
        }
        // SAFETY: a table entry is a live object the table keeps; the GIL is held (`py`).
        Ok(unsafe { Bound::from_borrowed_ptr(py, t) }.unbind())
    };
    // SAFETY: as in `get_shape`.
    unsafe { get_with("NDArray.dtype", obj, NDArray::dtype, make) }
}

/// `_ctx`: the context as `(dev_type code, dev_id)`, read without making a handle.
unsafe extern "C" fn get_ctx(obj: *mut ffi::PyObject, _: *mut std::ffi::c_void) -> *mut ffi::PyObject {
    let read = |a: &NDArray| (a.ctx().dev_type as i32, a.ctx().dev_id);
    // SAFETY: as in `get_shape`.
    unsafe { get_with("NDArray.context", obj, read, |py, pair| Ok(pair.into_pyobject(py)?.into_any().unbind())) }
}

/// The collector's visit of the handle (an object set from Python may refer back).
unsafe extern "C" fn traverse(
    obj: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut std::ffi::c_void,
) -> std::ffi::c_int {
    // SAFETY: CPython calls `tp_traverse` with the GIL held on a live instance.
    let h = unsafe { (*obj.cast::<Instance>()).handle };
    // SAFETY: `visit` is CPython's callback for this traversal; `h` is a live object.
    if h.is_null() { 0 } else { unsafe { visit(h, arg) } }
}

/// The collector's break of a cycle through the handle.
unsafe extern "C" fn clear(obj: *mut ffi::PyObject) -> std::ffi::c_int {
    // SAFETY: CPython calls `tp_clear` with the GIL held on a live instance; the field is
    // nulled before the release, which may run Python code.
    unsafe {
        let h = std::mem::replace(&mut (*obj.cast::<Instance>()).handle, std::ptr::null_mut());
        if !h.is_null() {
            ffi::Py_DecRef(h);
        }
    }
    0
}

/// The deallocation, as a heap type's must be: untrack, release the fields, free the memory by
/// the instance's own type (a subclass's), then release that type, which CPython leaves to the
/// first heap-type base.
unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: CPython calls `tp_dealloc` with the GIL held on an object whose refcount is zero
    // (re-tracked by a subclass's dealloc, as the base is collected); its type is live (the
    // instance holds a reference to it, released last); `tp_free` of a type is always set.
    unsafe {
        ffi::PyObject_GC_UnTrack(obj.cast());
        clear(obj);
        let inst = obj.cast::<Instance>();
        if std::mem::take(&mut (*inst).has_array) {
            (*inst).array.assume_init_drop();
        }
        let tp = ffi::Py_TYPE(obj);
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        let free = std::mem::transmute::<*mut std::ffi::c_void, ffi::freefunc>(free);
        free(obj.cast());
        ffi::Py_DecRef(tp.cast());
    }
}

/// Make the base class `mxrs._native.NDArrayBase` with `slots` (the operators') besides its
/// own: the instance layout, `_handle`, collection and deallocation.
pub(crate) fn make_type<'py>(
    py: Python<'py>,
    mut slots: Vec<ffi::PyType_Slot>,
    doc: &'static std::ffi::CStr,
) -> PyResult<Bound<'py, PyType>> {
    let getter = |name: &'static std::ffi::CStr, get: ffi::getter, doc: &'static std::ffi::CStr| ffi::PyGetSetDef {
        name: name.as_ptr(),
        get: Some(get),
        set: None,
        doc: doc.as_ptr(),
        closure: std::ptr::null_mut(),
    };
    let getset = vec![
        ffi::PyGetSetDef {
            name: c"_handle".as_ptr(),
            get: Some(get_handle),
            set: Some(set_handle),
            doc: c"The native handle of the array.".as_ptr(),
            closure: std::ptr::null_mut(),
        },
        getter(c"shape", get_shape, c"The shape as a tuple."),
        getter(c"ndim", get_ndim, c"Number of dimensions."),
        getter(c"size", get_size, c"Number of elements."),
        getter(
            c"dtype",
            get_dtype,
            c"The element type as a NumPy type (numpy.float32...; bfloat16 as MXNet shows it).",
        ),
        getter(c"_ctx", get_ctx, c"The context as (dev_type code, dev_id)."),
        ffi::PyGetSetDef {
            name: std::ptr::null(),
            get: None,
            set: None,
            doc: std::ptr::null(),
            closure: std::ptr::null_mut(),
        },
    ];
    use type_slot as slot;
    slots.extend([
        slot!(Py_tp_dealloc, dealloc as ffi::destructor),
        slot!(Py_tp_traverse, traverse as ffi::traverseproc),
        slot!(Py_tp_clear, clear as ffi::inquiry),
        // The definitions must outlive the class, which lives as long as the process: leaked.
        slot!(Py_tp_getset, Box::leak(getset.into_boxed_slice()).as_mut_ptr()),
        slot!(Py_tp_doc, doc.as_ptr()),
        ffi::PyType_Slot { slot: 0, pfunc: std::ptr::null_mut() },
    ]);
    let flags =
        ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_BASETYPE | ffi::Py_TPFLAGS_IMMUTABLETYPE | ffi::Py_TPFLAGS_HAVE_GC;
    let mut spec = ffi::PyType_Spec {
        name: c"mxrs._native.NDArrayBase".as_ptr(),
        basicsize: std::ffi::c_int::try_from(std::mem::size_of::<Instance>()).expect("a small struct"),
        itemsize: 0,
        flags: flags as std::ffi::c_uint,
        slots: Box::leak(slots.into_boxed_slice()).as_mut_ptr(),
    };
    // SAFETY: the GIL is held; `spec`, its name (a static string, which CPython keeps as
    // `tp_name`) and its slots outlive the call; the result is a new reference or null with
    // an exception set.
    let ty = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? }.cast_into::<PyType>()?;
    BASE.store(ty.as_type_ptr(), Ordering::Release);
    // The class is kept for the process: `BASE` points at it.
    std::mem::forget(ty.clone());
    Ok(ty)
}
