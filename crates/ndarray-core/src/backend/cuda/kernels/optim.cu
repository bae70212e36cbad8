// Fused optimizer steps (sgd_update, sgd_mom_update, adam_update), written out of place: the
// new weight and the new states go to fresh buffers, as the host kernels return them.
// Arithmetic in the weight's compute type (float for float16/bfloat16, as MXNet's half kernels).

struct OptP {
    double lr, wd, rescale, clip, momentum, beta1, beta2, eps;
};

template <typename C> __device__ __forceinline__ C clip_grad(C g, double bound) {
    if (bound < 0) return g;
    C b = C(bound);
    return g > b ? b : (g < -b ? -b : g);
}

template <typename T> __device__ void sgd_impl(const T* w, const T* g, T* wo, i64 n, OptP p) {
    typedef typename Acc<T>::type C;
    C lr = C(p.lr), wd = C(p.wd), rs = C(p.rescale);
    FOR_N(i, n) {
        C wi = to_c(w[i]);
        C gi = clip_grad(rs * to_c(g[i]), p.clip);
        wo[i] = Conv<T>::from((C(1) - lr * wd) * wi - lr * gi);
    }
}

template <typename T>
__device__ void sgd_mom_impl(const T* w, const T* g, const T* m, T* wo, T* mo, i64 n, OptP p) {
    typedef typename Acc<T>::type C;
    C lr = C(p.lr), wd = C(p.wd), rs = C(p.rescale), mom = C(p.momentum);
    FOR_N(i, n) {
        C wi = to_c(w[i]);
        C gi = clip_grad(rs * to_c(g[i]), p.clip);
        C mi = mom * to_c(m[i]) - lr * wd * wi - lr * gi;
        mo[i] = Conv<T>::from(mi);
        wo[i] = Conv<T>::from(wi + mi);
    }
}

template <typename T>
__device__ void adam_impl(const T* w, const T* g, const T* m, const T* v, T* wo, T* mo, T* vo, i64 n, OptP p) {
    typedef typename Acc<T>::type C;
    C lr = C(p.lr), wd = C(p.wd), rs = C(p.rescale), b1 = C(p.beta1), b2 = C(p.beta2), eps = C(p.eps);
    FOR_N(i, n) {
        C wi = to_c(w[i]);
        C gi = clip_grad(rs * to_c(g[i]) + wd * wi, p.clip);
        C mi = b1 * to_c(m[i]) + (C(1) - b1) * gi;
        C vi = b2 * to_c(v[i]) + (C(1) - b2) * gi * gi;
        mo[i] = Conv<T>::from(mi);
        vo[i] = Conv<T>::from(vi);
        wo[i] = Conv<T>::from(wi - lr * mi / (m_sqrt(vi) + eps));
    }
}

#define OPT_KERNELS(T, tn) \
    extern "C" __global__ void sgd_##tn(const T* w, const T* g, T* wo, i64 n, OptP p) { sgd_impl<T>(w, g, wo, n, p); } \
    extern "C" __global__ void sgd_mom_##tn(const T* w, const T* g, const T* m, T* wo, T* mo, i64 n, OptP p) { \
        sgd_mom_impl<T>(w, g, m, wo, mo, n, p); \
    } \
    extern "C" __global__ void adam_##tn(const T* w, const T* g, const T* m, const T* v, T* wo, T* mo, T* vo, \
                                         i64 n, OptP p) { \
        adam_impl<T>(w, g, m, v, wo, mo, vo, n, p); \
    }
OPT_KERNELS(float, f32)
OPT_KERNELS(double, f64)
OPT_KERNELS(f16, f16)
OPT_KERNELS(bf16, bf16)
