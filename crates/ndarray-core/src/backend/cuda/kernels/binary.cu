// Elementwise binary ops for the floating-point dtypes: same shape (binary_<op>_<dtype>),
// broadcast (bcast_<op>_<dtype>, up to 8 dimensions, the strides of a broadcast axis 0) and
// with a scalar operand (scalar_<op>_<dtype>, `reverse` puts the scalar first).
// The runtime compiles the three families as separate modules (defining BINARY_FAMILY to 1, 2
// or 3) so that a first use compiles a third of the file; undefined, all are compiled.
#ifndef BINARY_FAMILY
#define BINARY_FAMILY 0
#endif

// MXNet's mod: the sign of b, 0 for b == 0.
template <typename C> __device__ __forceinline__ C b_mod(C a, C b) {
    if (b == C(0)) return C(0);
    C r = m_fmod(a, b);
    return (r != C(0) && ((r < C(0)) != (b < C(0)))) ? r + b : r;
}
// NaN in a wins, as the host's max/min.
template <typename C> __device__ __forceinline__ C b_max(C a, C b) { return (a >= b || a != a) ? a : b; }
template <typename C> __device__ __forceinline__ C b_min(C a, C b) { return (a <= b || a != a) ? a : b; }

#define BINARY_OPS(X) \
    X(add, a + b) X(sub, a - b) X(mul, a * b) X(div, a / b) X(mod, b_mod(a, b)) X(power, m_pow(a, b)) \
    X(maximum, b_max(a, b)) X(minimum, b_min(a, b)) X(equal, C(a == b)) X(not_equal, C(a != b)) \
    X(greater, C(a > b)) X(greater_equal, C(a >= b)) X(lesser, C(a < b)) X(lesser_equal, C(a <= b)) \
    X(logical_and, C(a != C(0) && b != C(0))) X(logical_or, C(a != C(0) || b != C(0))) \
    X(logical_xor, C((a != C(0)) != (b != C(0)))) X(hypot, m_hypot(a, b))

// Broadcast layout: the output's shape and, per output axis, each input's element stride (0
// along a broadcast axis).
struct Bcast {
    i64 shape[8];
    i64 sa[8];
    i64 sb[8];
    int ndim;
};

#define SAME_KERNEL(name, expr, T, tn) \
    extern "C" __global__ void binary_##name##_##tn(const T* pa, const T* pb, T* out, i64 n) { \
        typedef Acc<T>::type C; \
        i64 start = 0; \
        if (aligned16(pa, pb, out)) { \
            const int V = V16<T>::n; \
            const Pack<T>* va = reinterpret_cast<const Pack<T>*>(pa); \
            const Pack<T>* vb = reinterpret_cast<const Pack<T>*>(pb); \
            Pack<T>* vo = reinterpret_cast<Pack<T>*>(out); \
            FOR_N(j, n / V) { \
                Pack<T> x = va[j], y = vb[j], r; \
                _Pragma("unroll") for (int k = 0; k < V; ++k) { \
                    C a = to_c(x.v[k]), b = to_c(y.v[k]); \
                    r.v[k] = Conv<T>::from(expr); \
                } \
                vo[j] = r; \
            } \
            start = n / V * V; \
        } \
        FOR_RANGE(i, start, n) { \
            C a = to_c(pa[i]), b = to_c(pb[i]); \
            out[i] = Conv<T>::from(expr); \
        } \
    }
#define BCAST_KERNEL(name, expr, T, tn) \
    extern "C" __global__ void bcast_##name##_##tn(const T* pa, const T* pb, T* out, i64 n, Bcast g) { \
        typedef Acc<T>::type C; \
        FOR_N(i, n) { \
            i64 rem = i, ia = 0, ib = 0; \
            for (int d = g.ndim - 1; d >= 0; --d) { \
                i64 k = rem % g.shape[d]; \
                rem /= g.shape[d]; \
                ia += k * g.sa[d]; \
                ib += k * g.sb[d]; \
            } \
            C a = to_c(pa[ia]), b = to_c(pb[ib]); \
            out[i] = Conv<T>::from(expr); \
        } \
    }
#define SCALAR_KERNEL(name, expr, T, tn) \
    extern "C" __global__ void scalar_##name##_##tn(const T* px, T* out, i64 n, double s, int reverse) { \
        typedef Acc<T>::type C; \
        C sc = to_c(Conv<T>::from(s)); \
        i64 start = 0; \
        if (aligned16(px, out)) { \
            const int V = V16<T>::n; \
            const Pack<T>* vx = reinterpret_cast<const Pack<T>*>(px); \
            Pack<T>* vo = reinterpret_cast<Pack<T>*>(out); \
            FOR_N(j, n / V) { \
                Pack<T> x = vx[j], r; \
                _Pragma("unroll") for (int k = 0; k < V; ++k) { \
                    C e = to_c(x.v[k]); \
                    C a = reverse ? sc : e, b = reverse ? e : sc; \
                    r.v[k] = Conv<T>::from(expr); \
                } \
                vo[j] = r; \
            } \
            start = n / V * V; \
        } \
        FOR_RANGE(i, start, n) { \
            C e = to_c(px[i]); \
            C a = reverse ? sc : e, b = reverse ? e : sc; \
            out[i] = Conv<T>::from(expr); \
        } \
    }

#if BINARY_FAMILY == 0 || BINARY_FAMILY == 1
#define SAME_ALL(name, expr) FLOAT_KERNELS(SAME_KERNEL, name, expr)
BINARY_OPS(SAME_ALL)
#endif
#if BINARY_FAMILY == 0 || BINARY_FAMILY == 2
#define BCAST_ALL(name, expr) FLOAT_KERNELS(BCAST_KERNEL, name, expr)
BINARY_OPS(BCAST_ALL)
#endif
#if BINARY_FAMILY == 0 || BINARY_FAMILY == 3
#define SCALAR_ALL(name, expr) FLOAT_KERNELS(SCALAR_KERNEL, name, expr)
BINARY_OPS(SCALAR_ALL)
#endif
