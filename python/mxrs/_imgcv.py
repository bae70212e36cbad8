"""OpenCV-compatible pixel kernels of ``mx.image`` on numpy HWC arrays.

MXNet 1.9.1's ``mx.image`` calls OpenCV (``cv::resize``, ``cv::copyMakeBorder``); these
follow OpenCV's code paths: ``resize`` computes the same source taps and weights (half-pixel
centres, replicated borders, Keys' cubic with ``A = -0.75``, Lanczos-4, pixel-area tables), and
for ``uint8`` images the same 11-bit fixed-point weights and the rounding of OpenCV's
vectorised vertical passes (128-bit lanes), so ``uint8`` results equal MXNet's in the golden
tests for every interpolation; float images agree to float32 rounding.
"""

import math
from typing import Any

import numpy as np

from mxrs.base import MXNetValueError

_COEF_SCALE = 2048  # INTER_RESIZE_COEF_SCALE: 11-bit fixed-point weights
_CAST_SHIFT = 22  # two passes of 11 bits
_S45 = 0.70710678118654752440084436210485
_LANCZOS_CS = np.array([[1, 0], [-_S45, -_S45], [0, 1], [_S45, -_S45], [-1, 0], [_S45, _S45], [0, -1], [-_S45, _S45]])
INTERP_NAMES = {0: "nearest", 1: "bilinear", 2: "bicubic", 3: "area", 4: "lanczos4"}


