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
//
// This file: the GEMMs, the fused matMul's bias and activation, TopK, AdamW, the thread setting and
// the module's exports. mxd_common.c: the argument checks and parallel_for every kernel file
// shares; mxd_layers.c: the transformer step's other kernels (layer norm, GELU, softmax backward,
// cross-entropy, copies, gather, transpose).
#include <cblas.h>
#include "mxd_common.h"

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

typedef struct {
  const float *X;
  float *V;
  int32_t *Idx;
  int64_t n, k;
  Pick *scratch; // the caller's k picks, for the chunk that starts at row 0
} TopKJob;

// Rows [lo, hi): one pass per row with a k-element heap, then the heap sorted into the output.
static void topk_rows(void *ctx, int64_t lo, int64_t hi) {
  const TopKJob *t = (const TopKJob *)ctx;
  const int64_t n = t->n, k = t->k;
  // Every other chunk has a heap of its own (k picks: a few hundred bytes at MxD's K).
  Pick *p = lo == 0 ? t->scratch : (Pick *)malloc((size_t)k * sizeof(Pick));
  if (!p) abort();
  for (int64_t r = lo; r < hi; r++) {
    const float *x = t->X + r * n;
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
      t->V[r * k + j] = p[j].v;
      t->Idx[r * k + j] = p[j].i;
    }
  }
  if (lo != 0) free(p);
}

// topk(heap, xOff, rows, n, k, valuesOff, indicesOff, scratch): the k largest of each row of
// x [rows, n], sorted, as float32 values and int32 indices [rows, k]. One pass per row with a
// k-element heap: a later element only enters by being strictly better than the worst kept,
// which is what gives equal values to the lower index. `scratch` is an ArrayBuffer of at least
// 8·k bytes for the heap of the rows the calling thread takes; rows are split over threads (an
// MxD gate's [1024, 21490] scores are 22M floats, 6% of a training step on one thread), each row
// computed whole by one thread, so the result does not depend on the thread count.
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
  TopKJob t = {0};
  t.X = region(&a, h, xOff, rows * n, "x");
  t.V = region(&a, h, vOff, rows * k, "values");
  t.Idx = (int32_t *)region(&a, h, iOff, rows * k, "indices");
  if (a.failed) return NULL;
  t.n = n;
  t.k = k;
  t.scratch = (Pick *)scratch.data;
  parallel_for(topk_rows, &t, rows, n, 1);
  return undefined(env);
}

// The AdamW step's scalars and regions; adamw_range runs the loop the kernel below describes on
// elements [lo, hi).
typedef struct {
  const float *P, *M, *V, *G;
  float *PO, *MO, *VO;
  float decay, b1, c1, b2, c2, sqrtBias2, eps, stepSize;
} AdamWJob;

// One element of the step (the kernel's comment below has the order of operations).
#define ADAMW_ELEMENT(i)                                   \
  do {                                                     \
    const float g = G[i];                                  \
    const float p = P[i] * decay;                          \
    const float m = M[i] * b1 + g * c1;                    \
    const float v = V[i] * b2 + (g * g) * c2;              \
    const float denom = sqrtf(v) / sqrtBias2 + eps;        \
    PO[i] = p - (m / denom) * stepSize;                    \
    MO[i] = m;                                             \
    VO[i] = v;                                             \
  } while (0)

// With outputs apart from the inputs (restrict): the compiler vectorizes this loop (4 floats an
// instruction, sqrt and division included); the general one below stays scalar.
static void adamw_apart(const float *restrict P, const float *restrict M, const float *restrict V,
                        const float *restrict G, float *restrict PO, float *restrict MO, float *restrict VO,
                        const AdamWJob *j, int64_t lo, int64_t hi) {
  const float decay = j->decay, b1 = j->b1, c1 = j->c1, b2 = j->b2, c2 = j->c2;
  const float sqrtBias2 = j->sqrtBias2, eps = j->eps, stepSize = j->stepSize;
  for (int64_t i = lo; i < hi; i++) ADAMW_ELEMENT(i);
}

static void adamw_range(void *ctx, int64_t lo, int64_t hi) {
  const AdamWJob *j = (const AdamWJob *)ctx;
  const float *P = j->P, *M = j->M, *V = j->V, *G = j->G;
  float *PO = j->PO, *MO = j->MO, *VO = j->VO;
  // Regions never partly overlap (the contract below), so equal pointers are the only aliasing.
  const float *outs[3] = {PO, MO, VO}, *ins[4] = {P, M, V, G};
  int apart = 1;
  for (int o = 0; o < 3; o++)
    for (int i = 0; i < 4; i++) apart &= outs[o] != ins[i];
  if (apart) {
    adamw_apart(P, M, V, G, PO, MO, VO, j, lo, hi);
    return;
  }
  const float decay = j->decay, b1 = j->b1, c1 = j->c1, b2 = j->b2, c2 = j->c2;
  const float sqrtBias2 = j->sqrtBias2, eps = j->eps, stepSize = j->stepSize;
  for (int64_t i = lo; i < hi; i++) ADAMW_ELEMENT(i);
}

// adamw(heap, n, pOff, mOff, vOff, gOff, pOutOff, mOutOff, vOutOff, decay, b1, b2, sqrtBias2, eps,
// stepSize): one AdamW step over n float32 parameters in one pass (split over threads by
// parallel_for, whole cache lines a chunk; elementwise, so the split changes no result), writing
// p', m', v' to the out regions (src/engine/optim/adamw.ts has the formula). Every scalar is
// rounded to float32 and every operation is one float32 operation in the order the tf-ops path runs them (p·decay;
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
  static const char *const names[7] = {"p", "m", "v", "g", "pOut", "mOut", "vOut"};
  get_offsets(&a, 2, 7, names, offs);
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
  AdamWJob job = {r[0], r[1], r[2], r[3], r[4], r[5], r[6], decay, b1, c1, b2, c2, sqrtBias2, eps, stepSize};
  parallel_for(adamw_range, &job, n, 1, 16);
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
  // What OpenBLAS read for its threads' spin time when it loaded (the process environment, which a
  // worker thread's process.env does not reach): null when unset.
  const char *timeout = getenv("OPENBLAS_THREAD_TIMEOUT");
  if (timeout) set_string(env, obj, "threadTimeout", timeout);
  else {
    napi_get_null(env, &v);
    napi_set_named_property(env, obj, "threadTimeout", v);
  }
  return obj;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      MXD_EXPORT("sgemm", Sgemm),
      MXD_EXPORT("sgemmBatched", SgemmBatched),
      MXD_EXPORT("fillBroadcast", FillBroadcast),
      MXD_EXPORT("activate", Activate),
      MXD_EXPORT("topk", TopK),
      MXD_EXPORT("adamw", AdamW),
      MXD_EXPORT("setThreads", SetThreads),
      MXD_EXPORT("info", Info),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  // The kernel files' exports (layer norm, GELU, copies: mxd_layers.c).
  mxd_register_layers(env, exports);
  // The sparse layers' gathers, scatter-adds and row norms (mxd_sparse.c).
  mxd_register_sparse(env, exports);
  return exports;
}
