//! Devices an array can live on.

use std::fmt;

use crate::error::{Error, Result};

/// MXNet's device types (the numbers are MXNet's `dev_type` codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DevType {
    /// Host memory.
    Cpu = 1,
    /// CUDA device memory.
    Gpu = 2,
    /// Page-locked host memory (behaves as CPU here).
    CpuPinned = 3,
    /// Shared host memory (behaves as CPU here).
    CpuShared = 5,
}

impl DevType {
    /// The device type for MXNet's code.
    pub fn from_code(code: i32) -> Result<DevType> {
        Ok(match code {
            1 => DevType::Cpu,
            2 => DevType::Gpu,
            3 => DevType::CpuPinned,
            5 => DevType::CpuShared,
            _ => return Err(Error::Context(format!("unknown device type code {code}"))),
        })
    }

    /// MXNet's name for the device type.
    pub fn name(self) -> &'static str {
        match self {
            DevType::Cpu => "cpu",
            DevType::Gpu => "gpu",
            DevType::CpuPinned => "cpu_pinned",
            DevType::CpuShared => "cpu_shared",
        }
    }

    /// Parse MXNet's name of a device type.
    pub fn from_name(name: &str) -> Result<DevType> {
        Ok(match name {
            "cpu" => DevType::Cpu,
            "gpu" => DevType::Gpu,
            "cpu_pinned" => DevType::CpuPinned,
            "cpu_shared" => DevType::CpuShared,
            _ => return Err(Error::Context(format!("unknown device type '{name}'"))),
        })
    }
}

/// A device: type plus ordinal. `cpu(0)`..`cpu(n)` are distinct contexts over host memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Context {
    /// The kind of device.
    pub dev_type: DevType,
    /// The device ordinal.
    pub dev_id: u32,
}

impl Context {
    /// `cpu(id)`.
    pub fn cpu(id: u32) -> Context {
        Context { dev_type: DevType::Cpu, dev_id: id }
    }

    /// `gpu(id)`.
    pub fn gpu(id: u32) -> Context {
        Context { dev_type: DevType::Gpu, dev_id: id }
    }

    /// True when the memory of this context is host memory.
    pub fn is_host(&self) -> bool {
        self.dev_type != DevType::Gpu
    }

    /// The engine device whose workers run this context's ops.
    pub fn engine_device(&self) -> mxrs_engine::Device {
        match self.dev_type {
            DevType::Gpu => mxrs_engine::Device::gpu(self.dev_id),
            _ => mxrs_engine::Device::cpu(self.dev_id),
        }
    }

    /// Check that arrays can be allocated here: always for host contexts; for GPUs only when a
    /// CUDA device with that ordinal exists.
    pub fn check_available(&self) -> Result<()> {
        if self.is_host() {
            return Ok(());
        }
        match crate::backend::device::unavailable(self.dev_id) {
            Some(why) => Err(Error::Context(why)),
            None => Ok(()),
        }
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::cpu(0)
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.dev_type.name(), self.dev_id)
    }
}
