//! Convolution and pooling on the device, over NCDHW data described by the CPU kernels'
//! geometry ([`ConvGeom`], [`PoolGeom`]; 2-D data has a unit depth, 1-D data also a unit height).
//!
//! Convolution is lowered as on the host (`backend/cpu/conv`): `im2col` gathers a chunk of
//! images into column matrices, cuBLAS multiplies them by each group's weight (one strided
//! batched product per group and chunk), and `col2im` (gather form, no atomics) brings column
//! gradients back onto the input. Chunks keep the column buffer under [`COL_BYTES`]. Pooling
//! runs one thread per output (forward) or per input element (backward, gathering from the
//! windows that cover it). The kernels are in `kernels/conv.cu`.

use cudarc::driver::{DeviceRepr, PushKernelArg};

use super::nvrtc;
use super::ops::{DevIn, Gemm, ReduceOp, float_suffix, gemm, grid, launch, launch_err, reduce};
use super::runtime::Gpu;
use super::storage::DeviceStorage;
use crate::backend::cpu::conv::{ConvGeom, PoolGeom, PoolKind};
use crate::backend::cpu::elemwise::BinaryKind;
use crate::error::{Error, Result};

/// Most bytes a chunk's column buffer (and the per-image weight gradients) may take.
const COL_BYTES: usize = 256 << 20;

/// The convolution geometry a kernel gets (matches `struct ConvG` of conv.cu).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ConvG {
    in_c: i64,
    d: i64,
    h: i64,
    w: i64,
    kd: i64,
    kh: i64,
    kw: i64,
    sd: i64,
    sh: i64,
    sw: i64,
    pd: i64,
    ph: i64,
    pw: i64,
    dd: i64,
    dh: i64,
    dw: i64,
    od: i64,
    oh: i64,
    ow: i64,
}
// SAFETY: a plain C struct of integers, passed by value as the kernel's C declaration.
unsafe impl DeviceRepr for ConvG {}

impl From<&ConvGeom> for ConvG {
    fn from(g: &ConvGeom) -> ConvG {
        let i = |v: usize| v as i64;
        ConvG {
            in_c: i(g.in_c),
            d: i(g.d),
            h: i(g.h),
            w: i(g.w),
            kd: i(g.kd),
            kh: i(g.kh),
            kw: i(g.kw),
            sd: i(g.sd),
            sh: i(g.sh),
            sw: i(g.sw),
            pd: i(g.pd),
            ph: i(g.ph),
            pw: i(g.pw),
            dd: i(g.dd),
            dh: i(g.dh),
            dw: i(g.dw),
            od: i(g.od),
            oh: i(g.oh),
            ow: i(g.ow),
        }
    }
}

/// The pooling geometry a kernel gets (matches `struct PoolG` of conv.cu).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PoolG {
    planes: i64,
    d: i64,
    h: i64,
    w: i64,
    kd: i64,
    kh: i64,
    kw: i64,
    sd: i64,
    sh: i64,
    sw: i64,
    pd: i64,
    ph: i64,
    pw: i64,
    od: i64,
    oh: i64,
    ow: i64,
}
// SAFETY: a plain C struct of integers, passed by value as the kernel's C declaration.
unsafe impl DeviceRepr for PoolG {}

impl From<&PoolGeom> for PoolG {
    fn from(g: &PoolGeom) -> PoolG {
        let i = |v: usize| v as i64;
        PoolG {
            planes: i(g.planes),
            d: i(g.d),
            h: i(g.h),
            w: i(g.w),
            kd: i(g.kd),
            kh: i(g.kh),
            kw: i(g.kw),
            sd: i(g.sd),
            sh: i(g.sh),
            sw: i(g.sw),
            pd: i(g.pd),
            ph: i(g.ph),
            pw: i(g.pw),
            od: i(g.od),
            oh: i(g.oh),
            ow: i(g.ow),
        }
    }
}

/// Images per chunk when each image needs `per_image` bytes of scratch: as many as fit in
/// `limit`, at least one, at most `batch`.
fn images_per_chunk(per_image: usize, batch: usize, limit: usize) -> usize {
    let most = batch.max(1);
    limit.checked_div(per_image).map_or(most, |n| n.clamp(1, most))
}

