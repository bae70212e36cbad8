"""MXNet's default detection augmenter (``det_aug_default``, src/io/image_det_aug_default.cc),
as ``mx.io.ImageDetRecordIter`` applies it to each decoded image and its label.

Images are HWC ``uint8`` numpy arrays in RGB order (MXNet works on OpenCV's BGR and swaps the
channels afterwards; every step here is per pixel or per channel, so the order does not
matter, and the HLS step converts from RGB). Boxes are in fractions of the image size and are
computed in float32 as MXNet does.
"""

import numpy as np

from mxrs import _imgcv, _native
from mxrs.base import MXNetError

F32 = np.float32


def _rect_area(r):
    return F32(r[2]) * F32(r[3])


def _rect_and(a, b):
    """OpenCV's ``Rect_<float> & Rect_<float>`` (x, y, w, h); empty gives a zero rect."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2 = min(F32(a[0] + a[2]), F32(b[0] + b[2]))
    y2 = min(F32(a[1] + a[3]), F32(b[1] + b[3]))
    w, h = F32(x2 - x1), F32(y2 - y1)
    if w <= 0 or h <= 0:
        return (F32(0), F32(0), F32(0), F32(0))
    return (x1, y1, w, h)


class DetLabel:
    """MXNet's ``ImageDetLabel``: ``[header_width, object_width, (extra header...),
    [id, xmin, ymin, xmax, ymax, (extra...)] * N]``. Objects whose box is empty
    (``xmax <= xmin`` or ``ymax <= ymin``) are dropped."""

    def __init__(self, raw, op="ImageDetRecordIter"):
        raw = np.asarray(raw, dtype=F32)
        n = raw.size
        if n < 7:
            raise MXNetError(f"{op}: a detection label needs at least 7 values (2 header + 5 object), got {n}")
        header_width = int(raw[0])
        self.object_width = int(raw[1])
        if header_width < 2:
            raise MXNetError(f"{op}: the label's header width (its first value) must be >= 2, got {header_width}")
        if self.object_width < 5:
            raise MXNetError(f"{op}: the label's object width (its second value) must be >= 5, got {self.object_width}")
        if (n - header_width) % self.object_width != 0:
            raise MXNetError(
                f"{op}: a label of {n} values with header width {header_width} is not a whole number of "
                f"objects of width {self.object_width}"
            )
        self.header = raw[:header_width].copy()
        objects = raw[header_width:].reshape(-1, self.object_width)
        keep = (objects[:, 3] > objects[:, 1]) & (objects[:, 4] > objects[:, 2])
        self.objects = objects[keep].copy()

    def to_array(self):
        return np.concatenate([self.header, self.objects.reshape(-1)]).astype(F32)

    def _project(self, objs, box):
        x, y, w, h = box
        out = objs.copy()
        out[:, 1] = np.maximum(F32(0), (objs[:, 1] - x) / w)
        out[:, 2] = np.maximum(F32(0), (objs[:, 2] - y) / h)
        out[:, 3] = np.minimum(F32(1), (objs[:, 3] - x) / w)
        out[:, 4] = np.minimum(F32(1), (objs[:, 4] - y) / h)
        return out

    def try_crop(self, box, p, idx):
        """MXNet's ``TryCrop``: whether ``box`` meets sampler ``idx``'s constraints for at
        least one object; if so the objects are moved into it (those it emits dropped)."""
        if len(self.objects) < 1:
            return True
        checks = (
            p["min_crop_overlaps"][idx] > 0 or p["max_crop_overlaps"][idx] < 1,
            p["min_crop_sample_coverages"][idx] > 0 or p["max_crop_sample_coverages"][idx] < 1,
            p["min_crop_object_coverages"][idx] > 0 or p["max_crop_object_coverages"][idx] < 1,
        )
        valid = not any(checks)
        for obj in self.objects if not valid else ():
            gt = (obj[1], obj[2], F32(obj[3] - obj[1]), F32(obj[4] - obj[2]))
            inter = _rect_area(_rect_and(box, gt))
            if checks[0]:
                ovp = F32(0) if inter <= 0 else F32(inter / (_rect_area(box) + _rect_area(gt) - inter))
                if ovp < p["min_crop_overlaps"][idx] or ovp > p["max_crop_overlaps"][idx]:
                    continue
            if checks[1]:
                c = F32(inter / _rect_area(box))
                if c < p["min_crop_sample_coverages"][idx] or c > p["max_crop_sample_coverages"][idx]:
                    continue
            if checks[2]:
                c = F32(inter / _rect_area(gt))
                if c < p["min_crop_object_coverages"][idx] or c > p["max_crop_object_coverages"][idx]:
                    continue
            valid = True
            break
        if not valid:
            return False
        objs = self.objects
        if p["crop_emit_mode"] == "center":
            cx = (objs[:, 1] + objs[:, 3]) * F32(0.5)
            cy = (objs[:, 2] + objs[:, 4]) * F32(0.5)
            x, y, w, h = box
            keep = (x <= cx) & (cx < F32(x + w)) & (y <= cy) & (cy < F32(y + h))
        else:
            areas = [_rect_area(_rect_and(box, (o[1], o[2], F32(o[3] - o[1]), F32(o[4] - o[2])))) for o in objs]
            gt_areas = (objs[:, 3] - objs[:, 1]) * (objs[:, 4] - objs[:, 2])
            keep = np.asarray(areas, dtype=F32) / gt_areas > F32(p["emit_overlap_thresh"])
        if not keep.any():
            return False
        self.objects = self._project(objs[keep], box)
        return True

    def pad(self, box):
        self.objects = self._project(self.objects, box)

    def mirror(self):
        left = self.objects[:, 1].copy()
        self.objects[:, 1] = F32(1) - self.objects[:, 3]
        self.objects[:, 3] = F32(1) - left


class StdRng:
    """The draws MXNet's detection augmenter makes: C++ ``std::mt19937`` (numpy's legacy
    MT19937 has the same seeding and the same 32-bit outputs) with libstdc++'s
    ``uniform_real_distribution<float>`` (one 32-bit output per float: ``x / 2**32`` rounded to
    float, then ``u * (b - a) + a`` in float)."""

    def __init__(self, seed):
        self._bits = np.random.RandomState(seed)._bit_generator

    def _raw(self):
        return int(self._bits.random_raw())

    def canonical(self):
        """``generate_canonical<float, 24>``: a float in [0, 1)."""
        u = F32(self._raw()) / F32(4294967296.0)
        return u if u < 1 else np.nextafter(F32(1), F32(0))

    def uniform(self, a, b):
        a, b = F32(a), F32(b)
        return F32(self.canonical() * F32(b - a) + a)

    def randint(self, lo, hi):
        """An int in [lo, hi] (``uniform_int_distribution``, libstdc++'s downscaling)."""
        span = hi - lo + 1
        scaling = 0xFFFFFFFF // span
        past = span * scaling
        while (x := self._raw()) >= past:
            pass
        return lo + x // scaling

    def shuffle(self, items):
        """``std::shuffle`` as the libstdc++ MXNet 1.9.1 was built with: for each position i
        from 1, swap it with a uniform position in [0, i]."""
        for i in range(1, len(items)):
            j = self.randint(0, i)
            items[i], items[j] = items[j], items[i]


def _inter_method(method, old_w, old_h, new_w, new_h, rng):
    if method == 9:
        if new_w > old_w and new_h > old_h:
            return 2
        if new_w < old_w and new_h < old_h:
            return 3
        return 1
    if method == 10:
        return rng.randint(0, 4)
    return method


def _resize(img, new_w, new_h, p, rng):
    method = _inter_method(p["inter_method"], img.shape[1], img.shape[0], new_w, new_h, rng)
    h, w, c = img.shape
    if method == 1 and new_w > 0 and new_h > 0:
        # The Rust core's bilinear resize: OpenCV's fixed-point INTER_LINEAR, as _imgcv's.
        out = _native.imresize(np.ascontiguousarray(img).tobytes(), h, w, c, int(new_w), int(new_h))
        return np.frombuffer(out, dtype=np.uint8).reshape(int(new_h), int(new_w), c)
    return _imgcv.resize(img, new_w, new_h, method, op="ImageDetRecordIter")


def _rgb_to_hls_u8(img):
    """OpenCV's 8-bit BGR2HLS (of an RGB image): H in [0, 180), L and S in [0, 255]."""
    f = img.astype(F32) * F32(1.0 / 255)  # OpenCV multiplies by the reciprocal
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    vmax, vmin = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    diff = vmax - vmin
    lum = (vmax + vmin) * F32(0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(lum < F32(0.5), diff / (vmax + vmin), diff / (F32(2) - (vmax + vmin)))
        scale = F32(60) / diff
        h = np.where(
            vmax == r, (g - b) * scale, np.where(vmax == g, (b - r) * scale + F32(120), (r - g) * scale + F32(240))
        )
    flat = diff <= F32(np.finfo(F32).eps)
    s = np.where(flat, F32(0), s)
    h = np.where(flat, F32(0), h)
    h = np.where(h < 0, h + F32(360), h)
    out = np.stack([h * F32(0.5), lum * F32(255), s * F32(255)], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.int32)


def _hls_to_rgb_u8(hls):
    """OpenCV's 8-bit HLS2BGR (to RGB)."""
    h = hls[..., 0].astype(F32) * F32(2)
    lum = hls[..., 1].astype(F32) / F32(255)
    s = hls[..., 2].astype(F32) / F32(255)
    p2 = np.where(lum <= F32(0.5), lum * (F32(1) + s), lum + s - lum * s)
    p1 = F32(2) * lum - p2
    hs = h / F32(60)
    hs = np.where(hs >= 6, hs - 6, np.where(hs < 0, hs + 6, hs))
    sector = np.floor(hs).astype(np.int64)
    frac = hs - sector
    tab = [p2, p1, p1 + (p2 - p1) * (F32(1) - frac), p1 + (p2 - p1) * frac]
    order = np.array([[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]])  # (b, g, r) sources
    sel = order[sector % 6]
    vals = np.stack(tab, axis=-1)
    bgr = np.take_along_axis(vals, sel, axis=-1)
    bgr = np.where((s == 0)[..., None], lum[..., None], bgr)
    rgb = bgr[..., ::-1] * F32(255)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _color(img, p, rng):
    lo_hi = (-1.0, 1.0)
    h = int(rng.uniform(*lo_hi) * p["max_random_hue"])
    s = int(rng.uniform(*lo_hi) * p["max_random_saturation"])
    lum = int(rng.uniform(*lo_hi) * p["max_random_illumination"])
    c = F32(rng.uniform(*lo_hi) * F32(p["max_random_contrast"]))
    h = h if rng.canonical() < p["random_hue_prob"] else 0
    s = s if rng.canonical() < p["random_saturation_prob"] else 0
    lum = lum if rng.canonical() < p["random_illumination_prob"] else 0
    c = c if rng.canonical() < p["random_contrast_prob"] else F32(0)
    if (h or s or lum) and img.shape[2] == 3:
        hls = _rgb_to_hls_u8(img) + np.array([h, lum, s], dtype=np.int32)
        hls = np.clip(hls, 0, np.array([180, 255, 255]))
        img = _hls_to_rgb_u8(hls)
    if abs(c) > 1e-3:
        img = np.clip(np.rint(img.astype(F32) * (c + F32(1))), 0, 255).astype(np.uint8)
    return img


def _pad_box(max_pad_scale, rng, threshold=1.05):
    new_scale = rng.uniform(1.0, max_pad_scale)
    if new_scale < threshold:
        return None
    x0 = rng.uniform(0.0, new_scale - 1)
    y0 = rng.uniform(0.0, new_scale - 1)
    return (F32(-x0), F32(-y0), new_scale, new_scale)


def _crop_box(p, idx, rng, img_aspect):
    """MXNet's ``GenerateCropBox`` (float arithmetic; ``1. / (s * s)`` in double)."""
    new_scale = F32(rng.uniform(p["min_crop_scales"][idx], p["max_crop_scales"][idx]) + F32(1e-12))
    min_ratio = max(F32(F32(p["min_crop_aspect_ratios"][idx]) / img_aspect), F32(new_scale * new_scale))
    max_ratio = min(F32(F32(p["max_crop_aspect_ratios"][idx]) / img_aspect), F32(1.0 / float(new_scale * new_scale)))
    new_ratio = F32(np.sqrt(rng.uniform(min_ratio, max_ratio)))
    w = min(F32(1), F32(new_scale * new_ratio))
    h = min(F32(1), F32(new_scale / new_ratio))
    x0 = rng.uniform(0.0, F32(1) - w)
    y0 = rng.uniform(0.0, F32(1) - h)
    return (x0, y0, w, h)


def _random_crop(img, label, p, rng):
    indices = list(range(p["num_crop_sampler"]))
    rng.shuffle(indices)
    for idx in indices:
        for _ in range(p["max_crop_trials"][idx]):
            box = _crop_box(p, idx, rng, F32(img.shape[1]) / F32(img.shape[0]))
            if label.try_crop(box, p, idx):
                rows, cols = img.shape[:2]
                left, top = int(box[0] * cols), int(box[1] * rows)
                width, height = max(1, int(box[2] * cols)), max(1, int(box[3] * rows))
                return img[top : top + height, left : left + width]
    return img


def _final_resize(img, p, rng):
    h, w = p["data_shape"][1], p["data_shape"][2]
    mode = p["resize_mode"]
    if mode == "force":
        return _resize(img, w, h, p, rng)
    rows, cols = img.shape[:2]
    if mode == "shrink" and not (rows > h or cols > w):
        return img
    ratio = min(F32(h) / F32(rows), F32(w) / F32(cols))
    return _resize(img, int(F32(ratio * F32(cols))), int(F32(ratio * F32(rows))), p, rng)


def augment(img, raw_label, p, rng):
    """One image through ``det_aug_default``: shorter-edge resize, colour, mirror, pad, crop,
    then the fit to ``data_shape``. Returns ``(image, label array)``."""
    if p["resize"] != -1:
        rows, cols = img.shape[:2]
        if rows > cols:
            new_h, new_w = p["resize"] * rows // cols, p["resize"]
        else:
            new_h, new_w = p["resize"], p["resize"] * cols // rows
        img = _resize(img, new_w, new_h, p, rng)
    label = DetLabel(raw_label)
    probs = ("random_hue_prob", "random_saturation_prob", "random_illumination_prob", "random_contrast_prob")
    if any(p[k] > 0 for k in probs):
        img = _color(img, p, rng)
    if p["rand_mirror_prob"] > 0 and rng.canonical() < p["rand_mirror_prob"]:
        label.mirror()
        img = img[:, ::-1]
    if p["rand_pad_prob"] > 0 and p["max_pad_scale"] > 1 and rng.canonical() < p["rand_pad_prob"]:
        box = _pad_box(p["max_pad_scale"], rng)
        if box is not None:
            label.pad(box)
            rows, cols = img.shape[:2]
            left, top = int(-box[0] * cols), int(-box[1] * rows)
            right, bot = int((box[2] + box[0] - 1) * cols), int((box[3] + box[1] - 1) * rows)
            fill = float(p["fill_value"])  # cv::Scalar(v, v, v): an alpha channel gets 0
            img = _imgcv.copy_make_border(
                np.ascontiguousarray(img), top, bot, left, right, 0, values=(fill, fill, fill, 0)
            )
    if p["rand_crop_prob"] > 0 and p["num_crop_sampler"] > 0 and rng.canonical() < p["rand_crop_prob"]:
        img = _random_crop(img, label, p, rng)
    img = _final_resize(np.ascontiguousarray(img), p, rng)
    return img, label.to_array()
