// Dtype conversion (cast_<from>_<to>) and fill (fill_<dtype>) for every mxrs dtype.

#define DTYPES(X, A) \
    X(A, float, f32) X(A, double, f64) X(A, f16, f16) X(A, bf16, bf16) X(A, unsigned char, u8) \
    X(A, signed char, i8) X(A, int, i32) X(A, i64, i64) X(A, bool8, bool)
// The same list again: a macro cannot expand itself, and the casts nest one list in the other.
#define DTYPES_INNER(X, A) \
    X(A, float, f32) X(A, double, f64) X(A, f16, f16) X(A, bf16, bf16) X(A, unsigned char, u8) \
    X(A, signed char, i8) X(A, int, i32) X(A, i64, i64) X(A, bool8, bool)

// Integer to integer casts go through i64 so that large int64 values stay exact.
template <typename S, typename D> struct CastOne {
    __device__ static D run(S v) { return Conv<D>::from((double)to_c(v)); }
};
template <typename D> struct CastOne<i64, D> {
    __device__ static D run(i64 v) { return Conv<D>::from((double)v); }
};
template <> struct CastOne<i64, i64> { __device__ static i64 run(i64 v) { return v; } };
template <> struct CastOne<i64, int> { __device__ static int run(i64 v) { return (int)v; } };
template <> struct CastOne<int, i64> { __device__ static i64 run(int v) { return (i64)v; } };

#define CAST_TO(S, D, dn) \
    extern "C" __global__ void cast_##S##_##dn(const S##_t* in, D* out, i64 n) { \
        FOR_N(i, n) { out[i] = CastOne<S##_t, D>::run(in[i]); } \
    }
typedef float f32_t;
typedef double f64_t;
typedef f16 f16_t;
typedef bf16 bf16_t;
typedef unsigned char u8_t;
typedef signed char i8_t;
typedef int i32_t;
typedef i64 i64_t;
typedef bool8 bool_t;
#define CAST_FROM(A, S, sn) DTYPES_INNER(CAST_TO, sn)
DTYPES(CAST_FROM, 0)

#define FILL(A, T, tn) \
    extern "C" __global__ void fill_##tn(T* out, i64 n, double v) { \
        T x = Conv<T>::from(v); \
        FOR_N(i, n) { out[i] = x; } \
    }
DTYPES(FILL, 0)
