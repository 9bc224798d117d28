// MxD Studio's native kernels: single-precision GEMM through OpenBLAS, on memory that JavaScript
// owns. Every function takes an ArrayBuffer (in the app: the tfjs wasm backend's heap, a
// WebAssembly.Memory buffer) and byte offsets into it, so tensors are read and written in place:
// no copy in, no copy out. Layout is row-major, as tfjs stores tensors.
//
// Offsets and sizes come from JavaScript, so every region is checked against the buffer's length
// before any pointer is formed: a wrong offset throws a RangeError instead of corrupting the heap.
//
// Plain C against N-API (node_api.h) only: the ABI is stable across Node and Electron versions,
// so one build serves the CLI, the tests, Electron's main process and its workers. NAPI_MODULE_INIT
// makes the addon context-aware, so each worker thread that loads it gets its own exports.
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include <node_api.h>

#define MAX_ARGS 16

// OpenBLAS's own calls (not in every cblas.h, so declared here; the addon links OpenBLAS only).
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);
extern int openblas_get_parallel(void);

typedef struct {
  napi_env env;
  napi_value argv[MAX_ARGS];
  size_t argc;
  int failed; // set once an error is pending; later getters return 0 and do nothing
} Args;

static void fail(Args *a, const char *code, const char *msg, int range) {
  if (a->failed) return;
  a->failed = 1;
  if (range) napi_throw_range_error(a->env, code, msg);
  else napi_throw_type_error(a->env, code, msg);
}

static int get_args(napi_env env, napi_callback_info info, Args *a, size_t want) {
  a->env = env;
  a->argc = MAX_ARGS;
  a->failed = 0;
  if (napi_get_cb_info(env, info, &a->argc, a->argv, NULL, NULL) != napi_ok) {
    fail(a, "MXD_ARGS", "could not read the arguments", 0);
    return 0;
  }
  if (a->argc < want) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", want, a->argc);
    fail(a, "MXD_ARGS", msg, 0);
    return 0;
  }
  return 1;
}

// A whole number within [lo, hi]. Doubles carry integers exactly up to 2^53, far above any
// wasm heap offset (wasm32 memories are at most 4 GiB).
static int64_t get_int(Args *a, size_t i, int64_t lo, int64_t hi, const char *name) {
  double v = 0;
  if (a->failed) return 0;
  if (napi_get_value_double(a->env, a->argv[i], &v) != napi_ok || v != floor(v)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an integer", name);
    fail(a, "MXD_ARGS", msg, 0);
    return 0;
  }
  if (v < (double)lo || v > (double)hi) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s = %.0f is outside [%lld, %lld]", name, v, (long long)lo, (long long)hi);
    fail(a, "MXD_RANGE", msg, 1);
    return 0;
  }
  return (int64_t)v;
}

static double get_double(Args *a, size_t i, const char *name) {
  double v = 0;
  if (a->failed) return 0;
  if (napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    fail(a, "MXD_ARGS", msg, 0);
  }
  return v;
}

static int get_bool(Args *a, size_t i, const char *name) {
  bool v = false;
  if (a->failed) return 0;
  if (napi_get_value_bool(a->env, a->argv[i], &v) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a boolean", name);
    fail(a, "MXD_ARGS", msg, 0);
  }
  return v ? 1 : 0;
}

typedef struct {
  uint8_t *data;
  size_t bytes;
} Heap;

static Heap get_heap(Args *a, size_t i) {
  Heap h = {NULL, 0};
  bool is_ab = false;
  if (a->failed) return h;
  if (napi_is_arraybuffer(a->env, a->argv[i], &is_ab) != napi_ok || !is_ab) {
    fail(a, "MXD_ARGS", "heap must be an ArrayBuffer (a SharedArrayBuffer is not supported)", 0);
    return h;
  }
  void *p = NULL;
  if (napi_get_arraybuffer_info(a->env, a->argv[i], &p, &h.bytes) != napi_ok) {
    fail(a, "MXD_ARGS", "could not read the heap's address", 0);
    return h;
  }
  h.data = (uint8_t *)p;
  return h;
}

