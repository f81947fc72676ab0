/*
 * spruft_blas: the runner's native matrix products (issue 11), a Node-API addon over a
 * CBLAS (OpenBLAS from Debian's libopenblas-dev). It works in place on the memory it is
 * handed: JavaScript passes Float32Arrays (on the wasm backend, views of the wasm heap
 * itself) and element offsets, and the products read and write there, with no copies.
 * OpenBLAS threads each product across the cores (openblas_set_num_threads).
 *
 * Exports (all synchronous; JavaScript cannot run, so the wasm heap cannot move, while
 * they do):
 *   sgemm(transA, transB, M, N, K, A, offA, lda, strideA, B, offB, ldb, strideB,
 *         C, offC, ldc, strideC, batch)
 *       C_i = op(A_i) op(B_i) for i < batch, X_i at offX + i * strideX (a stride of 0
 *       shares one matrix across the batch); row-major, as tfjs stores tensors.
 *   epilogue(C, offC, rows, cols, bias, offBias, biasLen, activation, alpha)
 *       in place: C[r][c] += bias[c % biasLen] (bias may be null), then the activation
 *       (0 linear, 1 relu, 2 relu6, 3 elu, 4 sigmoid, 5 leakyrelu with alpha).
 *   adamPart(part, n, out, offOut, a, offA, b, offB, c, offC, s0, s1, s2, s3, s4)
 *       one part of Adam's update (runner/src/tensor/ops/adam.ts), elementwise over n:
 *       part 0: out = a s0 + b s1                      (m' from m = a, g = b)
 *       part 1: out = a s0 + (b b) s1                  (v' from v = a, g = b)
 *       part 2: out = a - (b / s0) / (sqrt(c / s1) + s2) s3 [- a s4 when s4 > 0]
 *                                                      (p' from p = a, m' = b, v' = c)
 *       in float32 arithmetic, each operation rounded (no contraction into FMAs: see
 *       binding.gyp), so it gives the floats of the tfjs kernels it replaces.
 *   setThreads(n), info() -> { config, corename, threads, cores }.
 * Every offset and extent is checked against the array's length before any work: a
 * wrong call is a JavaScript RangeError, never a write outside the tensor.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* OpenBLAS's own controls (declared in its cblas.h; repeated for other CBLAS headers). */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern int openblas_get_num_procs(void);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, "SPRUFT_NATIVE", "Node-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

typedef struct {
  float *data;
  size_t length; /* elements */
} F32;

/* A Float32Array argument (or null/undefined when `optional`). */
static bool get_f32(napi_env env, napi_value v, F32 *out, bool optional, const char *what) {
  napi_valuetype t;
  out->data = NULL;
  out->length = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (optional && (t == napi_null || t == napi_undefined)) return true;
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a Float32Array", what);
    napi_throw_type_error(env, "SPRUFT_NATIVE", msg);
    return false;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok) return false;
  if (type != napi_float32_array) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a Float32Array", what);
    napi_throw_type_error(env, "SPRUFT_NATIVE", msg);
    return false;
  }
  out->data = (float *)data;
  out->length = length;
  return true;
}

static bool get_i64(napi_env env, napi_value v, int64_t *out, const char *what) {
  if (napi_get_value_int64(env, v, out) != napi_ok || *out < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a non-negative integer", what);
    napi_throw_type_error(env, "SPRUFT_NATIVE", msg);
    return false;
  }
  return true;
}

static bool get_bool(napi_env env, napi_value v, bool *out) {
  return napi_get_value_bool(env, v, out) == napi_ok;
}

/* Does a rows x cols matrix with leading dimension ld, repeated `batch` times every
 * `stride` elements from `off`, lie inside an array of `length` elements? */
static bool fits(int64_t off, int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch, size_t length) {
  if (rows == 0 || cols == 0 || batch == 0) return true;
  if (ld < cols) return false;
  int64_t last = off + (batch - 1) * stride + (rows - 1) * ld + cols; /* one past the last element */
  return last <= (int64_t)length;
}

static napi_value range_error(napi_env env, const char *what) {
  napi_throw_range_error(env, "SPRUFT_NATIVE", what);
  return NULL;
}

/* The call's arguments into argv, or a TypeError saying that `name` takes `want` of them. */
static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *name) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, "SPRUFT_NATIVE", "Node-API call failed: napi_get_cb_info");
    return false;
  }
  if (argc != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s takes %zu argument%s", name, want, want == 1 ? "" : "s");
    napi_throw_type_error(env, "SPRUFT_NATIVE", msg);
    return false;
  }
  return true;
}

