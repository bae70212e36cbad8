// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011): element i of a draw takes
// the counter (i / 4, draw offset) under the draw's 64-bit key, so a seed reproduces the
// same numbers on a device whatever the launch shape. Uniform in [low, high) and normal
// (Box-Muller) for the floating-point dtypes.

struct U4 { unsigned x, y, z, w; };

__device__ __forceinline__ U4 philox(U4 c, unsigned k0, unsigned k1) {
    for (int r = 0; r < 10; ++r) {
        unsigned hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        unsigned hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        U4 n;
        n.x = hi1 ^ c.y ^ k0;
        n.y = lo1;
        n.z = hi0 ^ c.w ^ k1;
        n.w = lo0;
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

// The 32-bit word j of the stream at position i.
__device__ __forceinline__ unsigned word(u64 key, u64 offset, i64 i) {
    U4 c;
    u64 blk = (u64)i >> 2;
    c.x = (unsigned)blk;
    c.y = (unsigned)(blk >> 32);
    c.z = (unsigned)offset;
    c.w = (unsigned)(offset >> 32);
    U4 r = philox(c, (unsigned)key, (unsigned)(key >> 32));
    switch (i & 3) {
        case 0: return r.x;
        case 1: return r.y;
        case 2: return r.z;
        default: return r.w;
    }
}

// Uniform in (0, 1] from 32 bits (never 0, so that log() below is finite).
__device__ __forceinline__ double unit(unsigned u) { return ((double)u + 1.0) * 2.3283064365386963e-10; }

#define RANDOM_KERNELS(T, tn) \
    extern "C" __global__ void uniform_##tn(T* out, i64 n, u64 key, u64 offset, double low, double high) { \
        FOR_N(i, n) { \
            double u = 1.0 - unit(word(key, offset, i)); \
            out[i] = Conv<T>::from(low + (high - low) * u); \
        } \
    } \
    extern "C" __global__ void normal_##tn(T* out, i64 n, u64 key, u64 offset, double loc, double scale) { \
        FOR_N(i, n) { \
            i64 pair = i & ~(i64)1; \
            double u1 = unit(word(key, offset, pair)), u2 = unit(word(key, offset, pair + 1)); \
            double r = sqrt(-2.0 * log(u1)), t = 6.283185307179586 * u2; \
            double z = (i & 1) ? r * sin(t) : r * cos(t); \
            out[i] = Conv<T>::from(loc + scale * z); \
        } \
    }
RANDOM_KERNELS(float, f32)
RANDOM_KERNELS(double, f64)
RANDOM_KERNELS(f16, f16)
RANDOM_KERNELS(bf16, bf16)