// An optional Int32Array of `len` matrix indices, each in [0, 2^31). Returns NULL for null or
// undefined (meaning "matrix i for batch entry i") and writes the largest index to *max.
static const int32_t *get_index(Args *a, size_t i, int64_t len, int64_t *max, const char *name) {
  napi_valuetype t;
  *max = len - 1;
  if (a->failed) return NULL;
  if (napi_typeof(a->env, a->argv[i], &t) != napi_ok) return NULL;
  if (t == napi_null || t == napi_undefined) return NULL;
  bool is_ta = false;
  napi_is_typedarray(a->env, a->argv[i], &is_ta);
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  char msg[128];
  if (!is_ta || napi_get_typedarray_info(a->env, a->argv[i], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_int32_array) {
    snprintf(msg, sizeof msg, "%s must be an Int32Array or null", name);
    fail(a, "MXD_ARGS", msg, 0);
    return NULL;
  }
  if ((int64_t)length != len) {
    snprintf(msg, sizeof msg, "%s has %zu entries, expected %lld", name, length, (long long)len);
    fail(a, "MXD_RANGE", msg, 1);
    return NULL;
  }
  const int32_t *idx = (const int32_t *)data;
  int64_t m = -1;
  for (int64_t k = 0; k < len; k++) {
    if (idx[k] < 0) {
      snprintf(msg, sizeof msg, "%s[%lld] is negative", name, (long long)k);
      fail(a, "MXD_RANGE", msg, 1);
      return NULL;
    }
    if (idx[k] > m) m = idx[k];
  }
  *max = m;
  return idx;
}

// The float at byte offset `off` after checking that `count` floats from there lie in the heap.
static float *region(Args *a, Heap h, int64_t off, int64_t count, const char *name) {
  char msg[160];
  if (a->failed) return NULL;
  if (off % 4 != 0) {
    snprintf(msg, sizeof msg, "%s offset %lld is not 4-byte aligned", name, (long long)off);
    fail(a, "MXD_RANGE", msg, 1);
    return NULL;
  }
  if (count < 0 || off < 0 || (uint64_t)off + (uint64_t)count * 4u > (uint64_t)h.bytes) {
    snprintf(msg, sizeof msg, "%s: %lld floats at byte %lld run past the heap's %zu bytes", name, (long long)count,
             (long long)off, h.bytes);
    fail(a, "MXD_RANGE", msg, 1);
    return NULL;
  }
  return (float *)(h.data + off);
}

static const int64_t DIM_MAX = INT32_MAX; // cblas takes int dimensions
static const int64_t OFF_MAX = (int64_t)1 << 52;

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// C := alpha·op(A)·op(B) + beta·C, one or many times. When K is 0, C is only scaled by beta (BLAS
// leaves degenerate calls to the caller; tfjs expects zeros from an empty inner product).
static void gemm_one(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

// Floats a row-major matrix spans: (rows-1)·ld + cols, or 0 when empty.
static int64_t span(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
}

// sgemm(heap, transA, transB, m, n, k, alpha, aOff, lda, bOff, ldb, beta, cOff, ldc)
// Offsets are in bytes; leading dimensions in floats, as in BLAS (row-major).
static napi_value Sgemm(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 14)) return NULL;
  Heap h = get_heap(&a, 0);
  int ta = get_bool(&a, 1, "transA"), tb = get_bool(&a, 2, "transB");
  int64_t m = get_int(&a, 3, 0, DIM_MAX, "m"), n = get_int(&a, 4, 0, DIM_MAX, "n"), k = get_int(&a, 5, 0, DIM_MAX, "k");
  float alpha = (float)get_double(&a, 6, "alpha");
  int64_t aOff = get_int(&a, 7, 0, OFF_MAX, "aOff"), lda = get_int(&a, 8, 1, DIM_MAX, "lda");
  int64_t bOff = get_int(&a, 9, 0, OFF_MAX, "bOff"), ldb = get_int(&a, 10, 1, DIM_MAX, "ldb");
  float beta = (float)get_double(&a, 11, "beta");
  int64_t cOff = get_int(&a, 12, 0, OFF_MAX, "cOff"), ldc = get_int(&a, 13, 1, DIM_MAX, "ldc");
  if (a.failed) return NULL;
  int64_t aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
  if (lda < aCols || ldb < bCols || ldc < n) {
    fail(&a, "MXD_RANGE", "a leading dimension is smaller than its matrix's row", 1);
    return NULL;
  }
  const float *A = region(&a, h, aOff, span(aRows, aCols, lda), "A");
  const float *B = region(&a, h, bOff, span(bRows, bCols, ldb), "B");
  float *C = region(&a, h, cOff, span(m, n, ldc), "C");
  if (a.failed) return NULL;
  gemm_one(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  return undefined(env);
}

// sgemmBatched(heap, transA, transB, m, n, k, batch, aOff, aIndex, bOff, bIndex, cOff, beta)
// Dense row-major matrices packed one after another: A matrix j starts at aOff + j·m·k floats,
// B matrix j at bOff + j·k·n, C entry i at cOff + i·m·n. C[i] := op(A[aIndex[i]])·op(B[bIndex[i]])
// + beta·C[i]; a null index means matrix i, and a repeated index is how a broadcast batch
// dimension is expressed.
static napi_value SgemmBatched(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 13)) return NULL;
  Heap h = get_heap(&a, 0);
  int ta = get_bool(&a, 1, "transA"), tb = get_bool(&a, 2, "transB");
  int64_t m = get_int(&a, 3, 0, DIM_MAX, "m"), n = get_int(&a, 4, 0, DIM_MAX, "n"), k = get_int(&a, 5, 0, DIM_MAX, "k");
  int64_t batch = get_int(&a, 6, 0, DIM_MAX, "batch");
  int64_t aOff = get_int(&a, 7, 0, OFF_MAX, "aOff");
  int64_t aMax = 0, bMax = 0;
  const int32_t *aIdx = get_index(&a, 8, batch, &aMax, "aIndex");
  int64_t bOff = get_int(&a, 9, 0, OFF_MAX, "bOff");
  const int32_t *bIdx = get_index(&a, 10, batch, &bMax, "bIndex");
  int64_t cOff = get_int(&a, 11, 0, OFF_MAX, "cOff");
  float beta = (float)get_double(&a, 12, "beta");
  if (a.failed) return NULL;
  if (batch == 0 || m == 0 || n == 0) return undefined(env);
  const float *A = region(&a, h, aOff, (aMax + 1) * m * k, "A");
  const float *B = region(&a, h, bOff, (bMax + 1) * k * n, "B");
  float *C = region(&a, h, cOff, batch * m * n, "C");
  if (a.failed) return NULL;
  int64_t lda = ta ? m : k, ldb = tb ? k : n;
  if (lda == 0) lda = 1;
  if (ldb == 0) ldb = 1;
  for (int64_t i = 0; i < batch; i++) {
    int64_t ia = aIdx ? aIdx[i] : i, ib = bIdx ? bIdx[i] : i;
    gemm_one(ta, tb, m, n, k, 1.0f, A + ia * m * k, lda, B + ib * k * n, ldb, beta, C + i * m * n, n);
  }
  return undefined(env);
}

