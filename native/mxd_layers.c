// Kernels for the non-GEMM parts of a transformer step, on the wasm heap in place like the GEMMs
// (mxd_native.c): layer norm forward and backward, GPT-2's tanh GELU and the exact (erf) GELU
// forward and backward, the softmax backward, the next-token cross-entropy forward and backward,
// a strided 2-D copy (tfjs's SplitV and Concat), a row gather (GatherV2) and Transpose.
// src/engine/native/ has the TypeScript side of each and src/engine/ops.ts the maths they
// implement. Rows are split over threads with parallel_for; every output element is written by
// exactly one thread and every reduction runs in a fixed order, so results do not depend on the
// thread count.
#include "mxd_common.h"

// ---- layer norm ----

typedef struct {
  const float *X, *W, *B, *DY, *MeanIn, *RstdIn;
  float *Y, *Mean, *Rstd, *DX;
  double *partial; // layer norm backward: per block of rows, Σ dy·x̂ and Σ dy per column
  int64_t rows, d;
  float eps;
} NormJob;

// Per row: mean and biased variance in double (one pass for the mean, one for the centred squares,
// as torch's two-pass CPU kernel), rstd = 1/√(var + eps) rounded to float32, y = (x − mean)·rstd·w + b.
static void layer_norm_rows(void *ctx, int64_t lo, int64_t hi) {
  const NormJob *j = (const NormJob *)ctx;
  const int64_t d = j->d;
  for (int64_t r = lo; r < hi; r++) {
    const float *x = j->X + r * d;
    float *y = j->Y + r * d;
    double sum = 0;
    for (int64_t c = 0; c < d; c++) sum += x[c];
    const float mean = (float)(sum / (double)d);
    double sq = 0;
    for (int64_t c = 0; c < d; c++) {
      const double t = (double)x[c] - (double)mean;
      sq += t * t;
    }
    const float rstd = (float)(1.0 / sqrt(sq / (double)d + (double)j->eps));
    for (int64_t c = 0; c < d; c++) y[c] = ((x[c] - mean) * rstd) * j->W[c] + j->B[c];
    j->Mean[r] = mean;
    j->Rstd[r] = rstd;
  }
}

// layerNorm(heap, xOff, wOff, bOff, yOff, meanOff, rstdOff, rows, d, eps): y [rows, d] and the
// per-row mean and rstd [rows] the backward reads.
static napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 10)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t off[6];
  static const char *const names[6] = {"x", "w", "b", "y", "mean", "rstd"};
  get_offsets(&a, 1, 6, names, off);
  int64_t rows = get_int(&a, 7, 0, DIM_MAX, "rows"), d = get_int(&a, 8, 0, DIM_MAX, "d");
  float eps = (float)get_double(&a, 9, "eps");
  if (a.failed) return NULL;
  if (rows == 0 || d == 0) return undefined(env);
  NormJob j = {0};
  j.X = region(&a, h, off[0], rows * d, "x");
  j.W = region(&a, h, off[1], d, "w");
  j.B = region(&a, h, off[2], d, "b");
  j.Y = region(&a, h, off[3], rows * d, "y");
  j.Mean = region(&a, h, off[4], rows, "mean");
  j.Rstd = region(&a, h, off[5], rows, "rstd");
  if (a.failed) return NULL;
  j.rows = rows;
  j.d = d;
  j.eps = eps;
  parallel_for(layer_norm_rows, &j, rows, d, 1);
  return undefined(env);
}

// Rows per block of the backward's column sums: the blocks' partial sums (double) are added in
// block order afterwards, so dw and db come out the same whatever the thread count.
#define NORM_BLOCK 32

