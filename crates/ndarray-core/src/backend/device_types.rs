//! The device interface's plain types, the same in every build: an op's device input, and the
//! kinds and parameters the primitives take.

use crate::dtype::DType;

/// Device memory as the device-free code sees it: elements of one dtype.
pub trait DeviceBuffer {
    /// The element type.
    fn dtype(&self) -> DType;
}

/// A read-only device input: `shape` elements of `data` from `offset`, contiguous. Each backend
/// names it `DevIn` over its own storage.
#[derive(Debug)]
pub struct DevInOf<'a, S> {
    /// The storage of the input's chunk.
    pub data: &'a S,
    /// First element of the input inside `data`.
    pub offset: usize,
    /// The input's shape.
    pub shape: &'a [usize],
}

impl<S> Clone for DevInOf<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for DevInOf<'_, S> {}

impl<S: DeviceBuffer> DevInOf<'_, S> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
}

/// Reductions of [`reduce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// Sum (mean: a sum with `scale` 1/n).
    Sum,
    /// Product.
    Prod,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Sum ignoring NaN.
    NanSum,
    /// Product ignoring NaN.
    NanProd,
}

/// Parameters of the fused optimizer steps (matches `struct OptP` of optim.cu).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OptParams {
    /// Learning rate.
    pub lr: f64,
    /// Weight decay.
    pub wd: f64,
    /// Gradient rescale.
    pub rescale: f64,
    /// Gradient clip bound (negative: off).
    pub clip: f64,
    /// Momentum.
    pub momentum: f64,
    /// Adam's beta1.
    pub beta1: f64,
    /// Adam's beta2.
    pub beta2: f64,
    /// Adam's epsilon.
    pub eps: f64,
}

/// Optimizer steps with a fused kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptRule {
    /// sgd_update
    Sgd,
    /// sgd_mom_update
    SgdMom,
    /// adam_update
    Adam,
}

/// Random distributions with a device kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DeviceDist {
    /// Uniform in [low, high).
    Uniform(f64, f64),
    /// Normal(loc, scale).
    Normal(f64, f64),
}

/// The activation functions with a device kernel (the `kind` codes of activation.cu).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActKind {
    /// max(x, 0)
    Relu = 0,
    /// 1 / (1 + e^-x)
    Sigmoid = 1,
    /// tanh(x)
    Tanh = 2,
    /// log(1 + e^x)
    SoftRelu = 3,
    /// x / (1 + |x|)
    SoftSign = 4,
    /// x, or slope * x below 0
    Leaky = 5,
    /// x, or slope * (e^x - 1) below 0
    Elu = 6,
    /// lambda * (x, or alpha * (e^x - 1) below 0)
    Selu = 7,
    /// x * Phi(x)
    Gelu = 8,
}