// fillBroadcast(heap, cOff, batch, m, n, srcOff, sb, sm, sn): C[b,i,j] := src[b·sb + i·sm + j·sn],
// strides in floats (0 along a broadcast dimension). Used to lay a bias into C before a GEMM with
// beta = 1, which saves a separate pass over the output.
static napi_value FillBroadcast(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 9)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t cOff = get_int(&a, 1, 0, OFF_MAX, "cOff");
  int64_t batch = get_int(&a, 2, 0, DIM_MAX, "batch"), m = get_int(&a, 3, 0, DIM_MAX, "m"), n = get_int(&a, 4, 0, DIM_MAX, "n");
  int64_t sOff = get_int(&a, 5, 0, OFF_MAX, "srcOff");
  int64_t sb = get_int(&a, 6, 0, DIM_MAX, "sb"), sm = get_int(&a, 7, 0, DIM_MAX, "sm"), sn = get_int(&a, 8, 0, DIM_MAX, "sn");
  if (a.failed) return NULL;
  if (batch == 0 || m == 0 || n == 0) return undefined(env);
  float *C = region(&a, h, cOff, batch * m * n, "C");
  const float *S = region(&a, h, sOff, (batch - 1) * sb + (m - 1) * sm + (n - 1) * sn + 1, "src");
  if (a.failed) return NULL;
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < m; i++) {
      const float *s = S + b * sb + i * sm;
      float *c = C + (b * m + i) * n;
      if (sn == 1) memcpy(c, s, (size_t)n * sizeof(float));
      else if (sn == 0) for (int64_t j = 0; j < n; j++) c[j] = s[0];
      else for (int64_t j = 0; j < n; j++) c[j] = s[j * sn];
    }
  return undefined(env);
}

// The activations of tfjs's fused kernels, numbered as tfjs-backend-wasm's FusableActivation.
enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_PRELU = 3, ACT_LEAKYRELU = 4, ACT_SIGMOID = 5, ACT_ELU = 6 };