// Per row, with x̂ = (x − mean)·rstd and g = dy·w:
//   dx = rstd·(g − mean(g) − x̂·mean(g·x̂))
// and, per block of NORM_BLOCK rows, Σ dy·x̂ and Σ dy per column into the block's partial sums.
static void layer_norm_grad_blocks(void *ctx, int64_t lo, int64_t hi) {
  const NormJob *j = (const NormJob *)ctx;
  const int64_t d = j->d;
  for (int64_t blk = lo; blk < hi; blk++) {
    double *dw = j->partial + blk * 2 * d, *db = dw + d;
    for (int64_t c = 0; c < 2 * d; c++) dw[c] = 0;
    const int64_t r1 = (blk + 1) * NORM_BLOCK < j->rows ? (blk + 1) * NORM_BLOCK : j->rows;
    for (int64_t r = blk * NORM_BLOCK; r < r1; r++) {
      const float *x = j->X + r * d, *dy = j->DY + r * d;
      float *dx = j->DX + r * d;
      const double mean = j->MeanIn[r], rstd = j->RstdIn[r];
      double sg = 0, sgx = 0;
      for (int64_t c = 0; c < d; c++) {
        const double xh = ((double)x[c] - mean) * rstd, g = (double)dy[c] * (double)j->W[c];
        sg += g;
        sgx += g * xh;
        dw[c] += (double)dy[c] * xh;
        db[c] += dy[c];
      }
      const double mg = sg / (double)d, mgx = sgx / (double)d;
      for (int64_t c = 0; c < d; c++) {
        const double xh = ((double)x[c] - mean) * rstd, g = (double)dy[c] * (double)j->W[c];
        dx[c] = (float)(rstd * (g - mg - xh * mgx));
      }
    }
  }
}

// layerNormGrad(heap, dyOff, xOff, wOff, meanOff, rstdOff, dxOff, dwOff, dbOff, rows, d): the
// backward of layerNorm from its input x and saved mean and rstd; dx [rows, d], dw and db [d]
// (Σ over rows of dy·x̂ and dy). Accumulates in double and rounds each output once.
static napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 11)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t off[8];
  static const char *const names[8] = {"dy", "x", "w", "mean", "rstd", "dx", "dw", "db"};
  get_offsets(&a, 1, 8, names, off);
  int64_t rows = get_int(&a, 9, 0, DIM_MAX, "rows"), d = get_int(&a, 10, 0, DIM_MAX, "d");
  if (a.failed) return NULL;
  if (d == 0) return undefined(env);
  NormJob j = {0};
  j.DY = region(&a, h, off[0], rows * d, "dy");
  j.X = region(&a, h, off[1], rows * d, "x");
  j.W = region(&a, h, off[2], d, "w");
  j.MeanIn = region(&a, h, off[3], rows, "mean");
  j.RstdIn = region(&a, h, off[4], rows, "rstd");
  j.DX = region(&a, h, off[5], rows * d, "dx");
  float *DW = region(&a, h, off[6], d, "dw");
  float *DB = region(&a, h, off[7], d, "db");
  if (a.failed) return NULL;
  const int64_t blocks = (rows + NORM_BLOCK - 1) / NORM_BLOCK;
  j.partial = blocks > 0 ? (double *)malloc((size_t)(blocks * 2 * d) * sizeof(double)) : NULL;
  if (blocks > 0 && !j.partial) {
    fail(&a, "MXD_MEMORY", "out of memory for the layer norm backward's partial sums", 0);
    return NULL;
  }
  j.rows = rows;
  j.d = d;
  parallel_for(layer_norm_grad_blocks, &j, blocks, NORM_BLOCK * d, 1);
  for (int64_t c = 0; c < d; c++) {
    double sw = 0, sb = 0;
    for (int64_t blk = 0; blk < blocks; blk++) {
      sw += j.partial[blk * 2 * d + c];
      sb += j.partial[blk * 2 * d + d + c];
    }
    DW[c] = (float)sw;
    DB[c] = (float)sb;
  }
  free(j.partial);
  return undefined(env);
}

// ---- GPT-2's GELU (gelu_new) ----

typedef struct {
  const float *X, *S, *DY;
  float *Y, *SOut, *DX;
  float c1, c3;
} GeluJob;

// e^x for the sigmoid below, in a form the compiler vectorizes (libm's expf is a call per element,
// as slow as the rest of the GELU together): x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two
// parts, Cody–Waite), e^r by its Taylor polynomial to r⁷ (truncation error < 2e-8 relative over
// that range, below float32's rounding), times 2^n built in the exponent bits. x is clamped to
// [−87, 88], where 2^n stays a normal float; e^±x beyond that only moves σ below float32's
// resolution of 0 or 1.
static inline float exp_vec(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float shifter = 12582912.0f; // 1.5·2^23: adding it rounds to an integer (round to nearest)
  const float n = (x * 1.44269504089f + shifter) - shifter;
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union {
    int32_t i;
    float f;
  } scale;
  scale.i = ((int32_t)n + 127) << 23;
  return p * scale.f;
}

