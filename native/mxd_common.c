// The shared argument readers and parallel_for (mxd_common.h says what each does).
#include "mxd_common.h"

void fail(Args *a, const char *code, const char *msg, int range) {
  if (a->failed) return;
  a->failed = 1;
  if (range) napi_throw_range_error(a->env, code, msg);
  else napi_throw_type_error(a->env, code, msg);
}

int get_args(napi_env env, napi_callback_info info, Args *a, size_t want) {
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
int64_t get_int(Args *a, size_t i, int64_t lo, int64_t hi, const char *name) {
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

void get_offsets(Args *a, size_t first, size_t n, const char *const *names, int64_t *off) {
  for (size_t i = 0; i < n; i++) off[i] = get_int(a, first + i, 0, OFF_MAX, names[i]);
}

double get_double(Args *a, size_t i, const char *name) {
  double v = 0;
  if (a->failed) return 0;
  if (napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    fail(a, "MXD_ARGS", msg, 0);
  }
  return v;
}

int get_bool(Args *a, size_t i, const char *name) {
  bool v = false;
  if (a->failed) return 0;
  if (napi_get_value_bool(a->env, a->argv[i], &v) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a boolean", name);
    fail(a, "MXD_ARGS", msg, 0);
  }
  return v ? 1 : 0;
}


Heap get_heap(Args *a, size_t i) {
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
const int32_t *get_index(Args *a, size_t i, int64_t len, int64_t *max, const char *name) {
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
float *region(Args *a, Heap h, int64_t off, int64_t count, const char *name) {
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


napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}
#define MAX_THREADS 64

typedef struct {
  RangeFn fn;
  void *ctx;
  int64_t lo, hi;
} Chunk;

static void *run_chunk(void *arg) {
  Chunk *c = (Chunk *)arg;
  if (c->lo < c->hi) c->fn(c->ctx, c->lo, c->hi);
  return NULL;
}

// A thread is started per call and joined after it (no pool), which costs tens of microseconds
// on an idle machine and, on a busy one, as long as the scheduler takes to give the new thread a
// core: measured on the shared 2-core machine (load 3), splitting the GPT-2 bench's 0.25M-float
// kernels over 2 threads made a training step 1.6× slower than running them on one. So a thread
// must get at least PAR_MIN_FLOATS floats of work (about a millisecond).
#define PAR_MIN_FLOATS ((int64_t)1 << 18)

void parallel_for(RangeFn fn, void *ctx, int64_t n, int64_t item_floats, int64_t align) {
  int64_t threads = openblas_get_num_threads();
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  const int64_t min_chunk = item_floats >= PAR_MIN_FLOATS ? 1 : PAR_MIN_FLOATS / (item_floats < 1 ? 1 : item_floats);
  if (threads > n / min_chunk) threads = n / min_chunk;
  if (threads <= 1) {
    if (n > 0) fn(ctx, 0, n);
    return;
  }
  Chunk jobs[MAX_THREADS];
  pthread_t tid[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  int64_t chunk = (n + threads - 1) / threads;
  if (align > 1) chunk = (chunk + align - 1) / align * align;
  for (int64_t t = 0; t < threads; t++) {
    int64_t lo = t * chunk < n ? t * chunk : n;
    jobs[t] = (Chunk){fn, ctx, lo, lo + chunk < n ? lo + chunk : n};
  }
  for (int64_t t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, run_chunk, &jobs[t]) == 0;
  run_chunk(&jobs[0]);
  for (int64_t t = 1; t < threads; t++) {
    if (started[t]) pthread_join(tid[t], NULL);
    else run_chunk(&jobs[t]);
  }
}