// activate(heap, cOff, batch, m, n, act, alpha, wOff, wb, wm, wn): applies the activation to C in
// place, with the same formulas as tfjs-core's CPU kernels. prelu reads its slopes from the
// broadcast tensor at wOff (strides in floats); leakyrelu uses alpha.
static napi_value Activate(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 11)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t cOff = get_int(&a, 1, 0, OFF_MAX, "cOff");
  int64_t batch = get_int(&a, 2, 0, DIM_MAX, "batch"), m = get_int(&a, 3, 0, DIM_MAX, "m"), n = get_int(&a, 4, 0, DIM_MAX, "n");
  int act = (int)get_int(&a, 5, 0, 6, "activation");
  float alpha = (float)get_double(&a, 6, "alpha");
  int64_t wOff = get_int(&a, 7, 0, OFF_MAX, "wOff");
  int64_t wb = get_int(&a, 8, 0, DIM_MAX, "wb"), wm = get_int(&a, 9, 0, DIM_MAX, "wm"), wn = get_int(&a, 10, 0, DIM_MAX, "wn");
  if (a.failed) return NULL;
  if (batch == 0 || m == 0 || n == 0 || act == ACT_LINEAR) return undefined(env);
  float *C = region(&a, h, cOff, batch * m * n, "C");
  const float *W = act == ACT_PRELU ? region(&a, h, wOff, (batch - 1) * wb + (m - 1) * wm + (n - 1) * wn + 1, "prelu weights") : NULL;
  if (a.failed) return NULL;
  int64_t total = batch * m * n;
  switch (act) {
    case ACT_RELU:
      for (int64_t t = 0; t < total; t++) C[t] = C[t] < 0 ? 0 : C[t];
      break;
    case ACT_RELU6:
      for (int64_t t = 0; t < total; t++) C[t] = C[t] < 0 ? 0 : (C[t] > 6 ? 6 : C[t]);
      break;
    case ACT_LEAKYRELU:
      for (int64_t t = 0; t < total; t++) C[t] = C[t] < 0 ? alpha * C[t] : C[t];
      break;
    case ACT_SIGMOID:
      for (int64_t t = 0; t < total; t++) C[t] = 1.0f / (1.0f + expf(-C[t]));
      break;
    case ACT_ELU:
      for (int64_t t = 0; t < total; t++) C[t] = C[t] >= 0 ? C[t] : expm1f(C[t]);
      break;
    case ACT_PRELU:
      for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < m; i++) {
          float *c = C + (b * m + i) * n;
          const float *w = W + b * wb + i * wm;
          for (int64_t j = 0; j < n; j++) c[j] = c[j] < 0 ? w[j * wn] * c[j] : c[j];
        }
      break;
    default:
      break;
  }
  return undefined(env);
}

// ---- TopK ----

typedef struct {
  float v;
  int32_t i;
} Pick;

// The order of tfjs-wasm's TopK, kept so that switching kernels changes no selection: larger value
// first, NaN above every number, and among equal values (0 and -0 included) the lower index.
static int better(float av, int32_t ai, float bv, int32_t bi) {
  int an = av != av, bn = bv != bv;
  if (an || bn) return an && bn ? ai < bi : an;
  if (av != bv) return av > bv;
  return ai < bi;
}

static int by_rank(const void *pa, const void *pb) {
  const Pick *a = (const Pick *)pa, *b = (const Pick *)pb;
  return better(a->v, a->i, b->v, b->i) ? -1 : (better(b->v, b->i, a->v, a->i) ? 1 : 0);
}

// Restores the min-heap (root = the worst pick kept so far) below position `at`.
static void sift_down(Pick *h, int64_t k, int64_t at) {
  for (;;) {
    int64_t l = 2 * at + 1, r = l + 1, w = at;
    if (l < k && better(h[w].v, h[w].i, h[l].v, h[l].i)) w = l;
    if (r < k && better(h[w].v, h[w].i, h[r].v, h[r].i)) w = r;
    if (w == at) return;
    Pick t = h[at];
    h[at] = h[w];
    h[w] = t;
    at = w;
  }
}

