//! `mx.rtc`: launching a kernel compiled by the user (the Python layer compiles it with NVRTC
//! and checks the arguments against the kernel's declared signature).

use std::sync::Arc;

use mxrs_ndarray_core::backend::device::{RtcArg, RtcLaunch};
use mxrs_ndarray_core::rtc::RtcValue;
use pyo3::prelude::*;

use crate::error::MXNetError;
use crate::guard::enter;
use crate::ndarray::PyNDArray;

fn value(kind: &str, obj: &Bound<'_, PyAny>, writes: bool) -> PyResult<RtcValue> {
    let scalar = |a: RtcArg| Ok(RtcValue::Scalar(a));
    match kind {
        "ptr" => {
            let a = obj.extract::<PyRef<'_, PyNDArray>>()?;
            Ok(RtcValue::Array { array: a.0.clone(), writes })
        }
        "i8" => scalar(RtcArg::I8(obj.extract()?)),
        "u8" => scalar(RtcArg::U8(obj.extract()?)),
        "i32" => scalar(RtcArg::I32(obj.extract()?)),
        "i64" => scalar(RtcArg::I64(obj.extract()?)),
        "f32" => scalar(RtcArg::F32(obj.extract()?)),
        "f64" => scalar(RtcArg::F64(obj.extract()?)),
        "f16" => scalar(RtcArg::F16(obj.extract()?)),
        other => Err(MXNetError::new_err(format!("rtc: unknown argument kind {other:?}"))),
    }
}

/// Push a launch of kernel `name` of `ptx` on GPU `dev_id`. `args` are `(kind, value,
/// writes)`: kind "ptr" with an NDArray (writes: not const), or a scalar kind ("i8", "u8",
/// "i32", "i64", "f32", "f64", "f16" as its bits) with a number.
#[pyfunction]
fn rtc_launch(
    dev_id: u32,
    ptx: &str,
    name: &str,
    args: Vec<(String, Bound<'_, PyAny>, bool)>,
    grid: (u32, u32, u32),
    block: (u32, u32, u32),
    shared_mem: u32,
) -> PyResult<()> {
    let values = args.iter().map(|(k, o, w)| value(k, o, *w)).collect::<PyResult<Vec<_>>>()?;
    let cfg = RtcLaunch { grid: [grid.0, grid.1, grid.2], block: [block.0, block.1, block.2], shared_mem };
    let ptx: Arc<str> = Arc::from(ptx);
    enter("rtc_launch", || mxrs_ndarray_core::rtc::rtc_launch(dev_id, ptx, name.to_string(), values, cfg))
}

/// Add the functions of this module to `_native`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rtc_launch, m)?)
}
