// Convolution and pooling over NCDHW data (2-D data has d = kd = od = 1, 1-D data also
// h = kh = oh = 1), mirroring backend/cpu/conv/ exactly.
//
// Convolution is lowered to matrix products (cuBLAS, from the host) over column matrices:
// - im2col_<dtype>(const T* x, T* col, i64 nb, ConvG g): col is nb images of (in_c * kd * kh *
//   kw) rows by (od * oh * ow) columns, row (c, a, i, j), zeros where a patch reads padding.
// - col2im_<dtype>(const T* col, T* x, i64 nb, ConvG g): the adjoint, in gather form (one thread
//   per input element sums the column entries that read it, as Caffe's col2im_gpu): every
//   element of x is written, no atomics.
// - bias_add_<dtype>(T* y, const T* b, i64 n, i64 channels, i64 plane): y[i] += b[channel(i)].
// Pooling (max, avg, sum; PoolKind of the CPU code, the window spans of its `spans`):
// - pool_fwd_<dtype>(const T* x, T* y, PoolG g, int kind, int include_pad): one thread per output.
// - pool_bwd_<dtype>(const T* dy, const T* x, T* dx, PoolG g, int kind, int include_pad): one
//   thread per input element, gathering from the windows that cover it; for max the window's
//   first maximum (row-major order, strict >) is recomputed, as the CPU code's tie rule.
// kind: 0 max, 1 avg, 2 sum.

struct ConvG {
    i64 in_c, d, h, w;
    i64 kd, kh, kw;
    i64 sd, sh, sw;
    i64 pd, ph, pw;
    i64 dd, dh, dw;
    i64 od, oh, ow;
};

struct PoolG {
    i64 planes, d, h, w;
    i64 kd, kh, kw;
    i64 sd, sh, sw;
    i64 pd, ph, pw;
    i64 od, oh, ow;
};

template <typename T> __device__ void im2col_impl(const T* x, T* col, i64 nb, ConvG g) {
    const i64 ovol = g.od * g.oh * g.ow;
    const i64 kvol = g.kd * g.kh * g.kw;
    const i64 rows = g.in_c * kvol;
    const i64 vol = g.d * g.h * g.w;
    const T zero = Conv<T>::from(0.0);
    FOR_N(idx, nb * rows * ovol) {
        i64 p = idx % ovol;
        i64 r = (idx / ovol) % rows;
        i64 n = idx / (ovol * rows);
        i64 j = r % g.kw, i = (r / g.kw) % g.kh, a = (r / (g.kw * g.kh)) % g.kd, c = r / kvol;
        i64 ox = p % g.ow, oy = (p / g.ow) % g.oh, oz = p / (g.ow * g.oh);
        i64 iz = oz * g.sd + a * g.dd - g.pd;
        i64 iy = oy * g.sh + i * g.dh - g.ph;
        i64 ix = ox * g.sw + j * g.dw - g.pw;
        bool inside = iz >= 0 && iz < g.d && iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
        col[idx] = inside ? x[(n * g.in_c + c) * vol + (iz * g.h + iy) * g.w + ix] : zero;
    }
}

// The output positions o in [0, out) that read input position `at` at kernel offset k:
// o * s + k * dil - pad == at.
__device__ __forceinline__ i64 out_of(i64 at, i64 k, i64 s, i64 dil, i64 pad, i64 out) {
    i64 t = at + pad - k * dil;
    if (t < 0 || t % s != 0) return -1;
    t /= s;
    return t < out ? t : -1;
}

