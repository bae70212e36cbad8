/*
 * A small operator library for the tests of mx.library.load. It exports the plain C entry
 * points that MXNet 1.9.1's extension API (include/mxnet/lib_api.h, version 11) defines
 * between MXNet and a library, written here in C against that interface:
 *   my_gemm       C = A . B (float32), with a backward (dA = dC . B^T, dB = A^T . dC) that
 *                 takes a workspace from the host's allocator;
 *   my_scale      y = x * scale, the "scale" attribute required (parseAttrs fails without it);
 *   state_count   a stateful op: y = x + (number of forward calls so far on this instance).
 * Build: cc -shared -fPIC -O1 ext_ops.c -o libext_ops.so
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tests build variants: EXT_VERSION (the API version reported), EXT_MIN_MXNET (the oldest
   MXNet version initialize accepts). */
#ifndef EXT_VERSION
#define EXT_VERSION 11
#endif
#ifndef EXT_MIN_MXNET
#define EXT_MIN_MXNET 10900
#endif

typedef void *(*xpu_malloc_t)(void *, int);
typedef int (*parse_t)(const char *const *, const char *const *, int, int *, int *);
typedef int (*shape_t)(const char *const *, const char *const *, int, unsigned **, int *, int,
                       unsigned (*)[8], int *, int);
typedef int (*type_t)(int *, int, int *, int);
typedef int (*fcomp_t)(const char *const *, const char *const *, int, const int64_t **, int *,
                       void **, int *, int, const int64_t **, int *, void **, int *, int,
                       xpu_malloc_t, void *);

/* ---- error messages (_msgSize/_msgGet) ---- */
static char g_msgs[8][256];
static int g_nmsg = 0;
static void fail_msg(const char *m) {
  if (g_nmsg < 8) snprintf(g_msgs[g_nmsg++], 256, "%s", m);
}
int _msgSize(void) { return g_nmsg; }
void _msgGet(int i, const char **msg) { *msg = g_msgs[i]; }

static const char *attr(const char *const *k, const char *const *v, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(k[i], name) == 0) return v[i];
  return NULL;
}

/* ---- my_gemm ---- */
static int gemm_parse(const char *const *k, const char *const *v, int n, int *ni, int *no) {
  *ni = 2;
  *no = 1;
  return 1;
}
static int gemm_shape(const char *const *k, const char *const *v, int n, unsigned **in, int *indims,
                      int nin, unsigned (*out)[8], int *outdims, int nout) {
  if (nin != 2 || indims[0] != 2 || indims[1] != 2) {
    fail_msg("my_gemm expects two 2-D inputs");
    return 0;
  }
  if (in[0][1] != in[1][0]) {
    fail_msg("my_gemm: first input axis 1 must equal second input axis 0");
    return 0;
  }
  outdims[0] = 2;
  out[0][0] = in[0][0];
  out[0][1] = in[1][1];
  return 1;
}
static int float_only(int *in, int nin, int *out, int nout) {
  for (int i = 0; i < nin; i++)
    if (in[i] != 0) {
      fail_msg("expected float32 inputs");
      return 0;
    }
  for (int i = 0; i < nout; i++) out[i] = 0;
  return 1;
}
static void mm(const float *a, const float *b, float *c, int64_t n, int64_t k, int64_t m) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < m; j++) {
      float s = 0;
      for (int64_t q = 0; q < k; q++) s += a[i * k + q] * b[q * m + j];
      c[i * m + j] = s;
    }
}
static void tr(const float *a, float *t, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
}
static int gemm_fwd(const char *const *k, const char *const *v, int na, const int64_t **is, int *id,
                    void **in, int *it, int nin, const int64_t **os, int *od, void **out, int *ot,
                    int nout, xpu_malloc_t m, void *ma) {
  mm((const float *)in[0], (const float *)in[1], (float *)out[0], is[0][0], is[0][1], is[1][1]);
  return 1;
}
/* inputs: dC, A, B, C; outputs: dA, dB */
static int gemm_bwd(const char *const *k, const char *const *v, int na, const int64_t **is, int *id,
                    void **in, int *it, int nin, const int64_t **os, int *od, void **out, int *ot,
                    int nout, xpu_malloc_t m, void *ma) {
  int64_t n = is[1][0], kk = is[1][1], mm_ = is[2][1];
  float *ws = (float *)m(ma, (int)((kk * n + mm_ * kk) * sizeof(float)));
  float *at = ws, *bt = ws + kk * n;
  tr((const float *)in[1], at, n, kk);
  tr((const float *)in[2], bt, kk, mm_);
  mm((const float *)in[0], bt, (float *)out[0], n, mm_, kk);
  mm(at, (const float *)in[0], (float *)out[1], kk, n, mm_);
  return 1;
}