static napi_value Sgemm(napi_env env, napi_callback_info info) {
  napi_value argv[18];
  if (!get_args(env, info, 18, argv, "sgemm")) return NULL;
  bool ta, tb;
  int64_t M, N, K, offA, lda, sA, offB, ldb, sB, offC, ldc, sC, batch;
  F32 A, B, C;
  if (!get_bool(env, argv[0], &ta) || !get_bool(env, argv[1], &tb)) return NULL;
  if (!get_i64(env, argv[2], &M, "M") || !get_i64(env, argv[3], &N, "N") || !get_i64(env, argv[4], &K, "K")) return NULL;
  if (!get_f32(env, argv[5], &A, false, "A") || !get_i64(env, argv[6], &offA, "offA") || !get_i64(env, argv[7], &lda, "lda") || !get_i64(env, argv[8], &sA, "strideA")) return NULL;
  if (!get_f32(env, argv[9], &B, false, "B") || !get_i64(env, argv[10], &offB, "offB") || !get_i64(env, argv[11], &ldb, "ldb") || !get_i64(env, argv[12], &sB, "strideB")) return NULL;
  if (!get_f32(env, argv[13], &C, false, "C") || !get_i64(env, argv[14], &offC, "offC") || !get_i64(env, argv[15], &ldc, "ldc") || !get_i64(env, argv[16], &sC, "strideC")) return NULL;
  if (!get_i64(env, argv[17], &batch, "batch")) return NULL;
  /* Stored shapes: A is M x K (K x M when transposed), B is K x N (N x K). */
  if (!fits(offA, ta ? K : M, ta ? M : K, lda, sA, batch, A.length)) return range_error(env, "sgemm: A lies outside its array");
  if (!fits(offB, tb ? N : K, tb ? K : N, ldb, sB, batch, B.length)) return range_error(env, "sgemm: B lies outside its array");
  if (!fits(offC, M, N, ldc, sC, batch, C.length)) return range_error(env, "sgemm: C lies outside its array");
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) return range_error(env, "sgemm: dimension too large for CBLAS");
  if (M == 0 || N == 0 || batch == 0) return NULL;
  if (K == 0) {
    for (int64_t i = 0; i < batch; i++)
      for (int64_t r = 0; r < M; r++) memset(C.data + offC + i * sC + r * ldc, 0, (size_t)N * sizeof(float));
    return NULL;
  }
  for (int64_t i = 0; i < batch; i++) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, 1.0f,
                A.data + offA + i * sA, (int)lda,
                B.data + offB + i * sB, (int)ldb, 0.0f,
                C.data + offC + i * sC, (int)ldc);
  }
  return NULL;
}

static inline float activate(float x, int act, float alpha) {
  switch (act) {
    case 1: return x > 0 ? x : 0;
    case 2: return x < 0 ? 0 : (x > 6 ? 6 : x);
    case 3: return x >= 0 ? x : expm1f(x);
    case 4: return 1.0f / (1.0f + expf(-x));
    case 5: return x >= 0 ? x : alpha * x;
    default: return x;
  }
}

static napi_value Epilogue(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!get_args(env, info, 9, argv, "epilogue")) return NULL;
  F32 C, bias;
  int64_t offC, rows, cols, offBias, biasLen, act;
  double alpha;
  if (!get_f32(env, argv[0], &C, false, "C") || !get_i64(env, argv[1], &offC, "offC") || !get_i64(env, argv[2], &rows, "rows") || !get_i64(env, argv[3], &cols, "cols")) return NULL;
  if (!get_f32(env, argv[4], &bias, true, "bias") || !get_i64(env, argv[5], &offBias, "offBias") || !get_i64(env, argv[6], &biasLen, "biasLen") || !get_i64(env, argv[7], &act, "activation")) return NULL;
  CHECK(napi_get_value_double(env, argv[8], &alpha));
  if (!fits(offC, rows, cols, cols, 0, 1, C.length)) return range_error(env, "epilogue: C lies outside its array");
  if (bias.data != NULL && (biasLen == 0 || cols % biasLen != 0 || offBias + biasLen > (int64_t)bias.length))
    return range_error(env, "epilogue: bias must divide the columns and lie inside its array");
  float *c = C.data + offC;
  const float *b = bias.data != NULL ? bias.data + offBias : NULL;
  const float a = (float)alpha;
  const int kind = (int)act;
  for (int64_t r = 0; r < rows; r++) {
    float *row = c + r * cols;
    if (b != NULL) {
      for (int64_t j = 0; j < cols; j++) row[j] += b[j % biasLen];
    }
    if (kind != 0) {
      for (int64_t j = 0; j < cols; j++) row[j] = activate(row[j], kind, a);
    }
  }
  return NULL;
}