template <typename T> __device__ void col2im_impl(const T* col, T* x, i64 nb, ConvG g) {
    typedef typename Acc<T>::type C;
    const i64 ovol = g.od * g.oh * g.ow;
    const i64 kvol = g.kd * g.kh * g.kw;
    const i64 vol = g.d * g.h * g.w;
    FOR_N(idx, nb * g.in_c * vol) {
        i64 ix = idx % g.w, iy = (idx / g.w) % g.h, iz = (idx / (g.w * g.h)) % g.d;
        i64 c = (idx / vol) % g.in_c, n = idx / (vol * g.in_c);
        const T* base = col + (n * g.in_c + c) * kvol * ovol;
        C s = C(0);
        for (i64 a = 0; a < g.kd; ++a) {
            i64 oz = out_of(iz, a, g.sd, g.dd, g.pd, g.od);
            if (oz < 0) continue;
            for (i64 i = 0; i < g.kh; ++i) {
                i64 oy = out_of(iy, i, g.sh, g.dh, g.ph, g.oh);
                if (oy < 0) continue;
                for (i64 j = 0; j < g.kw; ++j) {
                    i64 ox = out_of(ix, j, g.sw, g.dw, g.pw, g.ow);
                    if (ox < 0) continue;
                    s += to_c(base[((a * g.kh + i) * g.kw + j) * ovol + (oz * g.oh + oy) * g.ow + ox]);
                }
            }
        }
        x[idx] = Conv<T>::from((double)s);
    }
}

template <typename T> __device__ void bias_add_impl(T* y, const T* b, i64 n, i64 channels, i64 plane) {
    FOR_N(i, n) {
        y[i] = Conv<T>::from((double)(to_c(y[i]) + to_c(b[(i / plane) % channels])));
    }
}

// One axis of a pooling window (the CPU code's Span): input range [lo, hi) and the window's
// length counting padding but not what lies beyond it.
struct Span {
    i64 lo, hi, padded;
};

__device__ __forceinline__ Span span_of(i64 o, i64 stride, i64 pad, i64 k, i64 n) {
    i64 s = o * stride - pad;
    i64 e = s + k < n + pad ? s + k : n + pad;
    Span r;
    r.lo = s < 0 ? 0 : (s > n ? n : s);
    i64 h = e < 0 ? 0 : (e > n ? n : e);
    r.hi = h > r.lo ? h : r.lo;
    r.padded = e - s > 0 ? e - s : 0;
    return r;
}

__device__ __forceinline__ i64 divisor(int kind, int include_pad, Span z, Span y, Span x) {
    if (kind != 1) return 1;
    if (include_pad) return z.padded * y.padded * x.padded;
    return (z.hi - z.lo) * (y.hi - y.lo) * (x.hi - x.lo);
}

template <typename C> __device__ __forceinline__ C lowest();
template <> __device__ __forceinline__ float lowest<float>() { return -3.402823466e38f; }
template <> __device__ __forceinline__ double lowest<double>() { return -1.7976931348623157e308; }

// The first maximum (row-major order, strict >) of the window (z, y, x) of plane `px`, as an
// index into the plane; -1 for an empty window.
template <typename T> __device__ i64 argmax_of(const T* px, const PoolG& g, Span z, Span y, Span x) {
    typedef typename Acc<T>::type C;
    i64 best = -1;
    C m = C(0);
    for (i64 iz = z.lo; iz < z.hi; ++iz)
        for (i64 iy = y.lo; iy < y.hi; ++iy)
            for (i64 ix = x.lo; ix < x.hi; ++ix) {
                i64 at = (iz * g.h + iy) * g.w + ix;
                C v = to_c(px[at]);
                if (best < 0 || v > m) {
                    m = v;
                    best = at;
                }
            }
    return best;
}

template <typename T> __device__ void pool_fwd_impl(const T* x, T* y, PoolG g, int kind, int include_pad) {
    typedef typename Acc<T>::type C;
    const i64 ovol = g.od * g.oh * g.ow;
    const i64 vol = g.d * g.h * g.w;
    FOR_N(idx, g.planes * ovol) {
        i64 ox = idx % g.ow, oy = (idx / g.ow) % g.oh, oz = (idx / (g.ow * g.oh)) % g.od;
        const T* px = x + (idx / ovol) * vol;
        Span sz = span_of(oz, g.sd, g.pd, g.kd, g.d);
        Span sy = span_of(oy, g.sh, g.ph, g.kh, g.h);
        Span sx = span_of(ox, g.sw, g.pw, g.kw, g.w);
        C acc = kind == 0 ? lowest<C>() : C(0);
        for (i64 iz = sz.lo; iz < sz.hi; ++iz)
            for (i64 iy = sy.lo; iy < sy.hi; ++iy)
                for (i64 ix = sx.lo; ix < sx.hi; ++ix) {
                    C v = to_c(px[(iz * g.h + iy) * g.w + ix]);
                    if (kind == 0) {
                        acc = v > acc ? v : acc;
                    } else {
                        acc += v;
                    }
                }
        i64 dv = divisor(kind, include_pad, sz, sy, sx);
        y[idx] = Conv<T>::from((double)(dv <= 1 ? acc : acc / C(dv)));
    }
}