// gelu_new(x) = x·σ(u), u = x·(c1 + c3·x²), as ops.ts's geluNew (c1 = 2√(2/π), c3 = c1·0.044715);
// σ is saved for the backward. Two passes per block of 2048 (e^(−u) into s, then σ and y): as one
// loop the compiler runs out of vector registers, and it ran 2.5× slower.
static void gelu_new_range(void *ctx, int64_t lo, int64_t hi) {
  const GeluJob *j = (const GeluJob *)ctx;
  const float c1 = j->c1, c3 = j->c3;
  for (int64_t b0 = lo; b0 < hi; b0 += 2048) {
    const int64_t b1 = b0 + 2048 < hi ? b0 + 2048 : hi;
    const float *restrict X = j->X;
    float *restrict S = j->SOut, *restrict Y = j->Y;
    for (int64_t i = b0; i < b1; i++) {
      const float x = X[i];
      S[i] = exp_vec(-(x * ((x * x) * c3 + c1)));
    }
    for (int64_t i = b0; i < b1; i++) {
      const float s = 1.0f / (1.0f + S[i]);
      S[i] = s;
      Y[i] = X[i] * s;
    }
  }
}

// d/dx [x σ(u)] = σ + x σ (1 − σ)(c1 + 3 c3 x²); dx = dy times that.
static void gelu_new_grad_range(void *ctx, int64_t lo, int64_t hi) {
  const GeluJob *j = (const GeluJob *)ctx;
  for (int64_t i = lo; i < hi; i++) {
    const float x = j->X[i], s = j->S[i];
    const float du = (x * x) * (3.0f * j->c3) + j->c1;
    j->DX[i] = j->DY[i] * (s + ((x * s) * (1.0f - s)) * du);
  }
}

// geluNew(heap, xOff, yOff, sOff, n, c1, c3): y = x·σ(u) and s = σ(u), n floats each.
static napi_value GeluNew(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 7)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t xOff = get_int(&a, 1, 0, OFF_MAX, "x"), yOff = get_int(&a, 2, 0, OFF_MAX, "y"), sOff = get_int(&a, 3, 0, OFF_MAX, "s");
  int64_t n = get_int(&a, 4, 0, DIM_MAX, "n");
  GeluJob j = {0};
  j.c1 = (float)get_double(&a, 5, "c1");
  j.c3 = (float)get_double(&a, 6, "c3");
  if (a.failed) return NULL;
  j.X = region(&a, h, xOff, n, "x");
  j.Y = region(&a, h, yOff, n, "y");
  j.SOut = region(&a, h, sOff, n, "s");
  if (a.failed) return NULL;
  parallel_for(gelu_new_range, &j, n, 1, 16);
  return undefined(env);
}

// geluNewGrad(heap, dyOff, xOff, sOff, dxOff, n, c1, c3): dx from dy, x and the saved σ(u).
static napi_value GeluNewGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 8)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t off[4];
  static const char *const names[4] = {"dy", "x", "s", "dx"};
  get_offsets(&a, 1, 4, names, off);
  int64_t n = get_int(&a, 5, 0, DIM_MAX, "n");
  GeluJob j = {0};
  j.c1 = (float)get_double(&a, 6, "c1");
  j.c3 = (float)get_double(&a, 7, "c3");
  if (a.failed) return NULL;
  j.DY = region(&a, h, off[0], n, "dy");
  j.X = region(&a, h, off[1], n, "x");
  j.S = region(&a, h, off[2], n, "s");
  j.DX = region(&a, h, off[3], n, "dx");
  if (a.failed) return NULL;
  parallel_for(gelu_new_grad_range, &j, n, 1, 16);
  return undefined(env);
}

// ---- exact GELU ----

// erf(x) for float32 in a form the compiler vectorizes (libm's erff is a call per element): the
// rational approximation x·P(x²)/Q(x²) on x clamped to [−4, 4] (beyond, erf is ±1 in float32)
// that Eigen and XLA use; maximum error 4.2e-7 against the exact erf over [−6, 6] (measured in
// float32 against Python's math.erf), a few float32 ulps.
static inline float erf_vec(float x) {
  x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
  const float x2 = x * x;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return (x * p) / q;
}

#define GELU_SQRT1_2 0.70710678118654752f
#define GELU_INV_SQRT_2PI 0.39894228040143268f

// gelu(x) = ½x(1 + erf(x/√2)), in ops.ts's order of operations: (x·½)·(erf(x·√½) + 1).
static void gelu_range(void *ctx, int64_t lo, int64_t hi) {
  const GeluJob *j = (const GeluJob *)ctx;
  const float *restrict X = j->X;
  float *restrict Y = j->Y;
  for (int64_t i = lo; i < hi; i++) {
    const float x = X[i];
    Y[i] = (x * 0.5f) * (erf_vec(x * GELU_SQRT1_2) + 1.0f);
  }
}