/* ---- my_scale ---- */
static int scale_parse(const char *const *k, const char *const *v, int n, int *ni, int *no) {
  if (!attr(k, v, n, "scale")) {
    fail_msg("my_scale needs the attribute 'scale'");
    return 0;
  }
  *ni = 1;
  *no = 1;
  return 1;
}
static int same_shape(const char *const *k, const char *const *v, int n, unsigned **in, int *indims,
                      int nin, unsigned (*out)[8], int *outdims, int nout) {
  outdims[0] = indims[0];
  for (int i = 0; i < indims[0] && i < 8; i++) out[0][i] = in[0][i];
  return 1;
}
static int64_t numel(const int64_t *s, int d) {
  int64_t n = 1;
  for (int i = 0; i < d; i++) n *= s[i];
  return n;
}
static int scale_fwd(const char *const *k, const char *const *v, int na, const int64_t **is,
                     int *id, void **in, int *it, int nin, const int64_t **os, int *od, void **out,
                     int *ot, int nout, xpu_malloc_t m, void *ma) {
  float s = (float)atof(attr(k, v, na, "scale"));
  int64_t n = numel(is[0], id[0]);
  for (int64_t i = 0; i < n; i++) ((float *)out[0])[i] = ((const float *)in[0])[i] * s;
  return 1;
}
/* inputs: dy, x, y; output: dx */
static int scale_bwd(const char *const *k, const char *const *v, int na, const int64_t **is,
                     int *id, void **in, int *it, int nin, const int64_t **os, int *od, void **out,
                     int *ot, int nout, xpu_malloc_t m, void *ma) {
  float s = (float)atof(attr(k, v, na, "scale"));
  int64_t n = numel(is[0], id[0]);
  for (int64_t i = 0; i < n; i++) ((float *)out[0])[i] = ((const float *)in[0])[i] * s;
  return 1;
}

/* ---- state_count ---- */
static int one_one(const char *const *k, const char *const *v, int n, int *ni, int *no) {
  *ni = 1;
  *no = 1;
  return 1;
}
typedef struct {
  int count;
} counter_t;
static int count_create(const char *const *k, const char *const *v, int n, void **state) {
  counter_t *c = (counter_t *)calloc(1, sizeof(counter_t));
  const char *start = attr(k, v, n, "start");
  c->count = start ? atoi(start) : 0;
  *state = c;
  return 1;
}

/* ---- the registry ---- */
typedef struct {
  const char *name;
  parse_t parse;
  shape_t shape;
  type_t type;
  fcomp_t fwd, bwd;
  int stateful;
} op_t;
static op_t g_ops[3] = {
    {"my_gemm", gemm_parse, gemm_shape, float_only, gemm_fwd, gemm_bwd, 0},
    {"my_scale", scale_parse, same_shape, float_only, scale_fwd, scale_bwd, 0},
    {"state_count", one_one, same_shape, float_only, NULL, NULL, 1},
};
static const char *g_cpu[1] = {"cpu"};
static void *g_fwd[3][1], *g_bwd[3][1], *g_create[1] = {(void *)count_create};