// topk(heap, xOff, rows, n, k, valuesOff, indicesOff, scratch): the k largest of each row of
// x [rows, n], sorted, as float32 values and int32 indices [rows, k]. One pass per row with a
// k-element heap: a later element only enters by being strictly better than the worst kept,
// which is what gives equal values to the lower index. `scratch` is an ArrayBuffer of at least
// 8·k bytes for the heap (allocated by the caller, so this C code never allocates).
static napi_value TopK(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 8)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t xOff = get_int(&a, 1, 0, OFF_MAX, "xOff");
  int64_t rows = get_int(&a, 2, 0, DIM_MAX, "rows"), n = get_int(&a, 3, 0, DIM_MAX, "n"), k = get_int(&a, 4, 0, DIM_MAX, "k");
  int64_t vOff = get_int(&a, 5, 0, OFF_MAX, "valuesOff"), iOff = get_int(&a, 6, 0, OFF_MAX, "indicesOff");
  Heap scratch = get_heap(&a, 7);
  if (a.failed) return NULL;
  if (k > n) {
    fail(&a, "MXD_RANGE", "k is larger than the row", 1);
    return NULL;
  }
  if (rows == 0 || k == 0) return undefined(env);
  if ((uint64_t)k * sizeof(Pick) > scratch.bytes) {
    fail(&a, "MXD_RANGE", "the scratch buffer is smaller than k picks", 1);
    return NULL;
  }
  const float *X = region(&a, h, xOff, rows * n, "x");
  float *V = region(&a, h, vOff, rows * k, "values");
  int32_t *Idx = (int32_t *)region(&a, h, iOff, rows * k, "indices");
  if (a.failed) return NULL;
  Pick *p = (Pick *)scratch.data;
  for (int64_t r = 0; r < rows; r++) {
    const float *x = X + r * n;
    for (int64_t j = 0; j < k; j++) {
      p[j].v = x[j];
      p[j].i = (int32_t)j;
    }
    for (int64_t j = k / 2 - 1; j >= 0; j--) sift_down(p, k, j);
    for (int64_t j = k; j < n; j++) {
      float v = x[j];
      float w = p[0].v;
      // Strictly better than the worst kept (a later index never wins a tie); NaN beats numbers.
      if (w != w) continue;
      if (v != v || v > w) {
        p[0].v = v;
        p[0].i = (int32_t)j;
        sift_down(p, k, 0);
      }
    }
    qsort(p, (size_t)k, sizeof(Pick), by_rank);
    for (int64_t j = 0; j < k; j++) {
      V[r * k + j] = p[j].v;
      Idx[r * k + j] = p[j].i;
    }
  }
  return undefined(env);
}

// One AdamW chunk [lo, hi): the loop the kernel below describes.
typedef struct {
  const float *P, *M, *V, *G;
  float *PO, *MO, *VO;
  int64_t lo, hi;
  float decay, b1, c1, b2, c2, sqrtBias2, eps, stepSize;
} AdamWJob;

static void *adamw_range(void *arg) {
  const AdamWJob *j = (const AdamWJob *)arg;
  for (int64_t i = j->lo; i < j->hi; i++) {
    const float g = j->G[i];
    const float p = j->P[i] * j->decay;
    const float m = j->M[i] * j->b1 + g * j->c1;
    const float v = j->V[i] * j->b2 + (g * g) * j->c2;
    const float denom = sqrtf(v) / j->sqrtBias2 + j->eps;
    j->PO[i] = p - (m / denom) * j->stepSize;
    j->MO[i] = m;
    j->VO[i] = v;
  }
  return NULL;
}

// Splits the elements over as many threads as OpenBLAS is set to use (MXD_THREADS, via
// setThreads), at least 2^16 elements a thread so that a small parameter is not worth a thread.
// Elementwise, so the split changes no result. The calling thread takes the first chunk; a
// thread that cannot be started has its chunk run here instead.
#define ADAMW_MAX_THREADS 64
static void adamw_parallel(const AdamWJob *all) {
  int64_t n = all->hi - all->lo;
  int64_t threads = openblas_get_num_threads();
  if (threads > ADAMW_MAX_THREADS) threads = ADAMW_MAX_THREADS;
  if (threads > n / 65536) threads = n / 65536;
  if (threads <= 1) {
    adamw_range((void *)all);
    return;
  }
  AdamWJob jobs[ADAMW_MAX_THREADS];
  pthread_t tid[ADAMW_MAX_THREADS];
  int started[ADAMW_MAX_THREADS] = {0};
  int64_t chunk = (n + threads - 1) / threads;
  chunk = (chunk + 15) / 16 * 16; // whole cache lines (64 bytes) per chunk
  for (int64_t t = 0; t < threads; t++) {
    jobs[t] = *all;
    jobs[t].lo = all->lo + t * chunk < all->hi ? all->lo + t * chunk : all->hi;
    jobs[t].hi = jobs[t].lo + chunk < all->hi ? jobs[t].lo + chunk : all->hi;
  }
  for (int64_t t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, adamw_range, &jobs[t]) == 0;
  adamw_range(&jobs[0]);
  for (int64_t t = 1; t < threads; t++) {
    if (started[t]) pthread_join(tid[t], NULL);
    else adamw_range(&jobs[t]);
  }
}

