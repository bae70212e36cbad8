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

/// One argument of a kernel compiled at run time (`mx.rtc`), in the order of its C signature:
/// a device address (an array's first element) or a scalar of the signature's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RtcArg {
    /// A pointer: the device address of an array's first element.
    Ptr(u64),
    /// `int8_t` / `char`.
    I8(i8),
    /// `uint8_t`.
    U8(u8),
    /// `int` / `int32_t`.
    I32(i32),
    /// `int64_t`.
    I64(i64),
    /// `float`.
    F32(f32),
    /// `double`.
    F64(f64),
    /// `__half`, as its 16 bits.
    F16(u16),
}

/// Grid, block and shared memory of a run-time kernel launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcLaunch {
    /// Blocks in x, y, z.
    pub grid: [u32; 3],
    /// Threads per block in x, y, z.
    pub block: [u32; 3],
    /// Dynamic shared memory in bytes.
    pub shared_mem: u32,
}
