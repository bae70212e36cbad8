//! What every convolution kernel is told: the element types it runs on and the geometry.

use num_traits::Float;

use super::super::Parallelism;
use super::super::matmul::RmGemm;
use crate::storage::StorageElement;

/// Element types the convolution kernels run on: the floats `gemm` supports.
pub trait ConvFloat:
    Float + StorageElement + bytemuck::Zeroable + Send + Sync + Default + std::fmt::Debug + 'static
{
    /// True when [`ConvFloat::blas_gemm`] has a library to call.
    fn has_blas() -> bool {
        false
    }
    /// [`own_sgemm_rm`](super::super::matmul::own_sgemm_rm) for float32 (this crate's AVX-512 kernels), split over `threads`
    /// threads; false, doing nothing, where they do not run.
    fn own_gemm(_threads: usize, _g: &mut RmGemm<'_, Self>) -> bool {
        false
    }
    /// The external BLAS's gemm for this type, if it has one and one was loaded ([`blas`](super::super::blas)).
    /// Returns false, doing nothing, when there is none.
    fn blas_gemm(_g: &mut RmGemm<'_, Self>) -> bool {
        false
    }
    /// The forward pass of `g` by a faster algorithm this type has for it (float32's Winograd
    /// 3x3 in `conv::winograd`), or None.
    fn fast_forward(
        _par: Parallelism,
        _x: &[Self],
        _w: &[Self],
        _bias: Option<&[Self]>,
        _g: &ConvGeom,
    ) -> Option<Vec<Self>> {
        None
    }
    /// The data gradient of `g` by a faster algorithm this type has for it, or None.
    fn fast_backward_data(_par: Parallelism, _dy: &[Self], _w: &[Self], _g: &ConvGeom) -> Option<Vec<Self>> {
        None
    }
    /// The weight gradient of `g` by a faster algorithm this type has for it, or None.
    fn fast_backward_weight(_par: Parallelism, _dy: &[Self], _x: &[Self], _g: &ConvGeom) -> Option<Vec<Self>> {
        None
    }
    /// Whether [`ConvFloat::gather_row`] runs in vectors here, so that lowering through a
    /// table of taps (`conv::taps`) beats `im2col`'s element-by-element rows.
    fn gathers() -> bool {
        false
    }
    /// `dst[o] = plane[idx[o]]` for every `o < idx.len()`, zero where `idx[o]` is negative.
    ///
    /// # Safety
    /// Every index in `idx` is below `plane.len()`, and `dst` is at least as long as `idx`.
    unsafe fn gather_row(plane: &[Self], idx: &[i32], dst: &mut [Self]) {
        gather_row_scalar(plane, idx, dst)
    }
    /// `plane[idx[o]] += src[o]` for every `o < idx.len()` whose index is not negative.
    ///
    /// # Safety
    /// As [`ConvFloat::gather_row`] (with `src` for `dst`), and no index appears twice.
    unsafe fn scatter_add_row(src: &[Self], idx: &[i32], plane: &mut [Self]) {
        scatter_add_row_scalar(src, idx, plane)
    }
    /// `dst[r * ow + l] = plane[segs[r].off + l]` for the lanes `l < ow` in `segs[r].mask`,
    /// zero in the others: one run of `ow` consecutive input elements per output row.
    ///
    /// # Safety
    /// `ow <= 16`; every lane in a mask reads inside `plane`; `dst` holds `segs.len() * ow`.
    unsafe fn copy_segments(plane: &[Self], segs: &[Segment], ow: usize, dst: &mut [Self]) {
        copy_segments_scalar(plane, segs, ow, dst)
    }
    /// The adjoint of [`ConvFloat::copy_segments`]: `plane[segs[r].off + l] += src[r * ow + l]`
    /// for the lanes in `segs[r].mask`.
    ///
    /// # Safety
    /// As [`ConvFloat::copy_segments`], with `src` for `dst`.
    unsafe fn add_segments(src: &[Self], segs: &[Segment], ow: usize, plane: &mut [Self]) {
        add_segments_scalar(src, segs, ow, plane)
    }
}

/// One output row's run of a kernel offset with a unit horizontal stride: lane `l` (output
/// column `l`) reads input position `off + l` of the plane where bit `l` of `mask` is set, and
/// padding elsewhere (`off` may be negative: its lane is then masked).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    /// The plane position lane 0 reads (or would read: it may lie before the plane).
    pub off: isize,
    /// The lanes that read the plane.
    pub mask: u16,
}

