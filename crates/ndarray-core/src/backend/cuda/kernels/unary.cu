// Elementwise unary math: out[i] = f(in[i]) for the floating-point dtypes, computed in float
// (double for float64) as the host kernels do. One kernel per function and dtype:
// unary_<function>_<dtype>(const T* in, T* out, i64 n).

template <typename C> __device__ __forceinline__ C u_sign(C x) { return x > 0 ? C(1) : (x < 0 ? C(-1) : C(0)); }
// MXNet's rint: halves go down (2.5 -> 2, -2.5 -> -3).
template <typename C> __device__ __forceinline__ C u_rint(C x) {
    C f = m_floor(x);
    return x - f <= C(0.5) ? f : f + C(1);
}

#define UNARY_OPS(X) \
    X(exp, m_exp(x)) X(log, m_log(x)) X(log2, m_log2(x)) X(log10, m_log10(x)) X(log1p, m_log1p(x)) \
    X(expm1, m_expm1(x)) X(sqrt, m_sqrt(x)) X(rsqrt, C(1) / m_sqrt(x)) X(cbrt, m_cbrt(x)) \
    X(square, x * x) X(abs, m_fabs(x)) X(sign, u_sign(x)) X(ceil, m_ceil(x)) X(floor, m_floor(x)) \
    X(round, m_round(x)) X(rint, u_rint(x)) X(trunc, m_trunc(x)) X(sin, m_sin(x)) X(cos, m_cos(x)) \
    X(tan, m_tan(x)) X(arcsin, m_asin(x)) X(arccos, m_acos(x)) X(arctan, m_atan(x)) \
    X(sinh, m_sinh(x)) X(cosh, m_cosh(x)) X(tanh, m_tanh(x)) \
    X(sigmoid, C(1) / (C(1) + m_exp(-x))) X(relu, (x > C(0) || x != x) ? x : C(0)) \
    X(softsign, x / (C(1) + m_fabs(x))) X(negative, -x) X(reciprocal, C(1) / x) \
    X(softrelu, x > C(20) ? x : m_log1p(m_exp(x))) X(logical_not, x == C(0) ? C(1) : C(0)) \
    X(degrees, x * C(57.29577951308232)) X(radians, x * C(0.017453292519943295)) X(erf, m_erf(x)) \
    X(gamma, m_tgamma(x)) X(gammaln, m_lgamma(x))

#define UNARY_KERNEL(name, expr, T, tn) \
    extern "C" __global__ void unary_##name##_##tn(const T* in, T* out, i64 n) { \
        typedef Acc<T>::type C; \
        i64 start = 0; \
        if (aligned16(in, out)) { \
            const int V = V16<T>::n; \
            const Pack<T>* pin = reinterpret_cast<const Pack<T>*>(in); \
            Pack<T>* pout = reinterpret_cast<Pack<T>*>(out); \
            FOR_N(j, n / V) { \
                Pack<T> a = pin[j], r; \
                _Pragma("unroll") for (int k = 0; k < V; ++k) { \
                    C x = to_c(a.v[k]); \
                    r.v[k] = Conv<T>::from(expr); \
                } \
                pout[j] = r; \
            } \
            start = n / V * V; \
        } \
        FOR_RANGE(i, start, n) { \
            C x = to_c(in[i]); \
            out[i] = Conv<T>::from(expr); \
        } \
    }
#define UNARY_ALL(name, expr) FLOAT_KERNELS(UNARY_KERNEL, name, expr)
UNARY_OPS(UNARY_ALL)
