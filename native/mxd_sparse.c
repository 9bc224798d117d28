// Kernels of the sparse layers (MxD, TopK transcoders; src/engine/layers/sparse.ts has the maths
// and the tf-ops path each replaces), on the wasm heap in place like the GEMMs:
//   selectedRows:      y_b = Σ_k v_bk M[idx_bk]                       (MxD's sparse Cᵀa)
//   selectedRowsGrad:  dv_bk = ⟨dy_b, M[idx_bk]⟩, dM[n] = Σ_{idx_bk = n} v_bk dy_b
//   gateGrad:          dPre = dv·[v > 0]; dW[:, n] = Σ_{idx_bk = n} dPre_bk x_b, db[n] = Σ dPre_bk
//   rowProject:        g_n − ⟨g_n, m_n⟩ m_n                             (gradient onto the sphere)
//   unitRows:          m_n / ‖m_n‖ (a zero row stays zero)
//   denseCodes:        the dense [B, N] code from the K selections per row
// Without them a step gathered the K rows into a [B, K, O] tensor, multiplied and summed it
// (three passes over 25M floats), and scattered into [N, d] only to transpose it.
// The scatter-adds sort the B·K selections by index first (a stable counting sort), so every
// output row (or column of dW) is written by one thread, once, summing its contributions in
// (b, k) order: the result does not depend on the thread count.
#include "mxd_common.h"

// Σ a_i b_i over n floats in eight float lanes (the compiler vectorizes this; a single
// accumulator is a serial chain), the lanes added in double at the end.
static inline float dot_lanes(const float *restrict a, const float *restrict b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
  double s = 0;
  for (int j = 0; j < 8; j++) s += acc[j];
  for (; i < n; i++) s += (double)a[i] * (double)b[i];
  return (float)s;
}

// The selections (b·K + k) grouped by index: order[start[n] .. start[n + 1]) are those with
// idx = n, in ascending (b, k) order. Returns 0 (with the error thrown) on an index outside
// [0, rows) or when memory runs out; the caller frees *order and *start.
static int sort_by_index(Args *a, const int32_t *idx, int64_t count, int64_t rows, int32_t **order, int64_t **start) {
  *order = (int32_t *)malloc((size_t)(count > 0 ? count : 1) * sizeof(int32_t));
  *start = (int64_t *)calloc((size_t)rows + 1, sizeof(int64_t));
  if (!*order || !*start) {
    fail(a, "MXD_MEMORY", "out of memory for the sparse kernel's index sort", 0);
    return 0;
  }
  int64_t *s = *start;
  for (int64_t i = 0; i < count; i++) {
    const int32_t n = idx[i];
    if (n < 0 || n >= rows) {
      char msg[128];
      snprintf(msg, sizeof msg, "index %d at %lld is outside [0, %lld)", n, (long long)i, (long long)rows);
      fail(a, "MXD_RANGE", msg, 1);
      return 0;
    }
    s[n + 1]++;
  }
  for (int64_t n = 0; n < rows; n++) s[n + 1] += s[n];
  int64_t *next = (int64_t *)malloc((size_t)(rows > 0 ? rows : 1) * sizeof(int64_t));
  if (!next) {
    fail(a, "MXD_MEMORY", "out of memory for the sparse kernel's index sort", 0);
    return 0;
  }
  memcpy(next, s, (size_t)rows * sizeof(int64_t));
  for (int64_t i = 0; i < count; i++) (*order)[next[idx[i]]++] = (int32_t)i;
  free(next);
  return 1;
}

typedef struct {
  const float *V, *M, *DY, *X, *DV;
  const int32_t *I;
  float *Y, *DVOut, *DM, *DW, *DB;
  const int32_t *order;
  const int64_t *start;
  int64_t B, K, N, O;
} SparseJob;

// B, K, N from arguments first … first + 2, and O (named o_name) from first + 3 unless o_name is NULL.
static void get_sparse_dims(Args *a, size_t first, SparseJob *j, const char *o_name) {
  j->B = get_int(a, first, 0, DIM_MAX, "B");
  j->K = get_int(a, first + 1, 0, DIM_MAX, "K");
  j->N = get_int(a, first + 2, 0, DIM_MAX, "N");
  if (o_name) j->O = get_int(a, first + 3, 0, DIM_MAX, o_name);
}

// ---- selectedRows ----

