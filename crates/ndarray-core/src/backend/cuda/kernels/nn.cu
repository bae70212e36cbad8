// softmax / log_softmax / softmin along one axis of an array seen as (outer, n, inner): one
// block per (outer, inner) row, reductions in shared memory, arithmetic in float (double for
// float64). softmax_<dtype>(const T* in, T* out, i64 rows, i64 n, i64 inner, double scale,
// int log), where scale = sign / temperature.

template <typename C> __device__ C block_reduce(C v, C* buf, bool is_max) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            C a = buf[threadIdx.x], b = buf[threadIdx.x + s];
            buf[threadIdx.x] = is_max ? (a > b ? a : b) : a + b;
        }
        __syncthreads();
    }
    C r = buf[0];
    __syncthreads();
    return r;
}

template <typename T>
__device__ void softmax_impl(const T* in, T* out, i64 rows, i64 n, i64 inner, double scale, int lg) {
    typedef typename Acc<T>::type C;
    extern __shared__ unsigned char smem_raw[];
    C* buf = reinterpret_cast<C*>(smem_raw);
    C sc = C(scale);
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        i64 base = (r / inner) * n * inner + (r % inner);
        C mx = -C(1) / C(0);
        for (i64 i = threadIdx.x; i < n; i += blockDim.x) {
            C x = sc * to_c(in[base + i * inner]);
            mx = x > mx ? x : mx;
        }
        mx = block_reduce(mx, buf, true);
        C sum = C(0);
        for (i64 i = threadIdx.x; i < n; i += blockDim.x) sum += m_exp(sc * to_c(in[base + i * inner]) - mx);
        sum = block_reduce(sum, buf, false);
        C lsum = m_log(sum);
        for (i64 i = threadIdx.x; i < n; i += blockDim.x) {
            C x = sc * to_c(in[base + i * inner]) - mx;
            out[base + i * inner] = Conv<T>::from(lg ? x - lsum : m_exp(x) / sum);
        }
    }
}

#define SOFTMAX_KERNEL(T, tn) \
    extern "C" __global__ void softmax_##tn(const T* in, T* out, i64 rows, i64 n, i64 inner, double scale, int lg) { \
        softmax_impl<T>(in, out, rows, n, inner, scale, lg); \
    }
SOFTMAX_KERNEL(float, f32)
SOFTMAX_KERNEL(double, f64)
SOFTMAX_KERNEL(f16, f16)
SOFTMAX_KERNEL(bf16, bf16)
