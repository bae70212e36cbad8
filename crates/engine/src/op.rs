//! What an op is to the engine: the closure it runs, the device it is scheduled for and the
//! kind of work it is (which picks its worker lane).

use crate::error::BoxError;

/// The closure an op runs.
pub type OpFn = Box<dyn FnOnce() -> Result<(), BoxError> + Send + 'static>;

/// The kind of device an op runs on; engines keep separate worker lanes per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Host CPU.
    Cpu,
    /// A CUDA GPU.
    Gpu,
}

/// The device an op is scheduled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    /// Kind of device.
    pub kind: DeviceKind,
    /// Device ordinal.
    pub id: u32,
}

impl Device {
    /// The CPU device `id`.
    pub fn cpu(id: u32) -> Device {
        Device { kind: DeviceKind::Cpu, id }
    }
    /// The GPU device `id`.
    pub fn gpu(id: u32) -> Device {
        Device { kind: DeviceKind::Gpu, id }
    }
}

/// What kind of work an op is, which picks the worker lane (MXNet's `FnProperty`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FnProperty {
    /// Ordinary compute.
    Normal,
    /// A copy from host to device.
    CopyToDevice,
    /// A copy from device to host.
    CopyFromDevice,
    /// CPU work that should jump the queue (KVStore communication, for example).
    CpuPrioritized,
    /// An op that only waits or signals; cheap and never skipped.
    Wait,
    /// A small CPU op (microseconds of work). When it is ready at push time it runs at once on
    /// the pushing thread, which saves a hand-off to a worker; otherwise it is queued like
    /// `Normal`. Ordering and error handling are unchanged.
    Light,
}