// dx = dy·(Φ(x) + x·φ(x)), Φ = ½(1 + erf(x/√2)), φ = e^(−x²/2)/√(2π). Two passes per block of
// 2048 (φ into dx first), as gelu_new's: one loop with both polynomials runs out of registers.
static void gelu_grad_range(void *ctx, int64_t lo, int64_t hi) {
  const GeluJob *j = (const GeluJob *)ctx;
  const float *restrict X = j->X, *restrict DY = j->DY;
  float *restrict DX = j->DX;
  for (int64_t b0 = lo; b0 < hi; b0 += 2048) {
    const int64_t b1 = b0 + 2048 < hi ? b0 + 2048 : hi;
    for (int64_t i = b0; i < b1; i++) {
      const float x = X[i];
      DX[i] = exp_vec((x * x) * -0.5f) * GELU_INV_SQRT_2PI;
    }
    for (int64_t i = b0; i < b1; i++) {
      const float x = X[i];
      const float cdf = (erf_vec(x * GELU_SQRT1_2) + 1.0f) * 0.5f;
      DX[i] = DY[i] * (cdf + x * DX[i]);
    }
  }
}

// gelu(heap, xOff, yOff, n): y = gelu(x), n floats.
static napi_value Gelu(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 4)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t xOff = get_int(&a, 1, 0, OFF_MAX, "x"), yOff = get_int(&a, 2, 0, OFF_MAX, "y");
  int64_t n = get_int(&a, 3, 0, DIM_MAX, "n");
  if (a.failed) return NULL;
  GeluJob j = {0};
  j.X = region(&a, h, xOff, n, "x");
  j.Y = region(&a, h, yOff, n, "y");
  if (a.failed) return NULL;
  parallel_for(gelu_range, &j, n, 1, 16);
  return undefined(env);
}

// geluGrad(heap, dyOff, xOff, dxOff, n): dx = dy·gelu'(x), n floats.
static napi_value GeluGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 5)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t off[3];
  static const char *const names[3] = {"dy", "x", "dx"};
  get_offsets(&a, 1, 3, names, off);
  int64_t n = get_int(&a, 4, 0, DIM_MAX, "n");
  if (a.failed) return NULL;
  GeluJob j = {0};
  j.DY = region(&a, h, off[0], n, "dy");
  j.X = region(&a, h, off[1], n, "x");
  j.DX = region(&a, h, off[2], n, "dx");
  if (a.failed) return NULL;
  parallel_for(gelu_grad_range, &j, n, 1, 16);
  return undefined(env);
}

// ---- softmax backward ----

typedef struct {
  const float *P, *DP;
  float *DS;
  int64_t n;
} SoftmaxGradJob;

// Per row of P = softmax(S): dS = P ∗ (dP − Σ_k dP∗P), the sum in double.
static void softmax_grad_rows(void *ctx, int64_t lo, int64_t hi) {
  const SoftmaxGradJob *j = (const SoftmaxGradJob *)ctx;
  const int64_t n = j->n;
  for (int64_t r = lo; r < hi; r++) {
    const float *p = j->P + r * n, *dp = j->DP + r * n;
    float *ds = j->DS + r * n;
    double dot = 0;
    for (int64_t c = 0; c < n; c++) dot += (double)dp[c] * (double)p[c];
    const float fdot = (float)dot;
    for (int64_t c = 0; c < n; c++) ds[c] = p[c] * (dp[c] - fdot);
  }
}

// softmaxGrad(heap, pOff, dpOff, dsOff, rows, n): the softmax backward over the last axis.
static napi_value SoftmaxGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 6)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t pOff = get_int(&a, 1, 0, OFF_MAX, "p"), dpOff = get_int(&a, 2, 0, OFF_MAX, "dp"), dsOff = get_int(&a, 3, 0, OFF_MAX, "ds");
  int64_t rows = get_int(&a, 4, 0, DIM_MAX, "rows"), n = get_int(&a, 5, 0, DIM_MAX, "n");
  if (a.failed) return NULL;
  if (rows == 0 || n == 0) return undefined(env);
  SoftmaxGradJob j = {0};
  j.P = region(&a, h, pOff, rows * n, "p");
  j.DP = region(&a, h, dpOff, rows * n, "dp");
  j.DS = region(&a, h, dsOff, rows * n, "ds");
  if (a.failed) return NULL;
  j.n = n;
  parallel_for(softmax_grad_rows, &j, rows, n, 1);
  return undefined(env);
}