static void selected_rows_range(void *ctx, int64_t lo, int64_t hi) {
  const SparseJob *j = (const SparseJob *)ctx;
  const int64_t K = j->K, O = j->O;
  for (int64_t b = lo; b < hi; b++) {
    float *restrict y = j->Y + b * O;
    for (int64_t c = 0; c < O; c++) y[c] = 0;
    for (int64_t k = 0; k < K; k++) {
      const float v = j->V[b * K + k];
      const float *restrict m = j->M + (int64_t)j->I[b * K + k] * O;
      for (int64_t c = 0; c < O; c++) y[c] += v * m[c];
    }
  }
}

// Reads the regions every sparse kernel shares: values and indices [B, K] and M [N, O].
static int sparse_inputs(Args *a, Heap h, SparseJob *j, int64_t vOff, int64_t iOff, int64_t mOff) {
  j->V = region(a, h, vOff, j->B * j->K, "values");
  j->I = (const int32_t *)region(a, h, iOff, j->B * j->K, "indices");
  j->M = region(a, h, mOff, j->N * j->O, "m");
  return !a->failed;
}

static int check_indices(Args *a, const int32_t *idx, int64_t count, int64_t rows) {
  for (int64_t i = 0; i < count; i++)
    if (idx[i] < 0 || idx[i] >= rows) {
      char msg[128];
      snprintf(msg, sizeof msg, "index %d at %lld is outside [0, %lld)", idx[i], (long long)i, (long long)rows);
      fail(a, "MXD_RANGE", msg, 1);
      return 0;
    }
  return 1;
}

// selectedRows(heap, valuesOff, indicesOff, mOff, yOff, B, K, N, O): y [B, O] = Σ_k v_bk M[idx_bk]
// (float32 sums in k order, as the tf-ops path's Sum over k).
static napi_value SelectedRows(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 9)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t off[4];
  static const char *const names[4] = {"values", "indices", "m", "y"};
  get_offsets(&a, 1, 4, names, off);
  SparseJob j = {0};
  get_sparse_dims(&a, 5, &j, "O");
  if (a.failed || !sparse_inputs(&a, h, &j, off[0], off[1], off[2])) return NULL;
  j.Y = region(&a, h, off[3], j.B * j.O, "y");
  if (a.failed || !check_indices(&a, j.I, j.B * j.K, j.N)) return NULL;
  parallel_for(selected_rows_range, &j, j.B, j.K * j.O, 1);
  return undefined(env);
}

// ---- selectedRowsGrad ----

static void selected_rows_dv_range(void *ctx, int64_t lo, int64_t hi) {
  const SparseJob *j = (const SparseJob *)ctx;
  const int64_t K = j->K, O = j->O;
  for (int64_t b = lo; b < hi; b++)
    for (int64_t k = 0; k < K; k++)
      j->DVOut[b * K + k] = dot_lanes(j->DY + b * O, j->M + (int64_t)j->I[b * K + k] * O, O);
}

static void selected_rows_dm_range(void *ctx, int64_t lo, int64_t hi) {
  const SparseJob *j = (const SparseJob *)ctx;
  const int64_t O = j->O, K = j->K;
  for (int64_t n = lo; n < hi; n++) {
    float *restrict dm = j->DM + n * O;
    for (int64_t c = 0; c < O; c++) dm[c] = 0;
    for (int64_t s = j->start[n]; s < j->start[n + 1]; s++) {
      const int64_t bk = j->order[s];
      const float v = j->V[bk];
      const float *restrict dy = j->DY + (bk / K) * O;
      for (int64_t c = 0; c < O; c++) dm[c] += v * dy[c];
    }
  }
}

// selectedRowsGrad(heap, valuesOff, indicesOff, mOff, dyOff, dValuesOff, dmOff, B, K, N, O): the
// backward of selectedRows: dValues [B, K] and dM [N, O] (rows no selection names are 0).
static napi_value SelectedRowsGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 11)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t off[6];
  static const char *const names[6] = {"values", "indices", "m", "dy", "dValues", "dm"};
  get_offsets(&a, 1, 6, names, off);
  SparseJob j = {0};
  get_sparse_dims(&a, 7, &j, "O");
  if (a.failed || !sparse_inputs(&a, h, &j, off[0], off[1], off[2])) return NULL;
  j.DY = region(&a, h, off[3], j.B * j.O, "dy");
  j.DVOut = region(&a, h, off[4], j.B * j.K, "dValues");
  j.DM = region(&a, h, off[5], j.N * j.O, "dm");
  if (a.failed) return NULL;
  int32_t *order = NULL;
  int64_t *start = NULL;
  if (sort_by_index(&a, j.I, j.B * j.K, j.N, &order, &start)) {
    j.order = order;
    j.start = start;
    parallel_for(selected_rows_dv_range, &j, j.B, j.K * j.O, 1);
    const int64_t per_row = j.N > 0 ? (j.B * j.K) / j.N + 1 : 1;
    parallel_for(selected_rows_dm_range, &j, j.N, per_row * j.O, 1);
  }
  free(order);
  free(start);
  return a.failed ? NULL : undefined(env);
}