/// `dst[o] = plane[idx[o]]`, zero where `idx[o]` is negative: the scalar form of
/// [`ConvFloat::gather_row`].
pub(super) fn gather_row_scalar<T: ConvFloat>(plane: &[T], idx: &[i32], dst: &mut [T]) {
    for (d, &i) in dst.iter_mut().zip(idx) {
        *d = if i < 0 { zero::<T>() } else { plane[i as usize] };
    }
}

/// `plane[idx[o]] += src[o]` where `idx[o]` is not negative: the scalar form of
/// [`ConvFloat::scatter_add_row`].
pub(super) fn scatter_add_row_scalar<T: ConvFloat>(src: &[T], idx: &[i32], plane: &mut [T]) {
    for (&s, &i) in src.iter().zip(idx) {
        if i >= 0 {
            plane[i as usize] = plane[i as usize] + s;
        }
    }
}

/// The scalar form of [`ConvFloat::copy_segments`].
pub(super) fn copy_segments_scalar<T: ConvFloat>(plane: &[T], segs: &[Segment], ow: usize, dst: &mut [T]) {
    for (r, s) in segs.iter().enumerate() {
        for (l, d) in dst[r * ow..(r + 1) * ow].iter_mut().enumerate() {
            *d = if s.mask >> l & 1 == 1 { plane[(s.off + l as isize) as usize] } else { zero::<T>() };
        }
    }
}

/// The scalar form of [`ConvFloat::add_segments`].
pub(super) fn add_segments_scalar<T: ConvFloat>(src: &[T], segs: &[Segment], ow: usize, plane: &mut [T]) {
    for (r, s) in segs.iter().enumerate() {
        for (l, &v) in src[r * ow..(r + 1) * ow].iter().enumerate() {
            if s.mask >> l & 1 == 1 {
                let i = (s.off + l as isize) as usize;
                plane[i] = plane[i] + v;
            }
        }
    }
}

/// Zero of a [`ConvFloat`] (`Float`'s and `Element`'s both name one).
pub(super) fn zero<T: ConvFloat>() -> T {
    <T as num_traits::Zero>::zero()
}

/// The geometry of a grouped convolution over up to three spatial dimensions, from
/// `(batch, in_c, d, h, w)` to `(batch, out_c, od, oh, ow)` with a
/// `(out_c, in_c / groups, kd, kh, kw)` weight. 2-D data has `d = kd = od = sd = dd = 1` and
/// `pd = 0` (1-D data also a unit height), so the depth loops run once.
///
/// `od`, `oh` and `ow` are stored rather than derived, so a transposed convolution can use
/// exactly the sizes of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels (all groups).
    pub in_c: usize,
    /// Input depth (1 for 1-D and 2-D data).
    pub d: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels (filters, all groups).
    pub out_c: usize,
    /// Channel groups; `in_c` and `out_c` are multiples of it.
    pub groups: usize,
    /// Kernel depth.
    pub kd: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Depth stride.
    pub sd: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Front and back padding.
    pub pd: usize,
    /// Top and bottom padding.
    pub ph: usize,
    /// Left and right padding.
    pub pw: usize,
    /// Depth dilation.
    pub dd: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Output depth.
    pub od: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl ConvGeom {
    /// Rows of one group's column matrix: `in_c / groups * kd * kh * kw`.
    pub fn col_rows(&self) -> usize {
        self.in_c / self.groups * self.kd * self.kh * self.kw
    }
    /// Elements of the weight.
    pub fn weight_len(&self) -> usize {
        self.out_c * self.col_rows()
    }
    /// Elements of one input channel: `d * h * w`.
    pub fn in_vol(&self) -> usize {
        self.d * self.h * self.w
    }
    /// Elements of one output channel: `od * oh * ow`.
    pub fn out_vol(&self) -> usize {
        self.od * self.oh * self.ow
    }
    /// A 1x1(x1) kernel with unit stride and no padding reads the input as its own column matrix.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kd == 1
            && self.kh == 1
            && self.kw == 1
            && self.sd == 1
            && self.sh == 1
            && self.sw == 1
            && self.pd == 0
            && self.ph == 0
            && self.pw == 0
    }
    /// Multiply-adds of the whole convolution (what decides whether to split it).
    pub(super) fn work(&self) -> usize {
        self.batch * self.out_c * self.out_vol() * self.col_rows()
    }
}
