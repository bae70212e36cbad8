//! The CUDA backend's interface in a build without the `cuda` feature: no device exists, so
//! no [`DeviceStorage`] can be made and every primitive is unreachable; `gpu(i)` reports that
//! this build has no CUDA backend.

pub use super::device_types::{ActKind, DeviceDist, OptParams, OptRule, ReduceOp, RtcArg, RtcLaunch};

/// A device input; never constructed in this build.
pub type DevIn<'a> = super::device_types::DevInOf<'a, DeviceStorage>;
use crate::backend::cpu::conv::{ConvGeom, PoolGeom, PoolKind};
use crate::backend::cpu::elemwise::{BinaryKind, UnaryKind};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Device memory; never constructed in this build.
#[derive(Debug)]
pub struct DeviceStorage {
    never: std::convert::Infallible,
}

fn none() -> Error {
    Error::Context("this build of mxrs has no CUDA backend".to_string())
}

impl super::device_types::DeviceBuffer for DeviceStorage {
    fn dtype(&self) -> DType {
        match self.never {}
    }
}

impl DeviceStorage {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self.never {}
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        match self.never {}
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self.never {}
    }
    /// The device ordinal.
    pub fn device_id(&self) -> u32 {
        match self.never {}
    }
    /// The device address of element `_i`.
    pub fn address(&self, _i: usize) -> u64 {
        match self.never {}
    }
    /// Zeros on a device: an error here.
    pub fn zeros(_dev: u32, _dtype: DType, _len: usize) -> Result<DeviceStorage> {
        Err(none())
    }
    /// A host copy on a device: an error here.
    pub fn upload(_dev: u32, _src: &crate::storage::CpuStorage, _o: usize, _l: usize) -> Result<DeviceStorage> {
        Err(none())
    }
    /// Host write: unreachable.
    pub fn write_host(&mut self, _at: usize, _src: &crate::storage::CpuStorage, _o: usize, _l: usize) -> Result<()> {
        match self.never {}
    }
    /// Download: unreachable.
    pub fn download(&self, _offset: usize, _len: usize) -> Result<crate::storage::CpuStorage> {
        match self.never {}
    }
    /// Device copy: unreachable.
    pub fn copy_device(&mut self, _at: usize, _src: &DeviceStorage, _o: usize, _l: usize) -> Result<()> {
        match self.never {}
    }
}