// ---- strided copy ----

typedef struct {
  const float *S;
  float *D;
  int64_t sStride, dStride, cols;
} CopyJob;

static void copy_rows(void *ctx, int64_t lo, int64_t hi) {
  const CopyJob *j = (const CopyJob *)ctx;
  for (int64_t r = lo; r < hi; r++) memcpy(j->D + r * j->dStride, j->S + r * j->sStride, (size_t)j->cols * sizeof(float));
}

// copy2d(heap, srcOff, srcStride, dstOff, dstStride, rows, cols): rows × cols floats, row r from
// src + r·srcStride to dst + r·dstStride (strides in floats). SplitV and Concat along any axis are
// one such copy per part; the regions must not overlap.
static napi_value Copy2d(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 7)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t sOff = get_int(&a, 1, 0, OFF_MAX, "src"), ss = get_int(&a, 2, 0, DIM_MAX, "srcStride");
  int64_t dOff = get_int(&a, 3, 0, OFF_MAX, "dst"), ds = get_int(&a, 4, 0, DIM_MAX, "dstStride");
  int64_t rows = get_int(&a, 5, 0, DIM_MAX, "rows"), cols = get_int(&a, 6, 0, DIM_MAX, "cols");
  if (a.failed) return NULL;
  if (rows == 0 || cols == 0) return undefined(env);
  if (ss < cols || ds < cols) {
    fail(&a, "MXD_RANGE", "a stride is smaller than the copied row", 1);
    return NULL;
  }
  CopyJob j = {0};
  j.S = region(&a, h, sOff, (rows - 1) * ss + cols, "src");
  j.D = region(&a, h, dOff, (rows - 1) * ds + cols, "dst");
  if (a.failed) return NULL;
  j.sStride = ss;
  j.dStride = ds;
  j.cols = cols;
  parallel_for(copy_rows, &j, rows, cols, 1);
  return undefined(env);
}

// ---- gather ----

typedef struct {
  const float *X;
  const int32_t *Idx;
  float *Y;
  int64_t n, count, inner;
} GatherJob;

// Output row block o·count + i (inner floats) is input block o·n + idx[i].
static void gather_rows(void *ctx, int64_t lo, int64_t hi) {
  const GatherJob *j = (const GatherJob *)ctx;
  for (int64_t t = lo; t < hi; t++) {
    const int64_t o = t / j->count, i = t % j->count;
    memcpy(j->Y + t * j->inner, j->X + (o * j->n + j->Idx[i]) * j->inner, (size_t)j->inner * sizeof(float));
  }
}

// gather(heap, xOff, indicesOff, yOff, outer, n, count, inner): x [outer, n, inner] float32,
// indices [count] int32 → y [outer, count, inner] with y[o, i] = x[o, indices[i]] (tfjs's GatherV2
// with batchDims 0). An index outside [0, n) throws a RangeError before anything is written.
static napi_value Gather(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 8)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t xOff = get_int(&a, 1, 0, OFF_MAX, "x"), iOff = get_int(&a, 2, 0, OFF_MAX, "indices"), yOff = get_int(&a, 3, 0, OFF_MAX, "y");
  int64_t outer = get_int(&a, 4, 0, DIM_MAX, "outer"), n = get_int(&a, 5, 0, DIM_MAX, "n");
  int64_t count = get_int(&a, 6, 0, DIM_MAX, "count"), inner = get_int(&a, 7, 0, DIM_MAX, "inner");
  if (a.failed) return NULL;
  if (outer == 0 || count == 0 || inner == 0) return undefined(env);
  GatherJob j = {0};
  j.Idx = (const int32_t *)region(&a, h, iOff, count, "indices");
  j.X = region(&a, h, xOff, outer * n * inner, "x");
  j.Y = region(&a, h, yOff, outer * count * inner, "y");
  if (a.failed) return NULL;
  for (int64_t i = 0; i < count; i++)
    if (j.Idx[i] < 0 || j.Idx[i] >= n) {
      char msg[128];
      snprintf(msg, sizeof msg, "indices[%lld] = %d is not in [0, %lld)", (long long)i, j.Idx[i], (long long)n);
      fail(&a, "MXD_RANGE", msg, 1);
      return NULL;
    }
  j.n = n;
  j.count = count;
  j.inner = inner;
  parallel_for(gather_rows, &j, outer * count, inner, 1);
  return undefined(env);
}

