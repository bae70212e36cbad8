//! Data movement on the device (kernels/layout.cu): strided copies (transposes, slices,
//! broadcasts, split, concat), row gathers (`take`, Embedding), `pick`, `one_hot` and `where`.
//! Elements move as opaque payloads of their size, so every dtype has a kernel; index and
//! condition arrays of any dtype are read as f64, as the host does.

use cudarc::driver::{DeviceRepr, PushKernelArg};

use super::nvrtc;
use super::ops::{DevIn, grid, launch, launch_err};
use super::runtime::Gpu;
use super::storage::DeviceStorage;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::CpuStorage;

/// Most axes a strided copy takes (after merging contiguous runs).
const MAX_DIMS: usize = 8;

/// A strided copy's layout (matches `struct Strided` of layout.cu).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Strided {
    shape: [i64; MAX_DIMS],
    istride: [i64; MAX_DIMS],
    ostride: [i64; MAX_DIMS],
    ndim: i64,
}
// SAFETY: a plain C struct of integers, passed by value as the kernel's C declaration.
unsafe impl DeviceRepr for Strided {}

/// The axes of a copy moving coordinate `c` of `shape` from `sum c * a` to `sum c * b`, with
/// unit axes dropped and neighbours merged where both stride lists allow it, as (size,
/// a stride, b stride).
fn merge_axes(shape: &[usize], a: &[isize], b: &[isize]) -> Vec<(usize, isize, isize)> {
    let mut out: Vec<(usize, isize, isize)> = Vec::with_capacity(shape.len());
    for d in 0..shape.len() {
        let s = shape[d];
        if s == 1 {
            continue;
        }
        match out.last_mut() {
            // The previous (outer) axis steps over exactly this one in both layouts.
            Some(last) if last.1 == a[d] * s as isize && last.2 == b[d] * s as isize => {
                *last = (last.0 * s, a[d], b[d]);
            }
            _ => out.push((s, a[d], b[d])),
        }
    }
    out
}

/// The kernel layout of a copy, or None with more than [`MAX_DIMS`] axes once merged.
fn strided(shape: &[usize], a: &[isize], b: &[isize]) -> Option<Strided> {
    let axes = merge_axes(shape, a, b);
    if axes.len() > MAX_DIMS {
        return None;
    }
    let mut s = Strided { ndim: axes.len() as i64, ..Default::default() };
    for (d, &(n, sa, sb)) in axes.iter().enumerate() {
        s.shape[d] = n as i64;
        s.istride[d] = sa as i64;
        s.ostride[d] = sb as i64;
    }
    Some(s)
}

/// Row-major strides of `shape`.
fn contiguous(shape: &[usize]) -> Vec<isize> {
    let mut st = vec![1isize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1] as isize;
    }
    st
}

/// The lowest and highest element a strided view reaches (None when it is empty).
fn reach(offset: isize, shape: &[usize], strides: &[isize]) -> Option<(isize, isize)> {
    if shape.contains(&0) {
        return None;
    }
    let (mut lo, mut hi) = (offset, offset);
    for (&n, &s) in shape.iter().zip(strides) {
        let span = (n as isize - 1) * s;
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    Some((lo, hi))
}

/// Kernel-name suffix of the payload type of `d`'s element size.
fn payload(d: DType) -> &'static str {
    match d.size() {
        1 => "u8",
        2 => "u16",
        4 => "u32",
        _ => "u64",
    }
}

/// Address of element `i` (possibly before the view's start) of `x`.
fn addr(x: &DevIn<'_>, i: isize) -> u64 {
    (x.ptr() as i64 + i as i64 * x.dtype().size() as i64) as u64
}

/// Launch one strided copy of `n` elements from `src` to `dst` of dtype `d`.
fn launch_copy(g: &Gpu, d: DType, src: u64, dst: u64, n: usize, s: &Strided) -> Result<bool> {
    let len = n as i64;
    Ok(launch!(g, &nvrtc::LAYOUT, &format!("strided_copy_{}", payload(d)), grid(n), [&src, &dst, &len, s]))
}

