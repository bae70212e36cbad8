//! What every convolution kernel is told: the element types it runs on and the geometry.

use num_traits::Float;

/// Element types the convolution kernels run on: the floats `gemm` supports.
pub trait ConvFloat: Float + Send + Sync + Default + std::fmt::Debug + 'static {}
impl ConvFloat for f32 {}
impl ConvFloat for f64 {}

/// The geometry of a grouped 2-D convolution from `(batch, in_c, h, w)` to
/// `(batch, out_c, oh, ow)` with a `(out_c, in_c / groups, kh, kw)` weight.
///
/// `oh` and `ow` are stored rather than derived, so a transposed convolution can use exactly
/// the sizes of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels (all groups).
    pub in_c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels (filters, all groups).
    pub out_c: usize,
    /// Channel groups; `in_c` and `out_c` are multiples of it.
    pub groups: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Top and bottom padding.
    pub ph: usize,
    /// Left and right padding.
    pub pw: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl ConvGeom {
    /// Rows of one group's column matrix: `in_c / groups * kh * kw`.
    pub fn col_rows(&self) -> usize {
        self.in_c / self.groups * self.kh * self.kw
    }
    /// Elements of the weight.
    pub fn weight_len(&self) -> usize {
        self.out_c * self.col_rows()
    }
    /// A 1x1 kernel with unit stride and no padding reads the input as its own column matrix.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
    /// Multiply-adds of the whole convolution (what decides whether to split it).
    pub(super) fn work(&self) -> usize {
        self.batch * self.out_c * self.oh * self.ow * self.col_rows()
    }
}
