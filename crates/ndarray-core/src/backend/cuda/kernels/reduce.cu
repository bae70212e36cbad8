// Reductions over any set of axes: one block per output element, its threads striding over
// the reduced elements, then a tree in shared memory. The host merges adjacent axes first, so
// that the common cases (all axes, the last axes) walk contiguous memory.
// reduce_<op>_<dtype>(const T* in, T* out, i64 nout, Red g, double scale).

struct Red {
    i64 kshape[8];   // kept axes (output order)
    i64 kstride[8];  // their element strides in the input
    i64 rshape[8];   // reduced axes
    i64 rstride[8];  // their element strides in the input
    int nk;
    int nr;
    i64 rlen;        // product of rshape
};

struct OpSum { template <typename C> __device__ static C init() { return C(0); }
               template <typename C> __device__ static C f(C a, C b) { return a + b; } };
struct OpProd { template <typename C> __device__ static C init() { return C(1); }
                template <typename C> __device__ static C f(C a, C b) { return a * b; } };
struct OpMax { template <typename C> __device__ static C init() { return -C(1) / C(0); }
               template <typename C> __device__ static C f(C a, C b) { return (a >= b || a != a) ? a : b; } };
struct OpMin { template <typename C> __device__ static C init() { return C(1) / C(0); }
               template <typename C> __device__ static C f(C a, C b) { return (a <= b || a != a) ? a : b; } };
struct OpNanSum { template <typename C> __device__ static C init() { return C(0); }
                  template <typename C> __device__ static C f(C a, C b) { return a + (b != b ? C(0) : b); } };
struct OpNanProd { template <typename C> __device__ static C init() { return C(1); }
                   template <typename C> __device__ static C f(C a, C b) { return a * (b != b ? C(1) : b); } };

template <typename T, typename Op>
__device__ void reduce_impl(const T* in, T* out, i64 nout, const Red& g, double scale) {
    typedef typename Acc<T>::type C;
    extern __shared__ unsigned char smem_raw[];
    C* buf = reinterpret_cast<C*>(smem_raw);
    for (i64 o = blockIdx.x; o < nout; o += gridDim.x) {
        i64 base = 0, rem = o;
        for (int d = g.nk - 1; d >= 0; --d) {
            base += (rem % g.kshape[d]) * g.kstride[d];
            rem /= g.kshape[d];
        }
        C acc = Op::template init<C>();
        if (g.nr == 1) {
            for (i64 r = threadIdx.x; r < g.rlen; r += blockDim.x) acc = Op::f(acc, to_c(in[base + r * g.rstride[0]]));
        } else {
            for (i64 r = threadIdx.x; r < g.rlen; r += blockDim.x) {
                i64 off = base, q = r;
                for (int d = g.nr - 1; d >= 0; --d) {
                    off += (q % g.rshape[d]) * g.rstride[d];
                    q /= g.rshape[d];
                }
                acc = Op::f(acc, to_c(in[off]));
            }
        }
        buf[threadIdx.x] = acc;
        __syncthreads();
        for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) buf[threadIdx.x] = Op::f(buf[threadIdx.x], buf[threadIdx.x + s]);
            __syncthreads();
        }
        if (threadIdx.x == 0) out[o] = Conv<T>::from((double)buf[0] * scale);
        __syncthreads();
    }
}

#define REDUCE_KERNEL(name, Op, T, tn) \
    extern "C" __global__ void reduce_##name##_##tn(const T* in, T* out, i64 nout, Red g, double scale) { \
        reduce_impl<T, Op>(in, out, nout, g, scale); \
    }
#define REDUCE_ALL(name, Op) \
    REDUCE_KERNEL(name, Op, float, f32) REDUCE_KERNEL(name, Op, double, f64) \
    REDUCE_KERNEL(name, Op, f16, f16) REDUCE_KERNEL(name, Op, bf16, bf16)
REDUCE_ALL(sum, OpSum)
REDUCE_ALL(prod, OpProd)
REDUCE_ALL(max, OpMax)
REDUCE_ALL(min, OpMin)
REDUCE_ALL(nansum, OpNanSum)
REDUCE_ALL(nanprod, OpNanProd)