/// A contiguous copy of `x`.
pub fn copy(x: DevIn<'_>) -> Result<Option<DeviceStorage>> {
    let mut out = DeviceStorage::uninit(&x.data.gpu, x.dtype(), x.len())?;
    out.copy_device(0, x.data, x.offset, x.len())?;
    Ok(Some(out))
}

/// The view of `x` with `shape` and (element) `strides` from element `offset`, copied into a
/// new contiguous storage (the host's `gather`): transposes, slices with any step, broadcasts
/// (zero strides), tile and repeat.
pub fn gather(x: DevIn<'_>, offset: isize, shape: &[usize], strides: &[isize]) -> Result<Option<DeviceStorage>> {
    let n: usize = shape.iter().product();
    let g = &x.data.gpu;
    let out = DeviceStorage::uninit(g, x.dtype(), n)?;
    let Some((lo, hi)) = reach(offset, shape, strides) else { return Ok(Some(out)) };
    if shape.len() != strides.len() || lo < 0 || hi >= x.len() as isize {
        return Err(Error::msg(format!(
            "internal: device gather of {shape:?} by {strides:?} from {offset} leaves an input of {} elements",
            x.len()
        )));
    }
    let Some(s) = strided(shape, strides, &contiguous(shape)) else { return Ok(None) };
    let ok = launch_copy(g, x.dtype(), addr(&x, offset), out.ptr, n, &s)?;
    Ok(ok.then_some(out))
}

/// `lhs` with a window of it (element `offset` on, `shape` with `strides` over lhs) replaced
/// by `rhs` (same dtype): rhs's elements in row-major order, or its only element everywhere.
pub fn assign_window(
    lhs: DevIn<'_>,
    rhs: DevIn<'_>,
    offset: isize,
    shape: &[usize],
    strides: &[isize],
) -> Result<Option<DeviceStorage>> {
    let n: usize = shape.iter().product();
    if rhs.dtype() != lhs.dtype() || (rhs.len() != n && rhs.len() != 1) || shape.len() != strides.len() {
        return Err(Error::msg(format!(
            "internal: device window assignment of {} elements into a window {shape:?}",
            rhs.len()
        )));
    }
    let Some(out) = copy(lhs)? else { return Ok(None) };
    let Some((lo, hi)) = reach(offset, shape, strides) else { return Ok(Some(out)) };
    if lo < 0 || hi >= lhs.len() as isize {
        return Err(Error::msg(format!("internal: device window {shape:?} by {strides:?} leaves {:?}", lhs.shape)));
    }
    let src_strides = if rhs.len() == 1 { vec![0; shape.len()] } else { contiguous(shape) };
    let Some(s) = strided(shape, &src_strides, strides) else { return Ok(None) };
    let dst = (out.ptr as i64 + offset as i64 * lhs.dtype().size() as i64) as u64;
    let ok = launch_copy(&lhs.data.gpu, lhs.dtype(), rhs.ptr(), dst, n, &s)?;
    Ok(ok.then_some(out))
}

/// Concatenation: each of `outer` output rows is the `chunks[i]` elements of row `o` of every
/// part `i` in turn (Concat along an axis, stack).
pub fn concat(parts: &[DevIn<'_>], outer: usize, chunks: &[usize]) -> Result<Option<DeviceStorage>> {
    let Some(first) = parts.first() else { return Ok(None) };
    let dtype = first.dtype();
    if parts.len() != chunks.len() || parts.iter().zip(chunks).any(|(p, &c)| p.dtype() != dtype || p.len() != outer * c)
    {
        return Err(Error::msg("internal: device concat of parts that do not match their chunks"));
    }
    let row: usize = chunks.iter().sum();
    let g = &first.data.gpu;
    let out = DeviceStorage::uninit(g, dtype, outer * row)?;
    let mut col = 0usize;
    for (p, &chunk) in parts.iter().zip(chunks) {
        if outer * chunk > 0 {
            let shape = [outer, chunk];
            let s = strided(&shape, &[chunk as isize, 1], &[row as isize, 1]).expect("two axes");
            if !launch_copy(g, dtype, p.ptr(), out.at(col), outer * chunk, &s)? {
                return Ok(None);
            }
        }
        col += chunk;
    }
    Ok(Some(out))
}

/// (outer, n, inner) of `shape` around `axis`.
fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
}