// ---- transpose ----

#define TRANSPOSE_MAX_RANK 8

typedef struct {
  const float *X;
  float *Y;
  int64_t rank, outShape[TRANSPOSE_MAX_RANK], inStride[TRANSPOSE_MAX_RANK]; // inStride: per output axis
} TransposeJob;

// Output rows [lo, hi) (a row: the last output axis). Each row starts at the input offset its
// output index maps to; a last axis that is also the input's last is one memcpy, else a strided
// gather.
static void transpose_rows(void *ctx, int64_t lo, int64_t hi) {
  const TransposeJob *j = (const TransposeJob *)ctx;
  const int64_t r = j->rank, n = j->outShape[r - 1], step = j->inStride[r - 1];
  for (int64_t row = lo; row < hi; row++) {
    int64_t rest = row, off = 0;
    for (int64_t ax = r - 2; ax >= 0; ax--) {
      off += (rest % j->outShape[ax]) * j->inStride[ax];
      rest /= j->outShape[ax];
    }
    const float *x = j->X + off;
    float *y = j->Y + row * n;
    if (step == 1) memcpy(y, x, (size_t)n * sizeof(float));
    else
      for (int64_t c = 0; c < n; c++) y[c] = x[c * step];
  }
}

// transpose(heap, xOff, yOff, rank, dims): x to y with y's axis a = x's axis perm[a], as tfjs's
// Transpose; dims is an Int32Array [shape of x (rank entries), perm (rank entries)], rank 1 to 8.
// 4-byte elements (float32 and int32 alike).
static napi_value Transpose(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 5)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t xOff = get_int(&a, 1, 0, OFF_MAX, "x"), yOff = get_int(&a, 2, 0, OFF_MAX, "y");
  int64_t rank = get_int(&a, 3, 1, TRANSPOSE_MAX_RANK, "rank");
  int64_t max = 0;
  const int32_t *dims = get_index(&a, 4, 2 * rank, &max, "dims");
  if (a.failed) return NULL;
  if (!dims) {
    fail(&a, "MXD_ARGS", "dims must be an Int32Array", 0);
    return NULL;
  }
  TransposeJob j = {0};
  j.rank = rank;
  int64_t size = 1, stride[TRANSPOSE_MAX_RANK];
  int seen[TRANSPOSE_MAX_RANK] = {0};
  for (int64_t ax = rank - 1; ax >= 0; ax--) {
    stride[ax] = size;
    size *= dims[ax];
  }
  for (int64_t ax = 0; ax < rank; ax++) {
    const int32_t p = dims[rank + ax];
    if (p >= rank || seen[p]) {
      fail(&a, "MXD_RANGE", "perm is not a permutation of the axes", 1);
      return NULL;
    }
    seen[p] = 1;
    j.outShape[ax] = dims[p];
    j.inStride[ax] = stride[p];
  }
  if (size == 0) return undefined(env);
  j.X = region(&a, h, xOff, size, "x");
  j.Y = region(&a, h, yOff, size, "y");
  if (a.failed) return NULL;
  const int64_t n = j.outShape[rank - 1];
  parallel_for(transpose_rows, &j, size / n, n, 1);
  return undefined(env);
}

// ---- tile ----

// tfjs broadcasts by tiling (tf.where, broadcastTo): a scalar or a [B, 1, q, k] mask copied to the
// scores' full shape, on every attention call. tfjs-wasm's Tile walks each element's index
// separately (~70 ms for a scalar to 1.5M floats); here each output row (the last axis) is the
// input row its index maps to, copied reps times. Elements are 1 byte (bool) or 4 (float32, int32).

typedef struct {
  const char *X;
  char *Y;
  int64_t rank, elem, inShape[TRANSPOSE_MAX_RANK], outShape[TRANSPOSE_MAX_RANK], inStride[TRANSPOSE_MAX_RANK];
} TileJob;