// adamw(heap, n, pOff, mOff, vOff, gOff, pOutOff, mOutOff, vOutOff, decay, b1, b2, sqrtBias2, eps,
// stepSize): one AdamW step over n float32 parameters in one pass (split over threads by
// adamw_parallel above), writing p', m', v' to the out regions (src/engine/optim/adamw.ts has the formula). Every scalar is rounded to float32 and
// every operation is one float32 operation in the order the tf-ops path runs them (p·decay;
// m·b1 + g·(1−b1); v·b2 + (g·g)·(1−b2); √v / sqrtBias2 + eps; p − (m/denom)·stepSize), so the
// result equals that path's bit for bit: each tfjs op rounds to float32 once, as these do.
// binding.gyp builds with -ffp-contract=off so no two of them fuse into one FMA. decay = 1 when
// there is no weight decay (p·1 = p exactly). An out region may be the same as its input (each
// element is read before it is written) but must not partly overlap another region.
static napi_value AdamW(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 15)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t n = get_int(&a, 1, 0, DIM_MAX, "n");
  int64_t offs[7];
  static const char *names[7] = {"p", "m", "v", "g", "pOut", "mOut", "vOut"};
  for (int i = 0; i < 7; i++) offs[i] = get_int(&a, 2 + (size_t)i, 0, OFF_MAX, names[i]);
  double decayD = get_double(&a, 9, "decay"), b1D = get_double(&a, 10, "b1"), b2D = get_double(&a, 11, "b2");
  double sqrtBias2D = get_double(&a, 12, "sqrtBias2"), epsD = get_double(&a, 13, "eps");
  double stepSizeD = get_double(&a, 14, "stepSize");
  if (a.failed) return NULL;
  float *r[7];
  for (int i = 0; i < 7; i++) r[i] = region(&a, h, offs[i], n, names[i]);
  if (a.failed) return NULL;
  // The JavaScript side computes 1 − β in double and tfjs rounds it to float32; so does this.
  const float decay = (float)decayD, b1 = (float)b1D, c1 = (float)(1.0 - b1D), b2 = (float)b2D,
              c2 = (float)(1.0 - b2D), sqrtBias2 = (float)sqrtBias2D, eps = (float)epsD, stepSize = (float)stepSizeD;
  AdamWJob job = {r[0], r[1], r[2], r[3], r[4], r[5], r[6], 0, n, decay, b1, c1, b2, c2, sqrtBias2, eps, stepSize};
  adamw_parallel(&job);
  return undefined(env);
}

// setThreads(n): OpenBLAS's thread count for later calls in this process.
static napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 1)) return NULL;
  int64_t n = get_int(&a, 0, 1, 1024, "threads");
  if (a.failed) return NULL;
  openblas_set_num_threads((int)n);
  return undefined(env);
}

static void set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  napi_create_string_utf8(env, value ? value : "", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, key, v);
}

// info(): what OpenBLAS reports about itself: build configuration, the core type whose kernels it
// runs (chosen by CPU detection, or by OPENBLAS_CORETYPE where the user set it), thread count, and
// the threading model (0 sequential, 1 pthreads, 2 OpenMP).
static napi_value Info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, v;
  napi_create_object(env, &obj);
  set_string(env, obj, "config", openblas_get_config());
  set_string(env, obj, "corename", openblas_get_corename());
  napi_create_int32(env, openblas_get_num_threads(), &v);
  napi_set_named_property(env, obj, "threads", v);
  napi_create_int32(env, openblas_get_parallel(), &v);
  napi_set_named_property(env, obj, "parallel", v);
  return obj;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, Sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sgemmBatched", NULL, SgemmBatched, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fillBroadcast", NULL, FillBroadcast, NULL, NULL, NULL, napi_enumerable, NULL},
      {"activate", NULL, Activate, NULL, NULL, NULL, napi_enumerable, NULL},
      {"topk", NULL, TopK, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adamw", NULL, AdamW, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"info", NULL, Info, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