// The output positions [*lo, *hi) along one axis whose windows cover input position `at`.
__device__ __forceinline__ void covering(i64 at, i64 stride, i64 pad, i64 k, i64 out, i64* lo, i64* hi) {
    *lo = at + pad < k ? 0 : (at + pad - k) / stride + 1;
    i64 h = (at + pad) / stride + 1;
    *hi = h < out ? h : out;
}

template <typename T>
__device__ void pool_bwd_impl(const T* dy, const T* x, T* dx, PoolG g, int kind, int include_pad) {
    typedef typename Acc<T>::type C;
    const i64 ovol = g.od * g.oh * g.ow;
    const i64 vol = g.d * g.h * g.w;
    FOR_N(idx, g.planes * vol) {
        i64 at = idx % vol, plane = idx / vol;
        i64 ix = at % g.w, iy = (at / g.w) % g.h, iz = at / (g.w * g.h);
        const T* px = x + plane * vol;
        const T* pdy = dy + plane * ovol;
        i64 z0, z1, y0, y1, x0, x1;
        covering(iz, g.sd, g.pd, g.kd, g.od, &z0, &z1);
        covering(iy, g.sh, g.ph, g.kh, g.oh, &y0, &y1);
        covering(ix, g.sw, g.pw, g.kw, g.ow, &x0, &x1);
        C s = C(0);
        for (i64 oz = z0; oz < z1; ++oz) {
            Span sz = span_of(oz, g.sd, g.pd, g.kd, g.d);
            for (i64 oy = y0; oy < y1; ++oy) {
                Span sy = span_of(oy, g.sh, g.ph, g.kh, g.h);
                for (i64 ox = x0; ox < x1; ++ox) {
                    Span sx = span_of(ox, g.sw, g.pw, g.kw, g.w);
                    C gv = to_c(pdy[(oz * g.oh + oy) * g.ow + ox]);
                    if (kind == 0) {
                        if (argmax_of(px, g, sz, sy, sx) == at) s += gv;
                    } else {
                        i64 dv = divisor(kind, include_pad, sz, sy, sx);
                        s += dv <= 1 ? gv : gv / C(dv);
                    }
                }
            }
        }
        dx[idx] = Conv<T>::from((double)s);
    }
}

#define CONV_KERNELS(T, tn) \
    extern "C" __global__ void im2col_##tn(const T* x, T* col, i64 nb, ConvG g) { im2col_impl<T>(x, col, nb, g); } \
    extern "C" __global__ void col2im_##tn(const T* col, T* x, i64 nb, ConvG g) { col2im_impl<T>(col, x, nb, g); } \
    extern "C" __global__ void bias_add_##tn(T* y, const T* b, i64 n, i64 channels, i64 plane) { \
        bias_add_impl<T>(y, b, n, channels, plane); \
    } \
    extern "C" __global__ void pool_fwd_##tn(const T* x, T* y, PoolG g, int kind, int include_pad) { \
        pool_fwd_impl<T>(x, y, g, kind, include_pad); \
    } \
    extern "C" __global__ void pool_bwd_##tn(const T* dy, const T* x, T* dx, PoolG g, int kind, int include_pad) { \
        pool_bwd_impl<T>(dy, x, dx, g, kind, include_pad); \
    }
CONV_KERNELS(float, f32)
CONV_KERNELS(double, f64)
CONV_KERNELS(f16, f16)
CONV_KERNELS(bf16, bf16)