/// `take`: the slices of `x` along `axis` at the (float, truncated) indices of `idx`, clipped
/// into the axis or wrapped around it; output `x.shape[..axis] + idx.shape + x.shape[axis+1..]`.
/// Embedding's lookup is `take` on axis 0 with clipping. None for an empty axis (the host
/// reports the error).
pub fn take(x: DevIn<'_>, idx: DevIn<'_>, axis: usize, wrap: bool) -> Result<Option<DeviceStorage>> {
    let (outer, n, inner) = around(x.shape, axis);
    let nidx = idx.len();
    let total = outer * nidx * inner;
    let g = &x.data.gpu;
    if n == 0 && nidx > 0 {
        return Ok(None);
    }
    let out = DeviceStorage::uninit(g, x.dtype(), total)?;
    if total == 0 {
        return Ok(Some(out));
    }
    let (px, pi, po, code) = (x.ptr(), idx.ptr(), out.ptr, idx.dtype().flag());
    let (t, ni, nn, inn, w) = (total as i64, nidx as i64, n as i64, inner as i64, i32::from(wrap));
    let name = format!("take_{}", payload(x.dtype()));
    let ok = launch!(g, &nvrtc::LAYOUT, &name, grid(total), [&px, &pi, &code, &po, &t, &ni, &nn, &inn, &w]);
    Ok(ok.then_some(out))
}

/// `pick`: for each position of `x` without `axis`, the element at the index `idx` holds for
/// it (same count of elements), clipped or wrapped. None for an empty axis.
pub fn pick(x: DevIn<'_>, idx: DevIn<'_>, axis: usize, wrap: bool) -> Result<Option<DeviceStorage>> {
    let (outer, n, inner) = around(x.shape, axis);
    let total = outer * inner;
    if idx.len() != total || (n == 0 && total > 0) {
        return Ok(None);
    }
    let g = &x.data.gpu;
    let out = DeviceStorage::uninit(g, x.dtype(), total)?;
    if total == 0 {
        return Ok(Some(out));
    }
    let (px, pi, po, code) = (x.ptr(), idx.ptr(), out.ptr, idx.dtype().flag());
    let (t, nn, inn, w) = (total as i64, n as i64, inner as i64, i32::from(wrap));
    let name = format!("pick_{}", payload(x.dtype()));
    let ok = launch!(g, &nvrtc::LAYOUT, &name, grid(total), [&px, &pi, &code, &po, &t, &nn, &inn, &w]);
    Ok(ok.then_some(out))
}

/// `pick`'s gradient: zeros of `shape` (pick's data) with `g` (one element per position of
/// `shape` without `axis`) put where pick read, at the indices `idx`. None for an empty axis.
pub fn pick_backward(
    g: DevIn<'_>,
    idx: DevIn<'_>,
    shape: &[usize],
    axis: usize,
    wrap: bool,
) -> Result<Option<DeviceStorage>> {
    let (outer, n, inner) = around(shape, axis);
    let total = outer * inner;
    if idx.len() != total || g.len() != total || (n == 0 && total > 0) {
        return Ok(None);
    }
    let dev = &g.data.gpu;
    let out = DeviceStorage::zeros(dev.id, g.dtype(), outer * n * inner)?;
    if total == 0 {
        return Ok(Some(out));
    }
    let (pg, pi, po, code) = (g.ptr(), idx.ptr(), out.ptr, idx.dtype().flag());
    let (t, nn, inn, w) = (total as i64, n as i64, inner as i64, i32::from(wrap));
    let name = format!("unpick_{}", payload(g.dtype()));
    let ok = launch!(dev, &nvrtc::LAYOUT, &name, grid(total), [&pg, &pi, &code, &po, &t, &nn, &inn, &w]);
    Ok(ok.then_some(out))
}

