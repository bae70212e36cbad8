//! Activation and LeakyReLU on the device (kernels/activation.cu), forward and backward, for
//! the floating-point dtypes.

use cudarc::driver::PushKernelArg;

use super::nvrtc;
use super::ops::{DevIn, float_suffix, grid, launch, launch_err};
use super::runtime::Gpu;
use super::storage::DeviceStorage;
pub use crate::backend::device_types::ActKind;
use crate::error::Result;

/// `kind` applied to x (`slope` for Leaky and Elu).
pub fn activation(kind: ActKind, x: DevIn<'_>, slope: f64) -> Result<Option<DeviceStorage>> {
    let Some(sfx) = float_suffix(x.dtype()) else { return Ok(None) };
    let g = &x.data.gpu;
    let n = x.len();
    let out = DeviceStorage::uninit(g, x.dtype(), n)?;
    let (px, po, len, k) = (x.ptr(), out.ptr, n as i64, kind as i32);
    let ok = launch!(g, &nvrtc::ACTIVATION, &format!("act_fwd_{sfx}"), grid(n), [&px, &po, &len, &k, &slope]);
    Ok(ok.then_some(out))
}

/// The input gradient of `kind` from the output gradient `g`, the input `x` and the output `y`
/// (same shape and dtype). Relu, Sigmoid and Tanh read `y`, the others `x` (LeakyReLU's
/// backward may pass `x` as `y`).
pub fn activation_backward(
    kind: ActKind,
    g: DevIn<'_>,
    x: DevIn<'_>,
    y: DevIn<'_>,
    slope: f64,
) -> Result<Option<DeviceStorage>> {
    let Some(sfx) = float_suffix(g.dtype()) else { return Ok(None) };
    let n = g.len();
    if [x, y].iter().any(|t| t.dtype() != g.dtype() || t.len() != n) {
        return Ok(None);
    }
    let dev = &g.data.gpu;
    let out = DeviceStorage::uninit(dev, g.dtype(), n)?;
    let (pg, px, py, po, len, k) = (g.ptr(), x.ptr(), y.ptr(), out.ptr, n as i64, kind as i32);
    let name = format!("act_bwd_{sfx}");
    let ok = launch!(dev, &nvrtc::ACTIVATION, &name, grid(n), [&pg, &px, &py, &po, &len, &k, &slope]);
    Ok(ok.then_some(out))
}
