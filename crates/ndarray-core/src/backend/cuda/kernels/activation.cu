// Activation and LeakyReLU, forward and backward, for the floating-point dtypes, mirroring the
// host kernels of op/layers/activation.rs. `kind` (matches `ActKind` of activation.rs):
// 0 relu, 1 sigmoid, 2 tanh, 3 softrelu, 4 softsign, 5 leaky, 6 elu, 7 selu, 8 gelu.
// act_fwd_<dtype>(const T* x, T* out, i64 n, int kind, double slope)
// act_bwd_<dtype>(const T* g, const T* x, const T* y, T* out, i64 n, int kind, double slope):
// the input gradient from the output gradient g, the input x and the output y (LeakyReLU's
// backward passes x again as y).

#define SELU_ALPHA 1.6732632423543772
#define SELU_LAMBDA 1.0507009873554805
#define INV_SQRT2 0.70710678118654752
#define INV_SQRT_2PI 0.39894228040143268

template <typename C> __device__ __forceinline__ C a_sigmoid(C x) { return C(1) / (C(1) + m_exp(-x)); }

template <typename C> __device__ __forceinline__ C act_fwd_c(C x, int kind, C s) {
    switch (kind) {
        case 0: return x > C(0) ? x : C(0);
        case 1: return a_sigmoid(x);
        case 2: return m_tanh(x);
        case 3: return x > C(0) ? x + m_log1p(m_exp(-x)) : m_log1p(m_exp(x));
        case 4: return x / (C(1) + m_fabs(x));
        case 5: return x > C(0) ? x : s * x;
        case 6: return x > C(0) ? x : s * m_expm1(x);
        case 7: return C(SELU_LAMBDA) * (x > C(0) ? x : C(SELU_ALPHA) * m_expm1(x));
        default: {
            // gelu, in double as the host computes it.
            double a = (double)x;
            return C(0.5 * a * (1.0 + erf(a * INV_SQRT2)));
        }
    }
}

template <typename C> __device__ __forceinline__ C act_bwd_c(C g, C x, C y, int kind, C s) {
    switch (kind) {
        case 0: return y > C(0) ? g : C(0);
        case 1: return g * y * (C(1) - y);
        case 2: return g * (C(1) - y * y);
        case 3: return g * a_sigmoid(x);
        case 4: {
            C t = C(1) + m_fabs(x);
            return g / (t * t);
        }
        case 5: return x > C(0) ? g : s * g;
        case 6: return x > C(0) ? g : g * s * m_exp(x);
        case 7: return g * C(SELU_LAMBDA) * (x > C(0) ? C(1) : C(SELU_ALPHA) * m_exp(x));
        default: {
            double a = (double)x;
            double cdf = 0.5 * (1.0 + erf(a * INV_SQRT2));
            double pdf = exp(-0.5 * a * a) * INV_SQRT_2PI;
            return g * C(cdf + a * pdf);
        }
    }
}

#define ACT_KERNELS(T, tn) \
    extern "C" __global__ void act_fwd_##tn(const T* x, T* out, i64 n, int kind, double slope) { \
        typedef Acc<T>::type C; \
        C s = C(slope); \
        FOR_N(i, n) { out[i] = Conv<T>::from(act_fwd_c<C>(to_c(x[i]), kind, s)); } \
    } \
    extern "C" __global__ void act_bwd_##tn(const T* g, const T* x, const T* y, T* out, i64 n, int kind, \
                                            double slope) { \
        typedef Acc<T>::type C; \
        C s = C(slope); \
        FOR_N(i, n) { out[i] = Conv<T>::from(act_bwd_c<C>(to_c(g[i]), to_c(x[i]), to_c(y[i]), kind, s)); } \
    }
ACT_KERNELS(float, f32)
ACT_KERNELS(double, f64)
ACT_KERNELS(f16, f16)
ACT_KERNELS(bf16, bf16)
