/* Dense-layer kernels (see include/collapse/kernels_dense.h for shapes);
 * the batch-norm kernels are in bn.c (naive twins in bn_naive.c).
 *
 * Why the code looks the way it does:
 * - Double sums are kept in LANES independent accumulators: without
 *   -ffast-math the compiler may not reorder a single running sum, which
 *   would leave a 4-cycle add latency per element; independent lanes
 *   vectorise and pipeline, and the result stays deterministic.
 * - Vector activations [N, dim] (HW = 1) hold one channel per column, so the
 *   per-channel kernels work on blocks of CB adjacent columns, walking the
 *   rows: contiguous, vectorisable, and each thread owns whole channels.
 * - OpenMP only above PAR_MIN elements (a fork/join costs microseconds). */
#include "collapse/kernels_dense.h"

#include <math.h>

#include "collapse/blas.h"
#include "collapse/kernels_gemm.h"

#define PAR_MIN 32768
#define LANES 8
#define CB 64

static inline int imin(int a, int b) { return a < b ? a : b; }

/* ---- bias ---- */

void cl_bias_add(float *y, const float *b, int N, int C, int HW)
{
    int64_t total = (int64_t)N * C * HW;
    if (HW == 1) {
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
        for (int n = 0; n < N; n++) {
            float *r = y + (int64_t)n * C;
#pragma omp simd
            for (int c = 0; c < C; c++) r[c] += b[c];
        }
        return;
    }
    int64_t planes = (int64_t)N * C;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float v = b[pl % C], *p = y + pl * HW;
#pragma omp simd
        for (int i = 0; i < HW; i++) p[i] += v;
    }
}

void cl_bias_add_naive(float *y, const float *b, int N, int C, int HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < HW; i++) y[((int64_t)n * C + c) * HW + i] += b[c];
}

/* Sum of p[0..n) in double, LANES accumulators. */
static double sum_lanes(const float *p, int64_t n)
{
    double a[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) a[j] += (double)p[i + j];
    for (; i < n; i++) a[0] += (double)p[i];
    double s = 0;
    for (int j = 0; j < LANES; j++) s += a[j];
    return s;
}

void cl_bias_reduce(float *db, const float *dy, int N, int C, int HW)
{
    int64_t total = (int64_t)N * C * HW;
    if (HW == 1) {
        int nb = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
        for (int bi = 0; bi < nb; bi++) {
            int c0 = bi * CB, w = imin(CB, C - c0);
            double acc[CB] = {0};
            for (int n = 0; n < N; n++) {
                const float *r = dy + (int64_t)n * C + c0;
#pragma omp simd
                for (int j = 0; j < w; j++) acc[j] += (double)r[j];
            }
            for (int j = 0; j < w; j++) db[c0 + j] += (float)acc[j];
        }
        return;
    }
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += sum_lanes(dy + ((int64_t)n * C + c) * HW, HW);
        db[c] += (float)s;
    }
}

void cl_bias_reduce_naive(float *db, const float *dy, int N, int C, int HW)
{
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) s += dy[((int64_t)n * C + c) * HW + i];
        db[c] += (float)s;
    }
}

/* ---- linear ---- */

/* The products of a linear layer go through cl_kgemm_nn_par (kgemm_par.c)
 * on the SIMD paths when the batch is large enough to pay for transposing
 * it, else through OpenBLAS. */
#define LINEAR_FAST_MIN_N 16
static int linear_fast(cl_isa isa, int N)
{
    return isa != CL_ISA_GENERIC && N >= LINEAR_FAST_MIN_N;
}

int64_t cl_linear_ws_floats(int N, int IN, int OUT)
{
    /* whatever the path: COLLAPSE_ISA may differ between sizing and use */
    (void)OUT;
    return N >= LINEAR_FAST_MIN_N ? (int64_t)N * IN : 0;
}

void cl_linear_forward(const float *x, const float *W, const float *b, float *y, int N, int IN,
                       int OUT, float *ws)
{
    cl_isa isa = cl_isa_current();
    if (ws && linear_fast(isa, N)) {
        /* y = (W [OUT, IN] @ xt [IN, N])^T + b: both operands as the nn
         * kernel reads them, no copy of W */
        cl_kgemm_transpose(isa, x, N, IN, NULL, ws);
        cl_kgemm_nn_tstore_par(isa, OUT, N, IN, W, IN, ws, N, b, y, OUT);
        return;
    }
    /* y [N, OUT] = x [N, IN] @ W^T [IN, OUT] */
    cl_sgemm(0, 1, N, OUT, IN, 1.0f, x, IN, W, IN, 0.0f, y, OUT);
    if (b) cl_bias_add(y, b, N, OUT, 1);
}

void cl_linear_forward_naive(const float *x, const float *W, const float *b, float *y, int N,
                             int IN, int OUT)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < IN; i++) s += (double)x[(int64_t)n * IN + i] * W[(int64_t)o * IN + i];
            y[(int64_t)n * OUT + o] = (float)s;
        }
}

void cl_linear_backward(const float *x, const float *W, const float *dy, float *dx, float *dW,
                        float *db, int N, int IN, int OUT, float *ws)
{
    cl_isa isa = cl_isa_current();
    if (ws && linear_fast(isa, N)) {
        /* dx [N, IN] = dy [N, OUT] @ W [OUT, IN]; dW [OUT, IN] += dy^T @ x */
        if (dx) cl_kgemm_nn_par(isa, N, IN, OUT, dy, OUT, W, IN, dx, IN, 0);
        cl_kgemm_tn_par(isa, OUT, IN, N, dy, OUT, x, IN, dW, IN, 1);
    } else {
        /* dx [N, IN] = dy [N, OUT] @ W [OUT, IN] */
        if (dx) cl_sgemm(0, 0, N, IN, OUT, 1.0f, dy, OUT, W, IN, 0.0f, dx, IN);
        /* dW [OUT, IN] += dy^T [OUT, N] @ x [N, IN] */
        cl_sgemm(1, 0, OUT, IN, N, 1.0f, dy, OUT, x, IN, 1.0f, dW, IN);
    }
    if (db) cl_bias_reduce(db, dy, N, OUT, 1);
}

void cl_linear_backward_naive(const float *x, const float *W, const float *dy, float *dx,
                              float *dW, float *db, int N, int IN, int OUT)
{
    if (dx)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < IN; i++) {
                double s = 0;
                for (int o = 0; o < OUT; o++)
                    s += (double)dy[(int64_t)n * OUT + o] * W[(int64_t)o * IN + i];
                dx[(int64_t)n * IN + i] = (float)s;
            }
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++) {
            double s = 0;
            for (int n = 0; n < N; n++)
                s += (double)dy[(int64_t)n * OUT + o] * x[(int64_t)n * IN + i];
            dW[(int64_t)o * IN + i] += (float)s;
        }
    if (db) cl_bias_reduce_naive(db, dy, N, OUT, 1);
}

/* ---- ReLU ---- */

void cl_relu_forward(const float *x, float *y, int64_t n)
{
    /* `x < 0 ? 0 : x` keeps NaN (fmaxf would turn it into 0 and hide it) */
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void cl_relu_forward_naive(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = isnan(x[i]) ? x[i] : (x[i] > 0 ? x[i] : 0.0f);
}

void cl_relu_backward(const float *y, const float *dy, float *dx, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void cl_relu_backward_naive(const float *y, const float *dy, float *dx, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float g = 0.0f;
        if (y[i] > 0.0f) g = dy[i];
        dx[i] = g;
    }
}