static napi_value AdamPart(napi_env env, napi_callback_info info) {
  napi_value argv[15];
  if (!get_args(env, info, 15, argv, "adamPart")) return NULL;
  int64_t part, n, offOut, offA, offB, offC;
  F32 out, A, B, C;
  double s[5];
  if (!get_i64(env, argv[0], &part, "part") || !get_i64(env, argv[1], &n, "n")) return NULL;
  if (!get_f32(env, argv[2], &out, false, "out") || !get_i64(env, argv[3], &offOut, "offOut")) return NULL;
  if (!get_f32(env, argv[4], &A, false, "a") || !get_i64(env, argv[5], &offA, "offA")) return NULL;
  if (!get_f32(env, argv[6], &B, false, "b") || !get_i64(env, argv[7], &offB, "offB")) return NULL;
  if (!get_f32(env, argv[8], &C, true, "c") || !get_i64(env, argv[9], &offC, "offC")) return NULL;
  for (int k = 0; k < 5; k++) CHECK(napi_get_value_double(env, argv[10 + k], &s[k]));
  if (part > 2) return range_error(env, "adamPart: part must be 0, 1 or 2");
  if (!fits(offOut, 1, n, n, 0, 1, out.length) || !fits(offA, 1, n, n, 0, 1, A.length) || !fits(offB, 1, n, n, 0, 1, B.length))
    return range_error(env, "adamPart: an operand lies outside its array");
  if (part == 2 && (C.data == NULL || !fits(offC, 1, n, n, 0, 1, C.length))) return range_error(env, "adamPart: v lies outside its array");
  float *o = out.data + offOut;
  const float *a = A.data + offA;
  const float *b = B.data + offB;
  const float s0 = (float)s[0], s1 = (float)s[1], s2 = (float)s[2], s3 = (float)s[3], s4 = (float)s[4];
  if (part == 0) {
    for (int64_t i = 0; i < n; i++) {
      const float x = a[i] * s0;
      const float y = b[i] * s1;
      o[i] = x + y;
    }
  } else if (part == 1) {
    for (int64_t i = 0; i < n; i++) {
      const float x = a[i] * s0;
      const float sq = b[i] * b[i];
      const float y = sq * s1;
      o[i] = x + y;
    }
  } else {
    const float *c = C.data + offC;
    const bool decay = s[4] > 0;
    for (int64_t i = 0; i < n; i++) {
      const float mh = b[i] / s0;
      const float vh = c[i] / s1;
      const float den = sqrtf(vh) + s2;
      const float update = mh / den;
      const float step = update * s3;
      float next = a[i] - step;
      if (decay) {
        const float d = a[i] * s4;
        next = next - d;
      }
      o[i] = next;
    }
  }
  return NULL;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t n;
  if (!get_args(env, info, 1, argv, "setThreads")) return NULL;
  if (!get_i64(env, argv[0], &n, "threads")) return NULL;
  if (n < 1) return range_error(env, "threads must be at least 1");
  openblas_set_num_threads((int)n);
  return NULL;
}

static napi_value Info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  const char *config = openblas_get_config();
  CHECK(napi_create_string_utf8(env, config ? config : "", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "config", v));
  const char *core = openblas_get_corename();
  CHECK(napi_create_string_utf8(env, core ? core : "", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "corename", v));
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &v));
  CHECK(napi_set_named_property(env, out, "threads", v));
  CHECK(napi_create_int32(env, openblas_get_num_procs(), &v));
  CHECK(napi_set_named_property(env, out, "cores", v));
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"sgemm", NULL, Sgemm, NULL, NULL, NULL, napi_default, NULL},
    {"epilogue", NULL, Epilogue, NULL, NULL, NULL, napi_default, NULL},
    {"adamPart", NULL, AdamPart, NULL, NULL, NULL, napi_default, NULL},
    {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_default, NULL},
    {"info", NULL, Info, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