/// `take`'s gradient: zeros of `shape` (take's data) with each slice of `g` (take's output
/// shape) added at its index along `axis`, clipped or wrapped. Float32 and float64 only (atomic
/// adds); None for the others and for an empty axis.
pub fn take_backward(
    g: DevIn<'_>,
    idx: DevIn<'_>,
    shape: &[usize],
    axis: usize,
    wrap: bool,
) -> Result<Option<DeviceStorage>> {
    let sfx = match g.dtype() {
        DType::F32 => "f32",
        DType::F64 => "f64",
        _ => return Ok(None),
    };
    let (outer, n, inner) = around(shape, axis);
    let nidx = idx.len();
    let total = outer * nidx * inner;
    if g.len() != total || (n == 0 && nidx > 0) {
        return Ok(None);
    }
    let dev = &g.data.gpu;
    let out = DeviceStorage::zeros(dev.id, g.dtype(), outer * n * inner)?;
    if total == 0 {
        return Ok(Some(out));
    }
    let (pg, pi, po, code) = (g.ptr(), idx.ptr(), out.ptr, idx.dtype().flag());
    let (t, ni, nn, inn, w) = (total as i64, nidx as i64, n as i64, inner as i64, i32::from(wrap));
    let name = format!("scatter_add_{sfx}");
    let ok = launch!(dev, &nvrtc::LAYOUT, &name, grid(total), [&pg, &pi, &code, &po, &t, &ni, &nn, &inn, &w]);
    Ok(ok.then_some(out))
}

/// The payload bits of `v` converted to `dtype` (as the host converts it).
fn bits(dtype: DType, v: f64) -> u64 {
    let s = CpuStorage::full(dtype, 1, v);
    let mut b = [0u8; 8];
    b[..dtype.size()].copy_from_slice(s.as_bytes());
    u64::from_le_bytes(b)
}

/// `one_hot`: `depth` entries of `dtype` per index, `on` at the (truncated) index when it lies
/// in `[0, depth)`, `off` elsewhere.
pub fn one_hot(idx: DevIn<'_>, depth: usize, on: f64, off: f64, dtype: DType) -> Result<Option<DeviceStorage>> {
    let total = idx.len() * depth;
    let g = &idx.data.gpu;
    let out = DeviceStorage::uninit(g, dtype, total)?;
    if total == 0 {
        return Ok(Some(out));
    }
    let (pi, po, code, t, d) = (idx.ptr(), out.ptr, idx.dtype().flag(), total as i64, depth as i64);
    let (on, off) = (bits(dtype, on), bits(dtype, off));
    let name = format!("one_hot_{}", payload(dtype));
    let ok = launch!(g, &nvrtc::LAYOUT, &name, grid(total), [&pi, &code, &po, &t, &d, &on, &off]);
    Ok(ok.then_some(out))
}

