// What every kernel file of the addon shares: reading and checking N-API arguments (every offset
// and size comes from JavaScript, so each region is checked against the heap before a pointer is
// formed), and running a loop over threads. Each kernel file (mxd_*.c) registers its exports
// through a mxd_register_* function that mxd_native.c's module init calls.
#ifndef MXD_COMMON_H
#define MXD_COMMON_H
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>

#define MAX_ARGS 16
#define DIM_MAX ((int64_t)INT32_MAX) // cblas takes int dimensions
#define OFF_MAX ((int64_t)1 << 52)

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

typedef struct {
  uint8_t *data;
  size_t bytes;
} Heap;

void fail(Args *a, const char *code, const char *msg, int range);
int get_args(napi_env env, napi_callback_info info, Args *a, size_t want);
int64_t get_int(Args *a, size_t i, int64_t lo, int64_t hi, const char *name);
// Byte offsets of n regions in the heap, arguments first … first + n − 1, named for the errors.
void get_offsets(Args *a, size_t first, size_t n, const char *const *names, int64_t *off);
double get_double(Args *a, size_t i, const char *name);
int get_bool(Args *a, size_t i, const char *name);
Heap get_heap(Args *a, size_t i);
const int32_t *get_index(Args *a, size_t i, int64_t len, int64_t *max, const char *name);
float *region(Args *a, Heap h, int64_t off, int64_t count, const char *name);
napi_value undefined(napi_env env);

// fn(ctx, lo, hi) over [0, n), split into chunks of whole multiples of `align` items over as many
// threads as OpenBLAS is set to use (MXD_THREADS, via setThreads), each thread at least
// PAR_MIN_FLOATS floats of work (mxd_common.c says why) given `item_floats` floats per item. The
// calling thread takes the first chunk; a thread that cannot be started has its chunk run here
// instead. Callers must make the result independent of the split (elementwise work, or rows each
// written by one chunk).
typedef void (*RangeFn)(void *ctx, int64_t lo, int64_t hi);
void parallel_for(RangeFn fn, void *ctx, int64_t n, int64_t item_floats, int64_t align);

// An export: name and function, for napi_define_properties.
#define MXD_EXPORT(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
void mxd_register_layers(napi_env env, napi_value exports);
void mxd_register_sparse(napi_env env, napi_value exports);
#endif
