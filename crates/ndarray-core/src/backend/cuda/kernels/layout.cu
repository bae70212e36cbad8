// Data movement: strided copies (transpose, slices, broadcasts, concat, split), row gathers
// (take, Embedding), pick, one_hot and where. Elements are moved as opaque payloads of their
// size, so every dtype is served by the 1-, 2-, 4- and 8-byte instantiations (suffix u8, u16,
// u32, u64). Index and condition arrays may have any dtype: their type flag (MXNet's: 0 f32,
// 1 f64, 2 f16, 3 u8, 4 i32, 5 i8, 6 i64, 7 bool, 12 bf16) is passed and read by `load_f`.
typedef unsigned char p8;
typedef unsigned short p16;
typedef unsigned int p32;

// Element i of an array of dtype flag `code`, as a double (the host reads them as f64).
__device__ __forceinline__ double load_f(const void* p, i64 i, int code) {
    switch (code) {
        case 0: return (double)((const float*)p)[i];
        case 1: return ((const double*)p)[i];
        case 2: return (double)to_c(((const f16*)p)[i]);
        case 3: return (double)((const unsigned char*)p)[i];
        case 4: return (double)((const int*)p)[i];
        case 5: return (double)((const signed char*)p)[i];
        case 6: return (double)((const i64*)p)[i];
        case 7: return ((const unsigned char*)p)[i] ? 1.0 : 0.0;
        case 12: return (double)to_c(((const bf16*)p)[i]);
        default: return 0.0;
    }
}

// A float index as Rust's `v as i64`: truncated, NaN to 0, saturated at the i64 range.
__device__ __forceinline__ i64 trunc_i64(double v) {
    if (v != v) return 0;
    if (v >= 9.2233720368547758e18) return 9223372036854775807LL;
    if (v <= -9.2233720368547758e18) return (-9223372036854775807LL - 1);
    return (i64)v;
}