// ---- gateGrad ----

// Columns of dW [d, N] per block: a block's columns are summed into a [GATE_BLOCK, d] buffer
// (contiguous rows, the scatter-add's natural layout) and then written out as GATE_BLOCK
// consecutive floats per row of dW, so dW is written once, in whole cache lines, with no
// separate transpose.
#define GATE_BLOCK 16

static void gate_grad_range(void *ctx, int64_t lo, int64_t hi) {
  const SparseJob *j = (const SparseJob *)ctx;
  const int64_t d = j->O, N = j->N;
  float *acc = (float *)malloc((size_t)(GATE_BLOCK * d) * sizeof(float));
  if (!acc) abort(); // a few tens of KB; nothing sensible to do without them
  for (int64_t blk = lo; blk < hi; blk++) {
    const int64_t n0 = blk * GATE_BLOCK, n1 = n0 + GATE_BLOCK < N ? n0 + GATE_BLOCK : N;
    for (int64_t n = n0; n < n1; n++) {
      float *restrict row = acc + (n - n0) * d;
      for (int64_t c = 0; c < d; c++) row[c] = 0;
      double db = 0;
      for (int64_t s = j->start[n]; s < j->start[n + 1]; s++) {
        const int64_t bk = j->order[s];
        // ReLU's gradient: only selections whose value is > 0 pass (NaN does not).
        const float g = j->V[bk] > 0 ? j->DV[bk] : 0.0f;
        const float *restrict x = j->X + (bk / j->K) * d;
        for (int64_t c = 0; c < d; c++) row[c] += g * x[c];
        db += g;
      }
      j->DB[n] = (float)db;
    }
    const int64_t w = n1 - n0;
    for (int64_t c = 0; c < d; c++) {
      float *restrict out = j->DW + c * N + n0;
      for (int64_t t = 0; t < w; t++) out[t] = acc[t * d + c];
    }
  }
  free(acc);
}

// gateGrad(heap, xOff, valuesOff, indicesOff, dValuesOff, dwOff, dbOff, B, K, N, d): the backward
// of a TopK(ReLU(x·W + b)) gate through its selections: dW [d, N] and db [N] (columns no selection
// names are 0).
static napi_value GateGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 11)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t off[6];
  static const char *const names[6] = {"x", "values", "indices", "dValues", "dw", "db"};
  get_offsets(&a, 1, 6, names, off);
  SparseJob j = {0};
  get_sparse_dims(&a, 7, &j, "d"); // the input width, in O's place
  if (a.failed) return NULL;
  j.X = region(&a, h, off[0], j.B * j.O, "x");
  j.V = region(&a, h, off[1], j.B * j.K, "values");
  j.I = (const int32_t *)region(&a, h, off[2], j.B * j.K, "indices");
  j.DV = region(&a, h, off[3], j.B * j.K, "dValues");
  j.DW = region(&a, h, off[4], j.O * j.N, "dw");
  j.DB = region(&a, h, off[5], j.N, "db");
  if (a.failed) return NULL;
  int32_t *order = NULL;
  int64_t *start = NULL;
  if (sort_by_index(&a, j.I, j.B * j.K, j.N, &order, &start)) {
    j.order = order;
    j.start = start;
    const int64_t blocks = (j.N + GATE_BLOCK - 1) / GATE_BLOCK;
    const int64_t per_block = (j.N > 0 ? (j.B * j.K) / j.N + 1 : 1) * GATE_BLOCK * j.O;
    parallel_for(gate_grad_range, &j, blocks, per_block, 1);
  }
  free(order);
  free(start);
  return a.failed ? NULL : undefined(env);
}

// ---- denseCodes ----

static void dense_codes_range(void *ctx, int64_t lo, int64_t hi) {
  const SparseJob *j = (const SparseJob *)ctx;
  const int64_t K = j->K, N = j->N;
  for (int64_t b = lo; b < hi; b++) {
    float *restrict row = j->Y + b * N;
    memset(row, 0, (size_t)N * sizeof(float));
    // Summed, as scatterND sums repeated indices (a TopK's are distinct within a row).
    for (int64_t k = 0; k < K; k++) row[j->I[b * K + k]] += j->V[b * K + k];
  }
}

