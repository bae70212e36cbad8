//! Compute backends. `cpu` holds the host kernels; device (CUDA) memory has a place in
//! [`crate::storage::Storage`] through [`DeviceStorage`], which is a stub until the CUDA backend
//! lands (the `cuda` feature).

pub mod cpu;

/// Device memory of a CUDA backend. Without CUDA support it cannot be constructed.
#[derive(Debug)]
pub struct DeviceStorage {
    len: usize,
    _private: (),
}

impl DeviceStorage {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Number of usable CUDA devices (0 without the CUDA backend).
pub fn num_gpus() -> usize {
    0
}