// Position on an axis of length n (> 0): clipped into [0, n) or wrapped (Euclidean modulo).
__device__ __forceinline__ i64 axis_index(double v, i64 n, int wrap) {
    i64 i = trunc_i64(v);
    if (wrap) {
        i64 r = i % n;
        return r < 0 ? r + n : r;
    }
    return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

// Up to 8 axes: element with coordinates c (row-major over `shape`) moves from
// in[sum c[d] * istride[d]] to out[sum c[d] * ostride[d]]. Matches `struct Strided` of layout.rs.
struct Strided {
    i64 shape[8];
    i64 istride[8];
    i64 ostride[8];
    i64 ndim;
};

template <typename T> __device__ void strided_copy_impl(const T* in, T* out, i64 n, const Strided& s) {
    FOR_N(i, n) {
        i64 r = i, src = 0, dst = 0;
        for (int d = (int)s.ndim - 1; d >= 0; --d) {
            i64 c = r % s.shape[d];
            r /= s.shape[d];
            src += c * s.istride[d];
            dst += c * s.ostride[d];
        }
        out[dst] = in[src];
    }
}

// out (outer, nidx, inner) = in (outer, n, inner) with rows chosen by the indices.
template <typename T>
__device__ void take_impl(const T* in, const void* idx, int icode, T* out, i64 total, i64 nidx, i64 n, i64 inner,
                          int wrap) {
    FOR_N(i, total) {
        i64 q = i % inner, t = i / inner;
        i64 j = t % nidx, p = t / nidx;
        i64 k = axis_index(load_f(idx, j, icode), n, wrap);
        out[i] = in[(p * n + k) * inner + q];
    }
}

// out (outer, inner) = in (outer, n, inner) at the index of each (outer, inner) position.
template <typename T>
__device__ void pick_impl(const T* in, const void* idx, int icode, T* out, i64 total, i64 n, i64 inner, int wrap) {
    FOR_N(i, total) {
        i64 p = i / inner, q = i % inner;
        i64 k = axis_index(load_f(idx, i, icode), n, wrap);
        out[i] = in[(p * n + k) * inner + q];
    }
}

// pick's gradient: out (outer, n, inner), zeroed by the caller, receives g (outer, inner) at
// the index of each position (distinct positions: no two threads write one element).
template <typename T>
__device__ void unpick_impl(const T* g, const void* idx, int icode, T* out, i64 total, i64 n, i64 inner, int wrap) {
    FOR_N(i, total) {
        i64 p = i / inner, q = i % inner;
        i64 k = axis_index(load_f(idx, i, icode), n, wrap);
        out[(p * n + k) * inner + q] = g[i];
    }
}

// out (nidx, depth): `on` where the column is the (truncated) index, `off` elsewhere; the
// values come as the payload bits of the output dtype.
template <typename T>
__device__ void one_hot_impl(const void* idx, int icode, T* out, i64 total, i64 depth, u64 on, u64 off) {
    FOR_N(i, total) {
        i64 j = i / depth, c = i % depth;
        double v = load_f(idx, j, icode);
        bool hit = v >= 0.0 && v < (double)depth && (i64)v == c;
        out[i] = (T)(hit ? on : off);
    }
}

// out[i] = cond[i / per] != 0 ? a[i] : b[i] (per > 1: one condition per leading row).
template <typename T>
__device__ void where_impl(const void* cond, int ccode, const T* a, const T* b, T* out, i64 n, i64 per) {
    FOR_N(i, n) { out[i] = load_f(cond, i / per, ccode) != 0.0 ? a[i] : b[i]; }
}

#define LAYOUT_KERNELS(T, tn) \
    extern "C" __global__ void strided_copy_##tn(const T* in, T* out, i64 n, Strided s) { \
        strided_copy_impl<T>(in, out, n, s); \
    } \
    extern "C" __global__ void take_##tn(const T* in, const void* idx, int icode, T* out, i64 total, i64 nidx, \
                                         i64 n, i64 inner, int wrap) { \
        take_impl<T>(in, idx, icode, out, total, nidx, n, inner, wrap); \
    } \
    extern "C" __global__ void pick_##tn(const T* in, const void* idx, int icode, T* out, i64 total, i64 n, \
                                         i64 inner, int wrap) { \
        pick_impl<T>(in, idx, icode, out, total, n, inner, wrap); \
    } \
    extern "C" __global__ void unpick_##tn(const T* g, const void* idx, int icode, T* out, i64 total, i64 n, \
                                           i64 inner, int wrap) { \
        unpick_impl<T>(g, idx, icode, out, total, n, inner, wrap); \
    } \
    extern "C" __global__ void one_hot_##tn(const void* idx, int icode, T* out, i64 total, i64 depth, u64 on, \
                                            u64 off) { \
        one_hot_impl<T>(idx, icode, out, total, depth, on, off); \
    } \
    extern "C" __global__ void where_##tn(const void* cond, int ccode, const T* a, const T* b, T* out, i64 n, \
                                          i64 per) { \
        where_impl<T>(cond, ccode, a, b, out, n, per); \
    }
LAYOUT_KERNELS(p8, u8)
LAYOUT_KERNELS(p16, u16)
LAYOUT_KERNELS(p32, u32)
LAYOUT_KERNELS(u64, u64)

// take's (and Embedding's) gradient: out (outer, n, inner), zeroed by the caller, gets each row
// of g (outer, nidx, inner) added at its index, with atomic adds (float32 and float64 only;
// the order of the additions, and so the last bits of a repeated row's sum, may vary).
template <typename T>
__device__ void scatter_add_impl(const T* g, const void* idx, int icode, T* out, i64 total, i64 nidx, i64 n,
                                 i64 inner, int wrap) {
    FOR_N(i, total) {
        i64 q = i % inner, t = i / inner;
        i64 j = t % nidx, p = t / nidx;
        i64 k = axis_index(load_f(idx, j, icode), n, wrap);
        atomicAdd(&out[(p * n + k) * inner + q], g[i]);
    }
}

#define SCATTER_ADD_KERNEL(T, tn) \
    extern "C" __global__ void scatter_add_##tn(const T* g, const void* idx, int icode, T* out, i64 total, \
                                                i64 nidx, i64 n, i64 inner, int wrap) { \
        scatter_add_impl<T>(g, idx, icode, out, total, nidx, n, inner, wrap); \
    }
SCATTER_ADD_KERNEL(float, f32)
SCATTER_ADD_KERNEL(double, f64)