// denseCodes(heap, valuesOff, indicesOff, yOff, B, K, N): the dense code y [B, N], values at
// their indices and 0 elsewhere.
static napi_value DenseCodes(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, &a, 7)) return NULL;
  Heap h = get_heap(&a, 0);
  int64_t off[3];
  static const char *const names[3] = {"values", "indices", "y"};
  get_offsets(&a, 1, 3, names, off);
  SparseJob j = {0};
  get_sparse_dims(&a, 4, &j, NULL);
  if (a.failed) return NULL;
  j.V = region(&a, h, off[0], j.B * j.K, "values");
  j.I = (const int32_t *)region(&a, h, off[1], j.B * j.K, "indices");
  j.Y = region(&a, h, off[2], j.B * j.N, "y");
  if (a.failed || !check_indices(&a, j.I, j.B * j.K, j.N)) return NULL;
  parallel_for(dense_codes_range, &j, j.B, j.N, 1);
  return undefined(env);
}

// ---- rowProject and unitRows ----

typedef struct {
  const float *G, *M;
  float *Out;
  int64_t cols;
} RowJob;

static void row_project_range(void *ctx, int64_t lo, int64_t hi) {
  const RowJob *j = (const RowJob *)ctx;
  const int64_t n = j->cols;
  for (int64_t r = lo; r < hi; r++) {
    const float *restrict g = j->G + r * n, *restrict m = j->M + r * n;
    float *restrict out = j->Out + r * n;
    const float p = dot_lanes(g, m, n);
    for (int64_t c = 0; c < n; c++) out[c] = g[c] - p * m[c];
  }
}

static void unit_rows_range(void *ctx, int64_t lo, int64_t hi) {
  const RowJob *j = (const RowJob *)ctx;
  const int64_t n = j->cols;
  for (int64_t r = lo; r < hi; r++) {
    const float *restrict m = j->M + r * n;
    float *restrict out = j->Out + r * n;
    const float norm = sqrtf(dot_lanes(m, m, n));
    // NaN or zero norm: the tf-ops path divides by 1 unless norm > 0, as here.
    const float div = norm > 0 ? norm : 1.0f;
    for (int64_t c = 0; c < n; c++) out[c] = m[c] / div;
  }
}

// rowProject(heap, gOff, mOff, outOff, rows, cols): out_r = g_r − ⟨g_r, m_r⟩ m_r.
// unitRows(heap, mOff, outOff, rows, cols): out_r = m_r / ‖m_r‖, or m_r where ‖m_r‖ is not > 0.
// out may be the same region as m (each row is read before it is written).
static napi_value rows_kernel(napi_env env, napi_callback_info info, int project) {
  Args a;
  const size_t want = project ? 6 : 5;
  if (!get_args(env, info, &a, want)) return NULL;
  Heap h = get_heap(&a, 0);
  RowJob j = {0};
  int64_t gOff = project ? get_int(&a, 1, 0, OFF_MAX, "g") : 0;
  int64_t mOff = get_int(&a, want - 4, 0, OFF_MAX, "m"), outOff = get_int(&a, want - 3, 0, OFF_MAX, "out");
  int64_t rows = get_int(&a, want - 2, 0, DIM_MAX, "rows"), cols = get_int(&a, want - 1, 0, DIM_MAX, "cols");
  if (a.failed) return NULL;
  if (project) j.G = region(&a, h, gOff, rows * cols, "g");
  j.M = region(&a, h, mOff, rows * cols, "m");
  j.Out = region(&a, h, outOff, rows * cols, "out");
  j.cols = cols;
  if (a.failed) return NULL;
  parallel_for(project ? row_project_range : unit_rows_range, &j, rows, cols, 1);
  return undefined(env);
}

static napi_value RowProject(napi_env env, napi_callback_info info) { return rows_kernel(env, info, 1); }
static napi_value UnitRows(napi_env env, napi_callback_info info) { return rows_kernel(env, info, 0); }

// ---- registration ----

void mxd_register_sparse(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      MXD_EXPORT("selectedRows", SelectedRows),
      MXD_EXPORT("selectedRowsGrad", SelectedRowsGrad),
      MXD_EXPORT("gateGrad", GateGrad),
      MXD_EXPORT("rowProject", RowProject),
      MXD_EXPORT("unitRows", UnitRows),
      MXD_EXPORT("denseCodes", DenseCodes),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