int initialize(int version) {
  if (version < EXT_MIN_MXNET) {
    fail_msg("MXNet version too old");
    return 0;
  }
  return 1;
}
int _opVersion(void) { return EXT_VERSION; }
int _opRegSize(void) { return 3; }
void _opRegGet(int idx, const char **name, int *is_sg, const char ***fctx, void ***ffp, int *fcnt,
               const char ***bctx, void ***bfp, int *bcnt, const char ***cctx, void ***cfp,
               int *ccnt, void **parse, void **type, void **stype, void **shape, void **mutate) {
  op_t *op = &g_ops[idx];
  *name = op->name;
  *is_sg = 0;
  g_fwd[idx][0] = (void *)op->fwd;
  g_bwd[idx][0] = (void *)op->bwd;
  *fctx = g_cpu;
  *ffp = g_fwd[idx];
  *fcnt = op->fwd ? 1 : 0;
  *bctx = g_cpu;
  *bfp = g_bwd[idx];
  *bcnt = op->bwd ? 1 : 0;
  *cctx = g_cpu;
  *cfp = g_create;
  *ccnt = op->stateful ? 1 : 0;
  *parse = (void *)op->parse;
  *type = (void *)op->type;
  *stype = NULL;
  *shape = (void *)op->shape;
  *mutate = NULL;
}
void _opCallFree(void *p) { free(p); }
int _opCallParseAttrs(parse_t f, const char *const *k, const char *const *v, int n, int *ni,
                      int *no) {
  return f(k, v, n, ni, no);
}
int _opCallInferShape(shape_t f, const char *const *k, const char *const *v, int n,
                      unsigned **in, int *indims, int nin, unsigned ***mod_in, int **mod_dims,
                      unsigned ***out, int **outdims, int nout) {
  unsigned tmp[8][8];
  int tmpd[8];
  if (nout > 8 || !f(k, v, n, in, indims, nin, tmp, tmpd, nout)) return 0;
  *mod_dims = (int *)malloc(sizeof(int) * (nin ? nin : 1));
  *mod_in = (unsigned **)malloc(sizeof(unsigned *) * (nin ? nin : 1));
  for (int i = 0; i < nin; i++) {
    (*mod_dims)[i] = indims[i];
    (*mod_in)[i] = (unsigned *)malloc(sizeof(unsigned) * (indims[i] ? indims[i] : 1));
    memcpy((*mod_in)[i], in[i], sizeof(unsigned) * indims[i]);
  }
  *outdims = (int *)malloc(sizeof(int) * nout);
  *out = (unsigned **)malloc(sizeof(unsigned *) * nout);
  for (int i = 0; i < nout; i++) {
    (*outdims)[i] = tmpd[i];
    (*out)[i] = (unsigned *)malloc(sizeof(unsigned) * (tmpd[i] ? tmpd[i] : 1));
    memcpy((*out)[i], tmp[i], sizeof(unsigned) * tmpd[i]);
  }
  return 1;
}
int _opCallInferType(type_t f, const char *const *k, const char *const *v, int n, int *in,
                     int nin, int *out, int nout) {
  return f(in, nin, out, nout);
}
int _opCallFCompute(fcomp_t f, const char *const *k, const char *const *v, int n,
                    const int64_t **is, int *id, void **in, int *it, size_t *iid,
                    const char **idt, int *idi, int nin, const int64_t **os, int *od, void **out,
                    int *ot, size_t *oid, const char **odt, int *odi, int nout, xpu_malloc_t cm,
                    void *ca, xpu_malloc_t gm, void *ga, void *stream, void *sm, void *sa,
                    int *ist, int *ost, void **iix, void **oix, void **iip, void **oip,
                    int64_t *iis, int64_t *ois, int64_t *ips, int64_t *ops, void *r1, void *r2) {
  for (int i = 0; i < nin; i++)
    if (ist[i] != 0 || strcmp(idt[i], "cpu") != 0) return 0;
  return f(k, v, n, is, id, in, it, nin, os, od, out, ot, nout, cm, ca);
}
int _opCallMutateInputs(void *f, const char *const *k, const char *const *v, int n, int **idx,
                        int *size) {
  *size = 0;
  *idx = NULL;
  return 1;
}
int _opCallCreateOpState(void *f, const char *const *k, const char *const *v, int n,
                         const char *dev_type, int dev_id, unsigned **is, int *id, int nin,
                         const int *it, void **state) {
  return ((int (*)(const char *const *, const char *const *, int, void **))f)(k, v, n, state);
}
void _opCallDestroyOpState(void *state) { free(state); }
int _opCallFStatefulCompute(int is_forward, void *state, const int64_t **is, int *id, void **in,
                            int *it, size_t *iid, const char **idt, int *idi, int nin,
                            const int64_t **os, int *od, void **out, int *ot, size_t *oid,
                            const char **odt, int *odi, int nout, xpu_malloc_t cm, void *ca,
                            xpu_malloc_t gm, void *ga, void *stream, void *sm, void *sa,
                            int *ist, int *ost, void **iix, void **oix, void **iip, void **oip,
                            int64_t *iis, int64_t *ois, int64_t *ips, int64_t *ops, void *r1,
                            void *r2) {
  counter_t *c = (counter_t *)state;
  int64_t n = numel(is[0], id[0]);
  if (is_forward) {
    c->count += 1;
    for (int64_t i = 0; i < n; i++) ((float *)out[0])[i] = ((const float *)in[0])[i] + c->count;
  } else {
    for (int64_t i = 0; i < n; i++) ((float *)out[0])[i] = ((const float *)in[0])[i];
  }
  return 1;
}
int _partRegSize(void) { return 0; }
int _passRegSize(void) { return 0; }
