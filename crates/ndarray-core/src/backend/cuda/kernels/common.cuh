// Shared by every mxrs kernel file: element types and conversions, written without any CUDA
// header so that NVRTC compiles the files as they are (the runtime prepends this text).
typedef long long i64;
typedef unsigned long long u64;
struct f16 { unsigned short x; };
struct bf16 { unsigned short x; };
struct bool8 { unsigned char x; };

__device__ __forceinline__ float to_c(float v) { return v; }
__device__ __forceinline__ double to_c(double v) { return v; }
__device__ __forceinline__ float to_c(f16 v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.x));
    return f;
}
__device__ __forceinline__ float to_c(bf16 v) { return __uint_as_float(((unsigned)v.x) << 16); }
__device__ __forceinline__ double to_c(i64 v) { return (double)v; }
__device__ __forceinline__ double to_c(int v) { return (double)v; }
__device__ __forceinline__ float to_c(signed char v) { return (float)v; }
__device__ __forceinline__ float to_c(unsigned char v) { return (float)v; }
__device__ __forceinline__ float to_c(bool8 v) { return v.x ? 1.0f : 0.0f; }

template <typename T> struct Conv;
// Each conversion also takes a float directly (the compute type of the 32- and 16-bit floats),
// so that the element loops do no double arithmetic.
template <> struct Conv<float> {
    __device__ static float from(double v) { return (float)v; }
    __device__ static float from(float v) { return v; }
};
template <> struct Conv<double> {
    __device__ static double from(double v) { return v; }
    __device__ static double from(float v) { return (double)v; }
};
template <> struct Conv<f16> {
    __device__ static f16 from(double d) { return from((float)d); }
    __device__ static f16 from(float v) {
        f16 r;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.x) : "f"(v));
        return r;
    }
};
template <> struct Conv<bf16> {
    __device__ static bf16 from(double d) { return from((float)d); }
    __device__ static bf16 from(float v) {
        unsigned u = __float_as_uint(v);
        bf16 r;
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            r.x = (unsigned short)((u >> 16) | 0x40u);
        } else {
            u += 0x7fffu + ((u >> 16) & 1u);
            r.x = (unsigned short)(u >> 16);
        }
        return r;
    }
};
// Float to integer conversions truncate towards zero and saturate NaN to 0, as the host's.
template <> struct Conv<i64> {
    __device__ static i64 from(double v) { return v != v ? 0 : (i64)v; }
    __device__ static i64 from(float v) { return from((double)v); }
};
template <> struct Conv<int> {
    __device__ static int from(double v) { return v != v ? 0 : (int)(i64)v; }
    __device__ static int from(float v) { return from((double)v); }
};
template <> struct Conv<signed char> {
    __device__ static signed char from(double v) { return v != v ? 0 : (signed char)(i64)v; }
    __device__ static signed char from(float v) { return from((double)v); }
};
template <> struct Conv<unsigned char> {
    __device__ static unsigned char from(double v) { return v != v ? 0 : (unsigned char)(i64)v; }
    __device__ static unsigned char from(float v) { return from((double)v); }
};
template <> struct Conv<bool8> {
    __device__ static bool8 from(double v) {
        bool8 r;
        r.x = v != 0.0 ? 1 : 0;
        return r;
    }
    __device__ static bool8 from(float v) { return from((double)v); }
};

// The type arithmetic on T is done in: float for the 16-bit floats and float32, double else.
template <typename T> struct Acc { typedef double type; };
template <> struct Acc<float> { typedef float type; };
template <> struct Acc<f16> { typedef float type; };
template <> struct Acc<bf16> { typedef float type; };

// 16 bytes of T, for vectorised loads and stores: kernels over contiguous elements move V<T>
// elements per access when every pointer is 16-byte aligned (whole blocks are; views at an odd
// offset take the element loop).
template <typename T> struct V16 { static const int n = 16 / sizeof(T); };
template <typename T> struct alignas(16) Pack { T v[16 / sizeof(T)]; };
__device__ __forceinline__ bool aligned16(const void* a, const void* b) { return (((u64)a | (u64)b) & 15) == 0; }
__device__ __forceinline__ bool aligned16(const void* a, const void* b, const void* c) {
    return (((u64)a | (u64)b | (u64)c) & 15) == 0;
}

// A module may be compiled for one float dtype only (MXRS_DTYPE 1: float32, 2: float64,
// 3: float16, 4: bfloat16), so that a first use compiles a quarter of a large file; without
// MXRS_DTYPE every dtype's kernels are compiled. IF_<dtype>(code) keeps code for that dtype.
#if !defined(MXRS_DTYPE) || MXRS_DTYPE == 1
#define IF_F32(...) __VA_ARGS__
#else
#define IF_F32(...)
#endif
#if !defined(MXRS_DTYPE) || MXRS_DTYPE == 2
#define IF_F64(...) __VA_ARGS__
#else
#define IF_F64(...)
#endif
#if !defined(MXRS_DTYPE) || MXRS_DTYPE == 3
#define IF_F16(...) __VA_ARGS__
#else
#define IF_F16(...)
#endif
#if !defined(MXRS_DTYPE) || MXRS_DTYPE == 4
#define IF_BF16(...) __VA_ARGS__
#else
#define IF_BF16(...)
#endif

// K(name, expr, T, suffix) for each float dtype this module is compiled for.
#define FLOAT_KERNELS(K, name, expr) \
    IF_F32(K(name, expr, float, f32)) IF_F64(K(name, expr, double, f64)) \
    IF_F16(K(name, expr, f16, f16)) IF_BF16(K(name, expr, bf16, bf16))

// Grid-stride loop over n elements.
#define FOR_N(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)
// Grid-stride loop over [start, n).
#define FOR_RANGE(i, start, n) \
    for (i64 i = (start) + (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// Overloads of the math library per compute type.
#define MATH1(fn) \
    __device__ __forceinline__ float m_##fn(float x) { return fn##f(x); } \
    __device__ __forceinline__ double m_##fn(double x) { return fn(x); }
MATH1(exp) MATH1(log) MATH1(log2) MATH1(log10) MATH1(log1p) MATH1(expm1) MATH1(sqrt) MATH1(rsqrt)
MATH1(cbrt) MATH1(fabs) MATH1(ceil) MATH1(floor) MATH1(round) MATH1(trunc) MATH1(sin) MATH1(cos)
MATH1(tan) MATH1(asin) MATH1(acos) MATH1(atan) MATH1(sinh) MATH1(cosh) MATH1(tanh) MATH1(erf)
MATH1(tgamma) MATH1(lgamma)
#define MATH2(fn) \
    __device__ __forceinline__ float m_##fn(float x, float y) { return fn##f(x, y); } \
    __device__ __forceinline__ double m_##fn(double x, double y) { return fn(x, y); }
MATH2(pow) MATH2(fmod) MATH2(hypot)