def _cubic_coeffs(fx):
    a = np.float32(-0.75)
    x = fx.astype(np.float32)
    x1 = x + np.float32(1)
    c0 = ((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a
    c1 = ((a + 2) * x - (a + 3)) * x * x + 1
    y = np.float32(1) - x
    c2 = ((a + 2) * y - (a + 3)) * y * y + 1
    c3 = np.float32(1) - c0 - c1 - c2
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.float32)


def _lanczos4_coeffs(fx):
    x = fx.astype(np.float32)
    i = np.arange(8, dtype=np.float32)
    y = -(x[:, None] + np.float32(3) - i).astype(np.float64) * math.pi * 0.25
    y0 = y[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):  # x == 0 rows are replaced below
        c = (_LANCZOS_CS[:, 0] * np.sin(y0) + _LANCZOS_CS[:, 1] * np.cos(y0)) / (y * y)
        c = c.astype(np.float32)
        total = np.zeros(len(x), np.float32)
        for k in range(8):
            total = total + c[:, k]
        c = c * (np.float32(1) / total)[:, None]
    small = x < np.finfo(np.float32).eps
    c[small] = 0
    c[small, 3] = 1
    return c


def _taps(n_in, n_out, interp, rows=False):
    """Source indices (clamped to the image) and float32 weights, ``(n_out, ksize)`` each, of
    OpenCV's generic resize along one axis; ``interp`` 1, 2, 4, or ``"area_up"`` (INTER_AREA
    when enlarging: linear taps with OpenCV's area-mode offsets). OpenCV moves a bilinear tap
    that falls off the image onto its edge with weight 1 along x, but along y (``rows``) keeps
    the weights and only clamps the row indices, which rounds differently."""
    inv = n_out / n_in
    scale = 1.0 / inv
    dx = np.arange(n_out, dtype=np.float64)
    if interp == "area_up":
        sx = np.floor(dx * scale).astype(np.int64)
        fx = ((dx + 1) - (sx + 1) * inv).astype(np.float32)
        fx = np.where(fx <= 0, np.float32(0), fx - np.floor(fx)).astype(np.float32)
    else:
        fx = ((dx + 0.5) * scale - 0.5).astype(np.float32)
        sx = np.floor(fx).astype(np.int64)
        fx = (fx - sx.astype(np.float32)).astype(np.float32)
    if interp in (1, "area_up"):
        if not (rows and interp == 1):
            low, high = sx < 0, sx >= n_in - 1
            fx[low | high] = 0
            sx = np.where(low, 0, np.where(high, n_in - 1, sx))
        ksize, weights = 2, np.stack([np.float32(1) - fx, fx], axis=-1)
    elif interp == 2:
        ksize, weights = 4, _cubic_coeffs(fx)
    else:
        ksize, weights = 8, _lanczos4_coeffs(fx)
    idx = np.clip(sx[:, None] + np.arange(ksize) - (ksize // 2 - 1), 0, n_in - 1)
    return idx, weights


def _separable(img, ytaps, xtaps):
    """Apply row and column taps: OpenCV's fixed point for uint8, float32 for other types."""
    (yi, yw), (xi, xw) = ytaps, xtaps
    if img.dtype == np.uint8:
        ya = np.rint(yw * _COEF_SCALE).astype(np.int64)
        xa = np.rint(xw * _COEF_SCALE).astype(np.int64)
        src = img.astype(np.int64)
        rows = np.einsum("hwkc,wk->hwc", src[:, xi], xa)
        if ya.shape[1] == 2:
            # OpenCV's vectorised two-tap vertical pass (VResizeLinearVec_32s8u): 16-bit products
            top = ((rows[yi[:, 0]] >> 4) * ya[:, 0, None, None]) >> 16
            bot = ((rows[yi[:, 1]] >> 4) * ya[:, 1, None, None]) >> 16
            out = (top + bot + 2) >> 2
        else:
            val = np.einsum("hkwc,hk->hwc", rows[yi], ya)
            out = (val + (1 << (_CAST_SHIFT - 1))) >> _CAST_SHIFT
            if ya.shape[1] == 4:
                out = _cubic_vector_rows(rows, yi, ya, out)
        return np.clip(out, 0, 255).astype(np.uint8)
    src = img.astype(np.float32)
    rows = np.einsum("hwkc,wk->hwc", src[:, xi], xw)
    out = np.einsum("hkwc,hk->hwc", rows[yi], yw)
    return _cast_back(out, img.dtype)


def _cubic_vector_rows(rows, yi, ya, scalar):
    """OpenCV's vectorised four-tap vertical pass (VResizeCubicVec_32s8u, 128-bit lanes): in
    float32 with fused multiply-adds, rounded half to even, on all but the last
    ``(width * channels) % 8`` values of each row (which take the scalar path)."""
    beta = ya.astype(np.float32) * np.float32(1.0 / (_COEF_SCALE * _COEF_SCALE))
    acc = rows[yi[:, 3]].astype(np.float32) * beta[:, 3, None, None]
    for k in (2, 1, 0):
        fma = rows[yi[:, k]].astype(np.float64) * beta[:, k, None, None].astype(np.float64) + acc
        acc = fma.astype(np.float32)
    out = scalar.reshape(len(yi), -1)
    vec = np.rint(acc).astype(np.int64).reshape(len(yi), -1)
    cut = out.shape[1] - out.shape[1] % 8
    out[:, :cut] = vec[:, :cut]
    return out.reshape(scalar.shape)


def _cast_back(val, dtype):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(val), info.min, info.max).astype(dtype)
    return val.astype(dtype)


def _area_tab(n_in, n_out):
    """OpenCV's ``computeResizeAreaTab``: a dense ``(n_out, n_in)`` float32 weight matrix."""
    scale = n_in / n_out
    tab = np.zeros((n_out, n_in), np.float64)
    for dx in range(n_out):
        fsx1 = dx * scale
        fsx2 = fsx1 + scale
        cell = min(scale, n_in - fsx1)
        sx1, sx2 = math.ceil(fsx1), math.floor(fsx2)
        sx2 = min(sx2, n_in - 1)
        sx1 = min(sx1, sx2)
        if sx1 - fsx1 > 1e-3:
            tab[dx, sx1 - 1] = np.float32((sx1 - fsx1) / cell)
        for sx in range(sx1, sx2):
            tab[dx, sx] = np.float32(1.0 / cell)
        if fsx2 - sx2 > 1e-3:
            tab[dx, sx2] = np.float32(min(min(fsx2 - sx2, 1.0), cell) / cell)
    return tab


def _resize_area(img, new_h, new_w):
    h, w, _ = img.shape
    sx, sy = w / new_w, h / new_h
    isx, isy = round(sx), round(sy)
    src = img.astype(np.float64)
    if abs(sx - isx) < 2.2e-16 and abs(sy - isy) < 2.2e-16:
        blocks = src[: new_h * isy, : new_w * isx].reshape(new_h, isy, new_w, isx, -1).sum(axis=(1, 3))
        if img.dtype == np.uint8 and isx == 2 and isy == 2:
            return ((blocks.astype(np.int64) + 2) >> 2).astype(np.uint8)
        val = blocks * np.float32(1.0 / (isx * isy))
    else:
        val = _area_accumulate(img, _area_tab(w, new_w), _area_tab(h, new_h))
    return _cast_back(val, img.dtype)


def _area_accumulate(img, xtab, ytab):
    """OpenCV's ``ResizeArea_Invoker`` sums in its working type (float for 8-bit and float
    images, double for double): each source row's weighted pixels added in increasing x, then
    the weighted rows in increasing y, so uint8 results round as OpenCV's do. Absent taps have
    weight 0 and add an exact 0."""
    wt = np.float64 if img.dtype == np.float64 else np.float32
    src = img.astype(wt)
    xtab, ytab = xtab.astype(wt), ytab.astype(wt)
    rows = np.zeros((img.shape[0], xtab.shape[0], img.shape[2]), wt)
    for sx in range(img.shape[1]):
        rows += src[:, sx, None, :] * xtab[None, :, sx, None]
    val = np.zeros((ytab.shape[0], xtab.shape[0], img.shape[2]), wt)
    for sy in range(img.shape[0]):
        val += ytab[:, sy, None, None] * rows[None, sy]
    return val


def _resize_nearest(img, new_h, new_w):
    h, w, _ = img.shape
    ys = np.minimum(np.floor(np.arange(new_h) * (1.0 / (new_h / h))).astype(np.int64), h - 1)
    xs = np.minimum(np.floor(np.arange(new_w) * (1.0 / (new_w / w))).astype(np.int64), w - 1)
    return np.ascontiguousarray(img[ys][:, xs])


def resize(img, new_w, new_h, interp=1, op="imresize"):
    """``cv::resize`` of an HWC (or HW) image to ``(new_h, new_w)``. ``interp``: 0 nearest,
    1 bilinear, 2 bicubic, 3 area, 4 Lanczos-4 (OpenCV's codes)."""
    if img.ndim == 2:
        return resize(img[:, :, None], new_w, new_h, interp, op)[:, :, 0]
    if img.ndim != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise MXNetValueError(f"{op}: the image must have shape (H, W, C) with H, W > 0, but got {img.shape}")
    new_w, new_h = int(new_w), int(new_h)
    if new_w <= 0 or new_h <= 0:
        raise MXNetValueError(f"{op}: the output size (w={new_w}, h={new_h}) must be positive (image {img.shape})")
    if interp not in INTERP_NAMES:
        raise MXNetValueError(f"{op}: unknown interpolation {interp} (0 to 4)")
    h, w, _ = img.shape
    if (new_h, new_w) == (h, w):
        return img.copy()
    if interp == 0:
        return _resize_nearest(img, new_h, new_w)
    iscale_2 = new_w * 2 == w and new_h * 2 == h
    if interp == 1 and iscale_2:
        interp = 3
    if interp == 3:
        if w >= new_w and h >= new_h:
            return _resize_area(img, new_h, new_w)
        return _separable(img, _taps(h, new_h, "area_up", rows=True), _taps(w, new_w, "area_up"))
    return _separable(img, _taps(h, new_h, interp, rows=True), _taps(w, new_w, interp))


_BORDER_MODES = {0: "constant", 1: "edge", 2: "symmetric", 3: "wrap", 4: "reflect"}


def copy_make_border(img, top, bot, left, right, border_type=0, value=0.0, values=()):
    """``cv::copyMakeBorder`` of an HWC image. ``border_type`` is OpenCV's code: 0 constant,
    1 replicate, 2 reflect (``cba|abcd``), 3 wrap, 4 reflect-101 (``dcb|abcd``). (MXNet's
    docstring lists other numbers; these are what its operator does.) A constant border
    takes ``values`` per channel, else ``value`` in every channel."""
    if img.ndim != 3:
        raise MXNetValueError(f"copyMakeBorder: the image must have shape (H, W, C), but got {img.shape}")
    pads = [int(top), int(bot), int(left), int(right)]
    if min(pads) < 0:
        raise MXNetValueError(f"copyMakeBorder: the margins must be >= 0, but got {tuple(pads)}")
    if border_type not in _BORDER_MODES:
        raise MXNetValueError(f"copyMakeBorder: unknown border type {border_type} (0 to 4)")
    widths = ((pads[0], pads[1]), (pads[2], pads[3]), (0, 0))
    if border_type != 0:
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise MXNetValueError(f"copyMakeBorder: cannot extend the border of an empty image {img.shape}")
        mode: Any = _BORDER_MODES[border_type]
        if mode == "reflect" and min(img.shape[:2]) == 1:
            mode = "edge"
        return np.pad(img, widths, mode=mode)
    if len(values) > 1:
        fill = (list(values) + [0.0] * 4)[:4]
    else:
        fill = [values[0] if len(values) else value] * 4
    out = np.empty((img.shape[0] + pads[0] + pads[1], img.shape[1] + pads[2] + pads[3], img.shape[2]), img.dtype)
    for ch in range(img.shape[2]):
        out[..., ch] = _cast_back(np.float64(fill[ch] if ch < 4 else 0.0), img.dtype)
    out[pads[0] : pads[0] + img.shape[0], pads[2] : pads[2] + img.shape[1]] = img
    return out


def bilinear_sample(data, grid):
    """MXNet's ``BilinearSampler``: ``data`` (N, C, H, W), ``grid`` (N, 2, OH, OW) of x, y in
    [-1, 1]; points outside the image read zeros."""
    n, c, h, w = data.shape
    x = (grid[:, 0].astype(np.float32) + 1) * np.float32((w - 1) / 2)
    y = (grid[:, 1].astype(np.float32) + 1) * np.float32((h - 1) / 2)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    wx = np.float32(1) - (x - x0)
    wy = np.float32(1) - (y - y0)
    out = np.zeros((n, c) + x.shape[1:], np.float32)
    batch = np.arange(n)[:, None, None]
    for dy, dx, weight in ((0, 0, wy * wx), (0, 1, wy * (1 - wx)), (1, 0, (1 - wy) * wx), (1, 1, (1 - wy) * (1 - wx))):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
        vals = data[batch, :, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]  # (n, oh, ow, c)
        vals = np.where(inside[..., None], vals, 0).astype(np.float32)
        out += np.moveaxis(vals, -1, 1) * weight[:, None]
    return out