static void tile_rows(void *ctx, int64_t lo, int64_t hi) {
  const TileJob *j = (const TileJob *)ctx;
  const int64_t r = j->rank, e = j->elem, nIn = j->inShape[r - 1], nOut = j->outShape[r - 1];
  for (int64_t row = lo; row < hi; row++) {
    int64_t rest = row, off = 0;
    for (int64_t ax = r - 2; ax >= 0; ax--) {
      off += ((rest % j->outShape[ax]) % j->inShape[ax]) * j->inStride[ax];
      rest /= j->outShape[ax];
    }
    const char *x = j->X + off * e;
    char *y = j->Y + row * nOut * e;
    if (nIn == 1 && e == 4) {
      const float v = *(const float *)x; // the bits of any 4-byte element, copied as they are
      float *yf = (float *)y;
      for (int64_t c = 0; c < nOut; c++) yf[c] = v;
    } else if (nIn == 1) {
      memset(y, x[0], (size_t)nOut);
    } else {
      for (int64_t c = 0; c < nOut; c += nIn) memcpy(y + c * e, x, (size_t)(nIn * e));
    }
  }
}

// tile(heap, xOff, yOff, rank, dims, elemBytes): y = x repeated reps[a] times along each axis a, as
// tfjs's Tile; dims is an Int32Array [shape of x (rank entries), reps (rank entries)], rank 1 to 8;
// elemBytes 1 (bool) or 4.
static napi_value Tile(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 6)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t xOff = get_int(&a, 1, 0, OFF_MAX, "x"), yOff = get_int(&a, 2, 0, OFF_MAX, "y");
  int64_t rank = get_int(&a, 3, 1, TRANSPOSE_MAX_RANK, "rank");
  int64_t max = 0;
  const int32_t *dims = get_index(&a, 4, 2 * rank, &max, "dims");
  int64_t elem = get_int(&a, 5, 1, 4, "elemBytes");
  if (a.failed) return NULL;
  if (!dims || (elem != 1 && elem != 4)) {
    fail(&a, "MXD_ARGS", "dims must be an Int32Array and elemBytes 1 or 4", 0);
    return NULL;
  }
  TileJob j = {0};
  j.rank = rank;
  j.elem = elem;
  int64_t inSize = 1, outSize = 1;
  for (int64_t ax = rank - 1; ax >= 0; ax--) {
    j.inShape[ax] = dims[ax];
    j.outShape[ax] = (int64_t)dims[ax] * dims[rank + ax];
    j.inStride[ax] = inSize;
    inSize *= j.inShape[ax];
    outSize *= j.outShape[ax];
  }
  if (outSize == 0) return undefined(env);
  if (inSize == 0 || outSize > ((int64_t)1 << 40)) {
    fail(&a, "MXD_RANGE", "tile: an empty input cannot fill a non-empty output", 1);
    return NULL;
  }
  char msg[160];
  if (xOff % elem != 0 || yOff % elem != 0 || (uint64_t)xOff + (uint64_t)(inSize * elem) > (uint64_t)h.bytes ||
      (uint64_t)yOff + (uint64_t)(outSize * elem) > (uint64_t)h.bytes) {
    snprintf(msg, sizeof msg, "tile: x (%lld bytes) or y (%lld bytes) runs past the heap or is misaligned", (long long)(inSize * elem),
             (long long)(outSize * elem));
    fail(&a, "MXD_RANGE", msg, 1);
    return NULL;
  }
  j.X = (const char *)h.data + xOff;
  j.Y = (char *)h.data + yOff;
  const int64_t n = j.outShape[rank - 1];
  parallel_for(tile_rows, &j, outSize / n, n * elem / 4 + 1, 1);
  return undefined(env);
}

// ---- cross-entropy ----

typedef struct {
  const float *L, *P, *DY;
  const int32_t *T;
  float *Loss, *POut, *DL;
  int64_t v;
  float g;
} XentJob;

// Per row of logits l: lse = max + log Σ e^(l − max) (the sum in double), loss = lse − l[target],
// p = softmax(l) = e^(l − max) / Σ, saved for the backward.
static void xent_rows(void *ctx, int64_t lo, int64_t hi) {
  const XentJob *j = (const XentJob *)ctx;
  const int64_t v = j->v;
  for (int64_t r = lo; r < hi; r++) {
    const float *l = j->L + r * v;
    float *p = j->POut + r * v;
    float max = l[0];
    for (int64_t c = 1; c < v; c++) max = l[c] > max ? l[c] : max;
    for (int64_t c = 0; c < v; c++) p[c] = exp_vec(l[c] - max);
    double sum = 0;
    for (int64_t c = 0; c < v; c++) sum += p[c];
    const float inv = (float)(1.0 / sum);
    for (int64_t c = 0; c < v; c++) p[c] *= inv;
    j->Loss[r] = (float)((double)max + log(sum) - (double)l[j->T[r]]);
  }
}

