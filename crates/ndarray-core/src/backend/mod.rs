//! Compute backends. `cpu` holds the host kernels; `device` is the CUDA backend (the `cuda`
//! feature, on by default: it loads the CUDA libraries at run time, so building needs no
//! toolkit), or without that feature a stand-in with the same interface and no devices. Ops
//! call `device`'s primitives with no `cfg` of their own.

pub mod cpu;

#[cfg(feature = "cuda")]
#[path = "cuda/mod.rs"]
pub mod device;
#[cfg(not(feature = "cuda"))]
#[path = "nocuda.rs"]
pub mod device;

mod device_types;

pub use device::{DeviceStorage, num_gpus};