/// The chunks `[start, start + count)` of a batch of `batch` images, `per` at a time.
fn chunks(batch: usize, per: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..batch).step_by(per.max(1)).map(move |s| (s, per.max(1).min(batch - s)))
}

/// An error unless `t` holds `want` elements (the op checked the shapes; this guards the
/// kernels' indexing).
fn expect_len(what: &str, t: &DevIn<'_>, want: usize) -> Result<()> {
    if t.len() == want {
        return Ok(());
    }
    Err(Error::msg(format!("internal: device convolution: {what} has {} elements, the geometry needs {want}", t.len())))
}

/// The dtype suffix when every input is of `dtype`, a float type; None otherwise.
fn common_suffix(ins: &[DevIn<'_>]) -> Option<&'static str> {
    let dtype = ins.first()?.dtype();
    if ins.iter().any(|t| t.dtype() != dtype) {
        return None;
    }
    float_suffix(dtype)
}

/// Sizes of one convolution, from its geometry.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    /// Column rows of one group (`in_c / groups * kd * kh * kw`).
    kg: usize,
    /// Filters of one group.
    fg: usize,
    /// Elements of one output channel.
    ovol: usize,
    /// Elements of one input image (all channels).
    in_img: usize,
    /// Elements of one output image (all channels).
    out_img: usize,
    /// Elements of one image's column matrix (all groups).
    col_img: usize,
}

impl Sizes {
    fn of(g: &ConvGeom) -> Sizes {
        let (kg, ovol) = (g.col_rows(), g.out_vol());
        Sizes {
            kg,
            fg: g.out_c / g.groups,
            ovol,
            in_img: g.in_c * g.in_vol(),
            out_img: g.out_c * ovol,
            col_img: kg * g.groups * ovol,
        }
    }
}

/// im2col of `count` images from `x` into `col`; false without NVRTC.
fn im2col(gpu: &Gpu, sfx: &str, x: u64, col: u64, count: usize, cg: &ConvG) -> Result<bool> {
    let (nb, n) = (count as i64, count * cg.in_c as usize * (cg.kd * cg.kh * cg.kw * cg.od * cg.oh * cg.ow) as usize);
    Ok(launch!(gpu, &nvrtc::CONV, &format!("im2col_{sfx}"), grid(n), [&x, &col, &nb, cg]))
}

/// col2im of `count` images from `col` into `x` (every element written); false without NVRTC.
fn col2im(gpu: &Gpu, sfx: &str, col: u64, x: u64, count: usize, cg: &ConvG) -> Result<bool> {
    let (nb, n) = (count as i64, count * (cg.in_c * cg.d * cg.h * cg.w) as usize);
    Ok(launch!(gpu, &nvrtc::CONV, &format!("col2im_{sfx}"), grid(n), [&col, &x, &nb, cg]))
}

/// Convolution forward: `x` `(batch, in_c, d, h, w)`, `w` `(out_c, in_c/groups, kd, kh, kw)`,
/// `bias` `(out_c,)`; returns `(batch, out_c, od, oh, ow)`. None for non-float dtypes or
/// without NVRTC or cuBLAS.
pub fn conv_forward(
    x: DevIn<'_>,
    w: DevIn<'_>,
    bias: Option<DevIn<'_>>,
    g: &ConvGeom,
) -> Result<Option<DeviceStorage>> {
    let mut ins = vec![x, w];
    ins.extend(bias);
    let Some(sfx) = common_suffix(&ins) else { return Ok(None) };
    let s = Sizes::of(g);
    expect_len("data", &x, g.batch * s.in_img)?;
    expect_len("weight", &w, g.weight_len())?;
    if let Some(b) = &bias {
        expect_len("bias", b, g.out_c)?;
    }
    if s.kg == 0 {
        return Ok(None);
    }
    let (gpu, dtype) = (&x.data.gpu, x.dtype());
    let y = DeviceStorage::uninit(gpu, dtype, g.batch * s.out_img)?;
    if y.is_empty() {
        return Ok(Some(y));
    }
    let cg = ConvG::from(g);
    let nb = images_per_chunk(s.col_img * dtype.size(), g.batch, COL_BYTES);
    let col = DeviceStorage::uninit(gpu, dtype, nb * s.col_img)?;
    for (start, count) in chunks(g.batch, nb) {
        if !im2col(gpu, sfx, x.data.at(x.offset + start * s.in_img), col.ptr, count, &cg)? {
            return Ok(None);
        }
        for grp in 0..g.groups {
            // y[n] (fg x ovol) = W_g (fg x kg) * col_g[n] (kg x ovol), W shared by the chunk.
            let p = Gemm { batch: count, m: s.fg, n: s.ovol, k: s.kg, ta: false, tb: false, accumulate: false };
            let a = (w.data.at(w.offset + grp * s.fg * s.kg), 0);
            let b = (col.at(grp * s.kg * s.ovol), s.col_img as i64);
            let c = (y.at(start * s.out_img + grp * s.fg * s.ovol), s.out_img as i64);
            if !gemm(gpu, dtype, p, a, b, c)? {
                return Ok(None);
            }
        }
    }
    if let Some(b) = bias {
        let (n, ch, plane, py, pb) = ((g.batch * s.out_img) as i64, g.out_c as i64, s.ovol as i64, y.ptr, b.ptr());
        let name = format!("bias_add_{sfx}");
        if !launch!(gpu, &nvrtc::CONV, &name, grid(n as usize), [&py, &pb, &n, &ch, &plane]) {
            return Ok(None);
        }
    }
    Ok(Some(y))
}

/// Gradients of a convolution: `dy` `(batch, out_c, od, oh, ow)`, `x` the data, `w` the weight;
/// returns those of (data, weight, bias) flagged in `keep`, in that order. None for non-float
/// dtypes or without NVRTC or cuBLAS.
pub fn conv_backward(
    dy: DevIn<'_>,
    x: DevIn<'_>,
    w: DevIn<'_>,
    g: &ConvGeom,
    keep: [bool; 3],
) -> Result<Option<Vec<DeviceStorage>>> {
    let Some(sfx) = common_suffix(&[dy, x, w]) else { return Ok(None) };
    let s = Sizes::of(g);
    expect_len("output gradient", &dy, g.batch * s.out_img)?;
    expect_len("data", &x, g.batch * s.in_img)?;
    expect_len("weight", &w, g.weight_len())?;
    if s.kg == 0 || g.batch * s.out_img == 0 {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(3);
    if keep[0] {
        let Some(dx) = data_grad(sfx, dy, w, g, &s)? else { return Ok(None) };
        out.push(dx);
    }
    if keep[1] {
        let Some(dw) = weight_grad(sfx, dy, x, g, &s)? else { return Ok(None) };
        out.push(dw);
    }
    if keep[2] {
        let shape = [g.batch, g.out_c, s.ovol];
        let dy3 = DevIn { data: dy.data, offset: dy.offset, shape: &shape };
        let Some(db) = reduce(ReduceOp::Sum, dy3, &[true, false, true], 1.0)? else { return Ok(None) };
        out.push(db);
    }
    Ok(Some(out))
}

/// The data gradient: per chunk, `col_g[n] = W_gᵀ dy_g[n]`, then col2im.
fn data_grad(sfx: &str, dy: DevIn<'_>, w: DevIn<'_>, g: &ConvGeom, s: &Sizes) -> Result<Option<DeviceStorage>> {
    let (gpu, dtype, cg) = (&dy.data.gpu, dy.dtype(), ConvG::from(g));
    let dx = DeviceStorage::uninit(gpu, dtype, g.batch * s.in_img)?;
    let nb = images_per_chunk(s.col_img * dtype.size(), g.batch, COL_BYTES);
    let col = DeviceStorage::uninit(gpu, dtype, nb * s.col_img)?;
    for (start, count) in chunks(g.batch, nb) {
        for grp in 0..g.groups {
            // col_g[n] (kg x ovol) = W_g (stored fg x kg) transposed * dy_g[n] (fg x ovol).
            let p = Gemm { batch: count, m: s.kg, n: s.ovol, k: s.fg, ta: true, tb: false, accumulate: false };
            let a = (w.data.at(w.offset + grp * s.fg * s.kg), 0);
            let b = (dy.data.at(dy.offset + start * s.out_img + grp * s.fg * s.ovol), s.out_img as i64);
            let c = (col.at(grp * s.kg * s.ovol), s.col_img as i64);
            if !gemm(gpu, dtype, p, a, b, c)? {
                return Ok(None);
            }
        }
        if !col2im(gpu, sfx, col.ptr, dx.at(start * s.in_img), count, &cg)? {
            return Ok(None);
        }
    }
    Ok(Some(dx))
}

/// The weight gradient: per chunk, im2col, the per-image products `dy_g[n] col_g[n]ᵀ` into a
/// scratch buffer, summed over the chunk's images; chunks add up.
fn weight_grad(sfx: &str, dy: DevIn<'_>, x: DevIn<'_>, g: &ConvGeom, s: &Sizes) -> Result<Option<DeviceStorage>> {
    let (gpu, dtype, cg) = (&dy.data.gpu, dy.dtype(), ConvG::from(g));
    let wlen = g.weight_len();
    let nb = images_per_chunk((s.col_img + wlen) * dtype.size(), g.batch, COL_BYTES);
    let col = DeviceStorage::uninit(gpu, dtype, nb * s.col_img)?;
    let per_image = DeviceStorage::uninit(gpu, dtype, nb * wlen)?;
    let mut total: Option<DeviceStorage> = None;
    for (start, count) in chunks(g.batch, nb) {
        if !im2col(gpu, sfx, x.data.at(x.offset + start * s.in_img), col.ptr, count, &cg)? {
            return Ok(None);
        }
        for grp in 0..g.groups {
            // dW_g[n] (fg x kg) = dy_g[n] (fg x ovol) * col_g[n] (stored kg x ovol) transposed.
            let p = Gemm { batch: count, m: s.fg, n: s.kg, k: s.ovol, ta: false, tb: true, accumulate: false };
            let a = (dy.data.at(dy.offset + start * s.out_img + grp * s.fg * s.ovol), s.out_img as i64);
            let b = (col.at(grp * s.kg * s.ovol), s.col_img as i64);
            let c = (per_image.at(grp * s.fg * s.kg), wlen as i64);
            if !gemm(gpu, dtype, p, a, b, c)? {
                return Ok(None);
            }
        }
        let shape = [count, wlen];
        let parts = DevIn { data: &per_image, offset: 0, shape: &shape };
        let Some(sum) = reduce(ReduceOp::Sum, parts, &[true, false], 1.0)? else { return Ok(None) };
        total = match total {
            None => Some(sum),
            Some(t) => {
                let shape = [wlen];
                let (a, b) =
                    (DevIn { data: &t, offset: 0, shape: &shape }, DevIn { data: &sum, offset: 0, shape: &shape });
                let Some(t) = super::ops::binary(BinaryKind::Add, a, b, &shape)? else { return Ok(None) };
                Some(t)
            }
        };
    }
    Ok(total)
}

/// The kernels' code of a pooling kind (0 max, 1 avg, 2 sum) and its count_include_pad flag;
/// None for Lp (no kernel).
fn pool_code(kind: PoolKind) -> Option<(i32, i32)> {
    match kind {
        PoolKind::Max => Some((0, 0)),
        PoolKind::Avg { include_pad } => Some((1, i32::from(include_pad))),
        PoolKind::Sum => Some((2, 0)),
        PoolKind::Lp { .. } => None,
    }
}

/// Pooling forward: `x` `(planes, d, h, w)` into `(planes, od, oh, ow)`. None for Lp pooling,
/// non-float dtypes or without NVRTC.
pub fn pool_forward(x: DevIn<'_>, g: &PoolGeom, kind: PoolKind) -> Result<Option<DeviceStorage>> {
    let (Some(sfx), Some((code, inc))) = (float_suffix(x.dtype()), pool_code(kind)) else { return Ok(None) };
    expect_len("pooling data", &x, g.planes * g.d * g.h * g.w)?;
    let gpu = &x.data.gpu;
    let n = g.planes * g.od * g.oh * g.ow;
    let y = DeviceStorage::uninit(gpu, x.dtype(), n)?;
    if n == 0 {
        return Ok(Some(y));
    }
    let (px, py, pg) = (x.ptr(), y.ptr, PoolG::from(g));
    let ok = launch!(gpu, &nvrtc::CONV, &format!("pool_fwd_{sfx}"), grid(n), [&px, &py, &pg, &code, &inc]);
    Ok(ok.then_some(y))
}

/// Pooling backward: `dy` `(planes, od, oh, ow)`, `x` the data; returns `(planes, d, h, w)`.
/// None for Lp pooling, non-float dtypes or without NVRTC.
pub fn pool_backward(dy: DevIn<'_>, x: DevIn<'_>, g: &PoolGeom, kind: PoolKind) -> Result<Option<DeviceStorage>> {
    let (Some(sfx), Some((code, inc))) = (common_suffix(&[dy, x]), pool_code(kind)) else { return Ok(None) };
    let n = g.planes * g.d * g.h * g.w;
    expect_len("pooling data", &x, n)?;
    expect_len("pooling output gradient", &dy, g.planes * g.od * g.oh * g.ow)?;
    let gpu = &x.data.gpu;
    let dx = DeviceStorage::uninit(gpu, x.dtype(), n)?;
    if n == 0 {
        return Ok(Some(dx));
    }
    let (pdy, px, pdx, pg) = (dy.ptr(), x.ptr(), dx.ptr, PoolG::from(g));
    let ok = launch!(gpu, &nvrtc::CONV, &format!("pool_bwd_{sfx}"), grid(n), [&pdy, &px, &pdx, &pg, &code, &inc]);
    Ok(ok.then_some(dx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_batch_within_the_limit() {
        assert_eq!(images_per_chunk(100, 64, 1000), 10);
        assert_eq!(images_per_chunk(5000, 64, 1000), 1);
        assert_eq!(images_per_chunk(1, 64, 1000), 64);
        assert_eq!(images_per_chunk(0, 0, 1000), 1);
        let c: Vec<_> = chunks(25, 10).collect();
        assert_eq!(c, vec![(0, 10), (10, 10), (20, 5)]);
        assert_eq!(chunks(0, 10).count(), 0);
        assert_eq!(chunks(3, 3).collect::<Vec<_>>(), vec![(0, 3)]);
    }

    #[test]
    fn kernel_geometry_copies_every_field() {
        let g = ConvGeom {
            batch: 2,
            in_c: 3,
            d: 4,
            h: 5,
            w: 6,
            out_c: 8,
            groups: 1,
            kd: 2,
            kh: 3,
            kw: 1,
            sd: 1,
            sh: 2,
            sw: 3,
            pd: 0,
            ph: 1,
            pw: 2,
            dd: 1,
            dh: 2,
            dw: 1,
            od: 3,
            oh: 2,
            ow: 3,
        };
        let k = ConvG::from(&g);
        assert_eq!((k.in_c, k.d, k.h, k.w, k.kd, k.kh, k.kw), (3, 4, 5, 6, 2, 3, 1));
        assert_eq!((k.sd, k.sh, k.sw, k.pd, k.ph, k.pw, k.dd, k.dh, k.dw), (1, 2, 3, 0, 1, 2, 1, 2, 1));
        assert_eq!((k.od, k.oh, k.ow), (3, 2, 3));
        assert_eq!(std::mem::size_of::<ConvG>(), 19 * 8);
        let s = Sizes::of(&g);
        assert_eq!((s.kg, s.fg, s.ovol, s.in_img, s.out_img, s.col_img), (18, 8, 18, 360, 144, 324));
        let p = PoolGeom {
            planes: 6,
            d: 1,
            h: 7,
            w: 8,
            kd: 1,
            kh: 2,
            kw: 3,
            sd: 1,
            sh: 2,
            sw: 1,
            pd: 0,
            ph: 1,
            pw: 0,
            od: 1,
            oh: 4,
            ow: 6,
        };
        let k = PoolG::from(&p);
        assert_eq!((k.planes, k.h, k.w, k.kh, k.kw, k.sh, k.ph, k.oh, k.ow), (6, 7, 8, 2, 3, 2, 1, 4, 6));
        assert_eq!(std::mem::size_of::<PoolG>(), 16 * 8);
        assert_eq!(pool_code(PoolKind::Avg { include_pad: true }), Some((1, 1)));
        assert_eq!(pool_code(PoolKind::Lp { p: 2 }), None);
    }
}