// dl = (p − onehot(target)) · g, g = dy / rows.
static void xent_grad_rows(void *ctx, int64_t lo, int64_t hi) {
  const XentJob *j = (const XentJob *)ctx;
  const int64_t v = j->v;
  for (int64_t r = lo; r < hi; r++) {
    const float *p = j->P + r * v;
    float *dl = j->DL + r * v;
    for (int64_t c = 0; c < v; c++) dl[c] = p[c] * j->g;
    dl[j->T[r]] = (p[j->T[r]] - 1.0f) * j->g;
  }
}

static int check_targets(Args *a, const int32_t *t, int64_t rows, int64_t v) {
  for (int64_t r = 0; r < rows; r++)
    if (t[r] < 0 || t[r] >= v) {
      char msg[128];
      snprintf(msg, sizeof msg, "targets[%lld] = %d is not in [0, %lld)", (long long)r, t[r], (long long)v);
      fail(a, "MXD_RANGE", msg, 1);
      return 0;
    }
  return 1;
}

// crossEntropy(heap, lOff, tOff, lossOff, pOff, rows, v): per-row loss [rows] and softmax p
// [rows, v] of logits [rows, v] against int32 targets [rows].
static napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 7)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t lOff = get_int(&a, 1, 0, OFF_MAX, "logits"), tOff = get_int(&a, 2, 0, OFF_MAX, "targets");
  int64_t lossOff = get_int(&a, 3, 0, OFF_MAX, "loss"), pOff = get_int(&a, 4, 0, OFF_MAX, "p");
  int64_t rows = get_int(&a, 5, 0, DIM_MAX, "rows"), v = get_int(&a, 6, 1, DIM_MAX, "v");
  if (a.failed) return NULL;
  if (rows == 0) return undefined(env);
  XentJob j = {0};
  j.L = region(&a, h, lOff, rows * v, "logits");
  j.T = (const int32_t *)region(&a, h, tOff, rows, "targets");
  j.Loss = region(&a, h, lossOff, rows, "loss");
  j.POut = region(&a, h, pOff, rows * v, "p");
  if (a.failed || !check_targets(&a, j.T, rows, v)) return NULL;
  j.v = v;
  parallel_for(xent_rows, &j, rows, v, 1);
  return undefined(env);
}

// crossEntropyGrad(heap, pOff, tOff, dyOff, dlOff, rows, v): dl = (p − onehot) · (dy / rows) for
// the mean loss, dy a float32 scalar in the heap; dy / rows is rounded to float32 first, as the
// tf-ops path's tf.div(dy, rows) is.
static napi_value CrossEntropyGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 7)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t pOff = get_int(&a, 1, 0, OFF_MAX, "p"), tOff = get_int(&a, 2, 0, OFF_MAX, "targets");
  int64_t dyOff = get_int(&a, 3, 0, OFF_MAX, "dy"), dlOff = get_int(&a, 4, 0, OFF_MAX, "dl");
  int64_t rows = get_int(&a, 5, 0, DIM_MAX, "rows"), v = get_int(&a, 6, 1, DIM_MAX, "v");
  if (a.failed) return NULL;
  if (rows == 0) return undefined(env);
  XentJob j = {0};
  j.P = region(&a, h, pOff, rows * v, "p");
  j.T = (const int32_t *)region(&a, h, tOff, rows, "targets");
  j.DY = region(&a, h, dyOff, 1, "dy");
  j.DL = region(&a, h, dlOff, rows * v, "dl");
  if (a.failed || !check_targets(&a, j.T, rows, v)) return NULL;
  j.v = v;
  j.g = j.DY[0] / (float)rows;
  parallel_for(xent_grad_rows, &j, rows, v, 1);
  return undefined(env);
}

// ---- registration ----

void mxd_register_layers(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      MXD_EXPORT("layerNorm", LayerNorm),
      MXD_EXPORT("layerNormGrad", LayerNormGrad),
      MXD_EXPORT("geluNew", GeluNew),
      MXD_EXPORT("geluNewGrad", GeluNewGrad),
      MXD_EXPORT("gelu", Gelu),
      MXD_EXPORT("geluGrad", GeluGrad),
      MXD_EXPORT("softmaxGrad", SoftmaxGrad),
      MXD_EXPORT("copy2d", Copy2d),
      MXD_EXPORT("gather", Gather),
      MXD_EXPORT("transpose", Transpose),
      MXD_EXPORT("tile", Tile),
      MXD_EXPORT("crossEntropy", CrossEntropy),
      MXD_EXPORT("crossEntropyGrad", CrossEntropyGrad),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
