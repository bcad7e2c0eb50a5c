/* Dense-layer kernels (see include/collapse/kernels_dense.h for shapes).
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
#include <omp.h>

#include "collapse/blas.h"

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

void cl_linear_forward(const float *x, const float *W, const float *b, float *y, int N, int IN,
                       int OUT)
{
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
                        float *db, int N, int IN, int OUT)
{
    /* dx [N, IN] = dy [N, OUT] @ W [OUT, IN] */
    if (dx) cl_sgemm(0, 0, N, IN, OUT, 1.0f, dy, OUT, W, IN, 0.0f, dx, IN);
    /* dW [OUT, IN] += dy^T [OUT, N] @ x [N, IN] */
    cl_sgemm(1, 0, OUT, IN, N, 1.0f, dy, OUT, x, IN, 1.0f, dW, IN);
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

/* ---- batch norm ---- */

/* Per-channel sums use LANES double accumulators per channel (a[LANES],
 * b[LANES]), kept across the N planes of the channel and reduced once. */

/* a += (p - K), b += (p - K)^2 over p[0..n) */
static inline void lanes_shifted(const float *p, int64_t n, double K, double *a, double *b)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double d = (double)p[i + j] - K;
            a[j] += d;
            b[j] += d * d;
        }
    for (; i < n; i++) {
        double d = (double)p[i] - K;
        a[0] += d;
        b[0] += d * d;
    }
}

/* a += dy, b += dy * (x - mu) over [0..n) */
static inline void lanes_grad(const float *x, const float *dy, int64_t n, double mu, double *a,
                              double *b)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double g = dy[i + j];
            a[j] += g;
            b[j] += g * ((double)x[i + j] - mu);
        }
    for (; i < n; i++) {
        double g = dy[i];
        a[0] += g;
        b[0] += g * ((double)x[i] - mu);
    }
}

static inline double lanes_sum(const double *a)
{
    double s = 0;
    for (int j = 0; j < LANES; j++) s += a[j];
    return s;
}

/* Channels per work item on the plane path (HW > 1): as many as keep the
 * item's x and dy (N*w*HW floats each) within ~512 KiB, so the second pass
 * of the backward re-reads them from L2; at least 1, at most CB, and few
 * enough that every thread gets an item. Each item walks n outer, channels
 * inner: runs of w*HW contiguous floats. */
static int plane_chunk(int N, int C, int HW)
{
    int64_t per = (int64_t)N * HW * 2 * (int64_t)sizeof(float);
    int64_t w = (512 << 10) / (per > 0 ? per : 1), T = omp_get_max_threads();
    int64_t share = (C + T - 1) / T;
    if (w > CB) w = CB;
    if (w > share) w = share;
    if (w < 1) w = 1;
    return (int)w;
}

static void finish_stats(double s, double ss, double K, double M, float *mean, float *var)
{
    double m = s / M, v = ss / M - m * m;
    *mean = (float)(K + m);
    *var = (float)(v > 0 ? v : 0);
}

void cl_bn_stats(const float *x, int N, int C, int HW, float *mean, float *var)
{
    int64_t total = (int64_t)N * C * HW;
    double M = (double)N * HW;
    if (HW == 1) {
        int nb = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
        for (int bi = 0; bi < nb; bi++) {
            int c0 = bi * CB, w = imin(CB, C - c0);
            double K[CB], s[CB] = {0}, ss[CB] = {0};
            for (int j = 0; j < w; j++) K[j] = x[c0 + j];
            for (int n = 0; n < N; n++) {
                const float *r = x + (int64_t)n * C + c0;
#pragma omp simd
                for (int j = 0; j < w; j++) {
                    double d = (double)r[j] - K[j];
                    s[j] += d;
                    ss[j] += d * d;
                }
            }
            for (int j = 0; j < w; j++) finish_stats(s[j], ss[j], K[j], M, &mean[c0 + j], &var[c0 + j]);
        }
        return;
    }
    int w = plane_chunk(N, C, HW), nb = (C + w - 1) / w;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int bi = 0; bi < nb; bi++) {
        int c0 = bi * w, cw = imin(w, C - c0);
        double K[CB], a[CB][LANES] = {{0}}, b[CB][LANES] = {{0}};
        for (int j = 0; j < cw; j++) K[j] = x[(int64_t)(c0 + j) * HW];
        for (int n = 0; n < N; n++)
            for (int j = 0; j < cw; j++)
                lanes_shifted(x + ((int64_t)n * C + c0 + j) * HW, HW, K[j], a[j], b[j]);
        for (int j = 0; j < cw; j++)
            finish_stats(lanes_sum(a[j]), lanes_sum(b[j]), K[j], M, &mean[c0 + j], &var[c0 + j]);
    }
}

void cl_bn_stats_naive(const float *x, int N, int C, int HW, float *mean, float *var)
{
    double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) m += x[((int64_t)n * C + c) * HW + i];
        m /= M;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                double d = x[((int64_t)n * C + c) * HW + i] - m;
                v += d * d;
            }
        mean[c] = (float)m;
        var[c] = (float)(v / M);
    }
}

void cl_bn_apply(const float *x, float *y, const float *gamma, const float *beta,
                 const float *mean, const float *invstd, int N, int C, int HW)
{
    int64_t total = (int64_t)N * C * HW;
    if (HW == 1) {
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *xr = x + (int64_t)n * C;
            float *yr = y + (int64_t)n * C;
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = (xr[c] - mean[c]) * (gamma[c] * invstd[c]) + beta[c];
        }
        return;
    }
    int64_t planes = (int64_t)N * C;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        int c = (int)(pl % C);
        float m = mean[c], k = gamma[c] * invstd[c], b = beta[c];
        const float *xp = x + pl * HW;
        float *yp = y + pl * HW;