/// `where`: `a` where `cond` is nonzero, else `b` (same shape and dtype); `cond` has their
/// size, or one entry per leading row.
pub fn where_cond(cond: DevIn<'_>, a: DevIn<'_>, b: DevIn<'_>) -> Result<Option<DeviceStorage>> {
    let n = a.len();
    if a.dtype() != b.dtype() || b.len() != n || (n > 0 && (cond.is_empty() || !n.is_multiple_of(cond.len()))) {
        return Ok(None);
    }
    let g = &a.data.gpu;
    let out = DeviceStorage::uninit(g, a.dtype(), n)?;
    if n == 0 {
        return Ok(Some(out));
    }
    let per = (n / cond.len()) as i64;
    let (pc, code, pa, pb, po, len) = (cond.ptr(), cond.dtype().flag(), a.ptr(), b.ptr(), out.ptr, n as i64);
    let name = format!("where_{}", payload(a.dtype()));
    let ok = launch!(g, &nvrtc::LAYOUT, &name, grid(n), [&pc, &code, &pa, &pb, &po, &len, &per]);
    Ok(ok.then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_runs_merge_into_one_axis() {
        // A plain copy of (2, 3, 4) is one axis of 24.
        let st = contiguous(&[2, 3, 4]);
        assert_eq!(st, vec![12, 4, 1]);
        assert_eq!(merge_axes(&[2, 3, 4], &st, &st), vec![(24, 1, 1)]);
        // Unit axes vanish; a scalar has no axes.
        assert_eq!(merge_axes(&[1, 5, 1], &[5, 1, 1], &[5, 1, 1]), vec![(5, 1, 1)]);
        assert!(merge_axes(&[1, 1], &[1, 1], &[1, 1]).is_empty());
    }

    #[test]
    fn transposes_keep_their_axes() {
        // transpose (2, 3) -> (3, 2): the input strides (1, 3) over the output shape.
        assert_eq!(merge_axes(&[3, 2], &[1, 3], &[2, 1]), vec![(3, 1, 2), (2, 3, 1)]);
        // (2, 3, 4) with axes (0, 2, 1): the leading axis stays apart from the swapped pair.
        let m = merge_axes(&[2, 4, 3], &[12, 1, 4], &[12, 3, 1]);
        assert_eq!(m, vec![(2, 12, 12), (4, 1, 3), (3, 4, 1)]);
    }

    #[test]
    fn broadcast_axes_merge_with_each_other() {
        // (1, 1) broadcast to (3, 4): one zero-stride axis of 12.
        assert_eq!(merge_axes(&[3, 4], &[0, 0], &[4, 1]), vec![(12, 0, 1)]);
        // (3, 1) to (3, 4): rows of one element repeated.
        assert_eq!(merge_axes(&[3, 4], &[1, 0], &[4, 1]), vec![(3, 1, 4), (4, 0, 1)]);
    }

    #[test]
    fn concat_rows_keep_the_output_stride() {
        // Part (2, 3) into rows of 5: two axes, the output row stride 5.
        assert_eq!(merge_axes(&[2, 3], &[3, 1], &[5, 1]), vec![(2, 3, 5), (3, 1, 1)]);
        // A part that is the whole row merges.
        assert_eq!(merge_axes(&[2, 5], &[5, 1], &[5, 1]), vec![(10, 1, 1)]);
    }

    #[test]
    fn layouts_past_eight_axes_have_no_kernel() {
        let shape = [2usize; 9];
        let a: Vec<isize> = (0..9).map(|d| 1 << d).collect();
        let b = contiguous(&shape);
        assert!(strided(&shape, &a, &b).is_none());
        let s = strided(&shape[..8], &a[..8], &b[1..]).expect("eight axes");
        assert_eq!(s.ndim, 8);
        assert_eq!((s.shape[0], s.istride[7], s.ostride[7]), (2, 128, 1));
    }

    #[test]
    fn reach_covers_negative_steps() {
        // x[::-1] of 5: from element 4 down to 0.
        assert_eq!(reach(4, &[5], &[-1]), Some((0, 4)));
        // x[1:3, ::2] of (4, 6): rows 1..=2, columns 0, 2, 4.
        assert_eq!(reach(6, &[2, 3], &[6, 2]), Some((6, 16)));
        assert_eq!(reach(0, &[0, 3], &[3, 1]), None);
    }

    #[test]
    fn payloads_follow_the_element_size() {
        assert_eq!(payload(DType::Bool), "u8");
        assert_eq!(payload(DType::BF16), "u16");
        assert_eq!(payload(DType::I32), "u32");
        assert_eq!(payload(DType::F64), "u64");
        assert_eq!(bits(DType::F32, 1.0), 1.0f32.to_bits() as u64);
        assert_eq!(bits(DType::I8, -1.0), 0xff);
        assert_eq!(bits(DType::I64, -2.0), (-2i64) as u64);
    }
}