/// Unreachable without devices.
pub fn unary(_k: UnaryKind, x: DevIn<'_>) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn binary(_k: BinaryKind, a: DevIn<'_>, _b: DevIn<'_>, _s: &[usize]) -> Result<Option<DeviceStorage>> {
    match a.data.never {}
}
/// Unreachable without devices.
pub fn scalar(_k: BinaryKind, x: DevIn<'_>, _s: f64, _r: bool) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn cast(x: DevIn<'_>, _d: DType) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// An error: no devices.
pub fn fill(_dev: u32, _d: DType, _len: usize, _v: f64) -> Result<Option<DeviceStorage>> {
    Err(none())
}
/// Unreachable without devices.
pub fn reduce(_op: ReduceOp, x: DevIn<'_>, _r: &[bool], _s: f64) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn softmax(x: DevIn<'_>, _axis: usize, _s: f64, _log: bool) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: DevIn<'_>,
    _b: DevIn<'_>,
    _batch: usize,
    _m: usize,
    _n: usize,
    _k: usize,
    _ta: bool,
    _tb: bool,
    _shared_b: bool,
) -> Result<Option<DeviceStorage>> {
    match a.data.never {}
}
/// Unreachable without devices.
pub fn optimizer_step(_r: OptRule, x: &[DevIn<'_>], _p: OptParams) -> Result<Option<Vec<DeviceStorage>>> {
    match x[0].data.never {}
}
/// An error: no devices.
pub fn random(_dev: u32, _d: DType, _len: usize, _dist: DeviceDist, _k: u64, _o: u64) -> Result<Option<DeviceStorage>> {
    Err(none())
}
/// Unreachable without devices.
pub fn conv_forward(
    x: DevIn<'_>,
    _w: DevIn<'_>,
    _bias: Option<DevIn<'_>>,
    _g: &ConvGeom,
) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn conv_backward(
    dy: DevIn<'_>,
    _x: DevIn<'_>,
    _w: DevIn<'_>,
    _g: &ConvGeom,
    _keep: [bool; 3],
) -> Result<Option<Vec<DeviceStorage>>> {
    match dy.data.never {}
}
/// Unreachable without devices.
pub fn pool_forward(x: DevIn<'_>, _g: &PoolGeom, _k: PoolKind) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn pool_backward(dy: DevIn<'_>, _x: DevIn<'_>, _g: &PoolGeom, _k: PoolKind) -> Result<Option<DeviceStorage>> {
    match dy.data.never {}
}
/// Unreachable without devices.
pub fn activation(_k: ActKind, x: DevIn<'_>, _slope: f64) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn activation_backward(
    _k: ActKind,
    g: DevIn<'_>,
    _x: DevIn<'_>,
    _y: DevIn<'_>,
    _slope: f64,
) -> Result<Option<DeviceStorage>> {
    match g.data.never {}
}
/// Unreachable without devices.
pub fn copy(x: DevIn<'_>) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn gather(x: DevIn<'_>, _offset: isize, _shape: &[usize], _strides: &[isize]) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn assign_window(
    lhs: DevIn<'_>,
    _rhs: DevIn<'_>,
    _offset: isize,
    _shape: &[usize],
    _strides: &[isize],
) -> Result<Option<DeviceStorage>> {
    match lhs.data.never {}
}
/// Unreachable without devices (or no parts: no kernel).
pub fn concat(parts: &[DevIn<'_>], _outer: usize, _chunks: &[usize]) -> Result<Option<DeviceStorage>> {
    match parts.first() {
        Some(p) => match p.data.never {},
        None => Ok(None),
    }
}
/// Unreachable without devices.
pub fn take(x: DevIn<'_>, _idx: DevIn<'_>, _axis: usize, _wrap: bool) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn pick(x: DevIn<'_>, _idx: DevIn<'_>, _axis: usize, _wrap: bool) -> Result<Option<DeviceStorage>> {
    match x.data.never {}
}
/// Unreachable without devices.
pub fn pick_backward(g: DevIn<'_>, _i: DevIn<'_>, _s: &[usize], _a: usize, _w: bool) -> Result<Option<DeviceStorage>> {
    match g.data.never {}
}
/// Unreachable without devices.
pub fn take_backward(g: DevIn<'_>, _i: DevIn<'_>, _s: &[usize], _a: usize, _w: bool) -> Result<Option<DeviceStorage>> {
    match g.data.never {}
}
/// Unreachable without devices.
pub fn one_hot(idx: DevIn<'_>, _depth: usize, _on: f64, _off: f64, _d: DType) -> Result<Option<DeviceStorage>> {
    match idx.data.never {}
}
/// Unreachable without devices.
pub fn where_cond(cond: DevIn<'_>, _a: DevIn<'_>, _b: DevIn<'_>) -> Result<Option<DeviceStorage>> {
    match cond.data.never {}
}
/// No devices in this build.
pub fn num_gpus() -> usize {
    0
}
/// Always unavailable.
pub fn unavailable(id: u32) -> Option<String> {
    Some(format!("cannot use gpu({id}): this build of mxrs has no CUDA backend"))
}
/// An error: no devices.
pub fn memory_info(_id: u32) -> Result<(usize, usize)> {
    Err(none())
}
/// An error: no devices.
pub fn empty_cache(_id: u32) -> Result<()> {
    Err(none())
}
/// An error: no devices.
pub fn synchronize(_id: u32) -> Result<()> {
    Err(none())
}
/// Nothing to wait for.
pub fn synchronize_all() -> Result<()> {
    Ok(())
}
/// An error: no devices.
pub fn pool_bytes(_id: u32) -> Result<(usize, usize)> {
    Err(none())
}
/// An error: no devices to launch a run-time compiled kernel on.
pub fn rtc_launch(_dev: u32, _ptx: &str, _name: &str, _args: &[RtcArg], _cfg: RtcLaunch) -> Result<()> {
    Err(none())
}
/// No kernels in this build.
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    Vec::new()
}