#pragma omp simd
        for (int i = 0; i < HW; i++) yp[i] = (xp[i] - m) * k + b;
    }
}

void cl_bn_apply_naive(const float *x, float *y, const float *gamma, const float *beta,
                       const float *mean, const float *invstd, int N, int C, int HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < HW; i++) {
                int64_t j = ((int64_t)n * C + c) * HW + i;
                y[j] = (float)(((double)x[j] - mean[c]) * invstd[c] * gamma[c] + beta[c]);
            }
}

/* dx = a*dy + b*(x - mu) + c0 per channel (see the header for the formula):
 * a = gamma*invstd, b = -a*invstd^2*sum(dy*(x-mu))/M, c0 = -a*sum(dy)/M in
 * train mode, b = c0 = 0 in eval mode. Also accumulates dgamma, dbeta. */
static void bn_coefs(double s, double sx, double g, double is, double M, int batch_stats,
                     float *dgamma, float *dbeta, float *a, float *b, float *c0)
{
    *dbeta += (float)s;
    *dgamma += (float)(sx * is);
    double k = g * is;
    *a = (float)k;
    *b = batch_stats ? (float)(-k * is * is * sx / M) : 0.0f;
    *c0 = batch_stats ? (float)(-k * s / M) : 0.0f;
}

void cl_bn_backward(const float *x, const float *dy, float *dx, const float *gamma,
                    const float *mean, const float *invstd, int batch_stats, int N, int C, int HW,
                    float *dgamma, float *dbeta)
{
    int64_t total = (int64_t)N * C * HW;
    double M = (double)N * HW;
    if (HW == 1) {
        int nb = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
        for (int bi = 0; bi < nb; bi++) {
            int c0 = bi * CB, w = imin(CB, C - c0);
            double s[CB] = {0}, sx[CB] = {0};
            float a[CB], b[CB], cc[CB], mu[CB];
            for (int j = 0; j < w; j++) mu[j] = mean[c0 + j];
            for (int n = 0; n < N; n++) {
                const float *xr = x + (int64_t)n * C + c0, *gr = dy + (int64_t)n * C + c0;
#pragma omp simd
                for (int j = 0; j < w; j++) {
                    double g = gr[j];
                    s[j] += g;
                    sx[j] += g * ((double)xr[j] - mu[j]);
                }
            }
            for (int j = 0; j < w; j++)
                bn_coefs(s[j], sx[j], gamma[c0 + j], invstd[c0 + j], M, batch_stats,
                         &dgamma[c0 + j], &dbeta[c0 + j], &a[j], &b[j], &cc[j]);
            if (!dx) continue;
            for (int n = 0; n < N; n++) {
                const float *xr = x + (int64_t)n * C + c0, *gr = dy + (int64_t)n * C + c0;
                float *dr = dx + (int64_t)n * C + c0;
#pragma omp simd
                for (int j = 0; j < w; j++) dr[j] = a[j] * gr[j] + b[j] * (xr[j] - mu[j]) + cc[j];
            }
        }
        return;
    }
    int w = plane_chunk(N, C, HW), nb = (C + w - 1) / w;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int bi = 0; bi < nb; bi++) {
        int c0 = bi * w, cw = imin(w, C - c0);
        double la[CB][LANES] = {{0}}, lb[CB][LANES] = {{0}};
        float a[CB], b[CB], cc[CB], mu[CB];
        for (int j = 0; j < cw; j++) mu[j] = mean[c0 + j];
        for (int n = 0; n < N; n++)
            for (int j = 0; j < cw; j++) {
                int64_t o = ((int64_t)n * C + c0 + j) * HW;
                lanes_grad(x + o, dy + o, HW, mu[j], la[j], lb[j]);
            }
        for (int j = 0; j < cw; j++)
            bn_coefs(lanes_sum(la[j]), lanes_sum(lb[j]), gamma[c0 + j], invstd[c0 + j], M,
                     batch_stats, &dgamma[c0 + j], &dbeta[c0 + j], &a[j], &b[j], &cc[j]);
        if (!dx) continue;
        for (int n = 0; n < N; n++)
            for (int j = 0; j < cw; j++) {
                int64_t o = ((int64_t)n * C + c0 + j) * HW;
                const float *xp = x + o, *gp = dy + o;
                float *dp = dx + o;
                float aj = a[j], bj = b[j], cj = cc[j], mj = mu[j];
#pragma omp simd
                for (int i = 0; i < HW; i++) dp[i] = aj * gp[i] + bj * (xp[i] - mj) + cj;
            }
    }
}

void cl_bn_backward_naive(const float *x, const float *dy, float *dx, const float *gamma,
                          const float *mean, const float *invstd, int batch_stats, int N, int C,
                          int HW, float *dgamma, float *dbeta)
{
    double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyxh = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                int64_t j = ((int64_t)n * C + c) * HW + i;
                sdy += dy[j];
                sdyxh += dy[j] * ((double)x[j] - mean[c]) * invstd[c];
            }
        dbeta[c] += (float)sdy;
        dgamma[c] += (float)sdyxh;
        if (!dx) continue;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                int64_t j = ((int64_t)n * C + c) * HW + i;
                double xh = ((double)x[j] - mean[c]) * invstd[c], g = dy[j];
                if (batch_stats) g = g - sdy / M - xh * sdyxh / M;
                dx[j] = (float)((double)gamma[c] * invstd[c] * g);
            }
    }
}
